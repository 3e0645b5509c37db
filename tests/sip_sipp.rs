//! Interop with SIPp (Debian package `sip-tester`, 3.6.x): the real `msrpd` binary's SIP focus
//! (RFC 3261 UAS on UDP and TCP, RFC 7701 §5) driven by the SIPp scenarios in `tests/sipp/`.
//!
//! Every test starts its own daemon (SIP listeners on 127.0.0.1, port 0) and runs one `sipp`
//! client process for one call (`-m 1`) against `sip-udp` or `sip-tcp`; SIPp exits 0 only when
//! the call went exactly as the scenario says (every mandatory response arrived, every
//! `check_it` regular expression matched). The daemon's `/metrics` then has to show the same
//! exchange: the requests it took, the responses it sent, and no dialog nor participant left.
//!
//! - `invite_bye.xml` (UDP, TCP): 100, then 200 with a To tag, a Contact and an SDP answer
//!   (m=message, a=path, message/cpim, a=setup, a=chatroom); ACK; 200 to the BYE.
//! - `cancel.xml` (UDP, TCP): 200 to the CANCEL; 487 to the INVITE, or 200 when the INVITE was
//!   answered first (RFC 6026 "Accepted"), also when SIPp got that 200 before it sent the CANCEL.
//! - `reject_cpim.xml` (UDP, TCP): 488 with a Warning when the offer lacks message/cpim
//!   (7701-002).
//! - `no_body.xml` (UDP): 488 with a Warning for an INVITE without an offer.
//! - `unknown_room.xml` (UDP): 404 for a room that does not exist, with `auto_create = false`.
//! - `options.xml` (UDP, TCP): 200 with an Allow header.
//!
//! On failure a test prints SIPp's exit status, output, error log (`-trace_err`), message trace
//! (`-trace_msg`) and scenario log (`-trace_logs`), and the daemon's log.
//!
//! Without SIPp (no `/usr/bin/sipp` nor `sipp` on `PATH`, or it does not run) each test prints
//! `skipped: sipp not installed` and passes, unless `MSRPD_REQUIRE_INTEROP=1` (set by `.ci/run`):
//! then it fails. `MSRPD_SIPP` names another binary (e.g. a missing one, to see the skip).
#![cfg(feature = "sip")]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use support::*;
use tokio::process::Command;

/// The scenario files.
const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp");

/// The longest one SIPp run may take, start to exit (its own `-timeout` is 10 s).
const SIPP_DEADLINE: Duration = Duration::from_secs(30);

/// How long the call of `invite_bye.xml` stays up between ACK and BYE (`-d`), in milliseconds.
const HOLD_MS: u64 = 200;

// ---------------------------------------------------------------------------------------------
// Finding SIPp, or skipping.

/// Whether a skip must fail the test (`MSRPD_REQUIRE_INTEROP=1`, as in CI).
fn interop_required() -> bool {
    std::env::var("MSRPD_REQUIRE_INTEROP").is_ok_and(|v| v == "1" || v == "true")
}

/// The SIPp binary: `$MSRPD_SIPP`, else `/usr/bin/sipp`, else `sipp` on PATH.
fn find_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("MSRPD_SIPP") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("MSRPD_SIPP={} is not a file", p.display()))
        };
    }
    let usr = PathBuf::from("/usr/bin/sipp");
    if usr.is_file() {
        return Ok(usr);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("sipp"))
        .find(|p| p.is_file())
        .ok_or_else(|| "no /usr/bin/sipp and no sipp on PATH".to_owned())
}

/// The binary, checked once per test binary: `sipp -v` prints `SIPp v<version>` (and exits 99,
/// its "no call processed" status).
fn probe() -> &'static Result<PathBuf, String> {
    static PROBE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let bin = find_binary()?;
        let out = std::process::Command::new(&bin)
            .arg("-v")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("SIPp v") {
            Ok(bin)
        } else {
            Err(format!(
                "`{} -v` did not print a SIPp version ({})",
                bin.display(),
                out.status
            ))
        }
    })
}

