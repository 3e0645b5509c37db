//! The streaming decoder against malformed input, tricky bodies and generated frames, each
//! decoded whole, split at every byte, and byte at a time (DESIGN.md convention 2).

mod common;

use bytes::{Bytes, BytesMut};
use common::{Out, assert_split_invariant, run_cuts, run_whole};
use msrp::header::HeaderError;
use msrp::{
    ByteRange, ByteString, Decoder, DecoderConfig, ErrorKind, Event, Flag, Frame, Head, Header,
    Method, MsrpUri, StatusCode,
};
use proptest::prelude::*;

const TO: &str = "To-Path: msrp://b.example.com:2/t;tcp\r\n";
const FROM: &str = "From-Path: msrp://a.example.com:1/s;tcp\r\n";

fn send(tid: &str, body: &str) -> String {
    format!(
        "MSRP {tid} SEND\r\n{TO}{FROM}Message-ID: m1234\r\nContent-Type: text/plain\r\n\r\n{body}\r\n-------{tid}$\r\n"
    )
}

fn good() -> String {
    send("good0001", "after the bad one")
}

fn err(kind: ErrorKind, tid: Option<&str>, can_continue: bool) -> Out {
    Out::Error {
        kind,
        tid: tid.map(str::to_owned),
        can_continue,
    }
}

fn body_of(o: &Out) -> &[u8] {
    match o {
        Out::Frame { body: Some(b), .. } => b,
        o => panic!("not a frame with a body: {o:?}"),
    }
}

/// A malformed frame followed by a good one: a recoverable error must leave the decoder in sync
/// (the good frame decodes), a fatal one must stop it.
fn check_bad(bad: &[u8], want: Out) {
    let mut input = bad.to_vec();
    input.extend_from_slice(good().as_bytes());
    let cfg = DecoderConfig::default();
    let run = assert_split_invariant(&cfg, &input);
    assert_eq!(run.outs[0], want, "{:?}", String::from_utf8_lossy(bad));
    let Out::Error { can_continue, .. } = want else {
        unreachable!()
    };
    if can_continue {
        assert_eq!(run.outs.len(), 2, "{run:?}");
        assert_eq!(body_of(&run.outs[1]), b"after the bad one");
        assert!(run.idle && run.left == 0 && !run.fatal);
    } else {
        assert_eq!(run.outs.len(), 1);
        assert!(run.fatal);
    }
}

#[test]
fn malformed_start_lines_are_fatal() {
    // 4975-001..003: the frame boundary is unknown, the connection must close.
    check_bad(
        b"HTTP/1.1 200 OK\r\n",
        err(ErrorKind::StartLine, None, false),
    );
    check_bad(
        b"msrp abcd SEND\r\n",
        err(ErrorKind::StartLine, None, false),
    );
    check_bad(
        b"MSRP abcd send\r\n",
        err(ErrorKind::StartLine, None, false),
    );
    check_bad(
        b"MSRP abcd 20 OK\r\n",
        err(ErrorKind::StartLine, None, false),
    );
    check_bad(
        b"MSRP abcd 099 Low\r\n",
        err(ErrorKind::StartLine, None, false),
    );
    check_bad(b"MSRP abcd\r\n", err(ErrorKind::StartLine, None, false));
    check_bad(
        b"MSRP  abcd SEND\r\n",
        err(ErrorKind::TransactionId, None, false),
    );
    check_bad(
        b"MSRP ab SEND\r\n",
        err(ErrorKind::TransactionId, None, false),
    );
    check_bad(
        b"MSRP .abcd SEND\r\n",
        err(ErrorKind::TransactionId, None, false),
    );
    check_bad(
        b"MSRP ab/cd SEND\r\n",
        err(ErrorKind::TransactionId, None, false),
    );
    let long = format!("MSRP {} SEND\r\n", "a".repeat(33));
    check_bad(long.as_bytes(), err(ErrorKind::TransactionId, None, false));
    check_bad(
        b"MSRP ab\0d SEND\r\n",
        err(ErrorKind::TransactionId, None, false),
    );
    check_bad(b"\r\n", err(ErrorKind::StartLine, None, false));
}

#[test]
fn truncated_frames_wait_for_more() {
    // A frame cut anywhere before its end-line yields nothing yet and loses nothing: once the
    // rest arrives the whole frame comes out (INDEX.md: a streaming parser must wait).
    let cfg = DecoderConfig::default();
    let f = send("abcd", "hello");
    let head_len = f.find("\r\n\r\n").unwrap() + 4;
    for cut in 1..f.len() {
        let run = run_whole(&cfg, &f.as_bytes()[..cut]);
        assert!(!run.fatal && run.outs.is_empty(), "{cut}: {run:?}");
        // Before the head is complete nothing is consumed; inside the body only the octets
        // that may still begin the end-line are kept.
        if cut < head_len {
            assert_eq!(run.left, cut, "{cut}");
        } else {
            assert!(run.left <= 9 + 4 + 3, "{cut}: {run:?}");
        }
        // Once the start line is in, the decoder is inside a frame.
        if cut > f.find("\r\n").unwrap() + 1 {
            assert!(!run.idle, "{cut}");
        }
    }
}

