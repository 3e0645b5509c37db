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
//! twice the paths in use.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;
use msrp::MsrpUri;

/// A path held by the pool and shared by the transactions that name it.
pub(crate) type SharedPath = Arc<[MsrpUri]>;

/// Below this many paths the pool is never swept.
const SWEEP_MIN: usize = 64;

/// See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct PathPool {
    table: HashTable<SharedPath>,
    hasher: RandomState,
    /// The table's size that triggers the next sweep.
    sweep_at: usize,
}

impl Default for PathPool {
    fn default() -> Self {
        PathPool {
            table: HashTable::new(),
            hasher: RandomState::new(),
            sweep_at: SWEEP_MIN,
        }
    }
}

impl PathPool {
    /// The pool's copy of `path` (made now if there is none).
    pub(crate) fn share(&mut self, path: &[MsrpUri]) -> SharedPath {
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
