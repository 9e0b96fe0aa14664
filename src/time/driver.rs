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
use std::future::{Future, IntoFuture};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use super::ClockTime;
use super::accuracy::Accuracy;
use super::clock::Base;
use super::deadlines::{Deadlines, KEEP};
use super::rerun::Rerun;
use super::shards::{self, MOVE_AHEAD, SHARDS, Shards};
use super::{Interval, Sleep, Timeout, default};
use crate::error::{invalid_input, invalid_input_owned};
use crate::helper_thread;
use crate::timerfd::saturating_nanos;
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
/// `RLIMIT_NOFILE`. `Timers` keeps the near deadlines in one heap and the
/// far one-shot ones in a coarse timing wheel, and arms one timerfd at the
/// earliest, so it is precise and scales to hundreds of thousands of
/// timers.
///
/// # Timeouts that cost little
///
/// Most timeouts never fire: they guard a request and are dropped when it
/// completes. A [`Timeout`] made at least about 67 ms before its deadline
/// is armed, at its first poll, in the polling thread's *shard* (each
/// `Timers` has 8, each behind a small spin lock of its own, and a thread
/// keeps one), not behind the lock every timer of the `Timers` shares;
/// dropping it takes it out again. The driver moves whatever is still
/// staged into its deadlines about 34 ms before the earliest of them is
/// due (in a wake-up it makes anyway when one comes first), and from there
/// it fires as any timer does: at its deadline, never early. Any other
/// one-shot deadline two or more wheel ticks (about 1 ms each) ahead waits
/// in a hierarchical wheel of coarse buckets, where arming and cancelling
/// it is O(1) whatever else is armed; it enters the precise heap a tick
/// before its bucket starts. A [`Sleep`] is 24 bytes; each armed timer
/// costs the driver a 48-byte slot (a staged timeout, a 32-byte shard
/// entry). Measured against tokio (README, "Performance"): arming and
/// cancelling a timeout cost 0.41–0.50× of tokio's with 0 or 1 000 000
/// other timers armed (the drop-in [`timeout`](super::timeout), which
/// first finds the runtime's default, about half of tokio's), and under
/// half of tokio's on 2 workers hammering one `Timers` (each worker arms
/// in its own shard). A lone far
/// timeout that does fire costs the driver two wake-ups, as a far sleep
/// does: the move out of its shard (straight into the heap, as it is near
/// then), and the firing.
///
/// # Accuracy
///
/// Each timer may have its own accuracy ([`Sleep::set_accuracy`],
/// [`Interval::set_accuracy`], [`Timeout::accuracy`]): how late it may
/// fire, never early. The driver picks each wake-up inside every armed
/// timer's window `[deadline, deadline + accuracy]` — at the latest
/// deadline not past the earliest window end — and fires every timer due
/// then, so that sloppy timers ride along with precise ones. The slack is
/// the accuracy of timers that set none. [`wake_ups`](Timers::wake_ups)
/// counts the wake-ups.
///
/// `Timers` is a cheap handle (an `Arc`): clone it into every task that
/// needs timers; all clones share one timerfd. Timers made on one runtime
/// may be awaited from any task, on any worker.
///
/// # Slack
///
/// The slack is the [accuracy](Timers#accuracy) of every timer that
/// sets none of its own. Timers due within the slack of each other (and
/// with no accuracy of their own) fire in one wake-up of the timerfd, at
/// the latest of their deadlines: the earliest of them is up to the slack
/// late, **none is ever early**. A larger slack costs
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
/// # Clocks
///
/// [`Timers::new`] keeps its deadlines on `CLOCK_MONOTONIC`, the clock of
/// `std::time::Instant`. [`Timers::with_clock`] puts them on any clock a
/// [`TimerFd`] supports; deadlines on it are [`ClockTime`]s
/// ([`sleep_until_time`](Timers::sleep_until_time),
/// [`Sleep::deadline_time`]), and durations work on every clock. The
/// kernel's documented semantics (`clock_gettime(2)`, `timerfd_create(2)`)
/// are what each gives across a suspend, which no test here can try:
///
/// - **`Monotonic`** does not count the time the system is suspended: a
///   10-minute sleep started before a 1-hour suspend fires 10 minutes of
///   *running* time later, 70 minutes of real time.
/// - **`Boottime`** is "identical to `CLOCK_MONOTONIC`, except it also
///   includes any time that the system is suspended": the timerfd expires
///   on that clock, so a 10-minute lease expires 10 minutes of real time
///   later; if that passed during the suspend, it fires as soon as the
///   system resumes. It does not wake the system.
/// - **`Realtime`** is the wall clock, which can be set (`date -s`, an NTP
///   step). The driver arms its timerfd with `TFD_TIMER_CANCEL_ON_SET`, so
///   that a set clock makes the descriptor readable (`ECANCELED`): the
///   driver then compares every deadline with the new time, fires those
///   now past, and re-arms for the others. A deadline "at 03:00" fires at
///   03:00 on the wall clock, whatever the clock did meanwhile; never
///   before. A *duration* on it is a wall-clock deadline too: set the clock
///   back an hour, and a pending 10-second sleep lasts an hour more.
/// - **`RealtimeAlarm`**, **`BoottimeAlarm`** are `Realtime` and
///   `Boottime` that also wake a suspended system. They need
///   `CAP_WAKE_ALARM`; without it [`with_clock`](Timers::with_clock)
///   returns the kernel's `EPERM` (`ErrorKind::PermissionDenied`).
///
/// An `Instant` given to a `Timers` on another clock ([`sleep_until`],
/// [`interval_at`], [`Sleep::reset`]) is taken relative to now: a deadline
/// `d` from now on `CLOCK_MONOTONIC` becomes `d` from now on the clock; and
/// [`Sleep::deadline`] maps back the same way. An [`Interval`] keeps its
/// schedule in `Instant`s: on another clock its ticks are fired by that
/// clock's timerfd but counted on `CLOCK_MONOTONIC` (across a suspend, a
/// `Boottime` interval ticks as a monotonic one would). [`Sleep`]s and
/// [`Timeout`]s are on the clock throughout.
///
/// ```
/// use std::time::Duration;
/// use iofd::Clock;
/// use iofd::time::Timers;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let boot = Timers::with_clock(Clock::Boottime)?;
/// let lease = boot.now()? + Duration::from_micros(300); // counts across a suspend
/// boot.sleep_until_time(lease)?.await;
/// assert!(boot.now()? >= lease); // never early, on that clock
/// # Ok(())
/// # }
/// ```
///
/// [`sleep_until`]: Timers::sleep_until
/// [`interval_at`]: Timers::interval_at
///
/// # Lifetime
///
/// The timerfd stays open while any `Timers` handle, [`Sleep`],
/// [`Interval`] or [`Timeout`] made from it exists: dropping every
/// `Timers` handle while sleeps are pending leaves them working; the last
/// of them to go closes the descriptor. When the runtime shuts down, its
/// reactor is gone: from then on the process's one helper thread
/// (`iofd-helper`, started at the shutdown if a timer is armed, or by the
/// first timer polled after it) waits on the timerfd and fires the timers
/// as the reactor did. That thread serves every `Timers` of the process
/// whose runtime is gone, with two descriptors of its own (an epoll
/// instance and an eventfd; none per `Timers`), blocks without a timeout
/// while no timer is armed, and ends with the last `Timers` it serves.
/// Timers still polled after the shutdown (from another runtime or
/// executor) complete at their deadline, never early and never hanging,
/// however many there are.
///
/// If that thread cannot serve the timerfd (no descriptor left for its
/// epoll instance), a timer's poll never blocks and never completes
/// early: the timer asks the same thread for a timed wake-up at its
/// deadline instead. The thread needs no descriptor for that (when none is
/// left it runs descriptor-free, on a condition variable with a timeout,
/// and switches to epoll once it can make its descriptors), no runtime and
/// no tokio blocking pool: the wake-up comes on time whatever the runtime
/// is doing (busy pool, shut down), dropping a runtime never waits for it,
/// and it costs one wake-up per deadline (per tick of an interval). At
/// that wake-up the timer reads its clock and tries to be served again.
/// A wake-up asked for by a timer dropped meanwhile still comes (the
/// thread lives until then). On a clock other than `CLOCK_MONOTONIC` the
/// wake-up comes at most a second ahead, so that a clock change or a
/// suspend is noticed. Only where the thread itself cannot be spawned (the
/// process at its thread limit) is the task woken at once to poll again
/// (it yields to the others, and spends CPU) until its deadline passes or
/// the thread can be started.
///
/// The free functions ([`sleep`](super::sleep), …) behave the same way
/// when the current runtime's default `Timers` cannot be made for want of
/// a resource (no descriptor left, no memory): rather than panic where
/// `tokio::time` works, they serve that call from a stand-in with no
/// descriptor, woken by timed wake-ups as above, and the next call tries
/// to make the default again. A stand-in timer (a drop-in interval made
/// during such a spell) tries the default again at each of its wake-ups
/// until it has been armed once, and moves there once it can be made.
///
/// # Cooperative scheduling
///
/// [`Sleep`], [`Interval`] and [`Timeout`] take part in tokio's coop
/// budget as tokio's own timers do: a timer that is always ready (a loop
/// of zero sleeps, an interval catching up in [`Burst`]) makes its task
/// yield after the budget's 128 units, so that other tasks run. The
/// timerfd's own registration with the reactor never depends on the
/// budget: a `Timers` can be made on any thread (a worker, the
/// `block_on` thread of either runtime flavour, inside `block_in_place`
/// or `spawn_blocking`), whatever its task has spent.
///
/// [`Burst`]: super::MissedTickBehavior::Burst
///
/// # Caveats
///
/// - **`fork`.** A forked child shares the timerfd and tokio's epoll
///   instance with the parent: dropping the last `Timers` handle or timer
///   in the child deregisters the timerfd from that shared epoll, and the
///   parent's timers stop firing. In a forked child, `std::mem::forget`
///   them, or `exec` at once, as for the async handles (see the caveats of
///   [`AsyncEventFd`](crate::AsyncEventFd#caveats)).
/// - **tokio's paused clock does not drive these timers.** They run on
///   `CLOCK_MONOTONIC`, not on tokio's clock: under `start_paused`,
///   `tokio::time::pause` or `advance`, an iofd `sleep(1 s)` still takes a
///   real second; and since tokio auto-advances past the timers it can
///   see, `tokio::time::timeout(1 h, iofd_sleep)` in a paused runtime
///   returns `Elapsed` at once, whatever the iofd sleep's length. In
///   tests, use a real clock (no pause) with short, generous deadlines,
///   and check counts and order rather than exact times; or give the code
///   under test a `Timers` with large slack and deadlines in microseconds.
/// - **Wakers run outside the lock.** Firing wakes every task due after
///   it has released the shared lock, so a waker may do anything,
///   including using these timers. Arming, re-polling, resetting and
///   dropping a timer clone and drop wakers outside every lock too. One
///   exception: firing an [`Interval`] clones its task's waker under the
///   lock (the slot keeps one, so that the next tick needs no lock), so a
///   waker whose `clone` itself uses these timers (no waker of tokio or
///   `std::task::Wake` does: theirs is a reference count) must not wait
///   on an interval.
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
/// let (first, skipped) = ticks.tick_with_missed().await; // at once, like tokio
/// let (second, _) = ticks.tick_with_missed().await;
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
    /// On a cache line of its own: every arm and cancel writes the lock,
    /// and the fields below are read on every poll.
    state: Padded<Mutex<State>>,
    /// The one timerfd, registered with the runtime's reactor; `None` for
    /// a stand-in made when no descriptor could be had (see
    /// [`Timers::without_descriptor`]).
    timerfd: Option<AsyncFd<TimerFd>>,
    /// The reactor is gone (the runtime shut down).
    shut_down: AtomicBool,
    /// The process's timing thread fires these timers in place of the
    /// reactor (set under the lock, once; its key is `State::served_as`).
    served: AtomicBool,
    slack: u64,
    /// The slack, as the accuracy of timers that have none of their own.
    slack_accuracy: Accuracy,
    /// The clock, and `Instant` → its nanoseconds.
    base: Base,
    /// The clock can be set: arm with `TFD_TIMER_CANCEL_ON_SET`, so that a
    /// clock change wakes the driver to look at the deadlines again.
    cancel_on_set: bool,
    /// The runtime this is the default `Timers` of (`Timers::current`).
    default_for: std::sync::OnceLock<::tokio::runtime::Id>,
    /// Far timeouts, armed without the lock above until the driver moves
    /// them into `State::deadlines` (see [`shards`](super::shards)).
    shards: Shards,
}

