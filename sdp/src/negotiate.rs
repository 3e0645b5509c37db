//! SDP offer/answer for MSRP media: [`negotiate`] turns an offer into an [`Answer`] or a
//! [`Reject`], as a pure function (no I/O, no clock, no randomness: the answer's ids come from
//! the [`Policy`]).
//!
//! The rules, with the RFC sections and the requirement IDs of `CHECKLIST.md` they implement:
//!
//! - One answer m-line per offered m-line, in the same order and with the same media type
//!   (RFC 3264 §6, 3264-001/004). A refused m-line keeps its media and proto, gets port 0 and no
//!   attributes but the offered file-selector and file-transfer-id (3264-003/007, 5547-007); an
//!   offered port 0 is answered with port 0 (3264-010).
//! - An `m=message` line is ours when its proto is an MSRP proto (RFC 4975 §8.1, RFC 7977) that
//!   the policy accepts; it needs `a=path` (4975-098) and `a=accept-types` (4975-103), and a type
//!   both sides accept (4975-107, 4975-109, wildcards both ways); a chat-room focus needs
//!   `message/cpim` (RFC 7701 §5.2, 7701-002) and answers `a=accept-types:message/cpim` alone
//!   (7701-003).
//! - `a=setup` is always sent (RFC 6135 §4.2.1, 6135-001): `passive` to `actpass`, `active`,
//!   `holdconn` or no `a=setup` (6135-002, 4145-003, 6135-004), `active` to `passive` (4145-002).
//! - The m-line port and `c=` come from our own (last) `a=path` URI (4975-097, 4975-099).
//! - Direction is mirrored (RFC 3264 §6.1, 3264-005); `a=fingerprint` is sent on TLS protos
//!   (4975-095); `a=msrp-cema` is echoed when both sides do CEMA (RFC 6714 §5.2, 6714-001);
//!   `a=chatroom` is declared by a focus (RFC 7701 §8, 7701-005..008); an accepted RFC 5547 file
//!   transfer copies `a=file-selector`, `a=file-transfer-id` (5547-005/012) and `a=file-range`
//!   (5547-014).
//! - When no m-line is accepted the whole offer is rejected with SIP 488 and the reasons
//!   (4975-107).

use std::fmt;

use msrp::MsrpUri;
use msrp::uri::Host;
use sdp_types::{AddrType, Connection, Media, NetType, Origin, Session};

use crate::attr::{
    AcceptTypes, AcceptWrappedTypes, Chatroom, Direction, FileSelector, FileTransferId,
    Fingerprint, FormatEntry, MaxSize, MsrpAttribute, MsrpCema, PathAttr, Setup,
};
use crate::media::MsrpMedia;
use crate::proto::Proto;

/// What this answerer accepts and says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Our `a=path` for the session, in order: relay URIs first (if we sit behind relays), our
    /// own session URI last (RFC 4975 §8.2, 4975-099). Its last URI's host/port give `c=` and the
    /// m-line port (4975-097); that URI needs an explicit port (4975-098).
    pub path: Vec<MsrpUri>,
    /// Session id of the answer's `o=` (RFC 3264 §6, 3264-002: the answerer's own); the username
    /// is `-`.
    pub origin_session_id: u64,
    /// Session version of the answer's `o=` (3264-002).
    pub origin_session_version: u64,
    /// Top-level types we accept (our `a=accept-types`, RFC 4975 §8.6, 4975-103), e.g.
    /// `message/cpim text/plain`. Ignored in chat-room mode, which answers `message/cpim` alone.
    pub accept_types: Vec<FormatEntry>,
    /// Types we accept inside containers (our `a=accept-wrapped-types`, 4975-105); empty = the
    /// attribute is not sent.
    pub accept_wrapped_types: Vec<FormatEntry>,
    /// Chat-room focus mode (RFC 7701): `Some(chatroom)` = the offer must accept `message/cpim`
    /// (else that m-line is refused, 7701-002), the answer says `a=accept-types:message/cpim`
    /// alone (7701-003) and advertises this `a=chatroom` (7701-005..008). `None` = plain endpoint.
    pub chat_room: Option<Chatroom>,
    /// Our `a=max-size`, if any (4975-108).
    pub max_size: Option<u64>,
    /// Protos we accept (e.g. TCP/MSRP and TCP/TLS/MSRP); an m-line with another is refused
    /// (port 0).
    pub protos: Vec<Proto>,
    /// Our certificate fingerprint, sent when the accepted proto uses TLS (RFC 4975 §14.4,
    /// 4975-095).
    pub fingerprint: Option<Fingerprint>,
    /// Whether we implement CEMA (RFC 6714): `a=msrp-cema` is echoed when offered (6714-001).
    pub cema: bool,
    /// Whether file-transfer m-lines (RFC 5547: with `a=file-selector`) are accepted; if not they
    /// are refused (port 0).
    pub file_transfer: bool,
}

