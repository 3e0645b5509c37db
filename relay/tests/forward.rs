//! The forwarding core (RFC 4976 §6.4) replayed on the RFC's own frames: the §3 flow through
//! relays A and B (tests/vectors `rfc4976-s3-*`), the §5.1 AUTH through a first relay, and every
//! failure path: error responses, timeouts, closed connections, unknown, expired and foreign
//! Use-Path URIs.
//!
//! The vectors name Use-Path URIs (`kjfjan`, `aeiug`, `jui787s2f`) that a relay could only have
//! issued with those session-ids; [`UsePaths`] draws them at random (4976-018). Each test issues
//! real URIs and substitutes them into the vector text before decoding, so the frames the routers
//! produce are compared with the RFC's, octet for octet where the RFC fixes them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use msrp::{DecoderConfig, Flag, Frame, FrameDecoder, Head, Header, Method, MsrpUri, StatusCode};
use msrp_relay::ConnId;
use msrp_relay::forward::{Action, DiscardReason, Hop, Router, for_authenticator};
use msrp_relay::use_path::{RelayAddr, RouteError, UsePaths};

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap()
}

/// Decodes one whole frame with the `msrp` decoder; returns its head.
fn decode(text: &str) -> Head {
    let mut dec = FrameDecoder::new(DecoderConfig::default(), 1 << 20);
    let mut buf = BytesMut::from(text.as_bytes());
    let f = dec
        .decode(&mut buf)
        .expect("decodes")
        .expect("a whole frame");
    assert!(buf.is_empty(), "one frame");
    f.head
}

/// A bodiless frame as written on the wire.
fn encode(h: &Head) -> String {
    let b = Frame {
        head: h.clone(),
        body: None,
        flag: Flag::Last,
    }
    .to_bytes();
    String::from_utf8(b.to_vec()).unwrap()
}

/// `text` with every `(from, to)` replaced.
fn subst(text: &str, pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .fold(text.to_owned(), |t, (a, b)| t.replace(a, b))
}

fn u(s: &str) -> MsrpUri {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// The two heads are the same request or response except for the order of the headers after
/// From-Path (the RFC 4976 §3 relays reorder them; this one keeps them).
fn assert_same_but_order(got: &Head, want: &Head) {
    assert_eq!(got.start, want.start);
    assert_eq!(got.tid, want.tid);
    assert_eq!(got.headers[..2], want.headers[..2], "To-Path, From-Path");
    assert_eq!(got.headers.len(), want.headers.len(), "{got:#?}\n{want:#?}");
    for h in &want.headers {
        assert!(got.headers.contains(h), "missing {h:?} in {got:#?}");
    }
}

fn paths(h: &Head) -> (Vec<String>, Vec<String>) {
    let f = |p: &[MsrpUri]| p.iter().map(|u| u.as_str().to_owned()).collect();
    (f(h.to_path()), f(h.from_path()))
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

/// The one Forward of a request's actions, and that it is the last action.
fn forward(actions: &[Action]) -> (&Hop, &Head, &msrp::Ident) {
    match actions.last() {
        Some(Action::Forward { to, head, in_tid }) => (to, head, in_tid),
        other => panic!("expected a Forward last, got {other:?} in {actions:#?}"),
    }
}

/// The responses among `actions`: built ones, and those the router wrote (`Action::Answer`,
/// decoded here; each is checked to be exactly what its head encodes to).
fn responds(actions: &[Action]) -> Vec<(ConnId, Head)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Respond { to, head } => Some((*to, head.clone())),
            Action::Answer { to, status, frame } => {
                let text = std::str::from_utf8(frame).expect("text");
                let head = decode(text);
                assert_eq!(head.status(), Some(*status));
                assert_eq!(encode(&head), text, "one frame, as its head encodes");
                Some((*to, head))
            }
            _ => None,
        })
        .collect()
}

fn sends(actions: &[Action]) -> Vec<(&Hop, &Head)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, head } => Some((to, head)),
            _ => None,
        })
        .collect()
}

