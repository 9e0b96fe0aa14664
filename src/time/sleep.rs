//! [`Sleep`]: a future that completes at a deadline, timed by a
//! [`Timers`] driver.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use super::accuracy::Accuracy;
use super::registration::{ELAPSED, FAR, OneShot, STAGEABLE};
use super::{ClockTime, Timers};

/// A future that completes at its [`deadline`](Sleep::deadline), made by
/// [`Timers::sleep`] or [`Timers::sleep_until`]; the counterpart of
/// `tokio::time::Sleep`.
///
/// It never completes before its deadline, and its task is never woken
/// before it. It takes its place in the driver when first polled
/// (creating one costs no lock and no syscall) and leaves it when dropped:
/// a `Sleep` dropped before it fires is not woken. One dropped while the
/// driver is firing it may still have its waker called once, after the
/// drop (firing takes the due timers under the lock and wakes them after
/// releasing it); that wake is harmless, and tokio's `Sleep` has the same
/// race. Slots are reused, so sleeping allocates nothing in steady state.
///
/// Unlike tokio's, a `Sleep` is `Unpin`: it can be awaited by `&mut`,
/// stored and moved freely, and [`reset`](Sleep::reset) takes `&mut self`.
///
/// # Cancel safety
///
/// Dropping a `Sleep` (for example in a `select!` branch that lost) cancels
/// it; nothing else is affected. It can move between tasks and workers: the
/// task that polled it last is the one woken.
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
/// let mut sleep = timers.sleep(Duration::from_secs(3600));
/// sleep.reset(Instant::now() + Duration::from_micros(200)); // sooner
/// (&mut sleep).await;
/// assert!(sleep.is_elapsed());
/// # Ok(())
/// # }
/// ```
#[must_use = "a Sleep does nothing unless awaited"]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct Sleep {
    registration: OneShot,
}

/// A `Sleep` made at least this long before its deadline skips reading the
/// clock at its first poll (see `poll`).
pub(crate) const FAR_ENOUGH: Duration = Duration::from_millis(1);

impl Sleep {
    /// A sleep until `deadline` (nanoseconds on the driver's clock);
    /// `far` if it was made at least [`FAR_ENOUGH`] before it (so that
    /// its first poll may skip reading the clock); `stageable` for a
    /// timeout's made at least [`STAGE_AHEAD`] before it (so that its
    /// first poll may arm it in a shard: see [`shards`](super::shards)).
    ///
    /// [`STAGE_AHEAD`]: super::shards::STAGE_AHEAD
    pub(crate) fn new(timers: Timers, deadline: u64, far: bool, stageable: bool) -> Sleep {
        let far = if far { FAR } else { 0 };
        let stageable = if stageable { STAGEABLE } else { 0 };
        Sleep {
            registration: OneShot::new(timers, deadline, far | stageable),
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.registration
            .timers()
            .shared()
            .instant_of(self.registration.deadline)
    }

    /// The deadline on its `Timers`' clock (for timers on a clock other
    /// than `CLOCK_MONOTONIC`, where [`deadline`](Sleep::deadline) is an
    /// `Instant` mapped as of now).
    pub fn deadline_time(&self) -> ClockTime {
        ClockTime::new(
            self.registration.timers().shared().clock(),
            Duration::from_nanos(self.registration.deadline),
        )
    }

    /// Whether it has completed (its deadline passed and it was polled
    /// since).
    pub fn is_elapsed(&self) -> bool {
        self.registration.flags & ELAPSED != 0
    }

    /// Moves the deadline (a `std::time::Instant` or a
    /// `tokio::time::Instant`), whether or not the sleep has completed: it
    /// then completes at `deadline`. A task already waiting is woken at the
    /// new deadline, even an earlier one, without polling again.
    ///
    /// Called as tokio's too: `Sleep` is `Unpin`, so on a pinned sleep
    /// (`tokio::pin!(sleep)`) `sleep.as_mut().reset(deadline)` works
    /// unchanged.
    pub fn reset(&mut self, deadline: impl Into<Instant>) {
        let key = self.registration.timers().shared().key(deadline.into());
        self.registration.move_to(key);
    }

    /// Lets it fire up to `accuracy` after its deadline (never before),
    /// in place of its `Timers`' [slack](Timers#slack), so that the
    /// driver can fire it in a wake-up it makes anyway for other timers.
    /// See [`set_accuracy`](Sleep::set_accuracy).
    ///
    /// ```
    /// use std::time::Duration;
    /// use iofd::time::Timers;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let timers = Timers::new()?;
    /// // A keep-alive that may come up to 10 ms late.
    /// timers.sleep(Duration::from_millis(2)).accuracy(Duration::from_millis(10)).await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn accuracy(mut self, accuracy: Duration) -> Sleep {
        self.set_accuracy(accuracy);
        self
    }

