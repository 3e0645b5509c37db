//! The daemon's configuration: one TOML file, read over the embedded default
//! ([`DEFAULT_TOML`], `msrpd --print-default-config`), turned into the relay's
//! ([`RelayConfig`]) and the mixer's ([`MixerConfig`]) configurations.
//!
//! A file needs only the keys it changes: every table has the default's values for the keys it
//! leaves out (`#[serde(default)]`), and a test checks that [`DEFAULT_TOML`] parses to exactly
//! [`Config::default`], so the printed default is the truth. Unknown keys are refused
//! (`deny_unknown_fields`); errors name the key, with its line for syntax and type errors (the
//! `toml` crate's messages) and its dotted path for values that parse but cannot be used
//! ([`ConfigError::Invalid`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use msrp_mixer::config::{MixerConfig, RoomPolicy, SwitchLimits};
use msrp_relay::auth::Secret;
use msrp_relay::config::{ClientAuth, RelayConfig, TlsConfig};
use serde::Deserialize;

/// The embedded default configuration: a demo on loopback (MSRP on 127.0.0.1:2855, HTTP on
/// 127.0.0.1:9855, demo users, room `lobby`).
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not TOML, has an unknown key, or a value of the wrong type (the message
    /// names the key and its line).
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
    /// A value parses but cannot be used.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key, dotted (`relay.min_expires`).
        key: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[msrp]`: the MSRP listeners.
    pub msrp: MsrpSection,
    /// `[relay]`: the RFC 4976 relay.
    pub relay: RelaySection,
    /// `[mixer]`: the RFC 7701 chat rooms.
    pub mixer: MixerSection,
    /// `[http]`: metrics, health and the control API.
    pub http: HttpSection,
    /// `[sip]`: the SIP focus (feature `sip`).
    pub sip: SipSection,
    /// `[log]`.
    pub log: LogSection,
    /// `[shutdown]`.
    pub shutdown: ShutdownSection,
}

/// `[msrp]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsrpSection {
    /// The TCP listener, shared by the relay and the rooms.
    pub listen: SocketAddr,
    /// The host name in the URIs msrpd issues (RFC 4976 §4.2: not an IP literal).
    pub host: String,
    /// The port in those URIs; 0: the bound port.
    pub port: u16,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest header block, in octets.
    pub max_head: usize,
    /// Time for a new connection's first frame (and the relay's first request, 4976-023).
    pub first_request_secs: u64,
    /// Idle connections are closed after this long (4976-039).
    pub idle_timeout_secs: u64,
    /// `[msrp.tls]`: the `msrps` listener, when present.
    pub tls: Option<TlsSection>,
}

impl Default for MsrpSection {
    fn default() -> Self {
        MsrpSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 2855)),
            host: "localhost".into(),
            port: 0,
            max_connections: 10_000,
            max_head: 16 * 1024,
            first_request_secs: 30,
            idle_timeout_secs: 3600,
            tls: None,
        }
    }
}

/// `[msrp.tls]` (RFC 4975 §14, RFC 4976 §9.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// The TLS listener.
    pub listen: SocketAddr,
    /// The port in `msrps` URIs; 0: the bound port.
    #[serde(default)]
    pub port: u16,
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// CAs `msrps` next hops must chain to; empty: none.
    #[serde(default)]
    pub roots: PathBuf,
    /// CAs client certificates must chain to; empty: none asked.
    #[serde(default)]
    pub client_roots: PathBuf,
    /// `none`, `optional` or `required`.
    #[serde(default = "default_client_auth")]
    pub client_auth: String,
    /// Present our certificate to `msrps` next hops (4976-042).
    #[serde(default = "yes")]
    pub present_client_cert: bool,
    /// Handshake time limit.
    #[serde(default = "ten")]
    pub handshake_timeout_secs: u64,
}

fn default_client_auth() -> String {
    "optional".into()
}
fn yes() -> bool {
    true
}
fn ten() -> u64 {
    10
}

/// One `[[relay.users]]` entry.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// The Digest username.
    pub name: String,
    /// The password in clear.
    #[serde(default)]
    pub password: Option<String>,
    /// `MD5(name ":" realm ":" password)`, 32 hex digits.
    #[serde(default)]
    pub ha1: Option<String>,
}

