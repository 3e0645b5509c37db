//! The `message/cpim` module (RFC 3862) through the public API.
//!
//! (a) Every CPIM vector of the project's RFC vector set (tests/vectors, copied; oracle
//!     tests/vectors/expected.json) checked field by field. As tests/vectors/INDEX.md says:
//!     `.frag.cpim` files are header fragments, so they must read as an incomplete prefix and are
//!     completed in code before a full parse; the RFC 3862 §5.1 `message.cpim` carries the
//!     enclosing MIME header, which is stripped in code; vectors marked "CT in block 1" (no blank
//!     line between CPIM and MIME headers) are refused by the strict options and read by the
//!     lenient ones; the `-INCONSISTENT` RFC 7701 §9.5 chunks are corrected in code (the CRLF
//!     missing between them is inserted), never in the files.
//! (b) The prefix rule: every body split at every byte (`check_prefixes`).
//! (c) Writer → parser round trips.
//! (d) Malformed inputs: each its typed error and class, and the prefix rule for each.
//! (e) Proptests: arbitrary and mutated bytes never panic and keep the prefix rule; random
//!     messages written by `Builder` read back to what was written.

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use msrp::{DecoderConfig, FrameDecoder};
use msrp_mixer::cpim::{
    Address, BuildError, Builder, CpimError, DEFAULT_MAX_HEAD_BYTES, DEFAULT_NAMESPACE, DateTime,
    ErrorClass, Message, NsDecl, ParseOptions, ParseSpace, QName, Section, escape, head_len,
    is_cpim_content_type, unescape,
};
use proptest::prelude::*;
use serde_json::Value;

const STRICT: ParseOptions = ParseOptions::strict();
const LENIENT: ParseOptions = ParseOptions::lenient();

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn oracle_all() -> Vec<Value> {
    serde_json::from_slice(&read("expected.json")).unwrap()
}

/// The `expect` object of a vector.
fn oracle(name: &str) -> Value {
    oracle_all()
        .into_iter()
        .find(|e| e["file"] == name)
        .unwrap_or_else(|| panic!("{name} has no entry in expected.json"))["expect"]
        .clone()
}

/// `[name, value]` pairs of an oracle header list.
fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The oracle's view of a CPIM header: the name and what follows the colon, one SP removed.
fn cpim_pairs(m: &Message) -> Vec<(String, String)> {
    m.headers()
        .map(|h| {
            let rest = &h.line()[h.name().len() + 1..];
            (
                h.name().to_owned(),
                rest.strip_prefix(' ').unwrap_or(rest).to_owned(),
            )
        })
        .collect()
}

/// MIME headers with folding undone and whitespace runs collapsed (the oracle's rule).
fn mime_pairs(m: &Message) -> Vec<(String, String)> {
    m.mime_headers()
        .map(|h| (h.name().to_owned(), collapse(h.value_str().unwrap())))
        .collect()
}

