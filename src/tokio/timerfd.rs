//! [`AsyncTimerFd`].

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;
use futures_core::{FusedStream, Stream};

use super::{RegisterError, poll_read_when_ready, read_when_ready, register};
use crate::error::invalid_input;
use crate::timerfd::monotonic_deadline;
use crate::{Clock, TimerFd};

/// A [`TimerFd`] for tokio: `expirations().await` returns how many times the
/// timer fired since the last read, so a late task loses no tick. Also a
/// `Stream` of those counts.
///
/// The kernel timer has nanosecond resolution (tokio's own timer wheel has
/// millisecond granularity), so sub-millisecond periods work.
///
/// Periodic timers come from [`interval`](AsyncTimerFd::interval),
/// [`interval_at`](AsyncTimerFd::interval_at) and
/// [`interval_with_clock`](AsyncTimerFd::interval_with_clock); one-shot
/// timers from [`oneshot`](AsyncTimerFd::oneshot) (after a delay),
/// [`oneshot_at`](AsyncTimerFd::oneshot_at) (at a deadline) and
/// [`oneshot_with_clock`](AsyncTimerFd::oneshot_with_clock); any
/// [`TimerFd`], armed or not, with `try_from`.
///
/// The timer can be re-armed, disarmed and queried ([`arm`](Self::arm),
/// [`disarm`](Self::disarm), [`get_time`](Self::get_time)) through `&self`
/// while a task awaits it.
///
/// # Caveats
///
/// After `fork`, the child shares tokio's epoll instance with the parent:
/// dropping this handle in the child removes the parent's registration
/// too, and the parent's waits never wake. `std::mem::forget` it in a
/// forked child (or `exec` at once).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use iofd::AsyncTimerFd;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let timer = AsyncTimerFd::interval(Duration::from_micros(500))?;
/// let mut ticks = 0;
/// while ticks < 10 {
///     ticks += timer.expirations().await?; // counts every tick, even late ones
/// }
/// # Ok(())
/// # }
/// ```
///
/// As a `Stream` of expiration counts, with the `next` of
/// [`tokio_stream::StreamExt`](https://docs.rs/tokio-stream/latest/tokio_stream/trait.StreamExt.html)
/// (or `futures::StreamExt`):
///
/// ```
/// use std::time::Duration;
/// use iofd::AsyncTimerFd;
/// use tokio_stream::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mut ticks = AsyncTimerFd::interval(Duration::from_micros(500))?;
/// let mut total = 0;
/// while let Some(expired) = ticks.next().await {
///     total += expired?;
///     if total >= 10 {
///         break;
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct AsyncTimerFd {
    inner: AsyncFd<TimerFd>,
    /// The stream has ended: the runtime shut down.
    terminated: bool,
}

impl AsyncTimerFd {
    /// A monotonic timer that fires every `period`, **first one `period`
    /// from now** — unlike `tokio::time::interval`, whose first tick is
    /// immediate (use [`interval_at`](AsyncTimerFd::interval_at) with
    /// `Instant::now()` for that).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a zero `period`; as [`TimerFd::new`] and
    /// [`TimerFd::arm`]; and an error when no tokio runtime is current or it
    /// has no I/O driver (`enable_io`), but under `panic = "abort"` the latter
    /// aborts inside tokio ([details](crate#runtimes-without-an-io-driver)).
    pub fn interval(period: Duration) -> io::Result<AsyncTimerFd> {
        AsyncTimerFd::interval_with_clock(period, Clock::Monotonic)
    }

    /// A monotonic timer that fires at `start` and then every `period`, as
    /// `tokio::time::interval_at` does: `interval_at(Instant::now(), p)`
    /// fires at once.
    ///
    /// `std::time::Instant` counts on `CLOCK_MONOTONIC` on Linux, so
    /// `start` becomes an absolute deadline on that clock
    /// (`TFD_TIMER_ABSTIME`), never earlier than `start`. A `start` in the
    /// past fires at once, and the first
    /// [`expirations`](AsyncTimerFd::expirations) counts every period since
    /// `start`, so no tick is lost.
    ///
    /// # Errors
    ///
    /// As [`AsyncTimerFd::interval`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use iofd::AsyncTimerFd;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let timer = AsyncTimerFd::interval_at(Instant::now(), Duration::from_secs(60))?;
    /// assert_eq!(timer.expirations().await?, 1); // at once, like tokio
    /// # Ok(())
    /// # }
    /// ```
    pub fn interval_at(start: Instant, period: Duration) -> io::Result<AsyncTimerFd> {
        if period.is_zero() {
            return Err(invalid_input("an interval needs a non-zero period"));
        }
        let timer = TimerFd::new()?;
        timer.arm_at(monotonic_deadline(start)?, period)?;
        Ok(AsyncTimerFd::try_from(timer)?)
    }

