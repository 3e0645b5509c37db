//! The relay's Prometheus metrics: one [`Metrics`] struct whose collectors are registered on a
//! [`prometheus::Registry`] (its own, or one given to [`Metrics::with_registry`]), updated by
//! [`crate::server`] and read with [`Metrics::registry`] (`gather()`, or [`Metrics::encode_text`]
//! for a `/metrics` endpoint).
//!
//! | metric | type | labels | counts |
//! |---|---|---|---|
//! | `msrp_relay_connections_open` | gauge | `transport` (`tcp`, `tls`) | connections open now, incoming and outbound |
//! | `msrp_relay_connections_accepted_total` | counter | `transport` | incoming connections accepted (a TLS one once its handshake is done) |
//! | `msrp_relay_connections_shed_total` | counter | `transport` | incoming connections closed at once: [`RelayConfig::max_connections`](crate::config::RelayConfig::max_connections) reached (RFC 4976 §6.5) |
//! | `msrp_relay_auth_total` | counter | `outcome` (`challenge`, `stale`, `accepted`, `forbidden`, `423`) | AUTH requests answered by this relay (RFC 4976 §5.1, 4976-013..017); an AUTH over plain TCP refused with 403 (4976-002) counts as `forbidden` |
//! | `msrp_relay_frames_forwarded_total` | counter | `method` (`SEND`, `REPORT`, `NICKNAME`, `AUTH`, other method names, `response`) | frames forwarded (RFC 4976 §6.4): requests by method, responses routed back (4976-036) as `response`; each incoming SEND chunk once, however it is re-chunked or combined |
//! | `msrp_relay_bytes_forwarded_total` | counter | `method` | body octets of those frames, as queued for the next hop |
//! | `msrp_relay_rechunked_total` | counter | — | further pieces a forwarded chunk was split into (4976-033): a chunk sent as 3 pieces adds 2 |
//! | `msrp_relay_joined_total` | counter | — | incoming SEND chunks carried on in the outgoing chunk of the one before them (4976-033): three chunks of a message sent on as one add 2 |
//! | `msrp_relay_repeated_total` | counter | — | incoming SEND chunks forwarded from their session's template: they repeated the chunk before them but for tid, Message-ID and Byte-Range, and their block was written by filling in those values (`Conn::forward_repeat`); a session's third chunk on is counted |
//! | `msrp_relay_responses_sent_total` | counter | `status` | responses the relay itself sent (hop-by-hop 200s, 401/403/423/200 to AUTH, 400/413 to frames it could not read, 481, 408); routed responses are forwarded frames, not these |
//! | `msrp_relay_reports_sent_total` | counter | `status` | REPORTs the relay itself sent: failure REPORTs (4976-030/031/037) |
//! | `msrp_relay_forward_latency_seconds` | histogram | — | from the read that brought a request's head to its rewritten head queued for the next hop (a SEND: before its body; other requests: with their body) |
//! | `msrp_relay_queue_full_total` | counter | `lane` (`data`, `control`) | items that found the target's lane full and had to wait (backpressure, DESIGN.md) |
//! | `msrp_relay_discards_total` | counter | `reason` | frames not forwarded ([`DiscardReason`]): `not_a_request`, `not_a_response`, `no_path`, `route_unknown`, `route_expired`, `route_foreign`, `no_next_hop`, `next_hop`, `unknown_transaction`, `wrong_connection`, `not_addressed_here`, `no_route_back`, `next_hop_unreachable` (the next hop could not be reached or its connection closed while the frame was written) |
//!
//! All of it is plain atomics: updating a metric takes no lock.

use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::auth::AuthDecision;
use crate::forward::DiscardReason;
use crate::use_path::RouteError;

/// The relay's metrics (see the [module documentation](self) for names and labels). Cheap to
/// share behind an `Arc`; every field is a handle onto the registered collector.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Connections open now, by `transport` (`tcp`, `tls`).
    pub connections_open: IntGaugeVec,
    /// Incoming connections accepted, by `transport`.
    pub connections_accepted: IntCounterVec,
    /// Incoming connections shed at [`crate::config::RelayConfig::max_connections`], by
    /// `transport`.
    pub connections_shed: IntCounterVec,
    /// AUTH answers by `outcome`: `challenge`, `stale`, `accepted`, `forbidden`, `423`.
    pub auth: IntCounterVec,
    /// Frames forwarded, by `method` (`response` for responses routed back).
    pub frames_forwarded: IntCounterVec,
    /// Body octets forwarded, by `method`.
    pub bytes_forwarded: IntCounterVec,
    /// Further pieces forwarded SEND chunks were split into (4976-033).
    pub rechunked: IntCounter,
    /// Incoming SEND chunks carried on in the outgoing chunk before them (4976-033).
    pub joined: IntCounter,
    /// Incoming SEND chunks forwarded from their session's template (`crate::template`).
    pub repeated: IntCounter,
    /// Responses the relay sent, by `status` (three digits).
    pub responses_sent: IntCounterVec,
    /// REPORTs the relay sent, by `status` (three digits).
    pub reports_sent: IntCounterVec,
    /// Seconds from a request's head in to its rewritten head out (queued).
    pub forward_latency: Histogram,
    /// Items that found a lane full (backpressure), by `lane` (`data`, `control`).
    pub queue_full: IntCounterVec,
    /// Frames not forwarded, by `reason`.
    pub discards: IntCounterVec,
    /// Children of the vectors above that are updated for every message, resolved on first
    /// use (`with_label_values` hashes the label and takes a lock on every call).
    hot: Hot,
}

