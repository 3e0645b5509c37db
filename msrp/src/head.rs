//! The header block of a frame: start line, To-Path, From-Path and the other headers
//! (RFC 4975 §7.1, §7.2, §9), its parser and its writer.

use bytes::BytesMut;
use bytestring::ByteString;

use crate::block::{Block, Source};
use crate::byte_range::ByteRange;
use crate::error::ErrorKind;
use crate::header::{FailureReport, Header, HeaderError, Path, PathCache, Status};
use crate::ident::{Ident, is_ident};
use crate::status::StatusCode;
use crate::uri::MsrpUri;

/// An MSRP request method (RFC 4975 §9 `method = 1*UPALPHA`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// SEND (RFC 4975 §7.1).
    Send,
    /// REPORT (RFC 4975 §7.1.2).
    Report,
    /// AUTH (RFC 4976 §7).
    Auth,
    /// NICKNAME (RFC 7701 §7).
    Nickname,
    /// An extension method, kept verbatim (answered 501 by endpoints, 4975-017; forwarded by
    /// relays, 4976-034).
    Other(ByteString),
}

impl Method {
    /// The method name.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Send => "SEND",
            Method::Report => "REPORT",
            Method::Auth => "AUTH",
            Method::Nickname => "NICKNAME",
            Method::Other(m) => m,
        }
    }

    pub(crate) fn from_text(src: &mut impl Source, m: &str) -> Method {
        match m {
            "SEND" => Method::Send,
            "REPORT" => Method::Report,
            "AUTH" => Method::Auth,
            "NICKNAME" => Method::Nickname,
            _ => Method::Other(src.sub(m)),
        }
    }
}

/// The start line: `MSRP SP transact-id SP method` or `MSRP SP transact-id SP status [SP
/// comment]` (4975-001, 4975-002).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// A request.
    Request(Method),
    /// A response.
    Response {
        /// The status code.
        status: StatusCode,
        /// The comment (reason phrase), if any.
        comment: Option<ByteString>,
    },
}

/// The end-line flag (RFC 4975 §7.1, 4975-012).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `$`: the last chunk of the message.
    Last,
    /// `+`: more chunks follow (the chunk was interrupted or is one of several).
    More,
    /// `#`: the sender aborted the message.
    Abort,
}

impl Flag {
    /// The flag octet.
    pub fn byte(self) -> u8 {
        match self {
            Flag::Last => b'$',
            Flag::More => b'+',
            Flag::Abort => b'#',
        }
    }

    /// The flag for an octet, if it is one.
    pub fn from_byte(b: u8) -> Option<Flag> {
        match b {
            b'$' => Some(Flag::Last),
            b'+' => Some(Flag::More),
            b'#' => Some(Flag::Abort),
            _ => None,
        }
    }
}

/// The header block of a request or response.
///
/// Headers are kept in order; To-Path and From-Path are the first two (4975-005). The
/// transaction id and Message-ID are held inline ([`Ident`]); other strings are slices of one
/// copy of the received block, made only when a value needs it (`crate::block`), so a parsed head
/// costs few reference counts and no per-value copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The transaction id (4975-003).
    pub tid: Ident,
    /// Request method or response status.
    pub start: StartLine,
    /// All headers, To-Path and From-Path first.
    pub headers: Vec<Header>,
}

/// Headers a built request has room for without growing: the paths, Message-ID, Byte-Range,
/// Content-Type and one more (a report header). Growing a vector of headers copies them all.
const REQUEST_HEADERS: usize = 6;
/// Headers a built response has room for: the paths and one more (a relay's Message-ID).
const RESPONSE_HEADERS: usize = 3;

/// `[To-Path, From-Path]` in a vector with room for `capacity` headers.
fn with_paths(capacity: usize, to: Path, from: Path) -> Vec<Header> {
    let mut headers = Vec::with_capacity(capacity);
    headers.push(Header::ToPath(to));
    headers.push(Header::FromPath(from));
    headers
}

