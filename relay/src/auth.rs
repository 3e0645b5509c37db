//! Answering AUTH requests (RFC 4976 §5.1, §6.3, §9.1, §10.3): Digest challenges and their
//! nonces, users and their secrets, the Expires bounds, and the failure count that closes a
//! connection.
//!
//! [`Authenticator::handle`] turns one AUTH into an [`AuthDecision`]; [`response_head`] turns the
//! decision into the MSRP response. The caller (the connection task) owns the Use-Path URIs
//! ([`crate::use_path`]) and the transport; this module reads no clock (`now` comes in) and does
//! no I/O.
//!
//! The checks, in the order RFC 4976 §6.3 gives them:
//!
//! | AUTH | answer |
//! |---|---|
//! | no Authorization | 401 + fresh challenge (4976-004) |
//! | not Digest (Basic, 4976-006), malformed, MD5-sess or auth-int (4976-007), other realm, `uri` not the rightmost To-Path URI (4976-010), unknown user, wrong response | 401, not stale; counts as a failure (4976-021) |
//! | right response, but the nonce expired, is unknown, or its `nc` did not increase | 401 with `stale=TRUE` (4976-013); not a failure |
//! | right credentials, user not allowed here | 403 (4976-014) |
//! | Expires below / above the bounds | 423 + Min-Expires / Max-Expires (4976-017) |
//! | otherwise | 200 + Use-Path + Expires + Authentication-Info (4976-011, 4976-015) |

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytestring::ByteString;
use msrp::{AuthParams, Head, Header, MsrpUri, Path, StatusCode};

use crate::ConnId;
use crate::digest::{self, Challenge, Credentials, DigestError};

/// A user's secret (RFC 2617 §3.2.2.2).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// The password in clear.
    Password(String),
    /// `H(A1) = MD5(username ":" realm ":" password)` as 32 hex digits
    /// ([`digest::ha1_hex`]), computed with the relay's realm: the password itself is then not
    /// stored.
    Ha1(String),
}

impl std::fmt::Debug for Secret {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Password(..)"),
            Secret::Ha1(_) => f.write_str("Ha1(..)"),
        }
    }
}

/// How the relay authenticates AUTH requests.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The Digest realm; RFC 4976 §5.1 suggests the relay's host name.
    pub realm: String,
    /// The users allowed to authenticate, by Digest `username` (compared exactly).
    pub users: HashMap<String, Secret>,
    /// Users whose credentials are accepted but who may not use this relay: answered 403
    /// (RFC 4976 §6.3, 4976-014).
    pub denied: HashSet<String>,
    /// How long a nonce may be used (for any number of AUTHs with increasing `nc`); after that
    /// right credentials get `stale=TRUE` (4976-013).
    pub nonce_lifetime: Duration,
    /// The lifetime granted when the AUTH has no Expires (seconds, RFC 4976 §4.6).
    pub default_expires: u32,
    /// The shortest Expires accepted; a shorter one is answered 423 + Min-Expires (4976-017).
    pub min_expires: u32,
    /// The longest Expires accepted; a longer one is answered 423 + Max-Expires (4976-017).
    pub max_expires: u32,
    /// Failed AUTHs in a row (401 without `stale=TRUE` to an AUTH carrying Authorization) after
    /// which the connection is to be closed (RFC 4976 §6.3, 4976-021); 0 never closes.
    pub max_failures: u32,
    /// The most nonces kept at once; when full, the oldest is forgotten (its client gets
    /// `stale=TRUE` and retries). Bounds the memory unauthenticated clients can make the relay use.
    pub max_nonces: usize,
}

impl AuthConfig {
    /// A configuration for `realm` with no users and these defaults: nonces live 5 minutes,
    /// Expires 1800 s by default (the RFC 4976 §5.1 example), 60 s to 86400 s accepted, close
    /// after 3 failures, at most 100 000 nonces.
    pub fn new(realm: impl Into<String>) -> AuthConfig {
        AuthConfig {
            realm: realm.into(),
            users: HashMap::new(),
            denied: HashSet::new(),
            nonce_lifetime: Duration::from_secs(300),
            default_expires: 1800,
            min_expires: 60,
            max_expires: 86400,
            max_failures: 3,
            max_nonces: 100_000,
        }
    }
}

