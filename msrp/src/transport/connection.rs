//! The write side of a connection: a write queue with two lanes, each bounded in bytes, and a
//! writer task that batches the queued frames into few vectored writes and interrupts long
//! chunks when responses or REPORTs are waiting; and [`Connection`], which pairs it with a
//! [`MsrpCodec`] reader.
//!
//! # Lanes
//!
//! RFC 4975 §7.1.1 (4975-028): a SEND chunk larger than 2048 octets must be interrupted when
//! the sender has responses or REPORTs pending on the connection, so those must not wait behind
//! chunk data. The queue has two lanes:
//!
//! - the **control lane** ([`WriteQueue::send_control`], [`WriteQueue::try_send_control`]):
//!   responses, REPORTs and small requests (AUTH, NICKNAME, short SENDs), anything that is not a
//!   long chunk;
//! - the **data lane** ([`WriteQueue::send`], [`WriteQueue::try_send`],
//!   [`WriteQueue::send_chunk`], [`WriteQueue::try_send_chunk`]): SEND chunks.
//!
//! Each lane is bounded in bytes on its own ([`WriterConfig::control_bytes`],
//! [`WriterConfig::queue_bytes`]), so a full data lane never blocks the control lane. Each lane
//! is written in the order it was queued. At every frame boundary the writer takes every queued
//! control item before the next data item.
//!
//! # Items
//!
//! An [`Outgoing`] item is a list of `Bytes` segments written back to back: typically the
//! encoded header block, the body (the caller's `Bytes`, untouched) and the end-line
//! (RFC 4975 §7.1, 4975-007/010). Items are written whole; empty items are not queued. A relay
//! that forwards a chunk piece by piece queues the head, each body piece and the end-line as
//! separate items on one lane ([`Outgoing::head`] leaves a frame open, [`Outgoing::end`] closes
//! it, plain pieces leave that state as it is; see [`Outgoing::with_frame_open`]). While a
//! frame is open the writer takes items from that lane only, so nothing is ever written inside
//! another frame; a frame left open holds the other lane up until its next piece comes, so a
//! relay that wants responses to overtake a long forwarded chunk ends that chunk early with
//! `+` itself.
//!
//! # Interruptible chunks
//!
//! [`WriteQueue::send_chunk`] queues a [`Chunk`] of a [`crate::sender::ChunkSender`] on the data
//! lane. When the chunk is interruptible ([`Chunk::is_interruptible`]: body larger than 2048
//! octets, range-end `*`, 4975-024/027), its body is longer than [`WriterConfig::write_slice`]
//! and the owner listens ([`WriteQueue::take_chunk_events`]), the writer writes the body in
//! slices of at most `write_slice` octets and commits a slice only once the previous one is
//! written. Before each slice after the first it looks at the control lane; if an item waits
//! there, it ends the chunk with a `+` end-line (4975-028), writes the control items, and hands
//! the chunk back as [`ChunkEvent::Interrupted`] with the number of body octets written. The
//! head and the first slice go out together, so an interruption never produces an empty `+`
//! chunk: at least `min(write_slice, body)` octets (always at least 1) are written. The owner
//! passes the chunk to [`crate::sender::ChunkSender::interrupted`], which puts the rest back;
//! the message resumes in a new SEND with a new transaction id and range-start = `sent + 1`
//! (4975-029).
//!
//! Every interruptible chunk queued while the owner listens ends in exactly one event, unless
//! the writer stops first (the receiver then ends): [`ChunkEvent::Done`] once its own end-line
//! is committed (it can no longer be interrupted), or [`ChunkEvent::Interrupted`]. Chunks of
//! one message must go out in increasing Byte-Range order (4975-032) and
//! [`crate::sender::ChunkSender::interrupted`] only takes back the latest chunk polled for its
//! message, so the owner polls the next chunk after an interruptible one only once that one's
//! event came. Chunks of at most 2048 octets are never cut and need no event;
//! neither are chunks whose body fits in one slice (they are committed whole at once), nor any
//! chunk while nobody listens or once the queue is closed (then nobody could resume it).
//! Control items and [`Outgoing`] items are never cut.
//!
//! After an interruption the owner polls the sender again: if the message was aborted while its
//! chunk was in flight, the next chunk is an empty `#` chunk starting at the first octet not sent
//! (4975-038); after a 413 nothing more of it is sent (4975-068).
//!
//! # Bound
//!
//! Each lane is bounded in bytes, not items (DESIGN.md "Backpressure and loss"): a semaphore
//! with one permit per byte of the lane's capacity. An item takes as many permits as it has
//! bytes, capped at the capacity, so an item larger than the whole lane is admitted alone once
//! the lane is empty. The writer gives permits back as the item's bytes are written (an item
//! holds `min(unwritten, cap)` permits), so room is released as bytes leave, not when a whole
//! batch is done; the unwritten rest of an interrupted chunk is released at the interruption.
//!
//! # Writer
//!
//! The writer keeps up to [`WriterConfig::max_batch_bytes`] committed ahead of the socket (plus
//! one item): it copies segments shorter than [`WriterConfig::coalesce_below`] into a staging
//! buffer and keeps longer ones (bodies) as their own `Bytes`, writes with
//! `poll_write_vectored`, up to 64 slices per call, and tops the batch up after every write call
//! (control items first whenever it is at a frame boundary). A control item that arrives while
//! data is committed waits for that data only: at most `max_batch_bytes` plus one whole
//! non-interruptible item, or one slice of an interruptible chunk. The writer flushes whenever
//! everything committed is written. When every [`WriteQueue`] is dropped, or after
//! [`WriteQueue::close`], it writes what is queued, flushes and shuts the writer down. A write
//! error closes both lanes: waiting and later senders get [`Closed`] back with their item. (A
//! writer blocked by a peer that stops reading stays blocked; abort its task to give up.)

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::codec::{EventReader, MsrpCodec};
use crate::encode;
use crate::frame::Frame;
use crate::head::{Flag, Head};
use crate::sender::{Chunk, MessageKey};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::sync::{Semaphore, TryAcquireError, mpsc};
use tokio::task::JoinHandle;

