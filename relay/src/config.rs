//! [`RelayConfig`]: what the TCP relay ([`crate::server`]) listens on, whom it admits, and the
//! limits it enforces on every connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::{AuthConfig, Secret};

/// The relay's configuration. [`RelayConfig::new`] gives the RFC defaults; every limit here is
/// enforced by [`crate::server::Relay`].
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The address the TCP listener binds (port 0: any free port).
    pub listen: SocketAddr,
    /// The relay's fully qualified domain name, written into the Use-Path URIs it issues
    /// (RFC 4976 §4.2, 4976-016: not an IP literal; `localhost` does for tests).
    pub host: String,
    /// The port written into Use-Path URIs; `None` takes the port the listener is bound to.
    pub port: Option<u16>,
    /// The Digest realm (RFC 4976 §5.1 suggests the host name).
    pub realm: String,
    /// The users who may AUTH, by Digest username.
    pub users: HashMap<String, Secret>,
    /// Answer AUTH over plain TCP. RFC 4976 §8/§9.4 (4976-002): AUTH is sent only over TLS, so
    /// by default (`false`) an AUTH on a TCP connection is answered 403. Meant for loopback
    /// demos and tests.
    pub allow_auth_over_tcp: bool,
    /// How long a new incoming connection may go without a successful request (an AUTH
    /// answered 200, or a request forwarded) before it is closed: RFC 4976 §6.1 (4976-023),
    /// 30 s.
    pub first_request_timeout: Duration,
    /// A connection on which nothing arrives for this long is closed: RFC 4976 §6.5
    /// (4976-039), 1 hour.
    pub idle_timeout: Duration,
    /// Most incoming connections open at once; one more is closed as soon as it is accepted
    /// (RFC 4976 §6.5: a relay out of resources sheds connections).
    pub max_connections: usize,
    /// Longest header block accepted, in octets ([`msrp::DecoderConfig::max_head`]); a longer
    /// one is a fatal decode error and closes the connection.
    pub max_head: usize,
    /// Bytes each connection's data lane may hold queued ([`msrp::transport::WriterConfig`]);
    /// a forwarder whose target lane is full stops reading its source (backpressure).
    pub queue_bytes: usize,
    /// Bytes each connection's control lane (responses, REPORTs) may hold queued.
    pub control_bytes: usize,
    /// Use-Path lifetime granted to an AUTH without Expires, in seconds (RFC 4976 §4.6).
    pub default_expires: u32,
    /// Shortest Expires accepted (423 + Min-Expires below it, 4976-017), in seconds.
    pub min_expires: u32,
    /// Longest Expires accepted (423 + Max-Expires above it, 4976-017), in seconds.
    pub max_expires: u32,
    /// How long opening an outbound connection to a next hop may take.
    pub connect_timeout: Duration,
    /// How long a forwarded SEND waits for the next hop's response, from its last octet sent,
    /// before a 408 failure REPORT (RFC 4976 §6.4.1, 4976-030): 30 s.
    pub transaction_timeout: Duration,
    /// How often the relay's timers (transaction timeouts, Use-Path expiry) are checked.
    pub tick: Duration,
}

impl RelayConfig {
    /// A configuration for a relay named `host` with realm `realm`, listening on
    /// `127.0.0.1:0`, no users, AUTH over TLS only, and the RFC defaults: first request within
    /// 30 s (4976-023), idle connections closed after 1 hour (4976-039), 10 000 connections,
    /// 16 KiB header blocks, 1 MiB data and 128 KiB control lanes, Expires 1800 s (60 s to
    /// 86 400 s).
    pub fn new(host: impl Into<String>, realm: impl Into<String>) -> RelayConfig {
        RelayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            host: host.into(),
            port: None,
            realm: realm.into(),
            users: HashMap::new(),
            allow_auth_over_tcp: false,
            first_request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3600),
            max_connections: 10_000,
            max_head: 16 * 1024,
            queue_bytes: 1 << 20,
            control_bytes: 128 * 1024,
            default_expires: 1800,
            min_expires: 60,
            max_expires: 86_400,
            connect_timeout: Duration::from_secs(10),
            transaction_timeout: crate::forward::DEFAULT_TIMEOUT,
            tick: Duration::from_millis(250),
        }
    }

    /// Adds a user with a clear-text password (builder style).
    pub fn with_user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users
            .insert(name.into(), Secret::Password(password.into()));
        self
    }

    /// The [`AuthConfig`] for the relay's [`crate::auth::Authenticator`].
    pub fn auth_config(&self) -> AuthConfig {
        let mut a = AuthConfig::new(self.realm.clone());
        a.users = self.users.clone();
        a.default_expires = self.default_expires;
        a.min_expires = self.min_expires;
        a.max_expires = self.max_expires;
        a
    }
}
