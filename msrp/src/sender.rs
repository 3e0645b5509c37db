//! The chunk sender (RFC 4975 §7.1.1): splits outgoing messages into chunks, interleaves the
//! chunks of several messages fairly, and handles interruption and abort.
//!
//! Sans-IO: the sender never writes anything. The connection's writer asks it for the next chunk
//! with [`ChunkSender::poll_chunk`], writes the chunk (usually with [`Chunk::write`], or
//! [`Chunk::write_head`] + body + [`Chunk::write_end`] when it streams the body), and tells the
//! sender when it stopped a chunk early ([`ChunkSender::interrupted`]). A chunk stopped early is
//! always ended with `+` (RFC 4975 §7.1.1, 4975-028): the sender then queues whatever the
//! receiver still needs: the rest of the message, or an empty `#` chunk when the message was
//! aborted meanwhile.
//!
//! Bodies are `Bytes`: a chunk's body is a zero-copy slice of the message body whenever it lies
//! within one `Bytes` handed to the sender. When the body is pushed piece by piece with
//! [`ChunkSender::push_body`] (a relay pushes read-sized pieces), a chunk that would span a piece
//! boundary lying at least [`MIN_CHUNK_SIZE`] octets into it is cut at that boundary instead:
//! RFC 4975 §7.1.1 only asks that chunks not be smaller than 2048 octets (4975-030), so a
//! slightly shorter chunk is preferred over a copy. Only a chunk whose first piece is shorter
//! than that is copied into one buffer, up to the chunk size.
//!
//! A relay re-chunking a forwarded chunk (RFC 4976 §7.3.1) opens it with
//! [`ChunkSender::open_at`] at the octet the chunk starts at and ends it with
//! [`ChunkSender::finish_with`] and the flag the upstream chunk ended with; a relay that must
//! pick a transaction id before the body has arrived checks the body as it streams with
//! [`crate::encode::EndLineGuard`].

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use crate::byte_range::ByteRange;
use crate::encode;
use crate::head::{Flag, Head};
use crate::header::Header;
use crate::ident::{IdGenerator, Ident};
use crate::status::StatusCode;

/// Default chunk size: 16 KiB.
///
/// RFC 4975 §7.1.1 asks senders not to send chunks smaller than 2048 octets except the last one
/// of a message (4975-030); larger chunks cost fewer header blocks and transaction responses, and
/// 16 KiB keeps the latency added to other messages sharing the connection small. Chunks above
/// 2048 octets are sent with range-end `*` and may be interrupted (4975-027).
pub const DEFAULT_CHUNK_SIZE: usize = 16 * 1024;

/// RFC 4975 §7.1.1: a chunk with a body larger than this many octets must be interruptible, so its
/// Byte-Range carries range-end `*` (4975-024, 4975-027).
pub const INTERRUPTIBLE_ABOVE: usize = 2048;

/// RFC 4975 §7.1.1: chunks should not be smaller than 2048 octets, except the last one of a
/// message (4975-030). A chunk is cut short at a pushed piece's boundary (instead of copying the
/// pieces into one buffer) only when the boundary lies at least this far into the chunk.
pub const MIN_CHUNK_SIZE: usize = 2048;

/// How many messages with nothing left to send, whose latest chunk may still be in flight, the
/// sender remembers: messages whose final chunk was polled (so that an abort or a 413 arriving
/// while it is being written still counts, 4975-038/068), cancelled messages (so that
/// interrupting their in-flight chunk sends nothing more, 4975-068), and messages ended by
/// [`ChunkSender::finish_with`] `+` with nothing left to send (so that their in-flight chunk,
/// when interrupted, is resumed). The oldest is forgotten first.
const GONE_MEMORY: usize = 64;

/// Chunk sender settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// Largest chunk body, in octets ([`DEFAULT_CHUNK_SIZE`] by default). A value of 0 is
    /// treated as 1.
    pub chunk_size: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// Identifies one outgoing message within its [`ChunkSender`]. Keys are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey(u64);

/// A misuse of the sender API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No message with this key is being sent (it was never opened, or is fully sent, aborted or
    /// cancelled).
    #[error("no such outgoing message")]
    UnknownMessage,
    /// Body pushed after [`ChunkSender::finish`] (or after the declared total was reached).
    #[error("the message body is already finished")]
    Finished,
    /// A non-empty body for a template head without Content-Type: RFC 4975 §7.1, a body
    /// section requires Content-Type (4975-007), so the peer would refuse every chunk with
    /// 400.
    #[error("a message with a body needs a Content-Type")]
    NoContentType,
    /// [`ChunkSender::open_at`] with range-start 0, or one past the declared total.
    #[error("range-start {start} invalid for total {total:?}")]
    BadStart {
        /// The range-start given.
        start: u64,
        /// The total given.
        total: Option<u64>,
    },
    /// Body pushed to an aborted message; it is discarded.
    #[error("the message was aborted")]
    Aborted,
    /// The pushed body would exceed the total declared in [`ChunkSender::open`] (or
    /// [`ChunkSender::open_at`]).
    #[error("body up to octet {pushed} exceeds the declared total {total}")]
    ExceedsTotal {
        /// The declared total.
        total: u64,
        /// Position of the last octet pushed, counting the rejected piece (octets pushed, plus
        /// the octets before range-start for [`ChunkSender::open_at`]).
        pushed: u64,
    },
    /// [`ChunkSender::finish`] before the declared total was pushed; the message stays open.
    #[error("body up to octet {pushed} is shorter than the declared total {total}")]
    Short {
        /// The declared total.
        total: u64,
        /// Position of the last octet pushed so far (octets pushed, plus the octets before
        /// range-start for [`ChunkSender::open_at`]).
        pushed: u64,
    },
    /// [`ChunkSender::interrupted`] for a chunk that is not the latest one polled for its
    /// message (a later chunk of the message was polled since, or it was already interrupted).
    #[error("the interrupted chunk is not the latest chunk of its message")]
    Stale,
}

/// One chunk to write: a SEND frame carrying part of a message.
///
/// RFC 4975 §7.1.1: `head` is the message's template with a fresh transaction id and this chunk's
/// Byte-Range; the Message-ID, Success-Report and Failure-Report are the same on every chunk of
/// the message (4975-020).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The message this chunk belongs to.
    pub key: MessageKey,
    /// The header block, ready to write.
    pub head: Head,
    /// The chunk's body octets.
    pub body: Bytes,
    /// The end-line flag: `+` when more of the message follows, `$` on the last chunk, `#` when
    /// the message was aborted (RFC 4975 §7.1, 4975-012).
    pub flag: Flag,
    /// Position of the first body octet in the message (1-based, 4975-023).
    start: u64,
    /// Index of this chunk among the chunks issued for its message.
    seq: u64,
    /// The message's final chunk: nothing of it was left to send when this one was polled.
    last: bool,
}

impl Chunk {
    /// Position of the chunk's first body octet in the whole message, as written in its
    /// Byte-Range range-start (4975-023).
    pub fn range_start(&self) -> u64 {
        self.start
    }

    /// `true` when the chunk is written with a body section. An empty chunk whose head has no
    /// Content-Type (an abort chunk, or an empty last chunk of a streamed message) is written
    /// without one, since a body section requires Content-Type (4975-007, 4975-009).
    pub fn has_body_section(&self) -> bool {
        !self.body.is_empty() || self.head.content_type().is_some()
    }

    /// `true` when the Byte-Range says range-end `*`: the body is larger than 2048 octets and
    /// the writer may interrupt it (4975-024, 4975-027).
    pub fn is_interruptible(&self) -> bool {
        self.body.len() > INTERRUPTIBLE_ABOVE
    }

    /// Writes the whole frame: head, body and end-line (RFC 4975 §7.1).
    pub fn write(&self, out: &mut BytesMut) {
        let section = self.has_body_section();
        out.reserve(self.head.encoded_len_hint() + self.body.len() + 48);
        encode::head(&self.head, section, out);
        out.extend_from_slice(&self.body);
        encode::end(&self.head.tid, self.flag, section, out);
    }

    /// Writes the head and, if the chunk has a body section, the blank line that opens it. For a
    /// writer that streams the body itself and may stop early (4975-028).
    pub fn write_head(&self, out: &mut BytesMut) {
        encode::head(&self.head, self.has_body_section(), out);
    }

    /// Writes the end-line with `flag`: the chunk's own flag, or `+` when the writer stops the
    /// chunk early, before it calls [`ChunkSender::interrupted`] (4975-028).
    pub fn write_end(&self, flag: Flag, out: &mut BytesMut) {
        encode::end(&self.head.tid, flag, self.has_body_section(), out);
    }
}

#[derive(Debug)]
struct Outgoing {
    /// The SEND template; its Byte-Range is a placeholder replaced on every chunk.
    head: Head,
    /// The flag of the final chunk: `$`, or `+` after [`ChunkSender::finish_with`] `+`.
    end_flag: Flag,
    /// Reaching the declared total finishes the body ([`ChunkSender::open`], not
    /// [`ChunkSender::open_at`]).
    auto_finish: bool,
    /// Body octets not yet issued, in order.
    pieces: Pieces,
    /// Octets in `pieces`.
    buffered: usize,
    /// Offset (0-based) of the first octet not yet issued: `next + buffered == pushed`.
    next: u64,
    /// Offset (0-based) past the last octet handed to the sender so far.
    pushed: u64,
    /// The declared total, if any.
    total: Option<u64>,
    /// The whole body is known.
    finished: bool,
    /// The next chunk is an empty `#` chunk.
    aborted: bool,
    /// An interrupted remainder waits: send it even if less than a chunk is buffered.
    resume: bool,
    /// The key is in the ready queue.
    queued: bool,
    /// Chunks issued so far.
    issued: u64,
}

