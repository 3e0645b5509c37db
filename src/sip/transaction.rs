//! SIP transactions (RFC 3261 §17) as pure state machines: the server transactions that absorb
//! retransmitted requests and retransmit final responses, and the non-INVITE client transactions
//! the focus uses for its own BYEs. No I/O and no clock: `now` comes in, bytes to send and the
//! next deadline come out.
//!
//! - INVITE server transaction (§17.2.1, with RFC 6026's Accepted state): Proceeding (a
//!   retransmitted INVITE gets the last provisional response again), Completed after a non-2xx
//!   final response (Timer G retransmits it over UDP, doubling from T1 up to T2, until the ACK;
//!   Timer H = 64·T1 gives up), Confirmed after that ACK (Timer I = T4 over UDP, 0 over TCP,
//!   absorbs ACK retransmissions), Accepted after a 2xx (Timer L = 64·T1 absorbs INVITE
//!   retransmissions; the 2xx itself is retransmitted by the dialog, §13.3.1.4).
//! - non-INVITE server transaction (§17.2.2): Trying, Proceeding, Completed (Timer J = 64·T1
//!   over UDP, 0 over TCP, answers retransmissions with the final response again).
//! - non-INVITE client transaction (§17.1.2): Timer E retransmits the request over UDP (T1
//!   doubling up to T2), Timer F = 64·T1 gives up.
//!
//! Matching (§17.2.3): a request belongs to a server transaction by its top Via's branch (with
//! the `z9hG4bK` magic cookie) and sent-by and by its method, ACK matching INVITE. A request
//! without the cookie (RFC 2543) is matched by Call-ID, CSeq number, From tag and top Via.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::message::{Message, Method};
use super::timer::Deadlines;

/// The RFC 3261 §17.1.1.1 timer values (Table 4 of §A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Longest retransmit interval for non-INVITE requests and INVITE responses (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: Timers B, F, H, J and L, and the 2xx retransmission limit (§13.3.1.4).
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Where a message came from, and where its answers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A UDP datagram's source (and the address answers go to, RFC 3581 / §18.2.2).
    Udp(SocketAddr),
    /// A TCP connection (by the server's connection number) and its remote address.
    Tcp {
        /// The connection.
        conn: u64,
        /// Its remote address.
        addr: SocketAddr,
    },
}

impl Peer {
    /// TCP is reliable: no retransmissions, and Timers I and J are 0 (§17.2.1, §17.2.2).
    pub fn reliable(&self) -> bool {
        matches!(self, Peer::Tcp { .. })
    }

    /// The remote address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Peer::Udp(a) | Peer::Tcp { addr: a, .. } => *a,
        }
    }

    /// `UDP` or `TCP`, as in a Via.
    pub fn transport(&self) -> &'static str {
        match self {
            Peer::Udp(_) => "UDP",
            Peer::Tcp { .. } => "TCP",
        }
    }
}

/// A server transaction's identity (§17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TxKey {
    branch: String,
    sent_by: String,
    method: Method,
}

impl TxKey {
    /// The key of `req`'s transaction; ACK maps to the INVITE it acknowledges (a non-2xx ACK
    /// carries the INVITE's branch, §17.1.1.3). `None` when `req` has no Via.
    pub fn of(req: &Message) -> Option<TxKey> {
        let via = req.top_via()?;
        let mut method = req.method()?.clone();
        if method == Method::Ack {
            method = Method::Invite;
        }
        let branch = match &via.branch {
            Some(b) if via.has_magic_cookie() => b.clone(),
            _ => {
                // RFC 2543 (§17.2.3, last paragraphs): Call-ID, CSeq number, From tag, Via.
                let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
                let tag = req.from().and_then(|f| f.tag().map(str::to_owned));
                format!(
                    "2543:{}:{seq}:{}:{}",
                    req.call_id().unwrap_or(""),
                    tag.unwrap_or_default(),
                    req.header("Via").unwrap_or("")
                )
            }
        };
        Some(TxKey {
            branch,
            sent_by: via.sent_by().to_ascii_lowercase(),
            method,
        })
    }

    /// The key of the INVITE transaction a CANCEL with this key cancels (§9.2: same branch and
    /// sent-by).
    pub fn cancelled_invite(&self) -> TxKey {
        TxKey {
            method: Method::Invite,
            ..self.clone()
        }
    }

