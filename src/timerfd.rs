//! [`TimerFd`] and [`Clock`]: timers that count their expirations.
//!
//! # References
//!  - [`timerfd_create(2)`](https://man7.org/linux/man-pages/man2/timerfd_create.2.html)
//!  - [`clock_gettime(2)`](https://man7.org/linux/man-pages/man2/clock_gettime.2.html)

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use rustix::time::{
    DynamicClockId, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec,
    clock_gettime_dynamic, timerfd_create, timerfd_gettime, timerfd_settime,
};

use crate::adopt::{AdoptError, adopt_pollable};
use crate::error::{SANDBOX, invalid_input, syscall_error};
use crate::fd::{read_counter_into, read_u64};
use crate::handle::{impl_close, impl_owned_fd_conversions};

/// The clock a [`TimerFd`] counts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Clock {
    /// `CLOCK_MONOTONIC`: steady, not settable, stops while the system is
    /// suspended. The right clock for intervals.
    Monotonic,
    /// `CLOCK_REALTIME`: wall-clock time since the Unix epoch; settable, so
    /// it can jump (see [`TimerFd::arm_at_cancel_on_set`]).
    Realtime,
    /// `CLOCK_BOOTTIME`: like `Monotonic`, but keeps counting while
    /// suspended.
    Boottime,
    /// `CLOCK_REALTIME_ALARM`: like `Realtime`, and wakes a suspended
    /// system. Needs `CAP_WAKE_ALARM`.
    RealtimeAlarm,
    /// `CLOCK_BOOTTIME_ALARM`: like `Boottime`, and wakes a suspended
    /// system. Needs `CAP_WAKE_ALARM`.
    BoottimeAlarm,
}

impl Clock {
    /// Every clock, in declaration order.
    pub const ALL: [Clock; 5] = [
        Clock::Monotonic,
        Clock::Realtime,
        Clock::Boottime,
        Clock::RealtimeAlarm,
        Clock::BoottimeAlarm,
    ];

    /// The clock's current time, as a duration since its zero (the Unix
    /// epoch for the realtime clocks, an unspecified point near boot for the
    /// others). This is the time base of [`TimerFd::arm_at`].
    ///
    /// # Errors
    ///
    /// The kernel's `clock_gettime` error, such as `EINVAL` for an alarm
    /// clock on a machine without a real-time-clock device.
    pub fn now(self) -> io::Result<Duration> {
        Ok(duration_from_timespec(clock_gettime_dynamic(
            self.dynamic_id(),
        )?))
    }

    /// The clock of the kernel's clock id, for the ids a timerfd takes.
    fn from_clockid(id: i32) -> Option<Clock> {
        match id {
            libc::CLOCK_MONOTONIC => Some(Clock::Monotonic),
            libc::CLOCK_REALTIME => Some(Clock::Realtime),
            libc::CLOCK_BOOTTIME => Some(Clock::Boottime),
            libc::CLOCK_REALTIME_ALARM => Some(Clock::RealtimeAlarm),
            libc::CLOCK_BOOTTIME_ALARM => Some(Clock::BoottimeAlarm),
            _ => None,
        }
    }

    fn timerfd_id(self) -> TimerfdClockId {
        match self {
            Clock::Monotonic => TimerfdClockId::Monotonic,
            Clock::Realtime => TimerfdClockId::Realtime,
            Clock::Boottime => TimerfdClockId::Boottime,
            Clock::RealtimeAlarm => TimerfdClockId::RealtimeAlarm,
            Clock::BoottimeAlarm => TimerfdClockId::BoottimeAlarm,
        }
    }

    fn dynamic_id(self) -> DynamicClockId<'static> {
        match self {
            Clock::Monotonic => DynamicClockId::Known(rustix::time::ClockId::Monotonic),
            Clock::Realtime => DynamicClockId::Known(rustix::time::ClockId::Realtime),
            Clock::Boottime => DynamicClockId::Boottime,
            Clock::RealtimeAlarm => DynamicClockId::RealtimeAlarm,
            Clock::BoottimeAlarm => DynamicClockId::BoottimeAlarm,
        }
    }

    fn is_realtime(self) -> bool {
        matches!(self, Clock::Realtime | Clock::RealtimeAlarm)
    }
}

