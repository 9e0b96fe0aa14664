//! [`Timeout`]: a future bounded in time by a [`Sleep`], and [`Elapsed`],
//! its error.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};

use ::tokio::task::coop;
use std::task::{Context, Poll};

use super::Sleep;

/// A future that runs another for at most a time, from
/// [`Timers::timeout`](super::Timers::timeout) or
/// [`Timers::timeout_at`](super::Timers::timeout_at); the counterpart of
/// `tokio::time::Timeout`.
///
/// It resolves to `Ok(output)` if the future completes first (checked
/// first on every poll, so a future ready at the deadline wins), or to
/// `Err(Elapsed)` once the deadline has passed. As tokio's, it polls the
/// future first and, if the future spent the last of the task's coop
/// budget, checks the deadline outside the budget: the limit is never
/// hidden by the future's own work.
///
/// # Cost
///
/// Made by [`Timers::timeout`](super::Timers::timeout) at least about
/// 67 ms before its deadline, it is armed at its first poll (if the
/// future is pending) in the polling thread's shard of its `Timers`, not
/// behind the lock all its timers share, and that poll reads neither the
/// clock nor tokio's coop budget (it is pending whatever they say); see
/// [Timeouts that cost little](super::Timers#timeouts-that-cost-little).
/// Made with [`timeout_at`](super::Timers::timeout_at), or nearer its
/// deadline, it is armed as a [`Sleep`] is.
///
/// # Cancel safety
///
/// As cancel safe as the future it runs: dropping the `Timeout` drops it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use iofd::time::Timers;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let timers = Timers::new()?;
/// let never = std::future::pending::<()>();
/// let err = timers.timeout(Duration::from_micros(500), never).await.unwrap_err();
/// assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::TimedOut);
/// assert_eq!(timers.timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
/// # Ok(())
/// # }
/// ```
#[must_use = "a Timeout does nothing unless awaited"]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F> Timeout<F> {
    pub(crate) fn new(future: F, sleep: Sleep) -> Timeout<F> {
        Timeout { future, sleep }
    }

    /// The future it runs.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The future it runs.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// The future it runs, with the time limit dropped.
    pub fn into_inner(self) -> F {
        self.future
    }

    /// The deadline.
    pub fn deadline(&self) -> std::time::Instant {
        self.sleep.deadline()
    }

    /// Lets the limit fire up to `accuracy` after its deadline (never
    /// before): see [`Sleep::set_accuracy`]. A timeout that guards a
    /// request rarely needs microseconds.
    pub fn accuracy(mut self, accuracy: std::time::Duration) -> Timeout<F> {
        self.sleep.set_accuracy(accuracy);
        self
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `future` is never moved out of a pinned `Timeout` (no method
        // takes it from `Pin<&mut Self>`, and there is no `Drop` impl), and
        // `Timeout` is `Unpin` only when `F` is; `sleep` is `Unpin` and not
        // structurally pinned.
        // SAFETY: so projecting the pin to `future` keeps it pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above: `future` stays pinned inside `this`.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        // The first poll of a limit made well before its deadline: if the
        // future is pending, the limit is armed without a look at the
        // clock or the coop budget (see `Sleep::arm_if_first_far`), the
        // common case of a timeout that never fires.
        if this.sleep.is_first_far_poll() {
            if let Poll::Ready(output) = future.poll(cx) {
                return Poll::Ready(Ok(output));
            }
            this.sleep.arm_if_first_far(cx);
            return Poll::Pending;
        }
        // The future first, as tokio's `timeout` does; if it spent the last
        // of the task's coop budget, the time limit is checked outside the
        // budget, so that the future's work never hides an elapsed limit.
        let had_budget = coop::has_budget_remaining();
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let elapsed = if had_budget && !coop::has_budget_remaining() {
            pin!(coop::unconstrained(&mut this.sleep)).poll(cx)
        } else {
            Pin::new(&mut this.sleep).poll(cx)
        };
        elapsed.map(|()| Err(Elapsed { _private: () }))
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("sleep", &self.sleep)
            .finish_non_exhaustive()
    }
}

/// The error of a [`Timeout`] whose time ran out; converts into an
/// [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use iofd::time::{Elapsed, Timers};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let timers = Timers::new()?;
/// let slow = timers.sleep(Duration::from_secs(60));
/// let elapsed: Elapsed = timers.timeout(Duration::from_micros(100), slow).await.unwrap_err();
/// assert_eq!(elapsed.to_string(), "deadline has elapsed");
/// // `?` in a function returning `io::Result` turns it into `TimedOut`.
/// let err = std::io::Error::from(elapsed);
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct Elapsed {
    _private: (),
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}
