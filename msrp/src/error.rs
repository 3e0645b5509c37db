//! Decoding errors, and the one place they map to MSRP status codes (RFC 4975 §10).

use crate::head::Method;
use crate::header::HeaderError;
use crate::status::StatusCode;

/// What is wrong with a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The start line is not `MSRP SP transact-id SP method|status` (4975-001/002).
    #[error("malformed start line")]
    StartLine,
    /// The transaction id is not an `ident` of 4 to 32 characters (4975-003).
    #[error("malformed transaction id")]
    TransactionId,
    /// The header block is longer than the configured limit.
    #[error("header block longer than {0} octets")]
    HeadTooLarge(usize),
    /// A CR inside a header line is not followed by LF.
    #[error("CR without LF in a header line")]
    BareCr,
    /// A header line contains a LF that does not follow a CR.
    #[error("LF without CR in a header line")]
    BareLf,
    /// A header line contains a control character (NUL, ...) (4975-006).
    #[error("control character in a header line")]
    ControlChar,
    /// The header block is not UTF-8 (RFC 4975 §9 allows UTF8-NONASCII only).
    #[error("header block is not UTF-8")]
    NotUtf8,
    /// A header line is not `hname ":" SP hval` (4975-006).
    #[error("malformed header line")]
    HeaderLine,
    /// A header value does not follow its grammar.
    #[error("{0}")]
    Header(HeaderError),
    /// The first header is not To-Path (4975-005).
    #[error("first header is not To-Path")]
    MissingToPath,
    /// The second header is not From-Path (4975-005).
    #[error("second header is not From-Path")]
    MissingFromPath,
    /// To-Path or From-Path appears again later in the block.
    #[error("To-Path or From-Path repeated")]
    DuplicatePath,
    /// The frame has a body but no Content-Type (4975-007).
    #[error("body without Content-Type")]
    BodyWithoutContentType,
    /// An end-line names another transaction (4975-010).
    #[error("end-line does not match the transaction id")]
    EndLineMismatch,
    /// The end-line flag is not `+`, `$` or `#` (4975-010).
    #[error("end-line flag is not +, $ or #")]
    EndLineFlag,
    /// The body of a request other than SEND, or of a response, exceeds the limit (10240 octets by
    /// default, 4975-013).
    #[error("body of a non-SEND frame longer than {0} octets")]
    ControlBodyTooLarge(u64),
    /// A collected frame's body exceeds the collector's limit.
    #[error("body longer than {0} octets")]
    BodyTooLarge(u64),
}

/// A frame that could not be decoded.
///
/// `tid` and `method` say what to answer when the frame was a request (the decoder got that far);
/// [`DecodeError::can_continue`] says whether the connection can go on: the decoder has found (or
/// will skip to) the end of the bad frame and the next frame decodes normally. Otherwise the frame
/// boundary is lost and the connection has to be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The transaction id, when the start line was readable.
    pub tid: Option<crate::Ident>,
    /// The request method, when the frame is a request whose start line was readable.
    pub method: Option<Method>,
    pub(crate) recoverable: bool,
}

impl DecodeError {
    pub(crate) fn fatal(kind: ErrorKind) -> DecodeError {
        DecodeError {
            kind,
            tid: None,
            method: None,
            recoverable: false,
        }
    }

    /// The status to answer (RFC 4975 §10): 413 for oversized bodies, 400 for the rest. Only a
    /// request with a known tid is answered, and never a REPORT (4975-052).
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::ControlBodyTooLarge(_) | ErrorKind::BodyTooLarge(_) => StatusCode::TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// `true` when the frame may be answered: it was a request other than REPORT and its tid is
    /// known. Whether an answer is owed also depends on the request's Failure-Report (4975-046);
    /// when the head was decoded, ask `report::response_owed`.
    pub fn wants_response(&self) -> bool {
        self.tid.is_some() && matches!(&self.method, Some(m) if *m != Method::Report)
    }

    /// `true` when the decoder stays in sync and the connection can go on.
    pub fn can_continue(&self) -> bool {
        self.recoverable
    }
}
