//! The Use-Path table (RFC 4976 §4.2, §6.3, §6.4): URIs issued, looked up, routed, refreshed,
//! expired and invalidated.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use msrp::{Host, MsrpUri};
use msrp_relay::ConnId;
use msrp_relay::use_path::{
    AddrError, Direction, IssueError, Limits, RelayAddr, RouteError, UsePaths,
};

const HOST: &str = "relay.example.net";
const PORT: u16 = 2855;
const MIN: Duration = Duration::from_secs(60);

fn addr(secure: bool) -> RelayAddr {
    RelayAddr {
        secure,
        host: HOST.into(),
        port: PORT,
    }
}

fn table() -> UsePaths {
    UsePaths::new(addr(true)).unwrap()
}

fn big_table() -> UsePaths {
    UsePaths::with_limits(
        addr(true),
        Limits {
            max_grants: 20_000,
            max_grants_per_conn: 20_000,
        },
    )
    .unwrap()
}

fn u(s: &str) -> MsrpUri {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// `uri` with its scheme, host, port and transport replaced as given, same session-id.
fn respell(uri: &MsrpUri, prefix: &str, suffix: &str) -> MsrpUri {
    u(&format!("{prefix}/{}{suffix}", uri.session_id().unwrap()))
}

#[test]
fn issued_uris_are_valid_use_path_uris() {
    // 4976-016: FQDN host and explicit port; msrps when the relay is reached over TLS.
    for secure in [true, false] {
        let mut t = UsePaths::new(addr(secure)).unwrap();
        let now = Instant::now();
        let uri = t.issue(ConnId(1), "alice", MIN, now).unwrap();
        let reparsed = u(uri.as_str());
        assert_eq!(reparsed, uri);
        assert_eq!(uri.is_secure(), secure);
        let scheme = if secure { "msrps://" } else { "msrp://" };
        assert!(uri.as_str().starts_with(scheme), "{uri}");
        assert!(matches!(uri.host(), Host::Name(HOST)), "{uri}");
        assert_eq!(uri.port(), Some(PORT));
        assert_eq!(uri.transport(), "tcp");
        assert_eq!(uri.userinfo(), None);
        assert_eq!(uri.params(), None);
        let sid = uri.session_id().unwrap();
        assert_eq!(
            uri.as_str(),
            format!("{scheme}{HOST}:{PORT}/{sid};tcp"),
            "exact form"
        );
        let g = t.lookup(&uri, now).unwrap();
        assert_eq!(g.uri, uri);
        assert_eq!(g.conn, ConnId(1));
        assert_eq!(g.user, "alice");
        assert_eq!(g.expires_at, now + MIN);
        assert_eq!(g.expires_in(now), MIN);
    }
}

#[test]
fn session_ids_are_distinct_and_carry_64_bits() {
    // 4976-018: at least 64 bits of cryptographic randomness.
    let mut t = big_table();
    let now = Instant::now();
    let len = msrp::ident::GENERATED_LEN;
    let mut seen = HashSet::new();
    // For each position of the session-id, the characters seen there.
    let mut per_pos = vec![HashSet::new(); len];
    for i in 0..10_000u64 {
        let uri = t.issue(ConnId(i % 7), "u", MIN, now).unwrap();
        let sid = uri.session_id().unwrap().to_owned();
        assert_eq!(sid.len(), len, "{sid}");
        assert!(sid.bytes().all(|b| b.is_ascii_alphanumeric()), "{sid}");
        for (pos, b) in sid.bytes().enumerate() {
            per_pos[pos].insert(b);
        }
        assert!(seen.insert(sid), "repeated session-id");
    }
    assert_eq!(t.len(), 10_000);
    // Every position draws from all 62 alphanumerics (each is expected ~161 times in 10 000
    // draws, so a missing one means a biased or fixed position) ...
    for (pos, chars) in per_pos.iter().enumerate() {
        assert_eq!(
            chars.len(),
            62,
            "position {pos} uses {} symbols",
            chars.len()
        );
    }
    // ... so the id holds len × log2(62) bits.
    let bits = len as f64 * 62f64.log2();
    assert!(bits >= 64.0, "{bits} bits");
}

#[test]
fn relay_address_must_be_a_domain_name_with_a_port() {
    // 4976-016
    let with = |host: &str, port| {
        UsePaths::new(RelayAddr {
            secure: true,
            host: host.into(),
            port,
        })
        .map(|_| ())
    };
    assert_eq!(with("192.0.2.1", PORT), Err(AddrError::IpLiteral));
    assert_eq!(with("[2001:db8::1]", PORT), Err(AddrError::IpLiteral));
    assert_eq!(with(HOST, 0), Err(AddrError::Port));
    for bad in [
        "",
        "bad host",
        "u@relay.example.net",
        "relay.example.net:1",
        "r/x",
        "r;tcp",
    ] {
        assert!(
            matches!(with(bad, PORT), Err(AddrError::Host(_))),
            "{bad:?}: {:?}",
            with(bad, PORT)
        );
    }
    assert_eq!(with("localhost", 1), Ok(()));
    assert_eq!(with("Relay.Example.NET", 65535), Ok(()));
}

#[test]
fn lookup_follows_rfc4975_uri_comparison() {
    let mut t = table();
    let now = Instant::now();
    let uri = t.issue(ConnId(1), "alice", MIN, now).unwrap();
    // Equal per RFC 4975 §6.1 although written differently: scheme and host case, transport
    // case, percent-escaped host octets, userinfo, URI parameters.
    for (prefix, suffix) in [
        ("MSRPS://RELAY.Example.NET:2855", ";TCP"),
        ("msrps://alice@relay.example.net:2855", ";tcp"),
        ("msrps://%72elay.example.net:2855", ";tcp"),
        ("msrps://relay.example.net:2855", ";tcp;foo=bar"),
    ] {
        let other = respell(&uri, prefix, suffix);
        let g = t.lookup(&other, now);
        assert!(g.is_some_and(|g| g.uri == uri), "{other}");
        assert!(t.route(&other, ConnId(1), now).is_ok(), "{other}");
    }
    // Not equal: another host, port, scheme, transport, no port, an IP literal, session-id in
    // another case (session-ids compare case-sensitively), no session-id.
    for (prefix, suffix) in [
        ("msrps://relay.example.org:2855", ";tcp"),
        ("msrps://relay.example.net:2856", ";tcp"),
        ("msrp://relay.example.net:2855", ";tcp"),
        ("msrps://relay.example.net:2855", ";ws"),
        ("msrps://relay.example.net", ";tcp"),
        ("msrps://192.0.2.1:2855", ";tcp"),
    ] {
        let other = respell(&uri, prefix, suffix);
        assert!(t.lookup(&other, now).is_none(), "{other}");
    }
    let sid = uri.session_id().unwrap();
    let flipped: String = sid
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    if flipped != sid {
        let other = u(&format!("msrps://{HOST}:{PORT}/{flipped};tcp"));
        assert!(t.lookup(&other, now).is_none(), "{other}");
    }
    assert!(
        t.lookup(&u("msrps://relay.example.net:2855;tcp"), now)
            .is_none()
    );
}

#[test]
fn expiry_at_the_exact_boundary() {
    // 4976-019, 4976-038: valid while now < expires_at.
    let mut t = table();
    let t0 = Instant::now();
    let life = Duration::from_secs(900);
    let uri = t.issue(ConnId(1), "alice", life, t0).unwrap();
    let end = t0 + life;
    let just_before = end - Duration::from_nanos(1);
    assert_eq!(t.next_expiry(), Some(end));
    assert!(t.lookup(&uri, just_before).is_some());
    assert!(t.route(&uri, ConnId(1), just_before).is_ok());
    assert!(t.lookup(&uri, end).is_none());
    assert_eq!(t.route(&uri, ConnId(1), end), Err(RouteError::Expired));
    assert_eq!(
        t.route(&uri, ConnId(2), end + life),
        Err(RouteError::Expired)
    );
    assert_eq!(
        t.lookup(&uri, just_before).unwrap().expires_in(end),
        Duration::ZERO
    );
    // expire() drops it only at the boundary.
    assert_eq!(t.expire(just_before), 0);
    assert_eq!(t.len(), 1);
    assert_eq!(t.expire(end), 1);
    assert_eq!(t.len(), 0);
    assert!(t.is_empty());
    assert_eq!(t.next_expiry(), None);
    // Once dropped it is simply unknown, even at an earlier time.
    assert_eq!(t.route(&uri, ConnId(1), t0), Err(RouteError::Unknown));
    assert!(t.lookup(&uri, t0).is_none());
}

#[test]
fn expire_drops_only_what_has_expired() {
    let mut t = table();
    let t0 = Instant::now();
    let secs = [30u64, 10, 20, 10, 40];
    let uris: Vec<MsrpUri> = secs
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            t.issue(ConnId(i as u64 % 2), "u", Duration::from_secs(s), t0)
                .unwrap()
        })
        .collect();
    assert_eq!(t.next_expiry(), Some(t0 + Duration::from_secs(10)));
    assert_eq!(t.expire(t0 + Duration::from_secs(20)), 3);
    assert_eq!(t.len(), 2);
    assert_eq!(t.next_expiry(), Some(t0 + Duration::from_secs(30)));
    let now = t0 + Duration::from_secs(20);
    for (uri, &s) in uris.iter().zip(&secs) {
        assert_eq!(t.lookup(uri, now).is_some(), s > 20, "{s}");
    }
    assert_eq!(t.conn_len(ConnId(0)), 2);
    assert_eq!(t.conn_len(ConnId(1)), 0);
}

