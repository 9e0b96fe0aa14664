//! Async wrappers on `tokio::io::unix::AsyncFd` (feature `tokio`).
//!
//! Each wrapper owns its handle, registers it with the current runtime's
//! reactor, and turns the handle's nonblocking `WouldBlock` path into an
//! `async fn` (plus a `poll_*` twin for hand-written futures and, where it
//! makes sense, a `futures_core::Stream`). Readiness is cleared only when
//! the handle answers `WouldBlock` or after a read known to drain it, so
//! spurious readiness never turns into a wrong answer: the wrapper just
//! waits again.
//!
//! # Caveats
//!
//! - **`fork`.** tokio's reactor is an epoll instance, and a forked child
//!   shares it with the parent. Dropping an async handle inherited across
//!   `fork` in the child deregisters the descriptor from that shared epoll,
//!   which removes the *parent's* registration too: the parent's waits then
//!   never wake. In a forked child, `std::mem::forget` the async handles
//!   (or `exec` at once, which closes them without deregistering).
//! - **No I/O driver, no runtime.** Constructors return an error when no
//!   runtime is current or it was built without `enable_io`. tokio has no
//!   public way to ask whether a runtime has its I/O driver, so the second
//!   case is found by catching the panic tokio raises (with
//!   `catch_unwind`): the panic hook is never read or replaced, so the
//!   application's hook sees that panic (the default hook prints tokio's
//!   message, "A Tokio 1.x context was found, but IO is disabled"), and
//!   the constructor then returns the error. Built with
//!   `panic = "abort"`, nothing can be caught: such a construction aborts
//!   the process inside tokio, as tokio's own I/O types do.

mod eventfd;
mod pidfd;
mod pidfd_set;
mod signalfd;
mod timerfd;

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

use ::tokio::io::Interest;
use std::task::{Context, Poll, ready};

use ::tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};

pub use eventfd::AsyncEventFd;
pub use pidfd::AsyncPidFd;
pub use pidfd_set::PidFdSet;
pub use signalfd::AsyncSignalFd;
pub use timerfd::AsyncTimerFd;

/// The error of converting a handle into its async wrapper: why
/// registration failed, and the handle, handed back unharmed.
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct RegisterError<T> {
    inner: T,
    error: io::Error,
}

impl<T> RegisterError<T> {
    /// The handle and the error.
    pub fn into_parts(self) -> (T, io::Error) {
        (self.inner, self.error)
    }

    /// The handle that could not be registered.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Why registration failed.
    pub fn error(&self) -> &io::Error {
        &self.error
    }
}

impl<T> fmt::Debug for RegisterError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for RegisterError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot register with the tokio reactor: {}", self.error)
    }
}

impl<T> std::error::Error for RegisterError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<RegisterError<T>> for io::Error {
    /// Keeps the error (and drops the handle, closing it).
    fn from(err: RegisterError<T>) -> io::Error {
        err.error
    }
}

/// Registers `inner` with the current runtime's reactor for `interest`.
///
/// Without a current runtime, or on one without an I/O driver, it returns
/// an error (tokio's `register` would panic) and the handle comes back in
/// it; see [`io_driver_enabled`] for what the application's panic hook
/// sees.
pub(crate) fn register<T: AsRawFd>(
    inner: T,
    interest: Interest,
) -> Result<AsyncFd<T>, RegisterError<T>> {
    if ::tokio::runtime::Handle::try_current().is_err() {
        return Err(RegisterError {
            inner,
            error: io::Error::other(
                "no tokio runtime is current: create async handles inside a runtime \
                 (within `Runtime::block_on`, a task, or after `Runtime::enter`)",
            ),
        });
    }
    if !io_driver_enabled() {
        return Err(RegisterError {
            inner,
            error: io::Error::other(
                "the current tokio runtime has no I/O driver: build it with `enable_io()` \
                 (or `enable_all()`) on `tokio::runtime::Builder`",
            ),
        });
    }
    // Every `T` here is one of this crate's owned handles: its descriptor is
    // open from construction until the handle is dropped, never replaced,
    // and `as_raw_fd` always returns it; the `AsyncFd` owns the handle.
    // SAFETY: so the descriptor stays valid for the registration's life.
    match unsafe { AsyncFd::register_with_interest(inner, interest) } {
        Ok(fd) => Ok(fd),
        Err(err) => {
            let (inner, error) = err.into_parts();
            Err(RegisterError { inner, error })
        }
    }
}