#[test]
fn bad_headers_are_recoverable_400s() {
    use ErrorKind::*;
    let t = Some("abcd");
    let cases: Vec<(String, Out)> = vec![
        (
            format!("MSRP abcd SEND\r\n{FROM}-------abcd$\r\n"),
            err(MissingToPath, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}Message-ID: abcd\r\n-------abcd$\r\n"),
            err(MissingFromPath, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}-------abcd$\r\n"),
            err(MissingFromPath, t, true),
        ),
        (
            "MSRP abcd SEND\r\n-------abcd$\r\n".to_owned(),
            err(MissingToPath, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}{TO}-------abcd$\r\n"),
            err(DuplicatePath, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}Message-ID abcd\r\n-------abcd$\r\n"),
            err(HeaderLine, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}: abcd\r\n-------abcd$\r\n"),
            err(HeaderLine, t, true),
        ),
        (
            format!(
                "MSRP abcd SEND\r\nTo-Path: msrp://b.exa\rmple.com:2/t;tcp\r\n{FROM}-------abcd$\r\n"
            ),
            err(BareCr, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}X-Nul: a\0b\r\n-------abcd$\r\n"),
            err(ControlChar, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}X-Del: a\x7fb\r\n-------abcd$\r\n"),
            err(ControlChar, t, true),
        ),
        (
            // A TAB is allowed in a value, but not a second control octet on the same line.
            format!("MSRP abcd SEND\r\n{TO}{FROM}X-Tab: a\tb\x01\r\n-------abcd$\r\n"),
            err(ControlChar, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}Byte-Range: -1-5/10\r\n-------abcd$\r\n"),
            err(
                Header(HeaderError::ByteRange(
                    msrp::byte_range::ByteRangeError::Syntax,
                )),
                t,
                true,
            ),
        ),
        (
            format!(
                "MSRP abcd SEND\r\n{TO}{FROM}Byte-Range: 1-99999999999999999999/*\r\n-------abcd$\r\n"
            ),
            err(
                Header(HeaderError::ByteRange(
                    msrp::byte_range::ByteRangeError::Overflow,
                )),
                t,
                true,
            ),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}Byte-Range: 9-5/10\r\n-------abcd$\r\n"),
            err(
                Header(HeaderError::ByteRange(
                    msrp::byte_range::ByteRangeError::Bounds,
                )),
                t,
                true,
            ),
        ),
        (
            format!("MSRP abcd SEND\r\nTo-Path: http://x.com/\r\n{FROM}-------abcd$\r\n"),
            err(
                Header(HeaderError::Uri {
                    name: "To-Path",
                    source: msrp::UriError::Scheme,
                }),
                t,
                true,
            ),
        ),
        // 4975-010: an end-line naming another transaction ends the frame with a 400.
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}-------wxyz$\r\n"),
            err(EndLineMismatch, t, true),
        ),
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}-------abcd!\r\n"),
            err(EndLineFlag, t, true),
        ),
        // 4975-007: a body needs a Content-Type; the body is skipped.
        (
            format!("MSRP abcd SEND\r\n{TO}{FROM}Message-ID: m123\r\n\r\nbody\r\n-------abcd$\r\n"),
            err(BodyWithoutContentType, t, true),
        ),
    ];
    for (bad, want) in cases {
        check_bad(bad.as_bytes(), want);
    }
    // Not UTF-8 in a header value.
    let mut bad = format!("MSRP abcd SEND\r\n{TO}{FROM}X-Bin: ").into_bytes();
    bad.extend_from_slice(&[0xff, 0xfe]);
    bad.extend_from_slice(b"\r\n-------abcd$\r\n");
    check_bad(&bad, err(NotUtf8, t, true));
}

#[test]
fn errors_say_what_to_answer() {
    let mut buf = BytesMut::from(format!("MSRP abcd NICKNAME\r\n{TO}-------abcd$\r\n").as_str());
    let e = msrp::Decoder::default().decode(&mut buf).unwrap_err();
    assert_eq!(
        (e.status(), e.wants_response(), e.can_continue()),
        (StatusCode::BAD_REQUEST, true, true)
    );
    assert_eq!(e.method, Some(Method::Nickname));
    // A REPORT is never answered (4975-052); nor is a response.
    for start in ["MSRP abcd REPORT", "MSRP abcd 200 OK"] {
        let mut buf = BytesMut::from(format!("{start}\r\n{TO}-------abcd$\r\n").as_str());
        let e = msrp::Decoder::default().decode(&mut buf).unwrap_err();
        assert!(!e.wants_response(), "{start}");
    }
}

#[test]
fn bare_lf_and_oversized_heads_are_fatal() {
    check_bad(
        format!("MSRP abcd SEND\n{TO}").as_bytes(),
        err(ErrorKind::BareLf, None, false),
    );
    check_bad(
        format!("MSRP abcd SEND\r\n{TO}{FROM}X: y\n").as_bytes(),
        err(ErrorKind::BareLf, Some("abcd"), false),
    );
    let cfg = DecoderConfig {
        max_head: 512,
        ..DecoderConfig::default()
    };
    // One huge header line, and many small ones.
    for bad in [
        format!(
            "MSRP abcd SEND\r\n{TO}{FROM}X-Big: {}\r\n-------abcd$\r\n",
            "x".repeat(600)
        ),
        format!(
            "MSRP abcd SEND\r\n{TO}{FROM}{}-------abcd$\r\n",
            "X-A: b\r\n".repeat(100)
        ),
        "y".repeat(600),
    ] {
        let run = assert_split_invariant(&cfg, bad.as_bytes());
        assert!(run.fatal, "{run:?}");
        assert!(
            matches!(
                run.outs[..],
                [Out::Error {
                    kind: ErrorKind::HeadTooLarge(512),
                    ..
                }]
            ),
            "{run:?}"
        );
    }
    // The same head under the limit decodes.
    let ok = format!(
        "MSRP abcd SEND\r\n{TO}{FROM}X-Big: {}\r\n-------abcd$\r\n",
        "x".repeat(300)
    );
    assert!(matches!(
        run_whole(&cfg, ok.as_bytes()).outs[..],
        [Out::Frame { .. }]
    ));
}

#[test]
fn control_bodies_are_limited_to_10240() {
    // 4975-013: bodies of non-SEND requests must not exceed 10240 octets -> 413, frame skipped.
    let body = "x".repeat(10241);
    let bad = format!(
        "MSRP abcd NICKNAME\r\n{TO}{FROM}Content-Type: text/plain\r\n\r\n{body}\r\n-------abcd$\r\n"
    );
    let mut input = bad.into_bytes();
    input.extend_from_slice(good().as_bytes());
    let run = run_whole(&DecoderConfig::default(), &input);
    assert!(
        matches!(
            &run.outs[..],
            [
                Out::Error {
                    kind: ErrorKind::ControlBodyTooLarge(10240),
                    can_continue: true,
                    ..
                },
                Out::Frame { .. }
            ]
        ),
        "{:?}",
        run.outs.len()
    );
    for read in [1000, 4096] {
        let cuts: Vec<usize> = (read..input.len()).step_by(read).collect();
        assert_eq!(run_cuts(&DecoderConfig::default(), &input, &cuts), run);
    }
    // At exactly the limit it passes; a SEND is not limited.
    let ok = format!(
        "MSRP abcd NICKNAME\r\n{TO}{FROM}Content-Type: text/plain\r\n\r\n{}\r\n-------abcd$\r\n",
        "x".repeat(10240)
    );
    assert!(matches!(
        run_whole(&DecoderConfig::default(), ok.as_bytes()).outs[..],
        [Out::Frame { .. }]
    ));
    let big = send("abcd", &"y".repeat(50_000));
    assert_eq!(
        body_of(&run_whole(&DecoderConfig::default(), big.as_bytes()).outs[0]).len(),
        50_000
    );
}

