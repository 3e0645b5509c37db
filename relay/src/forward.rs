//! Forwarding requests and routing responses back (RFC 4976 §6.2, §6.4): the relay's sans-IO
//! router.
//!
//! [`Router`] decides, for every request head the relay decodes, where the frame goes and what
//! the relay owes for it, and for every response, where it goes back; it keeps the outstanding
//! transactions of the hops it forwarded on and their 30-second timers. It does no I/O and reads
//! no clock: the connection tasks (the tokio layer) feed it heads, connection events and `now`,
//! and carry out the [`Action`]s it returns.
//!
//! # Requests ([`Router::on_request`])
//!
//! | step | rule |
//! |---|---|
//! | the first To-Path URI must be a Use-Path URI this relay issued, still valid, and the request must come from the client that obtained it or go to it ([`UsePaths::route`]) | otherwise [`Action::Discard`] and nothing else (4976-024, 4976-025, 4976-038, 4976-043) |
//! | rewrite | the URI is removed from the head of To-Path and put at the head of From-Path, as received (4976-026; the RFC 4976 §3 flow: relay A's `kjfjan` URI moves from To-Path to From-Path) |
//! | next hop | to the client: its connection, whatever the next To-Path URI says ([`Hop::Conn`]); from the client: the new first To-Path URI ([`Hop::Uri`]); when that URI is again one of this relay's (both clients use this relay) it is handled here at once, as if the request had come back in (a hairpin), so the relay never connects to itself |
//! | transaction id | every forwarded request gets a new one, unique among the router's outstanding transactions (RFC 4976 §6.4, 4976-027) |
//! | SEND | Failure-Report `yes` (or absent): a 200 to the previous hop at once, To-Path = the first From-Path URI only, From-Path = the URI the SEND was addressed to (4976-028, 4976-029, [`msrp::report::relay_owed`]); `yes` or `partial`: the transaction is kept to turn a later error or timeout into a failure REPORT (4976-030, 4976-031, 4976-037); `no`: nothing is kept and nothing is ever reported |
//! | REPORT, NICKNAME, AUTH to a further relay, unknown methods | forwarded end to end with the same rewrite (4976-032, 4976-034); all but REPORT (never answered, 4975-052) keep a transaction so that the response can go back (4976-036) |
//! | our URI is the last To-Path URI, or a further URI of this relay is not valid | not forwarded: answered 481 where a response is owed, plus a failure REPORT for a SEND whose Failure-Report is not `no` (a problem processing the request, RFC 4976 §6.4.1, 4976-031) |
//!
//! An AUTH addressed to this relay itself (its To-Path is one URI naming the relay,
//! [`for_authenticator`]) is not forwarded: the caller hands it to
//! [`Authenticator::handle`](crate::auth::Authenticator::handle) instead.
//!
//! # Responses ([`Router::on_response`])
//!
//! A response must answer a transaction the router has outstanding, come on the connection the
//! request went out on, and be addressed to the URI the relay put on the From-Path (§6.4.3: "if
//! not, the response SHOULD be dropped"). Then:
//!
//! | response to | outcome |
//! |---|---|
//! | a SEND, 2xx | the transaction is over; nothing is sent (the previous hop had its 200 already) |
//! | a SEND, error, Failure-Report `yes` or `partial` | a failure REPORT with that status and comment to the original sender (4976-031, 4976-037) |
//! | any other request | the relay's URIs move from To-Path to From-Path and the response goes back on the connection the request came from, with the request's original transaction id (4976-036; RFC 4976 §5.1: the 200 `m4nbvx` to a forwarded AUTH becomes `m3nbvx`) |
//!
//! # Failures
//!
//! - [`Router::poll_timeouts`]: a forwarded SEND with Failure-Report `yes` that got no response
//!   within the timeout (30 s, counted from its last octet sent, [`Router::chunk_sent`]) is
//!   reported with status 408 (4976-030). Other transactions are forgotten silently: the
//!   originator of an end-to-end request runs its own timer (RFC 4975 §7.1.1).
//! - [`Router::connection_closed`]: a response can only come on the connection the request went
//!   out on (RFC 4975 §7.2; RFC 4976 §3: "Responses can only be sent over existing
//!   connections"), so when that connection closes, every transaction waiting on it has certainly
//!   failed: the timer's outcome is known early and reported the same way, with **408** ("a
//!   downstream transaction did not complete in the allotted time", RFC 4975 §10.4, which
//!   endpoints treat as a local timeout, 4975-067). 481 is not used: it would say that the next
//!   hop reported the session unknown, which nobody said. A SEND with Failure-Report `partial` is
//!   reported only when its chunk had not been sent in full (a known loss; once sent, no response
//!   was expected and none is missing). An end-to-end request gets a 408 *response* on its
//!   original connection (a relay may send one, RFC 4975 §10.4). Transactions whose *previous*
//!   hop closed: an end-to-end request's response can no longer be routed (§6.4.3: "If this
//!   connection has closed, then the response is silently discarded") and is forgotten; a SEND's
//!   failure REPORT, a request of its own, is then sent towards the first From-Path URI
//!   ([`Hop::Uri`]), except when that hop was the client whose Use-Path URI the connection held
//!   (it is invalid now, 4976-019).
//! - [`Router::fail`]: the tokio layer could not deliver a forwarded request (no connection to
//!   the next hop, a queue that stays full): the same as an error response with that status.
//!
//! # Byte-Range and re-chunking (4976-033)
//!
//! The router forwards the head as received: only To-Path, From-Path and the transaction id
//! change; Byte-Range, Message-ID, the report headers and the header order are kept (the RFC 4976
//! §3 example shows a relay reordering headers; nothing requires it). The body is not the
//! router's: the streaming layer copies it through as it arrives. That layer MAY re-chunk (RFC
//! 4976 §6.4.1) as follows, and the router supports exactly this and no more:
//!
//! - *Splitting* one incoming chunk into pieces: the first piece goes out under the
//!   [`Action::Forward`] head (its tid) with its Byte-Range narrowed to the octets it carries and
//!   the `+` flag; each further piece is registered with [`Router::rechunk`], which returns the
//!   tid to write in its head, and carries its own Byte-Range (§6.4.1: "SHOULD update the
//!   Byte-Range header"). Pieces of one message go out in order (RFC 4976 §3). Each piece is its
//!   own transaction on the next hop: its 200, error or timeout is handled like a whole chunk's,
//!   and a failure REPORT covers the octets of that piece.
//! - [`Router::chunk_sent`] is told how many body octets went out under each tid; the range-end
//!   of a failure REPORT is computed from them (4975-053), so a `1-*/*` chunk is reported as
//!   `1-39/*` or as whatever was actually sent.
//! - *Combining* consecutive chunks of one message: the streaming layer may carry the body of
//!   a chunk that [`continues`] the one it is forwarding on in the same outgoing chunk. No
//!   transaction is made for the chunk carried on: [`Router::answer_send`] gives its
//!   hop-by-hop 200, and the outgoing chunk's transaction covers the octets of every chunk it
//!   carries: [`Router::joined`] widens its range as each is carried on (for a failure while it
//!   is being sent), [`Router::chunk_sent`] sets it to the octets sent. Chunks with different
//!   Message-IDs are never combined (4976-033 MUST NOT).
//!
//! The hop-by-hop 200 of a SEND acknowledges the incoming chunk ("the successful receipt of a
//! message fragment", §6.4.1): the caller sends the [`Action::Respond`] of a SEND once the
//! chunk's end-line has been read, and drops it if the chunk is cut off.
//!
//! # Transaction ids
//!
//! The router draws every outgoing tid from one table, so tids are unique across all of its
//! connections, not only per connection as RFC 4975 §7.1 requires (4975-004). A relay-generated
//! REPORT gets a fresh random tid as well; it is never answered (4975-052) and is not kept.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp::encode;
use msrp::report::{self, relay_owed};
use msrp::{
    BriefSuccess, ByteRange, FailureReport, Head, Header, IdGenerator, Ident, Method, MsrpUri,
    Path, RepeatedSend, StartLine, StatusCode, Transactions,
};

