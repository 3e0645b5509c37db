//! `a=path` (RFC 4975 §8.2).

use super::{MsrpAttribute, is_ws, required};
use crate::error::AttrError;
use msrp::MsrpUri;

/// `a=path:<uri> *(SP <uri>)`: the MSRP URIs a peer is reached through (RFC 4975 §8.2,
/// 4975-098/099/101, RFC 4976 §8 4976-040).
///
/// The leftmost URI is the next hop to connect to (4975-101); the rightmost is the endpoint's own
/// session URI (4975-099). Every URI must carry an explicit port (4975-098, 4976-040).
///
/// Parsing accepts several spaces (or tabs) between URIs and around the value; writing uses one
/// SP (4975-098). A parsed value always holds at least one URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathAttr(pub Vec<MsrpUri>);

impl PathAttr {
    /// The leftmost URI: the next hop, the one to connect to (4975-101). `None` only for an
    /// empty, hand-built value.
    pub fn first(&self) -> Option<&MsrpUri> {
        self.0.first()
    }

    /// The rightmost URI: the endpoint's own session URI (4975-099). `None` only for an empty,
    /// hand-built value.
    pub fn last(&self) -> Option<&MsrpUri> {
        self.0.last()
    }
}

impl MsrpAttribute for PathAttr {
    const NAME: &'static str = "path";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let v = required(Self::NAME, value)?;
        let mut uris = Vec::new();
        for text in v.split(is_ws).filter(|t| !t.is_empty()) {
            let uri: MsrpUri = text.parse().map_err(|source| AttrError::Uri {
                name: Self::NAME,
                source,
            })?;
            if uri.port().is_none() {
                return Err(AttrError::invalid(
                    Self::NAME,
                    format!("URI {text} has no explicit port (RFC 4975 §8.2, RFC 4976 §8)"),
                ));
            }
            uris.push(uri);
        }
        Ok(PathAttr(uris))
    }

    fn to_value(&self) -> Option<String> {
        let mut s = String::new();
        for (i, u) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(u.as_str());
        }
        Some(s)
    }
}
