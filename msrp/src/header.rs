//! Typed MSRP headers (RFC 4975 §9, RFC 4976 §7, RFC 7701 §7.1) and their wire form.

use std::fmt;

use bytes::BytesMut;
use bytestring::ByteString;

use crate::block::Source;
use crate::byte_range::{ByteRange, ByteRangeError};
use crate::ident::Ident;
use crate::status::StatusCode;
use crate::uri::{MsrpUri, UriError};

/// A To-Path, From-Path or Use-Path value: one or more URIs separated by single spaces.
///
/// The first URI is held inline: a path without relays (the common case) costs no allocation.
/// Build one with [`path!`](crate::path), `Path::from_vec` or `collect()`.
pub type Path = smallvec::SmallVec<[MsrpUri; 1]>;

/// `Failure-Report: yes|no|partial` (RFC 4975 §7.1.1, 4975-042). Absent means `yes` (4975-043).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FailureReport {
    /// Transaction responses and failure REPORTs are wanted (the default).
    #[default]
    Yes,
    /// No response, no failure REPORT (4975-046).
    No,
    /// Only failures are reported; no 200 response (4975-045).
    Partial,
}

impl FailureReport {
    fn as_str(self) -> &'static str {
        match self {
            FailureReport::Yes => "yes",
            FailureReport::No => "no",
            FailureReport::Partial => "partial",
        }
    }
}

/// `Status: namespace SP status-code [SP comment]` of a REPORT (RFC 4975 §9, 4975-050).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The namespace; `000` means MSRP status codes.
    pub namespace: u16,
    /// The status code.
    pub code: StatusCode,
    /// The optional comment.
    pub comment: Option<ByteString>,
}

/// One `name=value` item of a Digest header (RFC 4976 §9.1 / RFC 2617).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParam {
    /// Parameter name, as written.
    pub name: ByteString,
    /// Value with quotes removed and escapes resolved.
    pub value: ByteString,
    /// Whether the value was (is to be) written as a quoted-string (4976-008: `qop` is quoted
    /// in WWW-Authenticate and bare in Authorization).
    pub quoted: bool,
}

/// The value of WWW-Authenticate, Authorization (`Digest` + parameters) or Authentication-Info
/// (parameters only) (RFC 4976 §7, §9.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthParams {
    /// `Digest` for challenges and credentials; `None` for Authentication-Info.
    pub scheme: Option<ByteString>,
    /// The parameters in order.
    pub params: Vec<AuthParam>,
}

impl AuthParams {
    /// The value of parameter `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| &*p.value)
    }
}

/// A header of an MSRP request or response.
///
/// Every header that RFC 4975, RFC 4976 and RFC 7701 define is typed; anything else is kept
/// verbatim in [`Header::Other`], in order (4975-016: unknown headers are ignored, not dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// `To-Path` (RFC 4975 §7.1): the hops still to go, the destination last.
    ToPath(Path),
    /// `From-Path` (RFC 4975 §7.1): the hops travelled, the origin last.
    FromPath(Path),
    /// `Message-ID` (4975-039).
    MessageId(Ident),
    /// `Byte-Range` (4975-021).
    ByteRange(ByteRange),
    /// `Success-Report: yes|no` (4975-042).
    SuccessReport(bool),
    /// `Failure-Report: yes|no|partial` (4975-042).
    FailureReport(FailureReport),
    /// `Status` of a REPORT (4975-050).
    Status(Status),
    /// `Content-Type` (RFC 4975 §9): kept as text; see [`Header::content_type_mime`].
    ContentType(ByteString),
    /// `Content-ID` (RFC 4975 §9 Other-Mime-header).
    ContentId(ByteString),
    /// `Content-Description`.
    ContentDescription(ByteString),
    /// `Content-Disposition`.
    ContentDisposition(ByteString),
    /// `Use-Path` of a 200 to AUTH (RFC 4976 §7).
    UsePath(Path),
    /// `Expires` seconds (RFC 4976 §7).
    Expires(u32),
    /// `Min-Expires` seconds (RFC 4976 §7, only in 423).
    MinExpires(u32),
    /// `Max-Expires` seconds (RFC 4976 §7, only in 423).
    MaxExpires(u32),
    /// `WWW-Authenticate` Digest challenge (RFC 4976 §7).
    WwwAuthenticate(AuthParams),
    /// `Authorization` Digest credentials (RFC 4976 §7).
    Authorization(AuthParams),
    /// `Authentication-Info` (RFC 4976 §7).
    AuthenticationInfo(AuthParams),
    /// `Use-Nickname` of a NICKNAME request, unquoted (RFC 7701 §7.1); empty releases it.
    UseNickname(ByteString),
    /// Any other header, name and value as received.
    Other {
        /// The header name.
        name: ByteString,
        /// The value.
        value: ByteString,
    },
}

