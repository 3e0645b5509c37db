//! The mixer's Prometheus metrics: one [`Metrics`] struct whose collectors are registered on a
//! [`prometheus::Registry`] (its own, or one given to [`Metrics::with_registry`], e.g. the
//! daemon's, shared with the relay), updated by [`crate::server`].
//!
//! | metric | type | labels | counts |
//! |---|---|---|---|
//! | `msrp_mixer_rooms` | gauge | — | rooms that exist now |
//! | `msrp_mixer_participants` | gauge | — | participants (user URIs with a session) in all rooms |
//! | `msrp_mixer_sessions` | gauge | — | participant sessions in all rooms, bound or not |
//! | `msrp_mixer_connections_open` | gauge | — | MSRP connections open now (incoming and the mixer's own) |
//! | `msrp_mixer_connections_accepted_total` | counter | — | incoming connections accepted |
//! | `msrp_mixer_messages_total` | counter | `kind` (`public`, `private`, `iscomposing`) | messages the switch accepted and distributed (RFC 7701 §6.1/§6.2); `iscomposing` = wrapping `application/im-iscomposing+xml` (RFC 3994), public or private |
//! | `msrp_mixer_deliveries_total` | counter | — | copies of messages handed to recipients' connections whole (one per recipient per message, history replays included) |
//! | `msrp_mixer_delivery_failures_total` | counter | `reason` (`queue_full`, `gone`) | copies dropped: the recipient's queue was full (a slow participant) or its session had gone |
//! | `msrp_mixer_dropped_sessions_total` | counter | `reason` (`slow`, `bind_timeout`) | sessions the mixer removed from their room |
//! | `msrp_mixer_refused_total` | counter | `status` | SENDs the switch refused (403, 404, 413, 415, 428, 400; RFC 7701 §6) |
//! | `msrp_mixer_nicknames_total` | counter | `status` (`200`, `400`, `403`, `424`, `425`) | NICKNAME answers (RFC 7701 §7); `425` counts nickname conflicts |
//! | `msrp_mixer_fanout_latency_seconds` | histogram | — | from a body piece (or end-line) read from the sender's connection to its copies queued for every recipient |
//!
//! Updating a metric takes no lock: label children used per message are resolved once.

