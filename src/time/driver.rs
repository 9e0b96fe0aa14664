//! [`Timers`]: the handle, the state every timer shares, and the wake-up
//! that fires them from one timerfd.
//!
//! The timerfd is armed (`TFD_TIMER_ABSTIME` on `CLOCK_MONOTONIC`) at the
//! deadline of the earliest timer — or, with slack, at the latest deadline
//! within the slack of the earliest, so that those fire in one wake-up.
//!
//! There is no driver task. The timerfd is registered with the runtime's
//! reactor, and the waker its readiness wakes is [`FireOnReady`]: when the
//! timerfd fires, tokio's I/O driver calls it, and it pops every timer due,
//! wakes their tasks, re-arms the timerfd and registers itself again — in
//! the I/O driver's own turn, with no task to schedule in between. Re-arming
//! with `timerfd_settime` also resets the expiration count, so the timerfd
//! is never read: one syscall per wake-up.
//!
//! A timer registering earlier than the armed instant (by more than the
//! slack) re-arms the timerfd itself, under the lock, so the kernel's
//! setting always matches `State::armed`.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use super::deadlines::Deadlines;
use super::{Interval, Sleep, Timeout};
use crate::TimerFd;
use crate::error::{invalid_input, invalid_input_owned};
use crate::timerfd::{MonotonicBase, saturating_nanos};
use crate::tokio::register;

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
/// needs timers; all clones share one timerfd. Timers made on one runtime
/// may be awaited from any task, on any worker.
///
/// # Slack
///
/// Timers due within the slack of each other fire in one wake-up of the
/// timerfd, at the latest of their deadlines: the earliest of them is up
/// to the slack late, **none is ever early**. A larger slack costs
/// precision and saves CPU (fewer timerfd wake-ups, each waking more
/// tasks); a zero slack wakes once per distinct deadline. The default,
/// [`DEFAULT_SLACK`] (50 µs), is far below tokio's millisecond and merges
/// timers created together (whose deadlines differ by the microseconds it
/// took to create them).
///
/// What it costs, measured with 1 000 intervals of 1 ms whose phases are
/// spread evenly over the period (every deadline different; 2 tokio
/// workers; `cargo bench --bench timers -- --slack`, one run of
/// 2026-12-01, 2 s):
///
/// | slack | lateness p50 | p99 | CPU (% of one core) |
/// |---|---|---|---|
/// | 0 | 26 µs | 50 µs | 135 % |
/// | 10 µs | 33 µs | 57 µs | 140 % |
/// | 50 µs (default) | 55 µs | 87 µs | 87 % |
/// | 200 µs | 192 µs | 283 µs | 74 % |
/// | 1 ms | 570 µs | 1.15 ms | 72 % |
///
/// # Lifetime
///
/// The timerfd stays open while any `Timers` handle, [`Sleep`],
/// [`Interval`] or [`Timeout`] made from it exists: dropping every
/// `Timers` handle while sleeps are pending leaves them working; the last
/// of them to go closes the descriptor. When the runtime shuts down, its
/// reactor is gone: from then on one thread of this `Timers`
/// (`iofd-timers`, started at the shutdown if a timer is armed, or by the
/// first timer polled after it) waits on the timerfd and fires the timers
/// as the reactor did. Timers still polled after the shutdown (from
/// another runtime or executor) complete at their deadline, never early
/// and never hanging, however many there are; the thread ends with the
/// last handle and timer.
///
/// # Caveats
///
/// - **`fork`.** A forked child shares the timerfd and tokio's epoll
///   instance with the parent: dropping the last `Timers` handle or timer
///   in the child deregisters the timerfd from that shared epoll, and the
///   parent's timers stop firing. In a forked child, `std::mem::forget`
///   them, or `exec` at once (as for the async handles, see `AsyncFd`'s
///   fork caveat in the crate's `tokio` wrappers).
/// - **Wakers run outside the lock.** Firing wakes every task due after
///   it has released the shared lock, so a waker may do anything,
///   including using these timers.
/// - **The runtime that made it fires it.** Timers are fired by the
///   reactor of the runtime that was current in [`Timers::new`], as
///   `tokio::time` timers are by their runtime's driver: awaited from
///   another runtime they work while that one runs, but not while it is
///   idle (a current-thread runtime outside `block_on`). After it shuts
///   down, see [Lifetime](Timers#lifetime).
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
/// let mut ticks = timers.interval(Duration::from_micros(250))?;
/// let (first, skipped) = ticks.tick().await; // at once, like tokio
/// let (second, _) = ticks.tick().await;
/// // One period later, or more if the first tick was taken late.
/// assert_eq!(second - first, Duration::from_micros(250) * (1 + skipped as u32));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct Timers {
    shared: Arc<Shared>,
}

