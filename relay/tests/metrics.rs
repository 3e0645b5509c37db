//! The relay's Prometheus metrics (`msrp_relay::metrics`) over a scripted exchange on real TCP
//! sockets (127.0.0.1, port 0): two AUTHs with one 401 each, three SENDs of known sizes, one
//! REPORT and one discarded frame move the gathered metrics by exactly those amounts, and
//! nothing else moves.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use msrp::{ByteRange, Flag, StatusCode};
use msrp_relay::metrics::Metrics;
use msrp_relay::server::{Relay, ShutdownHandle};
use prometheus::Registry;
use prometheus::proto::{Metric, MetricFamily, MetricType};

/// Stops the relay when dropped.
struct Stop(ShutdownHandle);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

/// A counter's or gauge's value, a histogram's sample count.
fn number(f: &MetricFamily, m: &Metric) -> f64 {
    match f.get_field_type() {
        MetricType::HISTOGRAM => m.get_histogram().get_sample_count() as f64,
        MetricType::GAUGE => m.get_gauge().get_value(),
        _ => m.get_counter().get_value(),
    }
}

/// The value of metric `name` with labels `labels` in `families`: a counter's or gauge's value,
/// a histogram's sample count; 0 when absent (a labelled series appears on first use).
fn value(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> f64 {
    // A labelled family with no series yet is not gathered at all.
    let Some(f) = families.iter().find(|f| f.name() == name) else {
        return 0.0;
    };
    f.get_metric()
        .iter()
        .find(|m| {
            let l = m.get_label();
            l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|p| p.name() == *k && p.value() == *v))
        })
        .map_or(0.0, |m| number(f, m))
}

/// Every series of `name` as (labels, value), to check that nothing else moved.
fn series(families: &[MetricFamily], name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    families
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter().map(move |m| (f, m)))
        .map(|(f, m)| {
            let labels = m
                .get_label()
                .iter()
                .map(|p| (p.name().to_owned(), p.value().to_owned()))
                .collect();
            (labels, number(f, m))
        })
        .collect()
}

