//! One chat room's switch (RFC 7701 §6, §7), sans-IO: who is in the room, what each SEND,
//! NICKNAME and chunk means, and which frames go where. The tokio layer feeds it the frames each
//! participant's session receives, in order, and carries out the [`Action`]s it returns; time
//! comes in as `now`.
//!
//! # Members
//!
//! A participant is a user URI ([`UserUri`]); it has one MSRP session per device (simultaneous
//! access, 7701-016), each joined by SDP offer/answer ([`crate::join`]) and identified here by a
//! [`SessionKey`]. A session takes part once it is *bound* ([`Room::bind`]: its connection is
//! known, RFC 4975 §5.4 / RFC 6135): only bound sessions receive messages, and a session gets the
//! room's history when it binds.
//!
//! # Switching a SEND (7701-009..024)
//!
//! The switch is the endpoint of each participant's session (7701-023): it answers each chunk
//! it receives (RFC 4975 §7.2, [`msrp::report::owed`]) and sends success REPORTs when asked. A
//! message's body is `message/cpim` (else 415, 7701-009); the switch waits until its CPIM header
//! block and encapsulated MIME headers have arrived (7701-017, bounded by
//! [`SwitchLimits::max_cpim_head`]), then decides once per message:
//!
//! - more than one CPIM `To`: 403 (7701-011); a CPIM `From` that is not the sender's URI: 403
//!   (7701-012);
//! - `To` = the room URI: a public message, copied to every bound session of every other
//!   participant that accepts the wrapped type (7701-013, 7701-015) and whose `a=max-size` the
//!   message fits;
//! - any other `To`: a private message (7701-020) if the room allows them (else 403), to the
//!   participant with that URI, or else with that nickname (the `To`'s formal name, or the URI's
//!   user part, matched with the PRECIS Nickname profile): 404 when there is none, 428 when none
//!   of its sessions declared `private-messages` (7701-021); copied to each of its bound sessions
//!   that did (7701-016). A private message none of those sessions can take is refused rather
//!   than accepted and dropped: 404 when none is bound, 415 when none accepts the wrapped type,
//!   413 when it exceeds every one's `a=max-size`.
//!
//! Each copy is a chunk of its own on the recipient's session: its own transaction id, a
//! Message-ID the switch chose for the message (the same on every chunk and every copy), the
//! sender's Byte-Range, and the body octets unchanged (7701-014). Later chunks of the message
//! go to the first chunk's recipients only (7701-018): a participant who joins mid-message gets
//! none of it, one who leaves gets no more. A chunk-reception timer
//! ([`SwitchLimits::chunk_timeout`], restarted by every chunk, 7701-019) aborts a message whose
//! sender went silent: its recipients get an empty chunk ending in `#`.
//!
//! Recipients' responses and REPORTs are not forwarded to the sender (7701-023). A copy the
//! tokio layer could not deliver (the recipient's queue was full, or it left) is reported with
//! [`Room::copy_failed`]: the sender gets a failure REPORT when its Failure-Report asks for one.
//! Every REPORT about a private message, success or failure, carries a `message/cpim` body with
//! the message's original CPIM `From` and `To` lines (7701-022).
//!
//! # Nicknames (7701-025..032)
//!
//! NICKNAME is answered 200, 403 (nicknames off), 424 (malformed) or 425 (in use or reserved)
//! through the room's [`NicknameTable`]; a NICKNAME carrying Success-Report or Failure-Report
//! is answered 400 (7701-027). A nickname belongs to the participant (all its sessions show it)
//! and is released when its last session leaves.
//!
//! # History
//!
//! The last [`RoomPolicy::history`] public messages (of at most [`HISTORY_MAX_MESSAGE`] octets
//! each, received whole, whether their total was declared or `*`) are kept and sent to a session
//! when it binds, each as one chunk.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use msrp::{
    ByteRange, ByteString, Flag, Head, Header, IdGenerator, Ident, Method, MsrpUri, RepeatedSend,
    StatusCode,
};
use msrp::{encode, report};

use crate::config::{RoomPolicy, SwitchLimits};
use crate::cpim;
use crate::identity::UserUri;
use crate::join::SessionTerms;
use crate::nickname::{NicknameTable, ReservedWordError};

/// Identifies one participant session in a room (assigned by [`Room::join`]).
pub type SessionKey = u64;

/// A map keyed by values the mixer assigns itself ([`SessionKey`], [`OutId`] in sequence; the
/// session-ids it draws at random): no peer chooses them, so the hash need not resist flooding
/// and can be the cheapest one (FxHash: one multiply per word). The fan-out looks up two of
/// these per copy; with the standard SipHash that was 8% of the mixer's CPU at 1000
/// participants.
pub(crate) type IdMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// The largest public message kept in a room's history, in octets of its CPIM body.
pub const HISTORY_MAX_MESSAGE: u64 = 64 * 1024;

/// Identifies one message the switch is distributing: the copies of its chunks are opened,
/// fed and ended together ([`Action::Open`], [`Action::Body`], [`Action::End`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutId(pub u64);

/// The copies of one chunk: who gets them and what their heads share. Each copy's head is
/// [`Room::copy_head`] for its recipient (To-Path the recipient's `a=path`, From-Path our session
/// URI, a transaction id of its own, this Message-ID and Byte-Range, `message/cpim`); the tokio
/// layer writes it from lines it keeps per session, so the room builds no head per recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copies {
    /// The recipient sessions.
    pub to: Vec<SessionKey>,
    /// The Message-ID of every copy of the message (the switch's own, one per message).
    pub message_id: Ident,
    /// The chunk's Byte-Range.
    pub range: ByteRange,
}

/// What the tokio layer is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this response (bodiless, `$`) on `to`'s session: the answer to a request it sent.
    Respond {
        /// The session the request came from.
        to: SessionKey,
        /// The response.
        response: Response,
    },
    /// Open one chunk per copy (queue each head; a SEND with a body follows).
    Open {
        /// The message.
        out: OutId,
        /// The copies of this chunk.
        copies: Copies,
    },
    /// Body octets for every open copy of `out`, in order.
    Body {
        /// The message.
        out: OutId,
        /// The octets (shared by every copy).
        piece: Bytes,
    },
    /// End every open copy of `out` with `flag` (their chunks are then closed).
    End {
        /// The message.
        out: OutId,
        /// `$`, `+` or `#`.
        flag: Flag,
    },
    /// Send a whole frame on `to`'s session (a REPORT, or a history message).
    Send {
        /// The session.
        to: SessionKey,
        /// The head.
        head: Head,
        /// The body, if any (sent with `$`): a history message, or the `message/cpim` wrapper
        /// of a REPORT about a private message (7701-022; the head's Content-Type says so).
        body: Option<Bytes>,
    },
}

/// A request's head as the switch keeps it: parsed whole, or a SEND that repeats an earlier
/// one's header block but for its transaction id, Message-ID and Byte-Range (the decoder's
/// [`RepeatedSend`], `msrp::DecoderConfig::repeated_sends`), whose head is built only when
/// something needs it whole (a REPORT about it, [`ReqHead::to_head`]). A session's chunks mostly
/// repeat: no head is built and dropped per message.
#[derive(Debug, Clone)]
pub enum ReqHead {
    /// A head parsed whole.
    Whole(Arc<Head>),
    /// A repeat (behind a pointer: a session's [`Room`] state holds one while a chunk comes
    /// in, and its response and its message's REPORT data share it).
    Repeat(Arc<RepeatedSend>),
}

