//! The dialogs of the focus (RFC 3261 §12): one per joined session, created by the 2xx to an
//! INVITE (the focus is the UAS), ended by BYE either way.
//!
//! A dialog keeps what in-dialog requests are checked against (Call-ID, both tags, the remote
//! CSeq, §12.2.2), what the focus's own BYE needs (the remote target, the route set, the local
//! CSeq, §12.2.1.1), what a re-INVITE is compared with (the offer and the answer, RFC 3264 §8),
//! and the 2xx the UAS core retransmits until its ACK (§13.3.1.4).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::message::{Message, Method};
use super::transaction::Peer;

/// A dialog's identity (§12): Call-ID, our tag (the To tag of our 2xx) and theirs (From tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogKey {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The participant's tag.
    pub remote_tag: String,
}

impl DialogKey {
    /// The dialog an in-dialog request from the participant belongs to: its To tag is ours
    /// and its From tag theirs (§12.2.2). `None` without a To tag.
    pub fn of_request(req: &Message) -> Option<DialogKey> {
        Some(DialogKey {
            call_id: req.call_id()?.to_owned(),
            local_tag: req.to()?.tag()?.to_owned(),
            remote_tag: req.from()?.tag().unwrap_or("").to_owned(),
        })
    }
}

/// A 2xx to an INVITE that the UAS core retransmits until its ACK (§13.3.1.4): at T1, then
/// doubling up to T2, giving up after 64·T1.
#[derive(Debug, Clone)]
pub struct Unacked {
    /// The INVITE's CSeq number, which the ACK repeats.
    pub cseq: u32,
    /// The 2xx as sent.
    pub bytes: Bytes,
    /// Next retransmission.
    pub next: Instant,
    /// Current interval.
    pub interval: Duration,
    /// When the focus stops and ends the session (BYE).
    pub give_up: Instant,
}

/// One dialog: a participant's session in a room.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Its identity.
    pub key: DialogKey,
    /// Where the participant's requests come from and ours go.
    pub peer: Peer,
    /// Our From in requests we send: the INVITE's To, with our tag.
    pub local: String,
    /// Our To in requests we send: the INVITE's From, with their tag.
    pub remote: String,
    /// The Request-URI of requests we send: the participant's Contact (§12.1.1).
    pub remote_target: String,
    /// The INVITE's Record-Route values, in order (§12.1.1).
    pub route_set: Vec<String>,
    /// The highest CSeq number seen from the participant (§12.2.2).
    pub remote_cseq: u32,
    /// The CSeq number of our last request.
    pub local_cseq: u32,
    /// The room.
    pub room: String,
    /// The participant's URI.
    pub participant: String,
    /// The mixer's session id.
    pub session: String,
    /// The last offer, without its `o=` line (a re-offer equal to it changes nothing).
    pub offer: Vec<u8>,
    /// The last answer sent.
    pub answer: Bytes,
    /// The answer's `o=` session id and version (RFC 3264 §8).
    pub origin: (u64, u64),
    /// A 2xx waiting for its ACK.
    pub unacked: Option<Unacked>,
    /// A re-INVITE is being answered.
    pub reinvite_pending: bool,
}

impl Dialog {
    /// Our BYE (§15.1.1, §12.2.1.1): Request-URI the remote target, From and To swapped
    /// against the INVITE, the dialog's Call-ID, the next local CSeq, the route set as Route,
    /// and a Via with a fresh branch sent from `via_sent_by` over the peer's transport.
    /// Returns the branch and the request.
    pub fn bye(&mut self, via_sent_by: &str, branch: String) -> Message {
        self.local_cseq += 1;
        let mut m = Message::request(Method::Bye, self.remote_target.clone());
        m.push_header(
            "Via",
            format!(
                "SIP/2.0/{} {via_sent_by};branch={branch};rport",
                self.peer.transport()
            ),
        );
        m.push_header("Max-Forwards", "70");
        m.push_header("From", self.local.clone());
        m.push_header("To", self.remote.clone());
        m.push_header("Call-ID", self.key.call_id.clone());
        m.push_header("CSeq", format!("{} BYE", self.local_cseq));
        for r in &self.route_set {
            m.push_header("Route", r.clone());
        }
        m
    }
}

/// `sdp` without its `o=` line: two offers equal under this are the same offer whatever their
/// session versions say (RFC 3264 §8: an unchanged version means an unchanged SDP).
pub fn offer_key(sdp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sdp.len());
    for line in sdp.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b"o=") {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The `o=` session id and version of `sdp` (RFC 8866 §5.2), `None` when it has no such line.
pub fn origin_of(sdp: &[u8]) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(sdp).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("o="))?;
    let mut f = line.split_ascii_whitespace().skip(1);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3264 §8: offers that differ only in their `o=` line are the same offer; the origin
    /// is read from the `o=` line.
    #[test]
    fn offers_compare_without_origin() {
        let a = b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nm=message 9 TCP/MSRP *\r\n";
        let b = b"v=0\r\no=alice 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=message 9 TCP/MSRP *\r\n";
        let c = b"v=0\r\no=alice 1 2 IN IP4 127.0.0.1\r\ns=-\r\nm=message 7 TCP/MSRP *\r\n";
        assert_eq!(offer_key(a), offer_key(b));
        assert_ne!(offer_key(b), offer_key(c));
        assert_eq!(origin_of(b), Some((1, 2)));
        assert_eq!(origin_of(b"v=0\r\n"), None);
    }
}
