//! Precise timers at scale for tokio: any number of sleeps, intervals and
//! timeouts on **one** timerfd (feature `tokio`).
//!
//! [`Timers`] is the service: clone it into your tasks, then
//! [`sleep`](Timers::sleep), [`sleep_until`](Timers::sleep_until),
//! [`interval`](Timers::interval) and [`timeout`](Timers::timeout) as with
//! `tokio::time`. Every timer of a `Timers` lives in one deadline heap
//! (far one-shot deadlines first wait in a coarse wheel, where arming and
//! cancelling is O(1), and far timeouts before that in a shard of the
//! thread that armed them, where it takes no shared lock: see
//! [Timeouts that cost little](Timers#timeouts-that-cost-little)); one
//! timerfd, armed at the earliest
//! deadline and registered with tokio's reactor, fires every timer due
//! from the reactor's own turn — no task, no thread while the runtime
//! runs (after it, see [`Timers`]' *Lifetime*). Timers due within the
//! [slack](Timers#slack) of each other fire in one wake-up, and each timer
//! may have its own [accuracy](Sleep::set_accuracy); none fires early.
//!
//! # A drop-in for `tokio::time`
//!
//! The free functions [`sleep`], [`sleep_until`], [`interval`],
//! [`interval_at`], [`timeout`] and [`timeout_at`] are shaped as
//! `tokio::time`'s and served by the current runtime's default `Timers`
//! ([`Timers::current`]): switching a program is a change of import.
//! Deadlines may be `std::time::Instant`s or `tokio::time::Instant`s;
//! [`Interval::tick`] returns the tick's `Instant` and
//! [`Interval::missed`] the periods it stood for; the default
//! [`MissedTickBehavior`] is tokio's, `Burst`; where tokio's functions
//! panic (outside a runtime, a zero period), these do too, at the caller.
//!
//! ```
//! use std::time::Duration;
//! use iofd::time::{interval, sleep, timeout}; // was: use tokio::time::{…};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! sleep(Duration::from_micros(200)).await;
//! let mut ticks = interval(Duration::from_micros(250));
//! ticks.tick().await;
//! ticks.tick().await;
//! assert!(timeout(Duration::from_micros(300), std::future::pending::<()>()).await.is_err());
//! # }
//! ```
//!
//! # Which timer?
//!
//! | you need | use |
//! |---|---|
//! | a few timers, or timers of millisecond precision and up | `tokio::time`: no descriptor, the least CPU |
//! | many timers (up to hundreds of thousands) with microsecond precision | [`Timers`] |
//! | many timers on another clock (`CLOCK_BOOTTIME`, which counts suspend; `CLOCK_REALTIME`, re-evaluated when the clock is set; the alarm clocks) | [`Timers::with_clock`], with [`ClockTime`] deadlines |
//! | one timer's kernel expiration count | [`AsyncTimerFd`](crate::AsyncTimerFd) |
//! | a timer in a mio loop or a blocking thread | [`TimerFd`](crate::TimerFd) |
//!
//! A single `AsyncTimerFd` is as precise as a `Timers` for one timer (one
//! descriptor, woken by the kernel for that timer alone) and keeps the
//! kernel's expiration count; a `Timers` adds the slack, and wins as soon
//! as there are many timers. Measured figures are in the README
//! ("Performance").
//!
//! The timers take part in tokio's cooperative budget as tokio's own do,
//! and keep working after their runtime shuts down (one helper thread for
//! the whole process takes over; see [`Timers`]'s *Lifetime*). They do
//! not follow tokio's paused clock (see [`Timers`]'s *Caveats*).
//!
//! # `Instant` and `CLOCK_MONOTONIC`
//!
//! On Linux, `std::time::Instant` is a reading of `CLOCK_MONOTONIC`
//! (`clock_gettime`), the clock the timerfd is armed on
//! (`TFD_TIMER_ABSTIME`), so a deadline given as an `Instant` is kept on
//! the kernel's clock without drift (for the other clocks, see
//! [`Timers`]' *Clocks*). `Instant` does not expose its clock
//! value, so each `Timers` reads an `Instant` and then the clock once, at
//! creation, and maps every deadline by that offset; the clock is read
//! second, so a mapped deadline is late by the nanoseconds between the two
//! reads, never early. `CLOCK_MONOTONIC` stops while the system is
//! suspended, as `Instant` does.

mod accuracy;
mod clock;
mod clock_time;
mod deadlines;
mod default;
mod driver;
mod fallback;
mod free_list;
mod functions;
mod interval;
#[cfg(all(test, iofd_loom))]
mod loom;
mod registration;
mod rerun;
mod shards;
mod sleep;
mod spin_lock;
mod timeout;
mod wheel;

pub use clock_time::ClockTime;
pub use driver::{DEFAULT_SLACK, Timers};
pub use functions::{interval, interval_at, sleep, sleep_until, timeout, timeout_at};
pub use interval::{Interval, MissedTickBehavior};
pub use sleep::Sleep;
pub use timeout::{Elapsed, Timeout};
