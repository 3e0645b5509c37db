//! What an operator sets for the mixer and for each room: the room policy RFC 7701 leaves to the
//! focus (nicknames, private messages, size limits) and the limits that keep one participant from
//! costing the others.

use std::time::Duration;

/// A room's policy (RFC 7701 §5.2, §6, §7): what its `a=chatroom` advertises, what its switch
/// accepts, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomPolicy {
    /// Participants may take nicknames (NICKNAME, RFC 7701 §7; advertised as the `nickname`
    /// chat-token, 7701-026). When off, NICKNAME is answered 403 (7701-028).
    pub nicknames: bool,
    /// Participants may send private messages (RFC 7701 §6.2; advertised as the
    /// `private-messages` chat-token). When off, a private message is answered 403.
    pub private_messages: bool,
    /// Most participants (user URIs) in the room at once; one more is refused (a SIP 486 or an
    /// HTTP 409 in the layers above). Sessions of a participant already in the room do not
    /// count.
    pub max_participants: usize,
    /// How many of the room's last public messages a new participant is sent when its session
    /// binds; 0 turns history off.
    pub history: usize,
    /// The largest message (total octets of the CPIM body) the room takes; a larger one is
    /// answered 413 (RFC 4975 §7.3.1, 4975-018) and advertised as `a=max-size` (4975-108).
    pub max_message_size: u64,
}

impl Default for RoomPolicy {
    /// Nicknames and private messages on, 100 participants, 20 messages of history, 1 MiB
    /// messages.
    fn default() -> Self {
        RoomPolicy {
            nicknames: true,
            private_messages: true,
            max_participants: 100,
            history: 20,
            max_message_size: 1024 * 1024,
        }
    }
}

/// Limits of the switch itself, shared by every room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchLimits {
    /// Longest CPIM header block (message headers and the encapsulated MIME headers) the switch
    /// waits for before it starts distributing a message (7701-017); a longer one is answered
    /// 413 and the message is dropped. 16 KiB.
    pub max_cpim_head: usize,
    /// How long the switch waits for the next chunk of a message it is forwarding (the
    /// chunk-reception timer of 7701-019, RFC 4975 §7.3.1): on expiry the message is aborted
    /// and its recipients get a `#` chunk. 540 s, the RFC's example.
    pub chunk_timeout: Duration,
}

impl Default for SwitchLimits {
    fn default() -> Self {
        SwitchLimits {
            max_cpim_head: 16 * 1024,
            chunk_timeout: Duration::from_secs(540),
        }
    }
}

/// The mixer's service settings: where it listens, how it names its sessions, its rooms, and
/// the limits of its connections.
#[derive(Debug, Clone)]
pub struct MixerConfig {
    /// The address the MSRP (TCP) listener binds (port 0: any free port).
    pub listen: std::net::SocketAddr,
    /// The host written into the session URIs the mixer issues (its `a=path`, RFC 4975 §8.2):
    /// a name or address participants can reach.
    pub host: String,
    /// The port written into session URIs; `None` takes the port the listener is bound to.
    pub port: Option<u16>,
    /// The port of a TLS listener that serves the mixer too (the daemon's `msrps` listener):
    /// offers of `TCP/TLS/MSRP` get an `msrps://host:<tls_port>/...` session URI (RFC 4975 §14).
    /// `None`: the mixer has no TLS listener, and refuses such offers (488).
    pub tls_port: Option<u16>,
    /// The domain of room URIs: room `lobby` is `sip:lobby@<domain>`.
    pub domain: String,
    /// Rooms that exist from the start, by name, with their policies.
    pub rooms: Vec<(String, RoomPolicy)>,
    /// The policy of a room created by its first join; `None`: joining an unknown room fails.
    pub auto_create: Option<RoomPolicy>,
    /// Nicknames nobody may take in any room (425, 7701-028).
    pub reserved_nicknames: Vec<String>,
    /// The switch's limits.
    pub limits: SwitchLimits,
    /// Bytes each connection's data lane (copies of messages) may hold queued: a copy that does
    /// not fit is not sent (the participant is too slow; its sender gets a failure REPORT when
    /// it asked for one). 1 MiB.
    pub queue_bytes: usize,
    /// Bytes each connection's control lane (responses, REPORTs) may hold queued. 128 KiB.
    pub control_bytes: usize,
    /// Copies in a row that a session may fail to take (its queue full) before it is dropped
    /// from the room. 16.
    pub max_failed_copies: u32,
    /// Longest MSRP header block accepted ([`msrp::DecoderConfig::max_head`]). 16 KiB.
    pub max_head: usize,
    /// Most incoming connections at once; one more is closed at once. 10 000.
    pub max_connections: usize,
    /// A connection on which nothing passes either way for this long is closed. 1 hour.
    pub idle_timeout: Duration,
    /// How long a joined session may take to bind (its participant's first SEND, or the
    /// mixer's own connection when it is active, RFC 6135) before it is removed. 30 s.
    pub bind_timeout: Duration,
    /// How long opening a connection to a participant (active role) may take. 10 s.
    pub connect_timeout: Duration,
}

impl MixerConfig {
    /// A mixer on `127.0.0.1:0` naming its sessions with `host`, rooms in `domain`, no static
    /// rooms, rooms created on first join with the default [`RoomPolicy`], and the defaults
    /// above.
    pub fn new(host: impl Into<String>, domain: impl Into<String>) -> MixerConfig {
        MixerConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            host: host.into(),
            port: None,
            tls_port: None,
            domain: domain.into(),
            rooms: Vec::new(),
            auto_create: Some(RoomPolicy::default()),
            reserved_nicknames: Vec::new(),
            limits: SwitchLimits::default(),
            queue_bytes: 1024 * 1024,
            control_bytes: 128 * 1024,
            max_failed_copies: 16,
            max_head: 16 * 1024,
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(3600),
            bind_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}
