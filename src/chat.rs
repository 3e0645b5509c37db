//! `msrpd chat`: a terminal chat client for the rooms of a running msrpd.
//!
//! It joins a room with an SDP offer (RFC 4975 §8, RFC 7701 §5.2) in one of two ways:
//! - `--join sip` (the default in a build with the `sip` feature): an INVITE to the SIP focus at
//!   `--sip` over TCP, Request-URI the room URI (RFC 3261 §13.2.1, RFC 4353 §6); the 2xx carries
//!   the answer and is ACKed (§13.2.2.4); a refusal (404, 486, 488 with its Warning, ...) is
//!   ACKed (§17.1.1.3) and reported. A BYE from the focus (room deleted, daemon stopping, MSRP
//!   session lost) is answered 200 and ends the client (§15.1.2); `/quit` and the end of input
//!   send a BYE (§15.1.1). The UAC is [`crate::sip::client`].
//! - `--join api`: the control API (`POST /v1/rooms/{room}/participants`, left with `DELETE`).
//!
//! Either way it then connects to the path of the answer (it is the active side, RFC 6135) and
//! binds its session with a bodiless SEND (RFC 4975 §5.4). Each line typed is sent as a
//! `message/cpim` message (RFC 3862) wrapping `text/plain`, to the room (a public message,
//! RFC 7701 §6.1) or, with `/msg`, to one participant (RFC 7701 §6.2), and what the room sends is
//! printed with the sender's nickname (the CPIM `From` formal name) or URI. Commands: `/nick
//! NAME` (NICKNAME, RFC 7701 §7), `/msg NICK|URI text`, `/who` (through the control API),
//! `/quit`, `/help`.
//!
//! The room argument `lobby` means `sip:lobby@localhost`; a full `sip:room@domain` is the
//! Request-URI and the CPIM `To` of public messages.
//!
//! It reads commands from any line source and writes to any sink, so tests drive it through
//! pipes or a pseudo-terminal.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use msrp::transport::{EventReader, MsrpCodec};
use msrp::{
    ByteRange, ByteString, DecoderConfig, Event, Flag, Head, Header, IdGenerator, Ident, Method,
    MsrpUri, StatusCode,
};
use msrp_mixer::cpim::{Builder, Message, ParseOptions};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

/// How long the client waits for the service to answer.
const ANSWER: Duration = Duration::from_secs(10);

/// How long, once the service has closed the MSRP connection, the client waits for the focus's
/// BYE (it follows the end of the mixer session, RFC 7701 §5.2).
const GRACE: Duration = Duration::from_secs(3);

/// How the client joins the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JoinBy {
    /// An INVITE to the SIP focus (RFC 3261 §13), left with BYE (§15).
    Sip,
    /// The control API: `POST /v1/rooms/{room}/participants`, left with `DELETE`.
    Api,
}

impl JoinBy {
    /// `sip` in a build with the `sip` feature, else `api`.
    pub const DEFAULT: JoinBy = if cfg!(feature = "sip") {
        JoinBy::Sip
    } else {
        JoinBy::Api
    };
}

/// What to join, and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatArgs {
    /// The room: `sip:lobby@localhost`, or just `lobby` (meaning `sip:lobby@localhost`).
    pub room: String,
    /// Who you are (the participant URI: SIP From, CPIM From, RFC 7701 §6.3).
    #[arg(long = "as", value_name = "URI", default_value = "sip:guest@localhost")]
    pub user: String,
    /// A nickname to take once joined (RFC 7701 §7).
    #[arg(long)]
    pub nick: Option<String>,
    /// How to join: `sip` (an INVITE to the focus at --sip) or `api` (the control API).
    #[arg(long = "join", value_enum, default_value_t = JoinBy::DEFAULT)]
    pub join: JoinBy,
    /// The SIP focus (`[sip] tcp` of the daemon), reached over TCP.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5060")]
    pub sip: String,
    /// The msrpd control API (`--join api`, and `/who`).
    #[arg(long, default_value = "http://127.0.0.1:9855")]
    pub api: String,
    /// The control API's bearer token (`[http] token`).
    #[arg(long, default_value = "msrpd-demo-token", env = "MSRPD_TOKEN")]
    pub token: String,
}