use crate::ConnId;
use crate::block::make_room;
use crate::path_pool::{PathPool, SharedPath};
use crate::use_path::{Direction, RouteError, RouteMemo, UsePaths};

/// RFC 4976 §6.4.1 (4976-030): a forwarded SEND fails when no response came 30 seconds after
/// its last octet was sent.
pub const DEFAULT_TIMEOUT: Duration = msrp::transaction::DEFAULT_TIMEOUT;

/// Where a frame goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop {
    /// An open connection of the relay: the client's connection (a request to the client that
    /// obtained the Use-Path URI), or the connection a request came from.
    Conn(ConnId),
    /// The next hop's URI: the caller reuses a connection to it (RFC 4976 §6.4.2, 4976-035) or
    /// opens one (resolving it per RFC 4976 §8, 4976-041), then tells the router which with
    /// [`Router::assign`]. Boxed: a hop by URI is the rarer case, and an [`Action`] (moved
    /// a few times per request) stays small.
    Uri(Box<MsrpUri>),
}

/// Why a frame is not forwarded (the caller counts and logs it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardReason {
    /// [`Router::on_request`] was given a response.
    NotARequest,
    /// [`Router::on_response`] was given a request.
    NotAResponse,
    /// The To-Path or From-Path is empty (a parsed head never has one; a built one might).
    NoPath,
    /// The first To-Path URI is not a valid Use-Path URI of this relay for this request
    /// (4976-024, 4976-025, 4976-038). Nothing is answered. With [`RouteError::Foreign`] the
    /// request was not addressed to this relay at all: RFC 4976 §6.2 drops the connection it came
    /// on, which the caller may do (certainly on a connection that has had no successful request
    /// yet, §6.1, 4976-023).
    Route(RouteError),
    /// The To-Path holds nothing after this relay's URIs: there is no next hop. Answered 481 where
    /// a response is owed.
    NoNextHop,
    /// A further To-Path URI names this relay but is not valid (a hairpin to an unknown or
    /// expired Use-Path URI). Answered 481 where a response is owed.
    NextHop(RouteError),
    /// A response whose transaction id matches nothing outstanding (never forwarded, already
    /// answered, timed out, or a SEND with Failure-Report `no`): ignored (RFC 4975 §7.1).
    UnknownTransaction,
    /// A response that came on another connection than the one its request went out on. The
    /// transaction stays outstanding.
    WrongConnection,
    /// A response whose To-Path does not begin with the URIs this relay put on the request's
    /// From-Path (RFC 4976 §6.4.3: SHOULD be dropped). The transaction stays outstanding.
    NotAddressedHere,
    /// A response to an end-to-end request with no To-Path URI after this relay's: it has nowhere
    /// to go (§6.4.3). The transaction is over.
    NoRouteBack,
}

