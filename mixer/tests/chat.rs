//! The mixer over real TCP sockets on 127.0.0.1: participants join a room by SDP offer/answer
//! ([`MixerHandle::join`]), bind their sessions with a bodiless SEND (RFC 4975 §5.4), and chat:
//! fan-out, private messages, nicknames, the switch's refusals, history, session routing, the
//! active role and the RFC 7701 §9.3/§9.4 exchanges. Large messages, slow participants and
//! timers are in `chat_limits.rs`.

mod common;

use common::*;
use msrp::{ByteRange, ByteString, Flag, Head, Header, Method, MsrpUri, StatusCode};
use msrp_mixer::config::RoomPolicy;
use msrp_mixer::server::MixerHandle;
use tokio::net::TcpListener;

/// Nicknames in the room's roster, by user URI.
async fn nick_of(h: &MixerHandle, room: &str, user: &str) -> Option<String> {
    let info = h.room(room).await.expect("room");
    info.participants
        .into_iter()
        .find(|(u, _)| u == user)
        .unwrap_or_else(|| panic!("{user} in the room"))
        .1
}

/// RFC 7701 §6.1 (7701-013/014): a public message reaches every other participant, with the
/// CPIM body unchanged and one Message-ID for all copies; the sender gets 200 and no copy.
#[tokio::test]
async fn public_message_fans_out_to_the_others() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    let mut dave = join(&h, addr, "lobby", "dave").await;
    alice.say_ok(&room_uri("lobby"), "Hello all").await;
    let want = cpim(&user_uri("alice"), &room_uri("lobby"), "Hello all");
    let mut mids = Vec::new();
    let mut tids = Vec::new();
    for p in [&mut bob, &mut carol, &mut dave] {
        let f = p.message().await;
        assert_copy(p, &f, &want);
        assert_eq!(
            f.head.byte_range(),
            Some(ByteRange::whole(want.len() as u64))
        );
        mids.push(f.head.message_id().cloned());
        tids.push(f.head.tid);
    }
    assert!(mids.windows(2).all(|w| w[0] == w[1]), "{mids:?}");
    // RFC 4975 §7.1: each copy is a transaction of its own (a relay may carry several).
    tids.sort();
    tids.dedup();
    assert_eq!(tids.len(), 3, "a transaction id per copy");
    alice.no_message(200).await;
    // And from another participant to the rest, sender included.
    bob.say_ok(&room_uri("lobby"), "Hi alice").await;
    let want = cpim(&user_uri("bob"), &room_uri("lobby"), "Hi alice");
    for p in [&mut alice, &mut carol, &mut dave] {
        let f = p.message().await;
        assert_copy(p, &f, &want);
    }
    bob.no_message(200).await;
    let info = h.room("lobby").await.expect("room");
    assert_eq!(info.participants.len(), 4);
    assert_eq!(info.sessions, 4);
    assert_eq!(info.uri, room_uri("lobby"));
}

/// 7701-020/016: a private message to a participant's URI reaches that participant only, body
/// unchanged; the sender gets 200.
#[tokio::test]
async fn private_message_to_a_participant_uri() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    alice.say_ok(&user_uri("bob"), "psst, bob").await;
    let f = bob.message().await;
    assert_copy(
        &bob,
        &f,
        &cpim(&user_uri("alice"), &user_uri("bob"), "psst, bob"),
    );
    carol.no_message(200).await;
    alice.no_message(0).await;
}

/// 7701-016: a participant with two sessions (two devices) gets a private message on both.
#[tokio::test]
async fn private_message_reaches_every_session_of_the_recipient() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    // Bob's second device: same user URI, another session.
    let own2: MsrpUri = "msrp://bob2.example.com:7000/bobs2;tcp"
        .parse()
        .expect("uri");
    let joined = h
        .join(
            "lobby",
            &user_uri("bob"),
            offer(&own2, &Offer::default()).as_bytes(),
        )
        .await
        .expect("joined");
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut bob2 = Participant::over(s, own2, "bob", &joined);
    bob2.bind().await;
    assert_eq!(h.room("lobby").await.expect("room").participants.len(), 2);
    alice.say_ok(&user_uri("bob"), "to both").await;
    let want = cpim(&user_uri("alice"), &user_uri("bob"), "to both");
    let f = bob.message().await;
    assert_copy(&bob, &f, &want);
    let f = bob2.message().await;
    assert_copy(&bob2, &f, &want);
}

/// RFC 7701 §6.2, §7: a private message To a nickname (the URI's user part, or the formal name)
/// reaches the participant holding it; the comparison follows the PRECIS Nickname profile
/// (7701-029: case-insensitive).
#[tokio::test]
async fn private_message_to_a_nickname() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    assert_eq!(bob.nickname("Bobby").await, StatusCode::OK);
    // To the nickname as a URI user part.
    let to = format!("sip:bobby@{DOMAIN}");
    alice.say_ok(&to, "by nickname").await;
    let f = bob.message().await;
    assert_copy(&bob, &f, &cpim(&user_uri("alice"), &to, "by nickname"));
    // To the nickname as the CPIM To's formal name.
    let body = format!(
        "From: <{}>\r\nTo: Bobby <sip:someone@{DOMAIN}>\r\n\r\nContent-Type: text/plain\r\n\r\nformal",
        user_uri("alice")
    );
    let head = alice.send_cpim(body.as_bytes()).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::OK);
    let f = bob.message().await;
    assert_copy(&bob, &f, body.as_bytes());
    carol.no_message(200).await;
}