#[test]
fn tricky_bodies() {
    let cfg = DecoderConfig::default();
    let cases: Vec<(String, Vec<u8>)> = vec![
        // End-lines of other transactions, a longer tid with ours as prefix, a bad flag, and a
        // lone dash run are body data (4975-010: only `CRLF -------tid flag CRLF` ends it).
        (
            send("abcd", "a\r\n-------wxyz$\r\nb"),
            b"a\r\n-------wxyz$\r\nb".to_vec(),
        ),
        (
            send("abcd", "a\r\n-------abcde$\r\nb"),
            b"a\r\n-------abcde$\r\nb".to_vec(),
        ),
        (
            send("abcd", "a\r\n-------abcd!\r\nb"),
            b"a\r\n-------abcd!\r\nb".to_vec(),
        ),
        (
            send("abcd", "a\r\n-------abcd$x"),
            b"a\r\n-------abcd$x".to_vec(),
        ),
        (
            send("abcd", "\r\n-------\r\n-------"),
            b"\r\n-------\r\n-------".to_vec(),
        ),
        (send("abcd", "-------abcd"), b"-------abcd".to_vec()),
        (send("abcd", "\r\n\r\n"), b"\r\n\r\n".to_vec()),
        (send("abcd", "\0\0\0\u{7f}"), b"\0\0\0\x7f".to_vec()),
        // 4975-009: an empty body is not a bodiless SEND.
        (send("abcd", ""), Vec::new()),
    ];
    for (frame, want) in cases {
        let run = assert_split_invariant(&cfg, frame.as_bytes());
        assert_eq!(run.outs.len(), 1, "{frame:?}");
        assert_eq!(body_of(&run.outs[0]), &want[..], "{frame:?}");
    }
    // Leniency: an empty body whose end-line directly follows the blank line.
    let f = format!(
        "MSRP abcd SEND\r\n{TO}{FROM}Content-Type: text/plain\r\n\r\n-------abcd$\r\n{}",
        good()
    );
    let run = assert_split_invariant(&cfg, f.as_bytes());
    assert_eq!(body_of(&run.outs[0]), b"");
    assert_eq!(body_of(&run.outs[1]), b"after the bad one");
    // A bodiless SEND (4975-009) and a response.
    let f = format!(
        "MSRP abcd SEND\r\n{TO}{FROM}Message-ID: m1234\r\n-------abcd+\r\nMSRP abcd 200 OK\r\nTo-Path: msrp://a.example.com:1/s;tcp\r\nFrom-Path: msrp://b.example.com:2/t;tcp\r\n-------abcd$\r\n"
    );
    let run = assert_split_invariant(&cfg, f.as_bytes());
    assert!(matches!(
        &run.outs[0],
        Out::Frame {
            body: None,
            flag: Flag::More,
            ..
        }
    ));
    assert!(
        matches!(&run.outs[1], Out::Frame { head, body: None, flag: Flag::Last } if head.status() == Some(StatusCode::OK))
    );
}

#[test]
fn a_huge_body_streams_in_constant_memory() {
    // 4975-031: a chunk of any size. 1 GiB fed in 64 KiB reads; the decoder never holds more
    // than one read (plus the 8 octets that may start an end-line).
    let mut dec = msrp::Decoder::default();
    let head = format!(
        "MSRP abcd SEND\r\n{TO}{FROM}Message-ID: m123\r\nByte-Range: 1-*/*\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let mut buf = BytesMut::from(head.as_str());
    assert!(matches!(
        dec.decode(&mut buf).unwrap(),
        Some(msrp::Event::Head { body: true, .. })
    ));
    let read = vec![0x5a_u8; 64 * 1024];
    let total: u64 = 1 << 30;
    let (mut fed, mut got, mut max_buf) = (0u64, 0u64, 0usize);
    let mut tail = b"\r\n-------abcd$\r\n".to_vec();
    loop {
        if fed < total {
            buf.extend_from_slice(&read);
            fed += read.len() as u64;
        } else if !tail.is_empty() {
            buf.extend_from_slice(&std::mem::take(&mut tail));
        }
        max_buf = max_buf.max(buf.len());
        match dec.decode(&mut buf).unwrap() {
            Some(msrp::Event::Body(b)) => got += b.len() as u64,
            Some(msrp::Event::End(Flag::Last)) => break,
            Some(e) => panic!("{e:?}"),
            None => {}
        }
    }
    assert_eq!(got, total);
    assert!(max_buf <= read.len() + 8 + 16, "buffer grew to {max_buf}");
}

// ---- generated frames: encode -> decode round trip (proptest) ----

fn uri() -> impl Strategy<Value = MsrpUri> {
    (
        any::<bool>(),
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}",
        proptest::option::of(1u16..),
        "[A-Za-z0-9]{1,16}",
        prop_oneof!["tcp", "ws"],
    )
        .prop_map(|(s, h, p, sid, t)| MsrpUri::new(s, &h, p, Some(&sid), &t).unwrap())
}

fn path() -> impl Strategy<Value = msrp::Path> {
    proptest::collection::vec(uri(), 1..4).prop_map(msrp::Path::from_vec)
}

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.+%=-]{3,31}"
}

fn bs(s: &str) -> ByteString {
    ByteString::from(s.to_owned())
}

fn extra_header() -> impl Strategy<Value = Header> {
    prop_oneof![
        ident().prop_map(|m| Header::MessageId(m.parse().expect("an ident"))),
        (
            1u64..1000,
            proptest::option::of(0u64..2000),
            proptest::option::of(2000u64..5000)
        )
            .prop_map(|(s, e, t)| Header::ByteRange(ByteRange {
                start: s,
                end: e.map(|e| e.max(s - 1)),
                total: t
            })),
        any::<bool>().prop_map(Header::SuccessReport),
        prop_oneof![
            Just(msrp::FailureReport::Yes),
            Just(msrp::FailureReport::No),
            Just(msrp::FailureReport::Partial)
        ]
        .prop_map(Header::FailureReport),
        (
            100u16..1000,
            proptest::option::of("[!-~]([ -~]{0,10}[!-~])?")
        )
            .prop_map(|(c, m)| Header::Status(msrp::Status {
                namespace: 0,
                code: StatusCode::new(c).unwrap(),
                comment: m.map(|m| bs(&m))
            })),
        any::<u32>().prop_map(Header::Expires),
        path().prop_map(Header::UsePath),
        "[ -~]{0,20}".prop_map(|n| Header::UseNickname(bs(&n))),
        ("X-[A-Za-z0-9-]{1,12}", "[!-~]([ -~]{0,30}[!-~])?").prop_map(|(n, v)| Header::Other {
            name: bs(&n),
            value: bs(&v)
        }),
    ]
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        // Bodies full of near-end-lines.
        proptest::collection::vec(
            prop_oneof![
                Just(b"\r\n-------".to_vec()),
                Just(b"$\r\n".to_vec()),
                "[a-z]{1,4}".prop_map(String::into_bytes)
            ],
            0..40
        )
        .prop_map(|v| v.concat()),
    ])
}

