//! The write side of a connection: a queue bounded in bytes and a writer task that batches
//! the queued frames into few vectored writes; and [`Connection`], which pairs it with a
//! [`MsrpCodec`] reader.
//!
//! # Items
//!
//! An [`Outgoing`] item is a list of `Bytes` segments written back to back: typically the
//! encoded header block, the body (the caller's `Bytes`, untouched) and the end-line
//! (RFC 4975 §7.1, 4975-007/010). Items are written whole and in the order they were queued;
//! a relay that forwards a chunk piece by piece queues the head, each body piece and the
//! end-line as separate items (see [`Outgoing::head`], [`Outgoing::end`]).
//!
//! # Bound
//!
//! The queue is bounded in bytes, not items (DESIGN.md "Backpressure and loss"): a semaphore
//! with one permit per byte of [`WriterConfig::queue_bytes`]. An item takes as many permits as
//! it has bytes, capped at the capacity, so an item larger than the whole queue is admitted
//! alone once the queue is empty. The writer gives permits back as the item's bytes are
//! written (an item holds `min(unwritten, cap)` permits), so room is released as bytes leave,
//! not when a whole batch is done.
//!
//! # Writer
//!
//! The writer takes every item already queued (up to [`WriterConfig::max_batch_bytes`]),
//! copies segments shorter than [`WriterConfig::coalesce_below`] into one staging buffer and
//! keeps longer ones (bodies) as their own `Bytes`, and writes the batch with
//! `poll_write_vectored`, up to 64 slices per call, resuming after partial writes, and flushes
//! once the batch is written. When every [`WriteQueue`] is dropped, or after
//! [`WriteQueue::close`], it writes what is queued, flushes and shuts the writer down. A write
//! error closes the queue: waiting and later senders get [`Closed`] back with their item. (A
//! writer blocked by a peer that stops reading stays blocked; abort its task to give up.)

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::codec::{EventReader, MsrpCodec};
use crate::encode;
use crate::frame::Frame;
use crate::head::{Flag, Head};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::{Semaphore, TryAcquireError, mpsc};
use tokio::task::JoinHandle;

/// Slices passed to one `poll_write_vectored` call (Linux allows 1024; coalescing keeps the
/// count low anyway).
const MAX_IOV: usize = 64;

/// Segments an [`Outgoing`] keeps inline (head, body, end-line) before it allocates.
const INLINE: usize = 3;

/// Limits of a write queue and its writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Bytes the queue holds at most (queued and not yet written). Default 1 MiB; at most
    /// `u32::MAX`.
    pub queue_bytes: usize,
    /// Bytes the writer takes from the queue before it starts writing a batch. Default 256 KiB.
    pub max_batch_bytes: usize,
    /// Segments shorter than this are copied into the batch's staging buffer so that many small
    /// frames go out in one slice; longer ones are written from their own `Bytes`. 0 never
    /// copies. Default 2048 (the chunk size of RFC 4975 §7.1.1, 4975-027).
    pub coalesce_below: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_bytes: 1 << 20,
            max_batch_bytes: 256 * 1024,
            coalesce_below: 2048,
        }
    }
}

/// One item for the write queue: `Bytes` segments written back to back, in order.
///
/// Up to three segments are kept inline, so a frame (head, body, end-line) costs no allocation
/// besides its encoded head and end-line.
#[derive(Clone, Default)]
pub struct Outgoing {
    /// The first segments; unused slots are empty (segments never are).
    inline: [Bytes; INLINE],
    spill: Vec<Bytes>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("len", &self.len())
            .field("segments", &self.segment_count())
            .finish()
    }
}

impl Outgoing {
    /// An empty item.
    pub fn new() -> Outgoing {
        Outgoing::default()
    }

    /// Appends a segment (empty segments are skipped).
    pub fn push(&mut self, seg: Bytes) {
        if seg.is_empty() {
            return;
        }
        match self.inline.iter_mut().find(|s| s.is_empty()) {
            Some(slot) => *slot = seg,
            None => self.spill.push(seg),
        }
    }