/// A value alone on its cache lines (two, as x86 prefetches in pairs).
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// The part behind the lock.
pub(crate) struct State {
    pub(crate) deadlines: Deadlines,
    /// What the timerfd is armed at (`None`: disarmed or fired).
    armed: Option<u64>,
    /// The key the timing thread serves these timers by.
    served_as: Option<u64>,
    /// Wake-ups so far (`Timers::wake_ups`).
    wake_ups: u64,
    /// By when the driver must visit each of [`Shared::shards`] (to move
    /// the timeouts staged there, in time): [`MOVE_AHEAD`] before the
    /// earliest deadline it was told of; `u64::MAX` when told of none.
    shard_due: [u64; SHARDS],
}

impl Timers {
    /// A timer service on the current tokio runtime, with
    /// [`DEFAULT_SLACK`]: one timerfd, registered with the runtime's
    /// reactor (no task, no thread while the runtime runs; see
    /// [Lifetime](Timers#lifetime)).
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
        Timers::with_clock_and_slack(Clock::Monotonic, slack)
    }

    /// A timer service on `clock`, with [`DEFAULT_SLACK`]: see
    /// [Clocks](Timers#clocks).
    ///
    /// # Errors
    ///
    /// As [`TimerFd::with_clock`]: the alarm clocks need `CAP_WAKE_ALARM`
    /// (`PermissionDenied`, the kernel's `EPERM`, without it); as
    /// [`Timers::new`].
    pub fn with_clock(clock: Clock) -> io::Result<Timers> {
        Timers::with_clock_and_slack(clock, DEFAULT_SLACK)
    }

    /// A timer service on `clock` whose timers due within `slack` of each
    /// other fire in one wake-up.
    ///
    /// # Errors
    ///
    /// As [`Timers::with_clock`] and [`Timers::with_slack`].
    pub fn with_clock_and_slack(clock: Clock, slack: Duration) -> io::Result<Timers> {
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
        let timerfd = register(TimerFd::with_clock(clock)?, Interest::READABLE)?;
        let base = Base::now(clock)?;
        let shared = Shared::new(Some(timerfd), base, slack, clock);
        // Registers for the timerfd's readiness (pending: it is disarmed),
        // whatever the task's coop budget (see `FireOnReady::poll_once`).
        Arc::new(FireOnReady {
            shared: Arc::downgrade(&shared),
            firing: Mutex::new(Vec::new()),
            rerun: Rerun::new(),
        })
        .wake();
        Ok(Timers { shared })
    }

    /// A stand-in for the drop-in functions when the current runtime's
    /// default cannot be made (no descriptor left, or no memory for the
    /// reactor's registration): timers on `CLOCK_MONOTONIC` with no
    /// timerfd, as after a runtime shutdown when the timing thread cannot
    /// start. Each of its timers completes at its deadline, never early,
    /// woken through the fallback of `registration::poll_again` (and
    /// moves to the runtime's default once that can be made).
    ///
    /// One for the process, made the first time one is needed (a few
    /// kilobytes, no descriptor): its timers never take a slot.
    pub(crate) fn without_descriptor() -> Timers {
        static STAND_IN: std::sync::OnceLock<Timers> = std::sync::OnceLock::new();
        STAND_IN
            .get_or_init(|| {
                let base = Base::monotonic();
                let shared = Shared::new(None, base, DEFAULT_SLACK, Clock::Monotonic);
                shared.shut_down.store(true, Ordering::Release);
                Timers { shared }
            })
            .clone()
    }
}