/// Slices passed to one `poll_write_vectored` call (Linux allows 1024; coalescing keeps the
/// count low anyway).
const MAX_IOV: usize = 64;

/// The least the writer's staging buffer grows by (see `Writer::push_seg`).
const STAGE_BLOCK: usize = 4096;

/// Segments an [`Outgoing`] keeps inline (head, body, end-line) before it allocates.
const INLINE: usize = 3;

/// Limits of a write queue and its writer.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Bytes the data lane holds at most (queued and not yet written). Default 1 MiB; at most
    /// `u32::MAX`.
    pub queue_bytes: usize,
    /// Bytes the control lane holds at most, independently of the data lane. Default 128 KiB;
    /// at most `u32::MAX`.
    pub control_bytes: usize,
    /// Bytes the writer commits ahead of the socket before it writes (it tops up after every
    /// write call). Default 256 KiB.
    pub max_batch_bytes: usize,
    /// Segments shorter than this are copied into the batch's staging buffer so that many small
    /// frames go out in one slice; longer ones are written from their own `Bytes`. 0 never
    /// copies. Default 2048 (the chunk size of RFC 4975 §7.1.1, 4975-027).
    pub coalesce_below: usize,
    /// Largest body slice of an interruptible chunk committed at once: the writer looks for
    /// pending control items between slices (RFC 4975 §7.1.1, 4975-028), so this bounds how
    /// long a response waits behind a chunk. A chunk whose body fits in one slice is written
    /// whole. Default 16 KiB (the default chunk size of [`crate::sender`]); 0 is taken as 1.
    pub write_slice: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue_bytes: 1 << 20,
            control_bytes: 128 * 1024,
            max_batch_bytes: 256 * 1024,
            coalesce_below: 2048,
            write_slice: 16 * 1024,
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
    /// Whether a frame is open on the wire after this item (`None`: unchanged).
    open: Option<bool>,
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("len", &self.len())
            .field("segments", &self.segment_count())
            .field("frame_open", &self.open)
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

    /// Says whether a frame is left open on the wire once this item is written: `true` for the
    /// header block or a body piece of a frame queued piece by piece, `false` for its end-line
    /// or a whole frame (RFC 4975 §7.1). While a frame is open the writer takes items only from
    /// the lane that opened it, so no other frame lands inside it. Items without a mark leave
    /// the state as it is (the default for plain pieces); [`Outgoing::head`] marks `true`,
    /// [`Outgoing::end`], [`Outgoing::frame`] and [`Outgoing::chunk`] mark `false`.
    pub fn with_frame_open(mut self, open: bool) -> Outgoing {
        self.open = Some(open);
        self
    }

    /// The mark set by [`Outgoing::with_frame_open`], if any.
    pub fn frame_open(&self) -> Option<bool> {
        self.open
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
        let Some(body) = body else {
            // A bodiless frame (a response, most REPORTs) is one segment: no split, so the
            // buffer is never made shared (an allocation and two atomic counts fewer).
            encode::end(&head.tid, flag, false, &mut buf);
            return Outgoing::new().with(buf.freeze()).with_frame_open(false);
        };
        let head_bytes = buf.split().freeze();
        encode::end(&head.tid, flag, has_body, &mut buf);
        let mut out = Outgoing::new().with(head_bytes);
        out.push(body);
        out.with(buf.freeze()).with_frame_open(false)
    }

    /// A header block alone ([`encode::head`]), for a frame whose body is queued piece by
    /// piece as it arrives. Leaves the frame open ([`Outgoing::with_frame_open`]).
    pub fn head(head: &Head, body: bool) -> Outgoing {
        let mut buf = BytesMut::new();
        encode::head(head, body, &mut buf);
        Outgoing::from(buf.freeze()).with_frame_open(true)
    }

    /// An end-line alone ([`encode::end`]), closing a frame queued piece by piece.
    pub fn end(tid: &str, flag: Flag, body: bool) -> Outgoing {
        let mut buf = BytesMut::with_capacity(2 + 7 + tid.len() + 3);
        encode::end(tid, flag, body, &mut buf);
        Outgoing::from(buf.freeze()).with_frame_open(false)
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
pub struct Closed<T = Outgoing>(pub T);

/// Why a `try_send*` did not queue the item; the item comes back.
#[derive(Debug, thiserror::Error)]
pub enum TrySendError<T = Outgoing> {
    /// The lane has no room for the item now (DESIGN.md: the caller fails that recipient's
    /// copy instead of waiting).
    #[error("write queue full")]
    Full(T),
    /// The queue is closed.
    #[error("write queue closed")]
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The item that was not queued.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(o) | TrySendError::Closed(o) => o,
        }
    }
}

/// An interruptible chunk that the writer ended early with `+` (RFC 4975 §7.1.1, 4975-028).
///
/// Its header block and the first `sent` octets of its body were written, followed by the
/// end-line `-------<tid>+`. Pass both to [`crate::sender::ChunkSender::interrupted`]: the rest
/// of the message then resumes in a new chunk with a new transaction id and range-start
/// `chunk.range_start() + sent` (4975-029).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupted {
    /// The chunk as it was queued.
    pub chunk: Chunk,
    /// Body octets written before the `+` end-line; at least 1, less than the body length.
    pub sent: usize,
}

/// What became of an interruptible chunk queued with [`WriteQueue::send_chunk`] (see
/// [`WriteQueue::take_chunk_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkEvent {
    /// The chunk's own end-line is committed: the chunk goes out whole (unless the connection
    /// fails). The owner may poll the next chunk of this message (4975-032).
    Done {
        /// The message the chunk belongs to.
        key: MessageKey,
    },
    /// The chunk was cut short for control items (4975-028).
    Interrupted(Interrupted),
}

/// The two lanes of a write queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Control = 0,
    Data = 1,
}

impl Lane {
    fn idx(self) -> usize {
        self as usize
    }
}

