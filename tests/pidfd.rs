//! `PidFd`: opening, signalling, waiting, `pidfd_getfd`, and error paths.

mod common;

use std::io::ErrorKind;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use iofd::{Fd, PidFd, Signal};

fn sleeper() -> std::process::Child {
    Command::new("sleep").arg("30").spawn().unwrap()
}

#[test]
fn send_term_then_status_reports_the_signal() {
    let child = sleeper();
    let pid = child.id() as i32;
    let pidfd = require!(PidFd::from_owned_child(child));
    assert_eq!(pidfd.pid(), pid);
    assert_eq!(pidfd.try_wait().unwrap(), None, "running");
    assert!(!pidfd.has_exited().unwrap());
    pidfd.send_signal(Signal::TERM).unwrap();
    let status = pidfd.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert_eq!(status.code(), None);
    assert!(!status.core_dumped());
}

#[test]
fn exit_code_is_reported() {
    let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    let pidfd = require!(PidFd::from_owned_child(child));
    let status = pidfd.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    assert!(!status.success());
    // Every later wait gives the same status.
    assert_eq!(pidfd.try_wait().unwrap(), Some(status));
    assert_eq!(pidfd.wait().unwrap(), status);
}

#[test]
fn from_child_leaves_reaping_to_the_std_child() {
    let mut child = Command::new("sh").args(["-c", "exit 5"]).spawn().unwrap();
    let pidfd = require!(PidFd::from_child(&child), reap child);
    assert!(!pidfd.reaps());
    let status = pidfd.wait().unwrap();
    assert_eq!(status.code(), Some(5));
    // Not reaped behind std's back: the zombie still holds the pid, so
    // Child::kill cannot reach another process, and Child::try_wait
    // reaps it and sees the same status.
    child.kill().unwrap();
    assert_eq!(child.try_wait().unwrap(), Some(status));
    assert_eq!(child.wait().unwrap(), status);
    // The pidfd still answers, from the kept status.
    assert_eq!(pidfd.wait().unwrap(), status);
}

#[test]
#[expect(
    clippy::zombie_processes,
    reason = "PidFd::open reaps the child: this test checks that it does"
)]
fn open_reaps_and_every_waiter_gets_the_status() {
    let child = Command::new("sh").args(["-c", "exit 6"]).spawn().unwrap();
    let pidfd = require!(PidFd::open(child.id() as i32));
    assert!(pidfd.reaps());
    let statuses: Vec<_> = std::thread::scope(|scope| {
        let waiters: Vec<_> = (0..4).map(|_| scope.spawn(|| pidfd.wait())).collect();
        waiters
            .into_iter()
            .map(|w| w.join().unwrap().unwrap())
            .collect()
    });
    assert!(statuses.iter().all(|s| s.code() == Some(6)), "{statuses:?}");
    // Reaped by the pidfd: the pid is released.
    let err = pidfd.send_signal(Signal::TERM).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
}

#[test]
fn zero_exit_is_success() {
    let child = Command::new("true").spawn().unwrap();
    let pidfd = require!(PidFd::from_owned_child(child));
    assert!(pidfd.wait().unwrap().success());
}

#[test]
fn try_wait_polls_until_exit() {
    let child = Command::new("sh")
        .args(["-c", "sleep 0.05; exit 7"])
        .spawn()
        .unwrap();
    let pidfd = require!(PidFd::from_owned_child(child));
    let mut polls = 0;
    let status = loop {
        if let Some(status) = pidfd.try_wait().unwrap() {
            break status;
        }
        polls += 1;
        assert!(polls < 30_000, "child never exited");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(status.code(), Some(7));
    assert!(
        polls > 0,
        "try_wait returned None at least once while it ran"
    );
}

#[test]
#[expect(
    clippy::zombie_processes,
    reason = "a PidFd from open_blocking reaps the child: this test waits through it"
)]
fn blocking_pidfd_waits_too() {
    let child = Command::new("sh").args(["-c", "exit 5"]).spawn().unwrap();
    let pidfd = require!(PidFd::open_blocking(child.id() as i32));
    assert!(
        !rustix::fs::fcntl_getfl(&pidfd)
            .unwrap()
            .contains(rustix::fs::OFlags::NONBLOCK)
    );
    assert_eq!(pidfd.wait().unwrap().code(), Some(5));
}