/// What every handle and timer shares. The last one to go closes the
/// timerfd.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The one timerfd, registered with the runtime's reactor.
    timerfd: AsyncFd<TimerFd>,
    /// The reactor is gone (the runtime shut down).
    shut_down: AtomicBool,
    /// The timing thread that replaces the reactor after a shutdown runs
    /// (set under the lock, once).
    timing_thread: AtomicBool,
    slack: u64,
    /// `Instant` → `CLOCK_MONOTONIC` nanoseconds.
    base: MonotonicBase,
}

/// The part behind the lock.
pub(crate) struct State {
    pub(crate) deadlines: Deadlines,
    /// What the timerfd is armed at (`None`: disarmed or fired).
    armed: Option<u64>,
}

impl Timers {
    /// A timer service on the current tokio runtime, with
    /// [`DEFAULT_SLACK`]: one timerfd, registered with the runtime's
    /// reactor (no task, no thread).
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
        ::tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other(
                "no tokio runtime is current: create Timers inside a runtime \
                 (within `Runtime::block_on`, a task, or after `Runtime::enter`)",
            )
        })?;
        let timerfd = register(TimerFd::new()?, Interest::READABLE)?;
        let base = MonotonicBase::now()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                deadlines: Deadlines::new(),
                armed: None,
            }),
            timerfd,
            shut_down: AtomicBool::new(false),
            timing_thread: AtomicBool::new(false),
            slack: saturating_nanos(slack),
            base,
        });
        // Registers for the timerfd's readiness (pending: it is disarmed).
        Arc::new(FireOnReady {
            shared: Arc::downgrade(&shared),
            firing: Mutex::new(Vec::new()),
        })
        .wake();
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
    /// Unlike tokio's, it returns a `Result`: a zero period is an error
    /// (tokio panics), not a panic.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero `period`.
    pub fn interval(&self, period: Duration) -> io::Result<Interval> {
        self.interval_at(Instant::now(), period)
    }

    /// Ticks at `start`, then every `period`, as `tokio::time::interval_at`
    /// does.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero `period`.
    pub fn interval_at(&self, start: Instant, period: Duration) -> io::Result<Interval> {
        if period.is_zero() {
            return Err(invalid_input("an interval needs a non-zero period"));
        }
        Ok(Interval::new(self.clone(), start, period))
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

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Clone for Timers {
    /// Another handle on the same timers (an `Arc` clone).
    fn clone(&self) -> Timers {
        Timers {
            shared: Arc::clone(&self.shared),
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

/// How long the timing thread waits at most before it checks that its
/// timers still exist (they wake it when they go: a backstop).
const TIMING_THREAD_CHECK: rustix::time::Timespec = rustix::time::Timespec {
    tv_sec: 1,
    tv_nsec: 0,
};

/// The timing thread, once the runtime's reactor is gone: waits for the
/// timerfd (a duplicate: the same kernel timer, kept open while it waits),
/// and fires the timers as the reactor did, until every handle and timer of
/// `shared` is gone. It never gives up while they exist: the timers rely on
/// it (`Shared::is_driven`).
fn time_after_shutdown(shared: &Weak<Shared>, timerfd: &TimerFd) {
    let mut firing = Vec::new();
    loop {
        let mut fds = [rustix::event::PollFd::new(
            timerfd,
            rustix::event::PollFlags::IN,
        )];
        let fired = match rustix::event::poll(&mut fds, Some(&TIMING_THREAD_CHECK)) {
            Ok(n) => n > 0,
            Err(rustix::io::Errno::INTR) => false,
            // Not expected of poll on our own descriptor (ENOMEM at
            // worst): fire whatever is due, and try again a little later
            // rather than spin.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(1));
                true
            }
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if fired {
            // Read, so that an expiry nothing re-arms stops being ready
            // (this poll is level-triggered, unlike the reactor).
            let _ = timerfd.expirations();
            shared.fire_due(&mut firing);
        }
    }
}

impl Drop for Shared {
    /// Wakes the timing thread, if there is one, so that it ends now: the
    /// timerfd it waits on is the same kernel timer.
    fn drop(&mut self) {
        if *self.timing_thread.get_mut() {
            let _ = self.timerfd.get_ref().arm(Duration::ZERO, Duration::ZERO);
        }
    }
}

/// An instant so far ahead that it never comes (about 30 years).
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned lock is used
        // rather than turned into a panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the reactor is gone (the runtime shut down).
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Whether something fires the timers: the reactor, or after a
    /// shutdown the timing thread.
    pub(crate) fn is_driven(&self) -> bool {
        !self.is_shut_down() || self.timing_thread.load(Ordering::Acquire)
    }

    /// After a shutdown, makes sure the timing thread runs (starting it
    /// the first time); `true` when something fires the timers. Called with
    /// the lock held, so that one thread at most is started.
    ///
    /// `false` only when no thread can be started (the process is at its
    /// thread limit): the caller then waits for its deadline itself.
    pub(crate) fn ensure_driven(self: &Arc<Shared>, _state: &mut State) -> bool {
        if self.is_driven() {
            return true;
        }
        let Ok(timerfd) = self.timerfd.get_ref().try_clone() else {
            return false;
        };
        let shared = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("iofd-timers".into())
            .spawn(move || time_after_shutdown(&shared, &timerfd));
        if spawned.is_err() {
            return false;
        }
        self.timing_thread.store(true, Ordering::Release);
        true
    }

    /// `deadline` in nanoseconds on `CLOCK_MONOTONIC`, never earlier than
    /// `deadline` (the base clock reading came after the base `Instant`).
    pub(crate) fn key(&self, deadline: Instant) -> u64 {
        self.base.nanos_of(deadline)
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

/// The waker of the timerfd's readiness: tokio's I/O driver calls it when
/// the timerfd fires (or the reactor shuts down). It holds the shared state
/// weakly: once every handle and timer is gone, there is nothing to fire.
struct FireOnReady {
    shared: Weak<Shared>,
    /// The wakers of the timers being fired, woken once the shared lock is
    /// released; kept, so that it allocates only until it has held the
    /// largest batch. Only the firing path takes this lock (one firing at a
    /// time: the readiness waker is taken while it runs).
    firing: Mutex<Vec<Waker>>,
}

impl Wake for FireOnReady {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Fires every timer due, re-arms, and registers for the next
    /// readiness; loops if the timerfd fired again meanwhile.
    fn wake_by_ref(self: &Arc<Self>) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let waker = Waker::from(Arc::clone(self));
        let mut cx = Context::from_waker(&waker);
        loop {
            match shared.timerfd.poll_read_ready(&mut cx) {
                Poll::Pending => return,
                // The reactor is gone: the runtime is shutting down.
                Poll::Ready(Err(_)) => return shared.mark_shut_down(),
                Poll::Ready(Ok(mut guard)) => {
                    // Not read: re-arming resets the count, and the next
                    // expiry is a new edge.
                    guard.clear_ready();
                    let mut firing = self.firing.lock().unwrap_or_else(|p| p.into_inner());
                    shared.fire_due(&mut firing);
                }
            }
        }
    }
}

impl Shared {
    /// Pops every timer due now under one lock, re-arms, then wakes them.
    fn fire_due(&self, firing: &mut Vec<Waker>) {
        // On the deadlines' own scale: a timer is due here exactly when its
        // owner, reading `Instant::now()` later, finds its deadline passed.
        let now = self.key(Instant::now());
        let mut state = self.lock();
        state.armed = None;
        state.deadlines.pop_due(now, firing);
        self.rearm(&mut state);
        drop(state);
        for waker in firing.drain(..) {
            waker.wake();
        }
    }

    /// The reactor is gone: from now on the timing thread fires the
    /// timers, started now if any is armed (otherwise by the first timer
    /// polled).
    fn mark_shut_down(self: &Arc<Shared>) {
        let mut state = self.lock();
        self.shut_down.store(true, Ordering::Release);
        if state.deadlines.armed() > 0 {
            // If no thread can be started, each timer's next poll tries
            // again, and waits for its deadline itself if it fails too.
            self.ensure_driven(&mut state);
        }
    }
}
