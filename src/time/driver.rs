//! [`Timers`]: the handle, the state every timer shares, and the driver task
//! that fires them from one timerfd.
//!
//! The driver is a task on the runtime. It waits for the timerfd, which is
//! armed (`TFD_TIMER_ABSTIME` on `CLOCK_MONOTONIC`) at the deadline of the
//! earliest timer — or, with slack, at the latest deadline within the slack
//! of the earliest, so that those fire in one wake-up. When it fires, the
//! driver pops every timer due, wakes their tasks, and re-arms. Re-arming
//! with `timerfd_settime` also resets the expiration count, so the driver
//! never reads the timerfd: one syscall per wake-up.
//!
//! A timer registering earlier than the armed instant (by more than the
//! slack) re-arms the timerfd itself, under the lock, so the kernel's
//! setting always matches `State::armed`.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use super::deadlines::{Deadlines, WakeBatch};
use super::{Interval, Sleep, Timeout};
use crate::error::invalid_input_owned;
use crate::tokio::register;
use crate::{Clock, TimerFd};

/// The slack of [`Timers::new`]: timers due within 50 µs of each other fire
/// in one wake-up.
pub const DEFAULT_SLACK: Duration = Duration::from_micros(50);

/// The largest slack [`Timers::with_slack`] takes.
const MAX_SLACK: Duration = Duration::from_secs(1);

/// A timer service for tokio: any number of sleeps, intervals and timeouts,
/// with nanosecond deadlines, on **one** timerfd.
///
/// `tokio::time` has a millisecond wheel: cheap at scale, but 1–2 ms late.
/// An [`AsyncTimerFd`](crate::AsyncTimerFd) per timer is precise, but costs
/// a descriptor (and a kernel timer) per timer and stops at
/// `RLIMIT_NOFILE`. `Timers` keeps every deadline in one heap and arms one
/// timerfd at the earliest, so it is precise and scales to hundreds of
/// thousands of timers.
///
/// `Timers` is a cheap handle (an `Arc`): clone it into every task that
/// needs timers; all clones share one driver. Timers made on one runtime
/// may be awaited from any task, on any worker.
///
/// # Slack
///
/// Timers due within the slack of each other fire in one wake-up of the
/// driver, at the latest of their deadlines: the earliest of them is up to
/// the slack late, **none is ever early**. A larger slack costs precision
/// and saves CPU (fewer wake-ups of the driver, each waking more tasks); a
/// zero slack wakes once per distinct deadline. The default,
/// [`DEFAULT_SLACK`] (50 µs), is far below tokio's millisecond and merges
/// timers created together (whose deadlines differ by the microseconds it
/// took to create them).
///
/// # Lifetime
///
/// The driver runs while any `Timers` handle, [`Sleep`], [`Interval`] or
/// [`Timeout`] made from it exists: dropping every `Timers` handle while
/// sleeps are pending leaves them working; the driver ends, and closes its
/// descriptor, when the last of them is dropped. When the runtime shuts
/// down, the driver is gone: timers still polled after that (from another
/// runtime or executor) complete at their deadline on a thread of their
/// own, never early and never hanging.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use iofd::time::Timers;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let timers = Timers::new()?;
/// let start = Instant::now();
/// timers.sleep(Duration::from_micros(300)).await;
/// assert!(start.elapsed() >= Duration::from_micros(300)); // never early
///
/// let mut ticks = timers.interval(Duration::from_micros(250));
/// let (first, missed) = ticks.tick().await; // at once, like tokio
/// assert_eq!(missed, 0);
/// let (second, _) = ticks.tick().await;
/// assert_eq!(second - first, Duration::from_micros(250));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct Timers {
    shared: Arc<Shared>,
}

/// What every handle, timer and the driver share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The one timerfd, registered with the runtime's reactor.
    timerfd: AsyncFd<TimerFd>,
    /// Handles and timers alive; the driver ends when it reaches 0.
    users: AtomicUsize,
    slack: u64,
    /// `Instant` → `CLOCK_MONOTONIC` nanoseconds: an `Instant` and the
    /// clock read just after it, so a mapped deadline is late by the few
    /// nanoseconds between the two reads, never early.
    base_instant: Instant,
    base_nanos: u64,
}