/// What the caller does, in order.
///
/// [`Router::on_request`] returns exactly one [`Action::Forward`] or [`Action::Discard`]: that is
/// where the request's body goes (after the head, or nowhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write `head` on `to`, then the request's body as it arrives, then its end-line (with the
    /// new tid). `head` is the rewritten request with its new transaction id.
    Forward {
        /// Where.
        to: Hop,
        /// The rewritten head; `head.tid` is the outgoing transaction id.
        head: Head,
        /// The request's transaction id as received.
        in_tid: Ident,
    },
    /// Write the response `head` (no body, `$` flag) on connection `to`: a hop-by-hop 200 or an
    /// error answering a request received on `to`, or a response routed back (4976-036).
    Respond {
        /// The connection.
        to: ConnId,
        /// The response.
        head: Head,
    },
    /// Write `frame` on connection `to`: a whole bodiless response with `status`, written by
    /// the router without building a head (the hop-by-hop 200 to a SEND, 4976-028/029; see
    /// [`msrp::encode::send_response`]).
    Answer {
        /// The connection.
        to: ConnId,
        /// The response's status.
        status: StatusCode,
        /// The frame, start line to end-line.
        frame: Bytes,
    },
    /// Send a request the relay originates (a failure REPORT: no body, `$` flag) to `to`.
    Send {
        /// Where.
        to: Hop,
        /// The request.
        head: Head,
    },
    /// Do not forward the frame (skip the rest of a request's body).
    Discard {
        /// Why.
        reason: DiscardReason,
    },
}

/// What a SEND's failure REPORT needs.
#[derive(Debug, Clone)]
struct SendInfo {
    /// Message-ID, which a REPORT must carry (4975-049); without one no REPORT can be built.
    message_id: Option<Ident>,
    /// The octets the REPORT covers: the SEND's Byte-Range, its end updated from the octets
    /// actually sent ([`Router::chunk_sent`], 4975-053).
    range: ByteRange,
    /// `yes` or `partial` (`no` keeps no transaction).
    failure_report: FailureReport,
}

/// One forwarded request awaiting its response.
#[derive(Debug, Clone)]
struct Pending {
    /// The connection the request came from; `None` once it closed.
    in_conn: Option<ConnId>,
    /// The request's transaction id as received.
    in_tid: Ident,
    /// The previous hop was the client that obtained the Use-Path URI (it came on the URI's
    /// connection).
    from_client: bool,
    /// The connection the request went out on, once known.
    out_conn: Option<ConnId>,
    /// The From-Path as received: the To-Path of a failure REPORT (4975-049) or of an error
    /// response to an end-to-end request.
    origin: SharedPath,
    /// The URIs this relay put at the head of the From-Path, as they lead it: the To-Path a
    /// response must begin with.
    front: SharedPath,
    /// The last octet has been sent ([`Router::chunk_sent`]).
    sent: bool,
    /// `Some` for a SEND.
    send: Option<SendInfo>,
}

/// What [`Router::on_repeated_send`] works out once for a session's repeated chunks and the
/// caller keeps for the next chunk (opaque to it): the paths their transactions hold, shared
/// with the router's pool, and their hop-by-hop 200 but for its tid and Message-ID.
#[derive(Debug, Clone, Default)]
pub struct RepeatState {
    /// The From-Path as received and our URI ([`Pending::origin`], [`Pending::front`]).
    paths: Option<(SharedPath, SharedPath)>,
    /// The 200 owed to each chunk (4976-028/029), if one is, and what its frame has between
    /// the tid and the Message-ID: the start line's rest, To-Path and From-Path, as
    /// [`encode::send_response_of`] writes them.
    answer: Option<Option<(StatusCode, Bytes)>>,
    /// The route of their first To-Path URI ([`UsePaths::route_memo`]).
    route: Option<RouteMemo>,
}

/// Writes the response to the SEND `tid` whose frame has `mid` between `MSRP tid` and the
/// Message-ID ([`RepeatState::answer`]): what [`encode::send_response_of`] writes.
fn write_answer(mid: &[u8], tid: &str, message_id: Option<&Ident>, out: &mut BytesMut) {
    out.extend_from_slice(b"MSRP ");
    out.extend_from_slice(tid.as_bytes());
    out.extend_from_slice(mid);
    if let Some(m) = message_id {
        out.extend_from_slice(b"\r\nMessage-ID: ");
        out.extend_from_slice(m.as_bytes());
    }
    out.extend_from_slice(b"\r\n-------");
    out.extend_from_slice(tid.as_bytes());
    out.extend_from_slice(b"$\r\n");
}

/// The relay's forwarding core (RFC 4976 §6.4). See the [module documentation](self).
pub struct Router {
    local: MsrpUri,
    ids: IdGenerator,
    /// Outstanding transactions, by our transaction id. Each knows the connections its request
    /// came in and went out on; [`Router::connection_closed`] looks them up by a scan, so that
    /// the message path keeps no per-connection index (at a relay's message rates, adding to and
    /// removing from one cost more than the rare scans at connection close).
    pending: Transactions<Pending>,
    /// The paths the outstanding transactions hold, one copy each.
    paths: PathPool,
    /// Where [`Action::Answer`] frames are written, a block at a time.
    answers: BytesMut,
}

impl fmt::Debug for Router {
    /// Shows the sizes, not the paths (they hold Use-Path URIs, which are secrets, RFC 4976 §3.1).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("local", &self.local)
            .field("timeout", &self.pending.timeout())
            .field("outstanding", &self.pending.len())
            .finish()
    }
}

/// `true` when `head` is an AUTH addressed to this relay itself: its To-Path is one URI, and that
/// URI names this relay ([`UsePaths::is_local`]; RFC 4976 §5.1: `msrps://alice@intra.example.com;tcp`).
/// The caller hands such a request to [`Authenticator::handle`](crate::auth::Authenticator::handle);
/// every other request goes to [`Router::on_request`], including an AUTH to a further relay
/// (To-Path `<this relay's Use-Path URI> <next relay>`, 4976-003), which is forwarded.
pub fn for_authenticator(head: &Head, use_paths: &UsePaths) -> bool {
    matches!(head.method(), Some(Method::Auth))
        && matches!(head.to_path(), [only] if use_paths.is_local(only))
}