impl Shared {
    fn new(
        timerfd: Option<AsyncFd<TimerFd>>,
        base: Base,
        slack: Duration,
        clock: Clock,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            state: Padded(Mutex::new(State {
                deadlines: Deadlines::starting_at(base.now_nanos()),
                armed: None,
                served_as: None,
                wake_ups: 0,
                shard_due: [u64::MAX; SHARDS],
            })),
            timerfd,
            shut_down: AtomicBool::new(false),
            served: AtomicBool::new(false),
            slack: saturating_nanos(slack),
            slack_accuracy: Accuracy::from_duration(slack),
            base,
            cancel_on_set: matches!(clock, Clock::Realtime | Clock::RealtimeAlarm),
            default_for: std::sync::OnceLock::new(),
            shards: Shards::new(),
        })
    }
}

impl Timers {
    /// A handle on `shared`.
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Timers {
        Timers { shared }
    }

    /// The clock its deadlines are on.
    pub fn clock(&self) -> Clock {
        self.shared.base.clock()
    }

    /// Now on its clock.
    ///
    /// # Errors
    ///
    /// As [`ClockTime::now`].
    pub fn now(&self) -> io::Result<ClockTime> {
        ClockTime::now(self.clock())
    }

    /// A future that completes at `deadline` on this service's clock
    /// (for a wall-clock deadline, "at 03:00", on a
    /// [`Clock::Realtime`] service): see [Clocks](Timers#clocks).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `deadline` is on another clock.
    pub fn sleep_until_time(&self, deadline: ClockTime) -> io::Result<Sleep> {
        if deadline.clock() != self.clock() {
            return Err(invalid_input_owned(format!(
                "a deadline on {:?} for timers on {:?}",
                deadline.clock(),
                self.clock()
            )));
        }
        let key = saturating_nanos(deadline.since_zero());
        Ok(Sleep::new(self.clone(), key, false, false))
    }

