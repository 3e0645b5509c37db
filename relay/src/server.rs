//! The relay over TCP and TLS (tokio): listeners, one reader task per connection, and the
//! sans-IO core ([`crate::auth`], [`crate::use_path`], [`crate::forward`]) behind one lock.
//!
//! # Transports
//!
//! The TCP listener ([`RelayConfig::listen`]) is always there; with [`RelayConfig::tls`] a
//! second listener speaks TLS (`msrps`, RFC 4975 §14, RFC 4976 §9.2). A TLS client must finish
//! its handshake within [`TlsConfig::handshake_timeout`] or is closed, giving its connection
//! slot back. Past the handshake both kinds of connection are served by the same code, generic
//! over the stream's read and write halves.
//!
//! Use-Path URIs are kept in one table per listener: a client that AUTHs on a TLS connection
//! gets an `msrps://host:tls-port/…;tcp` URI, one on TCP an `msrp://host:port/…;tcp` URI. A
//! request is routed with the table its first To-Path URI belongs to (by port, then by scheme).
//! A To-Path that goes from a URI of one table to a URI of the other is forwarded to the relay
//! itself as to any next hop (a connection to its own other listener).
//!
//! Next hops named by `msrps` URIs are reached over TLS: the certificate must chain to
//! [`TlsConfig::roots_pem`] and name the URI host, which is sent as SNI. Without roots (or
//! without TLS) such a next hop cannot be reached, and the request fails as any unreachable next
//! hop does: [`Router::fail`] with 408 (a failure REPORT for a SEND that asked for one, a 408
//! response to other requests). Relay-to-relay hops use mutual TLS (4976-042): an outbound
//! `msrps` connection presents the relay's own certificate chain (unless
//! [`TlsConfig::present_client_cert`] is off), and the listener verifies the certificates peers
//! present against [`TlsConfig::client_roots_pem`] ([`TlsConfig::client_auth`]: optional, so
//! clients presenting none are served, or required).
//!
//! # Connections
//!
//! Every connection, incoming or opened to a next hop, has a [`WriteQueue`] with two byte-bounded
//! lanes (control: responses and REPORTs; data: SEND chunks) drained by its own writer task, and
//! a reader task that decodes [`Event`]s with a [`MsrpCodec`]:
//!
//! - an AUTH whose To-Path is one URI of this relay is answered here (RFC 4976 §5.1, §6.3):
//!   401/403/423 from the [`Authenticator`], or 200 with a fresh Use-Path URI bound to the
//!   connection (4976-015..019). Over TLS it is always answered; over plain TCP it gets 403
//!   unless [`RelayConfig::allow_auth_over_tcp`] (AUTH only over TLS, 4976-002);
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
//! # Re-chunking (RFC 4976 §6.4.1, 4976-033)
//!
//! A relay MAY split the chunks it forwards; this one does, so that responses and REPORTs for a
//! connection are not held up behind a long chunk streamed to it (the writer never writes a
//! control item inside an open frame, [`msrp::transport`]). It never reassembles a message,
//! and combines chunks only as "Combining" below says. The rule, for a SEND chunk with a body:
//!
//! - **May it be split?** Yes, unless re-chunking is off ([`RelayConfig::rechunk_size`] 0 and
//!   [`RelayConfig::rechunk_for_replies`] `false`) or its Byte-Range declares a body too short to
//!   be cut (at most `rechunk_size` octets, and at most 2048 octets or replies not considered).
//!   A chunk that may be split goes out with range-end `*` (4975-024: a chunk that may be
//!   interrupted says so); range-start and total are kept. A short chunk that may be combined
//!   with the next one (see "Combining") may be split too and goes out the same way. Others go
//!   out as received.
//! - **Where does a piece end?** After exactly `rechunk_size` body octets (the incoming body
//!   pieces are split at that octet), or earlier, once it has at least 2048 octets, when the
//!   target has responses or REPORTs queued, or another source waits to queue its frames there
//!   (as RFC 4975 §7.1.1, 4975-028, asks of a sender).
//!   The piece ends with `+` right after its last octet. A piece is ended as soon as it is due
//!   when more body is sure to follow (the declared length says so, or, for waiting replies,
//!   does not say the body is complete), even if the source pauses; otherwise when the next
//!   body octet arrives. A reader whose piece is open is woken by the relay queuing a control
//!   frame on the target, or by another reader starting to wait for the target's data lane, so
//!   waiting replies and frames go out even while the source is silent.
//! - **The next piece** has a new transaction id from [`Router::rechunk`], registered before
//!   the previous piece's end-line is queued (so that piece's response cannot end the
//!   transaction it is copied from), the same headers otherwise (Message-ID, report headers,
//!   Content-Type), and Byte-Range `start-*/total`, start = previous start + octets in the
//!   previous piece (4975-029). Its header block is queued when its first octet arrives.
//! - **The last piece** carries the incoming chunk's flag (`$`, `+` or `#`). If the chunk ends
//!   right after a cut (its declared length was wrong, or it had none), a piece of 0 octets with
//!   Byte-Range `start-(start-1)/total` carries the flag (4975-031).
//! - **Order**: one reader streams the whole incoming chunk, its pieces one after the other,
//!   each under the target's data-lane lock, so the pieces of a chunk, and the chunks of a
//!   message that one source sends in order, reach the target in order (RFC 4976 §3,
//!   4975-032). Between two pieces no frame is open on the target: a piece cut because another
//!   source waits lets the lock go, and that source's frames go out before the next piece.
//! - **Transactions**: each piece is its own transaction on the next hop ([`Router::chunk_sent`]
//!   when its end-line is queued): its 200 ends it, an error or timeout gives a failure REPORT
//!   for that piece's octets. The previous hop gets one 200 for the incoming chunk, once its
//!   end-line has been read (4976-028).
//!
//! # Combining (RFC 4976 §6.4.1, 4976-033)
//!
//! A relay MAY also "combine consecutive chunks" of one message. A sender that cuts a message
//! into small chunks (2 KiB is common) costs every hop a header block, a transaction and a
//! response per chunk; this relay carries a chunk on in the outgoing chunk of the one before it
//! when it can do so without waiting for anything ([`RelayConfig::join_chunks`]):
//!
//! - **Which chunks may be continued?** A SEND chunk with a body shorter than
//!   [`RelayConfig::rechunk_size`] (which must not be 0: it bounds a combined chunk) whose
//!   Byte-Range says more of the message follows (range-end below the total, or the total
//!   unknown), when more than its body and end-line has been read already (the next frame is
//!   arriving) and [`RelayConfig::rechunk_for_replies`] is on. It goes out with range-end `*`,
//!   and may be split as above: a combined chunk longer than 2048 octets is interrupted for
//!   waiting replies, as 4975-027/028 ask of a sender. Other chunks go out as received, so a
//!   sender that paces its chunks sees their Byte-Ranges unchanged.
//! - **When?** When it ends with `+` and the next frame already read from the same connection is
//!   a SEND that [`forward::continues`] it: the same Message-ID, paths and other headers, and a
//!   Byte-Range starting at the octet after the last one forwarded, with the same total; its
//!   declared length fits in the piece within `rechunk_size` (every node takes chunks of any
//!   size, 4975-031, so that is the largest chunk the relay sends on); the target is still
//!   there; and each of the relay's URIs leading its To-Path is still valid for the connection
//!   (4976-025, as for any request). Its body then streams on in the open piece, with no header
//!   block, transaction id or end-line between the two. Anything else read next (another
//!   message, a response, a frame that cannot be decoded), or nothing (the reader is about to
//!   wait for input), ends the piece with `+` as received. So combining never delays a chunk:
//!   only chunks that are already here are carried on.
//! - **Answers**: the previous hop gets its hop-by-hop 200 for every incoming chunk, once that
//!   chunk's end-line is read (4976-028). The outgoing chunk is one transaction on the next hop:
//!   its error or timeout gives one failure REPORT with the Message-ID and report headers the
//!   chunks share, covering every chunk carried on ([`Router::joined`]) or, once the chunk is
//!   sent, the octets it carried ([`Router::chunk_sent`]).
//! - Chunks with different Message-IDs are never combined (4976-033 MUST NOT).
//!
//! # Repeated chunks
//!
//! A session's chunks have the same To-Path, From-Path and other headers (RFC 4975 §7.1), so
//! the relay rewrites each the same way. The decoder tells a SEND whose header block repeats
//! the previous SEND's but for its transaction id, Message-ID and Byte-Range
//! ([`DecoderConfig::repeated_sends`]: [`Event::RepeatedSend`], with those values and the
//! previous head, shared). When such a chunk goes to a client in one piece (not cut, not
//! combined), the reader keeps the block it wrote, with holes for the three values
//! (`relay/src/template.rs`); the session's next chunks are forwarded by filling them in
//! (`Conn::forward_repeat`), after the same checks as any request: the first To-Path URI is
//! still a Use-Path URI for that client's connection (4976-025, [`Router::on_repeated_send`]),
//! the hop-by-hop 200 is owed as usual (4976-028), and the transaction is kept for its
//! failure REPORT (4976-030/031). A chunk for which anything differs takes the usual way with
//! the head the event stands for ([`msrp::RepeatedSend::head`]); what leaves the relay is the
//! same either way (tests/repeat.rs, and the template's unit test). Counted in
//! `msrp_relay_repeated_total`.
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

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use msrp::transport::{
    Closed, EventReader, MsrpCodec, Outgoing, TrySendError, WriteQueue, WriterConfig,
};
use msrp::{
    ByteRange, DecodeError, DecoderConfig, Event, Flag, Head, Header, Ident, Method, MsrpUri,
    RepeatedSend, StatusCode, Tail,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::ConnId;
use crate::auth::{self, AuthDecision, Authenticator, ConfigError};
use crate::block::{BLOCK, room_in_blocks};
use crate::config::{RelayConfig, TlsConfig};
use crate::forward::{self, Action, DiscardReason, Hop, RepeatState, Router};
use crate::metrics::Metrics;
use crate::template::Template;
use crate::tls::{self, TlsError};
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
    /// The TLS certificate, key or roots could not be loaded.
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
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

/// Another MSRP service in the same process that shares the relay's host and port: a daemon
/// that serves the relay and chat rooms on one listener ([`RelayHandle::set_colocated`]). A
/// next hop it claims is reached over an in-process pipe instead of a socket.
pub trait Colocated: Send + Sync + 'static {
    /// `true` when `uri`, which names the relay's host and port, is one of the service's URIs.
    fn claims(&self, uri: &MsrpUri) -> bool;
    /// Serves one end of an in-process connection; the relay uses the other end as its
    /// connection to the next hop, as it would a TCP connection (RFC 4976 §6.4.2).
    fn accept(&self, stream: tokio::io::DuplexStream);
}

/// Bytes an in-process connection to a [`Colocated`] service buffers each way.
const PIPE_BYTES: usize = 256 * 1024;

/// An MSRP relay bound to a TCP port, and to a TLS port with [`RelayConfig::tls`] (RFC 4976).
/// Run it with [`Relay::run`] or [`Relay::spawn`].
pub struct Relay {
    /// The TCP listener; `None` for a relay built with [`Relay::unbound`], which serves only the
    /// connections handed to it ([`RelayHandle::serve`]).
    listener: Option<TcpListener>,
    /// The `msrps` listener and its acceptor.
    tls: Option<(TcpListener, TlsAcceptor)>,
    shared: Arc<Shared>,
}

/// A handle on a relay that gives it connections accepted elsewhere: a daemon that serves the
/// relay and other MSRP roles on one port accepts, looks at the first frame, and hands the
/// connection here ([`RelayHandle::serve`]). Cheap to clone.
#[derive(Clone)]
pub struct RelayHandle(Arc<Shared>);