/// Why an [`AuthConfig`] was refused by [`Authenticator::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The realm is empty.
    #[error("the Digest realm is empty")]
    EmptyRealm,
    /// An HA1 secret is not 32 hex digits.
    #[error("the HA1 of user {0:?} is not 32 hex digits")]
    BadHa1(String),
    /// `min_expires <= default_expires <= max_expires` does not hold.
    #[error("Expires bounds: need min {min} <= default {default} <= max {max}")]
    ExpiresBounds {
        /// `min_expires`.
        min: u32,
        /// `default_expires`.
        default: u32,
        /// `max_expires`.
        max: u32,
    },
    /// `max_nonces` is 0.
    #[error("max_nonces must be at least 1")]
    NoNonces,
}

/// Why an AUTH got a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeReason {
    /// No Authorization header: the first AUTH of a client (4976-004). Not a failure.
    NoCredentials,
    /// The Authorization could not be used: not Digest (4976-006), a parameter missing or
    /// malformed, MD5-sess or auth-int (4976-007).
    Malformed(DigestError),
    /// The credentials are for another realm.
    WrongRealm,
    /// `uri` is not the rightmost To-Path URI of the AUTH (4976-010).
    UriMismatch,
    /// No such user.
    UnknownUser,
    /// The response digest is wrong (wrong password).
    WrongResponse,
    /// A nonce of ours came back with another `opaque`.
    OpaqueMismatch,
    /// Right credentials, but the nonce expired or is not (or no longer) one of ours: `stale=TRUE`.
    StaleNonce,
    /// Right credentials, but `nc` did not increase since the last use of the nonce (a replay):
    /// refused with a fresh nonce and `stale=TRUE`.
    ReplayedNc,
}

impl ChallengeReason {
    /// Whether this 401 counts towards closing the connection (4976-021): an AUTH carrying
    /// Authorization answered 401 without `stale=TRUE`.
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            ChallengeReason::NoCredentials
                | ChallengeReason::StaleNonce
                | ChallengeReason::ReplayedNc
        )
    }

    /// Whether the challenge carries `stale=TRUE` (4976-013).
    pub fn is_stale(&self) -> bool {
        matches!(
            self,
            ChallengeReason::StaleNonce | ChallengeReason::ReplayedNc
        )
    }
}

/// What to answer an AUTH (RFC 4976 §6.3, §10.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// 401 Unauthorized with this WWW-Authenticate (4976-004, 4976-013).
    Challenge {
        /// The WWW-Authenticate value (a fresh nonce).
        www_authenticate: AuthParams,
        /// Whether it says `stale=TRUE`.
        stale: bool,
        /// Why (for logs and metrics).
        reason: ChallengeReason,
    },
    /// 403 Forbidden: right credentials, but the user may not use this relay (4976-014).
    Forbidden {
        /// The authenticated user.
        user: String,
    },
    /// 423 with Min-Expires: the requested Expires is too short (4976-017).
    ExpiresTooShort {
        /// The shortest acceptable Expires.
        min: u32,
    },
    /// 423 with Max-Expires: the requested Expires is too long (4976-017).
    ExpiresTooLong {
        /// The longest acceptable Expires.
        max: u32,
    },
    /// 200 OK: the caller issues the Use-Path URIs ([`crate::use_path`]) for `expires` seconds,
    /// bound to the AUTH's connection (4976-015, 4976-019), and answers with [`response_head`].
    Accepted {
        /// The authenticated user.
        user: String,
        /// The granted lifetime in seconds (the request's Expires, or the default).
        expires: u32,
        /// The Authentication-Info value: rspauth, cnonce, nc, qop (4976-011).
        authentication_info: AuthParams,
    },
}

