//! The `si_code` values and what they say about a siginfo: which member of
//! the kernel's `union __sifields` holds the details ([`Layout`], as the
//! kernel's `siginfo_layout()` in `kernel/signal.c` decides it).
//!
//! Shared by [`SignalInfo::code`](super::SignalInfo::code) (decoding) and
//! the siginfo builder in `send.rs` (encoding), neither of which imports
//! the other.
//!
//! # References
//!  - [`sigaction(2)`](https://man7.org/linux/man-pages/man2/sigaction.2.html)
//!    (the `si_code` values)
//!  - `include/uapi/asm-generic/siginfo.h` (the per-signal `NSIG*` limits)

/// `SI_USER`: `kill(2)`.
pub(super) const SI_USER: i32 = 0;
/// `SI_KERNEL`: sent by the kernel.
pub(super) const SI_KERNEL: i32 = 0x80;
/// `SI_QUEUE`: `sigqueue(3)`.
pub(super) const SI_QUEUE: i32 = -1;
/// `SI_TIMER`: a POSIX timer.
pub(super) const SI_TIMER: i32 = -2;
/// `SI_MESGQ`: a POSIX message queue.
pub(super) const SI_MESGQ: i32 = -3;
/// `SI_ASYNCIO`: asynchronous I/O.
pub(super) const SI_ASYNCIO: i32 = -4;
/// `SI_SIGIO`: queued `SIGIO`.
pub(super) const SI_SIGIO: i32 = -5;
/// `SI_TKILL`: `tkill(2)`/`tgkill(2)`.
pub(super) const SI_TKILL: i32 = -6;

/// `NSIGPOLL`: the last code of `SIGPOLL`, and the limit for a positive
/// code of a signal without codes of its own.
const NSIGPOLL: i32 = 6;
/// `BUS_MCEERR_AR`, `BUS_MCEERR_AO`: machine-check errors (with
/// `si_addr_lsb`).
const BUS_MCEERR_AR: i32 = 4;
const BUS_MCEERR_AO: i32 = 5;
/// `SEGV_BNDERR`: failed bound checks (with bounds).
const SEGV_BNDERR: i32 = 3;
/// `SEGV_PKUERR`: failed protection-key checks (with the key).
const SEGV_PKUERR: i32 = 4;
/// `TRAP_PERF`: a perf event with `sigtrap=1`.
const TRAP_PERF: i32 = 6;

/// Which member of the kernel's `union __sifields` a siginfo uses (the
/// kernel's `enum siginfo_layout`, without the alpha/sparc `trapno` one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// `_kill`: pid, uid.
    Kill,
    /// `_timer`: timer id, overrun, value.
    Timer,
    /// `_sigpoll`: band, fd.
    Poll,
    /// `_sigfault`: address.
    Fault,
    /// `_sigfault` with `_addr_lsb` (`BUS_MCEERR_*`).
    FaultMceErr,
    /// `_sigfault` with bounds (`SEGV_BNDERR`); a signalfd reports the
    /// address only.
    FaultBndErr,
    /// `_sigfault` with a protection key (`SEGV_PKUERR`); a signalfd
    /// reports the address only.
    FaultPkuErr,
    /// `_sigfault` with perf data (`TRAP_PERF`); a signalfd reports the
    /// address only.
    FaultPerfEvent,
    /// `_sigchld`: pid, uid, status, utime, stime.
    Child,
    /// `_rt`: pid, uid, value.
    Rt,
    /// `_sigsys`: call address, syscall, arch.
    Sys,
}

/// The last code a signal with codes of its own defines (the kernel's
/// `sig_sicodes` table: `NSIGILL`, `NSIGFPE`, ...) and the layout of its
/// codes; `None` for the signals without their own codes.
fn specific_codes(signo: i32) -> Option<(i32, Layout)> {
    Some(match signo {
        libc::SIGILL => (11, Layout::Fault),
        libc::SIGFPE => (15, Layout::Fault),
        // NSIGSEGV is 10 since Linux 6.6 (SEGV_CPERR); 9 before.
        libc::SIGSEGV => (10, Layout::Fault),
        libc::SIGBUS => (5, Layout::Fault),
        libc::SIGTRAP => (6, Layout::Fault),
        libc::SIGCHLD => (6, Layout::Child),
        libc::SIGPOLL => (NSIGPOLL, Layout::Poll),
        libc::SIGSYS => (2, Layout::Sys),
        _ => return None,
    })
}

