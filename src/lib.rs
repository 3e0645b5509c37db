//! `msrpd`: the MSRP relay and chat-room service, as a library for its binary and tests.
//!
//! - [`config`]: the TOML configuration over the embedded default;
//! - [`listener`]: the MSRP listeners the relay (RFC 4976) and the chat rooms (RFC 7701) share,
//!   and the dispatch of each connection by its first frame;
//! - `splice`: connections from other relays, which carry frames for both roles;
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` and the JSON control API;
//! - [`metrics`]: the registry `/metrics` shows;
//! - [`service`]: start-up and the drain on SIGTERM/SIGINT;
//! - [`chat`]: `msrpd chat`, a terminal client for the rooms;
//! - `sip` (feature `sip`, on by default): the SIP focus, where an INVITE joins a room.
#![forbid(unsafe_code)]

pub mod chat;
pub mod config;
pub mod http;
pub mod listener;
pub mod metrics;
pub mod service;
#[cfg(feature = "sip")]
pub mod sip;
mod splice;
