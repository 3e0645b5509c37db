//! Helpers shared by the mixer's real-socket tests (`tests/chat*.rs`): a mixer on 127.0.0.1
//! port 0, participants that join a room by SDP offer/answer ([`MixerHandle::join`]), bind
//! their session with a bodiless SEND (RFC 4975 §5.4) and read whole frames back.
//!
//! Every wait is bounded: a frame is awaited at most [`WAIT`].
// Each test file uses a different subset of the helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use msrp::transport::{EventReader, MsrpCodec};
use msrp::{
    ByteRange, ByteString, DecoderConfig, Event, Flag, Frame, Head, Header, IdGenerator, Ident,
    Method, MsrpUri, StatusCode,
};
use msrp_mixer::config::MixerConfig;
use msrp_mixer::server::{Joined, Mixer, MixerHandle};
use msrp_relay::digest::{self, Challenge};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The longest the tests wait for one frame.
pub const WAIT: Duration = Duration::from_secs(5);

/// The domain of the test mixer's rooms.
pub const DOMAIN: &str = "chat.example.com";

/// The URI of room `room` (`sip:<room>@chat.example.com`).
pub fn room_uri(room: &str) -> String {
    format!("sip:{room}@{DOMAIN}")
}

/// The test mixer's configuration: host 127.0.0.1, port 0, rooms in [`DOMAIN`], defaults
/// otherwise.
pub fn config() -> MixerConfig {
    MixerConfig::new("127.0.0.1", DOMAIN)
}

/// Starts a mixer with [`config`].
pub async fn start() -> (MixerHandle, SocketAddr) {
    start_with(config()).await
}

/// Starts a mixer with `cfg`; returns its handle and listener address.
pub async fn start_with(cfg: MixerConfig) -> (MixerHandle, SocketAddr) {
    let mixer = Mixer::bind(cfg).await.expect("bind");
    let addr = mixer.local_addr().expect("addr");
    let handle = mixer.handle();
    mixer.spawn();
    (handle, addr)
}

/// What a participant's SDP offer says.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The `private-messages` chat-token (RFC 7701 §5.2).
    pub private: bool,
    /// `a=setup` (RFC 6135): `active` (the participant connects) or `passive` (the mixer does).
    pub setup: &'static str,
    /// `a=accept-wrapped-types`.
    pub wrapped: &'static str,
}

impl Default for Offer {
    fn default() -> Self {
        Offer {
            private: true,
            setup: "active",
            wrapped: "text/plain application/im-iscomposing+xml",
        }
    }
}

/// An SDP offer for a chat room from the session `own`.
pub fn offer(own: &MsrpUri, o: &Offer) -> String {
    let chat = if o.private {
        "a=chatroom:nickname private-messages\r\n"
    } else {
        "a=chatroom:nickname\r\n"
    };
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:{}\r\n\
         a=path:{}\r\na=setup:{}\r\n{chat}",
        own.port().unwrap_or(9),
        o.wrapped,
        own.as_str(),
        o.setup,
    )
}