/// 7701-021: a private message to nobody in the room is answered 404 and goes nowhere.
#[tokio::test]
async fn private_message_to_an_unknown_participant_is_404() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let head = alice.say(&user_uri("zed"), "anyone?").await;
    assert_eq!(alice.status_of(&head).await, StatusCode::NOT_FOUND);
    bob.no_message(200).await;
    // The sender's session goes on.
    alice.say_ok(&room_uri("lobby"), "still here").await;
    bob.message().await;
}

/// 7701-021: a private message to a participant whose offer lacks the `private-messages`
/// chat-token is answered 428 and not forwarded; public messages still reach it.
#[tokio::test]
async fn private_message_to_a_refusing_participant_is_428() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut carol = join_with(
        &h,
        addr,
        "lobby",
        "carol",
        &Offer {
            private: false,
            ..Offer::default()
        },
    )
    .await;
    let head = alice.say(&user_uri("carol"), "psst").await;
    assert_eq!(
        alice.status_of(&head).await,
        StatusCode::NO_PRIVATE_MESSAGES
    );
    carol.no_message(200).await;
    alice.say_ok(&room_uri("lobby"), "public").await;
    let f = carol.message().await;
    assert_copy(
        &carol,
        &f,
        &cpim(&user_uri("alice"), &room_uri("lobby"), "public"),
    );
}

/// RFC 7701 §6.2: in a room whose policy forbids private messages, one is answered 403.
#[tokio::test]
async fn private_message_where_forbidden_is_403() {
    let mut cfg = config();
    cfg.rooms.push((
        "quiet".to_owned(),
        RoomPolicy {
            private_messages: false,
            ..RoomPolicy::default()
        },
    ));
    let (h, addr) = start_with(cfg).await;
    let mut alice = join(&h, addr, "quiet", "alice").await;
    let mut bob = join(&h, addr, "quiet", "bob").await;
    let head = alice.say(&user_uri("bob"), "psst").await;
    assert_eq!(alice.status_of(&head).await, StatusCode::FORBIDDEN);
    bob.no_message(200).await;
}

/// RFC 7701 §7 (7701-028/029/030/031/032): a nickname is set (200), refused to another user
/// (425, also in another case: PRECIS comparison), changed (the old one is released at once),
/// released with `""`, and released when its participant leaves; the roster shows it.
#[tokio::test]
async fn nicknames_set_change_conflict_release() {
    let mut cfg = config();
    cfg.reserved_nicknames.push("admin".to_owned());
    let (h, addr) = start_with(cfg).await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let alice_uri = user_uri("alice");

    assert_eq!(alice.nickname("Alice the great").await, StatusCode::OK);
    assert_eq!(
        nick_of(&h, "lobby", &alice_uri).await.as_deref(),
        Some("Alice the great")
    );
    // Taken by another user, however written (7701-029).
    assert_eq!(
        bob.nickname("Alice the great").await,
        StatusCode::NICKNAME_IN_USE
    );
    assert_eq!(
        bob.nickname("alice THE great").await,
        StatusCode::NICKNAME_IN_USE
    );
    // Reserved (7701-028).
    assert_eq!(bob.nickname("Admin").await, StatusCode::NICKNAME_IN_USE);
    assert_eq!(nick_of(&h, "lobby", &user_uri("bob")).await, None);
    // The holder may ask again.
    assert_eq!(alice.nickname("Alice the great").await, StatusCode::OK);

    // A change releases the old one (7701-031).
    assert_eq!(alice.nickname("Alice2").await, StatusCode::OK);
    assert_eq!(
        nick_of(&h, "lobby", &alice_uri).await.as_deref(),
        Some("Alice2")
    );
    assert_eq!(bob.nickname("Alice the great").await, StatusCode::OK);
    // A refused change keeps the old one (7701-031).
    assert_eq!(
        alice.nickname("alice the GREAT").await,
        StatusCode::NICKNAME_IN_USE
    );
    assert_eq!(
        nick_of(&h, "lobby", &alice_uri).await.as_deref(),
        Some("Alice2")
    );

    // Released with "" (7701-032).
    assert_eq!(alice.nickname("").await, StatusCode::OK);
    assert_eq!(nick_of(&h, "lobby", &alice_uri).await, None);
    assert_eq!(bob.nickname("Alice2").await, StatusCode::OK);
    assert_eq!(
        nick_of(&h, "lobby", &user_uri("bob")).await.as_deref(),
        Some("Alice2")
    );

    // Released when its participant leaves (7701-030).
    assert!(h.leave(&bob.id).await);
    assert_eq!(alice.nickname("Alice2").await, StatusCode::OK);
}

/// 7701-027: a NICKNAME carrying Success-Report or Failure-Report is answered 400.
#[tokio::test]
async fn nickname_with_report_headers_is_400() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let head = alice
        .request(Method::Nickname)
        .with(Header::UseNickname(ByteString::from_static("Al")))
        .with(Header::SuccessReport(true));
    alice.write(&head, None, Flag::Last).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::BAD_REQUEST);
    assert_eq!(nick_of(&h, "lobby", &user_uri("alice")).await, None);
}

/// 7701-028: NICKNAME in a room whose policy forbids nicknames is answered 403.
#[tokio::test]
async fn nickname_where_forbidden_is_403() {
    let mut cfg = config();
    cfg.rooms.push((
        "plain".to_owned(),
        RoomPolicy {
            nicknames: false,
            ..RoomPolicy::default()
        },
    ));
    let (h, addr) = start_with(cfg).await;
    let mut alice = join(&h, addr, "plain", "alice").await;
    assert_eq!(alice.nickname("Al").await, StatusCode::FORBIDDEN);
}