impl Outgoing {
    /// A message whose first octet not yet pushed is at offset `at` (0-based).
    fn new(mut head: Head, at: u64, total: Option<u64>) -> Outgoing {
        // A placeholder, so that every chunk's clone only has its value replaced.
        head.set_byte_range(ByteRange::whole(0));
        Outgoing {
            head,
            end_flag: Flag::Last,
            auto_finish: true,
            pieces: Pieces::default(),
            buffered: 0,
            next: at,
            pushed: at,
            total,
            finished: false,
            aborted: false,
            resume: false,
            queued: false,
            issued: 0,
        }
    }

    fn ready(&self, chunk_size: usize) -> bool {
        self.aborted || self.finished || self.resume || self.buffered >= chunk_size
    }
}

/// A message with nothing left to send whose latest chunk, `seq`, may still be in flight.
#[derive(Debug, Clone, Copy)]
struct Gone {
    key: MessageKey,
    seq: u64,
    fate: Fate,
}

/// What becomes of a [`Gone`] message if its in-flight chunk is cut with `+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Its final chunk was polled, or [`ChunkSender::finish_with`] `+` found nothing left to
    /// send: the rest is resumed (4975-029).
    Sent,
    /// Aborted since: an empty `#` chunk follows (4975-038).
    Aborted,
    /// Cancelled since (413): nothing more is sent (4975-068).
    Cancelled,
    /// The chunk was handed back to [`ChunkSender::interrupted`] already: handing it back again
    /// is [`SendError::Stale`], and the message can no longer be aborted or cancelled through
    /// this entry.
    Taken,
}

/// Splits outgoing messages into chunks (RFC 4975 §7.1.1).
///
/// One sender serves one connection: it interleaves the chunks of all messages queued on it,
/// round-robin one chunk at a time, so a large message does not hold up the others (4975-033),
/// while the chunks of each message go out in increasing Byte-Range order (4975-032).
#[derive(Debug)]
pub struct ChunkSender {
    cfg: SenderConfig,
    messages: HashMap<MessageKey, Outgoing>,
    ready: VecDeque<MessageKey>,
    next_key: u64,
    buffered: usize,
    /// Messages with nothing left to send whose latest chunk may be in flight (see
    /// [`GONE_MEMORY`]), oldest first.
    gone: VecDeque<Gone>,
}

impl Default for ChunkSender {
    fn default() -> Self {
        ChunkSender::new(SenderConfig::default())
    }
}

