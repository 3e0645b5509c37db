//! The SIP wire format (RFC 3261 §7, §18.3, §20, §25): the message model, its parser and
//! serializer, stream (TCP) and datagram (UDP) framing, and the header values a focus reads (Via,
//! From/To/Contact, CSeq, SIP URIs). Sans-IO: no sockets, no clock.
//!
//! Parsing follows RFC 3261 §7 and the §25 grammar, lenient where §7.3.1 asks for it:
//! - lines end in CRLF; a bare LF is accepted too;
//! - header names are case-insensitive; compact forms (§7.3.3) are expanded and known names are
//!   stored in their canonical spelling (`call-id` → `Call-ID`); other names are kept as written;
//! - folded continuation lines (§7.3.1) are joined with one space;
//! - the head must be UTF-8 (§25 TEXT-UTF8) with no control character other than HT;
//! - a request needs Via, From, To, Call-ID and CSeq (§8.1.1; Max-Forwards is optional here, but
//!   must be a number when present); a response needs the same; the CSeq method must be the
//!   request's method (§8.1.1.5).
//!
//! [`ParseError::status`] is the response a UAS sends for an error (400, 413, 505, 513),
//! [`ParseError::keeps_stream`] says whether a TCP connection can go on (drop [`frame_len`]
//! bytes), and [`salvage_request`] recovers the headers a UAS needs to send that response
//! (§8.2.6: Via, From, To, Call-ID, CSeq).

use std::fmt;

use bytes::Bytes;

/// SP and HT, the whitespace of RFC 3261 §25 (LWS without the line break).
const WS: [char; 2] = [' ', '\t'];

/// A SIP method (RFC 3261 §7.1, §27.4); unknown methods are kept verbatim in `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE (RFC 3261 §13).
    Invite,
    /// ACK (RFC 3261 §13.2.2.4, §17.1.1.3).
    Ack,
    /// BYE (RFC 3261 §15).
    Bye,
    /// CANCEL (RFC 3261 §9).
    Cancel,
    /// OPTIONS (RFC 3261 §11).
    Options,
    /// REGISTER (RFC 3261 §10).
    Register,
    /// INFO (RFC 6086).
    Info,
    /// UPDATE (RFC 3311).
    Update,
    /// PRACK (RFC 3262).
    Prack,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// REFER (RFC 3515).
    Refer,
    /// MESSAGE (RFC 3428).
    Message,
    /// Any other method token, as written.
    Other(String),
}

impl Method {
    /// The method token as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Refer => "REFER",
            Method::Message => "MESSAGE",
            Method::Other(s) => s,
        }
    }

    /// The method named `s`; case-sensitive (RFC 3261 §7.1: `invite` is not INVITE).
    pub fn parse(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "REFER" => Method::Refer,
            "MESSAGE" => Method::Message,
            other => Method::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first line of a message (RFC 3261 §7.1 Request-Line, §7.2 Status-Line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `Method SP Request-URI SP SIP/2.0`.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI as written.
        uri: String,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`.
    Response {
        /// The status code, 100 to 699.
        code: u16,
        /// The reason phrase (may be empty).
        reason: String,
    },
}

/// One header field (RFC 3261 §7.3). `name` is the canonical long form for known headers
/// (compact forms of §7.3.3 expanded), otherwise as written; `value` is trimmed, folded lines
/// joined with one space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header name.
    pub name: String,
    /// The header value.
    pub value: String,
}

impl Header {
    /// A header, its name canonicalized (`v` → `Via`, `call-id` → `Call-ID`).
    pub fn new(name: &str, value: impl Into<String>) -> Header {
        Header {
            name: canonical_name(name).unwrap_or(name).to_owned(),
            value: value.into(),
        }
    }

    /// Whether this header is `name` (case-insensitive, compact forms accepted on both sides).
    pub fn is(&self, name: &str) -> bool {
        name_matches(&self.name, query(name))
    }
}

/// Compact header forms (RFC 3261 §7.3.3 and the IANA SIP header registry).
const COMPACT: [(u8, &str); 20] = [
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'n', "Identity-Info"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// Header names with a canonical spelling (RFC 3261 §20 and common extensions).
#[rustfmt::skip]
const KNOWN: &[&str] = &[
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "History-Info",
    "Identity", "Identity-Info", "In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires",
    "Min-SE", "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority",
    "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
    "Record-Route", "Refer-To", "Referred-By", "Reject-Contact", "Reply-To", "Request-Disposition",
    "Require", "Retry-After", "Route", "RSeq", "Security-Client", "Security-Server",
    "Security-Verify", "Server", "Service-Route", "Session-Expires", "Subject",
    "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent", "Via",
    "Warning", "WWW-Authenticate",
];

/// Headers whose grammar is `name HCOLON value *(COMMA value)` (RFC 3261 §7.3.1), so that
/// several values may share one header line.
#[rustfmt::skip]
const LISTS: &[&str] = &[
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info",
    "History-Info", "In-Reply-To", "P-Asserted-Identity", "P-Preferred-Identity", "Path",
    "Proxy-Require", "Reason", "Record-Route", "Reject-Contact", "Request-Disposition", "Require",
    "Route", "Security-Client", "Security-Server", "Security-Verify", "Service-Route", "Supported",
    "Unsupported", "Via", "Warning",
];

/// The canonical long form of a header name: a compact form expanded (RFC 3261 §7.3.3), a known
/// name in its usual spelling; `None` for other names.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    if let [c] = name.as_bytes() {
        let c = c.to_ascii_lowercase();
        return COMPACT.iter().find(|(k, _)| *k == c).map(|(_, v)| *v);
    }
    KNOWN
        .iter()
        .find(|k| k.len() == name.len() && k.eq_ignore_ascii_case(name))
        .copied()
}

fn query(name: &str) -> &str {
    canonical_name(name).unwrap_or(name)
}

fn name_matches(stored: &str, q: &str) -> bool {
    stored.eq_ignore_ascii_case(q)
        || (stored.len() == 1 && canonical_name(stored).is_some_and(|c| c.eq_ignore_ascii_case(q)))
}

/// A SIP message (RFC 3261 §7): start line, headers in order, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The Request-Line or Status-Line.
    pub start: StartLine,
    /// The headers, in order.
    pub headers: Vec<Header>,
    /// The message body.
    pub body: Bytes,
}

impl Message {
    /// A request with no header and no body.
    pub fn request(method: Method, uri: impl Into<String>) -> Message {
        Message {
            start: StartLine::Request {
                method,
                uri: uri.into(),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A response with no header and no body.
    pub fn response(code: u16, reason: impl Into<String>) -> Message {
        Message {
            start: StartLine::Response {
                code,
                reason: reason.into(),
            },
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The value of the first header named `name` (case-insensitive; compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        let q = query(name);
        self.headers
            .iter()
            .find(|h| name_matches(&h.name, q))
            .map(|h| h.value.as_str())
    }

    /// Every value of `name`, in order. For headers that allow lists (Via, Contact, Route,
    /// Record-Route, Allow, Supported, Require, Accept, Warning, ...; RFC 3261 §7.3.1) each header
    /// line is split at its top-level commas (not inside quotes or `<...>`); other headers
    /// (From, To, Call-ID, CSeq, Date, ...) give one value per header line.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let q = query(name);
        let list = LISTS.iter().any(|l| l.eq_ignore_ascii_case(q));
        let mut out = Vec::new();
        for h in self.headers.iter().filter(|h| name_matches(&h.name, q)) {
            if list {
                out.extend(
                    split_top(&h.value, b',')
                        .into_iter()
                        .map(|v| v.trim_matches(WS))
                        .filter(|v| !v.is_empty()),
                );
            } else {
                out.push(h.value.as_str());
            }
        }
        out
    }

    /// Appends a header (its name canonicalized).
    pub fn push_header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push(Header::new(name, value));
    }

    /// Replaces every `name` header with one holding `value` (at the first one's place), or
    /// appends it.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        let q = query(name);
        match self.headers.iter().position(|h| name_matches(&h.name, q)) {
            Some(i) => {
                self.headers[i].value = value.into();
                let mut n = 0;
                self.headers.retain(|h| {
                    n += 1;
                    n - 1 == i || !name_matches(&h.name, q)
                });
            }
            None => self.push_header(name, value),
        }
    }

    /// Removes every `name` header.
    pub fn remove_header(&mut self, name: &str) {
        let q = query(name);
        self.headers.retain(|h| !name_matches(&h.name, q));
    }

    /// The Call-ID (RFC 3261 §20.8).
    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// The parsed CSeq (RFC 3261 §20.16).
    pub fn cseq(&self) -> Option<CSeq> {
        self.header("CSeq").and_then(CSeq::parse)
    }

    /// The first Via value, parsed (RFC 3261 §20.42).
    pub fn top_via(&self) -> Option<Via> {
        self.header_values("Via")
            .first()
            .and_then(|v| Via::parse(v))
    }

    /// The parsed From header (RFC 3261 §20.20).
    pub fn from(&self) -> Option<NameAddr> {
        self.header("From").and_then(NameAddr::parse)
    }

    /// The parsed To header (RFC 3261 §20.39).
    pub fn to(&self) -> Option<NameAddr> {
        self.header("To").and_then(NameAddr::parse)
    }

    /// A response to `req` (RFC 3261 §8.2.6.2): every Via in order, then From, To, Call-ID and
    /// CSeq copied; `;tag=to_tag` added to To when `to_tag` is given and To has no tag yet (pass
    /// `None` for 100 Trying, §8.2.6.1). An empty `reason` means [`reason_phrase`]`(code)`.
    /// Content-Length is written by [`Message::to_bytes`]. Record-Route (§12.1.1) is the
    /// caller's: it is only copied into dialog-creating responses.
    pub fn response_to(req: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
        let reason = if reason.is_empty() {
            reason_phrase(code)
        } else {
            reason
        };
        let mut r = Message::response(code, reason);
        for h in req.headers.iter().filter(|h| name_matches(&h.name, "Via")) {
            r.headers.push(Header {
                name: "Via".into(),
                value: h.value.clone(),
            });
        }
        if let Some(v) = req.header("From") {
            r.push_header("From", v);
        }
        if let Some(v) = req.header("To") {
            let mut to = v.to_owned();
            if let Some(tag) = to_tag {
                if NameAddr::parse(v).is_none_or(|n| n.tag().is_none()) {
                    to.push_str(";tag=");
                    to.push_str(tag);
                }
            }
            r.push_header("To", to);
        }
        if let Some(v) = req.header("Call-ID") {
            r.push_header("Call-ID", v);
        }
        if let Some(v) = req.header("CSeq") {
            r.push_header("CSeq", v);
        }
        r
    }

    /// The wire form (RFC 3261 §7): start line, headers in order as stored, then a
    /// Content-Length equal to the body length (any stored Content-Length is dropped), the blank
    /// line and the body. CR and LF inside stored text are written as spaces, so no value can
    /// inject a header line.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(256 + self.headers.len() * 48 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                push_clean(&mut out, method.as_str());
                out.push(b' ');
                push_clean(&mut out, uri);
                out.extend_from_slice(b" SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                out.extend_from_slice(b"SIP/2.0 ");
                out.extend_from_slice(itoa::Buffer::new().format(*code).as_bytes());
                out.push(b' ');
                push_clean(&mut out, reason);
                out.extend_from_slice(b"\r\n");
            }
        }
        for h in &self.headers {
            if name_matches(&h.name, "Content-Length") {
                continue;
            }
            push_clean(&mut out, &h.name);
            out.extend_from_slice(b": ");
            push_clean(&mut out, &h.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(self.body.len()).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&self.body);
        Bytes::from(out)
    }
}

fn push_clean(out: &mut Vec<u8>, s: &str) {
    out.extend(
        s.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// The default reason phrase of a status code (RFC 3261 §21 and the IANA registry); codes not
/// listed get their class name (§21.1–§21.6; a UAC treats them as x00, §8.1.3.2); "" outside
/// 100–699.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => match code / 100 {
            1 => "Provisional",
            2 => "Successful",
            3 => "Redirection",
            4 => "Request Failure",
            5 => "Server Failure",
            6 => "Global Failure",
            _ => "",
        },
    }
}

/// A CSeq value (RFC 3261 §20.16): `1*DIGIT LWS Method`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// The sequence number.
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `314159 INVITE`; `None` unless a 32-bit number, whitespace and a method token.
    pub fn parse(s: &str) -> Option<CSeq> {
        let (seq, method) = s.trim_matches(WS).split_once(WS)?;
        let method = method.trim_start_matches(WS);
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) || !is_token(method) {
            return None;
        }
        Some(CSeq {
            seq: seq.parse().ok()?,
            method: Method::parse(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// A parsed Via value (RFC 3261 §20.42, §18.2.2; RFC 3581 `rport`). The typed fields mirror
/// `params`; [`Via::set_param`] keeps them in step and `Display` writes from `params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The transport, upper-cased (`UDP`, `TCP`, `TLS`, ...).
    pub transport: String,
    /// The sent-by host (IPv6 without brackets).
    pub host: String,
    /// The sent-by port.
    pub port: Option<u16>,
    /// The `branch` parameter (§8.1.1.7).
    pub branch: Option<String>,
    /// The `received` parameter (§18.2.1).
    pub received: Option<String>,
    /// The `rport` parameter (RFC 3581): `Some(None)` for a bare `;rport`.
    pub rport: Option<Option<u16>>,
    /// Every parameter in order, the ones above included.
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Parses one Via value: `SIP/2.0/UDP host[:port] *(;param)` (SWS allowed around `/`).
    pub fn parse(s: &str) -> Option<Via> {
        let s = s.trim_matches(WS);
        let (name, rest) = s.split_once('/')?;
        let (version, rest) = rest.split_once('/')?;
        if !name.trim_matches(WS).eq_ignore_ascii_case("SIP") || version.trim_matches(WS) != "2.0" {
            return None;
        }
        let rest = rest.trim_start_matches(WS);
        let (transport, rest) = rest.split_once(WS)?;
        if !is_token(transport) {
            return None;
        }
        let rest = rest.trim_start_matches(WS);
        let (sent_by, params) = match rest.split_once(';') {
            Some((h, p)) => (h, p),
            None => (rest, ""),
        };
        let (host, port) = parse_hostport(sent_by.trim_matches(WS))?;
        let mut via = Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            branch: None,
            received: None,
            rport: None,
            params: parse_params(params)?,
        };
        via.sync()?;
        Some(via)
    }

    /// Re-reads the typed fields from `params`; `None` for a bad `rport` value.
    fn sync(&mut self) -> Option<()> {
        self.branch = self.param("branch").map(str::to_owned);
        self.received = self.param("received").map(str::to_owned);
        self.rport = match self
            .params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("rport"))
        {
            None => None,
            Some((_, None)) => Some(None),
            Some((_, Some(v))) => Some(Some(parse_port(v)?)),
        };
        Some(())
    }

    /// The value of parameter `name` (case-insensitive); `None` if absent or valueless.
    pub fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.params, name)
    }

    /// Sets (or adds, at the end) parameter `name`, e.g. `received` (§18.2.1) or `rport`
    /// (RFC 3581 §4), and updates the typed fields; an `rport` value that is not a port leaves
    /// `rport` as `Some(None)`.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(p) => p.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
        if self.sync().is_none() {
            self.rport = Some(None);
        }
    }

    /// Whether the branch starts with the RFC 3261 magic cookie `z9hG4bK` (§8.1.1.7, §17.2.3).
    pub fn has_magic_cookie(&self) -> bool {
        self.branch
            .as_deref()
            .is_some_and(|b| b.starts_with("z9hG4bK"))
    }

    /// The sent-by: `host[:port]`, IPv6 in brackets.
    pub fn sent_by(&self) -> String {
        host_port(&self.host, self.port)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by())?;
        write_params(f, &self.params)
    }
}