/// 7701-028/025: a NICKNAME whose Use-Nickname does not parse (not a quoted string) is answered
/// 424; the connection goes on.
#[tokio::test]
async fn nickname_that_does_not_parse_is_424() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let raw = format!(
        "MSRP nick0001 NICKNAME\r\nTo-Path: {}\r\nFrom-Path: {}\r\nUse-Nickname: Alice\r\n\
         -------nick0001$\r\n",
        alice.mixer, alice.own
    );
    alice.write_raw(raw.as_bytes()).await;
    let f = alice.take("424", |f| f.head.tid == "nick0001").await;
    assert_eq!(f.head.status(), Some(StatusCode::BAD_NICKNAME));
    assert_eq!(f.head.to_path(), &[alice.own.clone()][..]);
    // A NICKNAME that parses is still taken, and messages still flow.
    assert_eq!(alice.nickname("Alice").await, StatusCode::OK);
    alice.say_ok(&room_uri("lobby"), "after 424").await;
    bob.message().await;
}

/// 7701-012: a CPIM From other than the sender's URI is answered 403 and goes nowhere.
#[tokio::test]
async fn spoofed_cpim_from_is_403() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    let body = cpim(&user_uri("bob"), &room_uri("lobby"), "I am bob");
    let head = alice.send_cpim(&body).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::FORBIDDEN);
    // Private, too.
    let body = cpim(&user_uri("bob"), &user_uri("carol"), "I am bob");
    let head = alice.send_cpim(&body).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::FORBIDDEN);
    // No From at all.
    let body = format!(
        "To: <{}>\r\n\r\nContent-Type: text/plain\r\n\r\nwho?",
        room_uri("lobby")
    );
    let head = alice.send_cpim(body.as_bytes()).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::FORBIDDEN);
    bob.no_message(200).await;
    carol.no_message(0).await;
}

/// 7701-009 (4975-069): a SEND whose body is not message/cpim is answered 415 and goes nowhere.
#[tokio::test]
async fn non_cpim_body_is_415() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let head = alice.send_typed("text/plain", b"plain hello").await;
    assert_eq!(
        alice.status_of(&head).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // Declared message/cpim, but the body is not CPIM.
    let head = alice.send_cpim(b"just some text, no headers").await;
    let st = alice.status_of(&head).await;
    assert!(
        st == StatusCode::UNSUPPORTED_MEDIA_TYPE || st == StatusCode::BAD_REQUEST,
        "{st:?}"
    );
    bob.no_message(200).await;
}

/// 7701-011: a SEND with two CPIM To headers is answered 403 and goes nowhere.
#[tokio::test]
async fn two_cpim_to_headers_is_403() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    let body = format!(
        "From: <{}>\r\nTo: <{}>\r\nTo: <{}>\r\n\r\nContent-Type: text/plain\r\n\r\ntwo",
        user_uri("alice"),
        user_uri("bob"),
        user_uri("carol")
    );
    let head = alice.send_cpim(body.as_bytes()).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::FORBIDDEN);
    let body = format!(
        "From: <{}>\r\nTo: <{}>\r\nTo: <{}>\r\n\r\nContent-Type: text/plain\r\n\r\ntwo",
        user_uri("alice"),
        room_uri("lobby"),
        room_uri("lobby")
    );
    let head = alice.send_cpim(body.as_bytes()).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::FORBIDDEN);
    bob.no_message(200).await;
    carol.no_message(0).await;
}

/// 7701-015: a wrapped type a recipient did not list is not copied to it.
#[tokio::test]
async fn wrapped_type_not_accepted_is_not_copied() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join_with(
        &h,
        addr,
        "lobby",
        "carol",
        &Offer {
            wrapped: "text/plain",
            ..Offer::default()
        },
    )
    .await;
    let body = format!(
        "From: <{}>\r\nTo: <{}>\r\n\r\nContent-Type: application/im-iscomposing+xml\r\n\r\n<x/>",
        user_uri("alice"),
        room_uri("lobby")
    );
    let head = alice.send_cpim(body.as_bytes()).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::OK);
    let f = bob.message().await;
    assert_copy(&bob, &f, body.as_bytes());
    carol.no_message(200).await;
}

/// RFC 7701 §6.1 / room history: a participant joining late gets the room's last public
/// messages, in order, when its session binds; private messages are not replayed.
#[tokio::test]
async fn history_is_replayed_to_a_late_joiner() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    for i in 0..3 {
        alice.say_ok(&room_uri("lobby"), &format!("m{i}")).await;
        bob.message().await;
    }
    alice.say_ok(&user_uri("bob"), "private").await;
    bob.message().await;
    bob.say_ok(&room_uri("lobby"), "from bob").await;
    alice.message().await;
    let mut dave = join(&h, addr, "lobby", "dave").await;
    for (from, text) in [
        ("alice", "m0"),
        ("alice", "m1"),
        ("alice", "m2"),
        ("bob", "from bob"),
    ] {
        let f = dave.message().await;
        assert_copy(&dave, &f, &cpim(&user_uri(from), &room_uri("lobby"), text));
    }
    dave.no_message(200).await;
    // Replays count as deliveries: 3 + 1 + 1 copies before dave, 4 replayed to him. (The
    // Info round trip orders this after every command the room task has taken.)
    let _ = h.room("lobby").await;
    let text = h.metrics().encode_text();
    let deliveries = text
        .lines()
        .find_map(|l| l.strip_prefix("msrp_mixer_deliveries_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert_eq!(deliveries, Some(9.0), "{text}");
}

/// 4975-063/066/073: a session bound to one connection is refused on another with 506; it
/// keeps working on its own.
#[tokio::test]
async fn session_bound_elsewhere_is_506() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let joined = msrp_mixer::server::Joined {
        id: alice.id.clone(),
        room: "lobby".to_owned(),
        answer: format!("a=path:{}\r\n", alice.mixer).into_bytes(),
        local: alice.mixer.clone(),
    };
    let mut thief = Participant::over(s, alice.own.clone(), "alice", &joined);
    let head = thief.say(&room_uri("lobby"), "me too").await;
    assert_eq!(thief.status_of(&head).await, StatusCode::SESSION_IN_USE);
    bob.no_message(200).await;
    alice.say_ok(&room_uri("lobby"), "mine").await;
    bob.message().await;
}

