//! The RFC 7701 chat-room mixer (the conference focus's MSRP switch): rooms that any RFC 4975
//! client joins by SDP offer/answer, where messages wrapped in CPIM (RFC 3862) fan out to every
//! participant, nickname-addressed private messages reach one, and nobody speaks as someone
//! else.
//!
//! | module | holds |
//! |---|---|
//! | [`cpim`] | the `message/cpim` wrapper (RFC 3862): parsing with exact header preservation, writing |
//! | [`nickname`] | nicknames (RFC 7701 §7, RFC 7700 PRECIS Nickname profile): `Use-Nickname` values and a room's nickname table |
//! | [`join`] | joining by SDP offer/answer (RFC 7701 §5.2): the room's answer and the session's agreed terms |
//! | [`config`] | [`config::RoomPolicy`] (nicknames, private messages, sizes, history), the switch's limits, [`config::MixerConfig`] |
//! | [`identity`] | participant and room URIs in comparable form |
//! | [`room`] | one room's switch, sans-IO: members, SEND/NICKNAME handling, fan-out decisions, history |
//! | [`metrics`] | [`metrics::Metrics`]: the mixer's Prometheus gauges, counters and fan-out latency histogram |
//! | [`server`] | [`server::Mixer`]: the MSRP listener and one task per room (tokio) |
//!
//! Like the `msrp` core, the modules other than [`server`] do no I/O and read no clock: time comes
//! in as `now`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod cpim;
pub mod identity;
pub mod join;
pub mod metrics;
pub mod nickname;
pub mod room;
pub mod server;
