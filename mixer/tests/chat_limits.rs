//! The mixer over real TCP sockets under load and at its limits: a 10 MiB message to 50
//! participants, participants binding and leaving in the middle of a message, a participant
//! that stops reading, and the mixer's timers (bind timeout, chunk-reception timeout).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use msrp::{ByteString, Flag, Method, StatusCode};
use msrp_mixer::config::RoomPolicy;
use msrp_mixer::server::MixerHandle;
use tokio::net::TcpSocket;

/// 7701-013/014/017/018, 4975-031 (RFC 7701 §6.1): a 10 MiB message sent in 2 KiB chunks
/// reaches each of 50 participants intact and in order: the mixer re-chunks each copy (one
/// chunk per body piece it received, `+` until the last, which carries the sender's `$`), with
/// one Message-ID and contiguous Byte-Ranges; the sender gets a 200 for every chunk.
#[tokio::test]
async fn ten_mib_message_to_fifty_participants() {
    const SIZE: usize = 10 * 1024 * 1024;
    const CHUNK: usize = 2048;
    const N: usize = 50;
    let mut cfg = config();
    cfg.auto_create = Some(RoomPolicy {
        max_message_size: 16 * 1024 * 1024,
        ..RoomPolicy::default()
    });
    let (h, addr) = start_with(cfg).await;
    let mut sender = join(&h, addr, "big", "sender").await;
    let mut readers = Vec::new();
    for i in 0..N {
        readers.push(join(&h, addr, "big", &format!("p{i}")).await);
    }
    assert_eq!(h.room("big").await.expect("room").participants.len(), N + 1);
    let body: Arc<Vec<u8>> = Arc::new(big_cpim(&sender.user, &room_uri("big"), SIZE));

    // Each reader checks its copy as it arrives, without keeping it.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut p in readers {
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut next = 1u64;
            let mut chunks = 0usize;
            let mut mid: Option<msrp::Ident> = None;
            // Every chunk carries at least one octet: at most SIZE of them.
            for _ in 0..SIZE {
                let f = p.message().await;
                let range = f.head.byte_range().expect("Byte-Range");
                assert_eq!(range.start, next, "{}: in order", p.user);
                assert_eq!(range.total, Some(SIZE as u64), "{}", p.user);
                let m = f.head.message_id().cloned().expect("Message-ID");
                assert_eq!(mid.get_or_insert(m), &m, "{}", p.user);
                let piece = f.body.unwrap_or_default();
                let at = (next - 1) as usize;
                assert!(
                    body.get(at..at + piece.len()) == Some(&piece[..]),
                    "{}: octets {at}.. intact",
                    p.user
                );
                next += piece.len() as u64;
                chunks += 1;
                if next > SIZE as u64 {
                    assert_eq!(f.flag, Flag::Last, "{}: the last chunk", p.user);
                    return (p, chunks);
                }
                assert_eq!(f.flag, Flag::More, "{}: chunk {chunks}", p.user);
            }
            panic!("{}: more chunks than octets", p.user);
        }));
    }

    // The sender writes every chunk, reading its responses as they come.
    let mid = sender.ids.next_id();
    let mut wire = Vec::with_capacity(SIZE + SIZE / CHUNK * 200);
    let mut tids = Vec::new();
    for (i, piece) in body.chunks(CHUNK).enumerate() {
        let start = (i * CHUNK) as u64 + 1;
        let head = chunk_head(&mut sender, &mid, start, piece.len(), Some(SIZE as u64));
        let flag = if start as usize + piece.len() > SIZE {
            Flag::Last
        } else {
            Flag::More
        };
        let mut b = bytes::BytesMut::new();
        msrp::encode::frame(&head, Some(piece), flag, &mut b);
        wire.extend_from_slice(&b);
        tids.push(head.tid);
    }
    let Participant {
        r: sender_r,
        w: mut sender_w,
        ..
    } = sender;
    let n_chunks = tids.len();
    let responses = tokio::spawn(async move {
        let mut r = sender_r;
        let mut ok = 0usize;
        while ok < n_chunks {
            let f = tokio::time::timeout(Duration::from_secs(60), read_frame(&mut r))
                .await
                .expect("responses keep coming")
                .expect("not closed");
            assert_eq!(f.head.status(), Some(StatusCode::OK), "{f:?}");
            assert_eq!(f.head.tid, tids[ok], "responses in order");
            ok += 1;
        }
        ok
    });
    tokio::io::AsyncWriteExt::write_all(&mut sender_w, &wire)
        .await
        .expect("write");

    let deadline = Duration::from_secs(240);
    let ok = tokio::time::timeout(deadline, responses)
        .await
        .expect("every response in time")
        .expect("response task");
    assert_eq!(ok, n_chunks);
    let mut min_chunks = usize::MAX;
    for t in tasks {
        let (_, chunks) = tokio::time::timeout(deadline, t)
            .await
            .expect("every copy in time")
            .expect("reader task");
        min_chunks = min_chunks.min(chunks);
    }
    eprintln!(
        "10 MiB to {N}: {:?}, at least {min_chunks} chunks per copy",
        started.elapsed()
    );
}