    fn n_inline(&self) -> usize {
        self.inline.iter().take_while(|s| !s.is_empty()).count()
    }

    /// Appends a segment (builder style).
    pub fn with(mut self, seg: Bytes) -> Outgoing {
        self.push(seg);
        self
    }

    /// A whole frame: header block, body and end-line (RFC 4975 §7.1). The body is not copied;
    /// the header block and the end-line share one allocation.
    pub fn frame(frame: &Frame) -> Outgoing {
        Outgoing::chunk(&frame.head, frame.body.clone(), frame.flag)
    }

    /// A frame from its parts: `head` written with [`encode::head`], `body` as it is (`None`
    /// for a frame without a body section, 4975-009) and the end-line written with
    /// [`encode::end`] (4975-010).
    pub fn chunk(head: &Head, body: Option<Bytes>, flag: Flag) -> Outgoing {
        let has_body = body.is_some();
        let mut buf =
            BytesMut::with_capacity(head.encoded_len_hint() + 2 + 2 + 7 + head.tid.len() + 3);
        encode::head(head, has_body, &mut buf);
        let head_bytes = buf.split().freeze();
        encode::end(&head.tid, flag, has_body, &mut buf);
        let mut out = Outgoing::new().with(head_bytes);
        if let Some(body) = body {
            out.push(body);
        }
        out.with(buf.freeze())
    }

    /// A header block alone ([`encode::head`]), for a frame whose body is queued piece by
    /// piece as it arrives.
    pub fn head(head: &Head, body: bool) -> Outgoing {
        let mut buf = BytesMut::new();
        encode::head(head, body, &mut buf);
        Outgoing::from(buf.freeze())
    }

    /// An end-line alone ([`encode::end`]), closing a frame queued piece by piece.
    pub fn end(tid: &str, flag: Flag, body: bool) -> Outgoing {
        let mut buf = BytesMut::with_capacity(2 + 7 + tid.len() + 3);
        encode::end(tid, flag, body, &mut buf);
        Outgoing::from(buf.freeze())
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.segments().map(Bytes::len).sum()
    }

    /// `true` when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.inline[0].is_empty()
    }

    /// Number of (non-empty) segments.
    pub fn segment_count(&self) -> usize {
        self.n_inline() + self.spill.len()
    }

    /// The segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &Bytes> {
        self.inline[..self.n_inline()]
            .iter()
            .chain(self.spill.iter())
    }

    /// The segments, in order, by value.
    pub fn into_segments(self) -> impl Iterator<Item = Bytes> {
        let n = self.n_inline();
        self.inline.into_iter().take(n).chain(self.spill)
    }
}

impl From<Bytes> for Outgoing {
    fn from(b: Bytes) -> Outgoing {
        Outgoing::new().with(b)
    }
}

impl From<&Frame> for Outgoing {
    fn from(f: &Frame) -> Outgoing {
        Outgoing::frame(f)
    }
}

impl From<Frame> for Outgoing {
    fn from(f: Frame) -> Outgoing {
        Outgoing::chunk(&f.head, f.body, f.flag)
    }
}

impl FromIterator<Bytes> for Outgoing {
    fn from_iter<I: IntoIterator<Item = Bytes>>(iter: I) -> Outgoing {
        let mut out = Outgoing::new();
        for b in iter {
            out.push(b);
        }
        out
    }
}

/// The queue is closed (explicitly, or because the writer stopped); the item comes back.
#[derive(Debug, thiserror::Error)]
#[error("write queue closed")]
pub struct Closed(pub Outgoing);

/// Why [`WriteQueue::try_send`] did not queue the item; the item comes back.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError {
    /// The queue has no room for the item now (DESIGN.md: the caller fails that recipient's
    /// copy instead of waiting).
    #[error("write queue full")]
    Full(Outgoing),
    /// The queue is closed.
    #[error("write queue closed")]
    Closed(Outgoing),
}

