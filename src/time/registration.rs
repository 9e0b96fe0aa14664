//! One timer's place in a [`Timers`] driver, shared by [`Sleep`](super::Sleep)
//! and [`Interval`](super::Interval): taking a slot on first poll, arming
//! it (once, or on a period's grid), giving it back on drop.
//!
//! Whether a timer is due is decided by its owner from the clock, never
//! from the driver's say: the driver only wakes tasks. So a registration
//! that is already armed with the task's waker needs no lock at all: an
//! interval's task, whose slot the driver keeps armed period after period,
//! ticks without touching the shared state (it marks its poll in the
//! timer's [`Periodic`] state, one atomic operation).

use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use super::Timers;
use super::accuracy::Accuracy;
use super::deadlines::Periodic;
use super::driver::{Shared, State};
use super::fallback::{poll_again, replacement};
use super::shards::{self, Taken};
use crate::timerfd::saturating_nanos;

/// A timer's registration with its driver.
pub(crate) struct Registration {
    timers: Timers,
    /// The slot, once polled (kept across deadlines, given back on drop).
    slot: Option<u32>,
    /// The slot is armed as its owner last asked, waking `waker`.
    current: bool,
    /// A clone of the waker the slot wakes, to tell without the lock
    /// whether a poll comes from the same task. (It also keeps the slot's
    /// waker from being the last one, so that none is dropped under the
    /// lock.)
    waker: Option<Waker>,
    /// For a periodic timer, its period and poll state, shared with its
    /// slot.
    periodic: Option<Arc<Periodic>>,
    /// Its own accuracy (`None`: the slack of its `Timers`).
    accuracy: Option<Accuracy>,
}

impl Registration {
    /// A periodic timer's registration: its slot fires every `period`
    /// (one allocation, for the state shared with the slot).
    pub(crate) fn periodic(timers: Timers, period: Duration) -> Registration {
        Registration::with(timers, Some(Periodic::new(saturating_nanos(period))))
    }

    fn with(timers: Timers, periodic: Option<Arc<Periodic>>) -> Registration {
        Registration {
            timers,
            slot: None,
            current: false,
            waker: None,
            periodic,
            accuracy: None,
        }
    }

