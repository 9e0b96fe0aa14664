//! [`PidFd`]: a process handle that cannot be confused by pid reuse —
//! opening, waiting and identity here; signals in `send.rs`; what the
//! kernel reports of the process in `info.rs`.
//!
//! # References
//!  - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
//!  - [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
//!  - [`pidfd_getfd(2)`](https://man7.org/linux/man-pages/man2/pidfd_getfd.2.html)
//!  - [`waitid(2)`](https://man7.org/linux/man-pages/man2/waitid.2.html)

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, OnceLock};

use rustix::event::{PollFd, PollFlags, poll};
use rustix::process::{
    Pid, PidfdFlags, PidfdGetfdFlags, WaitId, WaitIdOptions, WaitIdStatus, pidfd_getfd, pidfd_open,
};

mod descriptor;
mod info;
mod owned_child;
mod send;

pub use info::PidInfo;
pub use owned_child::OwnedChildError;
pub use send::SignalScope;

use crate::Fd;
use crate::adopt::{AdoptError, adopt_pollable_by};
use crate::error::{
    SANDBOX, invalid_input, invalid_input_owned, last_errno, syscall_error, unsupported,
};
use descriptor::Descriptor;

/// An owned pidfd: a handle on one process that stays bound to it even after
/// its pid is reused.
///
/// The descriptor is close-on-exec, nonblocking unless opened with
/// [`open_blocking`](PidFd::open_blocking), and becomes readable when the
/// process exits — for any process, child or not; only children can be
/// reaped with [`try_wait`](PidFd::try_wait) and [`wait`](PidFd::wait).
///
/// # Examples
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::Command;
/// use iofd::{PidFd, Signal};
///
/// # fn main() -> std::io::Result<()> {
/// // The pidfd owns the child: its `wait` reaps it.
/// let pidfd = PidFd::from_owned_child(Command::new("sleep").arg("30").spawn()?)?;
/// assert_eq!(pidfd.try_wait()?, None);
/// pidfd.send_signal(Signal::TERM)?;
/// let status = pidfd.wait()?; // reaped: no zombie is left
/// assert_eq!(status.signal(), Some(libc::SIGTERM));
/// # Ok(())
/// # }
/// ```
pub struct PidFd {
    /// The pidfd; for a handle that owns its child, also the duty to reap
    /// it on drop (shared with its clones).
    fd: Descriptor,
    pid: i32,
    /// Whether `try_wait`/`wait` reap the child (`false`: they observe the
    /// exit with `WNOWAIT` and leave reaping to the child's owner).
    reaps: bool,
    /// The exit status, once seen: every later wait returns it. Shared
    /// with every [`try_clone`](PidFd::try_clone), so whichever reaps, all
    /// know the status.
    status: Arc<OnceLock<ExitStatus>>,
    /// A `PIDFD_THREAD` pidfd: it names one thread, whose exit is never a
    /// process's exit status.
    thread: bool,
}

impl PidFd {
    /// Opens a nonblocking pidfd for process `pid`; it reaps the child it
    /// waits for. Racy for a process that is **not** your child (its pid
    /// may be reused before the open); for a child use
    /// [`from_child`](PidFd::from_child).
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `pid <= 0` (those name groups, not processes),
    ///   or if `pid` is the id of a thread other than a process's main
    ///   thread (the message names its process; use
    ///   [`open_thread`](PidFd::open_thread) for a thread).
    /// - `ESRCH` (`NotFound` is not used: the raw errno is kept) if no such
    ///   process exists; `EMFILE`/`ENFILE`; `Unsupported` with a
    ///   [`SyscallError`](crate::SyscallError) on kernels before 5.3.
    pub fn open(pid: i32) -> io::Result<PidFd> {
        PidFd::open_with(pid, PidfdFlags::NONBLOCK)
    }

