//! The room switch ([`msrp_mixer::room`]) driven sans-IO: heads, body pieces and end-lines go in,
//! and the [`Action`]s that come out are checked exactly (RFC 7701 §6, §7; checklist IDs
//! 7701-009..032, 4975-018, 4975-046).
//!
//! The switch draws transaction ids and Message-IDs at random, so the expected actions take
//! those from the actual ones, after checking what they must be (a tid of its own per copy, one
//! Message-ID per message). The copies of one chunk come in no set order; [`norm`] sorts them
//! by session.
//!
//! The RFC 7701 §9.2–§9.4 vectors (tests/vectors/, copied from shared/rfc/vectors) are driven
//! through a room at the end of the file.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use msrp::{
    ByteRange, ByteString, DecoderConfig, Flag, Frame, FrameDecoder, Head, Header, Ident, Method,
    MsrpUri, StartLine, Status, StatusCode,
};
use msrp_mixer::config::{RoomPolicy, SwitchLimits};
use msrp_mixer::cpim;
use msrp_mixer::identity::UserUri;
use msrp_mixer::join::{self, SessionTerms};
use msrp_mixer::room::{
    Action, Copies, HISTORY_MAX_MESSAGE, JoinRefused, OutId, ReqHead, Response, Room, SessionKey,
};
use msrp_sdp::Role;
use msrp_sdp::attr::{AcceptTypes, AcceptWrappedTypes, FormatEntry};

const ROOM: &str = "sip:room@chat.example.com";
const ALICE: &str = "sip:alice@atlanta.example.com";
const BOB: &str = "sip:bob@biloxi.example.com";
const CAROL: &str = "sip:carol@chicago.example.com";
const DAVE: &str = "sip:dave@denver.example.com";
const ERIN: &str = "sip:erin@erie.example.com";
const FRANK: &str = "sip:frank@fresno.example.com";

const TIMEOUT: Duration = Duration::from_secs(540);

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn msrp_uri(s: &str) -> MsrpUri {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e:?}"))
}

fn entries(types: &[&str]) -> Vec<FormatEntry> {
    types
        .iter()
        .map(|t| FormatEntry::parse(t).expect("media type"))
        .collect()
}

/// The terms of session number `n`: our URI `…/s<n>`, its path `…/p<n>`, `accept-types:
/// message/cpim`, `accept-wrapped-types: <wrapped>` (none when empty), private messages and
/// nicknames declared, no max-size.
fn terms(n: u32, wrapped: &[&str]) -> SessionTerms {
    SessionTerms {
        local: msrp_uri(&format!("msrp://chat.example.com:2855/s{n};tcp")),
        peer_path: vec![msrp_uri(&format!(
            "msrp://client{n}.example.com:7654/p{n};tcp"
        ))],
        role: Role::Passive,
        accept_types: AcceptTypes(entries(&["message/cpim"])),
        accept_wrapped_types: (!wrapped.is_empty()).then(|| AcceptWrappedTypes(entries(wrapped))),
        private_messages: true,
        nicknames: true,
        max_size: None,
    }
}

/// Sorts the copies of every [`Action::Open`] by session (their order carries no meaning).
fn norm(mut acts: Vec<Action>) -> Vec<Action> {
    for a in &mut acts {
        if let Action::Open { copies, .. } = a {
            copies.to.sort();
        }
    }
    acts
}

/// A room and a clock.
struct Chat {
    room: Room,
    now: Instant,
    next: u32,
    tid: u32,
}

impl Chat {
    fn new(policy: RoomPolicy) -> Chat {
        Chat::with(policy, &[])
    }

    fn with(policy: RoomPolicy, reserved: &[&str]) -> Chat {
        let room = Room::new(
            UserUri::new(ROOM).unwrap(),
            policy,
            SwitchLimits::default(),
            reserved,
        )
        .expect("room");
        Chat {
            room,
            now: Instant::now(),
            next: 1,
            tid: 1,
        }
    }

    /// A default room without history.
    fn plain() -> Chat {
        Chat::new(RoomPolicy {
            history: 0,
            ..RoomPolicy::default()
        })
    }

    /// Joins a session of `who` with `t`.
    fn join_with(&mut self, who: &str, t: SessionTerms) -> SessionKey {
        self.room
            .join(UserUri::new(who).unwrap(), t)
            .expect("joined")
    }

    /// Joins an unbound session of `who` with [`terms`] of the next number.
    fn join(&mut self, who: &str, wrapped: &[&str]) -> SessionKey {
        let t = terms(self.next, wrapped);
        self.next += 1;
        self.join_with(who, t)
    }

    /// Joins and binds a session of `who` (nothing to replay: asserted).
    fn member(&mut self, who: &str, wrapped: &[&str]) -> SessionKey {
        let k = self.join(who, wrapped);
        assert_eq!(self.bind(k), vec![], "no history");
        k
    }

    fn bind(&mut self, k: SessionKey) -> Vec<Action> {
        let mut out = Vec::new();
        self.room.bind(k, &mut out);
        out
    }

    fn leave(&mut self, k: SessionKey) -> Vec<Action> {
        let mut out = Vec::new();
        self.room.leave(k, &mut out);
        norm(out)
    }

    fn terms(&self, k: SessionKey) -> SessionTerms {
        self.room.terms(k).expect("member").clone()
    }

    fn tid(&mut self) -> String {
        self.tid += 1;
        format!("tid{}", self.tid)
    }

    /// A SEND chunk head from `k` to the room: To-Path our URI, From-Path its path.
    fn send_head(&mut self, k: SessionKey, mid: &str, range: ByteRange) -> Head {
        let t = self.terms(k);
        let tid = self.tid();
        Head::request(
            Method::Send,
            tid.parse().unwrap(),
            msrp::path![t.local.clone()],
            t.peer_path.iter().cloned().collect(),
        )
        .with(Header::MessageId(mid_id(mid)))
        .with(Header::ByteRange(range))
        .with(Header::ContentType(ByteString::from_static("message/cpim")))
    }

    fn request(&mut self, k: SessionKey, head: Head) -> Vec<Action> {
        let mut out = Vec::new();
        self.room.request(k, head, self.now, &mut out);
        norm(out)
    }

    fn body(&mut self, k: SessionKey, piece: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        self.room
            .body(k, Bytes::copy_from_slice(piece), self.now, &mut out);
        norm(out)
    }

    fn end(&mut self, k: SessionKey, flag: Flag) -> Vec<Action> {
        let mut out = Vec::new();
        self.room.end(k, flag, self.now, &mut out);
        norm(out)
    }

    fn poll(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        self.room.poll(self.now, &mut out);
        norm(out)
    }

    fn copy_failed(&mut self, o: OutId, k: SessionKey, status: StatusCode) -> Vec<Action> {
        let mut out = Vec::new();
        self.room.copy_failed(o, k, status, &mut out);
        out
    }

    /// One whole chunk: head, the body in one piece, end-line; the actions of all three.
    fn chunk(&mut self, k: SessionKey, head: Head, body: &[u8], flag: Flag) -> Vec<Action> {
        let mut acts = self.request(k, head);
        if !body.is_empty() {
            acts.extend(self.body(k, body));
        }
        acts.extend(self.end(k, flag));
        acts
    }

    /// A whole message from `k` in one chunk (`1-n/n`), with `extra` headers; returns its head
    /// and the actions.
    fn send(&mut self, k: SessionKey, body: &[u8], extra: &[Header]) -> (Head, Vec<Action>) {
        let mid = format!("m{}", self.tid + 1);
        let mut head = self.send_head(k, &mid, ByteRange::whole(body.len() as u64));
        for h in extra {
            head.push(h.clone());
        }
        let acts = self.chunk(k, head.clone(), body, Flag::Last);
        (head, acts)
    }
}

/// A CPIM body From `from` To `to` wrapping `ct` `text` (RFC 3862 §2: CPIM headers, blank line,
/// MIME headers, blank line, body).
fn cpim(from: &str, to: &str, ct: &str, text: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nDateTime: 2009-03-02T15:02:31-03:00\r\n\r\n\
         Content-Type: {ct}\r\n\r\n{text}"
    )
    .into_bytes()
}

/// A public text/plain message from `from`.
fn public(from: &str, text: &str) -> Vec<u8> {
    cpim(from, ROOM, "text/plain", text)
}

/// The response the switch owes for SEND `req` from the session with terms `t` (RFC 4975 §7.2:
/// the request's tid, To-Path the first From-Path URI, From-Path our URI, the reason phrase).
fn response(k: SessionKey, t: &SessionTerms, req: &Head, status: StatusCode) -> Action {
    Action::Respond {
        to: k,
        response: Head::response(
            status,
            req.tid,
            msrp::path![req.from_path()[0].clone()],
            msrp::path![t.local.clone()],
        )
        .into(),
    }
}

/// Message-ID `mid` (a test's short name, padded to the 4 octets an `ident` needs).
fn mid_id(mid: &str) -> Ident {
    format!("{mid:-<4}").parse().expect("an ident")
}

/// The head of the copy the switch sends on a session with terms `t` (RFC 4975 §7.1.1; RFC
/// 7701 §6.1): To-Path its path, From-Path our URI, Message-ID `mid`, Byte-Range `range`,
/// Content-Type message/cpim.
fn copy_head(t: &SessionTerms, tid: &Ident, mid: &Ident, range: ByteRange) -> Head {
    Head::request(
        Method::Send,
        *tid,
        t.peer_path.iter().cloned().collect(),
        msrp::path![t.local.clone()],
    )
    .with(Header::MessageId(*mid))
    .with(Header::ByteRange(range))
    .with(Header::ContentType(ByteString::from_static("message/cpim")))
}

/// The REPORT the switch sends to the sender of `send` (with terms `t`) with `status` about
/// `range` (RFC 4975 §7.1.2), its tid taken from `actual`; with a `message/cpim` body when
/// `wrapper` (7701-022).
fn report_head(
    t: &SessionTerms,
    send: &Head,
    tid: &Ident,
    status: StatusCode,
    range: ByteRange,
    wrapper: bool,
) -> Head {
    let mut h = Head::request(
        Method::Report,
        *tid,
        send.from_path().iter().cloned().collect(),
        msrp::path![t.local.clone()],
    )
    .with(Header::MessageId(*send.message_id().unwrap()))
    .with(Header::ByteRange(range))
    .with(Header::Status(Status {
        namespace: 0,
        code: status,
        comment: status.reason().map(ByteString::from_static),
    }));
    if wrapper {
        h.push(Header::ContentType(ByteString::from_static("message/cpim")));
    }
    h
}

/// The `Open` at `acts[i]`: its message and copies.
fn open_at(acts: &[Action], i: usize) -> (OutId, Copies) {
    match acts.get(i) {
        Some(Action::Open { out, copies }) => (*out, copies.clone()),
        other => panic!("action {i} is not Open: {other:?}\n{acts:#?}"),
    }
}

/// The copies `recipients` (in order) must get: one Message-ID `mid` on all of them that is not
/// the sender's, and `range`. Each copy's head is [`copy_head`] for its recipient (checked
/// through [`Room::copy_head`]: To-Path the recipient's path, From-Path our session URI).
fn copies(
    chat: &Chat,
    actual: &Copies,
    recipients: &[SessionKey],
    mid: &Ident,
    range: ByteRange,
) -> Copies {
    assert_eq!(actual.to, recipients, "recipients");
    let expected = Copies {
        to: recipients.to_vec(),
        message_id: *mid,
        range,
    };
    for &to in recipients {
        let tid: Ident = "t1d0".parse().unwrap();
        assert_eq!(
            chat.room.copy_head(to, tid, &expected),
            Some(copy_head(&chat.terms(to), &tid, mid, range)),
            "the head of the copy for {to}"
        );
    }
    expected
}

