//! The conversions every owned handle shares.
//!
//! Each handle is a newtype around one [`OwnedFd`](std::os::fd::OwnedFd) in a
//! field named `fd`; this macro gives it the descriptor traits that
//! `../DESIGN.md` requires of every handle: `AsFd`, `AsRawFd`, `IntoRawFd`
//! and `From<Handle> for OwnedFd`. Handles are neither `Copy` nor `Clone`:
//! ownership is what makes a double close impossible.

/// Implements `AsFd`, `AsRawFd`, `IntoRawFd` and `From<$ty> for OwnedFd` for a
/// struct whose `fd` field is an `OwnedFd`.
macro_rules! impl_owned_fd_conversions {
    ($ty:ty) => {
        impl ::std::os::fd::AsFd for $ty {
            #[inline]
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(&self.fd)
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            #[inline]
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&self.fd)
            }
        }

        impl ::std::os::fd::IntoRawFd for $ty {
            #[inline]
            fn into_raw_fd(self) -> ::std::os::fd::RawFd {
                ::std::os::fd::IntoRawFd::into_raw_fd(self.fd)
            }
        }

        impl ::std::convert::From<$ty> for ::std::os::fd::OwnedFd {
            #[inline]
            fn from(handle: $ty) -> ::std::os::fd::OwnedFd {
                handle.fd
            }
        }
    };
}

pub(crate) use impl_owned_fd_conversions;

/// Implements a fallible `close(self)` for a struct whose `fd` field is an
/// `OwnedFd`, as [`Fd::close`](crate::Fd::close) has.
macro_rules! impl_close {
    ($($ty:ident),* $(,)?) => {$(
        impl $ty {
            #[doc = concat!("Closes the ", stringify!($ty), " and reports what the kernel said.")]
            ///
            /// `Drop` closes too, but has to ignore the result; call `close`
            /// where a failed close must be noticed.
            ///
            /// # Errors
            ///
            /// The error of [`close(2)`]. The descriptor is released
            /// whatever the answer: on Linux even `EINTR` means it is gone,
            /// so `close` never retries (a retry could close a descriptor
            /// that another thread has just been given).
            ///
            /// [`close(2)`]: https://man7.org/linux/man-pages/man2/close.2.html
            pub fn close(self) -> ::std::io::Result<()> {
                $crate::fd::close_owned(self.fd)
            }
        }
    )*};
}

pub(crate) use impl_close;