/// A name-addr or addr-spec with header parameters (From, To, Contact, P-Asserted-Identity;
/// RFC 3261 §20.10, §20.20, §25.1). In the addr-spec form (no `<>`) everything after the first
/// `;` is a header parameter (§20.10), so `sip:a@b;tag=1` has the tag `1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted, escapes resolved.
    pub display: Option<String>,
    /// The URI, without `<>`.
    pub uri: String,
    /// The header parameters (`tag`, `expires`, ...), in order, values as written.
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// A name-addr of `uri` with no display name and no parameter.
    pub fn new(uri: impl Into<String>) -> NameAddr {
        NameAddr {
            display: None,
            uri: uri.into(),
            params: Vec::new(),
        }
    }

    /// Parses `"Bob" <sip:bob@host>;tag=x`, `Bob <sip:bob@host>`, `<sip:...>` or
    /// `sip:bob@host;tag=x`. `None` for `*` (a Contact wildcard) and malformed values.
    pub fn parse(s: &str) -> Option<NameAddr> {
        let s = s.trim_matches(WS);
        let (display, uri, rest) = if s.starts_with('"') {
            let (display, rest) = parse_quoted(s)?;
            let rest = rest.trim_start_matches(WS).strip_prefix('<')?;
            let (uri, rest) = rest.split_once('>')?;
            (Some(display), uri, rest)
        } else if let Some(lt) = find_unquoted(s, b'<') {
            let display = s[..lt].trim_matches(WS);
            if display.contains(['"', '>']) {
                return None;
            }
            let (uri, rest) = s[lt + 1..].split_once('>')?;
            let display = (!display.is_empty()).then(|| display.to_owned());
            (display, uri, rest)
        } else {
            match s.find(';') {
                Some(i) => (None, &s[..i], &s[i..]),
                None => (None, s, ""),
            }
        };
        let uri = uri.trim_matches(WS);
        if !valid_uri_text(uri) {
            return None;
        }
        let rest = rest.trim_start_matches(WS);
        let params = if rest.is_empty() {
            Vec::new()
        } else {
            parse_params(rest.strip_prefix(';')?)?
        };
        Some(NameAddr {
            display,
            uri: uri.to_owned(),
            params,
        })
    }

    /// The `tag` parameter (§19.3).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag")
    }

    /// The value of parameter `name` (case-insensitive); `None` if absent or valueless.
    pub fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.params, name)
    }
}

/// `"display" <uri>;p=v`, or `<uri>;p=v` without a display name: always with `<>`.
impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            f.write_str("\"")?;
            for c in d.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\" ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// A SIP or SIPS URI (RFC 3261 §19.1): enough to find the room and where to send. The password
/// and the `?headers` part are not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sip` or `sips`, lower-cased.
    pub scheme: String,
    /// The user part, %-decoded.
    pub user: Option<String>,
    /// The host, lower-cased, IPv6 without brackets.
    pub host: String,
    /// The port.
    pub port: Option<u16>,
    /// The uri-parameters in order; names lower-cased, the values of `transport` and `user`
    /// lower-cased, other values as written.
    pub params: Vec<(String, Option<String>)>,
}

impl SipUri {
    /// Parses `sip:user@host:port;params?headers` (§19.1.1, §25.1); `None` for other schemes
    /// (a UAS answers 416, §8.2.2.1) and malformed URIs.
    pub fn parse(s: &str) -> Option<SipUri> {
        let (scheme, rest) = s.trim_matches(WS).split_once(':')?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "sip" && scheme != "sips" {
            return None;
        }
        if rest
            .bytes()
            .any(|b| b <= b' ' || b >= 0x7f || matches!(b, b'<' | b'>' | b'"'))
        {
            return None;
        }
        let (user, rest) = match rest.split_once('@') {
            Some((userinfo, rest)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                if user.is_empty() {
                    return None;
                }
                (Some(pct_decode(user)?), rest)
            }
            None => (None, rest),
        };
        let rest = rest.split_once('?').map_or(rest, |(r, _)| r);
        let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
        let (host, port) = parse_hostport(hostport)?;
        let mut params = parse_params(params)?;
        for (n, v) in &mut params {
            n.make_ascii_lowercase();
            if n == "transport" || n == "user" {
                if let Some(v) = v {
                    v.make_ascii_lowercase();
                }
            }
        }
        Some(SipUri {
            scheme,
            user,
            host,
            port,
            params,
        })
    }

    /// The `transport` parameter, lower-cased.
    pub fn transport(&self) -> Option<&str> {
        self.param("transport")
    }

    /// The value of parameter `name` (case-insensitive); `None` if absent or valueless.
    pub fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.params, name)
    }
}

/// The canonical form: `scheme:user@host:port;params`, the user %-escaped where §25.1 asks.
impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme)?;
        if let Some(user) = &self.user {
            for b in user.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "%{b:02X}")?;
                }
            }
            f.write_str("@")?;
        }
        f.write_str(&host_port(&self.host, self.port))?;
        write_params(f, &self.params)
    }
}

/// What is wrong with a message. [`ParseError::status`] is the response a UAS sends to a
/// request (responses are dropped, §18.1.2); [`ParseError::keeps_stream`] whether a stream can
/// go on past it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes cannot begin a start line (TLS or binary on the SIP port, say).
    #[error("not a SIP message")]
    NotSip,
    /// No blank line within the limit (RFC 3261 §21.5.11: 513).
    #[error("header block over {max} bytes")]
    HeadTooLarge {
        /// The limit.
        max: usize,
    },
    /// A datagram with no blank line after its headers (§7: it must be present).
    #[error("no blank line ends the header block")]
    NoHeadEnd,
    /// The head is not UTF-8 (§25: TEXT-UTF8).
    #[error("header block is not UTF-8")]
    NotUtf8,
    /// A header line without a colon, with a bad name, a control character or a continuation
    /// with nothing to continue (§7.3.1). `line` counts from 1 at the start line.
    #[error("malformed header line {line}")]
    BadHeaderLine {
        /// The line number.
        line: usize,
    },
    /// No Content-Length on a stream (§18.3: mandatory there).
    #[error("missing Content-Length on a stream")]
    MissingContentLength,
    /// Content-Length is not a number, or two differ (§20.14).
    #[error("malformed Content-Length")]
    BadContentLength,
    /// The body is over the limit (413 Request Entity Too Large, §21.4.11).
    #[error("body of {length} bytes over the limit of {max}")]
    BodyTooLarge {
        /// The body length (Content-Length, or the rest of a datagram).
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A datagram holds fewer body bytes than its Content-Length (§18.3).
    #[error("body of {got} bytes shorter than Content-Length {expected}")]
    Truncated {
        /// Content-Length.
        expected: usize,
        /// What the datagram holds.
        got: usize,
    },
    /// A datagram of nothing but line ends (a keep-alive): drop it silently.
    #[error("empty message")]
    Empty,
    /// A malformed Request-Line or Status-Line (§7.1, §7.2).
    #[error("malformed start line")]
    BadStartLine,
    /// A SIP-Version other than SIP/2.0 (505 Version Not Supported, §21.5.6).
    #[error("SIP version {0} not supported")]
    VersionNotSupported(String),
    /// A mandatory header is missing (§8.1.1).
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A mandatory header is malformed.
    #[error("malformed {0} header")]
    BadHeader(&'static str),
    /// The CSeq method is not the request method (§8.1.1.5).
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch {
        /// The request method.
        method: String,
        /// The CSeq method.
        cseq: String,
    },
}

impl ParseError {
    /// The status a UAS answers: 513 for a head over the limit, 413 for a body over it, 505 for
    /// a version other than SIP/2.0, 400 for the rest.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::HeadTooLarge { .. } => 513,
            ParseError::BodyTooLarge { .. } => 413,
            ParseError::VersionNotSupported(_) => 505,
            _ => 400,
        }
    }

    /// Whether a stream can go on after this error from [`parse_stream`]: the message was framed
    /// (head and Content-Length read, body arrived), so dropping [`frame_len`] bytes finds the
    /// next one. Otherwise the connection should be closed (after any answer).
    pub fn keeps_stream(&self) -> bool {
        matches!(
            self,
            ParseError::BadStartLine
                | ParseError::VersionNotSupported(_)
                | ParseError::MissingHeader(_)
                | ParseError::BadHeader(_)
                | ParseError::CSeqMismatch { .. }
        )
    }
}