/// 7701-018: a participant whose session binds while a message is being received gets none of
/// that message (not even its later chunks), and gets the next one.
#[tokio::test]
async fn binding_mid_message_gets_none_of_it() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    // Late is in the room before the message starts, but binds in the middle of it.
    let joined = join_only(&h, "lobby", "late", &Offer::default()).await;
    let mut late = connect(addr, "late", &joined).await;
    let body = big_cpim(&alice.user, &room_uri("lobby"), 30_000);
    let mid = alice.ids.next_id();
    let total = Some(body.len() as u64);
    let h1 = alice
        .send_chunk(&mid, 1, &body[..10_000], total, Flag::More)
        .await;
    assert_eq!(alice.status_of(&h1).await, StatusCode::OK);
    // Bob has the first chunk's copy: the message is being distributed.
    let first = bob.message().await;
    assert_eq!(first.flag, Flag::More);
    late.bind().await;
    let h2 = alice
        .send_chunk(&mid, 10_001, &body[10_000..20_000], total, Flag::More)
        .await;
    let h3 = alice
        .send_chunk(&mid, 20_001, &body[20_000..], total, Flag::Last)
        .await;
    assert_eq!(alice.status_of(&h2).await, StatusCode::OK);
    assert_eq!(alice.status_of(&h3).await, StatusCode::OK);
    // Bob gets all of it.
    bob.backlog.push_front(first);
    let got = collect(&mut bob).await;
    assert_eq!(got.flag, Flag::Last);
    assert!(got.body == body, "bob's copy intact");
    // Late gets nothing of it, and the next message whole.
    late.no_message(300).await;
    alice.say_ok(&room_uri("lobby"), "next").await;
    let f = late.message().await;
    assert_copy(&late, &f, &cpim(&alice.user, &room_uri("lobby"), "next"));
    bob.message().await;
}

/// RFC 7701 §6.1 (7701-018): a participant who leaves in the middle of a message, by
/// [`MixerHandle::leave`] or by closing its connection, gets no more of it; the others get the
/// whole message, and the room no longer lists the leavers.
#[tokio::test]
async fn leaving_mid_message_does_not_cut_the_others() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    let mut dave = join(&h, addr, "lobby", "dave").await;
    let mut erin = join(&h, addr, "lobby", "erin").await;
    let body = big_cpim(&alice.user, &room_uri("lobby"), 300_000);
    let total = Some(body.len() as u64);
    let mid = alice.ids.next_id();
    let pieces: Vec<&[u8]> = body.chunks(30_000).collect();
    let head = alice
        .send_chunk(&mid, 1, pieces[0], total, Flag::More)
        .await;
    assert_eq!(alice.status_of(&head).await, StatusCode::OK);
    // Each gets all of the first chunk (the mixer may write it in more than one frame: it
    // re-chunks at the reads it made, 7701-014) before two of them leave.
    let mut firsts = Vec::new();
    for p in [&mut bob, &mut carol, &mut dave, &mut erin] {
        let mut frames = Vec::new();
        let mut octets = 0;
        while octets < pieces[0].len() {
            let f = p.message().await;
            octets += f.body.as_ref().map_or(0, |b| b.len());
            frames.push(f);
        }
        assert_eq!(octets, pieces[0].len(), "{}", p.user);
        firsts.push(frames);
    }
    // Carol leaves by the control API, Dave's connection closes.
    assert!(h.leave(&carol.id).await);
    let Participant { r, w, .. } = dave;
    drop((r, w));
    let mut start = pieces[0].len() as u64 + 1;
    let mut heads = Vec::new();
    for (i, piece) in pieces.iter().enumerate().skip(1) {
        let flag = if i + 1 == pieces.len() {
            Flag::Last
        } else {
            Flag::More
        };
        heads.push(alice.send_chunk(&mid, start, piece, total, flag).await);
        start += piece.len() as u64;
    }
    for head in &heads {
        assert_eq!(alice.status_of(head).await, StatusCode::OK);
    }
    let [bobs, carols, _daves, erins]: [Vec<_>; 4] = firsts.try_into().expect("four");
    for (p, frames) in [(&mut bob, bobs), (&mut erin, erins)] {
        for f in frames.into_iter().rev() {
            p.backlog.push_front(f);
        }
        let got = collect(p).await;
        assert_eq!(got.flag, Flag::Last, "{}", p.user);
        assert!(got.body == body, "{}: whole and intact", p.user);
    }
    // Carol's connection stays open; nothing more reaches her session.
    assert!(carols.iter().all(|f| f.flag == Flag::More));
    carol.no_message(300).await;
    let info = h.room("lobby").await.expect("room");
    let users: Vec<&str> = info.participants.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(
        users,
        [
            "sip:alice@example.com",
            "sip:bob@example.com",
            "sip:erin@example.com"
        ]
    );
    assert_eq!(info.sessions, 3);
}

