//! Review findings on the process handles, now fixed: `from_owned_child`
//! lost the `Child` when it failed (a zombie, or a runaway nobody could
//! kill); a child with exit signal 0 (`clone3`'s default) was invisible to
//! `waitid` without `__WALL` (`try_wait` spun then said `ECHILD`,
//! `AsyncPidFd::wait` and `PidFdSet` never answered); plus the `PidFdSet`
//! cases checked after them.

// Most of these tests go through `AsyncPidFd` and `PidFdSet`.
#![cfg(feature = "tokio")]

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

/// Whether pidfds can be had here (valgrind lacks `pidfd_open`); says
/// `skipped:` if not.
fn pidfds_work() -> bool {
    match PidFd::open(std::process::id() as i32) {
        Ok(_) => true,
        Err(e) => {
            println!("skipped: pidfd_open: {e}");
            false
        }
    }
}

fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(") ").unwrap().1;
    after.chars().next().unwrap()
}

#[test]
fn from_owned_child_error_loses_the_child() {
    let _serial = serial();
    if !pidfds_work() {
        return;
    }
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
    assert_eq!(err.error().raw_os_error(), Some(libc::EMFILE), "{err}");
    // The error hands the Child back: it can still be reaped.
    let (mut child, error) = err.into_parts();
    assert_eq!(error.raw_os_error(), Some(libc::EMFILE));
    assert_eq!(child.id(), pid);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        std::fs::metadata(format!("/proc/{pid}")).is_err() || state(pid) != 'Z',
        "child {pid} left a zombie"
    );
}

/// The same with `AsyncPidFd::from_owned_child`, failing at registration
/// (no runtime): the `Child` comes back, and its pidfd did not reap it.
#[test]
fn async_from_owned_child_error_hands_the_child_back() {
    let _serial = serial();
    if !pidfds_work() {
        return;
    }
    let child = Command::new("sh").args(["-c", "exit 4"]).spawn().unwrap();
    let pid = child.id();
    let err = iofd::AsyncPidFd::from_owned_child(child).unwrap_err();
    println!("AsyncPidFd::from_owned_child outside a runtime: {err}");
    let (mut child, _error) = err.into_parts();
    assert_eq!(child.id(), pid);
    // Reaped by its `Child`, not by the dropped pidfd nor the helper thread.
    assert_eq!(child.wait().unwrap().code(), Some(4));
    // And `?` in an io::Result function keeps the io::Error.
    fn adopt(child: std::process::Child) -> std::io::Result<iofd::PidFd> {
        Ok(PidFd::from_owned_child(child)?)
    }
    assert!(
        adopt(Command::new("true").spawn().unwrap())
            .unwrap()
            .wait()
            .unwrap()
            .success()
    );
}

/// A child made by a plain `clone` with exit signal 0 (clone3's default),
/// exited at once. Without `__WALL`, `waitid` does not see it: `try_wait`
/// spun in `reaped_elsewhere` (10 000 rounds of ioctl + poll +
/// sched_yield) and answered `ECHILD`, and `AsyncPidFd::wait` stayed
/// pending for ever.
fn clone_child(code: i32) -> i32 {
    // SAFETY: test-only: fork-like clone (no new stack, exit signal 0);
    // the child only calls `_exit`.
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
        // SAFETY: leave at once, running nothing of the parent's.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0, "clone: {}", std::io::Error::last_os_error());
    pid as i32
}

/// Whether `pid` is still there to be reaped (`waitid(__WALL | WNOWAIT)`).
fn reapable(pid: i32) -> bool {
    // SAFETY: a zeroed siginfo_t is valid; waitid only writes it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; WNOWAIT leaves the child as it is.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WALL,
        )
    };
    r == 0
}

#[test]
fn try_wait_on_a_clone_child_spins() {
    let _serial = serial();
    if !pidfds_work() {
        return;
    }
    let pid = clone_child(7);
    let pidfd = PidFd::open(pid).unwrap();
    assert!(pidfd.reaps());
    // Blocks until it has exited, then reaps it.
    let status = pidfd.wait();
    println!("PidFd::wait on clone child {pid}: {status:?}");
    assert_eq!(status.unwrap().code(), Some(7));
    assert_eq!(pidfd.try_wait().unwrap().and_then(|s| s.code()), Some(7));
    assert!(!reapable(pid), "child {pid} was not reaped");

    let pid = clone_child(9);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        let a = iofd::AsyncPidFd::try_from(PidFd::open(pid).unwrap()).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(20), a.wait()).await
    });
    println!("AsyncPidFd::wait on clone child {pid}: {status:?}");
    assert_eq!(
        status.expect("AsyncPidFd::wait hung").unwrap().code(),
        Some(9)
    );
    assert!(!reapable(pid), "child {pid} was not reaped");
}

