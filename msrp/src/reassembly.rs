//! Message reassembly on the receiving side (RFC 4975 §7.3.1): chunks in any order, overlaps,
//! `*` totals, aborts, size limits and a chunk-reception timeout.
//!
//! Sans-IO and streaming: the caller feeds the events of a [`crate::Decoder`] for each SEND
//! chunk — [`Reassembler::begin`] on `Event::Head`, [`Reassembler::body`] on every
//! `Event::Body`, [`Reassembler::end`] on `Event::End` — and gets the complete message back from
//! `end`.
//!
//! # Memory
//!
//! Nothing is allocated on the word of a Byte-Range (4975-018): the memory held for a partial
//! message is proportional to the octets that actually arrived, wherever the Byte-Range says they
//! go. Received pieces are kept as `(offset, octets)` in arrival order:
//!
//! - a piece of [`COPY_BELOW`] octets or more is kept as the `Bytes` the decoder handed out (a
//!   zero-copy slice of the read buffer, which it pins: at most 64 KiB for a piece of at least
//!   4 KiB, so at most 16 times what it carries);
//! - a smaller piece is copied into owned storage, so that a 1-octet piece does not pin a whole
//!   read buffer; small pieces that continue the previous one are appended to it, in a buffer
//!   whose capacity is at most the octets it holds plus a quarter (and 64 octets), and never
//!   more than 64 KiB;
//! - overlapping pieces are all kept until the message completes, where they are applied in
//!   arrival order so the octets received last win (4975-037); when overlaps make the pieces
//!   hold more than twice what the received octets need, they are compacted into one owned
//!   buffer per received range.
//!
//! The one exception to copying small pieces is the zero-copy fast path: the first piece of a
//! message is kept as received while its chunk is arriving, and a message that arrives as one
//! chunk in one piece is returned as that very `Bytes`, without any copy. A chunk that ends
//! without completing its message has its small pieces copied.
//!
//! The message is assembled into one buffer of exactly `total` octets only once every octet
//! has arrived. [`Reassembler::buffered_bytes`] counts the memory held over all partial
//! messages (storage capacity, `Bytes` lengths and the bookkeeping vectors); past
//! [`ReassemblyConfig::max_buffered`] the chunk that would exceed it is answered 413.
//!
//! Message-IDs, which the reassembler keeps as map keys and remembers after completion
//! (4975-041), are owned copies: they never pin the buffer of the header block they came from.
//!
//! One reassembler serves one session: Message-IDs are unique within a session (4975-039).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::ident::Ident;
use bytes::Bytes;

use crate::byte_range::ByteRange;
use crate::head::{Flag, Head};
use crate::status::StatusCode;

/// Most disjoint received ranges one partial message may have before it is refused (413): bounds
/// the bookkeeping an attacker can cause with many tiny out-of-order chunks.
pub const MAX_RANGES: usize = 4096;

/// Body pieces shorter than this are copied into owned storage instead of being kept as the
/// `Bytes` slice the decoder handed out, which would pin the whole read buffer (up to 64 KiB)
/// for a few octets.
pub const COPY_BELOW: usize = 4096;

/// Largest owned buffer that small contiguous pieces are appended to; past it a new one is
/// started, so appending never reallocates more than this.
const SEGMENT_MAX: usize = 64 * 1024;

/// Memory that overlapping pieces may hold beyond twice what their compacted form needs before
/// they are compacted.
const COMPACT_SLACK: usize = 16 * 1024;

/// Bookkeeping size of one kept piece.
const PIECE_SIZE: usize = std::mem::size_of::<(u64, Piece)>();

/// Bookkeeping size of one received range.
const RANGE_SIZE: usize = std::mem::size_of::<(u64, u64)>();

/// Reassembly limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// Largest message accepted, in octets (default 16 MiB); larger ones get 413 (RFC 4975
    /// §7.3.1, 4975-018).
    pub max_message: u64,
    /// A partial message with no activity for this long is dropped (default 30 s).
    pub chunk_timeout: Duration,
    /// Most partial messages held at once (default 64); a chunk starting one more gets 413.
    pub max_messages: usize,
    /// How many Message-IDs of completed messages are remembered to flag duplicates (default
    /// 256, 4975-041).
    pub recent_ids: usize,
    /// Most memory held for partial messages at once, in bytes, as counted by
    /// [`Reassembler::buffered_bytes`] (default 64 MiB). A body piece that takes the count past
    /// it gets 413 and its partial message is dropped (RFC 4975 §7.3.1, 4975-018).
    pub max_buffered: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_message: 16 * 1024 * 1024,
            chunk_timeout: Duration::from_secs(30),
            max_messages: 64,
            recent_ids: 256,
            max_buffered: 64 * 1024 * 1024,
        }
    }
}

/// Why a chunk cannot be taken. The partial message, if any, is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// A SEND without Message-ID (4975-039): 400.
    #[error("SEND without Message-ID")]
    MissingMessageId,
    /// The Byte-Range contradicts itself or the chunks already received (octets past the end
    /// fixed by the `$` chunk, two different ends): 400.
    #[error("Byte-Range inconsistent with the message")]
    BadRange,
    /// The message is (or declares itself) larger than the limit (RFC 4975 §7.3.1): 413.
    #[error("message larger than {limit} octets")]
    TooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// Too many partial messages at once: 413.
    #[error("more than {limit} messages being reassembled")]
    TooManyMessages {
        /// The configured limit.
        limit: usize,
    },
    /// The message arrived in more than [`MAX_RANGES`] disjoint pieces: 413.
    #[error("message received in too many disjoint pieces")]
    TooFragmented,
    /// The memory held for partial messages would exceed
    /// [`ReassemblyConfig::max_buffered`]: 413.
    #[error("more than {limit} bytes held for partial messages")]
    BufferFull {
        /// The configured limit.
        limit: usize,
    },
    /// The message was dropped (timed out, or removed) while this chunk was arriving: 413, so
    /// that the sender stops sending it (4975-068).
    #[error("the message was dropped while this chunk was arriving")]
    Gone,
}

impl ReassemblyError {
    /// The response status (RFC 4975 §10): 400 for malformed chunks, 413 for everything that
    /// asks the sender to stop sending the message.
    pub fn status(&self) -> StatusCode {
        match self {
            ReassemblyError::MissingMessageId | ReassemblyError::BadRange => {
                StatusCode::BAD_REQUEST
            }
            ReassemblyError::TooLarge { .. }
            | ReassemblyError::TooManyMessages { .. }
            | ReassemblyError::TooFragmented
            | ReassemblyError::BufferFull { .. }
            | ReassemblyError::Gone => StatusCode::TOO_LARGE,
        }
    }
}

/// A complete message (4975-035).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The head of the first chunk (range-start 1) if it was seen, else of the first chunk that
    /// arrived.
    pub head: Head,
    /// The whole body.
    pub body: Bytes,
    /// The Message-ID.
    pub message_id: Ident,
    /// A message with this Message-ID was completed recently: a resend after a connection
    /// failure (RFC 4975 §5.4, 4975-041), not to be shown to the user as new.
    pub duplicate: bool,
}

