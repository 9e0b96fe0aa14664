//! Sending signals through a [`PidFd`]: to its process, thread or process
//! group ([`SignalScope`]), with a `sigqueue` value, or the null signal.
//!
//! # References
//!  - [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
//!    (`PIDFD_SIGNAL_*` scopes: Linux 6.9)
//!  - [`sigqueue(3)`](https://man7.org/linux/man-pages/man3/sigqueue.3.html)

use std::io;
use std::os::fd::AsFd;

use libc::c_uint;

use super::PidFd;
use crate::error::{invalid_input, syscall_error, unsupported};
use crate::signal::{Signal, pidfd_send_signal_raw, pidfd_sigqueue};

/// `PIDFD_SIGNAL_THREAD`: to the pidfd's thread only.
const PIDFD_SIGNAL_THREAD: c_uint = 1 << 0;
/// `PIDFD_SIGNAL_THREAD_GROUP`: to the whole process of the pidfd's thread.
const PIDFD_SIGNAL_THREAD_GROUP: c_uint = 1 << 1;
/// `PIDFD_SIGNAL_PROCESS_GROUP`: to every process of its process group.
const PIDFD_SIGNAL_PROCESS_GROUP: c_uint = 1 << 2;

/// Who receives a signal sent with [`PidFd::send_signal_to`]
/// (`PIDFD_SIGNAL_*`, Linux 6.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalScope {
    /// Only the thread the pidfd names (`PIDFD_SIGNAL_THREAD`): for a
    /// process pidfd, its main thread. Thread-directed, as `tgkill(2)`.
    Thread,
    /// The whole process of the pidfd's thread
    /// (`PIDFD_SIGNAL_THREAD_GROUP`), as `kill(pid)`. What
    /// [`send_signal`](PidFd::send_signal) does for a process pidfd.
    Process,
    /// Every process in the process group that the pidfd's process leads
    /// or belongs to (`PIDFD_SIGNAL_PROCESS_GROUP`), as `kill(-pgid)`.
    ProcessGroup,
}

impl SignalScope {
    fn flags(self) -> c_uint {
        match self {
            SignalScope::Thread => PIDFD_SIGNAL_THREAD,
            SignalScope::Process => PIDFD_SIGNAL_THREAD_GROUP,
            SignalScope::ProcessGroup => PIDFD_SIGNAL_PROCESS_GROUP,
        }
    }
}

impl PidFd {
    /// Sends `signal` to the process (`pidfd_send_signal(2)`): it reaches
    /// this process even if its pid has been reused since. For a thread
    /// pidfd ([`open_thread`](PidFd::open_thread)), it goes to that thread.
    ///
    /// One syscall, no allocation.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` for a signal the C library reserves for itself
    ///   (glibc: 32 and 33).
    /// - `ESRCH` once the process has exited **and been reaped**. A zombie
    ///   (exited, not yet reaped by its parent) still accepts the signal:
    ///   `Ok(())`, with no effect. `EPERM` without permission to signal
    ///   it.
    /// - `Unsupported` with a [`SyscallError`](crate::SyscallError) before
    ///   Linux 5.1.
    #[inline]
    pub fn send_signal(&self, signal: Signal) -> io::Result<()> {
        self.send(signal, 0)
    }

    /// Sends `signal` to the thread, the process or the process group of
    /// this pidfd ([`SignalScope`]).
    ///
    /// One syscall, no allocation.
    ///
    /// # Errors
    ///
    /// As [`send_signal`](PidFd::send_signal), and `Unsupported` with a
    /// [`SyscallError`](crate::SyscallError) before Linux 6.9, which has
    /// no scopes.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{PidFd, Signal, SignalScope};
    /// use std::os::unix::process::{CommandExt, ExitStatusExt};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// // A shell leading its own process group, with a child in it.
    /// let leader = std::process::Command::new("sh")
    ///     .args(["-c", "sleep 30 & wait"])
    ///     .process_group(0)
    ///     .spawn()?;
    /// let pidfd = PidFd::open(leader.id() as i32)?;
    /// # if let Err(e) = pidfd.send_signal_to(Signal::TERM, SignalScope::ProcessGroup) {
    /// #     assert_eq!(e.kind(), std::io::ErrorKind::Unsupported); // before 6.9
    /// #     pidfd.send_signal(Signal::KILL)?;
    /// #     pidfd.wait()?;
    /// #     return Ok(());
    /// # }
    /// // The shell and its sleep both get SIGTERM.
    /// assert_eq!(pidfd.wait()?.signal(), Some(libc::SIGTERM));
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn send_signal_to(&self, signal: Signal, scope: SignalScope) -> io::Result<()> {
        self.send(signal, scope.flags())
    }