/// The mixer's session URI in an answer (the last `a=path` URI).
pub fn answer_path(answer: &[u8]) -> MsrpUri {
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

/// The session URI participant `name` offers (it is never connected to unless the offer says
/// `a=setup:passive`).
pub fn own_uri(name: &str) -> MsrpUri {
    format!("msrp://{name}.example.com:7000/{name}s1;tcp")
        .parse()
        .expect("uri")
}

/// The user URI of participant `name`.
pub fn user_uri(name: &str) -> String {
    format!("sip:{name}@example.com")
}

/// A participant: its connection to the mixer and its session.
pub struct Participant {
    /// The reading half of its connection.
    pub r: EventReader<OwnedReadHalf>,
    /// The writing half.
    pub w: OwnedWriteHalf,
    /// Its own session URI (its `a=path`).
    pub own: MsrpUri,
    /// The mixer's session URI for it (the answer's path).
    pub mixer: MsrpUri,
    /// Its user URI.
    pub user: String,
    /// The session id the join returned (for [`MixerHandle::leave`]).
    pub id: String,
    /// Transaction and message ids.
    pub ids: IdGenerator,
    /// Frames read while looking for another one.
    pub backlog: VecDeque<Frame>,
    /// Relays between this participant and the mixer: the To-Path of its requests is these,
    /// then the mixer's URI (RFC 4976 §3).
    pub via: Vec<MsrpUri>,
}

/// Joins `name` to `room` (default offer) without connecting.
pub async fn join_only(h: &MixerHandle, room: &str, name: &str, o: &Offer) -> Joined {
    h.join(room, &user_uri(name), offer(&own_uri(name), o).as_bytes())
        .await
        .expect("joined")
}

/// Joins `name` to `room` with the default offer, connects and binds.
pub async fn join(h: &MixerHandle, addr: SocketAddr, room: &str, name: &str) -> Participant {
    join_with(h, addr, room, name, &Offer::default()).await
}

/// Joins `name` to `room` with offer `o`, connects and binds its session with a bodiless SEND
/// (answered 200).
pub async fn join_with(
    h: &MixerHandle,
    addr: SocketAddr,
    room: &str,
    name: &str,
    o: &Offer,
) -> Participant {
    let joined = join_only(h, room, name, o).await;
    let mut p = connect(addr, name, &joined).await;
    p.bind().await;
    p
}

/// Opens a connection to the mixer for participant `name`'s session `joined`, unbound.
pub async fn connect(addr: SocketAddr, name: &str, joined: &Joined) -> Participant {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    Participant::over(s, own_uri(name), name, joined)
}

impl Participant {
    /// A participant over an open stream `s`.
    pub fn over(s: TcpStream, own: MsrpUri, name: &str, joined: &Joined) -> Participant {
        let (r, w) = s.into_split();
        Participant {
            r: EventReader::new(r, MsrpCodec::new(DecoderConfig::default())),
            w,
            own,
            mixer: answer_path(&joined.answer),
            user: user_uri(name),
            id: joined.id.clone(),
            ids: IdGenerator::new(),
            backlog: VecDeque::new(),
            via: Vec::new(),
        }
    }

    /// Another session of this participant, over the same connection (7701-001): its own and
    /// mixer URIs are `own`/`joined`'s; frames are read from and written to the same socket.
    pub fn use_session(&mut self, own: MsrpUri, joined: &Joined) {
        self.own = own;
        self.mixer = answer_path(&joined.answer);
        self.id = joined.id.clone();
    }

    /// A request head from this participant to the mixer.
    pub fn request(&mut self, method: Method) -> Head {
        Head::request(
            method,
            self.ids.next_id(),
            self.via
                .iter()
                .chain(std::iter::once(&self.mixer))
                .cloned()
                .collect(),
            msrp::path![self.own.clone()],
        )
    }

    /// A SEND head with a fresh Message-ID.
    pub fn send_head(&mut self) -> Head {
        let mid = self.ids.next_id();
        self.request(Method::Send).with(Header::MessageId(mid))
    }

    /// Writes one frame.
    pub async fn write(&mut self, head: &Head, body: Option<&[u8]>, flag: Flag) {
        let mut b = BytesMut::new();
        msrp::encode::frame(head, body, flag, &mut b);
        self.write_raw(&b).await;
    }

    /// Writes raw octets.
    pub async fn write_raw(&mut self, b: &[u8]) {
        self.w.write_all(b).await.expect("write");
    }

    /// Binds the session with a bodiless SEND and waits for its 200 (RFC 4975 §5.4).
    pub async fn bind(&mut self) {
        let bind = self
            .send_head()
            .with(Header::ByteRange(ByteRange::whole(0)));
        self.write(&bind, None, Flag::Last).await;
        let st = self.status_of(&bind).await;
        assert_eq!(st, StatusCode::OK, "bind of {}", self.user);
    }

    /// The head of a SEND of a whole body of `len` octets with Content-Type `ct` (not sent).
    pub fn whole_head(&mut self, ct: &'static str, len: usize) -> Head {
        self.send_head()
            .with(Header::ByteRange(ByteRange::whole(len as u64)))
            .with(Header::ContentType(ByteString::from_static(ct)))
    }

    /// Sends `body` whole as one SEND with Content-Type `ct`; returns its head.
    pub async fn send_typed(&mut self, ct: &'static str, body: &[u8]) -> Head {
        let head = self.whole_head(ct, body.len());
        self.write(&head, Some(body), Flag::Last).await;
        head
    }

    /// Sends a `message/cpim` body whole; returns its head.
    pub async fn send_cpim(&mut self, body: &[u8]) -> Head {
        self.send_typed("message/cpim", body).await
    }

    /// Sends a CPIM message from this participant to `to` (the room or a participant).
    pub async fn say(&mut self, to: &str, text: &str) -> Head {
        let body = cpim(&self.user, to, text);
        self.send_cpim(&body).await
    }

    /// [`Participant::say`], then waits for its 200.
    pub async fn say_ok(&mut self, to: &str, text: &str) -> Head {
        let h = self.say(to, text).await;
        assert_eq!(self.status_of(&h).await, StatusCode::OK, "{text:?}");
        h
    }

    /// Sends NICKNAME with `Use-Nickname: "<nick>"` and returns the response's status.
    pub async fn nickname(&mut self, nick: &str) -> StatusCode {
        let head = self
            .request(Method::Nickname)
            .with(Header::UseNickname(ByteString::from(nick.to_owned())));
        self.write(&head, None, Flag::Last).await;
        self.status_of(&head).await
    }

    /// The next frame (the backlog's first), within [`WAIT`].
    pub async fn recv(&mut self) -> Frame {
        if let Some(f) = self.backlog.pop_front() {
            return f;
        }
        tokio::time::timeout(WAIT, read_frame(&mut self.r))
            .await
            .unwrap_or_else(|_| panic!("{}: a frame within {WAIT:?}", self.user))
            .unwrap_or_else(|| panic!("{}: connection closed", self.user))
    }

    /// The next frame, if one comes within `ms` (the backlog's first if any).
    pub async fn maybe(&mut self, ms: u64) -> Option<Frame> {
        if let Some(f) = self.backlog.pop_front() {
            return Some(f);
        }
        tokio::time::timeout(Duration::from_millis(ms), read_frame(&mut self.r))
            .await
            .ok()
            .flatten()
    }

    /// The first frame that satisfies `want` (from the backlog, then the socket, within
    /// [`WAIT`]); the frames read before it stay in the backlog, in order.
    pub async fn take(&mut self, what: &str, want: impl Fn(&Frame) -> bool) -> Frame {
        if let Some(i) = self.backlog.iter().position(&want) {
            return self.backlog.remove(i).expect("index");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let f = tokio::time::timeout_at(deadline, read_frame(&mut self.r))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{}: no {what} within {WAIT:?}; backlog {:?}",
                        self.user, self.backlog
                    )
                })
                .unwrap_or_else(|| panic!("{}: connection closed waiting for {what}", self.user));
            if want(&f) {
                return f;
            }
            self.backlog.push_back(f);
        }
    }

    /// The response to the request `req`.
    pub async fn response(&mut self, req: &Head) -> Frame {
        let tid = req.tid;
        self.take(&format!("response to {tid}"), |f| {
            f.head.status().is_some() && f.head.tid == tid
        })
        .await
    }

    /// The status of the response to `req`.
    pub async fn status_of(&mut self, req: &Head) -> StatusCode {
        self.response(req).await.head.status().expect("status")
    }

    /// The next SEND the mixer sends to this participant.
    pub async fn message(&mut self) -> Frame {
        self.take("SEND", |f| f.head.is_send()).await
    }

    /// The next REPORT the mixer sends to this participant.
    pub async fn report(&mut self) -> Frame {
        self.take("REPORT", |f| f.head.method() == Some(&Method::Report))
            .await
    }

    /// Reads for `ms` milliseconds and fails on any SEND (a message copy); other frames stay in
    /// the backlog.
    pub async fn no_message(&mut self, ms: u64) {
        if let Some(f) = self.backlog.iter().find(|f| f.head.is_send()) {
            panic!("{}: unexpected SEND {f:?}", self.user);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while let Ok(f) = tokio::time::timeout_at(deadline, read_frame(&mut self.r)).await {
            let Some(f) = f else { return };
            assert!(!f.head.is_send(), "{}: unexpected SEND {f:?}", self.user);
            self.backlog.push_back(f);
        }
    }

    /// `true` when the mixer closes the connection within `ms` (frames read before are
    /// dropped).
    pub async fn closed_within(&mut self, ms: u64) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            match tokio::time::timeout_at(deadline, self.r.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

/// Reads one whole frame; `None` at EOF.
pub async fn read_frame<R: tokio::io::AsyncRead + Unpin>(r: &mut EventReader<R>) -> Option<Frame> {
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
            Ok(Ok(Event::BriefSuccess(r))) => panic!("not configured: {r:?}"),
            Ok(Ok(Event::RepeatedSend(r))) => panic!("not configured: {r:?}"),
            Ok(Err(e)) => panic!("the mixer sent a malformed frame: {e:?}"),
            Err(e) => panic!("stream: {e:?}"),
        }
    }
}

