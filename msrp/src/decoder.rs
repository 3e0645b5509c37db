//! The resumable streaming frame decoder (RFC 4975 §7.1, §9).
//!
//! The decoder turns a byte stream into [`Event`]s: one [`Event::Head`] per frame, the body as
//! [`Event::Body`] pieces as they arrive, and [`Event::End`] with the end-line flag. The header
//! block is parsed once it is complete (bounded by [`DecoderConfig::max_head`]); the body is never
//! copied or re-scanned: the end-line is looked for with `memchr::memmem`, resuming where the last
//! call stopped, and every body octet that cannot be part of an end-line is handed out at once as
//! a `Bytes` slice of the read buffer. A chunk of any size therefore passes in constant memory.

use bytes::{Buf, Bytes, BytesMut};
use bytestring::ByteString;
use memchr::memmem;

use crate::block::{Arena, Block};
use crate::brief_cache::BriefCache;
use crate::error::{DecodeError, ErrorKind};
use crate::head::{
    Flag, Head, Method, StartLine, block_is_plain_ascii, parse_head, split_start_line,
};
use crate::head_cache::{HeadCache, patched};
pub use crate::head_cache::{RepeatedSend, Tail};
use crate::header::PathCache;
use crate::ident::Ident;
use crate::status::StatusCode;

/// `CRLF "-------"`: what precedes the transaction id of an end-line after a body.
const BODY_END: &[u8] = b"\r\n-------";

/// CRs not followed by the rest of [`BODY_END`] that [`find_body_end`] passes before it hands
/// the search to the `memmem` finder.
const CR_PROBES: usize = 8;

/// The first [`BODY_END`] in `hay`, as `finder` (a `memmem` finder for it) finds it. Found
/// by looking for its CR first: for the few hundred octets of a usual body, a `memchr` and a
/// compare cost a fraction of a `memmem` search, whose set-up dominates at that length. A body
/// with many CRs (text with CRLF line breaks) goes to `finder` after [`CR_PROBES`] of them.
fn find_body_end(finder: &memmem::Finder<'_>, hay: &[u8]) -> Option<usize> {
    let mut from = 0;
    for _ in 0..CR_PROBES {
        let p = from + memchr::memchr(b'\r', hay.get(from..)?)?;
        match hay.get(p..p + BODY_END.len()) {
            Some(w) if w == BODY_END => return Some(p),
            Some(_) => from = p + 1,
            // Too near the end for a whole one: none.
            None => return None,
        }
    }
    finder.find(hay.get(from..)?).map(|p| p + from)
}
/// What begins an end-line (RFC 4975 §9 `end-line = "-------" transact-id continuation-flag
/// CRLF`).
pub(crate) const DASHES: &[u8] = b"-------";

/// Decoder limits and leniency.
#[derive(Debug, Clone)]
pub struct DecoderConfig {
    /// Longest header block (start line to the blank line or end-line), in octets. Longer blocks
    /// are a fatal [`ErrorKind::HeadTooLarge`]. Default 16 KiB.
    pub max_head: usize,
    /// Longest body of a request other than SEND or of a response (4975-013: 10240). Longer
    /// bodies give a recoverable 413.
    pub max_control_body: u64,
    /// Reject extra white space around header values (4975-006) instead of trimming it.
    pub strict: bool,
    /// Consume bodiless 2xx responses without an event: for a node that takes no action on
    /// the success of what it sends (an RFC 7701 switch reading its recipients' 200s to the
    /// copies, RFC 4975 §7.2 hop-by-hop responses). Their start line, line ends, size and
    /// end-line are checked as for any frame (a fault is reported as usual, with the parsed
    /// head where it can be); nothing else is parsed. Other responses, and a 2xx with a body
    /// section, are decoded as usual. Default `false`.
    pub skip_success_responses: bool,
    /// Hand out bodiless 2xx responses whose end-line is `$` as [`Event::BriefSuccess`]: the
    /// transaction id, the status and the frame's octets, without parsing the header block. For
    /// a node that needs little of a success response and rarely all of it: an RFC 4976 relay
    /// reading the next hop's 200 to each SEND it forwarded (4976-029/030) needs the
    /// transaction id, the status and the first To-Path URI, and the whole head only for the
    /// response to a request it forwards end to end, which [`BriefSuccess::head`] parses on
    /// demand. The start line, line ends, size and end-line are checked as for any frame; so
    /// are the first two headers' names (To-Path, then From-Path, 4975-005), that the block is
    /// ASCII without control characters, and in strict mode the space after their colons. The
    /// URIs and the other headers are not parsed: a response to our transaction on its
    /// connection, addressed to our URI, is taken as the success it says it is even if a later
    /// part of it would not parse. A 2xx response that fails these checks, has a body section
    /// or ends in another flag is decoded as usual. [`DecoderConfig::skip_success_responses`]
    /// takes precedence. Default `false`.
    pub brief_success_responses: bool,
    /// Parse a SEND's header block that repeats the previous SEND's but for its transaction
    /// id, Message-ID and Byte-Range values by parsing those three alone (`crate::head_cache`):
    /// the head is the one a full parse gives, and costs about a third as much. A connection
    /// whose SENDs do not repeat pays a copy of the block now and then. Default `true`.
    pub reuse_heads: bool,
    /// With [`DecoderConfig::reuse_heads`], hand out such a SEND as [`Event::RepeatedSend`]:
    /// its transaction id, its Message-ID and Byte-Range, and the repeated SEND's head,
    /// shared, so that no head is built. For a node that does the same with every SEND of a
    /// session and can do it from those values: an RFC 4976 relay forwarding a session's
    /// chunks (it rewrites the same paths each time, RFC 4976 §6.4.1).
    /// [`RepeatedSend::head`] builds the head when it is needed. Default `false`.
    pub repeated_sends: bool,
    /// With [`DecoderConfig::repeated_sends`], read the body and end-line of a repeated SEND
    /// with its header block when they are already in the buffer, so that
    /// [`Decoder::take_tail`] hands them over at once after the [`Event::RepeatedSend`]: one
    /// event for the whole frame instead of three. For a node that handles a session's short
    /// chunks as they come (an RFC 4976 relay forwarding them, RFC 4976 §6.4.1). A tail not
    /// taken comes as the [`Event::Body`] and [`Event::End`] it stands for, so the events are
    /// the same as without this. A body that begins with `-` or holds a `CRLF -------` that
    /// is not its end-line is read the usual way. Default `false`.
    pub whole_repeats: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            max_head: 16 * 1024,
            max_control_body: 10240,
            strict: false,
            skip_success_responses: false,
            brief_success_responses: false,
            reuse_heads: true,
            repeated_sends: false,
            whole_repeats: false,
        }
    }
}

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A frame's header block. `body` says whether a body section follows (a blank line after the
    /// headers), which distinguishes a bodiless SEND from one with an empty body (4975-009).
    Head {
        /// The parsed header block.
        head: Head,
        /// Whether the frame has a body section.
        body: bool,
    },
    /// A piece of the current frame's body, in order (zero-copy slice of the read buffer).
    Body(Bytes),
    /// The end-line of the current frame.
    End(Flag),
    /// A whole bodiless 2xx response, its header block not parsed
    /// ([`DecoderConfig::brief_success_responses`]). No [`Event::End`] follows.
    BriefSuccess(BriefSuccess),
    /// A SEND's header block that repeats the last SEND's but for its transaction id,
    /// Message-ID and Byte-Range ([`DecoderConfig::repeated_sends`]): stands for an
    /// [`Event::Head`] of [`RepeatedSend::head`], and its body and end-line follow the same way.
    RepeatedSend(RepeatedSend),
}

