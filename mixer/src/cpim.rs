//! The `message/cpim` wrapper (RFC 3862), sans-IO: parsing with exact header preservation, and
//! writing.
//!
//! A `message/cpim` body (3862-001) is
//!
//! ```text
//! CPIM message headers   From: Alice <sip:alice@example.com>        (strict syntax, UTF-8)
//! CRLF                   To: <sip:room@chat.example.com>
//!                        <blank line>
//! MIME headers           Content-Type: text/plain                   (ordinary MIME syntax;
//! CRLF                   <blank line>                                Content-Type required)
//! body                   Hello
//! ```
//!
//! # Reading
//!
//! [`Message::parse`] parses a complete body; [`Message::parse_prefix`] (and its borrowing twin
//! [`head_len`]) parses the first octets of a body that is still arriving, which is what the RFC
//! 7701 switch needs: it starts the fan-out once the complete CPIM and MIME header section has
//! arrived (7701-017), reads `From` and every `To` (7701-010/011/020) and the inner Content-Type
//! (7701-015), and forwards the original octets untouched (7701-014). The header section is
//! bounded by [`ParseOptions::max_head_bytes`] ([`CpimError::HeadTooLarge`]).
//!
//! Nothing is copied: a [`Message`] keeps the input [`Bytes`] and hands out `&str` slices of it
//! (the CPIM header block is validated as UTF-8 once and kept as a [`ByteString`]), so every
//! header keeps its original octets and order (3862-006) and [`Message::as_bytes`] is what the
//! switch forwards. Accessors that return human-readable text ([`Address::formal_name`],
//! [`Subject::text`], [`Header::text`]) decode the escapes of RFC 3862 §2.3 (3862-008); the raw
//! accessors never do.
//!
//! Headers are identified by (namespace URI, name) (3862-011/012): [`Header::namespace`] is
//! resolved through the `NS` declarations that precede the header, and the standard headers
//! (`From`, `To`, `cc`, `DateTime`, `Subject`, `NS`, `Require`) are the ones whose namespace is
//! [`DEFAULT_NAMESPACE`].
//!
//! # Strictness and errors
//!
//! CPIM header lines follow RFC 3862 §2.2/§3.6 exactly: CRLF line ends, no folding or leading
//! whitespace, case-sensitive names, `Name:` then optional `;param`s then exactly one SP then the
//! value, no trailing whitespace, no control characters, UTF-8 (3862-003/004/005/009). The
//! encapsulated MIME headers follow ordinary MIME rules (case-insensitive names, folding
//! allowed); they must include exactly one Content-Type (3862-002). Errors are [`CpimError`];
//! [`CpimError::class`] says which ones mean "this is not a CPIM body" (answer 415, 7701-009).
//!
//! Many RFC examples (RFC 4975 §11.4, RFC 5438, RFC 7701 §9) omit the blank line between the
//! CPIM headers and the MIME headers. The strict default refuses that with
//! [`CpimError::ContentTypeInCpimHeaders`]; [`ParseOptions::lenient`] accepts it (see
//! [`ParseOptions::accept_missing_separator`]).
//!
//! Every parser here is bounded, never panics, and gives the same answer for a prefix as for
//! the whole input: an error reported for a prefix is reported for every longer prefix, and
//! `Ok(None)` ("need more") turns into a result only when more octets arrive.
//!
//! # Writing
//!
//! [`Builder`] writes a message: the standard headers through typed methods, extension headers
//! after their `NS` declaration, original header lines copied byte for byte
//! ([`Builder::copy_header`], [`Builder::report_wrapper`] for RFC 7701 REPORTs, 7701-022), the
//! MIME headers and the body. Values are escaped as RFC 3862 §2.3.1 says ([`escape`],
//! [`escape_quoted`]). Whatever [`Builder::build`] returns parses again with the strict
//! options.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;

/// The default namespace of `message/cpim` headers, `urn:ietf:params:cpim-headers:` (RFC 3862
/// §4, §7.1; 3862-012). Unprefixed header names belong to it until an `NS: <URI>` without a
/// prefix changes the default (RFC 3862 §3.4).
///
/// RFC 3862 §6 misprints it as `urn:ietf:params-cpim-headers:`; only the §4/§7 spelling is
/// recognised, and namespace URIs are compared octet for octet.
pub const DEFAULT_NAMESPACE: &str = "urn:ietf:params:cpim-headers:";

/// Default bound on the CPIM + MIME header section ([`ParseOptions::max_head_bytes`]): 16 KiB.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;

/// The standard header names of RFC 3862 §4, all in [`DEFAULT_NAMESPACE`].
const STANDARD: [&str; 7] = ["From", "To", "cc", "DateTime", "Subject", "NS", "Require"];

/// The standard header name ([`STANDARD`]) that `local` is in any case: picked by its length
/// and first letter (no two share both), then compared once, rather than compared with each
/// name in turn (every CPIM header line is looked up).
fn standard_name(local: &[u8]) -> Option<&'static str> {
    let name = match (local.len(), local.first()?.to_ascii_lowercase()) {
        (4, b'f') => "From",
        (2, b't') => "To",
        (2, b'c') => "cc",
        (8, b'd') => "DateTime",
        (7, b's') => "Subject",
        (2, b'n') => "NS",
        (7, b'r') => "Require",
        _ => return None,
    };
    name.as_bytes().eq_ignore_ascii_case(local).then_some(name)
}

// ---------------------------------------------------------------------------------------------
// Options and errors
// ---------------------------------------------------------------------------------------------

/// How [`Message::parse`], [`Message::parse_prefix`] and [`head_len`] read a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Largest accepted header section (CPIM headers, blank line, MIME headers, blank line), in
    /// octets. A longer section, or a prefix this long in which the section has not ended, is
    /// [`CpimError::HeadTooLarge`]. RFC 3862 §2.2 asks for no line-length limit; this bounds
    /// only the memory a switch spends waiting for the header section (7701-017, RFC 7701 §11).
    pub max_head_bytes: usize,
    /// Accept a body whose blank line between the CPIM headers and the MIME headers is
    /// missing, as printed in RFC 4975 §11.4, RFC 5438 §7–§8 and RFC 7701 §9.
    ///
    /// When set, the first line of the CPIM header block that is not its first line and whose
    /// name starts with `Content-` (ASCII case-insensitive) starts the MIME headers; the next
    /// blank line ends them and the body follows ([`Message::separator_missing`] tells). No
    /// standard CPIM header starts with `Content-`, but an extension header in a non-default
    /// namespace that does will be read as a MIME header in this mode. When clear (the
    /// default), such a `Content-Type` line is [`CpimError::ContentTypeInCpimHeaders`].
    pub accept_missing_separator: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self::strict()
    }
}

impl ParseOptions {
    /// RFC 3862 as written: the blank line between CPIM and MIME headers is required; header
    /// section at most [`DEFAULT_MAX_HEAD_BYTES`]. This is [`Default`].
    pub const fn strict() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            accept_missing_separator: false,
        }
    }

    /// [`ParseOptions::strict`] plus [`ParseOptions::accept_missing_separator`], for peers that
    /// copy the RFC examples.
    pub const fn lenient() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            accept_missing_separator: true,
        }
    }

    /// These options with another header-section bound.
    #[must_use]
    pub const fn with_max_head_bytes(mut self, max: usize) -> Self {
        self.max_head_bytes = max;
        self
    }
}

/// The part of the header section an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The CPIM message headers (RFC 3862 §2.2).
    Cpim,
    /// The encapsulated MIME headers (RFC 3862 §2.4).
    Mime,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpim => "CPIM",
            Self::Mime => "MIME",
        })
    }
}

/// What a [`CpimError`] means for the RFC 7701 switch; the status code itself is chosen where
/// the crate maps errors to MSRP responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The octets do not have the `message/cpim` structure of RFC 3862 §2–§3 (line syntax,
    /// separators, Content-Type): the SEND does not carry a CPIM wrapper, which RFC 7701 §6.3
    /// answers with 415 (7701-009).
    NotCpim,
    /// The structure is CPIM but a header breaks its own definition (RFC 3862 §3.4, §4):
    /// undeclared namespace prefix, standard name in the wrong case, bad `From`/`To`/`cc`,
    /// `NS`, `Require` or `DateTime` value. The message is malformed (RFC 4975 400); a bad
    /// `From` also means the sender cannot be verified (RFC 7701 §6.3, 403).
    InvalidHeader,
    /// The header section exceeds [`ParseOptions::max_head_bytes`].
    TooLarge,
}

/// Why a body is not a valid `message/cpim` body. Offsets (`at`) count octets from the start
/// of the body given to the parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpimError {
    /// A LF not preceded by CR (RFC 3862 §2.2: every line ends in CRLF; 3862-004).
    #[error("LF without CR at octet {at} (RFC 3862 §2.2: lines end in CRLF)")]
    BareLf {
        /// Offset of the LF.
        at: usize,
    },
    /// A CPIM header line starts with whitespace: folding or leading whitespace (RFC 3862
    /// §2.2; 3862-004).
    #[error(
        "line at octet {at} starts with whitespace: no folding and no leading whitespace (RFC 3862 §2.2)"
    )]
    Folding {
        /// Offset of the line.
        at: usize,
    },
    /// A control character (U+0000–U+001F, U+007F, including HTAB and a CR not followed by
    /// LF) in a header line; CPIM values carry them escaped (RFC 3862 §2.2, §2.3; 3862-004/008).
    #[error("control character at octet {at} (RFC 3862 §2.2: escape it as §2.3 says)")]
    ControlChar {
        /// Offset of the character.
        at: usize,
    },
    /// A CPIM header line is not UTF-8 (RFC 3862 §2.2; 3862-004).
    #[error("CPIM header line is not UTF-8 at octet {at} (RFC 3862 §2.2)")]
    InvalidUtf8 {
        /// Offset of the first invalid octet.
        at: usize,
    },
    /// A header name is empty or holds a character outside NAMECHAR, or misplaces the `.` of a
    /// namespace prefix (RFC 3862 §3.1, §3.6; 3862-009).
    #[error("invalid header name character at octet {at} (RFC 3862 §3.1)")]
    InvalidName {
        /// Offset of the offending octet.
        at: usize,
    },
    /// A CPIM header line without `:` (RFC 3862 §3).
    #[error("line at octet {at} is not a header: no ':' (RFC 3862 §3)")]
    NotAHeader {
        /// Offset of the line.
        at: usize,
    },
    /// A `;name=value` header parameter does not follow RFC 3862 §3.6 (a `lang` parameter
    /// must be an RFC 3066 language tag, 3862-010).
    #[error("malformed header parameter at octet {at} (RFC 3862 §3.3, §3.6)")]
    InvalidParameter {
        /// Offset of the offending octet.
        at: usize,
    },
    /// No SP after `Name:` (and its parameters) (RFC 3862 §2.2, §3.6; 3862-003).
    #[error("no SP after the header name and colon at octet {at} (RFC 3862 §2.2, §3.6)")]
    MissingSpace {
        /// Offset where the SP was expected.
        at: usize,
    },
    /// More than one SP before the value (RFC 3862 §2.2: a single space; 3862-003).
    #[error("more than one SP before the header value at octet {at} (RFC 3862 §2.2)")]
    ExtraSpace {
        /// Offset of the second SP.
        at: usize,
    },
    /// Whitespace at the end of a CPIM header line, or an empty value (RFC 3862 §2.2).
    #[error("whitespace at the end of the header line at octet {at} (RFC 3862 §2.2)")]
    TrailingWhitespace {
        /// Offset of the trailing SP.
        at: usize,
    },
    /// A `Content-Type` line among the CPIM headers: the blank line between the CPIM and the
    /// MIME headers is missing (RFC 3862 §2), or the enclosing MIME header
    /// (`Content-type: Message/CPIM`) was left in front of the body. See
    /// [`ParseOptions::accept_missing_separator`].
    #[error(
        "Content-Type among the CPIM headers at octet {at}: blank line between CPIM and MIME headers missing, or enclosing MIME header left in the body (RFC 3862 §2)"
    )]
    ContentTypeInCpimHeaders {
        /// Offset of the line.
        at: usize,
    },
    /// A MIME header line is not `field-name ":" value` or continues nothing (RFC 3862 §2.4,
    /// RFC 5322 §2.2).
    #[error("malformed MIME header line at octet {at} (RFC 3862 §2.4)")]
    MalformedMimeHeader {
        /// Offset of the offending octet.
        at: usize,
    },
    /// The encapsulated MIME headers have no Content-Type (RFC 3862 §2.4; 3862-002).
    #[error("the encapsulated MIME headers have no Content-Type (RFC 3862 §2.4)")]
    MissingContentType {
        /// Offset of the blank line that ends the MIME headers.
        at: usize,
    },
    /// A second Content-Type among the MIME headers.
    #[error("second Content-Type at octet {at}")]
    DuplicateContentType {
        /// Offset of the second Content-Type line.
        at: usize,
    },
    /// The inner Content-Type is not `type/subtype[;parameters]` in US-ASCII (RFC 2045 §5.1).
    #[error("Content-Type at octet {at} is not type/subtype (RFC 2045 §5.1)")]
    InvalidContentType {
        /// Offset of the Content-Type line.
        at: usize,
    },
    /// The complete body ends inside the header section: the blank line that ends the CPIM
    /// headers, or the one that ends the MIME headers, is missing (RFC 3862 §2; 3862-001).
    #[error("the body ends inside the {section} headers: blank line missing (RFC 3862 §2)")]
    Truncated {
        /// The section the body ended in.
        section: Section,
    },
    /// The header section is longer than [`ParseOptions::max_head_bytes`].
    #[error("CPIM header section longer than {limit} octets")]
    HeadTooLarge {
        /// The bound in force.
        limit: usize,
    },
    /// A namespace prefix (in a header name or a `Require` value) used before an `NS` header
    /// declares it (RFC 3862 §3.4; 3862-011).
    #[error("namespace prefix at octet {at} used before an NS header declares it (RFC 3862 §3.4)")]
    UndeclaredPrefix {
        /// Offset of the line.
        at: usize,
    },
    /// A header name in the CPIM namespace equals a standard name except for case, such as
    /// `from:` (RFC 3862 §2.2, §3: names match exactly; 3862-005). Strictly this is an unknown
    /// header to be ignored (3862-007); it is refused because a sender that writes it means the
    /// standard header and a switch must not route on a guess.
    #[error(
        "header name at octet {at} is {expected} in the wrong case (RFC 3862 §2.2: names are case-sensitive)"
    )]
    WrongCase {
        /// Offset of the line.
        at: usize,
        /// The standard name it resembles.
        expected: &'static str,
    },
    /// A `From`, `To` or `cc` value is not `[Formal-name] "<" URI ">"` (RFC 3862 §4.1–§4.3;
    /// 3862-013/014/015).
    #[error("{header} value at octet {at} is not [Formal-name] <URI> (RFC 3862 §4.1-§4.3)")]
    InvalidAddress {
        /// Offset of the line.
        at: usize,
        /// `From`, `To` or `cc`.
        header: &'static str,
    },
    /// An `NS` value is not `[Name-prefix] "<" absolute-URI ">"` (RFC 3862 §3.4, §4.6;
    /// 3862-018).
    #[error("NS value at octet {at} is not [prefix] <absolute-URI> (RFC 3862 §4.6)")]
    InvalidNs {
        /// Offset of the line.
        at: usize,
    },
    /// A `Require` value is not `Header-name *("," Header-name)` (RFC 3862 §4.7; 3862-019).
    #[error("Require value at octet {at} is not a list of header names (RFC 3862 §4.7)")]
    InvalidRequire {
        /// Offset of the line.
        at: usize,
    },
    /// A `DateTime` value is not an RFC 3339 date-time (RFC 3862 §4.4; 3862-016).
    #[error("DateTime value at octet {at} is not an RFC 3339 date-time (RFC 3862 §4.4)")]
    InvalidDateTime {
        /// Offset of the line.
        at: usize,
    },
}

