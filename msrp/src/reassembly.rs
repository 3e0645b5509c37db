//! Message reassembly on the receiving side (RFC 4975 §7.3.1): chunks in any order, overlaps,
//! `*` totals, aborts, size limits and a chunk-reception timeout.
//!
//! Sans-IO and streaming: the caller feeds the events of a [`crate::Decoder`] for each SEND
//! chunk — [`Reassembler::begin`] on `Event::Head`, [`Reassembler::body`] on every
//! `Event::Body`, [`Reassembler::end`] on `Event::End` — and gets the complete message back from
//! `end`. Nothing is allocated on the trust of a Byte-Range (4975-018): the buffer grows as
//! octets actually arrive, and a message that arrives as one chunk in one piece is returned
//! without any copy.
//!
//! One reassembler serves one session: Message-IDs are unique within a session (4975-039).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;

use crate::byte_range::ByteRange;
use crate::head::{Flag, Head};
use crate::status::StatusCode;

/// Most disjoint received ranges one partial message may have before it is refused (413): bounds
/// the bookkeeping an attacker can cause with many tiny out-of-order chunks.
pub const MAX_RANGES: usize = 4096;

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
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_message: 16 * 1024 * 1024,
            chunk_timeout: Duration::from_secs(30),
            max_messages: 64,
            recent_ids: 256,
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
    pub message_id: ByteString,
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
        message_id: ByteString,
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
    pub message_id: ByteString,
    /// The head of its first chunk if seen, else of the first chunk that arrived (for a
    /// failure REPORT: To-Path, From-Path, Failure-Report).
    pub head: Head,
    /// The octets received, for the failure REPORT's Byte-Range (4975-053).
    pub received: Vec<ByteRange>,
}

