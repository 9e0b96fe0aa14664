//! Sending signals with a whole siginfo: putting a signal that was read
//! from a signalfd back on the process's queue, exactly or not at all (the
//! fallback of [`super::leftover`]), and `sigqueue(3)` through a pidfd.
//!
//! # References
//!  - [`rt_sigqueueinfo(2)`](https://man7.org/linux/man-pages/man2/rt_sigqueueinfo.2.html)
//!  - [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
//!  - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
//!    (`PIDFD_THREAD`, Linux 6.9)

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use libc::{c_int, c_long, c_uint, c_void};

use super::SignalInfo;
use super::code::{Layout, SI_QUEUE, SI_TKILL, SI_USER, layout};

/// `PIDFD_THREAD` (`O_EXCL`): a pidfd for one thread (Linux 6.9).
const PIDFD_THREAD: libc::c_uint = libc::O_EXCL as libc::c_uint;
/// `PIDFD_SIGNAL_THREAD_GROUP`: send to the thread's whole process (6.9).
pub(crate) const PIDFD_SIGNAL_THREAD_GROUP: c_uint = 1 << 1;

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

/// The fault member with `_addr_lsb` (`BUS_MCEERR_*`): a `short` right
/// after the address, at the start of the member's inner union.
#[repr(C)]
#[derive(Clone, Copy)]
struct FaultMceErr {
    addr: *mut c_void,
    addr_lsb: libc::c_short,
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
    fault_mce: FaultMceErr,
    sys: Sys,
}

/// The kernel's `siginfo_t` (the generic layout: signo, errno, code, then
/// the union at pointer alignment). Used only for its field offsets: the
/// record is written field by field into zeroed bytes, so that no padding
/// byte handed to the kernel is uninitialised.
#[repr(C)]
struct Head {
    signo: c_int,
    errno: c_int,
    code: c_int,
    fields: Fields,
}

/// A whole `siginfo_t`: 128 bytes, all initialised.
#[repr(C, align(8))]
pub(crate) struct RawSigInfo([u8; 128]);

const _: () = assert!(std::mem::size_of::<RawSigInfo>() == std::mem::size_of::<libc::siginfo_t>());
const _: () = assert!(std::mem::size_of::<Head>() <= std::mem::size_of::<RawSigInfo>());

impl RawSigInfo {
    /// Writes `bytes` at `offset` (inside the 128 bytes, by the offsets of
    /// the `#[repr(C)]` layout above).
    fn put<const N: usize>(&mut self, offset: usize, bytes: [u8; N]) {
        self.0[offset..offset + N].copy_from_slice(&bytes);
    }
}