fn frame() -> impl Strategy<Value = Frame> {
    let start = prop_oneof![
        prop_oneof![
            Just(Method::Send),
            Just(Method::Report),
            Just(Method::Auth),
            Just(Method::Nickname),
            "[A-Z]{1,10}".prop_map(|m| Method::Other(bs(&m)))
        ]
        .prop_map(msrp::StartLine::Request),
        (
            100u16..1000,
            proptest::option::of("[!-~]([ -~]{0,20}[!-~])?")
        )
            .prop_map(|(c, m)| msrp::StartLine::Response {
                status: StatusCode::new(c).unwrap(),
                comment: m.map(|m| bs(&m))
            }),
    ];
    (
        ident(),
        start,
        path(),
        path(),
        proptest::collection::vec(extra_header(), 0..6),
        body(),
        prop_oneof![Just(Flag::Last), Just(Flag::More), Just(Flag::Abort)],
    )
        .prop_map(|(tid, start, to, from, extra, body, flag)| {
            let mut head = Head {
                tid: tid.parse().expect("an ident"),
                start,
                headers: vec![Header::ToPath(to), Header::FromPath(from)],
            };
            head.headers.extend(extra);
            if body.is_some() {
                head.push(Header::ContentType(bs("application/octet-stream")));
            }
            Frame {
                head,
                body: body.map(Bytes::from),
                flag,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Encode -> decode gives back the frame, whatever the read boundaries.
    #[test]
    fn encode_decode_round_trip(f in frame(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        prop_assume!(!f.body.as_ref().is_some_and(|b| msrp::encode::end_line_in_body(&f.head.tid, b)));
        let bytes = f.to_bytes();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let run = run_cuts(&DecoderConfig::default(), &bytes, &cuts);
        prop_assert!(run.idle && run.left == 0, "{:?}", run);
        prop_assert_eq!(run.outs.len(), 1);
        let Out::Frame { head, body, flag } = &run.outs[0] else { panic!("{:?}", run.outs) };
        prop_assert_eq!(head, &f.head);
        prop_assert_eq!(body.as_deref(), f.body.as_deref());
        prop_assert_eq!(*flag, f.flag);
        // And the decoded frame writes back to the same bytes.
        let again = Frame { head: head.clone(), body: body.clone().map(Bytes::from), flag: *flag }.to_bytes();
        prop_assert_eq!(again, bytes);
    }

    /// Arbitrary bytes never panic the decoder, and reads of any size give the same result. Half
    /// the inputs start like a frame so that the header parser, not only the start line, sees
    /// the noise.
    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in prop_oneof![Just(&b""[..]), Just(&b"MSRP abcd SEND\r\n"[..]), Just(&b"MSRP abcd SEND\r\nTo-Path: msrp://b.example.com:2/t;tcp\r\n"[..])],
        noise in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b':'), Just(b'-')], 0..600),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut data = prefix.to_vec();
        data.extend_from_slice(&noise);
        let cfg = DecoderConfig { max_head: 256, ..DecoderConfig::default() };
        let whole = run_whole(&cfg, &data);
        let c = cut.index(data.len() + 1);
        prop_assert_eq!(run_cuts(&cfg, &data, &[c]), whole);
    }

    /// Frame-like noise: a valid frame with one byte replaced.
    #[test]
    fn mutated_frames_never_panic(f in frame(), at in any::<prop::sample::Index>(), b in any::<u8>()) {
        let mut bytes = f.to_bytes().to_vec();
        let i = at.index(bytes.len());
        bytes[i] = b;
        let whole = run_whole(&DecoderConfig::default(), &bytes);
        let every: Vec<usize> = (1..bytes.len()).step_by(97).collect();
        prop_assert_eq!(run_cuts(&DecoderConfig::default(), &bytes, &every), whole);
    }
}

/// A TAB is a header-value character (RFC 4975 §9 `hval`): a block with one is checked line by
/// line and passes, with the lenient default trimming the TAB after the colon (4975-006).
#[test]
fn tabs_in_header_values_are_accepted() {
    let frame = format!(
        "MSRP abcd SEND\r\n{TO}{FROM}Message-ID:\tm1234\r\nContent-Description: a\tb\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------abcd$\r\n"
    );
    let run = assert_split_invariant(&DecoderConfig::default(), frame.as_bytes());
    assert_eq!(run.outs.len(), 1, "{run:?}");
    let Out::Frame { head, .. } = &run.outs[0] else {
        panic!("not a frame: {run:?}")
    };
    assert_eq!(head.message_id().map(|m| &m[..]), Some("m1234"));
    assert!(
        head.headers
            .contains(&Header::ContentDescription(bs("a\tb")))
    );
    assert_eq!(body_of(&run.outs[0]), b"hi");
}

/// A frame with the given To-Path and From-Path values.
fn send_paths(tid: &str, to: &str, from: &str) -> String {
    format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------{tid}$\r\n"
    )
}

#[test]
fn repeated_paths_decode_like_new_ones() {
    // The decoder keeps the last To-Path and From-Path parsed (a session repeats them on every
    // frame): a repeat, a changed path, a bad path after a good one, a long URI (not held
    // inline) and a value too long to cache must each decode exactly as on a fresh decoder
    // (4975-005, 4975-075).
    let a = "msrp://b.example.com:2/t;tcp";
    let b = "msrp://a.example.com:1/s;tcp";
    let c = "msrps://c.example.com:3/u;tcp msrp://b.example.com:2/t;tcp";
    let long = format!(
        "msrp://{}.example.com:9/{};tcp",
        "h".repeat(40),
        "s".repeat(30)
    );
    let huge = [long.as_str(); 8].join(" ");
    // Each value three times in a row at least: the second sighting keeps it, the third is
    // served from what was kept.
    let plan: Vec<(&str, &str, usize)> = vec![
        (a, b, 3),
        (c, b, 1),
        ("msrp://b.example.com:2/t;udp!", b, 1),
        (a, "msrp:/broken", 1),
        (a, b, 3),
        (&long, &long, 3),
        (&long, b, 1),
        (&huge, b, 3),
        (a, b, 1),
    ];
    let mut frames = Vec::new();
    for (to, from, n) in plan {
        for _ in 0..n {
            frames.push(send_paths(&format!("t{:07}", frames.len() + 1), to, from));
        }
    }
    let input = frames.concat();
    let cfg = DecoderConfig::default();
    let run = assert_split_invariant(&cfg, input.as_bytes());
    assert_eq!(run.outs.len(), frames.len());
    for (frame, out) in frames.iter().zip(&run.outs) {
        // Each frame alone, on a decoder that has seen nothing before it.
        let alone = run_whole(&cfg, frame.as_bytes());
        assert_eq!(alone.outs.len(), 1);
        assert_eq!(out, &alone.outs[0], "{frame}");
        if let Out::Frame { head, .. } = out {
            let to = head
                .to_path()
                .iter()
                .map(MsrpUri::as_str)
                .collect::<Vec<_>>();
            let from = head
                .from_path()
                .iter()
                .map(MsrpUri::as_str)
                .collect::<Vec<_>>();
            assert!(frame.contains(&format!("To-Path: {}\r\n", to.join(" "))));
            assert!(frame.contains(&format!("From-Path: {}\r\n", from.join(" "))));
        }
    }
    let kinds: Vec<bool> = run
        .outs
        .iter()
        .map(|o| matches!(o, Out::Frame { .. }))
        .collect();
    let bad: Vec<usize> = (0..kinds.len()).filter(|&i| !kinds[i]).collect();
    assert_eq!(bad, [4, 5], "the bad To-Path and the bad From-Path only");
}