impl Event {
    /// An [`Event::RepeatedSend`] as the [`Event::Head`] it stands for; any other event as it
    /// is. For a reader that takes the repeats' heads alike.
    pub fn with_head(self) -> Event {
        match self {
            Event::RepeatedSend(r) => Event::Head {
                head: r.head(),
                body: r.body,
            },
            ev => ev,
        }
    }
}

/// A bodiless 2xx response read with [`DecoderConfig::brief_success_responses`]: what an RFC
/// 4976 relay needs of the next hop's response to a SEND (RFC 4976 §7.3, 4976-029/030) read
/// at once, the rest kept as octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BriefSuccess {
    /// The status code, 200 to 299.
    pub status: StatusCode,
    /// The whole frame, start line to end-line.
    frame: Bytes,
    /// Where the transaction id lies in `frame` (it passed the start line's `ident` check).
    tid: (u16, u16),
    /// Where the To-Path value's first URI lies in `frame`.
    first_to: (u16, u16),
    /// The decoder's leniency, for [`BriefSuccess::head`].
    strict: bool,
}

impl BriefSuccess {
    /// A brief response made by [`crate::brief_cache`].
    pub(crate) fn new(
        tid: (u16, u16),
        status: StatusCode,
        frame: Bytes,
        first_to: (u16, u16),
        strict: bool,
    ) -> BriefSuccess {
        BriefSuccess {
            status,
            frame,
            tid,
            first_to,
            strict,
        }
    }

    /// The transaction id's octets, as in the frame: what a transaction table is searched
    /// with ([`crate::Transactions::settle_if`]) without making an [`Ident`] of them (a UTF-8
    /// check of an id already checked as ASCII was half the cost of reading a repeated 200).
    pub fn tid_octets(&self) -> &[u8] {
        self.frame
            .get(usize::from(self.tid.0)..usize::from(self.tid.1))
            .unwrap_or_default()
    }

    /// The transaction id.
    pub fn tid(&self) -> Ident {
        tid_at(
            &self.frame,
            usize::from(self.tid.0),
            usize::from(self.tid.1),
        )
    }

    /// Where the first To-Path URI lies in the frame.
    pub(crate) fn first_to_at(&self) -> (usize, usize) {
        (usize::from(self.first_to.0), usize::from(self.first_to.1))
    }

    /// The frame as it was read, start line to end-line.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// The first URI of the To-Path, as sent (not parsed: compare it with a URI's text for a
    /// quick check, and parse the head when that fails, since RFC 4975 §6.1 compares some
    /// parts without regard to case).
    pub fn first_to_path(&self) -> &[u8] {
        self.frame
            .get(usize::from(self.first_to.0)..usize::from(self.first_to.1))
            .unwrap_or_default()
    }

