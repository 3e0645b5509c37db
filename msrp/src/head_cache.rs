//! The last SEND's header block and its parsed [`Head`], which the next SEND of the same
//! session repeats but for its transaction id, Message-ID and Byte-Range (RFC 4975 §7.1: a
//! session's requests carry the same To-Path and From-Path, §7.1.1 Message-ID and Byte-Range
//! tell the chunks apart).
//!
//! When the next block has the same lines as the cached one, octet for octet, except the start
//! line's transaction id and the values of Message-ID and Byte-Range, its head is the cached
//! head with those three values parsed anew, by the same code [`crate::head::parse_head`]
//! uses. This is exact: `parse_head` reads a block line by line, and what it makes of a line,
//! including the errors, depends only on that line and its position, so equal lines in equal
//! positions give equal headers, and the three values are parsed as it parses them. A line
//! that differs anywhere else, or a new value that does not parse, leaves the block to
//! `parse_head`, which says what is wrong with it. The decoder checks the rest of a frame
//! (the start line's syntax, line ends, size, a body without Content-Type) either way.
//!
//! A connection whose SENDs do not repeat (a relay link carrying many sessions) would copy
//! every block for nothing: after a kept block that no frame repeated, only every
//! [`RETRY_EVERY`]-th block is kept. A bodiless SEND's block is never kept: it binds a session
//! (RFC 4975 §5.4) or keeps it alive, the chunks that follow have a body section and so a
//! Content-Type line it lacks, and a chat room's idle participants (who sent nothing else)
//! would each keep a head for nothing (about 900 octets, by `msrp-fanout`'s memory figure).

use std::sync::Arc;

use crate::block::{Arena, Block};
use crate::byte_range::ByteRange;
use crate::decoder::DASHES;
use crate::head::{Head, has_control, header_value};
use crate::header::Header;
use crate::ident::Ident;

/// Longest block kept, in octets (a SEND's block is a few hundred).
const MAX_BLOCK: usize = 2048;

/// Most header lines of a block kept (one bit each in a `u64`).
const MAX_LINES: usize = 64;

/// After a kept block that no frame repeated, one block in this many is kept.
const RETRY_EVERY: u32 = 8;

/// A SEND whose header block repeats the last SEND's but for its transaction id, Message-ID
/// and Byte-Range, read with [`crate::DecoderConfig::repeated_sends`]: those values, and the
/// last SEND's head, shared. Its body (if [`RepeatedSend::body`]) and end-line follow as for
/// an [`crate::Event::Head`] (or are taken at once: [`crate::Decoder::take_tail`]).
/// [`RepeatedSend::head`] is the head a full parse gives.
///
/// Small (it is moved with every event a reader passes on): the values, not headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedSend {
    /// The transaction id.
    pub tid: Ident,
    /// Whether the frame has a body section.
    pub body: bool,
    /// The head of the SEND it repeats (with that SEND's values).
    template: Arc<Head>,
    /// This frame's Message-ID (the first, as [`Head::message_id`]).
    message_id: Option<Ident>,
    /// This frame's Byte-Range (the first, as [`Head::byte_range`]).
    byte_range: Option<ByteRange>,
}

impl RepeatedSend {
    /// The head of the SEND this frame repeats, as it came (its transaction id, Message-ID and
    /// Byte-Range are that frame's): the same allocation for every frame that repeats it, so
    /// [`Arc::ptr_eq`] tells that two frames repeat the same SEND.
    pub fn template(&self) -> &Arc<Head> {
        &self.template
    }

    /// Message-ID ([`Head::message_id`] of [`RepeatedSend::head`]).
    pub fn message_id(&self) -> Option<&Ident> {
        self.message_id.as_ref()
    }

    /// Byte-Range ([`Head::byte_range`] of [`RepeatedSend::head`]).
    pub fn byte_range(&self) -> Option<ByteRange> {
        self.byte_range
    }

    /// The head, as the decoder would have given it without
    /// [`crate::DecoderConfig::repeated_sends`]: a copy of the template's, with this frame's
    /// values.
    pub fn head(&self) -> Head {
        patched(
            &self.template,
            Repeat {
                tid: self.tid,
                message_id: self.message_id,
                byte_range: self.byte_range,
            },
        )
    }
}

