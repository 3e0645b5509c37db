//! MSRP URIs (RFC 4975 §6, §9) and their comparison rules (RFC 4975 §6.1).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

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

/// A part of the URI text: `raw[start..end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span(u32, u32);

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
    raw: ByteString,
    secure: bool,
    port: Option<u16>,
    host: HostRepr,
    userinfo: Option<Span>,
    session_id: Option<Span>,
    transport: Span,
    params: Option<Span>,
}

const UNRESERVED: u8 = 1;
const SUB_DELIM: u8 = 2;
/// `"+" / "=" / "/"`, which session-ids allow besides unreserved characters.
const SESSION_EXTRA: u8 = 4;
/// RFC 3261 `token` (URI-parameter = token ["=" token]).
const TOKEN: u8 = 8;
const HOST: u8 = UNRESERVED | SUB_DELIM;
const SESSION: u8 = UNRESERVED | SESSION_EXTRA;

/// Character classes of RFC 3986 / RFC 4975 §9, one table lookup per octet.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            c |= UNRESERVED;
        }
        if matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        ) {
            c |= SUB_DELIM;
        }
        if matches!(b, b'+' | b'=' | b'/') {
            c |= SESSION_EXTRA;
        }
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            c |= TOKEN;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn is_unreserved(b: u8) -> bool {
    CLASS[b as usize] & UNRESERVED != 0
}

/// Every octet of `s` is in `class`, or is `%` followed by two hex digits.
fn all_in(s: &[u8], class: u8) -> bool {
    // Branch-free fast path; escapes are rare.
    if s.iter()
        .fold(true, |a, &b| a & (CLASS[b as usize] & class != 0))
    {
        return true;
    }
    s.iter()
        .enumerate()
        .all(|(i, &b)| CLASS[b as usize] & class != 0 || (b == b'%' && valid_pct(s, i)))
}

fn valid_pct(s: &[u8], i: usize) -> bool {
    i + 2 < s.len() && s[i + 1].is_ascii_hexdigit() && s[i + 2].is_ascii_hexdigit()
}

