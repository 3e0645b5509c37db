//! The SDP vectors of `tests/vectors/` (copied from the RFC examples, see `INDEX.md`) against
//! `expected.json`: every `.sdp` and `.frag.sdp` parses with sdp-types, its line types,
//! attributes, m-lines and path URIs are as expected, every MSRP m-line converts to a typed
//! [`MsrpMedia`] whose attributes say what the text says, and canonical documents round-trip
//! byte for byte.
//!
//! Known SDP defects of the vectors (documented in INDEX.md, not tagged in the file names) are
//! asserted in [`known_defects`].

use std::fs;
use std::path::{Path, PathBuf};

use msrp_sdp::MsrpMedia;
use msrp_sdp::Proto;
use msrp_sdp::attr::{
    AcceptTypes, AcceptWrappedTypes, Chatroom, ConnectionAttr, Direction, FileDate,
    FileDisposition, FileIcon, FileRange, FileSelector, FileTransferId, Fingerprint, FormatEntry,
    MaxSize, MsrpAttribute, MsrpCema, PathAttr, Setup,
};
use msrp_sdp::sdp_types::{Attribute, Session};
use serde_json::Value;

/// The folder of the copied vectors.
fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// One SDP vector: its file name, text and `expect` object.
struct Vector {
    file: String,
    text: String,
    expect: Value,
}

impl Vector {
    fn is_fragment(&self) -> bool {
        self.file.ends_with(".frag.sdp")
    }
}

