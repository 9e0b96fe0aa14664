//! Review: `PidFd::from_owned_child` consumes the `Child` even when it
//! fails, so on `EMFILE` the caller can neither wait for nor kill the child
//! through std any more: a guaranteed zombie (or a runaway process).

use std::process::Command;

use iofd::PidFd;

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(") ").unwrap().1;
    after.chars().next().unwrap()
}

#[test]
fn from_owned_child_error_loses_the_child() {
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
        rustix::process::Rlimit { current: Some(limit), maximum: Some(hard) },
    )
    .unwrap();
    let result = PidFd::from_owned_child(child);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit { current: Some(soft), maximum: Some(hard) },
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
