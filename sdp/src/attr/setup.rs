//! `a=setup` (RFC 4145 §4, RFC 6135 §4.2).

use super::{MsrpAttribute, required};
use crate::error::AttrError;

/// `a=setup:<role>`: which side opens the TCP connection (RFC 4145 §4, 4145-001..003), as used
/// by MSRP (RFC 6135 §4.2, 6135-001..004).
///
/// Allowed at session or media level (4145-001). When absent, an offer means `active` and an
/// answer `passive` (4145-003). MSRP never sends `holdconn` and treats a received one as absent
/// (6135-002). Parsed ASCII case-insensitively, written in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `active`: this side opens the connection.
    Active,
    /// `passive`: this side accepts the connection.
    Passive,
    /// `actpass`: either; the answerer chooses (an offer only, 6135-003).
    ActPass,
    /// `holdconn`: no connection for now (never sent by MSRP, 6135-002).
    HoldConn,
}

impl Setup {
    /// The keyword as written after `a=setup:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        }
    }
}

impl MsrpAttribute for Setup {
    const NAME: &'static str = "setup";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let v = required(Self::NAME, value)?;
        [
            Setup::Active,
            Setup::Passive,
            Setup::ActPass,
            Setup::HoldConn,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(v))
        .ok_or_else(|| {
            AttrError::invalid(
                Self::NAME,
                format!("unknown role {v:?} (expected active, passive, actpass or holdconn)"),
            )
        })
    }

    fn to_value(&self) -> Option<String> {
        Some(self.as_str().to_owned())
    }
}
