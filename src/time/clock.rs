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
///
/// Where std shows the clock value of an `Instant` (its `Debug` output
/// does, on Linux), the pair is exact instead ([`exact_monotonic`]): then
/// "now" is a plain reading of `CLOCK_MONOTONIC`, without an `Instant`
/// and the arithmetic between two of them (about 3 ns of a timeout's
/// 50).
#[derive(Clone, Copy)]
pub(crate) struct Base {
    clock: Clock,
    instant: Instant,
    nanos: u64,
    /// `nanos` is exactly `instant`'s reading of `CLOCK_MONOTONIC`.
    exact: bool,
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
        if clock == Clock::Monotonic {
            return Ok(Base::monotonic());
        }
        let instant = Instant::now();
        let nanos = saturating_nanos(clock.now()?);
        Ok(Base {
            clock,
            instant,
            nanos,
            exact: false,
        })
    }

    /// On `CLOCK_MONOTONIC`, as [`now`](Base::now) but with no error
    /// (`Instant::now()` reads the same clock, and would panic first).
    pub(crate) fn monotonic() -> Base {
        if let Some((instant, nanos)) = exact_monotonic() {
            return Base {
                clock: Clock::Monotonic,
                instant,
                nanos,
                exact: true,
            };
        }
        let instant = Instant::now();
        Base {
            clock: Clock::Monotonic,
            instant,
            nanos: read(Clock::Monotonic),
            exact: false,
        }
    }

    /// Whether its mapping is exact (see [`exact_monotonic`]).
    #[cfg(test)]
    pub(crate) fn is_exact(&self) -> bool {
        self.exact
    }

    pub(crate) fn clock(&self) -> Clock {
        self.clock
    }

    /// Now on the clock, in nanoseconds.
    pub(crate) fn now_nanos(&self) -> u64 {
        match self.clock {
            Clock::Monotonic if self.exact => monotonic_nanos(),
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

/// `CLOCK_MONOTONIC` in nanoseconds (never negative, and far below
/// `u64::MAX`: 584 years of uptime).
fn monotonic_nanos() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

/// An `Instant` and its exact reading of `CLOCK_MONOTONIC`, where std
/// shows it. `Instant` has no accessor for its clock value, but on Linux
/// its `Debug` output is that value (`Instant { tv_sec: …, tv_nsec: … }`).
/// The value is trusted only if it lies between two readings of the
/// clock taken around the `Instant`; otherwise (another std, another
/// format) `None`, and the mapping reads the clock after the `Instant`
/// instead, late by the nanoseconds between the two reads.
fn exact_monotonic() -> Option<(Instant, u64)> {
    let before = monotonic_nanos();
    let instant = Instant::now();
    let after = monotonic_nanos();
    let shown = format!("{instant:?}");
    let field = |name: &str| -> Option<u64> {
        let start = shown.find(name)? + name.len();
        let digits = shown[start..].split(|c: char| !c.is_ascii_digit()).next()?;
        digits.parse().ok()
    };
    let secs = field("tv_sec: ")?;
    let nanos = field("tv_nsec: ")?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    let value = secs.checked_mul(1_000_000_000)?.checked_add(nanos)?;
    (before..=after)
        .contains(&value)
        .then_some((instant, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On Linux std shows an `Instant`'s clock value, so the mapping is
    /// exact: an `Instant` and the clock agree to the nanosecond, both
    /// ways.
    #[test]
    fn the_monotonic_mapping_is_exact() {
        let base = Base::monotonic();
        assert!(
            base.is_exact(),
            "std no longer shows an Instant's clock value"
        );
        for _ in 0..1000 {
            let before = base.now_nanos();
            let instant = Instant::now();
            let after = base.now_nanos();
            let key = base.nanos_of(instant);
            assert!((before..=after).contains(&key), "{before} {key} {after}");
            assert_eq!(base.instant_of(key), instant);
        }
    }

    /// Without the exact pair, a mapped deadline is late, never early.
    #[test]
    fn an_inexact_mapping_is_never_early() {
        let instant = Instant::now();
        let base = Base {
            clock: Clock::Monotonic,
            instant,
            nanos: read(Clock::Monotonic),
            exact: false,
        };
        let later = Instant::now();
        assert!(base.nanos_of(later) >= base.nanos_of(instant));
        assert!(base.nanos_of(later) <= base.now_nanos());
    }
}
