//! MSRP URIs (RFC 4975 §6, §9) and their comparison rules (RFC 4975 §6.1).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use arrayvec::ArrayString;
use bytestring::ByteString;

/// Why a string is not an MSRP URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The scheme is not `msrp` or `msrps` (4975-075).
    #[error("scheme is not msrp or msrps")]
    Scheme,
    /// `://` or the authority is missing.
    #[error("missing authority")]
    Authority,
    /// The host is empty or has characters a host cannot have.
    #[error("bad host")]
    Host,
    /// The bracketed IPv6 literal does not parse.
    #[error("bad IPv6 literal")]
    Ipv6,
    /// The port is not a number in 0..=65535.
    #[error("bad port")]
    Port,
    /// The userinfo carries a password (4975-078).
    #[error("userinfo carries a password")]
    Password,
    /// The session-id has a character outside `unreserved / "+" / "=" / "/"`.
    #[error("bad session-id")]
    SessionId,
    /// The `;transport` part is missing or not `1*ALPHANUM` (4975-075/076).
    #[error("missing or bad transport")]
    Transport,
    /// A URI parameter is not `token ["=" token]`.
    #[error("bad URI parameter")]
    Param,
    /// The URI is longer than [`MsrpUri::MAX_LEN`] octets.
    #[error("URI too long")]
    TooLong,
}