/// 4975-063/071: a request for a session the mixer does not have is answered 481, on a fresh
/// connection and on one that carries a bound session; a request with two To-Path URIs too.
#[tokio::test]
async fn unknown_session_is_481() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let (host, port) = h.session_host_port();
    let bogus: MsrpUri = format!("msrp://{host}:{port}/nosuchsession;tcp")
        .parse()
        .expect("uri");
    let joined = msrp_mixer::server::Joined {
        id: "x".to_owned(),
        room: "lobby".to_owned(),
        answer: format!("a=path:{bogus}\r\n").into_bytes(),
        local: bogus.clone(),
    };
    let mut stranger = connect(addr, "zed", &joined).await;
    let head = stranger.say(&room_uri("lobby"), "hello?").await;
    let f = stranger.response(&head).await;
    assert_eq!(f.head.status(), Some(StatusCode::NO_SUCH_SESSION));
    assert_eq!(f.head.to_path(), &[stranger.own.clone()][..]);
    // On a connection with a bound session.
    let head = Head::request(
        Method::Send,
        "t481abcd".parse().unwrap(),
        msrp::path![bogus.clone()],
        msrp::path![alice.own.clone()],
    )
    .with(Header::MessageId("m481".parse().unwrap()))
    .with(Header::ByteRange(ByteRange::whole(0)));
    alice.write(&head, None, Flag::Last).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::NO_SUCH_SESSION);
    // Two To-Path URIs: not one of ours (an endpoint's To-Path has one URI).
    let head = Head::request(
        Method::Send,
        "t481efgh".parse().unwrap(),
        msrp::path![alice.mixer.clone(), alice.mixer.clone()],
        msrp::path![alice.own.clone()],
    )
    .with(Header::MessageId("m482".parse().unwrap()))
    .with(Header::ByteRange(ByteRange::whole(0)));
    alice.write(&head, None, Flag::Last).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::NO_SUCH_SESSION);
    // Alice's own session is unharmed.
    alice.say_ok(&room_uri("lobby"), "fine").await;
}

/// 4975-063: after [`MixerHandle::leave`], the session is gone: a request for it is answered
/// 481 (not silently dropped), and it gets no more messages.
#[tokio::test]
async fn request_after_leave_is_481() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    assert!(h.leave(&alice.id).await);
    assert!(!h.leave(&alice.id).await, "already gone");
    let info = h.room("lobby").await.expect("room");
    assert_eq!(info.participants.len(), 1);
    bob.say_ok(&room_uri("lobby"), "alone").await;
    alice.no_message(200).await;
    let head = alice.say(&room_uri("lobby"), "still here?").await;
    assert_eq!(alice.status_of(&head).await, StatusCode::NO_SUCH_SESSION);
    bob.no_message(200).await;
}

/// 4975-017: a request with a method the switch does not know is answered 501.
#[tokio::test]
async fn unknown_method_is_501() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let raw = format!(
        "MSRP meth0001 FROB\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------meth0001$\r\n",
        alice.mixer, alice.own
    );
    alice.write_raw(raw.as_bytes()).await;
    let f = alice.take("501", |f| f.head.tid == "meth0001").await;
    assert_eq!(f.head.status(), Some(StatusCode::NOT_IMPLEMENTED));
}

/// 4975-065 (RFC 4975 §10): a frame with a malformed header is answered 400, and the connection
/// goes on: the next message is switched as usual.
#[tokio::test]
async fn malformed_frame_is_400_and_the_connection_goes_on() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let body = cpim(&user_uri("alice"), &room_uri("lobby"), "bad");
    let raw = format!(
        "MSRP badf0001 SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: mbad\r\n\
         Byte-Range: one-two/three\r\nContent-Type: message/cpim\r\n\r\n{}\r\n-------badf0001$\r\n",
        alice.mixer,
        alice.own,
        String::from_utf8_lossy(&body)
    );
    alice.write_raw(raw.as_bytes()).await;
    let f = alice.take("400", |f| f.head.tid == "badf0001").await;
    assert_eq!(f.head.status(), Some(StatusCode::BAD_REQUEST));
    bob.no_message(200).await;
    alice.say_ok(&room_uri("lobby"), "good").await;
    let f = bob.message().await;
    assert_copy(
        &bob,
        &f,
        &cpim(&user_uri("alice"), &room_uri("lobby"), "good"),
    );
}

