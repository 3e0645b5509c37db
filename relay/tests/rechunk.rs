//! Re-chunking of forwarded SEND chunks (RFC 4976 §6.4.1, 4976-033; the rule is documented in
//! `msrp_relay::server`, "Re-chunking") over real TCP sockets on 127.0.0.1: a long chunk is
//! split into pieces ended with `+`, each with its own transaction id and a Byte-Range that
//! starts where the previous piece stopped, the last one carrying the original flag; the pieces
//! reassemble to the exact body; replies for the target are not held up behind the chunk; each
//! piece's 200 from the target is absorbed by the relay (no failure REPORT to the sender).
//!
//! The observable for "replies are not held up": Bob sends Alice a SEND while Alice's long chunk
//! to Bob is open, and the relay's hop-by-hop 200 for it (RFC 4976 §6.4.1, 4976-028) is a
//! response the relay itself queues on Bob's connection. Alice holds the rest of her chunk back
//! until that 200 has reached Bob (bounded by a timeout), so the 200 cannot have ridden on the
//! end of her chunk: without re-chunking it waits behind the open frame and the test fails.
//! (A REPORT from Alice would need a second connection of hers: her first one is inside the
//! chunk; a response is the simplest reply the relay itself owes Bob.)

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use msrp::reassembly::{Outcome, Reassembler};
use msrp::transport::EventReader;
use msrp::{ByteRange, ByteString, Event, Flag, Head, Header, Ident, Method, MsrpUri, StatusCode};
use msrp_relay::config::RelayConfig;
use msrp_relay::metrics::Metrics;
use msrp_relay::server::{Relay, ShutdownHandle};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, mpsc};

const KIB: u64 = 1024;
/// Body octets the decoder keeps back at the end of what it has read until it knows they do not
/// begin the end-line (`CRLF -------` minus one octet): a source paused at offset `n` has had
/// `n - 8` octets forwarded.
const HELD: u64 = 8;
const MIB: u64 = 1024 * KIB;

