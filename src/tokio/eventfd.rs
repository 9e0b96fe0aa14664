//! [`AsyncEventFd`].

use std::io;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use super::{RegisterError, poll_read_when_ready, read_when_ready, register};
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
/// # Caveats
///
/// After `fork`, the child shares tokio's epoll instance with the parent:
/// dropping this handle in the child removes the parent's registration
/// too, and the parent's waits never wake. `std::mem::forget` it in a
/// forked child (or `exec` at once).
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
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct AsyncEventFd {
    /// Registered for read interest only: a reader never pays for the
    /// write-readiness events that every read would otherwise raise.
    inner: AsyncFd<EventFd>,
    /// A duplicate registered for write interest, made the first time a
    /// `signal` meets a full counter (almost never: the counter holds
    /// `u64::MAX - 1`).
    writer: OnceLock<AsyncFd<EventFd>>,
}

impl AsyncEventFd {
    /// A counting eventfd starting at `init`, registered with the current
    /// runtime.
    ///
    /// # Errors
    ///
    /// As [`EventFd::new`]; and an error when no tokio runtime is current or
    /// it has no I/O driver (`enable_io`), but under `panic = "abort"` the
    /// latter aborts inside tokio ([details](crate#runtimes-without-an-io-driver)).
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
        let semaphore = self.get_ref().is_semaphore();
        read_when_ready(&self.inner, EventFd::wait, |_| !semaphore).await
    }

    /// The poll form of [`wait`](AsyncEventFd::wait), for hand-written
    /// futures. One `read` syscall per wake-up; no allocation. A counting
    /// eventfd's read always empties the counter, so readiness is cleared
    /// right after it and the next wait costs no read that would fail; in
    /// semaphore mode readiness is kept until a read says `WouldBlock`.
    ///
    /// Like `AsyncFd::poll_read_ready`, this keeps one waker: only the task
    /// that polled last is woken. Several tasks sharing the handle should
    /// use the `async fn`, which wakes them all.
    ///
    /// # Errors
    ///
    /// As [`wait`](AsyncEventFd::wait); an error if the runtime has shut
    /// down.
    pub fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let semaphore = self.get_ref().is_semaphore();
        poll_read_when_ready(&self.inner, cx, EventFd::wait, |_| !semaphore)
            .map(|r| r.and_then(|r| r))
    }

    /// Adds `value` to the counter, waiting for room if it would overflow.
    ///
    /// One `write` syscall when there is room (always, short of a counter
    /// near `u64::MAX`). When the counter is full, the first such call
    /// registers a duplicate descriptor for write readiness (the handle
    /// itself is registered for read interest only, so readers never pay
    /// for write events) and waits on it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the value is added only in the poll that returns `Ok`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `u64::MAX`, as [`EventFd::signal`]; when the
    /// counter is full, the errors of [`EventFd::try_clone`] and of
    /// registering the duplicate.
    pub async fn signal(&self, value: u64) -> io::Result<()> {
        // A unit of tokio's coop budget, as the readiness path takes: a
        // loop of signals that always find room yields now and then.
        std::future::poll_fn(::tokio::task::coop::poll_proceed)
            .await
            .made_progress();
        match self.get_ref().signal(value) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
        self.writer()?
            .async_io(Interest::WRITABLE, |efd| efd.signal(value))
            .await
    }

    /// The poll form of [`signal`](AsyncEventFd::signal). One `write`
    /// syscall when there is room.
    ///
    /// Like `AsyncFd::poll_write_ready`, this keeps one waker: only the task
    /// that polled last is woken. Several tasks sharing the handle should
    /// use the `async fn`, which wakes them all.
    ///
    /// # Errors
    ///
    /// As [`signal`](AsyncEventFd::signal).
    pub fn poll_signal(&self, cx: &mut Context<'_>, value: u64) -> Poll<io::Result<()>> {
        // A unit of tokio's coop budget (see `signal`).
        let coop = ready!(::tokio::task::coop::poll_proceed(cx));
        match self.get_ref().signal(value) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => {
                coop.made_progress();
                return Poll::Ready(done);
            }
        }
        let writer = self.writer()?;
        loop {
            let mut guard = ready!(writer.poll_write_ready(cx))?;
            if let Ok(result) = guard.try_io(|fd| fd.get_ref().signal(value)) {
                return Poll::Ready(result);
            }
        }
    }

    /// The write-interest registration, made on first use.
    #[cold]
    fn writer(&self) -> io::Result<&AsyncFd<EventFd>> {
        if let Some(writer) = self.writer.get() {
            return Ok(writer);
        }
        let writer = register(self.get_ref().try_clone()?, Interest::WRITABLE)?;
        // Another task may have won the race: then ours is dropped
        // (deregistered and closed) and theirs is used.
        let _ = self.writer.set(writer);
        self.writer
            .get()
            .ok_or_else(|| io::Error::other("eventfd writer registration vanished"))
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
        let inner = register(efd, Interest::READABLE)?;
        Ok(AsyncEventFd {
            inner,
            writer: OnceLock::new(),
        })
    }
}