    /// The head, parsed as the decoder would have parsed it without
    /// [`DecoderConfig::brief_success_responses`] (the frame is copied; this is the slow path).
    pub fn head(&self) -> Result<Head, DecodeError> {
        // The frame passed the limits of the decoder that read it; this one need not repeat
        // them.
        let mut dec = Decoder::new(DecoderConfig {
            strict: self.strict,
            max_head: self.frame.len().max(DecoderConfig::default().max_head),
            ..DecoderConfig::default()
        });
        let mut buf = BytesMut::from(&self.frame[..]);
        match dec.decode(&mut buf)? {
            Some(Event::Head { head, .. }) => Ok(head),
            _ => Err(DecodeError::fatal(ErrorKind::StartLine)),
        }
    }
}

#[derive(Debug)]
enum State {
    /// Scanning header lines; `scanned` is where the next unscanned line starts, `tid` the
    /// transaction id's position once the start line has been read, `skip` whether the frame
    /// is a 2xx response to consume without an event
    /// ([`DecoderConfig::skip_success_responses`]).
    Head {
        scanned: usize,
        tid: Option<(usize, usize)>,
        skip: bool,
        /// The frame is a 2xx response to hand out as [`Event::BriefSuccess`] if it is bodiless
        /// ([`DecoderConfig::brief_success_responses`]).
        brief: bool,
    },
    /// In a body, looking for `CRLF -------tid flag CRLF`.
    Body {
        /// Held by value (an `ident` is at most 32 octets): no reference count.
        tid: Ident,
        /// The request's method, for the error when a control body is too long (4975-013).
        method: Option<Method>,
        searched: usize,
        len: u64,
        limit: Option<u64>,
        discard: bool,
        at_start: bool,
        /// The end-line's length and flag, once it has been found right after the body octets
        /// being handed out: the next call ends the frame without searching again.
        end_next: Option<(usize, Flag)>,
    },
    /// A bodiless head was returned; its end-line comes next.
    End(Flag),
    /// A repeated SEND was returned with its body and end-line read
    /// ([`DecoderConfig::whole_repeats`]): they come next, or are taken
    /// ([`Decoder::take_tail`]).
    Tail(Tail),
}

/// The transaction id at `buf[t0..t1]`, which [`split_start_line`] has checked is an `ident`
/// (ASCII), for the frames whose block did not parse into a [`Head`].
pub(crate) fn tid_at(buf: &[u8], t0: usize, t1: usize) -> Ident {
    Ident::from_checked(
        buf.get(t0..t1)
            .and_then(|t| std::str::from_utf8(t).ok())
            .unwrap_or_default(),
    )
}

impl State {
    fn head() -> State {
        State::Head {
            scanned: 0,
            tid: None,
            skip: false,
            brief: false,
        }
    }
}

/// A header block read: parsed, or a repeat of the last SEND's ([`DecoderConfig::repeated_sends`]).
enum Parsed {
    Head(Head),
    Repeat(RepeatedSend),
}

impl Parsed {
    /// The head, or for a repeat the head it repeats (the same but for the tid, Message-ID
    /// and Byte-Range values).
    fn head(&self) -> &Head {
        match self {
            Parsed::Head(h) => h,
            Parsed::Repeat(r) => r.template(),
        }
    }
}

/// What [`Decoder::decode_head`] did.
enum Step {
    /// An event (or `None`: more input needed).
    Done(Option<Event>),
    /// A frame was consumed without an event; decode the next one.
    Skipped,
}

/// The streaming decoder. Feed it the same `BytesMut` read buffer on every call; it takes what
/// it has decoded off the front.
#[derive(Debug)]
pub struct Decoder {
    cfg: DecoderConfig,
    state: State,
    finder: memmem::Finder<'static>,
    /// Where each line of the current header block ends (the offset of its LF), so the head
    /// parser does not scan for them again.
    line_ends: Vec<u32>,
    /// Where a header block is copied when a parsed value must share it (see
    /// [`crate::block`]), so a [`Head`] kept for the life of a transaction pins at most one arena
    /// allocation (512 octets to 4 KiB), never a 64 KiB read buffer.
    arena: Arena,
    /// The last frame's To-Path and From-Path, parsed: the next frame of the session repeats
    /// them.
    paths: PathCache,
    /// The last SEND's block and head ([`DecoderConfig::reuse_heads`]).
    heads: HeadCache,
    /// The last brief 2xx response ([`DecoderConfig::brief_success_responses`]).
    briefs: BriefCache,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DecoderConfig::default())
    }
}

