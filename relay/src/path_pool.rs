//! The paths of a relay's outstanding transactions, kept once per distinct path and shared
//! (RFC 4976 §6.4.1, §6.4.3).
//!
//! For every forwarded request awaiting its response, the router keeps two paths: the
//! From-Path as received (the To-Path of a failure REPORT or of an error response, 4975-049)
//! and the URIs it put in front of it (the To-Path a response must begin with). Every chunk of
//! a session carries the same two, and a window of chunks is outstanding at a time, so the
//! pool keeps one copy of each distinct path and a transaction holds a reference (16 octets
//! instead of a 160-octet [`msrp::Path`] each): a relay's outstanding transaction shrank from
//! 472 to 184 octets, and what a response touches of it from 8 cache lines to 3.
//!
//! Paths are matched by their URIs' text, as received. The table is hashed with SipHash and
//! random keys: From-Path texts are chosen by peers. Paths no transaction holds any more are
//! dropped when the table has doubled since the last sweep, so the pool holds at most about
//! twice the paths in use (and the few the recent cache below holds).
//!
//! In front of the table, a small direct-mapped cache of recently shared paths, indexed by a
//! cheap fingerprint (the length and last octets of the last URI, where session-ids differ),
//! answers the common case, a session's next chunk, with one compare instead of a SipHash of
//! every URI. A fingerprint a peer makes collide only costs a miss: an entry is used only when
//! its URIs' texts are equal, else the table is asked.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;
use msrp::MsrpUri;

/// A path held by the pool and shared by the transactions that name it.
pub(crate) type SharedPath = Arc<[MsrpUri]>;

/// Below this many paths the pool is never swept.
const SWEEP_MIN: usize = 64;

/// Entries of the recent-path cache (a power of two).
const RECENT: usize = 16;

/// See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct PathPool {
    table: HashTable<SharedPath>,
    hasher: RandomState,
    /// The table's size that triggers the next sweep.
    sweep_at: usize,
    /// Recently shared paths, by [`fingerprint`].
    recent: [Option<SharedPath>; RECENT],
}

impl Default for PathPool {
    fn default() -> Self {
        PathPool {
            table: HashTable::new(),
            hasher: RandomState::new(),
            sweep_at: SWEEP_MIN,
            recent: Default::default(),
        }
    }
}

impl PathPool {
    /// The pool's copy of `path` (made now if there is none).
    pub(crate) fn share(&mut self, path: &[MsrpUri]) -> SharedPath {
        let slot = fingerprint(path) % RECENT;
        if let Some(p) = &self.recent[slot] {
            if same(p, path) {
                return p.clone();
            }
        }
        let p = self.share_in_table(path);
        self.recent[slot] = Some(p.clone());
        p
    }

    /// [`PathPool::share`] without the recent-path cache.
    fn share_in_table(&mut self, path: &[MsrpUri]) -> SharedPath {
        let h = hash(&self.hasher, path);
        if let Some(p) = self.table.find(h, |p| same(p, path)) {
            return p.clone();
        }
        if self.table.len() >= self.sweep_at {
            self.table.retain(|p| Arc::strong_count(p) > 1);
            self.sweep_at = (2 * self.table.len()).max(SWEEP_MIN);
        }
        let p: SharedPath = path.into();
        let hasher = &self.hasher;
        self.table.insert_unique(h, p.clone(), |p| hash(hasher, p));
        p
    }

    /// How many distinct paths the pool holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }
}

/// The URIs' texts, each followed by an octet no URI holds.
fn hash(hasher: &RandomState, path: &[MsrpUri]) -> u64 {
    let mut h = hasher.build_hasher();
    for u in path {
        h.write(u.as_str().as_bytes());
        h.write_u8(b' ');
    }
    h.finish()
}