/// The body and end-line of a [`RepeatedSend`] that were in the read buffer with its header
/// block ([`crate::DecoderConfig::whole_repeats`], [`crate::Decoder::take_tail`]): what
/// comes as an [`crate::Event::Body`] (none for an empty body) and an [`crate::Event::End`]
/// when it is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// The whole body (a slice of the read buffer, as an [`crate::Event::Body`]); may be empty.
    pub body: bytes::Bytes,
    /// The end-line's flag (RFC 4975 §7.1).
    pub flag: crate::head::Flag,
    /// Octets of input the end-line took, with the CRLF before it and its own.
    end: usize,
}

impl Tail {
    /// A tail of `body` and an end-line of `end` octets (CRLFs included) ending in `flag`.
    pub(crate) fn new(body: bytes::Bytes, flag: crate::head::Flag, end: usize) -> Tail {
        Tail { body, flag, end }
    }

    /// Octets of input what is left of it took: the body (unless taken), the CRLF before the
    /// end-line, and the end-line with its CRLF.
    pub fn octets(&self) -> usize {
        self.body.len() + self.end
    }

    /// The next event it stands for, taken off it: its body (unless empty), then its end-line,
    /// with `true` (nothing is left).
    pub fn next_event(&mut self) -> (crate::Event, bool) {
        if !self.body.is_empty() {
            return (crate::Event::Body(std::mem::take(&mut self.body)), false);
        }
        (crate::Event::End(self.flag), true)
    }
}

/// What a block that repeats the kept one has of its own: its transaction id, and the values
/// of its first Message-ID and Byte-Range (the kept head's where its lines are the same).
#[derive(Debug)]
pub(crate) struct Repeat {
    pub(crate) tid: Ident,
    pub(crate) message_id: Option<Ident>,
    pub(crate) byte_range: Option<ByteRange>,
}

impl Repeat {
    /// The [`RepeatedSend`] of a frame with this repeat of `template`.
    pub(crate) fn event(self, template: Arc<Head>, body: bool) -> RepeatedSend {
        RepeatedSend {
            tid: self.tid,
            body,
            template,
            message_id: self.message_id,
            byte_range: self.byte_range,
        }
    }
}

/// `template` with the values of `r`: its first Message-ID and Byte-Range headers hold them.
pub(crate) fn patched(template: &Head, r: Repeat) -> Head {
    let mut head = template.clone();
    head.tid = r.tid;
    let (mut m, mut b) = (r.message_id, r.byte_range);
    for h in &mut head.headers {
        match h {
            Header::MessageId(v) => {
                if let Some(new) = m.take() {
                    *v = new;
                }
            }
            Header::ByteRange(v) => {
                if let Some(new) = b.take() {
                    *v = new;
                }
            }
            _ => {}
        }
    }
    head
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    /// The kept block, start line to its last header line's CRLF.
    block: Vec<u8>,
    /// The offset of each line's LF in `block`.
    line_ends: Vec<u32>,
    /// Where the transaction id ends in `block`.
    tid_end: usize,
    /// The block's head; `None` until a block is kept.
    head: Option<Arc<Head>>,
    /// The headers whose values may differ, in order: the first Message-ID and the first
    /// Byte-Range (header `i` is line `i + 1`); `n_varies` of them.
    varies: [usize; 2],
    n_varies: usize,
    /// Frames that repeated the kept block.
    pub(crate) hits: u32,
    /// The block being read matched the kept one ([`HeadCache::match_lines`]): which of its
    /// lines whose values may differ do. Cleared by the decoder at every start line, taken by
    /// [`HeadCache::repeat`], which then does not compare the block again.
    pub(crate) matched: Option<u64>,
    /// Blocks not kept since the last one that was.
    passed: u32,
}

