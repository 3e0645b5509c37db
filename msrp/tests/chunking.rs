//! Chunk → reassemble round trips (RFC 4975 §7.1.1, §7.3.1): messages split by the
//! `ChunkSender`, possibly interrupted mid-chunk (4975-028/029), written with the frame writer,
//! delivered in any chunk order (4975-032), decoded by the streaming `Decoder` from reads of
//! arbitrary sizes and put back together by the `Reassembler`; also through a relay in the
//! middle (RFC 4976 §7.3.1) that re-chunks every chunk with `ChunkSender::open_at` /
//! `finish_with`, or forwards it cut-through with a transaction id picked before the body,
//! guarded by `encode::EndLineGuard` (4975-011, 4976-027).

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use msrp::encode::EndLineGuard;
use msrp::reassembly::{Outcome, Reassembler, ReassemblyConfig};
use msrp::sender::{Chunk, ChunkSender, SenderConfig};
use msrp::{
    ByteRange, ByteString, Decoder, Event, Flag, Head, Header, IdGenerator, Method, MsrpUri, encode,
};
use proptest::prelude::*;

fn uri(s: &str) -> MsrpUri {
    s.parse().expect("uri")
}

fn template(mid: &str) -> Head {
    Head::request(
        Method::Send,
        "unset000".parse().unwrap(),
        msrp::path![uri("msrp://b.example.com:7777/bbb;tcp")],
        msrp::path![uri("msrp://a.example.com:7777/aaa;tcp")],
    )
    .with(Header::MessageId(mid.parse().unwrap()))
    .with(Header::SuccessReport(true))
    .with(Header::ContentType(ByteString::from_static(
        "application/octet-stream",
    )))
}

/// A small deterministic generator for permutations and interruption points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Writes a chunk with `encode::frame`.
fn frame(c: &Chunk) -> Vec<u8> {
    let mut out = BytesMut::new();
    let body = c.has_body_section().then_some(&c.body[..]);
    encode::frame(&c.head, body, c.flag, &mut out);
    out.to_vec()
}

/// Polls every chunk out of `s`, writing each as one frame; with `interrupt_pct` > 0 some
/// chunks are stopped after a random number of octets, ended with `+` and handed back to the
/// sender (at most `max_interrupts` times).
fn collect_frames(
    s: &mut ChunkSender,
    rng: &mut Rng,
    interrupt_pct: usize,
    max_interrupts: usize,
) -> Vec<Vec<u8>> {
    let mut ids = IdGenerator::new();
    let mut frames = Vec::new();
    let mut interrupts = 0;
    while let Some(c) = s.poll_chunk(&mut ids, |_| false) {
        assert!(!encode::end_line_in_body(&c.head.tid, &c.body), "4975-011");
        if interrupts < max_interrupts && !c.body.is_empty() && rng.below(100) < interrupt_pct {
            interrupts += 1;
            let sent = rng.below(c.body.len());
            let mut out = BytesMut::new();
            c.write_head(&mut out);
            out.extend_from_slice(&c.body[..sent]);
            // 4975-028: a chunk stopped early ends with `+`; then the sender takes it back.
            c.write_end(Flag::More, &mut out);
            s.interrupted(c.clone(), sent).expect("latest chunk");
            frames.push(out.to_vec());
        } else {
            frames.push(frame(&c));
        }
    }
    assert!(s.is_empty());
    frames
}

/// Feeds `stream` to a decoder in reads of the given sizes (cycled) and the events to a
/// reassembler; returns the completed messages.
fn deliver(stream: &[u8], reads: &[usize]) -> (Vec<msrp::reassembly::Message>, Reassembler) {
    let now = Instant::now();
    let mut r = Reassembler::new(ReassemblyConfig {
        max_messages: 16,
        ..Default::default()
    });
    let mut dec = Decoder::default();
    let mut buf = BytesMut::new();
    let mut cursor = None;
    let mut done = Vec::new();
    let mut at = 0;
    let mut sizes = reads.iter().cycle();
    while at < stream.len() {
        let n = (*sizes.next().expect("reads")).clamp(1, stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        while let Some(ev) = dec.decode(&mut buf).expect("valid stream") {
            match ev {
                Event::Head { head, .. } => {
                    assert!(cursor.is_none());
                    cursor = Some(r.begin(&head, now).expect("begin"));
                }
                Event::Body(b) => {
                    r.body(cursor.as_mut().expect("cursor"), b).expect("body");
                }
                Event::End(flag) => {
                    let c = cursor.take().expect("cursor");
                    match r.end(c, flag, now).expect("end") {
                        Outcome::Complete(m) => done.push(m),
                        Outcome::Incomplete => {}
                        o => panic!("unexpected {o:?}"),
                    }
                }
                Event::BriefSuccess(r) => panic!("not configured: {r:?}"),
                Event::RepeatedSend(r) => panic!("not configured: {r:?}"),
            }
        }
    }
    assert!(buf.is_empty() && dec.is_idle() && cursor.is_none());
    (done, r)
}

fn body_strategy(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=max),
        // Bodies made of end-line material, to exercise 4975-011 and the decoder's scanning.
        proptest::collection::vec(prop::sample::select(b"-\r\n$+#aA0".to_vec()), 0..=max),
    ]
}

