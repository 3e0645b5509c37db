//! The header block a relay forwarded for a session's SEND, kept encoded with holes for the
//! values that change from chunk to chunk: the transaction id, Message-ID and Byte-Range.
//!
//! The chunks of a session come with the same To-Path and From-Path and the same other
//! headers (RFC 4975 §7.1), and a relay rewrites them the same way each time (RFC 4976
//! §6.4.1: its URI leaves the To-Path and leads the From-Path; 4976-027: its own transaction
//! id). The decoder tells such a chunk by [`msrp::Event::RepeatedSend`]; the relay then writes
//! the forwarded block by filling this one's holes, and builds, rewrites and encodes no head
//! (`Conn::forward_repeat` in [`crate::server`]). What it writes is what
//! [`msrp::encode::head`] writes for the rewritten head (tested below).

use std::sync::Arc;

use bytes::BytesMut;
use msrp::{ByteRange, Head, Header, RepeatedSend};

use crate::ConnId;
use crate::forward::RepeatState;

/// A value [`Template::write`] fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    /// The outgoing transaction id.
    Tid,
    /// The first Message-ID's value.
    MessageId,
    /// The first Byte-Range's value.
    ByteRange,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Template {
    /// The incoming head that the chunks repeat ([`RepeatedSend::template`]).
    key: Arc<Head>,
    /// The client connection the chunks go to.
    to: ConnId,
    /// The forwarded block, holes left out.
    text: BytesMut,
    /// Where each hole goes in `text`, in order.
    holes: Vec<(usize, Hole)>,
    /// What the router keeps for the chunks ([`crate::forward::Router::on_repeated_send`]).
    pub(crate) state: RepeatState,
    /// The last Byte-Range written and its text (the chunks of a session of one-chunk
    /// messages of one size all have the same), in a buffer kept for the next one.
    range: (Option<ByteRange>, BytesMut),
}

