//! `msrpd chat`, the terminal client, driven through pipes against the real daemon: two clients
//! join `lobby`, take nicknames, chat in public and in private, see who is there, and leave.

mod support;

use std::process::Stdio;

use support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A running `msrpd chat`.
struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    name: &'static str,
}

impl Client {
    async fn start(d: &Daemon, name: &'static str) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_msrpd"))
            .args([
                "chat",
                "sip:lobby@localhost",
                "--as",
                &format!("sip:{name}@localhost"),
                "--api",
                &format!("http://{}", d.http),
                "--token",
                TOKEN,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn msrpd chat");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut c = Client {
            child,
            stdin,
            stdout,
            name,
        };
        c.expect("* joined sip:lobby@localhost").await;
        c
    }

    async fn type_line(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("type");
    }

    /// Reads lines until one starts with `prefix` (bounded in time); returns it.
    async fn expect(&mut self, prefix: &str) -> String {
        let read = async {
            while let Some(line) = self.stdout.next_line().await.expect("read") {
                if line.starts_with(prefix) {
                    return line;
                }
            }
            panic!("{}: output ended before {prefix:?}", self.name);
        };
        tokio::time::timeout(START, read)
            .await
            .unwrap_or_else(|_| panic!("{}: no line {prefix:?} in time", self.name))
    }
}

#[tokio::test]
async fn two_terminal_clients_chat() {
    let mut d = Daemon::start(&config("")).await;
    let mut alice = Client::start(&d, "alice").await;
    let mut bob = Client::start(&d, "bob").await;

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
    alice.expect("* left").await;
    assert!(alice.child.wait().await.expect("wait").success());
    // End of input leaves too.
    drop(bob.stdin);
    bob.stdout.next_line().await.expect("read");
    assert!(bob.child.wait().await.expect("wait").success());
    assert_eq!(
        d.metric_eventually("msrp_mixer_participants", "", 0.0)
            .await,
        0.0
    );

    d.terminate();
    assert_eq!(d.exit_code().await, Some(0));
}