/// A participant that stops reading (7701-013 fan-out, RFC 4975 §7.1.2 failure REPORTs): the
/// others get every message promptly, the sender gets failure REPORTs (it asked, by default)
/// for the copies the stalled participant could not take, and after
/// [`MixerConfig::max_failed_copies`] failed copies it is dropped from the room.
#[tokio::test]
async fn stalled_reader_is_dropped_without_delaying_the_others() {
    let mut cfg = config();
    cfg.queue_bytes = 16 * 1024;
    cfg.max_failed_copies = 3;
    let (h, addr) = start_with(cfg).await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    // Zed's socket has a small receive buffer, and Zed never reads after binding.
    let joined = join_only(&h, "lobby", "zed", &Offer::default()).await;
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let s = sock.connect(addr).await.expect("connect");
    let mut zed = Participant::over(s, own_uri("zed"), "zed", &joined);
    zed.bind().await;
    assert_eq!(h.room("lobby").await.expect("room").participants.len(), 4);

    let mut slowest = Duration::ZERO;
    let mut reports = 0usize;
    let mut dropped_after = None;
    let mut mids = Vec::new();
    // A failure REPORT (RFC 4975 §7.1.2): about one of Alice's messages, to her session, 408
    // (the switch's delivery failed).
    let check = |rep: &msrp::Frame, alice: &Participant, mids: &[Option<msrp::Ident>]| {
        let st = rep.head.report_status().expect("Status").code;
        assert_eq!(st, StatusCode::TIMEOUT, "a failure REPORT: {rep:?}");
        assert!(mids.contains(&rep.head.message_id().cloned()), "{rep:?}");
        assert_eq!(rep.head.to_path(), &[alice.own.clone()][..]);
    };
    for i in 0..400 {
        let text = format!("{i:04} {}", "x".repeat(8 * 1024));
        let sent = Instant::now();
        let head = alice.say_ok(&room_uri("lobby"), &text).await;
        mids.push(head.message_id().cloned());
        let want = cpim(&alice.user, &room_uri("lobby"), &text);
        for p in [&mut bob, &mut carol] {
            let f = p.message().await;
            assert_copy(p, &f, &want);
        }
        slowest = slowest.max(sent.elapsed());
        while let Some(i) = alice
            .backlog
            .iter()
            .position(|f| f.head.method() == Some(&Method::Report))
        {
            let rep = alice.backlog.remove(i).expect("report");
            check(&rep, &alice, &mids);
            reports += 1;
        }
        let info = h.room("lobby").await.expect("room");
        if !info.participants.iter().any(|(u, _)| u == &zed.user) {
            dropped_after = Some(i + 1);
            break;
        }
    }
    let dropped_after = dropped_after.expect("zed dropped within 400 messages");
    // The REPORTs for the last failed copies may still be on their way.
    while reports < 3 {
        let rep = alice.report().await;
        check(&rep, &alice, &mids);
        reports += 1;
    }
    eprintln!(
        "zed dropped after {dropped_after} messages; slowest copy {slowest:?}; {reports} failure REPORTs"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "the others were delayed: {slowest:?}"
    );
    // Zed's session is gone; the room goes on.
    assert!(!h.leave(&zed.id).await, "zed's session was removed");
    alice.say_ok(&room_uri("lobby"), "after zed").await;
    bob.message().await;
    carol.message().await;
    assert_eq!(h.room("lobby").await.expect("room").sessions, 3);
    // When Zed reads again, a request for its session is answered 481 (4975-063).
    let head = zed.say(&room_uri("lobby"), "am I here?").await;
    assert_eq!(zed.status_of(&head).await, StatusCode::NO_SUCH_SESSION);
    assert!(
        zed.backlog.iter().all(|f| f.head.is_send()),
        "only copies before it"
    );
}

