//! The deadline structure behind [`Timers`](super::Timers): a slab of timer
//! slots, a 4-ary min-heap of the near deadlines, and a timing wheel of
//! coarse buckets for far one-shot deadlines ([`Wheel`]), which enter the
//! heap a tick (about a millisecond) before their bucket starts.
//!
//! - A slot is taken when a timer is first polled and given back when it is
//!   dropped; freed slots are reused, so in steady state nothing allocates.
//! - The heap orders the armed slots by deadline (nanoseconds on
//!   `CLOCK_MONOTONIC`); each slot knows its heap position, so a dropped or
//!   reset timer leaves the heap in O(log n).
//! - Firing pops every one-shot entry due and hands out its waker into the
//!   driver's reusable list, so that wakers run outside the lock; a
//!   periodic entry moves on along its period's grid and stays armed, so
//!   that an interval's task never takes the lock to re-arm — as long as
//!   its owner polls it ([`Periodic`]): one whose owner has stopped
//!   polling it is parked (taken out of the heap, not woken again) within
//!   a few periods, until it polls.
//!
//! Why a heap and a wheel: deadlines here have nanosecond resolution and
//! periods from microseconds to hours. A hierarchical wheel at microsecond
//! granularity needs many levels and cascades; the heap needs no tuning,
//! costs O(log₄ n) per insert and removal (7 levels at 10 000 timers), and
//! its root is the next instant to arm the timerfd at. But most far
//! deadlines are timeouts that are cancelled long before they are due:
//! the coarse wheel takes and drops them in O(1), and only the ones that
//! come near pay for the heap. Periodic timers, which always fire, stay in
//! the heap.

#[cfg(all(test, iofd_loom))]
use loom::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
#[cfg(not(all(test, iofd_loom)))]
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::Waker;

use super::accuracy::Accuracy;
use super::free_list::FreeList;
use super::wheel::{self, Linked, NIL, Wheel};

/// No slot, no heap position.
const NONE: u32 = u32::MAX;

/// The heap position of a free slot (one that no timer holds).
const FREED: u32 = u32::MAX - 1;

/// A free slot already met while purging the free stack.
const SEEN: u32 = u32::MAX - 2;

/// Below this many entries, the slab, the heap and the firing list keep
/// their capacity (2 KiB of slots): shrinking them saves nothing.
pub(crate) const KEEP: usize = 64;

/// Children per heap node.
const ARITY: usize = 4;

/// What a periodic timer shares with its owner, lock-free: its period, and
/// whether the owner has polled it since the driver last checked.
///
/// The owner marks each poll ([`polled`](Periodic::polled)). The driver
/// wakes the owner at every period, and every [`CHECK_EVERY`] periods it
/// checks the mark: if the owner has not polled since the previous check,
/// it parks the timer (out of the heap, its waker kept), so a task that
/// awaits something else is woken a few times, not every period forever.
/// A parked timer's owner learns it at its next poll and re-arms under the
/// lock. Checking only every few periods keeps the shared state out of the
/// driver's firing loop most of the time (though checking every 16 periods
/// or never measured no faster than every 4: see the README's Performance
/// section for what this costs).
pub(crate) struct Periodic {
    period: u64,
    state: AtomicU8,
}

/// The owner has polled since the last check (or has just armed it).
const POLLED: u8 = 0;
/// The driver checked, and the owner has not polled since.
const CHECKED: u8 = 1;
/// Not polled between two checks: out of the heap until the owner arms it
/// again.
const PARKED: u8 = 2;

/// Every how many periods the driver checks that a periodic timer's owner
/// still polls it: an interval no longer polled is woken at most about
/// twice this many times more, then parked.
pub(crate) const CHECK_EVERY: u32 = 4;

impl Periodic {
    /// The shared state of a timer that fires every `period` nanoseconds
    /// (at least 1).
    pub(crate) fn new(period: u64) -> Arc<Periodic> {
        Arc::new(Periodic {
            period: period.max(1),
            state: AtomicU8::new(POLLED),
        })
    }

    /// The owner polls and waits on: `true` if the timer is still armed
    /// (it will be woken at its next period), `false` if the driver parked
    /// it and it must be scheduled again.
    pub(crate) fn polled(&self) -> bool {
        // Written only when the driver has checked since: between checks
        // the line stays shared, and the driver reads `period` from it
        // without a miss.
        if self.state.load(Ordering::Acquire) == POLLED {
            return true;
        }
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != PARKED).then_some(POLLED)
            })
            .is_ok()
    }

    /// Armed again, under the driver's lock: the owner is waiting, as
    /// after a poll.
    pub(super) fn rearmed(&self) {
        self.state.store(POLLED, Ordering::Release);
    }

    /// Whether the driver has parked it (for the loom model).
    #[cfg(all(test, iofd_loom))]
    pub(super) fn is_parked(&self) -> bool {
        self.state.load(Ordering::Acquire) == PARKED
    }

    /// The driver checks it: `true` to wake the owner and keep the timer
    /// armed, `false` to park it (the owner has not polled since the last
    /// check). A concurrent [`polled`](Periodic::polled) either comes first
    /// (and the owner is woken) or finds it parked (and re-arms).
    pub(super) fn check(&self) -> bool {
        let previous = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| match state {
                POLLED => Some(CHECKED),
                _ => Some(PARKED),
            });
        previous == Ok(POLLED)
    }
}

