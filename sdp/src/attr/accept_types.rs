//! `a=accept-types` and `a=accept-wrapped-types` (RFC 4975 §8.6).

use std::borrow::Cow;
use std::fmt;

use super::{MsrpAttribute, is_ws, required};
use crate::error::AttrError;

/// One entry of an RFC 4975 §8.6 `format-list`: `*`, `type/*` or `type/subtype[;params]`
/// (4975-103).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatEntry {
    /// `*`: anything may be tried (4975-103). `*/*` is read as `*` too.
    Any,
    /// `type/*`: every subtype of the type. Holds the type, lower-case (e.g. `text`).
    TypeWildcard(String),
    /// A media type, e.g. `text/plain` or `text/plain;charset=utf-8`.
    Type {
        /// `type/subtype`, lower-case, without parameters (what matching compares, 4975-109).
        essence: String,
        /// The entry as received, parameters included (what is written back).
        text: String,
    },
}

impl FormatEntry {
    /// Parses one entry (no surrounding whitespace expected; it is trimmed anyway).
    ///
    /// `*` is [`FormatEntry::Any`]; everything else must be a MIME type for the `mime` crate,
    /// with a non-empty type and subtype, and a type of `*` only in `*/*` (RFC 4975 §9
    /// `format-entry`). Parameters are kept in `text` and ignored by matching (4975-109); on a
    /// wildcard (`text/*;q=1`) they are dropped. The error says why, without the attribute name
    /// (the caller adds it).
    pub fn parse(s: &str) -> Result<FormatEntry, String> {
        let s = s.trim_matches(is_ws);
        if s == "*" {
            return Ok(FormatEntry::Any);
        }
        let m: mime::Mime = s
            .parse()
            .map_err(|e| format!("{s:?} is not a media type ({e})"))?;
        let (ty, sub) = (m.type_().as_str(), m.subtype().as_str());
        if ty.is_empty() || sub.is_empty() {
            return Err(format!("{s:?} has an empty type or subtype"));
        }
        if ty == "*" {
            return if sub == "*" {
                Ok(FormatEntry::Any)
            } else {
                Err(format!("{s:?}: a wildcard type needs a wildcard subtype"))
            };
        }
        if sub == "*" {
            return Ok(FormatEntry::TypeWildcard(ty.to_ascii_lowercase()));
        }
        Ok(FormatEntry::Type {
            essence: m.essence_str().to_ascii_lowercase(),
            text: s.to_owned(),
        })
    }

    /// A `type/subtype` entry without parameters, e.g. `FormatEntry::media_type("message/cpim")`.
    /// `None` if `essence` is not exactly a concrete `type/subtype`.
    pub fn media_type(essence: &str) -> Option<FormatEntry> {
        match FormatEntry::parse(essence) {
            Ok(e @ FormatEntry::Type { .. }) if !essence.contains(';') => Some(e),
            _ => None,
        }
    }

    /// The entry as written in the attribute: the received text of a type, `type/*` or `*`.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            FormatEntry::Any => Cow::Borrowed("*"),
            FormatEntry::TypeWildcard(t) => Cow::Owned(format!("{t}/*")),
            FormatEntry::Type { text, .. } => Cow::Borrowed(text),
        }
    }

    /// Whether a body of media type `essence` (`type/subtype`; parameters, if any, are
    /// ignored, 4975-109) is covered by this entry. ASCII case-insensitive. `*` matches
    /// everything; `text/*` matches every `text/...`.
    pub fn matches(&self, essence: &str) -> bool {
        let essence = essence
            .split(';')
            .next()
            .unwrap_or_default()
            .trim_matches(is_ws);
        match self {
            FormatEntry::Any => true,
            FormatEntry::TypeWildcard(t) => essence
                .split_once('/')
                .is_some_and(|(ty, _)| ty.eq_ignore_ascii_case(t)),
            FormatEntry::Type { essence: e, .. } => e.eq_ignore_ascii_case(essence),
        }
    }

    /// Whether some media type is covered by both entries, wildcards honoured both ways
    /// (used to intersect an offer's accept-types with ours, 4975-107).
    pub fn overlaps(&self, other: &FormatEntry) -> bool {
        match (self, other) {
            (FormatEntry::Any, _) | (_, FormatEntry::Any) => true,
            (FormatEntry::TypeWildcard(a), FormatEntry::TypeWildcard(b)) => a == b,
            (FormatEntry::TypeWildcard(_), FormatEntry::Type { essence, .. }) => {
                self.matches(essence)
            }
            (FormatEntry::Type { essence, .. }, _) => other.matches(essence),
        }
    }
}

impl fmt::Display for FormatEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// Parses a `format-list` (`format-entry *(SP format-entry)`, 4975-104) leniently: runs of
/// SP/HTAB, and spaces after the colon, are accepted.
fn parse_list(name: &'static str, value: Option<&str>) -> Result<Vec<FormatEntry>, AttrError> {
    let v = required(name, value)?;
    v.split(is_ws)
        .filter(|t| !t.is_empty())
        .map(|t| FormatEntry::parse(t).map_err(|reason| AttrError::invalid(name, reason)))
        .collect()
}

/// Writes a `format-list` with single SPs (4975-104).
fn write_list(entries: &[FormatEntry]) -> String {
    let mut s = String::new();
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&e.as_str());
    }
    s
}

/// `a=accept-types:<format-list>`: the media types the endpoint accepts at the top level of a
/// message (RFC 4975 §8.6, 4975-103/104). Required on every MSRP m-line (4975-103).
///
/// Parsed leniently (e.g. `a=accept-types: message/cpim text/plain` of RFC 4976 §11),
/// written with no space after the colon and single SPs between entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptTypes(pub Vec<FormatEntry>);

impl AcceptTypes {
    /// Whether a body of type `essence` may be sent at the top level to this endpoint
    /// (4975-106); parameters are ignored (4975-109), wildcards honoured.
    pub fn accepts(&self, essence: &str) -> bool {
        self.0.iter().any(|e| e.matches(essence))
    }
}

impl MsrpAttribute for AcceptTypes {
    const NAME: &'static str = "accept-types";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        parse_list(Self::NAME, value).map(AcceptTypes)
    }

    fn to_value(&self) -> Option<String> {
        Some(write_list(&self.0))
    }
}

/// `a=accept-wrapped-types:<format-list>`: the media types the endpoint accepts only inside a
/// container such as `message/cpim` (RFC 4975 §8.6, 4975-105).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptWrappedTypes(pub Vec<FormatEntry>);

impl AcceptWrappedTypes {
    /// Whether a body of type `essence` may be sent inside a container (4975-105/106);
    /// parameters are ignored (4975-109), wildcards honoured.
    pub fn accepts(&self, essence: &str) -> bool {
        self.0.iter().any(|e| e.matches(essence))
    }
}

impl MsrpAttribute for AcceptWrappedTypes {
    const NAME: &'static str = "accept-wrapped-types";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        parse_list(Self::NAME, value).map(AcceptWrappedTypes)
    }

    fn to_value(&self) -> Option<String> {
        Some(write_list(&self.0))
    }
}