/// An owned timerfd: a kernel timer that you read instead of being called
/// back, and that counts every expiration — none is lost when the reader is
/// late.
///
/// The descriptor is nonblocking and close-on-exec, and becomes readable
/// when the timer has expired at least once since the last
/// [`expirations`](TimerFd::expirations).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use iofd::TimerFd;
///
/// # fn main() -> std::io::Result<()> {
/// let timer = TimerFd::new()?;
/// timer.arm(Duration::from_millis(1), Duration::from_millis(1))?;
/// std::thread::sleep(Duration::from_millis(20));
/// let n = timer.expirations()?; // every tick since arming, counted
/// assert!(n >= 1);
/// # Ok(())
/// # }
/// ```
pub struct TimerFd {
    fd: OwnedFd,
    clock: Clock,
}

/// The smallest initial value, used where a zero would disarm the timer.
const AT_ONCE: Duration = Duration::from_nanos(1);

impl TimerFd {
    /// Creates a disarmed timer on [`Clock::Monotonic`].
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when out of descriptors, `ENOMEM`;
    /// [`Unsupported`](io::ErrorKind::Unsupported) or
    /// [`PermissionDenied`](io::ErrorKind::PermissionDenied) with a
    /// [`SyscallError`](crate::SyscallError) where the kernel lacks timerfd or
    /// a sandbox forbids it.
    pub fn new() -> io::Result<TimerFd> {
        TimerFd::with_clock(Clock::Monotonic)
    }

    /// Creates a disarmed timer on `clock`.
    ///
    /// # Errors
    ///
    /// As [`TimerFd::new`]; for the alarm clocks, without `CAP_WAKE_ALARM`,
    /// the kernel's `EPERM` as [`PermissionDenied`](io::ErrorKind::PermissionDenied)
    /// with a [`SyscallError`](crate::SyscallError) naming `CAP_WAKE_ALARM`.
    pub fn with_clock(clock: Clock) -> io::Result<TimerFd> {
        let fd = timerfd_create(
            clock.timerfd_id(),
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )
        .map_err(|e| {
            let perm = match clock {
                Clock::RealtimeAlarm | Clock::BoottimeAlarm => {
                    "CAP_WAKE_ALARM (alarm clocks can wake a suspended system)"
                }
                _ => SANDBOX,
            };
            syscall_error(
                "timerfd_create",
                e.raw_os_error(),
                "Linux 2.6.25 or later",
                Some(perm),
            )
        })?;
        Ok(TimerFd { fd, clock })
    }

    /// The clock this timer counts on.
    #[inline]
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The current time of this timer's clock: the base for
    /// [`arm_at`](TimerFd::arm_at) deadlines.
    ///
    /// # Errors
    ///
    /// As [`Clock::now`].
    pub fn now(&self) -> io::Result<Duration> {
        self.clock.now()
    }

    /// Arms the timer to expire `initial` from now, then every `interval`
    /// (a zero `interval` makes a one-shot timer). Replaces any earlier
    /// setting and discards expirations not yet read.
    ///
    /// A zero `initial` does **not** disarm the timer (as it would in
    /// `timerfd_settime(2)`): the timer fires at once (after 1 ns). Use
    /// [`disarm`](TimerFd::disarm) to stop it.
    ///
    /// One `timerfd_settime` syscall, no allocation.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if a duration's seconds do not fit the kernel's
    /// `time_t` (more than `i64::MAX`).
    #[inline]
    pub fn arm(&self, initial: Duration, interval: Duration) -> io::Result<()> {
        let initial = if initial.is_zero() { AT_ONCE } else { initial };
        self.settime(initial, interval, TimerfdTimerFlags::empty())
    }

    /// Arms the timer to expire at the absolute `deadline` on its own clock
    /// (see [`now`](TimerFd::now)), then every `interval`.
    ///
    /// A deadline in the past fires at once; with a non-zero `interval` the
    /// first read then counts every interval that has passed since the
    /// deadline, as the kernel does. A zero deadline also fires at once
    /// rather than disarming.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if a duration's seconds do not fit the kernel's
    /// `time_t`.
    #[inline]
    pub fn arm_at(&self, deadline: Duration, interval: Duration) -> io::Result<()> {
        let deadline = if deadline.is_zero() {
            AT_ONCE
        } else {
            deadline
        };
        self.settime(deadline, interval, TimerfdTimerFlags::ABSTIME)
    }

