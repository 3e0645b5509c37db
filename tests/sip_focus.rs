//! The SIP focus of the real daemon over raw UDP and TCP sockets on 127.0.0.1: what sipp
//! cannot easily show (`tests/sip_sipp.rs` has the sipp scenarios). The 2xx retransmitted until
//! its ACK over UDP and a retransmitted INVITE not joining twice (RFC 3261 §13.3.1.4, RFC 6026);
//! malformed requests answered with their status (§8.2, §18.3); a participant whose MSRP
//! connection is lost gets a BYE (§15.1.1).
#![cfg(feature = "sip")]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use msrpd::sip::message::{Framed, Limits, Message, parse_datagram, parse_stream};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(5);

/// An MSRP offer whose path is `own` (RFC 4975 §8.1), `a=setup:active`: we connect.
fn offer(own: &str) -> String {
    format!(
        "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain\r\na=setup:active\r\na=path:{own}\r\n"
    )
}

/// A request from Alice at `me` over `transport`.
fn request(
    method: &str,
    transport: &str,
    me: SocketAddr,
    branch: &str,
    cseq: u32,
    to_tag: Option<&str>,
    body: &str,
) -> String {
    let to = match to_tag {
        Some(t) => format!("<sip:lobby@localhost>;tag={t}"),
        None => "<sip:lobby@localhost>".to_owned(),
    };
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:lobby@localhost SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {me};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@localhost>;tag=al1\r\n\
         To: {to}\r\n\
         Call-ID: call-{}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:alice@{me};transport={transport}>\r\n\
         {ctype}Content-Length: {}\r\n\r\n{body}",
        me.port(),
        body.len()
    )
}

async fn recv_udp(sock: &UdpSocket) -> Message {
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .expect("a datagram in time")
        .expect("recv");
    parse_datagram(&buf[..n], &Limits::default()).expect("the focus sends SIP")
}

/// Reads SIP messages off a TCP stream.
struct SipStream {
    s: TcpStream,
    buf: Vec<u8>,
}

