//! The real `msrpd` binary, started by the end-to-end tests on 127.0.0.1 with a config file
//! in a temporary directory (every listener on port 0; the ports are read from the lines the
//! daemon prints once it is ready), a minimal HTTP/1.1 client for its HTTP side, and the
//! chat-room participants of the mixer's own tests ([`chat`]).
// Each test file uses a different subset of the helpers.
#![allow(dead_code)]

#[path = "../../mixer/tests/common/mod.rs"]
pub mod chat;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The control API token of the test configurations.
pub const TOKEN: &str = "test-token";

/// The longest a test waits for the daemon to start or stop.
pub const START: Duration = Duration::from_secs(20);

/// A fresh temporary directory under the system's, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates one.
    pub fn new(tag: &str) -> TempDir {
        let mut ids = msrp::IdGenerator::new();
        let dir = std::env::temp_dir().join(format!("msrpd-test-{tag}-{}", ids.next_id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// Writes `text` to `name` in the directory; returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test configuration: every listener on 127.0.0.1 port 0, the test token, a drain of
/// `drain_secs`, then `extra` (TOML tables other than `[msrp]`, `[http]`, `[log]` and
/// `[shutdown]`). The SIP listeners are on port 0 too, unless `extra` has a `[sip]` table of
/// its own (which then should set `udp` and `tcp`).
pub fn config_with(drain_secs: u64, extra: &str) -> String {
    let sip = if extra.contains("[sip]") {
        ""
    } else {
        "[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"127.0.0.1:0\"\n"
    };
    format!(
        "[msrp]\nlisten = \"127.0.0.1:0\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\
         [log]\nlevel = \"debug\"\n\
         [shutdown]\ndrain_secs = {drain_secs}\n{sip}{extra}"
    )
}

/// [`config_with`] a 2 s drain.
pub fn config(extra: &str) -> String {
    config_with(2, extra)
}

/// A running daemon.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// The MSRP listener.
    pub msrp: SocketAddr,
    /// The MSRP TLS listener, with `[msrp.tls]`.
    pub msrps: Option<SocketAddr>,
    /// The HTTP listener.
    pub http: SocketAddr,
    /// The SIP UDP listener (`[sip] udp`).
    pub sip_udp: Option<SocketAddr>,
    /// The SIP TCP listener (`[sip] tcp`).
    pub sip_tcp: Option<SocketAddr>,
    /// Kept until the daemon is gone.
    pub dir: TempDir,
}

impl Daemon {
    /// Starts `msrpd --config <file with text>` and waits until it says `ready`.
    pub async fn start(text: &str) -> Daemon {
        Daemon::start_logging(text, false).await
    }

    /// [`Daemon::start`]; with `to_file`, its log (stderr) goes to [`Daemon::log_path`].
    pub async fn start_logging(text: &str, to_file: bool) -> Daemon {
        let dir = TempDir::new("daemon");
        let path = dir.file("msrpd.toml", text);
        let stderr = if to_file {
            Stdio::from(std::fs::File::create(dir.0.join("msrpd.log")).expect("log file"))
        } else {
            Stdio::inherit()
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_msrpd"))
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn msrpd");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let (mut msrp, mut msrps, mut http) = (None, None, None);
        let (mut sip_udp, mut sip_tcp) = (None, None);
        let read = async {
            while let Some(line) = lines.next_line().await.expect("stdout") {
                match line.split_once(' ') {
                    Some(("msrp", a)) => msrp = Some(a.parse().expect("msrp address")),
                    Some(("msrps", a)) => msrps = Some(a.parse().expect("msrps address")),
                    Some(("http", a)) => http = Some(a.parse().expect("http address")),
                    Some(("sip-udp", a)) => sip_udp = Some(a.parse().expect("sip-udp address")),
                    Some(("sip-tcp", a)) => sip_tcp = Some(a.parse().expect("sip-tcp address")),
                    _ if line == "ready" => return,
                    _ => {}
                }
            }
            panic!("msrpd exited before it was ready");
        };
        tokio::time::timeout(START, read)
            .await
            .expect("msrpd ready in time");
        Daemon {
            child,
            msrp: msrp.expect("msrp line"),
            msrps,
            http: http.expect("http line"),
            sip_udp,
            sip_tcp,
            dir,
        }
    }

    /// Where [`Daemon::start_logging`] writes the log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.0.join("msrpd.log")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code.
    pub async fn exit_code(&mut self) -> Option<i32> {
        tokio::time::timeout(START, self.child.wait())
            .await
            .expect("msrpd exits in time")
            .expect("wait")
            .code()
    }

    /// An HTTP request to the daemon (see [`request`]).
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        request(self.http, method, path, token, body).await
    }

    /// An HTTP request with the test token.
    pub async fn api(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        self.http(method, path, Some(TOKEN), body).await
    }

    /// [`Daemon::metric`] once it equals `want`, waiting up to 3 s for it to get there: a
    /// counter may move a moment after the frame it counts has been delivered (the room counts
    /// at the end of its batch). The last value read when it never does.
    pub async fn metric_eventually(&self, name: &str, labels: &str, want: f64) -> f64 {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let v = self.metric(name, labels).await;
            if v == want || tokio::time::Instant::now() >= deadline {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The value of the sample `name{labels}` (labels written as in the exposition, e.g.
    /// `kind="public"`; empty for none) in `/metrics`, 0 when absent.
    pub async fn metric(&self, name: &str, labels: &str) -> f64 {
        let text = self.http("GET", "/metrics", None, None).await.body;
        sample(&text, name, labels)
    }
}

/// The value of `name{labels}` in a Prometheus text exposition, 0 when absent.
pub fn sample(text: &str, name: &str, labels: &str) -> f64 {
    let key = if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == key).then(|| v.parse().expect("a number"))
        })
        .unwrap_or(0.0)
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The header lines, `name: value`, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request (`Connection: close`), JSON body if any, bearer `token` if any.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut s = TcpStream::connect(addr).await.expect("connect http");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("write http");
    let mut raw = Vec::new();
    tokio::time::timeout(START, s.read_to_end(&mut raw))
        .await
        .expect("http answer in time")
        .expect("read http");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, rest) = text.split_once("\r\n\r\n").expect("header block");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// A JSON string literal of `s`.
pub fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
