//! A builder of MSRP offers: one `m=message` line per document (RFC 4975 §8, RFC 6135 §4.2,
//! RFC 7701 §5.2, RFC 5547 §8.2), used by the mixer and the tests.

use msrp::MsrpUri;
use sdp_types::{Connection, Media, NetType, Origin, Session, Time};

use crate::attr::{
    AcceptTypes, AcceptWrappedTypes, Chatroom, Direction, FileSelector, FileTransferId,
    Fingerprint, FormatEntry, MaxSize, MsrpAttribute, MsrpCema, PathAttr, Setup,
};
use crate::negotiate::{format_type, host_of};
use crate::proto::Proto;

/// Builds an SDP offer with one `m=message` line.
///
/// ```text
/// v=0
/// o=- <session id> <version> IN IP4 <host of the last path URI>
/// s=-
/// c=IN IP4 <host of the last path URI>
/// t=0 0
/// m=message <port of the last path URI> TCP/MSRP *
/// a=<direction, when set>
/// a=accept-types:message/cpim text/plain
/// a=accept-wrapped-types:...   (when set)
/// a=max-size:...               (when set)
/// a=path:<the path URIs>
/// a=setup:actpass
/// a=fingerprint:...            (when set)
/// a=msrp-cema                  (when set)
/// a=chatroom:...               (when set)
/// a=file-selector:...          (when set)
/// a=file-transfer-id:...       (when set)
/// ```
///
/// The m-line port and `c=` come from the last path URI (RFC 4975 §8.1, 4975-097); the address
/// type is `IP6` for an IPv6 literal. Defaults: proto `TCP/TLS/MSRP` when the last path URI is
/// `msrps`, else `TCP/MSRP`; accept-types `message/cpim text/plain`; `a=setup:actpass`
/// (RFC 6135 §4.2.2, 6135-003); no direction attribute (= sendrecv); `o=` id and version 0.
///
/// For negative tests the builder writes what it is given: an empty path writes no `a=path`
/// (and `c=IN IP4 0.0.0.0`, port 9), an empty accept-types list writes no `a=accept-types`, a
/// last URI without port gives port 9.
#[derive(Debug, Clone)]
pub struct OfferBuilder {
    path: Vec<MsrpUri>,
    proto: Option<Proto>,
    accept_types: Vec<FormatEntry>,
    accept_wrapped_types: Vec<FormatEntry>,
    setup: Setup,
    max_size: Option<u64>,
    chatroom: Option<Chatroom>,
    cema: bool,
    fingerprint: Option<Fingerprint>,
    direction: Option<Direction>,
    file_selector: Option<FileSelector>,
    file_transfer_id: Option<FileTransferId>,
    origin: (u64, u64),
}

impl OfferBuilder {
    /// An offer whose `a=path` is `path`: relay URIs first, the offerer's own URI last
    /// (RFC 4975 §8.2, 4975-099).
    pub fn new(path: Vec<MsrpUri>) -> OfferBuilder {
        OfferBuilder {
            path,
            proto: None,
            accept_types: vec![format_type("message/cpim"), format_type("text/plain")],
            accept_wrapped_types: Vec::new(),
            setup: Setup::ActPass,
            max_size: None,
            chatroom: None,
            cema: false,
            fingerprint: None,
            direction: None,
            file_selector: None,
            file_transfer_id: None,
            origin: (0, 0),
        }
    }

    /// The m-line proto (RFC 4975 §8.1, RFC 7977).
    pub fn proto(mut self, proto: Proto) -> OfferBuilder {
        self.proto = Some(proto);
        self
    }

    /// `a=accept-types` (RFC 4975 §8.6, 4975-103); an empty list writes none.
    pub fn accept_types(mut self, types: Vec<FormatEntry>) -> OfferBuilder {
        self.accept_types = types;
        self
    }

    /// `a=accept-wrapped-types` (4975-105, 7701-004); an empty list writes none.
    pub fn accept_wrapped_types(mut self, types: Vec<FormatEntry>) -> OfferBuilder {
        self.accept_wrapped_types = types;
        self
    }

    /// `a=setup` (RFC 6135 §4.2, 6135-001/003); default `actpass`.
    pub fn setup(mut self, setup: Setup) -> OfferBuilder {
        self.setup = setup;
        self
    }

