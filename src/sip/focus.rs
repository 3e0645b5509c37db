//! The focus as a sans-IO user agent server (RFC 3261 §8.2, §12-§15; RFC 4353 §6; RFC 7701 §5):
//! requests in, responses, BYEs and mixer work out, time passed in as `now`.
//!
//! - `INVITE sip:<room>@<host>` with an SDP offer: 100 Trying at once, then the mixer is asked to
//!   join the participant ([`Output::Join`]); its answer goes out in a 200 OK that creates a
//!   dialog, retransmitted until the ACK (§13.3.1.4). A refused join gets the mixer's status:
//!   404 (no room), 486 (full), 488 with a Warning (offer unacceptable, 7701-002), 503
//!   (shutting down).
//! - re-INVITE (§14.2): an offer equal to the last one (apart from its `o=` line) gets the last
//!   answer again; a changed one joins a new session and leaves the old one once answered, with
//!   the answer's `o=` version incremented (RFC 3264 §8). A failed re-INVITE leaves the
//!   session as it was.
//! - BYE leaves; CANCEL of an INVITE not yet answered gets 200 and the INVITE 487 (§9.2);
//!   OPTIONS gets 200 with Allow and Accept (§11.2).
//! - The participant is the From URI, or the P-Asserted-Identity (RFC 3325 §9.1) when the
//!   focus is configured to trust it.
//! - When the mixer ends a session by itself (connection lost, dropped, room deleted),
//!   [`Focus::session_ended`] sends a BYE (§15.1.1); so does a 2xx that is never ACKed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::dialog::{Dialog, DialogKey, Unacked, offer_key, origin_of};
use super::message::{Header, Message, Method, NameAddr, SipUri, StartLine, reason_phrase};
use super::timer::Deadlines;
use super::transaction::{
    ClientEvent, ClientTransactions, Fired, Peer, Received, ServerTransactions, Timers, TxKey,
};

/// The default Server header and Warning agent (§20.35, §20.43).
pub const AGENT: &str = concat!("msrpd/", env!("CARGO_PKG_VERSION"));

/// The methods the focus implements (the Allow header, §20.5).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS";

/// How the focus behaves.
#[derive(Debug, Clone)]
pub struct FocusConfig {
    /// RFC 3261 timers.
    pub timers: Timers,
    /// The Server header (§20.35) and the warn-agent of Warning headers (§20.43).
    pub agent: String,
    /// Take the participant from P-Asserted-Identity when present (RFC 3325: only behind a
    /// trusted proxy).
    pub trust_asserted_identity: bool,
    /// Where the UDP listener is reached (Contact and Via of what goes out over UDP).
    pub udp: Option<SocketAddr>,
    /// Where the TCP listener is reached.
    pub tcp: Option<SocketAddr>,
    /// The host written in Contact and Via; empty: the listener's IP address.
    pub host: String,
    /// Most server transactions alive at once; a new request beyond gets 503 without one.
    pub max_transactions: usize,
}

impl Default for FocusConfig {
    fn default() -> Self {
        FocusConfig {
            timers: Timers::default(),
            agent: AGENT.to_owned(),
            trust_asserted_identity: false,
            udp: None,
            tcp: None,
            host: String::new(),
            max_transactions: 100_000,
        }
    }
}

/// What a message the focus sends is, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// A response with this status to a request with this method.
    Response(Method, u16),
    /// A request (BYE).
    Request(Method),
    /// A retransmission of something sent before.
    Retransmission,
}

/// The focus's work for its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `bytes` to `peer`.
    Send {
        /// Where.
        peer: Peer,
        /// The message.
        bytes: Bytes,
        /// What it is.
        what: Sent,
    },
    /// Join `participant` to `room` with `offer`; answer with [`Focus::joined`] and `job`.
    Join {
        /// Hands the result back.
        job: u64,
        /// The room name.
        room: String,
        /// The participant URI.
        participant: String,
        /// The SDP offer.
        offer: Bytes,
        /// The answer's `o=` session id and version (a re-INVITE), or a new one.
        origin: Option<(u64, u64)>,
    },
    /// Remove mixer session `session`.
    Leave {
        /// The session id.
        session: String,
    },
}

/// A join that failed: the SIP status and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The final response's status.
    pub status: u16,
    /// Why (a Warning for 488).
    pub reason: String,
}

/// A join that worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The mixer's session id.
    pub session: String,
    /// The SDP answer.
    pub answer: Bytes,
}

/// What a pending join answers.
#[derive(Debug)]
enum JobFor {
    /// A dialog-creating INVITE; our To tag.
    Invite { local_tag: String },
    /// A re-INVITE in this dialog.
    Reinvite(DialogKey),
}

impl JobFor {
    /// Our To tag in the answer.
    fn local_tag(&self) -> &str {
        match self {
            JobFor::Invite { local_tag } => local_tag,
            JobFor::Reinvite(dk) => &dk.local_tag,
        }
    }
}

#[derive(Debug)]
struct Job {
    key: TxKey,
    req: Message,
    peer: Peer,
    for_: JobFor,
    cancelled: bool,
}

/// The focus (see the module documentation).
#[derive(Debug)]
pub struct Focus {
    cfg: FocusConfig,
    server: ServerTransactions,
    client: ClientTransactions,
    dialogs: HashMap<DialogKey, Dialog>,
    by_session: HashMap<String, DialogKey>,
    jobs: HashMap<u64, Job>,
    next_job: u64,
    out: Vec<Output>,
    draining: bool,
    /// The dialogs whose 2xx waits for its ACK, by when it is sent again (§13.3.1.4).
    acks: Deadlines<DialogKey>,
    /// Sessions the mixer ended before their join's answer reached the focus (the two come on
    /// different channels): their dialog ends as soon as it exists. Oldest first, bounded.
    ended_early: std::collections::VecDeque<String>,
}

/// How many early-ended session ids [`Focus`] remembers.
const ENDED_EARLY: usize = 256;

impl Focus {
    /// A focus with no dialogs.
    pub fn new(cfg: FocusConfig) -> Focus {
        Focus {
            server: ServerTransactions::new(cfg.timers, cfg.max_transactions),
            client: ClientTransactions::new(cfg.timers),
            cfg,
            dialogs: HashMap::new(),
            by_session: HashMap::new(),
            jobs: HashMap::new(),
            next_job: 1,
            out: Vec::new(),
            draining: false,
            acks: Deadlines::default(),
            ended_early: std::collections::VecDeque::new(),
        }
    }

    /// Dialogs established (a 2xx sent and not ended).
    pub fn dialogs(&self) -> usize {
        self.dialogs.len()
    }

    /// Requests of ours still waiting for their final response (BYEs).
    pub fn busy(&self) -> bool {
        !self.client.is_empty()
    }

