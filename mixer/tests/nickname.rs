//! Nicknames (RFC 7701 §7) through the public API: the RFC 7701 §9.2 example frames
//! (tests/vectors, copied from the project's RFC vector set) decoded with `msrp::FrameDecoder`
//! and driven through a `NicknameTable`, then the table's rules one by one.

use std::path::PathBuf;

use bytes::BytesMut;
use msrp::{DecoderConfig, Frame, FrameDecoder, Method, StatusCode};
use msrp_mixer::nickname::{
    MAX_OCTETS, NickError, Nickname, NicknameTable, Outcome, UseNickname, decode_error_status,
    prepare, use_nickname,
};

type Table = NicknameTable<String, String>;

fn vector(name: &str) -> Frame {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    decode_one(&std::fs::read(&path).unwrap())
}

fn decode_one(bytes: &[u8]) -> Frame {
    let mut dec = FrameDecoder::new(DecoderConfig::default(), 1 << 16);
    let mut buf = BytesMut::from(bytes);
    let frame = dec.decode(&mut buf).unwrap().expect("one whole frame");
    assert!(buf.is_empty(), "nothing after the frame");
    frame
}

/// The session key used here: the sender's From-Path URI.
fn session(f: &Frame) -> String {
    f.head.from_path().last().unwrap().to_string()
}

fn p(s: &str) -> String {
    s.to_owned()
}

const ALICE: &str = "sip:alice@atlanta.example.com";
const BOB: &str = "sip:bob@biloxi.example.com";

/// RFC 7701 §9.2: Alice asks for "Alice the great" (F1), which is taken, and gets 425 (F2);
/// she asks for "Alice in Wonderland" (F3) and gets 200 (F4).
#[test]
fn rfc7701_s9_2_vectors() {
    let f1 = vector("rfc7701-s9.2-F1-nickname.msrp");
    let f2 = vector("rfc7701-s9.2-F2-425.msrp");
    let f3 = vector("rfc7701-s9.2-F3-nickname.msrp");
    let f4 = vector("rfc7701-s9.2-F4-200.msrp");
    assert_eq!(f1.head.method(), Some(&Method::Nickname));
    assert_eq!(f3.head.method(), Some(&Method::Nickname));
    assert_eq!(
        use_nickname(&f1.head).map(|n| &**n),
        Some("Alice the great")
    );
    assert_eq!(
        use_nickname(&f3.head).map(|n| &**n),
        Some("Alice in Wonderland")
    );
    assert_eq!(f1.head.tid, f2.head.tid);
    assert_eq!(f3.head.tid, f4.head.tid);

    let mut t = Table::new();
    // Somebody else already uses the nickname (in another case: the profile compares).
    t.request(
        true,
        &p(BOB),
        &p("msrp://bob.example.com:1/b;tcp"),
        "alice THE great",
    )
    .unwrap();
    let alice_session = session(&f1);
    assert_eq!(alice_session, session(&f3));

    let e = t
        .request_head(true, &p(ALICE), &alice_session, &f1.head)
        .unwrap_err();
    assert_eq!(e, NickError::InUse);
    assert_eq!(Some(e.status()), f2.head.status());
    assert_eq!(e.status().as_u16(), 425);
    assert_eq!(t.nickname_of(&p(ALICE)), None);

    let ok = t
        .request_head(true, &p(ALICE), &alice_session, &f3.head)
        .unwrap();
    assert_eq!(Some(ok.status()), f4.head.status());
    assert_eq!(ok.nickname().unwrap().as_str(), "Alice in Wonderland");
    assert_eq!(t.lookup("alice in wonderland"), Some(&p(ALICE)));
    assert_eq!(
        t.nickname_of_session(&alice_session).unwrap().as_str(),
        "Alice in Wonderland"
    );
    assert_eq!(t.lookup("Alice the great"), Some(&p(BOB)));

    // The same exchange where the nickname is a reserved word instead (F2's reason phrase:
    // "Nickname reserved or already in use").
    let mut t = Table::with_reserved(["Alice the Great"]).unwrap();
    let e = t
        .request_head(true, &p(ALICE), &alice_session, &f1.head)
        .unwrap_err();
    assert_eq!(e, NickError::Reserved);
    assert_eq!(Some(e.status()), f2.head.status());
    assert!(
        t.request_head(true, &p(ALICE), &alice_session, &f3.head)
            .is_ok()
    );
}