/// 7701-023: recipients' responses and REPORTs are not forwarded to the sender; the sender
/// gets its own success REPORT from the switch when it asks for one.
#[tokio::test]
async fn recipient_reports_are_not_forwarded() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let body = cpim(&user_uri("alice"), &room_uri("lobby"), "report me");
    let head = alice
        .send_head()
        .with(Header::ByteRange(ByteRange::whole(body.len() as u64)))
        .with(Header::SuccessReport(true))
        .with(Header::ContentType(ByteString::from_static("message/cpim")));
    alice.write(&head, Some(&body), Flag::Last).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::OK);
    let rep = alice.report().await;
    assert_eq!(rep.head.message_id(), head.message_id());
    assert_eq!(
        rep.head.report_status().map(|s| s.code),
        Some(StatusCode::OK)
    );
    let copy = bob.message().await;
    // Bob answers its copy and sends a REPORT about it, as an endpoint would.
    let ok = msrp::report::response(&copy.head, StatusCode::OK, None, &bob.own);
    bob.write(&ok, None, Flag::Last).await;
    let range = ByteRange::whole(copy.body.as_ref().map_or(0, |b| b.len() as u64));
    let rep = Head::request(
        Method::Report,
        bob.ids.next_id(),
        msrp::path![bob.mixer.clone()],
        msrp::path![bob.own.clone()],
    )
    .with(Header::MessageId(
        copy.head.message_id().cloned().expect("mid"),
    ))
    .with(Header::ByteRange(range))
    .with(Header::Status(msrp::Status {
        namespace: 0,
        code: StatusCode::OK,
        comment: None,
    }));
    bob.write(&rep, None, Flag::Last).await;
    if let Some(f) = alice.maybe(300).await {
        panic!("forwarded to the sender: {f:?}");
    }
}

/// RFC 4975 §7.1.3, §7.2: the switch answers a SEND before it reports on it: the sender reads the
/// 200 and then the success REPORT, in that order (the room task queues both on the control
/// lane at the end of its batch, in the order it decided them).
#[tokio::test]
async fn the_response_comes_before_the_success_report() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    for i in 0..3 {
        let body = cpim(
            &user_uri("alice"),
            &room_uri("lobby"),
            &format!("report me {i}"),
        );
        let head = alice
            .whole_head("message/cpim", body.len())
            .with(Header::SuccessReport(true));
        alice.write(&head, Some(&body), Flag::Last).await;
        let first = alice.maybe(5000).await.expect("the response");
        assert_eq!(first.head.tid, head.tid, "the 200 first: {first:?}");
        assert_eq!(first.head.status(), Some(StatusCode::OK));
        let second = alice.maybe(5000).await.expect("the REPORT");
        assert_eq!(second.head.method(), Some(&Method::Report), "{second:?}");
        assert_eq!(second.head.message_id(), head.message_id());
        let copy = bob.message().await;
        assert_eq!(copy.body.as_deref(), Some(&body[..]));
    }
}

/// RFC 7701 §6.1, RFC 4975 §7.2: a burst of whole messages written at once (each SEND repeats
/// the last one's header block, so the reader hands each to the room as one command, and the
/// burst is longer than the frames a reader hands over per turn) reaches every other participant
/// intact and in order, and the sender gets every 200, in order.
#[tokio::test]
async fn a_burst_of_whole_messages_reaches_everyone_in_order() {
    const MESSAGES: usize = 150;
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    let mut wire = bytes::BytesMut::new();
    let mut sent = Vec::new();
    for i in 0..MESSAGES {
        let body = cpim(
            &user_uri("alice"),
            &room_uri("lobby"),
            &format!("burst {i:04}"),
        );
        let head = alice.whole_head("message/cpim", body.len());
        msrp::encode::frame(&head, Some(&body), Flag::Last, &mut wire);
        sent.push((head, body));
    }
    alice.write_raw(&wire).await;
    for (head, _) in &sent {
        let r = alice.maybe(5000).await.expect("a response");
        assert_eq!(r.head.tid, head.tid, "responses in order");
        assert_eq!(r.head.status(), Some(StatusCode::OK));
    }
    for p in [&mut bob, &mut carol] {
        for (_, body) in &sent {
            let copy = p.message().await;
            assert_eq!(
                copy.body.as_deref(),
                Some(&body[..]),
                "copies intact, in order"
            );
            assert_eq!(copy.flag, Flag::Last);
        }
    }
}

/// Alice's `a=path` for her session in room `blue`.
const BLUE_PATH: &str = "msrp://alice.example.com:7000/aliceblue;tcp";

/// Joins another session of `p`, its `a=path` `own`, to `room` and binds it over `p`'s
/// connection (7701-001: one connection carries sessions of several rooms); `p` speaks in it
/// from then on.
async fn add_session(h: &MixerHandle, p: &mut Participant, room: &str, own: &str) -> MsrpUri {
    let own: MsrpUri = own.parse().expect("uri");
    let joined = h
        .join(room, &p.user, offer(&own, &Offer::default()).as_bytes())
        .await
        .expect("joined");
    p.use_session(own.clone(), &joined);
    p.bind().await;
    own
}