    /// Opens a nonblocking pidfd for the thread `tid` (`PIDFD_THREAD`,
    /// Linux 6.9): signals go to that thread only, and the pidfd becomes
    /// readable when it exits ([`is_thread`](PidFd::is_thread)).
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `tid <= 0`.
    /// - `ESRCH` if no such thread exists; `Unsupported` with a
    ///   [`SyscallError`](crate::SyscallError) before Linux 6.9.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{PidFd, SignalScope};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let tid = rustix::thread::gettid().as_raw_nonzero().get();
    /// let me = match PidFd::open_thread(tid) {
    ///     Ok(me) => me,
    ///     Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(()), // before 6.9
    ///     Err(e) => return Err(e),
    /// };
    /// me.send_null_signal()?; // this thread exists
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_thread(tid: i32) -> io::Result<PidFd> {
        let flags = PidfdFlags::NONBLOCK | PidfdFlags::from_bits_retain(PIDFD_THREAD);
        // A thread is never reaped through its pidfd.
        Ok(PidFd::open_with(tid, flags)?.observe_only())
    }

    /// Opens a pidfd for `pid` in blocking mode: [`wait`](PidFd::wait) and
    /// `waitid` then sleep in the kernel. Racy for non-children, as
    /// [`open`](PidFd::open).
    ///
    /// # Errors
    ///
    /// As [`PidFd::open`].
    pub fn open_blocking(pid: i32) -> io::Result<PidFd> {
        PidFd::open_with(pid, PidfdFlags::empty())
    }

    /// Opens a nonblocking pidfd for a child started with
    /// [`std::process::Command`], which stays the child's owner: the pidfd
    /// [observes only](PidFd::observe_only), so `Child::kill` and
    /// `Child::wait` stay correct. Reap with `Child::wait` once the exit is
    /// seen.
    ///
    /// Race-free while nothing has reaped the child: call it before any
    /// `Child::wait`/`try_wait`, with `SIGCHLD` not set to `SIG_IGN`.
    ///
    /// # Errors
    ///
    /// As [`PidFd::open`].
    pub fn from_child(child: &Child) -> io::Result<PidFd> {
        let pid = i32::try_from(child.id())
            .map_err(|_| invalid_input("child pid does not fit in pid_t"))?;
        Ok(PidFd::open(pid)?.observe_only())
    }

    /// Makes [`try_wait`](PidFd::try_wait) and [`wait`](PidFd::wait) observe
    /// the child's exit without reaping it (`WNOWAIT`), leaving that to the
    /// child's owner, which must still reap it.
    ///
    /// [`from_child`](PidFd::from_child) is this for a
    /// `std::process::Child`; for a `tokio::process::Child`, use
    /// [`AsyncPidFd::from_tokio_child`](crate::AsyncPidFd::from_tokio_child).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use iofd::PidFd;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
    /// // Not reaped yet, so its pid still names it: no race.
    /// let pidfd = PidFd::open(child.id() as i32)?.observe_only();
    /// assert!(!pidfd.reaps());
    /// assert_eq!(pidfd.wait()?.code(), Some(3)); // observed, not reaped
    /// assert_eq!(child.wait()?.code(), Some(3)); // the owner reaps
    /// # Ok(())
    /// # }
    /// ```
    pub fn observe_only(mut self) -> PidFd {
        self.reaps = false;
        self.fd.disown();
        self
    }

    /// Whether [`try_wait`](PidFd::try_wait) and [`wait`](PidFd::wait) reap
    /// the child: `true` for [`open`](PidFd::open),
    /// [`open_blocking`](PidFd::open_blocking) and
    /// [`from_owned_child`](PidFd::from_owned_child), `false` for
    /// [`from_child`](PidFd::from_child) and after
    /// [`observe_only`](PidFd::observe_only).
    #[inline]
    pub fn reaps(&self) -> bool {
        self.reaps
    }

