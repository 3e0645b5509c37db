//! Helpers shared by the real-socket relay tests (`tcp.rs`, `limits.rs`, `chain.rs`): a relay running in
//! the background, a minimal MSRP client over one TCP connection,
//! Digest answers, a body pattern that can be generated and checked piece by piece,
//! and the process's resident memory from `/proc/self/status`.
//!
//! Every wait is bounded by a tokio timeout.
// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use msrp::transport::{CodecError, EventReader, MsrpCodec};
use msrp::{
    AuthParams, ByteRange, ByteString, Event, Flag, Frame, Head, Header, IdGenerator, Method,
    MsrpUri, Path, StatusCode,
};
use msrp_relay::config::RelayConfig;
use msrp_relay::digest::{self, Challenge};
use msrp_relay::server::{Relay, ShutdownHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// The Digest realm of the test relays.
pub const REALM: &str = "localhost";

/// Fails the test if `f` takes longer than `ms` milliseconds.
pub async fn within<T>(ms: u64, f: impl Future<Output = T>) -> T {
    timeout(Duration::from_millis(ms), f)
        .await
        .expect("took too long")
}

/// Parses an MSRP URI.
pub fn uri(s: &str) -> MsrpUri {
    MsrpUri::parse(ByteString::from(s.to_owned())).expect("valid URI")
}

/// A relay named `localhost` with users alice/wonderland and bob/builder, AUTH allowed over TCP.
pub fn config() -> RelayConfig {
    let mut cfg = RelayConfig::new("localhost", REALM)
        .with_user("alice", "wonderland")
        .with_user("bob", "builder");
    cfg.allow_auth_over_tcp = true;
    cfg
}

/// A relay running in the background; shut down when dropped.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its own URI (the one clients AUTH to).
    pub uri: MsrpUri,
    stop: ShutdownHandle,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.shutdown();
    }
}

impl Running {
    /// The guard of `relay`, bound and not yet spawned.
    pub fn of(relay: &Relay) -> Running {
        Running {
            addr: relay.local_addr().expect("addr"),
            uri: relay.uri().clone(),
            stop: relay.shutdown_handle(),
        }
    }
}

/// Binds and spawns a relay.
pub async fn start(cfg: RelayConfig) -> Running {
    let relay = Relay::bind(cfg).await.expect("bind");
    let running = Running::of(&relay);
    relay.spawn();
    running
}

/// A minimal MSRP endpoint over one TCP connection.
pub struct Client {
    /// The decoding read half.
    pub r: EventReader<OwnedReadHalf>,
    /// The write half.
    pub w: OwnedWriteHalf,
    /// The endpoint's own URI (its From-Path).
    pub uri: MsrpUri,
    /// Transaction and message ids.
    pub ids: IdGenerator,
}

impl Client {
    /// Connects to `addr` as the endpoint `own`.
    pub async fn connect(addr: SocketAddr, own: &str) -> Client {
        let s = within(2000, TcpStream::connect(addr))
            .await
            .expect("connect");
        Client::from_stream(s, uri(own))
    }

    /// A client over an accepted or connected stream.
    pub fn from_stream(s: TcpStream, own: MsrpUri) -> Client {
        let _ = s.set_nodelay(true);
        let (r, w) = s.into_split();
        Client {
            r: EventReader::new(r, MsrpCodec::default()),
            w,
            uri: own,
            ids: IdGenerator::new(),
        }
    }

