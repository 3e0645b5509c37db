//! `msrp-load`: a load generator for MSRP relays (RFC 4976), for the relay benchmark of issue 4
//! (`benches/relay-compare.sh` runs it against msrpd's relay and Kamailio's `msrp` module).
//!
//! It opens `--pairs P` pairs of TCP connections to the relay (Alice_i, Bob_i), AUTHs each one
//! (RFC 4976 §5.1: an AUTH without credentials, the 401's Digest challenge answered with
//! [`msrp_relay::digest::Challenge::answer`], a 200 with Use-Path; a relay that answers 200 at
//! once needs no credentials), and builds Alice's To-Path from the Use-Paths (§5.1): her own
//! Use-Path, Bob's, then Bob's URI (`--route both`, the default), or Bob's Use-Path and URI
//! only (`--route recipient`: the one-relay shortcut that Kamailio's module handles without
//! connecting to itself). Each Alice then sends `--messages N` SENDs of `--size S` octets, in
//! chunks of `--chunk C` octets (Byte-Range rewritten per chunk, `+` on all but the last,
//! RFC 4975 §7.1) or in one chunk, with `Failure-Report: no` or the default (`--failure-report
//! no|yes`), keeping at most `--window W` messages outstanding (started by Alice and not yet
//! completely received by Bob) and, with `--rate R`, starting at most R messages a second
//! (open loop: latency at a given offered load). Bob reads them and, unless Failure-Report is `no`, answers every
//! chunk with a 200 (RFC 4975 §7.2, to the relay: the hop before him).
//!
//! Measured: messages and payload octets delivered to Bob per second of wall time, the latency
//! of each message from the moment Alice starts it to the moment Bob has its last octet (p50,
//! p99, max), and with `--relay-pid PID` the CPU seconds the relay's process(es) used over the
//! run (utime + stime from `/proc/PID/stat`, divided by `getconf CLK_TCK`, 100 assumed if that
//! fails; `--relay-tree` adds every descendant of those processes, for multi-process relays),
//! and the same CPU time from the scheduler's clock (`relay_sched_s`: the first field of
//! `/proc/PID/task/*/schedstat`, nanoseconds on a CPU, summed over the threads alive at the end
//! of the run): ticks are 10 ms, so a relay that uses a third of a second of CPU is measured to
//! about 3% in ticks and to the microsecond by the scheduler.
//! One line of `key=value` results on stdout, or a JSON object with `--json`. MB = 10^6 octets.
//!
//! Bounded: sending stops after `--max-seconds` (default 60), and the run ends at most
//! `--grace-seconds` later whatever is outstanding; unless `--keep-going` is given, the first
//! failure response, failure REPORT or closed connection ends it at once. Exit status 0
//! when every message started was delivered and no error was seen, 1 otherwise, 2 for bad
//! arguments or a failed setup (connect, AUTH).
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use msrp::transport::{EventReader, MsrpCodec, Outgoing, WriteQueue, WriterConfig, spawn_writer};
use msrp::{
    ByteRange, ByteString, Event, FailureReport, Flag, Frame, Head, Header, IdGenerator, Method,
    MsrpUri, Path, StatusCode,
};
use msrp_relay::digest::{self, Challenge};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, watch};
use tokio::time::timeout;

/// How long connecting and each AUTH exchange may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Which To-Path Alice uses (RFC 4976 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Route {
    /// Alice's Use-Path, Bob's Use-Path, Bob's URI.
    Both,
    /// Bob's Use-Path and Bob's URI (both clients on one relay).
    Recipient,
}

/// Failure-Report header of the SENDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Fr {
    /// `Failure-Report: no`: no responses at all (RFC 4975 §7.1.2).
    No,
    /// No header: the default, `yes` (every chunk answered hop by hop).
    Yes,
}

