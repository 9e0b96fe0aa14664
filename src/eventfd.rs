//! [`EventFd`]: a kernel counter for wake-ups and semaphores.
//!
//! # References
//!  - [`eventfd(2)`](https://man7.org/linux/man-pages/man2/eventfd.2.html)

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::event::{EventfdFlags, eventfd};

use crate::adopt::{AdoptError, adopt_pollable};
use crate::error::{SANDBOX, invalid_input, syscall_error};
use crate::fd::{read_counter_into, read_u64, write_u64};
use crate::handle::{impl_close, impl_owned_fd_conversions};

/// The largest value an eventfd counter can hold: `u64::MAX - 1`.
pub const EVENTFD_MAX: u64 = u64::MAX - 1;

/// An owned eventfd: a 64-bit counter in the kernel that one side adds to
/// ([`signal`](EventFd::signal)) and the other drains
/// ([`wait`](EventFd::wait)).
///
/// The descriptor is nonblocking and close-on-exec. It is readable while the
/// counter is non-zero and writable while one more can be added without
/// overflowing, so it can be polled (with mio, tokio or plain `poll(2)`).
///
/// In *semaphore* mode ([`new_semaphore`](EventFd::new_semaphore)) each
/// `wait` takes one unit instead of the whole count.
///
/// # Examples
///
/// ```
/// use iofd::EventFd;
///
/// # fn main() -> std::io::Result<()> {
/// let efd = EventFd::new(0)?;
/// efd.signal(5)?;
/// efd.signal(3)?;
/// assert_eq!(efd.wait()?, 8);
/// assert_eq!(efd.wait().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
/// # Ok(())
/// # }
/// ```
pub struct EventFd {
    fd: OwnedFd,
    semaphore: bool,
}

impl EventFd {
    /// Creates a counting eventfd whose counter starts at `init`.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when out of descriptors, `ENOMEM`.
    pub fn new(init: u32) -> io::Result<EventFd> {
        EventFd::create(init, false)
    }

    /// Creates a semaphore-mode eventfd (`EFD_SEMAPHORE`) holding `init`
    /// units: each [`wait`](EventFd::wait) takes exactly one.
    ///
    /// # Errors
    ///
    /// As [`EventFd::new`].
    pub fn new_semaphore(init: u32) -> io::Result<EventFd> {
        EventFd::create(init, true)
    }

    fn create(init: u32, semaphore: bool) -> io::Result<EventFd> {
        let mut flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
        if semaphore {
            flags |= EventfdFlags::SEMAPHORE;
        }
        let fd = eventfd(init, flags).map_err(|e| {
            syscall_error(
                "eventfd2",
                e.raw_os_error(),
                "Linux 2.6.27 or later",
                Some(SANDBOX),
            )
        })?;
        Ok(EventFd { fd, semaphore })
    }

    /// Makes an independent owner of the same eventfd (`F_DUPFD_CLOEXEC`):
    /// both handles see and change one counter.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when out of descriptors.
    pub fn try_clone(&self) -> io::Result<EventFd> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?;
        Ok(EventFd {
            fd,
            semaphore: self.semaphore,
        })
    }

    /// Whether this eventfd was created in semaphore mode.
    #[inline]
    pub fn is_semaphore(&self) -> bool {
        self.semaphore
    }

    /// Adds `value` to the counter, waking whoever waits on it.
    ///
    /// `signal(0)` is allowed and changes nothing. One `write` syscall, no
    /// allocation.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `value` is `u64::MAX`, which the kernel reserves.
    /// - `WouldBlock` if the counter would pass [`EVENTFD_MAX`]; nothing is
    ///   added, and the call succeeds again once a reader has drained it.
    #[inline]
    pub fn signal(&self, value: u64) -> io::Result<()> {
        if value == u64::MAX {
            return Err(invalid_input(
                "eventfd value u64::MAX is reserved by the kernel (the largest is u64::MAX - 1)",
            ));
        }
        write_u64(self.fd.as_fd(), value)
    }

    /// Takes from the counter without blocking: the whole count, or one unit
    /// in semaphore mode.
    ///
    /// In counting mode, returns the whole count and resets it to zero; in
    /// semaphore mode returns 1 and decrements it. One `read` syscall, no
    /// allocation.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when the counter is zero.
    #[inline]
    pub fn wait(&self) -> io::Result<u64> {
        read_u64(self.fd.as_fd())
    }

    /// Reads the raw 8-byte counter value into the start of `buf`, as
    /// `read(2)` on an eventfd does; returns 8.
    ///
    /// An empty `buf` returns `Ok(0)` without a syscall and takes nothing,
    /// as [`std::io::Read::read`] promises.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `buf` holds 1 to 7 bytes (the kernel would say
    ///   `EINVAL`; this says why).
    /// - `WouldBlock` when the counter is zero.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        read_counter_into(
            self.fd.as_fd(),
            buf,
            "an eventfd read needs a buffer of at least 8 bytes",
        )
    }

    /// Writes the raw 8-byte value at the start of `buf` (native endian), as
    /// `write(2)` on an eventfd does; returns 8.
    ///
    /// An empty `buf` returns `Ok(0)` without a syscall and adds nothing.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `buf` holds 1 to 7 bytes, or holds the reserved
    ///   value `u64::MAX`.
    /// - `WouldBlock` if the counter would overflow.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(head) = buf.first_chunk::<8>() else {
            return Err(invalid_input(
                "an eventfd write needs a buffer of at least 8 bytes",
            ));
        };
        self.signal(u64::from_ne_bytes(*head))?;
        Ok(8)
    }
}

impl_owned_fd_conversions!(EventFd);

impl TryFrom<OwnedFd> for EventFd {
    type Error = AdoptError;

    /// Adopts `fd` if it is an eventfd (its link in
    /// `/proc/thread-self/fd`, the calling thread's descriptor table, reads
    /// `anon_inode:[eventfd]`), with the mode its fdinfo reports
    /// (`eventfd-semaphore`); otherwise hands `fd` back in the error.
    ///
    /// Sets `O_NONBLOCK`, which the handle relies on; the flag belongs to
    /// the open file description, so every holder of a duplicate (in any
    /// process) sees it too. Close-on-exec is left as it is.
    ///
    /// A kernel that does not report the mode is taken as semaphore mode:
    /// [`is_semaphore`](EventFd::is_semaphore) is then `true` and async
    /// waits read until `WouldBlock` instead of assuming one read drains
    /// the counter, which is right for either mode.
    ///
    /// # Errors
    ///
    /// [`AdoptError`] (holding `fd`) if `fd` is not an eventfd, or `/proc`
    /// cannot be read.
    fn try_from(fd: OwnedFd) -> Result<EventFd, AdoptError> {
        let (fd, semaphore) = adopt_pollable(fd, "eventfd", "eventfd-semaphore", |mode| {
            Some(mode != Some("0"))
        })?;
        Ok(EventFd { fd, semaphore })
    }
}
impl_close!(EventFd);

impl fmt::Debug for EventFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventFd")
            .field("fd", &self.fd.as_raw_fd())
            .field("semaphore", &self.semaphore)
            .finish()
    }
}