impl ReqHead {
    /// The transaction id.
    pub fn tid(&self) -> &Ident {
        match self {
            ReqHead::Whole(h) => &h.tid,
            ReqHead::Repeat(r) => &r.tid,
        }
    }

    /// The Message-ID ([`Head::message_id`]).
    pub fn message_id(&self) -> Option<&Ident> {
        match self {
            ReqHead::Whole(h) => h.message_id(),
            ReqHead::Repeat(r) => r.message_id(),
        }
    }

    /// The Byte-Range ([`Head::byte_range`]).
    pub fn byte_range(&self) -> Option<ByteRange> {
        match self {
            ReqHead::Whole(h) => h.byte_range(),
            ReqHead::Repeat(r) => r.byte_range(),
        }
    }

    /// The head whose other lines this one has (method, paths, Content-Type, report headers):
    /// itself, or the SEND it repeats. Not for the transaction id, Message-ID or Byte-Range.
    pub fn shape(&self) -> &Head {
        match self {
            ReqHead::Whole(h) => h,
            ReqHead::Repeat(r) => r.template(),
        }
    }

    /// The head, whole.
    pub fn to_head(&self) -> Head {
        match self {
            ReqHead::Whole(h) => Head::clone(h),
            ReqHead::Repeat(r) => r.head(),
        }
    }
}

impl From<Head> for ReqHead {
    fn from(h: Head) -> ReqHead {
        ReqHead::Whole(Arc::new(h))
    }
}

impl From<RepeatedSend> for ReqHead {
    fn from(r: RepeatedSend) -> ReqHead {
        ReqHead::Repeat(Arc::new(r))
    }
}

/// A transaction response the switch owes ([`Action::Respond`]): the request, the status and
/// our session URI, from which the response is written (RFC 4975 §7.2: the request's
/// transaction id, To-Path the first URI of its From-Path, From-Path ours, 4975-061/062); a SEND's
/// is written without a head being built (`msrp::encode::send_response`). Two are equal when
/// their heads are ([`Response::head`]).
#[derive(Debug, Clone)]
pub enum Response {
    /// Owed for `req` (a response is owed: [`report::owed`]).
    Owed {
        /// The request answered.
        req: ReqHead,
        /// The status.
        status: StatusCode,
        /// Our URI on the session (the From-Path).
        local: MsrpUri,
    },
    /// A response head as it is.
    Head(Head),
}

impl Response {
    /// The response's head.
    pub fn head(&self) -> Head {
        match self {
            Response::Owed { req, status, local } => {
                report::response(&req.to_head(), *status, None, local)
            }
            Response::Head(h) => h.clone(),
        }
    }

    /// Its status.
    pub fn status(&self) -> StatusCode {
        match self {
            Response::Owed { status, .. } => *status,
            Response::Head(h) => h.status().unwrap_or(StatusCode::OK),
        }
    }

    /// Writes the response and its `$` end-line (a bodiless frame) at the end of `out`.
    pub fn write(&self, out: &mut BytesMut) {
        if let Response::Owed { req, status, local } = self {
            let shape = req.shape();
            if let (true, Some(back)) = (shape.is_send(), shape.from_path().first()) {
                encode::send_response_of(req.tid(), back, None, *status, local, out);
                return;
            }
        }
        encode::frame(&self.head(), None, Flag::Last, out);
    }
}

impl From<Head> for Response {
    fn from(h: Head) -> Response {
        Response::Head(h)
    }
}

impl PartialEq for Response {
    fn eq(&self, other: &Response) -> bool {
        self.head() == other.head()
    }
}

impl Eq for Response {}

/// Something the switch decided that sends nothing by itself: what the tokio layer counts
/// ([`Room::take_notes`], `crate::metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// A message accepted for distribution (RFC 7701 §6.1/§6.2).
    Accepted {
        /// To one participant rather than the room.
        private: bool,
        /// It wraps an isComposing indication (`application/im-iscomposing+xml`, RFC 3994).
        is_composing: bool,
        /// Sessions it is copied to.
        recipients: usize,
    },
    /// A SEND refused with this status (403, 404, 413, 415, 428, 400).
    Refused(StatusCode),
    /// A NICKNAME answered with this status (RFC 7701 §7).
    Nickname(StatusCode),
}

/// Why a session could not join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    /// The room has [`RoomPolicy::max_participants`] participants already.
    #[error("the room is full ({0} participants)")]
    Full(usize),
}

/// One session in the room.
#[derive(Debug)]
struct Member {
    participant: UserUri,
    terms: SessionTerms,
    bound: bool,
    /// The chunk this session is sending, from its head to its end-line.
    receiving: Option<Receiving>,
    /// The last wrapped type checked against its terms, and the answer: a room's messages
    /// mostly wrap one or two types, so each member's lists are matched once per type change.
    accepts: Option<(Arc<str>, bool)>,
    /// What the CPIM parser kept of this session's last message ([`cpim::ParseSpace`]: the
    /// lines a session repeats, its From and To, are parsed once). Made on its first message:
    /// an idle participant carries a null pointer.
    cpim: Option<Box<cpim::ParseSpace>>,
}

impl Member {
    /// [`SessionTerms::accepts_wrapped`], remembered for the last type asked. The room hands
    /// out one shared value per type ([`Room::intern_type`]), so a repeated type is
    /// recognised by its pointer; another value is compared as text.
    fn accepts(&mut self, essence: &Arc<str>) -> bool {
        match &self.accepts {
            Some((t, yes)) if Arc::ptr_eq(t, essence) || **t == **essence => *yes,
            _ => {
                let yes = self.terms.accepts_wrapped(essence);
                self.accepts = Some((essence.clone(), yes));
                yes
            }
        }
    }
}

/// A chunk being received from a session.
#[derive(Debug)]
struct Receiving {
    /// The sender's head of this chunk (shared with its message's [`Incoming::first`] when
    /// it is the first chunk: one head per message, not a copy).
    head: ReqHead,
    what: Receive,
}

#[derive(Debug)]
enum Receive {
    /// A chunk of a message being distributed (or still waiting for its CPIM headers).
    Message(OutId),
    /// Skip the rest of the chunk; answer `status` at its end (when owed), or nothing when it
    /// was answered already (`None`).
    Skip(Option<StatusCode>),
}

/// Public or private.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Public,
    Private,
}

/// A message being received from one session and distributed.
#[derive(Debug)]
struct Incoming {
    from: SessionKey,
    /// The sender's Message-ID.
    key: Ident,
    /// The Message-ID of the copies.
    out_id: Ident,
    /// The sender's first chunk head (for REPORTs).
    first: ReqHead,
    /// Octets waiting for the CPIM headers to complete (7701-017); `None` once decided.
    pending: Option<BytesMut>,
    /// The decision, once made.
    kind: Option<Kind>,
    recipients: Vec<SessionKey>,
    /// Copies are open on the recipients (a chunk is being distributed).
    open: bool,
    /// Byte-Range start of the next octet to distribute.
    next: u64,
    total: Option<u64>,
    /// The message's octets, kept for history (public, small, received whole).
    keep: Option<BytesMut>,
    /// The wrapped type (for history replay filtering).
    inner: Arc<str>,
    /// The body of every REPORT about this message when it is private (7701-022).
    wrapper: Option<Bytes>,
    deadline: Instant,
}

