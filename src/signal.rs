//! [`Signal`], [`SigSet`], [`SignalInfo`] and the signal-mask discipline.
//!
//! The signal-mask discipline and its caveats are documented on
//! [`SignalFd`](crate::SignalFd).
//!
//! # References
//!  - [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
//!  - [`pthread_sigmask(3)`](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html)
//!  - [`proc_pid_status(5)`](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html)

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::num::NonZeroU8;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not, Sub, SubAssign};
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::error::{invalid_input, invalid_input_owned};

/// A validated signal number, 1 to 64.
///
/// Named constants cover the standard Linux signals; [`Signal::rt`] makes
/// real-time ones relative to the C library's run-time `SIGRTMIN`.
///
/// # Examples
///
/// ```
/// use iofd::Signal;
///
/// assert_eq!(Signal::USR1.to_string(), "SIGUSR1");
/// assert_eq!(Signal::new(15)?, Signal::TERM);
/// assert_eq!(Signal::rt(3)?.to_string(), "SIGRTMIN+3");
/// assert_eq!(Signal::new(0).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(NonZeroU8);

/// The largest signal number Linux has.
const MAX_SIGNAL: i32 = 64;

const fn named(raw: i32) -> Signal {
    match NonZeroU8::new(raw as u8) {
        Some(n) => Signal(n),
        None => panic!("signal constants are non-zero"),
    }
}

