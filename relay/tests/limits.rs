//! The relay's limits and error paths over real TCP sockets on 127.0.0.1 (port 0): streaming a
//! 64 MiB message with bounded memory, backpressure from a slow receiver, the idle timeout
//! (4976-039), the SEND response timer (4976-030), next-hop errors (4976-031/037), AUTH errors
//! (4976-013/017/021), parse errors (RFC 4975 §10) and requests for other hosts (RFC 4976 §6.2).
//!
//! The relay runs inside the test process, so its memory is the process's: the two memory tests
//! read `VmRSS`/`VmHWM` from `/proc/self/status` and hold [`GATE`] exclusively, every other test
//! holds it shared, so no test allocates while a memory test measures.

mod common;

use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use msrp::transport::EventReader;
use msrp::{
    ByteRange, ByteString, Event, FailureReport, Flag, Head, Header, IdGenerator, Method, MsrpUri,
    Path, StatusCode,
};
use msrp_relay::config::RelayConfig;
use msrp_relay::digest::{self, Challenge};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::RwLock;

/// Memory tests take it for writing, all others for reading.
static GATE: LazyLock<RwLock<()>> = LazyLock::new(|| RwLock::new(()));

const MIB: u64 = 1 << 20;
/// The big message.
const BIG: u64 = 64 * MIB;
/// Most the process's resident set may grow while a big message passes.
const RSS_BOUND_KIB: u64 = 32 * 1024;

/// Alice and Bob, both authenticated at a relay with `cfg`: (relay, alice, bob, alice's
/// Use-Path URI, bob's).
async fn pair(cfg: RelayConfig) -> (Running, Client, Client, MsrpUri, MsrpUri) {
    let relay = start(cfg).await;
    let mut alice = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(relay.addr, "msrp://bob.example:7002/b1;tcp").await;
    let (ua, _) = alice.auth(&relay.uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&relay.uri, "bob", "builder").await;
    (relay, alice, bob, ua, ub)
}

/// Answers `relay`'s challenge `ch` as `user`/`password` with `nc`.
fn creds(ch: &Challenge, relay: &MsrpUri, user: &str, password: &str, nc: u32) -> msrp::AuthParams {
    ch.answer(
        user,
        &digest::ha1_hex(user, REALM, password),
        relay.as_str(),
        "c0ffee42",
        nc,
    )
}

fn status_of(f: &msrp::Frame) -> Option<u16> {
    f.head.status().map(|s| s.as_u16())
}

// --- streaming a big message --------------------------------------------------------------

/// Samples `VmRSS` every 5 ms until stopped; the largest value seen, in KiB.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Sampler {
    fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut max = 0;
            while !flag.load(Ordering::Relaxed) {
                max = max.max(status_kib("VmRSS"));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            max.max(status_kib("VmRSS"))
        });
        Sampler { stop, task }
    }

    async fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("sampler")
    }
}

/// Writes a `BIG`-octet message from Alice in chunks of `chunk` octets, generating the body on
/// the fly (at most ~128 KiB of it in memory at once). `progress` counts the body octets
/// written. Returns the number of chunks.
async fn write_big(
    mut w: OwnedWriteHalf,
    mut ids: IdGenerator,
    to: Path,
    from: Path,
    chunk: u64,
    progress: Arc<AtomicU64>,
) -> (u64, OwnedWriteHalf) {
    const PIECE: usize = 64 * 1024;
    let mid = ids.next_id();
    let mut out = BytesMut::with_capacity(2 * PIECE);
    let (mut start, mut chunks) = (0u64, 0u64);
    while start < BIG {
        let len = chunk.min(BIG - start);
        let tid = ids.next_id();
        let head = Head::request(Method::Send, tid, to.clone(), from.clone())
            .with(Header::MessageId(mid))
            .with(Header::ByteRange(ByteRange {
                start: start + 1,
                end: Some(start + len),
                total: Some(BIG),
            }))
            .with(Header::ContentType(ByteString::from_static(
                "application/octet-stream",
            )));
        msrp::encode::head(&head, true, &mut out);
        let mut off = 0;
        while off < len {
            let n = (len - off).min(PIECE as u64) as usize;
            let at = out.len();
            out.resize(at + n, 0);
            pattern(start + off, &mut out[at..]);
            off += n as u64;
            if out.len() >= PIECE {
                w.write_all(&out).await.expect("alice writes");
                out.clear();
                progress.store(start + off, Ordering::Relaxed);
            }
        }
        let flag = if start + len == BIG {
            Flag::Last
        } else {
            Flag::More
        };
        msrp::encode::end(&tid, flag, true, &mut out);
        start += len;
        chunks += 1;
    }
    w.write_all(&out).await.expect("alice writes");
    progress.store(BIG, Ordering::Relaxed);
    (chunks, w)
}

/// What Bob saw of the big message.
#[derive(Debug, Default)]
struct Received {
    octets: u64,
    chunks: u64,
    largest_piece: usize,
    last_flag: Option<Flag>,
}

