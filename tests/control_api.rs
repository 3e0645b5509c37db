//! The control API of the real `msrpd` binary over 127.0.0.1: happy paths (join, room
//! listing and details, create and delete rooms, leave) and every error path, each a JSON body
//! with a reason.

mod support;

use support::*;

fn offer(accept: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7000 TCP/MSRP *\r\na=accept-types:{accept}\r\n\
         a=accept-wrapped-types:text/plain\r\n\
         a=path:msrp://client.example.com:7000/s1;tcp\r\na=setup:active\r\n"
    )
}

fn join_body(participant: &str, sdp: &str) -> String {
    format!(
        "{{\"participant\": {}, \"sdp\": {}}}",
        json_str(participant),
        json_str(sdp)
    )
}

/// Asserts a JSON error answer with `status` whose reason mentions `word`.
fn assert_error(r: &Reply, status: u16, word: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let reason = r.json()["error"].as_str().expect("error reason").to_owned();
    assert!(
        reason.to_lowercase().contains(&word.to_lowercase()),
        "{reason:?} should mention {word:?}"
    );
}

#[tokio::test]
async fn the_control_api_works_and_refuses_clearly() {
    let mut d = Daemon::start(&config("[mixer]\nauto_create = false\n")).await;

    // Health.
    let r = d.http("GET", "/healthz", None, None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    assert_eq!(d.http("GET", "/readyz", None, None).await.status, 200);

    // The token: missing, wrong, then right.
    let r = d.http("GET", "/v1/rooms", None, None).await;
    assert_error(&r, 401, "token");
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"msrpd\""));
    assert_error(
        &d.http("GET", "/v1/rooms", Some("nope"), None).await,
        401,
        "token",
    );
    let r = d.api("GET", "/v1/rooms", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["rooms"], serde_json::json!(["lobby"]));

    // Join: a good offer gets an answer whose path is ours, and an id.
    let r = d
        .api(
            "POST",
            "/v1/rooms/lobby/participants",
            Some(&join_body("sip:alice@example.com", &offer("message/cpim"))),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let j = r.json();
    let sdp = j["sdp"].as_str().expect("sdp");
    assert!(sdp.contains("a=accept-types:message/cpim"), "{sdp}");
    assert!(sdp.contains("a=setup:passive"), "{sdp}");
    let path = j["path"].as_str().expect("path");
    assert!(sdp.contains(&format!("a=path:{path}")), "{sdp}");
    assert!(path.starts_with(&format!("msrp://localhost:{}/", d.msrp.port())));
    let id = j["id"].as_str().expect("id").to_owned();
    let r = d.api("GET", "/v1/rooms/lobby", None).await;
    assert_eq!(r.status, 200);
    let room = r.json();
    assert_eq!(room["participants"][0]["uri"], "sip:alice@example.com");
    assert_eq!(room["sessions"], 1);

    // Bad joins.
    assert_error(
        &d.api(
            "POST",
            "/v1/rooms/lobby/participants",
            Some(&join_body("sip:bob@example.com", "this is not SDP")),
        )
        .await,
        400,
        "",
    );
    let r = d
        .api(
            "POST",
            "/v1/rooms/lobby/participants",
            Some(&join_body("sip:bob@example.com", &offer("text/plain"))),
        )
        .await;
    assert_error(&r, 422, "message/cpim");
    assert_eq!(r.json()["sip_status"], 488, "{}", r.body);
    // TCP/TLS/MSRP without a TLS listener (RFC 4975 §14): refused, 488.
    let tls_offer = offer("message/cpim").replace("TCP/MSRP", "TCP/TLS/MSRP");
    let r = d
        .api(
            "POST",
            "/v1/rooms/lobby/participants",
            Some(&join_body("sip:bob@example.com", &tls_offer)),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["sip_status"], 488, "{}", r.body);
    let r = d
        .api(
            "POST",
            "/v1/rooms/nosuch/participants",
            Some(&join_body("sip:bob@example.com", &offer("message/cpim"))),
        )
        .await;
    assert_error(&r, 404, "nosuch");
    assert_eq!(r.json()["sip_status"], 404);
    assert_error(
        &d.api(
            "POST",
            "/v1/rooms/lobby/participants",
            Some("{\"participant\": 1"),
        )
        .await,
        400,
        "",
    );
    assert_error(
        &d.api(
            "POST",
            "/v1/rooms/lobby/participants",
            Some("{\"participant\": \"sip:x@y\", \"sdp\": \"\", \"extra\": 1}"),
        )
        .await,
        400,
        "extra",
    );
    assert_error(
        &d.api(
            "POST",
            "/v1/rooms/lobby/participants",
            Some(&join_body("not a uri", &offer("message/cpim"))),
        )
        .await,
        400,
        "participant",
    );

    // Rooms: create, duplicate, bad name, show, delete twice.
    let r = d
        .api(
            "POST",
            "/v1/rooms",
            Some("{\"name\": \"ops\", \"history\": 0}"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_error(
        &d.api("POST", "/v1/rooms", Some("{\"name\": \"ops\"}"))
            .await,
        409,
        "ops",
    );
    assert_error(
        &d.api("POST", "/v1/rooms", Some("{\"name\": \"a b\"}"))
            .await,
        400,
        "room name",
    );
    let r = d.api("GET", "/v1/rooms", None).await;
    assert_eq!(r.json()["rooms"], serde_json::json!(["lobby", "ops"]));
    assert_eq!(d.metric_eventually("msrp_mixer_rooms", "", 2.0).await, 2.0);
    assert_eq!(d.api("DELETE", "/v1/rooms/ops", None).await.status, 204);
    assert_error(&d.api("DELETE", "/v1/rooms/ops", None).await, 404, "ops");
    assert_error(&d.api("GET", "/v1/rooms/ops", None).await, 404, "ops");
    assert_eq!(
        d.metric_eventually("msrp_mixer_rooms", "", 1.0).await,
        1.0,
        "the deleted room's task ended"
    );

    // Leave.
    assert_eq!(
        d.api("DELETE", &format!("/v1/participants/{id}"), None)
            .await
            .status,
        204
    );
    assert_error(
        &d.api("DELETE", &format!("/v1/participants/{id}"), None)
            .await,
        404,
        "participant",
    );

    // Anything else.
    assert_error(&d.api("GET", "/v2/whatever", None).await, 404, "route");
    let counted = d
        .metric(
            "msrp_daemon_http_requests_total",
            "route=\"/v1/rooms\",status=\"401\"",
        )
        .await;
    assert_eq!(counted, 2.0);

    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}

/// Deleting a room ends the sessions in it: their connections get 481 for what they send next.
#[tokio::test]
async fn deleting_a_room_removes_its_participants() {
    let mut d = Daemon::start(&config("[mixer]\ndomain = \"chat.example.com\"\n")).await;
    assert_eq!(
        d.api("POST", "/v1/rooms", Some("{\"name\": \"temp\"}"))
            .await
            .status,
        201
    );
    let own = support::chat::own_uri("alice");
    let sdp = offer("message/cpim").replace("msrp://client.example.com:7000/s1;tcp", own.as_str());
    let r = d
        .api(
            "POST",
            "/v1/rooms/temp/participants",
            Some(&join_body(&support::chat::user_uri("alice"), &sdp)),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let j = r.json();
    let joined = msrp_mixer::server::Joined {
        id: j["id"].as_str().expect("id").to_owned(),
        room: "temp".into(),
        answer: j["sdp"].as_str().expect("sdp").as_bytes().to_vec(),
        local: j["path"].as_str().expect("path").parse().expect("uri"),
    };
    let mut alice = support::chat::connect(d.msrp, "alice", &joined).await;
    alice.bind().await;
    assert_eq!(d.api("DELETE", "/v1/rooms/temp", None).await.status, 204);
    let h = alice.say(&support::chat::room_uri("temp"), "anyone?").await;
    assert_eq!(alice.status_of(&h).await, msrp::StatusCode::NO_SUCH_SESSION);
    assert_eq!(
        d.metric_eventually("msrp_mixer_participants", "", 0.0)
            .await,
        0.0
    );
    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}

/// `http.header_timeout_secs`: a client that sends nothing, or a header block it never ends,
/// is disconnected; others are served meanwhile.
#[tokio::test]
async fn slow_http_clients_are_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let text = config("").replace("[http]\n", "[http]\nheader_timeout_secs = 1\n");
    let mut d = Daemon::start(&text).await;
    // Closed (EOF or reset) within `ms`, having read and dropped anything sent before.
    async fn closed_within(s: &mut tokio::net::TcpStream, ms: u64) -> bool {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
    let mut silent = tokio::net::TcpStream::connect(d.http)
        .await
        .expect("connect");
    let mut slow = tokio::net::TcpStream::connect(d.http)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    assert!(
        !closed_within(&mut silent, 400).await,
        "not before the timeout"
    );
    assert_eq!(d.http("GET", "/healthz", None, None).await.status, 200);
    assert!(closed_within(&mut silent, 3000).await, "silent client");
    assert!(
        closed_within(&mut slow, 3000).await,
        "unfinished header block"
    );
    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}