#[test]
fn created_nonblocking_and_cloexec() {
    let child = sleeper();
    let pid = child.id();
    let pidfd = require!(PidFd::from_owned_child(child));
    assert!(
        rustix::fs::fcntl_getfl(&pidfd)
            .unwrap()
            .contains(rustix::fs::OFlags::NONBLOCK)
    );
    assert!(
        rustix::io::fcntl_getfd(&pidfd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
    let dbg = format!("{pidfd:?}");
    assert!(dbg.contains(&format!("pid: {pid}")), "{dbg}");
    pidfd.send_signal(Signal::KILL).unwrap();
    assert_eq!(pidfd.wait().unwrap().signal(), Some(libc::SIGKILL));
    let _: OwnedFd = pidfd.into();
}

#[test]
fn non_positive_pids_are_invalid_input() {
    for pid in [0, -1, i32::MIN] {
        let err = PidFd::open(pid).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{pid}");
        assert!(err.to_string().contains(&pid.to_string()), "{err}");
        assert_eq!(
            PidFd::open_blocking(pid).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}

#[test]
fn nonexistent_pid_is_esrch() {
    // Above the kernel's pid_max limit (at most 2^22), so it never exists.
    let err = PidFd::open(i32::MAX).unwrap_err();
    if err.get_ref().is_some_and(|e| e.is::<iofd::SyscallError>()) {
        eprintln!("skipped: {err}");
        return;
    }
    assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
}

#[test]
fn signal_to_a_zombie_succeeds_and_after_reaping_is_esrch() {
    let mut child = Command::new("true").spawn().unwrap();
    let pidfd = require!(PidFd::from_child(&child), reap child);
    assert!(pidfd.wait().unwrap().success());
    // A zombie still takes signals.
    pidfd.send_signal(Signal::TERM).unwrap();
    child.wait().unwrap();
    let err = pidfd.send_signal(Signal::TERM).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    assert!(pidfd.has_exited().unwrap());
}

#[test]
fn reserved_signals_are_invalid_input() {
    if libc::SIGRTMIN() <= 32 {
        return; // no reserved signals with this C library
    }
    let child = sleeper();
    let pidfd = require!(PidFd::from_owned_child(child));
    let err = pidfd.send_signal(Signal::new(32).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    pidfd.send_signal(Signal::KILL).unwrap();
    pidfd.wait().unwrap();
}

#[test]
fn non_child_can_be_watched_but_not_reaped() {
    // Our own process: not our child.
    let me = require!(PidFd::open(std::process::id() as i32));
    assert!(!me.has_exited().unwrap());
    assert_eq!(
        me.try_wait().unwrap_err().raw_os_error(),
        Some(libc::ECHILD)
    );
}

#[test]
fn get_fd_duplicates_a_pipe_end_of_our_own_process() {
    let (reader, writer) = std::io::pipe().unwrap();
    let me = require!(PidFd::open(std::process::id() as i32));
    let copy: Fd = match me.get_fd(writer.as_raw_fd()) {
        Ok(copy) => copy,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            eprintln!("skipped: pidfd_getfd needs ptrace rights here ({e})");
            return;
        }
        Err(e) => panic!("pidfd_getfd: {e}"),
    };
    assert_ne!(copy.as_raw_fd(), writer.as_raw_fd());
    assert!(copy.is_cloexec().unwrap());
    drop(writer);
    copy.write(b"through the copy").unwrap();
    drop(copy);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &reader, &mut text).unwrap();
    assert_eq!(text, "through the copy");
}

#[test]
fn get_fd_errors() {
    let me = require!(PidFd::open(std::process::id() as i32));
    assert_eq!(me.get_fd(-1).unwrap_err().kind(), ErrorKind::InvalidInput);
    let err = me.get_fd(i32::MAX - 1).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
}

#[test]
fn get_fd_on_another_users_process_is_eperm_or_works_as_root() {
    // pid 1 belongs to another security context unless we are root.
    let Ok(init) = PidFd::open(1) else { return };
    match init.get_fd(0) {
        Ok(_) => eprintln!("pidfd_getfd on pid 1 worked: we have ptrace rights (root)"),
        Err(e) => assert!(
            matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EBADF)),
            "{e}"
        ),
    }
}

#[test]
fn child_output_is_untouched_by_the_pidfd() {
    let mut child = Command::new("echo")
        .arg("hi")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let pidfd = require!(PidFd::from_owned_child(child));
    assert!(pidfd.wait().unwrap().success());
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
    assert_eq!(out, "hi\n");
}

#[test]
fn is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PidFd>();
}

/// Clones share the kept status: the clone reaps, and the original (whose
/// own `waitid` would now say `ECHILD`) still answers with the status.
#[test]
#[expect(
    clippy::zombie_processes,
    reason = "PidFd::open reaps the child: this test checks that a clone does"
)]
fn clones_share_the_exit_status_whoever_reaps() {
    let child = Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
    let pidfd = require!(PidFd::open(child.id() as i32));
    let clone = pidfd.try_clone().unwrap();
    assert_ne!(clone.as_raw_fd(), pidfd.as_raw_fd());
    assert_eq!(clone.pid(), pidfd.pid());
    assert!(clone.reaps());
    assert_eq!(clone.wait().unwrap().code(), Some(9));
    // Reaped: the kernel knows no such child any more.
    assert_eq!(
        rustix::process::waitid(
            rustix::process::WaitId::Pid(rustix::process::Pid::from_raw(pidfd.pid()).unwrap()),
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOHANG,
        )
        .unwrap_err(),
        rustix::io::Errno::CHILD
    );
    assert_eq!(pidfd.try_wait().unwrap().unwrap().code(), Some(9));
    assert_eq!(pidfd.wait().unwrap().code(), Some(9));
    // An observe-only clone stays observe-only.
    assert!(!pidfd.try_clone().unwrap().observe_only().reaps());
    pidfd.close().unwrap();
    clone.close().unwrap();
}

/// `send_null_signal` is `kill(pid, 0)`: fine while the process runs and
/// while it is a zombie, `ESRCH` once it is reaped; nothing is delivered.
#[test]
fn null_signal_probes_existence() {
    let mut child = sleeper();
    let pidfd = require!(PidFd::from_child(&child), reap child);
    pidfd.send_null_signal().unwrap();
    pidfd.send_null_signal().unwrap();
    assert_eq!(pidfd.try_wait().unwrap(), None, "signal 0 delivers nothing");
    pidfd.send_signal(Signal::KILL).unwrap();
    let status = pidfd.wait().unwrap(); // observed, not reaped: a zombie
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    pidfd.send_null_signal().unwrap();
    child.wait().unwrap(); // reaped
    let err = pidfd.send_null_signal().unwrap_err();
    assert_eq!(iofd::errno(&err), Some(libc::ESRCH));
}