/// The receive state of one chunk, from its head to its end-line.
#[derive(Debug)]
pub struct ChunkCursor {
    message_id: ByteString,
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
    pub fn message_id(&self) -> &ByteString {
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

/// Received octet ranges, 0-based half-open, sorted, disjoint and not adjacent.
#[derive(Debug, Default)]
struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    fn insert(&mut self, s: u64, e: u64) {
        if s >= e {
            return;
        }
        let i = self.0.partition_point(|&(_, b)| b < s);
        let mut j = i;
        let (mut ns, mut ne) = (s, e);
        while j < self.0.len() && self.0[j].0 <= e {
            ns = ns.min(self.0[j].0);
            ne = ne.max(self.0[j].1);
            j += 1;
        }
        self.0.splice(i..j, [(ns, ne)]);
    }

    fn covers(&self, total: u64) -> bool {
        total == 0 || self.0.first() == Some(&(0, total))
    }

    fn octets(&self) -> u64 {
        self.0.iter().map(|&(s, e)| e - s).sum()
    }

    fn max_end(&self) -> u64 {
        self.0.last().map_or(0, |&(_, e)| e)
    }

    fn byte_ranges(&self, total: Option<u64>) -> Vec<ByteRange> {
        self.0
            .iter()
            .map(|&(s, e)| ByteRange {
                start: s + 1,
                end: Some(e),
                total,
            })
            .collect()
    }
}

#[derive(Debug)]
enum Data {
    /// Nothing received.
    Empty,
    /// One piece at offset `at`, kept as received (the zero-copy fast path).
    One { at: u64, bytes: Bytes },
    /// Octets 0..len, gaps zero-filled; grown as octets arrive.
    Buf(Vec<u8>),
}

#[derive(Debug)]
struct Partial {
    head: Head,
    head_is_first: bool,
    data: Data,
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
}

/// Reassembles the SEND chunks of one session into messages (RFC 4975 §7.3.1).
///
/// Chunks may arrive in any order, `+` chunks after the `$` chunk (4975-032); when chunks
/// overlap the octets received last win (4975-037); a chunk's length is what actually arrived,
/// not its range-end (4975-036); any chunk size from 0 octets up to the message limit is taken
/// (4975-031).
#[derive(Debug)]
pub struct Reassembler {
    cfg: ReassemblyConfig,
    partials: HashMap<ByteString, Partial>,
    recent: VecDeque<ByteString>,
    recent_set: HashSet<ByteString>,
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
            self.partials.remove(id);
            return Err(ReassemblyError::TooLarge { limit: max });
        }
        match self.partials.get_mut(id) {
            Some(p) => {
                if range.start == 1 && !p.head_is_first {
                    p.head = head.clone();
                    p.head_is_first = true;
                }
                p.activity = now;
                p.touched = false;
            }
            None => {
                if self.partials.len() >= self.cfg.max_messages {
                    return Err(ReassemblyError::TooManyMessages {
                        limit: self.cfg.max_messages,
                    });
                }
                let late = self.recent_set.contains(id);
                self.partials.insert(
                    id.clone(),
                    Partial {
                        head: head.clone(),
                        head_is_first: range.start == 1,
                        data: Data::Empty,
                        have: Ranges::default(),
                        end: None,
                        activity: now,
                        touched: false,
                        late,
                    },
                );
            }
        }
        Ok(ChunkCursor {
            message_id: id.clone(),
            start: range.start,
            pos: range.start - 1,
            total: range.total,
            live: true,
        })
    }

    /// A piece of the chunk's body (`Event::Body`), written at the cursor's position; octets
    /// received last win over earlier ones (4975-037). An octet beyond `max_message` gets 413
    /// and the partial message is dropped; so does an octet past the end fixed by the `$` chunk
    /// (400). After an error the cursor is spent: its further pieces are ignored.
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
        let err = if end > self.cfg.max_message {
            Some(ReassemblyError::TooLarge {
                limit: self.cfg.max_message,
            })
        } else if p.end.is_some_and(|e| end > e) {
            Some(ReassemblyError::BadRange)
        } else {
            p.have.insert(at, end);
            (p.have.0.len() > MAX_RANGES).then_some(ReassemblyError::TooFragmented)
        };
        if let Some(e) = err {
            self.partials.remove(&cursor.message_id);
            cursor.live = false;
            return Err(e);
        }
        p.data = match std::mem::replace(&mut p.data, Data::Empty) {
            Data::Empty => Data::One { at, bytes: piece },
            Data::One { at: at0, bytes } => {
                let mut v = Vec::new();
                place(&mut v, at0, &bytes);
                place(&mut v, at, &piece);
                Data::Buf(v)
            }
            Data::Buf(mut v) => {
                place(&mut v, at, &piece);
                Data::Buf(v)
            }
        };
        p.touched = true;
        cursor.pos = end;
        Ok(())
    }

    /// Ends the chunk (`Event::End`).
    ///
    /// `#` drops the message ([`Outcome::Aborted`]). `$` fixes the total: the position of the
    /// chunk's last octet actually received (4975-035, 4975-036). The message is complete when
    /// the `$` chunk has arrived and every octet 1..=total is present, in whatever order the
    /// chunks came (4975-032).
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
                let received = p.have.octets();
                self.partials.remove(&id);
                return Ok(Outcome::Aborted {
                    message_id: id,
                    received,
                });
            }
            Flag::More => {}
            Flag::Last => {
                let fin = cursor.pos;
                if p.end.is_some_and(|e| e != fin) || p.have.max_end() > fin {
                    self.partials.remove(&id);
                    return Err(ReassemblyError::BadRange);
                }
                p.end = Some(fin);
            }
        }
        let Some(total) = p.end else {
            if p.late && p.have.octets() == 0 {
                // An empty `+` chunk of a message already delivered (an interruption that sent
                // nothing, arriving late): nothing to keep.
                self.partials.remove(&id);
            }
            return Ok(Outcome::Incomplete);
        };
        if !p.have.covers(total) {
            return Ok(Outcome::Incomplete);
        }
        let Some(p) = self.partials.remove(&id) else {
            return Ok(Outcome::Incomplete);
        };
        let body = match p.data {
            Data::Empty => Bytes::new(),
            Data::One { at: 0, bytes } => bytes,
            Data::One { at, bytes } => {
                // Unreachable when the ranges cover 0..total, but cheap to get right.
                let mut v = Vec::new();
                place(&mut v, at, &bytes);
                Bytes::from(v)
            }
            Data::Buf(mut v) => {
                v.truncate(usize::try_from(total).unwrap_or(usize::MAX));
                Bytes::from(v)
            }
        };
        let duplicate = !self.remember(&id);
        Ok(Outcome::Complete(Message {
            head: p.head,
            body,
            message_id: id,
            duplicate,
        }))
    }

    /// Records a completed Message-ID; `false` when it was already known (4975-041).
    fn remember(&mut self, id: &ByteString) -> bool {
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
        self.recent.push_back(id.clone());
        self.recent_set.insert(id.clone());
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
        self.partials.remove(message_id).is_some()
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
                    late.push(id.clone());
                } else if victim.is_none() {
                    victim = Some(id.clone());
                }
            }
        }
        for id in late {
            self.partials.remove(&id);
        }
        let id = victim?;
        let p = self.partials.remove(&id)?;
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

