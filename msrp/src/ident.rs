//! Transaction ids, Message-IDs and session ids: syntax (RFC 4975 §9 `ident`) and generation
//! (RFC 4975 §7.1, §14.1).

use arrayvec::ArrayString;
use bytestring::ByteString;
use rand_chacha::ChaCha12Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

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

/// An RFC 4975 §9 `ident` (a transaction id, 4975-003, or a Message-ID, 4975-039) held by
/// value: at most [`IDENT_MAX`] octets, so it needs no heap and no reference count. A decoded
/// frame's tid and Message-ID are copied out of the header block (a dozen octets) instead of
/// sharing it, which spares an atomic increment and decrement each, and a generated id costs no
/// allocation.
///
/// It reads as a `str` (`Deref`, `AsRef`, `Borrow`, `Display`), hashes and compares as one, and
/// is made from one with [`Ident::new`] or `parse`, which check the syntax.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ident(ArrayString<IDENT_MAX>);

/// A string that is not an RFC 4975 §9 `ident`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 4975 ident (4 to 32 of ALPHANUM . - + % =, starting with ALPHANUM)")]
pub struct IdentError;

impl Ident {
    /// `s` as an `ident`; `None` when it is not one ([`is_ident`]).
    pub fn new(s: &str) -> Option<Ident> {
        if is_ident(s.as_bytes()) {
            ArrayString::from(s).ok().map(Ident)
        } else {
            None
        }
    }

