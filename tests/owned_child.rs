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
