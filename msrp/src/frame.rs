//! Whole frames, for callers that want a frame at a time rather than a stream of events
//! (control requests, responses, small SENDs, tests).

use bytes::{Bytes, BytesMut};

use crate::decoder::{Decoder, DecoderConfig, Event};
use crate::encode;
use crate::error::{DecodeError, ErrorKind};
use crate::head::{Flag, Head};

/// One complete frame: header block, body and end-line flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header block.
    pub head: Head,
    /// `None` for a frame without a body section; `Some` (possibly empty) otherwise (4975-009).
    pub body: Option<Bytes>,
    /// The end-line flag.
    pub flag: Flag,
}

impl Frame {
    /// Serializes the frame (see [`encode::frame`]).
    pub fn write(&self, out: &mut BytesMut) {
        encode::frame(&self.head, self.body.as_deref(), self.flag, out);
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(
            self.head.encoded_len_hint() + self.body.as_ref().map_or(0, Bytes::len),
        );
        self.write(&mut b);
        b.freeze()
    }
}

/// Collects [`Decoder`] events into whole [`Frame`]s, refusing bodies longer than `max_body`
/// (a recoverable 413; the rest of that frame is skipped).
///
/// A body that arrives in one read is handed on without a copy; one spread over several reads is
/// gathered into one buffer.
#[derive(Debug)]
pub struct FrameDecoder {
    decoder: Decoder,
    max_body: u64,
    current: Option<(Head, Option<BytesMut>, Option<Bytes>)>,
    skipping: bool,
}

impl FrameDecoder {
    /// A collector over a decoder with `cfg`, accepting bodies up to `max_body` octets.
    pub fn new(cfg: DecoderConfig, max_body: u64) -> FrameDecoder {
        FrameDecoder {
            decoder: Decoder::new(cfg),
            max_body,
            current: None,
            skipping: false,
        }
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed. Errors are those of
    /// [`Decoder::decode`] plus [`ErrorKind::BodyTooLarge`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        loop {
            let Some(ev) = self.decoder.decode(buf)? else {
                return Ok(None);
            };
            match ev {
                Event::Head { head, body } => {
                    self.skipping = false;
                    self.current = Some((head, None, body.then(Bytes::new)));
                }
                Event::RepeatedSend(r) => {
                    // Only with `DecoderConfig::repeated_sends`: the head it stands for.
                    self.skipping = false;
                    self.current = Some((r.head(), None, r.body.then(Bytes::new)));
                }
                Event::Body(piece) => {
                    if self.skipping {
                        continue;
                    }
                    let Some((head, gathered, first)) = &mut self.current else {
                        continue;
                    };
                    let have = gathered.as_ref().map_or(0, |g| g.len())
                        + first.as_ref().map_or(0, Bytes::len);
                    if (have + piece.len()) as u64 > self.max_body {
                        self.skipping = true;
                        let head = head.clone();
                        self.current = None;
                        return Err(DecodeError {
                            kind: ErrorKind::BodyTooLarge(self.max_body),
                            tid: Some(head.tid),
                            method: head.method().cloned(),
                            recoverable: true,
                        });
                    }
                    match (gathered.as_mut(), first.as_ref()) {
                        (None, Some(f)) if f.is_empty() => *first = Some(piece),
                        (None, Some(f)) => {
                            let mut g = BytesMut::with_capacity(f.len() + piece.len());
                            g.extend_from_slice(f);
                            g.extend_from_slice(&piece);
                            *gathered = Some(g);
                        }
                        (Some(g), _) => g.extend_from_slice(&piece),
                        (None, None) => *first = Some(piece),
                    }
                }
                Event::BriefSuccess(b) => {
                    // Only with `DecoderConfig::brief_success_responses`: a whole frame.
                    self.skipping = false;
                    self.current = None;
                    return Ok(Some(Frame {
                        head: b.head()?,
                        body: None,
                        flag: Flag::Last,
                    }));
                }
                Event::End(flag) => {
                    if self.skipping {
                        self.skipping = false;
                        continue;
                    }
                    let Some((head, gathered, first)) = self.current.take() else {
                        continue;
                    };
                    let body = match gathered {
                        Some(g) => Some(g.freeze()),
                        None => first,
                    };
                    return Ok(Some(Frame { head, body, flag }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND: &str = "MSRP abcd SEND\r\nTo-Path: msrp://b.example.com:2/t;tcp\r\nFrom-Path: msrp://a.example.com:1/s;tcp\r\nMessage-ID: m123\r\nContent-Type: text/plain\r\n\r\n0123456789\r\n-------abcd$\r\n";

    #[test]
    fn one_read_body_is_not_copied() {
        let mut buf = BytesMut::from(SEND);
        let base = buf.as_ptr() as usize;
        let mut d = FrameDecoder::new(DecoderConfig::default(), 100);
        let f = d.decode(&mut buf).unwrap().unwrap();
        let body = f.body.unwrap();
        assert_eq!(&body[..], b"0123456789");
        // The body is a slice of the read buffer itself.
        assert_eq!(body.as_ptr() as usize, base + SEND.find("0123").unwrap());
        assert_eq!(f.flag, Flag::Last);
    }

    #[test]
    fn bodies_over_several_reads_are_gathered() {
        let mut d = FrameDecoder::new(DecoderConfig::default(), 100);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for b in SEND.as_bytes().chunks(3) {
            buf.extend_from_slice(b);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].body.as_deref(), Some(&b"0123456789"[..]));
        assert_eq!(frames[0].to_bytes(), SEND.as_bytes());
    }

    #[test]
    fn oversized_bodies_are_413_and_skipped() {
        let mut d = FrameDecoder::new(DecoderConfig::default(), 9);
        let mut buf =
            BytesMut::from(format!("{SEND}{}", SEND.replace("0123456789", "012345678")).as_str());
        let e = d.decode(&mut buf).unwrap_err();
        assert_eq!(
            (e.kind.clone(), e.status(), e.can_continue()),
            (
                ErrorKind::BodyTooLarge(9),
                crate::StatusCode::TOO_LARGE,
                true
            )
        );
        assert_eq!(e.tid.as_deref(), Some("abcd"));
        let f = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.body.as_deref(), Some(&b"012345678"[..]));
        assert!(buf.is_empty());
    }

    #[test]
    fn bodiless_and_empty_bodies_differ() {
        // 4975-009
        let mut d = FrameDecoder::new(DecoderConfig::default(), 9);
        let empty = SEND.replace("0123456789", "");
        let bodiless = "MSRP abcd SEND\r\nTo-Path: msrp://b.example.com:2/t;tcp\r\nFrom-Path: msrp://a.example.com:1/s;tcp\r\n-------abcd$\r\n";
        let mut buf = BytesMut::from(format!("{empty}{bodiless}").as_str());
        let a = d.decode(&mut buf).unwrap().unwrap();
        let b = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(a.body.as_deref(), Some(&b""[..]));
        assert_eq!(b.body, None);
        assert_eq!(a.to_bytes(), empty.as_bytes());
        assert_eq!(b.to_bytes(), bodiless.as_bytes());
    }
}
