//! Readers waiting for records given back: every
//! [`AsyncSignalFd`](crate::AsyncSignalFd) has a slot here, and records
//! given back ([`super::leftover`]) wake the waiting readers of this
//! process whose mask holds one of their signals.
//!
//! The mask used here only chooses whom to wake: it is the handle's copy
//! (what it last set, adopted, or read from the kernel), shared with its
//! clones. Whether a record goes to a reader is decided when it reads, by
//! the kernel's mask of its signalfd, which another handle on the same open
//! file description may have changed. A mask *widened* that way (and not
//! read since through this handle) can miss the wake-up: the reader then
//! finds the records at its next wake-up.
//!
//! Records given back are not in the kernel, so they cannot make a
//! descriptor readable, and a reader asleep in `recv().await` would not
//! see them before its next wake-up (a new signal, maybe never). A slot
//! keeps the waker of the reader's last poll that went to sleep.
//!
//! Costs: one allocation per handle, when it is made (its slot, and room
//! for it in the process-wide list); per poll that goes to sleep, one
//! uncontended lock, a `will_wake` comparison and one atomic load, with no
//! allocation (the waker is cloned only when the task changed). Waking
//! happens only where records are given back (a drop, `requeue`), never on
//! a read path.
//!
//! No waker runs under a lock: they are taken out a few at a time (a
//! fixed array, no allocation, so no out-of-memory path), and woken after
//! the lock is released, so a wake-up that drops the last reference to a
//! reader (whose `Waiter` then leaves the list) cannot deadlock. Each
//! wake-up visits a slot at most once, so it ends whatever the wakers do.
//!
//! `fork`: a child gets a copy of the list, with its parent's wakers (tasks
//! of a runtime whose threads the child does not have). A slot knows the
//! process that made it, and only this process's slots are woken.
//!
//! No lost wake-up: a reader stores its waker, *then* looks at the records
//! held; a giver stores the records, *then* takes the wakers. Both go
//! through the slot's lock, so either the giver finds the waker or the
//! reader finds the records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use super::SigSet;

/// One reader's slot.
struct Slot {
    /// The reader's mask as its handle knows it, shared with its
    /// `SignalFd` (so `set_mask` and `mask` are seen at once).
    mask: Arc<Mutex<SigSet>>,
    /// The process that made the slot (a copy made by `fork` is not woken).
    owner: u32,
    /// The last wake-up that visited this slot (its number, from
    /// [`ROUNDS`]); written with [`SLOTS`] held.
    visited: AtomicU64,
    /// The waker of the reader's last poll that went to sleep; taken by
    /// the wake-up.
    waker: Mutex<Option<Waker>>,
}

impl Slot {
    fn waker(&self) -> MutexGuard<'_, Option<Waker>> {
        self.waker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the reader reads one of `bits`' signals.
    fn reads_any(&self, bits: u64) -> bool {
        let mask = self.mask.lock().unwrap_or_else(PoisonError::into_inner);
        mask.bits() & bits != 0
    }
}

/// Every live reader's slot. Lock order: this, then a slot's mask or waker, never
/// the other way round. Nothing panics, and no waker runs or is dropped,
/// while it is held.
static SLOTS: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());

/// Numbers the wake-ups (from 1), so each visits a slot once.
static ROUNDS: AtomicU64 = AtomicU64::new(1);

/// How many wakers one pass carries out of the lock.
const BATCH: usize = 8;

fn slots() -> MutexGuard<'static, Vec<Arc<Slot>>> {
    SLOTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This process's pid.