/// The Message-ID of the copies.
fn mid_of(copies: &Copies) -> Ident {
    copies.message_id
}

/// Every body octet sent for `o` in `acts`, in order.
fn bodies(acts: &[Action], o: OutId) -> Vec<u8> {
    let mut v = Vec::new();
    for a in acts {
        if let Action::Body { out, piece } = a {
            if *out == o {
                v.extend_from_slice(piece);
            }
        }
    }
    v
}

fn whole(n: usize) -> ByteRange {
    ByteRange::whole(n as u64)
}

fn range(start: u64, end: Option<u64>, total: Option<u64>) -> ByteRange {
    ByteRange { start, end, total }
}

/// The Respond actions (session, status) in `acts`.
fn statuses(acts: &[Action]) -> Vec<(SessionKey, u16)> {
    acts.iter()
        .filter_map(|a| match a {
            Action::Respond { to, response } => Some((*to, response.status().as_u16())),
            _ => None,
        })
        .collect()
}

/// A message from `k` refused with `status`: the actions of a whole `1-n/n` chunk are exactly
/// the response (sent at once, before the end-line, or at it).
fn assert_refused(chat: &mut Chat, k: SessionKey, body: &[u8], status: StatusCode) {
    let (head, acts) = chat.send(k, body, &[]);
    let t = chat.terms(k);
    assert_eq!(acts, vec![response(k, &t, &head, status)]);
}

fn nickname_head(chat: &mut Chat, k: SessionKey, nick: &str) -> Head {
    let t = chat.terms(k);
    let tid = chat.tid();
    Head::request(
        Method::Nickname,
        tid.parse().unwrap(),
        msrp::path![t.local.clone()],
        t.peer_path.iter().cloned().collect(),
    )
    .with(Header::UseNickname(ByteString::from(nick)))
}

/// NICKNAME `nick` from `k`: the status answered (the response checked whole).
fn nickname(chat: &mut Chat, k: SessionKey, nick: &str) -> u16 {
    let head = nickname_head(chat, k, nick);
    let t = chat.terms(k);
    let acts = chat.request(k, head.clone());
    let [Action::Respond { to, response: got }] = acts.as_slice() else {
        panic!("one response: {acts:?}");
    };
    let r = got.head();
    let status = r.status().unwrap();
    assert_eq!(*to, k);
    assert_eq!(r, response(k, &t, &head, status).head_of());
    status.as_u16()
}

trait HeadOf {
    fn head_of(self) -> Head;
}

impl HeadOf for Action {
    fn head_of(self) -> Head {
        match self {
            Action::Respond { response, .. } => response.head(),
            Action::Send { head, .. } => head,
            a => panic!("no head: {a:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Public messages (7701-013..016)
// ---------------------------------------------------------------------------------------------

/// 7701-013, 7701-015: a public message goes to every bound session of every other participant
/// that accepts the wrapped type and whose max-size it fits: not to the sender (nor its other
/// session), not to an unbound session, not to one whose accept-wrapped-types leaves text/plain
/// out, not to one whose max-size is smaller; the body unchanged (7701-014), then 200.
#[test]
fn public_message_fans_out_to_every_other_bound_session() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &["text/plain"]);
    let alice2 = chat.member(ALICE, &["*"]);
    let bob = chat.member(BOB, &["text/plain"]);
    let carol = chat.member(CAROL, &["image/png"]);
    let _dave_unbound = chat.join(DAVE, &["text/plain"]);
    let mut small = terms(90, &["text/plain"]);
    small.max_size = Some(20);
    let erin = chat.join_with(ERIN, small);
    chat.bind(erin);
    let frank = chat.member(FRANK, &["*"]);
    // A session that names text/plain in accept-types takes it without accept-wrapped-types.
    let mut plain = terms(91, &[]);
    plain.accept_types = AcceptTypes(entries(&["message/cpim", "text/plain"]));
    let gina = chat.join_with("sip:gina@example.com", plain);
    chat.bind(gina);

    let body = public(ALICE, "Hello everybody");
    let head = chat.send_head(alice, "m1", whole(body.len()));
    assert_eq!(chat.request(alice, head.clone()), vec![], "undecided");
    let acts = chat.body(alice, &body);
    let (o, actual) = open_at(&acts, 0);
    let mid = mid_of(&actual);
    assert_ne!(&*mid, "m1", "the switch's own Message-ID");
    let expected = copies(&chat, &actual, &[bob, frank, gina], &mid, whole(body.len()));
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: expected
            },
            Action::Body {
                out: o,
                piece: Bytes::from(body.clone())
            },
        ]
    );
    let t = chat.terms(alice);
    assert_eq!(
        chat.end(alice, Flag::Last),
        vec![
            Action::End {
                out: o,
                flag: Flag::Last
            },
            response(alice, &t, &head, StatusCode::OK),
        ]
    );
    let _ = (alice2, carol);

    // A message of unknown size goes to erin too (its max-size cannot be checked).
    let head = chat.send_head(alice, "m2", range(1, None, None));
    let mut acts = chat.request(alice, head);
    acts.extend(chat.body(alice, &body));
    let (_, actual) = open_at(&acts, 0);
    assert_eq!(actual.to.clone(), vec![bob, erin, frank, gina]);
}

/// 7701-016: a message is copied to every session of a participant with several.
#[test]
fn every_session_of_a_participant_gets_a_copy() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &["text/plain"]);
    let bob1 = chat.member(BOB, &["text/plain"]);
    let bob2 = chat.member(BOB, &["text/plain"]);
    let bob3 = chat.member(BOB, &["*"]);
    assert_eq!(chat.room.participant_count(), 2);
    assert_eq!(chat.room.session_count(), 4);
    let body = public(ALICE, "hi");
    let (_, acts) = chat.send(alice, &body, &[]);
    let (_, actual) = open_at(&acts, 0);
    let mid = mid_of(&actual);
    assert_eq!(
        actual,
        copies(&chat, &actual, &[bob1, bob2, bob3], &mid, whole(body.len()))
    );
    // Bob's sessions joined with URIs built apart, yet none of them gets Bob's own message
    // (the switch tells participants apart by the value their sessions share).
    let body = public(BOB, "hello");
    let (_, acts) = chat.send(bob2, &body, &[]);
    let (_, actual) = open_at(&acts, 0);
    let mid = mid_of(&actual);
    assert_eq!(
        actual,
        copies(&chat, &actual, &[alice], &mid, whole(body.len()))
    );
}

/// 4975-022: a SEND without Byte-Range is a whole message in one chunk of unknown size; its
/// copies say so (`1-*/*`, not `1-0/0`, which would declare an empty message), and a success
/// REPORT covers the octets received.
#[test]
fn send_without_byte_range() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let t = chat.terms(alice);
    let body = public(ALICE, "no Byte-Range");
    let mut head = chat
        .send_head(alice, "nbr", whole(0))
        .with(Header::SuccessReport(true));
    head.headers.retain(|h| !matches!(h, Header::ByteRange(_)));
    let acts = chat.chunk(alice, head.clone(), &body, Flag::Last);
    let (o, actual) = open_at(&acts, 0);
    let mid = mid_of(&actual);
    let [.., Action::Send { head: r, .. }] = acts.as_slice() else {
        panic!("{acts:?}");
    };
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: copies(&chat, &actual, &[bob], &mid, range(1, None, None))
            },
            Action::Body {
                out: o,
                piece: Bytes::from(body.clone())
            },
            Action::End {
                out: o,
                flag: Flag::Last
            },
            response(alice, &t, &head, StatusCode::OK),
            Action::Send {
                to: alice,
                head: report_head(&t, &head, &r.tid, StatusCode::OK, whole(body.len()), false),
                body: None
            },
        ]
    );
}

/// 7701-014, 3862-006: a message in three chunks reaches two recipients unchanged (every CPIM
/// header octet in its place); one Message-ID (the switch's, not the sender's) on every copy of
/// every chunk, a new tid on each copy, the sender's Byte-Ranges; each chunk answered 200.
#[test]
fn chunks_keep_content_and_one_message_id() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["text/plain"]);
    let carol = chat.member(CAROL, &["text/*"]);
    let body = public(ALICE, &"0123456789".repeat(20));
    let n = body.len() as u64;
    let cuts = [0u64, 160, 250, n];
    let mut all = Vec::new();
    let mut mids = Vec::new();
    let mut out = None;
    let t = chat.terms(alice);
    for (i, w) in cuts.windows(2).enumerate() {
        let r = range(w[0] + 1, Some(w[1]), Some(n));
        let head = chat.send_head(alice, "big", r);
        let flag = if i == 2 { Flag::Last } else { Flag::More };
        let mut acts = chat.request(alice, head.clone());
        // Body in two pieces.
        let chunk = &body[w[0] as usize..w[1] as usize];
        acts.extend(chat.body(alice, &chunk[..10]));
        acts.extend(chat.body(alice, &chunk[10..]));
        acts.extend(chat.end(alice, flag));
        let (o, actual) = open_at(&acts, 0);
        assert_eq!(*out.get_or_insert(o), o, "one OutId per message");
        let mid = mid_of(&actual);
        mids.push(mid);
        let mut expected = vec![Action::Open {
            out: o,
            copies: copies(&chat, &actual, &[bob, carol], &mid, r),
        }];
        if i == 0 {
            // The first piece ends inside the CPIM headers: both go out once they are whole.
            expected.push(Action::Body {
                out: o,
                piece: Bytes::copy_from_slice(chunk),
            });
        } else {
            for piece in [&chunk[..10], &chunk[10..]] {
                expected.push(Action::Body {
                    out: o,
                    piece: Bytes::copy_from_slice(piece),
                });
            }
        }
        expected.push(Action::End { out: o, flag });
        expected.push(response(alice, &t, &head, StatusCode::OK));
        assert_eq!(acts, expected, "chunk {i}");
        all.extend(bodies(&acts, o));
    }
    assert_eq!(all, body, "7701-014: unchanged");
    mids.dedup();
    assert_eq!(mids.len(), 1, "one Message-ID");
    assert_ne!(&*mids[0], "big");
}

// ---------------------------------------------------------------------------------------------
// Refusals (7701-009, 011, 012, 4975-018)
// ---------------------------------------------------------------------------------------------

/// 7701-009: a SEND whose Content-Type is not message/cpim is answered 415 (at its end-line),
/// and one labelled message/cpim whose body is not CPIM is answered 415 at once; nobody gets a
/// copy. A SEND without Message-ID is answered 400.
#[test]
fn non_cpim_is_415() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.member(BOB, &["*"]);
    let t = chat.terms(alice);

    let mut head = chat.send_head(alice, "p1", whole(5));
    head.headers
        .retain(|h| !matches!(h, Header::ContentType(_)));
    head.push(Header::ContentType(ByteString::from_static("text/plain")));
    assert_eq!(chat.request(alice, head.clone()), vec![]);
    assert_eq!(chat.body(alice, b"Hello"), vec![]);
    assert_eq!(
        chat.end(alice, Flag::Last),
        vec![response(
            alice,
            &t,
            &head,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        )]
    );

    // Labelled CPIM, but the first line is not a header: refused as soon as it is seen.
    let body = b"Hello there, no headers here\r\n\r\nmore text";
    let head = chat.send_head(alice, "p2", whole(body.len()));
    assert_eq!(chat.request(alice, head.clone()), vec![]);
    assert_eq!(
        chat.body(alice, body),
        vec![response(
            alice,
            &t,
            &head,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        )]
    );
    assert_eq!(chat.end(alice, Flag::Last), vec![], "answered already");

    let mut head = chat.send_head(alice, "p3", whole(5));
    head.headers.retain(|h| !matches!(h, Header::MessageId(_)));
    assert_eq!(
        chat.chunk(alice, head.clone(), b"Hello", Flag::Last),
        vec![response(alice, &t, &head, StatusCode::BAD_REQUEST)]
    );
}

