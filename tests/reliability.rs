//! Reliability: no leaked descriptor, no lost count, no panic, whatever the
//! caller does; errors that name what is missing on a locked-down kernel.
//!
//! `harness = false`: descriptor counts must not see other tests' files,
//! `RLIMIT_NOFILE` is per process, and signals are blocked in `main` first.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{sigqueue_self, within};
use iofd::{
    AsyncEventFd, AsyncPidFd, AsyncSignalFd, AsyncTimerFd, Clock, EventFd, Fd, MemFd, PidFd,
    Protection, SigSet, Signal, SignalFd, SyscallError, TimerFd,
};
use tokio_test::{assert_pending, task};

fn rt1() -> Signal {
    Signal::rt(1).unwrap()
}

/// Signals blocked in `main` for the whole binary.
fn blocked() -> SigSet {
    SigSet::from(Signal::USR1).with(rt1())
}

fn open_fds() -> usize {
    // The directory handle itself is counted every time, so it cancels out.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    common::two_workers()
}

fn pipe() -> (Fd, Fd) {
    let (r, w) = std::io::pipe().unwrap();
    (Fd::from(OwnedFd::from(r)), Fd::from(OwnedFd::from(w)))
}

/// Every constructor (success and error paths), conversion, clone, close,
/// mapping, and async wrapper (dropped pending, and into_inner).
fn exercise_everything(rt: &tokio::runtime::Runtime) {
    // Fd
    let (mut r, w) = pipe();
    let w2 = w.try_clone().unwrap();
    w2.close().unwrap();
    (&w).write_all(b"x").unwrap();
    let mut buf = [0u8; 1];
    r.read_exact(&mut buf).unwrap();
    let raw = w.into_raw_fd();
    // SAFETY: `raw` came from into_raw_fd just above.
    let w = unsafe { Fd::from_raw_fd(raw) };
    let owned: OwnedFd = w.into();
    drop(Fd::from(owned));
    drop(r);

    // EventFd
    let efd = EventFd::new(1).unwrap();
    let sem = EventFd::new_semaphore(2).unwrap();
    let clone = efd.try_clone().unwrap();
    assert_eq!(
        efd.signal(u64::MAX).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        efd.read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        efd.write(&[0u8; 4]).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let _: OwnedFd = clone.into();
    drop((efd, sem));

    // TimerFd
    for clock in Clock::ALL {
        let _ = TimerFd::with_clock(clock); // alarm clocks may be refused
    }
    let timer = TimerFd::new().unwrap();
    assert_eq!(
        timer.arm(Duration::MAX, Duration::ZERO).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        timer
            .arm_at_cancel_on_set(Duration::from_secs(1), Duration::ZERO)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    drop(timer.try_clone().unwrap());
    let raw = timer.into_raw_fd();
    // SAFETY: `raw` came from into_raw_fd just above.
    drop(unsafe { OwnedFd::from_raw_fd(raw) });

    // SignalFd
    let sfd = SignalFd::new(&blocked()).unwrap();
    assert!(SignalFd::new(&SigSet::from(Signal::KILL)).is_err());
    if libc::SIGRTMIN() > 32 {
        assert!(SignalFd::new(&SigSet::from(Signal::new(32).unwrap())).is_err());
    }
    assert!(sfd.set_mask(&SigSet::from(Signal::STOP)).is_err());
    assert_eq!(
        sfd.read_batch(&mut []).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    drop(sfd);

    // PidFd
    let me = PidFd::open(std::process::id() as i32).unwrap();
    assert!(PidFd::open(0).is_err());
    assert!(PidFd::open(i32::MAX).is_err());
    drop(PidFd::open_blocking(std::process::id() as i32).unwrap());
    let (reader, _writer) = pipe();
    drop(me.get_fd(reader.as_raw_fd()).unwrap());
    assert!(me.get_fd(-1).is_err());
    assert!(me.get_fd(i32::MAX - 1).is_err());
    let child = Command::new("true").spawn().unwrap();
    let pidfd = PidFd::from_owned_child(child).unwrap();
    assert!(pidfd.wait().unwrap().success());
    drop((me, pidfd, reader));

    // MemFd
    let memfd = MemFd::new_sealable("accounting").unwrap();
    memfd.set_len(4096).unwrap();
    let region = memfd.mmap(4096, Protection::ReadWrite).unwrap();
    region.unmap().unwrap();
    drop(memfd.mmap(4096, Protection::Read).unwrap());
    assert!(memfd.mmap(0, Protection::Read).is_err());
    assert!(memfd.mmap_at(16, Protection::Read, 1).is_err());
    assert!(memfd.mmap(1 << 20, Protection::Read).is_err());
    assert!(MemFd::new("nul\0").is_err());
    assert!(MemFd::new("x".repeat(300)).is_err());
    let _ = MemFd::new_hugetlb("huge");
    drop(
        MemFd::options()
            .close_on_exec(false)
            .create("inheritable")
            .unwrap(),
    );
    let adopted = MemFd::try_from(OwnedFd::from(memfd.try_clone().unwrap())).unwrap();
    let (not_memfd, _w) = pipe();
    let handed_back = MemFd::try_from(OwnedFd::from(not_memfd))
        .unwrap_err()
        .into_fd();
    let _file = std::fs::File::from(adopted);
    drop((handed_back, memfd));

    // Async wrappers: outside a runtime (error hands the handle back) ...
    let back = AsyncEventFd::try_from(EventFd::new(0).unwrap())
        .unwrap_err()
        .into_inner();
    drop(back);
    // ... on a runtime without an I/O driver (an error, no panic) ...
    let no_io = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    no_io.block_on(async {
        assert!(AsyncEventFd::new(0).is_err());
        assert!(AsyncTimerFd::interval(Duration::from_millis(1)).is_err());
        assert!(AsyncSignalFd::new(&blocked()).is_err());
    });
    drop(no_io);
    // ... and inside, dropped while a future is pending, or unwrapped.
    rt.block_on(async {
        let efd = AsyncEventFd::new(0).unwrap();
        let mut wait = task::spawn(efd.wait());
        assert_pending!(wait.poll());
        drop(wait);
        drop(efd.into_inner());

        let timer = AsyncTimerFd::interval(Duration::from_secs(60)).unwrap();
        let mut tick = task::spawn(timer.expirations());
        assert_pending!(tick.poll());
        drop(tick);
        drop(timer);
        assert!(AsyncTimerFd::interval(Duration::ZERO).is_err());

        let mut signals = AsyncSignalFd::new(&blocked()).unwrap();
        {
            let mut recv = task::spawn(signals.recv());
            assert_pending!(recv.poll());
        }
        let (sync, pending) = signals.into_parts();
        assert!(pending.is_empty());
        drop(sync);

        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pidfd = AsyncPidFd::from_owned_child(child).unwrap();
        let mut wait = task::spawn(pidfd.wait());
        assert_pending!(wait.poll());
        drop(wait);
        pidfd.get_ref().send_signal(Signal::KILL).unwrap();
        within(pidfd.wait()).await.unwrap();
        drop(pidfd.into_inner());
    });
}

fn descriptor_count_comes_back_exactly() {
    if !common::pidfds_or_skip() {
        return;
    }
    let rt = current_thread();
    exercise_everything(&rt); // let lazily created descriptors appear first
    let before = open_fds();
    for _ in 0..3 {
        exercise_everything(&rt);
    }
    assert_eq!(open_fds(), before, "descriptors leaked");
}

fn set_nofile(soft: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the rlimit they are given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let old = limit.rlim_cur;
        limit.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        old
    }
}

fn assert_emfile<T: std::fmt::Debug>(what: &str, result: std::io::Result<T>) {
    let err = result.expect_err(what);
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{what}: {err}");
}

fn emfile_everywhere_then_recovery() {
    if !common::pidfds_or_skip() {
        return;
    }
    let rt = current_thread();
    let spare_efd = EventFd::new(0).unwrap();
    let spare_pipe = pipe();
    let before = open_fds();
    let highest = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let old = set_nofile(highest + 8);
    let mut fillers = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => fillers.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("filling the table: {e}"),
        }
    }
    assert_emfile("EventFd::new", EventFd::new(0));
    assert_emfile("EventFd::new_semaphore", EventFd::new_semaphore(1));
    assert_emfile("EventFd::try_clone", spare_efd.try_clone());
    assert_emfile("TimerFd::new", TimerFd::new());
    assert_emfile("SignalFd::new", SignalFd::new(&blocked()));
    assert_emfile("PidFd::open", PidFd::open(std::process::id() as i32));
    assert_emfile("MemFd::new", MemFd::new("full"));
    assert_emfile("Fd::try_clone", spare_pipe.0.try_clone());
    rt.block_on(async {
        assert_emfile("AsyncEventFd::new", AsyncEventFd::new(0));
        assert_emfile(
            "AsyncTimerFd::interval",
            AsyncTimerFd::interval(Duration::from_millis(1)),
        );
        assert_emfile("AsyncSignalFd::new", AsyncSignalFd::new(&blocked()));
    });
    // One descriptor freed: constructors work again.
    fillers.pop();
    let efd = EventFd::new(0).unwrap();
    efd.signal(1).unwrap();
    assert_eq!(efd.wait().unwrap(), 1);
    drop(efd);
    drop(TimerFd::new().unwrap());
    drop(MemFd::new("again").unwrap());
    drop(fillers);
    set_nofile(old);
    drop((spare_efd, spare_pipe));
    assert_eq!(open_fds(), before - 3, "nothing leaked while exhausted");
}