impl std::fmt::Debug for UserEntry {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `[relay]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySection {
    /// Serve the relay at all.
    pub enabled: bool,
    /// The Digest realm; empty: the host name.
    pub realm: String,
    /// Answer AUTH over plain TCP (4976-002 wants TLS).
    pub allow_auth_over_tcp: bool,
    /// Data queue per connection, in octets.
    pub queue_bytes: usize,
    /// Control queue per connection, in octets.
    pub control_bytes: usize,
    /// Largest forwarded piece, in body octets (4976-033); 0: no splitting.
    pub rechunk_size: usize,
    /// Cut pieces short for waiting replies (4975-028).
    pub rechunk_for_replies: bool,
    /// Combine consecutive chunks of a message already read, up to `rechunk_size` (4976-033).
    pub join_chunks: bool,
    /// Nonce lifetime (4976-013).
    pub nonce_lifetime_secs: u64,
    /// Failed AUTHs in a row before the connection is closed (4976-021).
    pub max_auth_failures: u32,
    /// Most outstanding nonces.
    pub max_nonces: usize,
    /// Use-Path lifetime without Expires (RFC 4976 §4.6).
    pub default_expires: u32,
    /// Shortest Expires (4976-017).
    pub min_expires: u32,
    /// Longest Expires (4976-017).
    pub max_expires: u32,
    /// Next-hop connect time limit.
    pub connect_timeout_secs: u64,
    /// Next-hop answer time limit (408, 4976-030).
    pub transaction_timeout_secs: u64,
    /// Who may AUTH.
    pub users: Vec<UserEntry>,
}

impl Default for RelaySection {
    fn default() -> Self {
        let user = |n: &str| UserEntry {
            name: n.into(),
            password: Some(format!("{n}-demo")),
            ha1: None,
        };
        RelaySection {
            enabled: true,
            realm: String::new(),
            allow_auth_over_tcp: true,
            queue_bytes: 1 << 20,
            control_bytes: 128 * 1024,
            rechunk_size: 64 * 1024,
            rechunk_for_replies: true,
            join_chunks: true,
            nonce_lifetime_secs: 300,
            max_auth_failures: 3,
            max_nonces: 100_000,
            default_expires: 1800,
            min_expires: 60,
            max_expires: 86_400,
            connect_timeout_secs: 10,
            transaction_timeout_secs: 30,
            users: vec![user("alice"), user("bob"), user("carol")],
        }
    }
}

/// A room's policy as written in `[mixer.room_defaults]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySection {
    /// NICKNAME allowed (RFC 7701 §7).
    pub nicknames: bool,
    /// Private messages allowed (RFC 7701 §6.2).
    pub private_messages: bool,
    /// Most participants.
    pub max_participants: usize,
    /// Messages replayed to a new participant.
    pub history: usize,
    /// Largest message, in octets.
    pub max_message_size: u64,
}

impl Default for PolicySection {
    fn default() -> Self {
        let p = RoomPolicy::default();
        PolicySection {
            nicknames: p.nicknames,
            private_messages: p.private_messages,
            max_participants: p.max_participants,
            history: p.history,
            max_message_size: p.max_message_size,
        }
    }
}

impl PolicySection {
    fn policy(&self) -> RoomPolicy {
        RoomPolicy {
            nicknames: self.nicknames,
            private_messages: self.private_messages,
            max_participants: self.max_participants,
            history: self.history,
            max_message_size: self.max_message_size,
        }
    }
}

/// One `[[mixer.rooms]]` entry: a name, and any policy key that differs from
/// `[mixer.room_defaults]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomEntry {
    /// The room name (`lobby` of `sip:lobby@domain`).
    pub name: String,
    /// Overrides [`PolicySection::nicknames`].
    pub nicknames: Option<bool>,
    /// Overrides [`PolicySection::private_messages`].
    pub private_messages: Option<bool>,
    /// Overrides [`PolicySection::max_participants`].
    pub max_participants: Option<usize>,
    /// Overrides [`PolicySection::history`].
    pub history: Option<usize>,
    /// Overrides [`PolicySection::max_message_size`].
    pub max_message_size: Option<u64>,
}