impl Decoder {
    /// A decoder with the given limits.
    pub fn new(mut cfg: DecoderConfig) -> Decoder {
        cfg.max_head = cfg.max_head.min(u32::MAX as usize - 1);
        Decoder {
            cfg,
            state: State::head(),
            finder: memmem::Finder::new(BODY_END),
            line_ends: Vec::with_capacity(16),
            arena: Arena::default(),
            paths: PathCache::default(),
            heads: HeadCache::default(),
            briefs: BriefCache::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }

    /// `true` between frames (nothing of a frame has been consumed yet).
    pub fn is_idle(&self) -> bool {
        matches!(
            self.state,
            State::Head {
                scanned: 0,
                tid: None,
                ..
            }
        )
    }

    /// The body and end-line of the [`Event::RepeatedSend`] just returned, when they were read
    /// with it ([`DecoderConfig::whole_repeats`]): taken, they do not come as events. `None`
    /// at any other time (they then come as [`Event::Body`] and [`Event::End`] events).
    pub fn take_tail(&mut self) -> Option<Tail> {
        if !matches!(self.state, State::Tail(_)) {
            return None;
        }
        match std::mem::replace(&mut self.state, State::head()) {
            State::Tail(t) => Some(t),
            _ => None,
        }
    }

    /// Decodes the next event from `buf`, consuming what it returns. `Ok(None)` means more bytes
    /// are needed. After an error with [`DecodeError::can_continue`], call again: the rest of the
    /// bad frame is skipped silently. An error can come after the frame's [`Event::Head`] and
    /// some [`Event::Body`] pieces (a control body over the limit); that frame then gets no
    /// [`Event::End`], and a relay streaming it on must end its copy with `#`. After any other error the stream is unusable.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, DecodeError> {
        loop {
            match &mut self.state {
                State::End(flag) => {
                    let flag = *flag;
                    self.state = State::head();
                    return Ok(Some(Event::End(flag)));
                }
                State::Tail(t) => {
                    let (ev, last) = t.next_event();
                    if last {
                        self.state = State::head();
                    }
                    return Ok(Some(ev));
                }
                State::Head { .. } => match self.decode_head(buf)? {
                    Step::Done(ev) => return Ok(ev),
                    Step::Skipped => continue,
                },
                State::Body {
                    tid,
                    method,
                    searched,
                    len,
                    limit,
                    discard,
                    at_start,
                    end_next,
                } => {
                    if let Some((n, flag)) = end_next.take() {
                        let discard = *discard;
                        match self.end_frame(buf, n, flag, discard) {
                            Some(ev) => return Ok(Some(ev)),
                            None => continue,
                        }
                    }
                    let t = tid.as_bytes();
                    if *at_start {
                        // Leniency: an empty body whose end-line follows the blank line with no
                        // CRLF of its own ("...\r\n\r\n-------tid$\r\n").
                        let need = DASHES.len() + t.len() + 3;
                        let n = buf.len().min(DASHES.len() + t.len());
                        let prefix_ok = (0..n).all(|i| {
                            buf[i]
                                == if i < DASHES.len() {
                                    DASHES[i]
                                } else {
                                    t[i - DASHES.len()]
                                }
                        });
                        if prefix_ok && buf.len() < need {
                            return Ok(None);
                        }
                        *at_start = false;
                        if prefix_ok {
                            if let Some(flag) = end_line_flag(&buf[need - 3..need]) {
                                let discard = *discard;
                                match self.end_frame(buf, need, flag, discard) {
                                    Some(ev) => return Ok(Some(ev)),
                                    None => continue,
                                }
                            }
                        }
                    }
                    let found =
                        find_body_end(&self.finder, &buf[*searched..]).map(|p| p + *searched);
                    let emit = match found {
                        Some(p) => match end_line_at(buf, p, t) {
                            EndAt::Short => {
                                *searched = p;
                                p
                            }
                            EndAt::End { need, flag } => {
                                if p == 0 {
                                    let discard = *discard;
                                    match self.end_frame(buf, need, flag, discard) {
                                        Some(ev) => return Ok(Some(ev)),
                                        None => continue,
                                    }
                                }
                                // Hand out the body before the end-line first.
                                *searched = 0;
                                *end_next = Some((need - p, flag));
                                p
                            }
                            EndAt::Other => {
                                // `CRLF -------` inside the body, not our end-line: body data.
                                *searched = p + 1;
                                continue;
                            }
                        },
                        None => {
                            // The last 8 octets may begin an end-line; the rest is body.
                            let safe = buf.len().saturating_sub(BODY_END.len() - 1);
                            *searched = 0;
                            safe
                        }
                    };
                    if emit == 0 {
                        return Ok(None);
                    }
                    if *searched != 0 {
                        *searched -= emit;
                    }
                    *len += emit as u64;
                    if *discard {
                        buf.advance(emit);
                        continue;
                    }
                    if let Some(limit) = *limit {
                        if *len > limit {
                            *discard = true;
                            buf.advance(emit);
                            return Err(DecodeError {
                                kind: ErrorKind::ControlBodyTooLarge(limit),
                                tid: Some(*tid),
                                method: method.take(),
                                recoverable: true,
                            });
                        }
                    }
                    return Ok(Some(Event::Body(buf.split_to(emit).freeze())));
                }
            }
        }
    }

    /// Consumes the end-line (`n` octets) that closes the current frame; the event to return,
    /// or `None` when the frame was being skipped after an error.
    fn end_frame(
        &mut self,
        buf: &mut BytesMut,
        n: usize,
        flag: Flag,
        discard: bool,
    ) -> Option<Event> {
        buf.advance(n);
        self.state = State::head();
        (!discard).then_some(Event::End(flag))
    }