/// A message whose last chunk was received: what a failure REPORT about one of its copies
/// needs ([`Room::copy_failed`] is called after the room returned the copies' [`Action::End`],
/// when the message is no longer [`Incoming`]).
#[derive(Debug)]
struct Finished {
    from: SessionKey,
    first: ReqHead,
    /// Octets received.
    received: u64,
    total: Option<u64>,
    wrapper: Option<Bytes>,
}

/// How many finished messages [`Room::copy_failed`] can still report on.
const FINISHED_KEPT: usize = 64;

/// One message of the room's history.
#[derive(Debug, Clone)]
struct Kept {
    from: UserUri,
    inner: Arc<str>,
    body: Bytes,
}

/// One room's state and switch.
#[derive(Debug)]
pub struct Room {
    uri: UserUri,
    policy: RoomPolicy,
    limits: SwitchLimits,
    members: IdMap<SessionKey, Member>,
    participants: HashMap<UserUri, Vec<SessionKey>>,
    nicknames: NicknameTable<UserUri, SessionKey>,
    incoming: IdMap<OutId, Incoming>,
    by_key: HashMap<(SessionKey, Ident), OutId>,
    history: VecDeque<Kept>,
    /// The last [`FINISHED_KEPT`] messages received whole, newest last.
    finished: VecDeque<(OutId, Finished)>,
    next_session: SessionKey,
    next_out: u64,
    ids: IdGenerator,
    /// Decisions not taken yet by [`Room::take_notes`] (at most [`NOTES_KEPT`]).
    notes: Vec<Note>,
    /// The wrapped type of the last message switched ([`Room::intern_type`]).
    last_type: Arc<str>,
    /// The CPIM parser's space for a session that is not a member ([`space`]).
    cpim_space: cpim::ParseSpace,
    /// Recipient lists given back emptied ([`Room::recycle_recipients`]), for the next public
    /// messages: one list per message was an allocation and a free per message.
    spare_lists: Vec<Vec<SessionKey>>,
    /// Counts the changes public routing depends on: a session was bound or left (a session
    /// that joined gets nothing until it is bound).
    epoch: u64,
    /// Who takes a public message of the last wrapped type ([`Room::route`]).
    public: PublicList,
}

/// The bound sessions that take one wrapped type, kept for the room's next public messages
/// ([`Room::route`]): a public message went over every member (bound? does it take the
/// type?), 80 instructions a member, for each message.
#[derive(Debug, Default)]
struct PublicList {
    /// The [`Room::epoch`] and the (interned) wrapped type it was made for; `None`: none made.
    made_for: Option<(u64, Arc<str>)>,
    /// Each such session, its participant ([`UserUri::id`]) and its `a=max-size`, in the
    /// members' order.
    sessions: Vec<(SessionKey, usize, Option<u64>)>,
}

/// Recipient lists a room keeps for reuse ([`Room::recycle_recipients`]).
const SPARE_LISTS: usize = 4;

/// Notes a room keeps when nobody takes them.
const NOTES_KEPT: usize = 1024;

impl Room {
    /// A room with URI `uri` (e.g. `sip:lobby@chat.example.com`), `policy` and the switch's
    /// `limits`; nicknames in `reserved` are never given out (425, 7701-028). Fails on a
    /// reserved word the Nickname profile does not accept.
    pub fn new(
        uri: UserUri,
        policy: RoomPolicy,
        limits: SwitchLimits,
        reserved: &[&str],
    ) -> Result<Room, ReservedWordError> {
        Ok(Room {
            uri,
            policy,
            limits,
            members: IdMap::default(),
            participants: HashMap::new(),
            nicknames: NicknameTable::with_reserved(reserved.iter().copied())?,
            incoming: IdMap::default(),
            by_key: HashMap::new(),
            history: VecDeque::new(),
            finished: VecDeque::new(),
            next_session: 1,
            next_out: 1,
            ids: IdGenerator::new(),
            notes: Vec::new(),
            last_type: Arc::from(""),
            cpim_space: cpim::ParseSpace::default(),
            spare_lists: Vec::new(),
            epoch: 0,
            public: PublicList::default(),
        })
    }

    /// The room's URI.
    pub fn uri(&self) -> &UserUri {
        &self.uri
    }

    /// Gives back the recipient list of a message's copies ([`Copies::to`]) once its copies are
    /// written: the room reuses it (emptied) for a later message's recipients.
    pub fn recycle_recipients(&mut self, mut list: Vec<SessionKey>) {
        if list.capacity() > 0 && self.spare_lists.len() < SPARE_LISTS {
            list.clear();
            self.spare_lists.push(list);
        }
    }

    /// The room's policy.
    pub fn policy(&self) -> &RoomPolicy {
        &self.policy
    }

    /// Participants in the room (user URIs with at least one session).
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// Sessions in the room, bound or not.
    pub fn session_count(&self) -> usize {
        self.members.len()
    }

    /// The participants with their nicknames, sorted by URI.
    pub fn roster(&self) -> Vec<(UserUri, Option<String>)> {
        let mut r: Vec<_> = self
            .participants
            .keys()
            .map(|p| {
                let nick = self.nicknames.nickname_of(p).map(|n| n.as_str().to_owned());
                (p.clone(), nick)
            })
            .collect();
        r.sort();
        r
    }

    /// Adds a session of `participant` with the terms its offer agreed (a participant already in
    /// the room may add sessions even when the room is full).
    pub fn join(
        &mut self,
        participant: UserUri,
        terms: SessionTerms,
    ) -> Result<SessionKey, JoinRefused> {
        if !self.participants.contains_key(&participant)
            && self.participants.len() >= self.policy.max_participants
        {
            return Err(JoinRefused::Full(self.policy.max_participants));
        }
        let key = self.next_session;
        self.next_session += 1;
        // Every session of a participant holds the same value: the fan-out compares pointers
        // (`UserUri::id`).
        let participant = match self.participants.get_key_value(&participant) {
            Some((kept, _)) => kept.clone(),
            None => participant,
        };
        self.participants
            .entry(participant.clone())
            .or_default()
            .push(key);
        self.nicknames.join(&participant, &key);
        self.members.insert(
            key,
            Member {
                participant,
                terms,
                bound: false,
                receiving: None,
                accepts: None,
                cpim: None,
            },
        );
        Ok(key)
    }

    /// The terms of a session.
    pub fn terms(&self, session: SessionKey) -> Option<&SessionTerms> {
        self.members.get(&session).map(|m| &m.terms)
    }

    /// The head of the copy of a chunk for session `to` ([`Copies`]), with transaction id
    /// `tid`; `None` when there is no such session.
    pub fn copy_head(&self, to: SessionKey, tid: Ident, copies: &Copies) -> Option<Head> {
        let m = self.members.get(&to)?;
        Some(copy_head(&m.terms, tid, copies.message_id, copies.range))
    }