#[test]
fn refresh_extends_only_on_the_same_connection() {
    let mut t = table();
    let t0 = Instant::now();
    let uri = t.issue(ConnId(1), "alice", MIN, t0).unwrap();
    let later = t0 + Duration::from_secs(50);
    // From another connection: refused, lifetime unchanged.
    assert!(!t.refresh(&uri, ConnId(2), MIN, later));
    assert_eq!(t.next_expiry(), Some(t0 + MIN));
    assert!(t.lookup(&uri, t0 + MIN).is_none());
    // From the AUTH's connection: renewed from `later`.
    assert!(t.refresh(&uri, ConnId(1), MIN, later));
    assert_eq!(t.next_expiry(), Some(later + MIN));
    assert!(t.lookup(&uri, t0 + MIN).is_some());
    assert_eq!(t.expire(t0 + MIN), 0);
    assert_eq!(t.lookup(&uri, later).unwrap().expires_at, later + MIN);
    // A differently written but equal URI refreshes too (RFC 4975 §6.1).
    let loud = respell(&uri, "MSRPS://RELAY.EXAMPLE.NET:2855", ";TCP");
    assert!(t.refresh(&loud, ConnId(1), Duration::from_secs(5), later));
    assert_eq!(t.next_expiry(), Some(later + Duration::from_secs(5)));
    // Not once expired, and not a URI that is not ours.
    let gone = later + Duration::from_secs(5);
    assert!(!t.refresh(&uri, ConnId(1), MIN, gone));
    assert!(t.lookup(&uri, gone).is_none());
    let foreign = respell(&uri, "msrps://relay.example.org:2855", ";tcp");
    assert!(!t.refresh(&foreign, ConnId(1), MIN, later));
    assert_eq!(t.len(), 1);
}