    /// Sets its accuracy: it takes effect at the next arming (the caller
    /// re-arms, see [`move_to`](Registration::move_to)).
    pub(crate) fn set_accuracy(&mut self, accuracy: Accuracy) {
        self.accuracy = Some(accuracy);
    }

    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Makes sure the task of `cx` is woken at `at` (and, for a periodic
    /// timer, at every period after it), never earlier, and is pending. In
    /// the one case where nothing can fire the timer (see
    /// [`fallback`](super::fallback))
    /// the task is woken at once instead, to look at the clock again.
    ///
    /// No lock, no syscall and no allocation when the slot is already armed
    /// so for this task (for a periodic timer: not parked); otherwise one
    /// lock, and a syscall only if the timerfd must be re-armed earlier.
    pub(crate) fn wait_until(&mut self, at: Instant, cx: &mut Context<'_>) {
        let shared = self.timers.shared();
        if self.current
            && shared.is_driven()
            && self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
            && self.periodic.as_ref().is_none_or(|p| p.polled())
        {
            return;
        }
        let key = shared.key(at);
        // Cloned before the lock (one for the slot, one kept here): no
        // waker code runs under it, so a waker that uses these timers
        // cannot deadlock on it.
        let (for_slot, kept) = (cx.waker().clone(), cx.waker().clone());
        let mut state = shared.lock();
        if shared.is_shut_down() && !shared.ensure_driven(&mut state) {
            drop(state);
            drop((for_slot, kept));
            if self.slot.is_none()
                && let Some(timers) = replacement(&self.timers)
            {
                // Not a stand-in: this recurses once at most.
                self.timers = timers;
                return self.wait_until(at, cx);
            }
            return poll_again(cx, self.timers.shared(), key);
        }
        let slot = match self.slot {
            Some(slot) => slot,
            None => match state.deadlines.alloc() {
                Some(slot) => {
                    self.slot = Some(slot);
                    slot
                }
                // Four billion timers: none left to give.
                None => {
                    drop(state);
                    return poll_again(cx, shared, key);
                }
            },
        };
        let leftover = state.deadlines.place_waker(slot, for_slot);
        self.schedule(shared, &mut state, slot, key);
        drop(state);
        drop(leftover);
        self.current = true;
        self.waker = Some(kept);
    }

    /// Arms `slot` at `key` with this timer's accuracy (the slack unless
    /// set) and period, waking the waker it has, and re-arms the timerfd
    /// if the wake-up must come earlier. Called with the lock held.
    fn schedule(&self, shared: &Shared, state: &mut State, slot: u32, key: u64) {
        let accuracy = self.accuracy.unwrap_or_else(|| shared.slack_accuracy());
        let by = state
            .deadlines
            .schedule_with(slot, key, accuracy, self.periodic.as_ref());
        shared.rearm_after(state, by);
    }

    /// The owner's deadline or schedule changed: the next
    /// [`wait_until`](Registration::wait_until) re-arms. If a task is
    /// waiting, the slot moves to `at` at once, waking the same task.
    pub(crate) fn move_to(&mut self, at: Instant) {
        self.current = false;
        let Some(slot) = self.slot else {
            return;
        };
        let shared = self.timers.shared();
        let key = shared.key(at);
        // Cloned before the lock, as in `wait_until`.
        let Some(waker) = self.waker.clone() else {
            return;
        };
        let mut state = shared.lock();
        if shared.ensure_driven(&mut state) {
            let leftover = state.deadlines.place_waker(slot, waker);
            self.schedule(shared, &mut state, slot, key);
            drop(state);
            drop(leftover);
            self.current = true;
        }
    }
}

/// No slot (a [`OneShot`] not yet polled).
const NO_SLOT: u32 = u32::MAX;

/// [`OneShot::flags`]: the slot is armed (or has fired) at the deadline.
const CURRENT: u8 = 1;
/// [`OneShot::flags`]: the owner found the deadline passed.
pub(crate) const ELAPSED: u8 = 2;
/// [`OneShot::flags`]: made far enough from its deadline that its first
/// poll need not read the clock (see [`Sleep`](super::Sleep)'s poll).
pub(crate) const FAR: u8 = 4;
/// [`OneShot::flags`]: it has its own accuracy, in [`OneShot::accuracy`]
/// (otherwise its `Timers`' slack).
const OWN_ACCURACY: u8 = 8;
/// [`OneShot::flags`]: a timeout made at least
/// [`STAGE_AHEAD`](shards::STAGE_AHEAD) before its deadline: its first
/// poll may arm it in a shard.
pub(crate) const STAGEABLE: u8 = 16;
/// [`OneShot::flags`]: armed in a shard; `slot` is its code there (see
/// [`shards`]), until it learns the driver moved it.
const STAGED: u8 = 32;

/// A one-shot timer's registration, as small as it can be (a
/// [`Sleep`](super::Sleep) is one, 24 bytes): the handle, the deadline,
/// the slot (or, for a staged timeout, its code in the shards) and a few
/// flags. Unlike [`Registration`], it keeps no clone of
/// the waker: a poll of a timer already armed takes the lock to compare
/// wakers (most one-shot timers are polled once, then fire or are
/// dropped).
pub(crate) struct OneShot {
    timers: Timers,
    /// Nanoseconds on the driver's clock.
    pub(crate) deadline: u64,
    slot: u32,
    /// [`CURRENT`], [`OWN_ACCURACY`], and the owner's [`ELAPSED`] and
    /// [`FAR`].
    pub(crate) flags: u8,
    /// With [`OWN_ACCURACY`]: its accuracy ([`Accuracy::code`]).
    accuracy: u16,
}

impl OneShot {
    pub(crate) fn new(timers: Timers, deadline: u64, flags: u8) -> OneShot {
        OneShot {
            timers,
            deadline,
            slot: NO_SLOT,
            flags,
            accuracy: 0,
        }
    }

