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