#[test]
fn close_invalidates_only_that_connections_uris() {
    // 4976-019
    let mut t = table();
    let now = Instant::now();
    let a: Vec<MsrpUri> = (0..3)
        .map(|_| t.issue(ConnId(1), "alice", MIN, now).unwrap())
        .collect();
    let b: Vec<MsrpUri> = (0..2)
        .map(|_| t.issue(ConnId(2), "bob", MIN, now).unwrap())
        .collect();
    assert_eq!(t.len(), 5);
    let closed: HashSet<String> = t.close(ConnId(1)).iter().map(|u| u.to_string()).collect();
    let expected: HashSet<String> = a.iter().map(|u| u.to_string()).collect();
    assert_eq!(closed, expected);
    assert_eq!(t.len(), 2);
    assert_eq!(t.conn_len(ConnId(1)), 0);
    for uri in &a {
        assert!(t.lookup(uri, now).is_none());
        // A client that reconnects gets a new connection id: its old URIs are gone.
        assert_eq!(t.route(uri, ConnId(3), now), Err(RouteError::Unknown));
        assert_eq!(t.route(uri, ConnId(1), now), Err(RouteError::Unknown));
        assert!(!t.refresh(uri, ConnId(1), MIN, now));
    }
    for uri in &b {
        assert_eq!(t.lookup(uri, now).unwrap().conn, ConnId(2));
    }
    assert!(t.close(ConnId(1)).is_empty());
    assert!(t.close(ConnId(9)).is_empty());
    assert_eq!(t.next_expiry(), Some(now + MIN));
    assert_eq!(t.close(ConnId(2)).len(), 2);
    assert!(t.is_empty());
    assert_eq!(t.next_expiry(), None);
}

