//! `a=max-size` (RFC 4975 §8.6).

use super::{MsrpAttribute, required};
use crate::error::AttrError;

/// `a=max-size:<octets>`: the largest whole message (not chunk) the endpoint wants to receive
/// (RFC 4975 §8.6, 4975-108). Senders should not exceed it; receivers treat it as a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxSize(pub u64);

impl MsrpAttribute for MaxSize {
    const NAME: &'static str = "max-size";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let v = required(Self::NAME, value)?;
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AttrError::invalid(
                Self::NAME,
                format!("not a decimal number: {v:?}"),
            ));
        }
        v.parse()
            .map(MaxSize)
            .map_err(|_| AttrError::invalid(Self::NAME, format!("number too large: {v:?}")))
    }

    fn to_value(&self) -> Option<String> {
        Some(self.0.to_string())
    }
}