impl fmt::Debug for RelayHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayHandle")
            .field("uri", &self.0.local.as_str())
            .finish()
    }
}

impl RelayHandle {
    /// Serves an incoming connection, given its read and write halves (bytes already read
    /// from it go in front of `r`, e.g. with [`tokio::io::AsyncReadExt::chain`]); `secure`
    /// says it is TLS, terminated by the caller. The connection takes one of the
    /// [`RelayConfig::max_connections`] slots and has the first-request timer (4976-023);
    /// `false` when every slot is taken: the caller closes it (RFC 4976 §6.5).
    pub fn serve<R, W>(&self, r: R, w: W, secure: bool) -> bool
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let label = transport(secure);
        let Ok(permit) = self.0.slots.clone().try_acquire_owned() else {
            self.0
                .metrics
                .connections_shed
                .with_label_values(&[label])
                .inc();
            return false;
        };
        self.0
            .metrics
            .connections_accepted
            .with_label_values(&[label])
            .inc();
        open_conn(&self.0, r, w, Some(permit), secure);
        true
    }

    /// `true` when `uri` is this relay's own URI or one of the Use-Path URIs it has issued
    /// and that is still valid (RFC 4976 §6.4.1: the URIs a frame to this relay starts its
    /// To-Path with).
    pub fn is_local(&self, uri: &MsrpUri) -> bool {
        if uri.session_id().is_none() {
            return *uri == self.0.local || self.0.local_tls.as_ref() == Some(uri);
        }
        let now = Instant::now();
        let core = self.0.core();
        core.use_paths.lookup(uri, now).is_some()
            || core
                .use_paths_tls
                .as_ref()
                .is_some_and(|t| t.lookup(uri, now).is_some())
    }

    /// The relay's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// Shares the relay's host and port with `service`: next hops it claims are not taken for
    /// unknown Use-Path URIs of the relay, and are reached in-process. Set once; `false` if one
    /// was set before.
    pub fn set_colocated(&self, service: Arc<dyn Colocated>) -> bool {
        let claims = service.clone();
        if self.0.colocated.set(service).is_err() {
            return false;
        }
        let elsewhere: crate::use_path::Elsewhere = Arc::new(move |u: &MsrpUri| claims.claims(u));
        let mut core = self.0.core();
        core.use_paths.set_elsewhere(elsewhere.clone());
        if let Some(t) = core.use_paths_tls.as_mut() {
            t.set_elsewhere(elsewhere);
        }
        true
    }

    /// Asks the relay to stop (as [`ShutdownHandle::shutdown`]).
    pub fn shutdown(&self) {
        self.0.shutdown.send_replace(true);
    }
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay")
            .field(
                "local_addr",
                &self.listener.as_ref().and_then(|l| l.local_addr().ok()),
            )
            .field("uri", &self.shared.local.as_str())
            .field(
                "tls_addr",
                &self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok()),
            )
            .finish()
    }
}

/// One connection as the others see it (shared: a clone is one reference count).
type Peer = Arc<PeerInner>;

/// One connection as the others see it: where to write, and how to make it stop.
struct PeerInner {
    queue: WriteQueue,
    /// Held by whoever streams a frame onto the data lane, so frames never interleave.
    data: Arc<tokio::sync::Mutex<()>>,
    /// Signalled whenever the relay queues a frame on the control lane: a reader streaming a
    /// chunk to this connection then ends its piece early (4976-033, [`send_control`]).
    replies: Arc<Notify>,
    /// Readers waiting for [`PeerInner::data`]: the reader streaming a chunk here ends its
    /// piece early to let them in (4976-033, [`Conn::cut_if_due`]).
    waiting: AtomicUsize,
    /// When the relay last queued something for this connection, in milliseconds since
    /// [`Shared::epoch`]: traffic toward it keeps it from being idle (4976-039), as traffic
    /// from it does.
    sent_at: AtomicU64,
}

impl PeerInner {
    /// Notes that something was queued for this connection now.
    fn touch(&self, shared: &Shared) {
        let ms = shared.epoch.elapsed().as_millis() as u64;
        self.sent_at.store(ms, Ordering::Relaxed);
    }
}

/// The sans-IO state, behind one lock (never held across an await).
struct Core {
    auth: Authenticator,
    /// The `msrp` Use-Path URIs, issued on TCP connections.
    use_paths: UsePaths,
    /// The `msrps` Use-Path URIs, issued on TLS connections (with [`RelayConfig::tls`]).
    use_paths_tls: Option<UsePaths>,
    router: Router,
    peers: HashMap<ConnId, Peer>,
    /// Outbound connections by (TLS, `host`, `port`), for reuse (RFC 4976 §6.4.2, 4976-035).
    outbound: HashMap<(bool, String, u16), ConnId>,
}

/// The Use-Path table `uri` belongs to: the TLS one if it names the TLS listener (by port, or
/// by the `msrps` scheme when it has no port), else the TCP one.
fn table_for<'a>(
    tcp: &'a UsePaths,
    tls: Option<&'a UsePaths>,
    uri: Option<&MsrpUri>,
) -> &'a UsePaths {
    match (tls, uri) {
        (Some(t), Some(u)) if t.is_local(u) && (u.is_secure() || !tcp.is_local(u)) => t,
        _ => tcp,
    }
}

/// 4976-025: each of the relay's URIs leading a To-Path (`ours`) is still a valid Use-Path URI
/// for connection `id` at `at` (the time of the read that brought the head), as
/// [`Router::on_request`] checks before it forwards; combining checks it for every chunk.
fn still_valid(table: &UsePaths, ours: &[MsrpUri], id: ConnId, at: Instant) -> bool {
    ours.iter().all(|u| table.route(u, id, at).is_ok())
}

struct Shared {
    cfg: RelayConfig,
    /// `msrp://host:port;tcp`: the relay's own URI, for answers to frames without a usable head.
    local: MsrpUri,
    /// `msrps://host:tls-port;tcp`: the TLS listener's URI.
    local_tls: Option<MsrpUri>,
    /// Opens TLS to `msrps` next hops; `None` without [`TlsConfig::roots_pem`].
    connector: Option<TlsConnector>,
    core: Mutex<Core>,
    next_id: AtomicU64,
    slots: Arc<Semaphore>,
    shutdown: Arc<watch::Sender<bool>>,
    metrics: Arc<Metrics>,
    /// The origin of [`PeerInner::sent_at`].
    epoch: tokio::time::Instant,
    /// The service sharing the relay's address, if any ([`RelayHandle::set_colocated`]).
    colocated: std::sync::OnceLock<Arc<dyn Colocated>>,
}