impl Signal {
    /// `SIGHUP`: hang-up of the controlling terminal; daemons reload.
    pub const HUP: Signal = named(libc::SIGHUP);
    /// `SIGINT`: interrupt from the keyboard (Ctrl-C).
    pub const INT: Signal = named(libc::SIGINT);
    /// `SIGQUIT`: quit from the keyboard (Ctrl-\\).
    pub const QUIT: Signal = named(libc::SIGQUIT);
    /// `SIGILL`: illegal instruction (synchronous when raised by a fault).
    pub const ILL: Signal = named(libc::SIGILL);
    /// `SIGTRAP`: trace or breakpoint trap.
    pub const TRAP: Signal = named(libc::SIGTRAP);
    /// `SIGABRT`: abort.
    pub const ABRT: Signal = named(libc::SIGABRT);
    /// `SIGBUS`: bus error (synchronous when raised by a fault).
    pub const BUS: Signal = named(libc::SIGBUS);
    /// `SIGFPE`: arithmetic exception (synchronous when raised by a fault).
    pub const FPE: Signal = named(libc::SIGFPE);
    /// `SIGKILL`: kill; cannot be caught, blocked or read.
    pub const KILL: Signal = named(libc::SIGKILL);
    /// `SIGUSR1`: user-defined signal 1.
    pub const USR1: Signal = named(libc::SIGUSR1);
    /// `SIGSEGV`: invalid memory reference (synchronous when raised by a
    /// fault).
    pub const SEGV: Signal = named(libc::SIGSEGV);
    /// `SIGUSR2`: user-defined signal 2.
    pub const USR2: Signal = named(libc::SIGUSR2);
    /// `SIGPIPE`: write to a pipe with no reader.
    pub const PIPE: Signal = named(libc::SIGPIPE);
    /// `SIGALRM`: timer signal from `alarm(2)`.
    pub const ALRM: Signal = named(libc::SIGALRM);
    /// `SIGTERM`: termination request.
    pub const TERM: Signal = named(libc::SIGTERM);
    /// `SIGSTKFLT`: stack fault on a coprocessor (unused).
    #[cfg(any(
        target_arch = "x86",
        target_arch = "x86_64",
        target_arch = "arm",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "s390x",
        target_arch = "loongarch64"
    ))]
    pub const STKFLT: Signal = named(libc::SIGSTKFLT);
    /// `SIGCHLD`: a child stopped or terminated.
    pub const CHLD: Signal = named(libc::SIGCHLD);
    /// `SIGCONT`: continue if stopped.
    pub const CONT: Signal = named(libc::SIGCONT);
    /// `SIGSTOP`: stop; cannot be caught, blocked or read.
    pub const STOP: Signal = named(libc::SIGSTOP);
    /// `SIGTSTP`: stop typed at the terminal (Ctrl-Z).
    pub const TSTP: Signal = named(libc::SIGTSTP);
    /// `SIGTTIN`: terminal input for a background process.
    pub const TTIN: Signal = named(libc::SIGTTIN);
    /// `SIGTTOU`: terminal output for a background process.
    pub const TTOU: Signal = named(libc::SIGTTOU);
    /// `SIGURG`: urgent condition on a socket.
    pub const URG: Signal = named(libc::SIGURG);
    /// `SIGXCPU`: CPU time limit exceeded.
    pub const XCPU: Signal = named(libc::SIGXCPU);
    /// `SIGXFSZ`: file size limit exceeded.
    pub const XFSZ: Signal = named(libc::SIGXFSZ);
    /// `SIGVTALRM`: virtual alarm clock.
    pub const VTALRM: Signal = named(libc::SIGVTALRM);
    /// `SIGPROF`: profiling timer expired.
    pub const PROF: Signal = named(libc::SIGPROF);
    /// `SIGWINCH`: the terminal window changed size.
    pub const WINCH: Signal = named(libc::SIGWINCH);
    /// `SIGIO` (also `SIGPOLL`): I/O is possible on a descriptor.
    pub const IO: Signal = named(libc::SIGIO);
    /// `SIGPWR`: power failure.
    pub const PWR: Signal = named(libc::SIGPWR);
    /// `SIGSYS`: bad system call (synchronous when raised by seccomp).
    pub const SYS: Signal = named(libc::SIGSYS);

    /// The signal numbered `signo`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` unless `1 <= signo <= 64`.
    pub fn new(signo: i32) -> io::Result<Signal> {
        if !(1..=MAX_SIGNAL).contains(&signo) {
            return Err(invalid_input_owned(format!(
                "signal number {signo} is out of range: Linux signals are 1 to {MAX_SIGNAL}"
            )));
        }
        Ok(named(signo))
    }

    /// The real-time signal `SIGRTMIN + offset`, where `SIGRTMIN` is the C
    /// library's run-time value (glibc reserves the first two kernel
    /// real-time signals, so this is usually 34).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `SIGRTMIN + offset` is past `SIGRTMAX`.
    pub fn rt(offset: u32) -> io::Result<Signal> {
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        match i32::try_from(offset).ok().and_then(|o| min.checked_add(o)) {
            Some(signo) if signo <= max => Signal::new(signo),
            _ => Err(invalid_input_owned(format!(
                "SIGRTMIN+{offset} is past SIGRTMAX (SIGRTMIN+{})",
                max - min
            ))),
        }
    }

    /// The signal number.
    #[inline]
    pub const fn as_raw(self) -> i32 {
        self.0.get() as i32
    }

    /// Whether this is a real-time signal (32 to 64, including the ones the
    /// C library reserves): real-time signals queue, with their values.
    #[inline]
    pub const fn is_realtime(self) -> bool {
        self.as_raw() >= 32
    }

    /// The standard name, such as `"SIGUSR1"`, or `None` for real-time
    /// signals (whose [`Display`](fmt::Display) is `"SIGRTMIN+n"`).
    pub fn name(self) -> Option<&'static str> {
        STANDARD_NAMES
            .iter()
            .find(|(signo, _)| *signo == self.as_raw())
            .map(|(_, name)| *name)
    }
}

const STANDARD_NAMES: &[(i32, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (16, "SIGSTKFLT"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGPWR, "SIGPWR"),
    (libc::SIGSYS, "SIGSYS"),
];

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.name() {
            return f.write_str(name);
        }
        let min = libc::SIGRTMIN();
        match self.as_raw() - min {
            0 => f.write_str("SIGRTMIN"),
            offset if offset > 0 => write!(f, "SIGRTMIN+{offset}"),
            // Below the C library's SIGRTMIN: one it reserves for itself.
            _ => write!(f, "SIG{}", self.as_raw()),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}({})", self.as_raw())
    }
}

