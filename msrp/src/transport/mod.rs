//! The tokio transport (feature `tokio`): [`MsrpCodec`] decodes a byte stream into
//! [`crate::Event`]s with bounded memory (RFC 4975 §7.1, 4975-031), read with `FramedRead` or,
//! without a futures crate, [`EventReader`]; the write side is a
//! byte-bounded [`WriteQueue`] drained by a writer task that batches frames into few vectored
//! writes. [`Connection`] puts both on one stream.
//!
//! The transport is generic over `AsyncRead`/`AsyncWrite`: TCP, TLS or anything else.

pub mod codec;
pub mod connection;

pub use codec::{CodecError, EventReader, MsrpCodec};
pub use connection::{
    Closed, Connection, Outgoing, TrySendError, WriteQueue, Writer, WriterConfig, spawn_writer,
    writer,
};
