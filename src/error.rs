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

/// A syscall the crate needs is missing or forbidden here: the kernel is too
/// old (`ENOSYS`), a sandbox refuses it (`EPERM` from a seccomp filter or a
/// container policy), or a capability is missing.
///
/// It travels inside an [`io::Error`] whose kind is
/// [`Unsupported`](io::ErrorKind::Unsupported) (for `ENOSYS` and
/// features the kernel lacks) or
/// [`PermissionDenied`](io::ErrorKind::PermissionDenied) (for `EPERM`), and
/// its message names what is needed. The errno is kept: downcast to read it.
///
/// # Examples
///
/// ```
/// use iofd::SyscallError;
///
/// fn errno_of(err: &std::io::Error) -> Option<i32> {
///     err.raw_os_error().or_else(|| {
///         err.get_ref()?.downcast_ref::<SyscallError>().map(SyscallError::errno)
///     })
/// }
/// # let _ = errno_of;
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

/// What a sandbox must allow, for `EPERM` where the syscall itself is not a
/// permission check.
pub(crate) const SANDBOX: &str =
    "a seccomp filter or container policy that allows it (EPERM here means it is blocked)";

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
    let (kind, needs) = match (errno, perm) {
        (libc::ENOSYS, _) => (io::ErrorKind::Unsupported, nosys),
        (libc::EPERM, Some(perm)) => (io::ErrorKind::PermissionDenied, perm),
        _ => return io::Error::from_raw_os_error(errno),
    };
    io::Error::new(kind, SyscallError::new(syscall, errno, needs))
}