impl RoomEntry {
    fn policy(&self, defaults: &PolicySection) -> RoomPolicy {
        let mut p = defaults.policy();
        if let Some(v) = self.nicknames {
            p.nicknames = v;
        }
        if let Some(v) = self.private_messages {
            p.private_messages = v;
        }
        if let Some(v) = self.max_participants {
            p.max_participants = v;
        }
        if let Some(v) = self.history {
            p.history = v;
        }
        if let Some(v) = self.max_message_size {
            p.max_message_size = v;
        }
        p
    }
}

/// `[mixer]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MixerSection {
    /// Domain of room URIs.
    pub domain: String,
    /// Create rooms on first join.
    pub auto_create: bool,
    /// Nicknames nobody may take (425).
    pub reserved_nicknames: Vec<String>,
    /// Data queue per connection, in octets.
    pub queue_bytes: usize,
    /// Control queue per connection, in octets.
    pub control_bytes: usize,
    /// Failed copies in a row before a participant is dropped.
    pub max_failed_copies: u32,
    /// Time for a joined session to bind.
    pub bind_timeout_secs: u64,
    /// Connect time limit (active role, RFC 6135).
    pub connect_timeout_secs: u64,
    /// Longest CPIM header block (7701-017).
    pub max_cpim_head: usize,
    /// Chunk-reception timer (7701-019).
    pub chunk_timeout_secs: u64,
    /// Policy of new rooms and defaults of `[[mixer.rooms]]`.
    pub room_defaults: PolicySection,
    /// Rooms that exist from the start.
    pub rooms: Vec<RoomEntry>,
}

impl Default for MixerSection {
    fn default() -> Self {
        let limits = SwitchLimits::default();
        MixerSection {
            domain: "localhost".into(),
            auto_create: true,
            reserved_nicknames: Vec::new(),
            queue_bytes: 1 << 20,
            control_bytes: 128 * 1024,
            max_failed_copies: 16,
            bind_timeout_secs: 30,
            connect_timeout_secs: 10,
            max_cpim_head: limits.max_cpim_head,
            chunk_timeout_secs: limits.chunk_timeout.as_secs(),
            room_defaults: PolicySection::default(),
            rooms: vec![RoomEntry {
                name: "lobby".into(),
                nicknames: None,
                private_messages: None,
                max_participants: None,
                history: None,
                max_message_size: None,
            }],
        }
    }
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// The HTTP listener.
    pub listen: SocketAddr,
    /// The control API's bearer token.
    pub token: String,
    /// Time a client has to send a request's header block; a silent or slow one is closed.
    pub header_timeout_secs: u64,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 9855)),
            token: "msrpd-demo-token".into(),
            header_timeout_secs: 30,
        }
    }
}

/// `[sip]`: the SIP focus, where `INVITE sip:<room>@<host>` joins a room (RFC 7701 §5).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSection {
    /// Serve SIP at all (a build without the `sip` feature ignores the section).
    pub enabled: bool,
    /// The UDP listener, `host:port`; empty: none.
    pub udp: String,
    /// The TCP listener, `host:port`; empty: none.
    pub tcp: String,
    /// The host written in Contact and Via; empty: the listener's IP address.
    pub host: String,
    /// Take the participant from P-Asserted-Identity (RFC 3325): only behind a proxy that
    /// sets it and strips it from what others send.
    pub trust_asserted_identity: bool,
    /// RFC 3261 timer T1 (RTT estimate), in milliseconds.
    pub t1_ms: u64,
    /// RFC 3261 timer T2, in milliseconds.
    pub t2_ms: u64,
    /// RFC 3261 timer T4, in milliseconds.
    pub t4_ms: u64,
    /// Longest header block of a SIP message, in octets (513 beyond).
    pub max_head: usize,
    /// Longest body, in octets.
    pub max_body: usize,
    /// Most TCP connections open at once.
    pub max_connections: usize,
    /// TCP connections with no traffic for this long are closed.
    pub idle_timeout_secs: u64,
    /// Most server transactions alive at once (a UDP request's lives 32 s, RFC 3261 §17.2.2);
    /// beyond, requests get 503 with no state kept.
    pub max_transactions: usize,
}

impl Default for SipSection {
    fn default() -> Self {
        SipSection {
            enabled: true,
            udp: "127.0.0.1:5060".into(),
            tcp: "127.0.0.1:5060".into(),
            host: String::new(),
            trust_asserted_identity: false,
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            max_head: 8192,
            max_body: 65536,
            max_connections: 1000,
            idle_timeout_secs: 600,
            max_transactions: 100_000,
        }
    }
}

