//! [`RelayConfig`]: what the relay ([`crate::server`]) listens on (TCP, and TLS with
//! [`TlsConfig`]), whom it admits, and the limits it enforces on every connection.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// demos and tests. AUTH over TLS ([`RelayConfig::tls`]) is always answered.
    pub allow_auth_over_tcp: bool,
    /// The `msrps` listener and outbound TLS (RFC 4975 §14, RFC 4976 §9.2, 4976-042); `None`:
    /// TCP only, and `msrps` next hops fail.
    pub tls: Option<TlsConfig>,
    /// How long a new incoming connection may go without a successful request (an AUTH
    /// answered 200, or a request forwarded) before it is closed: RFC 4976 §6.1 (4976-023),
    /// 30 s.
    pub first_request_timeout: Duration,
    /// A connection on which nothing passes, either way, for this long is closed: RFC 4976
    /// §6.5 (4976-039), 1 hour. Frames the relay queues for a connection count as traffic, so
    /// a recipient that only receives is not idle.
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
    /// Largest piece of a forwarded SEND chunk, in body octets: a longer chunk is split into
    /// pieces of at most this many octets, each ended with `+` and continued in a new chunk with
    /// its own transaction id and Byte-Range (RFC 4976 §6.4.1, 4976-033; the rule is in
    /// [`crate::server`], "Re-chunking"). Between pieces the target's queued responses and
    /// REPORTs go out. 64 KiB; 0: no splitting by size.
    pub rechunk_size: usize,
    /// Also end a forwarded piece early, once it carries at least 2048 octets, as soon as the
    /// target connection has responses or REPORTs waiting (as RFC 4975 §7.1.1 asks of a sender,
    /// 4975-028), even while the source is silent in the middle of its chunk. `true`.
    pub rechunk_for_replies: bool,
    /// Combine consecutive chunks of a message: the next chunk is carried on in the chunk
    /// forwarded before it when it is already read, continues it exactly (same Message-ID,
    /// consecutive Byte-Range, same headers) and the two fit in [`RelayConfig::rechunk_size`]
    /// body octets (RFC 4976 §6.4.1, 4976-033 "combine consecutive chunks"; the rule is in
    /// [`crate::server`], "Combining"): one outgoing chunk, transaction and response for many
    /// small ones. A chunk that may be continued goes out with range-end `*`. Only with
    /// `rechunk_size` above 0 (the bound) and [`RelayConfig::rechunk_for_replies`] (a combined
    /// chunk is interrupted for replies, 4975-028). `true`.
    ///
    /// Every node must take chunks of any size (4975-031), so `rechunk_size` is the largest
    /// chunk this relay sends on. A next hop that takes less, such as Kamailio's `msrp` module
    /// (frames up to about 11 KB), needs a `rechunk_size` below its limit.
    pub join_chunks: bool,
    /// How long a Digest nonce stays valid; an AUTH with an older one gets 401 with
    /// `stale=TRUE` (RFC 4976 §10.3, 4976-013). 300 s.
    pub nonce_lifetime: Duration,
    /// Failed AUTHs in a row (401 without `stale`) after which a client's connection is closed
    /// (RFC 4976 §6.3, 4976-021). 3.
    pub max_auth_failures: u32,
    /// Most nonces outstanding at once; when full the oldest is forgotten, so unauthenticated
    /// clients cannot grow the table. 100 000.
    pub max_nonces: usize,
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
    /// 16 KiB header blocks, 1 MiB data and 128 KiB control lanes, forwarded chunks re-chunked
    /// into pieces of at most 64 KiB and cut early for waiting replies (4976-033), Expires
    /// 1800 s (60 s to 86 400 s).
    pub fn new(host: impl Into<String>, realm: impl Into<String>) -> RelayConfig {
        RelayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            host: host.into(),
            port: None,
            realm: realm.into(),
            users: HashMap::new(),
            allow_auth_over_tcp: false,
            tls: None,
            first_request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3600),
            max_connections: 10_000,
            max_head: 16 * 1024,
            queue_bytes: 1 << 20,
            control_bytes: 128 * 1024,
            rechunk_size: 64 * 1024,
            rechunk_for_replies: true,
            join_chunks: true,
            nonce_lifetime: Duration::from_secs(300),
            max_auth_failures: 3,
            max_nonces: 100_000,
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

    /// Adds a TLS listener (builder style).
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The [`AuthConfig`] for the relay's [`crate::auth::Authenticator`].
    pub fn auth_config(&self) -> AuthConfig {
        let mut a = AuthConfig::new(self.realm.clone());
        a.users = self.users.clone();
        a.default_expires = self.default_expires;
        a.min_expires = self.min_expires;
        a.max_expires = self.max_expires;
        a.nonce_lifetime = self.nonce_lifetime;
        a.max_failures = self.max_auth_failures;
        a.max_nonces = self.max_nonces;
        a
    }
}