impl Template {
    /// The template for chunks that repeat `key` and go to the client on `to`, from the head
    /// `forwarded` that the relay wrote for one of them (with a body section): its transaction
    /// id and its Message-ID and Byte-Range values become holes. `None` when `forwarded` is
    /// not a SEND.
    pub(crate) fn new(key: Arc<Head>, to: ConnId, forwarded: &Head) -> Option<Template> {
        if !forwarded.is_send() || forwarded.headers.len() != key.headers.len() {
            return None;
        }
        let mut text = BytesMut::with_capacity(forwarded.encoded_len_hint() + 2);
        let mut holes = Vec::with_capacity(3);
        text.extend_from_slice(b"MSRP ");
        holes.push((text.len(), Hole::Tid));
        text.extend_from_slice(b" SEND\r\n");
        // The values a chunk has of its own (`RepeatedSend::message_id`, `byte_range`).
        let (mut message_id, mut byte_range) = (true, true);
        for h in &forwarded.headers {
            let hole = match h {
                Header::MessageId(_) if std::mem::take(&mut message_id) => Hole::MessageId,
                Header::ByteRange(_) if std::mem::take(&mut byte_range) => Hole::ByteRange,
                h => {
                    h.write(&mut text);
                    continue;
                }
            };
            text.extend_from_slice(h.name().as_bytes());
            text.extend_from_slice(b": ");
            holes.push((text.len(), hole));
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(b"\r\n");
        Some(Template {
            key,
            to,
            text,
            holes,
            state: RepeatState::default(),
            range: (None, BytesMut::new()),
        })
    }

    /// The client connection of the template that `r` repeats, if this is it.
    pub(crate) fn target_of(&self, r: &RepeatedSend) -> Option<ConnId> {
        (Arc::ptr_eq(&self.key, r.template()) && r.body).then_some(self.to)
    }

    /// Appends the header block forwarded for `r` (which repeats this template's key) with
    /// transaction id `tid`, and the blank line that opens its body section. (A repeat has the
    /// template's first Message-ID and Byte-Range, with its own values: `HeadCache`.)
    pub(crate) fn write(&mut self, r: &RepeatedSend, tid: &str, out: &mut BytesMut) {
        let mut at = 0;
        for &(hole, what) in &self.holes {
            out.extend_from_slice(&self.text[at..hole]);
            at = hole;
            match what {
                Hole::Tid => out.extend_from_slice(tid.as_bytes()),
                Hole::MessageId => {
                    if let Some(m) = r.message_id() {
                        out.extend_from_slice(m.as_bytes());
                    }
                }
                Hole::ByteRange => {
                    if let Some(b) = r.byte_range() {
                        let (last, text) = &mut self.range;
                        if *last != Some(b) {
                            text.clear();
                            b.write_to(text);
                            *last = Some(b);
                        }
                        out.extend_from_slice(text);
                    }
                }
            }
        }
        out.extend_from_slice(&self.text[at..]);
    }

    /// The octets [`Template::write`] appends, at most (for reserving room).
    pub(crate) fn len_hint(&self) -> usize {
        self.text.len() + 32 + 64 * self.holes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msrp::{Decoder, DecoderConfig, Event};

    const TO: &str = "To-Path: msrp://relay.example.net:2855/u2;tcp msrp://bob.example.com:7/b;tcp";
    const FROM: &str = "From-Path: msrp://alice.example.com:7/a;tcp";

    /// SEND frames of one session, each with its own tid, Message-ID and Byte-Range.
    fn frames(extra: &str, tail: &str) -> String {
        [
            ("tid00001", "msg00001", "1-5/10"),
            ("tid00002", "msg00001", "6-10/10"),
            ("tid00003", "msg00003", "1-2/2"),
        ]
        .map(|(tid, m, r)| {
            format!(
                "MSRP {tid} SEND\r\n{TO}\r\n{FROM}\r\nMessage-ID: {m}\r\n{extra}Byte-Range: {r}\r\n\
                     {tail}Content-Type: text/plain\r\n\r\nhello\r\n-------{tid}$\r\n"
            )
        })
        .concat()
    }

    /// What the relay forwards for `head` the usual way (RFC 4976 §6.4.1): paths shifted, its
    /// own tid, encoded.
    fn rewritten(mut head: Head, tid: &str) -> BytesMut {
        assert!(head.shift_paths(1));
        head.tid = tid.parse().unwrap();
        let mut out = BytesMut::new();
        msrp::encode::head(&head, true, &mut out);
        out
    }

    /// 4976-026/027: the block written from the template is, octet for octet, the one the
    /// relay writes for the rewritten head, for every chunk that repeats the first, with
    /// Message-ID and Byte-Range anywhere among the headers.
    #[test]
    fn filled_holes_give_the_rewritten_head() {
        for (extra, tail) in [
            ("", ""),
            ("Failure-Report: partial\r\n", ""),
            ("X-Odd: 1\r\nSuccess-Report: yes\r\n", ""),
            // Later Message-ID and Byte-Range headers are the same in every chunk: no holes.
            ("", "Byte-Range: 1-1/1\r\nMessage-ID: same0001\r\n"),
        ] {
            let mut dec = Decoder::new(DecoderConfig {
                repeated_sends: true,
                ..DecoderConfig::default()
            });
            let mut buf = BytesMut::from(frames(extra, tail).as_bytes());
            let mut repeats = Vec::new();
            while let Some(ev) = dec.decode(&mut buf).expect("decodes") {
                if let Event::RepeatedSend(r) = ev {
                    repeats.push(r);
                }
            }
            // The first frame is parsed in full and kept; the next two repeat it.
            assert_eq!(repeats.len(), 2, "{extra:?}");
            let mut template = Template::new(repeats[0].template().clone(), ConnId(7), &{
                let mut h = repeats[0].head();
                assert!(h.shift_paths(1));
                h
            })
            .expect("a SEND");
            // Each chunk after itself and after the other (the last Byte-Range text is kept).
            for (k, r) in [0, 0, 1, 1, 0].map(|i| &repeats[i]).into_iter().enumerate() {
                assert_eq!(template.target_of(r), Some(ConnId(7)));
                let tid = format!("out{k:05}");
                let mut out = BytesMut::new();
                template.write(r, &tid, &mut out);
                assert_eq!(out, rewritten(r.head(), &tid), "{extra:?} chunk {k}");
                assert!(out.len() <= template.len_hint());
            }
            // Another session's head is not this template's.
            let mut other = BytesMut::from(frames("", "").replace("/a;tcp", "/c;tcp").as_bytes());
            let mut dec2 = Decoder::new(DecoderConfig {
                repeated_sends: true,
                ..DecoderConfig::default()
            });
            while let Some(ev) = dec2.decode(&mut other).expect("decodes") {
                if let Event::RepeatedSend(r) = ev {
                    assert_eq!(template.target_of(&r), None);
                }
            }
        }
    }
}
