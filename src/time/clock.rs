//! The mapping between `std::time::Instant` and the nanoseconds of the
//! clock a [`Timers`](super::Timers) keeps its deadlines on.

use std::io;
use std::time::{Duration, Instant};

use crate::Clock;
use crate::timerfd::saturating_nanos;

/// An `Instant` and a reading of `CLOCK_MONOTONIC` taken just after it:
/// `Instant` does not expose its clock value, so deadlines given as
/// `Instant`s are mapped by this offset. The clock is read second, so a
/// mapped deadline is late by the nanoseconds between the two reads,
/// never early.
#[derive(Clone, Copy)]
pub(crate) struct Base {
    instant: Instant,
    nanos: u64,
}

impl Base {
    /// Reads `Instant::now()`, then the clock.
    pub(crate) fn now() -> io::Result<Base> {
        let instant = Instant::now();
        let nanos = saturating_nanos(Clock::Monotonic.now()?);
        Ok(Base { instant, nanos })
    }

    /// `deadline` in nanoseconds on the clock, never earlier than
    /// `deadline` (saturating at the ends of the clock).
    pub(crate) fn nanos_of(&self, deadline: Instant) -> u64 {
        match deadline.checked_duration_since(self.instant) {
            Some(after) => self.nanos.saturating_add(saturating_nanos(after)),
            None => self
                .nanos
                .saturating_sub(saturating_nanos(self.instant - deadline)),
        }
    }

    /// The `Instant` of `nanos` on the clock: the inverse of
    /// [`nanos_of`](Base::nanos_of) (exact where that did not saturate;
    /// otherwise as far as `Instant` reaches).
    pub(crate) fn instant_of(&self, nanos: u64) -> Instant {
        if nanos >= self.nanos {
            let after = Duration::from_nanos(nanos - self.nanos);
            self.instant
                .checked_add(after)
                .unwrap_or_else(|| super::driver::far_future().max(self.instant))
        } else {
            let before = Duration::from_nanos(self.nanos - nanos);
            self.instant.checked_sub(before).unwrap_or(self.instant)
        }
    }
}
