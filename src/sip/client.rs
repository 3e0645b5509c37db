//! A small SIP user agent client over TCP (RFC 3261) for `msrpd chat`: one call to the focus,
//! on one connection.
//!
//! - [`invite`] connects, sends the INVITE with the SDP offer (§13.2.1) and waits for its final
//!   response, skipping provisional ones (§13.2.2.1). A 2xx establishes the dialog (§12.1.2: the
//!   remote tag from To, the remote target from Contact, the route set from Record-Route in
//!   reverse) and is ACKed at once (§13.2.2.4: a new branch, the INVITE's CSeq number, method
//!   ACK, sent like any in-dialog request). A 3xx–6xx is ACKed with the INVITE's branch, To
//!   taken from the response (§17.1.1.3), and comes back as [`CallError::Refused`] with its
//!   Warning (§20.43), if any.
//! - [`Call::next_request`] waits for what the focus sends inside the call: a BYE of the dialog
//!   is answered 200 and handed back (§15.1.2), OPTIONS gets 200 (§11.2), a request of another
//!   dialog 481 (§12.2.2), any other method 405 with Allow (§8.2.1). A retransmitted 2xx to the
//!   INVITE gets the ACK again (§13.2.2.4). While it waits it sends a CRLF CRLF keep-alive every
//!   [`KEEPALIVE`] (RFC 5626 §4.4.1), so the focus does not close the connection as idle.
//! - [`Call::bye`] ends the call (§15.1.1: the next CSeq, in the dialog) and waits, bounded,
//!   for the final response. If the connection has closed meanwhile, it opens a new one to the
//!   same focus (§18.1.1): a dialog is not tied to a connection.
//!
//! Requests are built with [`Message`]: Via `SIP/2.0/TCP <local address>;branch=z9hG4bK…;rport`
//! (RFC 3581), Max-Forwards 70, From with a random tag, Call-ID `<random>@<local IP>`, Contact
//! `<sip:user@<local address>;transport=tcp>`, User-Agent `msrpd-chat/<version>`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use msrp_relay::digest::random_hex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::message::{Framed, Limits, Message, Method, frame_len, parse_stream, reason_phrase};

/// How often an idle call sends a CRLF CRLF keep-alive (RFC 5626 §4.4.1); the focus closes a
/// TCP connection after `[sip] idle_timeout_secs` (600 by default) of silence.
pub const KEEPALIVE: Duration = Duration::from_secs(60);

/// The User-Agent (§20.41) and Server (§20.35) of the client.
const AGENT: &str = concat!("msrpd-chat/", env!("CARGO_PKG_VERSION"));

/// The methods the client accepts inside its call (§20.5): no re-INVITE.
const ALLOW: &str = "ACK, BYE, OPTIONS";

/// Why a call could not be made or ended.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The INVITE got a final response other than 2xx: its status, reason phrase and
    /// Warning header (§20.43), shown as `488 Not Acceptable Here (305 msrpd "...")`.
    #[error("{status} {reason}{}", in_parentheses(.warning.as_deref()))]
    Refused {
        /// The status code (300–699).
        status: u16,
        /// The reason phrase.
        reason: String,
        /// The Warning header's value, if any.
        warning: Option<String>,
    },
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No final response in time (what was waited for).
    #[error("no answer to the {0} in time")]
    Timeout(&'static str),
    /// The focus sent something a UAC cannot go on with, closed the connection too early, or
    /// the call has ended already.
    #[error("{0}")]
    Protocol(String),
}

fn in_parentheses(w: Option<&str>) -> String {
    w.map(|w| format!(" ({w})")).unwrap_or_default()
}

