//! The relay over TCP (tokio): a listener, one reader task per connection, and the sans-IO core
//! ([`crate::auth`], [`crate::use_path`], [`crate::forward`]) behind one lock.
//!
//! # Connections
//!
//! Every connection, incoming or opened to a next hop, has a [`WriteQueue`] with two byte-bounded
//! lanes (control: responses and REPORTs; data: SEND chunks) drained by its own writer task, and
//! a reader task that decodes [`Event`]s with a [`MsrpCodec`]:
//!
//! - an AUTH whose To-Path is one URI of this relay is answered here (RFC 4976 §5.1, §6.3):
//!   401/403/423 from the [`Authenticator`], or 200 with a fresh Use-Path URI bound to the
//!   connection (4976-015..019). Over plain TCP it gets 403 unless
//!   [`RelayConfig::allow_auth_over_tcp`] (AUTH only over TLS, 4976-002);
//! - other requests and responses go to the [`Router`], whose actions the task carries out;
//! - a forwarded SEND is streamed: the rewritten head is queued on the target's data lane, then
//!   each body piece as it is read, then the end-line with the same flag. The body is never
//!   reassembled; when the target lane is full the reader waits, so it stops reading its source
//!   (backpressure) and memory stays bounded by the lanes. While one frame is being streamed to
//!   a connection no other source may queue data there (a per-connection lock), so frames
//!   never interleave;
//! - other forwarded frames (REPORTs, NICKNAME, responses; their bodies are bounded by
//!   [`msrp::DecoderConfig::max_control_body`]) are collected and queued whole on the target's
//!   control lane, so they overtake queued data;
//! - a frame that cannot be decoded is answered 400 (413 for oversized control bodies) when the
//!   decoder can skip it (RFC 4975 §10, 4975-065) and the connection goes on; a fatal decode
//!   error (the frame boundary is lost) closes the connection.
//!
//! # Limits
//!
//! First request within [`RelayConfig::first_request_timeout`] (4976-023), idle timeout
//! (4976-039), [`RelayConfig::max_connections`] incoming connections (one more is closed at
//! once), header blocks up to [`RelayConfig::max_head`], and lanes of
//! [`RelayConfig::queue_bytes`] / [`RelayConfig::control_bytes`].
//!
//! # Closing
//!
//! When a connection closes its Use-Path URIs are invalidated (4976-019), the router and the
//! authenticator forget it, and whatever the router owes others on its account is sent. A
//! forwarded frame cut short by its source ends with `#` on the target (RFC 4975 §7.1).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use msrp::transport::{EventReader, MsrpCodec, Outgoing, WriteQueue, WriterConfig};
use msrp::{ByteString, DecodeError, DecoderConfig, Event, Flag, Head, MsrpUri, StatusCode};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::ConnId;
use crate::auth::{self, AuthDecision, Authenticator, ConfigError};
use crate::config::RelayConfig;
use crate::forward::{self, Action, DiscardReason, Hop, Router};
use crate::use_path::{AddrError, Limits, RelayAddr, RouteError, UsePaths};

/// How long a closing connection's writer may take to write what is queued before it is
/// aborted.
const LINGER: Duration = Duration::from_secs(5);