    fn open_with(pid: i32, flags: PidfdFlags) -> io::Result<PidFd> {
        // Check the sign before `Pid::from_raw`, which asserts on negatives.
        let Some(raw_pid) = (pid > 0).then(|| Pid::from_raw(pid)).flatten() else {
            return Err(invalid_input_owned(format!(
                "pid {pid} is not a process id: it must be greater than 0"
            )));
        };
        let fd =
            pidfd_open(raw_pid, flags).map_err(|e| open_error(pid, flags, e.raw_os_error()))?;
        Ok(PidFd {
            fd: Descriptor::new(fd),
            pid,
            reaps: true,
            status: Arc::new(OnceLock::new()),
            thread: flags.bits() & PIDFD_THREAD != 0,
        })
    }

    /// Makes another owner of the same pidfd (`F_DUPFD_CLOEXEC`), which
    /// reaps if `self` does and shares its kept exit status.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when out of descriptors.
    pub fn try_clone(&self) -> io::Result<PidFd> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?;
        Ok(PidFd {
            fd: Descriptor::shared(fd, self.fd.owner()),
            pid: self.pid,
            reaps: self.reaps,
            status: Arc::clone(&self.status),
            thread: self.thread,
        })
    }

    /// The process (or thread) id this pidfd was opened for. For a pidfd
    /// adopted with `TryFrom<OwnedFd>` or [`of_peer`](PidFd::of_peer), the
    /// id its fdinfo reported then: `-1` if the process had already been
    /// reaped, `0` if it is outside this pid namespace.
    #[inline]
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether this pidfd names one thread (`PIDFD_THREAD`, also when
    /// adopted) rather than a process. On a thread pidfd
    /// [`has_exited`](PidFd::has_exited) means the thread has exited;
    /// `try_wait`, `wait` and `AsyncPidFd::exit_status` fail with `ECHILD`
    /// and [`PidInfo::exit_status`] is `None`: a thread's exit is never
    /// reported as a process's.
    #[inline]
    pub fn is_thread(&self) -> bool {
        self.thread
    }

    /// A 64-bit id of the process (or thread) this pidfd names, unique for
    /// as long as the system runs: unlike a pid, it is never reused. It is
    /// the pidfd's inode number on pidfs (Linux 6.9), the same for every
    /// pidfd of that process, in any process.
    ///
    /// # Errors
    ///
    /// `Unsupported` with a [`SyscallError`](crate::SyscallError) before Linux 6.9, where pidfds
    /// share one anonymous inode and carry no such id; the error of
    /// `fstatfs`/`fstat`.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::PidFd;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let a = PidFd::open(std::process::id() as i32)?;
    /// let b = PidFd::open(std::process::id() as i32)?;
    /// match (a.process_id(), b.process_id()) {
    ///     (Ok(x), Ok(y)) => assert_eq!(x, y),
    ///     (Err(e), _) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported), // before 6.9
    ///     (_, Err(e)) => return Err(e),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn process_id(&self) -> io::Result<u64> {
        /// `PID_FS_MAGIC`: the pidfs file system (Linux 6.9).
        const PID_FS_MAGIC: i64 = 0x5049_4446;
        if crate::fd::fs_magic(self.fd.as_fd())? != PID_FS_MAGIC {
            return Err(unsupported(
                "fstatfs",
                libc::EOPNOTSUPP,
                "Linux 6.9 or later (pidfs: before it, pidfds share one inode)",
            ));
        }
        Ok(rustix::fs::fstat(&self.fd)?.st_ino)
    }

    /// Whether `self` and `other` name the same process (or thread), by
    /// [`process_id`](PidFd::process_id): `false` for a process that reused
    /// the pid of an earlier one.
    ///
    /// # Errors
    ///
    /// As [`process_id`](PidFd::process_id).
    pub fn is_same_process(&self, other: &PidFd) -> io::Result<bool> {
        Ok(self.process_id()? == other.process_id()?)
    }

    /// A pidfd for the process at the other end of a connected Unix socket
    /// (`SO_PEERPIDFD`, Linux 6.5): the race-free replacement for the pid
    /// of `SO_PEERCRED`, which may name another process by the time it is
    /// used. Works on `std` and tokio Unix sockets (anything `AsFd`).
    ///
    /// It names the process that connected (or made the pair) and
    /// [observes only](PidFd::observe_only). Only its [`pid`](PidFd::pid)
    /// may need `/proc` (fdinfo, before Linux 6.13's `PIDFD_GET_INFO`);
    /// without either it is 0.
    ///
    /// # Errors
    ///
    /// - `Unsupported` with a [`SyscallError`](crate::SyscallError) before Linux 6.5
    ///   (`ENOPROTOOPT`).
    /// - `ESRCH` if the peer has exited and been reaped (as far as
    ///   `PIDFD_GET_INFO` or fdinfo tell).
    /// - The kernel's error: `ENOTCONN` for an unconnected socket,
    ///   `ENOTSOCK`; `ENODATA` for a socket without peer credentials (not
    ///   a Unix socket).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use iofd::PidFd;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let (a, _b) = UnixStream::pair()?;
    /// let peer = match PidFd::of_peer(&a) {
    ///     Ok(peer) => peer,
    ///     Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(()), // before 6.5
    ///     Err(e) => return Err(e),
    /// };
    /// assert_eq!(peer.pid(), std::process::id() as i32); // a pair: we are the peer
    /// # Ok(())
    /// # }
    /// ```
    pub fn of_peer(socket: &impl AsFd) -> io::Result<PidFd> {
        /// `SO_PEERPIDFD` (Linux 6.5).
        const SO_PEERPIDFD: libc::c_int = 77;
        let mut raw: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // `raw` and `len` are valid for writes of an int and a socklen_t,
        // and `len` says how large `raw` is; the socket is borrowed, so
        // open for the call.
        // SAFETY: so getsockopt writes only within them.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                SO_PEERPIDFD,
                (&mut raw as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            let errno = last_errno();
            return Err(match errno {
                libc::ENOPROTOOPT => {
                    unsupported("getsockopt(SO_PEERPIDFD)", errno, "Linux 6.5 or later")
                }
                _ => io::Error::from_raw_os_error(errno),
            });
        }
        // On success the kernel installed a new pidfd that nothing else
        // owns.
        // SAFETY: so `OwnedFd` may take (and close) it.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        PidFd::from_kernel(fd)
    }

    /// Takes up a process pidfd the kernel has just made for this process
    /// (`SO_PEERPIDFD`, `SCM_PIDFD`): no kind check is needed. It observes
    /// only and is made nonblocking. Its pid comes from `PIDFD_GET_INFO`
    /// (no `/proc` needed), else from fdinfo, else is 0.
    ///
    /// # Errors
    ///
    /// `ESRCH` if the process has been reaped (`fd` is closed); the error
    /// of `fcntl`.
    pub(crate) fn from_kernel(fd: OwnedFd) -> io::Result<PidFd> {
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        if !flags.contains(rustix::fs::OFlags::NONBLOCK) {
            rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)?;
        }
        let mut pidfd = PidFd {
            fd: Descriptor::new(fd),
            pid: 0,
            reaps: false,
            status: Arc::new(OnceLock::new()),
            thread: false,
        };
        let reaped = || io::Error::from_raw_os_error(libc::ESRCH);
        pidfd.pid = match pidfd.info() {
            // Reaped: the kernel reports no ids any more.
            Ok(info) => info.pid().ok_or_else(reaped)?,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Err(reaped()),
            // Before Linux 6.13: from fdinfo, if /proc is there.
            Err(_) => match crate::adopt::fdinfo(&pidfd.fd) {
                Ok(fdinfo) => match fdinfo.field("Pid").and_then(|pid| pid.parse().ok()) {
                    Some(-1) => return Err(reaped()),
                    Some(pid) => pid,
                    None => 0,
                },
                Err(_) => 0,
            },
        };
        Ok(pidfd)
    }

    /// Duplicates descriptor `target` of the process into this one
    /// (`pidfd_getfd(2)`); the copy is close-on-exec.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `target` is negative.
    /// - `EPERM` without `PTRACE_MODE_ATTACH_REALCREDS` rights over the
    ///   process (returned as is); `EBADF` if it has no such descriptor;
    ///   `ESRCH` if it has exited; `ENOSYS` before Linux 5.6.
    pub fn get_fd(&self, target: RawFd) -> io::Result<Fd> {
        if target < 0 {
            return Err(invalid_input(
                "pidfd_getfd target descriptor must not be negative",
            ));
        }
        let fd = pidfd_getfd(&self.fd, target, PidfdGetfdFlags::empty()).map_err(|e| {
            syscall_error("pidfd_getfd", e.raw_os_error(), "Linux 5.6 or later", None)
        })?;
        Ok(Fd::from(fd))
    }

    /// The child's exit status once it has exited: `Some(status)`, or
    /// `None` while it runs (`waitid(P_PIDFD, WEXITED | WNOHANG)`); reaps
    /// it if this pidfd [`reaps`](PidFd::reaps). The status is kept: every
    /// later call and [`wait`](PidFd::wait) returns it. A process reaped by
    /// someone else (another handle, its `Child`, its parent) gives the
    /// status the kernel keeps (`PIDFD_INFO_EXIT`, Linux 6.15).
    ///
    /// One syscall while the child runs, no allocation. If another handle
    /// (or thread) is reaping the child at this very instant (it is then
    /// out of `waitid`'s sight but its status not yet published: a few
    /// microseconds inside the other reaper's `waitid`), this call yields
    /// the thread until the status appears, at most 1 000 times, then
    /// says `ECHILD`; that is the only case in which it yields (`waitid`
    /// here passes `__WALL`, so children of any exit signal, such as
    /// `clone3`'s, are seen directly); [`AsyncPidFd`](crate::AsyncPidFd)'s
    /// polls never wait there: they stay pending until the reap wakes them.
    ///
    /// # Errors
    ///
    /// `ECHILD` for a process that is not a child and not yet reaped, for
    /// one reaped elsewhere before Linux 6.15, and for a
    /// [thread](PidFd::is_thread) pidfd.
    #[inline]
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        self.try_wait_with(Window::WaitOut)
    }

    /// [`try_wait`](PidFd::try_wait) for a poll, which must not block: a
    /// child that another reaper is reaping at this instant gives
    /// `Ok(None)` at once (the reap wakes the pidfd's waiters, and the
    /// next poll finds the status).
    #[cfg(feature = "tokio")]
    #[inline]
    pub(crate) fn try_wait_in_poll(&self) -> io::Result<Option<ExitStatus>> {
        self.try_wait_with(Window::Pending)
    }

    /// [`try_wait_in_poll`](PidFd::try_wait_in_poll) that tells the
    /// reap window apart from a running child: `ErrorKind::Interrupted`
    /// (no allocation) while another reaper is reaping the child, for a
    /// caller that must come back by itself (`PidFdSet`: on kernels before
    /// 6.15 no readiness edge follows the reap). `Ok(None)` still means
    /// "a later edge comes" (running, or a zombie its tracer holds).
    #[cfg(feature = "tokio")]
    #[inline]
    pub(crate) fn try_wait_in_set(&self) -> io::Result<Option<ExitStatus>> {
        self.try_wait_with(Window::Interrupted)
    }

    #[inline]
    fn try_wait_with(&self, window: Window) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status.get() {
            return Ok(Some(*status));
        }
        if self.thread {
            // A thread's exit is never a process's exit status.
            return Err(io::Error::from_raw_os_error(libc::ECHILD));
        }
        // Observe first, with WNOWAIT, and keep the status before reaping:
        // a concurrent caller that finds the child already reaped (ECHILD)
        // then finds the status kept.
        let observe = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT | WALL;
        match rustix::process::waitid(WaitId::PidFd(self.fd.as_fd()), observe) {
            Ok(Some(status)) => {
                let status = *self.status.get_or_init(|| exit_status(status));
                if self.reaps {
                    self.reap();
                }
                Ok(Some(status))
            }
            // A nonblocking pidfd answers EAGAIN instead of sleeping.
            Ok(None) | Err(rustix::io::Errno::AGAIN) => Ok(None),
            // Before Linux 5.4, waitid does not know P_PIDFD.
            Err(rustix::io::Errno::INVAL) => Err(unsupported_waitid()),
            // Reaped by a concurrent caller, who kept the status first, or
            // by another reaper: its status is kept by the kernel.
            Err(rustix::io::Errno::CHILD) => match self.status.get() {
                Some(status) => Ok(Some(*status)),
                None => self.reaped_elsewhere(window),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// `waitid` said `ECHILD`: the status `PIDFD_INFO_EXIT` keeps, if the
    /// process has been reaped (by another handle, its `Child`, or its
    /// parent), kept here too; else `ECHILD`.
    ///
    /// A child of this process that another reaper is reaping right now
    /// is already invisible to `waitid` but not yet published as reaped:
    /// `window` says what to do in that short window (inside the other
    /// reaper's `waitid`).
    #[cold]
    fn reaped_elsewhere(&self, window: Window) -> io::Result<Option<ExitStatus>> {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        for _ in 0..REAP_WINDOW_YIELDS {
            let Ok(info) = self.info() else { break };
            if let Some(status) = info.exit_status() {
                return Ok(Some(*self.status.get_or_init(|| status)));
            }
            // Still a child of ours, yet not ours to wait for: being
            // reaped at this moment. Anything else: not a child.
            if info.ppid() != Some(me) || !self.has_exited().unwrap_or(false) {
                break;
            }
            match window {
                // Not yet: the reap wakes the pidfd's waiters.
                Window::Pending => return Ok(None),
                Window::Interrupted => return Err(io::ErrorKind::Interrupted.into()),
                Window::WaitOut => std::thread::yield_now(),
            }
        }
        Err(io::Error::from_raw_os_error(libc::ECHILD))
    }

    /// Reaps the exited child; a concurrent reaper may have been first.
    #[cold]
    fn reap(&self) {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WALL;
        // The status is already kept; ECHILD means another caller reaped.
        let _ = rustix::process::waitid(WaitId::PidFd(self.fd.as_fd()), options);
    }

    /// Waits for the child to exit, blocking the thread, and returns its
    /// status (reaping it if this pidfd [`reaps`](PidFd::reaps)). Every
    /// call returns the same status.
    ///
    /// # Errors
    ///
    /// As [`try_wait`](PidFd::try_wait).
    pub fn wait(&self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            self.poll_exit(None)?;
        }
    }

    /// Whether the process has exited (its pidfd is readable). Works for
    /// any process, child or not, and reaps nothing. For a
    /// [thread](PidFd::is_thread) pidfd: whether that thread has exited.
    ///
    /// # Errors
    ///
    /// The error of `poll(2)`.
    pub fn has_exited(&self) -> io::Result<bool> {
        self.poll_exit(Some(&rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        }))
    }

    /// Polls the pidfd for readability, retrying on `EINTR`.
    fn poll_exit(&self, timeout: Option<&rustix::time::Timespec>) -> io::Result<bool> {
        loop {
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match poll(&mut fds, timeout) {
                Ok(n) => return Ok(n > 0),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// How many times a synchronous wait yields the thread while another
/// reaper is reaping the child. `waitid(__WALL)` misses a child of ours
/// that has exited only while another reaper holds it (the kernel marks it
/// `EXIT_DEAD`, then releases it and publishes `PIDFD_INFO_EXIT`): a few
/// microseconds, unless that reaper is preempted in between; a yield lets
/// it run. Each round is an ioctl, a poll and a `sched_yield`.
const REAP_WINDOW_YIELDS: u32 = 1_000;

/// What a wait does while another reaper is reaping the child (exited,
/// ours, no longer visible to `waitid`, not yet published as reaped).
#[derive(Clone, Copy)]
enum Window {
    /// Waits the window out (yielding the thread, up to
    /// [`REAP_WINDOW_YIELDS`] rounds),
    /// then says `ECHILD`: the synchronous `try_wait` and `wait`.
    WaitOut,
    /// `Ok(None)` at once: a poll, which must not block, waits for the
    /// readiness the reap brings.
    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "used by the tokio wrappers only")
    )]
    Pending,
    /// `ErrorKind::Interrupted` at once: `PidFdSet`, which re-queues the
    /// pidfd rather than wait for an edge that may never come.
    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "used by the tokio wrappers only")
    )]
    Interrupted,
}