/// A NICKNAME without Use-Nickname (7701-027) answers 400; a Use-Nickname that is not a quoted
/// string fails in the decoder and answers 424; an HTAB inside the quotes passes the decoder
/// (qdtext allows it) and the profile refuses it with 424.
#[test]
fn frames_with_bad_values() {
    let head = "MSRP a786hjs2 NICKNAME\r\nTo-Path: msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp\r\nFrom-Path: msrp://client.atlanta.example.com:7654/jshA7weztas;tcp\r\n";
    let mut t = Table::new();

    let missing = decode_one(format!("{head}-------a786hjs2$\r\n").as_bytes());
    let e = t
        .request_head(true, &p(ALICE), &p("s"), &missing.head)
        .unwrap_err();
    assert_eq!(e, NickError::Missing);
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    // Policy still comes first.
    assert_eq!(
        t.request_head(false, &p(ALICE), &p("s"), &missing.head),
        Err(NickError::Forbidden)
    );

    let tab = decode_one(
        format!("{head}Use-Nickname: \"Alice\tthe great\"\r\n-------a786hjs2$\r\n").as_bytes(),
    );
    let e = t
        .request_head(true, &p(ALICE), &p("s"), &tab.head)
        .unwrap_err();
    assert_eq!(
        e,
        NickError::Disallowed {
            code_point: 9,
            position: 5
        }
    );
    assert_eq!(e.status().as_u16(), 424);

    let escaped = decode_one(
        format!("{head}Use-Nickname: \"Alice \\\"the\\\" great\"\r\n-------a786hjs2$\r\n")
            .as_bytes(),
    );
    let ok = t
        .request_head(true, &p(ALICE), &p("s"), &escaped.head)
        .unwrap();
    assert_eq!(ok.nickname().unwrap().as_str(), "Alice \"the\" great");

    let release =
        decode_one(format!("{head}Use-Nickname: \"\"\r\n-------a786hjs2$\r\n").as_bytes());
    assert_eq!(
        t.request_head(true, &p(ALICE), &p("s"), &release.head),
        Ok(Outcome::Released {
            previous: Some(Nickname::new("Alice \"the\" great").unwrap())
        })
    );

    for bad in ["Use-Nickname: Alice", "Use-Nickname: \"Alice\" x"] {
        let bytes = format!("{head}{bad}\r\n-------a786hjs2$\r\n");
        let mut dec = FrameDecoder::new(DecoderConfig::default(), 1 << 16);
        let mut buf = BytesMut::from(bytes.as_bytes());
        let err = dec.decode(&mut buf).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            decode_error_status(&err),
            Some(StatusCode::BAD_NICKNAME),
            "{bad}"
        );
    }
    // Other decode errors are not nickname errors.
    let bytes = format!("{head}Byte-Range: x\r\n-------a786hjs2$\r\n");
    let mut dec = FrameDecoder::new(DecoderConfig::default(), 1 << 16);
    let err = dec
        .decode(&mut BytesMut::from(bytes.as_bytes()))
        .unwrap_err();
    assert_eq!(decode_error_status(&err), None);
}

#[test]
fn set_change_release() {
    let mut t = Table::new();
    let s = p("s1");
    assert_eq!(
        t.request(true, &p(ALICE), &s, "  Alice  "),
        Ok(Outcome::Set {
            nickname: Nickname::new("Alice").unwrap(),
            previous: None
        })
    );
    assert_eq!(t.nickname_of(&p(ALICE)).unwrap().as_str(), "Alice");
    assert_eq!(t.len(), 1);

    // Change: the old one is released in the same step.
    let out = t.request(true, &p(ALICE), &s, "Wonder").unwrap();
    assert_eq!(
        out,
        Outcome::Set {
            nickname: Nickname::new("Wonder").unwrap(),
            previous: Some(Nickname::new("Alice").unwrap())
        }
    );
    assert_eq!(t.lookup("Alice"), None);
    assert_eq!(t.lookup("wonder"), Some(&p(ALICE)));
    assert_eq!(t.len(), 1);
    t.request(true, &p(BOB), &p("s2"), "alice")
        .expect("released, so free for others");

    // The holder asking again in another form: 200, shown form updated.
    let out = t.request(true, &p(ALICE), &s, "ＷＯＮＤＥＲ").unwrap();
    assert_eq!(out.nickname().unwrap().as_str(), "WONDER");
    assert_eq!(t.nickname_of(&p(ALICE)).unwrap().as_str(), "WONDER");
    assert_eq!(t.len(), 2);

    // Release with "" (RFC 7701 §7.3).
    assert_eq!(
        t.request(true, &p(ALICE), &s, ""),
        Ok(Outcome::Released {
            previous: Some(Nickname::new("wonder").unwrap())
        })
    );
    assert_eq!(t.nickname_of(&p(ALICE)), None);
    assert_eq!(t.lookup("Wonder"), None);
    // Releasing again is still 200.
    assert_eq!(
        t.request(true, &p(ALICE), &s, ""),
        Ok(Outcome::Released { previous: None })
    );
    assert_eq!(t.len(), 1);
}