/// Stops the relay when dropped.
struct Stop(ShutdownHandle);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// A relay with `cfg`, Alice and Bob authenticated there: (stop guard, metrics, alice, bob,
/// Alice's Use-Path URI, Bob's Use-Path URI).
async fn pair(cfg: RelayConfig) -> (Stop, Arc<Metrics>, Client, Client, MsrpUri, MsrpUri) {
    let (stop, metrics, addr, uri) = relay_at(cfg).await;
    let mut alice = Client::connect(addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(addr, "msrp://bob.example:7002/b1;tcp").await;
    let (ua, _) = alice.auth(&uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&uri, "bob", "builder").await;
    (stop, metrics, alice, bob, ua, ub)
}

/// A relay with `cfg`, running: (stop guard, metrics, address, its URI).
async fn relay_at(cfg: RelayConfig) -> (Stop, Arc<Metrics>, SocketAddr, MsrpUri) {
    let relay = Relay::bind(cfg).await.expect("bind");
    let addr = relay.local_addr().expect("addr");
    let uri = relay.uri().clone();
    let metrics = relay.metrics().clone();
    let stop = Stop(relay.shutdown_handle());
    relay.spawn();
    (stop, metrics, addr, uri)
}

/// What Bob's reader saw, in order.
#[derive(Debug)]
enum Seen {
    /// A piece of Alice's message: its head, body octets and flag.
    Piece {
        tid: Ident,
        message_id: Option<Ident>,
        range: Option<ByteRange>,
        octets: u64,
        flag: Flag,
    },
    /// A response addressed to Bob.
    Response(Ident, StatusCode),
    /// Alice's message, reassembled (msrp::Reassembler).
    Complete(Bytes),
}

/// Bob's side: reads frames, feeds SEND pieces to a [`Reassembler`], answers every SEND piece
/// 200 to the relay (hop by hop, RFC 4976 §6.4.1) and reports what it saw on `tx`.
async fn bob_reader(
    mut r: EventReader<OwnedReadHalf>,
    w: Arc<Mutex<OwnedWriteHalf>>,
    own: MsrpUri,
    tx: mpsc::UnboundedSender<Seen>,
) {
    let mut reasm = Reassembler::default();
    let mut current: Option<(Head, msrp::reassembly::ChunkCursor, u64)> = None;
    let mut response: Option<Head> = None;
    while let Some(item) = r.next().await {
        let ev = item.expect("Bob's stream").expect("decodable");
        match ev {
            Event::Head { head, .. } if head.is_send() => {
                let cursor = reasm
                    .begin(&head, Instant::now())
                    .expect("a chunk Bob takes");
                current = Some((head, cursor, 0));
            }
            Event::Head { head, .. } => response = Some(head),
            Event::BriefSuccess(r) => panic!("not configured: {r:?}"),
            Event::RepeatedSend(r) => panic!("not configured: {r:?}"),
            Event::Body(piece) => {
                if let Some((_, cursor, octets)) = current.as_mut() {
                    *octets += piece.len() as u64;
                    reasm.body(cursor, piece).expect("body taken");
                }
            }
            Event::End(flag) => {
                if let Some(head) = response.take() {
                    let status = head.status().expect("Bob gets no requests but SENDs");
                    let _ = tx.send(Seen::Response(head.tid, status));
                    continue;
                }
                let (head, cursor, octets) = current.take().expect("end of a SEND");
                let ok = msrp::report::response(&head, StatusCode::OK, None, &own);
                let mut b = BytesMut::new();
                msrp::encode::frame(&ok, None, Flag::Last, &mut b);
                w.lock().await.write_all(&b).await.expect("bob writes");
                let outcome = reasm.end(cursor, flag, Instant::now()).expect("chunk ends");
                let _ = tx.send(Seen::Piece {
                    tid: head.tid,
                    message_id: head.message_id().cloned(),
                    range: head.byte_range(),
                    octets,
                    flag,
                });
                if let Outcome::Complete(m) = outcome {
                    let _ = tx.send(Seen::Complete(m.body));
                }
            }
        }
    }
}

/// Writes body octets `from..to` of the pattern on Alice's connection, in 64 KiB writes.
async fn write_body(alice: &mut Client, from: u64, to: u64) {
    let mut off = from;
    let mut buf = BytesMut::new();
    while off < to {
        let n = (to - off).min(64 * KIB);
        buf.resize(n as usize, 0);
        pattern(off, &mut buf);
        alice.write_raw(&buf).await;
        off += n;
    }
}

/// Bob -> relay -> Alice: a 2-octet SEND; returns its head as Bob sent it.
async fn bob_sends(
    bob_w: &Mutex<OwnedWriteHalf>,
    bob_uri: &MsrpUri,
    ids: &mut msrp::IdGenerator,
    to: msrp::Path,
) -> Head {
    let reply = Head::request(
        Method::Send,
        ids.next_id(),
        to,
        msrp::path![bob_uri.clone()],
    )
    .with(Header::MessageId(ids.next_id()))
    .with(Header::ByteRange(ByteRange::whole(2)))
    .with(Header::ContentType(ByteString::from_static("text/plain")));
    let mut b = BytesMut::new();
    msrp::encode::frame(&reply, Some(b"ok"), Flag::Last, &mut b);
    bob_w.lock().await.write_all(&b).await.expect("bob writes");
    reply
}

/// Waits until Bob has seen the relay's 200 for `tid`; returns the pieces seen so far, or
/// `None` after `ms` milliseconds.
async fn wait_for_ok(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    seen: &mut Vec<Seen>,
    tid: &Ident,
    ms: u64,
) -> bool {
    tokio::time::timeout(Duration::from_millis(ms), async {
        while let Some(s) = rx.recv().await {
            let done = matches!(&s, Seen::Response(t, StatusCode::OK) if t == tid);
            seen.push(s);
            if done {
                return;
            }
        }
    })
    .await
    .is_ok()
}

/// Collects what Bob sees until Alice's message is complete (within `ms`).
async fn until_complete(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    seen: &mut Vec<Seen>,
    ms: u64,
) -> Bytes {
    within(ms, async {
        loop {
            match rx.recv().await.expect("Bob's reader runs") {
                Seen::Complete(body) => return body,
                s => seen.push(s),
            }
        }
    })
    .await
}

/// The pieces of Alice's message in `seen`, in order: (tid, range, octets, flag).
fn pieces(seen: &[Seen], mid: &Ident) -> Vec<(Ident, ByteRange, u64, Flag)> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Piece {
                tid,
                message_id,
                range,
                octets,
                flag,
            } => {
                assert_eq!(
                    message_id.as_ref(),
                    Some(mid),
                    "same Message-ID on every piece"
                );
                Some((*tid, range.expect("Byte-Range"), *octets, *flag))
            }
            _ => None,
        })
        .collect()
}