fn response(tid: &str, status: &str, end: &str) -> String {
    format!("MSRP {tid} {status}\r\n{TO}{FROM}-------{end}\r\n")
}

/// `DecoderConfig::skip_success_responses`: bodiless 2xx responses are consumed without an
/// event, wherever the reads cut them; every other frame decodes exactly as without the
/// option, and a 2xx whose end-line is wrong is reported as usual.
#[test]
fn skipped_success_responses_leave_no_event_and_lose_nothing() {
    let input = [
        response("ok000001", "200 OK", "ok000001$"),
        send("send0001", "first"),
        response("ok000002", "200", "ok000002$"),
        response("ok000003", "202 Accepted", "ok000003+"),
        response("err00001", "481 Session Does Not Exist", "err00001$"),
        // 4975-045 etc. do not apply here: a 2xx with a body section is decoded as usual.
        format!("MSRP ok000004 200 OK\r\n{TO}{FROM}Content-Type: text/plain\r\n\r\nodd\r\n-------ok000004$\r\n"),
        // An end-line naming another transaction: the usual recoverable error.
        response("ok000005", "200 OK", "other005$"),
        send("send0002", "second"),
    ]
    .concat();
    let skip = DecoderConfig {
        skip_success_responses: true,
        ..DecoderConfig::default()
    };
    let all = assert_split_invariant(&DecoderConfig::default(), input.as_bytes());
    let kept = assert_split_invariant(&skip, input.as_bytes());
    assert!(kept.idle && kept.left == 0 && !kept.fatal, "{kept:?}");
    // Without the option: eight outcomes; with it, the three good bodiless 2xx are gone and
    // the rest are the same, in order.
    assert_eq!(all.outs.len(), 8, "{all:?}");
    let expect: Vec<Out> = [1, 4, 5, 6, 7]
        .iter()
        .map(|&i| all.outs[i].clone())
        .collect();
    assert_eq!(kept.outs, expect);
    let statuses: Vec<Option<StatusCode>> = kept
        .outs
        .iter()
        .map(|o| match o {
            Out::Frame { head, .. } => head.status(),
            Out::Error { .. } | Out::Brief { .. } => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            None,
            Some(StatusCode::NO_SUCH_SESSION),
            Some(StatusCode::OK),
            None,
            None
        ]
    );
    assert_eq!(
        kept.outs[3],
        err(ErrorKind::EndLineMismatch, Some("ok000005"), true)
    );
    assert_eq!(body_of(&kept.outs[4]), b"second");
}

/// The tid, status and first To-Path URI of each brief response in `outs`.
fn briefs_of(outs: &[Out]) -> Vec<(String, u16, String)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Brief {
                head,
                status,
                first_to,
            } => Some((head.tid.to_string(), status.as_u16(), first_to.clone())),
            _ => None,
        })
        .collect()
}

/// `DecoderConfig::brief_success_responses` on responses that repeat the last brief one but
/// for their tid (a next hop's answers to a session's SENDs, read without a scan): each comes
/// as the frame a full decoding gives, with its own tid, status and first To-Path URI, and
/// what differs from the kept one after the tid (another end-line flag or tid, a body section,
/// another status or URI, a bare LF) decodes as without the option, wherever the reads cut.
#[test]
fn repeated_brief_responses_decode_as_scanned_ones() {
    let to = "To-Path: msrp://relay.example.com:2855/r1;tcp\r\n";
    let ok = |tid: &str, status: &str, end: &str| {
        format!("MSRP {tid} {status}\r\n{to}{FROM}-------{end}\r\n")
    };
    let input = [
        ok("ok000001", "200 OK", "ok000001$"),
        ok("ok000002", "200 OK", "ok000002$"),
        ok("okay0003longer", "200 OK", "okay0003longer$"),
        ok("ok000004", "200 OK", "ok000004+"),
        ok("ok000005", "200 OK", "ok00000X$"),
        format!("MSRP ok000006 200 OK\r\n{to}{FROM}Content-Type: text/plain\r\n\r\nodd\r\n-------ok000006$\r\n"),
        ok("ok000007", "200 OK", "ok000007$"),
        ok("ok000008", "202 OK", "ok000008$"),
        ok("ok000009", "200 OK", "ok000009$"),
        response("ok000010", "200 OK", "ok000010$"),
        ok("ok000011", "200 OK", "ok000011$"),
        ok("ok000012", "200 OK", "ok000012$"),
        format!("MSRP ok000013 200 OK\r\n{to}{FROM}-------ok000013$\n"),
    ]
    .concat();
    for strict in [false, true] {
        let plain = DecoderConfig {
            strict,
            ..DecoderConfig::default()
        };
        let brief = DecoderConfig {
            brief_success_responses: true,
            ..plain.clone()
        };
        let all = assert_split_invariant(&plain, input.as_bytes());
        let got = assert_split_invariant(&brief, input.as_bytes());
        let unbriefed: Vec<Out> = got.outs.iter().cloned().map(Out::unbriefed).collect();
        assert_eq!(unbriefed, all.outs, "the same frames, in order");
        assert!(got.fatal, "the bare LF at the end: {got:?}");
        let briefs = briefs_of(&got.outs);
        let relay = "msrp://relay.example.com:2855/r1;tcp";
        let want: Vec<(String, u16, String)> = [
            ("ok000001", 200, relay),
            ("ok000002", 200, relay),
            ("okay0003longer", 200, relay),
            ("ok000007", 200, relay),
            ("ok000008", 202, relay),
            ("ok000009", 200, relay),
            ("ok000010", 200, "msrp://b.example.com:2/t;tcp"),
            ("ok000011", 200, relay),
            ("ok000012", 200, relay),
        ]
        .into_iter()
        .map(|(t, s, u)| (t.to_owned(), s, u.to_owned()))
        .collect();
        assert_eq!(briefs, want, "strict: {strict}");
    }
}

