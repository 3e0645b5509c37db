//! The relay over real TCP sockets on 127.0.0.1 (port 0): AUTH (RFC 4976 §5.1), forwarding
//! through Use-Path URIs (§5.1, §6.4), streaming a large chunk, and the limits and error paths
//! (4976-002, 4976-023, 4976-038, RFC 4975 §10). Every wait is bounded by a tokio timeout.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use msrp::{ByteRange, Method, MsrpUri, StatusCode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// RFC 4976 §5.1: both clients AUTH and get a Use-Path URI of this relay with Expires.
#[tokio::test]
async fn two_clients_auth() {
    let relay = start(config()).await;
    let mut alice = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(relay.addr, "msrp://bob.example:7002/b1;tcp").await;
    let (ua, ea) = alice.auth(&relay.uri, "alice", "wonderland").await;
    let (ub, eb) = bob.auth(&relay.uri, "bob", "builder").await;
    assert_ne!(ua, ub);
    assert_eq!((ea, eb), (1800, 1800));
    for u in [&ua, &ub] {
        assert_eq!(u.port(), relay.uri.port());
        assert!(u.session_id().is_some_and(|s| s.len() >= 11), "{u}");
    }
}

/// RFC 4976 §5.1, §6.3: a re-AUTH on the same connection refreshes the Use-Path URI the client
/// already holds (same URI, a new Expires) instead of minting another; the same user on another
/// connection gets a URI of its own, bound to that connection (4976-019).
#[tokio::test]
async fn re_auth_refreshes_the_same_use_path() {
    let relay = start(config()).await;
    let mut alice = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let (first, _) = alice.auth(&relay.uri, "alice", "wonderland").await;
    let (again, expires) = alice.auth(&relay.uri, "alice", "wonderland").await;
    assert_eq!(again, first, "a re-AUTH keeps the URI");
    assert_eq!(expires, 1800);
    let mut other = Client::connect(relay.addr, "msrp://alice.example:7003/a2;tcp").await;
    let (elsewhere, _) = other.auth(&relay.uri, "alice", "wonderland").await;
    assert_ne!(elsewhere, first, "another connection gets its own URI");
}

/// RFC 4976 §8/§9.4 (4976-002): AUTH only over TLS, so over TCP it is refused with 403 unless
/// the configuration allows it.
#[tokio::test]
async fn auth_over_tcp_refused_by_default() {
    let mut cfg = config();
    cfg.allow_auth_over_tcp = false;
    let relay = start(cfg).await;
    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let auth = c.request(Method::Auth, msrp::path![relay.uri.clone()]);
    c.send(&bodiless(auth.clone())).await;
    let resp = c.expect().await;
    assert_eq!(resp.head.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(resp.head.tid, auth.tid);
}

/// RFC 4976 §6.1 (4976-023): a connection that sends nothing is closed after the
/// first-request timeout; one that authenticated is not.
#[tokio::test]
async fn first_request_timeout_closes_a_silent_connection() {
    let mut cfg = config();
    cfg.first_request_timeout = Duration::from_millis(300);
    let relay = start(cfg).await;
    let mut silent = within(2000, TcpStream::connect(relay.addr))
        .await
        .expect("connect");
    let mut busy = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    busy.auth(&relay.uri, "alice", "wonderland").await;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let n = within(2000, silent.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0, "closed without a word");
    assert!(started.elapsed() < Duration::from_millis(1500));
    // The authenticated connection is still served after the timeout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (again, _) = busy.auth(&relay.uri, "alice", "wonderland").await;
    assert!(again.session_id().is_some());
}

/// RFC 4976 §6.5: past `max_connections` a new connection is closed at once; once one closes
/// there is room again.
#[tokio::test]
async fn max_connections_enforced() {
    let mut cfg = config();
    cfg.max_connections = 1;
    let relay = start(cfg).await;
    let mut first = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    first.auth(&relay.uri, "alice", "wonderland").await;
    let mut second = within(2000, TcpStream::connect(relay.addr))
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let n = within(2000, second.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0, "the extra connection is closed");
    drop(first);
    // The slot comes back once the relay has seen the close.
    let mut ok = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut third = Client::connect(relay.addr, "msrp://bob.example:7002/b1;tcp").await;
        let auth = third.request(Method::Auth, msrp::path![relay.uri.clone()]);
        third.send(&bodiless(auth)).await;
        if third.recv().await.is_some() {
            ok = true;
            break;
        }
    }
    assert!(ok, "a slot came back");
}