/// 7701-011: more than one CPIM To is answered 403.
#[test]
fn two_to_is_403() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.member(BOB, &["*"]);
    let body = format!(
        "From: <{ALICE}>\r\nTo: <{ROOM}>\r\nTo: <{BOB}>\r\n\r\nContent-Type: text/plain\r\n\r\nhi"
    );
    assert_refused(&mut chat, alice, body.as_bytes(), StatusCode::FORBIDDEN);
    // And none at all.
    let body = format!("From: <{ALICE}>\r\n\r\nContent-Type: text/plain\r\n\r\nhi");
    assert_refused(&mut chat, alice, body.as_bytes(), StatusCode::FORBIDDEN);
}

/// 7701-012: a CPIM From that is not the sender's URI (another participant's, or none) is
/// answered 403; the sender's URI written with a different host case is its own.
#[test]
fn spoofed_from_is_403() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    assert_refused(
        &mut chat,
        alice,
        &public(BOB, "I am Bob"),
        StatusCode::FORBIDDEN,
    );
    let body = format!("To: <{ROOM}>\r\n\r\nContent-Type: text/plain\r\n\r\nhi");
    assert_refused(&mut chat, alice, body.as_bytes(), StatusCode::FORBIDDEN);
    // RFC 3261 §19.1.4: the host compares case-insensitively.
    let (_, acts) = chat.send(alice, &public("sip:alice@ATLANTA.example.com", "me"), &[]);
    let (_, actual) = open_at(&acts, 0);
    assert_eq!(actual.to, [bob]);
}

/// A CPIM header section longer than SwitchLimits::max_cpim_head (16 KiB) is refused with 413
/// as soon as the limit is passed (room.rs: the switch stops waiting for it, 7701-017).
#[test]
fn cpim_header_section_over_the_limit_is_413() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.member(BOB, &["*"]);
    let t = chat.terms(alice);
    let subject = "s".repeat(SwitchLimits::default().max_cpim_head);
    let body = format!(
        "From: <{ALICE}>\r\nTo: <{ROOM}>\r\nSubject: {subject}\r\n\r\n\
         Content-Type: text/plain\r\n\r\nhi"
    );
    let head = chat.send_head(alice, "h", whole(body.len()));
    assert_eq!(chat.request(alice, head.clone()), vec![]);
    assert_eq!(chat.body(alice, &body.as_bytes()[..8000]), vec![]);
    assert_eq!(
        chat.body(alice, &body.as_bytes()[8000..]),
        vec![response(alice, &t, &head, StatusCode::TOO_LARGE)]
    );
    assert_eq!(chat.end(alice, Flag::Last), vec![]);
}

/// 4975-018: a message whose declared total exceeds the room's max size is answered 413 and
/// never buffered or copied.
#[test]
fn over_max_size_is_413() {
    let mut chat = Chat::new(RoomPolicy {
        history: 0,
        max_message_size: 300,
        ..RoomPolicy::default()
    });
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.member(BOB, &["*"]);
    let t = chat.terms(alice);
    let body = public(ALICE, &"x".repeat(300));
    let head = chat.send_head(alice, "big", range(1, Some(200), Some(301)));
    assert_eq!(
        chat.chunk(alice, head.clone(), &body[..200], Flag::More),
        vec![response(alice, &t, &head, StatusCode::TOO_LARGE)]
    );
    // At the limit it passes.
    let body = &body[..300];
    let (_, acts) = chat.send(alice, body, &[]);
    assert_eq!(bodies(&acts, open_at(&acts, 0).0), body);
}

// ---------------------------------------------------------------------------------------------
// Private messages (7701-020, 021, 016)
// ---------------------------------------------------------------------------------------------

/// 7701-020, 7701-016, 7701-021: a private message to a participant URI goes to each of its
/// bound sessions that declared private-messages, and to nobody else.
#[test]
fn private_message_to_a_participant_uri() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob1 = chat.member(BOB, &["text/plain"]);
    let mut no_pm = terms(50, &["text/plain"]);
    no_pm.private_messages = false;
    let bob2 = chat.join_with(BOB, no_pm);
    chat.bind(bob2);
    let bob3 = chat.member(BOB, &["*"]);
    let _bob4_unbound = chat.join(BOB, &["*"]);
    let _carol = chat.member(CAROL, &["*"]);
    let body = cpim(ALICE, BOB, "text/plain", "psst");
    let (head, acts) = chat.send(alice, &body, &[]);
    let (o, actual) = open_at(&acts, 0);
    let mid = mid_of(&actual);
    let t = chat.terms(alice);
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: copies(&chat, &actual, &[bob1, bob3], &mid, whole(body.len()))
            },
            Action::Body {
                out: o,
                piece: Bytes::from(body)
            },
            Action::End {
                out: o,
                flag: Flag::Last
            },
            response(alice, &t, &head, StatusCode::OK),
        ]
    );
}

/// A private message addressed by nickname (room.rs: the To's formal name, or the URI's user
/// part, compared with the PRECIS Nickname profile) reaches the holder; after the holder
/// changes its nickname the old one is unknown: 404.
#[test]
fn private_message_to_a_nickname() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let _carol = chat.member(CAROL, &["*"]);
    assert_eq!(nickname(&mut chat, bob, "Bobby"), 200);

    // Formal name, on a URI that is nobody's.
    let body = format!(
        "From: <{ALICE}>\r\nTo: Bobby <sip:nobody@chat.example.com>\r\n\r\n\
         Content-Type: text/plain\r\n\r\nhi"
    );
    let (_, acts) = chat.send(alice, body.as_bytes(), &[]);
    assert_eq!(open_at(&acts, 0).1.to.clone(), [bob]);

    // URI user part, case-mapped by the profile.
    let body = cpim(ALICE, "sip:bobby@chat.example.com", "text/plain", "hi");
    let (_, acts) = chat.send(alice, &body, &[]);
    assert_eq!(open_at(&acts, 0).1.to.clone(), [bob]);

    assert_eq!(nickname(&mut chat, bob, "Robert"), 200);
    assert_refused(&mut chat, alice, &body, StatusCode::NOT_FOUND);
}

/// 7701-021: a private message to nobody in the room is 404; to a participant none of whose
/// sessions declared private-messages 428; a room whose policy forbids private messages
/// answers 403. Nothing is forwarded.
#[test]
fn private_message_refusals() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.member(BOB, &["*"]);
    let mut no_pm = terms(60, &["*"]);
    no_pm.private_messages = false;
    let carol = chat.join_with(CAROL, no_pm.clone());
    chat.bind(carol);
    let mut no_pm2 = no_pm;
    no_pm2.local = msrp_uri("msrp://chat.example.com:2855/s61;tcp");
    let carol2 = chat.join_with(CAROL, no_pm2);
    chat.bind(carol2);

    assert_refused(
        &mut chat,
        alice,
        &cpim(ALICE, "sip:zed@example.com", "text/plain", "?"),
        StatusCode::NOT_FOUND,
    );
    assert_refused(
        &mut chat,
        alice,
        &cpim(ALICE, CAROL, "text/plain", "?"),
        StatusCode::NO_PRIVATE_MESSAGES,
    );

    let mut chat = Chat::new(RoomPolicy {
        private_messages: false,
        history: 0,
        ..RoomPolicy::default()
    });
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.member(BOB, &["*"]);
    assert_refused(
        &mut chat,
        alice,
        &cpim(ALICE, BOB, "text/plain", "?"),
        StatusCode::FORBIDDEN,
    );
}

/// A private message none of its recipient's sessions can take is refused rather than accepted
/// and dropped (an accepted message is delivered or reported): 404 when none is bound, 415 when
/// none accepts the wrapped type (7701-015, RFC 4975 §7.3.1), 413 when it exceeds every one's
/// `a=max-size` (4975-108).
#[test]
fn private_message_nobody_can_take_is_refused() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.join(BOB, &["*"]);
    assert_refused(
        &mut chat,
        alice,
        &cpim(ALICE, BOB, "text/plain", "are you there?"),
        StatusCode::NOT_FOUND,
    );
    let _carol = chat.member(CAROL, &["text/plain"]);
    assert_refused(
        &mut chat,
        alice,
        &cpim(ALICE, CAROL, "image/png", "not for carol"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    let mut small = terms(70, &["*"]);
    small.max_size = Some(10);
    let dave = chat.join_with(DAVE, small);
    chat.bind(dave);
    assert_refused(
        &mut chat,
        alice,
        &cpim(ALICE, DAVE, "text/plain", "longer than dave takes"),
        StatusCode::TOO_LARGE,
    );
    // What Carol takes still reaches her.
    let (_, acts) = chat.send(alice, &cpim(ALICE, CAROL, "text/plain", "hi"), &[]);
    assert!(matches!(&acts[0], Action::Open { copies, .. } if copies.to.len() == 1));
}

// ---------------------------------------------------------------------------------------------
// Nicknames (7701-025..032)
// ---------------------------------------------------------------------------------------------

/// 7701-028..032: 200 on success, 425 for a nickname another participant holds (compared with
/// the PRECIS profile, 7701-029) or a reserved one, 424 for a malformed one, release with `""`
/// (7701-032) frees it; a participant's sessions share its nickname (7701-030).
#[test]
fn nickname_requests() {
    let mut chat = Chat::with(
        RoomPolicy {
            history: 0,
            ..RoomPolicy::default()
        },
        &["admin"],
    );
    let alice = chat.member(ALICE, &[]);
    let alice2 = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &[]);
    assert_eq!(nickname(&mut chat, alice, "Alice"), 200);
    assert_eq!(nickname(&mut chat, bob, "ALICE"), 425, "7701-029");
    assert_eq!(nickname(&mut chat, bob, "Admin"), 425, "reserved");
    assert_eq!(nickname(&mut chat, bob, "   "), 424, "empty once mapped");
    assert_eq!(
        nickname(&mut chat, bob, "a\u{7}b"),
        424,
        "control character"
    );
    assert_eq!(nickname(&mut chat, bob, &"b".repeat(1024)), 424, "too long");
    // The same participant's other session may ask for it again.
    assert_eq!(nickname(&mut chat, alice2, "alice"), 200);
    assert_eq!(
        chat.room.roster(),
        vec![
            (UserUri::new(ALICE).unwrap(), Some("alice".to_owned())),
            (UserUri::new(BOB).unwrap(), None),
        ]
    );
    // 7701-031: a failed change keeps the old nickname.
    assert_eq!(nickname(&mut chat, alice, "admin"), 425);
    assert_eq!(chat.room.roster()[0].1.as_deref(), Some("alice"));
    // 7701-032: released with "".
    assert_eq!(nickname(&mut chat, alice, ""), 200);
    assert_eq!(chat.room.roster()[0].1, None);
    assert_eq!(nickname(&mut chat, bob, "Alice"), 200);
}

