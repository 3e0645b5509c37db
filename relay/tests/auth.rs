//! AUTH handling end to end at the frame level (RFC 4976 §5.1, §6.3, §9.1, §10.3): the RFC's
//! §5.1 example frames (tests/vectors, copied from the project's RFC vector set) decode and their
//! Digest headers read into the typed views; an [`Authenticator`] answers AUTH frames that went
//! through the `msrp` decoder, and its responses are encoded, decoded again and checked the way a
//! client would check them.
//!
//! The RFC 4976 §5.1 digests cannot be recomputed: the `response` of AUTH 49fi is, octet for
//! octet, the RFC 2617 §3.5 example's (user Mufasa, method GET, uri /dir/index.html), copied into
//! an example with user Alice and method AUTH; the others come from unpublished passwords. The
//! vectors are checked for structure; the digest math is checked against RFC 2617 §3.5.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use msrp::{
    DecoderConfig, Flag, Frame, FrameDecoder, Head, Header, MsrpUri, StartLine, StatusCode,
};
use msrp_relay::ConnId;
use msrp_relay::auth::{
    AuthConfig, AuthDecision, AuthOutcome, Authenticator, ChallengeReason, Secret, response_head,
};
use msrp_relay::digest::{self, AuthInfo, Challenge, Credentials, DigestError};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn decode_all(bytes: &[u8]) -> Option<Frame> {
    let mut dec = FrameDecoder::new(DecoderConfig::default(), 10240);
    let mut buf = BytesMut::from(bytes);
    dec.decode(&mut buf).expect("decodes")
}

fn decode(bytes: &[u8]) -> Head {
    let f = decode_all(bytes).expect("a whole frame");
    assert_eq!(f.flag, Flag::Last);
    assert_eq!(f.body, None);
    f.head
}

fn vector(name: &str) -> Head {
    decode(&std::fs::read(dir().join(name)).unwrap())
}

fn encode(h: &Head) -> Vec<u8> {
    Frame {
        head: h.clone(),
        body: None,
        flag: Flag::Last,
    }
    .to_bytes()
    .to_vec()
}

fn www_authenticate(h: &Head) -> &msrp::AuthParams {
    h.find(|h| match h {
        Header::WwwAuthenticate(a) => Some(a),
        _ => None,
    })
    .expect("WWW-Authenticate")
}

fn authorization(h: &Head) -> &msrp::AuthParams {
    h.find(|h| match h {
        Header::Authorization(a) => Some(a),
        _ => None,
    })
    .expect("Authorization")
}

fn authentication_info(h: &Head) -> &msrp::AuthParams {
    h.find(|h| match h {
        Header::AuthenticationInfo(a) => Some(a),
        _ => None,
    })
    .expect("Authentication-Info")
}

fn use_path(h: &Head) -> Vec<String> {
    h.find(|h| match h {
        Header::UsePath(p) => Some(p.iter().map(|u| u.as_str().to_owned()).collect()),
        _ => None,
    })
    .expect("Use-Path")
}

// ---------------------------------------------------------------------------------------------
// The RFC 4976 vectors

/// Every RFC 4976 frame decodes with the body size, flag and headers `expected.json` lists, in order, with the same
/// values (Digest headers compared after parsing, since their separators are normalised when
/// written); the truncated `-NO-ENDLINE` frame makes the decoder wait.
#[test]
fn rfc4976_vectors_decode_as_expected() {
    let expected: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir().join("expected.json")).unwrap()).unwrap();
    let mut seen = 0;
    for e in expected
        .iter()
        .filter(|e| e["rfc"] == "4976" && e["kind"] == "msrp")
    {
        let file = e["file"].as_str().unwrap();
        let x = &e["expect"];
        let bytes = std::fs::read(dir().join(file)).unwrap();
        seen += 1;
        if x["complete_frame"] == false {
            assert!(file.contains("NO-ENDLINE"));
            assert_eq!(decode_all(&bytes), None, "{file}: must wait for more");
            continue;
        }
        let f = decode_all(&bytes).expect("a whole frame");
        assert_eq!(f.body.is_some(), x["has_body"] == true, "{file}");
        assert_eq!(
            f.body.as_ref().map_or(0, |b| b.len() as u64),
            x["body_octets"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            char::from(f.flag.byte()).to_string(),
            x["end_line_flag"].as_str().unwrap()
        );
        let h = f.head;
        assert_eq!(&*h.tid, x["transact_id"].as_str().unwrap(), "{file}");
        match &h.start {
            StartLine::Request(m) => assert_eq!(m.as_str(), x["method"], "{file}"),
            StartLine::Response { status, .. } => {
                assert_eq!(u64::from(status.as_u16()), x["status"], "{file}")
            }
        }
        let want = x["headers"].as_array().unwrap();
        assert_eq!(h.headers.len(), want.len(), "{file}");
        for (got, w) in h.headers.iter().zip(want) {
            let (name, value) = (w[0].as_str().unwrap(), w[1].as_str().unwrap());
            assert_eq!(got.name(), name, "{file}");
            let text = msrp::ByteString::from(value.to_owned());
            let reparsed = Header::parse(&text, name, &text).unwrap();
            assert_eq!(*got, reparsed, "{file}: {name}");
            if !matches!(
                got,
                Header::WwwAuthenticate(_)
                    | Header::Authorization(_)
                    | Header::AuthenticationInfo(_)
            ) {
                assert_eq!(got.to_string(), format!("{name}: {value}"), "{file}");
            }
        }
    }
    let files = std::fs::read_dir(dir())
        .unwrap()
        .filter(|f| {
            let n = f.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            n.starts_with("rfc4976-") && n.ends_with(".msrp")
        })
        .count();
    assert_eq!((seen, files), (21, 21), "every vector has an oracle entry");
}

