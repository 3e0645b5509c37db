//! The RFC 4976 MSRP relay: its sans-IO core first.
//!
//! | module | holds |
//! |---|---|
//! | [`digest`] | HTTP Digest as RFC 4976 §9.1 profiles it: hashes, challenges, credentials, `rspauth` |
//! | [`auth`] | answering AUTH requests (RFC 4976 §5.1, §6.3): nonces, users, Expires, 401/403/423/200 |
//! | [`use_path`] | the Use-Path URIs the relay has issued, bound to the AUTH's connection (§6.3) |
//!
//! Like the `msrp` core, these modules do no I/O and read no clock: time comes in as `now`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod digest;
pub mod use_path;

/// Identifies one transport connection of the relay (assigned by the listener; opaque here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);
