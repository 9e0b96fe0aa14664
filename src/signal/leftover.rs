//! Records given back: signals that a reader took from the kernel but did
//! not hand out (an [`AsyncSignalFd`](crate::AsyncSignalFd) dropped with
//! records in its buffer, or [`SignalInfo::requeue`]), kept in this process
//! for the next [`SignalFd`](crate::SignalFd) or `AsyncSignalFd` read whose
//! mask covers them.
//!
//! Why not queue them back to the kernel: `rt_sigqueueinfo(2)` cannot
//! promise the same record. At `RLIMIT_SIGPENDING` the kernel refuses a
//! real-time signal (`EAGAIN`), and queues a standard signal sent with a
//! negative code (`sigqueue`, `tgkill`) *without* its siginfo, so it reads
//! back as a `kill` from pid 0, uid 0. Kept here, a record keeps every
//! field, costs no syscall and meets no limit.
//!
//! The readers' fast path stays one syscall: they look at one atomic word
//! (the signals held here) and take the lock only when it shares a signal
//! with their mask. Records given back wake the async readers waiting for
//! their signals ([`super::waiters`]).
//!
//! `fork`: the kernel gives a child no pending signal, but it would get a
//! copy of this queue, and read its parent's records (delivered twice, and
//! looking as if the parent had signalled the child). So the queue is
//! tagged with the pid that filled it, and a process that finds another
//! pid there treats it as empty and clears it. The `getpid` for that runs
//! only when a record of the reader's signals is held, never on the
//! fast path.

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{SigSet, SignalInfo};

/// The records given back, oldest first.
static RECORDS: Mutex<Vec<SignalInfo>> = Mutex::new(Vec::new());
/// The signals of [`RECORDS`] (bit `n - 1` for signal `n`, as
/// [`SigSet::bits`]); written only with the lock held.
static HELD: AtomicU64 = AtomicU64::new(0);

/// The process whose records [`RECORDS`] holds (0 before the first);
/// written only with the lock held.
static OWNER: AtomicU32 = AtomicU32::new(0);

/// This process's pid (`getpid`, one syscall: no cache survives `fork`
/// wrongly).
fn this_process() -> u32 {
    rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

/// The lock, with the records of this process only: records copied from
/// a parent by `fork` are dropped here (lock held, so `HELD` follows).
fn own_records() -> MutexGuard<'static, Vec<SignalInfo>> {
    let mut records = records();
    let pid = this_process();
    if OWNER.load(Ordering::Relaxed) != pid {
        records.clear();
        update(&mut records);
        OWNER.store(pid, Ordering::Relaxed);
    }
    records
}

/// The lock. Nothing panics while it is held, but a poisoned lock is used
/// rather than turned into a panic.
fn records() -> MutexGuard<'static, Vec<SignalInfo>> {
    RECORDS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The bit of `info`'s signal, 0 for a blank record.
fn bit(info: &SignalInfo) -> u64 {
    match info.ssi_signo {
        signo @ 1..=64 => 1 << (signo - 1),
        _ => 0,
    }
}

/// Recomputes [`HELD`] from `records` (lock held), and gives the memory back
/// once they are all handed out.
fn update(records: &mut Vec<SignalInfo>) {
    if records.is_empty() {
        *records = Vec::new();
    }
    HELD.store(
        records.iter().fold(0, |bits, r| bits | bit(r)),
        Ordering::Release,
    );
}

/// Whether any record is held: one atomic load, the readers' fast path.
#[inline]
pub(crate) fn any_held() -> bool {
    HELD.load(Ordering::Acquire) != 0
}

/// Moves into `buf` the oldest records (at most `buf.len()`) whose signal
/// is in the reader's mask, in order, and returns how many. `mask` is
/// asked only when a record of this process is held (it reads the
/// kernel's mask, a few syscalls); records copied from a parent by `fork`
/// are dropped first, so a forked child pays this once.
#[cold]
pub(crate) fn take(mask: impl FnOnce() -> SigSet, buf: &mut [SignalInfo]) -> usize {
    if HELD.load(Ordering::Acquire) == 0 {
        return 0;
    }
    if OWNER.load(Ordering::Relaxed) != this_process() {
        // A copy made by `fork`: dropped (unless this process gave records
        // back since, which the lock sorts out).
        drop(own_records());
        if HELD.load(Ordering::Acquire) == 0 {
            return 0;
        }
    }
    let mask = mask().bits();
    if HELD.load(Ordering::Acquire) & mask == 0 {
        return 0;
    }
    let mut records = own_records();
    let mut taken = 0;
    records.retain(|record| {
        if taken < buf.len() && bit(record) & mask != 0 {
            buf[taken] = *record;
            taken += 1;
            false
        } else {
            true
        }
    });
    update(&mut records);
    taken
}