/// The label values of the per-message metrics, resolved once each (on first use, so that a
/// metric that never happened still does not appear in the output).
#[derive(Debug, Clone, Default)]
struct Hot {
    send_frames: OnceLock<IntCounter>,
    send_bytes: OnceLock<IntCounter>,
    response_frames: OnceLock<IntCounter>,
    response_bytes: OnceLock<IntCounter>,
    ok_sent: OnceLock<IntCounter>,
}

/// `vec`'s child for `label`, resolved into `cell` the first time.
fn child<'a>(cell: &'a OnceLock<IntCounter>, vec: &IntCounterVec, label: &str) -> &'a IntCounter {
    cell.get_or_init(|| vec.with_label_values(&[label]))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics on a registry of their own.
    pub fn new() -> Metrics {
        // Names and labels are fixed and valid, and a fresh registry holds nothing yet.
        Metrics::with_registry(Registry::new()).expect("fresh registry")
    }

    /// Metrics registered on `registry` (e.g. shared with other components). Fails when a
    /// collector of the same name is registered there already.
    pub fn with_registry(registry: Registry) -> prometheus::Result<Metrics> {
        fn counters(name: &str, help: &str, label: &str) -> prometheus::Result<IntCounterVec> {
            IntCounterVec::new(Opts::new(name, help), &[label])
        }
        let m = Metrics {
            connections_open: IntGaugeVec::new(
                Opts::new("msrp_relay_connections_open", "Connections open now."),
                &["transport"],
            )?,
            connections_accepted: counters(
                "msrp_relay_connections_accepted_total",
                "Incoming connections accepted.",
                "transport",
            )?,
            connections_shed: counters(
                "msrp_relay_connections_shed_total",
                "Incoming connections closed at once: too many open (RFC 4976 6.5).",
                "transport",
            )?,
            auth: counters(
                "msrp_relay_auth_total",
                "AUTH requests answered by this relay, by outcome.",
                "outcome",
            )?,
            frames_forwarded: counters(
                "msrp_relay_frames_forwarded_total",
                "Frames forwarded: requests by method, routed responses as 'response'.",
                "method",
            )?,
            bytes_forwarded: counters(
                "msrp_relay_bytes_forwarded_total",
                "Body octets forwarded, by method.",
                "method",
            )?,
            rechunked: IntCounter::new(
                "msrp_relay_rechunked_total",
                "Further pieces forwarded SEND chunks were split into (RFC 4976 6.4.1).",
            )?,
            joined: IntCounter::new(
                "msrp_relay_joined_total",
                "Incoming SEND chunks carried on in the outgoing chunk before them (RFC 4976 6.4.1).",
            )?,
            repeated: IntCounter::new(
                "msrp_relay_repeated_total",
                "Incoming SEND chunks forwarded from their session's template.",
            )?,
            responses_sent: counters(
                "msrp_relay_responses_sent_total",
                "Responses the relay itself sent, by status.",
                "status",
            )?,
            reports_sent: counters(
                "msrp_relay_reports_sent_total",
                "REPORTs the relay itself sent, by status.",
                "status",
            )?,
            forward_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "msrp_relay_forward_latency_seconds",
                    "From a request's head read to its rewritten head queued for the next hop.",
                )
                // 10 us .. 0.66 s.
                .buckets(prometheus::exponential_buckets(1e-5, 4.0, 9)?),
            )?,
            queue_full: counters(
                "msrp_relay_queue_full_total",
                "Items that found the target's lane full and waited (backpressure).",
                "lane",
            )?,
            discards: counters(
                "msrp_relay_discards_total",
                "Frames not forwarded, by reason.",
                "reason",
            )?,
            registry,
            hot: Hot::default(),
        };
        let all: [Box<dyn Collector>; 14] = [
            Box::new(m.connections_open.clone()),
            Box::new(m.connections_accepted.clone()),
            Box::new(m.connections_shed.clone()),
            Box::new(m.auth.clone()),
            Box::new(m.frames_forwarded.clone()),
            Box::new(m.bytes_forwarded.clone()),
            Box::new(m.rechunked.clone()),
            Box::new(m.joined.clone()),
            Box::new(m.repeated.clone()),
            Box::new(m.responses_sent.clone()),
            Box::new(m.reports_sent.clone()),
            Box::new(m.forward_latency.clone()),
            Box::new(m.queue_full.clone()),
            Box::new(m.discards.clone()),
        ];
        for c in all {
            m.registry.register(c)?;
        }
        Ok(m)
    }

    /// The registry the metrics are registered on (for `gather()`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything gathered from [`Metrics::registry`] in the Prometheus text format, as a
    /// `/metrics` endpoint serves it.
    pub fn encode_text(&self) -> String {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail, and the gathered families are well formed.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Counts an AUTH answer (RFC 4976 §6.3) under its [`auth_outcome`] label.
    pub fn auth_answered(&self, decision: &AuthDecision) {
        self.auth.with_label_values(&[auth_outcome(decision)]).inc();
    }

    /// Counts a forwarded frame of `method` (`response` for a routed response) with `octets`
    /// body octets.
    pub fn forwarded(&self, method: &str, octets: u64) {
        let (frames, bytes) = match method {
            "SEND" => (&self.hot.send_frames, &self.hot.send_bytes),
            "response" => (&self.hot.response_frames, &self.hot.response_bytes),
            _ => {
                self.frames_forwarded.with_label_values(&[method]).inc();
                self.bytes_forwarded
                    .with_label_values(&[method])
                    .inc_by(octets);
                return;
            }
        };
        child(frames, &self.frames_forwarded, method).inc();
        child(bytes, &self.bytes_forwarded, method).inc_by(octets);
    }

    /// A SEND chunk forwarded: `frames_forwarded{method="SEND"}` + 1 (its body octets are
    /// counted as they are queued, [`Metrics::send_bytes`]).
    pub fn send_forwarded(&self) {
        child(&self.hot.send_frames, &self.frames_forwarded, "SEND").inc();
    }

    /// `octets` body octets of a SEND queued for the next hop:
    /// `bytes_forwarded{method="SEND"}` + `octets`.
    pub fn send_bytes(&self, octets: u64) {
        child(&self.hot.send_bytes, &self.bytes_forwarded, "SEND").inc_by(octets);
    }

    /// Counts a response with `status` that the relay itself sent.
    pub fn response_sent(&self, status: u16) {
        if status == 200 {
            // The hop-by-hop 200 of every SEND (4976-028).
            child(&self.hot.ok_sent, &self.responses_sent, "200").inc();
            return;
        }
        self.responses_sent
            .with_label_values(&[itoa_status(status).as_str()])
            .inc();
    }

    /// Counts a REPORT with `status` that the relay itself sent.
    pub fn report_sent(&self, status: u16) {
        self.reports_sent
            .with_label_values(&[itoa_status(status).as_str()])
            .inc();
    }

    /// Counts a frame not forwarded, under its [`discard_label`].
    pub fn discarded(&self, reason: &DiscardReason) {
        self.discards
            .with_label_values(&[discard_label(reason)])
            .inc();
    }

    /// Counts an item that found the `lane` (`data` or `control`) full.
    pub fn lane_full(&self, lane: &str) {
        self.queue_full.with_label_values(&[lane]).inc();
    }
}

