//! Joining a room by SDP offer/answer (RFC 7701 §5.2, RFC 4975 §8, RFC 6135): the room's answer
//! to a participant's offer, and what the participant's MSRP session agreed on.
//!
//! The answer is [`msrp_sdp::negotiate()`] in chat-room mode: our `a=path` (the session URI the
//! mixer issued for this participant, last), `a=accept-types:message/cpim` alone (7701-003), the
//! room's `a=chatroom` (7701-005), `a=max-size` from the room's message size limit (4975-108),
//! and `a=setup` per RFC 6135. An offer whose m-line does not accept `message/cpim` is refused
//! (7701-002): the whole offer with 488 when it has no other acceptable MSRP m-line.

use msrp::MsrpUri;
use msrp_sdp::attr::{AcceptTypes, AcceptWrappedTypes, Chatroom};
use msrp_sdp::sdp_types::Session;
use msrp_sdp::{Answer, Policy, Proto, Role};

use crate::config::RoomPolicy;

/// Why an offer could not join the room.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// The offer is not SDP (RFC 8866); a SIP layer answers 400, the control API 400.
    #[error("offer is not valid SDP: {0}")]
    Sdp(String),
    /// The offer holds no acceptable MSRP session (e.g. no `message/cpim`, 7701-002): SIP 488
    /// (or 500 for an unusable own path), with why.
    #[error("offer refused ({status}): {reason}")]
    Refused {
        /// The SIP status for the answer to the offer.
        status: u16,
        /// Why, naming the attribute or rule.
        reason: String,
    },
}

/// What a participant's session agreed on at join: what the switch needs to serve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTerms {
    /// Our session URI, the last URI of our `a=path` (RFC 4975 §8.2): requests to the
    /// participant's session arrive with it last in their To-Path.
    pub local: MsrpUri,
    /// The participant's `a=path`: its first URI is where the mixer connects when it is active
    /// (4975-101), its last one the participant's own session URI.
    pub peer_path: Vec<MsrpUri>,
    /// Who opens the connection (RFC 6135): `Active` = the mixer.
    pub role: Role,
    /// The participant's `a=accept-types`.
    pub accept_types: AcceptTypes,
    /// The participant's `a=accept-wrapped-types` (7701-004, 7701-015), if it sent one.
    pub accept_wrapped_types: Option<AcceptWrappedTypes>,
    /// The participant declared the `private-messages` chat-token: it may get private messages
    /// (RFC 7701 §5.2; one sent to a session without it is answered 428, 7701-021).
    pub private_messages: bool,
    /// The participant declared the `nickname` chat-token.
    pub nicknames: bool,
    /// The participant's `a=max-size` (4975-108): larger messages are not sent to it.
    pub max_size: Option<u64>,
}

impl SessionTerms {
    /// Whether a message whose CPIM body wraps `essence` (e.g. `text/plain`) may be copied to
    /// this participant (7701-015; RFC 4975 §8.6, 4975-106: a wrapped type must be in its
    /// accept-types or accept-wrapped-types).
    pub fn accepts_wrapped(&self, essence: &str) -> bool {
        self.accept_types.accepts(essence)
            || self
                .accept_wrapped_types
                .as_ref()
                .is_some_and(|w| w.accepts(essence))
    }
}

/// The room's chat-room declaration for its answers (7701-005): `nickname` and
/// `private-messages` as its policy allows.
pub fn chatroom_of(policy: &RoomPolicy) -> Chatroom {
    Chatroom {
        nickname: policy.nicknames,
        private_messages: policy.private_messages,
        extensions: Vec::new(),
    }
}