/// The three §5.1 challenges read as Digest challenges: realm, nonce, `qop="auth"`, no stale,
/// no opaque (4976-004, 4976-008).
#[test]
fn rfc4976_challenges_parse() {
    for (file, realm, nonce) in [
        (
            "rfc4976-s5.1-401-49fh.msrp",
            "intra.example.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        ),
        (
            "rfc4976-s5.1-401-m2nbvw.msrp",
            "extra.example.com",
            "Uumu8cAV38FGsEF31VLevIbNXj9HWO",
        ),
        (
            "rfc4976-s5.1-401-mnbvw.msrp",
            "extra.example.com",
            "Uumu8cAV38FGsEF31VLevIbNXj9HWO",
        ),
    ] {
        let h = vector(file);
        assert_eq!(h.status(), Some(StatusCode::UNAUTHORIZED), "{file}");
        let w = www_authenticate(&h);
        let qop = w.params.iter().find(|p| &*p.name == "qop").unwrap();
        assert!(qop.quoted, "{file}: qop quoted in a challenge (4976-008)");
        let c = Challenge::parse(w).unwrap();
        assert_eq!(
            c,
            Challenge {
                realm: realm.into(),
                nonce: nonce.into(),
                opaque: None,
                stale: false
            },
            "{file}"
        );
    }
}

/// The three §5.1 Authorization headers read as credentials: no `uri` (the RFC's own examples
/// leave it out), so the digest URI is the rightmost To-Path URI (4976-010); qop and nc bare.
#[test]
fn rfc4976_credentials_parse() {
    for (file, realm, nonce, cnonce, response, to) in [
        (
            "rfc4976-s5.1-auth-49fi.msrp",
            "intra.example.com",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "0a4f113b",
            "6629fae49393a05397450978507c4ef1",
            "msrps://alice@intra.example.com;tcp",
        ),
        (
            "rfc4976-s5.1-auth-m3nbvx.msrp",
            "extra.example.com",
            "Uumu8cAV38FGsEF31VLevIbNXj9HWO",
            "85a0dca8",
            "cb06c4a77cd90918cd7914432032e0e6",
            "msrps://extra.example.com;tcp",
        ),
        (
            "rfc4976-s5.1-auth-m4nbvx.msrp",
            "extra.example.com",
            "Uumu8cAV38FGsEF31VLevIbNXj9HWO",
            "85a0dca8",
            "cb06c4a77cd90918cd7914432032e0e6",
            "msrps://extra.example.com;tcp",
        ),
    ] {
        let h = vector(file);
        let a = authorization(&h);
        let c = Credentials::parse(a).unwrap();
        assert_eq!(&*c.username, "Alice", "{file}");
        assert_eq!(&*c.realm, realm, "{file}");
        assert_eq!(&*c.nonce, nonce, "{file}");
        assert_eq!(&*c.cnonce, cnonce, "{file}");
        assert_eq!(&*c.response, response, "{file}");
        assert_eq!((c.nc, &*c.nc_text, &*c.qop), (1, "00000001", "auth"));
        assert_eq!(c.uri, None, "{file}");
        let rightmost = h.to_path().last().unwrap().as_str();
        assert_eq!(rightmost, to, "{file}");
        assert_eq!(c.digest_uri(rightmost), to, "{file}");
        for p in ["qop", "nc"] {
            assert!(!a.params.iter().find(|x| &*x.name == p).unwrap().quoted);
        }
    }
}

/// The three §5.1 200s carry Use-Path, Expires and an Authentication-Info with rspauth, cnonce,
/// nc, qop (4976-011, 4976-015), plus the optional nextnonce.
#[test]
fn rfc4976_authentication_info_parse() {
    for (file, nextnonce, rspauth, cnonce, expires, paths) in [
        (
            "rfc4976-s5.1-200-49fi.msrp",
            "40f2e879449675f288476d772627370a",
            "7327570c586207eca2afae94fc20903d",
            "0a4f113b",
            900,
            1,
        ),
        (
            "rfc4976-s5.1-200-m4nbvx.msrp",
            "bz8V080GEA2sLyEDpITF2AZCq7gIkc",
            "72f109ed2755d7ed0d0a213ec653b3f2",
            "85a0dca8",
            1800,
            2,
        ),
        (
            "rfc4976-s5.1-200-m3nbvx.msrp",
            "bz8V080GEA2sLyEDpITF2AZCq7gIkc",
            "72f109ed2755d7ed0d0a213ec653b3f2",
            "85a0dca8",
            1800,
            2,
        ),
    ] {
        let h = vector(file);
        assert_eq!(h.status(), Some(StatusCode::OK));
        let i = AuthInfo::parse(authentication_info(&h)).unwrap();
        assert_eq!(
            i,
            AuthInfo {
                rspauth: rspauth.into(),
                cnonce: cnonce.into(),
                nc: "00000001".into(),
                qop: "auth".into(),
                nextnonce: Some(nextnonce.into()),
            },
            "{file}"
        );
        assert_eq!(h.expires(), Some(expires), "{file}");
        assert_eq!(use_path(&h).len(), paths, "{file}");
    }
}

/// RFC 2617 §3.5 known answer (independent of the relay's own code paths), which is also where
/// the RFC 4976 §5.1 AUTH 49fi got its `response` from.
#[test]
fn rfc2617_known_answer_and_the_49fi_response() {
    let ha1 = digest::ha1_hex("Mufasa", "testrealm@host.com", "Circle Of Life");
    let r = digest::response_hex(
        &ha1,
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "00000001",
        "0a4f113b",
        "auth",
        "GET",
        "/dir/index.html",
    );
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    let c = Credentials::parse(authorization(&vector("rfc4976-s5.1-auth-49fi.msrp"))).unwrap();
    assert_eq!(&*c.response, r, "RFC 4976 copied RFC 2617's digest");
    // With MSRP's method AUTH and the To-Path URI the copied value cannot verify.
    assert!(!c.verify(&ha1, "msrps://alice@intra.example.com;tcp"));
}

// ---------------------------------------------------------------------------------------------
// The relay answering AUTHs

const REALM: &str = "relay.example.com";
/// The To-Path of a client's AUTH (a port is not needed in an AUTH's To-Path, RFC 4976 §8).
const RELAY: &str = "msrps://alice@relay.example.com;tcp";
const ALICE: &str = "msrps://alice.example.com:9892/98cjs;tcp";
const ISSUED: &str = "msrps://relay.example.com:2855/x8Hq2kPmT5vw9YcL;tcp";

fn config() -> AuthConfig {
    let mut c = AuthConfig::new(REALM);
    c.users
        .insert("alice".into(), Secret::Password("wonderland".into()));
    c.users.insert(
        "bob".into(),
        // HA1 in upper case: normalised when loaded.
        Secret::Ha1(digest::ha1_hex("bob", REALM, "builder").to_ascii_uppercase()),
    );
    c.users
        .insert("mallory".into(), Secret::Password("m".into()));
    c.denied.insert("mallory".into());
    c.nonce_lifetime = Duration::from_secs(60);
    c.default_expires = 1800;
    c.min_expires = 300;
    c.max_expires = 3600;
    c.max_failures = 3;
    c
}

fn relay_uri() -> MsrpUri {
    MsrpUri::parse(RELAY.into()).unwrap()
}

/// An AUTH as bytes on the wire, through the decoder.
fn auth(tid: &str, extra: &[String]) -> Head {
    let mut s = format!("MSRP {tid} AUTH\r\nTo-Path: {RELAY}\r\nFrom-Path: {ALICE}\r\n");
    for line in extra {
        s.push_str(line);
        s.push_str("\r\n");
    }
    s.push_str(&format!("-------{tid}$\r\n"));
    decode(s.as_bytes())
}

fn authz_line(p: &msrp::AuthParams) -> String {
    Header::Authorization(p.clone()).to_string()
}

/// The response the relay would send, through the encoder and the decoder.
fn answer(req: &Head, o: &AuthOutcome) -> Head {
    let up = matches!(o.decision, AuthDecision::Accepted { .. })
        .then(|| msrp::path![MsrpUri::parse(ISSUED.into()).unwrap()]);
    decode(&encode(&response_head(req, &o.decision, &relay_uri(), up)))
}

/// The client's first AUTH, answered: the challenge as the client reads it.
fn first_challenge(a: &mut Authenticator, conn: ConnId, now: Instant) -> Challenge {
    let req = auth("a0001", &[]);
    let o = a.handle(&req, conn, now);
    let resp = answer(&req, &o);
    assert_eq!(resp.status(), Some(StatusCode::UNAUTHORIZED));
    Challenge::parse(www_authenticate(&resp)).unwrap()
}

fn reason(o: &AuthOutcome) -> (&ChallengeReason, bool) {
    match &o.decision {
        AuthDecision::Challenge { reason, stale, .. } => (reason, *stale),
        d => panic!("expected a challenge, got {d:?}"),
    }
}

/// 401 -> Authorization -> 200, entirely through encoded frames; the client computes its response
/// with `digest::response_hex` directly (not through `Challenge::answer`) and checks rspauth.
#[test]
fn challenge_then_credentials_then_200() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let conn = ConnId(1);

    let req = auth("a0001", &[]);
    let o = a.handle(&req, conn, now);
    assert!(!o.close_connection);
    let resp = answer(&req, &o);
    // 4976-004: 401 + WWW-Authenticate; To-Path = the AUTH's From-Path, From-Path = the relay.
    let text = String::from_utf8(encode(&response_head(
        &req,
        &o.decision,
        &relay_uri(),
        None,
    )))
    .unwrap();
    assert!(
        text.starts_with("MSRP a0001 401 Unauthorized\r\n"),
        "{text}"
    );
    assert!(text.contains(&format!("\r\nTo-Path: {ALICE}\r\nFrom-Path: {RELAY}\r\n")));
    let www = text
        .lines()
        .find(|l| l.starts_with("WWW-Authenticate: "))
        .unwrap();
    assert!(www.starts_with("WWW-Authenticate: Digest realm=\"relay.example.com\", nonce=\""));
    assert!(www.contains(", qop=\"auth\""), "{www}");
    assert!(www.ends_with(", algorithm=MD5"), "{www}");
    assert!(!www.contains("domain") && !www.contains("stale"), "{www}");
    let ch = Challenge::parse(www_authenticate(&resp)).unwrap();
    assert_eq!(&*ch.realm, REALM);
    assert_eq!(ch.nonce.len(), 32);
    assert_eq!(ch.opaque.as_deref(), Some(a.opaque()));

    // The client's side, computed by hand.
    let ha1 = digest::ha1_hex("alice", &ch.realm, "wonderland");
    let response = digest::response_hex(
        &ha1, &ch.nonce, "00000001", "f2b3a9c1", "auth", "AUTH", RELAY,
    );
    let line = format!(
        "Authorization: Digest username=\"alice\", realm=\"{}\", nonce=\"{}\", uri=\"{RELAY}\", \
         qop=auth, nc=00000001, cnonce=\"f2b3a9c1\", response=\"{response}\", opaque=\"{}\"",
        ch.realm,
        ch.nonce,
        ch.opaque.as_deref().unwrap()
    );
    let req = auth("a0002", &[line]);
    let o = a.handle(&req, conn, now);
    assert!(!o.close_connection);
    let AuthDecision::Accepted { user, expires, .. } = &o.decision else {
        panic!("{:?}", o.decision)
    };
    assert_eq!(
        (user.as_str(), *expires),
        ("alice", 1800),
        "no Expires: the default"
    );
    let ok = answer(&req, &o);
    assert_eq!(ok.status(), Some(StatusCode::OK));
    assert_eq!(ok.to_path()[0].as_str(), ALICE);
    assert_eq!(use_path(&ok), [ISSUED]);
    assert_eq!(ok.expires(), Some(1800));
    let names: Vec<_> = ok.headers.iter().map(Header::name).collect();
    assert_eq!(
        names,
        [
            "To-Path",
            "From-Path",
            "Use-Path",
            "Authentication-Info",
            "Expires"
        ]
    );
    // 4976-011: rspauth (A2 = ":" uri), cnonce, nc, qop; the client checks rspauth.
    let info = AuthInfo::parse(authentication_info(&ok)).unwrap();
    assert_eq!(
        &*info.rspauth,
        digest::rspauth_hex(&ha1, &ch.nonce, "00000001", "f2b3a9c1", "auth", RELAY)
    );
    assert_eq!(
        (&*info.cnonce, &*info.nc, &*info.qop),
        ("f2b3a9c1", "00000001", "auth")
    );

    // Re-AUTH (refresh) with the same nonce and the next nc, through Challenge::answer.
    let again = ch.answer("alice", &ha1, RELAY, "0badcafe", 2);
    let req = auth("a0003", &[authz_line(&again), "Expires: 600".into()]);
    let o = a.handle(&req, conn, now + Duration::from_secs(30));
    assert!(
        matches!(o.decision, AuthDecision::Accepted { expires: 600, .. }),
        "{:?}",
        o.decision
    );
}