/// 7701-027: a NICKNAME carrying Success-Report or Failure-Report is answered 400; one without
/// Use-Nickname 400. 7701-028: a room without nicknames answers 403.
#[test]
fn nickname_400_and_403() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let t = chat.terms(alice);
    for h in [
        Header::SuccessReport(false),
        Header::FailureReport(msrp::FailureReport::Yes),
    ] {
        let head = nickname_head(&mut chat, alice, "Alice").with(h);
        assert_eq!(
            chat.request(alice, head.clone()),
            vec![response(alice, &t, &head, StatusCode::BAD_REQUEST)]
        );
    }
    assert_eq!(chat.room.roster()[0].1, None, "not taken");
    let mut head = nickname_head(&mut chat, alice, "Alice");
    head.headers
        .retain(|h| !matches!(h, Header::UseNickname(_)));
    assert_eq!(statuses(&chat.request(alice, head)), [(alice, 400)]);

    let mut chat = Chat::new(RoomPolicy {
        nicknames: false,
        history: 0,
        ..RoomPolicy::default()
    });
    let alice = chat.member(ALICE, &[]);
    assert_eq!(nickname(&mut chat, alice, "Alice"), 403);
}

/// 7701-030: a nickname is released when its participant's last session leaves, not before.
#[test]
fn nickname_released_with_the_last_session() {
    let mut chat = Chat::plain();
    let alice1 = chat.member(ALICE, &[]);
    let alice2 = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &[]);
    assert_eq!(nickname(&mut chat, alice1, "Wonder"), 200);
    assert_eq!(chat.leave(alice1), vec![]);
    assert_eq!(
        nickname(&mut chat, bob, "wonder"),
        425,
        "alice2 still holds it"
    );
    assert_eq!(chat.leave(alice2), vec![]);
    assert_eq!(chat.room.participant_count(), 1);
    assert_eq!(nickname(&mut chat, bob, "wonder"), 200);
}

// ---------------------------------------------------------------------------------------------
// Chunked messages (7701-017..019)
// ---------------------------------------------------------------------------------------------

/// 7701-017: the CPIM header section split over chunks 1 and 2: nothing is distributed until
/// it is whole; the first copy chunk then starts at Byte-Range 1 and carries what chunk 1
/// brought too.
#[test]
fn distribution_waits_for_the_cpim_header_section() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let body = public(ALICE, "split header");
    let n = body.len() as u64;
    let t = chat.terms(alice);
    let split = 20; // inside the From line
    let h1 = chat.send_head(alice, "s", range(1, Some(split), Some(n)));
    assert_eq!(chat.request(alice, h1.clone()), vec![]);
    assert_eq!(chat.body(alice, &body[..split as usize]), vec![]);
    assert_eq!(
        chat.end(alice, Flag::More),
        vec![response(alice, &t, &h1, StatusCode::OK)]
    );

    let h2 = chat.send_head(alice, "s", range(split + 1, Some(n), Some(n)));
    assert_eq!(chat.request(alice, h2.clone()), vec![], "still undecided");
    // The second chunk's first piece still ends inside the MIME headers.
    let mid_mime = body.windows(4).position(|w| w == b"Cont").unwrap() + 4;
    assert_eq!(chat.body(alice, &body[split as usize..mid_mime]), vec![]);
    let acts = chat.body(alice, &body[mid_mime..]);
    let (o, actual) = open_at(&acts, 0);
    let mid = mid_of(&actual);
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: copies(&chat, &actual, &[bob], &mid, range(1, Some(n), Some(n)))
            },
            Action::Body {
                out: o,
                piece: Bytes::from(body.clone())
            },
        ]
    );
    assert_eq!(
        chat.end(alice, Flag::Last),
        vec![
            Action::End {
                out: o,
                flag: Flag::Last
            },
            response(alice, &t, &h2, StatusCode::OK),
        ]
    );
}

/// 7701-018: later chunks go to the first chunk's recipients only: a session that binds (or
/// joins) mid-message gets none of it, one that leaves gets no more.
#[test]
fn later_chunks_only_to_the_first_recipients() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let carol = chat.member(CAROL, &["*"]);
    let dave_unbound = chat.join(DAVE, &["*"]);
    let body = public(ALICE, &"z".repeat(100));
    let n = body.len() as u64;
    let h1 = chat.send_head(alice, "x", range(1, Some(160), Some(n)));
    let acts = chat.chunk(alice, h1, &body[..160], Flag::More);
    let (o, first) = open_at(&acts, 0);
    assert_eq!(first.to.clone(), [bob, carol]);

    assert_eq!(chat.bind(dave_unbound), vec![]);
    let erin = chat.member(ERIN, &["*"]);
    assert_eq!(chat.leave(carol), vec![]);

    let r2 = range(161, Some(n), Some(n));
    let h2 = chat.send_head(alice, "x", r2);
    let t = chat.terms(alice);
    let acts = chat.chunk(alice, h2.clone(), &body[160..], Flag::Last);
    let (o2, actual) = open_at(&acts, 0);
    assert_eq!(o2, o);
    let mid = mid_of(&first);
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: copies(&chat, &actual, &[bob], &mid, r2)
            },
            Action::Body {
                out: o,
                piece: Bytes::copy_from_slice(&body[160..])
            },
            Action::End {
                out: o,
                flag: Flag::Last
            },
            response(alice, &t, &h2, StatusCode::OK),
        ]
    );
    let _ = erin;
}

/// 7701-019: the chunk-reception timer (restarted by every chunk) aborts a message whose sender
/// went silent: its recipients get an empty chunk ending in `#` (4975-031); a later chunk of it
/// is refused.
/// 7701-019: body octets arriving restart the chunk-reception timer too, so a long chunk from
/// a slow sender is not aborted while it is still coming; once it stops, the timer runs out.
#[test]
fn body_octets_restart_the_chunk_timer() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.member(BOB, &["*"]);
    let body = public(ALICE, &"s".repeat(400));
    let n = body.len() as u64;
    let t0 = chat.now;
    let h = chat.send_head(alice, "slow", range(1, Some(n), Some(n)));
    chat.request(alice, h);
    chat.body(alice, &body[..100]);
    // More of the same chunk, most of a timeout later, and again: never aborted.
    for k in 1..=3u32 {
        chat.now = t0 + (TIMEOUT - Duration::from_secs(1)) * k;
        assert_eq!(chat.poll(), vec![], "still coming ({k})");
        let (a, b) = (100 * k as usize, 100 * (k as usize + 1));
        chat.body(alice, &body[a..b.min(body.len())]);
        assert_eq!(chat.room.next_deadline(), Some(chat.now + TIMEOUT));
    }
    // Silent for a whole timeout: aborted.
    chat.now += TIMEOUT;
    let acts = chat.poll();
    assert!(
        matches!(
            acts.last(),
            Some(Action::End {
                flag: Flag::Abort,
                ..
            })
        ),
        "{acts:?}"
    );
}

#[test]
fn chunk_timeout_aborts_with_an_empty_chunk() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let body = public(ALICE, &"q".repeat(100));
    let n = body.len() as u64;
    let t0 = chat.now;
    let h1 = chat.send_head(alice, "t", range(1, Some(150), Some(n)));
    let acts = chat.chunk(alice, h1, &body[..150], Flag::More);
    let (o, first) = open_at(&acts, 0);
    let mid = mid_of(&first);
    assert_eq!(chat.room.next_deadline(), Some(t0 + TIMEOUT));

    // A second chunk 300 s later restarts the timer.
    chat.now = t0 + Duration::from_secs(300);
    let h2 = chat.send_head(alice, "t", range(151, Some(170), Some(n)));
    chat.chunk(alice, h2, &body[150..170], Flag::More);
    assert_eq!(chat.room.next_deadline(), Some(chat.now + TIMEOUT));
    chat.now = t0 + TIMEOUT;
    assert_eq!(chat.poll(), vec![], "restarted");
    chat.now = t0 + Duration::from_secs(300) + TIMEOUT - Duration::from_millis(1);
    assert_eq!(chat.poll(), vec![]);

    chat.now += Duration::from_millis(1);
    let acts = chat.poll();
    let empty = range(171, Some(170), Some(n));
    let (_, actual) = open_at(&acts, 0);
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: copies(&chat, &actual, &[bob], &mid, empty)
            },
            Action::End {
                out: o,
                flag: Flag::Abort
            },
        ]
    );
    assert_eq!(chat.room.next_deadline(), None);
    // The rest of it comes too late: a new message must start at octet 1.
    let h3 = chat.send_head(alice, "t", range(171, Some(n), Some(n)));
    let t = chat.terms(alice);
    assert_eq!(
        chat.chunk(alice, h3.clone(), &body[170..], Flag::Last),
        vec![response(alice, &t, &h3, StatusCode::BAD_REQUEST)]
    );
}

/// A sender leaving mid-message aborts it on its recipients: inside a chunk the open copies
/// end with `#`; between chunks an empty `#` chunk is sent.
#[test]
fn sender_leaving_aborts_its_message() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let body = public(ALICE, &"w".repeat(50));
    let h = chat.send_head(alice, "l", whole(body.len()));
    chat.request(alice, h);
    let acts = chat.body(alice, &body[..body.len() - 10]);
    let (o, _) = open_at(&acts, 0);
    assert_eq!(
        chat.leave(alice),
        vec![Action::End {
            out: o,
            flag: Flag::Abort
        }]
    );
    assert_eq!(chat.body(alice, &body[body.len() - 10..]), vec![]);
    assert_eq!(chat.end(alice, Flag::Last), vec![]);

    let carol = chat.member(CAROL, &[]);
    let body = public(CAROL, &"w".repeat(50));
    let n = body.len() as u64;
    let h = chat.send_head(carol, "l", range(1, Some(150), Some(n)));
    let acts = chat.chunk(carol, h, &body[..150], Flag::More);
    let (o, first) = open_at(&acts, 0);
    let mid = mid_of(&first);
    let acts = chat.leave(carol);
    let (_, actual) = open_at(&acts, 0);
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: copies(&chat, &actual, &[bob], &mid, range(151, Some(150), Some(n)))
            },
            Action::End {
                out: o,
                flag: Flag::Abort
            },
        ]
    );
    assert_eq!(chat.room.next_deadline(), None);
}

/// The sender's own `#`: copies end with `#`, the chunk is answered 200, no success REPORT
/// and no history.
#[test]
fn sender_abort_is_forwarded() {
    let mut chat = Chat::new(RoomPolicy::default());
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let body = public(ALICE, "abandoned");
    let head = chat
        .send_head(alice, "a", whole(body.len()))
        .with(Header::SuccessReport(true));
    let t = chat.terms(alice);
    let acts = chat.chunk(alice, head.clone(), &body, Flag::Abort);
    let (o, _) = open_at(&acts, 0);
    assert_eq!(
        acts[2..],
        [
            Action::End {
                out: o,
                flag: Flag::Abort
            },
            response(alice, &t, &head, StatusCode::OK)
        ]
    );
    let carol = chat.join(CAROL, &["*"]);
    assert_eq!(chat.bind(carol), vec![], "not in history");
    let _ = bob;
}

// ---------------------------------------------------------------------------------------------
// Responses and REPORTs (4975-046, 7701-022, 7701-023)
// ---------------------------------------------------------------------------------------------