/// Checks that `pieces` cover `1..=len` back to back, every piece's head saying `start-*/len`
/// (4975-024: it may have been interrupted), `+` on all but the last, `$` on the last, all
/// with distinct transaction ids (4975-029).
fn check_consecutive(pieces: &[(Ident, ByteRange, u64, Flag)], len: u64) {
    let mut next = 1;
    for (i, (_, range, octets, flag)) in pieces.iter().enumerate() {
        assert_eq!(
            range.start,
            next,
            "piece {i} starts where {} stopped",
            i.max(1) - 1
        );
        assert_eq!(range.end, None, "piece {i}: range-end `*`");
        assert_eq!(range.total, Some(len), "piece {i}: total kept");
        let last = i + 1 == pieces.len();
        assert_eq!(
            *flag,
            if last { Flag::Last } else { Flag::More },
            "piece {i}"
        );
        assert!(*octets > 0, "piece {i} is not empty");
        next += octets;
    }
    assert_eq!(next, len + 1, "the pieces cover the message");
    let mut tids: Vec<_> = pieces.iter().map(|p| p.0).collect();
    tids.sort();
    tids.dedup();
    assert_eq!(tids.len(), pieces.len(), "a new transaction id per piece");
}

/// Alice's side after her chunk: she answers the SEND Bob forwarded to her and collects
/// everything else for `ms`; returns the frames other than that SEND.
async fn alice_drains(alice: &mut Client, ms: u64) -> Vec<msrp::Frame> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(f) = tokio::time::timeout_at(deadline, read_frame(&mut alice.r)).await {
        let f = f.expect("not EOF");
        if f.head.is_send() {
            let ok = msrp::report::response(&f.head, StatusCode::OK, None, &alice.uri);
            alice.send(&bodiless(ok)).await;
        } else {
            got.push(f);
        }
    }
    got
}