/// Command line of `msrp-load`.
#[derive(Debug, Parser)]
#[command(
    name = "msrp-load",
    about = "Load generator for MSRP relays: AUTHed pairs, msgs/s, MB/s, latency, relay CPU"
)]
struct Args {
    /// The relay's TCP address.
    #[arg(long)]
    relay: SocketAddr,
    /// The relay's own URI, the To-Path of the AUTHs (default `msrp://localhost:PORT;tcp`).
    #[arg(long)]
    relay_uri: Option<String>,
    /// Credentials as NAME:PASSWORD (repeatable); Alice_i uses the (2i)-th, Bob_i the
    /// (2i+1)-th, cycling. Needed when the relay challenges the AUTH.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// Expect the relay to accept the AUTH without a challenge (no credentials needed).
    #[arg(long)]
    no_auth: bool,
    /// Client pairs (Alice_i sends to Bob_i), each on its own two connections.
    #[arg(long, default_value_t = 1)]
    pairs: usize,
    /// Messages each Alice sends.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Octets per message.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Chunk size in octets (0: each message in one chunk).
    #[arg(long, default_value_t = 0)]
    chunk: usize,
    /// Failure-Report of the SENDs: `no`, or `yes` (the default, header left out).
    #[arg(long, value_enum, default_value_t = Fr::Yes)]
    failure_report: Fr,
    /// Messages each pair keeps outstanding at most (started, not yet received by Bob).
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Messages per second each Alice starts, at most (open loop, for latency at a given
    /// offered load; the window still applies). 0: as fast as the window allows.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// To-Path construction.
    #[arg(long, value_enum, default_value_t = Route::Both)]
    route: Route,
    /// Stop sending after this many seconds.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
    /// After sending stops, wait at most this long for outstanding messages.
    #[arg(long, default_value_t = 10)]
    grace_seconds: u64,
    /// Keep going after a failure response, failure REPORT or closed connection.
    #[arg(long)]
    keep_going: bool,
    /// Relay process whose CPU time is measured (repeatable).
    #[arg(long = "relay-pid", value_name = "PID")]
    relay_pids: Vec<u32>,
    /// Also measure every descendant of the --relay-pid processes (found when the run starts).
    #[arg(long)]
    relay_tree: bool,
    /// Label for the results (`relay=LABEL`).
    #[arg(long, default_value = "relay")]
    label: String,
    /// Print the results as one JSON object instead of key=value.
    #[arg(long)]
    json: bool,
    /// Runtime threads of the load tool: 1 runs on one thread, N > 1 a multi-threaded runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// A setup failure (exit status 2).
type SetupResult<T> = Result<T, String>;

fn parse_uri(s: &str) -> SetupResult<MsrpUri> {
    MsrpUri::parse(ByteString::from(s.to_owned())).map_err(|e| format!("URI {s:?}: {e}"))
}

/// One client connection during setup: frames written directly, read whole.
struct Client {
    r: EventReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    uri: MsrpUri,
    ids: IdGenerator,
}

impl Client {
    async fn connect(addr: SocketAddr, name: &str) -> SetupResult<Client> {
        let s = timeout(SETUP_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect to {addr}: timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        s.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
        let port = s.local_addr().map_err(|e| e.to_string())?.port();
        let (r, w) = s.into_split();
        let uri = parse_uri(&format!(
            "msrp://{name}.load.invalid:{port}/{};tcp",
            digest::random_hex(8)
        ))?;
        Ok(Client {
            r: EventReader::new(r, MsrpCodec::default()),
            w,
            uri,
            ids: IdGenerator::new(),
        })
    }

    async fn send(&mut self, frame: &Frame) -> SetupResult<()> {
        let mut b = BytesMut::new();
        frame.write(&mut b);
        timeout(SETUP_TIMEOUT, self.w.write_all(&b))
            .await
            .map_err(|_| "write: timed out".to_owned())?
            .map_err(|e| format!("write: {e}"))
    }

    /// The next whole frame (bodies of setup frames are small).
    async fn recv(&mut self) -> SetupResult<Frame> {
        let read = async {
            let mut current: Option<(Head, Option<BytesMut>)> = None;
            loop {
                match self.r.next().await {
                    None => return Err("the relay closed the connection".to_owned()),
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    Some(Ok(Err(e))) => return Err(format!("undecodable frame: {e}")),
                    Some(Ok(Ok(Event::BriefSuccess(r)))) => {
                        return Err(format!("not configured: {r:?}"));
                    }
                    Some(Ok(Ok(Event::RepeatedSend(r)))) => {
                        return Err(format!("not configured: {r:?}"));
                    }
                    Some(Ok(Ok(Event::Head { head, body }))) => {
                        current = Some((head, body.then(BytesMut::new)));
                    }
                    Some(Ok(Ok(Event::Body(piece)))) => {
                        if let Some((_, Some(b))) = current.as_mut() {
                            b.extend_from_slice(&piece);
                        }
                    }
                    Some(Ok(Ok(Event::End(flag)))) => {
                        if let Some((head, body)) = current.take() {
                            return Ok(Frame {
                                head,
                                body: body.map(BytesMut::freeze),
                                flag,
                            });
                        }
                    }
                }
            }
        };
        timeout(SETUP_TIMEOUT, read)
            .await
            .map_err(|_| "no answer from the relay".to_owned())?
    }

    /// The response to the request `tid` (other frames are skipped).
    async fn response_to(&mut self, tid: &str) -> SetupResult<Frame> {
        loop {
            let f = self.recv().await?;
            if f.head.status().is_some() && f.head.tid == tid {
                return Ok(f);
            }
        }
    }

    /// AUTH to `relay` (RFC 4976 §5.1): first without credentials; a 401 is answered with
    /// Digest credentials (RFC 4976 §9.1: the digest URI is the AUTH's To-Path URI). Returns
    /// the Use-Path.
    async fn auth(
        &mut self,
        relay: &MsrpUri,
        creds: Option<&(String, String)>,
    ) -> SetupResult<Path> {
        let auth = |c: &mut Client| {
            Head::request(
                Method::Auth,
                c.ids.next_id(),
                msrp::path![relay.clone()],
                msrp::path![c.uri.clone()],
            )
        };
        let first = auth(self);
        self.send(&bodiless(first.clone())).await?;
        let mut resp = self.response_to(&first.tid).await?;
        if resp.head.status() == Some(StatusCode::UNAUTHORIZED) {
            let Some((user, password)) = creds else {
                return Err("the relay wants Digest credentials: give --user NAME:PASSWORD".into());
            };
            let www = resp
                .head
                .find(|h| match h {
                    Header::WwwAuthenticate(a) => Some(a),
                    _ => None,
                })
                .ok_or("401 without WWW-Authenticate")?;
            let ch = Challenge::parse(www).map_err(|e| format!("challenge: {e}"))?;
            let ha1 = digest::ha1_hex(user, &ch.realm, password);
            let answer = ch.answer(user, &ha1, relay.as_str(), &digest::random_hex(8), 1);
            let second = auth(self).with(Header::Authorization(answer));
            self.send(&bodiless(second.clone())).await?;
            resp = self.response_to(&second.tid).await?;
        }
        if resp.head.status() != Some(StatusCode::OK) {
            return Err(format!(
                "AUTH as {}: answered {:?}",
                creds.map_or("(nobody)", |c| c.0.as_str()),
                resp.head.start
            ));
        }
        resp.head
            .find(|h| match h {
                Header::UsePath(p) => Some(p.clone()),
                _ => None,
            })
            .filter(|p| !p.is_empty())
            .ok_or_else(|| "200 to AUTH without Use-Path".to_owned())
    }
}

fn bodiless(head: Head) -> Frame {
    Frame {
        head,
        body: None,
        flag: Flag::Last,
    }
}

/// What the run shares between its tasks.
struct Run {
    base: Instant,
    /// Set to stop everything (hard deadline, or an error without --keep-going).
    stop: watch::Sender<bool>,
    /// Alice stops starting messages at this instant.
    send_until: Instant,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    stop_on_error: bool,
}

impl Run {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        {
            let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
            if first.is_none() {
                *first = Some(what);
            }
        }
        if self.stop_on_error {
            self.stop.send_replace(true);
        }
    }

    fn nanos(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// What one pair's Alice and Bob share.
struct PairShared {
    /// When Alice started message `i` (nanoseconds since [`Run::base`]).
    starts: Vec<AtomicU64>,
    /// Free slots of the window; Bob gives one back per message received.
    window: Semaphore,
    /// How many messages Alice started, once she is done.
    sent: watch::Sender<Option<u64>>,
}

/// The message parameters.
#[derive(Debug, Clone)]
struct Load {
    messages: usize,
    body: Bytes,
    chunk: usize,
    fr: Fr,
    /// Messages per second each Alice starts (0: as many as the window allows).
    rate: f64,
}

/// Alice: starts messages while the window has room, queueing each chunk on her write queue.
async fn alice_send(
    q: WriteQueue,
    mut ids: IdGenerator,
    to: Path,
    from: Path,
    load: Arc<Load>,
    pair: Arc<PairShared>,
    run: Arc<Run>,
) {
    let mut stop = run.stop.subscribe();
    let total = load.body.len();
    let step = if load.chunk == 0 { total } else { load.chunk };
    let mut started = 0u64;
    'messages: for seq in 0..load.messages {
        if *stop.borrow() {
            break;
        }
        if load.rate > 0.0 {
            // Open loop: message `seq` is due `seq / rate` seconds after the start.
            let due = run.base + Duration::from_secs_f64(seq as f64 / load.rate);
            if due >= run.send_until {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(due.into()) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        let permit = tokio::select! {
            p = pair.window.acquire() => p,
            _ = tokio::time::sleep_until(run.send_until.into()) => break,
            _ = stop.wait_for(|s| *s) => break,
        };
        match permit {
            Ok(p) => p.forget(),
            Err(_) => break,
        }
        if Instant::now() >= run.send_until {
            break;
        }
        pair.starts[seq].store(run.nanos(), Ordering::Relaxed);
        started += 1;
        let mid: msrp::Ident = format!("m{seq:06}").parse().expect("an ident");
        let mut off = 0;
        while off < total {
            let end = (off + step).min(total);
            let mut head = Head::request(Method::Send, ids.next_id(), to.clone(), from.clone())
                .with(Header::MessageId(mid))
                .with(Header::ByteRange(ByteRange {
                    start: off as u64 + 1,
                    end: Some(end as u64),
                    total: Some(total as u64),
                }));
            if load.fr == Fr::No {
                head.push(Header::FailureReport(FailureReport::No));
            }
            head.push(Header::ContentType(ByteString::from_static("text/plain")));
            let flag = if end == total { Flag::Last } else { Flag::More };
            let item = Outgoing::chunk(&head, Some(load.body.slice(off..end)), flag);
            if q.send(item).await.is_err() {
                run.error("Alice's connection failed while sending".to_owned());
                break 'messages;
            }
            off = end;
        }
    }
    pair.sent.send_replace(Some(started));
    // `run` holds a clone of the queue until the end: dropping the last one would shut Alice's
    // write side down, and the relay would close her connection while messages are in flight.
    drop(q);
}

/// Alice's reader: hop-by-hop responses and REPORTs coming back; anything but a 2xx is an
/// error.
async fn alice_read(mut r: EventReader<OwnedReadHalf>, run: Arc<Run>) {
    loop {
        match r.next().await {
            None => {
                if !*run.stop.borrow() {
                    run.error("the relay closed Alice's connection".to_owned());
                }
                return;
            }
            Some(Err(e)) => {
                run.error(format!("Alice's connection: {e}"));
                return;
            }
            Some(Ok(Err(e))) => run.error(format!("Alice got an undecodable frame: {e}")),
            Some(Ok(Ok(Event::Head { head, .. }))) => {
                if let Some(s) = head.status() {
                    if !s.is_success() {
                        run.error(format!("Alice got a {} response", s.as_u16()));
                    }
                } else if head.method() == Some(&Method::Report) {
                    if let Some(st) = head.report_status()
                        && !st.code.is_success()
                    {
                        run.error(format!(
                            "Alice got a REPORT with status {}",
                            st.code.as_u16()
                        ));
                    }
                } else {
                    run.error(format!("Alice got an unexpected request {:?}", head.start));
                }
            }
            Some(Ok(Ok(_))) => {}
        }
    }
}

/// What Bob measured.
#[derive(Debug, Default)]
struct BobStats {
    /// Messages received whole.
    messages: u64,
    /// Body octets received.
    bytes: u64,
    /// Latency of each message received whole, in nanoseconds.
    latencies: Vec<u64>,
    /// When the last message was completed (nanoseconds since [`Run::base`]).
    last_done: u64,
}

/// Bob: reads the SENDs, answers every chunk with a 200 unless Failure-Report is `no`, and
/// records each message's latency when its last chunk ends.
async fn bob_read(
    mut r: EventReader<OwnedReadHalf>,
    q: Option<WriteQueue>,
    uri: MsrpUri,
    load: Arc<Load>,
    pair: Arc<PairShared>,
    run: Arc<Run>,
) -> BobStats {
    let mut stats = BobStats {
        latencies: Vec::with_capacity(load.messages),
        ..BobStats::default()
    };
    let mut stop = run.stop.subscribe();
    let mut sent = pair.sent.subscribe();
    // The message and head of the chunk being received.
    let mut current: Option<(Option<usize>, Head)> = None;
    loop {
        if let Some(n) = *sent.borrow_and_update()
            && stats.messages >= n
        {
            break;
        }
        let item = tokio::select! {
            item = r.next() => item,
            _ = sent.changed() => continue,
            _ = stop.wait_for(|s| *s) => break,
        };
        match item {
            None => {
                if !*run.stop.borrow() {
                    run.error("the relay closed Bob's connection".to_owned());
                }
                break;
            }
            Some(Err(e)) => {
                run.error(format!("Bob's connection: {e}"));
                break;
            }
            Some(Ok(Err(e))) => run.error(format!("Bob got an undecodable frame: {e}")),
            // Not configured on Bob's decoder.
            Some(Ok(Ok(Event::BriefSuccess(_) | Event::RepeatedSend(_)))) => {}
            Some(Ok(Ok(Event::Head { head, .. }))) => {
                if head.is_send() {
                    let seq = head
                        .message_id()
                        .and_then(|m| m.strip_prefix('m'))
                        .and_then(|s| s.parse::<usize>().ok())
                        .filter(|&s| s < load.messages);
                    if seq.is_none() {
                        run.error(format!(
                            "Bob got a SEND with Message-ID {:?}",
                            head.message_id()
                        ));
                    }
                    current = Some((seq, head));
                } else if head.status().is_none() {
                    run.error(format!("Bob got an unexpected request {:?}", head.start));
                }
            }
            Some(Ok(Ok(Event::Body(piece)))) => stats.bytes += piece.len() as u64,
            Some(Ok(Ok(Event::End(flag)))) => {
                let Some((seq, head)) = current.take() else {
                    continue;
                };
                if let Some(q) = &q {
                    let resp = msrp::report::response(&head, StatusCode::OK, None, &uri);
                    if q.send_control(Outgoing::chunk(&resp, None, Flag::Last))
                        .await
                        .is_err()
                    {
                        run.error("Bob's connection failed while answering".to_owned());
                        break;
                    }
                }
                match flag {
                    Flag::More => {}
                    Flag::Abort => run.error("Bob got an aborted message".to_owned()),
                    Flag::Last => {
                        if let Some(seq) = seq {
                            let now = run.nanos();
                            let start = pair.starts[seq].load(Ordering::Relaxed);
                            stats.latencies.push(now.saturating_sub(start));
                            stats.last_done = now;
                            stats.messages += 1;
                            pair.window.add_permits(1);
                        }
                    }
                }
            }
        }
    }
    stats
}

/// Reads `getconf CLK_TCK` (clock ticks per second of /proc times); `None` if that fails.
fn clk_tck() -> Option<u64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()?;
    std::str::from_utf8(&out.stdout)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&t| t > 0)
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces and parens):
/// index 0 is field 3 (state).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse::<u64>().unwrap_or(0))
            .collect(),
    )
}

/// utime + stime of `pid` in clock ticks (fields 14 and 15 of `/proc/PID/stat`, all threads).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    Some(f.get(11)? + f.get(12)?)
}