#[test]
fn wrong_password_is_401_not_stale() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let bad = ch.answer(
        "alice",
        &digest::ha1_hex("alice", REALM, "wrong"),
        RELAY,
        "c1",
        1,
    );
    let req = auth("a0002", &[authz_line(&bad)]);
    let o = a.handle(&req, ConnId(1), now);
    assert_eq!(reason(&o), (&ChallengeReason::WrongResponse, false));
    let resp = answer(&req, &o);
    let again = Challenge::parse(www_authenticate(&resp)).unwrap();
    assert!(!again.stale);
    assert_ne!(again.nonce, ch.nonce, "a fresh nonce");
}

#[test]
fn expired_nonce_is_401_stale_true() {
    let mut a = Authenticator::new(config()).unwrap();
    let t0 = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), t0);
    let ha1 = digest::ha1_hex("alice", REALM, "wonderland");
    let req = auth(
        "a0002",
        &[authz_line(&ch.answer("alice", &ha1, RELAY, "c1", 1))],
    );
    let o = a.handle(&req, ConnId(1), t0 + Duration::from_secs(61));
    assert_eq!(reason(&o), (&ChallengeReason::StaleNonce, true));
    let text = String::from_utf8(encode(&response_head(
        &req,
        &o.decision,
        &relay_uri(),
        None,
    )))
    .unwrap();
    assert!(text.contains(", stale=TRUE, algorithm=MD5\r\n"), "{text}");
    let fresh = Challenge::parse(www_authenticate(&answer(&req, &o))).unwrap();
    assert!(fresh.stale);
    // The client retries with the new nonce, without asking the user again.
    let req = auth(
        "a0003",
        &[authz_line(&fresh.answer("alice", &ha1, RELAY, "c2", 1))],
    );
    let o = a.handle(&req, ConnId(1), t0 + Duration::from_secs(62));
    assert!(matches!(o.decision, AuthDecision::Accepted { .. }));
    // A nonce the relay never issued, with a right digest, is stale too.
    let forged = Challenge {
        nonce: "0123456789abcdef0123456789abcdef".into(),
        ..fresh
    };
    let req = auth(
        "a0004",
        &[authz_line(&forged.answer("alice", &ha1, RELAY, "c3", 1))],
    );
    let o = a.handle(&req, ConnId(1), t0 + Duration::from_secs(62));
    assert_eq!(reason(&o), (&ChallengeReason::StaleNonce, true));
}