    /// Like [`arm_at`](TimerFd::arm_at), and asks the kernel to cancel the
    /// timer if the clock is set discontinuously (`TFD_TIMER_CANCEL_ON_SET`):
    /// someone runs `date -s`, NTP steps the clock, and so on.
    ///
    /// After such a jump, [`expirations`](TimerFd::expirations) fails once
    /// with `ECANCELED`; [`TimerFd::is_clock_changed`] recognises that error.
    /// Re-arm the timer from the new time.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the timer's clock is not `Realtime` or
    /// `RealtimeAlarm` (only a settable clock can jump; the kernel would
    /// silently ignore the request), or a duration does not fit `time_t`.
    pub fn arm_at_cancel_on_set(&self, deadline: Duration, interval: Duration) -> io::Result<()> {
        if !self.clock.is_realtime() {
            return Err(invalid_input(
                "cancel-on-set needs a Realtime or RealtimeAlarm timer: other clocks cannot be set",
            ));
        }
        let deadline = if deadline.is_zero() {
            AT_ONCE
        } else {
            deadline
        };
        self.settime(
            deadline,
            interval,
            TimerfdTimerFlags::ABSTIME | TimerfdTimerFlags::CANCEL_ON_SET,
        )
    }

    /// Stops the timer and discards expirations not yet read.
    ///
    /// # Errors
    ///
    /// The kernel's `timerfd_settime` error (none is expected on a valid
    /// timer).
    #[inline]
    pub fn disarm(&self) -> io::Result<()> {
        self.settime(Duration::ZERO, Duration::ZERO, TimerfdTimerFlags::empty())
    }

    /// The time left until the next expiration and the interval, as
    /// `(remaining, interval)`. A disarmed timer gives `(0, 0)`; a one-shot
    /// timer that has fired gives `(0, 0)` too.
    ///
    /// # Errors
    ///
    /// The kernel's `timerfd_gettime` error.
    pub fn get_time(&self) -> io::Result<(Duration, Duration)> {
        let spec = timerfd_gettime(&self.fd)?;
        Ok((
            duration_from_timespec(spec.it_value),
            duration_from_timespec(spec.it_interval),
        ))
    }

    /// The number of expirations since the last call (or since arming), and
    /// resets it: the overrun count, so a late reader loses nothing.
    ///
    /// One `read` syscall, no allocation.
    ///
    /// # Errors
    ///
    /// - `WouldBlock` when the timer has not expired since the last read.
    /// - `ECANCELED` (see [`TimerFd::is_clock_changed`]) once after the clock
    ///   of a timer armed with
    ///   [`arm_at_cancel_on_set`](TimerFd::arm_at_cancel_on_set) was set.
    #[inline]
    pub fn expirations(&self) -> io::Result<u64> {
        read_u64(self.fd.as_fd())
    }

    /// Reads the raw 8-byte expiration count (native endian) into the start
    /// of `buf`, as `read(2)` on a timerfd does, and returns 8; this resets
    /// the count, as [`expirations`](TimerFd::expirations) does.
    ///
    /// An empty `buf` returns `Ok(0)` without a syscall and resets nothing,
    /// as [`std::io::Read::read`] promises.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `buf` holds 1 to 7 bytes (the kernel would say
    ///   `EINVAL`; this says why).
    /// - As [`expirations`](TimerFd::expirations): `WouldBlock`,
    ///   `ECANCELED`.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        read_counter_into(
            self.fd.as_fd(),
            buf,
            "a timerfd read needs a buffer of at least 8 bytes",
        )
    }

    /// Whether `err` is the "clock changed" outcome of
    /// [`expirations`](TimerFd::expirations) (`ECANCELED`) for a timer armed
    /// with [`arm_at_cancel_on_set`](TimerFd::arm_at_cancel_on_set).
    #[inline]
    pub fn is_clock_changed(err: &io::Error) -> bool {
        err.raw_os_error() == Some(libc::ECANCELED)
    }

    /// Makes an independent owner of the same timer (`F_DUPFD_CLOEXEC`):
    /// arming through one arms both.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when out of descriptors.
    pub fn try_clone(&self) -> io::Result<TimerFd> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?;
        Ok(TimerFd {
            fd,
            clock: self.clock,
        })
    }

    #[inline]
    fn settime(
        &self,
        value: Duration,
        interval: Duration,
        flags: TimerfdTimerFlags,
    ) -> io::Result<()> {
        let spec = Itimerspec {
            it_value: timespec_from_duration(value)?,
            it_interval: timespec_from_duration(interval)?,
        };
        timerfd_settime(&self.fd, flags, &spec)?;
        Ok(())
    }
}