impl CpimError {
    /// What the error means for the switch ([`ErrorClass`]).
    pub const fn class(&self) -> ErrorClass {
        match self {
            Self::HeadTooLarge { .. } => ErrorClass::TooLarge,
            Self::UndeclaredPrefix { .. }
            | Self::WrongCase { .. }
            | Self::InvalidAddress { .. }
            | Self::InvalidNs { .. }
            | Self::InvalidRequire { .. }
            | Self::InvalidDateTime { .. } => ErrorClass::InvalidHeader,
            _ => ErrorClass::NotCpim,
        }
    }

    /// `true` when the body is not a `message/cpim` body at all ([`ErrorClass::NotCpim`]):
    /// the RFC 7701 switch answers 415 (7701-009).
    pub const fn is_not_cpim(&self) -> bool {
        matches!(self.class(), ErrorClass::NotCpim)
    }
}

// ---------------------------------------------------------------------------------------------
// Character classes (RFC 3862 §3.6)
// ---------------------------------------------------------------------------------------------

/// NAMECHAR: any US-ASCII character except ".", CTLs and SEPARATORS.
const fn namechar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'^'..=b'`' | b'|' | b'~'
        | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z')
}

/// TOKENCHAR: NAMECHAR / "." / UCS-high (any octet of a multi-octet UTF-8 sequence).
const fn tokenchar(b: u8) -> bool {
    namechar(b) || b == b'.' || b >= 0x80
}

/// A character class as a table of 256 (`class` evaluated at compile time): one load per
/// octet where a chain of range tests was a dozen instructions (header names, tokens and
/// media types are scanned octet by octet in every message).
macro_rules! table {
    ($class:ident) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $class(i as u8);
            i += 1;
        }
        t
    }};
}

static NAMECHAR: [bool; 256] = table!(namechar);
static TOKENCHAR: [bool; 256] = table!(tokenchar);
static FTEXT: [bool; 256] = table!(ftext);
static MIME_TOKENCHAR: [bool; 256] = table!(mime_tokenchar);

/// [`namechar`], from its table.
fn is_namechar(b: u8) -> bool {
    NAMECHAR[usize::from(b)]
}

/// [`tokenchar`], from its table.
fn is_tokenchar(b: u8) -> bool {
    TOKENCHAR[usize::from(b)]
}

/// [`ftext`], from its table.
fn is_ftext(b: u8) -> bool {
    FTEXT[usize::from(b)]
}

/// [`mime_tokenchar`], from its table.
fn is_mime_tokenchar(b: u8) -> bool {
    MIME_TOKENCHAR[usize::from(b)]
}

const fn is_ctl(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// The offset of the first CTL in `s`. Every header value is scanned: the test for one runs
/// over the whole value without a branch per octet (the compiler vectorizes it), and the
/// position is looked for only when there is one.
fn find_ctl(s: &[u8]) -> Option<usize> {
    if s.iter().fold(false, |any, &b| any | is_ctl(b)) {
        s.iter().position(|&b| is_ctl(b))
    } else {
        None
    }
}

const fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 5322 ftext: printable US-ASCII except ":".
const fn ftext(b: u8) -> bool {
    b >= 33 && b <= 126 && b != b':'
}

/// RFC 2045 token character (for the inner Content-Type).
const fn mime_tokenchar(b: u8) -> bool {
    b > 32
        && b < 127
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        )
}

fn is_name(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_namechar(b))
}

/// `Header-name = [ Name-prefix "." ] Name`.
fn split_header_name(s: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    match s.iter().position(|&b| b == b'.') {
        None => is_name(s).then_some((None, s)),
        Some(d) => {
            let (p, l) = (&s[..d], &s[d + 1..]);
            (is_name(p) && is_name(l)).then_some((Some(p), l))
        }
    }
}

/// RFC 3066 Language-tag: `1*8ALPHA *("-" 1*8(ALPHA / DIGIT))` (3862-010).
fn is_language_tag(s: &[u8]) -> bool {
    let mut parts = s.split(|&b| b == b'-');
    let Some(first) = parts.next() else {
        return false;
    };
    (1..=8).contains(&first.len())
        && first.iter().all(u8::is_ascii_alphabetic)
        && parts.all(|p| (1..=8).contains(&p.len()) && p.iter().all(u8::is_ascii_alphanumeric))
}

/// RFC 3986 §2 characters of a URI besides percent escapes: unreserved, gen-delims and
/// sub-delims. A table: every octet of every From and To URI of every message is checked.
static URI_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'?'
                    | b'#'
                    | b'['
                    | b']'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        i += 1;
    }
    t
};

/// RFC 3986 §3.1 scheme characters after the first (a letter).
static SCHEME_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.');
        i += 1;
    }
    t
};

/// An absolute URI as RFC 3862 §3.6 wants it (RFC 3986 §4.3 characters): a scheme, ":", and at
/// least one more character from the URI character set (percent escapes well formed).
fn is_absolute_uri(s: &[u8]) -> bool {
    // `scheme ":"`, scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1), in
    // one pass: ":" is not a scheme character, so the scheme ends at the first one or the
    // URI is not absolute.
    if !s.first().is_some_and(u8::is_ascii_alphabetic) {
        return false;
    }
    let mut colon = 1;
    while colon < s.len() && SCHEME_CHAR[usize::from(s[colon])] {
        colon += 1;
    }
    if s.get(colon) != Some(&b':') || colon + 1 == s.len() {
        return false;
    }
    let rest = &s[colon + 1..];
    // Most URIs have no percent escape: every octet is then a URI character, tested without a
    // branch per octet ('%' is not one, so a URI with an escape takes the loop below).
    if rest
        .iter()
        .fold(true, |ok, &b| ok & URI_CHAR[usize::from(b)])
    {
        return true;
    }
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        if b == b'%' {
            if i + 2 >= rest.len()
                || !(rest[i + 1].is_ascii_hexdigit() && rest[i + 2].is_ascii_hexdigit())
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !URI_CHAR[usize::from(b)] {
            return false;
        }
        i += 1;
    }
    true
}

/// Spans (start, end) of an optional name and of a URI inside a header value.
type NameAndUri = (Option<(usize, usize)>, (usize, usize));

/// `Formal-name = 1*( Token SP ) / String` followed by `"<" URI ">"` (RFC 3862 §3.6, §4.1).
/// Returns the spans (relative to `v`) of the formal name (without its trailing SP; with the
/// quotes of the String form) and of the URI.
fn parse_address(v: &[u8]) -> Option<NameAndUri> {
    if v.len() < 3 || v[v.len() - 1] != b'>' {
        return None;
    }
    let (name, lt) = if v[0] == b'<' {
        (None, 0)
    } else if v[0] == b'"' {
        let close = scan_string(v, 0)?;
        // The ABNF puts "<" right after the String; one SP is accepted too.
        let lt = if v.get(close) == Some(&b' ') {
            close + 1
        } else {
            close
        };
        (Some((0, close)), lt)
    } else {
        let lt = v.iter().position(|&b| b == b'<')?;
        // 1*( Token SP ): tokens separated by single SPs, the last one followed by SP.
        if lt < 2 || v[lt - 1] != b' ' {
            return None;
        }
        let words = &v[..lt - 1];
        if !words
            .split(|&b| b == b' ')
            .all(|t| !t.is_empty() && t.iter().all(|&b| is_tokenchar(b)))
        {
            return None;
        }
        (Some((0, lt - 1)), lt)
    };
    if v.get(lt) != Some(&b'<') {
        return None;
    }
    let uri = (lt + 1, v.len() - 1);
    is_absolute_uri(&v[uri.0..uri.1]).then_some((name, uri))
}

/// Scans an RFC 3862 `String` starting at `v[start] == '"'`; returns the offset just past its
/// closing quote. Escapes follow the ABNF `Escape` production.
fn scan_string(v: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match *v.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match *v.get(i + 1)? {
                b'u' => {
                    if !v.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    i += 6;
                }
                b'b' | b't' | b'n' | b'r' | b'"' | b'\'' | b'\\' => i += 2,
                _ => return None,
            },
            b if is_ctl(b) => return None,
            _ => i += 1,
        }
    }
}

/// `NS` value: `[ Name-prefix [SP] ] "<" URI ">"` without a fragment (RFC 3862 §3.4, §4.6).
/// The ABNF has no SP between prefix and `<`; every example has one; both are accepted.
fn parse_ns(v: &[u8]) -> Option<NameAndUri> {
    if v.len() < 3 || v[v.len() - 1] != b'>' {
        return None;
    }
    let lt = v.iter().position(|&b| b == b'<')?;
    let prefix = if lt == 0 {
        None
    } else {
        let end = if v[lt - 1] == b' ' { lt - 1 } else { lt };
        if !is_name(&v[..end]) {
            return None;
        }
        Some((0, end))
    };
    let uri = (lt + 1, v.len() - 1);
    let u = &v[uri.0..uri.1];
    (is_absolute_uri(u) && !u.contains(&b'#')).then_some((prefix, uri))
}

// ---------------------------------------------------------------------------------------------
// Escapes (RFC 3862 §2.3)
// ---------------------------------------------------------------------------------------------

