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

/// Makes room in `buf` for `n` more octets, a [`BLOCK`] at a time, or as much as it holds
/// when that is more: a buffer that collects a batch (up to 32 KiB of 200s or header blocks,
/// `BATCH_BYTES` in [`crate::server`]) doubles, so its octets are copied a few times in all,
/// not once per block (callgrind: reallocations were 5% of a relay's instructions with 200s
/// collected a block at a time).
pub(crate) fn make_room(buf: &mut BytesMut, n: usize) {
    if buf.capacity() - buf.len() < n {
        buf.reserve(n.max(BLOCK).max(buf.len()));
    }
}
