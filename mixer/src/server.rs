//! The mixer over TCP (tokio): the MSRP listener, one reader task per connection, and one task
//! per room that owns the room's [`Room`] and carries out its [`Action`]s.
//!
//! # Joining and binding
//!
//! [`MixerHandle::join`] answers a participant's SDP offer for a room ([`crate::join`]) with a
//! session URI of its own (`msrp://host:port/<random session-id>;tcp`, RFC 4975 §8.2), and adds
//! the session to the room. The session binds to the connection its first request arrives on
//! (RFC 4975 §5.4, RFC 6135): a participant's bodiless SEND is enough. When the answer makes the
//! mixer the active side (RFC 6135), the mixer connects to the first URI of the participant's
//! path itself and binds with a bodiless SEND. A session that does not bind within
//! [`MixerConfig::bind_timeout`] is removed. A session is bound to one connection; a request for
//! it on another gets 506 (RFC 4975 §7.3, 4975-066); a request for a session the mixer does not
//! have gets 481 (4975-063), and so does one for a session that is gone (left, dropped, timed
//! out) on the connection it was bound to.
//!
//! # The message path
//!
//! A connection's reader decodes frames and hands each request's head, body pieces and end-line
//! to the task of the room its session belongs to (a bounded channel: a room that cannot keep
//! up slows its senders down, never the other rooms). Sessions of several rooms may share a
//! connection (7701-001): the reader routes frame by frame. No lock is taken per frame: each
//! connection keeps the sessions it has seen.
//!
//! The room task writes each copy of a message as whole frames ([`Action::Open`],
//! [`Action::Body`], [`Action::End`] become chunks of the pieces read, ended with `+`, and the
//! last with the sender's flag; pieces shorter than 16 KiB (`COALESCE`) are joined first, so a message
//! that arrived in several reads still goes out as one frame; RFC 7701 §6.1 lets the switch
//! re-chunk, 7701-014), so frames from several rooms to one connection never interleave. The
//! task handles the commands already waiting (up to 64, `BATCH_CMDS`) before it queues what they
//! produced, one item per recipient (at most 64 KiB each, `BATCH_BYTES`): one wake-up of a recipient's
//! writer for many frames. Items are queued with `try_send`: a recipient whose queue is full
//! never stalls the room. Its copy of each message in the item is dropped
//! ([`Room::copy_failed`]: a failure REPORT to the sender when asked), and a session that fails
//! [`MixerConfig::max_failed_copies`] copies in a row is removed from the room. Responses and
//! REPORTs (also those with the CPIM wrapper of a private message, 7701-022) go on the
//! connection's control lane. Responses from recipients to the copies are read and dropped
//! (7701-023).
//!
//! A session's history ([`crate::room`]) is queued when it binds, on the data lane like any
//! copy: the newest messages that fit in the lane's free room, oldest first (the room task never
//! waits for a queue).
//!
//! A connection on which nothing passes either way for [`MixerConfig::idle_timeout`] is closed:
//! what the rooms queue for it counts as traffic, as what it sends does.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp::encode;
use msrp::transport::{EventReader, MsrpCodec, Outgoing, TrySendError, WriteQueue, WriterConfig};
use msrp::{
    ByteRange, ByteString, DecodeError, DecoderConfig, Event, Flag, Head, Header, IdGenerator,
    Ident, Method, MsrpUri, StatusCode, Tail,
};
use msrp_sdp::Role;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::{MixerConfig, RoomPolicy};
use crate::identity::UserUri;
use crate::join::{self, JoinError, SessionTerms};
use crate::metrics::{MessageKind, Metrics};
use crate::room::{Action, Copies, IdMap, JoinRefused, Note, OutId, ReqHead, Room, SessionKey};

/// Commands a room task takes, in order.
enum Cmd {
    Join {
        /// The session's id (its URI's session-id), for the logs.
        sid: ByteString,
        participant: UserUri,
        /// Boxed: the other commands, a frame's, are a third of its size.
        terms: Box<SessionTerms>,
        reply: oneshot::Sender<Result<SessionKey, JoinRefused>>,
    },
    Bind {
        key: SessionKey,
        conn: ConnId,
        queue: WriteQueue,
        /// The connection's [`Conn::queued_at`].
        queued_at: Arc<AtomicU64>,
    },
    Head {
        key: SessionKey,
        head: ReqHead,
    },
    /// A whole chunk: its head, its body (possibly empty) and its end-line's flag, read
    /// together; `at` as for [`Cmd::Body`].
    Whole {
        key: SessionKey,
        head: ReqHead,
        piece: Bytes,
        flag: Flag,
        at: Instant,
    },
    /// `at`: when the reader had the piece (fan-out latency).
    Body {
        key: SessionKey,
        piece: Bytes,
        at: Instant,
    },
    End {
        key: SessionKey,
        flag: Flag,
        at: Instant,
    },
    Leave {
        key: SessionKey,
    },
    Closed {
        conn: ConnId,
    },
    Info {
        reply: oneshot::Sender<RoomInfo>,
    },
    /// The room was deleted ([`MixerHandle::delete_room`]): its sessions have been sent
    /// [`Cmd::Leave`]; the task ends once they are processed.
    Close,
    /// Commands of one connection's reader, in order ([`Conn::send_to_room`]): the frames it
    /// decoded from one read go over the channel together.
    Batch(Vec<Cmd>),
}

/// Identifies one transport connection of the mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConnId(u64);

/// A room as the rest of the mixer sees it.
struct RoomRef {
    name: String,
    tx: mpsc::Sender<Cmd>,
}

/// Where a session lives.
#[derive(Clone)]
struct SessionRef {
    room: Arc<RoomRef>,
    key: SessionKey,
    /// The connection the session is bound to, once it is.
    bound: Option<ConnId>,
    /// Cleared when the session is removed from the mixer's table (left, dropped, unbound too
    /// long, or its connection closed): a connection that cached the session sees it is gone
    /// without taking the table's lock per request, and answers 481 (4975-063).
    alive: Arc<AtomicBool>,
}

impl SessionRef {
    /// Marks the session gone (see [`SessionRef::alive`]).
    fn kill(&self) {
        self.alive.store(false, Ordering::Release);
    }
}

/// What a room says about itself ([`MixerHandle::room`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    /// The room's name (`lobby` of `sip:lobby@domain`).
    pub name: String,
    /// The room's URI.
    pub uri: String,
    /// Participants and their nicknames, sorted by URI.
    pub participants: Vec<(String, Option<String>)>,
    /// Sessions, bound or not.
    pub sessions: usize,
}

/// A successful join ([`MixerHandle::join`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The session's id: the session-id of its URI, and the handle to leave with.
    pub id: String,
    /// The room's name.
    pub room: String,
    /// The SDP answer.
    pub answer: Vec<u8>,
    /// Our session URI (the last URI of the answer's `a=path`).
    pub local: MsrpUri,
}

