//! [`MsrpCodec`]: the streaming [`Decoder`] as a `tokio_util` codec (RFC 4975 §7.1, §9).
//!
//! # Items and errors
//!
//! `tokio_util::codec::FramedRead` ends the stream after the first `Err`, but most bad frames
//! are not fatal: the decoder skips the rest of the frame and the connection goes on, and the
//! receiver owes the sender a 400 or 413 (RFC 4975 §10, 4975-065; see
//! [`DecodeError::wants_response`]). So the item type carries those recoverable errors:
//!
//! - `Some(Ok(Ok(event)))`: a [`Event::Head`], a [`Event::Body`] piece or a [`Event::End`];
//! - `Some(Ok(Err(e)))`: a frame that could not be decoded, with [`DecodeError::can_continue`];
//!   the next item is the next frame's;
//! - `Some(Err(CodecError))`: an I/O error, a fatal [`DecodeError`] (the frame boundary is lost)
//!   or [`CodecError::Truncated`] (the peer closed the connection inside a frame); the stream
//!   ends after it;
//! - `None`: the peer closed the connection between frames.
//!
//! # Read buffer
//!
//! Body pieces are handed out as they arrive, as zero-copy slices of the read buffer (4975-031:
//! a chunk of any size is received in constant memory), so the buffer holds at most an
//! incomplete header block (bounded by [`DecoderConfig::max_head`]) or the few octets at the
//! end of what was read that may begin an end-line. When the decoder needs more input and less
//! than a quarter of the read size is free, the codec makes room for a read: first by
//! reclaiming the buffer in place ([`BytesMut::try_reclaim`], which works once the body pieces
//! handed out earlier have been dropped), otherwise by moving the unread octets into a fresh
//! buffer of `unread + read size` octets. The read size starts at [`FIRST_READ`] and doubles
//! each time the buffer is used up, up to [`MsrpCodec::read_chunk`]: a connection that sends a
//! frame now and then (a chat participant) holds a small buffer, a busy one soon reads
//! `read_chunk` octets at a time. It never lets `BytesMut` grow the buffer
//! by doubling, so its capacity stays at or below [`MsrpCodec::max_buffer`] whatever the body
//! size. (A piece kept by the caller keeps its read buffer's allocation alive; callers that
//! keep many small pieces should copy them.)
//!
//! # Reading without `Stream`
//!
//! `FramedRead<R, MsrpCodec>` is a `futures_core::Stream`, which needs a futures crate to
//! consume. [`EventReader`] is the same loop with an inherent, cancel-safe
//! `async fn next()`, over the same codec and buffer strategy.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec;

use crate::decoder::{Decoder, DecoderConfig, Event};
use crate::error::DecodeError;
use crate::frame::Frame;

/// Default number of octets the codec makes room for before each read: 64 KiB.
pub const DEFAULT_READ_CHUNK: usize = 64 * 1024;

/// The read size a codec starts with (see the module documentation, "Read buffer").
pub const FIRST_READ: usize = 2048;

/// Octets an end-line can take at most (`CRLF "-------" tid flag CRLF` with a 32-octet tid):
/// what the decoder may hold back at the end of a body piece.
const END_LINE_MAX: usize = 2 + 7 + 32 + 3;

/// Why a [`MsrpCodec`] stream ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Reading from (or writing to) the transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// A frame could not be decoded and the frame boundary is lost
    /// ([`DecodeError::can_continue`] is `false`): the connection has to be closed.
    #[error("fatal decode error: {0}")]
    Decode(DecodeError),
    /// The connection closed inside a frame (after its start line and before its end-line).
    /// RFC 4975 §5.4 (4975-091): the sessions on a failed connection have failed.
    #[error("connection closed inside a frame ({buffered} undecoded octets)")]
    Truncated {
        /// Octets received and not yet decoded (a partial header block or end-line).
        buffered: usize,
    },
    /// The codec was called again after a fatal error.
    #[error("codec used after a fatal error")]
    Failed,
}

