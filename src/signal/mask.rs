//! [`SignalMaskGuard`]: block signals on this thread for a scope.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use super::SigSet;

thread_local! {
    /// For each signal (index `signo - 1`): how many live guards on this
    /// thread hold it, counted only for signals that a guard blocked
    /// itself (they were unblocked when the first guard came).
    static HOLDS: [Cell<u32>; 64] = const { [const { Cell::new(0) }; 64] };
    /// Signals added by guards that were [`kept`](SignalMaskGuard::keep):
    /// they stay blocked when the other guards holding them go.
    static KEPT: Cell<u64> = const { Cell::new(0) };
}

/// Blocks a set of signals on the calling thread while it lives, and
/// unblocks, when dropped, exactly the signals that it blocked itself.
///
/// Guards nest in any order: each signal a guard found unblocked is counted
/// on the thread, and it is unblocked again only when the last guard holding
/// it goes. Dropping nested guards in any order leaves the mask exactly as
/// it was before the first of them; signals that were already blocked
/// before (by the caller, or inherited) are never unblocked by a guard.
///
/// Signal masks belong to threads, so the guard is neither `Send` nor
/// `Sync`: it must be dropped on the thread that made it.
///
/// # Examples
///
/// ```
/// use iofd::{SigSet, Signal, SignalMaskGuard};
///
/// # fn main() -> std::io::Result<()> {
/// let set = SigSet::from(Signal::USR2);
/// {
///     let _guard = SignalMaskGuard::block(&set)?;
///     assert!(SigSet::thread_blocked()?.contains(Signal::USR2));
/// }
/// assert!(!SigSet::thread_blocked()?.contains(Signal::USR2));
/// # Ok(())
/// # }
/// ```
///
/// A guard that is not bound blocks nothing (it is dropped at once), so
/// the compiler warns about it:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # fn main() -> std::io::Result<()> {
/// iofd::SignalMaskGuard::block(&iofd::SigSet::from(iofd::Signal::USR1))?;
/// # Ok(())
/// # }
/// ```
#[must_use = "the signals are unblocked again when the guard is dropped: bind it \
              (`let _guard = ...`) or call `.keep()`"]
pub struct SignalMaskGuard {
    /// The thread's mask before this guard.
    previous: SigSet,
    /// The signals this guard holds (blocked by it or by a guard before it
    /// that is still counted), to release on drop.
    held: SigSet,
    // Masks are per thread: restoring on another thread would be wrong.
    _not_send: PhantomData<*const ()>,
}

impl SignalMaskGuard {
    /// Adds `set` to the calling thread's blocked signals
    /// (`pthread_sigmask(SIG_BLOCK)`).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `set` holds `SIGKILL`, `SIGSTOP` or a signal the C
    /// library reserves (they cannot be blocked; nothing is changed).
    #[must_use = "the signals are unblocked again when the guard is dropped: bind it \
                  (`let _guard = ...`) or call `.keep()`"]
    pub fn block(set: &SigSet) -> io::Result<SignalMaskGuard> {
        let raw = set.to_blockable_libc()?;
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `raw` is an initialised sigset_t; `old` is writable
        // storage for one, filled when the call returns 0.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw, old.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: pthread_sigmask returned 0, so `old` is filled.
        let previous = SigSet::from_libc(unsafe { old.assume_init_ref() });
        let mut held = SigSet::empty();
        HOLDS.with(|holds| {
            for signal in set.iter() {
                let count = &holds[signal_index(signal)];
                if count.get() > 0 {
                    // Blocked by a guard that still lives: share it.
                    count.set(count.get() + 1);
                    held.add(signal);
                } else if !previous.contains(signal) {
                    // Blocked by us just now.
                    count.set(1);
                    held.add(signal);
                }
                // Otherwise it was blocked before any guard: not ours.
            }
        });
        // A signal that was unblocked when we came is no longer kept.
        KEPT.with(|kept| kept.set(kept.get() & !(set.bits() & !previous.bits())));
        Ok(SignalMaskGuard {
            previous,
            held,
            _not_send: PhantomData,
        })
    }

    /// The signals that were blocked before this guard.
    pub fn previous(&self) -> SigSet {
        self.previous
    }

    /// Keeps the signals blocked for the rest of the thread's life (the
    /// usual choice in `main`, before starting any thread), even when other
    /// guards holding them are dropped.
    pub fn keep(self) {
        let held = self.release();
        KEPT.with(|kept| kept.set(kept.get() | held.bits()));
        std::mem::forget(self);
    }

    /// Gives up this guard's holds; returns the signals it held.
    fn release(&self) -> SigSet {
        HOLDS.with(|holds| {
            for signal in self.held.iter() {
                let count = &holds[signal_index(signal)];
                count.set(count.get().saturating_sub(1));
            }
        });
        self.held
    }
}

/// The index of `signal` in the per-thread counts.
#[inline]
fn signal_index(signal: super::Signal) -> usize {
    (signal.as_raw() - 1) as usize
}

impl Drop for SignalMaskGuard {
    fn drop(&mut self) {
        let held = self.release();
        let kept = SigSet::from_bits(KEPT.with(Cell::get));
        let last: SigSet = HOLDS.with(|holds| {
            held.iter()
                .filter(|&signal| holds[signal_index(signal)].get() == 0)
                .collect()
        });
        let unblock = last - kept;
        if unblock.is_empty() {
            return;
        }
        // Every signal here was blocked by a guard, so it is blockable.
        let Ok(raw) = unblock.to_blockable_libc() else {
            return;
        };
        // SAFETY: `raw` is an initialised sigset_t; the guard is not Send,
        // so this is the thread whose mask it changed.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw, std::ptr::null_mut());
        }
    }
}

impl fmt::Debug for SignalMaskGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalMaskGuard")
            .field("previous", &self.previous)
            .field("held", &self.held)
            .finish()
    }
}