/// The scenario: a 4 MiB single chunk through a relay with `rechunk_size` 256 KiB
/// reaches Bob as exactly 16 pieces (`+` x 15, then `$`) with consecutive Byte-Ranges that
/// reassemble to the exact body; the relay's 200 for a SEND of Bob's reaches him while Alice's
/// chunk is still open (Alice pauses after 1 MiB until it has); Bob's 200 to every piece is
/// absorbed by the relay: Alice gets one 200 for her chunk, after its end-line, and no REPORT.
///
/// Cutting for waiting replies is off here so that the piece count is exactly 16; the 200 then
/// goes out at the piece boundary at 1 MiB, which the relay ends at once because the
/// Byte-Range says more follows.
#[tokio::test]
async fn four_mib_chunk_arrives_as_sixteen_pieces_and_replies_overtake_it() {
    const LEN: u64 = 4 * MIB;
    const PIECE: u64 = 256 * KIB;
    const PAUSE: u64 = MIB;
    let mut cfg = config();
    cfg.rechunk_size = PIECE as usize;
    cfg.rechunk_for_replies = false;
    let (_stop, metrics, mut alice, bob, ua, ub) = pair(cfg).await;

    let Client {
        r: bob_r,
        w: bob_w,
        uri: bob_uri,
        ids: mut bob_ids,
    } = bob;
    let bob_w = Arc::new(Mutex::new(bob_w));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(bob_reader(bob_r, bob_w.clone(), bob_uri.clone(), tx));

    // Alice: one SEND chunk `1-4194304/4194304`, of which she writes the head and 1 MiB plus
    // 8 octets: the relay's decoder holds the last 8 octets of what it has back (they might
    // begin the end-line), so it forwards exactly 1 MiB, four full pieces.
    let send = send_head(
        &mut alice,
        msrp::path![ua.clone(), ub.clone(), bob_uri.clone()],
        LEN as usize,
    );
    let mid = send.message_id().cloned().expect("Message-ID");
    let mut head = BytesMut::new();
    msrp::encode::head(&send, true, &mut head);
    alice.write_raw(&head).await;
    write_body(&mut alice, 0, PAUSE + HELD).await;

    // Bob has the first four pieces (the fourth ended at once: more is declared).
    let mut seen = Vec::new();
    within(5000, async {
        while pieces(&seen, &mid).len() < 4 {
            seen.push(rx.recv().await.expect("Bob's reader runs"));
        }
    })
    .await;

    // Bob -> Alice while Alice's chunk is open: the relay's 200 reaches Bob before she goes on.
    let reply = bob_sends(
        &bob_w,
        &bob_uri,
        &mut bob_ids,
        msrp::path![ub, ua, alice.uri.clone()],
    )
    .await;
    let answered = wait_for_ok(&mut rx, &mut seen, &reply.tid, 3000).await;
    assert!(
        answered,
        "the relay's 200 to Bob waited behind Alice's open chunk: {seen:?}"
    );
    let before = pieces(&seen, &mid);
    assert_eq!(
        before.len(),
        4,
        "the 200 came between pieces 4 and 5: {before:?}"
    );
    assert!(before.iter().all(|p| p.3 == Flag::More), "{before:?}");

    // Alice finishes; Bob gets the rest and the whole message.
    write_body(&mut alice, PAUSE + HELD, LEN).await;
    let mut end = BytesMut::new();
    msrp::encode::end(&send.tid, Flag::Last, true, &mut end);
    alice.write_raw(&end).await;
    let body = until_complete(&mut rx, &mut seen, 10_000).await;
    let mut want = vec![0u8; LEN as usize];
    pattern(0, &mut want);
    assert!(body == want, "the reassembled body differs");

    let all = pieces(&seen, &mid);
    assert_eq!(all.len(), 16, "4 MiB in 256 KiB pieces");
    assert!(all.iter().all(|p| p.2 == PIECE), "every piece 256 KiB");
    check_consecutive(&all, LEN);

    // Alice: exactly one 200, for her chunk, and no failure REPORT for any piece.
    let got = alice_drains(&mut alice, 700).await;
    let oks: Vec<_> = got
        .iter()
        .filter(|f| f.head.status() == Some(StatusCode::OK) && f.head.tid == send.tid)
        .collect();
    assert_eq!(oks.len(), 1, "one 200 for Alice's chunk: {got:?}");
    assert_eq!(got.len(), 1, "nothing else (no failure REPORT): {got:?}");
    assert_eq!(metrics.rechunked.get(), 15, "15 further pieces");
    reader.abort();
}