    /// The session's connection is known (its first SEND arrived, or the mixer connected it):
    /// from now on it receives the room's messages, starting with the history (as frames to
    /// send, in order).
    pub fn bind(&mut self, session: SessionKey, out: &mut Vec<Action>) {
        let Some(m) = self.members.get_mut(&session) else {
            return;
        };
        if std::mem::replace(&mut m.bound, true) {
            return;
        }
        self.epoch += 1;
        let (me, terms) = (m.participant.clone(), m.terms.clone());
        for kept in &self.history {
            if kept.from == me || !terms.accepts_wrapped(&kept.inner) {
                continue;
            }
            if terms
                .max_size
                .is_some_and(|max| kept.body.len() as u64 > max)
            {
                continue;
            }
            let head = copy_head(&terms, self.ids.next_id(), self.ids.next_id(), {
                ByteRange::whole(kept.body.len() as u64)
            });
            out.push(Action::Send {
                to: session,
                head,
                body: Some(kept.body.clone()),
            });
        }
    }

    /// The session left (BYE, control API, its connection closed, or the tokio layer dropped
    /// it): it gets nothing more; a message it was sending is aborted on its recipients (`#`);
    /// its participant's nickname is released with its last session (7701-030).
    pub fn leave(&mut self, session: SessionKey, out: &mut Vec<Action>) {
        let Some(m) = self.members.remove(&session) else {
            return;
        };
        self.epoch += 1;
        if let Some(list) = self.participants.get_mut(&m.participant) {
            list.retain(|s| *s != session);
            if list.is_empty() {
                self.participants.remove(&m.participant);
            }
        }
        // Released with the participant's last session (7701-030/031).
        self.nicknames.leave_session(&session);
        for inc in self.incoming.values_mut() {
            inc.recipients.retain(|r| *r != session);
        }
        let mine: Vec<OutId> = self
            .incoming
            .iter()
            .filter(|(_, i)| i.from == session)
            .map(|(o, _)| *o)
            .collect();
        for o in mine {
            self.abort(o, out);
        }
    }

    /// The head of a request received on `session`'s session (after the tokio layer checked
    /// that its To-Path names it, 4975-063). SEND and NICKNAME are handled (REPORTs from
    /// recipients are dropped, 7701-023); other methods get 501 (4975-017).
    pub fn request(
        &mut self,
        session: SessionKey,
        head: impl Into<ReqHead>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let head = head.into();
        let Some(m) = self.members.get(&session) else {
            return;
        };
        let local = m.terms.local.clone();
        match head.shape().method() {
            Some(Method::Send) => self.send_head(session, head, now, out),
            Some(Method::Nickname) => {
                let status = self.nickname(session, head.shape());
                self.note(Note::Nickname(status));
                respond(out, session, &head, status, &local);
            }
            Some(Method::Report) => {}
            _ => respond(out, session, &head, StatusCode::NOT_IMPLEMENTED, &local),
        }
    }

    fn nickname(&mut self, session: SessionKey, head: &Head) -> StatusCode {
        let Some(m) = self.members.get(&session) else {
            return StatusCode::NO_SUCH_SESSION;
        };
        // 7701-027: no report headers on NICKNAME.
        let reports = head
            .headers
            .iter()
            .any(|h| matches!(h, Header::SuccessReport(_) | Header::FailureReport(_)));
        if reports {
            return StatusCode::BAD_REQUEST;
        }
        let participant = m.participant.clone();
        match self
            .nicknames
            .request_head(self.policy.nicknames, &participant, &session, head)
        {
            Ok(_) => StatusCode::OK,
            Err(e) => e.status(),
        }
    }

    /// A SEND chunk's head.
    fn send_head(
        &mut self,
        session: SessionKey,
        head: ReqHead,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        // 4975-018: a chunk whose octets would go past the room's limit ends the message, whatever
        // its declared total (`*` too): 413, and its recipients get `#`.
        let range = range_of(&head);
        let max = self.policy.max_message_size;
        if range.end.is_some_and(|e| e > max) || range.start.saturating_sub(1) > max {
            self.note(Note::Refused(StatusCode::TOO_LARGE));
            if let Some(o) = head
                .message_id()
                .and_then(|k| self.by_key.get(&(session, *k)))
                .copied()
            {
                self.abort(o, out);
            }
            if let Some(m) = self.members.get_mut(&session) {
                m.receiving = Some(Receiving {
                    head,
                    what: Receive::Skip(Some(StatusCode::TOO_LARGE)),
                });
            }
            return;
        }
        let what = match self.admit(session, &head, now) {
            Ok(o) => Receive::Message(o),
            Err(status) => {
                if status != StatusCode::OK {
                    self.note(Note::Refused(status));
                }
                Receive::Skip(Some(status))
            }
        };
        if let Receive::Message(o) = what {
            // A chunk of a decided message: its copies open now (7701-018).
            self.open_copies(o, range_of(&head), out);
        }
        if let Some(m) = self.members.get_mut(&session) {
            m.receiving = Some(Receiving { head, what });
        }
    }

