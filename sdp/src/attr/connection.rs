//! `a=connection` (RFC 4145 §5).

use super::{MsrpAttribute, required};
use crate::error::AttrError;

/// `a=connection:new|existing` (RFC 4145 §5, 4145-006/007). Default `new`.
///
/// MSRP does not use it: an endpoint must not send it and must ignore a received one
/// (RFC 6135 §4.4, 6135-007). It is parsed here only so that it can be recognised. Parsed ASCII
/// case-insensitively, written in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionAttr {
    /// `new`: open a new connection.
    New,
    /// `existing`: reuse the existing connection.
    Existing,
}

impl ConnectionAttr {
    /// The keyword as written after `a=connection:`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionAttr::New => "new",
            ConnectionAttr::Existing => "existing",
        }
    }
}

impl MsrpAttribute for ConnectionAttr {
    const NAME: &'static str = "connection";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let v = required(Self::NAME, value)?;
        [ConnectionAttr::New, ConnectionAttr::Existing]
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(v))
            .ok_or_else(|| {
                AttrError::invalid(
                    Self::NAME,
                    format!("unknown value {v:?} (expected new or existing)"),
                )
            })
    }

    fn to_value(&self) -> Option<String> {
        Some(self.as_str().to_owned())
    }
}