#[test]
fn replayed_or_lower_nc_is_refused() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let ha1 = digest::ha1_hex("alice", REALM, "wonderland");
    let five = auth(
        "a0002",
        &[authz_line(&ch.answer("alice", &ha1, RELAY, "c1", 5))],
    );
    assert!(matches!(
        a.handle(&five, ConnId(1), now).decision,
        AuthDecision::Accepted { .. }
    ));
    // The same request again (a replay), then a lower nc.
    let o = a.handle(&five, ConnId(1), now);
    assert_eq!(reason(&o), (&ChallengeReason::ReplayedNc, true));
    assert_eq!(answer(&five, &o).status(), Some(StatusCode::UNAUTHORIZED));
    let three = auth(
        "a0003",
        &[authz_line(&ch.answer("alice", &ha1, RELAY, "c1", 3))],
    );
    assert_eq!(
        reason(&a.handle(&three, ConnId(1), now)),
        (&ChallengeReason::ReplayedNc, true)
    );
    // A higher one is fine.
    let six = auth(
        "a0004",
        &[authz_line(&ch.answer("alice", &ha1, RELAY, "c1", 6))],
    );
    assert!(matches!(
        a.handle(&six, ConnId(1), now).decision,
        AuthDecision::Accepted { .. }
    ));
}