/// RFC 4975 §7.1.3: Success-Report: yes gets a 200 REPORT covering the whole message after its
/// last chunk; with Failure-Report: no there is no 200 response (4975-046), the REPORT still
/// comes. A public message's REPORT has no body.
#[test]
fn success_report_and_failure_report_no() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let _bob = chat.member(BOB, &["*"]);
    let t = chat.terms(alice);
    let body = public(ALICE, "report me");
    let (head, acts) = chat.send(alice, &body, &[Header::SuccessReport(true)]);
    let o = open_at(&acts, 0).0;
    let [.., Action::Send { head: r, .. }] = acts.as_slice() else {
        panic!("{acts:?}");
    };
    assert_eq!(
        acts[2..],
        [
            Action::End {
                out: o,
                flag: Flag::Last
            },
            response(alice, &t, &head, StatusCode::OK),
            Action::Send {
                to: alice,
                head: report_head(&t, &head, &r.tid, StatusCode::OK, whole(body.len()), false),
                body: None
            },
        ]
    );

    let (head, acts) = chat.send(
        alice,
        &body,
        &[
            Header::SuccessReport(true),
            Header::FailureReport(msrp::FailureReport::No),
        ],
    );
    let o = open_at(&acts, 0).0;
    let [.., Action::Send { head: r, .. }] = acts.as_slice() else {
        panic!("{acts:?}");
    };
    assert_eq!(
        acts[2..],
        [
            Action::End {
                out: o,
                flag: Flag::Last
            },
            Action::Send {
                to: alice,
                head: report_head(&t, &head, &r.tid, StatusCode::OK, whole(body.len()), false),
                body: None
            },
        ]
    );

    // Failure-Report: no, refused: no response either (4975-046).
    let (_, acts) = chat.send(
        alice,
        &public(BOB, "spoof"),
        &[Header::FailureReport(msrp::FailureReport::No)],
    );
    assert_eq!(acts, vec![]);

    // Failure-Report: partial (4975-045): no 200, but an error is answered.
    let partial = [Header::FailureReport(msrp::FailureReport::Partial)];
    let (_, acts) = chat.send(alice, &body, &partial);
    assert_eq!(statuses(&acts), []);
    let (head, acts) = chat.send(alice, &public(BOB, "spoof"), &partial);
    assert_eq!(
        acts,
        vec![response(alice, &t, &head, StatusCode::FORBIDDEN)]
    );
}

/// RFC 4975 §7.1.2: a copy that could not be delivered gets the sender a failure REPORT
/// (none with Failure-Report: no); the recipient gets no later chunk of the message.
#[test]
fn copy_failed_reports_to_the_sender() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let carol = chat.member(CAROL, &["*"]);
    let t = chat.terms(alice);
    let body = public(ALICE, &"f".repeat(60));
    let n = body.len() as u64;
    let h1 = chat.send_head(alice, "f", range(1, Some(150), Some(n)));
    let acts = chat.chunk(alice, h1.clone(), &body[..150], Flag::More);
    let (o, _) = open_at(&acts, 0);
    let acts = chat.copy_failed(o, bob, StatusCode::TIMEOUT);
    let [Action::Send { head: r, .. }] = acts.as_slice() else {
        panic!("{acts:?}");
    };
    assert_eq!(
        acts,
        vec![Action::Send {
            to: alice,
            head: report_head(
                &t,
                &h1,
                &r.tid,
                StatusCode::TIMEOUT,
                range(1, Some(150), Some(n)),
                false
            ),
            body: None
        }]
    );
    let h2 = chat.send_head(alice, "f", range(151, Some(n), Some(n)));
    let acts = chat.chunk(alice, h2, &body[150..], Flag::Last);
    assert_eq!(open_at(&acts, 0).1.to.clone(), [carol]);

    // Failure-Report: no: nothing.
    let (_, acts) = chat.send(
        alice,
        &body,
        &[Header::FailureReport(msrp::FailureReport::No)],
    );
    let o = open_at(&acts, 0).0;
    assert_eq!(chat.copy_failed(o, bob, StatusCode::TIMEOUT), vec![]);
    // Unknown message: nothing.
    assert_eq!(
        chat.copy_failed(OutId(999), bob, StatusCode::TIMEOUT),
        vec![]
    );
}

/// The tokio layer writes a chunk's copies when it carries out the room's actions, after
/// `Room::end` returned: a copy of the last chunk that cannot be written is reported then, and
/// must still get the sender its failure REPORT (this is every single-chunk message).
#[test]
fn copy_failed_after_the_last_chunk_still_reports() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let t = chat.terms(alice);
    let body = public(ALICE, "last chunk");
    let (head, acts) = chat.send(alice, &body, &[]);
    let (o, _) = open_at(&acts, 0);
    let acts = chat.copy_failed(o, bob, StatusCode::TIMEOUT);
    let [Action::Send { head: r, .. }] = acts.as_slice() else {
        panic!("one failure REPORT: {acts:?}");
    };
    assert_eq!(
        acts,
        vec![Action::Send {
            to: alice,
            head: report_head(
                &t,
                &head,
                &r.tid,
                StatusCode::TIMEOUT,
                whole(body.len()),
                false
            ),
            body: None
        }]
    );
    // A sender that left gets nothing.
    let (_, acts) = chat.send(alice, &body, &[]);
    let (o, _) = open_at(&acts, 0);
    chat.leave(alice);
    assert_eq!(chat.copy_failed(o, bob, StatusCode::TIMEOUT), vec![]);
}

/// The 7701-022 wrapper in `body`: a CPIM message whose headers are exactly the original
/// `From` and `To` lines.
fn assert_wrapper(body: &Bytes, lines: &[&str]) {
    let m = cpim::Message::parse(body.clone(), &cpim::ParseOptions::strict()).expect("CPIM");
    let got: Vec<_> = m.headers().map(|h| h.line().to_owned()).collect();
    assert_eq!(got, lines);
}

/// 7701-022: the success REPORT and a failure REPORT about a private message carry a
/// message/cpim body with the original From and To (byte for byte, escapes included: 3862-006,
/// 3862-008) that parses with the strict RFC 3862 rules (3862-001/002); the REPORT says
/// Content-Type: message/cpim.
#[test]
fn reports_about_private_messages_carry_the_cpim_wrapper() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let t = chat.terms(alice);
    let body = format!(
        "From: Alice <{ALICE}>\r\nTo: \"Bob \\\"B\\\"\"<{BOB}>\r\nSubject: secret\r\n\r\n\
         Content-Type: text/plain\r\n\r\nfor your eyes only"
    )
    .into_bytes();
    let (head, acts) = chat.send(alice, &body, &[Header::SuccessReport(true)]);
    let (o, _) = open_at(&acts, 0);
    let [
        ..,
        Action::Send {
            head: r, body: b, ..
        },
    ] = acts.as_slice()
    else {
        panic!("{acts:?}");
    };
    let wrapper = b.clone().expect("7701-022: a body");
    assert_eq!(
        *r,
        report_head(&t, &head, &r.tid, StatusCode::OK, whole(body.len()), true)
    );
    assert_wrapper(
        &wrapper,
        &[
            &format!("From: Alice <{ALICE}>"),
            &format!("To: \"Bob \\\"B\\\"\"<{BOB}>"),
        ],
    );

    let acts = chat.copy_failed(o, bob, StatusCode::TIMEOUT);
    let [
        Action::Send {
            to,
            head: r,
            body: b,
        },
    ] = acts.as_slice()
    else {
        panic!("{acts:?}");
    };
    assert_eq!(*to, alice);
    assert_eq!(
        *r,
        report_head(
            &t,
            &head,
            &r.tid,
            StatusCode::TIMEOUT,
            whole(body.len()),
            true
        )
    );
    assert_eq!(b.as_ref(), Some(&wrapper));

    // Mid-message too.
    let n = body.len() as u64;
    let h1 = chat.send_head(alice, "p", range(1, Some(140), Some(n)));
    let acts = chat.chunk(alice, h1.clone(), &body[..140], Flag::More);
    let (o, _) = open_at(&acts, 0);
    let acts = chat.copy_failed(o, bob, StatusCode::TIMEOUT);
    let [
        Action::Send {
            head: r, body: b, ..
        },
    ] = acts.as_slice()
    else {
        panic!("{acts:?}");
    };
    assert_eq!(
        *r,
        report_head(
            &t,
            &h1,
            &r.tid,
            StatusCode::TIMEOUT,
            range(1, Some(140), Some(n)),
            true
        )
    );
    assert_eq!(b.as_ref(), Some(&wrapper));

    // A From written under a prefix for the CPIM namespace cannot be copied as it is (its
    // prefix means nothing in the wrapper): it is written anew, in its plain form.
    let body = format!(
        "NS: c <urn:ietf:params:cpim-headers:>\r\nc.From: <{ALICE}>\r\nTo: <{BOB}>\r\n\r\n\
         Content-Type: text/plain\r\n\r\nprefixed"
    )
    .into_bytes();
    let (_, acts) = chat.send(alice, &body, &[Header::SuccessReport(true)]);
    let [.., Action::Send { body: b, .. }] = acts.as_slice() else {
        panic!("{acts:?}");
    };
    assert_wrapper(
        b.as_ref().expect("7701-022: a body"),
        &[&format!("From: <{ALICE}>"), &format!("To: <{BOB}>")],
    );
}

/// 7701-023: REPORTs from recipients are not forwarded; other methods are answered 501
/// (4975-017); a bodiless SEND (how a session binds) is answered 200 and goes nowhere.
#[test]
fn recipients_reports_dropped_and_other_methods() {
    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let (_, acts) = chat.send(alice, &public(ALICE, "x"), &[]);
    let copies = open_at(&acts, 0).1;
    let copy = chat
        .room
        .copy_head(bob, "c100".parse().unwrap(), &copies)
        .unwrap();
    let tb = chat.terms(bob);
    let report = Head::request(
        Method::Report,
        "r100".parse().unwrap(),
        msrp::path![tb.local.clone()],
        tb.peer_path.iter().cloned().collect(),
    )
    .with(Header::MessageId(*copy.message_id().unwrap()))
    .with(Header::ByteRange(whole(1)))
    .with(Header::Status(Status {
        namespace: 0,
        code: StatusCode::OK,
        comment: None,
    }));
    assert_eq!(chat.request(bob, report), vec![]);
    assert_eq!(chat.end(bob, Flag::Last), vec![]);

    let other = Head::request(
        Method::Other(ByteString::from("FOO")),
        "o100".parse().unwrap(),
        msrp::path![tb.local.clone()],
        tb.peer_path.iter().cloned().collect(),
    );
    assert_eq!(statuses(&chat.request(bob, other)), [(bob, 501)]);

    let mut empty = chat.send_head(bob, "e", range(1, Some(0), Some(0)));
    empty
        .headers
        .retain(|h| !matches!(h, Header::ContentType(_)));
    assert_eq!(chat.request(bob, empty.clone()), vec![]);
    assert_eq!(
        chat.end(bob, Flag::Last),
        vec![response(bob, &tb, &empty, StatusCode::OK)]
    );
}

// ---------------------------------------------------------------------------------------------
// History, room size
// ---------------------------------------------------------------------------------------------