/// Why a join failed; [`JoinFailure::sip_status`] maps it for a SIP or HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinFailure {
    /// No such room, and rooms are not created on first join.
    #[error("no room {0:?}")]
    UnknownRoom(String),
    /// The room name cannot form a room URI.
    #[error("bad room name {0:?}")]
    BadRoomName(String),
    /// The participant URI is not a URI.
    #[error("bad participant URI {0:?}")]
    BadParticipant(String),
    /// The room is full.
    #[error("{0}")]
    Full(#[from] JoinRefused),
    /// The offer could not be answered.
    #[error("{0}")]
    Offer(#[from] JoinError),
    /// The mixer is shutting down.
    #[error("the mixer is shutting down")]
    Closed,
    /// A room of that name exists already ([`MixerHandle::create_room`]).
    #[error("room {0:?} exists")]
    RoomExists(String),
}

impl JoinFailure {
    /// The SIP status for the response to the INVITE: 404 unknown room, 486 full, 400 bad SDP
    /// or URI, 488 (or the negotiation's status) for an unacceptable offer, 503 closing.
    pub fn sip_status(&self) -> u16 {
        match self {
            JoinFailure::UnknownRoom(_) => 404,
            JoinFailure::BadRoomName(_) | JoinFailure::BadParticipant(_) => 400,
            JoinFailure::Full(_) => 486,
            JoinFailure::Offer(JoinError::Sdp(_)) => 400,
            JoinFailure::Offer(JoinError::Refused { status, .. }) => *status,
            JoinFailure::Closed => 503,
            JoinFailure::RoomExists(_) => 409,
        }
    }
}

struct Shared {
    cfg: MixerConfig,
    host: String,
    port: u16,
    rooms: Mutex<HashMap<String, Arc<RoomRef>>>,
    sessions: Mutex<HashMap<ByteString, SessionRef>>,
    ids: Mutex<IdGenerator>,
    next_conn: AtomicU64,
    slots: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
    /// The origin of the connections' [`Conn::queued_at`] stamps.
    epoch: Instant,
    metrics: Arc<Metrics>,
    /// Where the ids of sessions that end without [`MixerHandle::leave`] are sent
    /// ([`MixerHandle::watch_ended`]): a SIP focus ends their dialogs with a BYE.
    ended: Mutex<Option<mpsc::UnboundedSender<String>>>,
}

impl Shared {
    /// Session `id` ended without [`MixerHandle::leave`] (connection lost, not bound in time,
    /// dropped, room deleted): tells the watcher, if any.
    fn ended(&self, id: &str) {
        if let Some(tx) = &*self.ended.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = tx.send(id.to_owned());
        }
    }

    /// Milliseconds from [`Shared::epoch`] to `t`.
    fn stamp(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn decoder_config(&self) -> DecoderConfig {
        DecoderConfig {
            max_head: self.cfg.max_head,
            // The participants' 200s to the copies (and to a bind) ask nothing of the mixer
            // ([`Conn::on_event`] drops every response, 7701-023): consumed unparsed, they
            // cost a line scan, not a parsed head each (perf: about a fifth of the mixer's
            // time at 10 participants).
            skip_success_responses: true,
            // A session's SENDs repeat their paths: the reader hands a repeated one over with
            // its body and end-line when they came in the same read ([`Cmd::Whole`]).
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

    fn next_id(&self) -> Ident {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).next_id()
    }

    /// The room `name`, created with the auto-create policy if it does not exist and may be.
    fn room(self: &Arc<Self>, name: &str) -> Result<Arc<RoomRef>, JoinFailure> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = rooms.get(name) {
            return Ok(r.clone());
        }
        let policy = self
            .cfg
            .auto_create
            .clone()
            .ok_or_else(|| JoinFailure::UnknownRoom(name.to_owned()))?;
        let r = self.start_room(name, policy)?;
        rooms.insert(name.to_owned(), r.clone());
        Ok(r)
    }

    fn start_room(
        self: &Arc<Self>,
        name: &str,
        policy: RoomPolicy,
    ) -> Result<Arc<RoomRef>, JoinFailure> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b))
        {
            return Err(JoinFailure::BadRoomName(name.to_owned()));
        }
        let uri = UserUri::new(&format!("sip:{name}@{}", self.cfg.domain))
            .ok_or_else(|| JoinFailure::BadRoomName(name.to_owned()))?;
        let reserved: Vec<&str> = self
            .cfg
            .reserved_nicknames
            .iter()
            .map(String::as_str)
            .collect();
        let room = Room::new(uri, policy, self.cfg.limits.clone(), &reserved)
            .map_err(|e| JoinFailure::BadRoomName(e.to_string()))?;
        self.metrics.rooms.inc();
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        let r = Arc::new(RoomRef {
            name: name.to_owned(),
            tx,
        });
        let span = tracing::info_span!("room", room = name);
        tokio::spawn(tracing::Instrument::instrument(
            room_task(self.clone(), name.to_owned(), room, rx),
            span,
        ));
        Ok(r)
    }
}

/// A handle on a running mixer: join and leave sessions, look at rooms. Cheap to clone.
#[derive(Clone)]
pub struct MixerHandle(Arc<Shared>);

impl fmt::Debug for MixerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MixerHandle")
            .field("host", &self.0.host)
            .field("port", &self.0.port)
            .finish()
    }
}

impl MixerHandle {
    /// Joins `participant` (a user URI such as `sip:alice@example.com`) to room `room` with SDP
    /// offer `offer`; returns the answer and the session's id (RFC 7701 §5.2).
    pub async fn join(
        &self,
        room: &str,
        participant: &str,
        offer: &[u8],
    ) -> Result<Joined, JoinFailure> {
        self.join_with_origin(room, participant, offer, None).await
    }

    /// [`MixerHandle::join`] with the answer's `o=` session id and version given: a SIP focus
    /// answering a re-INVITE keeps its `o=` line and increments the version (RFC 3264 §8,
    /// 3264-008). `None`: a new random session id, version 1.
    pub async fn join_with_origin(
        &self,
        room: &str,
        participant: &str,
        offer: &[u8],
        origin: Option<(u64, u64)>,
    ) -> Result<Joined, JoinFailure> {
        let shared = &self.0;
        let who = UserUri::new(participant)
            .ok_or_else(|| JoinFailure::BadParticipant(participant.to_owned()))?;
        let r = shared.room(room)?;
        let sid = ByteString::from(shared.next_id());
        let local = MsrpUri::new(false, &shared.host, Some(shared.port), Some(&sid), "tcp")
            .map_err(|e| JoinFailure::BadRoomName(e.to_string()))?;
        let local_tls = match shared.cfg.tls_port {
            Some(port) => Some(
                MsrpUri::new(true, &shared.host, Some(port), Some(&sid), "tcp")
                    .map_err(|e| JoinFailure::BadRoomName(e.to_string()))?,
            ),
            None => None,
        };
        let room_policy = self.policy_of(room);
        let origin = origin.unwrap_or_else(|| (rand_u64(shared), 1));
        let (answer, terms) =
            join::answer(&room_policy, &local, local_tls.as_ref(), offer, origin)?;
        let local = terms.local.clone();
        let role = terms.role;
        let peer_path = terms.peer_path.clone();
        let (tx, rx) = oneshot::channel();
        r.tx.send(Cmd::Join {
            sid: sid.clone(),
            participant: who,
            terms: Box::new(terms),
            reply: tx,
        })
        .await
        .map_err(|_| JoinFailure::Closed)?;
        let key = rx.await.map_err(|_| JoinFailure::Closed)??;
        shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                sid.clone(),
                SessionRef {
                    room: r.clone(),
                    key,
                    bound: None,
                    alive: Arc::new(AtomicBool::new(true)),
                },
            );
        if role == Role::Active {
            tokio::spawn(connect_out(
                shared.clone(),
                sid.clone(),
                local.clone(),
                peer_path,
            ));
        }
        Ok(Joined {
            id: sid.to_string(),
            room: r.name.clone(),
            answer: answer.to_bytes(),
            local,
        })
    }

    /// The policy a room has (or would get on creation).
    fn policy_of(&self, room: &str) -> RoomPolicy {
        let cfg = &self.0.cfg;
        cfg.rooms
            .iter()
            .find(|(n, _)| n == room)
            .map(|(_, p)| p.clone())
            .or_else(|| cfg.auto_create.clone())
            .unwrap_or_default()
    }

    /// Removes session `id` from its room (SIP BYE, control API). `false` when there is none.
    pub async fn leave(&self, id: &str) -> bool {
        let s = self
            .0
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        match s {
            Some(s) => {
                s.kill();
                s.room.tx.send(Cmd::Leave { key: s.key }).await.is_ok()
            }
            None => false,
        }
    }

    /// From now on, the ids of sessions that end other than by [`MixerHandle::leave`] (their
    /// connection closed, they did not bind in time, they were dropped as too slow, or their
    /// room was deleted) arrive on the returned channel. One watcher: a second call replaces
    /// the first.
    pub fn watch_ended(&self) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.0.ended.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        rx
    }

    /// The rooms, by name.
    pub fn room_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// What room `name` holds now; `None` when there is no such room.
    pub async fn room(&self, name: &str) -> Option<RoomInfo> {
        let r = self
            .0
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()?;
        let (tx, rx) = oneshot::channel();
        r.tx.send(Cmd::Info { reply: tx }).await.ok()?;
        rx.await.ok()
    }

    /// The address the MSRP listener is bound to (host and port of the session URIs).
    pub fn session_host_port(&self) -> (&str, u16) {
        (&self.0.host, self.0.port)
    }
}

/// A random `u64` (SDP `o=` session ids), from the id generator's randomness.
fn rand_u64(shared: &Shared) -> u64 {
    let id = shared.next_id();
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }) >> 1
}

/// The mixer: an MSRP listener and its rooms. Run it with [`Mixer::spawn`].
pub struct Mixer {
    /// The TCP listener; `None` for a mixer built with [`Mixer::unbound`], which serves only
    /// the connections handed to it ([`MixerHandle::serve`]).
    listener: Option<TcpListener>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Mixer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mixer")
            .field(
                "local_addr",
                &self.listener.as_ref().and_then(|l| l.local_addr().ok()),
            )
            .finish()
    }
}

impl Mixer {
    /// Binds the listener and starts the static rooms.
    pub async fn bind(cfg: MixerConfig) -> io::Result<Mixer> {
        Mixer::bind_with_metrics(cfg, Arc::new(Metrics::new())).await
    }

    /// [`Mixer::bind`] with metrics registered by the caller (e.g. on the daemon's registry).
    pub async fn bind_with_metrics(cfg: MixerConfig, metrics: Arc<Metrics>) -> io::Result<Mixer> {
        let listener = TcpListener::bind(cfg.listen).await?;
        let port = match cfg.port {
            Some(p) => p,
            None => listener.local_addr()?.port(),
        };
        let mut m = Mixer::unbound(cfg, metrics, port)?;
        m.listener = Some(listener);
        Ok(m)
    }