/// `__WALL`, in every `waitid` on a pidfd: without it `waitid` sees only
/// children whose exit signal is `SIGCHLD`, and answers `ECHILD` for a
/// child made by `clone3` (exit signal 0 by default) or by `clone`
/// without `SIGCHLD`. rustix has no name for it; its flags keep unknown
/// bits.
pub(crate) const WALL: WaitIdOptions = WaitIdOptions::from_bits_retain(libc::__WALL as u32);

/// `PIDFD_THREAD` (`O_EXCL`): a pidfd for one thread (Linux 6.9).
const PIDFD_THREAD: u32 = libc::O_EXCL as u32;

/// The error of `pidfd_open(pid, flags)`, naming what went wrong where the
/// errno alone would mislead.
#[cold]
fn open_error(pid: i32, flags: PidfdFlags, errno: i32) -> io::Error {
    let thread = flags.bits() & PIDFD_THREAD != 0;
    match errno {
        // Without PIDFD_THREAD, ENOENT means: `pid` is a thread, and not
        // the main thread of its process.
        libc::ENOENT if !thread => {
            let process =
                thread_group_of(pid).map_or_else(String::new, |tgid| format!(" of process {tgid}"));
            invalid_input_owned(format!(
                "pid {pid} is a thread{process}, not a process (pidfd_open: ENOENT): \
                 use PidFd::open_thread for a thread, or open its process"
            ))
        }
        // Before Linux 6.9, PIDFD_THREAD is an unknown flag.
        libc::EINVAL if thread => {
            unsupported("pidfd_open", errno, "Linux 6.9 or later (for PIDFD_THREAD)")
        }
        _ => syscall_error("pidfd_open", errno, "Linux 5.3 or later", Some(SANDBOX)),
    }
}

