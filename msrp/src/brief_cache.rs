//! The last brief 2xx response a decoder read ([`crate::DecoderConfig::brief_success_responses`]),
//! kept to read the next ones without scanning them.
//!
//! A next hop answers every SEND of a session with the same response but for its transaction id
//! (RFC 4975 §7.2: the To-Path is the sender's first From-Path URI, the From-Path the
//! responder's URI). When a response's octets after its transaction id are the kept one's,
//! and its end-line is `-------` tid `$` CRLF, it is the frame the decoder's line scan and
//! brief reading would have read, with the same status and its first To-Path URI at the same
//! place after the transaction id: the [`BriefSuccess`] is made from the kept values and
//! nothing is scanned. The tid itself passed the start line's check, as for any frame.

use bytes::BytesMut;

use crate::decoder::{BriefSuccess, DASHES, Event};
use crate::status::StatusCode;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct BriefCache {
    /// The kept frame from the end of its transaction id to its last header line's CRLF (the
    /// end-line follows).
    rest: Vec<u8>,
    /// Its status; `None` until a response is kept.
    status: Option<StatusCode>,
    /// Where its first To-Path URI lies, counted from the end of its transaction id.
    first_to: (usize, usize),
}

impl BriefCache {
    /// Keeps the brief response `b`, whose transaction id ended at `t1` and whose header lines
    /// ended at `hdr_end` (where its end-line began).
    pub(crate) fn keep(&mut self, b: &BriefSuccess, t1: usize, hdr_end: usize) {
        let (Some(rest), Some(first_to)) = (
            b.frame().get(t1..hdr_end),
            b.first_to_at()
                .0
                .checked_sub(t1)
                .zip(b.first_to_at().1.checked_sub(t1)),
        ) else {
            return;
        };
        self.rest.clear();
        self.rest.extend_from_slice(rest);
        self.status = Some(b.status);
        self.first_to = first_to;
    }

    /// The response at the front of `buf` (transaction id at `buf[t0..t1]`) as a
    /// [`BriefSuccess`], when it repeats the kept one as the module documentation says and
    /// ends within `max_head` octets; taken off `buf`. `None`, and `buf` untouched, otherwise
    /// (or when `buf` does not hold all of it yet).
    pub(crate) fn brief(
        &self,
        buf: &mut BytesMut,
        (t0, t1): (usize, usize),
        max_head: usize,
        strict: bool,
    ) -> Option<Event> {
        let status = self.status?;
        let hdr_end = t1 + self.rest.len();
        if buf.get(t1..hdr_end)? != self.rest.as_slice() {
            return None;
        }
        let tid = buf.get(t0..t1)?;
        let end = hdr_end + DASHES.len() + tid.len() + b"$\r\n".len();
        if end > max_head {
            return None;
        }
        let line = buf.get(hdr_end..end)?;
        let (dashes, rest) = line.split_at(DASHES.len());
        let (end_tid, flag) = rest.split_at(tid.len());
        if dashes != DASHES || end_tid != tid || flag != b"$\r\n" {
            return None;
        }
        let first_to = (
            u16::try_from(t1 + self.first_to.0).ok()?,
            u16::try_from(t1 + self.first_to.1).ok()?,
        );
        let tid = (u16::try_from(t0).ok()?, u16::try_from(t1).ok()?);
        Some(Event::BriefSuccess(BriefSuccess::new(
            tid,
            status,
            buf.split_to(end).freeze(),
            first_to,
            strict,
        )))
    }
}
