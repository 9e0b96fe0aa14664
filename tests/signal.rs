//! `Signal`, `SigSet`, `SignalInfo` and the mask helpers — everything that
//! needs no signal to be delivered (delivery is in tests/signalfd_delivery.rs,
//! its own binary).

use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::process::Command;

use iofd::{
    SigSet, Signal, SignalFd, SignalInfo, SignalMaskGuard, reset_signal_mask_on_exec,
    threads_not_blocking,
};

#[test]
fn signal_new_accepts_1_to_64_only() {
    for n in 1..=64 {
        assert_eq!(Signal::new(n).unwrap().as_raw(), n);
    }
    for n in [0, 65, -1, i32::MIN, i32::MAX] {
        let err = Signal::new(n).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{n}");
        assert!(err.to_string().contains(&n.to_string()), "{err}");
    }
    assert_eq!(Signal::try_from(10).unwrap(), Signal::USR1);
    assert_eq!(i32::from(Signal::TERM), 15);
}

#[test]
fn named_constants_match_libc() {
    let pairs = [
        (Signal::HUP, libc::SIGHUP),
        (Signal::INT, libc::SIGINT),
        (Signal::QUIT, libc::SIGQUIT),
        (Signal::ILL, libc::SIGILL),
        (Signal::TRAP, libc::SIGTRAP),
        (Signal::ABRT, libc::SIGABRT),
        (Signal::BUS, libc::SIGBUS),
        (Signal::FPE, libc::SIGFPE),
        (Signal::KILL, libc::SIGKILL),
        (Signal::USR1, libc::SIGUSR1),
        (Signal::SEGV, libc::SIGSEGV),
        (Signal::USR2, libc::SIGUSR2),
        (Signal::PIPE, libc::SIGPIPE),
        (Signal::ALRM, libc::SIGALRM),
        (Signal::TERM, libc::SIGTERM),
        (Signal::STKFLT, libc::SIGSTKFLT),
        (Signal::CHLD, libc::SIGCHLD),
        (Signal::CONT, libc::SIGCONT),
        (Signal::STOP, libc::SIGSTOP),
        (Signal::TSTP, libc::SIGTSTP),
        (Signal::TTIN, libc::SIGTTIN),
        (Signal::TTOU, libc::SIGTTOU),
        (Signal::URG, libc::SIGURG),
        (Signal::XCPU, libc::SIGXCPU),
        (Signal::XFSZ, libc::SIGXFSZ),
        (Signal::VTALRM, libc::SIGVTALRM),
        (Signal::PROF, libc::SIGPROF),
        (Signal::WINCH, libc::SIGWINCH),
        (Signal::IO, libc::SIGIO),
        (Signal::PWR, libc::SIGPWR),
        (Signal::SYS, libc::SIGSYS),
    ];
    for (signal, raw) in pairs {
        assert_eq!(signal.as_raw(), raw, "{signal}");
        assert!(!signal.is_realtime());
        assert!(signal.name().is_some());
    }
}

#[test]
fn display_names() {
    assert_eq!(Signal::USR1.to_string(), "SIGUSR1");
    assert_eq!(Signal::TERM.to_string(), "SIGTERM");
    assert_eq!(Signal::STKFLT.to_string(), "SIGSTKFLT");
    assert_eq!(Signal::rt(0).unwrap().to_string(), "SIGRTMIN");
    assert_eq!(Signal::rt(3).unwrap().to_string(), "SIGRTMIN+3");
    assert_eq!(format!("{:?}", Signal::USR1), "SIGUSR1(10)");
    // The C library's reserved real-time signals (glibc: 32 and 33).
    if libc::SIGRTMIN() > 32 {
        assert_eq!(Signal::new(32).unwrap().to_string(), "SIG32");
    }
}

#[test]
fn rt_is_relative_to_the_c_librarys_sigrtmin() {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    assert_eq!(Signal::rt(0).unwrap().as_raw(), min);
    let last = (max - min) as u32;
    assert_eq!(Signal::rt(last).unwrap().as_raw(), max);
    assert!(Signal::rt(last).unwrap().is_realtime());
    for past in [last + 1, u32::MAX] {
        let err = Signal::rt(past).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("SIGRTMAX"), "{err}");
    }
}