fn discarded(actions: &[Action]) -> Option<DiscardReason> {
    match actions.last() {
        Some(Action::Discard { reason }) => Some(*reason),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The RFC 4976 §3 world: Alice — relay A (a.example.org) — relay B (b.example.net) — Bob
// ---------------------------------------------------------------------------------------------

const ALICE: ConnId = ConnId(1);
/// A's connection to B (opened by A).
const A_TO_B: ConnId = ConnId(2);
/// The same connection, as B numbers it.
const B_FROM_A: ConnId = ConnId(12);
const BOB: ConnId = ConnId(11);
/// A connection to A that is neither Alice's nor B's.
const STRANGER: ConnId = ConnId(99);

const KJFJAN: &str = "msrps://a.example.org:9000/kjfjan;tcp";
const AEIUG: &str = "msrps://b.example.net:9000/aeiug;tcp";
const ALICE_URI: &str = "msrps://alice.example.org:7965/bar;tcp";
const BOB_URI: &str = "msrps://bob.example.net:8145/foo;tcp";
const A_LOCAL: &str = "msrps://a.example.org:9000;tcp";
const B_LOCAL: &str = "msrps://b.example.net:9000;tcp";
const LIFETIME: Duration = Duration::from_secs(1800);
const TIMEOUT: Duration = Duration::from_secs(30);

struct World {
    t0: Instant,
    up_a: UsePaths,
    up_b: UsePaths,
    /// Alice's Use-Path URI at A (the vectors' `kjfjan`).
    ga: MsrpUri,
    /// Bob's Use-Path URI at B (the vectors' `aeiug`).
    gb: MsrpUri,
    ra: Router,
    rb: Router,
}

fn relay(host: &str) -> UsePaths {
    UsePaths::new(RelayAddr {
        secure: true,
        host: host.into(),
        port: 9000,
    })
    .unwrap()
}

fn world() -> World {
    let t0 = Instant::now();
    let mut up_a = relay("a.example.org");
    let mut up_b = relay("b.example.net");
    let ga = up_a.issue(ALICE, "alice", LIFETIME, t0).unwrap();
    let gb = up_b.issue(BOB, "bob", LIFETIME, t0).unwrap();
    World {
        t0,
        up_a,
        up_b,
        ga,
        gb,
        ra: Router::new(u(A_LOCAL), TIMEOUT),
        rb: Router::new(u(B_LOCAL), TIMEOUT),
    }
}

impl World {
    /// A vector's text with the issued URIs in place of the RFC's.
    fn text(&self, name: &str) -> String {
        subst(
            &read(name),
            &[(KJFJAN, self.ga.as_str()), (AEIUG, self.gb.as_str())],
        )
    }

    fn vector(&self, name: &str) -> Head {
        decode(&self.text(name))
    }

    /// A vector with its transaction id `old` replaced by `new` (start line and end-line).
    fn vector_tid(&self, name: &str, old: &str, new: &str) -> Head {
        let t = self
            .text(name)
            .replace(&format!(" {old} "), &format!(" {new} "));
        decode(&t.replace(&format!("-------{old}"), &format!("-------{new}")))
    }

    /// Alice's SEND 6aef, with `extra` header lines added after Content-Type's predecessor.
    fn alice_send(&self, extra: &str) -> Head {
        let t = self.text("rfc4976-s3-send-alice-to-a.msrp");
        decode(&t.replace(
            "Content-Type: text/plain\r\n",
            &format!("{extra}Content-Type: text/plain\r\n"),
        ))
    }

    /// Alice's SEND through A: returns A's actions.
    fn send_at_a(&mut self, head: Head) -> Vec<Action> {
        self.ra.on_request(head, ALICE, &self.up_a, self.t0)
    }
}

/// The RFC 4976 §3 flow, hop by hop: Alice's SEND through A and B to Bob, the three hop-by-hop
/// 200s, and Bob's success REPORT back through B and A to Alice (4976-026..029, 4976-032).
#[test]
fn rfc4976_s3_flow_through_two_relays() {
    let mut w = world();

    // Alice -> A: SEND 6aef.
    let send = w.vector("rfc4976-s3-send-alice-to-a.msrp");
    let acts = w.send_at_a(send);
    assert_eq!(acts.len(), 2, "{acts:#?}");
    // A answers Alice at once (4976-028), to the previous hop only (4976-029): 200 6aef as the
    // RFC prints it, octet for octet.
    let ok = responds(&acts);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].0, ALICE);
    assert_eq!(encode(&ok[0].1), w.text("rfc4976-s3-200-a-to-alice.msrp"));
    // Written by the router as it stands (no head built): the first action.
    let Action::Answer { frame, .. } = &acts[0] else {
        panic!("the 200 comes first, written: {acts:#?}");
    };
    assert_eq!(
        &frame[..],
        w.text("rfc4976-s3-200-a-to-alice.msrp").as_bytes()
    );
    // A forwards to B: the paths of SEND juh76 (4976-026), a tid of its own (4976-027).
    let (to, out_a, in_tid) = forward(&acts);
    assert_eq!(
        to,
        &Hop::Uri(Box::new(w.gb.clone())),
        "the next hop is B's URI"
    );
    assert_eq!(in_tid, "6aef");
    let tid_ab = out_a.tid;
    assert!(tid_ab != "6aef" && tid_ab.len() >= 8, "{tid_ab}");
    let want = w.vector_tid("rfc4976-s3-send-a-to-b.msrp", "juh76", &tid_ab);
    assert_same_but_order(out_a, &want);
    let out_a = out_a.clone();
    assert_eq!(w.ra.outstanding(), 1);
    assert!(w.ra.assign(&tid_ab, A_TO_B));
    assert!(w.ra.chunk_sent(&tid_ab, 39, w.t0));

    // A -> B: B routes it to Bob's connection (the URI is Bob's, the request is not from Bob).
    let acts = w.rb.on_request(out_a, B_FROM_A, &w.up_b, w.t0);
    let ok = responds(&acts);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].0, B_FROM_A);
    let ok_ba = ok[0].1.clone();
    assert_eq!(
        encode(&ok_ba),
        w.text("rfc4976-s3-200-b-to-a.msrp")
            .replace("juh76", &tid_ab),
        "200 juh76"
    );
    let (to, out_b, in_tid) = forward(&acts);
    assert_eq!(to, &Hop::Conn(BOB));
    assert_eq!(in_tid, &tid_ab);
    let tid_bb = out_b.tid;
    assert!(tid_bb != tid_ab);
    let want = w.vector_tid("rfc4976-s3-send-b-to-bob.msrp", "xght6", &tid_bb);
    assert_same_but_order(out_b, &want);
    assert_eq!(
        paths(out_b),
        (
            vec![BOB_URI.to_owned()],
            vec![w.gb.to_string(), w.ga.to_string(), ALICE_URI.to_owned()]
        )
    );
    assert!(w.rb.chunk_sent(&tid_bb, 39, w.t0));

    // B's 200 reaches A: A's transaction is over, nothing to send.
    assert_eq!(w.ra.on_response(ok_ba, A_TO_B), vec![]);
    assert_eq!(w.ra.outstanding(), 0);

    // Bob's 200 (printed without end-line in the RFC) reaches B.
    let bob_ok = w.text("rfc4976-s3-200-bob-to-b-NO-ENDLINE.msrp") + "-------xght6$\r\n";
    let bob_ok = decode(&bob_ok.replace("xght6", &tid_bb));
    assert_eq!(w.rb.on_response(bob_ok.clone(), BOB), vec![]);
    assert_eq!(w.rb.outstanding(), 0);
    // A second copy is unknown (RFC 4975 §7.1).
    assert_eq!(
        discarded(&w.rb.on_response(bob_ok, BOB)),
        Some(DiscardReason::UnknownTransaction)
    );

    // Bob's REPORT yh67 travels back end to end, never answered (4976-032, 4975-052).
    let rep = w.vector("rfc4976-s3-report-bob-to-b.msrp");
    let acts = w.rb.on_request(rep, BOB, &w.up_b, w.t0);
    assert_eq!(acts.len(), 1, "no response to a REPORT: {acts:#?}");
    let (to, rep_b, in_tid) = forward(&acts);
    assert_eq!(in_tid, "yh67");
    assert_eq!(
        to,
        &Hop::Uri(Box::new(w.ga.clone())),
        "from Bob: on to A's URI"
    );
    let want = w.vector_tid("rfc4976-s3-report-b-to-a.msrp", "yh67", &rep_b.tid);
    assert_eq!(encode(rep_b), encode(&want));
    assert_eq!(w.rb.outstanding(), 0, "a REPORT keeps no transaction");

    let acts = w.ra.on_request(rep_b.clone(), A_TO_B, &w.up_a, w.t0);
    assert_eq!(acts.len(), 1);
    let (to, rep_a, _) = forward(&acts);
    assert_eq!(to, &Hop::Conn(ALICE), "to Alice: on her connection");
    let want = w.vector_tid("rfc4976-s3-report-a-to-alice.msrp", "yh67", &rep_a.tid);
    assert_eq!(encode(rep_a), encode(&want));
    assert_eq!(w.ra.outstanding(), 0);
    assert_eq!(w.ra.next_deadline(), None);
}

