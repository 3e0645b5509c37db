//! The RFC 4976 MSRP relay: a sans-IO core and its tokio TCP server.
//!
//! | module | holds |
//! |---|---|
//! | [`digest`] | HTTP Digest as RFC 4976 §9.1 profiles it: hashes, challenges, credentials, `rspauth` |
//! | [`auth`] | answering AUTH requests (RFC 4976 §5.1, §6.3): nonces, users, Expires, 401/403/423/200 |
//! | [`use_path`] | the Use-Path URIs the relay has issued, bound to the AUTH's connection (§6.3) |
//! | [`forward`] | forwarding requests by To-Path and routing responses back, SEND hop by hop with its 30 s timer and failure REPORTs (§6.4) |
//! | [`config`] | [`config::RelayConfig`]: listen address, host name, users, limits |
//! | `template` | the forwarded header block of a session's SEND with holes for tid, Message-ID and Byte-Range |
//! | [`server`] | [`server::Relay`]: the relay over TCP and TLS (tokio), one reader task per connection |
//! | [`metrics`] | [`metrics::Metrics`]: the relay's Prometheus counters, gauges and latency histogram |
//! | [`tls`] | loading the `msrps` certificate, key and roots into rustls (RFC 4975 §14, RFC 4976 §9.2) |
//!
//! Like the `msrp` core, the modules other than [`server`] do no I/O and read no clock: time
//! comes in as `now`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
mod block;
pub mod config;
pub mod digest;
pub mod forward;
pub mod metrics;
mod path_pool;
pub mod server;
mod template;
pub mod tls;
pub mod use_path;

/// Identifies one transport connection of the relay (assigned by the listener; opaque here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);
