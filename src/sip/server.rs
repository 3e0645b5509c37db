//! The SIP listeners (RFC 3261 §18: UDP and TCP) and the task that drives the [`Focus`].
//!
//! One task owns the focus: the UDP reader and every TCP connection hand it parsed messages,
//! the mixer's joins run on tasks of their own and hand back their results, and the focus's
//! timers wake it. What it sends goes out on the UDP socket or the TCP connection's writer.
//! Signalling is light next to the MSRP traffic, so one task is plenty and keeps the focus free
//! of locks.
//!
//! Limits: a SIP message's header block and body (`sip.max_head`, `sip.max_body`), TCP
//! connections open at once (`sip.max_connections`) and their silence (`sip.idle_timeout_secs`).
//! A UDP datagram that does not parse is dropped (RFC 3261 §18.3 has no way to answer it); a TCP
//! stream that does not parse is closed, as its next message cannot be found.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp_mixer::server::MixerHandle;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, warn};

use super::focus::{Accepted, Focus, FocusConfig, Output, Refusal, Sent};
use super::message::{
    Framed, Limits, Message, ParseError, frame_len, parse_datagram, parse_stream, reason_phrase,
    salvage_request,
};
use super::metrics::SipMetrics;
use super::transaction::{Peer, Timers};
use crate::config::SipSection;

/// The SIP listeners, bound.
#[derive(Debug)]
pub struct Listeners {
    /// The UDP socket.
    pub udp: Option<UdpSocket>,
    /// The TCP listener.
    pub tcp: Option<TcpListener>,
}

impl Listeners {
    /// Binds the listeners `cfg` names; the error names the key.
    pub async fn bind(
        cfg: &SipSection,
    ) -> Result<Listeners, (&'static str, SocketAddr, std::io::Error)> {
        let mut l = Listeners {
            udp: None,
            tcp: None,
        };
        if let Some(a) = cfg.udp_addr() {
            l.udp = Some(UdpSocket::bind(a).await.map_err(|e| ("sip.udp", a, e))?);
        }
        if let Some(a) = cfg.tcp_addr() {
            l.tcp = Some(TcpListener::bind(a).await.map_err(|e| ("sip.tcp", a, e))?);
        }
        Ok(l)
    }

    /// The bound UDP address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|s| s.local_addr().ok())
    }
}

/// What the focus's task receives.
enum Input {
    Msg(Message, Peer),
    Joined(u64, Result<Accepted, Refusal>),
    /// A TCP connection's reader stopped: its writer goes once what was read before is
    /// answered (this comes after those messages on the same channel).
    Closed(u64),
}

/// The writers of the open TCP connections, by connection number.
type Conns = Arc<Mutex<HashMap<u64, mpsc::Sender<Bytes>>>>;

/// Starts the focus on `listeners`, joining rooms of `mixer`, until `stop` turns true; then it
/// ends every dialog with a BYE (waiting up to two seconds for their answers: the readers run
/// until the focus is done) and returns.
pub fn spawn(
    listeners: Listeners,
    cfg: &SipSection,
    mixer: MixerHandle,
    metrics: SipMetrics,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let timers = Timers {
        t1: Duration::from_millis(cfg.t1_ms),
        t2: Duration::from_millis(cfg.t2_ms),
        t4: Duration::from_millis(cfg.t4_ms),
    };
    let focus_cfg = FocusConfig {
        timers,
        trust_asserted_identity: cfg.trust_asserted_identity,
        udp: listeners.udp_addr(),
        tcp: listeners.tcp_addr(),
        host: cfg.host.clone(),
        max_transactions: cfg.max_transactions,
        ..FocusConfig::default()
    };
    let limits = Limits {
        max_head: cfg.max_head,
        max_body: cfg.max_body,
    };
    let (tx, rx) = mpsc::channel(1024);
    let conns: Conns = Arc::default();
    // The readers stop when the focus is done (after its BYEs were answered), not at `stop`.
    let (done_tx, done) = watch::channel(false);
    let udp = listeners.udp.map(Arc::new);
    if let Some(sock) = &udp {
        tokio::spawn(udp_reader(
            sock.clone(),
            limits,
            tx.clone(),
            metrics.clone(),
            done.clone(),
        ));
    }
    if let Some(l) = listeners.tcp {
        let tcp = TcpCfg {
            limits,
            slots: Arc::new(Semaphore::new(cfg.max_connections)),
            idle: Duration::from_secs(cfg.idle_timeout_secs),
        };
        tokio::spawn(tcp_acceptor(
            l,
            tcp,
            tx.clone(),
            conns.clone(),
            metrics.clone(),
            stop.clone(),
            done,
        ));
    }
    let ended = mixer.watch_ended();
    let core = Core {
        focus: Focus::new(focus_cfg),
        udp,
        conns,
        mixer,
        metrics,
        tx,
    };
    tokio::spawn(
        async move {
            core.run(rx, ended, stop).await;
            let _ = done_tx.send(true);
        }
        .instrument(tracing::info_span!("sip")),
    )
}