/// Gives back `given`, records a reader took but did not hand out, ahead of
/// every record held (a reader takes the oldest first, so what it gives
/// back is older than what it left here).
///
/// If the memory for them cannot be had, each is queued back to the kernel
/// when the kernel can keep it exactly ([`super::send::requeue`]), and
/// is otherwise lost.
#[cfg(feature = "tokio")]
pub(crate) fn give_back(given: &[SignalInfo]) {
    let given_bits = given.iter().fold(0, |bits, r| bits | bit(r));
    if given_bits == 0 {
        return;
    }
    let mut records = own_records();
    if records.try_reserve(given.len()).is_err() {
        drop(records);
        for info in given {
            let _ = super::send::requeue(info);
        }
        return;
    }
    records.splice(0..0, given.iter().copied().filter(|r| bit(r) != 0));
    update(&mut records);
    drop(records);
    super::waiters::wake(given_bits);
}

impl SignalInfo {
    /// Gives this record back to the process: the next read of a
    /// [`SignalFd`](crate::SignalFd) or [`AsyncSignalFd`](crate::AsyncSignalFd)
    /// (on any thread) whose mask holds its signal returns it, before the
    /// signals still pending in the kernel, exactly as it is (signal, code,
    /// sender pid and uid, value, ...). This is how a reader that took more
    /// records than it handled gives the rest back;
    /// [`AsyncSignalFd`](crate::AsyncSignalFd) does it on drop.
    ///
    /// Records given back are kept in this process, in the order given,
    /// not queued to the kernel: `rt_sigqueueinfo(2)` at the process's
    /// `RLIMIT_SIGPENDING` refuses a real-time signal and strips a standard
    /// one of its siginfo (it would read as a `kill` from pid 0, uid 0).
    /// So only iofd's readers see them: not `sigwaitinfo(2)`, not a signal
    /// handler, not the default action (a `SIGTERM` given back and never
    /// read again by iofd does not terminate the process). A child made by
    /// `fork` does not inherit them (the kernel gives it no pending signal
    /// either): they stay with the process that gave them back. In a child
    /// forked from a multi-threaded process, as with any lock, do not read
    /// a signalfd before `exec` if another thread may have been giving
    /// records back at the moment of the `fork`. Every read looks here first, with one atomic load while
    /// nothing is held. An [`AsyncSignalFd`](crate::AsyncSignalFd) whose
    /// mask holds the signal and that is waiting in `recv` is woken for
    /// it; a descriptor is not made readable, so a `SignalFd` waiting in a
    /// `mio::Poll` sees it only at its next read (see
    /// [`SignalFd`](crate::SignalFd)'s caveats).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a blank record (no signal). If the memory to keep
    /// it cannot be had, the record is queued back to the kernel where the
    /// kernel keeps it exactly, and that answer is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{SigSet, Signal, SignalFd, SignalMaskGuard};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let set = SigSet::from(Signal::USR2);
    /// let _blocked = SignalMaskGuard::block(&set)?;
    /// let signals = SignalFd::new(&set)?;
    /// iofd::raise(Signal::USR2)?;
    /// let info = signals.read_info()?;
    /// info.requeue()?; // give it back
    /// assert_eq!(signals.read_info()?, info);
    /// assert_eq!(signals.read_info().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    /// # Ok(())
    /// # }
    /// ```
    pub fn requeue(&self) -> io::Result<()> {
        if bit(self) == 0 {
            return Err(crate::error::invalid_input(
                "a blank SignalInfo holds no signal to requeue",
            ));
        }
        let mut records = own_records();
        if records.try_reserve(1).is_err() {
            drop(records);
            return super::send::requeue(self);
        }
        records.push(*self);
        update(&mut records);
        drop(records);
        #[cfg(feature = "tokio")]
        super::waiters::wake(bit(self));
        Ok(())
    }
}