    /// The transaction's method.
    pub fn method(&self) -> &Method {
        &self.method
    }
}

/// What a server transaction holds.
#[derive(Debug)]
enum State {
    /// INVITE, no final response yet; the last provisional response sent.
    InviteProceeding { last: Option<Bytes> },
    /// INVITE, a non-2xx final response sent, waiting for the ACK.
    InviteCompleted {
        resp: Bytes,
        /// Timer G (UDP only).
        g: Option<(Instant, Duration)>,
        /// Timer H.
        h: Instant,
    },
    /// INVITE, the ACK came; absorbing its retransmissions until Timer I.
    InviteConfirmed { until: Instant },
    /// INVITE, a 2xx sent (RFC 6026 §7.1); absorbing INVITE retransmissions until Timer L.
    InviteAccepted { until: Instant },
    /// Non-INVITE, nothing sent yet.
    Trying,
    /// Non-INVITE, a provisional response sent.
    Proceeding { last: Bytes },
    /// Non-INVITE, the final response sent; resent for retransmissions until Timer J.
    Completed { resp: Bytes, until: Instant },
}

#[derive(Debug)]
struct ServerTx {
    peer: Peer,
    state: State,
}

/// What became of a request handed to [`ServerTransactions::on_request`].
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A new request: the focus answers it through [`ServerTransactions::respond`].
    New(TxKey),
    /// A retransmission of a request the transaction has seen: send this again (nothing when
    /// no response has been sent yet).
    Retransmission(Option<(Peer, Bytes)>),
    /// A new request while the table is full: answer it without a transaction (503).
    Overloaded,
    /// The ACK for a non-2xx final response: the transaction took it (§17.2.1).
    AckAbsorbed,
    /// An ACK the transaction layer does not take (for a 2xx: it belongs to the dialog,
    /// §13.3.1.4, RFC 6026 §7.1), or a request without a Via.
    PassUp,
}

/// What a timer did.
#[derive(Debug, PartialEq, Eq)]
pub enum Fired {
    /// Send these bytes again (Timers G and E).
    Resend(Peer, Bytes),
    /// Timer H: the ACK for a non-2xx final response never came (§17.2.1).
    NoAck(TxKey),
}

impl State {
    /// When this state's next timer fires; `None` while the focus owes the answer.
    fn deadline(&self) -> Option<Instant> {
        match self {
            State::InviteCompleted { g, h, .. } => Some(g.map_or(*h, |(at, _)| at.min(*h))),
            State::InviteConfirmed { until }
            | State::InviteAccepted { until }
            | State::Completed { until, .. } => Some(*until),
            // Proceeding transactions wait for the focus, which always answers.
            State::InviteProceeding { .. } | State::Trying | State::Proceeding { .. } => None,
        }
    }
}

/// The server transactions (§17.2).
#[derive(Debug)]
pub struct ServerTransactions {
    timers: Timers,
    txs: HashMap<TxKey, ServerTx>,
    deadlines: Deadlines<TxKey>,
    /// Most transactions alive at once; more requests are refused statelessly.
    max: usize,
}

impl ServerTransactions {
    /// An empty table using `timers`, holding at most `max` transactions.
    pub fn new(timers: Timers, max: usize) -> Self {
        ServerTransactions {
            timers,
            txs: HashMap::new(),
            deadlines: Deadlines::default(),
            max,
        }
    }

    /// Schedules `key`'s next timer after its state changed.
    fn reschedule(&mut self, key: &TxKey) {
        match self.txs.get(key).and_then(|tx| tx.state.deadline()) {
            Some(at) => self.deadlines.schedule(key.clone(), at),
            None => self.deadlines.cancel(key),
        }
    }

