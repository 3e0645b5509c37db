//! Fuzz target for msrpd's SIP message parser (`msrpd::sip::message`, RFC 3261 §7, §18.3, §25;
//! DESIGN.md conventions 2 and 4).
//!
//! Run on stable with `cargo fuzz run sip -s none` from `fuzz/`. Each input is read with the
//! default [`Limits`] and with small limits derived from the input (so that `HeadTooLarge` and
//! `BodyTooLarge` are reachable with short inputs), and checked for:
//!
//! 1. Datagrams (UDP, §18.3): [`parse_datagram`] never panics; a message it accepts, written with
//!    [`Message::to_bytes`], parses again to the same start line, the same headers apart from
//!    Content-Length (the serializer drops stored ones and writes the body length) and the same
//!    body, and writing that again gives the same bytes (a fixpoint).
//! 2. Streams (TCP, §18.3): frames are consumed from the input with [`parse_stream`] as the server
//!    does (`split_to(used)`; after an error with [`ParseError::keeps_stream`], dropping
//!    [`frame_len`] bytes) until `Ok(None)` or a fatal error. Every frame uses at least one byte
//!    and at most what is buffered (so the loop ends); a message frame's length is [`frame_len`],
//!    and the frame alone parses as a datagram to the same message; `Ok(None)` comes only while
//!    fewer than `max_head + max_body` bytes are buffered (bounded, convention 2) and no whole
//!    frame is (`frame_len` is `None`). At each frame, a prefix of the buffer cut at a position
//!    derived from the input (and one from its first byte) gives `Ok(None)` or the same result
//!    as the whole buffer: a verdict on a prefix is never revised by later bytes (resumable,
//!    convention 2).
//! 3. [`salvage_request`] never panics and agrees with the parser: for a request the parser
//!    accepts it gives the same start line and headers, for a response `None`. The server's
//!    answer to a salvaged request (§8.2.6: [`Message::response_to`]) whose Via, From, To, CSeq
//!    and Call-ID are readable parses as a response, and so does the answer to every accepted
//!    request, with the request's Via values and its To tag kept (or the new tag added).
//! 4. [`Via::parse`], [`NameAddr::parse`], [`SipUri::parse`] and [`CSeq::parse`] never panic on
//!    the input (when UTF-8), on each of its lines and on each line's text after the first colon,
//!    nor on the values of accepted messages (Via, From, To, Contact, Route, ..., Request-URI);
//!    whatever they accept, written back with `Display`, parses again to an equal value: for Via
//!    also after [`Via::set_param`] of `received` and `rport`, as a server does (§18.2.1,
//!    RFC 3581); for a SIP URI also with the parsed text as its user part, and for a name-addr
//!    with it as display name, so that the escaping of every character is exercised (§25.1).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use msrpd::sip::message::{
    CSeq, Framed, Header, Limits, Message, NameAddr, ParseError, SipUri, StartLine, Via, frame_len,
    parse_datagram, parse_stream, salvage_request,
};

/// Limits that admit whatever [`Message::to_bytes`] writes (a compact header name written long
/// can make the head longer than the input's).
const UNLIMITED: Limits = Limits {
    max_head: usize::MAX,
    max_body: usize::MAX,
};

/// Headers whose values are name-addrs (RFC 3261 §20.10, §20.20, §20.30, §20.34, §20.39;
/// RFC 3325; RFC 3892; RFC 3515).
const NAME_ADDRS: [&str; 9] = [
    "From",
    "To",
    "Contact",
    "Route",
    "Record-Route",
    "Reply-To",
    "P-Asserted-Identity",
    "Referred-By",
    "Refer-To",
];

/// Small deterministic generator (xorshift64) seeded from the whole input (FNV-1a), so that the
/// input itself stays the message and the seed corpus stays valid SIP.
struct Rng(u64);