fn collapse(s: &str) -> String {
    s.replace("\r\n", " ")
        .split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body of a one-frame MSRP vector, decoded with the `msrp` crate; its Content-Type must
/// be message/cpim.
fn msrp_body(name: &str) -> Bytes {
    let mut dec = FrameDecoder::new(DecoderConfig::default(), 1 << 16);
    let mut buf = BytesMut::from(&read(name)[..]);
    let frame = dec.decode(&mut buf).unwrap().expect("one whole frame");
    assert!(buf.is_empty(), "{name}: one frame");
    let ct = frame.head.content_type().expect("Content-Type");
    assert!(is_cpim_content_type(ct), "{name}: {ct}");
    let body = frame.body.expect("body");
    assert_eq!(
        body.len() as u64,
        oracle(name)["body_octets"].as_u64().unwrap(),
        "{name}"
    );
    body
}

fn parse(b: &[u8], opts: &ParseOptions) -> Result<Message, CpimError> {
    Message::parse(Bytes::copy_from_slice(b), opts)
}

fn addr(a: Option<Address<'_>>) -> (Option<String>, String) {
    let a = a.expect("address");
    (a.formal_name().map(|n| n.into_owned()), a.uri().to_owned())
}

fn at(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not found"))
}

/// The prefix rule, for every split of `body`: `parse_prefix` and `head_len` agree; they say
/// "need more" until the header section is complete and then give its length and the body
/// octets present; once a prefix is refused every longer one is refused with the same error;
/// and the whole body parses exactly when the last prefix does.
fn check_prefixes(body: &[u8], opts: &ParseOptions) {
    let full = parse(body, opts);
    let mut first_err: Option<(usize, CpimError)> = None;
    // One space for every prefix, as a switch parses message after message.
    let mut space = ParseSpace::default();
    for k in 0..=body.len() {
        let r = Message::parse_prefix(Bytes::copy_from_slice(&body[..k]), opts);
        let hl = head_len(&body[..k], opts);
        let prefix = Bytes::copy_from_slice(&body[..k]);
        match (&r, Message::parse_prefix_in(prefix, opts, &mut space)) {
            (Ok(None), Ok(None)) => {}
            (Err(a), Err(b)) => assert_eq!(*a, b),
            (Ok(Some((m, n))), Ok(Some((m2, n2)))) => {
                assert_eq!((*n, m.head_len()), (n2, m2.head_len()));
                assert_eq!(cpim_pairs(m), cpim_pairs(&m2));
                assert_eq!(mime_pairs(m), mime_pairs(&m2));
                assert_eq!(m.require().count(), m2.require().count());
                assert_eq!(m.media_type(), m2.media_type());
                m2.recycle(&mut space);
            }
            (a, b) => panic!("parse_prefix and parse_prefix_in disagree at {k}: {a:?} / {b:?}"),
        }
        match (&r, &hl) {
            (Ok(None), Ok(None)) => {}
            (Ok(Some((_, n))), Ok(Some(m))) => assert_eq!(n, m),
            (Err(a), Err(b)) => assert_eq!(a, b),
            _ => panic!("parse_prefix and head_len disagree at {k}: {r:?} / {hl:?}"),
        }
        if let Some((k0, e)) = &first_err {
            assert_eq!(
                r.as_ref().err(),
                Some(e),
                "refused at {k0}, different at {k} in {body:?}"
            );
            continue;
        }
        match r {
            Err(e) => first_err = Some((k, e)),
            Ok(None) => {
                if let Ok(m) = &full {
                    assert!(
                        k < m.head_len(),
                        "need-more at {k} after the header section"
                    );
                }
            }
            Ok(Some((m, n))) => {
                let f = full
                    .as_ref()
                    .expect("a complete prefix implies a valid body");
                assert_eq!(n, f.head_len());
                assert_eq!(m.head_len(), n);
                assert!(k >= n);
                assert_eq!(&m.body()[..], &body[n..k]);
                assert_eq!(cpim_pairs(&m), cpim_pairs(f));
                assert_eq!(mime_pairs(&m), mime_pairs(f));
                assert_eq!(m.header_block(), f.header_block());
                assert_eq!(m.content_type(), f.content_type());
            }
        }
    }
    match (&full, first_err) {
        (Ok(_), None) => {}
        (Ok(m), Some((k, e))) => panic!("valid body {m:?} refused at prefix {k}: {e}"),
        // A body exactly max_head_bytes long: the prefix cannot know that nothing follows.
        (Err(_), Some((_, CpimError::HeadTooLarge { .. })))
            if body.len() == opts.max_head_bytes => {}
        (Err(e), Some((_, p))) => assert_eq!(e, &p, "whole body and prefix disagree"),
        (Err(e), None) => assert!(
            !matches!(e, CpimError::HeadTooLarge { .. }),
            "too large only for the whole body: {e}"
        ),
    }
}

fn complete_frag(frag: &[u8]) -> Vec<u8> {
    let mut v = frag.to_vec();
    v.extend_from_slice(b"\r\nContent-Type: text/plain\r\n\r\n");
    v
}

// ---------------------------------------------------------------------------------------------
// (a) RFC vectors
// ---------------------------------------------------------------------------------------------

const CPIM_VECTORS: [&str; 12] = [
    "rfc3862-s2.2-headers.frag.cpim",
    "rfc3862-s3.4-ns-default.frag.cpim",
    "rfc3862-s3.4-ns-prefix.frag.cpim",
    "rfc3862-s3.5-require.frag.cpim",
    "rfc3862-s4-header-examples.frag.cpim",
    "rfc3862-s5.1-body.cpim",
    "rfc3862-s5.1-message.cpim",
    "rfc3862-s5.2-signed.mime",
    "rfc5438-s7.1.1.3-im-requesting-imdn.frag.cpim",
    "rfc5438-s7.2.1.1-delivery-imdn.frag.cpim",
    "rfc5438-s7.2.1.2-display-imdn.frag.cpim",
    "rfc5438-s8.3-aggregated-imdn.frag.cpim",
];

const MSRP_CPIM_VECTORS: [&str; 8] = [
    "rfc4975-s11.4-fig14-chunk1-cpim.msrp",
    "rfc4975-s11.4-fig15-chunk2-cpim.msrp",
    "rfc7701-s9.3-F1-send-regular.msrp",
    "rfc7701-s9.3-F3-send-fanout-to-bob.msrp",
    "rfc7701-s9.4-F1-send-private.msrp",
    "rfc7701-s9.4-F3-send-private-to-bob.msrp",
    "rfc7701-s9.5-chunk1-INCONSISTENT.msrp",
    "rfc7701-s9.5-chunk2-INCONSISTENT.msrp",
];

/// Every CPIM-kind oracle entry is one of the vectors tested here, and every vector tested
/// here is present with an oracle entry.
#[test]
fn oracle_covers_the_vectors() {
    let all = oracle_all();
    for e in all.iter().filter(|e| e["kind"] == "cpim") {
        let f = e["file"].as_str().unwrap();
        assert!(CPIM_VECTORS.contains(&f), "untested CPIM vector {f}");
    }
    for f in CPIM_VECTORS.iter().chain(MSRP_CPIM_VECTORS.iter()) {
        assert!(dir().join(f).is_file(), "{f} missing");
        let e = oracle(f);
        assert!(
            e["first_header_block"].is_array() || e["cpim"].is_object(),
            "{f}"
        );
    }
}

/// RFC 3862 §5.1, the body an MSRP SEND carries: every header, every typed accessor.
#[test]
fn rfc3862_s5_1_body() {
    let raw = read("rfc3862-s5.1-body.cpim");
    let exp = oracle("rfc3862-s5.1-body.cpim");
    for opts in [STRICT, LENIENT] {
        let m = parse(&raw, &opts).unwrap();
        assert_eq!(cpim_pairs(&m), pairs(&exp["first_header_block"]));
        assert!(!m.separator_missing());
        assert_eq!(&m.as_bytes()[..], &raw[..], "octets kept (3862-006)");
        let blank = at(&raw, "\r\n\r\n") + 2;
        assert_eq!(m.header_block().as_bytes(), &raw[..blank]);

        assert_eq!(
            addr(m.from()),
            (
                Some("MR SANDERS".into()),
                "im:piglet@100akerwood.com".into()
            )
        );
        assert_eq!(m.from().unwrap().formal_name_raw(), Some("MR SANDERS"));
        assert_eq!(
            addr(m.single_to()),
            (
                Some("Depressed Donkey".into()),
                "im:eeyore@100akerwood.com".into()
            )
        );
        assert_eq!(m.to().count(), 1);
        assert_eq!(m.cc().count(), 0);
        let dt = m.date_time().unwrap();
        assert_eq!(
            (
                dt.year,
                dt.month,
                dt.day,
                dt.hour,
                dt.minute,
                dt.second,
                dt.offset_minutes
            ),
            (2000, 12, 13, 13, 40, 0, -480)
        );
        let subjects: Vec<_> = m
            .subjects()
            .map(|s| (s.lang(), s.text().into_owned()))
            .collect();
        assert_eq!(
            subjects,
            [
                (None, "the weather will be fine today".to_owned()),
                (Some("fr"), "beau temps prevu pour aujourd'hui".to_owned())
            ]
        );
        assert_eq!(
            m.subject(Some("FR")).unwrap().raw(),
            "beau temps prevu pour aujourd'hui"
        );
        assert_eq!(
            m.subject(None).unwrap().raw(),
            "the weather will be fine today"
        );
        assert!(m.subject(Some("de")).is_none());
        assert_eq!(
            m.namespaces().collect::<Vec<_>>(),
            [NsDecl {
                prefix: Some("MyFeatures"),
                uri: "mid:MessageFeatures@id.foo.com"
            }]
        );
        assert_eq!(
            m.require().collect::<Vec<_>>(),
            [QName {
                namespace: "mid:MessageFeatures@id.foo.com",
                name: "VitalMessageOption"
            }]
        );
        // (namespace URI, name) identifies a header (3862-011).
        let vital: Vec<_> = m
            .get("mid:MessageFeatures@id.foo.com", "VitalMessageOption")
            .collect();
        assert_eq!(vital.len(), 1);
        assert_eq!(vital[0].value(), "Confirmation-requested");
        assert_eq!(vital[0].prefix(), Some("MyFeatures"));
        assert_eq!(vital[0].name(), "MyFeatures.VitalMessageOption");
        assert_eq!(vital[0].local_name(), "VitalMessageOption");
        let wacky = m
            .get("mid:MessageFeatures@id.foo.com", "WackyMessageOption")
            .next()
            .unwrap();
        assert_eq!(wacky.value(), "Use-silly-font");
        assert!(
            m.get(DEFAULT_NAMESPACE, "VitalMessageOption")
                .next()
                .is_none()
        );
        for h in m.headers().take(7) {
            assert_eq!(h.namespace(), DEFAULT_NAMESPACE, "{}", h.name());
            assert_eq!(h.prefix(), None);
        }
        assert!(m.headers().next().unwrap().is(DEFAULT_NAMESPACE, "From"));

        assert_eq!(
            mime_pairs(&m),
            [
                ("Content-type".into(), "text/xml; charset=utf-8".into()),
                ("Content-ID".into(), "<1234567890@foo.com>".into())
            ]
        );
        assert_eq!(m.content_type(), "text/xml; charset=utf-8");
        assert_eq!(m.media_type(), "text/xml");
        assert_eq!(m.media_type_bytes(), b"text/xml");
        assert_eq!(
            m.mime_header("content-id").unwrap().value(),
            b"<1234567890@foo.com>"
        );
        assert_eq!(
            &m.body()[..],
            b"<body>\r\nHere is the text of my message.\r\n</body>\r\n"
        );
        assert_eq!(m.head_len(), raw.len() - m.body().len());
        check_prefixes(&raw, &opts);
    }
}

/// RFC 3862 §5.1 with the enclosing `Content-type: Message/CPIM` header: as a CPIM body it is
/// refused (the first line is a Content-Type); stripped in code it is the §5.1 body.
#[test]
fn rfc3862_s5_1_message_with_outer_header() {
    let raw = read("rfc3862-s5.1-message.cpim");
    let exp = oracle("rfc3862-s5.1-message.cpim");
    assert_eq!(exp["outer_mime"], true);
    for opts in [STRICT, LENIENT] {
        let e = parse(&raw, &opts).unwrap_err();
        assert_eq!(e, CpimError::ContentTypeInCpimHeaders { at: 0 });
        assert_eq!(e.class(), ErrorClass::NotCpim);
        check_prefixes(&raw, &opts);
    }
    let sep = at(&raw, "\r\n\r\n");
    let outer = std::str::from_utf8(&raw[..sep]).unwrap();
    let (name, value) = outer.split_once(": ").unwrap();
    assert_eq!(
        vec![(name.to_owned(), value.to_owned())],
        pairs(&exp["first_header_block"])
    );
    assert!(is_cpim_content_type(value));
    let inner = &raw[sep + 4..];
    assert_eq!(inner, &read("rfc3862-s5.1-body.cpim")[..]);
    let m = parse(inner, &STRICT).unwrap();
    assert_eq!(cpim_pairs(&m), pairs(&exp["cpim_headers"]));
}

/// RFC 3862 §5.2: the CPIM message inside multipart/signed is byte-exact and parses
/// (3862-006/020); the outer header block is the oracle's.
#[test]
fn rfc3862_s5_2_signed() {
    let raw = read("rfc3862-s5.2-signed.mime");
    let exp = oracle("rfc3862-s5.2-signed.mime");
    let sep = at(&raw, "\r\n\r\n");
    let outer = std::str::from_utf8(&raw[..sep]).unwrap();
    let (name, value) = outer.split_once(':').unwrap();
    assert_eq!(
        vec![(name.to_owned(), collapse(value))],
        pairs(&exp["first_header_block"])
    );
    // First body part: after "--next" CRLF, up to the CRLF before the next delimiter.
    let start = at(&raw, "--next\r\n") + 8;
    let end = start + at(&raw[start..], "\r\n--next");
    let part = &raw[start..end];
    let part_head = at(part, "\r\n\r\n");
    let ct = std::str::from_utf8(&part[..part_head]).unwrap();
    assert!(is_cpim_content_type(
        ct.strip_prefix("Content-Type: ").unwrap()
    ));
    let m = parse(&part[part_head + 4..], &STRICT).unwrap();
    assert_eq!(
        addr(m.single_to()),
        (
            Some("Dopey Donkey".into()),
            "im:eeyore@100akerwood.com".into()
        )
    );
    assert_eq!(m.headers().len(), 9);
    assert_eq!(m.media_type(), "text/xml");
    assert_eq!(
        &m.body()[..],
        b"<body>\r\nHere is the text of my message.\r\n</body>"
    );
}

/// RFC 3862 header fragments: a valid prefix that is not complete; completed in code, each
/// header as the oracle says and resolved to its namespace.
#[test]
fn rfc3862_fragments() {
    for f in [
        "rfc3862-s2.2-headers.frag.cpim",
        "rfc3862-s3.4-ns-prefix.frag.cpim",
        "rfc3862-s3.4-ns-default.frag.cpim",
        "rfc3862-s4-header-examples.frag.cpim",
    ] {
        let raw = read(f);
        let exp = oracle(f);
        assert_eq!(exp["content_type_in_first_block"], false);
        for opts in [STRICT, LENIENT] {
            assert_eq!(
                head_len(&raw, &opts),
                Ok(None),
                "{f}: a fragment is an incomplete prefix"
            );
            assert!(matches!(
                parse(&raw, &opts),
                Err(CpimError::Truncated {
                    section: Section::Cpim
                })
            ));
            let full = complete_frag(&raw);
            let m = parse(&full, &opts).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(cpim_pairs(&m), pairs(&exp["first_header_block"]), "{f}");
            assert_eq!(m.head_len(), full.len());
            check_prefixes(&full, &opts);
        }
    }

    let m = parse(
        &complete_frag(&read("rfc3862-s2.2-headers.frag.cpim")),
        &STRICT,
    )
    .unwrap();
    assert_eq!(
        addr(m.single_to()),
        (Some("Pooh Bear".into()), "im:pooh@100akerwood.com".into())
    );
    assert_eq!(addr(m.from()), (None, "im:piglet@100akerwood.com".into()));
    assert_eq!(
        m.date_time(),
        Some("2001-02-02T10:48:54-05:00".parse::<DateTime>().unwrap())
    );

    let m = parse(
        &complete_frag(&read("rfc3862-s3.4-ns-prefix.frag.cpim")),
        &STRICT,
    )
    .unwrap();
    let h: Vec<_> = m.headers().collect();
    assert_eq!(
        h[1].qname(),
        QName {
            namespace: "mid:MessageFeatures@id.foo.com",
            name: "WackyMessageOption"
        }
    );

    // NS without a prefix: the default namespace of the headers after it (RFC 3862 §3.4).
    let m = parse(
        &complete_frag(&read("rfc3862-s3.4-ns-default.frag.cpim")),
        &STRICT,
    )
    .unwrap();
    let trap = m
        .get("http://id.acme.widgets/wily-headers/", "runner-trap")
        .next()
        .unwrap();
    assert_eq!(trap.value(), "set");
    assert_eq!(trap.prefix(), None);
    assert_eq!(
        m.namespaces().next().unwrap(),
        NsDecl {
            prefix: None,
            uri: "http://id.acme.widgets/wily-headers/"
        }
    );

    // The §3.3/§4.x one-line examples side by side.
    let m = parse(
        &complete_frag(&read("rfc3862-s4-header-examples.frag.cpim")),
        &STRICT,
    )
    .unwrap();
    assert_eq!(m.from_all().count(), 2);
    assert_eq!(
        addr(m.from()),
        (
            Some("Winnie the Pooh".into()),
            "im:pooh@100akerwood.com".into()
        )
    );
    assert_eq!(m.to().count(), 2);
    assert!(m.single_to().is_none(), "two To headers (7701-011)");
    let cc: Vec<_> = m.cc().map(|a| a.uri().to_owned()).collect();
    assert_eq!(cc, ["im:pooh@100akerwood.com", "im:tigger@100akerwood.com"]);
    let langs: Vec<_> = m.subjects().map(|s| s.lang()).collect();
    assert_eq!(langs, [Some("fr"), Some("en")]);
    assert_eq!(
        m.subject(Some("en")).unwrap().text(),
        "Eeyore's feeling very depressed today"
    );
    assert!(m.subject(None).is_none());
    assert_eq!(
        m.get("mid:MessageFeatures@id.foo.com", "MyHeader")
            .next()
            .unwrap()
            .value(),
        "private-extension-data"
    );
    assert_eq!(
        m.require().collect::<Vec<_>>(),
        [QName {
            namespace: "mid:MessageFeatures@id.foo.com",
            name: "VitalHeader"
        }]
    );
}

/// RFC 3862 §3.5 prints `Require: MyFeatures.VitalMessageOption` without declaring the prefix:
/// refused as soon as the line is complete (3862-011); with the §5.1 declaration inserted in
/// code it resolves.
#[test]
fn rfc3862_s3_5_require_undeclared_prefix() {
    let f = "rfc3862-s3.5-require.frag.cpim";
    let raw = read(f);
    let exp = oracle(f);
    for opts in [STRICT, LENIENT] {
        assert_eq!(
            head_len(&raw, &opts),
            Err(CpimError::UndeclaredPrefix { at: 0 })
        );
        let e = parse(&complete_frag(&raw), &opts).unwrap_err();
        assert_eq!(e, CpimError::UndeclaredPrefix { at: 0 });
        assert_eq!(e.class(), ErrorClass::InvalidHeader);
        check_prefixes(&complete_frag(&raw), &opts);
    }
    let mut fixed = b"NS: MyFeatures <mid:MessageFeatures@id.foo.com>\r\n".to_vec();
    fixed.extend_from_slice(&complete_frag(&raw));
    let m = parse(&fixed, &STRICT).unwrap();
    assert_eq!(cpim_pairs(&m)[1..], pairs(&exp["first_header_block"])[..]);
    assert_eq!(
        m.require().next().unwrap(),
        QName {
            namespace: "mid:MessageFeatures@id.foo.com",
            name: "VitalMessageOption"
        }
    );
}

/// RFC 5438 IMDN examples: no blank line between CPIM and MIME headers ("CT in block 1"):
/// strict refuses at the Content-type line, lenient reads CPIM + MIME headers as the oracle's
/// first block.
#[test]
fn rfc5438_imdn_vectors() {
    for f in [
        "rfc5438-s7.1.1.3-im-requesting-imdn.frag.cpim",
        "rfc5438-s7.2.1.1-delivery-imdn.frag.cpim",
        "rfc5438-s7.2.1.2-display-imdn.frag.cpim",
        "rfc5438-s8.3-aggregated-imdn.frag.cpim",
    ] {
        let raw = read(f);
        let exp = oracle(f);
        assert_eq!(exp["content_type_in_first_block"], true);
        let ct_at = at(&raw, "Content-type:");
        assert_eq!(
            parse(&raw, &STRICT).unwrap_err(),
            CpimError::ContentTypeInCpimHeaders { at: ct_at },
            "{f}"
        );
        check_prefixes(&raw, &STRICT);

        let m = parse(&raw, &LENIENT).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(m.separator_missing());
        let mut got = cpim_pairs(&m);
        got.extend(mime_pairs(&m));
        assert_eq!(got, pairs(&exp["first_header_block"]), "{f}");
        assert_eq!(m.header_block().len(), ct_at);
        assert_eq!(
            m.namespaces().next().unwrap(),
            NsDecl {
                prefix: Some("imdn"),
                uri: "urn:ietf:params:imdn"
            }
        );
        let id = m.get("urn:ietf:params:imdn", "Message-ID").next().unwrap();
        assert_eq!(id.name(), "imdn.Message-ID");
        assert!(m.from().is_some() && m.single_to().is_some());
        check_prefixes(&raw, &LENIENT);
    }

    let m = parse(
        &read("rfc5438-s7.1.1.3-im-requesting-imdn.frag.cpim"),
        &LENIENT,
    )
    .unwrap();
    assert_eq!(
        addr(m.from()),
        (Some("Alice".into()), "im:alice@example.com".into())
    );
    assert_eq!(
        m.get("urn:ietf:params:imdn", "Disposition-Notification")
            .next()
            .unwrap()
            .value(),
        "positive-delivery, negative-delivery"
    );
    assert_eq!(m.date_time().unwrap().year, 2006);
    assert_eq!(m.media_type(), "text/plain");
    assert_eq!(&m.body()[..], b"Hello World\r\n");

    // A folded Content-type (legal in the MIME part).
    let m = parse(&read("rfc5438-s8.3-aggregated-imdn.frag.cpim"), &LENIENT).unwrap();
    assert_eq!(m.media_type_bytes(), m.media_type().as_bytes());
    assert_eq!(m.media_type(), "multipart/mixed");
    assert!(m.content_type().contains("\r\n"));
    assert!(m.body().starts_with(b"--imdn-boundary\r\n"));
}

/// RFC 4975 §11.4: a message/cpim message in two chunks. The CPIM head (without the blank line
/// before Content-Type, as printed) is complete in chunk 1; chunk 2 alone is not CPIM.
#[test]
fn rfc4975_s11_4_chunked_cpim() {
    let c1 = msrp_body("rfc4975-s11.4-fig14-chunk1-cpim.msrp");
    let c2 = msrp_body("rfc4975-s11.4-fig15-chunk2-cpim.msrp");
    let exp = oracle("rfc4975-s11.4-fig14-chunk1-cpim.msrp");
    assert_eq!(exp["cpim"]["content_type_in_first_block"], true);
    let ct_at = at(&c1, "Content-Type:");
    assert_eq!(
        Message::parse_prefix(c1.clone(), &STRICT).unwrap_err(),
        CpimError::ContentTypeInCpimHeaders { at: ct_at }
    );
    let (m, n) = Message::parse_prefix(c1.clone(), &LENIENT)
        .unwrap()
        .expect("header section complete in chunk 1 (7701-017)");
    let mut got = cpim_pairs(&m);
    got.extend(mime_pairs(&m));
    assert_eq!(got, pairs(&exp["cpim"]["first_header_block"]));
    assert_eq!(&c1[n..], b"ABCD");
    assert_eq!(&m.body()[..], b"ABCD");
    assert_eq!(
        addr(m.single_to()),
        (Some("Bob".into()), "sip:bob@example.com".into())
    );
    check_prefixes(&c1, &LENIENT);

    let mut whole = c1.to_vec();
    whole.extend_from_slice(&c2);
    // Byte-Range says 148; the octets say 147 (erratum-like, INDEX.md).
    assert_eq!(whole.len(), 147);
    let m = parse(&whole, &LENIENT).unwrap();
    assert_eq!(&m.body()[..], b"ABCD1234567890");

    let e2 = oracle("rfc4975-s11.4-fig15-chunk2-cpim.msrp");
    assert_eq!(e2["cpim"]["first_header_block"], serde_json::json!([]));
    for opts in [STRICT, LENIENT] {
        let e = parse(&c2, &opts).unwrap_err();
        assert_eq!(e, CpimError::NotAHeader { at: 0 });
        assert!(e.is_not_cpim());
        check_prefixes(&c2, &opts);
    }
}

/// RFC 7701 §9.3/§9.4: the regular and private SENDs (CPIM head without the blank line before
/// Content-Type, as printed) and the copies the switch sends.
#[test]
fn rfc7701_s9_3_and_s9_4() {
    let room = "sip:chatroom22@chat.example.com;transport=tcp";
    let mut bodies = Vec::new();
    for f in [
        "rfc7701-s9.3-F1-send-regular.msrp",
        "rfc7701-s9.3-F3-send-fanout-to-bob.msrp",
        "rfc7701-s9.4-F1-send-private.msrp",
        "rfc7701-s9.4-F3-send-private-to-bob.msrp",
    ] {
        let body = msrp_body(f);
        let exp = oracle(f);
        let e = parse(&body, &STRICT).unwrap_err();
        assert!(
            matches!(e, CpimError::ContentTypeInCpimHeaders { .. }),
            "{f}"
        );
        let m = parse(&body, &LENIENT).unwrap();
        let mut got = cpim_pairs(&m);
        got.extend(mime_pairs(&m));
        assert_eq!(got, pairs(&exp["cpim"]["first_header_block"]), "{f}");
        assert_eq!(m.media_type(), "text/plain");
        check_prefixes(&body, &LENIENT);
        check_prefixes(&body, &STRICT);
        bodies.push((body, m));
    }
    // Regular message: one To, the room (7701-010); the copy is the same octets (7701-014).
    let (b1, m1) = &bodies[0];
    assert_eq!(m1.single_to().unwrap().uri(), room);
    assert_eq!(m1.from().unwrap().uri(), "sip:alice@atlanta.example.com");
    assert_eq!(&m1.body()[..], b"Hello guys, how are you today?");
    assert_eq!(
        b1, &bodies[1].0,
        "the fan-out copy carries the same CPIM body"
    );
    // Private message: one To, the recipient (7701-020).
    let (_, m3) = &bodies[2];
    assert_eq!(m3.single_to().unwrap().uri(), "sip:bob@example.com");
    assert_ne!(m3.single_to().unwrap().uri(), room);
    assert_eq!(&m3.body()[..], b"Hello Bob.");
    // As printed, the copy to Bob has another From URI than Alice's SEND (an inconsistency of
    // the RFC example: 7701-014 forbids changing the content); everything else is equal.
    let (_, m4) = &bodies[3];
    assert_eq!(m3.from().unwrap().uri(), "sip:alice@example.com");
    assert_eq!(m4.from().unwrap().uri(), "sip:alice@atlanta.example.com");
    let without_from = |m: &Message| -> Vec<_> {
        cpim_pairs(m)
            .into_iter()
            .filter(|(n, _)| n != "From")
            .collect()
    };
    assert_eq!(without_from(m3), without_from(m4));
    assert_eq!(m3.body(), m4.body());
}

/// RFC 7701 §9.5 (`-INCONSISTENT`): chunk 1 ends in the middle of the CPIM headers, so its
/// prefix is incomplete (7701-017: do not distribute yet); as printed the chunks lack the CRLF
/// between them, which the corrected form inserts in code.
#[test]
fn rfc7701_s9_5_chunked_private() {
    let c1 = msrp_body("rfc7701-s9.5-chunk1-INCONSISTENT.msrp");
    let c2 = msrp_body("rfc7701-s9.5-chunk2-INCONSISTENT.msrp");
    let e1 = oracle("rfc7701-s9.5-chunk1-INCONSISTENT.msrp");
    let e2 = oracle("rfc7701-s9.5-chunk2-INCONSISTENT.msrp");
    for opts in [STRICT, LENIENT] {
        assert_eq!(head_len(&c1, &opts), Ok(None));
        assert!(Message::parse_prefix(c1.clone(), &opts).unwrap().is_none());
        check_prefixes(&c1, &opts);
    }
    let mut fixed = c1.to_vec();
    fixed.extend_from_slice(b"\r\n");
    fixed.extend_from_slice(&c2);
    assert_eq!(
        parse(&fixed, &STRICT).unwrap_err(),
        CpimError::ContentTypeInCpimHeaders {
            at: at(&fixed, "Content-Type")
        }
    );
    let m = parse(&fixed, &LENIENT).unwrap();
    let mut got = cpim_pairs(&m);
    got.extend(mime_pairs(&m));
    let mut want = pairs(&e1["cpim"]["first_header_block"]);
    want.extend(pairs(&e2["cpim"]["first_header_block"]));
    assert_eq!(got, want);
    assert_eq!(&m.body()[..], b"Hello Bob");
    assert_eq!(m.single_to().unwrap().uri(), "sip:bob@example.com");
    check_prefixes(&fixed, &LENIENT);
    // As printed, concatenated without the CRLF: the From value swallows "DateTime:".
    let mut as_printed = c1.to_vec();
    as_printed.extend_from_slice(&c2);
    assert_eq!(
        parse(&as_printed, &LENIENT).unwrap_err(),
        CpimError::InvalidAddress {
            at: at(&as_printed, "From"),
            header: "From"
        }
    );
}

// ---------------------------------------------------------------------------------------------
// (c) Writer → parser
// ---------------------------------------------------------------------------------------------

#[test]
fn builder_exact_octets() {
    let mut b = Builder::new();
    b.from(Some("Alice"), "sip:alice@example.com")
        .unwrap()
        .to(None, "sip:room@chat.example.com")
        .unwrap()
        .content_type("text/plain")
        .unwrap();
    let out = b.build(b"Hi").unwrap();
    assert_eq!(
        &out[..],
        b"From: Alice <sip:alice@example.com>\r\nTo: <sip:room@chat.example.com>\r\n\r\nContent-Type: text/plain\r\n\r\nHi"
    );
}

#[test]
fn builder_round_trip_every_header_kind() {
    let dt: DateTime = "2009-03-02T15:02:31.5-03:00".parse().unwrap();
    let weird = "Smith, \"Bob\"\t\\ \u{1}é";
    let mut b = Builder::new();
    b.from(Some("Alice Liddell"), "sip:alice@example.com")
        .unwrap()
        .to(Some(weird), "sip:bob@example.com")
        .unwrap()
        .cc(Some(""), "im:carol@example.com")
        .unwrap()
        .date_time(&dt)
        .unwrap()
        .subject(None, "two\nlines \\ and \u{7f}")
        .unwrap()
        .subject(Some("fr"), "bonjour")
        .unwrap()
        .ns(Some("MyFeatures"), "mid:MessageFeatures@id.foo.com")
        .unwrap()
        .require(["MyFeatures.VitalMessageOption"])
        .unwrap()
        .header("MyFeatures.VitalMessageOption", "Confirmation-requested")
        .unwrap()
        .ns(Some("c"), DEFAULT_NAMESPACE)
        .unwrap()
        .ns(None, "http://id.acme.widgets/wily-headers/")
        .unwrap()
        .header("runner-trap", "set\tnow")
        .unwrap()
        .subject(None, "through the c prefix")
        .unwrap()
        .mime_header("Content-Type", "text/plain; charset=utf-8")
        .unwrap()
        .mime_header("Content-ID", "<x@y>")
        .unwrap();
    let out = b.build(b"body\r\n\r\nwith blank lines").unwrap();
    let text = std::str::from_utf8(&out).unwrap();
    assert!(text.contains("To: \"Smith, \\\"Bob\\\"\\t\\\\ \\u0001é\"<sip:bob@example.com>\r\n"));
    assert!(text.contains("Subject: two\\nlines \\\\ and \\u007f\r\n"));
    assert!(text.contains("c.Subject: through the c prefix\r\n"));

    for opts in [STRICT, LENIENT] {
        let m = parse(&out, &opts).unwrap();
        assert_eq!(
            addr(m.from()),
            (Some("Alice Liddell".into()), "sip:alice@example.com".into())
        );
        assert_eq!(
            addr(m.single_to()),
            (Some(weird.into()), "sip:bob@example.com".into())
        );
        assert_eq!(addr(m.cc().next()), (None, "im:carol@example.com".into()));
        assert_eq!(m.date_time(), Some(dt));
        let subjects: Vec<_> = m
            .subjects()
            .map(|s| (s.lang(), s.text().into_owned()))
            .collect();
        assert_eq!(
            subjects,
            [
                (None, "two\nlines \\ and \u{7f}".to_owned()),
                (Some("fr"), "bonjour".to_owned()),
                (None, "through the c prefix".to_owned()),
            ]
        );
        assert_eq!(
            m.require().next().unwrap(),
            QName {
                namespace: "mid:MessageFeatures@id.foo.com",
                name: "VitalMessageOption"
            }
        );
        let trap = m
            .get("http://id.acme.widgets/wily-headers/", "runner-trap")
            .next()
            .unwrap();
        assert_eq!(trap.value(), "set\\tnow");
        assert_eq!(trap.text(), "set\tnow");
        assert_eq!(m.namespaces().count(), 3);
        assert_eq!(m.content_type(), "text/plain; charset=utf-8");
        assert_eq!(&m.body()[..], b"body\r\n\r\nwith blank lines");
        check_prefixes(&out, &opts);
    }
}

/// 7701-022: the REPORT wrapper copies the original From and To lines octet for octet.
#[test]
fn report_wrapper_copies_from_and_to() {
    let orig = parse(&msrp_body("rfc7701-s9.4-F1-send-private.msrp"), &LENIENT).unwrap();
    let mut b = Builder::report_wrapper(&orig).unwrap();
    b.content_type("text/plain").unwrap();
    let out = b.build(b"").unwrap();
    let m = parse(&out, &STRICT).unwrap();
    let lines: Vec<_> = m.headers().map(|h| h.line().to_owned()).collect();
    assert_eq!(
        lines,
        ["To: <sip:bob@example.com>", "From: <sip:alice@example.com>"]
    );
    assert_eq!(m.body().len(), 0);

    // Escaped formal names survive byte for byte.
    let src = parse(
        b"From: \"A\\tB\"<sip:a@b>\r\nTo: X <sip:c@d>\r\nSubject: s\r\n\r\nContent-Type: a/b\r\n\r\n",
        &STRICT,
    )
    .unwrap();
    let mut b = Builder::report_wrapper(&src).unwrap();
    let out = b.content_type("a/b").unwrap().build(b"x").unwrap();
    assert!(out.starts_with(b"From: \"A\\tB\"<sip:a@b>\r\nTo: X <sip:c@d>\r\n\r\n"));

    // A prefixed header copied where its prefix means nothing.
    let src = parse(
        b"NS: p <mid:a@b>\r\np.X: y\r\n\r\nContent-Type: a/b\r\n\r\n",
        &STRICT,
    )
    .unwrap();
    let h = src.headers().nth(1).unwrap();
    let mut b = Builder::new();
    assert_eq!(
        b.copy_header(&h).unwrap_err(),
        BuildError::NamespaceMismatch("p.X".into())
    );
    b.ns(Some("p"), "mid:a@b").unwrap().copy_header(&h).unwrap();
    assert_eq!(
        b.copy_header(&src.headers().next().unwrap()).unwrap_err(),
        BuildError::ReservedName("NS".into())
    );
}

#[test]
fn builder_refusals() {
    let mut b = Builder::new();
    assert!(matches!(
        b.from(None, "not a uri"),
        Err(BuildError::InvalidUri(_))
    ));
    assert!(matches!(
        b.to(Some("x"), "sip:a b"),
        Err(BuildError::InvalidUri(_))
    ));
    assert!(matches!(
        b.subject(Some("fr_FR"), "x"),
        Err(BuildError::InvalidLanguageTag(_))
    ));
    for bad in ["", " lead", "trail "] {
        assert!(matches!(
            b.subject(None, bad),
            Err(BuildError::InvalidValue(_))
        ));
    }
    for name in ["From", "from", "Content-Type", "content-foo", "NS"] {
        assert!(
            matches!(b.header(name, "v"), Err(BuildError::ReservedName(_))),
            "{name}"
        );
    }
    assert!(matches!(
        b.header("a b", "v"),
        Err(BuildError::InvalidName(_))
    ));
    assert_eq!(
        b.header("nope.X", "v").unwrap_err(),
        BuildError::UndeclaredPrefix("nope".into())
    );
    assert_eq!(
        b.require(["nope.X"]).unwrap_err(),
        BuildError::UndeclaredPrefix("nope".into())
    );
    assert!(matches!(
        b.ns(Some("p"), "mid:a#frag"),
        Err(BuildError::InvalidUri(_))
    ));
    let bad_day = DateTime {
        year: 2001,
        month: 2,
        day: 30,
        hour: 0,
        minute: 0,
        second: 0,
        nanosecond: 0,
        offset_minutes: 0,
    };
    assert_eq!(
        b.date_time(&bad_day).unwrap_err(),
        BuildError::InvalidDateTime
    );
    assert_eq!(b.build(b"x").unwrap_err(), BuildError::MissingContentType);
    assert!(matches!(
        b.content_type("text"),
        Err(BuildError::InvalidContentType(_))
    ));
    assert!(matches!(
        b.mime_header("X-A", "a\r\nb"),
        Err(BuildError::InvalidValue(_))
    ));
    b.content_type("text/plain").unwrap();
    assert_eq!(
        b.mime_header("content-type", "a/b").unwrap_err(),
        BuildError::DuplicateContentType
    );
    // Default namespace moved away and no prefix reaches the CPIM one.
    let mut b = Builder::new();
    b.ns(None, "http://x.example/").unwrap();
    assert_eq!(
        b.from(None, "sip:a@b").unwrap_err(),
        BuildError::CpimNamespaceUnavailable
    );
    // Here "From" is a header of http://x.example/, not the CPIM From (RFC 3862 §3.4).
    b.header("From", "x").unwrap();
    b.content_type("a/b").unwrap();
    let m = parse(&b.build(b"").unwrap(), &STRICT).unwrap();
    assert!(m.from().is_none());
    assert_eq!(
        m.get("http://x.example/", "From").next().unwrap().value(),
        "x"
    );
}

#[test]
fn escapes_round_trip() {
    for s in [
        "",
        "plain",
        "a\\b",
        "\u{0}\u{1f}\u{7f}",
        "tab\tnl\ncr\r",
        "é\"'",
    ] {
        assert_eq!(unescape(&escape(s)), s);
    }
    // Unknown escape: the character after the backslash (RFC 3862 §2.3.1).
    assert_eq!(unescape(r"\x\y"), "xy");
}

// ---------------------------------------------------------------------------------------------
// (d) Malformed inputs
// ---------------------------------------------------------------------------------------------

const MIME: &str = "\r\nContent-Type: text/plain\r\n\r\nbody";

fn with_mime(cpim: &str) -> Vec<u8> {
    format!("{cpim}{MIME}").into_bytes()
}

#[test]
fn malformed_inputs_get_typed_errors() {
    use CpimError as E;
    let big = format!("From: <sip:a@b>\r\nSubject: {}\r\n", "x".repeat(100));
    let huge = format!("Subject: {}\r\n", "y".repeat(DEFAULT_MAX_HEAD_BYTES));
    let small = STRICT.with_max_head_bytes(64);
    let cases: Vec<(&str, Vec<u8>, ParseOptions, CpimError, ErrorClass)> = vec![
        (
            "missing blank line after the CPIM headers",
            b"From: <sip:a@b>\r\nTo: <sip:c@d>\r\n".to_vec(),
            STRICT,
            E::Truncated {
                section: Section::Cpim,
            },
            ErrorClass::NotCpim,
        ),
        (
            "missing blank line after the MIME headers",
            b"From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\nbody".to_vec(),
            STRICT,
            E::MalformedMimeHeader { at: 45 },
            ErrorClass::NotCpim,
        ),
        (
            "MIME headers end with the body",
            b"From: <sip:a@b>\r\n\r\nContent-Type: text/plain\r\n".to_vec(),
            STRICT,
            E::Truncated {
                section: Section::Mime,
            },
            ErrorClass::NotCpim,
        ),
        (
            "missing Content-Type",
            b"From: <sip:a@b>\r\n\r\nContent-ID: <x@y>\r\n\r\nbody".to_vec(),
            STRICT,
            E::MissingContentType { at: 38 },
            ErrorClass::NotCpim,
        ),
        (
            "folding",
            with_mime("From: <sip:a@b>\r\nSubject: hello\r\n world\r\n"),
            STRICT,
            E::Folding { at: 33 },
            ErrorClass::NotCpim,
        ),
        (
            "folding with HTAB",
            with_mime("Subject: hello\r\n\tworld\r\n"),
            STRICT,
            E::Folding { at: 16 },
            ErrorClass::NotCpim,
        ),
        (
            "two spaces",
            with_mime("From:  <sip:a@b>\r\n"),
            STRICT,
            E::ExtraSpace { at: 6 },
            ErrorClass::NotCpim,
        ),
        (
            "no space",
            with_mime("From:<sip:a@b>\r\n"),
            STRICT,
            E::MissingSpace { at: 5 },
            ErrorClass::NotCpim,
        ),
        (
            "lowercase from:",
            with_mime("from: <sip:a@b>\r\n"),
            STRICT,
            E::WrongCase {
                at: 0,
                expected: "From",
            },
            ErrorClass::InvalidHeader,
        ),
        (
            "TO:",
            with_mime("From: <sip:a@b>\r\nTO: <sip:c@d>\r\n"),
            LENIENT,
            E::WrongCase {
                at: 17,
                expected: "To",
            },
            ErrorClass::InvalidHeader,
        ),
        (
            "Datetime:",
            with_mime("Datetime: 2001-02-02T10:48:54-05:00\r\n"),
            STRICT,
            E::WrongCase {
                at: 0,
                expected: "DateTime",
            },
            ErrorClass::InvalidHeader,
        ),
        (
            "URI without brackets",
            with_mime("From: Alice sip:a@b\r\n"),
            STRICT,
            E::InvalidAddress {
                at: 0,
                header: "From",
            },
            ErrorClass::InvalidHeader,
        ),
        (
            "URI without closing bracket",
            with_mime("From: <sip:a@b>\r\nTo: <sip:c@d\r\n"),
            STRICT,
            E::InvalidAddress {
                at: 17,
                header: "To",
            },
            ErrorClass::InvalidHeader,
        ),
        (
            "text after the URI",
            with_mime("cc: Bob <sip:c@d> (home)\r\n"),
            STRICT,
            E::InvalidAddress {
                at: 0,
                header: "cc",
            },
            ErrorClass::InvalidHeader,
        ),
        (
            "empty URI",
            with_mime("To: <>\r\n"),
            STRICT,
            E::InvalidAddress {
                at: 0,
                header: "To",
            },
            ErrorClass::InvalidHeader,
        ),
        (
            "formal name with a separator, unquoted",
            with_mime("From: Smith, J <sip:a@b>\r\n"),
            STRICT,
            E::InvalidAddress {
                at: 0,
                header: "From",
            },
            ErrorClass::InvalidHeader,
        ),
        (
            "NS prefix used before it is declared",
            with_mime("MyF.Opt: x\r\nNS: MyF <mid:a@b>\r\n"),
            STRICT,
            E::UndeclaredPrefix { at: 0 },
            ErrorClass::InvalidHeader,
        ),
        (
            "Require with an undeclared prefix",
            with_mime("NS: a <mid:a@b>\r\nRequire: a.X,b.Y\r\n"),
            STRICT,
            E::UndeclaredPrefix { at: 17 },
            ErrorClass::InvalidHeader,
        ),
        (
            "bad Require list",
            with_mime("Require: X,,Y\r\n"),
            STRICT,
            E::InvalidRequire { at: 0 },
            ErrorClass::InvalidHeader,
        ),
        (
            "NS without brackets",
            with_mime("NS: foo mid:a@b\r\n"),
            STRICT,
            E::InvalidNs { at: 0 },
            ErrorClass::InvalidHeader,
        ),
        (
            "NS URI with a fragment",
            with_mime("NS: foo <http://a/b#c>\r\n"),
            STRICT,
            E::InvalidNs { at: 0 },
            ErrorClass::InvalidHeader,
        ),
        (
            "DateTime out of range",
            with_mime("DateTime: 2001-02-29T00:00:00Z\r\n"),
            STRICT,
            E::InvalidDateTime { at: 0 },
            ErrorClass::InvalidHeader,
        ),
        (
            "oversized header section",
            with_mime(&big),
            small,
            E::HeadTooLarge { limit: 64 },
            ErrorClass::TooLarge,
        ),
        (
            "oversized header section, default bound",
            with_mime(&huge),
            STRICT,
            E::HeadTooLarge {
                limit: DEFAULT_MAX_HEAD_BYTES,
            },
            ErrorClass::TooLarge,
        ),
        (
            "bare LF",
            with_mime("From: <sip:a@b>\n"),
            STRICT,
            E::BareLf { at: 15 },
            ErrorClass::NotCpim,
        ),
        (
            "bare LF on the separator",
            b"From: <sip:a@b>\r\n\nContent-Type: a/b\r\n\r\n".to_vec(),
            STRICT,
            E::BareLf { at: 17 },
            ErrorClass::NotCpim,
        ),
        (
            "raw HTAB in a value",
            with_mime("Subject: a\tb\r\n"),
            STRICT,
            E::ControlChar { at: 10 },
            ErrorClass::NotCpim,
        ),
        (
            "NUL in a value",
            with_mime("Subject: a\0b\r\n"),
            STRICT,
            E::ControlChar { at: 10 },
            ErrorClass::NotCpim,
        ),
        (
            "CR inside a line",
            with_mime("Subject: a\rb\r\n"),
            STRICT,
            E::ControlChar { at: 10 },
            ErrorClass::NotCpim,
        ),
        (
            "not UTF-8",
            [&b"Subject: ab\xff\xfe"[..], MIME.as_bytes()].concat(),
            STRICT,
            E::InvalidUtf8 { at: 11 },
            ErrorClass::NotCpim,
        ),
        (
            "trailing space",
            with_mime("Subject: hi \r\n"),
            STRICT,
            E::TrailingWhitespace { at: 11 },
            ErrorClass::NotCpim,
        ),
        (
            "empty value",
            with_mime("Subject: \r\n"),
            STRICT,
            E::TrailingWhitespace { at: 8 },
            ErrorClass::NotCpim,
        ),
        (
            "plain text",
            b"Hello world, how are you?".to_vec(),
            STRICT,
            E::InvalidName { at: 5 },
            ErrorClass::NotCpim,
        ),
        (
            "a word",
            b"Hello\r\n\r\n".to_vec(),
            LENIENT,
            E::NotAHeader { at: 0 },
            ErrorClass::NotCpim,
        ),
        (
            "empty header name",
            with_mime(": x\r\n"),
            STRICT,
            E::InvalidName { at: 0 },
            ErrorClass::NotCpim,
        ),
        (
            "two dots in a name",
            with_mime("NS: a <mid:a@b>\r\na.b.c: x\r\n"),
            STRICT,
            E::InvalidName { at: 20 },
            ErrorClass::NotCpim,
        ),
        (
            "name ending in a dot",
            with_mime("a.: x\r\n"),
            STRICT,
            E::InvalidName { at: 2 },
            ErrorClass::NotCpim,
        ),
        (
            "bad lang tag",
            with_mime("Subject:;lang=fr_FR hi\r\n"),
            STRICT,
            E::InvalidParameter { at: 14 },
            ErrorClass::NotCpim,
        ),
        (
            "lang with no value after it",
            with_mime("Subject:;lang=fr\r\n"),
            STRICT,
            E::MissingSpace { at: 16 },
            ErrorClass::NotCpim,
        ),
        (
            "parameter without =",
            with_mime("Subject:;lang hi\r\n"),
            STRICT,
            E::InvalidParameter { at: 13 },
            ErrorClass::NotCpim,
        ),
        (
            "Content-Type among the CPIM headers (strict)",
            b"From: <sip:a@b>\r\nContent-Type: text/plain\r\n\r\nhi".to_vec(),
            STRICT,
            E::ContentTypeInCpimHeaders { at: 17 },
            ErrorClass::NotCpim,
        ),
        (
            "only MIME headers (lenient)",
            b"Content-Type: text/plain\r\n\r\nhi".to_vec(),
            LENIENT,
            E::ContentTypeInCpimHeaders { at: 0 },
            ErrorClass::NotCpim,
        ),
        (
            "lenient: Content-* lines without a Content-Type",
            b"From: <sip:a@b>\r\nContent-ID: <x@y>\r\n\r\nhi".to_vec(),
            LENIENT,
            E::MissingContentType { at: 36 },
            ErrorClass::NotCpim,
        ),
        (
            "malformed MIME header",
            b"From: <sip:a@b>\r\n\r\nnot a header\r\n\r\n".to_vec(),
            STRICT,
            E::MalformedMimeHeader { at: 22 },
            ErrorClass::NotCpim,
        ),
        (
            "MIME continuation of nothing",
            b"\r\n x: y\r\nContent-Type: a/b\r\n\r\n".to_vec(),
            STRICT,
            E::MalformedMimeHeader { at: 2 },
            ErrorClass::NotCpim,
        ),
        (
            "two Content-Types",
            b"\r\nContent-Type: a/b\r\ncontent-type: c/d\r\n\r\n".to_vec(),
            STRICT,
            E::DuplicateContentType { at: 21 },
            ErrorClass::NotCpim,
        ),
        (
            "Content-Type not type/subtype",
            b"\r\nContent-Type: text\r\n\r\n".to_vec(),
            STRICT,
            E::InvalidContentType { at: 2 },
            ErrorClass::NotCpim,
        ),
    ];
    for (label, input, opts, want, class) in cases {
        let got = parse(&input, &opts);
        assert_eq!(got.as_ref().err(), Some(&want), "{label}");
        assert_eq!(want.class(), class, "{label}");
        assert_eq!(want.is_not_cpim(), class == ErrorClass::NotCpim, "{label}");
        assert!(!want.to_string().is_empty());
        check_prefixes(&input, &opts);
    }
}

#[test]
fn valid_edge_cases() {
    // No CPIM headers at all (the room logic refuses it for lack of From/To).
    let m = parse(b"\r\nContent-Type: text/plain\r\n\r\nx", &STRICT).unwrap();
    assert_eq!(m.headers().len(), 0);
    assert!(m.from().is_none());
    // The CPIM namespace through an explicit prefix (RFC 3862 §4).
    let m = parse(
        &with_mime("NS: c <urn:ietf:params:cpim-headers:>\r\nc.From: <sip:a@b>\r\n"),
        &STRICT,
    )
    .unwrap();
    assert_eq!(m.from().unwrap().uri(), "sip:a@b");
    // After NS: <other>, an unprefixed From is another namespace's header, not CPIM From.
    let m = parse(
        &with_mime("NS: <http://x.example/>\r\nFrom: anything goes\r\n"),
        &STRICT,
    )
    .unwrap();
    assert!(m.from().is_none());
    assert!(
        m.get("http://x.example/", "From").next().is_some(),
        "resolved to the declared default"
    );
    // A lang parameter on a header, quoted parameter values, Require with a space.
    let m = parse(
        &with_mime("X:;lang=en-GB;note=\"a;b \\\"c\\\"\" v\r\nRequire: X, From\r\n"),
        &STRICT,
    )
    .unwrap();
    let h = m.headers().next().unwrap();
    assert_eq!(h.lang(), Some("en-GB"));
    let params: Vec<_> = h
        .params()
        .map(|p| (p.name, p.text().into_owned()))
        .collect();
    assert_eq!(
        params,
        [
            ("lang", "en-GB".to_owned()),
            ("note", "a;b \"c\"".to_owned())
        ]
    );
    assert_eq!(h.value(), "v");
    assert_eq!(m.require().count(), 2);
    // Quoted formal name with the ABNF's String "<" and with a SP.
    for v in ["\"Bob \\\"B\\\"\"<sip:b@c>", "\"Bob \\\"B\\\"\" <sip:b@c>"] {
        let m = parse(&with_mime(&format!("From: {v}\r\n")), &STRICT).unwrap();
        assert_eq!(m.from().unwrap().formal_name().unwrap(), "Bob \"B\"");
    }
    // Non-ASCII formal name tokens and Subject (UTF-8, 3862-004).
    let m = parse(
        &with_mime("From: Zoë Ğ <sip:z@x>\r\nSubject: ünïcode\r\n"),
        &STRICT,
    )
    .unwrap();
    assert_eq!(m.from().unwrap().formal_name().unwrap(), "Zoë Ğ");
    assert_eq!(m.subject(None).unwrap().text(), "ünïcode");
    // MIME headers: any case, folding, no SP after the colon.
    let m = parse(
        b"\r\ncontent-TYPE:text/plain;\r\n charset=utf-8\r\nX:\r\n\r\n",
        &STRICT,
    )
    .unwrap();
    assert_eq!(m.media_type(), "text/plain");
    assert_eq!(collapse(m.content_type()), "text/plain; charset=utf-8");
    assert_eq!(m.mime_header("x").unwrap().value(), b"");
    assert_eq!(m.body().len(), 0);
    // Exactly at the bound.
    let body = with_mime("From: <sip:a@b>\r\n");
    let n = body.len() - 4;
    assert!(parse(&body, &STRICT.with_max_head_bytes(n)).is_ok());
    assert_eq!(
        parse(&body, &STRICT.with_max_head_bytes(n - 1)).unwrap_err(),
        CpimError::HeadTooLarge { limit: n - 1 }
    );
    check_prefixes(&body, &STRICT.with_max_head_bytes(n));
}

/// The switch can answer 415 before a bad line is complete (7701-009): errors certain from the
/// octets present are reported at once; what more octets could still make valid is not.
#[test]
fn early_refusal_of_a_partial_line() {
    type HeadLen = Result<Option<usize>, CpimError>;
    let cases: [(&[u8], HeadLen); 12] = [
        (b"Hello wor", Err(CpimError::InvalidName { at: 5 })),
        (b"From:  <si", Err(CpimError::ExtraSpace { at: 6 })),
        (b" From", Err(CpimError::Folding { at: 0 })),
        (b"Subject: a\x01", Err(CpimError::ControlChar { at: 10 })),
        (b"Subject: a\xff", Err(CpimError::InvalidUtf8 { at: 10 })),
        (b"From: <sip:a@b>\r\n\n", Err(CpimError::BareLf { at: 17 })),
        // An escape is text, not a control character (3862-008).
        (b"Subject: a\\tb", Ok(None)),
        // A CR at the end may be the CR of CRLF; a UTF-8 sequence may be cut.
        (b"Subject: a\r", Ok(None)),
        (b"Subject: \xc3", Ok(None)),
        (b"From", Ok(None)),
        (b"", Ok(None)),
        (b"Subject: ab", Ok(None)),
    ];
    for (input, want) in cases {
        assert_eq!(head_len(input, &STRICT), want, "{input:?}");
    }
    assert_eq!(
        head_len(b"Subject: abcdef", &STRICT.with_max_head_bytes(8)),
        Err(CpimError::HeadTooLarge { limit: 8 })
    );
    // Exactly max_head_bytes octets without the end of the header section: any end would make
    // it longer than the bound, so it is refused now; one octet fewer may still end.
    assert_eq!(
        head_len(b"Subject:", &STRICT.with_max_head_bytes(8)),
        Err(CpimError::HeadTooLarge { limit: 8 })
    );
    assert_eq!(
        head_len(b"Subject", &STRICT.with_max_head_bytes(8)),
        Ok(None)
    );
    // Lenient mode: a line that may turn out to be a MIME line is judged by MIME rules.
    let body = b"From: <sip:a@b>\r\nContent-Type:text/plain\r\n\r\nx";
    assert!(parse(body, &LENIENT).unwrap().separator_missing());
    check_prefixes(body, &LENIENT);
    assert_eq!(
        parse(body, &STRICT).unwrap_err(),
        CpimError::MissingSpace { at: 30 }
    );
}

#[test]
fn cpim_content_type_check() {
    assert!(is_cpim_content_type("message/cpim"));
    assert!(is_cpim_content_type("Message/CPIM"));
    assert!(!is_cpim_content_type("text/plain"));
}

// ---------------------------------------------------------------------------------------------
// (e) Proptests
// ---------------------------------------------------------------------------------------------

fn cpimish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let atoms: Vec<&'static [u8]> = vec![
        b"\r\n",
        b"\r",
        b"\n",
        b" ",
        b":",
        b";",
        b"From",
        b"To",
        b"NS",
        b"Require",
        b"Subject",
        b"Content-Type",
        b"content-type",
        b"<sip:a@b>",
        b"<",
        b">",
        b"\"",
        b"\\",
        b"a",
        b".",
        b"lang=fr",
        b"text/plain",
        b"\t",
        b"\xc3\xa9",
        b"\xff",
        b"x.y",
        b",",
        b"=",
    ];
    proptest::collection::vec(proptest::sample::select(atoms), 0..40).prop_map(|v| v.concat())
}