/// 4976-031/037: an error response from the next hop becomes a failure REPORT to the original
/// sender when Failure-Report is `yes` (absent) or `partial`, and nothing when it is `no`
/// (4975-046). The REPORT a relay originates is routed by the relays before it like any other.
#[test]
fn error_responses_become_failure_reports() {
    let mut w = world();
    let send = w.alice_send("");
    let acts = w.send_at_a(send);
    let fwd = forward(&acts).1.clone();
    w.ra.assign(&fwd.tid, A_TO_B);
    w.ra.chunk_sent(&fwd.tid, 39, w.t0);

    // B refuses with 481 (as B would for an expired URI it still answers, say).
    let no = msrp::report::response(&fwd, StatusCode::NO_SUCH_SESSION, None, &w.gb);
    let acts = w.ra.on_response(no, A_TO_B);
    let rep = sends(&acts);
    assert_eq!(rep.len(), 1, "{acts:#?}");
    assert_eq!(rep[0].0, &Hop::Conn(ALICE));
    let tid = rep[0].1.tid;
    assert_eq!(
        encode(rep[0].1),
        format!(
            "MSRP {tid} REPORT\r\n\
             To-Path: {ALICE_URI}\r\n\
             From-Path: {A_LOCAL}\r\n\
             Message-ID: 87652\r\n\
             Byte-Range: 1-39/*\r\n\
             Status: 000 481 Session Does Not Exist\r\n\
             -------{tid}$\r\n"
        )
    );
    assert_eq!(w.ra.outstanding(), 0);

    // At B: Bob refuses with 413 and a comment; B reports to Alice through A, and A delivers
    // the REPORT to Alice like any request addressed to her URI.
    let mut w = world();
    let fwd_a = forward(&w.send_at_a(w.vector("rfc4976-s3-send-alice-to-a.msrp")))
        .1
        .clone();
    w.ra.assign(&fwd_a.tid, A_TO_B);
    let acts = w.rb.on_request(fwd_a, B_FROM_A, &w.up_b, w.t0);
    let to_bob = forward(&acts).1.clone();
    w.rb.chunk_sent(&to_bob.tid, 39, w.t0);
    let big = msrp::report::response(
        &to_bob,
        StatusCode::TOO_LARGE,
        Some("no thanks"),
        &u(BOB_URI),
    );
    let acts = w.rb.on_response(big, BOB);
    let rep = sends(&acts);
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].0, &Hop::Conn(B_FROM_A));
    let rep_b = rep[0].1.clone();
    assert_eq!(
        paths(&rep_b),
        (
            vec![w.ga.to_string(), ALICE_URI.to_owned()],
            vec![B_LOCAL.to_owned()]
        )
    );
    assert_eq!(
        msrp::report::report_status(&rep_b),
        Some(StatusCode::TOO_LARGE)
    );
    assert_eq!(
        rep_b.report_status().and_then(|s| s.comment.as_deref()),
        Some("no thanks"),
        "the response's status line forms the REPORT's (§6.4.3)"
    );
    assert_eq!(
        rep_b.byte_range().map(|r| r.to_string()).as_deref(),
        Some("1-39/*")
    );
    let acts = w.ra.on_request(rep_b, A_TO_B, &w.up_a, w.t0);
    let (to, rep_a, _) = forward(&acts);
    assert_eq!(to, &Hop::Conn(ALICE));
    assert_eq!(
        paths(rep_a),
        (
            vec![ALICE_URI.to_owned()],
            vec![w.ga.to_string(), B_LOCAL.to_owned()]
        )
    );

    // Failure-Report: no -> no 200, no transaction, and a later error is ignored.
    let mut w = world();
    let acts = w.send_at_a(w.alice_send("Failure-Report: no\r\n"));
    assert_eq!(acts.len(), 1, "no response (4975-046): {acts:#?}");
    let fwd = forward(&acts).1.clone();
    assert_eq!(fwd.failure_report(), msrp::FailureReport::No, "header kept");
    assert_eq!(w.ra.outstanding(), 0);
    assert!(!w.ra.chunk_sent(&fwd.tid, 39, w.t0));
    let no = msrp::report::response(&fwd, StatusCode::NO_SUCH_SESSION, None, &w.gb);
    assert_eq!(
        w.ra.on_response(no, A_TO_B),
        vec![Action::Discard {
            reason: DiscardReason::UnknownTransaction
        }]
    );

    // Failure-Report: partial -> no 200 (4975-045), but an error is reported.
    let mut w = world();
    let acts = w.send_at_a(w.alice_send("Failure-Report: partial\r\n"));
    assert_eq!(acts.len(), 1, "{acts:#?}");
    let fwd = forward(&acts).1.clone();
    assert_eq!(w.ra.outstanding(), 1);
    let no = msrp::report::response(&fwd, StatusCode::FORBIDDEN, None, &w.gb);
    let acts = w.ra.on_response(no, A_TO_B);
    assert_eq!(sends(&acts).len(), 1);
    assert_eq!(
        msrp::report::report_status(sends(&acts)[0].1),
        Some(StatusCode::FORBIDDEN)
    );
    // ... and a 200 (which partial does not ask for) ends it quietly.
    let acts = w.send_at_a(w.alice_send("Failure-Report: partial\r\n"));
    let fwd = forward(&acts).1.clone();
    let ok = msrp::report::response(&fwd, StatusCode::OK, None, &w.gb);
    assert_eq!(w.ra.on_response(ok, A_TO_B), vec![]);
    assert_eq!(w.ra.outstanding(), 0);
}

