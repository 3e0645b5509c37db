//! `msrpd chat`: a terminal chat client for the rooms of a running msrpd.
//!
//! It joins a room through the control API (`POST /v1/rooms/{room}/participants` with an SDP
//! offer, RFC 7701 §5.2), connects to the path of the answer (it is the active side, RFC 6135)
//! and binds its session with a bodiless SEND (RFC 4975 §5.4). Then each line typed is sent as a
//! `message/cpim` message (RFC 3862) wrapping `text/plain`, to the room (a public message,
//! RFC 7701 §6.1) or, with `/msg`, to one participant (RFC 7701 §6.2), and what the room sends is
//! printed with the sender's nickname (the CPIM `From` formal name) or URI. Commands: `/nick
//! NAME` (NICKNAME, RFC 7701 §7), `/msg NICK|URI text`, `/who`, `/quit` (leaves through the
//! control API), `/help`.
//!
//! It reads commands from any line source and writes to any sink, so tests drive it through
//! pipes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use msrp::transport::{EventReader, MsrpCodec};
use msrp::{
    ByteRange, ByteString, DecoderConfig, Event, Flag, Head, Header, IdGenerator, Method, MsrpUri,
    StatusCode,
};
use msrp_mixer::cpim::{Builder, Message, ParseOptions};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the client waits for the service to answer.
const ANSWER: Duration = Duration::from_secs(10);

/// What to join, and as whom.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatArgs {
    /// The room: `sip:lobby@localhost`, or just `lobby`.
    pub room: String,
    /// Who you are (the participant URI; CPIM From, RFC 7701 §6.3).
    #[arg(long = "as", value_name = "URI", default_value = "sip:guest@localhost")]
    pub user: String,
    /// A nickname to take once joined (RFC 7701 §7).
    #[arg(long)]
    pub nick: Option<String>,
    /// The msrpd control API.
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
    let r = room.strip_prefix("sip:").unwrap_or(room);
    r.split('@').next().unwrap_or(r)
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
    mixer: MsrpUri,
    ids: IdGenerator,
    user: String,
    room_uri: String,
    nick: Option<String>,
    /// Requests sent and not answered yet: what to say about their answer.
    pending: HashMap<ByteString, Pending>,
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
            msrp::path![self.mixer.clone()],
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
        self.pending.insert(head.tid.clone(), Pending::Message);
        self.write(&head, Some(&body))
            .await
            .map_err(|e| e.to_string())
    }

    async fn nickname(&mut self, nick: &str) -> Result<(), ChatError> {
        let head = self
            .request(Method::Nickname)
            .with(Header::UseNickname(ByteString::from(nick.to_owned())));
        self.pending
            .insert(head.tid.clone(), Pending::Nickname(nick.to_owned()));
        self.write(&head, None).await
    }
}

/// A message being received in chunks, by Message-ID.
type Partial = HashMap<ByteString, Vec<u8>>;

/// Runs the client: joins, then reads commands from `input` and prints to `out` until `/quit`
/// or the end of `input` (both leave the room) or until the service closes the connection.
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
    let body = serde_json::json!({ "participant": args.user, "sdp": offer(&own) }).to_string();
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

    let host = mixer.host().to_string();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = mixer
        .port()
        .ok_or_else(|| ChatError::Msrp("answer path without a port".into()))?;
    let stream = tokio::time::timeout(ANSWER, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| ChatError::Msrp(format!("connect to {host}:{port} timed out")))?
        .map_err(|e| ChatError::Msrp(format!("connect to {host}:{port}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    let mut reader = EventReader::new(r, MsrpCodec::new(DecoderConfig::default()));
    let mut s = Session {
        w,
        own,
        mixer,
        ids,
        user: args.user.clone(),
        room_uri,
        nick: None,
        pending: HashMap::new(),
    };
    // Bind (RFC 4975 §5.4): a bodiless SEND, answered 200.
    let bind = s
        .request(Method::Send)
        .with(Header::MessageId(s.ids.next_id()))
        .with(Header::ByteRange(ByteRange::whole(0)));
    s.write(&bind, None).await?;
    let mut partial = Partial::new();
    loop {
        let ev = tokio::time::timeout(ANSWER, next_frame(&mut reader))
            .await
            .map_err(|_| ChatError::Msrp("no answer to the bind".into()))??;
        match ev {
            Some((head, _, _)) if head.tid == bind.tid => match head.status() {
                Some(StatusCode::OK) => break,
                st => {
                    return Err(ChatError::Msrp(format!("bind answered {st:?}")));
                }
            },
            Some(frame) => handle(&mut s, &mut partial, &mut out, frame).await?,
            None => return Err(ChatError::Msrp("connection closed".into())),
        }
    }
    say_line(
        &mut out,
        &format!("* joined {} as {} (/help for commands)", s.room_uri, s.user),
    )
    .await;
    if let Some(n) = &args.nick {
        s.nickname(n).await?;
    }

    let mut lines = input.lines();
    let mut input_open = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if input_open => {
                let line = match line {
                    Ok(Some(l)) => l,
                    _ => { input_open = false; "/quit".to_owned() }
                };
                if !command(&mut s, &mut out, line.trim(), &args, &room).await? {
                    break;
                }
            }
            ev = next_frame(&mut reader) => match ev? {
                Some(frame) => handle(&mut s, &mut partial, &mut out, frame).await?,
                None => {
                    say_line(&mut out, "* the service closed the connection").await;
                    return Ok(());
                }
            },
        }
    }
    // Leave (RFC 7701 §5.2: the focus ends the session).
    let r = http(
        &args.api,
        "DELETE",
        &format!("/v1/participants/{id}"),
        &args.token,
        "",
    )
    .await?;
    let _ = s.w.shutdown().await;
    say_line(
        &mut out,
        if r.status == 204 {
            "* left"
        } else {
            "* left (the session was gone already)"
        },
    )
    .await;
    Ok(())
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
    let buf = partial.entry(mid.clone()).or_default();
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
        }
    }
}

/// A whole frame: head, body, end-line flag.
type Frame = (Head, Option<Bytes>, Flag);

async fn say_line<O: AsyncWrite + Unpin>(out: &mut O, line: &str) {
    let _ = out.write_all(line.as_bytes()).await;
    let _ = out.write_all(b"\n").await;
    let _ = out.flush().await;
}