/// Decodes the escapes of RFC 3862 §2.3 (3862-008): `\\ \" \' \b \t \n \r \uXXXX`. A UTF-16
/// surrogate pair written as two `\u` escapes gives one character; a lone surrogate gives
/// U+FFFD. As §2.3.1 recommends, an unknown escape (including `\u` not followed by four hex
/// digits) decodes to the character after the backslash, and a backslash at the very end is
/// dropped. Borrows when there is nothing to decode.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(bs) = rest.find('\\') {
        out.push_str(&rest[..bs]);
        rest = &rest[bs + 1..];
        let Some(c) = rest.chars().next() else {
            break;
        };
        rest = &rest[c.len_utf8()..];
        match c {
            'b' => out.push('\u{8}'),
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'u' => match hex4(rest) {
                Some(unit) => {
                    rest = &rest[4..];
                    if (0xD800..0xDC00).contains(&unit) {
                        let low = rest.strip_prefix("\\u").and_then(hex4);
                        if let Some(low @ 0xDC00..=0xDFFF) = low {
                            rest = &rest[6..];
                            let cp = 0x10000
                                + ((u32::from(unit) - 0xD800) << 10)
                                + (u32::from(low) - 0xDC00);
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        } else {
                            out.push('\u{FFFD}');
                        }
                    } else {
                        out.push(char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}'));
                    }
                }
                None => out.push('u'),
            },
            other => out.push(other),
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn hex4(s: &str) -> Option<u16> {
    let h = s.get(..4)?;
    if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(h, 16).ok()
}

fn escape_into(s: &str, quote: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '"' if quote => out.push_str("\\\""),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// Escapes a header value as RFC 3862 §2.3.1 requires (3862-008): backslash, BS, HT, LF and CR
/// as `\\ \b \t \n \r`, the other control characters (U+0000–U+001F, U+007F) as `\uXXXX`,
/// nothing else ("all other characters MUST NOT be represented using an escape sequence").
/// Borrows when nothing needs escaping.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'\\' || is_ctl(b)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(s, false, &mut out);
    Cow::Owned(out)
}

/// [`escape`] for the inside of a double-quoted `String` (a quoted formal name): also writes
/// `"` as `\"` (RFC 3862 §2.3.1). The quotes themselves are not added.
pub fn escape_quoted(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'\\' || b == b'"' || is_ctl(b)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(s, true, &mut out);
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------------------
// DateTime (RFC 3339)
// ---------------------------------------------------------------------------------------------

/// A `DateTime` value: an RFC 3339 `date-time` (RFC 3862 §4.4; 3862-016), such as
/// `2000-12-13T13:40:00-08:00`. `Z` is an offset of 0 (`T`/`Z` may be lower case, RFC 3339
/// §5.6). No clock is read anywhere: the writer takes a value built by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// Year, 0–9999.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–28/29/30/31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–60 (60 = leap second).
    pub second: u8,
    /// Fraction of a second in nanoseconds (digits beyond the ninth are dropped).
    pub nanosecond: u32,
    /// Offset from UTC in minutes, −1439..=1439 (`Z` and `+00:00` are 0).
    pub offset_minutes: i16,
}

/// The text is not an RFC 3339 `date-time`, or a [`DateTime`] field is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time")]
pub struct DateTimeError;

const fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 0,
    }
}

impl DateTime {
    /// Parses an RFC 3339 `date-time` (RFC 3339 §5.6).
    pub fn parse(s: &str) -> Result<Self, DateTimeError> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Result<u32, DateTimeError> {
            let d = b.get(r).ok_or(DateTimeError)?;
            if !d.iter().all(u8::is_ascii_digit) {
                return Err(DateTimeError);
            }
            Ok(d.iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0')))
        };
        let lit = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
        if b.len() < 20
            || !lit(4, b"-")
            || !lit(7, b"-")
            || !lit(10, b"Tt")
            || !lit(13, b":")
            || !lit(16, b":")
        {
            return Err(DateTimeError);
        }
        let mut dt = Self {
            year: num(0..4)? as u16,
            month: num(5..7)? as u8,
            day: num(8..10)? as u8,
            hour: num(11..13)? as u8,
            minute: num(14..16)? as u8,
            second: num(17..19)? as u8,
            nanosecond: 0,
            offset_minutes: 0,
        };
        let mut i = 19;
        if b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(DateTimeError);
            }
            let mut ns = 0u32;
            for k in 0..9 {
                let d = if start + k < i {
                    u32::from(b[start + k] - b'0')
                } else {
                    0
                };
                ns = ns * 10 + d;
            }
            dt.nanosecond = ns;
        }
        match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
                let h = num(i + 1..i + 3)?;
                let m = num(i + 4..i + 6)?;
                if h > 23 || m > 59 {
                    return Err(DateTimeError);
                }
                let off = (h * 60 + m) as i16;
                dt.offset_minutes = if sign == b'-' { -off } else { off };
            }
            _ => return Err(DateTimeError),
        }
        if dt.is_valid() {
            Ok(dt)
        } else {
            Err(DateTimeError)
        }
    }

    /// Whether every field is in range (the day for its month and year).
    pub const fn is_valid(&self) -> bool {
        self.year <= 9999
            && self.month >= 1
            && self.month <= 12
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour <= 23
            && self.minute <= 59
            && self.second <= 60
            && self.nanosecond < 1_000_000_000
            && self.offset_minutes > -1440
            && self.offset_minutes < 1440
    }
}

impl std::str::FromStr for DateTime {
    type Err = DateTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DateTime {
    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, the fraction without trailing zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.nanosecond != 0 {
            let frac = format!("{:09}", self.nanosecond);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        if self.offset_minutes == 0 {
            f.write_str("Z")
        } else {
            let sign = if self.offset_minutes < 0 { '-' } else { '+' };
            let m = self.offset_minutes.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", m / 60, m % 60)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The header-section scanner
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    s: usize,
    e: usize,
}

impl Span {
    const fn new(s: usize, e: usize) -> Self {
        Self { s, e }
    }
    const fn off(self, base: usize) -> Self {
        Self::new(self.s + base, self.e + base)
    }
}

/// A namespace: the CPIM default or the URI of an `NS` declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NsRef {
    Cpim,
    Uri(Span),
}

#[derive(Debug, Clone, Copy)]
struct Addr {
    name: Option<Span>,
    uri: Span,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    From(Addr),
    To(Addr),
    Cc(Addr),
    DateTime(DateTime),
    Subject,
    Ns { prefix: Option<Span>, uri: Span },
    Require { first: usize, len: usize },
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    line: Span,
    name: Span,
    dot: Option<usize>,
    params: Span,
    value: Span,
    ns: NsRef,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
struct RequireEntry {
    ns: NsRef,
    name: Span,
}

#[derive(Debug, Clone, Copy)]
struct MimeEntry {
    line: Span,
    name: Span,
    value: Span,
}

/// Where a header section's parts are and what its checks found (offsets into the body).
#[derive(Debug, Clone, Copy, Default)]
struct Bounds {
    cpim_end: usize,
    mime_start: usize,
    mime_end: usize,
    body_start: usize,
    /// The Content-Type among the MIME headers (an index of [`Layout::mime`]).
    content_type: usize,
    /// The length of the inner media type (`type/subtype`) at the start of the Content-Type
    /// value, found when the value was checked.
    media_type_len: usize,
    separator_missing: bool,
}

#[derive(Debug, Clone, Default)]
struct Layout {
    b: Bounds,
    entries: Vec<Entry>,
    requires: Vec<RequireEntry>,
    mime: Vec<MimeEntry>,
    /// The `NS` prefixes declared so far (RFC 3862 §3.4), newest last.
    prefixes: Vec<(Span, NsRef)>,
    /// Which parse into a [`ParseSpace`] filled these lists (0: none): a space reuses the
    /// entries of its last parse only when they come back from that parse's message.
    id: u64,
}

/// Parts of a CPIM header line, relative to the line start.
#[derive(Debug, Clone, Copy)]
struct LineParts {
    name_end: usize,
    dot: Option<usize>,
    params: Span,
    value: Span,
}

/// A line-level error and the position where it became certain (for the prefix rule: of two
/// errors in one line the one certain earlier wins).
type LineErr = (CpimError, usize);

/// Scans the structure of a CPIM header line (without its CRLF) left to right (RFC 3862
/// §2.2, §3.6). With `complete == false` the line may continue: `Ok(None)` when nothing is
/// certain yet. Every error is certain from the octets before its position.
fn scan_cpim_structure(
    line: &[u8],
    complete: bool,
    base: usize,
) -> Result<Option<LineParts>, LineErr> {
    let n = line.len();
    let undetermined = |e: CpimError| if complete { Err((e, n)) } else { Ok(None) };
    if n > 0 && is_wsp(line[0]) {
        return Err((CpimError::Folding { at: base }, 0));
    }
    let mut i = 0;
    let mut dot = None;
    while i < n {
        let b = line[i];
        if is_namechar(b) {
            i += 1;
        } else if b == b'.' && dot.is_none() && i > 0 {
            dot = Some(i);
            i += 1;
        } else {
            break;
        }
    }
    if i == n {
        return undetermined(CpimError::NotAHeader { at: base });
    }
    let b = line[i];
    if b != b':' || i == 0 || dot == Some(i - 1) {
        let e = if is_ctl(b) {
            CpimError::ControlChar { at: base + i }
        } else {
            CpimError::InvalidName { at: base + i }
        };
        return Err((e, i));
    }
    let name_end = i;
    i += 1;
    let params_start = i;
    while i < n && line[i] == b';' {
        match scan_param(line, i + 1, complete, base)? {
            Some(next) => i = next,
            None => return Ok(None),
        }
    }
    let params = Span::new(params_start, i);
    if i == n {
        return undetermined(CpimError::MissingSpace { at: base + n });
    }
    if line[i] != b' ' {
        let e = if is_ctl(line[i]) {
            CpimError::ControlChar { at: base + i }
        } else {
            CpimError::MissingSpace { at: base + i }
        };
        return Err((e, i));
    }
    i += 1;
    let vstart = i;
    if i < n && line[i] == b' ' {
        return Err((CpimError::ExtraSpace { at: base + i }, i));
    }
    if let Some(p) = find_ctl(&line[i..]) {
        return Err((CpimError::ControlChar { at: base + i + p }, i + p));
    }
    if !complete {
        return Ok(None);
    }
    if n == vstart || line[n - 1] == b' ' {
        return Err((CpimError::TrailingWhitespace { at: base + n - 1 }, n));
    }
    Ok(Some(LineParts {
        name_end,
        dot,
        params,
        value: Span::new(vstart, n),
    }))
}

/// Scans one `Parameter` (after its `;`) at `line[i..]`; returns the offset after it, or
/// `Ok(None)` when the line may still continue it.
fn scan_param(
    line: &[u8],
    mut i: usize,
    complete: bool,
    base: usize,
) -> Result<Option<usize>, LineErr> {
    let n = line.len();
    let start = i;
    let bad = |at: usize| {
        if at < n && is_ctl(line[at]) {
            CpimError::ControlChar { at: base + at }
        } else {
            CpimError::InvalidParameter { at: base + at }
        }
    };
    let undetermined = || {
        if complete {
            Err((CpimError::InvalidParameter { at: base + start }, n))
        } else {
            Ok(None)
        }
    };
    while i < n && is_namechar(line[i]) {
        i += 1;
    }
    if i == n {
        return undetermined();
    }
    if i == start || line[i] != b'=' {
        return Err((bad(i), i));
    }
    let lang = &line[start..i] == b"lang";
    i += 1;
    if i == n {
        return undetermined();
    }
    if line[i] == b'"' {
        if lang {
            return Err((bad(i), i));
        }
        i += 1;
        loop {
            if i >= n {
                return undetermined();
            }
            match line[i] {
                b'"' => return Ok(Some(i + 1)),
                b'\\' => {
                    if i + 1 >= n {
                        return undetermined();
                    }
                    match line[i + 1] {
                        b'u' => {
                            for k in 2..6 {
                                if i + k >= n {
                                    return undetermined();
                                }
                                if !line[i + k].is_ascii_hexdigit() {
                                    return Err((bad(i + k), i + k));
                                }
                            }
                            i += 6;
                        }
                        b'b' | b't' | b'n' | b'r' | b'"' | b'\'' | b'\\' => i += 2,
                        _ => return Err((bad(i + 1), i + 1)),
                    }
                }
                b if is_ctl(b) => return Err((CpimError::ControlChar { at: base + i }, i)),
                _ => i += 1,
            }
        }
    }
    let vstart = i;
    while i < n && is_tokenchar(line[i]) {
        i += 1;
    }
    if i == vstart {
        return Err((bad(i), i));
    }
    if i == n && !complete {
        return Ok(None);
    }
    if lang && !is_language_tag(&line[vstart..i]) {
        return Err((CpimError::InvalidParameter { at: base + vstart }, i));
    }
    Ok(Some(i))
}

/// [`scan_cpim_structure`] plus the UTF-8 check (3862-004); of two errors the one certain
/// first wins, so a prefix reports what the whole line would.
fn scan_cpim_line(
    line: &[u8],
    complete: bool,
    base: usize,
) -> Result<Option<LineParts>, CpimError> {
    let structural = scan_cpim_structure(line, complete, base);
    // Most header lines are US-ASCII: a word-at-a-time check settles them.
    let utf8 = match if line.is_ascii() {
        Ok("")
    } else {
        std::str::from_utf8(line)
    } {
        Ok(_) => None,
        Err(e) if e.error_len().is_none() && !complete => None,
        Err(e) => Some(e.valid_up_to()),
    };
    match (structural, utf8) {
        (Err((e, p)), Some(u)) => Err(if u < p {
            CpimError::InvalidUtf8 { at: base + u }
        } else {
            e
        }),
        (Err((e, _)), None) => Err(e),
        (Ok(_), Some(u)) => Err(CpimError::InvalidUtf8 { at: base + u }),
        (Ok(p), None) => Ok(p),
    }
}

/// A MIME header line: a new field or a continuation (folding) line.
enum MimeLine {
    Field { name_end: usize },
    Continuation,
}

/// Scans a MIME header line (RFC 5322 §2.2 syntax, as RFC 3862 §2.4 wants for the
/// encapsulated headers): `field-name ":" value` or a folded continuation.
fn scan_mime_line(
    line: &[u8],
    complete: bool,
    base: usize,
    has_prev: bool,
) -> Result<Option<MimeLine>, CpimError> {
    let n = line.len();
    let ctl_check = |from: usize| -> Result<(), CpimError> {
        match line[from..].iter().position(|&b| is_ctl(b) && b != b'\t') {
            Some(p) => Err(CpimError::ControlChar {
                at: base + from + p,
            }),
            None => Ok(()),
        }
    };
    if n > 0 && is_wsp(line[0]) {
        if !has_prev {
            return Err(CpimError::MalformedMimeHeader { at: base });
        }
        ctl_check(0)?;
        return Ok(complete.then_some(MimeLine::Continuation));
    }
    let mut i = 0;
    while i < n && is_ftext(line[i]) {
        i += 1;
    }
    if i == n {
        return if complete {
            Err(CpimError::MalformedMimeHeader { at: base })
        } else {
            Ok(None)
        };
    }
    if line[i] != b':' || i == 0 {
        return Err(if is_ctl(line[i]) {
            CpimError::ControlChar { at: base + i }
        } else {
            CpimError::MalformedMimeHeader { at: base + i }
        });
    }
    ctl_check(i + 1)?;
    Ok(complete.then_some(MimeLine::Field { name_end: i }))
}

/// Whether a line belongs to the MIME headers in the missing-separator mode: its first eight
/// octets are `Content-` in any case.
fn is_content_line(line: &[u8]) -> bool {
    line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"content-")
}

/// A partial line that could still become a `Content-` line.
fn may_become_content_line(line: &[u8]) -> bool {
    line.len() < 8 && line.eq_ignore_ascii_case(&b"content-"[..line.len()])
}

/// Validates an inner Content-Type value (unfolded): US-ASCII `type "/" subtype` tokens, then
/// nothing or parameters after `;` (RFC 2045 §5.1).
fn media_type_end(v: &[u8]) -> Option<usize> {
    // One pass over the type and the subtype ("/" is not a token character, so the type ends
    // at the first one or not at all); token characters are US-ASCII, the rest is checked.
    let token_end = |from: usize| {
        let mut i = from;
        while i < v.len() && is_mime_tokenchar(v[i]) {
            i += 1;
        }
        i
    };
    let slash = token_end(0);
    if slash == 0 || v.get(slash) != Some(&b'/') {
        return None;
    }
    let end = token_end(slash + 1);
    if end == slash + 1 {
        return None;
    }
    let after = &v[end..];
    if !after.is_ascii() {
        return None;
    }
    match after
        .iter()
        .find(|&&b| !is_wsp(b) && b != b'\r' && b != b'\n')
    {
        None | Some(b';') => Some(end),
        Some(_) => None,
    }
}

/// The sequential header-section parser.
struct HeadParser<'a> {
    buf: &'a [u8],
    opts: &'a ParseOptions,
    section: Section,
    default_ns: NsRef,
    l: Layout,
    /// The MIME field being read (it may still get continuation lines).
    pending: Option<MimeEntry>,
    content_type: Option<usize>,
}

impl<'a> HeadParser<'a> {
    /// A parser of `buf` that fills `l` (empty; its vectors' room is reused).
    fn new(buf: &'a [u8], opts: &'a ParseOptions, l: Layout) -> Self {
        Self {
            buf,
            opts,
            section: Section::Cpim,
            default_ns: NsRef::Cpim,
            l,
            pending: None,
            content_type: None,
        }
    }

