//! `msrp-relay`: runs one RFC 4976 MSRP relay ([`msrp_relay::server::Relay`]) over TCP, and
//! optionally TLS (`msrps`), from the command line.
//!
//! This binary exists for the relay benchmark (`benches/relay-compare.sh`, issue 4) and for
//! interop runs until the msrpd daemon (issue 6) lands; it has no configuration file and no
//! metrics endpoint. Example:
//!
//! ```text
//! msrp-relay --listen 127.0.0.1:2855 --host localhost --user alice:secret --user bob:secret \
//!     --allow-auth-over-tcp
//! ```
//!
//! `--tls-listen ADDR --tls-cert CHAIN.pem --tls-key KEY.pem` adds the TLS listener
//! ([`msrp_relay::config::TlsConfig`], RFC 4976 §9.2, 4976-042). `--tls-roots` trusts next hops'
//! certificates (without it `msrps` next hops fail); `--tls-client-roots` with
//! `--tls-client-auth none|optional|required` verifies peers' client certificates (mutual TLS
//! with other relays); the relay presents its certificate to `msrps` next hops unless
//! `--tls-no-client-cert`. Example of a relay that other relays reach with mutual TLS:
//!
//! ```text
//! msrp-relay --host relay.example.com --user alice:secret \
//!     --tls-listen 0.0.0.0:2856 --tls-cert relay.pem --tls-key relay.key \
//!     --tls-roots ca.pem --tls-client-roots ca.pem --tls-client-auth optional
//! ```
//!
//! Once the listener is bound it prints `listening on ADDR` (and `uri URI`, the relay's own URI
//! that clients AUTH to) on stdout, then, with TLS, `tls listening on ADDR` and `tls-uri URI`. It runs until SIGINT or SIGTERM, or until its standard
//! input reaches end of file (so a parent that dies takes it along; `--ignore-stdin` turns
//! that off, e.g. when started with stdin on `/dev/null`).
//!
//! `--threads 1` (the default, for a fair one-core comparison) runs everything on one thread
//! (tokio current-thread runtime); `--threads N` runs a multi-threaded runtime with N workers.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use msrp_relay::auth::Secret;
use msrp_relay::config::{ClientAuth, RelayConfig, TlsConfig};
use msrp_relay::server::Relay;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

/// Command line of `msrp-relay`.
#[derive(Debug, Parser)]
#[command(
    name = "msrp-relay",
    about = "Runs one RFC 4976 MSRP relay over TCP and optionally TLS (for benchmarks and interop, until the msrpd daemon lands)"
)]
struct Args {
    /// Address the TCP listener binds (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:2855")]
    listen: SocketAddr,
    /// The relay's host name, written into its URI and the Use-Path URIs it issues (RFC 4976
    /// §4.2: not an IP literal).
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Digest realm (default: the host name, as RFC 4976 §5.1 suggests).
    #[arg(long)]
    realm: Option<String>,
    /// A user allowed to AUTH, as NAME:PASSWORD (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// A user given by H(A1) = MD5(NAME:REALM:PASSWORD), as NAME:HA1 (repeatable).
    #[arg(long = "user-ha1", value_name = "NAME:HA1")]
    users_ha1: Vec<String>,
    /// Answer AUTH over plain TCP (RFC 4976 §9.4 / 4976-002 wants TLS; for loopback only).
    #[arg(long)]
    allow_auth_over_tcp: bool,
    /// Runtime threads: 1 runs on one thread (current-thread runtime), N > 1 a multi-threaded
    /// runtime with N workers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Bytes each connection's data lane may hold queued (default: the library's, 1 MiB).
    #[arg(long)]
    queue_bytes: Option<usize>,
    /// Most connections open at once (default: the library's, 10 000).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Do not stop at end of file on standard input.
    #[arg(long)]
    ignore_stdin: bool,
    /// Address the TLS (`msrps`) listener binds (port 0: any free port); enables TLS and needs
    /// --tls-cert and --tls-key (RFC 4975 §14, RFC 4976 §9.2).
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    tls_listen: Option<SocketAddr>,
    /// PEM file with the relay's certificate chain, leaf first; the leaf should name --host in
    /// a dnsName SubjectAltName (RFC 4976 §9.2, 4976-042). Also presented to `msrps` next hops.
    #[arg(long, value_name = "PEM", requires = "tls_listen")]
    tls_cert: Option<PathBuf>,
    /// PEM file with the private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_listen")]
    tls_key: Option<PathBuf>,
    /// PEM file with the root certificates `msrps` next hops must chain to (without it,
    /// `msrps` next hops fail).
    #[arg(long, value_name = "PEM", requires = "tls_listen")]
    tls_roots: Option<PathBuf>,
    /// PEM file with the CA certificates that client certificates presented to the TLS
    /// listener must chain to (mutual TLS between relays, RFC 4976 §9.2, 4976-042).
    #[arg(long, value_name = "PEM", requires = "tls_listen")]
    tls_client_roots: Option<PathBuf>,
    /// What the TLS listener asks of peers' certificates: none; optional (a peer without one,
    /// like an ordinary client, is accepted; a presented one must verify against
    /// --tls-client-roots); required (every peer must present a valid one: for listeners only
    /// relays use; needs --tls-client-roots). Default: optional, which without
    /// --tls-client-roots asks for none.
    #[arg(long, value_name = "MODE", requires = "tls_listen")]
    tls_client_auth: Option<ClientAuth>,
    /// Do not present the relay's certificate to `msrps` next hops (by default it does, for
    /// mutual TLS between relays, RFC 4976 §9.2).
    #[arg(long, requires = "tls_listen")]
    tls_no_client_cert: bool,
}

