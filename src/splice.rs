//! Connections that carry frames for both roles: those another relay opens to this host and
//! port, which it reuses for every next hop here (RFC 4976 §6.4.2, 4976-035) — frames to a client
//! of this relay and frames to a chat room alike.
//!
//! The dispatch ([`crate::listener`]) hands most connections whole to one role, by their first
//! frame. A connection whose first request comes through a relay (its From-Path holds more than
//! one URI, RFC 4976 §6.4.1: each relay prepends its own) is spliced instead: every frame read
//! from it goes, by its first To-Path URI, to the relay or to the rooms, each of which sees an
//! in-process connection of its own; what the two write back is merged onto the socket frame by
//! frame (a frame is never interleaved with another). A frame for nobody here is answered 481
//! (4975-063) and skipped; the connection goes on. Frames are decoded and encoded once more on
//! such connections; connections from clients are not spliced and pay nothing.

use std::sync::Arc;

use bytes::BytesMut;
use msrp::transport::{EventReader, MsrpCodec};
use msrp::{DecoderConfig, Event, Head};
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf,
};
use tokio::sync::{Mutex, OwnedSemaphorePermit};
use tracing::debug;

use crate::listener::{Dispatch, Role};

/// Bytes an in-process connection to a role buffers each way.
const PIPE_BYTES: usize = 256 * 1024;

/// One role's side of a spliced connection: where its frames are written.
struct Lane {
    pipe: WriteHalf<DuplexStream>,
}

/// Serves a spliced connection: `prefix` holds the octets already read from `stream` (its
/// first frame, or part of it).
pub(crate) async fn run<S>(
    d: Dispatch,
    stream: S,
    prefix: BytesMut,
    slot: OwnedSemaphorePermit,
    secure: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _slot = slot;
    let (r, w) = tokio::io::split(stream);
    let socket = Arc::new(Mutex::new(w));
    let cfg = DecoderConfig {
        max_head: d.max_head,
        ..DecoderConfig::default()
    };
    let mut reader = EventReader::new(
        std::io::Cursor::new(prefix.freeze()).chain(r),
        MsrpCodec::new(cfg),
    );
    let (mut relay, mut rooms): (Option<Lane>, Option<Lane>) = (None, None);
    // The role the frame being read goes to (`None`: skipped), and whether it has a body.
    let mut current: Option<(Role, bool, msrp::Ident)> = None;
    let mut out = BytesMut::with_capacity(4096);
    loop {
        let ev = match reader.next().await {
            None | Some(Err(_)) => break,
            Some(Ok(Err(e))) if e.can_continue() => {
                debug!(error = %e, "spliced connection: bad frame skipped");
                current = None;
                continue;
            }
            Some(Ok(Err(e))) => {
                debug!(error = %e, "spliced connection: cannot go on");
                break;
            }
            Some(Ok(Ok(ev))) => ev,
        };
        out.clear();
        let role = match ev {
            Event::Head { head, body } => {
                let role = d.role_of(&head);
                if role == Role::Nobody || (role == Role::Relay && d.relay.is_none()) {
                    refuse(&d, &socket, &head).await;
                    current = None;
                    continue;
                }
                msrp::encode::head(&head, body, &mut out);
                current = Some((role, body, head.tid));
                role
            }
            Event::Body(piece) => match &current {
                Some((role, ..)) => {
                    out.extend_from_slice(&piece);
                    *role
                }
                None => continue,
            },
            Event::End(flag) => match current.take() {
                Some((role, body, tid)) => {
                    msrp::encode::end(&tid, flag, body, &mut out);
                    role
                }
                None => continue,
            },
            // Never produced: this decoder sets neither `brief_success_responses` nor
            // `repeated_sends`.
            Event::BriefSuccess(_) | Event::RepeatedSend(_) => continue,
        };
        let lane = match role {
            Role::Relay => &mut relay,
            _ => &mut rooms,
        };
        if lane.is_none() {
            *lane = open_lane(&d, role, &socket, secure);
        }
        let Some(l) = lane.as_mut() else {
            // The role has no connection slot: the frame cannot be served.
            current = None;
            continue;
        };
        if l.pipe.write_all(&out).await.is_err() {
            // The role closed its side (a limit, a protocol error): the next frame for it
            // opens a new one.
            *lane = None;
            current = None;
        }
    }
    // The peer is gone: the roles see their connections end.
    for l in [relay, rooms].into_iter().flatten() {
        let mut pipe = l.pipe;
        let _ = pipe.shutdown().await;
    }
}

/// Opens an in-process connection to `role` and the task that copies what the role writes on
/// it onto the socket, frame by frame.
fn open_lane<W>(d: &Dispatch, role: Role, socket: &Arc<Mutex<W>>, secure: bool) -> Option<Lane>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    let (tr, tw) = tokio::io::split(theirs);
    let served = match role {
        Role::Relay => d.relay.as_ref().is_some_and(|r| r.serve(tr, tw, secure)),
        _ => d.mixer.serve(tr, tw),
    };
    if !served {
        d.metrics.shed(crate::listener::role_label(role));
        return None;
    }
    let (or, ow) = tokio::io::split(ours);
    tokio::spawn(copy_out(or, socket.clone(), d.max_head));
    Some(Lane { pipe: ow })
}

/// Copies the frames a role writes on its in-process connection onto the socket, holding the
/// socket from a frame's first octet to its end-line so that frames of the two roles never
/// interleave (RFC 4975 §7.1).
async fn copy_out<W>(pipe: ReadHalf<DuplexStream>, socket: Arc<Mutex<W>>, max_head: usize)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let cfg = DecoderConfig {
        max_head,
        // The roles' own frames: their bodies are as long as the roles make them.
        max_control_body: u64::MAX,
        ..DecoderConfig::default()
    };
    let mut reader = EventReader::new(pipe, MsrpCodec::new(cfg));
    let mut held = None;
    let mut frame: Option<(msrp::Ident, bool)> = None;
    let mut out = BytesMut::with_capacity(4096);
    while let Some(Ok(Ok(ev))) = reader.next().await {
        out.clear();
        match ev {
            Event::Head { head, body } => {
                msrp::encode::head(&head, body, &mut out);
                frame = Some((head.tid, body));
                held = Some(socket.clone().lock_owned().await);
            }
            Event::Body(piece) => out.extend_from_slice(&piece),
            Event::End(flag) => {
                if let Some((tid, body)) = frame.take() {
                    msrp::encode::end(&tid, flag, body, &mut out);
                }
            }
            // Never produced: this decoder sets neither `brief_success_responses` nor
            // `repeated_sends`.
            Event::BriefSuccess(_) | Event::RepeatedSend(_) => continue,
        }
        let Some(w) = held.as_mut() else { continue };
        if w.write_all(&out).await.is_err() {
            return;
        }
        if frame.is_none() {
            // End of the frame: out it goes (TLS may hold it), and the other role's frames may
            // follow.
            if w.flush().await.is_err() {
                return;
            }
            held = None;
        }
    }
}

/// Answers a frame for nobody here with 481 (4975-063) when a response is owed.
async fn refuse<W: AsyncWrite + Unpin>(d: &Dispatch, socket: &Mutex<W>, head: &Head) {
    d.metrics.dispatched("none");
    if let Some(out) = d.no_such_session(head) {
        let mut w = socket.lock().await;
        if w.write_all(&out).await.is_ok() {
            let _ = w.flush().await;
        }
    }
}
