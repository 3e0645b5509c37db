//! Outstanding transactions of one connection and their response timers (RFC 4975 §7.1,
//! §7.1.1; RFC 4976 §6.4.1).
//!
//! A node that sends a request keeps it here, keyed by transaction id, until the response
//! arrives ([`Transactions::complete`]) or its timer runs out ([`Transactions::poll_expired`]).
//! The table is sans-IO: it reads no clock, every method that needs the time takes `now`.
//!
//! Timers live in a queue of deadlines, earliest first, with lazy deletion: completing or
//! restarting a transaction does not search the queue, it only makes the old item stale; stale
//! items are dropped when they reach the front and the queue is rebuilt when stale items
//! outnumber live ones. The front is always live, so [`Transactions::next_deadline`] is exact
//! and O(1). Every timer of a table runs for the same timeout from a `now` that does not go
//! back, so a new deadline is nearly always the latest and joins the back in O(1), where a
//! min-heap pushes and pops in O(log n) of the transactions outstanding; one that is not the
//! latest is inserted in order.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use hashbrown::HashTable;
use hashbrown::hash_table::OccupiedEntry;
use rustc_hash::FxBuildHasher;

use crate::ident::{IdGenerator, Ident};

/// RFC 4975 §7.1.1 (4975-056) and RFC 4976 §6.4.1 (4976-030): a response is awaited for 30
/// seconds from the time the last octet of the request was sent.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Below this many queued items the queue is never rebuilt (rebuilding a tiny one saves nothing).
const COMPACT_MIN: usize = 64;

/// A timer: `(deadline, seq, slot)`, ordered by the first two fields (`seq` is unique). It is
/// live when `slot` holds a transaction with a deadline whose `seq` is this one.
type Timer = (Instant, u64, u32);

/// The timers' queue, in ascending order.
#[derive(Debug, Default)]
struct Deadlines(VecDeque<Timer>);

impl Deadlines {
    /// Adds an item in order: at the back when it is the latest (the usual case).
    fn push(&mut self, item: Timer) {
        match self.0.back() {
            Some(last) if *last > item => {
                let at = self.0.partition_point(|x| *x <= item);
                self.0.insert(at, item);
            }
            _ => self.0.push_back(item),
        }
    }

    /// The earliest item.
    fn peek(&self) -> Option<&Timer> {
        self.0.front()
    }

    /// Removes the earliest item.
    fn pop(&mut self) -> Option<Timer> {
        self.0.pop_front()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = &Timer> {
        self.0.iter()
    }
}

impl From<Vec<Timer>> for Deadlines {
    fn from(mut items: Vec<Timer>) -> Deadlines {
        items.sort_unstable();
        Deadlines(items.into())
    }
}

/// One outstanding transaction.
#[derive(Debug)]
struct Slot<T> {
    tid: Ident,
    data: T,
    /// `None` while the request has not been sent in full (no timer runs yet), or when
    /// `now + timeout` does not fit in an `Instant`.
    deadline: Option<Instant>,
    /// Identifies the one live queue item of this transaction; older items carry older values.
    seq: u64,
}

/// The transactions a node has sent on one connection and is waiting on, each with the caller's
/// data `T` (RFC 4975 §7.1, §7.1.1).
///
/// - [`Transactions::new_tid`] draws a transaction id that collides with none outstanding
///   (4975-004).
/// - The response timer runs from the moment the request's last octet was sent (4975-056,
///   4976-030): [`Transactions::insert`] starts it at `now`; [`Transactions::insert_unsent`]
///   holds it until [`Transactions::sent`] is called, so that a large chunk still being written
///   cannot time out.
/// - A response completes its transaction ([`Transactions::complete`]); a response whose
///   transaction is unknown (never sent, already answered, or timed out) gets `None` and is
///   ignored by the caller.
///
/// The ids are hashed with FxHash, not SipHash: they are ids this node drew
/// ([`Transactions::new_tid`]), random and not chosen by any peer, so no peer can make them
/// collide; a peer's response only looks one up. Insert only such ids.
///
/// Layout: each transaction (its id, data and timer) lives in a slot of a vector; the hash
/// table holds only slot numbers, and a timer in the queue names its slot. So the table stays
/// small and in cache, a timer is checked with an index instead of a hashed lookup of a cold
/// entry, no timer holds a reference-counted copy of the id, and the next transaction takes the
/// slot the last response freed, still in cache. (With the data inline in the table, a relay's
/// inserts wrote a few hundred octets into a cold slot each: 6% of its CPU time with 16 client
/// pairs, by `perf`.)
#[derive(Debug)]
pub struct Transactions<T> {
    timeout: Duration,
    /// Slot numbers, hashed by the id in the slot.
    table: HashTable<u32>,
    /// The transactions, at the slots the table and the timers name; `None` in a free slot.
    slots: Vec<Option<Slot<T>>>,
    /// Free slots, the last freed on top.
    free: Vec<u32>,
    /// Timers, earliest first, with stale items dropped lazily (see the module documentation).
    queue: Deadlines,
    /// Number of transactions that have a deadline (hence exactly one live queue item).
    timed: usize,
    next_seq: u64,
}

impl<T> Default for Transactions<T> {
    /// A table with the RFC's 30-second timeout ([`DEFAULT_TIMEOUT`]).
    fn default() -> Self {
        Self::new(DEFAULT_TIMEOUT)
    }
}

/// The hash of a transaction id, from its octets (so that an id read as octets,
/// [`Transactions::settle_if`], is found as the same id held as text).
fn hash(tid: &[u8]) -> u64 {
    let mut h = FxBuildHasher.build_hasher();
    h.write(tid);
    h.finish()
}

/// The table entry of transaction `tid`, for a caller that may remove it.
fn entry_of<'a, T>(
    table: &'a mut HashTable<u32>,
    slots: &[Option<Slot<T>>],
    tid: &[u8],
) -> Option<OccupiedEntry<'a, u32>> {
    table
        .find_entry(hash(tid), |&i| {
            slot_of(slots, i).is_some_and(|s| s.tid.as_bytes() == tid)
        })
        .ok()
}

