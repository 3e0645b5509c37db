//! The daemon's Prometheus registry: the relay's and the mixer's metrics, process metrics (CPU
//! seconds, resident memory, open file descriptors, from `/proc`), and the daemon's own
//! ([`DaemonMetrics`]), gathered by `GET /metrics`.

use prometheus::{Encoder, IntCounterVec, Opts, Registry, TextEncoder};

/// The daemon's own counters (names `msrp_daemon_*`, DESIGN.md convention 6).
#[derive(Debug)]
pub struct DaemonMetrics {
    /// `msrp_daemon_connections_total{role}`: connections handed to the relay, the chat rooms,
    /// or refused (`none`: answered 481).
    dispatched: IntCounterVec,
    /// `msrp_daemon_connections_shed_total{where}`: connections closed for want of a slot
    /// (`tcp`/`tls`: the listener's `msrp.max_connections`; `relay`/`mixer`: the role's).
    shed: IntCounterVec,
    /// `msrp_daemon_http_requests_total{route,status}`.
    http: IntCounterVec,
}

impl DaemonMetrics {
    /// Registers the daemon's counters on `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<DaemonMetrics> {
        let dispatched = IntCounterVec::new(
            Opts::new(
                "msrp_daemon_connections_total",
                "MSRP connections by the role their first frame named (none: answered 481).",
            ),
            &["role"],
        )?;
        let shed = IntCounterVec::new(
            Opts::new(
                "msrp_daemon_connections_shed_total",
                "MSRP connections closed at once for want of a connection slot.",
            ),
            &["where"],
        )?;
        let http = IntCounterVec::new(
            Opts::new(
                "msrp_daemon_http_requests_total",
                "HTTP requests by route and status.",
            ),
            &["route", "status"],
        )?;
        registry.register(Box::new(dispatched.clone()))?;
        registry.register(Box::new(shed.clone()))?;
        registry.register(Box::new(http.clone()))?;
        Ok(DaemonMetrics {
            dispatched,
            shed,
            http,
        })
    }

    /// A connection went to `role`.
    pub fn dispatched(&self, role: &str) {
        self.dispatched.with_label_values(&[role]).inc();
    }

    /// A connection was shed at `place`.
    pub fn shed(&self, place: &str) {
        self.shed.with_label_values(&[place]).inc();
    }

    /// An HTTP request to `route` was answered `status`.
    pub fn http(&self, route: &str, status: u16) {
        self.http
            .with_label_values(&[route, itoa::Buffer::new().format(status)])
            .inc();
    }
}

/// Registers the process collector (Linux: `/proc/self`) on `registry`.
pub fn register_process(registry: &Registry) -> prometheus::Result<()> {
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))
}

/// Every metric of `registry` in the Prometheus text format (0.0.4).
pub fn encode(registry: &Registry) -> String {
    let mut out = Vec::with_capacity(16 * 1024);
    // Writing into a Vec cannot fail; a metric family the encoder refuses would be a bug in the
    // names above, and is left out rather than failing the scrape.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}