/// Bob reads the big message, checks every body piece against the pattern at its offset and
/// the Byte-Range of every chunk, and answers each chunk 200 (hop by hop, to the relay).
async fn read_big(
    mut r: EventReader<OwnedReadHalf>,
    mut w: OwnedWriteHalf,
    own: MsrpUri,
    ua: MsrpUri,
) -> Received {
    let mut got = Received::default();
    let mut head: Option<Head> = None;
    while got.last_flag != Some(Flag::Last) {
        let ev = r
            .next()
            .await
            .expect("not EOF")
            .expect("stream")
            .expect("decodable");
        match ev {
            Event::Head { head: h, body } => {
                assert!(body && h.is_send(), "a SEND with a body: {h:?}");
                assert_eq!(h.to_path(), std::slice::from_ref(&own));
                assert_eq!(h.from_path().get(1), Some(&ua));
                let range = h.byte_range().expect("Byte-Range");
                assert_eq!(range.start, got.octets + 1, "chunks in order, none lost");
                assert_eq!(range.total, Some(BIG));
                head = Some(h);
            }
            Event::Body(piece) => {
                assert!(
                    matches_pattern(got.octets, &piece),
                    "body differs in the {} octets at offset {}",
                    piece.len(),
                    got.octets
                );
                got.octets += piece.len() as u64;
                got.largest_piece = got.largest_piece.max(piece.len());
            }
            Event::End(flag) => {
                let h = head.take().expect("end of a chunk");
                if let Some(end) = h.byte_range().and_then(|r| r.end) {
                    assert_eq!(end, got.octets, "Byte-Range end matches the octets");
                }
                assert_ne!(flag, Flag::Abort, "chunk aborted");
                got.chunks += 1;
                got.last_flag = Some(flag);
                let ok = msrp::report::response(&h, StatusCode::OK, None, &own);
                let mut b = BytesMut::new();
                msrp::encode::frame(&ok, None, Flag::Last, &mut b);
                w.write_all(&b).await.expect("bob writes");
            }
            Event::BriefSuccess(r) => panic!("not configured: {r:?}"),
            Event::RepeatedSend(r) => panic!("not configured: {r:?}"),
        }
    }
    assert_eq!(got.octets, BIG);
    got
}

/// Alice counts the relay's 200s to her chunks until `n` have come; anything else fails.
async fn read_oks(mut r: EventReader<OwnedReadHalf>, n: u64) -> u64 {
    let mut seen = 0;
    while seen < n {
        let f = read_frame(&mut r).await.expect("not EOF");
        assert_eq!(f.head.status(), Some(StatusCode::OK), "{:?}", f.head);
        seen += 1;
    }
    seen
}

/// Streams the big message Alice -> relay -> Bob in chunks of `chunk` octets and checks that
/// it arrives intact while the process's RSS stays within [`RSS_BOUND_KIB`] of where it was.
async fn big_message(chunk: u64) {
    let _gate = GATE.write().await;
    let (_relay, alice, bob, ua, ub) = pair(config()).await;
    let to = msrp::path![ua.clone(), ub, bob.uri.clone()];
    let from = msrp::path![alice.uri.clone()];
    let n_chunks = BIG.div_ceil(chunk);

    let hwm_reset = reset_hwm();
    let base = status_kib("VmRSS");
    let sampler = Sampler::start();
    let started = Instant::now();
    let progress = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(write_big(
        alice.w,
        alice.ids,
        to,
        from,
        chunk,
        progress.clone(),
    ));
    let oks = tokio::spawn(read_oks(alice.r, n_chunks));
    let reader = tokio::spawn(read_big(bob.r, bob.w, bob.uri.clone(), ua));
    let got = within(25_000, reader).await.expect("bob");
    let elapsed = started.elapsed();
    let (chunks, _w) = within(2000, writer).await.expect("alice");
    assert_eq!(
        within(5000, oks).await.expect("oks"),
        n_chunks,
        "a 200 per chunk"
    );
    let sampled = sampler.finish().await;
    let hwm = status_kib("VmHWM");
    let peak = if hwm_reset { hwm.max(sampled) } else { sampled };
    let growth = peak.saturating_sub(base);
    eprintln!(
        "big message, {chunk}-octet chunks: {chunks} chunks sent, {} received (largest read \
         piece {} octets), {:.1} s ({:.0} MiB/s); RSS base {base} KiB, peak {peak} KiB \
         (sampled {sampled}, VmHWM {hwm}{}), growth {growth} KiB",
        got.chunks,
        got.largest_piece,
        elapsed.as_secs_f64(),
        BIG as f64 / MIB as f64 / elapsed.as_secs_f64(),
        if hwm_reset { "" } else { ", not reset" },
    );
    assert_eq!(chunks, n_chunks);
    assert_eq!(got.last_flag, Some(Flag::Last));
    assert!(
        growth < RSS_BOUND_KIB,
        "RSS grew by {growth} KiB while 64 MiB passed (bound {RSS_BOUND_KIB} KiB)"
    );
}