impl MsrpUri {
    /// Parses one URI from `text` (RFC 4975 §9 `MSRP-URI`). The URI keeps a reference to `text`.
    pub fn parse(text: ByteString) -> Result<MsrpUri, UriError> {
        let s = text.as_bytes();
        if s.len() > u32::MAX as usize {
            return Err(UriError::Authority);
        }
        let (secure, rest_at) = if s.len() >= 7 && s[..7].eq_ignore_ascii_case(b"msrp://") {
            (false, 7)
        } else if s.len() >= 8 && s[..8].eq_ignore_ascii_case(b"msrps://") {
            (true, 8)
        } else if s.starts_with(b"msrp") || s.starts_with(b"MSRP") {
            return Err(UriError::Authority);
        } else {
            return Err(UriError::Scheme);
        };
        // authority ends at the first '/' or ';'
        let auth_end = memchr::memchr2(b'/', b';', &s[rest_at..]).map_or(s.len(), |p| rest_at + p);
        let mut host_at = rest_at;
        let mut userinfo = None;
        if let Some(p) = memchr::memrchr(b'@', &s[rest_at..auth_end]) {
            let ui = &s[rest_at..rest_at + p];
            if ui.contains(&b':') {
                return Err(UriError::Password);
            }
            if !all_in(ui, HOST) {
                return Err(UriError::Authority);
            }
            userinfo = Some(span(rest_at, rest_at + p));
            host_at = rest_at + p + 1;
        }
        let hp = &s[host_at..auth_end];
        if hp.is_empty() {
            return Err(UriError::Host);
        }
        let (host, port_at) = if hp[0] == b'[' {
            let close = hp.iter().position(|&b| b == b']').ok_or(UriError::Ipv6)?;
            let lit = std::str::from_utf8(&hp[1..close]).map_err(|_| UriError::Ipv6)?;
            let addr: Ipv6Addr = lit.parse().map_err(|_| UriError::Ipv6)?;
            (HostRepr::V6(addr), host_at + close + 1)
        } else {
            let end = hp.iter().position(|&b| b == b':').unwrap_or(hp.len());
            let name = &hp[..end];
            if name.is_empty() {
                return Err(UriError::Host);
            }
            if !all_in(name, HOST) {
                return Err(UriError::Host);
            }
            let h = if name[0].is_ascii_digit()
                && name.iter().all(|b| b.is_ascii_digit() || *b == b'.')
                && name.contains(&b'.')
            {
                let t = std::str::from_utf8(name).map_err(|_| UriError::Host)?;
                match t.parse::<Ipv4Addr>() {
                    Ok(a) => HostRepr::V4(a),
                    Err(_) => HostRepr::Name(span(host_at, host_at + end)),
                }
            } else {
                HostRepr::Name(span(host_at, host_at + end))
            };
            (h, host_at + end)
        };
        let port = if port_at < auth_end {
            if s[port_at] != b':' {
                return Err(UriError::Host);
            }
            let digits = &s[port_at + 1..auth_end];
            if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
                return Err(UriError::Port);
            }
            let v = digits
                .iter()
                .fold(0u32, |a, &d| a * 10 + u32::from(d - b'0'));
            Some(u16::try_from(v).map_err(|_| UriError::Port)?)
        } else {
            None
        };
        let mut at = auth_end;
        let mut session_id = None;
        if at < s.len() && s[at] == b'/' {
            let end = memchr::memchr(b';', &s[at + 1..]).map_or(s.len(), |p| at + 1 + p);
            let sid = &s[at + 1..end];
            if sid.is_empty() || !all_in(sid, SESSION) {
                return Err(UriError::SessionId);
            }
            session_id = Some(span(at + 1, end));
            at = end;
        }
        if at >= s.len() || s[at] != b';' {
            return Err(UriError::Transport);
        }
        let t_end = memchr::memchr(b';', &s[at + 1..]).map_or(s.len(), |p| at + 1 + p);
        let tr = &s[at + 1..t_end];
        if tr.is_empty() || !tr.iter().all(u8::is_ascii_alphanumeric) {
            return Err(UriError::Transport);
        }
        let transport = span(at + 1, t_end);
        let params = if t_end < s.len() {
            let p = &s[t_end + 1..];
            for param in p.split(|&b| b == b';') {
                let mut kv = param.splitn(2, |&b| b == b'=');
                let k = kv.next().unwrap_or_default();
                if k.is_empty() || !k.iter().all(|&b| CLASS[b as usize] & TOKEN != 0) {
                    return Err(UriError::Param);
                }
                if let Some(v) = kv.next() {
                    if v.is_empty() || !v.iter().all(|&b| CLASS[b as usize] & TOKEN != 0) {
                        return Err(UriError::Param);
                    }
                }
            }
            Some(span(t_end + 1, s.len()))
        } else {
            None
        };
        Ok(MsrpUri {
            raw: text,
            secure,
            userinfo,
            host,
            port,
            session_id,
            transport,
            params,
        })
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
        &self.raw
    }
    /// The URI text as a shared string.
    pub fn as_bytestring(&self) -> &ByteString {
        &self.raw
    }
    /// `true` for `msrps` (the hop is protected with TLS, 4975-079).
    pub fn is_secure(&self) -> bool {
        self.secure
    }
    fn part(&self, sp: Span) -> &str {
        &self.raw[sp.0 as usize..sp.1 as usize]
    }
    /// The userinfo, if any (ignored by comparison).
    pub fn userinfo(&self) -> Option<&str> {
        self.userinfo.map(|sp| self.part(sp))
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
        self.session_id.map(|sp| self.part(sp))
    }
    /// The transport (`tcp`, `ws`, ...), as written.
    pub fn transport(&self) -> &str {
        self.part(self.transport)
    }
    /// The URI parameters after the transport, unparsed, without the leading `;`.
    pub fn params(&self) -> Option<&str> {
        self.params.map(|sp| self.part(sp))
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
    // parse() refuses texts longer than u32::MAX.
    Span(from as u32, to as u32)
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
    /// RFC 4975 §6.1 (4975-080..084).
    fn eq(&self, other: &MsrpUri) -> bool {
        self.secure == other.secure
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
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for MsrpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MsrpUri({:?})", &*self.raw)
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
