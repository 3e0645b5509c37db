//! A session's SEND chunks forwarded from its template (`msrp_relay::template`): a chunk that
//! repeats the one before it but for its transaction id, Message-ID and Byte-Range is forwarded
//! by filling those values into the block the relay wrote before, and what leaves the relay is
//! what the usual way writes (RFC 4976 §6.4.1, 4976-026..031), on real TCP sockets on
//! 127.0.0.1. Every wait is bounded.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use msrp::{
    ByteRange, ByteString, FailureReport, Head, Header, Method, MsrpUri, Path, StartLine,
    StatusCode,
};
use msrp_relay::metrics::Metrics;
use msrp_relay::server::Relay;

/// Alice and Bob authenticated at a relay: (relay guard, metrics, Alice, Bob, the To-Path from
/// Alice to Bob through Bob's Use-Path URI, Bob's Use-Path URI).
async fn pair() -> (Running, Arc<Metrics>, Client, Client, Path, MsrpUri) {
    let relay = Relay::bind(config()).await.expect("bind");
    let metrics = relay.metrics().clone();
    let running = Running::of(&relay);
    relay.spawn();
    let mut alice = Client::connect(running.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(running.addr, "msrp://bob.example:7002/b1;tcp").await;
    alice.auth(&running.uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&running.uri, "bob", "builder").await;
    let to = msrp::path![ub.clone(), bob.uri.clone()];
    (running, metrics, alice, bob, to, ub)
}

/// A chunk of message `mid`: octets `start..` of `total`, the body `body`, with `extra`
/// headers before Content-Type.
fn chunk(
    alice: &mut Client,
    to: &Path,
    mid: &str,
    start: u64,
    total: u64,
    body: &[u8],
    extra: &[Header],
) -> (Head, Bytes) {
    let mut head = alice
        .request(Method::Send, to.clone())
        .with(Header::MessageId(mid.parse().expect("an ident")))
        .with(Header::ByteRange(ByteRange {
            start,
            end: Some(start + body.len() as u64 - 1),
            total: Some(total),
        }));
    for h in extra {
        head.push(h.clone());
    }
    let head = head.with(Header::ContentType(ByteString::from_static("text/plain")));
    (head, Bytes::copy_from_slice(body))
}

/// What the relay forwards for `sent` (4976-026): its URI leaves the To-Path and leads the
/// From-Path; the tid is its own (`tid`, 4976-027); the rest is as sent.
fn rewritten(sent: &Head, tid: msrp::Ident) -> Head {
    let mut h = sent.clone();
    assert!(h.shift_paths(1));
    h.tid = tid;
    h
}

/// 4976-026..029: chunks of several messages of one session, whole and in pieces, reach Bob
/// as the relay rewrites them, octet for octet in their heads, and Alice gets each 200 with
/// her tid and the chunk's Message-ID; from the third chunk on they are forwarded from the
/// template (the second makes it).
#[tokio::test]
async fn a_sessions_chunks_reach_the_peer_as_rewritten() {
    let (_relay, metrics, mut alice, mut bob, to, ub) = pair().await;
    let plan: [(&str, u64, u64, &[u8]); 7] = [
        ("msg00001", 1, 5, b"hello"),
        ("msg00002", 1, 11, b"hello"),
        ("msg00002", 6, 11, b", bob!"),
        ("msg00003", 1, 2, b"hi"),
        ("msg00004", 1, 12, b"a longer one"),
        ("msg00005", 1, 1, b"x"),
        ("msg00006", 1, 3, b"end"),
    ];
    for (k, &(mid, start, total, body)) in plan.iter().enumerate() {
        let (head, body) = chunk(&mut alice, &to, mid, start, total, body, &[]);
        alice.send(&frame(head.clone(), body.clone())).await;
        let got = bob.expect().await;
        assert_eq!(got.head, rewritten(&head, got.head.tid), "chunk {k}");
        assert_eq!(
            strs(got.head.from_path()),
            [ub.as_str(), alice.uri.as_str()]
        );
        assert_eq!(got.body.as_ref(), Some(&body));
        assert_ne!(got.head.tid, head.tid);
        let ok = alice.expect().await;
        assert_eq!(
            ok.head.start,
            StartLine::Response {
                status: StatusCode::OK,
                comment: Some(ByteString::from_static("OK"))
            }
        );
        assert_eq!(ok.head.tid, head.tid);
        assert_eq!(ok.head.headers.len(), 3, "To-Path, From-Path, Message-ID");
        assert_eq!(ok.head.message_id(), head.message_id(), "RFC 4976 §3");
        assert_eq!(strs(ok.head.to_path()), [alice.uri.as_str()]);
        assert_eq!(strs(ok.head.from_path()), [ub.as_str()]);
        // Bob answers his hop.
        let resp = msrp::report::response(&got.head, StatusCode::OK, None, &bob.uri);
        bob.send(&bodiless(resp)).await;
    }
    assert_eq!(metrics.repeated.get(), plan.len() as u64 - 2);

    // A chunk with another header is not a repeat: forwarded the usual way, and it makes the
    // next template.
    let extra = [Header::FailureReport(FailureReport::Partial)];
    let (head, body) = chunk(&mut alice, &to, "msg00007", 1, 2, b"ok", &extra);
    alice.send(&frame(head.clone(), body)).await;
    let got = bob.expect().await;
    assert_eq!(got.head, rewritten(&head, got.head.tid));
    assert_eq!(metrics.repeated.get(), plan.len() as u64 - 2);
}

/// 4976-030/031: Bob refuses a chunk forwarded from the template; Alice gets the failure
/// REPORT for it, with its Message-ID and Byte-Range, as for any forwarded chunk. After Bob
/// has left, a repeated chunk is answered as a chunk that is not one.
#[tokio::test]
async fn failures_of_template_chunks_are_reported_as_any() {
    let (_relay, metrics, mut alice, mut bob, to, _ub) = pair().await;
    let mut last = None;
    for (k, mid) in ["msg00001", "msg00002", "msg00003"].into_iter().enumerate() {
        let (head, body) = chunk(&mut alice, &to, mid, 1, 4, b"four", &[]);
        alice.send(&frame(head.clone(), body)).await;
        let got = bob.expect().await;
        assert_eq!(alice.expect().await.head.tid, head.tid);
        if k < 2 {
            let resp = msrp::report::response(&got.head, StatusCode::OK, None, &bob.uri);
            bob.send(&bodiless(resp)).await;
        } else {
            last = Some((head, got));
        }
    }
    assert_eq!(metrics.repeated.get(), 1);
    let (head, got) = last.expect("three chunks");
    let refuse = msrp::report::response(&got.head, StatusCode::NO_SUCH_SESSION, None, &bob.uri);
    bob.send(&bodiless(refuse)).await;
    let rep = alice.expect().await;
    assert_eq!(rep.head.method(), Some(&Method::Report));
    assert_eq!(rep.head.message_id(), head.message_id());
    assert_eq!(rep.head.byte_range(), head.byte_range());
    assert_eq!(
        rep.head.report_status().map(|s| s.code),
        Some(StatusCode::NO_SUCH_SESSION)
    );
    assert_eq!(strs(rep.head.to_path()), [alice.uri.as_str()]);

    // Bob leaves: his Use-Path URI goes with his connection (4976-019). A repeated chunk and
    // one with another header (not a repeat) get the same answer.
    drop(bob);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut answers = Vec::new();
    for extra in [
        vec![],
        vec![Header::Other {
            name: ByteString::from_static("X-Other"),
            value: ByteString::from_static("1"),
        }],
    ] {
        let (head, body) = chunk(&mut alice, &to, "msg00009", 1, 4, b"four", &extra);
        alice.send(&frame(head.clone(), body)).await;
        // An answer, or none (a discard, 4976-038) within half a second.
        let a = tokio::time::timeout(std::time::Duration::from_millis(500), alice.recv()).await;
        answers.push(a.ok().flatten().map(|f| {
            assert_eq!(f.head.tid, head.tid);
            (f.head.status(), strs(f.head.to_path()).join(" "))
        }));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(metrics.repeated.get(), 1);
}

/// 4976-026..029, 4976-033: chunks that the relay reads together, most of them whole with their
/// heads (`DecoderConfig::whole_repeats`), reach Bob in order and intact, one message in two
/// chunks (`+`, then `$`), while the batch they are forwarded in fills and goes out several
/// times; Alice gets each 200 with her tid, in order.
#[tokio::test]
async fn chunks_read_together_reach_the_peer_in_order_past_full_batches() {
    let (_relay, metrics, mut alice, mut bob, to, _) = pair().await;
    // 128 chunks of 1 500 octets (about 220 KiB with their heads: reads grow to 64 KiB, more
    // than a batch).
    let body_of =
        |k: usize| -> Vec<u8> { (0..1500).map(|i| b'a' + ((i + k) % 26) as u8).collect() };
    let mut sent = Vec::new();
    let mut wire = bytes::BytesMut::new();
    for k in 0..128 {
        let body = body_of(k);
        // Chunks 20 and 22 are one message's two halves (with another message between them,
        // the first is not carried on in one piece with the second, 4976-033).
        let (mid, start, total, flag) = match k {
            20 => ("msg00020".to_owned(), 1, 3000, msrp::Flag::More),
            22 => ("msg00020".to_owned(), 1501, 3000, msrp::Flag::Last),
            _ => (format!("msg{k:05}"), 1, 1500, msrp::Flag::Last),
        };
        let (head, body) = chunk(&mut alice, &to, &mid, start, total, &body, &[]);
        let mut f = frame(head.clone(), body.clone());
        f.flag = flag;
        f.write(&mut wire);
        sent.push((head, body, flag));
    }
    alice.write_raw(&wire).await;
    for (k, (head, body, flag)) in sent.iter().enumerate() {
        let got = bob.expect().await;
        // A chunk with more of its message to come, and more input behind it, goes out as a
        // piece that could have been cut: its Byte-Range end is `*` (RFC 4975 §7.1.1).
        let mut want = rewritten(head, got.head.tid);
        if got.head.byte_range().is_some_and(|r| r.end.is_none()) && *flag == msrp::Flag::More {
            for h in &mut want.headers {
                if let Header::ByteRange(r) = h {
                    r.end = None;
                }
            }
        }
        assert_eq!(got.head, want, "chunk {k}");
        assert_eq!(got.body.as_ref(), Some(body), "chunk {k}");
        assert_eq!(got.flag, *flag, "chunk {k}");
        let resp = msrp::report::response(&got.head, StatusCode::OK, None, &bob.uri);
        bob.send(&bodiless(resp)).await;
    }
    for (k, (head, _, _)) in sent.iter().enumerate() {
        let ok = alice.expect().await;
        assert_eq!(ok.head.tid, head.tid, "200 {k}");
        assert_eq!(ok.head.status(), Some(StatusCode::OK), "200 {k}");
    }
    // Most are forwarded from the template (not the first two, nor the chunks around the
    // two-chunk message, which go the usual way as pieces that may be cut).
    assert!(metrics.repeated.get() >= 120, "{}", metrics.repeated.get());
}
