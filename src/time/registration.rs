//! One timer's place in a [`Timers`] driver, shared by [`Sleep`](super::Sleep)
//! and [`Interval`](super::Interval): taking a slot on first poll, arming
//! it (once, or on a period's grid), giving it back on drop — and, once the
//! driver is gone, completing on a thread of its own.
//!
//! Whether a timer is due is decided by its owner from the clock, never
//! from the driver's say: the driver only wakes tasks. So a registration
//! that is already armed with the task's waker needs no lock at all: an
//! interval's task, whose slot the driver keeps armed period after period,
//! ticks without touching the shared state.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::Timers;
use crate::timerfd::saturating_nanos;

/// A timer's registration with its driver.
pub(crate) struct Registration {
    timers: Timers,
    /// The slot, once polled (kept across deadlines, given back on drop).
    slot: Option<u32>,
    /// The slot is armed as its owner last asked, waking `waker`.
    current: bool,
    /// A clone of the waker the slot wakes, to tell without the lock
    /// whether a poll comes from the same task.
    waker: Option<Waker>,
    /// The thread that times this timer once the driver is gone, and the
    /// deadline it sleeps until (boxed: rarely there, and a `Sleep` stays
    /// small).
    fallback: Option<Box<(Instant, Arc<Fallback>)>>,
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
            current: false,
            waker: None,
            fallback: None,
        }
    }

    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Makes sure the task of `cx` is woken at `at` (and, with a non-zero
    /// `period`, at every multiple of it after), then is pending — or, once
    /// the driver is gone, ready when `at` has passed.
    ///
    /// No lock, no syscall and no allocation when the slot is already armed
    /// so for this task; otherwise one lock, and a syscall only if the
    /// timerfd must be re-armed earlier.
    pub(crate) fn wait_until(
        &mut self,
        at: Instant,
        period: Duration,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let shared = self.timers.shared();
        if shared.is_shut_down() {
            return self.poll_fallback(at, cx);
        }
        if self.current && self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let key = shared.key(at);
        let mut state = shared.lock();
        if shared.is_shut_down() {
            drop(state);
            return self.poll_fallback(at, cx);
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
                    return self.poll_fallback(at, cx);
                }
            },
        };
        state
            .deadlines
            .schedule(slot, key, saturating_nanos(period), Some(cx.waker()));
        shared.rearm(&mut state);
        drop(state);
        self.current = true;
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The owner's deadline or schedule changed: the next
    /// [`wait_until`](Registration::wait_until) re-arms. If a task is
    /// waiting, the slot moves to `at` at once, waking the same task.
    pub(crate) fn move_to(&mut self, at: Instant, period: Duration) {
        self.current = false;
        let Some(slot) = self.slot else {
            return;
        };
        let shared = self.timers.shared();
        let key = shared.key(at);
        let mut state = shared.lock();
        if self.waker.is_some() && !shared.is_shut_down() {
            state
                .deadlines
                .schedule(slot, key, saturating_nanos(period), self.waker.as_ref());
            shared.rearm(&mut state);
            self.current = true;
        }
    }

    /// The driver is gone: a thread of our own wakes the task at `at`, so
    /// the timer neither hangs nor fires early.
    fn poll_fallback(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= at {
            return Poll::Ready(());
        }
        if let Some(timing) = &self.fallback {
            let (timed, fallback) = &**timing;
            if *timed == at {
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
                if at > now {
                    std::thread::sleep(at - now);
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
            if at > now {
                std::thread::sleep(at - now);
            }
            return Poll::Ready(());
        }
        self.fallback = Some(Box::new((at, fallback)));
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