/// One timer's slot (48 bytes; in the heap, its deadline and accuracy
/// live in its heap entry; in the wheel, here).
struct Slot {
    /// For a periodic timer, its period and poll state: when it fires, the
    /// driver moves it to the first multiple of the period past the firing
    /// instant, and it stays armed (unless parked). `None` for a one-shot
    /// timer, which leaves the heap when it fires.
    periodic: Option<Arc<Periodic>>,
    /// The task to wake when it fires.
    waker: Option<Waker>,
    /// In the wheel: its deadline.
    at: u64,
    /// Its index in `heap` (below [`wheel::PREV`]); in the wheel, its
    /// predecessor or bucket ([`wheel::PREV`], [`wheel::HEAD`]); `NONE`
    /// when not armed, `FREED` when free.
    pos: u32,
    /// In the wheel: the next slot of its bucket.
    next: u32,
    /// In the wheel: its accuracy ([`Accuracy::code`]).
    accuracy: u16,
}

impl Linked for Slot {
    fn set_at(&mut self, at: u64) {
        self.at = at;
    }
    fn next(&self) -> u32 {
        self.next
    }
    fn set_next(&mut self, next: u32) {
        self.next = next;
    }
    fn pos(&self) -> u32 {
        self.pos
    }
    fn set_pos(&mut self, pos: u32) {
        self.pos = pos;
    }
}

/// A heap entry: the deadline, kept here too so that sifting compares
/// without touching the slots (16 bytes).
#[derive(Clone, Copy)]
struct Entry {
    at: u64,
    slot: u32,
    /// For a periodic timer, the periods fired since the driver last
    /// checked its owner ([`CHECK_EVERY`]).
    unchecked: u16,
    /// How late it may fire ([`Accuracy::code`]).
    accuracy: u16,
}

impl Entry {
    /// The end of its window: the latest it may fire.
    fn latest(&self) -> u64 {
        self.at
            .saturating_add(Accuracy::from_code(self.accuracy).nanos())
    }
}

/// The slab of slots and the heap of armed deadlines.
///
/// Neither keeps the capacity of a past peak. The heap shrinks to twice
/// its length when it falls below a quarter of its capacity (the classic
/// hysteresis: a steady load never reallocates, and each shrink is paid
/// for by the removals before it). The slab drops its free tail when its
/// last slot is free and it is more than twice (plus [`KEEP`]) what is
/// in use (so that a timeout armed and dropped over and over reuses its
/// slot), and then shrinks by the same rule; a live timer's slot cannot
/// move, so it keeps everything up to its highest slot in use. With no
/// slot in use, all of it goes. The wheel is a fixed 1.6 KiB.
pub(crate) struct Deadlines {
    slots: Vec<Slot>,
    /// Free slots, lowest first (so that after a peak the live slots move
    /// down and the tail can go). It may also hold stale entries (slots
    /// since dropped with the slab's tail, or taken again after that): an
    /// entry counts only if its slot is `FREED`, and the list is purged
    /// when stale entries outnumber the free slots.
    free: FreeList,
    heap: Vec<Entry>,
    /// The far one-shot deadlines.
    wheel: Wheel,
    /// Slots held by timers.
    in_use: usize,
}

/// Shrinks `vec` to twice its length (at least [`KEEP`]) once it uses
/// less than a quarter of its capacity.
pub(crate) fn shrink_when_sparse<T>(vec: &mut Vec<T>) {
    let capacity = vec.capacity();
    if capacity > KEEP && vec.len() < capacity / 4 {
        vec.shrink_to((2 * vec.len()).max(KEEP));
    }
}

impl Deadlines {
    pub(crate) const fn new() -> Deadlines {
        Deadlines {
            slots: Vec::new(),
            free: FreeList::new(),
            heap: Vec::new(),
            wheel: Wheel::new(),
            in_use: 0,
        }
    }

    /// Empty deadlines whose wheel starts at `now` (nanoseconds on the
    /// clock of the deadlines).
    pub(crate) fn starting_at(now: u64) -> Deadlines {
        let mut deadlines = Deadlines::new();
        let _ = deadlines.wheel.take_due(now);
        deadlines
    }

    /// The capacities of the slab and the heap (for tests of shrinking).
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> (usize, usize) {
        (self.slots.capacity(), self.heap.capacity())
    }