    fn bytes(&self, s: Span) -> &'a [u8] {
        &self.buf[s.s..s.e]
    }

    fn ns_is_cpim(&self, ns: NsRef) -> bool {
        match ns {
            NsRef::Cpim => true,
            NsRef::Uri(s) => self.bytes(s) == DEFAULT_NAMESPACE.as_bytes(),
        }
    }

    fn resolve(&self, prefix: Option<&[u8]>) -> Option<NsRef> {
        match prefix {
            None => Some(self.default_ns),
            Some(p) => self
                .l
                .prefixes
                .iter()
                .rev()
                .find(|(s, _)| self.bytes(*s) == p)
                .map(|&(_, ns)| ns),
        }
    }

    /// Whether the next line is read in the missing-separator mode's MIME rules.
    fn lenient_switch_possible(&self) -> bool {
        self.section == Section::Cpim
            && self.opts.accept_missing_separator
            && !self.l.entries.is_empty()
    }

    /// Checks a line that may continue (the last octets of the prefix).
    fn partial(&mut self, line: &[u8], base: usize) -> Result<(), CpimError> {
        if line.is_empty() {
            return Ok(());
        }
        if self.lenient_switch_possible() {
            if may_become_content_line(line) {
                return Ok(());
            }
            if is_content_line(line) {
                return scan_mime_line(line, false, base, false).map(|_| ());
            }
        }
        match self.section {
            Section::Cpim => scan_cpim_line(line, false, base).map(|_| ()),
            Section::Mime => {
                if !is_wsp(line[0]) {
                    self.close_pending()?;
                }
                scan_mime_line(line, false, base, self.pending.is_some()).map(|_| ())
            }
        }
    }

    /// Handles a complete line `line` at `base` (its CRLF ends at `next`); returns the body
    /// offset when the header section is complete.
    fn line(&mut self, line: &[u8], base: usize, next: usize) -> Result<Option<usize>, CpimError> {
        if self.lenient_switch_possible() && is_content_line(line) {
            self.l.b.separator_missing = true;
            self.l.b.cpim_end = base;
            self.l.b.mime_start = base;
            self.section = Section::Mime;
        }
        match self.section {
            Section::Cpim if line.is_empty() => {
                self.l.b.cpim_end = base;
                self.l.b.mime_start = next;
                self.section = Section::Mime;
                Ok(None)
            }
            Section::Cpim => self.cpim_line(line, base).map(|()| None),
            Section::Mime if line.is_empty() => {
                self.close_pending()?;
                let Some(ct) = self.content_type else {
                    return Err(CpimError::MissingContentType { at: base });
                };
                self.l.b.content_type = ct;
                self.l.b.mime_end = base;
                self.l.b.body_start = next;
                Ok(Some(next))
            }
            Section::Mime => {
                if !is_wsp(line[0]) {
                    self.close_pending()?;
                }
                match scan_mime_line(line, true, base, self.pending.is_some())? {
                    Some(MimeLine::Field { name_end }) => {
                        let mut vs = name_end + 1;
                        while vs < line.len() && is_wsp(line[vs]) {
                            vs += 1;
                        }
                        self.pending = Some(MimeEntry {
                            line: Span::new(base, base + line.len()),
                            name: Span::new(base, base + name_end),
                            value: Span::new(base + vs, base + line.len()),
                        });
                    }
                    Some(MimeLine::Continuation) => {
                        if let Some(p) = &mut self.pending {
                            p.line.e = base + line.len();
                            p.value.e = base + line.len();
                        }
                    }
                    None => return Err(CpimError::MalformedMimeHeader { at: base }),
                }
                Ok(None)
            }
        }
    }

    /// Ends the pending MIME field: trims its value, checks Content-Type.
    fn close_pending(&mut self) -> Result<(), CpimError> {
        let Some(mut p) = self.pending.take() else {
            return Ok(());
        };
        while p.value.e > p.value.s && is_wsp(self.buf[p.value.e - 1]) {
            p.value.e -= 1;
        }
        if self.bytes(p.name).eq_ignore_ascii_case(b"content-type") {
            if self.content_type.is_some() {
                return Err(CpimError::DuplicateContentType { at: p.line.s });
            }
            let Some(len) = media_type_end(self.bytes(p.value)) else {
                return Err(CpimError::InvalidContentType { at: p.line.s });
            };
            self.l.b.media_type_len = len;
            self.content_type = Some(self.l.mime.len());
        }
        self.l.mime.push(p);
        Ok(())
    }

    /// A complete CPIM header line: syntax, namespace, standard-header value.
    fn cpim_line(&mut self, line: &[u8], base: usize) -> Result<(), CpimError> {
        let p = scan_cpim_line(line, true, base)?.ok_or(CpimError::NotAHeader { at: base })?;
        let name = &line[..p.name_end];
        let (prefix, local) = match p.dot {
            Some(d) => (Some(&name[..d]), &name[d + 1..]),
            None => (None, name),
        };
        let ns = self
            .resolve(prefix)
            .ok_or(CpimError::UndeclaredPrefix { at: base })?;
        let value = p.value.off(base);
        let v = &line[p.value.s..p.value.e];
        let mut kind = Kind::Other;
        if self.ns_is_cpim(ns) {
            if local.eq_ignore_ascii_case(b"content-type") {
                return Err(CpimError::ContentTypeInCpimHeaders { at: base });
            }
            if let Some(expected) = standard_name(local) {
                if expected.as_bytes() != local {
                    return Err(CpimError::WrongCase { at: base, expected });
                }
                kind = self.standard(expected, v, value, base)?;
            }
        }
        self.l.entries.push(Entry {
            line: Span::new(base, base + line.len()),
            name: Span::new(base, base + p.name_end),
            dot: p.dot.map(|d| base + d),
            params: p.params.off(base),
            value,
            ns,
            kind,
        });
        Ok(())
    }

    fn standard(
        &mut self,
        name: &'static str,
        v: &[u8],
        value: Span,
        base: usize,
    ) -> Result<Kind, CpimError> {
        let addr = |header: &'static str| {
            parse_address(v)
                .map(|(n, u)| Addr {
                    name: n.map(|(s, e)| Span::new(value.s + s, value.s + e)),
                    uri: Span::new(value.s + u.0, value.s + u.1),
                })
                .ok_or(CpimError::InvalidAddress { at: base, header })
        };
        Ok(match name {
            "From" => Kind::From(addr("From")?),
            "To" => Kind::To(addr("To")?),
            "cc" => Kind::Cc(addr("cc")?),
            "Subject" => Kind::Subject,
            "DateTime" => {
                let s =
                    std::str::from_utf8(v).map_err(|_| CpimError::InvalidDateTime { at: base })?;
                Kind::DateTime(
                    DateTime::parse(s).map_err(|_| CpimError::InvalidDateTime { at: base })?,
                )
            }
            "NS" => {
                let (prefix, uri) = parse_ns(v).ok_or(CpimError::InvalidNs { at: base })?;
                let uri = Span::new(value.s + uri.0, value.s + uri.1);
                let target = if self.bytes(uri) == DEFAULT_NAMESPACE.as_bytes() {
                    NsRef::Cpim
                } else {
                    NsRef::Uri(uri)
                };
                let prefix = prefix.map(|(s, e)| Span::new(value.s + s, value.s + e));
                match prefix {
                    Some(p) => self.l.prefixes.push((p, target)),
                    None => self.default_ns = target,
                }
                Kind::Ns { prefix, uri }
            }
            "Require" => {
                let first = self.l.requires.len();
                let mut off = value.s;
                for (k, item) in v.split(|&b| b == b',').enumerate() {
                    // One SP after a comma is accepted (the ABNF has none).
                    let skip = usize::from(k > 0 && item.first() == Some(&b' '));
                    let name = &item[skip..];
                    let (prefix, local) =
                        split_header_name(name).ok_or(CpimError::InvalidRequire { at: base })?;
                    let ns = self
                        .resolve(prefix)
                        .ok_or(CpimError::UndeclaredPrefix { at: base })?;
                    let start = off + skip + prefix.map_or(0, |p| p.len() + 1);
                    self.l.requires.push(RequireEntry {
                        ns,
                        name: Span::new(start, start + local.len()),
                    });
                    off += item.len() + 1;
                }
                Kind::Require {
                    first,
                    len: self.l.requires.len() - first,
                }
            }
            _ => Kind::Other,
        })
    }
}