/// `true` when `next`, a SEND chunk read right after a chunk of the same source that ended with
/// `+` and went out with the head `forwarded` (rewritten by [`Router::on_request`], range-end
/// `*`), continues that chunk so exactly that its body may be carried on in the same outgoing
/// chunk: RFC 4976 §6.4.1 (4976-033) lets a relay "combine consecutive chunks", never chunks
/// with different Message-IDs. Exactly then:
///
/// - `next` is a SEND with a Byte-Range whose start is `at` (the octet after the last one
///   forwarded: the chunks are consecutive, 4975-029) and whose total is `forwarded`'s;
/// - its To-Path and From-Path are the ones `forwarded` had before the rewrite: its first `n`
///   To-Path URIs lead `forwarded`'s From-Path, last first, and the rest is `forwarded`'s
///   To-Path; its From-Path is the rest of `forwarded`'s (`n` ≥ 1, the relay's URIs, 4976-026);
/// - every other header is the same, in the same order (Message-ID, Failure-Report,
///   Success-Report, Content-Type, extensions).
///
/// So the chunk would be routed exactly as the one before it (the caller still checks that its
/// Use-Path URI is valid, 4976-025), owes the same answers, and a failure REPORT for the
/// combined chunk covers its octets with the same headers. URIs compare as RFC 4975 §6.1 says.
pub fn continues(forwarded: &Head, at: u64, next: &Head) -> bool {
    same_but_values(
        forwarded,
        next,
        |f, r| r.start == at && r.total == f.total,
        true,
    ) && next.message_id().is_some()
}

/// [`continues`] in two parts for a chunk that comes as a [`RepeatedSend`] of a head `key`
/// (so that its head need not be built): this part holds for every repeat of `key` or for
/// none, and is checked once per held chunk; [`continues_repeat`] is the part left for each
/// repeat. Holds when `key` has one Message-ID and one Byte-Range header (a repeat has its
/// own values for exactly those, [`msrp::DecoderConfig::repeated_sends`]) and `continues`
/// holds for `key` but for their values: its paths and every other header.
pub fn repeats_continue(forwarded: &Head, key: &Head) -> bool {
    let count = |is: fn(&Header) -> bool| key.headers.iter().filter(|h| is(h)).count();
    count(|h| matches!(h, Header::MessageId(_))) == 1
        && count(|h| matches!(h, Header::ByteRange(_))) == 1
        && same_but_values(forwarded, key, |_, _| true, false)
}

/// [`continues`]`(forwarded, at, &r.head())` for a repeat `r` of a head for which
/// [`repeats_continue`]`(forwarded, r.template())` holds: the values it has of its own are the
/// next ones of `forwarded`'s message (the same Message-ID, a Byte-Range starting at `at` with
/// the same total).
pub fn continues_repeat(forwarded: &Head, at: u64, r: &RepeatedSend) -> bool {
    match (r.message_id(), r.byte_range(), forwarded.byte_range()) {
        (Some(m), Some(range), Some(f)) => {
            range.start == at && range.total == f.total && forwarded.message_id() == Some(m)
        }
        _ => false,
    }
}

/// What [`continues`] checks but the Message-ID (when not `message_id`) and the Byte-Range
/// values (`range(forwarded's, next's)` for each pair of Byte-Range headers), which `next`
/// must have.
fn same_but_values(
    forwarded: &Head,
    next: &Head,
    range: impl Fn(&ByteRange, &ByteRange) -> bool,
    message_id: bool,
) -> bool {
    if !next.is_send() || next.headers.len() != forwarded.headers.len() {
        return false;
    }
    let (fwd_to, fwd_from) = (forwarded.to_path(), forwarded.from_path());
    let (to, from) = (next.to_path(), next.from_path());
    let Some(n) = fwd_from.len().checked_sub(from.len()) else {
        return false;
    };
    if n == 0
        || to.len() != n + fwd_to.len()
        || to[n..] != *fwd_to
        || from != &fwd_from[n..]
        || !to[..n].iter().eq(fwd_from[..n].iter().rev())
    {
        return false;
    }
    let mut ranged = false;
    let same = forwarded
        .headers
        .iter()
        .zip(&next.headers)
        .all(|pair| match pair {
            (Header::ToPath(_), Header::ToPath(_)) | (Header::FromPath(_), Header::FromPath(_)) => {
                true
            }
            (Header::ByteRange(f), Header::ByteRange(r)) => {
                ranged = true;
                range(f, r)
            }
            (Header::MessageId(_), Header::MessageId(_)) if !message_id => true,
            (a, b) => a == b,
        });
    same && ranged
}

/// Room enough for one [`Action::Answer`] with long URIs; less left in the block starts a new
/// one ([`crate::block`]).
const ANSWER_ROOM: usize = 512;

fn discard(reason: DiscardReason) -> Vec<Action> {
    vec![Action::Discard { reason }]
}

/// The response's comment, if any.
fn comment(head: &Head) -> Option<&str> {
    match &head.start {
        StartLine::Response { comment, .. } => comment.as_deref(),
        StartLine::Request(_) => None,
    }
}

/// A chunk's Byte-Range, `1-*/*` when absent (RFC 4975 §7.1.1: no Byte-Range means the whole
/// message).
fn range_of(head: &Head) -> ByteRange {
    head.byte_range().unwrap_or(ByteRange {
        start: 1,
        end: None,
        total: None,
    })
}