/// The byte bound of one lane.
struct LaneState {
    /// One permit per queued byte (items larger than the capacity take the whole capacity).
    sem: Semaphore,
    capacity: usize,
    /// Bytes queued and not yet written.
    queued: AtomicUsize,
}

impl LaneState {
    fn new(capacity: usize) -> LaneState {
        LaneState {
            sem: Semaphore::new(capacity),
            capacity,
            queued: AtomicUsize::new(0),
        }
    }

    fn cost(&self, len: usize) -> usize {
        len.min(self.capacity)
    }
}

struct Shared {
    lanes: [LaneState; 2],
    /// The sending end of the chunk events, made when the owner takes the receiving end (most
    /// connections never do: the channel's first block is a few KiB) and until the writer picks
    /// it up.
    events: Mutex<Option<mpsc::UnboundedSender<ChunkEvent>>>,
    /// The owner took the receiver: chunks may be interrupted and events are sent.
    listening: AtomicBool,
}

impl Shared {
    fn lane(&self, lane: Lane) -> &LaneState {
        &self.lanes[lane.idx()]
    }

    fn close(&self) {
        for l in &self.lanes {
            l.sem.close();
        }
    }
}

/// A chunk on the data lane, its head and end-line already encoded (their lengths count
/// against the bound).
struct ChunkItem {
    chunk: Chunk,
    head: Bytes,
    end: Bytes,
}

impl ChunkItem {
    fn new(chunk: Chunk) -> ChunkItem {
        let mut buf = BytesMut::with_capacity(
            chunk.head.encoded_len_hint() + 2 + 2 + 7 + chunk.head.tid.len() + 3,
        );
        chunk.write_head(&mut buf);
        let head = buf.split().freeze();
        chunk.write_end(chunk.flag, &mut buf);
        ChunkItem {
            chunk,
            head,
            end: buf.freeze(),
        }
    }

    fn len(&self) -> usize {
        self.head.len() + self.chunk.body.len() + self.end.len()
    }
}

/// What the writer is sent. Boxed, so that a channel slot is a few words: tokio allocates a
/// connection's channel a block of 32 slots at once, which with an inline [`Outgoing`] (128
/// octets) cost every connection, idle or not, about 5 KiB. Callers batch their frames into
/// few items, so the box is one allocation per batch.
enum Item {
    Bytes(Box<Outgoing>),
    Chunk(Box<ChunkItem>),
}

/// [`Item::Bytes`] of an [`Outgoing`].
fn bytes_item(o: Outgoing) -> Item {
    Item::Bytes(Box::new(o))
}

enum Msg {
    Item {
        lane: Lane,
        item: Item,
        len: usize,
        cost: usize,
    },
    Close,
}

/// The sending side of a connection's write queue. Cheap to clone; the writer stops once every
/// clone is dropped (after writing what is queued).
#[derive(Clone)]
pub struct WriteQueue {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

impl fmt::Debug for WriteQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteQueue")
            .field("capacity", &self.capacity())
            .field("queued", &self.queued_bytes())
            .field("control_capacity", &self.control_capacity())
            .field("control_queued", &self.control_queued_bytes())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl WriteQueue {
    /// Queues `item` on the data lane, waiting for room. `Ok` means queued (written later
    /// unless the writer fails). Not cancel-safe in the sense that dropping the future drops
    /// the item. For chunks of a [`crate::sender::ChunkSender`] prefer
    /// [`WriteQueue::send_chunk`], which can interrupt them.
    pub async fn send(&self, item: impl Into<Outgoing>) -> Result<(), Closed> {
        let item = item.into();
        let len = item.len();
        self.send_on(Lane::Data, item, len, bytes_item).await
    }

    /// Queues `item` on the data lane if there is room for it now; otherwise gives it back at
    /// once.
    // The item comes back by value, as the caller handed it over.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, item: impl Into<Outgoing>) -> Result<(), TrySendError> {
        let item = item.into();
        let len = item.len();
        self.try_send_on(Lane::Data, item, len, bytes_item)
    }

    /// Queues `item` on the control lane (responses, REPORTs, small requests), waiting for room
    /// in that lane only. Control items go out before any data item not yet started, and cut
    /// an interruptible chunk being written (RFC 4975 §7.1.1, 4975-028).
    pub async fn send_control(&self, item: impl Into<Outgoing>) -> Result<(), Closed> {
        let item = item.into();
        let len = item.len();
        self.send_on(Lane::Control, item, len, bytes_item).await
    }

    /// Queues `item` on the control lane if that lane has room now, whatever the data lane
    /// holds; otherwise gives it back at once.
    // The item comes back by value, as the caller handed it over.
    #[allow(clippy::result_large_err)]
    pub fn try_send_control(&self, item: impl Into<Outgoing>) -> Result<(), TrySendError> {
        let item = item.into();
        let len = item.len();
        self.try_send_on(Lane::Control, item, len, bytes_item)
    }

    /// Queues a chunk of a [`crate::sender::ChunkSender`] on the data lane, waiting for room.
    /// Its head and end-line are encoded here (with [`Chunk::write_head`] and
    /// [`Chunk::write_end`]); its body is not copied. An interruptible chunk may come back
    /// through [`WriteQueue::take_chunk_events`] (see the module documentation).
    pub async fn send_chunk(&self, chunk: Chunk) -> Result<(), Closed<Chunk>> {
        let item = ChunkItem::new(chunk);
        let len = item.len();
        self.send_on(Lane::Data, item, len, |c| Item::Chunk(Box::new(c)))
            .await
            .map_err(|Closed(c)| Closed(c.chunk))
    }

    /// Queues a chunk on the data lane if there is room for it now; otherwise gives it back at
    /// once.
    // The item comes back by value, as the caller handed it over.
    #[allow(clippy::result_large_err)]
    pub fn try_send_chunk(&self, chunk: Chunk) -> Result<(), TrySendError<Chunk>> {
        let item = ChunkItem::new(chunk);
        let len = item.len();
        self.try_send_on(Lane::Data, item, len, |c| Item::Chunk(Box::new(c)))
            .map_err(|e| match e {
                TrySendError::Full(c) => TrySendError::Full(c.chunk),
                TrySendError::Closed(c) => TrySendError::Closed(c.chunk),
            })
    }

