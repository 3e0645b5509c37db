//! The SIP focus's metrics (names `msrp_sip_*`, DESIGN.md convention 6).
//!
//! Label values come from small fixed sets (the methods of RFC 3261 and its extensions, other
//! methods as `other`; status codes), so the series stay few. SIP is signalling, not the message
//! path: label handles are looked up per message rather than cached.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use super::message::Method;

/// The focus's counters and gauges.
#[derive(Debug, Clone)]
pub struct SipMetrics {
    /// `msrp_sip_requests_total{direction,method}`: requests received (`in`) and sent (`out`).
    requests: IntCounterVec,
    /// `msrp_sip_responses_total{direction,method,status}`.
    responses: IntCounterVec,
    /// `msrp_sip_retransmissions_total`: messages sent again (RFC 3261 timers G, E, and the
    /// 2xx retransmissions of §13.3.1.4) and responses resent for retransmitted requests.
    pub retransmissions: IntCounter,
    /// `msrp_sip_malformed_total{transport}`: messages that could not be parsed.
    malformed: IntCounterVec,
    /// `msrp_sip_dialogs`: dialogs established (participants joined by INVITE).
    pub dialogs: IntGauge,
    /// `msrp_sip_tcp_connections`: SIP TCP connections open.
    pub tcp_connections: IntGauge,
}

impl SipMetrics {
    /// Registers the metrics on `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<SipMetrics> {
        let requests = IntCounterVec::new(
            Opts::new(
                "msrp_sip_requests_total",
                "SIP requests received (in) and sent (out), by method.",
            ),
            &["direction", "method"],
        )?;
        let responses = IntCounterVec::new(
            Opts::new(
                "msrp_sip_responses_total",
                "SIP responses received (in) and sent (out), by request method and status.",
            ),
            &["direction", "method", "status"],
        )?;
        let retransmissions = IntCounter::new(
            "msrp_sip_retransmissions_total",
            "SIP messages sent again by the RFC 3261 timers or for retransmitted requests.",
        )?;
        let malformed = IntCounterVec::new(
            Opts::new(
                "msrp_sip_malformed_total",
                "SIP messages that could not be parsed, by transport.",
            ),
            &["transport"],
        )?;
        let dialogs = IntGauge::new(
            "msrp_sip_dialogs",
            "SIP dialogs established (participants joined by INVITE).",
        )?;
        let tcp_connections =
            IntGauge::new("msrp_sip_tcp_connections", "SIP TCP connections open.")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(responses.clone()))?;
        registry.register(Box::new(retransmissions.clone()))?;
        registry.register(Box::new(malformed.clone()))?;
        registry.register(Box::new(dialogs.clone()))?;
        registry.register(Box::new(tcp_connections.clone()))?;
        Ok(SipMetrics {
            requests,
            responses,
            retransmissions,
            malformed,
            dialogs,
            tcp_connections,
        })
    }

    /// A request with `method` went `direction` (`in`/`out`).
    pub fn request(&self, direction: &str, method: &Method) {
        self.requests
            .with_label_values(&[direction, label(method)])
            .inc();
    }

    /// A response `status` to a `method` request went `direction`.
    pub fn response(&self, direction: &str, method: &Method, status: u16) {
        self.responses
            .with_label_values(&[direction, label(method), itoa::Buffer::new().format(status)])
            .inc();
    }

    /// A message over `transport` (`udp`/`tcp`) could not be parsed.
    pub fn malformed(&self, transport: &str) {
        self.malformed.with_label_values(&[transport]).inc();
    }
}

/// The label of `method`: its name, or `other` for methods outside RFC 3261 and its
/// extensions (bounded cardinality).
fn label(method: &Method) -> &str {
    match method {
        Method::Other(_) => "other",
        m => m.as_str(),
    }
}