impl Shared {
    /// The relay's state, naming itself with `port` (and `tls_port` for `msrps`).
    fn new(
        cfg: RelayConfig,
        metrics: Arc<Metrics>,
        port: u16,
        tls_port: Option<u16>,
    ) -> Result<Shared, BindError> {
        let (mut use_paths_tls, mut local_tls, mut connector) = (None, None, None);
        if let (Some(t), Some(tls_port)) = (&cfg.tls, tls_port) {
            connector = tls::connector(t)?;
            let addr = RelayAddr {
                secure: true,
                host: cfg.host.clone(),
                port: tls_port,
            };
            use_paths_tls = Some(UsePaths::with_limits(addr, Limits::default())?);
            local_tls = Some(
                MsrpUri::new(true, &cfg.host, Some(tls_port), None, "tcp")
                    .map_err(|e| BindError::Addr(AddrError::Host(e)))?,
            );
        }
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
        Ok(Shared {
            cfg,
            local,
            local_tls,
            connector,
            core: Mutex::new(Core {
                auth,
                use_paths,
                use_paths_tls,
                router,
                peers: HashMap::new(),
                outbound: HashMap::new(),
            }),
            next_id: AtomicU64::new(1),
            slots,
            shutdown: Arc::new(tx),
            metrics,
            epoch: tokio::time::Instant::now(),
            colocated: std::sync::OnceLock::new(),
        })
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        // A panic while holding the lock leaves plain tables; keep serving.
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decoder_config(&self) -> DecoderConfig {
        DecoderConfig {
            max_head: self.cfg.max_head,
            // The next hop's 200s to forwarded SENDs, one per chunk, are read without parsing
            // their heads (Router::on_brief_success).
            brief_success_responses: true,
            // A session's chunks after the first are forwarded from the reader's `Template`,
            // a short one with its body and end-line at once (`Conn::on_event_now`).
            repeated_sends: true,
            whole_repeats: true,
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
    /// Binds the listener at [`RelayConfig::listen`] (and the TLS one at
    /// [`TlsConfig::listen`], loading its certificate, key and roots) and builds the relay's
    /// state. The port in Use-Path URIs is [`RelayConfig::port`] ([`TlsConfig::port`]), or the
    /// bound port.
    pub async fn bind(cfg: RelayConfig) -> Result<Relay, BindError> {
        Relay::bind_with_metrics(cfg, Arc::new(Metrics::new())).await
    }

    /// [`Relay::bind`], counting into `metrics` (e.g. registered on a registry that a
    /// `/metrics` endpoint serves, [`Metrics::with_registry`]).
    pub async fn bind_with_metrics(
        cfg: RelayConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Relay, BindError> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let mut tls = None;
        let mut tls_port = None;
        if let Some(t) = &cfg.tls {
            let acceptor = tls::acceptor(t)?;
            let l = TcpListener::bind(t.listen).await?;
            tls_port = Some(match t.port {
                Some(p) => p,
                None => l.local_addr()?.port(),
            });
            tls = Some((l, acceptor));
        }
        let port = match cfg.port {
            Some(p) => p,
            None => listener.local_addr()?.port(),
        };
        Ok(Relay {
            listener: Some(listener),
            tls,
            shared: Arc::new(Shared::new(cfg, metrics, port, tls_port)?),
        })
    }

    /// A relay with no listener of its own: it serves the connections handed to it with
    /// [`RelayHandle::serve`] (TLS terminated by the caller), and writes `port` (and, with
    /// [`RelayConfig::tls`], `tls_port`) into its URIs. [`RelayConfig::listen`] and
    /// [`TlsConfig::listen`] are not used; [`Relay::run`] drives the timers only.
    pub fn unbound(
        cfg: RelayConfig,
        metrics: Arc<Metrics>,
        port: u16,
        tls_port: Option<u16>,
    ) -> Result<Relay, BindError> {
        Ok(Relay {
            listener: None,
            tls: None,
            shared: Arc::new(Shared::new(cfg, metrics, port, tls_port)?),
        })
    }

    /// A handle that hands connections to this relay.
    pub fn handle(&self) -> RelayHandle {
        RelayHandle(self.shared.clone())
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(l) => l.local_addr(),
            None => Err(io::Error::other("the relay has no listener of its own")),
        }
    }

    /// The relay's own URI (`msrp://host:port;tcp`), the one clients AUTH to.
    pub fn uri(&self) -> &MsrpUri {
        &self.shared.local
    }

    /// The address the TLS listener is bound to, with [`RelayConfig::tls`].
    pub fn tls_addr(&self) -> Option<io::Result<SocketAddr>> {
        self.tls.as_ref().map(|(l, _)| l.local_addr())
    }

    /// The TLS listener's URI (`msrps://host:port;tcp`), the one clients AUTH to over TLS.
    pub fn tls_uri(&self) -> Option<&MsrpUri> {
        self.shared.local_tls.as_ref()
    }

    /// The relay's metrics ([`Metrics::registry`] to gather them).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
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
        let tls = self.tls;
        loop {
            tokio::select! {
                accepted = accept_tcp(self.listener.as_ref()) => {
                    let Ok((stream, _)) = accepted else { continue };
                    // RFC 4976 §6.5: out of resources, shed the connection (drop closes it).
                    let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
                        shared.metrics.connections_shed.with_label_values(&["tcp"]).inc();
                        continue;
                    };
                    shared.metrics.connections_accepted.with_label_values(&["tcp"]).inc();
                    let _ = stream.set_nodelay(true);
                    let (r, w) = stream.into_split();
                    open_conn(&shared, r, w, Some(permit), false);
                }
                (accepted, acceptor) = accept_tls(tls.as_ref()) => {
                    let Ok((stream, _)) = accepted else { continue };
                    let Ok(permit) = shared.slots.clone().try_acquire_owned() else {
                        shared.metrics.connections_shed.with_label_values(&["tls"]).inc();
                        continue;
                    };
                    tokio::spawn(handshake(shared.clone(), acceptor, stream, permit));
                }
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        timer.abort();
    }
}

/// The next connection on the TCP listener; never, without one.
async fn accept_tcp(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// The next connection on the TLS listener, with its acceptor; never, without one.
async fn accept_tls(
    tls: Option<&(TcpListener, TlsAcceptor)>,
) -> (io::Result<(TcpStream, SocketAddr)>, TlsAcceptor) {
    match tls {
        Some((l, acceptor)) => (l.accept().await, acceptor.clone()),
        None => std::future::pending().await,
    }
}

/// The TLS handshake of an incoming `msrps` connection, within
/// [`TlsConfig::handshake_timeout`]; then the connection is served like a TCP one, marked
/// secure. A client that does not finish in time is closed and its slot released.
async fn handshake(
    shared: Arc<Shared>,
    acceptor: TlsAcceptor,
    stream: TcpStream,
    permit: OwnedSemaphorePermit,
) {
    let limit = shared
        .cfg
        .tls
        .as_ref()
        .map_or(Duration::from_secs(10), |t: &TlsConfig| t.handshake_timeout);
    let _ = stream.set_nodelay(true);
    let mut stop = shared.shutdown.subscribe();
    let done = tokio::select! {
        done = tokio::time::timeout(limit, acceptor.accept(stream)) => done,
        _ = stop.wait_for(|s| *s) => return,
    };
    if let Ok(Ok(tls)) = done {
        shared
            .metrics
            .connections_accepted
            .with_label_values(&["tls"])
            .inc();
        let (r, w) = tokio::io::split(tls);
        open_conn(&shared, r, w, Some(permit), true);
    }
}

/// Registers a connection, given its read and write halves, and spawns its reader task.
/// `permit` is the incoming connection's slot (`None` for outbound connections, which are not
/// counted and have no first-request timer); `secure` says it is TLS.
fn open_conn<R, W>(
    shared: &Arc<Shared>,
    r: R,
    w: W,
    permit: Option<OwnedSemaphorePermit>,
    secure: bool,
) -> (ConnId, Peer)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let id = ConnId(shared.next_id.fetch_add(1, Ordering::Relaxed));
    let (queue, writer) = msrp::transport::spawn_writer(w, shared.writer_config());
    let peer = Arc::new(PeerInner {
        queue,
        data: Arc::new(tokio::sync::Mutex::new(())),
        replies: Arc::new(Notify::new()),
        sent_at: AtomicU64::new(0),
        waiting: AtomicUsize::new(0),
    });
    shared
        .metrics
        .connections_open
        .with_label_values(&[transport(secure)])
        .inc();
    shared.core().peers.insert(id, peer.clone());
    let reader = EventReader::new(r, MsrpCodec::new(shared.decoder_config()));
    let conn = Conn {
        shared: shared.clone(),
        id,
        peer: peer.clone(),
        secure,
        established: permit.is_none(),
        last_from: None,
        current: Current::Idle,
        owed: Vec::new(),
        read_at: Instant::now(),
        batch: DataBatch::default(),
        last_hop: None,
        template: None,
        join_answers: None,
        control: ControlBatch::default(),
        unread: 0,
        pending: None,
    };
    let span = tracing::debug_span!("relay_conn", id = id.0, transport = transport(secure));
    tokio::spawn(tracing::Instrument::instrument(
        conn.run(reader, writer, permit),
        span,
    ));
    (id, peer)
}

/// The connection to the next hop `uri` names: an open one to the same `host:port` (and the
/// same scheme) is reused (RFC 4976 §6.4.2, 4976-035), otherwise one is opened (within
/// [`RelayConfig::connect_timeout`]) and read like any other. For `msrps` it is TLS, handshake
/// within [`TlsConfig::handshake_timeout`], the certificate verified against
/// [`TlsConfig::roots_pem`] for the URI host (also the SNI), presenting the relay's own
/// certificate (mutual TLS between relays, 4976-042); without roots it is refused.
async fn outbound(shared: &Arc<Shared>, uri: &MsrpUri) -> io::Result<(ConnId, Peer)> {
    let secure = uri.is_secure();
    let host = uri.host().to_string().to_ascii_lowercase();
    let port = uri
        .port()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "next hop without a port"))?;
    let key = (secure, host, port);
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
    // Not connected yet. A co-located next hop is reached in-process, `msrps` or not: no TLS
    // to set up.
    if let Some(c) = shared.colocated.get().filter(|c| c.claims(uri)) {
        // The next hop lives in this process: a pipe, not a socket.
        let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
        c.accept(theirs);
        let (r, w) = tokio::io::split(ours);
        let (id, peer) = open_conn(shared, r, w, None, secure);
        shared.core().outbound.insert(key, id);
        return Ok((id, peer));
    }
    let connector = match (&shared.connector, secure) {
        (_, false) => None,
        (Some(c), true) => Some(c.clone()),
        (None, true) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "msrps next hop: no TLS roots configured",
            ));
        }
    };
    let host = key.1.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::time::timeout(shared.cfg.connect_timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect to next hop"))??;
    let _ = stream.set_nodelay(true);
    let (id, peer) = match (connector, &shared.cfg.tls) {
        (Some(connector), Some(t)) => {
            let name = tls::server_name(uri)?;
            let tls = tokio::time::timeout(t.handshake_timeout, connector.connect(name, stream))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake"))??;
            let (r, w) = tokio::io::split(tls);
            open_conn(shared, r, w, None, true)
        }
        _ => {
            let (r, w) = stream.into_split();
            open_conn(shared, r, w, None, false)
        }
    };
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
            if let Some(t) = core.use_paths_tls.as_mut() {
                t.expire(now);
            }
            core.router.poll_timeouts(now)
        };
        if !actions.is_empty() {
            tokio::spawn(deliver(shared.clone(), actions, false));
        }
    }
}

/// Carries out router actions that carry no body ([`Action::Respond`], [`Action::Send`]) and
/// counts them; [`Action::Forward`] only comes from [`Router::on_request`], which the reader
/// handles itself, and an [`Action::Discard`] is only counted. Each frame goes on its
/// connection's control lane, waiting for room; a connection that is gone does not get it.
/// `routed`: the actions answer a response ([`Router::on_response`]), so a [`Action::Respond`]
/// is a response routed back (a forwarded frame), not one of the relay's own.
async fn deliver(shared: Arc<Shared>, actions: Vec<Action>, routed: bool) {
    for action in actions {
        let (peer, head) = match action {
            Action::Answer { to, status, frame } => {
                let peer = shared.core().peers.get(&to).cloned();
                let Some(peer) = peer else { continue };
                let item = Outgoing::from(frame).with_frame_open(false);
                if send_control(&shared, &peer, item).await.is_ok() {
                    shared.metrics.response_sent(status.as_u16());
                }
                continue;
            }
            Action::Respond { to, head } => (shared.core().peers.get(&to).cloned(), head),
            Action::Send { to, head } => (resolve(&shared, &to).await.ok().map(|p| p.1), head),
            Action::Discard { reason } => {
                shared.metrics.discarded(&reason);
                continue;
            }
            Action::Forward { .. } => continue,
        };
        let Some(peer) = peer else { continue };
        let item = Outgoing::chunk(&head, None, Flag::Last);
        if send_control(&shared, &peer, item).await.is_err() {
            continue;
        }
        let m = &shared.metrics;
        match (head.status(), head.report_status()) {
            (Some(_), _) if routed => m.forwarded("response", 0),
            (Some(s), _) => m.response_sent(s.as_u16()),
            (None, Some(st)) => m.report_sent(st.code.as_u16()),
            (None, None) => {}
        }
    }
}

/// Queues `item` on `peer`'s control lane, waiting for room (counted as a queue-full event when
/// it has to), and signals [`Peer::replies`] so that a chunk being streamed to `peer` ends its
/// piece and lets the item out (4976-033).
async fn send_control(shared: &Shared, peer: &Peer, item: Outgoing) -> Result<(), Closed> {
    peer.touch(shared);
    let queued = match peer.queue.try_send_control(item) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(item)) => {
            shared.metrics.lane_full("control");
            peer.replies.notify_one();
            peer.queue.send_control(item).await
        }
        Err(TrySendError::Closed(item)) => Err(Closed(item)),
    };
    peer.replies.notify_one();
    queued
}

/// Queues `item` on `peer`'s data lane, waiting for room (backpressure on the caller's source;
/// counted as a queue-full event when it has to wait).
async fn send_data(shared: &Shared, peer: &Peer, item: Outgoing) -> Result<(), Closed> {
    peer.touch(shared);
    match peer.queue.try_send(item) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(item)) => {
            shared.metrics.lane_full("data");
            peer.queue.send(item).await
        }
        Err(TrySendError::Closed(item)) => Err(Closed(item)),
    }
}

/// Adds the header block of the next piece of a re-chunked SEND (4976-033) to `batch`: the
/// forwarded head with the piece's transaction id and Byte-Range `start-*/total`.
fn open_piece(batch: &mut DataBatch, s: &mut Streaming) {
    let mut h = s.head.head().into_owned();
    h.tid = s.tid;
    h.set_byte_range(ByteRange {
        start: s.start,
        end: None,
        total: s.total,
    });
    batch.head(&h, true);
    s.open = true;
}

/// Octets a [`DataBatch`] or [`ControlBatch`] collects before it is queued even though the
/// reader still has input buffered.
const BATCH_BYTES: usize = 32 * 1024;

/// Body pieces shorter than this are copied into a batch's buffer; longer ones are queued as
/// their own `Bytes`, not copied (as the writer does with [`WriterConfig::coalesce_below`]).
const COPY_BELOW: usize = 2048;

/// How long a reader keeps its batch blocks ([`crate::block`]) without input.
const BLOCK_IDLE: Duration = Duration::from_secs(1);

/// The header blocks, body pieces and end-lines one reader forwards onto one target's data
/// lane, collected while the reader has input buffered and queued as one item when it is
/// about to wait for more ([`Conn::flush_data`]), when it forwards to another target, or once
/// [`BATCH_BYTES`] are collected. Many small frames then cost one queue operation and one
/// write, not three each. The batch is queued whole under the target's data-lane lock, which
/// is kept while a frame (a chunk, or a piece of a re-chunked one) is open on the target (its
/// rest comes in later batches), so frames of different sources never interleave.
///
/// What depends on a frame being queued waits for the batch: the response timer of a forwarded
/// chunk ([`Router::chunk_sent`], 4976-030), the forwarded-frame metrics, and, when the target
/// turns out to be gone, the discard.
#[derive(Default)]
struct DataBatch {
    /// The target.
    to: Option<(ConnId, Peer)>,
    /// The target's data-lane lock, held while a frame queued on it is open.
    guard: Option<OwnedMutexGuard<()>>,
    /// Segments collected (long body pieces, and the buffer's earlier contents before them).
    item: Outgoing,
    /// Short segments being coalesced; they follow `item`.
    buf: BytesMut,
    /// Octets in `item` and `buf`.
    len: usize,
    /// The frame-open mark of the last header block or end-line collected
    /// ([`Outgoing::with_frame_open`]).
    mark: Option<bool>,
    /// This reader is streaming an incoming chunk to the target, in one piece or several
    /// (from [`Conn::forward`] to [`Conn::end_stream`]): the lock is kept while a piece is
    /// open, so nothing lands inside one; between pieces it may be let go.
    streaming: bool,
    /// When each request whose header block is collected was read (forward latency).
    heads: Vec<Instant>,
    /// Body octets collected.
    octets: u64,
    /// Outgoing transactions whose end-line is collected, with their body octets.
    sent: Vec<(Ident, u64)>,
}