/// [`MixerConfig::bind_timeout`]: a session that never binds is removed from the room, and a
/// request for it afterwards gets 481 (4975-063).
#[tokio::test]
async fn session_that_never_binds_is_removed() {
    let mut cfg = config();
    cfg.bind_timeout = Duration::from_millis(300);
    let (h, addr) = start_with(cfg).await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let joined = join_only(&h, "lobby", "ghost", &Offer::default()).await;
    assert_eq!(h.room("lobby").await.expect("room").sessions, 2);
    let t0 = Instant::now();
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let info = h.room("lobby").await.expect("room");
        if info.sessions == 1 {
            assert_eq!(info.participants.len(), 1);
            gone = true;
            break;
        }
    }
    assert!(gone, "the unbound session was not removed in 5 s");
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "not before its time"
    );
    let mut ghost = connect(addr, "ghost", &joined).await;
    let head = ghost.say(&room_uri("lobby"), "boo").await;
    assert_eq!(ghost.status_of(&head).await, StatusCode::NO_SUCH_SESSION);
    // Alice, bound in time, stays.
    assert!(h.leave(&alice.id).await);
    alice.no_message(0).await;
}

/// A mixer whose chunk-reception timer runs out after 300 ms, Alice and Bob in its lobby, and a
/// 5000-octet CPIM message from Alice to the room.
async fn lobby_with_a_short_chunk_timer() -> (MixerHandle, Participant, Participant, Vec<u8>) {
    let mut cfg = config();
    cfg.limits.chunk_timeout = Duration::from_millis(300);
    let (h, addr) = start_with(cfg).await;
    let alice = join(&h, addr, "lobby", "alice").await;
    let bob = join(&h, addr, "lobby", "bob").await;
    let body = big_cpim(&alice.user, &room_uri("lobby"), 5_000);
    (h, alice, bob, body)
}

/// 7701-019: a message whose sender goes silent mid-message is aborted when the
/// chunk-reception timer runs out: its recipients get a chunk ending in `#`.
#[tokio::test]
async fn silent_sender_is_aborted_by_the_chunk_timer() {
    let (_h, mut alice, mut bob, body) = lobby_with_a_short_chunk_timer().await;
    let mid = alice.ids.next_id();
    let head = alice
        .send_chunk(&mid, 1, &body[..2_000], Some(5_000), Flag::More)
        .await;
    assert_eq!(alice.status_of(&head).await, StatusCode::OK);
    let got = collect(&mut bob).await;
    assert_eq!(got.flag, Flag::Abort);
    assert_eq!(got.body, body[..2_000]);
}

/// 7701-019 with a head that arrives without its end-line: the reader hands the head and the
/// body octets it has to the room at once, not when the frame ends. A sender that stops after
/// them is aborted by the chunk timer, so its recipients get those octets and `#`.
#[tokio::test]
async fn a_head_without_its_end_line_reaches_the_room() {
    let (_h, mut alice, mut bob, body) = lobby_with_a_short_chunk_timer().await;
    let mid = alice.ids.next_id();
    let head = chunk_head(&mut alice, &mid, 1, body.len(), Some(body.len() as u64));
    let mut wire = bytes::BytesMut::new();
    msrp::encode::head(&head, true, &mut wire);
    wire.extend_from_slice(&body[..300]);
    alice.write_raw(&wire).await;
    // Nothing more comes from Alice (the frame fits one read: one head and one body event):
    // only if the reader handed the head and the octets to the room does Bob get anything
    // (`collect` fails after a wait otherwise).
    let got = collect(&mut bob).await;
    assert_eq!(got.flag, Flag::Abort);
    // The decoder hands out all but the last 8 octets, which could begin an end-line.
    assert_eq!(got.body, body[..300 - 8]);
}

/// 4975-018 (RFC 4975 §7.3.1): a message larger than the room's size limit is refused with
/// 413 on its first chunk, before anything is distributed.
#[tokio::test]
async fn message_over_the_size_limit_is_413() {
    let mut cfg = config();
    cfg.auto_create = Some(RoomPolicy {
        max_message_size: 4096,
        ..RoomPolicy::default()
    });
    let (h, addr) = start_with(cfg).await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let body = big_cpim(&alice.user, &room_uri("lobby"), 5_000);
    let head = alice.send_cpim(&body).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::TOO_LARGE);
    bob.no_message(200).await;
    let body = big_cpim(&alice.user, &room_uri("lobby"), 4_096);
    let head = alice.send_cpim(&body).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::OK);
    let f = bob.message().await;
    assert_copy(&bob, &f, &body);
}