impl TrySendError {
    /// The item that was not queued.
    pub fn into_inner(self) -> Outgoing {
        match self {
            TrySendError::Full(o) | TrySendError::Closed(o) => o,
        }
    }
}

struct Shared {
    /// One permit per queued byte (items larger than the capacity take the whole capacity).
    sem: Semaphore,
    capacity: usize,
    /// Bytes queued and not yet written.
    queued: AtomicUsize,
}

enum Msg {
    Item { item: Outgoing, cost: usize },
    Close,
}

/// The sending side of a connection's write queue. Cheap to clone; the writer stops once every
/// clone is dropped (after writing what is queued).
#[derive(Clone)]
pub struct WriteQueue {
    tx: mpsc::UnboundedSender<Msg>,
    shared: Arc<Shared>,
}

impl fmt::Debug for WriteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteQueue")
            .field("capacity", &self.shared.capacity)
            .field("queued", &self.queued_bytes())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl WriteQueue {
    /// Queues `item`, waiting for room. `Ok` means queued (written later unless the writer
    /// fails). Not cancel-safe in the sense that dropping the future drops the item.
    pub async fn send(&self, item: impl Into<Outgoing>) -> Result<(), Closed> {
        let item = item.into();
        let cost = self.cost(item.len());
        match self.shared.sem.acquire_many(cost as u32).await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(Closed(item)),
        }
        self.enqueue(item, cost).map_err(Closed)
    }

    /// Queues `item` if there is room for it now; otherwise gives it back at once.
    pub fn try_send(&self, item: impl Into<Outgoing>) -> Result<(), TrySendError> {
        let item = item.into();
        let cost = self.cost(item.len());
        match self.shared.sem.try_acquire_many(cost as u32) {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(item)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(item)),
        }
        self.enqueue(item, cost).map_err(TrySendError::Closed)
    }

    /// Bytes queued and not yet written. At most [`WriteQueue::capacity`] unless an item larger
    /// than the capacity is being written (it was admitted alone into the empty queue).
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// The bound, in bytes.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// `true` once the queue is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.sem.is_closed()
    }

    /// Closes the queue: later sends fail with [`Closed`]; the writer writes what was queued
    /// before, flushes and shuts the transport's write side down.
    pub fn close(&self) {
        self.shared.sem.close();
        let _ = self.tx.send(Msg::Close);
    }

    fn cost(&self, len: usize) -> usize {
        len.min(self.shared.capacity)
    }

    fn enqueue(&self, item: Outgoing, cost: usize) -> Result<(), Outgoing> {
        let len = item.len();
        self.shared.queued.fetch_add(len, Ordering::AcqRel);
        match self.tx.send(Msg::Item { item, cost }) {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError(msg)) => {
                self.shared.queued.fetch_sub(len, Ordering::AcqRel);
                self.shared.sem.add_permits(cost);
                match msg {
                    Msg::Item { item, .. } => Err(item),
                    Msg::Close => Err(Outgoing::new()),
                }
            }
        }
    }
}

/// Per-item accounting of the writer: bytes not written yet and permits it holds.
struct Acct {
    unwritten: usize,
    cost: usize,
}

/// The writer task of a [`WriteQueue`]: run [`Writer::run`] (or use [`spawn_writer`]).
pub struct Writer<W> {
    w: W,
    rx: mpsc::UnboundedReceiver<Msg>,
    shared: Arc<Shared>,
    cfg: WriterConfig,
    /// Write-ready segments, in order.
    segs: VecDeque<Bytes>,
    /// Small segments being coalesced; they follow `segs`.
    stage: BytesMut,
    /// Bytes in `segs` and `stage`.
    batch_bytes: usize,
    /// Items not completely written, in order.
    accts: VecDeque<Acct>,
    flushed: bool,
}

impl<W> fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("cfg", &self.cfg)
            .field("batch_bytes", &self.batch_bytes)
            .field("items", &self.accts.len())
            .finish()
    }
}