    fn decode_head(&mut self, buf: &mut BytesMut) -> Result<Step, DecodeError> {
        let State::Head {
            scanned,
            tid,
            skip,
            brief,
        } = &mut self.state
        else {
            unreachable!("decode_head outside Head")
        };
        loop {
            let Some(nl) = memchr::memchr(b'\n', &buf[*scanned..]).map(|p| p + *scanned) else {
                if buf.len() > self.cfg.max_head {
                    return Err(self.fatal(ErrorKind::HeadTooLarge(self.cfg.max_head), buf));
                }
                return Ok(Step::Done(None));
            };
            if nl + 1 > self.cfg.max_head {
                return Err(self.fatal(ErrorKind::HeadTooLarge(self.cfg.max_head), buf));
            }
            if nl == 0 || buf[nl - 1] != b'\r' {
                return Err(self.fatal(ErrorKind::BareLf, buf));
            }
            let line = &buf[*scanned..nl - 1];
            let line_start = *scanned;
            *scanned = nl + 1;
            let Some((t0, t1)) = *tid else {
                let (t, rest) = split_start_line(line).map_err(DecodeError::fatal)?;
                self.line_ends.clear();
                self.line_ends.push(nl as u32);
                let off = line_start + 5;
                let t1 = off + t.len();
                *tid = Some((off, t1));
                // A start line's tail is a method (capitals) or a status code (digits): a
                // leading '2' is a 2xx status.
                let success = rest.first() == Some(&b'2');
                *skip = success && self.cfg.skip_success_responses;
                *brief = success && self.cfg.brief_success_responses;
                // A 2xx that repeats the last brief one but for its tid: read without a scan.
                if *brief && !*skip {
                    let (max, strict) = (self.cfg.max_head, self.cfg.strict);
                    if let Some(ev) = self.briefs.brief(buf, (off, t1), max, strict) {
                        self.state = State::head();
                        return Ok(Step::Done(Some(ev)));
                    }
                }
                // A block that may repeat the kept SEND's: its header lines found by
                // comparison, not by a scan per line (the next line is then the blank line or
                // the end-line, read below as after a scan).
                self.heads.matched = None;
                if self.cfg.reuse_heads && !success {
                    match self.heads.match_lines(buf, t1, nl, &mut self.line_ends) {
                        Some(end) if end <= self.cfg.max_head => *scanned = end,
                        _ => self.line_ends.truncate(1),
                    }
                }
                continue;
            };
            if line.is_empty() {
                return self
                    .finish_head(buf, line_start, nl + 1, None, (t0, t1))
                    .map(Step::Done);
            }
            if line.starts_with(DASHES) {
                let t = &buf[t0..t1];
                let rest = &line[DASHES.len()..];
                let outcome = if rest.len() == t.len() + 1 && rest.starts_with(t) {
                    Flag::from_byte(rest[t.len()]).ok_or(ErrorKind::EndLineFlag)
                } else {
                    Err(ErrorKind::EndLineMismatch)
                };
                if *skip && outcome.is_ok() {
                    buf.advance(nl + 1);
                    self.state = State::head();
                    return Ok(Step::Skipped);
                }
                if *brief && outcome == Ok(Flag::Last) {
                    if let Some(ev) = self.brief(buf, line_start, nl + 1, (t0, t1)) {
                        if let Event::BriefSuccess(b) = &ev {
                            self.briefs.keep(b, t1, line_start);
                        }
                        self.state = State::head();
                        return Ok(Step::Done(Some(ev)));
                    }
                }
                return self
                    .finish_head(buf, line_start, nl + 1, Some(outcome), (t0, t1))
                    .map(Step::Done);
            }
            // nl < max_head, which is far below u32::MAX in any sane configuration; a larger
            // limit is clamped in `Decoder::new`.
            self.line_ends.push(nl as u32);
        }
    }

    /// The bodiless 2xx response `buf[..end]` (its block `buf[..hdr_end]`, its tid at
    /// `buf[t0..t1]`) as an [`Event::BriefSuccess`], taken off `buf`; `None` (nothing taken)
    /// when its block has a control character or does not begin with To-Path.
    fn brief(
        &self,
        buf: &mut BytesMut,
        hdr_end: usize,
        end: usize,
        (t0, t1): (usize, usize),
    ) -> Option<Event> {
        // A start line, then To-Path and From-Path (4975-005), ASCII without control
        // characters; anything else is decoded the usual way, which says what is wrong.
        let block = &buf[..hdr_end];
        if self.line_ends.len() < 3 || !block_is_plain_ascii(block, self.line_ends.len()) {
            return None;
        }
        let line = |k: usize| {
            let start = usize::try_from(self.line_ends[k - 1]).ok()? + 1;
            let end = usize::try_from(self.line_ends[k]).ok()?.checked_sub(1)?;
            block.get(start..end).map(|l| (start, l))
        };
        let (to_line, to) = line(1)?;
        let (_, from_line) = line(2)?;
        let value = to.strip_prefix(b"To-Path:")?;
        let from_value = from_line.strip_prefix(b"From-Path:")?;
        let skip = value.iter().take_while(|&&b| b == b' ').count();
        if self.cfg.strict
            && (skip != 1 || from_value.iter().take_while(|&&b| b == b' ').count() != 1)
        {
            // Strict mode refuses other white space after the colon (4975-006): the usual
            // decoding says so.
            return None;
        }
        let to_end = to_line + to.len();
        let len = value[skip..]
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(value.len() - skip);
        let from = to_end - value.len() + skip;
        let first_to = (u16::try_from(from).ok()?, u16::try_from(from + len).ok()?);
        // The start line passed `split_start_line`: three digits follow the tid and a space.
        let digits = buf.get(t1 + 1..t1 + 4)?;
        let code = digits
            .iter()
            .fold(0u16, |n, &d| n * 10 + u16::from(d.wrapping_sub(b'0')));
        let status = StatusCode::new(code)?;
        Some(Event::BriefSuccess(BriefSuccess {
            tid: (u16::try_from(t0).ok()?, u16::try_from(t1).ok()?),
            status,
            frame: buf.split_to(end).freeze(),
            first_to,
            strict: self.cfg.strict,
        }))
    }