/// A `tokio_util` codec over the streaming [`Decoder`]: decodes [`Event`]s, keeps recoverable
/// [`DecodeError`]s in the item stream, and encodes [`Frame`]s.
///
/// See the [module documentation](self) for the items and the read-buffer strategy.
#[derive(Debug)]
pub struct MsrpCodec {
    decoder: Decoder,
    read_chunk: usize,
    /// The size of the next read the buffer is made room for (grows to `read_chunk`).
    next_read: usize,
    failed: bool,
}

impl Default for MsrpCodec {
    fn default() -> Self {
        MsrpCodec::new(DecoderConfig::default())
    }
}

impl MsrpCodec {
    /// A codec whose decoder has the limits in `cfg`, reading [`DEFAULT_READ_CHUNK`] octets at a
    /// time.
    pub fn new(cfg: DecoderConfig) -> MsrpCodec {
        MsrpCodec {
            decoder: Decoder::new(cfg),
            read_chunk: DEFAULT_READ_CHUNK,
            next_read: FIRST_READ,
            failed: false,
        }
    }

    /// Sets how many octets to make room for before a read (at least 64).
    pub fn with_read_chunk(mut self, read_chunk: usize) -> MsrpCodec {
        self.read_chunk = read_chunk.max(64);
        self.next_read = self.next_read.min(self.read_chunk);
        self
    }

    /// How many octets the codec makes room for before a read.
    pub fn read_chunk(&self) -> usize {
        self.read_chunk
    }

    /// The decoder's limits.
    pub fn config(&self) -> &DecoderConfig {
        self.decoder.config()
    }

    /// The largest capacity the codec gives the read buffer:
    /// [`DecoderConfig::max_head`] plus an end-line plus [`MsrpCodec::read_chunk`]. (A buffer
    /// handed in larger than this, such as `FramedRead::with_capacity`'s, is replaced by a
    /// bounded one the first time it runs out of room.)
    pub fn max_buffer(&self) -> usize {
        self.decoder
            .config()
            .max_head
            .saturating_add(END_LINE_MAX)
            .saturating_add(self.read_chunk)
    }

    /// `true` between frames: nothing of a frame has been decoded yet.
    pub fn is_idle(&self) -> bool {
        self.decoder.is_idle()
    }

    /// [`Decoder::take_tail`].
    pub fn take_tail(&mut self) -> Option<crate::decoder::Tail> {
        self.decoder.take_tail()
    }

    /// Makes room for the next read (see the module documentation).
    fn prepare_read(&mut self, src: &mut BytesMut) {
        let spare = src.capacity() - src.len();
        if spare >= (self.next_read / 4).max(1) {
            return;
        }
        // The buffer was used up: the next ones are larger, up to `read_chunk`.
        let size = self.next_read;
        self.next_read = (self.next_read * 2).min(self.read_chunk);
        if src.capacity() <= self.max_buffer() && src.try_reclaim(size) {
            return;
        }
        let mut fresh = BytesMut::with_capacity(src.len() + size);
        fresh.extend_from_slice(src);
        *src = fresh;
    }
}

impl codec::Decoder for MsrpCodec {
    /// An event, or a frame that could not be decoded but after which the stream goes on.
    type Item = Result<Event, DecodeError>;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        if self.failed {
            return Err(CodecError::Failed);
        }
        match self.decoder.decode(src) {
            Ok(Some(ev)) => Ok(Some(Ok(ev))),
            Ok(None) => {
                self.prepare_read(src);
                Ok(None)
            }
            Err(e) if e.can_continue() => Ok(Some(Err(e))),
            Err(e) => {
                self.failed = true;
                Err(CodecError::Decode(e))
            }
        }
    }

    /// At end of input: the remaining events, then `Ok(None)` when the input ended between
    /// frames, or [`CodecError::Truncated`] when it ended inside one.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, CodecError> {
        match self.decode(src)? {
            Some(item) => Ok(Some(item)),
            None if src.is_empty() && self.decoder.is_idle() => Ok(None),
            None => {
                self.failed = true;
                Err(CodecError::Truncated {
                    buffered: src.len(),
                })
            }
        }
    }
}

