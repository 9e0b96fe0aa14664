//! Processes from `tokio::process` (`AsyncPidFd::from_tokio_child`), the
//! process operations on `AsyncPidFd` itself, and `PidFdSet`: the exits of
//! many processes awaited without a task per process.

#![cfg(feature = "tokio")]

mod common;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use iofd::{AsyncPidFd, PidFdSet, Signal, SignalScope};
use tokio_stream::StreamExt;
use tokio_test::{assert_pending, task};

/// Generous: a loaded 2-core machine may be slow.
const LIMIT: Duration = Duration::from_secs(30);

async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut).await.expect("timed out")
}

#[tokio::test]
async fn from_tokio_child_observes_and_tokio_reaps() {
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", "exit 3"])
        .spawn()
        .unwrap();
    let pidfd = require!(AsyncPidFd::from_tokio_child(&child));
    assert!(!pidfd.get_ref().reaps(), "tokio owns the reaping");
    assert_eq!(pidfd.get_ref().pid(), child.id().unwrap() as i32);
    assert_eq!(within(pidfd.wait()).await.unwrap().code(), Some(3));
    // Not reaped behind tokio's back: its own wait still gets the status.
    assert_eq!(child.wait().await.unwrap().code(), Some(3));
    assert_eq!(within(pidfd.exited()).await.unwrap(), ());
}

#[tokio::test]
async fn from_tokio_child_refuses_a_reaped_child() {
    if !common::pidfds_or_skip() {
        return;
    }
    let mut child = tokio::process::Command::new("true").spawn().unwrap();
    child.wait().await.unwrap();
    let err = AsyncPidFd::from_tokio_child(&child).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("reaped"), "{err}");
}

#[tokio::test]
async fn process_operations_on_the_async_handle() {
    let mut child = tokio::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pidfd = require!(AsyncPidFd::from_tokio_child(&child));
    pidfd.send_null_signal().unwrap();
    match pidfd.info() {
        Ok(info) => assert_eq!(info.pid(), Some(pidfd.get_ref().pid())),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}"),
    }
    match pidfd.send_signal_to(Signal::CONT, SignalScope::Process) {
        Ok(()) => {}
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}"),
    }
    pidfd.send_signal_value(Signal::TERM, 7).unwrap();
    assert_eq!(
        within(pidfd.wait()).await.unwrap().signal(),
        Some(libc::SIGTERM)
    );
    assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGTERM));
    // Reaped: a signal reaches no other process.
    let err = pidfd.send_signal(Signal::TERM).unwrap_err();
    assert_eq!(iofd::errno(&err), Some(libc::ESRCH));
}

#[tokio::test]
async fn a_set_yields_each_exit_once_with_its_key() {
    if !common::pidfds_or_skip() {
        return;
    }
    let mut set = PidFdSet::new().unwrap();
    assert!(set.is_empty());
    for (name, script) in [
        ("quick", "exit 1"),
        ("later", "sleep 0.1; exit 2"),
        ("killed", "exec sleep 30"),
    ] {
        let child = Command::new("sh").args(["-c", script]).spawn().unwrap();
        let pidfd = AsyncPidFd::from_owned_child(child).unwrap();
        if name == "killed" {
            pidfd.send_signal(Signal::KILL).unwrap();
        }
        set.insert(name, pidfd).unwrap();
    }
    assert_eq!(set.len(), 3);
    let mut seen = HashMap::new();
    while let Some((name, status)) = within(set.next_exit()).await {
        assert!(seen.insert(name, status.unwrap()).is_none(), "{name} twice");
    }
    assert!(set.is_empty());
    assert_eq!(seen.len(), 3);
    assert_eq!(seen["quick"].code(), Some(1));
    assert_eq!(seen["later"].code(), Some(2));
    assert_eq!(seen["killed"].signal(), Some(libc::SIGKILL));
    // Empty: `None` at once, as JoinSet::join_next.
    assert!(set.next_exit().await.is_none());
}

#[tokio::test]
async fn a_set_waits_for_running_processes_and_reaps_owned_ones() {
    if !common::pidfds_or_skip() {
        return;
    }
    let mut set = PidFdSet::new().unwrap();
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = AsyncPidFd::from_owned_child(child).unwrap();
    let killer = pidfd.get_ref().try_clone().unwrap();
    set.insert(pid, pidfd).unwrap();
    {
        let mut next = task::spawn(set.next_exit());
        assert_pending!(next.poll()); // running: nothing yet
    } // dropped: cancel safe
    killer.send_signal(Signal::KILL).unwrap();
    let (key, status) = within(set.next_exit()).await.unwrap();
    assert_eq!(key, pid);
    assert_eq!(status.unwrap().signal(), Some(libc::SIGKILL));
    // The set reaped it: the clone sees the kept status, no zombie is left.
    assert_eq!(
        killer.try_wait().unwrap().unwrap().signal(),
        Some(libc::SIGKILL)
    );
    let options = rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOHANG;
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    assert_eq!(
        rustix::process::waitid(rustix::process::WaitId::Pid(pid), options).unwrap_err(),
        rustix::io::Errno::CHILD
    );
}

