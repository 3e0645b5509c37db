//! Interop with Kamailio's `msrp` module (Debian package `kamailio`, 5.6.3): msrpd and Kamailio
//! chained as the two relays of RFC 4976 §3, each client AUTHing to one of them (§5.1) and the two
//! relays joined by the To-Path (§6.4, 4976-035: a relay opens a connection to the next hop).
//!
//! Every test starts its own Kamailio on a loopback port with `tests/kamailio/kamailio.cfg` (see
//! `tests/kamailio/README.md` for what that instance does and its limits: frames through it stay
//! below 11 238 bytes, and no AUTH to it carries Expires, which it answers 423 under Digest).
//! Kamailio is always stopped with SIGTERM by a guard ([`Kamailio`]'s `Drop`), also when the test
//! panics; SIGKILL would leave its children holding the port.
//!
//! The `tls_*`, `mutual_tls_*` and certificate tests join the two relays with `msrps` (RFC 4975
//! §14, RFC 4976 §9.2) in both directions: Kamailio runs with `-A WITH_TLS` (`tls.so`, from
//! `kamailio-tls-modules`), and each test makes its own CA and certificates with rcgen ([`Pki`]):
//! Kamailio's for the IP address 127.0.0.1 (its Use-Path URIs carry that literal), msrpd's for
//! `localhost`. Both relays verify each other's chain against that CA.
//!
//! Only loopback addresses are used, and no name resolution can lead to `::1`: see
//! [`localhost_v4`].
//!
//! Without Kamailio (no `/usr/sbin/kamailio` nor `kamailio` on `PATH`, or `kamailio -c` cannot load
//! the config's modules, e.g. no `msrp.so`, or no `tls.so` for the TLS tests) each test prints
//! `SKIPPED: kamailio not installed` and passes, unless `MSRPD_REQUIRE_INTEROP=1` (set by
//! `.ci/run`): then it fails. `MSRPD_KAMAILIO` names another binary (e.g. a missing one, to see the
//! skip).

use std::fs::{self, File};
use std::future::Future;
use std::net::{
    IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdListener, TcpStream as StdStream, ToSocketAddrs,
};
use std::os::unix::process::CommandExt;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp::transport::{EventReader, MsrpCodec};
use msrp::{
    ByteRange, ByteString, Event, Flag, Frame, Head, Header, IdGenerator, Method, MsrpUri, Path,
    StatusCode,
};
use msrp_relay::config::{ClientAuth, RelayConfig, TlsConfig};
use msrp_relay::digest::{self, Challenge};
use msrp_relay::metrics::Metrics;
use msrp_relay::server::{Relay, ShutdownHandle};
use msrp_relay::tls;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

/// The Kamailio config, parameterised by `-A` defines (port, Digest password `secret`).
const CFG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/kamailio/kamailio.cfg");
/// The Digest password `kamailio.cfg` accepts for any user name.
const KAMAILIO_PASSWORD: &str = "secret";
/// The Expires Kamailio grants to an AUTH without one (`MAX_EXPIRES` in the config).
const KAMAILIO_EXPIRES: u32 = 3600;
/// msrpd's SEND transaction timer in these tests (RFC 4976 §6.4.1 says 30 s): a 200 from
/// Kamailio that msrpd did not match would show up as a 408 REPORT this soon.
const MSRPD_TIMER: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------------------------
// Finding Kamailio, or skipping.

/// Whether a skip must fail the test (`MSRPD_REQUIRE_INTEROP=1`, as in CI).
fn interop_required() -> bool {
    std::env::var("MSRPD_REQUIRE_INTEROP").is_ok_and(|v| v == "1" || v == "true")
}

/// The Kamailio binary: `$MSRPD_KAMAILIO`, else `/usr/sbin/kamailio`, else `kamailio` on PATH.
fn find_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("MSRPD_KAMAILIO") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("MSRPD_KAMAILIO={} is not a file", p.display()))
        };
    }
    let sbin = PathBuf::from("/usr/sbin/kamailio");
    if sbin.is_file() {
        return Ok(sbin);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("kamailio"))
        .find(|p| p.is_file())
        .ok_or_else(|| "no /usr/sbin/kamailio and no kamailio on PATH".to_owned())
}