/// `pids` and, with `tree`, all their descendants (by the parent field of `/proc/*/stat`).
fn process_set(pids: &[u32], tree: bool) -> Vec<u32> {
    let mut set: Vec<u32> = pids.to_vec();
    if !tree {
        return set;
    }
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            // Field 4 (ppid) is index 1 after the command name.
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).copied()) {
                parents.push((pid, ppid as u32));
            }
        }
    }
    let mut i = 0;
    while i < set.len() {
        let p = set[i];
        for &(child, ppid) in &parents {
            if ppid == p && !set.contains(&child) {
                set.push(child);
            }
        }
        i += 1;
    }
    set
}

/// The time `tid`'s thread has spent on a CPU, in nanoseconds: the first field of a
/// `/proc/…/schedstat` line (`None` if it is not a number).
fn schedstat_ns(line: &str) -> Option<u64> {
    line.split_whitespace().next()?.parse().ok()
}

/// Nanoseconds on a CPU of every thread of `pid` (`/proc/PID/task/*/schedstat`); `None` if the
/// task list cannot be read (no such process) or a schedstat line is not what this expects. A
/// thread that ends between the listing and its read is left out (its time is gone with it).
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    let mut seen = false;
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(line) = std::fs::read_to_string(e.path().join("schedstat")) else {
            continue;
        };
        total += schedstat_ns(&line)?;
        seen = true;
    }
    seen.then_some(total)
}

