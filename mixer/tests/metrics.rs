//! The mixer's Prometheus metrics over real sockets on 127.0.0.1: every counter moves by exactly
//! what was sent (issue #5, "Metrics").

mod common;

use common::*;
use msrp::StatusCode;

/// The value of the sample `name` (with its labels, as written in the text format), 0 when
/// absent.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Three participants; two public messages, one private, one isComposing, one refused body,
/// a nickname and a nickname conflict: each metric says exactly that.
#[tokio::test]
async fn counters_move_by_exactly_what_was_sent() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    let room = room_uri("lobby");

    alice.say_ok(&room, "one").await;
    alice.say_ok(&room, "two").await;
    for p in [&mut bob, &mut carol] {
        p.message().await;
        p.message().await;
    }
    alice.say_ok(&user_uri("bob"), "psst").await;
    bob.message().await;
    let composing = format!(
        "From: <{}>\r\nTo: <{room}>\r\n\r\nContent-Type: application/im-iscomposing+xml\r\n\r\n\
         <?xml version=\"1.0\"?><isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\
         <state>active</state></isComposing>",
        user_uri("alice")
    );
    let head = alice.send_cpim(composing.as_bytes()).await;
    assert_eq!(alice.status_of(&head).await, StatusCode::OK);
    for p in [&mut bob, &mut carol] {
        p.message().await;
    }
    let head = alice.send_typed("text/plain", b"not wrapped").await;
    assert_eq!(
        alice.status_of(&head).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(bob.nickname("Bobby").await, StatusCode::OK);
    assert_eq!(carol.nickname("bobby").await, StatusCode::NICKNAME_IN_USE);

    // The room task updates its metrics after each command; the Info round trip orders us after
    // every command sent so far.
    let info = h.room("lobby").await.expect("room");
    assert_eq!(info.participants.len(), 3);
    let text = h.metrics().encode_text();
    let want = [
        ("msrp_mixer_rooms", 1.0),
        ("msrp_mixer_participants", 3.0),
        ("msrp_mixer_sessions", 3.0),
        ("msrp_mixer_connections_open", 3.0),
        ("msrp_mixer_connections_accepted_total", 3.0),
        ("msrp_mixer_messages_total{kind=\"public\"}", 2.0),
        ("msrp_mixer_messages_total{kind=\"private\"}", 1.0),
        ("msrp_mixer_messages_total{kind=\"iscomposing\"}", 1.0),
        // 2 x 2 public, 1 private, 2 isComposing.
        ("msrp_mixer_deliveries_total", 7.0),
        ("msrp_mixer_refused_total{status=\"415\"}", 1.0),
        ("msrp_mixer_nicknames_total{status=\"200\"}", 1.0),
        ("msrp_mixer_nicknames_total{status=\"425\"}", 1.0),
        (
            "msrp_mixer_delivery_failures_total{reason=\"queue_full\"}",
            0.0,
        ),
    ];
    for (name, value) in want {
        assert_eq!(sample(&text, name), value, "{name}\n{text}");
    }
    // One latency sample per piece switched: at least the four messages'.
    assert!(
        sample(&text, "msrp_mixer_fanout_latency_seconds_count") >= 4.0,
        "{text}"
    );

    // Leaving moves the gauges back.
    drop(carol);
    let mut closed = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let _ = h.room("lobby").await;
        let text = h.metrics().encode_text();
        if sample(&text, "msrp_mixer_participants") == 2.0
            && sample(&text, "msrp_mixer_connections_open") == 2.0
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "{}", h.metrics().encode_text());
}