/// Size limits for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The header block (start line, headers, blank line) at most this many bytes.
    pub max_head: usize,
    /// The body at most this many bytes.
    pub max_body: usize,
}

impl Default for Limits {
    /// 8 KiB of head, 64 KiB of body.
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// One result of [`parse_stream`]; each carries how many bytes of the buffer it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A message and its length on the wire.
    Message(Message, usize),
    /// A `\r\n\r\n` keep-alive ping (RFC 5626 §4.4.1): answer with a `\r\n` pong.
    Ping(usize),
    /// Stray line ends before a start line (RFC 3261 §7.5: ignored).
    Skip(usize),
}

impl Framed {
    /// The bytes to drop from the front of the buffer.
    pub fn consumed(&self) -> usize {
        match self {
            Framed::Message(_, n) | Framed::Ping(n) | Framed::Skip(n) => *n,
        }
    }
}

/// Stream framing (TCP, RFC 3261 §18.3): `Ok(None)` when more bytes are needed, else one
/// [`Framed`]. Content-Length is mandatory. A leading `\r\n\r\n` is a [`Framed::Ping`]; a
/// leading `\r\n` (or bare `\n`) before anything else is a [`Framed::Skip`]; a lone `\r\n` waits
/// for more, since it may begin a ping (a UAC waiting for the `\r\n` pong checks for it itself).
/// The head is re-read on each call until the body is in (bounded by `max_head`).
pub fn parse_stream(buf: &[u8], limits: &Limits) -> Result<Option<Framed>, ParseError> {
    const PING: &[u8] = b"\r\n\r\n";
    if buf.starts_with(PING) {
        return Ok(Some(Framed::Ping(4)));
    }
    if PING.starts_with(buf) {
        return Ok(None);
    }
    if buf.starts_with(b"\r\n") {
        return Ok(Some(Framed::Skip(2)));
    }
    if buf[0] == b'\n' {
        return Ok(Some(Framed::Skip(1)));
    }
    if !is_token_char(buf[0]) {
        return Err(ParseError::NotSip);
    }
    let Some((head_len, body_start)) = find_head_end(buf, limits.max_head)? else {
        return Ok(None);
    };
    let raw = split_head(&buf[..head_len])?;
    let length = content_length(&raw.headers)?.ok_or(ParseError::MissingContentLength)?;
    let end = body_end(body_start, length, limits)?;
    if buf.len() < end {
        return Ok(None);
    }
    let msg = finish(raw, Bytes::copy_from_slice(&buf[body_start..end]))?;
    Ok(Some(Framed::Message(msg, end)))
}

/// The length on a stream of the message at the start of `buf` (head and Content-Length
/// body), once all of it is in `buf`; `None` when it cannot be told (yet). After an error with
/// [`ParseError::keeps_stream`], dropping these bytes resumes the stream.
pub fn frame_len(buf: &[u8], limits: &Limits) -> Option<usize> {
    let (head_len, body_start) = find_head_end(buf, limits.max_head).ok()??;
    let raw = split_head(&buf[..head_len]).ok()?;
    let length = content_length(&raw.headers).ok()??;
    let end = body_end(body_start, length, limits).ok()?;
    (buf.len() >= end).then_some(end)
}

/// Datagram framing (UDP, RFC 3261 §18.3): the datagram is one message (leading line ends
/// skipped). With Content-Length the body is cut to it (extra bytes dropped; fewer → 400);
/// without, the body is the rest of the datagram.
pub fn parse_datagram(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let buf = &buf[skip..];
    if buf.is_empty() {
        return Err(ParseError::Empty);
    }
    if !is_token_char(buf[0]) {
        return Err(ParseError::NotSip);
    }
    let (head_len, body_start) =
        find_head_end(buf, limits.max_head)?.ok_or(ParseError::NoHeadEnd)?;
    let raw = split_head(&buf[..head_len])?;
    let rest = &buf[body_start..];
    let body = match content_length(&raw.headers)? {
        Some(length) => {
            let end = body_end(0, length, limits)?;
            rest.get(..end).ok_or(ParseError::Truncated {
                expected: length,
                got: rest.len(),
            })?
        }
        None => {
            body_end(0, rest.len(), limits)?;
            rest
        }
    };
    finish(raw, Bytes::copy_from_slice(body))
}

/// Best effort for a message that failed to parse: its request line and the header lines that
/// can be read (in the first `max_head` bytes, up to the blank line or the last whole line), with
/// no check of mandatory headers and any SIP version, so that a UAS can still answer with
/// [`Message::response_to`] and [`ParseError::status`] (§8.2.6). `None` for a response or an
/// unreadable request line.
pub fn salvage_request(buf: &[u8], limits: &Limits) -> Option<Message> {
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let buf = &buf[skip..];
    let buf = &buf[..buf.len().min(limits.max_head)];
    let head = match find_head_end(buf, usize::MAX) {
        Ok(Some((h, _))) => h,
        _ => buf.iter().rposition(|&b| b == b'\n')? + 1,
    };
    let text = std::str::from_utf8(&buf[..head]).ok()?;
    let mut lines = text.lines();
    let (method, rest) = lines.next()?.split_once(' ')?;
    let (uri, _version) = rest.rsplit_once(' ')?;
    if !is_token(method) || !valid_uri_text(uri) {
        return None;
    }
    let mut msg = Message::request(Method::parse(method), uri);
    for line in lines {
        if has_ctl(line) {
            continue;
        }
        if line.starts_with(WS) {
            if let Some(h) = msg.headers.last_mut() {
                fold_into(&mut h.value, line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            let name = name.trim_end_matches(WS);
            if is_token(name) {
                msg.push_header(name, value.trim_matches(WS));
            }
        }
    }
    Some(msg)
}

/// Where the head ends: `(head_len, body_start)`, the head being every line before the first
/// empty one. Scans at most `max_head` bytes.
fn find_head_end(buf: &[u8], max_head: usize) -> Result<Option<(usize, usize)>, ParseError> {
    let scan = &buf[..buf.len().min(max_head)];
    let mut line_start = 0;
    for (i, &b) in scan.iter().enumerate() {
        if b == b'\n' {
            let line = &scan[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Ok(Some((line_start, i + 1)));
            }
            line_start = i + 1;
        }
    }
    if buf.len() >= max_head {
        return Err(ParseError::HeadTooLarge { max: max_head });
    }
    Ok(None)
}

fn body_end(body_start: usize, length: usize, limits: &Limits) -> Result<usize, ParseError> {
    let too_large = ParseError::BodyTooLarge {
        length,
        max: limits.max_body,
    };
    if length > limits.max_body {
        return Err(too_large);
    }
    body_start.checked_add(length).ok_or(too_large)
}

/// A head split into lines: the start line and the headers, not yet checked.
struct RawHead<'a> {
    start: &'a str,
    headers: Vec<Header>,
}

fn has_ctl(line: &str) -> bool {
    line.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f)
}

fn fold_into(value: &mut String, continuation: &str) {
    let c = continuation.trim_matches(WS);
    if !c.is_empty() {
        if !value.is_empty() {
            value.push(' ');
        }
        value.push_str(c);
    }
}

/// Splits a head (every line before the blank one) into the start line and headers: §7.3.1
/// `name HCOLON value`, folded lines joined.
fn split_head(head: &[u8]) -> Result<RawHead<'_>, ParseError> {
    let text = std::str::from_utf8(head).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = text.lines();
    let start = lines.next().unwrap_or("");
    let mut headers: Vec<Header> = Vec::new();
    for (n, line) in lines.enumerate() {
        let bad = ParseError::BadHeaderLine { line: n + 2 };
        if has_ctl(line) {
            return Err(bad);
        }
        if line.starts_with(WS) {
            fold_into(&mut headers.last_mut().ok_or(bad)?.value, line);
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(bad.clone())?;
        let name = name.trim_end_matches(WS);
        if !is_token(name) {
            return Err(bad);
        }
        headers.push(Header::new(name, value.trim_matches(WS)));
    }
    Ok(RawHead { start, headers })
}

/// The Content-Length (§20.14), if any; several must agree.
fn content_length(headers: &[Header]) -> Result<Option<usize>, ParseError> {
    let mut found = None;
    for h in headers
        .iter()
        .filter(|h| name_matches(&h.name, "Content-Length"))
    {
        let v = h.value.as_str();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::BadContentLength);
        }
        let n: usize = v.parse().map_err(|_| ParseError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(ParseError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

/// The start line, then the checks of §8.1.1 and §8.2.
fn finish(raw: RawHead<'_>, body: Bytes) -> Result<Message, ParseError> {
    let msg = Message {
        start: parse_start_line(raw.start)?,
        headers: raw.headers,
        body,
    };
    validate(&msg)?;
    Ok(msg)
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if has_ctl(line) {
        return Err(ParseError::BadStartLine);
    }
    let (first, rest) = line.split_once(' ').ok_or(ParseError::BadStartLine)?;
    if first.contains('/') {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2); the reason may be
        // empty, and its SP is tolerated missing.
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::BadStartLine);
        }
        let code: u16 = code.parse().map_err(|_| ParseError::BadStartLine)?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::BadStartLine);
        }
        check_version(first)?;
        Ok(StartLine::Response {
            code,
            reason: reason.trim_end_matches(WS).to_owned(),
        })
    } else {
        // Request-Line = Method SP Request-URI SP SIP-Version (§7.1): single spaces, no LWS.
        let (uri, version) = rest.rsplit_once(' ').ok_or(ParseError::BadStartLine)?;
        if !is_token(first) || !valid_uri_text(uri) {
            return Err(ParseError::BadStartLine);
        }
        check_version(version)?;
        Ok(StartLine::Request {
            method: Method::parse(first),
            uri: uri.to_owned(),
        })
    }
}

/// `SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT` (case-insensitive, §7.1): 2.0 or 505.
fn check_version(v: &str) -> Result<(), ParseError> {
    let bad = ParseError::BadStartLine;
    let (name, num) = v.split_once('/').ok_or(bad.clone())?;
    let (major, minor) = num.split_once('.').ok_or(bad.clone())?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !name.eq_ignore_ascii_case("SIP") || !digits(major) || !digits(minor) {
        return Err(bad);
    }
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    let major = major.trim_start_matches('0');
    if major == "2" && zero(minor) {
        Ok(())
    } else {
        Err(ParseError::VersionNotSupported(v.to_owned()))
    }
}