/// Why [`Relay::bind`] failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The listener could not be bound.
    #[error("bind: {0}")]
    Io(#[from] io::Error),
    /// The relay's host or port cannot make Use-Path URIs (RFC 4976 §4.2, 4976-016).
    #[error("relay address: {0}")]
    Addr(#[from] AddrError),
    /// The AUTH configuration is invalid.
    #[error("auth config: {0}")]
    Auth(#[from] ConfigError),
}

/// Stops a running [`Relay`]: the listener stops accepting and every connection task ends
/// (queued frames are written first, within a few seconds). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Asks the relay to stop.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// An MSRP relay bound to a TCP port (RFC 4976). Run it with [`Relay::run`] or
/// [`Relay::spawn`].
pub struct Relay {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("uri", &self.shared.local.as_str())
            .finish()
    }
}

/// One connection as the others see it: where to write, and how to make it stop.
#[derive(Clone)]
struct Peer {
    queue: WriteQueue,
    /// Held by whoever streams a frame onto the data lane, so frames never interleave.
    data: Arc<tokio::sync::Mutex<()>>,
    /// Makes the connection's reader stop (the connection then closes).
    kill: Arc<Notify>,
}

/// The sans-IO state, behind one lock (never held across an await).
struct Core {
    auth: Authenticator,
    use_paths: UsePaths,
    router: Router,
    peers: HashMap<ConnId, Peer>,
    /// Outbound connections by `host:port`, for reuse (RFC 4976 §6.4.2, 4976-035).
    outbound: HashMap<(String, u16), ConnId>,
}

struct Shared {
    cfg: RelayConfig,
    /// `msrp://host:port;tcp`: the relay's own URI, for answers to frames without a usable head.
    local: MsrpUri,
    core: Mutex<Core>,
    next_id: AtomicU64,
    slots: Arc<Semaphore>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock leaves plain tables; keep serving.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decoder_config(&self) -> DecoderConfig {
        DecoderConfig {
            max_head: self.cfg.max_head,
            ..DecoderConfig::default()
        }
    }

    fn writer_config(&self) -> WriterConfig {
        WriterConfig {
            queue_bytes: self.cfg.queue_bytes,
            control_bytes: self.cfg.control_bytes,
            ..WriterConfig::default()
        }
    }
}

impl Relay {
    /// Binds the listener at [`RelayConfig::listen`] and builds the relay's state. The port in
    /// Use-Path URIs is [`RelayConfig::port`], or the bound port.
    pub async fn bind(cfg: RelayConfig) -> Result<Relay, BindError> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let port = match cfg.port {
            Some(p) => p,
            None => listener.local_addr()?.port(),
        };
        let addr = RelayAddr {
            secure: false,
            host: cfg.host.clone(),
            port,
        };
        let use_paths = UsePaths::with_limits(addr, Limits::default())?;
        let local = MsrpUri::new(false, &cfg.host, Some(port), None, "tcp")
            .map_err(|e| BindError::Addr(AddrError::Host(e)))?;
        let auth = Authenticator::new(cfg.auth_config())?;
        let router = Router::new(local.clone(), cfg.transaction_timeout);
        let (tx, _) = watch::channel(false);
        let slots = Arc::new(Semaphore::new(cfg.max_connections));
        Ok(Relay {
            listener,
            shared: Arc::new(Shared {
                cfg,
                local,
                core: Mutex::new(Core {
                    auth,
                    use_paths,
                    router,
                    peers: HashMap::new(),
                    outbound: HashMap::new(),
                }),
                next_id: AtomicU64::new(1),
                slots,
                shutdown: Arc::new(tx),
            }),
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The relay's own URI (`msrp://host:port;tcp`), the one clients AUTH to.
    pub fn uri(&self) -> &MsrpUri {
        &self.shared.local
    }

    /// A handle that stops the relay.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shared.shutdown.clone())
    }

    /// Runs the relay in a new task (call from within a runtime).
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    /// Accepts connections and drives the timers until [`ShutdownHandle::shutdown`].
    pub async fn run(self) {
        let shared = self.shared;
        let mut stop = shared.shutdown.subscribe();
        let timer = tokio::spawn(timers(shared.clone()));
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    // RFC 4976 §6.5: out of resources, shed the connection (drop closes it).
                    let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    open_conn(&shared, stream, Some(permit));
                }
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        timer.abort();
    }
}

/// Registers a connection and spawns its reader task. `permit` is the incoming connection's
/// slot (`None` for outbound connections, which are not counted and have no first-request
/// timer).
fn open_conn(
    shared: &Arc<Shared>,
    stream: TcpStream,
    permit: Option<OwnedSemaphorePermit>,
) -> (ConnId, Peer) {
    let id = ConnId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let (r, w) = stream.into_split();
    let (queue, writer) = msrp::transport::spawn_writer(w, shared.writer_config());
    let peer = Peer {
        queue,
        data: Arc::new(tokio::sync::Mutex::new(())),
        kill: Arc::new(Notify::new()),
    };
    shared.core().peers.insert(id, peer.clone());
    let reader = EventReader::new(r, MsrpCodec::new(shared.decoder_config()));
    let conn = Conn {
        shared: shared.clone(),
        id,
        peer: peer.clone(),
        established: permit.is_none(),
        last_from: None,
        current: Current::Idle,
        owed: Vec::new(),
    };
    tokio::spawn(conn.run(reader, writer, permit));
    (id, peer)
}

/// The connection to the next hop `uri` names: an open one to the same `host:port` is reused
/// (RFC 4976 §6.4.2, 4976-035), otherwise one is opened (within
/// [`RelayConfig::connect_timeout`]) and read like any other. `msrps` needs TLS, which this
/// server does not speak yet: refused.
async fn outbound(shared: &Arc<Shared>, uri: &MsrpUri) -> io::Result<(ConnId, Peer)> {
    if uri.is_secure() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "msrps next hop: TLS not supported yet",
        ));
    }
    let host = uri.host().to_string().to_ascii_lowercase();
    let port = uri
        .port()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "next hop without a port"))?;
    let key = (host, port);
    {
        let core = shared.core();
        if let Some((id, peer)) = core
            .outbound
            .get(&key)
            .and_then(|id| core.peers.get(id).map(|p| (*id, p.clone())))
            .filter(|(_, p)| !p.queue.is_closed())
        {
            return Ok((id, peer));
        }
    }
    let host = key.0.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::time::timeout(shared.cfg.connect_timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect to next hop"))??;
    let _ = stream.set_nodelay(true);
    let (id, peer) = open_conn(shared, stream, None);
    shared.core().outbound.insert(key, id);
    Ok((id, peer))
}

