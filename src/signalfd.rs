//! [`SignalFd`]: signals read as data, with full sender information.
//!
//! rustix has no signalfd, so this module (with [`crate::signal`]) is where
//! the crate calls libc directly.
//!
//! # References
//!  - [`signalfd(2)`](https://man7.org/linux/man-pages/man2/signalfd.2.html)

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::adopt::{AdoptError, adopt_pollable};
use crate::error::{SANDBOX, last_errno, syscall_error};
use crate::handle::{impl_close, impl_owned_fd_conversions};
use crate::signal::{SigSet, SignalInfo, empty_batch, leftovers_held, take_leftovers};
#[cfg(doc)]
use crate::signal::{
    SignalMaskGuard, ensure_blocked_in_all_threads, reset_signal_mask_on_exec, threads_not_blocking,
};

/// An owned signalfd: the signals of its mask, read as [`SignalInfo`]
/// records instead of running handlers.
///
/// The descriptor is nonblocking and close-on-exec, and readable while one
/// of its signals is pending for the reading thread or the process.
///
/// A signal reaches a signalfd only if it is **blocked in every thread** that
/// could otherwise receive it; an unblocked thread gets it first, runs a
/// handler or the default action (which for most signals kills the
/// process), and the signalfd never sees it. The crate makes this
/// discipline easy to follow and possible to check:
///
/// - [`SignalMaskGuard`] blocks a set on the calling thread and restores the
///   previous mask when dropped (or [`keep`](SignalMaskGuard::keep)s it);
/// - [`threads_not_blocking`] and [`ensure_blocked_in_all_threads`] read
///   `/proc/self/task/*/status` and name the threads that would steal a
///   signal;
/// - [`reset_signal_mask_on_exec`] gives children started with
///   [`std::process::Command`] an empty mask, since a blocked mask survives
///   `exec` (and `std` does not reset it).
///
/// # Caveats
///
/// - **Block before any thread exists.** New threads inherit their creator's
///   mask, so block in `main` before starting a runtime or a thread pool.
///   With a multi-threaded tokio runtime, build the runtime by hand:
///
///   ```no_run
///   use iofd::{SigSet, Signal, SignalMaskGuard};
///
///   fn main() -> std::io::Result<()> {
///       let set: SigSet = [Signal::TERM, Signal::INT].into_iter().collect();
///       // Block on the main thread first: every runtime thread inherits it.
///       SignalMaskGuard::block(&set)?.keep();
///       let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
///       runtime.block_on(async {
///           iofd::ensure_blocked_in_all_threads(&set)?; // nobody will steal them
///           // ... create the SignalFd / AsyncSignalFd here ...
///           Ok(())
///       })
///   }
///   ```
///
///   `#[tokio::main]` starts the runtime before your code runs, so it cannot
///   be used this way: its worker threads would not block the set.
/// - **Standard signals coalesce, real-time signals queue.** Two `SIGUSR1`
///   sent before a read arrive as one record; each of `SIGRTMIN..=SIGRTMAX`
///   is queued with its `sigqueue` value (up to `RLIMIT_SIGPENDING`).
/// - **Synchronous signals never reach a signalfd.** `SIGSEGV`, `SIGBUS`,
///   `SIGFPE`, `SIGILL`, `SIGSYS` (and `SIGTRAP`) raised by a faulting
///   instruction are delivered to the faulting thread, blocked or not.
/// - `SIGKILL` and `SIGSTOP` cannot be blocked or read; the C library
///   reserves the two signals below `SIGRTMIN` (32 and 33 with glibc) for
///   itself. Sets holding them are refused with `InvalidInput` where they
///   would be silently ignored.
///
/// - **Order.** A read hands out the signals pending for the *calling
///   thread* (sent with `tgkill`/`raise`/`pthread_kill`, or raised by the
///   kernel for that thread, such as `SIGPIPE`) before those pending for
///   the process (`kill`, `sigqueue`, `pidfd_send_signal`), and within each,
///   the synchronous signals (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGTRAP`,
///   `SIGFPE`, `SIGSYS`) first, then the lowest number first; real-time
///   signals of one number come in the order they were sent.
/// - **Records given back come first, but do not make this descriptor
///   readable.** Records an [`AsyncSignalFd`](crate::AsyncSignalFd) was
///   dropped with (or that [`SignalInfo::requeue`] gave back) are kept in
///   the process, exactly as read, and handed out by the next read of a
///   signalfd whose mask covers them, before the kernel's. They are not
///   in the kernel (queueing them back could alter or lose them, see
///   [`SignalInfo::requeue`]), and iofd never sends a signal to fake
///   readiness. An `AsyncSignalFd` waiting in `recv` is woken by them; a
///   `SignalFd` is not: if it waits in a `mio::Poll` (or `poll(2)`,
///   `epoll`), it sees them only at its next read, which comes after its
///   next wake-up (a new signal of its mask, or anything else that wakes
///   that loop). So: read until `WouldBlock` after *every* wake-up of the
///   loop (as edge-triggered readiness asks anyway), and while such a
///   reader waits, do not drop an `AsyncSignalFd` of the same signals with
///   records buffered: take them with
///   [`into_parts`](crate::AsyncSignalFd::into_parts) and hand them over
///   yourself (a channel plus a `mio::Waker`), or wait with an
///   `AsyncSignalFd` instead.
/// - **Thread-directed signals stay with their thread.** A signalfd reads
///   the signals pending for the calling thread as well as for the
///   process: a signal sent with `tgkill` to another thread stays pending
///   on that thread, and only a read on that thread sees it.
///
/// # Examples
///
/// ```
/// use iofd::{SigSet, Signal, SignalFd, SignalMaskGuard};
///
/// # fn main() -> std::io::Result<()> {
/// let set = SigSet::from(Signal::USR1);
/// let _blocked = SignalMaskGuard::block(&set)?; // this thread only: see the caveats
/// let sfd = SignalFd::new(&set)?;
/// assert_eq!(sfd.read_info().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
///
/// // To this thread, which blocks SIGUSR1: the signal stays pending for the
/// // signalfd instead of killing the process.
/// iofd::raise(Signal::USR1)?;
/// let info = sfd.read_info()?;
/// assert_eq!(info.signal(), Some(Signal::USR1));
/// assert_eq!(info.pid(), std::process::id() as i32);
/// # Ok(())
/// # }
/// ```
pub struct SignalFd {
    fd: OwnedFd,
    /// The mask last given to the kernel, shared with every
    /// [`try_clone`](SignalFd::try_clone) (the clones share the kernel's
    /// mask too). The lock is held across `set_mask`'s syscall, so
    /// concurrent calls cannot leave it disagreeing with the kernel.
    mask: Arc<Mutex<SigSet>>,
}