    /// All the work queued, in order.
    pub fn drain_output(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    /// When [`Focus::handle_timeout`] is due next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.server.poll_timeout(),
            self.client.poll_timeout(),
            self.acks.earliest(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Stops taking new INVITEs (503) and ends every dialog with a BYE: the service is going
    /// down.
    pub fn shutdown(&mut self, now: Instant) {
        self.draining = true;
        // INVITEs still waiting for the mixer: 503 now; their joins are undone when they
        // complete.
        let pending: Vec<u64> = self.jobs.keys().copied().collect();
        for job in pending {
            self.abandon(job, 503, now);
        }
        let keys: Vec<DialogKey> = self.dialogs.keys().cloned().collect();
        for k in keys {
            self.end_dialog(&k, now);
        }
    }

    /// Answers pending join `job`'s INVITE with `status` (503 shutting down, 487 its dialog
    /// ended, §15.1.2) and marks the job so that its join is undone when it completes.
    fn abandon(&mut self, job: u64, status: u16, now: Instant) {
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        if j.cancelled {
            return;
        }
        j.cancelled = true;
        let (key, req) = (j.key.clone(), j.req.clone());
        let tag = j.for_.local_tag().to_owned();
        if let JobFor::Reinvite(dk) = &j.for_ {
            if let Some(d) = self.dialogs.get_mut(dk) {
                d.reinvite_pending = false;
            }
        }
        if self.server.is_pending(&key) {
            let mut resp = Message::response_to(&req, status, reason_phrase(status), Some(&tag));
            if status == 503 {
                resp.push_header("Retry-After", "5");
            }
            self.respond(&key, resp, now);
        }
    }

    /// Sets dialog `dk`'s 2xx waiting for an ACK (or none), with its retransmission timer.
    fn set_unacked(&mut self, dk: &DialogKey, u: Option<Unacked>) {
        let Some(d) = self.dialogs.get_mut(dk) else {
            return;
        };
        match &u {
            Some(u) => self.acks.schedule(dk.clone(), u.next.min(u.give_up)),
            None => self.acks.cancel(dk),
        }
        d.unacked = u;
    }

    /// Mixer session `session` ended by itself: its dialog ends with a BYE.
    pub fn session_ended(&mut self, session: &str, now: Instant) {
        let Some(k) = self.by_session.remove(session) else {
            // Its join's answer may still be on its way to the focus.
            if self.ended_early.len() == ENDED_EARLY {
                self.ended_early.pop_front();
            }
            self.ended_early.push_back(session.to_owned());
            return;
        };
        if let Some(d) = self.dialogs.get_mut(&k) {
            // The mixer has already removed it: no Leave.
            d.session.clear();
        }
        self.end_dialog(&k, now);
    }

    /// `true` (and forgotten) when the mixer ended `session` before its answer came.
    fn ended_before_answer(&mut self, session: &str) -> bool {
        match self.ended_early.iter().position(|s| s == session) {
            Some(i) => {
                self.ended_early.remove(i);
                true
            }
            None => false,
        }
    }

    /// Message `msg` arrived from `peer`.
    pub fn handle(&mut self, mut msg: Message, peer: Peer, now: Instant) {
        if !msg.is_request() {
            if let Some(ClientEvent::Done(..)) = self.client.on_response(&msg, now) {
                tracing::debug!(code = msg.code(), "response to our request");
            }
            return;
        }
        mark_received(&mut msg, peer);
        // Where answers go (§18.2.2, RFC 3581), for this request's transaction and, for an
        // INVITE, its dialog.
        let peer = response_peer(&msg, peer);
        match self.server.on_request(&msg, peer, now) {
            Received::Retransmission(Some((p, bytes))) => self.out.push(Output::Send {
                peer: p,
                bytes,
                what: Sent::Retransmission,
            }),
            Received::Retransmission(None) | Received::AckAbsorbed => {}
            Received::PassUp => {
                if msg.method() == Some(&Method::Ack) {
                    self.on_ack(&msg);
                }
            }
            Received::Overloaded => {
                // Too many transactions: a stateless 503 (§21.5.4), no state kept.
                if msg.method() != Some(&Method::Ack) {
                    let tag = new_tag(&msg);
                    let mut resp =
                        Message::response_to(&msg, 503, reason_phrase(503), tag.as_deref());
                    resp.push_header("Retry-After", "5");
                    let method = msg.method().cloned().unwrap_or(Method::Options);
                    self.out.push(Output::Send {
                        peer,
                        bytes: resp.to_bytes(),
                        what: Sent::Response(method, 503),
                    });
                }
            }
            Received::New(key) => self.on_new(key, msg, peer, now),
        }
    }

    /// The join asked for by [`Output::Join`] `job` has its result.
    pub fn joined(&mut self, job: u64, result: Result<Accepted, Refusal>, now: Instant) {
        let Some(job) = self.jobs.remove(&job) else {
            return;
        };
        let live = !job.cancelled && self.server.is_pending(&job.key);
        match (job.for_, result) {
            (_, Ok(a)) if !live => {
                // Cancelled (or answered otherwise) meanwhile: undo the join.
                self.out.push(Output::Leave { session: a.session });
            }
            (_, Err(_)) if !live => {}
            (JobFor::Invite { local_tag }, Ok(a)) => {
                let resp = self.answer_2xx(&job.req, &local_tag, job.peer, a.answer.clone());
                let bytes = self.respond(&job.key, resp, now);
                let Some(bytes) = bytes else { return };
                let req = &job.req;
                let key = DialogKey {
                    call_id: req.call_id().unwrap_or_default().to_owned(),
                    local_tag: local_tag.clone(),
                    remote_tag: req
                        .from()
                        .and_then(|f| f.tag().map(str::to_owned))
                        .unwrap_or_default(),
                };
                let to = req
                    .to()
                    .map(|t| with_tag(t, &local_tag))
                    .unwrap_or_default();
                let d = Dialog {
                    key: key.clone(),
                    peer: job.peer,
                    local: to,
                    remote: req.header("From").unwrap_or_default().to_owned(),
                    remote_target: remote_target(req),
                    route_set: req
                        .header_values("Record-Route")
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                    remote_cseq: req.cseq().map(|c| c.seq).unwrap_or(0),
                    local_cseq: 0,
                    room: room_of(req).unwrap_or_default(),
                    participant: self.participant(req).unwrap_or_default(),
                    session: a.session.clone(),
                    offer: offer_key(&req.body),
                    origin: origin_of(&a.answer).unwrap_or((0, 1)),
                    answer: a.answer,
                    unacked: None,
                    reinvite_pending: false,
                };
                let unacked = self.unacked(req, bytes, now);
                self.dialogs.insert(key.clone(), d);
                self.set_unacked(&key, Some(unacked));
                if self.ended_before_answer(&a.session) {
                    if let Some(d) = self.dialogs.get_mut(&key) {
                        d.session.clear();
                    }
                    self.end_dialog(&key, now);
                } else {
                    self.by_session.insert(a.session, key);
                }
            }
            (JobFor::Reinvite(dk), Ok(a)) => {
                let Some(d) = self.dialogs.get(&dk) else {
                    // Ending a dialog abandons its re-INVITE (487), so this is a safety net.
                    self.out.push(Output::Leave { session: a.session });
                    self.reply(&job.key, &job.req, 481, now);
                    return;
                };
                let local_tag = d.key.local_tag.clone();
                let resp = self.answer_2xx(&job.req, &local_tag, job.peer, a.answer.clone());
                let Some(bytes) = self.respond(&job.key, resp, now) else {
                    return;
                };
                let unacked = self.unacked(&job.req, bytes, now);
                let d = self.dialogs.get_mut(&dk).expect("looked up above");
                let old = std::mem::replace(&mut d.session, a.session.clone());
                d.offer = offer_key(&job.req.body);
                d.origin = origin_of(&a.answer).unwrap_or(d.origin);
                d.answer = a.answer;
                d.reinvite_pending = false;
                self.set_unacked(&dk, Some(unacked));
                self.by_session.remove(&old);
                self.out.push(Output::Leave { session: old });
                if self.ended_before_answer(&a.session) {
                    if let Some(d) = self.dialogs.get_mut(&dk) {
                        d.session.clear();
                    }
                    self.end_dialog(&dk, now);
                } else {
                    self.by_session.insert(a.session, dk);
                }
            }
            (for_, Err(r)) => {
                if let JobFor::Reinvite(dk) = &for_ {
                    if let Some(d) = self.dialogs.get_mut(dk) {
                        d.reinvite_pending = false;
                    }
                }
                let tag = Some(for_.local_tag());
                let mut resp =
                    Message::response_to(&job.req, r.status, reason_phrase(r.status), tag);
                if r.status == 488 || r.status == 606 {
                    let code = warn_code(&r.reason);
                    resp.push_header("Warning", warning(code, &self.cfg.agent, &r.reason));
                }
                if r.status == 503 {
                    resp.push_header("Retry-After", "5");
                }
                self.respond(&job.key, resp, now);
            }
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut fired = Vec::new();
        let mut events = Vec::new();
        self.server.handle_timeout(now, &mut fired);
        self.client.handle_timeout(now, &mut fired, &mut events);
        for f in fired {
            match f {
                Fired::Resend(peer, bytes) => self.out.push(Output::Send {
                    peer,
                    bytes,
                    what: Sent::Retransmission,
                }),
                Fired::NoAck(key) => tracing::debug!(?key, "no ACK for a final response"),
            }
        }
        for e in events {
            tracing::debug!(?e, "request timed out");
        }
        let t2 = self.cfg.timers.t2;
        while let Some(k) = self.acks.pop_due(now) {
            let Some(d) = self.dialogs.get_mut(&k) else {
                continue;
            };
            let Some(u) = &mut d.unacked else { continue };
            if now >= u.give_up {
                // §13.3.1.4: no ACK for 64·T1: the session ends with a BYE.
                tracing::info!(call_id = %k.call_id, "no ACK for the 2xx: ending the session");
                self.end_dialog(&k, now);
                continue;
            }
            if now >= u.next {
                self.out.push(Output::Send {
                    peer: d.peer,
                    bytes: u.bytes.clone(),
                    what: Sent::Retransmission,
                });
                u.interval = (u.interval * 2).min(t2);
                u.next = now + u.interval;
            }
            let at = u.next.min(u.give_up);
            self.acks.schedule(k, at);
        }
    }

    /// A request that starts a server transaction.
    fn on_new(&mut self, key: TxKey, req: Message, peer: Peer, now: Instant) {
        let method = req
            .method()
            .cloned()
            .unwrap_or(Method::Other(String::new()));
        let uri_ok = match request_uri(&req).and_then(SipUri::parse) {
            Some(u) => u.scheme == "sip" || u.scheme == "sips",
            None => false,
        };
        if !uri_ok {
            return self.reply(&key, &req, 416, now);
        }
        if method != Method::Cancel {
            let unsupported: Vec<&str> = req.header_values("Require");
            if !unsupported.is_empty() {
                let tag = new_tag(&req);
                let mut resp = Message::response_to(&req, 420, reason_phrase(420), tag.as_deref());
                resp.push_header("Unsupported", unsupported.join(", "));
                self.respond(&key, resp, now);
                return;
            }
        }
        match method {
            Method::Invite => {
                if DialogKey::of_request(&req).is_some() {
                    self.on_reinvite(key, req, peer, now);
                } else {
                    self.on_invite(key, req, peer, now);
                }
            }
            Method::Bye => self.on_bye(key, req, now),
            Method::Cancel => self.on_cancel(key, req, now),
            Method::Options => {
                if DialogKey::of_request(&req).is_some_and(|k| !self.dialogs.contains_key(&k)) {
                    return self.reply(&key, &req, 481, now);
                }
                let tag = new_tag(&req);
                let mut resp = Message::response_to(&req, 200, "OK", tag.as_deref());
                resp.push_header("Allow", ALLOW);
                resp.push_header("Accept", "application/sdp");
                resp.push_header("Server", self.cfg.agent.clone());
                self.respond(&key, resp, now);
            }
            Method::Ack => {}
            Method::Other(_) => self.reply(&key, &req, 501, now),
            _ => {
                let tag = new_tag(&req);
                let mut resp = Message::response_to(&req, 405, reason_phrase(405), tag.as_deref());
                resp.push_header("Allow", ALLOW);
                self.respond(&key, resp, now);
            }
        }
    }

    /// A dialog-creating INVITE (§13.3.1).
    fn on_invite(&mut self, key: TxKey, req: Message, peer: Peer, now: Instant) {
        if self.draining {
            let tag = new_tag(&req);
            let mut resp = Message::response_to(&req, 503, reason_phrase(503), tag.as_deref());
            resp.push_header("Retry-After", "5");
            self.respond(&key, resp, now);
            return;
        }
        let Some(room) = room_of(&req) else {
            let tag = new_tag(&req);
            let mut resp = Message::response_to(&req, 404, reason_phrase(404), tag.as_deref());
            resp.push_header(
                "Warning",
                warning(399, &self.cfg.agent, "no room in the Request-URI"),
            );
            self.respond(&key, resp, now);
            return;
        };
        if let Some(refusal) = self.check_offer(&req) {
            self.refuse(&key, &req, refusal, now);
            return;
        }
        let Some(participant) = self.participant(&req) else {
            return self.reply(&key, &req, 400, now);
        };
        // §17.2.1: 100 Trying at once, as the answer comes from another task.
        let trying = Message::response_to(&req, 100, "Trying", None);
        self.respond(&key, trying, now);
        let local_tag = msrp_relay::digest::random_hex(8);
        let job = self.next_job;
        self.next_job += 1;
        self.out.push(Output::Join {
            job,
            room,
            participant,
            offer: req.body.clone(),
            origin: None,
        });
        self.jobs.insert(
            job,
            Job {
                key,
                req,
                peer,
                for_: JobFor::Invite { local_tag },
                cancelled: false,
            },
        );
    }

    /// An INVITE in a dialog (§14.2).
    fn on_reinvite(&mut self, key: TxKey, req: Message, peer: Peer, now: Instant) {
        let dk = DialogKey::of_request(&req).expect("checked by the caller");
        let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let Some(d) = self.dialogs.get_mut(&dk) else {
            return self.reply(&key, &req, 481, now);
        };
        if seq <= d.remote_cseq || d.reinvite_pending || d.unacked.is_some() {
            // §12.2.2 (out of order) and §14.2 (an INVITE still being answered or ACKed).
            let mut resp = Message::response_to(&req, 500, reason_phrase(500), Some(&dk.local_tag));
            if seq > d.remote_cseq {
                resp.push_header("Retry-After", "2");
            }
            self.respond(&key, resp, now);
            return;
        }
        d.remote_cseq = seq;
        d.peer = peer;
        if req.header("Contact").is_some() {
            d.remote_target = remote_target(&req);
        }
        if !req.body.is_empty() {
            if let Some(refusal) = self.check_offer(&req) {
                self.refuse(&key, &req, refusal, now);
                return;
            }
        }
        let d = self.dialogs.get_mut(&dk).expect("looked up above");
        if req.body.is_empty() || offer_key(&req.body) == d.offer {
            // The same offer (or none: our last answer is the offer, §14.2): the same
            // answer, version unchanged (RFC 3264 §8).
            let answer = d.answer.clone();
            let resp = self.answer_2xx(&req, &dk.local_tag, peer, answer);
            if let Some(bytes) = self.respond(&key, resp, now) {
                let u = self.unacked(&req, bytes, now);
                self.set_unacked(&dk, Some(u));
            }
            return;
        }
        d.reinvite_pending = true;
        let (room, participant, origin) = (
            d.room.clone(),
            d.participant.clone(),
            (d.origin.0, d.origin.1.wrapping_add(1)),
        );
        let trying = Message::response_to(&req, 100, "Trying", None);
        self.respond(&key, trying, now);
        let job = self.next_job;
        self.next_job += 1;
        self.out.push(Output::Join {
            job,
            room,
            participant,
            offer: req.body.clone(),
            origin: Some(origin),
        });
        self.jobs.insert(
            job,
            Job {
                key,
                req,
                peer,
                for_: JobFor::Reinvite(dk),
                cancelled: false,
            },
        );
    }

    fn on_bye(&mut self, key: TxKey, req: Message, now: Instant) {
        let Some(dk) = DialogKey::of_request(&req) else {
            return self.reply(&key, &req, 481, now);
        };
        let Some(d) = self.remove_dialog(&dk, now) else {
            return self.reply(&key, &req, 481, now);
        };
        self.out.push(Output::Leave { session: d.session });
        self.reply(&key, &req, 200, now);
    }

    /// Removes dialog `dk` with what hangs on it: its session entry, its 2xx timer, and a
    /// re-INVITE being answered, which gets 487 (§15.1.2).
    fn remove_dialog(&mut self, dk: &DialogKey, now: Instant) -> Option<Dialog> {
        let d = self.dialogs.remove(dk)?;
        self.by_session.remove(&d.session);
        self.acks.cancel(dk);
        if d.reinvite_pending {
            let jobs: Vec<u64> = self
                .jobs
                .iter()
                .filter(|(_, j)| matches!(&j.for_, JobFor::Reinvite(k) if k == dk))
                .map(|(id, _)| *id)
                .collect();
            for job in jobs {
                self.abandon(job, 487, now);
            }
        }
        Some(d)
    }

    /// §9.2: CANCEL matches the INVITE with its branch; if that INVITE has no final response
    /// yet, it gets 487 and its join is undone.
    fn on_cancel(&mut self, key: TxKey, req: Message, now: Instant) {
        let invite = key.cancelled_invite();
        if !self.server.exists(&invite) {
            return self.reply(&key, &req, 481, now);
        }
        let job = self
            .jobs
            .iter()
            .find(|(_, j)| j.key == invite)
            .map(|(id, j)| (*id, j.for_.local_tag().to_owned()));
        // The 200 carries the To tag of the INVITE's final response (§9.2): the 487 to come,
        // or the 200 already sent (its dialog's).
        let answered = || {
            let call_id = req.call_id()?;
            let from_tag = req.from()?.tag()?.to_owned();
            self.dialogs
                .keys()
                .find(|k| k.call_id == call_id && k.remote_tag == from_tag)
                .map(|k| k.local_tag.clone())
        };
        let tag = job
            .as_ref()
            .map(|(_, t)| t.clone())
            .or_else(answered)
            .or_else(|| new_tag(&req));
        let resp = Message::response_to(&req, 200, "OK", tag.as_deref());
        self.respond(&key, resp, now);
        if let Some((id, _)) = job {
            if self.server.is_pending(&invite) {
                self.abandon(id, 487, now);
            }
        }
    }

    /// The ACK for a 2xx (§13.3.1.4): retransmissions stop.
    fn on_ack(&mut self, ack: &Message) {
        let Some(dk) = DialogKey::of_request(ack) else {
            return;
        };
        let seq = ack.cseq().map(|c| c.seq);
        let acked = self
            .dialogs
            .get(&dk)
            .is_some_and(|d| d.unacked.as_ref().map(|u| u.cseq) == seq);
        if acked {
            self.set_unacked(&dk, None);
        }
    }

    /// Why the offer of INVITE `req` cannot be taken before asking the mixer, if it cannot.
    fn check_offer(&self, req: &Message) -> Option<(u16, String, Option<&'static str>)> {
        if req.body.is_empty() {
            // An INVITE without an offer would need our offer in the 2xx and the answer in
            // the ACK; rooms are joined with an offer (RFC 7701 §5.2).
            return Some((488, "an SDP offer is required in the INVITE".into(), None));
        }
        let ctype = req.header("Content-Type").unwrap_or("");
        let essence = ctype.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/sdp") {
            return Some((
                415,
                format!("{essence:?}: only application/sdp"),
                Some("application/sdp"),
            ));
        }
        if let Some(enc) = req.header("Content-Encoding") {
            if !enc.trim().eq_ignore_ascii_case("identity") {
                return Some((415, format!("Content-Encoding {enc:?}"), None));
            }
        }
        None
    }

    fn refuse(
        &mut self,
        key: &TxKey,
        req: &Message,
        (status, reason, accept): (u16, String, Option<&'static str>),
        now: Instant,
    ) {
        let tag = DialogKey::of_request(req)
            .map(|k| k.local_tag)
            .unwrap_or_else(|| msrp_relay::digest::random_hex(8));
        let mut resp = Message::response_to(req, status, reason_phrase(status), Some(&tag));
        if let Some(a) = accept {
            resp.push_header("Accept", a);
            if status == 415 {
                resp.push_header("Accept-Encoding", "identity");
            }
        }
        resp.push_header("Warning", warning(399, &self.cfg.agent, &reason));
        self.respond(key, resp, now);
    }

    /// The participant URI of `req` (RFC 7701 §6.3: CPIM From must match it).
    fn participant(&self, req: &Message) -> Option<String> {
        if self.cfg.trust_asserted_identity {
            let pai = req
                .header_values("P-Asserted-Identity")
                .into_iter()
                .filter_map(NameAddr::parse)
                .find(|n| n.uri.starts_with("sip:") || n.uri.starts_with("sips:"));
            if let Some(n) = pai {
                return Some(n.uri);
            }
        }
        let from = req.from()?;
        let uri = SipUri::parse(&from.uri)?;
        // The URI without its parameters: the user's address of record.
        let host = if uri.host.contains(':') {
            format!("[{}]", uri.host)
        } else {
            uri.host.clone()
        };
        let port = uri.port.map(|p| format!(":{p}")).unwrap_or_default();
        Some(match &uri.user {
            Some(u) => format!("{}:{u}@{host}{port}", uri.scheme),
            None => format!("{}:{host}{port}", uri.scheme),
        })
    }

    /// A 200 OK for INVITE `req` carrying `answer`.
    fn answer_2xx(&self, req: &Message, local_tag: &str, peer: Peer, answer: Bytes) -> Message {
        let mut resp = Message::response_to(req, 200, "OK", Some(local_tag));
        resp.push_header("Contact", self.contact(req, peer));
        resp.push_header("Allow", ALLOW);
        resp.push_header("Server", self.cfg.agent.clone());
        resp.push_header("Content-Type", "application/sdp");
        for rr in req.header_values("Record-Route") {
            resp.push_header("Record-Route", rr);
        }
        resp.body = answer;
        resp
    }

    /// Our Contact (§12.1.1): the room at the listener the request came in on.
    fn contact(&self, req: &Message, peer: Peer) -> String {
        let user = room_of(req).unwrap_or_default();
        let sent_by = self.sent_by(peer);
        match peer {
            Peer::Udp(_) => format!("<sip:{user}@{sent_by}>"),
            Peer::Tcp { .. } => format!("<sip:{user}@{sent_by};transport=tcp>"),
        }
    }

    /// `host:port` of our listener for `peer`'s transport.
    fn sent_by(&self, peer: Peer) -> String {
        let addr = match peer {
            Peer::Udp(_) => self.cfg.udp,
            Peer::Tcp { .. } => self.cfg.tcp,
        }
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)));
        let host = if !self.cfg.host.is_empty() {
            self.cfg.host.clone()
        } else if addr.is_ipv6() {
            format!("[{}]", addr.ip())
        } else {
            addr.ip().to_string()
        };
        format!("{host}:{}", addr.port())
    }