/// Serializes a whole frame into the write buffer (copying its body; the write queue in
/// [`super::connection`] writes bodies without copying them).
impl codec::Encoder<&Frame> for MsrpCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.reserve(
            frame.head.encoded_len_hint()
                + frame.body.as_ref().map_or(0, |b| b.len())
                + END_LINE_MAX,
        );
        frame.write(dst);
        Ok(())
    }
}

/// Same as `Encoder<&Frame>`.
impl codec::Encoder<Frame> for MsrpCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        codec::Encoder::<&Frame>::encode(self, &frame, dst)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Reading,
    Eof,
    Done,
}

/// Decodes [`Event`]s from an `AsyncRead` with a [`MsrpCodec`]: what `FramedRead` does, with an
/// inherent [`EventReader::next`] instead of the `Stream` trait.
///
/// Items are those of the codec (see the [module documentation](self)): recoverable decode
/// errors are items and the stream goes on; after an `Err` or the end of input, `next` returns
/// `None`.
#[derive(Debug)]
pub struct EventReader<R> {
    io: R,
    codec: MsrpCodec,
    buf: BytesMut,
    state: ReadState,
}

impl<R: AsyncRead + Unpin> EventReader<R> {
    /// A reader over `io` decoding with `codec`.
    pub fn new(io: R, codec: MsrpCodec) -> EventReader<R> {
        EventReader {
            io,
            codec,
            buf: BytesMut::new(),
            state: ReadState::Reading,
        }
    }

