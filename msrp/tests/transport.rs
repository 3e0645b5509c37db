#![cfg(feature = "tokio")]
//! The tokio transport over real sockets on 127.0.0.1 (port 0): frames through the write queue
//! and the codec, batching, streaming of a 64 MiB body in bounded memory, backpressure, the
//! control lane overtaking long chunks by interrupting them (RFC 4975 §7.1.1, 4975-027/028/029),
//! and the codec's handling of recoverable and fatal decode errors and of EOF.
//!
//! Every loop is bounded in count, and every test in time.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp::reassembly::{Outcome, Reassembler};
use msrp::sender::{Chunk, ChunkSender, MessageKey, SenderConfig};
use msrp::transport::{
    ChunkEvent, CodecError, Connection, EventReader, Interrupted, MsrpCodec, Outgoing,
    TrySendError, WriteQueue, WriterConfig, spawn_writer,
};
use msrp::{
    ByteRange, ByteString, ErrorKind, Event, Flag, Frame, Head, Header, IdGenerator, Method,
    MsrpUri, StatusCode,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::time::{sleep, timeout};

/// Items of an `EventReader` (and of a `FramedRead<_, MsrpCodec>`).
type Item = Result<Result<Event, msrp::DecodeError>, CodecError>;

/// Fails the test if `f` takes longer than `secs`.
async fn bounded<T>(secs: u64, f: impl Future<Output = T>) -> T {
    timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (client.expect("connect"), server.expect("accept").0)
}

/// A connected pair whose socket buffers are 32 KiB (the kernel may double them), so that a
/// peer that does not read stops the writer after a few hundred KiB at most.
async fn small_buffer_pair() -> (TcpStream, TcpStream) {
    let listener = {
        let s = TcpSocket::new_v4().expect("socket");
        s.set_recv_buffer_size(32 * 1024).expect("rcvbuf");
        s.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        s.listen(16).expect("listen")
    };
    let addr = listener.local_addr().expect("addr");
    let s = TcpSocket::new_v4().expect("socket");
    s.set_send_buffer_size(32 * 1024).expect("sndbuf");
    let (client, server) = tokio::join!(s.connect(addr), listener.accept());
    (client.expect("connect"), server.expect("accept").0)
}

fn uri(s: &str) -> MsrpUri {
    MsrpUri::parse(ByteString::from(s.to_owned())).expect("valid URI")
}

/// A SEND head (RFC 4975 §7.1.1) with Message-ID, Byte-Range and, when it has a body,
/// Content-Type (4975-007).
fn send_head(ids: &mut IdGenerator, body_len: Option<usize>) -> Head {
    let mut head = Head::request(
        Method::Send,
        ids.next_id(),
        msrp::path![uri("msrp://b.example.com:7654/jshA7we;tcp")],
        msrp::path![uri("msrp://a.example.com:12763/kjhd37s2s20w2a;tcp")],
    )
    .with(Header::MessageId(ids.next_id()));
    if let Some(len) = body_len {
        head = head
            .with(Header::ByteRange(ByteRange::whole(len as u64)))
            .with(Header::ContentType(ByteString::from_static("text/plain")));
    }
    head
}

fn pattern(len: usize, seed: usize) -> Bytes {
    (0..len)
        .map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i + seed) % 36])
        .collect::<Vec<u8>>()
        .into()
}

/// Reads events until a whole frame is assembled; `None` at clean EOF. Panics on errors.
async fn next_frame<R: AsyncRead + Unpin>(r: &mut EventReader<R>) -> Option<Frame> {
    let mut current: Option<(Head, Option<BytesMut>)> = None;
    for _ in 0..1_000_000 {
        match r.next().await? {
            Ok(Ok(Event::Head { head, body })) => current = Some((head, body.then(BytesMut::new))),
            Ok(Ok(Event::Body(piece))) => {
                let (_, body) = current.as_mut().expect("body after a head");
                body.as_mut()
                    .expect("frame has a body")
                    .extend_from_slice(&piece);
            }
            Ok(Ok(Event::End(flag))) => {
                let (head, body) = current.take().expect("end after a head");
                return Some(Frame {
                    head,
                    body: body.map(BytesMut::freeze),
                    flag,
                });
            }
            Ok(Ok(Event::BriefSuccess(r))) => panic!("not configured: {r:?}"),
            Ok(Ok(Event::RepeatedSend(r))) => panic!("not configured: {r:?}"),
            Ok(Err(e)) => panic!("unexpected recoverable error {e}"),
            Err(e) => panic!("unexpected stream error {e}"),
        }
    }
    panic!("frame too long")
}