/// RFC 4975 §5.4: a session binds with its first request even when the room's command channel
/// is full at that moment (here: bursts of 300 small chunks from three participants arrive
/// together with the bind): the bodiless SEND is answered 200, the session gets none of the
/// messages in progress (7701-018) and gets the next one.
#[tokio::test]
async fn binding_while_the_room_is_busy() {
    const CHUNKS: usize = 300;
    const CHUNK: usize = 16;
    let (h, addr) = start().await;
    let mut senders = Vec::new();
    for name in ["alice", "carol", "dave"] {
        senders.push(join(&h, addr, "lobby", name).await);
    }
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let joined = join_only(&h, "lobby", "late", &Offer::default()).await;
    let mut late = connect(addr, "late", &joined).await;
    // Each sender's first chunk (with the CPIM headers): its message is decided and being
    // distributed. The others get the copies too; Bob's are checked.
    let mut bodies = Vec::new();
    let mut bursts = Vec::new();
    for s in senders.iter_mut() {
        let body = big_cpim(&s.user, &room_uri("lobby"), 1000 + CHUNKS * CHUNK);
        let total = Some(body.len() as u64);
        let mid = s.ids.next_id();
        let head = s
            .send_chunk(&mid, 1, &body[..1000], total, Flag::More)
            .await;
        assert_eq!(s.status_of(&head).await, StatusCode::OK);
        // The rest in one burst (each chunk read whole goes to the room as one command).
        let mut burst = bytes::BytesMut::new();
        for (i, piece) in body[1000..].chunks(CHUNK).enumerate() {
            let start = 1001 + (i * CHUNK) as u64;
            let head = chunk_head(s, &mid, start, piece.len(), total);
            let flag = if i + 1 == CHUNKS {
                Flag::Last
            } else {
                Flag::More
            };
            msrp::encode::frame(&head, Some(piece), flag, &mut burst);
        }
        bodies.push(body);
        bursts.push(burst);
    }
    let bind = late
        .send_head()
        .with(msrp::Header::ByteRange(msrp::ByteRange::whole(0)));
    let mut bind_wire = bytes::BytesMut::new();
    msrp::encode::frame(&bind, None, Flag::Last, &mut bind_wire);
    // The bursts, then Late's bind, with no await that yields in between: every connection is
    // readable in the same turn of the runtime.
    for (s, burst) in senders.iter_mut().zip(&bursts) {
        s.write_raw(burst).await;
    }
    late.write_raw(&bind_wire).await;
    assert_eq!(late.status_of(&bind).await, StatusCode::OK, "bound");
    // Bob gets all three messages (their chunks interleave); Late gets none of them.
    let mut got: Vec<Vec<u8>> = vec![Vec::new(); 3];
    let mut done = 0;
    for _ in 0..(3 * (CHUNKS + 1) + 3) {
        let f = bob.message().await;
        let text = f.body.clone().unwrap_or_default();
        let start = f.head.byte_range().expect("range").start;
        let k = if start == 1 {
            (0..3)
                .find(|k| bodies[*k].starts_with(&text))
                .expect("a known message")
        } else {
            // A later chunk continues the message whose octets it matches.
            (0..3)
                .find(|k| {
                    got[*k].len() as u64 + 1 == start
                        && bodies[*k][got[*k].len()..].starts_with(&text)
                })
                .expect("in order")
        };
        got[k].extend_from_slice(&text);
        if f.flag == Flag::Last {
            done += 1;
            if done == 3 {
                break;
            }
        }
    }
    assert_eq!(done, 3);
    for k in 0..3 {
        assert!(got[k] == bodies[k], "message {k} intact");
    }
    late.no_message(300).await;
    senders[0].say_ok(&room_uri("lobby"), "next").await;
    let f = late.message().await;
    assert_copy(
        &late,
        &f,
        &cpim(&senders[0].user, &room_uri("lobby"), "next"),
    );
}