/// Why a header line was rejected; the decoder answers 400 (RFC 4975 §10).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A path URI is malformed.
    #[error("{name}: {source}")]
    Uri {
        /// The header name.
        name: &'static str,
        /// What is wrong with the URI.
        source: UriError,
    },
    /// Byte-Range is malformed or inconsistent.
    #[error("Byte-Range: {0}")]
    ByteRange(#[from] ByteRangeError),
    /// A value does not follow the header's grammar.
    #[error("{0}: malformed value")]
    Value(&'static str),
    /// The header name is not `ALPHA *token` (RFC 4975 §9 `hname`).
    #[error("malformed header name")]
    Name,
}

const HEADER_NAMES: [&str; 20] = [
    "To-Path",
    "From-Path",
    "Message-ID",
    "Byte-Range",
    "Success-Report",
    "Failure-Report",
    "Status",
    "Content-Type",
    "Content-ID",
    "Content-Description",
    "Content-Disposition",
    "Use-Path",
    "Expires",
    "Min-Expires",
    "Max-Expires",
    "WWW-Authenticate",
    "Authorization",
    "Authentication-Info",
    "Use-Nickname",
    "",
];

fn parse_path(name: &'static str, text: &ByteString, v: &str) -> Result<Path, HeaderError> {
    // URIs separated by single spaces (RFC 4975 §9: `MSRP-URI *(SP MSRP-URI)`).
    let mut out = Path::new();
    let mut rest = v;
    loop {
        // The plain URI shape is parsed in the same pass that finds its end.
        if let Some((uri, end)) = MsrpUri::parse_path_item(text, rest) {
            out.push(uri);
            match rest.get(end + 1..) {
                Some(t) if end < rest.len() => {
                    rest = t;
                    continue;
                }
                _ => return Ok(out),
            }
        }
        let (part, tail) = match memchr::memchr(b' ', rest.as_bytes()) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if part.is_empty() {
            return Err(HeaderError::Value(name));
        }
        out.push(
            MsrpUri::parse(crate::ident::sub(text, part))
                .map_err(|source| HeaderError::Uri { name, source })?,
        );
        match tail {
            Some(t) => rest = t,
            None => return Ok(out),
        }
    }
}

/// Longest To-Path or From-Path value a [`PathCache`] keeps (longer ones are parsed every time).
const PATH_CACHE_MAX: usize = 512;

/// The To-Path and From-Path of a connection's recent frames, parsed.
///
/// Every chunk of every message of a session carries the same two paths (RFC 4975 §7.1), so a
/// connection's frames repeat them: a value seen on the last frame and again on this one is
/// parsed once more and kept; from then on an equal value (compared octet for octet) is cloned
/// instead of parsed. A connection that sent one frame (a participant
/// that binds and listens) keeps only a fingerprint per path: no allocation. The kept URIs
/// hold their text inline (see [`MsrpUri`]) or, when longer, share a copy of their own (at
/// most [`PATH_CACHE_MAX`] octets), so a cache pins no read buffer or arena block. A value that
/// does not parse is not kept.
#[derive(Debug, Default)]
pub(crate) struct PathCache {
    to: PathSlot,
    from: PathSlot,
}

#[derive(Debug, Default)]
enum PathSlot {
    #[default]
    Empty,
    /// The last value's fingerprint ([`fingerprint`]).
    Seen(u64),
    /// A value seen twice in a row (a copy of its own, which long URIs refer to) and its
    /// parsed header.
    Kept(Box<(ByteString, Header)>),
}

/// A cheap fingerprint of a path value: its length and last eight octets (session-ids end
/// there). Equal values have equal fingerprints; a false match only costs a parse.
fn fingerprint(v: &[u8]) -> u64 {
    let tail = v.len().saturating_sub(8);
    v[tail..]
        .iter()
        .fold(v.len() as u64, |h, &b| h.rotate_left(8) ^ u64::from(b))
}

/// `p` cloned; a one-URI path (the common case) without SmallVec's generic clone.
fn clone_path(p: &Path) -> Path {
    match p.as_slice() {
        [uri] => Path::from_buf([uri.clone()]),
        _ => p.clone(),
    }
}

impl PathCache {
    /// Pushes onto `headers` the To-Path (`from == false`) or From-Path (`from == true`) whose
    /// value is `v`, a slice of `src`'s text.
    pub(crate) fn push(
        &mut self,
        from: bool,
        src: &mut impl Source,
        v: &str,
        headers: &mut Vec<Header>,
    ) -> Result<(), HeaderError> {
        let slot = if from { &mut self.from } else { &mut self.to };
        if let PathSlot::Kept(kept) = slot {
            let (value, h) = &**kept;
            if value.as_bytes() == v.as_bytes() {
                // One push per variant (see `Header::parse_in`).
                match h {
                    Header::ToPath(p) => headers.push(Header::ToPath(clone_path(p))),
                    Header::FromPath(p) => headers.push(Header::FromPath(clone_path(p))),
                    h => headers.push(h.clone()),
                }
                return Ok(());
            }
        }
        let (name, wrap): (_, fn(Path) -> Header) = if from {
            ("From-Path", Header::FromPath)
        } else {
            ("To-Path", Header::ToPath)
        };
        let seen = fingerprint(v.as_bytes());
        if !matches!(slot, PathSlot::Seen(f) if *f == seen) || v.len() > PATH_CACHE_MAX {
            headers.push(wrap(path_in(src, name, v)?));
            *slot = PathSlot::Seen(seen);
            return Ok(());
        }
        // Seen twice in a row: parsed from a copy of its own, and kept.
        let own = ByteString::from(v);
        let h = wrap(parse_path(name, &own, &own)?);
        headers.push(h.clone());
        *slot = PathSlot::Kept(Box::new((own, h)));
        Ok(())
    }
}

fn parse_seconds(name: &'static str, v: &str) -> Result<u32, HeaderError> {
    if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderError::Value(name));
    }
    v.parse().map_err(|_| HeaderError::Value(name))
}

