//! A chain of two msrpd relays over real TCP on 127.0.0.1 (RFC 4976 §3): Alice AUTHs to relay A,
//! Bob to relay B; Alice's To-Path is A's Use-Path URI, B's Use-Path URI, Bob's URI.
//!
//! Each relay advertises (in its Use-Path URIs) the port of a small sniffing TCP proxy in front of
//! it, so every connection a relay opens to the other goes through that proxy: the proxy counts
//! the connections (4976-035: the A->B connection is reused) and records the octets each way,
//! which shows the hop-by-hop 200 between the relays (4976-028/029) that no endpoint sees.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use common::*;
use msrp::{ByteRange, DecoderConfig, Frame, FrameDecoder, Method, MsrpUri, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a [`Proxy`] saw on one connection: octets towards the relay, octets back.
#[derive(Default, Clone)]
struct Seen {
    up: Vec<u8>,
    down: Vec<u8>,
}

/// A TCP proxy in front of a relay that counts connections and records their octets.
struct Proxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
    conns: Arc<Mutex<Vec<Arc<Mutex<Seen>>>>>,
}

impl Proxy {
    async fn bind() -> (Proxy, TcpListener) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        let p = Proxy {
            port,
            accepted: Arc::new(AtomicUsize::new(0)),
            conns: Arc::new(Mutex::new(Vec::new())),
        };
        (p, l)
    }

    /// Forwards every connection accepted on `l` to `target`.
    fn run(&self, l: TcpListener, target: SocketAddr) {
        let accepted = self.accepted.clone();
        let conns = self.conns.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = l.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let seen = Arc::new(Mutex::new(Seen::default()));
                conns.lock().expect("lock").push(seen.clone());
                let Ok(outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                tokio::spawn(pipe(ir, ow, seen.clone(), true));
                tokio::spawn(pipe(or, iw, seen, false));
            }
        });
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The frames seen on connection `i`: (towards the relay, back from it).
    fn frames(&self, i: usize) -> (Vec<Frame>, Vec<Frame>) {
        let seen = self.conns.lock().expect("lock")[i]
            .lock()
            .expect("lock")
            .clone();
        (decode_all(&seen.up), decode_all(&seen.down))
    }
}

async fn pipe(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Seen>>,
    up: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut s = seen.lock().expect("lock");
            let log = if up { &mut s.up } else { &mut s.down };
            log.extend_from_slice(&buf[..n]);
        }
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    let mut dec = FrameDecoder::new(DecoderConfig::default(), 1 << 20);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(f) = dec.decode(&mut buf).expect("the relays write valid frames") {
        out.push(f);
    }
    assert!(buf.is_empty(), "no partial frame left");
    out
}