    /// `a=max-size` (4975-108).
    pub fn max_size(mut self, octets: u64) -> OfferBuilder {
        self.max_size = Some(octets);
        self
    }

    /// `a=chatroom` (RFC 7701 §8, 7701-005).
    pub fn chatroom(mut self, chatroom: Chatroom) -> OfferBuilder {
        self.chatroom = Some(chatroom);
        self
    }

    /// `a=msrp-cema` (RFC 6714 §5.2, 6714-001/003).
    pub fn cema(mut self, cema: bool) -> OfferBuilder {
        self.cema = cema;
        self
    }

    /// `a=fingerprint` (RFC 4975 §14.4, 4975-095).
    pub fn fingerprint(mut self, fingerprint: Fingerprint) -> OfferBuilder {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// A direction attribute (RFC 3264 §5.1); without one the stream is sendrecv.
    pub fn direction(mut self, direction: Direction) -> OfferBuilder {
        self.direction = Some(direction);
        self
    }

    /// `a=file-selector` (RFC 5547 §6, 5547-002/009).
    pub fn file_selector(mut self, selector: FileSelector) -> OfferBuilder {
        self.file_selector = Some(selector);
        self
    }

    /// `a=file-transfer-id` (RFC 5547 §8.1, 5547-005).
    pub fn file_transfer_id(mut self, id: FileTransferId) -> OfferBuilder {
        self.file_transfer_id = Some(id);
        self
    }

    /// The `o=` session id and version (RFC 8866 §5.2; RFC 3264 §8, 3264-008).
    pub fn origin(mut self, session_id: u64, version: u64) -> OfferBuilder {
        self.origin = (session_id, version);
        self
    }

    /// The offer as an SDP model.
    pub fn build_session(&self) -> Session {
        let (addrtype, host, port) = match self.path.last() {
            Some(uri) => {
                let (t, h) = host_of(uri);
                (t, h, uri.port().unwrap_or(9))
            }
            None => (sdp_types::AddrType::Ip4, "0.0.0.0".to_owned(), 9),
        };
        let proto = self.proto.unwrap_or_else(|| {
            if self.path.last().is_some_and(MsrpUri::is_secure) {
                Proto::TcpTlsMsrp
            } else {
                Proto::TcpMsrp
            }
        });

        let mut attributes = Vec::with_capacity(12);
        if let Some(d) = self.direction {
            attributes.push(d.to_attribute());
        }
        if !self.accept_types.is_empty() {
            attributes.push(AcceptTypes(self.accept_types.clone()).to_attribute());
        }
        if !self.accept_wrapped_types.is_empty() {
            attributes.push(AcceptWrappedTypes(self.accept_wrapped_types.clone()).to_attribute());
        }
        if let Some(n) = self.max_size {
            attributes.push(MaxSize(n).to_attribute());
        }
        if !self.path.is_empty() {
            attributes.push(PathAttr(self.path.clone()).to_attribute());
        }
        attributes.push(self.setup.to_attribute());
        if let Some(fp) = &self.fingerprint {
            attributes.push(fp.to_attribute());
        }
        if self.cema {
            attributes.push(MsrpCema.to_attribute());
        }
        if let Some(room) = &self.chatroom {
            attributes.push(room.to_attribute());
        }
        if let Some(fs) = &self.file_selector {
            attributes.push(fs.to_attribute());
        }
        if let Some(id) = &self.file_transfer_id {
            attributes.push(id.to_attribute());
        }

        let media = Media {
            media: "message".to_owned(),
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
        let mut session = Session::new(
            Origin {
                username: None,
                sess_id: self.origin.0.to_string(),
                sess_version: self.origin.1,
                nettype: NetType::In,
                addrtype: addrtype.clone(),
                unicast_address: host.clone(),
            },
            "-",
        );
        session.connection = Some(Connection::new(NetType::In, addrtype, host));
        session.times = vec![Time::new(0, 0)];
        session.medias = vec![media];
        session
    }

    /// The offer as SDP text, every line ending in CRLF.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.build_session()
            .write(&mut out)
            .expect("writing to a Vec cannot fail");
        out
    }
}