/// Parses a quoted-string starting at `s[0] == '"'`; returns (value, rest after the quote).
fn quoted<'a>(text: &ByteString, s: &'a str) -> Option<(ByteString, &'a str)> {
    let b = s.as_bytes();
    let mut i = 1;
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                escaped = true;
                i += 2;
                continue;
            }
            b'"' => {
                let inner = &s[1..i];
                let v = if escaped {
                    let mut o = String::with_capacity(inner.len());
                    let mut it = inner.chars();
                    while let Some(c) = it.next() {
                        o.push(if c == '\\' { it.next()? } else { c });
                    }
                    ByteString::from(o)
                } else {
                    crate::ident::sub(text, inner)
                };
                return Some((v, &s[i + 1..]));
            }
            _ => i += 1,
        }
    }
    None
}

/// The media types nearly every chat SEND carries (RFC 7701 rooms: `message/cpim`; RFC 4975
/// examples and clients: `text/plain`; RFC 3994 typing notices), matched exactly (the common
/// spelling) and given as static strings: no reference count on the header block per frame.
static COMMON_TYPES: [&str; 4] = [
    "message/cpim",
    "text/plain",
    "application/im-iscomposing+xml",
    "text/plain;charset=UTF-8",
];

/// A path value, its URIs sliced from `src`'s shared text.
#[inline(always)]
fn path_in(src: &mut impl Source, name: &'static str, v: &str) -> Result<Path, HeaderError> {
    let (text, v) = src.rebase(v);
    parse_path(name, text, v)
}