/// Rebuilds the `siginfo_t` that `info` was made from, choosing the union
/// member the way the kernel's `siginfo_layout` does.
fn raw_siginfo(info: &SignalInfo) -> RawSigInfo {
    use std::mem::offset_of;
    let signo = info.ssi_signo as c_int;
    let code = info.ssi_code;
    let mut raw = RawSigInfo([0; 128]);
    raw.put(offset_of!(Head, signo), signo.to_ne_bytes());
    raw.put(offset_of!(Head, errno), info.ssi_errno.to_ne_bytes());
    raw.put(offset_of!(Head, code), code.to_ne_bytes());
    let at = offset_of!(Head, fields);
    let pid = (info.ssi_pid as c_int).to_ne_bytes();
    let uid = info.ssi_uid.to_ne_bytes();
    let value = (info.ssi_ptr as usize).to_ne_bytes();
    match layout(signo, code) {
        Layout::Child => {
            raw.put(at + offset_of!(Child, pid), pid);
            raw.put(at + offset_of!(Child, uid), uid);
            raw.put(
                at + offset_of!(Child, status),
                info.ssi_status.to_ne_bytes(),
            );
            raw.put(
                at + offset_of!(Child, utime),
                (info.ssi_utime as c_long).to_ne_bytes(),
            );
            raw.put(
                at + offset_of!(Child, stime),
                (info.ssi_stime as c_long).to_ne_bytes(),
            );
        }
        // A signalfd reports only the address of the bounds, protection
        // key and perf layouts (and the kernel reads nothing else of them
        // for a signalfd), so the address is all there is to rebuild.
        Layout::Fault | Layout::FaultBndErr | Layout::FaultPkuErr | Layout::FaultPerfEvent => {
            raw.put(
                at + offset_of!(Fault, addr),
                (info.ssi_addr as usize).to_ne_bytes(),
            );
        }
        Layout::FaultMceErr => {
            raw.put(
                at + offset_of!(FaultMceErr, addr),
                (info.ssi_addr as usize).to_ne_bytes(),
            );
            raw.put(
                at + offset_of!(FaultMceErr, addr_lsb),
                (info.ssi_addr_lsb as libc::c_short).to_ne_bytes(),
            );
        }
        Layout::Sys => {
            let call_addr = (info.ssi_call_addr as usize).to_ne_bytes();
            raw.put(at + offset_of!(Sys, call_addr), call_addr);
            raw.put(
                at + offset_of!(Sys, syscall),
                info.ssi_syscall.to_ne_bytes(),
            );
            raw.put(at + offset_of!(Sys, arch), info.ssi_arch.to_ne_bytes());
        }
        Layout::Poll => {
            raw.put(
                at + offset_of!(Poll, band),
                (info.ssi_band as c_long).to_ne_bytes(),
            );
            raw.put(at + offset_of!(Poll, fd), info.ssi_fd.to_ne_bytes());
        }
        Layout::Timer => {
            raw.put(
                at + offset_of!(Timer, tid),
                (info.ssi_tid as c_int).to_ne_bytes(),
            );
            let overrun = (info.ssi_overrun as c_int).to_ne_bytes();
            raw.put(at + offset_of!(Timer, overrun), overrun);
            raw.put(at + offset_of!(Timer, value), value);
        }
        Layout::Rt => {
            raw.put(at + offset_of!(Rt, pid), pid);
            raw.put(at + offset_of!(Rt, uid), uid);
            raw.put(at + offset_of!(Rt, value), value);
        }
        Layout::Kill => {
            raw.put(at + offset_of!(Kill, pid), pid);
            raw.put(at + offset_of!(Kill, uid), uid);
        }
    }
    raw
}

/// Queues `info` again to this process, process-directed, with its
/// siginfo (signal, code, sender pid and uid, value, ...) — exactly, or
/// not at all. The fallback of the records given back
/// ([`super::leftover`]) when no memory can be had to keep them.
///
/// Refused (an `Unsupported` error, nothing sent) where the kernel could
/// alter the record: at `RLIMIT_SIGPENDING` it queues a standard signal
/// with a negative code (`sigqueue`, `tgkill`, ...) and a real-time signal
/// with `SI_USER` *without* their siginfo (read back as a `kill` from pid
/// 0, uid 0); and a code that only the kernel or `kill` may set
/// (`SI_USER`, `SI_KERNEL`, `SI_TKILL`, the positive codes) can be sent to
/// the process only by its main thread or, on other threads, through a
/// thread pidfd (Linux 6.9). A real-time signal the kernel cannot queue
/// is `EAGAIN`. A standard signal already pending merges with it.
pub(super) fn requeue(info: &SignalInfo) -> io::Result<()> {
    let signo = info.ssi_signo as c_int;
    let code = info.ssi_code;
    let realtime = signo >= 32;
    if (!realtime && code < 0) || (realtime && code == SI_USER) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the kernel may queue this signal without its siginfo at RLIMIT_SIGPENDING",
        ));
    }
    let mut raw = raw_siginfo(info);
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let tid = rustix::thread::gettid().as_raw_nonzero().get();
    let forgeable = code < 0 && code != SI_TKILL;
    if forgeable || pid == tid {
        queue_to_process(pid, signo, &mut raw)
    } else {
        send_to_own_thread_group(tid, signo, &mut raw)
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
    pidfd_send_signal_raw(pidfd.as_fd(), signo, Some(raw), PIDFD_SIGNAL_THREAD_GROUP)
}