    /// Transactions alive.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// No transaction alive.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Matches request `req` from `peer` to a transaction (§17.2.3) or starts one.
    pub fn on_request(&mut self, req: &Message, peer: Peer, now: Instant) -> Received {
        let Some(key) = TxKey::of(req) else {
            return Received::PassUp;
        };
        let is_ack = req.method() == Some(&Method::Ack);
        let t = self.timers;
        let full = self.txs.len() >= self.max;
        match self.txs.get_mut(&key) {
            Some(tx) if is_ack => match &tx.state {
                State::InviteCompleted { .. } => {
                    let until = if peer.reliable() { now } else { now + t.t4 };
                    tx.state = State::InviteConfirmed { until };
                    self.reschedule(&key);
                    Received::AckAbsorbed
                }
                State::InviteConfirmed { .. } => Received::AckAbsorbed,
                _ => Received::PassUp,
            },
            None if is_ack => Received::PassUp,
            Some(tx) => {
                let again = match &tx.state {
                    State::InviteProceeding { last } => last.clone(),
                    State::InviteCompleted { resp, .. } => Some(resp.clone()),
                    State::Proceeding { last } => Some(last.clone()),
                    State::Completed { resp, .. } => Some(resp.clone()),
                    State::InviteConfirmed { .. } | State::InviteAccepted { .. } => None,
                    State::Trying => None,
                };
                Received::Retransmission(again.map(|b| (tx.peer, b)))
            }
            None if full => Received::Overloaded,
            None => {
                let state = if key.method == Method::Invite {
                    State::InviteProceeding { last: None }
                } else {
                    State::Trying
                };
                self.txs.insert(key.clone(), ServerTx { peer, state });
                Received::New(key)
            }
        }
    }

    /// `true` while transaction `key` exists and has sent no final response: a CANCEL can
    /// still end it (§9.2).
    pub fn is_pending(&self, key: &TxKey) -> bool {
        matches!(
            self.txs.get(key).map(|t| &t.state),
            Some(State::InviteProceeding { .. } | State::Trying | State::Proceeding { .. })
        )
    }

    /// `true` while transaction `key` exists (in any state).
    pub fn exists(&self, key: &TxKey) -> bool {
        self.txs.contains_key(key)
    }

    /// Sends response `resp` (status `code`) in transaction `key`; returns where and what to
    /// send, or `None` when the transaction is gone or already has its final response.
    pub fn respond(
        &mut self,
        key: &TxKey,
        code: u16,
        resp: Bytes,
        now: Instant,
    ) -> Option<(Peer, Bytes)> {
        let t = self.timers;
        let tx = self.txs.get_mut(key)?;
        let reliable = tx.peer.reliable();
        let next = match (&tx.state, code) {
            (State::InviteProceeding { .. }, 100..=199) => State::InviteProceeding {
                last: Some(resp.clone()),
            },
            (State::InviteProceeding { .. }, 200..=299) => State::InviteAccepted {
                until: now + t.t64(),
            },
            (State::InviteProceeding { .. }, _) => State::InviteCompleted {
                resp: resp.clone(),
                g: (!reliable).then_some((now + t.t1, t.t1)),
                h: now + t.t64(),
            },
            (State::Trying | State::Proceeding { .. }, 100..=199) => {
                State::Proceeding { last: resp.clone() }
            }
            (State::Trying | State::Proceeding { .. }, _) => State::Completed {
                resp: resp.clone(),
                until: if reliable { now } else { now + t.t64() },
            },
            _ => return None,
        };
        tx.state = next;
        let peer = tx.peer;
        self.reschedule(key);
        Some((peer, resp))
    }

    /// The earliest deadline of any transaction.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.deadlines.earliest()
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Fired>) {
        let t2 = self.timers.t2;
        while let Some(key) = self.deadlines.pop_due(now) {
            let Some(tx) = self.txs.get_mut(&key) else {
                continue;
            };
            let keep = match &mut tx.state {
                State::InviteCompleted { resp, g, h } => {
                    if now >= *h {
                        out.push(Fired::NoAck(key.clone()));
                        false
                    } else {
                        if let Some((at, interval)) = g {
                            if now >= *at {
                                out.push(Fired::Resend(tx.peer, resp.clone()));
                                *interval = (*interval * 2).min(t2);
                                *at = now + *interval;
                            }
                        }
                        true
                    }
                }
                State::InviteConfirmed { until }
                | State::InviteAccepted { until }
                | State::Completed { until, .. } => now < *until,
                State::InviteProceeding { .. } | State::Trying | State::Proceeding { .. } => true,
            };
            if keep {
                self.reschedule(&key);
            } else {
                self.txs.remove(&key);
            }
        }
    }
}