#[test]
fn unknown_user_is_401() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let p = ch.answer("eve", &digest::ha1_hex("eve", REALM, "x"), RELAY, "c", 1);
    let o = a.handle(&auth("a0002", &[authz_line(&p)]), ConnId(1), now);
    assert_eq!(reason(&o), (&ChallengeReason::UnknownUser, false));
}

#[test]
fn other_realm_is_401_and_ours_is_picked_among_several() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let ha1 = digest::ha1_hex("alice", REALM, "wonderland");
    let foreign = Challenge {
        realm: "other.example.com".into(),
        ..ch.clone()
    };
    let f = foreign.answer("alice", &ha1, RELAY, "c", 1);
    let o = a.handle(&auth("a0002", &[authz_line(&f)]), ConnId(1), now);
    assert_eq!(reason(&o), (&ChallengeReason::WrongRealm, false));
    let ours = ch.answer("alice", &ha1, RELAY, "c", 1);
    let o = a.handle(
        &auth("a0003", &[authz_line(&f), authz_line(&ours)]),
        ConnId(1),
        now,
    );
    assert!(matches!(o.decision, AuthDecision::Accepted { .. }));
}

/// 4976-006: Basic is neither requested nor accepted.
#[test]
fn basic_is_answered_with_a_digest_challenge() {
    let mut a = Authenticator::new(config()).unwrap();
    let req = auth(
        "a0001",
        &["Authorization: Basic YWxpY2U6d29uZGVybGFuZA==".into()],
    );
    let o = a.handle(&req, ConnId(1), Instant::now());
    assert_eq!(
        reason(&o),
        (
            &ChallengeReason::Malformed(DigestError::NotDigest("Basic".into())),
            false
        )
    );
    let resp = answer(&req, &o);
    assert_eq!(
        www_authenticate(&resp).scheme.as_deref(),
        Some("Digest"),
        "the challenge is Digest"
    );
}

