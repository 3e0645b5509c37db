//! Transaction ids, Message-IDs and session ids: syntax (RFC 4975 §9 `ident`) and generation
//! (RFC 4975 §7.1, §14.1).

use bytes::Buf;
use bytestring::ByteString;

/// Shortest `ident` (RFC 4975 §9: ALPHANUM followed by 3..=31 ident-chars).
pub const IDENT_MIN: usize = 4;
/// Longest `ident`.
pub const IDENT_MAX: usize = 32;

/// RFC 4975 §9: `ident-char = ALPHANUM / "." / "-" / "+" / "%" / "="`.
#[inline]
pub fn is_ident_char(b: u8) -> bool {
    IDENT_CHAR[b as usize]
}

static IDENT_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b'%' | b'=');
        i += 1;
    }
    t
};

/// RFC 4975 §9 `ident = ALPHANUM 3*31ident-char`: the syntax of transaction ids (4975-003) and
/// Message-IDs (4975-039).
pub fn is_ident(s: &[u8]) -> bool {
    (IDENT_MIN..=IDENT_MAX).contains(&s.len())
        && s[0].is_ascii_alphanumeric()
        && s[1..].iter().fold(true, |a, &b| a & is_ident_char(b))
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The character a random octet stands for: `ALPHABET[b % 62]` for `b` below 248, 0 (skip) for
/// the eight octets above, which would make the first eight characters likelier.
static ALNUM_OF: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 248 {
        t[i] = ALPHABET[i % 62];
        i += 1;
    }
    t
};

/// Length of generated ids: 16 alphanumerics carry 16 × log2(62) ≈ 95 bits of randomness,
/// above the 64 bits RFC 4975 §7.1 asks of transaction ids (4975-004) and the 80 bits §14.1 asks
/// of session ids (4975-085).
pub const GENERATED_LEN: usize = 16;

/// Draws ids from the operating system's CSPRNG (`getrandom`), refilling a 4 KiB buffer so one
/// system call serves about 250 ids (a relay mints a transaction id per forwarded frame, and
/// with a smaller pool `getrandom` was half of its system calls).
///
/// No PRNG crate is used: the OS generator is already cryptographic, which the Use-Path URIs of
/// RFC 4976 §6.3 need (4976-018), and a buffer is all that is needed to make it cheap.
#[derive(Debug)]
pub struct IdGenerator {
    pool: Box<[u8]>,
    used: usize,
}

/// Random octets fetched per system call.
const POOL: usize = 4096;

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl IdGenerator {
    /// A generator whose pool is filled on first use.
    pub fn new() -> Self {
        IdGenerator {
            pool: vec![0; POOL].into_boxed_slice(),
            used: POOL,
        }
    }

    /// A fresh random `ident` of [`GENERATED_LEN`] alphanumerics (valid as transaction id,
    /// Message-ID and URI session-id).
    ///
    /// Each random octet below 248 gives one character (a table: 248 = 4 × 62, so every
    /// alphanumeric is equally likely); the others are skipped. The pool is refilled only
    /// between octets, never in the middle of the loop's table lookups.
    pub fn next_id(&mut self) -> ByteString {
        let mut out = [0u8; GENERATED_LEN];
        let mut n = 0;
        while n < GENERATED_LEN {
            if self.used == self.pool.len() {
                // getrandom only fails where the platform has no entropy source at all; there
                // is no sound way to go on generating ids without one.
                getrandom::fill(&mut self.pool).expect("the OS random source failed");
                self.used = 0;
            }
            let take = (GENERATED_LEN - n).min(self.pool.len() - self.used);
            for &b in &self.pool[self.used..self.used + take] {
                let c = ALNUM_OF[usize::from(b)];
                out[n] = c;
                n += usize::from(c != 0);
            }
            self.used += take;
        }
        // Alphanumerics are ASCII, hence UTF-8.
        ByteString::from(std::str::from_utf8(&out).expect("ASCII"))
    }

    /// A fresh id that `taken` does not reject: used for transaction ids, which must not collide
    /// with one still outstanding on the same connection (4975-004).
    pub fn next_unique(&mut self, mut taken: impl FnMut(&str) -> bool) -> ByteString {
        loop {
            let id = self.next_id();
            if !taken(&id) {
                return id;
            }
        }
    }
}