/// `DecoderConfig::brief_success_responses`: a bodiless 2xx ending in `$`, with To-Path first
/// and no control character, comes as one `Event::BriefSuccess` holding its tid, status and
/// first To-Path URI, and its frame parses to the head the decoder would have given; every
/// other frame decodes as without the option, wherever the reads cut them.
#[test]
fn brief_success_responses_stand_for_their_frames() {
    let relay_to = "To-Path: msrp://relay.example.com:2855/r1;tcp msrp://a.example.com:1/s;tcp\r\n";
    let input = [
        // Brief: the usual 200, a bare 200, a 202 with a longer To-Path and extra spaces.
        response("ok000001", "200 OK", "ok000001$"),
        format!("MSRP ok000002 200\r\n{relay_to}{FROM}Message-ID: m1234\r\n-------ok000002$\r\n"),
        format!("MSRP ok000003 202 Accepted\r\nTo-Path:   msrp://c.example.com:3/u;tcp\r\n{FROM}-------ok000003$\r\n"),
        send("send0001", "first"),
        // Not brief: an error status, another flag, a body section, From-Path first, a TAB, no
        // From-Path (the usual error), a wrong end-line (the usual error).
        response("err00001", "481 Session Does Not Exist", "err00001$"),
        response("ok000004", "200 OK", "ok000004+"),
        format!("MSRP ok000005 200 OK\r\n{TO}{FROM}Content-Type: text/plain\r\n\r\nodd\r\n-------ok000005$\r\n"),
        format!("MSRP ok000006 200 OK\r\n{FROM}{TO}-------ok000006$\r\n"),
        format!("MSRP ok000007 200 OK\r\n{TO}From-Path:\tmsrp://a.example.com:1/s;tcp\r\n-------ok000007$\r\n"),
        format!("MSRP ok000008 200 OK\r\n{TO}-------ok000008$\r\n"),
        response("ok000009", "200 OK", "other009$"),
        // Not brief either, and refused as usual: no From-Path after To-Path, a non-ASCII
        // octet (not UTF-8).
        format!("MSRP ok000010 200 OK\r\n{TO}Message-ID: m1234\r\n-------ok000010$\r\n"),
        "MSRP ok000011 200 OK\r\nTo-Path: msrp://b.example.com:2/t;tcp\r\nFrom-Path: msrp://a.example.com:1/s\u{e9};tcp\r\n-------ok000011$\r\n".to_owned(),
        send("send0002", "second"),
    ]
    .concat();
    let brief = DecoderConfig {
        brief_success_responses: true,
        ..DecoderConfig::default()
    };
    let all = assert_split_invariant(&DecoderConfig::default(), input.as_bytes());
    let got = assert_split_invariant(&brief, input.as_bytes());
    assert!(got.idle && got.left == 0 && !got.fatal, "{got:?}");
    assert_eq!(all.outs.len(), 14, "{all:?}");
    assert!(matches!(all.outs[11], Out::Error { .. }), "{all:?}");
    assert!(matches!(all.outs[12], Out::Error { .. }), "{all:?}");
    let unbriefed: Vec<Out> = got.outs.iter().cloned().map(Out::unbriefed).collect();
    assert_eq!(unbriefed, all.outs, "the same frames, in order");
    let briefs = briefs_of(&got.outs);
    assert_eq!(
        briefs,
        [
            (
                "ok000001".into(),
                200,
                "msrp://b.example.com:2/t;tcp".into()
            ),
            (
                "ok000002".into(),
                200,
                "msrp://relay.example.com:2855/r1;tcp".into()
            ),
            (
                "ok000003".into(),
                202,
                "msrp://c.example.com:3/u;tcp".into()
            ),
        ]
    );
    // In strict mode the 202 with extra spaces is not brief: the usual decoding refuses it.
    let strict = DecoderConfig {
        strict: true,
        ..brief.clone()
    };
    let strict_all = run_whole(
        &DecoderConfig {
            strict: true,
            ..DecoderConfig::default()
        },
        input.as_bytes(),
    );
    let strict_got = assert_split_invariant(&strict, input.as_bytes());
    let unbriefed: Vec<Out> = strict_got
        .outs
        .iter()
        .cloned()
        .map(Out::unbriefed)
        .collect();
    assert_eq!(unbriefed, strict_all.outs);
    assert!(
        matches!(strict_got.outs[2], Out::Error { .. }),
        "{strict_got:?}"
    );
    // With skip_success_responses as well, skipping wins.
    let both = DecoderConfig {
        skip_success_responses: true,
        ..brief
    };
    let skipped = run_whole(&both, input.as_bytes());
    assert!(
        skipped.outs.iter().all(|o| !matches!(o, Out::Brief { .. })),
        "{skipped:?}"
    );
    // Skipping checks no header: every bodiless 2xx with a good end-line goes (nine).
    assert_eq!(skipped.outs.len(), 5);
}

/// One SEND (or REPORT) of the sequences below: its header lines picked from a few spellings
/// each, good and bad.
#[allow(clippy::too_many_arguments)]
fn repeat_frame(
    tid: &str,
    report: bool,
    to: &[u8],
    msg_name: &[u8],
    msg: &[u8],
    range: &[u8],
    extra: Option<&[u8]>,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(
        format!("MSRP {tid} {}\r\n", if report { "REPORT" } else { "SEND" }).as_bytes(),
    );
    for line in [
        &[b"To-Path: ", to].concat()[..],
        FROM.trim_end().as_bytes(),
        &[msg_name, b":", msg].concat(),
        &[b"Byte-Range:", range].concat(),
    ] {
        f.extend_from_slice(line);
        f.extend_from_slice(b"\r\n");
    }
    if let Some(x) = extra {
        f.extend_from_slice(x);
        f.extend_from_slice(b"\r\n");
    }
    match body {
        Some(b) => {
            f.extend_from_slice(b"Content-Type: text/plain\r\n\r\n");
            f.extend_from_slice(b);
            f.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
        }
        None => f.extend_from_slice(format!("-------{tid}$\r\n").as_bytes()),
    }
    f
}