/// A CPIM body From `from` To `to` wrapping `text/plain` `text`.
pub fn cpim(from: &str, to: &str, text: &str) -> Vec<u8> {
    format!("From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: text/plain\r\n\r\n{text}")
        .into_bytes()
}

/// Checks that `f` is a copy the mixer sent to `p`: a whole SEND on `p`'s session (To-Path its
/// URI, From-Path the mixer's, RFC 4975 §7.1.1) carrying exactly `body` (7701-014).
pub fn assert_copy(p: &Participant, f: &Frame, body: &[u8]) {
    assert!(f.head.is_send(), "{}: {:?}", p.user, f.head);
    assert_eq!(f.head.to_path(), &[p.own.clone()][..], "{}", p.user);
    assert_eq!(f.head.from_path(), &[p.mixer.clone()][..], "{}", p.user);
    assert_eq!(
        f.head.content_type().map(|c| c.as_ref()),
        Some("message/cpim")
    );
    assert!(f.head.message_id().is_some(), "{}: Message-ID", p.user);
    assert_eq!(
        f.body.as_deref().map(String::from_utf8_lossy),
        Some(String::from_utf8_lossy(body)),
        "{}: body unchanged",
        p.user
    );
    assert_eq!(f.flag, Flag::Last, "{}", p.user);
}