fn children_inherit_only_what_is_passed_on_purpose() {
    if !common::pidfds_or_skip() {
        return;
    }
    let rt = current_thread();
    let _guard = rt.enter();
    let handles = (
        EventFd::new(0).unwrap(),
        TimerFd::new().unwrap(),
        SignalFd::new(&blocked()).unwrap(),
        PidFd::open(std::process::id() as i32).unwrap(),
        MemFd::new("kept-private").unwrap(),
        AsyncEventFd::new(0).unwrap(),
        AsyncTimerFd::interval(Duration::from_secs(60)).unwrap(),
        pipe().0.try_clone().unwrap(),
    );
    let passed = MemFd::new("passed-on-purpose").unwrap();
    let passed = Fd::from(OwnedFd::from(passed));
    passed.set_cloexec(false).unwrap();
    let out = Command::new("sh")
        .args([
            "-c",
            "for f in /proc/self/fd/*; do echo \"$f $(readlink \"$f\")\"; done",
        ])
        .output()
        .unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    let ours = ["[eventfd]", "[timerfd]", "[signalfd]", "[pidfd]", "/memfd:"];
    let leaked: Vec<&str> = listing
        .lines()
        .filter(|l| ours.iter().any(|m| l.contains(m)) && !l.contains("/memfd:passed-on-purpose"))
        .collect();
    assert!(leaked.is_empty(), "inherited: {leaked:?}\n{listing}");
    assert!(
        listing.contains(&format!(
            "/proc/self/fd/{} /memfd:passed-on-purpose",
            passed.as_raw_fd()
        )),
        "the deliberately passed memfd is there:\n{listing}"
    );
    drop(handles);
}