/// A non-INVITE request the focus sent (its BYEs), until its final response (§17.1.2).
#[derive(Debug)]
struct ClientTx {
    peer: Peer,
    request: Bytes,
    method: Method,
    /// Timer E (UDP only): when, and the interval.
    e: Option<(Instant, Duration)>,
    /// Timer F.
    f: Instant,
}

impl ClientTx {
    fn deadline(&self) -> Instant {
        self.e.map_or(self.f, |(at, _)| at.min(self.f))
    }
}

/// The non-INVITE client transactions, by branch.
#[derive(Debug, Default)]
pub struct ClientTransactions {
    timers: Timers,
    txs: HashMap<String, ClientTx>,
    deadlines: Deadlines<String>,
}

/// What became of a client transaction.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// A final response arrived for the request with this method.
    Done(Method, u16),
    /// Timer F: no final response (§17.1.2.2: 408 to the user).
    TimedOut(Method),
}

impl ClientTransactions {
    /// An empty table using `timers`.
    pub fn new(timers: Timers) -> Self {
        ClientTransactions {
            timers,
            txs: HashMap::new(),
            deadlines: Deadlines::default(),
        }
    }

    /// Transactions alive.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// No transaction alive.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Starts a transaction for `request` (method `method`, top Via branch `branch`) sent to
    /// `peer`; the caller sends it the first time.
    pub fn start(
        &mut self,
        branch: String,
        method: Method,
        request: Bytes,
        peer: Peer,
        now: Instant,
    ) {
        let t = self.timers;
        let tx = ClientTx {
            peer,
            request,
            method,
            e: (!peer.reliable()).then_some((now + t.t1, t.t1)),
            f: now + t.t64(),
        };
        self.deadlines.schedule(branch.clone(), tx.deadline());
        self.txs.insert(branch, tx);
    }

    /// A response arrived: a final one ends its transaction (§17.1.2.2). `None` when it
    /// matches none (§18.1.2: discarded) or is provisional.
    pub fn on_response(&mut self, resp: &Message, now: Instant) -> Option<ClientEvent> {
        let code = resp.code()?;
        let branch = resp.top_via()?.branch?;
        let method = resp.cseq()?.method;
        let tx = self.txs.get_mut(&branch)?;
        if tx.method != method {
            return None;
        }
        if code < 200 {
            // Proceeding: retransmissions go on at T2 (§17.1.2.2).
            if let Some((at, interval)) = &mut tx.e {
                *interval = self.timers.t2;
                *at = (*at).min(now + self.timers.t2);
            }
            let at = tx.deadline();
            self.deadlines.schedule(branch, at);
            return None;
        }
        self.deadlines.cancel(&branch);
        let tx = self.txs.remove(&branch)?;
        Some(ClientEvent::Done(tx.method, code))
    }