/// TLS for the relay (`msrps`, RFC 4975 §14, RFC 4976 §9.2): a second listener whose connections
/// are TLS from the first octet, and TLS to `msrps` next hops. Loaded by [`crate::tls`].
///
/// Use-Path URIs issued to a client that AUTHs on a TLS connection are `msrps` URIs with this
/// listener's port.
///
/// RFC 4976 §9.2 (4976-042): a relay is a TLS server whose certificate carries a dnsName
/// SubjectAltName matching the host of its URI ([`RelayConfig::host`]), relay-to-relay hops use
/// mutual TLS, clients send SNI, and clients SHOULD present an empty certificate list. Hence:
///
/// - the listener presents [`TlsConfig::cert_chain_pem`], and asks peers for a certificate
///   according to [`TlsConfig::client_auth`], verified against [`TlsConfig::client_roots_pem`];
/// - outbound `msrps` connections verify the next hop's certificate against
///   [`TlsConfig::roots_pem`] for the URI host (sent as SNI), and present the same
///   [`TlsConfig::cert_chain_pem`] as a client certificate unless
///   [`TlsConfig::present_client_cert`] is off.
///
/// One certificate serves both sides, so for mutual TLS with other relays it must be acceptable
/// as a client certificate too: either without an Extended Key Usage extension, or with both
/// `serverAuth` and `clientAuth`.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// The address the TLS listener binds (port 0: any free port). Must differ from
    /// [`RelayConfig::listen`].
    pub listen: SocketAddr,
    /// The port written into `msrps` Use-Path URIs; `None` takes the bound port.
    pub port: Option<u16>,
    /// PEM file with the relay's certificate chain, leaf first. Its leaf should name
    /// [`RelayConfig::host`] in a dnsName SubjectAltName (RFC 4976 §9.2, 4976-042). Presented by
    /// the listener, and by outbound `msrps` connections as their client certificate
    /// ([`TlsConfig::present_client_cert`]).
    pub cert_chain_pem: PathBuf,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: PathBuf,
    /// PEM file with the root certificates that `msrps` next hops must chain to (their name is
    /// checked against the URI host, which is also sent as SNI). `None`: no roots are trusted,
    /// so a request for an `msrps` next hop fails as an unreachable one (408, [`Router::fail`]).
    ///
    /// [`Router::fail`]: crate::forward::Router::fail
    pub roots_pem: Option<PathBuf>,
    /// PEM file with the CA certificates that client certificates presented to the listener
    /// must chain to (RFC 4976 §9.2, 4976-042: mutual TLS between relays). Used as
    /// [`TlsConfig::client_auth`] says; `None`: no client certificate is asked (and
    /// [`ClientAuth::Required`] is a configuration error, [`crate::tls::TlsError::NoClientRoots`]).
    pub client_roots_pem: Option<PathBuf>,
    /// Whether peers of the listener must present a certificate. [`ClientAuth::Optional`] by
    /// default, which without [`TlsConfig::client_roots_pem`] asks for none.
    pub client_auth: ClientAuth,
    /// Outbound `msrps` connections present [`TlsConfig::cert_chain_pem`] with
    /// [`TlsConfig::key_pem`] as their client certificate, so that the next hop, a relay, can
    /// authenticate this one (RFC 4976 §9.2, 4976-042: relay-to-relay hops use mutual TLS).
    /// `true`; `false` presents an empty certificate list, as a client does.
    pub present_client_cert: bool,
    /// How long a TLS handshake may take, incoming or outbound: a client that stays silent
    /// after connecting is closed then, and gives its slot back. 10 s.
    pub handshake_timeout: Duration,
}

impl TlsConfig {
    /// TLS on `127.0.0.1:0` with the given certificate chain and key, no roots, no client roots
    /// (so no client certificate is asked, [`ClientAuth::Optional`]), the certificate presented
    /// to `msrps` next hops, and a 10 s handshake timeout.
    pub fn new(cert_chain_pem: impl Into<PathBuf>, key_pem: impl Into<PathBuf>) -> TlsConfig {
        TlsConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            port: None,
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
            roots_pem: None,
            client_roots_pem: None,
            client_auth: ClientAuth::Optional,
            present_client_cert: true,
            handshake_timeout: Duration::from_secs(10),
        }
    }

    /// Trusts the root certificates in `roots_pem` for `msrps` next hops (builder style,
    /// [`TlsConfig::roots_pem`]).
    pub fn with_roots(mut self, roots_pem: impl Into<PathBuf>) -> Self {
        self.roots_pem = Some(roots_pem.into());
        self
    }

    /// Verifies client certificates against the CA certificates in `client_roots_pem`, asking
    /// for them as `mode` says (builder style, [`TlsConfig::client_roots_pem`],
    /// [`TlsConfig::client_auth`]; RFC 4976 §9.2, 4976-042).
    pub fn with_client_auth(
        mut self,
        client_roots_pem: impl Into<PathBuf>,
        mode: ClientAuth,
    ) -> Self {
        self.client_roots_pem = Some(client_roots_pem.into());
        self.client_auth = mode;
        self
    }

    /// Sets whether outbound `msrps` connections present the relay's certificate (builder
    /// style, [`TlsConfig::present_client_cert`]).
    pub fn with_client_cert(mut self, present: bool) -> Self {
        self.present_client_cert = present;
        self
    }
}

/// What the TLS listener asks of its peers' certificates ([`TlsConfig::client_auth`]; RFC 4976
/// §9.2, 4976-042). Written `none`, `optional` and `required` ([`FromStr`](std::str::FromStr),
/// [`Display`](fmt::Display)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No certificate is asked; peers are not authenticated by TLS.
    None,
    /// Every peer is asked for a certificate. One without (an ordinary MSRP client, which
    /// SHOULD present an empty certificate list) is accepted; a presented certificate must
    /// chain to [`TlsConfig::client_roots_pem`], else the handshake fails. Without client roots
    /// no certificate is asked, as with [`ClientAuth::None`]. The default.
    #[default]
    Optional,
    /// Every peer must present a certificate chaining to [`TlsConfig::client_roots_pem`]: for
    /// listeners that only other relays use. Needs client roots.
    Required,
}

impl ClientAuth {
    /// The name of the mode: `none`, `optional` or `required`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        }
    }
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    /// `none`, `optional` or `required` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<ClientAuth, String> {
        [ClientAuth::None, ClientAuth::Optional, ClientAuth::Required]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("{s:?}: expected none, optional or required"))
    }
}