/// Periodic work: Use-Path expiry (4976-019) and the forwarded SENDs' response timers, whose
/// 408 REPORTs are sent from here (4976-030).
async fn timers(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.cfg.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let actions = {
            let mut core = shared.core();
            core.use_paths.expire(now);
            core.router.poll_timeouts(now)
        };
        if !actions.is_empty() {
            tokio::spawn(deliver(shared.clone(), actions));
        }
    }
}

/// Carries out router actions that carry no body ([`Action::Respond`], [`Action::Send`]);
/// [`Action::Forward`] and [`Action::Discard`] only come from [`Router::on_request`], which the
/// reader handles itself. Each frame goes on its connection's control lane, waiting for room;
/// a connection that is gone does not get it.
async fn deliver(shared: Arc<Shared>, actions: Vec<Action>) {
    for action in actions {
        let (peer, head) = match action {
            Action::Respond { to, head } => (shared.core().peers.get(&to).cloned(), head),
            Action::Send { to, head } => (resolve(&shared, &to).await.ok().map(|p| p.1), head),
            Action::Forward { .. } | Action::Discard { .. } => continue,
        };
        if let Some(peer) = peer {
            let _ = peer
                .queue
                .send_control(Outgoing::chunk(&head, None, Flag::Last))
                .await;
        }
    }
}

/// The connection a [`Hop`] names: an open connection, or one to the next hop's URI.
async fn resolve(shared: &Arc<Shared>, hop: &Hop) -> io::Result<(ConnId, Peer)> {
    match hop {
        Hop::Conn(id) => shared
            .core()
            .peers
            .get(id)
            .map(|p| (*id, p.clone()))
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection closed")),
        Hop::Uri(uri) => outbound(shared, uri).await,
    }
}

/// What the reader does with the events of the frame being read.
enum Current {
    /// Between frames.
    Idle,
    /// The rest of this frame is dropped (answered locally, discarded, or its target is gone).
    Discard,
    /// A SEND being streamed onto `peer`'s data lane under its lock (`_guard`).
    Stream {
        peer: Peer,
        tid: ByteString,
        body: bool,
        /// Body octets queued so far.
        octets: u64,
        _guard: OwnedMutexGuard<()>,
    },
    /// A small frame collected whole, queued on `peer`'s control lane at its end.
    Collect {
        peer: Peer,
        head: Head,
        body: Option<BytesMut>,
    },
}

/// The reader side of one connection.
struct Conn {
    shared: Arc<Shared>,
    id: ConnId,
    peer: Peer,
    /// A request succeeded on it (or it is outbound): the first-request timer is off.
    established: bool,
    /// The first From-Path URI of the last request read, to address answers to frames whose
    /// head could not be decoded.
    last_from: Option<MsrpUri>,
    current: Current,
    /// Answers to the request being read, sent once its end-line is read (the hop-by-hop 200
    /// of a SEND acknowledges the whole chunk, RFC 4976 §6.4.1).
    owed: Vec<Action>,
}

/// Why the reader stops.
enum Stop {
    /// Close the connection.
    Close,
}

impl Conn {
    async fn run(
        mut self,
        mut reader: EventReader<OwnedReadHalf>,
        writer: JoinHandle<io::Result<()>>,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let mut stop = self.shared.shutdown.subscribe();
        let (idle, first) = (
            self.shared.cfg.idle_timeout,
            self.shared.cfg.first_request_timeout,
        );
        let started = tokio::time::Instant::now();
        let mut last_read = started;
        let kill = self.peer.kill.clone();
        loop {
            let deadline = if self.established {
                last_read + idle
            } else {
                // RFC 4976 §6.1 (4976-023): no successful request yet.
                (started + first).min(last_read + idle)
            };
            let item = tokio::select! {
                item = reader.next() => item,
                _ = tokio::time::sleep_until(deadline) => break,
                _ = kill.notified() => break,
                _ = stop.wait_for(|s| *s) => break,
            };
            last_read = tokio::time::Instant::now();
            let step = match item {
                // EOF between frames, or an I/O error, a fatal decode error or EOF inside a
                // frame: the connection is done.
                None | Some(Err(_)) => break,
                Some(Ok(Err(e))) => self.on_decode_error(e).await,
                Some(Ok(Ok(ev))) => self.on_event(ev).await,
            };
            if let Err(Stop::Close) = step {
                break;
            }
        }
        self.abort_current().await;
        self.close();
        self.peer.queue.close();
        let abort = writer.abort_handle();
        if tokio::time::timeout(LINGER, writer).await.is_err() {
            abort.abort();
        }
        drop(permit);
    }