impl Policy {
    /// A plain-endpoint policy with `path` and the usual defaults: accepts
    /// `message/cpim text/plain`, no wrapped types, no max-size, protos TCP/MSRP and TCP/TLS/MSRP,
    /// no fingerprint, CEMA on, file transfer off, `o=` id and version 0.
    pub fn new(path: Vec<MsrpUri>) -> Policy {
        Policy {
            path,
            origin_session_id: 0,
            origin_session_version: 0,
            accept_types: vec![format_type("message/cpim"), format_type("text/plain")],
            accept_wrapped_types: Vec::new(),
            chat_room: None,
            max_size: None,
            protos: vec![Proto::TcpMsrp, Proto::TcpTlsMsrp],
            fingerprint: None,
            cema: true,
            file_transfer: false,
        }
    }
}

/// Our connection role for an accepted MSRP m-line (RFC 6135 §4.2, 6135-001..004).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We open the connection to the peer's first path URI (4975-101) and send the first SEND at
    /// once (6135-006).
    Active,
    /// We wait for the peer's connection and its first SEND (6135-009).
    Passive,
}

/// The outcome of one offered m-line, in offer order (RFC 3264 §6, 3264-001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    /// The m-line is accepted as an MSRP session.
    Accepted(AcceptedMedia),
    /// Refused with port 0 (3264-003/007), with why.
    Refused {
        /// Why, naming the attribute or rule.
        reason: String,
    },
}

/// What an accepted MSRP m-line agreed on: what the session layer needs to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedMedia {
    /// The proto of the m-line (the offered one, 4975-096).
    pub proto: Proto,
    /// The peer's `a=path` (first URI = where to connect if we are active, 4975-101).
    pub peer_path: Vec<MsrpUri>,
    /// Our connection role (6135-001..004): `Passive` = we wait for the peer's connection and
    /// first SEND.
    pub role: Role,
    /// Types we may send to the peer (its accept-types, 4975-106).
    pub peer_accept_types: AcceptTypes,
    /// Types we may send to the peer inside containers (its accept-wrapped-types, 4975-105/106).
    pub peer_accept_wrapped_types: Option<AcceptWrappedTypes>,
    /// The peer's `a=max-size` (4975-108).
    pub peer_max_size: Option<u64>,
    /// The peer's fingerprints, for checking its certificate when TLS is used (4975-095).
    pub peer_fingerprints: Vec<Fingerprint>,
    /// Our direction in the answer (mirror of the offer's, 3264-005).
    pub direction: Direction,
    /// Whether both sides do CEMA (`a=msrp-cema` offered and answered, RFC 6714).
    pub cema: bool,
    /// The peer's `a=chatroom`, if it sent one (7701-007).
    pub peer_chatroom: Option<Chatroom>,
}

/// The answer to an offer: the SDP document and, per offered m-line, what was agreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer SDP.
    pub session: Session,
    /// One outcome per offered m-line, in offer order (3264-001).
    pub media: Vec<MediaOutcome>,
}