    /// A mixer with no listener of its own: it serves the connections handed to it with
    /// [`MixerHandle::serve`] and writes `port` into its session URIs (a daemon that serves
    /// the mixer and the relay on one port). [`MixerConfig::listen`] is not used. Starts the
    /// static rooms.
    pub fn unbound(cfg: MixerConfig, metrics: Arc<Metrics>, port: u16) -> io::Result<Mixer> {
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            host: cfg.host.clone(),
            port,
            rooms: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            ids: Mutex::new(IdGenerator::new()),
            next_conn: AtomicU64::new(1),
            slots: Arc::new(Semaphore::new(cfg.max_connections)),
            shutdown,
            epoch: Instant::now(),
            metrics,
            ended: Mutex::new(None),
            cfg,
        });
        for (name, policy) in shared.cfg.rooms.clone() {
            let r = shared
                .start_room(&name, policy)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            shared
                .rooms
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name, r);
        }
        Ok(Mixer {
            listener: None,
            shared,
        })
    }

    /// The listener's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.listener {
            Some(l) => l.local_addr(),
            None => Err(io::Error::other("the mixer has no listener of its own")),
        }
    }

    /// A handle for joining sessions and looking at rooms.
    pub fn handle(&self) -> MixerHandle {
        MixerHandle(self.shared.clone())
    }

    /// Runs the mixer in a task.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    /// Accepts connections until the mixer is shut down ([`MixerHandle::shutdown`]).
    pub async fn run(self) {
        let mut stop = self.shared.shutdown.subscribe();
        let Some(listener) = self.listener else {
            let _ = stop.wait_for(|s| *s).await;
            return;
        };
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let Ok(permit) = self.shared.slots.clone().try_acquire_owned() else {
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    self.shared.metrics.connections_accepted.inc();
                    let (r, w) = stream.into_split();
                    open_conn(&self.shared, r, w, Some(permit));
                }
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

impl MixerHandle {
    /// The mixer's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// Stops accepting connections and closes every connection.
    pub fn shutdown(&self) {
        let _ = self.0.shutdown.send(true);
    }

    /// Serves a connection accepted elsewhere, given its read and write halves (bytes already
    /// read from it go in front of `r`, e.g. with [`tokio::io::AsyncReadExt::chain`]). It takes
    /// one of the [`MixerConfig::max_connections`] slots; `false` when every slot is taken (the
    /// caller closes it).
    pub fn serve<R, W>(&self, r: R, w: W) -> bool
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Ok(permit) = self.0.slots.clone().try_acquire_owned() else {
            return false;
        };
        self.0.metrics.connections_accepted.inc();
        open_conn(&self.0, r, w, Some(permit));
        true
    }

    /// `true` when `uri` is the URI of one of the mixer's sessions (RFC 4975 §6.1: its host
    /// and port are the mixer's, and its session-id is one the mixer issued and has not
    /// removed): the To-Path a participant's frames to the mixer end with.
    pub fn is_session(&self, uri: &MsrpUri) -> bool {
        let Some(sid) = uri.session_id() else {
            return false;
        };
        if uri.port() != Some(self.0.port) && uri.port() != self.0.cfg.tls_port {
            return false;
        }
        let sessions = self.0.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.contains_key(sid)
    }

    /// Creates room `name` with `policy` (a control API's "create room"). Fails when the name
    /// is taken or is not a valid room name.
    pub fn create_room(&self, name: &str, policy: RoomPolicy) -> Result<(), JoinFailure> {
        let mut rooms = self.0.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.contains_key(name) {
            return Err(JoinFailure::RoomExists(name.to_owned()));
        }
        let r = self.0.start_room(name, policy)?;
        rooms.insert(name.to_owned(), r);
        Ok(())
    }

    /// Deletes room `name`: every session in it is removed (as [`MixerHandle::leave`]) and
    /// the room's task ends. `false` when there is no such room.
    pub async fn delete_room(&self, name: &str) -> bool {
        let Some(r) = self
            .0
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
        else {
            return false;
        };
        let gone: Vec<SessionRef> = {
            let mut sessions = self.0.sessions.lock().unwrap_or_else(|e| e.into_inner());
            let ids: Vec<ByteString> = sessions
                .iter()
                .filter(|(_, s)| Arc::ptr_eq(&s.room, &r))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| {
                    self.0.ended(id);
                    sessions.remove(id)
                })
                .collect()
        };
        for s in gone {
            s.kill();
            let _ = r.tx.send(Cmd::Leave { key: s.key }).await;
        }
        let _ = r.tx.send(Cmd::Close).await;
        true
    }
}

/// Registers a connection and spawns its reader; returns its id, write queue and
/// [`Conn::queued_at`].
fn open_conn<R, W>(
    shared: &Arc<Shared>,
    r: R,
    w: W,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> (ConnId, WriteQueue, Arc<AtomicU64>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let id = ConnId(shared.next_conn.fetch_add(1, Ordering::Relaxed));
    let (queue, writer) = msrp::transport::spawn_writer(w, shared.writer_config());
    let reader = EventReader::new(r, MsrpCodec::new(shared.decoder_config()));
    let queued_at = Arc::new(AtomicU64::new(shared.stamp(Instant::now())));
    let conn = Conn {
        shared: shared.clone(),
        id,
        queue: queue.clone(),
        queued_at: queued_at.clone(),
        seen: IdMap::default(),
        current: None,
        last: None,
        batch: Vec::new(),
        batch_room: None,
    };
    let metrics = shared.metrics.clone();
    metrics.connections_open.inc();
    let span = tracing::debug_span!("mixer_conn", id = id.0);
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            tracing::debug!(inbound = permit.is_some(), "open");
            conn.run(reader).await;
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
            metrics.connections_open.dec();
            drop(permit);
            tracing::debug!("closed");
        },
        span,
    ));
    (id, queue, queued_at)
}

/// Active role (RFC 6135): connects to the participant's first path URI and binds the session
/// with a bodiless SEND (RFC 4975 §5.4).
async fn connect_out(
    shared: Arc<Shared>,
    sid: ByteString,
    local: MsrpUri,
    peer_path: Vec<MsrpUri>,
) {
    let Some(first) = peer_path.first() else {
        return;
    };
    let host = first.host().to_string();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let Some(port) = first.port() else { return };
    let connect = TcpStream::connect((host.as_str(), port));
    let Ok(Ok(stream)) = tokio::time::timeout(shared.cfg.connect_timeout, connect).await else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let (conn, queue, queued_at) = open_conn(&shared, r, w, None);
    let s = {
        let mut sessions = shared.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let Some(s) = sessions.get_mut(&sid) else {
            // Removed while we connected: nothing to carry.
            queue.close();
            return;
        };
        s.bound = Some(conn);
        s.clone()
    };
    let head = Head::request(
        Method::Send,
        shared.next_id(),
        peer_path.iter().cloned().collect(),
        msrp::path![local],
    )
    .with(Header::MessageId(shared.next_id()))
    .with(Header::ByteRange(ByteRange::whole(0)));
    let _ = queue.try_send_control(Outgoing::chunk(&head, None, Flag::Last));
    let _ = s
        .room
        .tx
        .send(Cmd::Bind {
            key: s.key,
            conn,
            queue,
            queued_at,
        })
        .await;
}

/// Commands a room's channel holds (a reader waits when it is full). A [`Cmd::Batch`] is one:
/// it holds at most [`FRAMES_PER_TURN`] frames with bodies of at most [`BATCH_FRAME_BYTES`]
/// (32 KiB in all), no more than one body piece of a large message may be (up to a read,
/// 64 KiB): the channel holds no more octets than with one frame per command.
const ROOM_QUEUE: usize = 256;

/// The largest body of a frame a reader holds back to send with others ([`Conn::send_to_room`]):
/// chat messages, not the chunks of a large one (those go one per command, paced by the
/// channel as before).
const BATCH_FRAME_BYTES: usize = 1024;

/// Frames a connection reader hands to rooms from its read buffer before it lets the other
/// tasks run (tokio's cooperative budget would stop it after 128 channel sends: with a whole
/// frame in one command, [`Cmd::Whole`], that is 128 frames, and the room's copies of the first
/// wait for all of them).
const FRAMES_PER_TURN: usize = 32;

/// The reader side of one connection.
struct Conn {
    shared: Arc<Shared>,
    id: ConnId,
    queue: WriteQueue,
    /// When a room last queued something for this connection, in milliseconds from
    /// [`Shared::epoch`]: traffic toward the connection keeps it from being idle
    /// ([`MixerConfig::idle_timeout`]: nothing passes either way), as traffic from it does.
    queued_at: Arc<AtomicU64>,
    /// Sessions this connection has carried, by session-id (bound here), with their
    /// [`SessionRef::alive`] flags.
    ///
    /// Hashed with FxHash, not SipHash (a lookup per frame): a peer cannot choose its keys,
    /// which are session-ids the mixer drew at random (only those are put in).
    seen: IdMap<ByteString, (Arc<RoomRef>, SessionKey, Arc<AtomicBool>)>,
    /// Where the frame being read goes: its room and session, or nowhere (`None`).
    current: Option<(Arc<RoomRef>, SessionKey)>,
    /// The first From-Path URI and the To-Path URI of the last request read: where to answer a
    /// frame whose head could not be decoded.
    last: Option<(MsrpUri, MsrpUri)>,
    /// Commands for `batch_room` not sent yet ([`Conn::send_to_room`]).
    batch: Vec<Cmd>,
    batch_room: Option<Arc<RoomRef>>,
}