/// A write queue and its writer; the caller runs [`Writer::run`] (e.g. in its own task).
pub fn writer<W: AsyncWrite + Unpin>(w: W, cfg: WriterConfig) -> (WriteQueue, Writer<W>) {
    let capacity = cfg.queue_bytes.clamp(1, u32::MAX as usize);
    let shared = Arc::new(Shared {
        sem: Semaphore::new(capacity),
        capacity,
        queued: AtomicUsize::new(0),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = Writer {
        w,
        rx,
        shared: shared.clone(),
        cfg,
        segs: VecDeque::new(),
        stage: BytesMut::new(),
        batch_bytes: 0,
        accts: VecDeque::new(),
        flushed: true,
    };
    (WriteQueue { tx, shared }, writer)
}

/// A write queue whose writer runs in a new tokio task (call from within a runtime). The task
/// ends with `Ok` after a clean shutdown, or with the write error.
pub fn spawn_writer<W>(w: W, cfg: WriterConfig) -> (WriteQueue, JoinHandle<io::Result<()>>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (queue, writer) = writer(w, cfg);
    (queue, tokio::spawn(writer.run()))
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// Writes queued items until the queue is closed or every [`WriteQueue`] is dropped, then
    /// flushes and shuts `w` down. On a write error the queue is closed and the error returned.
    pub async fn run(mut self) -> io::Result<()> {
        let res = self.drive().await;
        self.shared.sem.close();
        self.rx.close();
        // Drop what was not written, keeping `queued` consistent.
        let mut dropped: usize = self.accts.iter().map(|a| a.unwritten).sum();
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Item { item, .. } = msg {
                dropped += item.len();
            }
        }
        self.shared.queued.fetch_sub(dropped, Ordering::AcqRel);
        res
    }

    async fn drive(&mut self) -> io::Result<()> {
        loop {
            if self.accts.is_empty() {
                // The last batch is written: flush it, then wait for the next item and take
                // every item already queued behind it, up to the batch limit.
                if !self.flushed {
                    self.w.flush().await?;
                    self.flushed = true;
                }
                match self.rx.recv().await {
                    Some(msg) => self.take(msg),
                    None => break,
                }
                while self.batch_bytes < self.cfg.max_batch_bytes {
                    match self.rx.try_recv() {
                        Ok(msg) => self.take(msg),
                        Err(_) => break,
                    }
                }
            }
            self.flush_stage();
            if self.segs.is_empty() {
                continue;
            }
            let (segs, w) = (&self.segs, &mut self.w);
            let n = poll_fn(|cx| {
                let mut iov = [IoSlice::new(&[]); MAX_IOV];
                let mut k = 0;
                for (slot, seg) in iov.iter_mut().zip(segs.iter()) {
                    *slot = IoSlice::new(seg);
                    k += 1;
                }
                Pin::new(&mut *w).poll_write_vectored(cx, &iov[..k])
            })
            .await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.advance(n);
            self.flushed = false;
        }
        self.w.flush().await?;
        self.w.shutdown().await
    }

    /// Adds a message from the queue to the batch.
    fn take(&mut self, msg: Msg) {
        let (item, cost) = match msg {
            Msg::Item { item, cost } => (item, cost),
            Msg::Close => {
                // Senders that got permits before the close either get their item in before
                // this (and it is written) or get `Closed`.
                self.rx.close();
                return;
            }
        };
        let len = item.len();
        if len == 0 {
            return;
        }
        self.accts.push_back(Acct {
            unwritten: len,
            cost,
        });
        self.batch_bytes += len;
        for seg in item.into_segments() {
            if seg.len() < self.cfg.coalesce_below {
                self.stage.extend_from_slice(&seg);
            } else {
                self.flush_stage();
                self.segs.push_back(seg);
            }
        }
    }

    fn flush_stage(&mut self) {
        if !self.stage.is_empty() {
            self.segs.push_back(self.stage.split().freeze());
        }
    }

    /// `n` bytes were written: drops them from the batch and releases their room.
    fn advance(&mut self, n: usize) {
        let mut k = n;
        while k > 0 {
            let Some(front) = self.segs.front_mut() else {
                break;
            };
            if front.len() <= k {
                k -= front.len();
                self.segs.pop_front();
            } else {
                front.advance(k);
                k = 0;
            }
        }
        let written = n - k;
        self.batch_bytes = self.batch_bytes.saturating_sub(written);
        let mut k = written;
        let mut release = 0;
        while k > 0 {
            let Some(a) = self.accts.front_mut() else {
                break;
            };
            let before = a.unwritten.min(a.cost);
            let d = k.min(a.unwritten);
            a.unwritten -= d;
            k -= d;
            release += before - a.unwritten.min(a.cost);
            if a.unwritten == 0 {
                self.accts.pop_front();
            }
        }
        self.shared.queued.fetch_sub(written - k, Ordering::AcqRel);
        self.shared.sem.add_permits(release);
    }
}

/// A connection: [`MsrpCodec`] events on the read side, a [`WriteQueue`] with its writer task
/// on the write side.
///
/// The read side is an [`EventReader`] (`next().await`, no futures crate needed); callers that
/// want a `Stream` can build `tokio_util::codec::FramedRead::new(read_half, codec)` and
/// [`spawn_writer`] themselves.
#[derive(Debug)]
pub struct Connection<R> {
    /// The decoded events (see [`super::codec`] for the items).
    pub frames: EventReader<R>,
    /// The write queue.
    pub queue: WriteQueue,
    /// The writer task.
    pub writer: JoinHandle<io::Result<()>>,
}

impl<S> Connection<ReadHalf<S>>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    /// Splits `stream` with `tokio::io::split` and spawns the writer (call from within a tokio
    /// runtime). For a `TcpStream`, [`Connection::from_halves`] with `into_split` avoids the
    /// split's lock.
    pub fn new(stream: S, codec: MsrpCodec, cfg: WriterConfig) -> Self {
        let (r, w) = tokio::io::split(stream);
        Connection::from_halves(r, w, codec, cfg)
    }
}