/// A 64 MiB message in one chunk passes intact and is never held whole: RSS grows < 32 MiB.
#[tokio::test]
async fn big_message_in_one_chunk_bounded_memory() {
    big_message(BIG).await;
}

/// A 64 MiB message in 2 KiB chunks (32 768 SENDs, `+` then `$`) passes intact and in order,
/// every chunk answered hop by hop; RSS grows < 32 MiB.
#[tokio::test]
async fn big_message_in_2k_chunks_bounded_memory() {
    big_message(2048).await;
}

/// Backpressure: Bob stops reading while Alice writes a 64 MiB chunk. The relay stops reading
/// Alice once its lane to Bob (1 MiB) and the socket buffers are full, so Alice's writes stall
/// well before the end and the process's RSS stays bounded; once Bob reads again the whole
/// message arrives intact.
#[tokio::test]
async fn slow_receiver_gets_backpressure_not_buffering() {
    let _gate = GATE.write().await;
    let mut cfg = config();
    cfg.queue_bytes = MIB as usize;
    let (_relay, alice, bob, ua, ub) = pair(cfg).await;
    let to = msrp::path![ua.clone(), ub, bob.uri.clone()];
    let from = msrp::path![alice.uri.clone()];

    let hwm_reset = reset_hwm();
    let base = status_kib("VmRSS");
    let sampler = Sampler::start();
    let progress = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(write_big(
        alice.w,
        alice.ids,
        to,
        from,
        BIG,
        progress.clone(),
    ));
    // Wait until Alice's writes stop making progress (unchanged for 500 ms).
    let stalled_at = within(10_000, async {
        let mut last = u64::MAX;
        let mut still = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = progress.load(Ordering::Relaxed);
            if now == last {
                still += 1;
                if still == 5 {
                    return now;
                }
            } else {
                (last, still) = (now, 0);
            }
        }
    })
    .await;
    let stalled_rss = status_kib("VmRSS");
    assert!(
        stalled_at < BIG / 2,
        "the sender stalls: {stalled_at} of {BIG} octets written while nobody reads"
    );
    assert!(!writer.is_finished());

    // Bob reads again: everything arrives.
    let started = Instant::now();
    let oks = tokio::spawn(read_oks(alice.r, 1));
    let got = within(25_000, read_big(bob.r, bob.w, bob.uri.clone(), ua)).await;
    let (chunks, _w) = within(2000, writer).await.expect("alice");
    assert_eq!(chunks, 1);
    assert_eq!(within(3000, oks).await.expect("oks"), 1);
    let sampled = sampler.finish().await;
    let hwm = status_kib("VmHWM");
    let peak = if hwm_reset { hwm.max(sampled) } else { sampled };
    let growth = peak.saturating_sub(base);
    eprintln!(
        "backpressure: sender stalled after {stalled_at} octets ({:.1} MiB) with RSS {stalled_rss} \
         KiB (base {base} KiB); drained in {:.1} s; peak {peak} KiB, growth {growth} KiB; Bob \
         got {} octets in {} chunk(s)",
        stalled_at as f64 / MIB as f64,
        started.elapsed().as_secs_f64(),
        got.octets,
        got.chunks
    );
    assert!(
        growth < RSS_BOUND_KIB,
        "RSS grew by {growth} KiB (bound {RSS_BOUND_KIB} KiB)"
    );
}

// --- connection limits -----------------------------------------------------------------------

/// RFC 4976 §6.5 (4976-039): a connection that authenticated and then says nothing is closed
/// after the idle timeout; one that keeps talking is not.
#[tokio::test]
async fn idle_timeout_closes_a_quiet_authenticated_connection() {
    let _gate = GATE.read().await;
    let idle = Duration::from_millis(400);
    let mut cfg = config();
    cfg.idle_timeout = idle;
    let relay = start(cfg).await;
    let mut quiet = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut busy = Client::connect(relay.addr, "msrp://bob.example:7002/b1;tcp").await;
    quiet.auth(&relay.uri, "alice", "wonderland").await;
    busy.auth(&relay.uri, "bob", "builder").await;
    // The last thing quiet sends: the relay reads it after this instant.
    let last_word = Instant::now();
    let ch = quiet.challenge(&relay.uri).await;
    assert!(!ch.stale);
    let closed = tokio::spawn(async move {
        let r = quiet.expect_closed(3000).await;
        (r.is_ok(), last_word.elapsed())
    });
    // Busy talks every 100 ms for 1.2 s (three idle timeouts) and is served throughout.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        busy.challenge(&relay.uri).await;
    }
    let (was_closed, after) = closed.await.expect("quiet");
    assert!(
        was_closed,
        "the quiet connection got a frame instead of being closed"
    );
    assert!(
        after >= idle,
        "closed after {after:?}, before the idle timeout {idle:?}"
    );
    assert!(
        after < Duration::from_millis(1500),
        "closed late: {after:?}"
    );
    eprintln!("idle timeout {idle:?}: quiet connection closed {after:?} after its last request");
}