/// Answers `offer` (SDP text) for a participant of a room with `policy`, whose session URI is
/// `local` (issued by the mixer; it needs an explicit port, 4975-098). `origin` is the answer's
/// `o=` session id and version (RFC 3264 §6). Returns the answer SDP and the terms of the one
/// MSRP session it accepted.
///
/// `local_tls` is the session's `msrps` URI when the mixer is served on a TLS listener too: an
/// offer whose first MSRP m-line is `TCP/TLS/MSRP` is answered with it (RFC 4975 §14, the path
/// names the TLS listener), one with `TCP/MSRP` with `local`. Without `local_tls` a TLS offer is
/// refused (488), as is a TLS session in which the mixer would have to open the connection
/// (it opens plain TCP only).
pub fn answer(
    policy: &RoomPolicy,
    local: &MsrpUri,
    local_tls: Option<&MsrpUri>,
    offer: &[u8],
    origin: (u64, u64),
) -> Result<(Answer, SessionTerms), JoinError> {
    let offer = Session::parse(offer).map_err(|e| JoinError::Sdp(e.to_string()))?;
    let wants_tls =
        offer
            .medias
            .iter()
            .find_map(|m| match msrp_sdp::MsrpMedia::from_media(&offer, m) {
                Ok(Some(mm)) if mm.port != 0 => match mm.proto {
                    Proto::TcpMsrp => Some(false),
                    Proto::TcpTlsMsrp => Some(true),
                    _ => None,
                },
                _ => None,
            })
            == Some(true);
    let (local, protos) = match (wants_tls, local_tls) {
        (true, Some(tls)) => (tls, vec![Proto::TcpTlsMsrp]),
        _ => (local, vec![Proto::TcpMsrp]),
    };
    let mut p = Policy::new(vec![local.clone()]);
    p.protos = protos;
    p.origin_session_id = origin.0;
    p.origin_session_version = origin.1;
    p.chat_room = Some(chatroom_of(policy));
    p.max_size = Some(policy.max_message_size);
    let answer = msrp_sdp::negotiate(&offer, &p).map_err(|r| JoinError::Refused {
        status: r.sip_status,
        reason: r.reason,
    })?;
    let (_, media) = answer.accepted().next().ok_or_else(|| JoinError::Refused {
        status: 488,
        reason: "no MSRP m-line accepted".to_owned(),
    })?;
    if local.is_secure() && media.role == Role::Active {
        return Err(JoinError::Refused {
            status: 488,
            reason: "the mixer cannot open TLS connections: offer a=setup:active or actpass"
                .to_owned(),
        });
    }
    let chatroom = media.peer_chatroom.clone().unwrap_or_default();
    let terms = SessionTerms {
        local: local.clone(),
        peer_path: media.peer_path.clone(),
        role: media.role,
        accept_types: media.peer_accept_types.clone(),
        accept_wrapped_types: media.peer_accept_wrapped_types.clone(),
        private_messages: chatroom.private_messages,
        nicknames: chatroom.nickname,
        max_size: media.peer_max_size,
    };
    Ok((answer, terms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> MsrpUri {
        s.parse().expect("uri")
    }

    const OFFER: &str = "v=0\r\n\
        o=alice 2890844526 2890844527 IN IP4 client.atlanta.example.com\r\n\
        s=-\r\n\
        c=IN IP4 client.atlanta.example.com\r\n\
        t=0 0\r\n\
        m=message 7654 TCP/MSRP *\r\n\
        a=accept-types:message/cpim text/plain\r\n\
        a=accept-wrapped-types:text/plain application/im-iscomposing+xml\r\n\
        a=path:msrp://client.atlanta.example.com:7654/jshA7weztas;tcp\r\n\
        a=chatroom:nickname private-messages\r\n";

    /// 7701-003/005: the answer says `accept-types:message/cpim` alone, our path, the room's
    /// chatroom tokens and max-size; the terms carry the participant's wrapped types and
    /// chat-tokens.
    #[test]
    fn answer_to_a_chat_offer() {
        let local = uri("msrp://chat.example.com:2855/s3ss10n;tcp");
        let policy = RoomPolicy {
            private_messages: false,
            ..RoomPolicy::default()
        };
        let (a, t) = answer(&policy, &local, None, OFFER.as_bytes(), (7, 1)).expect("accepted");
        let text = String::from_utf8(a.to_bytes()).expect("utf-8");
        assert!(text.contains("a=accept-types:message/cpim\r\n"), "{text}");
        assert!(
            text.contains("a=path:msrp://chat.example.com:2855/s3ss10n;tcp\r\n"),
            "{text}"
        );
        assert!(text.contains("a=chatroom:nickname\r\n"), "{text}");
        assert!(text.contains("a=max-size:1048576\r\n"), "{text}");
        assert_eq!(t.local, local);
        assert_eq!(t.peer_path.len(), 1);
        assert_eq!(
            t.role,
            Role::Passive,
            "the participant offered actpass/active"
        );
        assert!(t.private_messages && t.nicknames);
        assert!(t.accepts_wrapped("text/plain"));
        assert!(t.accepts_wrapped("application/im-iscomposing+xml"));
        assert!(!t.accepts_wrapped("image/png"));
    }

    /// 7701-002: an offer without message/cpim is refused with 488.
    #[test]
    fn offer_without_cpim_is_refused() {
        let local = uri("msrp://chat.example.com:2855/s3ss10n;tcp");
        let offer = OFFER.replace("message/cpim text/plain", "text/plain");
        let err = answer(
            &RoomPolicy::default(),
            &local,
            None,
            offer.as_bytes(),
            (7, 1),
        )
        .expect_err("refused");
        assert!(
            matches!(&err, JoinError::Refused { status: 488, reason } if reason.contains("cpim")),
            "{err:?}"
        );
        let err =
            answer(&RoomPolicy::default(), &local, None, b"not sdp", (7, 1)).expect_err("bad");
        assert!(matches!(err, JoinError::Sdp(_)), "{err:?}");
    }

    /// RFC 4975 §14: a `TCP/TLS/MSRP` offer is answered with the `msrps` session URI of the TLS
    /// listener when there is one, and refused (488) when there is none or when the mixer would
    /// have to open the TLS connection; a `TCP/MSRP` offer keeps the TCP URI.
    #[test]
    fn tls_offers_get_the_tls_listener() {
        let local = uri("msrp://chat.example.com:2855/s3ss10n;tcp");
        let tls = uri("msrps://chat.example.com:2856/s3ss10n;tcp");
        let tls_offer = OFFER
            .replace("TCP/MSRP", "TCP/TLS/MSRP")
            .replace("msrp://client", "msrps://client");
        let policy = RoomPolicy::default();
        let (a, t) =
            answer(&policy, &local, Some(&tls), tls_offer.as_bytes(), (7, 1)).expect("accepted");
        let text = String::from_utf8(a.to_bytes()).expect("utf-8");
        assert!(text.contains("TCP/TLS/MSRP"), "{text}");
        assert!(
            text.contains("a=path:msrps://chat.example.com:2856/s3ss10n;tcp\r\n"),
            "{text}"
        );
        assert_eq!(t.local, tls);
        let err = answer(&policy, &local, None, tls_offer.as_bytes(), (7, 1)).expect_err("no TLS");
        assert!(
            matches!(err, JoinError::Refused { status: 488, .. }),
            "{err:?}"
        );
        let passive = tls_offer.replace("a=chatroom", "a=setup:passive\r\na=chatroom");
        let err =
            answer(&policy, &local, Some(&tls), passive.as_bytes(), (7, 1)).expect_err("active");
        assert!(
            matches!(&err, JoinError::Refused { status: 488, reason } if reason.contains("TLS")),
            "{err:?}"
        );
        let (_, t) = answer(&policy, &local, Some(&tls), OFFER.as_bytes(), (7, 1)).expect("tcp");
        assert_eq!(t.local, local);
    }
}
