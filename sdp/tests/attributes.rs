//! The typed attributes of `msrp_sdp::attr`: proptest round trips (value -> `to_value` ->
//! `parse_value` gives it back), malformed values (each an `AttrError` naming the attribute),
//! lenient inputs, format-entry matching, directions, and `MsrpMedia::from_media`.

use msrp::MsrpUri;
use msrp_sdp::attr::{
    AcceptTypes, AcceptWrappedTypes, Chatroom, ConnectionAttr, Direction, FileDate,
    FileDisposition, FileIcon, FileRange, FileSelector, FileTransferId, Fingerprint, FormatEntry,
    MaxSize, MsrpAttribute, MsrpCema, PathAttr, Setup,
};
use msrp_sdp::sdp_types::{Attribute, Session};
use msrp_sdp::{AttrError, MsrpMedia, Proto, SdpError};
use proptest::prelude::*;

// ---------------------------------------------------------------- strategies

fn uri() -> impl Strategy<Value = MsrpUri> {
    (
        any::<bool>(),
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{1,5}){0,3}",
        1u16..,
        "[A-Za-z0-9]{1,12}",
        prop_oneof![Just("tcp"), Just("ws")],
    )
        .prop_map(|(secure, host, port, sid, transport)| {
            MsrpUri::new(secure, &host, Some(port), Some(&sid), transport).expect("valid URI")
        })
}

/// A `type/subtype` in mixed case, with an optional parameter.
fn media_type_text() -> impl Strategy<Value = String> {
    (
        "[A-Za-z][A-Za-z0-9]{0,7}",
        "[A-Za-z][A-Za-z0-9]{0,5}([.+-][a-z0-9]{1,5})?",
        proptest::option::of("[a-z]{1,6}=[a-z0-9-]{1,6}"),
    )
        .prop_map(|(t, s, p)| match p {
            Some(p) => format!("{t}/{s};{p}"),
            None => format!("{t}/{s}"),
        })
}

fn format_entry() -> impl Strategy<Value = FormatEntry> {
    prop_oneof![
        Just(FormatEntry::Any),
        "[a-z][a-z0-9]{0,7}".prop_map(FormatEntry::TypeWildcard),
        media_type_text().prop_map(|text| {
            let essence = text
                .split(';')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            FormatEntry::Type { essence, text }
        }),
    ]
}

fn hex_pairs(max: usize) -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(any::<u8>(), 1..max),
        any::<bool>(),
    )
        .prop_map(|(bytes, upper)| {
            bytes
                .iter()
                .map(|b| {
                    if upper {
                        format!("{b:02X}")
                    } else {
                        format!("{b:02x}")
                    }
                })
                .collect::<Vec<_>>()
                .join(":")
        })
}

/// An RFC 8866 token.
const TOKEN: &str = "[!#$%&'*+.0-9A-Z^_`a-z{|}~-]{1,24}";

fn file_selector() -> impl Strategy<Value = FileSelector> {
    (
        proptest::option::of("([A-Za-z0-9 ._()'-]|%[0-9A-F]{2}){1,20}"),
        proptest::option::of(any::<u64>()),
        proptest::option::of(prop_oneof![
            Just("image/jpeg".to_owned()),
            Just("text/plain;charset=\"utf-8\"".to_owned()),
            media_type_text(),
        ]),
        proptest::collection::vec(
            (
                prop_oneof![Just("sha-1"), Just("sha-256"), Just("md5")],
                hex_pairs(33),
            )
                .prop_map(|(a, v)| (a.to_owned(), v)),
            0..3,
        ),
    )
        .prop_map(|(name, size, media_type, hashes)| FileSelector {
            name,
            size,
            media_type,
            hashes,
        })
}

fn date() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[A-Za-z0-9 ,:+-]{1,31}")
}

// ---------------------------------------------------------------- round trips

