//! Sending a signal to this process or to the calling thread, safely:
//! [`raise`], [`send_to_process`], [`queue_to_process`].
//!
//! # References
//!  - [`tgkill(2)`](https://man7.org/linux/man-pages/man2/tgkill.2.html)
//!  - [`kill(2)`](https://man7.org/linux/man-pages/man2/kill.2.html)
//!  - [`sigqueue(3)`](https://man7.org/linux/man-pages/man3/sigqueue.3.html)

use std::io;

use libc::c_int;

use super::Signal;
use crate::error::invalid_input_owned;

/// Refuses the signals below the C library's `SIGRTMIN` that it reserves
/// for itself (32 and 33 with glibc: thread cancellation and `setxid`).
/// glibc's handler for its cancellation signal acts on a thread-directed
/// one from this process, which would cancel a Rust thread.
fn sendable(signal: Signal) -> io::Result<c_int> {
    let signo = signal.as_raw();
    if signo >= 32 && signo < libc::SIGRTMIN() {
        return Err(invalid_input_owned(format!(
            "{signal} is reserved by the C library for its own use and cannot be sent"
        )));
    }
    Ok(signo)
}

fn check(rc: c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `signal` to the **calling thread** (`tgkill(getpid(), gettid(),
/// signal)`, what `raise(3)` does); a signalfd reads it with the code
/// [`SignalCode::Tkill`](crate::SignalCode::Tkill), this process's pid and
/// the real uid.
///
/// The signal stays pending for this thread only: only a signalfd read *on
/// this thread* sees it. Block it on this thread first, or it runs its
/// disposition (for most signals, the default kills the process).
///
/// # Errors
///
/// `InvalidInput` for a signal the C library reserves for itself (32 and
/// 33 with glibc); the kernel's error otherwise (none is expected).
///
/// # Examples
///
/// ```
/// use iofd::{SigSet, Signal, SignalCode, SignalFd, SignalMaskGuard};
///
/// # fn main() -> std::io::Result<()> {
/// let set = SigSet::from(Signal::USR1);
/// let _blocked = SignalMaskGuard::block(&set)?; // this thread
/// let signals = SignalFd::new(&set)?;
/// iofd::raise(Signal::USR1)?;
/// let info = signals.read_info()?;
/// assert_eq!(info.signal(), Some(Signal::USR1));
/// assert_eq!(info.code(), SignalCode::Tkill);
/// assert_eq!(info.pid(), std::process::id() as i32);
/// # Ok(())
/// # }
/// ```
pub fn raise(signal: Signal) -> io::Result<()> {
    let signo = sendable(signal)?;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let tid = rustix::thread::gettid().as_raw_nonzero().get();
    // SAFETY: tgkill takes three integers and touches no memory of ours;
    // the target is the calling thread of this process.
    let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, signo) };
    check(if rc == 0 { 0 } else { -1 })
}

/// Sends `signal` to **this process** (`kill(getpid(), signal)`); a
/// signalfd reads it with the code [`SignalCode::User`](crate::SignalCode::User),
/// this process's pid and the real uid.
///
/// The kernel hands a process-directed signal to any thread that does not
/// block it: block it in **every** thread (see
/// [`SignalFd`](crate::SignalFd)'s caveats), or that thread runs its
/// disposition (for most signals, the default kills the process).
///
/// # Errors
///
/// `InvalidInput` for a signal the C library reserves for itself (32 and
/// 33 with glibc); the kernel's error otherwise (`EAGAIN` for a real-time
/// signal when the process is at its `RLIMIT_SIGPENDING`).
///
/// # Examples
///
/// ```standalone_crate
/// use iofd::{SigSet, Signal, SignalCode, SignalFd, SignalMaskGuard};
///
/// # fn main() -> std::io::Result<()> {
/// let set = SigSet::from(Signal::USR2);
/// // This doctest has one thread; a program blocks in main, before any
/// // thread starts.
/// let _blocked = SignalMaskGuard::block(&set)?;
/// let signals = SignalFd::new(&set)?;
/// iofd::send_to_process(Signal::USR2)?;
/// let info = signals.read_info()?;
/// assert_eq!(info.signal(), Some(Signal::USR2));
/// assert_eq!(info.code(), SignalCode::User);
/// # Ok(())
/// # }
/// ```
pub fn send_to_process(signal: Signal) -> io::Result<()> {
    let signo = sendable(signal)?;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    // SAFETY: kill takes two integers and touches no memory of ours; the
    // target is this process.
    check(unsafe { libc::kill(pid, signo) })
}

/// Sends `signal` to **this process** with `value`, as `sigqueue(3)` does;
/// a signalfd reads it with the code
/// [`SignalCode::Queue`](crate::SignalCode::Queue), this process's pid, the
/// real uid and [`value_int`](crate::SignalInfo::value_int) `== value`.
///
/// Real-time signals queue, one record per call; a standard signal already
/// pending merges with it (the first one's value is kept). Block it in
/// every thread, as for [`send_to_process`].
///
/// # Errors
///
/// `InvalidInput` for a signal the C library reserves for itself (32 and
/// 33 with glibc); `EAGAIN` when the process is at its
/// `RLIMIT_SIGPENDING`.
///
/// # Examples
///
/// ```standalone_crate
/// use iofd::{SigSet, Signal, SignalCode, SignalFd, SignalMaskGuard};
///
/// # fn main() -> std::io::Result<()> {
/// let signal = Signal::rt(1)?;
/// let set = SigSet::from(signal);
/// let _blocked = SignalMaskGuard::block(&set)?; // a doctest has one thread
/// let signals = SignalFd::new(&set)?;
/// iofd::queue_to_process(signal, 7)?;
/// iofd::queue_to_process(signal, 8)?;
/// let first = signals.read_info()?;
/// assert_eq!((first.code(), first.value_int()), (SignalCode::Queue, 7));
/// assert_eq!(signals.read_info()?.value_int(), 8); // real-time signals queue
/// # Ok(())
/// # }
/// ```
pub fn queue_to_process(signal: Signal, value: i32) -> io::Result<()> {
    let signo = sendable(signal)?;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    // `sival_int` shares its storage with the low bytes of `sival_ptr`.
    let value = libc::sigval {
        sival_ptr: value as u32 as usize as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes integers and a union passed by value, and
    // touches no memory of ours; the target is this process.
    check(unsafe { libc::sigqueue(pid, signo, value) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_signals_are_refused() {
        for signo in 32..libc::SIGRTMIN() {
            let signal = Signal::new(signo).unwrap();
            for result in [
                raise(signal),
                send_to_process(signal),
                queue_to_process(signal, 0),
            ] {
                assert_eq!(result.unwrap_err().kind(), io::ErrorKind::InvalidInput);
            }
        }
    }
}