/// What [`Reassembler::end`] concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// More chunks are needed.
    Incomplete,
    /// Every octet 1..=total arrived and the `$` chunk fixed the total (4975-035).
    Complete(Message),
    /// The chunk ended with `#`: the sender aborted the message, which is dropped.
    Aborted {
        /// The Message-ID.
        message_id: Ident,
        /// Octets of the message received before the abort.
        received: u64,
    },
    /// The chunk belonged to a message already dropped by an earlier error on this chunk
    /// (already answered); nothing to do.
    Discarded,
}

/// A partial message dropped by the chunk-reception timeout (RFC 4975 §7.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The Message-ID.
    pub message_id: Ident,
    /// The head of its first chunk if seen, else of the first chunk that arrived (for a
    /// failure REPORT: To-Path, From-Path, Failure-Report).
    pub head: Head,
    /// The octets received, for the failure REPORT's Byte-Range (4975-053).
    pub received: Vec<ByteRange>,
}

/// The receive state of one chunk, from its head to its end-line.
#[derive(Debug)]
pub struct ChunkCursor {
    message_id: Ident,
    /// range-start of the chunk (1-based).
    start: u64,
    /// Offset (0-based) of the next octet of the chunk.
    pos: u64,
    /// The total the chunk declares.
    total: Option<u64>,
    /// `false` once the message was dropped by an error on this chunk.
    live: bool,
}

impl ChunkCursor {
    /// The Message-ID of the chunk.
    pub fn message_id(&self) -> &Ident {
        &self.message_id
    }

    /// Octets of this chunk received so far: its length is what actually arrived, whatever
    /// range-end says (4975-036).
    pub fn len(&self) -> u64 {
        self.pos - (self.start - 1)
    }

    /// `true` when no octet of this chunk has arrived.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The Byte-Range of the octets of this chunk received so far, range-end computed from the
    /// body actually received, for a REPORT about this chunk (4975-047, 4975-053).
    pub fn received(&self) -> ByteRange {
        ByteRange {
            start: self.start,
            end: Some(self.pos),
            total: self.total,
        }
    }
}

/// Received octet ranges, 0-based half-open, sorted, disjoint and not adjacent, with the number
/// of octets they cover.
#[derive(Debug, Default)]
struct Ranges {
    runs: Vec<(u64, u64)>,
    octets: u64,
}

impl Ranges {
    fn insert(&mut self, s: u64, e: u64) {
        if s >= e {
            return;
        }
        let i = self.runs.partition_point(|&(_, b)| b < s);
        let mut j = i;
        let (mut ns, mut ne) = (s, e);
        let mut merged = 0;
        while j < self.runs.len() && self.runs[j].0 <= e {
            ns = ns.min(self.runs[j].0);
            ne = ne.max(self.runs[j].1);
            merged += self.runs[j].1 - self.runs[j].0;
            j += 1;
        }
        self.octets += (ne - ns) - merged;
        self.runs.splice(i..j, [(ns, ne)]);
    }

    fn covers(&self, total: u64) -> bool {
        total == 0 || self.runs.first() == Some(&(0, total))
    }

    fn max_end(&self) -> u64 {
        self.runs.last().map_or(0, |&(_, e)| e)
    }

    fn byte_ranges(&self, total: Option<u64>) -> Vec<ByteRange> {
        self.runs
            .iter()
            .map(|&(s, e)| ByteRange {
                start: s + 1,
                end: Some(e),
                total,
            })
            .collect()
    }
}

/// Octets of one received piece.
#[derive(Debug)]
enum Piece {
    /// As the decoder handed it out (a slice of its read buffer): pieces of [`COPY_BELOW`]
    /// octets or more, and the first piece of a message while its chunk is arriving.
    Shared(Bytes),
    /// Copied small pieces; contiguous ones appended.
    Owned(Vec<u8>),
}

impl Piece {
    fn octets(&self) -> &[u8] {
        match self {
            Piece::Shared(b) => b,
            Piece::Owned(v) => v,
        }
    }

    /// Memory held: what the `Bytes` covers, or the capacity of the owned buffer.
    fn held(&self) -> usize {
        match self {
            Piece::Shared(b) => b.len(),
            Piece::Owned(v) => v.capacity(),
        }
    }
}

/// The octets received for one message: pieces in arrival order.
#[derive(Debug, Default)]
struct Store {
    pieces: Vec<(u64, Piece)>,
    /// Sum of [`Piece::held`].
    data: usize,
}

impl Store {
    /// Keeps `piece`, received at offset `at`.
    fn push(&mut self, at: u64, piece: Bytes) {
        self.settle_last();
        if piece.len() >= COPY_BELOW || self.pieces.is_empty() {
            self.data += piece.len();
            reserve_one(&mut self.pieces);
            self.pieces.push((at, Piece::Shared(piece)));
            return;
        }
        if let Some((o, Piece::Owned(v))) = self.pieces.last_mut() {
            if o.checked_add(v.len() as u64) == Some(at) && v.len() + piece.len() <= SEGMENT_MAX {
                let before = v.capacity();
                let needed = v.len() + piece.len();
                if needed > before {
                    let want = (needed + needed / 4)
                        .next_multiple_of(64)
                        .min(SEGMENT_MAX)
                        .max(needed);
                    v.reserve_exact(want - v.len());
                }
                v.extend_from_slice(&piece);
                self.data = self.data - before + v.capacity();
                return;
            }
        }
        let v = piece.to_vec();
        self.data += v.capacity();
        reserve_one(&mut self.pieces);
        self.pieces.push((at, Piece::Owned(v)));
    }

    /// Copies the last piece into owned storage when it is a small `Bytes` (the first piece of
    /// a message, kept as received for the zero-copy fast path), so that it stops pinning its
    /// read buffer.
    fn settle_last(&mut self) {
        if let Some((_, p)) = self.pieces.last_mut() {
            if let Piece::Shared(b) = p {
                if b.len() < COPY_BELOW {
                    let v = b.to_vec();
                    self.data = self.data - b.len() + v.capacity();
                    *p = Piece::Owned(v);
                }
            }
        }
    }

    /// Memory the pieces would hold once compacted into one buffer per received range.
    fn compacted(have: &Ranges) -> usize {
        usize::try_from(have.octets)
            .unwrap_or(usize::MAX)
            .saturating_add(have.runs.len().saturating_mul(PIECE_SIZE))
    }

    /// Memory held by the pieces (without the vector's spare capacity).
    fn in_use(&self) -> usize {
        self.data + self.pieces.len() * PIECE_SIZE
    }

    /// Replaces the pieces with one owned buffer per received range, applying them in arrival
    /// order so the octets received last win (4975-037).
    fn compact(&mut self, have: &Ranges) {
        let mut runs: Vec<(u64, Vec<u8>)> = have
            .runs
            .iter()
            .map(|&(s, e)| (s, vec![0; usize::try_from(e - s).unwrap_or(0)]))
            .collect();
        for (at, p) in &self.pieces {
            let i = runs.partition_point(|(s, _)| *s <= *at);
            let Some((s, v)) = i.checked_sub(1).and_then(|i| runs.get_mut(i)) else {
                continue;
            };
            copy_at(v, at - *s, p.octets());
        }
        self.pieces = runs
            .into_iter()
            .map(|(s, v)| (s, Piece::Owned(v)))
            .collect();
        self.data = self.pieces.iter().map(|(_, p)| p.held()).sum();
    }