    /// Writes raw octets.
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        within(2000, self.w.write_all(bytes)).await.expect("write");
    }

    /// Writes a whole frame.
    pub async fn send(&mut self, frame: &Frame) {
        let mut b = BytesMut::new();
        frame.write(&mut b);
        self.write_raw(&b).await;
    }

    /// The next whole frame within `ms` milliseconds; `None` at clean EOF. Panics on a timeout,
    /// an undecodable frame or a stream error.
    pub async fn recv_within(&mut self, ms: u64) -> Option<Frame> {
        within(ms, read_frame(&mut self.r)).await
    }

    /// The next whole frame (3 s); `None` at clean EOF.
    pub async fn recv(&mut self) -> Option<Frame> {
        self.recv_within(3000).await
    }

    /// The next whole frame, which must come (3 s).
    pub async fn expect(&mut self) -> Frame {
        self.recv().await.expect("a frame, not EOF")
    }

    /// `Some(frame)` if one arrives within `ms`, `None` if nothing does (EOF panics).
    pub async fn nothing_within(&mut self, ms: u64) -> Option<Frame> {
        match timeout(Duration::from_millis(ms), read_frame(&mut self.r)).await {
            Ok(Some(f)) => Some(f),
            Ok(None) => panic!("EOF while waiting for silence"),
            Err(_) => None,
        }
    }

    /// Waits for the relay to close the connection: `Ok(())` at EOF (or a reset), `Err(frame)`
    /// if a frame arrives first. Panics after `ms` milliseconds, or if the relay writes octets
    /// that do not decode.
    pub async fn expect_closed(&mut self, ms: u64) -> Result<(), Box<Frame>> {
        within(ms, async {
            loop {
                match self.r.next().await {
                    // EOF between frames, or a reset.
                    None | Some(Err(CodecError::Io(_))) => return Ok(()),
                    Some(Err(e)) => panic!("the relay wrote something undecodable: {e}"),
                    Some(Ok(Ok(Event::Head { head, body }))) => {
                        let f = Frame {
                            head,
                            body: body.then(Bytes::new),
                            flag: Flag::Last,
                        };
                        return Err(Box::new(f));
                    }
                    Some(Ok(_)) => {}
                }
            }
        })
        .await
    }

    /// A request from this endpoint with a fresh transaction id.
    pub fn request(&mut self, method: Method, to: Path) -> Head {
        Head::request(
            method,
            self.ids.next_id(),
            to,
            msrp::path![self.uri.clone()],
        )
    }

    /// Sends an AUTH without credentials to `relay` and returns the 401's challenge.
    pub async fn challenge(&mut self, relay: &MsrpUri) -> Challenge {
        let first = self.request(Method::Auth, msrp::path![relay.clone()]);
        self.send(&bodiless(first.clone())).await;
        let r401 = self.expect().await;
        assert_eq!(r401.head.status(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(r401.head.tid, first.tid);
        challenge_of(&r401.head)
    }

    /// Sends an AUTH to `relay` carrying `creds` (and `extra` headers) and returns the answer.
    pub async fn auth_with(
        &mut self,
        relay: &MsrpUri,
        creds: AuthParams,
        extra: Vec<Header>,
    ) -> Frame {
        let mut req = self
            .request(Method::Auth, msrp::path![relay.clone()])
            .with(Header::Authorization(creds));
        for h in extra {
            req.push(h);
        }
        self.send(&bodiless(req.clone())).await;
        let resp = self.expect().await;
        assert_eq!(resp.head.tid, req.tid, "answer to this AUTH");
        resp
    }

    /// AUTH to `relay` as `user`: 401, then 200 (RFC 4976 §5.1). Returns the Use-Path URI and
    /// the Expires granted.
    pub async fn auth(&mut self, relay: &MsrpUri, user: &str, password: &str) -> (MsrpUri, u32) {
        let ch = self.challenge(relay).await;
        let creds = ch.answer(
            user,
            &digest::ha1_hex(user, REALM, password),
            relay.as_str(),
            "0a4f113b",
            1,
        );
        let ok = self.auth_with(relay, creds, vec![]).await;
        assert_eq!(ok.head.status(), Some(StatusCode::OK), "{:?}", ok.head);
        (use_path_of(&ok.head), ok.head.expires().expect("Expires"))
    }
}

/// Reads one whole frame from `r`; `None` at clean EOF.
pub async fn read_frame(r: &mut EventReader<OwnedReadHalf>) -> Option<Frame> {
    let mut current: Option<(Head, Option<BytesMut>)> = None;
    loop {
        match r.next().await? {
            Ok(Ok(Event::Head { head, body })) => current = Some((head, body.then(BytesMut::new))),
            Ok(Ok(Event::Body(piece))) => current
                .as_mut()
                .and_then(|c| c.1.as_mut())
                .expect("body of a frame")
                .extend_from_slice(&piece),
            Ok(Ok(Event::End(flag))) => {
                let (head, body) = current.take().expect("end of a frame");
                return Some(Frame {
                    head,
                    body: body.map(BytesMut::freeze),
                    flag,
                });
            }
            Ok(Ok(Event::BriefSuccess(r))) => panic!("not configured: {r:?}"),
            Ok(Ok(Event::RepeatedSend(r))) => panic!("not configured: {r:?}"),
            Ok(Err(e)) => panic!("client got an undecodable frame: {e}"),
            Err(e) => panic!("client stream error: {e}"),
        }
    }
}

/// The Digest challenge of a 401.
pub fn challenge_of(head: &Head) -> Challenge {
    let www = head
        .find(|h| match h {
            Header::WwwAuthenticate(a) => Some(a),
            _ => None,
        })
        .expect("WWW-Authenticate");
    Challenge::parse(www).expect("a Digest challenge")
}

/// The first Use-Path URI of a 200 to an AUTH.
pub fn use_path_of(head: &Head) -> MsrpUri {
    head.find(|h| match h {
        Header::UsePath(p) => p.iter().next().cloned(),
        _ => None,
    })
    .expect("Use-Path")
}

/// A frame without a body.
pub fn bodiless(head: Head) -> Frame {
    Frame {
        head,
        body: None,
        flag: Flag::Last,
    }
}

/// A SEND head from `c` to `to` for a `len`-octet message in one chunk.
pub fn send_head(c: &mut Client, to: Path, len: usize) -> Head {
    let mid = c.ids.next_id();
    c.request(Method::Send, to)
        .with(Header::MessageId(mid))
        .with(Header::ByteRange(ByteRange::whole(len as u64)))
        .with(Header::ContentType(ByteString::from_static("text/plain")))
}

/// A whole last chunk.
pub fn frame(head: Head, body: Bytes) -> Frame {
    Frame {
        head,
        body: Some(body),
        flag: Flag::Last,
    }
}

/// The URIs of a path as strings.
pub fn strs(p: &[MsrpUri]) -> Vec<&str> {
    p.iter().map(MsrpUri::as_str).collect()
}

/// A TCP listener playing a next hop: `msrp://127.0.0.1:<port>/<session>;tcp`.
pub async fn fake_peer(session: &str) -> (TcpListener, MsrpUri) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (
        listener,
        uri(&format!("msrp://127.0.0.1:{port}/{session};tcp")),
    )
}