/// 7701-001: sessions of two rooms share one connection; each room's messages arrive on its
/// own session.
#[tokio::test]
async fn two_rooms_over_one_connection() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "red", "alice").await;
    let alice_red = (alice.own.clone(), alice.mixer.clone(), alice.id.clone());
    // Alice's session in room blue goes over the same connection.
    let own_blue = add_session(&h, &mut alice, "blue", BLUE_PATH).await;
    let mut bob_red = join(&h, addr, "red", "bob").await;
    let mut bob_blue = join(&h, addr, "blue", "bob").await;
    bob_red.say_ok(&room_uri("red"), "in red").await;
    bob_blue.say_ok(&room_uri("blue"), "in blue").await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let f = alice.message().await;
        got.push((f.head.to_path()[0].clone(), f.body.clone()));
    }
    got.sort_by_key(|(to, _)| to.as_str().to_owned());
    let mut want = vec![
        (
            alice_red.0.clone(),
            cpim(&user_uri("bob"), &room_uri("red"), "in red"),
        ),
        (
            own_blue.clone(),
            cpim(&user_uri("bob"), &room_uri("blue"), "in blue"),
        ),
    ];
    want.sort_by_key(|(to, _)| to.as_str().to_owned());
    for ((to, body), (wto, wbody)) in got.iter().zip(&want) {
        assert_eq!(to, wto);
        assert_eq!(body.as_deref(), Some(&wbody[..]));
    }
    assert_eq!(h.room_names(), vec!["blue".to_owned(), "red".to_owned()]);
    assert_eq!(h.room("red").await.expect("red").sessions, 2);
    assert_eq!(h.room("blue").await.expect("blue").sessions, 2);
}

/// Frames for two rooms in one write on one connection: short whole messages the reader holds
/// to send together, a message for the other room (a new header block), and a long one (not
/// held: it must not overtake the short ones before it). Each room gets its own messages, in
/// order, and the sender every response.
#[tokio::test]
async fn frames_for_two_rooms_in_one_read_reach_each_room() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "red", "alice").await;
    let red = (alice.own.clone(), alice.mixer.clone());
    add_session(&h, &mut alice, "blue", BLUE_PATH).await;
    let blue = (alice.own.clone(), alice.mixer.clone());
    let mut bob_red = join(&h, addr, "red", "bob").await;
    let mut bob_blue = join(&h, addr, "blue", "bob").await;
    let mut wire = bytes::BytesMut::new();
    let mut tids = Vec::new();
    let mut want: Vec<(&str, Vec<u8>)> = Vec::new();
    let long = "x".repeat(2000);
    let groups = [
        ("red", vec!["r0", "r1", "r2"]),
        ("blue", vec!["b0", "b1", "b2"]),
        ("red", vec!["r3", "r4", &long]),
    ];
    for (room, texts) in groups {
        (alice.own, alice.mixer) = if room == "red" {
            red.clone()
        } else {
            blue.clone()
        };
        for text in texts {
            let body = cpim(&user_uri("alice"), &room_uri(room), text);
            let head = alice.whole_head("message/cpim", body.len());
            msrp::encode::frame(&head, Some(&body), Flag::Last, &mut wire);
            tids.push(head.tid);
            want.push((room, body));
        }
    }
    alice.write_raw(&wire).await;
    let mut answered = Vec::new();
    for _ in 0..tids.len() {
        let r = alice.maybe(5000).await.expect("a response");
        assert_eq!(r.head.status(), Some(StatusCode::OK));
        answered.push(r.head.tid);
    }
    answered.sort();
    tids.sort();
    assert_eq!(answered, tids, "every frame answered");
    for (room, p) in [("red", &mut bob_red), ("blue", &mut bob_blue)] {
        for (_, body) in want.iter().filter(|(r, _)| *r == room) {
            let copy = p.message().await;
            assert_eq!(copy.body.as_deref(), Some(&body[..]), "{room}: in order");
        }
        p.no_message(200).await;
    }
}

