//! `a=msrp-cema` (RFC 6714 §5.2).

use super::{MsrpAttribute, optional};
use crate::error::AttrError;

/// `a=msrp-cema`: the endpoint implements the Connection Establishment for Media Anchoring
/// extension (RFC 6714 §5.2, 6714-001). A media-level property attribute: it has no value.
///
/// A blank value (`a=msrp-cema:`) is accepted; any other value is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsrpCema;

impl MsrpAttribute for MsrpCema {
    const NAME: &'static str = "msrp-cema";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        match optional(value) {
            None => Ok(MsrpCema),
            Some(v) => Err(AttrError::invalid(
                Self::NAME,
                format!("a property attribute takes no value, got {v:?} (RFC 6714 §5.2)"),
            )),
        }
    }

    fn to_value(&self) -> Option<String> {
        None
    }
}