    /// The whole body, `total` octets, once the pieces cover `0..total`.
    fn assemble(mut self, total: u64) -> Bytes {
        let Ok(total) = usize::try_from(total) else {
            return Bytes::new();
        };
        if total == 0 {
            return Bytes::new();
        }
        if let [(0, p)] = &self.pieces[..] {
            if p.octets().len() == total {
                return match self.pieces.pop() {
                    Some((_, Piece::Shared(b))) => b,
                    Some((_, Piece::Owned(v))) => Bytes::from(v),
                    None => Bytes::new(),
                };
            }
        }
        let mut next = 0u64;
        let in_order = self.pieces.iter().all(|(at, p)| {
            let ok = *at == next;
            next += p.octets().len() as u64;
            ok
        });
        if in_order && next == total as u64 {
            let mut v = Vec::with_capacity(total);
            for (_, p) in &self.pieces {
                v.extend_from_slice(p.octets());
            }
            return Bytes::from(v);
        }
        let mut v = vec![0; total];
        for (at, p) in &self.pieces {
            copy_at(&mut v, *at, p.octets());
        }
        Bytes::from(v)
    }
}

/// Lets `v` grow by one element, allocating room for one when it is empty (the default first
/// allocation holds four).
fn reserve_one<T>(v: &mut Vec<T>) {
    if v.capacity() == 0 {
        v.reserve_exact(1);
    }
}

/// Copies `s` to offset `at` of `v`, dropping what does not fit (nothing, when the ranges were
/// checked).
fn copy_at(v: &mut [u8], at: u64, s: &[u8]) {
    let Ok(at) = usize::try_from(at) else { return };
    let n = s.len().min(v.len().saturating_sub(at));
    if let Some(dst) = v.get_mut(at..at + n) {
        dst.copy_from_slice(&s[..n]);
    }
}

#[derive(Debug)]
struct Partial {
    /// The Message-ID.
    id: Ident,
    head: Head,
    head_is_first: bool,
    store: Store,
    have: Ranges,
    /// The total fixed by the `$` chunk (4975-035).
    end: Option<u64>,
    activity: Instant,
    /// Body octets arrived since `activity` was last set.
    touched: bool,
    /// A message with this Message-ID was completed before this partial one started: it is a
    /// late or repeated chunk (4975-041).
    late: bool,
}

impl Partial {
    fn received(&self) -> Vec<ByteRange> {
        self.have.byte_ranges(self.end)
    }

    /// Memory held for this message, as counted by [`Reassembler::buffered_bytes`].
    fn held(&self) -> usize {
        self.store.data
            + self.store.pieces.capacity() * PIECE_SIZE
            + self.have.runs.capacity() * RANGE_SIZE
    }
}

/// Reassembles the SEND chunks of one session into messages (RFC 4975 §7.3.1).
///
/// Chunks may arrive in any order, `+` chunks after the `$` chunk (4975-032); when chunks
/// overlap the octets received last win (4975-037); a chunk's length is what actually arrived,
/// not its range-end (4975-036); any chunk size from 0 octets up to the message limit is taken
/// (4975-031). Memory held is proportional to the octets received (4975-018; see the module
/// documentation).
#[derive(Debug)]
pub struct Reassembler {
    cfg: ReassemblyConfig,
    partials: HashMap<Ident, Partial>,
    recent: VecDeque<Ident>,
    recent_set: HashSet<Ident>,
    /// Sum of [`Partial::held`] over `partials`.
    held: usize,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(ReassemblyConfig::default())
    }
}

impl Reassembler {
    /// A reassembler with the given limits.
    pub fn new(cfg: ReassemblyConfig) -> Reassembler {
        Reassembler {
            cfg,
            partials: HashMap::new(),
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            held: 0,
        }
    }

    /// The limits.
    pub fn config(&self) -> &ReassemblyConfig {
        &self.cfg
    }

    /// Number of partial messages held.
    pub fn len(&self) -> usize {
        self.partials.len()
    }

    /// `true` when no partial message is held.
    pub fn is_empty(&self) -> bool {
        self.partials.is_empty()
    }

    /// Memory held for the bodies of all partial messages, in bytes: the capacity of owned
    /// buffers, the length of `Bytes` pieces kept as received, and the bookkeeping vectors
    /// (pieces, received ranges). Bounded by [`ReassemblyConfig::max_buffered`] and
    /// proportional to the octets received (4975-018). Heads and Message-IDs are not counted
    /// ([`ReassemblyConfig::max_messages`] bounds them).
    pub fn buffered_bytes(&self) -> usize {
        self.held
    }

    /// Removes a partial message, keeping the memory count right.
    fn take(&mut self, id: &str) -> Option<Partial> {
        let p = self.partials.remove(id)?;
        self.held -= p.held();
        Some(p)
    }

    /// Starts a chunk: `head` is the SEND's header block (`Event::Head`).
    ///
    /// The chunk belongs to the message named by its Message-ID (missing: 400). Its Byte-Range
    /// is sanity-checked before anything is allocated (4975-018): a range-start, range-end or
    /// total beyond `max_message` is refused with 413. A SEND without Byte-Range is a whole
    /// message in one chunk (4975-022).
    pub fn begin(&mut self, head: &Head, now: Instant) -> Result<ChunkCursor, ReassemblyError> {
        let id = head.message_id().ok_or(ReassemblyError::MissingMessageId)?;
        let range = head.byte_range().unwrap_or(ByteRange {
            start: 1,
            end: None,
            total: None,
        });
        if range.start == 0
            || range.end.is_some_and(|e| e < range.start - 1)
            || range
                .total
                .is_some_and(|t| range.start - 1 > t || range.end.is_some_and(|e| e > t))
        {
            return Err(ReassemblyError::BadRange);
        }
        let max = self.cfg.max_message;
        if range.start - 1 > max
            || range.end.is_some_and(|e| e > max)
            || range.total.is_some_and(|t| t > max)
        {
            self.take(id);
            return Err(ReassemblyError::TooLarge { limit: max });
        }
        let message_id = match self.partials.get_mut(&**id) {
            Some(p) => {
                if range.start == 1 && !p.head_is_first {
                    p.head = head.clone();
                    p.head_is_first = true;
                }
                p.activity = now;
                p.touched = false;
                p.id
            }
            None => {
                if self.partials.len() >= self.cfg.max_messages {
                    return Err(ReassemblyError::TooManyMessages {
                        limit: self.cfg.max_messages,
                    });
                }
                let late = self.recent_set.contains(&**id);
                // An `Ident` is held by value: the map key, the cursors and the remembered id
                // never pin the buffer the head was parsed from.
                let owned = *id;
                self.partials.insert(
                    owned,
                    Partial {
                        id: owned,
                        head: head.clone(),
                        head_is_first: range.start == 1,
                        store: Store::default(),
                        have: Ranges::default(),
                        end: None,
                        activity: now,
                        touched: false,
                        late,
                    },
                );
                owned
            }
        };
        Ok(ChunkCursor {
            message_id,
            start: range.start,
            pos: range.start - 1,
            total: range.total,
            live: true,
        })
    }

