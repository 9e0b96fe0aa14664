//! The mapping between `std::time::Instant` and the nanoseconds of the
//! clock a [`Timers`](super::Timers) keeps its deadlines on.

use std::io;
use std::time::{Duration, Instant};

use crate::Clock;
use crate::timerfd::saturating_nanos;

/// A `Timers`' clock, and for `CLOCK_MONOTONIC` an `Instant` with a
/// reading of the clock taken just after it: `Instant` does not expose its
/// clock value, so deadlines given as `Instant`s are mapped by this offset.
/// The clock is read second, so a mapped deadline is late by the
/// nanoseconds between the two reads, never early.
///
/// On the other clocks an `Instant` has no fixed offset (`CLOCK_BOOTTIME`
/// moves ahead of it across a suspend, `CLOCK_REALTIME` can be set), so
/// an `Instant` is mapped relative to now, when it is given: a deadline
/// `d` from now on `Instant`'s clock becomes `d` from now on this one.
#[derive(Clone, Copy)]
pub(crate) struct Base {
    clock: Clock,
    instant: Instant,
    nanos: u64,
}

/// The clock's reading in nanoseconds; 0 if it cannot be read (which
/// never makes a timer early: it only looks not yet due).
fn read(clock: Clock) -> u64 {
    clock.now().map_or(0, saturating_nanos)
}

impl Base {
    /// Reads `Instant::now()`, then the clock.
    ///
    /// # Errors
    ///
    /// The clock's `clock_gettime` error.
    pub(crate) fn now(clock: Clock) -> io::Result<Base> {
        let instant = Instant::now();
        let nanos = saturating_nanos(clock.now()?);
        Ok(Base {
            clock,
            instant,
            nanos,
        })
    }

    /// On `CLOCK_MONOTONIC`, as [`now`](Base::now) but with no error
    /// (`Instant::now()` reads the same clock, and would panic first).
    pub(crate) fn monotonic() -> Base {
        let instant = Instant::now();
        Base {
            clock: Clock::Monotonic,
            instant,
            nanos: read(Clock::Monotonic),
        }
    }

    pub(crate) fn clock(&self) -> Clock {
        self.clock
    }

    /// Now on the clock, in nanoseconds.
    pub(crate) fn now_nanos(&self) -> u64 {
        match self.clock {
            Clock::Monotonic => self.nanos_of(Instant::now()),
            clock => read(clock),
        }
    }

    /// `deadline` in nanoseconds on the clock, never earlier than
    /// `deadline` (saturating at the ends of the clock).
    pub(crate) fn nanos_of(&self, deadline: Instant) -> u64 {
        let (instant, nanos) = match self.clock {
            Clock::Monotonic => (self.instant, self.nanos),
            clock => {
                let instant = Instant::now();
                (instant, read(clock))
            }
        };
        match deadline.checked_duration_since(instant) {
            Some(after) => nanos.saturating_add(saturating_nanos(after)),
            None => nanos.saturating_sub(saturating_nanos(instant - deadline)),
        }
    }

    /// The `Instant` of `nanos` on the clock: the inverse of
    /// [`nanos_of`](Base::nanos_of) (exact on `CLOCK_MONOTONIC` where that
    /// did not saturate; as of now on the other clocks).
    pub(crate) fn instant_of(&self, nanos: u64) -> Instant {
        let (instant, base) = match self.clock {
            Clock::Monotonic => (self.instant, self.nanos),
            clock => {
                let base = read(clock);
                (Instant::now(), base)
            }
        };
        if nanos >= base {
            instant
                .checked_add(Duration::from_nanos(nanos - base))
                .unwrap_or_else(|| super::driver::far_future().max(instant))
        } else {
            instant
                .checked_sub(Duration::from_nanos(base - nanos))
                .unwrap_or(instant)
        }
    }
}