/// RFC 4976 §6.5 (4976-039): idle means no traffic either way. Bob only receives (Alice's SENDs
/// ask no responses, Failure-Report: no, so Bob sends nothing) for three idle timeouts and stays
/// connected, getting every SEND; once the traffic stops his connection is closed.
#[tokio::test]
async fn a_connection_that_only_receives_is_not_idle() {
    let _gate = GATE.read().await;
    let idle = Duration::from_millis(400);
    let mut cfg = config();
    cfg.idle_timeout = idle;
    let (_relay, mut alice, mut bob, ua, ub) = pair(cfg).await;
    let to = msrp::path![ua, ub, bob.uri.clone()];
    for i in 0..12u8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let head =
            send_head(&mut alice, to.clone(), 1).with(Header::FailureReport(FailureReport::No));
        alice
            .send(&frame(head, Bytes::copy_from_slice(&[b'a' + i])))
            .await;
        let got = bob.expect().await;
        assert_eq!(got.body.as_deref(), Some(&[b'a' + i][..]), "SEND {i}");
    }
    let quiet_since = Instant::now();
    assert!(bob.expect_closed(3000).await.is_ok(), "closed once quiet");
    let after = quiet_since.elapsed();
    assert!(
        after < Duration::from_millis(1500),
        "closed late: {after:?}"
    );
}

// --- next-hop failures -------------------------------------------------------------------------

/// A relay with short timers: a 600 ms SEND response timeout checked every 50 ms.
fn short_timers() -> RelayConfig {
    let mut cfg = config();
    cfg.transaction_timeout = Duration::from_millis(600);
    cfg.tick = Duration::from_millis(50);
    cfg.connect_timeout = Duration::from_millis(1000);
    cfg
}

/// Alice alone at a relay with `cfg`.
async fn alice_at(cfg: RelayConfig) -> (Running, Client, MsrpUri) {
    let relay = start(cfg).await;
    let mut alice = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let (ua, _) = alice.auth(&relay.uri, "alice", "wonderland").await;
    (relay, alice, ua)
}

/// Checks a failure REPORT to Alice about `send`.
fn check_failure_report(
    rep: &msrp::Frame,
    send: &Head,
    alice: &MsrpUri,
    relay: &Running,
    code: u16,
) {
    assert_eq!(rep.head.method(), Some(&Method::Report), "{:?}", rep.head);
    assert_eq!(
        rep.head.report_status().map(|s| s.code.as_u16()),
        Some(code),
        "{:?}",
        rep.head
    );
    assert_eq!(rep.head.message_id(), send.message_id());
    assert_eq!(rep.head.byte_range(), send.byte_range());
    assert_eq!(strs(rep.head.to_path()), [alice.as_str()]);
    let from = rep.head.from_path();
    assert_eq!(from.len(), 1, "the relay's URI");
    assert_eq!(from[0].port(), relay.uri.port(), "from the relay");
    assert!(rep.body.is_none());
}

/// RFC 4976 §6.4.1 (4976-028/030): the relay answers Alice's SEND 200 at once, and when the
/// next hop (a fake peer that reads the SEND and never answers) is silent for the response
/// timeout, sends Alice a REPORT with 408. A late 200 from the peer is then dropped.
#[tokio::test]
async fn silent_next_hop_gives_408_report_after_the_timer() {
    let _gate = GATE.read().await;
    let (relay, mut alice, ua) = alice_at(short_timers()).await;
    let (listener, far) = fake_peer("far1").await;
    let send = send_head(&mut alice, msrp::path![ua, far.clone()], 5);
    let t0 = Instant::now();
    alice
        .send(&frame(send.clone(), Bytes::from_static(b"hello")))
        .await;
    let mut peer = accept_peer(&listener, &far).await;
    let got = peer.expect().await;
    assert_eq!(got.body.as_deref(), Some(&b"hello"[..]));

    let ok = alice.expect().await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
    assert_eq!(ok.head.tid, send.tid);
    let rep = alice.recv_within(3000).await.expect("a REPORT");
    let after = t0.elapsed();
    check_failure_report(&rep, &send, &alice.uri, &relay, 408);
    assert!(
        after >= Duration::from_millis(600),
        "408 after {after:?}, before the 600 ms timer"
    );
    assert!(after < Duration::from_millis(2000), "408 late: {after:?}");

    // The peer answers too late: nothing more for Alice.
    peer.send(&bodiless(msrp::report::response(
        &got.head,
        StatusCode::OK,
        None,
        &far,
    )))
    .await;
    assert!(
        alice.nothing_within(300).await.is_none(),
        "late 200 dropped"
    );
    eprintln!("408 REPORT {after:?} after the SEND (timer 600 ms)");
}