    /// A piece of the chunk's body (`Event::Body`), written at the cursor's position; octets
    /// received last win over earlier ones (4975-037). An octet beyond `max_message` gets 413
    /// and the partial message is dropped; so does an octet past the end fixed by the `$` chunk
    /// (400), and a piece that takes [`Reassembler::buffered_bytes`] past `max_buffered` (413).
    /// After an error the cursor is spent: its further pieces are ignored.
    ///
    /// A piece shorter than [`COPY_BELOW`] is copied (unless it may be the whole message: see
    /// the module documentation); a longer one is kept as it is.
    pub fn body(&mut self, cursor: &mut ChunkCursor, piece: Bytes) -> Result<(), ReassemblyError> {
        if !cursor.live || piece.is_empty() {
            return Ok(());
        }
        let Some(p) = self.partials.get_mut(&cursor.message_id) else {
            cursor.live = false;
            return Err(ReassemblyError::Gone);
        };
        let at = cursor.pos;
        let end = at.saturating_add(piece.len() as u64);
        let before = p.held();
        let err = if end > self.cfg.max_message {
            Some(ReassemblyError::TooLarge {
                limit: self.cfg.max_message,
            })
        } else if p.end.is_some_and(|e| end > e) {
            Some(ReassemblyError::BadRange)
        } else {
            p.have.insert(at, end);
            if p.have.runs.len() > MAX_RANGES {
                Some(ReassemblyError::TooFragmented)
            } else {
                p.store.push(at, piece);
                if p.store.in_use() > Store::compacted(&p.have).saturating_mul(2) + COMPACT_SLACK {
                    p.store.compact(&p.have);
                }
                None
            }
        };
        self.held = self.held - before + p.held();
        let err = err.or_else(|| {
            (self.held > self.cfg.max_buffered).then_some(ReassemblyError::BufferFull {
                limit: self.cfg.max_buffered,
            })
        });
        if let Some(e) = err {
            self.take(&cursor.message_id);
            cursor.live = false;
            return Err(e);
        }
        p.touched = true;
        cursor.pos = end;
        Ok(())
    }

    /// Ends the chunk (`Event::End`).
    ///
    /// `#` drops the message ([`Outcome::Aborted`]). `$` fixes the total: the position of the
    /// chunk's last octet actually received (4975-035, 4975-036). The message is complete when
    /// the `$` chunk has arrived and every octet 1..=total is present, in whatever order the
    /// chunks came (4975-032); it is then assembled into one buffer of `total` octets (or
    /// returned as received, when it came as one piece).
    pub fn end(
        &mut self,
        cursor: ChunkCursor,
        flag: Flag,
        now: Instant,
    ) -> Result<Outcome, ReassemblyError> {
        if !cursor.live {
            return Ok(Outcome::Discarded);
        }
        let id = cursor.message_id;
        let Some(p) = self.partials.get_mut(&id) else {
            return Err(ReassemblyError::Gone);
        };
        p.activity = now;
        p.touched = false;
        match flag {
            Flag::Abort => {
                let received = p.have.octets;
                self.take(&id);
                return Ok(Outcome::Aborted {
                    message_id: id,
                    received,
                });
            }
            Flag::More => {}
            Flag::Last => {
                let fin = cursor.pos;
                if p.end.is_some_and(|e| e != fin) || p.have.max_end() > fin {
                    self.take(&id);
                    return Err(ReassemblyError::BadRange);
                }
                p.end = Some(fin);
            }
        }
        let complete = p.end.filter(|&total| p.have.covers(total));
        let Some(total) = complete else {
            if p.late && p.have.octets == 0 {
                // An empty `+` chunk of a message already delivered (an interruption that sent
                // nothing, arriving late): nothing to keep.
                self.take(&id);
            } else {
                // The message waits for more chunks: a small piece kept as received for the
                // fast path would pin its read buffer until then.
                let before = p.held();
                p.store.settle_last();
                self.held = self.held - before + p.held();
            }
            return Ok(Outcome::Incomplete);
        };
        let Some(p) = self.take(&id) else {
            return Ok(Outcome::Incomplete);
        };
        let body = p.store.assemble(total);
        let duplicate = !self.remember(&id);
        Ok(Outcome::Complete(Message {
            head: p.head,
            body,
            message_id: id,
            duplicate,
        }))
    }

