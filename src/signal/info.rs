//! [`SignalInfo`] and [`SignalCode`]: one signal as a signalfd reports it.

use std::fmt;

use super::Signal;
use super::code::{
    SI_ASYNCIO, SI_KERNEL, SI_MESGQ, SI_QUEUE, SI_SIGIO, SI_TIMER, SI_TKILL, SI_USER,
};

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
    pub(super) ssi_signo: u32,
    pub(super) ssi_errno: i32,
    pub(super) ssi_code: i32,
    pub(super) ssi_pid: u32,
    pub(super) ssi_uid: u32,
    pub(super) ssi_fd: i32,
    pub(super) ssi_tid: u32,
    pub(super) ssi_band: u32,
    pub(super) ssi_overrun: u32,
    pub(super) ssi_trapno: u32,
    pub(super) ssi_status: i32,
    pub(super) ssi_int: i32,
    pub(super) ssi_ptr: u64,
    pub(super) ssi_utime: u64,
    pub(super) ssi_stime: u64,
    pub(super) ssi_addr: u64,
    pub(super) ssi_addr_lsb: u16,
    pub(super) pad2: u16,
    pub(super) ssi_syscall: i32,
    pub(super) ssi_call_addr: u64,
    pub(super) ssi_arch: u32,
    pub(super) pad: [u8; 28],
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
