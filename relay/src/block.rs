//! Output buffers grown a block at a time.
//!
//! The relay writes header blocks, end-lines and its own 200s into a buffer and freezes each
//! frame's octets off it to queue them, while the buffer goes on. The buffer's allocation is
//! then shared until the writer is done with those octets, so growing it by only what one frame
//! needs made a new allocation (and a second one for `bytes`' shared header) for nearly every
//! frame forwarded. Grown a block at a time, one allocation serves a few dozen frames.

use bytes::BytesMut;

/// The least such a buffer grows by.
pub(crate) const BLOCK: usize = 4096;

/// Makes room in `buf` for `n` more octets, a [`BLOCK`] at a time.
pub(crate) fn make_room(buf: &mut BytesMut, n: usize) {
    if buf.capacity() - buf.len() < n {
        buf.reserve(n.max(BLOCK));
    }
}