    fn unacked(&self, req: &Message, bytes: Bytes, now: Instant) -> Unacked {
        let t = self.cfg.timers;
        Unacked {
            cseq: req.cseq().map(|c| c.seq).unwrap_or(0),
            bytes,
            next: now + t.t1,
            interval: t.t1,
            give_up: now + t.t64(),
        }
    }

    /// Ends dialog `k`: a BYE (§15.1.1) and, unless the mixer ended it, a Leave.
    fn end_dialog(&mut self, k: &DialogKey, now: Instant) {
        let Some(mut d) = self.remove_dialog(k, now) else {
            return;
        };
        if !d.session.is_empty() {
            self.out.push(Output::Leave {
                session: std::mem::take(&mut d.session),
            });
        }
        let branch = format!("z9hG4bK{}", msrp_relay::digest::random_hex(10));
        let bye = d.bye(&self.sent_by(d.peer), branch.clone());
        let bytes = bye.to_bytes();
        self.client
            .start(branch, Method::Bye, bytes.clone(), d.peer, now);
        self.out.push(Output::Send {
            peer: d.peer,
            bytes,
            what: Sent::Request(Method::Bye),
        });
    }

    /// Answers `req` with a bodiless `code` (a To tag on final responses to requests outside
    /// a dialog, §8.2.6.2).
    fn reply(&mut self, key: &TxKey, req: &Message, code: u16, now: Instant) {
        let tag = if code >= 200 { new_tag(req) } else { None };
        let resp = Message::response_to(req, code, reason_phrase(code), tag.as_deref());
        self.respond(key, resp, now);
    }

