//! [`ClockTime`]: a point on any clock a [`Timers`](super::Timers) runs on,
//! the deadline type of timers that are not on `CLOCK_MONOTONIC`.

use std::fmt;
use std::io;
use std::ops::Add;
use std::time::{Duration, SystemTime};

use crate::Clock;
use crate::error::invalid_input;

/// A point on a [`Clock`]: the time since the clock's zero (the Unix epoch
/// for `Realtime` and `RealtimeAlarm`, about boot for the others), as
/// `clock_gettime` and `TimerFd::arm_at` count it.
///
/// `std::time::Instant` is `CLOCK_MONOTONIC`, which stops while the
/// system is suspended; a deadline on another clock needs its own type.
/// Durations work on every clock: `ClockTime + Duration`.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use iofd::Clock;
/// use iofd::time::ClockTime;
///
/// # fn main() -> std::io::Result<()> {
/// let now = ClockTime::now(Clock::Boottime)?;
/// let lease_end = now + Duration::from_secs(600); // counts across a suspend
/// assert!(lease_end > now);
/// let wall = ClockTime::from_system_time(SystemTime::now())?;
/// assert_eq!(wall.clock(), Clock::Realtime);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct ClockTime {
    clock: Clock,
    since_zero: Duration,
}

impl ClockTime {
    /// `since_zero` after the zero of `clock`.
    pub fn new(clock: Clock, since_zero: Duration) -> ClockTime {
        ClockTime { clock, since_zero }
    }

    /// Now on `clock`.
    ///
    /// # Errors
    ///
    /// The kernel's `clock_gettime` error (none is expected on Linux).
    pub fn now(clock: Clock) -> io::Result<ClockTime> {
        Ok(ClockTime::new(clock, clock.now()?))
    }

    /// A wall-clock time, on [`Clock::Realtime`].
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a time before the Unix epoch.
    pub fn from_system_time(time: SystemTime) -> io::Result<ClockTime> {
        let since_zero = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| invalid_input("a wall-clock deadline before 1970 cannot be set"))?;
        Ok(ClockTime::new(Clock::Realtime, since_zero))
    }

    /// Its clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The time since its clock's zero.
    pub fn since_zero(&self) -> Duration {
        self.since_zero
    }

    /// `self + duration`, or `None` past the end of `Duration`.
    pub fn checked_add(&self, duration: Duration) -> Option<ClockTime> {
        self.since_zero
            .checked_add(duration)
            .map(|since_zero| ClockTime::new(self.clock, since_zero))
    }

    /// How long after `earlier` this is (zero if it is not later), or
    /// `None` if they are on different clocks.
    pub fn duration_since(&self, earlier: ClockTime) -> Option<Duration> {
        (self.clock == earlier.clock).then(|| self.since_zero.saturating_sub(earlier.since_zero))
    }
}

impl Add<Duration> for ClockTime {
    type Output = ClockTime;

    /// Saturating at the end of `Duration` (never earlier than `self`).
    fn add(self, duration: Duration) -> ClockTime {
        ClockTime::new(self.clock, self.since_zero.saturating_add(duration))
    }
}

impl PartialOrd for ClockTime {
    /// Ordered on one clock; times on different clocks are not comparable.
    fn partial_cmp(&self, other: &ClockTime) -> Option<std::cmp::Ordering> {
        (self.clock == other.clock).then(|| self.since_zero.cmp(&other.since_zero))
    }
}

impl fmt::Debug for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}+{:?}", self.clock, self.since_zero)
    }
}
