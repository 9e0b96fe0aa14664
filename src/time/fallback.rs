//! What wakes a timer when nothing can fire it: its runtime is gone and
//! the process's timing thread cannot be started (no descriptor left, or
//! the thread limit reached), a drop-in function's stand-in `Timers` (no
//! descriptor for the default), or four billion timers exist.
//!
//! Blocking the executor thread until the deadline would stall every other
//! task on it, returning early would break the promise, and waking the
//! task at once would spin its thread until the deadline. When a tokio
//! runtime is current, one task of its blocking pool per `Timers`
//! (`spawn_blocking`) sleeps a step ([`step`]) and then wakes every task
//! that asked meanwhile; each looks at its clock and tries the timing
//! thread again. A step is a quarter of the time left to the earliest
//! deadline asked for, between 1 ms and [`MAX_STEP`], and the last one
//! ends at that deadline (the pool's thread sleeps with `nanosleep`, as
//! precise as the timerfd): a few polls a second, whatever polls the task
//! meanwhile, and at most one pool thread per `Timers` (plus one for a
//! deadline earlier than the running step's end). Only without a current
//! runtime, or when tokio cannot start a blocking thread either, is the
//! task woken at once to poll again.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::Duration;

use super::driver::Shared;

/// The longest step: how often, at most, a timer left without a driver
/// tries the timing thread again.
pub(crate) const MAX_STEP: Duration = Duration::from_millis(100);

/// The tasks waiting on a `Timers`' fallback, and the steps under way.
#[derive(Default)]
pub(crate) struct Fallback {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Woken (all of them) at the end of the next step.
    wakers: Vec<Waker>,
    /// When (on the `Timers`' clock) the earliest running step ends;
    /// `None` when none runs.
    step_end: Option<u64>,
}

impl Fallback {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while it is held.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Has the task of `cx` polled again by the fallback, by the time its
/// `deadline` (nanoseconds on `shared`'s clock) comes or sooner; never
/// blocks, and the caller stays pending.
#[cold]
pub(crate) fn poll_again(cx: &mut Context<'_>, shared: &Arc<Shared>, deadline: u64) {
    let now = shared.now_key();
    let step = step(deadline.saturating_sub(now));
    let end = now.saturating_add(u64::try_from(step.as_nanos()).unwrap_or(u64::MAX));
    let mut state = shared.fallback().lock();
    if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
        state.wakers.push(cx.waker().clone());
    }
    if state.step_end.is_some_and(|running| running <= end) {
        return;
    }
    let Ok(handle) = ::tokio::runtime::Handle::try_current() else {
        drop(state);
        return cx.waker().wake_by_ref();
    };
    let previous = state.step_end.replace(end);
    drop(state);
    let guard = StepEnd(Arc::clone(shared));
    let sleep_then_wake = move || {
        std::thread::sleep(step);
        drop(guard);
    };
    // tokio panics (it returns no error) when the OS refuses a thread and
    // its pool has none idle; its panic message is printed.
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(handle.spawn_blocking(sleep_then_wake));
    }));
    if spawned.is_err() {
        // The guard, dropped in the unwind, woke the waiting tasks; the
        // step did not start.
        shared.fallback().lock().step_end = previous;
        cx.waker().wake_by_ref();
    }
}

/// The next step for a timer due in `remaining` nanoseconds: a quarter of
/// it, between 1 ms and [`MAX_STEP`], and never past the deadline.
fn step(remaining: u64) -> Duration {
    let remaining = Duration::from_nanos(remaining);
    (remaining / 4)
        .clamp(Duration::from_millis(1), MAX_STEP)
        .min(remaining)
}

/// Ends a step when dropped, after its sleep or at once if tokio drops the
/// blocking task unrun (its runtime shutting down): wakes every waiting
/// task, outside the lock.
struct StepEnd(Arc<Shared>);

impl Drop for StepEnd {
    fn drop(&mut self) {
        let wakers = {
            let mut state = self.0.fallback().lock();
            state.step_end = None;
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quarter of the time left, within 1 ms and 100 ms, never past it.
    #[test]
    fn steps() {
        let ms = 1_000_000;
        assert_eq!(step(0), Duration::ZERO);
        assert_eq!(step(ms / 2), Duration::from_micros(500));
        assert_eq!(step(2 * ms), Duration::from_millis(1));
        assert_eq!(step(40 * ms), Duration::from_millis(10));
        assert_eq!(step(3_600_000 * ms), MAX_STEP);
    }
}
