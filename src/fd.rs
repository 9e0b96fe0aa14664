//! [`Fd`]: a portable owned file descriptor with I/O on `&self`.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
use rustix::io::{FdFlags, fcntl_dupfd_cloexec, fcntl_getfd, fcntl_setfd};

use crate::handle::{impl_close, impl_owned_fd_conversions};

/// An owned file descriptor of any kind.
///
/// `Fd` closes its descriptor when dropped, like [`OwnedFd`], and adds what a
/// handle needs day to day: `read`/`write` on `&self` (so one `Fd` can be
/// shared between threads by reference), independent duplicates through
/// [`try_clone`](Fd::try_clone), the `O_NONBLOCK` and `FD_CLOEXEC` flags, and
/// a [`close`](Fd::close) that reports the kernel's answer.
///
/// `Fd` is deliberately not `Clone`: a second owner is made explicitly with
/// `try_clone`, and `close(self)` consumes the value, so a double close or a
/// use after close does not compile.
///
/// `Fd` works on every Unix; the special descriptors of this crate are
/// Linux-only.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use iofd::Fd;
///
/// # fn main() -> std::io::Result<()> {
/// let (reader, writer) = std::io::pipe()?;
/// let reader = Fd::from(std::os::fd::OwnedFd::from(reader));
/// let writer = Fd::from(std::os::fd::OwnedFd::from(writer));
/// (&writer).write_all(b"ping")?;
/// let mut buf = [0; 4];
/// (&reader).read_exact(&mut buf)?;
/// assert_eq!(&buf, b"ping");
/// writer.close()?;
/// # Ok(())
/// # }
/// ```
pub struct Fd {
    fd: OwnedFd,
}

impl Fd {
    /// Reads up to `buf.len()` bytes, like [`read(2)`].
    ///
    /// An empty `buf` returns `Ok(0)` without a syscall, as
    /// [`io::Read::read`] promises (some descriptors, such as an eventfd,
    /// would answer `EINVAL`).
    ///
    /// # Errors
    ///
    /// The kernel's error: `WouldBlock` on a nonblocking descriptor with
    /// nothing to read, `Interrupted` if a signal arrived first, and so on.
    ///
    /// [`read(2)`]: https://man7.org/linux/man-pages/man2/read.2.html
    #[inline]
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(rustix::io::read(&self.fd, buf)?)
    }

    /// Writes up to `buf.len()` bytes, like [`write(2)`].
    ///
    /// An empty `buf` returns `Ok(0)` without a syscall, as
    /// [`io::Write::write`] allows.
    ///
    /// # Errors
    ///
    /// The kernel's error: `WouldBlock` on a full nonblocking descriptor,
    /// `BrokenPipe` on a pipe with no reader, and so on.
    ///
    /// [`write(2)`]: https://man7.org/linux/man-pages/man2/write.2.html
    #[inline]
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(rustix::io::write(&self.fd, buf)?)
    }

    /// Makes an independent owner of the same open file description, with
    /// `fcntl(F_DUPFD_CLOEXEC)`.
    ///
    /// The copy shares the file offset and the status flags (such as
    /// `O_NONBLOCK`) with `self`, but has its own close-on-exec flag, which
    /// is set.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when the process or the system is out of
    /// descriptors.
    pub fn try_clone(&self) -> io::Result<Fd> {
        Ok(Fd::from(fcntl_dupfd_cloexec(&self.fd, 0)?))
    }

    /// Sets or clears `O_NONBLOCK` on the open file description.
    ///
    /// The flag is shared with every duplicate of the descriptor.
    ///
    /// # Errors
    ///
    /// The kernel's `fcntl` error.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let flags = fcntl_getfl(&self.fd)?;
        let wanted = if nonblocking {
            flags | OFlags::NONBLOCK
        } else {
            flags - OFlags::NONBLOCK
        };
        if wanted != flags {
            fcntl_setfl(&self.fd, wanted)?;
        }
        Ok(())
    }

    /// Whether `O_NONBLOCK` is set on the open file description.
    ///
    /// # Errors
    ///
    /// The kernel's `fcntl` error.
    pub fn is_nonblocking(&self) -> io::Result<bool> {
        Ok(fcntl_getfl(&self.fd)?.contains(OFlags::NONBLOCK))
    }

    /// Sets or clears `FD_CLOEXEC` on this descriptor.
    ///
    /// # Errors
    ///
    /// The kernel's `fcntl` error.
    pub fn set_cloexec(&self, cloexec: bool) -> io::Result<()> {
        let flags = fcntl_getfd(&self.fd)?;
        let wanted = if cloexec {
            flags | FdFlags::CLOEXEC
        } else {
            flags - FdFlags::CLOEXEC
        };
        if wanted != flags {
            fcntl_setfd(&self.fd, wanted)?;
        }
        Ok(())
    }

    /// Whether `FD_CLOEXEC` is set on this descriptor.
    ///
    /// # Errors
    ///
    /// The kernel's `fcntl` error.
    pub fn is_cloexec(&self) -> io::Result<bool> {
        Ok(fcntl_getfd(&self.fd)?.contains(FdFlags::CLOEXEC))
    }
}