    /// Takes the receiver of [`ChunkEvent`]s; `None` after the first call. Interruption is on
    /// from then on: before it, and after the receiver is dropped, chunks are written whole
    /// (nobody would resume them) and no event is sent. Take it before queuing chunks. The
    /// receiver ends (`None`) when the writer stops.
    pub fn take_chunk_events(&self) -> Option<mpsc::UnboundedReceiver<ChunkEvent>> {
        let mut events = self.shared.events.lock().unwrap_or_else(|e| e.into_inner());
        if self.shared.listening.load(Ordering::Acquire) {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        *events = Some(tx);
        self.shared.listening.store(true, Ordering::Release);
        Some(rx)
    }

    /// Bytes queued on the data lane and not yet written. At most [`WriteQueue::capacity`]
    /// unless an item larger than the capacity is being written (it was admitted alone into the
    /// empty lane).
    pub fn queued_bytes(&self) -> usize {
        self.shared.lane(Lane::Data).queued.load(Ordering::Acquire)
    }

    /// The data lane's bound, in bytes.
    pub fn capacity(&self) -> usize {
        self.shared.lane(Lane::Data).capacity
    }

    /// Bytes queued on the control lane and not yet written.
    pub fn control_queued_bytes(&self) -> usize {
        self.shared
            .lane(Lane::Control)
            .queued
            .load(Ordering::Acquire)
    }

    /// The control lane's bound, in bytes.
    pub fn control_capacity(&self) -> usize {
        self.shared.lane(Lane::Control).capacity
    }

    /// `true` once the queue is closed (both lanes close together).
    pub fn is_closed(&self) -> bool {
        self.shared.lane(Lane::Data).sem.is_closed()
    }

    /// Closes the queue: later sends on either lane fail with [`Closed`]; the writer writes
    /// what was queued before, flushes and shuts the transport's write side down.
    pub fn close(&self) {
        self.shared.close();
        if let Ok(slot) = self.tx.try_reserve() {
            slot.send(Msg::Close);
        }
    }

    async fn send_on<T>(
        &self,
        lane: Lane,
        item: T,
        len: usize,
        wrap: impl FnOnce(T) -> Item,
    ) -> Result<(), Closed<T>> {
        if len == 0 {
            return if self.is_closed() {
                Err(Closed(item))
            } else {
                Ok(())
            };
        }
        let l = self.shared.lane(lane);
        let cost = l.cost(len);
        // The permit is only forgotten once the item is in, so a dropped future leaks no room.
        let Ok(permit) = l.sem.acquire_many(cost as u32).await else {
            return Err(Closed(item));
        };
        let Ok(slot) = self.tx.reserve().await else {
            return Err(Closed(item));
        };
        permit.forget();
        l.queued.fetch_add(len, Ordering::AcqRel);
        slot.send(Msg::Item {
            lane,
            item: wrap(item),
            len,
            cost,
        });
        Ok(())
    }

    fn try_send_on<T>(
        &self,
        lane: Lane,
        item: T,
        len: usize,
        wrap: impl FnOnce(T) -> Item,
    ) -> Result<(), TrySendError<T>> {
        if len == 0 {
            return if self.is_closed() {
                Err(TrySendError::Closed(item))
            } else {
                Ok(())
            };
        }
        let l = self.shared.lane(lane);
        let cost = l.cost(len);
        let permit = match l.sem.try_acquire_many(cost as u32) {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(item)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(item)),
        };
        let slot = match self.tx.try_reserve() {
            Ok(slot) => slot,
            Err(mpsc::error::TrySendError::Full(())) => return Err(TrySendError::Full(item)),
            Err(mpsc::error::TrySendError::Closed(())) => return Err(TrySendError::Closed(item)),
        };
        permit.forget();
        l.queued.fetch_add(len, Ordering::AcqRel);
        slot.send(Msg::Item {
            lane,
            item: wrap(item),
            len,
            cost,
        });
        Ok(())
    }
}

/// Per-item accounting of the writer: bytes not written yet and permits it holds.
struct Acct {
    lane: Lane,
    unwritten: usize,
    cost: usize,
}

/// An item received by the writer and not committed yet.
struct Pending {
    item: Item,
    len: usize,
    cost: usize,
}

/// An interruptible chunk whose body is being committed slice by slice.
struct InFlight {
    item: Box<ChunkItem>,
    /// Body octets committed so far.
    next: usize,
}

/// The writer task of a [`WriteQueue`]: run [`Writer::run`] (or use [`spawn_writer`]).
pub struct Writer<W> {
    w: W,
    rx: mpsc::Receiver<Msg>,
    shared: Arc<Shared>,
    cfg: WriterConfig,
    /// The chunk-event sender, once the owner listens ([`Shared::events`]).
    events: Option<mpsc::UnboundedSender<ChunkEvent>>,
    /// Items received and not committed, per lane.
    pending: [VecDeque<Pending>; 2],
    /// Committed write-ready segments, in order.
    segs: VecDeque<Bytes>,
    /// Small committed segments being coalesced; they follow `segs`.
    stage: BytesMut,
    /// Committed bytes not written yet (in `segs` and `stage`).
    batch_bytes: usize,
    /// Items not completely written, in commit order.
    accts: VecDeque<Acct>,
    /// The interruptible chunk being committed, if any; always the last item committed.
    current: Option<InFlight>,
    /// The lane whose frame is open after the last committed item.
    open: Option<Lane>,
    /// No more messages will come (the queue was closed, or every sender dropped): nothing
    /// cut now could be resumed, so nothing is cut.
    ended: bool,
    flushed: bool,
}

impl<W> fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("cfg", &self.cfg)
            .field("batch_bytes", &self.batch_bytes)
            .field("items", &self.accts.len())
            .field("pending_control", &self.pending[Lane::Control.idx()].len())
            .field("pending_data", &self.pending[Lane::Data.idx()].len())
            .field("in_chunk", &self.current.is_some())
            .finish()
    }
}