/// Every `kind == "sdp"` entry of expected.json with the file's text.
fn vectors() -> Vec<Vector> {
    let json = fs::read_to_string(dir().join("expected.json")).expect("expected.json");
    let all: Vec<Value> = serde_json::from_str(&json).expect("expected.json is JSON");
    all.into_iter()
        .filter(|e| e["kind"] == "sdp")
        .map(|e| {
            let file = e["file"].as_str().expect("file").to_owned();
            let text =
                fs::read_to_string(dir().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Vector {
                file,
                text,
                expect: e["expect"].clone(),
            }
        })
        .collect()
}

fn vector(name: &str) -> Vector {
    vectors()
        .into_iter()
        .find(|v| v.file == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// The synthetic header put in front of a fragment.
const WRAP_HEAD: &str = "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\n";
/// The synthetic timing line of a wrapped fragment.
const WRAP_TIME: &str = "t=0 0\r\n";

/// Makes a fragment (c=/m=/a= lines only) a canonical document: `v=`/`o=`/`s=` in front, the
/// fragment's session-level `c=` lines next, then `t=0 0`, then the rest of the fragment (RFC
/// 8866 §5 order). Without it sdp-types answers `NoVersion`.
fn wrap_fragment(frag: &str) -> String {
    let lines: Vec<&str> = frag.split_inclusive("\r\n").collect();
    let first_m = lines
        .iter()
        .position(|l| l.starts_with("m="))
        .unwrap_or(lines.len());
    let (head, media) = lines.split_at(first_m);
    let conn: String = head
        .iter()
        .filter(|l| l.starts_with("c="))
        .copied()
        .collect();
    let rest: String = head
        .iter()
        .filter(|l| !l.starts_with("c="))
        .copied()
        .collect();
    format!("{WRAP_HEAD}{conn}{WRAP_TIME}{rest}{}", media.concat())
}

/// The document as given to the parser: the file, or the wrapped fragment.
fn document(v: &Vector) -> String {
    if v.is_fragment() {
        wrap_fragment(&v.text)
    } else {
        v.text.clone()
    }
}

fn parse(v: &Vector) -> Session {
    Session::parse(document(v).as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", v.file))
}

fn write(s: &Session) -> Vec<u8> {
    let mut out = Vec::new();
    s.write(&mut out).expect("write to a Vec");
    out
}

/// The line-type letters of the parsed model in RFC 8866 §5 order; for a fragment without the
/// synthetic `v o s t` lines.
fn types_of(s: &Session, fragment: bool) -> String {
    let mut t = String::new();
    if !fragment {
        t.push_str("vos");
    }
    let opt = |t: &mut String, c: char, present: bool| {
        if present {
            t.push(c);
        }
    };
    opt(&mut t, 'i', s.session_description.is_some());
    opt(&mut t, 'u', s.uri.is_some());
    s.emails.iter().for_each(|_| t.push('e'));
    s.phones.iter().for_each(|_| t.push('p'));
    opt(&mut t, 'c', s.connection.is_some());
    s.bandwidths.iter().for_each(|_| t.push('b'));
    if !fragment {
        for time in &s.times {
            t.push('t');
            time.repeats.iter().for_each(|_| t.push('r'));
        }
    }
    opt(&mut t, 'z', !s.time_zones.is_empty());
    opt(&mut t, 'k', s.key.is_some());
    s.attributes.iter().for_each(|_| t.push('a'));
    for m in &s.medias {
        t.push('m');
        opt(&mut t, 'i', m.media_title.is_some());
        m.connections.iter().for_each(|_| t.push('c'));
        m.bandwidths.iter().for_each(|_| t.push('b'));
        opt(&mut t, 'k', m.key.is_some());
        m.attributes.iter().for_each(|_| t.push('a'));
    }
    t
}

fn attr_text(a: &Attribute) -> String {
    match &a.value {
        Some(v) => format!("{}:{v}", a.attribute),
        None => a.attribute.clone(),
    }
}

fn all_attributes(s: &Session) -> impl Iterator<Item = &Attribute> {
    s.attributes
        .iter()
        .chain(s.medias.iter().flat_map(|m| m.attributes.iter()))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_str().expect("string").to_owned())
        .collect()
}

#[test]
fn every_sdp_file_is_a_vector() {
    let vs = vectors();
    assert_eq!(vs.len(), 26, "26 SDP vectors in expected.json");
    assert_eq!(vs.iter().filter(|v| v.is_fragment()).count(), 11);
    let mut on_disk: Vec<String> = fs::read_dir(dir())
        .expect("vectors dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sdp"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = vs.iter().map(|v| v.file.clone()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn fragments_need_the_wrapper() {
    for v in vectors().iter().filter(|v| v.is_fragment()) {
        assert_eq!(
            Session::parse(v.text.as_bytes()),
            Err(msrp_sdp::sdp_types::ParserError::NoVersion),
            "{}",
            v.file
        );
    }
}

#[test]
fn parse_matches_expected_json() {
    for v in vectors() {
        let f = &v.file;
        let s = parse(&v);
        let e = &v.expect;

        let lines = e["lines"].as_u64().expect("lines") as usize;
        assert_eq!(v.text.split_terminator("\r\n").count(), lines, "{f}: lines");
        let types = e["types"].as_str().expect("types");
        assert_eq!(types.len(), lines, "{f}: types vs lines");
        assert_eq!(types_of(&s, v.is_fragment()), types, "{f}: types");

        let attrs: Vec<String> = all_attributes(&s).map(attr_text).collect();
        assert_eq!(attrs, strings(&e["attributes"]), "{f}: attributes");

        let m_lines: Vec<String> = s
            .medias
            .iter()
            .map(|m| {
                let port = match m.num_ports {
                    Some(n) => format!("{}/{n}", m.port),
                    None => m.port.to_string(),
                };
                format!("{} {port} {} {}", m.media, m.proto, m.fmt)
            })
            .collect();
        assert_eq!(m_lines, strings(&e["m_lines"]), "{f}: m_lines");

        let mut uris = Vec::new();
        for a in all_attributes(&s).filter(|a| a.attribute == PathAttr::NAME) {
            let p =
                PathAttr::parse_value(a.value.as_deref()).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(!p.0.is_empty());
            uris.extend(p.0.iter().map(|u| u.as_str().to_owned()));
        }
        match e.get("path_uris") {
            Some(expected) => assert_eq!(uris, strings(expected), "{f}: path_uris"),
            None => assert!(uris.is_empty(), "{f}: no a=path expected"),
        }
    }
}

/// Re-writes a known MSRP attribute through its typed form; `None` for other attributes.
fn retyped(a: &Attribute) -> Option<Result<Attribute, msrp_sdp::AttrError>> {
    fn via<T: MsrpAttribute>(a: &Attribute) -> Result<Attribute, msrp_sdp::AttrError> {
        T::parse_value(a.value.as_deref()).map(|t| t.to_attribute())
    }
    Some(match a.attribute.as_str() {
        PathAttr::NAME => via::<PathAttr>(a),
        AcceptTypes::NAME => via::<AcceptTypes>(a),
        AcceptWrappedTypes::NAME => via::<AcceptWrappedTypes>(a),
        MaxSize::NAME => via::<MaxSize>(a),
        Setup::NAME => via::<Setup>(a),
        ConnectionAttr::NAME => via::<ConnectionAttr>(a),
        Fingerprint::NAME => via::<Fingerprint>(a),
        Chatroom::NAME => via::<Chatroom>(a),
        MsrpCema::NAME => via::<MsrpCema>(a),
        FileSelector::NAME => via::<FileSelector>(a),
        FileTransferId::NAME => via::<FileTransferId>(a),
        FileDisposition::NAME => via::<FileDisposition>(a),
        FileDate::NAME => via::<FileDate>(a),
        FileIcon::NAME => via::<FileIcon>(a),
        FileRange::NAME => via::<FileRange>(a),
        _ => return None,
    })
}

/// Every MSRP attribute of every vector parses, and its strict form is the text as received,
/// except the RFC 4976 §11 `a=accept-types: ...` whose space after the colon is dropped
/// (4975-104).
#[test]
fn typed_attributes_write_back_as_received() {
    let mut typed = 0;
    let mut respaced = Vec::new();
    for v in vectors() {
        let s = parse(&v);
        for a in all_attributes(&s) {
            let Some(r) = retyped(a) else {
                assert!(
                    Direction::from_name(&a.attribute).is_some() && a.value.is_none(),
                    "{}: unexpected attribute {a:?}",
                    v.file
                );
                continue;
            };
            let out = r.unwrap_or_else(|e| panic!("{}: {e}", v.file));
            typed += 1;
            if out != *a {
                assert_eq!(out.attribute, a.attribute);
                assert_eq!(
                    out.value.as_deref(),
                    a.value.as_deref().map(|x| x.trim_start()),
                    "{}",
                    v.file
                );
                respaced.push(v.file.clone());
            }
        }
    }
    assert_eq!(
        typed, 87,
        "a= lines of the vectors minus the 7 direction attributes"
    );
    respaced.sort();
    assert_eq!(
        respaced,
        ["rfc4976-s11-answer.frag.sdp", "rfc4976-s11-offer.frag.sdp"]
    );
}

#[test]
fn every_msrp_m_line_converts() {
    let mut n = 0;
    for v in vectors() {
        let s = parse(&v);
        for m in &s.medias {
            let mm = MsrpMedia::from_media(&s, m)
                .unwrap_or_else(|e| panic!("{}: {e}", v.file))
                .unwrap_or_else(|| panic!("{}: not an MSRP m-line", v.file));
            n += 1;
            assert_eq!(mm.port, m.port);
            assert_eq!(mm.proto.as_str(), m.proto);
            // No vector uses a=setup, a=msrp-cema or a=file-range except where noted below.
            assert_eq!(mm.setup, None, "{}", v.file);
            assert!(!mm.cema, "{}", v.file);
            // Every m=message line of the RFCs has a=accept-types (4975-103).
            assert!(mm.accept_types.is_some(), "{}", v.file);
        }
    }
    assert_eq!(n, 23, "MSRP m-lines in the 26 vectors");
}

fn media_of(name: &str) -> (Session, MsrpMedia) {
    let s = parse(&vector(name));
    assert_eq!(s.medias.len(), 1, "{name}");
    let m = MsrpMedia::from_media(&s, &s.medias[0])
        .expect("valid")
        .expect("MSRP");
    (s, m)
}

fn ty(text: &str) -> FormatEntry {
    FormatEntry::parse(text).expect("format entry")
}

fn uris(p: &Option<PathAttr>) -> Vec<&str> {
    p.as_ref()
        .expect("a=path")
        .0
        .iter()
        .map(|u| u.as_str())
        .collect()
}

#[test]
fn typed_rfc4975() {
    let (_, m) = media_of("rfc4975-s8.2-fig7-offer.sdp");
    assert_eq!((m.port, m.proto), (7394, Proto::TcpMsrp));
    assert_eq!(m.accept_types, Some(AcceptTypes(vec![ty("text/plain")])));
    let path = m.path.as_ref().expect("path");
    assert_eq!(path.0.len(), 1);
    assert_eq!(path.last().and_then(|u| u.session_id()), Some("2s93i9ek2a"));
    assert_eq!(path.first().and_then(|u| u.port()), Some(7394));
    assert_eq!(m.direction, Direction::SendRecv);
    assert_eq!(m.max_size, None);
    assert_eq!(m.chatroom, None);

    let (_, m) = media_of("rfc4975-s8.7-fig9-offer.sdp");
    let at = m.accept_types.expect("accept-types");
    assert_eq!(
        at.0,
        vec![ty("message/cpim"), ty("text/plain"), ty("text/html")]
    );
    assert_eq!(
        at.0[0],
        FormatEntry::Type {
            essence: "message/cpim".into(),
            text: "message/cpim".into()
        }
    );
    assert!(at.accepts("text/html; charset=utf-8"));
    assert!(!at.accepts("image/png"));

    let (_, m) = media_of("rfc4975-s14.4-fig19-fingerprint.frag.sdp");
    assert_eq!(m.proto, Proto::TcpTlsMsrp);
    assert_eq!(m.fingerprints.len(), 1);
    let fp = &m.fingerprints[0];
    assert_eq!(fp.hash, "SHA-1");
    assert_eq!(
        fp.value,
        "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB"
    );
    assert_eq!(fp.bytes().len(), 20);
    assert_eq!(fp.bytes()[0], 0x4A);
    assert!(
        m.path
            .as_ref()
            .and_then(|p| p.first())
            .is_some_and(|u| u.is_secure())
    );
}

#[test]
fn typed_rfc4976_relays() {
    let (_, m) = media_of("rfc4976-s11-answer.frag.sdp");
    assert_eq!(
        uris(&m.path),
        [
            "msrps://relay.example.com:9000/hjdhfha;tcp",
            "msrps://bob.example.com:1234/fuige;tcp"
        ]
    );
    let p = m.path.expect("path");
    assert_eq!(
        p.first().map(|u| u.port()),
        Some(Some(9000)),
        "next hop (4975-101)"
    );
    assert_eq!(
        p.last().map(|u| u.port()),
        Some(Some(1234)),
        "endpoint (4975-099)"
    );
    // The space after the colon is tolerated (4975-104).
    assert_eq!(
        m.accept_types,
        Some(AcceptTypes(vec![ty("message/cpim"), ty("text/plain")]))
    );
}

#[test]
fn typed_rfc5547_file_transfer() {
    let (s, m) = media_of("rfc5547-s6-fig2-offer.sdp");
    assert_eq!(m.direction, Direction::SendOnly, "push offer (5547-008)");
    assert_eq!(m.accept_types, Some(AcceptTypes(vec![ty("message/cpim")])));
    assert_eq!(
        m.accept_wrapped_types,
        Some(AcceptWrappedTypes(vec![FormatEntry::Any]))
    );
    let fs = m.file_selector.expect("file-selector");
    assert_eq!(fs.name.as_deref(), Some("My cool picture.jpg"));
    assert_eq!(fs.decoded_name().as_deref(), Some("My cool picture.jpg"));
    assert_eq!(fs.media_type.as_deref(), Some("image/jpeg"));
    assert_eq!(fs.size, Some(32349));
    assert_eq!(
        fs.hashes,
        vec![(
            "sha-1".to_owned(),
            "72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E".to_owned()
        )]
    );
    assert_eq!(
        m.file_transfer_id,
        Some(FileTransferId("vBnG916bdberum2fFEABR1FR3ExZMUrd".into()))
    );
    assert_eq!(
        m.file_range,
        Some(FileRange {
            start: 1,
            stop: Some(32349)
        })
    );
    let attrs = &s.medias[0].attributes;
    assert_eq!(
        FileDisposition::find(attrs),
        Some(Ok(FileDisposition("attachment".into())))
    );
    assert_eq!(
        FileDate::find(attrs),
        Some(Ok(FileDate {
            creation: Some("Mon, 15 May 2006 15:01:31 +0300".into()),
            modification: None,
            read: None
        }))
    );
    assert_eq!(
        FileIcon::find(attrs),
        Some(Ok(FileIcon("cid:id2@alicepc.example.com".into())))
    );

    let (_, m) = media_of("rfc5547-s9.1-fig9-answer.sdp");
    assert_eq!(m.direction, Direction::RecvOnly, "push answer (5547-008)");
    assert_eq!(m.file_selector.and_then(|f| f.size), Some(4092));
    assert_eq!(m.file_range, None);

    let (_, m) = media_of("rfc5547-s9.2-fig15-pull-offer.sdp");
    assert_eq!(m.direction, Direction::RecvOnly, "pull offer (5547-008)");
    let fs = m.file_selector.expect("file-selector");
    assert_eq!((fs.name, fs.size, fs.media_type), (None, None, None));
    assert_eq!(fs.hashes.len(), 1);

    let (_, m) = media_of("rfc5547-s9.2-fig16-pull-answer.sdp");
    assert_eq!(m.direction, Direction::SendOnly, "pull answer (5547-008)");
    let fs = m.file_selector.expect("file-selector");
    assert_eq!(fs.media_type.as_deref(), Some("image/jpeg"));
    assert_eq!(fs.hashes[0].0, "sha-1");

    let (_, m) = media_of("rfc5547-s9.3-fig24-capability.sdp");
    assert_eq!(m.port, 0);
    assert_eq!(m.path, None);
    assert_eq!(m.max_size, Some(MaxSize(20000)));
    let fs = m.file_selector.expect("empty file-selector");
    assert!(fs.is_empty(), "capability query (5547-019)");
    assert_eq!(fs, FileSelector::default());
}

#[test]
fn typed_rfc7701_chat() {
    let (_, m) = media_of("rfc7701-s9.1-F1-invite-offer.sdp");
    assert_eq!(
        m.chatroom,
        Some(Chatroom {
            nickname: true,
            private_messages: true,
            extensions: vec![]
        })
    );
    assert!(
        m.accept_types
            .expect("accept-types")
            .accepts("message/cpim")
    );

    let (_, m) = media_of("rfc7701-s9.1-F2-200-answer.sdp");
    assert_eq!(
        m.accept_types,
        Some(AcceptTypes(vec![ty("message/cpim")])),
        "7701-003"
    );
    assert_eq!(
        m.accept_wrapped_types,
        Some(AcceptWrappedTypes(vec![
            ty("text/plain"),
            ty("text/html"),
            FormatEntry::Any
        ]))
    );
    assert!(
        m.chatroom
            .as_ref()
            .is_some_and(|c| c.nickname && c.private_messages)
    );

    let frag = |name: &str| {
        let s = parse(&vector(name));
        assert!(s.medias.is_empty());
        Chatroom::find(&s.attributes)
            .expect("a=chatroom")
            .expect("valid")
    };
    let c = frag("rfc7701-s8-chatroom-attr-1.frag.sdp");
    assert!(c.nickname && c.private_messages && c.extensions.is_empty());
    assert_eq!(
        frag("rfc7701-s8-chatroom-attr-2.frag.sdp"),
        Chatroom::default()
    );
    let c = frag("rfc7701-s8-chatroom-attr-3.frag.sdp");
    assert!(c.nickname && c.private_messages);
    assert_eq!(c.extensions, ["com.example.chat.foo"]);
}

#[test]
fn typed_rfc7977_websocket() {
    let (_, m) = media_of("rfc7977-s8.2.1-offer.frag.sdp");
    assert_eq!(m.proto, Proto::TcpTlsMsrp, "7977-007");
    let p = m.path.expect("path");
    let last = p.last().expect("uri");
    assert_eq!(last.transport(), "ws");
    assert!(
        matches!(last.host(), msrp::Host::Name(h) if h.ends_with(".invalid")),
        "7977-006"
    );
    assert_eq!(p.first().map(|u| u.transport()), Some("tcp"));

    let (_, m) = media_of("rfc7977-s8.4.1-answer.frag.sdp");
    assert_eq!(
        uris(&m.path),
        [
            "msrps://relay.example.net:2855/kwvin5f;tcp",
            "msrps://bob.example.com:49154/foo;tcp"
        ]
    );
}

/// 13 of the 15 full documents are canonical and round-trip byte for byte; the two RFC 7701
/// §9.1 bodies have no `t=` line (8866-009), and the writer inserts `t=0 0` after `c=`.
#[test]
fn full_documents_round_trip() {
    let mut same = 0;
    let mut differ = Vec::new();
    for v in vectors().iter().filter(|v| !v.is_fragment()) {
        let s = parse(v);
        let out = write(&s);
        if out == v.text.as_bytes() {
            same += 1;
            // And the model survives a second parse.
            assert_eq!(Session::parse(&out).as_ref(), Ok(&s));
            continue;
        }
        assert!(
            s.times.is_empty(),
            "{}: only a missing t= may differ",
            v.file
        );
        let with_t = v.text.replacen("\r\nm=", "\r\nt=0 0\r\nm=", 1);
        assert_eq!(
            String::from_utf8_lossy(&out),
            with_t,
            "{}: the only change is the inserted t=0 0",
            v.file
        );
        differ.push(v.file.clone());
    }
    assert_eq!(same, 13);
    assert_eq!(
        differ,
        [
            "rfc7701-s9.1-F1-invite-offer.sdp",
            "rfc7701-s9.1-F2-200-answer.sdp"
        ]
    );
}

#[test]
fn wrapped_fragments_round_trip() {
    let mut n = 0;
    for v in vectors().iter().filter(|v| v.is_fragment()) {
        let doc = document(v);
        let out = write(&parse(v));
        assert_eq!(String::from_utf8_lossy(&out), doc, "{}", v.file);
        n += 1;
    }
    assert_eq!(n, 11);
}

/// Defects of the vectors that INDEX.md documents but the file names do not tag.
#[test]
fn known_defects() {
    // Empty s= in the RFC 5547 full documents except fig24 (8866-007).
    let mut empty_s: Vec<String> = vectors()
        .iter()
        .filter(|v| !v.is_fragment() && parse(v).session_name.is_empty())
        .map(|v| v.file.clone())
        .collect();
    empty_s.sort();
    assert_eq!(empty_s.len(), 7);
    assert!(empty_s.iter().all(|f| f.starts_with("rfc5547-")));
    assert_eq!(
        parse(&vector("rfc5547-s9.3-fig24-capability.sdp")).session_name,
        "-"
    );

    // No t= in RFC 7701 §9.1 F1/F2 (8866-009).
    for f in [
        "rfc7701-s9.1-F1-invite-offer.sdp",
        "rfc7701-s9.1-F2-200-answer.sdp",
    ] {
        assert!(parse(&vector(f)).times.is_empty(), "{f}");
    }

    // A space after `accept-types:` in RFC 4976 §11 (4975-104): kept raw, tolerated typed.
    for f in ["rfc4976-s11-offer.frag.sdp", "rfc4976-s11-answer.frag.sdp"] {
        let s = parse(&vector(f));
        let raw = s.medias[0]
            .get_first_attribute_value(AcceptTypes::NAME)
            .flatten()
            .expect("accept-types");
        assert!(raw.starts_with(' '), "{f}");
        let at = AcceptTypes::find(&s.medias[0].attributes)
            .expect("present")
            .expect("lenient");
        assert_eq!(at.to_value().as_deref(), Some(raw.trim_start()));
    }

    // RFC 7977 §8.3.1 offer: m-line port 1234, every path URI 2855 (4975-097).
    let (_, m) = media_of("rfc7977-s8.3.1-offer.frag.sdp");
    assert_eq!(m.port, 1234);
    let p = m.path.expect("path");
    assert!(p.0.iter().all(|u| u.port() == Some(2855)));

    // RFC 5547 fig20 re-answer carries file-disposition, which §8.3.1 forbids (5547-012).
    let s = parse(&vector("rfc5547-s9.2-fig20-reanswer.sdp"));
    let a = &s.medias[0].attributes;
    assert_eq!(Direction::of(a), Direction::RecvOnly, "an answer to a push");
    assert_eq!(
        FileDisposition::find(a),
        Some(Ok(FileDisposition("render".into())))
    );

    // RFC 4975 §14.4: the hash is named `SHA-1` (upper case) and is written back as received.
    let (_, m) = media_of("rfc4975-s14.4-fig19-fingerprint.frag.sdp");
    assert_eq!(
        m.fingerprints[0].to_value().as_deref(),
        Some("SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB")
    );
}

#[test]
fn wrapper_places_c_before_t() {
    assert_eq!(
        wrap_fragment("c=IN IP4 h\r\nm=message 1 TCP/MSRP *\r\na=x\r\n"),
        "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nm=message 1 TCP/MSRP *\r\na=x\r\n"
    );
    assert_eq!(
        wrap_fragment("a=chatroom\r\n"),
        "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=chatroom\r\n"
    );
}