/// `to_value` -> `parse_value` gives `value` back, and `to_attribute` names the attribute.
fn round_trip<T: MsrpAttribute + PartialEq + Clone + std::fmt::Debug>(
    value: &T,
) -> Result<(), TestCaseError> {
    let text = value.to_value();
    let back = T::parse_value(text.as_deref());
    prop_assert_eq!(back.as_ref(), Ok(value), "text {:?}", text);
    let attr = value.to_attribute();
    prop_assert_eq!(&attr.attribute, T::NAME);
    prop_assert_eq!(&attr.value, &text);
    prop_assert_eq!(
        T::find(&[Attribute::new("other"), attr]),
        Some(Ok(value.clone()))
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn path_round_trip(uris in proptest::collection::vec(uri(), 1..5)) {
        let p = PathAttr(uris);
        round_trip(&p)?;
        // Written with single SPs, URIs as received.
        let want: Vec<&str> = p.0.iter().map(MsrpUri::as_str).collect();
        prop_assert_eq!(p.to_value(), Some(want.join(" ")));
    }

    #[test]
    fn path_lenient_spacing(uris in proptest::collection::vec(uri(), 1..5), gaps in proptest::collection::vec("[ \t]{1,4}", 6)) {
        // Runs of spaces/tabs around and between URIs (4975-098 says one SP; we accept more).
        let mut text = gaps[0].clone();
        for (i, u) in uris.iter().enumerate() {
            text.push_str(u.as_str());
            text.push_str(&gaps[i + 1]);
        }
        let p = PathAttr::parse_value(Some(&text)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(p, PathAttr(uris));
    }

    #[test]
    fn accept_types_round_trip(entries in proptest::collection::vec(format_entry(), 1..6)) {
        round_trip(&AcceptTypes(entries.clone()))?;
        round_trip(&AcceptWrappedTypes(entries))?;
    }

    #[test]
    fn accept_types_lenient_spacing(entries in proptest::collection::vec(format_entry(), 1..6), lead in "[ \t]{0,3}") {
        // A space after the colon (RFC 4976 §11, 4975-104) and double spaces between entries.
        let text: Vec<String> = entries.iter().map(|e| e.as_str().into_owned()).collect();
        let messy = format!("{lead}{}  ", text.join("  "));
        prop_assert_eq!(AcceptTypes::parse_value(Some(&messy)), Ok(AcceptTypes(entries)));
    }

    #[test]
    fn format_entry_type_matches_itself(text in media_type_text()) {
        let e = FormatEntry::parse(&text).map_err(TestCaseError::fail)?;
        let essence = text.split(';').next().unwrap_or_default();
        prop_assert!(e.matches(essence));
        prop_assert!(e.matches(&essence.to_ascii_uppercase()));
        let with_param = format!("{essence};charset=utf-8");
        let longer = format!("{essence}x");
        prop_assert!(e.matches(&with_param));
        prop_assert!(!e.matches(&longer));
        prop_assert_eq!(e.as_str(), text.as_str());
    }

    #[test]
    fn max_size_round_trip(n in any::<u64>()) {
        round_trip(&MaxSize(n))?;
    }

    #[test]
    fn setup_round_trip(s in prop_oneof![Just(Setup::Active), Just(Setup::Passive), Just(Setup::ActPass), Just(Setup::HoldConn)]) {
        round_trip(&s)?;
        prop_assert_eq!(Setup::parse_value(Some(&format!(" {} ", s.as_str().to_ascii_uppercase()))), Ok(s));
    }

    #[test]
    fn connection_round_trip(c in prop_oneof![Just(ConnectionAttr::New), Just(ConnectionAttr::Existing)]) {
        round_trip(&c)?;
    }

    #[test]
    fn fingerprint_round_trip(hash in prop_oneof![Just("sha-1".to_owned()), Just("SHA-256".to_owned()), TOKEN.prop_map(String::from)], value in hex_pairs(65)) {
        let f = Fingerprint { hash, value };
        round_trip(&f)?;
        let n = f.value.split(':').count();
        prop_assert_eq!(f.bytes().len(), n);
    }

    #[test]
    fn chatroom_round_trip(nickname in any::<bool>(), private_messages in any::<bool>(), ext in proptest::collection::vec("[a-z]{2,6}(\\.[a-z0-9-]{1,6}){1,3}", 0..4)) {
        let mut extensions: Vec<String> = Vec::new();
        for e in ext {
            if !extensions.iter().any(|x| x.eq_ignore_ascii_case(&e)) {
                extensions.push(e);
            }
        }
        let c = Chatroom { nickname, private_messages, extensions };
        round_trip(&c)?;
        prop_assert_eq!(c.to_value().is_none(), c == Chatroom::default());
    }

    #[test]
    fn file_selector_round_trip(fs in file_selector()) {
        round_trip(&fs)?;
        prop_assert_eq!(fs.to_value().is_none(), fs.is_empty());
    }

    #[test]
    fn file_transfer_id_round_trip(id in TOKEN) {
        round_trip(&FileTransferId(id))?;
    }

    #[test]
    fn file_disposition_round_trip(d in TOKEN) {
        round_trip(&FileDisposition(d))?;
    }

    #[test]
    fn file_date_round_trip(creation in date(), modification in date(), read in date()) {
        prop_assume!(creation.is_some() || modification.is_some() || read.is_some());
        round_trip(&FileDate { creation, modification, read })?;
    }

    #[test]
    fn file_icon_round_trip(cid in "[A-Za-z0-9.@_%-]{1,30}") {
        round_trip(&FileIcon(format!("cid:{cid}")))?;
    }

    #[test]
    fn file_range_round_trip((start, stop) in (1u64..).prop_flat_map(|s| (Just(s), proptest::option::of(s..)))) {
        round_trip(&FileRange { start, stop })?;
    }

    #[test]
    fn parsers_never_panic(name_ix in 0usize..15, value in proptest::option::of("[ -~\t]{0,40}|\\PC{0,20}|[ a-z:\"%*/é]{0,30}")) {
        // Any printable input gives Ok or an error that names the attribute.
        let v = value.as_deref();
        let name = match name_ix {
            0 => PathAttr::parse_value(v).err().map(|e| (e, PathAttr::NAME)),
            1 => AcceptTypes::parse_value(v).err().map(|e| (e, AcceptTypes::NAME)),
            2 => AcceptWrappedTypes::parse_value(v).err().map(|e| (e, AcceptWrappedTypes::NAME)),
            3 => MaxSize::parse_value(v).err().map(|e| (e, MaxSize::NAME)),
            4 => Setup::parse_value(v).err().map(|e| (e, Setup::NAME)),
            5 => ConnectionAttr::parse_value(v).err().map(|e| (e, ConnectionAttr::NAME)),
            6 => Fingerprint::parse_value(v).err().map(|e| (e, Fingerprint::NAME)),
            7 => Chatroom::parse_value(v).err().map(|e| (e, Chatroom::NAME)),
            8 => MsrpCema::parse_value(v).err().map(|e| (e, MsrpCema::NAME)),
            9 => FileSelector::parse_value(v).err().map(|e| (e, FileSelector::NAME)),
            10 => FileTransferId::parse_value(v).err().map(|e| (e, FileTransferId::NAME)),
            11 => FileDisposition::parse_value(v).err().map(|e| (e, FileDisposition::NAME)),
            12 => FileDate::parse_value(v).err().map(|e| (e, FileDate::NAME)),
            13 => FileIcon::parse_value(v).err().map(|e| (e, FileIcon::NAME)),
            _ => FileRange::parse_value(v).err().map(|e| (e, FileRange::NAME)),
        };
        if let Some((e, n)) = name {
            prop_assert_eq!(e.name(), n);
            let shown = e.to_string();
            prop_assert!(shown.starts_with(&format!("a={n}: ")), "{}", shown);
        }
    }
}

#[test]
fn cema_round_trip() {
    assert_eq!(MsrpCema.to_value(), None);
    assert_eq!(MsrpCema.to_attribute(), Attribute::new("msrp-cema"));
    assert_eq!(MsrpCema::parse_value(None), Ok(MsrpCema));
    assert_eq!(
        MsrpCema::find(&[Attribute::new("MSRP-CEMA")]),
        Some(Ok(MsrpCema))
    );
    assert_eq!(MsrpCema::find(&[Attribute::new("msrp")]), None);
}

// ---------------------------------------------------------------- malformed values

/// The error of parsing `value` as `T`; panics if it parses.
fn err<T: MsrpAttribute + std::fmt::Debug>(value: Option<&str>) -> AttrError {
    match T::parse_value(value) {
        Ok(v) => panic!("a={}:{value:?} parsed as {v:?}", T::NAME),
        Err(e) => e,
    }
}

#[test]
fn malformed_values_name_the_attribute() {
    let cases: Vec<(&str, Option<&str>, AttrError)> = vec![
        // a=path (4975-098, 4976-040)
        ("path", None, err::<PathAttr>(None)),
        ("path", Some(""), err::<PathAttr>(Some(""))),
        ("path", Some("   "), err::<PathAttr>(Some("   "))),
        (
            "path",
            Some("http://a.example.com:1/s;tcp"),
            err::<PathAttr>(Some("http://a.example.com:1/s;tcp")),
        ),
        (
            "path",
            Some("msrp://a.example.com/s;tcp"),
            err::<PathAttr>(Some("msrp://a.example.com/s;tcp")),
        ),
        (
            "path",
            Some("msrp://a.example.com:1/s;tcp msrp://b.example.com/s;tcp"),
            err::<PathAttr>(Some(
                "msrp://a.example.com:1/s;tcp msrp://b.example.com/s;tcp",
            )),
        ),
        (
            "path",
            Some("msrp://a.example.com:99999/s;tcp"),
            err::<PathAttr>(Some("msrp://a.example.com:99999/s;tcp")),
        ),
        (
            "path",
            Some("msrp://a.example.com:1/s"),
            err::<PathAttr>(Some("msrp://a.example.com:1/s")),
        ),
        // a=accept-types (4975-103/104)
        ("accept-types", None, err::<AcceptTypes>(None)),
        ("accept-types", Some(" "), err::<AcceptTypes>(Some(" "))),
        (
            "accept-types",
            Some("text"),
            err::<AcceptTypes>(Some("text")),
        ),
        (
            "accept-types",
            Some("text/"),
            err::<AcceptTypes>(Some("text/")),
        ),
        (
            "accept-types",
            Some("/plain"),
            err::<AcceptTypes>(Some("/plain")),
        ),
        (
            "accept-types",
            Some("*/plain"),
            err::<AcceptTypes>(Some("*/plain")),
        ),
        (
            "accept-types",
            Some("text/plain **"),
            err::<AcceptTypes>(Some("text/plain **")),
        ),
        (
            "accept-types",
            Some("text/pl@in"),
            err::<AcceptTypes>(Some("text/pl@in")),
        ),
        (
            "accept-wrapped-types",
            Some("foo"),
            err::<AcceptWrappedTypes>(Some("foo")),
        ),
        (
            "accept-wrapped-types",
            None,
            err::<AcceptWrappedTypes>(None),
        ),
        // a=max-size (4975-108)
        ("max-size", None, err::<MaxSize>(None)),
        ("max-size", Some("-1"), err::<MaxSize>(Some("-1"))),
        ("max-size", Some("+5"), err::<MaxSize>(Some("+5"))),
        ("max-size", Some("12x"), err::<MaxSize>(Some("12x"))),
        ("max-size", Some("1.5"), err::<MaxSize>(Some("1.5"))),
        ("max-size", Some("1 2"), err::<MaxSize>(Some("1 2"))),
        (
            "max-size",
            Some("18446744073709551616"),
            err::<MaxSize>(Some("18446744073709551616")),
        ),
        // a=setup (4145-001)
        ("setup", None, err::<Setup>(None)),
        ("setup", Some("both"), err::<Setup>(Some("both"))),
        (
            "setup",
            Some("active passive"),
            err::<Setup>(Some("active passive")),
        ),
        // a=connection (4145-006)
        (
            "connection",
            Some("old"),
            err::<ConnectionAttr>(Some("old")),
        ),
        ("connection", None, err::<ConnectionAttr>(None)),
        // a=fingerprint (RFC 8122 §5, 4975-095)
        ("fingerprint", None, err::<Fingerprint>(None)),
        (
            "fingerprint",
            Some("SHA-1"),
            err::<Fingerprint>(Some("SHA-1")),
        ),
        (
            "fingerprint",
            Some("SHA-1 4A:AD extra"),
            err::<Fingerprint>(Some("SHA-1 4A:AD extra")),
        ),
        (
            "fingerprint",
            Some("SHA-1 4A:A"),
            err::<Fingerprint>(Some("SHA-1 4A:A")),
        ),
        (
            "fingerprint",
            Some("SHA-1 4AAD"),
            err::<Fingerprint>(Some("SHA-1 4AAD")),
        ),
        (
            "fingerprint",
            Some("SHA-1 4A:ZZ"),
            err::<Fingerprint>(Some("SHA-1 4A:ZZ")),
        ),
        (
            "fingerprint",
            Some("SHA-1 4A::AD"),
            err::<Fingerprint>(Some("SHA-1 4A::AD")),
        ),
        (
            "fingerprint",
            Some("sh@1 4A:AD"),
            err::<Fingerprint>(Some("sh@1 4A:AD")),
        ),
        // a=chatroom (7701-005/006)
        (
            "chatroom",
            Some("nickname nickname"),
            err::<Chatroom>(Some("nickname nickname")),
        ),
        (
            "chatroom",
            Some("nickname nicknames"),
            err::<Chatroom>(Some("nickname nicknames")),
        ),
        (
            "chatroom",
            Some("private-messages PRIVATE-MESSAGES"),
            err::<Chatroom>(Some("private-messages PRIVATE-MESSAGES")),
        ),
        (
            "chatroom",
            Some("com.x.y com.x.y"),
            err::<Chatroom>(Some("com.x.y com.x.y")),
        ),
        (
            "chatroom",
            Some("nickname (x)"),
            err::<Chatroom>(Some("nickname (x)")),
        ),
        // a=msrp-cema (6714-001)
        ("msrp-cema", Some("yes"), err::<MsrpCema>(Some("yes"))),
        // a=file-selector (5547-002..004)
        (
            "file-selector",
            Some("name:noquotes"),
            err::<FileSelector>(Some("name:noquotes")),
        ),
        (
            "file-selector",
            Some("name:\"open"),
            err::<FileSelector>(Some("name:\"open")),
        ),
        (
            "file-selector",
            Some("name:\"\""),
            err::<FileSelector>(Some("name:\"\"")),
        ),
        (
            "file-selector",
            Some("name:\"a%zz\""),
            err::<FileSelector>(Some("name:\"a%zz\"")),
        ),
        (
            "file-selector",
            Some("name:\"a\" name:\"b\""),
            err::<FileSelector>(Some("name:\"a\" name:\"b\"")),
        ),
        (
            "file-selector",
            Some("size:abc"),
            err::<FileSelector>(Some("size:abc")),
        ),
        (
            "file-selector",
            Some("size:-1"),
            err::<FileSelector>(Some("size:-1")),
        ),
        (
            "file-selector",
            Some("size:1 size:1"),
            err::<FileSelector>(Some("size:1 size:1")),
        ),
        (
            "file-selector",
            Some("type:text"),
            err::<FileSelector>(Some("type:text")),
        ),
        (
            "file-selector",
            Some("type:image/*"),
            err::<FileSelector>(Some("type:image/*")),
        ),
        (
            "file-selector",
            Some("type:a/b type:c/d"),
            err::<FileSelector>(Some("type:a/b type:c/d")),
        ),
        (
            "file-selector",
            Some("hash:sha-1"),
            err::<FileSelector>(Some("hash:sha-1")),
        ),
        (
            "file-selector",
            Some("hash:sha-1:ZZ"),
            err::<FileSelector>(Some("hash:sha-1:ZZ")),
        ),
        (
            "file-selector",
            Some("hash::AB"),
            err::<FileSelector>(Some("hash::AB")),
        ),
        (
            "file-selector",
            Some("color:red"),
            err::<FileSelector>(Some("color:red")),
        ),
        (
            "file-selector",
            Some("justtext"),
            err::<FileSelector>(Some("justtext")),
        ),
        // a=file-transfer-id (5547-005), a=file-disposition (5547-016)
        ("file-transfer-id", None, err::<FileTransferId>(None)),
        (
            "file-transfer-id",
            Some("a b"),
            err::<FileTransferId>(Some("a b")),
        ),
        (
            "file-transfer-id",
            Some("a\"b"),
            err::<FileTransferId>(Some("a\"b")),
        ),
        (
            "file-disposition",
            Some(""),
            err::<FileDisposition>(Some("")),
        ),
        (
            "file-disposition",
            Some("x y"),
            err::<FileDisposition>(Some("x y")),
        ),
        // a=file-date (5547-016)
        ("file-date", None, err::<FileDate>(None)),
        (
            "file-date",
            Some("creation:Mon"),
            err::<FileDate>(Some("creation:Mon")),
        ),
        (
            "file-date",
            Some("creation:\"a\" creation:\"b\""),
            err::<FileDate>(Some("creation:\"a\" creation:\"b\"")),
        ),
        (
            "file-date",
            Some("birth:\"x\""),
            err::<FileDate>(Some("birth:\"x\"")),
        ),
        (
            "file-date",
            Some("creation:\"unterminated"),
            err::<FileDate>(Some("creation:\"unterminated")),
        ),
        ("file-date", Some("\"x\""), err::<FileDate>(Some("\"x\""))),
        // a=file-icon (5547-016)
        (
            "file-icon",
            Some("http://x.example.com/i.png"),
            err::<FileIcon>(Some("http://x.example.com/i.png")),
        ),
        ("file-icon", Some("cid:"), err::<FileIcon>(Some("cid:"))),
        (
            "file-icon",
            Some("cid:a b"),
            err::<FileIcon>(Some("cid:a b")),
        ),
        // a=file-range (5547-015)
        ("file-range", None, err::<FileRange>(None)),
        ("file-range", Some("5"), err::<FileRange>(Some("5"))),
        ("file-range", Some("0-10"), err::<FileRange>(Some("0-10"))),
        ("file-range", Some("10-5"), err::<FileRange>(Some("10-5"))),
        ("file-range", Some("a-*"), err::<FileRange>(Some("a-*"))),
        ("file-range", Some("1-x"), err::<FileRange>(Some("1-x"))),
        ("file-range", Some("-5"), err::<FileRange>(Some("-5"))),
        ("file-range", Some("1-2-3"), err::<FileRange>(Some("1-2-3"))),
    ];
    for (name, value, e) in &cases {
        assert_eq!(e.name(), *name, "{value:?}: {e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("a={name}: ")), "{shown}");
    }
    assert_eq!(cases.len(), 82);
}

#[test]
fn error_kinds_and_reasons() {
    assert_eq!(
        err::<PathAttr>(None),
        AttrError::MissingValue { name: "path" }
    );
    assert_eq!(err::<PathAttr>(None).to_string(), "a=path: value missing");
    assert_eq!(
        err::<PathAttr>(Some("http://a.example.com:1/s;tcp")),
        AttrError::Uri {
            name: "path",
            source: msrp::UriError::Scheme
        }
    );
    let no_port = err::<PathAttr>(Some("msrp://a.example.com/s;tcp")).to_string();
    assert!(no_port.contains("no explicit port"), "{no_port}");
    let rep = err::<Chatroom>(Some("nickname nicknames")).to_string();
    assert!(rep.contains("repeated"), "{rep}");
    let ms = err::<MaxSize>(Some("12x")).to_string();
    assert_eq!(ms, "a=max-size: not a decimal number: \"12x\"");
    let ft = err::<AcceptTypes>(Some("text/plain */x")).to_string();
    assert!(ft.starts_with("a=accept-types: \"*/x\""), "{ft}");
}

// ---------------------------------------------------------------- lenient inputs

#[test]
fn lenient_inputs() {
    // A space after the colon (RFC 4976 §11, 4975-104) and runs of spaces; written strictly.
    let at = AcceptTypes::parse_value(Some(" message/cpim  text/plain\t")).expect("lenient");
    assert_eq!(at.to_value().as_deref(), Some("message/cpim text/plain"));
    assert_eq!(
        AcceptTypes::parse_value(Some("*/*")),
        Ok(AcceptTypes(vec![FormatEntry::Any]))
    );
    assert_eq!(
        AcceptTypes::parse_value(Some("Text/*")),
        Ok(AcceptTypes(vec![FormatEntry::TypeWildcard("text".into())]))
    );

    // `nicknames` (RFC 7701 §8 prose) is read as `nickname` and written as `nickname` (7701-008).
    let c = Chatroom::parse_value(Some("nicknames private-messages")).expect("lenient");
    assert!(c.nickname && c.private_messages);
    assert_eq!(c.to_value().as_deref(), Some("nickname private-messages"));
    assert!(
        Chatroom::parse_value(Some("NICKNAME"))
            .expect("case")
            .nickname
    );
    assert_eq!(Chatroom::parse_value(Some("")), Ok(Chatroom::default()));
    assert_eq!(Chatroom::parse_value(None), Ok(Chatroom::default()));
    let c = Chatroom::parse_value(Some("private-messages  nickname com.example.x")).expect("order");
    assert_eq!(
        c.to_value().as_deref(),
        Some("nickname private-messages com.example.x")
    );

    // Hash names in any case, kept as received; several spaces; lower-case hex.
    let f = Fingerprint::parse_value(Some(" SHA-256   ab:CD:0f ")).expect("lenient");
    assert_eq!(
        f,
        Fingerprint {
            hash: "SHA-256".into(),
            value: "ab:CD:0f".into()
        }
    );
    assert_eq!(f.to_value().as_deref(), Some("SHA-256 ab:CD:0f"));
    assert_eq!(f.bytes(), vec![0xab, 0xcd, 0x0f]);
    assert!(f.same_as(&Fingerprint {
        hash: "sha-256".into(),
        value: "AB:cd:0F".into()
    }));
    assert!(!f.same_as(&Fingerprint {
        hash: "sha-1".into(),
        value: "AB:CD:0F".into()
    }));

    // Several spaces between path URIs, and around them.
    let p = PathAttr::parse_value(Some(
        "  msrp://relay.example.com:9000/a;tcp   msrps://bob.example.com:1234/b;tcp ",
    ))
    .expect("lenient");
    assert_eq!(p.0.len(), 2);
    assert_eq!(
        p.to_value().as_deref(),
        Some("msrp://relay.example.com:9000/a;tcp msrps://bob.example.com:1234/b;tcp")
    );
    assert_eq!(
        p.first().map(MsrpUri::as_str),
        Some("msrp://relay.example.com:9000/a;tcp")
    );
    assert_eq!(
        p.last().map(MsrpUri::as_str),
        Some("msrps://bob.example.com:1234/b;tcp")
    );
    assert_eq!(PathAttr(vec![]).first(), None);

    // Keywords in any case, surrounding spaces.
    assert_eq!(Setup::parse_value(Some(" ActPass ")), Ok(Setup::ActPass));
    assert_eq!(Setup::ActPass.to_value().as_deref(), Some("actpass"));
    assert_eq!(
        ConnectionAttr::parse_value(Some("EXISTING")),
        Ok(ConnectionAttr::Existing)
    );
    assert_eq!(MaxSize::parse_value(Some(" 20000 ")), Ok(MaxSize(20000)));
    assert_eq!(MsrpCema::parse_value(Some(" ")), Ok(MsrpCema));

    // Selector names in any case, runs of spaces, quoted names with spaces.
    let fs = FileSelector::parse_value(Some(
        "  NAME:\"My  file%22.txt\"   Size:5  TYPE:text/plain HASH:SHA-1:AB:CD hash:sha-256:01",
    ))
    .expect("lenient");
    assert_eq!(fs.name.as_deref(), Some("My  file%22.txt"));
    assert_eq!(fs.decoded_name().as_deref(), Some("My  file\".txt"));
    assert_eq!(fs.size, Some(5));
    assert_eq!(fs.media_type.as_deref(), Some("text/plain"));
    assert_eq!(
        fs.hashes,
        vec![
            ("SHA-1".to_owned(), "AB:CD".to_owned()),
            ("sha-256".to_owned(), "01".to_owned())
        ]
    );
    assert_eq!(
        fs.to_value().as_deref(),
        Some("name:\"My  file%22.txt\" type:text/plain size:5 hash:SHA-1:AB:CD hash:sha-256:01")
    );
    // A file type with a quoted parameter.
    let fs = FileSelector::parse_value(Some("type:text/plain;charset=\"utf-8\"")).expect("param");
    assert_eq!(
        fs.media_type.as_deref(),
        Some("text/plain;charset=\"utf-8\"")
    );
    // An empty value is a capability query (5547-019).
    assert_eq!(
        FileSelector::parse_value(Some("  ")),
        Ok(FileSelector::default())
    );
    assert_eq!(
        FileSelector::default().to_attribute(),
        Attribute::new("file-selector")
    );

    let d = FileDate::parse_value(Some(
        "READ:\"Mon, 15 May 2006 15:01:31 +0300\"  creation:\"Sun, 14 May 2006 10:00:00 +0300\"",
    ))
    .expect("lenient");
    assert_eq!(d.read.as_deref(), Some("Mon, 15 May 2006 15:01:31 +0300"));
    assert_eq!(
        d.to_value().as_deref(),
        Some(
            "creation:\"Sun, 14 May 2006 10:00:00 +0300\" read:\"Mon, 15 May 2006 15:01:31 +0300\""
        )
    );
    assert_eq!(
        FileRange::parse_value(Some(" 1 - * ")),
        Ok(FileRange {
            start: 1,
            stop: None
        })
    );
    assert_eq!(
        FileRange {
            start: 7,
            stop: None
        }
        .to_value()
        .as_deref(),
        Some("7-*")
    );
    assert_eq!(
        FileIcon::parse_value(Some("CID:id2@alicepc.example.com")),
        Ok(FileIcon("CID:id2@alicepc.example.com".into()))
    );
}

/// `find` matches names ASCII case-insensitively and takes the first of several.
#[test]
fn find_first_by_name() {
    let attrs = [
        Attribute::new("sendonly"),
        Attribute::with_value("Max-Size", "10"),
        Attribute::with_value("max-size", "20"),
    ];
    assert_eq!(MaxSize::find(&attrs), Some(Ok(MaxSize(10))));
    assert_eq!(Setup::find(&attrs), None);
    assert_eq!(
        MaxSize::find(&[Attribute::with_value("max-size", "x")])
            .and_then(Result::err)
            .map(|e| e.name()),
        Some("max-size")
    );
}

// ---------------------------------------------------------------- matching

#[test]
fn format_entry_matches() {
    let table: &[(&str, &str, bool)] = &[
        ("*", "text/plain", true),
        ("*", "message/cpim", true),
        ("*/*", "image/png", true),
        ("text/*", "text/plain", true),
        ("text/*", "TEXT/HTML", true),
        ("TEXT/*", "text/html", true),
        ("text/*", "image/png", false),
        ("text/*", "text", false),
        ("text/*", "textx/plain", false),
        ("text/plain", "text/plain", true),
        ("text/plain", "text/plain;charset=utf-8", true),
        ("text/plain", "text/plain ; charset=utf-8", true),
        ("text/plain;charset=utf-8", "text/plain", true),
        (
            "text/plain;charset=utf-8",
            "text/plain;charset=iso-8859-1",
            true,
        ),
        ("Text/Plain", "text/plain", true),
        ("message/cpim", "Message/CPIM", true),
        ("text/plain", "text/html", false),
        ("text/plain", "text/plainx", false),
        ("text/plain", "text", false),
        ("text/plain", "", false),
        (
            "application/vnd.example+xml",
            "application/vnd.example+xml",
            true,
        ),
    ];
    for (entry, essence, want) in table {
        let e = FormatEntry::parse(entry).unwrap_or_else(|r| panic!("{entry}: {r}"));
        assert_eq!(e.matches(essence), *want, "{entry} vs {essence}");
    }
}

#[test]
fn format_entry_parse_and_write() {
    assert_eq!(FormatEntry::parse("*"), Ok(FormatEntry::Any));
    assert_eq!(
        FormatEntry::parse("Message/CPIM"),
        Ok(FormatEntry::Type {
            essence: "message/cpim".into(),
            text: "Message/CPIM".into()
        })
    );
    assert_eq!(
        FormatEntry::parse("text/plain;charset=UTF-8").map(|e| e.as_str().into_owned()),
        Ok("text/plain;charset=UTF-8".to_owned())
    );
    assert_eq!(FormatEntry::TypeWildcard("text".into()).as_str(), "text/*");
    assert_eq!(
        FormatEntry::TypeWildcard("text".into()).to_string(),
        "text/*"
    );
    assert_eq!(FormatEntry::Any.as_str(), "*");
    assert_eq!(
        FormatEntry::media_type("message/cpim"),
        FormatEntry::parse("message/cpim").ok()
    );
    assert_eq!(FormatEntry::media_type("text/*"), None);
    assert_eq!(FormatEntry::media_type("text/plain;a=b"), None);
    for bad in ["", "text", "text/", "/x", "*/x", "**", "text /plain"] {
        assert!(FormatEntry::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn format_entry_overlaps() {
    let table: &[(&str, &str, bool)] = &[
        ("*", "text/plain", true),
        ("text/plain", "*", true),
        ("text/*", "text/plain", true),
        ("text/plain", "text/*", true),
        ("text/*", "text/*", true),
        ("text/*", "image/*", false),
        ("text/*", "image/png", false),
        ("text/plain", "TEXT/PLAIN;charset=utf-8", true),
        ("text/plain", "text/html", false),
        ("message/cpim", "*", true),
    ];
    for (a, b, want) in table {
        let (a_, b_) = (
            FormatEntry::parse(a).expect(a),
            FormatEntry::parse(b).expect(b),
        );
        assert_eq!(a_.overlaps(&b_), *want, "{a} vs {b}");
        assert_eq!(b_.overlaps(&a_), *want, "{b} vs {a} (symmetric)");
    }
}

#[test]
fn accepts_tables() {
    let at = AcceptTypes::parse_value(Some("message/cpim text/*")).expect("valid");
    assert!(at.accepts("message/cpim"));
    assert!(at.accepts("Message/CPIM"));
    assert!(at.accepts("text/html;charset=utf-8"));
    assert!(!at.accepts("image/png"));
    assert!(!at.accepts("message/imdn+xml"));
    let any = AcceptTypes::parse_value(Some("*")).expect("valid");
    assert!(any.accepts("application/octet-stream"));
    let wr = AcceptWrappedTypes::parse_value(Some("text/plain image/*")).expect("valid");
    assert!(wr.accepts("image/jpeg"));
    assert!(wr.accepts("text/plain; charset=utf-8"));
    assert!(!wr.accepts("text/html"));
    assert!(!AcceptTypes(vec![]).accepts("text/plain"));
}

// ---------------------------------------------------------------- direction

#[test]
fn direction() {
    assert_eq!(Direction::of(&[]), Direction::SendRecv);
    assert_eq!(Direction::default(), Direction::SendRecv);
    assert_eq!(
        Direction::of(&[
            Attribute::with_value("path", "x"),
            Attribute::new("RecvOnly")
        ]),
        Direction::RecvOnly
    );
    assert_eq!(
        Direction::find(&[Attribute::new("inactive"), Attribute::new("sendonly")]),
        Some(Direction::Inactive)
    );
    assert_eq!(Direction::find(&[Attribute::new("setup")]), None);
    // RFC 3264 §6.1 (3264-005).
    let table = [
        (Direction::SendRecv, Direction::SendRecv),
        (Direction::SendOnly, Direction::RecvOnly),
        (Direction::RecvOnly, Direction::SendOnly),
        (Direction::Inactive, Direction::Inactive),
    ];
    for (offer, answer) in table {
        assert_eq!(offer.answer(), answer);
        assert_eq!(Direction::from_name(offer.name()), Some(offer));
        assert_eq!(offer.to_attribute(), Attribute::new(offer.name()));
    }
    assert_eq!(Direction::SendOnly.name(), "sendonly");
    assert_eq!(Direction::from_name("SENDRECV"), Some(Direction::SendRecv));
    assert_eq!(Direction::from_name("send"), None);
}

// ---------------------------------------------------------------- MsrpMedia

fn session(text: &str) -> Session {
    Session::parse(text.replace('\n', "\r\n").as_bytes()).expect("SDP")
}

#[test]
fn from_media_inherits_session_level() {
    let s = session(
        "v=0\n\
         o=- 1 1 IN IP4 h.example.com\n\
         s=-\n\
         c=IN IP4 h.example.com\n\
         t=0 0\n\
         a=setup:passive\n\
         a=fingerprint:sha-256 AB:CD\n\
         a=fingerprint:sha-1 01:02\n\
         a=sendonly\n\
         m=message 7654 tcp/tls/msrp *\n\
         a=accept-types:message/cpim\n\
         a=path:msrps://h.example.com:7654/s;tcp\n\
         m=message 7655 TCP/TLS/MSRP *\n\
         a=accept-types:message/cpim\n\
         a=path:msrps://h.example.com:7655/t;tcp\n\
         a=setup:actpass\n\
         a=fingerprint:sha-1 0A:0B\n\
         a=recvonly\n\
         a=msrp-cema\n\
         a=connection:bogus\n",
    );
    let m0 = MsrpMedia::from_media(&s, &s.medias[0])
        .expect("valid")
        .expect("MSRP");
    assert_eq!(m0.proto, Proto::TcpTlsMsrp);
    assert_eq!(m0.setup, Some(Setup::Passive));
    assert_eq!(m0.fingerprints.len(), 2);
    assert_eq!(m0.fingerprints[1].hash, "sha-1");
    assert_eq!(m0.direction, Direction::SendOnly);
    assert!(!m0.cema);

    // Media-level values win; a=connection is ignored even when bogus (6135-007).
    let m1 = MsrpMedia::from_media(&s, &s.medias[1])
        .expect("valid")
        .expect("MSRP");
    assert_eq!(m1.setup, Some(Setup::ActPass));
    assert_eq!(
        m1.fingerprints,
        vec![Fingerprint {
            hash: "sha-1".into(),
            value: "0A:0B".into()
        }]
    );
    assert_eq!(m1.direction, Direction::RecvOnly);
    assert!(m1.cema);
    assert_eq!(m1.port, 7655);
}

#[test]
fn from_media_skips_other_media() {
    let s = session(
        "v=0\n\
         o=- 1 1 IN IP4 h.example.com\n\
         s=-\n\
         t=0 0\n\
         m=audio 4000 RTP/AVP 0\n\
         m=message 4002 RTP/AVP 0\n\
         m=Message 4004 TCP/WSS/MSRP *\n\
         a=accept-types:*\n",
    );
    assert_eq!(MsrpMedia::from_media(&s, &s.medias[0]), Ok(None));
    assert_eq!(MsrpMedia::from_media(&s, &s.medias[1]), Ok(None));
    let m = MsrpMedia::from_media(&s, &s.medias[2])
        .expect("valid")
        .expect("MSRP");
    assert_eq!(m.proto, Proto::TcpWssMsrp);
    assert_eq!(m.path, None);
    assert_eq!(m.accept_types, Some(AcceptTypes(vec![FormatEntry::Any])));
    assert_eq!(m.direction, Direction::SendRecv);
    assert_eq!(m.fingerprints, vec![]);
}

#[test]
fn from_media_reports_the_bad_attribute() {
    for (line, name) in [
        ("a=path:msrp://h.example.com/s;tcp", "path"),
        ("a=accept-types:text", "accept-types"),
        ("a=accept-wrapped-types:", "accept-wrapped-types"),
        ("a=max-size:big", "max-size"),
        ("a=setup:sideways", "setup"),
        ("a=fingerprint:sha-1", "fingerprint"),
        ("a=chatroom:nickname nickname", "chatroom"),
        ("a=msrp-cema:1", "msrp-cema"),
        ("a=file-selector:size:x", "file-selector"),
        ("a=file-transfer-id:a\"b", "file-transfer-id"),
        ("a=file-range:9-1", "file-range"),
    ] {
        let s = session(&format!(
            "v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nm=message 1 TCP/MSRP *\n{line}\n"
        ));
        let e = MsrpMedia::from_media(&s, &s.medias[0]).expect_err(line);
        assert_eq!(e.name(), name, "{line}: {e}");
    }
    // A bad session-level setup is reported when the media inherits it.
    let s = session("v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\na=setup:x\nm=message 1 TCP/MSRP *\n");
    assert_eq!(
        MsrpMedia::from_media(&s, &s.medias[0]).map_err(|e| e.name()),
        Err("setup")
    );
}

#[test]
fn sdp_error_display() {
    let e = SdpError::Attr {
        media: Some(1),
        source: AttrError::MissingValue { name: "path" },
    };
    assert_eq!(e.to_string(), "m-line 1: a=path: value missing");
    assert!(std::error::Error::source(&e).is_some());
    let e = SdpError::Attr {
        media: None,
        source: AttrError::MissingValue { name: "setup" },
    };
    assert_eq!(e.to_string(), "session level: a=setup: value missing");
    let e = SdpError::Media {
        media: 0,
        reason: "no a=path".into(),
    };
    assert_eq!(e.to_string(), "m-line 0: no a=path");
    let parse = Session::parse(b"v=0\r\nm=message 99999 TCP/MSRP *\r\n").expect_err("bad port");
    let e = SdpError::from(parse);
    let shown = e.to_string();
    assert!(
        shown.starts_with("SDP does not parse: ") && shown.contains("line 2"),
        "{shown}"
    );
}