impl HeadCache {
    /// What makes the block `block` (lines ending at `line_ends`, transaction id at
    /// `block[t0..t1]`, checked by the decoder) differ from the kept one, when it repeats it as
    /// the module documentation says: its transaction id and its headers that differ, parsed;
    /// `None` when it does not: parse it in full.
    pub(crate) fn repeat(
        &mut self,
        block: &[u8],
        line_ends: &[u32],
        (t0, t1): (usize, usize),
        strict: bool,
        arena: &mut Arena,
    ) -> Option<Repeat> {
        let kept = self.head.as_ref()?;
        let n = line_ends.len();
        let matched = self.matched.take();
        if n != self.line_ends.len() {
            return None;
        }
        let mut differ = match matched {
            // The same lines as the kept block's up to the last of its lines, so the block
            // (which ends there) is the kept block but for the lines in `d`.
            Some(d) => d,
            None => self.compare(block, line_ends, t1)?,
        };
        // One UTF-8 check for the block, not one per value taken from it (a frame whose
        // block is not UTF-8 is parsed in full).
        let text = std::str::from_utf8(block).ok()?;
        let tid = Ident::from_checked(text.get(t0..t1)?);
        let mut repeat = Repeat {
            tid,
            message_id: kept.message_id().copied(),
            byte_range: kept.byte_range(),
        };
        while differ != 0 {
            let i = differ.trailing_zeros() as usize;
            differ &= differ - 1;
            // Without its CRLF.
            let line = text.get(line_ends[i] as usize + 1..line_ends[i + 1] as usize - 1)?;
            let was = self
                .block
                .get(self.line_ends[i] as usize + 1..self.line_ends[i + 1] as usize - 1)?;
            // The same name, spelled the same.
            let colon = memchr::memchr(b':', was)?;
            if line.as_bytes().get(..=colon)? != &was[..=colon] || has_control(line.as_bytes()) {
                return None;
            }
            let value = header_value(line.get(colon + 1..)?, strict).ok()?;
            let mut parsed = None;
            Header::parse_in(
                &mut Block::new(line, arena),
                line.get(..colon)?,
                value,
                &mut parsed,
            )
            .ok()?;
            match (parsed?, kept.headers.get(i)?) {
                (Header::MessageId(v), Header::MessageId(_)) => repeat.message_id = Some(v),
                (Header::ByteRange(v), Header::ByteRange(_)) => repeat.byte_range = Some(v),
                _ => return None,
            }
        }
        self.hits = self.hits.saturating_add(1);
        Some(repeat)
    }

    /// Which lines whose values may differ do, when the block `block` (lines ending at
    /// `line_ends`, as many as the kept block's; transaction id ending at `t1`) is the kept
    /// one but for its transaction id and those lines; `None` when it is not.
    fn compare(&self, block: &[u8], line_ends: &[u32], t1: usize) -> Option<u64> {
        // The start line after the transaction id: the method.
        let eol = *line_ends.first()? as usize;
        if block.get(t1..=eol)? != self.block.get(self.tid_end..=self.line_ends[0] as usize)? {
            return None;
        }
        // The octets between the lines whose values may differ must not, CRLFs included (so
        // the lines there are the same lines); of those lines, which differ.
        let (mut at, mut was_at) = (eol + 1, self.line_ends[0] as usize + 1);
        let mut differ = 0u64;
        for &i in &self.varies[..self.n_varies] {
            // Header i is line i + 1: from after line i's LF to its own LF.
            let (from, to) = (line_ends[i] as usize + 1, line_ends[i + 1] as usize + 1);
            let (was_from, was_to) = (
                self.line_ends[i] as usize + 1,
                self.line_ends[i + 1] as usize + 1,
            );
            if block.get(at..from)? != self.block.get(was_at..was_from)? {
                return None;
            }
            if block.get(from..to)? != self.block.get(was_from..was_to)? {
                differ |= 1 << i;
            }
            (at, was_at) = (to, was_to);
        }
        if block.get(at..)? != self.block.get(was_at..)? {
            return None;
        }
        Some(differ)
    }