/// Why the client stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The control API could not be reached or refused the join.
    #[error("control API: {0}")]
    Api(String),
    /// The join by SIP failed: the room URI and why (a refusal reads `488 Not Acceptable Here
    /// (305 msrpd "...")`).
    #[error("join {room}: {why}")]
    Join {
        /// The room URI.
        room: String,
        /// Why.
        why: String,
    },
    /// The SIP call failed after the join (the BYE got no answer, say).
    #[error("SIP: {0}")]
    Sip(String),
    /// The MSRP connection failed.
    #[error("MSRP: {0}")]
    Msrp(String),
}

/// An HTTP reply: status and body.
struct Reply {
    status: u16,
    body: String,
}

/// One HTTP/1.1 request to `api` (`http://host:port`), `Connection: close`.
async fn http(
    api: &str,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> Result<Reply, ChatError> {
    let authority = api
        .strip_prefix("http://")
        .ok_or_else(|| ChatError::Api(format!("{api:?}: only http:// URLs")))?
        .trim_end_matches('/');
    let fail = |e: std::io::Error| ChatError::Api(format!("{api}: {e}"));
    let mut s = tokio::time::timeout(ANSWER, TcpStream::connect(authority))
        .await
        .map_err(|_| ChatError::Api(format!("{api}: connect timed out")))?
        .map_err(fail)?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.map_err(fail)?;
    let mut raw = Vec::new();
    tokio::time::timeout(ANSWER, s.read_to_end(&mut raw))
        .await
        .map_err(|_| ChatError::Api(format!("{api}: no answer")))?
        .map_err(fail)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ChatError::Api("malformed HTTP answer".into()))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ChatError::Api("malformed HTTP status line".into()))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        let mut out = String::new();
        let mut s = rest;
        while let Some((size, tail)) = s.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            out.push_str(&tail[..n]);
            s = tail.get(n + 2..).unwrap_or("");
        }
        out
    } else {
        rest.to_owned()
    };
    Ok(Reply { status, body })
}

/// The `error` of a JSON error body, or the body.
fn reason(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

/// The room name of `sip:lobby@host` or `lobby`.
fn room_name(room: &str) -> &str {
    let r = room
        .strip_prefix("sip:")
        .or_else(|| room.strip_prefix("sips:"))
        .unwrap_or(room);
    r.split('@').next().unwrap_or(r)
}

/// The room URI of the argument: `sip:room@domain` as given, `lobby` as `sip:lobby@localhost`
/// and `lobby@example.com` as `sip:lobby@example.com`.
fn room_uri(room: &str) -> String {
    if room.starts_with("sip:") || room.starts_with("sips:") {
        room.to_owned()
    } else if room.contains('@') {
        format!("sip:{room}")
    } else {
        format!("sip:{room}@localhost")
    }
}

/// The URIs of the `a=path` attribute of an SDP answer (RFC 4975 §8.1), in order: the client
/// connects to the first and sends along all of them (the mixer's URI last).
#[cfg(any(feature = "sip", test))]
fn answer_path(sdp: &[u8]) -> Result<Vec<MsrpUri>, String> {
    use msrp_sdp::attr::{MsrpAttribute, PathAttr};
    let text = std::str::from_utf8(sdp).map_err(|_| "the SDP answer is not UTF-8".to_owned())?;
    let value = text
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("a=path:"))
        .ok_or_else(|| "the SDP answer has no a=path".to_owned())?;
    let path = PathAttr::parse_value(Some(value)).map_err(|e| format!("answer path: {e}"))?;
    if path.0.is_empty() {
        return Err("the SDP answer's a=path is empty".into());
    }
    Ok(path.0)
}

/// The SDP offer of a client at `own` that connects (RFC 6135 `a=setup:active`), takes
/// `text/plain` and isComposing wrapped in CPIM, nicknames and private messages.
fn offer(own: &MsrpUri) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=msrpd chat\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain application/im-iscomposing+xml\r\n\
         a=path:{}\r\na=setup:active\r\na=chatroom:nickname private-messages\r\n",
        own.port().unwrap_or(9),
        own.as_str()
    )
}