impl SipStream {
    async fn next(&mut self) -> Option<Message> {
        loop {
            match parse_stream(&self.buf, &Limits::default()).expect("the focus sends SIP") {
                Some(Framed::Message(m, used)) => {
                    self.buf.drain(..used);
                    return Some(m);
                }
                Some(Framed::Ping(used) | Framed::Skip(used)) => {
                    self.buf.drain(..used);
                }
                None => {
                    let mut chunk = [0u8; 4096];
                    let n = tokio::time::timeout(WAIT, self.s.read(&mut chunk))
                        .await
                        .expect("SIP data in time")
                        .ok()?;
                    if n == 0 {
                        return None;
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }

    async fn send(&mut self, text: &str) {
        self.s.write_all(text.as_bytes()).await.expect("write");
    }
}

/// RFC 3261 §13.3.1.4 over UDP (T1 = 100 ms here): the 200 comes again until the ACK; the
/// INVITE sent again is absorbed (RFC 6026 §7.1: no second participant); after the ACK the
/// retransmissions stop; BYE leaves.
#[tokio::test]
async fn udp_2xx_retransmitted_until_ack() {
    let d = Daemon::start(&config(
        "[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"\"\nt1_ms = 100\n",
    ))
    .await;
    let focus = d.sip_udp.expect("SIP UDP listener");
    assert!(d.sip_tcp.is_none(), "tcp = \"\" turns TCP off");
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let me = sock.local_addr().expect("addr");
    let invite = request(
        "INVITE",
        "UDP",
        me,
        "z9hG4bKu1",
        1,
        None,
        &offer("msrp://127.0.0.1:9/u1;tcp"),
    );
    sock.send_to(invite.as_bytes(), focus).await.expect("send");
    assert_eq!(recv_udp(&sock).await.code(), Some(100));
    let ok = recv_udp(&sock).await;
    assert_eq!(ok.code(), Some(200));
    let tag = ok
        .to()
        .and_then(|t| t.tag().map(str::to_owned))
        .expect("tag");
    // Retransmissions of the 200 at T1, 2·T1, 4·T1 (100, 200, 400 ms).
    for _ in 0..3 {
        let again = recv_udp(&sock).await;
        assert_eq!(again.code(), Some(200));
        assert_eq!(again.to().unwrap().tag(), Some(tag.as_str()));
    }
    // The INVITE again: absorbed.
    sock.send_to(invite.as_bytes(), focus).await.expect("send");
    let ack = request("ACK", "UDP", me, "z9hG4bKu2", 1, Some(&tag), "");
    sock.send_to(ack.as_bytes(), focus).await.expect("send");
    // Whatever was in flight arrives; then nothing for 1 s (more than 2·T1 ... 8·T1 would be).
    let mut buf = vec![0u8; 65_535];
    let quiet = async {
        loop {
            let (n, _) = sock.recv_from(&mut buf).await.expect("recv");
            let m = parse_datagram(&buf[..n], &Limits::default()).expect("SIP");
            assert_eq!(m.code(), Some(200), "only 200s in flight: {m:?}");
        }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = tokio::time::timeout(Duration::from_millis(1600), quiet).await;
    // One session: the INVITE sent again did not join a second time.
    assert_eq!(d.metric("msrp_mixer_sessions", "").await, 1.0);
    assert_eq!(d.metric("msrp_sip_dialogs", "").await, 1.0);
    assert!(d.metric("msrp_sip_retransmissions_total", "").await >= 3.0);

    let bye = request("BYE", "UDP", me, "z9hG4bKu3", 2, Some(&tag), "");
    sock.send_to(bye.as_bytes(), focus).await.expect("send");
    let r = loop {
        let m = recv_udp(&sock).await;
        if m.cseq().map(|c| c.seq) == Some(2) {
            break m;
        }
    };
    assert_eq!(r.code(), Some(200));
    assert_eq!(
        d.metric_eventually("msrp_mixer_participants", "", 0.0)
            .await,
        0.0
    );
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 0.0).await, 0.0);
}

/// §8.2 / §18.3: a request that parses badly but whose Via can be read gets its status (400
/// for a missing Call-ID, 505 for SIP/3.0); over TCP a framed bad message is skipped and the
/// connection goes on, and bytes that are not SIP close it.
#[tokio::test]
async fn malformed_requests_get_their_status() {
    let d = Daemon::start(&config("")).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let me = sock.local_addr().expect("addr");
    let udp = d.sip_udp.expect("udp");
    let mismatch = request("OPTIONS", "UDP", me, "z9hG4bKm1", 1, None, "")
        .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    sock.send_to(mismatch.as_bytes(), udp).await.expect("send");
    let r = recv_udp(&sock).await;
    assert_eq!(r.code(), Some(400));
    assert!(
        r.header("Warning").is_some_and(|w| w.contains("CSeq")),
        "{r:?}"
    );
    // Without a Call-ID no answer could be matched: none is sent (the next datagram is the
    // answer to what follows).
    let no_call_id = request("OPTIONS", "UDP", me, "z9hG4bKm0", 1, None, "")
        .replace(&format!("Call-ID: call-{}\r\n", me.port()), "");
    sock.send_to(no_call_id.as_bytes(), udp)
        .await
        .expect("send");
    let v3 = request("OPTIONS", "UDP", me, "z9hG4bKm2", 1, None, "")
        .replace("SIP/2.0\r\n", "SIP/3.0\r\n");
    sock.send_to(v3.as_bytes(), udp).await.expect("send");
    assert_eq!(recv_udp(&sock).await.code(), Some(505));

    let tcp = d.sip_tcp.expect("tcp");
    let s = TcpStream::connect(tcp).await.expect("connect");
    let me = s.local_addr().expect("addr");
    let mut s = SipStream { s, buf: Vec::new() };
    let mismatch = request("OPTIONS", "TCP", me, "z9hG4bKm3", 1, None, "")
        .replace("CSeq: 1 OPTIONS", "CSeq: 1 BYE");
    s.send(&mismatch).await;
    assert_eq!(s.next().await.expect("an answer").code(), Some(400));
    s.send(&request("OPTIONS", "TCP", me, "z9hG4bKm4", 1, None, ""))
        .await;
    let r = s.next().await.expect("an answer");
    assert_eq!((r.code(), r.header("Allow").is_some()), (Some(200), true));
    // A CRLF CRLF keep-alive gets a CRLF (RFC 5626 §4.4.1).
    s.send("\r\n\r\n").await;
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, s.s.read_exact(&mut pong))
        .await
        .expect("pong in time")
        .expect("pong");
    assert_eq!(&pong, b"\r\n");
    s.send("\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03").await;
    assert!(s.next().await.is_none(), "not SIP: closed");
    assert!(
        d.metric_eventually("msrp_sip_malformed_total", "transport=\"tcp\"", 2.0)
            .await
            >= 2.0
    );
    assert!(
        d.metric("msrp_sip_malformed_total", "transport=\"udp\"")
            .await
            >= 2.0
    );
}

/// RFC 7701 §5 / RFC 3261 §15.1.1: a participant joined by INVITE over TCP binds its MSRP
/// session; when that MSRP connection is lost the room drops the session and the focus ends
/// the dialog with a BYE.
#[tokio::test]
async fn lost_msrp_connection_ends_the_dialog() {
    let d = Daemon::start(&config("")).await;
    let s = TcpStream::connect(d.sip_tcp.expect("tcp"))
        .await
        .expect("connect");
    let me = s.local_addr().expect("addr");
    let mut sip = SipStream { s, buf: Vec::new() };
    let own = "msrp://127.0.0.1:9/tcp1;tcp";
    sip.send(&request(
        "INVITE",
        "TCP",
        me,
        "z9hG4bKt1",
        1,
        None,
        &offer(own),
    ))
    .await;
    let ok = loop {
        let m = sip.next().await.expect("an answer");
        if m.code() != Some(100) {
            break m;
        }
    };
    assert_eq!(ok.code(), Some(200));
    let tag = ok
        .to()
        .and_then(|t| t.tag().map(str::to_owned))
        .expect("tag");
    sip.send(&request("ACK", "TCP", me, "z9hG4bKt2", 1, Some(&tag), ""))
        .await;
    let room = chat::answer_path(&ok.body);

    // Bind (RFC 4975 §5.4) with a bodiless SEND on the answer's path.
    let mut msrp = TcpStream::connect(d.msrp).await.expect("MSRP connect");
    let bind = format!(
        "MSRP bind1 SEND\r\nTo-Path: {room}\r\nFrom-Path: {own}\r\nMessage-ID: msg1\r\n\
         Byte-Range: 1-0/0\r\n-------bind1$\r\n"
    );
    msrp.write_all(bind.as_bytes()).await.expect("bind");
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("-------bind1$") {
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(WAIT, msrp.read(&mut chunk))
            .await
            .expect("bind answer in time")
            .expect("read");
        assert!(
            n > 0,
            "MSRP connection closed: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&chunk[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("MSRP bind1 200"),
        "{got:?}"
    );
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 1.0).await, 1.0);

    drop(msrp);
    let bye = sip.next().await.expect("a BYE from the focus");
    assert_eq!(bye.method(), Some(&msrpd::sip::message::Method::Bye));
    assert_eq!(bye.from().unwrap().tag(), Some(tag.as_str()));
    assert_eq!(bye.to().unwrap().tag(), Some("al1"));
    let ok = Message::response_to(&bye, 200, "OK", None);
    sip.s
        .write_all(&ok.to_bytes())
        .await
        .expect("200 to the BYE");
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 0.0).await, 0.0);
    assert_eq!(
        d.metric_eventually(
            "msrp_sip_responses_total",
            "direction=\"in\",method=\"BYE\",status=\"200\"",
            1.0
        )
        .await,
        1.0
    );
}

