//! [`SigSet`]: a set of signals as a 64-bit mask.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not, Sub, SubAssign};

use super::{MAX_SIGNAL, Signal, named};
use crate::error::invalid_input_owned;

/// A set of signals: the 64-bit mask that signalfd and the thread mask use.
///
/// A plain `Copy` value with set operators; no heap.
///
/// # Examples
///
/// ```
/// use iofd::{SigSet, Signal};
///
/// let mut set = SigSet::empty().with(Signal::USR1);
/// set.add(Signal::TERM);
/// assert!(set.contains(Signal::TERM));
/// let more: SigSet = [Signal::INT, Signal::TERM].into_iter().collect();
/// assert_eq!((set | more).len(), 3);
/// assert_eq!((set & more).iter().collect::<Vec<_>>(), [Signal::TERM]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SigSet(u64);

impl SigSet {
    /// The empty set.
    #[inline]
    pub const fn empty() -> SigSet {
        SigSet(0)
    }

    /// Every signal, 1 to 64 (including ones that cannot be blocked; see
    /// [`SigSet::blockable`]).
    #[inline]
    pub const fn full() -> SigSet {
        SigSet(u64::MAX)
    }

    /// Every signal that a thread can block and a signalfd can read: all but
    /// `SIGKILL`, `SIGSTOP` and the ones the C library reserves.
    pub fn blockable() -> SigSet {
        let mut set = SigSet::full();
        set.remove(Signal::KILL);
        set.remove(Signal::STOP);
        for signo in 32..libc::SIGRTMIN() {
            set.remove(named(signo));
        }
        set
    }

    /// This set with `signal` added (for building sets in `const`s).
    #[inline]
    #[must_use]
    pub const fn with(self, signal: Signal) -> SigSet {
        SigSet(self.0 | bit(signal))
    }

    /// Adds `signal`; returns whether it was not there yet.
    #[inline]
    pub fn add(&mut self, signal: Signal) -> bool {
        let added = !self.contains(signal);
        self.0 |= bit(signal);
        added
    }

    /// Removes `signal`; returns whether it was there.
    #[inline]
    pub fn remove(&mut self, signal: Signal) -> bool {
        let was = self.contains(signal);
        self.0 &= !bit(signal);
        was
    }

    /// Whether `signal` is in the set.
    #[inline]
    pub const fn contains(&self, signal: Signal) -> bool {
        self.0 & bit(signal) != 0
    }

    /// The number of signals in the set.
    #[inline]
    pub const fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The signals in the set, lowest number first.
    #[inline]
    pub fn iter(&self) -> SigSetIter {
        SigSetIter(self.0)
    }

    /// The set as a bit mask: bit `n - 1` stands for signal `n`, as in the
    /// kernel's `sigset_t` and `/proc/*/status`.
    #[inline]
    pub const fn bits(&self) -> u64 {
        self.0
    }

    /// The set with exactly the signals of `bits` (bit `n - 1` for signal
    /// `n`).
    #[inline]
    pub const fn from_bits(bits: u64) -> SigSet {
        SigSet(bits)
    }