/// The mapping from `std::time::Instant` to `CLOCK_MONOTONIC`, the clock
/// `Instant` reads on Linux: an `Instant` and the clock read just after it.
///
/// `Instant` does not expose its clock value, so a deadline is mapped by
/// this offset. The clock is read second, so a mapped deadline is late by
/// the nanoseconds between the two reads, never early.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy)]
pub(crate) struct MonotonicBase {
    instant: std::time::Instant,
    nanos: u64,
}

#[cfg(feature = "tokio")]
impl MonotonicBase {
    /// Reads `Instant::now()`, then the clock.
    pub(crate) fn now() -> io::Result<MonotonicBase> {
        let instant = std::time::Instant::now();
        let nanos = saturating_nanos(Clock::Monotonic.now()?);
        Ok(MonotonicBase { instant, nanos })
    }

    /// `deadline` in nanoseconds on `CLOCK_MONOTONIC`, never earlier than
    /// `deadline` (saturating at the ends of the clock).
    pub(crate) fn nanos_of(&self, deadline: std::time::Instant) -> u64 {
        match deadline.checked_duration_since(self.instant) {
            Some(after) => self.nanos.saturating_add(saturating_nanos(after)),
            None => self
                .nanos
                .saturating_sub(saturating_nanos(self.instant - deadline)),
        }
    }
}

/// `d` in nanoseconds, saturating at `u64::MAX` (584 years).
#[cfg(feature = "tokio")]
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `deadline` as a time on `CLOCK_MONOTONIC`, for [`TimerFd::arm_at`] on a
/// [`Clock::Monotonic`] timer ([`MonotonicBase`]): never earlier than
/// `deadline`, and never zero (which would disarm).
#[cfg(feature = "tokio")]
pub(crate) fn monotonic_deadline(deadline: std::time::Instant) -> io::Result<Duration> {
    let at = MonotonicBase::now()?.nanos_of(deadline);
    Ok(Duration::from_nanos(at).max(AT_ONCE))
}

/// Converts to the kernel's `timespec`, refusing seconds past `i64::MAX`.
#[inline]
fn timespec_from_duration(d: Duration) -> io::Result<Timespec> {
    let tv_sec = i64::try_from(d.as_secs())
        .map_err(|_| invalid_input("timer duration too large: seconds must fit in i64 (time_t)"))?;
    Ok(Timespec {
        tv_sec,
        tv_nsec: d.subsec_nanos().into(),
    })
}

/// Converts a kernel `timespec`; the kernel never reports a negative one for
/// these clocks and timers, and one would read as zero.
fn duration_from_timespec(ts: Timespec) -> Duration {
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

impl_owned_fd_conversions!(TimerFd);

impl TryFrom<OwnedFd> for TimerFd {
    type Error = AdoptError;

    /// Adopts `fd` if it is a timerfd (its link in
    /// `/proc/thread-self/fd`, the calling thread's descriptor table, reads
    /// `anon_inode:[timerfd]`), on the clock its fdinfo reports
    /// (`clockid`); otherwise hands `fd` back in the error. The timer keeps
    /// its setting and its pending expirations.
    ///
    /// Sets `O_NONBLOCK`, which the handle relies on; the flag belongs to
    /// the open file description, so every holder of a duplicate (in any
    /// process) sees it too. Close-on-exec is left as it is.
    ///
    /// # Errors
    ///
    /// [`AdoptError`] (holding `fd`) if `fd` is not a timerfd, or `/proc`
    /// cannot be read.
    fn try_from(fd: OwnedFd) -> Result<TimerFd, AdoptError> {
        let (fd, clock) = adopt_pollable(fd, "timerfd", "clockid", |id| {
            Clock::from_clockid(id?.parse().ok()?)
        })?;
        Ok(TimerFd { fd, clock })
    }
}
impl_close!(TimerFd);

impl fmt::Debug for TimerFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerFd")
            .field("fd", &self.fd.as_raw_fd())
            .field("clock", &self.clock)
            .finish()
    }
}