/// The transaction in slot `i`, if the slot is taken.
fn slot_of<T>(slots: &[Option<Slot<T>>], i: u32) -> Option<&Slot<T>> {
    slots.get(i as usize).and_then(Option::as_ref)
}

impl<T> Transactions<T> {
    /// An empty table whose transactions time out `timeout` after their last octet was sent
    /// (RFC 4975 §7.1.1: 30 s, [`DEFAULT_TIMEOUT`]; configurable for tests and deployments).
    pub fn new(timeout: Duration) -> Self {
        Transactions {
            timeout,
            table: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            queue: Deadlines::default(),
            timed: 0,
            next_seq: 0,
        }
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// RFC 4975 §7.1 (4975-004): a fresh random transaction id (16 alphanumerics, ~95 bits)
    /// that is not the id of any transaction outstanding in this table.
    pub fn new_tid(&self, ids: &mut IdGenerator) -> Ident {
        ids.next_unique(|t| self.find(t).is_some())
    }

    /// Records transaction `tid`, whose last octet was sent at `now`, and starts its timer
    /// (4975-056). If `tid` was already outstanding, its data is replaced, its timer restarted,
    /// and the old data returned.
    pub fn insert(&mut self, tid: Ident, data: T, now: Instant) -> Option<T> {
        let deadline = now.checked_add(self.timeout);
        self.put(tid, data, deadline)
    }

    /// Records transaction `tid` whose request is not yet fully sent: no timer runs until
    /// [`Transactions::sent`] (4975-056: the timer starts with the last octet sent). If `tid` was
    /// already outstanding, its data is replaced, its timer stopped, and the old data returned.
    pub fn insert_unsent(&mut self, tid: Ident, data: T) -> Option<T> {
        self.put(tid, data, None)
    }

    /// RFC 4975 §7.1.1 (4975-056), RFC 4976 §6.4.1 (4976-030): the last octet of `tid`'s request
    /// was sent (or handed to the operating system) at `now`; (re)starts its timer. `false`
    /// when `tid` is not outstanding.
    pub fn sent(&mut self, tid: &str, now: Instant) -> bool {
        self.touch(tid, now)
    }

    /// [`Transactions::sent`], and `update` changes the transaction's data (what the caller
    /// records of what was sent), with one lookup where a `get_mut` and a `sent` take two.
    /// `false`, and `update` not called, when `tid` is not outstanding.
    pub fn sent_with(&mut self, tid: &str, now: Instant, update: impl FnOnce(&mut T)) -> bool {
        let Some(i) = self.find(tid) else {
            return false;
        };
        if let Some(s) = self.slots.get_mut(i as usize).and_then(Option::as_mut) {
            update(&mut s.data);
        }
        let deadline = now.checked_add(self.timeout);
        self.set_timer(i, deadline);
        self.tidy();
        true
    }

    /// Restarts the timer of `tid` so that it expires `timeout` after `now`. `false` when `tid`
    /// is not outstanding.
    pub fn touch(&mut self, tid: &str, now: Instant) -> bool {
        self.sent_with(tid, now, |_| {})
    }

    /// A response for `tid` arrived: the transaction is over and its data is returned. `None`
    /// when `tid` is not outstanding (never sent, already answered or timed out); the caller
    /// ignores such a response (RFC 4975 §7.1, 4975-061).
    pub fn complete(&mut self, tid: &str) -> Option<T> {
        self.complete_if(tid, |_| Ok::<(), Infallible>(()))?.ok()
    }

    /// A response for `tid` arrived, and `check` decides from the transaction's data whether it
    /// answers the transaction (a relay checks the connection it came on and its To-Path, RFC
    /// 4976 §6.4.3). `None`: `tid` is not outstanding. `Some(Err(_))`: `check`'s refusal; the
    /// transaction stays outstanding. `Some(Ok(data))`: the transaction is over, as with
    /// [`Transactions::complete`]. One lookup where a `get` and a `complete` take two.
    pub fn complete_if<R>(
        &mut self,
        tid: &str,
        check: impl FnOnce(&T) -> Result<(), R>,
    ) -> Option<Result<T, R>> {
        let entry = entry_of(&mut self.table, &self.slots, tid.as_bytes())?;
        let i = *entry.get();
        if let Err(r) = check(&slot_of(&self.slots, i)?.data) {
            return Some(Err(r));
        }
        entry.remove();
        let slot = self.release(i)?;
        self.tidy();
        Some(Ok(slot.data))
    }

    /// [`Transactions::complete_if`] for a caller that needs nothing of the data once `check`
    /// has read it: the transaction is dropped where it lies instead of moved out (a relay's
    /// data is a few hundred octets, and moving it cost a `memcpy` call each time it changed
    /// hands). The id is taken as octets, as a response's frame has them
    /// ([`crate::BriefSuccess::tid_octets`]). `Some(Ok(()))`: the transaction is over.
    pub fn settle_if<R>(
        &mut self,
        tid: &[u8],
        check: impl FnOnce(&T) -> Result<(), R>,
    ) -> Option<Result<(), R>> {
        let entry = entry_of(&mut self.table, &self.slots, tid)?;
        let i = *entry.get();
        let cell = self.slots.get_mut(i as usize)?;
        let slot = cell.as_ref()?;
        if let Err(r) = check(&slot.data) {
            return Some(Err(r));
        }
        if slot.deadline.is_some() {
            self.timed -= 1;
        }
        *cell = None;
        entry.remove();
        self.freed(i);
        self.tidy();
        Some(Ok(()))
    }

    /// The next transaction whose timer ran out at or before `now`, removed from the table, in
    /// deadline order (ties in the order the timers were started). Call it until it returns
    /// `None`. RFC 4975 §7.1.1 (4975-056): the user is told the request probably failed; RFC 4976
    /// §6.4.1 (4976-030): a relay sends a 408 REPORT. A response that arrives later finds nothing
    /// ([`Transactions::complete`] returns `None`).
    pub fn poll_expired(&mut self, now: Instant) -> Option<(Ident, T)> {
        // The front is live (see `tidy`), so at most one pop is needed here.
        let (deadline, _, _) = self.queue.peek()?;
        if *deadline > now {
            return None;
        }
        let (_, _, i) = self.queue.pop()?;
        let tid = slot_of(&self.slots, i)?.tid;
        if let Ok(e) = self.table.find_entry(hash(tid.as_bytes()), |&j| j == i) {
            e.remove();
        }
        let slot = self.release(i);
        self.tidy();
        slot.map(|s| (s.tid, s.data))
    }

    /// When the earliest running timer expires; `None` when no timer runs. The caller sleeps
    /// until then and calls [`Transactions::poll_expired`].
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.peek().map(|(d, _, _)| *d)
    }