impl Conn {
    async fn run<R: tokio::io::AsyncRead + Unpin>(mut self, mut reader: EventReader<R>) {
        let mut stop = self.shared.shutdown.subscribe();
        let idle = self.shared.cfg.idle_timeout;
        let mut read_at = Instant::now();
        // When the octets being decoded were read: the start of their frames' fan-out latency
        // (one clock reading per read, not per frame).
        let mut arrived = read_at;
        // Events handled from the read buffer since `read_at` was taken.
        let mut buffered = false;
        // The futures that wake the reader for something else than input live across the loop
        // (as in the relay's reader): set up once, not per event. Each set-up registered a
        // timer in tokio's wheel and a waiter on the shutdown channel, and its drop took them
        // out again; a 200 from a participant is two events. The timer is armed at a deadline
        // no later than the real one and moved on only when it fires early (the real deadline
        // moves on with every read and every copy queued).
        let stopped = stop.wait_for(|s| *s);
        let timer = tokio::time::sleep_until((read_at + idle).into());
        tokio::pin!(stopped, timer);
        // Frames handed to rooms since this task last let others run.
        let mut frames = 0;
        loop {
            // Events already buffered are handled first, without waiting or polling the
            // other futures.
            if let Some(item) = reader.next_buffered() {
                buffered = true;
                match item {
                    Err(_) => break,
                    Ok(Err(e)) => self.on_decode_error(e).await,
                    Ok(Ok(ev)) => {
                        let frame = matches!(ev, Event::Head { .. } | Event::RepeatedSend(_));
                        let tail = reader.take_tail();
                        if !self.on_event(ev, tail, arrived).await {
                            break;
                        }
                        frames += usize::from(frame);
                        if frames == FRAMES_PER_TURN {
                            // The room runs on what it has been given (and its copies go
                            // out) before more of a long burst is read.
                            frames = 0;
                            self.flush_batch().await;
                            tokio::task::yield_now().await;
                        }
                    }
                }
                continue;
            }
            if buffered {
                // The idle timer runs from the last event handled.
                read_at = Instant::now();
                buffered = false;
            }
            // It waits for input (or is about to read it): a turn of its own, and what it
            // decoded goes to the rooms first.
            frames = 0;
            self.flush_batch().await;
            let queued_at =
                self.shared.epoch + Duration::from_millis(self.queued_at.load(Ordering::Relaxed));
            let deadline = tokio::time::Instant::from_std(read_at.max(queued_at) + idle);
            if timer.is_elapsed() || deadline < timer.deadline() {
                timer.as_mut().reset(deadline);
            }
            // Not `biased`: a connection that never pauses must not keep the shutdown branch
            // from being polled.
            let item = tokio::select! {
                item = reader.next() => item,
                _ = &mut timer => {
                    let queued_at = self.shared.epoch
                        + Duration::from_millis(self.queued_at.load(Ordering::Relaxed));
                    if read_at.max(queued_at) + idle > Instant::now() {
                        // Armed for an earlier deadline, or something was queued for it
                        // meanwhile: not idle. The timer is moved on above.
                        continue;
                    }
                    break;
                }
                _ = &mut stopped => break,
            };
            read_at = Instant::now();
            arrived = read_at;
            match item {
                None | Some(Err(_)) => break,
                Some(Ok(Err(e))) => self.on_decode_error(e).await,
                Some(Ok(Ok(ev))) => {
                    let tail = reader.take_tail();
                    if !self.on_event(ev, tail, arrived).await {
                        break;
                    }
                }
            }
        }
        // RFC 7701: a participant whose connection is lost leaves.
        self.abort_current().await;
        self.flush_batch().await;
        let mut rooms: Vec<Arc<RoomRef>> = Vec::new();
        {
            let mut sessions = self
                .shared
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            sessions.retain(|id, s| {
                if s.bound == Some(self.id) {
                    s.kill();
                    self.shared.ended(id);
                    if !rooms.iter().any(|r| Arc::ptr_eq(r, &s.room)) {
                        rooms.push(s.room.clone());
                    }
                    false
                } else {
                    true
                }
            });
        }
        for r in rooms {
            let _ = r.tx.send(Cmd::Closed { conn: self.id }).await;
        }
        self.queue.close();
    }

    /// Ends the frame being read with `#` for its room (its sender stopped inside it, or it
    /// could not be decoded, RFC 4975 §7.1).
    async fn abort_current(&mut self) {
        if let Some((room, key)) = self.current.take() {
            let end = Cmd::End {
                key,
                flag: Flag::Abort,
                at: Instant::now(),
            };
            self.send_to_room(&room, end).await;
        }
    }

    /// Sends `cmd` to `room` after the commands before it. Whole frames with a short body
    /// ([`BATCH_FRAME_BYTES`]: chat messages) are held and go over the room's channel together
    /// ([`Cmd::Batch`]), when a command for another room or any other command comes, when
    /// [`FRAMES_PER_TURN`] are held, or when the reader is about to wait, yield or stop
    /// ([`Conn::flush_batch`]). A channel send per message (its permit, its wake-up, the room's
    /// receive) was 3% of the mixer's instructions at N = 10.
    async fn send_to_room(&mut self, room: &Arc<RoomRef>, cmd: Cmd) {
        let held = matches!(&cmd, Cmd::Whole { piece, .. } if piece.len() <= BATCH_FRAME_BYTES);
        let other_room = self
            .batch_room
            .as_ref()
            .is_some_and(|r| !Arc::ptr_eq(r, room));
        if !held || other_room {
            self.flush_batch().await;
        }
        if !held {
            let _ = room.tx.send(cmd).await;
            return;
        }
        if self.batch_room.is_none() {
            self.batch_room = Some(room.clone());
        }
        self.batch.push(cmd);
        if self.batch.len() >= FRAMES_PER_TURN {
            self.flush_batch().await;
        }
    }

    /// Sends the held commands ([`Conn::send_to_room`]): one alone as itself, several as a batch.
    /// A room that is gone drops them, as it would have dropped each.
    async fn flush_batch(&mut self) {
        let Some(room) = self.batch_room.take() else {
            return;
        };
        let cmd = if self.batch.len() == 1 {
            // The list keeps its room for the next command.
            self.batch.pop().expect("one command")
        } else {
            Cmd::Batch(std::mem::replace(
                &mut self.batch,
                Vec::with_capacity(FRAMES_PER_TURN),
            ))
        };
        let _ = room.tx.send(cmd).await;
    }

    /// Hands a decoded event to its room. `tail`: the body and end-line of the SEND `ev` when
    /// the decoder read them with its head ([`DecoderConfig::whole_repeats`]): the frame goes
    /// to its room as one command. `at`: when its octets were read. `false`: close the
    /// connection.
    async fn on_event(&mut self, ev: Event, tail: Option<Tail>, at: Instant) -> bool {
        let head = match ev {
            // Responses to the copies are dropped (7701-023); the decoder skips the bodiless
            // 2xx ones without an event, so this one only comes if it is configured to.
            Event::BriefSuccess(_) => {
                self.current = None;
                return true;
            }
            // A SEND that repeats the last one's header block: handed on as it is (the room
            // builds its head only if it needs it whole).
            Event::RepeatedSend(r) => ReqHead::from(r),
            Event::Head { head, .. } => {
                if head.status().is_some() {
                    // Responses to the copies: dropped (7701-023).
                    self.current = None;
                    return true;
                }
                ReqHead::from(head)
            }
            Event::Body(piece) => {
                if let Some((room, key)) = self.current.take() {
                    self.send_to_room(&room, Cmd::Body { key, piece, at }).await;
                    self.current = Some((room, key));
                }
                return true;
            }
            Event::End(flag) => {
                if let Some((room, key)) = self.current.take() {
                    self.send_to_room(&room, Cmd::End { key, flag, at }).await;
                }
                return true;
            }
        };
        self.current = None;
        let shape = head.shape();
        // Every request of a session has the same paths: compared, not copied, each time.
        if let (Some(f), Some(t)) = (shape.from_path().first(), shape.to_path().first()) {
            if self
                .last
                .as_ref()
                .is_none_or(|(lf, lt)| lf.as_str() != f.as_str() || lt.as_str() != t.as_str())
            {
                self.last = Some((f.clone(), t.clone()));
            }
        }
        match self.route(head.shape()).await {
            Ok((room, key)) => {
                let cmd = match tail {
                    Some(t) => Cmd::Whole {
                        key,
                        head,
                        piece: t.body,
                        flag: t.flag,
                        at,
                    },
                    None => Cmd::Head { key, head },
                };
                let whole = matches!(cmd, Cmd::Whole { .. });
                self.send_to_room(&room, cmd).await;
                if !whole {
                    self.current = Some((room, key));
                }
            }
            Err(status) => self.answer(&head.to_head(), status),
        }
        true
    }