impl TryFrom<i32> for Signal {
    type Error = io::Error;

    fn try_from(signo: i32) -> io::Result<Signal> {
        Signal::new(signo)
    }
}

impl From<Signal> for i32 {
    fn from(signal: Signal) -> i32 {
        signal.as_raw()
    }
}

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

    fn from_libc(raw: &libc::sigset_t) -> SigSet {
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
fn empty_libc_sigset() -> libc::sigset_t {
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

/// One signal as a signalfd reports it: exactly the kernel's
/// `struct signalfd_siginfo` (128 bytes, `#[repr(C)]`), with typed
/// accessors.
///
/// Which fields mean something depends on the signal and its
/// [`code`](SignalInfo::code): the sender's pid and uid for `kill`/`sigqueue`,
/// the value for `sigqueue`, the status for `SIGCHLD`, the descriptor and
/// band for `SIGIO`, the overrun for POSIX timers.
///
/// [`SignalInfo::default`] is a blank record (every field zero) to fill with
/// [`SignalFd::read_batch`](crate::SignalFd::read_batch).
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct SignalInfo {
    ssi_signo: u32,
    ssi_errno: i32,
    ssi_code: i32,
    ssi_pid: u32,
    ssi_uid: u32,
    ssi_fd: i32,
    ssi_tid: u32,
    ssi_band: u32,
    ssi_overrun: u32,
    ssi_trapno: u32,
    ssi_status: i32,
    ssi_int: i32,
    ssi_ptr: u64,
    ssi_utime: u64,
    ssi_stime: u64,
    ssi_addr: u64,
    ssi_addr_lsb: u16,
    pad2: u16,
    ssi_syscall: i32,
    ssi_call_addr: u64,
    ssi_arch: u32,
    pad: [u8; 28],
}

const _: () = assert!(std::mem::size_of::<SignalInfo>() == 128);

/// What sent or caused a signal: `ssi_code` decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignalCode {
    /// `SI_USER`: `kill(2)` (or `pidfd_send_signal(2)`, `raise`).
    User,
    /// `SI_KERNEL`: sent by the kernel.
    Kernel,
    /// `SI_QUEUE`: `sigqueue(3)`, carrying a value.
    Queue,
    /// `SI_TIMER`: a POSIX timer expired.
    Timer,
    /// `SI_MESGQ`: a POSIX message queue changed state.
    MessageQueue,
    /// `SI_ASYNCIO`: asynchronous I/O completed.
    AsyncIo,
    /// `SI_SIGIO`: queued `SIGIO`.
    SigIo,
    /// `SI_TKILL`: `tkill(2)`/`tgkill(2)`, thread-directed.
    Tkill,
    /// `CLD_EXITED`: a child exited ([`SignalInfo::status`] is its code).
    ChildExited,
    /// `CLD_KILLED`: a child was killed ([`SignalInfo::status`] is the
    /// signal).
    ChildKilled,
    /// `CLD_DUMPED`: a child was killed and dumped core.
    ChildDumped,
    /// `CLD_TRAPPED`: a traced child trapped.
    ChildTrapped,
    /// `CLD_STOPPED`: a child stopped.
    ChildStopped,
    /// `CLD_CONTINUED`: a stopped child continued.
    ChildContinued,
    /// Any other code (signal-specific codes such as `POLL_IN`).
    Other(i32),
}

const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
const SI_QUEUE: i32 = -1;
const SI_TIMER: i32 = -2;
const SI_MESGQ: i32 = -3;
const SI_ASYNCIO: i32 = -4;
const SI_SIGIO: i32 = -5;
const SI_TKILL: i32 = -6;

impl SignalInfo {
    /// The signal, or `None` for a blank record that no read filled.
    #[inline]
    pub fn signal(&self) -> Option<Signal> {
        i32::try_from(self.ssi_signo)
            .ok()
            .and_then(|signo| Signal::new(signo).ok())
    }

    /// What sent the signal.
    pub fn code(&self) -> SignalCode {
        match self.ssi_code {
            SI_USER => SignalCode::User,
            SI_KERNEL => SignalCode::Kernel,
            SI_QUEUE => SignalCode::Queue,
            SI_TIMER => SignalCode::Timer,
            SI_MESGQ => SignalCode::MessageQueue,
            SI_ASYNCIO => SignalCode::AsyncIo,
            SI_SIGIO => SignalCode::SigIo,
            SI_TKILL => SignalCode::Tkill,
            code if self.ssi_signo == libc::SIGCHLD as u32 => match code {
                libc::CLD_EXITED => SignalCode::ChildExited,
                libc::CLD_KILLED => SignalCode::ChildKilled,
                libc::CLD_DUMPED => SignalCode::ChildDumped,
                libc::CLD_TRAPPED => SignalCode::ChildTrapped,
                libc::CLD_STOPPED => SignalCode::ChildStopped,
                libc::CLD_CONTINUED => SignalCode::ChildContinued,
                other => SignalCode::Other(other),
            },
            other => SignalCode::Other(other),
        }
    }

    /// The raw `ssi_code`.
    #[inline]
    pub fn raw_code(&self) -> i32 {
        self.ssi_code
    }

    /// The sender's process id (for `kill`, `sigqueue`, `tgkill`, and the
    /// child for `SIGCHLD`).
    #[inline]
    pub fn pid(&self) -> i32 {
        self.ssi_pid as i32
    }

    /// The sender's real user id.
    #[inline]
    pub fn uid(&self) -> u32 {
        self.ssi_uid
    }

    /// For `SIGCHLD`: the exit code ([`SignalCode::ChildExited`]) or the
    /// signal that stopped or killed the child.
    #[inline]
    pub fn status(&self) -> i32 {
        self.ssi_status
    }

    /// The integer value sent with `sigqueue(3)`.
    #[inline]
    pub fn value_int(&self) -> i32 {
        self.ssi_int
    }

    /// The pointer value sent with `sigqueue(3)`, as an integer (it points
    /// into the sender's address space).
    #[inline]
    pub fn value_ptr(&self) -> u64 {
        self.ssi_ptr
    }

    /// For `SIGIO`: the descriptor that became ready.
    #[inline]
    pub fn fd(&self) -> i32 {
        self.ssi_fd
    }

    /// For `SIGIO`: the band event (`POLLIN`, `POLLOUT`, …).
    #[inline]
    pub fn band(&self) -> u32 {
        self.ssi_band
    }

    /// For POSIX timer signals: the overrun count.
    #[inline]
    pub fn overrun(&self) -> u32 {
        self.ssi_overrun
    }

    /// For POSIX timer signals: the kernel's timer id.
    #[inline]
    pub fn timer_id(&self) -> u32 {
        self.ssi_tid
    }

    /// The error number that came with the signal (usually 0).
    #[inline]
    pub fn errno(&self) -> i32 {
        self.ssi_errno
    }

    /// For `SIGCHLD`: user CPU time the child consumed, in clock ticks.
    #[inline]
    pub fn child_user_time(&self) -> u64 {
        self.ssi_utime
    }

    /// For `SIGCHLD`: system CPU time the child consumed, in clock ticks.
    #[inline]
    pub fn child_system_time(&self) -> u64 {
        self.ssi_stime
    }

    /// The faulting address, for the hardware-generated signals (which only
    /// reach a signalfd when someone sends them explicitly).
    #[inline]
    pub fn addr(&self) -> u64 {
        self.ssi_addr
    }
}

impl fmt::Debug for SignalInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalInfo")
            .field("signal", &self.signal())
            .field("code", &self.code())
            .field("pid", &self.pid())
            .field("uid", &self.uid())
            .field("status", &self.status())
            .field("value_int", &self.value_int())
            .field("value_ptr", &self.value_ptr())
            .finish_non_exhaustive()
    }
}

