//! `msrp-fanout`: the fan-out benchmark of the RFC 7701 chat-room mixer (issue 5).
//!
//! It starts the mixer ([`msrp_mixer::server::Mixer`]) in this process, on its own tokio runtime
//! (`--mixer-threads` worker threads named `mixer-rt`) listening on 127.0.0.1:0, and drives it
//! from another runtime (`--load-threads` threads named `load-rt`):
//!
//! 1. **Idle memory** (`--idle K`, 0 skips it): K participants join room `idle` by SDP offer
//!    ([`msrp_mixer::server::MixerHandle::join`], `a=setup:active`: the participant connects,
//!    RFC 6135), then each connects and binds its session with a bodiless SEND (RFC 4975 §5.4),
//!    and nothing else passes. The growth of the process's resident set (`/proc/self/statm`)
//!    divided by K is the memory per idle participant: the mixer's share plus this tool's own end
//!    of each connection (a tokio socket, no buffer, no task), so it over-counts a little; the
//!    growth after the joins alone (before any connection) is reported too. For scale, the same
//!    is measured for K plain connections accepted and held by a bare tokio listener (the
//!    "floor": both ends of a connection with no MSRP at all).
//! 2. **Mixer fan-out**: `--participants N` participants join room `fanout` and bind as above,
//!    each on its own TCP connection from this tool. `--senders S` of them send `--messages M`
//!    public messages each: SENDs of `message/cpim` (RFC 3862) whose CPIM From is the sender and
//!    To the room (RFC 7701 §6.1, 7701-011/012), wrapping `--size` octets of `text/plain` that
//!    carry the sender, the message's number and the time it was sent (nanoseconds since the run
//!    started, one clock for the whole process). Each sender keeps at most `--window W` messages
//!    in flight: sent and not yet received by every other participant. Every participant reads
//!    its connection and counts the copies; a copy's latency is the time from its send to the
//!    read that brought it in. Failure REPORTs (a copy the mixer dropped) and failure responses
//!    are errors.
//! 3. **Baseline** (unless `--no-baseline`): the physical limit on this machine. A bare tokio
//!    task on its own runtime (`base-rt`, as many threads as the mixer's) writes the same bytes
//!    to the same number of loopback connections, read and counted by the same receivers: the
//!    frames the mixer writes for each copy (`MSRP tid SEND`, the recipient's To-Path, the
//!    mixer's From-Path, Message-ID, Byte-Range, `Content-Type: message/cpim`, the CPIM body,
//!    the end-line: RFC 4975 §7.1), prebuilt per connection, with each message's body (and its
//!    timestamp) made once. No MSRP is decoded, no room consulted; the messages are taken under
//!    the same window, and the messages ready at once (at most `--baseline-batch`) go in one
//!    vectored write per connection.
//!
//! Reported per phase: messages/s (messages every recipient got) and deliveries/s (copies
//! received) over the time from the first send to the last copy received, p50/p99/max latency
//! (a log-linear histogram, 1.6% buckets), CPU seconds (utime + stime from
//! `/proc/self/task/*/stat`) of the server threads (`mixer-rt` or `base-rt`), of the load
//! threads and of the whole process, deliveries per server CPU second, and octets received per
//! copy (equal in both phases when the baseline writes the mixer's bytes). Then the ratio
//! mixer / baseline, and the targets of issue 5: at least 500 000 deliveries per second per
//! core (per mixer CPU second), at least 70% of the baseline's deliveries/s, at most 16 KiB per
//! idle participant. One line of `key=value` on stdout (or a JSON object with `--json`) and a
//! readable summary on stderr.
//!
//! Bounded: each step of the setup (join, connect, bind) has 10 s and the whole setup
//! `--setup-seconds`; senders start no message after `--max-seconds`, and a phase ends at most
//! `--grace-seconds` later whatever is outstanding; the first error ends a phase unless
//! `--keep-going`. Exit status 0 when every message started reached every recipient with no
//! error, 1 otherwise, 2 for bad arguments or a failed setup.
//!
//! The machine this was written on has 2 cores and may run other work: the mixer, the load and
//! (in turn) the baseline share them, so the figures of a default run (a few seconds a phase)
//! are indicative, and CPU per delivery is the steadier figure.
#![forbid(unsafe_code)]

mod scan;
mod stats;

use std::fmt::Write as _;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use msrp::{
    ByteRange, ByteString, FailureReport, Flag, Head, Header, IdGenerator, Method, MsrpUri,
};
use msrp_mixer::config::{MixerConfig, RoomPolicy};
use msrp_mixer::server::{Mixer, MixerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::scan::{Kind, Scan};
use crate::stats::{Cpu, Hist};

/// How long each setup step (join, connect, bind) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The domain of the mixer's rooms.
const DOMAIN: &str = "chat.fanout.invalid";
/// The room of the fan-out phase.
const ROOM: &str = "fanout";
/// The room of the idle participants.
const IDLE_ROOM: &str = "idle";
/// Where a message's fields start in its text.
const MARK: &[u8] = b"fanout s=";
/// `fanout s=SSSSS q=QQQQQQQQQQ t=TTTTTTTTTTTTTTTTTTTT `: the smallest text.
const TEXT_MIN: usize = 51;
/// Most messages one sender (or the baseline) writes in one go.
const BATCH_MAX: usize = 64;
/// Thread name prefixes: the mixer's runtime, the baseline's, the load's.
const GROUPS: [&str; 3] = ["mixer-rt", "base-rt", "load-rt"];
/// Targets of issue 5.
const TARGET_PER_CORE: f64 = 500_000.0;
const TARGET_RATIO: f64 = 0.70;
const TARGET_IDLE_OCTETS: f64 = 16.0 * 1024.0;

/// Failure-Report of the senders' SENDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Fr {
    /// `Failure-Report: no`: the mixer answers nothing (RFC 4975 §7.1.2).
    No,
    /// No header: the default, `yes` (each SEND answered 200, failures REPORTed).
    Yes,
}