/// The host part of an MSRP URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// A registered name, as written (compared case-insensitively).
    Name(&'a str),
    /// A dotted-quad IPv4 address.
    V4(Ipv4Addr),
    /// A bracketed IPv6 literal.
    V6(Ipv6Addr),
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Longest URI text a [`MsrpUri`] holds inline; longer ones share their text by reference count.
const INLINE: usize = 64;

/// The text of a URI. A URI of a path is cloned for every frame that carries the path (the
/// decoder's path cache, relays, rooms); inline, a clone is a copy of a few dozen octets, where a
/// shared `ByteString` costs an atomic increment and decrement on one cache line that every
/// slice of the same block contends for (measured: ~35 ns per clone and drop, ten times a copy).
#[derive(Clone)]
enum Text {
    Inline(ArrayString<INLINE>),
    Shared(ByteString),
}

impl Text {
    /// `s`, a slice of `text`: copied when short, else a reference into `text`.
    fn of(text: &ByteString, s: &str) -> Text {
        match ArrayString::from(s) {
            Ok(a) => Text::Inline(a),
            Err(_) => Text::Shared(crate::ident::sub(text, s)),
        }
    }

    /// `text` itself, or a copy when short.
    fn own(text: ByteString) -> Text {
        match ArrayString::from(&text) {
            Ok(a) => Text::Inline(a),
            Err(_) => Text::Shared(text),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Text::Inline(a) => a,
            Text::Shared(b) => b,
        }
    }
}

/// A part of the URI text: `raw[start..end]`. Offsets are 16 bits wide ([`MsrpUri::MAX_LEN`]):
/// with the optional parts in [`OptSpan`], this keeps an `MsrpUri` at 112 octets and a
/// [`crate::Header`] at 128, a size the compiler copies inline. A head's headers are moved a
/// few times while it is parsed and forwarded; at 168 octets each move was a `memcpy` call
/// (measured: 9% of the decoder's time, issue #2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span(u16, u16);

/// An optional [`Span`]: `u16::MAX` as the start means absent (no part of a URI of at most
/// [`MsrpUri::MAX_LEN`] octets starts there). Four octets where `Option<Span>` takes six.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OptSpan(Span);

impl OptSpan {
    const NONE: OptSpan = OptSpan(Span(u16::MAX, u16::MAX));

    fn get(self) -> Option<Span> {
        (self.0.0 != u16::MAX).then_some(self.0)
    }
}

impl From<Option<Span>> for OptSpan {
    fn from(s: Option<Span>) -> OptSpan {
        s.map_or(OptSpan::NONE, OptSpan)
    }
}

#[derive(Debug, Clone, Copy)]
enum HostRepr {
    Name(Span),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

/// An MSRP URI, e.g. `msrp://atlanta.example.com:7654/jshA7weztas;tcp` (RFC 4975 §6).
///
/// The text is kept as received (`as_str`) and written back unchanged; the parts are kept as
/// offsets into it, so a parsed URI costs one reference count, not one per part. Equality and hashing follow RFC 4975 §6.1 (4975-080..084): scheme, host and transport
/// compare case-insensitively, the host after percent-decoding and with IP literals compared as
/// addresses, ports must both be absent or equal, the session-id compares case-sensitively, and
/// userinfo and other URI parameters are ignored.
#[derive(Clone)]
pub struct MsrpUri {
    raw: Text,
    secure: bool,
    port: Option<u16>,
    host: HostRepr,
    userinfo: OptSpan,
    session_id: OptSpan,
    transport: Span,
    params: OptSpan,
}

/// RFC 3986 `unreserved`.
const UNRESERVED: u8 = 1;
/// RFC 3986 `unreserved / sub-delims` without `;`: what a host name or userinfo may hold
/// besides percent escapes. (`;` is a sub-delim, but in an MSRP URI it ends the authority,
/// RFC 4975 §9.)
const HOST: u8 = 2;
/// RFC 4975 §9 `session-id = 1*( unreserved / "+" / "=" / "/" )`.
const SESSION: u8 = 4;
/// RFC 3261 `token` (URI-parameter = token ["=" token]).
const TOKEN: u8 = 8;
/// `ALPHANUM`, the octets of a transport (RFC 4975 §9).
const ALPHANUM: u8 = 16;

/// Character classes of RFC 3986 / RFC 4975 §9, one table lookup per octet.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if unreserved {
            c |= UNRESERVED;
        }
        if unreserved
            || matches!(
                b,
                b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'='
            )
        {
            c |= HOST;
        }
        if unreserved || matches!(b, b'+' | b'=' | b'/') {
            c |= SESSION;
        }
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            c |= TOKEN;
        }
        if b.is_ascii_alphanumeric() {
            c |= ALPHANUM;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn is_unreserved(b: u8) -> bool {
    CLASS[b as usize] & UNRESERVED != 0
}

/// `s[i]` starts a `pct-encoded` (RFC 3986 §2.1): `%` and two hex digits.
///
/// Checked against the whole text rather than the part being parsed: every octet that ends a
/// part (`@ : / ;` or the end of the text) is not a hex digit, so the result is the same.
fn valid_pct(s: &[u8], i: usize) -> bool {
    i + 2 < s.len() && s[i + 1].is_ascii_hexdigit() && s[i + 2].is_ascii_hexdigit()
}

/// `authority = [ userinfo "@" ] host [ ":" port ]` of an MSRP URI (RFC 4975 §9, RFC 3986 §3.2).
#[derive(Debug)]
struct Authority {
    userinfo: Option<Span>,
    host: HostRepr,
    port: Option<u16>,
    /// Offset of the `/` or `;` that ends the authority, or the text length.
    end: usize,
}

/// Parses the authority that starts at `s[from]`; it ends at the first `/` or `;`.
///
/// Nearly every authority is a plain `reg-name [":" port]`, so that shape is read directly (one
/// class scan, one digit scan); anything else (userinfo, percent escapes, IP literals, bad
/// octets) goes to [`parse_authority_general`], which the shortcut agrees with.
fn parse_authority(s: &[u8], from: usize) -> Result<Authority, UriError> {
    let name_end = skip_class(s, from, HOST);
    let (end, digits) = if s.get(name_end) == Some(&b':') {
        let d = read_digits(s, name_end + 1);
        (d.end, Some(d))
    } else {
        (name_end, None)
    };
    if name_end == from || !matches!(s.get(end), None | Some(b'/' | b';')) {
        return parse_authority_general(s, from);
    }
    let port = match digits {
        Some(d) => Some(d.port(end)?),
        None => None,
    };
    Ok(Authority {
        userinfo: None,
        host: reg_name(s, from, name_end),
        port,
        end,
    })
}

/// Parses any authority that starts at `s[from]` (see [`parse_authority`]).
///
/// One forward pass finds its end (the first `/` or `;`), the last `@` (the userinfo is everything
/// before it, so an `@` inside the userinfo makes it invalid) and the first `:` after that `@`
/// (the host/port separator), checking the octets on the way with one `CLASS` lookup each.
/// Errors, in this order: a userinfo with a `:` (a password, 4975-078) is
/// [`UriError::Password`], any other bad userinfo [`UriError::Authority`]; then the host
/// ([`UriError::Host`], [`UriError::Ipv6`]); then the port ([`UriError::Port`]).
fn parse_authority_general(s: &[u8], from: usize) -> Result<Authority, UriError> {
    let mut last_at: Option<usize> = None;
    // Some ':' before `last_at`.
    let mut userinfo_colon = false;
    // Some octet before `last_at` that a userinfo cannot have (this includes an earlier '@').
    let mut userinfo_bad = false;
    // The first ':' after `last_at` (or after `from`).
    let mut colon: Option<usize> = None;
    // Some octet after `last_at` and before `colon` that a host name cannot have.
    let mut bad = false;
    let mut i = from;
    loop {
        i = skip_class(s, i, HOST);
        match s.get(i) {
            None | Some(b'/' | b';') => break,
            Some(b':') => {
                colon.get_or_insert(i);
            }
            Some(b'@') => {
                userinfo_colon |= colon.is_some();
                userinfo_bad |= bad || last_at.is_some();
                last_at = Some(i);
                colon = None;
                bad = false;
            }
            Some(b'%') if valid_pct(s, i) => {}
            Some(_) => bad |= colon.is_none(),
        }
        i += 1;
    }
    let end = i;

    let mut userinfo = None;
    let mut host_at = from;
    if let Some(at) = last_at {
        if userinfo_colon {
            return Err(UriError::Password);
        }
        if userinfo_bad {
            return Err(UriError::Authority);
        }
        userinfo = Some(span(from, at));
        host_at = at + 1;
    }
    if host_at == end {
        return Err(UriError::Host);
    }

    let (host, port_colon) = if s[host_at] == b'[' {
        // IP-literal = "[" IPv6address "]" (RFC 3986 §3.2.2); the scan above does not apply.
        let hp = &s[host_at..end];
        let close = hp.iter().position(|&b| b == b']').ok_or(UriError::Ipv6)?;
        let addr: Ipv6Addr = std::str::from_utf8(&hp[1..close])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(UriError::Ipv6)?;
        let after = host_at + close + 1;
        if after < end && s[after] != b':' {
            return Err(UriError::Host);
        }
        (HostRepr::V6(addr), (after < end).then_some(after))
    } else {
        let name_end = colon.unwrap_or(end);
        if name_end == host_at || bad {
            return Err(UriError::Host);
        }
        (reg_name(s, host_at, name_end), colon)
    };
    let port = match port_colon {
        Some(c) => Some(read_digits(s, c + 1).port(end)?),
        None => None,
    };
    Ok(Authority {
        userinfo,
        host,
        port,
        end,
    })
}

/// The host `s[start..end]`, a non-empty `reg-name` already checked: a name that reads as a
/// dotted quad is that IPv4 address (RFC 3986 §3.2.2); look-alikes such as `1.2.3` stay names.
fn reg_name(s: &[u8], start: usize, end: usize) -> HostRepr {
    if s[start].is_ascii_digit() {
        let v4 = std::str::from_utf8(&s[start..end])
            .ok()
            .and_then(|t| t.parse::<Ipv4Addr>().ok());
        if let Some(a) = v4 {
            return HostRepr::V4(a);
        }
    }
    HostRepr::Name(span(start, end))
}

/// A run of decimal digits: `s[start..end]`, with its value (wrapped; only meaningful for
/// five digits or fewer).
#[derive(Clone, Copy)]
struct Digits {
    start: usize,
    end: usize,
    value: u32,
}

/// The run of digits that starts at `s[from]`.
fn read_digits(s: &[u8], from: usize) -> Digits {
    let mut i = from;
    let mut value = 0u32;
    while let Some(&b) = s.get(i) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = value.wrapping_mul(10).wrapping_add(u32::from(d));
        i += 1;
    }
    Digits {
        start: from,
        end: i,
        value,
    }
}