/// One call from this client to the focus, established by [`invite`].
#[derive(Debug)]
pub struct Call {
    /// The focus, `host:port`, for a new connection when the first one has closed.
    server: String,
    /// The connection; `None` once it has closed.
    stream: Option<TcpStream>,
    /// Bytes read and not parsed yet.
    buf: BytesMut,
    /// Bytes to write: responses and keep-alives are queued, then written by a cancel-safe loop.
    out: BytesMut,
    limits: Limits,
    /// Our end of the connection (Via sent-by, Contact).
    local: SocketAddr,
    /// The user part of our URI (Contact).
    user: String,
    call_id: String,
    /// Our From: `<user_uri>;tag=local_tag`.
    from: String,
    local_tag: String,
    /// The To of our requests: `<room_uri>`, then with the focus's tag (§12.1.2).
    to: String,
    /// The focus's tag, once the dialog is established.
    remote_tag: Option<String>,
    /// The Request-URI of in-dialog requests: the 2xx's Contact (§12.1.2).
    remote_target: String,
    /// The route set: the 2xx's Record-Route, reversed (§12.1.2).
    route_set: Vec<String>,
    /// Our last CSeq number (§12.2.1.1).
    cseq: u32,
    /// The highest CSeq number of the focus's requests (§12.2.2).
    remote_cseq: Option<u32>,
    /// The ACK of the 2xx, sent again for each retransmission of the 2xx (§13.2.2.4).
    ack: Option<Bytes>,
    /// A BYE of the focus, answered, not yet handed to the caller.
    peer_bye: Option<Message>,
    /// The dialog has ended (a BYE either way).
    ended: bool,
    /// How long [`Call::bye`] waits.
    timeout: Duration,
    /// How often a keep-alive goes out.
    keepalive: Duration,
    /// When the next keep-alive goes out.
    next_ping: Instant,
}

/// Calls `room_uri` as `user_uri` through the focus at `server` (`host:port`, over TCP) with
/// the SDP `offer`; the call and the SDP answer of the 2xx. Connecting and the final response
/// are bounded by `timeout` (which [`Call::bye`] then uses too).
pub async fn invite(
    server: &str,
    room_uri: &str,
    user_uri: &str,
    offer: &[u8],
    timeout: Duration,
) -> Result<(Call, Bytes), CallError> {
    let deadline = Instant::now() + timeout;
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(server))
        .await
        .map_err(|_| CallError::Timeout("connection"))??;
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr()?;
    let local_tag = random_hex(6);
    let mut call = Call {
        server: server.to_owned(),
        stream: Some(stream),
        buf: BytesMut::with_capacity(4096),
        out: BytesMut::new(),
        limits: Limits::default(),
        local,
        user: user_part(user_uri).to_owned(),
        call_id: format!("{}@{}", random_hex(10), local.ip()),
        from: format!("<{user_uri}>;tag={local_tag}"),
        local_tag,
        to: format!("<{room_uri}>"),
        remote_tag: None,
        remote_target: room_uri.to_owned(),
        route_set: Vec::new(),
        cseq: 1,
        remote_cseq: None,
        ack: None,
        peer_bye: None,
        ended: false,
        timeout,
        keepalive: KEEPALIVE,
        next_ping: Instant::now() + KEEPALIVE,
    };
    let branch = new_branch();
    let mut inv = call.request(Method::Invite, room_uri, &branch, call.cseq);
    inv.push_header("Contact", call.contact());
    inv.push_header("Allow", ALLOW);
    inv.push_header("Content-Type", "application/sdp");
    inv.body = Bytes::copy_from_slice(offer);
    call.send(&inv.to_bytes()).await?;
    loop {
        let resp = tokio::time::timeout_at(deadline, call.response(&branch, &Method::Invite))
            .await
            .map_err(|_| CallError::Timeout("INVITE"))??;
        let code = resp.code().unwrap_or(0);
        if code < 200 {
            continue;
        }
        if code < 300 {
            let body = resp.body.clone();
            call.establish(&resp);
            let ack = call
                .request(Method::Ack, &call.remote_target, &new_branch(), call.cseq)
                .to_bytes();
            call.ack = Some(ack.clone());
            call.send(&ack).await?;
            return Ok((call, body));
        }
        // §17.1.1.3: the ACK of a non-2xx repeats the INVITE's Request-URI, Call-ID, From,
        // CSeq number and top Via (its branch), with the To of the response.
        let mut ack = Message::request(Method::Ack, room_uri);
        for name in ["Via", "Max-Forwards", "From"] {
            if let Some(v) = inv.header(name) {
                ack.push_header(name, v);
            }
        }
        ack.push_header("To", resp.header("To").unwrap_or(&call.to).to_owned());
        ack.push_header("Call-ID", call.call_id.clone());
        ack.push_header("CSeq", format!("{} ACK", call.cseq));
        ack.push_header("User-Agent", AGENT);
        // The refusal is what matters; an ACK that cannot be written changes nothing.
        let _ = call.send(&ack.to_bytes()).await;
        let reason = match &resp.start {
            super::message::StartLine::Response { reason, .. } if !reason.is_empty() => {
                reason.clone()
            }
            _ => reason_phrase(code).to_owned(),
        };
        return Err(CallError::Refused {
            status: code,
            reason,
            warning: resp.header("Warning").map(str::to_owned),
        });
    }
}