/// RFC 4975 §9 / RFC 3261 `token` characters, as a table (the header parser checks every octet
/// of every header name).
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// `true` for a `token` character.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

fn parse_auth(
    name: &'static str,
    text: &ByteString,
    v: &str,
    has_scheme: bool,
) -> Result<AuthParams, HeaderError> {
    let err = || HeaderError::Value(name);
    let mut rest = v.trim_start();
    let mut out = AuthParams::default();
    if has_scheme {
        let end = rest.find([' ', '\t']).ok_or_else(err)?;
        let scheme = &rest[..end];
        if scheme.is_empty() || !scheme.bytes().all(is_token_char) {
            return Err(err());
        }
        out.scheme = Some(crate::ident::sub(text, scheme));
        rest = rest[end..].trim_start();
    }
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(err)?;
        let pname = rest[..eq].trim_end();
        if pname.is_empty() || !pname.bytes().all(is_token_char) {
            return Err(err());
        }
        let after = rest[eq + 1..].trim_start();
        let (value, quoted_v, tail) = if after.starts_with('"') {
            let (val, tail) = quoted(text, after).ok_or_else(err)?;
            (val, true, tail)
        } else {
            let end = after.find([',', ' ', '\t']).unwrap_or(after.len());
            let tok = &after[..end];
            if tok.is_empty() {
                return Err(err());
            }
            (crate::ident::sub(text, tok), false, &after[end..])
        };
        out.params.push(AuthParam {
            name: crate::ident::sub(text, pname),
            value,
            quoted: quoted_v,
        });
        let tail = tail.trim_start();
        rest = match tail.strip_prefix(',') {
            Some(t) => t.trim_start(),
            None if tail.is_empty() => tail,
            None => return Err(err()),
        };
    }
    Ok(out)
}

/// Where [`Header::parse_in`] puts the header it parsed: the decoder's header vector, or a
/// single slot for [`Header::parse`].
pub(crate) trait Put {
    /// Takes `h`.
    fn put(&mut self, h: Header);
}

impl Put for Vec<Header> {
    #[inline(always)]
    fn put(&mut self, h: Header) {
        self.push(h);
    }
}

impl Put for Option<Header> {
    #[inline(always)]
    fn put(&mut self, h: Header) {
        *self = Some(h);
    }
}

impl Header {
    /// Parses the value `v` of header `name`. `text` is the shared string that `v` is a slice of
    /// (values keep pointing into it instead of being copied).
    pub fn parse(text: &ByteString, name: &str, v: &str) -> Result<Header, HeaderError> {
        let mut out = None;
        Header::parse_in(&mut { text }, name, v, &mut out)?;
        out.ok_or(HeaderError::Name)
    }