    /// The session a request is for (RFC 4975 §7.3, 4975-063): its To-Path must be one URI of
    /// ours, naming a session the mixer has; the first request binds the session to this
    /// connection (RFC 4975 §5.4); a session bound to another connection is 506 (4975-066).
    /// A session removed since this connection cached it is 481.
    async fn route(&mut self, head: &Head) -> Result<(Arc<RoomRef>, SessionKey), StatusCode> {
        let [to] = head.to_path() else {
            return Err(StatusCode::NO_SUCH_SESSION);
        };
        let Some(sid) = to.session_id() else {
            return Err(StatusCode::NO_SUCH_SESSION);
        };
        if let Some((room, key, alive)) = self.seen.get(sid) {
            if alive.load(Ordering::Acquire) {
                return Ok((room.clone(), *key));
            }
            self.seen.remove(sid);
            return Err(StatusCode::NO_SUCH_SESSION);
        }
        let sid = ByteString::from(sid.to_owned());
        let s = {
            let mut sessions = self
                .shared
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let s = sessions.get_mut(&sid).ok_or(StatusCode::NO_SUCH_SESSION)?;
            match s.bound {
                Some(c) if c != self.id => return Err(StatusCode::SESSION_IN_USE),
                Some(_) => {}
                None => s.bound = Some(self.id),
            }
            s.clone()
        };
        // First request on this connection: bind (a no-op if the mixer bound it when it
        // connected out). Awaited, not `try_send`: a bind lost to a full channel would leave
        // the session unbound (no answers, no messages) until the bind timeout removed it; the
        // request's head follows on the same channel, after it (and after the commands held
        // before it).
        self.flush_batch().await;
        if s.room
            .tx
            .send(Cmd::Bind {
                key: s.key,
                conn: self.id,
                queue: self.queue.clone(),
                queued_at: self.queued_at.clone(),
            })
            .await
            .is_err()
        {
            return Err(StatusCode::NO_SUCH_SESSION);
        }
        self.seen
            .insert(sid, (s.room.clone(), s.key, s.alive.clone()));
        Ok((s.room, s.key))
    }

    /// Answers a request the mixer cannot route (when an answer is owed, RFC 4975 §7.2), from
    /// the URI it was sent to.
    fn answer(&self, head: &Head, status: StatusCode) {
        let Some(local) = head.to_path().last() else {
            return;
        };
        if let Some(s) = msrp::report::owed(head, status).response {
            let resp = msrp::report::response(head, s, None, local);
            let _ = self
                .queue
                .try_send_control(Outgoing::chunk(&resp, None, Flag::Last));
        }
    }

    /// RFC 4975 §10 (4975-065): a frame that can be skipped gets 400 (413 for an oversized
    /// control body, 424 for a NICKNAME whose Use-Nickname does not parse, RFC 7701 §7.1); the
    /// rest of it is skipped. A fatal error ends the stream (the reader returns an error next).
    async fn on_decode_error(&mut self, e: DecodeError) {
        self.abort_current().await;
        let (true, Some(tid)) = (e.wants_response(), e.tid) else {
            return;
        };
        let Some((to, local)) = self.last.clone() else {
            return;
        };
        let status = crate::nickname::decode_error_status(&e).unwrap_or_else(|| e.status());
        let resp = Head::response(status, tid, msrp::path![to], msrp::path![local]);
        let _ = self
            .queue
            .try_send_control(Outgoing::chunk(&resp, None, Flag::Last));
    }
}

/// Marks a copy that failed in [`OpenMsg::to`]: its recipient gets no more of the message.
/// The room numbers sessions from 1 up; none is this.
const FAILED: SessionKey = SessionKey::MAX;

/// Body octets the room task holds back and joins before writing them as one frame, so a
/// message that arrived in several short reads is not cut into tiny chunks.
const COALESCE: usize = 16 * 1024;

/// A message whose chunk is being distributed.
struct OpenMsg {
    /// The recipients (each copy's transaction id is the frame's stem and its recipient's
    /// [`Suffix`]); [`FAILED`] for a copy that failed. The room's list, kept as it came (no
    /// copy per message).
    to: Vec<SessionKey>,
    /// The switch's Message-ID for the message, the same on every copy.
    message_id: Ident,
    /// The octets not written yet (they go with `+` once [`COALESCE`] are held, or with the
    /// end-line's flag).
    held: Option<Bytes>,
    /// Byte-Range start of the held piece (or of the next one).
    start: u64,
    total: Option<u64>,
}

/// A bound session's output.
struct Output {
    conn: ConnId,
    queue: WriteQueue,
    /// What follows the transaction-id stem in every copy the switch sends on the session: its
    /// [`Suffix`], ` SEND` CRLF, then the `To-Path` and `From-Path` lines (RFC 4975 §7.1.1: the
    /// participant's `a=path`, our session URI). Written once, at bind.
    lead: Bytes,
    /// How its copies' end-lines end ([`Suffix::end_line`]: its suffix to a frame's
    /// transaction-id stem, which `lead` starts with, the flag's place, CRLF) and the length.
    /// Octets, not a `u128`: that would align the whole entry of the outputs map to 16
    /// ([`end_with`] makes the number where it is used).
    end: [u8; END_OCTETS],
    end_len: usize,
    /// The connection's [`Conn::queued_at`], stamped when something is queued for it.
    queued_at: Arc<AtomicU64>,
    /// Copies in a row it could not take.
    failures: u32,
    /// Octets of its last batch of copies: a batch's buffer starts at this size, so that it
    /// is not grown (reallocated and copied) copy by copy while the batch fills it.
    batch_hint: usize,
    /// The copies held for it in this batch, kept between batches (emptied, not dropped).
    /// Kept here rather than in a map of its own (a copy costs one lookup, not two), and boxed
    /// on its first copy: an idle participant carries a null pointer, not the whole state.
    pending: Option<Box<Pending>>,
    /// Responses and REPORTs to the session in this batch, in order, queued as one item on its
    /// control lane when the batch is ([`Task::flush_one`]): one item, not one per response.
    /// Handed over whole (an idle session keeps no buffer).
    control: BytesMut,
}

impl Output {
    /// Nothing held for the session: it is not in [`Task::dirty`].
    fn is_idle(&self) -> bool {
        self.control.is_empty() && self.pending.as_ref().is_none_or(|p| p.is_idle())
    }
}

/// Commands a room task handles before it writes the copies they produced: copies for one
/// recipient are queued as one item (one wake-up of its writer) per batch.
const BATCH_CMDS: usize = 64;

/// Octets of copies held for one recipient before they are queued even though the batch goes
/// on.
const BATCH_BYTES: usize = 64 * 1024;

/// The copies held for one recipient during a batch of commands.
#[derive(Default)]
struct Pending {
    /// What is held, but for the frames being written into `buf`.
    item: Outgoing,
    /// `item`'s length, kept (summing its segments was a loop per copy written).
    item_len: usize,
    /// The frames being written: heads, short bodies and end-lines back to back, so that the
    /// copies for one recipient in a batch share one buffer (one reference count to take and
    /// drop, not three per copy).
    buf: BytesMut,
    /// The messages they belong to, each once.
    outs: Vec<OutId>,
    /// Copies whose last frame is in `item` (whole deliveries once queued).
    wholes: u64,
    /// Octets written into `buf` in this batch (heads, short bodies, end-lines).
    buffered: usize,
}

impl Pending {
    /// Octets held on the data lane.
    fn len(&self) -> usize {
        self.item_len + self.buf.len()
    }

    /// Nothing held for the data lane.
    fn is_idle(&self) -> bool {
        self.outs.is_empty() && self.len() == 0
    }

    /// Appends a segment to `item`.
    fn push_item(&mut self, seg: Bytes) {
        self.item_len += seg.len();
        self.item.push(seg);
    }

    /// What `buf` holds, as a segment of `item`.
    fn seal_buf(&mut self) {
        let seg = self.buf.split().freeze();
        self.push_item(seg);
    }

    /// Everything held, as one item; `self` is left empty (its `outs` keeps its capacity for
    /// the next batch).
    fn take(&mut self) -> Outgoing {
        if !self.buf.is_empty() {
            self.seal_buf();
        }
        self.wholes = 0;
        self.buffered = 0;
        self.item_len = 0;
        std::mem::take(&mut self.item)
    }
}

/// Bodies up to this many octets are copied into a recipient's [`Pending`] buffer; longer ones
/// are shared (one `Bytes` per copy, no copy of the octets).
const COPY_BODY_BELOW: usize = 2048;

/// A room task's state: the room, each bound session's output, the chunks being copied, and
/// the copies not queued yet.
struct Task {
    shared: Arc<Shared>,
    name: String,
    room: Room,
    metrics: Arc<Metrics>,
    outputs: IdMap<SessionKey, Output>,
    open: IdMap<OutId, OpenMsg>,
    /// The sessions whose [`Output::pending`] holds copies: what [`Task::flush`] queues.
    dirty: Vec<SessionKey>,
    unbound: IdMap<SessionKey, Instant>,
    actions: Vec<Action>,
    /// An empty list with room, swapped with `actions` ([`Task::run_actions`]).
    spare: Vec<Action>,
    dropped: Vec<SessionKey>,
    ids: IdGenerator,
    participants: i64,
    sessions: i64,
    /// The room was deleted ([`Cmd::Close`]): the task ends after this batch.
    closed: bool,
    /// Each session's span (its id and participant), for the events logged about it.
    spans: IdMap<SessionKey, tracing::Span>,
    /// What the copies of the frame being written share ([`Task::emit`]), kept between frames.
    frame: BytesMut,
}

