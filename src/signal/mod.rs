//! [`Signal`], [`SigSet`], [`SignalInfo`] and the signal-mask discipline.
//!
//! The signal-mask discipline and its caveats are documented on
//! [`SignalFd`](crate::SignalFd).
//!
//! # References
//!  - [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
//!  - [`pthread_sigmask(3)`](https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html)
//!  - [`proc_pid_status(5)`](https://man7.org/linux/man-pages/man5/proc_pid_status.5.html)

mod code;
mod exec;
mod info;
mod leftover;
#[cfg(feature = "tokio")]
pub(crate) use leftover::give_back;
pub(crate) use leftover::{any_held as leftovers_held, take as take_leftovers};
mod mask;
mod raise;
mod send;
pub(crate) use send::{pidfd_send_signal_raw, pidfd_sigqueue};
mod set;
mod threads;
#[cfg(feature = "tokio")]
mod waiters;
#[cfg(feature = "tokio")]
pub(crate) use waiters::Waiter;

use std::fmt;
use std::io;
use std::num::NonZeroU8;

use crate::error::{invalid_input, invalid_input_owned};

pub use exec::reset_signal_mask_on_exec;
pub use info::{SignalCode, SignalInfo};
pub use mask::SignalMaskGuard;
pub use raise::{queue_to_process, raise, send_to_process};
pub use set::{SigSet, SigSetIter};
#[cfg(feature = "tokio")]
pub(crate) use threads::ensure_blocked_with_advice;
pub use threads::{UnblockedThread, ensure_blocked_in_all_threads, threads_not_blocking};
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
pub(crate) const MAX_SIGNAL: i32 = 64;

pub(crate) const fn named(raw: i32) -> Signal {
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

/// `InvalidInput` for an empty buffer, shared by the batch readers.
#[cold]
pub(crate) fn empty_batch() -> io::Error {
    invalid_input("a signal batch needs room for at least one SignalInfo")
}
