//! A frame's header block while the decoder parses it (RFC 4975 §7.1), and where the string
//! values that a parsed [`crate::Head`] keeps come from.
//!
//! The block is read in place, in the read buffer. It is copied (into the decoder's [`Arena`])
//! only when a parsed value must share it: most frames need no copy, because their transaction
//! id and Message-ID are held inline ([`crate::Ident`]), their paths come from the decoder's
//! path cache, Byte-Range and the report headers are numbers and flags, and common
//! Content-Types and registered reason phrases are static strings. A frame with any other string
//! value (an unknown header, an uncommon Content-Type, a path not seen before, ...) copies the
//! block once and slices its values from the copy, so a `Head` never pins a read buffer.
//!
//! Without the copy a frame costs no atomic reference count for its block (the copy took an
//! increment when split off the arena and a decrement when its last value was dropped), and no
//! `memcpy`.

use bytes::BytesMut;
use bytestring::ByteString;

/// Largest arena allocation: header blocks (a few hundred octets each) are copied into
/// allocations of up to this size, so one allocation serves many frames.
const ARENA_BLOCK: usize = 4096;

/// First arena allocation; each next one doubles up to [`ARENA_BLOCK`], so a connection that
/// sends a frame or two (a participant that binds and stays quiet) holds little memory.
const ARENA_FIRST: usize = 512;

/// Where header blocks that values must share are copied to. A copy is a slice of the current
/// allocation (at most [`ARENA_BLOCK`] octets unless one block is larger), so heads kept by a relay
/// or a room for the life of a transaction pin a few KiB, never a 64 KiB read buffer, and a copy
/// costs no allocation of its own.
#[derive(Debug)]
pub(crate) struct Arena {
    buf: BytesMut,
    next: usize,
}

impl Default for Arena {
    fn default() -> Self {
        Arena {
            buf: BytesMut::new(),
            next: ARENA_FIRST,
        }
    }
}

impl Arena {
    /// Octets the arena has allocated and not handed out (for tests: 0 until a block is copied).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// `s`, copied into the arena.
    fn copy(&mut self, s: &str) -> ByteString {
        if self.buf.capacity() < s.len() {
            self.buf.reserve(s.len().max(self.next));
            self.next = (self.next * 2).min(ARENA_BLOCK);
        }
        self.buf.extend_from_slice(s.as_bytes());
        // A copy of a `str` is UTF-8: the check cannot fail (and is the price of
        // `#![forbid(unsafe_code)]`, paid only by frames that need the copy).
        ByteString::try_from(self.buf.split().freeze()).unwrap_or_default()
    }
}

/// Where a header parser's string values come from: slices of the text being parsed, shared
/// instead of copied where the text allows.
pub(crate) trait Source {
    /// `v` as a `ByteString`: a slice of the shared text when `v` lies in the text being
    /// parsed, else a copy.
    fn sub(&mut self, v: &str) -> ByteString;

    /// The shared text and `v` as the same slice of it, for parsers that slice a value further
    /// (paths, quoted strings, auth parameters). `v` must lie in the text being parsed.
    fn rebase<'s>(&'s mut self, v: &'s str) -> (&'s ByteString, &'s str);
}

/// A `ByteString` is its own shared text ([`crate::Header::parse`] on a caller's string).
impl Source for &ByteString {
    fn sub(&mut self, v: &str) -> ByteString {
        crate::ident::sub(self, v)
    }

    fn rebase<'s>(&'s mut self, v: &'s str) -> (&'s ByteString, &'s str) {
        (*self, v)
    }
}

/// A header block in the read buffer, copied into the arena on the first value that needs it.
pub(crate) struct Block<'a> {
    s: &'a str,
    arena: &'a mut Arena,
    copy: Option<ByteString>,
}

impl<'a> Block<'a> {
    /// The block `s`, whose copy (if one is needed) goes into `arena`.
    pub(crate) fn new(s: &'a str, arena: &'a mut Arena) -> Block<'a> {
        Block {
            s,
            arena,
            copy: None,
        }
    }

    /// The block's text (in the read buffer).
    pub(crate) fn as_str(&self) -> &'a str {
        self.s
    }

    /// Where `v` lies in the block, when it does.
    fn offset(&self, v: &str) -> Option<usize> {
        // A slice before the block wraps to an offset beyond any length.
        let off = (v.as_ptr() as usize).wrapping_sub(self.s.as_ptr() as usize);
        (off <= self.s.len() && v.len() <= self.s.len() - off).then_some(off)
    }

    /// The block's copy, made on first use.
    fn copy(&mut self) -> &ByteString {
        let Block { s, arena, copy } = self;
        copy.get_or_insert_with(|| arena.copy(s))
    }
}

impl Source for Block<'_> {
    fn sub(&mut self, v: &str) -> ByteString {
        match self.offset(v) {
            Some(off) if !v.is_empty() => {
                let copy = self.copy();
                // The copy has the block's octets, so `v`'s range is in bounds and on character
                // boundaries.
                copy.get(off..off + v.len())
                    .map_or_else(|| ByteString::from(v), |w| copy.slice_ref(w))
            }
            _ => ByteString::from(v),
        }
    }

    fn rebase<'s>(&'s mut self, v: &'s str) -> (&'s ByteString, &'s str) {
        let Some(off) = self.offset(v) else {
            debug_assert!(false, "rebase of a slice outside the block");
            return (self.copy(), "");
        };
        let copy = self.copy();
        (copy, copy.get(off..off + v.len()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_copy_until_a_value_needs_one() {
        let mut arena = Arena::default();
        let text = "MSRP abcd SEND\r\nX-Note: hello\r\n";
        let mut b = Block::new(text, &mut arena);
        assert!(b.copy.is_none());
        let hello = &b.as_str()[24..29];
        let v = b.sub(hello);
        assert_eq!(&*v, "hello");
        let copy = b.copy.clone().expect("copied on first use");
        assert_eq!(&*copy, text);
        // The value is a slice of the copy, not of the caller's text and not a copy of its own.
        assert_eq!(v.as_ptr() as usize, copy.as_ptr() as usize + 24);
        let (t, w) = b.rebase(&text[16..22]);
        assert_eq!((t.as_ptr(), w), (copy.as_ptr(), "X-Note"));
        assert_eq!(w.as_ptr() as usize, copy.as_ptr() as usize + 16);
    }

    #[test]
    fn foreign_and_empty_values_are_copies() {
        let mut arena = Arena::default();
        let mut b = Block::new("MSRP abcd SEND\r\n", &mut arena);
        assert_eq!(&*b.sub("elsewhere"), "elsewhere");
        assert_eq!(&*b.sub(""), "");
        assert!(b.copy.is_none(), "neither needed the block");
    }

    #[test]
    fn copies_share_an_arena_allocation() {
        let mut arena = Arena::default();
        let a = arena.copy("first block");
        let b = arena.copy("second block");
        assert_eq!((&*a, &*b), ("first block", "second block"));
        assert_eq!(a.as_ptr() as usize + a.len(), b.as_ptr() as usize);
        let big = "x".repeat(3 * ARENA_BLOCK);
        assert_eq!(
            arena.copy(&big).len(),
            big.len(),
            "a larger block gets its own"
        );
    }
}
