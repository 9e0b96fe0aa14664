//! [`PidInfo`]: what the kernel reports of a pidfd's process
//! (`PIDFD_GET_INFO`), including the exit status of a process that is not
//! this one's child.
//!
//! # References
//!  - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
//!    and `include/uapi/linux/pidfd.h` (`PIDFD_GET_INFO`: Linux 6.13;
//!    `PIDFD_INFO_EXIT`: Linux 6.15)

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::PidFd;
use crate::error::{last_errno, syscall_error, unsupported};

/// `PIDFD_INFO_PID`: `pid`, `tgid` and `ppid` are set.
const INFO_PID: u64 = 1 << 0;
/// `PIDFD_INFO_CREDS`: the credentials are set.
const INFO_CREDS: u64 = 1 << 1;
/// `PIDFD_INFO_CGROUPID`: `cgroupid` is set.
const INFO_CGROUPID: u64 = 1 << 2;
/// `PIDFD_INFO_EXIT`: `exit_code` is set (only once the process has been
/// reaped; Linux 6.15).
const INFO_EXIT: u64 = 1 << 3;

/// The kernel's `struct pidfd_info`, first published version
/// (`PIDFD_INFO_SIZE_VER0`, 64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawPidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

const _: () = assert!(std::mem::size_of::<RawPidfdInfo>() == 64);

/// `PIDFD_GET_INFO`: `_IOWR(0xFF, 11, struct pidfd_info)` with the 64-byte
/// first version, whose size the kernel reads from the command.
const PIDFD_GET_INFO: u32 = (3 << 30) | (64 << 16) | (0xFF << 8) | 11;

/// What the kernel reports of a pidfd's process, from
/// [`PidFd::info`]: ids, credentials, cgroup, and the exit status once the
/// process has been reaped. Each part is `None` when the kernel did not
/// report it.
///
/// Ids are as this process's pid namespace sees them (0 for a process
/// outside it). Once the process has been reaped, the kernel reports only
/// the cgroup and the exit status.
///
/// # Examples
///
/// ```
/// use iofd::PidFd;
///
/// # fn main() -> std::io::Result<()> {
/// let mut child = std::process::Command::new("sh").args(["-c", "exit 3"]).spawn()?;
/// let pidfd = PidFd::from_child(&child)?;
/// let info = match pidfd.info() {
///     Ok(info) => info,
///     Err(e) if e.kind() == std::io::ErrorKind::Unsupported => { // before 6.13
///         child.wait()?;
///         return Ok(());
///     }
///     Err(e) => return Err(e),
/// };
/// assert_eq!(info.pid(), Some(child.id() as i32));
/// assert_eq!(info.ppid(), Some(std::process::id() as i32));
/// child.wait()?; // reaped: now the kernel keeps only how it ended
/// if let Some(status) = pidfd.info()?.exit_status() { // Linux 6.15
///     assert_eq!(status.code(), Some(3));
///     assert_eq!(pidfd.info()?.pid(), None);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy)]
pub struct PidInfo {
    raw: RawPidfdInfo,
    /// Read through a thread pidfd: no process exit status.
    thread: bool,
}

impl PidInfo {
    fn has(&self, part: u64) -> bool {
        self.raw.mask & part != 0
    }

    fn id(&self, value: u32) -> Option<i32> {
        self.has(INFO_PID).then_some(value as i32)
    }

    fn cred(&self, value: u32) -> Option<u32> {
        self.has(INFO_CREDS).then_some(value)
    }

    /// The thread id the pidfd names (for a process pidfd, the process id).
    pub fn pid(&self) -> Option<i32> {
        self.id(self.raw.pid)
    }

    /// The process id (thread-group id) of the pidfd's thread.
    pub fn tgid(&self) -> Option<i32> {
        self.id(self.raw.tgid)
    }

    /// The parent's process id (0 when the parent is outside this pid
    /// namespace).
    pub fn ppid(&self) -> Option<i32> {
        self.id(self.raw.ppid)
    }

    /// The real user id.
    pub fn uid(&self) -> Option<u32> {
        self.cred(self.raw.ruid)
    }

    /// The effective user id.
    pub fn euid(&self) -> Option<u32> {
        self.cred(self.raw.euid)
    }

    /// The real group id.
    pub fn gid(&self) -> Option<u32> {
        self.cred(self.raw.rgid)
    }

    /// The effective group id.
    pub fn egid(&self) -> Option<u32> {
        self.cred(self.raw.egid)
    }

    /// The id of the process's cgroup (v2), as `name_to_handle_at` on the
    /// cgroup directory gives it.
    pub fn cgroup_id(&self) -> Option<u64> {
        self.has(INFO_CGROUPID).then_some(self.raw.cgroupid)
    }