    /// Ends a frame being forwarded whose source stopped inside it: `#` (RFC 4975 §7.1).
    async fn abort_current(&mut self) {
        // The hop-by-hop answer acknowledges a whole chunk: none for one cut off.
        self.owed.clear();
        if let Current::Stream {
            peer, tid, body, ..
        } = std::mem::replace(&mut self.current, Current::Idle)
        {
            let _ = peer
                .queue
                .send(Outgoing::end(&tid, Flag::Abort, body))
                .await;
        }
    }

    /// Forgets the connection everywhere (RFC 4976 §6.3, 4976-019).
    fn close(&mut self) {
        let actions = {
            let mut core = self.shared.core();
            core.peers.remove(&self.id);
            core.outbound.retain(|_, c| *c != self.id);
            core.use_paths.close(self.id);
            core.auth.connection_closed(self.id);
            core.router.connection_closed(self.id)
        };
        if !actions.is_empty() {
            tokio::spawn(deliver(self.shared.clone(), actions));
        }
    }

    async fn on_event(&mut self, ev: Event) -> Result<(), Stop> {
        match ev {
            Event::Head { head, body } => self.on_head(head, body).await,
            Event::Body(piece) => {
                let target_gone = match &mut self.current {
                    // Waits for room: backpressure on this source.
                    Current::Stream { peer, octets, .. } => {
                        *octets += piece.len() as u64;
                        peer.queue.send(piece).await.is_err()
                    }
                    Current::Collect { body: Some(b), .. } => {
                        b.extend_from_slice(&piece);
                        false
                    }
                    _ => false,
                };
                if target_gone {
                    self.current = Current::Discard;
                }
                Ok(())
            }
            Event::End(flag) => {
                let sent = match std::mem::replace(&mut self.current, Current::Idle) {
                    Current::Stream {
                        peer,
                        tid,
                        body,
                        octets,
                        ..
                    } => peer
                        .queue
                        .send(Outgoing::end(&tid, flag, body))
                        .await
                        .is_ok()
                        .then_some((tid, octets)),
                    Current::Collect { peer, head, body } => {
                        let octets = body.as_ref().map_or(0, |b| b.len() as u64);
                        let item = Outgoing::chunk(&head, body.map(BytesMut::freeze), flag);
                        let tid = head.tid.clone();
                        peer.queue
                            .send_control(item)
                            .await
                            .is_ok()
                            .then_some((tid, octets))
                    }
                    Current::Idle | Current::Discard => None,
                };
                if let Some((tid, octets)) = sent {
                    // RFC 4976 §6.4.1 (4976-030): the response timer runs from the last octet
                    // (here: queued for the next hop).
                    self.shared
                        .core()
                        .router
                        .chunk_sent(&tid, octets, Instant::now());
                }
                let owed = std::mem::take(&mut self.owed);
                if !owed.is_empty() {
                    deliver(self.shared.clone(), owed).await;
                }
                Ok(())
            }
        }
    }

    async fn on_head(&mut self, head: Head, body: bool) -> Result<(), Stop> {
        self.current = Current::Discard;
        self.owed.clear();
        if head.status().is_some() {
            // RFC 4976 §6.4.3: routed back, or turned into a failure REPORT, or dropped.
            let actions = self.shared.core().router.on_response(head, self.id);
            deliver(self.shared.clone(), actions).await;
            return Ok(());
        }
        self.last_from = head.from_path().first().cloned();
        let for_auth = forward::for_authenticator(&head, &self.shared.core().use_paths);
        if for_auth {
            return self.on_auth(&head).await;
        }
        let actions = {
            let mut core = self.shared.core();
            let core = &mut *core;
            core.router
                .on_request(head, self.id, &core.use_paths, Instant::now())
        };
        for action in actions {
            match action {
                Action::Forward { to, head, .. } => self.forward(to, head, body).await?,
                Action::Discard {
                    reason: DiscardReason::Route(RouteError::Foreign),
                } if !self.established => {
                    // RFC 4976 §6.2: a request not addressed to this relay on a connection
                    // that has had no successful request: drop the connection.
                    return Err(Stop::Close);
                }
                Action::Discard { .. } => self.current = Current::Discard,
                a @ Action::Respond { .. } => self.owed.push(a),
                a @ Action::Send { .. } => deliver(self.shared.clone(), vec![a]).await,
            }
        }
        Ok(())
    }