fn pairs(v: &[(&str, &str, f64)]) -> Vec<(Vec<(String, String)>, f64)> {
    let mut out: Vec<_> = v
        .iter()
        .map(|(k, l, n)| (vec![(k.to_string(), l.to_string())], *n))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn sorted(mut v: Vec<(Vec<(String, String)>, f64)>) -> Vec<(Vec<(String, String)>, f64)> {
    v.retain(|(_, n)| *n != 0.0);
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Two clients AUTH (401 then 200 each), Alice sends Bob three SENDs of 10, 3000 and 100 000
/// octets (the last forwarded in two pieces, 4976-033), Bob answers every piece 200 and sends
/// Alice one REPORT, and a response with a transaction id the relay never used is discarded.
#[tokio::test]
async fn scripted_exchange_moves_the_metrics_by_exactly_that() {
    const SIZES: [usize; 3] = [10, 3000, 100_000];
    let registry = Registry::new();
    let metrics = Arc::new(Metrics::with_registry(registry.clone()).expect("register"));
    let relay = Relay::bind_with_metrics(config(), metrics.clone())
        .await
        .expect("bind");
    assert!(Arc::ptr_eq(relay.metrics(), &metrics));
    let addr = relay.local_addr().expect("addr");
    let relay_uri = relay.uri().clone();
    let _stop = Stop(relay.shutdown_handle());
    relay.spawn();

    let mut alice = Client::connect(addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(addr, "msrp://bob.example:7002/b1;tcp").await;
    // 2 AUTHs, each 401 then 200.
    let (ua, _) = alice.auth(&relay_uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&relay_uri, "bob", "builder").await;

    // 3 SENDs Alice -> Bob; Bob answers every chunk he gets 200 (hop by hop).
    let mut firsts = Vec::new();
    for (i, len) in SIZES.into_iter().enumerate() {
        let send = send_head(
            &mut alice,
            msrp::path![ua.clone(), ub.clone(), bob.uri.clone()],
            len,
        );
        let body = Bytes::from(vec![b'a' + i as u8; len]);
        alice.send(&frame(send.clone(), body)).await;
        let mut got = 0;
        let mut first = None;
        while got < len {
            let f = bob.expect().await;
            assert_eq!(f.head.message_id(), send.message_id());
            got += f.body.as_ref().map_or(0, Bytes::len);
            let ok = msrp::report::response(&f.head, StatusCode::OK, None, &bob.uri);
            bob.send(&bodiless(ok)).await;
            first.get_or_insert(f);
        }
        assert_eq!(got, len);
        let ok = alice.expect().await;
        assert_eq!(ok.head.status(), Some(StatusCode::OK));
        assert_eq!(ok.head.tid, send.tid);
        firsts.push(first.expect("a chunk"));
    }

    // 1 REPORT Bob -> Alice (end to end, 4976-032).
    let tid = bob.ids.next_id();
    let report = msrp::report::report(
        &firsts[0].head,
        tid,
        StatusCode::OK,
        None,
        ByteRange::whole(SIZES[0] as u64),
        &bob.uri,
    )
    .expect("a REPORT");
    bob.send(&bodiless(report)).await;
    let rep = alice.expect().await;
    assert_eq!(rep.head.method(), Some(&msrp::Method::Report));

    // 1 discard: a response whose transaction id the relay never sent (RFC 4975 §7.1).
    let mut stray = msrp::report::response(&firsts[0].head, StatusCode::OK, None, &bob.uri);
    stray.tid = "neverSent0001".parse().unwrap();
    bob.send(&msrp::Frame {
        head: stray,
        body: None,
        flag: Flag::Last,
    })
    .await;
    within(3000, async {
        while value(
            &registry.gather(),
            "msrp_relay_discards_total",
            &[("reason", "unknown_transaction")],
        ) < 1.0
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // Nothing further is owed: no 408, no REPORT (every piece was answered).
    assert!(alice.nothing_within(200).await.is_none());

    let g = registry.gather();
    let total: usize = SIZES.iter().sum();
    assert_eq!(
        sorted(series(&g, "msrp_relay_connections_accepted_total")),
        pairs(&[("transport", "tcp", 2.0)])
    );
    assert_eq!(
        sorted(series(&g, "msrp_relay_connections_open")),
        pairs(&[("transport", "tcp", 2.0)])
    );
    assert_eq!(
        sorted(series(&g, "msrp_relay_auth_total")),
        pairs(&[("outcome", "accepted", 2.0), ("outcome", "challenge", 2.0)])
    );
    assert_eq!(
        sorted(series(&g, "msrp_relay_frames_forwarded_total")),
        pairs(&[("method", "REPORT", 1.0), ("method", "SEND", 3.0)])
    );
    assert_eq!(
        sorted(series(&g, "msrp_relay_bytes_forwarded_total")),
        pairs(&[("method", "SEND", total as f64)])
    );
    // 401 x 2 and 200 x 2 to the AUTHs, 200 x 3 hop by hop to the SENDs (4976-028).
    assert_eq!(
        sorted(series(&g, "msrp_relay_responses_sent_total")),
        pairs(&[("status", "200", 5.0), ("status", "401", 2.0)])
    );
    assert_eq!(sorted(series(&g, "msrp_relay_reports_sent_total")), vec![]);
    assert_eq!(
        sorted(series(&g, "msrp_relay_discards_total")),
        pairs(&[("reason", "unknown_transaction", 1.0)])
    );
    assert_eq!(sorted(series(&g, "msrp_relay_queue_full_total")), vec![]);
    assert_eq!(
        sorted(series(&g, "msrp_relay_connections_shed_total")),
        vec![]
    );
    // 100 000 octets with the default 64 KiB pieces: one further piece.
    assert_eq!(value(&g, "msrp_relay_rechunked_total", &[]), 1.0);
    // One latency sample per forwarded request: 3 SENDs and the REPORT.
    assert_eq!(value(&g, "msrp_relay_forward_latency_seconds", &[]), 4.0);

    // The text format a /metrics endpoint would serve says the same.
    let text = metrics.encode_text();
    for line in [
        "msrp_relay_auth_total{outcome=\"challenge\"} 2",
        "msrp_relay_frames_forwarded_total{method=\"SEND\"} 3",
        &format!("msrp_relay_bytes_forwarded_total{{method=\"SEND\"}} {total}"),
        "msrp_relay_responses_sent_total{status=\"401\"} 2",
        "msrp_relay_forward_latency_seconds_count 4",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }

    // Closing a connection brings the gauge down.
    drop(alice);
    within(3000, async {
        while value(
            &registry.gather(),
            "msrp_relay_connections_open",
            &[("transport", "tcp")],
        ) > 1.0
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