/// Total nanoseconds on a CPU of `pids`; `None` if any cannot be read.
fn total_ns(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| cpu_ns(p)).sum()
}

/// Total CPU ticks of `pids`; `None` if any cannot be read.
fn total_ticks(pids: &[u32]) -> Option<u64> {
    pids.iter().map(|&p| cpu_ticks(p)).sum()
}

/// The `q`-quantile of sorted `v` (nearest rank).
fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// Connects and AUTHs pair `i`: Alice's client, Bob's client and Alice's To-Path.
async fn setup_pair(
    args: &Args,
    relay_uri: &MsrpUri,
    users: &[(String, String)],
    i: usize,
) -> SetupResult<(Client, Client, Path)> {
    let mut alice = Client::connect(args.relay, &format!("alice{i}")).await?;
    let mut bob = Client::connect(args.relay, &format!("bob{i}")).await?;
    let cred = |k: usize| (!users.is_empty()).then(|| &users[k % users.len()]);
    let ua = alice.auth(relay_uri, cred(2 * i)).await?;
    let ub = bob.auth(relay_uri, cred(2 * i + 1)).await?;
    let mut to: Vec<MsrpUri> = Vec::new();
    if args.route == Route::Both {
        to.extend(ua.iter().cloned());
    }
    to.extend(ub.iter().cloned());
    to.push(bob.uri.clone());
    Ok((alice, bob, to.into_iter().collect()))
}