/// `z9hG4bK` and a random part (§8.1.1.7).
fn new_branch() -> String {
    format!("z9hG4bK{}", random_hex(10))
}

/// The user part of `sip:user@host` (`chat` when there is none).
fn user_part(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    match rest.split_once('@') {
        Some((u, _)) if !u.is_empty() => u.split(':').next().unwrap_or(u),
        _ => "chat",
    }
}

impl Call {
    /// The Call-ID (§20.8).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Sends the CRLF CRLF keep-alive after `every` without writing (default [`KEEPALIVE`]):
    /// less than the focus's `[sip] idle_timeout_secs`.
    pub fn set_keepalive(&mut self, every: Duration) {
        self.keepalive = every;
        self.next_ping = Instant::now() + every;
    }

    /// Waits for the focus's next BYE of this call, answering it with 200 before returning it;
    /// meanwhile answers OPTIONS (200), requests of other dialogs (481) and other methods (405),
    /// re-ACKs a retransmitted 2xx and keeps the connection alive. `None` once the connection
    /// has closed (the call goes on: [`Call::bye`] opens a new connection).
    ///
    /// Cancel-safe: it can be a branch of `tokio::select!`; what it read or queued stays in the
    /// call for the next call to it.
    pub async fn next_request(&mut self) -> Option<Message> {
        loop {
            if self.flush().await.is_err() {
                self.close();
            }
            if let Some(bye) = self.peer_bye.take() {
                return Some(bye);
            }
            match self.take_buffered() {
                Ok(Some(m)) => {
                    // Responses here belong to nothing pending: dropped (§18.1.2).
                    let _ = self.on_message(m);
                    continue;
                }
                Ok(None) => {}
                Err(_) => self.close(),
            }
            let stream = self.stream.as_mut()?;
            let ping_at = self.next_ping;
            let read = tokio::select! {
                r = stream.read_buf(&mut self.buf) => Some(r),
                _ = tokio::time::sleep_until(ping_at) => None,
            };
            match read {
                Some(Ok(0)) | Some(Err(_)) => self.close(),
                Some(Ok(_)) => {}
                None => {
                    self.out.extend_from_slice(b"\r\n\r\n");
                    self.next_ping = Instant::now() + self.keepalive;
                }
            }
        }
    }

    /// Ends the call with a BYE (§15.1.1) and waits for its final response (bounded by the
    /// `timeout` given to [`invite`]); its status: 200, or 481 when the focus had ended the
    /// dialog already.
    pub async fn bye(&mut self) -> Result<u16, CallError> {
        if self.ended {
            return Err(CallError::Protocol("the call has ended already".into()));
        }
        self.ended = true;
        let deadline = Instant::now() + self.timeout;
        self.cseq += 1;
        let branch = new_branch();
        let mut reconnected = false;
        loop {
            if self.stream.is_none() {
                if reconnected {
                    return Err(CallError::Protocol(
                        "the focus closed the connection before answering the BYE".into(),
                    ));
                }
                reconnected = true;
                self.reconnect(deadline).await?;
            }
            let bye = self
                .request(Method::Bye, &self.remote_target, &branch, self.cseq)
                .to_bytes();
            if self.send(&bye).await.is_err() {
                self.close();
                continue;
            }
            match tokio::time::timeout_at(deadline, self.final_response(&branch, &Method::Bye))
                .await
            {
                Err(_) => return Err(CallError::Timeout("BYE")),
                Ok(Ok(r)) => return Ok(r.code().unwrap_or(0)),
                // The connection closed under us: once more on a new one.
                Ok(Err(_)) => self.close(),
            }
        }
    }

    /// A new connection to the focus (§18.1.1), within `deadline`.
    async fn reconnect(&mut self, deadline: Instant) -> Result<(), CallError> {
        let stream = tokio::time::timeout_at(deadline, TcpStream::connect(&self.server))
            .await
            .map_err(|_| CallError::Timeout("connection"))??;
        let _ = stream.set_nodelay(true);
        self.local = stream.local_addr()?;
        self.stream = Some(stream);
        self.buf.clear();
        self.out.clear();
        Ok(())
    }

    /// The connection is gone.
    fn close(&mut self) {
        self.stream = None;
        self.out.clear();
    }