/// RFC 7701 §5 (via the mixer's policy): a full room answers 486 Busy Here, with a To tag,
/// retransmitted over UDP until the ACK for it comes (RFC 3261 §17.2.1, Timer G).
#[tokio::test]
async fn full_room_is_busy_here() {
    let d = Daemon::start(&config(
        "[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"\"\nt1_ms = 100\n\
         [[mixer.rooms]]\nname = \"lobby\"\nmax_participants = 1\n",
    ))
    .await;
    let focus = d.sip_udp.expect("udp");
    let a = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let me = a.local_addr().expect("addr");
    let invite = request(
        "INVITE",
        "UDP",
        me,
        "z9hG4bKf1",
        1,
        None,
        &offer("msrp://127.0.0.1:9/f1;tcp"),
    );
    a.send_to(invite.as_bytes(), focus).await.expect("send");
    assert_eq!(recv_udp(&a).await.code(), Some(100));
    assert_eq!(recv_udp(&a).await.code(), Some(200));

    let b = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let me = b.local_addr().expect("addr");
    let invite = request(
        "INVITE",
        "UDP",
        me,
        "z9hG4bKf2",
        1,
        None,
        &offer("msrp://127.0.0.1:9/f2;tcp"),
    )
    .replace("<sip:alice@localhost>", "<sip:bob@localhost>");
    b.send_to(invite.as_bytes(), focus).await.expect("send");
    assert_eq!(recv_udp(&b).await.code(), Some(100));
    let busy = recv_udp(&b).await;
    assert_eq!(busy.code(), Some(486));
    let tag = busy
        .to()
        .and_then(|t| t.tag().map(str::to_owned))
        .expect("a To tag");
    // Not ACKed: Timer G sends it again after T1.
    assert_eq!(recv_udp(&b).await.code(), Some(486));
    // The ACK for a non-2xx has the INVITE's branch (§17.1.1.3).
    let ack = request("ACK", "UDP", me, "z9hG4bKf2", 1, Some(&tag), "");
    b.send_to(ack.as_bytes(), focus).await.expect("send");
    assert_eq!(
        d.metric_eventually(
            "msrp_sip_responses_total",
            "direction=\"out\",method=\"INVITE\",status=\"486\"",
            1.0
        )
        .await,
        1.0
    );
}

