//! `msrpd chat`, the terminal client, driven through a pseudo-terminal against the real daemon.
//!
//! Each client runs under util-linux `script` (`script -qefc CMD /dev/null`): the client's
//! stdin, stdout and stderr are a pty, as in a terminal, and the test types into `script`'s
//! stdin and reads `script`'s stdout. The pty echoes what is typed, so output lines are matched
//! by prefix, and it ends lines with CRLF, so `\r` is stripped. The end of the test's input
//! reaches the client as an end of file (`script` writes the EOF character).
//!
//! Clients join by SIP (an INVITE to the focus's TCP listener, RFC 3261 §13; BYE to leave,
//! §15) unless told `--join api` (the control API).

mod support;

use std::process::{ExitStatus, Stdio};

use support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// `s` quoted for `sh -c`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A running `msrpd chat` in a pty.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    name: String,
}

impl Client {
    /// `msrpd chat ROOM --as sip:NAME@localhost` with the daemon's SIP, API and token, and
    /// `extra` arguments, under `script`.
    fn spawn(d: &Daemon, name: &str, room: &str, extra: &[&str]) -> Client {
        let sip = d.sip_tcp.expect("the daemon listens for SIP over TCP");
        let mut args = vec![
            env!("CARGO_BIN_EXE_msrpd").to_owned(),
            "chat".into(),
            room.into(),
            "--as".into(),
            format!("sip:{name}@localhost"),
            "--sip".into(),
            sip.to_string(),
            "--api".into(),
            format!("http://{}", d.http),
            "--token".into(),
            TOKEN.into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let cmd: Vec<String> = args.iter().map(|a| sh_quote(a)).collect();
        let mut child = Command::new("script")
            .args(["-qefc", &cmd.join(" "), "/dev/null"])
            .env("SHELL", "/bin/sh")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn script (util-linux)");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Client {
            child,
            stdin,
            stdout,
            name: name.to_owned(),
        }
    }

    /// A client joined to `lobby` (by SIP unless `extra` says otherwise).
    async fn join(d: &Daemon, name: &str, extra: &[&str]) -> Client {
        let mut c = Client::spawn(d, name, "lobby", extra);
        let line = c.expect("* joined ").await;
        assert_eq!(
            line,
            format!("* joined sip:lobby@localhost as sip:{name}@localhost (/help for commands)")
        );
        c
    }

    async fn type_line(&mut self, line: &str) {
        self.stdin
            .as_mut()
            .expect("input open")
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("type");
    }

    /// Ends the input (the client reads an end of file).
    fn end_input(&mut self) {
        self.stdin = None;
    }

    /// The next output line, `\r` stripped; `None` at the end of the output.
    async fn line(&mut self) -> Option<String> {
        let line = self.stdout.next_line().await.expect("read")?;
        Some(line.trim_end_matches('\r').to_owned())
    }

    /// Reads lines until one starts with `prefix` (bounded in time); returns it.
    async fn expect(&mut self, prefix: &str) -> String {
        let name = self.name.clone();
        let read = async {
            while let Some(line) = self.line().await {
                if line.starts_with(prefix) {
                    return line;
                }
            }
            panic!("{name}: output ended before {prefix:?}");
        };
        tokio::time::timeout(START, read)
            .await
            .unwrap_or_else(|_| panic!("{name}: no line {prefix:?} in time"))
    }

    /// The rest of the output, until the client exits (bounded in time).
    async fn rest(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let read = async {
            while let Some(line) = self.line().await {
                lines.push(line);
            }
        };
        let ended = tokio::time::timeout(START, read).await.is_ok();
        assert!(
            ended,
            "{}: the output does not end (the client has not exited); it read {lines:?}",
            self.name
        );
        lines
    }

