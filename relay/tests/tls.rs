//! The relay over TLS (`msrps`, RFC 4975 §14, RFC 4976 §9.2) on 127.0.0.1 with test
//! certificates for `localhost` (rcgen, self-signed or issued by a test CA): AUTH over TLS
//! (4976-002) with `msrps` Use-Path URIs, a SEND and its REPORT through one relay and through a
//! chain of two relays joined by TLS, next hops whose certificate cannot be verified, mutual TLS
//! between relays and client certificates on the listener (4976-042), and the TLS handshake
//! timeout. Every wait is bounded by a tokio timeout.

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
use msrp_relay::config::{ClientAuth, RelayConfig, TlsConfig};
use msrp_relay::digest::{self, Challenge};
use msrp_relay::server::{Relay, ShutdownHandle};
use msrp_relay::tls;
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

/// A fresh directory for one certificate's PEM files.
fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "msrp-relay-tls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A certificate for `localhost`, self-signed or issued by a [`TestCa`], written as PEM files in
/// a directory of its own (removed on drop) with the root it chains to.
struct TestCert {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// PEM file of the root the certificate chains to (itself when self-signed).
    root: PathBuf,
    /// That root, DER.
    root_der: CertificateDer<'static>,
}

impl TestCert {
    /// A self-signed certificate for `localhost`.
    fn new() -> TestCert {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
        TestCert::write(&ck.cert, &ck.key_pair, &ck.cert)
    }

    fn write(
        cert: &rcgen::Certificate,
        key: &rcgen::KeyPair,
        root: &rcgen::Certificate,
    ) -> TestCert {
        let dir = temp_dir();
        let t = TestCert {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            root: dir.join("root.pem"),
            root_der: root.der().clone(),
            dir,
        };
        std::fs::write(&t.cert, cert.pem()).expect("write cert");
        std::fs::write(&t.key, key.serialize_pem()).expect("write key");
        std::fs::write(&t.root, root.pem()).expect("write root");
        t
    }

    /// TLS with this certificate, trusting the root of `roots` for `msrps` next hops.
    fn tls(&self, roots: Option<&TestCert>) -> TlsConfig {
        let mut t = TlsConfig::new(&self.cert, &self.key);
        t.roots_pem = roots.map(|r| r.root.clone());
        t
    }