/// Counts the write calls made on the wrapped writer.
struct Counting<W> {
    inner: W,
    writes: Arc<AtomicUsize>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Frames sent through the queue arrive intact and in order, and a 1000-frame burst goes out in
/// far fewer writes than frames (RFC 4975 §7.1 framing; DESIGN.md "writer task").
#[tokio::test]
async fn burst_arrives_intact_in_order_in_few_writes() {
    bounded(60, async {
        let (client, server) = pair().await;
        let (_client_r, client_w) = client.into_split();
        let writes = Arc::new(AtomicUsize::new(0));
        let (queue, writer) = spawn_writer(
            Counting {
                inner: client_w,
                writes: writes.clone(),
            },
            WriterConfig::default(),
        );

        let mut ids = IdGenerator::new();
        let frames: Vec<Frame> = (0..1000usize)
            .map(|i| {
                let body = match i % 4 {
                    0 => None,
                    1 => Some(Bytes::new()),
                    2 => Some(pattern(i % 300, i)),
                    // Some bodies large enough to be written from their own `Bytes`.
                    _ => Some(pattern(2048 + i, i)),
                };
                let flag = [Flag::Last, Flag::More, Flag::Abort][i % 3];
                Frame {
                    head: send_head(&mut ids, body.as_ref().map(Bytes::len)),
                    body,
                    flag,
                }
            })
            .collect();

        let reader = tokio::spawn(async move {
            let mut r = EventReader::new(server, MsrpCodec::default());
            let mut got = Vec::new();
            while let Some(f) = next_frame(&mut r).await {
                got.push(f);
                assert!(got.len() <= 1000, "more frames than sent");
            }
            got
        });

        for (i, f) in frames.iter().enumerate() {
            // Both ways of building an item: from a frame, and from its parts.
            let item = if i % 2 == 0 {
                Outgoing::frame(f)
            } else {
                Outgoing::chunk(&f.head, f.body.clone(), f.flag)
            };
            queue.send(item).await.expect("queue open");
        }
        drop(queue);
        writer.await.expect("join").expect("writer ends cleanly");
        let got = reader.await.expect("join");
        assert_eq!(got.len(), frames.len());
        for (i, (g, f)) in got.iter().zip(&frames).enumerate() {
            assert_eq!(g, f, "frame {i}");
        }
        let writes = writes.load(Ordering::Relaxed);
        assert!(
            writes < frames.len() / 4,
            "{writes} writes for {} frames",
            frames.len()
        );
    })
    .await
}

/// A 64 MiB body in one frame streams through the codec in bounded memory (4975-031: every node
/// receives chunks of any size), and through a write queue much smaller than it.
#[tokio::test]
async fn large_body_streams_with_a_bounded_read_buffer() {
    const TOTAL: usize = 64 << 20;
    bounded(300, async {
        let (client, server) = pair().await;
        let (_client_r, client_w) = client.into_split();
        let (queue, writer) = spawn_writer(client_w, WriterConfig::default());
        let body = pattern(TOTAL, 7);
        let mut ids = IdGenerator::new();
        let head = send_head(&mut ids, Some(TOTAL));
        let frame = Frame {
            head: head.clone(),
            body: Some(body.clone()),
            flag: Flag::Last,
        };

        let reader = tokio::spawn(async move {
            let mut r = EventReader::new(server, MsrpCodec::default());
            let bound = r.codec().max_buffer();
            let (mut got, mut pieces, mut heads, mut ends) = (0usize, 0usize, 0, 0);
            for _ in 0..10_000_000 {
                let Some(item) = r.next().await else { break };
                match item.expect("no stream error").expect("no decode error") {
                    Event::Head { head: h, body } => {
                        assert!(body);
                        assert_eq!(h, head);
                        heads += 1;
                    }
                    Event::Body(piece) => {
                        assert!(piece.len() <= bound, "piece of {} > {bound}", piece.len());
                        assert!(got + piece.len() <= TOTAL, "body longer than sent");
                        assert!(
                            piece[..] == body[got..got + piece.len()],
                            "content differs at {got}"
                        );
                        got += piece.len();
                        pieces += 1;
                    }
                    Event::End(flag) => {
                        assert_eq!(flag, Flag::Last);
                        ends += 1;
                    }
                    Event::BriefSuccess(r) => panic!("not configured: {r:?}"),
                    Event::RepeatedSend(r) => panic!("not configured: {r:?}"),
                }
                let cap = r.read_buffer().capacity();
                assert!(cap <= bound, "read buffer capacity {cap} > {bound}");
            }
            (got, pieces, heads, ends, bound)
        });

        queue
            .send(&frame)
            .await
            .expect("an oversized item is admitted into an empty queue");
        assert!(queue.queued_bytes() <= TOTAL + 1024);
        drop(queue);
        writer.await.expect("join").expect("writer ends cleanly");
        let (got, pieces, heads, ends, bound) = reader.await.expect("join");
        assert_eq!((heads, ends), (1, 1));
        assert_eq!(got, TOTAL);
        assert!(pieces >= TOTAL / bound, "{pieces} pieces");
    })
    .await
}

/// Backpressure (DESIGN.md "Backpressure and loss"): against a peer that does not read,
/// `try_send` eventually says Full while the queue never holds more than its bound; `send`
/// waits, and completes once the peer reads.
#[tokio::test]
async fn backpressure_full_then_send_waits_for_the_reader() {
    const BOUND: usize = 64 * 1024;
    const ITEM: usize = 4000;
    bounded(60, async {
        let (client, server) = small_buffer_pair().await;
        let (_client_r, client_w) = client.into_split();
        let cfg = WriterConfig {
            queue_bytes: BOUND,
            ..WriterConfig::default()
        };
        let (queue, writer) = spawn_writer(client_w, cfg);

        let mut ids = IdGenerator::new();
        let mut make = |i: usize| {
            let body = pattern(ITEM, i);
            Frame {
                head: send_head(&mut ids, Some(ITEM)),
                body: Some(body),
                flag: Flag::Last,
            }
        };
        let mut sent = Vec::new();
        let mut full = false;
        for i in 0..50_000usize {
            let f = make(i);
            match queue.try_send(&f) {
                Ok(()) => sent.push(f),
                Err(TrySendError::Full(_)) => {
                    // Give the writer time: if it is blocked by the socket, the queue stays full.
                    sleep(Duration::from_millis(100)).await;
                    match queue.try_send(&f) {
                        Ok(()) => sent.push(f),
                        Err(TrySendError::Full(item)) => {
                            assert_eq!(item.len(), Outgoing::frame(&f).len());
                            full = true;
                            break;
                        }
                        Err(TrySendError::Closed(_)) => panic!("queue closed"),
                    }
                }
                Err(TrySendError::Closed(_)) => panic!("queue closed"),
            }
            assert!(
                queue.queued_bytes() <= BOUND,
                "{} queued > {BOUND}",
                queue.queued_bytes()
            );
            tokio::task::yield_now().await;
        }
        assert!(full, "try_send never reported Full");
        let queued = queue.queued_bytes();
        assert!(
            queued <= BOUND && queued + ITEM > BOUND - ITEM,
            "queued {queued}"
        );

        // `send` waits while the peer does not read...
        let last = make(usize::MAX / 2);
        let q2: WriteQueue = queue.clone();
        let last2 = last.clone();
        let pending = tokio::spawn(async move { q2.send(&last2).await.map_err(|_| ()) });
        sleep(Duration::from_millis(200)).await;
        assert!(
            !pending.is_finished(),
            "send completed while the queue was full"
        );
        assert!(queue.queued_bytes() <= BOUND);

        // ...and completes once it does.
        sent.push(last);
        let reader = tokio::spawn(async move {
            let mut r = EventReader::new(server, MsrpCodec::default());
            let mut got = Vec::new();
            while let Some(f) = next_frame(&mut r).await {
                got.push(f);
                assert!(got.len() <= 100_000);
            }
            got
        });
        bounded(20, pending)
            .await
            .expect("join")
            .expect("send completes once the peer reads");
        drop(queue);
        writer.await.expect("join").expect("writer ends cleanly");
        let got = reader.await.expect("join");
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "frames differ");
    })
    .await
}

