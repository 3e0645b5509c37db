//! `msrp`: the MSRP (RFC 4975) framing, chunking and reassembly engine of msrpd.
//!
//! The core is sans-IO: it parses and writes frames, splits messages into chunks and puts them
//! back together, tracks transactions and says which responses and REPORTs a node owes, without
//! doing I/O or reading the clock (time is passed in as `now`). The `tokio` feature adds a codec
//! and a connection with a byte-bounded write queue on top.
//!
//! Streaming is the point: [`Decoder`] hands a body out as `Bytes` slices of the read buffer as
//! it arrives, never copying or re-scanning it, so a chunk of any size passes in constant memory.
//!
//! | module | holds |
//! |---|---|
//! | [`uri`], [`header`], [`head`], [`byte_range`], [`status`], [`ident`] | the message model: URIs (§6), typed headers, start line, Byte-Range, status codes, ids |
//! | [`decoder`], [`frame`], [`encode`] | the streaming decoder, whole-frame collection, the writer and end-line checks |
//! | [`sender`], [`reassembly`] | splitting messages into chunks (§7.1.1) and putting them back together (§7.3.1) |
//! | [`transaction`], [`report`] | outstanding transactions and their timers; which response or REPORT is owed |
//! | `transport` (feature `tokio`) | the codec, and a connection whose write queue batches frames and interrupts long chunks |
//!
//! A message split into chunks, written, decoded and put back together:
//!
//! ```
//! use std::time::Instant;
//! use bytes::{Bytes, BytesMut};
//! use msrp::reassembly::{Outcome, Reassembler};
//! use msrp::sender::{ChunkSender, SenderConfig};
//! use msrp::{ByteString, Decoder, Event, Head, Header, IdGenerator, Method};
//!
//! let to = msrp::path!["msrp://bob.example.com:8888/9di4ea;tcp".parse().unwrap()];
//! let from = msrp::path!["msrp://alice.example.com:7777/iau39;tcp".parse().unwrap()];
//! let head = Head::request(Method::Send, "tmpl".parse().unwrap(), to, from)
//!     .with(Header::MessageId("m4711".parse().unwrap()))
//!     .with(Header::ContentType(ByteString::from_static("text/plain")));
//!
//! // Sender side: 10 000 octets in chunks of at most 4096.
//! let body = Bytes::from(vec![b'x'; 10_000]);
//! let mut sender = ChunkSender::new(SenderConfig { chunk_size: 4096 });
//! sender.send(head, body.clone()).unwrap();
//! let mut ids = IdGenerator::new();
//! let mut wire = BytesMut::new();
//! while let Some(chunk) = sender.poll_chunk(&mut ids, |_| false) {
//!     chunk.write(&mut wire);
//! }
//!
//! // Receiver side: decode events and reassemble.
//! let (mut decoder, mut reasm, now) = (Decoder::default(), Reassembler::default(), Instant::now());
//! let mut cursor = None;
//! let mut got = None;
//! while let Some(event) = decoder.decode(&mut wire).unwrap() {
//!     match event {
//!         Event::Head { head, .. } => cursor = Some(reasm.begin(&head, now).unwrap()),
//!         Event::Body(piece) => reasm.body(cursor.as_mut().unwrap(), piece).unwrap(),
//!         Event::End(flag) => {
//!             if let Outcome::Complete(m) = reasm.end(cursor.take().unwrap(), flag, now).unwrap() {
//!                 got = Some(m.body);
//!             }
//!         }
//!         // Only with `DecoderConfig::brief_success_responses` or `repeated_sends`.
//!         Event::BriefSuccess(_) | Event::RepeatedSend(_) => {}
//!     }
//! }
//! assert_eq!(got, Some(body));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod block;
mod brief_cache;
pub mod byte_range;
pub mod decoder;
pub mod encode;
pub mod error;
pub mod frame;
pub mod head;
mod head_cache;
pub mod header;
pub mod ident;
pub mod reassembly;
pub mod report;
pub mod sender;
pub mod status;
pub mod transaction;
#[cfg(feature = "tokio")]
pub mod transport;
pub mod uri;

/// Builds a [`Path`] from URIs: `path![a, b]` (like `vec!`).
#[macro_export]
macro_rules! path {
    ($($uri:expr),* $(,)?) => {
        <$crate::Path as ::core::iter::FromIterator<$crate::MsrpUri>>::from_iter([$($uri),*])
    };
}

pub use byte_range::ByteRange;
pub use bytestring::ByteString;
pub use decoder::{BriefSuccess, Decoder, DecoderConfig, Event, RepeatedSend, Tail};
pub use error::{DecodeError, ErrorKind};
pub use frame::{Frame, FrameDecoder};
pub use head::{Flag, Head, Method, StartLine};
pub use header::{AuthParam, AuthParams, FailureReport, Header, Path, Status};
pub use ident::{IdGenerator, Ident, IdentError};
pub use reassembly::{Reassembler, ReassemblyConfig};
pub use sender::{Chunk, ChunkSender, SenderConfig};
pub use status::StatusCode;
pub use transaction::Transactions;
pub use uri::{Host, MsrpUri, UriError};