impl AuthDecision {
    /// The response status: 401, 403, 423 or 200.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthDecision::Challenge { .. } => StatusCode::UNAUTHORIZED,
            AuthDecision::Forbidden { .. } => StatusCode::FORBIDDEN,
            AuthDecision::ExpiresTooShort { .. } | AuthDecision::ExpiresTooLong { .. } => {
                StatusCode::OUT_OF_BOUNDS
            }
            AuthDecision::Accepted { .. } => StatusCode::OK,
        }
    }
}

/// [`Authenticator::handle`]'s result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    /// What to answer.
    pub decision: AuthDecision,
    /// The connection has now had `max_failures` failed AUTHs in a row: send the answer, then
    /// close it (RFC 4976 §6.3, 4976-021). Meant for directly connected clients; a relay should
    /// not close a connection to another relay for this (§6.3), which is the caller's to know.
    pub close_connection: bool,
}

#[derive(Debug)]
struct User {
    ha1: String,
    denied: bool,
}

#[derive(Debug)]
struct NonceState {
    expires: Instant,
    /// The highest nc accepted with this nonce (0: none yet).
    last_nc: u32,
}

/// Answers AUTH requests: issues nonces, checks Digest credentials, counts failures per
/// connection.
#[derive(Debug)]
pub struct Authenticator {
    realm: ByteString,
    users: HashMap<String, User>,
    nonce_lifetime: Duration,
    default_expires: u32,
    min_expires: u32,
    max_expires: u32,
    max_failures: u32,
    max_nonces: usize,
    /// Fixed per authenticator: 128 random bits.
    opaque: ByteString,
    nonces: HashMap<ByteString, NonceState>,
    /// Nonces in the order they were issued, which is the order they expire in.
    order: VecDeque<(Instant, ByteString)>,
    /// Failed AUTHs in a row, per connection.
    failures: HashMap<ConnId, u32>,
}

/// Stands in for the HA1 of an unknown user, so that the digest is computed (and takes the same
/// time) whether the user exists or not.
const NO_USER_HA1: &str = "00000000000000000000000000000000";