    /// Sets how late after its deadline it may fire: the driver picks each
    /// wake-up inside the window `[deadline, deadline + accuracy]` of
    /// every armed timer, and fires every timer whose deadline has passed
    /// then. A sloppy timer rides along with the wake-ups of precise ones
    /// and costs no wake-up of its own; none fires early. The default is
    /// the [slack](Timers#slack) of its `Timers`. Kept to 11 significant
    /// bits, rounded down, and at most about 73 minutes.
    ///
    /// It may be late by more when the system is (a loaded machine, a
    /// suspended one).
    pub fn set_accuracy(&mut self, accuracy: Duration) {
        self.registration
            .set_accuracy(Accuracy::from_duration(accuracy));
    }

    /// The [`Timers`] this sleep belongs to.
    pub fn timers(&self) -> &Timers {
        self.registration.timers()
    }
}

impl Future for Sleep {
    type Output = ();

    /// Ready once the deadline has passed. Takes part in tokio's coop
    /// budget as `tokio::time::Sleep` does: with the task's budget spent
    /// it is pending (the task yields, and is polled again at once), so
    /// that a loop of sleeps that are always ready lets other tasks run.
    ///
    /// The first poll of a sleep made at least a millisecond before its
    /// deadline does not read the clock: it arms the timer (a timeout
    /// armed and cancelled pays for one clock reading, when it is made,
    /// as tokio's does). Were that deadline already past, the driver finds
    /// it due at once and wakes the task, which then reads the clock.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.arm_if_first_far(cx) {
            return Poll::Pending;
        }
        let this = &mut this.registration;
        let coop = ready!(::tokio::task::coop::poll_proceed(cx));
        if this.flags & ELAPSED != 0 || this.timers().shared().now_key() >= this.deadline {
            this.flags |= ELAPSED;
            coop.made_progress();
            return Poll::Ready(());
        }
        this.wait(cx);
        Poll::Pending
    }
}

impl Sleep {
    /// Whether its next poll is the first of a sleep made at least
    /// [`FAR_ENOUGH`] before its deadline (see
    /// [`arm_if_first_far`](Sleep::arm_if_first_far)).
    #[inline]
    pub(crate) fn is_first_far_poll(&self) -> bool {
        self.registration.flags & FAR != 0
    }

    /// The first poll of a sleep made at least [`FAR_ENOUGH`] before its
    /// deadline: arms it, without reading the clock or touching tokio's
    /// coop budget, and returns `true` (the sleep is pending). `false`,
    /// doing nothing, for any other poll.
    ///
    /// The budget is left alone because such a poll is pending whatever
    /// the budget says: the budget makes a task yield after so many
    /// futures were ready, and an exhausted budget would only make this
    /// poll pending too, without arming. Were the deadline already past
    /// (the sleep first polled more than a millisecond after it was made),
    /// the driver finds it due at once and wakes the task, whose next poll
    /// reads the clock.
    #[inline]
    pub(crate) fn arm_if_first_far(&mut self, cx: &mut Context<'_>) -> bool {
        let this = &mut self.registration;
        if this.flags & FAR == 0 {
            return false;
        }
        // Only the first poll may skip the clock (`FAR` is never set on a
        // registered sleep: `move_to` clears it).
        this.flags &= !FAR;
        this.stage(cx);
        true
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .field("elapsed", &self.is_elapsed())
            .finish_non_exhaustive()
    }
}