    /// The header block is `buf[..hdr_end]`; the frame's head ends at `end`. `end_line` is `None`
    /// when a body follows, else the end-line's outcome.
    fn finish_head(
        &mut self,
        buf: &mut BytesMut,
        hdr_end: usize,
        end: usize,
        end_line: Option<Result<Flag, ErrorKind>>,
        (t0, t1): (usize, usize),
    ) -> Result<Option<Event>, DecodeError> {
        // The block is parsed in place; values that must share it get a copy in the arena
        // (`crate::block`), so a Head kept by a relay or a room for the life of a transaction
        // never pins a 64 KiB read buffer.
        self.state = State::head();
        let has_body = end_line.is_none();
        let block = &buf[..hdr_end];
        let repeat = if self.cfg.reuse_heads {
            self.heads.repeat(
                block,
                &self.line_ends,
                (t0, t1),
                self.cfg.strict,
                &mut self.arena,
            )
        } else {
            None
        };
        let kept = self.heads.kept();
        let result = match (repeat, kept) {
            (Some(r), Some(kept)) if self.cfg.repeated_sends => {
                Ok(Parsed::Repeat(r.event(kept.clone(), has_body)))
            }
            (Some(r), Some(kept)) => Ok(Parsed::Head(patched(kept, r))),
            _ => match std::str::from_utf8(block) {
                Err(_) => Err(ErrorKind::NotUtf8),
                Ok(text) => parse_head(
                    &mut Block::new(text, &mut self.arena),
                    &self.line_ends,
                    t1 - t0,
                    self.cfg.strict,
                    &mut self.paths,
                )
                .inspect(|head| {
                    if self.cfg.reuse_heads {
                        self.heads.offer(block, &self.line_ends, t1, head, has_body);
                    }
                })
                .map(Parsed::Head),
            },
        };
        let outcome = result.and_then(|parsed| match &end_line {
            Some(Err(k)) => Err(k.clone()),
            _ if has_body && parsed.head().content_type().is_none() => {
                Err(ErrorKind::BodyWithoutContentType)
            }
            _ => Ok(parsed),
        });
        match outcome {
            Ok(parsed) => {
                let (tid, head) = match &parsed {
                    Parsed::Head(h) => (h.tid, h),
                    Parsed::Repeat(r) => (r.tid, &**r.template()),
                };
                self.state = match end_line {
                    Some(Ok(flag)) => State::End(flag),
                    _ => {
                        let limit = (!head.is_send()).then_some(self.cfg.max_control_body);
                        State::Body {
                            tid,
                            method: limit.and(head.method().cloned()),
                            searched: 0,
                            len: 0,
                            limit,
                            discard: false,
                            at_start: true,
                            end_next: None,
                        }
                    }
                };
                buf.advance(end);
                Ok(Some(match parsed {
                    Parsed::Head(head) => Event::Head {
                        head,
                        body: has_body,
                    },
                    Parsed::Repeat(r) => {
                        if self.cfg.whole_repeats && has_body {
                            self.read_tail(buf);
                        }
                        Event::RepeatedSend(r)
                    }
                }))
            }
            Err(kind) => {
                // The read buffer still holds the block: the transaction id comes from there.
                let tid = tid_at(buf, t0, t1);
                if has_body {
                    self.state = State::Body {
                        tid,
                        method: None,
                        searched: 0,
                        len: 0,
                        limit: None,
                        discard: true,
                        at_start: true,
                        end_next: None,
                    };
                }
                // What to say about a bad frame: its tid and, for a request, its method (the
                // start line is ASCII: the decoder checked it before the block was complete).
                let eol = self.line_ends.first().map_or(0, |&nl| nl as usize - 1);
                let line = buf.get(t1 + 1..eol).unwrap_or_default();
                let method = (!line.is_empty() && line.iter().all(u8::is_ascii_uppercase))
                    .then(|| std::str::from_utf8(line).ok())
                    .flatten()
                    .map(|m| Method::from_text(&mut &ByteString::new(), m));
                let err = DecodeError {
                    kind,
                    tid: Some(tid),
                    method,
                    recoverable: true,
                };
                buf.advance(end);
                Err(err)
            }
        }
    }

    /// Reads the body and end-line of the SEND whose body begins `buf`
    /// ([`DecoderConfig::whole_repeats`]) when both are there: taken off `buf` into
    /// [`State::Tail`]. They are what the body state of [`Decoder::decode`] hands out, found by
    /// the same search. Nothing is read when they are not there whole, or when the body begins
    /// with `-` (it may be an empty body's end-line without its CRLF, which `decode` reads
    /// leniently) or holds a `CRLF -------` that is not its end-line (`decode` reads past it).
    fn read_tail(&mut self, buf: &mut BytesMut) -> Option<()> {
        let State::Body {
            tid,
            limit: None,
            discard: false,
            ..
        } = &self.state
        else {
            return None;
        };
        if buf.first() == Some(&b'-') {
            return None;
        }
        let p = find_body_end(&self.finder, buf)?;
        let EndAt::End { need, flag } = end_line_at(buf, p, tid.as_bytes()) else {
            return None;
        };
        let body = buf.split_to(p).freeze();
        buf.advance(need - p);
        self.state = State::Tail(Tail::new(body, flag, need - p));
        Some(())
    }