impl Authenticator {
    /// An authenticator for `cfg`. Passwords are hashed once here (HA1 with the configured realm).
    pub fn new(cfg: AuthConfig) -> Result<Authenticator, ConfigError> {
        if cfg.realm.is_empty() {
            return Err(ConfigError::EmptyRealm);
        }
        if !(cfg.min_expires <= cfg.default_expires && cfg.default_expires <= cfg.max_expires) {
            return Err(ConfigError::ExpiresBounds {
                min: cfg.min_expires,
                default: cfg.default_expires,
                max: cfg.max_expires,
            });
        }
        if cfg.max_nonces == 0 {
            return Err(ConfigError::NoNonces);
        }
        let mut users = HashMap::with_capacity(cfg.users.len());
        for (name, secret) in cfg.users {
            let ha1 = match secret {
                Secret::Password(p) => digest::ha1_hex(&name, &cfg.realm, &p),
                Secret::Ha1(h) => {
                    if h.len() != 32 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(ConfigError::BadHa1(name));
                    }
                    h.to_ascii_lowercase()
                }
            };
            let denied = cfg.denied.contains(&name);
            users.insert(name, User { ha1, denied });
        }
        Ok(Authenticator {
            realm: ByteString::from(cfg.realm),
            users,
            nonce_lifetime: cfg.nonce_lifetime,
            default_expires: cfg.default_expires,
            min_expires: cfg.min_expires,
            max_expires: cfg.max_expires,
            max_failures: cfg.max_failures,
            max_nonces: cfg.max_nonces,
            opaque: ByteString::from(digest::random_hex(16)),
            nonces: HashMap::new(),
            order: VecDeque::new(),
            failures: HashMap::new(),
        })
    }

    /// The Digest realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The `opaque` value sent in every challenge.
    pub fn opaque(&self) -> &str {
        &self.opaque
    }

    /// How many nonces are outstanding (issued, not yet expired or evicted).
    pub fn outstanding_nonces(&self) -> usize {
        self.nonces.len()
    }

    /// Forgets the failure count of a closed connection.
    pub fn connection_closed(&mut self, conn: ConnId) {
        self.failures.remove(&conn);
    }

    /// Decides the answer to AUTH request `req` received on `conn` at `now` (RFC 4976 §6.3; see
    /// the module table).
    ///
    /// The caller passes only AUTHs addressed to this relay (a To-Path whose only URI is ours);
    /// an AUTH with more To-Path URIs is forwarded, not answered (RFC 4976 §5.1). The digest URI
    /// is the rightmost To-Path URI (§9.1, 4976-010); `uri=` may be left out (lenient) and, when
    /// present, must equal it (RFC 4975 §6.1 comparison, which ignores the userinfo).
    pub fn handle(&mut self, req: &Head, conn: ConnId, now: Instant) -> AuthOutcome {
        self.purge(now);
        let decision = self.decide(req, now);
        let count = self.failures.entry(conn).or_insert(0);
        match &decision {
            AuthDecision::Challenge { reason, .. } if reason.is_failure() => {
                *count = count.saturating_add(1)
            }
            AuthDecision::Challenge { .. } => {}
            // Right credentials end the run of failures.
            _ => *count = 0,
        }
        let close_connection = self.max_failures > 0 && *count >= self.max_failures;
        if *count == 0 {
            self.failures.remove(&conn);
        }
        AuthOutcome {
            decision,
            close_connection,
        }
    }

    fn decide(&mut self, req: &Head, now: Instant) -> AuthDecision {
        let to_uri = req.to_path().last();
        let to_text = to_uri.map_or("", MsrpUri::as_str);
        let mut creds_headers = req.headers.iter().filter_map(|h| match h {
            Header::Authorization(a) => Some(a),
            _ => None,
        });
        let Some(first) = creds_headers.next() else {
            return self.challenge(now, ChallengeReason::NoCredentials);
        };
        // Several Authorization headers: use the one for our realm.
        let params = std::iter::once(first)
            .chain(creds_headers)
            .find(|a| a.get("realm") == Some(&*self.realm))
            .unwrap_or(first);
        let creds = match Credentials::parse(params) {
            Ok(c) => c,
            Err(e) => return self.challenge(now, ChallengeReason::Malformed(e)),
        };
        if creds.realm != self.realm {
            return self.challenge(now, ChallengeReason::WrongRealm);
        }
        if let Some(u) = &creds.uri {
            let same = u.eq_ignore_ascii_case(to_text)
                || match (MsrpUri::parse(u.clone()), to_uri) {
                    (Ok(a), Some(b)) => a == *b,
                    _ => false,
                };
            if !same {
                return self.challenge(now, ChallengeReason::UriMismatch);
            }
        }
        let uri = creds.digest_uri(to_text);
        let user = self.users.get(&*creds.username);
        let ha1 = user.map_or(NO_USER_HA1, |u| u.ha1.as_str());
        let right = creds.verify(ha1, uri);
        let Some(user) = user else {
            return self.challenge(now, ChallengeReason::UnknownUser);
        };
        if !right {
            return self.challenge(now, ChallengeReason::WrongResponse);
        }
        let (ha1, denied) = (user.ha1.clone(), user.denied);
        // The digest is right: whatever is wrong with the nonce now is staleness (RFC 2617
        // §3.2.1: stale only when the digest is valid for the nonce the client used).
        match self.nonces.get_mut(&*creds.nonce) {
            Some(st) if st.expires > now => {
                if creds.opaque.as_ref().is_some_and(|o| *o != self.opaque) {
                    return self.challenge(now, ChallengeReason::OpaqueMismatch);
                }
                if creds.nc <= st.last_nc {
                    return self.challenge(now, ChallengeReason::ReplayedNc);
                }
                st.last_nc = creds.nc;
            }
            _ => return self.challenge(now, ChallengeReason::StaleNonce),
        }
        if denied {
            return AuthDecision::Forbidden {
                user: creds.username.to_string(),
            };
        }
        let expires = match req.expires() {
            None => self.default_expires,
            Some(e) if e < self.min_expires => {
                return AuthDecision::ExpiresTooShort {
                    min: self.min_expires,
                };
            }
            Some(e) if e > self.max_expires => {
                return AuthDecision::ExpiresTooLong {
                    max: self.max_expires,
                };
            }
            Some(e) => e,
        };
        AuthDecision::Accepted {
            user: creds.username.to_string(),
            expires,
            authentication_info: creds.authentication_info(&ha1, uri).to_params(),
        }
    }

    /// A 401 with a fresh nonce.
    fn challenge(&mut self, now: Instant, reason: ChallengeReason) -> AuthDecision {
        let nonce = self.issue_nonce(now);
        let stale = reason.is_stale();
        AuthDecision::Challenge {
            www_authenticate: Challenge {
                realm: self.realm.clone(),
                nonce,
                opaque: Some(self.opaque.clone()),
                stale,
            }
            .to_params(),
            stale,
            reason,
        }
    }

    /// A fresh nonce of 128 random bits, valid for `nonce_lifetime`.
    fn issue_nonce(&mut self, now: Instant) -> ByteString {
        while self.nonces.len() >= self.max_nonces {
            let Some((_, old)) = self.order.pop_front() else {
                break;
            };
            self.nonces.remove(&old);
        }
        let nonce = ByteString::from(digest::random_hex(16));
        let expires = now + self.nonce_lifetime;
        self.nonces.insert(
            nonce.clone(),
            NonceState {
                expires,
                last_nc: 0,
            },
        );
        self.order.push_back((expires, nonce.clone()));
        nonce
    }

    /// Drops expired nonces (an expired nonce and an unknown one get the same answer).
    fn purge(&mut self, now: Instant) {
        while let Some((exp, _)) = self.order.front() {
            if *exp > now {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.nonces.remove(&n);
            }
        }
    }
}