/// Blocks a set of signals on the calling thread while it lives, and puts
/// the thread's previous mask back when dropped.
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
pub struct SignalMaskGuard {
    previous: libc::sigset_t,
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
    pub fn block(set: &SigSet) -> io::Result<SignalMaskGuard> {
        let raw = set.to_blockable_libc()?;
        let mut previous = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `raw` is an initialised sigset_t; `previous` is writable
        // storage for one, filled when the call returns 0.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw, previous.as_mut_ptr()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(SignalMaskGuard {
            // SAFETY: pthread_sigmask returned 0, so `previous` is filled.
            previous: unsafe { previous.assume_init() },
            _not_send: PhantomData,
        })
    }

    /// The signals that were blocked before this guard.
    pub fn previous(&self) -> SigSet {
        SigSet::from_libc(&self.previous)
    }

    /// Keeps the signals blocked for the rest of the thread's life: the
    /// usual choice in `main`, before starting any thread.
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for SignalMaskGuard {
    fn drop(&mut self) {
        // SAFETY: `previous` is the initialised mask saved by `block` on this
        // same thread (the guard is not Send).
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut());
        }
    }
}

impl fmt::Debug for SignalMaskGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalMaskGuard")
            .field("previous", &self.previous())
            .finish()
    }
}

/// A thread of this process that does not block some signals of a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnblockedThread {
    /// The thread id (as `gettid(2)` gives it).
    pub tid: i32,
    /// The thread's name (`comm`), such as `"tokio-runtime-w"`.
    pub name: String,
    /// The signals of the set that this thread does not block.
    pub unblocked: SigSet,
}