/// 4976-007: MD5-sess credentials are refused (and never offered).
#[test]
fn md5_sess_is_refused() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let ha1 = digest::ha1_hex("alice", REALM, "wonderland");
    let mut p = ch.answer("alice", &ha1, RELAY, "c", 1);
    for x in &mut p.params {
        if &*x.name == "algorithm" {
            x.value = "MD5-sess".into();
        }
    }
    let o = a.handle(&auth("a0002", &[authz_line(&p)]), ConnId(1), now);
    assert_eq!(
        reason(&o),
        (
            &ChallengeReason::Malformed(DigestError::UnsupportedAlgorithm("MD5-sess".into())),
            false
        )
    );
    let AuthDecision::Challenge {
        www_authenticate, ..
    } = &o.decision
    else {
        unreachable!()
    };
    assert_eq!(www_authenticate.get("algorithm"), Some("MD5"));
    assert_eq!(www_authenticate.get("qop"), Some("auth"));
}

/// 4976-010, lenient: no `uri=` means the rightmost To-Path URI; a `uri=` naming another URI is
/// refused, one differing only in userinfo (ignored by RFC 4975 §6.1 comparison) is not.
#[test]
fn digest_uri_is_the_to_path_uri() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let ha1 = digest::ha1_hex("alice", REALM, "wonderland");

    let mut p = ch.answer("alice", &ha1, RELAY, "c", 1);
    p.params.retain(|x| &*x.name != "uri");
    let o = a.handle(&auth("a0002", &[authz_line(&p)]), ConnId(1), now);
    assert!(
        matches!(o.decision, AuthDecision::Accepted { .. }),
        "{:?}",
        o.decision
    );
    // The response was computed over another URI: wrong.
    let mut p = ch.answer("alice", &ha1, "msrps://elsewhere.example.com;tcp", "c", 2);
    p.params.retain(|x| &*x.name != "uri");
    let o = a.handle(&auth("a0003", &[authz_line(&p)]), ConnId(1), now);
    assert_eq!(reason(&o), (&ChallengeReason::WrongResponse, false));

    let p = ch.answer("alice", &ha1, "msrps://elsewhere.example.com;tcp", "c", 3);
    let o = a.handle(&auth("a0004", &[authz_line(&p)]), ConnId(1), now);
    assert_eq!(reason(&o), (&ChallengeReason::UriMismatch, false));

    let same = "msrps://relay.example.com;tcp";
    let p = ch.answer("alice", &ha1, same, "c", 4);
    let o = a.handle(&auth("a0005", &[authz_line(&p)]), ConnId(1), now);
    assert!(
        matches!(o.decision, AuthDecision::Accepted { .. }),
        "{:?}",
        o.decision
    );
}