impl SignalFd {
    /// Creates a signalfd for the signals of `mask`.
    ///
    /// Creating it does not block the signals: do that first (see the type
    /// docs), or they keep their usual disposition.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `mask` holds `SIGKILL`, `SIGSTOP` or a signal the
    ///   C library reserves (the kernel would silently leave them out).
    /// - `EMFILE`/`ENFILE` when out of descriptors, `ENOMEM`.
    pub fn new(mask: &SigSet) -> io::Result<SignalFd> {
        let raw_mask = mask.to_blockable_libc()?;
        // SAFETY: -1 asks for a new descriptor; `raw_mask` is an initialised
        // sigset_t and the flags are valid signalfd flags.
        let raw = unsafe { libc::signalfd(-1, &raw_mask, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if raw < 0 {
            return Err(syscall_error(
                "signalfd4",
                last_errno(),
                "Linux 2.6.27 or later",
                Some(SANDBOX),
            ));
        }
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(SignalFd {
            fd,
            mask: Arc::new(Mutex::new(*mask)),
        })
    }

    /// Replaces the set of signals this signalfd reads.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an unblockable or reserved signal, as
    /// [`SignalFd::new`]; the mask is then unchanged.
    pub fn set_mask(&self, mask: &SigSet) -> io::Result<()> {
        let raw_mask = mask.to_blockable_libc()?;
        let mut current = self.lock_mask();
        // Given an existing signalfd, the call only replaces its mask.
        // SAFETY: the descriptor is a signalfd we own; `raw_mask` is an
        // initialised sigset_t.
        let rc = unsafe { libc::signalfd(self.fd.as_raw_fd(), &raw_mask, 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        *current = *mask;
        Ok(())
    }

    /// Makes another owner of the same signalfd (`F_DUPFD_CLOEXEC`).
    ///
    /// Both read from one queue (a record read through one is gone for the
    /// other) and share one mask: [`set_mask`](SignalFd::set_mask) through
    /// either changes both, and [`mask`](SignalFd::mask) of each says so.
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE` when out of descriptors.
    pub fn try_clone(&self) -> io::Result<SignalFd> {
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?;
        Ok(SignalFd {
            fd,
            mask: Arc::clone(&self.mask),
        })
    }

    /// The set of signals this signalfd reads: the kernel's mask of the
    /// signalfd, read from `/proc/thread-self/fdinfo` (`sigmask`), so a
    /// change made through another handle on the same open file
    /// description (a duplicate adopted with `TryFrom<OwnedFd>`, or held
    /// by another process) is seen. Where `/proc` cannot be read, the mask
    /// this handle (or a [`try_clone`](SignalFd::try_clone)) last set or
    /// adopted.
    ///
    /// Not a hot path: a few syscalls (open, read, close), no allocation.
    pub fn mask(&self) -> SigSet {
        let mut cached = self.lock_mask();
        if let Some(kernel) = self.kernel_mask() {
            *cached = kernel;
        }
        *cached
    }

    /// The kernel's mask of this signalfd (fdinfo's `sigmask`), or `None`
    /// where `/proc` cannot be read. No allocation.
    fn kernel_mask(&self) -> Option<SigSet> {
        use std::io::Write as _;
        let mut path = [0u8; 64];
        let mut cursor = &mut path[..];
        write!(cursor, "/proc/thread-self/fdinfo/{}\0", self.fd.as_raw_fd()).ok()?;
        let path = std::ffi::CStr::from_bytes_until_nul(&path).ok()?;
        let file = rustix::fs::open(
            path,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .ok()?;
        // A signalfd's fdinfo is a few short lines (pos, flags, mnt_id,
        // ino, sigmask).
        let mut text = [0u8; 512];
        let mut len = 0;
        while len < text.len() {
            match rustix::io::read(&file, &mut text[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return None,
            }
        }
        let text = std::str::from_utf8(&text[..len]).ok()?;
        let hex = text
            .lines()
            .find_map(|line| line.strip_prefix("sigmask:"))?
            .trim();
        u64::from_str_radix(hex, 16).ok().map(SigSet::from_bits)
    }

    /// The mask as this handle knows it, shared with the clones, for a
    /// reader's slot among the readers woken by records given back.
    #[cfg(feature = "tokio")]
    pub(crate) fn shared_mask(&self) -> Arc<Mutex<SigSet>> {
        Arc::clone(&self.mask)
    }

    /// The mask lock. A panic cannot happen while it is held (nothing in
    /// `set_mask` panics), but a poisoned lock is still used rather than
    /// turned into a panic.
    fn lock_mask(&self) -> MutexGuard<'_, SigSet> {
        self.mask
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads one pending signal (a record given back first, as
    /// [`read_batch`](SignalFd::read_batch) says).
    ///
    /// One `read` syscall, no allocation.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when none of the mask's signals is pending.
    #[inline]
    pub fn read_info(&self) -> io::Result<SignalInfo> {
        let mut info = [SignalInfo::default()];
        self.read_batch(&mut info)?;
        let [info] = info;
        Ok(info)
    }

    /// Reads as many pending signals as fit in `buf` with **one** `read`
    /// syscall, and returns how many it read (at least one). Records come
    /// in the kernel's order: standard signals by number, then real-time
    /// signals by number and, for each, in the order sent.
    ///
    /// Records of this mask that a reader gave back (an
    /// [`AsyncSignalFd`](crate::AsyncSignalFd) dropped with records in its
    /// buffer, or [`SignalInfo::requeue`]) come first, with no syscall: a
    /// call that finds some returns only those, in the order given.
    ///
    /// Whether a record given back goes to this reader is decided by the
    /// kernel's mask of the signalfd ([`mask`](SignalFd::mask)), not by a
    /// copy: another handle on the same open file description may have
    /// changed it.
    ///
    /// No allocation. While no record is given back, one atomic load
    /// besides the `read`; while some are, `getpid` (records given back in
    /// a parent before `fork` are not the child's) and a read of `/proc`
    /// (open, read, close) to learn the kernel's mask.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `buf` is empty.
    /// - `WouldBlock` when none of the mask's signals is pending.
    #[inline]
    pub fn read_batch(&self, buf: &mut [SignalInfo]) -> io::Result<usize> {
        if buf.is_empty() {
            return Err(empty_batch());
        }
        if leftovers_held() {
            let n = take_leftovers(|| self.mask(), buf);
            if n > 0 {
                return Ok(n);
            }
        }
        self.read_pending(buf)
    }

    /// [`read_batch`](SignalFd::read_batch) from the kernel only (one
    /// `read`), for a caller that looked at the records given back itself
    /// and must know whether the kernel's queue was drained. `buf` is not
    /// empty.
    #[inline]
    pub(crate) fn read_pending(&self, buf: &mut [SignalInfo]) -> io::Result<usize> {
        let len = std::mem::size_of_val(buf);
        // `SignalInfo` is `repr(C)`: 128 bytes of plain integers with explicit
        // padding fields, so it has no padding bytes and any bytes are a valid
        // value; the mutable borrow of `buf` keeps anyone else from looking.
        // SAFETY: viewing `buf` as its `len` bytes is therefore sound.
        let bytes = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), len) };
        let n = rustix::io::read(&self.fd, bytes)?;
        Ok(n / std::mem::size_of::<SignalInfo>())
    }
}

impl_owned_fd_conversions!(SignalFd);

impl TryFrom<OwnedFd> for SignalFd {
    type Error = AdoptError;

    /// Adopts `fd` if it is a signalfd (its link in
    /// `/proc/thread-self/fd`, the calling thread's descriptor table, reads
    /// `anon_inode:[signalfd]`), with the mask its fdinfo reports
    /// (`sigmask`); otherwise hands `fd` back in the error.
    ///
    /// A signalfd reads the signals pending for the process (and thread)
    /// that reads it, whoever created it: block the mask in this process
    /// as for [`SignalFd::new`].
    ///
    /// Sets `O_NONBLOCK`, which the handle relies on; the flag belongs to
    /// the open file description, so every holder of a duplicate (in any
    /// process) sees it too. Close-on-exec is left as it is.
    ///
    /// # Errors
    ///
    /// [`AdoptError`] (holding `fd`) if `fd` is not a signalfd, or `/proc`
    /// cannot be read.
    fn try_from(fd: OwnedFd) -> Result<SignalFd, AdoptError> {
        let (fd, mask) = adopt_pollable(fd, "signalfd", "sigmask", |hex| {
            u64::from_str_radix(hex?, 16).ok()
        })?;
        Ok(SignalFd {
            fd,
            mask: Arc::new(Mutex::new(SigSet::from_bits(mask))),
        })
    }
}
impl_close!(SignalFd);

impl fmt::Debug for SignalFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalFd")
            .field("fd", &self.fd.as_raw_fd())
            .field("mask", &self.mask())
            .finish()
    }
}