impl ChunkSender {
    /// A sender with the given settings.
    pub fn new(mut cfg: SenderConfig) -> ChunkSender {
        cfg.chunk_size = cfg.chunk_size.max(1);
        ChunkSender {
            cfg,
            messages: HashMap::new(),
            ready: VecDeque::new(),
            next_key: 0,
            buffered: 0,
            gone: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &SenderConfig {
        &self.cfg
    }

    /// Number of messages not yet completely sent.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// `true` when no message is waiting to be sent.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Body octets handed to the sender and not yet issued in a chunk, over all messages (for
    /// byte-bounded queues).
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// `true` while the message has chunks left to send.
    pub fn contains(&self, key: MessageKey) -> bool {
        self.messages.contains_key(&key)
    }

    /// The Message-ID of a message (known once the template has one, or once its first chunk
    /// was polled: see [`ChunkSender::open`]).
    pub fn message_id(&self, key: MessageKey) -> Option<&Ident> {
        self.messages.get(&key).and_then(|m| m.head.message_id())
    }

    /// `true` when the message was aborted or cancelled: a writer in the middle of one of its
    /// chunks may stop it with `+` and call [`ChunkSender::interrupted`], which then queues an
    /// empty `#` chunk starting at the first octet not sent (abort, 4975-038) or nothing
    /// (cancel after 413, 4975-068).
    pub fn is_aborted(&self, key: MessageKey) -> bool {
        match self.messages.get(&key) {
            Some(m) => m.aborted,
            None => self
                .gone
                .iter()
                .any(|g| g.key == key && matches!(g.fate, Fate::Aborted | Fate::Cancelled)),
        }
    }

    /// Queues a message whose whole body is known; its chunks carry the total (4975-025).
    ///
    /// `head` is the SEND template: To-Path, From-Path, Message-ID, Success-Report,
    /// Failure-Report, Content-Type and any other header. The sender sets the transaction id and
    /// Byte-Range of every chunk; the rest is copied to each chunk unchanged (4975-020). An empty
    /// body is one chunk `Byte-Range: 1-0/0` (4975-026).
    ///
    /// Fails with [`SendError::NoContentType`] when the body is not empty and `head` has no
    /// Content-Type (4975-007).
    pub fn send(&mut self, head: Head, body: Bytes) -> Result<MessageKey, SendError> {
        if !body.is_empty() && head.content_type().is_none() {
            return Err(SendError::NoContentType);
        }
        let len = body.len() as u64;
        let mut m = Outgoing::new(head, 0, Some(len));
        m.finished = true;
        if !body.is_empty() {
            m.buffered = body.len();
            m.pushed = len;
            self.buffered += body.len();
            m.pieces.push_back(body);
        }
        Ok(self.insert(m))
    }

    /// Opens a message whose body is pushed piece by piece with [`ChunkSender::push_body`] and
    /// ended with [`ChunkSender::finish`]. `total` is the body size if known; otherwise chunks
    /// carry total `*` until the body is finished (4975-025).
    ///
    /// A streamed message produces a chunk only once a whole chunk is buffered or the body is
    /// finished (4975-030). Reaching a declared total finishes the body by itself.
    ///
    /// If `head` has no Message-ID, a fresh one is added when the first chunk is polled
    /// (4975-039).
    ///
    /// Fails with [`SendError::NoContentType`] when `total` says the body is not empty and
    /// `head` has no Content-Type (4975-007); with an unknown total, pushing a non-empty piece
    /// fails instead.
    pub fn open(&mut self, head: Head, total: Option<u64>) -> Result<MessageKey, SendError> {
        self.open_inner(head, 1, total, true)
    }

    /// Opens a message, like [`ChunkSender::open`], whose first octet to send is octet `start`
    /// (1-based) of the whole message: for a relay re-chunking a forwarded chunk that begins at
    /// octet `start` (RFC 4976 §7.3.1, 4976-033). Byte-Ranges count from there: the first chunk
    /// has range-start `start`, and totals are of the whole message.
    ///
    /// Unlike [`ChunkSender::open`], reaching `total` does not finish the body: a forwarded
    /// chunk ends with the flag its upstream chunk ended with, given to
    /// [`ChunkSender::finish_with`] (`+` keeps the message open upstream: see there).
    ///
    /// Fails with [`SendError::BadStart`] when `start` is 0 or lies past `total + 1`, and with
    /// [`SendError::NoContentType`] as [`ChunkSender::open`] does.
    pub fn open_at(
        &mut self,
        head: Head,
        start: u64,
        total: Option<u64>,
    ) -> Result<MessageKey, SendError> {
        self.open_inner(head, start, total, false)
    }

    fn open_inner(
        &mut self,
        head: Head,
        start: u64,
        total: Option<u64>,
        auto_finish: bool,
    ) -> Result<MessageKey, SendError> {
        if start == 0 || total.is_some_and(|t| start - 1 > t) {
            return Err(SendError::BadStart { start, total });
        }
        if total.is_some_and(|t| t > start - 1) && head.content_type().is_none() {
            return Err(SendError::NoContentType);
        }
        let mut m = Outgoing::new(head, start - 1, total);
        m.auto_finish = auto_finish;
        m.finished = auto_finish && total == Some(start - 1);
        Ok(self.insert(m))
    }

    fn insert(&mut self, m: Outgoing) -> MessageKey {
        let key = MessageKey(self.next_key);
        self.next_key += 1;
        self.messages.insert(key, m);
        self.enqueue(key);
        key
    }

    fn enqueue(&mut self, key: MessageKey) {
        let cs = self.cfg.chunk_size;
        if let Some(m) = self.messages.get_mut(&key) {
            if !m.queued && m.ready(cs) {
                m.queued = true;
                self.ready.push_back(key);
            }
        }
    }

    /// Appends body octets to a message opened with [`ChunkSender::open`].
    pub fn push_body(&mut self, key: MessageKey, piece: Bytes) -> Result<(), SendError> {
        let m = self
            .messages
            .get_mut(&key)
            .ok_or(SendError::UnknownMessage)?;
        if m.aborted {
            return Err(SendError::Aborted);
        }
        if m.finished {
            return Err(SendError::Finished);
        }
        if !piece.is_empty() && m.head.content_type().is_none() {
            return Err(SendError::NoContentType);
        }
        let pushed = m.pushed.saturating_add(piece.len() as u64);
        if let Some(total) = m.total {
            if pushed > total {
                return Err(SendError::ExceedsTotal { total, pushed });
            }
        }
        m.pushed = pushed;
        if !piece.is_empty() {
            m.buffered += piece.len();
            self.buffered += piece.len();
            m.pieces.push_back(piece);
        }
        if m.auto_finish && m.total == Some(pushed) {
            m.finished = true;
        }
        self.enqueue(key);
        Ok(())
    }

    /// Ends the body of a message opened with [`ChunkSender::open`]: what is buffered goes out,
    /// the last chunk with `$` (an empty `$` chunk if everything was already sent with `+`).
    /// Finishing twice is harmless. Same as [`ChunkSender::finish_with`] `$`.
    pub fn finish(&mut self, key: MessageKey) -> Result<(), SendError> {
        let m = self
            .messages
            .get_mut(&key)
            .ok_or(SendError::UnknownMessage)?;
        if let Some(total) = m.total {
            if m.pushed < total {
                return Err(SendError::Short {
                    total,
                    pushed: m.pushed,
                });
            }
        }
        m.finished = true;
        m.end_flag = Flag::Last;
        self.enqueue(key);
        Ok(())
    }

    /// Ends the body pushed to this sender, the last chunk ending with `flag` (RFC 4975 §7.1,
    /// 4975-012):
    ///
    /// - `$`: [`ChunkSender::finish`].
    /// - `+`: what is buffered goes out and the last chunk ends with `+`, because more chunks
    ///   of the message will come from elsewhere later: a relay forwarding a `+` chunk it
    ///   re-chunks (RFC 4976 §7.3.1, 4976-033). The Byte-Range total stays the one declared
    ///   (or `*`); no [`SendError::Short`] check. When everything pushed was already sent, no
    ///   further chunk is sent (an in-flight chunk that is then interrupted is still resumed);
    ///   when nothing was pushed nor sent, one empty `+` chunk is.
    /// - `#`: [`ChunkSender::abort`].
    pub fn finish_with(&mut self, key: MessageKey, flag: Flag) -> Result<(), SendError> {
        match flag {
            Flag::Last => self.finish(key),
            Flag::Abort => {
                if self.abort(key) {
                    Ok(())
                } else {
                    Err(SendError::UnknownMessage)
                }
            }
            Flag::More => {
                let m = self
                    .messages
                    .get_mut(&key)
                    .ok_or(SendError::UnknownMessage)?;
                if m.aborted {
                    return Err(SendError::Aborted);
                }
                m.finished = true;
                m.end_flag = Flag::More;
                if m.buffered == 0 && !m.resume && m.issued > 0 {
                    let seq = m.issued - 1;
                    self.messages.remove(&key);
                    self.remember(key, seq, Fate::Sent);
                    return Ok(());
                }
                self.enqueue(key);
                Ok(())
            }
        }
    }

    /// Aborts a message (RFC 4975 §7.1.1, 4975-038): nothing more of its body is sent. If no
    /// chunk of it was polled yet, it is dropped silently; otherwise its next chunk is an empty
    /// chunk ending in `#` whose range-start is the first octet not sent: right after the
    /// latest chunk polled, or, when the writer cuts that chunk short with `+` and calls
    /// [`ChunkSender::interrupted`], right after the last octet it wrote.
    ///
    /// A message whose final chunk was polled can still be aborted while that chunk may be in
    /// flight (the sender remembers the latest 64 such messages): nothing is sent
    /// if the chunk goes out whole, and an empty `#` chunk follows if the writer cuts it.
    /// Returns `false` when the message is unknown (never opened, cancelled, or ended and
    /// forgotten).
    pub fn abort(&mut self, key: MessageKey) -> bool {
        let Some(m) = self.messages.get_mut(&key) else {
            return self.mark_gone(key, Fate::Aborted);
        };
        if m.issued == 0 {
            self.buffered -= m.buffered;
            self.messages.remove(&key);
            return true;
        }
        self.buffered -= m.buffered;
        m.pieces.clear();
        m.buffered = 0;
        m.pushed = m.next;
        m.aborted = true;
        m.resume = false;
        self.enqueue(key);
        true
    }

    /// Drops a message without sending any further chunk of it: RFC 4975 §10, after a 413 the
    /// sender must not send further chunks with the same Message-ID (4975-068). A chunk being
    /// written should be interrupted (ended with `+`) if it is interruptible;
    /// [`ChunkSender::interrupted`] then sends nothing more of it (not even the rest of a final
    /// chunk polled before the 413 arrived). Returns `false` when the message is unknown (never
    /// opened, cancelled already, or ended and forgotten: see [`ChunkSender::abort`]).
    pub fn cancel(&mut self, key: MessageKey) -> bool {
        let Some(m) = self.messages.remove(&key) else {
            return self.mark_gone(key, Fate::Cancelled);
        };
        self.buffered -= m.buffered;
        if m.issued > 0 {
            self.remember(key, m.issued - 1, Fate::Cancelled);
        }
        true
    }

    /// Remembers a message with nothing left to send whose chunk `seq` may be in flight, in
    /// place of what was remembered of it before, forgetting the oldest one beyond
    /// [`GONE_MEMORY`].
    fn remember(&mut self, key: MessageKey, seq: u64, fate: Fate) {
        if let Some(i) = self.gone.iter().position(|g| g.key == key) {
            self.gone.remove(i);
        } else if self.gone.len() == GONE_MEMORY {
            self.gone.pop_front();
        }
        self.gone.push_back(Gone { key, seq, fate });
    }

    /// Aborts or cancels a remembered message whose latest chunk may still be in flight; `false`
    /// when it is not remembered, was cancelled already, or its chunk was handed back already.
    fn mark_gone(&mut self, key: MessageKey, fate: Fate) -> bool {
        match self.gone.iter_mut().find(|g| g.key == key) {
            Some(g) if matches!(g.fate, Fate::Sent | Fate::Aborted) => {
                g.fate = fate;
                true
            }
            _ => false,
        }
    }

    /// A failure response or failure REPORT arrived for a message still being sent: 413 cancels
    /// it ([`ChunkSender::cancel`], 4975-068), any other failure aborts it with `#`
    /// ([`ChunkSender::abort`], 4975-038). Returns `false` when the message is unknown.
    pub fn failed(&mut self, key: MessageKey, status: StatusCode) -> bool {
        if status == StatusCode::TOO_LARGE {
            self.cancel(key)
        } else {
            self.abort(key)
        }
    }

    /// The next chunk to write, `None` when no message has one ready.
    ///
    /// Messages take turns, one chunk each (4975-033); each chunk has at most `chunk_size` body
    /// octets (fewer when it is cut at a pushed piece's boundary instead of copying: see the
    /// module documentation). Every chunk gets a new transaction id drawn from `ids` that
    /// `taken` does not reject — `taken` says whether an id is still outstanding on the
    /// connection (4975-004) — and that does not occur as an end-line inside the chunk's body
    /// (4975-011).
    ///
    /// Byte-Range (4975-021..026): range-start is the position of the first body octet;
    /// range-end is the position of the last one, or `*` when the body is larger than 2048
    /// octets and so may be interrupted (4975-027); total is the message size when known, `*`
    /// otherwise.
    ///
    /// The writer writes a chunk completely, or stops it early and calls
    /// [`ChunkSender::interrupted`], before it polls another chunk of the same message.
    /// `taken` must accept some ids: one that rejects every id makes this loop forever.
    pub fn poll_chunk(
        &mut self,
        ids: &mut IdGenerator,
        mut taken: impl FnMut(&str) -> bool,
    ) -> Option<Chunk> {
        self.poll_chunk_with(ids, &mut |ids: &mut IdGenerator| {
            ids.next_unique(&mut taken)
        })
    }

    /// [`ChunkSender::poll_chunk`] with the transaction-id candidates drawn by `draw_tid` (a
    /// seam for tests: a fixed sequence of candidates).
    fn poll_chunk_with(
        &mut self,
        ids: &mut IdGenerator,
        draw_tid: &mut dyn FnMut(&mut IdGenerator) -> Ident,
    ) -> Option<Chunk> {
        let cs = self.cfg.chunk_size;
        while let Some(key) = self.ready.pop_front() {
            let Some(m) = self.messages.get_mut(&key) else {
                continue;
            };
            m.queued = false;
            if !m.ready(cs) {
                continue;
            }
            if m.head.message_id().is_none() {
                m.head.push(Header::MessageId(ids.next_id()));
            }
            let (body, flag) = if m.aborted {
                (Bytes::new(), Flag::Abort)
            } else {
                let n = m.buffered.min(cs);
                let body = m.pieces.take(n);
                m.buffered -= body.len();
                self.buffered -= body.len();
                let flag = if m.finished && m.buffered == 0 {
                    m.end_flag
                } else {
                    Flag::More
                };
                (body, flag)
            };
            let last = m.aborted || (m.finished && m.buffered == 0);
            let len = body.len() as u64;
            let start = m.next + 1;
            m.next += len;
            m.resume = false;
            let total = if m.finished && !m.aborted && m.end_flag == Flag::Last {
                Some(m.pushed)
            } else {
                m.total
            };
            let end = (body.len() <= INTERRUPTIBLE_ABOVE).then_some(start - 1 + len);
            let mut head = m.head.clone();
            head.set_byte_range(ByteRange { start, end, total });
            head.tid = pick_tid(&body, || draw_tid(ids));
            let seq = m.issued;
            m.issued += 1;
            if last {
                self.messages.remove(&key);
                self.remember(key, seq, Fate::Sent);
            } else if m.ready(cs) {
                m.queued = true;
                self.ready.push_back(key);
            }
            return Some(Chunk {
                key,
                head,
                body,
                flag,
                start,
                seq,
                last,
            });
        }
        None
    }

    /// The writer cut `chunk` short: it wrote the chunk's header block, the first `sent` octets
    /// of its body and then the end-line `-------<tid>+` (RFC 4975 §7.1.1, 4975-028). Call this
    /// only once that `+` end-line is written (or committed to be written); the sender then
    /// makes sure the message is ended properly at the receiver:
    ///
    /// - Normally the octets not sent go back to the front of the message, which is resumed
    ///   later in a new chunk with a new transaction id and range-start = the first octet not yet
    ///   sent (4975-029). This works for the message's final chunk too: the message comes back,
    ///   its final chunk ending with the flag the cut one had. When `sent` covers the whole body
    ///   of a final `$` chunk, an empty `$` chunk follows (the receiver got the octets but not
    ///   the end of the message).
    /// - When the message was aborted meanwhile ([`ChunkSender::abort`], or
    ///   [`ChunkSender::failed`] with anything but 413), the next chunk of it is one empty chunk
    ///   ending with `#` whose range-start is the first octet not sent (`chunk.range_start() +
    ///   sent`), range-end one less, total as declared or `*`, and a new transaction id: the
    ///   receiver learns that the message is over instead of waiting for its chunk timeout
    ///   (4975-038). Nothing follows it.
    /// - When the message was cancelled meanwhile ([`ChunkSender::cancel`], or
    ///   [`ChunkSender::failed`] with 413), nothing more of it is sent: after 413 the sender must
    ///   not send further chunks with that Message-ID (RFC 4975 §10, 4975-068); the receiver
    ///   ended the message itself when it answered 413.
    ///
    /// The writer does this when it has responses or REPORTs to send on the connection while a
    /// chunk of more than 2048 octets is being written (4975-028), and may do it when the message
    /// was aborted or cancelled while its chunk was in flight ([`ChunkSender::is_aborted`],
    /// 4975-068).
    ///
    /// Fails with [`SendError::Stale`] (and changes nothing) when a later chunk of the same
    /// message was polled after this one, or this chunk was already interrupted.
    pub fn interrupted(&mut self, chunk: Chunk, sent: usize) -> Result<(), SendError> {
        let sent = sent.min(chunk.body.len());
        let chunk_end = chunk.start - 1 + chunk.body.len() as u64;
        // Offset (0-based) of the first octet not sent.
        let cut = chunk.start - 1 + sent as u64;
        if let Some(m) = self.messages.get_mut(&chunk.key) {
            if m.issued != chunk.seq + 1 || m.next != chunk_end {
                return Err(SendError::Stale);
            }
            if m.aborted {
                // 4975-038: the empty `#` chunk `abort` queued starts right after the cut.
                m.next = cut;
                m.pushed = cut;
                self.enqueue(chunk.key);
                return Ok(());
            }
            if sent == chunk.body.len() {
                // A `+` chunk (not the message's final one) went out whole.
                return Ok(());
            }
            let rest = chunk.body.slice(sent..);
            m.next -= rest.len() as u64;
            m.buffered += rest.len();
            self.buffered += rest.len();
            m.pieces.give_back(rest);
            m.resume = true;
            self.enqueue(chunk.key);
            return Ok(());
        }
        // The message had nothing left to send: its final chunk, or the latest chunk of a
        // message cancelled or ended by `finish_with(+)` since.
        let fate = match self.gone.iter_mut().find(|g| g.key == chunk.key) {
            Some(g) if g.seq == chunk.seq && g.fate != Fate::Taken => {
                std::mem::replace(&mut g.fate, Fate::Taken)
            }
            // Handed back already, or a later chunk of the message was polled since.
            Some(_) => return Err(SendError::Stale),
            // A final chunk polled so long ago that it was forgotten (more than `GONE_MEMORY`
            // messages ended since): resumed.
            None if chunk.last => Fate::Sent,
            None => return Err(SendError::Stale),
        };
        let total = chunk.head.byte_range().and_then(|r| r.total);
        match fate {
            // 4975-068: nothing more of a message refused with 413.
            Fate::Cancelled => return Ok(()),
            // 4975-038: an empty `#` chunk right after the cut.
            Fate::Aborted => {
                let mut m = Outgoing::new(chunk.head, cut, total);
                m.aborted = true;
                m.issued = chunk.seq + 1;
                self.messages.insert(chunk.key, m);
                self.enqueue(chunk.key);
                return Ok(());
            }
            Fate::Sent | Fate::Taken => {}
        }
        if sent == chunk.body.len() && chunk.flag == Flag::More {
            // The `+` the writer wrote is the chunk's own flag: nothing is missing.
            return Ok(());
        }
        // The final chunk was cut short, or lost its `$`/`#`: the message comes back, to end as
        // it would have (an empty `$` or `#` chunk when no octet is left).
        let mut m = Outgoing::new(chunk.head, cut, total);
        m.finished = true;
        m.end_flag = chunk.flag;
        m.issued = chunk.seq + 1;
        if chunk.flag == Flag::Abort {
            m.aborted = true;
        } else {
            let rest = chunk.body.slice(sent..);
            m.pushed = chunk_end;
            m.resume = true;
            m.buffered = rest.len();
            self.buffered += rest.len();
            if !rest.is_empty() {
                m.pieces.push_back(rest);
            }
        }
        self.messages.insert(chunk.key, m);
        self.enqueue(chunk.key);
        Ok(())
    }
}

/// Draws transaction ids until one whose end-line does not occur in `body` (4975-011).
fn pick_tid(body: &[u8], mut draw: impl FnMut() -> Ident) -> Ident {
    loop {
        let tid = draw();
        if !encode::end_line_in_body(&tid, body) {
            return tid;
        }
    }
}

/// Body octets not yet issued: the pushed pieces in order, of which the first `off` octets of
/// the front one were already issued. A piece is dropped only once a later chunk needs the next
/// one, so that the rest of an interrupted chunk that was a slice of it can be given back in
/// place ([`Pieces::give_back`]) instead of becoming a separate piece.
#[derive(Debug, Default)]
struct Pieces {
    q: VecDeque<Bytes>,
    off: usize,
}

impl Pieces {
    fn push_back(&mut self, piece: Bytes) {
        self.q.push_back(piece);
    }

    fn clear(&mut self) {
        self.q.clear();
        self.off = 0;
    }

    /// Drops the front pieces that were issued completely.
    fn drop_issued(&mut self) {
        while self.q.front().is_some_and(|f| f.len() <= self.off) {
            self.q.pop_front();
            self.off = 0;
        }
    }

    /// Takes up to `n` octets for one chunk: a zero-copy slice when they lie in the front piece;
    /// the rest of the front piece, zero-copy, when it is shorter than `n` but holds at least
    /// [`MIN_CHUNK_SIZE`] octets (a slightly shorter chunk rather than a copy, 4975-030); else a
    /// copy of `n` octets spanning pieces.
    fn take(&mut self, n: usize) -> Bytes {
        self.drop_issued();
        if n == 0 {
            return Bytes::new();
        }
        let Some(front) = self.q.front() else {
            return Bytes::new();
        };
        let avail = front.len() - self.off;
        if avail >= n || avail >= MIN_CHUNK_SIZE {
            let k = avail.min(n);
            let b = front.slice(self.off..self.off + k);
            self.off += k;
            return b;
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            self.drop_issued();
            let Some(front) = self.q.front() else {
                break;
            };
            let k = (n - out.len()).min(front.len() - self.off);
            out.extend_from_slice(&front[self.off..self.off + k]);
            self.off += k;
        }
        out.freeze()
    }

    /// Puts back the unsent rest of the latest chunk taken: in place when it is a slice of the
    /// front piece right before what is left of it (no new piece boundary, so the resumed chunk
    /// is as long as any), else as a new front piece.
    fn give_back(&mut self, rest: Bytes) {
        if rest.is_empty() {
            return;
        }
        if let Some(front) = self.q.front() {
            if self.off >= rest.len() && front[self.off - rest.len()..].as_ptr() == rest.as_ptr() {
                // The same memory at the same message position: the very octets.
                self.off -= rest.len();
                return;
            }
            if self.off > 0 {
                let f = front.slice(self.off..);
                self.q[0] = f;
                self.off = 0;
            }
        }
        self.q.push_front(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Method;
    use crate::header::FailureReport;
    use crate::uri::MsrpUri;
    use std::collections::HashSet;

    fn uri(s: &str) -> MsrpUri {
        s.parse().expect("uri")
    }

    fn template(mid: &str) -> Head {
        Head::request(
            Method::Send,
            "unset000".parse().unwrap(),
            crate::path![uri("msrp://b.example.com:7777/bbb;tcp")],
            crate::path![uri("msrp://a.example.com:7777/aaa;tcp")],
        )
        .with(Header::MessageId(mid.parse().unwrap()))
        .with(Header::SuccessReport(true))
        .with(Header::FailureReport(FailureReport::Partial))
        .with(Header::ContentType(bytestring::ByteString::from_static(
            "text/plain",
        )))
    }

    fn sender(chunk_size: usize) -> ChunkSender {
        ChunkSender::new(SenderConfig { chunk_size })
    }

    fn poll(s: &mut ChunkSender, ids: &mut IdGenerator) -> Option<Chunk> {
        s.poll_chunk(ids, |_| false)
    }

    fn drain(s: &mut ChunkSender) -> Vec<Chunk> {
        let mut ids = IdGenerator::new();
        std::iter::from_fn(|| poll(s, &mut ids)).collect()
    }

    fn br(c: &Chunk) -> ByteRange {
        c.head
            .byte_range()
            .expect("every chunk carries Byte-Range (4975-022)")
    }

    fn body(n: usize) -> Bytes {
        Bytes::from((0..n).map(|i| (i % 251) as u8).collect::<Vec<_>>())
    }

    #[test]
    fn splits_a_known_message() {
        // 4975-020, 4975-021, 4975-023, 4975-024, 4975-025, 4975-030, 4975-032
        let b = body(5000);
        let mut s = sender(1024);
        let key = s.send(template("msg1"), b.clone()).expect("accepted");
        assert_eq!(s.len(), 1);
        let chunks = drain(&mut s);
        assert!(s.is_empty());
        assert_eq!(chunks.len(), 5);
        let mut tids = HashSet::new();
        for (i, c) in chunks.iter().enumerate() {
            let start = i as u64 * 1024 + 1;
            let end = (start + 1023).min(5000);
            assert_eq!(c.key, key);
            assert_eq!(
                br(c),
                ByteRange {
                    start,
                    end: Some(end),
                    total: Some(5000)
                }
            );
            assert_eq!(c.range_start(), start);
            assert_eq!(&c.body[..], &b[start as usize - 1..end as usize]);
            assert_eq!(c.flag, if i == 4 { Flag::Last } else { Flag::More });
            assert_eq!(c.head.message_id().map(|m| &**m), Some("msg1"));
            assert!(c.head.success_report());
            assert_eq!(c.head.failure_report(), FailureReport::Partial);
            assert_eq!(c.head.content_type().map(|m| &**m), Some("text/plain"));
            assert!(tids.insert(c.head.tid), "each chunk has a new tid");
            // Zero-copy: the chunk body points into the message body.
            assert_eq!(c.body.as_ptr(), b[start as usize - 1..].as_ptr());
        }
        // Exactly one Byte-Range header per chunk, Content-Type last (4975-005).
        let c = &chunks[0];
        assert_eq!(
            c.head
                .headers
                .iter()
                .filter(|h| matches!(h, Header::ByteRange(_)))
                .count(),
            1
        );
        assert!(matches!(
            c.head.headers.last(),
            Some(Header::ContentType(_))
        ));
    }

    #[test]
    fn chunks_above_2048_have_star_end() {
        // 4975-024, 4975-027
        let mut s = sender(3000);
        s.send(template("msg1"), body(6100)).expect("accepted");
        let chunks = drain(&mut s);
        let ranges: Vec<_> = chunks.iter().map(br).collect();
        assert_eq!(
            ranges,
            vec![
                ByteRange {
                    start: 1,
                    end: None,
                    total: Some(6100)
                },
                ByteRange {
                    start: 3001,
                    end: None,
                    total: Some(6100)
                },
                ByteRange {
                    start: 6001,
                    end: Some(6100),
                    total: Some(6100)
                },
            ]
        );
        assert!(chunks[0].is_interruptible());
        assert!(!chunks[2].is_interruptible());
        // Exactly 2048 octets is not "larger than 2048".
        let mut s = sender(2048);
        s.send(template("msg2"), body(2048)).expect("accepted");
        let c = drain(&mut s);
        assert_eq!(br(&c[0]), ByteRange::whole(2048));
    }

    #[test]
    fn default_chunk_size_is_16k() {
        let mut s = ChunkSender::default();
        assert_eq!(s.config().chunk_size, DEFAULT_CHUNK_SIZE);
        s.send(template("msg1"), body(40_000)).expect("accepted");
        let lens: Vec<_> = drain(&mut s).iter().map(|c| c.body.len()).collect();
        assert_eq!(lens, vec![16384, 16384, 40_000 - 32768]);
    }

    #[test]
    fn empty_message_is_1_0_0() {
        // 4975-026
        let mut s = sender(100);
        s.send(template("msg1"), Bytes::new()).expect("accepted");
        let c = drain(&mut s);
        assert_eq!(c.len(), 1);
        assert_eq!(
            br(&c[0]),
            ByteRange {
                start: 1,
                end: Some(0),
                total: Some(0)
            }
        );
        assert_eq!(c[0].flag, Flag::Last);
        assert!(c[0].body.is_empty());
        // With Content-Type it keeps an (empty) body section.
        let mut out = BytesMut::new();
        c[0].write(&mut out);
        assert!(
            out.ends_with(
                format!("text/plain\r\n\r\n\r\n-------{}$\r\n", c[0].head.tid).as_bytes()
            )
        );
    }

    #[test]
    fn round_robin_between_messages() {
        // 4975-033
        let mut s = sender(100);
        let a = s.send(template("msga"), body(300)).expect("accepted");
        let b = s.send(template("msgb"), body(150)).expect("accepted");
        let c = s.send(template("msgc"), body(250)).expect("accepted");
        let order: Vec<_> = drain(&mut s)
            .iter()
            .map(|ch| (ch.key, ch.range_start(), ch.flag))
            .collect();
        assert_eq!(
            order,
            vec![
                (a, 1, Flag::More),
                (b, 1, Flag::More),
                (c, 1, Flag::More),
                (a, 101, Flag::More),
                (b, 101, Flag::Last),
                (c, 101, Flag::More),
                (a, 201, Flag::Last),
                (c, 201, Flag::Last),
            ]
        );
    }

    #[test]
    fn a_new_message_joins_the_rotation() {
        let mut s = sender(10);
        let mut ids = IdGenerator::new();
        let a = s.send(template("msga"), body(50)).expect("accepted");
        assert_eq!(poll(&mut s, &mut ids).map(|c| c.key), Some(a));
        let b = s.send(template("msgb"), body(50)).expect("accepted");
        let keys: Vec<_> = (0..4)
            .filter_map(|_| poll(&mut s, &mut ids))
            .map(|c| c.key)
            .collect();
        assert_eq!(keys, vec![a, b, a, b]);
    }

    #[test]
    fn interruption_resumes_with_new_tid() {
        // 4975-028, 4975-029
        let b = body(10_000);
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        let key = s.send(template("msg1"), b.clone()).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert!(c1.is_interruptible());
        let tid1 = c1.head.tid;
        assert_eq!(s.interrupted(c1, 1000), Ok(()));
        assert_eq!(s.buffered(), 9000);
        let c2 = poll(&mut s, &mut ids).expect("resumed chunk");
        assert_eq!(c2.key, key);
        assert_ne!(c2.head.tid, tid1);
        assert_eq!(c2.range_start(), 1001);
        assert_eq!(
            br(&c2),
            ByteRange {
                start: 1001,
                end: None,
                total: Some(10_000)
            }
        );
        assert_eq!(&c2.body[..], &b[1000..5096]);
        assert_eq!(c2.head.message_id().map(|m| &**m), Some("msg1"));
        let rest = drain(&mut s);
        let starts: Vec<_> = rest
            .iter()
            .map(|c| (c.range_start(), c.body.len(), c.flag))
            .collect();
        assert_eq!(
            starts,
            vec![(5097, 4096, Flag::More), (9193, 808, Flag::Last)]
        );
    }

    #[test]
    fn interrupting_the_last_chunk_brings_the_message_back() {
        // 4975-029
        let b = body(3000);
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        let key = s.send(template("msg1"), b.clone()).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(c1.flag, Flag::Last);
        assert!(s.is_empty());
        let tid1 = c1.head.tid;
        assert_eq!(s.interrupted(c1.clone(), 2500), Ok(()));
        assert_eq!(s.len(), 1);
        // Interrupting the same chunk again is refused.
        assert_eq!(s.interrupted(c1, 2000), Err(SendError::Stale));
        let c2 = poll(&mut s, &mut ids).expect("rest");
        assert_eq!((c2.key, c2.range_start(), c2.flag), (key, 2501, Flag::Last));
        assert_ne!(c2.head.tid, tid1);
        assert_eq!(
            br(&c2),
            ByteRange {
                start: 2501,
                end: Some(3000),
                total: Some(3000)
            }
        );
        assert_eq!(&c2.body[..], &b[2500..]);
        assert!(s.is_empty());
    }

    #[test]
    fn interrupt_after_everything_sent_ends_the_message() {
        // The writer wrote the whole body of the final chunk but ended it with `+` (4975-028):
        // the receiver still needs the `$`, so an empty `$` chunk follows (4975-029).
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        let key = s.send(template("msg1"), body(3000)).expect("accepted");
        let c = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(c.flag, Flag::Last);
        assert_eq!(s.interrupted(c.clone(), 3000), Ok(()));
        let end = poll(&mut s, &mut ids).expect("the end of the message");
        assert_eq!((end.key, end.flag), (key, Flag::Last));
        assert!(end.body.is_empty());
        assert_ne!(end.head.tid, c.head.tid);
        assert_eq!(
            br(&end),
            ByteRange {
                start: 3001,
                end: Some(3000),
                total: Some(3000)
            }
        );
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        // A `+` chunk that went out whole needs nothing: the message goes on where it was.
        let mut s = sender(100);
        s.send(template("msg2"), body(300)).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(c1.flag, Flag::More);
        assert_eq!(s.interrupted(c1, 100), Ok(()));
        let rest: Vec<_> = drain(&mut s)
            .iter()
            .map(|c| (c.range_start(), c.body.len(), c.flag))
            .collect();
        assert_eq!(rest, [(101, 100, Flag::More), (201, 100, Flag::Last)]);
    }

    #[test]
    fn stale_interruption_is_refused() {
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        s.send(template("msg1"), body(300)).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        let c2 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(s.interrupted(c1, 10), Err(SendError::Stale));
        assert_eq!(s.interrupted(c2, 10), Ok(()));
        let c = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!((c.range_start(), c.body.len()), (111, 100));
    }

    #[test]
    fn abort_between_chunks_sends_empty_hash_chunk() {
        // 4975-038
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        let key = s.send(template("msg1"), body(500)).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        let c2 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(c2.range_start(), 101);
        drop(c1);
        assert!(s.abort(key));
        assert!(s.is_aborted(key));
        assert_eq!(s.buffered(), 0);
        let c3 = poll(&mut s, &mut ids).expect("abort chunk");
        assert_eq!(c3.flag, Flag::Abort);
        assert!(c3.body.is_empty());
        assert_eq!(c3.range_start(), 201);
        assert_eq!(
            br(&c3),
            ByteRange {
                start: 201,
                end: Some(200),
                total: Some(500)
            }
        );
        assert_eq!(c3.head.message_id().map(|m| &**m), Some("msg1"));
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        // The `#` chunk may still be in flight: aborting again is accepted and sends nothing
        // unless that chunk is cut.
        assert!(s.abort(key));
        assert!(poll(&mut s, &mut ids).is_none());
        // A message never opened is unknown.
        assert!(!s.abort(MessageKey(999)));
        assert!(!s.cancel(MessageKey(999)));
    }

    #[test]
    fn abort_before_any_chunk_sends_nothing() {
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        let a = s.send(template("msga"), body(500)).expect("accepted");
        let b = s.send(template("msgb"), body(50)).expect("accepted");
        assert!(s.abort(a));
        let c = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!((c.key, c.flag), (b, Flag::Last));
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn abort_while_a_chunk_is_in_flight() {
        // 4975-038: the writer cut the in-flight chunk with `+` (4975-028) after 500 octets; the
        // receiver then gets an empty `#` chunk starting at octet 501, under a new tid, and
        // nothing else of the message.
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        let key = s.send(template("msg1"), body(10_000)).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert!(c1.is_interruptible());
        assert!(s.failed(key, StatusCode::BAD_REQUEST));
        assert!(s.is_aborted(key));
        assert_eq!(s.buffered(), 0);
        assert_eq!(s.interrupted(c1.clone(), 500), Ok(()));
        let c2 = poll(&mut s, &mut ids).expect("abort chunk");
        assert_eq!((c2.key, c2.flag), (key, Flag::Abort));
        assert!(c2.body.is_empty());
        assert_ne!(c2.head.tid, c1.head.tid, "a new transaction id");
        assert_eq!(c2.range_start(), 501);
        assert_eq!(
            br(&c2),
            ByteRange {
                start: 501,
                end: Some(500),
                total: Some(10_000)
            }
        );
        assert_eq!(c2.head.message_id().map(|m| &**m), Some("msg1"));
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        assert_eq!(s.interrupted(c1, 500), Err(SendError::Stale));
        assert_eq!(s.interrupted(c2, 0), Ok(()), "an abort chunk is final");
        let c3 = poll(&mut s, &mut ids).expect("the `#` again, since it was cut with `+`");
        assert_eq!((br(&c3).start, c3.flag), (501, Flag::Abort));
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn abort_of_a_streamed_message_while_a_chunk_is_in_flight() {
        // 4975-038 with total `*`: the `#` chunk starts after the cut, total still `*`.
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        let key = s.open(template("msg1"), None).expect("open");
        s.push_body(key, body(5000)).expect("push");
        let c1 = poll(&mut s, &mut ids).expect("a whole chunk");
        assert!(s.abort(key));
        assert_eq!(s.push_body(key, body(10)), Err(SendError::Aborted));
        // The whole body went out before the writer could cut: `#` right after it.
        assert_eq!(s.interrupted(c1, 4096), Ok(()));
        let c2 = poll(&mut s, &mut ids).expect("abort chunk");
        assert_eq!(
            (br(&c2), c2.flag),
            (
                ByteRange {
                    start: 4097,
                    end: Some(4096),
                    total: None
                },
                Flag::Abort
            )
        );
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn abort_while_the_final_chunk_is_in_flight() {
        // 4975-038: the whole message is one `$` chunk, already polled; a failure arrives while
        // it is written and the writer cuts it with `+`: an empty `#` chunk follows.
        let mut s = sender(DEFAULT_CHUNK_SIZE);
        let mut ids = IdGenerator::new();
        let key = s.send(template("msg1"), body(10_000)).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(c1.flag, Flag::Last);
        assert!(s.is_empty() && !s.contains(key));
        assert!(s.failed(key, StatusCode::BAD_REQUEST));
        assert!(s.is_aborted(key));
        assert!(
            poll(&mut s, &mut ids).is_none(),
            "nothing unless the chunk is cut"
        );
        assert_eq!(s.interrupted(c1.clone(), 3000), Ok(()));
        let c2 = poll(&mut s, &mut ids).expect("abort chunk");
        assert_eq!((c2.key, c2.flag), (key, Flag::Abort));
        assert!(c2.body.is_empty());
        assert_ne!(c2.head.tid, c1.head.tid);
        assert_eq!(
            br(&c2),
            ByteRange {
                start: 3001,
                end: Some(3000),
                total: Some(10_000)
            }
        );
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        assert_eq!(s.interrupted(c1, 3000), Err(SendError::Stale));
        // The same for the in-flight chunk of a segment ended by `finish_with(+)`.
        let mut s = sender(3000);
        let key = s.open_at(template("msg2"), 1, None).expect("open");
        s.push_body(key, body(3000)).expect("push");
        let c1 = poll(&mut s, &mut ids).expect("a whole chunk");
        s.finish_with(key, Flag::More).expect("nothing left");
        assert!(s.abort(key));
        assert_eq!(s.interrupted(c1, 2049), Ok(()));
        let c2 = poll(&mut s, &mut ids).expect("abort chunk");
        assert_eq!(
            (br(&c2), c2.flag),
            (
                ByteRange {
                    start: 2050,
                    end: Some(2049),
                    total: None
                },
                Flag::Abort
            )
        );
        assert!(poll(&mut s, &mut ids).is_none());
    }

    #[test]
    fn cancel_while_the_final_chunk_is_in_flight() {
        // 4975-068: a 413 while the final chunk is written; the writer cuts it with `+`; the
        // rest is not resumed, and no `#` is sent either.
        let mut s = sender(DEFAULT_CHUNK_SIZE);
        let mut ids = IdGenerator::new();
        let key = s.send(template("msg1"), body(10_000)).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert!(s.failed(key, StatusCode::TOO_LARGE));
        assert!(s.is_aborted(key));
        assert!(!s.cancel(key), "cancelled already");
        assert!(!s.abort(key), "a cancelled message is not aborted");
        assert_eq!(s.interrupted(c1.clone(), 3000), Ok(()));
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        assert_eq!(s.buffered(), 0);
        assert!(!s.is_aborted(key));
        assert_eq!(s.interrupted(c1, 3000), Err(SendError::Stale));
    }

    #[test]
    fn ended_messages_are_remembered_within_a_bound() {
        // After more than GONE_MEMORY messages ended, the oldest is forgotten: it can no longer
        // be aborted, and its final chunk, if cut, is still resumed (4975-029).
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        let old = s.send(template("msg0"), body(3000)).expect("accepted");
        let c_old = poll(&mut s, &mut ids).expect("chunk");
        for i in 0..GONE_MEMORY {
            s.send(template(&format!("msgn{i}")), body(10))
                .expect("accepted");
            assert!(poll(&mut s, &mut ids).is_some());
        }
        assert_eq!(s.gone.len(), GONE_MEMORY);
        assert!(!s.abort(old));
        assert!(!s.is_aborted(old));
        assert_eq!(s.interrupted(c_old, 1000), Ok(()));
        let rest = poll(&mut s, &mut ids).expect("resumed");
        assert_eq!((rest.range_start(), rest.flag), (1001, Flag::Last));
        assert_eq!(s.gone.len(), GONE_MEMORY);
    }

    #[test]
    fn abort_of_a_queued_message_in_the_rotation() {
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        let a = s.send(template("msga"), body(300)).expect("accepted");
        let b = s.send(template("msgb"), body(300)).expect("accepted");
        assert_eq!(poll(&mut s, &mut ids).map(|c| c.key), Some(a));
        assert_eq!(poll(&mut s, &mut ids).map(|c| c.key), Some(b));
        assert!(s.abort(a));
        let rest: Vec<_> = drain(&mut s)
            .iter()
            .map(|c| (c.key, c.range_start(), c.flag))
            .collect();
        assert_eq!(
            rest,
            vec![
                (a, 101, Flag::Abort),
                (b, 101, Flag::More),
                (b, 201, Flag::Last)
            ]
        );
    }

    #[test]
    fn cancel_after_413_sends_nothing_more() {
        // 4975-068
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        let key = s.send(template("msg1"), body(500)).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert!(s.failed(key, StatusCode::TOO_LARGE));
        assert!(s.is_aborted(key));
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        // The in-flight chunk, cut with `+`, is taken back and nothing more is sent: the
        // receiver ended the message when it answered 413.
        assert_eq!(s.interrupted(c1.clone(), 50), Ok(()));
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        assert!(!s.is_aborted(key));
        assert!(!s.cancel(key));
        assert_eq!(s.interrupted(c1, 50), Err(SendError::Stale));
        // The same with an interruptible chunk cut in the middle.
        let mut s = sender(4096);
        let key = s.send(template("msg2"), body(10_000)).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert!(c1.is_interruptible());
        assert!(s.failed(key, StatusCode::TOO_LARGE));
        assert_eq!(s.interrupted(c1, 3000), Ok(()));
        assert!(poll(&mut s, &mut ids).is_none());
        assert!(s.is_empty());
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn streamed_message_with_unknown_total() {
        // 4975-025, 4975-030
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        let key = s.open(template("msg1"), None).expect("accepted");
        assert!(poll(&mut s, &mut ids).is_none(), "nothing buffered yet");
        s.push_body(key, body(60)).expect("push");
        assert!(
            poll(&mut s, &mut ids).is_none(),
            "less than a chunk buffered"
        );
        s.push_body(key, body(60)).expect("push");
        let c1 = poll(&mut s, &mut ids).expect("a whole chunk is buffered");
        assert_eq!(
            br(&c1),
            ByteRange {
                start: 1,
                end: Some(100),
                total: None
            }
        );
        assert_eq!(c1.flag, Flag::More);
        let mut want = body(60).to_vec();
        want.extend_from_slice(&body(40));
        assert_eq!(&c1.body[..], &want[..], "spanning two pieces");
        assert!(poll(&mut s, &mut ids).is_none(), "20 octets wait");
        s.push_body(key, body(5)).expect("push");
        s.finish(key).expect("finish");
        assert_eq!(s.push_body(key, body(1)), Err(SendError::Finished));
        let c2 = poll(&mut s, &mut ids).expect("rest");
        assert_eq!(
            br(&c2),
            ByteRange {
                start: 101,
                end: Some(125),
                total: Some(125)
            }
        );
        assert_eq!(c2.flag, Flag::Last);
        assert!(s.is_empty());
    }

    #[test]
    fn streamed_message_ends_with_empty_last_chunk() {
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        let key = s.open(template("msg1"), None).expect("accepted");
        s.push_body(key, body(200)).expect("push");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        let c2 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!((c1.flag, c2.flag), (Flag::More, Flag::More));
        // Zero-copy: both chunks come from the one pushed piece.
        assert_eq!(c2.body.as_ptr(), c1.body.as_ptr().wrapping_add(100));
        assert!(poll(&mut s, &mut ids).is_none());
        s.finish(key).expect("finish");
        let c3 = poll(&mut s, &mut ids).expect("empty last chunk");
        assert_eq!(c3.flag, Flag::Last);
        assert!(c3.body.is_empty());
        assert_eq!(
            br(&c3),
            ByteRange {
                start: 201,
                end: Some(200),
                total: Some(200)
            }
        );
        assert!(s.is_empty());
    }

    #[test]
    fn streamed_message_with_declared_total() {
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        let key = s.open(template("msg1"), Some(150)).expect("accepted");
        s.push_body(key, body(120)).expect("push");
        assert_eq!(
            s.push_body(key, body(31)),
            Err(SendError::ExceedsTotal {
                total: 150,
                pushed: 151
            })
        );
        assert_eq!(
            s.finish(key),
            Err(SendError::Short {
                total: 150,
                pushed: 120
            })
        );
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(
            br(&c1),
            ByteRange {
                start: 1,
                end: Some(100),
                total: Some(150)
            }
        );
        assert!(poll(&mut s, &mut ids).is_none());
        // Reaching the declared total finishes the body.
        s.push_body(key, body(30)).expect("push");
        let c2 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(
            br(&c2),
            ByteRange {
                start: 101,
                end: Some(150),
                total: Some(150)
            }
        );
        assert_eq!(c2.flag, Flag::Last);
        assert_eq!(s.push_body(key, body(1)), Err(SendError::UnknownMessage));
    }

    #[test]
    fn open_with_zero_total_is_an_empty_message() {
        let mut s = sender(100);
        s.open(template("msg1"), Some(0)).expect("accepted");
        let c = drain(&mut s);
        assert_eq!(c.len(), 1);
        assert_eq!(br(&c[0]), ByteRange::whole(0));
    }

    #[test]
    fn message_id_added_when_missing() {
        // 4975-039, 4975-020
        let mut head = template("xxxx");
        head.headers.retain(|h| !matches!(h, Header::MessageId(_)));
        let mut s = sender(10);
        let key = s.send(head, body(25)).expect("accepted");
        assert_eq!(s.message_id(key), None);
        let chunks = drain(&mut s);
        let mid = chunks[0].head.message_id().cloned().expect("generated");
        assert!(crate::ident::is_ident(mid.as_bytes()));
        assert!(chunks.iter().all(|c| c.head.message_id() == Some(&mid)));
    }

    #[test]
    fn tid_never_taken() {
        // 4975-004
        let mut s = sender(10);
        let mut ids = IdGenerator::new();
        s.send(template("msg1"), body(100)).expect("accepted");
        let mut outstanding: HashSet<Ident> = HashSet::new();
        let mut rejected = 0;
        while let Some(c) = s.poll_chunk(&mut ids, |t| {
            // Reject every other candidate, and anything outstanding.
            rejected += 1;
            rejected % 2 == 1 || outstanding.contains(t)
        }) {
            assert!(!outstanding.contains(&c.head.tid));
            outstanding.insert(c.head.tid);
        }
        assert_eq!(outstanding.len(), 10);
        assert!(rejected >= 20);
    }

    #[test]
    fn tid_not_in_body() {
        // 4975-011 through `poll_chunk`: each chunk's body holds the end-lines of the first two
        // candidates drawn for it, so both are skipped and the third is used.
        let mut body = Vec::new();
        for c in 0..3 {
            let mut chunk = format!("x\r\n-------bad{c}aaaa$\r\n -------bad{c}bbbb+").into_bytes();
            chunk.resize(100, b'.');
            body.extend_from_slice(&chunk);
        }
        let body = Bytes::from(body);
        let mut candidates = (0..3).flat_map(|c| {
            [
                format!("bad{c}aaaa"),
                format!("bad{c}bbbb"),
                format!("good{c}ccc"),
            ]
        });
        let mut drawn = Vec::new();
        let mut s = sender(100);
        s.send(template("msg1"), body.clone()).expect("accepted");
        let mut ids = IdGenerator::new();
        let mut chunks = Vec::new();
        while let Some(c) = s.poll_chunk_with(&mut ids, &mut |_| {
            let tid: Ident = candidates
                .next()
                .expect("enough candidates")
                .parse()
                .unwrap();
            drawn.push(tid);
            tid
        }) {
            chunks.push(c);
        }
        assert_eq!(chunks.len(), 3);
        assert_eq!(drawn.len(), 9, "two candidates skipped per chunk");
        for (c, chunk) in chunks.iter().enumerate() {
            assert_eq!(&*chunk.head.tid, format!("good{c}ccc"));
            assert!(!encode::end_line_in_body(&chunk.head.tid, &chunk.body));
            for bad in [format!("bad{c}aaaa"), format!("bad{c}bbbb")] {
                assert!(
                    encode::end_line_in_body(&bad, &chunk.body),
                    "{bad} is in the body"
                );
            }
        }
    }

    #[test]
    fn tid_redrawn_when_body_contains_its_end_line() {
        // 4975-011: the retry loop, with a deterministic id source. The body holds the end-lines
        // of the first two candidates, so the third is chosen.
        let body = b"a\r\n-------aaaa1111$\r\nb-------bbbb2222+ c-------cccc3333x";
        let mut candidates = ["aaaa1111", "bbbb2222", "cccc3333", "dddd4444"].into_iter();
        let mut draws = 0;
        let tid = pick_tid(body, || {
            draws += 1;
            candidates
                .next()
                .expect("enough candidates")
                .parse()
                .unwrap()
        });
        assert_eq!(&*tid, "cccc3333");
        assert_eq!(draws, 3);
        assert!(!encode::end_line_in_body(&tid, body));
    }

    fn no_content_type(mid: &str) -> Head {
        let mut h = template(mid);
        h.headers.retain(|h| !matches!(h, Header::ContentType(_)));
        h
    }

    #[test]
    fn a_body_needs_content_type() {
        // 4975-007: a body section requires Content-Type; a peer answers 400 to every chunk.
        let mut s = sender(100);
        assert_eq!(
            s.send(no_content_type("msg1"), body(10)),
            Err(SendError::NoContentType)
        );
        assert_eq!(
            s.open(no_content_type("msg1"), Some(10)),
            Err(SendError::NoContentType)
        );
        assert_eq!(
            s.open_at(no_content_type("msg1"), 5, Some(10)),
            Err(SendError::NoContentType)
        );
        assert!(s.is_empty());
        // Without a body it is fine: the chunk has no body section (4975-009).
        s.send(no_content_type("msg1"), Bytes::new())
            .expect("empty body");
        let c = drain(&mut s);
        assert_eq!(c.len(), 1);
        assert!(!c[0].has_body_section());
        // A streamed message of unknown size: refused when a non-empty piece is pushed.
        let key = s.open(no_content_type("msg2"), None).expect("size unknown");
        assert_eq!(s.push_body(key, body(1)), Err(SendError::NoContentType));
        s.push_body(key, Bytes::new()).expect("empty piece");
        s.finish(key).expect("finish");
        let c = drain(&mut s);
        assert_eq!(c.len(), 1);
        assert!(c[0].body.is_empty() && !c[0].has_body_section());
        assert_eq!(br(&c[0]), ByteRange::whole(0));
    }

    #[test]
    fn open_at_counts_from_the_start_octet() {
        // RFC 4976 §7.3.1, 4976-033: re-chunking a forwarded chunk that starts at octet 1001.
        let b = body(2500);
        let mut s = sender(1000);
        let key = s
            .open_at(template("msg1"), 1001, Some(10_000))
            .expect("open");
        for p in b.chunks(700) {
            s.push_body(key, Bytes::copy_from_slice(p)).expect("push");
        }
        // Reaching no total finishes nothing: the upstream chunk's end-line decides.
        s.finish_with(key, Flag::More).expect("finish with +");
        let chunks = drain(&mut s);
        let got: Vec<_> = chunks.iter().map(|c| (br(c), c.flag)).collect();
        let range = |start, end| ByteRange {
            start,
            end: Some(end),
            total: Some(10_000),
        };
        assert_eq!(
            got,
            vec![
                (range(1001, 2000), Flag::More),
                (range(2001, 3000), Flag::More),
                (range(3001, 3500), Flag::More),
            ]
        );
        assert_eq!(
            chunks.iter().map(|c| c.range_start()).collect::<Vec<_>>(),
            [1001, 2001, 3001]
        );
        let sent: Vec<u8> = chunks.iter().flat_map(|c| c.body.to_vec()).collect();
        assert_eq!(sent, b.to_vec());
        assert!(s.is_empty());
        // The segment that ends the message: `$`, total fixed by the last octet.
        let key = s.open_at(template("msg1"), 3501, None).expect("open");
        s.push_body(key, body(20)).expect("push");
        assert_eq!(
            s.finish_with(key, Flag::Last),
            Ok(()),
            "no total declared: nothing is short"
        );
        let c = drain(&mut s);
        assert_eq!(
            (br(&c[0]), c[0].flag),
            (
                ByteRange {
                    start: 3501,
                    end: Some(3520),
                    total: Some(3520)
                },
                Flag::Last
            )
        );
        // A declared total is checked against absolute positions.
        let key = s.open_at(template("msg2"), 11, Some(20)).expect("open");
        assert_eq!(
            s.push_body(key, body(11)),
            Err(SendError::ExceedsTotal {
                total: 20,
                pushed: 21
            })
        );
        s.push_body(key, body(5)).expect("push");
        assert_eq!(
            s.finish(key),
            Err(SendError::Short {
                total: 20,
                pushed: 15
            })
        );
        s.push_body(key, body(5)).expect("push");
        assert!(
            poll(&mut s, &mut IdGenerator::new()).is_none(),
            "not finished by the total"
        );
        s.finish(key).expect("finish");
        let c = drain(&mut s);
        assert_eq!((br(&c[0]), c[0].flag), (range20(11, 20), Flag::Last));
    }

    fn range20(start: u64, end: u64) -> ByteRange {
        ByteRange {
            start,
            end: Some(end),
            total: Some(20),
        }
    }

    #[test]
    fn open_at_refuses_a_bad_start() {
        let mut s = sender(100);
        assert_eq!(
            s.open_at(template("msg1"), 0, None),
            Err(SendError::BadStart {
                start: 0,
                total: None
            })
        );
        assert_eq!(
            s.open_at(template("msg1"), 12, Some(10)),
            Err(SendError::BadStart {
                start: 12,
                total: Some(10)
            })
        );
        // Right after the last octet: an empty segment.
        let key = s
            .open_at(template("msg1"), 11, Some(10))
            .expect("empty segment");
        s.finish_with(key, Flag::Last).expect("finish");
        let c = drain(&mut s);
        assert_eq!(
            (br(&c[0]), c[0].flag),
            (
                ByteRange {
                    start: 11,
                    end: Some(10),
                    total: Some(10)
                },
                Flag::Last
            )
        );
        assert!(s.is_empty());
    }

    #[test]
    fn finish_with_plus() {
        let mut s = sender(100);
        let mut ids = IdGenerator::new();
        // Nothing pushed nor sent: one empty `+` chunk.
        let key = s.open_at(template("msg1"), 51, None).expect("open");
        s.finish_with(key, Flag::More).expect("finish");
        let c = drain(&mut s);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (br(&c[0]), c[0].flag),
            (
                ByteRange {
                    start: 51,
                    end: Some(50),
                    total: None
                },
                Flag::More
            )
        );
        // Everything already sent with `+`: nothing more is sent.
        let key = s.open_at(template("msg2"), 1, None).expect("open");
        s.push_body(key, body(100)).expect("push");
        let c1 = poll(&mut s, &mut ids).expect("a whole chunk");
        assert_eq!(c1.flag, Flag::More);
        s.finish_with(key, Flag::More).expect("finish");
        assert!(s.is_empty() && poll(&mut s, &mut ids).is_none());
        // ... but the in-flight chunk, if interrupted, is resumed and still ends with `+`.
        assert_eq!(s.interrupted(c1.clone(), 40), Ok(()));
        let c2 = poll(&mut s, &mut ids).expect("the rest");
        assert_eq!(
            (br(&c2), c2.flag),
            (
                ByteRange {
                    start: 41,
                    end: Some(100),
                    total: None
                },
                Flag::More
            )
        );
        assert_eq!(&c2.body[..], &c1.body[40..]);
        assert!(s.is_empty());
        assert_eq!(s.interrupted(c1, 50), Err(SendError::Stale));
        // Abort through finish_with.
        let key = s.open(template("msg3"), None).expect("open");
        s.push_body(key, body(150)).expect("push");
        let _ = poll(&mut s, &mut ids).expect("chunk");
        s.finish_with(key, Flag::Abort).expect("abort");
        let c = drain(&mut s);
        assert_eq!(c.iter().map(|c| c.flag).collect::<Vec<_>>(), [Flag::Abort]);
        assert_eq!(
            s.finish_with(key, Flag::More),
            Err(SendError::UnknownMessage)
        );
    }

    #[test]
    fn interrupting_the_final_plus_chunk_keeps_the_plus() {
        // 4975-029 for a segment ended with `+`: the rest comes back and still ends with `+`.
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        let key = s
            .open_at(template("msg1"), 10_001, Some(50_000))
            .expect("open");
        s.push_body(key, body(3000)).expect("push");
        s.finish_with(key, Flag::More).expect("finish");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(c1.flag, Flag::More);
        assert!(s.is_empty());
        assert_eq!(s.interrupted(c1.clone(), 2500), Ok(()));
        let c2 = poll(&mut s, &mut ids).expect("rest");
        assert_eq!(
            (br(&c2), c2.flag),
            (
                ByteRange {
                    start: 12_501,
                    end: Some(13_000),
                    total: Some(50_000)
                },
                Flag::More
            )
        );
        assert_eq!(&c2.body[..], &c1.body[2500..]);
        assert!(s.is_empty());
    }

    #[test]
    fn chunks_are_cut_at_piece_boundaries_instead_of_copied() {
        // 4975-030: a piece boundary at least 2048 octets into a chunk ends the chunk there.
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        let key = s.open(template("msg1"), None).expect("open");
        let pieces: Vec<Bytes> = [3000, 3000, 5000, 100, 6000].map(body).into();
        for p in &pieces {
            s.push_body(key, p.clone()).expect("push");
        }
        s.finish(key).expect("finish");
        let chunks: Vec<Chunk> = std::iter::from_fn(|| poll(&mut s, &mut ids)).collect();
        let lens: Vec<_> = chunks.iter().map(|c| c.body.len()).collect();
        // 3000 | 3000 | 4096 | 904 + 100 + 3092 copied (the rest of the 5000-octet piece is
        // too short to stand alone, 4975-030) | 2908.
        assert_eq!(lens, [3000, 3000, 4096, 4096, 2908]);
        assert_eq!(chunks[0].body.as_ptr(), pieces[0].as_ptr(), "zero-copy");
        assert_eq!(chunks[1].body.as_ptr(), pieces[1].as_ptr(), "zero-copy");
        assert_eq!(chunks[2].body.as_ptr(), pieces[2].as_ptr(), "zero-copy");
        assert_eq!(
            chunks[4].body.as_ptr(),
            pieces[4][3092..].as_ptr(),
            "zero-copy"
        );
        let all: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
        let sent: Vec<u8> = chunks.iter().flat_map(|c| c.body.to_vec()).collect();
        assert_eq!(sent, all);
        let flags: Vec<_> = chunks.iter().map(|c| c.flag).collect();
        assert_eq!(flags.last(), Some(&Flag::Last));
        assert!(flags[..4].iter().all(|&f| f == Flag::More));
    }

    #[test]
    fn interrupted_rest_is_given_back_in_place() {
        // 4975-029: the resumed chunk is a full-size zero-copy slice again.
        let b = body(10_000);
        let mut s = sender(4096);
        let mut ids = IdGenerator::new();
        s.send(template("msg1"), b.clone()).expect("accepted");
        let c1 = poll(&mut s, &mut ids).expect("chunk");
        assert_eq!(s.interrupted(c1, 1000), Ok(()));
        let c2 = poll(&mut s, &mut ids).expect("resumed");
        assert_eq!(c2.body.len(), 4096);
        assert_eq!(c2.body.as_ptr(), b[1000..].as_ptr());
        // A copied chunk's rest becomes a piece of its own.
        let key = s.open(template("msg2"), None).expect("open");
        s.push_body(key, body(100)).expect("push");
        s.push_body(key, body(5000)).expect("push");
        s.finish(key).expect("finish");
        let mut rest = drain(&mut s);
        rest.retain(|c| c.key == key);
        let lens: Vec<_> = rest.iter().map(|c| c.body.len()).collect();
        assert_eq!(lens, [4096, 1004]);
    }
}