    /// Its accuracy: its own, or its `Timers`' slack.
    pub(crate) fn accuracy(&self) -> Accuracy {
        if self.flags & OWN_ACCURACY != 0 {
            Accuracy::from_code(self.accuracy)
        } else {
            self.timers.shared().slack_accuracy()
        }
    }

    /// Sets its own accuracy; an armed slot moves to its new window at
    /// once.
    pub(crate) fn set_accuracy(&mut self, accuracy: Accuracy) {
        self.flags |= OWN_ACCURACY;
        self.accuracy = accuracy.code();
        if self.flags & CURRENT != 0 {
            let elapsed = self.flags & ELAPSED;
            self.move_to(self.deadline);
            self.flags |= elapsed;
        }
    }

    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// The first poll of a far timeout ([`STAGEABLE`]): arms it in the
    /// calling thread's shard (one lock of that shard, not the driver's;
    /// see [`shards`]), or, where it cannot be staged, in the driver as
    /// [`wait`](OneShot::wait) does.
    pub(crate) fn stage(&mut self, cx: &mut Context<'_>) {
        let shared = self.timers.shared();
        // After a shutdown, `wait` finds out what fires the timers.
        if self.flags & STAGEABLE != 0 && !shared.is_shut_down() {
            let shard = shards::mine();
            let waker = cx.waker().clone();
            if let Some(staged) =
                shared
                    .shards()
                    .stage(shard, self.deadline, self.accuracy(), waker)
            {
                self.slot = staged.code;
                self.flags |= STAGED | CURRENT;
                if !staged.tell || shared.tell(shard, self.deadline) {
                    return;
                }
                // Nothing fires the timers: armed as `wait` can.
                drop(self.unstage());
            }
        }
        self.wait(cx);
    }

    /// Takes a staged timeout out of its shard: after it the timeout is
    /// armed in the driver (the slot it was moved to, kept armed), or not
    /// at all, and then the waker it was staged with is returned.
    #[inline(always)]
    fn unstage(&mut self) -> Option<Waker> {
        let taken = self.timers.shared().shards().take(self.slot);
        self.flags &= !STAGED;
        match taken {
            Some(Taken::Moved(slot)) => {
                self.slot = slot;
                None
            }
            Some(Taken::Staged(waker)) => {
                self.slot = NO_SLOT;
                self.flags &= !CURRENT;
                Some(waker)
            }
            None => {
                self.slot = NO_SLOT;
                self.flags &= !CURRENT;
                None
            }
        }
    }