/// RFC 4976 §3 with two msrpd relays: the SEND goes Alice -> A -> B -> Bob with each relay
/// moving its URI from To-Path to From-Path (4976-026), every hop answers 200 (4976-028/029),
/// Bob's REPORT travels back end to end (4976-032), and a second SEND reuses the A->B
/// connection (4976-035).
#[tokio::test]
async fn send_and_report_through_two_relays() {
    let (pa, la) = Proxy::bind().await;
    let (pb, lb) = Proxy::bind().await;
    let mut cfg_a = config();
    cfg_a.port = Some(pa.port);
    let mut cfg_b = config();
    cfg_b.port = Some(pb.port);
    let a = start(cfg_a).await;
    let b = start(cfg_b).await;
    pa.run(la, a.addr);
    pb.run(lb, b.addr);
    assert_eq!(a.uri.port(), Some(pa.port));
    assert_eq!(b.uri.port(), Some(pb.port));

    let mut alice = Client::connect(a.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(b.addr, "msrp://bob.example:7002/b1;tcp").await;
    let (ua, _) = alice.auth(&a.uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&b.uri, "bob", "builder").await;
    assert_eq!(ua.port(), Some(pa.port), "A's Use-Path names A's proxy");
    assert_eq!(ub.port(), Some(pb.port), "B's Use-Path names B's proxy");

    let mut sent_tids = Vec::new();
    for (round, text) in [&b"Hello, Bob!"[..], &b"Second message"[..]]
        .into_iter()
        .enumerate()
    {
        let body = Bytes::from_static(text);
        let to = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
        let send = send_head(&mut alice, to, body.len());
        alice.send(&frame(send.clone(), body.clone())).await;

        // Hop 1: A answers Alice at once (4976-028), To-Path her URI only (4976-029).
        let ok = alice.expect().await;
        assert_eq!(ok.head.status(), Some(StatusCode::OK), "round {round}");
        assert_eq!(ok.head.tid, send.tid);
        assert_eq!(strs(ok.head.to_path()), [alice.uri.as_str()]);
        assert_eq!(strs(ok.head.from_path()), [ua.as_str()]);

        // Bob gets it with both relays on the From-Path (RFC 4976 §3).
        let got = bob.expect().await;
        assert_eq!(got.head.method(), Some(&Method::Send));
        assert_eq!(strs(got.head.to_path()), [bob.uri.as_str()]);
        assert_eq!(
            strs(got.head.from_path()),
            [ub.as_str(), ua.as_str(), alice.uri.as_str()]
        );
        assert_eq!(got.head.message_id(), send.message_id());
        assert_eq!(
            got.head.byte_range(),
            Some(ByteRange::whole(body.len() as u64))
        );
        assert_eq!(got.body.as_ref(), Some(&body));
        sent_tids.push(send.tid);

        // Hop 3: Bob answers B; then his REPORT goes back end to end.
        let resp = msrp::report::response(&got.head, StatusCode::OK, None, &bob.uri);
        bob.send(&bodiless(resp)).await;
        let tid = bob.ids.next_id();
        let report = msrp::report::report(
            &got.head,
            tid,
            StatusCode::OK,
            None,
            ByteRange::whole(body.len() as u64),
            &bob.uri,
        )
        .expect("a REPORT");
        bob.send(&bodiless(report)).await;
        let rep = alice.expect().await;
        assert_eq!(rep.head.method(), Some(&Method::Report), "{:?}", rep.head);
        assert_eq!(rep.head.message_id(), send.message_id());
        assert_eq!(strs(rep.head.to_path()), [alice.uri.as_str()]);
        assert_eq!(
            strs(rep.head.from_path()),
            [ua.as_str(), ub.as_str(), bob.uri.as_str()]
        );
        assert_eq!(
            rep.head.report_status().map(|s| s.code),
            Some(StatusCode::OK)
        );

        // 4976-035: A reaches B over one connection, however many SENDs (the proxy accepts a
        // connection before any octet of it reaches B, and Bob got this SEND, so a second
        // connection would already be counted). B reached A once for the REPORTs.
        assert_eq!(pb.accepted(), 1, "A opened one connection to B");
        assert!(pa.accepted() <= 1, "B opened at most one connection to A");
    }

    // Neither endpoint heard anything else (B's hop-by-hop 200 stays between the relays).
    assert!(
        alice.nothing_within(200).await.is_none(),
        "Alice: nothing more"
    );
    assert!(bob.nothing_within(1).await.is_none(), "Bob: nothing more");

    // Hop 2 as the proxy saw it: A's two SENDs to B, each answered 200 by B to A alone.
    let (to_b, from_b) = pb.frames(0);
    let sends: Vec<&Frame> = to_b
        .iter()
        .filter(|f| f.head.method() == Some(&Method::Send))
        .collect();
    assert_eq!(sends.len(), 2, "two SENDs A -> B");
    let a_uri: &MsrpUri = &ua;
    for s in &sends {
        assert_eq!(
            strs(s.head.to_path()),
            [ub.as_str(), bob.uri.as_str()],
            "A removed its URI from To-Path"
        );
        assert_eq!(
            strs(s.head.from_path()),
            [a_uri.as_str(), alice.uri.as_str()],
            "A put its URI first on From-Path"
        );
        let ok: Vec<&Frame> = from_b.iter().filter(|f| f.head.tid == s.head.tid).collect();
        assert_eq!(ok.len(), 1, "B answers A's SEND {} once", s.head.tid);
        assert_eq!(ok[0].head.status(), Some(StatusCode::OK));
        assert_eq!(strs(ok[0].head.to_path()), [ua.as_str()], "to A only");
        assert_eq!(strs(ok[0].head.from_path()), [ub.as_str()]);
    }
    // The REPORTs went B -> A once each, on B's own connection to A (through A's proxy) or
    // back down the A -> B connection.
    let mut reports = from_b
        .iter()
        .filter(|f| f.head.method() == Some(&Method::Report))
        .count();
    if pa.accepted() == 1 {
        let (to_a, _) = pa.frames(0);
        reports += to_a
            .iter()
            .filter(|f| f.head.method() == Some(&Method::Report))
            .count();
    }
    assert_eq!(reports, 2, "two REPORTs B -> A");
    eprintln!(
        "chain: A->B connections {}, B->A connections {}; A->B tids {:?} (Alice's {:?})",
        pb.accepted(),
        pa.accepted(),
        sends.iter().map(|s| s.head.tid).collect::<Vec<_>>(),
        sent_tids
    );
}