    /// The coalescing window of this service (see [Slack](Timers#slack)).
    pub fn slack(&self) -> Duration {
        Duration::from_nanos(self.shared.slack)
    }

    /// A future that completes `duration` from now, as
    /// `tokio::time::sleep` does, with nanosecond precision (plus the
    /// slack).
    pub fn sleep(&self, duration: Duration) -> Sleep {
        self.sleep_for(duration, false)
    }

    /// A sleep of `duration` from now; `for_timeout` if it is a
    /// [`Timeout`]'s, which a far one may arm in a shard (see
    /// [`shards`]). The flags are set here, with the rest, rather than
    /// after: a byte written into the returned `Sleep` and then read back
    /// with its neighbours stalls the CPU's store forwarding (measured: 4
    /// ns of a 55 ns timeout).
    #[inline]
    fn sleep_for(&self, duration: Duration, for_timeout: bool) -> Sleep {
        self.clone().into_sleep(duration, for_timeout)
    }

    /// As [`sleep_for`](Timers::sleep_for), with this handle moved into
    /// the sleep (the drop-in functions' own handle: no clone).
    #[inline]
    pub(crate) fn into_sleep(self, duration: Duration, for_timeout: bool) -> Sleep {
        // One clock reading; the deadline in the driver's nanoseconds
        // (saturating: `u64::MAX` is 584 years of uptime, never reached).
        let now = self.shared.now_key();
        let far = duration >= super::sleep::FAR_ENOUGH;
        let stageable = for_timeout && duration >= shards::STAGE_AHEAD;
        Sleep::new(
            self,
            now.saturating_add(saturating_nanos(duration)),
            far,
            stageable,
        )
    }

    /// A future that completes `duration` from now, up to `accuracy`
    /// later, never earlier: [`sleep`](Timers::sleep) then
    /// [`Sleep::accuracy`].
    pub fn sleep_with_accuracy(&self, duration: Duration, accuracy: Duration) -> Sleep {
        self.sleep(duration).accuracy(accuracy)
    }