/// Writes `s` at offset `at` of `v`, growing it (zero-filled) as needed. Offsets are bounded by
/// `max_message` before this is called.
fn place(v: &mut Vec<u8>, at: u64, s: &[u8]) {
    let Ok(at) = usize::try_from(at) else { return };
    let end = at.saturating_add(s.len());
    if v.len() < end {
        if v.capacity() < end {
            // Grow geometrically, but never beyond what arrived.
            let want = v.capacity().saturating_mul(2).max(end);
            v.reserve_exact(want - v.len());
        }
        v.resize(end, 0);
    }
    v[at..end].copy_from_slice(s);
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
            ByteString::from_static("tid00001"),
            vec![uri("msrp://b.example.com:7777/bbb;tcp")],
            vec![uri("msrp://a.example.com:7777/aaa;tcp")],
        )
        .with(Header::MessageId(ByteString::from(mid.to_owned())))
        .with(Header::ContentType(ByteString::from_static("text/plain")));
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
            "m1",
            Some("1-5/11"),
            &[b"hel", b"lo"],
            Flag::More,
            t,
        );
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert_eq!(r.len(), 1);
        let m = complete(chunk(
            &mut r,
            "m1",
            Some("6-11/11"),
            &[b" world"],
            Flag::Last,
            t,
        ));
        assert_eq!(&m.body[..], b"hello world");
        assert_eq!(&*m.message_id, "m1");
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
            "m1",
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
        let o = chunk(&mut r, "m1", Some("7-9/*"), &[b"ghi"], Flag::Last, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert_eq!(
            r.received("m1"),
            Some(vec![ByteRange {
                start: 7,
                end: Some(9),
                total: Some(9)
            }])
        );
        let o = chunk(&mut r, "m1", Some("4-6/*"), &[b"def"], Flag::More, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        let m = complete(chunk(&mut r, "m1", Some("1-3/*"), &[b"abc"], Flag::More, t));
        assert_eq!(&m.body[..], b"abcdefghi");
        // The head of the first chunk is the message's.
        assert_eq!(m.head.byte_range().map(|b| b.start), Some(1));
    }

    #[test]
    fn overlapping_chunks_last_wins() {
        // 4975-037
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        chunk(&mut r, "m1", Some("1-6/10"), &[b"aaaaaa"], Flag::More, t).expect("ok");
        chunk(&mut r, "m1", Some("4-8/10"), &[b"bbbbb"], Flag::More, t).expect("ok");
        chunk(&mut r, "m1", Some("2-3/10"), &[b"cc"], Flag::More, t).expect("ok");
        let m = complete(chunk(
            &mut r,
            "m1",
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
        chunk(&mut r, "m1", Some("1-*/*"), &[b"0123"], Flag::More, t).expect("ok");
        // Declares 5-20 but only 3 octets arrive before `$`: the total is 7.
        let m = complete(chunk(
            &mut r,
            "m1",
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
        chunk(&mut r, "m1", Some("1-*/10"), &[b"abcd"], Flag::More, t).expect("ok");
        let m = complete(chunk(
            &mut r,
            "m1",
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
            "m1",
            Some("1-0/0"),
            &[],
            Flag::Last,
            Instant::now(),
        ));
        assert!(m.body.is_empty());
        // An empty `$` chunk after `+` chunks that carried everything.
        let t = Instant::now();
        chunk(&mut r, "m2", Some("1-3/*"), &[b"abc"], Flag::More, t).expect("ok");
        let m = complete(chunk(&mut r, "m2", Some("4-3/3"), &[], Flag::Last, t));
        assert_eq!(&m.body[..], b"abc");
    }

    #[test]
    fn abort_drops_the_message() {
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        chunk(&mut r, "m1", Some("1-4/10"), &[b"abcd"], Flag::More, t).expect("ok");
        let o = chunk(&mut r, "m1", Some("5-4/10"), &[], Flag::Abort, t);
        assert_eq!(
            o,
            Ok(Outcome::Aborted {
                message_id: ByteString::from_static("m1"),
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
            let e = r.begin(&head("m1", Some(range)), t).expect_err(range);
            assert_eq!(e, ReassemblyError::TooLarge { limit: 1000 }, "{range}");
            assert_eq!(e.status(), StatusCode::TOO_LARGE);
            assert!(r.is_empty());
        }
        // Right at the limit is fine.
        let c = r.begin(&head("m1", Some("1-1000/1000")), t).expect("ok");
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
        let mut c = r.begin(&head("m1", Some("1-10/*")), t).expect("ok");
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
        chunk(&mut r, "m1", Some("4-6/*"), &[b"def"], Flag::Last, t).expect("ok");
        let e =
            chunk(&mut r, "m1", Some("1-7/*"), &[b"abcdefg"], Flag::More, t).expect_err("past end");
        assert_eq!(e, ReassemblyError::BadRange);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(r.is_empty());
        // Two `$` chunks that disagree.
        chunk(&mut r, "m2", Some("4-6/*"), &[b"def"], Flag::Last, t).expect("ok");
        let e = chunk(&mut r, "m2", Some("4-5/*"), &[b"de"], Flag::Last, t).expect_err("two ends");
        assert_eq!(e, ReassemblyError::BadRange);
    }

    #[test]
    fn missing_message_id_is_400() {
        let mut h = head("m1", Some("1-3/3"));
        h.headers.retain(|h| !matches!(h, Header::MessageId(_)));
        let mut r = Reassembler::new(cfg());
        let e = r.begin(&h, Instant::now()).expect_err("no Message-ID");
        assert_eq!(e, ReassemblyError::MissingMessageId);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn inconsistent_programmatic_range_is_400() {
        let mut h = head("m1", None);
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
        chunk(&mut r, "m1", Some("1-3/6"), &[b"abc"], Flag::More, t0).expect("ok");
        let t1 = t0 + Duration::from_secs(4);
        chunk(&mut r, "m2", Some("1-3/6"), &[b"abc"], Flag::More, t1).expect("ok");
        assert_eq!(r.next_timeout(), Some(t0 + Duration::from_secs(10)));
        assert_eq!(r.poll_timeout(t0 + Duration::from_secs(9)), None);
        let e = r
            .poll_timeout(t0 + Duration::from_secs(10))
            .expect("m1 expired");
        assert_eq!(&*e.message_id, "m1");
        assert_eq!(
            e.received,
            vec![ByteRange {
                start: 1,
                end: Some(3),
                total: None
            }]
        );
        assert_eq!(e.head.message_id().map(|m| &**m), Some("m1"));
        assert_eq!(r.poll_timeout(t0 + Duration::from_secs(10)), None);
        assert_eq!(r.next_timeout(), Some(t1 + Duration::from_secs(10)));
        assert_eq!(
            r.poll_timeout(t1 + Duration::from_secs(10))
                .map(|e| e.message_id),
            Some("m2".into())
        );
        assert!(r.is_empty());
    }

    #[test]
    fn body_octets_keep_a_slow_chunk_alive() {
        let mut r = Reassembler::new(cfg());
        let t0 = Instant::now();
        let mut c = r.begin(&head("m1", Some("1-*/*")), t0).expect("ok");
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
        let h = head("m1", Some("1-500/500"));
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
        assert!(!complete(chunk(&mut r, "m1", None, &[b"x"], Flag::Last, t)).duplicate);
        assert!(complete(chunk(&mut r, "m1", None, &[b"x"], Flag::Last, t)).duplicate);
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
        assert!(!complete(chunk(&mut r, "m1", None, &[b"x"], Flag::Last, t)).duplicate);
    }

    #[test]
    fn late_chunks_of_a_delivered_message() {
        let mut r = Reassembler::new(cfg());
        let t = Instant::now();
        let o = chunk(&mut r, "m1", Some("3-4/4"), &[b"cd"], Flag::Last, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        complete(chunk(&mut r, "m1", Some("1-2/4"), &[b"ab"], Flag::More, t));
        // An empty `+` chunk (an interruption that sent nothing) arriving after completion
        // leaves nothing behind.
        let o = chunk(&mut r, "m1", Some("3-*/4"), &[], Flag::More, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert!(r.is_empty());
        // A non-empty late chunk is held, but times out silently.
        let o = chunk(&mut r, "m1", Some("1-2/4"), &[b"ab"], Flag::More, t);
        assert_eq!(o, Ok(Outcome::Incomplete));
        assert_eq!(r.len(), 1);
        chunk(&mut r, "m2", Some("1-2/4"), &[b"ab"], Flag::More, t).expect("ok");
        let e = r
            .poll_timeout(t + Duration::from_secs(10))
            .expect("m2 expires");
        assert_eq!(&*e.message_id, "m2");
        assert!(r.is_empty());
        // An empty `+` chunk of a message not yet delivered is kept.
        let o = chunk(&mut r, "m3", Some("1-*/4"), &[], Flag::More, t);
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
            chunk(&mut r, "m1", Some(&range), &[b"x"], Flag::More, t).expect("ok");
        }
        let range = format!("{}-*/*", 2 * MAX_RANGES + 1);
        let e = chunk(&mut r, "m1", Some(&range), &[b"x"], Flag::More, t).expect_err("fragmented");
        assert_eq!(e, ReassemblyError::TooFragmented);
        assert!(r.is_empty());
    }

    #[test]
    fn ranges_merge() {
        let mut g = Ranges::default();
        g.insert(5, 10);
        g.insert(0, 2);
        g.insert(12, 15);
        assert_eq!(g.0, vec![(0, 2), (5, 10), (12, 15)]);
        g.insert(10, 12);
        assert_eq!(g.0, vec![(0, 2), (5, 15)]);
        g.insert(1, 6);
        assert_eq!(g.0, vec![(0, 15)]);
        assert!(g.covers(15));
        assert!(!g.covers(16));
        g.insert(3, 3);
        assert_eq!(g.octets(), 15);
    }

    #[test]
    fn cursor_reports_what_arrived() {
        // 4975-053: range-end from the body actually received.
        let mut r = Reassembler::new(cfg());
        let mut c = r
            .begin(&head("m1", Some("11-*/100")), Instant::now())
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
        assert_eq!(&**c.message_id(), "m1");
    }
}