impl Rng {
    fn new(data: &[u8]) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A position in `0..=len`.
    fn cut(&mut self, len: usize) -> usize {
        (self.next() % (len as u64 + 1)) as usize
    }
}

/// The headers other than Content-Length, which [`Message::to_bytes`] rewrites.
fn without_content_length(m: &Message) -> Vec<&Header> {
    m.headers
        .iter()
        .filter(|h| !h.is("Content-Length"))
        .collect()
}

/// Property 1: `parse(to_bytes(m))` is `m` apart from Content-Length, and `to_bytes` is a
/// fixpoint.
fn round_trip(m: &Message) {
    let wire = m.to_bytes();
    let again = parse_datagram(&wire, &UNLIMITED)
        .unwrap_or_else(|e| panic!("to_bytes of {m:?} does not parse ({e}): {wire:?}"));
    assert_eq!(again.start, m.start, "start line changed: {wire:?}");
    assert_eq!(
        without_content_length(&again),
        without_content_length(m),
        "headers changed: {wire:?}"
    );
    assert_eq!(again.body, m.body, "body changed: {wire:?}");
    let length = m.body.len().to_string();
    assert_eq!(
        again.header_values("Content-Length"),
        [length.as_str()],
        "one Content-Length, the body length: {wire:?}"
    );
    assert_eq!(again.to_bytes(), wire, "to_bytes is not a fixpoint");
}

/// Property 4 for a SIP URI.
fn sip_uri(s: &str) {
    if let Some(u) = SipUri::parse(s) {
        let w = u.to_string();
        assert_eq!(
            SipUri::parse(&w).as_ref(),
            Some(&u),
            "SipUri {s:?} wrote {w:?}"
        );
        let _ = (u.transport(), u.param("maddr"));
        // Any user part is escaped where it must be (§19.1.2, §25.1): the text itself as user.
        if !s.is_empty() {
            let u = SipUri {
                user: Some(s.to_owned()),
                ..u
            };
            let w = u.to_string();
            assert_eq!(
                SipUri::parse(&w).as_ref(),
                Some(&u),
                "SipUri with user {s:?} wrote {w:?}"
            );
        }
    }
}

/// Property 4 for a Via value, with the `received` and `rport` a server adds (§18.2.1,
/// RFC 3581 §4).
fn via(s: &str) {
    let Some(mut v) = Via::parse(s) else {
        return;
    };
    let w = v.to_string();
    assert_eq!(Via::parse(&w).as_ref(), Some(&v), "Via {s:?} wrote {w:?}");
    let _ = (v.has_magic_cookie(), v.sent_by(), v.param("maddr"));
    v.set_param("received", Some("192.0.2.1"));
    v.set_param("rport", Some("5060"));
    assert_eq!(v.received.as_deref(), Some("192.0.2.1"));
    assert_eq!(v.rport, Some(Some(5060)));
    let w = v.to_string();
    assert_eq!(
        Via::parse(&w).as_ref(),
        Some(&v),
        "Via {s:?} with received and rport wrote {w:?}"
    );
}

/// Property 4 for a name-addr and its URI.
fn name_addr(s: &str) {
    if let Some(n) = NameAddr::parse(s) {
        let w = n.to_string();
        assert_eq!(
            NameAddr::parse(&w).as_ref(),
            Some(&n),
            "NameAddr {s:?} wrote {w:?}"
        );
        let _ = (n.tag(), n.param("expires"));
        sip_uri(&n.uri);
        // Any display name is quoted and escaped (§25.1 quoted-string): the text itself.
        let n = NameAddr {
            display: Some(s.to_owned()),
            ..n
        };
        let w = n.to_string();
        assert_eq!(
            NameAddr::parse(&w).as_ref(),
            Some(&n),
            "NameAddr with display {s:?} wrote {w:?}"
        );
    }
}