/// A joined, bound session.
struct Session<W> {
    w: W,
    own: MsrpUri,
    /// The To-Path of our requests: the answer's path (RFC 4975 §6.1).
    to_path: Vec<MsrpUri>,
    ids: IdGenerator,
    user: String,
    room_uri: String,
    nick: Option<String>,
    /// Requests sent and not answered yet: what to say about their answer.
    pending: HashMap<Ident, Pending>,
}

/// What a request was, for printing its answer.
enum Pending {
    Message,
    Nickname(String),
}

impl<W: AsyncWrite + Unpin> Session<W> {
    fn request(&mut self, method: Method) -> Head {
        Head::request(
            method,
            self.ids.next_id(),
            self.to_path.iter().cloned().collect(),
            msrp::path![self.own.clone()],
        )
    }

    async fn write(&mut self, head: &Head, body: Option<&[u8]>) -> Result<(), ChatError> {
        let mut b = BytesMut::new();
        msrp::encode::frame(head, body, Flag::Last, &mut b);
        self.w
            .write_all(&b)
            .await
            .map_err(|e| ChatError::Msrp(e.to_string()))
    }

    /// Sends `text` to `to` (a URI, with the formal name `name` if any) in a CPIM message.
    async fn say(&mut self, to_name: Option<&str>, to: &str, text: &str) -> Result<(), String> {
        let mut b = Builder::new();
        b.from(self.nick.as_deref(), &self.user)
            .and_then(|b| b.to(to_name, to))
            .and_then(|b| b.mime_header("Content-Type", "text/plain;charset=utf-8"))
            .map_err(|e| e.to_string())?;
        let body = b.build(text.as_bytes()).map_err(|e| e.to_string())?;
        let mid = self.ids.next_id();
        let head = self
            .request(Method::Send)
            .with(Header::MessageId(mid))
            .with(Header::ByteRange(ByteRange::whole(body.len() as u64)))
            .with(Header::ContentType(ByteString::from_static("message/cpim")));
        self.pending.insert(head.tid, Pending::Message);
        self.write(&head, Some(&body))
            .await
            .map_err(|e| e.to_string())
    }

    async fn nickname(&mut self, nick: &str) -> Result<(), ChatError> {
        let head = self
            .request(Method::Nickname)
            .with(Header::UseNickname(ByteString::from(nick.to_owned())));
        self.pending
            .insert(head.tid, Pending::Nickname(nick.to_owned()));
        self.write(&head, None).await
    }
}

/// A message being received in chunks, by Message-ID.
type Partial = HashMap<Ident, Vec<u8>>;

/// How the session was joined, so how it is left.
enum Leave {
    /// Through the control API: the participant id to `DELETE`.
    Api { id: String },
    /// By SIP: the call to end with a BYE.
    #[cfg(feature = "sip")]
    Sip(Box<crate::sip::client::Call>),
}

impl Leave {
    fn is_sip(&self) -> bool {
        !matches!(self, Leave::Api { .. })
    }
}

/// A joined session, not connected yet.
struct Joined {
    /// The answer's path.
    to_path: Vec<MsrpUri>,
    /// The room URI (CPIM To of public messages).
    room_uri: String,
    leave: Leave,
}

/// Joins through the control API (RFC 7701 §5.2 done by the daemon).
async fn join_api(args: &ChatArgs, room: &str, sdp: &str) -> Result<Joined, ChatError> {
    let body = serde_json::json!({ "participant": args.user, "sdp": sdp }).to_string();
    let r = http(
        &args.api,
        "POST",
        &format!("/v1/rooms/{room}/participants"),
        &args.token,
        &body,
    )
    .await?;
    if r.status != 201 {
        return Err(ChatError::Api(format!(
            "join {room}: {} {}",
            r.status,
            reason(&r.body)
        )));
    }
    let joined: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| ChatError::Api(e.to_string()))?;
    let id = joined["id"].as_str().unwrap_or_default().to_owned();
    let mixer: MsrpUri = joined["path"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e| ChatError::Api(format!("answer path: {e}")))?;
    let info = http(
        &args.api,
        "GET",
        &format!("/v1/rooms/{room}"),
        &args.token,
        "",
    )
    .await?;
    let room_uri = serde_json::from_str::<serde_json::Value>(&info.body)
        .ok()
        .and_then(|v| v["uri"].as_str().map(str::to_owned))
        .unwrap_or_else(|| args.room.clone());
    Ok(Joined {
        to_path: vec![mixer],
        room_uri,
        leave: Leave::Api { id },
    })
}

