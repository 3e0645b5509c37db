//! The mixer over real TCP sockets on 127.0.0.1: participants join a room by SDP offer/answer
//! ([`MixerHandle::join`]), bind their sessions with a bodiless SEND (RFC 4975 §5.4), and chat.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use msrp::transport::{EventReader, MsrpCodec};
use msrp::{
    ByteRange, ByteString, DecoderConfig, Event, Flag, Frame, Head, Header, IdGenerator, Method,
    MsrpUri, StatusCode,
};
use msrp_mixer::config::MixerConfig;
use msrp_mixer::server::{Mixer, MixerHandle};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A participant: its connection to the mixer and its session.
struct Participant {
    r: EventReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    /// Its own session URI (its `a=path`).
    own: MsrpUri,
    /// The mixer's session URI for it (the answer's path).
    mixer: MsrpUri,
    /// Its user URI.
    user: String,
    ids: IdGenerator,
}

/// An SDP offer of `own` for a chat room (`a=setup:active`: the participant connects).
fn offer(own: &MsrpUri, private: bool) -> String {
    let chat = if private {
        "a=chatroom:nickname private-messages\r\n"
    } else {
        "a=chatroom:nickname\r\n"
    };
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain application/im-iscomposing+xml\r\n\
         a=path:{}\r\na=setup:active\r\n{chat}",
        own.port().unwrap_or(9),
        own.as_str()
    )
}

/// The mixer's session URI in an answer (the last `a=path` URI).
fn answer_path(answer: &[u8]) -> MsrpUri {
    let text = std::str::from_utf8(answer).expect("utf-8");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("a=path in the answer");
    line.split(' ')
        .next_back()
        .expect("uri")
        .parse()
        .expect("uri")
}

async fn start() -> (MixerHandle, SocketAddr) {
    let mixer = Mixer::bind(MixerConfig::new("127.0.0.1", "chat.example.com"))
        .await
        .expect("bind");
    let addr = mixer.local_addr().expect("addr");
    let handle = mixer.handle();
    mixer.spawn();
    (handle, addr)
}

/// Joins `name` to `room` and binds its session with a bodiless SEND (answered 200).
async fn join(h: &MixerHandle, addr: SocketAddr, room: &str, name: &str) -> Participant {
    let own: MsrpUri = format!("msrp://{name}.example.com:7000/{name}s1;tcp")
        .parse()
        .expect("uri");
    let user = format!("sip:{name}@example.com");
    let joined = h
        .join(room, &user, offer(&own, true).as_bytes())
        .await
        .expect("joined");
    let mixer = answer_path(&joined.answer);
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let (r, w) = s.into_split();
    let mut p = Participant {
        r: EventReader::new(r, MsrpCodec::new(DecoderConfig::default())),
        w,
        own,
        mixer,
        user,
        ids: IdGenerator::new(),
    };
    let bind = p.head(0).with(Header::ByteRange(ByteRange::whole(0)));
    p.write(&bind, None).await;
    let ok = p.recv().await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
    p
}

impl Participant {
    /// A SEND head from this participant to the mixer.
    fn head(&mut self, _len: usize) -> Head {
        Head::request(
            Method::Send,
            self.ids.next_id(),
            msrp::path![self.mixer.clone()],
            msrp::path![self.own.clone()],
        )
        .with(Header::MessageId(self.ids.next_id()))
    }

    async fn write(&mut self, head: &Head, body: Option<&[u8]>) {
        let mut b = BytesMut::new();
        msrp::encode::frame(head, body, Flag::Last, &mut b);
        self.w.write_all(&b).await.expect("write");
    }

    /// Sends a CPIM message to `to` (the room URI or a participant) with `text`.
    async fn say(&mut self, to: &str, text: &str) -> Head {
        let body = cpim(&self.user, to, text);
        let head = self
            .head(body.len())
            .with(Header::ByteRange(ByteRange::whole(body.len() as u64)))
            .with(Header::ContentType(ByteString::from_static("message/cpim")));
        self.write(&head, Some(&body)).await;
        head
    }

    /// The next whole frame.
    async fn recv(&mut self) -> Frame {
        tokio::time::timeout(Duration::from_secs(5), read_frame(&mut self.r))
            .await
            .expect("a frame within 5 s")
            .expect("not EOF")
    }

    /// The next frame, if one comes within `ms`.
    async fn maybe(&mut self, ms: u64) -> Option<Frame> {
        tokio::time::timeout(Duration::from_millis(ms), read_frame(&mut self.r))
            .await
            .ok()
            .flatten()
    }
}

async fn read_frame(r: &mut EventReader<OwnedReadHalf>) -> Option<Frame> {
    let mut head = None;
    let mut body: Option<BytesMut> = None;
    loop {
        match r.next().await? {
            Ok(Ok(Event::Head { head: h, body: b })) => {
                head = Some(h);
                body = b.then(BytesMut::new);
            }
            Ok(Ok(Event::Body(p))) => body.get_or_insert_with(BytesMut::new).extend_from_slice(&p),
            Ok(Ok(Event::End(flag))) => {
                return Some(Frame {
                    head: head.take().expect("head"),
                    body: body.take().map(BytesMut::freeze),
                    flag,
                });
            }
            other => panic!("stream: {other:?}"),
        }
    }
}

/// A CPIM body From `from` To `to` wrapping `text/plain` `text`.
fn cpim(from: &str, to: &str, text: &str) -> Vec<u8> {
    format!("From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: text/plain\r\n\r\n{text}")
        .into_bytes()
}

/// RFC 7701 §6.1 (7701-013/014): a public message reaches every other participant, with the
/// CPIM body unchanged; the sender gets 200 and no copy.
#[tokio::test]
async fn public_message_fans_out_to_the_others() {
    let (h, addr) = start().await;
    let mut alice = join(&h, addr, "lobby", "alice").await;
    let mut bob = join(&h, addr, "lobby", "bob").await;
    let mut carol = join(&h, addr, "lobby", "carol").await;
    alice.say("sip:lobby@chat.example.com", "Hello all").await;
    let ok = alice.recv().await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK));
    let want = cpim(
        "sip:alice@example.com",
        "sip:lobby@chat.example.com",
        "Hello all",
    );
    for p in [&mut bob, &mut carol] {
        let f = p.recv().await;
        assert!(f.head.is_send(), "{:?}", f.head);
        assert_eq!(f.head.to_path(), &[p.own.clone()][..]);
        assert_eq!(f.head.from_path(), &[p.mixer.clone()][..]);
        assert_eq!(f.body.as_deref(), Some(&want[..]), "unchanged");
        assert_eq!(f.flag, Flag::Last);
    }
    assert!(alice.maybe(200).await.is_none(), "no copy to the sender");
    let info = h.room("lobby").await.expect("room");
    assert_eq!(info.participants.len(), 3);
    let _ = Bytes::new();
}