impl Answer {
    /// The SDP text of the answer, every line ending in CRLF (RFC 8866 §5, 8866-002).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.session
            .write(&mut out)
            .expect("writing to a Vec cannot fail");
        out
    }

    /// The accepted m-lines with their index in the offer.
    pub fn accepted(&self) -> impl Iterator<Item = (usize, &AcceptedMedia)> {
        self.media.iter().enumerate().filter_map(|(i, m)| match m {
            MediaOutcome::Accepted(a) => Some((i, a)),
            MediaOutcome::Refused { .. } => None,
        })
    }
}

/// A whole-offer rejection: the SIP status it maps to and why (e.g. 488 "no acceptable
/// m=message line", RFC 3261 §21.4.26, 4975-107).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sip_status} {reason}")]
pub struct Reject {
    /// The SIP status of the response to the offer: 488 when nothing in the offer is acceptable,
    /// 500 when the policy itself is unusable (no own path URI or no port in it).
    pub sip_status: u16,
    /// Why.
    pub reason: String,
}

/// Answers `offer` per `policy` (RFC 3264 §6; RFC 4975 §8; RFC 4145 §4; RFC 6135 §4.2; RFC 6714;
/// RFC 7701 §5.2/§8; RFC 7977; RFC 5547 §8). Pure: the same inputs give the same answer.
///
/// Each offered m-line is answered in order (3264-001/004):
/// - refused (port 0, proto kept, no attributes, 3264-003) when it is not `message`, was offered
///   with port 0 (3264-010), has a proto that is not MSRP or not in [`Policy::protos`], has a
///   malformed MSRP attribute, lacks `a=path` (4975-098) or `a=accept-types` (4975-103), shares
///   no type with us (4975-107), lacks `message/cpim` in chat-room mode (7701-002), is a file
///   transfer while [`Policy::file_transfer`] is off, or comes after an already accepted MSRP
///   m-line (our `a=path` is for one session only, 4975-100);
/// - accepted otherwise, with our `a=path`, `a=accept-types`, `a=setup` and the rest (see the
///   module docs).
///
/// Two refinements of the agreed rules, each required by an RFC:
/// - a refused `m=message` line still carries the offered `a=file-selector` and
///   `a=file-transfer-id` (RFC 5547 §8.1, 5547-007);
/// - a refused m-line whose proto is not MSRP keeps its offered format list (RFC 8866 §5.14:
///   for RTP/AVP the formats are payload type numbers, so `*` would be malformed); MSRP ones get
///   `*` (4975-096).
///
/// Errors: [`Reject`] with 488 when no m-line is accepted (the reason lists every m-line's), or
/// 500 when [`Policy::path`] is empty or its last URI has no port.
pub fn negotiate(offer: &Session, policy: &Policy) -> Result<Answer, Reject> {
    let Some(own) = policy.path.last() else {
        return Err(Reject {
            sip_status: 500,
            reason: "policy has no a=path URI".to_owned(),
        });
    };
    let Some(port) = own.port() else {
        return Err(Reject {
            sip_status: 500,
            reason: format!("policy's own path URI {own} has no port (4975-098)"),
        });
    };
    if offer.medias.is_empty() {
        return Err(Reject {
            sip_status: 488,
            reason: "offer has no m-line".to_owned(),
        });
    }
    let (addrtype, host) = host_of(own);

    let mut medias = Vec::with_capacity(offer.medias.len());
    let mut outcomes = Vec::with_capacity(offer.medias.len());
    let mut accepted_one = false;
    for media in &offer.medias {
        match answer_media(offer, media, policy, port, accepted_one) {
            Ok((answer, accepted)) => {
                accepted_one = true;
                medias.push(answer);
                outcomes.push(MediaOutcome::Accepted(accepted));
            }
            Err(reason) => {
                medias.push(refused(media));
                outcomes.push(MediaOutcome::Refused { reason });
            }
        }
    }

    if !accepted_one {
        let reasons: Vec<String> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                MediaOutcome::Refused { reason } => Some(format!("m-line {i}: {reason}")),
                MediaOutcome::Accepted(_) => None,
            })
            .collect();
        return Err(Reject {
            sip_status: 488,
            reason: format!("no acceptable m=message line ({})", reasons.join("; ")),
        });
    }

    let mut session = Session::new(
        Origin {
            username: None,
            sess_id: policy.origin_session_id.to_string(),
            sess_version: policy.origin_session_version,
            nettype: NetType::In,
            addrtype: addrtype.clone(),
            unicast_address: host.clone(),
        },
        "-",
    );
    session.connection = Some(Connection::new(NetType::In, addrtype, host));
    // RFC 3264 §6 (3264-002): the answer's t= equals the offer's. An offer without t= gets
    // `t=0 0` from the writer.
    session.times = offer.times.clone();
    session.medias = medias;
    Ok(Answer {
        session,
        media: outcomes,
    })
}

