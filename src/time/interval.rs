//! [`Interval`]: periodic ticks timed by a [`Timers`] driver, each with the
//! count of periods a late task missed.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures_core::Stream;

use super::Timers;
use super::accuracy::Accuracy;
use super::driver::saturating_add;
use super::registration::Registration;

/// How late a tick may be taken before [`MissedTickBehavior::Delay`]
/// restarts the schedule (tokio's rule), unless a whole period is missed
/// first.
const DELAY_AFTER: Duration = Duration::from_millis(5);

/// What an [`Interval`] does when a task comes for a tick later than one
/// period: whatever it picks, [`tick`](Interval::tick) accounts for every
/// period, so none is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub enum MissedTickBehavior {
    /// One tick stands for every period that passed: it carries the
    /// deadline of the first one due and the count of the others
    /// (`missed`), and the next tick stays on the original schedule. One
    /// wake-up however late the task is, like a timerfd's expiration
    /// count.
    Skip,
    /// Every period gets its own tick, back to back until the schedule is
    /// caught up (`missed` is always 0). The default, as tokio's.
    #[default]
    Burst,
    /// As tokio's `Delay`: a tick taken late restarts the schedule, the
    /// next tick one full period after this one was taken. "Late" is
    /// tokio's rule, more than 5 ms after its deadline, or a whole period
    /// or more (so that a short period's missed periods are counted, as
    /// `missed`). A tick taken less late keeps the schedule.
    ///
    /// With a 20 ms period, a tick taken 14 ms late (0.7 period) makes the
    /// next one due 20 ms after it was taken, 34 ms after its own
    /// deadline, as with tokio; with `Skip` it would be due 6 ms after.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use iofd::time::{MissedTickBehavior, Timers};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let timers = Timers::new()?;
    /// let period = Duration::from_millis(20);
    /// let start = Instant::now() - Duration::from_millis(14); // taken late
    /// let mut ticks = timers.interval_at(start, period)?;
    /// ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    /// ticks.tick().await;
    /// let taken = Instant::now();
    /// assert!(ticks.next_deadline() <= taken + period);
    /// assert!(ticks.next_deadline() > start + period); // restarted
    /// # Ok(())
    /// # }
    /// ```
    Delay,
}

/// Ticks at a fixed period, from [`Timers::interval`] or
/// [`Timers::interval_at`]; the counterpart of `tokio::time::Interval`,
/// with nanosecond precision and the count of missed periods.
///
/// [`tick`](Interval::tick) returns the deadline of the tick, as tokio's
/// does; [`missed`](Interval::missed) then says how many further periods
/// had passed by the time the task took it ([`MissedTickBehavior`]), and
/// [`tick_with_missed`](Interval::tick_with_missed) returns both: a late
/// task loses no tick. It is also a `Stream` of those pairs, which never
/// ends.
///
/// An interval keeps one slot in the driver for its whole life and re-arms
/// it each period: one allocation when it is made (the poll state it
/// shares with the driver), none per tick.
///
/// # Cancel safety
///
/// [`tick`](Interval::tick) is cancel safe: a dropped `tick` future takes
/// no tick, and the next call returns it. An `Interval` can move between
/// tasks and workers.
///
/// # Wake-ups
///
/// Once polled, an `Interval` stays armed period after period, and its
/// task polls it without taking the driver's lock. A task that stops
/// polling it (it awaits something else, or a `select!` branch is
/// disabled) is woken at most about 8 more times (the driver checks every
/// 4 periods that the interval is still polled), then not until it polls
/// again; that poll re-arms it and returns the tick with the missed
/// periods counted. tokio's `Interval` wakes only a task that polls it;
/// dropping an interval you no longer need costs nothing at all.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use iofd::time::Timers;
/// use tokio_stream::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let timers = Timers::new()?;
/// let mut ticks = timers.interval(Duration::from_micros(100))?;
/// let mut periods = 0;
/// while let Some((_deadline, missed)) = ticks.next().await {
///     periods += 1 + missed; // every period counted, late or not
///     if periods >= 20 {
///         break;
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct Interval {
    registration: Registration,
    /// The deadline of the next tick.
    next: Instant,
    period: Duration,
    behavior: MissedTickBehavior,
    /// The missed count of the last tick.
    missed: u64,
}

impl Interval {
    pub(crate) fn new(timers: Timers, start: Instant, period: Duration) -> Interval {
        Interval {
            registration: Registration::periodic(timers, period),
            next: start,
            period,
            behavior: MissedTickBehavior::default(),
            missed: 0,
        }
    }