/// RFC 6135 (the active role): when the offer says `a=setup:passive`, the mixer connects to the
/// first URI of the participant's path and binds the session with a bodiless SEND (RFC 4975
/// §5.4); the session then carries messages both ways.
#[tokio::test]
async fn passive_offer_makes_the_mixer_connect() {
    let (h, addr) = start().await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let own: MsrpUri = format!("msrp://127.0.0.1:{port}/carolpassive;tcp")
        .parse()
        .expect("uri");
    let o = Offer {
        setup: "passive",
        ..Offer::default()
    };
    let joined = h
        .join("lobby", &user_uri("carol"), offer(&own, &o).as_bytes())
        .await
        .expect("joined");
    let answer = String::from_utf8(joined.answer.clone()).expect("utf-8");
    assert!(answer.contains("a=setup:active"), "{answer}");
    let (s, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("the mixer connects")
        .expect("accept");
    let mut carol = Participant::over(s, own.clone(), "carol", &joined);
    // The mixer's bodiless SEND binds the session.
    let bind = carol.message().await;
    assert_eq!(bind.head.to_path(), &[own.clone()][..]);
    assert_eq!(bind.head.from_path(), &[joined.local.clone()][..]);
    assert!(bind.body.is_none(), "bodiless: {bind:?}");
    let ok = msrp::report::response(&bind.head, StatusCode::OK, None, &own);
    carol.write(&ok, None, Flag::Last).await;
    // Messages reach carol over the mixer's connection, and carol can speak on it.
    bob.say_ok(&room_uri("lobby"), "hi carol").await;
    let f = carol.message().await;
    assert_copy(
        &carol,
        &f,
        &cpim(&user_uri("bob"), &room_uri("lobby"), "hi carol"),
    );
    carol.say_ok(&room_uri("lobby"), "hi bob").await;
    let f = bob.message().await;
    assert_copy(
        &bob,
        &f,
        &cpim(&user_uri("carol"), &room_uri("lobby"), "hi bob"),
    );
    assert_eq!(h.room("lobby").await.expect("room").participants.len(), 2);
}

/// The RFC's example frames of §9.3 (regular message) and §9.4 (private message) with the
/// session URIs of this run: the switch answers 200 and the recipients get the CPIM body
/// unchanged (7701-010/013/014/020).
#[tokio::test]
async fn rfc7701_s9_3_and_s9_4_exchanges() {
    let mut cfg = config();
    cfg.rooms
        .push(("chatroom22".to_owned(), RoomPolicy::default()));
    let (h, addr) = start_with(cfg).await;
    // Alice is sip:alice@atlanta.example.com in §9.3 and sip:alice@example.com in §9.4: two
    // participants here, each with its session.
    let join_as = |user: &'static str, name: &'static str| {
        let h = h.clone();
        async move {
            let own = own_uri(name);
            let joined = h
                .join(
                    "chatroom22",
                    user,
                    offer(&own, &Offer::default()).as_bytes(),
                )
                .await
                .expect("joined");
            let mut p = connect(addr, name, &joined).await;
            p.user = user.to_owned();
            p.bind().await;
            p
        }
    };
    let mut alice_a = join_as("sip:alice@atlanta.example.com", "alicea").await;
    let mut alice = join_as("sip:alice@example.com", "alice").await;
    let mut bob = join_as("sip:bob@example.com", "bob").await;

    let vector = |name: &str| -> Vec<u8> {
        let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    /// The frame of `raw` with To-Path and From-Path replaced.
    fn readdress(raw: &[u8], p: &Participant) -> (ByteString, Vec<u8>) {
        let text = std::str::from_utf8(raw).expect("utf-8");
        let tid = text.split(' ').nth(1).expect("tid").to_owned();
        let out: Vec<String> = text
            .split("\r\n")
            .map(|l| {
                if l.starts_with("To-Path: ") {
                    format!("To-Path: {}", p.mixer)
                } else if l.starts_with("From-Path: ") {
                    format!("From-Path: {}", p.own)
                } else {
                    l.to_owned()
                }
            })
            .collect();
        (ByteString::from(tid), out.join("\r\n").into_bytes())
    }
    /// The CPIM body of the frame `raw` (between the blank line and the end-line's CRLF).
    fn body_of(raw: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(raw).expect("utf-8");
        let (_, rest) = text.split_once("\r\n\r\n").expect("body");
        let end = rest.rfind("\r\n-------").expect("end-line");
        rest.as_bytes()[..end].to_vec()
    }

    // §9.3: Alice (atlanta) to the room; Bob and the other Alice get it (F3), she gets 200 (F2).
    let f1 = vector("rfc7701-s9.3-F1-send-regular.msrp");
    let (tid, frame) = readdress(&f1, &alice_a);
    alice_a.write_raw(&frame).await;
    let ok = alice_a
        .take("200 (F2)", |f| {
            f.head.tid == tid && f.head.status().is_some()
        })
        .await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
    assert_eq!(ok.head.to_path(), &[alice_a.own.clone()][..]);
    assert_eq!(ok.head.from_path(), &[alice_a.mixer.clone()][..]);
    let want = body_of(&f1);
    assert!(want.starts_with(b"To: <sip:chatroom22@chat.example.com;transport=tcp>"));
    for p in [&mut bob, &mut alice] {
        let f = p.message().await;
        assert_copy(p, &f, &want);
    }
    alice_a.no_message(100).await;

    // §9.4: Alice (example.com) privately to Bob (F1); Bob gets it (F3), Alice 200 (F2).
    let f1 = vector("rfc7701-s9.4-F1-send-private.msrp");
    let (tid, frame) = readdress(&f1, &alice);
    alice.write_raw(&frame).await;
    let ok = alice
        .take("200 (F2)", |f| {
            f.head.tid == tid && f.head.status().is_some()
        })
        .await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
    let want = body_of(&f1);
    let f = bob.message().await;
    assert_copy(&bob, &f, &want);
    alice_a.no_message(200).await;

    // §9.2: the nickname exchange (F1 200 here; then F3 from Bob for the same name: 425).
    let n1 = vector("rfc7701-s9.2-F1-nickname.msrp");
    let (tid, frame) = readdress(&n1, &alice);
    alice.write_raw(&frame).await;
    let f = alice
        .take("NICKNAME 200", |f| {
            f.head.tid == tid && f.head.status().is_some()
        })
        .await;
    assert_eq!(f.head.status(), Some(StatusCode::OK));
    let (tid, frame) = readdress(&n1, &bob);
    bob.write_raw(&frame).await;
    let f = bob
        .take("NICKNAME 425", |f| {
            f.head.tid == tid && f.head.status().is_some()
        })
        .await;
    assert_eq!(f.head.status(), Some(StatusCode::NICKNAME_IN_USE));
}

/// 7701-022: a REPORT the switch sends about a private message carries a `message/cpim` body
/// with the message's original CPIM From and To; one about a public message has no body.
#[tokio::test]
async fn report_about_a_private_message_carries_the_cpim_wrapper() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    for (to, private) in [(user_uri("bob"), true), (room_uri("lobby"), false)] {
        let body = cpim(&alice.user, &to, "report this");
        let head = alice
            .send_head()
            .with(Header::ByteRange(ByteRange::whole(body.len() as u64)))
            .with(Header::SuccessReport(true))
            .with(Header::ContentType(ByteString::from_static("message/cpim")));
        alice.write(&head, Some(&body), Flag::Last).await;
        assert_eq!(alice.status_of(&head).await, StatusCode::OK);
        bob.message().await;
        let rep = alice.report().await;
        assert_eq!(rep.head.message_id(), head.message_id());
        assert_eq!(
            rep.head.report_status().map(|s| s.code),
            Some(StatusCode::OK)
        );
        if !private {
            assert!(rep.body.is_none(), "{rep:?}");
            continue;
        }
        assert_eq!(
            rep.head.content_type().map(|c| c.as_ref()),
            Some("message/cpim"),
            "{rep:?}"
        );
        let text = String::from_utf8(rep.body.clone().expect("a body").to_vec()).expect("utf-8");
        assert!(text.contains(&format!("From: <{}>", alice.user)), "{text}");
        assert!(text.contains(&format!("To: <{to}>")), "{text}");
    }
}

/// 4975-046 (RFC 4975 §7.2): a SEND with `Failure-Report: no` gets no response, and is still
/// switched.
#[tokio::test]
async fn failure_report_no_gets_no_response() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let body = cpim(&alice.user, &room_uri("lobby"), "no answer please");
    let head = alice
        .send_head()
        .with(Header::ByteRange(ByteRange::whole(body.len() as u64)))
        .with(Header::FailureReport(msrp::FailureReport::No))
        .with(Header::ContentType(ByteString::from_static("message/cpim")));
    alice.write(&head, Some(&body), Flag::Last).await;
    let f = bob.message().await;
    assert_copy(&bob, &f, &body);
    if let Some(f) = alice.maybe(300).await {
        panic!("a response to Failure-Report: no: {f:?}");
    }
}