    /// [`Header::parse`] with the values taken from `src` (the decoder's [`Block`], which copies
    /// the header block only for the values that need it), and the header put into `out` (the
    /// decoder's header vector) by the arm that built it.
    ///
    /// Each arm puts its own variant: a push of a known variant copies that variant's fields,
    /// where returning a `Header` of any variant made the caller move all 128 octets, written
    /// field by field and read back in wide loads (a store-forwarding stall per header that
    /// `perf annotate` showed as the hottest instructions of `parse_head`). Inlined into the
    /// decoder's header loop for the same reason.
    ///
    /// [`Block`]: crate::block::Block
    #[inline(always)]
    pub(crate) fn parse_in<S: Source>(
        src: &mut S,
        name: &str,
        v: &str,
        out: &mut impl Put,
    ) -> Result<(), HeaderError> {
        // Names compare case-insensitively (RFC 5234 §2.3: ABNF strings are case-insensitive).
        // Exact case first: it is what every client sends, and a fixed-size compare.
        let is = |n: &str| name == n || name.eq_ignore_ascii_case(n);
        match name.len() {
            7 if is("To-Path") => out.put(Header::ToPath(path_in(src, "To-Path", v)?)),
            9 if is("From-Path") => out.put(Header::FromPath(path_in(src, "From-Path", v)?)),
            10 if is("Message-ID") => {
                if !crate::ident::is_ident(v.as_bytes()) {
                    return Err(HeaderError::Value("Message-ID"));
                }
                out.put(Header::MessageId(Ident::from_checked(v)))
            }
            10 if is("Byte-Range") => out.put(Header::ByteRange(ByteRange::parse(v)?)),
            14 if is("Success-Report") => {
                // ABNF strings are case-insensitive (RFC 5234 §2.3).
                let yes = match v.as_bytes() {
                    b if b.eq_ignore_ascii_case(b"yes") => true,
                    b if b.eq_ignore_ascii_case(b"no") => false,
                    _ => return Err(HeaderError::Value("Success-Report")),
                };
                out.put(Header::SuccessReport(yes))
            }
            14 if is("Failure-Report") => {
                let f = match v.as_bytes() {
                    b if b.eq_ignore_ascii_case(b"yes") => FailureReport::Yes,
                    b if b.eq_ignore_ascii_case(b"no") => FailureReport::No,
                    b if b.eq_ignore_ascii_case(b"partial") => FailureReport::Partial,
                    _ => return Err(HeaderError::Value("Failure-Report")),
                };
                out.put(Header::FailureReport(f))
            }
            6 if is("Status") => {
                let b = v.as_bytes();
                let digits = |s: &[u8]| s.len() == 3 && s.iter().all(u8::is_ascii_digit);
                if b.len() < 7
                    || !digits(&b[..3])
                    || b[3] != b' '
                    || !digits(&b[4..7])
                    || (b.len() > 7 && b[7] != b' ')
                {
                    return Err(HeaderError::Value("Status"));
                }
                let num = |s: &str| s.parse::<u16>().unwrap_or(0);
                out.put(Header::Status(Status {
                    namespace: num(&v[..3]),
                    code: StatusCode::new(num(&v[4..7])).ok_or(HeaderError::Value("Status"))?,
                    comment: (b.len() > 8).then(|| src.sub(&v[8..])),
                }))
            }
            12 if is("Content-Type") => {
                // A common type is valid as it stands: no checks, a static string.
                if let Some(t) = COMMON_TYPES.iter().find(|t| **t == v) {
                    out.put(Header::ContentType(ByteString::from_static(t)));
                    return Ok(());
                }
                // type "/" subtype *(";" parameter); checked by the `mime` crate on demand.
                let b = v.as_bytes();
                let slash = b
                    .iter()
                    .position(|&c| c == b'/')
                    .ok_or(HeaderError::Value("Content-Type"))?;
                if slash == 0 || slash + 1 == b.len() || b.contains(&b' ') && !b.contains(&b';') {
                    return Err(HeaderError::Value("Content-Type"));
                }
                out.put(Header::ContentType(src.sub(v)))
            }
            10 if is("Content-ID") => out.put(Header::ContentId(src.sub(v))),
            19 if is("Content-Description") => out.put(Header::ContentDescription(src.sub(v))),
            19 if is("Content-Disposition") => out.put(Header::ContentDisposition(src.sub(v))),
            8 if is("Use-Path") => out.put(Header::UsePath(path_in(src, "Use-Path", v)?)),
            7 if is("Expires") => out.put(Header::Expires(parse_seconds("Expires", v)?)),
            11 if is("Min-Expires") => {
                out.put(Header::MinExpires(parse_seconds("Min-Expires", v)?))
            }
            11 if is("Max-Expires") => {
                out.put(Header::MaxExpires(parse_seconds("Max-Expires", v)?))
            }
            16 if is("WWW-Authenticate") => {
                let (t, v) = src.rebase(v);
                out.put(Header::WwwAuthenticate(parse_auth(
                    "WWW-Authenticate",
                    t,
                    v,
                    true,
                )?))
            }
            13 if is("Authorization") => {
                let (t, v) = src.rebase(v);
                out.put(Header::Authorization(parse_auth(
                    "Authorization",
                    t,
                    v,
                    true,
                )?))
            }
            19 if is("Authentication-Info") => {
                let (t, v) = src.rebase(v);
                out.put(Header::AuthenticationInfo(parse_auth(
                    "Authentication-Info",
                    t,
                    v,
                    false,
                )?))
            }
            12 if is("Use-Nickname") => {
                let (t, v) = src.rebase(v);
                let (nick, rest) = v
                    .starts_with('"')
                    .then(|| quoted(t, v))
                    .flatten()
                    .ok_or(HeaderError::Value("Use-Nickname"))?;
                if !rest.is_empty() {
                    return Err(HeaderError::Value("Use-Nickname"));
                }
                out.put(Header::UseNickname(nick))
            }
            _ if !name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                || !name.bytes().all(is_token_char) =>
            {
                return Err(HeaderError::Name);
            }
            _ => out.put(Header::Other {
                name: src.sub(name),
                value: src.sub(v),
            }),
        }
        Ok(())
    }

