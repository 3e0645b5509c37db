//! The Use-Path URIs this relay has issued (RFC 4976 §4.2, §6.3, §6.4).
//!
//! A successful AUTH is answered with a `Use-Path:` URI and an `Expires:` lifetime (4976-015).
//! [`UsePaths`] is the relay's table of those URIs:
//!
//! - [`UsePaths::issue`] mints a URI `msrp[s]://host:port/<session-id>;tcp` whose host is the
//!   relay's configured domain name and whose port is explicit (§4.2, 4976-016), with a session-id of
//!   [`msrp::ident::GENERATED_LEN`] characters drawn uniformly from 62 by the OS CSPRNG, about 95
//!   bits (§6.3: at least 64, 4976-018). The URI is bound to the connection the AUTH arrived on and
//!   to the authenticated user, and lives until `now + expires`.
//! - [`UsePaths::lookup`] and [`UsePaths::route`] find a URI by its session-id (one hash look-up),
//!   then compare the whole URI by the rules of RFC 4975 §6.1, so a URI written with another host
//!   case, a userinfo or extra parameters still matches, and one naming another host, port, scheme
//!   or transport does not. Expired URIs are never found (4976-019, 4976-038).
//! - [`UsePaths::route`] applies the forwarding check of §6.4 (4976-024, 4976-025, 4976-043): the
//!   first To-Path URI must be one this relay issued and still valid, and the request must either
//!   come from the connection of the client that obtained it or go to that client. It says which,
//!   so the caller knows where the request goes.
//! - [`UsePaths::close`] invalidates every URI bound to a connection that closed (§6.3, 4976-019);
//!   [`UsePaths::expire`] drops those whose lifetime has passed, and [`UsePaths::next_expiry`] tells
//!   the caller when to call it.
//!
//! The table is bounded ([`Limits`]): in total and per connection, so one client cannot fill it.
//! Like the rest of the crate it does no I/O and reads no clock: time comes in as `now`.
//!
//! A URI is valid while `now < expires_at`; at `expires_at` it has expired.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use bytestring::ByteString;
use msrp::{Host, IdGenerator, MsrpUri, UriError};
use rustc_hash::FxBuildHasher;

use crate::ConnId;

/// The relay's own address, as written into the Use-Path URIs it issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayAddr {
    /// `true` for `msrps` URIs (the client reaches the relay over TLS, RFC 4975 §6, 4975-079).
    pub secure: bool,
    /// The relay's fully qualified domain name: RFC 4976 §4.2 forbids an IP literal (4976-016).
    pub host: String,
    /// The port the relay listens on; Use-Path URIs always carry it explicitly (4976-016).
    pub port: u16,
}

/// Bounds on the table (configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most URIs held at once; [`UsePaths::issue`] fails with [`IssueError::Full`] beyond it.
    pub max_grants: usize,
    /// Most URIs bound to one connection; [`UsePaths::issue`] fails with
    /// [`IssueError::ConnFull`] beyond it, so that one client cannot exhaust the table.
    pub max_grants_per_conn: usize,
}

impl Default for Limits {
    /// 65 536 URIs in all, 1 024 per connection.
    fn default() -> Self {
        Limits {
            max_grants: 65_536,
            max_grants_per_conn: 1_024,
        }
    }
}

/// Why a [`RelayAddr`] cannot be used to build Use-Path URIs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// The host is an IPv4 or IPv6 literal; Use-Path URIs carry a domain name (RFC 4976 §4.2,
    /// 4976-016).
    #[error("a Use-Path URI needs a domain name, not an IP address (RFC 4976 §4.2)")]
    IpLiteral,
    /// Port 0 cannot be connected to; give the port the listener is bound to.
    #[error("port 0 in a Use-Path URI")]
    Port,
    /// The host does not make a valid MSRP URI (bad characters, or it holds a userinfo, port,
    /// path or parameter of its own).
    #[error("bad relay host: {0}")]
    Host(UriError),
}

