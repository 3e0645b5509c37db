//! The daemon's second MSRP listener, TLS (`msrps`, RFC 4975 §14, RFC 4976 §9.2), with a test
//! certificate (rcgen): a client AUTHs over TLS (AUTH over plain TCP is refused, 4976-002),
//! joins `lobby` through the relay and gets room traffic over TLS.

mod support;

use std::sync::Arc;

use bytes::BytesMut;
use msrp::transport::{EventReader, MsrpCodec};
use msrp::{
    ByteRange, DecoderConfig, Flag, Head, Header, IdGenerator, Method, MsrpUri, StatusCode,
};
use support::chat::{self, cpim, read_frame, room_uri, user_uri};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost`, written to `dir`; its DER for the client.
fn certificate(dir: &TempDir) -> (String, rustls_pki_types::CertificateDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("rcgen");
    let cert = dir.file("cert.pem", &ck.cert.pem());
    let key = dir.file("key.pem", &ck.key_pair.serialize_pem());
    let toml = format!(
        "[msrp.tls]\nlisten = \"127.0.0.1:0\"\ncert = {:?}\nkey = {:?}\n",
        cert.to_str().expect("path"),
        key.to_str().expect("path")
    );
    (toml, ck.cert.der().clone())
}

fn connector(root: rustls_pki_types::CertificateDer<'static>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).expect("root");
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

#[tokio::test]
async fn a_client_auths_over_tls_and_chats_through_the_relay() {
    let certs = TempDir::new("tls");
    let (tls_toml, root) = certificate(&certs);
    let mut d = Daemon::start(&config(&format!(
        "{tls_toml}[relay]\nallow_auth_over_tcp = false\n[mixer]\ndomain = \"chat.example.com\"\n"
    )))
    .await;
    let tls_addr = d.msrps.expect("msrps line");
    let lobby = room_uri("lobby");
    let own = chat::own_uri("carol");

    // AUTH over plain TCP: 403 (RFC 4976 §9.4, 4976-002).
    let mut tcp = TcpStream::connect(d.msrp).await.expect("connect");
    let relay_tcp: MsrpUri = format!("msrp://localhost:{};tcp", d.msrp.port())
        .parse()
        .expect("uri");
    let auth = Head::request(
        Method::Auth,
        IdGenerator::new().next_id(),
        msrp::path![relay_tcp],
        msrp::path![own.clone()],
    );
    let mut b = BytesMut::new();
    msrp::encode::frame(&auth, None, Flag::Last, &mut b);
    tcp.write_all(&b).await.expect("write");
    let (r, _w) = tcp.split();
    let mut r = EventReader::new(r, MsrpCodec::new(DecoderConfig::default()));
    let f = tokio::time::timeout(chat::WAIT, read_frame(&mut r))
        .await
        .expect("answer")
        .expect("frame");
    assert_eq!(f.head.status(), Some(StatusCode::FORBIDDEN));

    // Over TLS it works.
    let s = TcpStream::connect(tls_addr).await.expect("connect tls");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let mut s = connector(root.clone())
        .connect(name.clone(), s)
        .await
        .expect("TLS handshake");
    let relay: MsrpUri = format!("msrps://localhost:{};tcp", tls_addr.port())
        .parse()
        .expect("uri");
    let use_path = chat::auth(&mut s, &relay, &own, ("carol", "carol-demo", "localhost")).await;
    assert!(
        use_path.is_secure(),
        "an msrps Use-Path URI: {}",
        use_path.as_str()
    );
    assert_eq!(use_path.port(), Some(tls_addr.port()));

    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7000 TCP/TLS/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain\r\n\
         a=path:{} {}\r\na=setup:active\r\n",
        use_path.as_str(),
        own.as_str()
    );
    let body = format!(
        "{{\"participant\": {}, \"sdp\": {}}}",
        json_str(&user_uri("carol")),
        json_str(&sdp)
    );
    let r = d
        .api("POST", "/v1/rooms/lobby/participants", Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mixer_uri: MsrpUri = r.json()["path"]
        .as_str()
        .expect("path")
        .parse()
        .expect("uri");

    // Bind through the relay, over TLS.
    let (r, mut w) = tokio::io::split(s);
    let mut r = EventReader::new(r, MsrpCodec::new(DecoderConfig::default()));
    let mut ids = IdGenerator::new();
    let bind = Head::request(
        Method::Send,
        ids.next_id(),
        msrp::path![use_path.clone(), mixer_uri],
        msrp::path![own.clone()],
    )
    .with(Header::MessageId(ids.next_id()))
    .with(Header::ByteRange(ByteRange::whole(0)));
    let mut b = BytesMut::new();
    msrp::encode::frame(&bind, None, Flag::Last, &mut b);
    w.write_all(&b).await.expect("write");
    let f = tokio::time::timeout(chat::WAIT, read_frame(&mut r))
        .await
        .expect("answer")
        .expect("frame");
    assert_eq!(f.head.tid, bind.tid);
    assert_eq!(f.head.status(), Some(StatusCode::OK));

    // A participant on plain TCP speaks; carol gets it over TLS.
    let joined = {
        let own = chat::own_uri("alice");
        let sdp = sdp
            .replace(
                &format!("{} {}", use_path.as_str(), chat::own_uri("carol").as_str()),
                own.as_str(),
            )
            .replace("TCP/TLS/MSRP", "TCP/MSRP");
        let body = format!(
            "{{\"participant\": {}, \"sdp\": {}}}",
            json_str(&user_uri("alice")),
            json_str(&sdp)
        );
        let r = d
            .api("POST", "/v1/rooms/lobby/participants", Some(&body))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let j = r.json();
        msrp_mixer::server::Joined {
            id: j["id"].as_str().expect("id").to_owned(),
            room: "lobby".into(),
            answer: j["sdp"].as_str().expect("sdp").as_bytes().to_vec(),
            local: j["path"].as_str().expect("path").parse().expect("uri"),
        }
    };
    let mut alice = chat::connect(d.msrp, "alice", &joined).await;
    alice.bind().await;
    alice.say_ok(&lobby, "hello carol").await;
    let f = tokio::time::timeout(chat::WAIT, read_frame(&mut r))
        .await
        .expect("a copy")
        .expect("frame");
    assert!(f.head.is_send(), "{:?}", f.head);
    assert_eq!(
        f.body.as_deref(),
        Some(&cpim(&user_uri("alice"), &lobby, "hello carol")[..])
    );
    assert_eq!(f.head.to_path(), &[own][..], "the relay popped its URI");
    // A participant without a relay, over TLS: its `TCP/TLS/MSRP` offer gets the TLS
    // listener's `msrps` session URI (RFC 4975 §14).
    let dave_own: MsrpUri = "msrps://dave.example.com:7000/daves1;tcp"
        .parse()
        .expect("uri");
    let dave_sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7000 TCP/TLS/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain\r\na=path:{}\r\na=setup:active\r\n",
        dave_own.as_str()
    );
    let body = format!(
        "{{\"participant\": {}, \"sdp\": {}}}",
        json_str(&user_uri("dave")),
        json_str(&dave_sdp)
    );
    let r = d
        .api("POST", "/v1/rooms/lobby/participants", Some(&body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let dave_mixer: MsrpUri = r.json()["path"]
        .as_str()
        .expect("path")
        .parse()
        .expect("uri");
    assert!(dave_mixer.is_secure(), "{}", dave_mixer.as_str());
    assert_eq!(dave_mixer.port(), Some(tls_addr.port()));
    assert!(
        r.json()["sdp"]
            .as_str()
            .expect("sdp")
            .contains("TCP/TLS/MSRP")
    );
    let s = TcpStream::connect(tls_addr).await.expect("connect tls");
    let s = connector(root)
        .connect(name, s)
        .await
        .expect("TLS handshake");
    let (dr, mut dw) = tokio::io::split(s);
    let mut dr = EventReader::new(dr, MsrpCodec::new(DecoderConfig::default()));
    let bind = Head::request(
        Method::Send,
        ids.next_id(),
        msrp::path![dave_mixer],
        msrp::path![dave_own.clone()],
    )
    .with(Header::MessageId(ids.next_id()))
    .with(Header::ByteRange(ByteRange::whole(0)));
    let mut b = BytesMut::new();
    msrp::encode::frame(&bind, None, Flag::Last, &mut b);
    dw.write_all(&b).await.expect("write");
    let f = tokio::time::timeout(chat::WAIT, read_frame(&mut dr))
        .await
        .expect("answer")
        .expect("frame");
    assert_eq!(f.head.status(), Some(StatusCode::OK));
    // The room's history first (alice's earlier message), then what alice says now.
    let history = tokio::time::timeout(chat::WAIT, read_frame(&mut dr))
        .await
        .expect("history")
        .expect("frame");
    assert_eq!(
        history.body.as_deref(),
        Some(&cpim(&user_uri("alice"), &lobby, "hello carol")[..])
    );
    alice.say_ok(&lobby, "hello dave").await;
    let f = tokio::time::timeout(chat::WAIT, read_frame(&mut dr))
        .await
        .expect("a copy")
        .expect("frame");
    assert_eq!(
        f.body.as_deref(),
        Some(&cpim(&user_uri("alice"), &lobby, "hello dave")[..])
    );
    assert_eq!(f.head.to_path(), &[dave_own][..]);
    assert_eq!(
        d.metric_eventually("msrp_daemon_connections_total", "role=\"mixer\"", 2.0)
            .await,
        2.0,
        "alice over TCP, dave over TLS"
    );

    assert_eq!(
        d.metric_eventually("msrp_daemon_connections_total", "role=\"relay\"", 2.0)
            .await,
        2.0,
        "the TCP AUTH and the TLS one"
    );
    assert_eq!(
        d.metric_eventually(
            "msrp_relay_connections_accepted_total",
            "transport=\"tls\"",
            1.0
        )
        .await,
        1.0
    );
    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}