    /// The header's name as it is written.
    pub fn name(&self) -> &str {
        let i = match self {
            Header::ToPath(_) => 0,
            Header::FromPath(_) => 1,
            Header::MessageId(_) => 2,
            Header::ByteRange(_) => 3,
            Header::SuccessReport(_) => 4,
            Header::FailureReport(_) => 5,
            Header::Status(_) => 6,
            Header::ContentType(_) => 7,
            Header::ContentId(_) => 8,
            Header::ContentDescription(_) => 9,
            Header::ContentDisposition(_) => 10,
            Header::UsePath(_) => 11,
            Header::Expires(_) => 12,
            Header::MinExpires(_) => 13,
            Header::MaxExpires(_) => 14,
            Header::WwwAuthenticate(_) => 15,
            Header::Authorization(_) => 16,
            Header::AuthenticationInfo(_) => 17,
            Header::UseNickname(_) => 18,
            Header::Other { name, .. } => return name,
        };
        HEADER_NAMES[i]
    }

    /// `true` for Content-Type and the other MIME headers that only a request with a body may
    /// carry (RFC 4975 §9 Other-Mime-header, 4975-008).
    pub fn is_mime(&self) -> bool {
        match self {
            Header::ContentType(_)
            | Header::ContentId(_)
            | Header::ContentDescription(_)
            | Header::ContentDisposition(_) => true,
            Header::Other { name, .. } => {
                name.len() > 8 && name[..8].eq_ignore_ascii_case("Content-")
            }
            _ => false,
        }
    }

    /// The Content-Type as a parsed media type (the `mime` crate), for `Header::ContentType`.
    pub fn content_type_mime(&self) -> Option<mime::Mime> {
        match self {
            Header::ContentType(v) => v.parse().ok(),
            _ => None,
        }
    }