/// RFC 4975 §10 (4975-065): a request that cannot be decoded but can be skipped is answered
/// 400 and the connection goes on.
#[tokio::test]
async fn malformed_frame_gets_400_and_the_connection_stays_usable() {
    let relay = start(config()).await;
    let mut c = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let bad = format!(
        "MSRP bad00001 SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nByte-Range: 9-2/10\r\n\
Content-Type: text/plain\r\n\r\nbad\r\n-------bad00001$\r\n",
        relay.uri, c.uri
    );
    c.write_raw(bad.as_bytes()).await;
    let resp = c.expect().await;
    assert_eq!(resp.head.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(resp.head.tid, "bad00001");
    let (u, _) = c.auth(&relay.uri, "alice", "wonderland").await;
    assert!(u.session_id().is_some());
}

/// Alice and Bob, both authenticated at the relay: (relay, alice, bob, alice's Use-Path URI,
/// bob's).
async fn pair() -> (Running, Client, Client, MsrpUri, MsrpUri) {
    let relay = start(config()).await;
    let mut alice = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(relay.addr, "msrp://bob.example:7002/b1;tcp").await;
    let (ua, _) = alice.auth(&relay.uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&relay.uri, "bob", "builder").await;
    (relay, alice, bob, ua, ub)
}

/// RFC 4976 §5.1, §6.4: Alice's To-Path is her Use-Path URI followed by Bob's path (his Use-Path
/// URI, then his own URI). Bob gets the SEND with the relay's URIs moved to the From-Path,
/// Alice gets the hop-by-hop 200 (4976-028/029), and Bob's REPORT travels back end to end
/// (4976-032).
#[tokio::test]
async fn send_and_report_through_the_relay() {
    let (_relay, mut alice, mut bob, ua, ub) = pair().await;
    let body = Bytes::from_static(b"Hello, Bob!");
    let to = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let send = send_head(&mut alice, to, body.len());
    alice.send(&frame(send.clone(), body.clone())).await;

    let got = bob.expect().await;
    assert_eq!(got.head.method(), Some(&Method::Send));
    assert_eq!(strs(got.head.to_path()), [bob.uri.as_str()]);
    assert_eq!(
        strs(got.head.from_path()),
        [ub.as_str(), ua.as_str(), alice.uri.as_str()]
    );
    assert_eq!(got.head.message_id(), send.message_id());
    assert_eq!(got.body.as_ref(), Some(&body));
    assert_eq!(got.flag, msrp::Flag::Last);

    let ok = alice.expect().await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
    assert_eq!(ok.head.tid, send.tid);
    assert_eq!(strs(ok.head.to_path()), [alice.uri.as_str()]);
    assert_eq!(strs(ok.head.from_path()), [ua.as_str()]);

    // Bob answers his hop (the relay) and reports success to Alice.
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
    assert_eq!(rep.head.method(), Some(&Method::Report));
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
}

/// A 1 MiB body in one chunk streams through the relay intact (never reassembled: the relay's
/// lanes hold 1 MiB at most, and here the reader waits for Bob to read).
#[tokio::test]
async fn one_mib_chunk_streams_through() {
    let (_relay, mut alice, mut bob, ua, ub) = pair().await;
    let body: Bytes = (0..(1usize << 20))
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let to = msrp::path![ua, ub, bob.uri.clone()];
    let send = send_head(&mut alice, to, body.len());
    let f = frame(send, body.clone());
    // The relay may re-chunk (4976-033, 64 KiB pieces by default): collect the pieces, in order,
    // until the one with `$`, each continuing where the previous one ended.
    let receive = async {
        let mut got = Vec::with_capacity(body.len());
        loop {
            let piece = bob.expect().await;
            let range = piece.head.byte_range().expect("Byte-Range");
            assert_eq!(range.start, got.len() as u64 + 1, "pieces in order");
            got.extend_from_slice(piece.body.as_deref().unwrap_or_default());
            if piece.flag == msrp::Flag::Last {
                return got;
            }
        }
    };
    let (_, got) = tokio::join!(alice.send(&f), receive);
    assert_eq!(got.len(), body.len());
    assert!(got[..] == body[..], "body differs");
    assert_eq!(alice.expect().await.head.status(), Some(StatusCode::OK));
}

/// RFC 4976 §6.4 (4976-038): a request whose first To-Path URI is no Use-Path URI of this relay
/// is discarded: nothing is forwarded or answered, and the connection goes on.
#[tokio::test]
async fn unknown_to_path_is_discarded() {
    let (relay, mut alice, mut bob, _ua, ub) = pair().await;
    let unknown = uri(&format!(
        "msrp://localhost:{}/unknownsessid;tcp",
        relay.uri.port().expect("port")
    ));
    let send = send_head(&mut alice, msrp::path![unknown, ub, bob.uri.clone()], 2);
    alice.send(&frame(send, Bytes::from_static(b"hi"))).await;
    // The next thing Alice hears is the answer to her next request, not to the SEND.
    let auth = alice.request(Method::Auth, msrp::path![relay.uri.clone()]);
    alice.send(&bodiless(auth.clone())).await;
    let next = alice.expect().await;
    assert_eq!(next.head.tid, auth.tid);
    assert!(
        timeout(Duration::from_millis(200), bob.r.next())
            .await
            .is_err(),
        "Bob got nothing"
    );
}

/// RFC 4976 §6.4.2: a request for a next hop that is not this relay goes out on a connection
/// the relay opens to the URI's host and port, and that connection is reused for the next one
/// (4976-035); the next hop's response comes back into the router.
#[tokio::test]
async fn next_hop_connection_is_opened_and_reused() {
    let (_relay, mut alice, _bob, ua, _ub) = pair().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let far = uri(&format!("msrp://127.0.0.1:{port}/far1;tcp"));
    let first = send_head(&mut alice, msrp::path![ua.clone(), far.clone()], 3);
    alice
        .send(&frame(first.clone(), Bytes::from_static(b"one")))
        .await;
    let (stream, _) = within(2000, listener.accept()).await.expect("accept");
    let mut hop = Client::from_stream(stream, far.clone());
    let got = hop.expect().await;
    assert_eq!(strs(got.head.to_path()), [far.as_str()]);
    assert_eq!(
        strs(got.head.from_path()),
        [ua.as_str(), alice.uri.as_str()]
    );
    assert_eq!(got.body.as_deref(), Some(&b"one"[..]));
    hop.send(&bodiless(msrp::report::response(
        &got.head,
        StatusCode::OK,
        None,
        &far,
    )))
    .await;
    assert_eq!(alice.expect().await.head.tid, first.tid);

    let second = send_head(&mut alice, msrp::path![ua, far], 3);
    alice.send(&frame(second, Bytes::from_static(b"two"))).await;
    let got2 = hop.expect().await;
    assert_eq!(got2.body.as_deref(), Some(&b"two"[..]));
    assert!(
        timeout(Duration::from_millis(100), listener.accept())
            .await
            .is_err(),
        "no second connection"
    );
}

/// RFC 4976 §6.4.3 (4976-029/030) with the next hop's 200s read briefly: a 200 that names the
/// relay's URI as the relay wrote it ends the SEND's transaction at once; one that spells it
/// otherwise is parsed in full and ends it as well when it parses; one that spells it otherwise
/// and does not parse is dropped, so the transaction runs into its timer and Alice gets the
/// 408 failure REPORT. A 200 that names the URI as written is taken even if a later part of it
/// would not parse (the documented leniency of `DecoderConfig::brief_success_responses`).
#[tokio::test]
async fn next_hop_success_responses_read_briefly_or_in_full() {
    let mut cfg = config();
    cfg.transaction_timeout = Duration::from_millis(600);
    let relay = start(cfg).await;
    let mut alice = Client::connect(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let mut bob = Client::connect(relay.addr, "msrp://bob.example:7002/b1;tcp").await;
    let (ua, _) = alice.auth(&relay.uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&relay.uri, "bob", "builder").await;
    assert!(ub.as_str().contains("localhost"), "{ub}");
    let body = Bytes::from_static(b"Hello, Bob!");

    // (the case, how the 200 Bob writes for the SEND he got is spelled, whether a 408 follows)
    type Spelling = fn(String) -> String;
    let cases: [(&str, Spelling, bool); 3] = [
        (
            "shouted",
            |t| t.replacen("localhost", "LOCALHOST", 1),
            false,
        ),
        (
            "shouted and broken",
            |t| {
                t.replacen("localhost", "LOCALHOST", 1)
                    .replace("From-Path: msrp://bob.example", "From-Path: !!bob.example")
            },
            true,
        ),
        (
            "as written, broken later",
            |t| t.replace("From-Path: msrp://bob.example", "From-Path: !!bob.example"),
            false,
        ),
    ];
    for (what, spell, fails) in cases {
        let to = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
        let send = send_head(&mut alice, to, body.len());
        alice.send(&frame(send.clone(), body.clone())).await;
        let got = bob.expect().await;
        let ok = alice.expect().await;
        assert_eq!(
            (ok.head.status(), ok.head.tid),
            (Some(StatusCode::OK), send.tid)
        );

        let resp = msrp::report::response(&got.head, StatusCode::OK, None, &bob.uri);
        let text = String::from_utf8(bodiless(resp).to_bytes().to_vec()).expect("text");
        let text = spell(text);
        bob.write_raw(text.as_bytes()).await;
        match (fails, alice.nothing_within(1500).await) {
            (false, None) => {}
            (true, Some(rep)) => {
                assert_eq!(rep.head.method(), Some(&Method::Report), "{what}");
                assert_eq!(rep.head.message_id(), send.message_id(), "{what}");
                assert_eq!(
                    rep.head.report_status().map(|s| s.code),
                    Some(StatusCode::TIMEOUT),
                    "{what}"
                );
            }
            (_, got) => panic!("{what}: {got:?}"),
        }
    }
}