/// Command line of `msrp-fanout`.
#[derive(Debug, Parser)]
#[command(
    name = "msrp-fanout",
    about = "Fan-out benchmark of the RFC 7701 mixer (in-process): deliveries/s, latency, CPU, \
             memory per idle participant, against a plain-write baseline"
)]
struct Args {
    /// Participants in the room, each on its own TCP connection.
    #[arg(long, default_value_t = 100)]
    participants: usize,
    /// Participants that send (the first S); every other participant gets each message.
    #[arg(long, default_value_t = 1)]
    senders: usize,
    /// Messages each sender sends.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Octets of text/plain in each message (wrapped in CPIM); at least 51.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Messages each sender keeps in flight at most (sent, not yet received by everyone).
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Failure-Report of the SENDs: `yes` (the default, header left out) or `no`.
    #[arg(long, value_enum, default_value_t = Fr::Yes)]
    failure_report: Fr,
    /// Recipients answer every copy with a 200 (RFC 4975 §7.2), as a conforming client does;
    /// by default they only read and count.
    #[arg(long)]
    respond: bool,
    /// Idle participants joined and bound for the memory figure (0: skip it).
    #[arg(long, default_value_t = 1000)]
    idle: usize,
    /// Skip the baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Most messages the baseline writes to a connection in one vectored write (1..=256): 64
    /// (the default) batches what the window allows, as the mixer's writers may; 1 is one write
    /// per copy.
    #[arg(long, default_value_t = 64)]
    baseline_batch: usize,
    /// Worker threads of the mixer's runtime (and of the baseline's).
    #[arg(long, default_value_t = 1)]
    mixer_threads: usize,
    /// Worker threads of the load's runtime (participants' readers and senders).
    #[arg(long, default_value_t = 1)]
    load_threads: usize,
    /// Senders start no message after this many seconds (per phase).
    #[arg(long, default_value_t = 10)]
    max_seconds: u64,
    /// After sending stops, wait at most this long for copies in flight.
    #[arg(long, default_value_t = 5)]
    grace_seconds: u64,
    /// The setup of a phase (joins, connections, binds) may take this long in all.
    #[arg(long, default_value_t = 60)]
    setup_seconds: u64,
    /// Go on after an error (a failure response or REPORT, a closed connection).
    #[arg(long)]
    keep_going: bool,
    /// Print the results as one JSON object instead of key=value.
    #[arg(long)]
    json: bool,
    /// No summary on stderr.
    #[arg(long)]
    quiet: bool,
}

/// A setup failure (exit status 2).
type SetupResult<T> = Result<T, String>;

fn parse_uri(s: &str) -> SetupResult<MsrpUri> {
    MsrpUri::parse(ByteString::from(s.to_owned())).map_err(|e| format!("URI {s:?}: {e}"))
}

/// A participant as the mixer knows it.
#[derive(Debug, Clone)]
struct Ident {
    /// Its session URI (its `a=path`, the To-Path of its copies).
    own: MsrpUri,
    /// The mixer's session URI for it (the answer's path, the From-Path of its copies).
    mixer: MsrpUri,
}

/// Participant `i`'s user URI (fixed width: every sender's CPIM body has the same length).
fn user_of(i: usize) -> String {
    format!("sip:p{i:05}@fanout.invalid")
}

/// The room's URI.
fn room_uri() -> String {
    format!("sip:{ROOM}@{DOMAIN}")
}

/// A participant's SDP offer for a chat room (RFC 7701 §5.2): `message/cpim` with `text/plain`
/// wrapped, its path, `a=setup:active` (it connects, RFC 6135).
fn offer(own: &MsrpUri) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {} TCP/MSRP *\r\na=accept-types:message/cpim\r\n\
         a=accept-wrapped-types:text/plain\r\n\
         a=path:{}\r\na=setup:active\r\na=chatroom:nickname\r\n",
        own.port().unwrap_or(9),
        own.as_str()
    )
}

/// The CPIM headers of sender `s`'s messages, up to the wrapped text (RFC 3862 §3).
fn cpim_prefix(s: usize) -> Bytes {
    Bytes::from(format!(
        "From: <{}>\r\nTo: <{}>\r\n\r\nContent-Type: text/plain\r\n\r\n",
        user_of(s),
        room_uri()
    ))
}

/// Appends message `q` of sender `s`, sent at `t`, as `size` octets of text.
fn push_text(out: &mut BytesMut, size: usize, s: usize, q: usize, t: u64) {
    let start = out.len();
    let _ = write!(out, "fanout s={s:05} q={q:010} t={t:020} ");
    out.resize(start + size, b'x');
}