    /// Waits for the next tick and returns its deadline, as
    /// `tokio::time::Interval::tick` does. [`missed`](Interval::missed)
    /// then gives the further periods it stood for.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the tick is taken only in the poll that returns it.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// The poll form of [`tick`](Interval::tick), as tokio's.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        self.poll_tick_with_missed(cx).map(|(deadline, _)| deadline)
    }

    /// Waits for the next tick and returns its deadline and the number of
    /// further periods that passed before it was taken (0 when on time; 0
    /// always with [`MissedTickBehavior::Burst`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the tick is taken only in the poll that returns it.
    pub async fn tick_with_missed(&mut self) -> (Instant, u64) {
        poll_fn(|cx| self.poll_tick_with_missed(cx)).await
    }

    /// How many further periods the last tick stood for (see
    /// [`tick_with_missed`](Interval::tick_with_missed)); 0 before the
    /// first.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The poll form of [`tick_with_missed`](Interval::tick_with_missed).
    ///
    /// Takes part in tokio's coop budget as `tokio::time::Interval` does:
    /// with the task's budget spent it is pending (the task yields, and is
    /// polled again at once), so that ticks catching up a late schedule
    /// back to back ([`Burst`](MissedTickBehavior::Burst)) let other tasks
    /// run.
    pub fn poll_tick_with_missed(&mut self, cx: &mut Context<'_>) -> Poll<(Instant, u64)> {
        let coop = ready!(::tokio::task::coop::poll_proceed(cx));
        let now = Instant::now();
        if now < self.next {
            self.registration.wait_until(self.next, cx);
            return Poll::Pending;
        }
        coop.made_progress();
        let deadline = self.next;
        let period = self.period.as_nanos();
        let late = now.saturating_duration_since(deadline).as_nanos();
        let behind = u64::try_from(late / period).unwrap_or(u64::MAX);
        let restart = self.behavior == MissedTickBehavior::Delay
            && (behind > 0 || now.saturating_duration_since(deadline) > DELAY_AFTER);
        let (missed, next) = match self.behavior {
            MissedTickBehavior::Burst => (0, saturating_add(deadline, self.period)),
            MissedTickBehavior::Skip => {
                let ahead = u64::try_from(period.saturating_mul(u128::from(behind) + 1))
                    .map_or(Duration::MAX, Duration::from_nanos);
                (behind, saturating_add(deadline, ahead))
            }
            // Late: the schedule restarts one period after this tick.
            MissedTickBehavior::Delay if restart => (behind, saturating_add(now, self.period)),
            MissedTickBehavior::Delay => (0, saturating_add(deadline, self.period)),
        };
        self.next = next;
        if restart {
            // Off the old grid: the driver's slot must follow.
            self.registration.move_to(self.next);
        }
        self.missed = missed;
        Poll::Ready((deadline, missed))
    }

    /// Restarts the schedule: the next tick is one period from now, as
    /// tokio's.
    pub fn reset(&mut self) {
        self.reset_at(saturating_add(Instant::now(), self.period));
    }

    /// Restarts the schedule: the next tick is now, as tokio's.
    pub fn reset_immediately(&mut self) {
        self.reset_at(Instant::now());
    }

    /// Restarts the schedule: the next tick is `after` from now, as
    /// tokio's.
    pub fn reset_after(&mut self, after: Duration) {
        self.reset_at(saturating_add(Instant::now(), after));
    }

    /// Restarts the schedule: the next tick is at `deadline` (a
    /// `std::time::Instant` or a `tokio::time::Instant`), as tokio's.
    pub fn reset_at(&mut self, deadline: impl Into<Instant>) {
        let deadline = deadline.into();
        self.next = deadline;
        self.registration.move_to(deadline);
    }

    /// Lets each tick fire up to `accuracy` after its deadline (never
    /// before), in place of its `Timers`' [slack](Timers#slack): see
    /// [`Sleep::set_accuracy`](super::Sleep::set_accuracy). Takes effect
    /// from the next tick.
    pub fn set_accuracy(&mut self, accuracy: Duration) {
        self.registration
            .set_accuracy(Accuracy::from_duration(accuracy));
        self.registration.move_to(self.next);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The deadline of the next tick.
    pub fn next_deadline(&self) -> Instant {
        self.next
    }

    /// What a late tick does (default [`MissedTickBehavior::Burst`], as
    /// tokio's).
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.behavior
    }

    /// Sets what a late tick does.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.behavior = behavior;
    }

    /// The [`Timers`] this interval belongs to.
    pub fn timers(&self) -> &Timers {
        self.registration.timers()
    }
}

impl Stream for Interval {
    type Item = (Instant, u64);

    /// The ticks, as [`tick_with_missed`](Interval::tick_with_missed)
    /// gives them; never ends.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<(Instant, u64)>> {
        self.get_mut().poll_tick_with_missed(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::MAX, None)
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("next", &self.next)
            .field("period", &self.period)
            .field("behavior", &self.behavior)
            .finish_non_exhaustive()
    }
}