    /// Sends `signal` carrying `value`, as `sigqueue(3)` does but through
    /// the pidfd, so without its pid race: the receiver reads the value
    /// with [`SignalInfo::value_int`](crate::SignalInfo::value_int), and
    /// this process's pid and real uid as the sender
    /// ([`SignalCode::Queue`](crate::SignalCode::Queue)).
    ///
    /// A real-time signal queues every value sent; a standard signal that
    /// is already pending is merged with it, keeping the first value.
    ///
    /// No allocation; three syscalls (`getpid`, `getuid` and
    /// `pidfd_send_signal`), as `sigqueue(3)` makes.
    ///
    /// # Errors
    ///
    /// As [`send_signal`](PidFd::send_signal); `EAGAIN` when the
    /// receiver's queue of real-time signals is full (`RLIMIT_SIGPENDING`).
    #[inline]
    pub fn send_signal_value(&self, signal: Signal, value: i32) -> io::Result<()> {
        let signo = checked_signo(signal)?;
        pidfd_sigqueue(self.fd.as_fd(), signo, value, 0).map_err(|e| send_error(e, 0))
    }

    /// Sends the null signal (signal 0) through the pidfd: the race-free
    /// `kill(pid, 0)`, which checks that the process still exists and that
    /// this process may signal it, and delivers nothing.
    ///
    /// A process that has exited but is not yet reaped (a zombie) still
    /// exists: use [`has_exited`](PidFd::has_exited) to learn whether it
    /// runs. One syscall, no allocation.
    ///
    /// # Errors
    ///
    /// - `ESRCH` once the process has exited and been reaped.
    /// - `EPERM` if this process may not signal it (it exists).
    /// - `Unsupported` with a [`SyscallError`](crate::SyscallError) before
    ///   Linux 5.1.
    #[inline]
    pub fn send_null_signal(&self) -> io::Result<()> {
        pidfd_send_signal_raw(self.fd.as_fd(), 0, None, 0).map_err(|e| send_error(e, 0))
    }

    /// `pidfd_send_signal(fd, signal, NULL, flags)`.
    #[inline]
    fn send(&self, signal: Signal, flags: c_uint) -> io::Result<()> {
        let signo = checked_signo(signal)?;
        pidfd_send_signal_raw(self.fd.as_fd(), signo, None, flags).map_err(|e| send_error(e, flags))
    }
}

/// The signal number, refusing the ones the C library reserves.
#[inline]
fn checked_signo(signal: Signal) -> io::Result<i32> {
    let signo = signal.as_raw();
    if signal.is_realtime() && signo < libc::SIGRTMIN() {
        return Err(invalid_input(
            "signals below SIGRTMIN are reserved by the C library",
        ));
    }
    Ok(signo)
}

/// Names what is missing for `ENOSYS`, and for `EINVAL` on a send with
/// scope flags (kernels before 6.9 know none); other errors pass through.
#[cold]
fn send_error(error: io::Error, flags: c_uint) -> io::Error {
    let errno = error.raw_os_error().unwrap_or(0);
    if errno == libc::EINVAL && flags != 0 {
        return unsupported(
            "pidfd_send_signal",
            errno,
            "Linux 6.9 or later (for PIDFD_SIGNAL_* scopes)",
        );
    }
    syscall_error("pidfd_send_signal", errno, "Linux 5.1 or later", None)
}