    /// The number of outstanding transactions.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// `true` when no transaction is outstanding.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `true` when `tid` is outstanding.
    pub fn contains(&self, tid: &str) -> bool {
        self.find(tid).is_some()
    }

    /// The data of outstanding transaction `tid`.
    pub fn get(&self, tid: &str) -> Option<&T> {
        let i = self.find(tid)?;
        slot_of(&self.slots, i).map(|s| &s.data)
    }

    /// The data of outstanding transaction `tid`, mutably.
    pub fn get_mut(&mut self, tid: &str) -> Option<&mut T> {
        let i = self.find(tid)?;
        Some(&mut self.slots.get_mut(i as usize)?.as_mut()?.data)
    }

    /// When `tid`'s timer expires; `None` when `tid` is unknown or has no timer running.
    pub fn deadline(&self, tid: &str) -> Option<Instant> {
        let i = self.find(tid)?;
        slot_of(&self.slots, i)?.deadline
    }

    /// Every outstanding transaction's id and data, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Ident, &T)> + '_ {
        self.slots.iter().flatten().map(|s| (&s.tid, &s.data))
    }

    /// Removes every outstanding transaction, in no particular order (the connection closed: each
    /// of them failed, RFC 4975 §7.1.1).
    pub fn drain(&mut self) -> impl Iterator<Item = (Ident, T)> + '_ {
        self.queue.clear();
        self.timed = 0;
        self.table.clear();
        self.free.clear();
        self.slots.drain(..).flatten().map(|s| (s.tid, s.data))
    }

    /// The slot of `tid`.
    fn find(&self, tid: &str) -> Option<u32> {
        self.table
            .find(hash(tid.as_bytes()), |&i| {
                slot_of(&self.slots, i).is_some_and(|s| s.tid == tid)
            })
            .copied()
    }

    fn put(&mut self, tid: Ident, data: T, deadline: Option<Instant>) -> Option<T> {
        if let Some(i) = self.find(&tid) {
            let old = self
                .slots
                .get_mut(i as usize)
                .and_then(Option::as_mut)
                .map(|s| std::mem::replace(&mut s.data, data));
            self.set_timer(i, deadline);
            self.tidy();
            return old;
        }
        let h = hash(tid.as_bytes());
        let slot = Slot {
            tid,
            data,
            deadline: None,
            seq: 0,
        };
        let i = match self.free.pop().filter(|&i| (i as usize) < self.slots.len()) {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                // Slots number at most the transactions outstanding, which a `u32` counts (a
                // table of 4 billion transactions runs out of memory long before).
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.table.insert_unique(h, i, |&j| {
            slot_of(slots, j).map_or(0, |s| hash(s.tid.as_bytes()))
        });
        self.set_timer(i, deadline);
        self.tidy();
        None
    }

    /// Gives slot `i` the timer `deadline` (none: stopped), queueing a live item for it.
    fn set_timer(&mut self, i: u32, deadline: Option<Instant>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(s) = self.slots.get_mut(i as usize).and_then(Option::as_mut) else {
            return;
        };
        match (s.deadline.is_some(), deadline.is_some()) {
            (false, true) => self.timed += 1,
            (true, false) => self.timed -= 1,
            _ => {}
        }
        s.deadline = deadline;
        s.seq = seq;
        if let Some(d) = deadline {
            self.queue.push((d, seq, i));
        }
    }

    /// Takes the transaction out of slot `i` (already out of the table) and frees the slot.
    /// When the table is empty, the slots are reset (their capacity is kept, like the table's),
    /// so that slot numbers start again at 0 and no stale timer outlives them.
    fn release(&mut self, i: u32) -> Option<Slot<T>> {
        let slot = self.slots.get_mut(i as usize)?.take()?;
        if slot.deadline.is_some() {
            self.timed -= 1;
        }
        self.freed(i);
        Some(slot)
    }

    /// Slot `i` was emptied (its transaction is out of the table): it is free. When the table
    /// is empty, the slots are reset (see [`Transactions::release`]).
    fn freed(&mut self, i: u32) {
        if self.table.is_empty() {
            self.slots.clear();
            self.free.clear();
            self.queue.clear();
        } else {
            self.free.push(i);
        }
    }

    /// `true` when `t` is the live timer of its slot.
    fn is_live(&self, t: &Timer) -> bool {
        let (_, seq, i) = *t;
        slot_of(&self.slots, i).is_some_and(|s| s.seq == seq && s.deadline.is_some())
    }

    /// Restores the invariants after a change: the queue's front is live, and stale items are at
    /// most about as many as live ones (so memory stays proportional to the table).
    fn tidy(&mut self) {
        if self.queue.len() > COMPACT_MIN && self.queue.len() > 2 * self.timed {
            let live: Vec<Timer> = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let s = s.as_ref()?;
                    Some((s.deadline?, s.seq, i as u32))
                })
                .collect();
            self.queue = Deadlines::from(live);
            return;
        }
        while let Some(t) = self.queue.peek() {
            if self.is_live(t) {
                break;
            }
            self.queue.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::is_ident;
    use proptest::prelude::*;
    use std::collections::{HashMap, HashSet};

    fn s(t: &str) -> Ident {
        t.parse().expect("an ident")
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Checks the table's internal invariants.
    fn check<T>(t: &Transactions<T>) {
        // Every table entry names a slot of its own that holds its id; every other slot is
        // free and empty.
        let used: HashSet<u32> = t.table.iter().copied().collect();
        assert_eq!(used.len(), t.table.len(), "one slot per entry");
        assert_eq!(t.slots.len(), t.table.len() + t.free.len());
        for (i, d) in t.slots.iter().enumerate() {
            let i = i as u32;
            assert_eq!(d.is_some(), used.contains(&i), "slot {i}");
            assert_eq!(d.is_none(), t.free.contains(&i), "slot {i}");
            if let Some(s) = d {
                assert_eq!(t.find(&s.tid), Some(i), "{} is found", s.tid);
            }
        }
        let live = || {
            t.slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i as u32, s.as_ref()?)))
        };
        let timed = live().filter(|(_, s)| s.deadline.is_some()).count();
        assert_eq!(t.timed, timed);
        for (i, s) in live() {
            if let Some(d) = s.deadline {
                let n = t
                    .queue
                    .iter()
                    .filter(|(hd, hs, hi)| *hi == i && *hs == s.seq && *hd == d)
                    .count();
                assert_eq!(n, 1, "live queue item of {}", s.tid);
            }
        }
        if let Some((d, seq, i)) = t.queue.peek() {
            let s = slot_of(&t.slots, *i).expect("the top's slot is taken");
            assert_eq!((s.seq, s.deadline), (*seq, Some(*d)), "top is live");
            assert_eq!(live().filter_map(|(_, s)| s.deadline).min(), Some(*d));
        } else {
            assert_eq!(timed, 0);
        }
        assert!(
            t.queue.len() <= (2 * timed).max(COMPACT_MIN) + 1,
            "queue {} timed {timed}",
            t.queue.len()
        );
    }

    #[test]
    fn insert_then_complete() {
        // 4975-061: the response's tid finds the transaction, once.
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        assert!(t.is_empty());
        assert_eq!(t.insert(s("a786hjs2"), 1, t0), None);
        assert_eq!(t.insert(s("dkei38sd"), 2, t0), None);
        assert_eq!(t.len(), 2);
        assert!(t.contains("a786hjs2"));
        assert_eq!(t.get("dkei38sd"), Some(&2));
        *t.get_mut("dkei38sd").unwrap() = 3;
        assert_eq!(t.complete("dkei38sd"), Some(3));
        assert_eq!(t.complete("dkei38sd"), None, "a second response is unknown");
        assert_eq!(
            t.complete("zzzzzzzz"),
            None,
            "a response to nothing is unknown"
        );
        assert_eq!(t.len(), 1);
        assert!(!t.contains("dkei38sd"));
        check(&t);
    }

    #[test]
    fn complete_if_keeps_what_it_refuses() {
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        t.insert(s("a786hjs2"), 7, t0);
        assert_eq!(t.complete_if("zzzz", |_| Ok::<(), ()>(())), None, "unknown");
        assert_eq!(
            t.complete_if("a786hjs2", |&d| if d == 8 { Ok(()) } else { Err(d) }),
            Some(Err(7))
        );
        assert!(t.contains("a786hjs2"), "refused: still outstanding");
        assert_eq!(
            t.deadline("a786hjs2"),
            Some(t0 + secs(30)),
            "and its timer runs"
        );
        check(&t);
        assert_eq!(t.complete_if("a786hjs2", |_| Ok::<(), ()>(())), Some(Ok(7)));
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
        check(&t);
    }

    #[test]
    fn settle_if_drops_what_it_ends_and_keeps_what_it_refuses() {
        let t0 = Instant::now();
        let data = std::rc::Rc::new(());
        let mut t = Transactions::new(secs(30));
        t.insert(s("a786hjs2"), data.clone(), t0);
        t.insert_unsent(s("b786hjs2"), data.clone());
        assert_eq!(t.settle_if(b"zzzz", |_| Ok::<(), ()>(())), None, "unknown");
        assert_eq!(t.settle_if(b"a786hjs2", |_| Err(1)), Some(Err(1)));
        assert!(t.contains("a786hjs2"), "refused: still outstanding");
        assert_eq!(t.deadline("a786hjs2"), Some(t0 + secs(30)));
        assert_eq!(std::rc::Rc::strong_count(&data), 3);
        check(&t);
        assert_eq!(t.settle_if(b"a786hjs2", |_| Ok::<(), ()>(())), Some(Ok(())));
        assert_eq!(std::rc::Rc::strong_count(&data), 2, "dropped");
        assert_eq!(t.next_deadline(), None, "its timer is gone");
        check(&t);
        assert_eq!(t.settle_if(b"b786hjs2", |_| Ok::<(), ()>(())), Some(Ok(())));
        assert_eq!(std::rc::Rc::strong_count(&data), 1);
        assert!(t.is_empty());
        check(&t);
    }

    #[test]
    fn a_freed_slot_is_reused_first() {
        // The data of the next transaction go where the last answered one's were (still in
        // cache), not into a new slot; an empty table starts again at slot 0.
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        for k in ["aaaa", "bbbb", "cccc"] {
            t.insert(s(k), k.to_owned(), t0);
        }
        let slot = |t: &Transactions<String>, k: &str| t.find(k).expect("outstanding");
        let b = slot(&t, "bbbb");
        assert_eq!(t.complete("bbbb").as_deref(), Some("bbbb"));
        t.insert(s("dddd"), "dddd".to_owned(), t0);
        assert_eq!(slot(&t, "dddd"), b);
        assert_eq!(t.slots.len(), 3);
        check(&t);
        for k in ["aaaa", "cccc", "dddd"] {
            assert_eq!(t.complete(k).as_deref(), Some(k));
        }
        assert!(t.slots.is_empty() && t.free.is_empty());
        t.insert(s("eeee"), "eeee".to_owned(), t0);
        assert_eq!(slot(&t, "eeee"), 0);
        assert_eq!(t.get("eeee").map(String::as_str), Some("eeee"));
        check(&t);
    }

    #[test]
    fn insert_replaces_existing() {
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        t.insert(s("abcd"), 1, t0);
        assert_eq!(t.insert(s("abcd"), 2, t0 + secs(10)), Some(1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.deadline("abcd"), Some(t0 + secs(40)));
        assert_eq!(
            t.poll_expired(t0 + secs(30)),
            None,
            "the first timer is gone"
        );
        assert_eq!(t.poll_expired(t0 + secs(40)), Some((s("abcd"), 2)));
        check(&t);
    }

    #[test]
    fn expiry_in_deadline_order() {
        // 4975-056 / 4976-030: each transaction expires timeout after its last octet was sent.
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        t.insert(s("cccc"), 'c', t0 + secs(2));
        t.insert(s("aaaa"), 'a', t0);
        t.insert(s("bbbb"), 'b', t0 + secs(1));
        t.insert(s("dddd"), 'd', t0 + secs(2));
        assert_eq!(t.next_deadline(), Some(t0 + secs(30)));
        assert_eq!(t.poll_expired(t0 + secs(29)), None, "nothing before 30 s");
        assert_eq!(
            t.poll_expired(t0 + secs(30)),
            Some((s("aaaa"), 'a')),
            "expires at the deadline"
        );
        assert_eq!(t.poll_expired(t0 + secs(30)), None);
        assert_eq!(t.next_deadline(), Some(t0 + secs(31)));
        // Far in the future: everything left, in order, ties in insertion order.
        let later = t0 + secs(100);
        let got: Vec<_> = std::iter::from_fn(|| t.poll_expired(later))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(got, ['b', 'c', 'd']);
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
        // A response after the timeout is unknown.
        assert_eq!(t.complete("aaaa"), None);
        check(&t);
    }

    #[test]
    fn touch_restarts_the_timer() {
        // 4975-056: the timer runs from the LAST octet sent.
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        t.insert(s("aaaa"), (), t0);
        t.insert(s("bbbb"), (), t0 + secs(5));
        assert!(t.touch("aaaa", t0 + secs(20)));
        assert_eq!(t.deadline("aaaa"), Some(t0 + secs(50)));
        assert_eq!(
            t.next_deadline(),
            Some(t0 + secs(35)),
            "the stale deadline is not reported"
        );
        assert_eq!(
            t.poll_expired(t0 + secs(34)),
            None,
            "the old 30 s deadline no longer fires"
        );
        assert_eq!(t.poll_expired(t0 + secs(35)).map(|x| x.0), Some(s("bbbb")));
        assert_eq!(t.poll_expired(t0 + secs(49)), None);
        assert!(t.sent("aaaa", t0 + secs(40)));
        assert_eq!(t.poll_expired(t0 + secs(69)), None);
        assert_eq!(t.poll_expired(t0 + secs(70)).map(|x| x.0), Some(s("aaaa")));
        assert!(!t.touch("aaaa", t0), "unknown tid");
        check(&t);
    }

    #[test]
    fn unsent_requests_do_not_time_out() {
        // 4975-056: while the request is still being written, no timer runs.
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        t.insert_unsent(s("bigchunk"), 7);
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.poll_expired(t0 + secs(3600)), None);
        assert!(t.contains("bigchunk"));
        assert!(t.sent("bigchunk", t0 + secs(3600)));
        assert_eq!(t.next_deadline(), Some(t0 + secs(3630)));
        assert_eq!(t.poll_expired(t0 + secs(3630)), Some((s("bigchunk"), 7)));
        // Replacing a timed entry by an unsent one stops its timer.
        t.insert(s("abcd"), 1, t0);
        assert_eq!(t.insert_unsent(s("abcd"), 2), Some(1));
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.poll_expired(t0 + secs(100)), None);
        check(&t);
    }

    #[test]
    fn huge_timeout_never_panics() {
        let t0 = Instant::now();
        let mut t = Transactions::new(Duration::MAX);
        t.insert(s("abcd"), (), t0);
        assert!(t.touch("abcd", t0));
        assert_eq!(
            t.next_deadline(),
            None,
            "a deadline beyond Instant's range never fires"
        );
        assert_eq!(t.complete("abcd"), Some(()));
        check(&t);
    }

    #[test]
    fn complete_then_deadline_passes_yields_nothing() {
        // Lazy deletion: the completed transaction's queue item must not fire.
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        t.insert(s("aaaa"), 1, t0);
        t.insert(s("bbbb"), 2, t0 + secs(1));
        assert_eq!(t.complete("aaaa"), Some(1));
        assert_eq!(t.next_deadline(), Some(t0 + secs(31)));
        assert_eq!(t.poll_expired(t0 + secs(30)), None);
        assert_eq!(t.complete("bbbb"), Some(2));
        assert_eq!(t.poll_expired(t0 + secs(1000)), None);
        assert_eq!(t.next_deadline(), None);
        assert!(t.queue.is_empty(), "stale items were dropped");
        // Re-inserting a completed tid starts a new, independent timer.
        t.insert(s("aaaa"), 3, t0 + secs(100));
        assert_eq!(t.poll_expired(t0 + secs(129)), None);
        assert_eq!(t.poll_expired(t0 + secs(130)), Some((s("aaaa"), 3)));
        check(&t);
    }

    #[test]
    fn new_tids_avoid_outstanding_ones() {
        // 4975-004: no collision with an outstanding transaction, and at least 64 random bits.
        let t0 = Instant::now();
        let mut ids = IdGenerator::new();
        let mut t = Transactions::new(secs(30));
        for i in 0..2000 {
            let tid = t.new_tid(&mut ids);
            assert!(is_ident(tid.as_bytes()));
            assert!(
                tid.len() * 595 / 100 >= 64,
                "16 alphanumerics carry ~95 bits"
            );
            assert!(!t.contains(&tid));
            assert_eq!(t.insert(tid, i, t0), None);
        }
        assert_eq!(t.len(), 2000);
        check(&t);
    }

    #[test]
    fn drain_empties_everything() {
        let t0 = Instant::now();
        let mut t = Transactions::new(secs(30));
        t.insert(s("aaaa"), 1, t0);
        t.insert_unsent(s("bbbb"), 2);
        let mut got: Vec<_> = t.drain().map(|(_, v)| v).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.poll_expired(t0 + secs(100)), None);
        check(&t);
    }

    #[test]
    fn many_entries_and_bounded_queue() {
        // 10 000 transactions, most answered, many restarted: the queue stays proportional to the
        // live entries and the survivors expire in deadline order.
        let t0 = Instant::now();
        let mut ids = IdGenerator::new();
        let mut t = Transactions::new(secs(30));
        let mut tids = Vec::new();
        for i in 0..10_000u64 {
            let tid = t.new_tid(&mut ids);
            t.insert(tid, i, t0 + Duration::from_millis(i));
            tids.push(tid);
        }
        for round in 0..5u64 {
            for (i, tid) in tids.iter().enumerate().skip(round as usize).step_by(7) {
                t.touch(tid, t0 + secs(10 + round) + Duration::from_millis(i as u64));
            }
        }
        for (i, tid) in tids.iter().enumerate() {
            if i % 10 != 0 {
                assert_eq!(t.complete(tid), Some(i as u64));
            }
        }
        assert_eq!(t.len(), 1000);
        check(&t);
        let mut last = None;
        let mut n = 0;
        while let Some((tid, v)) = t.poll_expired(t0 + secs(1000)) {
            assert_eq!(tids[v as usize], tid);
            assert_eq!(v % 10, 0, "only unanswered transactions expire");
            // Untouched ones expire 30 s after insertion, touched ones 30 s after the touch:
            // either way the order of (deadline) is non-decreasing.
            let touched = (0..5u64).filter(|r| v >= *r && (v - r) % 7 == 0).max();
            let deadline = match touched {
                Some(r) => t0 + secs(40 + r) + Duration::from_millis(v),
                None => t0 + secs(30) + Duration::from_millis(v),
            };
            if let Some(prev) = last {
                assert!(deadline >= prev, "expiry out of order");
            }
            last = Some(deadline);
            n += 1;
        }
        assert_eq!(n, 1000);
        assert!(t.is_empty());
        check(&t);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u64),
        Unsent(u8),
        Touch(u8, u64),
        /// `sent_with`, giving the transaction new data.
        SentWith(u8, u64),
        Complete(u8),
        /// `complete_if` accepting only odd data.
        CompleteOdd(u8),
        /// `settle_if` accepting only odd data.
        SettleOdd(u8),
        Poll(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..24, 0u64..200).prop_map(|(k, d)| Op::Insert(k, d)),
            (0u8..24).prop_map(Op::Unsent),
            (0u8..24, 0u64..200).prop_map(|(k, d)| Op::Touch(k, d)),
            (0u8..24, 0u64..200).prop_map(|(k, d)| Op::SentWith(k, d)),
            (0u8..24).prop_map(Op::Complete),
            (0u8..24).prop_map(Op::CompleteOdd),
            (0u8..24).prop_map(Op::SettleOdd),
            (0u64..300).prop_map(Op::Poll),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The table behaves like a naive model that scans every entry.
        #[test]
        fn matches_a_naive_model(ops in proptest::collection::vec(op(), 1..300)) {
            let t0 = Instant::now();
            let timeout = secs(30);
            let mut t = Transactions::new(timeout);
            // tid -> (data, deadline, seq)
            let mut model: HashMap<String, (u32, Option<Instant>, u64)> = HashMap::new();
            let mut seq = 0u64;
            let mut clock = 0u64;
            let mut data = 0u32;
            for op in ops {
                seq += 1;
                data += 1;
                match op {
                    Op::Insert(k, d) => {
                        let key = format!("tid{k:02}");
                        let now = t0 + secs(clock + d);
                        let old = model.insert(key.clone(), (data, Some(now + timeout), seq)).map(|x| x.0);
                        prop_assert_eq!(t.insert(s(&key), data, now), old);
                    }
                    Op::Unsent(k) => {
                        let key = format!("tid{k:02}");
                        let old = model.insert(key.clone(), (data, None, seq)).map(|x| x.0);
                        prop_assert_eq!(t.insert_unsent(s(&key), data), old);
                    }
                    Op::Touch(k, d) => {
                        let key = format!("tid{k:02}");
                        let now = t0 + secs(clock + d);
                        let known = match model.get_mut(&key) {
                            Some(e) => { e.1 = Some(now + timeout); e.2 = seq; true }
                            None => false,
                        };
                        prop_assert_eq!(t.touch(&key, now), known);
                    }
                    Op::SentWith(k, d) => {
                        let key = format!("tid{k:02}");
                        let now = t0 + secs(clock + d);
                        let known = match model.get_mut(&key) {
                            Some(e) => { *e = (data, Some(now + timeout), seq); true }
                            None => false,
                        };
                        prop_assert_eq!(t.sent_with(&key, now, |v| *v = data), known);
                    }
                    Op::Complete(k) => {
                        let key = format!("tid{k:02}");
                        prop_assert_eq!(t.complete(&key), model.remove(&key).map(|x| x.0));
                    }
                    Op::CompleteOdd(k) => {
                        let key = format!("tid{k:02}");
                        let want = match model.get(&key) {
                            None => None,
                            Some(&(v, _, _)) if v % 2 == 1 => {
                                model.remove(&key);
                                Some(Ok(v))
                            }
                            Some(&(v, _, _)) => Some(Err(v)),
                        };
                        let got = t.complete_if(&key, |&v| if v % 2 == 1 { Ok(()) } else { Err(v) });
                        prop_assert_eq!(got, want);
                    }
                    Op::SettleOdd(k) => {
                        let key = format!("tid{k:02}");
                        let want = match model.get(&key) {
                            None => None,
                            Some(&(v, _, _)) if v % 2 == 1 => {
                                model.remove(&key);
                                Some(Ok(()))
                            }
                            Some(&(v, _, _)) => Some(Err(v)),
                        };
                        let got = t.settle_if(key.as_bytes(), |&v| if v % 2 == 1 { Ok(()) } else { Err(v) });
                        prop_assert_eq!(got, want);
                    }
                    Op::Poll(adv) => {
                        clock += adv;
                        let now = t0 + secs(clock);
                        loop {
                            let want = model
                                .iter()
                                .filter_map(|(k, (_, d, q))| d.filter(|d| *d <= now).map(|d| (d, *q, k.clone())))
                                .min();
                            let got = t.poll_expired(now);
                            match want {
                                Some((_, _, k)) => {
                                    let (v, _, _) = model.remove(&k).unwrap();
                                    prop_assert_eq!(got, Some((s(&k), v)));
                                }
                                None => {
                                    prop_assert_eq!(got, None);
                                    break;
                                }
                            }
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.next_deadline(), model.values().filter_map(|e| e.1).min());
                for (k, (v, _, _)) in &model {
                    prop_assert_eq!(t.get(k), Some(v), "data of {}", k);
                }
                check(&t);
            }
            let mut left: Vec<_> = t.drain().map(|(k, v)| (k.to_string(), v)).collect();
            left.sort();
            let mut want: Vec<_> = model.iter().map(|(k, (v, _, _))| (k.clone(), *v)).collect();
            want.sort();
            prop_assert_eq!(left, want);
            prop_assert!(t.is_empty());
            check(&t);
        }
    }
}
