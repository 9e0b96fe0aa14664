//! `PidFd::from_owned_child` and `AsyncPidFd::from_owned_child`: a child
//! handed over by value is reaped by its pidfd, so no zombie is left.

mod common;

use std::io::{ErrorKind, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use iofd::{PidFd, Signal};
use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};

/// Whether `pid` is still a child of this process that can be waited for
/// (running or a zombie): `waitid(P_PID, WNOWAIT | WNOHANG)`.
fn is_unreaped_child(pid: i32) -> bool {
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    match waitid(WaitId::Pid(Pid::from_raw(pid).unwrap()), options) {
        Ok(_) => true,
        Err(rustix::io::Errno::CHILD) => false,
        Err(e) => panic!("waitid: {e}"),
    }
}

#[test]
fn wait_reaps_the_owned_child() {
    let child = Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = require!(PidFd::from_owned_child(child));
    assert!(pidfd.reaps());
    assert_eq!(pidfd.pid(), pid);
    assert_eq!(pidfd.wait().unwrap().code(), Some(9));
    assert!(!is_unreaped_child(pid), "the child is still a zombie");
    // Every later wait gets the kept status; a signal cannot reach a
    // process that reused the pid.
    assert_eq!(pidfd.try_wait().unwrap().and_then(|s| s.code()), Some(9));
    let err = pidfd.send_signal(Signal::TERM).unwrap_err();
    assert_eq!(iofd::errno(&err), Some(libc::ESRCH));
}

#[test]
fn kill_then_wait_leaves_nothing() {
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = require!(PidFd::from_owned_child(child));
    assert_eq!(pidfd.try_wait().unwrap(), None);
    pidfd.send_signal(Signal::KILL).unwrap();
    assert_eq!(pidfd.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(!is_unreaped_child(pid));
}

#[test]
fn pipes_taken_first_stay_open() {
    let mut child = Command::new("sh")
        .args(["-c", "echo hello"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let pidfd = require!(PidFd::from_owned_child(child));
    let mut text = String::new();
    out.read_to_string(&mut text).unwrap();
    assert_eq!(text, "hello\n");
    assert!(pidfd.wait().unwrap().success());
}

#[test]
fn an_already_reaped_child_is_refused() {
    if !common::pidfds_or_skip() {
        return;
    }
    let mut child = Command::new("true").spawn().unwrap();
    child.wait().unwrap(); // reaped: the pid may name another process now
    let err = PidFd::from_owned_child(child).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("already been reaped"), "{err}");
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn async_wait_reaps_the_owned_child() {
    let child = Command::new("sh").args(["-c", "exit 4"]).spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = require!(iofd::AsyncPidFd::from_owned_child(child));
    assert!(pidfd.get_ref().reaps());
    assert_eq!(pidfd.wait().await.unwrap().code(), Some(4));
    assert!(!is_unreaped_child(pid), "the child is still a zombie");
    assert_eq!(pidfd.exit_status().await.unwrap().code(), Some(4));
}

/// Waits (up to a generous bound) until `pid` is no longer a child of this
/// process that could be waited for: reaped by someone.
fn reaped_within_10s(pid: i32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while is_unreaped_child(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    true
}

/// An owning handle dropped while its child runs: the child is reaped once
/// it exits (by the process's helper thread), never left a zombie.
#[test]
fn a_dropped_owning_handle_of_a_running_child_leaves_no_zombie() {
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = require!(PidFd::from_owned_child(child));
    // Observe only: a handle to kill it by, that reaps nothing.
    let observer = PidFd::open(pid).unwrap().observe_only();
    drop(pidfd);
    assert!(is_unreaped_child(pid), "still running: nothing to reap yet");
    observer.send_signal(Signal::KILL).unwrap();
    assert!(reaped_within_10s(pid), "child {pid} left a zombie");
    // The observer cannot reach a process that reused the pid.
    let err = observer.send_signal(Signal::KILL).unwrap_err();
    assert_eq!(iofd::errno(&err), Some(libc::ESRCH));
}

/// An owning handle dropped after its child exited: reaped in the drop
/// itself (no thread needed).
#[test]
fn a_dropped_owning_handle_of_an_exited_child_reaps_it_at_once() {
    let child = Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = require!(PidFd::from_owned_child(child));
    let observer = PidFd::open(pid).unwrap().observe_only();
    observer.wait().unwrap(); // exited, a zombie (observed, not reaped)
    assert!(is_unreaped_child(pid));
    drop(pidfd);
    assert!(
        !is_unreaped_child(pid),
        "the drop did not reap the exited child"
    );
}

/// Clones share the duty: the child is reaped only when the last owning
/// clone goes, and a clone still alive gets the status.
#[test]
fn the_last_dropped_clone_reaps() {
    let child = Command::new("sh").args(["-c", "exit 6"]).spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = require!(PidFd::from_owned_child(child));
    let clone = pidfd.try_clone().unwrap();
    let observer = PidFd::open(pid).unwrap().observe_only();
    observer.wait().unwrap();
    drop(pidfd);
    assert!(is_unreaped_child(pid), "a clone still owns it");
    assert_eq!(clone.wait().unwrap().code(), Some(6));
    assert!(!is_unreaped_child(pid));
    drop(clone);
}

/// Converting an owning handle into a descriptor hands the child over to
/// the caller: nothing reaps it behind the caller's back.
#[test]
fn into_owned_fd_hands_the_child_over() {
    let child = Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = require!(PidFd::from_owned_child(child));
    let fd = std::os::fd::OwnedFd::from(pidfd);
    let observer = PidFd::open(pid).unwrap().observe_only();
    observer.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(is_unreaped_child(pid), "reaped although handed over");
    let reaped = PidFd::try_from(fd).unwrap(); // adopted: observes only
    assert!(!reaped.reaps());
    drop(reaped);
    assert!(is_unreaped_child(pid));
    let options = WaitIdOptions::EXITED;
    waitid(WaitId::Pid(Pid::from_raw(pid).unwrap()), options).unwrap();
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn a_dropped_async_owning_handle_leaves_no_zombie() {
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = require!(iofd::AsyncPidFd::from_owned_child(child));
    let observer = PidFd::open(pid).unwrap().observe_only();
    drop(pidfd);
    observer.send_signal(Signal::KILL).unwrap();
    let reaped = tokio::task::spawn_blocking(move || reaped_within_10s(pid))
        .await
        .unwrap();
    assert!(reaped, "child {pid} left a zombie");
}

/// The ids of this process's threads named `iofd-helper`.
fn helper_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim() == "iofd-helper").then(|| task.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// The helper thread serves orphans only while there are some: once every
/// dropped child is reaped it ends, and at most one runs at any time.
#[test]
fn the_helper_thread_ends_when_its_orphans_are_reaped() {
    if !common::pidfds_or_skip() {
        return;
    }
    let observers: Vec<_> = (0..3)
        .map(|_| {
            let child = Command::new("sleep").arg("30").spawn().unwrap();
            let pid = child.id() as i32;
            drop(PidFd::from_owned_child(child).unwrap());
            (pid, PidFd::open(pid).unwrap().observe_only())
        })
        .collect();
    assert!(helper_threads().len() <= 1, "{:?}", helper_threads());
    for (pid, observer) in &observers {
        observer.send_signal(Signal::KILL).unwrap();
        assert!(reaped_within_10s(*pid), "child {pid} left a zombie");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !helper_threads().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the helper thread did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