    /// Admits a SEND chunk: the message it belongs to (new or known), or the status it is
    /// answered with.
    fn admit(
        &mut self,
        session: SessionKey,
        head: &ReqHead,
        now: Instant,
    ) -> Result<OutId, StatusCode> {
        let Some(key) = head.message_id().cloned() else {
            return Err(StatusCode::BAD_REQUEST);
        };
        let range = range_of(head);
        if head.shape().content_type().is_none() && range.total.unwrap_or(0) == 0 {
            // A bodiless (or empty) SEND: how a session binds its connection (RFC 4975 §5.4,
            // RFC 6135 §4.1); it carries no message and is answered 200.
            return Err(StatusCode::OK);
        }
        if let Some(total) = range.total {
            // 4975-018: refused before anything is buffered.
            if total > self.policy.max_message_size {
                return Err(StatusCode::TOO_LARGE);
            }
        }
        // One lookup for a known message and a new one alike (the key is hashed once).
        let slot = match self.by_key.entry((session, key)) {
            Entry::Occupied(e) => {
                let o = *e.get();
                let inc = self.incoming.get_mut(&o).expect("indexed");
                inc.deadline = now + self.limits.chunk_timeout;
                return Ok(o);
            }
            Entry::Vacant(v) => v,
        };
        // A new message starts with its first octet (the CPIM headers are there).
        if range.start != 1 {
            return Err(StatusCode::BAD_REQUEST);
        }
        let is_cpim = head
            .shape()
            .content_type()
            .is_some_and(|t| cpim::is_cpim_content_type(t));
        if !is_cpim {
            // 7701-009.
            return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        let o = OutId(self.next_out);
        self.next_out += 1;
        self.incoming.insert(
            o,
            Incoming {
                from: session,
                key,
                out_id: self.ids.next_id(),
                first: head.clone(),
                pending: Some(BytesMut::new()),
                kind: None,
                recipients: Vec::new(),
                open: false,
                next: 1,
                total: range.total,
                keep: None,
                inner: self.last_type.clone(),
                wrapper: None,
                deadline: now + self.limits.chunk_timeout,
            },
        );
        slot.insert(o);
        Ok(o)
    }

    /// Opens this chunk's copies on a decided message's recipients (nothing while undecided);
    /// `range` is the chunk's Byte-Range (the copies' first chunk starts where it does).
    fn open_copies(&mut self, o: OutId, range: ByteRange, out: &mut Vec<Action>) {
        let Some(inc) = self.incoming.get_mut(&o) else {
            return;
        };
        if inc.kind.is_none() || inc.open {
            return;
        }
        inc.next = range.start;
        let copies = Copies {
            to: inc.recipients.clone(),
            message_id: inc.out_id,
            range,
        };
        inc.open = true;
        out.push(Action::Open { out: o, copies });
    }

    /// Body octets of the chunk being received on `session`, at `now`: octets arriving restart
    /// the message's chunk-reception timer too (7701-019), so a long chunk from a slow sender
    /// is not aborted while it is still coming.
    pub fn body(&mut self, session: SessionKey, piece: Bytes, now: Instant, out: &mut Vec<Action>) {
        let Some(m) = self.members.get(&session) else {
            return;
        };
        let Some(Receiving {
            what: Receive::Message(o),
            ..
        }) = &m.receiving
        else {
            return;
        };
        let o = *o;
        let Some(inc) = self.incoming.get_mut(&o) else {
            return;
        };
        inc.deadline = now + self.limits.chunk_timeout;
        if let Some(buf) = inc.pending.as_mut() {
            // The octets so far: the piece alone when nothing is buffered (most messages: their
            // CPIM headers come in their first piece, and nothing is copied), else the buffer.
            let max = self.limits.max_cpim_head;
            let verdict = if buf.is_empty() {
                // The piece alone, parsed once: its header section is complete (most messages),
                // or it is kept until the section is.
                match facts(
                    piece.clone(),
                    max,
                    space(&mut self.members, &mut self.cpim_space, session),
                ) {
                    Ok(None) => {
                        buf.extend_from_slice(&piece);
                        return;
                    }
                    Ok(Some(f)) => {
                        inc.pending = None;
                        Ok((f, piece))
                    }
                    Err(status) => Err(status),
                }
            } else {
                buf.extend_from_slice(&piece);
                match head_len(buf, max) {
                    Ok(None) => return,
                    Ok(Some(_)) => {
                        let prefix = inc.pending.take().unwrap_or_default().freeze();
                        match facts(
                            prefix.clone(),
                            max,
                            space(&mut self.members, &mut self.cpim_space, session),
                        ) {
                            Ok(Some(f)) => Ok((f, prefix)),
                            Ok(None) => Err(StatusCode::BAD_REQUEST),
                            Err(status) => Err(status),
                        }
                    }
                    Err(status) => Err(status),
                }
            };
            match verdict {
                Ok((facts, prefix)) => {
                    let participant = self.members[&session].participant.clone();
                    let decided = self.decide(o, &participant, &facts);
                    facts
                        .message
                        .recycle(space(&mut self.members, &mut self.cpim_space, session));
                    match decided {
                        Ok(()) => {
                            let range = self.members[&session]
                                .receiving
                                .as_ref()
                                .map(|r| range_of(&r.head))
                                .expect("receiving");
                            // The copies start at the message's first octet: what was buffered.
                            self.open_copies(o, ByteRange { start: 1, ..range }, out);
                            self.forward(o, prefix, out);
                        }
                        Err(status) => self.refuse(session, o, status, out),
                    }
                }
                Err(status) => self.refuse(session, o, status, out),
            }
            return;
        }
        if (inc.next - 1).saturating_add(piece.len() as u64) > self.policy.max_message_size {
            // 4975-018 for a chunk that did not say how long it is: the message ends here (413,
            // its recipients get `#`) and nothing past the limit is copied.
            self.note(Note::Refused(StatusCode::TOO_LARGE));
            self.abort(o, out);
            if let Some(m) = self.members.get_mut(&session) {
                if let Some(r) = m.receiving.as_mut() {
                    r.what = Receive::Skip(None);
                    respond(out, session, &r.head, StatusCode::TOO_LARGE, &m.terms.local);
                }
            }
            return;
        }
        self.forward(o, piece, out);
    }

    /// Distributes `piece` on the open copies of `o` (and keeps it for history).
    fn forward(&mut self, o: OutId, piece: Bytes, out: &mut Vec<Action>) {
        let Some(inc) = self.incoming.get_mut(&o) else {
            return;
        };
        inc.next += piece.len() as u64;
        if let Some(k) = inc.keep.as_mut() {
            if (k.len() + piece.len()) as u64 <= HISTORY_MAX_MESSAGE {
                k.extend_from_slice(&piece);
            } else {
                inc.keep = None;
            }
        }
        if inc.open && !inc.recipients.is_empty() && !piece.is_empty() {
            out.push(Action::Body { out: o, piece });
        }
    }

    /// The wrapped type of `m` as the room's shared value: the last one asked for when equal (a
    /// room's messages mostly wrap one type), else a new one.
    fn intern_type(&mut self, m: &cpim::Message) -> Arc<str> {
        if self.last_type.as_bytes() != m.media_type_bytes() {
            self.last_type = Arc::from(m.media_type());
        }
        self.last_type.clone()
    }

    /// Makes [`Room::public`] the list for wrapped type `inner` (interned) unless it is.
    fn public_list(&mut self, inner: &Arc<str>) {
        if matches!(&self.public.made_for, Some((e, t)) if *e == self.epoch && Arc::ptr_eq(t, inner))
        {
            return;
        }
        let p = &mut self.public;
        p.sessions.clear();
        for (k, m) in self.members.iter_mut().filter(|(_, m)| m.bound) {
            if m.accepts(inner) {
                p.sessions.push((*k, m.participant.id(), m.terms.max_size));
            }
        }
        p.made_for = Some((self.epoch, inner.clone()));
    }

    /// Decides where message `o` goes, from its CPIM headers ([`Room::route`]), and keeps the
    /// decision in its [`Incoming`].
    fn decide(&mut self, o: OutId, sender: &UserUri, facts: &Facts) -> Result<(), StatusCode> {
        let total = self.incoming[&o].total;
        let route = self.route(sender, facts, total)?;
        let keep = self.keeps(&route, total);
        self.note(route.note());
        let inc = self.incoming.get_mut(&o).expect("incoming");
        // A message of unknown total (`1-*/*`) is kept too: `forward` stops keeping it once it
        // grows past HISTORY_MAX_MESSAGE.
        inc.keep = keep.then(BytesMut::new);
        if route.kind == Kind::Private {
            inc.wrapper = report_wrapper(&facts.message);
        }
        inc.kind = Some(route.kind);
        inc.recipients = route.recipients;
        inc.inner = route.inner;
        Ok(())
    }

    /// Where a message of `total` octets (`None`: not declared) goes, from its CPIM headers (see
    /// the module documentation). `sender` is the sending member's own `participant` value (see
    /// [`UserUri::id`]).
    fn route(
        &mut self,
        sender: &UserUri,
        facts: &Facts,
        total: Option<u64>,
    ) -> Result<Route, StatusCode> {
        let m = &facts.message;
        // 7701-011: exactly one To.
        let Some(to) = m.single_to() else {
            return Err(StatusCode::FORBIDDEN);
        };
        // 7701-012: nobody speaks for someone else.
        if !m.from().is_some_and(|f| sender.is(f.uri())) {
            return Err(StatusCode::FORBIDDEN);
        }
        let inner = self.intern_type(m);
        let fits = |max_size: Option<u64>| match (max_size, total) {
            (Some(max), Some(n)) => n <= max,
            _ => true,
        };
        let (kind, recipients) = if self.uri.is(to.uri()) {
            // Sized for every member at once: collected from a filter, the list started small
            // and was reallocated as it grew (perf: 1.6% of the mixer's time at N = 10). A list
            // given back by an earlier message is reused.
            let mut r = self.spare_lists.pop().unwrap_or_default();
            r.reserve(self.members.len());
            self.public_list(&inner);
            // Every bound session that takes the type and the size, but the sender's.
            let who = sender.id();
            r.extend(
                self.public
                    .sessions
                    .iter()
                    .filter(|(_, w, max)| *w != who && fits(*max))
                    .map(|(k, _, _)| *k),
            );
            (Kind::Public, r)
        } else {
            if !self.policy.private_messages {
                return Err(StatusCode::FORBIDDEN);
            }
            let target = UserUri::new(to.uri())
                .filter(|u| self.participants.contains_key(u))
                .or_else(|| {
                    let nick = to.formal_name().map(|n| n.into_owned()).or_else(|| {
                        to.uri()
                            .split_once(':')
                            .map(|(_, r)| r.split('@').next().unwrap_or_default().to_owned())
                    })?;
                    self.nicknames.lookup(&nick).cloned()
                })
                .ok_or(StatusCode::NOT_FOUND)?;
            let sessions = &self.participants[&target];
            let willing: Vec<SessionKey> = sessions
                .iter()
                .copied()
                .filter(|s| self.members[s].terms.private_messages)
                .collect();
            if willing.is_empty() {
                // 7701-021.
                return Err(StatusCode::NO_PRIVATE_MESSAGES);
            }
            // A private message that no session of its recipient can take is refused, not
            // accepted and dropped: 404 when none is up (bound), 415 when none takes the wrapped
            // type (RFC 4975 §7.3.1), 413 when it is larger than all their a=max-size.
            let bound: Vec<SessionKey> = willing
                .into_iter()
                .filter(|s| self.members[s].bound)
                .collect();
            if bound.is_empty() {
                return Err(StatusCode::NOT_FOUND);
            }
            let typed: Vec<SessionKey> = bound
                .into_iter()
                .filter(|s| self.members[s].terms.accepts_wrapped(&inner))
                .collect();
            if typed.is_empty() {
                return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            }
            let r: Vec<SessionKey> = typed
                .into_iter()
                .filter(|s| fits(self.members[s].terms.max_size))
                .collect();
            if r.is_empty() {
                return Err(StatusCode::TOO_LARGE);
            }
            (Kind::Private, r)
        };
        Ok(Route {
            kind,
            recipients,
            inner,
        })
    }

    /// Whether a message routed as `route`, of `total` octets, is one the history keeps (public,
    /// history on, not declared larger than [`HISTORY_MAX_MESSAGE`]).
    fn keeps(&self, route: &Route, total: Option<u64>) -> bool {
        route.kind == Kind::Public
            && self.policy.history > 0
            && total.is_none_or(|t| t <= HISTORY_MAX_MESSAGE)
    }

    /// Records a decision for [`Room::take_notes`].
    fn note(&mut self, n: Note) {
        if self.notes.len() < NOTES_KEPT {
            self.notes.push(n);
        }
    }

    /// The decisions made since the last call, oldest first (for metrics).
    pub fn take_notes(&mut self) -> impl Iterator<Item = Note> + '_ {
        self.notes.drain(..)
    }