/// Why [`UsePaths::issue`] issued nothing. The caller refuses the AUTH (e.g. 503) or closes the
/// connection (RFC 4976 §6.5: a relay out of resources sheds connections).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// The table holds [`Limits::max_grants`] URIs.
    #[error("Use-Path table full")]
    Full,
    /// The connection already holds [`Limits::max_grants_per_conn`] URIs.
    #[error("too many Use-Path URIs on this connection")]
    ConnFull,
    /// `now + expires` is not representable.
    #[error("Use-Path lifetime out of range")]
    Lifetime,
}

/// Why [`UsePaths::route`] refuses a request. In every case the relay does not forward it
/// (RFC 4976 §6.4, 4976-025, 4976-038); it MAY send a failure REPORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The URI names another host or port: the request is not addressed to this relay (RFC 4976
    /// §6.2 drops the connection it came on; §6.4.1 discards it, 4976-024).
    #[error("first To-Path URI is not this relay")]
    Foreign,
    /// The URI names this relay but no URI it issued: never issued, another scheme or transport,
    /// invalidated by the close of its connection, or expired and already dropped (4976-038).
    #[error("unknown Use-Path URI")]
    Unknown,
    /// The URI was issued here but its lifetime has passed (not yet dropped by
    /// [`UsePaths::expire`]) (RFC 4976 §6.3, 4976-019, 4976-038).
    #[error("expired Use-Path URI")]
    Expired,
}

/// One issued Use-Path URI and what it is bound to (RFC 4976 §6.3).
#[derive(Clone, PartialEq, Eq)]
pub struct Grant {
    /// The URI, as sent in the Use-Path header.
    pub uri: MsrpUri,
    /// The connection the AUTH arrived on: the only one the client may use it from (4976-019).
    pub conn: ConnId,
    /// The user the AUTH authenticated.
    pub user: ByteString,
    /// The end of its lifetime: valid while `now < expires_at`.
    pub expires_at: Instant,
}

impl Grant {
    /// `true` while the lifetime has not passed (`now < expires_at`).
    pub fn is_valid(&self, now: Instant) -> bool {
        now < self.expires_at
    }

    /// The lifetime left at `now` (zero once expired); rounded down to whole seconds it is the
    /// `Expires:` of the AUTH response (RFC 4976 §6.3, 4976-015).
    pub fn expires_in(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }
}

impl fmt::Debug for Grant {
    /// The session-id is a secret that lets anyone send to the client (RFC 4976 §3.1): only its
    /// first four characters are shown, so that debug logs do not leak it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sid = self.uri.session_id().unwrap_or_default();
        let shown = sid.get(..4).unwrap_or(sid);
        f.debug_struct("Grant")
            .field("uri", &format_args!("{}…", redact(&self.uri, shown)))
            .field("conn", &self.conn)
            .field("user", &self.user)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The URI text up to the first `shown` characters of its session-id.
fn redact<'a>(uri: &'a MsrpUri, shown: &str) -> &'a str {
    let s = uri.as_str();
    match uri.session_id() {
        Some(sid) => {
            let at = sid.as_ptr() as usize - s.as_ptr() as usize;
            &s[..at + shown.len()]
        }
        None => s,
    }
}

/// Which way a request routed by a Use-Path URI goes (RFC 4976 §6.4, 4976-025).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// It came on the connection of the client that obtained the URI: the client sends through
    /// the relay, and the request goes on to the next To-Path URI.
    FromClient,
    /// It came from elsewhere and goes to the client that obtained the URI: deliver it on
    /// `conn`, the connection the AUTH arrived on, and nowhere else (the next To-Path URI is not
    /// resolved), so the URI cannot make the relay an open relay (§3.1, 4976-043).
    ToClient {
        /// The client's connection.
        conn: ConnId,
    },
}

/// A request the relay may forward: the URI it was addressed by, and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    /// The issued URI that the first To-Path URI matched.
    pub grant: &'a Grant,
    /// Which way it goes.
    pub direction: Direction,
}