    /// A future that completes at `deadline`, as `tokio::time::sleep_until`
    /// does.
    ///
    /// `deadline` is a `std::time::Instant` or a `tokio::time::Instant`.
    pub fn sleep_until(&self, deadline: impl Into<Instant>) -> Sleep {
        Sleep::new(self.clone(), self.shared.key(deadline.into()), false, false)
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
    pub fn interval_at(&self, start: impl Into<Instant>, period: Duration) -> io::Result<Interval> {
        if period.is_zero() {
            return Err(invalid_input("an interval needs a non-zero period"));
        }
        Ok(Interval::new(self.clone(), start.into(), period))
    }

    /// Runs `future` for at most `duration`: its output, or
    /// [`Elapsed`](super::Elapsed) if the time ran out first, as
    /// `tokio::time::timeout` does.
    pub fn timeout<F: IntoFuture>(&self, duration: Duration, future: F) -> Timeout<F::IntoFuture> {
        Timeout::new(future.into_future(), self.sleep_for(duration, true))
    }

    /// Runs `future` until `deadline` at most, as
    /// `tokio::time::timeout_at` does.
    pub fn timeout_at<F: IntoFuture>(
        &self,
        deadline: impl Into<Instant>,
        future: F,
    ) -> Timeout<F::IntoFuture> {
        Timeout::new(future.into_future(), self.sleep_until(deadline))
    }

    /// How many timers are armed now: polled and waiting for their
    /// deadline in the driver (its heap or its wheel).
    ///
    /// Not how many exist: a [`Sleep`] or [`Timeout`] not yet polled, one
    /// that has fired, and an [`Interval`] parked because its task stopped
    /// polling it (see [Wake-ups](Interval#wake-ups)) are not counted.
    pub fn armed(&self) -> usize {
        self.shared.lock().deadlines.armed() + self.shared.shards.staged()
    }

    /// How many times the timerfd has woken the driver so far: each
    /// wake-up fires every timer then due. Fewer wake-ups for the same
    /// timers means less CPU; see [Slack](Timers#slack) and
    /// [`Sleep::set_accuracy`].
    pub fn wake_ups(&self) -> u64 {
        self.shared.lock().wake_ups
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
        let mut timers = f.debug_struct("Timers");
        match &self.shared.timerfd {
            Some(timerfd) => timers.field("timerfd", &std::os::fd::AsRawFd::as_raw_fd(timerfd)),
            None => timers.field("timerfd", &format_args!("none (a stand-in)")),
        };
        timers
            .field("clock", &self.clock())
            .field("slack", &self.slack())
            .field("armed", &self.armed())
            .finish()
    }
}

impl helper_thread::Fire for Shared {
    fn fire(&self, scratch: &mut Vec<Waker>) {
        self.fire_from_thread(scratch);
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.timerfd
            .as_ref()
            .map(|timerfd| timerfd.get_ref().as_fd())
    }
}

impl Drop for Shared {
    /// The timing thread, if it serves these timers, forgets them (and
    /// ends if they were its last); the timerfd leaves its epoll instance
    /// before it is closed.
    fn drop(&mut self) {
        let state = self.state.0.get_mut().unwrap_or_else(|p| p.into_inner());
        if let (Some(key), Some(timerfd)) = (state.served_as, &self.timerfd) {
            helper_thread::forget(key, timerfd.get_ref().as_fd());
        }
    }
}

/// An instant so far ahead that it never comes (about 30 years).
pub(crate) fn far_future() -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_secs(86_400 * 365 * 30))
        .unwrap_or(now)
}