/// Room history ([`RoomPolicy::history`]) larger than a late joiner's data queue
/// ([`MixerConfig::queue_bytes`], 1 MiB): of 20 messages of 60 KiB, the joiner gets the newest
/// ones that fit, in order and ending with the last one, so that no gap separates the history
/// from the live messages that follow.
#[tokio::test]
async fn history_larger_than_the_queue_keeps_the_newest() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut sent = Vec::new();
    for i in 0..20 {
        let mut body = big_cpim(&alice.user, &room_uri("lobby"), 60 * 1024);
        body[60 * 1024 - 2..].copy_from_slice(format!("{i:02}").as_bytes());
        let head = alice.send_cpim(&body).await;
        assert_eq!(alice.status_of(&head).await, StatusCode::OK);
        sent.push(body);
    }
    let mut late = join(&h, addr, "lobby", "late").await;
    let first = late.message().await;
    let k = sent
        .iter()
        .position(|b| first.body.as_deref() == Some(&b[..]))
        .expect("a history message");
    // 1 MiB holds 16 frames of 60 KiB and a little.
    assert!(k <= 4, "only {} of 20 replayed", 20 - k);
    for (i, want) in sent.iter().enumerate().skip(k + 1) {
        let f = late.message().await;
        assert!(f.body.as_deref() == Some(&want[..]), "history message {i}");
    }
    late.no_message(200).await;
    alice.say_ok(&room_uri("lobby"), "live").await;
    let f = late.message().await;
    assert_copy(&late, &f, &cpim(&alice.user, &room_uri("lobby"), "live"));
}

/// RFC 4975 §7.1.2, 7701-022: REPORTs to a sender go on its connection's control lane, so a
/// sender whose data lane is full (it is slow to read the copies it is sent) still gets them;
/// here the success REPORT of a private message, which carries a CPIM wrapper body.
#[tokio::test]
async fn reports_reach_a_sender_whose_data_lane_is_full() {
    let mut cfg = config();
    cfg.queue_bytes = 16 * 1024;
    cfg.max_failed_copies = 10_000;
    let (h, addr) = start_with(cfg).await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    // Alice reads nothing for now, through a small receive buffer.
    let joined = join_only(&h, "lobby", "alice", &Offer::default()).await;
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let s = sock.connect(addr).await.expect("connect");
    let mut alice = Participant::over(s, own_uri("alice"), "alice", &joined);
    alice.bind().await;
    // Bob talks until copies to Alice fail (Bob's failure REPORTs say which): big messages,
    // then small ones, until even a small one does not fit: her data lane is full.
    for size in [8 * 1024, 16] {
        let mut mine = Vec::new();
        let mut failed = false;
        for i in 0..1000 {
            let text = format!("{i:04} {}", "y".repeat(size));
            let head = bob.say_ok(&room_uri("lobby"), &text).await;
            mine.push(head.message_id().cloned());
            carol.message().await;
            while let Some(k) = bob
                .backlog
                .iter()
                .position(|f| f.head.method() == Some(&Method::Report))
            {
                let rep = bob.backlog.remove(k).expect("report");
                failed |= mine.contains(&rep.head.message_id().cloned());
            }
            if failed {
                break;
            }
        }
        assert!(failed, "no copy of {size}-octet messages failed");
    }
    // Alice writes a private message asking for a success REPORT, without reading.
    let body = cpim(&alice.user, &carol.user, "private, report it");
    let head = alice
        .send_head()
        .with(msrp::Header::ByteRange(msrp::ByteRange::whole(
            body.len() as u64
        )))
        .with(msrp::Header::SuccessReport(true))
        .with(msrp::Header::ContentType(ByteString::from_static(
            "message/cpim",
        )));
    alice.write(&head, Some(&body), Flag::Last).await;
    carol.message().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Now Alice reads: the 200 and the REPORT are there.
    assert_eq!(alice.status_of(&head).await, StatusCode::OK);
    let rep = tokio::time::timeout(Duration::from_secs(20), async {
        for _ in 0..100_000 {
            let f = alice.recv().await;
            if f.head.method() == Some(&Method::Report) && f.head.message_id() == head.message_id()
            {
                return f;
            }
        }
        panic!("no REPORT in 100 000 frames");
    })
    .await
    .expect("the REPORT arrives");
    assert_eq!(
        rep.head.report_status().map(|s| s.code),
        Some(StatusCode::OK)
    );
}