/// RFC 4976 §6.4.1/§6.4.3 (4976-031/037): the next hop answers 481; Alice gets her 200 from the
/// relay and then a failure REPORT with 481. With Failure-Report: no she gets nothing at all
/// (4975-046), though the SEND was forwarded and refused the same way.
#[tokio::test]
async fn refusing_next_hop_gives_failure_report_unless_failure_report_no() {
    let _gate = GATE.read().await;
    let (relay, mut alice, ua) = alice_at(short_timers()).await;
    let (listener, far) = fake_peer("far2").await;

    let send = send_head(&mut alice, msrp::path![ua.clone(), far.clone()], 3);
    alice
        .send(&frame(send.clone(), Bytes::from_static(b"one")))
        .await;
    let mut peer = accept_peer(&listener, &far).await;
    let got = peer.expect().await;
    peer.send(&bodiless(msrp::report::response(
        &got.head,
        StatusCode::NO_SUCH_SESSION,
        None,
        &far,
    )))
    .await;
    let ok = alice.expect().await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
    let rep = alice.expect().await;
    check_failure_report(&rep, &send, &alice.uri, &relay, 481);

    // Failure-Report: no: no 200, no REPORT.
    let quiet = send_head(&mut alice, msrp::path![ua, far.clone()], 3)
        .with(Header::FailureReport(FailureReport::No));
    alice
        .send(&frame(quiet.clone(), Bytes::from_static(b"two")))
        .await;
    let got = peer.expect().await;
    assert_eq!(got.body.as_deref(), Some(&b"two"[..]));
    assert_eq!(got.head.failure_report(), FailureReport::No, "header kept");
    peer.send(&bodiless(msrp::report::response(
        &got.head,
        StatusCode::NO_SUCH_SESSION,
        None,
        &far,
    )))
    .await;
    let heard = alice.nothing_within(400).await;
    assert!(heard.is_none(), "Alice heard {:?}", heard.map(|f| f.head));
    // Past the response timer too: no 408 either.
    let heard = alice.nothing_within(500).await;
    assert!(heard.is_none(), "Alice heard {:?}", heard.map(|f| f.head));
}

/// RFC 4976 §6.4.1 (4976-031), `Router::fail`: a next hop that cannot be reached (a closed
/// port) ends the SEND as a 408; Alice gets her hop-by-hop 200 (4976-028), then a failure
/// REPORT with 408, in that order: the REPORT never overtakes the 200.
#[tokio::test]
async fn unreachable_next_hop_gives_200_then_408_report() {
    let _gate = GATE.read().await;
    let (relay, mut alice, ua) = alice_at(short_timers()).await;
    let (listener, far) = fake_peer("gone").await;
    drop(listener); // nothing listens there now
    let send = send_head(&mut alice, msrp::path![ua, far], 4);
    alice
        .send(&frame(send.clone(), Bytes::from_static(b"lost")))
        .await;
    let ok = alice.expect().await;
    let rep = alice.expect().await;
    assert_eq!(
        ok.head.status(),
        Some(StatusCode::OK),
        "the 200 comes first, then the REPORT; first was {:?}",
        ok.head
    );
    assert_eq!(ok.head.tid, send.tid);
    check_failure_report(&rep, &send, &alice.uri, &relay, 408);
    assert!(alice.nothing_within(300).await.is_none(), "nothing more");
}

// --- AUTH errors -----------------------------------------------------------------------------

/// RFC 4976 §6.3 (4976-013): right credentials with a nonce the relay does not hold (never
/// issued, or forgotten) or with a replayed `nc` get 401 with `stale=TRUE` and a fresh nonce,
/// which then succeeds. Stale answers are not failures: more of them than `max_failures` (3)
/// leave the connection open.
/// Expiry by time is [`nonce_expiry_gets_stale_true`].
#[tokio::test]
async fn stale_nonce_gets_stale_true_then_the_new_nonce_works() {
    let _gate = GATE.read().await;
    let relay = start(config()).await;
    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let first = c.challenge(&relay.uri).await;
    assert!(!first.stale);

    // Four AUTHs with nonces this relay never issued (one more than max_failures).
    let mut fresh = first.clone();
    for i in 0..4 {
        let unknown = Challenge {
            nonce: ByteString::from(format!("{i:032x}")),
            ..first.clone()
        };
        let resp = c
            .auth_with(
                &relay.uri,
                creds(&unknown, &relay.uri, "alice", "wonderland", 1),
                vec![],
            )
            .await;
        assert_eq!(resp.head.status(), Some(StatusCode::UNAUTHORIZED));
        let ch = challenge_of(&resp.head);
        assert!(ch.stale, "stale=TRUE for a nonce the relay does not hold");
        assert_ne!(ch.nonce, unknown.nonce);
        fresh = ch;
    }
    // The new nonce works.
    let ok = c
        .auth_with(
            &relay.uri,
            creds(&fresh, &relay.uri, "alice", "wonderland", 1),
            vec![],
        )
        .await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);

    // Replaying nc=1 on that nonce: stale=TRUE and another nonce, which works.
    let replay = c
        .auth_with(
            &relay.uri,
            creds(&fresh, &relay.uri, "alice", "wonderland", 1),
            vec![],
        )
        .await;
    assert_eq!(replay.head.status(), Some(StatusCode::UNAUTHORIZED));
    let next = challenge_of(&replay.head);
    assert!(next.stale, "stale=TRUE for a replayed nc");
    assert_ne!(next.nonce, fresh.nonce);
    let ok = c
        .auth_with(
            &relay.uri,
            creds(&next, &relay.uri, "alice", "wonderland", 1),
            vec![],
        )
        .await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
    // A higher nc on a held nonce is no replay.
    let ok = c
        .auth_with(
            &relay.uri,
            creds(&next, &relay.uri, "alice", "wonderland", 2),
            vec![],
        )
        .await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
}

