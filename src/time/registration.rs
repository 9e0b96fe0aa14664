//! One timer's place in a [`Timers`] driver, shared by [`Sleep`](super::Sleep)
//! and [`Interval`](super::Interval): taking a slot on first poll, arming
//! it, learning that it fired, giving it back on drop — and, once the
//! driver is gone, completing on a thread of its own.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::Timers;

/// A timer's registration with its driver.
pub(crate) struct Registration {
    timers: Timers,
    /// The slot, once polled (kept across deadlines, given back on drop).
    slot: Option<u32>,
    /// The thread that times this timer once the driver is gone, and the
    /// deadline it sleeps until.
    fallback: Option<(Instant, Arc<Fallback>)>,
}

/// The waker a fallback thread wakes at the deadline.
struct Fallback {
    waker: Mutex<Option<Waker>>,
}

impl Registration {
    pub(crate) fn new(timers: Timers) -> Registration {
        Registration {
            timers,
            slot: None,
            fallback: None,
        }
    }

    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Ready once `deadline` has passed; otherwise arms the slot for it
    /// (waking `cx`'s task then) and is pending.
    ///
    /// No syscall and no allocation unless the timerfd must be re-armed
    /// earlier or the slab must grow.
    pub(crate) fn poll_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= deadline {
            self.unarm();
            return Poll::Ready(());
        }
        let shared = self.timers.shared();
        let key = shared.key(deadline);
        let mut state = shared.lock();
        if state.shut_down {
            drop(state);
            return self.poll_fallback(deadline, cx);
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
                    return self.poll_fallback(deadline, cx);
                }
            },
        };
        let deadlines = &mut state.deadlines;
        if deadlines.deadline(slot) == key {
            if deadlines.fired(slot) {
                // The clock passed `key`, which is not before `deadline`.
                return Poll::Ready(());
            }
            if deadlines.is_armed(slot) {
                deadlines.set_waker(slot, cx.waker());
                return Poll::Pending;
            }
        }
        deadlines.schedule(slot, key, Some(cx.waker()));
        shared.rearm(&mut state);
        Poll::Pending
    }

    /// Moves an armed timer to `deadline` at once, keeping the task it
    /// wakes (for `reset`, which must not wait for the next poll when the
    /// deadline comes earlier).
    pub(crate) fn move_to(&mut self, deadline: Instant) {
        let Some(slot) = self.slot else {
            return;
        };
        let shared = self.timers.shared();
        let key = shared.key(deadline);
        let mut state = shared.lock();
        if state.deadlines.is_armed(slot) && state.deadlines.has_waker(slot) {
            state.deadlines.schedule(slot, key, None);
            shared.rearm(&mut state);
        }
    }

    /// The deadline passed before the driver fired the slot: take it out
    /// of the heap, so that the driver does not wake the task for nothing.
    fn unarm(&mut self) {
        if let Some(slot) = self.slot {
            let mut state = self.timers.shared().lock();
            if state.deadlines.is_armed(slot) {
                state.deadlines.free(slot);
                self.slot = None;
            }
        }
    }

    /// The driver is gone: a thread of our own wakes the task at
    /// `deadline`, so the timer neither hangs nor fires early.
    fn poll_fallback(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        if let Some((timed, fallback)) = &self.fallback {
            if *timed == deadline {
                let mut waker = fallback.waker.lock().unwrap_or_else(|p| p.into_inner());
                *waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        let fallback = Arc::new(Fallback {
            waker: Mutex::new(Some(cx.waker().clone())),
        });
        let thread_side = Arc::clone(&fallback);
        let spawned = std::thread::Builder::new()
            .name("iofd-timer-fallback".into())
            .spawn(move || {
                let now = Instant::now();
                if deadline > now {
                    std::thread::sleep(deadline - now);
                }
                let waker = thread_side
                    .waker
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
        if spawned.is_err() {
            // No thread either: wait here rather than hang or fire early.
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            return Poll::Ready(());
        }
        self.fallback = Some((deadline, fallback));
        Poll::Pending
    }
}

impl Drop for Registration {
    /// Gives the slot back: a dropped timer leaves the heap and its waker
    /// is never woken.
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let mut state = self.timers.shared().lock();
            state.deadlines.free(slot);
        }
    }
}