/// The threads of this process that do **not** block every signal of
/// `set`, read from `/proc/self/task/*/status`.
///
/// An empty result means no thread can steal these signals from a
/// signalfd — now: a thread started later with another mask can. Threads
/// that exit while being read are left out.
///
/// # Errors
///
/// The error of reading `/proc` (for example `NotFound` where it is not
/// mounted).
pub fn threads_not_blocking(set: &SigSet) -> io::Result<Vec<UnblockedThread>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let status = match std::fs::read_to_string(entry.path().join("status")) {
            Ok(status) => status,
            // The thread exited between listing and reading.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let (name, blocked) = parse_status(&status)?;
        let unblocked = *set - blocked;
        if !unblocked.is_empty() {
            found.push(UnblockedThread {
                tid,
                name,
                unblocked,
            });
        }
    }
    found.sort_by_key(|t| t.tid);
    Ok(found)
}

/// The `Name:` and `SigBlk:` lines of a `/proc/*/status` file.
fn parse_status(status: &str) -> io::Result<(String, SigSet)> {
    let mut name = String::new();
    let mut blocked = None;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("Name:") {
            name = rest.trim().to_owned();
        } else if let Some(rest) = line.strip_prefix("SigBlk:") {
            blocked = u64::from_str_radix(rest.trim(), 16)
                .ok()
                .map(SigSet::from_bits);
        }
    }
    let blocked = blocked.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "no SigBlk line in /proc/self/task/*/status",
        )
    })?;
    Ok((name, blocked))
}

/// Succeeds if every thread of this process blocks every signal of `set`,
/// so that a signalfd for `set` will see all of them.
///
/// # Errors
///
/// - `InvalidInput`, naming each thread (id and name) and the signals it
///   does not block, if any thread would take one of them.
/// - The error of reading `/proc`.
pub fn ensure_blocked_in_all_threads(set: &SigSet) -> io::Result<()> {
    let threads = threads_not_blocking(set)?;
    if threads.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = threads
        .iter()
        .map(|t| format!("{} ({:?}) does not block {:?}", t.tid, t.name, t.unblocked))
        .collect();
    Err(invalid_input_owned(format!(
        "signals would be stolen from the signalfd: thread {}; block the set before starting threads \
         (see iofd::SignalMaskGuard)",
        list.join(", thread ")
    )))
}