impl Digits {
    /// The port, if these digits are all of `port = 1*5DIGIT` (the part ends at `end`) and the
    /// value is in 0..=65535.
    fn port(self, end: usize) -> Result<u16, UriError> {
        if self.end != end || self.end == self.start || self.end - self.start > 5 {
            return Err(UriError::Port);
        }
        u16::try_from(self.value).map_err(|_| UriError::Port)
    }
}

/// Offset of the first octet at or after `s[from]` that is not in `class`, or `s.len()`.
///
/// Host names and session-ids are runs of plain octets ended by one delimiter, so this takes
/// four octets per step while all four qualify (one branch instead of four).
fn skip_class(s: &[u8], from: usize, class: u8) -> usize {
    let mut i = from;
    while let Some(q) = s.get(i..i + 4) {
        let all = CLASS[q[0] as usize]
            & CLASS[q[1] as usize]
            & CLASS[q[2] as usize]
            & CLASS[q[3] as usize];
        if all & class == 0 {
            break;
        }
        i += 4;
    }
    while let Some(&b) = s.get(i) {
        if CLASS[b as usize] & class == 0 {
            break;
        }
        i += 1;
    }
    i
}

/// `msrp-scheme "://"` at the start of `s` (RFC 4975 §9; the scheme is case-insensitive,
/// RFC 3986 §3.1, 4975-080): `Some((secure, length))`.
fn scheme(s: &[u8]) -> Option<(bool, usize)> {
    let head = s.get(..4)?;
    // "msrp" is all letters, and an ASCII letter OR 0x20 is its lower case, so this is
    // `eq_ignore_ascii_case` for four octets at once.
    let word = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    if word | 0x2020_2020 != u32::from_le_bytes(*b"msrp") {
        return None;
    }
    if s[4..].starts_with(b"://") {
        Some((false, 7))
    } else if s.get(4).is_some_and(|&b| b | 0x20 == b's') && s[5..].starts_with(b"://") {
        Some((true, 8))
    } else {
        None
    }
}

impl MsrpUri {
    /// The longest URI text accepted, in octets ([`UriError::TooLong`] beyond): a URI's parts
    /// are kept as 16-bit offsets. A header block is far shorter (16 KiB by default).
    pub const MAX_LEN: usize = u16::MAX as usize - 1;