impl Head {
    /// A request with the given To-Path and From-Path.
    pub fn request(method: Method, tid: Ident, to: Path, from: Path) -> Head {
        Head {
            tid,
            start: StartLine::Request(method),
            headers: with_paths(REQUEST_HEADERS, to, from),
        }
    }

    /// A response with the given To-Path and From-Path; the comment is the registered reason
    /// phrase of `status`, if there is one.
    pub fn response(status: StatusCode, tid: Ident, to: Path, from: Path) -> Head {
        Head {
            tid,
            start: StartLine::Response {
                status,
                comment: status.reason().map(ByteString::from_static),
            },
            headers: with_paths(RESPONSE_HEADERS, to, from),
        }
    }

    /// Appends a header (builder style). Content-Type is kept last (4975-005): a header pushed
    /// after it goes before it.
    pub fn with(mut self, h: Header) -> Head {
        self.push(h);
        self
    }

    /// Appends a header, keeping Content-Type last (4975-005).
    pub fn push(&mut self, h: Header) {
        match self.headers.last() {
            Some(Header::ContentType(_)) if !matches!(h, Header::ContentType(_)) => {
                let at = self.headers.len() - 1;
                self.headers.insert(at, h);
            }
            _ => self.headers.push(h),
        }
    }

    /// The request method, `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request(m) => Some(m),
            StartLine::Response { .. } => None,
        }
    }

    /// The response status, `None` for a request.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request(_) => None,
        }
    }

    /// `true` for a SEND request.
    pub fn is_send(&self) -> bool {
        matches!(self.start, StartLine::Request(Method::Send))
    }

    /// The first header of this kind.
    pub fn find<'a, T>(&'a self, f: impl FnMut(&'a Header) -> Option<T>) -> Option<T> {
        self.headers.iter().find_map(f)
    }

    /// To-Path (always present in a parsed head).
    pub fn to_path(&self) -> &[MsrpUri] {
        self.find(|h| {
            if let Header::ToPath(p) = h {
                Some(p.as_slice())
            } else {
                None
            }
        })
        .unwrap_or(&[])
    }

    /// From-Path (always present in a parsed head).
    pub fn from_path(&self) -> &[MsrpUri] {
        self.find(|h| {
            if let Header::FromPath(p) = h {
                Some(p.as_slice())
            } else {
                None
            }
        })
        .unwrap_or(&[])
    }

    /// Mutable To-Path, for relays that pop their own URI (RFC 4976 §6.4.1).
    pub fn to_path_mut(&mut self) -> Option<&mut Path> {
        self.headers.iter_mut().find_map(|h| {
            if let Header::ToPath(p) = h {
                Some(p)
            } else {
                None
            }
        })
    }

    /// Moves the first `n` To-Path URIs to the front of the From-Path, the last of them first:
    /// what an RFC 4976 relay does to a request it forwards (§6.4.1, 4976-026) and to a
    /// response it routes back. `false`, and nothing changed, when a path is missing or the
    /// To-Path has fewer than `n` URIs.
    ///
    /// For the usual single relay (`n` = 1, a To-Path of two URIs, a From-Path of one) the
    /// To-Path's heap storage becomes the From-Path's, so nothing is allocated or freed.
    pub fn shift_paths(&mut self, n: usize) -> bool {
        let (mut to_at, mut from_at) = (None, None);
        for (i, h) in self.headers.iter().enumerate() {
            match h {
                Header::ToPath(_) if to_at.is_none() => to_at = Some(i),
                Header::FromPath(_) if from_at.is_none() => from_at = Some(i),
                _ => {}
            }
        }
        let (Some(t), Some(f)) = (to_at, from_at) else {
            return false;
        };
        let (to, from) = if t < f {
            let (a, b) = self.headers.split_at_mut(f);
            (&mut a[t], &mut b[0])
        } else {
            let (a, b) = self.headers.split_at_mut(t);
            (&mut b[0], &mut a[f])
        };
        let (Header::ToPath(to), Header::FromPath(from)) = (to, from) else {
            return false;
        };
        if to.len() < n {
            return false;
        }
        if n == 1 && to.len() == 2 && from.len() == 1 && to.spilled() {
            // [u, b] / [a] -> [b] / [u, a] in the same two storages.
            std::mem::swap(to, from);
            std::mem::swap(&mut to[0], &mut from[1]);
        } else {
            let moved: Path = to.drain(..n).collect();
            from.insert_many(0, moved.into_iter().rev());
        }
        true
    }

    /// Mutable From-Path, for relays that push their own URI (RFC 4976 §6.4.1).
    pub fn from_path_mut(&mut self) -> Option<&mut Path> {
        self.headers.iter_mut().find_map(|h| {
            if let Header::FromPath(p) = h {
                Some(p)
            } else {
                None
            }
        })
    }

    /// Message-ID.
    pub fn message_id(&self) -> Option<&Ident> {
        self.find(|h| {
            if let Header::MessageId(m) = h {
                Some(m)
            } else {
                None
            }
        })
    }

    /// Byte-Range.
    pub fn byte_range(&self) -> Option<ByteRange> {
        self.find(|h| {
            if let Header::ByteRange(r) = h {
                Some(*r)
            } else {
                None
            }
        })
    }

    /// Replaces (or adds) Byte-Range.
    pub fn set_byte_range(&mut self, r: ByteRange) {
        match self
            .headers
            .iter_mut()
            .find(|h| matches!(h, Header::ByteRange(_)))
        {
            Some(h) => *h = Header::ByteRange(r),
            None => self.push(Header::ByteRange(r)),
        }
    }

    /// Success-Report, `false` when absent (4975-043).
    pub fn success_report(&self) -> bool {
        self.find(|h| {
            if let Header::SuccessReport(b) = h {
                Some(*b)
            } else {
                None
            }
        })
        .unwrap_or(false)
    }

    /// Failure-Report, `yes` when absent (4975-043).
    pub fn failure_report(&self) -> FailureReport {
        self.find(|h| {
            if let Header::FailureReport(f) = h {
                Some(*f)
            } else {
                None
            }
        })
        .unwrap_or_default()
    }

    /// The Status header of a REPORT.
    pub fn report_status(&self) -> Option<&Status> {
        self.find(|h| {
            if let Header::Status(s) = h {
                Some(s)
            } else {
                None
            }
        })
    }

    /// Content-Type.
    pub fn content_type(&self) -> Option<&ByteString> {
        self.find(|h| {
            if let Header::ContentType(c) = h {
                Some(c)
            } else {
                None
            }
        })
    }

    /// Expires.
    pub fn expires(&self) -> Option<u32> {
        self.find(|h| {
            if let Header::Expires(e) = h {
                Some(*e)
            } else {
                None
            }
        })
    }

    /// Writes the start line and headers, each ending in CRLF (no blank line, no end-line).
    pub fn write(&self, out: &mut BytesMut) {
        out.extend_from_slice(b"MSRP ");
        out.extend_from_slice(self.tid.as_bytes());
        out.extend_from_slice(b" ");
        match &self.start {
            StartLine::Request(m) => out.extend_from_slice(m.as_str().as_bytes()),
            StartLine::Response { status, comment } => {
                out.extend_from_slice(&status.digits());
                if let Some(c) = comment {
                    out.extend_from_slice(b" ");
                    out.extend_from_slice(c.as_bytes());
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        for h in &self.headers {
            h.write(out);
        }
    }

    /// The size [`Head::write`] will produce (for reserving buffer space).
    pub fn encoded_len_hint(&self) -> usize {
        64 + self.headers.len() * 48
    }
}

/// Parses `MSRP SP transact-id SP (method | status [SP comment])` (4975-001/002/003).
/// Returns the tid and the rest after the second SP.
pub(crate) fn split_start_line(line: &[u8]) -> Result<(&[u8], &[u8]), ErrorKind> {
    let rest = line.strip_prefix(b"MSRP ").ok_or(ErrorKind::StartLine)?;
    let sp = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ErrorKind::StartLine)?;
    let (tid, tail) = (&rest[..sp], &rest[sp + 1..]);
    if !is_ident(tid) {
        return Err(ErrorKind::TransactionId);
    }
    // method = 1*UPALPHA, or status-code = 3DIGIT (100..999) [SP comment]. A start line that
    // is neither means the stream is out of sync, so this is checked before the frame is read.
    let is_status = tail.len() >= 3
        && tail[..3].iter().all(u8::is_ascii_digit)
        && tail[0] != b'0'
        && (tail.len() == 3 || tail[3] == b' ');
    let is_method = !tail.is_empty() && tail.iter().all(u8::is_ascii_uppercase);
    if !is_status && !is_method {
        return Err(ErrorKind::StartLine);
    }
    Ok((tid, tail))
}

/// The start line's method or status. `tid_len` is the length of the
/// transaction id, whose syntax and the rest of the line's the decoder has checked with
/// [`split_start_line`] before the block was complete.
fn parse_start(src: &mut impl Source, line: &str, tid_len: usize) -> Result<StartLine, ErrorKind> {
    let tail_s = match (line.get(5..5 + tid_len), line.get(5 + tid_len + 1..)) {
        (Some(_), Some(rest)) => rest,
        _ => return Err(ErrorKind::StartLine),
    };
    let tail = tail_s.as_bytes();
    let start = if tail.len() >= 3
        && tail[..3].iter().all(u8::is_ascii_digit)
        && (tail.len() == 3 || tail[3] == b' ')
    {
        let n = u16::from(tail[0] - b'0') * 100
            + u16::from(tail[1] - b'0') * 10
            + u16::from(tail[2] - b'0');
        let status = StatusCode::new(n).ok_or(ErrorKind::StartLine)?;
        // The registered reason phrase (what nearly every response carries) is a static
        // string: no reference to the block to take and drop.
        let comment = (tail.len() > 4).then(|| match status.reason() {
            Some(r) if r == &tail_s[4..] => ByteString::from_static(r),
            _ => src.sub(&tail_s[4..]),
        });
        StartLine::Response { status, comment }
    } else if !tail.is_empty() && tail.iter().all(u8::is_ascii_uppercase) {
        StartLine::Request(Method::from_text(src, tail_s))
    } else {
        return Err(ErrorKind::StartLine);
    };
    Ok(start)
}

/// `true` when `s` (a header block of `lines` CRLF-ended lines) may have a control character
/// other than the line ends: the lines are then checked one by one. The decoder has checked that
/// every line's LF follows a CR, so a block whose control octets (and DEL) number exactly two per
/// line holds nothing but its CRLFs; a TAB, a bare CR or LF, or any other control octet makes the
/// count differ. One compare-and-add per octet, counted in runs of 255 so that the counter is an
/// octet and the loop vectorizes: it runs over every header octet.
fn block_has_control(s: &[u8], lines: usize) -> bool {
    let controls: usize = s
        .chunks(255)
        .map(|c| {
            usize::from(
                c.iter()
                    .fold(0u8, |n, &b| n + u8::from((b < 0x20) | (b == 0x7f))),
            )
        })
        .sum();
    controls != 2 * lines
}

/// `true` when the block `s` of `lines` lines is printable ASCII but for its CRLFs: the same
/// single counting pass as [`block_has_control`], with every octet above `~` counted too.
pub(crate) fn block_is_plain_ascii(s: &[u8], lines: usize) -> bool {
    let odd: usize = s
        .chunks(255)
        .map(|c| {
            usize::from(
                c.iter()
                    .fold(0u8, |n, &b| n + u8::from(!(0x20..=0x7e).contains(&b))),
            )
        })
        .sum();
    odd == 2 * lines
}

/// Header-line characters (RFC 4975 §9 `hval = *(HTAB / %x20-7E / UTF8-NONASCII)`): anything
/// but control characters, which includes NUL, bare CR and bare LF.
pub(crate) fn has_control(s: &[u8]) -> bool {
    s.iter()
        .fold(false, |a, &b| a | ((b < 0x20) & (b != b'\t')) | (b == 0x7f))
}

/// A header's value: what follows its colon (`raw`), without the white space around it, or
/// in strict mode exactly one SP after the colon and no more (4975-006).
#[inline(always)]
pub(crate) fn header_value(raw: &str, strict: bool) -> Result<&str, ErrorKind> {
    if strict {
        let v = raw.strip_prefix(' ').ok_or(ErrorKind::HeaderLine)?;
        if v.starts_with([' ', '\t']) {
            return Err(ErrorKind::HeaderLine);
        }
        Ok(v)
    } else {
        let b = raw.as_bytes();
        let ws = |c: &u8| *c == b' ' || *c == b'\t';
        let from = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
        let to = b.iter().rposition(|c| !ws(c)).map_or(from, |p| p + 1);
        // Both ends are at ASCII octets, hence char boundaries.
        Ok(raw.get(from..to).unwrap_or_default())
    }
}

/// Parses a complete header block: the start line and header lines, each ending in CRLF, without
/// the blank line or end-line that follows. `strict` rejects anything but exactly one SP after a
/// header's colon (4975-006); lenient mode (the default) trims extra white space, as real clients
/// send it (RFC 7977 §8.2 examples).
///
/// `line_ends` holds the offset of each line's LF, as the decoder found them (it has checked that
/// each follows a CR); `tid_len` is the length of the transaction id, whose start line the
/// decoder has checked with [`split_start_line`]. To-Path and From-Path spelled so (as every
/// client does) go through `paths`, the decoder's [`PathCache`].
pub(crate) fn parse_head(
    block: &mut Block<'_>,
    line_ends: &[u32],
    tid_len: usize,
    strict: bool,
    paths: &mut PathCache,
) -> Result<Head, ErrorKind> {
    let s: &str = block.as_str();
    let mut at = 0;
    let mut lines = line_ends.iter().map(|&nl| {
        let nl = nl as usize;
        let line = s.get(at..nl.saturating_sub(1)).unwrap_or_default();
        at = nl + 1;
        line
    });
    let first = lines.next().ok_or(ErrorKind::StartLine)?;
    // One vectorizable pass over the whole block for control characters other than the line
    // ends; only if it finds one are the lines looked at one by one.
    let suspect = block_has_control(s.as_bytes(), line_ends.len());
    if suspect && has_control(first.as_bytes()) {
        return Err(ErrorKind::StartLine);
    }
    let start = parse_start(block, first, tid_len)?;
    // One header per remaining line: the exact size, so a head allocates once and no more.
    let mut headers = Vec::with_capacity(line_ends.len().saturating_sub(1));
    for line in lines {
        let b = line.as_bytes();
        if suspect && has_control(b) {
            return Err(if b.contains(&b'\r') {
                ErrorKind::BareCr
            } else if b.contains(&b'\n') {
                ErrorKind::BareLf
            } else {
                ErrorKind::ControlChar
            });
        }
        // To-Path and From-Path come first (4975-005), nearly always spelled so: their colon is
        // known without a search.
        let (colon, path) = match (headers.len(), b) {
            (0, [b'T', b'o', b'-', b'P', b'a', b't', b'h', b':', ..]) => (7, Some(false)),
            (
                1,
                [
                    b'F',
                    b'r',
                    b'o',
                    b'm',
                    b'-',
                    b'P',
                    b'a',
                    b't',
                    b'h',
                    b':',
                    ..,
                ],
            ) => (9, Some(true)),
            _ => (memchr::memchr(b':', b).ok_or(ErrorKind::HeaderLine)?, None),
        };
        let name = &line[..colon];
        // hname = ALPHA *token
        // hname = ALPHA *token: known names are matched by Header::parse, unknown ones checked
        // there.
        if name.is_empty() {
            return Err(ErrorKind::HeaderLine);
        }
        let value = header_value(&line[colon + 1..], strict)?;
        if let Some(from) = path {
            // Found by the fast path above: the path comes first and is in place.
            paths
                .push(from, block, value, &mut headers)
                .map_err(ErrorKind::Header)?;
            continue;
        }
        let at = headers.len();
        Header::parse_in(block, name, value, &mut headers).map_err(|e| match e {
            HeaderError::Name => ErrorKind::HeaderLine,
            e => ErrorKind::Header(e),
        })?;
        match (at, headers.get(at)) {
            (0, Some(Header::ToPath(_))) | (1, Some(Header::FromPath(_))) => {}
            (0, _) => return Err(ErrorKind::MissingToPath),
            (1, _) => return Err(ErrorKind::MissingFromPath),
            (_, Some(Header::ToPath(_) | Header::FromPath(_))) => {
                return Err(ErrorKind::DuplicatePath);
            }
            _ => {}
        }
    }
    match headers.len() {
        0 => return Err(ErrorKind::MissingToPath),
        1 => return Err(ErrorKind::MissingFromPath),
        _ => {}
    }
    // The decoder checked the transaction id's syntax on the start line (`split_start_line`).
    let tid = Ident::from_checked(first.get(5..5 + tid_len).ok_or(ErrorKind::StartLine)?);
    Ok(Head {
        tid,
        start,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> MsrpUri {
        s.parse().unwrap()
    }

    /// 4976-026: the first `n` To-Path URIs lead the From-Path, the last of them first; the
    /// one-relay case swaps storages instead of allocating.
    #[test]
    fn shift_paths_moves_the_relays_uris() {
        use crate::path;
        let [r1, r2, b, a] = [
            "msrp://r1.example.com:1/x;tcp",
            "msrp://r2.example.com:2/y;tcp",
            "msrp://b.example.com:3/b;tcp",
            "msrp://a.example.com:4/a;tcp",
        ]
        .map(uri);
        let paths = |h: &Head| (h.to_path().to_vec(), h.from_path().to_vec());
        let send =
            |to: Path| Head::request(Method::Send, "abcd".parse().unwrap(), to, path![a.clone()]);

        let mut h = send(path![r1.clone(), b.clone()]);
        assert!(h.to_path_mut().unwrap().spilled());
        assert!(h.shift_paths(1));
        assert_eq!(paths(&h), (vec![b.clone()], vec![r1.clone(), a.clone()]));
        assert!(!h.to_path_mut().unwrap().spilled());
        assert!(
            h.from_path_mut().unwrap().spilled(),
            "the To-Path's storage"
        );

        let mut h = send(path![r1.clone(), r2.clone(), b.clone()]);
        assert!(h.shift_paths(1));
        assert_eq!(
            paths(&h),
            (vec![r2.clone(), b.clone()], vec![r1.clone(), a.clone()])
        );
        let mut h = send(path![r1.clone(), r2.clone(), b.clone()]);
        assert!(h.shift_paths(2));
        assert_eq!(
            paths(&h),
            (vec![b.clone()], vec![r2.clone(), r1.clone(), a.clone()])
        );
        let mut h = send(path![r1.clone(), b.clone()]);
        assert!(h.shift_paths(0));
        assert_eq!(paths(&h), (vec![r1.clone(), b.clone()], vec![a.clone()]));

        // Too few URIs, or a path missing: nothing changes.
        let mut h = send(path![b.clone()]);
        assert!(!h.shift_paths(2));
        assert_eq!(paths(&h), (vec![b.clone()], vec![a.clone()]));
        let mut h = send(path![r1.clone(), b.clone()]);
        h.headers.retain(|x| !matches!(x, Header::FromPath(_)));
        assert!(!h.shift_paths(1));
        assert_eq!(h.to_path(), [r1.clone(), b.clone()]);

        // From-Path before To-Path in the vector: the same result.
        let mut h = send(path![r1.clone(), b.clone()]);
        h.headers.swap(0, 1);
        assert!(h.shift_paths(1));
        assert_eq!(paths(&h), (vec![b], vec![r1, a]));
    }

    #[test]
    fn builder_keeps_content_type_last() {
        // 4975-005 / 4975-007
        let mut h = Head::request(
            Method::Send,
            "abcd".parse().unwrap(),
            crate::path![uri("msrp://b.example.com:2/t;tcp")],
            crate::path![uri("msrp://a.example.com:1/s;tcp")],
        )
        .with(Header::ContentType(ByteString::from_static("text/plain")))
        .with(Header::MessageId("m123".parse().unwrap()));
        h.set_byte_range(ByteRange::whole(5));
        let names: Vec<&str> = h.headers.iter().map(Header::name).collect();
        assert_eq!(
            names,
            [
                "To-Path",
                "From-Path",
                "Message-ID",
                "Byte-Range",
                "Content-Type"
            ]
        );
        h.set_byte_range(ByteRange {
            start: 2,
            end: None,
            total: None,
        });
        assert_eq!(h.byte_range().unwrap().start, 2);
        assert_eq!(h.headers.len(), 5);
        // Defaults of absent report headers (4975-043).
        assert!(!h.success_report());
        assert_eq!(h.failure_report(), FailureReport::Yes);
        let mut out = BytesMut::new();
        h.write(&mut out);
        assert!(out.starts_with(b"MSRP abcd SEND\r\nTo-Path: msrp://b.example.com:2/t;tcp\r\n"));
    }

    #[test]
    fn registered_reason_phrases_are_static_others_slices() {
        let mut dec = crate::Decoder::default();
        let mut buf = BytesMut::from(
            &b"MSRP tid1 200 OK\r\nTo-Path: msrp://a.example.com:1/s;tcp\r\nFrom-Path: msrp://b.example.com:2/t;tcp\r\n-------tid1$\r\n\
               MSRP tid2 200 Fine\r\nTo-Path: msrp://a.example.com:1/s;tcp\r\nFrom-Path: msrp://b.example.com:2/t;tcp\r\n-------tid2$\r\n"[..],
        );
        let mut comments = Vec::new();
        while let Some(ev) = dec.decode(&mut buf).expect("decodes") {
            if let crate::Event::Head { head, .. } = ev {
                let StartLine::Response { comment, .. } = head.start else {
                    panic!("a response");
                };
                comments.push(comment.expect("a comment"));
            }
        }
        assert_eq!(comments, ["OK", "Fine"]);
        // The registered phrase is the static string itself, the other one a slice of the block.
        let ok = StatusCode::OK.reason().expect("registered");
        assert_eq!(comments[0].as_ptr(), ok.as_ptr());
        assert_ne!(comments[1].as_ptr(), "Fine".as_ptr());
    }

    #[test]
    fn responses_carry_the_reason_phrase() {
        let h = Head::response(
            StatusCode::NO_SUCH_SESSION,
            "abcd".parse().unwrap(),
            crate::path![],
            crate::path![],
        );
        let mut out = BytesMut::new();
        h.write(&mut out);
        assert_eq!(
            &out[..],
            b"MSRP abcd 481 Session Does Not Exist\r\nTo-Path: \r\nFrom-Path: \r\n"
        );
        assert_eq!(h.status(), Some(StatusCode::NO_SUCH_SESSION));
        assert_eq!(h.method(), None);
    }
}