/// The part behind the lock.
pub(crate) struct State {
    pub(crate) deadlines: Deadlines,
    /// What the timerfd is armed at (`None`: disarmed or fired).
    armed: Option<u64>,
    /// The driver task, to wake when the last user goes.
    driver: Option<Waker>,
    /// The driver is gone (the runtime shut down).
    pub(crate) shut_down: bool,
}

impl Timers {
    /// A timer service on the current tokio runtime, with
    /// [`DEFAULT_SLACK`]: one timerfd and a driver task.
    ///
    /// # Errors
    ///
    /// An error (no panic) when no tokio runtime is current or it has no
    /// I/O driver (`enable_io`); as [`TimerFd::new`].
    pub fn new() -> io::Result<Timers> {
        Timers::with_slack(DEFAULT_SLACK)
    }

    /// A timer service whose timers due within `slack` of each other fire
    /// in one wake-up (see [Slack](Timers#slack)).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a slack above one second; as [`Timers::new`].
    pub fn with_slack(slack: Duration) -> io::Result<Timers> {
        if slack > MAX_SLACK {
            return Err(invalid_input_owned(format!(
                "timer slack {slack:?} is above the largest, {MAX_SLACK:?}"
            )));
        }
        let runtime = ::tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other(
                "no tokio runtime is current: create Timers inside a runtime \
                 (within `Runtime::block_on`, a task, or after `Runtime::enter`)",
            )
        })?;
        let timerfd = register(TimerFd::new()?, Interest::READABLE)?;
        let base_instant = Instant::now();
        let base_nanos = nanos(Clock::Monotonic.now()?);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                deadlines: Deadlines::new(),
                armed: None,
                driver: None,
                shut_down: false,
            }),
            timerfd,
            users: AtomicUsize::new(1),
            slack: nanos(slack),
            base_instant,
            base_nanos,
        });
        runtime.spawn(Driver {
            shared: Arc::clone(&shared),
        });
        Ok(Timers { shared })
    }

    /// The coalescing window of this service (see [Slack](Timers#slack)).
    pub fn slack(&self) -> Duration {
        Duration::from_nanos(self.shared.slack)
    }

    /// A future that completes `duration` from now, as
    /// `tokio::time::sleep` does, with nanosecond precision (plus the
    /// slack).
    pub fn sleep(&self, duration: Duration) -> Sleep {
        let now = Instant::now();
        self.sleep_until(now.checked_add(duration).unwrap_or_else(far_future))
    }

    /// A future that completes at `deadline`, as `tokio::time::sleep_until`
    /// does.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep::new(self.clone(), deadline)
    }

    /// Ticks every `period`, the first at once, as `tokio::time::interval`
    /// does; each tick also says how many periods a late task missed.
    ///
    /// A zero `period` is taken as 1 ns (tokio panics instead).
    pub fn interval(&self, period: Duration) -> Interval {
        self.interval_at(Instant::now(), period)
    }

    /// Ticks at `start`, then every `period`, as `tokio::time::interval_at`
    /// does.
    ///
    /// A zero `period` is taken as 1 ns (tokio panics instead).
    pub fn interval_at(&self, start: Instant, period: Duration) -> Interval {
        Interval::new(self.clone(), start, period.max(Duration::from_nanos(1)))
    }

    /// Runs `future` for at most `duration`: its output, or
    /// [`Elapsed`](super::Elapsed) if the time ran out first, as
    /// `tokio::time::timeout` does.
    pub fn timeout<F: Future>(&self, duration: Duration, future: F) -> Timeout<F> {
        Timeout::new(future, self.sleep(duration))
    }

    /// Runs `future` until `deadline` at most, as
    /// `tokio::time::timeout_at` does.
    pub fn timeout_at<F: Future>(&self, deadline: Instant, future: F) -> Timeout<F> {
        Timeout::new(future, self.sleep_until(deadline))
    }

    /// How many timers are armed now (registered and not yet fired).
    pub fn armed(&self) -> usize {
        self.shared.lock().deadlines.armed()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Clone for Timers {
    fn clone(&self) -> Timers {
        self.shared.users.fetch_add(1, Ordering::Relaxed);
        Timers {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        if self.shared.users.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last user: let the driver end.
            let driver = self.shared.lock().driver.take();
            if let Some(driver) = driver {
                driver.wake();
            }
        }
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field(
                "timerfd",
                &std::os::fd::AsRawFd::as_raw_fd(&self.shared.timerfd),
            )
            .field("slack", &self.slack())
            .field("armed", &self.armed())
            .finish()
    }
}

/// An instant so far ahead that it never comes (about 30 years).
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned lock is used
        // rather than turned into a panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `deadline` in nanoseconds on `CLOCK_MONOTONIC`, never earlier than
    /// `deadline` (the base clock reading came after the base `Instant`).
    pub(crate) fn key(&self, deadline: Instant) -> u64 {
        match deadline.checked_duration_since(self.base_instant) {
            Some(after) => self.base_nanos.saturating_add(nanos(after)),
            None => self
                .base_nanos
                .saturating_sub(nanos(self.base_instant - deadline)),
        }
    }

    /// Makes the timerfd fire in time for the earliest armed deadline:
    /// between it and it plus the slack. Called with the lock held, after
    /// every change that may have made a deadline earlier.
    pub(crate) fn rearm(&self, state: &mut State) {
        let Some(earliest) = state.deadlines.earliest() else {
            return;
        };
        let window = earliest.saturating_add(self.slack);
        if state.armed.is_some_and(|armed| armed <= window) {
            return;
        }
        let at = state
            .deadlines
            .latest_within(window)
            .unwrap_or(earliest)
            .max(1);
        // An error here (none is expected: the descriptor is ours and the
        // time valid) leaves `armed` unset, so the next change retries.
        if self
            .timerfd
            .get_ref()
            .arm_at(Duration::from_nanos(at), Duration::ZERO)
            .is_ok()
        {
            state.armed = Some(at);
        }
    }
}