impl DataBatch {
    /// Makes room in `buf` for `n` more octets: a full block goes into `item` as a segment
    /// ([`room_in_blocks`]), and the next one holds half a batch.
    fn room(&mut self, n: usize) {
        if let Some(cut) = room_in_blocks(&mut self.buf, n, BATCH_BYTES / 2) {
            self.item.push(cut);
        }
    }

    /// Adds the header block of `head` (RFC 4975 §7.1); a frame is open after it.
    fn head(&mut self, head: &Head, body: bool) {
        self.room(head.encoded_len_hint() + 2);
        let before = self.buf.len();
        msrp::encode::head(head, body, &mut self.buf);
        self.len += self.buf.len() - before;
        self.mark = Some(true);
    }

    /// Adds a body piece: copied when short, else kept as it is.
    fn body(&mut self, piece: bytes::Bytes) {
        let n = piece.len();
        if n < COPY_BELOW {
            self.room(n);
            self.buf.extend_from_slice(&piece);
        } else {
            if !self.buf.is_empty() {
                self.item.push(self.buf.split().freeze());
            }
            self.item.push(piece);
        }
        self.len += n;
        self.octets += n as u64;
    }

    /// Adds an end-line (RFC 4975 §7.1, 4975-010); the frame is closed after it.
    fn end(&mut self, tid: &str, flag: Flag, body: bool) {
        self.room(tid.len() + 12);
        let before = self.buf.len();
        msrp::encode::end(tid, flag, body, &mut self.buf);
        self.len += self.buf.len() - before;
        self.mark = Some(false);
    }

    /// Nothing is collected, but the buffer keeps a block ([`crate::block`]).
    fn idle_block(&self) -> bool {
        self.len == 0 && self.buf.capacity() != 0
    }

    /// Takes what is collected as one item (`None` when nothing is).
    fn take(&mut self) -> Option<Outgoing> {
        if self.len == 0 {
            return None;
        }
        let mut item = std::mem::take(&mut self.item);
        if !self.buf.is_empty() {
            item.push(self.buf.split().freeze());
        }
        self.len = 0;
        Some(match self.mark.take() {
            Some(open) => item.with_frame_open(open),
            None => item,
        })
    }
}

/// The responses this reader owes its own connection (hop-by-hop 200s to SENDs, 4976-028),
/// collected like a [`DataBatch`] and queued on the connection's control lane as one item.
#[derive(Default)]
struct ControlBatch {
    /// Full blocks collected ([`room_in_blocks`]); `buf` follows them.
    item: Outgoing,
    /// Octets in `item`.
    held: usize,
    buf: BytesMut,
    /// The status of each response collected (metrics, once queued).
    statuses: Vec<u16>,
}

impl ControlBatch {
    /// Nothing is collected, but the buffer keeps a block ([`crate::block`]).
    fn idle_block(&self) -> bool {
        self.len() == 0 && self.buf.capacity() != 0
    }

    /// Octets collected.
    fn len(&self) -> usize {
        self.held + self.buf.len()
    }

    /// Makes room in `buf` for `n` more octets, a full block going into `item`.
    fn room(&mut self, n: usize) {
        if let Some(cut) = room_in_blocks(&mut self.buf, n, BLOCK) {
            self.held += cut.len();
            self.item.push(cut);
        }
    }

    /// Adds a whole response frame.
    fn frame(&mut self, frame: &[u8], status: StatusCode) {
        self.room(frame.len());
        self.buf.extend_from_slice(frame);
        self.statuses.push(status.as_u16());
    }

    /// Takes what is collected as one item (`None` when nothing is).
    fn take(&mut self) -> Option<Outgoing> {
        if self.len() == 0 {
            return None;
        }
        let mut item = std::mem::take(&mut self.item);
        if !self.buf.is_empty() {
            item.push(self.buf.split().freeze());
        }
        self.held = 0;
        Some(item.with_frame_open(false))
    }
}

/// Sets the Byte-Range of `head`: in place, or (absent) before the MIME headers, which end a
/// header block (RFC 4975 §9, `content-stuff`).
fn set_range(head: &mut Head, r: ByteRange) {
    if head.byte_range().is_some() {
        head.set_byte_range(r);
        return;
    }
    let at = head
        .headers
        .iter()
        .position(|h| {
            matches!(
                h,
                Header::ContentType(_)
                    | Header::ContentId(_)
                    | Header::ContentDescription(_)
                    | Header::ContentDisposition(_)
            )
        })
        .unwrap_or(head.headers.len());
    head.headers.insert(at, Header::ByteRange(r));
}

/// The `transport` label of a connection.
fn transport(secure: bool) -> &'static str {
    if secure { "tls" } else { "tcp" }
}

/// The `method` label of a forwarded request (extension methods as `other`, so that peers cannot
/// grow the label set).
fn method_label(head: &Head) -> &'static str {
    match head.method() {
        Some(Method::Send) => "SEND",
        Some(Method::Report) => "REPORT",
        Some(Method::Auth) => "AUTH",
        Some(Method::Nickname) => "NICKNAME",
        Some(Method::Other(_)) => "other",
        None => "response",
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

/// Fewest body octets a forwarded piece carries before it is cut for waiting replies
/// ([`RelayConfig::rechunk_for_replies`]): RFC 4975 §7.1.1 asks to interrupt only chunks larger
/// than 2048 octets (4975-028) and not to send smaller ones except a message's last (4975-030).
const MIN_PIECE: u64 = 2048;

/// How a SEND chunk is streamed on ([`Conn::plan`], 4976-033).
struct Plan {
    /// Its length as its Byte-Range declares it (range-end known).
    declared: Option<u64>,
    /// It may be split ([`Streaming::cuttable`]).
    cuttable: bool,
    /// It may be combined with the next ([`Streaming::joinable`]).
    joinable: bool,
}

/// Octets of an end-line besides its transaction id: `\r\n-------`, the flag, `\r\n`.
const END_LINE: u64 = 12;

/// The head a [`Streaming`] chunk was forwarded with.
enum Forwarded {
    /// Rewritten by [`Router::on_request`].
    Head(Head),
    /// Written from the reader's [`Template`] (`Conn::forward_repeat`): the chunk repeats it
    /// with its own values, and its forwarded head, rarely needed (a chunk forwarded so is
    /// neither cut nor combined), is built on demand.
    Repeat(RepeatedSend),
}

impl Forwarded {
    /// The forwarded head (its transaction id is the incoming one for a repeat: every use
    /// sets its own).
    fn head(&self) -> Cow<'_, Head> {
        match self {
            Forwarded::Head(h) => Cow::Borrowed(h),
            Forwarded::Repeat(r) => {
                let mut h = r.head();
                // The template was forwarded with one URI of ours (`Template::new`).
                h.shift_paths(1);
                Cow::Owned(h)
            }
        }
    }
}

/// A SEND chunk being streamed onto `peer`'s data lane (through the reader's [`DataBatch`],
/// which holds the lane's lock while the chunk is open there), as one piece or several (see "Re-chunking" in the module documentation).
struct Streaming {
    /// The target connection.
    to: ConnId,
    peer: Peer,
    /// The forwarded head: the template of every piece's head.
    head: Forwarded,
    /// The transaction id of the current piece (the forwarded head's for the first one).
    tid: Ident,
    /// The incoming chunk has a body section.
    body: bool,
    /// The current piece's header block is queued and its end-line is not: a frame is open on
    /// the target.
    open: bool,
    /// Range-start of the current piece.
    start: u64,
    /// Range-total of the incoming chunk, copied into every piece.
    total: Option<u64>,
    /// Body octets queued in the current piece.
    octets: u64,
    /// Body octets of the incoming chunk queued so far, all pieces.
    forwarded: u64,
    /// The incoming chunk's length as its Byte-Range declares it (range-end known).
    declared: Option<u64>,
    /// The chunk may be split: re-chunking is on and the chunk is not known to be short, or it
    /// may be combined with the next one ([`Streaming::joinable`]).
    cuttable: bool,
    /// The next chunk of the message may be carried on in this one (see "Combining" in the
    /// module documentation): [`RelayConfig::join_chunks`] and
    /// [`RelayConfig::rechunk_for_replies`], it is shorter than [`RelayConfig::rechunk_size`],
    /// its Byte-Range says more follows, and more than its body and end-line was read already.
    /// Its head went out with range-end `*`.
    joinable: bool,
    /// The head the incoming chunk repeated ([`Event::RepeatedSend`]), when the chunk is
    /// joinable and the next chunks may come as repeats of it that continue it
    /// ([`forward::repeats_continue`]): [`Conn::join_repeat`] checks those without building
    /// their heads.
    repeats: Option<Arc<Head>>,
    /// The incoming chunk ended with `+` and the current piece is still open: the next frame
    /// already read decides whether it carries the piece on ([`Conn::join`]) or the piece ends
    /// with `+` ([`Conn::end_held`]). Never held while the reader waits for input.
    held: bool,
}

impl Streaming {
    /// The declared length says more body octets follow (`false` when unknown).
    fn more_declared(&self) -> bool {
        self.declared.is_some_and(|d| self.forwarded < d)
    }

    /// The declared length says the body is complete (`false` when unknown).
    fn all_declared(&self) -> bool {
        self.declared.is_some_and(|d| self.forwarded >= d)
    }
}

/// What the reader does with the events of the frame being read.
enum Current {
    /// Between frames.
    Idle,
    /// The rest of this frame is dropped (answered locally, discarded, or its target is gone).
    Discard,
    /// A SEND being streamed onto its target's data lane. Held inline, not boxed: one
    /// allocation and free per forwarded chunk cost more than moving it when the chunk ends.
    Stream(Streaming),
    /// A small frame collected whole, queued on `peer`'s control lane at its end.
    Collect {
        peer: Peer,
        head: Head,
        body: Option<BytesMut>,
        /// When its head was read (forward latency).
        since: Instant,
    },
}

/// The reader side of one connection.
struct Conn {
    shared: Arc<Shared>,
    id: ConnId,
    peer: Peer,
    /// It is TLS: AUTH is answered on it and issues `msrps` URIs.
    secure: bool,
    /// A request succeeded on it (or it is outbound): the first-request timer is off.
    established: bool,
    /// The first From-Path URI of the last request read, to address answers to frames whose
    /// head could not be decoded.
    last_from: Option<MsrpUri>,
    current: Current,
    /// Answers to the request being read, sent once its end-line is read (the hop-by-hop 200
    /// of a SEND acknowledges the whole chunk, RFC 4976 §6.4.1).
    owed: Vec<Action>,
    /// When the last read from the connection returned: the time the heads decoded from what
    /// it read were read (forward latency).
    read_at: Instant,
    /// What this reader forwards on its current target's data lane, not queued yet.
    batch: DataBatch,
    /// The connection this reader last forwarded to ([`Conn::resolve`]).
    last_hop: Option<(ConnId, Peer)>,
    /// The block this reader last forwarded for a SEND to a client, with holes for the values
    /// that change from chunk to chunk ([`Conn::forward_repeat`]).
    template: Option<Template>,
    /// What [`Conn::join_repeat`] keeps for the chunks that repeat a head: the 200 owed to
    /// each, but for its values ([`Router::answer_repeat`]).
    join_answers: Option<(Arc<Head>, RepeatState)>,
    /// What this reader answers on its own connection, not queued yet.
    control: ControlBatch,
    /// Octets read and not decoded yet when the event being handled was decoded: after a
    /// head, its body, its end-line and whatever follows.
    unread: usize,
    /// The body and end-line read with the last repeated SEND
    /// ([`msrp::DecoderConfig::whole_repeats`]) and not handled yet: the next events
    /// ([`Conn::next_pending`]), before anything more is decoded.
    pending: Option<Tail>,
}