struct Core {
    focus: Focus,
    udp: Option<Arc<UdpSocket>>,
    conns: Conns,
    mixer: MixerHandle,
    metrics: SipMetrics,
    tx: mpsc::Sender<Input>,
}

impl Core {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Input>,
        mut ended: mpsc::UnboundedReceiver<String>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let wake = self
                .focus
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or(far);
            let wake = stopping.map_or(wake, |s| wake.min(s));
            tokio::select! {
                input = rx.recv() => match input {
                    Some(Input::Msg(m, peer)) => {
                        self.count_in(&m);
                        self.focus.handle(m, peer, Instant::now());
                    }
                    Some(Input::Joined(job, r)) => self.focus.joined(job, r, Instant::now()),
                    Some(Input::Closed(conn)) => {
                        self.conns
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&conn);
                    }
                    None => break,
                },
                Some(id) = ended.recv() => self.focus.session_ended(&id, Instant::now()),
                _ = tokio::time::sleep_until(wake) => self.focus.handle_timeout(Instant::now()),
                _ = stop.wait_for(|s| *s), if stopping.is_none() => {
                    info!(dialogs = self.focus.dialogs(), "SIP: ending every dialog");
                    self.focus.shutdown(Instant::now());
                    stopping = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                }
            }
            self.flush().await;
            self.metrics.dialogs.set(self.focus.dialogs() as i64);
            if let Some(s) = stopping {
                if !self.focus.busy() || tokio::time::Instant::now() >= s {
                    break;
                }
            }
        }
    }

    fn count_in(&self, m: &Message) {
        match (m.method(), m.code()) {
            (Some(method), _) => self.metrics.request("in", method),
            (None, Some(code)) => {
                if let Some(c) = m.cseq() {
                    self.metrics.response("in", &c.method, code);
                }
            }
            _ => {}
        }
    }

    /// Carries out what the focus asked for.
    async fn flush(&mut self) {
        let work: Vec<Output> = self.focus.drain_output().collect();
        for o in work {
            match o {
                Output::Send { peer, bytes, what } => {
                    match &what {
                        Sent::Response(m, code) => self.metrics.response("out", m, *code),
                        Sent::Request(m) => self.metrics.request("out", m),
                        Sent::Retransmission => self.metrics.retransmissions.inc(),
                    }
                    self.send(peer, bytes).await;
                }
                Output::Join {
                    job,
                    room,
                    participant,
                    offer,
                    origin,
                } => {
                    let (mixer, tx) = (self.mixer.clone(), self.tx.clone());
                    tokio::spawn(async move {
                        let r = mixer
                            .join_with_origin(&room, &participant, &offer, origin)
                            .await
                            .map(|j| Accepted {
                                session: j.id,
                                answer: Bytes::from(j.answer),
                            })
                            .map_err(|e| Refusal {
                                status: e.sip_status(),
                                reason: e.to_string(),
                            });
                        match &r {
                            Ok(a) => {
                                info!(%room, %participant, session = %a.session, "joined by INVITE")
                            }
                            Err(e) => {
                                info!(%room, %participant, status = e.status, reason = %e.reason, "INVITE refused")
                            }
                        }
                        let _ = tx.send(Input::Joined(job, r)).await;
                    });
                }
                Output::Leave { session } => {
                    let mixer = self.mixer.clone();
                    tokio::spawn(async move {
                        mixer.leave(&session).await;
                    });
                }
            }
        }
    }

    async fn send(&self, peer: Peer, bytes: Bytes) {
        match peer {
            Peer::Udp(addr) => {
                if let Some(sock) = &self.udp {
                    if let Err(e) = sock.send_to(&bytes, addr).await {
                        debug!(%addr, error = %e, "SIP UDP send failed");
                    }
                }
            }
            Peer::Tcp { conn, addr } => {
                let w = self
                    .conns
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&conn)
                    .cloned();
                // A closed connection loses the message: the peer's own timers recover (§18.2.2
                // would open a new connection; the focus answers where it was asked).
                match w {
                    Some(w) if w.try_send(bytes).is_ok() => {}
                    _ => debug!(%addr, conn, "SIP TCP connection gone or full: message dropped"),
                }
            }
        }
    }
}