/// The decimal number in `d` (digits only).
fn digits(d: &[u8]) -> Option<u64> {
    if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(d.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0')))
}

/// The sender, number and send time in a copy's body.
fn fields(body: &[u8]) -> Option<(usize, usize, u64)> {
    let at = memchr::memmem::find(body, MARK)? + MARK.len();
    let f = body.get(at..at + 5 + 3 + 10 + 3 + 20)?;
    if &f[5..8] != b" q=" || &f[18..21] != b" t=" {
        return None;
    }
    Some((
        digits(&f[..5])? as usize,
        digits(&f[8..18])? as usize,
        digits(&f[21..41])?,
    ))
}

/// Connects to `addr` with TCP_NODELAY.
async fn connect(addr: SocketAddr) -> SetupResult<TcpStream> {
    let s = timeout(SETUP_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connect to {addr}: timed out"))?
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    s.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    Ok(s)
}

/// `i` in base 62 with the mixer's digits (`0-9a-zA-Z`).
fn base62(mut i: usize) -> String {
    const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[i % 62]);
        i /= 62;
        if i == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ASCII")
}

/// Reads until the response to `tid` arrives; it must be a 200. Returns what was read after
/// it.
async fn await_ok(s: &mut TcpStream, tid: &str) -> SetupResult<BytesMut> {
    let mut buf = BytesMut::with_capacity(1024);
    let read = async {
        loop {
            loop {
                match scan::next_frame(&buf) {
                    Scan::Frame(f) => {
                        let mine = f.tid == tid.as_bytes();
                        let status = match f.kind {
                            Kind::Response(c) => Some(c),
                            Kind::Request(_) => None,
                        };
                        buf.advance(f.len);
                        match status {
                            Some(200) if mine => return Ok(()),
                            Some(c) if mine => {
                                return Err(format!("the bind SEND was answered {c}"));
                            }
                            _ => {}
                        }
                    }
                    Scan::Partial => break,
                    Scan::Invalid(why) => return Err(format!("from the mixer: {why}")),
                }
            }
            buf.reserve(1024);
            match s.read_buf(&mut buf).await {
                Ok(0) => return Err("the mixer closed the connection".to_owned()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    };
    timeout(SETUP_TIMEOUT, read)
        .await
        .map_err(|_| "no answer to the bind SEND".to_owned())??;
    Ok(buf)
}

/// The in-process mixer.
struct MixerCtx {
    rt: Handle,
    handle: MixerHandle,
    addr: SocketAddr,
}

/// Joins participant `i` to `room` by SDP offer/answer (RFC 7701 §5.2).
async fn join_sdp(m: &MixerCtx, room: &str, i: usize, ids: &mut IdGenerator) -> SetupResult<Ident> {
    let own = parse_uri(&format!(
        "msrp://p{i:05}.fanout.invalid:7000/{};tcp",
        ids.next_id()
    ))?;
    let (h, room_name, user, sdp) = (m.handle.clone(), room.to_owned(), user_of(i), offer(&own));
    // On the mixer's runtime: a join that creates a room spawns the room's task.
    let joined = timeout(
        SETUP_TIMEOUT,
        m.rt.spawn(async move { h.join(&room_name, &user, sdp.as_bytes()).await }),
    )
    .await
    .map_err(|_| "join: timed out".to_owned())?
    .map_err(|e| format!("join task: {e}"))?
    .map_err(|e| format!("join: {e}"))?;
    Ok(Ident {
        own,
        mixer: joined.local,
    })
}

/// Connects to the mixer and binds `id`'s session with a bodiless SEND (RFC 4975 §5.4).
/// Returns the connection and what was read after the 200.
async fn bind(
    addr: SocketAddr,
    id: &Ident,
    ids: &mut IdGenerator,
) -> SetupResult<(TcpStream, BytesMut)> {
    let mut s = connect(addr).await?;
    let bind = Head::request(
        Method::Send,
        ids.next_id(),
        msrp::path![id.mixer.clone()],
        msrp::path![id.own.clone()],
    )
    .with(Header::MessageId(ids.next_id()))
    .with(Header::ByteRange(ByteRange::whole(0)));
    let mut b = BytesMut::new();
    msrp::encode::frame(&bind, None, Flag::Last, &mut b);
    timeout(SETUP_TIMEOUT, s.write_all(&b))
        .await
        .map_err(|_| "write: timed out".to_owned())?
        .map_err(|e| format!("write: {e}"))?;
    let rest = await_ok(&mut s, &bind.tid).await?;
    Ok((s, rest))
}

/// What the tasks of one traffic phase share.
struct Phase {
    base: Instant,
    /// Messages per sender.
    messages: usize,
    /// Copies of each message: every participant but its sender.
    expected: u32,
    /// Copies received of message `s * messages + q`.
    counts: Vec<AtomicU32>,
    /// Free window slots per sender.
    windows: Vec<Semaphore>,
    /// Woken when a message has reached everyone.
    progress: Notify,
    started: AtomicU64,
    completed: AtomicU64,
    deliveries: AtomicU64,
    /// Octets of the copies (SEND frames) read by the participants.
    bytes: AtomicU64,
    /// 200 responses read (the mixer's answers to SENDs).
    acks: AtomicU64,
    reports: AtomicU64,
    /// When the last copy was read (nanoseconds since `base`).
    last_ns: AtomicU64,
    senders_done: AtomicUsize,
    hist: Hist,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Set when the phase is torn down: closed connections are no error then.
    stopping: AtomicBool,
}

impl Phase {
    fn new(args: &Args) -> Phase {
        let total = args.senders * args.messages;
        Phase {
            base: Instant::now(),
            messages: args.messages,
            expected: (args.participants - 1) as u32,
            counts: (0..total).map(|_| AtomicU32::new(0)).collect(),
            windows: (0..args.senders)
                .map(|_| Semaphore::new(args.window))
                .collect(),
            progress: Notify::new(),
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            reports: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            senders_done: AtomicUsize::new(0),
            hist: Hist::default(),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
            stopping: AtomicBool::new(false),
        }
    }

    fn nanos(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn error(&self, what: String) {
        if self.stopping.load(Ordering::Relaxed) {
            return;
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(what);
        }
    }

    /// A copy of message `q` of sender `s`, sent at `t`, read at `now`.
    fn delivered(&self, s: usize, q: usize, t: u64, now: u64) {
        let Some(c) = self
            .counts
            .get(s * self.messages + q)
            .filter(|_| q < self.messages)
        else {
            self.error(format!("a copy of unknown message s={s} q={q}"));
            return;
        };
        self.hist.record_n(now.saturating_sub(t), 1);
        let n = c.fetch_add(1, Ordering::Relaxed) + 1;
        if n == self.expected {
            self.completed.fetch_add(1, Ordering::Relaxed);
            if let Some(w) = self.windows.get(s) {
                w.add_permits(1);
            }
            self.progress.notify_one();
        } else if n > self.expected {
            self.error(format!("message s={s} q={q} arrived {n} times"));
        }
    }
}

/// One participant's reading side.
struct Receiver {
    r: OwnedReadHalf,
    buf: BytesMut,
    /// With `--respond`: its writing side and its own URI, to answer each copy.
    respond: Option<(Arc<tokio::sync::Mutex<OwnedWriteHalf>>, Bytes)>,
}

/// Reads frames and counts copies until the connection ends (or the task is aborted).
async fn receive(mut rx: Receiver, phase: Arc<Phase>) {
    let mut out = BytesMut::new();
    loop {
        let now = phase.nanos();
        let mut pos = 0;
        let (mut copies, mut octets) = (0u64, 0u64);
        loop {
            let f = match scan::next_frame(&rx.buf[pos..]) {
                Scan::Frame(f) => f,
                Scan::Partial => break,
                Scan::Invalid(why) => {
                    phase.error(format!("a participant read garbage: {why}"));
                    return;
                }
            };
            pos += f.len;
            match f.kind {
                Kind::Request(b"SEND") => {
                    octets += f.len as u64;
                    match fields(f.body) {
                        Some((s, q, t)) => {
                            copies += 1;
                            phase.delivered(s, q, t, now);
                        }
                        None => phase.error("a SEND without the benchmark's text".to_owned()),
                    }
                    if let Some((_, own)) = &rx.respond {
                        // RFC 4975 §7.2: To-Path is the previous hop (the first From-Path URI).
                        let to = f
                            .header(b"From-Path")
                            .and_then(|p| p.split(|&b| b == b' ').next())
                            .unwrap_or_default();
                        out.extend_from_slice(b"MSRP ");
                        out.extend_from_slice(f.tid);
                        out.extend_from_slice(b" 200 OK\r\nTo-Path: ");
                        out.extend_from_slice(to);
                        out.extend_from_slice(b"\r\nFrom-Path: ");
                        out.extend_from_slice(own);
                        out.extend_from_slice(b"\r\n-------");
                        out.extend_from_slice(f.tid);
                        out.extend_from_slice(b"$\r\n");
                    }
                }
                Kind::Request(b"REPORT") => {
                    phase.reports.fetch_add(1, Ordering::Relaxed);
                    phase.error("a REPORT (a copy the mixer could not deliver)".to_owned());
                }
                Kind::Request(m) => phase.error(format!(
                    "an unexpected request {}",
                    String::from_utf8_lossy(m)
                )),
                Kind::Response(200) => {
                    phase.acks.fetch_add(1, Ordering::Relaxed);
                }
                Kind::Response(c) => phase.error(format!("a {c} response")),
            }
        }
        rx.buf.advance(pos);
        if copies > 0 {
            phase.deliveries.fetch_add(copies, Ordering::Relaxed);
            phase.bytes.fetch_add(octets, Ordering::Relaxed);
            phase.last_ns.fetch_max(now, Ordering::Relaxed);
        }
        if !out.is_empty() {
            if let Some((w, _)) = &rx.respond {
                if let Err(e) = w.lock().await.write_all(&out).await {
                    phase.error(format!("a participant's write: {e}"));
                    return;
                }
            }
            out.clear();
        }
        if rx.buf.capacity() - rx.buf.len() < 4096 {
            rx.buf.reserve(16 * 1024);
        }
        match rx.r.read_buf(&mut rx.buf).await {
            Ok(0) => {
                phase.error("a participant's connection was closed".to_owned());
                return;
            }
            Ok(_) => {}
            Err(e) => {
                phase.error(format!("a participant's read: {e}"));
                return;
            }
        }
    }
}

/// One sender's writing side.
struct Sender {
    w: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    s: usize,
    id: Ident,
    fr: Fr,
    size: usize,
}

/// Sends the messages of one sender, at most a window of them in flight, until all are sent or
/// `until`.
async fn send(tx: Sender, phase: Arc<Phase>, until: Instant) {
    let mut ids = IdGenerator::new();
    let prefix = cpim_prefix(tx.s);
    let window = &phase.windows[tx.s];
    let mut buf = BytesMut::new();
    let mut body = BytesMut::new();
    let mut q = 0;
    while q < phase.messages && Instant::now() < until {
        let permit = tokio::select! {
            p = window.acquire() => p,
            _ = tokio::time::sleep_until(until.into()) => break,
        };
        let Ok(p) = permit else { break };
        p.forget();
        let mut k = 1;
        while k < BATCH_MAX
            && q + k < phase.messages
            && window.try_acquire().map(|p| p.forget()).is_ok()
        {
            k += 1;
        }
        let t = phase.nanos();
        for _ in 0..k {
            body.clear();
            body.extend_from_slice(&prefix);
            push_text(&mut body, tx.size, tx.s, q, t);
            let mut head = Head::request(
                Method::Send,
                ids.next_id(),
                msrp::path![tx.id.mixer.clone()],
                msrp::path![tx.id.own.clone()],
            )
            .with(Header::MessageId(ids.next_id()))
            .with(Header::ByteRange(ByteRange::whole(body.len() as u64)))
            .with(Header::ContentType(ByteString::from_static("message/cpim")));
            if tx.fr == Fr::No {
                head.push(Header::FailureReport(FailureReport::No));
            }
            msrp::encode::frame(&head, Some(&body), Flag::Last, &mut buf);
            q += 1;
        }
        phase.started.fetch_add(k as u64, Ordering::Relaxed);
        if let Err(e) = tx.w.lock().await.write_all(&buf).await {
            phase.error(format!("a sender's write: {e}"));
            break;
        }
        buf.clear();
    }
    phase.senders_done.fetch_add(1, Ordering::Relaxed);
}

/// Writes `segs` on `w`: one vectored write, and the rest (if the socket took less) the slow
/// way.
async fn write_segs(w: &mut OwnedWriteHalf, segs: &[Bytes]) -> io::Result<()> {
    let iov: Vec<IoSlice<'_>> = segs.iter().map(|b| IoSlice::new(b)).collect();
    let total: usize = segs.iter().map(Bytes::len).sum();
    let n = match w.try_write_vectored(&iov) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if n == total {
        return Ok(());
    }
    let mut rest = Vec::with_capacity(total - n);
    let mut skip = n;
    for s in segs {
        if skip >= s.len() {
            skip -= s.len();
            continue;
        }
        rest.extend_from_slice(&s[skip..]);
        skip = 0;
    }
    w.write_all(&rest).await
}

/// The baseline's writer: the mixer's frames for every copy, prebuilt per connection.
struct Baseline {
    writers: Vec<OwnedWriteHalf>,
    /// Per connection: the head of a copy to it, up to the body.
    heads: Vec<Bytes>,
    /// Per connection: the end-line after the body.
    ends: Vec<Bytes>,
    senders: usize,
    size: usize,
    /// Most messages per write.
    batch: usize,
}

/// Takes the messages the windows allow, makes each body once, and writes every connection
/// its copies in one vectored write; until all are sent or `until`.
async fn baseline_write(mut b: Baseline, phase: Arc<Phase>, until: Instant) {
    let prefixes: Vec<Bytes> = (0..b.senders).map(cpim_prefix).collect();
    let mut next = vec![0usize; b.senders];
    let mut batch: Vec<(usize, Bytes)> = Vec::with_capacity(b.batch);
    let mut segs: Vec<Bytes> = Vec::with_capacity(3 * b.batch);
    let mut body = BytesMut::new();
    'run: loop {
        if Instant::now() >= until {
            break;
        }
        let mut ready: Vec<(usize, usize)> = Vec::new();
        for (s, q) in next.iter_mut().enumerate() {
            while *q < phase.messages
                && ready.len() < b.batch
                && phase.windows[s].try_acquire().map(|p| p.forget()).is_ok()
            {
                ready.push((s, *q));
                *q += 1;
            }
        }
        if ready.is_empty() {
            if next.iter().all(|&q| q >= phase.messages) {
                break;
            }
            tokio::select! {
                _ = phase.progress.notified() => {}
                _ = tokio::time::sleep_until(until.into()) => break,
            }
            continue;
        }
        let t = phase.nanos();
        batch.clear();
        for &(s, q) in &ready {
            body.clear();
            body.extend_from_slice(&prefixes[s]);
            push_text(&mut body, b.size, s, q, t);
            batch.push((s, body.split().freeze()));
        }
        phase
            .started
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (r, w) in b.writers.iter_mut().enumerate() {
            segs.clear();
            for (s, body) in &batch {
                if *s != r {
                    segs.push(b.heads[r].clone());
                    segs.push(body.clone());
                    segs.push(b.ends[r].clone());
                }
            }
            if segs.is_empty() {
                continue;
            }
            if let Err(e) = write_segs(w, &segs).await {
                phase.error(format!("the baseline's write: {e}"));
                break 'run;
            }
        }
    }
    phase.senders_done.fetch_add(b.senders, Ordering::Relaxed);
    // Dropping the write halves would end the connections under the receivers: hold them until
    // the phase is torn down (the task is aborted).
    std::future::pending::<()>().await;
    drop(b);
}

/// What one traffic phase measured.
#[derive(Debug, Clone, Default)]
struct PhaseResult {
    started: u64,
    completed: u64,
    deliveries: u64,
    bytes: u64,
    acks: u64,
    reports: u64,
    errors: u64,
    first_error: Option<String>,
    /// From the first send to the last copy read.
    elapsed_s: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    /// CPU seconds of the server's threads (mixer or baseline), the load's, the process's.
    server_cpu_s: f64,
    load_cpu_s: f64,
    process_cpu_s: f64,
    /// Setup time (joins, connections, binds).
    setup_s: f64,
}

impl PhaseResult {
    fn per_s(&self, x: u64) -> f64 {
        if self.elapsed_s > 0.0 {
            x as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
    fn deliveries_per_s(&self) -> f64 {
        self.per_s(self.deliveries)
    }
    fn per_server_cpu_s(&self) -> f64 {
        if self.server_cpu_s > 0.0 {
            self.deliveries as f64 / self.server_cpu_s
        } else {
            0.0
        }
    }
    fn octets_per_copy(&self) -> f64 {
        if self.deliveries > 0 {
            self.bytes as f64 / self.deliveries as f64
        } else {
            0.0
        }
    }
}

/// Runs a phase whose tasks were started at `t0` (nanoseconds of `phase`): waits until every
/// message started reached everyone, the hard deadline `hard`, or (unless `--keep-going`) an
/// error, and measures.
async fn finish(
    args: &Args,
    phase: &Phase,
    t0: u64,
    cpu0: Cpu,
    hard: Instant,
    clk_tck: f64,
    server_group: usize,
) -> PhaseResult {
    let (senders, keep_going) = (args.senders, args.keep_going);
    loop {
        let done = phase.senders_done.load(Ordering::Relaxed) >= senders
            && phase.completed.load(Ordering::Relaxed) >= phase.started.load(Ordering::Relaxed);
        if done
            || Instant::now() >= hard
            || (!keep_going && phase.errors.load(Ordering::Relaxed) > 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cpu = Cpu::now(&GROUPS).since(&cpu0);
    let end = phase.nanos();
    phase.stopping.store(true, Ordering::Relaxed);
    let last = phase.last_ns.load(Ordering::Relaxed);
    let elapsed = if last > t0 { last - t0 } else { end - t0 };
    let us = |ns: u64| ns as f64 / 1000.0;
    PhaseResult {
        started: phase.started.load(Ordering::Relaxed),
        completed: phase.completed.load(Ordering::Relaxed),
        deliveries: phase.deliveries.load(Ordering::Relaxed),
        bytes: phase.bytes.load(Ordering::Relaxed),
        acks: phase.acks.load(Ordering::Relaxed),
        reports: phase.reports.load(Ordering::Relaxed),
        errors: phase.errors.load(Ordering::Relaxed),
        first_error: phase
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
        elapsed_s: elapsed as f64 / 1e9,
        p50_us: us(phase.hist.quantile(0.50)),
        p99_us: us(phase.hist.quantile(0.99)),
        max_us: us(phase.hist.max()),
        server_cpu_s: cpu.groups[server_group] as f64 / clk_tck,
        load_cpu_s: cpu.groups[2] as f64 / clk_tck,
        process_cpu_s: cpu.process as f64 / clk_tck,
        setup_s: 0.0,
    }
}

/// Lets background work settle (connections closing, rooms cleaning up) before measuring.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Memory per idle participant (RSS growth per participant, octets): all of it, the share of
/// the joins (SDP and room state, before any connection), and per plain connection held by a
/// bare listener (both ends).
#[derive(Debug, Clone, Copy)]
struct IdleMemory {
    per_participant: f64,
    per_join: f64,
    floor_per_conn: f64,
}

/// Measures [`IdleMemory`] with `--idle` participants: all join first, then all connect and
/// bind (within the mixer's bind timeout of 30 s), then nothing passes.
async fn idle_memory(
    args: &Args,
    m: &MixerCtx,
    base: &Handle,
    page: u64,
) -> SetupResult<IdleMemory> {
    let k = args.idle;
    let deadline = Instant::now() + Duration::from_secs(args.setup_seconds);
    let mut ids = IdGenerator::new();
    let mut idents: Vec<Ident> = Vec::with_capacity(k);
    let mut keep: Vec<TcpStream> = Vec::with_capacity(k);
    settle().await;
    let r0 = stats::rss(page).ok_or("cannot read /proc/self/statm")?;
    for i in 0..k {
        if Instant::now() >= deadline {
            return Err(format!("idle setup: {i} of {k} joined in --setup-seconds"));
        }
        idents.push(
            join_sdp(m, IDLE_ROOM, i, &mut ids)
                .await
                .map_err(|e| format!("idle participant {i}: {e}"))?,
        );
    }
    settle().await;
    let r1 = stats::rss(page).ok_or("cannot read /proc/self/statm")?;
    for (i, id) in idents.iter().enumerate() {
        if Instant::now() >= deadline {
            return Err(format!("idle setup: {i} of {k} bound in --setup-seconds"));
        }
        let (s, _) = bind(m.addr, id, &mut ids)
            .await
            .map_err(|e| format!("idle participant {i}: {e}"))?;
        keep.push(s);
    }
    settle().await;
    let r2 = stats::rss(page).ok_or("cannot read /proc/self/statm")?;
    drop(keep);
    settle().await;

    // The floor: plain connections, accepted and held by a bare tokio listener.
    let listener = base
        .spawn(TcpListener::bind("127.0.0.1:0"))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let acceptor = base.spawn(async move {
        let mut held = Vec::with_capacity(k);
        for _ in 0..k {
            match timeout(SETUP_TIMEOUT, listener.accept()).await {
                Ok(Ok((s, _))) => held.push(s),
                _ => break,
            }
        }
        held
    });
    let mut clients: Vec<TcpStream> = Vec::with_capacity(k);
    settle().await;
    let f0 = stats::rss(page).ok_or("cannot read /proc/self/statm")?;
    for _ in 0..k {
        clients.push(connect(addr).await?);
    }
    let held = acceptor.await.map_err(|e| e.to_string())?;
    if held.len() != k {
        return Err(format!("floor: accepted {} of {k}", held.len()));
    }
    settle().await;
    let f1 = stats::rss(page).ok_or("cannot read /proc/self/statm")?;
    drop(clients);
    drop(held);
    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / k as f64;
    Ok(IdleMemory {
        per_participant: per(r0, r2),
        per_join: per(r0, r1),
        floor_per_conn: per(f0, f1),
    })
}

/// The mixer phase: joins and binds the room, runs the senders, measures. Returns the result
/// and the participants (for the baseline's frames).
async fn mixer_phase(
    args: &Args,
    m: &MixerCtx,
    clk_tck: f64,
) -> SetupResult<(PhaseResult, Vec<Ident>)> {
    let n = args.participants;
    let setup_start = Instant::now();
    let deadline = setup_start + Duration::from_secs(args.setup_seconds);
    let mut ids = IdGenerator::new();
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        if Instant::now() >= deadline {
            return Err(format!("setup: {i} of {n} joined in --setup-seconds"));
        }
        let id = join_sdp(m, ROOM, i, &mut ids)
            .await
            .map_err(|e| format!("participant {i}: {e}"))?;
        let (s, rest) = bind(m.addr, &id, &mut ids)
            .await
            .map_err(|e| format!("participant {i}: {e}"))?;
        conns.push((s, rest, id));
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    let phase = Arc::new(Phase::new(args));
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    let mut writers = Vec::new();
    let mut idents = Vec::new();
    for (s, buf, id) in conns {
        let (r, w) = s.into_split();
        let w = Arc::new(tokio::sync::Mutex::new(w));
        let respond = args.respond.then(|| {
            (
                w.clone(),
                Bytes::copy_from_slice(id.own.as_str().as_bytes()),
            )
        });
        tasks.push(tokio::spawn(receive(
            Receiver { r, buf, respond },
            phase.clone(),
        )));
        writers.push(w);
        idents.push(id);
    }
    let t0 = phase.nanos();
    let cpu0 = Cpu::now(&GROUPS);
    let until = Instant::now() + Duration::from_secs(args.max_seconds);
    for (s, w) in writers.iter().enumerate().take(args.senders) {
        let tx = Sender {
            w: w.clone(),
            s,
            id: idents[s].clone(),
            fr: args.failure_report,
            size: args.size,
        };
        tasks.push(tokio::spawn(send(tx, phase.clone(), until)));
    }
    let mut r = finish(
        args,
        &phase,
        t0,
        cpu0,
        until + Duration::from_secs(args.grace_seconds),
        clk_tck,
        0,
    )
    .await;
    r.setup_s = setup_s;
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    drop(writers);
    Ok((r, idents))
}

/// The baseline phase: the same copies, written by a bare task to as many connections.
async fn baseline_phase(
    args: &Args,
    base: &Handle,
    idents: &[Ident],
    clk_tck: f64,
) -> SetupResult<PhaseResult> {
    let n = args.participants;
    let setup_start = Instant::now();
    let listener = base
        .spawn(TcpListener::bind("127.0.0.1:0"))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("listen: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let acceptor = base.spawn(async move {
        let mut held = Vec::with_capacity(n);
        for _ in 0..n {
            match timeout(SETUP_TIMEOUT, listener.accept()).await {
                Ok(Ok((s, _))) => {
                    let _ = s.set_nodelay(true);
                    held.push(s);
                }
                _ => break,
            }
        }
        held
    });
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(connect(addr).await?);
    }
    let accepted = acceptor.await.map_err(|e| e.to_string())?;
    if accepted.len() != n {
        return Err(format!("baseline: accepted {} of {n}", accepted.len()));
    }
    // The mixer's frames (server.rs `emit`): SEND, To-Path, From-Path, Message-ID,
    // Byte-Range, Content-Type, blank line; the body; the end-line.
    let body_len = (cpim_prefix(0).len() + args.size) as u64;
    let mut ids = IdGenerator::new();
    let (mut heads, mut ends) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut b = BytesMut::new();
    for (j, id) in idents.iter().enumerate() {
        // The mixer numbers a frame's copies from one random stem (server.rs `emit`): copy i's
        // transaction id is the 16-character stem and `i` in base 62. With the first
        // participant as the sender, participant j is copy j - 1.
        let tid: msrp::Ident = format!("{}{}", ids.next_id(), base62(j.saturating_sub(1)))
            .parse()
            .expect("a stem and a suffix make an ident");
        let head = Head::request(
            Method::Send,
            tid,
            msrp::path![id.own.clone()],
            msrp::path![id.mixer.clone()],
        )
        .with(Header::MessageId(ids.next_id()))
        .with(Header::ByteRange(ByteRange::whole(body_len)))
        .with(Header::ContentType(ByteString::from_static("message/cpim")));
        msrp::encode::head(&head, true, &mut b);
        heads.push(b.split().freeze());
        msrp::encode::end(&tid, Flag::Last, true, &mut b);
        ends.push(b.split().freeze());
    }
    let phase = Arc::new(Phase::new(args));
    let mut writers = Vec::with_capacity(n);
    let mut server_tasks: Vec<JoinHandle<()>> = Vec::new();
    let mut read_halves = Vec::new();
    for s in accepted {
        let (r, w) = s.into_split();
        writers.push(w);
        if args.respond {
            // The responses to the copies: read and dropped, as the mixer does.
            let mut r = r;
            server_tasks.push(base.spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
            }));
        } else {
            read_halves.push(r);
        }
    }
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    let mut client_writers = Vec::new();
    for (c, id) in clients.into_iter().zip(idents) {
        let (r, w) = c.into_split();
        let w = Arc::new(tokio::sync::Mutex::new(w));
        let respond = args.respond.then(|| {
            (
                w.clone(),
                Bytes::copy_from_slice(id.own.as_str().as_bytes()),
            )
        });
        tasks.push(tokio::spawn(receive(
            Receiver {
                r,
                buf: BytesMut::with_capacity(16 * 1024),
                respond,
            },
            phase.clone(),
        )));
        client_writers.push(w);
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    let t0 = phase.nanos();
    let cpu0 = Cpu::now(&GROUPS);
    let until = Instant::now() + Duration::from_secs(args.max_seconds);
    let writer = Baseline {
        writers,
        heads,
        ends,
        senders: args.senders,
        size: args.size,
        batch: args.baseline_batch,
    };
    server_tasks.push(base.spawn(baseline_write(writer, phase.clone(), until)));
    let mut r = finish(
        args,
        &phase,
        t0,
        cpu0,
        until + Duration::from_secs(args.grace_seconds),
        clk_tck,
        1,
    )
    .await;
    r.setup_s = setup_s;
    for t in tasks.iter().chain(&server_tasks) {
        t.abort();
    }
    for t in tasks.into_iter().chain(server_tasks) {
        let _ = t.await;
    }
    drop(read_halves);
    drop(client_writers);
    Ok(r)
}

/// Everything measured.
#[derive(Debug)]
struct Results {
    mixer: PhaseResult,
    baseline: Option<PhaseResult>,
    idle: Option<IdleMemory>,
    body_len: usize,
    clk_tck: f64,
    clk_tck_assumed: bool,
}

async fn run(args: &Args, mixer_rt: Handle, base_rt: Handle) -> SetupResult<Results> {
    if args.participants < 2 {
        return Err("--participants must be at least 2".into());
    }
    if args.senders == 0 || args.senders > args.participants || args.senders > 99_999 {
        return Err("--senders must be between 1 and --participants".into());
    }
    if args.size < TEXT_MIN {
        return Err(format!("--size must be at least {TEXT_MIN}"));
    }
    if !(1..=256).contains(&args.baseline_batch) {
        return Err("--baseline-batch must be between 1 and 256".into());
    }
    if args.window == 0 || args.messages == 0 {
        return Err("--window and --messages must be at least 1".into());
    }
    // Both ends of every connection live in this process.
    let fds = 2 * args.participants.max(args.idle) as u64 + 64;
    if let Some(limit) = stats::open_files_limit()
        && limit < fds
    {
        return Err(format!(
            "open files limit {limit} < {fds} needed: raise it (ulimit -n {fds})"
        ));
    }
    let (clk_tck, clk_tck_assumed) = match stats::getconf("CLK_TCK") {
        Some(t) => (t as f64, false),
        None => (100.0, true),
    };
    let page = stats::getconf("PAGESIZE").unwrap_or(4096);

    let mut cfg = MixerConfig::new("127.0.0.1", DOMAIN);
    cfg.auto_create = Some(RoomPolicy {
        max_participants: 1_000_000,
        history: 0,
        ..RoomPolicy::default()
    });
    cfg.max_connections = cfg
        .max_connections
        .max(2 * args.participants.max(args.idle) + 16);
    let mixer = mixer_rt
        .spawn(Mixer::bind(cfg))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("mixer bind: {e}"))?;
    let addr = mixer.local_addr().map_err(|e| e.to_string())?;
    let handle = mixer.handle();
    mixer_rt.spawn(mixer.run());
    let m = MixerCtx {
        rt: mixer_rt,
        handle,
        addr,
    };

    let idle = if args.idle > 0 {
        Some(idle_memory(args, &m, &base_rt, page).await?)
    } else {
        None
    };
    let (mixer, idents) = mixer_phase(args, &m, clk_tck).await?;
    let baseline = if args.no_baseline {
        None
    } else {
        // Let the mixer close the phase's sessions before the baseline runs.
        settle().await;
        Some(baseline_phase(args, &base_rt, &idents, clk_tck).await?)
    };
    m.handle.shutdown();
    Ok(Results {
        mixer,
        baseline,
        idle,
        body_len: cpim_prefix(0).len() + args.size,
        clk_tck,
        clk_tck_assumed,
    })
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value of the key=value line: spaces would split it, so they become `_`.
fn kv_str(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

/// `a / b`, or `None` when `b` is 0.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn fields_of(args: &Args, r: &Results) -> Vec<(String, String, bool)> {
    let mut f: Vec<(String, String, bool)> = Vec::new();
    let mut put = |k: &str, v: String| f.push((k.to_owned(), v, false));
    put("participants", args.participants.to_string());
    put("senders", args.senders.to_string());
    put("messages", args.messages.to_string());
    put("size", args.size.to_string());
    put("cpim_octets", r.body_len.to_string());
    put("window", args.window.to_string());
    put("respond", args.respond.to_string());
    put("mixer_threads", args.mixer_threads.to_string());
    put("load_threads", args.load_threads.to_string());
    put("max_seconds", args.max_seconds.to_string());
    put("baseline_batch", args.baseline_batch.to_string());
    let phases = [("mixer", Some(&r.mixer)), ("base", r.baseline.as_ref())];
    for (name, p) in phases {
        let Some(p) = p else { continue };
        let k = |s: &str| format!("{name}_{s}");
        put(&k("setup_s"), format!("{:.2}", p.setup_s));
        put(&k("started"), p.started.to_string());
        put(&k("completed"), p.completed.to_string());
        put(&k("deliveries"), p.deliveries.to_string());
        put(&k("errors"), p.errors.to_string());
        put(&k("reports"), p.reports.to_string());
        put(&k("acks"), p.acks.to_string());
        put(&k("elapsed_s"), format!("{:.3}", p.elapsed_s));
        put(&k("msgs_per_s"), format!("{:.0}", p.per_s(p.completed)));
        put(
            &k("deliveries_per_s"),
            format!("{:.0}", p.deliveries_per_s()),
        );
        put(&k("p50_us"), format!("{:.0}", p.p50_us));
        put(&k("p99_us"), format!("{:.0}", p.p99_us));
        put(&k("max_us"), format!("{:.0}", p.max_us));
        put(&k("server_cpu_s"), format!("{:.2}", p.server_cpu_s));
        put(&k("load_cpu_s"), format!("{:.2}", p.load_cpu_s));
        put(&k("process_cpu_s"), format!("{:.2}", p.process_cpu_s));
        put(
            &k("deliveries_per_server_cpu_s"),
            format!("{:.0}", p.per_server_cpu_s()),
        );
        put(&k("octets_per_copy"), format!("{:.1}", p.octets_per_copy()));
    }
    if let Some(b) = &r.baseline {
        if let Some(x) = ratio(r.mixer.deliveries_per_s(), b.deliveries_per_s()) {
            put("ratio_deliveries_per_s", format!("{x:.3}"));
            put("target_ratio_met", (x >= TARGET_RATIO).to_string());
        }
        if let Some(x) = ratio(r.mixer.per_server_cpu_s(), b.per_server_cpu_s()) {
            put("ratio_per_cpu_s", format!("{x:.3}"));
        }
    }
    if r.mixer.server_cpu_s > 0.0 {
        put(
            "target_per_core_met",
            (r.mixer.per_server_cpu_s() >= TARGET_PER_CORE).to_string(),
        );
    }
    if let Some(i) = r.idle {
        put("idle_participants", args.idle.to_string());
        put(
            "idle_rss_per_participant",
            format!("{:.0}", i.per_participant),
        );
        put("idle_rss_per_join", format!("{:.0}", i.per_join));
        put(
            "idle_rss_floor_per_conn",
            format!("{:.0}", i.floor_per_conn),
        );
        put(
            "target_idle_met",
            (i.per_participant <= TARGET_IDLE_OCTETS).to_string(),
        );
    }
    put("clk_tck", format!("{}", r.clk_tck));
    put("clk_tck_assumed", r.clk_tck_assumed.to_string());
    put(
        "host_cores",
        std::thread::available_parallelism()
            .map_or(0, |n| n.get())
            .to_string(),
    );
    for (name, p) in phases {
        if let Some(e) = p.and_then(|p| p.first_error.clone()) {
            f.push((format!("{name}_first_error"), e, true));
        }
    }
    f
}

fn report_line(args: &Args, r: &Results) -> String {
    let fields = fields_of(args, r);
    if args.json {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v, s)| {
                let v = if *s { json_str(v) } else { v.clone() };
                let v = if v == "true" || v == "false" || *s || v.parse::<f64>().is_ok() {
                    v
                } else {
                    json_str(&v)
                };
                format!("{}: {v}", json_str(k))
            })
            .collect();
        format!("{{{}}}", body.join(", "))
    } else {
        fields
            .iter()
            .map(|(k, v, _)| format!("{k}={}", kv_str(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The readable summary (stderr).
fn summary(args: &Args, r: &Results) -> String {
    let mut s = String::new();
    let ok = |b: bool| if b { "met" } else { "NOT met" };
    let _ = writeln!(
        s,
        "msrp-fanout: {} participants, {} sender(s) x {} messages of {} octets of text ({} \
         octets of CPIM), window {}, {} s max per phase{}",
        args.participants,
        args.senders,
        args.messages,
        args.size,
        r.body_len,
        args.window,
        args.max_seconds,
        if args.respond {
            ", recipients answer 200"
        } else {
            ""
        }
    );
    let line = |s: &mut String, name: &str, p: &PhaseResult, who: &str| {
        let _ = writeln!(
            s,
            "  {name:<8} {:>10.0} deliveries/s {:>8.0} msgs/s  p50 {:>7.0} us  p99 {:>7.0} us  \
             {who} CPU {:.2} s ({:.0} deliveries per CPU s), load CPU {:.2} s, process CPU \
             {:.2} s, {:.3} s, {}/{} messages complete, {} errors{}",
            p.deliveries_per_s(),
            p.per_s(p.completed),
            p.p50_us,
            p.p99_us,
            p.server_cpu_s,
            p.per_server_cpu_s(),
            p.load_cpu_s,
            p.process_cpu_s,
            p.elapsed_s,
            p.completed,
            p.started,
            p.errors,
            p.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    };
    line(&mut s, "mixer", &r.mixer, "mixer");
    if let Some(b) = &r.baseline {
        line(&mut s, "baseline", b, "writer");
    }
    let _ = writeln!(
        s,
        "  target >= {TARGET_PER_CORE:.0} deliveries/s per core (per mixer CPU s): {:.0}, {}",
        r.mixer.per_server_cpu_s(),
        ok(r.mixer.per_server_cpu_s() >= TARGET_PER_CORE)
    );
    if let Some(b) = &r.baseline
        && let Some(x) = ratio(r.mixer.deliveries_per_s(), b.deliveries_per_s())
    {
        let _ = writeln!(
            s,
            "  target >= {:.0}% of the baseline's deliveries/s: {:.1}%, {} (per CPU s: {:.1}%)",
            TARGET_RATIO * 100.0,
            x * 100.0,
            ok(x >= TARGET_RATIO),
            ratio(r.mixer.per_server_cpu_s(), b.per_server_cpu_s()).unwrap_or(0.0) * 100.0
        );
    }
    if let Some(i) = r.idle {
        let _ = writeln!(
            s,
            "  target <= 16 KiB per idle participant ({} joined and bound): {:.0} octets, {} \
             (of which the join before connecting: {:.0}; a plain connection, both ends: {:.0})",
            args.idle,
            i.per_participant,
            ok(i.per_participant <= TARGET_IDLE_OCTETS),
            i.per_join,
            i.floor_per_conn
        );
    }
    let _ = writeln!(
        s,
        "  note: {} core(s) shared by the mixer, the load and the baseline, other work may be \
         running, and the phases are short (at most {} s each): indicative figures; CPU from \
         /proc at {} ticks/s",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.max_seconds,
        r.clk_tck
    );
    s
}

/// A multi-threaded runtime of `threads` workers named `name`.
fn runtime(threads: usize, name: &str) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name)
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rts = (|| {
        Ok::<_, io::Error>((
            runtime(args.mixer_threads, GROUPS[0])?,
            runtime(args.mixer_threads, GROUPS[1])?,
            runtime(args.load_threads, GROUPS[2])?,
        ))
    })();
    let (mixer_rt, base_rt, load_rt) = match rts {
        Ok(r) => r,
        Err(e) => {
            eprintln!("msrp-fanout: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let results = load_rt.block_on(run(
        &args,
        mixer_rt.handle().clone(),
        base_rt.handle().clone(),
    ));
    // Tasks still blocked on a socket are dropped with the runtimes, without waiting.
    load_rt.shutdown_background();
    mixer_rt.shutdown_background();
    base_rt.shutdown_background();
    match results {
        Ok(r) => {
            println!("{}", report_line(&args, &r));
            if !args.quiet {
                eprint!("{}", summary(&args, &r));
            }
            let clean = |p: &PhaseResult| p.errors == 0 && p.completed == p.started;
            if clean(&r.mixer) && r.baseline.as_ref().is_none_or(clean) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("msrp-fanout: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small run end to end: every message reaches every other participant through the
    /// mixer and through the baseline, with no error, the same octets per copy (the baseline
    /// writes the mixer's frames), and the idle figures measured.
    #[test]
    fn small_run_delivers_everything() {
        let args = Args::parse_from([
            "msrp-fanout",
            "--participants",
            "4",
            "--senders",
            "2",
            "--messages",
            "50",
            "--window",
            "8",
            "--idle",
            "5",
            "--max-seconds",
            "10",
        ]);
        let mixer_rt = runtime(1, GROUPS[0]).expect("rt");
        let base_rt = runtime(1, GROUPS[1]).expect("rt");
        let load_rt = runtime(1, GROUPS[2]).expect("rt");
        let r = load_rt
            .block_on(run(
                &args,
                mixer_rt.handle().clone(),
                base_rt.handle().clone(),
            ))
            .expect("run");
        load_rt.shutdown_background();
        mixer_rt.shutdown_background();
        base_rt.shutdown_background();
        let base = r.baseline.as_ref().expect("baseline");
        for p in [&r.mixer, base] {
            assert_eq!(p.errors, 0, "{:?}", p.first_error);
            assert_eq!((p.started, p.completed), (100, 100));
            assert_eq!(p.deliveries, 300, "2 x 50 messages x 3 recipients");
            assert!(p.p50_us > 0.0 && p.p99_us >= p.p50_us);
        }
        assert_eq!(r.mixer.acks, 100, "each SEND answered 200");
        assert_eq!(
            r.mixer.bytes, base.bytes,
            "the baseline writes the mixer's bytes"
        );
        let idle = r.idle.expect("idle figures");
        assert!(idle.per_participant >= 0.0 && idle.floor_per_conn >= 0.0);
        assert!(!report_line(&args, &r).contains("first_error"));
    }

    #[test]
    fn text_round_trips() {
        let mut b = BytesMut::new();
        b.extend_from_slice(&cpim_prefix(7));
        push_text(&mut b, 100, 7, 123_456, 98_765_432_101);
        assert_eq!(b.len(), cpim_prefix(0).len() + 100, "fixed width");
        assert_eq!(fields(&b), Some((7, 123_456, 98_765_432_101)));
        assert_eq!(fields(b"fanout s=00001 q=0000000001 t=x"), None);
        let mut c = BytesMut::new();
        push_text(&mut c, TEXT_MIN, 0, 0, 0);
        assert_eq!(c.len(), TEXT_MIN);
        assert_eq!(fields(&c), Some((0, 0, 0)));
    }
}