/// Joins by INVITE to the focus at `--sip` (RFC 3261 §13.2; RFC 7701 §5.2).
#[cfg(feature = "sip")]
async fn join_sip(args: &ChatArgs, room_uri: &str, sdp: &str) -> Result<Joined, ChatError> {
    use crate::sip::client::{self, CallError};
    let (mut call, answer) =
        client::invite(&args.sip, room_uri, &args.user, sdp.as_bytes(), ANSWER)
            .await
            .map_err(|e| ChatError::Join {
                room: room_uri.to_owned(),
                why: match e {
                    CallError::Refused { .. } => e.to_string(),
                    e => format!("SIP {}: {e}", args.sip),
                },
            })?;
    match answer_path(&answer) {
        Ok(to_path) => Ok(Joined {
            to_path,
            room_uri: room_uri.to_owned(),
            leave: Leave::Sip(Box::new(call)),
        }),
        Err(why) => {
            // Joined with an answer that cannot be used: end the call at once.
            let _ = call.bye().await;
            Err(ChatError::Join {
                room: room_uri.to_owned(),
                why,
            })
        }
    }
}

/// Without the `sip` feature there is no SIP join.
#[cfg(not(feature = "sip"))]
async fn join_sip(_: &ChatArgs, room_uri: &str, _: &str) -> Result<Joined, ChatError> {
    Err(ChatError::Join {
        room: room_uri.to_owned(),
        why: "this msrpd was built without SIP (feature `sip`); use --join api".into(),
    })
}

/// Leaves the room: a BYE (RFC 3261 §15.1.1) or a `DELETE`; the line to print.
async fn leave_room(args: &ChatArgs, leave: Leave) -> Result<String, ChatError> {
    match leave {
        Leave::Api { id } => {
            let r = http(
                &args.api,
                "DELETE",
                &format!("/v1/participants/{id}"),
                &args.token,
                "",
            )
            .await?;
            Ok(if r.status == 204 {
                "* left".into()
            } else {
                "* left (the session was gone already)".into()
            })
        }
        #[cfg(feature = "sip")]
        Leave::Sip(mut call) => match call.bye().await {
            Ok(200..=299) => Ok("* left".into()),
            // §15.1.1: after 481 or 408 the session is over all the same.
            Ok(481) => Ok("* left (the session was gone already)".into()),
            Ok(code) => Ok(format!("* left (the BYE was answered {code})")),
            Err(e) => Err(ChatError::Sip(format!("leave: {e}"))),
        },
    }
}

/// Resolves `true` when the focus ends the session with a BYE (answered already), `false` when
/// it cannot any more (the SIP connection closed) or never could (joined through the API).
async fn focus_bye(leave: &mut Leave) -> bool {
    match leave {
        #[cfg(feature = "sip")]
        Leave::Sip(call) => call.next_request().await.is_some(),
        Leave::Api { .. } => false,
    }
}

/// Why the conversation ended.
enum End {
    /// `/quit` or the end of input: the client leaves.
    Quit,
    /// The focus sent a BYE.
    FocusEnded,
    /// The service closed the MSRP connection.
    ServiceClosed,
}

/// The MSRP reader of a session.
type Reader = EventReader<OwnedReadHalf>;

