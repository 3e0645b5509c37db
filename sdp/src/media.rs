//! The typed view of one MSRP `m=message` section (RFC 4975 §8).

use sdp_types::{Media, Session};

use crate::attr::{
    AcceptTypes, AcceptWrappedTypes, Chatroom, Direction, FileRange, FileSelector, FileTransferId,
    Fingerprint, MaxSize, MsrpAttribute, MsrpCema, PathAttr, Setup,
};
use crate::error::AttrError;
use crate::proto::Proto;

/// One `m=message <port> <MSRP proto> *` section with its MSRP attributes parsed.
///
/// Built by [`MsrpMedia::from_media`]. Attributes that are absent are `None` (or empty, or the
/// default); the checks that an offer/answer needs them (`a=path`, 4975-098; `a=accept-types`,
/// 4975-103) are left to the caller. `a=connection` is ignored (RFC 6135 §4.4, 6135-007).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsrpMedia {
    /// The m-line port (0 = a rejected or disabled stream, RFC 3264 §6 3264-003).
    pub port: u16,
    /// The m-line transport protocol.
    pub proto: Proto,
    /// `a=path` (RFC 4975 §8.2).
    pub path: Option<PathAttr>,
    /// `a=accept-types` (RFC 4975 §8.6).
    pub accept_types: Option<AcceptTypes>,
    /// `a=accept-wrapped-types` (RFC 4975 §8.6).
    pub accept_wrapped_types: Option<AcceptWrappedTypes>,
    /// `a=max-size` (RFC 4975 §8.6).
    pub max_size: Option<MaxSize>,
    /// `a=setup` of the media, else of the session (RFC 4145 §4).
    pub setup: Option<Setup>,
    /// Every `a=fingerprint` of the media, else of the session (RFC 8122 §5, 4975-095).
    pub fingerprints: Vec<Fingerprint>,
    /// `a=chatroom` (RFC 7701 §8).
    pub chatroom: Option<Chatroom>,
    /// `a=msrp-cema` present (RFC 6714 §5.2).
    pub cema: bool,
    /// The media's direction attribute, else the session's, else `sendrecv` (RFC 8866 §6.7).
    pub direction: Direction,
    /// `a=file-selector` (RFC 5547 §6); `Some` with every field empty for a capability query.
    pub file_selector: Option<FileSelector>,
    /// `a=file-transfer-id` (RFC 5547 §6).
    pub file_transfer_id: Option<FileTransferId>,
    /// `a=file-range` (RFC 5547 §6).
    pub file_range: Option<FileRange>,
}

/// The first attribute `T` in `attrs`, parsed, as `Ok(None)` when absent.
fn opt<T: MsrpAttribute>(attrs: &[sdp_types::Attribute]) -> Result<Option<T>, AttrError> {
    T::find(attrs).transpose()
}

/// Every attribute `T` in `attrs`, parsed.
fn all<T: MsrpAttribute>(attrs: &[sdp_types::Attribute]) -> Result<Vec<T>, AttrError> {
    attrs
        .iter()
        .filter(|a| a.attribute.eq_ignore_ascii_case(T::NAME))
        .map(|a| T::parse_value(a.value.as_deref()))
        .collect()
}

impl MsrpMedia {
    /// `Ok(None)` when the m-line is not `message` with an MSRP proto (not ours), Err when it is
    /// ours but an attribute is malformed. Session-level fingerprint/setup are inherited when
    /// the media has none (RFC 4145 §4, RFC 8122 §5: both may be session-level), and so is a
    /// session-level direction attribute (RFC 8866 §6.7).
    pub fn from_media(session: &Session, media: &Media) -> Result<Option<MsrpMedia>, AttrError> {
        if !media.media.eq_ignore_ascii_case("message") {
            return Ok(None);
        }
        let Some(proto) = Proto::parse(&media.proto) else {
            return Ok(None);
        };
        let a = &media.attributes[..];
        let s = &session.attributes[..];
        let setup = match opt::<Setup>(a)? {
            Some(x) => Some(x),
            None => opt::<Setup>(s)?,
        };
        let mut fingerprints = all::<Fingerprint>(a)?;
        if fingerprints.is_empty() {
            fingerprints = all::<Fingerprint>(s)?;
        }
        let direction = Direction::find(a)
            .or_else(|| Direction::find(s))
            .unwrap_or_default();
        Ok(Some(MsrpMedia {
            port: media.port,
            proto,
            path: opt(a)?,
            accept_types: opt(a)?,
            accept_wrapped_types: opt(a)?,
            max_size: opt(a)?,
            setup,
            fingerprints,
            chatroom: opt(a)?,
            cema: opt::<MsrpCema>(a)?.is_some(),
            direction,
            file_selector: opt(a)?,
            file_transfer_id: opt(a)?,
            file_range: opt(a)?,
        }))
    }
}
