//! The frame writer (RFC 4975 §7.1, §9).

use bytes::BytesMut;
use memchr::memmem;

use crate::head::{Flag, Head};
use crate::ident::Ident;
use crate::status::StatusCode;
use crate::uri::MsrpUri;

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

/// Writes the bodiless response to the SEND `req` with `status` that
/// [`report::response`](crate::report::response)`(req, status, None, local)` builds, and its
/// `$` end-line, without building it: the request's transaction id, the reason phrase, To-Path
/// the first From-Path URI (a SEND is answered to the previous hop only), From-Path `local`
/// (RFC 4975 §7.2, 4975-061/062), and the SEND's Message-ID when `with_message_id` is set (as
/// the relays answer in RFC 4976 §3). For a node answering every SEND hop by hop: no head to
/// build and drop. `false`, and nothing written, when `req` is not a SEND or has no From-Path.
pub fn send_response(
    req: &Head,
    status: StatusCode,
    local: &MsrpUri,
    with_message_id: bool,
    out: &mut BytesMut,
) -> bool {
    let (true, Some(back)) = (req.is_send(), req.from_path().first()) else {
        return false;
    };
    let message_id = if with_message_id {
        req.message_id()
    } else {
        None
    };
    send_response_of(&req.tid, back, message_id, status, local, out);
    true
}