/// History: a session that binds gets the room's last public messages (up to the policy's
/// count), not private ones, not its participant's own, only wrapped types it accepts, each as
/// one whole chunk of its own (copy head as for a live copy, Byte-Range 1-n/n).
#[test]
fn history_replayed_on_bind() {
    let mut chat = Chat::new(RoomPolicy {
        history: 3,
        ..RoomPolicy::default()
    });
    let alice = chat.member(ALICE, &[]);
    let bob = chat.member(BOB, &["*"]);
    let m0 = public(ALICE, "m0 (pushed out)");
    let m1 = public(ALICE, "m1");
    let m2 = cpim(BOB, ROOM, "image/png", "m2");
    let private = cpim(ALICE, BOB, "text/plain", "private");
    let m3 = public(BOB, "m3");
    let m4 = public(ALICE, "m4");
    for (k, b) in [
        (alice, &m0),
        (alice, &m1),
        (bob, &m2),
        (alice, &private),
        (bob, &m3),
        (alice, &m4),
    ] {
        let (_, acts) = chat.send(k, b, &[]);
        assert!(statuses(&acts).contains(&(k, 200)));
    }

    // Carol accepts text/plain only: m3 and m4 (m2 is image/png; m0 was pushed out).
    let carol = chat.join(CAROL, &["text/plain"]);
    let acts = chat.bind(carol);
    let tc = chat.terms(carol);
    let expect: Vec<Action> = acts
        .iter()
        .zip([&m3, &m4])
        .map(|(a, m)| {
            let Action::Send { head, .. } = a else {
                panic!("{a:?}");
            };
            Action::Send {
                to: carol,
                head: copy_head(&tc, &head.tid, head.message_id().unwrap(), whole(m.len())),
                body: Some(Bytes::from((*m).clone())),
            }
        })
        .collect();
    assert_eq!(acts, expect);
    assert_eq!(acts.len(), 2);
    assert_eq!(chat.bind(carol), vec![], "bound once");

    // A second session of Bob accepting everything: m4 only (m2, m3 are his own).
    let bob2 = chat.join(BOB, &["*"]);
    let acts = chat.bind(bob2);
    let bodies: Vec<_> = acts
        .iter()
        .map(|a| match a {
            Action::Send { to, body, .. } => {
                assert_eq!(*to, bob2);
                body.clone().unwrap()
            }
            a => panic!("{a:?}"),
        })
        .collect();
    assert_eq!(bodies, [Bytes::from(m4.clone())]);

    // Dave takes everything, but its max-size leaves out the longer messages.
    let mut t = terms(77, &["*"]);
    t.max_size = Some(m2.len() as u64);
    let dave = chat.join_with(DAVE, t);
    let acts = chat.bind(dave);
    let bodies: Vec<_> = acts
        .iter()
        .filter_map(|a| match a {
            Action::Send { body, .. } => body.clone(),
            _ => None,
        })
        .collect();
    let mut want: Vec<Bytes> = Vec::new();
    for m in [&m2, &m3, &m4] {
        if m.len() <= m2.len() {
            want.push(Bytes::from((*m).clone()));
        }
    }
    assert_eq!(bodies, want);
}

/// History keeps a message sent with an unknown total (`Byte-Range: 1-*/*`, as in RFC 7701
/// §9.3) once it is whole, and keeps none over HISTORY_MAX_MESSAGE; with history 0 nothing.
#[test]
fn history_keeps_messages_of_unknown_size() {
    let mut chat = Chat::new(RoomPolicy {
        history: 5,
        ..RoomPolicy::default()
    });
    let alice = chat.member(ALICE, &[]);
    let body = public(ALICE, "size unknown");
    let head = chat.send_head(alice, "u", range(1, None, None));
    let acts = chat.chunk(alice, head, &body, Flag::Last);
    assert!(statuses(&acts).contains(&(alice, 200)));
    // Too big for history, in two chunks of unknown total.
    let big = public(ALICE, &"b".repeat(HISTORY_MAX_MESSAGE as usize));
    let h1 = chat.send_head(alice, "big", range(1, None, None));
    chat.chunk(alice, h1, &big[..1000], Flag::More);
    let h2 = chat.send_head(alice, "big", range(1001, None, None));
    let acts = chat.chunk(alice, h2, &big[1000..], Flag::Last);
    assert!(statuses(&acts).contains(&(alice, 200)));

    let bob = chat.join(BOB, &["*"]);
    let acts = chat.bind(bob);
    let [Action::Send { body: Some(b), .. }] = acts.as_slice() else {
        panic!("one history message: {acts:?}");
    };
    assert_eq!(b, &Bytes::from(body));

    let mut chat = Chat::plain();
    let alice = chat.member(ALICE, &[]);
    chat.send(alice, &public(ALICE, "x"), &[]);
    let bob = chat.join(BOB, &["*"]);
    assert_eq!(chat.bind(bob), vec![]);
}

/// A full room refuses a new participant (JoinRefused::Full), but one already in may add a
/// session; once someone leaves there is room again.
#[test]
fn room_full() {
    let mut chat = Chat::new(RoomPolicy {
        max_participants: 2,
        history: 0,
        ..RoomPolicy::default()
    });
    let _alice = chat.join(ALICE, &[]);
    let bob = chat.join(BOB, &[]);
    assert_eq!(
        chat.room.join(UserUri::new(CAROL).unwrap(), terms(50, &[])),
        Err(JoinRefused::Full(2))
    );
    let alice2 = chat.room.join(UserUri::new(ALICE).unwrap(), terms(51, &[]));
    assert!(alice2.is_ok());
    assert_eq!(chat.room.session_count(), 3);
    assert_eq!(chat.room.participant_count(), 2);
    chat.leave(bob);
    assert!(
        chat.room
            .join(UserUri::new(CAROL).unwrap(), terms(52, &[]))
            .is_ok()
    );
}

/// Terms built by join::answer from an RFC 7701 §9.1-style offer serve the switch as
/// well: accept-wrapped-types and private-messages come from the offer.
#[test]
fn terms_from_an_sdp_offer() {
    let offer = "v=0\r\n\
        o=bob 2890844530 2890844531 IN IP4 client.biloxi.example.com\r\n\
        s=-\r\n\
        c=IN IP4 client.biloxi.example.com\r\n\
        t=0 0\r\n\
        m=message 4923 TCP/MSRP *\r\n\
        a=accept-types:message/cpim\r\n\
        a=accept-wrapped-types:text/plain\r\n\
        a=path:msrp://client.biloxi.example.com:4923/49dufdje2;tcp\r\n\
        a=chatroom:nickname\r\n";
    let policy = RoomPolicy {
        history: 0,
        ..RoomPolicy::default()
    };
    let local = msrp_uri("msrp://chat.example.com:5678/jofofo3;tcp");
    let (_, t) = join::answer(&policy, &local, None, offer.as_bytes(), (1, 1)).expect("answer");
    let mut chat = Chat::new(policy);
    let alice = chat.member(ALICE, &[]);
    let bob = chat.join_with(BOB, t.clone());
    chat.bind(bob);
    let (_, acts) = chat.send(alice, &public(ALICE, "hi"), &[]);
    assert_eq!(
        chat.room
            .copy_head(bob, "c100".parse().unwrap(), &open_at(&acts, 0).1)
            .unwrap()
            .to_path(),
        t.peer_path.as_slice()
    );
    let (_, acts) = chat.send(alice, &cpim(ALICE, ROOM, "image/png", "no"), &[]);
    assert!(matches!(acts[0], Action::Open { ref copies, .. } if copies.to.is_empty()));
    // No private-messages token: 428.
    assert_refused(
        &mut chat,
        alice,
        &cpim(ALICE, BOB, "text/plain", "psst"),
        StatusCode::NO_PRIVATE_MESSAGES,
    );
}

// ---------------------------------------------------------------------------------------------
// A chunk read whole (Room::whole)
// ---------------------------------------------------------------------------------------------