/// The task that owns a room. It takes a command (or a timer), then whatever further commands
/// are already queued (up to 64, `BATCH_CMDS`), carrying out the room's actions for each; the
/// copies they produce are queued per recipient once the batch is done.
async fn room_task(shared: Arc<Shared>, name: String, room: Room, mut rx: mpsc::Receiver<Cmd>) {
    let mut t = Task {
        metrics: shared.metrics.clone(),
        shared,
        name,
        room,
        outputs: IdMap::default(),
        open: IdMap::default(),
        dirty: Vec::new(),
        unbound: IdMap::default(),
        actions: Vec::new(),
        spare: Vec::new(),
        dropped: Vec::new(),
        ids: IdGenerator::new(),
        participants: 0,
        sessions: 0,
        closed: false,
        spans: IdMap::default(),
        frame: BytesMut::with_capacity(512),
    };
    let bind_timeout = t.shared.cfg.bind_timeout;
    let mut latencies = Vec::new();
    // Commands handled since the task last let the others run.
    let mut since_yield = 0;
    loop {
        let deadline = t
            .room
            .next_deadline()
            .into_iter()
            .chain(t.unbound.values().map(|u| *u + bind_timeout))
            .min();
        let first = tokio::select! {
            cmd = rx.recv() => match cmd { Some(c) => Some(c), None => return },
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            } => None,
        };
        let now = Instant::now();
        let stamp = t.shared.stamp(now);
        let mut cmd = Some(first);
        let mut handled = 0;
        while let Some(c) = cmd.take() {
            handled += t.step(c, now, stamp, &mut latencies);
            if handled < BATCH_CMDS {
                if let Ok(c) = rx.try_recv() {
                    cmd = Some(Some(c));
                }
            }
        }
        // Queue the copies; failures give REPORTs and may drop sessions, whose consequences
        // (their own messages aborted) are copies again.
        loop {
            t.flush(stamp);
            if t.actions.is_empty() && t.dropped.is_empty() {
                break;
            }
            t.run_actions(stamp);
        }
        count(
            &t.metrics,
            &mut t.room,
            &mut t.participants,
            &mut t.sessions,
        );
        // One clock reading for the batch's messages.
        let done = Instant::now();
        for at in latencies.drain(..) {
            let latency = done.saturating_duration_since(at);
            t.metrics.fanout_latency.observe(latency.as_secs_f64());
        }
        if t.closed {
            t.metrics.rooms.dec();
            return;
        }
        // The writers (and readers) run after at most a channel's worth of commands: with
        // batches the channel holds more of them than that, and a room that kept receiving
        // would fill its recipients' queues before any writer ran.
        since_yield += handled;
        if since_yield >= ROOM_QUEUE {
            since_yield = 0;
            tokio::task::yield_now().await;
        }
    }
}

impl Task {
    /// Handles one command (`None`: a deadline passed), or each of a [`Cmd::Batch`] in turn,
    /// and carries out what the room decided after each; the time a frame's octets were read
    /// goes to `latencies`. Returns the number of commands handled.
    fn step(
        &mut self,
        cmd: Option<Cmd>,
        now: Instant,
        stamp: u64,
        latencies: &mut Vec<Instant>,
    ) -> usize {
        if let Some(Cmd::Batch(cmds)) = cmd {
            return cmds
                .into_iter()
                .map(|c| self.step(Some(c), now, stamp, latencies))
                .sum();
        }
        if let Some(at) = self.handle(cmd, now) {
            latencies.push(at);
        }
        self.run_actions(stamp);
        1
    }

    /// Hands one command (`None`: a timer) to the room; returns when the reader had the piece
    /// it carries, if any (fan-out latency).
    fn handle(&mut self, cmd: Option<Cmd>, now: Instant) -> Option<Instant> {
        let bind_timeout = self.shared.cfg.bind_timeout;
        let actions = &mut self.actions;
        match cmd {
            None => {
                self.room.poll(now, actions);
                let late: Vec<SessionKey> = self
                    .unbound
                    .iter()
                    .filter(|(_, t)| **t + bind_timeout <= now)
                    .map(|(k, _)| *k)
                    .collect();
                for k in late {
                    in_session(&self.spans, k, || {
                        tracing::info!("not bound in time: removed")
                    });
                    self.spans.remove(&k);
                    self.metrics
                        .dropped_sessions
                        .with_label_values(&["bind_timeout"])
                        .inc();
                    self.unbound.remove(&k);
                    self.room.leave(k, actions);
                    forget_session(&self.shared, &self.name, k);
                }
            }
            Some(Cmd::Join {
                sid,
                participant,
                terms,
                reply,
            }) => {
                let span = tracing::info_span!("session", id = %sid, participant = %participant);
                let r = self.room.join(participant, *terms);
                match &r {
                    Ok(k) => {
                        self.unbound.insert(*k, now);
                        span.in_scope(|| tracing::info!("joined"));
                        self.spans.insert(*k, span);
                    }
                    Err(e) => span.in_scope(|| tracing::info!(refused = %e, "not joined")),
                }
                let _ = reply.send(r);
            }
            Some(Cmd::Bind {
                key,
                conn,
                queue,
                queued_at,
            }) => {
                // Not for a session removed meanwhile (left, or its bind timed out).
                let first = self.unbound.remove(&key).is_some() || !self.outputs.contains_key(&key);
                if let (true, Some(terms)) = (first, self.room.terms(key)) {
                    let free = queue.capacity().saturating_sub(queue.queued_bytes());
                    let sfx = Suffix::of(key);
                    let (end, end_len) = sfx.end_line();
                    let mut lead = BytesMut::with_capacity(160);
                    lead.extend_from_slice(sfx.as_bytes());
                    lead.extend_from_slice(b" SEND\r\n");
                    Header::ToPath(terms.peer_path.iter().cloned().collect()).write(&mut lead);
                    Header::FromPath(msrp::path![terms.local.clone()]).write(&mut lead);
                    self.outputs.insert(
                        key,
                        Output {
                            conn,
                            queue,
                            lead: lead.freeze(),
                            end,
                            end_len,
                            queued_at,
                            failures: 0,
                            batch_hint: 0,
                            pending: None,
                            control: BytesMut::new(),
                        },
                    );
                    self.room.bind(key, actions);
                    in_session(&self.spans, key, || {
                        tracing::info!(conn = conn.0, "session bound")
                    });
                    fit_history(actions, key, free);
                }
            }
            Some(Cmd::Head { key, head }) => self.room.request(key, head, now, actions),
            Some(Cmd::Whole {
                key,
                head,
                piece,
                flag,
                at,
            }) => {
                // As Head, Body (when there is one) and End would be.
                let _ = self.room.whole(key, head, piece, flag, now, actions);
                return Some(at);
            }
            Some(Cmd::Body { key, piece, at }) => {
                self.room.body(key, piece, now, actions);
                return Some(at);
            }
            Some(Cmd::End { key, flag, at }) => {
                self.room.end(key, flag, now, actions);
                return Some(at);
            }
            Some(Cmd::Leave { key }) => {
                in_session(&self.spans, key, || tracing::info!("left"));
                self.spans.remove(&key);
                self.unbound.remove(&key);
                self.outputs.remove(&key);
                self.room.leave(key, actions);
            }
            Some(Cmd::Closed { conn }) => {
                let gone: Vec<SessionKey> = self
                    .outputs
                    .iter()
                    .filter(|(_, o)| o.conn == conn)
                    .map(|(k, _)| *k)
                    .collect();
                for k in gone {
                    in_session(&self.spans, k, || {
                        tracing::info!("its connection closed: left")
                    });
                    self.spans.remove(&k);
                    self.outputs.remove(&k);
                    self.room.leave(k, actions);
                }
            }
            Some(Cmd::Close) => self.closed = true,
            // `step`, handle's only caller, takes batches apart.
            Some(Cmd::Batch(_)) => unreachable!("Task::step hands batches over one by one"),
            Some(Cmd::Info { reply }) => {
                let _ = reply.send(RoomInfo {
                    name: self.name.clone(),
                    uri: self.room.uri().to_string(),
                    participants: self
                        .room
                        .roster()
                        .into_iter()
                        .map(|(u, n)| (u.to_string(), n))
                        .collect(),
                    sessions: self.room.session_count(),
                });
            }
        }
        None
    }

    /// Carries out what the room decided: responses and REPORTs are queued at once, copies
    /// are written into each recipient's [`Output::pending`]; sessions dropped as too slow
    /// leave the room.
    fn run_actions(&mut self, stamp: u64) {
        while !self.actions.is_empty() || !self.dropped.is_empty() {
            // Taken (what they cause goes to `self.actions` meanwhile), and given back empty:
            // the two lists keep their room from one command to the next.
            let mut acts = std::mem::replace(&mut self.actions, std::mem::take(&mut self.spare));
            // A message switched whole (`Room::whole`): its Open, Body and End come in a row and
            // its copies are written from here, without entering `open`.
            let mut whole: Option<(OutId, OpenMsg)> = None;
            for a in acts.drain(..) {
                match (a, &mut whole) {
                    (Action::Open { out, copies }, _) => {
                        self.settle(&mut whole);
                        whole = Some((out, open_msg(copies)));
                    }
                    (Action::Body { out, piece }, Some((o, m)))
                        if *o == out && m.held.is_none() =>
                    {
                        m.held = Some(piece);
                    }
                    (Action::End { out, flag }, Some((o, _))) if *o == out => {
                        if let Some((o, mut m)) = whole.take() {
                            let last = m.held.take().unwrap_or_default();
                            let full = self.write_copies(o, &mut m, last, flag);
                            self.room.recycle_recipients(m.to);
                            for to in full {
                                self.flush_one(to, stamp);
                            }
                        }
                    }
                    (a, _) => {
                        self.settle(&mut whole);
                        self.act(a, stamp);
                    }
                }
            }
            self.settle(&mut whole);
            self.spare = acts;
            for k in std::mem::take(&mut self.dropped) {
                in_session(&self.spans, k, || {
                    tracing::warn!("dropped: its queue stayed full")
                });
                self.spans.remove(&k);
                self.metrics
                    .dropped_sessions
                    .with_label_values(&["slow"])
                    .inc();
                self.outputs.remove(&k);
                self.room.leave(k, &mut self.actions);
                forget_session(&self.shared, &self.name, k);
            }
        }
    }

