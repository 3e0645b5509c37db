//! `msrp-relay`: runs one RFC 4976 MSRP relay ([`msrp_relay::server::Relay`]) over TCP from the
//! command line.
//!
//! This binary exists for the relay benchmark (`benches/relay-compare.sh`, issue 4) and for
//! interop runs until the msrpd daemon (issue 6) lands; it has no configuration file, no TLS
//! listener and no metrics endpoint. Example:
//!
//! ```text
//! msrp-relay --listen 127.0.0.1:2855 --host localhost --user alice:secret --user bob:secret \
//!     --allow-auth-over-tcp
//! ```
//!
//! Once the listener is bound it prints `listening on ADDR` (and `uri URI`, the relay's own URI
//! that clients AUTH to) on stdout. It runs until SIGINT or SIGTERM, or until its standard
//! input reaches end of file (so a parent that dies takes it along; `--ignore-stdin` turns
//! that off, e.g. when started with stdin on `/dev/null`).
//!
//! `--threads 1` (the default, for a fair one-core comparison) runs everything on one thread
//! (tokio current-thread runtime); `--threads N` runs a multi-threaded runtime with N workers.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use msrp_relay::auth::Secret;
use msrp_relay::config::RelayConfig;
use msrp_relay::server::Relay;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

/// Command line of `msrp-relay`.
#[derive(Debug, Parser)]
#[command(
    name = "msrp-relay",
    about = "Runs one RFC 4976 MSRP relay over TCP (for benchmarks and interop, until the msrpd daemon lands)"
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
    Ok(cfg)
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