    /// Sends `resp` in transaction `key`; the bytes sent.
    fn respond(&mut self, key: &TxKey, resp: Message, now: Instant) -> Option<Bytes> {
        let code = resp.code().unwrap_or(500);
        let bytes = resp.to_bytes();
        let (peer, bytes) = self.server.respond(key, code, bytes, now)?;
        self.out.push(Output::Send {
            peer,
            bytes: bytes.clone(),
            what: Sent::Response(key.method().clone(), code),
        });
        Some(bytes)
    }
}

/// A To tag for a final response to `req` when its To has none (§8.2.6.2).
fn new_tag(req: &Message) -> Option<String> {
    if req.to().is_some_and(|t| t.tag().is_some()) {
        None
    } else {
        Some(msrp_relay::digest::random_hex(8))
    }
}

/// The room of a request: the user part of its Request-URI.
fn room_of(req: &Message) -> Option<String> {
    let uri = SipUri::parse(request_uri(req)?)?;
    uri.user.filter(|u| !u.is_empty())
}

/// The remote target (§12.1.1): the Contact URI, or the From URI without one.
fn remote_target(req: &Message) -> String {
    req.header_values("Contact")
        .first()
        .and_then(|c| NameAddr::parse(c))
        .or_else(|| req.from())
        .map(|n| n.uri)
        .unwrap_or_default()
}