/// Runs the client: joins, then reads commands from `input` and prints to `out` until `/quit`
/// or the end of `input` (both leave the room), until the focus ends the session, or until the
/// service closes the connection.
pub async fn run<I, O>(args: ChatArgs, input: I, mut out: O) -> Result<(), ChatError>
where
    I: AsyncBufRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let room = room_name(&args.room).to_owned();
    let mut ids = IdGenerator::new();
    let own: MsrpUri = format!("msrp://127.0.0.1:9/{};tcp", ids.next_id())
        .parse()
        .map_err(|e| ChatError::Msrp(format!("own URI: {e}")))?;
    let sdp = offer(&own);
    let joined = match args.join {
        JoinBy::Api => join_api(&args, &room, &sdp).await?,
        JoinBy::Sip => join_sip(&args, &room_uri(&args.room), &sdp).await?,
    };
    let mut leave = joined.leave;
    let (mut s, mut reader) =
        match connect(own, joined.to_path, joined.room_uri, ids, &args.user).await {
            Ok(x) => x,
            Err(e) => {
                let _ = leave_room(&args, leave).await;
                return Err(e);
            }
        };
    let end = converse(
        &args,
        &room,
        &mut s,
        &mut reader,
        &mut leave,
        input,
        &mut out,
    )
    .await;
    // The SIP session is ended before the MSRP connection closes: closing it first would
    // make the focus end the session from its side (RFC 7701 §5.2).
    let result = match end {
        Ok(End::Quit) => match leave_room(&args, leave).await {
            Ok(line) => {
                say_line(&mut out, &line).await;
                Ok(())
            }
            Err(e) => Err(e),
        },
        Ok(End::FocusEnded) => {
            say_line(&mut out, "* the room ended the session").await;
            Ok(())
        }
        Ok(End::ServiceClosed) => {
            say_line(&mut out, "* the service closed the connection").await;
            if leave.is_sip() {
                let _ = leave_room(&args, leave).await;
            }
            Ok(())
        }
        Err(e) => {
            let _ = leave_room(&args, leave).await;
            Err(e)
        }
    };
    let _ = s.w.shutdown().await;
    result
}