/// RFC 4976 §6.3 (4976-017): Expires below the configured minimum gets 423 with Min-Expires,
/// above the maximum 423 with Max-Expires; within the bounds it is granted as asked.
#[tokio::test]
async fn expires_out_of_bounds_gets_423() {
    let _gate = GATE.read().await;
    let mut cfg = config();
    cfg.min_expires = 120;
    cfg.max_expires = 3600;
    let relay = start(cfg).await;
    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let ch = c.challenge(&relay.uri).await;
    let cases = [
        (119u32, 423u16),
        (3601, 423),
        (1, 423),
        (u32::MAX, 423),
        (120, 200),
        (3600, 200),
    ];
    for (nc, (asked, want)) in (1..).zip(cases) {
        let resp = c
            .auth_with(
                &relay.uri,
                creds(&ch, &relay.uri, "alice", "wonderland", nc),
                vec![Header::Expires(asked)],
            )
            .await;
        assert_eq!(
            status_of(&resp),
            Some(want),
            "Expires {asked}: {:?}",
            resp.head
        );
        let min = resp.head.find(|h| match h {
            Header::MinExpires(v) => Some(*v),
            _ => None,
        });
        let max = resp.head.find(|h| match h {
            Header::MaxExpires(v) => Some(*v),
            _ => None,
        });
        match (want, asked < 120) {
            (423, true) => assert_eq!((min, max), (Some(120), None), "Expires {asked}"),
            (423, false) => assert_eq!((min, max), (None, Some(3600)), "Expires {asked}"),
            _ => {
                assert_eq!(resp.head.expires(), Some(asked));
                assert!(
                    resp.head
                        .find(|h| matches!(h, Header::UsePath(_)).then_some(()))
                        .is_some()
                );
            }
        }
    }
}

/// RFC 4976 §6.3 (4976-021): after `max_failures` (3) failed AUTHs in a row (401 without
/// stale=TRUE) the connection is closed; another connection can still authenticate.
#[tokio::test]
async fn repeated_failed_auths_close_the_connection() {
    let _gate = GATE.read().await;
    let relay = start(config()).await;
    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut ch = c.challenge(&relay.uri).await;
    for i in 1..=3 {
        let resp = c
            .auth_with(
                &relay.uri,
                creds(&ch, &relay.uri, "alice", "wrong", 1),
                vec![],
            )
            .await;
        assert_eq!(
            resp.head.status(),
            Some(StatusCode::UNAUTHORIZED),
            "failure {i}"
        );
        ch = challenge_of(&resp.head);
        assert!(!ch.stale, "a wrong password is not stale");
    }
    assert!(
        c.expect_closed(2000).await.is_ok(),
        "closed after 3 failures"
    );

    let mut other = Client::connect(relay.addr, "msrp://alice.example:7001/a2;tcp").await;
    let (u, _) = other.auth(&relay.uri, "alice", "wonderland").await;
    assert!(u.session_id().is_some());
}

// --- parse errors and foreign requests -----------------------------------------------------

/// RFC 4975 §10: a start line that is not MSRP loses the frame boundary: the connection is
/// closed without an answer. So is a header block over `max_head`.
#[tokio::test]
async fn fatal_parse_error_closes_the_connection() {
    let _gate = GATE.read().await;
    let mut cfg = config();
    cfg.max_head = 1024;
    let relay = start(cfg).await;

    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    c.auth(&relay.uri, "alice", "wonderland").await;
    c.write_raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let r = c.expect_closed(2000).await;
    assert!(
        r.is_ok(),
        "closed without an answer, got {:?}",
        r.err().map(|f| f.head)
    );

    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    c.auth(&relay.uri, "alice", "wonderland").await;
    let long = format!(
        "MSRP big00001 SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nContent-Description: {}\r\n",
        relay.uri,
        c.uri,
        "x".repeat(2000)
    );
    c.write_raw(long.as_bytes()).await;
    let r = c.expect_closed(2000).await;
    assert!(r.is_ok(), "closed, got {:?}", r.err().map(|f| f.head));
}

