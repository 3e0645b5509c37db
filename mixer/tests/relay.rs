//! A participant behind an RFC 4976 relay (our own `msrp-relay`, on 127.0.0.1): it AUTHs at the
//! relay, offers the path `<its Use-Path URI> <its own URI>` with `a=setup:active`, and chats
//! with a participant connected to the mixer directly. The mixer is the passive side (RFC 6135):
//! the relay opens the connection to it when it forwards the participant's first SEND, and the
//! session binds to that connection (RFC 4975 §5.4, 4975-088).

mod common;

use common::*;
use msrp_relay::config::RelayConfig;
use msrp_relay::server::Relay;
use tokio::net::TcpStream;

const REALM: &str = "relay.test";

/// RFC 7701 over RFC 4976: Dave, behind the relay, joins `lobby`, binds through the relay, and
/// exchanges public messages with Alice (direct); the copies to Dave go back on the relay's
/// connection with To-Path Dave's whole path, body unchanged.
#[tokio::test]
async fn a_participant_behind_a_relay_chats() {
    let mut rcfg = RelayConfig::new("localhost", REALM).with_user("dave", "d4ve");
    rcfg.allow_auth_over_tcp = true;
    let relay = Relay::bind(rcfg).await.expect("relay");
    let (raddr, ruri) = (relay.local_addr().expect("addr"), relay.uri().clone());
    let stop = relay.shutdown_handle();
    relay.spawn();

    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;

    let own = own_uri("dave");
    let mut s = TcpStream::connect(raddr)
        .await
        .expect("connect to the relay");
    s.set_nodelay(true).expect("nodelay");
    let use_path = auth(&mut s, &ruri, &own, ("dave", "d4ve", REALM)).await;
    let offer = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7000 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain\r\n\
         a=path:{} {}\r\na=setup:active\r\na=chatroom:nickname private-messages\r\n",
        use_path.as_str(),
        own.as_str()
    );
    let joined = h
        .join("lobby", &user_uri("dave"), offer.as_bytes())
        .await
        .expect("joined");
    assert!(
        !String::from_utf8_lossy(&joined.answer).contains("a=setup:active"),
        "the mixer is the passive side"
    );
    let mut dave = Participant::over(s, own.clone(), "dave", &joined);
    dave.via = vec![use_path.clone()];
    // The relay answers the bind hop by hop (RFC 4976 §6.4.1) and forwards it to the mixer on a
    // connection of its own, to which the session binds.
    dave.bind().await;

    alice.say_ok(&room_uri("lobby"), "hello dave").await;
    let f = dave.message().await;
    assert_eq!(
        f.body.as_deref(),
        Some(&cpim(&user_uri("alice"), &room_uri("lobby"), "hello dave")[..])
    );
    assert_eq!(
        f.head.to_path(),
        &[own.clone()][..],
        "the relay popped itself"
    );
    assert_eq!(f.head.from_path().len(), 2, "relay, then the mixer's URI");
    assert_eq!(f.head.from_path()[1], joined.local);

    dave.say_ok(&room_uri("lobby"), "hi alice").await;
    let f = alice.message().await;
    assert_eq!(
        f.body.as_deref(),
        Some(&cpim(&user_uri("dave"), &room_uri("lobby"), "hi alice")[..])
    );
    let info = h.room("lobby").await.expect("room");
    assert_eq!(info.participants.len(), 2);
    stop.shutdown();
}
