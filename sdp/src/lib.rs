//! SDP offer/answer for MSRP media: typed attributes on top of [`sdp_types`], and
//! [`negotiate`](negotiate::negotiate), a pure function from an offer and a [`Policy`] to an answer
//! or a reasoned rejection.
//!
//! | module | holds |
//! |---|---|
//! | [`proto`] | the MSRP transport protocols of an `m=message` line (RFC 4975 §8.1, RFC 7977) |
//! | [`attr`] | one typed attribute per file: `path`, `accept-types`, `setup`, `chatroom`, the RFC 5547 file attributes, ... |
//! | [`media`] | the typed view of one `m=message` section |
//! | [`negotiate`](mod@negotiate) | offer → answer or rejection, per RFC 3264, RFC 4975 §8, RFC 6135, RFC 7701 §5.2 |
//! | [`offer`] | a builder of offers |
//! | [`error`] | what is wrong with an attribute or a document |
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attr;
pub mod error;
pub mod media;
pub mod negotiate;
pub mod offer;
pub mod proto;

pub use error::{AttrError, SdpError};
pub use media::MsrpMedia;
pub use negotiate::{AcceptedMedia, Answer, MediaOutcome, Policy, Reject, Role, negotiate};
pub use offer::OfferBuilder;
pub use proto::Proto;
pub use sdp_types;