/// The relay's table of issued Use-Path URIs (RFC 4976 §6.3, §6.4). See the [module
/// documentation](self).
pub struct UsePaths {
    local: RelayAddr,
    /// `msrp[s]://host:port;tcp`: the relay's own authority, to tell a foreign URI from an unknown
    /// one (RFC 4975 §6.1 host comparison).
    base: MsrpUri,
    limits: Limits,
    ids: IdGenerator,
    /// By session-id (a zero-copy slice of the grant's URI). Hashed with FxHash, not SipHash:
    /// the session-ids are drawn by this relay (64 random bits and more, 4976-018), so no peer
    /// chooses what is inserted or can make entries collide; a peer's request only looks one
    /// up, on every request forwarded.
    grants: HashMap<ByteString, Grant, FxBuildHasher>,
    /// The session-ids bound to each connection (connection numbers are the relay's own).
    by_conn: HashMap<ConnId, Vec<ByteString>, FxBuildHasher>,
    /// `(expires_at, session-id)` of every grant, earliest first.
    by_expiry: BTreeSet<(Instant, ByteString)>,
    /// URIs on the relay's authority that belong to another service in the same process
    /// ([`UsePaths::set_elsewhere`]).
    elsewhere: Option<Elsewhere>,
    /// Counts the changes to issued grants (dropped, or their lifetime changed): a
    /// [`RouteMemo`] taken before one is not used.
    generation: u64,
}

/// What [`UsePaths::route_memo`] keeps of a route found for one URI: the grant's connection
/// and lifetime, while no grant of the table has been dropped or refreshed since.
#[derive(Debug, Clone, Copy)]
pub struct RouteMemo {
    generation: u64,
    conn: ConnId,
    expires_at: Instant,
}

/// Tells URIs of a co-located service from the relay's own ([`UsePaths::set_elsewhere`]).
pub type Elsewhere = std::sync::Arc<dyn Fn(&MsrpUri) -> bool + Send + Sync>;

impl fmt::Debug for UsePaths {
    /// Shows the configuration and size, not the URIs (they are secrets) nor the random pool.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsePaths")
            .field("local", &self.local)
            .field("limits", &self.limits)
            .field("len", &self.grants.len())
            .field("connections", &self.by_conn.len())
            .finish()
    }
}

/// The session-id of an issued URI.
fn session_key(uri: &MsrpUri) -> ByteString {
    let sid = uri.session_id().expect("issued URIs have a session-id");
    ByteString::from(sid)
}

impl UsePaths {
    /// A table for the relay at `local`, with the default [`Limits`].
    ///
    /// Fails if `local.host` is an IP literal (RFC 4976 §4.2, 4976-016) or not a plain URI host,
    /// or if `local.port` is 0.
    pub fn new(local: RelayAddr) -> Result<UsePaths, AddrError> {
        UsePaths::with_limits(local, Limits::default())
    }

    /// A table for the relay at `local`, with the given [`Limits`]. Fails as [`UsePaths::new`].
    pub fn with_limits(local: RelayAddr, limits: Limits) -> Result<UsePaths, AddrError> {
        if local.port == 0 {
            return Err(AddrError::Port);
        }
        let base = MsrpUri::new(local.secure, &local.host, Some(local.port), None, "tcp")
            .map_err(AddrError::Host)?;
        match base.host() {
            Host::V4(_) | Host::V6(_) => return Err(AddrError::IpLiteral),
            // The whole string must be the host: no userinfo, and nothing after it (a port, path
            // or parameter inside `host` would make the parse see more parts, or fail).
            Host::Name(n) if n == local.host && base.userinfo().is_none() => {}
            Host::Name(_) => return Err(AddrError::Host(UriError::Host)),
        }
        if base.port() != Some(local.port) || base.session_id().is_some() || base.params().is_some()
        {
            return Err(AddrError::Host(UriError::Host));
        }
        Ok(UsePaths {
            local,
            base,
            limits,
            ids: IdGenerator::new(),
            grants: HashMap::default(),
            by_conn: HashMap::default(),
            by_expiry: BTreeSet::new(),
            elsewhere: None,
            generation: 0,
        })
    }