#[test]
fn route_directions() {
    // 4976-025 / 4976-043: from the client that obtained the URI, or to it.
    let mut t = table();
    let now = Instant::now();
    let alice = t.issue(ConnId(1), "alice", MIN, now).unwrap();
    let bob = t.issue(ConnId(2), "bob", MIN, now).unwrap();

    let r = t.route(&alice, ConnId(1), now).unwrap();
    assert_eq!(r.direction, Direction::FromClient);
    assert_eq!(r.grant.user, "alice");
    assert_eq!(r.grant.uri, alice);

    // From a peer's connection (e.g. another relay): to Alice, on Alice's connection only.
    let r = t.route(&alice, ConnId(7), now).unwrap();
    assert_eq!(r.direction, Direction::ToClient { conn: ConnId(1) });
    assert_eq!(r.grant.user, "alice");

    // Bob, another client of this relay, addressing Alice's URI: delivered to Alice. His own
    // URI from his connection goes outward.
    assert_eq!(
        t.route(&alice, ConnId(2), now).unwrap().direction,
        Direction::ToClient { conn: ConnId(1) }
    );
    assert_eq!(
        t.route(&bob, ConnId(2), now).unwrap().direction,
        Direction::FromClient
    );
    // And Alice addressing Bob's URI reaches Bob, not the outside: a connection other than
    // the grant's can never send onward with it.
    assert_eq!(
        t.route(&bob, ConnId(1), now).unwrap().direction,
        Direction::ToClient { conn: ConnId(2) }
    );
}

#[test]
fn route_errors() {
    // 4976-024 / 4976-025 / 4976-038
    let mut t = table();
    let t0 = Instant::now();
    let uri = t.issue(ConnId(1), "alice", MIN, t0).unwrap();
    // Another relay's URI: not addressed to us.
    for foreign in [
        "msrps://relay.example.org:2855/abcdefgh;tcp",
        "msrps://relay.example.net:2856/abcdefgh;tcp",
        "msrps://192.0.2.1:2855/abcdefgh;tcp",
    ] {
        assert_eq!(
            t.route(&u(foreign), ConnId(1), t0),
            Err(RouteError::Foreign),
            "{foreign}"
        );
    }
    let same_sid_other_host = respell(&uri, "msrps://relay.example.org:2855", ";tcp");
    assert_eq!(
        t.route(&same_sid_other_host, ConnId(1), t0),
        Err(RouteError::Foreign)
    );
    // Ours, but never issued (a guessed session-id), another scheme or transport, or no
    // session-id at all.
    for unknown in [
        "msrps://relay.example.net:2855/abcdefgh;tcp".to_owned(),
        "msrps://RELAY.example.net/abcdefgh;tcp".to_owned(),
        "msrps://relay.example.net:2855;tcp".to_owned(),
        respell(&uri, "msrp://relay.example.net:2855", ";tcp").to_string(),
        respell(&uri, "msrps://relay.example.net:2855", ";ws").to_string(),
    ] {
        assert_eq!(
            t.route(&u(&unknown), ConnId(1), t0),
            Err(RouteError::Unknown),
            "{unknown}"
        );
    }
    // Expired, from either side.
    assert_eq!(t.route(&uri, ConnId(1), t0 + MIN), Err(RouteError::Expired));
    assert_eq!(t.route(&uri, ConnId(5), t0 + MIN), Err(RouteError::Expired));
    // Closed: the URI was bound to the connection that is gone (a reconnect has a new id).
    t.close(ConnId(1));
    assert_eq!(t.route(&uri, ConnId(1), t0), Err(RouteError::Unknown));
    assert_eq!(t.route(&uri, ConnId(2), t0), Err(RouteError::Unknown));
}

