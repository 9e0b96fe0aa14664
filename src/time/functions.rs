//! The free functions of `iofd::time`, shaped as `tokio::time`'s, over
//! the current runtime's default [`Timers`] ([`Timers::current`]).
//!
//! Where tokio's panics (outside a runtime, a zero period), these panic
//! too, reported at the caller; the methods of an explicit [`Timers`]
//! return errors instead.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use super::{Interval, Sleep, Timeout, Timers};

/// The current runtime's default timers, or a panic at the caller, as
/// tokio's functions do outside a runtime (and here on a runtime without
/// an I/O driver).
///
/// When the default cannot be made for want of a resource (no descriptor
/// left, `EMFILE`/`ENFILE`, or no memory for the reactor's registration:
/// an OS error), where tokio's functions work, no panic: a stand-in with
/// no descriptor serves this one call, and the next call tries to make the
/// default again. Its timers complete at their deadlines, never early,
/// woken by the process's helper thread (see [Lifetime](Timers#lifetime)).
#[track_caller]
fn current() -> Timers {
    match Timers::current() {
        Ok(timers) => timers,
        Err(err) if err.raw_os_error().is_some() => Timers::without_descriptor(),
        Err(err) => panic!("iofd::time: {err}"),
    }
}

/// Waits until `duration` has elapsed, as `tokio::time::sleep` does, with
/// nanosecond precision (plus the default slack, 50 µs; never early).
///
/// # Panics
///
/// Outside a tokio runtime, or on one without an I/O driver (tokio's
/// panics without a timer driver). Not when the default `Timers` cannot
/// be made for want of a resource (no descriptor left, `EMFILE`): the
/// sleep then completes at its deadline all the same, never early,
/// through a fallback (see [Lifetime](Timers#lifetime)).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use iofd::time::sleep; // was: use tokio::time::sleep;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let start = Instant::now();
/// sleep(Duration::from_micros(250)).await;
/// assert!(start.elapsed() >= Duration::from_micros(250));
/// # }
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    current().into_sleep(duration, false)
}

/// Waits until `deadline` (a `std::time::Instant` or a
/// `tokio::time::Instant`), as `tokio::time::sleep_until` does.
///
/// # Panics
///
/// As [`sleep`].
#[track_caller]
pub fn sleep_until(deadline: impl Into<Instant>) -> Sleep {
    current().sleep_until(deadline)
}

/// Ticks every `period`, the first at once, as `tokio::time::interval`
/// does (and with its default, [`Burst`](super::MissedTickBehavior::Burst)).
///
/// # Panics
///
/// When `period` is zero, as tokio's; and as [`sleep`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use iofd::time::interval; // was: use tokio::time::interval;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut ticks = interval(Duration::from_micros(200));
/// let first = ticks.tick().await; // at once
/// let second = ticks.tick().await;
/// assert!(second - first >= Duration::from_micros(200));
/// let missed = ticks.missed(); // iofd's extra: periods the last tick stood for
/// # let _ = missed;
/// # }
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks at `start`, then every `period`, as `tokio::time::interval_at`
/// does.
///
/// # Panics
///
/// As [`interval`].
#[track_caller]
pub fn interval_at(start: impl Into<Instant>, period: Duration) -> Interval {
    assert!(period > Duration::ZERO, "`period` must be non-zero.");
    let timers = current();
    match timers.interval_at(start, period) {
        Ok(interval) => interval,
        Err(err) => panic!("iofd::time: {err}"),
    }
}

/// Runs `future` for at most `duration`, as `tokio::time::timeout` does:
/// its output, or [`Elapsed`](super::Elapsed).
///
/// # Panics
///
/// As [`sleep`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use iofd::time::timeout; // was: use tokio::time::timeout;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let never = std::future::pending::<()>();
/// assert!(timeout(Duration::from_micros(300), never).await.is_err());
/// assert_eq!(timeout(Duration::from_secs(1), async { 1 }).await, Ok(1));
/// # }
/// ```
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout::new(future.into_future(), current().into_sleep(duration, true))
}

/// Runs `future` until `deadline` at most, as `tokio::time::timeout_at`
/// does.
///
/// # Panics
///
/// As [`sleep`].
#[track_caller]
pub fn timeout_at<F: IntoFuture>(
    deadline: impl Into<Instant>,
    future: F,
) -> Timeout<F::IntoFuture> {
    current().timeout_at(deadline, future)
}