/// The process (thread group) of thread `tid`, from `/proc/<tid>/status`.
fn thread_group_of(tid: i32) -> Option<i32> {
    let status = std::fs::read(format!("/proc/{tid}/status")).ok()?;
    let status = String::from_utf8_lossy(&status);
    status
        .lines()
        .find_map(|line| line.strip_prefix("Tgid:"))
        .and_then(|tgid| tgid.trim().parse().ok())
}

/// `waitid(P_PIDFD)` is missing: Linux 5.3 has pidfds but not this.
#[cold]
fn unsupported_waitid() -> io::Error {
    unsupported("waitid", libc::EINVAL, "Linux 5.4 or later (for P_PIDFD)")
}

/// The `ExitStatus` for what `waitid(WEXITED)` reported, in the `wait(2)`
/// status encoding that `ExitStatusExt::from_raw` takes.
pub(crate) fn exit_status(status: WaitIdStatus) -> ExitStatus {
    let raw = if let Some(code) = status.exit_status() {
        (code & 0xff) << 8
    } else if let Some(signal) = status.terminating_signal() {
        signal | if status.dumped() { 0x80 } else { 0 }
    } else {
        // WEXITED reports only exits and deaths by signal.
        0
    };
    ExitStatus::from_raw(raw)
}

// By hand, not `impl_owned_fd_conversions!`: the descriptor of an owning
// handle carries the duty to reap, which a conversion hands over.
impl AsFd for PidFd {
    #[inline]
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PidFd {
    #[inline]
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl std::os::fd::IntoRawFd for PidFd {
    /// The descriptor; for a handle that
    /// [owns its child](PidFd::from_owned_child), the child too: the
    /// caller then reaps it (nothing reaps it behind the caller's back).
    #[inline]
    fn into_raw_fd(self) -> RawFd {
        std::os::fd::IntoRawFd::into_raw_fd(self.fd.into_owned())
    }
}

impl From<PidFd> for OwnedFd {
    /// The descriptor; for a handle that
    /// [owns its child](PidFd::from_owned_child), the child too: the
    /// caller then reaps it (nothing reaps it behind the caller's back).
    #[inline]
    fn from(pidfd: PidFd) -> OwnedFd {
        pidfd.fd.into_owned()
    }
}

impl TryFrom<OwnedFd> for PidFd {
    type Error = AdoptError;

    /// Adopts `fd` if it is a pidfd (its `/proc/thread-self/fd` link reads
    /// `anon_inode:[pidfd]`), with the pid its fdinfo reports (`-1` if
    /// reaped, `0` outside this pid namespace) and whether it is a
    /// [thread](PidFd::is_thread) pidfd (`O_EXCL` in its fdinfo `flags`);
    /// otherwise hands `fd` back in the error. The handle
    /// [observes only](PidFd::observe_only). Sets `O_NONBLOCK`, on the open
    /// file description that every holder of a duplicate shares.
    ///
    /// # Errors
    ///
    /// [`AdoptError`] (holding `fd`) if `fd` is not a pidfd, or `/proc`
    /// cannot be read.
    fn try_from(fd: OwnedFd) -> Result<PidFd, AdoptError> {
        let (fd, (pid, thread)) = adopt_pollable_by(fd, "pidfd", "Pid", |fdinfo| {
            let pid = fdinfo.field("Pid")?.parse().ok()?;
            Some((pid, fdinfo.flags()? & PIDFD_THREAD != 0))
        })?;
        Ok(PidFd {
            fd: Descriptor::new(fd),
            pid,
            reaps: false,
            status: Arc::new(OnceLock::new()),
            thread,
        })
    }
}
impl PidFd {
    /// Closes the PidFd and reports what the kernel said.
    ///
    /// `Drop` closes too, but has to ignore the result; call `close`
    /// where a failed close must be noticed. The last handle that
    /// [owns its child](PidFd::from_owned_child) still running is not
    /// closed here but handed to the helper thread, as its `Drop` does
    /// (`Ok`).
    ///
    /// # Errors
    ///
    /// The error of [`close(2)`]. The descriptor is released
    /// whatever the answer: on Linux even `EINTR` means it is gone,
    /// so `close` never retries (a retry could close a descriptor
    /// that another thread has just been given).
    ///
    /// [`close(2)`]: https://man7.org/linux/man-pages/man2/close.2.html
    pub fn close(self) -> io::Result<()> {
        if self.fd.owner().is_some() {
            // Reaped (or handed over) by the drop.
            drop(self);
            return Ok(());
        }
        crate::fd::close_owned(self.fd.into_owned())
    }
}

impl fmt::Debug for PidFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PidFd")
            .field("fd", &self.fd.as_raw_fd())
            .field("pid", &self.pid)
            .field("reaps", &self.reaps)
            .field("thread", &self.thread)
            .field("status", &self.status.get())
            .finish()
    }
}
