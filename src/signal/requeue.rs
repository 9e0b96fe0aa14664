//! Putting a signal that was read from a signalfd back on the process's
//! queue, with its siginfo, so that a handle dropped with records in its
//! buffer loses none of them.
//!
//! # References
//!  - [`rt_sigqueueinfo(2)`](https://man7.org/linux/man-pages/man2/rt_sigqueueinfo.2.html)
//!  - [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
//!  - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
//!    (`PIDFD_THREAD`, Linux 6.9)

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use libc::{c_int, c_long, c_void};

use super::SignalInfo;
use super::info::{SI_KERNEL, SI_SIGIO, SI_TIMER, SI_TKILL, SI_USER};

/// `PIDFD_THREAD` (`O_EXCL`): a pidfd for one thread (Linux 6.9).
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;
/// `PIDFD_SIGNAL_THREAD_GROUP`: send to the thread's whole process (6.9).
const PIDFD_SIGNAL_THREAD_GROUP: libc::c_uint = 1 << 1;

/// The members of the kernel's `union __sifields` that a signalfd reports.
#[repr(C)]
#[derive(Clone, Copy)]
struct Kill {
    pid: c_int,
    uid: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Rt {
    pid: c_int,
    uid: u32,
    value: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Timer {
    tid: c_int,
    overrun: c_int,
    value: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Child {
    pid: c_int,
    uid: u32,
    status: c_int,
    utime: c_long,
    stime: c_long,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Poll {
    band: c_long,
    fd: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Fault {
    addr: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Sys {
    call_addr: *mut c_void,
    syscall: c_int,
    arch: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
union Fields {
    kill: Kill,
    rt: Rt,
    timer: Timer,
    child: Child,
    poll: Poll,
    fault: Fault,
    sys: Sys,
}

/// The kernel's `siginfo_t` (the generic layout: signo, errno, code, then
/// the union at pointer alignment), padded to its 128 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
struct Head {
    signo: c_int,
    errno: c_int,
    code: c_int,
    fields: Fields,
}

#[repr(C)]
union RawSigInfo {
    head: Head,
    bytes: [u64; 16],
}

const _: () = assert!(std::mem::size_of::<RawSigInfo>() == std::mem::size_of::<libc::siginfo_t>());

/// Rebuilds the `siginfo_t` that `info` was made from, choosing the union
/// member the way the kernel's `siginfo_layout` does.
fn raw_siginfo(info: &SignalInfo) -> RawSigInfo {
    let signo = info.ssi_signo as c_int;
    let code = info.ssi_code;
    let kill = Kill {
        pid: info.ssi_pid as c_int,
        uid: info.ssi_uid,
    };
    let value = info.ssi_ptr as usize as *mut c_void;
    let fields = if code > SI_USER && code < SI_KERNEL {
        match signo {
            libc::SIGCHLD => Fields {
                child: Child {
                    pid: kill.pid,
                    uid: kill.uid,
                    status: info.ssi_status,
                    utime: info.ssi_utime as c_long,
                    stime: info.ssi_stime as c_long,
                },
            },
            libc::SIGILL | libc::SIGFPE | libc::SIGSEGV | libc::SIGBUS | libc::SIGTRAP => Fields {
                fault: Fault {
                    addr: info.ssi_addr as usize as *mut c_void,
                },
            },
            libc::SIGSYS => Fields {
                sys: Sys {
                    call_addr: info.ssi_call_addr as usize as *mut c_void,
                    syscall: info.ssi_syscall,
                    arch: info.ssi_arch,
                },
            },
            _ => Fields {
                poll: Poll {
                    band: info.ssi_band as c_long,
                    fd: info.ssi_fd,
                },
            },
        }
    } else if code == SI_TIMER {
        Fields {
            timer: Timer {
                tid: info.ssi_tid as c_int,
                overrun: info.ssi_overrun as c_int,
                value,
            },
        }
    } else if code == SI_SIGIO {
        Fields {
            poll: Poll {
                band: info.ssi_band as c_long,
                fd: info.ssi_fd,
            },
        }
    } else if code < 0 {
        Fields {
            rt: Rt {
                pid: kill.pid,
                uid: kill.uid,
                value,
            },
        }
    } else {
        Fields { kill }
    };
    let mut raw = RawSigInfo { bytes: [0; 16] };
    raw.head = Head {
        signo,
        errno: info.ssi_errno,
        code,
        fields,
    };
    raw
}

/// Queues `info` again to this process, process-directed, with its
/// siginfo (signal, code, sender pid and uid, value, ...).
///
/// The kernel lets a process queue any siginfo to itself, but a code that
/// only the kernel or `kill` may set (`SI_USER`, `SI_KERNEL`, `SI_TKILL`,
/// the positive codes) only from the thread whose id is the target's: the
/// main thread uses `rt_sigqueueinfo(getpid())`; another thread opens a
/// pidfd for itself (`PIDFD_THREAD`) and sends to its thread group
/// (`PIDFD_SIGNAL_THREAD_GROUP`, Linux 6.9). Before 6.9, such a record is
/// queued with the code `SI_QUEUE` instead, keeping everything else.
///
/// A standard signal that is already pending again merges with it, as the
/// kernel merges any two; real-time signals queue behind those of the same
/// number already pending.
pub(super) fn requeue(info: &SignalInfo) -> io::Result<()> {
    let mut raw = raw_siginfo(info);
    let signo = info.ssi_signo as c_int;
    let code = info.ssi_code;
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let tid = rustix::thread::gettid().as_raw_nonzero().get();
    let forgeable = code < 0 && code != SI_TKILL;
    if forgeable || pid == tid {
        return queue_to_process(pid, signo, &mut raw);
    }
    match send_to_own_thread_group(tid, signo, &mut raw) {
        Ok(()) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
            // Before Linux 6.9: keep everything but the code.
            raw.head.code = super::info::SI_QUEUE;
            queue_to_process(pid, signo, &mut raw)
        }
        Err(e) => Err(e),
    }
}

/// `rt_sigqueueinfo(pid, signo, raw)`.
fn queue_to_process(pid: c_int, signo: c_int, raw: &mut RawSigInfo) -> io::Result<()> {
    // `raw` is a complete, initialised 128-byte siginfo_t the kernel only
    // reads; the other arguments are plain integers.
    // SAFETY: so the syscall reads valid memory and writes none of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigqueueinfo,
            pid,
            signo,
            raw as *mut RawSigInfo,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `raw` through a pidfd for the calling thread to its whole thread
/// group: process-directed, with a code only the sender itself may forge.
fn send_to_own_thread_group(tid: c_int, signo: c_int, raw: &mut RawSigInfo) -> io::Result<()> {
    // SAFETY: pidfd_open takes two integers and returns a new descriptor
    // or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // `fd` is a descriptor the kernel just created for us and nothing else
    // owns.
    // SAFETY: so `OwnedFd` may take (and close) it.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as c_int) };
    // `raw` is a complete siginfo_t the kernel only reads.
    // SAFETY: so the syscall reads valid memory and writes none of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signo,
            raw as *mut RawSigInfo,
            PIDFD_SIGNAL_THREAD_GROUP,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
