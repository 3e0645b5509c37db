//! tokio transport (in progress)
pub mod codec;
pub mod connection;