/// `c=`/`o=` address type and address for a URI's host: `IP6` and the bare address for an IPv6
/// literal, `IP4` otherwise (a name is written as is, RFC 8866 §5.7; 4975-097).
pub(crate) fn host_of(uri: &MsrpUri) -> (AddrType, String) {
    match uri.host() {
        Host::V6(a) => (AddrType::Ip6, a.to_string()),
        Host::V4(a) => (AddrType::Ip4, a.to_string()),
        Host::Name(n) => (AddrType::Ip4, n.to_owned()),
    }
}

/// An accept-types entry for a plain `type/subtype` (lower-case, no parameters).
pub(crate) fn format_type(essence: &str) -> FormatEntry {
    FormatEntry::Type {
        essence: essence.to_owned(),
        text: essence.to_owned(),
    }
}

/// The offered direction of `media` (media level, else session level, else `sendrecv`) and
/// whether the offer wrote it (RFC 3264 §5.1/§6.1).
fn offered_direction(session: &Session, media: &Media) -> (Direction, bool) {
    match Direction::find(&media.attributes).or_else(|| Direction::find(&session.attributes)) {
        Some(d) => (d, true),
        None => (Direction::SendRecv, false),
    }
}

fn has_attr(media: &Media, name: &str) -> bool {
    media
        .attributes
        .iter()
        .any(|a| a.attribute.eq_ignore_ascii_case(name))
}

/// The answer m-line of a refused offered m-line: same media and proto, port 0 (3264-003/010).
fn refused(offered: &Media) -> Media {
    let is_msrp = Proto::parse(&offered.proto).is_some();
    let fmt = if is_msrp || offered.fmt.trim().is_empty() {
        "*".to_owned()
    } else {
        offered.fmt.clone()
    };
    let mut m = Media {
        media: offered.media.clone(),
        port: 0,
        num_ports: None,
        proto: offered.proto.clone(),
        fmt,
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes: Vec::new(),
    };
    if offered.media.eq_ignore_ascii_case("message") {
        // RFC 5547 §8.1 (5547-007): a rejecting answer still carries the offered file-selector
        // and file-transfer-id.
        m.attributes.extend(
            offered
                .attributes
                .iter()
                .filter(|a| {
                    a.attribute.eq_ignore_ascii_case(FileSelector::NAME)
                        || a.attribute.eq_ignore_ascii_case(FileTransferId::NAME)
                })
                .cloned(),
        );
    }
    m
}

