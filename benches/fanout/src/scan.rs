//! A minimal MSRP frame scanner for the benchmark's receivers (RFC 4975 §7.1).
//!
//! The receivers only need to find frame boundaries, tell requests from responses and look at
//! the body: a full decode ([`msrp::Decoder`]) per copy would make the load tool, not the mixer,
//! the bottleneck on a 2-core machine. A frame is `MSRP SP tid SP rest CRLF`, headers, an
//! optional body, and the end-line `-------tid` followed by a flag octet (`$`, `+` or `#`) and
//! CRLF, preceded by the CRLF that closes the last header line or the body (4975-007..011). The
//! end-line of a transaction cannot occur in its body (4975-011), so the first one found after
//! the start line ends the frame.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// The searchers, built once: `memmem::find` builds one per call, which cost more than the
/// search on frames of a few hundred octets (the receivers are the baseline's bottleneck, so
/// their cost sets the "physical limit" the mixer is measured against).
static CRLF: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n"));
static END_LINE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n-------"));
static BLANK_LINE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n\r\n"));

/// The longest start line accepted; a longer one is not MSRP.
const MAX_START_LINE: usize = 512;

/// The longest transaction id accepted (RFC 4975 §9: `ident` is at most 32 characters; a
/// little slack for other peers).
const MAX_TID: usize = 64;

/// What a frame's start line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A request with its method (`SEND`, `REPORT`, ...).
    Request(&'a [u8]),
    /// A response with its status code.
    Response(u16),
}

/// One whole frame found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Octets the frame takes, end-line included.
    pub len: usize,
    /// The transaction id.
    pub tid: &'a [u8],
    /// Request or response.
    pub kind: Kind<'a>,
    /// The header lines, each ended by CRLF.
    pub headers: &'a [u8],
    /// The body (empty for a frame without one).
    pub body: &'a [u8],
    /// The end-line's flag octet.
    pub flag: u8,
}

impl Frame<'_> {
    /// The value of header `name` (e.g. `b"From-Path"`), if the frame has it.
    pub fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.headers.split(|&b| b == b'\n').find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = memchr::memchr(b':', line)?;
            line[..colon].eq_ignore_ascii_case(name).then(|| {
                let v = &line[colon + 1..];
                let skip = v.iter().take_while(|&&b| b == b' ').count();
                &v[skip..]
            })
        })
    }
}

