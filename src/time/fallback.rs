//! What wakes a timer when nothing can fire it: its runtime is gone and
//! the `iofd-helper` thread cannot serve its timerfd (no descriptor left
//! for the thread's epoll instance), a drop-in function's stand-in
//! `Timers` (no descriptor for the default), or four billion timers exist.
//!
//! Blocking the executor thread until the deadline would stall every other
//! task on it, returning early would break the promise, and waking the
//! task at once would spin its thread until the deadline. So the task asks
//! the process's one helper thread for a timed wake-up at its deadline
//! ([`helper_thread::wake_at`]): the thread needs no descriptor for that
//! (it runs descriptor-free when none is left), no runtime, and no tokio
//! blocking pool, so the wake-up comes on time whatever the runtime is
//! doing, and dropping a runtime never waits for it. The task, woken,
//! looks at its clock (never early) and tries the timerfd's service
//! again. One wake-up per deadline (per tick of an interval).
//!
//! A timer of the drop-in functions' stand-in (made while no descriptor
//! was left) tries the runtime's default `Timers` again each time it would
//! ask for a timed wake-up, until it has its first slot: once descriptors
//! are back it moves there, and is fired as any other timer.
//!
//! On a clock other than `CLOCK_MONOTONIC` (the helper thread waits on
//! `Instant`), the wake-up comes at most [`MAX_STEP`] ahead, so that a
//! clock change or a suspend is noticed within that. Only when the helper
//! thread itself cannot be spawned (the process is at its thread limit)
//! is the task woken at once, to poll again.

use std::sync::Arc;
use std::task::Context;
use std::time::{Duration, Instant};

use super::Timers;
use super::driver::{Shared, saturating_add};
use crate::Clock;
use crate::helper_thread;

/// On a clock other than `CLOCK_MONOTONIC`, the longest a timer left
/// without a driver waits before it looks at its clock again.
pub(crate) const MAX_STEP: Duration = Duration::from_secs(1);

/// Has the task of `cx` polled again by the helper thread when its
/// `deadline` (nanoseconds on `shared`'s clock) comes; never blocks, and
/// the caller stays pending.
#[cold]
pub(crate) fn poll_again(cx: &mut Context<'_>, shared: &Arc<Shared>, deadline: u64) {
    let mut at = shared.instant_of(deadline);
    if shared.clock() != Clock::Monotonic {
        at = at.min(saturating_add(Instant::now(), MAX_STEP));
    }
    if helper_thread::wake_at(at, cx.waker()).is_err() {
        cx.waker().wake_by_ref();
    }
}

/// For a timer of the drop-in functions' stand-in: the current runtime's
/// default `Timers`, if it can be had now (descriptors are back). Its
/// deadlines are on the same clock (`CLOCK_MONOTONIC` nanoseconds), so a
/// timer with no slot yet moves there as it is. One attempt per call
/// (per timed wake-up: about once per tick).
#[cold]
pub(crate) fn replacement(timers: &Timers) -> Option<Timers> {
    if !timers.shared().is_stand_in() {
        return None;
    }
    Timers::current()
        .ok()
        .filter(|default| !default.shared().is_stand_in() && default.clock() == Clock::Monotonic)
}