    /// Makes sure the task of `cx` is woken at the deadline, never
    /// earlier, and is pending; as [`Registration::wait_until`]. One lock;
    /// a syscall only if the timerfd must be re-armed earlier. A staged
    /// timeout that stays staged takes its shard's lock instead.
    pub(crate) fn wait(&mut self, cx: &mut Context<'_>) {
        if self.flags & STAGED != 0 {
            let shared = self.timers.shared();
            if shared.is_shut_down() {
                // Armed as below, where the timing thread is sure to see it.
                drop(self.unstage());
                self.flags &= !CURRENT;
            } else {
                match shared.shards().rewake(self.slot, cx.waker()) {
                    Ok(replaced) => {
                        drop(replaced);
                        return;
                    }
                    // Moved: the slot is the timeout's, armed.
                    Err(slot) => {
                        self.slot = slot;
                        self.flags &= !STAGED;
                    }
                }
            }
        }
        // The waker to arm with, cloned before the lock: no waker code (a
        // clone, a drop) runs under it, so a waker that uses these timers
        // cannot deadlock on it. A poll of an armed timer, nearly always
        // by the same task, clones only if the task changed.
        let mut fresh = (self.flags & CURRENT == 0).then(|| cx.waker().clone());
        loop {
            let shared = self.timers.shared();
            let mut state = shared.lock();
            if shared.is_shut_down() && !shared.ensure_driven(&mut state) {
                drop(state);
                drop(fresh);
                if self.slot == NO_SLOT
                    && let Some(timers) = replacement(&self.timers)
                {
                    // Not a stand-in: this recurses once at most.
                    self.timers = timers;
                    return self.wait(cx);
                }
                return poll_again(cx, self.timers.shared(), self.deadline);
            }
            if self.flags & CURRENT != 0 {
                match state.deadlines.waker_matches(self.slot, cx.waker()) {
                    Some(true) => return,
                    Some(false) => {
                        if let Some(waker) = fresh.take() {
                            let replaced = state.deadlines.place_waker(self.slot, waker);
                            drop(state);
                            drop(replaced);
                            return;
                        }
                    }
                    // Fired: armed again below.
                    None => {}
                }
                if fresh.is_none() {
                    drop(state);
                    fresh = Some(cx.waker().clone());
                    continue;
                }
            }
            if self.slot == NO_SLOT {
                match state.deadlines.alloc() {
                    Some(slot) => self.slot = slot,
                    None => {
                        drop(state);
                        drop(fresh);
                        return poll_again(cx, shared, self.deadline);
                    }
                }
            }
            let leftover = fresh
                .take()
                .and_then(|waker| state.deadlines.place_waker(self.slot, waker));
            let accuracy = self.accuracy();
            let by = state
                .deadlines
                .schedule_with(self.slot, self.deadline, accuracy, None);
            shared.rearm_after(&mut state, by);
            drop(state);
            drop(leftover);
            self.flags |= CURRENT;
            return;
        }
    }

    /// Moves the deadline to `at`: a slot already taken moves there at
    /// once, keeping the waker it has (a task already waiting is woken at
    /// the new deadline without polling again).
    pub(crate) fn move_to(&mut self, at: u64) {
        let staged_waker = if self.flags & STAGED != 0 {
            self.unstage()
        } else {
            None
        };
        self.deadline = at;
        self.flags &= !(CURRENT | ELAPSED | FAR);
        if let Some(waker) = staged_waker {
            // It was staged, waiting: the same task waits for the new
            // deadline, in the driver.
            return self.wait(&mut Context::from_waker(&waker));
        }
        if self.slot == NO_SLOT {
            return;
        }
        let accuracy = self.accuracy();
        let shared = self.timers.shared();
        let mut state = shared.lock();
        if shared.ensure_driven(&mut state) {
            let by = state.deadlines.schedule_with(self.slot, at, accuracy, None);
            shared.rearm_after(&mut state, by);
            self.flags |= CURRENT;
        }
    }
}

impl Drop for OneShot {
    /// Gives the slot back, as [`Registration`]'s drop does.
    fn drop(&mut self) {
        if self.flags & STAGED != 0 {
            // The waker it was staged with, if it still was, dropped here,
            // with no lock held.
            drop(self.unstage());
        }
        if self.slot != NO_SLOT {
            // The slot's waker may be the last clone: dropped after the
            // lock is released (its drop may run anything).
            let waker = self.timers.shared().lock().deadlines.free(self.slot);
            drop(waker);
        }
    }
}

impl Drop for Registration {
    /// Gives the slot back: a dropped timer leaves the driver, and its waker
    /// is not woken unless the driver was firing it at the same moment
    /// (it wakes outside the lock).
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            // Dropped once the lock is released (a waker's drop may run
            // anything).
            let waker = self.timers.shared().lock().deadlines.free(slot);
            drop(waker);
        }
    }
}