#[test]
fn is_local_compares_host_and_port() {
    let t = table();
    for ours in [
        "msrps://relay.example.net:2855/x;tcp",
        "msrps://relay.example.net;tcp",
        "MSRP://Relay.Example.Net:2855;ws",
        "msrps://bob@%72elay.example.net:2855/x;tcp",
    ] {
        assert!(t.is_local(&u(ours)), "{ours}");
    }
    for theirs in [
        "msrps://relay.example.org:2855/x;tcp",
        "msrps://relay.example.net:2856/x;tcp",
        "msrps://relay.example.net.evil:2855/x;tcp",
        "msrps://127.0.0.1:2855/x;tcp",
        "msrps://[::1]:2855/x;tcp",
    ] {
        assert!(!t.is_local(&u(theirs)), "{theirs}");
    }
}

#[test]
fn limits_bound_the_table() {
    let mut t = UsePaths::with_limits(
        addr(true),
        Limits {
            max_grants: 3,
            max_grants_per_conn: 2,
        },
    )
    .unwrap();
    let t0 = Instant::now();
    let short = Duration::from_secs(10);
    t.issue(ConnId(1), "a", short, t0).unwrap();
    t.issue(ConnId(1), "a", MIN, t0).unwrap();
    assert_eq!(t.issue(ConnId(1), "a", MIN, t0), Err(IssueError::ConnFull));
    t.issue(ConnId(2), "b", MIN, t0).unwrap();
    assert_eq!(t.issue(ConnId(3), "c", MIN, t0), Err(IssueError::Full));
    assert_eq!(t.issue(ConnId(2), "b", MIN, t0), Err(IssueError::Full));
    assert_eq!(t.len(), 3);
    // Expiry frees room (once dropped) ...
    assert_eq!(
        t.issue(ConnId(3), "c", MIN, t0 + short),
        Err(IssueError::Full)
    );
    assert_eq!(t.expire(t0 + short), 1);
    assert_eq!(t.conn_len(ConnId(1)), 1);
    t.issue(ConnId(3), "c", MIN, t0 + short).unwrap();
    assert_eq!(t.issue(ConnId(3), "c", MIN, t0), Err(IssueError::Full));
    // ... and so does a close.
    assert_eq!(t.close(ConnId(1)).len(), 1);
    t.issue(ConnId(3), "c", MIN, t0).unwrap();
    assert_eq!(t.conn_len(ConnId(3)), 2);
    assert_eq!(t.len(), 3);
    // A failed issue leaves nothing behind.
    assert_eq!(t.issue(ConnId(3), "c", MIN, t0), Err(IssueError::Full));
    assert_eq!(t.len(), 3);

    let mut none = UsePaths::with_limits(
        addr(true),
        Limits {
            max_grants: 0,
            max_grants_per_conn: 10,
        },
    )
    .unwrap();
    assert_eq!(none.issue(ConnId(1), "a", MIN, t0), Err(IssueError::Full));
    assert!(none.is_empty());
    assert_eq!(Limits::default().max_grants, 65_536);
}

#[test]
fn issue_and_refresh_reject_unrepresentable_lifetimes() {
    let mut t = table();
    let now = Instant::now();
    assert_eq!(
        t.issue(ConnId(1), "a", Duration::MAX, now),
        Err(IssueError::Lifetime)
    );
    assert!(t.is_empty());
    let uri = t.issue(ConnId(1), "a", MIN, now).unwrap();
    assert!(!t.refresh(&uri, ConnId(1), Duration::MAX, now));
    assert_eq!(t.next_expiry(), Some(now + MIN));
}