async fn udp_reader(
    sock: Arc<UdpSocket>,
    limits: Limits,
    tx: mpsc::Sender<Input>,
    metrics: SipMetrics,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let received = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (n, src) = match received {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors surface here on some systems; the socket stays usable. A lasting
                // error must not spin.
                debug!(error = %e, "SIP UDP receive");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let data = &buf[..n];
        if data.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            // A keep-alive (RFC 5626 §3.5.1 uses STUN over UDP; bare CRLFs are ignored).
            continue;
        }
        match parse_datagram(data, &limits) {
            Ok(m) => {
                if tx.send(Input::Msg(m, Peer::Udp(src))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                metrics.malformed("udp");
                debug!(%src, error = %e, "SIP UDP datagram cannot be parsed");
                if let Some(resp) = answer_malformed(data, &limits, &e) {
                    metrics.response("out", &resp.0, resp.1);
                    let _ = sock.send_to(&resp.2, src).await;
                }
            }
        }
    }
}

/// §8.2 / §16.3: a request that cannot be parsed still gets its status (400, 413, 505, 513)
/// when its request line and Via can be read ([`salvage_request`]); responses and unreadable
/// requests get nothing. The method and status (for metrics) and the bytes.
fn answer_malformed(
    data: &[u8],
    limits: &Limits,
    e: &ParseError,
) -> Option<(super::message::Method, u16, Bytes)> {
    let req = salvage_request(data, limits)?;
    let method = req.method()?.clone();
    // An answer the client cannot match (§17.1.3: Via branch, CSeq; §8.1.3.3: Call-ID, tags)
    // is not sent.
    let matchable = req.top_via().is_some()
        && req
            .call_id()
            .is_some_and(|c| !c.is_empty() && !c.contains(char::is_whitespace))
        && req.cseq().is_some()
        && req.from().is_some()
        && req.to().is_some();
    if method == super::message::Method::Ack || !matchable {
        return None;
    }
    let status = e.status();
    let tag = msrp_relay::digest::random_hex(8);
    let mut resp = Message::response_to(&req, status, reason_phrase(status), Some(&tag));
    resp.push_header(
        "Warning",
        super::focus::warning(399, super::focus::AGENT, &e.to_string()),
    );
    Some((method, status, resp.to_bytes()))
}

#[derive(Clone)]
struct TcpCfg {
    limits: Limits,
    slots: Arc<Semaphore>,
    idle: Duration,
}

