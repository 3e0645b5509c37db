//! The MSRP listeners the relay and the chat rooms share (TCP, and TLS with `[msrp.tls]`), and
//! the dispatch of each connection by its first frame.
//!
//! A connection is read until its first frame's header block is complete (within
//! `msrp.first_request_secs` and `msrp.max_head`), then handed, with the octets read so far, to
//! the role its first To-Path URI names (RFC 4975 §7.1: the first To-Path URI is the next hop,
//! this process):
//!
//! - a session URI of the chat rooms: the mixer ([`MixerHandle::serve`]);
//! - an AUTH, the relay's own URI, or a Use-Path URI it issued: the relay
//!   ([`RelayHandle::serve`]);
//! - anything else is answered 481 (RFC 4975 §7.3, 4975-063: no such session) where a response
//!   is owed, and the connection is closed.
//!
//! A connection whose first frame came through another relay carries frames for both roles (that
//! relay reuses it for every next hop here): it is dispatched frame by frame instead
//! (`splice.rs`).
//!
//! A frame the decoder refuses goes to the relay (or, without one, the mixer), which answers it
//! as RFC 4975 §7.3 says (400 and go on, or close). The relay reaches the rooms in-process
//! ([`Rooms`], a [`Colocated`] service): a SEND a client sends through the relay into a room
//! crosses no socket.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use msrp::{Decoder, DecoderConfig, Event, Flag, Head, Method, MsrpUri, StatusCode};
use msrp_mixer::server::MixerHandle;
use msrp_relay::server::{Colocated, RelayHandle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{Instrument, debug, info_span, warn};

/// Where connections go, and the limits of the first read.
#[derive(Clone)]
pub struct Dispatch {
    /// The relay, unless `[relay] enabled = false`.
    pub relay: Option<RelayHandle>,
    /// The chat rooms.
    pub mixer: MixerHandle,
    /// `msrp.max_head`.
    pub max_head: usize,
    /// `msrp.first_request_secs`.
    pub first_frame: Duration,
    /// `msrp.max_connections`: connections open at once across both listeners.
    pub slots: Arc<Semaphore>,
    /// Metrics of the dispatch itself.
    pub metrics: Arc<crate::metrics::DaemonMetrics>,
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch")
            .field("max_head", &self.max_head)
            .finish_non_exhaustive()
    }
}

/// The chat rooms as a [`Colocated`] service of the relay: their session URIs share the
/// relay's host and port, and the relay reaches them over an in-process pipe.
#[derive(Debug)]
pub struct Rooms(pub MixerHandle);

impl Colocated for Rooms {
    fn claims(&self, uri: &MsrpUri) -> bool {
        self.0.is_session(uri)
    }

    fn accept(&self, stream: tokio::io::DuplexStream) {
        let (r, w) = tokio::io::split(stream);
        if !self.0.serve(r, w) {
            warn!("chat rooms: no connection slot for the relay's in-process connection");
        }
    }
}

/// Which role a frame goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Relay,
    Mixer,
    /// Nobody: answered 481 and closed.
    Nobody,
}

