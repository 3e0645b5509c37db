//! The file-transfer attributes of RFC 5547 §6: `a=file-selector`, `a=file-transfer-id`,
//! `a=file-disposition`, `a=file-date`, `a=file-icon`, `a=file-range`.

use super::{
    MsrpAttribute, is_hex_pairs, is_token, is_ws, optional, required, split_quoted, unquote,
};
use crate::error::AttrError;

/// `a=file-selector[:<selector> *(SP <selector>)]` (RFC 5547 §6, 5547-002..004): which file
/// the session transfers.
///
/// Selectors: `name:"<file name>"`, `size:<octets>`, `type:<type>/<subtype>*(;param)` and
/// `hash:<algo>:<HH:HH:...>` (several hashes allowed, 5547-004). Each of name, size and type at
/// most once; an unknown selector is an error. Selector names are matched ASCII
/// case-insensitively; a run of spaces between selectors is accepted. No value at all is a
/// capability query (5547-019): every field empty, written as `a=file-selector`.
///
/// The name is kept percent-encoded as received (5547-003); [`FileSelector::decoded_name`]
/// decodes it. Written in the order name, type, size, hashes (the order of the RFC examples).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileSelector {
    /// `name:"..."`, without the quotes, still percent-encoded.
    pub name: Option<String>,
    /// `size:<octets>`.
    pub size: Option<u64>,
    /// `type:...`, as received (parameters included).
    pub media_type: Option<String>,
    /// `hash:<algo>:<value>` selectors, in order: (`sha-1`, `72:24:5F:...`).
    pub hashes: Vec<(String, String)>,
}

impl FileSelector {
    /// `true` for an empty selector: a capability query (5547-019).
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.size.is_none()
            && self.media_type.is_none()
            && self.hashes.is_empty()
    }

    /// The file name with its percent escapes decoded (5547-003), invalid UTF-8 replaced.
    /// Receivers must still sanitise it (no path components) before using it (RFC 5547 §10).
    pub fn decoded_name(&self) -> Option<String> {
        let n = self.name.as_deref()?.as_bytes();
        let mut out = Vec::with_capacity(n.len());
        let mut i = 0;
        while i < n.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if n[i] == b'%' && i + 2 < n.len() {
                if let (Some(h), Some(l)) = (hex(n[i + 1]), hex(n[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(n[i]);
            i += 1;
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

/// RFC 5547 §6 `filename-string = 1*( filename-char / percent-encoded )`: no `"`, CR, LF, NUL,
/// and `%` only as `%HH`.
fn valid_filename(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && !b.iter().any(|&c| matches!(c, b'"' | b'\r' | b'\n' | 0))
        && b.iter().enumerate().all(|(i, &c)| {
            c != b'%'
                || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        })
}

/// A `type/subtype*(;param)` for the file's type (RFC 5547 §6 `filetype-selector`): accepted
/// by the `mime` crate, no wildcard, no empty part.
fn valid_file_type(s: &str) -> bool {
    s.parse::<mime::Mime>().is_ok_and(|m| {
        let (t, st) = (m.type_().as_str(), m.subtype().as_str());
        !t.is_empty() && !st.is_empty() && t != "*" && st != "*"
    })
}

/// `1*DIGIT` as u64.
fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl MsrpAttribute for FileSelector {
    const NAME: &'static str = "file-selector";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let bad = |reason: String| AttrError::invalid(Self::NAME, reason);
        let mut fs = FileSelector::default();
        let Some(v) = optional(value) else {
            return Ok(fs);
        };
        for sel in split_quoted(v).map_err(bad)? {
            let Some((key, rest)) = sel.split_once(':') else {
                return Err(bad(format!("selector {sel:?} has no ':'")));
            };
            let once = |set: bool| {
                if set {
                    Err(bad(format!("selector {key}: appears twice")))
                } else {
                    Ok(())
                }
            };
            if key.eq_ignore_ascii_case("name") {
                once(fs.name.is_some())?;
                let name = unquote(rest)
                    .filter(|n| valid_filename(n))
                    .ok_or_else(|| bad(format!("name {rest:?} is not a quoted file name")))?;
                fs.name = Some(name.to_owned());
            } else if key.eq_ignore_ascii_case("size") {
                once(fs.size.is_some())?;
                fs.size = Some(
                    parse_u64(rest).ok_or_else(|| bad(format!("size {rest:?} is not a number")))?,
                );
            } else if key.eq_ignore_ascii_case("type") {
                once(fs.media_type.is_some())?;
                if !valid_file_type(rest) {
                    return Err(bad(format!("type {rest:?} is not a media type")));
                }
                fs.media_type = Some(rest.to_owned());
            } else if key.eq_ignore_ascii_case("hash") {
                let (algo, hv) = rest
                    .split_once(':')
                    .ok_or_else(|| bad(format!("hash {rest:?} is not <algo>:<value>")))?;
                if !is_token(algo) || !is_hex_pairs(hv) {
                    return Err(bad(format!(
                        "hash {rest:?} is not <algo>:<hex pairs separated by ':'>"
                    )));
                }
                fs.hashes.push((algo.to_owned(), hv.to_owned()));
            } else {
                return Err(bad(format!("unknown selector {key:?}")));
            }
        }
        Ok(fs)
    }

    fn to_value(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(format!("name:\"{n}\""));
        }
        if let Some(t) = &self.media_type {
            parts.push(format!("type:{t}"));
        }
        if let Some(s) = self.size {
            parts.push(format!("size:{s}"));
        }
        for (algo, v) in &self.hashes {
            parts.push(format!("hash:{algo}:{v}"));
        }
        Some(parts.join(" "))
    }
}

/// `a=file-transfer-id:<token>` (RFC 5547 §6, §8.1, 5547-005): identifies one transfer; the
/// offerer picks a new random id, the answerer copies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTransferId(pub String);

impl MsrpAttribute for FileTransferId {
    const NAME: &'static str = "file-transfer-id";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let v = required(Self::NAME, value)?;
        if !is_token(v) {
            return Err(AttrError::invalid(
                Self::NAME,
                format!("{v:?} is not a token"),
            ));
        }
        Ok(FileTransferId(v.to_owned()))
    }

    fn to_value(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// `a=file-disposition:<token>` (RFC 5547 §6, 5547-016), e.g. `render` (the default) or
/// `attachment`. Kept as received. Not allowed in a push answer (5547-012).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDisposition(pub String);

impl MsrpAttribute for FileDisposition {
    const NAME: &'static str = "file-disposition";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let v = required(Self::NAME, value)?;
        if !is_token(v) {
            return Err(AttrError::invalid(
                Self::NAME,
                format!("{v:?} is not a token"),
            ));
        }
        Ok(FileDisposition(v.to_owned()))
    }

    fn to_value(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// `a=file-date:<date-param> *(SP <date-param>)` (RFC 5547 §6, 5547-016): `creation:"..."`,
/// `modification:"..."`, `read:"..."`, each at most once, each a quoted RFC 5322 date-time.
/// Dates are kept as received (without quotes) and not interpreted. Written in the order
/// creation, modification, read; a value with no date at all writes an empty value, which does
/// not parse back (the grammar needs one date).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileDate {
    /// `creation:"..."`.
    pub creation: Option<String>,
    /// `modification:"..."`.
    pub modification: Option<String>,
    /// `read:"..."`.
    pub read: Option<String>,
}

impl MsrpAttribute for FileDate {
    const NAME: &'static str = "file-date";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let bad = |reason: String| AttrError::invalid(Self::NAME, reason);
        let v = required(Self::NAME, value)?;
        let mut d = FileDate::default();
        for param in split_quoted(v).map_err(bad)? {
            let (key, rest) = param
                .split_once(':')
                .ok_or_else(|| bad(format!("{param:?} is not <kind>:\"<date>\"")))?;
            let slot = if key.eq_ignore_ascii_case("creation") {
                &mut d.creation
            } else if key.eq_ignore_ascii_case("modification") {
                &mut d.modification
            } else if key.eq_ignore_ascii_case("read") {
                &mut d.read
            } else {
                return Err(bad(format!("unknown date kind {key:?}")));
            };
            if slot.is_some() {
                return Err(bad(format!("{key}: appears twice")));
            }
            let date = unquote(rest)
                .ok_or_else(|| bad(format!("{key}: {rest:?} is not a quoted date")))?;
            *slot = Some(date.to_owned());
        }
        Ok(d)
    }

    fn to_value(&self) -> Option<String> {
        let parts: Vec<String> = [
            ("creation", &self.creation),
            ("modification", &self.modification),
            ("read", &self.read),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}:\"{v}\"")))
        .collect();
        Some(parts.join(" "))
    }
}

