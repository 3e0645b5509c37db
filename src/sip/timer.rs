//! A deadline queue: which key's timer is due next, in O(log n) per change, so the focus's cost
//! per message does not grow with the number of live transactions and dialogs (UDP keeps a
//! non-INVITE transaction 64·T1 = 32 s, RFC 3261 §17.2.2: at r requests a second, 32·r of
//! them are alive).
//!
//! Each key has at most one deadline; scheduling a key again replaces its deadline. Replaced
//! and cancelled entries stay in the heap until they reach its top, where they are skipped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Keys with deadlines (see the module documentation).
#[derive(Debug)]
pub struct Deadlines<K> {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Live entries: id → key and deadline.
    live: HashMap<u64, (K, Instant)>,
    /// Each key's live entry.
    ids: HashMap<K, u64>,
    next_id: u64,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            heap: BinaryHeap::new(),
            live: HashMap::new(),
            ids: HashMap::new(),
            next_id: 0,
        }
    }
}

impl<K: Clone + Eq + Hash> Deadlines<K> {
    /// `key`'s timer fires at `at` (replacing any deadline it had).
    pub fn schedule(&mut self, key: K, at: Instant) {
        if let Some(old) = self.ids.get(&key) {
            if self.live.get(old).is_some_and(|(_, t)| *t == at) {
                return;
            }
            self.live.remove(old);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.live.insert(id, (key.clone(), at));
        self.ids.insert(key, id);
        self.heap.push(Reverse((at, id)));
        self.compact();
    }

    /// `key` has no deadline any more.
    pub fn cancel(&mut self, key: &K) {
        if let Some(id) = self.ids.remove(key) {
            self.live.remove(&id);
        }
    }

    /// The earliest deadline.
    pub fn earliest(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// A key whose deadline is at or before `now`, removed from the queue.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        self.skip_stale();
        let Reverse((at, id)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        let (key, _) = self.live.remove(&id)?;
        self.ids.remove(&key);
        Some(key)
    }

    /// Keys with a deadline.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// No key has a deadline.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    fn skip_stale(&mut self) {
        while let Some(Reverse((_, id))) = self.heap.peek() {
            if self.live.contains_key(id) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Rebuilds the heap when stale entries outnumber live ones, so replaced deadlines that lie
    /// far ahead cannot pile up.
    fn compact(&mut self) {
        if self.heap.len() > 64 && self.heap.len() > 2 * self.live.len() {
            let live = &self.live;
            self.heap.retain(|Reverse((_, id))| live.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Keys come out in deadline order; rescheduling replaces, cancelling removes; stale
    /// entries neither fire nor pile up.
    #[test]
    fn order_replace_cancel() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Deadlines::default();
        d.schedule("a", ms(30));
        d.schedule("b", ms(10));
        d.schedule("c", ms(20));
        d.schedule("a", ms(5));
        d.cancel(&"c");
        assert_eq!(d.len(), 2);
        assert_eq!(d.earliest(), Some(ms(5)));
        assert_eq!(d.pop_due(ms(4)), None);
        assert_eq!(d.pop_due(ms(100)), Some("a"));
        assert_eq!(d.pop_due(ms(100)), Some("b"));
        assert_eq!(
            d.pop_due(ms(100)),
            None,
            "c was cancelled, a's first deadline replaced"
        );
        assert!(d.is_empty() && d.earliest().is_none());
        for i in 0..10_000u64 {
            d.schedule("x", ms(1_000 + i));
        }
        assert!(d.heap.len() <= 2 * d.live.len() + 64, "{}", d.heap.len());
        assert_eq!(d.pop_due(ms(100_000)), Some("x"));
    }
}