/// Quoted `qop` and `nc` (some clients send them) are accepted.
#[test]
fn quoted_qop_and_nc_are_accepted() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let ha1 = digest::ha1_hex("alice", REALM, "wonderland");
    let r = digest::response_hex(&ha1, &ch.nonce, "00000001", "abc", "auth", "AUTH", RELAY);
    let line = format!(
        "Authorization: Digest username=\"alice\",realm=\"{REALM}\",nonce=\"{}\",uri=\"{RELAY}\",\
         qop=\"auth\",nc=\"00000001\",cnonce=\"abc\",response=\"{r}\"",
        ch.nonce
    );
    let req = auth("a0002", &[line]);
    let o = a.handle(&req, ConnId(1), now);
    assert!(
        matches!(o.decision, AuthDecision::Accepted { .. }),
        "{:?}",
        o.decision
    );
    // Echoed bare in Authentication-Info (RFC 4976 §9.1).
    let ok = answer(&req, &o);
    let info = authentication_info(&ok);
    for p in ["qop", "nc"] {
        assert!(!info.params.iter().find(|x| &*x.name == p).unwrap().quoted);
    }
}

/// 4976-017: Expires outside the bounds is answered 423 with Min-Expires or Max-Expires; inside,
/// it is granted; absent, the default is.
#[test]
fn expires_bounds_give_423() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let ha1 = digest::ha1_hex("alice", REALM, "wonderland");
    let mut nc = 0;
    let mut try_expires = |a: &mut Authenticator, e: Option<u32>| {
        nc += 1;
        let mut lines = vec![authz_line(&ch.answer("alice", &ha1, RELAY, "c", nc))];
        lines.extend(e.map(|e| format!("Expires: {e}")));
        let req = auth("a0002", &lines);
        let o = a.handle(&req, ConnId(1), now);
        (o.clone(), answer(&req, &o))
    };

    let (o, resp) = try_expires(&mut a, Some(299));
    assert_eq!(o.decision, AuthDecision::ExpiresTooShort { min: 300 });
    assert_eq!(resp.status(), Some(StatusCode::OUT_OF_BOUNDS));
    assert!(resp.headers.contains(&Header::MinExpires(300)));
    assert!(
        !resp
            .headers
            .iter()
            .any(|h| matches!(h, Header::MaxExpires(_) | Header::Expires(_)))
    );
    let text = String::from_utf8(encode(&resp)).unwrap();
    assert!(
        text.starts_with("MSRP a0002 423 Interval Out-of-Bounds\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nMin-Expires: 300\r\n"), "{text}");

    let (o, resp) = try_expires(&mut a, Some(3601));
    assert_eq!(o.decision, AuthDecision::ExpiresTooLong { max: 3600 });
    assert!(resp.headers.contains(&Header::MaxExpires(3600)));
    assert!(!resp.headers.contains(&Header::MinExpires(300)));

    for (e, granted) in [(Some(300), 300), (Some(3600), 3600), (None, 1800)] {
        let (o, resp) = try_expires(&mut a, e);
        assert!(
            matches!(o.decision, AuthDecision::Accepted { expires, .. } if expires == granted),
            "{e:?}: {:?}",
            o.decision
        );
        assert_eq!(resp.expires(), Some(granted));
    }
    assert!(!o.close_connection, "423s are not failures");
}

/// 4976-014: right credentials, user not allowed here: 403.
#[test]
fn denied_user_gets_403() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let p = ch.answer(
        "mallory",
        &digest::ha1_hex("mallory", REALM, "m"),
        RELAY,
        "c",
        1,
    );
    let req = auth("a0002", &[authz_line(&p)]);
    let o = a.handle(&req, ConnId(1), now);
    assert_eq!(
        o.decision,
        AuthDecision::Forbidden {
            user: "mallory".into()
        }
    );
    let resp = answer(&req, &o);
    assert_eq!(resp.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(resp.headers.len(), 2, "To-Path and From-Path only");
}