fn valid_message() -> impl Strategy<Value = Vec<u8>> {
    (
        "[ -~]{0,12}",
        "sip:[a-z]{1,6}@[a-z]{1,6}\\.com",
        "[^\u{0}]{1,20}",
        proptest::collection::vec(any::<u8>(), 0..20),
    )
        .prop_filter_map("writable", |(name, uri, subject, body)| {
            let mut b = Builder::new();
            b.from(Some(&name), &uri).ok()?;
            b.to(None, "sip:room@chat.example.com").ok()?;
            b.subject(Some("en"), &subject).ok()?;
            b.content_type("text/plain").ok()?;
            Some(b.build(&body).ok()?.to_vec())
        })
}

/// Everything a parsed message tells: two parses agree when their views do.
fn view(m: &Message) -> String {
    format!(
        "{:?}",
        (
            (
                m.head_len(),
                m.separator_missing(),
                m.header_block(),
                m.mime_block()
            ),
            m.headers()
                .map(|h| (h, h.params().collect::<Vec<_>>(), h.text().into_owned()))
                .collect::<Vec<_>>(),
            (
                m.from_all().collect::<Vec<_>>(),
                m.to().collect::<Vec<_>>(),
                m.cc().collect::<Vec<_>>(),
                m.date_time(),
            ),
            (
                m.subjects().collect::<Vec<_>>(),
                m.namespaces().collect::<Vec<_>>(),
                m.require().collect::<Vec<_>>(),
            ),
            (
                m.mime_headers().collect::<Vec<_>>(),
                m.content_type(),
                m.media_type(),
                m.media_type_bytes(),
                m.body(),
            ),
        )
    )
}