/// Splits `NAME:VALUE` at the first colon.
fn split_user(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((n, v)) if !n.is_empty() => Ok((n.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not NAME:VALUE")),
    }
}

fn config(args: &Args) -> Result<RelayConfig, String> {
    let realm = args.realm.clone().unwrap_or_else(|| args.host.clone());
    let mut cfg = RelayConfig::new(args.host.clone(), realm);
    cfg.listen = args.listen;
    cfg.allow_auth_over_tcp = args.allow_auth_over_tcp;
    for u in &args.users {
        let (name, password) = split_user(u)?;
        cfg.users.insert(name, Secret::Password(password));
    }
    for u in &args.users_ha1 {
        let (name, ha1) = split_user(u)?;
        cfg.users.insert(name, Secret::Ha1(ha1));
    }
    if let Some(q) = args.queue_bytes {
        cfg.queue_bytes = q;
    }
    if let Some(m) = args.max_connections {
        cfg.max_connections = m;
    }
    cfg.tls = tls_config(args)?;
    Ok(cfg)
}

/// The TLS listener's configuration, with --tls-listen.
fn tls_config(args: &Args) -> Result<Option<TlsConfig>, String> {
    let Some(listen) = args.tls_listen else {
        return Ok(None);
    };
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Err("--tls-listen needs --tls-cert and --tls-key".to_owned());
    };
    if args.tls_client_auth == Some(ClientAuth::Required) && args.tls_client_roots.is_none() {
        return Err("--tls-client-auth required needs --tls-client-roots".to_owned());
    }
    let mut tls = TlsConfig::new(cert, key).with_client_cert(!args.tls_no_client_cert);
    tls.listen = listen;
    tls.roots_pem = args.tls_roots.clone();
    tls.client_roots_pem = args.tls_client_roots.clone();
    if let Some(mode) = args.tls_client_auth {
        tls.client_auth = mode;
    }
    Ok(Some(tls))
}

/// Binds the relay, says where, and runs it until a signal or stdin EOF.
async fn serve(cfg: RelayConfig, watch_stdin: bool) -> Result<(), String> {
    // Handlers first: once `listening on` is printed, SIGTERM must stop the relay cleanly.
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let relay = Relay::bind(cfg).await.map_err(|e| e.to_string())?;
    let addr = relay.local_addr().map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}").map_err(|e| e.to_string())?;
        writeln!(out, "uri {}", relay.uri()).map_err(|e| e.to_string())?;
        if let Some(tls) = relay.tls_addr() {
            let tls = tls.map_err(|e| e.to_string())?;
            writeln!(out, "tls listening on {tls}").map_err(|e| e.to_string())?;
        }
        if let Some(uri) = relay.tls_uri() {
            writeln!(out, "tls-uri {uri}").map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())?;
    }
    let stop = relay.shutdown_handle();
    let mut task = relay.spawn();
    // A plain thread blocks on stdin (no tokio "io-std" needed) and reports end of file.
    let (eof_tx, eof_rx) = oneshot::channel::<()>();
    // Without the watcher the sender is kept here for the whole run: the receiver then never
    // completes.
    let mut _keep = None;
    if watch_stdin {
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = eof_tx.send(());
        });
    } else {
        _keep = Some(eof_tx);
    }
    let why = tokio::select! {
        _ = sigint.recv() => "SIGINT",
        _ = sigterm.recv() => "SIGTERM",
        _ = eof_rx => "end of standard input",
        r = &mut task => return r.map_err(|e| format!("relay task: {e}")),
    };
    eprintln!("msrp-relay: stopping ({why})");
    stop.shutdown();
    // The relay writes what is queued within a few seconds; do not wait longer than that.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(6), task).await;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("msrp-relay: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(args.threads))
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msrp-relay: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(cfg, !args.ignore_stdin)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("msrp-relay: {e}");
            ExitCode::FAILURE
        }
    }
}