/// The same clone child in a `PidFdSet`: its exit is never reported
/// (neither a status nor an error): `next_exit` hangs.
#[test]
fn pidfd_set_never_reports_a_clone_child() {
    let _serial = serial();
    if !pidfds_work() {
        return;
    }
    let pid = clone_child(7);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let mut set = iofd::PidFdSet::new().unwrap();
        set.insert("clone-child", PidFd::open(pid).unwrap())
            .unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(20), set.next_exit())
            .await
            .map(|r| r.map(|(k, s)| (k, s.map(|s| s.code()).map_err(|e| e.to_string()))));
        (got, set.len())
    });
    println!("PidFdSet::next_exit for an exited clone child: {got:?}");
    let (got, left) = got;
    assert_eq!(
        got.expect("next_exit did not report an exited child"),
        Some(("clone-child", Ok(Some(7))))
    );
    assert_eq!(left, 0);
    assert!(!reapable(pid), "child {pid} was not reaped");
}

/// A `PidFdSet` dropped while it holds an owning handle of a running
/// child: the child is reaped when it exits (by the helper thread), not
/// left a zombie.
#[test]
fn pidfd_set_dropped_with_a_running_owned_child_reaps_it() {
    let _serial = serial();
    if !pidfds_work() {
        return;
    }
    let mut child = Command::new("sh")
        .args(["-c", "read x"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let pid = child.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut set = iofd::PidFdSet::new().unwrap();
        set.insert("reader", iofd::AsyncPidFd::from_owned_child(child).unwrap())
            .unwrap();
        drop(set);
    });
    drop(stdin); // the child exits now
    let mut gone = false;
    for _ in 0..2_000 {
        if !reapable(pid as i32) {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(gone, "child {pid} of a dropped PidFdSet was never reaped");
}

/// A thread pidfd in a `PidFdSet`: the thread's exit is reported as an
/// error for its key, never as a process's exit status.
#[test]
fn pidfd_set_reports_a_thread_exit_as_an_error() {
    let _serial = serial();
    if !pidfds_work() {
        return;
    }
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        tid_tx
            .send(rustix::thread::gettid().as_raw_nonzero().get())
            .unwrap();
        let _ = go_rx.recv();
    });
    let tid = tid_rx.recv().unwrap();
    let pidfd = match PidFd::open_thread(tid) {
        Ok(pidfd) => pidfd,
        Err(e) => {
            println!("skipped: PidFd::open_thread: {e}");
            drop(go_tx);
            thread.join().unwrap();
            return;
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let mut set = iofd::PidFdSet::new().unwrap();
        set.insert("thread", pidfd).unwrap();
        drop(go_tx);
        thread.join().unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(20), set.next_exit()).await
    });
    println!("PidFdSet::next_exit for an exited thread: {got:?}");
    let (key, result) = got.expect("next_exit hung").expect("one entry");
    assert_eq!(key, "thread");
    let err = result.expect_err("a thread's exit reported as a process's status");
    assert_eq!(err.raw_os_error(), Some(libc::ECHILD), "{err}");
}

/// The same child twice in a `PidFdSet` (a handle and its `try_clone`,
/// under one key), inserted after it has exited: both entries are
/// reported, with the same status, and the child is reaped.
#[test]
fn pidfd_set_reports_an_exited_child_inserted_twice() {
    let _serial = serial();
    if !pidfds_work() {
        return;
    }
    let child = Command::new("sh").args(["-c", "exit 6"]).spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = PidFd::from_owned_child(child).unwrap();
    while !pidfd.has_exited().unwrap() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let clone = pidfd.try_clone().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let mut set = iofd::PidFdSet::new().unwrap();
        set.insert("twice", pidfd).unwrap();
        set.insert("twice", clone).unwrap();
        let mut got = Vec::new();
        while let Some((key, status)) =
            tokio::time::timeout(std::time::Duration::from_secs(20), set.next_exit())
                .await
                .expect("next_exit hung")
        {
            got.push((key, status.map(|s| s.code()).map_err(|e| e.to_string())));
        }
        got
    });
    println!("PidFdSet with one child twice: {got:?}");
    assert_eq!(got, vec![("twice", Ok(Some(6))), ("twice", Ok(Some(6)))]);
    assert!(!reapable(pid), "child {pid} was not reaped");
}