/// [`send_response`] from the parts it takes of the SEND: its transaction id `tid`, the first
/// URI of its From-Path `back`, and the Message-ID to copy, if any.
pub fn send_response_of(
    tid: &str,
    back: &MsrpUri,
    message_id: Option<&Ident>,
    status: StatusCode,
    local: &MsrpUri,
    out: &mut BytesMut,
) {
    let tid = tid.as_bytes();
    out.extend_from_slice(b"MSRP ");
    out.extend_from_slice(tid);
    out.extend_from_slice(b" ");
    out.extend_from_slice(&status.digits());
    if let Some(r) = status.reason() {
        out.extend_from_slice(b" ");
        out.extend_from_slice(r.as_bytes());
    }
    out.extend_from_slice(b"\r\nTo-Path: ");
    out.extend_from_slice(back.as_str().as_bytes());
    out.extend_from_slice(b"\r\nFrom-Path: ");
    out.extend_from_slice(local.as_str().as_bytes());
    if let Some(m) = message_id {
        out.extend_from_slice(b"\r\nMessage-ID: ");
        out.extend_from_slice(m.as_bytes());
    }
    out.extend_from_slice(b"\r\n-------");
    out.extend_from_slice(tid);
    out.extend_from_slice(b"$\r\n");
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

/// Streaming form of [`end_line_in_body`]: finds the end-line of transaction `tid` in a body
/// that arrives piece by piece (RFC 4975 §7.1, 4975-011).
///
/// A relay that forwards a chunk as it arrives has to pick the transaction id before the body
/// is known. It feeds every piece to the guard before writing it; when the guard reports a
/// match, the relay writes the piece only up to the reported offset, ends the chunk with `+`,
/// and resumes the rest in a new chunk under a new transaction id (RFC 4975 §7.1.1, 4975-029;
/// RFC 4976 §7.3.1, 4976-027) with a new guard.
///
/// Like [`end_line_in_body`] it is conservative: `-------<tid>` followed by a flag octet is a
/// match, and so is `-------<tid>` at the very end of the data fed so far (the next octet is not
/// known yet). The last `7 + tid.len()` octets are carried across pieces, so a match split
/// across pieces at any position is found.
#[derive(Debug, Clone)]
pub struct EndLineGuard {
    pat: [u8; 7 + crate::ident::IDENT_MAX],
    n: usize,
    /// The last octets fed (at most `n`), `tail[..tail_len]`.
    tail: [u8; 7 + crate::ident::IDENT_MAX],
    tail_len: usize,
}

impl EndLineGuard {
    /// A guard for transaction `tid` (longer ids than RFC 4975 allows are cut at
    /// [`crate::ident::IDENT_MAX`] octets, as in [`end_line_in_body`]).
    pub fn new(tid: &str) -> EndLineGuard {
        let mut pat = [0u8; 7 + crate::ident::IDENT_MAX];
        let n = 7 + tid.len().min(crate::ident::IDENT_MAX);
        pat[..7].copy_from_slice(b"-------");
        pat[7..n].copy_from_slice(&tid.as_bytes()[..n - 7]);
        EndLineGuard {
            pat,
            n,
            tail: [0; 7 + crate::ident::IDENT_MAX],
            tail_len: 0,
        }
    }

    /// Feeds the next piece of the body; returns the offset within `piece` of the first match
    /// that is not entirely in earlier pieces, `None` when there is none.
    ///
    /// The offset is where the piece must be cut so that the body sent stays free of the
    /// end-line: the start of the match, or 0 when the match began in an earlier piece (those
    /// octets were already passed as safe, and cutting here leaves the end-line incomplete in
    /// the body). A match at the very end of `piece` counts (conservative). After a match the
    /// guard keeps working, but a relay starts a new guard for its new transaction id.
    pub fn feed(&mut self, piece: &[u8]) -> Option<usize> {
        let n = self.n;
        let pat = &self.pat[..n];
        let mut found = None;
        if self.tail_len > 0 && !piece.is_empty() {
            // Matches that start in the carried octets and end in this piece: look at the carried
            // octets followed by the first `n` octets of the piece.
            let head = piece.len().min(n);
            let mut window = [0u8; 2 * (7 + crate::ident::IDENT_MAX)];
            window[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
            window[self.tail_len..self.tail_len + head].copy_from_slice(&piece[..head]);
            let window = &window[..self.tail_len + head];
            let at_end = head == piece.len();
            let boundary = memmem::find_iter(window, pat).any(|p| {
                p < self.tail_len
                    && p + n > self.tail_len
                    && window
                        .get(p + n)
                        .map_or(at_end, |&b| Flag::from_byte(b).is_some())
            });
            if boundary {
                found = Some(0);
            }
        }
        if found.is_none() {
            found = memmem::find_iter(piece, pat).find(|&p| {
                piece
                    .get(p + n)
                    .is_none_or(|&b| Flag::from_byte(b).is_some())
            });
        }
        // Carry the last `n` octets of everything fed so far.
        if piece.len() >= n {
            self.tail[..n].copy_from_slice(&piece[piece.len() - n..]);
            self.tail_len = n;
        } else {
            let keep = (n - piece.len()).min(self.tail_len);
            self.tail
                .copy_within(self.tail_len - keep..self.tail_len, 0);
            self.tail[keep..keep + piece.len()].copy_from_slice(piece);
            self.tail_len = keep + piece.len();
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Header;

    /// `send_response` writes what `report::response` (plus the Message-ID) builds, octet for
    /// octet (4975-061/062), and nothing for what is not a SEND.
    #[test]
    fn send_response_is_the_built_response_written() {
        let uri = |s: &str| s.parse::<MsrpUri>().unwrap();
        let local = uri("msrp://relay.example.com:2855/r5x;tcp");
        let send = |extra: &str| {
            let text = format!(
                "MSRP t9k2x SEND\r\nTo-Path: msrp://relay.example.com:2855/r5x;tcp \
                 msrp://b.example.com:2/b;tcp\r\nFrom-Path: msrp://a.example.com:1/a;tcp \
                 msrps://other.example.com:9/o;tcp\r\n{extra}Content-Type: text/plain\r\n\r\n\
                 hi\r\n-------t9k2x$\r\n"
            );
            let mut dec = crate::FrameDecoder::new(Default::default(), 1024);
            dec.decode(&mut BytesMut::from(text.as_bytes()))
                .unwrap()
                .unwrap()
                .head
        };
        for (req, status, with_mid) in [
            (send("Message-ID: m88x\r\n"), StatusCode::OK, true),
            (send("Message-ID: m88x\r\n"), StatusCode::OK, false),
            (send(""), StatusCode::OK, true),
            (
                send("Message-ID: m88x\r\n"),
                StatusCode::NO_SUCH_SESSION,
                true,
            ),
            (send(""), StatusCode::new(299).unwrap(), false),
        ] {
            let mut want = crate::report::response(&req, status, None, &local);
            if let (true, Some(m)) = (with_mid, req.message_id()) {
                want.push(Header::MessageId(*m));
            }
            let mut expect = BytesMut::new();
            frame(&want, None, Flag::Last, &mut expect);
            let mut got = BytesMut::from(&b"before"[..]);
            assert!(send_response(&req, status, &local, with_mid, &mut got));
            assert_eq!(&got[6..], &expect[..], "{status:?} {with_mid}");
        }
        let mut nick = send("");
        nick.start = crate::StartLine::Request(crate::Method::Nickname);
        let mut got = BytesMut::new();
        assert!(!send_response(
            &nick,
            StatusCode::OK,
            &local,
            true,
            &mut got
        ));
        assert!(got.is_empty());
    }

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

    /// What [`EndLineGuard::feed`] must answer for each of `pieces`, by brute force over the
    /// data fed so far: the first match whose end-line text ends in the piece and that is
    /// followed by a flag octet or by the end of the data, as an offset clamped to the piece.
    fn reference(tid: &str, pieces: &[&[u8]]) -> Vec<Option<usize>> {
        let pat = format!("-------{tid}");
        let pat = pat.as_bytes();
        let n = pat.len();
        let mut all = Vec::new();
        let mut out = Vec::new();
        for piece in pieces {
            let start = all.len();
            all.extend_from_slice(piece);
            let end = all.len();
            let first = (0..end.saturating_sub(n - 1)).find(|&p| {
                &all[p..p + n] == pat
                    && p + n > start
                    && (p + n == end || Flag::from_byte(all[p + n]).is_some())
            });
            out.push(first.map(|p| p.saturating_sub(start)));
        }
        out
    }

    fn guard(tid: &str, pieces: &[&[u8]]) -> Vec<Option<usize>> {
        let mut g = EndLineGuard::new(tid);
        pieces.iter().map(|p| g.feed(p)).collect()
    }

    const BODIES: [&[u8]; 6] = [
        b"xx\r\n-------abcd$\r\nyy",
        b"-------abcd+",
        b"-------abcd",
        b"------abcd$ -------abcde$ -------abc$ --------abcd#",
        b"a-------abcd-------abcd$b",
        b"",
    ];

    #[test]
    fn guard_finds_a_split_end_line() {
        // 4975-011: the match is found wherever the piece boundary falls.
        let body: &[u8] = b"xx\r\n-------abcd$\r\nyy";
        let m = 4;
        assert_eq!(guard("abcd", &[body]), vec![Some(m)]);
        for s in 0..=body.len() {
            let got = guard("abcd", &[&body[..s], &body[s..]]);
            let want = if s >= m + 11 {
                // The whole `-------abcd` is in the first piece (at its very end, the flag
                // octet is unknown yet: conservative).
                vec![Some(m), None]
            } else if s > m {
                // Split inside the end-line text: cut at the start of the second piece.
                vec![None, Some(0)]
            } else {
                vec![None, Some(m - s)]
            };
            assert_eq!(got, want, "split at {s}");
        }
    }

    #[test]
    fn guard_matches_brute_force_at_every_split() {
        for body in BODIES {
            for tid in ["abcd", "abc", "x"] {
                assert_eq!(guard(tid, &[body]), reference(tid, &[body]));
                assert_eq!(
                    guard(tid, &[body]).first().copied().flatten().is_some(),
                    end_line_in_body(tid, body),
                    "one piece: the same as end_line_in_body"
                );
                for i in 0..=body.len() {
                    for j in i..=body.len() {
                        let pieces = [&body[..i], &body[i..j], &body[j..]];
                        assert_eq!(
                            guard(tid, &pieces),
                            reference(tid, &pieces),
                            "{tid} {i} {j}"
                        );
                    }
                }
                let bytes: Vec<&[u8]> = body.chunks(1).collect();
                assert_eq!(guard(tid, &bytes), reference(tid, &bytes));
            }
        }
    }

    #[test]
    fn guard_with_a_long_tid() {
        let tid = "0123456789abcdef0123456789abcdef";
        let mut body = b"zz".to_vec();
        body.extend_from_slice(format!("-------{tid}#").as_bytes());
        for s in 0..=body.len() {
            let pieces = [&body[..s], &body[s..]];
            let got = guard(tid, &pieces);
            assert_eq!(got, reference(tid, &pieces), "split at {s}");
            assert!(got.iter().any(Option::is_some), "split at {s}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn guard_matches_brute_force(
            tokens in proptest::collection::vec(
                prop::sample::select(vec!["-------ab", "-------a", "---", "-", "a", "b", "$", "+", "#", "\r\n"]),
                0..60,
            ),
            cuts in proptest::collection::vec(0usize..300, 0..8),
        ) {
            let body = tokens.concat().into_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.push(0);
            cuts.push(body.len());
            cuts.sort_unstable();
            let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &body[w[0]..w[1]]).collect();
            prop_assert_eq!(guard("ab", &pieces), reference("ab", &pieces));
            // Cutting where the guard says leaves a body free of the end-line.
            let mut g = EndLineGuard::new("ab");
            let mut sent = Vec::new();
            for p in &pieces {
                match g.feed(p) {
                    Some(at) => {
                        sent.extend_from_slice(&p[..at]);
                        break;
                    }
                    None => sent.extend_from_slice(p),
                }
            }
            // What follows the body is the CRLF that closes it (4975-010): the body must not
            // hold `-------ab` followed by a flag octet anywhere (4975-011).
            sent.extend_from_slice(b"\r\n");
            prop_assert!(!end_line_in_body("ab", &sent));
        }
    }
}