    /// Refuses message `o` from `session` with `status`: the rest of the chunk is skipped, the
    /// answer sent at once (the sender may stop, RFC 4975 §7.2), the message forgotten.
    fn refuse(&mut self, session: SessionKey, o: OutId, status: StatusCode, out: &mut Vec<Action>) {
        self.note(Note::Refused(status));
        if let Some(inc) = self.incoming.remove(&o) {
            self.by_key.remove(&(inc.from, inc.key));
        }
        let Some(m) = self.members.get_mut(&session) else {
            return;
        };
        if let Some(r) = m.receiving.as_mut() {
            // Answered now; nothing more at the end-line.
            r.what = Receive::Skip(None);
            respond(out, session, &r.head, status, &m.terms.local);
        }
    }

    /// The end-line of the chunk being received on `session`.
    pub fn end(&mut self, session: SessionKey, flag: Flag, now: Instant, out: &mut Vec<Action>) {
        let Some(m) = self.members.get_mut(&session) else {
            return;
        };
        let Some(r) = m.receiving.take() else {
            return;
        };
        let local = m.terms.local.clone();
        match r.what {
            Receive::Skip(Some(status)) => respond(out, session, &r.head, status, &local),
            Receive::Skip(None) => {}
            Receive::Message(o) => {
                let Some(inc) = self.incoming.get_mut(&o) else {
                    return;
                };
                inc.deadline = now + self.limits.chunk_timeout;
                let pending = inc.pending.is_some();
                if pending && flag != Flag::More {
                    // The message ended (or was aborted) before its CPIM headers were whole.
                    let status = if flag == Flag::Abort {
                        StatusCode::OK
                    } else {
                        StatusCode::BAD_REQUEST
                    };
                    self.by_key.remove(&(session, inc.key));
                    self.incoming.remove(&o);
                    respond(out, session, &r.head, status, &local);
                    return;
                }
                if inc.open {
                    inc.open = false;
                    out.push(Action::End { out: o, flag });
                }
                respond(out, session, &r.head, StatusCode::OK, &local);
                let complete = flag == Flag::Last && inc.total.is_none_or(|t| inc.next > t)
                    || flag == Flag::Abort;
                if flag == Flag::Last && report::success_report_owed(inc.first.shape()) {
                    let range = ByteRange {
                        start: 1,
                        end: Some(inc.next - 1),
                        total: Some(inc.next - 1),
                    };
                    let tid = self.ids.next_id();
                    send_report(
                        out,
                        session,
                        &inc.first,
                        tid,
                        StatusCode::OK,
                        range,
                        inc.wrapper.as_ref(),
                        &local,
                    );
                }
                if complete {
                    let inc = self.incoming.remove(&o).expect("incoming");
                    self.by_key.remove(&(session, inc.key));
                    if flag == Flag::Last {
                        if let Some(k) = inc.keep {
                            self.keep(Kept {
                                from: self.members[&session].participant.clone(),
                                inner: inc.inner,
                                body: k.freeze(),
                            });
                        }
                        // Its last copies are still to be written: a failure among them is
                        // reported through `finished`.
                        if !inc.recipients.is_empty() {
                            self.finish(
                                o,
                                Finished {
                                    from: session,
                                    first: inc.first,
                                    received: inc.next - 1,
                                    total: inc.total,
                                    wrapper: inc.wrapper,
                                },
                            );
                        }
                    }
                }
            }
        }
    }