/// 4976-030: the 30 s timer starts with the last octet sent; on expiry a 408 REPORT goes to the
/// original sender (Failure-Report yes only); a late response is unknown.
#[test]
fn timeout_is_reported_408() {
    let mut w = world();
    let fwd = forward(&w.send_at_a(w.alice_send(""))).1.clone();
    // No timer while the chunk is still being written.
    assert_eq!(w.ra.next_deadline(), None);
    assert_eq!(w.ra.poll_timeouts(w.t0 + Duration::from_secs(3600)), vec![]);
    assert_eq!(w.ra.outstanding(), 1);
    let sent_at = w.t0 + Duration::from_secs(5);
    assert!(w.ra.chunk_sent(&fwd.tid, 39, sent_at));
    assert_eq!(w.ra.next_deadline(), Some(sent_at + TIMEOUT));
    assert_eq!(
        w.ra.poll_timeouts(sent_at + TIMEOUT - Duration::from_millis(1)),
        vec![]
    );
    let acts = w.ra.poll_timeouts(sent_at + TIMEOUT);
    let rep = sends(&acts);
    assert_eq!(rep.len(), 1, "{acts:#?}");
    assert_eq!(rep[0].0, &Hop::Conn(ALICE));
    let tid = rep[0].1.tid;
    assert_eq!(
        encode(rep[0].1),
        format!(
            "MSRP {tid} REPORT\r\n\
             To-Path: {ALICE_URI}\r\n\
             From-Path: {A_LOCAL}\r\n\
             Message-ID: 87652\r\n\
             Byte-Range: 1-39/*\r\n\
             Status: 000 408 Request Timeout\r\n\
             -------{tid}$\r\n"
        )
    );
    assert_eq!(w.ra.outstanding(), 0);
    assert_eq!(w.ra.next_deadline(), None);
    let late = msrp::report::response(&fwd, StatusCode::OK, None, &w.gb);
    assert_eq!(
        discarded(&w.ra.on_response(late, A_TO_B)),
        Some(DiscardReason::UnknownTransaction)
    );

    // Failure-Report partial runs no 408 timer: the transaction is forgotten silently.
    let fwd = forward(&w.send_at_a(w.alice_send("Failure-Report: partial\r\n")))
        .1
        .clone();
    w.ra.chunk_sent(&fwd.tid, 39, w.t0);
    assert_eq!(w.ra.poll_timeouts(w.t0 + TIMEOUT), vec![]);
    assert_eq!(w.ra.outstanding(), 0);

    // An end-to-end request (NICKNAME) is forgotten silently too: its originator times out.
    let nick = nickname(&w.ga, &w.gb, "nick1");
    let fwd = forward(&w.ra.on_request(nick, ALICE, &w.up_a, w.t0))
        .1
        .clone();
    w.ra.chunk_sent(&fwd.tid, 0, w.t0);
    assert_eq!(w.ra.poll_timeouts(w.t0 + TIMEOUT), vec![]);
    assert_eq!(w.ra.outstanding(), 0);
}

/// 4976-024/025/038: a request whose first To-Path URI is not a valid Use-Path URI of this relay
/// is discarded, with nothing sent.
#[test]
fn requests_not_for_a_valid_use_path_are_discarded() {
    let mut w = world();
    let cases = [
        // Not this relay at all (§6.2, §6.4.1).
        ("msrps://c.example.com:9000/kjfjan;tcp", RouteError::Foreign),
        ("msrps://a.example.org:9001/kjfjan;tcp", RouteError::Foreign),
        // This relay, but never issued.
        ("msrps://a.example.org:9000/kjfjan;tcp", RouteError::Unknown),
    ];
    for (first, why) in cases {
        let t = read("rfc4976-s3-send-alice-to-a.msrp").replace(KJFJAN, first);
        let acts = w.ra.on_request(decode(&t), ALICE, &w.up_a, w.t0);
        assert_eq!(
            acts,
            vec![Action::Discard {
                reason: DiscardReason::Route(why)
            }],
            "{first}"
        );
    }
    // Expired (4976-019): valid until t0 + lifetime, not at it.
    let send = w.alice_send("");
    let acts =
        w.ra.on_request(send.clone(), ALICE, &w.up_a, w.t0 + LIFETIME);
    assert_eq!(
        acts,
        vec![Action::Discard {
            reason: DiscardReason::Route(RouteError::Expired)
        }]
    );
    // Invalidated by the close of Alice's connection (4976-019).
    w.up_a.close(ALICE);
    assert_eq!(
        w.ra.on_request(send, ALICE, &w.up_a, w.t0),
        vec![Action::Discard {
            reason: DiscardReason::Route(RouteError::Unknown)
        }]
    );
    assert_eq!(w.ra.outstanding(), 0);
    // A response is not a request.
    let resp = w.vector("rfc4976-s3-200-a-to-alice.msrp");
    assert_eq!(
        discarded(&w.ra.on_request(resp, ALICE, &w.up_a, w.t0)),
        Some(DiscardReason::NotARequest)
    );
    let req = w.vector("rfc4976-s3-report-bob-to-b.msrp");
    assert_eq!(
        discarded(&w.rb.on_response(req, BOB)),
        Some(DiscardReason::NotAResponse)
    );
}

/// 4976-043: a request to Alice's URI from anywhere but her connection goes to her connection and
/// nowhere else, whatever follows in its To-Path: the URI cannot make the relay an open relay.
#[test]
fn a_use_path_uri_only_reaches_its_client() {
    let mut w = world();
    let t = subst(
        &read("rfc4976-s3-send-alice-to-a.msrp"),
        &[
            (KJFJAN, w.ga.as_str()),
            (AEIUG, "msrps://victim.example.com:9000/x;tcp"),
        ],
    );
    let acts = w.ra.on_request(decode(&t), STRANGER, &w.up_a, w.t0);
    let (to, fwd, _) = forward(&acts);
    assert_eq!(to, &Hop::Conn(ALICE));
    assert_eq!(fwd.from_path()[0], w.ga, "our URI moved to the From-Path");
    assert_eq!(
        responds(&acts)[0].0,
        STRANGER,
        "the hop-by-hop 200 goes to the previous hop"
    );
}

/// Alice's NICKNAME to Bob, To-Path A B Bob (as Alice's SENDs), with transaction id `tid`.
fn nickname(ga: &MsrpUri, gb: &MsrpUri, tid: &str) -> Head {
    decode(&format!(
        "MSRP {tid} NICKNAME\r\n\
         To-Path: {ga} {gb} {BOB_URI}\r\n\
         From-Path: {ALICE_URI}\r\n\
         Use-Nickname: \"Alice the Great\"\r\n\
         -------{tid}$\r\n"
    ))
}