    /// A request of this call: Via with `branch`, Max-Forwards, From, To, Call-ID, CSeq
    /// `seq method`, the route set as Route (§12.2.1.1), User-Agent.
    fn request(&self, method: Method, uri: &str, branch: &str, seq: u32) -> Message {
        let mut m = Message::request(method.clone(), uri);
        m.push_header(
            "Via",
            format!("SIP/2.0/TCP {};branch={branch};rport", self.local),
        );
        m.push_header("Max-Forwards", "70");
        m.push_header("From", self.from.clone());
        m.push_header("To", self.to.clone());
        m.push_header("Call-ID", self.call_id.clone());
        m.push_header("CSeq", format!("{seq} {method}"));
        for r in &self.route_set {
            m.push_header("Route", r.clone());
        }
        m.push_header("User-Agent", AGENT);
        m
    }

    /// Our Contact (§8.1.1.8): where the focus's requests reach us, this connection.
    fn contact(&self) -> String {
        format!("<sip:{}@{};transport=tcp>", self.user, self.local)
    }

    /// The dialog state of a 2xx to the INVITE (§12.1.2).
    fn establish(&mut self, resp: &Message) {
        if let Some(to) = resp.header("To") {
            self.to = to.to_owned();
        }
        self.remote_tag = Some(
            resp.to()
                .and_then(|t| t.tag().map(str::to_owned))
                .unwrap_or_default(),
        );
        if let Some(c) = resp
            .header_values("Contact")
            .first()
            .and_then(|c| super::message::NameAddr::parse(c))
        {
            self.remote_target = c.uri;
        }
        self.route_set = resp
            .header_values("Record-Route")
            .into_iter()
            .rev()
            .map(str::to_owned)
            .collect();
    }