    /// A SEND chunk read whole: its head, its body (`piece`, possibly empty) and its end-line's
    /// `flag` at once. Does what [`Room::request`], [`Room::body`] (when `piece` is not empty)
    /// and [`Room::end`] in turn do, with the same actions; a whole message in one chunk
    /// (`1-n/n` or without a total, `$`, `message/cpim` whose CPIM headers route it, no message
    /// of the same session and Message-ID open) is switched in one step, without the state that
    /// carries a message from one chunk to the next (most chat messages are such): `true` then,
    /// `false` when the chunk went through the steps one by one.
    pub fn whole(
        &mut self,
        session: SessionKey,
        head: impl Into<ReqHead>,
        piece: Bytes,
        flag: Flag,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> bool {
        let head = head.into();
        if self.switch_whole(session, &head, &piece, flag, out) {
            return true;
        }
        self.request(session, head, now, out);
        if !piece.is_empty() {
            self.body(session, piece, now, out);
        }
        self.end(session, flag, now, out);
        false
    }

    /// [`Room::whole`] for a whole message that its CPIM headers route: its actions, `true`;
    /// `false` and nothing done for any other chunk (the steps one by one handle it).
    fn switch_whole(
        &mut self,
        session: SessionKey,
        head: &ReqHead,
        piece: &Bytes,
        flag: Flag,
        out: &mut Vec<Action>,
    ) -> bool {
        let n = piece.len() as u64;
        if flag != Flag::Last || n == 0 || n > self.policy.max_message_size {
            return false;
        }
        let Some(m) = self.members.get(&session) else {
            return false;
        };
        if m.receiving.is_some() {
            return false;
        }
        let shape = head.shape();
        let range = range_of(head);
        let is_cpim = || {
            shape
                .content_type()
                .is_some_and(|t| cpim::is_cpim_content_type(t))
        };
        if shape.method() != Some(&Method::Send)
            || range.start != 1
            || range.end.is_some_and(|e| e != n)
            || range.total.is_some_and(|t| t != n)
            || !is_cpim()
        {
            return false;
        }
        let Some(key) = head.message_id() else {
            return false;
        };
        // A chunk of a message this session has open continues it (the steps one by one).
        if !self.by_key.is_empty() && self.by_key.contains_key(&(session, *key)) {
            return false;
        }
        let max = self.limits.max_cpim_head;
        let Ok(Some(facts)) = facts(
            piece.clone(),
            max,
            space(&mut self.members, &mut self.cpim_space, session),
        ) else {
            return false;
        };
        let m = &self.members[&session];
        let (participant, local) = (m.participant.clone(), m.terms.local.clone());
        let Ok(route) = self.route(&participant, &facts, range.total) else {
            return false;
        };
        // As `decide`, `body` (open, forward) and `end` would do it, in their order.
        let keep = self.keeps(&route, range.total) && n <= HISTORY_MAX_MESSAGE;
        self.note(route.note());
        let wrapper = match route.kind {
            Kind::Private => report_wrapper(&facts.message),
            Kind::Public => None,
        };
        facts
            .message
            .recycle(space(&mut self.members, &mut self.cpim_space, session));
        let o = OutId(self.next_out);
        self.next_out += 1;
        let received = !route.recipients.is_empty();
        out.push(Action::Open {
            out: o,
            copies: Copies {
                to: route.recipients,
                message_id: self.ids.next_id(),
                range: ByteRange { start: 1, ..range },
            },
        });
        if received {
            out.push(Action::Body {
                out: o,
                piece: piece.clone(),
            });
        }
        out.push(Action::End { out: o, flag });
        respond(out, session, head, StatusCode::OK, &local);
        if report::success_report_owed(shape) {
            let whole = ByteRange {
                start: 1,
                end: Some(n),
                total: Some(n),
            };
            let tid = self.ids.next_id();
            send_report(
                out,
                session,
                head,
                tid,
                StatusCode::OK,
                whole,
                wrapper.as_ref(),
                &local,
            );
        }
        if keep {
            // Copied: `piece` may share a large read buffer the history would hold on to.
            self.keep(Kept {
                from: participant,
                inner: route.inner,
                body: Bytes::copy_from_slice(piece),
            });
        }
        if received {
            self.finish(
                o,
                Finished {
                    from: session,
                    first: head.clone(),
                    received: n,
                    total: range.total,
                    wrapper,
                },
            );
        }
        true
    }

    /// Adds a message to the history, the oldest going when it is full.
    fn keep(&mut self, kept: Kept) {
        self.history.push_back(kept);
        while self.history.len() > self.policy.history {
            self.history.pop_front();
        }
    }

    /// Records message `o`, received whole, for [`Room::copy_failed`] (the last
    /// [`FINISHED_KEPT`]).
    fn finish(&mut self, o: OutId, f: Finished) {
        if self.finished.len() == FINISHED_KEPT {
            self.finished.pop_front();
        }
        self.finished.push_back((o, f));
    }

    /// A copy of message `o` could not be delivered to `session` (its queue stayed full, or it
    /// left): it gets no more of the message, and the sender gets a failure REPORT with
    /// `status` when its Failure-Report asks for one (RFC 4975 §7.1.2). A private message's
    /// REPORT carries a CPIM wrapper with the original From and To (7701-022): its body is
    /// `message/cpim` (see [`Action::Send`]).
    ///
    /// `o` may be a message still being received or one of the last messages received whole
    /// (the copies of a message's last chunk are written after [`Room::end`] returned).
    pub fn copy_failed(
        &mut self,
        o: OutId,
        session: SessionKey,
        status: StatusCode,
        out: &mut Vec<Action>,
    ) {
        let (from, first, received, total, wrapper) = if let Some(inc) = self.incoming.get_mut(&o) {
            inc.recipients.retain(|r| *r != session);
            (
                inc.from,
                &inc.first,
                inc.next.saturating_sub(1),
                inc.total,
                inc.wrapper.as_ref(),
            )
        } else if let Some((_, f)) = self.finished.iter().find(|(k, _)| *k == o) {
            (f.from, &f.first, f.received, f.total, f.wrapper.as_ref())
        } else {
            return;
        };
        if !report::failure_report_owed(first.shape(), status) {
            return;
        }
        let Some(sender) = self.members.get(&from) else {
            return;
        };
        let range = ByteRange {
            start: 1,
            end: Some(received),
            total,
        };
        let tid = self.ids.next_id();
        send_report(
            out,
            from,
            first,
            tid,
            status,
            range,
            wrapper,
            &sender.terms.local,
        );
    }

    /// When [`Room::poll`] next has work: the earliest chunk-reception deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.incoming.values().map(|i| i.deadline).min()
    }