/// Parses the header section of `buf`. `eof`: `buf` is the whole body (the section must end in
/// it); otherwise `buf` is a prefix and `Ok(None)` means "need more".
fn parse_head(buf: &[u8], opts: &ParseOptions, eof: bool) -> Result<Option<Layout>, CpimError> {
    parse_head_in(buf, opts, eof, Layout::default())
}

/// [`parse_head`] into `l` (empty, its vectors reused).
fn parse_head_in(
    buf: &[u8],
    opts: &ParseOptions,
    eof: bool,
    l: Layout,
) -> Result<Option<Layout>, CpimError> {
    let mut p = HeadParser::new(buf, opts, l);
    Ok(p.run(eof, 0, None)?.map(|_| p.l))
}

/// The state of a [`HeadParser`] after a complete line: what the lines before `at` decided.
/// A parse whose first `at` octets are those of an earlier one is in this state at `at`.
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// Where the next line starts.
    at: usize,
    /// The header section ended with this line (`at` is where the body starts).
    done: bool,
    section: Section,
    default_ns: NsRef,
    pending: Option<MimeEntry>,
    content_type: Option<usize>,
    /// The lengths of the layout's lists.
    entries: usize,
    requires: usize,
    mime: usize,
    prefixes: usize,
    bounds: Bounds,
}

impl HeadParser<'_> {
    /// The state after the line that ends at `at`.
    fn mark(&self, at: usize, done: bool) -> Mark {
        let l = &self.l;
        Mark {
            at,
            done,
            section: self.section,
            default_ns: self.default_ns,
            pending: self.pending,
            content_type: self.content_type,
            entries: l.entries.len(),
            requires: l.requires.len(),
            mime: l.mime.len(),
            prefixes: l.prefixes.len(),
            bounds: l.b,
        }
    }

    /// Goes back to the state `m` of a parse whose lists this parser holds.
    fn restore(&mut self, m: &Mark) {
        self.section = m.section;
        self.default_ns = m.default_ns;
        self.pending = m.pending;
        self.content_type = m.content_type;
        let l = &mut self.l;
        l.entries.truncate(m.entries);
        l.requires.truncate(m.requires);
        l.mime.truncate(m.mime);
        l.prefixes.truncate(m.prefixes);
        l.b = m.bounds;
    }

    /// Reads the lines from `pos` (a line start) on; returns where the body starts once the
    /// header section is complete, `Ok(None)` while it may still be. `eof`: the buffer is
    /// the whole body. `marks`: gets this parser's [`Mark`] after each complete line.
    fn run(
        &mut self,
        eof: bool,
        mut pos: usize,
        mut marks: Option<&mut Vec<Mark>>,
    ) -> Result<Option<usize>, CpimError> {
        let buf = self.buf;
        let limit = self.opts.max_head_bytes;
        let window = &buf[..buf.len().min(limit)];
        let over = if eof {
            buf.len() > limit
        } else {
            buf.len() >= limit
        };
        loop {
            let Some(rel) = memchr::memchr(b'\n', &window[pos..]) else {
                let rest = &window[pos..];
                let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
                if eof && !over {
                    if !rest.is_empty() {
                        self.line(rest, pos, buf.len())?;
                    }
                    return Err(CpimError::Truncated {
                        section: self.section,
                    });
                }
                self.partial(rest, pos)?;
                return if over {
                    Err(CpimError::HeadTooLarge { limit })
                } else {
                    Ok(None)
                };
            };
            let lf = pos + rel;
            if lf == pos || window[lf - 1] != b'\r' {
                self.partial(&window[pos..lf], pos)?;
                return Err(CpimError::BareLf { at: lf });
            }
            let body = self.line(&window[pos..lf - 1], pos, lf + 1)?;
            if let Some(m) = marks.as_deref_mut() {
                if m.len() < MARKS_KEPT && lf < MARKED_OCTETS {
                    m.push(self.mark(lf + 1, body.is_some()));
                }
            }
            if let Some(body) = body {
                debug_assert_eq!(body, lf + 1);
                return Ok(Some(body));
            }
            pos = lf + 1;
        }
    }
}

/// Lines of a header section whose [`Mark`]s a [`ParseSpace`] keeps: a usual section has a
/// handful (From, To, DateTime, a few NS-prefixed ones, Content-Type); the bound keeps a space
/// small whatever a peer sends.
const MARKS_KEPT: usize = 24;

/// Octets of a header section within which [`Mark`]s are kept (and which a [`ParseSpace`]
/// keeps to compare the next message with).
const MARKED_OCTETS: usize = 2048;

/// Header lists longer than this are not kept in a [`ParseSpace`] ([`Message::recycle`]): one
/// large message does not leave a large space behind.
const LIST_KEPT: usize = 64;

/// The id of the next parse into any [`ParseSpace`] ([`Layout::id`]): unique in the process,
/// so a message given back to another space than its own is not taken for that space's last.
static PARSE_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// How many octets `a` and `b` have in common at their start.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    if a == b {
        return n;
    }
    let word = |s: &[u8]| u64::from_ne_bytes(s.try_into().unwrap_or([0; 8]));
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        if word(x) != word(y) {
            break;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .position(|(x, y)| x != y)
        .unwrap_or(n - i)
}

/// Where the body of a `message/cpim` body that is still arriving starts: `Ok(Some(n))` once
/// `prefix` holds the complete header section (CPIM headers, blank line, MIME headers with
/// Content-Type, blank line), `n` being its length; `Ok(None)` while it may still be
/// completed; an error as soon as the octets already present cannot start a valid body, or the
/// section exceeds [`ParseOptions::max_head_bytes`]. RFC 7701 §6.1: the switch distributes a
/// chunked message once this is `Some` (7701-017). Same checks as [`Message::parse_prefix`],
/// without building the message.
pub fn head_len(prefix: &[u8], opts: &ParseOptions) -> Result<Option<usize>, CpimError> {
    Ok(parse_head(prefix, opts, false)?.map(|l| l.b.body_start))
}

/// Whether an MSRP Content-Type value names `message/cpim` (RFC 3862 §7.1; ASCII
/// case-insensitive as MIME types are; the type has no parameters, 3862-020, so any are
/// ignored). RFC 7701 §6.3: a SEND whose body is not this is answered 415 (7701-009).
pub fn is_cpim_content_type(value: &str) -> bool {
    // Most values are just that: compared at once (splitting off parameters and trimming
    // cost the switch 170 instructions a message).
    if value.eq_ignore_ascii_case("message/cpim") {
        return true;
    }
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim_matches([' ', '\t']);
    essence.eq_ignore_ascii_case("message/cpim")
}

// ---------------------------------------------------------------------------------------------
// The parsed message and its views
// ---------------------------------------------------------------------------------------------

/// What a parser keeps from one message to the next ([`Message::parse_prefix_in`],
/// [`Message::recycle`]): room for the header lists (two allocations and frees per message were
/// 2% of a switch's instructions), and what the last parse read: its header section's octets
/// and its state after each line.
///
/// How a line parses depends only on its octets and on the lines before it, so a message whose
/// first lines are octet for octet those of the last one parsed (a session's `From` and `To`,
/// its `NS` declarations) takes the state after them as it was and parses only the lines from
/// the first that differs. A message that repeats the whole header section parses nothing.
#[derive(Debug, Default)]
pub struct ParseSpace {
    /// The lists (with the last parse's entries when its message gave them back).
    l: Layout,
    /// The last complete parse's state after each of its lines, in order.
    marks: Vec<Mark>,
    /// Its header section.
    head: Vec<u8>,
    /// Its options.
    opts: Option<ParseOptions>,
    /// Its [`Layout::id`] (the last one given out).
    last: u64,
    /// Where the last parse started reading lines (0: from the start; the body's start: it read
    /// none).
    resumed_at: usize,
}

impl ParseSpace {
    /// Parses `buf`'s header section (a prefix of a body), from the last parse's state at the
    /// end of the last line the two have in common.
    fn parse(&mut self, buf: &[u8], opts: &ParseOptions) -> Result<Option<Layout>, CpimError> {
        let mut l = std::mem::take(&mut self.l);
        let reusable = l.id != 0 && l.id == self.last && self.opts.as_ref() == Some(opts);
        let from = if reusable {
            let n = common_prefix(buf, &self.head);
            self.marks.iter().rposition(|m| m.at <= n)
        } else {
            None
        };
        let mut p = match from {
            Some(k) => {
                self.marks.truncate(k + 1);
                let mut p = HeadParser::new(buf, opts, l);
                p.restore(&self.marks[k]);
                p
            }
            None => {
                self.marks.clear();
                l.entries.clear();
                l.requires.clear();
                l.mime.clear();
                l.prefixes.clear();
                // The lists' room, and nothing else of the last parse.
                let fresh = Layout {
                    entries: l.entries,
                    requires: l.requires,
                    mime: l.mime,
                    prefixes: l.prefixes,
                    ..Layout::default()
                };
                HeadParser::new(buf, opts, fresh)
            }
        };
        let pos = from.map_or(0, |k| self.marks[k].at);
        self.resumed_at = pos;
        let result = match from.map(|k| self.marks[k]) {
            Some(m) if m.done => Ok(Some(m.at)),
            _ => p.run(false, pos, Some(&mut self.marks)),
        };
        match result {
            Ok(Some(_)) => {
                // What the marks cover (the octets before `pos` are the same).
                let kept = self.marks.last().map_or(0, |m| m.at);
                self.head.truncate(pos.min(kept));
                self.head.extend_from_slice(&buf[self.head.len()..kept]);
                self.opts = Some(*opts);
                self.last = PARSE_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                p.l.id = self.last;
                Ok(Some(p.l))
            }
            other => {
                // Nothing of it is kept: the next parse starts afresh.
                self.marks.clear();
                self.l = p.l;
                self.l.id = 0;
                other.map(|_| None)
            }
        }
    }
}

/// A parsed `message/cpim` body (RFC 3862 §2). It owns the input [`Bytes`] and refers to it;
/// nothing is copied or re-encoded, so [`Message::as_bytes`] is exactly what arrived
/// (3862-006, 7701-014).
#[derive(Debug, Clone)]
pub struct Message {
    raw: Bytes,
    /// The CPIM header lines, validated as UTF-8 (a slice of `raw`).
    cpim: ByteString,
    l: Layout,
}

impl Message {
    /// Parses a complete body. A header section that does not end in `body` is
    /// [`CpimError::Truncated`].
    pub fn parse(body: Bytes, opts: &ParseOptions) -> Result<Self, CpimError> {
        match parse_head(&body, opts, true)? {
            Some(l) => Self::assemble(body, l),
            None => Err(CpimError::Truncated {
                section: Section::Cpim,
            }),
        }
    }

    /// Parses the first octets of a body that is still arriving (the first chunk, or the
    /// chunks so far). `Ok(None)`: the header section has not ended yet and may still be valid;
    /// `Ok(Some((message, n)))`: it has, `n` octets long, and the message's
    /// [`body`](Message::body) is the part of the inner body present in `prefix`. Errors as
    /// [`head_len`] (7701-017).
    pub fn parse_prefix(
        prefix: Bytes,
        opts: &ParseOptions,
    ) -> Result<Option<(Self, usize)>, CpimError> {
        Self::parse_prefix_in(prefix, opts, &mut ParseSpace::default())
    }

    /// [`Message::parse_prefix`] with the vectors of `space` (left empty), which
    /// [`Message::recycle`] gives back: a caller parsing one message after another allocates
    /// nothing for the header lists.
    pub fn parse_prefix_in(
        prefix: Bytes,
        opts: &ParseOptions,
        space: &mut ParseSpace,
    ) -> Result<Option<(Self, usize)>, CpimError> {
        match space.parse(&prefix, opts)? {
            None => Ok(None),
            Some(l) => {
                let n = l.b.body_start;
                match Self::assemble(prefix, l) {
                    Ok(m) => Ok(Some((m, n))),
                    Err(e) => {
                        space.marks.clear();
                        Err(e)
                    }
                }
            }
        }
    }

    /// Gives the message's header lists back to `space` for the next
    /// [`Message::parse_prefix_in`]: if this message is the last one parsed in it, the next
    /// parse starts from the lines the two have in common.
    pub fn recycle(self, space: &mut ParseSpace) {
        let l = self.l;
        let long = |n: usize| n > LIST_KEPT;
        if long(l.entries.capacity()) || long(l.mime.capacity()) || long(l.requires.capacity()) {
            space.l = Layout::default();
        } else {
            space.l = l;
        }
    }

    fn assemble(raw: Bytes, l: Layout) -> Result<Self, CpimError> {
        let cpim = ByteString::try_from(raw.slice(..l.b.cpim_end)).map_err(|e| {
            CpimError::InvalidUtf8 {
                at: e.valid_up_to(),
            }
        })?;
        Ok(Self { raw, cpim, l })
    }