    /// The relay address the URIs are issued for.
    pub fn local(&self) -> &RelayAddr {
        &self.local
    }

    /// The table's bounds.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Issues a fresh Use-Path URI `msrp[s]://host:port/<session-id>;tcp` for `user`, bound to
    /// `conn` (the connection the AUTH arrived on) and valid until `now + expires` (RFC 4976
    /// §6.3: 4976-015, 4976-016, 4976-018, 4976-019).
    ///
    /// The session-id is [`msrp::ident::GENERATED_LEN`] alphanumerics from the OS CSPRNG
    /// (≈ 95 bits, at least the 64 bits §6.3 requires) and differs from every URI in the table.
    /// `expires` is taken as given: bounding it (423 with Min-Expires / Max-Expires, 4976-017)
    /// is the AUTH handler's job.
    pub fn issue(
        &mut self,
        conn: ConnId,
        user: &str,
        expires: Duration,
        now: Instant,
    ) -> Result<MsrpUri, IssueError> {
        if self.grants.len() >= self.limits.max_grants {
            return Err(IssueError::Full);
        }
        if self.by_conn.get(&conn).map_or(0, Vec::len) >= self.limits.max_grants_per_conn {
            return Err(IssueError::ConnFull);
        }
        let expires_at = now.checked_add(expires).ok_or(IssueError::Lifetime)?;
        let grants = &self.grants;
        let sid = self.ids.next_unique(|id| grants.contains_key(id));
        let uri = MsrpUri::new(
            self.local.secure,
            &self.local.host,
            Some(self.local.port),
            Some(&sid),
            "tcp",
        )
        .expect("the host was checked in new() and the session-id is alphanumeric");
        let key = session_key(&uri);
        self.by_conn.entry(conn).or_default().push(key.clone());
        self.by_expiry.insert((expires_at, key.clone()));
        self.grants.insert(
            key,
            Grant {
                uri: uri.clone(),
                conn,
                user: ByteString::from(user),
                expires_at,
            },
        );
        Ok(uri)
    }

    /// Renews `uri` for `expires` from `now`, when a new AUTH on the same connection asks to
    /// (RFC 4976 §6.3): `true` if done. The new lifetime replaces the old one (it may be shorter,
    /// if that is what the client asked for).
    ///
    /// Nothing changes, and the answer is `false`, unless `uri` is a URI in the table, still
    /// valid at `now`, and bound to `conn`: a URI cannot be kept alive from another connection
    /// nor revived once expired (4976-019).
    pub fn refresh(
        &mut self,
        uri: &MsrpUri,
        conn: ConnId,
        expires: Duration,
        now: Instant,
    ) -> bool {
        let Some(key) = self.matching(uri).map(|g| session_key(&g.uri)) else {
            return false;
        };
        let Some(new_at) = now.checked_add(expires) else {
            return false;
        };
        let Some(g) = self.grants.get_mut(&key) else {
            return false;
        };
        if g.conn != conn || !g.is_valid(now) {
            return false;
        }
        self.by_expiry.remove(&(g.expires_at, key.clone()));
        self.by_expiry.insert((new_at, key));
        g.expires_at = new_at;
        self.generation += 1;
        true
    }

    /// The URI already granted to `user` on `conn` and still valid at `now`, if any: a re-AUTH on
    /// the same connection refreshes it with [`UsePaths::refresh`] instead of minting another
    /// (RFC 4976 §5.1, §6.3).
    pub fn held_by(&self, conn: ConnId, user: &str, now: Instant) -> Option<&MsrpUri> {
        self.by_conn
            .get(&conn)?
            .iter()
            .filter_map(|k| self.grants.get(k))
            .find(|g| g.user == user && g.is_valid(now))
            .map(|g| &g.uri)
    }