/// The results of a run.
#[derive(Debug)]
struct Results {
    started: u64,
    delivered: u64,
    bytes: u64,
    elapsed_s: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    cpu_s: Option<f64>,
    /// The same from the scheduler's clock (`/proc/PID/task/*/schedstat`).
    sched_s: Option<f64>,
    clk_tck: u64,
    clk_tck_assumed: bool,
    errors: u64,
    first_error: Option<String>,
}

async fn run(args: &Args) -> Result<Results, String> {
    let relay_uri = parse_uri(
        &args
            .relay_uri
            .clone()
            .unwrap_or_else(|| format!("msrp://localhost:{};tcp", args.relay.port())),
    )?;
    let users: Vec<(String, String)> = args
        .users
        .iter()
        .map(|u| {
            u.split_once(':')
                .map(|(n, p)| (n.to_owned(), p.to_owned()))
                .ok_or_else(|| format!("--user {u:?} is not NAME:PASSWORD"))
        })
        .collect::<Result<_, _>>()?;
    if users.is_empty() && !args.no_auth {
        return Err("give --user NAME:PASSWORD (or --no-auth)".into());
    }
    if args.size == 0 || args.pairs == 0 || args.window == 0 {
        return Err("--size, --pairs and --window must be at least 1".into());
    }
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        return Err("--rate must be a number >= 0".into());
    }
    let mut pairs = Vec::with_capacity(args.pairs);
    for i in 0..args.pairs {
        pairs.push(
            setup_pair(args, &relay_uri, &users, i)
                .await
                .map_err(|e| format!("pair {i}: {e}"))?,
        );
    }
    let body: Bytes = (0..args.size)
        .map(|i| b'a' + (i % 26) as u8)
        .collect::<Vec<u8>>()
        .into();
    let load = Arc::new(Load {
        messages: args.messages,
        body,
        chunk: args.chunk,
        fr: args.failure_report,
        rate: args.rate,
    });
    let (clk_tck, clk_tck_assumed) = match clk_tck() {
        Some(t) => (t, false),
        None => (100, true),
    };
    let pids = process_set(&args.relay_pids, args.relay_tree);
    let (stop, _) = watch::channel(false);
    let base = Instant::now();
    let run = Arc::new(Run {
        base,
        stop,
        send_until: base + Duration::from_secs(args.max_seconds),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        stop_on_error: !args.keep_going,
    });
    let (cpu0, ns0) = if pids.is_empty() {
        (None, None)
    } else {
        (total_ticks(&pids), total_ns(&pids))
    };
    let mut shares = Vec::new();
    let mut bobs = Vec::new();
    let mut tasks = Vec::new();
    let mut queues = Vec::new();
    for (alice, bob, to) in pairs {
        let pair = Arc::new(PairShared {
            starts: (0..args.messages).map(|_| AtomicU64::new(0)).collect(),
            window: Semaphore::new(args.window),
            sent: watch::channel(None).0,
        });
        let (aq, aw) = spawn_writer(
            alice.w,
            WriterConfig {
                queue_bytes: 4 << 20,
                ..WriterConfig::default()
            },
        );
        let from = msrp::path![alice.uri.clone()];
        queues.push(aq.clone());
        tasks.push(tokio::spawn(alice_send(
            aq,
            alice.ids,
            to,
            from,
            load.clone(),
            pair.clone(),
            run.clone(),
        )));
        tasks.push(tokio::spawn(alice_read(alice.r, run.clone())));
        let bq = if load.fr == Fr::Yes {
            let (bq, bw) = spawn_writer(bob.w, WriterConfig::default());
            tasks.push(tokio::spawn(async move {
                let _ = bw.await;
            }));
            Some(bq)
        } else {
            // Bob writes nothing; keep his write half open for the run.
            let w = bob.w;
            tasks.push(tokio::spawn(async move {
                let _w = w;
                std::future::pending::<()>().await;
            }));
            None
        };
        tasks.push(tokio::spawn(async move {
            let _ = aw.await;
        }));
        bobs.push(tokio::spawn(bob_read(
            bob.r,
            bq,
            bob.uri,
            load.clone(),
            pair.clone(),
            run.clone(),
        )));
        shares.push(pair);
    }
    // The hard deadline: sending time plus grace.
    let deadline = {
        let run = run.clone();
        let t = Duration::from_secs(args.max_seconds + args.grace_seconds);
        tokio::spawn(async move {
            tokio::time::sleep(t).await;
            run.stop.send_replace(true);
        })
    };
    let mut stats = Vec::new();
    for b in bobs {
        stats.push(b.await.map_err(|e| format!("Bob's task: {e}"))?);
    }
    let cpu1 = if cpu0.is_some() {
        total_ticks(&pids)
    } else {
        None
    };
    let ns1 = if ns0.is_some() { total_ns(&pids) } else { None };
    let end = stats.iter().map(|s| s.last_done).max().unwrap_or(0);
    run.stop.send_replace(true);
    deadline.abort();
    for t in tasks {
        t.abort();
    }
    drop(queues);
    let started: u64 = shares.iter().map(|p| p.sent.borrow().unwrap_or(0)).sum();
    let mut lat: Vec<u64> = stats
        .iter_mut()
        .flat_map(|s| std::mem::take(&mut s.latencies))
        .collect();
    lat.sort_unstable();
    let us = |ns: u64| ns as f64 / 1000.0;
    let errors = run.errors.load(Ordering::Relaxed);
    let first_error = run
        .first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    Ok(Results {
        started,
        delivered: stats.iter().map(|s| s.messages).sum(),
        bytes: stats.iter().map(|s| s.bytes).sum(),
        elapsed_s: end as f64 / 1e9,
        p50_us: us(quantile(&lat, 0.50)),
        p99_us: us(quantile(&lat, 0.99)),
        max_us: us(lat.last().copied().unwrap_or(0)),
        cpu_s: cpu0
            .zip(cpu1)
            .map(|(a, b)| b.saturating_sub(a) as f64 / clk_tck as f64),
        sched_s: ns0.zip(ns1).map(|(a, b)| b.saturating_sub(a) as f64 / 1e9),
        clk_tck,
        clk_tck_assumed,
        errors,
        first_error,
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

fn report(args: &Args, r: &Results) -> String {
    let rate = |x: f64| {
        if r.elapsed_s > 0.0 {
            x / r.elapsed_s
        } else {
            0.0
        }
    };
    let per_cpu = |x: f64| r.cpu_s.filter(|&c| c > 0.0).map(|c| x / c);
    let mb = r.bytes as f64 / 1e6;
    let mut fields: Vec<(&str, String, bool)> = vec![
        ("relay", args.label.clone(), true),
        ("pairs", args.pairs.to_string(), false),
        ("messages", args.messages.to_string(), false),
        ("size", args.size.to_string(), false),
        ("chunk", args.chunk.to_string(), false),
        (
            "fr",
            match args.failure_report {
                Fr::No => "no",
                Fr::Yes => "yes",
            }
            .to_owned(),
            true,
        ),
        ("window", args.window.to_string(), false),
        ("rate", format!("{}", args.rate), false),
        (
            "route",
            match args.route {
                Route::Both => "both",
                Route::Recipient => "recipient",
            }
            .to_owned(),
            true,
        ),
        ("started", r.started.to_string(), false),
        ("delivered", r.delivered.to_string(), false),
        ("bytes", r.bytes.to_string(), false),
        ("errors", r.errors.to_string(), false),
        ("elapsed_s", format!("{:.3}", r.elapsed_s), false),
        (
            "msgs_per_s",
            format!("{:.0}", rate(r.delivered as f64)),
            false,
        ),
        ("mb_per_s", format!("{:.2}", rate(mb)), false),
        ("p50_us", format!("{:.0}", r.p50_us), false),
        ("p99_us", format!("{:.0}", r.p99_us), false),
        ("max_us", format!("{:.0}", r.max_us), false),
    ];
    if let Some(c) = r.cpu_s {
        fields.push(("relay_cpu_s", format!("{c:.2}"), false));
        if let Some(m) = per_cpu(r.delivered as f64) {
            fields.push(("msgs_per_cpu_s", format!("{m:.0}"), false));
        }
        if let Some(m) = per_cpu(mb) {
            fields.push(("mb_per_cpu_s", format!("{m:.2}"), false));
        }
        fields.push(("clk_tck", r.clk_tck.to_string(), false));
        fields.push(("clk_tck_assumed", r.clk_tck_assumed.to_string(), false));
    }
    if let Some(c) = r.sched_s.filter(|&c| c > 0.0) {
        fields.push(("relay_sched_s", format!("{c:.4}"), false));
        fields.push((
            "msgs_per_sched_s",
            format!("{:.0}", r.delivered as f64 / c),
            false,
        ));
        fields.push(("mb_per_sched_s", format!("{:.2}", mb / c), false));
    }
    if let Some(e) = &r.first_error {
        fields.push(("first_error", e.clone(), true));
    }
    if args.json {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v, s)| {
                let v = if *s { json_str(v) } else { v.clone() };
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

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("msrp-load: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let results = rt.block_on(run(&args));
    // Tasks still blocked on a stalled socket are dropped with the runtime, without waiting.
    rt.shutdown_background();
    match results {
        Ok(r) => {
            println!("{}", report(&args, &r));
            if r.errors == 0 && r.delivered == r.started {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("msrp-load: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_lines_give_their_first_field() {
        assert_eq!(schedstat_ns("80331 1034248 2\n"), Some(80331));
        assert_eq!(schedstat_ns("x 1 2"), None);
        assert_eq!(schedstat_ns(""), None);
    }

    /// The scheduler's clock sees this process work: its CPU nanoseconds grow over a busy loop
    /// (Linux only; the test host is). A process that does not exist has none.
    #[test]
    fn cpu_ns_counts_this_process() {
        let me = std::process::id();
        let before = total_ns(&[me]).expect("schedstat readable");
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = total_ns(&[me]).expect("schedstat readable");
        assert!(after > before, "{before} -> {after}");
        assert!(total_ns(&[u32::MAX]).is_none(), "no such process");
    }
}