/// 4976-032/034/036: NICKNAME and an unknown method travel end to end with the same rewrite, and
/// their responses come back hop by hop to the connection each request came from, with the
/// transaction id it had there.
#[test]
fn end_to_end_requests_and_their_responses() {
    for method in ["NICKNAME", "FROB"] {
        let mut w = world();
        let req = nickname(&w.ga, &w.gb, "nick1");
        let req = decode(&encode(&req).replace("NICKNAME", method));
        assert_eq!(req.method().unwrap().as_str(), method);
        let sent = req.headers.clone();

        let acts = w.ra.on_request(req, ALICE, &w.up_a, w.t0);
        assert_eq!(acts.len(), 1, "no hop-by-hop response: {acts:#?}");
        let (to, at_b, in_tid) = forward(&acts);
        assert_eq!(
            (to, in_tid.as_ref()),
            (&Hop::Uri(Box::new(w.gb.clone())), "nick1")
        );
        let at_b = at_b.clone();
        let tid_ab = at_b.tid;
        assert_ne!(tid_ab, "nick1");
        assert_eq!(
            at_b.headers[2..],
            sent[2..],
            "the other headers as received"
        );
        w.ra.assign(&tid_ab, A_TO_B);

        let acts = w.rb.on_request(at_b, B_FROM_A, &w.up_b, w.t0);
        assert_eq!(acts.len(), 1);
        let (to, at_bob, _) = forward(&acts);
        assert_eq!(to, &Hop::Conn(BOB));
        let tid_bb = at_bob.tid;
        assert_ne!(tid_bb, tid_ab);
        assert_eq!(
            paths(at_bob),
            (
                vec![BOB_URI.to_owned()],
                vec![w.gb.to_string(), w.ga.to_string(), ALICE_URI.to_owned()]
            )
        );

        // Bob answers end to end: To-Path = the whole From-Path (msrp::report::response).
        let status = if method == "FROB" {
            StatusCode::NOT_IMPLEMENTED
        } else {
            StatusCode::NICKNAME_IN_USE
        };
        let answer = msrp::report::response(at_bob, status, None, &u(BOB_URI));
        // Not from Bob's connection: dropped, the transaction stays.
        assert_eq!(
            discarded(&w.rb.on_response(answer.clone(), STRANGER)),
            Some(DiscardReason::WrongConnection)
        );
        let acts = w.rb.on_response(answer, BOB);
        let back = responds(&acts);
        assert_eq!(back.len(), 1, "{acts:#?}");
        assert_eq!(back[0].0, B_FROM_A);
        let to_a = back[0].1.clone();
        assert_eq!(to_a.tid, tid_ab, "B's outgoing tid towards A");
        assert_eq!(to_a.status(), Some(status));
        assert_eq!(
            paths(&to_a),
            (
                vec![w.ga.to_string(), ALICE_URI.to_owned()],
                vec![w.gb.to_string(), BOB_URI.to_owned()]
            )
        );

        let acts = w.ra.on_response(to_a, A_TO_B);
        let back = responds(&acts);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].0, ALICE);
        let to_alice = back[0].1.clone();
        assert_eq!(to_alice.tid, "nick1", "the original tid (4976-036)");
        assert_eq!(
            paths(&to_alice),
            (
                vec![ALICE_URI.to_owned()],
                vec![w.ga.to_string(), w.gb.to_string(), BOB_URI.to_owned()]
            )
        );
        assert_eq!((w.ra.outstanding(), w.rb.outstanding()), (0, 0));
    }
}

/// RFC 4976 §5.1 (4976-003): Alice's AUTH to the second relay goes through the first one
/// (`intra`), and its 401 and 200 come back with the first relay's rewrite and Alice's tid.
#[test]
fn rfc4976_s5_1_auth_through_the_first_relay() {
    const INTRA: &str = "msrps://intra.example.com:9000/jui787s2f;tcp";
    let t0 = Instant::now();
    let mut up = relay("intra.example.com");
    let g = up.issue(ALICE, "Alice", LIFETIME, t0).unwrap();
    let mut r = Router::new(u("msrps://intra.example.com:9000;tcp"), TIMEOUT);
    let v = |name: &str| subst(&read(name), &[(INTRA, g.as_str())]);
    let to_extra = ConnId(7);

    // An AUTH to intra itself is the Authenticator's; one through it is forwarded.
    assert!(for_authenticator(
        &decode(&v("rfc4976-s5.1-auth-49fh.msrp")),
        &up
    ));
    assert!(for_authenticator(
        &decode(&v("rfc4976-s5.1-auth-m2nbvw.msrp")),
        &relay("extra.example.com")
    ));
    assert!(!for_authenticator(
        &decode(&v("rfc4976-s5.1-auth-mnbvw.msrp")),
        &up
    ));
    assert!(!for_authenticator(
        &decode(&v("rfc4976-s3-send-alice-to-a.msrp")),
        &up
    ));

    for (auth, fwd, answer, back) in [
        (
            "mnbvw",
            "m2nbvw",
            "rfc4976-s5.1-401-m2nbvw.msrp",
            "rfc4976-s5.1-401-mnbvw.msrp",
        ),
        (
            "m3nbvx",
            "m4nbvx",
            "rfc4976-s5.1-200-m4nbvx.msrp",
            "rfc4976-s5.1-200-m3nbvx.msrp",
        ),
    ] {
        let acts = r.on_request(
            decode(&v(&format!("rfc4976-s5.1-auth-{auth}.msrp"))),
            ALICE,
            &up,
            t0,
        );
        assert_eq!(acts.len(), 1, "{acts:#?}");
        let (to, out, in_tid) = forward(&acts);
        assert_eq!(to, &Hop::Uri(Box::new(u("msrps://extra.example.com;tcp"))));
        assert_eq!(in_tid, auth);
        let out_tid = out.tid.to_string();
        // The forwarded AUTH is the RFC's, Authorization and all, under intra's tid.
        let want = decode(&v(&format!("rfc4976-s5.1-auth-{fwd}.msrp")).replace(fwd, &out_tid));
        assert_eq!(encode(out), encode(&want));
        assert!(r.assign(&out_tid, to_extra));

        let answer = decode(&v(answer).replace(fwd, &out_tid));
        let acts = r.on_response(answer.clone(), to_extra);
        let got = responds(&acts);
        assert_eq!(got.len(), 1, "{acts:#?}");
        assert_eq!(got[0].0, ALICE);
        let got = got[0].1.clone();
        let want = decode(&v(back));
        if auth == "mnbvw" {
            assert_eq!(encode(&got), encode(&want), "401 mnbvw as printed");
        } else {
            // The RFC's 200 m3nbvx lists extra's URI twice in Use-Path (see INDEX.md: SUSPECT);
            // the relay forwards the header it received (m4nbvx's) untouched.
            let mut fixed = want.clone();
            for (h, a) in fixed.headers.iter_mut().zip(&answer.headers) {
                if let (Header::UsePath(_), Header::UsePath(_)) = (&*h, a) {
                    *h = a.clone();
                }
            }
            assert_ne!(fixed, want);
            assert_eq!(encode(&got), encode(&fixed));
        }
        assert_eq!(r.outstanding(), 0);
    }
}

