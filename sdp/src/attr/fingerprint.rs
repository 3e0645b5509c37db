//! `a=fingerprint` (RFC 8122 §5, formerly RFC 4572; RFC 4975 §14.4).

use super::{MsrpAttribute, is_hex_pairs, is_token, is_ws, required};
use crate::error::AttrError;

/// `a=fingerprint:<hash-func> SP <fingerprint>`: the hash of the certificate the endpoint will
/// present over TLS (RFC 8122 §5). MSRP endpoints with self-signed certificates send it and
/// tear the session down on a mismatch (RFC 4975 §14.4, 4975-093/095).
///
/// `hash-func` is a token (e.g. `sha-1`, `sha-256`; RFC 4975 §14.4 writes `SHA-1`), compared
/// ASCII case-insensitively by [`Fingerprint::same_as`]; `fingerprint` is hex pairs separated
/// by `:`. Both are kept and written as received. Several spaces between them, and lower-case
/// hex, are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The hash function name as received, e.g. `SHA-1` or `sha-256`.
    pub hash: String,
    /// The hash value as received: `HH:HH:...`.
    pub value: String,
}

impl Fingerprint {
    /// The hash value as bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.value
            .split(':')
            .filter_map(|p| u8::from_str_radix(p, 16).ok())
            .collect()
    }

    /// Whether both name the same hash function (ASCII case-insensitive) and the same value
    /// (hex case-insensitive).
    pub fn same_as(&self, other: &Fingerprint) -> bool {
        self.hash.eq_ignore_ascii_case(&other.hash) && self.value.eq_ignore_ascii_case(&other.value)
    }
}

impl MsrpAttribute for Fingerprint {
    const NAME: &'static str = "fingerprint";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let v = required(Self::NAME, value)?;
        let mut parts = v.split(is_ws).filter(|p| !p.is_empty());
        let (Some(hash), Some(fp), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AttrError::invalid(
                Self::NAME,
                format!("expected \"<hash-func> <fingerprint>\", got {v:?} (RFC 8122 §5)"),
            ));
        };
        if !is_token(hash) {
            return Err(AttrError::invalid(
                Self::NAME,
                format!("hash function {hash:?} is not a token"),
            ));
        }
        if !is_hex_pairs(fp) {
            return Err(AttrError::invalid(
                Self::NAME,
                format!("fingerprint {fp:?} is not hex pairs separated by ':'"),
            ));
        }
        Ok(Fingerprint {
            hash: hash.to_owned(),
            value: fp.to_owned(),
        })
    }

    fn to_value(&self) -> Option<String> {
        Some(format!("{} {}", self.hash, self.value))
    }
}