    /// A timer on `clock` that fires every `period`, first one `period` from
    /// now.
    ///
    /// # Errors
    ///
    /// As [`AsyncTimerFd::interval`], and [`TimerFd::with_clock`].
    pub fn interval_with_clock(period: Duration, clock: Clock) -> io::Result<AsyncTimerFd> {
        if period.is_zero() {
            return Err(invalid_input("an interval needs a non-zero period"));
        }
        let timer = TimerFd::with_clock(clock)?;
        timer.arm(period, period)?;
        Ok(AsyncTimerFd::try_from(timer)?)
    }

    /// A monotonic timer that fires **once**, `delay` from now, like
    /// `tokio::time::sleep` but with the timerfd's nanosecond resolution:
    /// [`expirations`](AsyncTimerFd::expirations) returns `1` then, and
    /// stays pending after (the timer is disarmed) until it is armed again
    /// ([`arm`](AsyncTimerFd::arm)). A zero `delay` fires at once.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `delay`'s seconds do not fit the kernel's `time_t`;
    /// as [`TimerFd::new`]; and an error when no tokio runtime is current or it
    /// has no I/O driver (`enable_io`), but under `panic = "abort"` the latter
    /// aborts inside tokio ([details](crate#runtimes-without-an-io-driver)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use iofd::AsyncTimerFd;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let timer = AsyncTimerFd::oneshot(Duration::from_micros(300))?;
    /// assert_eq!(timer.expirations().await?, 1); // once, then disarmed
    /// assert_eq!(timer.get_time()?, (Duration::ZERO, Duration::ZERO));
    /// # Ok(())
    /// # }
    /// ```
    pub fn oneshot(delay: Duration) -> io::Result<AsyncTimerFd> {
        AsyncTimerFd::oneshot_with_clock(delay, Clock::Monotonic)
    }

    /// A monotonic timer that fires **once**, at `deadline`, like
    /// `tokio::time::sleep_until`: never earlier than `deadline`, at once
    /// if it has passed.
    ///
    /// `std::time::Instant` counts on `CLOCK_MONOTONIC` on Linux, so
    /// `deadline` becomes an absolute time on that clock
    /// (`TFD_TIMER_ABSTIME`): a task that is late to arm it still wakes at
    /// `deadline`, not after its delay. (A `tokio::time::Instant` converts
    /// with `into_std()`.)
    ///
    /// # Errors
    ///
    /// As [`AsyncTimerFd::oneshot`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use iofd::AsyncTimerFd;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let deadline = Instant::now() + Duration::from_millis(2);
    /// let timer = AsyncTimerFd::oneshot_at(deadline)?;
    /// assert_eq!(timer.expirations().await?, 1);
    /// assert!(Instant::now() >= deadline); // never early
    /// # Ok(())
    /// # }
    /// ```
    pub fn oneshot_at(deadline: Instant) -> io::Result<AsyncTimerFd> {
        let timer = TimerFd::new()?;
        timer.arm_at(monotonic_deadline(deadline)?, Duration::ZERO)?;
        Ok(AsyncTimerFd::try_from(timer)?)
    }