/// A `ByteString` for `s`: a zero-copy slice of `text` when `s` lies inside it, else a copy.
/// (`ByteString::slice_ref` panics on a foreign slice; parsers are public and may be handed one.)
///
/// Inlined into the header parsers, which call it for most values: the containment test is a
/// wrapping offset and two compares, and the (rare) copy is kept out of line.
#[inline]
pub(crate) fn sub(text: &ByteString, s: &str) -> ByteString {
    // A slice that starts before `text` wraps to an offset beyond any length. (Empty slices are
    // copied, which allocates nothing; the test then folds into one compare.)
    let off = (s.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    if off < text.len() && s.len() <= text.len() - off && !s.is_empty() {
        text.slice_ref(s)
    } else {
        copy(s)
    }
}

/// `text[at..at + len]`, made from `text` itself: no reference count is taken, so the last
/// slice a parser keeps of a block should be taken so (an atomic increment and decrement cost
/// more than the rest of a short value's parse). `None` when the range is out of bounds or not
/// on character boundaries (a cut inside a character is not UTF-8, which `try_from` refuses).
pub(crate) fn take(text: ByteString, at: usize, len: usize) -> Option<ByteString> {
    let end = at.checked_add(len)?;
    if end > text.len() {
        return None;
    }
    let mut b = text.into_bytes();
    b.truncate(end);
    b.advance(at);
    ByteString::try_from(b).ok()
}

/// The copying branch of [`sub`], out of line so that the inlined part stays small.
#[cold]
#[inline(never)]
fn copy(s: &str) -> ByteString {
    ByteString::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn take_slices_without_a_copy() {
        let text = ByteString::from("MSRP a786hjs2 SEND\r\nTo-Path: x\r\n");
        let at = text.as_ptr() as usize;
        let tid = take(text.clone(), 5, 8).expect("in bounds");
        assert_eq!(&*tid, "a786hjs2");
        assert_eq!(tid.as_ptr() as usize, at + 5, "the same buffer");
        assert_eq!(take(text.clone(), 0, 0).as_deref(), Some(""));
        assert_eq!(take(text.clone(), 30, 10), None);
        assert_eq!(take(text.clone(), usize::MAX, 2), None);
        let utf8 = ByteString::from("é");
        assert_eq!(take(utf8, 1, 1), None, "not on a character boundary");
    }

    #[test]
    fn ident_syntax() {
        // 4975-003
        for ok in [
            "a786hjs2",
            "dkei",
            "A.b-c+d%e=f",
            "0123456789abcdef0123456789abcdef",
        ] {
            assert!(is_ident(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "abc",
            ".abc",
            "-abc",
            "ab c",
            "abc/",
            "0123456789abcdef0123456789abcdef0",
            "ab\0c",
        ] {
            assert!(!is_ident(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn generated_ids_are_idents_and_distinct() {
        // 4975-004, 4975-040, 4975-085
        let mut g = IdGenerator::new();
        let mut seen = HashSet::new();
        let mut count = [0usize; 256];
        // 10 000 ids of 16 characters go through the 4 KiB pool about 40 times, so ids also
        // straddle refills.
        for _ in 0..10_000 {
            let id = g.next_id();
            assert!(is_ident(id.as_bytes()));
            assert_eq!(id.len(), GENERATED_LEN);
            id.bytes().for_each(|b| count[usize::from(b)] += 1);
            assert!(seen.insert(id));
        }
        // Every alphanumeric, about equally often (expected 160 000 / 62 ≈ 2581 each, standard
        // deviation about 50): a bias such as `b % 62` over all 256 octets (+25 % for the first
        // eight) would show.
        for &c in ALPHABET {
            let n = count[usize::from(c)];
            assert!((2300..2860).contains(&n), "{}: {n}", c as char);
        }
    }

    #[test]
    fn next_unique_skips_taken_ids() {
        let mut g = IdGenerator::new();
        let mut calls = 0;
        let id = g.next_unique(|_| {
            calls += 1;
            calls < 3
        });
        assert_eq!(calls, 3);
        assert!(is_ident(id.as_bytes()));
    }

    #[test]
    fn sub_shares_inner_slices_and_copies_the_rest() {
        let big = ByteString::from("MSRP a786hjs2 SEND\r\n".to_owned());
        // `text` is the middle of `big`, so slices of `big` can start before it or end after it.
        let text = big.slice_ref(&big[5..13]);
        assert_eq!(text, "a786hjs2");
        let inner = [&text[..], &text[..1], &text[2..5], &text[7..]];
        for s in inner {
            let r = sub(&text, s);
            assert_eq!(r, s);
            assert_eq!(r.as_ptr(), s.as_ptr(), "{s:?} is shared");
        }
        let outer = [
            &big[3..9],   // starts before `text`
            &big[10..16], // ends after it
            &big[0..20],  // covers it
            &big[13..18], // right after it
            &big[0..5],   // right before it
        ];
        for s in outer {
            let r = sub(&text, s);
            assert_eq!(r, s);
            assert_ne!(r.as_ptr(), s.as_ptr(), "{s:?} is copied");
        }
        let foreign = String::from("elsewhere");
        assert_eq!(sub(&text, &foreign[2..]), "sewhere");
        for empty in ["", &text[3..3], &text[8..], &big[20..]] {
            assert_eq!(sub(&text, empty), "");
        }
        assert_eq!(sub(&ByteString::new(), "x"), "x");
    }
}