/// The binary, checked once per test binary and variant: `kamailio -c` loads every module the
/// config names (`msrp.so`, `auth.so`, ..., and `tls.so` with `tls`) and exits non-zero if one is
/// missing. It does not read the certificate files, so the TLS probe names none.
fn probe(tls: bool) -> &'static Result<PathBuf, String> {
    static PROBE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    static PROBE_TLS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let cell = if tls { &PROBE_TLS } else { &PROBE };
    cell.get_or_init(|| {
        let bin = find_binary()?;
        let mut cmd = Command::new(&bin);
        cmd.args(["-c", "-f", CFG, "-A", "MSRP_PORT=2855"]);
        if tls {
            cmd.args(["-A", "WITH_TLS", "-A", "MSRP_TLS_PORT=2856"])
                .args(["-A", "TLS_CERT=\"cert.pem\"", "-A", "TLS_KEY=\"key.pem\""]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        if out.status.success() {
            Ok(bin)
        } else {
            // The line that names the missing module, else the last one.
            let text = String::from_utf8_lossy(&out.stderr);
            let why = text
                .lines()
                .find(|l| l.contains("could not find module"))
                .or_else(|| text.lines().last())
                .unwrap_or("")
                .trim();
            Err(format!(
                "`{} -c -f kamailio.cfg{}` failed ({}): {why}",
                bin.display(),
                if tls { " -A WITH_TLS" } else { "" },
                out.status
            ))
        }
    })
}

/// The Kamailio binary if Kamailio and its `msrp` module (and with `tls`, its `tls` module from
/// `kamailio-tls-modules`) are usable. Otherwise prints `SKIPPED: kamailio not installed` and
/// returns `None` (the caller returns), or panics when `MSRPD_REQUIRE_INTEROP=1`: in CI a skip
/// is a failure.
fn kamailio_available_or_skip(tls: bool) -> Option<PathBuf> {
    match probe(tls) {
        Ok(bin) => Some(bin.clone()),
        Err(why) if interop_required() => {
            panic!("MSRPD_REQUIRE_INTEROP=1 but kamailio is not usable: {why}")
        }
        Err(why) => {
            println!("SKIPPED: kamailio not installed ({why})");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running Kamailio.

/// A Kamailio started by a test; stopped with SIGTERM (and waited for) when dropped.
struct Kamailio {
    child: Child,
    addr: SocketAddr,
    /// `msrp://127.0.0.1:PORT;tcp`, the URI clients AUTH to.
    uri: MsrpUri,
    /// With TLS: the `msrps` listener and `msrps://127.0.0.1:TLS_PORT;tcp`.
    tls: Option<(SocketAddr, MsrpUri)>,
    /// Runtime dir (`-Y`) and `kamailio.log` (its stderr).
    dir: PathBuf,
}

/// Sends `signal` to `target` (a pid, or `-pgid`) with kill(1): the crate forbids unsafe code.
fn signal(sig: &str, target: &str) {
    let _ = Command::new("kill")
        .args([sig, "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Kamailio {
    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }

    /// The TLS listener's address and URI (started with [`KamailioTls`]).
    fn tls(&self) -> (SocketAddr, MsrpUri) {
        self.tls.clone().expect("kamailio started with TLS")
    }

    /// Polls for the exit of the main process for up to `limit`; true if it exited.
    fn wait_exit(&mut self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return true,
                Ok(None) if Instant::now() >= end => return false,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let pid = self.child.id().to_string();
            // SIGTERM to the main process: it stops its children and exits 0 within ms.
            signal("-TERM", &pid);
            if !self.wait_exit(Duration::from_secs(5)) {
                // Its own process group (process_group(0) below): SIGTERM every member.
                signal("-TERM", &format!("-{pid}"));
                if !self.wait_exit(Duration::from_secs(5)) {
                    eprintln!("kamailio pid {pid} did not stop on SIGTERM; left running");
                }
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- kamailio log ({}) ---\n{}",
                self.addr,
                self.log().trim_end()
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago (Kamailio cannot listen on port 0).
fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Kamailio's TLS settings (`-A WITH_TLS`, see kamailio.cfg): the certificate and key it presents
/// on its `msrps` listener (and, the tls module having no other, on the connections it opens),
/// and the CA it checks the certificates of `msrps` next hops against (`-A TLS_CA`, which turns
/// on `verify_certificate`); `None`: it checks nothing.
struct KamailioTls {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

/// A `-A NAME="value"` define for a quoted path.
fn quoted(name: &str, path: &FsPath) -> String {
    format!("{name}=\"{}\"", path.display())
}

/// Starts Kamailio on a free loopback port (and with `tls`, a second one for `msrps`) and waits
/// until it accepts connections. A port taken in between (exit 255, "Address already in use") is
/// retried with another one.
fn start_kamailio(bin: &FsPath, tls: Option<&KamailioTls>) -> Kamailio {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    for _attempt in 0..5 {
        let port = free_port();
        let tls_port = tls.map(|_| {
            loop {
                let p = free_port();
                if p != port {
                    break p;
                }
            }
        });
        let dir = std::env::temp_dir().join(format!(
            "msrpd-kamailio-{}-{}-{port}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("runtime dir");
        let log = File::create(dir.join("kamailio.log")).expect("log file");
        let mut cmd = Command::new(bin);
        cmd.arg("-f")
            .arg(CFG)
            .args(["-DD", "-E", "-Y"])
            .arg(&dir)
            .args(["-m", "64", "-M", "8", "-A", &format!("MSRP_PORT={port}")]);
        if let (Some(t), Some(tls_port)) = (tls, tls_port) {
            cmd.args(["-A", "WITH_TLS", "-A", &format!("MSRP_TLS_PORT={tls_port}")])
                .args(["-A", &quoted("TLS_CERT", &t.cert)])
                .args(["-A", &quoted("TLS_KEY", &t.key)]);
            if let Some(ca) = &t.ca {
                cmd.args(["-A", &quoted("TLS_CA", ca)]);
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn kamailio");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let tls = tls_port.map(|p| {
            (
                SocketAddr::from(([127, 0, 0, 1], p)),
                uri(&format!("msrps://127.0.0.1:{p};tcp")),
            )
        });
        let mut k = Kamailio {
            child,
            addr,
            uri: uri(&format!("msrp://127.0.0.1:{port};tcp")),
            tls,
            dir,
        };
        let listeners: Vec<SocketAddr> = [Some(addr), k.tls.as_ref().map(|t| t.0)]
            .into_iter()
            .flatten()
            .collect();
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = k.child.try_wait() {
                let log = k.log();
                if status.code() == Some(255) && log.contains("Address already in use") {
                    break; // next attempt, other ports
                }
                panic!("kamailio exited at start ({status}):\n{log}");
            }
            if listeners
                .iter()
                .all(|a| StdStream::connect_timeout(a, Duration::from_millis(200)).is_ok())
            {
                return k;
            }
            assert!(
                Instant::now() < end,
                "kamailio not ready on {listeners:?} in 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("kamailio: no free port after 5 attempts");
}

// ---------------------------------------------------------------------------------------------
// Certificates.

/// A test CA (rcgen, ECDSA P-256) and the certificates it issues, as PEM files in a directory of
/// their own (removed on drop).
struct Pki {
    dir: PathBuf,
    /// `ca.pem`: the CA certificate, the only root anyone here trusts.
    ca: PathBuf,
    ca_der: CertificateDer<'static>,
    ca_cert: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new() -> Pki {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "msrpd-kamailio-pki-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).expect("PKI dir");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "msrpd interop test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = params.self_signed(&ca_key).expect("CA certificate");
        let ca = dir.join("ca.pem");
        fs::write(&ca, ca_cert.pem()).expect("write CA");
        Pki {
            dir,
            ca,
            ca_der: ca_cert.der().clone(),
            ca_cert,
            ca_key,
        }
    }

    /// A server (and client) certificate for `sans` (DNS names, or IP addresses as IP SANs),
    /// issued by this CA, written as `<name>.pem` + `<name>.key`: (certificate, key) paths.
    fn issue(&self, name: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let sans: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(sans).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .signed_by(&key, &self.ca_cert, &self.ca_key)
            .expect("sign");
        let (c, k) = (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.key")),
        );
        fs::write(&c, cert.pem()).expect("write certificate");
        fs::write(&k, key.serialize_pem()).expect("write key");
        (c, k)
    }

    /// Kamailio's TLS: a certificate for the IP address `127.0.0.1` (an IP SAN), because its
    /// Use-Path URIs name its listen address, `msrps://127.0.0.1:PORT/...`, and that is the name
    /// msrpd checks the certificate against (RFC 4975 §14.2: the URI authority); `TLS_CA` this
    /// CA, so Kamailio verifies msrpd's certificate.
    fn kamailio_tls(&self) -> KamailioTls {
        let (cert, key) = self.issue("kamailio", &["127.0.0.1"]);
        KamailioTls {
            cert,
            key,
            ca: Some(self.ca.clone()),
        }
    }

    /// msrpd's TLS with a certificate for `sans` from this CA, trusting this CA for `msrps`
    /// next hops (Kamailio), on the address Kamailio reaches `localhost` at ([`localhost_v4`]).
    fn msrpd_tls(&self, name: &str, sans: &[&str], roots: &Pki) -> TlsConfig {
        let (cert, key) = self.issue(name, sans);
        let mut t = TlsConfig::new(cert, key);
        t.listen = SocketAddr::from((localhost_v4(), 0));
        t.roots_pem = Some(roots.ca.clone());
        t
    }

    /// A client-side connector that trusts this CA only and presents `identity` (certificate,
    /// key), or no certificate, as an ordinary MSRP client does (RFC 4976 §9.2).
    fn connector(&self, identity: Option<&(PathBuf, PathBuf)>) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("root");
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
        let cfg = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    tls::load_certs(cert).expect("identity cert"),
                    tls::load_key(key).expect("identity key"),
                )
                .expect("client certificate"),
        };
        TlsConnector::from(Arc::new(cfg))
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------------------------
// msrpd.

/// An msrpd relay running in the background; shut down when dropped.
struct Msrpd {
    addr: SocketAddr,
    uri: MsrpUri,
    /// With TLS: the `msrps` listener and its URI `msrps://localhost:PORT;tcp`.
    tls: Option<(SocketAddr, MsrpUri)>,
    metrics: Arc<Metrics>,
    stop: ShutdownHandle,
}

impl Msrpd {
    /// The TLS listener's address and URI.
    fn tls(&self) -> (SocketAddr, MsrpUri) {
        self.tls.clone().expect("msrpd started with TLS")
    }

    /// Incoming connections accepted (for TLS: handshake done) on the `tcp` or `tls` listener.
    fn accepted(&self, transport: &str) -> u64 {
        self.metrics
            .connections_accepted
            .with_label_values(&[transport])
            .get()
    }
}

impl Drop for Msrpd {
    fn drop(&mut self) {
        self.stop.shutdown();
    }
}

/// The IPv4 loopback address `localhost` names for Kamailio; msrpd listens there.
///
/// msrpd's Use-Path URIs name their host `localhost` (a name, not an IP literal: RFC 4976 §4.2,
/// 4976-016, which msrpd enforces), and Kamailio resolves that name whenever it forwards to
/// msrpd. A system whose `localhost` resolves to `::1` first does not matter: with kamailio.cfg's
/// `dns_try_ipv6=no` and `use_dns_cache=off`, Kamailio 5.6 resolves a host name with
/// `gethostbyname()` (core `resolve.h`, `_resolvehost`), which returns IPv4 addresses only, and
/// takes the first one; it would try IPv6 (`gethostbyname2(AF_INET6)`) only if that failed *and*
/// `dns_try_ipv6` were on. kamailio.cfg also listens on 127.0.0.1 only, so Kamailio has no socket
/// to reach `::1` from anyway. So msrpd listens on the first IPv4 address of `localhost` (in
/// practice 127.0.0.1; it must be a loopback address, else the test fails here, saying why),
/// whatever the IPv6 entries. Nothing else in these tests resolves a name: clients connect to
/// socket addresses, and the only next hops msrpd dials are Kamailio's Use-Path URIs, which carry
/// the literal `127.0.0.1`.
fn localhost_v4() -> Ipv4Addr {
    static ADDR: OnceLock<Ipv4Addr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let v4 = ("localhost", 0)
            .to_socket_addrs()
            .expect("resolve localhost")
            .find_map(|a| match a.ip() {
                IpAddr::V4(ip) => Some(ip),
                IpAddr::V6(_) => None,
            })
            .expect(
                "`localhost` has no IPv4 address, so Kamailio (dns_try_ipv6=no) cannot reach msrpd",
            );
        assert!(
            v4.is_loopback(),
            "`localhost` is {v4}, not a loopback address"
        );
        v4
    })
}

/// msrpd's `rechunk_size` in these tests: 8 KiB bodies make frames well below the 11 238 bytes
/// Kamailio relays.
const KAMAILIO_PIECE: usize = 8 * 1024;

/// msrpd as `localhost` (Use-Path hosts are names, 4976-016) listening on [`localhost_v4`],
/// users alice and bob, AUTH over TCP allowed (loopback test), a short SEND timer
/// ([`MSRPD_TIMER`]), and `tls` if given.
async fn start_msrpd(tls: Option<TlsConfig>) -> Msrpd {
    let mut cfg = RelayConfig::new("localhost", "localhost")
        .with_user("alice", "wonderland")
        .with_user("bob", "builder");
    cfg.listen = SocketAddr::from((localhost_v4(), 0));
    cfg.allow_auth_over_tcp = true;
    cfg.transaction_timeout = MSRPD_TIMER;
    // The largest chunk msrpd sends on, split or combined (4976-033): below Kamailio's frame
    // limit, as a relay in front of Kamailio must be configured.
    cfg.rechunk_size = KAMAILIO_PIECE;
    cfg.tls = tls;
    let relay = Relay::bind(cfg).await.expect("bind msrpd");
    let m = Msrpd {
        addr: relay.local_addr().expect("addr"),
        uri: relay.uri().clone(),
        tls: relay.tls_addr().map(|a| {
            (
                a.expect("TLS addr"),
                relay.tls_uri().expect("TLS URI").clone(),
            )
        }),
        metrics: relay.metrics().clone(),
        stop: relay.shutdown_handle(),
    };
    relay.spawn();
    m
}

// ---------------------------------------------------------------------------------------------
// A test client.

/// Fails the test if `f` takes longer than `ms` milliseconds.
async fn within<T>(ms: u64, f: impl Future<Output = T>) -> T {
    timeout(Duration::from_millis(ms), f)
        .await
        .expect("took too long")
}

fn uri(s: &str) -> MsrpUri {
    MsrpUri::parse(ByteString::from(s.to_owned())).expect("valid URI")
}

fn strs(p: &[MsrpUri]) -> Vec<&str> {
    p.iter().map(MsrpUri::as_str).collect()
}

/// The URIs as owned strings, for paths to compare with after the clients move on.
fn names(p: &[&MsrpUri]) -> Vec<String> {
    p.iter().map(|u| u.as_str().to_owned()).collect()
}

fn bodiless(head: Head) -> Frame {
    Frame {
        head,
        body: None,
        flag: Flag::Last,
    }
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// A minimal MSRP endpoint over one TCP or TLS connection to its relay.
struct Client {
    r: EventReader<Reader>,
    w: Writer,
    /// `msrp://127.0.0.1:<local port>/<name>;tcp` (`msrps` over TLS).
    uri: MsrpUri,
    ids: IdGenerator,
}

impl Client {
    /// Connects over TCP.
    async fn connect(relay: SocketAddr, name: &str) -> Client {
        let s = within(2000, TcpStream::connect(relay))
            .await
            .expect("connect");
        let port = s.local_addr().expect("local addr").port();
        let (r, w) = s.into_split();
        Client {
            r: EventReader::new(Box::new(r), MsrpCodec::default()),
            w: Box::new(w),
            uri: uri(&format!("msrp://127.0.0.1:{port}/{name};tcp")),
            ids: IdGenerator::new(),
        }
    }

    /// Connects over TLS, verifying the relay's certificate for `server` against `pki`'s CA,
    /// without a client certificate.
    async fn connect_tls(
        relay: SocketAddr,
        pki: &Pki,
        server: ServerName<'static>,
        name: &str,
    ) -> Client {
        Client::connect_tls_as(relay, pki, None, server, name).await
    }

    /// [`Client::connect_tls`] presenting the client certificate `identity` (certificate, key).
    async fn connect_tls_as(
        relay: SocketAddr,
        pki: &Pki,
        identity: Option<&(PathBuf, PathBuf)>,
        server: ServerName<'static>,
        name: &str,
    ) -> Client {
        let s = within(2000, TcpStream::connect(relay))
            .await
            .expect("connect");
        let port = s.local_addr().expect("local addr").port();
        let tls = within(3000, pki.connector(identity).connect(server, s))
            .await
            .expect("TLS handshake");
        let (r, w) = tokio::io::split(tls);
        Client {
            r: EventReader::new(Box::new(r), MsrpCodec::default()),
            w: Box::new(w),
            uri: uri(&format!("msrps://127.0.0.1:{port}/{name};tcp")),
            ids: IdGenerator::new(),
        }
    }

    async fn send(&mut self, frame: &Frame) {
        let mut b = BytesMut::new();
        frame.write(&mut b);
        within(3000, async {
            self.w.write_all(&b).await?;
            self.w.flush().await
        })
        .await
        .expect("write");
    }

    /// The next whole frame within `ms`: `Err(())` on timeout, `Ok(None)` at EOF.
    async fn recv_for(&mut self, ms: u64) -> Result<Option<Frame>, ()> {
        timeout(Duration::from_millis(ms), async {
            let mut current: Option<(Head, Option<BytesMut>)> = None;
            loop {
                match self.r.next().await {
                    None | Some(Err(_)) => return None,
                    Some(Ok(Ok(Event::Head { head, body }))) => {
                        current = Some((head, body.then(BytesMut::new)))
                    }
                    Some(Ok(Ok(Event::Body(piece)))) => current
                        .as_mut()
                        .and_then(|c| c.1.as_mut())
                        .expect("body of a frame")
                        .extend_from_slice(&piece),
                    Some(Ok(Ok(Event::End(flag)))) => {
                        let (head, body) = current.take().expect("end of a frame");
                        return Some(Frame {
                            head,
                            body: body.map(BytesMut::freeze),
                            flag,
                        });
                    }
                    Some(Ok(Ok(Event::BriefSuccess(r)))) => panic!("not configured: {r:?}"),
                    Some(Ok(Ok(Event::RepeatedSend(r)))) => panic!("not configured: {r:?}"),
                    Some(Ok(Err(e))) => panic!("client got an undecodable frame: {e}"),
                }
            }
        })
        .await
        .map_err(|_| ())
    }

    async fn expect(&mut self) -> Frame {
        self.recv_for(5000)
            .await
            .expect("a frame within 5 s")
            .expect("a frame, not EOF")
    }

    /// Nothing arrives (and the connection stays open) for `ms`.
    async fn expect_nothing(&mut self, ms: u64, who: &str) {
        match self.recv_for(ms).await {
            Err(()) => {}
            Ok(Some(f)) => panic!("{who} got an unexpected frame: {:?}", f.head),
            Ok(None) => panic!("{who}'s connection closed"),
        }
    }

    fn request(&mut self, method: Method, to: Path) -> Head {
        Head::request(
            method,
            self.ids.next_id(),
            to,
            msrp::path![self.uri.clone()],
        )
    }

    /// AUTH to `relay` (RFC 4976 §5.1): without credentials -> 401 with a Digest challenge,
    /// then with them (MD5, qop=auth, the realm from the challenge, uri = the To-Path URI, no
    /// Expires) -> 200 with Use-Path and Expires. Works for msrpd and Kamailio alike.
    async fn auth(&mut self, relay: &MsrpUri, user: &str, password: &str) -> (MsrpUri, u32) {
        let first = self.request(Method::Auth, msrp::path![relay.clone()]);
        self.send(&bodiless(first.clone())).await;
        let r401 = self.expect().await;
        assert_eq!(
            r401.head.status(),
            Some(StatusCode::UNAUTHORIZED),
            "{r401:?}"
        );
        assert_eq!(r401.head.tid, first.tid);
        let www = r401
            .head
            .find(|h| match h {
                Header::WwwAuthenticate(a) => Some(a),
                _ => None,
            })
            .expect("WWW-Authenticate");
        let ch = Challenge::parse(www).expect("a Digest challenge");
        let ha1 = digest::ha1_hex(user, &ch.realm, password);
        let creds = ch.answer(user, &ha1, relay.as_str(), &digest::random_hex(8), 1);
        let second = self
            .request(Method::Auth, msrp::path![relay.clone()])
            .with(Header::Authorization(creds));
        self.send(&bodiless(second.clone())).await;
        let ok = self.expect().await;
        assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
        assert_eq!(ok.head.tid, second.tid);
        let use_path = ok
            .head
            .find(|h| match h {
                Header::UsePath(p) => p.iter().next().cloned(),
                _ => None,
            })
            .expect("Use-Path");
        assert_eq!(
            use_path.port(),
            relay.port(),
            "Use-Path {use_path} of {relay}"
        );
        assert!(use_path.session_id().is_some(), "{use_path}");
        let expires = ok.head.expires().expect("Expires");
        (use_path, expires)
    }

    /// A SEND head for one chunk `range` of message `mid`.
    fn send_head(&mut self, to: Path, mid: &msrp::Ident, range: ByteRange) -> Head {
        self.request(Method::Send, to)
            .with(Header::MessageId(*mid))
            .with(Header::ByteRange(range))
            .with(Header::ContentType(ByteString::from_static("text/plain")))
    }

    /// Answers a received SEND with 200 to the previous hop (RFC 4975 §7.2, 4975-062).
    async fn ok(&mut self, req: &Head) {
        let resp = msrp::report::response(req, StatusCode::OK, None, &self.uri);
        self.send(&bodiless(resp)).await;
    }

    /// Sends a success REPORT about `send` back along its From-Path (RFC 4975 §7.1.2).
    async fn report_ok(&mut self, send: &Head, len: usize) -> Head {
        let tid = self.ids.next_id();
        let rep = msrp::report::report(
            send,
            tid,
            StatusCode::OK,
            None,
            ByteRange::whole(len as u64),
            &self.uri,
        )
        .expect("a REPORT");
        self.send(&bodiless(rep.clone())).await;
        rep
    }
}

/// `from` SENDs one whole message to `to` along `path`; checks the delivery (paths, Message-ID,
/// body) and the hop-by-hop 200 `from` gets from its relay (`from_hop`: the Use-Path URI its
/// relay consumed). `to` answers its own hop with 200. Returns the SEND as `to` received it.
async fn send_and_check(
    from: &mut Client,
    to: &mut Client,
    path: Path,
    want_from_path: &[String],
    from_hop: &MsrpUri,
    text: &'static [u8],
) -> Frame {
    let mid = from.ids.next_id();
    let send = from.send_head(path, &mid, ByteRange::whole(text.len() as u64));
    from.send(&Frame {
        head: send.clone(),
        body: Some(Bytes::from_static(text)),
        flag: Flag::Last,
    })
    .await;

    let got = to.expect().await;
    assert_eq!(got.head.method(), Some(&Method::Send), "{:?}", got.head);
    assert_eq!(strs(got.head.to_path()), [to.uri.as_str()]);
    assert_eq!(strs(got.head.from_path()), want_from_path);
    assert_eq!(got.head.message_id(), Some(&mid));
    assert_eq!(
        got.head.byte_range(),
        Some(ByteRange::whole(text.len() as u64))
    );
    assert_eq!(got.body.as_deref(), Some(text));
    assert_eq!(got.flag, Flag::Last);
    to.ok(&got.head).await;

    // The sender's own relay answers the SEND hop by hop (RFC 4976 §6.4.1).
    let ok = from.expect().await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
    assert_eq!(ok.head.tid, send.tid);
    assert_eq!(strs(ok.head.to_path()), [from.uri.as_str()]);
    assert_eq!(strs(ok.head.from_path()), [from_hop.as_str()]);
    got
}

/// `reporter` sends a success REPORT about `got` (as it received it); `origin` receives it with
/// `want_from_path` (RFC 4975 §7.1.2, RFC 4976 §6.4: REPORTs travel end to end).
async fn report_and_check(
    reporter: &mut Client,
    origin: &mut Client,
    got: &Frame,
    want_from_path: &[String],
) {
    let len = got.body.as_ref().map_or(0, Bytes::len);
    reporter.report_ok(&got.head, len).await;
    let rep = origin.expect().await;
    assert_eq!(rep.head.method(), Some(&Method::Report), "{:?}", rep.head);
    assert_eq!(rep.head.message_id(), got.head.message_id());
    assert_eq!(strs(rep.head.to_path()), [origin.uri.as_str()]);
    assert_eq!(strs(rep.head.from_path()), want_from_path);
    assert_eq!(
        rep.head.report_status().map(|s| s.code),
        Some(StatusCode::OK)
    );
}

/// Both clients hear nothing more for msrpd's SEND timer plus a margin: msrpd took Kamailio's
/// 200s as the answers to what it forwarded (else a 408 REPORT would come, 4976-030), and no
/// relay sent a stray frame (e.g. a 200 that should have been absorbed).
async fn quiet(a: &mut Client, b: &mut Client) {
    let ms = MSRPD_TIMER.as_millis() as u64 + 1000;
    tokio::join!(a.expect_nothing(ms, "alice"), b.expect_nothing(ms, "bob"));
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// msrpd -> Kamailio -> Bob (RFC 4976 §3 with msrpd as Alice's relay and Kamailio as Bob's).
/// Alice AUTHs to msrpd, Bob to Kamailio (Digest, password `secret`). Alice's To-Path is her
/// msrpd Use-Path URI, Bob's Kamailio Use-Path URI, Bob's URI: msrpd opens a connection to
/// Kamailio (4976-035), which delivers over Bob's AUTH connection. Each hop answers 200; Bob's
/// REPORT goes back Kamailio -> msrpd -> Alice.
#[tokio::test]
async fn msrpd_to_kamailio_to_client() {
    let Some(bin) = kamailio_available_or_skip(false) else {
        return;
    };
    let kam = start_kamailio(&bin, None);
    let msrpd = start_msrpd(None).await;

    let mut alice = Client::connect(msrpd.addr, "alice").await;
    let mut bob = Client::connect(kam.addr, "bob").await;
    let (ua, ea) = alice.auth(&msrpd.uri, "alice", "wonderland").await;
    let (ub, eb) = bob.auth(&kam.uri, "bob", KAMAILIO_PASSWORD).await;
    assert_eq!((ea, eb), (1800, KAMAILIO_EXPIRES));

    let path = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let want = names(&[&ub, &ua, &alice.uri]);
    let got = send_and_check(
        &mut alice,
        &mut bob,
        path,
        &want,
        &ua,
        b"Hello Bob, via msrpd and Kamailio.",
    )
    .await;
    let back = names(&[&ua, &ub, &bob.uri]);
    report_and_check(&mut bob, &mut alice, &got, &back).await;
    quiet(&mut alice, &mut bob).await;
    drop(kam);
}

/// The mirror, Alice -> Kamailio -> msrpd -> Bob: Alice AUTHs to Kamailio, Bob to msrpd; Alice's
/// To-Path is her Kamailio Use-Path URI, Bob's msrpd Use-Path URI, Bob's URI, so Kamailio opens a
/// connection to msrpd, which delivers over Bob's AUTH connection. Bob's REPORT goes back
/// msrpd -> Kamailio -> Alice, and so does a SEND of Bob's (with msrpd's 200 to Bob, and
/// Kamailio's 200 to msrpd in time).
#[tokio::test]
async fn client_to_kamailio_to_msrpd() {
    let Some(bin) = kamailio_available_or_skip(false) else {
        return;
    };
    let kam = start_kamailio(&bin, None);
    let msrpd = start_msrpd(None).await;

    let mut alice = Client::connect(kam.addr, "alice").await;
    let mut bob = Client::connect(msrpd.addr, "bob").await;
    let (ua, ea) = alice.auth(&kam.uri, "alice", KAMAILIO_PASSWORD).await;
    let (ub, eb) = bob.auth(&msrpd.uri, "bob", "builder").await;
    assert_eq!((ea, eb), (KAMAILIO_EXPIRES, 1800));

    let path = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let want = names(&[&ub, &ua, &alice.uri]);
    let got = send_and_check(
        &mut alice,
        &mut bob,
        path,
        &want,
        &ua,
        b"Hello Bob, via Kamailio and msrpd.",
    )
    .await;
    let back = names(&[&ua, &ub, &bob.uri]);
    report_and_check(&mut bob, &mut alice, &got, &back).await;

    // Bob answers with a SEND of his own, along the reversed path.
    let path = msrp::path![ub.clone(), ua.clone(), alice.uri.clone()];
    send_and_check(
        &mut bob,
        &mut alice,
        path,
        &back,
        &ub,
        b"Hi Alice, Bob here.",
    )
    .await;
    quiet(&mut alice, &mut bob).await;
    drop(kam);
}

/// A 64 KiB message in 32 chunks of 2 KiB (RFC 4975 §5.1, `+` on all but the last) from Alice
/// through msrpd and Kamailio to Bob arrives in order and intact, and every chunk gets its 200
/// from msrpd. msrpd may combine consecutive chunks (4976-033) up to its `rechunk_size`
/// ([`KAMAILIO_PIECE`]), so frames stay below Kamailio's 11 238-byte limit.
#[tokio::test]
async fn chunked_64k_msrpd_to_kamailio_to_client() {
    let Some(bin) = kamailio_available_or_skip(false) else {
        return;
    };
    const TOTAL: usize = 64 * 1024;
    const CHUNK: usize = 2048;
    let kam = start_kamailio(&bin, None);
    let msrpd = start_msrpd(None).await;

    let mut alice = Client::connect(msrpd.addr, "alice").await;
    let mut bob = Client::connect(kam.addr, "bob").await;
    let (ua, _) = alice.auth(&msrpd.uri, "alice", "wonderland").await;
    let (ub, _) = bob.auth(&kam.uri, "bob", KAMAILIO_PASSWORD).await;

    let message: Bytes = (0..TOTAL)
        .map(|i| (i * 7 % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let mid = alice.ids.next_id();
    let path = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let mut chunks = Vec::new();
    for start in (0..TOTAL).step_by(CHUNK) {
        let end = start + CHUNK;
        let range = ByteRange {
            start: start as u64 + 1,
            end: Some(end as u64),
            total: Some(TOTAL as u64),
        };
        let head = alice.send_head(path.clone(), &mid, range);
        let flag = if end == TOTAL { Flag::Last } else { Flag::More };
        chunks.push(Frame {
            head,
            body: Some(message.slice(start..end)),
            flag,
        });
    }
    let tids: Vec<msrp::Ident> = chunks.iter().map(|c| c.head.tid).collect();
    let want_from = names(&[&ub, &ua, &alice.uri]);

    let sending = async {
        for c in &chunks {
            alice.send(c).await;
        }
        // One hop-by-hop 200 from msrpd per chunk sent, in order.
        let mut oks = Vec::new();
        for _ in &chunks {
            let ok = alice.expect().await;
            assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
            oks.push(ok.head.tid);
        }
        oks
    };
    let receiving = async {
        // Frames as Bob gets them (msrpd may re-chunk, so count octets, not frames).
        let mut got = BytesMut::new();
        let mut frames = 0;
        loop {
            let f = bob.expect().await;
            frames += 1;
            assert_eq!(f.head.method(), Some(&Method::Send), "{:?}", f.head);
            assert_eq!(f.head.message_id(), Some(&mid));
            assert_eq!(strs(f.head.to_path()), [bob.uri.as_str()]);
            assert_eq!(strs(f.head.from_path()), want_from);
            let r = f.head.byte_range().expect("Byte-Range");
            assert_eq!(r.start, got.len() as u64 + 1, "chunks in order");
            assert_eq!(r.total, Some(TOTAL as u64));
            let body = f.body.clone().unwrap_or_default();
            // Range-end as sent, or `*` on a chunk msrpd may have combined (4975-024).
            assert!(
                r.end.is_none_or(|e| e == r.start + body.len() as u64 - 1),
                "{r:?} for {} octets",
                body.len()
            );
            assert!(body.len() <= KAMAILIO_PIECE, "{} octets", body.len());
            got.extend_from_slice(&body);
            bob.ok(&f.head).await;
            if got.len() >= TOTAL {
                assert_eq!(f.flag, Flag::Last, "the last chunk ends with $");
                return (got.freeze(), frames);
            }
            assert_eq!(f.flag, Flag::More, "chunk {frames} ends with +");
        }
    };
    let (oks, (got, frames)) = within(20_000, async { tokio::join!(sending, receiving) }).await;
    assert_eq!(oks, tids, "a 200 for every chunk");
    assert_eq!(got.len(), TOTAL);
    assert!(got == message, "the message arrived intact");
    assert!(frames >= TOTAL / KAMAILIO_PIECE, "{frames} frames");
    quiet(&mut alice, &mut bob).await;
    drop(kam);
}

/// A documented observation, not a requirement on msrpd: Kamailio 5.6.3 relays no frame of
/// 11 239 bytes or more (README.md beside kamailio.cfg). A 12 000-byte SEND sent straight to it
/// gets the config's 413, or (from 16 KiB) the connection is closed; either way nothing reaches
/// Bob. This is why the chunked test above uses 2 KiB chunks.
#[tokio::test]
async fn kamailio_refuses_a_frame_over_its_cap() {
    let Some(bin) = kamailio_available_or_skip(false) else {
        return;
    };
    let kam = start_kamailio(&bin, None);
    let mut alice = Client::connect(kam.addr, "alice").await;
    let mut bob = Client::connect(kam.addr, "bob").await;
    let (ua, _) = alice.auth(&kam.uri, "alice", KAMAILIO_PASSWORD).await;
    let (ub, _) = bob.auth(&kam.uri, "bob", KAMAILIO_PASSWORD).await;
    let body = Bytes::from(vec![b'x'; 12_000]);
    let mid = alice.ids.next_id();
    let head = alice.send_head(
        msrp::path![ub, bob.uri.clone()],
        &mid,
        ByteRange::whole(body.len() as u64),
    );
    let frame = Frame {
        head: head.clone(),
        body: Some(body),
        flag: Flag::Last,
    };
    assert!(frame.to_bytes().len() > 11_238);
    alice.send(&frame).await;
    match alice.recv_for(5000).await {
        Ok(Some(f)) => {
            assert_eq!(
                f.head.status().map(StatusCode::as_u16),
                Some(413),
                "{:?}",
                f.head
            );
            assert_eq!(f.head.tid, head.tid);
        }
        Ok(None) => {} // connection closed: the other documented outcome
        Err(()) => panic!("Kamailio neither answered nor closed within 5 s"),
    }
    bob.expect_nothing(500, "bob").await;
    let _ = ua;
    drop(kam);
}

// ---------------------------------------------------------------------------------------------
// msrps between msrpd and Kamailio.

/// `ServerName` of the `localhost` name msrpd's certificate is for.
fn localhost_name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("name")
}

/// `ServerName` of Kamailio's `127.0.0.1` (an IP SAN in its certificate).
fn loopback_ip() -> ServerName<'static> {
    ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into())
}

/// msrpd -> Kamailio over TLS -> Bob, and Bob's REPORT back over TLS the other way (RFC 4975
/// §14, RFC 4976 §9.2). Alice AUTHs to msrpd's `msrps` listener, Bob to Kamailio's, so both
/// Use-Path URIs are `msrps`: msrpd opens a TLS connection to Kamailio's Use-Path
/// `msrps://127.0.0.1:TLS_PORT/...` and verifies its certificate (IP SAN 127.0.0.1, test CA),
/// and for the REPORT Kamailio opens one to msrpd's `msrps://localhost:TLS_PORT/...`, verifying
/// msrpd's certificate against the same CA (`TLS_CA`). Each hop answers 200 in time (no 408).
#[tokio::test]
async fn tls_msrpd_to_kamailio_to_client() {
    let Some(bin) = kamailio_available_or_skip(true) else {
        return;
    };
    let pki = Pki::new();
    let kam = start_kamailio(&bin, Some(&pki.kamailio_tls()));
    let msrpd = start_msrpd(Some(pki.msrpd_tls("msrpd", &["localhost"], &pki))).await;
    let ((kam_tls, kam_uri), (msrpd_tls, msrpd_uri)) = (kam.tls(), msrpd.tls());

    let mut alice = Client::connect_tls(msrpd_tls, &pki, localhost_name(), "alice").await;
    let mut bob = Client::connect_tls(kam_tls, &pki, loopback_ip(), "bob").await;
    let (ua, ea) = alice.auth(&msrpd_uri, "alice", "wonderland").await;
    let (ub, eb) = bob.auth(&kam_uri, "bob", KAMAILIO_PASSWORD).await;
    assert_eq!((ea, eb), (1800, KAMAILIO_EXPIRES));
    assert!(ua.is_secure() && ub.is_secure(), "{ua} {ub}");

    let path = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let want = names(&[&ub, &ua, &alice.uri]);
    let got = send_and_check(
        &mut alice,
        &mut bob,
        path,
        &want,
        &ua,
        b"Hello Bob, via msrpd and Kamailio, encrypted.",
    )
    .await;
    let back = names(&[&ua, &ub, &bob.uri]);
    report_and_check(&mut bob, &mut alice, &got, &back).await;
    quiet(&mut alice, &mut bob).await;
    // Kamailio delivered the REPORT over a TLS connection of its own into msrpd's TLS listener
    // (Alice's is the other one), nothing over TCP.
    assert_eq!((msrpd.accepted("tls"), msrpd.accepted("tcp")), (2, 0));
    drop(kam);
}

/// Alice -> Kamailio -> msrpd over TLS -> Bob, the mirror: Kamailio opens the TLS connection to
/// msrpd's `msrps` Use-Path URI for Alice's SEND (checking msrpd's certificate against `TLS_CA`),
/// Bob's REPORT and his own SEND go back msrpd -> Kamailio over TLS (msrpd verifying Kamailio's
/// certificate), and Kamailio's 200s reach msrpd in time.
#[tokio::test]
async fn tls_client_to_kamailio_to_msrpd() {
    let Some(bin) = kamailio_available_or_skip(true) else {
        return;
    };
    let pki = Pki::new();
    let kam = start_kamailio(&bin, Some(&pki.kamailio_tls()));
    let msrpd = start_msrpd(Some(pki.msrpd_tls("msrpd", &["localhost"], &pki))).await;
    let ((kam_tls, kam_uri), (msrpd_tls, msrpd_uri)) = (kam.tls(), msrpd.tls());

    let mut alice = Client::connect_tls(kam_tls, &pki, loopback_ip(), "alice").await;
    let mut bob = Client::connect_tls(msrpd_tls, &pki, localhost_name(), "bob").await;
    let (ua, _) = alice.auth(&kam_uri, "alice", KAMAILIO_PASSWORD).await;
    let (ub, _) = bob.auth(&msrpd_uri, "bob", "builder").await;
    assert!(ua.is_secure() && ub.is_secure(), "{ua} {ub}");

    let path = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let want = names(&[&ub, &ua, &alice.uri]);
    let got = send_and_check(
        &mut alice,
        &mut bob,
        path,
        &want,
        &ua,
        b"Hello Bob, via Kamailio and msrpd, encrypted.",
    )
    .await;
    let back = names(&[&ua, &ub, &bob.uri]);
    report_and_check(&mut bob, &mut alice, &got, &back).await;
    let path = msrp::path![ub.clone(), ua.clone(), alice.uri.clone()];
    send_and_check(
        &mut bob,
        &mut alice,
        path,
        &back,
        &ub,
        b"Hi Alice, Bob here, over TLS.",
    )
    .await;
    quiet(&mut alice, &mut bob).await;
    // Bob's connection and Kamailio's, both TLS.
    assert_eq!((msrpd.accepted("tls"), msrpd.accepted("tcp")), (2, 0));
    drop(kam);
}

/// Mutual TLS between the relays (RFC 4976 §9.2, 4976-042): msrpd's listener requires a
/// certificate from the test CA of every peer ([`ClientAuth::Required`]), so Kamailio's
/// connection for Alice's SEND is accepted only because Kamailio presents one when it dials (its
/// tls module uses its server certificate as the client one); Bob presents his own. The way back
/// (Bob's REPORT, then his SEND) msrpd dials Kamailio presenting its certificate, which Kamailio
/// verifies against `TLS_CA` (its listener asks for one, optionally, once `verify_certificate`
/// is on).
#[tokio::test]
async fn mutual_tls_between_msrpd_and_kamailio() {
    let Some(bin) = kamailio_available_or_skip(true) else {
        return;
    };
    let pki = Pki::new();
    let kam = start_kamailio(&bin, Some(&pki.kamailio_tls()));
    let msrpd_tls = pki
        .msrpd_tls("msrpd", &["localhost"], &pki)
        .with_client_auth(&pki.ca, ClientAuth::Required);
    assert!(msrpd_tls.present_client_cert, "presented by default");
    let msrpd = start_msrpd(Some(msrpd_tls)).await;
    let ((kam_tls, kam_uri), (msrpd_tls, msrpd_uri)) = (kam.tls(), msrpd.tls());

    let bob_id = pki.issue("bob", &["bob.localhost"]);
    let mut alice = Client::connect_tls(kam_tls, &pki, loopback_ip(), "alice").await;
    let mut bob =
        Client::connect_tls_as(msrpd_tls, &pki, Some(&bob_id), localhost_name(), "bob").await;
    let (ua, _) = alice.auth(&kam_uri, "alice", KAMAILIO_PASSWORD).await;
    let (ub, _) = bob.auth(&msrpd_uri, "bob", "builder").await;

    let path = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let want = names(&[&ub, &ua, &alice.uri]);
    let got = send_and_check(
        &mut alice,
        &mut bob,
        path,
        &want,
        &ua,
        b"Hello Bob, relays authenticated both ways.",
    )
    .await;
    let back = names(&[&ua, &ub, &bob.uri]);
    report_and_check(&mut bob, &mut alice, &got, &back).await;
    let path = msrp::path![ub.clone(), ua.clone(), alice.uri.clone()];
    send_and_check(&mut bob, &mut alice, path, &back, &ub, b"Hi Alice.").await;
    quiet(&mut alice, &mut bob).await;
    assert_eq!((msrpd.accepted("tls"), msrpd.accepted("tcp")), (2, 0));
    drop(kam);
}

/// A documented observation, not a requirement on msrpd: how Kamailio 5.6.3 checks the
/// certificate of an `msrps` next hop it dials (README.md beside kamailio.cfg), with
/// `verify_certificate` on and the test CA as `ca_list` (`-A TLS_CA`). Alice at Kamailio sends
/// two SENDs, each answered 200 by Kamailio before it relays:
///
/// - to Bob at an msrpd whose certificate (for `localhost`) comes from another CA: the chain
///   check fails, the handshake is abandoned, and the SEND is lost without a word (no error
///   response or REPORT to Alice; msrpd completes no TLS handshake but Bob's);
/// - to Carol at an msrpd whose certificate comes from the test CA but names `other.example`,
///   not `localhost`, the host Kamailio dialed: it is delivered. Kamailio checks the chain, not
///   the name (RFC 4975 §14.2, 4975-093, and RFC 4976 §9.2, 4976-042, want the SubjectAltName
///   matched against the URI host).
#[tokio::test]
async fn kamailio_checks_the_chain_not_the_name_of_a_next_hop_certificate() {
    let Some(bin) = kamailio_available_or_skip(true) else {
        return;
    };
    let (pki, stranger) = (Pki::new(), Pki::new());
    let kam = start_kamailio(&bin, Some(&pki.kamailio_tls()));
    let untrusted = start_msrpd(Some(stranger.msrpd_tls("msrpd", &["localhost"], &pki))).await;
    let misnamed = start_msrpd(Some(pki.msrpd_tls("msrpd2", &["other.example"], &pki))).await;
    let (kam_tls, kam_uri) = kam.tls();

    let mut alice = Client::connect_tls(kam_tls, &pki, loopback_ip(), "alice").await;
    let (ua, _) = alice.auth(&kam_uri, "alice", KAMAILIO_PASSWORD).await;
    let (addr, u) = untrusted.tls();
    let mut bob = Client::connect_tls(addr, &stranger, localhost_name(), "bob").await;
    let (ub, _) = bob.auth(&u, "bob", "builder").await;
    let (addr, u) = misnamed.tls();
    let other = ServerName::try_from("other.example").expect("name");
    let mut carol = Client::connect_tls(addr, &pki, other, "carol").await;
    let (uc, _) = carol.auth(&u, "bob", "builder").await;

    // Carol first: delivered although the certificate names another host.
    let want = names(&[&uc, &ua, &alice.uri]);
    let path = msrp::path![ua.clone(), uc.clone(), carol.uri.clone()];
    send_and_check(&mut alice, &mut carol, path, &want, &ua, b"to Carol").await;
    assert_eq!(misnamed.accepted("tls"), 2, "Carol's and Kamailio's");

    // Bob: Kamailio's 200, then nothing anywhere.
    let mid = alice.ids.next_id();
    let path = msrp::path![ua.clone(), ub.clone(), bob.uri.clone()];
    let head = alice.send_head(path, &mid, ByteRange::whole(6));
    alice
        .send(&Frame {
            head: head.clone(),
            body: Some(Bytes::from_static(b"to Bob")),
            flag: Flag::Last,
        })
        .await;
    let ok = alice.expect().await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
    assert_eq!(ok.head.tid, head.tid);
    tokio::join!(
        alice.expect_nothing(1500, "alice"),
        bob.expect_nothing(1500, "bob")
    );
    assert_eq!(
        untrusted.accepted("tls"),
        1,
        "only Bob's handshake completed"
    );
    drop(kam);
}