/// With `rechunk_for_replies` (the default), a piece is ended as soon as the target has a reply
/// waiting, even while the source is silent in the middle of its chunk: Alice pauses after
/// 100 KiB of a 1 MiB chunk and the relay's 200 for Bob's SEND still reaches Bob. The message
/// then arrives intact in consecutive pieces, the second one cut right after the last octet the
/// relay had.
#[tokio::test]
async fn a_waiting_reply_cuts_the_piece_while_the_source_is_silent() {
    const LEN: u64 = MIB;
    const PAUSE: u64 = 100 * KIB;
    let (_stop, metrics, mut alice, bob, ua, ub) = pair(config()).await;
    let Client {
        r: bob_r,
        w: bob_w,
        uri: bob_uri,
        ids: mut bob_ids,
    } = bob;
    let bob_w = Arc::new(Mutex::new(bob_w));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(bob_reader(bob_r, bob_w.clone(), bob_uri.clone(), tx));

    let send = send_head(
        &mut alice,
        msrp::path![ua.clone(), ub.clone(), bob_uri.clone()],
        LEN as usize,
    );
    let mid = send.message_id().cloned().expect("Message-ID");
    let mut head = BytesMut::new();
    msrp::encode::head(&send, true, &mut head);
    alice.write_raw(&head).await;
    write_body(&mut alice, 0, PAUSE).await;
    // Let the relay forward what Alice wrote (it cuts at 64 KiB, the default size).
    tokio::time::sleep(Duration::from_millis(200)).await;

    let reply = bob_sends(
        &bob_w,
        &bob_uri,
        &mut bob_ids,
        msrp::path![ub, ua, alice.uri.clone()],
    )
    .await;
    let mut seen = Vec::new();
    assert!(
        wait_for_ok(&mut rx, &mut seen, &reply.tid, 3000).await,
        "the relay's 200 to Bob waited behind Alice's open chunk: {seen:?}"
    );
    let before = pieces(&seen, &mid);
    let octets: u64 = before.iter().map(|p| p.2).sum();
    assert_eq!(
        octets,
        PAUSE - HELD,
        "cut after all the relay had: {before:?}"
    );

    write_body(&mut alice, PAUSE, LEN).await;
    let mut end = BytesMut::new();
    msrp::encode::end(&send.tid, Flag::Last, true, &mut end);
    alice.write_raw(&end).await;
    let body = until_complete(&mut rx, &mut seen, 10_000).await;
    let mut want = vec![0u8; LEN as usize];
    pattern(0, &mut want);
    assert!(body == want, "the reassembled body differs");
    let all = pieces(&seen, &mid);
    check_consecutive(&all, LEN);
    // 100 KiB - 8 = 64 KiB + 36 856 (cut for the reply), then the rest in 64 KiB pieces (15).
    assert_eq!(all.len(), 17, "{all:?}");
    assert_eq!(metrics.rechunked.get(), 16);

    let got = alice_drains(&mut alice, 500).await;
    assert_eq!(
        got.len(),
        1,
        "one 200 for Alice's chunk, no REPORT: {got:?}"
    );
    assert_eq!(got[0].head.status(), Some(StatusCode::OK));
    reader.abort();
}

/// Another source's SEND to the same target is not held up behind an open long chunk either
/// (RFC 4976 §6.4.1, 4976-033; the fair sharing RFC 4975 §7.1.1 asks of a sender, 4975-028):
/// while Alice's 1 MiB chunk to Bob is open and Alice is silent after 100 KiB, Carol's SEND
/// to Bob waits for the target's data lane; the relay ends Alice's piece with `+`, lets Carol's
/// frame through between the pieces, and goes on with Alice's chunk in a new piece. Bob gets
/// Carol's message whole while Alice's is still incomplete, then Alice's intact.
#[tokio::test]
async fn another_source_is_let_in_between_the_pieces_of_an_open_chunk() {
    const LEN: u64 = MIB;
    const PAUSE: u64 = 100 * KIB;
    let (_stop, metrics, addr, uri) = relay_at(config().with_user("carol", "c4rol")).await;
    let mut alice = Client::connect(addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(addr, "msrp://bob.example:7002/b1;tcp").await;
    let mut carol = Client::connect(addr, "msrp://carol.example:7003/c1;tcp").await;
    let (ua, _) = alice.auth(&uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&uri, "bob", "builder").await;
    let (uc, _) = carol.auth(&uri, "carol", "c4rol").await;
    let Client {
        r: bob_r,
        w: bob_w,
        uri: bob_uri,
        ids: _,
    } = bob;
    let bob_w = Arc::new(Mutex::new(bob_w));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(bob_reader(bob_r, bob_w.clone(), bob_uri.clone(), tx));

    let send = send_head(
        &mut alice,
        msrp::path![ua.clone(), ub.clone(), bob_uri.clone()],
        LEN as usize,
    );
    let mid = send.message_id().cloned().expect("Message-ID");
    let mut head = BytesMut::new();
    msrp::encode::head(&send, true, &mut head);
    alice.write_raw(&head).await;
    write_body(&mut alice, 0, PAUSE).await;
    // Let the relay forward what Alice wrote (it cuts at 64 KiB, the default size): the
    // second piece is open on Bob's connection.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let hers = send_head(&mut carol, msrp::path![uc, ub.clone(), bob_uri.clone()], 2);
    carol
        .send(&frame(hers.clone(), Bytes::from_static(b"hi")))
        .await;

    // Carol's message reaches Bob while Alice's chunk is open (Alice has not written more).
    let mut seen = Vec::new();
    let carols = within(3000, async {
        loop {
            match rx.recv().await.expect("Bob's reader runs") {
                Seen::Complete(body) => return body,
                s => seen.push(s),
            }
        }
    })
    .await;
    assert_eq!(&carols[..], b"hi", "Carol's message first, whole");
    let alices: u64 = seen
        .iter()
        .map(|s| match s {
            Seen::Piece {
                message_id, octets, ..
            } if message_id.as_ref() == Some(&mid) => *octets,
            _ => 0,
        })
        .sum();
    assert_eq!(
        alices,
        PAUSE - HELD,
        "Alice's piece was cut after all the relay had"
    );
    let ok = carol.expect().await;
    assert_eq!(
        ok.head.status(),
        Some(StatusCode::OK),
        "Carol's hop-by-hop 200"
    );

    write_body(&mut alice, PAUSE, LEN).await;
    let mut end = BytesMut::new();
    msrp::encode::end(&send.tid, Flag::Last, true, &mut end);
    alice.write_raw(&end).await;
    let body = until_complete(&mut rx, &mut seen, 10_000).await;
    let mut want = vec![0u8; LEN as usize];
    pattern(0, &mut want);
    assert!(body == want, "Alice's reassembled body differs");
    let all: Vec<_> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Piece {
                tid,
                message_id,
                range,
                octets,
                flag,
            } if message_id.as_ref() == Some(&mid) => {
                Some((*tid, range.expect("Byte-Range"), *octets, *flag))
            }
            _ => None,
        })
        .collect();
    check_consecutive(&all, LEN);
    assert!(metrics.rechunked.get() >= 15, "{}", metrics.rechunked.get());
    reader.abort();
}