fn itoa_status(status: u16) -> String {
    format!("{status:03}")
}

/// The `outcome` label of an AUTH answer: `challenge` (401), `stale` (401 with `stale=TRUE`,
/// 4976-013), `accepted` (200), `forbidden` (403, 4976-014), `423` (Min-/Max-Expires, 4976-017).
pub fn auth_outcome(decision: &AuthDecision) -> &'static str {
    match decision {
        AuthDecision::Challenge { stale: true, .. } => "stale",
        AuthDecision::Challenge { .. } => "challenge",
        AuthDecision::Accepted { .. } => "accepted",
        AuthDecision::Forbidden { .. } => "forbidden",
        AuthDecision::ExpiresTooShort { .. } | AuthDecision::ExpiresTooLong { .. } => "423",
    }
}

/// The `reason` label of a [`DiscardReason`] (see the [module documentation](self)).
pub fn discard_label(reason: &DiscardReason) -> &'static str {
    match reason {
        DiscardReason::NotARequest => "not_a_request",
        DiscardReason::NotAResponse => "not_a_response",
        DiscardReason::NoPath => "no_path",
        DiscardReason::Route(e) => match e {
            RouteError::Unknown => "route_unknown",
            RouteError::Expired => "route_expired",
            RouteError::Foreign => "route_foreign",
        },
        DiscardReason::NoNextHop => "no_next_hop",
        DiscardReason::NextHop(_) => "next_hop",
        DiscardReason::UnknownTransaction => "unknown_transaction",
        DiscardReason::WrongConnection => "wrong_connection",
        DiscardReason::NotAddressedHere => "not_addressed_here",
        DiscardReason::NoRouteBack => "no_route_back",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_metric_once_and_encodes() {
        let m = Metrics::new();
        m.forwarded("SEND", 10);
        m.response_sent(200);
        m.discarded(&DiscardReason::UnknownTransaction);
        let text = m.encode_text();
        assert!(text.contains("msrp_relay_frames_forwarded_total{method=\"SEND\"} 1"));
        assert!(text.contains("msrp_relay_bytes_forwarded_total{method=\"SEND\"} 10"));
        assert!(text.contains("msrp_relay_responses_sent_total{status=\"200\"} 1"));
        assert!(text.contains("msrp_relay_discards_total{reason=\"unknown_transaction\"} 1"));
        // A second set on the same registry collides.
        assert!(Metrics::with_registry(m.registry().clone()).is_err());
    }
}