    /// Starts forwarding the request whose rewritten head is `head` to `hop` (RFC 4976 §6.4):
    /// a SEND is streamed onto the target's data lane, anything else collected for its control
    /// lane. A next hop that cannot be reached fails the transaction (a failure REPORT or an
    /// error response, [`Router::fail`]), and the body is skipped.
    async fn forward(&mut self, hop: Hop, head: Head, body: bool) -> Result<(), Stop> {
        let (conn, peer) = match resolve(&self.shared, &hop).await {
            Ok(found) => found,
            Err(_) => {
                let actions = self
                    .shared
                    .core()
                    .router
                    .fail(&head.tid, StatusCode::TIMEOUT);
                deliver(self.shared.clone(), actions).await;
                return Ok(());
            }
        };
        if let Hop::Uri(_) = hop {
            self.shared.core().router.assign(&head.tid, conn);
        }
        self.established = true;
        if !head.is_send() {
            self.current = Current::Collect {
                peer,
                body: body.then(BytesMut::new),
                head,
            };
            return Ok(());
        }
        // One frame at a time on the target's data lane.
        let guard = peer.data.clone().lock_owned().await;
        let tid = head.tid.clone();
        if peer.queue.send(Outgoing::head(&head, body)).await.is_err() {
            return Ok(());
        }
        self.current = Current::Stream {
            peer,
            tid,
            body,
            octets: 0,
            _guard: guard,
        };
        Ok(())
    }

    /// Answers an AUTH addressed to this relay (RFC 4976 §5.1, §6.3).
    async fn on_auth(&mut self, req: &Head) -> Result<(), Stop> {
        let local = req.to_path()[0].clone();
        if !self.shared.cfg.allow_auth_over_tcp {
            // RFC 4976 §8/§9.4 (4976-002): AUTH only over TLS.
            let resp = msrp::report::response(
                req,
                StatusCode::FORBIDDEN,
                Some("AUTH only over TLS"),
                &local,
            );
            return self.answer(&resp).await;
        }
        let now = Instant::now();
        let (resp, close) = {
            let mut core = self.shared.core();
            let outcome = core.auth.handle(req, self.id, now);
            let resp = match &outcome.decision {
                AuthDecision::Accepted { user, expires, .. } => {
                    let issued = core.use_paths.issue(
                        self.id,
                        user,
                        Duration::from_secs(u64::from(*expires)),
                        now,
                    );
                    match issued {
                        Ok(uri) => {
                            self.established = true;
                            auth::response_head(
                                req,
                                &outcome.decision,
                                &local,
                                Some(msrp::path![uri]),
                            )
                        }
                        // RFC 4976 §6.5: out of resources.
                        Err(e) => msrp::report::response(
                            req,
                            StatusCode::FORBIDDEN,
                            Some(&e.to_string()),
                            &local,
                        ),
                    }
                }
                d => auth::response_head(req, d, &local, None),
            };
            (resp, outcome.close_connection)
        };
        self.answer(&resp).await?;
        // RFC 4976 §6.3 (4976-021): too many failed AUTHs.
        if close { Err(Stop::Close) } else { Ok(()) }
    }

    /// Queues a bodiless frame on this connection's control lane.
    async fn answer(&self, head: &Head) -> Result<(), Stop> {
        self.peer
            .queue
            .send_control(Outgoing::chunk(head, None, Flag::Last))
            .await
            .map_err(|_| Stop::Close)
    }

    /// A frame the decoder skipped: 400 or 413 when it was a request other than REPORT with a
    /// readable tid (RFC 4975 §10, 4975-065); the connection goes on.
    async fn on_decode_error(&mut self, e: DecodeError) -> Result<(), Stop> {
        self.abort_current().await;
        self.current = Current::Idle;
        let (true, Some(tid)) = (e.wants_response(), e.tid.clone()) else {
            return Ok(());
        };
        // The head is unknown: answer to the last sender seen on this connection, or to
        // ourselves; the peer matches the response by its transaction id.
        let to = self
            .last_from
            .clone()
            .unwrap_or_else(|| self.shared.local.clone());
        let resp = Head::response(
            e.status(),
            tid,
            msrp::path![to],
            msrp::path![self.shared.local.clone()],
        );
        self.answer(&resp).await
    }
}