/// A cheap fingerprint of a path for the recent-path cache: its length in URIs, the last URI's
/// length and its last eight octets (a session-id's end). Equal paths have equal ones.
fn fingerprint(path: &[MsrpUri]) -> usize {
    let last = path.last().map_or(&b""[..], |u| u.as_str().as_bytes());
    let tail = &last[last.len().saturating_sub(8)..];
    let h = tail
        .iter()
        .fold((path.len() << 8 ^ last.len()) as u64, |h, &b| {
            h.rotate_left(5) ^ u64::from(b)
        });
    // Fold the high bits down: the cache index is the low bits.
    (h ^ h >> 17 ^ h >> 31) as usize
}

/// The same URIs with the same texts.
fn same(a: &[MsrpUri], b: &[MsrpUri]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.as_str() == y.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(uris: &[&str]) -> Vec<MsrpUri> {
        uris.iter().map(|u| u.parse().expect("a URI")).collect()
    }

    #[test]
    fn equal_paths_share_one_copy() {
        let mut pool = PathPool::default();
        let a = path(&["msrp://a.example.com:7654/jshA7weztas;tcp"]);
        let b = path(&[
            "msrp://relay.example.net:2855/kjfjan;tcp",
            "msrp://a.example.com:7654/jshA7weztas;tcp",
        ]);
        let (a1, a2) = (pool.share(&a), pool.share(&a.clone()));
        assert!(Arc::ptr_eq(&a1, &a2), "one copy");
        assert_eq!(&a1[..], &a[..]);
        let b1 = pool.share(&b);
        assert_eq!(&b1[..], &b[..]);
        assert!(!Arc::ptr_eq(&a1, &b1));
        // A prefix, or the same URIs spelled otherwise, is another path.
        let c = pool.share(&b[..1]);
        assert_eq!(c.len(), 1);
        let spelled = path(&["MSRP://A.example.com:7654/jshA7weztas;tcp"]);
        assert!(!Arc::ptr_eq(&pool.share(&spelled), &a1));
        assert_eq!(pool.len(), 4);
    }

    #[test]
    fn recent_paths_are_shared_without_the_table() {
        // A session's next chunk finds its paths in the recent cache; colliding fingerprints
        // (the same tail) only cost a miss, never a wrong path.
        let mut pool = PathPool::default();
        let a = path(&["msrp://a.example.com:7654/same-tail;tcp"]);
        let b = path(&["msrp://b.example.com:7654/same-tail;tcp"]);
        assert_eq!(fingerprint(&a), fingerprint(&b), "a collision, on purpose");
        let a1 = pool.share(&a);
        let b1 = pool.share(&b);
        assert!(!Arc::ptr_eq(&a1, &b1));
        assert_eq!((&a1[..], &b1[..]), (&a[..], &b[..]));
        // B took the slot A was cached in: A comes from the table, and the same copy again.
        let a2 = pool.share(&a);
        assert!(
            Arc::ptr_eq(&a1, &a2),
            "the table's copy after the collision"
        );
        let a3 = pool.share(&a);
        assert!(Arc::ptr_eq(&a1, &a3), "the same copy");
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn unused_paths_are_swept() {
        // Every path a transaction still holds stays; the rest go once the table has grown.
        let mut pool = PathPool::default();
        let held: Vec<SharedPath> = (0..10)
            .map(|i| pool.share(&path(&[&format!("msrp://h{i}.example.com:1/s;tcp")])))
            .collect();
        for i in 0..1000 {
            pool.share(&path(&[&format!("msrp://t{i}.example.com:1/s;tcp")]));
            assert!(
                pool.len() <= 2 * (held.len() + 1) + SWEEP_MIN,
                "bounded: {}",
                pool.len()
            );
        }
        for (i, p) in held.iter().enumerate() {
            let again = pool.share(&path(&[&format!("msrp://h{i}.example.com:1/s;tcp")]));
            assert!(Arc::ptr_eq(p, &again), "held path {i} kept");
        }
    }
}