use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The kind of a distributed message, for `msrp_mixer_messages_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// CPIM `To` = the room (RFC 7701 §6.1).
    Public,
    /// CPIM `To` = one participant (RFC 7701 §6.2).
    Private,
    /// An isComposing indication (RFC 3994), public or private.
    IsComposing,
}

impl MessageKind {
    /// The `kind` label.
    pub fn label(self) -> &'static str {
        match self {
            MessageKind::Public => "public",
            MessageKind::Private => "private",
            MessageKind::IsComposing => "iscomposing",
        }
    }
}

/// The mixer's metrics (see the [module documentation](self) for names and labels). Every
/// field is a handle onto the registered collector; share the struct behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Rooms now.
    pub rooms: IntGauge,
    /// Participants now, all rooms.
    pub participants: IntGauge,
    /// Sessions now, all rooms.
    pub sessions: IntGauge,
    /// Connections open now.
    pub connections_open: IntGauge,
    /// Incoming connections accepted.
    pub connections_accepted: IntCounter,
    /// Messages distributed, by `kind`.
    pub messages: IntCounterVec,
    /// Copies delivered whole.
    pub deliveries: IntCounter,
    /// Copies dropped, by `reason`.
    pub delivery_failures: IntCounterVec,
    /// Sessions removed by the mixer, by `reason`.
    pub dropped_sessions: IntCounterVec,
    /// SENDs refused, by `status`.
    pub refused: IntCounterVec,
    /// NICKNAME answers, by `status`.
    pub nicknames: IntCounterVec,
    /// Seconds from a piece read to its copies queued.
    pub fanout_latency: Histogram,
    hot: Hot,
}

#[derive(Debug, Clone, Default)]
struct Hot {
    public: OnceLock<IntCounter>,
    private: OnceLock<IntCounter>,
    iscomposing: OnceLock<IntCounter>,
    queue_full: OnceLock<IntCounter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics on a registry of their own.
    pub fn new() -> Metrics {
        // Fixed, valid names on a fresh registry.
        Metrics::with_registry(Registry::new()).expect("fresh registry")
    }

    /// Metrics registered on `registry`; fails when one of the names is registered there
    /// already.
    pub fn with_registry(registry: Registry) -> prometheus::Result<Metrics> {
        fn vec(name: &str, help: &str, label: &str) -> prometheus::Result<IntCounterVec> {
            IntCounterVec::new(Opts::new(name, help), &[label])
        }
        let m = Metrics {
            rooms: IntGauge::new("msrp_mixer_rooms", "Rooms now.")?,
            participants: IntGauge::new(
                "msrp_mixer_participants",
                "Participants (user URIs with a session) in all rooms.",
            )?,
            sessions: IntGauge::new(
                "msrp_mixer_sessions",
                "Participant sessions in all rooms, bound or not.",
            )?,
            connections_open: IntGauge::new(
                "msrp_mixer_connections_open",
                "MSRP connections open now.",
            )?,
            connections_accepted: IntCounter::new(
                "msrp_mixer_connections_accepted_total",
                "Incoming MSRP connections accepted.",
            )?,
            messages: vec(
                "msrp_mixer_messages_total",
                "Messages distributed, by kind (RFC 7701 6.1/6.2, RFC 3994).",
                "kind",
            )?,
            deliveries: IntCounter::new(
                "msrp_mixer_deliveries_total",
                "Copies of messages handed whole to recipients' connections (history replays included).",
            )?,
            delivery_failures: vec(
                "msrp_mixer_delivery_failures_total",
                "Copies dropped, by reason (queue_full: a slow participant; gone).",
                "reason",
            )?,
            dropped_sessions: vec(
                "msrp_mixer_dropped_sessions_total",
                "Sessions the mixer removed from their room, by reason.",
                "reason",
            )?,
            refused: vec(
                "msrp_mixer_refused_total",
                "SENDs the switch refused, by status (RFC 7701 6).",
                "status",
            )?,
            nicknames: vec(
                "msrp_mixer_nicknames_total",
                "NICKNAME answers, by status (425: conflicts; RFC 7701 7).",
                "status",
            )?,
            fanout_latency: Histogram::with_opts(
                HistogramOpts::new(
                    "msrp_mixer_fanout_latency_seconds",
                    "From a piece read from the sender to its copies queued for every recipient.",
                )
                // 10 us .. 0.66 s.
                .buckets(prometheus::exponential_buckets(1e-5, 4.0, 9)?),
            )?,
            registry,
            hot: Hot::default(),
        };
        let all: [Box<dyn Collector>; 12] = [
            Box::new(m.rooms.clone()),
            Box::new(m.participants.clone()),
            Box::new(m.sessions.clone()),
            Box::new(m.connections_open.clone()),
            Box::new(m.connections_accepted.clone()),
            Box::new(m.messages.clone()),
            Box::new(m.deliveries.clone()),
            Box::new(m.delivery_failures.clone()),
            Box::new(m.dropped_sessions.clone()),
            Box::new(m.refused.clone()),
            Box::new(m.nicknames.clone()),
            Box::new(m.fanout_latency.clone()),
        ];
        for c in all {
            m.registry.register(c)?;
        }
        Ok(m)
    }

    /// The registry the metrics are registered on.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything on [`Metrics::registry`] in the Prometheus text format.
    pub fn encode_text(&self) -> String {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A message of `kind` accepted for distribution.
    pub fn message(&self, kind: MessageKind) {
        let cell = match kind {
            MessageKind::Public => &self.hot.public,
            MessageKind::Private => &self.hot.private,
            MessageKind::IsComposing => &self.hot.iscomposing,
        };
        cell.get_or_init(|| self.messages.with_label_values(&[kind.label()]))
            .inc();
    }

    /// A copy that found its recipient's queue full.
    pub fn queue_full(&self) {
        self.hot
            .queue_full
            .get_or_init(|| self.delivery_failures.with_label_values(&["queue_full"]))
            .inc();
    }

    /// A SEND refused with `status`.
    pub fn refused(&self, status: u16) {
        self.refused
            .with_label_values(&[format!("{status:03}").as_str()])
            .inc();
    }

    /// A NICKNAME answered with `status`.
    pub fn nickname(&self, status: u16) {
        self.nicknames
            .with_label_values(&[format!("{status:03}").as_str()])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_metric_once_and_encodes() {
        let m = Metrics::new();
        m.message(MessageKind::Public);
        m.message(MessageKind::IsComposing);
        m.queue_full();
        m.refused(415);
        m.nickname(425);
        m.deliveries.inc_by(3);
        let text = m.encode_text();
        for line in [
            "msrp_mixer_messages_total{kind=\"public\"} 1",
            "msrp_mixer_messages_total{kind=\"iscomposing\"} 1",
            "msrp_mixer_delivery_failures_total{reason=\"queue_full\"} 1",
            "msrp_mixer_refused_total{status=\"415\"} 1",
            "msrp_mixer_nicknames_total{status=\"425\"} 1",
            "msrp_mixer_deliveries_total 3",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(Metrics::with_registry(m.registry().clone()).is_err());
    }
}