/// Re-chunking off (`rechunk_size` 0, `rechunk_for_replies` false): a 1 MiB chunk is forwarded
/// as one chunk with its Byte-Range as received.
#[tokio::test]
async fn rechunking_off_forwards_the_chunk_whole() {
    const LEN: u64 = MIB;
    let mut cfg = config();
    cfg.rechunk_size = 0;
    cfg.rechunk_for_replies = false;
    let (_stop, metrics, mut alice, bob, ua, ub) = pair(cfg).await;
    let Client {
        r: bob_r,
        w: bob_w,
        uri: bob_uri,
        ..
    } = bob;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(bob_reader(
        bob_r,
        Arc::new(Mutex::new(bob_w)),
        bob_uri.clone(),
        tx,
    ));
    let send = send_head(&mut alice, msrp::path![ua, ub, bob_uri], LEN as usize);
    let mid = send.message_id().cloned().expect("Message-ID");
    let mut b = vec![0u8; LEN as usize];
    pattern(0, &mut b);
    alice.send(&frame(send, Bytes::from(b.clone()))).await;
    let mut seen = Vec::new();
    let body = until_complete(&mut rx, &mut seen, 10_000).await;
    assert!(body == b);
    let all = pieces(&seen, &mid);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].1, ByteRange::whole(LEN), "Byte-Range as received");
    assert_eq!(metrics.rechunked.get(), 0);
    reader.abort();
}

/// A chunk whose Byte-Range declares at most 2048 octets is never cut and keeps its Byte-Range,
/// even with tiny pieces configured.
#[tokio::test]
async fn short_chunks_keep_their_byte_range() {
    let mut cfg = config();
    cfg.rechunk_size = 4096;
    let (_stop, _metrics, mut alice, bob, ua, ub) = pair(cfg).await;
    let Client {
        r: bob_r,
        w: bob_w,
        uri: bob_uri,
        ..
    } = bob;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let reader = tokio::spawn(bob_reader(
        bob_r,
        Arc::new(Mutex::new(bob_w)),
        bob_uri.clone(),
        tx,
    ));
    let send = send_head(&mut alice, msrp::path![ua, ub, bob_uri], 2048);
    let mid = send.message_id().cloned().expect("Message-ID");
    alice
        .send(&frame(send, Bytes::from(vec![b'x'; 2048])))
        .await;
    let mut seen = Vec::new();
    let body = until_complete(&mut rx, &mut seen, 5000).await;
    assert_eq!(body.len(), 2048);
    let all = pieces(&seen, &mid);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1, ByteRange::whole(2048));
    reader.abort();
}