/// RFC 7701 §6.1 / RFC 4975 §7.1: a sender who goes away in the middle of a message, by its
/// connection closing or by [`MixerHandle::leave`], has the message aborted on its recipients:
/// their copy ends with a `#` chunk.
#[tokio::test]
async fn sender_leaving_mid_message_aborts_it() {
    let (h, addr) = start().await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    for by_leave in [false, true] {
        let name = if by_leave { "alice" } else { "carol" };
        let mut sender = join(&h, addr, "lobby", name).await;
        let body = big_cpim(&sender.user, &room_uri("lobby"), 9_000);
        let mid = sender.ids.next_id();
        let head = sender
            .send_chunk(&mid, 1, &body[..3_000], Some(9_000), Flag::More)
            .await;
        assert_eq!(sender.status_of(&head).await, StatusCode::OK);
        if by_leave {
            assert!(h.leave(&sender.id).await);
        } else {
            let Participant { r, w, .. } = sender;
            drop((r, w));
        }
        let got = collect(&mut bob).await;
        assert_eq!(got.flag, Flag::Abort, "left by leave: {by_leave}");
        assert_eq!(got.body, body[..3_000]);
    }
    let info = h.room("lobby").await.expect("room");
    assert_eq!(info.participants.len(), 1, "{info:?}");
}

/// [`MixerConfig::idle_timeout`] ("nothing passes either way"): a participant that only
/// receives (it never writes after binding; the copies ask nothing back of it that the mixer
/// waits for) stays connected while messages flow to it for several idle periods; a connection
/// on which nothing passes is closed.
#[tokio::test]
async fn a_connection_that_only_receives_is_not_idle() {
    let idle = Duration::from_millis(400);
    let mut cfg = config();
    cfg.idle_timeout = idle;
    let (h, addr) = start_with(cfg).await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < idle * 3 {
        // Alice's own connection is kept busy by her writes; Bob only reads.
        alice.say_ok(&room_uri("lobby"), &format!("tick {n}")).await;
        let f = bob.message().await;
        assert_copy(
            &bob,
            &f,
            &cpim(&alice.user, &room_uri("lobby"), &format!("tick {n}")),
        );
        n += 1;
        tokio::time::sleep(idle / 4).await;
    }
    assert!(n >= 8, "{n}");
    // Then nothing: both are closed after the idle timeout.
    assert!(
        bob.closed_within(3000).await,
        "a quiet connection is closed"
    );
}

/// 7701-017: the switch waits for the whole CPIM header block before it decides and
/// distributes; here the headers arrive split over several small chunks (one of 1 octet), and
/// the recipients still get the body intact from its first octet. The message's total is `*`
/// until its last chunk (RFC 4975 §7.1.1, 4975-031).
#[tokio::test]
async fn cpim_headers_split_over_chunks() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    let body = big_cpim(&alice.user, &room_uri("lobby"), 2_000);
    let mid = alice.ids.next_id();
    let cuts = [0usize, 10, 11, 40, 70, 1_000, 2_000];
    let mut heads = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let last = b == body.len();
        let total = last.then_some(body.len() as u64);
        let flag = if last { Flag::Last } else { Flag::More };
        heads.push(
            alice
                .send_chunk(&mid, a as u64 + 1, &body[a..b], total, flag)
                .await,
        );
    }
    for head in &heads {
        assert_eq!(alice.status_of(head).await, StatusCode::OK);
    }
    for p in [&mut bob, &mut carol] {
        let mut got = Vec::new();
        for _ in 0..cuts.len() {
            let f = p.message().await;
            let r = f.head.byte_range().expect("range");
            assert_eq!(r.start, got.len() as u64 + 1, "{}: in order", p.user);
            got.extend_from_slice(f.body.as_deref().unwrap_or_default());
            if f.flag == Flag::Last {
                break;
            }
            assert_eq!(f.flag, Flag::More);
        }
        assert!(got == body, "{}: intact", p.user);
    }
}

/// 4975-018 (RFC 4975 §7.3.1), [`RoomPolicy::max_message_size`]: a message whose total is `*`
/// is held to the room's limit too: the chunk that takes it past the limit is answered 413, and
/// no recipient gets octets beyond the limit.
#[tokio::test]
async fn message_of_unknown_total_over_the_size_limit_is_413() {
    let mut cfg = config();
    cfg.auto_create = Some(RoomPolicy {
        max_message_size: 4096,
        ..RoomPolicy::default()
    });
    let (h, addr) = start_with(cfg).await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let body = big_cpim(&alice.user, &room_uri("lobby"), 8_000);
    let mid = alice.ids.next_id();
    let mut statuses = Vec::new();
    for (i, piece) in body.chunks(2_000).enumerate() {
        let flag = if i == 3 { Flag::Last } else { Flag::More };
        let head = alice
            .send_chunk(&mid, (i * 2_000) as u64 + 1, piece, None, flag)
            .await;
        statuses.push(alice.status_of(&head).await);
        if statuses.last() != Some(&StatusCode::OK) {
            break;
        }
    }
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::OK, StatusCode::TOO_LARGE],
        "the third chunk crosses 4096"
    );
    let mut octets = 0u64;
    for _ in 0..1000 {
        let Some(f) = bob.maybe(300).await else {
            break;
        };
        if f.head.is_send() {
            let r = f.head.byte_range().expect("range");
            octets = octets.max(r.start - 1 + f.body.map_or(0, |b| b.len() as u64));
            assert_ne!(f.flag, Flag::Last, "not delivered whole");
        }
    }
    assert!(octets <= 4096, "bob got {octets} octets");
}