/// The result of looking for a frame at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan<'a> {
    /// A whole frame.
    Frame(Frame<'a>),
    /// The buffer holds the beginning of a frame (or nothing): read more.
    Partial,
    /// The buffer does not start with an MSRP frame.
    Invalid(&'static str),
}

/// Looks for one frame at the start of `buf`.
pub fn next_frame(buf: &[u8]) -> Scan<'_> {
    const MSRP: &[u8] = b"MSRP ";
    if buf.len() < MSRP.len() {
        return if MSRP.starts_with(buf) {
            Scan::Partial
        } else {
            Scan::Invalid("not an MSRP start line")
        };
    }
    if !buf.starts_with(MSRP) {
        return Scan::Invalid("not an MSRP start line");
    }
    let Some(line_end) = CRLF.find(&buf[..buf.len().min(MAX_START_LINE)]) else {
        return if buf.len() >= MAX_START_LINE {
            Scan::Invalid("start line too long")
        } else {
            Scan::Partial
        };
    };
    let line = &buf[MSRP.len()..line_end];
    let Some(sp) = memchr::memchr(b' ', line) else {
        return Scan::Invalid("start line without a method or status");
    };
    let tid = &line[..sp];
    if tid.is_empty() || tid.len() > MAX_TID {
        return Scan::Invalid("bad transaction id");
    }
    let rest = &line[sp + 1..];
    let kind = match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Kind::Response(
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
            )
        }
        _ => {
            let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
            if end == 0 {
                return Scan::Invalid("empty method");
            }
            Kind::Request(&rest[..end])
        }
    };
    // The end-line: CRLF, seven dashes, the tid, a flag octet, CRLF.
    let mut from = line_end;
    let (crlf, len, flag) = loop {
        let Some(i) = END_LINE.find(&buf[from..]) else {
            return Scan::Partial;
        };
        let at = from + i + 9;
        let need = at + tid.len() + 3;
        if buf.len() < need {
            return Scan::Partial;
        }
        let flag = buf[at + tid.len()];
        if &buf[at..at + tid.len()] == tid
            && matches!(flag, b'$' | b'+' | b'#')
            && &buf[need - 2..need] == b"\r\n"
        {
            break (from + i, need, flag);
        }
        from += i + 2;
    };
    // Headers end at the blank line; a frame without one has no body, and the CRLF before its
    // end-line closes its last header line.
    let section = &buf[line_end..crlf + 2];
    let (headers, body) = match BLANK_LINE.find(section) {
        Some(j) => (
            &buf[line_end + 2..line_end + j + 2],
            &buf[(line_end + j + 4).min(crlf)..crlf],
        ),
        None => (&buf[line_end + 2..crlf + 2], &buf[crlf..crlf]),
    };
    Scan::Frame(Frame {
        len,
        tid,
        kind,
        headers,
        body,
        flag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use msrp::{
        ByteRange, ByteString, Flag, FrameDecoder, Head, Header, Method, MsrpUri, StatusCode,
    };

    fn uri(s: &str) -> MsrpUri {
        s.parse().expect("uri")
    }

    fn send(tid: &str, body: Option<&[u8]>, flag: Flag) -> Vec<u8> {
        let mut head = Head::request(
            Method::Send,
            tid.parse().unwrap(),
            msrp::path![uri("msrp://a.example.com:7000/s1;tcp")],
            msrp::path![uri("msrp://b.example.com:7000/s2;tcp")],
        )
        .with(Header::MessageId("msg0001".parse().unwrap()));
        if let Some(b) = body {
            head.push(Header::ByteRange(ByteRange::whole(b.len() as u64)));
            head.push(Header::ContentType(ByteString::from_static("message/cpim")));
        }
        let mut out = BytesMut::new();
        msrp::encode::frame(&head, body, flag, &mut out);
        out.to_vec()
    }

    fn frame(buf: &[u8]) -> Frame<'_> {
        match next_frame(buf) {
            Scan::Frame(f) => f,
            other => panic!("{other:?}"),
        }
    }

    /// A SEND written by the msrp encoder: its boundaries, tid, method, headers and body, the
    /// same as the msrp decoder sees them.
    #[test]
    fn finds_a_send_like_the_decoder() {
        let body = b"From: <sip:a@x>\r\nTo: <sip:r@y>\r\n\r\nContent-Type: text/plain\r\n\r\nhi";
        let mut buf = send("tid123", Some(body), Flag::Last);
        let one = buf.len();
        buf.extend_from_slice(&send("tid456", None, Flag::Last));
        let f = frame(&buf);
        assert_eq!(f.len, one);
        assert_eq!(f.tid, b"tid123");
        assert_eq!(f.kind, Kind::Request(b"SEND"));
        assert_eq!(f.body, &body[..]);
        assert_eq!(f.flag, b'$');
        assert_eq!(
            f.header(b"from-path"),
            Some(&b"msrp://b.example.com:7000/s2;tcp"[..])
        );
        assert_eq!(f.header(b"Message-ID"), Some(&b"msg0001"[..]));
        let mut dec = FrameDecoder::new(msrp::DecoderConfig::default(), 1 << 20);
        let mut b = BytesMut::from(&buf[..]);
        let decoded = dec.decode(&mut b).expect("ok").expect("a frame");
        assert_eq!(decoded.body.as_deref(), Some(&body[..]));
        assert_eq!(decoded.head.tid.as_bytes(), f.tid);
        // The bodiless one after it.
        let g = frame(&buf[f.len..]);
        assert_eq!(g.len, buf.len() - one);
        assert_eq!(g.body, b"");
        assert_eq!(g.header(b"Message-ID"), Some(&b"msg0001"[..]));
    }

    /// Every proper prefix of a frame is `Partial`, never a wrong frame.
    #[test]
    fn prefixes_are_partial() {
        let buf = send("abcd", Some(b"body\r\n-------abdd$\r\nmore"), Flag::More);
        for n in 0..buf.len() {
            assert_eq!(next_frame(&buf[..n]), Scan::Partial, "prefix of {n}");
        }
        let f = frame(&buf);
        assert_eq!(f.len, buf.len());
        assert_eq!(f.flag, b'+');
        assert_eq!(
            f.body, b"body\r\n-------abdd$\r\nmore",
            "another tid's end-line is body"
        );
    }

    #[test]
    fn responses_and_garbage() {
        let head = Head::response(
            StatusCode::OK,
            "t999".parse().unwrap(),
            msrp::path![uri("msrp://a.example.com:7000/s1;tcp")],
            msrp::path![uri("msrp://b.example.com:7000/s2;tcp")],
        );
        let mut out = BytesMut::new();
        msrp::encode::frame(&head, None, Flag::Last, &mut out);
        let f = frame(&out);
        assert_eq!(f.kind, Kind::Response(200));
        assert_eq!(f.len, out.len());
        assert!(matches!(
            next_frame(b"HTTP/1.1 200 OK\r\n"),
            Scan::Invalid(_)
        ));
        assert!(matches!(next_frame(b"MSRP x\r\n"), Scan::Invalid(_)));
        assert_eq!(next_frame(b"MS"), Scan::Partial);
    }
}
