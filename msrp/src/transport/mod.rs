//! The tokio transport (feature `tokio`): [`MsrpCodec`] decodes a byte stream into
//! [`crate::Event`]s with bounded memory (RFC 4975 §7.1, 4975-031), read with `FramedRead` or,
//! without a futures crate, [`EventReader`]; the write side is a [`WriteQueue`] with a control
//! lane (responses, REPORTs) and a data lane (chunks), each bounded in bytes, drained by a
//! writer task that batches frames into few vectored writes and interrupts long chunks when
//! control items wait (RFC 4975 §7.1.1, 4975-028). [`Connection`] puts both on one stream.
//!
//! The transport is generic over `AsyncRead`/`AsyncWrite`: TCP, TLS or anything else.

pub mod codec;
pub mod connection;

pub use codec::{CodecError, EventReader, MsrpCodec};
pub use connection::{
    ChunkEvent, Closed, Connection, Interrupted, Outgoing, TrySendError, WriteQueue, Writer,
    WriterConfig, spawn_writer, writer,
};