/// The SIPp binary if it is usable. Otherwise prints `skipped: sipp not installed` and returns
/// `None` (the caller returns), or panics when `MSRPD_REQUIRE_INTEROP=1`: in CI a skip is a
/// failure.
fn sipp_or_skip() -> Option<PathBuf> {
    match probe() {
        Ok(bin) => Some(bin.clone()),
        Err(why) if interop_required() => {
            panic!("MSRPD_REQUIRE_INTEROP=1 but sipp is not usable: {why}")
        }
        Err(why) => {
            println!("skipped: sipp not installed ({why})");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running SIPp.

/// The SIP transport of a run.
#[derive(Clone, Copy, Debug)]
enum Transport {
    /// `-t u1`: UDP, one socket.
    Udp,
    /// `-t t1`: TCP, one connection.
    Tcp,
}

impl Transport {
    /// The daemon's listener for this transport.
    fn target(self, d: &Daemon) -> SocketAddr {
        match self {
            Transport::Udp => d.sip_udp.expect("sip-udp line"),
            Transport::Tcp => d.sip_tcp.expect("sip-tcp line"),
        }
    }

    /// SIPp's `-t` value.
    fn flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }
}

/// One finished SIPp run, with its logs.
struct Run {
    /// What ran, for messages.
    what: String,
    /// The exit code (`None`: killed by a signal).
    code: Option<i32>,
    /// Its standard output (the final statistics screen) and error.
    stdout: String,
    stderr: String,
    /// `-trace_err`: unexpected messages and failed checks.
    errors: String,
    /// `-trace_msg`: every message sent and received.
    messages: String,
    /// `-trace_logs`: the scenarios' `<log>` actions.
    log: String,
}

impl Run {
    /// Everything known about the run, for a failure message.
    fn report(&self) -> String {
        // The screen is redrawn while the call runs; its last 40 lines are the final one.
        let tail: Vec<&str> = self.stdout.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{}: exit code {:?}\n--- sipp stdout (tail) ---\n{}\n--- sipp stderr ---\n{}\n\
             --- error log (-trace_err) ---\n{}\n--- message log (-trace_msg) ---\n{}\n\
             --- scenario log (-trace_logs) ---\n{}",
            self.what,
            self.code,
            tail.join("\n"),
            self.stderr,
            self.errors,
            self.messages,
            self.log
        )
    }

    /// Panics with [`Run::report`] and the daemon's log unless SIPp exited 0 (every call
    /// successful).
    fn assert_success(&self, d: &Daemon) {
        if self.code != Some(0) {
            panic!(
                "{}\n--- msrpd log (tail) ---\n{}",
                self.report(),
                daemon_log_tail(d)
            );
        }
    }
}

/// The last 80 lines of the daemon's log ([`Daemon::start_logging`] to a file).
fn daemon_log_tail(d: &Daemon) -> String {
    let text = std::fs::read_to_string(d.log_path()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(80)..].join("\n")
}

/// A port for SIPp's `-p`: free on 127.0.0.1 for TCP and UDP just now (the kernel's pick for a
/// listener on port 0), and not handed out before in this process. SIPp's own choice (5060, or
/// the next port it can bind) races between concurrent runs: a second TCP run can bind the port
/// the first has not listened on yet, and then fails to listen.
fn free_port() -> u16 {
    static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TAKEN.lock().expect("ports").insert(port)
        {
            return port;
        }
    }
}

/// Whether a failed run never got to send: SIPp could not bind or listen on its port (taken
/// by another process between [`free_port`] and SIPp's start). Such a run is tried again.
fn port_lost(run: &Run) -> bool {
    run.code != Some(0)
        && !run.messages.contains("message sent")
        && (run.stderr.contains("Address already in use") || run.errors.contains("Unable to"))
}