/// The MSRP response to AUTH `req` for `decision` (RFC 4976 §5.1, §6.3, §10.3), built with
/// [`msrp::report::response`] (To-Path = the AUTH's whole From-Path, From-Path = `local`, the
/// relay's URI as the client addressed it):
///
/// - 401 Unauthorized + WWW-Authenticate (4976-004, 4976-013);
/// - 403 Forbidden (4976-014);
/// - 423 Interval Out-of-Bounds + Min-Expires or Max-Expires (4976-017);
/// - 200 OK + Use-Path (`use_path`: the URIs issued for this AUTH, 4976-015/016; omitted when
///   `None`) + Authentication-Info (4976-011) + Expires (4976-015), in the order of the
///   RFC 4976 §5.1 example.
pub fn response_head(
    req: &Head,
    decision: &AuthDecision,
    local: &MsrpUri,
    use_path: Option<Path>,
) -> Head {
    let mut head = msrp::report::response(req, decision.status(), None, local);
    match decision {
        AuthDecision::Challenge {
            www_authenticate, ..
        } => head.push(Header::WwwAuthenticate(www_authenticate.clone())),
        AuthDecision::Forbidden { .. } => {}
        AuthDecision::ExpiresTooShort { min } => head.push(Header::MinExpires(*min)),
        AuthDecision::ExpiresTooLong { max } => head.push(Header::MaxExpires(*max)),
        AuthDecision::Accepted {
            expires,
            authentication_info,
            ..
        } => {
            if let Some(p) = use_path {
                head.push(Header::UsePath(p));
            }
            head.push(Header::AuthenticationInfo(authentication_info.clone()));
            head.push(Header::Expires(*expires));
        }
    }
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_head(extra: Vec<Header>) -> Head {
        let to = MsrpUri::parse("msrps://relay.example.com:2855;tcp".into()).unwrap();
        let from = MsrpUri::parse("msrps://alice.example.com:9892/98cjs;tcp".into()).unwrap();
        let mut h = Head::request(
            msrp::Method::Auth,
            "t1234".parse().unwrap(),
            msrp::path![to],
            msrp::path![from],
        );
        for x in extra {
            h.push(x);
        }
        h
    }

    fn authenticator(f: impl FnOnce(&mut AuthConfig)) -> Authenticator {
        let mut cfg = AuthConfig::new("relay.example.com");
        cfg.users
            .insert("alice".into(), Secret::Password("wonderland".into()));
        f(&mut cfg);
        Authenticator::new(cfg).unwrap()
    }

    #[test]
    fn config_errors() {
        let mut c = AuthConfig::new("");
        assert_eq!(
            Authenticator::new(c.clone()).err(),
            Some(ConfigError::EmptyRealm)
        );
        c.realm = "r".into();
        c.users.insert("bob".into(), Secret::Ha1("xyz".into()));
        assert_eq!(
            Authenticator::new(c.clone()).err(),
            Some(ConfigError::BadHa1("bob".into()))
        );
        c.users.clear();
        c.min_expires = 2000;
        assert!(matches!(
            Authenticator::new(c.clone()).err(),
            Some(ConfigError::ExpiresBounds { .. })
        ));
        c.min_expires = 1;
        c.max_nonces = 0;
        assert_eq!(Authenticator::new(c).err(), Some(ConfigError::NoNonces));
    }

    #[test]
    fn nonces_are_random_bounded_and_expire() {
        let mut a = authenticator(|c| c.max_nonces = 3);
        let t0 = Instant::now();
        let mut seen = HashSet::new();
        for _ in 0..5 {
            let o = a.handle(&auth_head(vec![]), ConnId(1), t0);
            let AuthDecision::Challenge {
                www_authenticate,
                stale,
                reason,
            } = o.decision
            else {
                panic!("{o:?}")
            };
            assert!(!stale && reason == ChallengeReason::NoCredentials);
            assert!(!o.close_connection);
            let n = www_authenticate.get("nonce").unwrap().to_owned();
            assert_eq!(n.len(), 32, "128 bits in hex");
            assert!(seen.insert(n));
            assert_eq!(www_authenticate.get("opaque"), Some(a.opaque()));
        }
        assert_eq!(a.outstanding_nonces(), 3, "capped at max_nonces");
        a.handle(&auth_head(vec![]), ConnId(1), t0 + Duration::from_secs(301));
        assert_eq!(a.outstanding_nonces(), 1, "expired ones purged");
    }

    #[test]
    fn forbidden_resets_failures_and_connection_closed_forgets() {
        let mut a = authenticator(|c| {
            c.denied.insert("alice".into());
            c.max_failures = 2;
        });
        let now = Instant::now();
        let bad = Header::Authorization(AuthParams {
            scheme: Some("Basic".into()),
            params: vec![],
        });
        let o = a.handle(&auth_head(vec![bad.clone()]), ConnId(7), now);
        assert!(!o.close_connection);
        assert_eq!(a.failures.get(&ConnId(7)), Some(&1));
        a.connection_closed(ConnId(7));
        assert!(a.failures.is_empty());

        let o = a.handle(&auth_head(vec![]), ConnId(7), now);
        let AuthDecision::Challenge {
            www_authenticate, ..
        } = o.decision
        else {
            panic!()
        };
        let ch = Challenge::parse(&www_authenticate).unwrap();
        let ha1 = digest::ha1_hex("alice", "relay.example.com", "wonderland");
        let creds = ch.answer("alice", &ha1, "msrps://relay.example.com:2855;tcp", "c0", 1);
        a.handle(&auth_head(vec![bad]), ConnId(7), now);
        let o = a.handle(
            &auth_head(vec![Header::Authorization(creds)]),
            ConnId(7),
            now,
        );
        assert_eq!(
            o.decision,
            AuthDecision::Forbidden {
                user: "alice".into()
            }
        );
        assert!(!o.close_connection);
        assert!(a.failures.is_empty(), "valid credentials end the run");
    }
}