/// Connects to the first URI of `to_path` (the client is the active side, RFC 6135).
async fn connect(
    own: MsrpUri,
    to_path: Vec<MsrpUri>,
    room_uri: String,
    ids: IdGenerator,
    user: &str,
) -> Result<(Session<tokio::net::tcp::OwnedWriteHalf>, Reader), ChatError> {
    let first = to_path
        .first()
        .ok_or_else(|| ChatError::Msrp("empty answer path".into()))?;
    let host = first.host().to_string();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = first
        .port()
        .ok_or_else(|| ChatError::Msrp("answer path without a port".into()))?;
    let stream = tokio::time::timeout(ANSWER, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| ChatError::Msrp(format!("connect to {host}:{port} timed out")))?
        .map_err(|e| ChatError::Msrp(format!("connect to {host}:{port}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let reader = EventReader::new(r, MsrpCodec::new(DecoderConfig::default()));
    let s = Session {
        w,
        own,
        to_path,
        ids,
        user: user.to_owned(),
        room_uri,
        nick: None,
        pending: HashMap::new(),
    };
    Ok((s, reader))
}

/// Binds the session (RFC 4975 §5.4: a bodiless SEND, answered 200), then chats until the
/// session ends; why it did.
async fn converse<I, O>(
    args: &ChatArgs,
    room: &str,
    s: &mut Session<tokio::net::tcp::OwnedWriteHalf>,
    reader: &mut Reader,
    leave: &mut Leave,
    input: I,
    out: &mut O,
) -> Result<End, ChatError>
where
    I: AsyncBufRead + Unpin,
    O: AsyncWrite + Unpin,
{
    let bind = s
        .request(Method::Send)
        .with(Header::MessageId(s.ids.next_id()))
        .with(Header::ByteRange(ByteRange::whole(0)));
    s.write(&bind, None).await?;
    let mut partial = Partial::new();
    loop {
        let ev = tokio::time::timeout(ANSWER, next_frame(reader))
            .await
            .map_err(|_| ChatError::Msrp("no answer to the bind".into()))??;
        match ev {
            Some((head, _, _)) if head.tid == bind.tid => match head.status() {
                Some(StatusCode::OK) => break,
                st => {
                    return Err(ChatError::Msrp(format!("bind answered {st:?}")));
                }
            },
            Some(frame) => handle(s, &mut partial, out, frame).await?,
            None => return Err(ChatError::Msrp("connection closed".into())),
        }
    }
    say_line(
        out,
        &format!("* joined {} as {} (/help for commands)", s.room_uri, s.user),
    )
    .await;
    if let Some(n) = &args.nick {
        s.nickname(n).await?;
    }

    let mut lines = input.lines();
    let mut input_open = true;
    // Until the SIP connection closes (the call goes on: the BYE opens a new one).
    let mut watch_focus = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if input_open => {
                let line = match line {
                    Ok(Some(l)) => l,
                    _ => { input_open = false; "/quit".to_owned() }
                };
                if !command(s, out, line.trim(), args, room).await? {
                    return Ok(End::Quit);
                }
            }
            ev = next_frame(reader) => match ev? {
                Some(frame) => handle(s, &mut partial, out, frame).await?,
                None => {
                    // The mixer ended the session; the focus's BYE follows (RFC 7701 §5.2).
                    if watch_focus
                        && tokio::time::timeout(GRACE, focus_bye(leave)).await == Ok(true)
                    {
                        return Ok(End::FocusEnded);
                    }
                    return Ok(End::ServiceClosed);
                }
            },
            ended = focus_bye(leave), if watch_focus => {
                if ended {
                    return Ok(End::FocusEnded);
                }
                watch_focus = false;
            }
        }
    }
}

/// Handles one typed line; `false` to quit.
async fn command<W, O>(
    s: &mut Session<W>,
    out: &mut O,
    line: &str,
    args: &ChatArgs,
    room: &str,
) -> Result<bool, ChatError>
where
    W: AsyncWrite + Unpin,
    O: AsyncWrite + Unpin,
{
    let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim();
    match cmd {
        "" => {}
        "/quit" => return Ok(false),
        "/help" => {
            say_line(
                out,
                "* /nick NAME, /msg NICK|URI text (private), /who, /quit; anything else goes to the room",
            )
            .await
        }
        "/nick" if !rest.is_empty() => s.nickname(rest).await?,
        "/msg" => match rest.split_once(' ') {
            Some((to, text)) if !text.trim().is_empty() => {
                let r = if to.contains(':') {
                    s.say(None, to, text.trim()).await
                } else {
                    // A nickname: the switch matches the To's formal name (RFC 7701 §6.2).
                    let domain = s.room_uri.split('@').nth(1).unwrap_or("localhost").to_owned();
                    s.say(Some(to), &format!("sip:{to}@{domain}"), text.trim())
                        .await
                };
                if let Err(e) = r {
                    say_line(out, &format!("* not sent: {e}")).await;
                }
            }
            _ => say_line(out, "* usage: /msg NICK|URI text").await,
        },
        "/who" => {
            let r = http(&args.api, "GET", &format!("/v1/rooms/{room}"), &args.token, "").await?;
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
            let mut text = String::from("* in the room:");
            for p in v["participants"].as_array().into_iter().flatten() {
                let uri = p["uri"].as_str().unwrap_or("?");
                match p["nickname"].as_str() {
                    Some(n) => {
                        let _ = write!(text, " {n} ({uri})");
                    }
                    None => {
                        let _ = write!(text, " {uri}");
                    }
                }
            }
            say_line(out, &text).await;
        }
        c if c.starts_with('/') => say_line(out, &format!("* unknown command {c}; /help")).await,
        _ => {
            let to = s.room_uri.clone();
            if let Err(e) = s.say(None, &to, line).await {
                say_line(out, &format!("* not sent: {e}")).await;
            }
        }
    }
    Ok(true)
}

/// Handles a frame from the service: answers to our requests, copies of messages.
async fn handle<W, O>(
    s: &mut Session<W>,
    partial: &mut Partial,
    out: &mut O,
    (head, body, flag): Frame,
) -> Result<(), ChatError>
where
    W: AsyncWrite + Unpin,
    O: AsyncWrite + Unpin,
{
    if let Some(status) = head.status() {
        match s.pending.remove(&head.tid) {
            Some(Pending::Nickname(n)) if status == StatusCode::OK => {
                s.nick = Some(n.clone());
                say_line(out, &format!("* you are now {n}")).await;
            }
            Some(Pending::Nickname(n)) => {
                say_line(out, &format!("* nickname {n} refused: {}", status.as_u16())).await;
            }
            Some(Pending::Message) if status != StatusCode::OK => {
                say_line(out, &format!("* not delivered: {}", status.as_u16())).await;
            }
            _ => {}
        }
        return Ok(());
    }
    if !head.is_send() {
        // REPORTs and anything else: nothing to show.
        return Ok(());
    }
    // We are an endpoint: a SEND is answered (RFC 4975 §7.2, unless Failure-Report says no).
    if msrp::report::response_owed(&head, StatusCode::OK) {
        let ok = msrp::report::response(&head, StatusCode::OK, None, &s.own);
        s.write(&ok, None).await?;
    }
    let (Some(mid), Some(piece)) = (head.message_id(), body) else {
        return Ok(());
    };
    let buf = partial.entry(*mid).or_default();
    buf.extend_from_slice(&piece);
    // Chunks of a copy come in order (RFC 7701 §6.1); `#` aborts, and a terminal client keeps
    // no more than 1 MiB of one message.
    if flag == Flag::Abort || buf.len() > 1024 * 1024 {
        partial.remove(mid);
        return Ok(());
    }
    if flag == Flag::More {
        return Ok(());
    }
    let whole = Bytes::from(partial.remove(mid).unwrap_or_default());
    let Ok(msg) = Message::parse(whole, &ParseOptions::default()) else {
        return Ok(());
    };
    if !msg.media_type().eq_ignore_ascii_case("text/plain") {
        return Ok(());
    }
    let from = msg
        .from()
        .map(|a| {
            a.formal_name()
                .map(|n| n.into_owned())
                .unwrap_or_else(|| a.uri().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    let private = msg.to().any(|a| a.uri() != s.room_uri);
    let text = String::from_utf8_lossy(&msg.body()).into_owned();
    let line = if private {
        format!("{from} (private): {text}")
    } else {
        format!("{from}: {text}")
    };
    say_line(out, &line).await;
    Ok(())
}

/// The next whole frame (head, body, end-line flag) from the service; `None` at the end of the
/// stream. A frame the decoder refuses is skipped (RFC 4975 §7.3 lets a receiver go on).
async fn next_frame<R>(reader: &mut EventReader<R>) -> Result<Option<Frame>, ChatError>
where
    R: tokio::io::AsyncRead + Unpin,
{
    let mut head = None;
    let mut body: Option<BytesMut> = None;
    loop {
        match reader.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(ChatError::Msrp(e.to_string())),
            Some(Ok(Err(e))) if e.can_continue() => head = None,
            Some(Ok(Err(e))) => return Err(ChatError::Msrp(e.to_string())),
            Some(Ok(Ok(Event::Head { head: h, body: has }))) => {
                head = Some(h);
                body = has.then(BytesMut::new);
            }
            Some(Ok(Ok(Event::Body(piece)))) => {
                if let Some(b) = body.as_mut() {
                    b.extend_from_slice(&piece);
                }
            }
            Some(Ok(Ok(Event::End(flag)))) => {
                if let Some(h) = head.take() {
                    return Ok(Some((h, body.take().map(BytesMut::freeze), flag)));
                }
            }
            // Never produced: this decoder sets neither `brief_success_responses` nor
            // `repeated_sends`.
            Some(Ok(Ok(Event::BriefSuccess(_) | Event::RepeatedSend(_)))) => {}
        }
    }
}

/// A whole frame: head, body, end-line flag.
type Frame = (Head, Option<Bytes>, Flag);

/// Prints `line` in one write, so that a terminal's echo of typed input cannot cut it.
async fn say_line<O: AsyncWrite + Unpin>(out: &mut O, line: &str) {
    let _ = out.write_all(format!("{line}\n").as_bytes()).await;
    let _ = out.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_argument() {
        assert_eq!(room_uri("lobby"), "sip:lobby@localhost");
        assert_eq!(room_uri("lobby@example.com"), "sip:lobby@example.com");
        assert_eq!(room_uri("sip:ops@example.com"), "sip:ops@example.com");
        assert_eq!(room_name("sip:ops@example.com"), "ops");
        assert_eq!(room_name("sips:ops@example.com"), "ops");
        assert_eq!(room_name("lobby"), "lobby");
    }

    /// RFC 4975 §8.1: every URI of the answer's path, in order.
    #[test]
    fn path_of_the_answer() {
        let sdp = b"v=0\r\nm=message 7394 TCP/MSRP *\r\n\
                    a=path:msrp://relay.example:2855/r1;tcp msrp://localhost:7394/s1;tcp\r\n";
        let p = answer_path(sdp).expect("path");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].as_str(), "msrp://relay.example:2855/r1;tcp");
        assert_eq!(p[1].as_str(), "msrp://localhost:7394/s1;tcp");
        assert!(answer_path(b"v=0\r\nm=message 9 TCP/MSRP *\r\n").is_err());
        assert!(answer_path(b"a=path:not-a-uri\r\n").is_err());
    }
}