/// Answers one offered m-line, or says why it is refused.
fn answer_media(
    offer: &Session,
    offered: &Media,
    policy: &Policy,
    port: u16,
    accepted_one: bool,
) -> Result<(Media, AcceptedMedia), String> {
    // RFC 3264 §6.1 (3264-004): only m=message can be answered with m=message.
    if !offered.media.eq_ignore_ascii_case("message") {
        return Err(format!(
            "media type {} is not message (RFC 4975 §8.1)",
            offered.media
        ));
    }
    // RFC 3264 §8.2 (3264-010).
    if offered.port == 0 {
        return Err("offered with port 0 (3264-010)".to_owned());
    }
    let Some(proto) = Proto::parse(&offered.proto) else {
        return Err(format!(
            "proto {} is not an MSRP proto (4975-096)",
            offered.proto
        ));
    };
    if !policy.protos.contains(&proto) {
        return Err(format!("proto {} is not accepted here", proto.as_str()));
    }
    let file_transfer = has_attr(offered, FileSelector::NAME);
    if file_transfer && !policy.file_transfer {
        return Err("file transfer (a=file-selector, RFC 5547) is not accepted here".to_owned());
    }
    let m = match MsrpMedia::from_media(offer, offered) {
        Ok(Some(m)) => m,
        Ok(None) => return Err("not an MSRP m-line".to_owned()),
        Err(e) => return Err(e.to_string()),
    };
    let Some(peer_path) = m.path else {
        return Err("no a=path (4975-098)".to_owned());
    };
    let Some(peer_types) = m.accept_types else {
        return Err("no a=accept-types (4975-103)".to_owned());
    };

    // RFC 7701 §5.2 (7701-002/003), RFC 4975 §8.6 (4975-107).
    let our_types = match &policy.chat_room {
        Some(_) => {
            if !peer_types.accepts("message/cpim") {
                return Err("a=accept-types lacks message/cpim (7701-002)".to_owned());
            }
            vec![format_type("message/cpim")]
        }
        None => policy.accept_types.clone(),
    };
    if !peer_types
        .0
        .iter()
        .any(|theirs| our_types.iter().any(|ours| theirs.overlaps(ours)))
    {
        return Err("no type in a=accept-types is acceptable (4975-107)".to_owned());
    }
    if accepted_one {
        return Err(
            "an MSRP m-line is already accepted; our a=path is for one session (4975-100)"
                .to_owned(),
        );
    }

    // RFC 6135 §4.2 (6135-001..004), RFC 4145 §4.1 (4145-002/003): holdconn counts as absent,
    // absent counts as active.
    let (our_setup, role) = match m.setup {
        Some(Setup::Passive) => (Setup::Active, Role::Active),
        _ => (Setup::Passive, Role::Passive),
    };
    let (dir, explicit) = offered_direction(offer, offered);
    let direction = dir.answer();
    let cema = m.cema && policy.cema;

    // Attribute order follows the RFC examples (RFC 5547 §9.1 Fig. 9, RFC 7701 §9.1 F2).
    let mut attributes = Vec::with_capacity(12);
    if explicit {
        attributes.push(direction.to_attribute());
    }
    attributes.push(AcceptTypes(our_types).to_attribute());
    if !policy.accept_wrapped_types.is_empty() {
        attributes.push(AcceptWrappedTypes(policy.accept_wrapped_types.clone()).to_attribute());
    }
    if let Some(n) = policy.max_size {
        attributes.push(MaxSize(n).to_attribute());
    }
    attributes.push(PathAttr(policy.path.clone()).to_attribute());
    attributes.push(our_setup.to_attribute());
    if proto.is_tls() {
        if let Some(fp) = &policy.fingerprint {
            attributes.push(fp.to_attribute());
        }
    }
    if cema {
        attributes.push(MsrpCema.to_attribute());
    }
    if let Some(room) = &policy.chat_room {
        attributes.push(room.to_attribute());
    }
    if file_transfer {
        // RFC 5547 §8.3 (5547-005/012/014).
        if let Some(fs) = &m.file_selector {
            attributes.push(fs.to_attribute());
        }
        if let Some(id) = &m.file_transfer_id {
            attributes.push(id.to_attribute());
        }
        if let Some(range) = &m.file_range {
            attributes.push(range.to_attribute());
        }
    }

    let answer = Media {
        media: offered.media.clone(),
        port,
        num_ports: None,
        proto: proto.as_str().to_owned(),
        fmt: "*".to_owned(),
        media_title: None,
        connections: Vec::new(),
        bandwidths: Vec::new(),
        key: None,
        attributes,
    };
    let accepted = AcceptedMedia {
        proto,
        peer_path: peer_path.0,
        role,
        peer_accept_types: peer_types,
        peer_accept_wrapped_types: m.accept_wrapped_types,
        peer_max_size: m.max_size.map(|s| s.0),
        peer_fingerprints: m.fingerprints,
        direction,
        cema,
        peer_chatroom: m.chatroom,
    };
    Ok((answer, accepted))
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Active => "active",
            Role::Passive => "passive",
        })
    }
}