/// Property 4 for a CSeq value.
fn cseq(s: &str) {
    if let Some(c) = CSeq::parse(s) {
        let w = c.to_string();
        assert_eq!(CSeq::parse(&w).as_ref(), Some(&c), "CSeq {s:?} wrote {w:?}");
    }
}

/// Every typed parser on one piece of text.
fn values(s: &str) {
    via(s);
    name_addr(s);
    sip_uri(s);
    cseq(s);
}

/// The accessors and typed values of an accepted message.
fn fields(m: &Message) {
    let _ = (m.is_request(), m.method(), m.code(), m.call_id());
    assert!(m.top_via().is_some(), "accepted without a readable top Via");
    assert!(m.from().is_some() && m.to().is_some(), "From/To unreadable");
    let c = m.cseq().expect("accepted without a readable CSeq");
    if let Some(method) = m.method() {
        assert_eq!(&c.method, method, "CSeq method is the request's (§8.1.1.5)");
    }
    cseq(m.header("CSeq").unwrap_or_default());
    for h in &m.headers {
        assert!(h.is(&h.name), "{:?} is not itself", h.name);
        assert!(
            m.header(&h.name).is_some(),
            "header({:?}) finds nothing",
            h.name
        );
    }
    for v in m.header_values("Via") {
        via(v);
    }
    for name in NAME_ADDRS {
        for v in m.header_values(name) {
            name_addr(v);
        }
    }
    if let StartLine::Request { uri, .. } = &m.start {
        sip_uri(uri);
    }
}

/// Property 3, second half: the answer to a request (§8.2.6.2) parses as a response with the
/// request's Via values and a To tag.
fn answer(req: &Message, rng: &mut Rng) {
    let code = 100 + (rng.next() % 600) as u16;
    let tag = (rng.next() & 1 == 1).then_some("fz7");
    let resp = Message::response_to(req, code, "", tag);
    let wire = resp.to_bytes();
    let back = parse_datagram(&wire, &UNLIMITED)
        .unwrap_or_else(|e| panic!("the answer to {req:?} does not parse ({e}): {wire:?}"));
    assert_eq!(back.code(), Some(code));
    assert_eq!(back.header_values("Via"), req.header_values("Via"));
    let req_to = req.to().expect("To checked by the caller");
    let back_to = back.to().expect("To parsed by parse_datagram");
    match (req_to.tag(), tag) {
        (Some(t), _) => assert_eq!(back_to.tag(), Some(t), "To tag replaced: {wire:?}"),
        (None, Some(t))
            if req_to
                .params
                .iter()
                .all(|(n, _)| !n.eq_ignore_ascii_case("tag")) =>
        {
            assert_eq!(back_to.tag(), Some(t), "To tag not added: {wire:?}")
        }
        _ => {}
    }
}

/// Property 3, first half, and the server's answer to what it salvages.
fn salvage(data: &[u8], limits: &Limits, parsed: Option<&Message>, rng: &mut Rng) {
    let s = salvage_request(data, limits);
    if let Some(m) = parsed {
        if m.is_request() {
            let s = s
                .as_ref()
                .unwrap_or_else(|| panic!("salvage_request reads nothing of {m:?}"));
            assert_eq!(s.start, m.start, "salvage_request: other start line");
            assert_eq!(s.headers, m.headers, "salvage_request: other headers");
        } else {
            assert!(s.is_none(), "salvage_request gave a request for a response");
        }
    }
    let Some(s) = s else {
        return;
    };
    assert!(s.is_request());
    let _ = s.to_bytes();
    let call_id_ok = s
        .call_id()
        .is_some_and(|c| !c.is_empty() && !c.contains([' ', '\t']));
    if s.top_via().is_some() && s.from().is_some() && s.to().is_some() && s.cseq().is_some() {
        if call_id_ok {
            answer(&s, rng);
        } else {
            let _ = Message::response_to(&s, 400, "", Some("fz7")).to_bytes();
        }
    }
}

