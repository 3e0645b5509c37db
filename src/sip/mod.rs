//! The SIP focus (RFC 3261, RFC 4353 §6, RFC 7701 §5): `INVITE sip:<room>@<host>` with an MSRP
//! SDP offer joins a chat room; the 200 OK carries the mixer's answer; BYE leaves.
//!
//! - [`message`]: the wire format (parser and serializer, stream and datagram framing);
//! - [`transaction`]: server and client transactions with the RFC 3261 §17 timers;
//! - [`timer`]: the deadline queue the timers of both run on;
//! - [`dialog`]: the dialogs the focus holds, one per joined session;
//! - [`focus`]: the sans-IO user agent: what each request gets, which session it joins or
//!   leaves; time comes in as `now`;
//! - [`server`]: the UDP and TCP listeners and the task that drives the focus;
//! - [`metrics`]: requests and responses by method and status, active dialogs;
//! - [`client`]: a small UAC over TCP (INVITE, ACK, BYE) for `msrpd chat`.
//!
//! The SIP layer is written here, not taken from `ezk-sip-core`/`ezk-sip-ua`: those crates (0.9)
//! got the RFC 3261 timers wrong where a focus depends on them (the 2xx retransmission schedule,
//! Timer G over TCP, a retransmitted INVITE after the ACK starting a second call) and pulled in
//! ~120 crates, DNS resolver included, for a UAS that answers on loopback and LAN addresses.

pub mod client;
pub mod dialog;
pub mod focus;
pub mod message;
pub mod metrics;
pub mod server;
pub mod timer;
pub mod transaction;