    /// Appends `Name: value CRLF` (RFC 4975 §9: exactly one SP after the colon, 4975-006).
    pub fn write(&self, out: &mut BytesMut) {
        out.extend_from_slice(self.name().as_bytes());
        out.extend_from_slice(b": ");
        self.write_value(out);
        out.extend_from_slice(b"\r\n");
    }

    /// Appends the value alone.
    pub fn write_value(&self, out: &mut BytesMut) {
        let mut num = itoa::Buffer::new();
        match self {
            Header::ToPath(p) | Header::FromPath(p) | Header::UsePath(p) => write_path(p, out),
            Header::MessageId(s) => out.extend_from_slice(s.as_bytes()),
            Header::ContentType(s)
            | Header::ContentId(s)
            | Header::ContentDescription(s)
            | Header::ContentDisposition(s)
            | Header::Other { value: s, .. } => out.extend_from_slice(s.as_bytes()),
            Header::ByteRange(r) => r.write_to(out),
            Header::SuccessReport(b) => out.extend_from_slice(if *b { b"yes" } else { b"no" }),
            Header::FailureReport(f) => out.extend_from_slice(f.as_str().as_bytes()),
            Header::Status(s) => {
                out.extend_from_slice(&ns_digits(s.namespace));
                out.extend_from_slice(b" ");
                out.extend_from_slice(&s.code.digits());
                if let Some(c) = &s.comment {
                    out.extend_from_slice(b" ");
                    out.extend_from_slice(c.as_bytes());
                }
            }
            Header::Expires(n) | Header::MinExpires(n) | Header::MaxExpires(n) => {
                out.extend_from_slice(num.format(*n).as_bytes())
            }
            Header::WwwAuthenticate(a)
            | Header::Authorization(a)
            | Header::AuthenticationInfo(a) => {
                if let Some(s) = &a.scheme {
                    out.extend_from_slice(s.as_bytes());
                    out.extend_from_slice(b" ");
                }
                for (i, p) in a.params.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    out.extend_from_slice(p.name.as_bytes());
                    out.extend_from_slice(b"=");
                    if p.quoted {
                        write_quoted(&p.value, out);
                    } else {
                        out.extend_from_slice(p.value.as_bytes());
                    }
                }
            }
            Header::UseNickname(n) => write_quoted(n, out),
        }
    }
}

fn ns_digits(n: u16) -> [u8; 3] {
    let n = n % 1000;
    [
        b'0' + (n / 100) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]
}

fn write_path(p: &[MsrpUri], out: &mut BytesMut) {
    for (i, u) in p.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b" ");
        }
        out.extend_from_slice(u.as_str().as_bytes());
    }
}