    /// The next item; `None` once the input has ended or after an error.
    ///
    /// Cancel-safe: if the future is dropped before it completes, no input is lost and the next
    /// call goes on where this one stopped.
    pub async fn next(&mut self) -> Option<Result<Result<Event, DecodeError>, CodecError>> {
        use codec::Decoder as _;
        loop {
            let decoded = match self.state {
                ReadState::Done => return None,
                ReadState::Reading => self.codec.decode(&mut self.buf),
                ReadState::Eof => self.codec.decode_eof(&mut self.buf),
            };
            match decoded {
                Ok(Some(item)) => return Some(Ok(item)),
                Ok(None) if self.state == ReadState::Eof => {
                    self.state = ReadState::Done;
                    return None;
                }
                Ok(None) => {}
                Err(e) => {
                    self.state = ReadState::Done;
                    return Some(Err(e));
                }
            }
            // The codec has made room for the read (`prepare_read`).
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) => self.state = ReadState::Eof,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.state = ReadState::Done;
                    return Some(Err(CodecError::Io(e)));
                }
            }
        }
    }

    /// The next item that the input already buffered yields, without reading from the
    /// transport: `None` when more input is needed, or once the input has ended (then
    /// [`EventReader::next`] reads, or says the stream is over). Lets a caller handle every
    /// buffered event before it waits for the next read, with the same items in the same order
    /// as `next` would give.
    pub fn next_buffered(&mut self) -> Option<Result<Result<Event, DecodeError>, CodecError>> {
        use codec::Decoder as _;
        if self.state != ReadState::Reading {
            return None;
        }
        match self.codec.decode(&mut self.buf) {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => None,
            Err(e) => {
                self.state = ReadState::Done;
                Some(Err(e))
            }
        }
    }

    /// The read buffer (undecoded input); its capacity stays at or below
    /// [`MsrpCodec::max_buffer`] once reading has started.
    pub fn read_buffer(&self) -> &BytesMut {
        &self.buf
    }

    /// The codec.
    pub fn codec(&self) -> &MsrpCodec {
        &self.codec
    }

    /// The body and end-line of the [`Event::RepeatedSend`] just returned, when they were
    /// read with it ([`crate::Decoder::take_tail`]).
    pub fn take_tail(&mut self) -> Option<crate::decoder::Tail> {
        self.codec.take_tail()
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.io
    }

    /// The underlying reader, the codec and the undecoded input.
    pub fn into_parts(self) -> (R, MsrpCodec, BytesMut) {
        (self.io, self.codec, self.buf)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use tokio_util::codec::{Decoder as _, Encoder as _};

    use super::*;
    use crate::error::ErrorKind;
    use crate::head::Flag;

    const SEND: &[u8] = b"MSRP a786hjs2 SEND\r\nTo-Path: msrp://b.example.com:7654/jshA7we;tcp\r\n\
From-Path: msrp://a.example.com:12763/kjhd37s2s20w2a;tcp\r\nContent-Type: text/plain\r\n\r\nHi!\r\n-------a786hjs2$\r\n";

    /// Decodes everything, feeding `input` in pieces of `step` octets, then EOF.
    fn run(input: &[u8], step: usize) -> (Vec<Result<Event, DecodeError>>, Result<(), String>) {
        let mut codec = MsrpCodec::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(item)) => out.push(item),
                    Ok(None) => break,
                    Err(e) => return (out, Err(e.to_string())),
                }
            }
        }
        loop {
            match codec.decode_eof(&mut buf) {
                Ok(Some(item)) => out.push(item),
                Ok(None) => return (out, Ok(())),
                Err(e) => return (out, Err(e.to_string())),
            }
        }
    }

    fn body(items: &[Result<Event, DecodeError>]) -> Vec<u8> {
        items
            .iter()
            .filter_map(|i| match i {
                Ok(Event::Body(b)) => Some(b.to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn whole_frame_then_clean_eof_at_every_split() {
        for step in 1..=SEND.len() {
            let (items, end) = run(SEND, step);
            assert_eq!(end, Ok(()), "step {step}");
            assert!(
                matches!(items.first(), Some(Ok(Event::Head { body: true, .. }))),
                "step {step}"
            );
            assert_eq!(
                items.last(),
                Some(&Ok(Event::End(Flag::Last))),
                "step {step}"
            );
            assert_eq!(body(&items), b"Hi!", "step {step}");
        }
    }

    #[test]
    fn eof_inside_a_frame_is_truncated_at_every_cut() {
        for cut in 1..SEND.len() {
            let (_, end) = run(&SEND[..cut], 7);
            let e = end.expect_err("a cut frame must not end cleanly");
            assert!(e.contains("inside a frame"), "cut {cut}: {e}");
        }
    }

    #[test]
    fn recoverable_error_is_an_item_and_the_next_frame_decodes() {
        // RFC 4975 §10 (4975-065): a bad Byte-Range is answered 400; the connection goes on.
        let bad = b"MSRP tid00001 SEND\r\nTo-Path: msrp://b.example.com:7654/jshA7we;tcp\r\n\
From-Path: msrp://a.example.com:12763/kjhd37s2s20w2a;tcp\r\nByte-Range: 9-2/10\r\n\
Content-Type: text/plain\r\n\r\nbad\r\n-------tid00001$\r\n";
        let mut input = bad.to_vec();
        input.extend_from_slice(SEND);
        let (items, end) = run(&input, 5);
        assert_eq!(end, Ok(()));
        let err = items[0].as_ref().expect_err("first item is the bad frame");
        assert!(err.can_continue() && err.wants_response());
        assert!(matches!(err.kind, ErrorKind::Header(_)), "{:?}", err.kind);
        assert!(matches!(items[1], Ok(Event::Head { .. })));
        assert_eq!(body(&items), b"Hi!");
    }

    #[test]
    fn fatal_error_then_failed() {
        let mut codec = MsrpCodec::default();
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\n\r\n"[..]);
        assert!(matches!(codec.decode(&mut buf), Err(CodecError::Decode(e)) if !e.can_continue()));
        assert!(matches!(codec.decode(&mut buf), Err(CodecError::Failed)));
    }

    #[test]
    fn buffer_stays_bounded_for_a_large_body() {
        let codec_cfg = MsrpCodec::default().with_read_chunk(4096);
        let bound = codec_cfg.max_buffer();
        let mut codec = codec_cfg;
        let head = b"MSRP big12345 SEND\r\nTo-Path: msrp://b.example.com:7654/jshA7we;tcp\r\n\
From-Path: msrp://a.example.com:12763/kjhd37s2s20w2a;tcp\r\nContent-Type: application/octet-stream\r\n\r\n";
        let total = 1 << 20;
        let content: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let mut wire = head.to_vec();
        wire.extend_from_slice(&content);
        wire.extend_from_slice(b"\r\n-------big12345$\r\n");
        // Simulate FramedRead: read into the spare capacity only.
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let mut pos = 0;
        let mut got = 0usize;
        let mut ended = false;
        for _ in 0..100_000 {
            match codec.decode(&mut buf) {
                Ok(Some(Ok(Event::Body(b)))) => {
                    assert_eq!(&content[got..got + b.len()], &b[..]);
                    got += b.len();
                }
                Ok(Some(Ok(Event::End(_)))) => {
                    ended = true;
                    break;
                }
                Ok(Some(Ok(Event::Head { .. }))) => {}
                Ok(Some(Ok(Event::BriefSuccess(r)))) => panic!("not configured: {r:?}"),
                Ok(Some(Ok(Event::RepeatedSend(r)))) => panic!("not configured: {r:?}"),
                Ok(Some(Err(e))) | Err(CodecError::Decode(e)) => panic!("{e}"),
                Err(e) => panic!("{e}"),
                Ok(None) => {
                    buf.reserve(1);
                    let n = (buf.capacity() - buf.len()).min(wire.len() - pos);
                    buf.extend_from_slice(&wire[pos..pos + n]);
                    pos += n;
                }
            }
            assert!(
                buf.capacity() <= bound,
                "capacity {} > {bound}",
                buf.capacity()
            );
        }
        assert!(ended);
        assert_eq!(got, total);
    }

    #[tokio::test]
    async fn next_buffered_yields_only_what_is_buffered_in_order() {
        let (mut client, server) = tokio::io::duplex(4096);
        let mut reader = EventReader::new(server, MsrpCodec::default());
        // Nothing read yet: nothing buffered.
        assert!(reader.next_buffered().is_none());
        let mut two = SEND.to_vec();
        two.extend_from_slice(SEND);
        tokio::io::AsyncWriteExt::write_all(&mut client, &two[..SEND.len() + 10])
            .await
            .expect("write");
        // The first item needs a read; the rest of the first frame and the start of the
        // second are then buffered.
        let first = reader.next().await;
        assert!(matches!(first, Some(Ok(Ok(Event::Head { .. })))));
        let mut got = Vec::new();
        while let Some(item) = reader.next_buffered() {
            got.push(item.expect("no error").expect("no decode error"));
        }
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(&got[0], Event::Body(b) if &b[..] == b"Hi!"));
        assert_eq!(got[1], Event::End(Flag::Last));
        // The second frame's head is incomplete: more input is needed.
        assert!(reader.next_buffered().is_none());
        tokio::io::AsyncWriteExt::write_all(&mut client, &two[SEND.len() + 10..])
            .await
            .expect("write");
        drop(client);
        assert!(matches!(
            reader.next().await,
            Some(Ok(Ok(Event::Head { .. })))
        ));
        assert!(matches!(
            reader.next_buffered(),
            Some(Ok(Ok(Event::Body(_))))
        ));
        assert!(matches!(
            reader.next_buffered(),
            Some(Ok(Ok(Event::End(Flag::Last))))
        ));
        // EOF is only seen by `next`.
        assert!(reader.next_buffered().is_none());
        assert!(reader.next().await.is_none());
        assert!(reader.next_buffered().is_none());
    }

    #[test]
    fn encoder_writes_what_the_decoder_reads() {
        let (items, _) = run(SEND, SEND.len());
        let Some(Ok(Event::Head { head, .. })) = items.first() else {
            panic!("no head")
        };
        let frame = Frame {
            head: head.clone(),
            body: Some(Bytes::from_static(b"Hi!")),
            flag: Flag::Last,
        };
        let mut codec = MsrpCodec::default();
        let mut out = BytesMut::new();
        codec.encode(&frame, &mut out).expect("encode");
        codec.encode(frame, &mut out).expect("encode");
        let mut twice = SEND.to_vec();
        twice.extend_from_slice(SEND);
        assert_eq!(&out[..], &twice[..]);
    }
}