/// RFC 4975 §10 (4975-065): a frame that can be skipped (here a body without Content-Type,
/// 4975-007) gets 400 and the connection goes on; a REPORT that cannot be decoded gets no
/// answer (4975-052).
#[tokio::test]
async fn recoverable_parse_error_gets_400_and_the_connection_goes_on() {
    let _gate = GATE.read().await;
    let relay = start(config()).await;
    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let (ua, _) = c.auth(&relay.uri, "alice", "wonderland").await;
    let bad = format!(
        "MSRP nct00001 SEND\r\nTo-Path: {ua} {}\r\nFrom-Path: {}\r\nMessage-ID: m1\r\n\
Byte-Range: 1-3/3\r\n\r\nabc\r\n-------nct00001$\r\n",
        c.uri, c.uri
    );
    c.write_raw(bad.as_bytes()).await;
    let resp = c.expect().await;
    assert_eq!(
        resp.head.status(),
        Some(StatusCode::BAD_REQUEST),
        "{:?}",
        resp.head
    );
    assert_eq!(resp.head.tid, "nct00001");

    let bad_report = format!(
        "MSRP rep00001 REPORT\r\nTo-Path: {ua}\r\nFrom-Path: {}\r\nByte-Range: 9-2/10\r\n\
Message-ID: m1\r\nStatus: 000 200 OK\r\n-------rep00001$\r\n",
        c.uri
    );
    c.write_raw(bad_report.as_bytes()).await;
    let ch = c.challenge(&relay.uri).await;
    assert!(!ch.stale, "the next answer is to the next AUTH");
}

/// RFC 4976 §6.2: a request for another host on a connection that has had no successful
/// request drops the connection; on an authenticated connection it is only discarded
/// (4976-038) and the connection goes on.
#[tokio::test]
async fn request_for_unknown_host_before_success_closes_the_connection() {
    let _gate = GATE.read().await;
    let relay = start(config()).await;
    let elsewhere = uri("msrp://elsewhere.example:2855/s1;tcp");

    let mut fresh = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let send = send_head(&mut fresh, msrp::path![elsewhere.clone()], 2);
    fresh.send(&frame(send, Bytes::from_static(b"hi"))).await;
    let r = fresh.expect_closed(2000).await;
    assert!(r.is_ok(), "closed, got {:?}", r.err().map(|f| f.head));

    // Same with a bodiless non-SEND and a raw connection.
    let mut raw = TcpStream::connect(relay.addr).await.expect("connect");
    let nick = format!(
        "MSRP nick0001 NICKNAME\r\nTo-Path: {elsewhere}\r\nFrom-Path: msrp://alice.example:7001/a1;tcp\r\n\
Use-Nickname: \"al\"\r\n-------nick0001$\r\n"
    );
    raw.write_all(nick.as_bytes()).await.expect("write");
    assert!(raw_closed(&mut raw, 2000).await, "closed");

    let mut authed = Client::connect(relay.addr, "msrp://alice.example:7001/a3;tcp").await;
    authed.auth(&relay.uri, "alice", "wonderland").await;
    let send = send_head(&mut authed, msrp::path![elsewhere], 2);
    authed.send(&frame(send, Bytes::from_static(b"hi"))).await;
    let ch = authed.challenge(&relay.uri).await;
    assert!(!ch.stale, "still open: the next answer is to the next AUTH");
}

// --- large chunks and replies ------------------------------------------------------------------

/// What Bob's reader task saw, in order.
#[derive(Debug)]
enum Seen {
    SendHead(Option<ByteRange>),
    Body(u64),
    End(Flag),
    Response(msrp::Ident, Option<StatusCode>),
    Other,
}