    fn s(&self, s: Span) -> &str {
        self.cpim.get(s.s..s.e).unwrap_or("")
    }

    fn raw_str(&self, s: Span) -> &str {
        std::str::from_utf8(&self.raw[s.s..s.e]).unwrap_or("")
    }

    fn ns_str(&self, ns: NsRef) -> &str {
        match ns {
            NsRef::Cpim => DEFAULT_NAMESPACE,
            NsRef::Uri(s) => self.s(s),
        }
    }

    /// The octets given to the parser, unchanged: what a switch forwards (3862-006,
    /// 7701-014).
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// [`Message::as_bytes`] by value.
    pub fn into_bytes(self) -> Bytes {
        self.raw
    }

    /// Length of the header section: the inner body starts at this offset.
    pub fn head_len(&self) -> usize {
        self.l.b.body_start
    }

    /// The encapsulated body (RFC 3862 §2.4), or the part of it present in the prefix given
    /// to [`Message::parse_prefix`]; a slice of the input, not a copy.
    pub fn body(&self) -> Bytes {
        self.raw.slice(self.l.b.body_start..)
    }

    /// The CPIM header lines as received, each with its CRLF, without the blank line that ends
    /// them (3862-006).
    pub fn header_block(&self) -> &str {
        &self.cpim
    }

    /// The MIME header lines as received, each with its CRLF, without the blank line that ends
    /// them.
    pub fn mime_block(&self) -> &[u8] {
        &self.raw[self.l.b.mime_start..self.l.b.mime_end]
    }

    /// `true` when the body lacked the blank line between CPIM and MIME headers and was read
    /// with [`ParseOptions::accept_missing_separator`].
    pub fn separator_missing(&self) -> bool {
        self.l.b.separator_missing
    }

    fn header(&self, e: &Entry) -> Header<'_> {
        Header {
            line: self.s(e.line),
            name: self.s(e.name),
            prefix: e.dot.map(|d| self.s(Span::new(e.name.s, d))),
            local: self.s(Span::new(e.dot.map_or(e.name.s, |d| d + 1), e.name.e)),
            namespace: self.ns_str(e.ns),
            params: self.s(e.params),
            value: self.s(e.value),
            offset: e.line.s,
        }
    }

    /// Every CPIM message header in order (RFC 3862 §2.2), unknown ones included (3862-007:
    /// the caller ignores what it does not recognise).
    pub fn headers(&self) -> impl ExactSizeIterator<Item = Header<'_>> + '_ {
        self.l.entries.iter().map(|e| self.header(e))
    }

    /// The headers named `name` in namespace `namespace` (RFC 3862 §3.4: a header is
    /// identified by both; 3862-011), e.g. `("mid:MessageFeatures@id.foo.com",
    /// "VitalMessageOption")` for `MyFeatures.VitalMessageOption` after `NS: MyFeatures
    /// <mid:MessageFeatures@id.foo.com>`. Names compare exactly (3862-005).
    pub fn get<'s>(
        &'s self,
        namespace: &'s str,
        name: &'s str,
    ) -> impl Iterator<Item = Header<'s>> + 's {
        self.headers()
            .filter(move |h| h.namespace == namespace && h.local == name)
    }

    fn address(&self, e: &Entry, a: Addr) -> Address<'_> {
        Address {
            value: self.s(e.value),
            name: a.name.map(|s| self.s(s)),
            uri: self.s(a.uri),
        }
    }

    fn addresses(&self, pick: fn(&Kind) -> Option<Addr>) -> impl Iterator<Item = Address<'_>> + '_ {
        self.l
            .entries
            .iter()
            .filter_map(move |e| pick(&e.kind).map(|a| self.address(e, a)))
    }

    /// The sender: the first `From` header (RFC 3862 §4.1; 3862-013). RFC 7701 §6.1/§6.3: the
    /// switch checks that it belongs to the sending participant (7701-010/012).
    pub fn from(&self) -> Option<Address<'_>> {
        self.from_all().next()
    }

    /// Every `From` header (RFC 3862 does not forbid several).
    pub fn from_all(&self) -> impl Iterator<Item = Address<'_>> + '_ {
        self.addresses(|k| {
            if let Kind::From(a) = k {
                Some(*a)
            } else {
                None
            }
        })
    }

    /// Every `To` header in order (RFC 3862 §4.2; 3862-014). RFC 7701 wants exactly one:
    /// several are answered 403 (7701-011); see [`Message::single_to`].
    pub fn to(&self) -> impl Iterator<Item = Address<'_>> + '_ {
        self.addresses(|k| if let Kind::To(a) = k { Some(*a) } else { None })
    }

    /// The `To` header when there is exactly one (RFC 7701 §6.1/§6.2; 7701-010/011/020),
    /// otherwise `None` (count them with `to().count()`).
    pub fn single_to(&self) -> Option<Address<'_>> {
        let mut it = self.to();
        let first = it.next()?;
        it.next().is_none().then_some(first)
    }

    /// Every `cc` header in order (RFC 3862 §4.3; 3862-015).
    pub fn cc(&self) -> impl Iterator<Item = Address<'_>> + '_ {
        self.addresses(|k| if let Kind::Cc(a) = k { Some(*a) } else { None })
    }

    /// The first `DateTime` header (RFC 3862 §4.4; 3862-016).
    pub fn date_time(&self) -> Option<DateTime> {
        self.l.entries.iter().find_map(|e| match e.kind {
            Kind::DateTime(d) => Some(d),
            _ => None,
        })
    }

    /// Every `Subject` header in order (RFC 3862 §4.5; 3862-017), each with its language.
    pub fn subjects(&self) -> impl Iterator<Item = Subject<'_>> + '_ {
        self.l
            .entries
            .iter()
            .filter(|e| matches!(e.kind, Kind::Subject))
            .map(|e| {
                let h = self.header(e);
                Subject {
                    lang: h.lang(),
                    raw: h.value,
                }
            })
    }

    /// The first `Subject` whose `lang` parameter is `lang` (`None`: the one without; RFC 3862
    /// §3.3: that is `i-default`). Language tags compare ASCII case-insensitively (RFC 3066).
    pub fn subject(&self, lang: Option<&str>) -> Option<Subject<'_>> {
        self.subjects().find(|s| match (s.lang, lang) {
            (None, None) => true,
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        })
    }

    /// Every `NS` declaration in order (RFC 3862 §3.4, §4.6; 3862-011/018).
    pub fn namespaces(&self) -> impl Iterator<Item = NsDecl<'_>> + '_ {
        self.l.entries.iter().filter_map(|e| match e.kind {
            Kind::Ns { prefix, uri } => Some(NsDecl {
                prefix: prefix.map(|p| self.s(p)),
                uri: self.s(uri),
            }),
            _ => None,
        })
    }

    /// The header names of every `Require` header, in order, each resolved through the `NS`
    /// declarations before it (RFC 3862 §3.5, §4.7; 3862-019).
    pub fn require(&self) -> impl Iterator<Item = QName<'_>> + '_ {
        self.l.entries.iter().flat_map(move |e| {
            let r = match e.kind {
                Kind::Require { first, len } => first..first + len,
                _ => 0..0,
            };
            self.l.requires[r].iter().map(|q| QName {
                namespace: self.ns_str(q.ns),
                name: self.s(q.name),
            })
        })
    }

    /// The encapsulated MIME headers in order (RFC 3862 §2.4).
    pub fn mime_headers(&self) -> impl ExactSizeIterator<Item = MimeHeader<'_>> + '_ {
        self.l.mime.iter().map(|m| MimeHeader {
            line: &self.raw[m.line.s..m.line.e],
            name: self.raw_str(m.name),
            value: &self.raw[m.value.s..m.value.e],
        })
    }

    /// The first MIME header named `name` (ASCII case-insensitive, as MIME names are).
    pub fn mime_header(&self, name: &str) -> Option<MimeHeader<'_>> {
        self.mime_headers()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    /// The inner Content-Type value as received (RFC 3862 §2.4; 3862-002), trimmed; a folded
    /// value keeps its CRLF and indentation.
    pub fn content_type(&self) -> &str {
        self.l
            .mime
            .get(self.l.b.content_type)
            .map_or("", |m| self.raw_str(m.value))
    }

    /// The inner media type, `type/subtype` of the Content-Type without parameters, as
    /// received (compare it ASCII case-insensitively; RFC 7701 §6.1 checks it against each
    /// recipient's accept-wrapped-types, 7701-015).
    pub fn media_type(&self) -> &str {
        let ct = self.content_type();
        ct.get(..self.l.b.media_type_len).unwrap_or(ct)
    }

    /// [`Message::media_type`]'s octets, without the UTF-8 check a `&str` costs (to compare
    /// with a type at hand).
    pub fn media_type_bytes(&self) -> &[u8] {
        self.l.mime.get(self.l.b.content_type).map_or(&[], |m| {
            let v = &self.raw[m.value.s..m.value.e];
            v.get(..self.l.b.media_type_len).unwrap_or(v)
        })
    }
}

/// One CPIM message header, borrowed from its [`Message`]: the original octets plus the
/// namespace it resolves to (RFC 3862 §2.2, §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    line: &'a str,
    name: &'a str,
    prefix: Option<&'a str>,
    local: &'a str,
    namespace: &'a str,
    params: &'a str,
    value: &'a str,
    offset: usize,
}

impl<'a> Header<'a> {
    /// The whole line as received, without its CRLF (3862-006).
    pub fn line(&self) -> &'a str {
        self.line
    }

    /// The header name as written, prefix included (`MyFeatures.VitalMessageOption`).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The namespace prefix, if the name has one (RFC 3862 §3.4).
    pub fn prefix(&self) -> Option<&'a str> {
        self.prefix
    }

    /// The name without its prefix (`VitalMessageOption`).
    pub fn local_name(&self) -> &'a str {
        self.local
    }

    /// The namespace URI the name resolves to: [`DEFAULT_NAMESPACE`] or the URI of the `NS`
    /// declaration in force (RFC 3862 §3.4; 3862-011/012).
    pub fn namespace(&self) -> &'a str {
        self.namespace
    }

    /// The (namespace, name) pair that identifies the header (RFC 3862 §3.4).
    pub fn qname(&self) -> QName<'a> {
        QName {
            namespace: self.namespace,
            name: self.local,
        }
    }

    /// Whether this is header `name` of `namespace` (exact comparison, 3862-005).
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.namespace == namespace && self.local == name
    }

    /// The parameters as written, each with its leading `;` (`;lang=fr`), or "" (RFC 3862
    /// §3.3, §3.6).
    pub fn params_raw(&self) -> &'a str {
        self.params
    }

    /// The parameters, in order (RFC 3862 §3.6).
    pub fn params(&self) -> Params<'a> {
        Params { rest: self.params }
    }

    /// The `lang` parameter (RFC 3862 §3.3; 3862-010).
    pub fn lang(&self) -> Option<&'a str> {
        self.params().find(|p| p.name == "lang").map(|p| p.value)
    }

    /// The value as received, escapes not decoded (after the single SP; 3862-003).
    pub fn value(&self) -> &'a str {
        self.value
    }

    /// The value with RFC 3862 §2.3 escapes decoded (3862-008), for headers whose value is
    /// text.
    pub fn text(&self) -> Cow<'a, str> {
        unescape(self.value)
    }

    /// Offset of the line in the body.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// A header parameter (RFC 3862 §3.6 `Parameter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// `Param-name` (`lang` for the language parameter).
    pub name: &'a str,
    /// `Param-value` as written: a token, a number, or a quoted `String` with its quotes.
    pub value: &'a str,
}

impl<'a> Param<'a> {
    /// The value with the quotes of a `String` removed and its escapes decoded.
    pub fn text(&self) -> Cow<'a, str> {
        match self
            .value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
        {
            Some(inner) => unescape(inner),
            None => Cow::Borrowed(self.value),
        }
    }
}

/// Iterator over a header's parameters ([`Header::params`]).
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        // The parameters were validated by the parser: `;name=value` repeated.
        let r = self.rest.strip_prefix(';')?;
        let eq = r.find('=')?;
        let name = &r[..eq];
        let v = &r[eq + 1..];
        let end = if v.starts_with('"') {
            scan_string(v.as_bytes(), 0).unwrap_or(v.len())
        } else {
            v.find(';').unwrap_or(v.len())
        };
        self.rest = &v[end..];
        Some(Param {
            name,
            value: &v[..end],
        })
    }
}

/// A namespace-qualified header name (RFC 3862 §3.4): what `Require` lists and what identifies
/// a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QName<'a> {
    /// Namespace URI.
    pub namespace: &'a str,
    /// Name within the namespace.
    pub name: &'a str,
}

/// A `From`, `To` or `cc` value: `[Formal-name] "<" URI ">"` (RFC 3862 §4.1–§4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    value: &'a str,
    name: Option<&'a str>,
    uri: &'a str,
}