/// Why the reader stops.
enum Stop {
    /// Close the connection.
    Close,
}

/// What woke the reader.
enum Wake {
    /// The next decoded item (`None`: EOF).
    Read(Option<Result<Result<Event, DecodeError>, msrp::transport::CodecError>>),
    /// The target of the chunk being streamed has replies waiting.
    Replies,
    /// The idle or first-request deadline passed.
    Deadline,
    /// Stop: relay shutdown.
    Stop,
}

impl Conn {
    async fn run<R: AsyncRead + Unpin>(
        mut self,
        mut reader: EventReader<R>,
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
        // Events handled from the read buffer since `last_read` was taken.
        let mut buffered = false;
        tracing::debug!(inbound = permit.is_some(), "open");
        // The futures that wake the reader for something else than input live across the
        // loop: set up once, not per wait (each set-up registered a waiter on the shutdown
        // channel's `Notify` or a timer in the wheel, and its drop took it out again). The
        // timer is armed at a deadline no later than the real one and moved on only when it
        // fires early (the real deadline moves on with every read).
        let stopped = stop.wait_for(|s| *s);
        let timer = tokio::time::sleep_until(started + first.min(idle));
        tokio::pin!(stopped, timer);
        loop {
            // Events already buffered are handled first, without waiting: what the `biased`
            // select below does anyway, without polling its futures per event. The rest of a
            // repeated SEND read whole comes before them.
            let next = match self.next_pending() {
                Some(ev) => Some(Ok(Ok(ev))),
                None => reader.next_buffered(),
            };
            if let Some(item) = next {
                buffered = true;
                let step = match item {
                    Err(_) => break,
                    Ok(Err(e)) => self.on_decode_error(e).await,
                    Ok(Ok(ev)) => {
                        self.take_tail(&mut reader, &ev);
                        match self.on_event_now(ev) {
                            None => Ok(()),
                            Some(ev) => self.on_event(ev).await,
                        }
                    }
                };
                if let Err(Stop::Close) = step {
                    break;
                }
                continue;
            }
            // About to wait for input: a held chunk ends, and what was collected goes out now.
            self.end_held().await;
            self.flush_data().await;
            self.flush_control().await;
            if buffered {
                // The idle timer runs from the last event handled.
                last_read = tokio::time::Instant::now();
                buffered = false;
            }
            let deadline = if self.established {
                last_read + idle
            } else {
                // RFC 4976 §6.1 (4976-023): no successful request yet.
                (started + first).min(last_read + idle)
            };
            // 4976-033: while a piece is open on a target, the replies queued for that target
            // wake the reader, which then ends the piece early (`cut_if_due`).
            let replies = match &self.current {
                Current::Stream(s)
                    if s.open
                        && s.cuttable
                        && s.octets >= MIN_PIECE
                        && self.shared.cfg.rechunk_for_replies =>
                {
                    Some(s.peer.replies.clone())
                }
                _ => None,
            };
            // A batch block kept through a pause is let go after BLOCK_IDLE without input: an
            // idle connection keeps none, a busy one does not allocate one per read.
            let holds = self.batch.idle_block() || self.control.idle_block();
            let wake_at = if holds {
                deadline.min(last_read + BLOCK_IDLE)
            } else {
                deadline
            };
            if timer.is_elapsed() || wake_at < timer.deadline() {
                timer.as_mut().reset(wake_at);
            }
            let wake = tokio::select! {
                // Reading first: a piece is cut for replies only while the source is silent.
                biased;
                item = reader.next() => Wake::Read(item),
                _ = async {
                    match &replies {
                        Some(n) => n.notified().await,
                        None => std::future::pending().await,
                    }
                } => Wake::Replies,
                _ = &mut timer => Wake::Deadline,
                _ = &mut stopped => Wake::Stop,
            };
            let item = match wake {
                Wake::Read(item) => item,
                Wake::Replies => {
                    self.cut_if_due(true).await;
                    continue;
                }
                Wake::Deadline if tokio::time::Instant::now() < deadline => {
                    // The timer was armed for an earlier deadline (it is moved on above), or
                    // to let the batch blocks go.
                    if tokio::time::Instant::now() >= last_read + BLOCK_IDLE {
                        if self.batch.idle_block() {
                            self.batch.buf = BytesMut::new();
                        }
                        if self.control.idle_block() {
                            self.control.buf = BytesMut::new();
                        }
                    }
                    continue;
                }
                Wake::Deadline => {
                    // RFC 4976 §6.5 (4976-039): idle means nothing either way. A connection
                    // that only receives (a recipient asking no responses, Failure-Report: no)
                    // is not idle; the first-request timer (4976-023) counts only requests.
                    let sent = self.shared.epoch
                        + Duration::from_millis(self.peer.sent_at.load(Ordering::Relaxed));
                    if self.established && sent > last_read {
                        last_read = sent;
                        continue;
                    }
                    tracing::debug!(
                        established = self.established,
                        "closing: idle or no first request in time (RFC 4976 §6.1, §6.5)"
                    );
                    break;
                }
                Wake::Stop => break,
            };
            last_read = tokio::time::Instant::now();
            self.read_at = last_read.into_std();
            let step = match item {
                // EOF between frames, or an I/O error, a fatal decode error or EOF inside a
                // frame: the connection is done.
                None | Some(Err(_)) => break,
                Some(Ok(Err(e))) => self.on_decode_error(e).await,
                Some(Ok(Ok(ev))) => {
                    self.take_tail(&mut reader, &ev);
                    self.on_event(ev).await
                }
            };
            if let Err(Stop::Close) = step {
                break;
            }
        }
        self.abort_current().await;
        self.flush_data().await;
        self.flush_control().await;
        self.close();
        self.peer.queue.close();
        tracing::debug!("closed");
        self.shared
            .metrics
            .connections_open
            .with_label_values(&[transport(self.secure)])
            .dec();
        let abort = writer.abort_handle();
        if tokio::time::timeout(LINGER, writer).await.is_err() {
            abort.abort();
        }
        drop(permit);
    }

    /// Ends a frame being forwarded whose source stopped inside it: `#` (RFC 4975 §7.1). A
    /// re-chunked frame whose last piece was already ended gets an empty `#` piece.
    async fn abort_current(&mut self) {
        // The hop-by-hop answer acknowledges a whole chunk: none for one cut off.
        self.owed.clear();
        if let Current::Stream(s) = std::mem::replace(&mut self.current, Current::Idle) {
            // A held chunk was read whole: it ends as it came, with `+`.
            let flag = if s.held { Flag::More } else { Flag::Abort };
            self.end_stream(s, flag).await;
        }
    }

    /// Forgets the connection everywhere (RFC 4976 §6.3, 4976-019).
    fn close(&mut self) {
        let actions = {
            let mut core = self.shared.core();
            core.peers.remove(&self.id);
            core.outbound.retain(|_, c| *c != self.id);
            core.use_paths.close(self.id);
            if let Some(t) = core.use_paths_tls.as_mut() {
                t.close(self.id);
            }
            core.auth.connection_closed(self.id);
            core.router.connection_closed(self.id)
        };
        if !actions.is_empty() {
            tokio::spawn(deliver(self.shared.clone(), actions, false));
        }
    }

    /// Before `ev` is handled: the body and end-line of a repeated SEND read with it become
    /// [`Conn::pending`] ([`EventReader::take_tail`]), and [`Conn::unread`] counts them with
    /// the read buffer, as if they were still to be decoded (what [`Conn::plan`] asks: is
    /// the next frame arriving already?).
    fn take_tail<R: AsyncRead + Unpin>(&mut self, reader: &mut EventReader<R>, ev: &Event) {
        if matches!(ev, Event::RepeatedSend(_)) {
            // A tail is pending only while its SEND is handled: `run` hands it on first.
            debug_assert!(self.pending.is_none(), "a tail is still pending");
            self.pending = reader.take_tail();
        }
        self.unread = reader.read_buffer().len() + self.pending.as_ref().map_or(0, Tail::octets);
    }

    /// The next event of the tail of the last repeated SEND ([`Conn::pending`]): its body
    /// (unless empty), then its end-line; `None` when none is pending.
    fn next_pending(&mut self) -> Option<Event> {
        let (ev, last) = self.pending.as_mut()?.next_event();
        if last {
            self.pending = None;
        }
        Some(ev)
    }

    /// What [`Conn::on_event`] does with a repeated SEND ([`Conn::forward_repeat_now`]), and
    /// with the body piece or the end-line of a chunk streamed in one piece (neither cut nor
    /// combined), when none of it waits for anything: the piece or end-line goes into the
    /// [`DataBatch`] and the 200 owed into the [`ControlBatch`], neither of them full. Most
    /// events of a session's small chunks are these, and a repeated SEND read whole is all
    /// three; handled here, they skip `on_event`'s future. `Some(ev)`, and nothing done, for
    /// anything else; what is left of a tail is [`Conn::pending`].
    fn on_event_now(&mut self, ev: Event) -> Option<Event> {
        match ev {
            // A next hop's 200 for a SEND forwarded there, when nothing is held or due to be
            // flushed first: what `on_event` does, without entering its future.
            Event::BriefSuccess(r)
                if !matches!(&self.current, Current::Stream(s) if s.held)
                    && (self.batch.guard.is_none() || self.batch.streaming) =>
            {
                self.current = Current::Idle;
                self.owed.clear();
                if self.shared.core().router.on_brief_success(&r, self.id) {
                    return None;
                }
                // The slow path (`on_brief_success` changed nothing): `on_event`'s.
                Some(Event::BriefSuccess(r))
            }
            Event::RepeatedSend(r) => {
                // Combining: a held chunk is only ever followed by an event already read.
                if matches!(&self.current, Current::Stream(s) if s.held) {
                    return (!self.join_repeat(&r)).then_some(Event::RepeatedSend(r));
                }
                if let Some(r) = self.forward_repeat_now(r) {
                    return Some(Event::RepeatedSend(r));
                }
                // Its body and end-line, if read with it, go on at once.
                if let Some(t) = self.pending.take() {
                    self.tail_now(t);
                }
                None
            }
            Event::Body(piece) => self.body_now(piece).map(Event::Body),
            Event::End(flag) => (!self.end_now(flag)).then_some(Event::End(flag)),
            ev => Some(ev),
        }
    }

    /// The tail of a repeated SEND just forwarded by [`Conn::on_event_now`]: its body and
    /// end-line as [`Conn::body_now`] and [`Conn::end_now`] take them; what they leave is
    /// [`Conn::pending`].
    fn tail_now(&mut self, mut t: Tail) {
        if !t.body.is_empty() {
            if let Some(body) = self.body_now(std::mem::take(&mut t.body)) {
                t.body = body;
                self.pending = Some(t);
                return;
            }
        }
        if !self.end_now(t.flag) {
            self.pending = Some(t);
        }
    }

