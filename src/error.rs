//! Error construction shared by every handle.
//!
//! All fallible operations return [`std::io::Result`]. Kernel errors come
//! through unchanged (their `raw_os_error` is the errno); input that the crate
//! refuses before any syscall is [`io::ErrorKind::InvalidInput`] with a message
//! naming what was wrong.

use std::io;

/// An [`io::ErrorKind::InvalidInput`] error carrying `message`.
///
/// Allocates (the message is boxed inside the error), which is fine: it only
/// happens on an error path, never on a success path.
#[cold]
pub(crate) fn invalid_input(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// An [`io::ErrorKind::InvalidInput`] error with a message built at run time.
#[cold]
pub(crate) fn invalid_input_owned(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Why a syscall the crate needs is missing or forbidden here: the kernel
/// is too old (`ENOSYS`), a sandbox refuses it (`EPERM` from a seccomp
/// filter or a container policy), or a capability is missing.
///
/// It travels inside an [`io::Error`] whose kind is
/// [`Unsupported`](io::ErrorKind::Unsupported) (for `ENOSYS` and
/// features the kernel lacks) or
/// [`PermissionDenied`](io::ErrorKind::PermissionDenied) (for `EPERM`), and
/// its message names what is needed.
///
/// **The errno is kept, but `raw_os_error()` returns `None` for such an
/// error** (the `io::Error` carries this payload instead of a bare OS
/// code). Use [`iofd::errno`](crate::errno), which answers for both kinds
/// of error, wherever you would `match e.raw_os_error()`.
///
/// # Examples
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// match iofd::PidFd::open(std::process::id() as i32) {
///     Ok(_pidfd) => {}
///     // Seen through `iofd::errno`, not `raw_os_error()`.
///     Err(e) if iofd::errno(&e) == Some(libc::ENOSYS) => {
///         let why = e.get_ref().and_then(|e| e.downcast_ref::<iofd::SyscallError>());
///         eprintln!("no pidfds here: {}", why.map_or("", |why| why.needs()));
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallError {
    syscall: &'static str,
    errno: i32,
    needs: &'static str,
}

impl SyscallError {
    pub(crate) const fn new(
        syscall: &'static str,
        errno: i32,
        needs: &'static str,
    ) -> SyscallError {
        SyscallError {
            syscall,
            errno,
            needs,
        }
    }

    /// The syscall that failed, such as `"pidfd_open"`.
    pub fn syscall(&self) -> &'static str {
        self.syscall
    }

    /// The errno it failed with (`ENOSYS`, `EPERM`, …).
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// What it needs, such as `"Linux 5.3 or later"` or `"CAP_WAKE_ALARM"`.
    pub fn needs(&self) -> &'static str {
        self.needs
    }
}

impl std::fmt::Display for SyscallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}(2) failed: {}; it needs {}",
            self.syscall,
            io::Error::from_raw_os_error(self.errno),
            self.needs
        )
    }
}

impl std::error::Error for SyscallError {}

/// The errno behind `err`: its [`raw_os_error`](io::Error::raw_os_error),
/// or the errno kept in a [`SyscallError`] payload, which `raw_os_error`
/// does not see. `None` for errors the crate made without a syscall (such
/// as `InvalidInput`).
///
/// # Examples
///
/// ```
/// use std::io;
///
/// let plain = io::Error::from_raw_os_error(libc::EAGAIN);
/// assert_eq!(iofd::errno(&plain), Some(libc::EAGAIN));
/// let refused = io::Error::new(io::ErrorKind::InvalidInput, "bad input");
/// assert_eq!(iofd::errno(&refused), None);
/// ```
pub fn errno(err: &io::Error) -> Option<i32> {
    err.raw_os_error().or_else(|| {
        err.get_ref()?
            .downcast_ref::<SyscallError>()
            .map(SyscallError::errno)
    })
}

/// What a sandbox must allow, for `EPERM` where the syscall itself is not a
/// permission check.
pub(crate) const SANDBOX: &str =
    "a seccomp filter or container policy that allows it (EPERM here means it is blocked)";

/// An [`io::ErrorKind::Unsupported`] error carrying a [`SyscallError`]:
/// `syscall` failed with `errno` because the kernel lacks what `needs`
/// names (a version, a flag, a file system).
#[cold]
pub(crate) fn unsupported(syscall: &'static str, errno: i32, needs: &'static str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        SyscallError::new(syscall, errno, needs),
    )
}

/// The errno of the libc call that just failed.
#[cold]
pub(crate) fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Maps the errno of a failed `syscall` to an error naming what is missing:
/// `ENOSYS` to [`io::ErrorKind::Unsupported`] with `nosys`, `EPERM` (where
/// `perm` is given) to [`io::ErrorKind::PermissionDenied`] with `perm`;
/// any other errno comes through as the plain OS error.
#[cold]
pub(crate) fn syscall_error(
    syscall: &'static str,
    errno: i32,
    nosys: &'static str,
    perm: Option<&'static str>,
) -> io::Error {
    match (errno, perm) {
        (libc::ENOSYS, _) => unsupported(syscall, errno, nosys),
        (libc::EPERM, Some(perm)) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            SyscallError::new(syscall, errno, perm),
        ),
        _ => io::Error::from_raw_os_error(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_sees_through_syscall_error() {
        let wrapped = syscall_error("pidfd_open", libc::ENOSYS, "Linux 5.3 or later", None);
        assert_eq!(wrapped.kind(), io::ErrorKind::Unsupported);
        assert_eq!(wrapped.raw_os_error(), None);
        assert_eq!(errno(&wrapped), Some(libc::ENOSYS));
        let denied = syscall_error("memfd_create", libc::EPERM, "x", Some(SANDBOX));
        assert_eq!(denied.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(errno(&denied), Some(libc::EPERM));
        let plain = syscall_error("read", libc::EBADF, "x", Some(SANDBOX));
        assert_eq!(plain.raw_os_error(), Some(libc::EBADF));
        assert_eq!(errno(&plain), Some(libc::EBADF));
        assert_eq!(errno(&invalid_input("no")), None);
        assert_eq!(errno(&io::Error::other("no")), None);
    }
}