impl SipSection {
    /// The UDP listener's address, if any (checked by [`Config::check`]).
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.parse().ok()
    }

    /// The TCP listener's address, if any.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.parse().ok()
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The most verbose level logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default.
    #[default]
    Info,
    /// Per-connection detail.
    Debug,
    /// Everything.
    Trace,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// `error` to `trace`.
    pub level: LogLevel,
}

/// `[shutdown]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownSection {
    /// How long messages in flight get to finish after SIGTERM/SIGINT.
    pub drain_secs: u64,
}

impl Default for ShutdownSection {
    fn default() -> Self {
        ShutdownSection { drain_secs: 10 }
    }
}

impl Config {
    /// Parses and checks a configuration text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Reads, parses and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Checks what the types cannot: ranges, names and consistency. Errors name the key.
    pub fn check(&self) -> Result<(), ConfigError> {
        let m = &self.msrp;
        if msrp::MsrpUri::new(false, &m.host, Some(1), None, "tcp").is_err() {
            return Err(invalid("msrp.host", format!("{:?} is not a host", m.host)));
        }
        if self.relay.enabled && m.host.parse::<std::net::IpAddr>().is_ok() {
            return Err(invalid(
                "msrp.host",
                "the relay's URIs need a host name, not an IP literal (RFC 4976 §4.2)",
            ));
        }
        for (key, v) in [
            ("msrp.max_connections", m.max_connections as u64),
            ("msrp.max_head", m.max_head as u64),
            ("msrp.first_request_secs", m.first_request_secs),
            ("msrp.idle_timeout_secs", m.idle_timeout_secs),
            ("relay.queue_bytes", self.relay.queue_bytes as u64),
            ("relay.control_bytes", self.relay.control_bytes as u64),
            ("relay.nonce_lifetime_secs", self.relay.nonce_lifetime_secs),
            ("relay.max_nonces", self.relay.max_nonces as u64),
            (
                "relay.connect_timeout_secs",
                self.relay.connect_timeout_secs,
            ),
            (
                "relay.transaction_timeout_secs",
                self.relay.transaction_timeout_secs,
            ),
            ("mixer.queue_bytes", self.mixer.queue_bytes as u64),
            ("mixer.control_bytes", self.mixer.control_bytes as u64),
            ("mixer.bind_timeout_secs", self.mixer.bind_timeout_secs),
            (
                "mixer.connect_timeout_secs",
                self.mixer.connect_timeout_secs,
            ),
            ("mixer.max_cpim_head", self.mixer.max_cpim_head as u64),
            ("mixer.chunk_timeout_secs", self.mixer.chunk_timeout_secs),
            ("http.header_timeout_secs", self.http.header_timeout_secs),
            ("sip.t1_ms", self.sip.t1_ms),
            ("sip.t2_ms", self.sip.t2_ms),
            ("sip.t4_ms", self.sip.t4_ms),
            ("sip.max_connections", self.sip.max_connections as u64),
            ("sip.idle_timeout_secs", self.sip.idle_timeout_secs),
            ("sip.max_transactions", self.sip.max_transactions as u64),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be more than 0"));
            }
        }
        let sip = &self.sip;
        for (key, v) in [("sip.udp", &sip.udp), ("sip.tcp", &sip.tcp)] {
            if !v.is_empty() && v.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    key,
                    format!("{v:?}: expected IP:port, or \"\" for none"),
                ));
            }
        }
        if sip.t2_ms < sip.t1_ms {
            return Err(invalid("sip.t2_ms", "must be at least sip.t1_ms"));
        }
        for (key, v, max) in [
            ("sip.t1_ms", sip.t1_ms, 60_000),
            ("sip.t2_ms", sip.t2_ms, 600_000),
            ("sip.t4_ms", sip.t4_ms, 600_000),
            ("sip.max_connections", sip.max_connections as u64, 1_000_000),
            (
                "sip.max_transactions",
                sip.max_transactions as u64,
                10_000_000,
            ),
        ] {
            if v > max {
                return Err(invalid(key, format!("must be at most {max}")));
            }
        }
        if sip.enabled && sip.host.is_empty() {
            let unspecified = [sip.udp_addr(), sip.tcp_addr()]
                .into_iter()
                .flatten()
                .any(|a| a.ip().is_unspecified());
            if unspecified {
                return Err(invalid(
                    "sip.host",
                    "must name this host when sip.udp or sip.tcp listens on 0.0.0.0 or [::] \
                     (it goes into Contact and Via headers, where peers send to)",
                ));
            }
        }
        if sip.max_head < 512 {
            return Err(invalid("sip.max_head", "must be at least 512 octets"));
        }
        if !sip.host.is_empty() && sip.host.contains([' ', ';', '<', '>', '@', '"']) {
            return Err(invalid("sip.host", format!("{:?} is not a host", sip.host)));
        }
        if m.max_head < 256 {
            return Err(invalid("msrp.max_head", "must be at least 256 octets"));
        }
        if let Some(t) = &m.tls {
            if t.listen == m.listen && t.listen.port() != 0 {
                return Err(invalid("msrp.tls.listen", "must differ from msrp.listen"));
            }
            if t.client_auth.parse::<ClientAuth>().is_err() {
                return Err(invalid(
                    "msrp.tls.client_auth",
                    format!("{:?}: expected none, optional or required", t.client_auth),
                ));
            }
            if t.handshake_timeout_secs == 0 {
                return Err(invalid(
                    "msrp.tls.handshake_timeout_secs",
                    "must be more than 0",
                ));
            }
        }
        let r = &self.relay;
        if !(r.min_expires <= r.default_expires && r.default_expires <= r.max_expires) {
            return Err(invalid(
                "relay.default_expires",
                format!(
                    "must lie between relay.min_expires ({}) and relay.max_expires ({})",
                    r.min_expires, r.max_expires
                ),
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, u) in r.users.iter().enumerate() {
            let key = format!("relay.users[{i}]");
            if u.name.is_empty() || u.name.contains(['"', '\\']) {
                return Err(invalid(
                    format!("{key}.name"),
                    "must be a non-empty username",
                ));
            }
            if !names.insert(u.name.as_str()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("user {:?} is listed twice", u.name),
                ));
            }
            match (&u.password, &u.ha1) {
                (Some(_), None) => {}
                (None, Some(h)) if h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {}
                (None, Some(_)) => {
                    return Err(invalid(format!("{key}.ha1"), "must be 32 hex digits"));
                }
                _ => {
                    return Err(invalid(key, "needs exactly one of `password` and `ha1`"));
                }
            }
        }
        let mx = &self.mixer;
        if mx.domain.is_empty() || mx.domain.contains(['@', ' ', '/']) {
            return Err(invalid(
                "mixer.domain",
                format!("{:?} is not a domain", mx.domain),
            ));
        }
        let mut rooms = std::collections::HashSet::new();
        for (i, room) in mx.rooms.iter().enumerate() {
            let key = format!("mixer.rooms[{i}].name");
            if !valid_room_name(&room.name) {
                return Err(invalid(key, format!("{:?} is not a room name", room.name)));
            }
            if !rooms.insert(room.name.as_str()) {
                return Err(invalid(
                    key,
                    format!("room {:?} is listed twice", room.name),
                ));
            }
        }
        if self.http.token.is_empty() {
            return Err(invalid("http.token", "must not be empty"));
        }
        if self.http.listen == m.listen && m.listen.port() != 0 {
            return Err(invalid("http.listen", "must differ from msrp.listen"));
        }
        Ok(())
    }

    /// The relay's configuration. Its listener addresses are not used: the daemon accepts and
    /// hands connections over ([`msrp_relay::server::RelayHandle::serve`]).
    pub fn relay_config(&self) -> RelayConfig {
        let m = &self.msrp;
        let r = &self.relay;
        let realm = if r.realm.is_empty() {
            m.host.clone()
        } else {
            r.realm.clone()
        };
        let mut c = RelayConfig::new(m.host.clone(), realm);
        c.listen = m.listen;
        c.port = (m.port != 0).then_some(m.port);
        c.allow_auth_over_tcp = r.allow_auth_over_tcp;
        c.first_request_timeout = Duration::from_secs(m.first_request_secs);
        c.idle_timeout = Duration::from_secs(m.idle_timeout_secs);
        c.max_connections = m.max_connections;
        c.max_head = m.max_head;
        c.queue_bytes = r.queue_bytes;
        c.control_bytes = r.control_bytes;
        c.rechunk_size = r.rechunk_size;
        c.rechunk_for_replies = r.rechunk_for_replies;
        c.join_chunks = r.join_chunks;
        c.nonce_lifetime = Duration::from_secs(r.nonce_lifetime_secs);
        c.max_auth_failures = r.max_auth_failures;
        c.max_nonces = r.max_nonces;
        c.default_expires = r.default_expires;
        c.min_expires = r.min_expires;
        c.max_expires = r.max_expires;
        c.connect_timeout = Duration::from_secs(r.connect_timeout_secs);
        c.transaction_timeout = Duration::from_secs(r.transaction_timeout_secs);
        for u in &r.users {
            let secret = match (&u.password, &u.ha1) {
                (Some(p), _) => Secret::Password(p.clone()),
                (None, Some(h)) => Secret::Ha1(h.to_ascii_lowercase()),
                (None, None) => continue,
            };
            c.users.insert(u.name.clone(), secret);
        }
        if let Some(t) = &m.tls {
            let mut tls = TlsConfig::new(&t.cert, &t.key);
            tls.listen = t.listen;
            tls.port = (t.port != 0).then_some(t.port);
            tls.roots_pem = nonempty(&t.roots);
            tls.client_roots_pem = nonempty(&t.client_roots);
            tls.client_auth = t.client_auth.parse().unwrap_or_default();
            tls.present_client_cert = t.present_client_cert;
            tls.handshake_timeout = Duration::from_secs(t.handshake_timeout_secs);
            c.tls = Some(tls);
        }
        c
    }

    /// The mixer's configuration (its listener address is not used either).
    pub fn mixer_config(&self) -> MixerConfig {
        let m = &self.msrp;
        let mx = &self.mixer;
        let mut c = MixerConfig::new(m.host.clone(), mx.domain.clone());
        c.listen = m.listen;
        c.port = (m.port != 0).then_some(m.port);
        c.rooms = mx
            .rooms
            .iter()
            .map(|r| (r.name.clone(), r.policy(&mx.room_defaults)))
            .collect();
        c.auto_create = mx.auto_create.then(|| mx.room_defaults.policy());
        c.reserved_nicknames = mx.reserved_nicknames.clone();
        c.limits = SwitchLimits {
            max_cpim_head: mx.max_cpim_head,
            chunk_timeout: Duration::from_secs(mx.chunk_timeout_secs),
        };
        c.queue_bytes = mx.queue_bytes;
        c.control_bytes = mx.control_bytes;
        c.max_failed_copies = mx.max_failed_copies;
        c.max_head = m.max_head;
        c.max_connections = m.max_connections;
        c.idle_timeout = Duration::from_secs(m.idle_timeout_secs);
        c.bind_timeout = Duration::from_secs(mx.bind_timeout_secs);
        c.connect_timeout = Duration::from_secs(mx.connect_timeout_secs);
        c
    }

    /// The policy a room created through the control API gets, with the given overrides.
    pub fn room_policy(&self, entry: &RoomEntry) -> RoomPolicy {
        entry.policy(&self.mixer.room_defaults)
    }
}