impl<R: AsyncRead + Unpin> Connection<R> {
    /// A connection from separate read and write halves; spawns the writer (call from within a
    /// tokio runtime).
    pub fn from_halves<W>(r: R, w: W, codec: MsrpCodec, cfg: WriterConfig) -> Self
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (queue, writer) = spawn_writer(w, cfg);
        Connection {
            frames: EventReader::new(r, codec),
            queue,
            writer,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use super::*;

    /// Accepts at most `max` bytes per call, returns `Pending` on every other call, records
    /// everything; optionally fails after `fail_after` bytes.
    struct Trickle {
        out: Arc<Mutex<Vec<u8>>>,
        max: usize,
        calls: usize,
        fail_after: Option<usize>,
        shut: Arc<AtomicUsize>,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.calls += 1;
            if self.calls % 2 == 0 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let mut out = self.out.lock().expect("lock");
            if let Some(limit) = self.fail_after {
                if out.len() >= limit {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone")));
                }
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.max - n);
                out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.max {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(Ok(()))
        }
    }

    fn trickle(
        max: usize,
        fail_after: Option<usize>,
    ) -> (Trickle, Arc<Mutex<Vec<u8>>>, Arc<AtomicUsize>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let shut = Arc::new(AtomicUsize::new(0));
        (
            Trickle {
                out: out.clone(),
                max,
                calls: 0,
                fail_after,
                shut: shut.clone(),
            },
            out,
            shut,
        )
    }

    fn pattern(len: usize, seed: u8) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn outgoing_segments() {
        let o: Outgoing = [
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"c"),
        ]
        .into_iter()
        .collect();
        assert_eq!((o.len(), o.segment_count()), (3, 2));
        let o = o
            .with(Bytes::from_static(b"d"))
            .with(Bytes::from_static(b"ef"));
        assert_eq!((o.len(), o.segment_count()), (6, 4));
        let all: Vec<u8> = o.into_segments().flat_map(|b| b.to_vec()).collect();
        assert_eq!(all, b"abcdef");
    }