/// Accepts the relay's connection on a fake next hop.
pub async fn accept_peer(listener: &TcpListener, own: &MsrpUri) -> Client {
    let (s, _) = within(2000, listener.accept()).await.expect("accept");
    Client::from_stream(s, own.clone())
}

/// Whether a raw stream is closed by its peer within `ms` (EOF or reset, ignoring any bytes).
pub async fn raw_closed(s: &mut TcpStream, ms: u64) -> bool {
    let mut buf = [0u8; 4096];
    timeout(Duration::from_millis(ms), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

// --- body pattern -------------------------------------------------------------------------

/// SplitMix64: the pattern's 8 octets at `word`.
fn mix(word: u64) -> u64 {
    let mut z = word.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `buf` with the test pattern's octets starting at message offset `offset` (0-based):
/// pseudo-random, so that a lost, repeated or reordered piece shows up.
pub fn pattern(offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut i = 0;
    while i < buf.len() {
        let word = mix(pos / 8).to_le_bytes();
        let k = (pos % 8) as usize;
        let n = (8 - k).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[k..k + n]);
        i += n;
        pos += n as u64;
    }
}

/// Whether `piece` is the pattern at `offset`.
pub fn matches_pattern(offset: u64, piece: &[u8]) -> bool {
    let mut want = vec![0u8; piece.len()];
    pattern(offset, &mut want);
    want == piece
}

// --- memory ---------------------------------------------------------------------------------

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Resets `VmHWM` to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux >= 4.0).
/// Returns whether the kernel accepted it.
pub fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", b"5").is_ok()
}
