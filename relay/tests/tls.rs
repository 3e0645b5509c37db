//! The relay over TLS (`msrps`, RFC 4975 §14, RFC 4976 §9.2) on 127.0.0.1 with a self-signed
//! test certificate for `localhost` (rcgen): AUTH over TLS (4976-002) with `msrps` Use-Path URIs,
//! a SEND and its REPORT through one relay and through a chain of two relays joined by TLS, next
//! hops whose certificate cannot be verified, and the TLS handshake timeout. Every wait is
//! bounded by a tokio timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp::transport::{EventReader, MsrpCodec};
use msrp::{
    ByteRange, ByteString, Event, Frame, Head, Header, IdGenerator, Method, MsrpUri, Path,
    StatusCode,
};
use msrp_relay::config::{RelayConfig, TlsConfig};
use msrp_relay::digest::{self, Challenge};
use msrp_relay::server::{Relay, ShutdownHandle};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

const REALM: &str = "localhost";

/// Fails the test if `f` takes longer than `ms` milliseconds.
async fn within<T>(ms: u64, f: impl Future<Output = T>) -> T {
    timeout(Duration::from_millis(ms), f)
        .await
        .expect("took too long")
}

fn uri(s: &str) -> MsrpUri {
    MsrpUri::parse(ByteString::from(s.to_owned())).expect("valid URI")
}