    /// Parses one URI from `text` (RFC 4975 §9 `MSRP-URI`, 4975-075). The URI keeps a
    /// reference to `text`.
    ///
    /// `MSRP-URI = msrp-scheme "://" authority ["/" session-id] ";" transport
    /// *( ";" URI-parameter )`. Besides the ABNF, a session-id may hold percent escapes, and the
    /// parts are kept as offsets so that comparison (RFC 4975 §6.1) needs no second parse.
    pub fn parse(text: ByteString) -> Result<MsrpUri, UriError> {
        let s = text.as_bytes();
        if s.len() > MsrpUri::MAX_LEN {
            return Err(UriError::TooLong);
        }
        let Some((secure, auth_at)) = scheme(s) else {
            return Err(if s.starts_with(b"msrp") || s.starts_with(b"MSRP") {
                UriError::Authority
            } else {
                UriError::Scheme
            });
        };
        let auth = parse_authority(s, auth_at)?;

        let mut at = auth.end;
        let mut session_id = None;
        if s.get(at) == Some(&b'/') {
            // session-id = 1*( unreserved / "+" / "=" / "/" ), up to the ";" of the transport.
            let mut end = at + 1;
            loop {
                end = skip_class(s, end, SESSION);
                match s.get(end) {
                    None | Some(b';') => break,
                    Some(b'%') if valid_pct(s, end) => end += 3,
                    Some(_) => return Err(UriError::SessionId),
                }
            }
            if end == at + 1 {
                return Err(UriError::SessionId);
            }
            session_id = Some(span(at + 1, end));
            at = end;
        }

        // ";" transport, transport = "tcp" / 1*ALPHANUM (4975-075, 4975-076).
        if s.get(at) != Some(&b';') {
            return Err(UriError::Transport);
        }
        // Transports are short ("tcp", "ws"): a plain loop beats `skip_class` here.
        let mut t_end = at + 1;
        while s
            .get(t_end)
            .is_some_and(|&b| CLASS[b as usize] & ALPHANUM != 0)
        {
            t_end += 1;
        }
        if t_end == at + 1 || !matches!(s.get(t_end), None | Some(b';')) {
            return Err(UriError::Transport);
        }
        let transport = span(at + 1, t_end);

        // *( ";" URI-parameter ), URI-parameter = token ["=" token].
        let params = if t_end < s.len() {
            let is_token =
                |t: &[u8]| !t.is_empty() && t.iter().all(|&b| CLASS[b as usize] & TOKEN != 0);
            for param in s[t_end + 1..].split(|&b| b == b';') {
                let mut kv = param.splitn(2, |&b| b == b'=');
                if !is_token(kv.next().unwrap_or_default()) {
                    return Err(UriError::Param);
                }
                if kv.next().is_some_and(|v| !is_token(v)) {
                    return Err(UriError::Param);
                }
            }
            Some(span(t_end + 1, s.len()))
        } else {
            None
        };
        Ok(MsrpUri {
            raw: Text::own(text),
            secure,
            userinfo: auth.userinfo.into(),
            host: auth.host,
            port: auth.port,
            session_id: session_id.into(),
            transport,
            params: params.into(),
        })
    }

    /// The URI at the start of `v` (a slice of `text`) in a space-separated path, when it has
    /// the plain shape nearly every path URI has: `msrp[s]://reg-name[:port][/session-id]
    /// ;transport`, ended by a space or the end of `v`. Returns it (keeping a reference to
    /// `text`) and its length, found in the same pass that parses it. `None` for any other shape
    /// (userinfo, escapes, IP-literal hosts, URI parameters, errors): the caller then finds the
    /// URI's end and uses [`MsrpUri::parse`], which agrees with this one wherever both apply.
    pub(crate) fn parse_path_item(text: &ByteString, v: &str) -> Option<(MsrpUri, usize)> {
        let s = v.as_bytes();
        if s.len() > MsrpUri::MAX_LEN {
            return None;
        }
        let (secure, auth_at) = scheme(s)?;
        let name_end = skip_class(s, auth_at, HOST);
        let (auth_end, port) = if s.get(name_end) == Some(&b':') {
            let d = read_digits(s, name_end + 1);
            (d.end, Some(d.port(d.end).ok()?))
        } else {
            (name_end, None)
        };
        if name_end == auth_at || s.get(name_end).is_some_and(|&b| b == b'%') {
            return None;
        }
        let mut at = auth_end;
        let mut session_id = None;
        if s.get(at) == Some(&b'/') {
            let end = skip_class(s, at + 1, SESSION);
            if end == at + 1 || s.get(end) != Some(&b';') {
                return None;
            }
            session_id = Some(span(at + 1, end));
            at = end;
        }
        if s.get(at) != Some(&b';') {
            return None;
        }
        let mut t_end = at + 1;
        while s
            .get(t_end)
            .is_some_and(|&b| CLASS[b as usize] & ALPHANUM != 0)
        {
            t_end += 1;
        }
        if t_end == at + 1 || !matches!(s.get(t_end), None | Some(b' ')) {
            return None;
        }
        let uri = MsrpUri {
            raw: Text::of(text, &v[..t_end]),
            secure,
            userinfo: OptSpan::NONE,
            host: reg_name(s, auth_at, name_end),
            port,
            session_id: session_id.into(),
            transport: span(at + 1, t_end),
            params: OptSpan::NONE,
        };
        Some((uri, t_end))
    }

    /// Builds a URI from parts: `msrp[s]://host[:port][/session-id];transport`.
    pub fn new(
        secure: bool,
        host: &str,
        port: Option<u16>,
        session_id: Option<&str>,
        transport: &str,
    ) -> Result<MsrpUri, UriError> {
        let mut s = String::with_capacity(
            16 + host.len() + session_id.map_or(0, str::len) + transport.len(),
        );
        s.push_str(if secure { "msrps://" } else { "msrp://" });
        s.push_str(host);
        if let Some(p) = port {
            s.push(':');
            s.push_str(itoa::Buffer::new().format(p));
        }
        if let Some(sid) = session_id {
            s.push('/');
            s.push_str(sid);
        }
        s.push(';');
        s.push_str(transport);
        MsrpUri::parse(ByteString::from(s))
    }