/// Closes `fd`, reporting the kernel's answer instead of ignoring it.
pub(crate) fn close_owned(fd: OwnedFd) -> io::Result<()> {
    let raw = fd.into_raw_fd();
    // Nothing refers to `raw` after this call.
    // SAFETY: `raw` came from an `OwnedFd` we consumed: we alone close it.
    let result = unsafe { libc::close(raw) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads one native-endian `u64`, the unit of eventfd and timerfd.
///
/// Makes exactly one `read` syscall and no allocation.
#[inline]
pub(crate) fn read_u64(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    let n = rustix::io::read(fd, &mut bytes)?;
    if n != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "short read of an 8-byte counter",
        ));
    }
    Ok(u64::from_ne_bytes(bytes))
}

/// The raw read of an 8-byte counter (eventfd, timerfd) into the start of
/// `buf`: `Ok(0)` without a syscall for an empty `buf`, as `io::Read`
/// promises; `InvalidInput` naming `what` for 1 to 7 bytes (the kernel
/// would say `EINVAL`).
pub(crate) fn read_counter_into(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    what: &'static str,
) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let Some(head) = buf.get_mut(..8) else {
        return Err(crate::error::invalid_input(what));
    };
    Ok(rustix::io::read(fd, head)?)
}

/// The magic number of the file system `fd` lives on (`fstatfs`), which
/// tells what kind of file it is: tmpfs for a memfd, pidfs for a pidfd.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn fs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    #[allow(
        clippy::unnecessary_cast,
        reason = "f_type's integer type differs between back ends and targets"
    )]
    Ok(rustix::fs::fstatfs(fd)?.f_type as i64)
}

/// Writes one native-endian `u64` with exactly one `write` syscall.
#[inline]
pub(crate) fn write_u64(fd: BorrowedFd<'_>, value: u64) -> io::Result<()> {
    let n = rustix::io::write(fd, &value.to_ne_bytes())?;
    if n != 8 {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short write of an 8-byte counter",
        ));
    }
    Ok(())
}

impl_owned_fd_conversions!(Fd);
impl_close!(Fd);

impl From<OwnedFd> for Fd {
    #[inline]
    fn from(fd: OwnedFd) -> Fd {
        Fd { fd }
    }
}

impl FromRawFd for Fd {
    /// Takes ownership of `fd`.
    ///
    /// # Safety
    ///
    /// `fd` must be an open descriptor that nothing else owns or closes.
    #[inline]
    unsafe fn from_raw_fd(fd: RawFd) -> Fd {
        // SAFETY: the caller guarantees that `fd` is open and owned by nobody
        // else, which is exactly `OwnedFd::from_raw_fd`'s contract.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Fd { fd }
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fd")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl io::Read for Fd {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Fd::read(self, buf)
    }
}

impl io::Read for &Fd {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Fd::read(self, buf)
    }
}

impl io::Write for Fd {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Fd::write(self, buf)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Write for &Fd {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Fd::write(self, buf)
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
