//! Typed MSRP SDP attributes, one per file, all behind the [`MsrpAttribute`] trait.
//!
//! Each type parses the value of its `a=` line leniently (surrounding spaces, a space after the
//! colon as in the RFC 4976 §11 examples, 4975-104; several spaces between list items; ASCII
//! case of keywords) and writes it strictly. Parsing never panics; an error is an
//! [`AttrError`] naming the attribute and saying why.
//!
//! | attribute | type | spec |
//! |---|---|---|
//! | `a=path` | [`PathAttr`] | RFC 4975 §8.2 |
//! | `a=accept-types` | [`AcceptTypes`] | RFC 4975 §8.6 |
//! | `a=accept-wrapped-types` | [`AcceptWrappedTypes`] | RFC 4975 §8.6 |
//! | `a=max-size` | [`MaxSize`] | RFC 4975 §8.6 |
//! | `a=setup` | [`Setup`] | RFC 4145 §4, RFC 6135 |
//! | `a=connection` | [`ConnectionAttr`] | RFC 4145 §5 |
//! | `a=fingerprint` | [`Fingerprint`] | RFC 8122 §5 (RFC 4572), RFC 4975 §14.4 |
//! | `a=chatroom` | [`Chatroom`] | RFC 7701 §8 |
//! | `a=msrp-cema` | [`MsrpCema`] | RFC 6714 §5.2 |
//! | `a=sendrecv` / `sendonly` / `recvonly` / `inactive` | [`Direction`] | RFC 3264 §6.1, RFC 8866 §6.7 |
//! | `a=file-selector`, `file-transfer-id`, `file-disposition`, `file-date`, `file-icon`, `file-range` | [`FileSelector`], [`FileTransferId`], [`FileDisposition`], [`FileDate`], [`FileIcon`], [`FileRange`] | RFC 5547 §6 |

mod accept_types;
mod cema;
mod chatroom;
mod connection;
mod direction;
mod file;
mod fingerprint;
mod max_size;
mod path;
mod setup;

pub use accept_types::{AcceptTypes, AcceptWrappedTypes, FormatEntry};
pub use cema::MsrpCema;
pub use chatroom::Chatroom;
pub use connection::ConnectionAttr;
pub use direction::Direction;
pub use file::{FileDate, FileDisposition, FileIcon, FileRange, FileSelector, FileTransferId};
pub use fingerprint::Fingerprint;
pub use max_size::MaxSize;
pub use path::PathAttr;
pub use setup::Setup;

use crate::error::AttrError;
use sdp_types::Attribute;

/// A typed SDP attribute: how to parse its value and how to write it back.
pub trait MsrpAttribute: Sized {
    /// Attribute name as written after `a=` (e.g. "accept-types").
    const NAME: &'static str;

    /// Parses the attribute's value (`None` for a property attribute like `a=msrp-cema`).
    /// Lenient on input (e.g. a space after the colon, 4975-104), never panics.
    fn parse_value(value: Option<&str>) -> Result<Self, AttrError>;

    /// The value to write (strict form), `None` for a property attribute.
    fn to_value(&self) -> Option<String>;

    /// As an sdp-types attribute: `a=<NAME>:<value>`, or `a=<NAME>` when there is no value.
    fn to_attribute(&self) -> Attribute {
        match self.to_value() {
            Some(v) => Attribute::with_value(Self::NAME, v),
            None => Attribute::new(Self::NAME),
        }
    }

    /// The first attribute of this name in `attrs` (names compare ASCII case-insensitively),
    /// parsed. `None` when there is no such attribute.
    fn find(attrs: &[Attribute]) -> Option<Result<Self, AttrError>> {
        attrs
            .iter()
            .find(|a| a.attribute.eq_ignore_ascii_case(Self::NAME))
            .map(|a| Self::parse_value(a.value.as_deref()))
    }
}

/// SP / HTAB: the whitespace tolerated around and between values.
pub(crate) fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The value trimmed of surrounding SP/HTAB; [`AttrError::MissingValue`] when it is absent or
/// blank.
pub(crate) fn required<'a>(
    name: &'static str,
    value: Option<&'a str>,
) -> Result<&'a str, AttrError> {
    match value.map(|v| v.trim_matches(is_ws)) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(AttrError::MissingValue { name }),
    }
}

/// The value trimmed of surrounding SP/HTAB, `None` when it is absent or blank.
pub(crate) fn optional(value: Option<&str>) -> Option<&str> {
    value
        .map(|v| v.trim_matches(is_ws))
        .filter(|v| !v.is_empty())
}

/// RFC 8866 §9 `token-char`: `%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E`.
pub(crate) fn is_token_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x27 | 0x2A..=0x2B | 0x2D..=0x2E | 0x30..=0x39 | 0x41..=0x5A | 0x5E..=0x7E)
}

/// RFC 8866 §9 `token = 1*token-char`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// `2HEX *(":" 2HEX)`, the hash form of RFC 8122 §5 and RFC 5547 §6. Both letter cases are
/// accepted (the RFCs write upper case).
pub(crate) fn is_hex_pairs(s: &str) -> bool {
    !s.is_empty()
        && s.split(':')
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Splits `s` on runs of SP/HTAB that are outside double quotes (RFC 5547 §6 names and dates
/// are quoted strings that may hold spaces). Errors on an unterminated quote.
pub(crate) fn split_quoted(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        }
        if is_ws(c) && !quoted {
            if let Some(st) = start.take() {
                out.push(&s[st..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if quoted {
        return Err("unterminated quoted string".to_owned());
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    Ok(out)
}

/// `"<inner>"` → `inner`, with `inner` non-empty and free of `"`, CR, LF and NUL.
pub(crate) fn unquote(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.is_empty() && !inner.contains(['"', '\r', '\n', '\0'])).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            split_quoted(r#"name:"a b  c" size:1   x"#).unwrap(),
            vec![r#"name:"a b  c""#, "size:1", "x"]
        );
        assert_eq!(split_quoted("  ").unwrap(), Vec::<&str>::new());
        assert!(split_quoted(r#"name:"a b"#).is_err());
        assert!(is_hex_pairs("4A:ad:00"));
        assert!(!is_hex_pairs("4A:"));
        assert!(!is_hex_pairs("4A:A"));
        assert!(!is_hex_pairs(""));
        assert!(is_token("sha-1") && !is_token("a b") && !is_token(""));
        assert_eq!(unquote(r#""x y""#), Some("x y"));
        assert_eq!(unquote(r#""""#), None);
        assert_eq!(unquote("x"), None);
        assert_eq!(
            required("x", Some("  ")),
            Err(AttrError::MissingValue { name: "x" })
        );
        assert_eq!(required("x", Some(" v ")), Ok("v"));
        assert_eq!(optional(Some(" ")), None);
    }
}