impl Router {
    /// A router for the relay whose own URI is `local` (e.g. `msrps://relay.example.net:2855;tcp`):
    /// the From-Path of the failure REPORTs it originates. `timeout` is the response timer of
    /// forwarded SENDs ([`DEFAULT_TIMEOUT`], 30 s, 4976-030; shorter in tests).
    pub fn new(local: MsrpUri, timeout: Duration) -> Router {
        Router {
            local,
            ids: IdGenerator::new(),
            pending: Transactions::new(timeout),
            paths: PathPool::default(),
            answers: BytesMut::new(),
        }
    }

    /// The relay's own URI.
    pub fn local(&self) -> &MsrpUri {
        &self.local
    }

    /// How many forwarded requests await a response.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// When the earliest response timer expires: the caller calls [`Router::poll_timeouts`]
    /// then. `None` when no timer runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.next_deadline()
    }

    /// A request head `head` was decoded on connection `from` (its body, if any, follows). Says
    /// whether and where it goes and what the relay owes for it; see the [module
    /// documentation](self) for the rules (4976-024 to 4976-029, 4976-032, 4976-034, 4976-038).
    ///
    /// The result holds, in order: an [`Action::Respond`] (a 200 or 481 to the previous hop) if
    /// owed, an [`Action::Send`] (a failure REPORT) if owed, and exactly one [`Action::Forward`]
    /// or [`Action::Discard`].
    pub fn on_request(
        &mut self,
        mut head: Head,
        from: ConnId,
        use_paths: &UsePaths,
        now: Instant,
    ) -> Vec<Action> {
        let Some(method) = head.method() else {
            return discard(DiscardReason::NotARequest);
        };
        let is_send = matches!(method, Method::Send);
        let is_report = matches!(method, Method::Report);
        if head.from_path().is_empty() {
            return discard(DiscardReason::NoPath);
        }
        let to = head.to_path();
        let Some(first) = to.first() else {
            return discard(DiscardReason::NoPath);
        };
        // §6.4: the first URI must be one we issued, to or from its client (4976-025).
        let route = match use_paths.route(first, from, now) {
            Ok(r) => r,
            Err(e) => return discard(DiscardReason::Route(e)),
        };
        let from_client = route.direction == Direction::FromClient;
        // How many of our URIs lead the To-Path, and the next hop after them.
        let mut ours = 1;
        let mut direction = route.direction;
        let next = loop {
            let Some(next) = to.get(ours) else {
                break Err(DiscardReason::NoNextHop);
            };
            match direction {
                // Deliver to the client, whatever the next URI is (4976-043).
                Direction::ToClient { conn } => break Ok(Hop::Conn(conn)),
                Direction::FromClient => match use_paths.route(next, from, now) {
                    // A hairpin: the next hop is this relay again.
                    Ok(r) => {
                        ours += 1;
                        direction = r.direction;
                    }
                    Err(RouteError::Foreign) => break Ok(Hop::Uri(Box::new(next.clone()))),
                    Err(e) => break Err(DiscardReason::NextHop(e)),
                },
            }
        };
        let next = match next {
            Ok(hop) => hop,
            Err(reason) => {
                return self.refuse(&head, from, StatusCode::NO_SUCH_SESSION, reason);
            }
        };

        let mut actions = Vec::with_capacity(2);
        let failure_report = head.failure_report();
        if is_send {
            actions.extend(self.answer_send(&head, from));
        }
        let keep = if is_send {
            failure_report != FailureReport::No
        } else {
            !is_report
        };
        let origin = keep.then(|| self.paths.share(head.from_path()));
        let send = (keep && is_send).then(|| SendInfo {
            message_id: head.message_id().cloned(),
            range: range_of(&head),
            failure_report,
        });

        // 4976-026: our URIs leave the To-Path and lead the From-Path, the last one first.
        head.shift_paths(ours);
        // 4976-027: our own transaction id on the outgoing hop.
        let out_tid = self.pending.new_tid(&mut self.ids);
        let in_tid = std::mem::replace(&mut head.tid, out_tid);
        if let Some(origin) = origin {
            let out_conn = match &next {
                Hop::Conn(c) => Some(*c),
                Hop::Uri(_) => None,
            };
            let front = self.paths.share(&head.from_path()[..ours]);
            self.pending.insert_unsent(
                out_tid,
                Pending {
                    in_conn: Some(from),
                    in_tid,
                    from_client,
                    out_conn,
                    origin,
                    front,
                    sent: false,
                    send,
                },
            );
        }
        actions.push(Action::Forward {
            to: next,
            head,
            in_tid,
        });
        actions
    }

    /// The hop-by-hop answer to the SEND `head` that came from `from` and is forwarded, or
    /// carried on in the chunk forwarded before it ([`continues`]): a 200 when its
    /// Failure-Report is `yes` (4976-028/029), nothing otherwise. Written at once, with the
    /// Message-ID as in the RFC 4976 §3 example (200 6aef; an extension header in a response).
    /// The frames share a block: one allocation per few dozen answers.
    pub fn answer_send(&mut self, head: &Head, from: ConnId) -> Option<Action> {
        relay_owed(head, StatusCode::OK).response?;
        let first = head.to_path().first()?;
        make_room(&mut self.answers, ANSWER_ROOM);
        encode::send_response(head, StatusCode::OK, first, true, &mut self.answers).then(|| {
            Action::Answer {
                to: from,
                status: StatusCode::OK,
                frame: self.answers.split().freeze(),
            }
        })
    }

    /// [`Router::answer_send`] for a SEND that repeats the head `r.template()`, without
    /// building its head: the frame is written from what `state` keeps for the repeats of
    /// that head (see [`Router::on_repeated_send`]).
    pub fn answer_repeat(
        &mut self,
        r: &RepeatedSend,
        from: ConnId,
        state: &mut RepeatState,
    ) -> Option<Action> {
        let owed = state.answer.get_or_insert_with(|| {
            let head = &**r.template();
            let status = relay_owed(head, StatusCode::OK).response?;
            let (first, back) = (head.to_path().first()?, head.from_path().first()?);
            // The frame for a tid of four octets and no Message-ID, without what surrounds
            // the part that does not change.
            let mut frame = BytesMut::new();
            encode::send_response_of("tidx", back, None, status, first, &mut frame);
            let tail = b"\r\n-------tidx$\r\n".len();
            let mid = frame.get(b"MSRP tidx".len()..frame.len() - tail)?;
            Some((status, Bytes::copy_from_slice(mid)))
        });
        owed.as_ref().map(|(status, mid)| {
            make_room(&mut self.answers, ANSWER_ROOM);
            write_answer(mid, &r.tid, r.message_id(), &mut self.answers);
            Action::Answer {
                to: from,
                status: *status,
                frame: self.answers.split().freeze(),
            }
        })
    }

    /// [`Router::on_request`] for a SEND that repeats the head `r.template()`
    /// ([`msrp::DecoderConfig::repeated_sends`]) and that `from` forwarded last to the client
    /// on `to` (`Conn::forward_repeat`), without building its head: when the first To-Path URI
    /// still routes it to the client on `to` (RFC 4976 §6.4, 4976-025/043), the transaction
    /// is kept as `on_request` keeps it and the result is our transaction id on the outgoing
    /// hop (4976-027) and the hop-by-hop 200 when one is owed (4976-028/029). `None`, and
    /// nothing changed, when the route differs: the caller takes the head's way.
    ///
    /// `state`: what the caller keeps for the chunks that repeat `r.template()` (a default one
    /// for the first): the paths their transactions hold and their 200 but for its values.
    pub fn on_repeated_send(
        &mut self,
        r: &RepeatedSend,
        from: ConnId,
        to: ConnId,
        use_paths: &UsePaths,
        now: Instant,
        state: &mut RepeatState,
    ) -> Option<(Ident, Option<Action>)> {
        let head = &**r.template();
        let (Some(first), true) = (
            head.to_path().first(),
            !head.from_path().is_empty() && head.to_path().len() >= 2 && head.is_send(),
        ) else {
            return None;
        };
        // 4976-025: still valid for this connection; found from what the state keeps while
        // the table's grants are unchanged (the template's first To-Path URI is always this).
        match use_paths.route_memo(first, from, now, &mut state.route) {
            Ok(direction) if direction == Direction::ToClient { conn: to } => {}
            _ => return None,
        }
        let failure_report = head.failure_report();
        let answer = self.answer_repeat(r, from, state);
        let out_tid = self.pending.new_tid(&mut self.ids);
        if failure_report != FailureReport::No {
            let (origin, front) = state
                .paths
                .get_or_insert_with(|| {
                    (
                        self.paths.share(head.from_path()),
                        self.paths.share(std::slice::from_ref(first)),
                    )
                })
                .clone();
            let range = r.byte_range().unwrap_or(ByteRange {
                start: 1,
                end: None,
                total: None,
            });
            self.pending.insert_unsent(
                out_tid,
                Pending {
                    in_conn: Some(from),
                    in_tid: r.tid,
                    from_client: false,
                    out_conn: Some(to),
                    origin,
                    front,
                    sent: false,
                    send: Some(SendInfo {
                        message_id: r.message_id().cloned(),
                        range,
                        failure_report,
                    }),
                },
            );
        }
        Some((out_tid, answer))
    }

    /// A request the relay accepted from the previous hop but cannot forward: answered with
    /// `status` where a response is owed, and for a SEND with Failure-Report `yes` or `partial`
    /// also reported (RFC 4976 §6.4.1: "a problem processing the SEND request", 4976-031).
    fn refuse(
        &mut self,
        head: &Head,
        from: ConnId,
        status: StatusCode,
        reason: DiscardReason,
    ) -> Vec<Action> {
        let mut actions = Vec::with_capacity(3);
        let owed = relay_owed(head, status);
        if let (Some(s), Some(ours)) = (owed.response, head.to_path().first()) {
            actions.push(Action::Respond {
                to: from,
                head: report::response(head, s, None, ours),
            });
        }
        if owed.failure_report {
            let tid = self.ids.next_id();
            if let Some(rep) = report::report(head, tid, status, None, range_of(head), &self.local)
            {
                actions.push(Action::Send {
                    to: Hop::Conn(from),
                    head: rep,
                });
            }
        }
        actions.push(Action::Discard { reason });
        actions
    }

    /// The tokio layer resolved the [`Hop::Uri`] of the request it forwarded as `out_tid` to
    /// connection `conn` (reused or newly opened) and queued it there. From now on its response
    /// must come on `conn`, and the transaction fails when `conn` closes. `false` when `out_tid`
    /// is not outstanding (no transaction is kept for it: a REPORT, a SEND with Failure-Report
    /// `no`).
    pub fn assign(&mut self, out_tid: &str, conn: ConnId) -> bool {
        let Some(p) = self.pending.get_mut(out_tid) else {
            return false;
        };
        p.out_conn = Some(conn);
        true
    }

    /// The last octet of the request forwarded as `out_tid` was sent at `now`, after `octets`
    /// body octets: its response timer starts (RFC 4976 §6.4.1, 4976-030: "The timer starts when
    /// the last byte of the message has been sent to the next hop"), and a failure REPORT will
    /// cover exactly those octets (range-end = range-start + `octets` - 1, 4975-053). `false`
    /// when `out_tid` is not outstanding.
    pub fn chunk_sent(&mut self, out_tid: &str, octets: u64, now: Instant) -> bool {
        self.pending.sent_with(out_tid, now, |p| {
            p.sent = true;
            if let Some(info) = &mut p.send {
                info.range.end = info.range.start.saturating_add(octets).checked_sub(1);
            }
        })
    }

    /// The streaming layer split the SEND it forwards as `out_tid` and is about to send a further
    /// piece starting at octet `start` of the message (4976-033, see the [module
    /// documentation](self)): returns the transaction id for that piece's head. The piece is a
    /// transaction of its own, reporting to the same original sender; call
    /// [`Router::chunk_sent`] with its tid when its last octet is out. When `out_tid` keeps no
    /// transaction (Failure-Report `no`, not a SEND, or already over) the tid is fresh and
    /// nothing is kept for it either.
    pub fn rechunk(&mut self, out_tid: &str, start: u64) -> Ident {
        let tid = self.pending.new_tid(&mut self.ids);
        let piece = match self.pending.get(out_tid) {
            Some(p) if p.send.is_some() => {
                let mut q = p.clone();
                q.sent = false;
                if let Some(info) = &mut q.send {
                    info.range.start = start;
                    info.range.end = None;
                }
                q
            }
            _ => return tid,
        };
        self.pending.insert_unsent(tid, piece);
        tid
    }

    /// The streaming layer carried a further chunk on in the chunk it forwards as `out_tid`
    /// ([`continues`], 4976-033): until [`Router::chunk_sent`] gives the octets actually sent,
    /// a failure REPORT for it covers the octets up to `end`, the range-end of the chunk
    /// carried on (`None`: unknown, reported as `*`), so that a failure while the combined chunk
    /// is still being sent reports every chunk it carries (4976-031). `false` when `out_tid`
    /// keeps no transaction (Failure-Report `no`, or already over).
    pub fn joined(&mut self, out_tid: &str, end: Option<u64>) -> bool {
        match self.pending.get_mut(out_tid).and_then(|p| p.send.as_mut()) {
            Some(info) => {
                info.range.end = end;
                true
            }
            None => false,
        }
    }

    /// A bodiless 2xx arrived on connection `from`, read briefly
    /// ([`msrp::DecoderConfig::brief_success_responses`]): `true` when it answers a SEND this
    /// relay forwarded, on the connection it went out on, and its first To-Path URI is ours as
    /// we wrote it. The transaction is then over with nothing to send (RFC 4976 §6.4.3,
    /// 4976-029: a SEND's response goes to the previous hop only, and a success is not
    /// reported). `false` when this quick check cannot decide (the response to an end-to-end
    /// request, a To-Path spelled otherwise, an unknown transaction): parse the head and call
    /// [`Router::on_response`], which decides as it always does.
    pub fn on_brief_success(&mut self, r: &BriefSuccess, from: ConnId) -> bool {
        let checked = self.pending.settle_if(r.tid_octets(), |p| {
            let quick = p.send.is_some()
                && p.out_conn.is_none_or(|c| c == from)
                && p.front
                    .first()
                    .is_some_and(|u| u.as_str().as_bytes() == r.first_to_path());
            if quick { Ok(()) } else { Err(()) }
        });
        matches!(checked, Some(Ok(_)))
    }

    /// A response `head` arrived on connection `from` (RFC 4976 §6.4.3; see the [module
    /// documentation](self)). Returns nothing for a 2xx to a SEND, a failure REPORT
    /// ([`Action::Send`]) for an error to a SEND (4976-031, 4976-037), the rewritten response
    /// ([`Action::Respond`], original tid) for any other request (4976-036), or an
    /// [`Action::Discard`].
    pub fn on_response(&mut self, mut head: Head, from: ConnId) -> Vec<Action> {
        let Some(status) = head.status() else {
            return discard(DiscardReason::NotAResponse);
        };
        let to = head.to_path();
        let checked = self.pending.complete_if(&head.tid, |p| {
            if p.out_conn.is_some_and(|c| c != from) {
                return Err(DiscardReason::WrongConnection);
            }
            // A SEND's response goes to the previous hop only (4976-029): one URI, ours. Any
            // other response carries the whole path back, which must begin with what we put on
            // it.
            let addressed = match &p.send {
                Some(_) => !to.is_empty() && to.first() == p.front.first(),
                None => to.starts_with(&p.front[..]),
            };
            if addressed {
                Ok(())
            } else {
                Err(DiscardReason::NotAddressedHere)
            }
        });
        let p = match checked {
            None => return discard(DiscardReason::UnknownTransaction),
            Some(Err(reason)) => return discard(reason),
            Some(Ok(p)) => p,
        };
        if p.send.is_some() {
            return self
                .failure_report(&p, status, comment(&head))
                .into_iter()
                .collect();
        }
        let ours = p.front.len();
        let (Some(back), true) = (p.in_conn, head.to_path().len() > ours) else {
            return discard(DiscardReason::NoRouteBack);
        };
        head.shift_paths(ours);
        head.tid = p.in_tid;
        vec![Action::Respond { to: back, head }]
    }

    /// The tokio layer could not deliver the request forwarded as `out_tid` (the next hop cannot
    /// be reached, its queue stays full, …): the transaction ends as if the next hop had answered
    /// `status`. A SEND with Failure-Report `yes` or `partial` is reported to its original sender
    /// with `status` (RFC 4976 §6.4.1, 4976-031); an end-to-end request is answered `status` on
    /// its original connection. 408 is the natural status when the next hop cannot be reached
    /// (RFC 4975 §10.4). Empty when `out_tid` is not outstanding.
    pub fn fail(&mut self, out_tid: &str, status: StatusCode) -> Vec<Action> {
        let Some(p) = self.pending.complete(out_tid) else {
            return Vec::new();
        };
        self.failed(&p, status, true).into_iter().collect()
    }

    /// Expires every transaction whose timer ran out at `now` (4976-030): a SEND with
    /// Failure-Report `yes` is reported to its original sender with status 408; any other
    /// transaction is forgotten silently. Call it at [`Router::next_deadline`].
    pub fn poll_timeouts(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some((_, p)) = self.pending.poll_expired(now) {
            let yes = p
                .send
                .as_ref()
                .is_some_and(|s| s.failure_report == FailureReport::Yes);
            if yes {
                out.extend(self.failure_report(&p, StatusCode::TIMEOUT, None));
            }
        }
        out
    }

    /// Connection `conn` closed. Transactions that went out on it have failed (408, see the
    /// [module documentation](self)); transactions that came in on it lose their way back. Returns
    /// the failure REPORTs and 408 responses owed, in no particular order.
    pub fn connection_closed(&mut self, conn: ConnId) -> Vec<Action> {
        let mut out = Vec::new();
        let on = |pick: fn(&Pending) -> Option<ConnId>, pending: &Transactions<Pending>| {
            pending
                .iter()
                .filter(|(_, p)| pick(p) == Some(conn))
                .map(|(tid, _)| *tid)
                .collect::<Vec<_>>()
        };
        for tid in on(|p| p.out_conn, &self.pending) {
            let Some(p) = self.pending.complete(&tid) else {
                continue;
            };
            // A fully sent SEND with Failure-Report partial expected no response: no loss known.
            if let Some(a) = self.failed(&p, StatusCode::TIMEOUT, !p.sent) {
                out.push(a);
            }
        }
        for tid in on(|p| p.in_conn, &self.pending) {
            let Some(p) = self.pending.get_mut(&tid) else {
                continue;
            };
            if p.send.is_some() && !p.from_client {
                // The failure REPORT, if one is owed later, goes by the From-Path URI.
                p.in_conn = None;
                continue;
            }
            self.pending.complete(&tid);
        }
        out
    }

    /// What a failed transaction owes: a failure REPORT for a SEND (with `partial` only when
    /// `partial_too`), a `status` response for an end-to-end request.
    fn failed(&mut self, p: &Pending, status: StatusCode, partial_too: bool) -> Option<Action> {
        match &p.send {
            Some(s) if s.failure_report == FailureReport::Partial && !partial_too => None,
            Some(_) => self.failure_report(p, status, None),
            None => {
                // As [`msrp::report::response`] answers a non-SEND request: the whole From-Path
                // back, From-Path = the URI the request was addressed to here (4975-062).
                let back = p.in_conn?;
                let ours = p.front.last()?.clone();
                Some(Action::Respond {
                    to: back,
                    head: Head::response(
                        status,
                        p.in_tid,
                        p.origin.iter().cloned().collect(),
                        msrp::path![ours],
                    ),
                })
            }
        }
    }

    /// The failure REPORT for the SEND of `p` with `status` (RFC 4976 §6.4.1, §6.4.3: the status
    /// received is the status reported): To-Path = the SEND's From-Path as received, From-Path =
    /// this relay's URI, the SEND's Message-ID, Byte-Range = the octets sent
    /// ([`msrp::report::report`]). `None` when none is owed (a 2xx, Failure-Report `no`) or the
    /// SEND had no Message-ID.
    fn failure_report(
        &mut self,
        p: &Pending,
        status: StatusCode,
        comment: Option<&str>,
    ) -> Option<Action> {
        let info = p.send.as_ref()?;
        if info.failure_report == FailureReport::No || status.is_success() {
            return None;
        }
        let mut send = Head::request(
            Method::Send,
            p.in_tid,
            Path::new(),
            p.origin.iter().cloned().collect(),
        );
        send.headers.push(Header::MessageId(info.message_id?));
        let tid = self.ids.next_id();
        let head = report::report(&send, tid, status, comment, info.range, &self.local)?;
        let to = match p.in_conn {
            Some(c) => Hop::Conn(c),
            None => Hop::Uri(Box::new(p.origin.first()?.clone())),
        };
        Some(Action::Send { to, head })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4976-028/029: the 200 written from a session's [`RepeatState`] is the one
    /// [`encode::send_response_of`] writes, with and without a Message-ID, for tids of any
    /// length.
    #[test]
    fn repeat_answers_are_the_usual_answers() {
        let back: MsrpUri = "msrp://alice.example.com:7/a;tcp".parse().unwrap();
        let first: MsrpUri = "msrp://relay.example.net:2855/u1;tcp".parse().unwrap();
        let mut frame = BytesMut::new();
        encode::send_response_of("tidx", &back, None, StatusCode::OK, &first, &mut frame);
        let mid = &frame[b"MSRP tidx".len()..frame.len() - b"\r\n-------tidx$\r\n".len()];
        for (tid, m) in [
            ("abcd", None),
            ("t0123456789abcdefghijklmnopqrstu", Some("msg00001")),
        ] {
            let m: Option<Ident> = m.map(|m| m.parse().unwrap());
            let (mut want, mut got) = (BytesMut::new(), BytesMut::new());
            encode::send_response_of(tid, &back, m.as_ref(), StatusCode::OK, &first, &mut want);
            write_answer(mid, tid, m.as_ref(), &mut got);
            assert_eq!(got, want);
        }
    }
}