    /// Records a completed Message-ID; `false` when it was already known
    /// (4975-041).
    fn remember(&mut self, id: &Ident) -> bool {
        if self.recent_set.contains(id) {
            return false;
        }
        if self.cfg.recent_ids == 0 {
            return true;
        }
        if self.recent.len() >= self.cfg.recent_ids {
            if let Some(old) = self.recent.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        self.recent.push_back(*id);
        self.recent_set.insert(*id);
        true
    }

    /// The octets received so far of a partial message, as Byte-Ranges (total set once the `$`
    /// chunk fixed it), for success or failure REPORTs covering what actually arrived
    /// (4975-047, 4975-053). `None` when no such partial message is held.
    pub fn received(&self, message_id: &str) -> Option<Vec<ByteRange>> {
        self.partials.get(message_id).map(Partial::received)
    }

    /// Drops a partial message (for instance after answering its first chunk with a failure).
    /// Returns `false` when it was not held.
    pub fn remove(&mut self, message_id: &str) -> bool {
        self.take(message_id).is_some()
    }

    /// Drops and returns one partial message whose last activity (a chunk starting or ending,
    /// or body octets arriving) is `chunk_timeout` or more before `now`. Call until `None`.
    ///
    /// Body octets arriving between two calls count as activity at the time of the later call,
    /// so a slow but moving chunk is not cut off. A partial message whose Message-ID was already
    /// delivered (late chunks of it) is dropped silently: no failure is due for it.
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Expired> {
        let timeout = self.cfg.chunk_timeout;
        let mut victim = None;
        let mut late = Vec::new();
        for (id, p) in &mut self.partials {
            if p.touched {
                p.touched = false;
                p.activity = p.activity.max(now);
            }
            if now.saturating_duration_since(p.activity) >= timeout {
                if p.late {
                    late.push(*id);
                } else if victim.is_none() {
                    victim = Some(*id);
                }
            }
        }
        for id in late {
            self.take(&id);
        }
        let id = victim?;
        let p = self.take(&id)?;
        Some(Expired {
            received: p.received(),
            message_id: id,
            head: p.head,
        })
    }

    /// When [`Reassembler::poll_timeout`] should be called next (`None`: no partial message).
    pub fn next_timeout(&self) -> Option<Instant> {
        self.partials
            .values()
            .map(|p| p.activity + self.cfg.chunk_timeout)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Method;
    use crate::header::Header;
    use crate::uri::MsrpUri;

    fn uri(s: &str) -> MsrpUri {
        s.parse().expect("uri")
    }

    fn head(mid: &str, range: Option<&str>) -> Head {
        let mut h = Head::request(
            Method::Send,
            "tid00001".parse().unwrap(),
            crate::path![uri("msrp://b.example.com:7777/bbb;tcp")],
            crate::path![uri("msrp://a.example.com:7777/aaa;tcp")],
        )
        .with(Header::MessageId(mid.parse().unwrap()))
        .with(Header::ContentType(bytestring::ByteString::from_static(
            "text/plain",
        )));
        if let Some(r) = range {
            h.set_byte_range(ByteRange::parse(r).expect("range"));
        }
        h
    }

    fn cfg() -> ReassemblyConfig {
        ReassemblyConfig {
            max_message: 1000,
            chunk_timeout: Duration::from_secs(10),
            max_messages: 4,
            recent_ids: 8,
            max_buffered: 1 << 20,
        }
    }

    /// Feeds one chunk (head, body pieces, end-line).
    fn chunk(
        r: &mut Reassembler,
        mid: &str,
        range: Option<&str>,
        pieces: &[&[u8]],
        flag: Flag,
        now: Instant,
    ) -> Result<Outcome, ReassemblyError> {
        let h = head(mid, range);
        let mut c = r.begin(&h, now)?;
        for p in pieces {
            r.body(&mut c, Bytes::copy_from_slice(p))?;
        }
        r.end(c, flag, now)
    }

    fn complete(o: Result<Outcome, ReassemblyError>) -> Message {
        match o {
            Ok(Outcome::Complete(m)) => m,
            o => panic!("not complete: {o:?}"),
        }
    }

    #[test]
    fn in_order_chunks() {
        // 4975-035
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        let o = chunk(
            &mut r,
            "msg1",
            Some("1-5/11"),
            &[b"hel", b"lo"],
            Flag::More,
            t,
        );
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert_eq!(r.len(), 1);
        let m = complete(chunk(
            &mut r,
            "msg1",
            Some("6-11/11"),
            &[b" world"],
            Flag::Last,
            t,
        ));
        assert_eq!(&m.body[..], b"hello world");
        assert_eq!(&*m.message_id, "msg1");
        assert_eq!(
            m.head.byte_range(),
            Some(ByteRange {
                start: 1,
                end: Some(5),
                total: Some(11)
            })
        );
        assert!(!m.duplicate);
        assert!(r.is_empty());
    }

    #[test]
    fn no_byte_range_is_a_whole_message() {
        // 4975-022, 4975-035
        let mut r = Reassembler::new(cfg());
        let m = complete(chunk(
            &mut r,
            "msg1",
            None,
            &[b"ab", b"cd"],
            Flag::Last,
            Instant::now(),
        ));
        assert_eq!(&m.body[..], b"abcd");
    }

    #[test]
    fn out_of_order_and_last_before_more() {
        // 4975-032: `$` first, then the `+` chunks in reverse order.
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        let o = chunk(&mut r, "msg1", Some("7-9/*"), &[b"ghi"], Flag::Last, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert_eq!(
            r.received("msg1"),
            Some(vec![ByteRange {
                start: 7,
                end: Some(9),
                total: Some(9)
            }])
        );
        let o = chunk(&mut r, "msg1", Some("4-6/*"), &[b"def"], Flag::More, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        let m = complete(chunk(
            &mut r,
            "msg1",
            Some("1-3/*"),
            &[b"abc"],
            Flag::More,
            t,
        ));
        assert_eq!(&m.body[..], b"abcdefghi");
        // The head of the first chunk is the message's.
        assert_eq!(m.head.byte_range().map(|b| b.start), Some(1));
    }

    #[test]
    fn overlapping_chunks_last_wins() {
        // 4975-037
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        chunk(&mut r, "msg1", Some("1-6/10"), &[b"aaaaaa"], Flag::More, t).expect("ok");
        chunk(&mut r, "msg1", Some("4-8/10"), &[b"bbbbb"], Flag::More, t).expect("ok");
        chunk(&mut r, "msg1", Some("2-3/10"), &[b"cc"], Flag::More, t).expect("ok");
        let m = complete(chunk(
            &mut r,
            "msg1",
            Some("8-10/10"),
            &[b"ddd"],
            Flag::Last,
            t,
        ));
        assert_eq!(&m.body[..], b"accbbbbddd");
    }

    #[test]
    fn star_totals_and_length_from_actual_octets() {
        // 4975-024, 4975-025, 4975-036: range-end `*` or wrong; the octets that arrive count.
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        chunk(&mut r, "msg1", Some("1-*/*"), &[b"0123"], Flag::More, t).expect("ok");
        // Declares 5-20 but only 3 octets arrive before `$`: the total is 7.
        let m = complete(chunk(
            &mut r,
            "msg1",
            Some("5-20/*"),
            &[b"456"],
            Flag::Last,
            t,
        ));
        assert_eq!(&m.body[..], b"0123456");
    }

    #[test]
    fn interrupted_chunk_then_resumed() {
        // 4975-029, 4975-036: a `+` chunk cut short, resumed from the first octet not sent.
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        chunk(&mut r, "msg1", Some("1-*/10"), &[b"abcd"], Flag::More, t).expect("ok");
        let m = complete(chunk(
            &mut r,
            "msg1",
            Some("5-10/10"),
            &[b"efghij"],
            Flag::Last,
            t,
        ));
        assert_eq!(&m.body[..], b"abcdefghij");
    }

    #[test]
    fn empty_message() {
        // 4975-026, 4975-031
        let mut r = Reassembler::new(cfg());
        let m = complete(chunk(
            &mut r,
            "msg1",
            Some("1-0/0"),
            &[],
            Flag::Last,
            Instant::now(),
        ));
        assert!(m.body.is_empty());
        // An empty `$` chunk after `+` chunks that carried everything.
        let t = Instant::now();
        chunk(&mut r, "msg2", Some("1-3/*"), &[b"abc"], Flag::More, t).expect("ok");
        let m = complete(chunk(&mut r, "msg2", Some("4-3/3"), &[], Flag::Last, t));
        assert_eq!(&m.body[..], b"abc");
    }

    #[test]
    fn abort_drops_the_message() {
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        chunk(&mut r, "msg1", Some("1-4/10"), &[b"abcd"], Flag::More, t).expect("ok");
        let o = chunk(&mut r, "msg1", Some("5-4/10"), &[], Flag::Abort, t);
        assert_eq!(
            o,
            Ok(Outcome::Aborted {
                message_id: "msg1".parse().unwrap(),
                received: 4
            })
        );
        assert!(r.is_empty());
    }

    #[test]
    fn huge_declared_total_refused_before_allocation() {
        // 4975-018
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        for range in [
            "1-*/18446744073709551615",
            "1-1001/*",
            "1002-1001/*",
            "1002-*/*",
        ] {
            let e = r.begin(&head("msg1", Some(range)), t).expect_err(range);
            assert_eq!(e, ReassemblyError::TooLarge { limit: 1000 }, "{range}");
            assert_eq!(e.status(), StatusCode::TOO_LARGE);
            assert!(r.is_empty());
        }
        // Right at the limit is fine.
        let c = r.begin(&head("msg1", Some("1-1000/1000")), t).expect("ok");
        assert_eq!(
            c.received(),
            ByteRange {
                start: 1,
                end: Some(0),
                total: Some(1000)
            }
        );
    }

    #[test]
    fn octets_past_the_limit_are_413() {
        // 4975-018, 4975-036: range-end lies; the octets that arrive are counted.
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        let mut c = r.begin(&head("msg1", Some("1-10/*")), t).expect("ok");
        r.body(&mut c, Bytes::from(vec![b'x'; 600])).expect("ok");
        let e = r
            .body(&mut c, Bytes::from(vec![b'x'; 401]))
            .expect_err("past max");
        assert_eq!(e, ReassemblyError::TooLarge { limit: 1000 });
        assert_eq!(e.status(), StatusCode::TOO_LARGE);
        assert!(r.is_empty(), "partial message dropped");
        // The rest of the chunk is ignored.
        assert_eq!(r.body(&mut c, Bytes::from_static(b"more")), Ok(()));
        assert_eq!(r.end(c, Flag::More, t), Ok(Outcome::Discarded));
    }

    #[test]
    fn octets_past_the_fixed_end_are_400() {
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        chunk(&mut r, "msg1", Some("4-6/*"), &[b"def"], Flag::Last, t).expect("ok");
        let e = chunk(&mut r, "msg1", Some("1-7/*"), &[b"abcdefg"], Flag::More, t)
            .expect_err("past end");
        assert_eq!(e, ReassemblyError::BadRange);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(r.is_empty());
        // Two `$` chunks that disagree.
        chunk(&mut r, "msg2", Some("4-6/*"), &[b"def"], Flag::Last, t).expect("ok");
        let e =
            chunk(&mut r, "msg2", Some("4-5/*"), &[b"de"], Flag::Last, t).expect_err("two ends");
        assert_eq!(e, ReassemblyError::BadRange);
    }

    #[test]
    fn missing_message_id_is_400() {
        let mut h = head("msg1", Some("1-3/3"));
        h.headers.retain(|h| !matches!(h, Header::MessageId(_)));
        let mut r = Reassembler::new(cfg());
        let e = r.begin(&h, Instant::now()).expect_err("no Message-ID");
        assert_eq!(e, ReassemblyError::MissingMessageId);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn inconsistent_programmatic_range_is_400() {
        let mut h = head("msg1", None);
        h.set_byte_range(ByteRange {
            start: 0,
            end: None,
            total: None,
        });
        let mut r = Reassembler::new(cfg());
        assert_eq!(
            r.begin(&h, Instant::now()).err(),
            Some(ReassemblyError::BadRange)
        );
        h.set_byte_range(ByteRange {
            start: 5,
            end: Some(9),
            total: Some(7),
        });
        assert_eq!(
            r.begin(&h, Instant::now()).err(),
            Some(ReassemblyError::BadRange)
        );
    }

    #[test]
    fn timeout_drops_partial_messages() {
        let mut r = Reassembler::new(cfg());
        let t0 = Instant::now();
        assert_eq!(r.next_timeout(), None);
        chunk(&mut r, "msg1", Some("1-3/6"), &[b"abc"], Flag::More, t0).expect("ok");
        let t1 = t0 + Duration::from_secs(4);
        chunk(&mut r, "msg2", Some("1-3/6"), &[b"abc"], Flag::More, t1).expect("ok");
        assert_eq!(r.next_timeout(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(r.poll_timeout(t0 + Duration::from_secs(9)), None);
        let e = r
            .poll_timeout(t0 + Duration::from_secs(10))
            .expect("m1 expired");
        assert_eq!(&*e.message_id, "msg1");
        assert_eq!(
            e.received,
            vec![ByteRange {
                start: 1,
                end: Some(3),
                total: None
            }]
        );
        assert_eq!(e.head.message_id().map(|m| &**m), Some("msg1"));
        assert_eq!(r.poll_timeout(t0 + Duration::from_secs(10)), None);
        assert_eq!(r.next_timeout(), Some(t1 + Duration::from_secs(10)));
        assert_eq!(
            r.poll_timeout(t1 + Duration::from_secs(10))
                .map(|e| e.message_id),
            Some("msg2".parse().unwrap())
        );
        assert!(r.is_empty());
    }

    #[test]
    fn body_octets_keep_a_slow_chunk_alive() {
        let mut r = Reassembler::new(cfg());
        let t0 = Instant::now();
        let mut c = r.begin(&head("msg1", Some("1-*/*")), t0).expect("ok");
        r.body(&mut c, Bytes::from_static(b"a")).expect("ok");
        // Activity seen at the 8 s poll moves the deadline to 18 s.
        assert_eq!(r.poll_timeout(t0 + Duration::from_secs(8)), None);
        assert_eq!(r.poll_timeout(t0 + Duration::from_secs(17)), None);
        assert!(r.poll_timeout(t0 + Duration::from_secs(18)).is_some());
        // The chunk's message is gone: its next octets are refused.
        assert_eq!(
            r.body(&mut c, Bytes::from_static(b"b")),
            Err(ReassemblyError::Gone)
        );
        assert_eq!(r.end(c, Flag::More, t0), Ok(Outcome::Discarded));
    }

    #[test]
    fn zero_copy_single_chunk() {
        let mut r = Reassembler::new(cfg());
        let piece = Bytes::from(vec![7u8; 500]);
        let h = head("msg1", Some("1-500/500"));
        let t = Instant::now();
        let mut c = r.begin(&h, t).expect("ok");
        r.body(&mut c, piece.clone()).expect("ok");
        assert_eq!(c.len(), 500);
        let m = complete(r.end(c, Flag::Last, t));
        assert_eq!(m.body.as_ptr(), piece.as_ptr());
        assert_eq!(m.body, piece);
    }

    #[test]
    fn many_concurrent_messages() {
        let mut r = Reassembler::new(ReassemblyConfig {
            max_messages: 100,
            ..cfg()
        });
        let t = Instant::now();
        for i in 0..100 {
            let mid = format!("msg{i:04}");
            chunk(&mut r, &mid, Some("1-2/4"), &[&[i as u8, 1]], Flag::More, t).expect("ok");
        }
        assert_eq!(r.len(), 100);
        let e =
            chunk(&mut r, "one-more", Some("1-2/4"), &[b"xx"], Flag::More, t).expect_err("full");
        assert_eq!(e, ReassemblyError::TooManyMessages { limit: 100 });
        assert_eq!(e.status(), StatusCode::TOO_LARGE);
        for i in (0..100).rev() {
            let mid = format!("msg{i:04}");
            let m = complete(chunk(
                &mut r,
                &mid,
                Some("3-4/4"),
                &[&[2, 3]],
                Flag::Last,
                t,
            ));
            assert_eq!(&m.body[..], &[i as u8, 1, 2, 3]);
            assert_eq!(&*m.message_id, mid);
        }
        assert!(r.is_empty());
    }

    #[test]
    fn duplicates_are_flagged() {
        // 4975-041
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        assert!(!complete(chunk(&mut r, "msg1", None, &[b"x"], Flag::Last, t)).duplicate);
        assert!(complete(chunk(&mut r, "msg1", None, &[b"x"], Flag::Last, t)).duplicate);
        // Only `recent_ids` ids are remembered.
        for i in 0..8 {
            complete(chunk(
                &mut r,
                &format!("other{i}"),
                None,
                &[b"x"],
                Flag::Last,
                t,
            ));
        }
        assert!(!complete(chunk(&mut r, "msg1", None, &[b"x"], Flag::Last, t)).duplicate);
    }

    #[test]
    fn late_chunks_of_a_delivered_message() {
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        let o = chunk(&mut r, "msg1", Some("3-4/4"), &[b"cd"], Flag::Last, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        complete(chunk(
            &mut r,
            "msg1",
            Some("1-2/4"),
            &[b"ab"],
            Flag::More,
            t,
        ));
        // An empty `+` chunk (an interruption that sent nothing) arriving after completion
        // leaves nothing behind.
        let o = chunk(&mut r, "msg1", Some("3-*/4"), &[], Flag::More, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert!(r.is_empty());
        // A non-empty late chunk is held, but times out silently.
        let o = chunk(&mut r, "msg1", Some("1-2/4"), &[b"ab"], Flag::More, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert_eq!(r.len(), 1);
        chunk(&mut r, "msg2", Some("1-2/4"), &[b"ab"], Flag::More, t).expect("ok");
        let e = r
            .poll_timeout(t + Duration::from_secs(10))
            .expect("m2 expires");
        assert_eq!(&*e.message_id, "msg2");
        assert!(r.is_empty());
        // An empty `+` chunk of a message not yet delivered is kept.
        let o = chunk(&mut r, "msg3", Some("1-*/4"), &[], Flag::More, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn too_many_ranges_is_413() {
        let mut r = Reassembler::new(ReassemblyConfig {
            max_message: 100_000,
            ..cfg()
        });
        let t = Instant::now();
        for i in 0..MAX_RANGES as u64 {
            let range = format!("{}-{}/*", 2 * i + 1, 2 * i + 1);
            chunk(&mut r, "msg1", Some(&range), &[b"x"], Flag::More, t).expect("ok");
        }
        let range = format!("{}-*/*", 2 * MAX_RANGES + 1);
        let e =
            chunk(&mut r, "msg1", Some(&range), &[b"x"], Flag::More, t).expect_err("fragmented");
        assert_eq!(e, ReassemblyError::TooFragmented);
        assert!(r.is_empty());
    }

    #[test]
    fn ranges_merge() {
        let mut g = Ranges::default();
        g.insert(5, 10);
        g.insert(0, 2);
        g.insert(12, 15);
        assert_eq!(g.runs, vec![(0, 2), (5, 10), (12, 15)]);
        assert_eq!(g.octets, 10);
        g.insert(10, 12);
        assert_eq!(g.runs, vec![(0, 2), (5, 15)]);
        assert_eq!(g.octets, 12);
        g.insert(1, 6);
        assert_eq!(g.runs, vec![(0, 15)]);
        assert!(g.covers(15));
        assert!(!g.covers(16));
        g.insert(3, 3);
        assert_eq!(g.octets, 15);
    }

    #[test]
    fn cursor_reports_what_arrived() {
        // 4975-053: range-end from the body actually received.
        let mut r = Reassembler::new(cfg());
        let mut c = r
            .begin(&head("msg1", Some("11-*/100")), Instant::now())
            .expect("ok");
        assert!(c.is_empty());
        r.body(&mut c, Bytes::from_static(b"12345")).expect("ok");
        assert_eq!(
            c.received(),
            ByteRange {
                start: 11,
                end: Some(15),
                total: Some(100)
            }
        );
        assert_eq!(&**c.message_id(), "msg1");
    }

    /// A 64 KiB "read buffer" and a piece of it, as the decoder hands body pieces out.
    fn read_buffer() -> Bytes {
        Bytes::from(vec![b'r'; 64 * 1024])
    }

    #[test]
    fn far_byte_ranges_hold_only_what_arrived() {
        // 4975-018: 64 messages, each two 1-octet `+` chunks at the very end of a 16 MiB
        // message. Memory must follow the 128 octets received, not the offsets claimed.
        let mut r = Reassembler::default();
        let t = Instant::now();
        let buf = read_buffer();
        for i in 0..64 {
            let mid = format!("attack{i:02}");
            for range in ["16777215-16777215/*", "16777216-16777216/*"] {
                let mut c = r.begin(&head(&mid, Some(range)), t).expect("valid range");
                r.body(&mut c, buf.slice(i..i + 1)).expect("one octet");
                assert_eq!(r.end(c, Flag::More, t), Ok(Outcome::Incomplete));
            }
            assert!(
                r.buffered_bytes() <= 1024 * (i + 1),
                "{} bytes held after {} messages",
                r.buffered_bytes(),
                i + 1
            );
        }
        assert_eq!(r.len(), 64);
        assert!(r.buffered_bytes() < 64 * 1024, "{}", r.buffered_bytes());
        // The 1-octet pieces were copied: the read buffer is not pinned.
        assert!(buf.is_unique(), "a kept piece pins the read buffer");
        for i in 0..64 {
            assert!(r.remove(&format!("attack{i:02}")));
        }
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn small_pieces_do_not_pin_the_read_buffer() {
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        let buf = read_buffer();
        // One small piece in a chunk that does not complete its message.
        let mut c = r.begin(&head("msg1", Some("1-1/3")), t).expect("ok");
        r.body(&mut c, buf.slice(0..1)).expect("ok");
        assert_eq!(r.end(c, Flag::More, t), Ok(Outcome::Incomplete));
        // Several small pieces in one chunk.
        let mut c = r.begin(&head("msg2", Some("1-*/*")), t).expect("ok");
        for i in 0..3 {
            r.body(&mut c, buf.slice(i..i + 1)).expect("ok");
        }
        assert_eq!(r.end(c, Flag::More, t), Ok(Outcome::Incomplete));
        assert!(buf.is_unique(), "a kept piece pins the read buffer");
        assert!(r.buffered_bytes() < 1024, "{}", r.buffered_bytes());
        let m = complete(chunk(
            &mut r,
            "msg1",
            Some("2-3/3"),
            &[b"bc"],
            Flag::Last,
            t,
        ));
        assert_eq!(&m.body[..], b"rbc");
        let m = complete(chunk(&mut r, "msg2", Some("4-4/4"), &[b"z"], Flag::Last, t));
        assert_eq!(&m.body[..], b"rrrz");
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn memory_budget_is_413() {
        // 4975-018: `max_buffered` bounds the memory held over all partial messages.
        let mut r = Reassembler::new(ReassemblyConfig {
            max_buffered: 10_000,
            max_messages: 32,
            ..cfg()
        });
        let t = Instant::now();
        let piece = Bytes::from(vec![b'p'; 600]);
        let mut refused = None;
        for i in 0..40 {
            let mid = format!("msg{i:02}");
            match chunk(
                &mut r,
                &mid,
                Some("1-*/*"),
                &[&piece, &piece[..100]],
                Flag::More,
                t,
            ) {
                Ok(o) => assert_eq!(o, Outcome::Incomplete),
                Err(e) => {
                    refused = Some((i, e));
                    break;
                }
            }
            assert!(r.buffered_bytes() <= 10_000);
        }
        let (i, e) = refused.expect("the budget is reached");
        assert_eq!(e, ReassemblyError::BufferFull { limit: 10_000 });
        assert_eq!(e.status(), StatusCode::TOO_LARGE);
        assert_eq!(r.received(&format!("msg{i:02}")), None, "dropped");
        assert!(r.buffered_bytes() <= 10_000);
        // The others are intact and complete normally.
        let m = complete(chunk(
            &mut r,
            "msg00",
            Some("701-701/701"),
            &[b"z"],
            Flag::Last,
            t,
        ));
        assert_eq!(m.body.len(), 701);
        assert_eq!(&m.body[..700], &[&piece[..], &piece[..100]].concat()[..]);
    }

    #[test]
    fn large_pieces_are_kept_and_assembled_once() {
        // A message in two chunks of large pieces: kept as received, the body is built once.
        let mut r = Reassembler::new(ReassemblyConfig {
            max_message: 1 << 20,
            ..cfg()
        });
        let t = Instant::now();
        let a = Bytes::from(vec![b'a'; 5000]);
        let b = Bytes::from(vec![b'b'; 6000]);
        let mut c = r.begin(&head("msg1", Some("5001-*/11000")), t).expect("ok");
        r.body(&mut c, b.clone()).expect("ok");
        assert_eq!(r.end(c, Flag::Last, t), Ok(Outcome::Incomplete));
        assert!(!b.is_unique(), "kept without a copy");
        let held = r.buffered_bytes();
        assert!((6000..6000 + 512).contains(&held), "{held}");
        let mut c = r.begin(&head("msg1", Some("1-*/11000")), t).expect("ok");
        r.body(&mut c, a.clone()).expect("ok");
        let m = complete(r.end(c, Flag::More, t));
        assert_eq!(m.body.len(), 11_000);
        assert_eq!(&m.body[..5000], &a[..]);
        assert_eq!(&m.body[5000..], &b[..]);
        assert!(a.is_unique() && b.is_unique());
        assert_eq!(r.buffered_bytes(), 0);
    }

    #[test]
    fn repeated_overlaps_are_compacted() {
        // 4975-037 with 20 000 overlapping 1-octet chunks: last wins, memory stays bounded.
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        chunk(
            &mut r,
            "msg1",
            Some("1-10/10"),
            &[b"0123456789"],
            Flag::More,
            t,
        )
        .expect("ok");
        for i in 0..20_000u32 {
            let at = 1 + i % 7;
            let range = format!("{at}-{at}/10");
            let v = [b'a' + (i % 26) as u8];
            chunk(&mut r, "msg1", Some(&range), &[&v], Flag::More, t).expect("ok");
            assert!(
                r.buffered_bytes() <= 2 * COMPACT_SLACK + 4096,
                "{}",
                r.buffered_bytes()
            );
            assert_eq!(
                r.held,
                r.partials.values().map(Partial::held).sum::<usize>()
            );
        }
        let m = complete(chunk(
            &mut r,
            "msg1",
            Some("10-10/10"),
            &[b"Z"],
            Flag::Last,
            t,
        ));
        let mut want = *b"012345678Z";
        for i in 20_000 - 7..20_000u32 {
            want[(i % 7) as usize] = b'a' + (i % 26) as u8;
        }
        assert_eq!(&m.body[..], &want[..]);
        assert_eq!(r.buffered_bytes(), 0);
    }

    use proptest::prelude::*;

    /// Pieces `(offset, len, split)`: a random tiling of `0..n` plus random overlapping
    /// pieces, each sent as one chunk in `split` body pieces.
    fn pieces() -> impl Strategy<Value = (usize, Vec<(usize, usize, usize)>)> {
        (1usize..10_000).prop_flat_map(|n| {
            let cuts = proptest::collection::vec(0..n, 0..40);
            let extra = proptest::collection::vec((0..n, 1usize..6000, 1usize..6), 0..40);
            (Just(n), cuts, extra).prop_map(|(n, mut cuts, extra)| {
                cuts.push(0);
                cuts.push(n);
                cuts.sort_unstable();
                cuts.dedup();
                let mut v: Vec<_> = cuts
                    .windows(2)
                    .map(|w| (w[0], w[1] - w[0], 1 + w[0] % 3))
                    .collect();
                v.extend(extra.into_iter().map(|(o, l, s)| (o, l.min(n - o), s)));
                (n, v)
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_order_matches_a_model_and_memory_follows_octets(
            (n, mut ps) in pieces(),
            seed in any::<u64>(),
        ) {
            // 4975-032, 4975-035, 4975-037, 4975-018.
            let mut rng = seed | 1;
            for i in (1..ps.len()).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                ps.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            let mut r = Reassembler::new(ReassemblyConfig {
                max_message: 20_000,
                ..cfg()
            });
            let t = Instant::now();
            let mut model = vec![None::<u8>; n];
            let mut done = None;
            let mut last_sent = false;
            for (k, &(o, l, split)) in ps.iter().enumerate() {
                let octets: Vec<u8> = (0..l).map(|j| (k * 31 + j) as u8).collect();
                let is_last = o + l == n && !last_sent;
                last_sent |= is_last;
                let range = format!("{}-{}/*", o + 1, o + l);
                let parts: Vec<&[u8]> = octets.chunks(l.div_ceil(split).max(1)).collect();
                let flag = if is_last { Flag::Last } else { Flag::More };
                let out = chunk(&mut r, "msg1", Some(&range), &parts, flag, t).expect("valid");
                prop_assert_eq!(r.held, r.partials.values().map(Partial::held).sum::<usize>());
                for (j, b) in octets.iter().enumerate() {
                    model[o + j] = Some(*b);
                }
                let received = model.iter().filter(|b| b.is_some()).count();
                let runs = model
                    .windows(2)
                    .filter(|w| w[0].is_none() && w[1].is_some())
                    .count()
                    + usize::from(model[0].is_some());
                prop_assert!(
                    r.buffered_bytes() <= 4 * received + 256 * runs + 2 * COMPACT_SLACK,
                    "{} bytes for {} octets in {} runs",
                    r.buffered_bytes(),
                    received,
                    runs
                );
                if let Outcome::Complete(m) = out {
                    done = Some(m);
                    break;
                }
                prop_assert!(!(last_sent && received == n), "complete but not reported");
            }
            let m = done.expect("the tiling covers the message");
            let want: Vec<u8> = model.iter().map(|b| b.expect("covered")).collect();
            prop_assert_eq!(&m.body[..], &want[..]);
            prop_assert_eq!(r.buffered_bytes(), 0);
        }
    }
}