    /// The signals blocked on the calling thread now.
    ///
    /// # Errors
    ///
    /// The error of `pthread_sigmask(3)` (none is expected).
    pub fn thread_blocked() -> io::Result<SigSet> {
        let mut old = MaybeUninit::<libc::sigset_t>::uninit();
        // A null `set` only queries; the call fills `old` when it returns 0.
        // SAFETY: `old` is writable storage for one sigset_t.
        let rc =
            unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), old.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: pthread_sigmask returned 0, so it initialised `old`.
        Ok(SigSet::from_libc(unsafe { old.assume_init_ref() }))
    }

    /// Converts to the C library's `sigset_t`, refusing what cannot be
    /// blocked: `SIGKILL`, `SIGSTOP` and the C library's reserved signals,
    /// which the kernel or libc would otherwise silently leave out.
    pub(crate) fn to_blockable_libc(self) -> io::Result<libc::sigset_t> {
        for unblockable in [Signal::KILL, Signal::STOP] {
            if self.contains(unblockable) {
                return Err(invalid_input_owned(format!(
                    "{unblockable} cannot be blocked or read from a signalfd"
                )));
            }
        }
        let mut raw = empty_libc_sigset();
        for signal in self.iter() {
            // SAFETY: `raw` is an initialised sigset_t and the number is
            // 1..=64, in range for it.
            if unsafe { libc::sigaddset(&mut raw, signal.as_raw()) } != 0 {
                return Err(invalid_input_owned(format!(
                    "{signal} is reserved by the C library and cannot be blocked"
                )));
            }
        }
        Ok(raw)
    }

    pub(super) fn from_libc(raw: &libc::sigset_t) -> SigSet {
        let mut set = SigSet::empty();
        for signo in 1..=MAX_SIGNAL {
            // SAFETY: `raw` is an initialised sigset_t; 1..=64 is in range.
            if unsafe { libc::sigismember(raw, signo) } == 1 {
                set.add(named(signo));
            }
        }
        set
    }
}

/// An initialised, empty `sigset_t`.
pub(super) fn empty_libc_sigset() -> libc::sigset_t {
    let mut raw = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole sigset_t it is given and
    // cannot fail for a valid pointer.
    unsafe {
        libc::sigemptyset(raw.as_mut_ptr());
        raw.assume_init()
    }
}

#[inline]
const fn bit(signal: Signal) -> u64 {
    1u64 << (signal.as_raw() - 1)
}

/// Iterator over the signals of a [`SigSet`], lowest number first.
#[derive(Debug, Clone)]
pub struct SigSetIter(u64);

impl Iterator for SigSetIter {
    type Item = Signal;

    #[inline]
    fn next(&mut self) -> Option<Signal> {
        if self.0 == 0 {
            return None;
        }
        let index = self.0.trailing_zeros();
        self.0 &= self.0 - 1;
        Some(named(index as i32 + 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.0.count_ones() as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for SigSetIter {}

impl IntoIterator for SigSet {
    type Item = Signal;
    type IntoIter = SigSetIter;

    fn into_iter(self) -> SigSetIter {
        self.iter()
    }
}

impl IntoIterator for &SigSet {
    type Item = Signal;
    type IntoIter = SigSetIter;

    fn into_iter(self) -> SigSetIter {
        self.iter()
    }
}

impl FromIterator<Signal> for SigSet {
    fn from_iter<I: IntoIterator<Item = Signal>>(iter: I) -> SigSet {
        let mut set = SigSet::empty();
        set.extend(iter);
        set
    }
}

impl Extend<Signal> for SigSet {
    fn extend<I: IntoIterator<Item = Signal>>(&mut self, iter: I) {
        for signal in iter {
            self.add(signal);
        }
    }
}

impl From<Signal> for SigSet {
    fn from(signal: Signal) -> SigSet {
        SigSet::empty().with(signal)
    }
}

impl BitOr for SigSet {
    type Output = SigSet;
    fn bitor(self, rhs: SigSet) -> SigSet {
        SigSet(self.0 | rhs.0)
    }
}

impl BitOrAssign for SigSet {
    fn bitor_assign(&mut self, rhs: SigSet) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for SigSet {
    type Output = SigSet;
    fn bitand(self, rhs: SigSet) -> SigSet {
        SigSet(self.0 & rhs.0)
    }
}

impl BitAndAssign for SigSet {
    fn bitand_assign(&mut self, rhs: SigSet) {
        self.0 &= rhs.0;
    }
}

impl Sub for SigSet {
    type Output = SigSet;
    fn sub(self, rhs: SigSet) -> SigSet {
        SigSet(self.0 & !rhs.0)
    }
}

impl SubAssign for SigSet {
    fn sub_assign(&mut self, rhs: SigSet) {
        self.0 &= !rhs.0;
    }
}

impl Not for SigSet {
    type Output = SigSet;
    fn not(self) -> SigSet {
        SigSet(!self.0)
    }
}

impl fmt::Debug for SigSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}