/// Whether the current runtime (there is one) has its I/O driver.
///
/// tokio 1.54 offers no public way to ask (`Handle` has no such query; the
/// I/O driver metrics are `tokio_unstable` and read 0 without a driver),
/// and every registration `expect`s the driver. So this registers a
/// descriptor that cannot exist (-1) inside `catch_unwind`: with a driver,
/// `epoll_ctl` refuses it with `EBADF` and nothing stays registered;
/// without one, tokio panics before any syscall and the panic is caught.
/// One failed syscall per construction; never on a hot path.
///
/// The panic hook is neither read nor replaced: whatever hook the
/// application has installed sees tokio's panic (the default hook prints
/// tokio's message, once), then the caller gets an error. With
/// `panic = "abort"` nothing can be caught: the process aborts inside
/// tokio, as with tokio's own I/O types. `catch_unwind` also works while
/// the thread is already unwinding (a construction in a destructor): the
/// inner panic is caught before it can leave the destructor.
fn io_driver_enabled() -> bool {
    /// A descriptor number that no process ever has open.
    struct NoFd;
    impl AsRawFd for NoFd {
        fn as_raw_fd(&self) -> RawFd {
            -1
        }
    }
    let probe = std::panic::catch_unwind(|| {
        // -1 is never an open descriptor, so the registration fails
        // (EBADF) and nothing is left registered that could outlive it.
        // SAFETY: the descriptor-validity contract concerns a live
        // registration, and none is made.
        unsafe { AsyncFd::register_with_interest(NoFd, Interest::READABLE) }.is_ok()
    });
    probe.is_ok()
}

/// Implements `AsFd`, `AsRawFd` and `Debug` for an async wrapper through
/// its `get_ref()`, and `close` through its `into_inner()`.
macro_rules! impl_async_wrapper_traits {
    ($($ty:ident),* $(,)?) => {$(
        impl $ty {
            /// Deregisters from the reactor, then closes the descriptor and
            /// reports what the kernel said (see the synchronous handle's
            /// `close`; a drop has to ignore the answer).
            ///
            /// # Errors
            ///
            /// The error of `close(2)`; the descriptor is released whatever
            /// the answer.
            pub fn close(self) -> io::Result<()> {
                self.into_inner().close()
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(self.get_ref())
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(self.get_ref())
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("inner", self.get_ref())
                    .finish_non_exhaustive()
            }
        }
    )*};
}

impl_async_wrapper_traits!(AsyncEventFd, AsyncTimerFd, AsyncSignalFd, AsyncPidFd);

/// One nonblocking `read` on a descriptor the reactor reported readable,
/// clearing the readiness as soon as it is known to be used up.
///
/// - A read that `drained` the descriptor (a timerfd read, a counting
///   eventfd read, a signalfd batch shorter than its buffer) clears the
///   readiness at once, so the next wait goes straight to the reactor
///   instead of paying for a read that can only fail with `EAGAIN`.
/// - A read that may have left more (a semaphore eventfd, a full signalfd
///   batch) keeps it: the next call reads again.
/// - `WouldBlock` (spurious readiness, or another reader was first) clears
///   it; the caller waits again.
///
/// The eager clear cannot lose a wake-up. `clear_ready` clears only the
/// readiness of the tick the guard was taken at: tokio's `ScheduledIo`
/// compares the event tick and leaves readiness alone if the driver has
/// seen a newer event since. An event that arrives after the read (a new
/// expiration, a new `write` to the eventfd, a new signal) makes the kernel
/// wake the edge-triggered epoll entry again, the driver records it with a
/// newer tick, and the next wait returns at once. An event that arrived
/// between taking the guard and the read was consumed by the read.
///
/// Returns `None` when the read said `WouldBlock`.
#[inline]
pub(crate) fn read_and_clear<T: AsRawFd, R>(
    guard: &mut AsyncFdReadyGuard<'_, T>,
    read: impl FnOnce(&T) -> io::Result<R>,
    drained: impl FnOnce(&R) -> bool,
) -> Option<io::Result<R>> {
    match read(guard.get_inner()) {
        Ok(value) => {
            if drained(&value) {
                guard.clear_ready();
            }
            Some(Ok(value))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            guard.clear_ready();
            None
        }
        Err(e) => Some(Err(e)),
    }
}

/// Waits for readability and reads with [`read_and_clear`] until a read
/// does not say `WouldBlock`. Every task awaiting the handle is woken.
///
/// Cancel safe: the read happens in the poll that returns its result.
pub(crate) async fn read_when_ready<T: AsRawFd, R>(
    fd: &AsyncFd<T>,
    read: impl Fn(&T) -> io::Result<R>,
    drained: impl Fn(&R) -> bool,
) -> io::Result<R> {
    loop {
        let mut guard = fd.readable().await?;
        if let Some(result) = read_and_clear(&mut guard, &read, &drained) {
            return result;
        }
    }
}

/// The poll form of [`read_when_ready`] (one waker: the last task to
/// poll). `Err` outside is the readiness error, which tokio returns only
/// when the runtime has shut down; `Ok(result)` is the read's.
#[inline]
pub(crate) fn poll_read_when_ready<T: AsRawFd, R>(
    fd: &AsyncFd<T>,
    cx: &mut Context<'_>,
    mut read: impl FnMut(&T) -> io::Result<R>,
    drained: impl Fn(&R) -> bool,
) -> Poll<Result<io::Result<R>, io::Error>> {
    loop {
        let mut guard = match ready!(fd.poll_read_ready(cx)) {
            Ok(guard) => guard,
            Err(shutdown) => return Poll::Ready(Err(shutdown)),
        };
        if let Some(result) = read_and_clear(&mut guard, &mut read, &drained) {
            return Poll::Ready(Ok(result));
        }
    }
}

/// `WouldBlock`, without allocating.
#[inline]
pub(crate) fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}