impl<'a> Address<'a> {
    /// The URI between `<` and `>`, as received (compare URIs by their scheme's rules).
    pub fn uri(&self) -> &'a str {
        self.uri
    }

    /// The formal name as written (tokens without the SP before `<`, or the quoted `String`
    /// with its quotes), or `None`.
    pub fn formal_name_raw(&self) -> Option<&'a str> {
        self.name
    }

    /// The formal name as text: the quotes of a `String` removed and the RFC 3862 §2.3
    /// escapes decoded (3862-008).
    pub fn formal_name(&self) -> Option<Cow<'a, str>> {
        let n = self.name?;
        Some(
            match n.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => unescape(inner),
                None => unescape(n),
            },
        )
    }

    /// The whole header value as received.
    pub fn value(&self) -> &'a str {
        self.value
    }
}

/// A `Subject` header (RFC 3862 §4.5; 3862-017).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    lang: Option<&'a str>,
    raw: &'a str,
}

impl<'a> Subject<'a> {
    /// The `lang` parameter (RFC 3862 §3.3).
    pub fn lang(&self) -> Option<&'a str> {
        self.lang
    }

    /// The value as received.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The subject text, escapes decoded (3862-008).
    pub fn text(&self) -> Cow<'a, str> {
        unescape(self.raw)
    }
}

/// An `NS` declaration (RFC 3862 §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsDecl<'a> {
    /// The declared prefix; `None` sets the default namespace for the headers that follow.
    pub prefix: Option<&'a str>,
    /// The namespace URI.
    pub uri: &'a str,
}

/// An encapsulated MIME header (RFC 3862 §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MimeHeader<'a> {
    line: &'a [u8],
    name: &'a str,
    value: &'a [u8],
}

impl<'a> MimeHeader<'a> {
    /// The field name as written (compare it ASCII case-insensitively).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The value as received, trimmed; a folded value keeps its CRLF and indentation. MIME
    /// values are octets (only the CPIM headers must be UTF-8).
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// [`MimeHeader::value`] if it is UTF-8.
    pub fn value_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }

    /// The lines as received, without the last CRLF.
    pub fn raw(&self) -> &'a [u8] {
        self.line
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Why [`Builder`] refused a header or a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Not a `Header-name` (RFC 3862 §3.1, §3.6) or, for a MIME header, not a field name.
    #[error("invalid header name {0:?}")]
    InvalidName(String),
    /// Not an absolute URI (RFC 3862 §3.6; no fragment for `NS`).
    #[error("invalid URI {0:?}")]
    InvalidUri(String),
    /// Not an RFC 3066 language tag (3862-010).
    #[error("invalid language tag {0:?}")]
    InvalidLanguageTag(String),
    /// A CPIM value that cannot be written: empty, or starting or ending with a space (RFC
    /// 3862 §2.2 forbids it and §2.3.1 forbids escaping a space); or a MIME value with CR, LF
    /// or another control character except HTAB.
    #[error("value {0:?} cannot be written as a header value")]
    InvalidValue(String),
    /// A [`DateTime`] field out of range.
    #[error("DateTime out of range")]
    InvalidDateTime,
    /// The name uses a prefix no earlier `NS` declared (3862-011).
    #[error("namespace prefix {0:?} not declared")]
    UndeclaredPrefix(String),
    /// [`Builder::copy_header`]: the header's name would resolve to another namespace here.
    #[error("header {0:?} would resolve to another namespace in this message")]
    NamespaceMismatch(String),
    /// The default namespace was changed and no prefix is bound to [`DEFAULT_NAMESPACE`], so a
    /// standard header cannot be named.
    #[error("no name reaches the CPIM namespace for a standard header")]
    CpimNamespaceUnavailable,
    /// A standard header name (or one differing only in case), a name starting with
    /// `Content-`, or an `NS` line given to [`Builder::header`] / [`Builder::copy_header`]:
    /// use the typed method.
    #[error("header {0:?} is reserved: use the typed method")]
    ReservedName(String),
    /// The inner Content-Type is not `type/subtype[;parameters]`.
    #[error("invalid Content-Type {0:?}")]
    InvalidContentType(String),
    /// A second inner Content-Type.
    #[error("Content-Type given twice")]
    DuplicateContentType,
    /// [`Builder::build`] without an inner Content-Type (3862-002).
    #[error("no inner Content-Type (RFC 3862 §2.4)")]
    MissingContentType,
}

/// Writes a `message/cpim` body (RFC 3862): CPIM headers, blank line, MIME headers (a
/// Content-Type required, 3862-002), blank line, body.
///
/// ```
/// use msrp_mixer::cpim::{Builder, Message, ParseOptions};
///
/// let mut b = Builder::new();
/// b.from(Some("Alice"), "sip:alice@example.com")?
///     .to(None, "sip:room@chat.example.com")?
///     .content_type("text/plain")?;
/// let bytes = b.build(b"Hello")?;
/// let msg = Message::parse(bytes, &ParseOptions::strict())?;
/// assert_eq!(msg.from().unwrap().uri(), "sip:alice@example.com");
/// assert_eq!(&msg.body()[..], b"Hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    head: Vec<u8>,
    mime: Vec<u8>,
    has_content_type: bool,
    /// `None`: the default namespace is [`DEFAULT_NAMESPACE`].
    default_ns: Option<String>,
    prefixes: Vec<(String, String)>,
}

impl Builder {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// The wrapper of a REPORT the switch sends about a message (RFC 7701 §6.2: "the original
    /// From header field ... and the To header field of the original Message/CPIM wrapper";
    /// 7701-022): every `From` and `To` line of `original`, copied byte for byte
    /// ([`Builder::copy_header`]). Add the MIME headers (at least a Content-Type) and build.
    pub fn report_wrapper(original: &Message) -> Result<Self, BuildError> {
        let mut b = Self::new();
        for h in original.headers() {
            if h.is(DEFAULT_NAMESPACE, "From") || h.is(DEFAULT_NAMESPACE, "To") {
                b.copy_header(&h)?;
            }
        }
        Ok(b)
    }

    fn binding(&self, prefix: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }

    fn default_uri(&self) -> &str {
        self.default_ns.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }

    /// The name under which a standard header reaches [`DEFAULT_NAMESPACE`].
    fn std_name(&self, local: &str) -> Result<String, BuildError> {
        if self.default_uri() == DEFAULT_NAMESPACE {
            return Ok(local.to_owned());
        }
        let p = self
            .prefixes
            .iter()
            .rev()
            .map(|(p, _)| p)
            .find(|p| self.binding(p) == Some(DEFAULT_NAMESPACE))
            .ok_or(BuildError::CpimNamespaceUnavailable)?;
        Ok(format!("{p}.{local}"))
    }

    /// Appends `name:params SP value CRLF`; the value must already be escaped.
    fn line(&mut self, name: &str, params: &str, value: &str) -> Result<&mut Self, BuildError> {
        if value.is_empty()
            || value.starts_with(' ')
            || value.ends_with(' ')
            || value.bytes().any(is_ctl)
        {
            return Err(BuildError::InvalidValue(value.to_owned()));
        }
        self.head.extend_from_slice(name.as_bytes());
        self.head.push(b':');
        self.head.extend_from_slice(params.as_bytes());
        self.head.push(b' ');
        self.head.extend_from_slice(value.as_bytes());
        self.head.extend_from_slice(b"\r\n");
        Ok(self)
    }

    fn address(
        &mut self,
        local: &'static str,
        formal_name: Option<&str>,
        uri: &str,
    ) -> Result<&mut Self, BuildError> {
        if !is_absolute_uri(uri.as_bytes()) {
            return Err(BuildError::InvalidUri(uri.to_owned()));
        }
        let value = match formal_name.filter(|n| !n.is_empty()) {
            None => format!("<{uri}>"),
            Some(n)
                if n.split(' ')
                    .all(|t| !t.is_empty() && t.bytes().all(is_tokenchar)) =>
            {
                format!("{n} <{uri}>")
            }
            // The ABNF `String "<" URI ">"`: no SP after the closing quote.
            Some(n) => format!("\"{}\"<{uri}>", escape_quoted(n)),
        };
        let name = self.std_name(local)?;
        self.line(&name, "", &value)
    }

    /// Adds `From: [Formal-name] <uri>` (RFC 3862 §4.1). The formal name is written as tokens
    /// when it is words of TOKENCHARs separated by single spaces, otherwise as a quoted
    /// `String` with `"` and control characters escaped (3862-008, 3862-013).
    pub fn from(&mut self, formal_name: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        self.address("From", formal_name, uri)
    }

    /// Adds a `To` header (RFC 3862 §4.2), written as [`Builder::from`] writes `From`.
    pub fn to(&mut self, formal_name: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        self.address("To", formal_name, uri)
    }

    /// Adds a `cc` header (RFC 3862 §4.3), written as [`Builder::from`] writes `From`.
    pub fn cc(&mut self, formal_name: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        self.address("cc", formal_name, uri)
    }

    /// Adds `DateTime: <RFC 3339 date-time>` (RFC 3862 §4.4).
    pub fn date_time(&mut self, dt: &DateTime) -> Result<&mut Self, BuildError> {
        if !dt.is_valid() {
            return Err(BuildError::InvalidDateTime);
        }
        let name = self.std_name("DateTime")?;
        self.line(&name, "", &dt.to_string())
    }

    /// Adds `Subject:[;lang=tag] SP text` (RFC 3862 §3.3, §4.5), the text escaped
    /// ([`escape`]).
    pub fn subject(&mut self, lang: Option<&str>, text: &str) -> Result<&mut Self, BuildError> {
        let params = match lang {
            Some(l) if is_language_tag(l.as_bytes()) => format!(";lang={l}"),
            Some(l) => return Err(BuildError::InvalidLanguageTag(l.to_owned())),
            None => String::new(),
        };
        let name = self.std_name("Subject")?;
        self.line(&name, &params, &escape(text))
    }

    /// Adds `NS: [prefix] <uri>` (RFC 3862 §3.4, §4.6): declares `prefix` for the headers
    /// that follow, or with `None` makes `uri` their default namespace.
    pub fn ns(&mut self, prefix: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        if !is_absolute_uri(uri.as_bytes()) || uri.contains('#') {
            return Err(BuildError::InvalidUri(uri.to_owned()));
        }
        if let Some(p) = prefix {
            if !is_name(p.as_bytes()) {
                return Err(BuildError::InvalidName(p.to_owned()));
            }
        }
        let name = self.std_name("NS")?;
        let value = match prefix {
            Some(p) => format!("{p} <{uri}>"),
            None => format!("<{uri}>"),
        };
        self.line(&name, "", &value)?;
        match prefix {
            Some(p) => self.prefixes.push((p.to_owned(), uri.to_owned())),
            None => self.default_ns = (uri != DEFAULT_NAMESPACE).then(|| uri.to_owned()),
        }
        Ok(self)
    }

    /// Adds `Require: name,name...` (RFC 3862 §3.5, §4.7); each name's prefix must be declared.
    pub fn require<'n>(
        &mut self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<&mut Self, BuildError> {
        let mut value = String::new();
        for n in names {
            let (prefix, _) = split_header_name(n.as_bytes())
                .ok_or_else(|| BuildError::InvalidName(n.to_owned()))?;
            if let Some(p) = prefix {
                let p = std::str::from_utf8(p).unwrap_or_default();
                if self.binding(p).is_none() {
                    return Err(BuildError::UndeclaredPrefix(p.to_owned()));
                }
            }
            if !value.is_empty() {
                value.push(',');
            }
            value.push_str(n);
        }
        let name = self.std_name("Require")?;
        self.line(&name, "", &value)
    }