/// Runs `sipp <target> -sf tests/sipp/<scenario> -s <service> -m 1 -t u1|t1 -d <hold_ms>` on
/// 127.0.0.1 ([`free_port`], `-bind_local`), with a 10 s global timeout that fails the run
/// (`-timeout_error`) and every trace on, in a temporary directory; waits at most
/// [`SIPP_DEADLINE`] for it to exit. A run that lost its port before sending anything is tried
/// again, up to 3 times.
async fn sipp(
    bin: &Path,
    d: &Daemon,
    scenario: &str,
    service: &str,
    transport: Transport,
    hold_ms: u64,
) -> Run {
    let mut attempt = 1;
    loop {
        let run = sipp_once(bin, d, scenario, service, transport, hold_ms).await;
        if attempt == 3 || !port_lost(&run) {
            return run;
        }
        println!("{}: lost its port, trying again", run.what);
        attempt += 1;
    }
}

/// One run of [`sipp`].
async fn sipp_once(
    bin: &Path,
    d: &Daemon,
    scenario: &str,
    service: &str,
    transport: Transport,
    hold_ms: u64,
) -> Run {
    let dir = TempDir::new("sipp");
    let target = transport.target(d);
    let path = Path::new(SCENARIOS).join(scenario);
    assert!(path.is_file(), "no scenario {}", path.display());
    let errors = dir.0.join("errors.log");
    let messages = dir.0.join("messages.log");
    let log = dir.0.join("scenario.log");
    let port = free_port();
    let mut cmd = Command::new(bin);
    cmd.arg(target.to_string())
        .arg("-sf")
        .arg(&path)
        .args(["-s", service, "-m", "1", "-t", transport.flag()])
        .args(["-i", "127.0.0.1", "-bind_local", "-p", &port.to_string()])
        .args(["-d", &hold_ms.to_string()])
        .args(["-nostdin", "-timeout", "10s", "-timeout_error"])
        .arg("-trace_err")
        .arg("-error_file")
        .arg(&errors)
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(&messages)
        .arg("-trace_logs")
        .arg("-log_file")
        .arg(&log)
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = format!(
        "sipp -sf {scenario} -s {service} -t {} -p {port} {target}",
        transport.flag()
    );
    let child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
    let out = tokio::time::timeout(SIPP_DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: still running after {SIPP_DEADLINE:?}\n--- msrpd log (tail) ---\n{}",
                daemon_log_tail(d)
            )
        })
        .unwrap_or_else(|e| panic!("{what}: wait: {e}"));
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Run {
        what,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        errors: read(&errors),
        messages: read(&messages),
        log: read(&log),
    }
}

/// A daemon with the test configuration plus `extra`, logging to a file.
async fn daemon(extra: &str) -> Daemon {
    let d = Daemon::start_logging(&config(extra), true).await;
    assert!(d.sip_udp.is_some(), "msrpd printed no sip-udp line");
    assert!(d.sip_tcp.is_some(), "msrpd printed no sip-tcp line");
    d
}

/// Asserts that `/metrics` gets to `want` for `name{labels}` (within 3 s); `run` explains.
async fn assert_metric(d: &Daemon, run: &Run, name: &str, labels: &str, want: f64) {
    let got = d.metric_eventually(name, labels, want).await;
    assert_eq!(
        got, want,
        "{name}{{{labels}}} after {}\n--- sipp trace ---\n{}",
        run.what, run.messages
    );
}

/// `msrp_sip_requests_total{direction="in",method=...}`.
async fn assert_requests(d: &Daemon, run: &Run, method: &str, want: f64) {
    let labels = format!("direction=\"in\",method=\"{method}\"");
    assert_metric(d, run, "msrp_sip_requests_total", &labels, want).await;
}

/// `msrp_sip_responses_total{direction="out",method=...,status=...}`.
async fn assert_responses(d: &Daemon, run: &Run, method: &str, status: u16, want: f64) {
    let labels = format!("direction=\"out\",method=\"{method}\",status=\"{status}\"");
    assert_metric(d, run, "msrp_sip_responses_total", &labels, want).await;
}