#[test]
fn sigset_operations() {
    let mut set = SigSet::empty();
    assert!(set.is_empty());
    assert!(set.add(Signal::USR1));
    assert!(!set.add(Signal::USR1), "already there");
    set.add(Signal::TERM);
    assert_eq!(set.len(), 2);
    assert!(set.contains(Signal::USR1) && !set.contains(Signal::USR2));
    assert_eq!(set.iter().collect::<Vec<_>>(), [Signal::USR1, Signal::TERM]);
    assert!(set.remove(Signal::USR1));
    assert!(!set.remove(Signal::USR1));
    assert_eq!(set, SigSet::from(Signal::TERM));
    assert_eq!(set.bits(), 1 << 14);
    assert_eq!(SigSet::from_bits(1 << 9), SigSet::from(Signal::USR1));

    let a: SigSet = [Signal::INT, Signal::TERM].into_iter().collect();
    let b = SigSet::empty().with(Signal::TERM).with(Signal::HUP);
    assert_eq!((a | b).len(), 3);
    assert_eq!(a & b, SigSet::from(Signal::TERM));
    assert_eq!(a - b, SigSet::from(Signal::INT));
    assert_eq!((!a).len(), 62);
    assert!(!(!a).contains(Signal::INT));
    let mut c = a;
    c |= b;
    c &= a;
    c -= SigSet::from(Signal::INT);
    assert_eq!(c, SigSet::from(Signal::TERM));
    let mut d = SigSet::empty();
    d.extend([Signal::rt(1).unwrap(), Signal::new(64).unwrap()]);
    assert_eq!(d.iter().last(), Some(Signal::new(64).unwrap()));
    assert_eq!(SigSet::full().len(), 64);
    assert_eq!((&SigSet::full()).into_iter().len(), 64);
    assert_eq!(format!("{:?}", a), "{SIGINT(2), SIGTERM(15)}");
    let blockable = SigSet::blockable();
    assert!(!blockable.contains(Signal::KILL) && !blockable.contains(Signal::STOP));
    assert!(blockable.contains(Signal::rt(0).unwrap()));
    assert_eq!(blockable.len(), 64 - 2 - (libc::SIGRTMIN() - 32) as usize);
}