    /// The URI as received.
    pub fn as_str(&self) -> &str {
        self.raw.as_str()
    }
    /// The URI text as a `ByteString` (a copy when the URI is short enough to be held inline,
    /// else a shared reference).
    pub fn to_bytestring(&self) -> ByteString {
        match &self.raw {
            Text::Inline(a) => ByteString::from(a.as_str()),
            Text::Shared(b) => b.clone(),
        }
    }
    /// `true` for `msrps` (the hop is protected with TLS, 4975-079).
    pub fn is_secure(&self) -> bool {
        self.secure
    }
    fn part(&self, sp: Span) -> &str {
        &self.raw.as_str()[sp.0 as usize..sp.1 as usize]
    }
    /// The userinfo, if any (ignored by comparison).
    pub fn userinfo(&self) -> Option<&str> {
        self.userinfo.get().map(|sp| self.part(sp))
    }
    /// The host.
    pub fn host(&self) -> Host<'_> {
        match self.host {
            HostRepr::Name(sp) => Host::Name(self.part(sp)),
            HostRepr::V4(a) => Host::V4(a),
            HostRepr::V6(a) => Host::V6(a),
        }
    }
    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// The session-id, if any.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.get().map(|sp| self.part(sp))
    }
    /// The transport (`tcp`, `ws`, ...), as written.
    pub fn transport(&self) -> &str {
        self.part(self.transport)
    }
    /// The URI parameters after the transport, unparsed, without the leading `;`.
    pub fn params(&self) -> Option<&str> {
        self.params.get().map(|sp| self.part(sp))
    }

    fn host_eq(&self, other: &MsrpUri) -> bool {
        match (self.host(), other.host()) {
            (Host::V4(a), Host::V4(b)) => a == b,
            (Host::V6(a), Host::V6(b)) => a == b,
            (Host::Name(a), Host::Name(b)) => {
                if !a.contains('%') && !b.contains('%') {
                    a.eq_ignore_ascii_case(b)
                } else {
                    normalized_host(a).eq(normalized_host(b))
                }
            }
            // A name that percent-decodes to a dotted quad equals that address.
            (Host::Name(n), Host::V4(a)) | (Host::V4(a), Host::Name(n)) => {
                let t: String = normalized_host(n).map(char::from).collect();
                t.parse::<Ipv4Addr>().is_ok_and(|x| x == a)
            }
            _ => false,
        }
    }
}

fn span(from: usize, to: usize) -> Span {
    // The parsers refuse texts longer than MsrpUri::MAX_LEN.
    Span(from as u16, to as u16)
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// Host octets with `%XX` decoded where it encodes an unreserved character, lower-cased
/// (RFC 4975 §6.1, 4975-081).
fn normalized_host(h: &str) -> impl Iterator<Item = u8> + '_ {
    let b = h.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= b.len() {
            return None;
        }
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let d = hex(b[i + 1]) * 16 + hex(b[i + 2]);
            if is_unreserved(d) {
                i += 3;
                return Some(d.to_ascii_lowercase());
            }
        }
        i += 1;
        Some(b[i - 1].to_ascii_lowercase())
    })
}

impl PartialEq for MsrpUri {
    /// RFC 4975 §6.1 (4975-080..084). The same text is the same URI, which is the common case
    /// (a relay's own URI echoed back in a To-Path): that is checked first, as one compare.
    fn eq(&self, other: &MsrpUri) -> bool {
        self.raw.as_str() == other.raw.as_str()
            || self.secure == other.secure
                && self.port == other.port
                && self.session_id() == other.session_id()
                && self.transport().eq_ignore_ascii_case(other.transport())
                && self.host_eq(other)
    }
}
impl Eq for MsrpUri {}

impl Hash for MsrpUri {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Hash only what compares exactly, so that equal URIs hash equally whatever the host
        // spelling (4975-081).
        self.secure.hash(state);
        self.port.hash(state);
        self.session_id().hash(state);
        self.transport.1.wrapping_sub(self.transport.0).hash(state);
    }
}

impl fmt::Display for MsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw.as_str())
    }
}

impl fmt::Debug for MsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsrpUri({:?})", self.raw.as_str())
    }
}