    /// A message [`Task::run_actions`] was writing whole that turned out not to be: it joins
    /// [`Task::open`].
    fn settle(&mut self, whole: &mut Option<(OutId, OpenMsg)>) {
        if let Some((o, m)) = whole.take() {
            self.open.insert(o, m);
        }
    }

    /// Carries out one action.
    fn act(&mut self, a: Action, stamp: u64) {
        match a {
            Action::Respond { to, response } => {
                if let Some(p) = self.control_of(to) {
                    response.write(p);
                }
            }
            Action::Send { to, head, body } => {
                // REPORTs (with or without the CPIM wrapper of a private message,
                // 7701-022) go on the control lane, after the responses before them,
                // so that a sender whose data lane is full still gets them; history
                // messages on the data lane.
                if head.method() == Some(&Method::Report) {
                    if let Some(p) = self.control_of(to) {
                        encode::frame(&head, body.as_deref(), Flag::Last, p);
                    }
                } else if let Some(o) = self.outputs.get(&to) {
                    if o.queue
                        .try_send(Outgoing::chunk(&head, body, Flag::Last))
                        .is_ok()
                    {
                        o.queued_at.store(stamp, Ordering::Relaxed);
                        // A history message replayed to a session that just bound is
                        // a delivery like a fanned-out copy.
                        self.metrics.deliveries.inc();
                    }
                }
            }
            Action::Open { out, copies } => {
                self.open.insert(out, open_msg(copies));
            }
            Action::Body { out, piece } => {
                let Some(m) = self.open.get_mut(&out) else {
                    return;
                };
                let prev = match m.held.take() {
                    None => {
                        m.held = Some(piece);
                        None
                    }
                    // Short pieces are joined (one copy), so a small message read in
                    // two reads is still one frame to every recipient.
                    Some(h) if h.len() + piece.len() <= COALESCE => {
                        let mut b = BytesMut::with_capacity(h.len() + piece.len());
                        b.extend_from_slice(&h);
                        b.extend_from_slice(&piece);
                        m.held = Some(b.freeze());
                        None
                    }
                    Some(h) => {
                        m.held = Some(piece);
                        Some(h)
                    }
                };
                if let Some(prev) = prev {
                    self.emit(out, prev, Flag::More, false, stamp);
                }
            }
            Action::End { out, flag } => {
                let last = match self.open.get_mut(&out) {
                    Some(m) => m.held.take().unwrap_or_default(),
                    None => return,
                };
                self.emit(out, last, flag, true, stamp);
            }
        }
    }

    /// The buffer of what goes on `to`'s control lane in this batch (`None`: the session has
    /// no output); marks the session dirty.
    fn control_of(&mut self, to: SessionKey) -> Option<&mut BytesMut> {
        let o = self.outputs.get_mut(&to)?;
        if o.is_idle() {
            self.dirty.push(to);
        }
        Some(&mut o.control)
    }

    /// Writes `piece` as one chunk for every live copy of message `out`, ended with `flag`
    /// (RFC 4975 §7.1): `MSRP tid SEND`, the recipient's path lines, the Message-ID,
    /// `Byte-Range: start-end/total` and `Content-Type: message/cpim` lines, the body and the
    /// end-line, into the recipient's [`Pending`] item (queued by [`Task::flush`]).
    ///
    /// What the copies share is written once into [`Task::frame`]; a copy is then three
    /// appends and a few octets: `MSRP` and the stem, its session's [`Output::lead`] (the
    /// session's suffix to the stem, the method and the paths), the shared lines (with a short
    /// body and the end-line up to the stem), then the suffix, the flag and CRLF.
    ///
    /// `close`: the chunk ends here ([`Action::End`]) and `out` leaves [`Task::open`].
    fn emit(&mut self, out: OutId, piece: Bytes, flag: Flag, close: bool, stamp: u64) {
        let Some(mut m) = self.open.remove(&out) else {
            return;
        };
        let full = self.write_copies(out, &mut m, piece, flag);
        if close {
            self.room.recycle_recipients(m.to);
        } else {
            self.open.insert(out, m);
        }
        // After `m` is back: a copy failing here is marked in it (`flush_one`).
        for to in full {
            self.flush_one(to, stamp);
        }
    }

    /// [`Task::emit`]'s copies of `piece` for message `out` (`m`), written into each
    /// recipient's [`Pending`]; returns the recipients whose held copies reached
    /// [`BATCH_BYTES`] (to be queued).
    fn write_copies(
        &mut self,
        out: OutId,
        m: &mut OpenMsg,
        piece: Bytes,
        flag: Flag,
    ) -> Vec<SessionKey> {
        let n = piece.len() as u64;
        let range = ByteRange {
            start: m.start,
            end: Some(m.start + n - 1),
            total: m.total,
        };
        m.start += n;
        let short = piece.len() < COPY_BODY_BELOW;
        let stem = tid_stem(&mut self.ids, &piece);
        // `MSRP stem` | Message-ID, Byte-Range, Content-Type, blank line, a short body and
        // `CRLF ------- stem` (a long body goes between the blank line and the end-line).
        let f = &mut self.frame;
        f.clear();
        f.extend_from_slice(b"MSRP ");
        f.extend_from_slice(stem.as_bytes());
        let lines_at = f.len();
        // The lines written as they are (each `Header::write` looked its name up and appended
        // four pieces).
        f.extend_from_slice(b"Message-ID: ");
        f.extend_from_slice(m.message_id.as_bytes());
        f.extend_from_slice(b"\r\nByte-Range: ");
        range.write_to(f);
        f.extend_from_slice(b"\r\nContent-Type: message/cpim\r\n\r\n");
        if short {
            f.extend_from_slice(&piece);
        }
        let end_at = f.len() - lines_at;
        f.extend_from_slice(b"\r\n-------");
        f.extend_from_slice(stem.as_bytes());
        let (lead, rest) = f.split_at(lines_at);
        let mut full = Vec::new();
        for to in m.to.iter_mut().filter(|c| **c != FAILED) {
            let Some(o) = self.outputs.get_mut(to) else {
                *to = FAILED;
                self.metrics
                    .delivery_failures
                    .with_label_values(&["gone"])
                    .inc();
                continue;
            };
            if o.is_idle() {
                self.dirty.push(*to);
            }
            let p = o.pending.get_or_insert_with(Box::default);
            // The session's suffix to the stem: in its lead, and again after the end-line's
            // stem, with the flag and CRLF.
            let need = lead.len() + o.lead.len() + rest.len() + END_OCTETS;
            if p.buf.capacity() - p.buf.len() < need {
                // A fresh batch starts at the size of the last one (up to BATCH_BYTES and one
                // copy more: the batch is queued once it holds BATCH_BYTES).
                let hint = if p.len() == 0 {
                    o.batch_hint.min(BATCH_BYTES + need)
                } else {
                    0
                };
                // What the buffer holds goes out as a segment of its own (a buffer that grew
                // would copy it), and the next one is as large as all held so far: a batch
                // has few segments.
                if !p.buf.is_empty() {
                    p.seal_buf();
                }
                p.buf.reserve(need.max(hint).max(p.len()).max(4096));
            }
            let start = p.buf.len();
            p.buf.extend_from_slice(lead);
            p.buf.extend_from_slice(&o.lead);
            if short {
                p.buf.extend_from_slice(rest);
            } else {
                // A long body is not copied: what is written so far goes as one segment, the
                // body as another.
                p.buf.extend_from_slice(&rest[..end_at]);
                p.buffered += p.buf.len() - start;
                p.seal_buf();
                p.push_item(piece.clone());
                p.buf.extend_from_slice(&rest[end_at..]);
            }
            // The suffix, the flag and CRLF: written as a fixed END_OCTETS (a copy of known
            // size, no `memcpy` call; octet by octet they were four capacity checks), then cut
            // to their length.
            let at = p.buf.len();
            p.buf.extend_from_slice(&end_with(o.end, o.end_len, flag));
            p.buf.truncate(at + o.end_len);
            // What went into `buf` for this copy: all of it, or the end-line after a split.
            p.buffered += p.buf.len() - if short { start } else { 0 };
            if p.outs.last() != Some(&out) {
                p.outs.push(out);
            }
            if flag == Flag::Last {
                p.wholes += 1;
            }
            if p.len() >= BATCH_BYTES {
                full.push(*to);
            }
        }
        full
    }

    /// Queues every recipient's held copies (those of the sessions in `dirty`).
    fn flush(&mut self, stamp: u64) {
        // flush_one marks nothing dirty: the list is empty again after this, and keeps its
        // capacity.
        let mut keys = std::mem::take(&mut self.dirty);
        for &to in &keys {
            self.flush_one(to, stamp);
        }
        keys.clear();
        self.dirty = keys;
    }