/// `at + duration`, or an instant that never comes if that is past the
/// end of `Instant` (never earlier than `at`): every `Instant + Duration`
/// of this module goes through it, so none panics.
pub(crate) fn saturating_add(at: Instant, duration: Duration) -> Instant {
    at.checked_add(duration)
        .unwrap_or_else(|| far_future().max(at))
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned lock is used
        // rather than turned into a panic.
        self.state
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether it is the drop-in functions' stand-in, with no timerfd.
    pub(crate) fn is_stand_in(&self) -> bool {
        self.timerfd.is_none()
    }

    /// Whether the reactor is gone (the runtime shut down).
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Whether something fires the timers: the reactor, or after a
    /// shutdown the process's timing thread.
    pub(crate) fn is_driven(&self) -> bool {
        !self.is_shut_down() || self.served.load(Ordering::Acquire)
    }

    /// After a shutdown, makes sure the process's timing thread serves
    /// these timers (starting it if it does not run); `true` when
    /// something fires them. Called with the lock held.
    ///
    /// `false` only when the thread cannot be started (no descriptor left
    /// for its epoll instance, or the process is at its thread limit): the
    /// caller then has its task polled again soon, and tries again.
    pub(crate) fn ensure_driven(self: &Arc<Shared>, state: &mut State) -> bool {
        if self.is_driven() {
            return true;
        }
        // A stand-in without a descriptor: nothing can serve it.
        let Some(timerfd) = &self.timerfd else {
            return false;
        };
        let weak: std::sync::Weak<Shared> = Arc::downgrade(self);
        let fire: std::sync::Weak<dyn helper_thread::Fire> = weak;
        match helper_thread::serve(fire, timerfd.get_ref().as_fd()) {
            Ok(key) => {
                state.served_as = Some(key);
                self.served.store(true, Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }

    /// `deadline` in nanoseconds on `CLOCK_MONOTONIC`, never earlier than
    /// `deadline` (the base clock reading came after the base `Instant`).
    pub(crate) fn key(&self, deadline: Instant) -> u64 {
        self.base.nanos_of(deadline)
    }

    /// The `Instant` of a deadline `key` (the inverse of
    /// [`key`](Shared::key)).
    pub(crate) fn instant_of(&self, key: u64) -> Instant {
        self.base.instant_of(key)
    }

    /// Now, on the deadlines' scale.
    pub(crate) fn now_key(&self) -> u64 {
        self.base.now_nanos()
    }

    /// The clock.
    pub(crate) fn clock(&self) -> Clock {
        self.base.clock()
    }

    /// Makes the timerfd fire in time for the earliest armed deadline:
    /// between it and it plus the slack. Called with the lock held, after
    /// every change that may have made a deadline earlier.
    /// The slack, as an accuracy.
    pub(crate) fn slack_accuracy(&self) -> Accuracy {
        self.slack_accuracy
    }

    /// As [`rearm`](Shared::rearm), after a deadline was scheduled: `by`
    /// is what [`Deadlines::schedule_with`] returned, when the driver
    /// must next run for it. If the timerfd already fires by then, nothing
    /// changes (and nothing else is looked at): every other timer was
    /// already served by it.
    pub(crate) fn rearm_after(&self, state: &mut State, by: u64) {
        if state.armed.is_none_or(|armed| armed > by) {
            self.rearm(state);
        }
    }

    /// Makes the timerfd fire inside every armed timer's window (see
    /// [`Deadlines::wake_target`]): at the latest deadline not past the
    /// end of the earliest-ending window, or when the wheel must move its
    /// next bucket into the heap. Called with the lock held, after every
    /// change that may need an earlier wake-up.
    pub(crate) fn rearm(&self, state: &mut State) {
        // A shard's visit may come any time before it is due: it rides
        // along with the deadlines' wake-up if that comes first.
        let visit = state.shard_due.iter().copied().min().unwrap_or(u64::MAX);
        let (at, latest) = match state.deadlines.wake_target() {
            Some((at, latest)) => (at.min(visit), latest.min(visit)),
            None if visit < u64::MAX => (visit, visit),
            None => return,
        };
        if latest == u64::MAX || state.armed.is_some_and(|armed| armed <= latest) {
            return;
        }
        // The wheel's own processing already due: a far deadline placed
        // against a processed tick left stale by an idle spell (the tick
        // moves only when the driver runs) landed in a coarse bucket that
        // starts in the past. Processed here, now, rather than by a
        // wake-up at once for nothing else (one clock reading, next to the
        // `timerfd_settime` this path makes anyway); after it the wheel's
        // next due time is in the future.
        if state.deadlines.wheel_due().is_some_and(|due| due <= at) {
            let now = self.now_key();
            if at <= now {
                state.deadlines.advance(now);
                return self.rearm(state);
            }
        }
        let at = at.max(1);
        // An error here (none is expected: the descriptor is ours and the
        // time valid) leaves `armed` unset, so the next change retries.
        let Some(timerfd) = &self.timerfd else {
            return;
        };
        let timerfd = timerfd.get_ref();
        let at_time = Duration::from_nanos(at);
        let armed = if self.cancel_on_set {
            timerfd.arm_at_cancel_on_set(at_time, Duration::ZERO)
        } else {
            timerfd.arm_at(at_time, Duration::ZERO)
        };
        if armed.is_ok() {
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
    /// largest batch. Only the firing path takes this lock.
    firing: Mutex<Vec<Waker>>,
    /// Only one call runs at a time, and none recurses: a wake during a
    /// run (from another thread, or from inside the run) makes it run once
    /// more.
    rerun: Rerun,
}

impl Wake for FireOnReady {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Fires every timer due, re-arms, and registers for the next
    /// readiness; runs again if woken meanwhile. Never recurses.
    fn wake_by_ref(self: &Arc<Self>) {
        let waker = Waker::from(Arc::clone(self));
        let mut cx = Context::from_waker(&waker);
        self.rerun.wake(|| self.run(&mut cx));
    }
}

impl FireOnReady {
    /// Fires while the timerfd is ready, until tokio has the waker again
    /// (pending) or the reactor is gone.
    fn run(&self, cx: &mut Context<'_>) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        loop {
            match poll_readiness(&shared, cx) {
                Poll::Pending => return,
                // The reactor is gone: the runtime is shutting down.
                Poll::Ready(Err(_)) => return shared.mark_shut_down(),
                Poll::Ready(Ok(())) => {
                    let mut firing = self.firing.lock().unwrap_or_else(|p| p.into_inner());
                    shared.fire_due(&mut firing);
                }
            }
        }
    }
}

/// Polls the timerfd's readiness outside tokio's coop budget, clearing it
/// when ready (not read: re-arming resets the count, and the next expiry
/// is a new edge).
///
/// `AsyncFd::poll_read_ready` consumes a unit of the calling task's budget
/// and, when none is left, defers the waker instead of registering it:
/// on the `block_on` thread of a multi-thread runtime that wakes it at
/// once (it would recurse), and on a current-thread runtime it joins a
/// list dropped with the `block_on` call (the registration would be lost).
/// This registration is the reactor's, not the task's: it must not depend
/// on what the task that happens to run it has spent.
fn poll_readiness(shared: &Shared, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let Some(timerfd) = &shared.timerfd else {
        return Poll::Ready(Err(io::Error::other("no timerfd")));
    };
    let readiness = std::future::poll_fn(|cx| {
        timerfd
            .poll_read_ready(cx)
            .map_ok(|mut guard| guard.clear_ready())
    });
    pin!(::tokio::task::coop::unconstrained(readiness)).poll(cx)
}

impl Shared {
    /// Pops every timer due now under one lock, re-arms, then wakes them.
    fn fire_due(&self, firing: &mut Vec<Waker>) {
        // On the deadlines' own scale: a timer is due here exactly when its
        // owner, reading `Instant::now()` later, finds its deadline passed.
        let now = self.now_key();
        let mut state = self.lock();
        state.armed = None;
        state.wake_ups += 1;
        // The wheel first, so that the timeouts moved out of the shards
        // are placed against the current tick.
        state.deadlines.advance(now);
        self.visit_shards(&mut state, now);
        state.deadlines.pop_due(now, firing);
        self.rearm(&mut state);
        drop(state);
        let batch = firing.len();
        for waker in firing.drain(..) {
            waker.wake();
        }
        // Not kept at a past peak: back to twice the batch once batches
        // fall below a quarter of it (see `Deadlines`).
        if firing.capacity() > KEEP && batch < firing.capacity() / 4 {
            firing.shrink_to((2 * batch).max(KEEP));
        }
    }

    /// Fires from the process's timing thread, after the timerfd was
    /// found readable: reads it first (the thread's epoll is
    /// level-triggered, and an expiry nothing re-arms must stop being
    /// ready).
    fn fire_from_thread(&self, firing: &mut Vec<Waker>) {
        if let Some(timerfd) = &self.timerfd {
            let _ = timerfd.get_ref().expirations();
        }
        self.fire_due(firing);
    }

    /// The reactor is gone: from now on the timing thread fires the
    /// timers, asked now if any is armed (otherwise by the first timer
    /// polled).
    fn mark_shut_down(self: &Arc<Shared>) {
        let mut state = self.lock();
        self.shut_down.store(true, Ordering::Release);
        // Timeouts staged in a shard the driver was not told of (their
        // thread staged them as the runtime went): visited at once.
        let mut untold = false;
        for shard in 0..SHARDS {
            if state.shard_due[shard] == u64::MAX && self.shards.staged_in(shard) > 0 {
                state.shard_due[shard] = 0;
                untold = true;
            }
        }
        let mut stranded = Vec::new();
        if state.deadlines.armed() > 0 || state.shard_due.iter().any(|&due| due < u64::MAX) {
            // If the thread cannot serve them, each timer's next poll
            // tries again; a staged timeout's task is woken to poll.
            if !self.ensure_driven(&mut state) {
                stranded = self.strand_shards(&mut state);
            } else if untold {
                state.armed = None;
                self.rearm(&mut state);
            }
        }
        drop(state);
        for waker in stranded {
            waker.wake();
        }
        if let Some(&id) = self.default_for.get() {
            default::forget(id, self);
        }
    }

    /// Moves the timeouts of every shard due for a visit by `now` (or
    /// within [`MOVE_AHEAD`] of it: an early visit costs nothing, and may
    /// save a wake-up) into the deadlines. Called with the lock held.
    fn visit_shards(&self, state: &mut State, now: u64) {
        let horizon = now.saturating_add(MOVE_AHEAD);
        for shard in 0..SHARDS {
            if state.shard_due[shard] <= horizon {
                state.shard_due[shard] = if self.shards.move_into(shard, &mut state.deadlines, now)
                {
                    u64::MAX
                } else {
                    // No slot to be had (four billion timers): again in
                    // a second.
                    now.saturating_add(1_000_000_000)
                };
            }
        }
    }

    /// Nothing can fire these timers (see [`ensure_driven`]): forgets the
    /// shards' dues, and hands back the wakers of every staged timeout,
    /// for the caller to wake once the lock is released (each polls its
    /// timeout, which then waits as any timer does when nothing fires
    /// it). Called with the lock held.
    ///
    /// [`ensure_driven`]: Shared::ensure_driven
    pub(crate) fn strand_shards(&self, state: &mut State) -> Vec<Waker> {
        state.shard_due = [u64::MAX; SHARDS];
        (0..SHARDS)
            .flat_map(|shard| self.shards.wake_staged(shard))
            .collect()
    }

    /// The shards of far timeouts.
    pub(crate) fn shards(&self) -> &Shards {
        &self.shards
    }

    /// A timeout staged in `shard` is due at `at`, before every one the
    /// driver was told of there: the driver visits the shard by
    /// [`MOVE_AHEAD`] before it. `false` if nothing can fire the timers
    /// (the runtime is gone, and the timing thread cannot start): the
    /// caller then takes the timeout back.
    pub(crate) fn tell(self: &Arc<Shared>, shard: usize, at: u64) -> bool {
        let mut state = self.lock();
        if !self.ensure_driven(&mut state) {
            // The others staged (in any shard) wait for a visit that
            // cannot come either: their tasks are woken to poll.
            let stranded = self.strand_shards(&mut state);
            drop(state);
            for waker in stranded {
                waker.wake();
            }
            return false;
        }
        let due = at.saturating_sub(MOVE_AHEAD);
        if due < state.shard_due[shard] {
            state.shard_due[shard] = due;
            self.rearm_after(&mut state, due);
        }
        true
    }

    /// Marks these timers as runtime `id`'s default.
    pub(crate) fn set_default_for(&self, id: ::tokio::runtime::Id) {
        let _ = self.default_for.set(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn current_thread() -> ::tokio::runtime::Runtime {
        ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A far timeout's first poll arms it in the polling thread's shard,
    /// not in the deadlines; the timerfd is armed for the driver's visit
    /// to that shard, which moves it into the deadlines; a near one goes
    /// to the deadlines at once.
    #[test]
    fn far_timeouts_are_staged_then_moved() {
        current_thread().block_on(async {
            let timers = Timers::new().unwrap();
            let mut cx = Context::from_waker(Waker::noop());
            let mut far = timers.timeout(Duration::from_secs(10), std::future::pending::<()>());
            assert!(std::pin::Pin::new(&mut far).poll(&mut cx).is_pending());
            let key = timers.shared.key(far.deadline());
            let mut state = timers.shared.lock();
            assert_eq!(state.deadlines.armed(), 0, "staged, not in the deadlines");
            assert_eq!(timers.shared.shards.staged(), 1);
            let due = state.shard_due[shards::mine()];
            assert!(
                key - due >= MOVE_AHEAD && key - due <= MOVE_AHEAD + 1_000,
                "{key} {due}"
            );
            assert!(
                state.armed.is_some_and(|armed| armed <= due),
                "the timerfd fires by the visit"
            );
            // The visit.
            timers.shared.visit_shards(&mut state, due);
            assert_eq!(state.deadlines.armed(), 1, "moved");
            assert_eq!(timers.shared.shards.staged(), 0);
            assert!(state.shard_due.iter().all(|&due| due == u64::MAX));
            drop(state);
            assert_eq!(timers.armed(), 1);
            drop(far);
            assert_eq!(timers.armed(), 0);

            let mut near = timers.timeout(Duration::from_millis(20), std::future::pending::<()>());
            assert!(std::pin::Pin::new(&mut near).poll(&mut cx).is_pending());
            assert_eq!(timers.shared.lock().deadlines.armed(), 1, "not staged");
            assert_eq!(timers.shared.shards.staged(), 0);
        });
    }

    /// 1 000 000 sleeps (20 000 under valgrind) armed and dropped: the
    /// slab and the heap are back to their smallest; a firing of many
    /// timers followed by one of a few leaves the firing list small.
    #[test]
    fn memory_comes_back_after_a_million_sleeps() {
        let n = if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
            20_000
        } else {
            1_000_000
        };
        current_thread().block_on(async {
            let timers = Timers::new().unwrap();
            let capacities = || timers.shared.lock().deadlines.capacities();
            let mut cx = Context::from_waker(Waker::noop());
            let mut sleeps: Vec<Sleep> = (0..n)
                .map(|_| timers.sleep(Duration::from_secs(3600)))
                .collect();
            for sleep in &mut sleeps {
                assert!(std::pin::Pin::new(sleep).poll(&mut cx).is_pending());
            }
            assert_eq!(timers.armed(), n);
            assert!(capacities().0 >= n);
            drop(sleeps);
            assert_eq!(timers.armed(), 0);
            // Hour-long sleeps wait in the wheel: the heap never grew.
            let (slab, heap) = capacities();
            assert_eq!(slab, KEEP, "after {n} sleeps dropped");
            assert!(heap <= KEEP, "{heap}");

            // The firing list: 10 000 due at once, then one.
            let mut firing = Vec::new();
            let past = Instant::now();
            let mut sleeps: Vec<Sleep> = (0..10_000)
                .map(|_| timers.sleep_until(past + Duration::from_secs(600)))
                .collect();
            for sleep in &mut sleeps {
                assert!(std::pin::Pin::new(sleep).poll(&mut cx).is_pending());
            }
            for sleep in &mut sleeps {
                sleep.reset(past);
            }
            timers.shared.fire_due(&mut firing);
            assert!(firing.capacity() >= 10_000);
            let mut one = timers.sleep_until(past + Duration::from_secs(600));
            assert!(std::pin::Pin::new(&mut one).poll(&mut cx).is_pending());
            one.reset(past);
            timers.shared.fire_due(&mut firing);
            assert!(firing.capacity() <= KEEP, "{}", firing.capacity());
        });
    }
}
