//! What is wrong with one attribute ([`AttrError`]) or with a whole SDP document ([`SdpError`]).
//!
//! Every error names the attribute (`a=<name>`) and, for [`SdpError`], where it sits (session level
//! or the 0-based index of the m-line), so that a rejection can say exactly which line is bad and
//! why.

/// Why the value of one attribute is not acceptable.
///
/// The display form always starts with `a=<name>:`, e.g. `a=max-size: not a decimal number: "12x"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    /// The value does not follow the attribute's grammar.
    #[error("a={name}: {reason}")]
    Invalid {
        /// The attribute name as written after `a=` (e.g. `accept-types`).
        name: &'static str,
        /// What is wrong, in words.
        reason: String,
    },
    /// The attribute needs a value and has none (or only whitespace).
    #[error("a={name}: value missing")]
    MissingValue {
        /// The attribute name as written after `a=`.
        name: &'static str,
    },
    /// A URI in the value is not an MSRP URI (RFC 4975 §9, 4975-075; used by `a=path`).
    #[error("a={name}: bad MSRP URI: {source}")]
    Uri {
        /// The attribute name as written after `a=`.
        name: &'static str,
        /// Why the URI does not parse.
        source: msrp::UriError,
    },
}

impl AttrError {
    /// The name of the attribute the error is about (as written after `a=`).
    pub fn name(&self) -> &'static str {
        match self {
            AttrError::Invalid { name, .. }
            | AttrError::MissingValue { name }
            | AttrError::Uri { name, .. } => name,
        }
    }

    /// An [`AttrError::Invalid`] for attribute `name`.
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> AttrError {
        AttrError::Invalid {
            name,
            reason: reason.into(),
        }
    }
}

/// A document-level or media-level problem with an SDP body.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The text is not an SDP document (RFC 8866 §5); the message gives the 1-based line number.
    #[error("SDP does not parse: {0}")]
    Parse(#[from] sdp_types::ParserError),
    /// An MSRP attribute is malformed.
    #[error("{}: {source}", where_(.media))]
    Attr {
        /// 0-based index of the m-line, `None` for a session-level attribute.
        media: Option<usize>,
        /// What is wrong with the attribute.
        #[source]
        source: AttrError,
    },
    /// An m-line is unusable for another reason (e.g. a required attribute is absent).
    #[error("m-line {media}: {reason}")]
    Media {
        /// 0-based index of the m-line.
        media: usize,
        /// What is wrong, in words.
        reason: String,
    },
}

/// "session level" or "m-line N", for [`SdpError::Attr`].
fn where_(media: &Option<usize>) -> String {
    match media {
        Some(i) => format!("m-line {i}"),
        None => "session level".to_owned(),
    }
}