    #[tokio::test]
    async fn partial_writes_keep_order_and_release_all_room() {
        let (w, out, shut) = trickle(7, None);
        let cfg = WriterConfig {
            queue_bytes: 4096,
            max_batch_bytes: 1000,
            coalesce_below: 16,
        };
        let (q, task) = spawn_writer(w, cfg);
        let mut expect = Vec::new();
        for i in 0..200u8 {
            // Mix of coalesced small segments, big ones, and a multi-segment item.
            let item = Outgoing::new()
                .with(pattern(usize::from(i % 5) + 1, i))
                .with(pattern(usize::from(i) * 3, i.wrapping_add(1)))
                .with(pattern(2, i))
                .with(pattern(9, i.wrapping_add(2)));
            for s in item.segments() {
                expect.extend_from_slice(s);
            }
            tokio::time::timeout(Duration::from_secs(10), q.send(item))
                .await
                .expect("send in time")
                .expect("open");
            assert!(q.queued_bytes() <= 4096);
        }
        let q2 = q.clone();
        drop(q);
        assert!(!q2.is_closed());
        drop(q2);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("writer ends")
            .expect("join")
            .expect("ok");
        assert_eq!(*out.lock().expect("lock"), expect);
        assert_eq!(shut.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn oversized_item_goes_alone_and_room_comes_back() {
        let (w, out, _) = trickle(1000, None);
        let cfg = WriterConfig {
            queue_bytes: 100,
            ..WriterConfig::default()
        };
        let (q, writer) = writer(w, cfg);
        let big = pattern(10_000, 3);
        q.try_send(big.clone())
            .expect("an empty queue admits a huge item");
        assert_eq!(q.queued_bytes(), 10_000);
        assert!(matches!(
            q.try_send(Bytes::from_static(b"x")),
            Err(TrySendError::Full(_))
        ));
        let q2 = q.clone();
        let task = tokio::spawn(writer.run());
        tokio::time::timeout(
            Duration::from_secs(10),
            q2.send(Bytes::from_static(b"tail")),
        )
        .await
        .expect("room comes back")
        .expect("open");
        q.close();
        assert!(matches!(
            q2.try_send(Bytes::from_static(b"late")),
            Err(TrySendError::Closed(_))
        ));
        assert!(matches!(
            q2.send(Bytes::from_static(b"late")).await,
            Err(Closed(_))
        ));
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("ends")
            .expect("join")
            .expect("ok");
        let got = out.lock().expect("lock").clone();
        assert_eq!(&got[..10_000], &big[..]);
        assert_eq!(&got[10_000..], b"tail");
        assert_eq!(q.queued_bytes(), 0);
    }

    #[tokio::test]
    async fn write_error_closes_the_queue() {
        let (w, _, shut) = trickle(10, Some(50));
        let (q, task) = spawn_writer(
            w,
            WriterConfig {
                queue_bytes: 64,
                ..WriterConfig::default()
            },
        );
        let mut closed = false;
        for i in 0..1000u32 {
            match tokio::time::timeout(Duration::from_secs(10), q.send(pattern(20, i as u8))).await
            {
                Ok(Ok(())) => {}
                Ok(Err(Closed(item))) => {
                    assert_eq!(item.len(), 20);
                    closed = true;
                    break;
                }
                Err(_) => panic!("send hung after a write error"),
            }
        }
        assert!(closed && q.is_closed());
        let res = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("ends")
            .expect("join");
        assert_eq!(
            res.expect_err("write error").kind(),
            io::ErrorKind::BrokenPipe
        );
        assert_eq!(shut.load(Ordering::SeqCst), 0);
        assert_eq!(q.queued_bytes(), 0);
    }
}