    fn fatal(&self, kind: ErrorKind, buf: &BytesMut) -> DecodeError {
        let mut e = DecodeError::fatal(kind);
        if let State::Head {
            tid: Some((t0, t1)),
            ..
        } = self.state
        {
            e.tid = Some(tid_at(buf, t0, t1));
        }
        e
    }
}

impl StartLine {
    /// `true` for a request.
    pub fn is_request(&self) -> bool {
        matches!(self, StartLine::Request(_))
    }
}

/// The flag of an end-line's last three octets (`flag CRLF`), if they are one.
/// What follows a [`BODY_END`] found at `p` in `buf`, in the body of the frame whose
/// transaction id is `t`.
enum EndAt {
    /// Not all of what would be its end-line is read yet.
    Short,
    /// The frame's end-line (RFC 4975 §7.1: the tid, a flag, CRLF), ending at `need`.
    End { need: usize, flag: Flag },
    /// Body data: another tid, or no flag and CRLF after it.
    Other,
}

/// See [`EndAt`]: how the body state of [`Decoder::decode`] and [`Decoder::read_tail`] tell
/// the end-line from body data.
fn end_line_at(buf: &[u8], p: usize, t: &[u8]) -> EndAt {
    let need = p + BODY_END.len() + t.len() + 3;
    let Some(line) = buf.get(p + BODY_END.len()..need) else {
        return EndAt::Short;
    };
    match (&line[..t.len()] == t)
        .then(|| end_line_flag(&line[t.len()..]))
        .flatten()
    {
        Some(flag) => EndAt::End { need, flag },
        None => EndAt::Other,
    }
}