/// `DecoderConfig::reuse_heads` (4975-005, 4975-035/036): a SEND whose block repeats the last
/// one but for its tid, Message-ID and Byte-Range decodes exactly as a full parse decodes it,
/// good or bad, whatever else changes between frames and wherever the reads cut them; with
/// `repeated_sends`, the `Event::RepeatedSend` stands for that head.
#[test]
fn repeated_heads_decode_as_parsed_in_full() {
    let to = b"msrp://b.example.com:2/t;tcp".as_slice();
    let frames: Vec<Vec<u8>> = vec![
        repeat_frame(
            "t0000001",
            false,
            to,
            b"Message-ID",
            b" msg00001",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        // Repeats with new values, then values that do not parse (recoverable 400s).
        repeat_frame(
            "t0000002",
            false,
            to,
            b"Message-ID",
            b" msg00022",
            b" 1-5/9",
            None,
            Some(b"hello"),
        ),
        repeat_frame(
            "t0000003",
            false,
            to,
            b"Message-ID",
            b" bad id!",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000004",
            false,
            to,
            b"Message-ID",
            b" msg00004",
            b" 5-1/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000005",
            false,
            to,
            b"Message-ID",
            b" msg00005",
            b" x",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000006",
            false,
            to,
            b"Message-ID",
            b" msg\xff6",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000007",
            false,
            to,
            b"Message-ID",
            b" msg\x017",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000008",
            false,
            to,
            b"Message-ID",
            b"",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        // White space around the value (trimmed when lenient, refused when strict).
        repeat_frame(
            "t0000009",
            false,
            to,
            b"Message-ID",
            b"  msg00009 ",
            b"\t1-2/2",
            None,
            Some(b"hi"),
        ),
        // The name in another case, then back; an unknown extra header; no Content-Type.
        repeat_frame(
            "t0000010",
            false,
            to,
            b"message-id",
            b" msg00010",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000011",
            false,
            to,
            b"Message-ID",
            b" msg00011",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000012",
            false,
            to,
            b"Message-ID",
            b" msg00012",
            b" 1-2/2",
            Some(b"X-A: 1"),
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000013",
            false,
            to,
            b"Message-ID",
            b" msg00013",
            b" 1-2/2",
            Some(b"X-A: 2"),
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000014",
            false,
            to,
            b"Message-ID",
            b" msg00014",
            b" 1-2/2",
            None,
            None,
        ),
        repeat_frame(
            "t0000015",
            false,
            to,
            b"Message-ID",
            b" msg00015",
            b" 1-2/2",
            None,
            Some(b""),
        ),
        // Another To-Path, a bad one, a REPORT with the same lines, then the first again.
        repeat_frame(
            "t0000016",
            false,
            b"msrp://c.example.com:3/u;tcp",
            b"Message-ID",
            b" msg00016",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000017",
            false,
            b"msrp:/broken",
            b"Message-ID",
            b" msg00017",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000018",
            true,
            to,
            b"Message-ID",
            b" msg00018",
            b" 1-2/2",
            Some(b"Status: 000 200 OK"),
            None,
        ),
        repeat_frame(
            "t0000019",
            false,
            to,
            b"Message-ID",
            b" msg00019",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        repeat_frame(
            "t0000020",
            false,
            to,
            b"Message-ID",
            b" msg00020",
            b" 3-4/4",
            None,
            Some(b"hi"),
        ),
        // Where the Message-ID line was, an end-line (a bodiless SEND without it), then a
        // blank line (a SEND whose body follows the paths): neither is a header line.
        [
            &b"MSRP t0000021 SEND\r\nTo-Path: "[..],
            to,
            b"\r\n",
            FROM.trim_end().as_bytes(),
            b"\r\n-------t0000021$\r\n",
        ]
        .concat(),
        [
            &b"MSRP t0000022 SEND\r\nTo-Path: "[..],
            to,
            b"\r\n",
            FROM.trim_end().as_bytes(),
            b"\r\n\r\nhi\r\n-------t0000022$\r\n",
        ]
        .concat(),
        repeat_frame(
            "t0000023",
            false,
            to,
            b"Message-ID",
            b" msg00023",
            b" 1-2/2",
            None,
            Some(b"hi"),
        ),
        // A bodiless SEND whose last header is its Byte-Range, then one with an end-line
        // where that Byte-Range was.
        repeat_frame(
            "t0000024",
            false,
            to,
            b"Message-ID",
            b" msg00024",
            b" 1-2/2",
            None,
            None,
        ),
        [
            &b"MSRP t0000025 SEND\r\nTo-Path: "[..],
            to,
            b"\r\n",
            FROM.trim_end().as_bytes(),
            b"\r\nMessage-ID: msg00025\r\n-------t0000025$\r\n",
        ]
        .concat(),
        repeat_frame(
            "t0000026",
            false,
            to,
            b"Message-ID",
            b" msg00026",
            b" 1-2/2",
            None,
            None,
        ),
    ];
    let input = frames.concat();
    for strict in [false, true] {
        let [full, reuse, brief, whole] = repeat_configs(strict);
        let want = run_whole(&full, &input);
        let got = assert_split_invariant(&reuse, &input);
        assert_eq!(got, want, "strict: {strict}");
        let got = assert_split_invariant(&brief, &input);
        assert_eq!(got, want, "repeated_sends, strict: {strict}");
        let got = assert_split_invariant(&whole, &input);
        assert_eq!(got, want, "whole_repeats, strict: {strict}");
        let frames_ok = want
            .outs
            .iter()
            .filter(|o| matches!(o, Out::Frame { .. }))
            .count();
        assert!(frames_ok >= 10, "{want:?}");
    }
}

/// `DecoderConfig::whole_repeats`: a repeated SEND whose body and end-line are read with it
/// comes whole (`Decoder::take_tail`), and every frame decodes as a full parse decodes it,
/// wherever the reads cut them; bodies the body state reads specially are left to it.
#[test]
fn whole_repeats_decode_as_parsed_in_full() {
    let to = b"msrp://b.example.com:2/t;tcp".as_slice();
    // SEND `t{k}` of message `msg{m}`, ending in `flag`.
    let frame = |k: u32, m: u32, range: &[u8], body: &[u8], flag: u8| {
        let mut f = repeat_frame(
            &format!("t{k:07}"),
            false,
            to,
            b"Message-ID",
            format!(" msg{m:05}").as_bytes(),
            range,
            None,
            Some(body),
        );
        let n = f.len();
        f[n - 3] = flag;
        f
    };
    let frames: Vec<Vec<u8>> = vec![
        // A frame that the next ones repeat, and a plain repeat.
        frame(26, 26, b" 1-2/2", b"hi", b'$'),
        frame(27, 27, b" 1-5/5", b"hello", b'$'),
        // Bodies left to the body state: one that begins with dashes, one that holds a
        // `CRLF -------` of another tid, an empty body whose end-line follows the blank line
        // without a CRLF of its own (lenient); then chunks that end in `+` and `#`.
        frame(28, 28, b" 1-2/2", b"--", b'$'),
        frame(29, 29, b" 1-2/2", b"a\r\n-------t0000099$\r\nb", b'$'),
        [
            &b"MSRP t0000030 SEND\r\nTo-Path: "[..],
            to,
            b"\r\n",
            FROM.trim_end().as_bytes(),
            b"\r\nMessage-ID: msg00030\r\nByte-Range: 1-2/2\r\n",
            b"Content-Type: text/plain\r\n\r\n-------t0000030$\r\n",
        ]
        .concat(),
        frame(31, 31, b" 1-2/4", b"hi", b'+'),
        frame(32, 31, b" 3-4/4", b"hi", b'#'),
    ];
    let input = frames.concat();
    for strict in [false, true] {
        let [full, _, _, whole] = repeat_configs(strict);
        let want = run_whole(&full, &input);
        assert_eq!(want.outs.len(), frames.len(), "{want:?}");
        let got = assert_split_invariant(&whole, &input);
        assert_eq!(got, want, "strict: {strict}");
        // Read at once, every frame but the first is a repeat; those with plain bodies come
        // whole.
        let repeats = repeats_of(&whole, &input);
        let expect: Vec<(String, bool)> = [27, 28, 29, 30, 31, 32]
            .into_iter()
            .map(|k| (format!("t{k:07}"), matches!(k, 27 | 31 | 32)))
            .collect();
        assert_eq!(repeats, expect, "strict: {strict}");
    }
}

/// A bodiless SEND (a session's bind, RFC 4975 §5.4, or a keep-alive) is not kept for repeats:
/// the next bodiless SEND with the same lines is parsed in full, while SENDs with bodies are
/// repeated (a chat room's idle participants keep no head each).
#[test]
fn bodiless_sends_are_not_kept_for_repeats() {
    let to = b"msrp://b.example.com:2/t;tcp".as_slice();
    let frame = |k: u32, body: Option<&[u8]>| {
        repeat_frame(
            &format!("t{k:07}"),
            false,
            to,
            b"Message-ID",
            format!(" msg{k:05}").as_bytes(),
            b" 1-2/2",
            None,
            body,
        )
    };
    let input = [
        frame(1, None),
        frame(2, None),
        frame(3, Some(b"hi")),
        frame(4, Some(b"ho")),
    ]
    .concat();
    let cfg = DecoderConfig {
        repeated_sends: true,
        ..DecoderConfig::default()
    };
    assert_eq!(repeats_of(&cfg, &input), [("t0000004".to_owned(), false)]);
    let full = DecoderConfig {
        reuse_heads: false,
        ..DecoderConfig::default()
    };
    assert_eq!(
        assert_split_invariant(&cfg, &input),
        run_whole(&full, &input)
    );
}

/// What the repeat tests compare: every block parsed in full; heads reused (`reuse_heads`);
/// repeats as [`Event::RepeatedSend`] (`repeated_sends`); and with their tails read whole
/// (`whole_repeats`).
fn repeat_configs(strict: bool) -> [DecoderConfig; 4] {
    let full = DecoderConfig {
        strict,
        reuse_heads: false,
        ..DecoderConfig::default()
    };
    let reuse = DecoderConfig {
        reuse_heads: true,
        ..full.clone()
    };
    let brief = DecoderConfig {
        repeated_sends: true,
        ..reuse.clone()
    };
    let whole = DecoderConfig {
        whole_repeats: true,
        ..brief.clone()
    };
    [full, reuse, brief, whole]
}

/// The transaction id of each [`Event::RepeatedSend`] that `input`, read at once, gives, and
/// whether its tail came with it (`DecoderConfig::whole_repeats`).
fn repeats_of(cfg: &DecoderConfig, input: &[u8]) -> Vec<(String, bool)> {
    let mut dec = Decoder::new(cfg.clone());
    let mut buf = BytesMut::from(input);
    let mut repeats = Vec::new();
    loop {
        match dec.decode(&mut buf) {
            Ok(None) => return repeats,
            Ok(Some(Event::RepeatedSend(r))) => {
                repeats.push((r.tid.to_string(), dec.take_tail().is_some()));
            }
            Ok(Some(_)) => {}
            Err(e) => assert!(e.can_continue(), "{e:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The same as `repeated_heads_decode_as_parsed_in_full`, on generated sequences.
    #[test]
    fn generated_repeats_decode_as_parsed_in_full(
        strict in any::<bool>(),
        picks in proptest::collection::vec((0usize..4, 0usize..2, 0usize..7, 0usize..7, 0usize..3, 0usize..3, any::<bool>()), 1..12),
        cut in any::<usize>(),
    ) {
        let tos: [&[u8]; 4] = [
            b"msrp://b.example.com:2/t;tcp",
            b"msrp://b.example.com:2/t;tcp",
            b"msrp://r.example.com:9/x;tcp msrp://b.example.com:2/t;tcp",
            b"msrp:/broken",
        ];
        let names: [&[u8]; 2] = [b"Message-ID", b"MESSAGE-ID"];
        let msgs: [&[u8]; 7] = [b" msg00001", b" msg00002", b" abcdefgh", b" a b", b"", b" msg\xc3\xa9", b"  msg3 "];
        let ranges: [&[u8]; 7] = [b" 1-2/2", b" 1-*/*", b" 3-4/10", b" 1-2/1", b" 0-1/2", b" 1-2/2 ", b"\x7f"];
        let extras: [Option<&[u8]>; 3] = [None, Some(b"Failure-Report: no"), Some(b"Failure-Report: maybe")];
        let bodies: [Option<&[u8]>; 3] = [Some(b"hi"), None, Some(b"")];
        let input: Vec<u8> = picks
            .iter()
            .enumerate()
            .flat_map(|(i, &(t, n, m, r, x, b, report))| {
                repeat_frame(&format!("g{i:07}"), report && i % 3 == 2, tos[t], names[n], msgs[m], ranges[r], extras[x], bodies[b])
            })
            .collect();
        let [full, reuse, brief, whole] = repeat_configs(strict);
        let want = run_whole(&full, &input);
        prop_assert_eq!(run_whole(&reuse, &input), want.clone());
        prop_assert_eq!(run_whole(&brief, &input), want.clone());
        prop_assert_eq!(run_whole(&whole, &input), want.clone());
        // Read in two parts, cut anywhere: the frame cut comes as events, the others whole.
        let cut = cut % (input.len() + 1);
        prop_assert_eq!(run_cuts(&whole, &input, &[cut]), want);
    }
}