const GOOD: &[u8] = b"MSRP a786hjs2 SEND\r\nTo-Path: msrp://b.example.com:7654/jshA7we;tcp\r\n\
From-Path: msrp://a.example.com:12763/kjhd37s2s20w2a;tcp\r\nMessage-ID: 87652491\r\n\
Byte-Range: 1-25/25\r\nContent-Type: text/plain\r\n\r\nHey Bob, are you there?\r\n-------a786hjs2$\r\n";

/// Byte-Range end before its start (4975-021): a 400, but the frame boundary is kept.
const BAD_RANGE: &[u8] =
    b"MSRP dkei38sd SEND\r\nTo-Path: msrp://b.example.com:7654/jshA7we;tcp\r\n\
From-Path: msrp://a.example.com:12763/kjhd37s2s20w2a;tcp\r\nMessage-ID: 4564dpwd\r\n\
Byte-Range: 9-3/10\r\nContent-Type: text/plain\r\n\r\n0123456789\r\n-------dkei38sd$\r\n";

/// Writes `input` from the server side, then closes it; returns every item the client reads.
async fn read_all_after(input: &[u8]) -> Vec<Item> {
    let (client, mut server) = pair().await;
    server.write_all(input).await.expect("write");
    server.shutdown().await.expect("shutdown");
    let mut r = EventReader::new(client, MsrpCodec::default());
    let mut items = Vec::new();
    for _ in 0..10_000 {
        match r.next().await {
            Some(item) => items.push(item),
            None => return items,
        }
    }
    panic!("stream did not end")
}

fn is_frame_of(items: &[Item], tid: &str, body: &[u8]) -> bool {
    let mut it = items.iter();
    let head_ok =
        matches!(it.next(), Some(Ok(Ok(Event::Head { head, body: true }))) if &*head.tid == tid);
    let mut got = Vec::new();
    for item in it {
        match item {
            Ok(Ok(Event::Body(b))) => got.extend_from_slice(b),
            Ok(Ok(Event::End(Flag::Last))) => return head_ok && got == body,
            _ => return false,
        }
    }
    false
}

/// A recoverable error mid-stream is an `Err(DecodeError)` item to answer with 400
/// (RFC 4975 §10, 4975-065), and the next frame still decodes; clean EOF then ends the stream.
#[tokio::test]
async fn recoverable_error_mid_stream_then_next_frame() {
    bounded(20, async {
        let mut input = GOOD.to_vec();
        input.extend_from_slice(BAD_RANGE);
        input.extend_from_slice(GOOD);
        let items = read_all_after(&input).await;
        let err_at = items
            .iter()
            .position(|i| matches!(i, Ok(Err(_))))
            .expect("an error item");
        assert!(is_frame_of(
            &items[..err_at],
            "a786hjs2",
            b"Hey Bob, are you there?"
        ));
        let Ok(Err(e)) = &items[err_at] else {
            unreachable!()
        };
        assert!(e.can_continue());
        assert!(matches!(e.kind, ErrorKind::Header(_)), "{:?}", e.kind);
        assert_eq!(e.tid.as_deref(), Some("dkei38sd"));
        assert!(e.wants_response());
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(is_frame_of(
            &items[err_at + 1..],
            "a786hjs2",
            b"Hey Bob, are you there?"
        ));
        assert!(
            items.iter().all(|i| i.is_ok()),
            "no stream error before the clean EOF"
        );
    })
    .await
}