/// RFC 4975 §7.1 (7701-018): one sender's two messages with their chunks interleaved reach each
/// recipient as two intact messages, each under its own Message-ID.
#[tokio::test]
async fn interleaved_messages_of_one_sender() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let bodies = [
        big_cpim(&alice.user, &room_uri("lobby"), 6_000),
        big_cpim(&alice.user, &room_uri("lobby"), 5_000),
    ];
    let mids = [alice.ids.next_id(), alice.ids.next_id()];
    let mut heads = Vec::new();
    for k in 0..3 {
        for m in 0..2 {
            let b = &bodies[m];
            let (a, e) = (k * 2_000, ((k + 1) * 2_000).min(b.len()));
            let flag = if e == b.len() { Flag::Last } else { Flag::More };
            let total = Some(b.len() as u64);
            heads.push(
                alice
                    .send_chunk(&mids[m], a as u64 + 1, &b[a..e], total, flag)
                    .await,
            );
        }
    }
    for head in &heads {
        assert_eq!(alice.status_of(head).await, StatusCode::OK);
    }
    let mut got: Vec<(msrp::Ident, Vec<u8>, bool)> = Vec::new();
    for _ in 0..20 {
        let f = bob.message().await;
        let mid = f.head.message_id().cloned().expect("Message-ID");
        let i = match got.iter().position(|(m, _, _)| *m == mid) {
            Some(i) => i,
            None => {
                got.push((mid, Vec::new(), false));
                got.len() - 1
            }
        };
        let r = f.head.byte_range().expect("range");
        assert_eq!(r.start, got[i].1.len() as u64 + 1, "in order");
        got[i]
            .1
            .extend_from_slice(f.body.as_deref().unwrap_or_default());
        got[i].2 = f.flag == Flag::Last;
        if got.len() == 2 && got.iter().all(|g| g.2) {
            break;
        }
    }
    assert_eq!(got.len(), 2);
    for (k, (_, body, done)) in got.iter().enumerate() {
        assert!(done);
        assert!(bodies.iter().any(|b| b == body), "message {k} intact");
    }
    assert_ne!(got[0].1, got[1].1);
}

/// RFC 4975 §7.1.2 (4975-046): a sender that asked for no failure reports (`Failure-Report:
/// no`) gets neither responses nor REPORTs when copies to a stalled participant fail; the
/// stalled participant is still dropped, and the others get every message.
#[tokio::test]
async fn no_failure_reports_when_not_asked() {
    let mut cfg = config();
    cfg.queue_bytes = 16 * 1024;
    cfg.max_failed_copies = 3;
    let (h, addr) = start_with(cfg).await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let joined = join_only(&h, "lobby", "zed", &Offer::default()).await;
    let sock = TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let s = sock.connect(addr).await.expect("connect");
    let mut zed = Participant::over(s, own_uri("zed"), "zed", &joined);
    zed.bind().await;
    let mut dropped = false;
    for i in 0..400 {
        let body = cpim(
            &alice.user,
            &room_uri("lobby"),
            &format!("{i:04} {}", "z".repeat(8 * 1024)),
        );
        let head = alice
            .send_head()
            .with(msrp::Header::ByteRange(msrp::ByteRange::whole(
                body.len() as u64
            )))
            .with(msrp::Header::FailureReport(msrp::FailureReport::No))
            .with(msrp::Header::ContentType(ByteString::from_static(
                "message/cpim",
            )));
        alice.write(&head, Some(&body), Flag::Last).await;
        let f = bob.message().await;
        assert_copy(&bob, &f, &body);
        let info = h.room("lobby").await.expect("room");
        if !info.participants.iter().any(|(u, _)| u == &zed.user) {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "zed dropped within 400 messages");
    if let Some(f) = alice.maybe(300).await {
        panic!("alice asked for nothing: {f:?}");
    }
}