/// `to` (a To header) with `;tag=tag` added.
fn with_tag(to: NameAddr, tag: &str) -> String {
    let mut to = to;
    if to.tag().is_none() {
        to.params.push(("tag".into(), Some(tag.to_owned())));
    }
    to.to_string()
}

/// The warn-code (§20.43) for why an offer was refused: 304 no MSRP media offered, 305 no
/// acceptable format (accept-types without message/cpim, 7701-002), 399 anything else.
fn warn_code(reason: &str) -> u16 {
    if reason.contains("accept-types") || reason.contains("cpim") {
        305
    } else if reason.contains("m=message") || reason.contains("media type") {
        304
    } else {
        399
    }
}

/// A Warning header value (§20.43): `code agent "text"`.
pub(crate) fn warning(code: u16, agent: &str, text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
        .collect();
    let agent = agent.split('/').next().unwrap_or(agent);
    format!("{code} {agent} \"{text}\"")
}

/// §18.2.1 and RFC 3581 §4: a request that came over UDP from an address other than its top
/// Via's sent-by gets `received`; one with a bare `rport` gets the source port.
fn mark_received(req: &mut Message, peer: Peer) {
    let Some(mut via) = req.top_via() else { return };
    let src = peer.addr();
    let ip = src.ip().to_string();
    let needs_rport = via.rport == Some(None);
    // RFC 3581 §4: with rport, `received` even when it equals the sent-by host.
    if via.host == ip && !needs_rport {
        return;
    }
    if needs_rport {
        via.set_param("rport", Some(itoa::Buffer::new().format(src.port())));
    }
    via.set_param("received", Some(&ip));
    // The top value stands alone (a comma-joined Via is split) and goes back in front, the
    // other Vias after it in order (§20.42: order matters only among Vias).
    let vias: Vec<Header> = std::iter::once(via.to_string())
        .chain(
            req.header_values("Via")
                .into_iter()
                .skip(1)
                .map(str::to_owned),
        )
        .map(|v| Header::new("Via", v))
        .collect();
    req.remove_header("Via");
    req.headers.splice(0..0, vias);
}

/// Where a response to `req` goes (§18.2.2, RFC 3581 §4): over TCP, the connection it came
/// on; over UDP, the source address when the Via asked for `rport`, else the `received` (or
/// sent-by) host at the sent-by port (5060 by default).
fn response_peer(req: &Message, peer: Peer) -> Peer {
    let Peer::Udp(src) = peer else { return peer };
    let Some(via) = req.top_via() else {
        return peer;
    };
    if via.rport.is_some() {
        return peer;
    }
    let port = via.port.unwrap_or(5060);
    Peer::Udp(SocketAddr::new(src.ip(), port))
}