/// Chunk size 1..5000 and a body of up to 20 000 octets, but at most ~1500 chunks per case so
/// the suite stays fast.
fn case() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (1usize..5000).prop_flat_map(|cs| (Just(cs), body_strategy(20_000.min(cs * 1500))))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn chunk_then_reassemble(
        (chunk_size, body) in case(),
        seed in any::<u64>(),
        reads in proptest::collection::vec(1usize..3000, 1..16),
    ) {
        let mut rng = Rng(seed | 1);
        let mut s = ChunkSender::new(SenderConfig { chunk_size });
        let body = Bytes::from(body);
        s.send(template("msg1"), body.clone()).expect("accepted");
        let mut frames = collect_frames(&mut s, &mut rng, 0, 0);
        prop_assert_eq!(frames.len(), body.len().div_ceil(chunk_size).max(1));
        rng.shuffle(&mut frames);
        let (done, r) = deliver(&frames.concat(), &reads);
        prop_assert_eq!(done.len(), 1);
        prop_assert_eq!(&done[0].body, &body);
        prop_assert_eq!(&*done[0].message_id, "msg1");
        prop_assert!(r.is_empty());
    }

    #[test]
    fn chunk_interrupt_then_reassemble(
        (chunk_size, body) in case(),
        seed in any::<u64>(),
        pct in 1usize..60,
        reads in proptest::collection::vec(1usize..3000, 1..16),
    ) {
        let mut rng = Rng(seed | 1);
        let mut s = ChunkSender::new(SenderConfig { chunk_size });
        let body = Bytes::from(body);
        s.send(template("msg1"), body.clone()).expect("accepted");
        let mut frames = collect_frames(&mut s, &mut rng, pct, 64);
        rng.shuffle(&mut frames);
        let (done, r) = deliver(&frames.concat(), &reads);
        prop_assert_eq!(done.len(), 1);
        prop_assert_eq!(&done[0].body, &body);
        prop_assert!(r.is_empty());
    }

    #[test]
    fn several_streamed_messages_interleaved(
        bodies in proptest::collection::vec(body_strategy(6000), 1..4),
        chunk_size in 200usize..3000,
        piece in 1usize..2500,
        known_total in any::<bool>(),
        seed in any::<u64>(),
        reads in proptest::collection::vec(1usize..3000, 1..16),
    ) {
        let mut rng = Rng(seed | 1);
        let mut s = ChunkSender::new(SenderConfig { chunk_size });
        for (i, b) in bodies.iter().enumerate() {
            let total = known_total.then_some(b.len() as u64);
            let key = s.open(template(&format!("msg{i}")), total).expect("open");
            for p in b.chunks(piece) {
                s.push_body(key, Bytes::copy_from_slice(p)).expect("push");
            }
            s.finish(key).expect("finish");
        }
        let mut frames = collect_frames(&mut s, &mut rng, 20, 32);
        rng.shuffle(&mut frames);
        let (mut done, r) = deliver(&frames.concat(), &reads);
        prop_assert_eq!(done.len(), bodies.len());
        done.sort_by_key(|a| a.message_id);
        for (i, (m, b)) in done.iter().zip(&bodies).enumerate() {
            prop_assert_eq!(&*m.message_id, format!("msg{i}"));
            prop_assert_eq!(&m.body[..], &b[..]);
        }
        prop_assert!(r.is_empty());
    }
}

#[test]
fn one_mib_in_order_round_trip() {
    // A large message through the default sender settings (16 KiB chunks, range-end `*`).
    let body: Bytes = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut s = ChunkSender::default();
    s.send(template("bigmsg"), body.clone()).expect("accepted");
    let frames = collect_frames(&mut s, &mut Rng(7), 0, 0);
    assert_eq!(frames.len(), 64);
    let (done, _) = deliver(&frames.concat(), &[65_536, 1, 4096]);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].body, body);
}

