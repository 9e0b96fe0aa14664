//! [`AsyncEventFd`].

use std::io;
use std::task::{Context, Poll, ready};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use super::{RegisterError, register};
use crate::EventFd;

/// An [`EventFd`] for tokio: `wait().await` for the counter, `signal(v).await`
/// to add to it.
///
/// In semaphore mode ([`new_semaphore`](AsyncEventFd::new_semaphore)) it is an
/// async semaphore across tasks, threads and processes: each `wait` takes one
/// unit, and a wake-up is never lost.
///
/// Both methods take `&self`, so one `AsyncEventFd` (in an `Arc`) can be
/// awaited and signalled from many tasks.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use iofd::AsyncEventFd;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let efd = Arc::new(AsyncEventFd::new(0)?);
/// let waiter = tokio::spawn({
///     let efd = efd.clone();
///     async move { efd.wait().await }
/// });
/// efd.signal(3).await?;
/// assert_eq!(waiter.await.unwrap()?, 3);
/// # Ok(())
/// # }
/// ```
pub struct AsyncEventFd {
    inner: AsyncFd<EventFd>,
}

impl AsyncEventFd {
    /// A counting eventfd starting at `init`, registered with the current
    /// runtime.
    ///
    /// # Errors
    ///
    /// As [`EventFd::new`]; and an error (not a panic) when no tokio runtime
    /// is current. A runtime built without its I/O driver (`enable_io`)
    /// makes tokio itself panic, as for every tokio I/O type.
    pub fn new(init: u32) -> io::Result<AsyncEventFd> {
        Ok(AsyncEventFd::try_from(EventFd::new(init)?)?)
    }

    /// A semaphore-mode eventfd holding `init` units.
    ///
    /// # Errors
    ///
    /// As [`AsyncEventFd::new`].
    pub fn new_semaphore(init: u32) -> io::Result<AsyncEventFd> {
        Ok(AsyncEventFd::try_from(EventFd::new_semaphore(init)?)?)
    }

    /// Waits until the counter is non-zero, then takes it: the whole count,
    /// or 1 in semaphore mode.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the counter is read only in the poll that returns the
    /// value, so a dropped `wait` takes nothing.
    ///
    /// # Errors
    ///
    /// The kernel's read error (none is expected).
    pub async fn wait(&self) -> io::Result<u64> {
        // `async_io` clears readiness only on WouldBlock and, unlike the
        // poll form, wakes every task waiting on the handle.
        self.inner.async_io(Interest::READABLE, EventFd::wait).await
    }

    /// The poll form of [`wait`](AsyncEventFd::wait), for hand-written
    /// futures. One `read` syscall when the reactor says readable; no
    /// allocation.
    ///
    /// Like `AsyncFd::poll_read_ready`, this keeps one waker: only the task
    /// that polled last is woken. Several tasks sharing the handle should
    /// use the `async fn`, which wakes them all.
    ///
    /// # Errors
    ///
    /// As [`wait`](AsyncEventFd::wait).
    pub fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            // Readiness is cleared only if the read says WouldBlock.
            if let Ok(result) = guard.try_io(|fd| fd.get_ref().wait()) {
                return Poll::Ready(result);
            }
        }
    }

    /// Adds `value` to the counter, waiting for room if it would overflow.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the value is added only in the poll that returns `Ok`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `u64::MAX`, as [`EventFd::signal`].
    pub async fn signal(&self, value: u64) -> io::Result<()> {
        self.inner
            .async_io(Interest::WRITABLE, |efd| efd.signal(value))
            .await
    }

    /// The poll form of [`signal`](AsyncEventFd::signal). One `write`
    /// syscall when the reactor says writable.
    ///
    /// Like `AsyncFd::poll_read_ready`, this keeps one waker: only the task
    /// that polled last is woken. Several tasks sharing the handle should
    /// use the `async fn`, which wakes them all.
    ///
    /// # Errors
    ///
    /// As [`signal`](AsyncEventFd::signal).
    pub fn poll_signal(&self, cx: &mut Context<'_>, value: u64) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.inner.poll_write_ready(cx))?;
            if let Ok(result) = guard.try_io(|fd| fd.get_ref().signal(value)) {
                return Poll::Ready(result);
            }
        }
    }

    /// The synchronous handle, for its nonblocking methods.
    pub fn get_ref(&self) -> &EventFd {
        self.inner.get_ref()
    }

    /// Deregisters from the reactor and gives back the synchronous handle.
    pub fn into_inner(self) -> EventFd {
        self.inner.into_inner()
    }
}

impl TryFrom<EventFd> for AsyncEventFd {
    type Error = RegisterError<EventFd>;

    /// Registers `efd` with the current runtime; on failure hands it back.
    fn try_from(efd: EventFd) -> Result<AsyncEventFd, RegisterError<EventFd>> {
        let inner = register(efd, Interest::READABLE | Interest::WRITABLE)?;
        Ok(AsyncEventFd { inner })
    }
}