/// The union member for `signo` and `code`, decided as the kernel's
/// `siginfo_layout()` decides it: a positive code within the signal's own
/// codes uses the signal's layout (with the fault exceptions); another
/// positive code up to `NSIGPOLL` the poll layout; anything else positive
/// (and `SI_USER`, `SI_KERNEL`) the kill layout; `SI_TIMER` the timer
/// layout, `SI_SIGIO` the poll layout and the other negative codes the rt
/// layout.
pub(super) fn layout(signo: i32, code: i32) -> Layout {
    if code > SI_USER && code < SI_KERNEL {
        match specific_codes(signo) {
            Some((limit, layout)) if code <= limit => match (signo, code) {
                (libc::SIGBUS, BUS_MCEERR_AR..=BUS_MCEERR_AO) => Layout::FaultMceErr,
                (libc::SIGSEGV, SEGV_BNDERR) => Layout::FaultBndErr,
                (libc::SIGSEGV, SEGV_PKUERR) => Layout::FaultPkuErr,
                (libc::SIGTRAP, TRAP_PERF) => Layout::FaultPerfEvent,
                _ => layout,
            },
            _ if code <= NSIGPOLL => Layout::Poll,
            _ => Layout::Kill,
        }
    } else if code == SI_TIMER {
        Layout::Timer
    } else if code == SI_SIGIO {
        Layout::Poll
    } else if code < 0 {
        Layout::Rt
    } else {
        Layout::Kill
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row read off the kernel's `siginfo_layout()` and `sig_sicodes`
    /// (kernel/signal.c): each signal's limits from both sides, the fault
    /// exceptions, the negative codes.
    #[test]
    fn layout_matches_the_kernels_table() {
        use Layout::*;
        use libc::*;
        let table: &[(i32, i32, Layout)] = &[
            // SI_USER, SI_KERNEL and codes past SI_KERNEL: kill.
            (SIGUSR1, SI_USER, Kill),
            (SIGCHLD, SI_USER, Kill),
            (SIGSEGV, SI_KERNEL, Kill),
            (SIGCHLD, 0x81, Kill),
            // Negative codes.
            (SIGUSR1, SI_QUEUE, Rt),
            (SIGCHLD, SI_QUEUE, Rt),
            (SIGRTMIN(), SI_TKILL, Rt),
            (SIGUSR1, SI_MESGQ, Rt),
            (SIGUSR1, SI_ASYNCIO, Rt),
            (SIGUSR1, -7, Rt),
            (SIGUSR1, -60, Rt),
            (SIGALRM, SI_TIMER, Timer),
            (SIGIO, SI_SIGIO, Poll),
            (SIGUSR1, SI_SIGIO, Poll),
            // SIGCHLD: CLD_EXITED..=CLD_CONTINUED, then kill.
            (SIGCHLD, CLD_EXITED, Child),
            (SIGCHLD, CLD_CONTINUED, Child),
            (SIGCHLD, 7, Kill),
            // Fault signals, up to their NSIG* limit.
            (SIGILL, 1, Fault),
            (SIGILL, 11, Fault),
            (SIGILL, 12, Kill),
            (SIGFPE, 15, Fault),
            (SIGFPE, 16, Kill),
            (SIGSEGV, 1, Fault),
            (SIGSEGV, 2, Fault),
            (SIGSEGV, 3, FaultBndErr),
            (SIGSEGV, 4, FaultPkuErr),
            (SIGSEGV, 10, Fault),
            (SIGSEGV, 11, Kill),
            (SIGBUS, 3, Fault),
            (SIGBUS, 4, FaultMceErr),
            (SIGBUS, 5, FaultMceErr),
            // Past NSIGBUS but within NSIGPOLL: the poll layout.
            (SIGBUS, 6, Poll),
            (SIGBUS, 7, Kill),
            (SIGTRAP, 5, Fault),
            (SIGTRAP, 6, FaultPerfEvent),
            (SIGTRAP, 7, Kill),
            (SIGSYS, 1, Sys),
            (SIGSYS, 2, Sys),
            (SIGSYS, 3, Poll),
            (SIGSYS, 7, Kill),
            // SIGPOLL's own codes, and signals without codes of their own.
            (SIGIO, 1, Poll),
            (SIGIO, 6, Poll),
            (SIGIO, 7, Kill),
            (SIGUSR1, 1, Poll),
            (SIGUSR1, 6, Poll),
            (SIGUSR1, 7, Kill),
            (SIGRTMIN(), 3, Poll),
            (SIGRTMIN(), 7, Kill),
        ];
        for &(signo, code, expected) in table {
            assert_eq!(layout(signo, code), expected, "signal {signo}, code {code}");
        }
    }
}