#[test]
fn conflicts_across_case_width_and_spaces() {
    let mut t = Table::new();
    t.request(true, &p(ALICE), &p("a"), "Alice the great")
        .unwrap();
    for variant in [
        "Alice the great",
        "alice the great",
        "ALICE THE GREAT",
        "alice the great ",
        "  alice   the   great",
        "Ａｌｉｃｅ ｔｈｅ ｇｒｅａｔ",
        "Alice\u{3000}the\u{a0}great",
        "\u{1d400}lice the great", // MATHEMATICAL BOLD CAPITAL A
    ] {
        assert_eq!(
            t.request(true, &p(BOB), &p("b"), variant),
            Err(NickError::InUse),
            "{variant:?}"
        );
        assert_eq!(t.lookup(variant), Some(&p(ALICE)), "{variant:?}");
    }
    assert_eq!(t.nickname_of(&p(BOB)), None);
    // Confusable but different (RFC 7701 §7.1: "BOY" and "B0Y").
    t.request(true, &p(ALICE), &p("a"), "BOY").unwrap();
    t.request(true, &p(BOB), &p("b"), "B0Y").unwrap();
    assert_eq!(t.lookup("boy"), Some(&p(ALICE)));
    assert_eq!(t.lookup("b0y"), Some(&p(BOB)));
    // Invalid strings are never found.
    assert_eq!(t.lookup(""), None);
    assert_eq!(t.lookup("BOY\u{7}"), None);
}

#[test]
fn reserved_words() {
    let mut t = Table::with_reserved(["admin", "moderator"]).unwrap();
    for raw in ["admin", "Admin", " ADMIN ", "ａｄｍｉｎ", "Moderator"] {
        let e = t.request(true, &p(ALICE), &p("a"), raw).unwrap_err();
        assert_eq!(e, NickError::Reserved, "{raw:?}");
        assert_eq!(e.status(), StatusCode::NICKNAME_IN_USE);
    }
    assert!(t.is_empty());
    t.request(true, &p(ALICE), &p("a"), "administrator")
        .unwrap();
    assert!(t.is_reserved("MODERATOR"));
    assert!(!t.is_reserved("administrator"));
}

#[test]
fn policy_forbids() {
    let mut t = Table::new();
    t.request(true, &p(ALICE), &p("a"), "Alice").unwrap();
    for raw in ["Bob", "", "\u{7}"] {
        let e = t.request(false, &p(ALICE), &p("a"), raw).unwrap_err();
        assert_eq!(e, NickError::Forbidden, "{raw:?}: 403 before anything else");
        assert_eq!(e.status().as_u16(), 403);
    }
    assert_eq!(t.nickname_of(&p(ALICE)).unwrap().as_str(), "Alice");
}

#[test]
fn malformed_values_answer_424() {
    let cases: &[(&str, NickError)] = &[
        (
            "Alice\u{0}",
            NickError::Disallowed {
                code_point: 0,
                position: 5,
            },
        ),
        (
            "Alice\r\nBob",
            NickError::Disallowed {
                code_point: 0x0d,
                position: 5,
            },
        ),
        (
            "\u{1b}[31mred",
            NickError::Disallowed {
                code_point: 0x1b,
                position: 0,
            },
        ),
        (
            "Ali\u{200b}ce",
            NickError::Disallowed {
                code_point: 0x200b,
                position: 3,
            },
        ),
        (
            "\u{e000}",
            NickError::Disallowed {
                code_point: 0xe000,
                position: 0,
            },
        ),
        (" ", NickError::Empty),
        ("     ", NickError::Empty),
        ("\u{2003}\u{3000}", NickError::Empty),
    ];
    let mut t = Table::new();
    t.request(true, &p(ALICE), &p("a"), "Alice").unwrap();
    for (raw, want) in cases {
        assert_eq!(prepare(raw).as_ref(), Err(want), "{raw:?}");
        let e = t.request(true, &p(ALICE), &p("a"), raw).unwrap_err();
        assert_eq!(&e, want, "{raw:?}");
        assert_eq!(e.status(), StatusCode::BAD_NICKNAME, "{raw:?}");
        assert_eq!(e.status().as_u16(), 424);
        // The old nickname is kept (7701-031).
        assert_eq!(t.nickname_of(&p(ALICE)).unwrap().as_str(), "Alice");
    }

    let long = "x".repeat(MAX_OCTETS + 1);
    let e = t.request(true, &p(ALICE), &p("a"), &long).unwrap_err();
    assert_eq!(e, NickError::TooLong { octets: 1024 });
    assert_eq!(e.status().as_u16(), 424);
    // Exactly 1023 octets of three-octet characters (341 characters) is fine; one more is not.
    let ok = "\u{20ac}".repeat(341);
    assert_eq!(ok.len(), MAX_OCTETS);
    assert!(matches!(prepare(&ok), Ok(UseNickname::Set(_))));
    assert_eq!(
        prepare(&format!("{ok}x")),
        Err(NickError::TooLong { octets: 1024 })
    );
    assert_eq!(t.nickname_of(&p(ALICE)).unwrap().as_str(), "Alice");
}