/// §18.2.2 over TCP: a request followed at once by the client's half-close still gets its
/// answer on the connection (the focus drops the writer only after answering).
#[tokio::test]
async fn tcp_answer_after_half_close() {
    let d = Daemon::start(&config("")).await;
    for i in 0..10 {
        let mut s = TcpStream::connect(d.sip_tcp.expect("tcp"))
            .await
            .expect("connect");
        let me = s.local_addr().expect("addr");
        let branch = format!("z9hG4bKh{i}");
        let text = request("OPTIONS", "TCP", me, &branch, 1, None, "");
        s.write_all(text.as_bytes()).await.expect("write");
        s.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        tokio::time::timeout(WAIT, s.read_to_end(&mut got))
            .await
            .expect("closed in time")
            .expect("read");
        let r = parse_datagram(&got, &Limits::default()).expect("one SIP response");
        assert_eq!(r.code(), Some(200), "round {i}");
    }
}

/// `[sip] max_connections`, `max_head` and `max_body` are enforced: a TCP connection beyond the
/// limit is closed at once while the open one is served; a body over the limit gets 413 and a
/// header block over it 513 (RFC 3261 §21.4.11, §21.5.9).
#[tokio::test]
async fn sip_limits_are_enforced() {
    let d = Daemon::start(&config(
        "[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\nmax_connections = 1\n\
         max_head = 1024\nmax_body = 100\n",
    ))
    .await;
    let tcp = d.sip_tcp.expect("tcp");
    let first = TcpStream::connect(tcp).await.expect("connect");
    let me = first.local_addr().expect("addr");
    let mut first = SipStream {
        s: first,
        buf: Vec::new(),
    };
    first
        .send(&request("OPTIONS", "TCP", me, "z9hG4bKl1", 1, None, ""))
        .await;
    assert_eq!(first.next().await.expect("answer").code(), Some(200));
    let mut second = TcpStream::connect(tcp).await.expect("connect");
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(WAIT, second.read(&mut byte))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "a connection over sip.max_connections is closed");

    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let me = sock.local_addr().expect("addr");
    let udp = d.sip_udp.expect("udp");
    let big_body = request("OPTIONS", "UDP", me, "z9hG4bKl2", 1, None, &"x".repeat(101));
    sock.send_to(big_body.as_bytes(), udp).await.expect("send");
    assert_eq!(recv_udp(&sock).await.code(), Some(413));
    let big_head = request("OPTIONS", "UDP", me, "z9hG4bKl3", 1, None, "").replacen(
        "Content-Length: 0\r\n",
        &format!("X-Pad: {}\r\nContent-Length: 0\r\n", "p".repeat(1100)),
        1,
    );
    // The headers needed to answer come before the padding, within sip.max_head.
    sock.send_to(big_head.as_bytes(), udp).await.expect("send");
    assert_eq!(recv_udp(&sock).await.code(), Some(513));
}