    /// The grant whose URI equals `uri` (RFC 4975 §6.1) and is still valid at `now` (4976-038).
    ///
    /// Found by session-id in one hash look-up, then compared in full: scheme, host (case and
    /// percent-escapes aside), port, session-id and transport must all be those of the issued
    /// URI; userinfo and URI parameters do not matter.
    pub fn lookup(&self, uri: &MsrpUri, now: Instant) -> Option<&Grant> {
        self.matching(uri).filter(|g| g.is_valid(now))
    }

    /// The grant whose URI equals `uri`, expired or not.
    fn matching(&self, uri: &MsrpUri) -> Option<&Grant> {
        let g = self.grants.get(uri.session_id()?)?;
        (g.uri == *uri).then_some(g)
    }

    /// `true` if `uri` names this relay: its host equals the relay's (RFC 4975 §6.1) and its
    /// port is the relay's or absent, whatever its scheme, session-id and transport. The first
    /// To-Path URI of a request the relay receives must (4976-024).
    pub fn is_local(&self, uri: &MsrpUri) -> bool {
        if uri.port().is_some_and(|p| p != self.local.port) {
            return false;
        }
        // Rebuild the URI on the relay's scheme, port and transport, so that comparing it with
        // `base` compares the hosts alone, by the §6.1 rules of `MsrpUri`'s equality.
        matches!(uri.host(), Host::Name(_))
            && MsrpUri::new(
                self.local.secure,
                &uri.host().to_string(),
                Some(self.local.port),
                None,
                "tcp",
            )
            .is_ok_and(|u| u == self.base)
    }

    /// Says which URIs on the relay's own host and port belong to another service in the same
    /// process (a daemon that serves the relay and chat rooms on one port): [`UsePaths::route`]
    /// calls such a URI [`RouteError::Foreign`], a next hop to connect to, instead of an unknown
    /// Use-Path URI of this relay.
    pub fn set_elsewhere(&mut self, elsewhere: Elsewhere) {
        self.elsewhere = Some(elsewhere);
    }