/// A header section of lines from small pools (so that consecutive messages often share their
/// first lines), valid or not, cut short or not.
fn pooled_message() -> impl Strategy<Value = Vec<u8>> {
    let cpim: Vec<&'static str> = vec![
        "From: Alice <sip:alice@example.com>",
        "From: <sip:bob@example.com>",
        "To: <sip:room@chat.example.com>",
        "To: \"Bob\" <sip:bob@example.com>",
        "cc: <sip:carol@example.com>",
        "DateTime: 2026-12-02T10:00:00Z",
        "DateTime: 2026-12-02T10:00:01.5+01:00",
        "NS: imdn <urn:ietf:params:imdn>",
        "NS: ext <mid:ext@example.com>",
        "NS: <mid:default@example.com>",
        "imdn.Message-ID: 34jk324j",
        "imdn.Message-ID: 8873abcd",
        "imdn.Disposition-Notification: positive-delivery",
        "Require: imdn.Disposition-Notification",
        "ext.Value: 1",
        "Subject;lang=fr: Bonjour",
        "Subject: hi",
        "Content-Type: text/plain",
        "From: <not a uri>",
        "no colon",
    ];
    let mime: Vec<&'static str> = vec![
        "Content-Type: text/plain",
        "Content-Type: application/im-iscomposing+xml",
        "Content-Length: 5",
        " folded",
        "Content-ID: <x@y>",
    ];
    (
        proptest::collection::vec(proptest::sample::select(cpim), 0..6),
        proptest::collection::vec(proptest::sample::select(mime), 0..3),
        proptest::sample::select(vec!["", "hi", "x\r\n-------y"]),
        proptest::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(c, m, body, cut)| {
            let mut b = String::new();
            for l in c {
                b += l;
                b += "\r\n";
            }
            b += "\r\n";
            for l in m {
                b += l;
                b += "\r\n";
            }
            b += "\r\n";
            b += body;
            let mut v = b.into_bytes();
            if let Some(cut) = cut {
                v.truncate(cut.index(v.len() + 1));
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A space that parses message after message ([`ParseSpace`]: it resumes after the lines a
    /// message has in common with the last one) gives what a fresh parse gives, whatever the
    /// messages, options, prefixes, and whether (and into which space) messages are given back.
    #[test]
    fn a_space_parses_as_a_fresh_parser(
        msgs in proptest::collection::vec(
            (pooled_message(), any::<bool>(), 0u8..4),
            1..10,
        ),
    ) {
        let mut spaces = [ParseSpace::default(), ParseSpace::default()];
        for (k, (bytes, lenient, give_back)) in msgs.into_iter().enumerate() {
            let opts = if lenient { LENIENT } else { STRICT };
            let bytes = Bytes::from(bytes);
            let fresh = Message::parse_prefix(bytes.clone(), &opts);
            let reused = Message::parse_prefix_in(bytes.clone(), &opts, &mut spaces[0]);
            match (fresh, reused) {
                (Ok(None), Ok(None)) => {}
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (Ok(Some((a, n))), Ok(Some((b, m)))) => {
                    prop_assert_eq!(n, m);
                    prop_assert_eq!(view(&a), view(&b), "message {} {:?}", k, bytes);
                    // Mostly given back to its space; sometimes dropped, or given to another.
                    match give_back {
                        0 => drop(b),
                        1 => b.recycle(&mut spaces[1]),
                        _ => b.recycle(&mut spaces[0]),
                    }
                }
                (a, b) => prop_assert!(false, "message {}: {:?} / {:?}", k, a, b),
            }
            if k % 3 == 2 {
                spaces.swap(0, 1);
            }
        }
    }

    /// Arbitrary octets: no panic, and the prefix rule, with a small and the default bound.
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..200), cpimish_bytes()],
        lenient in any::<bool>(),
    ) {
        let base = if lenient { LENIENT } else { STRICT };
        check_prefixes(&bytes, &base);
        check_prefixes(&bytes, &base.with_max_head_bytes(48));
    }

    /// A valid message with one octet changed or inserted: no panic, the prefix rule.
    #[test]
    fn mutated_messages_keep_the_prefix_rule(
        msg in valid_message(),
        pos in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(b'\r'), Just(b'\n'), Just(b' '), Just(b':'), Just(0u8), Just(0xffu8), any::<u8>()],
        insert in any::<bool>(),
        lenient in any::<bool>(),
    ) {
        let mut m = msg;
        let i = pos.index(m.len() + 1);
        if insert || i == m.len() { m.insert(i, byte) } else { m[i] = byte }
        check_prefixes(&m, if lenient { &LENIENT } else { &STRICT });
    }

    /// What the writer writes reads back to what was given, in both modes (3862-008 escapes).
    #[test]
    fn builder_round_trip(
        name in proptest::option::of("\\PC{0,10}|[\\u{0}-\\u{7f}]{0,10}"),
        uri in "(sip|im|tel):[a-z0-9.+-]{1,10}(@[a-z]{1,8}\\.com)?",
        subject in "[\\u{0}-\\u{7f}é€😀]{0,16}",
        lang in proptest::option::of(prop::sample::select(vec!["en", "fr", "de-CH", "i-default"])),
        ext in "[\\u{0}-\\u{ff}]{1,12}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut b = Builder::new();
        b.from(name.as_deref(), &uri).unwrap();
        b.to(None, "sip:room@chat.example.com").unwrap();
        let subject_ok = !subject.is_empty() && !subject.starts_with(' ') && !subject.ends_with(' ');
        match b.subject(lang, &subject) {
            Ok(_) => prop_assert!(subject_ok),
            Err(e) => {
                prop_assert!(!subject_ok);
                prop_assert!(matches!(e, BuildError::InvalidValue(_)));
            }
        }
        b.ns(Some("ext"), "mid:ext@example.com").unwrap();
        let ext_ok = !ext.starts_with(' ') && !ext.ends_with(' ');
        prop_assert_eq!(b.header("ext.Value", &ext).is_ok(), ext_ok);
        b.content_type("application/octet-stream").unwrap();
        let out = b.build(&body).unwrap();
        for opts in [STRICT, LENIENT] {
            let m = Message::parse(out.clone(), &opts).unwrap();
            let from = m.from().unwrap();
            prop_assert_eq!(from.uri(), uri.as_str());
            let want = name.as_deref().filter(|n| !n.is_empty());
            let got = from.formal_name();
            prop_assert_eq!(got.as_deref(), want);
            prop_assert_eq!(m.single_to().unwrap().uri(), "sip:room@chat.example.com");
            if subject_ok {
                let s = m.subjects().next().unwrap();
                prop_assert_eq!(s.text(), subject.as_str());
                prop_assert_eq!(s.lang(), lang);
            }
            if ext_ok {
                let h = m.get("mid:ext@example.com", "Value").next().unwrap();
                prop_assert_eq!(h.text(), ext.as_str());
            }
            prop_assert_eq!(&m.body()[..], &body[..]);
            prop_assert_eq!(m.media_type(), "application/octet-stream");
            prop_assert_eq!(m.media_type_bytes(), m.media_type().as_bytes());
        }
        // The whole message split at a random point parses the same way.
        let cut = body.len() / 2 + (out.len() - body.len());
        let (pm, n) = Message::parse_prefix(out.slice(..cut), &STRICT).unwrap().unwrap();
        prop_assert_eq!(n, out.len() - body.len());
        let whole = Message::parse(out.clone(), &STRICT).unwrap();
        prop_assert_eq!(pm.header_block(), whole.header_block());
    }
}