/// The driver task: fires due timers each time the timerfd does.
struct Driver {
    shared: Arc<Shared>,
}

impl Future for Driver {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = &*self.shared;
        loop {
            if shared.users.load(Ordering::Acquire) == 0 {
                return Poll::Ready(());
            }
            let mut guard = match shared.timerfd.poll_read_ready(cx) {
                Poll::Pending => {
                    let mut state = shared.lock();
                    match &state.driver {
                        Some(driver) if driver.will_wake(cx.waker()) => {}
                        _ => state.driver = Some(cx.waker().clone()),
                    }
                    drop(state);
                    // A user may have gone between the check and the store.
                    if shared.users.load(Ordering::Acquire) == 0 {
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
                // The reactor is gone: the runtime is shutting down.
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Ready(Ok(guard)) => guard,
            };
            // Not read: re-arming resets the count, and the next expiry
            // is a new edge.
            guard.clear_ready();
            fire_due(shared);
        }
    }
}

/// Pops and wakes every timer due now, a batch at a time, then re-arms.
fn fire_due(shared: &Shared) {
    let mut batch = WakeBatch::new();
    loop {
        let now = Clock::Monotonic.now().map(nanos).unwrap_or(u64::MAX);
        let mut state = shared.lock();
        state.armed = None;
        let more = state.deadlines.pop_due(now, &mut batch);
        if !more {
            shared.rearm(&mut state);
        }
        drop(state);
        batch.wake_all();
        if !more {
            return;
        }
    }
}

impl Drop for Driver {
    /// The runtime is shutting down (or the last user went): every timer
    /// still registered is woken to learn that the driver is gone.
    fn drop(&mut self) {
        let mut batch = WakeBatch::new();
        loop {
            let mut state = self.shared.lock();
            state.shut_down = true;
            state.driver = None;
            let more = state.deadlines.take_wakers(&mut batch);
            drop(state);
            batch.wake_all();
            if !more {
                return;
            }
        }
    }
}
