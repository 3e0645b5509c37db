//! Combining consecutive chunks of a message (RFC 4976 §6.4.1, 4976-033: a relay "MAY ...
//! combine consecutive chunks", never chunks with different Message-IDs; the rule is in
//! `msrp_relay::server`, "Combining") over real TCP sockets on 127.0.0.1, and the rule itself
//! ([`forward::continues`]) on built heads.
//!
//! Alice writes several chunks of one message in one write, so that the relay reads them
//! together: Bob gets them as fewer, longer chunks (range-end `*`, 4975-024) within
//! `rechunk_size`, intact and in order, while Alice gets a hop-by-hop 200 for each chunk she sent
//! (4976-028). What does not continue the chunk before it exactly, or is not read yet, goes on as
//! it came.

mod common;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use common::*;
use msrp::{
    ByteRange, ByteString, FailureReport, Flag, Frame, Head, Header, Ident, Method, MsrpUri, Path,
    StatusCode,
};
use msrp_relay::config::RelayConfig;
use msrp_relay::forward;
use msrp_relay::metrics::Metrics;
use msrp_relay::server::Relay;

/// A relay with `cfg` and Alice and Bob authenticated there, and one message of 64 KiB from
/// Alice to Bob: (relay guard, metrics, Alice, Bob, the To-Path from Alice to Bob).
async fn pair(cfg: RelayConfig) -> (Running, Arc<Metrics>, Client, Client, Path) {
    let relay = Relay::bind(cfg).await.expect("bind");
    let metrics = relay.metrics().clone();
    let running = Running::of(&relay);
    relay.spawn();
    let mut alice = Client::connect(running.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(running.addr, "msrp://bob.example:7002/b1;tcp").await;
    let (ua, _) = alice.auth(&running.uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&running.uri, "bob", "builder").await;
    let to = msrp::path![ua, ub, bob.uri.clone()];
    // The relay's reads of Alice's connection start small and grow as they fill up (the
    // codec's adaptive read size): one message of 64 KiB makes them large enough for a test's
    // chunks, written at once, to be read at once.
    let warm = message(64 * 1024);
    let sent = chunks(&mut alice, &to, &warm, warm.len());
    alice.send(&sent[0]).await;
    let mut got = 0;
    while got < warm.len() {
        got += octets(&bob_takes(&mut bob).await);
    }
    expect_oks(&mut alice, &sent).await;
    assert_eq!((metrics.joined.get(), forwarded_sends(&metrics)), (0, 1));
    (running, metrics, alice, bob, to)
}

/// `body` as one message from `alice` to `to` in chunks of `size` octets: Byte-Range
/// `start-end/total`, `+` on all but the last (RFC 4975 §5.1).
fn chunks(alice: &mut Client, to: &Path, body: &Bytes, size: usize) -> Vec<Frame> {
    let mid = alice.ids.next_id();
    let total = body.len();
    (0..total)
        .step_by(size)
        .map(|start| {
            let end = (start + size).min(total);
            Frame {
                head: chunk_head(alice, to, mid, start as u64 + 1, end as u64, total as u64),
                body: Some(body.slice(start..end)),
                flag: if end == total { Flag::Last } else { Flag::More },
            }
        })
        .collect()
}

/// A SEND head of message `mid` carrying octets `start..=end` of `total`.
fn chunk_head(c: &mut Client, to: &Path, mid: Ident, start: u64, end: u64, total: u64) -> Head {
    c.request(Method::Send, to.clone())
        .with(Header::MessageId(mid))
        .with(Header::ByteRange(ByteRange {
            start,
            end: Some(end),
            total: Some(total),
        }))
        .with(Header::ContentType(ByteString::from_static("text/plain")))
}

/// Writes `frames` in one write, so that the relay reads them together.
async fn send_together(c: &mut Client, frames: &[Frame]) {
    let mut b = BytesMut::new();
    for f in frames {
        f.write(&mut b);
    }
    c.write_raw(&b).await;
}

/// `n` octets that differ from one position to the next.
fn message(n: usize) -> Bytes {
    (0..n)
        .map(|i| (i * 7 % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The hop-by-hop answers Alice gets: one 200 per frame of `sent`, in order (4976-028).
async fn expect_oks(alice: &mut Client, sent: &[Frame]) {
    for f in sent {
        let ok = alice.expect().await;
        assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
        assert_eq!(ok.head.tid, f.head.tid, "a 200 for each chunk, in order");
    }
}

/// Alice's next frame: a failure REPORT for the message of `chunk` with `range` and `status`
/// (RFC 4976 §6.4.1, 4976-031).
async fn expect_report(alice: &mut Client, chunk: &Frame, range: ByteRange, status: StatusCode) {
    let report = alice.expect().await;
    assert_eq!(
        report.head.method(),
        Some(&Method::Report),
        "{:?}",
        report.head
    );
    assert_eq!(report.head.message_id(), chunk.head.message_id());
    assert_eq!(report.head.byte_range(), Some(range));
    let got = report.head.find(|h| match h {
        Header::Status(s) => Some(s.code),
        _ => None,
    });
    assert_eq!(got, Some(status));
}

/// Bob's next frame, a SEND, answered 200 (RFC 4976 §6.4.1).
async fn bob_takes(bob: &mut Client) -> Frame {
    let f = bob.expect().await;
    assert!(f.head.is_send(), "{:?}", f.head);
    let ok = msrp::report::response(&f.head, StatusCode::OK, None, &bob.uri);
    bob.send(&bodiless(ok)).await;
    f
}

/// `start-end/total`.
fn br(start: u64, end: Option<u64>, total: Option<u64>) -> ByteRange {
    ByteRange { start, end, total }
}

fn range(f: &Frame) -> ByteRange {
    f.head.byte_range().expect("Byte-Range")
}

/// Range-start, range-end and body octets of a chunk.
fn shape(f: &Frame) -> (u64, Option<u64>, usize) {
    (range(f).start, range(f).end, octets(f))
}

fn octets(f: &Frame) -> usize {
    f.body.as_ref().map_or(0, Bytes::len)
}

fn forwarded_sends(m: &Metrics) -> u64 {
    m.frames_forwarded.with_label_values(&["SEND"]).get()
}

/// Eight chunks of 1000 octets read together leave the relay as one chunk: Byte-Range
/// `1-*/8000`, the last chunk's `$`, the message intact. Alice gets eight 200s, and each chunk
/// counts as forwarded once.
#[tokio::test]
async fn consecutive_chunks_read_together_go_on_as_one() {
    let (_relay, metrics, mut alice, mut bob, to) = pair(config()).await;
    let body = message(8000);
    let sent = chunks(&mut alice, &to, &body, 1000);
    send_together(&mut alice, &sent).await;
    let f = bob_takes(&mut bob).await;
    assert_eq!(
        range(&f),
        ByteRange {
            start: 1,
            end: None,
            total: Some(8000)
        }
    );
    assert_eq!(f.flag, Flag::Last);
    assert!(f.body.as_ref() == Some(&body), "the message intact");
    assert_eq!(f.head.message_id(), sent[0].head.message_id());
    assert!(
        sent.iter().all(|s| s.head.tid != f.head.tid),
        "the relay's own tid"
    );
    expect_oks(&mut alice, &sent).await;
    assert!(bob.nothing_within(200).await.is_none());
    assert_eq!(metrics.joined.get(), 7);
    assert_eq!(
        forwarded_sends(&metrics),
        1 + 8,
        "the warm-up, and each chunk once"
    );
}

/// Combining stops where the next chunk would take the outgoing one past `rechunk_size`: with
/// 4096, eight chunks of 1000 octets go on as two of 4000.
#[tokio::test]
async fn combined_chunks_stay_within_rechunk_size() {
    let mut cfg = config();
    cfg.rechunk_size = 4096;
    let (_relay, metrics, mut alice, mut bob, to) = pair(cfg).await;
    let body = message(8000);
    let sent = chunks(&mut alice, &to, &body, 1000);
    send_together(&mut alice, &sent).await;
    let first = bob_takes(&mut bob).await;
    let second = bob_takes(&mut bob).await;
    assert_eq!(shape(&first), (1, None, 4000));
    assert_eq!(first.flag, Flag::More);
    assert_eq!(shape(&second), (4001, None, 4000));
    assert_eq!(second.flag, Flag::Last);
    assert_ne!(first.head.tid, second.head.tid);
    let mut got = BytesMut::new();
    got.extend_from_slice(first.body.as_ref().expect("body"));
    got.extend_from_slice(second.body.as_ref().expect("body"));
    assert!(got == body, "the message intact");
    expect_oks(&mut alice, &sent).await;
    assert_eq!(metrics.joined.get(), 6);
}

/// What does not continue the chunk before it goes on as it came, even when read together with
/// it: a chunk of another message (4976-033: never combined), and a chunk that leaves a gap
/// after the one before. The last chunk of a message keeps its exact Byte-Range.
#[tokio::test]
async fn chunks_that_do_not_continue_are_not_combined() {
    let (_relay, metrics, mut alice, mut bob, to) = pair(config()).await;
    let (m1, m2) = (alice.ids.next_id(), alice.ids.next_id());
    let part = |n: usize| Some(Bytes::from(vec![b'x'; n]));
    let sent = vec![
        // m1 octets 1-1000 of 3000, then m2 whole, then m1 2001-3000: a gap.
        Frame {
            head: chunk_head(&mut alice, &to, m1, 1, 1000, 3000),
            body: part(1000),
            flag: Flag::More,
        },
        Frame {
            head: chunk_head(&mut alice, &to, m2, 1, 500, 500),
            body: part(500),
            flag: Flag::Last,
        },
        Frame {
            head: chunk_head(&mut alice, &to, m1, 2001, 3000, 3000),
            body: part(1000),
            flag: Flag::Last,
        },
    ];
    send_together(&mut alice, &sent).await;
    let got: Vec<(Option<Ident>, ByteRange, usize, Flag)> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let f = bob_takes(&mut bob).await;
            v.push((f.head.message_id().cloned(), range(&f), octets(&f), f.flag));
        }
        v
    };
    let r = |start, end, total| ByteRange {
        start,
        end,
        total: Some(total),
    };
    assert_eq!(
        got,
        vec![
            (Some(m1), r(1, None, 3000), 1000, Flag::More),
            (Some(m2), r(1, Some(500), 500), 500, Flag::Last),
            (Some(m1), r(2001, Some(3000), 3000), 1000, Flag::Last),
        ]
    );
    expect_oks(&mut alice, &sent).await;
    assert_eq!(metrics.joined.get(), 0);
}

/// The relay does not wait for a next chunk: a chunk ended with `+` goes on whole, with its
/// Byte-Range as sent, when nothing is read behind it, and the next chunk, sent only after Bob
/// has the first, is its own.
#[tokio::test]
async fn a_chunk_not_read_yet_is_not_waited_for() {
    let (_relay, metrics, mut alice, mut bob, to) = pair(config()).await;
    let body = message(2000);
    let sent = chunks(&mut alice, &to, &body, 1000);
    alice.send(&sent[0]).await;
    let first = bob_takes(&mut bob).await;
    assert_eq!(
        range(&first),
        range(&sent[0]),
        "as sent: nothing was read behind it"
    );
    assert_eq!(octets(&first), 1000);
    assert_eq!(first.flag, Flag::More, "ended without the next chunk");
    alice.send(&sent[1]).await;
    let second = bob_takes(&mut bob).await;
    assert_eq!(range(&second), br(1001, Some(2000), Some(2000)));
    assert_eq!(second.flag, Flag::Last);
    expect_oks(&mut alice, &sent).await;
    assert_eq!(metrics.joined.get(), 0);
}

/// An error from the next hop for a combined chunk gives Alice one failure REPORT covering all
/// its octets (4976-031, 4975-053): Byte-Range `1-3000/4000` for three chunks of 1000.
#[tokio::test]
async fn a_combined_chunk_that_fails_is_reported_whole() {
    let (_relay, metrics, mut alice, mut bob, to) = pair(config()).await;
    let body = message(4000);
    let sent = chunks(&mut alice, &to, &body, 1000);
    send_together(&mut alice, &sent[..3]).await;
    let f = bob.expect().await;
    assert_eq!(shape(&f), (1, None, 3000));
    assert_eq!(f.flag, Flag::More);
    let refused = msrp::report::response(&f.head, StatusCode::TOO_LARGE, None, &bob.uri);
    bob.send(&bodiless(refused)).await;
    expect_oks(&mut alice, &sent[..3]).await;
    expect_report(
        &mut alice,
        &sent[0],
        br(1, Some(3000), Some(4000)),
        StatusCode::TOO_LARGE,
    )
    .await;
    assert_eq!(metrics.joined.get(), 2);
}

/// A failure while the combined chunk is still open (Bob refuses it on its header block, before
/// its end-line) is reported for every chunk carried on so far: Byte-Range `1-3000/4000` when
/// the third chunk has begun (4976-031; the sender had its 200 for the first two).
#[tokio::test]
async fn a_combined_chunk_refused_before_its_end_is_reported_whole() {
    let (_relay, _metrics, mut alice, mut bob, to) = pair(config()).await;
    let body = message(4000);
    let sent = chunks(&mut alice, &to, &body, 1000);
    // Chunks 1 and 2 whole, then chunk 3's head and half its body: the combined chunk stays
    // open while the relay waits for the rest.
    let mut b = BytesMut::new();
    sent[0].write(&mut b);
    sent[1].write(&mut b);
    let mut third = BytesMut::new();
    sent[2].write(&mut third);
    let cut = third.len() - 500;
    b.extend_from_slice(&third[..cut]);
    alice.write_raw(&b).await;
    let head = match within(3000, bob.r.next()).await.expect("Bob's stream") {
        Ok(Ok(msrp::Event::Head { head, .. })) => head,
        other => panic!("Bob expected a head first: {other:?}"),
    };
    assert_eq!(head.byte_range().map(|r| (r.start, r.end)), Some((1, None)));
    let refused = msrp::report::response(&head, StatusCode::TOO_LARGE, None, &bob.uri);
    bob.send(&bodiless(refused)).await;
    expect_oks(&mut alice, &sent[..2]).await;
    expect_report(
        &mut alice,
        &sent[0],
        br(1, Some(3000), Some(4000)),
        StatusCode::TOO_LARGE,
    )
    .await;
}

/// A chunk whose next frame cannot be decoded (answered 400, RFC 4975 §10, 4975-065) goes on
/// whole with `+`, as it came, and the next chunk after that is forwarded as usual.
#[tokio::test]
async fn a_chunk_followed_by_a_broken_frame_ends_as_it_came() {
    let (_relay, metrics, mut alice, mut bob, to) = pair(config()).await;
    let body = message(2000);
    let sent = chunks(&mut alice, &to, &body, 1000);
    let mut b = BytesMut::new();
    sent[0].write(&mut b);
    b.extend_from_slice(
        format!(
            "MSRP bad00001 SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nByte-Range: 9-2/10\r\n\
Content-Type: text/plain\r\n\r\nbad\r\n-------bad00001$\r\n",
            to[0], alice.uri
        )
        .as_bytes(),
    );
    alice.write_raw(&b).await;
    let first = bob_takes(&mut bob).await;
    assert_eq!(shape(&first), (1, None, 1000));
    assert_eq!(first.flag, Flag::More, "ended as it came");
    expect_oks(&mut alice, &sent[..1]).await;
    let bad = alice.expect().await;
    assert_eq!(
        (bad.head.tid.as_str(), bad.head.status()),
        ("bad00001", Some(StatusCode::BAD_REQUEST))
    );
    alice.send(&sent[1]).await;
    let second = bob_takes(&mut bob).await;
    assert_eq!(range(&second), range(&sent[1]));
    assert_eq!(second.flag, Flag::Last);
    expect_oks(&mut alice, &sent[1..]).await;
    assert_eq!(metrics.joined.get(), 0);
}

/// Failure-Report `no` on the chunks: combined all the same, and nothing is answered or
/// reported (4976-028: no hop-by-hop 200 then).
#[tokio::test]
async fn chunks_asking_no_reports_are_combined_silently() {
    let (_relay, metrics, mut alice, mut bob, to) = pair(config()).await;
    let body = message(3000);
    let mut sent = chunks(&mut alice, &to, &body, 1000);
    for f in &mut sent {
        f.head.push(Header::FailureReport(FailureReport::No));
    }
    send_together(&mut alice, &sent).await;
    let f = bob.expect().await;
    assert_eq!(shape(&f), (1, None, 3000));
    assert_eq!(f.flag, Flag::Last);
    assert!(f.body.as_ref() == Some(&body));
    assert!(
        alice.nothing_within(300).await.is_none(),
        "no 200 and no REPORT"
    );
    assert_eq!(metrics.joined.get(), 2);
}

/// No combining with `join_chunks = false`, nor without a bound (`rechunk_size` 0), nor when
/// a combined chunk could not be interrupted for replies (`rechunk_for_replies = false`,
/// 4975-027/028): every chunk goes on as it came, with its Byte-Range.
#[tokio::test]
async fn chunks_are_not_combined_when_configured_off() {
    let configs: [fn(&mut RelayConfig); 3] = [
        |c| c.join_chunks = false,
        |c| c.rechunk_size = 0,
        |c| c.rechunk_for_replies = false,
    ];
    for set in configs {
        let mut cfg = config();
        set(&mut cfg);
        let (_relay, metrics, mut alice, mut bob, to) = pair(cfg).await;
        let body = message(4000);
        let sent = chunks(&mut alice, &to, &body, 1000);
        send_together(&mut alice, &sent).await;
        for s in &sent {
            let f = bob_takes(&mut bob).await;
            assert_eq!(range(&f), range(s), "as sent");
            assert_eq!(f.flag, s.flag);
        }
        expect_oks(&mut alice, &sent).await;
        assert_eq!(metrics.joined.get(), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// The rule on built heads.

fn u(s: &str) -> MsrpUri {
    uri(s)
}

/// A SEND chunk from Alice through `relays` to Bob, octets `start..=end` of 3000.
fn incoming(relays: &[&str], tid: &str, start: u64, end: u64) -> Head {
    let mut to: Path = relays.iter().map(|r| u(r)).collect();
    to.push(u("msrp://bob.example:7002/b1;tcp"));
    Head::request(
        Method::Send,
        Ident::new(tid).expect("tid"),
        to,
        msrp::path![u("msrp://alice.example:7001/a1;tcp")],
    )
    .with(Header::MessageId(Ident::new("m1m1m1").expect("mid")))
    .with(Header::ByteRange(br(start, Some(end), Some(3000))))
    .with(Header::ContentType(ByteString::from_static("text/plain")))
}

/// `head` as the relay forwards it: its `n` URIs moved to the From-Path, range-end `*`.
fn forwarded(mut head: Head, n: usize) -> Head {
    assert!(head.shift_paths(n));
    let r = head.byte_range().expect("Byte-Range");
    head.set_byte_range(br(r.start, None, r.total));
    head.tid = Ident::new("out1").expect("tid");
    head
}

const R1: &str = "msrp://relay.example:2855/u1;tcp";
const R2: &str = "msrp://relay2.example:2855/u2;tcp";

#[test]
fn continues_takes_the_next_chunk_of_the_same_message_only() {
    let fwd = forwarded(incoming(&[R1], "t1t1", 1, 1000), 1);
    let next = incoming(&[R1], "t2t2", 1001, 2000);
    assert!(forward::continues(&fwd, 1001, &next));
    // A URI spelled otherwise but equal (RFC 4975 §6.1: host case) is the same path.
    let shouted = incoming(&["msrp://RELAY.example:2855/u1;tcp"], "t2t2", 1001, 2000);
    assert!(forward::continues(&fwd, 1001, &shouted));

    let not = |h: Head, why: &str| assert!(!forward::continues(&fwd, 1001, &h), "{why}");
    not(incoming(&[R1], "t2t2", 1002, 2000), "a gap");
    not(incoming(&[R1], "t2t2", 1, 1000), "a repeat");
    let mut other_total = next.clone();
    other_total.set_byte_range(br(1001, Some(2000), Some(4000)));
    not(other_total, "another total");
    let mut other_mid = next.clone();
    for h in &mut other_mid.headers {
        if let Header::MessageId(m) = h {
            *m = Ident::new("m2m2m2").expect("mid");
        }
    }
    not(other_mid, "another Message-ID (4976-033 MUST NOT)");
    not(
        next.clone().with(Header::FailureReport(FailureReport::No)),
        "another report header",
    );
    let mut other_type = next.clone();
    for h in &mut other_type.headers {
        if let Header::ContentType(t) = h {
            *t = ByteString::from_static("text/html");
        }
    }
    not(other_type, "another Content-Type");
    let mut other_from = next.clone();
    if let Some(p) = other_from.from_path_mut() {
        p[0] = u("msrp://mallory.example:7003/m1;tcp");
    }
    not(other_from, "another sender");
    let mut other_to = next.clone();
    if let Some(p) = other_to.to_path_mut() {
        p[1] = u("msrp://carol.example:7004/c1;tcp");
    }
    not(other_to, "another destination");
    let mut report = next.clone();
    report.start = msrp::StartLine::Request(Method::Report);
    not(report, "not a SEND");
    let mut unranged = incoming(&[R1], "t2t2", 1001, 2000);
    unranged
        .headers
        .retain(|h| !matches!(h, Header::ByteRange(_)));
    not(unranged, "no Byte-Range");
}

#[test]
fn continues_compares_the_paths_before_the_rewrite_through_two_relays() {
    let fwd = forwarded(incoming(&[R1, R2], "t1t1", 1, 1000), 2);
    assert!(forward::continues(
        &fwd,
        1001,
        &incoming(&[R1, R2], "t2t2", 1001, 2000)
    ));
    assert!(!forward::continues(
        &fwd,
        1001,
        &incoming(&[R2, R1], "t2t2", 1001, 2000)
    ));
    assert!(!forward::continues(
        &fwd,
        1001,
        &incoming(&[R1], "t2t2", 1001, 2000)
    ));
}

/// `heads` as the decoder reads them one after the other with repeated heads reported as
/// such (what the relay's reader does): each frame's repeat of an earlier head, if it is one.
fn as_repeats(heads: &[Head]) -> Vec<Option<msrp::RepeatedSend>> {
    let mut decoder = msrp::Decoder::new(msrp::DecoderConfig {
        repeated_sends: true,
        ..Default::default()
    });
    let mut buf = BytesMut::new();
    for h in heads {
        msrp::encode::frame(h, Some(b"x"), Flag::More, &mut buf);
    }
    let mut out = Vec::new();
    while let Some(ev) = decoder.decode(&mut buf).expect("decodes") {
        match ev {
            msrp::Event::Head { .. } => out.push(None),
            msrp::Event::RepeatedSend(r) => out.push(Some(r)),
            _ => {}
        }
    }
    assert_eq!(out.len(), heads.len());
    out
}

/// 4976-033: for a chunk that comes as a repeat of the head the held chunk repeated, the
/// relay's check without the head (`repeats_continue` once, `continues_repeat` per chunk) says
/// what `continues` says of its head: the next chunk, a gap, a repeat, another total, another
/// Message-ID; through one relay and two; and never for a head with two Byte-Ranges.
#[test]
fn continues_for_repeats_says_what_continues_says() {
    let with_mid = |mut h: Head, mid: &str| {
        for x in &mut h.headers {
            if let Header::MessageId(m) = x {
                *m = Ident::new(mid).expect("mid");
            }
        }
        h
    };
    let with_total = |mut h: Head, total: u64| {
        let r = h.byte_range().expect("Byte-Range");
        h.set_byte_range(br(r.start, r.end, Some(total)));
        h
    };
    let mut checked = (0, 0);
    for relays in [&[R1][..], &[R1, R2][..]] {
        // The key: an earlier message's chunk; the held chunk repeats it with its own values.
        let key = with_mid(incoming(relays, "t0t0", 1, 500), "m0m0m0");
        let held = incoming(relays, "t1t1", 1, 1000);
        let fwd = forwarded(held.clone(), relays.len());
        let nexts = [
            incoming(relays, "t2t2", 1001, 2000),
            incoming(relays, "t2t2", 1002, 2000),
            incoming(relays, "t2t2", 1, 1000),
            with_total(incoming(relays, "t2t2", 1001, 2000), 4000),
            with_mid(incoming(relays, "t2t2", 1001, 2000), "m2m2m2"),
            incoming(relays, "t2t2", 1001, 3000),
        ];
        let mut heads = vec![key, held];
        heads.extend(nexts.iter().cloned());
        let repeats = as_repeats(&heads);
        let template = repeats[1]
            .as_ref()
            .expect("the held chunk repeats the key")
            .template();
        assert!(forward::repeats_continue(&fwd, template));
        for (next, r) in nexts.iter().zip(&repeats[2..]) {
            let r = r.as_ref().expect("a repeat");
            assert!(Arc::ptr_eq(r.template(), template));
            assert_eq!(&r.head(), next);
            let want = forward::continues(&fwd, 1001, next);
            assert_eq!(forward::continues_repeat(&fwd, 1001, r), want, "{next:?}");
            checked.0 += 1;
            checked.1 += usize::from(want);
        }
    }
    assert_eq!(checked, (12, 4), "every case checked, some continuing");

    // A key with a second Byte-Range: `continues` compares both with the next octet, which a
    // repeat's own values (the first only) cannot say; no repeat of it is joined without its head.
    let two = |h: Head| h.with(Header::ByteRange(br(1, Some(1000), Some(3000))));
    let fwd = forwarded(two(incoming(&[R1], "t1t1", 1, 1000)), 1);
    assert!(!forward::repeats_continue(
        &fwd,
        &two(incoming(&[R1], "t0t0", 1, 500))
    ));
    // Nor a key of another sender.
    let fwd = forwarded(incoming(&[R1], "t1t1", 1, 1000), 1);
    let mut other = incoming(&[R1], "t0t0", 1, 500);
    if let Some(p) = other.from_path_mut() {
        p[0] = u("msrp://mallory.example:7003/m1;tcp");
    }
    assert!(!forward::repeats_continue(&fwd, &other));
}