    /// The number of slots in use, counted from the slab.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        let freed = self.slots.iter().filter(|slot| slot.pos == FREED).count();
        assert_eq!(self.slots.len() - freed, self.in_use);
        self.in_use
    }

    /// Checks that every free slot is on the free stack.
    #[cfg(test)]
    fn check_free_stack(&self) {
        let mut listed = vec![false; self.slots.len()];
        for i in self.free.iter() {
            if let Some(slot) = self.slots.get(i as usize)
                && slot.pos == FREED
            {
                listed[i as usize] = true;
            }
        }
        for (i, slot) in self.slots.iter().enumerate() {
            assert_eq!(slot.pos == FREED, listed[i], "slot {i}");
        }
    }

    /// The number of armed timers.
    pub(crate) fn armed(&self) -> usize {
        self.heap.len() + self.wheel.len()
    }

    /// How many armed timers are in the heap (the others are in the
    /// wheel).
    #[cfg(test)]
    pub(crate) fn in_heap(&self) -> usize {
        self.heap.len()
    }

    /// Takes a slot (reusing a freed one when there is one), unarmed.
    ///
    /// Returns `None` only when 2³⁰ slots are in use.
    pub(crate) fn alloc(&mut self) -> Option<u32> {
        while let Some(index) = self.free.pop() {
            if let Some(slot) = self.slots.get_mut(index as usize)
                && slot.pos == FREED
            {
                slot.pos = NONE;
                self.in_use += 1;
                return Some(index);
            }
            // Stale: dropped with the tail, or taken again since.
        }
        let index = u32::try_from(self.slots.len())
            .ok()
            .filter(|&i| i < wheel::MAX_SLOTS)?;
        self.slots.push(Slot {
            periodic: None,
            waker: None,
            at: 0,
            pos: NONE,
            next: NIL,
            accuracy: 0,
        });
        self.in_use += 1;
        Some(index)
    }

    /// Gives `slot` back: unarms it, and returns its waker (for the caller
    /// to drop once the lock is released).
    pub(crate) fn free(&mut self, slot: u32) -> Option<Waker> {
        self.unarm(slot);
        let entry = &mut self.slots[slot as usize];
        let waker = entry.waker.take();
        entry.periodic = None;
        entry.pos = FREED;
        self.free.push(slot);
        self.in_use -= 1;
        if self.in_use == 0 {
            // Every slot is free (none holds a waker): all of it goes.
            if self.slots.capacity() > KEEP {
                self.slots = Vec::with_capacity(KEEP);
            } else {
                self.slots.clear();
            }
            self.free.clear();
            self.free.shrink_when_sparse();
            return waker;
        }
        if self.slots.len() > 2 * self.in_use + KEEP
            && self.slots.last().is_some_and(|last| last.pos == FREED)
        {
            // The slab is sparse and its last slot free: the free tail
            // goes (each slot once), whatever order the timers were
            // dropped in. A slab at most twice what is in use (plus a
            // little) keeps its free tail for reuse, so that a timer
            // armed and dropped over and over reuses its slot.
            while self.slots.last().is_some_and(|last| last.pos == FREED) {
                self.slots.pop();
            }
            shrink_when_sparse(&mut self.slots);
        }
        let free_slots = self.slots.len() - self.in_use;
        if self.free.len() > 2 * free_slots + KEEP {
            self.purge_free();
        }
        waker
    }

    /// Drops the free list's stale and repeated entries (it then holds
    /// each free slot once): more than half of it goes, so the pass is
    /// paid for by the frees that made them.
    #[cold]
    fn purge_free(&mut self) {
        let slots = &mut self.slots;
        self.free
            .retain(|index| match slots.get_mut(index as usize) {
                Some(slot) if slot.pos == FREED => {
                    slot.pos = SEEN;
                    true
                }
                _ => false,
            });
        for index in self.free.iter() {
            self.slots[index as usize].pos = FREED;
        }
        self.free.shrink_when_sparse();
    }

    /// [`schedule_with`](Deadlines::schedule_with) with no accuracy.
    #[cfg(test)]
    pub(crate) fn schedule(
        &mut self,
        slot: u32,
        at: u64,
        periodic: Option<&Arc<Periodic>>,
        waker: Option<&Waker>,
    ) -> u64 {
        if let Some(waker) = waker {
            drop(self.place_waker(slot, waker.clone()));
        }
        self.schedule_with(slot, at, Accuracy::ZERO, periodic)
    }

    /// Arms `slot` to fire at `at` (replacing any earlier deadline), at
    /// most `accuracy` later, and then on the grid of `periodic` if there
    /// is one, waking the waker it has ([`place_waker`]).
    ///
    /// [`place_waker`]: Deadlines::place_waker
    ///
    /// Returns by when the driver must next run for it: the end of its
    /// window in the heap, or, for a deadline that went to the wheel, when
    /// its bucket must be processed.
    pub(crate) fn schedule_with(
        &mut self,
        slot: u32,
        at: u64,
        accuracy: Accuracy,
        periodic: Option<&Arc<Periodic>>,
    ) -> u64 {
        let entry = &mut self.slots[slot as usize];
        match periodic {
            Some(periodic) => {
                periodic.rearmed();
                if !entry
                    .periodic
                    .as_ref()
                    .is_some_and(|p| Arc::ptr_eq(p, periodic))
                {
                    entry.periodic = Some(Arc::clone(periodic));
                }
            }
            None => entry.periodic = None,
        }
        let pos = entry.pos;
        // A far one-shot deadline goes to the wheel: O(1) in and out.
        if periodic.is_none()
            && let Some(bucket) = self.wheel.bucket_for(at)
        {
            self.unarm(slot);
            self.slots[slot as usize].accuracy = accuracy.code();
            return self.wheel.push(&mut self.slots, slot, at, bucket);
        }
        if wheel::in_wheel(pos) {
            self.wheel.unlink(&mut self.slots, slot);
            self.slots[slot as usize].pos = NONE;
        }
        let pos = self.slots[slot as usize].pos;
        if pos == NONE {
            self.push_heap(slot, at, accuracy);
        } else {
            let pos = pos as usize;
            let old = self.heap[pos].at;
            self.heap[pos].at = at;
            self.heap[pos].accuracy = accuracy.code();
            if at < old {
                self.sift_up(pos);
            } else {
                self.sift_down(pos);
            }
        }
        at.saturating_add(accuracy.nanos())
    }

    /// Arms `slot`, just taken with [`alloc`](Deadlines::alloc), at `at`
    /// with `accuracy`, waking `waker` (a staged timeout the driver moves
    /// here: its waker moves with it, and none is dropped under the lock).
    /// A deadline up to `near` goes straight into the heap: the wheel would
    /// move it there soon, in a wake-up of its own.
    pub(crate) fn arm_moved(
        &mut self,
        slot: u32,
        at: u64,
        accuracy: Accuracy,
        waker: Waker,
        near: u64,
    ) {
        // A slot just taken holds no waker (`free` took it), and is not
        // armed.
        self.slots[slot as usize].waker = Some(waker);
        if at <= near {
            self.push_heap(slot, at, accuracy);
        } else {
            self.schedule_with(slot, at, accuracy, None);
        }
    }

    /// Makes `slot` wake `waker`, unless the waker it has wakes the same
    /// task. Returns the waker left over (the one replaced, or `waker`
    /// itself), for the caller to drop once the lock is released. The
    /// caller clones `waker` before it takes the lock: no waker code (a
    /// clone, a drop) runs under it, so that a waker that uses these
    /// timers cannot deadlock on it.
    pub(crate) fn place_waker(&mut self, slot: u32, waker: Waker) -> Option<Waker> {
        let place = &mut self.slots[slot as usize].waker;
        match place {
            Some(current) if current.will_wake(&waker) => Some(waker),
            _ => place.replace(waker),
        }
    }

    /// Whether armed `slot` wakes the task of `waker`; `None` if it is
    /// not armed.
    pub(crate) fn waker_matches(&self, slot: u32, waker: &Waker) -> Option<bool> {
        let entry = &self.slots[slot as usize];
        if entry.pos == NONE {
            return None;
        }
        Some(entry.waker.as_ref().is_some_and(|w| w.will_wake(waker)))
    }

    /// Whether `slot` is armed.
    #[cfg(test)]
    fn is_armed(&self, slot: u32) -> bool {
        self.slots[slot as usize].pos != NONE
    }

    /// The earliest deadline in the heap (the wheel's are later: see
    /// [`wheel_due`](Deadlines::wheel_due)).
    #[cfg(test)]
    pub(crate) fn earliest(&self) -> Option<u64> {
        self.heap.first().map(|entry| entry.at)
    }

    /// When [`pop_due`](Deadlines::pop_due) must next run for the wheel
    /// (to move deadlines that come near into the heap), if it holds any.
    pub(crate) fn wheel_due(&self) -> Option<u64> {
        self.wheel.due()
    }

    /// Moves every wheel deadline within a tick of `now` into the heap (or
    /// a level down the wheel).
    pub(crate) fn advance(&mut self, now: u64) {
        while let Some(mut cur) = self.wheel.take_due(now) {
            while cur != NIL {
                let entry = &self.slots[cur as usize];
                let (next, at, accuracy) = (entry.next, entry.at, entry.accuracy);
                self.wheel.taken_one();
                match self.wheel.bucket_for(at) {
                    Some(bucket) => {
                        self.wheel.push(&mut self.slots, cur, at, bucket);
                    }
                    None => self.push_heap(cur, at, Accuracy::from_code(accuracy)),
                }
                cur = next;
            }
        }
    }

    /// Puts unarmed `slot` into the heap at `at`.
    fn push_heap(&mut self, slot: u32, at: u64, accuracy: Accuracy) {
        let pos = self.heap.len();
        self.heap.push(Entry {
            at,
            slot,
            unchecked: 0,
            accuracy: accuracy.code(),
        });
        self.slots[slot as usize].pos = pos as u32;
        self.sift_up(pos);
    }

    /// When the timerfd should fire, and the latest it may: the latest
    /// heap deadline not past the end of the earliest-ending window (so
    /// that every timer due by then fires in that one wake-up, and none
    /// fires later than its accuracy allows), or the wheel's due time if
    /// that is not later than that end (the wheel must be processed by
    /// then, and the due timers fire with it). `None` when nothing is
    /// armed.
    pub(crate) fn wake_target(&self) -> Option<(u64, u64)> {
        let wheel = self.wheel.due();
        let Some(root) = self.heap.first() else {
            return wheel.map(|due| (due, due));
        };
        let first_end = root.latest();
        let (mut end, mut latest) = (first_end, root.at);
        self.visit_windows(0, &mut end, &mut latest);
        let wheel = wheel.unwrap_or(u64::MAX);
        if wheel <= end {
            // The wheel needs a wake-up inside every window anyway: the
            // heap's due timers ride along with it.
            return Some((wheel, wheel));
        }
        if end < first_end {
            // A window ended sooner than the root's: some deadlines
            // visited may lie past it.
            latest = self.latest_within(end).unwrap_or(root.at);
        }
        Some((latest, end))
    }

    /// Lowers `end` to the earliest window end among the entries at
    /// `pos` and below that start before it (no other can end sooner),
    /// and raises `latest` to the latest deadline visited. (With one
    /// accuracy for all, `end` stays the root's, and `latest` is the
    /// answer: one pass.)
    fn visit_windows(&self, pos: usize, end: &mut u64, latest: &mut u64) {
        let Some(entry) = self.heap.get(pos) else {
            return;
        };
        if entry.at > *end {
            return;
        }
        *end = (*end).min(entry.latest());
        *latest = (*latest).max(entry.at);
        for child in ARITY * pos + 1..=ARITY * pos + ARITY {
            self.visit_windows(child, end, latest);
        }
    }

    /// The latest armed deadline that is at most `bound` (`None` if every
    /// deadline is later). Visits only the entries at most `bound` (a
    /// node's children are never earlier than it), which are the ones that
    /// fire together anyway.
    pub(crate) fn latest_within(&self, bound: u64) -> Option<u64> {
        let mut latest = None;
        self.visit_within(0, bound, &mut latest);
        latest
    }

    fn visit_within(&self, pos: usize, bound: u64, latest: &mut Option<u64>) {
        let Some(entry) = self.heap.get(pos) else {
            return;
        };
        if entry.at > bound {
            return;
        }
        if latest.is_none_or(|l| entry.at > l) {
            *latest = Some(entry.at);
        }
        for child in ARITY * pos + 1..=ARITY * pos + ARITY {
            self.visit_within(child, bound, latest);
        }
    }

    /// Fires every entry due at `now`: a one-shot timer leaves the heap and
    /// its waker moves to `wakers`; a periodic one moves to the first
    /// multiple of its period past `now`, and a clone of its waker goes to
    /// `wakers` — unless, at a check ([`CHECK_EVERY`]), its owner has not
    /// polled since the previous check: then it is parked (it leaves the
    /// heap, keeps its waker, and is not woken).
    /// The caller wakes them once the lock is released, and reuses the
    /// list, so that it stops growing once it has held the largest batch.
    pub(crate) fn pop_due(&mut self, now: u64, wakers: &mut Vec<Waker>) {
        self.advance(now);
        while let Some(&Entry {
            at,
            slot,
            unchecked,
            ..
        }) = self.heap.first()
        {
            if at > now {
                return;
            }
            let entry = &mut self.slots[slot as usize];
            match entry.periodic.as_deref() {
                None => {
                    if let Some(waker) = entry.waker.take() {
                        wakers.push(waker);
                    }
                    self.remove_at(0);
                }
                Some(periodic) if u32::from(unchecked) + 1 >= CHECK_EVERY && !periodic.check() => {
                    self.remove_at(0)
                }
                Some(periodic) => {
                    // The first multiple of the period past `now`; none at
                    // the end of time, where the timer is parked (its owner,
                    // woken, arms it again if it polls).
                    let period = periodic.period;
                    let next = ((now - at) / period + 1)
                        .checked_mul(period)
                        .and_then(|ahead| at.checked_add(ahead));
                    // The waker stays with the slot for the next period; a
                    // clone is woken outside the lock (a waker may run
                    // anything, even code that takes the lock).
                    if let Some(waker) = &entry.waker {
                        wakers.push(waker.clone());
                    }
                    match next {
                        Some(next) => {
                            self.heap[0].at = next;
                            self.heap[0].unchecked = (unchecked + 1) % CHECK_EVERY as u16;
                            self.sift_down(0);
                        }
                        None => {
                            periodic.state.store(PARKED, Ordering::Release);
                            self.remove_at(0);
                        }
                    }
                }
            }
        }
    }

    /// Takes `slot` out of the heap or the wheel, if it is in one.
    fn unarm(&mut self, slot: u32) {
        let pos = self.slots[slot as usize].pos;
        if wheel::in_wheel(pos) {
            self.wheel.unlink(&mut self.slots, slot);
            self.slots[slot as usize].pos = NONE;
        } else if pos != NONE {
            self.remove_at(pos as usize);
        }
    }

    /// Removes the heap entry at `pos`.
    fn remove_at(&mut self, pos: usize) {
        let removed = self.heap.swap_remove(pos);
        shrink_when_sparse(&mut self.heap);
        self.slots[removed.slot as usize].pos = NONE;
        if pos < self.heap.len() {
            let moved = self.heap[pos].slot;
            self.slots[moved as usize].pos = pos as u32;
            if self.heap[pos].at < removed.at {
                self.sift_up(pos);
            } else {
                self.sift_down(pos);
            }
        }
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / ARITY;
            if self.heap[parent].at <= self.heap[pos].at {
                break;
            }
            self.swap(pos, parent);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let first = ARITY * pos + 1;
            let last = (first + ARITY).min(self.heap.len());
            let Some(child) = (first..last).min_by_key(|&c| self.heap[c].at) else {
                break;
            };
            if self.heap[child].at >= self.heap[pos].at {
                break;
            }
            self.swap(pos, child);
            pos = child;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.slots[self.heap[a].slot as usize].pos = a as u32;
        self.slots[self.heap[b].slot as usize].pos = b as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    impl Deadlines {
        /// `schedule_with`, waking `waker`.
        fn schedule_waking(
            &mut self,
            slot: u32,
            at: u64,
            accuracy: Accuracy,
            waker: &Waker,
        ) -> u64 {
            drop(self.place_waker(slot, waker.clone()));
            self.schedule_with(slot, at, accuracy, None)
        }
    }

    fn waker() -> Waker {
        Waker::noop().clone()
    }

    /// Checks the heap order and that every slot knows its position.
    fn check(d: &Deadlines) {
        for (pos, entry) in d.heap.iter().enumerate() {
            assert_eq!(d.slots[entry.slot as usize].pos as usize, pos);
            if pos > 0 {
                assert!(d.heap[(pos - 1) / ARITY].at <= entry.at);
            }
        }
    }

    /// A long random sequence of schedule/reschedule/free/pop against a
    /// `BTreeMap` model.
    #[test]
    fn matches_a_simple_model() {
        let mut d = Deadlines::new();
        let mut model: BTreeMap<u32, u64> = BTreeMap::new(); // armed slot -> at
        let mut windows: BTreeMap<u32, u64> = BTreeMap::new(); // armed slot -> accuracy
        let mut owned: Vec<u32> = Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let w = waker();
        let mut now = 0u64;
        for round in 0..50_000 {
            match rand(6) {
                0 | 1 => {
                    let slot = d.alloc().unwrap();
                    assert!(!owned.contains(&slot));
                    owned.push(slot);
                    let at = now + rand(1000);
                    // Most with one accuracy, some with their own.
                    let accuracy = Accuracy::from_nanos([50, 50, 50, 0, 7, 400][rand(6) as usize]);
                    d.schedule_waking(slot, at, accuracy, &w);
                    model.insert(slot, at);
                    windows.insert(slot, accuracy.nanos());
                }
                2 if !owned.is_empty() => {
                    let slot = owned[rand(owned.len() as u64) as usize];
                    let at = now + rand(1000);
                    d.schedule(slot, at, None, Some(&w));
                    model.insert(slot, at);
                    windows.insert(slot, 0);
                }
                3 if !owned.is_empty() => {
                    let slot = owned.swap_remove(rand(owned.len() as u64) as usize);
                    d.free(slot);
                    model.remove(&slot);
                }
                4 => {
                    now += rand(300);
                    let bound = now + rand(50);
                    let expected = model.values().filter(|&&at| at <= bound).max().copied();
                    assert_eq!(d.latest_within(bound), expected);
                    let mut wakers = Vec::new();
                    d.pop_due(now, &mut wakers);
                    let due: Vec<u32> = model
                        .iter()
                        .filter(|&(_, &at)| at <= now)
                        .map(|(&slot, _)| slot)
                        .collect();
                    for slot in due {
                        assert!(!d.is_armed(slot));
                        model.remove(&slot);
                    }
                }
                _ => {}
            }
            assert_eq!(d.armed(), model.len());
            // The wake-up: the latest deadline not past the earliest
            // window end (every 8 rounds: valgrind).
            if round % 8 == 0 {
                let end = model.iter().map(|(slot, &at)| at + windows[slot]).min();
                let expected = end.map(|end| {
                    let latest = model.values().filter(|&&at| at <= end).max().copied();
                    (latest.unwrap_or(0), end)
                });
                assert_eq!(d.wake_target(), expected, "round {round}");
            }
            assert_eq!(d.earliest(), model.values().min().copied());
            // The slab-wide checks now and then (valgrind).
            if round % 64 == 0 {
                assert_eq!(d.in_use(), owned.len());
                d.check_free_stack();
            }
            check(&d);
        }
    }

    /// Checks the wheel's links: each wheel slot is reachable from its
    /// bucket, and the wheel asks to be processed at least a tick before
    /// the earliest deadline it holds.
    fn check_wheel(d: &Deadlines) {
        let mut count = 0;
        let due = d.wheel_due();
        for slot in 0..d.slots.len() as u32 {
            let entry = &d.slots[slot as usize];
            if wheel::in_wheel(entry.pos) {
                count += 1;
                let due = due.expect("a wheel slot, so a wheel due time");
                assert!(due + Wheel::TICK <= entry.at, "{due} {}", entry.at);
                if entry.pos < wheel::HEAD {
                    assert_eq!(d.slots[(entry.pos - wheel::PREV) as usize].next, slot);
                }
                if entry.next != NIL {
                    assert_eq!(d.slots[entry.next as usize].pos, wheel::PREV | slot);
                }
            }
        }
        assert_eq!(count, d.wheel.len());
        assert_eq!(due.is_some(), count > 0);
    }

    /// What a timer costs the driver: a 48-byte slot, and in the heap a
    /// 16-byte entry (none in the wheel).
    #[test]
    fn a_slot_is_48_bytes_and_an_entry_16() {
        assert_eq!(std::mem::size_of::<Slot>(), 48);
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }

    /// A far one-shot timer armed and cancelled never touches the heap;
    /// one that comes near enters it before it is due and fires at its
    /// exact deadline, not before.
    #[test]
    fn far_timers_wait_in_the_wheel() {
        let second = 1_000_000_000;
        let start = 3600 * second;
        let mut d = Deadlines::starting_at(start);
        let w = waker();
        let slot = d.alloc().unwrap();
        d.schedule(slot, start + 10 * second, None, Some(&w));
        assert_eq!((d.armed(), d.in_heap()), (1, 0));
        d.free(slot);
        assert_eq!((d.armed(), d.in_heap()), (0, 0));
        assert_eq!(d.heap.capacity(), 0, "the heap was never touched");

        let at = start + 10 * second + 12_345;
        let slot = d.alloc().unwrap();
        d.schedule(slot, at, None, Some(&w));
        let mut wakers = Vec::new();
        let mut now = start;
        // Processed only when the driver is asked to: at its due time.
        while d.in_heap() == 0 {
            let due = d.wheel_due().unwrap();
            assert!(due > now && due + Wheel::TICK <= at, "{due}");
            now = due;
            d.pop_due(now, &mut wakers);
            check_wheel(&d);
        }
        assert!(wakers.is_empty());
        assert_eq!(d.earliest(), Some(at));
        d.pop_due(at - 1, &mut wakers);
        assert!(wakers.is_empty(), "never early");
        d.pop_due(at, &mut wakers);
        assert_eq!((wakers.len(), d.armed()), (1, 0));
    }

    /// Deadlines exactly at a bucket boundary of each level (and a
    /// nanosecond either side), driven as the driver does (woken at the
    /// wheel's due time, else at the deadline): each cascades into the
    /// heap before it is due, fires at its deadline and not a nanosecond
    /// before, after at most two wheel steps per level.
    #[test]
    fn deadlines_at_bucket_boundaries_fire_exactly() {
        let w = waker();
        let start = (1u64 << 40) + 12_345;
        for level in 0..6u32 {
            let width = 1u64 << (6 * level);
            let tick = start / Wheel::TICK + 2 * width;
            let boundary = tick.div_ceil(width) * width * Wheel::TICK;
            for at in [boundary - 1, boundary, boundary + 1] {
                let mut d = Deadlines::starting_at(start);
                let slot = d.alloc().unwrap();
                d.schedule(slot, at, None, Some(&w));
                let mut now = start;
                let mut steps = 0;
                let mut wakers = Vec::new();
                while d.armed() > 0 {
                    let next = d.wheel_due().map_or(at, |due| due.min(at));
                    assert!(
                        next >= now,
                        "level {level}, at {at}: due {next} < now {now}"
                    );
                    now = next;
                    d.pop_due(now, &mut wakers);
                    check_wheel(&d);
                    if d.armed() == 0 {
                        assert!(now >= at, "level {level}: fired {} ns early", at - now);
                    }
                    steps += 1;
                    assert!(steps <= 2 * 6 + 2, "level {level}, at {at}: {steps} steps");
                }
                assert_eq!((wakers.len(), now), (1, at), "level {level}");
            }
        }
    }

    /// Deadlines from nanoseconds to hours ahead, rescheduled, freed and
    /// fired at a clock that jumps by less and more than a tick, against
    /// a `BTreeMap` model: every timer fires exactly when its deadline has
    /// passed, never before, wherever it waited.
    #[test]
    fn the_wheel_matches_a_simple_model() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let start = 1 << 40;
        let mut d = Deadlines::starting_at(start);
        let mut model: BTreeMap<u32, u64> = BTreeMap::new();
        let mut owned: Vec<u32> = Vec::new();
        let w = waker();
        let mut now = start;
        let rounds = if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
            3_000
        } else {
            30_000
        };
        for round in 0..rounds {
            let ahead = |r: &mut dyn FnMut(u64) -> u64| match r(4) {
                0 => r(3_000_000),
                1 => r(200_000_000),
                2 => r(20_000_000_000),
                _ => r(5_000_000_000_000),
            };
            match rand(7) {
                0 | 1 => {
                    let slot = d.alloc().unwrap();
                    owned.push(slot);
                    let at = now + ahead(&mut rand);
                    d.schedule(slot, at, None, Some(&w));
                    model.insert(slot, at);
                }
                2 if !owned.is_empty() => {
                    let slot = owned[rand(owned.len() as u64) as usize];
                    let at = now + ahead(&mut rand);
                    d.schedule(slot, at, None, Some(&w));
                    model.insert(slot, at);
                }
                3 if !owned.is_empty() => {
                    let slot = owned.swap_remove(rand(owned.len() as u64) as usize);
                    d.free(slot);
                    model.remove(&slot);
                }
                4 | 5 => {
                    // As the driver: never later than the wheel asks.
                    let step = ahead(&mut rand) / 64;
                    let mut to = now + step;
                    if let Some(due) = d.wheel_due() {
                        to = to.min(due.max(now));
                    }
                    now = to;
                    let mut wakers = Vec::new();
                    d.pop_due(now, &mut wakers);
                    let due: Vec<u32> = model
                        .iter()
                        .filter(|&(_, &at)| at <= now)
                        .map(|(&slot, _)| slot)
                        .collect();
                    assert_eq!(wakers.len(), due.len(), "round {round}");
                    for slot in due {
                        assert!(!d.is_armed(slot));
                        model.remove(&slot);
                    }
                    // Whatever is left is later than now, and what is in
                    // the heap is all that fires within the next tick.
                    for (&slot, &at) in &model {
                        assert!(d.is_armed(slot));
                        if at <= now + Wheel::TICK {
                            assert!((d.slots[slot as usize].pos as usize) < d.heap.len());
                        }
                    }
                }
                _ => {}
            }
            assert_eq!(d.armed(), model.len());
            if round % 64 == 0 {
                check_wheel(&d);
                check(&d);
            }
        }
        check_wheel(&d);
    }

    /// The wake-up lies inside every timer's window: at the latest
    /// deadline not past the earliest window end. A sloppy timer rides
    /// along with a precise one (one wake-up for both); a sloppy window
    /// that ends first is kept.
    #[test]
    fn the_wake_up_lies_in_every_window() {
        let w = waker();
        let mut d = Deadlines::new();
        let (sloppy, precise) = (d.alloc().unwrap(), d.alloc().unwrap());
        // Within two wheel ticks: all in the heap.
        let u = 100_000;
        let acc = |nanos| Accuracy::from_nanos(nanos).nanos();
        d.schedule_waking(sloppy, 5 * u, Accuracy::from_nanos(20 * u), &w);
        assert_eq!(
            d.wake_target(),
            Some((5 * u, 5 * u + acc(20 * u))),
            "alone: at its deadline"
        );
        d.schedule_waking(precise, 15 * u, Accuracy::from_nanos(500), &w);
        assert_eq!(d.wake_target(), Some((15 * u, 15 * u + 500)), "together");
        let mut wakers = Vec::new();
        d.pop_due(15 * u, &mut wakers);
        assert_eq!((wakers.len(), d.armed()), (2, 0), "one wake-up fires both");
        // A window that ends before the other's deadline: two wake-ups.
        d.schedule_waking(sloppy, 5 * u, Accuracy::from_nanos(3 * u), &w);
        d.schedule_waking(precise, 15 * u, Accuracy::ZERO, &w);
        assert_eq!(d.wake_target(), Some((5 * u, 5 * u + acc(3 * u))));
        // Deeper in the heap: the earliest window end is found below the
        // root, and the wake-up is the latest deadline before it.
        let more: Vec<u32> = (0..50).map(|_| d.alloc().unwrap()).collect();
        for (i, &slot) in more.iter().enumerate() {
            let at = 4 * u + i as u64 * u / 10 + u / 20;
            d.schedule_waking(slot, at, Accuracy::from_nanos(10 * u), &w);
        }
        // Windows 4.05..14.05 u, 4.15..14.15 u, …; the sloppy one's 5..8 u
        // ends first; the latest deadline not past 8 u is 7.95 u.
        assert_eq!(d.wake_target(), Some((795_000, 5 * u + acc(3 * u))));
        d.pop_due(795_000, &mut wakers);
        assert_eq!(d.armed(), 11, "all due fired; none early");
    }

    /// Deadlines holding one timer, armed at 1000 and then every 100.
    fn one_periodic_timer() -> (Deadlines, u32, Arc<Periodic>) {
        let mut d = Deadlines::new();
        let slot = d.alloc().unwrap();
        let periodic = Periodic::new(100);
        d.schedule(slot, 1000, Some(&periodic), Some(&waker()));
        (d, slot, periodic)
    }

    /// A periodic timer whose owner polls between wakes stays armed, on
    /// its period's grid, past `now`.
    #[test]
    fn periodic_timers_move_along_their_grid() {
        let (mut d, slot, periodic) = one_periodic_timer();
        let mut wakers = Vec::new();
        d.pop_due(999, &mut wakers);
        assert!(wakers.is_empty());
        d.pop_due(1000, &mut wakers);
        assert_eq!(wakers.len(), 1);
        assert_eq!(d.earliest(), Some(1100));
        assert!(periodic.polled(), "still armed");
        // Late by 3.5 periods: the next multiple past now, and the slot
        // keeps its waker (a clone was handed out).
        d.pop_due(1450, &mut wakers);
        assert_eq!(wakers.len(), 2);
        assert_eq!(d.earliest(), Some(1500));
        assert!(d.is_armed(slot));
        d.free(slot);
        assert_eq!(d.earliest(), None);
    }

    /// A periodic timer whose owner stops polling is parked at the second
    /// check after its last poll: out of the heap, not woken again, until
    /// armed again.
    #[test]
    fn an_unpolled_periodic_timer_is_parked() {
        let (mut d, slot, periodic) = one_periodic_timer();
        let mut wakers = Vec::new();
        let mut now = 1000;
        // Polled at every period: woken at every period, never parked.
        for _ in 0..3 * CHECK_EVERY {
            d.pop_due(now, &mut wakers);
            assert!(periodic.polled());
            now += 100;
        }
        assert_eq!(wakers.len(), 3 * CHECK_EVERY as usize);
        wakers.clear();
        // Not polled any more: a few more wakes, then parked.
        for _ in 0..3 * CHECK_EVERY {
            d.pop_due(now, &mut wakers);
            now += 100;
        }
        assert!(!wakers.is_empty() && wakers.len() < 2 * CHECK_EVERY as usize);
        assert!(!d.is_armed(slot));
        assert_eq!(d.earliest(), None);
        assert!(!periodic.polled(), "the owner learns it is parked");
        d.schedule(slot, now, Some(&periodic), None);
        assert!(d.is_armed(slot));
        let woken = wakers.len();
        d.pop_due(now, &mut wakers);
        assert_eq!(wakers.len(), woken + 1, "woken with the waker it kept");
        assert!(periodic.polled());
    }

    /// A steady load (100 timers always held, 100 more coming and going)
    /// reuses its slots: nothing grows, nothing shrinks, nothing moves.
    #[test]
    fn freed_slots_are_reused_without_reallocating() {
        let mut d = Deadlines::new();
        let w = waker();
        let held: Vec<u32> = (0..100).map(|_| d.alloc().unwrap()).collect();
        for &slot in &held {
            d.schedule(slot, u64::from(slot), None, Some(&w));
        }
        let churn = |d: &mut Deadlines, round: u64| {
            let again: Vec<u32> = (0..100).map(|_| d.alloc().unwrap()).collect();
            for &slot in &again {
                d.schedule(slot, round, None, Some(&w));
            }
            for &slot in &again {
                d.free(slot);
            }
        };
        churn(&mut d, 0);
        let before = (d.slots.as_ptr(), d.heap.as_ptr(), d.capacities());
        for round in 1..10 {
            churn(&mut d, round);
        }
        assert_eq!((d.slots.as_ptr(), d.heap.as_ptr(), d.capacities()), before);
        assert_eq!(d.in_use(), 100);
    }

    /// How many timers a peak test makes: fewer under valgrind.
    fn peak() -> u32 {
        if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
            20_000
        } else {
            1_000_000
        }
    }

    /// After a peak of armed timers, all dropped, the slab and the heap
    /// are back to their smallest; after most are dropped, they are back
    /// to a few times what the survivors need — the slab only down to its
    /// highest slot in use (a live slot cannot move).
    #[test]
    fn memory_comes_back_after_a_peak() {
        let w = waker();
        let n = peak() as usize;
        let mut d = Deadlines::new();
        let arm_all = |d: &mut Deadlines| -> Vec<u32> {
            let slots: Vec<u32> = (0..n).map(|_| d.alloc().unwrap()).collect();
            for &slot in &slots {
                d.schedule(slot, u64::from(slot) * 7 % 1000, None, Some(&w));
            }
            assert!(d.capacities().0 >= n && d.capacities().1 >= n);
            slots
        };
        for slot in arm_all(&mut d) {
            d.free(slot);
        }
        assert_eq!(d.capacities(), (KEEP, KEEP), "all dropped");
        assert!(d.free.capacity() <= KEEP);

        // The first 1 % survive; the others are dropped in creation
        // order (the slab's tail goes with the last of them).
        let slots = arm_all(&mut d);
        let survivors = n / 100;
        for &slot in &slots[survivors..] {
            d.free(slot);
        }
        let (slab, heap) = d.capacities();
        // The heap shrinks by halves as it empties: at most 4× its length.
        assert!(
            slab <= 2 * survivors && heap <= 4 * survivors,
            "{slab}, {heap}"
        );
        assert!(d.free.capacity() <= 2 * KEEP, "{}", d.free.capacity());
        assert_eq!(d.in_use(), survivors);
        d.check_free_stack();
        check(&d);
        for &slot in &slots[..survivors] {
            d.free(slot);
        }
        assert_eq!(d.capacities(), (KEEP, KEEP));

        // Every 100th survives: the heap shrinks; the slab keeps the span
        // up to the highest survivor.
        let slots = arm_all(&mut d);
        for (i, &slot) in slots.iter().enumerate() {
            if i % 100 != 0 {
                d.free(slot);
            }
        }
        assert!(d.capacities().1 <= 4 * (n / 100), "{:?}", d.capacities());
        assert!(d.free.len() <= 2 * n + KEEP);
        assert_eq!(d.in_use(), n / 100);
        check(&d);
        // A steady load on top reuses the free slots without growing.
        let capacities = d.capacities();
        for _ in 0..3 {
            let churn: Vec<u32> = (0..n / 2).map(|_| d.alloc().unwrap()).collect();
            for &slot in &churn {
                d.free(slot);
            }
        }
        assert_eq!(d.capacities().0, capacities.0);
        d.in_use();
    }
}