fn write_quoted(v: &str, out: &mut BytesMut) {
    out.extend_from_slice(b"\"");
    for b in v.bytes() {
        if b == b'"' || b == b'\\' {
            out.extend_from_slice(b"\\");
        }
        out.extend_from_slice(&[b]);
    }
    out.extend_from_slice(b"\"");
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = BytesMut::new();
        self.write_value(&mut b);
        write!(f, "{}: {}", self.name(), String::from_utf8_lossy(&b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, v: &str) -> Result<Header, HeaderError> {
        let t = ByteString::from(v.to_owned());
        Header::parse(&t, name, &t)
    }

    fn round_trip(name: &str, v: &str) {
        let h = p(name, v).unwrap_or_else(|e| panic!("{name}: {v}: {e}"));
        assert_eq!(h.name().to_ascii_lowercase(), name.to_ascii_lowercase());
        let mut b = BytesMut::new();
        h.write_value(&mut b);
        assert_eq!(std::str::from_utf8(&b).unwrap(), v, "{name}");
    }

    #[test]
    fn every_header_round_trips() {
        round_trip(
            "To-Path",
            "msrp://a.example.com:1/x;tcp msrp://b.example.com:2/y;tcp",
        );
        round_trip("From-Path", "msrps://a.example.com:1/x;tcp");
        round_trip("Message-ID", "87652491");
        round_trip("Byte-Range", "1-*/*");
        round_trip("Success-Report", "yes");
        round_trip("Failure-Report", "partial");
        round_trip("Status", "000 200 OK");
        round_trip("Status", "000 413");
        round_trip("Content-Type", "text/plain; charset=utf-8");
        round_trip("Content-ID", "<1234@example.com>");
        round_trip("Content-Description", "a picture");
        round_trip("Content-Disposition", "inline; filename=\"x.jpg\"");
        round_trip("Use-Path", "msrps://relay.example.net:2855/kwvin5f;tcp");
        round_trip("Expires", "900");
        round_trip("Min-Expires", "60");
        round_trip("Max-Expires", "3600");
        round_trip(
            "WWW-Authenticate",
            "Digest realm=\"example.com\", nonce=\"dcd98b7102dd2f0e\", qop=\"auth\"",
        );
        round_trip(
            "Authorization",
            "Digest username=\"Alice\", realm=\"x\", nonce=\"n\", qop=auth, nc=00000001, cnonce=\"c\", response=\"0123\", uri=\"msrps://x:1;tcp\"",
        );
        round_trip(
            "Authentication-Info",
            "rspauth=\"abc\", cnonce=\"c\", nc=00000001, qop=auth",
        );
        round_trip("Use-Nickname", "\"Alice \\\"the\\\" bob\"");
        round_trip("Use-Nickname", "\"\"");
        round_trip("X-Thing", "anything at all");
    }

    #[test]
    fn typed_values() {
        // 4975-042, 4975-050, RFC 7701 §7.1
        assert_eq!(
            p("failure-report", "no"),
            Ok(Header::FailureReport(FailureReport::No))
        );
        let Ok(Header::Status(s)) = p("Status", "000 481 Session Does Not Exist") else {
            panic!()
        };
        assert_eq!(
            (s.namespace, s.code, s.comment.as_deref()),
            (
                0,
                StatusCode::NO_SUCH_SESSION,
                Some("Session Does Not Exist")
            )
        );
        let Ok(Header::UseNickname(n)) = p("Use-Nickname", "\"Al \\\"x\\\"\"") else {
            panic!()
        };
        assert_eq!(&*n, "Al \"x\"");
        let Ok(Header::Authorization(a)) = p(
            "Authorization",
            "Digest username=\"Alice\",qop=\"auth\" , nc=00000001",
        ) else {
            panic!()
        };
        assert_eq!(a.scheme.as_deref(), Some("Digest"));
        assert_eq!(a.get("QOP"), Some("auth"));
        assert_eq!(a.get("nc"), Some("00000001"));
        assert_eq!(
            p("Content-Type", "text/plain; charset=utf-8")
                .unwrap()
                .content_type_mime()
                .unwrap()
                .subtype(),
            "plain"
        );
    }

    #[test]
    fn malformed_values() {
        for (n, v) in [
            ("To-Path", ""),
            (
                "To-Path",
                "msrp://a.example.com:1/x;tcp  msrp://b.example.com:2/y;tcp",
            ),
            ("From-Path", "sip:alice@example.com"),
            ("Message-ID", "ab"),
            ("Byte-Range", "1-2"),
            ("Success-Report", "partial"),
            ("Failure-Report", "maybe"),
            ("Status", "200 OK"),
            ("Status", "000 20 OK"),
            ("Status", "000 099"),
            ("Content-Type", "textplain"),
            ("Content-Type", "/plain"),
            ("Expires", "-1"),
            ("Expires", "99999999999"),
            ("Use-Nickname", "Alice"),
            ("Use-Nickname", "\"Alice"),
            ("Use-Nickname", "\"Alice\" x"),
            ("WWW-Authenticate", "Digest realm"),
            ("Authorization", "Digest username=\"a\" nonce=\"b\""),
        ] {
            assert!(p(n, v).is_err(), "{n}: {v:?} was accepted");
        }
    }
}