    /// A body piece of the chunk streamed in one piece, into the [`DataBatch`] when it has
    /// room; the piece back when it is not handled here.
    fn body_now(&mut self, piece: bytes::Bytes) -> Option<bytes::Bytes> {
        let Current::Stream(s) = &mut self.current else {
            return Some(piece);
        };
        if s.cuttable || !s.open || self.batch.len + piece.len() >= BATCH_BYTES {
            return Some(piece);
        }
        let n = piece.len() as u64;
        self.batch.body(piece);
        s.octets += n;
        s.forwarded += n;
        None
    }

    /// The end-line of the chunk streamed in one piece, into the [`DataBatch`], and the 200
    /// owed into the [`ControlBatch`], when both have room; `false` when it is not handled
    /// here.
    fn end_now(&mut self, flag: Flag) -> bool {
        let Current::Stream(s) = &mut self.current else {
            return false;
        };
        if s.cuttable || !s.open {
            return false;
        }
        // What `end_stream` and `pay_owed` add, if they go in without a flush.
        let answers: Option<usize> = self
            .owed
            .iter()
            .map(|a| match a {
                Action::Answer { to, frame, .. } if *to == self.id => Some(frame.len()),
                _ => None,
            })
            .sum();
        let fits = answers.is_some_and(|n| self.control.len() + n < BATCH_BYTES)
            && self.batch.len + s.tid.len() + (END_LINE as usize) < BATCH_BYTES;
        if !fits {
            return false;
        }
        self.batch.end(&s.tid, flag, s.body);
        self.batch.sent.push((s.tid, s.octets));
        self.batch.streaming = false;
        self.current = Current::Idle;
        for a in self.owed.drain(..) {
            if let Action::Answer { status, frame, .. } = a {
                self.control.frame(&frame, status);
            }
        }
        true
    }

    async fn on_event(&mut self, ev: Event) -> Result<(), Stop> {
        match ev {
            Event::Head { head, body } => self.on_head(head, body).await,
            Event::RepeatedSend(r) => self.on_repeat(r).await,
            Event::BriefSuccess(r) => {
                self.end_held().await;
                self.release().await;
                self.current = Current::Idle;
                self.owed.clear();
                if self.shared.core().router.on_brief_success(&r, self.id) {
                    return Ok(());
                }
                // The slow path: the head parsed, as without the brief reading.
                let actions = match r.head() {
                    Ok(head) => self.shared.core().router.on_response(head, self.id),
                    Err(e) => return self.on_decode_error(e).await,
                };
                if !actions.is_empty() {
                    deliver(self.shared.clone(), actions, true).await;
                }
                Ok(())
            }
            Event::Body(piece) => {
                if let Current::Collect { body: Some(b), .. } = &mut self.current {
                    b.extend_from_slice(&piece);
                } else if matches!(self.current, Current::Stream(_)) {
                    self.stream_body(piece).await;
                }
                Ok(())
            }
            Event::End(flag) => {
                match std::mem::replace(&mut self.current, Current::Idle) {
                    Current::Stream(mut s) if flag == Flag::More && s.joinable => {
                        // The next chunk may carry this one on: held open until the next
                        // frame is read or the reader is about to wait.
                        s.held = true;
                        self.current = Current::Stream(s);
                    }
                    Current::Stream(s) => self.end_stream(s, flag).await,
                    Current::Collect {
                        peer,
                        head,
                        body,
                        since,
                    } => {
                        let octets = body.as_ref().map_or(0, |b| b.len() as u64);
                        let item = Outgoing::chunk(&head, body.map(BytesMut::freeze), flag);
                        if send_control(&self.shared, &peer, item).await.is_ok() {
                            let m = &self.shared.metrics;
                            m.forward_latency.observe(since.elapsed().as_secs_f64());
                            m.forwarded(method_label(&head), octets);
                            // RFC 4976 §6.4.1 (4976-030): the response timer runs from the
                            // last octet (here: queued for the next hop).
                            self.shared
                                .core()
                                .router
                                .chunk_sent(&head.tid, octets, Instant::now());
                        } else {
                            self.shared
                                .metrics
                                .discards
                                .with_label_values(&["next_hop_unreachable"])
                                .inc();
                        }
                    }
                    Current::Idle | Current::Discard => {}
                }
                if !self.owed.is_empty() {
                    self.pay_owed().await;
                }
                Ok(())
            }
        }
    }

    /// Forwards a body piece of the SEND being streamed, splitting it where a piece is due to
    /// end (4976-033), through the [`DataBatch`]: waits for room on the target's data lane
    /// (backpressure on this source) whenever the batch is queued.
    async fn stream_body(&mut self, mut piece: bytes::Bytes) {
        let size = self.shared.cfg.rechunk_size as u64;
        while !piece.is_empty() {
            // More body comes: a piece that is full, or that replies wait behind, ends here.
            self.cut_if_due(false).await;
            let Current::Stream(s) = &mut self.current else {
                return;
            };
            if !s.open {
                open_piece(&mut self.batch, s);
            }
            let room = if s.cuttable && size > 0 {
                size.saturating_sub(s.octets).max(1)
            } else {
                u64::MAX
            };
            let part = if piece.len() as u64 > room {
                piece.split_to(room as usize)
            } else {
                std::mem::take(&mut piece)
            };
            let n = part.len() as u64;
            self.batch.body(part);
            s.octets += n;
            s.forwarded += n;
            if self.batch.len >= BATCH_BYTES {
                // Waits for room on the target's data lane (backpressure on this source); when
                // the target is gone the rest of the frame is dropped.
                self.flush_data().await;
            }
        }
        // Ends a full piece now when the Byte-Range says more follows, so that what waits on
        // the target goes out even if the source pauses here.
        self.cut_if_due(true).await;
    }

    /// Ends the current piece of the SEND being streamed with `+` when it is due (4976-033):
    /// it holds [`RelayConfig::rechunk_size`] octets, or it holds at least [`MIN_PIECE`] and
    /// the target has replies waiting ([`RelayConfig::rechunk_for_replies`]). `eager`: no body
    /// is at hand, so a piece is cut only if more body is sure to follow (by size: the
    /// declared range says so; for replies: it does not say the body is complete).
    async fn cut_if_due(&mut self, eager: bool) {
        let cfg = &self.shared.cfg;
        let Current::Stream(s) = &mut self.current else {
            return;
        };
        if !s.open || !s.cuttable {
            return;
        }
        let full = cfg.rechunk_size > 0 && s.octets >= cfg.rechunk_size as u64;
        let replies = cfg.rechunk_for_replies
            && s.octets >= MIN_PIECE
            && (s.peer.queue.control_queued_bytes() > 0
                || s.peer.waiting.load(Ordering::Relaxed) > 0);
        let due = if eager {
            (full && s.more_declared()) || (replies && !s.all_declared())
        } else {
            full || replies
        };
        if !due {
            return;
        }
        // The next piece's transaction is registered before this piece can be answered: the
        // router copies it from this one's (Router::rechunk).
        let (next, start) = {
            let start = s.start + s.octets;
            let mut core = self.shared.core();
            (core.router.rechunk(&s.tid, start), start)
        };
        self.batch.end(&s.tid, Flag::More, s.body);
        let tid = std::mem::replace(&mut s.tid, next);
        self.batch.sent.push((tid, s.octets));
        self.shared.metrics.rechunked.inc();
        s.start = start;
        s.octets = 0;
        s.open = false;
        if replies || self.batch.len >= BATCH_BYTES {
            // Queued now, so the lane's lock is let go between the pieces (`flush_data`).
            self.flush_data().await;
        }
    }

    /// Ends the SEND being streamed with `flag` (its end-line as received, or `#` when the
    /// source stopped): the open piece gets the end-line; when the last piece was already ended
    /// with `+` and no octet came since, an empty piece carries the flag.
    async fn end_stream(&mut self, s: Streaming, flag: Flag) {
        if s.open {
            self.batch.end(&s.tid, flag, s.body);
        } else {
            // RFC 4975 §7.1.1 (4975-031): a chunk of 0 octets, range `start-(start-1)/total`.
            let mut h = s.head.head().into_owned();
            h.tid = s.tid;
            h.set_byte_range(ByteRange {
                start: s.start,
                end: Some(s.start - 1),
                total: s.total,
            });
            self.batch.head(&h, true);
            self.batch.end(&h.tid, flag, true);
        }
        // RFC 4976 §6.4.1 (4976-030): the response timer runs from the last octet (here:
        // queued for the next hop, when the batch is).
        self.batch.sent.push((s.tid, s.octets));
        self.batch.streaming = false;
        if self.batch.len >= BATCH_BYTES {
            self.flush_data().await;
        }
    }

    async fn on_head(&mut self, head: Head, body: bool) -> Result<(), Stop> {
        self.on_head_keyed(head, body, None).await
    }

    /// [`Conn::on_head`] for a head that repeated `key` ([`Conn::forward`]).
    async fn on_head_keyed(
        &mut self,
        head: Head,
        body: bool,
        key: Option<Arc<Head>>,
    ) -> Result<(), Stop> {
        if matches!(&self.current, Current::Stream(s) if s.held) {
            if body && self.join(&head) {
                return Ok(());
            }
            self.end_held().await;
        }
        // No lane lock is held past a frame while this request may wait for other things.
        self.release().await;
        let since = self.read_at;
        self.current = Current::Discard;
        self.owed.clear();
        if head.status().is_some() {
            // RFC 4976 §6.4.3: routed back, or turned into a failure REPORT, or dropped.
            let actions = self.shared.core().router.on_response(head, self.id);
            deliver(self.shared.clone(), actions, true).await;
            return Ok(());
        }
        // Every request of a session has the same From-Path: compared, not copied, each time.
        if self.last_from.as_ref() != head.from_path().first() {
            self.last_from = head.from_path().first().cloned();
        }
        let for_auth = {
            let core = self.shared.core();
            let first = head.to_path().first();
            let table = table_for(&core.use_paths, core.use_paths_tls.as_ref(), first);
            forward::for_authenticator(&head, table)
        };
        if for_auth {
            return self.on_auth(&head).await;
        }
        let actions = {
            let mut core = self.shared.core();
            let core = &mut *core;
            let first = head.to_path().first();
            let table = table_for(&core.use_paths, core.use_paths_tls.as_ref(), first);
            // The time of the read that brought the head: no clock read per frame (a
            // Use-Path that expires after it was read still carried it, RFC 4976 §6.3).
            core.router.on_request(head, self.id, table, self.read_at)
        };
        for action in actions {
            if let Action::Discard { reason } = &action {
                self.shared.metrics.discarded(reason);
            }
            match action {
                Action::Forward { to, head, .. } => {
                    self.forward(to, head, body, since, key.clone()).await?
                }
                Action::Discard {
                    reason: DiscardReason::Route(RouteError::Foreign),
                } if !self.established => {
                    // RFC 4976 §6.2: a request not addressed to this relay on a connection
                    // that has had no successful request: drop the connection.
                    return Err(Stop::Close);
                }
                Action::Discard { .. } => self.current = Current::Discard,
                a @ (Action::Respond { .. } | Action::Answer { .. }) => self.owed.push(a),
                a @ Action::Send { .. } => deliver(self.shared.clone(), vec![a], false).await,
            }
        }
        Ok(())
    }

