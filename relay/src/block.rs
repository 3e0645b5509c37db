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

/// What a buffer that already holds octets grows to at least: a whole batch
/// (`BATCH_BYTES` in [`crate::server`]) and a frame's worth more.
const GROWN: usize = 9 * BLOCK;

/// Makes room in `buf` for `n` more octets: a [`BLOCK`] when it is empty, and when it holds
/// octets already (it is collecting a batch of 200s or header blocks) room for a whole batch
/// at once, so what it holds is copied once, not at every block (callgrind: copies in
/// `reserve` and `realloc` were 5% of a relay's instructions with 200s collected a block at a
/// time).
pub(crate) fn make_room(buf: &mut BytesMut, n: usize) {
    if buf.capacity() - buf.len() < n {
        let least = if buf.is_empty() { BLOCK } else { GROWN };
        buf.reserve(n.max(least));
    }
}
