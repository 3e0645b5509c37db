//! The frame writer (RFC 4975 §7.1, §9).

use bytes::BytesMut;
use memchr::memmem;

use crate::head::{Flag, Head};

/// Writes the start line, the headers and, when `body` is true, the blank line that opens the
/// body section (4975-007/008).
pub fn head(head: &Head, body: bool, out: &mut BytesMut) {
    out.reserve(head.encoded_len_hint());
    head.write(out);
    if body {
        out.extend_from_slice(b"\r\n");
    }
}

/// Writes the end-line for transaction `tid`, preceded by the CRLF that closes a body section
/// when `body` is true (4975-010).
pub fn end(tid: &str, flag: Flag, body: bool, out: &mut BytesMut) {
    if body {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"-------");
    out.extend_from_slice(tid.as_bytes());
    out.extend_from_slice(&[flag.byte(), b'\r', b'\n']);
}

/// Writes a whole frame. `body: None` writes a frame without a body section; `Some(b"")` one with
/// an empty body (4975-009).
pub fn frame(h: &Head, body: Option<&[u8]>, flag: Flag, out: &mut BytesMut) {
    head(h, body.is_some(), out);
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    end(&h.tid, flag, body.is_some(), out);
}

/// `true` when `body` contains the end-line of transaction `tid` (`-------tid` followed by a flag
/// octet), so the sender must pick another transaction id (4975-011).
pub fn end_line_in_body(tid: &str, body: &[u8]) -> bool {
    let mut pat = [0u8; 7 + crate::ident::IDENT_MAX];
    let n = 7 + tid.len().min(crate::ident::IDENT_MAX);
    pat[..7].copy_from_slice(b"-------");
    pat[7..n].copy_from_slice(&tid.as_bytes()[..n - 7]);
    let pat = &pat[..n];
    memmem::find_iter(body, pat).any(|p| {
        body.get(p + n)
            .is_none_or(|&b| Flag::from_byte(b).is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_end_lines_in_bodies() {
        // 4975-011
        assert!(end_line_in_body("abcd", b"x\r\n-------abcd$\r\n"));
        assert!(end_line_in_body("abcd", b"-------abcd+"));
        assert!(end_line_in_body("abcd", b"-------abcd#more"));
        assert!(end_line_in_body("abcd", b"ends with -------abcd"));
        assert!(!end_line_in_body("abcd", b"-------abcde$"));
        assert!(!end_line_in_body("abcd", b"------abcd$"));
        assert!(!end_line_in_body("abcd", b"-------ABCD$"));
        assert!(!end_line_in_body("abcd", b""));
    }
}