    /// Starts forwarding the request whose rewritten head is `head` to `hop` (RFC 4976 §6.4):
    /// a SEND is streamed onto the target's data lane (re-chunked as the module documentation
    /// says), anything else collected for its control lane. A next hop that cannot be reached
    /// fails the transaction (a failure REPORT or an error response, [`Router::fail`]), and the
    /// body is skipped. `since`: when the head was read.
    ///
    /// `key`: the decoder's head that this SEND repeated ([`Event::RepeatedSend`]), if it did;
    /// when the chunk goes to a client in one piece, the reader's [`Template`] is made from
    /// it, so that the session's next chunks are forwarded by `Conn::forward_repeat`.
    async fn forward(
        &mut self,
        hop: Hop,
        mut head: Head,
        body: bool,
        since: Instant,
        key: Option<Arc<Head>>,
    ) -> Result<(), Stop> {
        let (conn, peer) = match self.resolve(&hop).await {
            Ok(found) => found,
            Err(_) => {
                self.shared
                    .metrics
                    .discards
                    .with_label_values(&["next_hop_unreachable"])
                    .inc();
                let actions = self
                    .shared
                    .core()
                    .router
                    .fail(&head.tid, StatusCode::TIMEOUT);
                // Sent with what is owed at the end-line, after the hop-by-hop 200 (owed
                // first): the sender sees its SEND acknowledged, then the failure REPORT
                // (RFC 4976 §6.4.1, 4976-028/030), never the other way round.
                self.owed.extend(actions);
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
                since,
            };
            return Ok(());
        }
        let range = head.byte_range();
        let Plan {
            declared,
            cuttable,
            joinable,
        } = self.plan(range, body, head.tid.len());
        let repeats = match &key {
            Some(k) if joinable && forward::repeats_continue(&head, k) => Some(k.clone()),
            _ => None,
        };
        if let (Some(key), Hop::Conn(to), false, true) = (key, &hop, cuttable, body) {
            // One URI of ours led the To-Path (not a hairpin): what `Router::on_repeated_send`
            // checks the next chunks against.
            if head.from_path().len() == key.from_path().len() + 1 {
                self.template = Template::new(key, *to, &head);
            }
        }
        let start = range.map_or(1, |r| r.start);
        let total = range.and_then(|r| r.total);
        if cuttable {
            // 4975-024: a chunk that may be interrupted says range-end `*`.
            set_range(
                &mut head,
                ByteRange {
                    start,
                    end: None,
                    total,
                },
            );
        }
        // The batch goes to one target: what it holds for another goes out first.
        if self.batch.to.as_ref().is_some_and(|(c, _)| *c != conn) {
            self.flush_data().await;
        }
        if self.batch.to.is_none() {
            self.batch.to = Some((conn, peer.clone()));
        }
        self.batch.head(&head, body);
        self.batch.heads.push(since);
        self.batch.streaming = true;
        let tid = head.tid;
        self.current = Current::Stream(Streaming {
            to: conn,
            peer,
            head: Forwarded::Head(head),
            tid,
            body,
            open: true,
            start,
            total,
            octets: 0,
            forwarded: 0,
            declared,
            cuttable,
            joinable,
            repeats,
            held: false,
        });
        if self.batch.len >= BATCH_BYTES {
            self.flush_data().await;
        }
        Ok(())
    }

    /// 4976-033: how a SEND chunk with Byte-Range `range` and a body section (`body`) is
    /// streamed on, `tid_len` the length of its outgoing transaction id.
    fn plan(&self, range: Option<ByteRange>, body: bool, tid_len: usize) -> Plan {
        let cfg = &self.shared.cfg;
        let declared = range.and_then(|r| r.declared_len());
        // May it be split? Not when its Byte-Range says it is short.
        let cuttable = body
            && match declared {
                Some(n) => {
                    (cfg.rechunk_size > 0 && n > cfg.rechunk_size as u64)
                        || (cfg.rechunk_for_replies && n > MIN_PIECE)
                }
                None => cfg.rechunk_size > 0 || cfg.rechunk_for_replies,
            };
        // A chunk shorter than a piece, with more of its message to follow and the next frame
        // already arriving behind it, may have that frame carried on in it ("Combining"); then
        // it may be split as well (4975-027/028).
        let joinable = cfg.join_chunks
            && cfg.rechunk_for_replies
            && body
            && declared.is_some_and(|n| {
                n < cfg.rechunk_size as u64
                    && self.unread as u64 > n.saturating_add(END_LINE + tid_len as u64)
            })
            && range.is_some_and(|r| r.total.is_none_or(|t| r.end.is_some_and(|e| e < t)));
        Plan {
            declared,
            cuttable: cuttable || joinable,
            joinable,
        }
    }

    /// A SEND that repeats the last one the decoder parsed ([`Event::RepeatedSend`]): forwarded
    /// from the reader's [`Template`] when it is that head's (`Conn::forward_repeat`), else
    /// the usual way with the head it stands for.
    async fn on_repeat(&mut self, r: RepeatedSend) -> Result<(), Stop> {
        match self.forward_repeat(r).await {
            Ok(()) => Ok(()),
            Err(r) => {
                let key = Some(r.template().clone());
                self.on_head_keyed(r.head(), r.body, key).await
            }
        }
    }

    /// What [`Conn::on_head`] and [`Conn::forward`] do with the head `r` stands for, done
    /// from the reader's [`Template`] without the head (see [`crate::template`]): when `r`
    /// repeats the template's head, goes in one piece (not cut, not combined, 4976-033) and
    /// its first To-Path URI still routes it to the template's client
    /// ([`Router::on_repeated_send`]). The block written is the one `forward` writes, the
    /// transaction is kept and the 200 owed as `on_head` keeps and owes them. `Err(r)`, and
    /// nothing done, otherwise.
    async fn forward_repeat(&mut self, r: RepeatedSend) -> Result<(), RepeatedSend> {
        let Some(to) = self.template.as_ref().and_then(|t| t.target_of(&r)) else {
            return Err(r);
        };
        if matches!(&self.current, Current::Stream(s) if s.held) {
            // "Combining" reads the head.
            return Err(r);
        }
        // Our transaction ids are all this long (`IdGenerator`).
        let range = r.byte_range();
        let plan = self.plan(range, true, msrp::ident::GENERATED_LEN);
        if plan.cuttable {
            return Err(r);
        }
        let Ok((conn, peer)) = self.resolve(&Hop::Conn(to)).await else {
            return Err(r);
        };
        let Some((tid, answer)) = self.route_repeat(&r, to) else {
            return Err(r);
        };
        // What `on_head` does before it routes.
        self.release().await;
        // What `forward` does with a SEND that goes in one piece: the batch goes to one target.
        if self.batch.to.as_ref().is_some_and(|(c, _)| *c != conn) {
            self.flush_data().await;
        }
        self.begin_repeat(r, conn, peer, tid, answer, plan.declared);
        if self.batch.len >= BATCH_BYTES {
            self.flush_data().await;
        }
        Ok(())
    }

    /// [`Conn::forward_repeat`] when it waits for nothing (the usual case for a session's
    /// next chunk): the target is the one forwarded to last, no lane lock is held, and the
    /// batch has room. `Some(r)`, and nothing done, otherwise.
    fn forward_repeat_now(&mut self, r: RepeatedSend) -> Option<RepeatedSend> {
        let Some((to, hint)) = self
            .template
            .as_ref()
            .and_then(|t| Some((t.target_of(&r)?, t.len_hint())))
        else {
            return Some(r);
        };
        let Some((conn, peer)) = self.last_hop.clone() else {
            return Some(r);
        };
        let plan = self.plan(r.byte_range(), true, msrp::ident::GENERATED_LEN);
        if conn != to
            || peer.queue.is_closed()
            || plan.cuttable
            || !matches!(self.current, Current::Idle | Current::Discard)
            || self.batch.guard.is_some()
            || self.batch.to.as_ref().is_some_and(|(c, _)| *c != conn)
            || self.batch.len + hint >= BATCH_BYTES
        {
            return Some(r);
        }
        let Some((tid, answer)) = self.route_repeat(&r, to) else {
            return Some(r);
        };
        self.begin_repeat(r, conn, peer, tid, answer, plan.declared);
        None
    }

    /// The router's part of [`Conn::forward_repeat`] ([`Router::on_repeated_send`]) for `r`
    /// going to the client on `to`: our transaction id and the 200 owed, or `None` (nothing
    /// changed).
    fn route_repeat(&mut self, r: &RepeatedSend, to: ConnId) -> Option<(Ident, Option<Action>)> {
        let t = self.template.as_mut()?;
        let mut core = self.shared.core();
        let core = &mut *core;
        let first = r.template().to_path().first();
        let table = table_for(&core.use_paths, core.use_paths_tls.as_ref(), first);
        core.router
            .on_repeated_send(r, self.id, to, table, self.read_at, &mut t.state)
    }

    /// The rest of [`Conn::forward_repeat`], once routed as `tid` and the batch may take the
    /// chunk for `conn`: what `on_head` and `forward` do with a SEND that goes in one piece.
    fn begin_repeat(
        &mut self,
        r: RepeatedSend,
        conn: ConnId,
        peer: Peer,
        tid: Ident,
        answer: Option<Action>,
        declared: Option<u64>,
    ) {
        self.owed.clear();
        let from = r.template().from_path().first();
        if self.last_from.as_ref() != from {
            self.last_from = from.cloned();
        }
        self.owed.extend(answer);
        self.established = true;
        if self.batch.to.is_none() {
            self.batch.to = Some((conn, peer.clone()));
        }
        if let Some(t) = &mut self.template {
            let b = &mut self.batch;
            b.room(t.len_hint());
            let before = b.buf.len();
            t.write(&r, &tid, &mut b.buf);
            b.len += b.buf.len() - before;
            b.mark = Some(true);
        }
        self.batch.heads.push(self.read_at);
        self.batch.streaming = true;
        self.shared.metrics.repeated.inc();
        let range = r.byte_range();
        self.current = Current::Stream(Streaming {
            to: conn,
            peer,
            start: range.map_or(1, |r| r.start),
            total: range.and_then(|r| r.total),
            head: Forwarded::Repeat(r),
            tid,
            body: true,
            open: true,
            octets: 0,
            forwarded: 0,
            declared,
            cuttable: false,
            joinable: false,
            repeats: None,
            held: false,
        });
    }

    /// Carries the chunk whose head is `head` on in the held piece (see "Combining" in the
    /// module documentation) when it continues the held chunk ([`forward::continues`]) and its
    /// Use-Path URI is still valid (4976-025): its body then streams on in the same piece, and
    /// its hop-by-hop 200, if owed, is sent once its end-line is read (4976-028). `false`, and
    /// nothing changed, otherwise.
    fn join(&mut self, head: &Head) -> bool {
        let Current::Stream(s) = &mut self.current else {
            return false;
        };
        let at = s.start + s.octets;
        let (Some(first), Some(range)) = (head.to_path().first(), head.byte_range()) else {
            return false;
        };
        // It must fit: its declared length, added to the piece, within `rechunk_size`.
        let Some(declared) = range.declared_len() else {
            return false;
        };
        let forwarded = s.head.head();
        if s.octets.saturating_add(declared) > self.shared.cfg.rechunk_size as u64
            || s.peer.queue.is_closed()
            || !forward::continues(&forwarded, at, head)
        {
            return false;
        }
        // The relay's URIs leading the To-Path (two for a hairpin), as `continues` matched them.
        let ours = forwarded.from_path().len() - head.from_path().len();
        drop(forwarded);
        let answer = {
            let mut core = self.shared.core();
            let core = &mut *core;
            let table = table_for(&core.use_paths, core.use_paths_tls.as_ref(), Some(first));
            if !still_valid(table, &head.to_path()[..ours], self.id, self.read_at) {
                return false;
            }
            core.router.joined(&s.tid, range.end);
            core.router.answer_send(head, self.id)
        };
        self.carry_on(answer, declared);
        true
    }

