//! Readers waiting for records given back: every
//! [`AsyncSignalFd`](crate::AsyncSignalFd) has a slot here, and records
//! given back ([`super::leftover`]) wake the waiting readers whose mask
//! holds one of their signals.
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
//! No lost wake-up: a reader stores its waker, *then* looks at the records
//! held; a giver stores the records, *then* takes the wakers. Both go
//! through the slot's lock, so either the giver finds the waker or the
//! reader finds the records.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use super::SigSet;

/// One reader's slot.
struct Slot {
    /// The reader's mask, shared with its `SignalFd` (so `set_mask` is
    /// seen at once).
    mask: Arc<Mutex<SigSet>>,
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

/// Every live reader's slot. Lock order: this, then a slot's mask or
/// waker, never the other way round. Nothing panics while it is held.
static SLOTS: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());

fn slots() -> MutexGuard<'static, Vec<Arc<Slot>>> {
    SLOTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A reader's place in the list of waiting readers; leaves it on drop.
pub(crate) struct Waiter(Arc<Slot>);

impl Waiter {
    /// Adds a reader of `mask` (the `SignalFd`'s own shared mask).
    pub(crate) fn new(mask: Arc<Mutex<SigSet>>) -> Waiter {
        let slot = Arc::new(Slot {
            mask,
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

/// Wakes every waiting reader whose mask holds one of `bits`' signals
/// (`bits` as [`SigSet::bits`]). Called after the records are stored.
pub(crate) fn wake(bits: u64) {
    let slots = slots();
    let mut wakers: Vec<Waker> = Vec::new();
    if wakers.try_reserve_exact(slots.len()).is_err() {
        // No memory to carry the wakers out of the lock: wake them under
        // it (a tokio waker only schedules its task).
        for slot in slots.iter().filter(|slot| slot.reads_any(bits)) {
            let waker = slot.waker().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        return;
    }
    for slot in slots.iter().filter(|slot| slot.reads_any(bits)) {
        let waker = slot.waker().take();
        wakers.extend(waker);
    }
    drop(slots);
    // Outside the lock: a wake-up (or the drop of a waker) may run code
    // that makes or drops a reader.
    for waker in wakers {
        waker.wake();
    }
}