    /// A client-side connector trusting this certificate's root and presenting `identity`'s
    /// certificate, or none (as an ordinary MSRP client does, RFC 4976 §9.2).
    fn connector(&self, identity: Option<&TestCert>) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.root_der.clone()).expect("root");
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
        let cfg = match identity {
            None => builder.with_no_client_auth(),
            Some(id) => builder
                .with_client_auth_cert(
                    tls::load_certs(&id.cert).expect("identity cert"),
                    tls::load_key(&id.key).expect("identity key"),
                )
                .expect("client certificate"),
        };
        TlsConnector::from(Arc::new(cfg))
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A certificate authority (held in memory) that issues `localhost` certificates.
struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa { cert, key }
    }

    /// A certificate for `localhost` (dnsName SubjectAltName, 4976-042) signed by this CA, fit
    /// for both server and client authentication (no Extended Key Usage).
    fn issue(&self, cn: &str) -> TestCert {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        TestCert::write(&cert, &key, &self.cert)
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

    /// Connects over TLS to `addr`, verifying the relay's certificate for `localhost`, and
    /// presenting no certificate.
    async fn tls(addr: SocketAddr, cert: &TestCert, own: &str) -> Client {
        Client::tls_as(addr, cert, None, own).await
    }

    /// [`Client::tls`], presenting `identity`'s certificate when the relay asks for one.
    async fn tls_as(
        addr: SocketAddr,
        cert: &TestCert,
        identity: Option<&TestCert>,
        own: &str,
    ) -> Client {
        let s = within(2000, TcpStream::connect(addr))
            .await
            .expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = within(2000, cert.connector(identity).connect(name, s))
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
                    Ok(Ok(Event::BriefSuccess(r))) => panic!("not configured: {r:?}"),
                    Ok(Ok(Event::RepeatedSend(r))) => panic!("not configured: {r:?}"),
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
    send_fails_with_408(&mut alice, msrp::path![ua, next]).await;
}

/// `alice` (AUTHed at her relay, the first URI of `to`) sends a SEND along `to`: she gets the
/// hop-by-hop 200 and a failure REPORT with 408, the relay's answer to a next hop it cannot
/// reach or that closes the connection (RFC 4976 §6.4.1, 4976-031; [`Router::fail`],
/// [`Router::connection_closed`]).
///
/// [`Router::fail`]: msrp_relay::forward::Router::fail
/// [`Router::connection_closed`]: msrp_relay::forward::Router::connection_closed
async fn send_fails_with_408(alice: &mut Client, to: Path) {
    let send = send_head(alice, to, 2);
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

/// `c` receives nothing for `ms` milliseconds.
async fn assert_silent(c: &mut Client, ms: u64) {
    if let Ok(got) = timeout(Duration::from_millis(ms), c.r.next()).await {
        panic!("expected nothing, got {got:?}");
    }
}

/// A TLS peer presenting `identity`'s certificate (or none) to the listener at `addr` is
/// refused: the handshake fails, or (TLS 1.3, where the client finishes before the server has
/// checked its certificate) the first read after sending an AUTH fails with the server's alert.
/// No MSRP frame comes back.
async fn refused(addr: SocketAddr, cert: &TestCert, identity: Option<&TestCert>) {
    let s = within(2000, TcpStream::connect(addr))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let err = match within(2000, cert.connector(identity).connect(name, s)).await {
        Err(e) => e,
        Ok(mut tls) => {
            let auth = Head::request(
                Method::Auth,
                IdGenerator::new().next_id(),
                msrp::path![uri("msrps://localhost:1;tcp")],
                msrp::path![uri("msrps://x.example:7000/x1;tcp")],
            );
            let mut b = BytesMut::new();
            bodiless(auth).write(&mut b);
            // The write may already fail once the alert is in.
            let written = within(2000, async {
                tls.write_all(&b).await?;
                tls.flush().await
            })
            .await;
            let mut buf = [0u8; 256];
            match (written, within(2000, tls.read(&mut buf)).await) {
                (Err(e), _) | (Ok(()), Err(e)) => e,
                (Ok(()), Ok(n)) => panic!("refused peer read {n} octets"),
            }
        }
    };
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a TLS error: {err:?}"));
    assert!(
        matches!(
            inner,
            rustls::Error::AlertReceived(_) | rustls::Error::InvalidCertificate(_)
        ),
        "{inner:?}"
    );
}

/// Certificates for mutual TLS (4976-042): a CA, relays A and B, and a client of B, each with a
/// `localhost` certificate the CA issued.
struct Pki {
    a: TestCert,
    b: TestCert,
    bob: TestCert,
}

impl Pki {
    fn new() -> Pki {
        let ca = TestCa::new("msrpd test CA");
        let (a, b, bob) = (ca.issue("relay A"), ca.issue("relay B"), ca.issue("bob"));
        Pki { a, b, bob }
    }

    /// Relay B's TLS: trusts the CA for next hops and requires every peer of its listener to
    /// present a certificate the CA issued (RFC 4976 §9.2, 4976-042: a relay-only listener).
    fn b_tls(&self) -> TlsConfig {
        self.b
            .tls(Some(&self.b))
            .with_client_auth(&self.b.root, ClientAuth::Required)
    }
}

/// Starts relay B ([`Pki::b_tls`]) and Bob, who AUTHs there over TLS with his CA-issued client
/// certificate. Returns B, Bob and his Use-Path URI.
async fn start_b_with_bob(pki: &Pki) -> (Running, Client, MsrpUri) {
    let b = start(config(pki.b_tls())).await;
    let mut bob = Client::tls_as(
        b.tls_addr,
        &pki.b,
        Some(&pki.bob),
        "msrps://bob.example:7002/b1;tcp",
    )
    .await;
    let ub = within(3000, bob.auth(&b.tls_uri, "bob", "builder")).await;
    assert_msrps(&ub, &b);
    (b, bob, ub)
}

/// RFC 4976 §9.2 (4976-042): relay-to-relay hops use mutual TLS. Relay B requires client
/// certificates issued by the CA that signed relay A's; A presents its own certificate chain
/// when it connects to B (and B its own when it connects back to A, whose listener verifies
/// presented certificates but accepts clients without one). Alice (no certificate) at A sends
/// Bob at B a SEND: it is delivered, and Bob's REPORT comes back through B and A. A client
/// without a certificate is refused by B.
#[tokio::test]
async fn mutual_tls_chain_with_required_client_certificates() {
    let pki = Pki::new();
    let a_tls = pki
        .a
        .tls(Some(&pki.a))
        .with_client_auth(&pki.a.root, ClientAuth::Optional);
    assert!(a_tls.present_client_cert, "presented by default");
    let a = start(config(a_tls)).await;
    let (b, mut bob, ub) = start_b_with_bob(&pki).await;
    let mut alice = Client::tls(a.tls_addr, &pki.a, "msrps://alice.example:7001/a1;tcp").await;
    let ua = within(3000, alice.auth(&a.tls_uri, "alice", "wonderland")).await;
    assert_msrps(&ua, &a);
    let to = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let (x, y, al) = (ua.as_str(), ub.as_str(), alice.uri.as_str().to_owned());
    let bo = bob.uri.as_str().to_owned();
    within(
        4000,
        send_and_report(&mut alice, &mut bob, to, &[y, x, &al], &[x, y, &bo]),
    )
    .await;
    within(4000, refused(b.tls_addr, &pki.b, None)).await;
}

/// RFC 4976 §9.2 (4976-042): toward a relay that requires client certificates, relay A with
/// its certificate switched off ([`TlsConfig::present_client_cert`]) fails the handshake; the
/// SEND is answered as for any unreachable next hop (hop-by-hop 200, then a 408 failure
/// REPORT) and nothing reaches Bob.
#[tokio::test]
async fn relay_without_client_certificate_is_refused_by_required_listener() {
    let pki = Pki::new();
    let a_tls = pki.a.tls(Some(&pki.a)).with_client_cert(false);
    let a = start(config(a_tls)).await;
    let (_b, mut bob, ub) = start_b_with_bob(&pki).await;
    let mut alice = Client::tls(a.tls_addr, &pki.a, "msrps://alice.example:7001/a1;tcp").await;
    let ua = within(3000, alice.auth(&a.tls_uri, "alice", "wonderland")).await;
    let to = msrp::path![ua, ub, bob.uri.clone()];
    within(4000, send_fails_with_408(&mut alice, to)).await;
    assert_silent(&mut bob, 300).await;
}

/// RFC 4976 §9.2 (4976-042): relay A presenting a certificate from a CA that relay B does not
/// trust (while itself trusting B's) is refused by B, which requires client certificates: 408
/// failure REPORT, nothing delivered.
#[tokio::test]
async fn relay_with_untrusted_client_certificate_is_refused_by_required_listener() {
    let pki = Pki::new();
    let rogue = TestCa::new("rogue CA").issue("relay A");
    let a = start(config(rogue.tls(Some(&pki.b)))).await;
    let (_b, mut bob, ub) = start_b_with_bob(&pki).await;
    let mut alice = Client::tls(a.tls_addr, &rogue, "msrps://alice.example:7001/a1;tcp").await;
    let ua = within(3000, alice.auth(&a.tls_uri, "alice", "wonderland")).await;
    let to = msrp::path![ua, ub, bob.uri.clone()];
    within(4000, send_fails_with_408(&mut alice, to)).await;
    assert_silent(&mut bob, 300).await;
}

/// RFC 4976 §9.2 (4976-042): a listener in [`ClientAuth::Optional`] mode refuses a peer whose
/// certificate comes from a CA it does not trust, accepts a plain client presenting no
/// certificate (as clients SHOULD), and accepts a peer whose certificate the trusted CA issued.
#[tokio::test]
async fn optional_listener_refuses_untrusted_certificate_and_accepts_none() {
    let pki = Pki::new();
    let relay_tls = pki
        .a
        .tls(None)
        .with_client_auth(&pki.a.root, ClientAuth::Optional);
    let relay = start(config(relay_tls)).await;
    let intruder = TestCa::new("rogue CA").issue("intruder");
    within(4000, refused(relay.tls_addr, &pki.a, Some(&intruder))).await;

    let mut plain = Client::tls(relay.tls_addr, &pki.a, "msrps://alice.example:7001/a1;tcp").await;
    let u = within(3000, plain.auth(&relay.tls_uri, "alice", "wonderland")).await;
    assert_msrps(&u, &relay);

    let mut known = Client::tls_as(
        relay.tls_addr,
        &pki.a,
        Some(&pki.bob),
        "msrps://bob.example:7002/b1;tcp",
    )
    .await;
    let u = within(3000, known.auth(&relay.tls_uri, "bob", "builder")).await;
    assert_msrps(&u, &relay);
}

/// [`ClientAuth::Required`] without client roots is a configuration error
/// ([`TlsError::NoClientRoots`]), and the modes read and print as `none`, `optional`,
/// `required`.
///
/// [`TlsError::NoClientRoots`]: msrp_relay::tls::TlsError::NoClientRoots
#[test]
fn required_client_auth_needs_client_roots() {
    let cert = TestCert::new();
    let mut t = cert.tls(None);
    t.client_auth = ClientAuth::Required;
    assert!(matches!(
        tls::acceptor(&t),
        Err(tls::TlsError::NoClientRoots)
    ));
    t.client_auth = ClientAuth::None;
    assert!(tls::acceptor(&t).is_ok());
    for m in [ClientAuth::None, ClientAuth::Optional, ClientAuth::Required] {
        assert_eq!(m.to_string().parse::<ClientAuth>(), Ok(m));
    }
    assert_eq!("Required".parse::<ClientAuth>(), Ok(ClientAuth::Required));
    assert!("sometimes".parse::<ClientAuth>().is_err());
}