fn this_process() -> u32 {
    rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

/// A reader's place in the list of waiting readers; leaves it on drop.
pub(crate) struct Waiter(Arc<Slot>);

impl Waiter {
    /// Adds a reader of `mask` (the `SignalFd`'s own shared copy).
    pub(crate) fn new(mask: Arc<Mutex<SigSet>>) -> Waiter {
        let slot = Arc::new(Slot {
            mask,
            owner: this_process(),
            visited: AtomicU64::new(0),
            waker: Mutex::new(None),
        });
        slots().push(Arc::clone(&slot));
        Waiter(slot)
    }

    /// Keeps `waker` for the next records given back: nothing allocated
    /// when it would wake the same task as the one kept. Call before the
    /// last look at the records held.
    #[inline]
    pub(crate) fn register(&self, waker: &Waker) {
        let mut slot = self.0.waker();
        if slot.as_ref().is_some_and(|kept| kept.will_wake(waker)) {
            return;
        }
        let old = slot.replace(waker.clone());
        drop(slot);
        // Dropped outside the lock: it may be the last reference to a task.
        drop(old);
    }

    /// Forgets the waker kept (the reader is going away).
    pub(crate) fn clear(&self) {
        let old = self.0.waker().take();
        drop(old);
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut slots = slots();
        slots.retain(|slot| !Arc::ptr_eq(slot, &self.0));
        if slots.is_empty() {
            // No memory kept at a past peak.
            *slots = Vec::new();
        }
    }
}

/// Wakes every waiting reader of this process whose mask holds one of
/// `bits`' signals (`bits` as [`SigSet::bits`]). Called after the records
/// are stored. No allocation; no waker runs (or is dropped) with a lock
/// held.
pub(crate) fn wake(bits: u64) {
    let pid = this_process();
    let round = ROUNDS.fetch_add(1, Ordering::Relaxed);
    loop {
        let mut batch: [Option<Waker>; BATCH] = Default::default();
        let mut taken = 0;
        let mut more = false;
        {
            let slots = slots();
            for slot in slots.iter() {
                if slot.owner != pid
                    || slot.visited.load(Ordering::Relaxed) == round
                    || !slot.reads_any(bits)
                {
                    continue;
                }
                if taken == BATCH {
                    more = true;
                    break;
                }
                slot.visited.store(round, Ordering::Relaxed);
                if let Some(waker) = slot.waker().take() {
                    batch[taken] = Some(waker);
                    taken += 1;
                }
            }
        }
        // Outside the lock: a wake-up (or the drop of a waker) may run
        // code that makes or drops a reader.
        for waker in batch.into_iter().flatten() {
            waker.wake();
        }
        if !more {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    /// A waker whose wake-up drops the last reference to a reader (its
    /// `Waiter`), as a task that owned the last `AsyncSignalFd` does.
    struct DropsReader {
        reader: Mutex<Option<Waiter>>,
        woken: AtomicUsize,
    }

    impl Wake for DropsReader {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.woken.fetch_add(1, Ordering::Relaxed);
            let reader = self.reader.lock().unwrap().take();
            drop(reader); // takes SLOTS: must not be held here
        }
    }

    #[test]
    fn a_wake_up_that_drops_a_reader_does_not_deadlock() {
        let all = || Arc::new(Mutex::new(SigSet::from_bits(u64::MAX)));
        let readers: Vec<_> = (0..2 * BATCH + 3).map(|_| Waiter::new(all())).collect();
        let wakes: Vec<_> = (0..readers.len())
            .map(|_| {
                Arc::new(DropsReader {
                    reader: Mutex::new(Some(Waiter::new(all()))),
                    woken: AtomicUsize::new(0),
                })
            })
            .collect();
        for (reader, wake) in readers.iter().zip(&wakes) {
            reader.register(&Waker::from(Arc::clone(wake)));
        }
        wake(1);
        for wake in &wakes {
            assert_eq!(wake.woken.load(Ordering::Relaxed), 1);
            assert!(wake.reader.lock().unwrap().is_none());
        }
        // Taken: a second wake-up finds no waker.
        wake(1);
        for wake in &wakes {
            assert_eq!(wake.woken.load(Ordering::Relaxed), 1);
        }
    }
}