    /// Aborts messages whose chunk-reception timer ran out (7701-019): their recipients get an
    /// empty chunk ending in `#`.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Action>) {
        let expired: Vec<OutId> = self
            .incoming
            .iter()
            .filter(|(_, i)| i.deadline <= now)
            .map(|(o, _)| *o)
            .collect();
        for o in expired {
            self.abort(o, out);
        }
    }

    /// Ends message `o` with `#` on its recipients and forgets it.
    fn abort(&mut self, o: OutId, out: &mut Vec<Action>) {
        let Some(inc) = self.incoming.remove(&o) else {
            return;
        };
        self.by_key.remove(&(inc.from, inc.key));
        if inc.kind.is_none() || inc.recipients.is_empty() {
            return;
        }
        if !inc.open {
            // RFC 4975 §7.1.1 (4975-031): an empty chunk carries the flag.
            let range = ByteRange {
                start: inc.next,
                end: Some(inc.next - 1),
                total: inc.total,
            };
            let copies = Copies {
                to: inc.recipients.clone(),
                message_id: inc.out_id,
                range,
            };
            out.push(Action::Open { out: o, copies });
        }
        out.push(Action::End {
            out: o,
            flag: Flag::Abort,
        });
    }
}

/// What the switch reads from a message's CPIM header section (RFC 3862 §4).
#[derive(Debug)]
struct Facts {
    /// The header section: `From`, `To` and the wrapped type are read from it where they are
    /// needed (copied out, they were four allocations per message), and it is the REPORT
    /// wrapper of a private message (7701-022).
    message: cpim::Message,
}

/// Where a message goes ([`Room::route`]).
#[derive(Debug)]
struct Route {
    kind: Kind,
    /// The sessions that get a copy.
    recipients: Vec<SessionKey>,
    /// The wrapped type (the room's shared value, [`Room::intern_type`]).
    inner: Arc<str>,
}

impl Route {
    /// The note of the decision (for metrics).
    fn note(&self) -> Note {
        Note::Accepted {
            private: self.kind == Kind::Private,
            is_composing: self
                .inner
                .eq_ignore_ascii_case("application/im-iscomposing+xml"),
            recipients: self.recipients.len(),
        }
    }
}

/// The status a CPIM error refuses a message with: 415 when it is not CPIM at all (7701-009),
/// 400 for a malformed header, 413 for a header section over the limit.
fn cpim_status(e: cpim::CpimError) -> StatusCode {
    match e.class() {
        cpim::ErrorClass::NotCpim => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        cpim::ErrorClass::InvalidHeader => StatusCode::BAD_REQUEST,
        cpim::ErrorClass::TooLarge => StatusCode::TOO_LARGE,
    }
}

/// The parse options of the switch: RFC examples without the blank line are taken (lenient),
/// header sections up to `max` octets.
fn cpim_options(max: usize) -> cpim::ParseOptions {
    cpim::ParseOptions::lenient().with_max_head_bytes(max)
}

/// The length of the CPIM header section of a message whose first octets are `prefix`, once
/// it has all arrived (`Ok(None)` before, 7701-017); the status to refuse the message with when
/// it cannot be CPIM ([`cpim_status`]).
fn head_len(prefix: &[u8], max: usize) -> Result<Option<usize>, StatusCode> {
    cpim::head_len(prefix, &cpim_options(max)).map_err(cpim_status)
}

/// The CPIM facts of a message whose first octets are `prefix` (shared, not copied), once its
/// header section is complete (`Ok(None)` before, 7701-017); the status to refuse the message
/// with when it cannot be CPIM ([`cpim_status`]). The parse uses `space`'s lists.
/// The CPIM parser's space of `session` ([`Member::cpim`]), made on first use; `scratch` when
/// the session is not a member.
fn space<'a>(
    members: &'a mut IdMap<SessionKey, Member>,
    scratch: &'a mut cpim::ParseSpace,
    session: SessionKey,
) -> &'a mut cpim::ParseSpace {
    match members.get_mut(&session) {
        Some(m) => m.cpim.get_or_insert_with(Box::default),
        None => scratch,
    }
}

fn facts(
    prefix: Bytes,
    max: usize,
    space: &mut cpim::ParseSpace,
) -> Result<Option<Facts>, StatusCode> {
    let opts = cpim_options(max);
    let parsed = cpim::Message::parse_prefix_in(prefix, &opts, space).map_err(cpim_status)?;
    let Some((m, _)) = parsed else {
        return Ok(None);
    };
    Ok(Some(Facts { message: m }))
}

/// Queues a REPORT with `status` about the message whose first chunk was `send`, covering
/// `range`, to its sender `to` (RFC 4975 §7.1.2). A REPORT about a private message carries
/// `wrapper` (7701-022) as a `message/cpim` body.
#[allow(clippy::too_many_arguments)]
fn send_report(
    out: &mut Vec<Action>,
    to: SessionKey,
    send: &ReqHead,
    tid: Ident,
    status: StatusCode,
    range: ByteRange,
    wrapper: Option<&Bytes>,
    local: &MsrpUri,
) {
    let Some(mut head) = report::report(&send.to_head(), tid, status, None, range, local) else {
        return;
    };
    if wrapper.is_some() {
        head.push(Header::ContentType(ByteString::from_static("message/cpim")));
    }
    out.push(Action::Send {
        to,
        head,
        body: wrapper.cloned(),
    });
}

/// The `message/cpim` body of the REPORTs about a private message (RFC 7701 §6.2, 7701-022):
/// the message's `From` and `To` lines copied byte for byte ([`cpim::Builder::report_wrapper`];
/// written anew from their values when a namespace prefix keeps them from being copied), then
/// `Content-Type: text/plain` and an empty body. `None` when not even that can be written.
fn report_wrapper(m: &cpim::Message) -> Option<Bytes> {
    let typed = || {
        let mut b = cpim::Builder::new();
        if let Some(f) = m.from() {
            b.from(f.formal_name().as_deref(), f.uri())?;
        }
        for t in m.to() {
            b.to(t.formal_name().as_deref(), t.uri())?;
        }
        Ok::<_, cpim::BuildError>(b)
    };
    let mut b = cpim::Builder::report_wrapper(m).or_else(|_| typed()).ok()?;
    b.content_type("text/plain").ok()?;
    b.build(b"").ok()
}

/// Queues the response owed for `req` with `status` (RFC 4975 §7.2: none for Failure-Report
/// `no` on success, 4975-046, and none for REPORTs).
fn respond(
    out: &mut Vec<Action>,
    to: SessionKey,
    req: &ReqHead,
    status: StatusCode,
    local: &MsrpUri,
) {
    if let Some(s) = report::owed(req.shape(), status).response {
        out.push(Action::Respond {
            to,
            response: Response::Owed {
                req: req.clone(),
                status: s,
                local: local.clone(),
            },
        });
    }
}

/// The head of a chunk the switch sends on a participant's session: To-Path its `a=path`,
/// From-Path our session URI (RFC 4975 §7.1.1), `message/cpim`.
fn copy_head(terms: &SessionTerms, tid: Ident, message_id: Ident, range: ByteRange) -> Head {
    Head::request(
        Method::Send,
        tid,
        terms.peer_path.iter().cloned().collect(),
        msrp::path![terms.local.clone()],
    )
    .with(Header::MessageId(message_id))
    .with(Header::ByteRange(range))
    .with(Header::ContentType(ByteString::from_static("message/cpim")))
}

/// The Byte-Range of a SEND chunk: a SEND without one is a whole message in one chunk
/// (4975-022), of a size known only at its end-line: `1-*/*`.
fn range_of(head: &ReqHead) -> ByteRange {
    head.byte_range().unwrap_or(ByteRange {
        start: 1,
        end: None,
        total: None,
    })
}