    /// The earliest deadline of any transaction.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.deadlines.earliest()
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        out: &mut Vec<Fired>,
        events: &mut Vec<ClientEvent>,
    ) {
        let t2 = self.timers.t2;
        while let Some(branch) = self.deadlines.pop_due(now) {
            let Some(tx) = self.txs.get_mut(&branch) else {
                continue;
            };
            if now >= tx.f {
                events.push(ClientEvent::TimedOut(tx.method.clone()));
                self.txs.remove(&branch);
                continue;
            }
            if let Some((at, interval)) = &mut tx.e {
                if now >= *at {
                    out.push(Fired::Resend(tx.peer, tx.request.clone()));
                    *interval = (*interval * 2).min(t2);
                    *at = now + *interval;
                }
            }
            let at = tx.deadline();
            self.deadlines.schedule(branch, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::parse_datagram;
    use super::*;

    fn msg(text: &str) -> Message {
        parse_datagram(text.as_bytes(), &Default::default()).expect("parses")
    }

    fn invite(branch: &str) -> Message {
        msg(&format!(
            "INVITE sip:lobby@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n\
             From: <sip:alice@localhost>;tag=a1\r\n\
             To: <sip:lobby@localhost>\r\n\
             Call-ID: c1\r\n\
             CSeq: 1 INVITE\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        ))
    }

    fn ack(branch: &str) -> Message {
        msg(&format!(
            "ACK sip:lobby@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n\
             From: <sip:alice@localhost>;tag=a1\r\n\
             To: <sip:lobby@localhost>;tag=x\r\n\
             Call-ID: c1\r\n\
             CSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n"
        ))
    }

    const UDP: Peer = Peer::Udp(SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        5070,
    ));

    /// §17.2.1: a retransmitted INVITE gets the last provisional response again; after a
    /// non-2xx final response Timer G retransmits it at T1, 2·T1, 4·T1 ... capped at T2 until
    /// the ACK, which the transaction absorbs; Timer I then ends it.
    #[test]
    fn invite_non_2xx_retransmits_until_ack() {
        let t = Timers::default();
        let mut st = ServerTransactions::new(t, 1000);
        let now = Instant::now();
        let Received::New(key) = st.on_request(&invite("z9hG4bK1"), UDP, now) else {
            panic!("new")
        };
        assert_eq!(
            st.on_request(&invite("z9hG4bK1"), UDP, now),
            Received::Retransmission(None)
        );
        st.respond(&key, 100, Bytes::from_static(b"100"), now)
            .unwrap();
        assert_eq!(
            st.on_request(&invite("z9hG4bK1"), UDP, now),
            Received::Retransmission(Some((UDP, Bytes::from_static(b"100"))))
        );
        assert!(st.is_pending(&key));
        st.respond(&key, 486, Bytes::from_static(b"486"), now)
            .unwrap();
        assert!(!st.is_pending(&key));
        // A second final response is refused.
        assert!(
            st.respond(&key, 200, Bytes::from_static(b"200"), now)
                .is_none()
        );
        let mut fired = Vec::new();
        let mut at = now;
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let next = st.poll_timeout().unwrap();
            gaps.push(next - at);
            at = next;
            st.handle_timeout(at, &mut fired);
        }
        let ms: Vec<u128> = gaps.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(fired.len(), 6);
        assert!(
            fired
                .iter()
                .all(|f| *f == Fired::Resend(UDP, Bytes::from_static(b"486")))
        );
        assert_eq!(
            st.on_request(&ack("z9hG4bK1"), UDP, at),
            Received::AckAbsorbed
        );
        assert_eq!(
            st.on_request(&ack("z9hG4bK1"), UDP, at),
            Received::AckAbsorbed
        );
        // Timer I (T4) then ends it.
        assert_eq!(st.poll_timeout(), Some(at + t.t4));
        fired.clear();
        st.handle_timeout(at + t.t4, &mut fired);
        assert!(st.is_empty() && fired.is_empty());
    }

    /// §17.2.1: without the ACK, Timer H (64·T1) ends the transaction and says so.
    #[test]
    fn timer_h_reports_a_missing_ack() {
        let t = Timers::default();
        let mut st = ServerTransactions::new(t, 1000);
        let now = Instant::now();
        let Received::New(key) = st.on_request(&invite("z9hG4bK2"), UDP, now) else {
            panic!("new")
        };
        st.respond(&key, 404, Bytes::from_static(b"404"), now)
            .unwrap();
        let mut fired = Vec::new();
        st.handle_timeout(now + t.t64(), &mut fired);
        assert_eq!(fired, [Fired::NoAck(key)]);
        assert!(st.is_empty());
    }

    /// §17.2.1 over TCP: no Timer G; RFC 6026: after a 2xx, INVITE retransmissions are absorbed
    /// (not passed up: no second call) until Timer L, and the 2xx's ACK is passed up.
    #[test]
    fn tcp_and_accepted_state() {
        let t = Timers::default();
        let tcp = Peer::Tcp {
            conn: 1,
            addr: UDP.addr(),
        };
        let mut st = ServerTransactions::new(t, 1000);
        let now = Instant::now();
        let Received::New(key) = st.on_request(&invite("z9hG4bK3"), tcp, now) else {
            panic!("new")
        };
        st.respond(&key, 200, Bytes::from_static(b"200"), now)
            .unwrap();
        assert_eq!(
            st.on_request(&invite("z9hG4bK3"), tcp, now),
            Received::Retransmission(None)
        );
        assert_eq!(
            st.on_request(&ack("z9hG4bK9"), tcp, now),
            Received::PassUp,
            "a 2xx ACK has a branch of its own"
        );
        assert_eq!(st.poll_timeout(), Some(now + t.t64()));
        let mut fired = Vec::new();
        st.handle_timeout(now + t.t64(), &mut fired);
        assert!(st.is_empty() && fired.is_empty());

        let Received::New(key) = st.on_request(&invite("z9hG4bK4"), tcp, now) else {
            panic!("new")
        };
        st.respond(&key, 488, Bytes::from_static(b"488"), now)
            .unwrap();
        // Only Timer H over TCP.
        assert_eq!(st.poll_timeout(), Some(now + t.t64()));
    }

    /// §17.2.2: a non-INVITE transaction answers retransmissions with its final response until
    /// Timer J (64·T1 over UDP, at once over TCP); CANCEL finds its INVITE by branch (§9.2).
    #[test]
    fn non_invite_completed_and_cancel_key() {
        let t = Timers::default();
        let mut st = ServerTransactions::new(t, 1000);
        let now = Instant::now();
        let bye = msg("BYE sip:lobby@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK5\r\n\
             From: <sip:alice@localhost>;tag=a1\r\n\
             To: <sip:lobby@localhost>;tag=x\r\n\
             Call-ID: c1\r\n\
             CSeq: 2 BYE\r\n\
             Content-Length: 0\r\n\r\n");
        let Received::New(key) = st.on_request(&bye, UDP, now) else {
            panic!("new")
        };
        st.respond(&key, 200, Bytes::from_static(b"200"), now)
            .unwrap();
        assert_eq!(
            st.on_request(&bye, UDP, now + Duration::from_secs(1)),
            Received::Retransmission(Some((UDP, Bytes::from_static(b"200"))))
        );
        let mut fired = Vec::new();
        st.handle_timeout(now + t.t64(), &mut fired);
        assert!(st.is_empty());

        let Received::New(inv) = st.on_request(&invite("z9hG4bK6"), UDP, now) else {
            panic!("new")
        };
        let cancel = msg("CANCEL sip:lobby@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK6\r\n\
             From: <sip:alice@localhost>;tag=a1\r\n\
             To: <sip:lobby@localhost>\r\n\
             Call-ID: c1\r\n\
             CSeq: 1 CANCEL\r\n\
             Content-Length: 0\r\n\r\n");
        let Received::New(ck) = st.on_request(&cancel, UDP, now) else {
            panic!("new")
        };
        assert_ne!(ck, inv);
        assert_eq!(ck.cancelled_invite(), inv);
        assert!(st.is_pending(&inv));
    }

    /// §17.1.2: a BYE the focus sends over UDP is retransmitted (Timer E) until a final
    /// response; without one Timer F ends it.
    #[test]
    fn client_transaction_retransmits_and_times_out() {
        let t = Timers::default();
        let mut ct = ClientTransactions::new(t);
        let now = Instant::now();
        ct.start(
            "z9hG4bKb1".into(),
            Method::Bye,
            Bytes::from_static(b"BYE"),
            UDP,
            now,
        );
        let (mut fired, mut ev) = (Vec::new(), Vec::new());
        let first = ct.poll_timeout().unwrap();
        assert_eq!(first - now, t.t1);
        ct.handle_timeout(first, &mut fired, &mut ev);
        assert_eq!(fired, [Fired::Resend(UDP, Bytes::from_static(b"BYE"))]);
        ct.handle_timeout(now + t.t64(), &mut fired, &mut ev);
        assert_eq!(ev, [ClientEvent::TimedOut(Method::Bye)]);
        assert!(ct.is_empty());

        ct.start(
            "z9hG4bKb2".into(),
            Method::Bye,
            Bytes::from_static(b"BYE"),
            UDP,
            now,
        );
        let ok = msg("SIP/2.0 200 OK\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb2\r\n\
             From: <sip:lobby@localhost>;tag=x\r\n\
             To: <sip:alice@localhost>;tag=a1\r\n\
             Call-ID: c1\r\n\
             CSeq: 1 BYE\r\n\
             Content-Length: 0\r\n\r\n");
        assert_eq!(
            ct.on_response(&ok, now),
            Some(ClientEvent::Done(Method::Bye, 200))
        );
        assert!(ct.is_empty());
        assert_eq!(
            ct.on_response(&ok, now),
            None,
            "a stray response matches nothing"
        );
    }
}