/// [`RoomPolicy::max_participants`]: one participant more is refused (SIP 486); a participant
/// already in the room may add a session.
#[tokio::test]
async fn full_room_refuses_one_more_participant() {
    let mut cfg = config();
    cfg.rooms.push((
        "small".to_owned(),
        RoomPolicy {
            max_participants: 2,
            ..RoomPolicy::default()
        },
    ));
    let (h, addr) = start_with(cfg).await;
    let _alice = join(&h, addr, "small", "alice").await;
    let _bob = join(&h, addr, "small", "bob").await;
    let err = h
        .join(
            "small",
            &user_uri("carol"),
            offer(&own_uri("carol"), &Offer::default()).as_bytes(),
        )
        .await
        .expect_err("full");
    assert_eq!(err.sip_status(), 486, "{err:?}");
    let own2: MsrpUri = "msrp://bob2.example.com:7000/bobs2;tcp"
        .parse()
        .expect("uri");
    h.join(
        "small",
        &user_uri("bob"),
        offer(&own2, &Offer::default()).as_bytes(),
    )
    .await
    .expect("bob's second session");
    assert_eq!(h.room("small").await.expect("room").sessions, 3);
}

/// [`MixerHandle::shutdown`]: the mixer closes every connection.
#[tokio::test]
async fn shutdown_closes_the_connections() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    h.shutdown();
    assert!(alice.closed_within(2000).await, "closed");
}

/// 7701-030 (RFC 7701 §7): a nickname belongs to the participant: all its sessions show it, it
/// stays while one of them is in the room and is released with the last one; a connection
/// closing is a leave.
#[tokio::test]
async fn nickname_is_released_with_the_last_session() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let bob = join(&h, addr, "lobby", "bob").await;
    let own2: MsrpUri = "msrp://bob2.example.com:7000/bobs2;tcp"
        .parse()
        .expect("uri");
    let joined = h
        .join(
            "lobby",
            &user_uri("bob"),
            offer(&own2, &Offer::default()).as_bytes(),
        )
        .await
        .expect("joined");
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut bob2 = Participant::over(s, own2, "bob", &joined);
    bob2.bind().await;
    assert_eq!(bob2.nickname("Robert").await, StatusCode::OK);
    // Bob's first session closes its connection: the nickname stays.
    let Participant { r, w, .. } = bob;
    drop((r, w));
    for _ in 0..50 {
        if h.room("lobby").await.expect("room").sessions == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(h.room("lobby").await.expect("room").sessions, 2);
    assert_eq!(alice.nickname("Robert").await, StatusCode::NICKNAME_IN_USE);
    assert_eq!(
        nick_of(&h, "lobby", &user_uri("bob")).await.as_deref(),
        Some("Robert")
    );
    // The last one leaves: released.
    assert!(h.leave(&bob2.id).await);
    assert_eq!(alice.nickname("Robert").await, StatusCode::OK);
}

/// RFC 7701 §9.5 (7701-017/018/020): a private message in two chunks reaches its recipient
/// whole, and nobody else.
#[tokio::test]
async fn chunked_private_message() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    let body = cpim(
        &alice.user,
        &bob.user,
        "Hello Bob, this comes in two chunks.",
    );
    let mid = alice.ids.next_id();
    let total = Some(body.len() as u64);
    let h1 = alice
        .send_chunk(&mid, 1, &body[..30], total, Flag::More)
        .await;
    let h2 = alice
        .send_chunk(&mid, 31, &body[30..], total, Flag::Last)
        .await;
    assert_eq!(alice.status_of(&h1).await, StatusCode::OK);
    assert_eq!(alice.status_of(&h2).await, StatusCode::OK);
    let mut got = Vec::new();
    for _ in 0..body.len() {
        let f = bob.message().await;
        got.extend_from_slice(f.body.as_deref().unwrap_or_default());
        if f.flag != Flag::More {
            assert_eq!(f.flag, Flag::Last);
            break;
        }
    }
    assert_eq!(got, body);
    carol.no_message(200).await;
}
