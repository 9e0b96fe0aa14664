//! [`Accuracy`]: how late a timer may fire, kept in 16 bits.
//!
//! As in systemd's sd-event, each timer has an accuracy: the latest it may
//! fire after its deadline. The driver picks each wake-up inside every
//! armed timer's window `[deadline, deadline + accuracy]` — at the latest
//! deadline not past the earliest window's end — and fires every timer
//! whose deadline has passed, so that sloppy timers ride along with
//! precise ones and cost no wake-up of their own. None fires early.

use std::time::Duration;

/// An accuracy, rounded down (never later than asked) to 11 significant
/// bits: a mantissa and a power of two, in nanoseconds. Up to about 73
/// minutes; more saturates there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Accuracy(u16);

/// Bits of the mantissa.
const MANTISSA: u32 = 11;

impl Accuracy {
    /// No lateness allowed beyond what the system adds.
    #[cfg(test)]
    pub(crate) const ZERO: Accuracy = Accuracy(0);

    /// The largest accuracy: 2047 × 2³¹ ns, about 73 minutes.
    pub(crate) const MAX: Accuracy = Accuracy(u16::MAX);

    /// `nanos`, rounded down.
    pub(crate) fn from_nanos(nanos: u64) -> Accuracy {
        let bits = 64 - nanos.leading_zeros();
        if bits <= MANTISSA {
            return Accuracy(nanos as u16);
        }
        let shift = bits - MANTISSA;
        if shift >= 32 {
            return Accuracy::MAX;
        }
        // An 11-bit mantissa (its top bit set), the shift in the high 5
        // bits.
        Accuracy(((shift as u16) << MANTISSA) | (nanos >> shift) as u16)
    }

    /// `duration`, rounded down.
    pub(crate) fn from_duration(duration: Duration) -> Accuracy {
        Accuracy::from_nanos(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
    }

    /// In nanoseconds.
    pub(crate) fn nanos(self) -> u64 {
        let shift = u32::from(self.0 >> MANTISSA);
        let mantissa = u64::from(self.0 & 0x7ff);
        mantissa << shift
    }

    /// The code, for compact storage.
    pub(crate) fn code(self) -> u16 {
        self.0
    }

    /// From [`code`](Accuracy::code).
    pub(crate) fn from_code(code: u16) -> Accuracy {
        Accuracy(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Round-trips exactly below 2048 ns, rounds down (never up) above,
    /// by less than one part in 1024, and saturates.
    #[test]
    fn accuracy_rounds_down_by_little() {
        for nanos in [
            0u64,
            1,
            2047,
            2048,
            2049,
            4095,
            50_000,
            1_000_000,
            10_000_000,
            999_999_999,
            30_000_000_000,
        ] {
            let got = Accuracy::from_nanos(nanos).nanos();
            assert!(got <= nanos, "{nanos} -> {got}");
            assert!(nanos - got <= nanos / 1024, "{nanos} -> {got}");
        }
        for nanos in 0..2048 {
            assert_eq!(Accuracy::from_nanos(nanos).nanos(), nanos);
        }
        let mut last = 0;
        let mut nanos = 1u64;
        while nanos < 1 << 45 {
            let got = Accuracy::from_nanos(nanos);
            assert!(got.nanos() >= last, "monotonic at {nanos}");
            assert_eq!(Accuracy::from_nanos(got.nanos()), got, "{nanos}");
            assert_eq!(Accuracy::from_code(got.code()), got);
            last = got.nanos();
            nanos += nanos / 97 + 1;
        }
        assert_eq!(Accuracy::from_duration(Duration::MAX), Accuracy::MAX);
        assert!(Accuracy::MAX.nanos() > 3600 * 1_000_000_000);
    }
}