/// The relay's own URIs in a row (both clients use this relay) are handled at once: Alice's SEND
/// to Carol, who is on the same relay, goes straight to Carol's connection.
#[test]
fn hairpin_through_one_relay() {
    let mut w = world();
    const CAROL: ConnId = ConnId(3);
    const CAROL_URI: &str = "msrps://carol.example.org:7000/baz;tcp";
    let gc = w.up_a.issue(CAROL, "carol", LIFETIME, w.t0).unwrap();
    let send = |ga: &MsrpUri, gc: &str| {
        decode(&format!(
            "MSRP hp01 SEND\r\n\
             To-Path: {ga} {gc} {CAROL_URI}\r\n\
             From-Path: {ALICE_URI}\r\n\
             Message-ID: msg1\r\n\
             Byte-Range: 1-5/5\r\n\
             Content-Type: text/plain\r\n\
             \r\n\
             hello\r\n\
             -------hp01$\r\n"
        ))
    };
    let acts = w.send_at_a(send(&w.ga, gc.as_str()));
    let (to, fwd, _) = forward(&acts);
    assert_eq!(to, &Hop::Conn(CAROL));
    assert_eq!(
        paths(fwd),
        (
            vec![CAROL_URI.to_owned()],
            vec![gc.to_string(), w.ga.to_string(), ALICE_URI.to_owned()]
        )
    );
    let ok = responds(&acts);
    assert_eq!(ok[0].0, ALICE);
    assert_eq!(
        ok[0].1.from_path(),
        [w.ga.clone()],
        "from the URI Alice used"
    );
    // Carol's 200 is addressed to the first From-Path URI: her Use-Path URI.
    let fwd = fwd.clone();
    let ok = msrp::report::response(&fwd, StatusCode::OK, None, &u(CAROL_URI));
    assert_eq!(w.ra.on_response(ok, CAROL), vec![]);

    // An end-to-end request's response comes back through both URIs.
    let nick = decode(&format!(
        "MSRP nk01 NICKNAME\r\nTo-Path: {} {gc} {CAROL_URI}\r\nFrom-Path: {ALICE_URI}\r\n-------nk01$\r\n",
        w.ga
    ));
    let acts = w.ra.on_request(nick, ALICE, &w.up_a, w.t0);
    let fwd = forward(&acts).1.clone();
    let answer = msrp::report::response(&fwd, StatusCode::OK, None, &u(CAROL_URI));
    assert_eq!(answer.to_path(), [gc.clone(), w.ga.clone(), u(ALICE_URI)]);
    let acts = w.ra.on_response(answer, CAROL);
    let back = responds(&acts);
    assert_eq!(back[0].0, ALICE);
    assert_eq!(back[0].1.tid, "nk01");
    assert_eq!(
        paths(&back[0].1),
        (
            vec![ALICE_URI.to_owned()],
            vec![w.ga.to_string(), gc.to_string(), CAROL_URI.to_owned()]
        )
    );

    // A further URI of this relay that is not valid: Alice is told (481 and a failure REPORT,
    // RFC 4976 §6.4.1 "a problem processing the SEND request"), nothing is forwarded.
    let acts = w.send_at_a(send(&w.ga, "msrps://a.example.org:9000/gone;tcp"));
    assert_eq!(
        discarded(&acts),
        Some(DiscardReason::NextHop(RouteError::Unknown))
    );
    let r = responds(&acts);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].0, r[0].1.status()),
        (ALICE, Some(StatusCode::NO_SUCH_SESSION))
    );
    assert_eq!(r[0].1.tid, "hp01");
    let rep = sends(&acts);
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].0, &Hop::Conn(ALICE));
    assert_eq!(rep[0].1.to_path(), [u(ALICE_URI)]);
    assert_eq!(
        msrp::report::report_status(rep[0].1),
        Some(StatusCode::NO_SUCH_SESSION)
    );
    assert_eq!(w.ra.outstanding(), 0);
}

/// Our URI is the last one of the To-Path: there is no next hop. A SEND is refused with 481 (and
/// reported); a REPORT, never answered, is just dropped.
#[test]
fn nothing_after_our_uri() {
    let mut w = world();
    let send = decode(&format!(
        "MSRP sd01 SEND\r\nTo-Path: {}\r\nFrom-Path: {ALICE_URI}\r\nMessage-ID: msg1\r\n-------sd01$\r\n",
        w.ga
    ));
    let acts = w.send_at_a(send);
    assert_eq!(discarded(&acts), Some(DiscardReason::NoNextHop));
    assert_eq!(
        responds(&acts)[0].1.status(),
        Some(StatusCode::NO_SUCH_SESSION)
    );
    assert_eq!(sends(&acts).len(), 1);
    let rep = decode(&format!(
        "MSRP rp01 REPORT\r\nTo-Path: {}\r\nFrom-Path: {ALICE_URI}\r\nMessage-ID: msg1\r\nStatus: 000 200 OK\r\n-------rp01$\r\n",
        w.ga
    ));
    assert_eq!(
        w.ra.on_request(rep, ALICE, &w.up_a, w.t0),
        vec![Action::Discard {
            reason: DiscardReason::NoNextHop
        }]
    );
    // A response addressed elsewhere is dropped and its transaction kept (§6.4.3).
    let fwd = forward(&w.send_at_a(w.alice_send(""))).1.clone();
    let stray = msrp::report::response(
        &Head::request(
            Method::Send,
            fwd.tid,
            msrp::path![],
            msrp::path![u(BOB_URI)],
        ),
        StatusCode::OK,
        None,
        &w.gb,
    );
    assert_eq!(
        discarded(&w.ra.on_response(stray, A_TO_B)),
        Some(DiscardReason::NotAddressedHere)
    );
    assert_eq!(w.ra.outstanding(), 1);
}