#[tokio::test]
async fn a_set_of_tokio_children_is_a_stream() {
    if !common::pidfds_or_skip() {
        return;
    }
    let mut set = PidFdSet::new().unwrap();
    let mut children = Vec::new();
    for code in 0..4 {
        let child = tokio::process::Command::new("sh")
            .args(["-c", &format!("exit {code}")])
            .spawn()
            .unwrap();
        set.insert(code, AsyncPidFd::from_tokio_child(&child).unwrap())
            .unwrap();
        children.push(child);
    }
    let mut codes = Vec::new();
    while let Some((code, status)) = within(set.next()).await {
        assert_eq!(status.unwrap().code(), Some(code));
        codes.push(code);
    }
    codes.sort();
    assert_eq!(codes, [0, 1, 2, 3]);
    // Observed only: tokio still reaps each.
    for (code, mut child) in (0..).zip(children) {
        assert_eq!(child.wait().await.unwrap().code(), Some(code));
    }
}

#[tokio::test]
async fn a_set_reports_a_process_that_is_not_a_child_at_its_reap() {
    if !common::pidfds_or_skip() {
        return;
    }
    use std::io::{BufRead, BufReader};
    // A grandchild, reaped by its parent shell.
    let mut shell = Command::new("sh")
        .args(["-c", "(sleep 0.2; exit 5) & echo $!; wait"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(shell.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let grandchild: i32 = line.trim().parse().unwrap();
    let mut set = PidFdSet::new().unwrap();
    set.insert("grandchild", iofd::PidFd::open(grandchild).unwrap())
        .unwrap();
    let (key, status) = within(set.next_exit()).await.unwrap();
    assert_eq!(key, "grandchild");
    match status {
        Ok(status) => assert_eq!(status.code(), Some(5)),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}"), // before 6.15
    }
    assert!(shell.wait().unwrap().success());
}

#[tokio::test]
async fn a_set_of_many_yields_every_exit() {
    if !common::pidfds_or_skip() {
        return;
    }
    let n = if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
        4
    } else {
        64
    };
    let mut set = PidFdSet::new().unwrap();
    for i in 0..n {
        let child = Command::new("sh")
            .args(["-c", &format!("exit {}", i % 100)])
            .spawn()
            .unwrap();
        set.insert(i, AsyncPidFd::from_owned_child(child).unwrap())
            .unwrap();
    }
    let mut seen = vec![false; n];
    while let Some((i, status)) = within(set.next_exit()).await {
        assert_eq!(status.unwrap().code(), Some((i % 100) as i32));
        assert!(!std::mem::replace(&mut seen[i], true), "{i} twice");
    }
    assert!(seen.iter().all(|&s| s));
}

/// `exit_status` after `wait` on the same handle: at once for a handle
/// that reaps (owned or opened), whose `wait` reaped; on a handle that
/// only observes, pending until the child's owner reaps (the documented
/// "exited and reaped"), then ready with the same status — never a hang
/// once the owner has reaped.
#[tokio::test(flavor = "current_thread")]
async fn exit_status_after_wait_on_the_same_handle() {
    let owned = require!(AsyncPidFd::from_owned_child(
        Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap()
    ));
    assert_eq!(within(owned.wait()).await.unwrap().code(), Some(3));
    let mut status = task::spawn(owned.exit_status());
    assert_eq!(
        tokio_test::assert_ready!(status.poll()).unwrap().code(),
        Some(3)
    );

    let child = Command::new("sh").args(["-c", "exit 4"]).spawn().unwrap();
    let opened = AsyncPidFd::try_from(iofd::PidFd::open(child.id() as i32).unwrap()).unwrap();
    assert_eq!(within(opened.wait()).await.unwrap().code(), Some(4));
    let mut status = task::spawn(opened.exit_status());
    assert_eq!(
        tokio_test::assert_ready!(status.poll()).unwrap().code(),
        Some(4)
    );
    drop(child); // already reaped by `opened`

    let mut child = tokio::process::Command::new("sh")
        .args(["-c", "exit 5"])
        .spawn()
        .unwrap();
    let observing = AsyncPidFd::from_tokio_child(&child).unwrap();
    assert_eq!(within(observing.wait()).await.unwrap().code(), Some(5));
    let mut status = task::spawn(observing.exit_status());
    match status.poll() {
        std::task::Poll::Pending => {}
        // Before Linux 6.15 there is no status to wait for.
        std::task::Poll::Ready(Err(e)) if e.kind() == ErrorKind::Unsupported => {
            child.wait().await.unwrap();
            return;
        }
        std::task::Poll::Ready(other) => panic!("ready before the reap: {other:?}"),
    }
    assert_eq!(child.wait().await.unwrap().code(), Some(5)); // tokio reaps
    assert_eq!(within(status).await.unwrap().code(), Some(5));
}