    /// How the client (through `script -e`) exited (bounded in time).
    async fn exit(&mut self) -> ExitStatus {
        tokio::time::timeout(START, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: does not exit", self.name))
            .expect("wait")
    }
}

/// `msrp_sip_responses_total` labels of responses to BYE with `status`, `direction` in/out.
fn bye_responses(direction: &str, status: u16) -> String {
    format!("direction=\"{direction}\",method=\"BYE\",status=\"{status}\"")
}

#[tokio::test]
async fn two_terminal_clients_chat() {
    let mut d = Daemon::start(&config("")).await;
    let mut alice = Client::join(&d, "alice", &[]).await;
    let mut bob = Client::join(&d, "bob", &[]).await;
    // Both joined by INVITE, and both 2xx were ACKed (RFC 3261 §13.2.2.4).
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 2.0).await, 2.0);
    assert_eq!(
        d.metric_eventually(
            "msrp_sip_requests_total",
            "direction=\"in\",method=\"ACK\"",
            2.0
        )
        .await,
        2.0
    );

    alice.type_line("/nick ally").await;
    alice.expect("* you are now ally").await;
    bob.type_line("/nick ally").await;
    bob.expect("* nickname ally refused: 425").await;
    bob.type_line("/nick bobby").await;
    bob.expect("* you are now bobby").await;

    alice.type_line("hello room").await;
    assert_eq!(bob.expect("ally").await, "ally: hello room");
    bob.type_line("/msg ally just for you").await;
    assert_eq!(alice.expect("bobby").await, "bobby (private): just for you");
    bob.type_line("/msg nobody hello?").await;
    bob.expect("* not delivered: 404").await;

    alice.type_line("/who").await;
    assert_eq!(
        alice.expect("* in the room").await,
        "* in the room: ally (sip:alice@localhost) bobby (sip:bob@localhost)"
    );
    assert_eq!(
        d.metric_eventually("msrp_mixer_messages_total", "kind=\"public\"", 1.0)
            .await,
        1.0
    );
    assert_eq!(
        d.metric_eventually("msrp_mixer_messages_total", "kind=\"private\"", 1.0)
            .await,
        1.0
    );

    alice.type_line("/quit").await;
    assert_eq!(alice.expect("* left").await, "* left");
    assert!(alice.exit().await.success());
    // End of input leaves too.
    bob.end_input();
    assert_eq!(bob.expect("* left").await, "* left");
    assert!(bob.exit().await.success());
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 0.0).await, 0.0);
    assert_eq!(
        d.metric_eventually("msrp_mixer_participants", "", 0.0)
            .await,
        0.0
    );
    // Each left with a BYE the focus answered 200 (RFC 3261 §15.1.2).
    assert_eq!(
        d.metric_eventually("msrp_sip_responses_total", &bye_responses("out", 200), 2.0)
            .await,
        2.0
    );

    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}

/// The room is deleted through the control API: the focus sends a BYE, the client answers it
/// and exits 0.
#[tokio::test]
async fn deleted_room_ends_the_session() {
    let mut d = Daemon::start(&config("")).await;
    let mut alice = Client::join(&d, "alice", &[]).await;
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 1.0).await, 1.0);

    assert_eq!(d.api("DELETE", "/v1/rooms/lobby", None).await.status, 204);
    let rest = alice.rest().await;
    assert!(
        rest.iter().any(|l| l == "* the room ended the session"),
        "{rest:?}"
    );
    assert!(
        !rest.iter().any(|l| l.starts_with("* the service closed")),
        "{rest:?}"
    );
    assert!(alice.exit().await.success());
    assert_eq!(
        d.metric_eventually(
            "msrp_sip_requests_total",
            "direction=\"out\",method=\"BYE\"",
            1.0
        )
        .await,
        1.0
    );
    assert_eq!(
        d.metric_eventually("msrp_sip_responses_total", &bye_responses("in", 200), 1.0)
            .await,
        1.0
    );
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 0.0).await, 0.0);

    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}

/// The daemon shuts down (SIGTERM): the focus ends every dialog with a BYE, the client answers
/// it and exits 0.
#[tokio::test]
async fn daemon_shutdown_ends_the_session() {
    let mut d = Daemon::start(&config("")).await;
    let mut alice = Client::join(&d, "alice", &[]).await;
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 1.0).await, 1.0);

    d.terminate();
    let rest = alice.rest().await;
    assert!(
        rest.iter().any(|l| l == "* the room ended the session"),
        "{rest:?}"
    );
    assert!(alice.exit().await.success());
    assert_eq!(d.exit_code().await, Some(0));
}