    /// How the process ended: `Some` once it has exited **and been
    /// reaped** (by anyone: this is how a process that is not this one's
    /// child is seen to end), `None` while it runs or is a zombie, and on
    /// kernels before 6.15.
    ///
    /// Always `None` for the info of a [thread pidfd](PidFd::is_thread):
    /// a thread's exit is not its process's.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        (self.has(INFO_EXIT) && !self.thread).then(|| ExitStatus::from_raw(self.raw.exit_code))
    }

    /// Whether this was read through a [thread pidfd](PidFd::is_thread).
    pub fn is_thread(&self) -> bool {
        self.thread
    }
}

impl fmt::Debug for PidInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PidInfo")
            .field("pid", &self.pid())
            .field("tgid", &self.tgid())
            .field("ppid", &self.ppid())
            .field("uid", &self.uid())
            .field("euid", &self.euid())
            .field("gid", &self.gid())
            .field("egid", &self.egid())
            .field("cgroup_id", &self.cgroup_id())
            .field("exit_status", &self.exit_status())
            .finish()
    }
}

impl PidFd {
    /// What the kernel reports of the process (`ioctl(PIDFD_GET_INFO)`,
    /// Linux 6.13): its ids, credentials and cgroup while it exists, and
    /// its exit status once it has been reaped (Linux 6.15), child or not.
    ///
    /// One syscall, no allocation.
    ///
    /// # Errors
    ///
    /// - `Unsupported` with a [`SyscallError`](crate::SyscallError) before
    ///   Linux 6.13.
    /// - `ESRCH` once the process has been reaped, on kernels before 6.15
    ///   (which keep no exit information).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::PidFd;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let me = PidFd::open(std::process::id() as i32)?;
    /// let info = match me.info() {
    ///     Ok(info) => info,
    ///     Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(()), // before 6.13
    ///     Err(e) => return Err(e),
    /// };
    /// assert_eq!(info.pid(), Some(std::process::id() as i32));
    /// assert_eq!(info.exit_status(), None); // still running
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn info(&self) -> io::Result<PidInfo> {
        let mut raw = RawPidfdInfo {
            mask: INFO_PID | INFO_CREDS | INFO_CGROUPID | INFO_EXIT,
            ..RawPidfdInfo::default()
        };
        // The command's size (64) is the size of `raw`, which the kernel
        // reads the request mask from and writes the answer to; the
        // descriptor is open for the call.
        // SAFETY: so the ioctl reads and writes only `raw`.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                PIDFD_GET_INFO as _,
                &mut raw as *mut RawPidfdInfo,
            )
        };
        if rc == 0 {
            return Ok(PidInfo {
                raw,
                thread: self.is_thread(),
            });
        }
        let errno = last_errno();
        Err(match errno {
            // An ioctl the pidfd does not know: before Linux 6.13.
            libc::ENOTTY | libc::EINVAL => {
                unsupported("ioctl(PIDFD_GET_INFO)", errno, "Linux 6.13 or later")
            }
            _ => syscall_error("ioctl(PIDFD_GET_INFO)", errno, "Linux 6.13 or later", None),
        })
    }

    /// The exit status once the process has exited and been reaped, child
    /// or not: `Ok(None)` while it runs or is a zombie. A pidfd that
    /// [`reaps`](PidFd::reaps) reaps its own child here (as
    /// [`try_wait`](PidFd::try_wait)); any other process is left to its
    /// parent, and its status read through `PIDFD_INFO_EXIT` once the
    /// parent has reaped it. The status is kept, as `try_wait` keeps it.
    #[cfg(feature = "tokio")]
    pub(crate) fn reaped_status(&self) -> io::Result<Option<ExitStatus>> {
        if self.is_thread() {
            // A thread's exit is never a process's exit status.
            return Err(io::Error::from_raw_os_error(libc::ECHILD));
        }
        if self.reaps {
            // Kept by a reaping handle: reaped. (An observing handle keeps
            // the status at the exit, before its owner reaps.)
            if let Some(status) = self.status.get() {
                return Ok(Some(*status));
            }
            match self.try_wait_in_poll() {
                Ok(status) => return Ok(status),
                // Not a child of this process: learn it from pidfs below.
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {}
                Err(e) => return Err(e),
            }
        }
        match self.info() {
            Ok(info) => Ok(info
                .exit_status()
                .map(|status| *self.status.get_or_init(|| status))),
            // Reaped, and the kernel kept nothing: 6.13 and 6.14.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(unsupported(
                "ioctl(PIDFD_GET_INFO)",
                libc::ESRCH,
                "Linux 6.15 or later (for PIDFD_INFO_EXIT)",
            )),
            Err(e) => Err(e),
        }
    }
}