/// `a=file-icon:<cid-url>` (RFC 5547 §6, 5547-016/020): a `cid:` URL (RFC 2392) naming a body
/// part of the enclosing multipart/related SIP body. Kept as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIcon(pub String);

impl MsrpAttribute for FileIcon {
    const NAME: &'static str = "file-icon";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let v = required(Self::NAME, value)?;
        let ok = v.len() > 4
            && v.get(..4).is_some_and(|s| s.eq_ignore_ascii_case("cid:"))
            && v.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(AttrError::invalid(
                Self::NAME,
                format!("{v:?} is not a cid: URL (RFC 2392)"),
            ));
        }
        Ok(FileIcon(v.to_owned()))
    }

    fn to_value(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// `a=file-range:<start>-<stop>` (RFC 5547 §6, 5547-014/015): the octets of the file to
/// transfer, 1-based and inclusive; `stop` `*` (`None`) means to the end. `start >= 1` and
/// `start <= stop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRange {
    /// First octet, 1-based.
    pub start: u64,
    /// Last octet, inclusive; `None` for `*` (the end of the file).
    pub stop: Option<u64>,
}

impl MsrpAttribute for FileRange {
    const NAME: &'static str = "file-range";

    fn parse_value(value: Option<&str>) -> Result<Self, AttrError> {
        let bad = |reason: String| AttrError::invalid(Self::NAME, reason);
        let v = required(Self::NAME, value)?;
        let (a, b) = v
            .split_once('-')
            .ok_or_else(|| bad(format!("{v:?} is not <start>-<stop>")))?;
        let (a, b) = (a.trim_matches(is_ws), b.trim_matches(is_ws));
        let start = parse_u64(a).ok_or_else(|| bad(format!("start {a:?} is not a number")))?;
        if start == 0 {
            return Err(bad("start is 0, but offsets are 1-based".to_owned()));
        }
        let stop = if b == "*" {
            None
        } else {
            let stop =
                parse_u64(b).ok_or_else(|| bad(format!("stop {b:?} is not a number or *")))?;
            if stop < start {
                return Err(bad(format!("stop {stop} is before start {start}")));
            }
            Some(stop)
        };
        Ok(FileRange { start, stop })
    }

    fn to_value(&self) -> Option<String> {
        Some(match self.stop {
            Some(s) => format!("{}-{s}", self.start),
            None => format!("{}-*", self.start),
        })
    }
}
