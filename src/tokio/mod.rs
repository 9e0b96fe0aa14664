//! Async wrappers on `tokio::io::unix::AsyncFd` (feature `tokio`).
//!
//! Each wrapper owns its handle, registers it with the current runtime's
//! reactor, and turns the handle's nonblocking `WouldBlock` path into an
//! `async fn` (plus a `poll_*` twin for hand-written futures and, where it
//! makes sense, a `futures_core::Stream`). Readiness is cleared only when
//! the handle answers `WouldBlock`, so spurious readiness never turns into a
//! wrong answer: the wrapper just waits again.

mod eventfd;
mod pidfd;
mod signalfd;
mod timerfd;

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

pub use eventfd::AsyncEventFd;
pub use pidfd::AsyncPidFd;
pub use signalfd::AsyncSignalFd;
pub use timerfd::AsyncTimerFd;

/// The error of converting a handle into its async wrapper: why
/// registration failed, and the handle, handed back unharmed.
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
/// Never panics: without a current runtime it returns an error (tokio's
/// `register` would panic), and the handle comes back in it.
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

/// Implements `AsFd`, `AsRawFd` and `Debug` for an async wrapper through
/// its `get_ref()`.
macro_rules! impl_async_wrapper_traits {
    ($($ty:ident),* $(,)?) => {$(
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

/// `WouldBlock`, without allocating.
#[inline]
pub(crate) fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}