fn nonempty(p: &Path) -> Option<PathBuf> {
    (!p.as_os_str().is_empty()).then(|| p.to_owned())
}

/// A room name the mixer accepts: `1*( unreserved )` of a SIP user part, without escapes.
pub fn valid_room_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_the_default() {
        assert_eq!(Config::parse(DEFAULT_TOML).unwrap(), Config::default());
        // An empty file is the default too.
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn a_file_needs_only_the_keys_it_changes() {
        let c = Config::parse("[http]\ntoken = \"s3cret\"\n[relay]\nmin_expires = 120\n").unwrap();
        assert_eq!(c.http.token, "s3cret");
        assert_eq!(c.relay.min_expires, 120);
        assert_eq!(c.http.listen, HttpSection::default().listen);
        assert_eq!(c.relay.users, RelaySection::default().users);
    }

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err("[msrp]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n");
        assert!(e.contains("lisen") && e.contains("line 3"), "{e}");
        let e = err("[relays]\n");
        assert!(e.contains("relays"), "{e}");
        let e = err("[[mixer.rooms]]\nname = \"a\"\nhistroy = 3\n");
        assert!(e.contains("histroy"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = err("[msrp]\nlisten = \"nowhere\"\n");
        assert!(e.contains("listen") && e.contains("line 2"), "{e}");
        let e = err("[msrp]\nmax_connections = -1\n");
        assert!(e.contains("max_connections"), "{e}");
        let e = err("[log]\nformat = \"xml\"\n");
        assert!(e.contains("format") && e.contains("xml"), "{e}");
        let e = err("[relay]\nmin_expires = 100\ndefault_expires = 50\n");
        assert!(e.starts_with("relay.default_expires:"), "{e}");
        let e = err("[msrp]\nhost = \"10.0.0.1\"\n");
        assert!(e.starts_with("msrp.host:"), "{e}");
        let e = err("[msrp]\nhost = \"bad host\"\n");
        assert!(e.starts_with("msrp.host:"), "{e}");
        for (text, key) in [
            ("[sip]\nudp = \"here\"\n", "sip.udp:"),
            ("[sip]\nt1_ms = 0\n", "sip.t1_ms:"),
            ("[sip]\nt1_ms = 100000\nt2_ms = 200000\n", "sip.t1_ms:"),
            ("[sip]\nt2_ms = 100\n", "sip.t2_ms:"),
            ("[sip]\nmax_head = 100\n", "sip.max_head:"),
            ("[sip]\nhost = \"a b\"\n", "sip.host:"),
            ("[sip]\ntcp = \"0.0.0.0:5060\"\n", "sip.host:"),
        ] {
            let e = err(text);
            assert!(e.starts_with(key), "{text:?}: {e}");
        }
        Config::parse("[sip]\ntcp = \"0.0.0.0:5060\"\nhost = \"sip.example.com\"\nudp = \"\"\n")
            .expect("a host with an unspecified listener, no UDP");
        let e = err("[[relay.users]]\nname = \"x\"\n");
        assert!(e.starts_with("relay.users[0]:"), "{e}");
        let e = err("[[relay.users]]\nname = \"x\"\nha1 = \"abc\"\n");
        assert!(e.starts_with("relay.users[0].ha1:"), "{e}");
        let e = err("[[mixer.rooms]]\nname = \"a b\"\n");
        assert!(e.starts_with("mixer.rooms[0].name:"), "{e}");
        let e = err("[[mixer.rooms]]\nname = \"a\"\n[[mixer.rooms]]\nname = \"a\"\n");
        assert!(e.starts_with("mixer.rooms[1].name:"), "{e}");
        let e = err("[http]\ntoken = \"\"\n");
        assert!(e.starts_with("http.token:"), "{e}");
        let e = err("[mixer]\nqueue_bytes = 0\n");
        assert!(e.starts_with("mixer.queue_bytes:"), "{e}");
        let e = err(
            "[msrp.tls]\nlisten = \"127.0.0.1:2856\"\ncert = \"c\"\nkey = \"k\"\nclient_auth = \"maybe\"\n",
        );
        assert!(e.starts_with("msrp.tls.client_auth:"), "{e}");
    }

    #[test]
    fn the_components_get_every_limit() {
        let c = Config::parse(
            "[msrp]\nmax_connections = 7\nmax_head = 4096\nidle_timeout_secs = 9\n\
             first_request_secs = 5\n[relay]\nqueue_bytes = 1000\nrealm = \"r\"\n\
             [mixer]\nauto_create = false\nmax_failed_copies = 3\n\
             [mixer.room_defaults]\nhistory = 0\n[[mixer.rooms]]\nname = \"ops\"\nhistory = 5\n",
        )
        .unwrap();
        let r = c.relay_config();
        assert_eq!(r.max_connections, 7);
        assert_eq!(r.max_head, 4096);
        assert_eq!(r.idle_timeout, Duration::from_secs(9));
        assert_eq!(r.first_request_timeout, Duration::from_secs(5));
        assert_eq!(r.queue_bytes, 1000);
        assert_eq!(r.realm, "r");
        assert_eq!(r.users.len(), 3);
        let m = c.mixer_config();
        assert_eq!(m.max_connections, 7);
        assert_eq!(m.max_head, 4096);
        assert_eq!(m.auto_create, None);
        assert_eq!(m.max_failed_copies, 3);
        assert_eq!(m.rooms.len(), 1);
        assert_eq!(m.rooms[0].0, "ops");
        assert_eq!(m.rooms[0].1.history, 5);
    }
}