/// The mandatory headers (§8.1.1: To, From, CSeq, Call-ID, Via; Max-Forwards tolerated
/// missing) and CSeq against the method (§8.1.1.5).
fn validate(msg: &Message) -> Result<(), ParseError> {
    if msg.header("Via").is_none() {
        return Err(ParseError::MissingHeader("Via"));
    }
    if msg.top_via().is_none() {
        return Err(ParseError::BadHeader("Via"));
    }
    for name in ["From", "To"] {
        let v = msg.header(name).ok_or(ParseError::MissingHeader(name))?;
        NameAddr::parse(v).ok_or(ParseError::BadHeader(name))?;
    }
    let call_id = msg.call_id().ok_or(ParseError::MissingHeader("Call-ID"))?;
    if call_id.is_empty() || call_id.contains(WS) {
        return Err(ParseError::BadHeader("Call-ID"));
    }
    let cseq = msg
        .header("CSeq")
        .ok_or(ParseError::MissingHeader("CSeq"))?;
    let cseq = CSeq::parse(cseq).ok_or(ParseError::BadHeader("CSeq"))?;
    if let StartLine::Request { method, .. } = &msg.start {
        if cseq.method != *method {
            return Err(ParseError::CSeqMismatch {
                method: method.as_str().to_owned(),
                cseq: cseq.method.as_str().to_owned(),
            });
        }
        if let Some(mf) = msg.header("Max-Forwards") {
            if mf.is_empty() || mf.len() > 9 || !mf.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::BadHeader("Max-Forwards"));
            }
        }
    }
    Ok(())
}

/// `token` characters (RFC 3261 §25.1).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// A URI as text: `scheme ":" ...` with no whitespace, control, `<`, `>` or `"`.
fn valid_uri_text(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut sb = scheme.bytes();
    sb.next().is_some_and(|b| b.is_ascii_alphabetic())
        && sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !rest
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"'))
}

/// Splits `s` at every `sep` outside quoted strings and `<...>`.
fn split_top(s: &str, sep: u8) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    let mut start = 0;
    for (i, &c) in s.as_bytes().iter().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                quoted = false;
            }
            continue;
        }
        match c {
            b'"' => quoted = true,
            b'<' => angle = true,
            b'>' => angle = false,
            _ if c == sep && !angle => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The position of the first `c` outside quoted strings.
fn find_unquoted(s: &str, c: u8) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, &b) in s.as_bytes().iter().enumerate() {
        if quoted {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = false;
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == c {
            return Some(i);
        }
    }
    None
}

/// A quoted-string at the start of `s` (§25.1), unescaped, and what follows it.
fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some((out, &s[i + 1..]));
        } else {
            out.push(c);
        }
    }
    None
}

/// `*(SEMI generic-param)` after the first `;` (§25.1): `name [EQUAL value]`, value a token, a
/// host or a quoted-string, kept as written. Empty parameters (`;;`) are skipped.
fn parse_params(s: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    for piece in split_top(s, b';') {
        let piece = piece.trim_matches(WS);
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match piece.split_once('=') {
            Some((n, v)) => (n.trim_end_matches(WS), Some(v.trim_start_matches(WS))),
            None => (piece, None),
        };
        if !is_token(name) {
            return None;
        }
        if let Some(v) = value {
            let ok = if v.starts_with('"') {
                parse_quoted(v).is_some_and(|(_, rest)| rest.is_empty())
            } else {
                !v.contains([' ', '\t', '"', '<', '>', ','])
            };
            if !ok {
                return None;
            }
        }
        out.push((name.to_owned(), value.map(str::to_owned)));
    }
    Some(out)
}

fn param_value<'a>(params: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_deref())
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[(String, Option<String>)]) -> fmt::Result {
    for (n, v) in params {
        write!(f, ";{n}")?;
        if let Some(v) = v {
            write!(f, "={v}")?;
        }
    }
    Ok(())
}

/// `host [":" port]` (§25.1), IPv6 references in brackets; host lower-cased.
fn parse_hostport(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        if !host.contains(':')
            || !host
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return None;
        }
        let after = after.trim_start_matches(WS);
        let port = match after {
            "" => None,
            _ => Some(parse_port(after.strip_prefix(':')?.trim_start_matches(WS))?),
        };
        (host, port)
    } else {
        let (host, port) = match s.split_once(':') {
            Some((h, p)) => (
                h.trim_end_matches(WS),
                Some(parse_port(p.trim_start_matches(WS))?),
            ),
            None => (s, None),
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return None;
        }
        (host, port)
    };
    Some((host.to_ascii_lowercase(), port))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

fn host_port(host: &str, port: Option<u16>) -> String {
    let mut s = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    if let Some(p) = port {
        s.push(':');
        s.push_str(itoa::Buffer::new().format(p));
    }
    s
}

fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits::default()
    }

    /// A test message written with `\n` line ends, sent with CRLF.
    fn crlf(s: &str) -> String {
        s.replace('\n', "\r\n")
    }

    fn dgram(s: &str) -> Result<Message, ParseError> {
        parse_datagram(crlf(s).as_bytes(), &lim())
    }

    const ALICE_SDP: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 pc33.atlanta.com\r\n\
        s=-\r\nc=IN IP4 pc33.atlanta.com\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\n\
        a=rtpmap:0 PCMU/8000\r\n";
    const BOB_SDP: &str = "v=0\r\no=bob 2890844527 2890844527 IN IP4 192.0.2.4\r\ns=-\r\n\
        c=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 3456 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    /// RFC 3261 §24.2 F1 (the SDP, "not shown" there, filled in; Content-Length to match).
    fn f1() -> Vec<u8> {
        let head = crlf(&format!(
            "INVITE sip:bob@biloxi.com SIP/2.0\n\
             Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\n\
             Max-Forwards: 70\n\
             To: Bob <sip:bob@biloxi.com>\n\
             From: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
             Call-ID: a84b4c76e66710\n\
             CSeq: 314159 INVITE\n\
             Contact: <sip:alice@pc33.atlanta.com>\n\
             Content-Type: application/sdp\n\
             Content-Length: {}\n\n",
            ALICE_SDP.len()
        ));
        [head.as_bytes(), ALICE_SDP.as_bytes()].concat()
    }

    /// RFC 3261 §24.2 F6.
    const F6: &str = "SIP/2.0 180 Ringing\n\
        Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.3\n\
        Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2\n\
        Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\n\
        To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\n\
        From: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
        Call-ID: a84b4c76e66710\n\
        Contact: <sip:bob@192.0.2.4>\n\
        CSeq: 314159 INVITE\n\
        Content-Length: 0\n\n";

    /// RFC 3261 §24.2 F9 (Bob's SDP filled in).
    fn f9() -> Vec<u8> {
        let head = crlf(&format!(
            "SIP/2.0 200 OK\n\
             Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.3\n\
             Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2\n\
             Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\n\
             To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\n\
             From: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
             Call-ID: a84b4c76e66710\n\
             CSeq: 314159 INVITE\n\
             Contact: <sip:bob@192.0.2.4>\n\
             Content-Type: application/sdp\n\
             Content-Length: {}\n\n",
            BOB_SDP.len()
        ));
        [head.as_bytes(), BOB_SDP.as_bytes()].concat()
    }

    /// RFC 3261 §24.2 F12.
    const F12: &str = "ACK sip:bob@192.0.2.4 SIP/2.0\n\
        Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds9\n\
        Max-Forwards: 70\n\
        To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\n\
        From: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
        Call-ID: a84b4c76e66710\n\
        CSeq: 314159 ACK\n\
        Content-Length: 0\n\n";

    /// Serializes, then parses again as a datagram and on a stream: the same message, and
    /// the same bytes as `wire` when given.
    fn round_trip(m: &Message, wire: Option<&[u8]>) {
        let bytes = m.to_bytes();
        if let Some(w) = wire {
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(w),
                "serialized form differs from the original"
            );
        }
        assert_eq!(&parse_datagram(&bytes, &lim()).unwrap(), m);
        match parse_stream(&bytes, &lim()).unwrap() {
            Some(Framed::Message(again, n)) => {
                assert_eq!(n, bytes.len());
                assert_eq!(&again, m);
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn rfc3261_f1_invite() {
        let wire = f1();
        let m = parse_datagram(&wire, &lim()).unwrap();
        assert!(m.is_request());
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.code(), None);
        assert_eq!(
            m.start,
            StartLine::Request {
                method: Method::Invite,
                uri: "sip:bob@biloxi.com".into()
            }
        );
        let via = m.top_via().unwrap();
        assert_eq!(via.transport, "UDP");
        assert_eq!(via.host, "pc33.atlanta.com");
        assert_eq!(via.port, None);
        assert_eq!(via.branch.as_deref(), Some("z9hG4bKnashds8"));
        assert!(via.has_magic_cookie());
        let from = m.from().unwrap();
        assert_eq!(from.display.as_deref(), Some("Alice"));
        assert_eq!(from.uri, "sip:alice@atlanta.com");
        assert_eq!(from.tag(), Some("1928301774"));
        let to = m.to().unwrap();
        assert_eq!(to.display.as_deref(), Some("Bob"));
        assert_eq!(to.tag(), None);
        assert_eq!(m.call_id(), Some("a84b4c76e66710"));
        assert_eq!(
            m.cseq(),
            Some(CSeq {
                seq: 314159,
                method: Method::Invite
            })
        );
        assert_eq!(m.header("max-forwards"), Some("70"));
        assert_eq!(m.header("Content-Type"), Some("application/sdp"));
        assert_eq!(m.header_values("Contact"), ["<sip:alice@pc33.atlanta.com>"]);
        assert_eq!(&m.body[..], ALICE_SDP.as_bytes());
        round_trip(&m, Some(&wire));
    }

    #[test]
    fn rfc3261_f6_180_ringing() {
        let wire = crlf(F6);
        let m = parse_datagram(wire.as_bytes(), &lim()).unwrap();
        assert!(!m.is_request());
        assert_eq!(m.code(), Some(180));
        assert_eq!(
            m.start,
            StartLine::Response {
                code: 180,
                reason: "Ringing".into()
            }
        );
        let vias = m.header_values("Via");
        assert_eq!(vias.len(), 3);
        assert!(vias[2].starts_with("SIP/2.0/UDP pc33.atlanta.com"));
        let top = m.top_via().unwrap();
        assert_eq!(top.host, "server10.biloxi.com");
        assert_eq!(top.received.as_deref(), Some("192.0.2.3"));
        assert_eq!(top.branch.as_deref(), Some("z9hG4bK4b43c2ff8.1"));
        assert_eq!(m.to().unwrap().tag(), Some("a6c85cf"));
        assert_eq!(m.cseq().unwrap().method, Method::Invite);
        assert!(m.body.is_empty());
        round_trip(&m, Some(wire.as_bytes()));
    }

    #[test]
    fn rfc3261_f9_200_ok() {
        let wire = f9();
        let m = parse_datagram(&wire, &lim()).unwrap();
        assert_eq!(m.code(), Some(200));
        assert_eq!(m.header_values("via").len(), 3);
        assert_eq!(m.header("Contact"), Some("<sip:bob@192.0.2.4>"));
        assert_eq!(&m.body[..], BOB_SDP.as_bytes());
        round_trip(&m, Some(&wire));
    }

    #[test]
    fn rfc3261_f12_ack() {
        let wire = crlf(F12);
        let m = parse_datagram(wire.as_bytes(), &lim()).unwrap();
        assert_eq!(m.method(), Some(&Method::Ack));
        assert_eq!(m.cseq().unwrap().method, Method::Ack);
        assert_eq!(
            m.top_via().unwrap().branch.as_deref(),
            Some("z9hG4bKnashds9")
        );
        assert_eq!(m.to().unwrap().tag(), Some("a6c85cf"));
        round_trip(&m, Some(wire.as_bytes()));
    }

    const MSRP_SDP: &str = "c=IN IP4 atlanta.example.com\r\n\
        m=message 7654 TCP/MSRP *\r\n\
        a=accept-types:text/plain\r\n\
        a=path:msrp://atlanta.example.com:7654/jshA7weztas;tcp\r\n";

    #[test]
    fn rfc4975_s4_invite_with_msrp_sdp() {
        // As printed in RFC 4975 §4 ("some lines removed"): no Via, CSeq, Content-Length.
        let printed = format!(
            "{}{MSRP_SDP}",
            crlf(
                "INVITE sip:bob@biloxi.example.com SIP/2.0\n\
                 To: <sip:bob@biloxi.example.com>\n\
                 From: <sip:alice@atlanta.example.com>;tag=786\n\
                 Call-ID: 3413an89KU\n\
                 Content-Type: application/sdp\n\n"
            )
        );
        let err = parse_datagram(printed.as_bytes(), &lim()).unwrap_err();
        assert_eq!(err, ParseError::MissingHeader("Via"));
        assert_eq!(err.status(), 400);
        // ... still answerable from what is there.
        let req = salvage_request(printed.as_bytes(), &lim()).unwrap();
        assert_eq!(req.call_id(), Some("3413an89KU"));
        let resp = Message::response_to(&req, err.status(), "", Some("x"));
        assert_eq!(resp.code(), Some(400));
        assert_eq!(resp.to().unwrap().tag(), Some("x"));

        // Completed with the removed lines.
        let full = format!(
            "{}{MSRP_SDP}",
            crlf(&format!(
                "INVITE sip:bob@biloxi.example.com SIP/2.0\n\
                 Via: SIP/2.0/TCP atlanta.example.com:5060;branch=z9hG4bK74bf9\n\
                 Max-Forwards: 70\n\
                 To: <sip:bob@biloxi.example.com>\n\
                 From: <sip:alice@atlanta.example.com>;tag=786\n\
                 Call-ID: 3413an89KU\n\
                 CSeq: 1 INVITE\n\
                 Content-Type: application/sdp\n\
                 Content-Length: {}\n\n",
                MSRP_SDP.len()
            ))
        );
        let Some(Framed::Message(m, n)) = parse_stream(full.as_bytes(), &lim()).unwrap() else {
            panic!("no message");
        };
        assert_eq!(n, full.len());
        let to = m.to().unwrap();
        assert_eq!(to.display, None);
        assert_eq!(to.uri, "sip:bob@biloxi.example.com");
        assert_eq!(m.from().unwrap().tag(), Some("786"));
        assert_eq!(m.top_via().unwrap().transport, "TCP");
        assert_eq!(m.top_via().unwrap().port, Some(5060));
        let StartLine::Request { uri, .. } = &m.start else {
            panic!("not a request")
        };
        let uri = SipUri::parse(uri).unwrap();
        assert_eq!(uri.user.as_deref(), Some("bob"));
        assert_eq!(uri.host, "biloxi.example.com");
        assert_eq!(&m.body[..], MSRP_SDP.as_bytes());
        assert!(
            std::str::from_utf8(&m.body)
                .unwrap()
                .contains("a=path:msrp://atlanta.example.com:7654/jshA7weztas;tcp")
        );
        round_trip(&m, Some(full.as_bytes()));
    }

    #[test]
    fn compact_forms_expand() {
        let m = dgram(
            "INVITE sip:bob@biloxi.com SIP/2.0\n\
             v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8\n\
             f: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
             t: Bob <sip:bob@biloxi.com>\n\
             i: a84b4c76e66710\n\
             cseq: 314159 INVITE\n\
             m: <sip:alice@pc33.atlanta.com>\n\
             c: application/sdp\n\
             k: timer\n\
             X-Custom: kept\n\
             l: 4\n\nabcd",
        )
        .unwrap();
        let names: Vec<&str> = m.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Via",
                "From",
                "To",
                "Call-ID",
                "CSeq",
                "Contact",
                "Content-Type",
                "Supported",
                "X-Custom",
                "Content-Length"
            ]
        );
        assert_eq!(m.header("i"), Some("a84b4c76e66710"));
        assert_eq!(m.header("CALL-ID"), Some("a84b4c76e66710"));
        assert_eq!(m.header("x-custom"), Some("kept"));
        assert_eq!(m.header("V"), m.header("Via"));
        assert_eq!(&m.body[..], b"abcd");
        let wire = m.to_bytes();
        let text = std::str::from_utf8(&wire).unwrap();
        assert!(text.contains("\r\nVia: SIP/2.0/UDP"));
        assert!(text.contains("\r\nCall-ID: a84b"));
        assert!(text.ends_with("\r\nContent-Length: 4\r\n\r\nabcd"));
        round_trip(&m, None);
        // A compact name stored directly still matches its long form.
        let mut n = m.clone();
        n.headers.push(Header {
            name: "s".into(),
            value: "hi".into(),
        });
        assert_eq!(n.header("Subject"), Some("hi"));
    }

    #[test]
    fn folded_lines_join_with_one_space() {
        let m = dgram(
            "OPTIONS sip:carol@chicago.com SIP/2.0\n\
             Via: SIP/2.0/UDP pc33.atlanta.com\n \t ;branch=z9hG4bKhjhs8ass877\n\
             Max-Forwards : 70\n\
             To: <sip:carol@chicago.com>\n\
             From: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
             Call-ID: a84b4c76e66710\n\
             CSeq: 63104 OPTIONS\n\
             Subject: I know you're there,\n   pick up the phone\n\tand talk to me!\n\
             Content-Length: 0\n\n",
        )
        .unwrap();
        assert_eq!(
            m.header("Subject"),
            Some("I know you're there, pick up the phone and talk to me!")
        );
        assert_eq!(
            m.header("Via"),
            Some("SIP/2.0/UDP pc33.atlanta.com ;branch=z9hG4bKhjhs8ass877")
        );
        assert_eq!(
            m.top_via().unwrap().branch.as_deref(),
            Some("z9hG4bKhjhs8ass877")
        );
        assert_eq!(m.header("Max-Forwards"), Some("70"));
        round_trip(&m, None);
    }

    #[test]
    fn via_lists_in_one_or_two_headers() {
        let tail = "Max-Forwards: 70\n\
             To: <sip:bob@biloxi.com>\n\
             From: <sip:alice@atlanta.com>;tag=1\n\
             Call-ID: c1\n\
             CSeq: 1 INVITE\n\
             Content-Length: 0\n\n";
        let a = "SIP/2.0/UDP a.example.com;branch=z9hG4bK1";
        let b = "SIP/2.0/TCP b.example.com:5061;branch=z9hG4bK2";
        let one = dgram(&format!(
            "INVITE sip:bob@biloxi.com SIP/2.0\nVia: {a} ,  {b}\n{tail}"
        ))
        .unwrap();
        let two = dgram(&format!(
            "INVITE sip:bob@biloxi.com SIP/2.0\nVia: {a}\nv: {b}\n{tail}"
        ))
        .unwrap();
        assert_eq!(one.header_values("Via"), [a, b]);
        assert_eq!(two.header_values("Via"), [a, b]);
        assert_eq!(one.top_via().unwrap().host, "a.example.com");
        assert_eq!(two.top_via().unwrap().host, "a.example.com");
        assert_eq!(one.header_values("v").len(), 2);
    }

    #[test]
    fn header_values_split_only_list_headers_at_top_level_commas() {
        let m = dgram(
            "INVITE sip:bob@biloxi.com SIP/2.0\n\
             Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x=\"q,q\"\n\
             To: \"Doe, Jane\" <sip:bob@biloxi.com>\n\
             From: \"Doe, John\" <sip:alice@atlanta.com>;tag=1\n\
             Call-ID: c1\n\
             CSeq: 1 INVITE\n\
             Date: Sat, 13 Nov 2010 23:29:00 GMT\n\
             Contact: \"Doe, John\" <sip:a@b;x=1,2>, <sip:c@d>;q=0.5\n\
             Supported: timer, 100rel,path\n\
             Supported: replaces\n\
             Warning: 307 isi.edu \"Session parameter 'foo', not understood\"\n\
             Content-Length: 0\n\n",
        )
        .unwrap();
        assert_eq!(
            m.header_values("Via"),
            ["SIP/2.0/UDP a.example.com;branch=z9hG4bK1;x=\"q,q\""]
        );
        assert_eq!(
            m.header_values("From"),
            ["\"Doe, John\" <sip:alice@atlanta.com>;tag=1"]
        );
        assert_eq!(m.from().unwrap().display.as_deref(), Some("Doe, John"));
        assert_eq!(m.header_values("Date"), ["Sat, 13 Nov 2010 23:29:00 GMT"]);
        assert_eq!(
            m.header_values("Contact"),
            ["\"Doe, John\" <sip:a@b;x=1,2>", "<sip:c@d>;q=0.5"]
        );
        assert_eq!(
            m.header_values("Supported"),
            ["timer", "100rel", "path", "replaces"]
        );
        assert_eq!(m.header_values("Warning").len(), 1);
        assert!(m.header_values("Route").is_empty());
    }

    #[derive(Debug, PartialEq)]
    enum Ev {
        Msg(Message),
        Ping,
        Skip(usize),
    }

    fn drain(buf: &mut Vec<u8>, out: &mut Vec<Ev>) {
        while let Some(f) = parse_stream(buf, &lim()).expect("a valid stream") {
            let n = f.consumed();
            assert!(n > 0 && n <= buf.len());
            out.push(match f {
                Framed::Message(m, _) => Ev::Msg(m),
                Framed::Ping(_) => Ev::Ping,
                Framed::Skip(n) => Ev::Skip(n),
            });
            buf.drain(..n);
        }
    }

    /// A ping, F12, a stray CRLF, F1, a ping: the events and the offset where each ends.
    fn stream_input() -> (Vec<u8>, Vec<(Ev, usize, bool)>) {
        let m1 = crlf(F12).into_bytes();
        let m2 = f1();
        let input = [&b"\r\n\r\n"[..], &m1, b"\r\n", &m2, b"\r\n\r\n"].concat();
        let p1 = parse_datagram(&m1, &lim()).unwrap();
        let p2 = parse_datagram(&m2, &lim()).unwrap();
        let e1 = 4 + m1.len();
        let e2 = e1 + 2 + m2.len();
        // (event, end offset, needs the byte after it to be told apart from a ping)
        let events = vec![
            (Ev::Ping, 4, false),
            (Ev::Msg(p1), e1, false),
            (Ev::Skip(2), e1 + 2, true),
            (Ev::Msg(p2), e2, false),
            (Ev::Ping, input.len(), false),
        ];
        (input, events)
    }

    /// How many events a stream reader can have seen with the first `k` bytes.
    fn seen(events: &[(Ev, usize, bool)], k: usize) -> usize {
        events
            .iter()
            .take_while(|(_, end, next)| if *next { *end < k } else { *end <= k })
            .count()
    }

    #[test]
    fn stream_split_at_every_byte() {
        let (input, events) = stream_input();
        for k in 0..=input.len() {
            let mut buf = input[..k].to_vec();
            let mut out = Vec::new();
            drain(&mut buf, &mut out);
            let n = seen(&events, k);
            assert_eq!(out.len(), n, "split at {k}");
            for (got, (want, _, _)) in out.iter().zip(&events) {
                assert_eq!(got, want, "split at {k}");
            }
            buf.extend_from_slice(&input[k..]);
            drain(&mut buf, &mut out);
            assert!(buf.is_empty(), "split at {k}: {} bytes left", buf.len());
            assert_eq!(out.len(), events.len(), "split at {k}");
            for (got, (want, _, _)) in out.iter().zip(&events) {
                assert_eq!(got, want, "split at {k}");
            }
        }
    }

    #[test]
    fn stream_one_byte_at_a_time() {
        let (input, events) = stream_input();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for (i, &b) in input.iter().enumerate() {
            buf.push(b);
            drain(&mut buf, &mut out);
            assert_eq!(out.len(), seen(&events, i + 1), "after byte {i}");
        }
        assert!(buf.is_empty());
        let want: Vec<&Ev> = events.iter().map(|(e, _, _)| e).collect();
        let got: Vec<&Ev> = out.iter().collect();
        assert_eq!(got, want);
    }

    #[test]
    fn stream_pings_and_stray_line_ends() {
        assert_eq!(parse_stream(b"", &lim()), Ok(None));
        assert_eq!(parse_stream(b"\r", &lim()), Ok(None));
        assert_eq!(parse_stream(b"\r\n", &lim()), Ok(None));
        assert_eq!(parse_stream(b"\r\n\r", &lim()), Ok(None));
        assert_eq!(parse_stream(b"\r\n\r\n", &lim()), Ok(Some(Framed::Ping(4))));
        assert_eq!(
            parse_stream(b"\r\n\r\nINV", &lim()),
            Ok(Some(Framed::Ping(4)))
        );
        assert_eq!(parse_stream(b"\r\nINV", &lim()), Ok(Some(Framed::Skip(2))));
        assert_eq!(parse_stream(b"\nINV", &lim()), Ok(Some(Framed::Skip(1))));
        assert_eq!(
            parse_stream(b"INVITE sip:a@b SIP/2.0\r\n", &lim()),
            Ok(None)
        );
        // TLS on the SIP port.
        assert_eq!(
            parse_stream(b"\x16\x03\x01\x02\x00", &lim()),
            Err(ParseError::NotSip)
        );
    }

    #[test]
    fn stream_goes_on_after_a_framed_error() {
        let bad = crlf(F12).replace("Call-ID: a84b4c76e66710\r\n", "");
        let good = crlf(F12);
        let input = format!("{bad}{good}").into_bytes();
        let err = parse_stream(&input, &lim()).unwrap_err();
        assert_eq!(err, ParseError::MissingHeader("Call-ID"));
        assert!(err.keeps_stream());
        assert_eq!(err.status(), 400);
        let n = frame_len(&input, &lim()).unwrap();
        assert_eq!(n, bad.len());
        let Some(Framed::Message(m, used)) = parse_stream(&input[n..], &lim()).unwrap() else {
            panic!("no message after the bad one");
        };
        assert_eq!(used, good.len());
        assert_eq!(m.call_id(), Some("a84b4c76e66710"));
        // A request with a mangled head can still be answered.
        let req = salvage_request(&input, &lim()).unwrap();
        assert_eq!(req.method(), Some(&Method::Ack));
        assert_eq!(req.header("CSeq"), Some("314159 ACK"));
    }

    fn f12_with(from: &str, to: &str) -> String {
        crlf(F12).replace(from, to)
    }

    #[test]
    fn errors_map_to_statuses() {
        use ParseError as E;
        let via = "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds9\r\n";
        let from = "From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n";
        let cases: Vec<(&str, &str, ParseError)> = vec![
            (
                "Call-ID: a84b4c76e66710\r\n",
                "",
                E::MissingHeader("Call-ID"),
            ),
            (via, "", E::MissingHeader("Via")),
            (from, "", E::MissingHeader("From")),
            ("To: Bob", "To: \"Bob", E::BadHeader("To")),
            ("CSeq: 314159 ACK\r\n", "", E::MissingHeader("CSeq")),
            ("CSeq: 314159 ACK", "CSeq: abc ACK", E::BadHeader("CSeq")),
            ("CSeq: 314159 ACK", "CSeq: 314159", E::BadHeader("CSeq")),
            (
                "CSeq: 314159 ACK",
                "CSeq: 4294967296 ACK",
                E::BadHeader("CSeq"),
            ),
            (
                "Max-Forwards: 70",
                "Max-Forwards: seventy",
                E::BadHeader("Max-Forwards"),
            ),
            (
                "UDP pc33.atlanta.com",
                "UDP pc33.atlanta.com:x",
                E::BadHeader("Via"),
            ),
            (
                "SIP/2.0\r\n",
                "SIP/3.0\r\n",
                E::VersionNotSupported("SIP/3.0".into()),
            ),
            ("ACK sip", "ACK  sip", E::BadStartLine),
            ("4 SIP/2.0", "4 HTTP/1.1", E::BadStartLine),
            (
                "Content-Length: 0",
                "Content-Length: 12x",
                E::BadContentLength,
            ),
            (
                "Content-Length: 0",
                "Content-Length: +0",
                E::BadContentLength,
            ),
            (
                "Content-Length: 0",
                "Content-Length: 0\r\nl: 1",
                E::BadContentLength,
            ),
            (
                "Length: 0",
                "Length: 99999999999999999999999",
                E::BadContentLength,
            ),
            (
                "Max-Forwards: 70",
                "Max-Forwards: 70\r\nNo colon",
                E::BadHeaderLine { line: 4 },
            ),
            ("\r\nVia", "\r\n Via", E::BadHeaderLine { line: 2 }),
            (
                "Max-Forwards: 70",
                "Max-Forwards: 70\r\nX: a\u{1}b",
                E::BadHeaderLine { line: 4 },
            ),
        ];
        for (from, to, want) in cases {
            let text = f12_with(from, to);
            assert_ne!(text, crlf(F12), "{from} not found");
            for got in [
                parse_datagram(text.as_bytes(), &lim()).unwrap_err(),
                parse_stream(text.as_bytes(), &lim()).unwrap_err(),
            ] {
                assert_eq!(got, want, "{text}");
                let status = if matches!(want, E::VersionNotSupported(_)) {
                    505
                } else {
                    400
                };
                assert_eq!(got.status(), status, "{want}");
                // Errors found once the message is framed leave the stream usable.
                let framed = !matches!(want, E::BadContentLength | E::BadHeaderLine { .. });
                assert_eq!(got.keeps_stream(), framed, "{want}");
                assert!(!got.to_string().is_empty());
            }
        }
        // The CSeq method must be the request's (§8.1.1.5).
        let text = f12_with("CSeq: 314159 ACK", "CSeq: 314159 INVITE");
        let err = parse_datagram(text.as_bytes(), &lim()).unwrap_err();
        let want = E::CSeqMismatch {
            method: "ACK".into(),
            cseq: "INVITE".into(),
        };
        assert_eq!(err, want);
        assert_eq!((err.status(), err.keeps_stream()), (400, true));
        // A response with another version: 505 too (never answered, but told apart).
        let r = crlf(F6).replacen("SIP/2.0 180", "SIP/3.0 180", 1);
        assert_eq!(
            parse_datagram(r.as_bytes(), &lim()).unwrap_err().status(),
            505
        );
        for bad in [
            "SIP/2.0 99 Low",
            "SIP/2.0 700 High",
            "SIP/2.0 2000 OK",
            "SIP/2.0",
        ] {
            let r = crlf(F6).replacen("SIP/2.0 180 Ringing", bad, 1);
            assert_eq!(
                parse_datagram(r.as_bytes(), &lim()),
                Err(ParseError::BadStartLine),
                "{bad}"
            );
        }
        // An empty reason phrase is allowed, with or without its SP.
        for line in ["SIP/2.0 180 ", "SIP/2.0 180"] {
            let r = crlf(F6).replacen("SIP/2.0 180 Ringing", line, 1);
            let m = parse_datagram(r.as_bytes(), &lim()).unwrap();
            assert_eq!(
                m.start,
                StartLine::Response {
                    code: 180,
                    reason: String::new()
                }
            );
        }
    }

    #[test]
    fn non_utf8_head_is_400_but_binary_body_is_fine() {
        let mut bad = crlf(F12).into_bytes();
        let at = bad.windows(4).position(|w| w == b"Bob ").unwrap();
        bad[at + 1] = 0xff;
        assert_eq!(parse_datagram(&bad, &lim()), Err(ParseError::NotUtf8));
        assert_eq!(parse_stream(&bad, &lim()), Err(ParseError::NotUtf8));
        assert_eq!(ParseError::NotUtf8.status(), 400);
        let mut m = parse_datagram(crlf(F12).as_bytes(), &lim()).unwrap();
        m.body = Bytes::from_static(b"\xff\x00\r\n\r\n\xfe");
        let wire = m.to_bytes();
        assert!(wire.ends_with(b"Content-Length: 7\r\n\r\n\xff\x00\r\n\r\n\xfe"));
        assert_eq!(parse_datagram(&wire, &lim()).unwrap().body, m.body);
        m.set_header("Content-Length", "7");
        round_trip(&m, Some(&wire));
    }

    #[test]
    fn head_over_the_limit_is_513() {
        let wire = f1();
        let head_len = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let exact = Limits {
            max_head: head_len,
            max_body: 1024,
        };
        assert!(parse_datagram(&wire, &exact).is_ok());
        assert!(matches!(
            parse_stream(&wire, &exact),
            Ok(Some(Framed::Message(..)))
        ));
        let small = Limits {
            max_head: head_len - 1,
            max_body: 1024,
        };
        let err = parse_datagram(&wire, &small).unwrap_err();
        assert_eq!(err, ParseError::HeadTooLarge { max: head_len - 1 });
        assert_eq!(err.status(), 513);
        assert!(!err.keeps_stream());
        // On a stream: more bytes wanted until the limit is reached without a blank line.
        assert_eq!(parse_stream(&wire[..head_len - 2], &small), Ok(None));
        assert_eq!(
            parse_stream(&wire[..head_len - 1], &small),
            Err(ParseError::HeadTooLarge { max: head_len - 1 })
        );
        // Answerable from the lines that did arrive.
        let req = salvage_request(&wire, &small).unwrap();
        assert_eq!(req.call_id(), Some("a84b4c76e66710"));
        assert_eq!(
            Message::response_to(&req, 513, "", None).start,
            StartLine::Response {
                code: 513,
                reason: "Message Too Large".into()
            }
        );
    }

    #[test]
    fn body_over_the_limit_is_413() {
        let wire = f1();
        let head_len = wire.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let small = Limits {
            max_head: 8192,
            max_body: 10,
        };
        let want = ParseError::BodyTooLarge {
            length: ALICE_SDP.len(),
            max: 10,
        };
        assert_eq!(parse_datagram(&wire, &small), Err(want.clone()));
        // On a stream, as soon as the head is in.
        assert_eq!(parse_stream(&wire[..head_len], &small), Err(want.clone()));
        assert_eq!(want.status(), 413);
        assert!(!want.keeps_stream());
        // A datagram without Content-Length: the rest is the body.
        let text = String::from_utf8(wire).unwrap();
        let no_cl = text.replace(&format!("Content-Length: {}\r\n", ALICE_SDP.len()), "");
        assert_eq!(parse_datagram(no_cl.as_bytes(), &small), Err(want));
        assert_eq!(
            &parse_datagram(no_cl.as_bytes(), &lim()).unwrap().body[..],
            ALICE_SDP.as_bytes()
        );
    }

    #[test]
    fn content_length_rules_on_streams_and_datagrams() {
        // Missing on a stream: 400; on a datagram the body is the rest.
        let no_cl = f12_with("Content-Length: 0\r\n", "");
        let err = parse_stream(no_cl.as_bytes(), &lim()).unwrap_err();
        assert_eq!(err, ParseError::MissingContentLength);
        assert_eq!(err.status(), 400);
        assert!(!err.keeps_stream());
        assert!(
            parse_datagram(no_cl.as_bytes(), &lim())
                .unwrap()
                .body
                .is_empty()
        );
        // A datagram with fewer bytes than Content-Length: 400; with more: cut.
        let wire = f1();
        let short = &wire[..wire.len() - 1];
        let err = parse_datagram(short, &lim()).unwrap_err();
        assert_eq!(
            err,
            ParseError::Truncated {
                expected: ALICE_SDP.len(),
                got: ALICE_SDP.len() - 1
            }
        );
        assert_eq!(err.status(), 400);
        assert_eq!(parse_stream(short, &lim()), Ok(None));
        let long = [&wire[..], b"trailing junk"].concat();
        assert_eq!(
            &parse_datagram(&long, &lim()).unwrap().body[..],
            ALICE_SDP.as_bytes()
        );
        // Datagram edge cases.
        assert_eq!(parse_datagram(b"\r\n\r\n", &lim()), Err(ParseError::Empty));
        assert_eq!(parse_datagram(b"", &lim()), Err(ParseError::Empty));
        assert_eq!(
            parse_datagram(crlf(F12).trim_end().as_bytes(), &lim()),
            Err(ParseError::NoHeadEnd)
        );
        assert_eq!(parse_datagram(b"\x00\x01", &lim()), Err(ParseError::NotSip));
        // Bare LF line ends are accepted.
        let lf = F12.to_owned();
        assert_eq!(
            parse_datagram(lf.as_bytes(), &lim()).unwrap(),
            parse_datagram(crlf(F12).as_bytes(), &lim()).unwrap()
        );
        assert!(matches!(
            parse_stream(lf.as_bytes(), &lim()),
            Ok(Some(Framed::Message(_, n))) if n == lf.len()
        ));
    }

    fn exercise(m: &Message) {
        for h in &m.headers {
            let _ = m.header_values(&h.name);
        }
        let _ = (m.cseq(), m.call_id(), m.to());
        if let Some(f) = m.from() {
            assert_eq!(NameAddr::parse(&f.to_string()), Some(f));
        }
        if let Some(v) = m.top_via() {
            assert_eq!(Via::parse(&v.to_string()), Some(v));
        }
        for c in m.header_values("Contact") {
            if let Some(n) = NameAddr::parse(c) {
                assert_eq!(NameAddr::parse(&n.to_string()), Some(n));
            }
        }
        if let StartLine::Request { uri, .. } = &m.start {
            if let Some(u) = SipUri::parse(uri) {
                assert_eq!(SipUri::parse(&u.to_string()), Some(u));
            }
        }
        let big = Limits {
            max_head: 1 << 20,
            max_body: 1 << 20,
        };
        let bytes = m.to_bytes();
        let again = parse_datagram(&bytes, &big).expect("the serialized form parses");
        assert_eq!(again.to_bytes(), bytes);
        let _ = Message::response_to(m, 400, "", Some("t")).to_bytes();
    }

    #[test]
    fn mutated_messages_never_panic() {
        let base = f1();
        let small = Limits {
            max_head: 300,
            max_body: 100,
        };
        let mut parsed = 0;
        let mut check = |buf: &[u8]| {
            let whole = parse_datagram(buf, &lim());
            if let Ok(m) = &whole {
                parsed += 1;
                exercise(m);
            }
            for l in [lim(), small] {
                let _ = parse_datagram(buf, &l);
                match parse_stream(buf, &l) {
                    Ok(Some(Framed::Message(m, n))) => {
                        assert!(n <= buf.len());
                        if n == buf.len() && l.max_body == lim().max_body {
                            assert_eq!(whole.as_ref(), Ok(&m));
                        }
                    }
                    Ok(Some(f)) => assert!(f.consumed() <= buf.len()),
                    Ok(None) => {}
                    Err(e) => {
                        let _ = (e.status(), e.to_string());
                        if e.keeps_stream() {
                            assert!(frame_len(buf, &l).is_some_and(|n| n <= buf.len()));
                        }
                    }
                }
                let _ = frame_len(buf, &l);
                if let Some(req) = salvage_request(buf, &l) {
                    let _ = Message::response_to(&req, 400, "", Some("t")).to_bytes();
                }
            }
        };
        for i in 0..=base.len() {
            check(&base[..i]);
        }
        let values = [
            0u8, b'\r', b'\n', b' ', b':', b';', b',', b'<', b'>', b'"', b'\\', b'@', b'%', b'9',
            0xff,
        ];
        for i in 0..base.len() {
            for v in values {
                let mut m = base.clone();
                m[i] = v;
                check(&m);
            }
        }
        assert!(parsed > 500, "only {parsed} mutants parsed");
    }

    #[test]
    fn via_values() {
        let v =
            Via::parse("SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhds;rport;received=1.2.3.4")
                .unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.4");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch.as_deref(), Some("z9hG4bK776asdhds"));
        assert_eq!(v.received.as_deref(), Some("1.2.3.4"));
        assert_eq!(v.rport, Some(None));
        assert_eq!(
            v.params,
            [
                ("branch".to_owned(), Some("z9hG4bK776asdhds".to_owned())),
                ("rport".to_owned(), None),
                ("received".to_owned(), Some("1.2.3.4".to_owned())),
            ]
        );
        assert!(v.has_magic_cookie());
        assert_eq!(v.sent_by(), "192.0.2.4:5060");
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhds;rport;received=1.2.3.4"
        );

        let v6 = Via::parse("SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKx").unwrap();
        assert_eq!(v6.transport, "TCP");
        assert_eq!(v6.host, "2001:db8::1");
        assert_eq!(v6.port, Some(5061));
        assert_eq!(v6.sent_by(), "[2001:db8::1]:5061");
        assert_eq!(v6.rport, None);

        let old = Via::parse("SIP/2.0/udp pc33.atlanta.com;branch=1234").unwrap();
        assert_eq!(old.transport, "UDP");
        assert_eq!(old.port, None);
        assert_eq!(old.sent_by(), "pc33.atlanta.com");
        assert!(!old.has_magic_cookie());
        let none = Via::parse("SIP/2.0/UDP pc33.atlanta.com").unwrap();
        assert_eq!(none.branch, None);
        assert!(!none.has_magic_cookie());

        // RFC 3261 §20.42's example: SWS around "/" and ":", params in any order.
        let ex = Via::parse(
            "SIP / 2.0 / UDP first.example.com: 4000;ttl=16 ;maddr=224.2.0.1 ;branch=z9hG4bKa7c6a8dlze.1",
        )
        .unwrap();
        assert_eq!(ex.host, "first.example.com");
        assert_eq!(ex.port, Some(4000));
        assert_eq!(ex.param("maddr"), Some("224.2.0.1"));
        assert_eq!(ex.branch.as_deref(), Some("z9hG4bKa7c6a8dlze.1"));

        let rp = Via::parse("SIP/2.0/UDP h;rport=5070;branch=z9hG4bK1").unwrap();
        assert_eq!(rp.rport, Some(Some(5070)));

        for bad in [
            "",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP ",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host:",
            "SIP/3.0/UDP host",
            "XIP/2.0/UDP host",
            "SIP/2.0/UDP [::1",
            "SIP/2.0/UDP [zz]:5060",
            "SIP/2.0/UDP host;rport=x",
            "SIP/2.0/UDP ho st",
            "SIP/2.0/UDP host;branch=a b",
        ] {
            assert_eq!(Via::parse(bad), None, "{bad}");
        }

        let mut v = v;
        v.set_param("received", Some("10.0.0.1"));
        v.set_param("rport", Some("1234"));
        assert_eq!(v.received.as_deref(), Some("10.0.0.1"));
        assert_eq!(v.rport, Some(Some(1234)));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK776asdhds;rport=1234;received=10.0.0.1"
        );
        v.set_param("alias", None);
        assert!(v.to_string().ends_with(";alias"));
    }

    #[test]
    fn name_addr_values() {
        let b = NameAddr::parse(r#""Bob \"B\"" <sip:bob@biloxi.com>;tag=a6c85cf"#).unwrap();
        assert_eq!(b.display.as_deref(), Some(r#"Bob "B""#));
        assert_eq!(b.uri, "sip:bob@biloxi.com");
        assert_eq!(b.tag(), Some("a6c85cf"));
        assert_eq!(
            b.to_string(),
            r#""Bob \"B\"" <sip:bob@biloxi.com>;tag=a6c85cf"#
        );

        // addr-spec: what follows the URI is a header parameter (§20.10).
        let a = NameAddr::parse("sip:alice@atlanta.com;tag=88sja8x").unwrap();
        assert_eq!(a.display, None);
        assert_eq!(a.uri, "sip:alice@atlanta.com");
        assert_eq!(a.tag(), Some("88sja8x"));
        assert_eq!(a.to_string(), "<sip:alice@atlanta.com>;tag=88sja8x");

        // name-addr: the URI keeps its own parameters.
        let c = NameAddr::parse("<sip:carol@chicago.com;transport=tcp>").unwrap();
        assert_eq!(c.uri, "sip:carol@chicago.com;transport=tcp");
        assert!(c.params.is_empty());
        assert_eq!(c.tag(), None);
        assert_eq!(SipUri::parse(&c.uri).unwrap().transport(), Some("tcp"));

        let op = NameAddr::parse("The Operator <sip:operator@cs.columbia.edu>;tag=287447").unwrap();
        assert_eq!(op.display.as_deref(), Some("The Operator"));
        assert_eq!(op.tag(), Some("287447"));
        let anon = NameAddr::parse("Anonymous<sip:c8oqz84zk7z@privacy.org>;tag = hyh8").unwrap();
        assert_eq!(anon.display.as_deref(), Some("Anonymous"));
        assert_eq!(anon.tag(), Some("hyh8"));

        let inst = NameAddr::parse(
            "<sip:alice@192.0.2.1>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";expires=3600",
        )
        .unwrap();
        assert_eq!(
            inst.param("+sip.instance"),
            Some("\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"")
        );
        assert_eq!(inst.param("expires"), Some("3600"));
        let tel = NameAddr::parse("<tel:+12125551212>").unwrap();
        assert_eq!(tel.uri, "tel:+12125551212");

        for bad in [
            "",
            "*",
            "<sip:a@b",
            "\"unterminated <sip:a@b>",
            "Bob <>",
            "no-scheme",
            "<sip:a b@c>",
            "<sip:a@b> junk",
            "<sip:a@b>;=x",
            "Bob \"x\" <sip:a@b>",
        ] {
            assert_eq!(NameAddr::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            NameAddr::new("sip:x@y").to_string(),
            "<sip:x@y>",
            "always written with <>"
        );
    }

    #[test]
    fn sip_uri_values() {
        let u = SipUri::parse(
            "sip:alice%20smith@Atlanta.COM:5070;transport=TCP;lr;maddr=239.255.255.1",
        )
        .unwrap();
        assert_eq!(u.scheme, "sip");
        assert_eq!(u.user.as_deref(), Some("alice smith"));
        assert_eq!(u.host, "atlanta.com");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert_eq!(
            u.params,
            [
                ("transport".to_owned(), Some("tcp".to_owned())),
                ("lr".to_owned(), None),
                ("maddr".to_owned(), Some("239.255.255.1".to_owned())),
            ]
        );
        assert_eq!(
            u.to_string(),
            "sip:alice%20smith@atlanta.com:5070;transport=tcp;lr;maddr=239.255.255.1"
        );

        let v6 = SipUri::parse("sips:[2001:DB8::10]:5061").unwrap();
        assert_eq!(v6.scheme, "sips");
        assert_eq!(v6.user, None);
        assert_eq!(v6.host, "2001:db8::10");
        assert_eq!(v6.port, Some(5061));
        assert_eq!(v6.to_string(), "sips:[2001:db8::10]:5061");

        let phone = SipUri::parse("sip:+1-212-555-1212:1234@gateway.com;user=phone").unwrap();
        assert_eq!(phone.user.as_deref(), Some("+1-212-555-1212"));
        assert_eq!(phone.host, "gateway.com");
        assert_eq!(phone.param("user"), Some("phone"));

        let room = SipUri::parse("sip:room%40x%2fy@conf.example.com?subject=hi").unwrap();
        assert_eq!(room.user.as_deref(), Some("room@x/y"));
        assert_eq!(room.to_string(), "sip:room%40x/y@conf.example.com");
        assert_eq!(SipUri::parse(&room.to_string()), Some(room));

        let caps = SipUri::parse("SIP:Bob@Biloxi.com").unwrap();
        assert_eq!(caps.scheme, "sip");
        assert_eq!(caps.user.as_deref(), Some("Bob"));
        assert_eq!(caps.host, "biloxi.com");

        let caf = SipUri::parse("sip:caf%C3%A9@h").unwrap();
        assert_eq!(caf.user.as_deref(), Some("café"));
        assert_eq!(caf.to_string(), "sip:caf%C3%A9@h");

        for bad in [
            "tel:+123",
            "mailto:a@b",
            "sip:",
            "sip:@host",
            "sip:bob@",
            "sip:bob@host:port",
            "sip:bob@host:70000",
            "sip:bob@ho st",
            "sip:a%zz@h",
            "sip:a%2@h",
            "sip:a%ff@h",
            "sip:bob@[::1",
            "sip:bob@<h>",
            "sip:caf\u{e9}@h",
        ] {
            assert_eq!(SipUri::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn response_to_copies_the_dialog_headers() {
        let req = dgram(
            "INVITE sip:bob@192.0.2.4 SIP/2.0\n\
             Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bK4b43c2ff8.1, SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2\n\
             Record-Route: <sip:server10.biloxi.com;lr>\n\
             Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\n\
             Max-Forwards: 68\n\
             To: Bob <sip:bob@biloxi.com>\n\
             From: Alice <sip:alice@atlanta.com>;tag=1928301774\n\
             Call-ID: a84b4c76e66710\n\
             CSeq: 314159 INVITE\n\
             Contact: <sip:alice@pc33.atlanta.com>\n\
             Content-Length: 0\n\n",
        )
        .unwrap();
        let r = Message::response_to(&req, 180, "", Some("a6c85cf"));
        assert_eq!(
            r.start,
            StartLine::Response {
                code: 180,
                reason: "Ringing".into()
            }
        );
        let names: Vec<&str> = r.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Via", "Via", "From", "To", "Call-ID", "CSeq"]);
        assert_eq!(r.header_values("Via"), req.header_values("Via"));
        assert_eq!(r.header_values("Via").len(), 3);
        assert_eq!(r.header("To"), Some("Bob <sip:bob@biloxi.com>;tag=a6c85cf"));
        assert_eq!(r.header("From"), req.header("From"));
        assert_eq!(r.cseq(), req.cseq());
        let wire = r.to_bytes();
        assert!(wire.starts_with(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP server10"));
        assert!(wire.ends_with(b"\r\nCSeq: 314159 INVITE\r\nContent-Length: 0\r\n\r\n"));
        assert!(parse_datagram(&wire, &lim()).is_ok());

        // 100 Trying: no tag; a To that has a tag keeps it.
        let trying = Message::response_to(&req, 100, "Trying", None);
        assert_eq!(trying.to().unwrap().tag(), None);
        let tagged = Message::response_to(&r, 200, "OK", Some("other"));
        assert_eq!(tagged.to().unwrap().tag(), Some("a6c85cf"));
        // An addr-spec To gets the tag as a header parameter.
        let mut plain = req.clone();
        plain.set_header("t", "sip:bob@biloxi.com");
        let r = Message::response_to(&plain, 486, "", Some("x1"));
        assert_eq!(r.header("To"), Some("sip:bob@biloxi.com;tag=x1"));
        assert_eq!(r.to().unwrap().tag(), Some("x1"));
        assert_eq!(r.to().unwrap().uri, "sip:bob@biloxi.com");
    }

    #[test]
    fn header_editing_and_serialization() {
        let mut m = Message::request(Method::Options, "sip:carol@chicago.com");
        m.push_header("v", "SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1");
        m.push_header("Route", "<sip:a;lr>");
        m.push_header("Route", "<sip:b;lr>");
        m.push_header("Max-Forwards", "70");
        m.push_header("To", "<sip:carol@chicago.com>");
        m.push_header("From", "<sip:alice@atlanta.com>;tag=1");
        m.push_header("Call-ID", "x");
        m.push_header("CSeq", "1 OPTIONS");
        m.push_header("l", "999");
        m.push_header("Subject", "a\r\nEvil: 1");
        assert_eq!(m.headers[0].name, "Via");
        m.set_header("max-forwards", "69");
        assert_eq!(m.header("Max-Forwards"), Some("69"));
        m.set_header("Route", "<sip:c;lr>");
        assert_eq!(m.header_values("Route"), ["<sip:c;lr>"]);
        assert_eq!(
            m.headers[1].value, "<sip:c;lr>",
            "kept at the first one's place"
        );
        m.set_header("Accept", "application/sdp");
        assert_eq!(m.headers.last().unwrap().name, "Accept");
        m.body = Bytes::from_static(b"hello");
        let wire = m.to_bytes();
        let text = std::str::from_utf8(&wire).unwrap();
        assert!(text.starts_with("OPTIONS sip:carol@chicago.com SIP/2.0\r\nVia: "));
        assert!(!text.contains("999"));
        assert!(!text.contains("\r\nEvil"));
        assert!(text.ends_with("Accept: application/sdp\r\nContent-Length: 5\r\n\r\nhello"));
        let back = parse_datagram(&wire, &lim()).unwrap();
        assert_eq!(back.header("Subject"), Some("a  Evil: 1"));
        m.remove_header("via");
        assert_eq!(m.header("Via"), None);
        assert!(m.headers.iter().all(|h| !h.is("v")));
    }

    #[test]
    fn methods_cseq_and_reason_phrases() {
        for m in [
            Method::Invite,
            Method::Ack,
            Method::Bye,
            Method::Cancel,
            Method::Options,
            Method::Register,
            Method::Info,
            Method::Update,
            Method::Prack,
            Method::Subscribe,
            Method::Notify,
            Method::Refer,
            Method::Message,
            Method::Other("PUBLISH".into()),
        ] {
            assert_eq!(Method::parse(m.as_str()), m);
            assert_eq!(m.to_string(), m.as_str());
        }
        assert_eq!(Method::parse("invite"), Method::Other("invite".into()));
        // A lower-case method is another method (§7.1), carried through as is.
        let m = dgram(
            "invite sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\n\
             From: <sip:c@d>;tag=1\nCall-ID: x\nCSeq: 1 invite\nContent-Length: 0\n\n",
        )
        .unwrap();
        assert_eq!(m.method(), Some(&Method::Other("invite".into())));

        assert_eq!(
            CSeq::parse(" 1\t BYE "),
            Some(CSeq {
                seq: 1,
                method: Method::Bye
            })
        );
        assert_eq!(CSeq::parse("4294967295 X").unwrap().seq, u32::MAX);
        for bad in ["", "1", "BYE", "x BYE", "-1 BYE", "1 B/E", "1 BYE x"] {
            assert_eq!(CSeq::parse(bad), None, "{bad}");
        }
        assert_eq!(
            CSeq::parse("314159 INVITE").unwrap().to_string(),
            "314159 INVITE"
        );

        for (code, phrase) in [
            (100, "Trying"),
            (180, "Ringing"),
            (200, "OK"),
            (400, "Bad Request"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (413, "Request Entity Too Large"),
            (415, "Unsupported Media Type"),
            (416, "Unsupported URI Scheme"),
            (420, "Bad Extension"),
            (481, "Call/Transaction Does Not Exist"),
            (482, "Loop Detected"),
            (483, "Too Many Hops"),
            (486, "Busy Here"),
            (487, "Request Terminated"),
            (488, "Not Acceptable Here"),
            (491, "Request Pending"),
            (500, "Server Internal Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
            (505, "Version Not Supported"),
            (513, "Message Too Large"),
            (199, "Provisional"),
            (299, "Successful"),
            (399, "Redirection"),
            (499, "Request Failure"),
            (599, "Server Failure"),
            (699, "Global Failure"),
            (99, ""),
            (700, ""),
        ] {
            assert_eq!(reason_phrase(code), phrase, "{code}");
        }
        assert_eq!(
            Limits::default(),
            Limits {
                max_head: 8192,
                max_body: 65536
            }
        );
        assert_eq!(canonical_name("I"), Some("Call-ID"));
        assert_eq!(canonical_name("cseq"), Some("CSeq"));
        assert_eq!(canonical_name("X-Foo"), None);
        assert_eq!(canonical_name("q"), None);
    }
}

/// Property tests (DESIGN.md convention 4): any message the serializer writes parses back to
/// itself, as a datagram and from a stream, whole or split at any point.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn token() -> impl Strategy<Value = String> {
        "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,12}"
    }

    /// A header value: printable, no CR/LF, no surrounding whitespace.
    fn value() -> impl Strategy<Value = String> {
        "[!-~]([ -~]{0,30}[!-~])?"
    }

    fn method() -> impl Strategy<Value = Method> {
        prop_oneof![
            Just(Method::Invite),
            Just(Method::Ack),
            Just(Method::Bye),
            Just(Method::Cancel),
            Just(Method::Options),
            Just(Method::Message),
            "[A-Z]{3,10}".prop_map(|m| Method::parse(&m)),
        ]
    }

    prop_compose! {
        fn message()(
            request in any::<bool>(),
            method in method(),
            user in token(),
            host in "[a-z][a-z0-9]{0,8}(\\.[a-z]{2,5})?",
            code in 100u16..700,
            reason in "[A-Za-z ]{0,20}",
            branch in "[A-Za-z0-9]{1,16}",
            seq in any::<u32>(),
            tags in (token(), token()),
            call_id in "[A-Za-z0-9@.-]{1,30}",
            extra in proptest::collection::vec(("X-[A-Za-z0-9-]{1,10}", value()), 0..5),
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) -> Message {
            let start = if request {
                StartLine::Request { method: method.clone(), uri: format!("sip:{user}@{host}") }
            } else {
                StartLine::Response { code, reason: reason.trim().to_owned() }
            };
            let mut m = Message { start, headers: Vec::new(), body: Bytes::from(body) };
            m.push_header("Via", format!("SIP/2.0/UDP {host}:5060;branch=z9hG4bK{branch}"));
            m.push_header("From", format!("<sip:{user}@{host}>;tag={}", tags.0));
            m.push_header("To", format!("<sip:room@{host}>;tag={}", tags.1));
            m.push_header("Call-ID", call_id);
            m.push_header("CSeq", format!("{seq} {}", method.as_str()));
            for (n, v) in extra {
                m.push_header(&n, v);
            }
            m
        }
    }

    /// `m` with its Content-Length headers dropped: the serializer writes its own.
    fn comparable(m: &Message) -> Message {
        let mut m = m.clone();
        m.remove_header("Content-Length");
        m
    }

    proptest! {
        #[test]
        fn written_messages_parse_back(m in message()) {
            let wire = m.to_bytes();
            let limits = Limits::default();
            let d = parse_datagram(&wire, &limits).expect("datagram");
            prop_assert_eq!(comparable(&d), comparable(&m));
            match parse_stream(&wire, &limits).expect("stream") {
                Some(Framed::Message(s, used)) => {
                    prop_assert_eq!(used, wire.len());
                    prop_assert_eq!(comparable(&s), comparable(&m));
                }
                other => prop_assert!(false, "{other:?}"),
            }
            // Split anywhere: a prefix is never a whole message.
            for cut in [1, wire.len() / 3, wire.len() / 2, wire.len() - 1] {
                prop_assert!(matches!(parse_stream(&wire[..cut], &limits), Ok(None)));
            }
        }
    }
}
