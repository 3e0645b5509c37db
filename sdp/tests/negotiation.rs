//! The negotiation table: offers shaped like real clients' -> the exact answer SDP or the exact
//! rejection (RFC 3264 §6, RFC 4975 §8, RFC 6135, RFC 6714, RFC 7701 §5.2, RFC 7977, RFC 5547).
//!
//! Offers and expected answers are written with `\n` and turned into CRLF documents by [`crlf`];
//! an answer must equal the expected text byte for byte.

use msrp::MsrpUri;
use msrp_sdp::attr::{
    Chatroom, Direction, FileSelector, FileTransferId, Fingerprint, FormatEntry, MsrpAttribute,
    Setup,
};
use msrp_sdp::negotiate::{Answer, MediaOutcome, Role};
use msrp_sdp::sdp_types::Session;
use msrp_sdp::{MsrpMedia, OfferBuilder, Policy, Proto, Reject, negotiate};

fn crlf(s: &str) -> String {
    assert!(!s.contains('\r'));
    s.replace('\n', "\r\n")
}

fn uri(s: &str) -> MsrpUri {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn types(s: &str) -> Vec<FormatEntry> {
    s.split(' ')
        .map(|t| FormatEntry::parse(t).unwrap_or_else(|e| panic!("{t}: {e}")))
        .collect()
}

fn parse(text: &str) -> Session {
    Session::parse(text.as_bytes()).unwrap_or_else(|e| panic!("offer does not parse: {e}\n{text}"))
}

const OUR_URI: &str = "msrp://msrpd.example.net:2855/rs8dk2;tcp";
const OUR_TLS_URI: &str = "msrps://msrpd.example.net:2856/rs8dk2;tcp";
const OUR_FP: &str = "4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB";

/// The plain endpoint: TCP/MSRP and TCP/TLS/MSRP, `message/cpim text/plain`, CEMA, no file
/// transfer.
fn plain() -> Policy {
    Policy {
        path: vec![uri(OUR_URI)],
        origin_session_id: 1000,
        origin_session_version: 1,
        accept_types: types("message/cpim text/plain"),
        accept_wrapped_types: Vec::new(),
        chat_room: None,
        max_size: None,
        protos: vec![Proto::TcpMsrp, Proto::TcpTlsMsrp],
        fingerprint: None,
        cema: true,
        file_transfer: false,
    }
}

fn tcp_only() -> Policy {
    Policy {
        protos: vec![Proto::TcpMsrp],
        ..plain()
    }
}

fn tls() -> Policy {
    Policy {
        path: vec![uri(OUR_TLS_URI)],
        protos: vec![Proto::TcpTlsMsrp],
        fingerprint: Some(Fingerprint {
            hash: "SHA-1".to_owned(),
            value: OUR_FP.to_owned(),
        }),
        ..plain()
    }
}

fn websocket() -> Policy {
    Policy {
        path: vec![uri("msrps://msrpd.example.net:443/w9xk2;tcp")],
        protos: vec![Proto::TcpTlsMsrp, Proto::TcpWssMsrp],
        ..plain()
    }
}

fn no_cema() -> Policy {
    Policy {
        cema: false,
        ..plain()
    }
}

fn files() -> Policy {
    Policy {
        file_transfer: true,
        ..plain()
    }
}

fn behind_relay() -> Policy {
    Policy {
        path: vec![
            uri("msrp://relay.example.net:2855/r7d2;tcp"),
            uri("msrp://10.0.0.7:2855/rs8dk2;tcp"),
        ],
        max_size: Some(65536),
        ..plain()
    }
}

fn ipv6() -> Policy {
    Policy {
        path: vec![uri("msrp://[2001:db8::5]:2855/rs8dk2;tcp")],
        ..plain()
    }
}

fn text_wildcard() -> Policy {
    Policy {
        accept_types: types("text/*"),
        ..plain()
    }
}

/// The RFC 7701 §9.1 focus.
fn chat_room() -> Policy {
    Policy {
        path: vec![uri("msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp")],
        origin_session_id: 2890844527,
        origin_session_version: 2890844527,
        accept_types: types("text/plain"), // ignored in chat-room mode (7701-003)
        accept_wrapped_types: types("text/plain text/html *"),
        chat_room: Some(Chatroom {
            nickname: true,
            private_messages: true,
            extensions: Vec::new(),
        }),
        ..plain()
    }
}

enum Expect {
    /// The exact answer SDP (`\n` line ends, compared as CRLF).
    Answer(&'static str),
    /// The SIP status and a substring of the reason.
    Reject(u16, &'static str),
}

struct Row {
    name: &'static str,
    offer: &'static str,
    policy: fn() -> Policy,
    expect: Expect,
    /// Further checks on the typed outcome.
    check: Option<fn(&Answer)>,
}

/// The common head of the plain answers.
const PLAIN_HEAD: &str = "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
";

fn accepted(a: &Answer, i: usize) -> &msrp_sdp::negotiate::AcceptedMedia {
    match &a.media[i] {
        MediaOutcome::Accepted(m) => m,
        MediaOutcome::Refused { reason } => panic!("m-line {i} refused: {reason}"),
    }
}

fn refused(a: &Answer, i: usize) -> &str {
    match &a.media[i] {
        MediaOutcome::Refused { reason } => reason,
        MediaOutcome::Accepted(_) => panic!("m-line {i} accepted"),
    }
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "plain TCP/MSRP, no a=setup (RFC 4975 §8.7 Fig. 9)",
            offer: "v=0
o=usera 2890844526 2890844527 IN IP4 alice.example.com
s= -
c=IN IP4 alice.example.com
t=0 0
m=message 7394 TCP/MSRP *
a=accept-types:message/cpim text/plain text/html
a=path:msrp://alice.example.com:7394/2s93i93idj;tcp
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| {
                let m = accepted(a, 0);
                assert_eq!(m.proto, Proto::TcpMsrp);
                // 4145-003: no a=setup in the offer means the offerer is active.
                assert_eq!(m.role, Role::Passive);
                assert_eq!(
                    m.peer_path,
                    vec![uri("msrp://alice.example.com:7394/2s93i93idj;tcp")]
                );
                assert!(m.peer_accept_types.accepts("text/html"));
                assert_eq!(m.direction, Direction::SendRecv);
                assert!(!m.cema);
                assert_eq!(m.peer_chatroom, None);
            }),
        },
        Row {
            name: "relay path of 2 URIs, space after accept-types: (RFC 4976 §11)",
            offer: "v=0
o=- 4321 1 IN IP4 a.example.com
s=-
c=IN IP4 a.example.com
t=0 0
m=message 1234 TCP/MSRP *
a=accept-types: message/cpim text/plain text/html
a=path:msrp://relay.example.com:2855/asdf;tcp msrp://a.example.com:1234/agic456;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| {
                let m = accepted(a, 0);
                assert_eq!(m.peer_path.len(), 2);
                // 4975-101: the first URI is the next hop.
                assert_eq!(
                    m.peer_path[0],
                    uri("msrp://relay.example.com:2855/asdf;tcp")
                );
            }),
        },
        Row {
            name: "relay path of 3 URIs, setup passive -> we are active",
            offer: "v=0
o=- 4322 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 9 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://r1.example.org:2855/a1;tcp msrp://r2.example.org:2855/b2;tcp msrp://client.example.org:7777/c3;tcp
a=setup:passive
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:active
",
            ),
            check: Some(|a| {
                let m = accepted(a, 0);
                assert_eq!(m.role, Role::Active);
                assert_eq!(m.peer_path.len(), 3);
                assert_eq!(m.peer_path[0], uri("msrp://r1.example.org:2855/a1;tcp"));
                assert_eq!(m.peer_path[2], uri("msrp://client.example.org:7777/c3;tcp"));
            }),
        },
        Row {
            name: "our own relay path of 2 URIs, our max-size, peer max-size",
            offer: "v=0
o=- 4323 1 IN IP4 alice.example.com
s=-
c=IN IP4 alice.example.com
t=0 0
m=message 7394 TCP/MSRP *
a=accept-types:message/cpim
a=max-size:2048
a=path:msrp://alice.example.com:7394/2s93i93idj;tcp
a=setup:active
",
            policy: behind_relay,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 10.0.0.7
s=-
c=IN IP4 10.0.0.7
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=max-size:65536
a=path:msrp://relay.example.net:2855/r7d2;tcp msrp://10.0.0.7:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| {
                let m = accepted(a, 0);
                assert_eq!(m.peer_max_size, Some(2048));
                assert_eq!(m.role, Role::Passive);
            }),
        },
        Row {
            name: "IPv6 own URI -> c=IN IP6",
            offer: "v=0
o=- 4324 1 IN IP6 2001:db8::7
s=-
c=IN IP6 2001:db8::7
t=0 0
m=message 7394 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://[2001:db8::7]:7394/v6s;tcp
a=setup:actpass
",
            policy: ipv6,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP6 2001:db8::5
s=-
c=IN IP6 2001:db8::5
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://[2001:db8::5]:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: None,
        },
        Row {
            name: "TLS with a=fingerprint (RFC 4975 §14.4 Fig. 19)",
            offer: "v=0
o=- 4325 1 IN IP4 atlanta.example.com
s=-
c=IN IP4 atlanta.example.com
t=0 0
m=message 7654 TCP/TLS/MSRP *
a=accept-types:text/plain
a=path:msrps://atlanta.example.com:7654/jshA7weso3ks;tcp
a=fingerprint:SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB
a=setup:actpass
",
            policy: tls,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2856 TCP/TLS/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrps://msrpd.example.net:2856/rs8dk2;tcp
a=setup:passive
a=fingerprint:SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB
",
            ),
            check: Some(|a| {
                let m = accepted(a, 0);
                assert_eq!(m.proto, Proto::TcpTlsMsrp);
                assert_eq!(
                    m.peer_fingerprints,
                    vec![Fingerprint {
                        hash: "SHA-1".to_owned(),
                        value: OUR_FP.to_owned()
                    }]
                );
            }),
        },
        Row {
            name: "TCP/TLS/MSRP offered, policy TCP only",
            offer: "v=0
o=- 4326 1 IN IP4 atlanta.example.com
s=-
c=IN IP4 atlanta.example.com
t=0 0
m=message 7654 TCP/TLS/MSRP *
a=accept-types:text/plain
a=path:msrps://atlanta.example.com:7654/jshA7weso3ks;tcp
a=setup:actpass
",
            policy: tcp_only,
            expect: Expect::Reject(488, "m-line 0: proto TCP/TLS/MSRP is not accepted"),
            check: None,
        },
        Row {
            name: "CEMA: a=msrp-cema + setup actpass through a relay (RFC 6714 §4.2)",
            offer: "v=0
o=- 4327 1 IN IP4 relay.example.org
s=-
c=IN IP4 relay.example.org
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://relay.example.org:2855/ye3l;tcp msrp://client.example.com:7777/8hdy3;tcp
a=setup:actpass
a=msrp-cema
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
a=msrp-cema
",
            ),
            check: Some(|a| assert!(accepted(a, 0).cema)),
        },
        Row {
            name: "CEMA offered, policy without CEMA: no a=msrp-cema",
            offer: "v=0
o=- 4327 1 IN IP4 relay.example.org
s=-
c=IN IP4 relay.example.org
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://relay.example.org:2855/ye3l;tcp msrp://client.example.com:7777/8hdy3;tcp
a=setup:actpass
a=msrp-cema
",
            policy: no_cema,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert!(!accepted(a, 0).cema)),
        },
        Row {
            name: "WebSocket client via its server, TCP/TLS/MSRP with ;ws .invalid URI (RFC 7977 §8.2.1)",
            offer: "v=0
o=- 4328 1 IN IP4 a.example.com
s=-
c=IN IP4 a.example.com
t=0 0
m=message 1234 TCP/TLS/MSRP *
a=accept-types:message/cpim text/plain text/html
a=path:msrps://a.example.com:2855/jui787s2f;tcp msrps://df7jal23ls0d.invalid:2855/98cjs;ws
",
            policy: websocket,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 443 TCP/TLS/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrps://msrpd.example.net:443/w9xk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| {
                let m = accepted(a, 0);
                assert_eq!(m.peer_path[1].transport(), "ws");
            }),
        },
        Row {
            name: "WebSocket TCP/WSS/MSRP with a .invalid host and ;ws: proto kept",
            offer: "v=0
o=- 4329 1 IN IP4 df7jal23ls0d.invalid
s=-
c=IN IP4 df7jal23ls0d.invalid
t=0 0
m=message 2855 TCP/WSS/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrps://df7jal23ls0d.invalid:2855/98cjs;ws
a=setup:active
",
            policy: websocket,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 443 TCP/WSS/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrps://msrpd.example.net:443/w9xk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).proto, Proto::TcpWssMsrp)),
        },
        Row {
            name: "TCP/WS/MSRP not in the policy",
            offer: "v=0
o=- 4330 1 IN IP4 df7jal23ls0d.invalid
s=-
c=IN IP4 df7jal23ls0d.invalid
t=0 0
m=message 2855 TCP/WS/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://df7jal23ls0d.invalid:2855/98cjs;ws
a=setup:active
",
            policy: websocket,
            expect: Expect::Reject(488, "proto TCP/WS/MSRP is not accepted"),
            check: None,
        },
        Row {
            name: "chat offer with a=chatroom:nicknames (7701-008) to a focus",
            offer: "v=0
o=bob 2890844530 2890844530 IN IP4 client.biloxi.example.com
s=-
c=IN IP4 client.biloxi.example.com
t=0 0
m=message 7655 TCP/MSRP *
a=accept-types:message/cpim
a=accept-wrapped-types:text/plain
a=path:msrp://client.biloxi.example.com:7655/kd8s9;tcp
a=setup:actpass
a=chatroom:nicknames private-messages
",
            policy: chat_room,
            expect: Expect::Answer(
                "v=0
o=- 2890844527 2890844527 IN IP4 chat.example.com
s=-
c=IN IP4 chat.example.com
t=0 0
m=message 12763 TCP/MSRP *
a=accept-types:message/cpim
a=accept-wrapped-types:text/plain text/html *
a=path:msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp
a=setup:passive
a=chatroom:nickname private-messages
",
            ),
            check: Some(|a| {
                let m = accepted(a, 0);
                let c = m.peer_chatroom.as_ref().expect("peer chatroom");
                assert!(c.nickname && c.private_messages);
                assert!(
                    m.peer_accept_wrapped_types
                        .as_ref()
                        .is_some_and(|w| w.accepts("text/plain"))
                );
            }),
        },
        Row {
            name: "chat offer without a=chatroom to a focus (7701-007)",
            offer: "v=0
o=- 4331 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7656 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://client.example.org:7656/z9q;tcp
a=setup:actpass
",
            policy: chat_room,
            expect: Expect::Answer(
                "v=0
o=- 2890844527 2890844527 IN IP4 chat.example.com
s=-
c=IN IP4 chat.example.com
t=0 0
m=message 12763 TCP/MSRP *
a=accept-types:message/cpim
a=accept-wrapped-types:text/plain text/html *
a=path:msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp
a=setup:passive
a=chatroom:nickname private-messages
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).peer_chatroom, None)),
        },
        Row {
            name: "no message/cpim in chat-room mode (7701-002)",
            offer: "v=0
o=- 4332 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7656 TCP/MSRP *
a=accept-types:text/plain text/html
a=path:msrp://client.example.org:7656/z9q;tcp
a=setup:actpass
",
            policy: chat_room,
            expect: Expect::Reject(488, "lacks message/cpim (7701-002)"),
            check: None,
        },
        Row {
            name: "message/* satisfies a focus's message/cpim",
            offer: "v=0
o=- 4333 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7656 TCP/MSRP *
a=accept-types:message/*
a=path:msrp://client.example.org:7656/z9q;tcp
a=setup:actpass
",
            policy: chat_room,
            expect: Expect::Answer(
                "v=0
o=- 2890844527 2890844527 IN IP4 chat.example.com
s=-
c=IN IP4 chat.example.com
t=0 0
m=message 12763 TCP/MSRP *
a=accept-types:message/cpim
a=accept-wrapped-types:text/plain text/html *
a=path:msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp
a=setup:passive
a=chatroom:nickname private-messages
",
            ),
            check: None,
        },
        Row {
            name: "file transfer push, file_transfer on (RFC 5547 §9.1 Fig. 8)",
            offer: "v=0
o=alice 2890844526 2890844526 IN IP4 alicepc.example.com
s=
c=IN IP4 alicepc.example.com
t=0 0
m=message 7654 TCP/MSRP *
i=This is my latest picture
a=sendonly
a=accept-types:message/cpim
a=accept-wrapped-types:*
a=path:msrp://alicepc.example.com:7654/jshA7we;tcp
a=file-selector:name:\"My cool picture.jpg\" type:image/jpeg size:4092 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E
a=file-transfer-id:Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE
a=file-disposition:render
a=file-date:creation:\"Mon, 15 May 2006 15:01:31 +0300\"
a=file-icon:cid:id2@alicepc.example.com
",
            policy: files,
            // 5547-012: no file-icon, file-disposition or file-date in the answer.
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=recvonly
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
a=file-selector:name:\"My cool picture.jpg\" type:image/jpeg size:4092 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E
a=file-transfer-id:Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE
",
            ),
            check: Some(|a| {
                let m = accepted(a, 0);
                assert_eq!(m.direction, Direction::RecvOnly);
                assert!(
                    m.peer_accept_wrapped_types
                        .as_ref()
                        .is_some_and(|w| w.accepts("image/jpeg"))
                );
            }),
        },
        Row {
            name: "file transfer push, file_transfer off",
            offer: "v=0
o=alice 2890844526 2890844526 IN IP4 alicepc.example.com
s=
c=IN IP4 alicepc.example.com
t=0 0
m=message 7654 TCP/MSRP *
a=sendonly
a=accept-types:message/cpim
a=accept-wrapped-types:*
a=path:msrp://alicepc.example.com:7654/jshA7we;tcp
a=file-selector:name:\"My cool picture.jpg\" type:image/jpeg size:4092 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E
a=file-transfer-id:Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE
",
            policy: plain,
            expect: Expect::Reject(
                488,
                "m-line 0: file transfer (a=file-selector, RFC 5547) is not accepted",
            ),
            check: None,
        },
        Row {
            name: "file transfer pull (recvonly), file_transfer on (RFC 5547 §9.2 Fig. 15)",
            offer: "v=0
o=alice 2890844526 2890844526 IN IP4 alicepc.example.com
s=
c=IN IP4 alicepc.example.com
t=0 0
m=message 7654 TCP/MSRP *
a=recvonly
a=accept-types:message/cpim
a=accept-wrapped-types:*
a=path:msrp://alicepc.example.com:7654/jshA7we;tcp
a=file-selector:hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E
a=file-transfer-id:aCQYuBRVoUPGVsFZkCK98vzcX2FXDIk2
",
            policy: files,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=sendonly
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
a=file-selector:hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E
a=file-transfer-id:aCQYuBRVoUPGVsFZkCK98vzcX2FXDIk2
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).direction, Direction::SendOnly)),
        },
        Row {
            name: "chat + file m-lines, file_transfer off: file m-line refused, keeps file-selector/id (5547-007)",
            offer: "v=0
o=alice 2890844526 2890844526 IN IP4 alicepc.example.com
s=-
c=IN IP4 alicepc.example.com
t=0 0
m=message 7654 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://alicepc.example.com:7654/chat1;tcp
a=setup:actpass
m=message 7654 TCP/MSRP *
a=sendonly
a=accept-types:message/cpim
a=path:msrp://alicepc.example.com:7654/file1;tcp
a=setup:actpass
a=file-selector:type:image/jpeg size:4092 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E
a=file-transfer-id:Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
m=message 0 TCP/MSRP *
a=file-selector:type:image/jpeg size:4092 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E
a=file-transfer-id:Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE
",
            ),
            check: Some(|a| {
                accepted(a, 0);
                assert!(refused(a, 1).contains("file transfer"));
            }),
        },
        Row {
            name: "two m=message lines, only the second acceptable",
            offer: "v=0
o=- 4334 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7001 TCP/MSRP *
a=accept-types:image/jpeg image/png
a=path:msrp://client.example.org:7001/img;tcp
a=setup:actpass
m=message 7002 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7002/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 0 TCP/MSRP *
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| {
                assert!(refused(a, 0).contains("4975-107"));
                assert_eq!(a.accepted().map(|(i, _)| i).collect::<Vec<_>>(), vec![1]);
                assert_eq!(
                    accepted(a, 1).peer_path,
                    vec![uri("msrp://client.example.org:7002/txt;tcp")]
                );
            }),
        },
        Row {
            name: "two acceptable m=message lines: only the first is accepted (4975-100)",
            offer: "v=0
o=- 4335 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7001 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7001/one;tcp
a=setup:actpass
m=message 7002 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7002/two;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
m=message 0 TCP/MSRP *
",
            ),
            check: Some(|a| assert!(refused(a, 1).contains("4975-100"))),
        },
        Row {
            name: "audio m-line next to a message one",
            offer: "v=0
o=- 4336 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=audio 49170 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
m=message 7003 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=audio 0 RTP/AVP 0 8
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert!(refused(a, 0).contains("audio is not message"))),
        },
        Row {
            name: "audio only",
            offer: "v=0
o=- 4337 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=audio 49170 RTP/AVP 0
",
            policy: plain,
            expect: Expect::Reject(488, "m-line 0: media type audio is not message"),
            check: None,
        },
        Row {
            name: "missing a=path",
            offer: "v=0
o=- 4338 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:text/plain
a=setup:actpass
",
            policy: plain,
            expect: Expect::Reject(488, "m-line 0: no a=path (4975-098)"),
            check: None,
        },
        Row {
            name: "missing a=accept-types",
            offer: "v=0
o=- 4339 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Reject(488, "m-line 0: no a=accept-types (4975-103)"),
            check: None,
        },
        Row {
            name: "path URI without a port (4975-098)",
            offer: "v=0
o=- 4340 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org/txt;tcp
",
            policy: plain,
            expect: Expect::Reject(488, "m-line 0: a=path: URI msrp://client.example.org/txt;tcp has no explicit port"),
            check: None,
        },
        Row {
            name: "malformed a=max-size",
            offer: "v=0
o=- 4341 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:text/plain
a=max-size:lots
a=path:msrp://client.example.org:7003/txt;tcp
",
            policy: plain,
            expect: Expect::Reject(488, "m-line 0: a=max-size: not a decimal number"),
            check: None,
        },
        Row {
            name: "no common type",
            offer: "v=0
o=- 4342 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:image/* application/octet-stream
a=path:msrp://client.example.org:7003/txt;tcp
",
            policy: plain,
            expect: Expect::Reject(
                488,
                "m-line 0: no type in a=accept-types is acceptable (4975-107)",
            ),
            check: None,
        },
        Row {
            name: "wildcard accept-types:*",
            offer: "v=0
o=- 4343 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:*
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert!(accepted(a, 0).peer_accept_types.accepts("image/png"))),
        },
        Row {
            name: "wildcard accept-types:text/* offered",
            offer: "v=0
o=- 4344 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:text/*
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: None,
        },
        Row {
            name: "our text/* against offered text/html;charset=utf-8 (4975-109)",
            offer: "v=0
o=- 4345 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:text/html;charset=utf-8
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: text_wildcard,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:text/*
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: None,
        },
        Row {
            name: "our text/* against offered message/cpim only",
            offer: "v=0
o=- 4346 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:message/cpim
a=path:msrp://client.example.org:7003/txt;tcp
",
            policy: text_wildcard,
            expect: Expect::Reject(488, "4975-107"),
            check: None,
        },
        Row {
            name: "setup active -> passive",
            offer: "v=0
o=- 4347 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 9 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:active
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).role, Role::Passive)),
        },
        Row {
            name: "setup holdconn is treated as absent (6135-002) -> passive",
            offer: "v=0
o=- 4348 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:holdconn
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).role, Role::Passive)),
        },
        Row {
            name: "session-level a=setup:passive is inherited -> active",
            offer: "v=0
o=- 4349 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
a=setup:passive
m=message 7003 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:active
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).role, Role::Active)),
        },
        Row {
            name: "sendonly -> recvonly",
            offer: "v=0
o=- 4350 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=sendonly
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=recvonly
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).direction, Direction::RecvOnly)),
        },
        Row {
            name: "recvonly -> sendonly",
            offer: "v=0
o=- 4351 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=recvonly
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=sendonly
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).direction, Direction::SendOnly)),
        },
        Row {
            name: "inactive -> inactive",
            offer: "v=0
o=- 4352 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=inactive
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=inactive
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: Some(|a| assert_eq!(accepted(a, 0).direction, Direction::Inactive)),
        },
        Row {
            name: "explicit sendrecv is echoed",
            offer: "v=0
o=- 4353 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 TCP/MSRP *
a=sendrecv
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=sendrecv
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: None,
        },
        Row {
            name: "offered port 0 alone",
            offer: "v=0
o=- 4354 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 0 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
",
            policy: plain,
            expect: Expect::Reject(488, "m-line 0: offered with port 0 (3264-010)"),
            check: None,
        },
        Row {
            name: "offered port 0 next to an accepted m-line; t= copied (3264-002)",
            offer: "v=0
o=- 4355 2 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=3034423619 3042462419
m=message 0 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7001/old;tcp
m=message 7003 TCP/MSRP *
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=3034423619 3042462419
m=message 0 TCP/MSRP *
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: None,
        },
        Row {
            name: "lower-case proto tcp/msrp is MSRP, answered in canonical case",
            offer: "v=0
o=- 4356 1 IN IP4 client.example.org
s=-
c=IN IP4 client.example.org
t=0 0
m=message 7003 tcp/msrp *
a=accept-types:text/plain
a=path:msrp://client.example.org:7003/txt;tcp
a=setup:actpass
",
            policy: plain,
            expect: Expect::Answer(
                "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:msrp://msrpd.example.net:2855/rs8dk2;tcp
a=setup:passive
",
            ),
            check: None,
        },
        Row {
            name: "no m-line",
            offer: "v=0
o=- 4357 1 IN IP4 client.example.org
s=-
t=0 0
",
            policy: plain,
            expect: Expect::Reject(488, "offer has no m-line"),
            check: None,
        },
    ]
}

/// Runs one row; returns the answer if there is one.
fn run(row: &Row) -> Option<Answer> {
    let offer = parse(&crlf(row.offer));
    let result = negotiate(&offer, &(row.policy)());
    match (&row.expect, result) {
        (Expect::Answer(want), Ok(answer)) => {
            let got = String::from_utf8(answer.to_bytes()).expect("UTF-8 answer");
            assert_eq!(got, crlf(want), "row {:?}: answer differs", row.name);
            assert_eq!(
                answer.media.len(),
                offer.medias.len(),
                "row {:?}: one outcome per m-line (3264-001)",
                row.name
            );
            if let Some(check) = row.check {
                check(&answer);
            }
            Some(answer)
        }
        (Expect::Reject(status, reason), Err(reject)) => {
            assert_eq!(reject.sip_status, *status, "row {:?}: {reject}", row.name);
            assert!(
                reject.reason.contains(reason),
                "row {:?}: reason {:?} lacks {:?}",
                row.name,
                reject.reason,
                reason
            );
            None
        }
        (Expect::Answer(_), Err(reject)) => panic!("row {:?}: rejected: {reject}", row.name),
        (Expect::Reject(..), Ok(answer)) => panic!(
            "row {:?}: answered:\n{}",
            row.name,
            String::from_utf8_lossy(&answer.to_bytes())
        ),
    }
}

#[test]
fn negotiation_table() {
    let rows = rows();
    assert!(rows.len() >= 30);
    for row in &rows {
        run(row);
    }
}

/// Every answer of the table parses back with sdp-types to the same model, and its MSRP m-lines
/// convert with `MsrpMedia::from_media`: accepted ones carry our path, our setup and the
/// m-line port of our last path URI (4975-097); refused ones have port 0 (3264-003).
#[test]
fn answers_parse_back() {
    let mut answers = 0;
    for row in rows() {
        let Some(answer) = run(&row) else { continue };
        answers += 1;
        let policy = (row.policy)();
        let bytes = answer.to_bytes();
        let back = Session::parse(&bytes)
            .unwrap_or_else(|e| panic!("row {:?}: answer does not parse: {e}", row.name));
        assert_eq!(back, answer.session, "row {:?}", row.name);
        for (i, (media, outcome)) in back.medias.iter().zip(&answer.media).enumerate() {
            let typed = MsrpMedia::from_media(&back, media)
                .unwrap_or_else(|e| panic!("row {:?} m-line {i}: {e}", row.name));
            match outcome {
                MediaOutcome::Accepted(acc) => {
                    let m = typed.unwrap_or_else(|| panic!("row {:?} m-line {i}", row.name));
                    assert_eq!(m.proto, acc.proto);
                    assert_eq!(m.port, policy.path.last().unwrap().port().unwrap());
                    assert_eq!(m.path.map(|p| p.0), Some(policy.path.clone()));
                    assert!(m.accept_types.is_some());
                    let want_setup = match acc.role {
                        Role::Active => Setup::Active,
                        Role::Passive => Setup::Passive,
                    };
                    assert_eq!(m.setup, Some(want_setup), "row {:?}", row.name);
                    assert_eq!(m.direction, acc.direction);
                    assert_eq!(m.cema, acc.cema);
                    assert_eq!(m.chatroom, policy.chat_room);
                }
                MediaOutcome::Refused { .. } => {
                    assert_eq!(media.port, 0, "row {:?} m-line {i}", row.name);
                }
            }
        }
    }
    assert!(answers >= 20, "only {answers} answers");
}

/// RFC 4975 §8.2 Fig. 7 offer against the plain policy.
#[test]
fn rfc4975_fig7_offer() {
    let offer = Session::parse(&vector("rfc4975-s8.2-fig7-offer.sdp")).unwrap();
    let answer = negotiate(&offer, &plain()).unwrap();
    assert_eq!(
        String::from_utf8(answer.to_bytes()).unwrap(),
        crlf(&format!(
            "{PLAIN_HEAD}m=message 2855 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=path:{OUR_URI}
a=setup:passive
"
        ))
    );
    let m = accepted(&answer, 0);
    assert_eq!(
        m.peer_path,
        vec![uri("msrp://alice.example.com:7394/2s93i9ek2a;tcp")]
    );
    // The offer accepts only text/plain: that is all we may send (4975-106).
    assert!(m.peer_accept_types.accepts("text/plain"));
    assert!(!m.peer_accept_types.accepts("message/cpim"));

    // The same offer to a chat room: no message/cpim, refused (7701-002).
    let reject = negotiate(&offer, &chat_room()).unwrap_err();
    assert_eq!(reject.sip_status, 488);
    assert!(reject.reason.contains("message/cpim"), "{reject}");
}

/// RFC 7701 §9.1: the F1 offer to the focus of F2 gives F2's m-line, `c=`, `s=` and attributes,
/// plus the `a=setup:passive` that RFC 6135 requires (6135-001) and F2 predates. `o=` differs
/// only in the username (`-`, ours; `chat` in F2: the policy sets F2's id and version), and
/// `t=`: F1 has none, so the answer has none in the model and the writer puts `t=0 0` (F2 has
/// no `t=` line).
#[test]
fn rfc7701_f1_offer_gives_f2_answer() {
    let offer = Session::parse(&vector("rfc7701-s9.1-F1-invite-offer.sdp")).unwrap();
    let f2 = Session::parse(&vector("rfc7701-s9.1-F2-200-answer.sdp")).unwrap();
    let answer = negotiate(&offer, &chat_room()).unwrap();
    let ours = &answer.session;

    assert_eq!(ours.medias.len(), 1);
    let (m, want) = (&ours.medias[0], &f2.medias[0]);
    assert_eq!(
        (&m.media, m.port, &m.proto, &m.fmt),
        (&want.media, want.port, &want.proto, &want.fmt)
    );
    assert_eq!(ours.connection, f2.connection);
    assert_eq!(ours.session_name, f2.session_name);
    assert_eq!(ours.attributes, f2.attributes);

    // o=: all but the username.
    let mut origin = f2.origin.clone();
    origin.username = None;
    assert_eq!(ours.origin, origin);
    // t=: copied from the offer (3264-002), which has none, like F2.
    assert!(offer.times.is_empty() && f2.times.is_empty() && ours.times.is_empty());

    let setup: Vec<_> = m
        .attributes
        .iter()
        .filter(|a| a.attribute == "setup")
        .collect();
    assert_eq!(setup.len(), 1);
    assert_eq!(setup[0].value.as_deref(), Some("passive"));
    let without_setup: Vec<_> = m
        .attributes
        .iter()
        .filter(|a| a.attribute != "setup")
        .cloned()
        .collect();
    assert_eq!(without_setup, want.attributes);

    let acc = accepted(&answer, 0);
    assert_eq!(acc.role, Role::Passive);
    assert!(acc.peer_chatroom.as_ref().is_some_and(|c| c.nickname));
    assert_eq!(
        acc.peer_path,
        vec![uri(
            "msrp://client.atlanta.example.com:7654/jshA7weztas;tcp"
        )]
    );
}

/// An offer made with [`OfferBuilder`] and negotiated gives the expected answer; the offer text
/// itself is checked too.
#[test]
fn builder_offer_negotiates() {
    let offer = OfferBuilder::new(vec![
        uri("msrp://relay.example.org:2855/ye3l;tcp"),
        uri("msrp://client.example.com:7777/8hdy3;tcp"),
    ])
    .origin(77, 3)
    .accept_types(types("message/cpim text/plain"))
    .accept_wrapped_types(types("text/plain text/html"))
    .max_size(4096)
    .cema(true)
    .chatroom(Chatroom {
        nickname: true,
        private_messages: false,
        extensions: Vec::new(),
    });
    assert_eq!(
        String::from_utf8(offer.build()).unwrap(),
        crlf(
            "v=0
o=- 77 3 IN IP4 client.example.com
s=-
c=IN IP4 client.example.com
t=0 0
m=message 7777 TCP/MSRP *
a=accept-types:message/cpim text/plain
a=accept-wrapped-types:text/plain text/html
a=max-size:4096
a=path:msrp://relay.example.org:2855/ye3l;tcp msrp://client.example.com:7777/8hdy3;tcp
a=setup:actpass
a=msrp-cema
a=chatroom:nickname
"
        )
    );
    // What is written parses back to the same model.
    assert_eq!(
        Session::parse(&offer.build()).unwrap(),
        offer.build_session()
    );

    let answer = negotiate(&offer.build_session(), &chat_room()).unwrap();
    assert_eq!(
        String::from_utf8(answer.to_bytes()).unwrap(),
        crlf(
            "v=0
o=- 2890844527 2890844527 IN IP4 chat.example.com
s=-
c=IN IP4 chat.example.com
t=0 0
m=message 12763 TCP/MSRP *
a=accept-types:message/cpim
a=accept-wrapped-types:text/plain text/html *
a=path:msrp://chat.example.com:12763/kjhd37s2s20w2a;tcp
a=setup:passive
a=msrp-cema
a=chatroom:nickname private-messages
"
        )
    );
    let acc = accepted(&answer, 0);
    assert_eq!(acc.peer_max_size, Some(4096));
    assert!(acc.cema);
    assert_eq!(acc.peer_path.len(), 2);
}

/// A TLS file-transfer push built with [`OfferBuilder`]: the proto follows the `msrps` URI,
/// the direction and file attributes are written, and the answer mirrors them.
#[test]
fn builder_file_push_over_tls() {
    let selector = FileSelector::parse_value(Some(
        "name:\"a.txt\" type:text/plain size:12 hash:sha-1:72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E",
    ))
    .unwrap();
    let offer = OfferBuilder::new(vec![uri("msrps://[2001:db8::9]:7000/ft1;tcp")])
        .setup(Setup::Active)
        .direction(Direction::SendOnly)
        .fingerprint(Fingerprint {
            hash: "SHA-256".to_owned(),
            value: "AB:CD".to_owned(),
        })
        .file_selector(selector.clone())
        .file_transfer_id(FileTransferId("fti42".to_owned()))
        .build_session();
    assert_eq!(offer.medias[0].proto, "TCP/TLS/MSRP");
    assert_eq!(offer.medias[0].port, 7000);
    assert_eq!(
        offer.connection.as_ref().unwrap().connection_address,
        "2001:db8::9"
    );

    let policy = Policy {
        file_transfer: true,
        ..tls()
    };
    let answer = negotiate(&offer, &policy).unwrap();
    let text = String::from_utf8(answer.to_bytes()).unwrap();
    assert_eq!(
        text,
        crlf(&format!(
            "v=0
o=- 1000 1 IN IP4 msrpd.example.net
s=-
c=IN IP4 msrpd.example.net
t=0 0
m=message 2856 TCP/TLS/MSRP *
a=recvonly
a=accept-types:message/cpim text/plain
a=path:{OUR_TLS_URI}
a=setup:passive
a=fingerprint:SHA-1 {OUR_FP}
a=file-selector:{}
a=file-transfer-id:fti42
",
            selector.to_value().unwrap()
        ))
    );
    let acc = accepted(&answer, 0);
    assert_eq!(acc.peer_fingerprints.len(), 1);
    assert_eq!(acc.peer_fingerprints[0].hash, "SHA-256");
}

/// A policy without a usable own URI is a server error, not a 488.
#[test]
fn unusable_policy_is_500() {
    let offer = parse(&crlf(rows()[0].offer));
    let empty = Policy {
        path: Vec::new(),
        ..plain()
    };
    assert_eq!(
        negotiate(&offer, &empty),
        Err(Reject {
            sip_status: 500,
            reason: "policy has no a=path URI".to_owned()
        })
    );
    let no_port = Policy {
        path: vec![uri("msrp://msrpd.example.net/x;tcp")],
        ..plain()
    };
    assert_eq!(negotiate(&offer, &no_port).unwrap_err().sip_status, 500);
}

/// The same offer and policy give the same answer (a pure function).
#[test]
fn negotiate_is_deterministic() {
    for row in rows() {
        let offer = parse(&crlf(row.offer));
        let policy = (row.policy)();
        assert_eq!(negotiate(&offer, &policy), negotiate(&offer, &policy));
    }
}

/// An RFC vector from `sdp/tests/vectors/`.
fn vector(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