impl<W> Drop for Writer<W> {
    /// The chunk-event receiver ends when the writer stops, even if the writer never picked up
    /// the sender ([`WriteQueue::take_chunk_events`]).
    fn drop(&mut self) {
        self.shared
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// A write queue and its writer; the caller runs [`Writer::run`] (e.g. in its own task).
pub fn writer<W: AsyncWrite + Unpin>(w: W, mut cfg: WriterConfig) -> (WriteQueue, Writer<W>) {
    let data = cfg.queue_bytes.clamp(1, u32::MAX as usize);
    let control = cfg.control_bytes.clamp(1, u32::MAX as usize);
    cfg.write_slice = cfg.write_slice.max(1);
    // Empty items are not queued, so every queued item holds at least one permit until it is
    // written: the channel never fills up, and `close` always finds a slot.
    let slots = data
        .saturating_add(control)
        .saturating_add(64)
        .min(Semaphore::MAX_PERMITS);
    let shared = Arc::new(Shared {
        lanes: [LaneState::new(control), LaneState::new(data)],
        events: Mutex::new(None),
        listening: AtomicBool::new(false),
    });
    let (tx, rx) = mpsc::channel(slots);
    let writer = Writer {
        w,
        rx,
        shared: shared.clone(),
        cfg,
        events: None,
        pending: [VecDeque::new(), VecDeque::new()],
        segs: VecDeque::new(),
        stage: BytesMut::new(),
        batch_bytes: 0,
        accts: VecDeque::new(),
        current: None,
        open: None,
        ended: false,
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
    /// flushes and shuts `w` down. On a write error both lanes are closed and the error
    /// returned.
    pub async fn run(mut self) -> io::Result<()> {
        let res = self.drive().await;
        self.shared.close();
        self.rx.close();
        // Drop what was not written, keeping `queued` consistent.
        let mut dropped = [0usize; 2];
        for a in &self.accts {
            dropped[a.lane.idx()] += a.unwritten;
        }
        for (lane, pending) in self.pending.iter().enumerate() {
            dropped[lane] += pending.iter().map(|p| p.len).sum::<usize>();
        }
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Item { lane, len, .. } = msg {
                dropped[lane.idx()] += len;
            }
        }
        for (l, d) in self.shared.lanes.iter().zip(dropped) {
            l.queued.fetch_sub(d, Ordering::AcqRel);
        }
        res
    }

    async fn drive(&mut self) -> io::Result<()> {
        loop {
            self.pull();
            self.fill();
            self.flush_stage();
            if self.segs.is_empty() {
                // Everything committed is written: flush it, then wait for more.
                if !self.flushed {
                    self.w.flush().await?;
                    self.flushed = true;
                    continue;
                }
                if self.ended {
                    if self.current.is_none() && self.pending.iter().all(VecDeque::is_empty) {
                        break;
                    }
                    // A frame was left open and its lane will bring nothing more: write the
                    // rest in order anyway.
                    self.open = None;
                    continue;
                }
                // Idle: an idle connection keeps no staging block.
                if self.stage.capacity() != 0 {
                    self.stage = BytesMut::new();
                }
                match self.rx.recv().await {
                    Some(msg) => self.accept(msg),
                    None => self.ended = true,
                }
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

    /// Moves every message already queued into the per-lane pending lists.
    fn pull(&mut self) {
        while !self.ended {
            match self.rx.try_recv() {
                Ok(msg) => self.accept(msg),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.ended = true,
            }
        }
    }

    fn accept(&mut self, msg: Msg) {
        match msg {
            Msg::Item {
                lane,
                item,
                len,
                cost,
            } => self.pending[lane.idx()].push_back(Pending { item, len, cost }),
            // Senders that got permits before the close either get their item in before this
            // (and it is written) or get `Closed`.
            Msg::Close => self.rx.close(),
        }
    }

    /// `true` while the owner holds the chunk-event receiver.
    fn listening(&mut self) -> bool {
        if self.events.is_none() && self.shared.listening.load(Ordering::Acquire) {
            self.events = self
                .shared
                .events
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
        }
        self.events.as_ref().is_some_and(|e| !e.is_closed())
    }

    /// `true` when a long chunk may be cut: the owner listens and can still queue the rest.
    fn may_interrupt(&mut self) -> bool {
        !self.ended && self.listening()
    }

    /// Sends a chunk event to the owner, if it listens.
    fn event(&self, ev: ChunkEvent) {
        if let Some(e) = &self.events {
            let _ = e.send(ev);
        }
    }

    /// Commits pending items until `max_batch_bytes` are committed: control items first at
    /// every frame boundary; an interruptible chunk one slice at a time, each once the previous
    /// one is written, cut short when control items wait (RFC 4975 §7.1.1, 4975-028).
    fn fill(&mut self) {
        let limit = self.cfg.max_batch_bytes.max(1);
        while self.batch_bytes < limit {
            if self.current.is_some() {
                if self.batch_bytes > 0 {
                    return;
                }
                if self.open.is_none()
                    && !self.pending[Lane::Control.idx()].is_empty()
                    && self.may_interrupt()
                {
                    self.interrupt();
                } else {
                    self.next_slice();
                }
                continue;
            }
            let lane = match self.open {
                Some(lane) => lane,
                None if !self.pending[Lane::Control.idx()].is_empty() => Lane::Control,
                None => Lane::Data,
            };
            let Some(p) = self.pending[lane.idx()].pop_front() else {
                return;
            };
            self.commit(lane, p);
        }
    }

    fn commit(&mut self, lane: Lane, p: Pending) {
        match p.item {
            Item::Bytes(item) => {
                if let Some(open) = item.open {
                    self.open = open.then_some(lane);
                }
                if p.len == 0 {
                    return;
                }
                self.accts.push_back(Acct {
                    lane,
                    unwritten: p.len,
                    cost: p.cost,
                });
                self.batch_bytes += p.len;
                for seg in item.into_segments() {
                    self.push_seg(seg);
                }
            }
            Item::Chunk(ci) => {
                self.accts.push_back(Acct {
                    lane,
                    unwritten: p.len,
                    cost: p.cost,
                });
                let listening = ci.chunk.is_interruptible() && self.listening();
                self.batch_bytes += ci.head.len();
                self.push_seg(ci.head.clone());
                let slice = self.cfg.write_slice;
                if listening && self.may_interrupt() && ci.chunk.body.len() > slice {
                    let first = ci.chunk.body.slice(..slice);
                    self.batch_bytes += first.len();
                    self.push_seg(first);
                    self.current = Some(InFlight {
                        item: ci,
                        next: slice,
                    });
                } else {
                    self.batch_bytes += ci.chunk.body.len() + ci.end.len();
                    self.push_seg(ci.chunk.body.clone());
                    self.push_seg(ci.end.clone());
                    if listening {
                        self.event(ChunkEvent::Done { key: ci.chunk.key });
                    }
                }
            }
        }
    }

    /// Commits the next body slice of the chunk in flight, and its end-line after the last.
    fn next_slice(&mut self) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        let body = &cur.item.chunk.body;
        let to = cur
            .next
            .saturating_add(self.cfg.write_slice)
            .min(body.len());
        let slice = body.slice(cur.next..to);
        cur.next = to;
        let done = to == body.len();
        self.batch_bytes += slice.len();
        self.push_seg(slice);
        if done {
            if let Some(cur) = self.current.take() {
                self.batch_bytes += cur.item.end.len();
                self.push_seg(cur.item.end.clone());
                self.event(ChunkEvent::Done {
                    key: cur.item.chunk.key,
                });
            }
        }
    }

    /// Ends the chunk in flight with `+` after the octets written so far and hands it back
    /// (RFC 4975 §7.1.1, 4975-028). Called only when everything committed is written.
    fn interrupt(&mut self) {
        let Some(cur) = self.current.take() else {
            return;
        };
        let ChunkItem { chunk, end, .. } = *cur.item;
        let sent = cur.next;
        let before = self.stage.len();
        chunk.write_end(Flag::More, &mut self.stage);
        let n = self.stage.len() - before;
        self.batch_bytes += n;
        // The rest of the body and the chunk's own end-line will not be written; the `+`
        // end-line is. The chunk is the last item committed, so its account is the last one.
        let dropped = chunk.body.len() - sent + end.len();
        if let Some(a) = self.accts.back_mut() {
            let l = &self.shared.lanes[a.lane.idx()];
            let held = a.unwritten.min(a.cost);
            a.unwritten = a.unwritten.saturating_sub(dropped) + n;
            l.sem
                .add_permits(held.saturating_sub(a.unwritten.min(a.cost)));
            if dropped >= n {
                l.queued.fetch_sub(dropped - n, Ordering::AcqRel);
            } else {
                l.queued.fetch_add(n - dropped, Ordering::AcqRel);
            }
        }
        self.event(ChunkEvent::Interrupted(Interrupted { chunk, sent }));
    }

    /// Adds a committed segment: copied into the staging buffer when short, else kept as is.
    ///
    /// The staging buffer is a block of at least [`STAGE_BLOCK`] octets: what is staged is
    /// frozen off it as a segment while the block goes on, so the block stays shared until the
    /// segment is written, and growing it by one segment's size made an allocation (and a
    /// second for `bytes`' shared header) for nearly every frame. A full block becomes a
    /// segment of its own and a new one is started, so staged octets are never copied again.
    fn push_seg(&mut self, seg: Bytes) {
        if seg.is_empty() {
            return;
        }
        if seg.len() < self.cfg.coalesce_below {
            if self.stage.capacity() - self.stage.len() < seg.len() {
                self.flush_stage();
                self.stage.reserve(seg.len().max(STAGE_BLOCK));
            }
            self.stage.extend_from_slice(&seg);
        } else {
            self.flush_stage();
            self.segs.push_back(seg);
        }
    }

    /// Moves what is staged to the segments to write.
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
        let mut release = [0usize; 2];
        let mut bytes = [0usize; 2];
        while k > 0 {
            let Some(a) = self.accts.front_mut() else {
                break;
            };
            let before = a.unwritten.min(a.cost);
            let d = k.min(a.unwritten);
            a.unwritten -= d;
            k -= d;
            release[a.lane.idx()] += before - a.unwritten.min(a.cost);
            bytes[a.lane.idx()] += d;
            if a.unwritten == 0 {
                self.accts.pop_front();
            }
        }
        for (i, l) in self.shared.lanes.iter().enumerate() {
            if bytes[i] > 0 {
                l.queued.fetch_sub(bytes[i], Ordering::AcqRel);
            }
            if release[i] > 0 {
                l.sem.add_permits(release[i]);
            }
        }
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
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use super::*;
    use crate::head::Method;
    use crate::header::Header;
    use crate::ident::IdGenerator;
    use crate::sender::{ChunkSender, SenderConfig};
    use bytestring::ByteString;
    use tokio::sync::Notify;

    #[test]
    fn a_bodiless_chunk_is_one_segment_and_a_body_is_not_copied() {
        // 4975-009/010: the same octets as encode::frame, in one segment without a body; with
        // one, the body is its own segment (the Bytes given, not a copy).
        let to = crate::path!["msrp://b.example.com:7777/bbb;tcp".parse().unwrap()];
        let from = crate::path!["msrp://a.example.com:7777/aaa;tcp".parse().unwrap()];
        let head = Head::response(crate::StatusCode::OK, "tid12345".parse().unwrap(), to, from);
        let flat = |o: &Outgoing| o.segments().flat_map(|s| s.to_vec()).collect::<Vec<u8>>();
        let mut want = BytesMut::new();
        crate::encode::frame(&head, None, Flag::Last, &mut want);
        let ok = Outgoing::chunk(&head, None, Flag::Last);
        assert_eq!(ok.segments().count(), 1);
        assert_eq!(flat(&ok), want);
        let body = Bytes::from_static(b"hello");
        let with = Outgoing::chunk(&head, Some(body.clone()), Flag::More);
        let mut want = BytesMut::new();
        crate::encode::frame(&head, Some(&body), Flag::More, &mut want);
        assert_eq!(flat(&with), want);
        assert!(with.segments().any(|s| s.as_ptr() == body.as_ptr()));
    }

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
            ..WriterConfig::default()
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

    /// Short segments are staged in blocks (`STAGE_BLOCK`); a full block goes out as a segment
    /// of its own and a new one starts. Items of many short segments, some longer than a
    /// block altogether, some segments not short, come out whole and in order through partial
    /// writes.
    #[tokio::test]
    async fn staged_segments_span_blocks_in_order() {
        let (w, out, _) = trickle(3000, None);
        let (q, task) = spawn_writer(w, WriterConfig::default());
        let mut expect = Vec::new();
        for i in 0..300usize {
            let mut item = Outgoing::new();
            for k in 0..(1 + i % 12) {
                let len = [1, 40, 700, 1500, 2047, 2048, 5000][(i + k) % 7];
                item = item.with(pattern(len, (i + k) as u8));
            }
            for s in item.segments() {
                expect.extend_from_slice(s);
            }
            q.send(item).await.expect("open");
        }
        drop(q);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("writer ends")
            .expect("join")
            .expect("ok");
        assert_eq!(out.lock().expect("lock").as_slice(), expect.as_slice());
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
        assert!(matches!(
            q.try_send_control(Bytes::from_static(b"x")),
            Err(TrySendError::Closed(_))
        ));
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

    /// How many bytes [`Gated`] may still write; it stalls (`Pending`) at 0 until
    /// [`Gate::open`], and signals `stalled` when it runs out.
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
            tokio::time::timeout(Duration::from_secs(10), self.stalled.notified())
                .await
                .expect("the writer uses up its budget");
        }
    }

    /// Records what is written, as long as the gate lets it through.
    struct Gated {
        out: Arc<Mutex<Vec<u8>>>,
        gate: Arc<Gate>,
    }

    fn gated() -> (Gated, Arc<Gate>, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Gate::default());
        (
            Gated {
                out: out.clone(),
                gate: gate.clone(),
            },
            gate,
            out,
        )
    }

    impl AsyncWrite for Gated {
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
            let budget = self.gate.budget.load(Ordering::SeqCst);
            if budget == 0 {
                *self.gate.waker.lock().expect("lock") = Some(cx.waker().clone());
                if self.gate.budget.load(Ordering::SeqCst) > 0 {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            let mut out = self.out.lock().expect("lock");
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(budget - n);
                out.extend_from_slice(&b[..take]);
                n += take;
                if n == budget {
                    break;
                }
            }
            if self.gate.budget.fetch_sub(n, Ordering::SeqCst) == n {
                self.gate.stalled.notify_one();
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
            Poll::Ready(Ok(()))
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

    impl<E: fmt::Debug> IntoKey for Result<MessageKey, E> {
        fn into_key(self) -> MessageKey {
            self.expect("message accepted")
        }
    }

    fn template() -> Head {
        Head::request(
            Method::Send,
            "unset000".parse().unwrap(),
            crate::path!["msrp://b.example.com:7777/bbb;tcp".parse().expect("uri")],
            crate::path!["msrp://a.example.com:7777/aaa;tcp".parse().expect("uri")],
        )
        .with(Header::MessageId("m1x2c3v4".parse().unwrap()))
        .with(Header::ContentType(ByteString::from_static("text/plain")))
    }

    fn encoded_head(c: &Chunk) -> Vec<u8> {
        let mut b = BytesMut::new();
        c.write_head(&mut b);
        b.to_vec()
    }

    async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .expect("in time")
    }

    /// RFC 4975 §7.1.1 (4975-027/028/029): a control item queued while a long chunk is being
    /// written cuts it with `+` at the next slice boundary; the chunk comes back with the
    /// octets written, and the rest resumes under a new tid. All room comes back.
    #[tokio::test]
    async fn long_chunk_is_cut_for_a_control_item() {
        let (w, gate, out) = gated();
        let cfg = WriterConfig {
            write_slice: 1000,
            ..WriterConfig::default()
        };
        let (q, task) = spawn_writer(w, cfg);
        let mut events = q.take_chunk_events().expect("first take");
        assert!(q.take_chunk_events().is_none());

        let body = pattern(10_000, 1);
        let mut s = ChunkSender::new(SenderConfig { chunk_size: 10_000 });
        let key = s.send(template(), body.clone()).into_key();
        let mut ids = IdGenerator::new();
        let c1 = s.poll_chunk(&mut ids, |_| false).expect("a chunk");
        assert!(c1.is_interruptible());
        let head1 = encoded_head(&c1);
        // Head, the first slice and half of the second.
        gate.open(head1.len() + 1500);
        within(q.send_chunk(c1.clone())).await.expect("open");
        gate.wait_stalled().await;
        within(q.send_control(Bytes::from_static(b"CONTROL\r\n")))
            .await
            .expect("open");
        gate.open(usize::MAX / 2);

        let ev = within(events.recv()).await.expect("an event");
        let ChunkEvent::Interrupted(Interrupted { chunk, sent }) = ev else {
            panic!("expected an interruption, got {ev:?}");
        };
        assert_eq!(sent, 2000, "cut at the slice boundary after the stall");
        assert_eq!(chunk, c1);
        assert_eq!(s.interrupted(chunk, sent), Ok(()));
        let c2 = s.poll_chunk(&mut ids, |_| false).expect("the rest");
        assert_eq!(c2.range_start(), 2001);
        assert_ne!(c2.head.tid, c1.head.tid);
        assert_eq!(c2.body, body.slice(2000..));
        within(q.send_chunk(c2.clone())).await.expect("open");
        assert_eq!(within(events.recv()).await, Some(ChunkEvent::Done { key }));
        // Every permit came back: an item as large as the data lane fits.
        let fill = Bytes::from(vec![b'x'; q.capacity()]);
        within(q.send(fill.clone())).await.expect("open");
        q.close();
        within(task).await.expect("join").expect("ok");
        assert!(
            within(events.recv()).await.is_none(),
            "ends with the writer"
        );

        let mut expect = head1;
        expect.extend_from_slice(&body[..2000]);
        let mut end = BytesMut::new();
        encode::end(&c1.head.tid, Flag::More, true, &mut end);
        expect.extend_from_slice(&end);
        expect.extend_from_slice(b"CONTROL\r\n");
        let mut whole = BytesMut::new();
        c2.write(&mut whole);
        expect.extend_from_slice(&whole);
        expect.extend_from_slice(&fill);
        assert!(*out.lock().expect("lock") == expect, "bytes differ");
        assert_eq!((q.queued_bytes(), q.control_queued_bytes()), (0, 0));
    }

    /// Without a listener, or once the queue is closed, nobody could resume a cut chunk, so it
    /// is written whole; control items follow it.
    #[tokio::test]
    async fn chunks_go_out_whole_without_a_listener_or_after_close() {
        for listen_then_close in [false, true] {
            let (w, gate, out) = gated();
            let cfg = WriterConfig {
                write_slice: 1000,
                ..WriterConfig::default()
            };
            let (q, task) = spawn_writer(w, cfg);
            let mut events = listen_then_close.then(|| q.take_chunk_events().expect("take"));
            let body = pattern(10_000, 2);
            let mut s = ChunkSender::new(SenderConfig { chunk_size: 10_000 });
            let key = s.send(template(), body.clone()).into_key();
            let c = s
                .poll_chunk(&mut IdGenerator::new(), |_| false)
                .expect("a chunk");
            gate.open(encoded_head(&c).len() + 1500);
            within(q.send_chunk(c.clone())).await.expect("open");
            gate.wait_stalled().await;
            within(q.send_control(Bytes::from_static(b"CONTROL\r\n")))
                .await
                .expect("open");
            if listen_then_close {
                q.close();
            }
            gate.open(usize::MAX / 2);
            q.close();
            within(task).await.expect("join").expect("ok");
            let mut expect = BytesMut::new();
            c.write(&mut expect);
            expect.extend_from_slice(b"CONTROL\r\n");
            assert!(
                out.lock().expect("lock")[..] == expect[..],
                "bytes differ (listen_then_close: {listen_then_close})"
            );
            if let Some(events) = events.as_mut() {
                assert_eq!(events.recv().await, Some(ChunkEvent::Done { key }));
                assert_eq!(events.recv().await, None);
            }
        }
    }

    /// A frame queued piece by piece is never split: control items wait for its end-line, and
    /// then go before the next data frame (RFC 4975 §7.1).
    #[tokio::test]
    async fn control_items_wait_for_a_frame_queued_in_pieces() {
        let (w, gate, out) = gated();
        let (q, task) = spawn_writer(w, WriterConfig::default());
        let head = template();
        let h = Outgoing::head(&head, true);
        assert_eq!(h.frame_open(), Some(true));
        gate.open(h.len());
        let mut expect: Vec<u8> = h.segments().flat_map(|b| b.to_vec()).collect();
        within(q.send(h)).await.expect("open");
        gate.wait_stalled().await;
        within(q.send_control(Bytes::from_static(b"CONTROL\r\n")))
            .await
            .expect("open");
        let piece = pattern(5000, 3);
        let piece_item = Outgoing::from(piece.clone());
        assert_eq!(piece_item.frame_open(), None);
        within(q.send(piece_item)).await.expect("open");
        let end = Outgoing::end(&head.tid, Flag::Last, true);
        assert_eq!(end.frame_open(), Some(false));
        let next = Outgoing::chunk(&head, Some(pattern(10, 4)), Flag::Last);
        assert_eq!(next.frame_open(), Some(false));
        expect.extend_from_slice(&piece);
        expect.extend(end.segments().flat_map(|b| b.to_vec()));
        expect.extend_from_slice(b"CONTROL\r\n");
        expect.extend(next.segments().flat_map(|b| b.to_vec()));
        within(q.send(end)).await.expect("open");
        within(q.send(next)).await.expect("open");
        gate.open(usize::MAX / 2);
        q.close();
        within(task).await.expect("join").expect("ok");
        assert!(*out.lock().expect("lock") == expect, "bytes differ");
    }

    /// Chunks of at most 2048 octets, and chunks that fit in one slice, are committed whole:
    /// `Done` for the latter, no event for the former.
    #[tokio::test]
    async fn short_chunks_are_never_cut() {
        let (w, gate, out) = gated();
        let (q, task) = spawn_writer(w, WriterConfig::default());
        let mut events = q.take_chunk_events().expect("first take");
        let mut s = ChunkSender::new(SenderConfig { chunk_size: 4096 });
        let mut ids = IdGenerator::new();
        let mut expect = BytesMut::new();
        for (len, seed) in [(2048usize, 5u8), (4096, 6)] {
            let key = s.send(template(), pattern(len, seed)).into_key();
            let c = s.poll_chunk(&mut ids, |_| false).expect("a chunk");
            assert_eq!(c.is_interruptible(), len > 2048);
            gate.open(encoded_head(&c).len() + 100);
            within(q.send_chunk(c.clone())).await.expect("open");
            gate.wait_stalled().await;
            within(q.send_control(Bytes::from_static(b"CONTROL\r\n")))
                .await
                .expect("open");
            c.write(&mut expect);
            expect.extend_from_slice(b"CONTROL\r\n");
            if c.is_interruptible() {
                assert_eq!(events.try_recv(), Ok(ChunkEvent::Done { key }));
            }
            assert!(events.try_recv().is_err(), "no other event");
            gate.open(usize::MAX / 2);
            // Let the writer finish before the next round.
            for _ in 0..10_000 {
                if q.queued_bytes() + q.control_queued_bytes() == 0 {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        q.close();
        within(task).await.expect("join").expect("ok");
        assert!(out.lock().expect("lock")[..] == expect[..], "bytes differ");
    }
}