    /// `s`, which the caller has checked with [`is_ident`] (the decoder does so on the start
    /// line and the Message-ID); longer input is cut at [`IDENT_MAX`] octets, which, being
    /// ASCII, is a character boundary.
    pub(crate) fn from_checked(s: &str) -> Ident {
        let mut a = ArrayString::new();
        let end = s.len().min(IDENT_MAX);
        a.push_str(s.get(..end).unwrap_or_default());
        Ident(a)
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Ident {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Ident {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<[u8]> for Ident {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Sound: `Ident`'s `Hash`, `Eq` and `Ord` are those of its `str` (`ArrayString` delegates).
impl std::borrow::Borrow<str> for Ident {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::str::FromStr for Ident {
    type Err = IdentError;
    fn from_str(s: &str) -> Result<Ident, IdentError> {
        Ident::new(s).ok_or(IdentError)
    }
}

impl TryFrom<&str> for Ident {
    type Error = IdentError;
    fn try_from(s: &str) -> Result<Ident, IdentError> {
        Ident::new(s).ok_or(IdentError)
    }
}

impl From<Ident> for ByteString {
    fn from(id: Ident) -> ByteString {
        ByteString::from(id.as_str())
    }
}

impl PartialEq<str> for Ident {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Ident {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Ident> for str {
    fn eq(&self, other: &Ident) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Ident> for &str {
    fn eq(&self, other: &Ident) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<ByteString> for Ident {
    fn eq(&self, other: &ByteString) -> bool {
        self.as_str() == &**other
    }
}

impl PartialEq<String> for Ident {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
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

/// Draws ids from a cryptographic generator, a 4 KiB pool at a time (a relay mints a
/// transaction id per forwarded frame): ChaCha12 (`rand_chacha`), keyed from the operating
/// system's source (`getrandom`) on first use and again after every [`RESEED_AFTER`] octets.
/// Its output is as unpredictable as the OS source's, which the Use-Path URIs of RFC 4976 §6.3
/// need (4976-018).
///
/// Why not the OS source for every pool, as before: the kernel generates those octets with a
/// scalar ChaCha20 (`chacha_permute`, `chacha_block_generic`), 2% of a relay's CPU time by
/// `perf` at 300 000 relayed messages (one pool per ~250 ids); `rand_chacha` generates them
/// with SIMD and without a system call.
pub struct IdGenerator {
    /// The generator, keyed on first use.
    rng: Option<ChaCha12Rng>,
    /// Octets drawn from `rng` since it was keyed.
    drawn: usize,
    /// Random octets as drawn.
    raw: Box<[u8]>,
    /// Alphanumerics made of `raw` (see [`IdGenerator::next_id`]), checked as text once per
    /// fill: an id is a slice of it, copied, with no per-id UTF-8 check.
    chars: String,
    /// Characters of `chars` given out.
    used: usize,
}

/// Random octets drawn per pool.
const POOL: usize = 4096;

/// Octets drawn from one key before the generator is keyed again from the OS source.
pub const RESEED_AFTER: usize = 1 << 20;

/// The generator's state is secret: it is not printed.
impl std::fmt::Debug for IdGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdGenerator")
            .field("keyed", &self.rng.is_some())
            .field("drawn", &self.drawn)
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl Default for IdGenerator {
    fn default() -> Self {
        Self::new()
    }
}

impl IdGenerator {
    /// A generator whose pool is filled on first use.
    pub fn new() -> Self {
        IdGenerator {
            rng: None,
            drawn: 0,
            raw: vec![0; POOL].into_boxed_slice(),
            chars: String::with_capacity(POOL),
            used: 0,
        }
    }

    /// A fresh random `ident` of [`GENERATED_LEN`] alphanumerics (valid as transaction id,
    /// Message-ID and URI session-id).
    ///
    /// Each random octet below 248 gives one character (a table: 248 = 4 × 62, so every
    /// alphanumeric is equally likely); the others are skipped. The characters are made a
    /// pool at a time, and an id is the next [`GENERATED_LEN`] of them.
    pub fn next_id(&mut self) -> Ident {
        while self.chars.len() - self.used < GENERATED_LEN {
            self.refill();
        }
        let id = self
            .chars
            .get(self.used..self.used + GENERATED_LEN)
            .unwrap_or_default();
        self.used += GENERATED_LEN;
        // GENERATED_LEN alphanumerics are an ident.
        Ident::from_checked(id)
    }

    /// Draws a pool of random octets and makes the characters of the ones below 248 the
    /// pool of characters (what was left of the last one, fewer than an id, is dropped).
    fn refill(&mut self) {
        if self.drawn >= RESEED_AFTER {
            self.rng = None;
        }
        let rng = match &mut self.rng {
            Some(rng) => rng,
            None => {
                let mut key = [0u8; 32];
                // getrandom only fails where the platform has no entropy source at all; there
                // is no sound way to go on generating ids without one.
                getrandom::fill(&mut key).expect("the OS random source failed");
                self.drawn = 0;
                self.rng.insert(ChaCha12Rng::from_seed(key))
            }
        };
        rng.fill_bytes(&mut self.raw);
        self.drawn += POOL;
        let mut text = std::mem::take(&mut self.chars).into_bytes();
        text.resize(POOL, 0);
        // Every octet's character is written at `n` (at most the octet's own index, so within
        // the pool); only those of the octets kept advance `n`.
        let mut n = 0;
        for &b in self.raw.iter() {
            let c = ALNUM_OF[usize::from(b)];
            text[n] = c;
            n += usize::from(c != 0);
        }
        text.truncate(n);
        // Alphanumerics are ASCII, hence UTF-8 (the check runs once per pool).
        self.chars = String::from_utf8(text).expect("alphanumerics are UTF-8");
        self.used = 0;
    }

    /// A fresh id that `taken` does not reject: used for transaction ids, which must not collide
    /// with one still outstanding on the same connection (4975-004).
    pub fn next_unique(&mut self, mut taken: impl FnMut(&str) -> bool) -> Ident {
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
    fn ident_holds_exactly_the_rfc_syntax() {
        // 4975-003 / 4975-039: ident = ALPHANUM 3*31ident-char.
        for ok in ["abcd", "a.-+%=", "0123456789abcdefghijklmnopqrstuv"] {
            let id = Ident::new(ok).expect(ok);
            assert_eq!((id.as_str(), &*id, id.to_string()), (ok, ok, ok.to_owned()));
            assert_eq!(ok.parse::<Ident>(), Ok(id));
        }
        let long = "0123456789abcdefghijklmnopqrstuvw";
        for bad in ["", "abc", ".abc", "ab cd", "abc/", long, "abcé"] {
            assert_eq!(Ident::new(bad), None, "{bad:?}");
            assert_eq!(bad.parse::<Ident>(), Err(IdentError), "{bad:?}");
        }
    }

    #[test]
    fn ident_compares_and_hashes_as_its_str() {
        // `Borrow<str>`: a map keyed by `Ident` is searched with a `&str`.
        let id: Ident = "tid12345".parse().unwrap();
        let mut m = std::collections::HashMap::new();
        m.insert(id, 1);
        assert_eq!(m.get("tid12345"), Some(&1));
        assert_eq!(m.get("tid12346"), None);
        assert_eq!(id, "tid12345");
        assert_eq!("tid12345", id);
        assert_ne!(id, "tid1234");
        assert_eq!(format!("{id:?}"), "\"tid12345\"");
        assert_eq!(ByteString::from(id), "tid12345");
        let a: Ident = "aaaa".parse().unwrap();
        assert!(a < id, "orders as str");
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
    fn generators_are_keyed_apart_and_rekeyed() {
        // 4976-018: each generator is keyed from the OS source on its own, so two never give
        // the same ids, and one is keyed again after RESEED_AFTER octets.
        let (mut a, mut b) = (IdGenerator::new(), IdGenerator::new());
        let from_a: HashSet<Ident> = (0..1000).map(|_| a.next_id()).collect();
        assert!((0..1000).all(|_| !from_a.contains(&b.next_id())));
        let key_of = |g: &IdGenerator| g.rng.as_ref().map(ChaCha12Rng::get_seed);
        let key_before = key_of(&a);
        let pools = RESEED_AFTER / POOL + 1;
        let mut seen = HashSet::new();
        // A pool gives fewer than POOL / GENERATED_LEN ids (octets above 247 are skipped).
        for _ in 0..pools * (POOL / GENERATED_LEN) {
            assert!(seen.insert(a.next_id()));
        }
        assert!(a.drawn < RESEED_AFTER / 2, "rekeyed: {}", a.drawn);
        assert_ne!(key_of(&a), key_before);
        // The generator's state is not printed.
        assert!(!format!("{a:?}").contains("ChaCha"), "{a:?}");
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