    /// Checks a request before it is forwarded (RFC 4976 §6.4: 4976-024, 4976-025, 4976-038,
    /// 4976-043), given its first To-Path URI and the connection it arrived on.
    ///
    /// The URI must be one this relay issued and still valid. Then the request either comes from
    /// the client that obtained it (it arrived on the grant's connection:
    /// [`Direction::FromClient`], forward to the next To-Path URI) or goes to that client (it
    /// arrived elsewhere: [`Direction::ToClient`], deliver on the grant's connection only).
    /// Either way one end is the authenticated client, so the relay is never an open relay. A
    /// request that arrives on a connection other than the grant's can only reach the client:
    /// it cannot use the URI to send onward as the client.
    pub fn route(
        &self,
        first_to_path: &MsrpUri,
        from_conn: ConnId,
        now: Instant,
    ) -> Result<Route<'_>, RouteError> {
        match self.matching(first_to_path) {
            Some(grant) if grant.is_valid(now) => Ok(Route {
                grant,
                direction: if grant.conn == from_conn {
                    Direction::FromClient
                } else {
                    Direction::ToClient { conn: grant.conn }
                },
            }),
            Some(_) => Err(RouteError::Expired),
            None if self.is_local(first_to_path)
                && !self.elsewhere.as_ref().is_some_and(|e| e(first_to_path)) =>
            {
                Err(RouteError::Unknown)
            }
            None => Err(RouteError::Foreign),
        }
    }

    /// [`UsePaths::route`] for requests whose first To-Path URI is always `uri` (a session's
    /// chunks), with what `memo` keeps of the last route found for it: while no grant has been
    /// dropped or refreshed since and its lifetime has not passed at `now`, the grant is the
    /// same and the route is found without a look-up. The direction, as `route` gives it; an
    /// error clears `memo`. The caller keeps one `memo` per URI and table.
    pub fn route_memo(
        &self,
        uri: &MsrpUri,
        from_conn: ConnId,
        now: Instant,
        memo: &mut Option<RouteMemo>,
    ) -> Result<Direction, RouteError> {
        let (conn, expires_at) = match *memo {
            Some(m) if m.generation == self.generation && now < m.expires_at => {
                (m.conn, m.expires_at)
            }
            _ => {
                *memo = None;
                let grant = self.route(uri, from_conn, now)?.grant;
                (grant.conn, grant.expires_at)
            }
        };
        *memo = Some(RouteMemo {
            generation: self.generation,
            conn,
            expires_at,
        });
        Ok(if conn == from_conn {
            Direction::FromClient
        } else {
            Direction::ToClient { conn }
        })
    }

    /// Invalidates every URI bound to `conn`, which has closed (RFC 4976 §6.3, 4976-019): a client
    /// that reconnects must AUTH again. Returns the URIs dropped (expired ones included), in no
    /// particular order.
    pub fn close(&mut self, conn: ConnId) -> Vec<MsrpUri> {
        let Some(keys) = self.by_conn.remove(&conn) else {
            return Vec::new();
        };
        self.generation += 1;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(g) = self.grants.remove(&key) {
                self.by_expiry.remove(&(g.expires_at, key));
                out.push(g.uri);
            }
        }
        out
    }

    /// Drops every URI whose lifetime has passed at `now` (`expires_at <= now`; RFC 4976 §6.3,
    /// 4976-019) and returns how many. Call it at [`UsePaths::next_expiry`]; lookups already
    /// ignore expired URIs, this frees their memory.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut n = 0;
        while self.by_expiry.first().is_some_and(|(at, _)| *at <= now) {
            let Some((_, key)) = self.by_expiry.pop_first() else {
                break;
            };
            if let Some(g) = self.grants.remove(&key) {
                if let Some(keys) = self.by_conn.get_mut(&g.conn) {
                    if let Some(i) = keys.iter().position(|k| *k == key) {
                        keys.swap_remove(i);
                    }
                    if keys.is_empty() {
                        self.by_conn.remove(&g.conn);
                    }
                }
                n += 1;
            }
        }
        if n > 0 {
            self.generation += 1;
        }
        n
    }

    /// When the earliest URI expires: the caller's timer for [`UsePaths::expire`].
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.first().map(|(at, _)| *at)
    }

    /// How many URIs the table holds (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// `true` if the table holds no URI.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// How many URIs are bound to `conn`.
    pub fn conn_len(&self, conn: ConnId) -> usize {
        self.by_conn.get(&conn).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(limits: Limits) -> UsePaths {
        UsePaths::with_limits(
            RelayAddr {
                secure: true,
                host: "relay.example.net".into(),
                port: 2855,
            },
            limits,
        )
        .unwrap()
    }

    /// 4976-019/025/038: a route found from a [`RouteMemo`] is the one [`UsePaths::route`]
    /// finds, while the grant lives, after it is refreshed shorter, once it expired (by time,
    /// and dropped), after its connection closed, and from either end.
    #[test]
    fn memo_routes_as_route_does() {
        let mut t = table(Limits::default());
        let now = Instant::now();
        let (a, b) = (ConnId(1), ConnId(2));
        // Alice's grant, on `a`: closing `a` drops a grant that is not the memo's.
        let _ua = t.issue(a, "alice", Duration::from_secs(60), now).unwrap();
        let ub = t.issue(b, "bob", Duration::from_secs(60), now).unwrap();
        let same = |t: &UsePaths, uri: &MsrpUri, memo: &mut Option<RouteMemo>, from, at| {
            let want = t.route(uri, from, at).map(|r| r.direction);
            let got = t.route_memo(uri, from, at, memo);
            assert_eq!(got, want, "{uri} from {from:?}");
            got.is_ok()
        };
        let mut memo = None;
        assert!(same(&t, &ub, &mut memo, a, now));
        assert!(memo.is_some());
        assert!(same(&t, &ub, &mut memo, a, now + Duration::from_secs(30)));
        assert!(same(&t, &ub, &mut memo, b, now));
        // Refreshed shorter: the memo is not trusted past the new lifetime.
        assert!(t.refresh(&ub, b, Duration::from_secs(10), now));
        assert!(same(&t, &ub, &mut memo, a, now + Duration::from_secs(5)));
        assert!(!same(&t, &ub, &mut memo, a, now + Duration::from_secs(20)));
        assert!(memo.is_none());
        // Expired and dropped.
        assert!(t.refresh(&ub, b, Duration::from_secs(60), now));
        assert!(same(&t, &ub, &mut memo, a, now));
        assert_eq!(t.expire(now + Duration::from_secs(61)), 2);
        assert!(!same(&t, &ub, &mut memo, a, now));
        // Closed.
        let ub2 = t.issue(b, "bob", Duration::from_secs(60), now).unwrap();
        let mut memo = None;
        assert!(same(&t, &ub2, &mut memo, a, now));
        t.close(b);
        assert!(!same(&t, &ub2, &mut memo, a, now));
        assert!(memo.is_none());
        // Another grant's close leaves the memo right.
        let _ua = t.issue(a, "alice", Duration::from_secs(60), now).unwrap();
        let ub3 = t.issue(b, "bob", Duration::from_secs(60), now).unwrap();
        let mut memo = None;
        assert!(same(&t, &ub3, &mut memo, a, now));
        t.close(a);
        assert!(same(&t, &ub3, &mut memo, b, now));
    }

    /// The three indexes describe the same set of grants.
    fn check_invariants(t: &UsePaths) {
        assert_eq!(t.by_expiry.len(), t.grants.len());
        let by_conn: usize = t.by_conn.values().map(Vec::len).sum();
        assert_eq!(by_conn, t.grants.len());
        assert!(t.by_conn.values().all(|v| !v.is_empty()));
        for (key, g) in &t.grants {
            assert_eq!(&session_key(&g.uri), key);
            assert!(t.by_expiry.contains(&(g.expires_at, key.clone())));
            assert!(t.by_conn[&g.conn].contains(key));
        }
    }

    #[test]
    fn indexes_stay_consistent() {
        // A fixed pseudo-random walk over issue / refresh / close / expire (xorshift, so the
        // test is reproducible); the indexes must agree after every step.
        let mut t = table(Limits {
            max_grants: 64,
            max_grants_per_conn: 16,
        });
        let t0 = Instant::now();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut issued: Vec<MsrpUri> = Vec::new();
        for step in 0..5_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let now = t0 + Duration::from_secs(step);
            let conn = ConnId(x % 8);
            match (x >> 8) % 10 {
                0..=4 => {
                    if let Ok(u) = t.issue(conn, "u", Duration::from_secs(x % 60), now) {
                        issued.push(u);
                    }
                }
                5 | 6 if !issued.is_empty() => {
                    let u = &issued[(x >> 16) as usize % issued.len()];
                    t.refresh(u, conn, Duration::from_secs((x >> 24) % 60), now);
                }
                7 => {
                    let before = t.len();
                    let n = t.close(conn).len();
                    assert_eq!(t.len(), before - n);
                    assert_eq!(t.conn_len(conn), 0);
                }
                _ => {
                    t.expire(now);
                    assert!(t.next_expiry().is_none_or(|at| at > now));
                }
            }
            assert!(t.len() <= 64);
            check_invariants(&t);
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let mut t = table(Limits::default());
        let now = Instant::now();
        let u = t
            .issue(ConnId(1), "alice", Duration::from_secs(60), now)
            .unwrap();
        let sid = u.session_id().unwrap();
        let g = format!("{:?}", t.lookup(&u, now).unwrap());
        assert!(!g.contains(sid), "{g}");
        assert!(g.contains(&sid[..4]), "{g}");
        assert!(g.contains("msrps://relay.example.net:2855/"), "{g}");
        let tab = format!("{t:?}");
        assert!(!tab.contains(sid) && tab.contains("len: 1"), "{tab}");
    }
}