impl std::str::FromStr for MsrpUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MsrpUri::parse(ByteString::from(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> MsrpUri {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn sizes_stay_within_an_inline_copy() {
        // A Header (a path is its largest variant) at most 128 octets is moved without a
        // memcpy call; see `Span`.
        assert_eq!(std::mem::size_of::<MsrpUri>(), 112);
        assert!(std::mem::size_of::<crate::Header>() <= 128);
    }

    #[test]
    fn overlong_uris_are_refused_not_truncated() {
        // Offsets are 16 bits: a URI of MAX_LEN octets parses with its parts intact, one octet
        // more is refused.
        let at = |n: usize| {
            let pre = "msrp://h.example.com:9/";
            format!("{pre}{};tcp", "s".repeat(n - pre.len() - 4))
        };
        let max = u(&at(MsrpUri::MAX_LEN));
        assert_eq!(max.as_str().len(), MsrpUri::MAX_LEN);
        assert_eq!(max.transport(), "tcp");
        assert_eq!(max.session_id().map(str::len), Some(MsrpUri::MAX_LEN - 27));
        assert_eq!(
            at(MsrpUri::MAX_LEN + 1).parse::<MsrpUri>(),
            Err(UriError::TooLong)
        );
        let text = ByteString::from(at(MsrpUri::MAX_LEN + 1));
        assert!(MsrpUri::parse_path_item(&text, &text).is_none());
    }

    #[test]
    fn long_and_short_texts_behave_alike() {
        // A URI of up to INLINE octets is held inline, a longer one shares its text; which one
        // must not show (4975-080..084 compare the same either way).
        let short = "msrp://Host.Example.com:9/sid;tcp";
        let long = format!(
            "msrp://user@host.example.com:9/sid;tcp;{}",
            "p=v;".repeat(20)
        );
        let long = &long[..long.len() - 1];
        assert!(short.len() <= INLINE && long.len() > INLINE);
        let (a, b) = (u(short), u(long));
        assert!(matches!(a.raw, Text::Inline(_)) && matches!(b.raw, Text::Shared(_)));
        assert_eq!(a, b);
        assert_eq!(b.as_str(), long);
        assert_eq!(b.userinfo(), Some("user"));
        assert_eq!(b.params().map(str::len), Some(long.len() - 39));
        for x in [&a, &b] {
            assert_eq!(&*x.to_bytestring(), x.as_str());
            assert_eq!(parts(&x.clone()), parts(x));
        }
        // Path items are held inline or shared by the same rule.
        let text = ByteString::from(format!("{short} {long}"));
        let (item, end) = MsrpUri::parse_path_item(&text, &text).expect("plain shape");
        assert_eq!((item.as_str(), end), (short, short.len()));
        assert!(matches!(item.raw, Text::Inline(_)));
    }

    /// Everything [`MsrpUri`] tells about itself, to compare two parses.
    fn parts(u: &MsrpUri) -> String {
        format!(
            "{} {} {:?} {} {:?} {:?} {} {:?}",
            u.as_str(),
            u.is_secure(),
            u.userinfo(),
            u.host(),
            u.port(),
            u.session_id(),
            u.transport(),
            u.params()
        )
    }

    /// `parse_path_item` (the decoder's one-pass path parser) agrees with `parse` on every
    /// URI it takes, and ends it where `parse` would be given it (at the first space), over
    /// every combination of well- and ill-formed parts.
    #[test]
    fn the_path_item_shortcut_agrees_with_parse() {
        let mut taken = 0;
        for scheme in ["msrp://", "msrps://", "MSRP://", "msrpx://", ""] {
            for host in [
                "a.example.com",
                "10.0.0.1",
                "1.2.3",
                "[::1]",
                "u@h",
                "h%41",
                "",
            ] {
                for port in ["", ":1", ":65535", ":65536", ":", ":12x"] {
                    for session in ["", "/s1", "/", "/a%20b", "/x y", "/a+b=c/d"] {
                        for transport in [";tcp", ";", ";t-cp", ";tcp;p=1", ";ws", ""] {
                            for tail in [" msrp://b:2/s;tcp", " ", ""] {
                                let v = format!("{scheme}{host}{port}{session}{transport}{tail}");
                                let text = ByteString::from(v.clone());
                                let Some((uri, end)) = MsrpUri::parse_path_item(&text, &text)
                                else {
                                    continue;
                                };
                                taken += 1;
                                let first = v.split(' ').next().unwrap_or_default();
                                assert_eq!(end, first.len(), "{v:?}");
                                let full = MsrpUri::parse(ByteString::from(first.to_owned()))
                                    .unwrap_or_else(|e| {
                                        panic!("{v:?}: shortcut took it, parse: {e}")
                                    });
                                assert_eq!(parts(&uri), parts(&full), "{v:?}");
                            }
                        }
                    }
                }
            }
        }
        assert!(
            taken >= 400,
            "the shortcut takes the common shapes ({taken})"
        );
    }

    #[test]
    fn parses_parts() {
        // 4975-075
        let x = u("msrp://atlanta.example.com:7654/jshA7weztas;tcp");
        assert!(!x.is_secure());
        assert!(matches!(x.host(), Host::Name(n) if n == "atlanta.example.com"));
        assert_eq!(x.port(), Some(7654));
        assert_eq!(x.session_id(), Some("jshA7weztas"));
        assert_eq!(x.transport(), "tcp");
        assert_eq!(x.params(), None);
        assert_eq!(
            x.to_string(),
            "msrp://atlanta.example.com:7654/jshA7weztas;tcp"
        );

        let x = u("msrps://bob@[2001:db8::1]:9/a/b+c=d;ws;foo=bar;baz");
        assert!(x.is_secure());
        assert_eq!(x.userinfo(), Some("bob"));
        assert!(matches!(x.host(), Host::V6(a) if a == "2001:db8::1".parse::<Ipv6Addr>().unwrap()));
        assert_eq!(x.session_id(), Some("a/b+c=d"));
        assert_eq!(x.transport(), "ws");
        assert_eq!(x.params(), Some("foo=bar;baz"));

        let x = u("msrps://relay.example.com;tcp"); // AUTH To-Path: no port, no session
        assert_eq!(x.port(), None);
        assert_eq!(x.session_id(), None);
        let x = u("msrp://127.0.0.1:2855/s1;tcp");
        assert!(matches!(x.host(), Host::V4(a) if a.octets() == [127, 0, 0, 1]));
    }

    #[test]
    fn rejects_bad_uris() {
        use UriError::*;
        for (s, e) in [
            ("sip:alice@example.com", Scheme),
            ("msrp:/x.com;tcp", Authority),
            ("msrp://;tcp", Host),
            ("msrp://x.com:99999/s;tcp", Port),
            ("msrp://x.com:/s;tcp", Port),
            ("msrp://x.com:12a/s;tcp", Port),
            ("msrp://[::1/s;tcp", Ipv6),
            ("msrp://[zz::]:1/s;tcp", Ipv6),
            ("msrp://a:pw@x.com:1/s;tcp", Password),
            ("msrp://x.com:1/s", Transport),
            ("msrp://x.com:1/;tcp", SessionId),
            ("msrp://x.com:1/s^s;tcp", SessionId),
            ("msrp://x.com:1/s;", Transport),
            ("msrp://x.com:1/s;t-p", Transport),
            ("msrp://x.com:1/s;tcp;", Param),
            ("msrp://x y.com:1/s;tcp", Host),
        ] {
            assert_eq!(s.parse::<MsrpUri>().unwrap_err(), e, "{s}");
        }
    }

    #[test]
    fn parses_edge_cases() {
        // An '@' after the authority belongs to the session part, which cannot hold it.
        assert_eq!(
            "msrp://x.com:1/a@b;tcp".parse::<MsrpUri>().unwrap_err(),
            UriError::SessionId
        );
        // Userinfo: everything before the last '@' of the authority (RFC 3986 §3.2.1).
        let x = u("msrp://u%41@x.com:1/s;tcp");
        assert_eq!(x.userinfo(), Some("u%41"));
        assert!(matches!(x.host(), Host::Name("x.com")));
        assert_eq!(u("msrp://@x.com:1/s;tcp").userinfo(), Some(""));
        // IPv6 literal with and without a port.
        let x = u("msrp://[2001:db8::1]:2855/s;tcp");
        assert!(matches!(x.host(), Host::V6(a) if a == "2001:db8::1".parse::<Ipv6Addr>().unwrap()));
        assert_eq!(x.port(), Some(2855));
        let x = u("msrp://u@[::1];tcp");
        assert_eq!((x.userinfo(), x.port()), (Some("u"), None));
        // IPv4 look-alikes stay names; a dotted quad after a userinfo is an address.
        for name in ["1.2.3", "1.2.3.4.5", "1.2.3.256", "1a.2.3.4", "12"] {
            let x = u(&format!("msrp://{name}:1/s;tcp"));
            assert!(matches!(x.host(), Host::Name(n) if n == name), "{name}");
        }
        let x = u("msrp://u@10.1.2.3:7/s;tcp");
        assert!(matches!(x.host(), Host::V4(a) if a.octets() == [10, 1, 2, 3]));
        assert!(matches!(u("msrp://10.1.2.3;tcp").host(), Host::V4(_)));
        // Percent escapes in the host and the session-id are kept as written.
        let x = u("msrp://%61b.%43om:1/s%2Fx%2b;tcp");
        assert!(matches!(x.host(), Host::Name("%61b.%43om")));
        assert_eq!(x.session_id(), Some("s%2Fx%2b"));
        // Ports at the edges.
        assert_eq!(u("msrp://x.com:65535/s;tcp").port(), Some(65535));
        assert_eq!(u("msrp://x.com:0;tcp").port(), Some(0));
        assert_eq!(u("msrp://x.com:00080/s;tcp").port(), Some(80));
        // Scheme in any case (4975-080).
        let x = u("MSRPS://X.COM:1/s;TCP");
        assert!(x.is_secure());
        assert_eq!(x.transport(), "TCP");
        assert!(!u("MsRp://x.com:1/s;tcp").is_secure());
        // Sub-delims in a host name, "/" "+" "=" in a session-id.
        assert!(matches!(
            u("msrp://a!$&'()*+,=b:1/s;tcp").host(),
            Host::Name("a!$&'()*+,=b")
        ));
        assert_eq!(u("msrp://x/a/b+c=d/;tcp").session_id(), Some("a/b+c=d/"));
        // URI parameters.
        assert_eq!(u("msrp://x.com/s;tcp;a=b;c").params(), Some("a=b;c"));
        assert_eq!(u("msrp://x.com;ws;%41").params(), Some("%41"));
    }

    #[test]
    fn rejects_edge_cases() {
        use UriError::*;
        for (s, e) in [
            // userinfo: a ':' anywhere before the last '@' is a password (4975-078), even after
            // another '@'; an '@' or a bad octet inside it is a bad authority.
            ("msrp://a@b:c@x.com:1/s;tcp", Password),
            ("msrp://u:1@x.com:2/s;tcp", Password),
            ("msrp://[::1]@x.com/s;tcp", Password),
            ("msrp://a@b@x.com:1/s;tcp", Authority),
            ("msrp://u^@x.com:1/s;tcp", Authority),
            ("msrp://u%4@x.com:1/s;tcp", Authority),
            ("msrp://x.com@/s;tcp", Host),
            ("msrp://x.com@;tcp", Host),
            // host
            ("msrp://:1/s;tcp", Host),
            ("msrp://x^y:1/s;tcp", Host),
            ("msrp://%6g.com:1/s;tcp", Host),
            ("msrp://ab%4:1/s;tcp", Host),
            ("msrp://a]b/s;tcp", Host),
            ("msrp://[::1]x/s;tcp", Host),
            ("msrp://[::1/s;tcp", Ipv6),
            ("msrp://[1.2.3.4]:1/s;tcp", Ipv6),
            // port
            ("msrp://x.com:;tcp", Port),
            ("msrp://x.com:", Port),
            ("msrp://x.com:65536/s;tcp", Port),
            ("msrp://x.com:000080/s;tcp", Port),
            ("msrp://x.com:1:2/s;tcp", Port),
            ("msrp://x.com:-1/s;tcp", Port),
            ("msrp://[::1]:/s;tcp", Port),
            ("msrp://[::1]:70000;tcp", Port),
            // session-id
            ("msrp://x.com/s%4;tcp", SessionId),
            ("msrp://x.com/s%;tcp", SessionId),
            ("msrp://x.com:1/ab%4", SessionId),
            ("msrp://x.com/s:1;tcp", SessionId),
            // transport
            ("msrp://x.com:1", Transport),
            ("msrp://x.com", Transport),
            ("msrp://x.com/s;", Transport),
            ("msrp://x.com/s;;tcp", Transport),
            ("msrp://x.com/s;t%41", Transport),
            // URI parameters
            ("msrp://x.com/s;tcp;=b", Param),
            ("msrp://x.com/s;tcp;a=", Param),
            ("msrp://x.com/s;tcp;a=b=c", Param),
            ("msrp://x.com/s;tcp;;a", Param),
            ("msrp://x.com/s;tcp;a b", Param),
            // scheme
            ("msrp", Authority),
            ("msrps:/x.com;tcp", Authority),
            ("msrpx://x.com;tcp", Authority),
            ("", Scheme),
            ("msr://x.com;tcp", Scheme),
            ("sips:x@y", Scheme),
        ] {
            assert_eq!(s.parse::<MsrpUri>().unwrap_err(), e, "{s}");
        }
    }

    #[test]
    fn class_scan_finds_the_first_bad_octet() {
        // `skip_class` reads four octets per step: put the one bad octet at every offset of
        // host names and session-ids of every length around that step.
        for len in 1..=13 {
            let good = "a".repeat(len);
            let x = u(&format!("msrp://{good}:9/{good};tcp"));
            assert!(matches!(x.host(), Host::Name(n) if n == good));
            assert_eq!(x.session_id(), Some(good.as_str()));
            for bad in 0..len {
                let mut b = good.clone().into_bytes();
                b[bad] = b'^';
                let b = String::from_utf8(b).unwrap();
                let host = format!("msrp://{b}:9/{good};tcp");
                assert_eq!(
                    host.parse::<MsrpUri>().unwrap_err(),
                    UriError::Host,
                    "{host}"
                );
                let sid = format!("msrp://{good}:9/{b};tcp");
                assert_eq!(
                    sid.parse::<MsrpUri>().unwrap_err(),
                    UriError::SessionId,
                    "{sid}"
                );
            }
        }
    }

    #[test]
    fn authority_shortcut_agrees_with_general_scan() {
        let parts = [
            "", "x", "x.com", "abcd", "1.2.3.4", "1.2.3", ":", ":1", ":65535", ":65536", ":1:2",
            "@", "u@", "u:p@", "%41", "%4", "[::1]", "]", "^", "/s", ";tcp", ":12a", ":123456",
        ];
        for a in parts {
            for b in parts {
                for c in parts {
                    let s = format!("msrp://{a}{b}{c}");
                    let fast = format!("{:?}", parse_authority(s.as_bytes(), 7));
                    let general = format!("{:?}", parse_authority_general(s.as_bytes(), 7));
                    assert_eq!(fast, general, "{s}");
                }
            }
        }
    }

    #[test]
    fn comparison_rules() {
        // 4975-080 scheme, 4975-081 host and userinfo, 4975-082 port, 4975-083 session-id,
        // 4975-084 transport.
        let a = u("msrp://Atlanta.Example.COM:7654/jshA7we;tcp");
        assert_eq!(a, u("MSRP://atlanta.example.com:7654/jshA7we;TCP"));
        assert_eq!(a, u("msrp://alice@atlanta.example.com:7654/jshA7we;tcp"));
        assert_eq!(a, u("msrp://%61tlanta.example.com:7654/jshA7we;tcp"));
        assert_eq!(a, u("msrp://atlanta.example.com:7654/jshA7we;tcp;x=y"));
        assert_ne!(a, u("msrps://atlanta.example.com:7654/jshA7we;tcp"));
        assert_ne!(a, u("msrp://atlanta.example.com/jshA7we;tcp"));
        assert_ne!(a, u("msrp://atlanta.example.com:7655/jshA7we;tcp"));
        assert_ne!(a, u("msrp://atlanta.example.com:7654/JSHA7WE;tcp"));
        assert_ne!(a, u("msrp://atlanta.example.com:7654;tcp"));
        assert_ne!(a, u("msrp://atlanta.example.com:7654/jshA7we;ws"));
        assert_eq!(
            u("msrp://[2001:db8::1]:1/s;tcp"),
            u("msrp://[2001:DB8:0::1]:1/s;tcp")
        );
        assert_eq!(
            u("msrp://10.0.0.1:1/s;tcp"),
            u("msrp://%31%30.0.0.1:1/s;tcp")
        );

        use std::collections::HashSet;
        let set: HashSet<MsrpUri> = [a.clone()].into_iter().collect();
        assert!(set.contains(&u("MSRP://ATLANTA.example.com:7654/jshA7we;Tcp")));
    }

    #[test]
    fn builds_from_parts() {
        let x = MsrpUri::new(
            true,
            "relay.example.net",
            Some(2855),
            Some("kwvin5f"),
            "tcp",
        )
        .unwrap();
        assert_eq!(x.as_str(), "msrps://relay.example.net:2855/kwvin5f;tcp");
        assert!(MsrpUri::new(false, "bad host", Some(1), None, "tcp").is_err());
    }
}