/// Decodes `stream` in reads of the given sizes (cycled) and hands every event to `f`.
fn decode_events(stream: &[u8], reads: &[usize], mut f: impl FnMut(Event)) {
    let mut dec = Decoder::default();
    let mut buf = BytesMut::new();
    let mut at = 0;
    let mut sizes = reads.iter().cycle();
    while at < stream.len() {
        let n = (*sizes.next().expect("reads")).clamp(1, stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        at += n;
        while let Some(ev) = dec.decode(&mut buf).expect("valid stream") {
            f(ev);
        }
    }
    assert!(buf.is_empty() && dec.is_idle());
}

/// A relay that re-chunks (RFC 4976 §7.3.1, 4976-033): every upstream chunk is opened at its
/// range-start with `open_at`, its body pushed as the decoder hands it out, and finished with
/// the upstream end-line's flag; the downstream chunks are polled as they become ready.
fn rechunk(upstream: &[u8], reads: &[usize], chunk_size: usize) -> Vec<Vec<u8>> {
    let mut s = ChunkSender::new(SenderConfig { chunk_size });
    let mut ids = IdGenerator::new();
    let mut out = Vec::new();
    let mut key = None;
    let mut poll = |s: &mut ChunkSender, out: &mut Vec<Vec<u8>>| {
        while let Some(c) = s.poll_chunk(&mut ids, |_| false) {
            assert!(!encode::end_line_in_body(&c.head.tid, &c.body), "4975-011");
            out.push(frame(&c));
        }
    };
    decode_events(upstream, reads, |ev| match ev {
        Event::Head { head, .. } => {
            let r = head.byte_range().expect("Byte-Range");
            key = Some(s.open_at(head, r.start, r.total).expect("open_at"));
        }
        Event::Body(b) => {
            s.push_body(key.expect("open"), b).expect("push");
            poll(&mut s, &mut out);
        }
        Event::End(flag) => {
            s.finish_with(key.take().expect("open"), flag)
                .expect("finish_with");
            poll(&mut s, &mut out);
        }
        Event::BriefSuccess(r) => panic!("not configured: {r:?}"),
        Event::RepeatedSend(r) => panic!("not configured: {r:?}"),
    });
    poll(&mut s, &mut out);
    assert!(s.is_empty());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn through_a_rechunking_relay(
        (chunk_size, body) in case(),
        relay_chunk in 1usize..6000,
        seed in any::<u64>(),
        up_reads in proptest::collection::vec(1usize..5000, 1..8),
        reads in proptest::collection::vec(1usize..3000, 1..8),
    ) {
        let mut rng = Rng(seed | 1);
        let mut s = ChunkSender::new(SenderConfig { chunk_size });
        let body = Bytes::from(body);
        s.send(template("msg1"), body.clone()).expect("accepted");
        let upstream = collect_frames(&mut s, &mut rng, 20, 16).concat();
        let mut frames = rechunk(&upstream, &up_reads, relay_chunk);
        rng.shuffle(&mut frames);
        let (done, r) = deliver(&frames.concat(), &reads);
        prop_assert_eq!(done.len(), 1);
        prop_assert_eq!(&done[0].body, &body);
        prop_assert!(r.is_empty());
    }
}

/// A cut-through relay: it writes each downstream chunk's head before the body has arrived,
/// with transaction ids from `tids` in turn, and streams the body through an `EndLineGuard`;
/// where the guard finds the chunk's end-line in the body it ends the chunk with `+` and goes
/// on in a new chunk with the next id (RFC 4975 §7.1.1, 4975-011, 4975-029; 4976-027).
/// Returns the frames written and how many chunks were cut.
fn cut_through(
    upstream: &[u8],
    reads: &[usize],
    tids: &mut impl Iterator<Item = String>,
) -> (Vec<u8>, usize) {
    struct Open {
        head: Head,
        tid: String,
        guard: EndLineGuard,
        /// Position of the next octet (0-based) in the message.
        next: u64,
        total: Option<u64>,
        /// The body written so far, to check it.
        sent: Vec<u8>,
    }
    /// 4975-011: the body, followed by the CRLF that closes it, holds no end-line of its own
    /// transaction.
    fn check(o: &Open) {
        let mut body = o.sent.clone();
        body.extend_from_slice(b"\r\n");
        assert!(
            !encode::end_line_in_body(&o.tid, &body),
            "end-line of {} in its body",
            o.tid
        );
    }
    fn start(out: &mut BytesMut, head: &Head, tid: String, at: u64, total: Option<u64>) -> Open {
        let mut head = head.clone();
        head.tid = tid.parse().unwrap();
        head.set_byte_range(ByteRange {
            start: at + 1,
            end: None,
            total,
        });
        encode::head(&head, true, out);
        Open {
            guard: EndLineGuard::new(&tid),
            head,
            tid,
            next: at,
            total,
            sent: Vec::new(),
        }
    }
    let mut out = BytesMut::new();
    let mut open: Option<Open> = None;
    let mut cuts = 0;
    decode_events(upstream, reads, |ev| match ev {
        Event::Head { head, body } => {
            assert!(body, "the sender's chunks all have a body section");
            let r = head.byte_range().expect("Byte-Range");
            let tid = tids.next().expect("enough ids");
            open = Some(start(&mut out, &head, tid, r.start - 1, r.total));
        }
        Event::Body(mut b) => {
            let mut o = open.take().expect("open chunk");
            while let Some(at) = o.guard.feed(&b) {
                out.extend_from_slice(&b[..at]);
                o.sent.extend_from_slice(&b[..at]);
                o.next += at as u64;
                check(&o);
                encode::end(&o.tid, Flag::More, true, &mut out);
                cuts += 1;
                let tid = tids.next().expect("enough ids");
                o = start(&mut out, &o.head, tid, o.next, o.total);
                b = b.slice(at..);
            }
            out.extend_from_slice(&b);
            o.sent.extend_from_slice(&b);
            o.next += b.len() as u64;
            open = Some(o);
        }
        Event::End(flag) => {
            let o = open.take().expect("open chunk");
            check(&o);
            encode::end(&o.tid, flag, true, &mut out);
        }
        Event::BriefSuccess(r) => panic!("not configured: {r:?}"),
        Event::RepeatedSend(r) => panic!("not configured: {r:?}"),
    });
    (out.to_vec(), cuts)
}

/// A body holding the end-lines of the first `n` relay ids, spread over `len` octets.
fn booby_trapped(len: usize, n: usize) -> Vec<u8> {
    let mut body: Vec<u8> = (0..len).map(|i| b"abcdefgh\r\n"[i % 10]).collect();
    let spacing = (len / n).max(20);
    for k in 0..n {
        // With and without the CRLF the decoder looks for: the decoder hands a CRLF-led
        // candidate out in one piece, others may be split anywhere.
        let lead = if k % 2 == 0 { "\r\n" } else { "x" };
        let line = format!("{lead}-------relay{k:03}{}", ["$", "+", "#"][k % 3]);
        let at = k * spacing;
        if at + line.len() <= body.len() {
            body[at..at + line.len()].copy_from_slice(line.as_bytes());
        }
    }
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn through_a_cut_through_relay(
        len in 200usize..20_000,
        chunk_size in 100usize..8000,
        up_reads in proptest::collection::vec(1usize..3000, 1..8),
        reads in proptest::collection::vec(1usize..3000, 1..8),
    ) {
        let body = Bytes::from(booby_trapped(len, 12));
        let mut s = ChunkSender::new(SenderConfig { chunk_size });
        s.send(template("msg1"), body.clone()).expect("accepted");
        let upstream = collect_frames(&mut s, &mut Rng(3), 0, 0).concat();
        let mut tids = (0..).map(|k| format!("relay{k:03}"));
        let (downstream, cuts) = cut_through(&upstream, &up_reads, &mut tids);
        // The first ids are end-lines in the body: some chunk had to be cut.
        prop_assert!(cuts > 0);
        let (done, r) = deliver(&downstream, &reads);
        prop_assert_eq!(done.len(), 1);
        prop_assert_eq!(&done[0].body, &body);
        prop_assert!(r.is_empty());
    }
}

#[test]
fn cut_through_relay_cuts_before_each_trap() {
    // One upstream chunk holding the end-lines of relay000..relay003, read one octet at a
    // time so that the traps not led by CRLF are split across pieces.
    let mut body = b"start ".to_vec();
    for k in 0..4 {
        let lead = if k % 2 == 0 { "\r\n" } else { "x" };
        body.extend_from_slice(format!("{lead}-------relay{k:03}$ then more ").as_bytes());
    }
    let body = Bytes::from(body);
    let mut s = ChunkSender::default();
    s.send(template("msg1"), body.clone()).expect("accepted");
    let upstream = collect_frames(&mut s, &mut Rng(3), 0, 0).concat();
    let mut tids = (0..).map(|k| format!("relay{k:03}"));
    let (downstream, cuts) = cut_through(&upstream, &[1], &mut tids);
    assert_eq!(cuts, 4);
    assert_eq!(tids.next().as_deref(), Some("relay005"));
    let (done, _) = deliver(&downstream, &[1, 7, 100]);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].body, body);
}