/// A garbage start line loses the frame boundary (4975-001): the stream ends with an error.
#[tokio::test]
async fn fatal_error_ends_the_stream() {
    bounded(20, async {
        let mut input = GOOD.to_vec();
        input.extend_from_slice(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
        input.extend_from_slice(GOOD);
        let items = read_all_after(&input).await;
        let last = items.last().expect("items");
        assert!(
            matches!(last, Err(CodecError::Decode(e)) if !e.can_continue() && e.kind == ErrorKind::StartLine),
            "{last:?}"
        );
        assert!(is_frame_of(&items[..items.len() - 1], "a786hjs2", b"Hey Bob, are you there?"));
    })
    .await
}

/// Clean EOF between frames ends the stream with `None`; EOF inside a frame (in its header
/// block, its body or its end-line) is an error.
#[tokio::test]
async fn eof_clean_and_truncated() {
    bounded(20, async {
        let items = read_all_after(GOOD).await;
        assert!(is_frame_of(&items, "a786hjs2", b"Hey Bob, are you there?"));
        assert!(read_all_after(b"").await.is_empty());

        let body_at = GOOD
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("blank line")
            + 4;
        for cut in [10, body_at - 3, body_at + 5, GOOD.len() - 4] {
            let mut input = GOOD.to_vec();
            input.extend_from_slice(&GOOD[..cut]);
            let items = read_all_after(&input).await;
            assert!(
                matches!(items.last(), Some(Err(CodecError::Truncated { .. }))),
                "cut {cut}: {:?}",
                items.last()
            );
            assert!(
                items[..items.len() - 1]
                    .iter()
                    .all(|i| matches!(i, Ok(Ok(_)))),
                "cut {cut}"
            );
        }
    })
    .await
}

/// `Connection` on both ends of one socket: a SEND goes out through the queue, the peer answers
/// 200 on the same connection (4975-061), and closing the queue shuts the write side down.
#[tokio::test]
async fn connection_request_and_response() {
    bounded(20, async {
        let (client, server) = pair().await;
        let mut a = Connection::new(client, MsrpCodec::default(), WriterConfig::default());
        let mut b = Connection::new(server, MsrpCodec::default(), WriterConfig::default());
        let mut ids = IdGenerator::new();
        let body = Bytes::from_static(b"Hello");
        let req = Frame {
            head: send_head(&mut ids, Some(body.len())),
            body: Some(body),
            flag: Flag::Last,
        };
        a.queue.send(&req).await.expect("open");

        let got = next_frame(&mut b.frames).await.expect("a frame");
        assert_eq!(got, req);
        let resp = Head::response(
            StatusCode::OK,
            got.head.tid,
            got.head.from_path().iter().cloned().collect(),
            got.head.to_path()[..1].iter().cloned().collect(),
        );
        b.queue
            .send(Outgoing::chunk(&resp, None, Flag::Last))
            .await
            .expect("open");
        let answer = next_frame(&mut a.frames).await.expect("a response");
        assert_eq!(answer.head.status(), Some(StatusCode::OK));
        assert_eq!(answer.head.tid, req.head.tid);
        assert_eq!(answer.body, None);

        a.queue.close();
        assert!(a.queue.send(Bytes::from_static(b"late")).await.is_err());
        a.writer.await.expect("join").expect("writer ends cleanly");
        assert!(
            next_frame(&mut b.frames).await.is_none(),
            "clean EOF after close"
        );
    })
    .await
}

/// How many bytes [`Gated`] may still write. At 0 it stalls (`Pending`) until [`Gate::open`];
/// it signals `stalled` when a write uses the budget up.
#[derive(Default)]
struct Gate {
    budget: AtomicUsize,
    waker: Mutex<Option<Waker>>,
    stalled: Notify,
}

impl Gate {
    fn open(&self, n: usize) {
        self.budget.store(n, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().expect("lock").take() {
            w.wake();
        }
    }

    async fn wait_stalled(&self) {
        bounded(10, self.stalled.notified()).await
    }
}

/// A writer (here a real socket's write half) that writes only what its [`Gate`] allows, so a
/// test knows exactly where the writer stands.
struct Gated<W> {
    inner: W,
    gate: Arc<Gate>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Gated<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let budget = this.gate.budget.load(Ordering::SeqCst);
        if budget == 0 {
            *this.gate.waker.lock().expect("lock") = Some(cx.waker().clone());
            if this.gate.budget.load(Ordering::SeqCst) > 0 {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
        let mut left = budget;
        let mut slices = Vec::new();
        for b in bufs {
            if left == 0 {
                break;
            }
            let take = b.len().min(left);
            slices.push(IoSlice::new(&b[..take]));
            left -= take;
        }
        let res = Pin::new(&mut this.inner).poll_write_vectored(cx, &slices);
        if let Poll::Ready(Ok(n)) = res {
            if this.gate.budget.fetch_sub(n, Ordering::SeqCst) == n {
                this.gate.stalled.notify_one();
            }
        }
        res
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `ChunkSender::send` returns the key, or a `Result` of it.
trait IntoKey {
    fn into_key(self) -> MessageKey;
}

impl IntoKey for MessageKey {
    fn into_key(self) -> MessageKey {
        self
    }
}

impl<E: std::fmt::Debug> IntoKey for Result<MessageKey, E> {
    fn into_key(self) -> MessageKey {
        self.expect("message accepted")
    }
}

fn head_len(c: &Chunk) -> usize {
    let mut b = BytesMut::new();
    c.write_head(&mut b);
    b.len()
}

/// A 200 for an earlier request `tid` (RFC 4975 §7.2): no body.
fn ok_response(tid: &str) -> Outgoing {
    let head = Head::response(
        StatusCode::OK,
        tid.parse().unwrap(),
        msrp::path![uri("msrp://a.example.com:12763/kjhd37s2s20w2a;tcp")],
        msrp::path![uri("msrp://b.example.com:7654/jshA7we;tcp")],
    );
    Outgoing::chunk(&head, None, Flag::Last)
}

/// Feeds SEND frames to a fresh reassembler (RFC 4975 §7.3.1) and returns the last outcome.
fn reassemble(frames: &[&Frame]) -> Outcome {
    let mut re = Reassembler::default();
    let now = Instant::now();
    let mut last = Outcome::Incomplete;
    for f in frames {
        let mut cur = re.begin(&f.head, now).expect("chunk accepted");
        if let Some(body) = &f.body {
            re.body(&mut cur, body.clone()).expect("body accepted");
        }
        last = re.end(cur, f.flag, now).expect("end accepted");
    }
    last
}

/// The writer owner's side of an interruption: the writer reported `ev` for `first`; checks
/// what the peer got (`cut`, the `+` chunk), resumes the message and returns the chunk that
/// carries the rest (RFC 4975 §7.1.1, 4975-029).
fn resume(
    sender: &mut ChunkSender,
    ids: &mut IdGenerator,
    first: &Chunk,
    cut: &Frame,
    ev: Option<ChunkEvent>,
) -> (Chunk, usize) {
    let Some(ChunkEvent::Interrupted(Interrupted { chunk, sent })) = ev else {
        panic!("expected an interruption, got {ev:?}");
    };
    assert_eq!(&chunk, first);
    assert_eq!(cut.head.tid, first.head.tid);
    assert_eq!(cut.flag, Flag::More, "an interrupted chunk ends with +");
    let got = cut.body.as_ref().expect("a body");
    assert_eq!(got.len(), sent, "the peer got exactly `sent` octets");
    assert!(
        got[..] == first.body[..sent],
        "the cut chunk's octets differ"
    );
    assert!(sent > 0 && sent < first.body.len());
    assert_eq!(sender.interrupted(chunk, sent), Ok(()));
    let rest = sender
        .poll_chunk(ids, |_| false)
        .expect("the rest of the message");
    assert_eq!(rest.key, first.key);
    assert_ne!(rest.head.tid, first.head.tid, "a new transaction id");
    assert_eq!(rest.range_start(), sent as u64 + 1);
    assert!(rest.body[..] == first.body[sent..]);
    (rest, sent)
}

/// RFC 4975 §7.1.1 (4975-027/028/029): a 200 queued while a 4 MiB chunk is being written
/// overtakes the rest of it: the peer gets the chunk cut with `+`, then the 200; the owner gets
/// the chunk back with the octets sent, resumes the message under a new tid at `sent + 1`, and
/// the peer reassembles it intact. The socket writes only what a gate allows, so the writer is
/// known to be in the middle of the chunk when the 200 is queued.
#[tokio::test]
async fn response_interrupts_a_long_chunk() {
    const TOTAL: usize = 4 << 20;
    const STALL_AT: usize = 20_000;
    bounded(120, async {
        let (client, server) = pair().await;
        let (_client_r, client_w) = client.into_split();
        let gate = Arc::new(Gate::default());
        let cfg = WriterConfig::default();
        let slice = cfg.write_slice;
        let (queue, writer) = spawn_writer(
            Gated {
                inner: client_w,
                gate: gate.clone(),
            },
            cfg,
        );
        let mut events = queue.take_chunk_events().expect("first take");

        let mut ids = IdGenerator::new();
        let mut sender = ChunkSender::new(SenderConfig { chunk_size: TOTAL });
        let body = pattern(TOTAL, 3);
        let key = sender
            .send(send_head(&mut ids, Some(TOTAL)), body.clone())
            .into_key();
        let first = sender.poll_chunk(&mut ids, |_| false).expect("a chunk");
        assert!(first.is_interruptible());
        assert_eq!(
            first.head.byte_range(),
            Some(ByteRange {
                start: 1,
                end: None,
                total: Some(TOTAL as u64)
            }),
            "range-end * (4975-024)"
        );

        gate.open(head_len(&first) + STALL_AT);
        queue.send_chunk(first.clone()).await.expect("open");
        gate.wait_stalled().await;
        // The writer is stuck STALL_AT octets into the body.
        queue
            .try_send_control(ok_response("a786hjs2"))
            .expect("room on the control lane");
        gate.open(usize::MAX / 2);

        let mut r = EventReader::new(server, MsrpCodec::default());
        let cut = next_frame(&mut r).await.expect("the cut chunk");
        let resp = next_frame(&mut r).await.expect("the 200");
        assert_eq!(resp.head.status(), Some(StatusCode::OK));
        assert_eq!(&*resp.head.tid, "a786hjs2");
        let (rest, sent) = resume(&mut sender, &mut ids, &first, &cut, events.recv().await);
        assert!(
            (STALL_AT..=STALL_AT + slice).contains(&sent),
            "cut at the first slice boundary after the stall, not at {sent}"
        );
        assert!(rest.is_interruptible());
        queue.send_chunk(rest.clone()).await.expect("open");
        let resumed = next_frame(&mut r).await.expect("the resumed chunk");
        assert_eq!(resumed.head.tid, rest.head.tid);
        assert_eq!(
            resumed.head.byte_range().map(|b| b.start),
            Some(sent as u64 + 1)
        );
        assert_eq!(resumed.flag, Flag::Last);
        assert_eq!(events.recv().await, Some(ChunkEvent::Done { key }));
        match reassemble(&[&cut, &resumed]) {
            Outcome::Complete(m) => assert!(m.body == body, "message differs"),
            other => panic!("not complete: {other:?}"),
        }

        queue.close();
        writer.await.expect("join").expect("writer ends cleanly");
        assert!(next_frame(&mut r).await.is_none(), "clean EOF after close");
        assert_eq!((queue.queued_bytes(), queue.control_queued_bytes()), (0, 0));
    })
    .await
}

/// The same against a plain socket whose peer does not read at all until the 200 is queued
/// (small socket buffers, so 4 MiB cannot leave): the writer is necessarily inside the chunk,
/// and the 200 still reaches the peer before the end of the message.
#[tokio::test]
async fn response_interrupts_a_chunk_stuck_behind_a_silent_peer() {
    const TOTAL: usize = 4 << 20;
    bounded(120, async {
        let (client, server) = small_buffer_pair().await;
        let (_client_r, client_w) = client.into_split();
        let (queue, writer) = spawn_writer(client_w, WriterConfig::default());
        let mut events = queue.take_chunk_events().expect("first take");
        let mut ids = IdGenerator::new();
        let mut sender = ChunkSender::new(SenderConfig { chunk_size: TOTAL });
        let body = pattern(TOTAL, 5);
        let key = sender
            .send(send_head(&mut ids, Some(TOTAL)), body.clone())
            .into_key();
        let first = sender.poll_chunk(&mut ids, |_| false).expect("a chunk");
        let len = Outgoing::chunk(&first.head, Some(first.body.clone()), first.flag).len();
        queue.send_chunk(first.clone()).await.expect("open");

        // Wait (bounded) until the writer has started the chunk; the peer does not read, so it
        // cannot finish it.
        for _ in 0..1000 {
            if queue.queued_bytes() < len {
                break;
            }
            sleep(Duration::from_millis(10)).await;
        }
        let queued = queue.queued_bytes();
        assert!(
            queued < len && queued > TOTAL / 2,
            "queued {queued} of {len}"
        );
        queue
            .try_send_control(ok_response("dkei38sd"))
            .expect("room on the control lane");

        let mut r = EventReader::new(server, MsrpCodec::default());
        let cut = next_frame(&mut r).await.expect("the cut chunk");
        let resp = next_frame(&mut r).await.expect("the 200");
        assert_eq!(resp.head.status(), Some(StatusCode::OK));
        let (rest, _) = resume(&mut sender, &mut ids, &first, &cut, events.recv().await);
        queue.send_chunk(rest).await.expect("open");
        let resumed = next_frame(&mut r).await.expect("the resumed chunk");
        assert_eq!(events.recv().await, Some(ChunkEvent::Done { key }));
        match reassemble(&[&cut, &resumed]) {
            Outcome::Complete(m) => assert!(m.body == body, "message differs"),
            other => panic!("not complete: {other:?}"),
        }
        drop(queue);
        writer.await.expect("join").expect("writer ends cleanly");
        assert!(next_frame(&mut r).await.is_none());
    })
    .await
}

/// Size of the message in `fail_while_in_flight`.
const FAIL_TOTAL: usize = 1 << 20;

/// The owner's side of a message that failed while its chunk was in flight: a failure with
/// `status` arrives (the sender aborts, or cancels on 413), then a 200 for another request is
/// queued and cuts the chunk with `+`. The message is `FAIL_TOTAL` octets sent in chunks of
/// `chunk_size`; its first chunk is the one cut (its final one when `chunk_size` is
/// `FAIL_TOTAL`). Returns what the peer got after the cut and the 200 until EOF, and the octets
/// the cut chunk carried.
async fn fail_while_in_flight(status: StatusCode, chunk_size: usize) -> (Frame, Vec<Frame>, usize) {
    const STALL_AT: usize = 20_000;
    let (client, server) = pair().await;
    let (_client_r, client_w) = client.into_split();
    let gate = Arc::new(Gate::default());
    let (queue, writer) = spawn_writer(
        Gated {
            inner: client_w,
            gate: gate.clone(),
        },
        WriterConfig::default(),
    );
    let mut events = queue.take_chunk_events().expect("first take");
    let mut ids = IdGenerator::new();
    let mut sender = ChunkSender::new(SenderConfig { chunk_size });
    let key = sender
        .send(
            send_head(&mut ids, Some(FAIL_TOTAL)),
            pattern(FAIL_TOTAL, 7),
        )
        .into_key();
    let first = sender.poll_chunk(&mut ids, |_| false).expect("a chunk");
    assert!(first.is_interruptible());
    gate.open(head_len(&first) + STALL_AT);
    queue.send_chunk(first.clone()).await.expect("open");
    gate.wait_stalled().await;
    // The writer is stuck inside the chunk when the failure arrives (4975-038/068).
    assert!(sender.failed(key, status));
    assert!(sender.is_aborted(key));
    queue
        .try_send_control(ok_response("fj39sk2a"))
        .expect("room on the control lane");
    gate.open(usize::MAX / 2);

    let mut r = EventReader::new(server, MsrpCodec::default());
    let cut = next_frame(&mut r).await.expect("the cut chunk");
    assert_eq!(cut.flag, Flag::More, "the writer cuts with +");
    let resp = next_frame(&mut r).await.expect("the 200");
    assert_eq!(resp.head.status(), Some(StatusCode::OK));
    let Some(ChunkEvent::Interrupted(Interrupted { chunk, sent })) = events.recv().await else {
        panic!("expected an interruption");
    };
    assert_eq!(chunk, first);
    assert_eq!(cut.body.as_ref().map(Bytes::len), Some(sent));
    assert_eq!(sender.interrupted(chunk, sent), Ok(()));
    while let Some(c) = sender.poll_chunk(&mut ids, |_| false) {
        assert!(!c.is_interruptible());
        queue.send_chunk(c).await.expect("open");
    }
    assert!(sender.is_empty());
    queue.close();
    writer.await.expect("join").expect("writer ends cleanly");
    let mut after = Vec::new();
    while let Some(f) = next_frame(&mut r).await {
        after.push(f);
    }
    (cut, after, sent)
}

/// RFC 4975 §7.3.2 (4975-038): a message aborted while its chunk is in flight, and that chunk
/// then cut with `+` for a response (4975-028), is ended at the peer by an empty `#` chunk
/// starting at the first octet not sent, under a new transaction id: the peer drops it at once
/// instead of waiting for its chunk timeout.
#[tokio::test]
async fn abort_while_a_chunk_is_in_flight_reaches_the_peer() {
    bounded(60, async {
        // The cut chunk is the message's final one, then one of several.
        for chunk_size in [FAIL_TOTAL, FAIL_TOTAL / 2] {
            let (cut, after, sent) =
                fail_while_in_flight(StatusCode::BAD_REQUEST, chunk_size).await;
            assert_eq!(after.len(), 1, "one abort chunk, nothing else");
            let abort = &after[0];
            assert_eq!(abort.flag, Flag::Abort);
            assert!(abort.body.as_ref().is_none_or(Bytes::is_empty));
            assert_ne!(abort.head.tid, cut.head.tid);
            assert_eq!(abort.head.message_id(), cut.head.message_id());
            assert_eq!(
                abort.head.byte_range(),
                Some(ByteRange {
                    start: sent as u64 + 1,
                    end: Some(sent as u64),
                    total: Some(FAIL_TOTAL as u64)
                })
            );
            match reassemble(&[&cut, abort]) {
                Outcome::Aborted { received, .. } => assert_eq!(received, sent as u64),
                other => panic!("not aborted: {other:?}"),
            }
        }
    })
    .await
}

/// RFC 4975 §10 (4975-068): after a 413 nothing more with that Message-ID is sent, not even
/// a `#` chunk, when the chunk in flight is cut.
#[tokio::test]
async fn cancel_after_413_while_a_chunk_is_in_flight_sends_nothing_more() {
    bounded(60, async {
        for chunk_size in [FAIL_TOTAL, FAIL_TOTAL / 2] {
            let (_, after, _) = fail_while_in_flight(StatusCode::TOO_LARGE, chunk_size).await;
            assert!(after.is_empty(), "sent after the 413: {after:?}");
        }
    })
    .await
}

/// RFC 4975 §7.1.1 (4975-027): chunks of at most 2048 octets carry an explicit range-end and
/// are never interrupted, even when a response is queued while one is half written; the
/// response follows that chunk, goes before the chunks queued after it, and the message
/// reassembles.
#[tokio::test]
async fn chunks_up_to_2048_octets_are_never_cut() {
    bounded(60, async {
        let (client, server) = pair().await;
        let (_client_r, client_w) = client.into_split();
        let gate = Arc::new(Gate::default());
        let (queue, writer) = spawn_writer(
            Gated {
                inner: client_w,
                gate: gate.clone(),
            },
            WriterConfig {
                write_slice: 100,
                ..WriterConfig::default()
            },
        );
        let mut events = queue.take_chunk_events().expect("first take");
        let mut ids = IdGenerator::new();
        let mut sender = ChunkSender::new(SenderConfig { chunk_size: 2048 });
        let body = pattern(3 * 2048, 9);
        sender
            .send(send_head(&mut ids, Some(body.len())), body.clone())
            .into_key();
        let chunks: Vec<Chunk> = std::iter::from_fn(|| sender.poll_chunk(&mut ids, |_| false))
            .take(10)
            .collect();
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| !c.is_interruptible()));

        gate.open(head_len(&chunks[0]) + 100);
        queue.send_chunk(chunks[0].clone()).await.expect("open");
        gate.wait_stalled().await;
        // 100 octets into the first chunk's body; with `write_slice` 100 a long chunk would
        // be cut right there.
        queue
            .try_send_control(ok_response("a786hjs2"))
            .expect("room on the control lane");
        for c in &chunks[1..] {
            queue.send_chunk(c.clone()).await.expect("open");
        }
        gate.open(usize::MAX / 2);

        let mut r = EventReader::new(server, MsrpCodec::default());
        let mut sends = Vec::new();
        let mut responses = 0;
        for _ in 0..4 {
            let f = next_frame(&mut r).await.expect("a frame");
            if f.head.is_send() {
                sends.push(f);
            } else {
                assert_eq!(f.head.status(), Some(StatusCode::OK));
                assert_eq!(sends.len(), 1, "the 200 follows the first chunk, whole");
                responses += 1;
            }
        }
        assert_eq!(responses, 1);
        for (f, c) in sends.iter().zip(&chunks) {
            assert_eq!(f.head, c.head);
            assert_eq!(f.body.as_ref(), Some(&c.body), "chunk cut short");
            assert_eq!(f.flag, c.flag);
        }
        assert!(events.try_recv().is_err(), "no event for short chunks");
        match reassemble(&sends.iter().collect::<Vec<_>>()) {
            Outcome::Complete(m) => assert!(m.body == body, "message differs"),
            other => panic!("not complete: {other:?}"),
        }
        drop(queue);
        writer.await.expect("join").expect("writer ends cleanly");
    })
    .await
}

/// The control lane has its own byte bound (DESIGN.md "Backpressure and loss"): with the data
/// lane full, `try_send_control` and `send_control` still succeed until the control lane itself
/// is full; once the socket drains, control items go out before every data item not yet
/// started, and each lane keeps its order.
#[tokio::test]
async fn control_lane_backpressure_is_independent_of_the_data_lane() {
    const DATA: usize = 8 * 1024;
    const CONTROL: usize = 2 * 1024;
    bounded(60, async {
        let (client, server) = pair().await;
        let (_client_r, client_w) = client.into_split();
        let gate = Arc::new(Gate::default());
        let (queue, writer) = spawn_writer(
            Gated {
                inner: client_w,
                gate: gate.clone(),
            },
            WriterConfig {
                queue_bytes: DATA,
                control_bytes: CONTROL,
                ..WriterConfig::default()
            },
        );
        assert_eq!(
            (queue.capacity(), queue.control_capacity()),
            (DATA, CONTROL)
        );
        let mut ids = IdGenerator::new();
        let mut make = |i: usize| Frame {
            head: send_head(&mut ids, Some(1000)),
            body: Some(pattern(1000, i)),
            flag: Flag::Last,
        };

        // The writer takes the first data frame and stalls one octet into it.
        gate.open(1);
        let mut data = vec![make(0)];
        queue.send(&data[0]).await.expect("open");
        gate.wait_stalled().await;
        let mut full = false;
        for i in 1..100 {
            let f = make(i);
            match queue.try_send(&f) {
                Ok(()) => data.push(f),
                Err(TrySendError::Full(_)) => {
                    full = true;
                    break;
                }
                Err(TrySendError::Closed(_)) => panic!("closed"),
            }
        }
        assert!(full, "the data lane fills up");
        assert!(queue.queued_bytes() <= DATA);

        let mut control = Vec::new();
        let tid = |i: usize| format!("ctl{i:05}");
        bounded(5, queue.send_control(ok_response(&tid(0))))
            .await
            .expect("send_control does not wait for the data lane");
        control.push(tid(0));
        let mut control_full = false;
        for i in 1..100 {
            match queue.try_send_control(ok_response(&tid(i))) {
                Ok(()) => control.push(tid(i)),
                Err(TrySendError::Full(_)) => {
                    control_full = true;
                    break;
                }
                Err(TrySendError::Closed(_)) => panic!("closed"),
            }
            assert!(matches!(
                queue.try_send(make(0)),
                Err(TrySendError::Full(_))
            ));
        }
        assert!(control_full, "the control lane has its own bound");
        assert!(control.len() >= 3, "{} control items", control.len());
        assert!(queue.control_queued_bytes() <= CONTROL);

        gate.open(usize::MAX / 2);
        let mut r = EventReader::new(server, MsrpCodec::default());
        let mut got = Vec::new();
        for _ in 0..data.len() + control.len() {
            got.push(next_frame(&mut r).await.expect("a frame"));
        }
        drop(queue);
        writer.await.expect("join").expect("writer ends cleanly");
        assert!(next_frame(&mut r).await.is_none(), "nothing more");
        // The frame being written first, then every control item, then the rest of the data.
        let mut expect: Vec<&str> = vec![&data[0].head.tid];
        expect.extend(control.iter().map(String::as_str));
        expect.extend(data[1..].iter().map(|f| &*f.head.tid));
        let got_tids: Vec<&str> = got.iter().map(|f| &*f.head.tid).collect();
        assert_eq!(got_tids, expect);
        for (g, f) in got.iter().filter(|g| g.head.is_send()).zip(&data) {
            assert_eq!(g, f);
        }
    })
    .await
}