impl Dispatch {
    /// Accepts on `listener` until `stop` turns true; `tls` terminates TLS first.
    pub async fn run(
        self,
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        mut stop: watch::Receiver<bool>,
    ) {
        let transport = if tls.is_some() { "tls" } else { "tcp" };
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.wait_for(|s| *s) => return,
            };
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: wait a little instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                self.metrics.shed(transport);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let d = self.clone();
            let tls = tls.clone();
            let span = info_span!("conn", %peer, transport);
            tokio::spawn(
                async move {
                    match tls {
                        None => d.first_frame(stream, permit, false).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(d.first_frame, acceptor.accept(stream)).await
                            {
                                Ok(Ok(s)) => d.first_frame(s, permit, true).await,
                                Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                                Err(_) => debug!("TLS handshake timed out"),
                            }
                        }
                    }
                }
                .instrument(span),
            );
        }
    }

    /// Reads the first frame's head and hands the connection over; `permit` is its slot of
    /// `msrp.max_connections`, held until the connection closes.
    async fn first_frame<S>(&self, mut stream: S, permit: OwnedSemaphorePermit, secure: bool)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut read = BytesMut::with_capacity(4096);
        let cfg = DecoderConfig {
            max_head: self.max_head,
            ..DecoderConfig::default()
        };
        let deadline = tokio::time::Instant::now() + self.first_frame;
        let (role, head) = loop {
            let mut probe = read.clone();
            match Decoder::new(cfg.clone()).decode(&mut probe) {
                Ok(Some(Event::Head { head, .. })) => break (self.role_of(&head), Some(head)),
                Ok(_) => {}
                // The roles answer bad frames (400, or close, RFC 4975 §7.3).
                Err(_) => break (self.default_role(), None),
            }
            let n = match tokio::time::timeout_at(deadline, stream.read_buf(&mut read)).await {
                Ok(Ok(n)) => n,
                Ok(Err(_)) => return,
                Err(_) => {
                    debug!("no first frame in time: closed (RFC 4976 §6.1)");
                    return;
                }
            };
            if n == 0 {
                return;
            }
        };
        // Through another relay (RFC 4976 §6.4.1: each relay prepends its URI to From-Path):
        // that relay reuses the connection for every next hop here, relay clients and rooms
        // alike (4976-035), so its frames are dispatched one by one.
        if head.as_ref().is_some_and(|h| h.from_path().len() > 1) {
            self.metrics.dispatched("shared");
            crate::splice::run(self.clone(), stream, read, permit, secure).await;
            return;
        }
        self.metrics.dispatched(role_label(role));
        match role {
            Role::Mixer => {
                let (r, w) = tokio::io::split(stream);
                let r = Slotted::new(std::io::Cursor::new(read.freeze()).chain(r), permit);
                if !self.mixer.serve(r, w) {
                    self.metrics.shed("mixer");
                }
            }
            Role::Relay => {
                let Some(relay) = &self.relay else { return };
                let (r, w) = tokio::io::split(stream);
                let r = Slotted::new(std::io::Cursor::new(read.freeze()).chain(r), permit);
                if !relay.serve(r, w, secure) {
                    self.metrics.shed("relay");
                }
            }
            Role::Nobody => {
                if let Some(head) = head {
                    self.refuse(stream, &head).await;
                }
            }
        }
    }

    fn default_role(&self) -> Role {
        if self.relay.is_some() {
            Role::Relay
        } else {
            Role::Mixer
        }
    }

    /// The role a frame's first To-Path URI names.
    pub(crate) fn role_of(&self, head: &Head) -> Role {
        let Some(first) = head.to_path().first() else {
            return Role::Nobody;
        };
        if self.mixer.is_session(first) {
            return Role::Mixer;
        }
        match &self.relay {
            Some(relay) if head.method() == Some(&Method::Auth) || relay.is_local(first) => {
                Role::Relay
            }
            _ => Role::Nobody,
        }
    }

    /// The 481 (4975-063) owed for a request nobody here serves, encoded, from the URI it was
    /// sent to; `None` when none is owed (a response, or `Failure-Report: no`).
    pub(crate) fn no_such_session(&self, head: &Head) -> Option<BytesMut> {
        // A decoded head always has a To-Path (4975-005).
        let to = head.to_path().first()?;
        debug!(to = to.as_str(), "481: no such session");
        if head.method().is_none()
            || !msrp::report::response_owed(head, StatusCode::NO_SUCH_SESSION)
        {
            return None;
        }
        let resp = msrp::report::response(head, StatusCode::NO_SUCH_SESSION, None, to);
        let mut out = BytesMut::new();
        msrp::encode::frame(&resp, None, Flag::Last, &mut out);
        Some(out)
    }

    /// Answers a first frame nobody here serves with 481 when one is owed, then closes the
    /// connection.
    async fn refuse<S>(&self, mut stream: S, head: &Head)
    where
        S: AsyncWrite + Unpin,
    {
        if let Some(out) = self.no_such_session(head) {
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&out)).await;
        }
        let _ = stream.shutdown().await;
    }
}

/// The read half of a handed-over connection, holding its `msrp.max_connections` slot: the
/// slot is given back when the role drops the reader, i.e. when the connection closes.
struct Slotted<R> {
    inner: R,
    _slot: OwnedSemaphorePermit,
}

impl<R> Slotted<R> {
    fn new(inner: R, slot: OwnedSemaphorePermit) -> Slotted<R> {
        Slotted { inner, _slot: slot }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Slotted<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// The `role` / `where` label of a role in the daemon's metrics.
pub(crate) fn role_label(role: Role) -> &'static str {
    match role {
        Role::Relay => "relay",
        Role::Mixer => "mixer",
        Role::Nobody => "none",
    }
}