impl Participant {
    /// Writes one chunk of message `mid`: octets `start..` of a message of `total` octets
    /// (`None`: `*`), Content-Type `message/cpim`, ended with `flag`; returns its head.
    pub async fn send_chunk(
        &mut self,
        mid: &Ident,
        start: u64,
        piece: &[u8],
        total: Option<u64>,
        flag: Flag,
    ) -> Head {
        let head = chunk_head(self, mid, start, piece.len(), total);
        self.write(&head, Some(piece), flag).await;
        head
    }
}

/// The head of a chunk of message `mid` from `p` (see [`Participant::send_chunk`]).
pub fn chunk_head(
    p: &mut Participant,
    mid: &Ident,
    start: u64,
    len: usize,
    total: Option<u64>,
) -> Head {
    p.request(Method::Send)
        .with(Header::MessageId(*mid))
        .with(Header::ByteRange(ByteRange {
            start,
            end: Some(start + len as u64 - 1),
            total,
        }))
        .with(Header::ContentType(ByteString::from_static("message/cpim")))
}

/// One message as a recipient got it.
#[derive(Debug)]
pub struct Received {
    /// The body, chunks in arrival order.
    pub body: Vec<u8>,
    /// How many chunks carried it.
    pub chunks: usize,
    /// The last chunk's flag (`$`, or `#` when aborted).
    pub flag: Flag,
}