/// Makes children started by `command` begin with an empty signal mask.
///
/// A blocked mask is inherited across `fork` and kept across `exec`, and
/// `std::process::Command` does not reset it: without this, a child of a
/// program that blocked `SIGTERM` for its signalfd would ignore `SIGTERM`.
/// Use it for every child of a program that blocks signals (for
/// `tokio::process::Command`, call it on `as_std_mut()`).
///
/// It installs a `pre_exec` hook that calls only `sigprocmask(2)`, which is
/// async-signal-safe, on a set prepared before the fork. A `pre_exec` hook
/// makes `std` use `fork` + `exec` instead of `posix_spawn`.
///
/// # Examples
///
/// ```
/// use std::process::Command;
///
/// let mut command = Command::new("true");
/// iofd::reset_signal_mask_on_exec(&mut command);
/// assert!(command.status()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn reset_signal_mask_on_exec(command: &mut Command) -> &mut Command {
    let empty = empty_libc_sigset();
    let hook = move || {
        // sigprocmask is async-signal-safe; the child has one thread here.
        // SAFETY: `empty` is an initialised sigset_t copied into the closure.
        let rc = unsafe { libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // `pre_exec` code runs between fork and exec and must be
    // async-signal-safe: the hook only calls sigprocmask and, on failure,
    // builds an io::Error from errno (no allocation for an OS error).
    // SAFETY: the hook does only async-signal-safe work, as required.
    unsafe { command.pre_exec(hook) }
}

/// `InvalidInput` for an empty buffer, shared by the batch readers.
#[cold]
pub(crate) fn empty_batch() -> io::Error {
    invalid_input("a signal batch needs room for at least one SignalInfo")
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn signal_info_is_exactly_signalfd_siginfo() {
        assert_eq!(size_of::<SignalInfo>(), 128);
        assert_eq!(size_of::<SignalInfo>(), size_of::<libc::signalfd_siginfo>());
        assert_eq!(
            std::mem::align_of::<SignalInfo>(),
            std::mem::align_of::<libc::signalfd_siginfo>()
        );
        macro_rules! same_offset {
            ($($field:ident),*) => {$(
                assert_eq!(
                    offset_of!(SignalInfo, $field),
                    offset_of!(libc::signalfd_siginfo, $field),
                    stringify!($field)
                );
            )*};
        }
        same_offset!(
            ssi_signo,
            ssi_errno,
            ssi_code,
            ssi_pid,
            ssi_uid,
            ssi_fd,
            ssi_tid,
            ssi_band,
            ssi_overrun,
            ssi_trapno,
            ssi_status,
            ssi_int,
            ssi_ptr,
            ssi_utime,
            ssi_stime,
            ssi_addr,
            ssi_addr_lsb,
            ssi_syscall,
            ssi_call_addr,
            ssi_arch
        );
        // The padding fills the rest exactly.
        assert_eq!(
            offset_of!(SignalInfo, pad2),
            offset_of!(SignalInfo, ssi_addr_lsb) + 2
        );
        assert_eq!(offset_of!(SignalInfo, pad) + 28, 128);
    }

    #[test]
    fn status_parsing() {
        let status = "Name:\tworker\nState:\tS\nSigBlk:\t0000000000000202\nSigIgn:\t0\n";
        let (name, blocked) = parse_status(status).unwrap();
        assert_eq!(name, "worker");
        assert_eq!(
            blocked,
            SigSet::empty().with(Signal::INT).with(Signal::USR1)
        );
        assert_eq!(
            parse_status("Name:\tx\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn code_decoding() {
        let mut info = SignalInfo::default();
        assert_eq!(info.signal(), None);
        assert_eq!(info.code(), SignalCode::User);
        info.ssi_signo = libc::SIGCHLD as u32;
        info.ssi_code = libc::CLD_EXITED;
        assert_eq!(info.code(), SignalCode::ChildExited);
        info.ssi_signo = libc::SIGIO as u32;
        assert_eq!(info.code(), SignalCode::Other(libc::CLD_EXITED));
        info.ssi_code = SI_QUEUE;
        assert_eq!(info.code(), SignalCode::Queue);
        info.ssi_code = SI_TKILL;
        assert_eq!(info.code(), SignalCode::Tkill);
        info.ssi_code = SI_KERNEL;
        assert_eq!(info.code(), SignalCode::Kernel);
    }
}