/// `acts` ([`norm`]ed) with what the switch draws at random (the copies' Message-ID, the
/// transaction id of a REPORT or history copy and a history copy's Message-ID) set to one value:
/// two rooms' actions compare equal when they differ only in those.
fn drawn_out(acts: Vec<Action>) -> Vec<Action> {
    let x: Ident = "xxxx".parse().unwrap();
    let mut acts = norm(acts);
    for a in &mut acts {
        match a {
            Action::Open { copies, .. } => copies.message_id = x,
            Action::Send { head, .. } => {
                head.tid = x;
                if head.method() == Some(&Method::Send) {
                    for h in &mut head.headers {
                        if let Header::MessageId(m) = h {
                            *m = x;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    acts
}

/// Two rooms given the same joins and chunks: `steps` gets each chunk as head, body and
/// end-line ([`Room::request`], [`Room::body`], [`Room::end`]), `whole` in one call
/// ([`Room::whole`]).
struct Twin {
    steps: Chat,
    whole: Chat,
}

impl Twin {
    fn new(policy: RoomPolicy) -> Twin {
        Twin {
            steps: Chat::with(policy.clone(), &["admin"]),
            whole: Chat::with(policy, &["admin"]),
        }
    }

    fn join_with(&mut self, who: &str, t: SessionTerms, bind: bool) -> SessionKey {
        let k = self.steps.join_with(who, t.clone());
        assert_eq!(self.whole.join_with(who, t), k);
        if bind {
            let (a, b) = (self.steps.bind(k), self.whole.bind(k));
            assert_eq!(drawn_out(a), drawn_out(b), "history on binding {who}");
        }
        k
    }

    fn member(&mut self, who: &str, wrapped: &[&str]) -> SessionKey {
        let t = terms(self.steps.next, wrapped);
        self.steps.next += 1;
        self.join_with(who, t, true)
    }

    fn nickname(&mut self, k: SessionKey, nick: &str) {
        let head = nickname_head(&mut self.steps, k, nick);
        let a = self.steps.request(k, head.clone());
        assert_eq!(a, self.whole.request(k, head));
    }

    /// A SEND chunk from `k` with Message-ID `mid`, `range`, Content-Type `ct` (none: a
    /// bodiless SEND) and `extra` headers, its body and `flag`, to both rooms: asserts the same
    /// actions and notes from both, and that `whole` switched it in one step or not as
    /// `one_step` says; the actions.
    #[allow(clippy::too_many_arguments)]
    fn chunk(
        &mut self,
        k: SessionKey,
        mid: &str,
        range: ByteRange,
        ct: Option<&str>,
        extra: &[Header],
        body: &[u8],
        flag: Flag,
        one_step: bool,
    ) -> Vec<Action> {
        let mut head = self.steps.send_head(k, mid, range);
        head.headers
            .retain(|h| !matches!(h, Header::ContentType(_)));
        if let Some(ct) = ct {
            head.push(Header::ContentType(ByteString::from(ct)));
        }
        for h in extra {
            head.push(h.clone());
        }
        let a = self.steps.chunk(k, head.clone(), body, flag);
        let mut b = Vec::new();
        let w = &mut self.whole;
        let switched = w
            .room
            .whole(k, head, Bytes::copy_from_slice(body), flag, w.now, &mut b);
        assert_eq!(switched, one_step, "switched in one step: {mid}");
        assert_eq!(drawn_out(a.clone()), drawn_out(b), "the actions for {mid}");
        let notes = |c: &mut Chat| c.room.take_notes().collect::<Vec<_>>();
        assert_eq!(
            notes(&mut self.steps),
            notes(&mut self.whole),
            "notes: {mid}"
        );
        a
    }

    /// A whole `message/cpim` message `body` from `k` (`1-n/n`, `$`).
    fn send(&mut self, k: SessionKey, mid: &str, body: &[u8], one_step: bool) -> Vec<Action> {
        let r = whole(body.len());
        let ct = Some("message/cpim");
        self.chunk(k, mid, r, ct, &[], body, Flag::Last, one_step)
    }
}

/// A chunk read whole does what its head, body and end-line one by one do (same actions, same
/// notes, same state after: history, REPORTs about copies that failed later), for every kind of
/// chunk: whole messages switched in one step (public, private by URI and by nickname, with
/// Success-Report and Failure-Report `no`, without Byte-Range, `1-*/n`, too large for one
/// recipient's max-size, isComposing, too large for history) and every other chunk (refused:
/// 403, 404, 415, 428, 413, 400; bodiless; a chunk of an open message; `+` and `#` flags).
#[test]
fn a_chunk_read_whole_is_switched_as_its_steps_are() {
    // 10 messages of history: the 12 public messages kept overflow it.
    let mut twin = Twin::new(RoomPolicy {
        history: 10,
        max_message_size: 200_000,
        ..RoomPolicy::default()
    });
    let alice = twin.member(ALICE, &["text/plain"]);
    let bob = twin.member(BOB, &["*"]);
    let carol = twin.member(CAROL, &["text/plain", "application/im-iscomposing+xml"]);
    let mut t = terms(50, &["*"]);
    t.max_size = Some(400);
    let erin = twin.join_with(ERIN, t, true);
    let mut t = terms(51, &["*"]);
    t.private_messages = false;
    let dave = twin.join_with(DAVE, t, true);
    let _frank_unbound = twin.join_with(FRANK, terms(52, &["*"]), false);
    twin.nickname(bob, "bobby");

    let hello = public(ALICE, "Hello everybody");
    let acts = twin.send(alice, "m1", &hello, true);
    assert_eq!(open_at(&acts, 0).1.to, vec![bob, carol, erin, dave]);
    let report = [Header::SuccessReport(true)];
    let cpim_type = Some("message/cpim");
    let w = whole(hello.len());
    let acts = twin.chunk(alice, "m2", w, cpim_type, &report, &hello, Flag::Last, true);
    assert!(matches!(acts.last(), Some(Action::Send { .. })), "{acts:?}");
    let no = [Header::FailureReport(msrp::FailureReport::No)];
    twin.chunk(alice, "m3", w, cpim_type, &no, &hello, Flag::Last, true);
    let unknown = range(1, None, None);
    twin.chunk(
        bob,
        "m4",
        unknown,
        cpim_type,
        &[],
        &public(BOB, "hi"),
        Flag::Last,
        true,
    );
    let r = range(1, None, Some(hello.len() as u64));
    twin.chunk(alice, "m5", r, cpim_type, &[], &hello, Flag::Last, true);
    let long = public(ALICE, &"x".repeat(600));
    let acts = twin.send(alice, "m6", &long, true);
    assert_eq!(open_at(&acts, 0).1.to, vec![bob, carol, dave], "not erin");
    let composing = cpim(ALICE, ROOM, "application/im-iscomposing+xml", "<x/>");
    twin.send(alice, "m7", &composing, true);
    let over_history = public(ALICE, &"y".repeat(HISTORY_MAX_MESSAGE as usize + 10));
    twin.send(alice, "m8", &over_history, true);
    let big = &over_history;
    twin.chunk(alice, "m9", unknown, cpim_type, &[], big, Flag::Last, true);

    // Private messages, with a REPORT wrapper (7701-022).
    let to_bob = cpim(ALICE, BOB, "text/plain", "psst");
    let acts = twin.chunk(
        alice,
        "p1",
        whole(to_bob.len()),
        cpim_type,
        &report,
        &to_bob,
        Flag::Last,
        true,
    );
    assert_eq!(open_at(&acts, 0).1.to, vec![bob]);
    let to_nick = cpim(ALICE, "sip:bobby@chat.example.com", "text/plain", "psst");
    twin.send(alice, "p2", &to_nick, true);
    twin.send(
        alice,
        "p3",
        &cpim(ALICE, "sip:nobody@x.example.com", "text/plain", "?"),
        false,
    );
    twin.send(alice, "p4", &cpim(ALICE, DAVE, "text/plain", "?"), false);

    // Refused, bodiless, and not whole messages.
    twin.send(alice, "r1", &public(BOB, "I am Bob"), false);
    let two_to = format!(
        "From: <{ALICE}>\r\nTo: <{ROOM}>\r\nTo: <{BOB}>\r\n\r\nContent-Type: text/plain\r\n\r\nhi"
    );
    twin.send(alice, "r2", two_to.as_bytes(), false);
    twin.chunk(
        alice,
        "r3",
        w,
        Some("text/plain"),
        &[],
        &hello,
        Flag::Last,
        false,
    );
    twin.send(
        alice,
        "r4",
        b"From: <sip:alice@atlanta.example.com>\r\nTo: <sip:room",
        false,
    );
    twin.send(alice, "r5", &public(ALICE, &"z".repeat(200_000)), false);
    twin.chunk(
        alice,
        "r6",
        range(1, Some(0), Some(0)),
        None,
        &[],
        b"",
        Flag::Last,
        false,
    );
    let part = &hello[..40];
    let first = range(1, Some(40), Some(hello.len() as u64));
    twin.chunk(alice, "c1", first, cpim_type, &[], part, Flag::More, false);
    // The same Message-ID again, as a whole message: the open message's next chunk.
    let rest = range(41, Some(hello.len() as u64), Some(hello.len() as u64));
    twin.chunk(
        alice,
        "c1",
        rest,
        cpim_type,
        &[],
        &hello[40..],
        Flag::Last,
        false,
    );
    twin.chunk(alice, "c2", w, cpim_type, &[], &hello, Flag::Abort, false);
    twin.chunk(
        alice,
        "c3",
        range(1, Some(10), Some(10)),
        cpim_type,
        &[],
        &hello,
        Flag::Last,
        false,
    );
    let ten = range(1, Some(10), None);
    twin.chunk(alice, "c4", ten, cpim_type, &[], &hello, Flag::Last, false);
    // A whole message with the Message-ID of a message the session has open: a chunk of it.
    twin.chunk(alice, "c5", first, cpim_type, &[], part, Flag::More, false);
    twin.chunk(alice, "c5", w, cpim_type, &[], &hello, Flag::Last, false);

    // After: a failed copy of the last message switched in one step is reported the same way,
    // and a session binding now gets the same history.
    let mut t = terms(60, &["*"]);
    t.max_size = None;
    let acts = twin.chunk(alice, "f1", w, cpim_type, &report, &hello, Flag::Last, true);
    let o = open_at(&acts, 0).0;
    let failed = |c: &mut Chat| c.copy_failed(o, bob, StatusCode::TIMEOUT);
    let (a, b) = (failed(&mut twin.steps), failed(&mut twin.whole));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(drawn_out(a), drawn_out(b));
    let gina = twin.join_with("sip:gina@example.com", t, true);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    twin.steps.room.leave(gina, &mut a);
    twin.whole.room.leave(gina, &mut b);
    assert_eq!(drawn_out(a), drawn_out(b));
}

// ---------------------------------------------------------------------------------------------
// RFC 7701 §9.2–§9.4 vectors
// ---------------------------------------------------------------------------------------------

fn vector(name: &str) -> Frame {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/");
    let bytes = std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut dec = FrameDecoder::new(DecoderConfig::default(), 1 << 16);
    let mut buf = BytesMut::from(&bytes[..]);
    let frame = dec.decode(&mut buf).expect(name).expect("one whole frame");
    assert!(buf.is_empty(), "{name}: one frame");
    frame
}

/// The switch's side of a figure's session: our URI is the last To-Path URI of a request the
/// participant sent (or the From-Path of one we sent), the participant's path the other one.
fn figure_terms(local: &MsrpUri, peer: &[MsrpUri], private_messages: bool) -> SessionTerms {
    SessionTerms {
        local: local.clone(),
        peer_path: peer.to_vec(),
        role: Role::Passive,
        accept_types: AcceptTypes(entries(&["message/cpim"])),
        accept_wrapped_types: Some(AcceptWrappedTypes(entries(&["text/plain"]))),
        private_messages,
        nicknames: true,
        max_size: None,
    }
}

/// Drives the sender's frame `f1` through a room with Alice (`alice`) and Bob (`bob`) whose
/// sessions are those of the figures; returns (room, alice key, bob key, actions).
fn drive_figure(
    room_uri: &str,
    alice: &str,
    bob: &str,
    f1: &Frame,
    f3: &Frame,
) -> (Room, SessionKey, SessionKey, Vec<Action>) {
    let mut room = Room::new(
        UserUri::new(room_uri).unwrap(),
        RoomPolicy::default(),
        SwitchLimits::default(),
        &[],
    )
    .unwrap();
    let a = room
        .join(
            UserUri::new(alice).unwrap(),
            figure_terms(&f1.head.to_path()[0], f1.head.from_path(), true),
        )
        .unwrap();
    let b = room
        .join(
            UserUri::new(bob).unwrap(),
            figure_terms(&f3.head.from_path()[0], f3.head.to_path(), true),
        )
        .unwrap();
    let mut out = Vec::new();
    room.bind(a, &mut out);
    room.bind(b, &mut out);
    assert_eq!(out, vec![]);
    let now = Instant::now();
    room.request(a, f1.head.clone(), now, &mut out);
    room.body(a, f1.body.clone().unwrap(), now, &mut out);
    room.end(a, f1.flag, now, &mut out);
    (room, a, b, out)
}

/// The copy the figure shows (`f3`) with the Message-ID the switch chose.
fn figure_copy(f3: &Frame, actual: &Copies) -> Head {
    let mut h = f3.head.clone();
    for x in &mut h.headers {
        if let Header::MessageId(m) = x {
            *m = actual.message_id;
        }
    }
    h
}

/// RFC 4975 §7.2 responses carry no Message-ID: the figures' 200s do; drop it to compare.
fn without_message_id(mut h: Head) -> Head {
    h.headers.retain(|x| !matches!(x, Header::MessageId(_)));
    h
}

/// RFC 7701 §9.3: Alice's regular message (F1) is answered with F2 and copied to Bob as F3
/// shows: To-Path Bob's path, From-Path the switch's URI of Bob's session, Byte-Range 1-*/*,
/// the body octet for octet.
#[test]
fn rfc7701_s9_3_regular_message() {
    let f1 = vector("rfc7701-s9.3-F1-send-regular.msrp");
    let f2 = vector("rfc7701-s9.3-F2-200.msrp");
    let f3 = vector("rfc7701-s9.3-F3-send-fanout-to-bob.msrp");
    let (room, a, b, acts) = drive_figure(
        "sip:chatroom22@chat.example.com",
        "sip:alice@atlanta.example.com",
        "sip:bob@biloxi.example.com",
        &f1,
        &f3,
    );
    let (o, actual) = open_at(&acts, 0);
    assert_eq!(actual.to, [b]);
    assert_eq!(
        room.copy_head(b, f3.head.tid, &actual),
        Some(figure_copy(&f3, &actual)),
        "the copy's head is the figure's, with the switch's Message-ID"
    );
    assert_eq!(f3.body, f1.body, "the figure's copy is the body unchanged");
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: actual.clone()
            },
            Action::Body {
                out: o,
                piece: f3.body.clone().unwrap()
            },
            Action::End {
                out: o,
                flag: f3.flag
            },
            Action::Respond {
                to: a,
                response: without_message_id(f2.head).into()
            },
        ]
    );
}

/// RFC 7701 §9.4: Alice's private message (F1) to Bob is answered 200 (F2, whose tid
/// `6959ssdfm` is a misprint of the request's `6959ssdf`) and copied to Bob as F3 shows, body
/// unchanged. F3's CPIM From (`sip:alice@atlanta.example.com`) differs from F1's
/// (`sip:alice@example.com`), an RFC inconsistency: the switch forwards F1's body as it came
/// (7701-014), so the copy differs from F3 in that line only.
#[test]
fn rfc7701_s9_4_private_message() {
    let f1 = vector("rfc7701-s9.4-F1-send-private.msrp");
    let f2 = vector("rfc7701-s9.4-F2-200-TID-MISMATCH.msrp");
    let f3 = vector("rfc7701-s9.4-F3-send-private-to-bob.msrp");
    let f4 = vector("rfc7701-s9.4-F4-200.msrp");
    let (mut room, a, b, acts) = drive_figure(
        "sip:chatroom22@chat.example.com",
        "sip:alice@example.com",
        "sip:bob@example.com",
        &f1,
        &f3,
    );
    let (o, actual) = open_at(&acts, 0);
    assert_eq!(
        room.copy_head(b, f3.head.tid, &actual),
        Some(figure_copy(&f3, &actual)),
        "the copy's head is the figure's, with the switch's Message-ID"
    );
    let f3_body = String::from_utf8(f3.body.clone().unwrap().to_vec()).unwrap();
    let f3_as_forwarded = f3_body.replace(
        "From: <sip:alice@atlanta.example.com>",
        "From: <sip:alice@example.com>",
    );
    assert_eq!(f3_as_forwarded.as_bytes(), &f1.body.clone().unwrap()[..]);
    let mut f2_fixed = without_message_id(f2.head);
    assert_eq!(&*f2_fixed.tid, "6959ssdfm");
    f2_fixed.tid = f1.head.tid;
    assert_eq!(
        acts,
        vec![
            Action::Open {
                out: o,
                copies: actual.clone()
            },
            Action::Body {
                out: o,
                piece: f1.body.clone().unwrap()
            },
            Action::End {
                out: o,
                flag: f3.flag
            },
            Action::Respond {
                to: a,
                response: f2_fixed.into()
            },
        ]
    );
    // F4, Bob's 200 for the copy, is the tokio layer's business; the copy's tid is what it
    // answers. A failure REPORT about it would carry the 7701-022 wrapper.
    assert_eq!(f4.head.to_path(), f3.head.from_path());
    let mut out = Vec::new();
    room.copy_failed(o, b, StatusCode::TIMEOUT, &mut out);
    let [Action::Send { to, head, body }] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(*to, a);
    assert_eq!(head.to_path(), f1.head.from_path());
    assert_eq!(
        head.content_type().map(|c| c.as_ref()),
        Some("message/cpim")
    );
    // The lines in the original's order (To first in F1).
    assert_wrapper(
        body.as_ref().unwrap(),
        &["To: <sip:bob@example.com>", "From: <sip:alice@example.com>"],
    );
}

/// RFC 7701 §9.2: "Alice the great" is reserved (F1 answered 425, F2), "Alice in Wonderland"
/// is granted (F3 answered 200, F4). The figures' responses match ours but for F2's comment
/// (the RFC's wording of the reason phrase).
#[test]
fn rfc7701_s9_2_nickname() {
    let f1 = vector("rfc7701-s9.2-F1-nickname.msrp");
    let f2 = vector("rfc7701-s9.2-F2-425.msrp");
    let f3 = vector("rfc7701-s9.2-F3-nickname.msrp");
    let f4 = vector("rfc7701-s9.2-F4-200.msrp");
    let mut room = Room::new(
        UserUri::new("sip:chatroom22@chat.example.com").unwrap(),
        RoomPolicy::default(),
        SwitchLimits::default(),
        &["Alice the great"],
    )
    .unwrap();
    let a = room
        .join(
            UserUri::new("sip:alice@atlanta.example.com").unwrap(),
            figure_terms(&f1.head.to_path()[0], f1.head.from_path(), true),
        )
        .unwrap();
    let now = Instant::now();
    let mut out = Vec::new();
    room.request(a, f1.head.clone(), now, &mut out);
    let mut f2h = f2.head.clone();
    let StartLine::Response { comment, .. } = &mut f2h.start else {
        panic!("response");
    };
    assert_eq!(
        comment.as_deref(),
        Some("Nickname reserved or already in use")
    );
    *comment = Some(ByteString::from_static("Nickname Already In Use"));
    assert_eq!(
        out,
        vec![Action::Respond {
            to: a,
            response: f2h.into()
        }]
    );
    out.clear();
    room.request(a, f3.head.clone(), now, &mut out);
    assert_eq!(
        out,
        vec![Action::Respond {
            to: a,
            response: f4.head.into()
        }]
    );
    assert_eq!(room.roster()[0].1.as_deref(), Some("Alice in Wonderland"));
}

/// RFC 4975 §7.2 (4975-061/062): a response the switch owes is written (`Response::write`, a
/// SEND's without building its head) exactly as its head encodes: the request's tid, the reason
/// phrase, To-Path the first From-Path URI (a relay's, here), From-Path our URI, the `$`
/// end-line. For SENDs with several statuses, and for another method (written from its head).
#[test]
fn responses_are_written_as_their_heads() {
    let local: MsrpUri = "msrp://mixer.example.com:2855/s1;tcp".parse().unwrap();
    let relay: MsrpUri = "msrp://relay.example.com:2855/r1;tcp".parse().unwrap();
    let alice: MsrpUri = "msrp://alice.example.com:7777/a1;tcp".parse().unwrap();
    let send_of = |tid: &str, mid: &str, len: u64| {
        Head::request(
            Method::Send,
            tid.parse().unwrap(),
            msrp::path![local.clone()],
            msrp::path![relay.clone(), alice.clone()],
        )
        .with(Header::MessageId(mid.parse().unwrap()))
        .with(Header::ByteRange(ByteRange::whole(len)))
        .with(Header::ContentType(ByteString::from_static("message/cpim")))
    };
    let send = send_of("tid0042", "mid42", 3);
    let nick = Head::request(
        Method::Nickname,
        "nick0042".parse().unwrap(),
        msrp::path![local.clone()],
        msrp::path![alice.clone()],
    )
    .with(Header::UseNickname(ByteString::from_static("Al")));
    let cases = [
        (&send, StatusCode::OK),
        (&send, StatusCode::TOO_LARGE),
        (&send, StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (&send, StatusCode::FORBIDDEN),
        (&nick, StatusCode::BAD_NICKNAME),
    ];
    // The same SEND read again with another tid, Message-ID and Byte-Range: the decoder hands
    // it over as a repeat of the first (no head built), which the switch answers from.
    let again = send_of("tid0043", "mid43", 4);
    let mut wire = BytesMut::new();
    msrp::encode::frame(&send, Some(b"abc"), Flag::Last, &mut wire);
    msrp::encode::frame(&again, Some(b"abcd"), Flag::Last, &mut wire);
    let mut dec = msrp::Decoder::new(DecoderConfig {
        repeated_sends: true,
        ..DecoderConfig::default()
    });
    let mut repeat = None;
    while let Some(ev) = dec.decode(&mut wire).unwrap() {
        if let msrp::Event::RepeatedSend(r) = ev {
            repeat = Some(ReqHead::from(r));
        }
    }
    let repeat = repeat.expect("the second SEND repeats the first");
    assert_eq!(repeat.to_head(), again);
    assert_eq!(repeat.tid(), &again.tid);
    assert_eq!(repeat.message_id(), again.message_id());
    assert_eq!(repeat.byte_range(), again.byte_range());
    let cases = cases
        .into_iter()
        .map(|(req, status)| (ReqHead::from(req.clone()), status))
        .chain([
            (repeat.clone(), StatusCode::OK),
            (repeat, StatusCode::TOO_LARGE),
        ]);
    for (req, status) in cases {
        let r = Response::Owed {
            req: req.clone(),
            status,
            local: local.clone(),
        };
        let req = req.to_head();
        let req = &req;
        let head = r.head();
        assert_eq!(head.tid, req.tid);
        assert_eq!(head.status(), Some(status));
        assert_eq!(head.to_path(), &[req.from_path()[0].clone()][..]);
        assert_eq!(head.from_path(), &[local.clone()][..]);
        let mut want = BytesMut::new();
        msrp::encode::frame(&head, None, Flag::Last, &mut want);
        let mut got = BytesMut::new();
        r.write(&mut got);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{status:?}"
        );
        assert_eq!(r, Response::from(head));
    }
}

/// The recipients of the copies of a public message from `k` (sorted).
fn public_recipients(chat: &mut Chat, k: SessionKey, body: Vec<u8>) -> Vec<SessionKey> {
    let (_, acts) = chat.send(k, &body, &[]);
    let mut to = acts
        .iter()
        .find_map(|a| match a {
            Action::Open { copies, .. } => Some(copies.to.clone()),
            _ => None,
        })
        .unwrap_or_default();
    to.sort_unstable();
    to
}

fn sorted<const N: usize>(mut keys: [SessionKey; N]) -> Vec<SessionKey> {
    keys.sort_unstable();
    keys.to_vec()
}

/// A room keeps the list of bound sessions that take a wrapped type for its next public
/// messages (7701-013/016): every change of the members shows in the next message (a session
/// joins, is bound, leaves), and so do the sender, a second session of a participant, the
/// wrapped type, and a recipient whose max-size the message exceeds.
#[test]
fn public_recipients_follow_the_members() {
    let mut chat = Chat::plain();
    let text = &["text/plain"];
    let both = &["text/plain", "application/im-iscomposing+xml"];
    let a = chat.member(ALICE, text);
    let b = chat.member(BOB, text);
    let c = chat.member(CAROL, both);
    assert_eq!(
        public_recipients(&mut chat, a, public(ALICE, "1")),
        sorted([b, c])
    );
    assert_eq!(
        public_recipients(&mut chat, a, public(ALICE, "2")),
        sorted([b, c])
    );
    chat.leave(c);
    assert_eq!(
        public_recipients(&mut chat, a, public(ALICE, "3")),
        sorted([b])
    );
    let d = chat.join(DAVE, text);
    assert_eq!(
        public_recipients(&mut chat, a, public(ALICE, "4")),
        sorted([b])
    );
    assert_eq!(chat.bind(d), vec![]);
    assert_eq!(
        public_recipients(&mut chat, a, public(ALICE, "5")),
        sorted([b, d])
    );
    assert_eq!(
        public_recipients(&mut chat, b, public(BOB, "6")),
        sorted([a, d])
    );
    // A second session of Alice: none of Alice's own messages, all of Bob's.
    let a2 = chat.member(ALICE, text);
    assert_eq!(
        public_recipients(&mut chat, a, public(ALICE, "7")),
        sorted([b, d])
    );
    assert_eq!(
        public_recipients(&mut chat, a2, public(ALICE, "8")),
        sorted([b, d])
    );
    assert_eq!(
        public_recipients(&mut chat, b, public(BOB, "9")),
        sorted([a, a2, d])
    );
    // Another wrapped type, and back.
    let e = chat.member(ERIN, both);
    let composing = cpim(ALICE, ROOM, "application/im-iscomposing+xml", "<x/>");
    assert_eq!(public_recipients(&mut chat, a, composing), sorted([e]));
    assert_eq!(
        public_recipients(&mut chat, a, public(ALICE, "10")),
        sorted([b, d, e])
    );
    // Frank takes at most 160 octets: left out of a longer message only.
    let mut t = terms(99, text);
    t.max_size = Some(160);
    let f = chat.join_with(FRANK, t);
    assert_eq!(chat.bind(f), vec![]);
    let long = public(ALICE, &"x".repeat(100));
    assert!(long.len() > 160);
    assert_eq!(public_recipients(&mut chat, a, long), sorted([b, d, e]));
    let short = public(ALICE, "11");
    assert!(short.len() <= 160);
    assert_eq!(public_recipients(&mut chat, a, short), sorted([b, d, e, f]));
    chat.leave(f);
    let long = public(ALICE, &"x".repeat(100));
    assert_eq!(public_recipients(&mut chat, a, long), sorted([b, d, e]));
}