/// `sigqueue(3)` through a pidfd: `pidfd_send_signal(pidfd, signo, info,
/// flags)` with a `SI_QUEUE` siginfo from this process (its pid and real
/// uid, as `sigqueue` fills them) carrying `value`.
pub(crate) fn pidfd_sigqueue(
    pidfd: BorrowedFd<'_>,
    signo: c_int,
    value: i32,
    flags: c_uint,
) -> io::Result<()> {
    let info = SignalInfo {
        ssi_signo: signo as u32,
        ssi_code: SI_QUEUE,
        ssi_pid: rustix::process::getpid().as_raw_nonzero().get() as u32,
        ssi_uid: rustix::process::getuid().as_raw(),
        // `sival_int` is the first 4 bytes of the pointer-sized union.
        ssi_ptr: u64::from(value as u32),
        ..SignalInfo::default()
    };
    pidfd_send_signal_raw(pidfd, signo, Some(&mut raw_siginfo(&info)), flags)
}

/// `pidfd_send_signal(pidfd, signo, info, flags)`, with no siginfo (the
/// kernel fills one as `kill` does) when `info` is `None`. `signo` 0 is the
/// null signal.
pub(crate) fn pidfd_send_signal_raw(
    pidfd: BorrowedFd<'_>,
    signo: c_int,
    info: Option<&mut RawSigInfo>,
    flags: c_uint,
) -> io::Result<()> {
    let info = info.map_or(std::ptr::null_mut(), |raw| raw as *mut RawSigInfo);
    // `info` is null or a complete 128-byte siginfo_t that the kernel only
    // reads; the descriptor is borrowed, so open for the call.
    // SAFETY: so the syscall reads valid memory and writes none of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signo,
            info,
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SigSet, Signal, SignalFd, SignalMaskGuard};

    /// Marks the records of this test (no other sender sets `si_errno`).
    const MARK: i32 = 4321;

    /// A record as a signalfd reports a siginfo of each layout: the fields
    /// of that layout set, every other field zero.
    fn records() -> Vec<SignalInfo> {
        let base = |signo: i32, code: i32| SignalInfo {
            ssi_signo: signo as u32,
            ssi_errno: MARK,
            ssi_code: code,
            ..SignalInfo::default()
        };
        let kill = |signo, code| SignalInfo {
            ssi_pid: 4242,
            ssi_uid: 65534,
            ..base(signo, code)
        };
        let child = |code| SignalInfo {
            ssi_status: 3,
            ssi_utime: 11,
            ssi_stime: 12,
            ..kill(libc::SIGCHLD, code)
        };
        let rt = |signo, code| SignalInfo {
            ssi_ptr: 0x1234_5678_9abc,
            ssi_int: 0x5678_9abc_u32 as i32,
            ..kill(signo, code)
        };
        let fault = |signo, code| SignalInfo {
            ssi_addr: 0x7fff_0000_1000,
            ..base(signo, code)
        };
        let poll = |signo, code| SignalInfo {
            ssi_band: 0x41,
            ssi_fd: 7,
            ..base(signo, code)
        };
        vec![
            kill(libc::SIGUSR1, 0),
            kill(libc::SIGUSR1, 7),
            kill(libc::SIGCHLD, 7),
            kill(libc::SIGILL, 12),
            kill(libc::SIGTRAP, 7),
            child(libc::CLD_EXITED),
            child(libc::CLD_CONTINUED),
            rt(libc::SIGUSR1, -1),
            rt(libc::SIGUSR1, -6),
            rt(libc::SIGUSR1, -60),
            SignalInfo {
                ssi_tid: 9,
                ssi_overrun: 2,
                ssi_ptr: 77,
                ssi_int: 77,
                ..base(libc::SIGALRM, -2)
            },
            poll(libc::SIGIO, -5),
            poll(libc::SIGIO, 1),
            poll(libc::SIGUSR1, 6),
            poll(libc::SIGBUS, 6),
            poll(libc::SIGSYS, 3),
            fault(libc::SIGSEGV, 1),
            fault(libc::SIGSEGV, 3),
            fault(libc::SIGSEGV, 4),
            fault(libc::SIGTRAP, 6),
            fault(libc::SIGILL, 11),
            SignalInfo {
                ssi_addr_lsb: 12,
                ..fault(libc::SIGBUS, 4)
            },
            SignalInfo {
                ssi_addr_lsb: 21,
                ..fault(libc::SIGBUS, 5)
            },
            SignalInfo {
                ssi_call_addr: 0x4000,
                ssi_syscall: 39,
                ssi_arch: 0xc000_003e,
                ..base(libc::SIGSYS, 1)
            },
        ]
    }

    /// Each record, rebuilt as a siginfo and queued to this thread, reads
    /// back from a signalfd exactly: the kernel's signalfd copies the
    /// fields of the layout *it* picks, so a record built with another
    /// layout comes back different.
    #[test]
    fn every_layout_round_trips_through_the_kernel() {
        let set: SigSet = [
            Signal::USR1,
            Signal::CHLD,
            Signal::ILL,
            Signal::TRAP,
            Signal::ALRM,
            Signal::IO,
            Signal::BUS,
            Signal::SEGV,
            Signal::SYS,
        ]
        .into_iter()
        .collect();
        // Thread-directed signals to this thread only, which blocks them.
        let _blocked = SignalMaskGuard::block(&set).unwrap();
        let sfd = SignalFd::new(&set).unwrap();
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        let tid = rustix::thread::gettid().as_raw_nonzero().get();
        // valgrind takes a fault signal with a kernel code (positive) for a
        // fault of its own and dies: under it, only the other records.
        let valgrind = std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind"));
        let synchronous = [
            libc::SIGILL,
            libc::SIGTRAP,
            libc::SIGBUS,
            libc::SIGSEGV,
            libc::SIGFPE,
            libc::SIGSYS,
        ];
        if valgrind {
            eprintln!("skipped: fault signals with kernel codes under valgrind");
        }
        let mut failures = Vec::new();
        for record in records() {
            if valgrind && record.ssi_code > 0 && synchronous.contains(&(record.ssi_signo as c_int))
            {
                continue;
            }
            let mut raw = raw_siginfo(&record);
            // The calling thread may queue any code to itself.
            // SAFETY: `raw` is a complete siginfo the kernel only reads.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_rt_tgsigqueueinfo,
                    pid,
                    tid,
                    record.ssi_signo as c_int,
                    &mut raw as *mut RawSigInfo,
                )
            };
            assert_eq!(rc, 0, "{record:?}: {}", io::Error::last_os_error());
            let mut back = [SignalInfo::default()];
            let read = loop {
                sfd.read_batch(&mut back).unwrap();
                if back[0].ssi_errno == MARK {
                    break back[0];
                }
            };
            if read != record {
                failures.push(format!(
                    "signal {} code {}: sent {:?} read {:?}",
                    record.ssi_signo,
                    record.ssi_code,
                    fields(&record),
                    fields(&read)
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The kernel fallback refuses, before any syscall, the records the
    /// kernel could queue without their siginfo at `RLIMIT_SIGPENDING`.
    #[test]
    fn requeue_refuses_what_the_kernel_could_alter() {
        let record = |signo: c_int, code| SignalInfo {
            ssi_signo: signo as u32,
            ssi_code: code,
            ..SignalInfo::default()
        };
        for info in [
            record(libc::SIGUSR1, SI_QUEUE),
            record(libc::SIGUSR1, SI_TKILL),
            record(libc::SIGRTMIN(), SI_USER),
        ] {
            let err = requeue(&info).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{info:?}");
        }
    }

    fn fields(i: &SignalInfo) -> String {
        format!(
            "pid {} uid {} status {} utime {} stime {} ptr {:#x} int {:#x} tid {} overrun {} \
             band {:#x} fd {} addr {:#x} lsb {} call {:#x} syscall {} arch {:#x}",
            i.ssi_pid,
            i.ssi_uid,
            i.ssi_status,
            i.ssi_utime,
            i.ssi_stime,
            i.ssi_ptr,
            i.ssi_int,
            i.ssi_tid,
            i.ssi_overrun,
            i.ssi_band,
            i.ssi_fd,
            i.ssi_addr,
            i.ssi_addr_lsb,
            i.ssi_call_addr,
            i.ssi_syscall,
            i.ssi_arch
        )
    }
}