/// One user joined from two devices (RFC 7701 §7.1): the nickname is the user's; it stays while
/// any of the user's sessions remains; other users cannot take it meanwhile.
#[test]
fn several_sessions_of_one_participant() {
    let mut t = Table::new();
    t.join(&p(ALICE), &p("phone"));
    t.join(&p(ALICE), &p("laptop"));
    // Joining assigns nothing (7701-030).
    assert_eq!(t.nickname_of_session(&p("phone")), None);
    assert!(t.is_empty());

    t.request(true, &p(ALICE), &p("phone"), "Alice").unwrap();
    assert_eq!(
        t.nickname_of_session(&p("laptop")).unwrap().as_str(),
        "Alice"
    );
    // The same user from the other device may ask for the same nickname: 200, nothing released.
    assert_eq!(
        t.request(true, &p(ALICE), &p("laptop"), "alice"),
        Ok(Outcome::Set {
            nickname: Nickname::new("alice").unwrap(),
            previous: Some(Nickname::new("Alice").unwrap())
        })
    );
    assert_eq!(t.len(), 1);
    // Or change it from there: one nickname per user, so this replaces it.
    t.request(true, &p(ALICE), &p("laptop"), "Alice2").unwrap();
    assert_eq!(
        t.nickname_of_session(&p("phone")).unwrap().as_str(),
        "Alice2"
    );
    assert_eq!(t.lookup("alice"), None);
    assert_eq!(t.len(), 1);

    // Leaving one device keeps the nickname; another user cannot take it.
    assert_eq!(t.leave_session(&p("phone")), None);
    assert_eq!(
        t.request(true, &p(BOB), &p("b"), "alice2"),
        Err(NickError::InUse)
    );
    assert_eq!(t.sessions_of(&p(ALICE)), &[p("laptop")]);
    // Leaving the last one releases it (reserved "as long as the participant is logged in").
    assert_eq!(
        t.leave_session(&p("laptop")).map(|n| n.as_str().to_owned()),
        Some(p("Alice2"))
    );
    assert_eq!(t.participant_of(&p("laptop")), None);
    t.request(true, &p(BOB), &p("b"), "alice2").unwrap();
    assert_eq!(t.lookup("ALICE2"), Some(&p(BOB)));
}

#[test]
fn release_on_leave() {
    let mut t = Table::new();
    t.request(true, &p(ALICE), &p("a1"), "Alice").unwrap();
    t.join(&p(ALICE), &p("a2"));
    t.request(true, &p(BOB), &p("b"), "Bob").unwrap();
    let mut roster: Vec<_> = t
        .iter()
        .map(|(who, n)| (who.clone(), n.as_str().to_owned()))
        .collect();
    roster.sort();
    assert_eq!(
        roster,
        [(p(ALICE), p("Alice")), (p(BOB), p("Bob"))].to_vec()
    );

    assert_eq!(
        t.leave_participant(&p(ALICE)),
        Some(Nickname::new("Alice").unwrap())
    );
    assert_eq!(t.lookup("Alice"), None);
    assert_eq!(t.participant_of(&p("a1")), None);
    assert_eq!(t.participant_of(&p("a2")), None);
    assert_eq!(t.len(), 1);
    assert_eq!(t.leave_participant(&p(ALICE)), None);
    // Free for somebody else now.
    t.request(true, &p("sip:carol@example.com"), &p("c"), "ALICE")
        .unwrap();
    // A participant without a nickname leaves without releasing anything.
    t.join(&p("sip:dave@example.com"), &p("d"));
    assert_eq!(t.leave_session(&p("d")), None);
    assert_eq!(t.len(), 2);
}