/// Connections that close: transactions waiting on the next hop fail with 408; those whose
/// previous hop closed lose their way back.
#[test]
fn connection_close() {
    // The next hop (A's connection to B) closes.
    let mut w = world();
    for (extra, sent) in [
        ("", true),
        ("", false),
        ("Failure-Report: partial\r\n", true),
        ("Failure-Report: partial\r\n", false),
    ] {
        let f = forward(&w.send_at_a(w.alice_send(extra))).1.clone();
        assert!(w.ra.assign(&f.tid, A_TO_B));
        if sent {
            w.ra.chunk_sent(&f.tid, 39, w.t0);
        }
    }
    let nick = forward(
        &w.ra
            .on_request(nickname(&w.ga, &w.gb, "nick1"), ALICE, &w.up_a, w.t0),
    )
    .1
    .clone();
    w.ra.assign(&nick.tid, A_TO_B);
    assert_eq!(w.ra.outstanding(), 5);
    assert_eq!(
        w.ra.connection_closed(ConnId(55)),
        vec![],
        "an unrelated connection"
    );

    let acts = w.ra.connection_closed(A_TO_B);
    assert_eq!(w.ra.outstanding(), 0);
    let reps = sends(&acts);
    assert_eq!(
        reps.len(),
        3,
        "yes (sent or not) and partial unsent: {acts:#?}"
    );
    for (to, rep) in &reps {
        assert_eq!(*to, &Hop::Conn(ALICE));
        assert_eq!(msrp::report::report_status(rep), Some(StatusCode::TIMEOUT));
        assert_eq!(rep.to_path(), [u(ALICE_URI)]);
    }
    let r = responds(&acts);
    assert_eq!(r.len(), 1, "a 408 response to the NICKNAME");
    assert_eq!(r[0].0, ALICE);
    assert_eq!(r[0].1.tid, "nick1");
    assert_eq!(r[0].1.status(), Some(StatusCode::TIMEOUT));
    assert_eq!(
        paths(&r[0].1),
        (vec![ALICE_URI.to_owned()], vec![w.ga.to_string()])
    );
    assert_eq!(w.ra.next_deadline(), None);

    // The client closes: what it sent has no way back (its URI is invalid now, 4976-019).
    let mut w = world();
    let f = forward(&w.send_at_a(w.alice_send(""))).1.clone();
    w.ra.assign(&f.tid, A_TO_B);
    assert_eq!(w.ra.connection_closed(ALICE), vec![]);
    assert_eq!(w.ra.outstanding(), 0);
    let no = msrp::report::response(&f, StatusCode::NO_SUCH_SESSION, None, &w.gb);
    assert_eq!(
        discarded(&w.ra.on_response(no, A_TO_B)),
        Some(DiscardReason::UnknownTransaction)
    );

    // The previous relay closes (at B): a SEND's failure REPORT goes by A's URI; an end-to-end
    // request is forgotten (§6.4.3).
    let mut w = world();
    let at_b = forward(&w.send_at_a(w.alice_send(""))).1.clone();
    let to_bob = forward(&w.rb.on_request(at_b, B_FROM_A, &w.up_b, w.t0))
        .1
        .clone();
    let nick_a = forward(
        &w.ra
            .on_request(nickname(&w.ga, &w.gb, "nick1"), ALICE, &w.up_a, w.t0),
    )
    .1
    .clone();
    let nick_b = forward(&w.rb.on_request(nick_a, B_FROM_A, &w.up_b, w.t0))
        .1
        .clone();
    assert_eq!(w.rb.outstanding(), 2);
    assert_eq!(w.rb.connection_closed(B_FROM_A), vec![]);
    assert_eq!(w.rb.outstanding(), 1);
    let answer = msrp::report::response(&nick_b, StatusCode::OK, None, &u(BOB_URI));
    assert_eq!(
        discarded(&w.rb.on_response(answer, BOB)),
        Some(DiscardReason::UnknownTransaction)
    );
    let no = msrp::report::response(&to_bob, StatusCode::NO_SUCH_SESSION, None, &u(BOB_URI));
    let acts = w.rb.on_response(no, BOB);
    let rep = sends(&acts);
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].0, &Hop::Uri(Box::new(w.ga.clone())));
    assert_eq!(rep[0].1.to_path(), [w.ga.clone(), u(ALICE_URI)]);
}

/// 4976-033: the streaming layer splits a forwarded chunk; each piece is a transaction of its
/// own and a failure REPORT covers the octets of the piece that failed (4975-053).
#[test]
fn rechunked_pieces_report_their_own_octets() {
    let mut w = world();
    let fwd = forward(&w.send_at_a(w.alice_send(""))).1.clone();
    w.ra.assign(&fwd.tid, A_TO_B);
    // Octets 1-20 under the forwarded tid, 21-39 under a new one.
    let second = w.ra.rechunk(&fwd.tid, 21);
    assert_ne!(second, fwd.tid);
    assert_eq!(w.ra.outstanding(), 2);
    assert!(w.ra.chunk_sent(&fwd.tid, 20, w.t0));
    assert!(w.ra.chunk_sent(&second, 19, w.t0));
    let mut piece = fwd.clone();
    piece.tid = second;
    let no = msrp::report::response(&piece, StatusCode::TOO_LARGE, None, &w.gb);
    let acts = w.ra.on_response(no, A_TO_B);
    let rep = sends(&acts)[0].1;
    assert_eq!(rep.byte_range().unwrap().to_string(), "21-39/*");
    let ok = msrp::report::response(&fwd, StatusCode::OK, None, &w.gb);
    assert_eq!(w.ra.on_response(ok, A_TO_B), vec![]);
    // The first piece alone timing out would have reported 1-20.
    let fwd = forward(&w.send_at_a(w.alice_send(""))).1.clone();
    w.ra.rechunk(&fwd.tid, 21);
    w.ra.chunk_sent(&fwd.tid, 20, w.t0);
    let acts = w.ra.poll_timeouts(w.t0 + TIMEOUT);
    assert_eq!(sends(&acts).len(), 1, "the unsent piece runs no timer yet");
    assert_eq!(
        sends(&acts)[0].1.byte_range().unwrap().to_string(),
        "1-20/*"
    );
    // Nothing is kept for pieces of a SEND with Failure-Report no.
    let mut w = world();
    let fwd = forward(&w.send_at_a(w.alice_send("Failure-Report: no\r\n")))
        .1
        .clone();
    let t = w.ra.rechunk(&fwd.tid, 10);
    assert_ne!(t, fwd.tid);
    assert_eq!(w.ra.outstanding(), 0);
}