/// 4976-021: after `max_failures` failed AUTHs in a row (401 without stale) the connection is to
/// be closed; AUTHs without credentials and stale answers do not count, success resets the
/// count, and each connection counts on its own.
#[test]
fn repeated_failures_close_the_connection() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let ha1 = digest::ha1_hex("alice", REALM, "wonderland");
    let bad = authz_line(&ch.answer(
        "alice",
        &digest::ha1_hex("alice", REALM, "no"),
        RELAY,
        "c",
        1,
    ));
    let fail = |a: &mut Authenticator, conn| {
        a.handle(&auth("a0009", std::slice::from_ref(&bad)), conn, now)
    };

    assert!(!fail(&mut a, ConnId(1)).close_connection);
    assert!(!fail(&mut a, ConnId(1)).close_connection);
    // Neither a bare AUTH nor a stale answer counts.
    assert!(
        !a.handle(&auth("a0010", &[]), ConnId(1), now)
            .close_connection
    );
    let stale = Challenge {
        nonce: "ffffffffffffffffffffffffffffffff".into(),
        ..ch.clone()
    };
    let o = a.handle(
        &auth(
            "a0011",
            &[authz_line(&stale.answer("alice", &ha1, RELAY, "c", 1))],
        ),
        ConnId(1),
        now,
    );
    assert_eq!(reason(&o), (&ChallengeReason::StaleNonce, true));
    assert!(!o.close_connection);
    // Another connection has its own count.
    assert!(!fail(&mut a, ConnId(2)).close_connection);
    // The third failure in a row on connection 1.
    let o = fail(&mut a, ConnId(1));
    assert_eq!(reason(&o), (&ChallengeReason::WrongResponse, false));
    assert!(o.close_connection);

    // A success resets the run.
    let good = auth(
        "a0012",
        &[authz_line(&ch.answer("alice", &ha1, RELAY, "c", 1))],
    );
    assert!(!a.handle(&good, ConnId(2), now).close_connection);
    assert!(!fail(&mut a, ConnId(2)).close_connection);
    assert!(!fail(&mut a, ConnId(2)).close_connection);
    assert!(fail(&mut a, ConnId(2)).close_connection);
    a.connection_closed(ConnId(2));
    assert!(!fail(&mut a, ConnId(2)).close_connection);
}

#[test]
fn ha1_secrets_work() {
    let mut a = Authenticator::new(config()).unwrap();
    let now = Instant::now();
    let ch = first_challenge(&mut a, ConnId(1), now);
    let ha1 = digest::ha1_hex("bob", REALM, "builder");
    let req = auth(
        "a0002",
        &[authz_line(&ch.answer("bob", &ha1, RELAY, "c", 1))],
    );
    let o = a.handle(&req, ConnId(1), now);
    let AuthDecision::Accepted {
        user,
        authentication_info,
        ..
    } = &o.decision
    else {
        panic!("{:?}", o.decision)
    };
    assert_eq!(user, "bob");
    assert_eq!(
        authentication_info.get("rspauth").unwrap(),
        digest::rspauth_hex(&ha1, &ch.nonce, "00000001", "c", "auth", RELAY)
    );
    let wrong = ch.answer("bob", &digest::ha1_hex("bob", REALM, "x"), RELAY, "c", 2);
    let o = a.handle(&auth("a0003", &[authz_line(&wrong)]), ConnId(1), now);
    assert_eq!(reason(&o), (&ChallengeReason::WrongResponse, false));
}

/// The relay's 401 to the RFC's own first AUTH (§5.1, 49fh) has the RFC's shape.
#[test]
fn answering_the_rfc_first_auth() {
    let mut cfg = AuthConfig::new("intra.example.com");
    cfg.users
        .insert("Alice".into(), Secret::Password("x".into()));
    let mut a = Authenticator::new(cfg).unwrap();
    let req = vector("rfc4976-s5.1-auth-49fh.msrp");
    let o = a.handle(&req, ConnId(1), Instant::now());
    let local = req.to_path()[0].clone();
    let resp = decode(&encode(&response_head(&req, &o.decision, &local, None)));
    let rfc = vector("rfc4976-s5.1-401-49fh.msrp");
    assert_eq!(resp.tid, rfc.tid);
    assert_eq!(resp.start, rfc.start);
    assert_eq!(resp.to_path(), rfc.to_path());
    assert_eq!(resp.from_path()[0].as_str(), rfc.from_path()[0].as_str());
    let ours = Challenge::parse(www_authenticate(&resp)).unwrap();
    let theirs = Challenge::parse(www_authenticate(&rfc)).unwrap();
    assert_eq!((&ours.realm, ours.stale), (&theirs.realm, theirs.stale));
}
