//! `msrp`: the MSRP (RFC 4975) framing, chunking and reassembly engine of msrpd.
//!
//! The core is sans-IO: it parses and writes frames, splits messages into chunks and puts them
//! back together, tracks transactions and says which responses and REPORTs a node owes, without
//! doing I/O or reading the clock (time is passed in as `now`). The `tokio` feature adds a codec
//! and a connection with a byte-bounded write queue on top.
//!
//! Streaming is the point: [`Decoder`] hands a body out as `Bytes` slices of the read buffer as
//! it arrives, never copying or re-scanning it, so a chunk of any size passes in constant memory.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod byte_range;
pub mod decoder;
pub mod encode;
pub mod error;
pub mod frame;
pub mod head;
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

pub use byte_range::ByteRange;
pub use bytestring::ByteString;
pub use decoder::{Decoder, DecoderConfig, Event};
pub use error::{DecodeError, ErrorKind};
pub use frame::{Frame, FrameDecoder};
pub use head::{Flag, Head, Method, StartLine};
pub use header::{AuthParam, AuthParams, FailureReport, Header, Path, Status};
pub use ident::IdGenerator;
pub use status::StatusCode;
pub use uri::{Host, MsrpUri, UriError};