    /// The namespace `name` resolves to here, or why it cannot be written.
    fn resolve_name<'s>(&'s self, name: &str) -> Result<(&'s str, String), BuildError> {
        let (prefix, local) = split_header_name(name.as_bytes())
            .ok_or_else(|| BuildError::InvalidName(name.to_owned()))?;
        let local = std::str::from_utf8(local).unwrap_or_default().to_owned();
        let ns = match prefix {
            None => self.default_uri(),
            Some(p) => {
                let p = std::str::from_utf8(p).unwrap_or_default();
                self.binding(p)
                    .ok_or_else(|| BuildError::UndeclaredPrefix(p.to_owned()))?
            }
        };
        let reserved = (ns == DEFAULT_NAMESPACE
            && STANDARD.iter().any(|s| s.eq_ignore_ascii_case(&local)))
            || is_content_line(local.as_bytes())
            || is_content_line(name.as_bytes());
        if reserved {
            return Err(BuildError::ReservedName(name.to_owned()));
        }
        Ok((ns, local))
    }

    /// Adds an extension header `name: value` (RFC 3862 §3.4): `name` is `[prefix.]Name` with
    /// the prefix declared by an earlier [`Builder::ns`]; the value is escaped ([`escape`]).
    /// Standard names and names starting with `Content-` are refused
    /// ([`BuildError::ReservedName`]).
    pub fn header(&mut self, name: &str, value: &str) -> Result<&mut Self, BuildError> {
        self.resolve_name(name)?;
        self.line(name, "", &escape(value))
    }

    /// Copies a header line of a parsed message octet for octet (3862-006), as RFC 7701
    /// §6.2 needs for the original From and To in a REPORT wrapper (7701-022). Its name must
    /// resolve to the same namespace here as there ([`BuildError::NamespaceMismatch`]); `NS`
    /// lines are refused (declare with [`Builder::ns`]).
    pub fn copy_header(&mut self, h: &Header<'_>) -> Result<&mut Self, BuildError> {
        if h.is(DEFAULT_NAMESPACE, "NS") {
            return Err(BuildError::ReservedName(h.name().to_owned()));
        }
        let here = match h.prefix() {
            None => Some(self.default_uri()),
            Some(p) => self.binding(p),
        };
        if here != Some(h.namespace()) {
            return Err(BuildError::NamespaceMismatch(h.name().to_owned()));
        }
        self.head.extend_from_slice(h.line().as_bytes());
        self.head.extend_from_slice(b"\r\n");
        Ok(self)
    }

    /// Adds an encapsulated MIME header (RFC 3862 §2.4). `Content-Type` (any case) must be a
    /// valid media type and appear once; values are written as given, on one line.
    pub fn mime_header(&mut self, name: &str, value: &str) -> Result<&mut Self, BuildError> {
        if name.is_empty() || !name.bytes().all(is_ftext) {
            return Err(BuildError::InvalidName(name.to_owned()));
        }
        if value.bytes().any(|b| is_ctl(b) && b != b'\t') {
            return Err(BuildError::InvalidValue(value.to_owned()));
        }
        if name.eq_ignore_ascii_case("content-type") {
            if self.has_content_type {
                return Err(BuildError::DuplicateContentType);
            }
            if media_type_end(value.trim_matches([' ', '\t']).as_bytes()).is_none() {
                return Err(BuildError::InvalidContentType(value.to_owned()));
            }
            self.has_content_type = true;
        }
        self.mime.extend_from_slice(name.as_bytes());
        self.mime.extend_from_slice(b": ");
        self.mime.extend_from_slice(value.as_bytes());
        self.mime.extend_from_slice(b"\r\n");
        Ok(self)
    }

    /// Adds the inner `Content-Type` (RFC 3862 §2.4; 3862-002).
    pub fn content_type(&mut self, media_type: &str) -> Result<&mut Self, BuildError> {
        self.mime_header("Content-Type", media_type)
    }

    /// The message with `body` as the encapsulated body. The builder can be reused.
    pub fn build(&self, body: &[u8]) -> Result<Bytes, BuildError> {
        if !self.has_content_type {
            return Err(BuildError::MissingContentType);
        }
        let mut out = Vec::with_capacity(self.head.len() + self.mime.len() + body.len() + 4);
        out.extend_from_slice(&self.head);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.mime);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session's next message parses only the lines from the first that differs
    /// ([`ParseSpace`]); the results are those of a fresh parse (the proptest
    /// `a_space_parses_as_a_fresh_parser` in tests/cpim.rs checks that for any sequence).
    #[test]
    fn a_space_resumes_after_the_lines_in_common() {
        let msg = |date: &str, text: &str| {
            Bytes::from(format!(
                "From: Alice <sip:alice@example.com>\r\nTo: <sip:room@chat.example.com>\r\n\
                 DateTime: {date}\r\n\r\nContent-Type: text/plain\r\n\r\n{text}"
            ))
        };
        let opts = ParseOptions::strict();
        let to_end =
            "From: Alice <sip:alice@example.com>\r\nTo: <sip:room@chat.example.com>\r\n".len();
        let mut space = ParseSpace::default();
        let parse = |space: &mut ParseSpace, b: Bytes| {
            let (m, n) = Message::parse_prefix_in(b.clone(), &opts, space)
                .unwrap()
                .unwrap();
            let (f, fresh_n) = Message::parse_prefix(b, &opts).unwrap().unwrap();
            assert_eq!(n, fresh_n);
            assert_eq!(format!("{:?}", m.l.entries), format!("{:?}", f.l.entries));
            assert_eq!(m.date_time(), f.date_time());
            assert_eq!(m.from(), f.from());
            m
        };
        let a = parse(&mut space, msg("2026-12-02T10:00:00Z", "one"));
        assert_eq!(space.resumed_at, 0);
        a.recycle(&mut space);
        // Another DateTime: From and To are taken as they were.
        let b = parse(&mut space, msg("2026-12-02T10:00:01Z", "two"));
        assert_eq!(space.resumed_at, to_end);
        let head = b.head_len();
        b.recycle(&mut space);
        // The same header section: nothing is read again.
        let c = parse(&mut space, msg("2026-12-02T10:00:01Z", "three"));
        assert_eq!(space.resumed_at, head);
        assert_eq!(&c.body()[..], b"three");
        // Not given back: the next parse starts afresh.
        drop(c);
        let d = parse(&mut space, msg("2026-12-02T10:00:01Z", "four"));
        assert_eq!(space.resumed_at, 0);
        // Given back to another space: that one starts afresh too.
        let mut other = ParseSpace::default();
        let e = parse(&mut other, msg("2026-12-02T10:00:01Z", "five"));
        d.recycle(&mut other);
        let f = parse(&mut other, msg("2026-12-02T10:00:01Z", "six"));
        assert_eq!(other.resumed_at, 0);
        drop((e, f));
        // Other options: afresh.
        let mut space = ParseSpace::default();
        let g = parse(&mut space, msg("2026-12-02T10:00:01Z", "seven"));
        g.recycle(&mut space);
        let (h, _) = Message::parse_prefix_in(
            msg("2026-12-02T10:00:01Z", "eight"),
            &ParseOptions::lenient(),
            &mut space,
        )
        .unwrap()
        .unwrap();
        assert_eq!(space.resumed_at, 0);
        assert_eq!(&h.body()[..], b"eight");
        // A space keeps the state after the first MARKS_KEPT lines, within MARKED_OCTETS.
        let many = |extra: &str| {
            let mut b = String::from("NS: ext <mid:ext@example.com>\r\n");
            let mut marked = b.len();
            for i in 0..40 {
                let line = format!("ext.Value: {i}{extra}\r\n");
                if i + 1 < MARKS_KEPT {
                    marked += line.len();
                }
                b += &line;
            }
            b += "\r\nContent-Type: text/plain\r\n\r\nbody";
            (Bytes::from(b), marked)
        };
        let mut space = ParseSpace::default();
        for extra in ["", &"x".repeat(MARKED_OCTETS / 8)] {
            let (b, marked) = many(extra);
            let a = parse(&mut space, b.clone());
            a.recycle(&mut space);
            let again = parse(&mut space, b);
            let expected = if marked <= MARKED_OCTETS {
                marked
            } else {
                space.marks.last().map_or(0, |m| m.at)
            };
            assert_eq!(space.resumed_at, expected, "{}", extra.len());
            assert!(space.marks.len() <= MARKS_KEPT);
            assert!(space.head.len() <= MARKED_OCTETS + 64);
            assert_eq!(again.get("mid:ext@example.com", "Value").count(), 40);
            again.recycle(&mut space);
        }
    }

    fn parse(s: &str) -> Result<Message, CpimError> {
        Message::parse(
            Bytes::copy_from_slice(s.as_bytes()),
            &ParseOptions::strict(),
        )
    }

    #[test]
    fn minimal_message() {
        let m = parse("From: <sip:a@b>\r\nTo: <sip:r@c>\r\n\r\nContent-Type: text/plain\r\n\r\nhi")
            .unwrap();
        assert_eq!(m.from().unwrap().uri(), "sip:a@b");
        assert_eq!(m.single_to().unwrap().uri(), "sip:r@c");
        assert_eq!(m.content_type(), "text/plain");
        assert_eq!(&m.body()[..], b"hi");
        assert_eq!(m.head_len(), 62);
    }

    #[test]
    fn unescape_rules() {
        assert_eq!(
            unescape(r#"a\\b\"c\'d\be\tf\ng\rh"#),
            "a\\b\"c'd\u{8}e\tf\ng\rh"
        );
        assert_eq!(unescape(r"\u0041\u00e9"), "Aé");
        assert_eq!(unescape(r"\ud83d\ude00"), "😀");
        assert_eq!(unescape(r"\ud83dx"), "\u{FFFD}x");
        assert_eq!(unescape(r"\q\u12"), "qu12");
        assert_eq!(unescape("end\\"), "end");
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn escape_rules() {
        assert_eq!(
            escape("a\\b\u{8}\t\n\r\u{1}\u{7f}\"'"),
            "a\\\\b\\b\\t\\n\\r\\u0001\\u007f\"'"
        );
        assert_eq!(escape_quoted("say \"hi\""), "say \\\"hi\\\"");
        for s in ["x\u{0}y", "tab\there", "\\\\", "é\u{1f}"] {
            assert_eq!(unescape(&escape(s)), s);
            assert_eq!(unescape(&escape_quoted(s)), s);
        }
    }

    #[test]
    fn date_time() {
        let d = DateTime::parse("2000-12-13T13:40:00-08:00").unwrap();
        assert_eq!(
            (d.year, d.month, d.day, d.hour, d.offset_minutes),
            (2000, 12, 13, 13, -480)
        );
        assert_eq!(d.to_string(), "2000-12-13T13:40:00-08:00");
        let d = DateTime::parse("1996-12-19t16:39:57.25z").unwrap();
        assert_eq!(d.nanosecond, 250_000_000);
        assert_eq!(d.to_string(), "1996-12-19T16:39:57.25Z");
        assert!(DateTime::parse("2001-02-29T00:00:00Z").is_err());
        assert!(DateTime::parse("2000-02-29T00:00:00Z").is_ok());
        assert!(DateTime::parse("2000-13-01T00:00:00Z").is_err());
        assert!(DateTime::parse("2000-01-01 00:00:00Z").is_err());
        assert!(DateTime::parse("2000-01-01T00:00:00").is_err());
        assert!(DateTime::parse("2000-01-01T00:00:00+24:00").is_err());
    }

    #[test]
    fn uris() {
        for ok in [
            "sip:a@b",
            "im:pooh@100akerwood.com",
            "sip:c@d;transport=tcp",
            "tel:+1-201",
            "http://x/%41",
        ] {
            assert!(is_absolute_uri(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "sip", ":x", "1a:b", "sip:", "sip:a b", "sip:a<b", "sip:%4", "sip:%zz", "sip:é",
        ] {
            assert!(!is_absolute_uri(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn addresses() {
        fn a(s: &str) -> Option<(Option<&str>, &str)> {
            parse_address(s.as_bytes()).map(|(n, u)| (n.map(|(x, y)| &s[x..y]), &s[u.0..u.1]))
        }
        assert_eq!(a("<sip:a@b>"), Some((None, "sip:a@b")));
        assert_eq!(
            a("MR SANDERS <im:p@x>"),
            Some((Some("MR SANDERS"), "im:p@x"))
        );
        assert_eq!(
            a("\"Smith, J\"<sip:j@x>"),
            Some((Some("\"Smith, J\""), "sip:j@x"))
        );
        assert_eq!(
            a("\"Smith, J\" <sip:j@x>"),
            Some((Some("\"Smith, J\""), "sip:j@x"))
        );
        for bad in [
            "sip:a@b",
            "<sip:a@b",
            "Alice<sip:a@b>",
            "A  B <sip:a@b>",
            "Smith, J <sip:j@x>",
            "<>",
            "<sip:a@b> x",
            "\"x <sip:a@b>",
        ] {
            assert_eq!(a(bad), None, "{bad}");
        }
    }

    #[test]
    fn language_tags() {
        assert!(is_language_tag(b"fr"));
        assert!(is_language_tag(b"en-US"));
        assert!(is_language_tag(b"i-default"));
        assert!(!is_language_tag(b""));
        assert!(!is_language_tag(b"fr-"));
        assert!(!is_language_tag(b"abcdefghi"));
        assert!(!is_language_tag(b"1en"));
    }

    #[test]
    fn content_type_helper() {
        assert!(is_cpim_content_type("message/cpim"));
        assert!(is_cpim_content_type("Message/CPIM"));
        assert!(!is_cpim_content_type("text/plain"));
        assert!(!is_cpim_content_type("message/cpimx"));
        assert!(is_cpim_content_type("message/cpim; x=y"));
        assert!(is_cpim_content_type("message/CPIM\t;x"));
        assert!(!is_cpim_content_type("message/cpimx; x=y"));
    }
}