fn eight_threads_signal_800k_and_the_drain_sums_exactly() {
    const THREADS: u64 = 8;
    const EACH: u64 = 100_000;
    let efd = Arc::new(EventFd::new(0).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let drainer = std::thread::spawn({
        let (efd, done) = (efd.clone(), done.clone());
        move || {
            let mut sum = 0u64;
            loop {
                match efd.wait() {
                    Ok(n) => sum += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if done.load(Ordering::Acquire) {
                            // Writers are finished: one last drain.
                            if let Ok(n) = efd.wait() {
                                sum += n;
                            }
                            return sum;
                        }
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("wait: {e}"),
                }
            }
        }
    });
    let writers: Vec<_> = (0..THREADS)
        .map(|_| {
            let efd = efd.clone();
            std::thread::spawn(move || {
                for _ in 0..EACH {
                    efd.signal(1).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    assert_eq!(drainer.join().unwrap(), THREADS * EACH);
}

fn semaphore_permits_match_exactly_on_a_multi_thread_runtime() {
    const TASKS: usize = 16;
    const PERMITS: u64 = 10_000;
    let rt = multi_thread();
    rt.block_on(async {
        let sem = Arc::new(AsyncEventFd::new_semaphore(0).unwrap());
        let taken = Arc::new(AtomicU64::new(0));
        let waiters: Vec<_> = (0..TASKS)
            .map(|_| {
                let (sem, taken) = (sem.clone(), taken.clone());
                tokio::spawn(async move {
                    loop {
                        assert_eq!(sem.wait().await.unwrap(), 1);
                        taken.fetch_add(1, Ordering::AcqRel);
                    }
                })
            })
            .collect();
        let mut given = 0;
        let mut k = 1;
        while given < PERMITS {
            let n = k.min(PERMITS - given);
            sem.signal(n).await.unwrap();
            given += n;
            k = k % 7 + 1;
            if given % 500 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let start = Instant::now();
        while taken.load(Ordering::Acquire) < PERMITS {
            assert!(
                start.elapsed() < common::LIMIT * 3,
                "lost wake-up: {taken:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(taken.load(Ordering::Acquire), PERMITS, "no extra permit");
        for w in waiters {
            w.abort();
        }
        assert_eq!(
            sem.get_ref().wait().unwrap_err().kind(),
            ErrorKind::WouldBlock,
            "none left over"
        );
    });
}

fn periodic_timer_counts_match_two_seconds() {
    let period = Duration::from_millis(10);
    let timer = TimerFd::new().unwrap();
    let start = Instant::now();
    timer.arm(period, period).unwrap();
    let mut total = 0u64;
    // Each read counts the expirations up to a moment between `before` and
    // `after`; bracketing it keeps the bound exact however long this thread
    // is preempted around the read on a loaded machine.
    let (before, after) = loop {
        let mut fds = [rustix::event::PollFd::new(
            &timer,
            rustix::event::PollFlags::IN,
        )];
        let limit = rustix::time::Timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        assert_eq!(rustix::event::poll(&mut fds, Some(&limit)).unwrap(), 1);
        let before = start.elapsed();
        total += timer.expirations().unwrap();
        let after = start.elapsed();
        if before >= Duration::from_secs(2) {
            break (before, after);
        }
    };
    let periods = |d: Duration| (d.as_nanos() / period.as_nanos()) as u64;
    // The timer was armed just after `start`: at most one period fewer.
    assert!(
        total + 1 >= periods(before) && total <= periods(after),
        "{total} expirations; {} to {} periods elapsed ({before:?}..{after:?})",
        periods(before),
        periods(after)
    );
}

fn ten_thousand_realtime_signals_arrive_in_order_on_a_busy_runtime() {
    const COUNT: i32 = 10_000;
    let rt = multi_thread();
    rt.block_on(async {
        let mut signals = AsyncSignalFd::new(&SigSet::from(rt1())).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let busy: Vec<_> = (0..4)
            .map(|_| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for i in 0..10_000 {
                            x = x.wrapping_mul(31).wrapping_add(i);
                        }
                        tokio::task::yield_now().await;
                    }
                    x
                })
            })
            .collect();
        let sender = std::thread::spawn(|| {
            for value in 0..COUNT {
                sigqueue_self(rt1(), value);
            }
        });
        for expected in 0..COUNT {
            let info = tokio::time::timeout(common::LIMIT * 3, signals.recv())
                .await
                .expect("a signal was lost")
                .unwrap();
            assert_eq!(info.value_int(), expected, "in order");
        }
        sender.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        for b in busy {
            b.await.unwrap();
        }
    });
}

/// Errors name what is missing when a sandbox makes the syscalls fail: a
/// child of this binary installs a seccomp filter and checks.
fn locked_down_kernel_errors_name_what_is_missing() {
    if !cfg!(target_arch = "x86_64") {
        eprintln!("skipped: the seccomp filter in this test is written for x86_64");
        return;
    }
    for mode in ["ENOSYS", "EPERM"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .env("IOFD_SECCOMP_CHILD", mode)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("seccomp unavailable") {
            eprintln!("skipped: {stderr}");
            return;
        }
        assert!(out.status.success(), "{mode} child failed:\n{stderr}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("checked"),
            "{stderr}"
        );
    }
}

#[cfg(target_arch = "x86_64")]
fn seccomp_child(mode: &str) {
    // Made before the filter: the pidfd to test send_signal, get_fd, waitid.
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pidfd = PidFd::from_child(&child).unwrap();
    let errno = if mode == "ENOSYS" {
        libc::ENOSYS
    } else {
        libc::EPERM
    };
    let denied = [
        libc::SYS_eventfd2,
        libc::SYS_timerfd_create,
        libc::SYS_signalfd4,
        libc::SYS_pidfd_open,
        libc::SYS_memfd_create,
        libc::SYS_pidfd_send_signal,
        libc::SYS_pidfd_getfd,
    ];
    if let Err(e) = install_seccomp(&denied, errno) {
        eprintln!("seccomp unavailable: {e}");
        pidfd.send_signal(Signal::KILL).unwrap();
        child.wait().unwrap();
        std::process::exit(0);
    }
    let kind = if mode == "ENOSYS" {
        ErrorKind::Unsupported
    } else {
        ErrorKind::PermissionDenied
    };
    let check = |what: &str, err: std::io::Error, needs: &str| {
        assert_eq!(err.kind(), kind, "{what}: {err}");
        let detail = err
            .get_ref()
            .and_then(|d| d.downcast_ref::<SyscallError>())
            .unwrap_or_else(|| panic!("{what}: no SyscallError in {err:?}"));
        assert_eq!(detail.errno(), errno, "{what}");
        assert!(err.to_string().contains(needs), "{what}: {err}");
        println!("{mode} {what}: {err}");
    };
    let (version, sandbox) = (mode == "ENOSYS", "seccomp");
    let needs = |v: &'static str| if version { v } else { sandbox };
    check(
        "EventFd::new",
        EventFd::new(0).unwrap_err(),
        needs("Linux 2.6.27"),
    );
    check(
        "TimerFd::new",
        TimerFd::new().unwrap_err(),
        needs("Linux 2.6.25"),
    );
    check(
        "SignalFd::new",
        SignalFd::new(&blocked()).unwrap_err(),
        needs("Linux 2.6.27"),
    );
    check(
        "PidFd::open",
        PidFd::open(1).unwrap_err(),
        needs("Linux 5.3"),
    );
    check(
        "MemFd::new",
        MemFd::new("x").unwrap_err(),
        needs("Linux 3.17"),
    );
    if version {
        check(
            "PidFd::send_signal",
            pidfd.send_signal(Signal::CONT).unwrap_err(),
            "Linux 5.1",
        );
        check("PidFd::get_fd", pidfd.get_fd(0).unwrap_err(), "Linux 5.6");
    } else {
        // For these EPERM is a real permission answer: kept as the OS error.
        let err = pidfd.send_signal(Signal::CONT).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        let err = pidfd.get_fd(0).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
    }
    // kill(2) by the child's pid, which stays its own until it is reaped.
    child.kill().unwrap();
    child.wait().unwrap();
    println!("{mode} checked");
}

/// Installs a seccomp filter making each syscall of `blocked` fail with
/// `errno` (x86_64).
#[cfg(target_arch = "x86_64")]
fn install_seccomp(blocked: &[libc::c_long], errno: i32) -> std::io::Result<()> {
    // BPF_LD | BPF_W | BPF_ABS, BPF_JMP | BPF_JEQ | BPF_K, BPF_RET | BPF_K.
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k, jt, jf| libc::sock_filter {
        code: JEQ_K,
        jt,
        jf,
        k,
    };
    let mut program = vec![
        stmt(LD_W_ABS, 4), // seccomp_data.arch
        jump(AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
        stmt(LD_W_ABS, 0), // seccomp_data.nr
    ];
    for &nr in blocked {
        program.push(jump(nr as u32, 0, 1));
        program.push(stmt(RET_K, libc::SECCOMP_RET_ERRNO | errno as u32));
    }
    program.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers; PR_SET_SECCOMP reads
    // `prog`, which points to `program`, alive across the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn main() {
    if let Ok(mode) = std::env::var("IOFD_SECCOMP_CHILD") {
        #[cfg(target_arch = "x86_64")]
        seccomp_child(&mode);
        let _ = mode;
        return;
    }
    iofd::SignalMaskGuard::block(&blocked())
        .expect("block")
        .keep();
    common::run(&[
        (
            "descriptor_count_comes_back_exactly",
            descriptor_count_comes_back_exactly,
        ),
        (
            "emfile_everywhere_then_recovery",
            emfile_everywhere_then_recovery,
        ),
        (
            "children_inherit_only_what_is_passed_on_purpose",
            children_inherit_only_what_is_passed_on_purpose,
        ),
        (
            "eight_threads_signal_800k_and_the_drain_sums_exactly",
            eight_threads_signal_800k_and_the_drain_sums_exactly,
        ),
        (
            "semaphore_permits_match_exactly_on_a_multi_thread_runtime",
            semaphore_permits_match_exactly_on_a_multi_thread_runtime,
        ),
        (
            "periodic_timer_counts_match_two_seconds",
            periodic_timer_counts_match_two_seconds,
        ),
        (
            "ten_thousand_realtime_signals_arrive_in_order_on_a_busy_runtime",
            ten_thousand_realtime_signals_arrive_in_order_on_a_busy_runtime,
        ),
        (
            "locked_down_kernel_errors_name_what_is_missing",
            locked_down_kernel_errors_name_what_is_missing,
        ),
    ]);
}