    /// A timer on `clock` that fires **once**, `delay` from now: on
    /// [`Clock::Boottime`] the delay counts time the system spends
    /// suspended, on the alarm clocks it also wakes the system
    /// (`CAP_WAKE_ALARM`). For an absolute deadline on such a clock, create
    /// the [`TimerFd`] with [`TimerFd::with_clock`], call
    /// [`arm_at`](TimerFd::arm_at) (its [`now`](TimerFd::now) is the base)
    /// and convert with `AsyncTimerFd::try_from`.
    ///
    /// # Errors
    ///
    /// As [`AsyncTimerFd::oneshot`], and [`TimerFd::with_clock`]
    /// (`PermissionDenied` for an alarm clock without `CAP_WAKE_ALARM`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use iofd::{AsyncTimerFd, Clock};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let timer = AsyncTimerFd::oneshot_with_clock(Duration::from_millis(1), Clock::Boottime)?;
    /// assert_eq!(timer.expirations().await?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn oneshot_with_clock(delay: Duration, clock: Clock) -> io::Result<AsyncTimerFd> {
        let timer = TimerFd::with_clock(clock)?;
        timer.arm(delay, Duration::ZERO)?;
        Ok(AsyncTimerFd::try_from(timer)?)
    }

    /// Waits until the timer has fired, then returns the number of
    /// expirations since the last read (at least 1).
    ///
    /// A disarmed timer never fires: the future stays pending until someone
    /// arms it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the count is read only in the poll that returns it, so
    /// a dropped future loses no expiration; the next call returns them.
    ///
    /// # Errors
    ///
    /// `ECANCELED` for a cancel-on-set timer whose clock was set (see
    /// [`TimerFd::is_clock_changed`]).
    pub async fn expirations(&self) -> io::Result<u64> {
        // A timerfd read returns every expiration and resets the count: it
        // always drains, so readiness is cleared right after it.
        read_when_ready(&self.inner, TimerFd::expirations, |_| true).await
    }

    /// The poll form of [`expirations`](AsyncTimerFd::expirations). One
    /// `read` syscall per wake-up (readiness is cleared right after it,
    /// since a timerfd read always drains the count); no allocation.
    ///
    /// Like `AsyncFd::poll_read_ready`, this keeps one waker: only the task
    /// that polled last is woken. Several tasks sharing the handle should
    /// use the `async fn`, which wakes them all.
    ///
    /// # Errors
    ///
    /// As [`expirations`](AsyncTimerFd::expirations); an error if the
    /// runtime has shut down.
    pub fn poll_expirations(&self, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        poll_read_when_ready(&self.inner, cx, TimerFd::expirations, |_| true)
            .map(|r| r.and_then(|r| r))
    }

    /// Re-arms the timer: [`TimerFd::arm`].
    ///
    /// # Errors
    ///
    /// As [`TimerFd::arm`].
    pub fn arm(&self, initial: Duration, interval: Duration) -> io::Result<()> {
        self.get_ref().arm(initial, interval)
    }

    /// Arms the timer at an absolute deadline: [`TimerFd::arm_at`].
    ///
    /// # Errors
    ///
    /// As [`TimerFd::arm_at`].
    pub fn arm_at(&self, deadline: Duration, interval: Duration) -> io::Result<()> {
        self.get_ref().arm_at(deadline, interval)
    }

    /// Stops the timer: [`TimerFd::disarm`]. A task awaiting it stays
    /// pending.
    ///
    /// # Errors
    ///
    /// As [`TimerFd::disarm`].
    pub fn disarm(&self) -> io::Result<()> {
        self.get_ref().disarm()
    }

    /// `(remaining, interval)`: [`TimerFd::get_time`].
    ///
    /// # Errors
    ///
    /// As [`TimerFd::get_time`].
    pub fn get_time(&self) -> io::Result<(Duration, Duration)> {
        self.get_ref().get_time()
    }

    /// The synchronous handle.
    pub fn get_ref(&self) -> &TimerFd {
        self.inner.get_ref()
    }

    /// Deregisters from the reactor and gives back the synchronous handle
    /// (still armed).
    pub fn into_inner(self) -> TimerFd {
        self.inner.into_inner()
    }
}

impl Stream for AsyncTimerFd {
    type Item = io::Result<u64>;

    /// Each item is the number of expirations since the previous one. The
    /// stream ends (`None`) only after it has yielded the error of a runtime
    /// that shut down, so a loop that logs errors and goes on does not spin.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<u64>>> {
        let this = self.get_mut();
        if this.terminated {
            return Poll::Ready(None);
        }
        match ready!(poll_read_when_ready(
            &this.inner,
            cx,
            TimerFd::expirations,
            |_| true
        )) {
            Ok(read) => Poll::Ready(Some(read)),
            Err(shutdown) => {
                this.terminated = true;
                Poll::Ready(Some(Err(shutdown)))
            }
        }
    }
}

impl FusedStream for AsyncTimerFd {
    /// `true` once the stream has ended after a runtime shutdown.
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl TryFrom<TimerFd> for AsyncTimerFd {
    type Error = RegisterError<TimerFd>;

    /// Registers `timer` (armed or not) with the current runtime; on
    /// failure hands it back.
    fn try_from(timer: TimerFd) -> Result<AsyncTimerFd, RegisterError<TimerFd>> {
        let inner = register(timer, Interest::READABLE)?;
        Ok(AsyncTimerFd {
            inner,
            terminated: false,
        })
    }
}