/// The issue's "large chunks are re-chunked (split with `+`, Byte-Range rewritten) so replies
/// are not held up behind them" (RFC 4976 §6.4.1 allows it, 4976-033): while a 4 MiB chunk from
/// Alice to Bob is open (Alice paused after 256 KiB), Bob sends Alice a SEND; the relay's 200
/// to Bob must not wait for the end of Alice's chunk. The relay may end the partial chunk with
/// `+` and go on in a new chunk whose Byte-Range starts where it stopped; the whole message
/// still arrives intact.
#[tokio::test]
async fn reply_is_not_held_up_behind_an_open_large_chunk() {
    let _gate = GATE.read().await;
    let (_relay, mut alice, bob, ua, ub) = pair(config()).await;
    const LEN: u64 = 4 * MIB;
    const FIRST: u64 = 256 * 1024;
    let send = send_head(
        &mut alice,
        msrp::path![ua.clone(), ub.clone(), bob.uri.clone()],
        LEN as usize,
    );
    let mut out = BytesMut::new();
    msrp::encode::head(&send, true, &mut out);
    let at = out.len();
    out.resize(at + FIRST as usize, 0);
    pattern(0, &mut out[at..]);
    alice.write_raw(&out).await;

    let Client {
        r: bob_r,
        w: mut bob_w,
        uri: bob_uri,
        ids: mut bob_ids,
    } = bob;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut r = bob_r;
        let mut offset = 0u64;
        let mut in_send = false;
        loop {
            let ev = match r.next().await {
                Some(Ok(Ok(ev))) => ev,
                other => panic!("Bob's stream: {other:?}"),
            };
            let seen = match ev {
                Event::Head { head, .. } if head.is_send() => {
                    in_send = true;
                    Seen::SendHead(head.byte_range())
                }
                Event::Head { head, .. } => match head.status() {
                    Some(s) => Seen::Response(head.tid, Some(s)),
                    None => Seen::Other,
                },
                Event::Body(piece) => {
                    assert!(matches_pattern(offset, &piece), "intact at {offset}");
                    offset += piece.len() as u64;
                    Seen::Body(piece.len() as u64)
                }
                Event::End(flag) if std::mem::take(&mut in_send) => Seen::End(flag),
                Event::End(_) => continue,
                Event::BriefSuccess(r) => panic!("not configured: {r:?}"),
                Event::RepeatedSend(r) => panic!("not configured: {r:?}"),
            };
            if tx.send(seen).is_err() {
                break;
            }
        }
    });

    // Bob has Alice's head and the first 256 KiB: the relay is inside her chunk to him.
    let mut timeline = Vec::new();
    let mut body_octets = 0;
    within(3000, async {
        while body_octets < FIRST - 64 {
            let s = rx.recv().await.expect("Bob's reader runs");
            if let Seen::Body(n) = s {
                body_octets += n;
            }
            timeline.push(s);
        }
    })
    .await;
    assert!(
        matches!(timeline[0], Seen::SendHead(_)),
        "{:?}",
        timeline[0]
    );

    // Bob -> Alice while Alice's chunk to Bob is open.
    let mid = bob_ids.next_id();
    let reply = Head::request(
        Method::Send,
        bob_ids.next_id(),
        msrp::path![ub, ua, alice.uri.clone()],
        msrp::path![bob_uri.clone()],
    )
    .with(Header::MessageId(mid))
    .with(Header::ByteRange(ByteRange::whole(2)))
    .with(Header::ContentType(ByteString::from_static("text/plain")));
    let mut b = BytesMut::new();
    msrp::encode::frame(&reply, Some(b"ok"), Flag::Last, &mut b);
    bob_w.write_all(&b).await.expect("bob writes");
    let got = alice.expect().await;
    assert_eq!(
        got.body.as_deref(),
        Some(&b"ok"[..]),
        "Alice gets Bob's reply"
    );

    // The relay's 200 to Bob comes within 2 s, while Alice's chunk is still open.
    let answered = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(s) = rx.recv().await {
            let done = matches!(&s, Seen::Response(tid, Some(StatusCode::OK)) if *tid == reply.tid);
            timeline.push(s);
            if done {
                return;
            }
        }
    })
    .await
    .is_ok();
    let summary: Vec<String> = timeline
        .iter()
        .filter(|s| !matches!(s, Seen::Body(_)))
        .map(|s| format!("{s:?}"))
        .collect();
    let body_octets: u64 = timeline
        .iter()
        .map(|s| if let Seen::Body(n) = s { *n } else { 0 })
        .sum();
    assert!(
        answered,
        "no 200 for Bob's SEND within 2 s while Alice's chunk is open; Bob saw {summary:?} and \
         {body_octets} body octets"
    );

    // Alice finishes; the whole message arrives intact.
    let mut out = BytesMut::new();
    let mut off = FIRST;
    while off < LEN {
        let n = (LEN - off).min(64 * 1024);
        out.resize(n as usize, 0);
        pattern(off, &mut out);
        alice.write_raw(&out).await;
        off += n;
    }
    let mut end = BytesMut::new();
    msrp::encode::end(&send.tid, Flag::Last, true, &mut end);
    alice.write_raw(&end).await;
    let total = within(5000, async {
        let mut total = body_octets;
        while let Some(s) = rx.recv().await {
            match s {
                Seen::Body(n) => total += n,
                // A re-chunked continuation starts where the octets stopped (4976-033).
                Seen::SendHead(range) => {
                    assert_eq!(range.map(|r| r.start), Some(total + 1), "{range:?}")
                }
                Seen::End(Flag::Last) => return total,
                _ => {}
            }
        }
        total
    })
    .await;
    assert_eq!(total, LEN);
    reader.abort();
}

/// RFC 4976 §10.3 (4976-013), with `RelayConfig::nonce_lifetime` at 300 ms: right credentials on
/// a nonce that has outlived it get 401 with `stale=TRUE` and a fresh nonce, which works.
#[tokio::test]
async fn nonce_expiry_gets_stale_true() {
    let _gate = GATE.read().await;
    let mut cfg = config();
    cfg.nonce_lifetime = Duration::from_millis(300);
    let relay = start(cfg).await;
    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let first = c.challenge(&relay.uri).await;
    assert!(!first.stale);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let late = c
        .auth_with(
            &relay.uri,
            creds(&first, &relay.uri, "alice", "wonderland", 1),
            vec![],
        )
        .await;
    assert_eq!(late.head.status(), Some(StatusCode::UNAUTHORIZED));
    let fresh = challenge_of(&late.head);
    assert!(fresh.stale, "stale=TRUE for an expired nonce");
    assert_ne!(fresh.nonce, first.nonce);
    let ok = c
        .auth_with(
            &relay.uri,
            creds(&fresh, &relay.uri, "alice", "wonderland", 1),
            vec![],
        )
        .await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
}
