//! Output buffers allocated a block at a time.
//!
//! The relay writes header blocks, end-lines and its own 200s into a buffer and freezes each
//! frame's octets (or a batch's) off it to queue them, while the buffer goes on. The buffer's
//! allocation is then shared until the writer is done with those octets, so growing it by only
//! what one frame needs made a new allocation (and a second one for `bytes`' shared header) for
//! nearly every frame forwarded. A block at a time, one allocation serves a few dozen frames.
//!
//! A block that holds octets is never grown: growing copies what it holds (callgrind: copies in
//! `reserve` and `realloc` were 5% of a relay's instructions with 200s collected a block at a
//! time, and still 3% when a full block grew to a whole batch at once). A batch cuts the block
//! off as a segment of what it queues instead ([`room_in_blocks`]).

use bytes::{Bytes, BytesMut};

/// The least a buffer's fresh block holds.
pub(crate) const BLOCK: usize = 4096;

/// Makes room in `buf` for `n` more octets: a fresh block of at least [`BLOCK`] octets when it
/// has not the room. For a buffer whose octets are frozen off as they are written (it is
/// empty when it runs out).
pub(crate) fn make_room(buf: &mut BytesMut, n: usize) {
    if buf.capacity() - buf.len() < n {
        buf.reserve(n.max(BLOCK));
    }
}

/// Makes room in `buf` for `n` more octets without growing the block it holds: when it has not
/// the room, what it holds is cut off and returned (the caller queues it as a segment before
/// what follows), and a fresh block of at least `block` octets follows.
///
/// Inlined: the usual case, room, is one compare; a new block is out of line.
#[inline]
pub(crate) fn room_in_blocks(buf: &mut BytesMut, n: usize, block: usize) -> Option<Bytes> {
    if buf.capacity() - buf.len() >= n {
        return None;
    }
    new_block(buf, n, block)
}

/// The block-changing part of [`room_in_blocks`].
#[cold]
#[inline(never)]
fn new_block(buf: &mut BytesMut, n: usize, block: usize) -> Option<Bytes> {
    let cut = (!buf.is_empty()).then(|| buf.split().freeze());
    buf.reserve(n.max(block));
    cut
}