/// A refused INVITE (no such room, and rooms are not created on demand) is reported with its
/// status, ACKed (RFC 3261 §17.1.1.3), and the client exits non-zero.
#[tokio::test]
async fn refused_join_is_reported() {
    let mut d = Daemon::start(&config("[mixer]\nauto_create = false\n")).await;
    let mut c = Client::spawn(&d, "alice", "nope", &[]);
    let rest = c.rest().await;
    assert!(
        rest.iter()
            .any(|l| l.starts_with("msrpd chat: join sip:nope@localhost: 404 ")),
        "{rest:?}"
    );
    assert!(!rest.iter().any(|l| l.starts_with("* joined")), "{rest:?}");
    assert!(!c.exit().await.success());
    assert_eq!(
        d.metric_eventually(
            "msrp_sip_responses_total",
            "direction=\"out\",method=\"INVITE\",status=\"404\"",
            1.0
        )
        .await,
        1.0
    );
    assert_eq!(
        d.metric_eventually(
            "msrp_sip_requests_total",
            "direction=\"in\",method=\"ACK\"",
            1.0
        )
        .await,
        1.0
    );
    assert_eq!(d.metric("msrp_sip_dialogs", "").await, 0.0);

    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}

/// `--join api` still works, next to a client joined by SIP: one dialog only, both chat, and
/// the API client leaves with DELETE.
#[tokio::test]
async fn api_and_sip_clients_share_a_room() {
    let mut d = Daemon::start(&config("")).await;
    let mut alice = Client::join(&d, "alice", &["--join", "api"]).await;
    let mut bob = Client::join(&d, "bob", &["--join", "sip"]).await;
    assert_eq!(
        d.metric_eventually("msrp_mixer_participants", "", 2.0)
            .await,
        2.0
    );
    assert_eq!(d.metric("msrp_sip_dialogs", "").await, 1.0);

    alice.type_line("hi from the API").await;
    assert_eq!(
        bob.expect("sip:alice").await,
        "sip:alice@localhost: hi from the API"
    );
    bob.type_line("hi from SIP").await;
    assert_eq!(
        alice.expect("sip:bob").await,
        "sip:bob@localhost: hi from SIP"
    );

    alice.type_line("/quit").await;
    assert_eq!(alice.expect("* left").await, "* left");
    assert!(alice.exit().await.success());
    assert_eq!(
        d.metric_eventually("msrp_mixer_participants", "", 1.0)
            .await,
        1.0
    );
    assert_eq!(d.metric("msrp_sip_dialogs", "").await, 1.0);
    bob.type_line("/quit").await;
    assert_eq!(bob.expect("* left").await, "* left");
    assert!(bob.exit().await.success());
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 0.0).await, 0.0);
    assert_eq!(
        d.metric_eventually("msrp_mixer_participants", "", 0.0)
            .await,
        0.0
    );

    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}

/// The focus closes an idle SIP connection (`[sip] idle_timeout_secs`); the session goes on
/// and the BYE goes out on a new connection (RFC 3261 §18.1.1).
#[tokio::test]
async fn bye_after_the_sip_connection_closed() {
    let mut d = Daemon::start(&config(
        "[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\nidle_timeout_secs = 1\n",
    ))
    .await;
    let mut alice = Client::join(&d, "alice", &[]).await;
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 1.0).await, 1.0);
    assert_eq!(
        d.metric_eventually("msrp_sip_tcp_connections", "", 0.0)
            .await,
        0.0
    );
    assert_eq!(d.metric("msrp_sip_dialogs", "").await, 1.0);

    alice.type_line("/quit").await;
    assert_eq!(alice.expect("* left").await, "* left");
    assert!(alice.exit().await.success());
    assert_eq!(
        d.metric_eventually("msrp_sip_responses_total", &bye_responses("out", 200), 1.0)
            .await,
        1.0
    );
    assert_eq!(d.metric_eventually("msrp_sip_dialogs", "", 0.0).await, 0.0);

    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}