/// Reads the chunks of the next message `p` gets, until its `$` or `#` chunk, checking that
/// they are in order: one Message-ID, each Byte-Range starting where the previous one ended,
/// every chunk but the last ending in `+` (RFC 4975 §7.1, 7701-014 re-chunking).
pub async fn collect(p: &mut Participant) -> Received {
    let mut body = Vec::new();
    let mut mid: Option<Ident> = None;
    // A message of more than a million chunks is not one these tests send.
    for n in 1..=1_000_000 {
        let f = p.message().await;
        let range = f.head.byte_range().expect("Byte-Range");
        assert_eq!(range.start, body.len() as u64 + 1, "{}: in order", p.user);
        let m = f.head.message_id().cloned().expect("Message-ID");
        assert_eq!(mid.get_or_insert(m), &m, "{}", p.user);
        let piece = f.body.unwrap_or_default();
        if let Some(end) = range.end {
            assert_eq!(end, range.start + piece.len() as u64 - 1, "{}", p.user);
        }
        body.extend_from_slice(&piece);
        if f.flag != Flag::More {
            if f.flag == Flag::Last {
                assert_eq!(range.total, Some(body.len() as u64), "{}", p.user);
            }
            return Received {
                body,
                chunks: n,
                flag: f.flag,
            };
        }
    }
    panic!("{}: a message of over a million chunks", p.user);
}

/// A CPIM message from `from` to `to` whose body is exactly `size` octets: the CPIM headers,
/// then letters that depend on their position (so that reordered or lost octets show).
pub fn big_cpim(from: &str, to: &str, size: usize) -> Vec<u8> {
    let mut b = format!("From: <{from}>\r\nTo: <{to}>\r\n\r\nContent-Type: text/plain\r\n\r\n")
        .into_bytes();
    assert!(b.len() < size);
    let mut x: u32 = 0x1234_5678;
    while b.len() < size {
        // xorshift: a pattern with no period a chunk boundary could hide.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b.push(b'a' + (x % 26) as u8);
    }
    b
}

/// AUTHs `own` at the relay whose URI is `relay` over `s` as `(user, password, realm)` (401,
/// then 200, RFC 4976 §5.1); returns the Use-Path URI.
pub async fn auth<S>(
    s: &mut S,
    relay: &MsrpUri,
    own: &MsrpUri,
    (user, pw, realm): (&str, &str, &str),
) -> MsrpUri
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut ids = IdGenerator::new();
    let (r, mut w) = tokio::io::split(s);
    let mut r = EventReader::new(r, MsrpCodec::new(DecoderConfig::default()));
    let mut next = async |head: Head| -> Frame {
        let mut b = BytesMut::new();
        msrp::encode::frame(&head, None, Flag::Last, &mut b);
        w.write_all(&b).await.expect("write");
        let f = tokio::time::timeout(WAIT, read_frame(&mut r))
            .await
            .expect("an answer")
            .expect("not EOF");
        assert_eq!(f.head.tid, head.tid);
        f
    };
    let auth = |ids: &mut IdGenerator| {
        Head::request(
            Method::Auth,
            ids.next_id(),
            msrp::path![relay.clone()],
            msrp::path![own.clone()],
        )
    };
    let first = next(auth(&mut ids)).await;
    assert_eq!(first.head.status(), Some(StatusCode::UNAUTHORIZED));
    let params = first
        .head
        .find(|h| match h {
            Header::WwwAuthenticate(p) => Some(p.clone()),
            _ => None,
        })
        .expect("WWW-Authenticate");
    let ch = Challenge::parse(&params).expect("challenge");
    let creds = ch.answer(
        user,
        &digest::ha1_hex(user, realm, pw),
        relay.as_str(),
        "5eed1e55",
        1,
    );
    let ok = next(auth(&mut ids).with(Header::Authorization(creds))).await;
    assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
    ok.head
        .find(|h| match h {
            Header::UsePath(p) => p.first().cloned(),
            _ => None,
        })
        .expect("Use-Path")
}