fn end_line_flag(tail: &[u8]) -> Option<Flag> {
    match tail {
        [f, b'\r', b'\n'] => Flag::from_byte(*f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, StatusCode};

    /// `find_body_end` finds what the `memmem` finder finds, on bodies with no CR, with
    /// CRLFs (past the CR probes), with end-lines cut at the end, and on generated octets of
    /// CR, LF, dashes and letters.
    #[test]
    fn body_end_is_found_as_memmem_finds_it() {
        let finder = memmem::Finder::new(BODY_END);
        let mut hays: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"hello".to_vec(),
            b"hello\r\n-------abcd$\r\n".to_vec(),
            b"hello\r\n------".to_vec(),
            b"\r\r\r\n-------".to_vec(),
            b"a\r\nb\r\nc\r\nd\r\ne\r\nf\r\ng\r\nh\r\ni\r\nj\r\n-------t$".to_vec(),
            [&b"\r\n"[..]; 40].concat(),
            [&[&b"\r\n-"[..]; 20].concat()[..], b"\r\n-------x"].concat(),
        ];
        // Every octet string over a small alphabet, from a fixed linear congruential sequence.
        let alphabet = b"\r\n-a";
        let mut x: u32 = 12345;
        for len in 0..200 {
            let hay = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    // Dashes and CRLFs often enough to make end-lines.
                    let k = (x >> 16) as usize % 8;
                    alphabet[if k >= 4 { 2 } else { k }]
                })
                .collect();
            hays.push(hay);
        }
        for hay in &hays {
            assert_eq!(find_body_end(&finder, hay), finder.find(hay), "{hay:?}");
        }
    }

    const TO_FROM: &str = "To-Path: msrp://b.example.com:7777/bbb;tcp\r\n\
                           From-Path: msrp://a.example.com:7777/aaa;tcp\r\n";

    fn head_of(dec: &mut Decoder, buf: &mut BytesMut) -> Head {
        match dec.decode(buf) {
            Ok(Some(Event::Head { head, .. })) => head,
            other => panic!("expected a head, got {other:?}"),
        }
    }

    /// The octet range of `buf`'s current allocation.
    fn range_of(buf: &BytesMut) -> std::ops::Range<usize> {
        let at = buf.as_ptr() as usize;
        at..at + buf.capacity()
    }

    #[test]
    fn common_frames_copy_no_block() {
        // Once the connection's paths are cached (they repeat from the second frame on), a
        // frame whose values are the tid and Message-ID (inline), Byte-Range (a number) and
        // `text/plain` (static) copies nothing into the arena.
        let send = |tid: &str| {
            format!(
                "MSRP {tid} SEND\r\n{TO_FROM}Message-ID: 87652491\r\nByte-Range: 1-2/2\r\n\
                 Content-Type: text/plain\r\n\r\nhi\r\n-------{tid}$\r\n"
            )
        };
        let mut dec = Decoder::default();
        let frames = |dec: &mut Decoder, text: &str| {
            let mut buf = BytesMut::from(text.as_bytes());
            let mut heads = Vec::new();
            while let Some(ev) = dec.decode(&mut buf).expect("decodes") {
                if let Event::Head { head, .. } = ev {
                    heads.push(head);
                }
            }
            heads
        };
        frames(&mut dec, &(send("warm0001") + &send("warm0002")));
        let before = dec.arena.allocated();
        let heads = frames(
            &mut dec,
            &format!(
                "{}MSRP dkei38sd 200 OK\r\n{TO_FROM}-------dkei38sd$\r\n",
                send("a786hjs2")
            ),
        );
        let [s, ok] = &heads[..] else {
            panic!("two heads, got {heads:?}");
        };
        assert_eq!(
            (&*s.tid, s.message_id().map(|m| &**m)),
            ("a786hjs2", Some("87652491"))
        );
        assert_eq!((&*ok.tid, ok.status()), ("dkei38sd", Some(StatusCode::OK)));
        assert_eq!(dec.arena.allocated(), before, "no block was copied");
        // A new path is parsed from a copy (its URIs may be too long to hold inline).
        frames(&mut dec, &send("warm0003").replace("/aaa;tcp", "/ccc;tcp"));
        assert_ne!(
            dec.arena.allocated(),
            before,
            "the new path's block was copied"
        );
    }

    /// `DecoderConfig::reuse_heads`: a session's SENDs after the first are served from the
    /// kept head (tests/decoder.rs `repeated_heads_decode_as_parsed_in_full` checks that they
    /// decode as parsed in full); a SEND that differs elsewhere is parsed and kept; on a
    /// connection whose SENDs never repeat, one block in eight is kept.
    #[test]
    fn repeated_sends_reuse_the_kept_head() {
        let send = |tid: &str, to: &str, id: &str| {
            format!(
                "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: msrp://a.example.com:7777/aaa;tcp\r\n\
                 Message-ID: {id}\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------{tid}$\r\n"
            )
        };
        let b = "msrp://b.example.com:7777/bbb;tcp";
        let run = |dec: &mut Decoder, text: &str| {
            let mut buf = BytesMut::from(text.as_bytes());
            let mut ids = Vec::new();
            while let Some(ev) = dec.decode(&mut buf).expect("decodes") {
                if let Event::Head { head, .. } = ev {
                    ids.push((head.tid, head.message_id().copied()));
                }
            }
            ids
        };
        let mut dec = Decoder::default();
        let ids = run(
            &mut dec,
            &(send("tid00001", b, "msg00001")
                + &send("tid00002", b, "msg00002")
                + &send("tid00003", b, "msg00003")),
        );
        assert_eq!(dec.heads.hits, 2);
        let want: Vec<(Ident, Option<Ident>)> = [1, 2, 3]
            .map(|i| {
                let tid = format!("tid0000{i}").parse().unwrap();
                (tid, Some(format!("msg0000{i}").parse().unwrap()))
            })
            .into();
        assert_eq!(ids, want);
        // Another session's SEND is parsed, and kept since the last one was repeated.
        run(
            &mut dec,
            &send("tid00004", "msrp://c.example.com:1/c;tcp", "msg00004"),
        );
        assert_eq!(dec.heads.hits, 0);
        run(
            &mut dec,
            &send("tid00005", "msrp://c.example.com:1/c;tcp", "msg00005"),
        );
        assert_eq!(dec.heads.hits, 1);

        // SENDs that never repeat: one kept in eight; without the option, none.
        let mut dec = Decoder::default();
        let mut off = Decoder::new(DecoderConfig {
            reuse_heads: false,
            ..DecoderConfig::default()
        });
        for i in 0..20 {
            let to = format!("msrp://c{i}.example.com:1/c;tcp");
            let frame = send(&format!("tid{i:05}"), &to, "msg00001");
            assert_eq!(run(&mut dec, &frame), run(&mut off, &frame));
            let kept = dec.heads.kept_to();
            assert_eq!(kept.as_deref() == Some(&to[..]), i % 8 == 0, "frame {i}");
        }
        assert!(off.heads.kept_to().is_none());
    }

    #[test]
    fn values_that_share_the_block_do_not_pin_the_read_buffer() {
        // An unknown header, an uncommon Content-Type and an unregistered reason phrase are
        // slices of a copy of the block in the arena, not of the read buffer.
        let mut dec = Decoder::default();
        let frame = format!(
            "MSRP a786hjs2 SEND\r\n{TO_FROM}Message-ID: 87652491\r\nX-Note: kept\r\n\
             Content-Type: application/x-rare\r\n\r\nhi\r\n-------a786hjs2$\r\n\
             MSRP dkei38sd 200 Fine thanks\r\n{TO_FROM}-------dkei38sd$\r\n"
        );
        let mut buf = BytesMut::from(frame.as_bytes());
        let read = range_of(&buf);
        let send = head_of(&mut dec, &mut buf);
        let note = send.headers.iter().find_map(|h| match h {
            Header::Other { name, value } if name == "X-Note" => Some(value.clone()),
            _ => None,
        });
        let note = note.expect("X-Note kept");
        let ct = send.content_type().expect("Content-Type").clone();
        assert_eq!((&*note, &*ct), ("kept", "application/x-rare"));
        while !matches!(dec.decode(&mut buf), Ok(Some(Event::End(_)))) {}
        let fine = head_of(&mut dec, &mut buf);
        let StartLine::Response {
            comment: Some(c), ..
        } = &fine.start
        else {
            panic!("a comment");
        };
        assert_eq!(c, "Fine thanks");
        for v in [&note, &ct, c] {
            assert!(
                !read.contains(&(v.as_ptr() as usize)),
                "{v:?} points into the read buffer"
            );
        }
    }
}