/// The tokio layer cannot deliver: the transaction ends as if the next hop had answered.
#[test]
fn delivery_failures() {
    let mut w = world();
    let fwd = forward(&w.send_at_a(w.alice_send(""))).1.clone();
    let acts = w.ra.fail(&fwd.tid, StatusCode::TIMEOUT);
    assert_eq!(sends(&acts).len(), 1);
    assert_eq!(
        msrp::report::report_status(sends(&acts)[0].1),
        Some(StatusCode::TIMEOUT)
    );
    assert_eq!(
        w.ra.fail(&fwd.tid, StatusCode::TIMEOUT),
        vec![],
        "already over"
    );
    let nick = forward(
        &w.ra
            .on_request(nickname(&w.ga, &w.gb, "nick1"), ALICE, &w.up_a, w.t0),
    )
    .1
    .clone();
    let acts = w.ra.fail(&nick.tid, StatusCode::TIMEOUT);
    assert_eq!(responds(&acts)[0].0, ALICE);
    assert_eq!(responds(&acts)[0].1.tid, "nick1");
    assert_eq!(w.ra.outstanding(), 0);
}

/// Every head the router writes goes through the codec unchanged.
#[test]
fn forwarded_heads_encode_and_decode() {
    let mut w = world();
    let acts = w.send_at_a(w.alice_send(""));
    for a in &acts {
        let h = match a {
            Action::Forward { head, .. }
            | Action::Respond { head, .. }
            | Action::Send { head, .. } => head,
            Action::Answer { frame, .. } => {
                let text = std::str::from_utf8(frame).expect("text");
                assert_eq!(encode(&decode(text)), text);
                continue;
            }
            Action::Discard { .. } => continue,
        };
        assert_eq!(&decode(&encode(h)), h);
    }
    let fwd = forward(&acts).1.clone();
    let no = msrp::report::response(&fwd, StatusCode::FORBIDDEN, None, &w.gb);
    for a in w.ra.on_response(no, ConnId(2)) {
        if let Action::Send { head, .. } = a {
            assert_eq!(decode(&encode(&head)), head);
        }
    }
}

/// A bodiless 2xx as a relay's decoder reads it (`DecoderConfig::brief_success_responses`).
fn brief(h: &Head) -> msrp::BriefSuccess {
    let mut dec = msrp::Decoder::new(DecoderConfig {
        brief_success_responses: true,
        ..DecoderConfig::default()
    });
    let mut buf = BytesMut::from(encode(h).as_bytes());
    match dec.decode(&mut buf).expect("decodes") {
        Some(msrp::Event::BriefSuccess(r)) => r,
        other => panic!("not read briefly: {other:?}"),
    }
}

/// RFC 4976 §6.4.3 (4976-029) from a brief reading: the next hop's 200 to a forwarded SEND,
/// on the connection the SEND went out on and addressed to our URI as we wrote it, ends the
/// transaction with nothing to send. Everything else is left to `on_response` on the parsed
/// head, which decides as it always does: the wrong connection, our URI spelled in another
/// case (equal by RFC 4975 §6.1), an end-to-end request's response, an unknown transaction.
#[test]
fn brief_success_responses_end_sends_and_leave_the_rest_to_the_head() {
    let mut w = world();
    let sent = |w: &mut World| {
        let acts = w.send_at_a(w.alice_send(""));
        let (_, out, _) = forward(&acts);
        let (out, tid) = (out.clone(), out.tid);
        assert!(w.ra.assign(&tid, A_TO_B));
        assert!(w.ra.chunk_sent(&tid, 39, w.t0));
        (out, tid)
    };

    // The quick path.
    let (out, tid) = sent(&mut w);
    let ok = msrp::report::response(&out, StatusCode::OK, None, &w.gb);
    assert_eq!(ok.to_path()[0], w.ga, "to the previous hop only");
    let r = brief(&ok);
    assert_eq!((r.tid(), r.status), (tid, StatusCode::OK));
    assert_eq!(w.ra.outstanding(), 1);
    assert!(!w.ra.on_brief_success(&r, STRANGER), "wrong connection");
    assert_eq!(w.ra.outstanding(), 1, "still outstanding");
    assert!(w.ra.on_brief_success(&r, A_TO_B));
    assert_eq!(w.ra.outstanding(), 0);
    // Again: unknown now, and the head says so.
    assert!(!w.ra.on_brief_success(&r, A_TO_B));
    assert_eq!(
        discarded(&w.ra.on_response(r.head().unwrap(), A_TO_B)),
        Some(DiscardReason::UnknownTransaction)
    );

    // Our URI with its host in capitals: not the text we wrote, the same URI.
    let (out, tid) = sent(&mut w);
    let ok = msrp::report::response(&out, StatusCode::OK, None, &w.gb);
    let shouted = encode(&ok).replace("a.example.org", "A.EXAMPLE.ORG");
    let r = brief(&decode(&shouted));
    assert_eq!(r.tid(), tid);
    assert!(!w.ra.on_brief_success(&r, A_TO_B));
    assert_eq!(w.ra.outstanding(), 1);
    assert_eq!(w.ra.on_response(r.head().unwrap(), A_TO_B), vec![]);
    assert_eq!(w.ra.outstanding(), 0);

    // A NICKNAME's 200 goes back end to end: the head is needed.
    let acts =
        w.ra.on_request(nickname(&w.ga, &w.gb, "nick1"), ALICE, &w.up_a, w.t0);
    let (_, at_b, _) = forward(&acts);
    let at_b = at_b.clone();
    w.ra.assign(&at_b.tid, A_TO_B);
    let ok = msrp::report::response(&at_b, StatusCode::OK, None, &w.gb);
    let r = brief(&ok);
    assert_eq!(r.first_to_path(), w.ga.as_str().as_bytes());
    assert!(!w.ra.on_brief_success(&r, A_TO_B), "not a SEND's");
    assert_eq!(w.ra.outstanding(), 1);
    let acts = w.ra.on_response(r.head().unwrap(), A_TO_B);
    let back = responds(&acts);
    assert_eq!(back.len(), 1, "{acts:#?}");
    assert_eq!((back[0].0, back[0].1.tid.as_ref()), (ALICE, "nick1"));
    assert_eq!(w.ra.outstanding(), 0);
}