#[test]
fn signalfd_refuses_what_cannot_be_blocked() {
    for bad in [Signal::KILL, Signal::STOP] {
        let err = SignalFd::new(&SigSet::from(bad)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&bad.to_string()), "{err}");
        let err = SignalMaskGuard::block(&SigSet::from(bad)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
    if libc::SIGRTMIN() > 32 {
        let reserved = SigSet::from(Signal::new(32).unwrap());
        let err = SignalFd::new(&reserved).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("reserved"), "{err}");
    }
    // A refused set_mask leaves the mask as it was.
    let sfd = SignalFd::new(&SigSet::from(Signal::USR1)).unwrap();
    let err = sfd.set_mask(&SigSet::from(Signal::KILL)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(sfd.mask(), SigSet::from(Signal::USR1));
}

#[test]
fn signalfd_basics_without_delivery() {
    let set = SigSet::from(Signal::USR2);
    let sfd = SignalFd::new(&set).unwrap();
    assert_eq!(sfd.mask(), set);
    assert_eq!(sfd.read_info().unwrap_err().kind(), ErrorKind::WouldBlock);
    let mut buf = [SignalInfo::default(); 4];
    assert_eq!(
        sfd.read_batch(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    let err = sfd.read_batch(&mut []).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("at least one"), "{err}");
    let other = SigSet::from(Signal::HUP) | SigSet::from(Signal::rt(2).unwrap());
    sfd.set_mask(&other).unwrap();
    assert_eq!(sfd.mask(), other);
    assert!(
        rustix::fs::fcntl_getfl(&sfd)
            .unwrap()
            .contains(rustix::fs::OFlags::NONBLOCK)
    );
    assert!(
        rustix::io::fcntl_getfd(&sfd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
    let dbg = format!("{sfd:?}");
    assert!(dbg.contains("SignalFd") && dbg.contains("SIGHUP"), "{dbg}");
    assert!(sfd.as_raw_fd() >= 0);
    let _: std::os::fd::OwnedFd = sfd.into();
}

#[test]
fn guard_blocks_and_restores_the_previous_mask() {
    // Runs on its own test thread; delivers nothing.
    std::thread::spawn(|| {
        let before = SigSet::thread_blocked().unwrap();
        assert!(!before.contains(Signal::WINCH));
        let set = SigSet::from(Signal::WINCH) | SigSet::from(Signal::URG);
        {
            let guard = SignalMaskGuard::block(&set).unwrap();
            assert_eq!(guard.previous(), before);
            let now = SigSet::thread_blocked().unwrap();
            assert_eq!(now, before | set);
            // The thread check sees this thread blocking them.
            let me = rustix::thread::gettid().as_raw_nonzero().get();
            let stealers = threads_not_blocking(&set).unwrap();
            assert!(stealers.iter().all(|t| t.tid != me), "{stealers:?}");
            assert!(format!("{guard:?}").contains("SignalMaskGuard"));
        }
        assert_eq!(SigSet::thread_blocked().unwrap(), before);
        // keep() leaves the block in place for the thread's life.
        SignalMaskGuard::block(&SigSet::from(Signal::URG))
            .unwrap()
            .keep();
        assert!(SigSet::thread_blocked().unwrap().contains(Signal::URG));
    })
    .join()
    .unwrap();
}

/// The `SigBlk:` mask of a child started from `command`.
fn child_sigblk(mut command: Command) -> u64 {
    let out = command
        .args(["SigBlk", "/proc/self/status"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.trim().strip_prefix("SigBlk:").unwrap().trim();
    u64::from_str_radix(hex, 16).unwrap()
}

#[test]
fn children_get_a_clean_mask_with_the_helper() {
    std::thread::spawn(|| {
        let set = SigSet::from(Signal::USR2) | SigSet::from(Signal::TERM);
        let _guard = SignalMaskGuard::block(&set).unwrap();
        // Without the helper the child inherits the block: the hazard.
        let inherited = child_sigblk(Command::new("grep"));
        assert_eq!(inherited & set.bits(), set.bits(), "{inherited:#x}");
        // With it, the child starts with nothing blocked.
        let mut command = Command::new("grep");
        reset_signal_mask_on_exec(&mut command);
        assert_eq!(child_sigblk(command), 0);
    })
    .join()
    .unwrap();
}

#[test]
fn types_are_send_sync_and_signal_info_is_128_bytes() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SignalFd>();
    assert_send_sync::<SigSet>();
    assert_send_sync::<SignalInfo>();
    assert_send_sync::<Signal>();
    assert_eq!(std::mem::size_of::<SignalInfo>(), 128);
}

/// The signalfd's mask as the kernel reports it in /proc/self/fdinfo.
fn kernel_mask(sfd: &SignalFd) -> SigSet {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", sfd.as_raw_fd())).unwrap();
    let hex = info
        .lines()
        .find_map(|l| l.strip_prefix("sigmask:"))
        .unwrap()
        .trim();
    SigSet::from_bits(u64::from_str_radix(hex, 16).unwrap())
}

#[test]
fn concurrent_set_mask_leaves_mask_agreeing_with_the_kernel() {
    let sfd = std::sync::Arc::new(SignalFd::new(&SigSet::from(Signal::USR1)).unwrap());
    let sets = [SigSet::from(Signal::HUP), SigSet::from(Signal::WINCH)];
    let threads: Vec<_> = sets
        .into_iter()
        .map(|set| {
            let sfd = sfd.clone();
            std::thread::spawn(move || {
                for _ in 0..5_000 {
                    sfd.set_mask(&set).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sfd.mask(), kernel_mask(&sfd));
    assert!(sets.contains(&sfd.mask()));
}

/// The signals of `set` blocked on this thread now.
fn blocked_of(set: SigSet) -> SigSet {
    SigSet::thread_blocked().unwrap() & set
}

#[test]
fn nested_guards_restore_the_mask_in_any_drop_order() {
    // Each test runs on its own thread, so this mask is ours alone.
    let (usr1, usr2) = (SigSet::from(Signal::USR1), SigSet::from(Signal::USR2));
    let both = usr1 | usr2;
    assert_eq!(blocked_of(both), SigSet::empty());

    // Dropped out of order: g1 first must leave g2's USR2 blocked, and both
    // gone must leave nothing blocked.
    let g1 = SignalMaskGuard::block(&usr1).unwrap();
    let g2 = SignalMaskGuard::block(&usr2).unwrap();
    drop(g1);
    assert_eq!(blocked_of(both), usr2, "g2 still lives");
    drop(g2);
    assert_eq!(blocked_of(both), SigSet::empty());

    // Overlapping sets: a signal stays blocked while any guard holding it
    // lives, whatever the order.
    let g1 = SignalMaskGuard::block(&both).unwrap();
    let g2 = SignalMaskGuard::block(&usr1).unwrap();
    drop(g1);
    assert_eq!(blocked_of(both), usr1, "g2 still holds USR1");
    drop(g2);
    assert_eq!(blocked_of(both), SigSet::empty());

    // A signal blocked before any guard is never unblocked by one.
    let outer = SignalMaskGuard::block(&usr2).unwrap();
    outer.keep();
    let g = SignalMaskGuard::block(&both).unwrap();
    drop(g);
    assert_eq!(blocked_of(both), usr2, "kept before the guard");
    // Put the thread back for the harness.
    // SAFETY: unblocking a signal on this test's own thread.
    unsafe {
        let mut raw = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut raw);
        libc::sigaddset(&mut raw, libc::SIGUSR2);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw, std::ptr::null_mut());
    }
    assert_eq!(blocked_of(both), SigSet::empty());
    // After a manual unblock, a new guard owns USR2 again and releases it.
    drop(SignalMaskGuard::block(&usr2).unwrap());
    assert_eq!(blocked_of(both), SigSet::empty());
}

#[test]
fn kept_guard_survives_a_later_guard_on_the_same_signal() {
    let usr1 = SigSet::from(Signal::USR1);
    let held = SignalMaskGuard::block(&usr1).unwrap();
    let kept = SignalMaskGuard::block(&usr1).unwrap();
    kept.keep();
    drop(held);
    assert_eq!(blocked_of(usr1), usr1, "kept");
}

#[test]
fn a_thread_name_that_is_not_utf8_is_reported_not_an_error() {
    let set = SigSet::from(Signal::WINCH);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // std cuts a name to 15 bytes: here inside the two-byte "é".
    let name = format!("{}é", "n".repeat(14));
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            // And raw bytes that are not UTF-8 at all, through prctl.
            // SAFETY: PR_SET_NAME reads a NUL-terminated string.
            let rc = unsafe { libc::prctl(libc::PR_SET_NAME, c"odd\xff\xfe".as_ptr()) };
            ready_tx
                .send((rc, rustix::thread::gettid().as_raw_nonzero().get()))
                .unwrap();
            done_rx.recv().unwrap();
        })
        .unwrap();
    let (rc, tid) = ready_rx.recv().unwrap();
    assert_eq!(rc, 0);
    let threads = threads_not_blocking(&set).unwrap();
    let odd = threads.iter().find(|t| t.tid == tid).expect("listed");
    assert_eq!(odd.name, "odd\u{fffd}\u{fffd}");
    assert_eq!(odd.unblocked, set);
    done_tx.send(()).unwrap();
    thread.join().unwrap();

    // The cut UTF-8 name on its own.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("{}é", "m".repeat(14)))
        .spawn(move || {
            ready_tx
                .send(rustix::thread::gettid().as_raw_nonzero().get())
                .unwrap();
            done_rx.recv().unwrap();
        })
        .unwrap();
    let tid = ready_rx.recv().unwrap();
    let threads = threads_not_blocking(&set).unwrap();
    let cut = threads.iter().find(|t| t.tid == tid).expect("listed");
    assert_eq!(cut.name, format!("{}\u{fffd}", "m".repeat(14)));
    assert!(
        iofd::ensure_blocked_in_all_threads(&set)
            .unwrap_err()
            .kind()
            == ErrorKind::InvalidInput
    );
    done_tx.send(()).unwrap();
    thread.join().unwrap();
}

/// Clones share the kernel's mask, and each one's `mask()` says so.
#[test]
fn signalfd_clones_share_one_mask() {
    let first = SignalFd::new(&SigSet::from(Signal::USR1)).unwrap();
    let second = first.try_clone().unwrap();
    assert_ne!(first.as_raw_fd(), second.as_raw_fd());
    assert_eq!(second.mask(), SigSet::from(Signal::USR1));
    let both = SigSet::from(Signal::USR1).with(Signal::USR2);
    second.set_mask(&both).unwrap();
    assert_eq!(first.mask(), both);
    let fdinfo =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{}", first.as_raw_fd())).unwrap();
    let expected = (1u64 << (libc::SIGUSR1 - 1)) | (1u64 << (libc::SIGUSR2 - 1));
    assert!(
        fdinfo.contains(&format!("sigmask:\t{expected:016x}")),
        "the kernel mask of the first changed too: {fdinfo}"
    );
    first.close().unwrap();
    second.close().unwrap();
}
