//! Review: `PidFd::from_owned_child` consumes the `Child` even when it
//! fails, so on `EMFILE` the caller can neither wait for nor kill the child
//! through std any more: a guaranteed zombie (or a runaway process).

use std::process::Command;

use iofd::PidFd;

/// The tests of this file run one at a time: they count threads and
/// descriptors, or lower `RLIMIT_NOFILE`, all process-wide.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(") ").unwrap().1;
    after.chars().next().unwrap()
}

#[test]
#[ignore = "review finding: from_owned_child drops the Child on error"]
fn from_owned_child_error_loses_the_child() {
    let _serial = serial();
    let child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    let (soft, hard) = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .zip(rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum)
        .unwrap();
    // The table full: the next descriptor cannot be had.
    let _ = open_fds();
    let limit = 3; // 0, 1 and 2 are open: no new descriptor number fits
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: Some(hard),
        },
    )
    .unwrap();
    let result = PidFd::from_owned_child(child);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(soft),
            maximum: Some(hard),
        },
    )
    .unwrap();
    let err = result.unwrap_err();
    println!("from_owned_child: {err} (kind {:?})", err.kind());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let s = state(pid);
    println!("child {pid} state after the error: {s}");
    // Nothing safe can reap it now: the Child was consumed by the failed call.
    assert_ne!(s, 'Z', "child {pid} left a zombie nobody holds a handle to");
}

/// A zombie child of ours that `waitid` does not see without `__WALL` (a
/// clone child: exit signal 0). `try_wait` then spins in
/// `reaped_elsewhere` (10 000 rounds of ioctl + poll + sched_yield) before
/// it answers ECHILD; inside `AsyncPidFd::wait` that spin runs in `poll`.
#[test]
#[ignore = "review finding: try_wait spins on a clone child (exit signal 0)"]
fn try_wait_on_a_clone_child_spins() {
    let _serial = serial();
    // SAFETY: test-only: fork-like clone (no new stack); the child exits at once.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            0 as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // SAFETY: leave at once.
        unsafe { libc::_exit(7) };
    }
    assert!(pid > 0);
    let pid = pid as i32;
    std::thread::sleep(std::time::Duration::from_millis(100));
    println!("child {pid} state {}", state(pid as u32));
    let pidfd = PidFd::open(pid).unwrap();
    let t0 = std::time::Instant::now();
    let r = pidfd.try_wait();
    let spent = t0.elapsed();
    let mut rounds = 0;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r2 = rt.block_on(async {
        let a = iofd::AsyncPidFd::try_from(PidFd::open(pid).unwrap()).unwrap();
        let t = std::time::Instant::now();
        let r = a.wait().await;
        rounds += 1;
        (r.map_err(|e| e.to_string()), t.elapsed())
    });
    println!("try_wait: {r:?} after {spent:?}; AsyncPidFd::wait: {r2:?}");
    // reap it for real
    let mut st = 0;
    // SAFETY: our clone child.
    unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
    println!("waitpid(__WALL) status {}", libc::WEXITSTATUS(st));
    assert!(
        spent < std::time::Duration::from_millis(2),
        "try_wait spun for {spent:?}"
    );
}

/// The same clone child in a `PidFdSet`: its exit is never reported
/// (neither a status nor an error): `next_exit` hangs.
#[test]
#[ignore = "review finding: PidFdSet never reports a clone child"]
fn pidfd_set_never_reports_a_clone_child() {
    let _serial = serial();
    // SAFETY: test-only: fork-like clone; the child exits at once.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            0 as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        // SAFETY: leave at once.
        unsafe { libc::_exit(7) };
    }
    let pid = pid as i32;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let mut set = iofd::PidFdSet::new().unwrap();
        set.insert("clone-child", PidFd::open(pid).unwrap())
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(2), set.next_exit())
            .await
            .map(|r| r.map(|(k, s)| (k, s.map_err(|e| e.to_string()))))
    });
    let mut st = 0;
    // SAFETY: our clone child.
    unsafe { libc::waitpid(pid, &mut st, libc::__WALL) };
    println!("PidFdSet::next_exit for an exited clone child: {got:?}");
    assert!(
        got.is_ok(),
        "next_exit did not report an exited child within 2 s"
    );
}