    /// What [`Conn::join`] and [`Conn::join_repeat`] do once a chunk of `declared` octets is
    /// carried on in the held piece: `answer` is owed at its end-line, and the piece streams on.
    fn carry_on(&mut self, answer: Option<Action>, declared: u64) {
        self.owed.clear();
        self.owed.extend(answer);
        if let Current::Stream(s) = &mut self.current {
            s.held = false;
            s.forwarded = 0;
            s.declared = Some(declared);
        }
        // Counted as forwarded (and its latency observed) when the batch is queued.
        self.batch.heads.push(self.read_at);
        self.shared.metrics.joined.inc();
    }

    /// [`Conn::join`] for a chunk that comes as a repeat of the head the held chunk repeated
    /// ([`Streaming::repeats`]): the same checks ([`forward::continues_repeat`]) and the same
    /// 200 ([`Router::answer_repeat`]), without building its head. `false`, and nothing
    /// changed, when it repeats another head or does not continue the held chunk (then `join`
    /// decides with the head).
    fn join_repeat(&mut self, r: &RepeatedSend) -> bool {
        let Current::Stream(s) = &mut self.current else {
            return false;
        };
        let (Some(key), Forwarded::Head(forwarded), Some(range), true) =
            (&s.repeats, &s.head, r.byte_range(), r.body)
        else {
            return false;
        };
        // It must fit: its declared length, added to the piece, within `rechunk_size`.
        let Some(declared) = range.declared_len() else {
            return false;
        };
        if !Arc::ptr_eq(key, r.template())
            || s.octets.saturating_add(declared) > self.shared.cfg.rechunk_size as u64
            || s.peer.queue.is_closed()
            || !forward::continues_repeat(forwarded, s.start + s.octets, r)
        {
            return false;
        }
        // The relay's URIs leading the To-Path, as `repeats_continue` matched them.
        let ours = forwarded.from_path().len() - key.from_path().len();
        if !self
            .join_answers
            .as_ref()
            .is_some_and(|(k, _)| Arc::ptr_eq(k, key))
        {
            self.join_answers = Some((key.clone(), RepeatState::default()));
        }
        let Some((_, state)) = self.join_answers.as_mut() else {
            return false;
        };
        let answer = {
            let mut core = self.shared.core();
            let core = &mut *core;
            let to = key.to_path();
            let table = table_for(&core.use_paths, core.use_paths_tls.as_ref(), to.first());
            if !still_valid(table, &to[..ours], self.id, self.read_at) {
                return false;
            }
            core.router.joined(&s.tid, range.end);
            core.router.answer_repeat(r, self.id, state)
        };
        self.carry_on(answer, declared);
        true
    }

    /// Ends the held piece with `+` (the chunk it carries ended so, and the next frame does not
    /// continue it or is not read yet).
    async fn end_held(&mut self) {
        if matches!(&self.current, Current::Stream(s) if s.held) {
            if let Current::Stream(s) = std::mem::replace(&mut self.current, Current::Idle) {
                self.end_stream(s, Flag::More).await;
            }
        }
    }

    /// Queues what the [`DataBatch`] holds on its target's data lane as one item, under the
    /// lane's lock (waiting for the lock, then for room: backpressure on this source), then
    /// does what waited for it: [`Router::chunk_sent`] for the transactions whose end-line it
    /// held (4976-030) and the forwarded-frame metrics. When the target is gone, its frames are
    /// counted as discarded and the rest of the frame being streamed there is dropped. The lock
    /// is kept only while this reader streams a chunk to the target.
    async fn flush_data(&mut self) {
        let item = self.batch.take();
        let target = match (item, &self.batch.to) {
            (Some(item), Some((conn, peer))) => Some((item, *conn, peer.clone())),
            _ => None,
        };
        if let Some((item, conn, peer)) = target {
            if self.batch.guard.is_none() {
                // One frame at a time on the target's data lane. A reader streaming a long
                // chunk there is told that this one waits: it ends its piece and lets it in.
                self.batch.guard = Some(match peer.data.clone().try_lock_owned() {
                    Ok(g) => g,
                    Err(_) => {
                        peer.waiting.fetch_add(1, Ordering::Relaxed);
                        peer.replies.notify_one();
                        let g = peer.data.clone().lock_owned().await;
                        peer.waiting.fetch_sub(1, Ordering::Relaxed);
                        g
                    }
                });
            }
            let queued = send_data(&self.shared, &peer, item).await.is_ok();
            let m = &self.shared.metrics;
            let b = &mut self.batch;
            if queued {
                if !b.heads.is_empty() || !b.sent.is_empty() {
                    let now = Instant::now();
                    for since in b.heads.drain(..) {
                        m.forward_latency
                            .observe(now.saturating_duration_since(since).as_secs_f64());
                        m.send_forwarded();
                    }
                    if !b.sent.is_empty() {
                        let mut core = self.shared.core();
                        for (tid, octets) in b.sent.drain(..) {
                            core.router.chunk_sent(&tid, octets, now);
                        }
                    }
                }
                if b.octets > 0 {
                    m.send_bytes(b.octets);
                }
            } else {
                for _ in b.heads.drain(..) {
                    m.discards
                        .with_label_values(&["next_hop_unreachable"])
                        .inc();
                }
                b.sent.clear();
                b.streaming = false;
                if matches!(&self.current, Current::Stream(s) if s.to == conn) {
                    // The target is gone: the rest of the frame is dropped.
                    self.current = Current::Discard;
                }
            }
            self.batch.octets = 0;
        }
        if !self.batch.streaming {
            self.batch.guard = None;
            self.batch.to = None;
        } else if matches!(&self.current, Current::Stream(s) if !s.open) {
            // Between two pieces of a re-chunked SEND no frame is open on the target: another
            // source may queue its frames there before the next piece (4976-033).
            self.batch.guard = None;
        }
    }

    /// Queues the [`DataBatch`] now if it holds its target's lock past a frame, so that no
    /// lock is held while the reader waits for something else.
    async fn release(&mut self) {
        if self.batch.guard.is_some() && !self.batch.streaming {
            self.flush_data().await;
        }
    }

    /// Queues the [`ControlBatch`] on this connection's control lane as one item.
    async fn flush_control(&mut self) {
        let Some(item) = self.control.take() else {
            return;
        };
        if send_control(&self.shared, &self.peer, item).await.is_ok() {
            for s in self.control.statuses.drain(..) {
                self.shared.metrics.response_sent(s);
            }
        } else {
            self.control.statuses.clear();
        }
    }

    /// Sends what is owed for the request whose end-line was read: responses to this
    /// connection go into the [`ControlBatch`], anything else out at once.
    async fn pay_owed(&mut self) {
        let mut owed = std::mem::take(&mut self.owed);
        let mut rest = Vec::new();
        for a in owed.drain(..) {
            match a {
                Action::Respond { to, head } if to == self.id => {
                    // A bodiless response (`$`), as `deliver` writes it.
                    self.control
                        .room(head.encoded_len_hint() + head.tid.len() + 10);
                    msrp::encode::head(&head, false, &mut self.control.buf);
                    msrp::encode::end(&head.tid, Flag::Last, false, &mut self.control.buf);
                    if let Some(s) = head.status() {
                        self.control.statuses.push(s.as_u16());
                    }
                }
                Action::Answer { to, status, frame } if to == self.id => {
                    self.control.frame(&frame, status);
                }
                a => rest.push(a),
            }
        }
        self.owed = owed;
        if self.control.len() >= BATCH_BYTES {
            self.flush_control().await;
        }
        if !rest.is_empty() {
            // The responses collected above go first: a failure REPORT owed for a SEND must
            // not overtake the SEND's 200.
            self.flush_control().await;
            self.release().await;
            deliver(self.shared.clone(), rest, false).await;
        }
    }

    /// [`resolve`], remembering the last connection found: consecutive frames to one
    /// connection find it without the core lock. A connection whose queue is closed (it closed,
    /// or its writer failed) is looked up again.
    async fn resolve(&mut self, hop: &Hop) -> io::Result<(ConnId, Peer)> {
        if let (Hop::Conn(id), Some((c, p))) = (hop, &self.last_hop) {
            if c == id && !p.queue.is_closed() {
                return Ok((*c, p.clone()));
            }
        }
        let found = resolve(&self.shared, hop).await?;
        self.last_hop = Some(found.clone());
        Ok(found)
    }

    /// Answers an AUTH addressed to this relay (RFC 4976 §5.1, §6.3).
    async fn on_auth(&mut self, req: &Head) -> Result<(), Stop> {
        let local = req.to_path()[0].clone();
        if !self.secure && !self.shared.cfg.allow_auth_over_tcp {
            // RFC 4976 §8/§9.4 (4976-002): AUTH only over TLS.
            let resp = msrp::report::response(
                req,
                StatusCode::FORBIDDEN,
                Some("AUTH only over TLS"),
                &local,
            );
            self.shared
                .metrics
                .auth
                .with_label_values(&["forbidden"])
                .inc();
            return self.answer(&resp).await;
        }
        let now = Instant::now();
        let (resp, close, label) = {
            let mut core = self.shared.core();
            let core = &mut *core;
            let outcome = core.auth.handle(req, self.id, now);
            // The URI names the listener the client came in on: `msrps` over TLS.
            let table = match core.use_paths_tls.as_mut() {
                Some(t) if self.secure => t,
                _ => &mut core.use_paths,
            };
            let mut label = crate::metrics::auth_outcome(&outcome.decision);
            let resp = match &outcome.decision {
                AuthDecision::Accepted { user, expires, .. } => {
                    let lifetime = Duration::from_secs(u64::from(*expires));
                    // A re-AUTH on the same connection refreshes the URI it already holds
                    // (RFC 4976 §5.1, §6.3); otherwise a new one is minted.
                    let held = table.held_by(self.id, user, now).cloned();
                    let issued = match held {
                        Some(uri) if table.refresh(&uri, self.id, lifetime, now) => Ok(uri),
                        _ => table.issue(self.id, user, lifetime, now),
                    };
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
                        Err(e) => {
                            label = "forbidden";
                            msrp::report::response(
                                req,
                                StatusCode::FORBIDDEN,
                                Some(&e.to_string()),
                                &local,
                            )
                        }
                    }
                }
                d => auth::response_head(req, d, &local, None),
            };
            (resp, outcome.close_connection, label)
        };
        self.shared.metrics.auth.with_label_values(&[label]).inc();
        tracing::info!(
            outcome = label,
            status = resp.status().map(|s| s.as_u16()),
            "AUTH"
        );
        self.answer(&resp).await?;
        // RFC 4976 §6.3 (4976-021): too many failed AUTHs.
        if close { Err(Stop::Close) } else { Ok(()) }
    }

    /// Queues a bodiless response of the relay's own on this connection's control lane.
    async fn answer(&mut self, head: &Head) -> Result<(), Stop> {
        // After the responses collected before it: answers leave in the order their requests
        // were read.
        self.flush_control().await;
        if let Some(s) = head.status() {
            self.shared.metrics.response_sent(s.as_u16());
        }
        send_control(
            &self.shared,
            &self.peer,
            Outgoing::chunk(head, None, Flag::Last),
        )
        .await
        .map_err(|_| Stop::Close)
    }

    /// A frame the decoder skipped: 400 or 413 when it was a request other than REPORT with a
    /// readable tid (RFC 4975 §10, 4975-065); the connection goes on.
    async fn on_decode_error(&mut self, e: DecodeError) -> Result<(), Stop> {
        self.abort_current().await;
        self.release().await;
        self.current = Current::Idle;
        let (true, Some(tid)) = (e.wants_response(), e.tid) else {
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