    /// Queues `bytes` and writes everything queued.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), CallError> {
        self.out.extend_from_slice(bytes);
        self.flush().await
    }

    /// Writes what is queued. Cancel-safe: a `write` that did not complete wrote nothing, and
    /// what was written is taken off the queue at once.
    async fn flush(&mut self) -> Result<(), CallError> {
        while !self.out.is_empty() {
            let Some(stream) = self.stream.as_mut() else {
                self.out.clear();
                return Err(CallError::Protocol(
                    "the connection to the focus is closed".into(),
                ));
            };
            let n = stream.write(&self.out).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
            }
            self.out.advance(n);
            self.next_ping = Instant::now() + self.keepalive;
        }
        Ok(())
    }

    /// The next message in the buffer, if a whole one is there. Line ends before a message
    /// (§7.5, and the focus's CRLF pongs, RFC 5626 §4.4.1) are dropped.
    fn take_buffered(&mut self) -> Result<Option<Message>, CallError> {
        loop {
            let skip = self
                .buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            self.buf.advance(skip);
            if self.buf.is_empty() {
                return Ok(None);
            }
            match parse_stream(&self.buf, &self.limits) {
                Ok(None) => {
                    if self.buf.len() > self.limits.max_head + self.limits.max_body {
                        return Err(CallError::Protocol("SIP message over the limits".into()));
                    }
                    return Ok(None);
                }
                Ok(Some(Framed::Message(m, used))) => {
                    self.buf.advance(used);
                    return Ok(Some(m));
                }
                Ok(Some(f)) => self.buf.advance(f.consumed()),
                Err(e) if e.keeps_stream() => match frame_len(&self.buf, &self.limits) {
                    Some(n) => self.buf.advance(n),
                    None => return Err(CallError::Protocol(format!("from the focus: {e}"))),
                },
                Err(e) => return Err(CallError::Protocol(format!("from the focus: {e}"))),
            }
        }
    }

    /// The next message from the focus; `None` at the end of the stream.
    async fn recv(&mut self) -> Result<Option<Message>, CallError> {
        loop {
            self.flush().await?;
            if let Some(m) = self.take_buffered()? {
                return Ok(Some(m));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            if stream.read_buf(&mut self.buf).await? == 0 {
                self.close();
                return Ok(None);
            }
        }
    }

    /// The next response of the client transaction `branch`/`method`, provisional or final;
    /// requests that come meanwhile are answered.
    async fn response(&mut self, branch: &str, method: &Method) -> Result<Message, CallError> {
        loop {
            let Some(m) = self.recv().await? else {
                return Err(CallError::Protocol(format!(
                    "the focus closed the connection before answering the {method}"
                )));
            };
            let Some(r) = self.on_message(m) else {
                continue;
            };
            let ours = r.top_via().and_then(|v| v.branch).as_deref() == Some(branch)
                && r.cseq().is_some_and(|c| &c.method == method);
            if ours {
                return Ok(r);
            }
        }
    }

    /// [`Call::response`] until a final one.
    async fn final_response(
        &mut self,
        branch: &str,
        method: &Method,
    ) -> Result<Message, CallError> {
        loop {
            let r = self.response(branch, method).await?;
            if r.code().is_some_and(|c| c >= 200) {
                return Ok(r);
            }
        }
    }

    /// Handles a message from the focus: a request is answered (the answer queued); a
    /// retransmitted 2xx to the INVITE gets the ACK again; other responses are returned.
    fn on_message(&mut self, m: Message) -> Option<Message> {
        if !m.is_request() {
            let retransmitted_2xx = self.ack.is_some()
                && m.code().is_some_and(|c| (200..300).contains(&c))
                && m.call_id() == Some(self.call_id.as_str())
                && m.cseq().is_some_and(|c| c.method == Method::Invite);
            if retransmitted_2xx {
                if let Some(ack) = self.ack.clone() {
                    self.out.extend_from_slice(&ack);
                }
                return None;
            }
            return Some(m);
        }
        self.on_request(m);
        None
    }

    /// Answers a request of the focus (queued).
    fn on_request(&mut self, req: Message) {
        let Some(method) = req.method().cloned() else {
            return;
        };
        if method == Method::Ack {
            // Nothing answers an ACK (§17.2.3); the client sends no 2xx to an INVITE anyway.
            return;
        }
        let has_to_tag = req.to().is_some_and(|t| t.tag().is_some());
        let in_dialog = self.remote_tag.is_some()
            && req.call_id() == Some(self.call_id.as_str())
            && req.to().and_then(|t| t.tag().map(str::to_owned)).as_deref()
                == Some(self.local_tag.as_str())
            && req.from().and_then(|f| f.tag().map(str::to_owned)) == self.remote_tag;
        let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
        let mut resp = if method == Method::Cancel {
            // No server transaction of ours to cancel (§9.2).
            Message::response_to(&req, 481, reason_phrase(481), Some(&self.local_tag))
        } else if has_to_tag && !in_dialog {
            Message::response_to(&req, 481, reason_phrase(481), Some(&self.local_tag))
        } else if in_dialog && self.remote_cseq.is_some_and(|r| seq < r) {
            // §12.2.2: an out-of-order CSeq gets 500.
            Message::response_to(&req, 500, "CSeq out of order", None)
        } else {
            if in_dialog {
                self.remote_cseq = Some(seq);
            }
            match method {
                Method::Bye if in_dialog => {
                    if !self.ended {
                        self.ended = true;
                        self.peer_bye = Some(req.clone());
                    }
                    Message::response_to(&req, 200, "OK", None)
                }
                Method::Options => {
                    let tag = (!has_to_tag).then(|| random_hex(6));
                    let mut r = Message::response_to(&req, 200, "OK", tag.as_deref());
                    r.push_header("Allow", ALLOW);
                    r.push_header("Accept", "application/sdp");
                    r
                }
                _ => {
                    let tag = (!has_to_tag).then(|| random_hex(6));
                    let mut r = Message::response_to(&req, 405, reason_phrase(405), tag.as_deref());
                    r.push_header("Allow", ALLOW);
                    r
                }
            }
        };
        resp.push_header("Server", AGENT);
        self.out.extend_from_slice(&resp.to_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::net::TcpListener;

    const WAIT: Duration = Duration::from_secs(5);

    /// The focus side of a scripted test: its connection and what it has read.
    struct Focus {
        s: TcpStream,
        buf: BytesMut,
        /// The raw bytes read, keep-alives included.
        raw: Vec<u8>,
    }

    impl Focus {
        async fn accept(l: &TcpListener) -> Focus {
            let (s, _) = tokio::time::timeout(WAIT, l.accept())
                .await
                .expect("client connects in time")
                .expect("accept");
            Focus {
                s,
                buf: BytesMut::new(),
                raw: Vec::new(),
            }
        }

        /// The next message from the client (line ends before it skipped).
        async fn read(&mut self) -> Message {
            loop {
                let skip = self
                    .buf
                    .iter()
                    .take_while(|&&b| b == b'\r' || b == b'\n')
                    .count();
                self.buf.advance(skip);
                if !self.buf.is_empty() {
                    if let Some(Framed::Message(m, n)) =
                        parse_stream(&self.buf, &Limits::default()).expect("well-formed SIP")
                    {
                        self.buf.advance(n);
                        return m;
                    }
                }
                let before = self.buf.len();
                let n = tokio::time::timeout(WAIT, self.s.read_buf(&mut self.buf))
                    .await
                    .expect("client writes in time")
                    .expect("read");
                assert!(n > 0, "client closed the connection");
                self.raw.extend_from_slice(&self.buf[before..]);
            }
        }

        async fn send(&mut self, m: &Message) {
            self.s.write_all(&m.to_bytes()).await.expect("write");
        }

        /// Answers INVITE `inv` with 100 and a 200 (tag `ftag`, a Contact, two Record-Routes,
        /// an answer); returns the 200.
        async fn accept_invite(&mut self, inv: &Message) -> Message {
            self.send(&Message::response_to(inv, 100, "Trying", None))
                .await;
            let mut ok = Message::response_to(inv, 200, "OK", Some("ftag"));
            ok.push_header("Contact", "<sip:lobby@127.0.0.1:5999;transport=tcp>");
            ok.push_header("Record-Route", "<sip:p1.example;lr>, <sip:p2.example;lr>");
            ok.push_header("Content-Type", "application/sdp");
            ok.body = Bytes::from_static(b"answer");
            self.send(&ok).await;
            ok
        }

        /// A request of the focus in the dialog of `inv` (answered with tag `ftag`).
        fn in_dialog(inv: &Message, method: Method, seq: u32) -> Message {
            let mut m = Message::request(method.clone(), "sip:alice@127.0.0.1:1;transport=tcp");
            m.push_header(
                "Via",
                format!("SIP/2.0/TCP 127.0.0.1:5999;branch={}", new_branch()),
            );
            m.push_header("Max-Forwards", "70");
            m.push_header("From", format!("{};tag=ftag", inv.header("To").unwrap()));
            m.push_header("To", inv.header("From").unwrap());
            m.push_header("Call-ID", inv.call_id().unwrap());
            m.push_header("CSeq", format!("{seq} {method}"));
            m
        }
    }

    async fn call(addr: SocketAddr) -> Result<(Call, Bytes), CallError> {
        invite(
            &addr.to_string(),
            "sip:lobby@localhost",
            "sip:alice@localhost",
            b"offer",
            WAIT,
        )
        .await
    }

    async fn listener() -> (TcpListener, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let a = l.local_addr().expect("addr");
        (l, a)
    }

    /// §13.2.1: the INVITE's headers; §13.2.2.4: the ACK of the 2xx (a new branch, CSeq 1 ACK,
    /// the To tag, Request-URI the Contact, the route set reversed), sent again for a
    /// retransmitted 2xx; §11.2, §12.2.2, §8.2.1: OPTIONS 200, a request of another dialog 481,
    /// an unknown method 405; §15.1.2: the focus's BYE answered 200 and handed back.
    #[tokio::test]
    async fn invite_ack_and_the_focus_requests() {
        let (l, addr) = listener().await;
        let focus = tokio::spawn(async move {
            let mut f = Focus::accept(&l).await;
            let inv = f.read().await;
            assert_eq!(
                inv.start,
                crate::sip::message::StartLine::Request {
                    method: Method::Invite,
                    uri: "sip:lobby@localhost".into()
                }
            );
            let via = inv.top_via().expect("Via");
            assert_eq!(via.transport, "TCP");
            assert!(via.has_magic_cookie());
            assert_eq!(via.rport, Some(None));
            assert_eq!(inv.header("Max-Forwards"), Some("70"));
            let from = inv.from().expect("From");
            assert_eq!(from.uri, "sip:alice@localhost");
            assert!(from.tag().is_some_and(|t| !t.is_empty()));
            assert_eq!(inv.to().expect("To").uri, "sip:lobby@localhost");
            assert_eq!(inv.to().expect("To").tag(), None);
            assert!(inv.call_id().is_some_and(|c| c.contains('@')));
            assert_eq!(inv.header("CSeq"), Some("1 INVITE"));
            let contact = inv.header("Contact").expect("Contact");
            assert!(contact.starts_with("<sip:alice@127.0.0.1:"), "{contact}");
            assert!(contact.ends_with(";transport=tcp>"), "{contact}");
            assert_eq!(inv.header("Content-Type"), Some("application/sdp"));
            assert!(
                inv.header("User-Agent")
                    .is_some_and(|u| u.starts_with("msrpd-chat/"))
            );
            assert_eq!(&inv.body[..], b"offer");

            let ok = f.accept_invite(&inv).await;
            let ack = f.read().await;
            assert_eq!(
                ack.start,
                crate::sip::message::StartLine::Request {
                    method: Method::Ack,
                    uri: "sip:lobby@127.0.0.1:5999;transport=tcp".into()
                }
            );
            assert_ne!(ack.top_via().unwrap().branch, via.branch);
            assert_eq!(ack.header("CSeq"), Some("1 ACK"));
            assert_eq!(ack.to().unwrap().tag(), Some("ftag"));
            assert_eq!(ack.from(), inv.from());
            assert_eq!(ack.call_id(), inv.call_id());
            assert_eq!(
                ack.header_values("Route"),
                ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
            );
            assert!(ack.body.is_empty());

            // A retransmitted 2xx gets the same ACK again.
            f.send(&ok).await;
            assert_eq!(f.read().await, ack);

            // OPTIONS outside the dialog: 200 with Allow and a To tag.
            let mut opt = Focus::in_dialog(&inv, Method::Options, 7);
            opt.set_header("To", "<sip:alice@localhost>");
            f.send(&opt).await;
            let r = f.read().await;
            assert_eq!(r.code(), Some(200));
            assert_eq!(r.header("CSeq"), Some("7 OPTIONS"));
            assert!(r.to().unwrap().tag().is_some());
            assert_eq!(r.header("Allow"), Some(ALLOW));

            // A BYE of another dialog: 481, and the call goes on.
            let mut stray = Focus::in_dialog(&inv, Method::Bye, 1);
            stray.set_header("To", "<sip:alice@localhost>;tag=not-ours");
            f.send(&stray).await;
            assert_eq!(f.read().await.code(), Some(481));

            // A method the client does not take: 405 with Allow.
            f.send(&Focus::in_dialog(&inv, Method::Info, 2)).await;
            let r = f.read().await;
            assert_eq!(r.code(), Some(405));
            assert_eq!(r.header("Allow"), Some(ALLOW));

            // The focus ends the call.
            let bye = Focus::in_dialog(&inv, Method::Bye, 3);
            f.send(&bye).await;
            let r = f.read().await;
            assert_eq!(r.code(), Some(200));
            assert_eq!(r.header("CSeq"), Some("3 BYE"));
            assert_eq!(r.top_via(), bye.top_via());
            bye
        });
        let (mut call, answer) = call(addr).await.expect("call");
        assert_eq!(&answer[..], b"answer");
        let got = tokio::time::timeout(WAIT, call.next_request())
            .await
            .expect("the BYE in time")
            .expect("a BYE");
        let bye = focus.await.expect("focus script");
        assert_eq!(got.method(), Some(&Method::Bye));
        assert_eq!(got.top_via(), bye.top_via());
        assert_eq!(got.header("CSeq"), Some("3 BYE"));
        assert!(matches!(call.bye().await, Err(CallError::Protocol(_))));
    }

    /// §15.1.1: the client's BYE (the next CSeq, Request-URI the remote target, both tags, the
    /// route set) and its final response after a provisional one.
    #[tokio::test]
    async fn bye_waits_for_the_final_response() {
        let (l, addr) = listener().await;
        let focus = tokio::spawn(async move {
            let mut f = Focus::accept(&l).await;
            let inv = f.read().await;
            f.accept_invite(&inv).await;
            let _ack = f.read().await;
            let bye = f.read().await;
            assert_eq!(
                bye.start,
                crate::sip::message::StartLine::Request {
                    method: Method::Bye,
                    uri: "sip:lobby@127.0.0.1:5999;transport=tcp".into()
                }
            );
            assert_eq!(bye.header("CSeq"), Some("2 BYE"));
            assert_eq!(bye.to().unwrap().tag(), Some("ftag"));
            assert_eq!(bye.from(), inv.from());
            assert_eq!(bye.header_values("Route").len(), 2);
            f.send(&Message::response_to(&bye, 100, "Trying", None))
                .await;
            f.send(&Message::response_to(&bye, 200, "OK", None)).await;
        });
        let (mut call, _) = call(addr).await.expect("call");
        assert_eq!(call.bye().await.expect("BYE answered"), 200);
        focus.await.expect("focus script");
    }

    /// §17.1.1.3: a refusal is ACKed with the INVITE's branch and the response's To, and
    /// reported with its Warning.
    #[tokio::test]
    async fn refusal_is_acked_and_reported() {
        let (l, addr) = listener().await;
        let focus = tokio::spawn(async move {
            let mut f = Focus::accept(&l).await;
            let inv = f.read().await;
            let mut r = Message::response_to(&inv, 488, "Not Acceptable Here", Some("ftag"));
            r.push_header("Warning", "305 msrpd \"no usable media\"");
            f.send(&r).await;
            let ack = f.read().await;
            assert_eq!(ack.method(), Some(&Method::Ack));
            assert_eq!(ack.top_via(), inv.top_via());
            assert_eq!(ack.header("CSeq"), Some("1 ACK"));
            assert_eq!(ack.to().unwrap().tag(), Some("ftag"));
            assert_eq!(ack.call_id(), inv.call_id());
        });
        let e = call(addr).await.expect_err("refused");
        focus.await.expect("focus script");
        match &e {
            CallError::Refused {
                status,
                reason,
                warning,
            } => {
                assert_eq!(*status, 488);
                assert_eq!(reason, "Not Acceptable Here");
                assert_eq!(warning.as_deref(), Some("305 msrpd \"no usable media\""));
            }
            e => panic!("{e:?}"),
        }
    }

    /// RFC 5626 §4.4.1: an idle call sends CRLF CRLF; the CRLF pong is skipped. §18.1.1: once
    /// the connection has closed, the BYE goes out on a new one.
    #[tokio::test]
    async fn keepalive_then_bye_on_a_new_connection() {
        let (l, addr) = listener().await;
        let focus = tokio::spawn(async move {
            let mut f = Focus::accept(&l).await;
            let inv = f.read().await;
            f.accept_invite(&inv).await;
            let _ack = f.read().await;
            // Wait for the keep-alive, answer it, then close the connection.
            while !f.raw.ends_with(b"\r\n\r\n\r\n\r\n") {
                let n = tokio::time::timeout(WAIT, f.s.read_buf(&mut f.buf))
                    .await
                    .expect("keep-alive in time")
                    .expect("read");
                assert!(n > 0);
                let len = f.buf.len();
                f.raw.extend_from_slice(&f.buf[len - n..]);
            }
            f.buf.clear();
            f.s.write_all(b"\r\n").await.expect("pong");
            // The pong is skipped: the next request is answered.
            let mut opt = Focus::in_dialog(&inv, Method::Options, 1);
            opt.set_header("To", "<sip:alice@localhost>");
            f.send(&opt).await;
            assert_eq!(f.read().await.code(), Some(200));
            drop(f);
            let mut g = Focus::accept(&l).await;
            let bye = g.read().await;
            assert_eq!(bye.method(), Some(&Method::Bye));
            assert_eq!(bye.header("CSeq"), Some("2 BYE"));
            assert_eq!(bye.call_id(), inv.call_id());
            g.send(&Message::response_to(&bye, 200, "OK", None)).await;
        });
        let (mut call, _) = call(addr).await.expect("call");
        call.set_keepalive(Duration::from_millis(50));
        let end = tokio::time::timeout(WAIT, call.next_request())
            .await
            .expect("the connection closes in time");
        assert_eq!(end, None);
        assert_eq!(call.bye().await.expect("BYE answered"), 200);
        focus.await.expect("focus script");
    }

    #[test]
    fn user_part_of_uris() {
        assert_eq!(user_part("sip:alice@localhost"), "alice");
        assert_eq!(user_part("sips:bob:secret@example.com"), "bob");
        assert_eq!(user_part("sip:example.com"), "chat");
        assert_eq!(user_part("tel:+1"), "chat");
    }

    #[test]
    fn refusal_shows_status_reason_and_warning() {
        let e = CallError::Refused {
            status: 488,
            reason: "Not Acceptable Here".into(),
            warning: Some("305 msrpd \"no acceptable media\"".into()),
        };
        assert_eq!(
            e.to_string(),
            "488 Not Acceptable Here (305 msrpd \"no acceptable media\")"
        );
        let e = CallError::Refused {
            status: 404,
            reason: "Not Found".into(),
            warning: None,
        };
        assert_eq!(e.to_string(), "404 Not Found");
    }
}