/// The Request-URI of a request.
fn request_uri(req: &Message) -> Option<&str> {
    match &req.start {
        StartLine::Request { uri, .. } => Some(uri),
        StartLine::Response { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::message::{Limits, parse_datagram};
    use super::*;

    const ALICE: &str = "127.0.0.1:5070";

    fn udp() -> Peer {
        Peer::Udp(ALICE.parse().unwrap())
    }

    fn focus() -> Focus {
        Focus::new(FocusConfig {
            udp: Some("127.0.0.1:5060".parse().unwrap()),
            tcp: Some("127.0.0.1:5061".parse().unwrap()),
            ..FocusConfig::default()
        })
    }

    const OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
        t=0 0\r\nm=message 7394 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
        a=path:msrp://127.0.0.1:7394/a1;tcp\r\n";

    /// A request from Alice; `to_tag` makes it in-dialog.
    fn req(method: &str, branch: &str, cseq: u32, to_tag: Option<&str>, body: &str) -> Message {
        let to = match to_tag {
            Some(t) => format!("<sip:lobby@localhost>;tag={t}"),
            None => "<sip:lobby@localhost>".to_owned(),
        };
        let ctype = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_owned()
        };
        let text = format!(
            "{method} sip:lobby@localhost SIP/2.0\r\n\
             Via: SIP/2.0/UDP {ALICE};branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: \"Alice\" <sip:alice@localhost>;tag=al1\r\n\
             To: {to}\r\n\
             Call-ID: call-1@localhost\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:alice@{ALICE}>\r\n\
             Record-Route: <sip:proxy.example;lr>\r\n\
             {ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        parse_datagram(text.as_bytes(), &Limits::default()).expect("test request parses")
    }

    /// Everything the focus wants sent, parsed, with where it goes.
    fn sent(f: &mut Focus) -> (Vec<(Peer, Message)>, Vec<Output>) {
        let mut msgs = Vec::new();
        let mut other = Vec::new();
        for o in f.drain_output() {
            match o {
                Output::Send { peer, bytes, .. } => msgs.push((
                    peer,
                    parse_datagram(&bytes, &Limits::default()).expect("sent message parses"),
                )),
                o => other.push(o),
            }
        }
        (msgs, other)
    }

    fn codes(msgs: &[(Peer, Message)]) -> Vec<u16> {
        msgs.iter().filter_map(|(_, m)| m.code()).collect()
    }

    fn accepted(session: &str) -> Accepted {
        Accepted {
            session: session.into(),
            answer: Bytes::from_static(
                b"v=0\r\no=- 77 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                  m=message 2855 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
                  a=path:msrp://localhost:2855/s1;tcp\r\na=setup:passive\r\n",
            ),
        }
    }

    /// The mixer's join `job` completes after its INVITE was answered otherwise (CANCEL,
    /// shutdown): nothing is sent, the session is left, and no dialog stays.
    fn late_join_is_undone(f: &mut Focus, job: u64, now: Instant) {
        f.joined(job, Ok(accepted("s1")), now);
        let (msgs, other) = sent(f);
        assert!(msgs.is_empty());
        assert_eq!(
            other,
            [Output::Leave {
                session: "s1".into()
            }]
        );
        assert_eq!(f.dialogs(), 0);
    }

    /// Alice's INVITE, not yet answered by the mixer: the focus and the join's job.
    fn invite_pending(now: Instant) -> (Focus, u64) {
        let mut f = focus();
        f.handle(req("INVITE", "z9hG4bKi1", 1, None, OFFER), udp(), now);
        let (msgs, other) = sent(&mut f);
        assert_eq!(codes(&msgs), [100]);
        let [Output::Join { job, .. }] = &other[..] else {
            panic!("one join: {other:?}")
        };
        let job = *job;
        (f, job)
    }

    /// Joins Alice; returns the focus, the 200 and the dialog's To tag.
    fn joined_alice(now: Instant) -> (Focus, Message, String) {
        let mut f = focus();
        f.handle(req("INVITE", "z9hG4bKi1", 1, None, OFFER), udp(), now);
        let (msgs, other) = sent(&mut f);
        assert_eq!(codes(&msgs), [100]);
        let [
            Output::Join {
                job,
                room,
                participant,
                offer,
                origin,
            },
        ] = &other[..]
        else {
            panic!("one join: {other:?}")
        };
        assert_eq!(
            (room.as_str(), participant.as_str()),
            ("lobby", "sip:alice@localhost")
        );
        assert_eq!((&offer[..], *origin), (OFFER.as_bytes(), None));
        f.joined(*job, Ok(accepted("s1")), now);
        let (mut msgs, other) = sent(&mut f);
        assert!(other.is_empty());
        let (peer, ok) = msgs.pop().expect("a 200");
        assert_eq!(peer, udp());
        let tag = ok
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .expect("To tag");
        (f, ok, tag)
    }

    /// RFC 3261 §13.3.1: INVITE → 100 at once, the mixer's answer in a 200 with a To tag, a
    /// Contact and the SDP; §13.3.1.4: the 200 is retransmitted at T1, 2·T1, 4·T1 … until
    /// the ACK; BYE (§15.1.2) gets 200 and leaves the session.
    #[test]
    fn invite_ack_bye() {
        let now = Instant::now();
        let (mut f, ok, tag) = joined_alice(now);
        assert_eq!(ok.code(), Some(200));
        assert_eq!(ok.header("Content-Type"), Some("application/sdp"));
        assert!(
            ok.header("Contact")
                .unwrap()
                .contains("sip:lobby@127.0.0.1:5060")
        );
        assert_eq!(ok.header("Record-Route"), Some("<sip:proxy.example;lr>"));
        assert_eq!(&ok.body[..], &accepted("s1").answer[..]);
        assert_eq!(f.dialogs(), 1);

        let t1 = Timers::default().t1;
        let mut at = now;
        for gap in [t1, t1 * 2, t1 * 4] {
            let next = f.poll_timeout().unwrap();
            assert_eq!(next - at, gap);
            at = next;
            f.handle_timeout(at);
            let (msgs, _) = sent(&mut f);
            assert_eq!(codes(&msgs), [200]);
        }
        f.handle(req("ACK", "z9hG4bKa1", 1, Some(&tag), ""), udp(), at);
        f.handle_timeout(at + Duration::from_secs(5));
        let (msgs, _) = sent(&mut f);
        assert!(msgs.is_empty(), "no 200 after the ACK");

        f.handle(req("BYE", "z9hG4bKb1", 2, Some(&tag), ""), udp(), at);
        let (msgs, other) = sent(&mut f);
        assert_eq!(codes(&msgs), [200]);
        assert_eq!(
            other,
            [Output::Leave {
                session: "s1".into()
            }]
        );
        assert_eq!(f.dialogs(), 0);
        // A second BYE: no such dialog (its retransmission gets the 200 again instead).
        f.handle(req("BYE", "z9hG4bKb2", 3, Some(&tag), ""), udp(), at);
        assert_eq!(codes(&sent(&mut f).0), [481]);
        f.handle(req("BYE", "z9hG4bKb1", 2, Some(&tag), ""), udp(), at);
        assert_eq!(codes(&sent(&mut f).0), [200]);
    }

    /// RFC 6026 §7.1: a retransmitted INVITE after the 200 is absorbed: no second join.
    #[test]
    fn retransmitted_invite_does_not_join_twice() {
        let now = Instant::now();
        let (mut f, _, _) = joined_alice(now);
        f.handle(req("INVITE", "z9hG4bKi1", 1, None, OFFER), udp(), now);
        let (msgs, other) = sent(&mut f);
        assert!(other.is_empty() && msgs.is_empty(), "{other:?} {msgs:?}");
        assert_eq!(f.dialogs(), 1);
    }

    /// §9.2: CANCEL before the answer: 200 to the CANCEL, 487 to the INVITE, and the join that
    /// completes afterwards is undone.
    #[test]
    fn cancel_before_the_answer() {
        let now = Instant::now();
        let (mut f, job) = invite_pending(now);
        f.handle(req("CANCEL", "z9hG4bKi1", 1, None, ""), udp(), now);
        let (msgs, _) = sent(&mut f);
        assert_eq!(codes(&msgs), [200, 487]);
        assert_eq!(msgs[0].1.cseq().unwrap().method, Method::Cancel);
        assert!(msgs[1].1.to().unwrap().tag().is_some());
        late_join_is_undone(&mut f, job, now);
        // A CANCEL for nothing: 481.
        f.handle(req("CANCEL", "z9hG4bKzz", 1, None, ""), udp(), now);
        assert_eq!(codes(&sent(&mut f).0), [481]);
    }

    /// §9.2 / RFC 6026: a CANCEL after the 200 gets 200 with the dialog's To tag, and the
    /// call stays up.
    #[test]
    fn cancel_after_the_answer() {
        let now = Instant::now();
        let (mut f, _, tag) = joined_alice(now);
        f.handle(req("CANCEL", "z9hG4bKi1", 1, None, ""), udp(), now);
        let (msgs, other) = sent(&mut f);
        assert!(other.is_empty());
        assert_eq!(codes(&msgs), [200]);
        assert_eq!(msgs[0].1.to().unwrap().tag(), Some(tag.as_str()));
        assert_eq!(f.dialogs(), 1);
    }

    /// 7701-002: a refused offer gets 488 with a Warning (305 for the accept-types), which
    /// Timer G retransmits over UDP until the ACK.
    #[test]
    fn refused_offer_gets_488_with_warning() {
        let now = Instant::now();
        let (mut f, job) = invite_pending(now);
        f.joined(
            job,
            Err(Refusal {
                status: 488,
                reason: "accept-types lacks message/cpim".into(),
            }),
            now,
        );
        let (msgs, _) = sent(&mut f);
        let resp = &msgs[0].1;
        assert_eq!(resp.code(), Some(488));
        let w = resp.header("Warning").expect("Warning");
        assert!(w.starts_with("305 msrpd \""), "{w}");
        let tag = resp.to().unwrap().tag().unwrap().to_owned();
        let at = f.poll_timeout().unwrap();
        assert_eq!(at - now, Timers::default().t1);
        f.handle_timeout(at);
        assert_eq!(codes(&sent(&mut f).0), [488]);
        f.handle(req("ACK", "z9hG4bKi1", 1, Some(&tag), ""), udp(), at);
        f.handle_timeout(at + Duration::from_secs(4));
        assert!(sent(&mut f).0.is_empty());
        assert_eq!(f.dialogs(), 0);
    }

    /// §14.2 and RFC 3264 §8: a re-INVITE with the same offer gets the same answer without a
    /// new join; a changed offer joins anew with the `o=` version incremented, and the old
    /// session is left once the 200 is out.
    #[test]
    fn reinvite_same_and_changed_offer() {
        let now = Instant::now();
        let (mut f, _, tag) = joined_alice(now);
        f.handle(req("ACK", "z9hG4bKa1", 1, Some(&tag), ""), udp(), now);
        let same = OFFER.replace("o=alice 1 1", "o=alice 1 2");
        f.handle(req("INVITE", "z9hG4bKr1", 2, Some(&tag), &same), udp(), now);
        let (msgs, other) = sent(&mut f);
        assert!(other.is_empty(), "{other:?}");
        assert_eq!(codes(&msgs), [200]);
        assert_eq!(&msgs[0].1.body[..], &accepted("s1").answer[..]);
        f.handle(req("ACK", "z9hG4bKa2", 2, Some(&tag), ""), udp(), now);

        let changed = OFFER.replace("7394", "7395");
        f.handle(
            req("INVITE", "z9hG4bKr2", 3, Some(&tag), &changed),
            udp(),
            now,
        );
        let (msgs, other) = sent(&mut f);
        assert_eq!(codes(&msgs), [100]);
        let [Output::Join { job, origin, .. }] = &other[..] else {
            panic!("{other:?}")
        };
        assert_eq!(*origin, Some((77, 2)));
        // A second re-INVITE while this one is answered: 500 with Retry-After (§14.2).
        f.handle(
            req("INVITE", "z9hG4bKr3", 4, Some(&tag), &changed),
            udp(),
            now,
        );
        let (msgs, _) = sent(&mut f);
        assert_eq!(codes(&msgs), [500]);
        assert!(msgs[0].1.header("Retry-After").is_some());

        f.joined(*job, Ok(accepted("s2")), now);
        let (msgs, other) = sent(&mut f);
        assert_eq!(codes(&msgs), [200]);
        assert_eq!(
            other,
            [Output::Leave {
                session: "s1".into()
            }]
        );
        // An out-of-order CSeq: 500 (§12.2.2).
        f.handle(req("ACK", "z9hG4bKa3", 3, Some(&tag), ""), udp(), now);
        f.handle(
            req("INVITE", "z9hG4bKr4", 2, Some(&tag), &changed),
            udp(),
            now,
        );
        assert_eq!(codes(&sent(&mut f).0), [500]);
        // The mixer ending s2 now ends the dialog with a BYE.
        f.session_ended("s2", now);
        let (msgs, other) = sent(&mut f);
        assert!(other.is_empty(), "the mixer already removed it: {other:?}");
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].1.method(), Some(&Method::Bye));
    }

    /// §15.1.1, §12.2.1.1: the focus's BYE (when the mixer ends a session) goes to the
    /// participant's Contact with the tags swapped, the next CSeq and the route set; it is
    /// retransmitted over UDP (Timer E) until its 200.
    #[test]
    fn focus_ends_a_dialog_with_bye() {
        let now = Instant::now();
        let (mut f, _, tag) = joined_alice(now);
        f.handle(req("ACK", "z9hG4bKa1", 1, Some(&tag), ""), udp(), now);
        f.session_ended("s1", now);
        assert!(f.by_session.is_empty() && f.acks.is_empty());
        let (msgs, other) = sent(&mut f);
        assert!(other.is_empty());
        let (peer, bye) = &msgs[0];
        assert_eq!(*peer, udp());
        assert_eq!(bye.method(), Some(&Method::Bye));
        assert!(
            matches!(&bye.start, StartLine::Request { uri, .. } if uri == "sip:alice@127.0.0.1:5070")
        );
        assert_eq!(bye.from().unwrap().tag(), Some(tag.as_str()));
        assert_eq!(bye.to().unwrap().tag(), Some("al1"));
        assert_eq!(bye.call_id(), Some("call-1@localhost"));
        assert_eq!(bye.cseq().unwrap().seq, 1);
        assert_eq!(bye.header("Route"), Some("<sip:proxy.example;lr>"));
        assert!(f.busy());
        let at = f.poll_timeout().unwrap();
        f.handle_timeout(at);
        let (msgs, _) = sent(&mut f);
        assert_eq!(msgs[0].1.method(), Some(&Method::Bye), "Timer E");
        let ok = Message::response_to(&msgs[0].1, 200, "OK", None);
        f.handle(ok, udp(), at);
        assert!(!f.busy());
        assert_eq!(f.dialogs(), 0);
    }

    /// §13.3.1.4: a 200 never ACKed is given up after 64·T1 and the session ends with a BYE.
    #[test]
    fn unacked_2xx_ends_the_session() {
        let now = Instant::now();
        let (mut f, _, _) = joined_alice(now);
        let give_up = now + Timers::default().t64();
        while let Some(at) = f.poll_timeout() {
            if at > give_up {
                break;
            }
            f.handle_timeout(at);
            if f.dialogs() == 0 {
                break;
            }
        }
        let (msgs, other) = sent(&mut f);
        assert_eq!(f.dialogs(), 0);
        assert!(msgs.iter().any(|(_, m)| m.method() == Some(&Method::Bye)));
        assert_eq!(
            other,
            [Output::Leave {
                session: "s1".into()
            }]
        );
        // Retransmissions were T1 doubling, capped at T2: 500+1000+2000+4000×7 ms < 32 s.
        assert_eq!(codes(&msgs).len(), 10, "{:?}", codes(&msgs));
    }

    /// §8.2: OPTIONS → 200 with Allow; REGISTER → 405 with Allow; an unknown method → 501;
    /// a tel: Request-URI → 416; Require → 420 with Unsupported; a body that is not SDP →
    /// 415 with Accept; no body → 488; BYE or re-INVITE outside a dialog → 481.
    #[test]
    fn other_requests() {
        let now = Instant::now();
        let mut f = focus();
        let mut one = |m: Message| {
            f.handle(m, udp(), now);
            let (msgs, other) = sent(&mut f);
            assert!(other.is_empty(), "{other:?}");
            assert_eq!(msgs.len(), 1, "{msgs:?}");
            msgs.into_iter().next().unwrap().1
        };
        let r = one(req("OPTIONS", "z9hG4bKo1", 1, None, ""));
        assert_eq!((r.code(), r.header("Allow")), (Some(200), Some(ALLOW)));
        assert!(r.to().unwrap().tag().is_some(), "§8.2.6.2: a To tag");
        let r = one(req("REGISTER", "z9hG4bKo2", 1, None, ""));
        assert_eq!((r.code(), r.header("Allow")), (Some(405), Some(ALLOW)));
        let r = one(req("FOO", "z9hG4bKo3", 1, None, ""));
        assert_eq!(r.code(), Some(501));
        let mut tel = req("OPTIONS", "z9hG4bKo4", 1, None, "");
        tel.start = StartLine::Request {
            method: Method::Options,
            uri: "tel:+15551234".into(),
        };
        assert_eq!(one(tel).code(), Some(416));
        let mut require = req("INVITE", "z9hG4bKo5", 1, None, OFFER);
        require.push_header("Require", "100rel");
        let r = one(require);
        assert_eq!(
            (r.code(), r.header("Unsupported")),
            (Some(420), Some("100rel"))
        );
        let mut text = req("INVITE", "z9hG4bKo6", 1, None, "hello");
        text.set_header("Content-Type", "text/plain");
        let r = one(text);
        assert_eq!(
            (r.code(), r.header("Accept")),
            (Some(415), Some("application/sdp"))
        );
        let r = one(req("INVITE", "z9hG4bKo7", 1, None, ""));
        assert_eq!(r.code(), Some(488));
        assert!(r.header("Warning").is_some());
        assert_eq!(
            one(req("BYE", "z9hG4bKo8", 2, Some("nope"), "")).code(),
            Some(481)
        );
        let r = one(req("INVITE", "z9hG4bKo9", 2, Some("nope"), OFFER));
        assert_eq!(r.code(), Some(481));
    }

    /// §18.2.1, RFC 3581 §4: a UDP request from elsewhere than its Via says gets `received`,
    /// and with `rport` the answer goes to the source port, which the Via then records.
    #[test]
    fn received_and_rport() {
        let now = Instant::now();
        let mut f = focus();
        let mut m = req("OPTIONS", "z9hG4bKo1", 1, None, "");
        m.set_header("Via", format!("SIP/2.0/UDP {ALICE};branch=z9hG4bKo1;rport"));
        let src: SocketAddr = "127.0.0.2:6000".parse().unwrap();
        f.handle(m, Peer::Udp(src), now);
        let (msgs, _) = sent(&mut f);
        assert_eq!(msgs[0].0, Peer::Udp(src));
        let via = msgs[0].1.top_via().unwrap();
        assert_eq!(via.rport, Some(Some(6000)));
        assert_eq!(via.received.as_deref(), Some("127.0.0.2"));
        // Without rport: the received address, the Via's port; retransmissions go there too.
        let m = req("INVITE", "z9hG4bKo2", 1, None, OFFER);
        f.handle(m, Peer::Udp(src), now);
        let (msgs, other) = sent(&mut f);
        let via_port = Peer::Udp("127.0.0.2:5070".parse().unwrap());
        assert_eq!(msgs[0].0, via_port);
        let [Output::Join { job, .. }] = &other[..] else {
            panic!()
        };
        f.joined(*job, Ok(accepted("s1")), now);
        f.handle_timeout(now + Timers::default().t1);
        let (msgs, _) = sent(&mut f);
        assert_eq!(codes(&msgs), [200, 200]);
        assert!(msgs.iter().all(|(p, _)| *p == via_port), "{msgs:?}");
        // RFC 3581 §4: with rport, `received` even when it equals the sent-by host.
        let mut m = req("OPTIONS", "z9hG4bKo3", 1, None, "");
        m.set_header("Via", format!("SIP/2.0/UDP {ALICE};branch=z9hG4bKo3;rport"));
        f.handle(m, udp(), now);
        let (msgs, _) = sent(&mut f);
        let via = msgs[0].1.top_via().unwrap();
        assert_eq!(via.received.as_deref(), Some("127.0.0.1"));
        assert_eq!(via.rport, Some(Some(5070)));
    }

    /// RFC 3325: P-Asserted-Identity names the participant only when trusted.
    #[test]
    fn asserted_identity_when_trusted() {
        let now = Instant::now();
        for (trust, want) in [
            (false, "sip:alice@localhost"),
            (true, "sip:boss@example.com"),
        ] {
            let mut f = Focus::new(FocusConfig {
                trust_asserted_identity: trust,
                ..FocusConfig::default()
            });
            let mut m = req("INVITE", "z9hG4bKi1", 1, None, OFFER);
            m.push_header("P-Asserted-Identity", "\"Boss\" <sip:boss@example.com>");
            f.handle(m, udp(), now);
            let (_, other) = sent(&mut f);
            let [Output::Join { participant, .. }] = &other[..] else {
                panic!()
            };
            assert_eq!(participant, want);
        }
    }

    /// Shutting down: every dialog gets a BYE, new INVITEs 503 with Retry-After.
    #[test]
    fn shutdown_byes_and_refuses() {
        let now = Instant::now();
        let (mut f, _, tag) = joined_alice(now);
        f.handle(req("ACK", "z9hG4bKa1", 1, Some(&tag), ""), udp(), now);
        f.shutdown(now);
        let (msgs, other) = sent(&mut f);
        assert_eq!(msgs[0].1.method(), Some(&Method::Bye));
        assert_eq!(
            other,
            [Output::Leave {
                session: "s1".into()
            }]
        );
        let mut m = req("INVITE", "z9hG4bKi9", 1, None, OFFER);
        m.set_header("Call-ID", "call-2");
        f.handle(m, udp(), now);
        let (msgs, other) = sent(&mut f);
        assert!(other.is_empty());
        assert_eq!(codes(&msgs), [503]);
        assert!(msgs[0].1.header("Retry-After").is_some());
    }

    /// §15.1.2: a BYE while a re-INVITE is being answered: the re-INVITE gets 487, its join is
    /// undone when it completes, and every transaction ends with its timers.
    #[test]
    fn bye_during_reinvite_answers_it() {
        let now = Instant::now();
        let (mut f, _, tag) = joined_alice(now);
        f.handle(req("ACK", "z9hG4bKa1", 1, Some(&tag), ""), udp(), now);
        let changed = OFFER.replace("7394", "7395");
        f.handle(
            req("INVITE", "z9hG4bKr1", 2, Some(&tag), &changed),
            udp(),
            now,
        );
        let (_, other) = sent(&mut f);
        let [Output::Join { job, .. }] = &other[..] else {
            panic!("{other:?}")
        };
        let job = *job;
        f.handle(req("BYE", "z9hG4bKb1", 3, Some(&tag), ""), udp(), now);
        let (msgs, other) = sent(&mut f);
        assert_eq!(codes(&msgs), [487, 200]);
        assert_eq!(
            other,
            [Output::Leave {
                session: "s1".into()
            }]
        );
        f.joined(job, Ok(accepted("s2")), now);
        let (msgs, other) = sent(&mut f);
        assert!(msgs.is_empty());
        assert_eq!(
            other,
            [Output::Leave {
                session: "s2".into()
            }]
        );
        let mut at = now;
        while let Some(next) = f.poll_timeout() {
            at = next;
            f.handle_timeout(at);
        }
        assert!(at <= now + Timers::default().t64());
        assert!(f.server.is_empty() && f.jobs.is_empty() && f.dialogs() == 0);
    }

    /// Shutting down with an INVITE still at the mixer: 503 now, the join undone later.
    #[test]
    fn shutdown_answers_pending_invites() {
        let now = Instant::now();
        let (mut f, job) = invite_pending(now);
        f.shutdown(now);
        let (msgs, _) = sent(&mut f);
        assert_eq!(codes(&msgs), [503]);
        late_join_is_undone(&mut f, job, now);
    }

    /// The mixer's "session ended" can overtake the join's result: the dialog is ended with a
    /// BYE as soon as its 200 is out, with no Leave (the mixer removed the session).
    #[test]
    fn session_ended_before_the_answer() {
        let now = Instant::now();
        let (mut f, job) = invite_pending(now);
        f.session_ended("s1", now);
        f.joined(job, Ok(accepted("s1")), now);
        let (msgs, other) = sent(&mut f);
        assert_eq!(codes(&msgs), [200]);
        assert_eq!(msgs[1].1.method(), Some(&Method::Bye));
        assert!(other.is_empty(), "{other:?}");
        assert_eq!(f.dialogs(), 0);
        assert!(f.by_session.is_empty());
    }

    /// More transactions than `max_transactions`: a stateless 503 with Retry-After.
    #[test]
    fn overload_gets_503() {
        let now = Instant::now();
        let mut f = Focus::new(FocusConfig {
            max_transactions: 1,
            ..FocusConfig::default()
        });
        f.handle(req("OPTIONS", "z9hG4bKo1", 1, None, ""), udp(), now);
        f.handle(req("OPTIONS", "z9hG4bKo2", 1, None, ""), udp(), now);
        let (msgs, _) = sent(&mut f);
        assert_eq!(codes(&msgs), [200, 503]);
        assert!(msgs[1].1.header("Retry-After").is_some());
        // The first one's Timer J frees its place.
        f.handle_timeout(now + Timers::default().t64());
        f.handle(req("OPTIONS", "z9hG4bKo3", 1, None, ""), udp(), now);
        assert_eq!(codes(&sent(&mut f).0), [200]);
    }
}