    /// The header lines of a block in `buf` that may repeat the kept one, found by comparing
    /// it with the kept block instead of scanning it line by line: its start line ends at
    /// `nl` (the LF), its transaction id at `t1`. When the rest of the start line and the
    /// octets between the lines whose values may differ ([`HeadCache::repeat`]) are the kept
    /// block's, and each such line ends with CRLF, is not empty and does not begin an
    /// end-line, pushes the LF offset of every header line onto `line_ends` (which holds the
    /// start line's) exactly as the decoder's scan would, and returns where the header lines
    /// end. `None` otherwise (or when `buf` does not hold them all yet), `line_ends` then
    /// possibly longer: the caller truncates it and scans.
    ///
    /// What the comparison found is kept for [`HeadCache::repeat`] ([`HeadCache::matched`]),
    /// which decides on the block without comparing it again when it ends there.
    pub(crate) fn match_lines(
        &mut self,
        buf: &[u8],
        t1: usize,
        nl: usize,
        line_ends: &mut Vec<u32>,
    ) -> Option<usize> {
        self.head.as_ref()?;
        let kept_nl = *self.line_ends.first()? as usize;
        if buf.get(t1..=nl)? != self.block.get(self.tid_end..=kept_nl)? {
            return None;
        }
        // `at` in `buf` is where `was_at` is in the kept block; `next` is the next line index.
        let (mut at, mut was_at, mut next) = (nl + 1, kept_nl + 1, 1);
        let mut differ = 0u64;
        let shifted = |was: u32, at: usize, was_at: usize| (was as usize - was_at + at) as u32;
        for &i in &self.varies[..self.n_varies] {
            // Header i is line i + 1: from after line i's LF to its own LF.
            let (was_from, was_to) = (
                self.line_ends[i] as usize + 1,
                self.line_ends[i + 1] as usize + 1,
            );
            let from = at + (was_from - was_at);
            if buf.get(at..from)? != self.block.get(was_at..was_from)? {
                return None;
            }
            for &was in self.line_ends.get(next..=i)? {
                line_ends.push(shifted(was, at, was_at));
            }
            let line = buf.get(from..)?;
            let lf = memchr::memchr(b'\n', line)?;
            if lf < 2 || line[lf - 1] != b'\r' || line.starts_with(DASHES) {
                return None;
            }
            line_ends.push(u32::try_from(from + lf).ok()?);
            if buf.get(from..=from + lf)? != self.block.get(was_from..was_to)? {
                differ |= 1 << i;
            }
            (at, was_at, next) = (from + lf + 1, was_to, i + 2);
        }
        let end = at + (self.block.len() - was_at);
        if buf.get(at..end)? != self.block.get(was_at..)? {
            return None;
        }
        for &was in self.line_ends.get(next..)? {
            line_ends.push(shifted(was, at, was_at));
        }
        self.matched = Some(differ);
        Some(end)
    }

    /// The kept head ([`HeadCache::repeat`] found a block that repeats it).
    pub(crate) fn kept(&self) -> Option<&Arc<Head>> {
        self.head.as_ref()
    }

    /// Offers the block `block` (lines ending at `line_ends`, transaction id ending at `t1`)
    /// that [`crate::head::parse_head`] parsed into `head`, of a frame with a body section or
    /// not (`body`); kept when it is a SEND's with a body, not too large, and the retry rule of
    /// the module documentation allows.
    pub(crate) fn offer(
        &mut self,
        block: &[u8],
        line_ends: &[u32],
        t1: usize,
        head: &Head,
        body: bool,
    ) {
        if !head.is_send()
            || !body
            || block.len() > MAX_BLOCK
            || line_ends.len() > MAX_LINES
            || head.headers.len() + 1 != line_ends.len()
        {
            return;
        }
        if self.head.is_some() && self.hits == 0 {
            self.passed += 1;
            if self.passed < RETRY_EVERY {
                return;
            }
        }
        self.passed = 0;
        self.hits = 0;
        self.block.clear();
        self.block.extend_from_slice(block);
        self.line_ends.clear();
        self.line_ends.extend_from_slice(line_ends);
        self.tid_end = t1;
        // The first Message-ID and the first Byte-Range: the values a head is read by
        // (`Head::message_id`, `Head::byte_range`); a block whose other such lines differ is
        // parsed in full.
        let first = |f: fn(&Header) -> bool| head.headers.iter().position(f);
        let mut varies = [
            first(|h| matches!(h, Header::MessageId(_))),
            first(|h| matches!(h, Header::ByteRange(_))),
        ];
        varies.sort_unstable_by_key(|i| i.unwrap_or(usize::MAX));
        self.n_varies = 0;
        for i in varies.into_iter().flatten() {
            self.varies[self.n_varies] = i;
            self.n_varies += 1;
        }
        self.head = Some(Arc::new(head.clone()));
    }
}

#[cfg(test)]
impl HeadCache {
    /// The kept head's To-Path, as text (tests).
    pub(crate) fn kept_to(&self) -> Option<String> {
        let h = self.head.as_ref()?;
        Some(
            h.to_path()
                .iter()
                .map(crate::MsrpUri::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}