/// A self-signed certificate for `localhost`, written as PEM files in a directory of its own
/// (removed on drop).
struct TestCert {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

impl TestCert {
    fn new() -> TestCert {
        static N: AtomicU32 = AtomicU32::new(0);
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        let dir = std::env::temp_dir().join(format!(
            "msrp-relay-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).expect("write cert");
        std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
        TestCert {
            dir,
            cert,
            key,
            der: ck.cert.der().clone(),
        }
    }

    /// TLS with this certificate, trusting `roots` for `msrps` next hops.
    fn tls(&self, roots: Option<&TestCert>) -> TlsConfig {
        let mut t = TlsConfig::new(&self.cert, &self.key);
        t.roots_pem = roots.map(|r| r.cert.clone());
        t
    }

    /// A client-side connector trusting this certificate.
    fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("root");
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        TlsConnector::from(Arc::new(cfg))
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(tls: TlsConfig) -> RelayConfig {
    RelayConfig::new("localhost", REALM)
        .with_user("alice", "wonderland")
        .with_user("bob", "builder")
        .with_tls(tls)
}

/// A relay running in the background; shut down when dropped.
struct Running {
    addr: SocketAddr,
    tls_addr: SocketAddr,
    uri: MsrpUri,
    tls_uri: MsrpUri,
    stop: ShutdownHandle,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.shutdown();
    }
}

async fn start(cfg: RelayConfig) -> Running {
    let relay = Relay::bind(cfg).await.expect("bind");
    let running = Running {
        addr: relay.local_addr().expect("addr"),
        tls_addr: relay.tls_addr().expect("TLS listener").expect("addr"),
        uri: relay.uri().clone(),
        tls_uri: relay.tls_uri().expect("TLS URI").clone(),
        stop: relay.shutdown_handle(),
    };
    relay.spawn();
    running
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// A minimal MSRP endpoint over one TLS (or TCP) connection.
struct Client {
    r: EventReader<Reader>,
    w: Writer,
    uri: MsrpUri,
    ids: IdGenerator,
}

impl Client {
    fn new(r: Reader, w: Writer, own: &str) -> Client {
        Client {
            r: EventReader::new(r, MsrpCodec::default()),
            w,
            uri: uri(own),
            ids: IdGenerator::new(),
        }
    }

    /// Connects over TLS to `addr`, verifying the relay's certificate for `localhost`.
    async fn tls(addr: SocketAddr, cert: &TestCert, own: &str) -> Client {
        let s = within(2000, TcpStream::connect(addr))
            .await
            .expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = within(2000, cert.connector().connect(name, s))
            .await
            .expect("TLS handshake");
        let (r, w) = tokio::io::split(tls);
        Client::new(Box::new(r), Box::new(w), own)
    }

    /// Connects over plain TCP.
    async fn tcp(addr: SocketAddr, own: &str) -> Client {
        let s = within(2000, TcpStream::connect(addr))
            .await
            .expect("connect");
        let (r, w) = s.into_split();
        Client::new(Box::new(r), Box::new(w), own)
    }

    async fn send(&mut self, frame: &Frame) {
        let mut b = BytesMut::new();
        frame.write(&mut b);
        within(2000, async {
            self.w.write_all(&b).await?;
            self.w.flush().await
        })
        .await
        .expect("write");
    }

    /// The next whole frame; `None` at clean EOF.
    async fn recv(&mut self) -> Option<Frame> {
        within(3000, async {
            let mut current: Option<(Head, Option<BytesMut>)> = None;
            loop {
                match self.r.next().await? {
                    Ok(Ok(Event::Head { head, body })) => {
                        current = Some((head, body.then(BytesMut::new)))
                    }
                    Ok(Ok(Event::Body(piece))) => current
                        .as_mut()
                        .and_then(|c| c.1.as_mut())
                        .expect("body of a frame")
                        .extend_from_slice(&piece),
                    Ok(Ok(Event::End(flag))) => {
                        let (head, body) = current.take().expect("end of a frame");
                        return Some(Frame {
                            head,
                            body: body.map(BytesMut::freeze),
                            flag,
                        });
                    }
                    Ok(Err(e)) => panic!("client got an undecodable frame: {e}"),
                    Err(e) => panic!("client stream error: {e}"),
                }
            }
        })
        .await
    }

    async fn expect(&mut self) -> Frame {
        self.recv().await.expect("a frame, not EOF")
    }

    fn request(&mut self, method: Method, to: Path) -> Head {
        Head::request(
            method,
            self.ids.next_id(),
            to,
            msrp::path![self.uri.clone()],
        )
    }

    /// AUTH to `relay` as `user`: 401, then 200 (RFC 4976 §5.1). Returns the Use-Path URI.
    async fn auth(&mut self, relay: &MsrpUri, user: &str, password: &str) -> MsrpUri {
        let first = self.request(Method::Auth, msrp::path![relay.clone()]);
        self.send(&bodiless(first.clone())).await;
        let r401 = self.expect().await;
        assert_eq!(r401.head.status(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(r401.head.tid, first.tid);
        let www = r401
            .head
            .find(|h| match h {
                Header::WwwAuthenticate(a) => Some(a),
                _ => None,
            })
            .expect("WWW-Authenticate");
        let ch = Challenge::parse(www).expect("a Digest challenge");
        let ha1 = digest::ha1_hex(user, REALM, password);
        let creds = ch.answer(user, &ha1, relay.as_str(), "0a4f113b", 1);
        let second = self
            .request(Method::Auth, msrp::path![relay.clone()])
            .with(Header::Authorization(creds));
        self.send(&bodiless(second.clone())).await;
        let ok = self.expect().await;
        assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
        assert_eq!(ok.head.tid, second.tid);
        assert!(ok.head.expires().is_some(), "Expires");
        ok.head
            .find(|h| match h {
                Header::UsePath(p) => p.iter().next().cloned(),
                _ => None,
            })
            .expect("Use-Path")
    }
}

fn bodiless(head: Head) -> Frame {
    Frame {
        head,
        body: None,
        flag: msrp::Flag::Last,
    }
}

fn send_head(c: &mut Client, to: Path, len: usize) -> Head {
    let mid = c.ids.next_id();
    c.request(Method::Send, to)
        .with(Header::MessageId(mid))
        .with(Header::ByteRange(ByteRange::whole(len as u64)))
        .with(Header::ContentType(ByteString::from_static("text/plain")))
}

fn frame(head: Head, body: Bytes) -> Frame {
    Frame {
        head,
        body: Some(body),
        flag: msrp::Flag::Last,
    }
}

fn strs(p: &[MsrpUri]) -> Vec<&str> {
    p.iter().map(MsrpUri::as_str).collect()
}

/// A Use-Path URI the relay issued on its TLS listener: `msrps`, the TLS port, a long random
/// session-id.
fn assert_msrps(u: &MsrpUri, relay: &Running) {
    assert!(u.is_secure(), "{u}");
    assert_eq!(u.port(), Some(relay.tls_addr.port()), "{u}");
    assert!(u.session_id().is_some_and(|s| s.len() >= 11), "{u}");
}

/// Alice sends Bob a SEND along `to`; Bob must get it with `from` as From-Path, Alice the
/// hop-by-hop 200; Bob's REPORT must come back to Alice with `report_from` as From-Path.
async fn send_and_report(
    alice: &mut Client,
    bob: &mut Client,
    to: Path,
    from: &[&str],
    report_from: &[&str],
) {
    let body = Bytes::from_static(b"Hello over TLS");
    let send = send_head(alice, to, body.len());
    alice.send(&frame(send.clone(), body.clone())).await;
    let got = bob.expect().await;
    assert_eq!(got.head.method(), Some(&Method::Send));
    assert_eq!(strs(got.head.to_path()), [bob.uri.as_str()]);
    assert_eq!(strs(got.head.from_path()), from);
    assert_eq!(got.head.message_id(), send.message_id());
    assert_eq!(got.body.as_ref(), Some(&body));

    let ok = alice.expect().await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
    assert_eq!(ok.head.tid, send.tid);

    bob.send(&bodiless(msrp::report::response(
        &got.head,
        StatusCode::OK,
        None,
        &bob.uri,
    )))
    .await;
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
    assert_eq!(strs(rep.head.from_path()), report_from);
    assert_eq!(
        rep.head.report_status().map(|s| s.code),
        Some(StatusCode::OK)
    );
}

/// RFC 4976 §5.1, §9.2 (4976-002): two clients connect with TLS, AUTH (401, then 200 with an
/// `msrps` Use-Path URI on the TLS port) although AUTH over TCP is not allowed, and exchange a
/// SEND and its REPORT through the relay.
#[tokio::test]
async fn auth_and_send_over_tls() {
    let cert = TestCert::new();
    let relay = start(config(cert.tls(None))).await;
    assert!(relay.tls_uri.is_secure());
    let mut alice = Client::tls(relay.tls_addr, &cert, "msrps://alice.example:7001/a1;tcp").await;
    let mut bob = Client::tls(relay.tls_addr, &cert, "msrps://bob.example:7002/b1;tcp").await;
    let ua = within(3000, alice.auth(&relay.tls_uri, "alice", "wonderland")).await;
    let ub = within(3000, bob.auth(&relay.tls_uri, "bob", "builder")).await;
    assert_msrps(&ua, &relay);
    assert_msrps(&ub, &relay);
    assert_ne!(ua, ub);
    let to = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let (a, b, al) = (ua.as_str(), ub.as_str(), alice.uri.as_str().to_owned());
    let bo = bob.uri.as_str().to_owned();
    within(
        4000,
        send_and_report(&mut alice, &mut bob, to, &[b, a, &al], &[a, b, &bo]),
    )
    .await;
}

/// RFC 4976 §8/§9.4 (4976-002): with TLS configured, an AUTH over the plain TCP listener is
/// still answered 403 by default.
#[tokio::test]
async fn plain_tcp_auth_still_refused() {
    let cert = TestCert::new();
    let relay = start(config(cert.tls(None))).await;
    let mut c = Client::tcp(relay.addr, "msrp://alice.example:7001/a1;tcp").await;
    let auth = c.request(Method::Auth, msrp::path![relay.uri.clone()]);
    c.send(&bodiless(auth.clone())).await;
    let resp = c.expect().await;
    assert_eq!(resp.head.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(resp.head.tid, auth.tid);
}

/// RFC 4976 §6.4.2, §9.2: a chain of two relays joined by TLS. Alice is at A, Bob at B (both
/// over TLS); A reaches B's `msrps` Use-Path URI over TLS (verifying B's certificate for
/// `localhost`), and B reaches A's the same way for Bob's REPORT.
#[tokio::test]
async fn chain_of_two_relays_over_tls() {
    let cert = TestCert::new();
    let a = start(config(cert.tls(Some(&cert)))).await;
    let b = start(config(cert.tls(Some(&cert)))).await;
    let mut alice = Client::tls(a.tls_addr, &cert, "msrps://alice.example:7001/a1;tcp").await;
    let mut bob = Client::tls(b.tls_addr, &cert, "msrps://bob.example:7002/b1;tcp").await;
    let ua = within(3000, alice.auth(&a.tls_uri, "alice", "wonderland")).await;
    let ub = within(3000, bob.auth(&b.tls_uri, "bob", "builder")).await;
    assert_msrps(&ua, &a);
    assert_msrps(&ub, &b);
    let to = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let (x, y, al) = (ua.as_str(), ub.as_str(), alice.uri.as_str().to_owned());
    let bo = bob.uri.as_str().to_owned();
    within(
        4000,
        send_and_report(&mut alice, &mut bob, to, &[y, x, &al], &[x, y, &bo]),
    )
    .await;
}

/// A SEND for an `msrps` next hop that cannot be reached over verified TLS is reported to its
/// sender with 408 (RFC 4976 §6.4.1, 4976-031; [`Router::fail`]), after the hop-by-hop 200.
///
/// [`Router::fail`]: msrp_relay::forward::Router::fail
async fn next_hop_fails_with_408(relay: &Running, cert: &TestCert, next: MsrpUri) {
    let mut alice = Client::tls(relay.tls_addr, cert, "msrps://alice.example:7001/a1;tcp").await;
    let ua = within(3000, alice.auth(&relay.tls_uri, "alice", "wonderland")).await;
    let send = send_head(&mut alice, msrp::path![ua, next], 2);
    alice
        .send(&frame(send.clone(), Bytes::from_static(b"hi")))
        .await;
    let (mut ok, mut report) = (None, None);
    for _ in 0..2 {
        let f = alice.expect().await;
        if f.head.status().is_some() {
            ok = f.head.status();
        } else {
            report = Some(f);
        }
    }
    assert_eq!(ok, Some(StatusCode::OK));
    let report = report.expect("a REPORT");
    assert_eq!(report.head.method(), Some(&Method::Report));
    assert_eq!(report.head.message_id(), send.message_id());
    assert_eq!(
        report.head.report_status().map(|s| s.code),
        Some(StatusCode::TIMEOUT)
    );
}

/// Without configured roots, an `msrps` next hop fails (408 REPORT).
#[tokio::test]
async fn msrps_next_hop_without_roots_fails() {
    let cert = TestCert::new();
    let relay = start(config(cert.tls(None))).await;
    let other = start(config(cert.tls(None))).await;
    let next = uri(&format!(
        "msrps://localhost:{}/far1;tcp",
        other.tls_addr.port()
    ));
    within(4000, next_hop_fails_with_408(&relay, &cert, next)).await;
}

/// A next hop whose certificate does not chain to the configured roots fails the handshake:
/// 408 REPORT, nothing delivered.
#[tokio::test]
async fn msrps_next_hop_with_untrusted_certificate_fails() {
    let (cert, stranger) = (TestCert::new(), TestCert::new());
    let relay = start(config(cert.tls(Some(&cert)))).await;
    let other = start(config(stranger.tls(None))).await;
    let next = uri(&format!(
        "msrps://localhost:{}/far1;tcp",
        other.tls_addr.port()
    ));
    within(4000, next_hop_fails_with_408(&relay, &cert, next)).await;
}

/// A client that connects to the TLS listener and never starts the handshake is closed after
/// the handshake timeout, well before the first-request timeout, and its connection slot comes
/// back.
#[tokio::test]
async fn silent_tls_client_is_closed_after_handshake_timeout() {
    let cert = TestCert::new();
    let mut tls = cert.tls(None);
    tls.handshake_timeout = Duration::from_millis(300);
    let mut cfg = config(tls);
    cfg.max_connections = 1;
    let relay = start(cfg).await;
    let mut silent = within(2000, TcpStream::connect(relay.tls_addr))
        .await
        .expect("connect");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = within(2000, silent.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0, "closed without a word");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    // The one slot is free again: a TLS client gets in and is answered.
    let mut c = Client::tls(relay.tls_addr, &cert, "msrps://alice.example:7001/a1;tcp").await;
    let u = within(3000, c.auth(&relay.tls_uri, "alice", "wonderland")).await;
    assert_msrps(&u, &relay);
}