    /// Queues `to`'s held copies as one item on its data lane. If it does not fit (the
    /// participant is too slow) or the connection is gone, each message in it fails for `to`
    /// ([`Room::copy_failed`]: a failure REPORT when asked; no more of those messages for it),
    /// and a session failing [`MixerConfig::max_failed_copies`] times in a row is dropped.
    fn flush_one(&mut self, to: SessionKey, stamp: u64) {
        let Some(o) = self.outputs.get_mut(&to) else {
            return;
        };
        if !o.control.is_empty() {
            // Responses and REPORTs: lost only with the connection, or when the control lane
            // is full (a participant that reads nothing at all; it is dropped for its data).
            let item = Outgoing::from(std::mem::take(&mut o.control).freeze());
            if o.queue.try_send_control(item).is_ok() {
                o.queued_at.store(stamp, Ordering::Relaxed);
            }
        }
        let Some(p) = o.pending.as_mut() else {
            return;
        };
        if p.len() == 0 {
            p.outs.clear();
            return;
        }
        let wholes = p.wholes;
        o.batch_hint = p.buffered;
        let item = p.take();
        match o.queue.try_send(item) {
            Ok(()) => {
                p.outs.clear();
                o.failures = 0;
                o.queued_at.store(stamp, Ordering::Relaxed);
                self.metrics.deliveries.inc_by(wholes);
            }
            Err(e) => {
                match e {
                    TrySendError::Full(_) => self.metrics.queue_full(),
                    TrySendError::Closed(_) => self
                        .metrics
                        .delivery_failures
                        .with_label_values(&["gone"])
                        .inc(),
                }
                o.failures += 1;
                let drop_it =
                    o.failures >= self.shared.cfg.max_failed_copies || o.queue.is_closed();
                for out in p.outs.drain(..) {
                    if let Some(m) = self.open.get_mut(&out) {
                        for c in m.to.iter_mut().filter(|c| **c == to) {
                            *c = FAILED;
                        }
                    }
                    self.room
                        .copy_failed(out, to, StatusCode::TIMEOUT, &mut self.actions);
                }
                if drop_it {
                    self.dropped.push(to);
                }
            }
        }
    }
}

/// Keeps, of the history messages [`Room::bind`] just queued in `actions` for session `key`
/// (SENDs with a body), the newest ones whose frames fit in the `free` bytes of the session's
/// data lane, oldest first: the room task never waits for a queue, so a history larger than the
/// queue ([`MixerConfig::queue_bytes`]) would otherwise lose its newest messages, leaving a gap
/// before the live ones.
fn fit_history(actions: &mut Vec<Action>, key: SessionKey, free: usize) {
    let is_history = |a: &Action| {
        matches!(a, Action::Send { to, head, body: Some(_) }
            if *to == key && head.method() == Some(&Method::Send))
    };
    let mut room_left = free;
    let mut keep_from = actions.len();
    for (i, a) in actions.iter().enumerate().rev() {
        let Action::Send {
            head,
            body: Some(body),
            ..
        } = a
        else {
            continue;
        };
        if !is_history(a) {
            continue;
        }
        // The frame as it will be queued (a few heads, once per bind).
        let len = Outgoing::chunk(head, Some(body.clone()), Flag::Last).len();
        if len > room_left {
            break;
        }
        room_left -= len;
        keep_from = i;
    }
    let mut i = 0;
    actions.retain(|a| {
        let keep = i >= keep_from || !is_history(a);
        i += 1;
        keep
    });
}

/// Counts what the room decided ([`Room::take_notes`]) and moves the participant and session
/// gauges by how much the room's counts changed since `participants` and `sessions`.
fn count(metrics: &Metrics, room: &mut Room, participants: &mut i64, sessions: &mut i64) {
    for n in room.take_notes() {
        match n {
            Note::Accepted {
                private,
                is_composing,
                ..
            } => metrics.message(match (is_composing, private) {
                (true, _) => MessageKind::IsComposing,
                (false, true) => MessageKind::Private,
                (false, false) => MessageKind::Public,
            }),
            Note::Refused(s) => metrics.refused(s.as_u16()),
            Note::Nickname(s) => metrics.nickname(s.as_u16()),
        }
    }
    let (p, s) = (room.participant_count() as i64, room.session_count() as i64);
    metrics.participants.add(p - *participants);
    metrics.sessions.add(s - *sessions);
    (*participants, *sessions) = (p, s);
}

/// Forgets session `key` of room `room` in the mixer's session table.
fn forget_session(shared: &Shared, room: &str, key: SessionKey) {
    shared
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|id, s| {
            let gone = s.key == key && s.room.name == room;
            if gone {
                s.kill();
                shared.ended(id);
            }
            !gone
        });
}

/// Runs `f` (a log event) in session `key`'s span, from `spans` ([`Task::spans`]).
fn in_session(spans: &IdMap<SessionKey, tracing::Span>, key: SessionKey, f: impl FnOnce()) {
    match spans.get(&key) {
        Some(span) => span.in_scope(f),
        None => f(),
    }
}

/// The state of a chunk's copies being written.
fn open_msg(copies: Copies) -> OpenMsg {
    OpenMsg {
        to: copies.to,
        message_id: copies.message_id,
        held: None,
        start: copies.range.start,
        total: copies.range.total,
    }
}

/// A transaction-id stem for one frame's copies whose end-line cannot occur in `body` (4975-011):
/// no copy's id (the stem and a suffix) can then appear after `-------` in it. A body without
/// seven dashes in a row (most) takes any stem: it is searched once, with a searcher built once
/// (building one per frame cost more than the search, perf: 2% of the mixer's instructions).
fn tid_stem(ids: &mut IdGenerator, body: &[u8]) -> Ident {
    static DASHES: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"-------"));
    if DASHES.find(body).is_none() {
        return ids.next_id();
    }
    let mut pat = [b'-'; 7 + msrp::ident::IDENT_MAX];
    loop {
        let t = ids.next_id();
        pat[7..7 + t.len()].copy_from_slice(t.as_bytes());
        if memchr::memmem::find(body, &pat[..7 + t.len()]).is_none() {
            return t;
        }
    }
}

/// A session's suffix to the transaction-id stem of a frame's copies: its key in base 62, ident
/// characters only (RFC 4975 §9). Keys differ within a room, so the copies of one frame have
/// different transaction ids; a stem ([`msrp::ident::GENERATED_LEN`] = 16) and a suffix (at
/// most 11) make at most 27 characters, within an ident's 32.
#[derive(Debug, Clone, Copy)]
struct Suffix {
    buf: [u8; 11],
    len: u8,
}

impl Suffix {
    fn of(mut key: SessionKey) -> Suffix {
        const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut buf = [0u8; 11];
        let mut n = 0;
        loop {
            buf[n] = DIGITS[(key % 62) as usize];
            key /= 62;
            n += 1;
            if key == 0 {
                break;
            }
        }
        buf[..n].reverse();
        Suffix { buf, len: n as u8 }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    /// What ends a copy's end-line after the stem, but for the flag: the suffix, a zero
    /// octet where the flag goes, CRLF; and its length.
    fn end_line(&self) -> ([u8; END_OCTETS], usize) {
        let mut end = [0u8; END_OCTETS];
        let n = usize::from(self.len);
        end[..n].copy_from_slice(self.as_bytes());
        end[n + 1] = b'\r';
        end[n + 2] = b'\n';
        (end, n + 3)
    }
}

/// [`Suffix::end_line`] with `flag` in its place: the octets to write (the first `len`).
/// Built in a register from the octets made at bind: assembling them octet by octet in memory
/// and reading them back whole stalls on store forwarding (perf: a third of `write_copies`'
/// samples in a version that did).
fn end_with(end: [u8; END_OCTETS], len: usize, flag: Flag) -> [u8; END_OCTETS] {
    (u128::from_le_bytes(end) | u128::from(flag.byte()) << (8 * (len - 3))).to_le_bytes()
}

/// Room for a [`Suffix`] (at most 11 octets), a flag and CRLF.
const END_OCTETS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies of one frame differ in their suffixes only: every session key gives a different
    /// one, of ident characters (RFC 4975 §9), short enough that stem and suffix stay an ident.
    #[test]
    fn session_suffixes_are_distinct_idents() {
        assert_eq!(Suffix::of(0).as_bytes(), b"0");
        assert_eq!(Suffix::of(61).as_bytes(), b"Z");
        assert_eq!(Suffix::of(62).as_bytes(), b"10");
        assert_eq!(Suffix::of(62 * 62 + 5).as_bytes(), b"105");
        let stem = IdGenerator::new().next_id();
        let mut seen = std::collections::HashSet::new();
        for key in (0..5000).chain([u64::MAX - 1, u64::MAX]) {
            let sfx = Suffix::of(key);
            assert!(seen.insert(sfx.as_bytes().to_vec()), "{key}");
            let tid = format!("{stem}{}", std::str::from_utf8(sfx.as_bytes()).unwrap());
            assert!(Ident::new(&tid).is_some(), "{tid}");
        }
        assert_eq!(Suffix::of(u64::MAX).as_bytes().len(), 11);
        for (key, flag, want) in [
            (0, Flag::Last, &b"0$\r\n"[..]),
            (62 * 62 + 5, Flag::More, b"105+\r\n"),
            (u64::MAX, Flag::Abort, b"lYGhA16ahyf#\r\n"),
        ] {
            let (end, n) = Suffix::of(key).end_line();
            assert_eq!(&end_with(end, n, flag)[..n], want);
        }
    }
}