/// No dialog and no chat-room participant left: the call is over on the daemon's side too.
async fn assert_nothing_left(d: &Daemon, run: &Run) {
    assert_metric(d, run, "msrp_sip_dialogs", "", 0.0).await;
    assert_metric(d, run, "msrp_mixer_participants", "", 0.0).await;
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// `invite_bye.xml` over `transport`: the call is set up (INVITE 100/200 with the SDP answer the
/// scenario checks, ACK), lasts [`HOLD_MS`], and is hung up (BYE 200); the metrics count exactly
/// that and nothing is left.
async fn invite_bye(transport: Transport) {
    let Some(bin) = sipp_or_skip() else { return };
    let d = daemon("").await;
    let run = sipp(&bin, &d, "invite_bye.xml", "lobby", transport, HOLD_MS).await;
    run.assert_success(&d);
    assert!(
        run.log.contains("a=path:msrp://") && run.log.contains("message/cpim"),
        "the scenario logged no answer:\n{}",
        run.report()
    );
    assert_requests(&d, &run, "INVITE", 1.0).await;
    assert_requests(&d, &run, "ACK", 1.0).await;
    assert_requests(&d, &run, "BYE", 1.0).await;
    assert_responses(&d, &run, "INVITE", 200, 1.0).await;
    assert_responses(&d, &run, "BYE", 200, 1.0).await;
    assert_nothing_left(&d, &run).await;
}

#[tokio::test]
async fn invite_bye_udp() {
    invite_bye(Transport::Udp).await;
}

#[tokio::test]
async fn invite_bye_tcp() {
    invite_bye(Transport::Tcp).await;
}

/// While SIPp holds the call (ACK sent, BYE not yet), the daemon has the dialog and the room has
/// the participant; SIPp's TCP connection is gone once it has exited.
#[tokio::test]
async fn call_held_tcp() {
    let Some(bin) = sipp_or_skip() else { return };
    let d = daemon("").await;
    // 2 s up: long enough to see the dialog however slow the metrics scrape is.
    let (run, during) = tokio::join!(
        sipp(&bin, &d, "invite_bye.xml", "lobby", Transport::Tcp, 2000),
        async {
            let dialogs = d.metric_eventually("msrp_sip_dialogs", "", 1.0).await;
            let participants = d
                .metric_eventually("msrp_mixer_participants", "", 1.0)
                .await;
            (dialogs, participants)
        }
    );
    run.assert_success(&d);
    assert_eq!(
        during,
        (1.0, 1.0),
        "(msrp_sip_dialogs, msrp_mixer_participants) during the call\n{}",
        run.report()
    );
    assert_nothing_left(&d, &run).await;
    assert_metric(&d, &run, "msrp_sip_tcp_connections", "", 0.0).await;
}

/// `cancel.xml` over `transport`: the CANCEL gets 200 whichever way the race goes, and the
/// INVITE gets either 487 (cancelled) or 200 (answered first; then SIPp ACKs and hangs up).
/// Either way one final response, and nothing is left.
///
/// Over TCP the 200 can come in the same segment as the 100, and SIPp 3.6.1 then takes it
/// before it has sent the CANCEL: the scenario catches that 200 with an `optional="global"`
/// `<recv>`, ACKs it, and still sends the CANCEL, which must get 200 (RFC 6026 "Accepted").
async fn cancel(transport: Transport) {
    let Some(bin) = sipp_or_skip() else { return };
    let d = daemon("").await;
    let run = sipp(&bin, &d, "cancel.xml", "lobby", transport, HOLD_MS).await;
    run.assert_success(&d);
    assert_requests(&d, &run, "CANCEL", 1.0).await;
    assert_responses(&d, &run, "CANCEL", 200, 1.0).await;
    // Which branch the scenario took: it logs "dialog established" when the INVITE got 200,
    // and "answered before the CANCEL was sent" when SIPp had that 200 before the CANCEL.
    let answered = run.log.contains("dialog established");
    let early = run.log.contains("answered before the CANCEL was sent");
    println!(
        "cancel over {transport:?}: the INVITE got {}",
        match (answered, early) {
            (true, true) => "200 before SIPp sent the CANCEL",
            (true, false) => "200 (answered before the CANCEL arrived)",
            _ => "487",
        }
    );
    if answered {
        assert_responses(&d, &run, "INVITE", 200, 1.0).await;
        assert_responses(&d, &run, "INVITE", 487, 0.0).await;
        assert_requests(&d, &run, "BYE", 1.0).await;
        assert_responses(&d, &run, "BYE", 200, 1.0).await;
    } else {
        assert_responses(&d, &run, "INVITE", 487, 1.0).await;
        assert_responses(&d, &run, "INVITE", 200, 0.0).await;
    }
    assert_requests(&d, &run, "ACK", 1.0).await;
    assert_nothing_left(&d, &run).await;
}

#[tokio::test]
async fn cancel_udp() {
    cancel(Transport::Udp).await;
}

#[tokio::test]
async fn cancel_tcp() {
    cancel(Transport::Tcp).await;
}

/// `reject_cpim.xml` over `transport`: an offer with only text/plain gets 488 and a Warning
/// (the scenario checks the header), the 488 is ACKed, and no participant joined.
async fn reject_cpim(transport: Transport) {
    let Some(bin) = sipp_or_skip() else { return };
    let d = daemon("").await;
    let run = sipp(&bin, &d, "reject_cpim.xml", "lobby", transport, HOLD_MS).await;
    run.assert_success(&d);
    assert_responses(&d, &run, "INVITE", 488, 1.0).await;
    assert_responses(&d, &run, "INVITE", 200, 0.0).await;
    assert_requests(&d, &run, "ACK", 1.0).await;
    assert_nothing_left(&d, &run).await;
}

#[tokio::test]
async fn reject_cpim_udp() {
    reject_cpim(Transport::Udp).await;
}

#[tokio::test]
async fn reject_cpim_tcp() {
    reject_cpim(Transport::Tcp).await;
}

/// `no_body.xml` over UDP: an INVITE without an offer gets 488 with a Warning.
#[tokio::test]
async fn no_offer_udp() {
    let Some(bin) = sipp_or_skip() else { return };
    let d = daemon("").await;
    let run = sipp(&bin, &d, "no_body.xml", "lobby", Transport::Udp, HOLD_MS).await;
    run.assert_success(&d);
    assert_responses(&d, &run, "INVITE", 488, 1.0).await;
    assert_nothing_left(&d, &run).await;
}

/// `unknown_room.xml` over UDP, with rooms not created on demand: 404, ACKed, and no room made.
#[tokio::test]
async fn unknown_room_udp() {
    let Some(bin) = sipp_or_skip() else { return };
    let d = daemon("[mixer]\nauto_create = false\n").await;
    let run = sipp(
        &bin,
        &d,
        "unknown_room.xml",
        "nosuchroom",
        Transport::Udp,
        HOLD_MS,
    )
    .await;
    run.assert_success(&d);
    assert_responses(&d, &run, "INVITE", 404, 1.0).await;
    assert_requests(&d, &run, "ACK", 1.0).await;
    assert_nothing_left(&d, &run).await;
    let rooms = d.api("GET", "/v1/rooms", None).await;
    assert_eq!(rooms.status, 200, "{}", rooms.body);
    assert!(
        !rooms.body.contains("nosuchroom"),
        "the INVITE created the room: {}",
        rooms.body
    );
}

/// `options.xml` over `transport`: 200 with an Allow header naming INVITE, ACK, BYE, CANCEL and
/// OPTIONS (the scenario checks each).
async fn options(transport: Transport) {
    let Some(bin) = sipp_or_skip() else { return };
    let d = daemon("").await;
    let run = sipp(&bin, &d, "options.xml", "lobby", transport, HOLD_MS).await;
    run.assert_success(&d);
    assert_requests(&d, &run, "OPTIONS", 1.0).await;
    assert_responses(&d, &run, "OPTIONS", 200, 1.0).await;
    assert_metric(&d, &run, "msrp_sip_dialogs", "", 0.0).await;
}

#[tokio::test]
async fn options_udp() {
    options(Transport::Udp).await;
}

#[tokio::test]
async fn options_tcp() {
    options(Transport::Tcp).await;
}