/// Property 1 and the datagram half of property 3.
fn datagram(data: &[u8], limits: &Limits, rng: &mut Rng) {
    match parse_datagram(data, limits) {
        Ok(m) => {
            round_trip(&m);
            fields(&m);
            if m.is_request() {
                answer(&m, rng);
            }
            salvage(data, limits, Some(&m), rng);
        }
        Err(e) => {
            error(&e);
            salvage(data, limits, None, rng);
        }
    }
}

fn error(e: &ParseError) {
    assert!(matches!(e.status(), 400 | 413 | 505 | 513), "{e:?}");
    let _ = (e.keeps_stream(), e.to_string());
}

/// The prefix `buf[..cut]` gives `Ok(None)` or the whole buffer's result.
fn prefix_agrees(
    buf: &[u8],
    cut: usize,
    limits: &Limits,
    whole: &Result<Option<Framed>, ParseError>,
) {
    let part = parse_stream(&buf[..cut], limits);
    if !matches!(part, Ok(None)) {
        assert_eq!(
            &part,
            whole,
            "the first {cut} of {} bytes give another verdict",
            buf.len()
        );
    }
}

/// Property 2.
fn stream(data: &[u8], limits: &Limits, rng: &mut Rng) {
    let mut buf = BytesMut::from(data);
    let bound = limits.max_head.saturating_add(limits.max_body).max(4);
    loop {
        let before = buf.len();
        let got = parse_stream(&buf, limits);
        prefix_agrees(&buf, rng.cut(before), limits, &got);
        if let Some(&b) = buf.first() {
            prefix_agrees(&buf, usize::from(b) % (before + 1), limits, &got);
        }
        let used = match got {
            Ok(None) => {
                assert!(
                    before < bound,
                    "Ok(None) with {before} bytes buffered, limits {limits:?}"
                );
                assert_eq!(
                    frame_len(&buf, limits),
                    None,
                    "parse_stream waits for more, but frame_len has a whole frame"
                );
                return;
            }
            Ok(Some(Framed::Message(m, used))) => {
                assert_eq!(frame_len(&buf, limits), Some(used), "frame_len of {m:?}");
                assert!(used <= before, "used {used} of {before}");
                assert_eq!(
                    parse_datagram(&buf[..used], limits).as_ref(),
                    Ok(&m),
                    "the frame alone as a datagram"
                );
                round_trip(&m);
                fields(&m);
                used
            }
            Ok(Some(Framed::Ping(used))) => {
                assert!(buf.starts_with(b"\r\n\r\n") && used == 4, "ping of {used}");
                used
            }
            Ok(Some(Framed::Skip(used))) => {
                assert!(
                    (used == 2 && buf.starts_with(b"\r\n")) || (used == 1 && buf[0] == b'\n'),
                    "skip of {used}: {:?}",
                    &buf[..used.min(before)]
                );
                used
            }
            Err(e) => {
                error(&e);
                let n = frame_len(&buf, limits);
                if !e.keeps_stream() {
                    return;
                }
                n.unwrap_or_else(|| panic!("{e:?} keeps the stream but frame_len is None"))
            }
        };
        assert!(
            used > 0 && used <= before,
            "used {used} of {before} buffered bytes"
        );
        let _ = buf.split_to(used);
    }
}

fn check(data: &[u8], limits: &Limits, rng: &mut Rng) {
    datagram(data, limits, rng);
    stream(data, limits, rng);
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(data);
    check(data, &Limits::default(), &mut rng);
    let r = rng.next();
    let small = Limits {
        max_head: (r % 700) as usize,
        max_body: ((r >> 16) % 300) as usize,
    };
    check(data, &small, &mut rng);

    // Property 4 on the raw text.
    if let Ok(text) = std::str::from_utf8(data) {
        values(text);
        for line in text.lines() {
            values(line);
            if let Some((_, value)) = line.split_once(':') {
                values(value);
            }
        }
    }
});
