//! Starting and stopping the service: the MSRP listeners ([`crate::listener`]), the relay and
//! the chat rooms behind them, the HTTP server ([`crate::http`]), and the drain on SIGTERM or
//! SIGINT.
//!
//! Shutdown: `/readyz` turns 503 and the listeners stop accepting; connections already open go
//! on being served (a chunk in flight finishes, its REPORTs go out) until none is left or
//! `shutdown.drain_secs` has passed; then the relay and the rooms close their connections after
//! writing what they have queued, and the process exits 0.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use msrp_mixer::server::Mixer;
use msrp_relay::server::Relay;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::info;

use crate::config::Config;
use crate::http::{Api, router};
use crate::listener::{Dispatch, Rooms};
use crate::metrics::DaemonMetrics;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("{what} {addr}: {source}")]
    Bind {
        /// Which listener (`msrp.listen`, ...).
        what: &'static str,
        /// Its address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The relay refused its configuration (host, users, TLS files).
    #[error("relay: {0}")]
    Relay(#[from] msrp_relay::server::BindError),
    /// The TLS certificate or key could not be loaded.
    #[error("msrp.tls: {0}")]
    Tls(#[from] msrp_relay::tls::TlsError),
    /// The mixer refused its configuration (a static room).
    #[error("mixer: {0}")]
    Mixer(std::io::Error),
    /// A metric could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Binds listener `what` (its config key) at `addr`; the listener and the address it got.
async fn bind(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let fail = |source| StartError::Bind { what, addr, source };
    let l = TcpListener::bind(addr).await.map_err(fail)?;
    let bound = l.local_addr().map_err(fail)?;
    Ok((l, bound))
}

/// Runs the service until `stop` resolves (the binary passes SIGTERM/SIGINT), then drains and
/// returns. Once every listener is bound it prints, on stdout, one line per listener
/// (`msrp ADDR`, `msrps ADDR`, `http ADDR`, `sip-udp ADDR`, `sip-tcp ADDR`) and then `ready`: tests and scripts that start the
/// daemon on port 0 read the ports from there.
pub async fn run(
    cfg: Config,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Result<(), StartError> {
    let cfg = Arc::new(cfg);
    let registry = Registry::new();
    crate::metrics::register_process(&registry)?;
    let daemon_metrics = Arc::new(DaemonMetrics::register(&registry)?);
    let relay_metrics = Arc::new(msrp_relay::metrics::Metrics::with_registry(
        registry.clone(),
    )?);
    let mixer_metrics = Arc::new(msrp_mixer::metrics::Metrics::with_registry(
        registry.clone(),
    )?);

    let (msrp_listener, msrp_addr) = bind("msrp.listen", cfg.msrp.listen).await?;
    let port = if cfg.msrp.port != 0 {
        cfg.msrp.port
    } else {
        msrp_addr.port()
    };
    let relay_cfg = cfg.relay_config();
    let mut tls = None;
    if let Some(t) = &relay_cfg.tls {
        let acceptor = msrp_relay::tls::acceptor(t)?;
        let (l, addr) = bind("msrp.tls.listen", t.listen).await?;
        let tls_port = t.port.unwrap_or(addr.port());
        tls = Some((l, acceptor, addr, tls_port));
    }
    let (http_listener, http_addr) = bind("http.listen", cfg.http.listen).await?;
    #[cfg(feature = "sip")]
    let sip_listeners = if cfg.sip.enabled {
        Some(
            crate::sip::server::Listeners::bind(&cfg.sip)
                .await
                .map_err(|(what, addr, source)| StartError::Bind { what, addr, source })?,
        )
    } else {
        None
    };
    #[cfg(not(feature = "sip"))]
    if cfg.sip.enabled {
        tracing::warn!("[sip] is ignored: this msrpd was built without the `sip` feature");
    }

    let mut mixer_cfg = cfg.mixer_config();
    mixer_cfg.tls_port = tls.as_ref().map(|t| t.3);
    let mixer =
        Mixer::unbound(mixer_cfg, mixer_metrics.clone(), port).map_err(StartError::Mixer)?;
    let mixer_handle = mixer.handle();
    let mixer_task = mixer.spawn();
    let mut relay_handle = None;
    let mut relay_task = None;
    if cfg.relay.enabled {
        let relay = Relay::unbound(
            relay_cfg,
            relay_metrics.clone(),
            port,
            tls.as_ref().map(|t| t.3),
        )?;
        let h = relay.handle();
        h.set_colocated(Arc::new(Rooms(mixer_handle.clone())));
        relay_handle = Some(h);
        relay_task = Some(relay.spawn());
    }
    let slots = Arc::new(Semaphore::new(cfg.msrp.max_connections));
    let dispatch = Dispatch {
        relay: relay_handle.clone(),
        mixer: mixer_handle.clone(),
        max_head: cfg.msrp.max_head,
        first_frame: Duration::from_secs(cfg.msrp.first_request_secs),
        slots: slots.clone(),
        metrics: daemon_metrics.clone(),
    };
    // Client connections open now: the slots taken (the relay's in-process connections to the
    // rooms are not clients and hold none).
    let clients = {
        let (slots, max) = (slots.clone(), cfg.msrp.max_connections);
        move || max - slots.available_permits()
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_tasks = vec![tokio::spawn(dispatch.clone().run(
        msrp_listener,
        None,
        stop_rx.clone(),
    ))];
    let tls_addr = tls.as_ref().map(|t| t.2);
    if let Some((l, acceptor, _, _)) = tls {
        accept_tasks.push(tokio::spawn(dispatch.clone().run(
            l,
            Some(acceptor),
            stop_rx.clone(),
        )));
    }

    let ready = Arc::new(AtomicBool::new(true));
    let api = Api {
        mixer: mixer_handle.clone(),
        registry: registry.clone(),
        metrics: daemon_metrics,
        config: cfg.clone(),
        ready: ready.clone(),
    };
    let http_task = tokio::spawn(crate::http::serve(
        http_listener,
        router(api),
        Duration::from_secs(cfg.http.header_timeout_secs),
        stop_rx.clone(),
    ));

    #[cfg(feature = "sip")]
    let (sip_addrs, sip_task) = match sip_listeners {
        Some(l) => {
            let addrs = (l.udp_addr(), l.tcp_addr());
            let metrics = crate::sip::metrics::SipMetrics::register(&registry)?;
            let task = crate::sip::server::spawn(
                l,
                &cfg.sip,
                mixer_handle.clone(),
                metrics,
                stop_rx.clone(),
            );
            (addrs, Some(task))
        }
        None => ((None, None), None),
    };
    #[cfg(not(feature = "sip"))]
    let sip_addrs: (Option<SocketAddr>, Option<SocketAddr>) = (None, None);

    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "msrp {msrp_addr}");
        if let Some(a) = tls_addr {
            let _ = writeln!(out, "msrps {a}");
        }
        let _ = writeln!(out, "http {http_addr}");
        if let Some(a) = sip_addrs.0 {
            let _ = writeln!(out, "sip-udp {a}");
        }
        if let Some(a) = sip_addrs.1 {
            let _ = writeln!(out, "sip-tcp {a}");
        }
        let _ = writeln!(out, "ready");
        let _ = out.flush();
    }
    info!(msrp = %msrp_addr, msrps = ?tls_addr, http = %http_addr, sip_udp = ?sip_addrs.0, sip_tcp = ?sip_addrs.1, "msrpd ready");

    stop.await;

    // Drain: refuse new work, let open connections finish, then close them.
    info!(
        drain_secs = cfg.shutdown.drain_secs,
        "shutting down: no new connections"
    );
    ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    // The SIP focus ends its dialogs with BYEs (their participants then close their MSRP
    // connections) and stops within two seconds.
    #[cfg(feature = "sip")]
    if let Some(t) = sip_task {
        let _ = t.await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(cfg.shutdown.drain_secs);
    while tokio::time::Instant::now() < deadline && clients() > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    info!(connections_left = clients(), "closing connections");
    mixer_handle.shutdown();
    if let Some(h) = &relay_handle {
        h.shutdown();
    }
    let _ = mixer_task.await;
    if let Some(t) = relay_task {
        let _ = t.await;
    }
    // The connections' writers get a few seconds to flush what is queued.
    let flush_deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // Connections the relay and the rooms have open (their `connections_open` gauges).
    let open = || {
        let relay = &relay_metrics.connections_open;
        relay.with_label_values(&["tcp"]).get()
            + relay.with_label_values(&["tls"]).get()
            + mixer_metrics.connections_open.get()
    };
    while tokio::time::Instant::now() < flush_deadline && open() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = http_task.await;
    info!("stopped");
    Ok(())
}