async fn tcp_acceptor(
    listener: TcpListener,
    cfg: TcpCfg,
    tx: mpsc::Sender<Input>,
    conns: Conns,
    metrics: SipMetrics,
    mut stop: watch::Receiver<bool>,
    done: watch::Receiver<bool>,
) {
    let mut next = 1u64;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (stream, addr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                warn!(error = %e, "SIP TCP accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = cfg.slots.clone().try_acquire_owned() else {
            debug!(%addr, "SIP TCP connection refused: sip.max_connections reached");
            continue;
        };
        let conn = next;
        next += 1;
        let (w_tx, w_rx) = mpsc::channel(64);
        conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn, w_tx.clone());
        let (tx, metrics, cfg) = (tx.clone(), metrics.clone(), cfg.clone());
        let done = done.clone();
        tokio::spawn(async move {
            metrics.tcp_connections.inc();
            let writer = tcp_conn(
                stream,
                conn,
                addr,
                &cfg,
                tx.clone(),
                w_tx,
                w_rx,
                &metrics,
                done,
            )
            .await;
            // The focus drops the writer once it has answered what was read before (a 200 for
            // the BYE that came last); the writer then sends what is queued and ends. Two
            // seconds at most.
            let _ = tx.send(Input::Closed(conn)).await;
            let abort = writer.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), writer)
                .await
                .is_err()
            {
                abort.abort();
            }
            metrics.tcp_connections.dec();
            drop(permit);
        });
    }
}

#[allow(clippy::too_many_arguments)]
async fn tcp_conn(
    stream: TcpStream,
    conn: u64,
    addr: SocketAddr,
    cfg: &TcpCfg,
    tx: mpsc::Sender<Input>,
    pong: mpsc::Sender<Bytes>,
    mut w_rx: mpsc::Receiver<Bytes>,
    metrics: &SipMetrics,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let _ = stream.set_nodelay(true);
    let (mut r, mut w) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(b) = w_rx.recv().await {
            if w.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    });
    let peer = Peer::Tcp { conn, addr };
    let mut buf = BytesMut::with_capacity(4096);
    'read: loop {
        let n = tokio::select! {
            r = tokio::time::timeout(cfg.idle, r.read_buf(&mut buf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => Some(n),
                Err(_) => {
                    debug!(%addr, "SIP TCP connection idle: closed");
                    break;
                }
            },
            // The focus is done (its BYEs answered or given up).
            _ = stop.wait_for(|s| *s) => None,
        };
        if n.is_none() {
            break;
        }
        loop {
            match parse_stream(&buf, &cfg.limits) {
                Ok(None) => {
                    if buf.len() > cfg.limits.max_head + cfg.limits.max_body {
                        break 'read;
                    }
                    break;
                }
                Ok(Some(Framed::Message(m, used))) => {
                    let _ = buf.split_to(used);
                    if tx.send(Input::Msg(m, peer)).await.is_err() {
                        break 'read;
                    }
                }
                Ok(Some(Framed::Ping(used))) => {
                    // RFC 5626 §4.4.1: a CRLF CRLF ping gets a CRLF pong.
                    let _ = buf.split_to(used);
                    let _ = pong.try_send(Bytes::from_static(b"\r\n"));
                }
                Ok(Some(Framed::Skip(used))) => {
                    let _ = buf.split_to(used);
                }
                Err(e) => {
                    metrics.malformed("tcp");
                    if let Some(resp) = answer_malformed(&buf, &cfg.limits, &e) {
                        metrics.response("out", &resp.0, resp.1);
                        let _ = pong.try_send(resp.2);
                    }
                    match frame_len(&buf, &cfg.limits) {
                        Some(n) if e.keeps_stream() => {
                            debug!(%addr, error = %e, "SIP TCP message cannot be parsed: skipped");
                            let _ = buf.split_to(n);
                        }
                        _ => {
                            debug!(%addr, error = %e, "SIP TCP stream cannot be parsed: closed");
                            break 'read;
                        }
                    }
                }
            }
        }
    }
    drop(pong);
    writer
}
