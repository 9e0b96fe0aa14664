//! Supervising processes through pidfds: `PidFd::info` and exit statuses of
//! processes that are not children, thread pidfds and signal scopes,
//! signals with a value across processes, process identity across pid
//! reuse, and `SO_PEERPIDFD`.
//!
//! `harness = false`: the test process makes itself a child subreaper (so
//! orphaned grandchildren come to it instead of to a PID 1 that may never
//! reap), and re-runs itself as a helper process for the cross-process
//! checks (`IOFD_SUPERVISE_ROLE`).

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{on_both_runtimes, pidfds_or_skip, until, within};
use iofd::{AsyncPidFd, PidFd, SigSet, Signal, SignalCode, SignalScope};
use tokio_test::{assert_pending, assert_ready, task};

const ROLE: &str = "IOFD_SUPERVISE_ROLE";

/// `Ok(value)`, or `None` (after saying why) when the kernel lacks the
/// feature: `Unsupported` with a `SyscallError`.
fn supported<T>(result: std::io::Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// A shell command that starts a grandchild blocked on our pipe (its fd 3
/// is the shell's stdin), prints its pid, then runs `then`.
fn with_grandchild(grandchild: &str, then: &str) -> (std::process::Child, i32) {
    let script = format!("exec 3<&0; ({grandchild}) & echo $!; {then}");
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().parse().unwrap())
}

fn info_describes_a_running_process() {
    let me = PidFd::open(std::process::id() as i32).unwrap();
    let Some(info) = supported(me.info()) else {
        return;
    };
    assert_eq!(info.pid(), Some(std::process::id() as i32));
    assert_eq!(info.tgid(), Some(std::process::id() as i32));
    assert_eq!(
        info.ppid(),
        Some(rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get()))
    );
    assert_eq!(info.uid(), Some(rustix::process::getuid().as_raw()));
    assert_eq!(info.euid(), Some(rustix::process::geteuid().as_raw()));
    assert_eq!(info.gid(), Some(rustix::process::getgid().as_raw()));
    assert_eq!(info.egid(), Some(rustix::process::getegid().as_raw()));
    assert!(info.cgroup_id().is_some());
    assert_eq!(info.exit_status(), None);
}

/// A child starts a grandchild; both exit (the child reaps the
/// grandchild); the grandchild's exit code comes through its pidfd, sync
/// and async, though it was never our child.
fn a_grandchilds_exit_code_through_its_pidfd() {
    let (mut child, grandchild) = with_grandchild("read x <&3; exit 7", "wait $!");
    let pidfd = PidFd::open(grandchild).unwrap();
    if supported(pidfd.info()).is_none() {
        child.kill().unwrap();
        child.wait().unwrap();
        return;
    }
    assert_eq!(pidfd.info().unwrap().ppid(), Some(child.id() as i32));
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(7), "the child reaped it");
    let Some(status) = supported(pidfd.info()).and_then(|info| info.exit_status()) else {
        eprintln!("skipped: no PIDFD_INFO_EXIT (Linux 6.15)");
        return;
    };
    assert_eq!(status.code(), Some(7));
    // Not our child, but reaped by its parent: the status PIDFD_INFO_EXIT
    // keeps, not ECHILD.
    assert_eq!(pidfd.try_wait().unwrap().unwrap().code(), Some(7));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let watch = AsyncPidFd::try_from(pidfd).unwrap();
        let status = within(watch.exit_status()).await.unwrap();
        assert_eq!(status.code(), Some(7));
        // Kept: wait now agrees instead of saying ECHILD.
        assert_eq!(within(watch.wait()).await.unwrap().code(), Some(7));
    });
}

/// A zombie whose parent does not reap it: `exited` is ready, but
/// `exit_status` stays pending until someone reaps it; then it is ready.
fn a_zombie_keeps_exit_status_pending_until_it_is_reaped() {
    on_both_runtimes(|| async {
        // The parent becomes `sleep 30`, which never reaps.
        let (mut child, grandchild) = with_grandchild("read x <&3; exit 5", "exec sleep 30");
        // Let the grandchild exit only once its parent is `sleep`: the
        // shell itself would reap it.
        let comm = format!("/proc/{}/comm", child.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" {
            assert!(
                std::time::Instant::now() < deadline,
                "the shell never became sleep"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Observe only: once the zombie becomes our child, a reaping handle
        // would reap it itself; here the test reaps it, as its new parent.
        let watch = std::sync::Arc::new(
            AsyncPidFd::try_from(PidFd::open(grandchild).unwrap().observe_only()).unwrap(),
        );
        if supported(watch.get_ref().info()).is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            return;
        }
        // A real task, polled by the runtime.
        let status = tokio::spawn({
            let watch = std::sync::Arc::clone(&watch);
            async move { watch.exit_status().await }
        });
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        within(watch.exited()).await.unwrap();
        // Exited, a zombie: the task has seen it (it was woken) and waits on.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!status.is_finished(), "pending while a zombie");
        assert_eq!(watch.get_ref().info().unwrap().exit_status(), None);

        // Kill the parent: the zombie comes to us (the subreaper); reaping
        // it here wakes the task.
        child.kill().unwrap();
        child.wait().unwrap();
        let pid = rustix::process::Pid::from_raw(grandchild).unwrap();
        let reaped = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
            .unwrap()
            .unwrap();
        assert_eq!(reaped.1.exit_status(), Some(5));
        match within(status).await.unwrap() {
            Ok(status) => assert_eq!(status.code(), Some(5)),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported), // before 6.15
        }
    });
}

/// `exit_status` waiting past the exit (a zombie) does not hide the exit
/// from `exited` and `wait` on the same handle, however the polls
/// interleave.
fn waiting_for_the_reap_does_not_hide_the_exit() {
    on_both_runtimes(|| async {
        let mut child = Command::new("sh")
            .args(["-c", "read x; exit 4"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let watch = AsyncPidFd::from_child(&child).unwrap(); // observes only
        if supported(watch.get_ref().info()).is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            return;
        }
        // Two waiters for the reap on one handle.
        let mut status = task::spawn(watch.exit_status());
        let mut other = task::spawn(watch.exit_status());
        assert_pending!(status.poll());
        assert_pending!(other.poll());
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        until(|| status.is_woken() && other.is_woken()).await;
        // Exited, not reaped: these polls see it and wait on.
        assert_pending!(status.poll());
        assert_pending!(other.poll());
        // An `exited` and a `wait` that start only now still see the exit.
        within(watch.exited()).await.unwrap();
        assert_eq!(within(watch.wait()).await.unwrap().code(), Some(4));
        assert_eq!(child.wait().unwrap().code(), Some(4)); // the owner reaps
        until(|| status.is_woken() && other.is_woken()).await;
        assert_eq!(assert_ready!(status.poll()).unwrap().code(), Some(4));
        assert_eq!(assert_ready!(other.poll()).unwrap().code(), Some(4));
    });
}

/// For a child: `wait` and `exit_status` agree; a reaping handle reaps in
/// `exit_status`; an observing handle waits for the owner's reap.
fn exit_status_agrees_with_wait() {
    on_both_runtimes(|| async {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let reaping = AsyncPidFd::from_owned_child(child).unwrap();
        let status = within(reaping.exit_status()).await.unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(within(reaping.wait()).await.unwrap(), status);

        let mut child = Command::new("sh").args(["-c", "exit 4"]).spawn().unwrap();
        let observing = AsyncPidFd::from_child(&child).unwrap();
        assert_eq!(within(observing.wait()).await.unwrap().code(), Some(4));
        if supported(observing.get_ref().info()).is_none() {
            child.wait().unwrap();
            return;
        }
        let mut status = task::spawn(observing.exit_status());
        assert_pending!(status.poll(), "observed, not yet reaped by its owner");
        assert_eq!(child.wait().unwrap().code(), Some(4));
        until(|| status.is_woken()).await;
        assert_eq!(assert_ready!(status.poll()).unwrap().code(), Some(4));
    });
}

/// A thread id is not a process: `open` says so and names the process;
/// `open_thread` opens it, signals reach that thread only, and the pidfd
/// reports the thread's exit.
fn thread_pidfds_and_scopes() {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // SIGUSR2 stays pending on this thread, read by its own signalfd.
        let set = SigSet::from(Signal::USR2);
        let _blocked = iofd::SignalMaskGuard::block(&set).unwrap();
        let signals = iofd::SignalFd::new(&set).unwrap();
        tid_tx
            .send(rustix::thread::gettid().as_raw_nonzero().get())
            .unwrap();
        stop_rx.recv().unwrap();
        signals.read_info()
    });
    let tid = tid_rx.recv().unwrap();

    let err = PidFd::open(tid).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let message = err.to_string();
    assert!(message.contains("open_thread"), "{message}");
    assert!(
        message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );

    let Some(pidfd) = supported(PidFd::open_thread(tid)) else {
        stop_tx.send(()).unwrap();
        let _ = thread.join().unwrap();
        return;
    };
    assert_eq!(pidfd.pid(), tid);
    assert!(!pidfd.reaps(), "a thread is never reaped through its pidfd");
    // Threads are not waited for: waitid says the thread is no child.
    let err = pidfd.try_wait().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
    pidfd.send_null_signal().unwrap();
    // Thread-directed: the main thread does not block SIGUSR2, and would
    // die if the signal came to it.
    pidfd
        .send_signal_to(Signal::USR2, SignalScope::Thread)
        .unwrap();
    stop_tx.send(()).unwrap();
    let info = thread.join().unwrap().unwrap();
    assert_eq!(info.signal(), Some(Signal::USR2));
    assert_eq!(info.pid(), std::process::id() as i32);
    // The thread has exited: its pidfd says so.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !pidfd.has_exited().unwrap() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    let err = pidfd.send_null_signal().unwrap_err();
    assert_eq!(iofd::errno(&err), Some(libc::ESRCH));
}

/// `ProcessGroup` reaches every process of the group: the leader and the
/// grandchild it started.
fn a_process_group_scope_reaches_the_whole_group() {
    let mut leader = Command::new("sh")
        .args(["-c", "sleep 30 & echo $!; wait"])
        .process_group(0)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(leader.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sleeper = PidFd::open(line.trim().parse().unwrap()).unwrap();
    let pidfd = PidFd::from_child(&leader).unwrap();
    if supported(pidfd.send_signal_to(Signal::TERM, SignalScope::ProcessGroup)).is_none() {
        pidfd.send_signal(Signal::KILL).unwrap();
        sleeper.send_signal(Signal::KILL).unwrap();
        leader.wait().unwrap();
        return;
    }
    assert_eq!(leader.wait().unwrap().signal(), Some(libc::SIGTERM));
    // The sleep was the shell's child; it is ours now (subreaper).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !sleeper.has_exited().unwrap() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(sleeper.wait().unwrap().signal(), Some(libc::SIGTERM));
}

/// `send_signal_value` to another process, which reads it with an
/// `AsyncSignalFd`: the value, our pid and uid, and `SI_QUEUE` arrive.
fn a_signal_with_a_value_reaches_another_process() {
    let mut receiver = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "receiver")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(receiver.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let pidfd = PidFd::from_child(&receiver).unwrap();
    pidfd
        .send_signal_value(Signal::rt(1).unwrap(), -123_456)
        .unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    let expected = format!(
        "value=-123456 pid={} uid={} code=Queue",
        std::process::id(),
        rustix::process::getuid().as_raw()
    );
    assert_eq!(line.trim(), expected);
    assert!(receiver.wait().unwrap().success());
}

/// The helper process of `a_signal_with_a_value_reaches_another_process`.
fn receiver() {
    let set = SigSet::from(Signal::rt(1).unwrap());
    iofd::SignalMaskGuard::block(&set).unwrap().keep();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut signals = iofd::AsyncSignalFd::new(&set).unwrap();
        println!("ready");
        let info = signals.recv().await.unwrap();
        let code = match info.code() {
            SignalCode::Queue => "Queue",
            _ => "other",
        };
        println!(
            "value={} pid={} uid={} code={code}",
            info.value_int(),
            info.pid(),
            info.uid()
        );
    });
}

/// A pid reused by a new process: the old pidfd still names the old
/// process, and `process_id` tells the two apart. The pid is made to repeat
/// by writing `ns_last_pid` (root only); otherwise what can be checked
/// without reuse is checked.
fn process_identity_survives_pid_reuse() {
    let mut first = Command::new("sleep").arg("30").spawn().unwrap();
    let old = PidFd::from_child(&first).unwrap();
    let Some(old_id) = supported(old.process_id()) else {
        first.kill().unwrap();
        first.wait().unwrap();
        return;
    };
    let again = PidFd::open(first.id() as i32).unwrap();
    assert!(old.is_same_process(&again).unwrap());
    first.kill().unwrap();
    first.wait().unwrap();

    let pid = first.id() as i32;
    let mut reused = None;
    for _ in 0..20 {
        if std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1)).is_err() {
            break;
        }
        let mut second = Command::new("sleep").arg("30").spawn().unwrap();
        if second.id() as i32 == pid {
            reused = Some(second);
            break;
        }
        second.kill().unwrap();
        second.wait().unwrap();
    }
    let mut second = match reused {
        Some(second) => second,
        None => {
            eprintln!("skipped pid reuse: cannot make pid {pid} repeat (ns_last_pid needs root)");
            let mut second = Command::new("sleep").arg("30").spawn().unwrap();
            let new = PidFd::from_child(&second).unwrap();
            assert_ne!(new.process_id().unwrap(), old_id);
            second.kill().unwrap();
            second.wait().unwrap();
            return;
        }
    };
    let new = PidFd::from_child(&second).unwrap();
    assert_eq!(new.pid(), old.pid(), "the same pid");
    assert_ne!(new.process_id().unwrap(), old_id, "another process");
    assert!(!old.is_same_process(&new).unwrap());
    // The old pidfd does not reach the new process.
    let err = old.send_null_signal().unwrap_err();
    assert_eq!(iofd::errno(&err), Some(libc::ESRCH));
    new.send_null_signal().unwrap();
    second.kill().unwrap();
    second.wait().unwrap();
}

/// `SO_PEERPIDFD`: the process that connected, from a std and a tokio
/// socket; it is that process (by identity), not a pid.
fn the_peer_of_a_socket_is_the_process_that_connected() {
    let path = std::env::temp_dir().join(format!("iofd-peer-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut peer = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "connect")
        .env("IOFD_SUPERVISE_PATH", &path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    std::fs::remove_file(&path).unwrap();
    let Some(pidfd) = supported(PidFd::of_peer(&stream)) else {
        drop(peer.stdin.take());
        peer.wait().unwrap();
        return;
    };
    assert_eq!(pidfd.pid(), peer.id() as i32);
    assert!(!pidfd.reaps());
    let child = PidFd::from_child(&peer).unwrap();
    if let Ok(same) = pidfd.is_same_process(&child) {
        assert!(same);
    }
    // The same through a tokio socket.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        stream.set_nonblocking(true).unwrap();
        let stream = tokio::net::UnixStream::from_std(stream).unwrap();
        let again = PidFd::of_peer(&stream).unwrap();
        assert_eq!(again.pid(), peer.id() as i32);
    });
    drop(peer.stdin.take());
    assert!(peer.wait().unwrap().success());
    // An unconnected socket has no peer.
    let lonely = std::os::unix::net::UnixDatagram::unbound().unwrap();
    assert!(PidFd::of_peer(&lonely).is_err());
}

/// The helper process of `the_peer_of_a_socket_is_the_process_that_connected`.
fn connect() {
    let path = std::env::var_os("IOFD_SUPERVISE_PATH").unwrap();
    let _stream = std::os::unix::net::UnixStream::connect(path).unwrap();
    // Hold the connection until the parent closes our stdin.
    let mut rest = String::new();
    let _ = std::io::stdin().read_line(&mut rest);
}

/// Whether the kernel is at least `major.minor` (for features that fail
/// silently rather than with an error before it).
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let mut uname = std::mem::MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: uname fills the struct it is given, which is zeroed, so its
    // strings stay NUL-terminated.
    let uname = unsafe {
        libc::uname(uname.as_mut_ptr());
        uname.assume_init()
    };
    // SAFETY: `release` is a NUL-terminated string inside `uname`.
    let release = unsafe { std::ffi::CStr::from_ptr(uname.release.as_ptr()) }.to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse::<u32>().ok());
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// A thread pidfd sent through `pass` and taken as a `PidFd` is known as
/// a thread's: when only that thread exits, no process exit status is
/// reported, synchronously or asynchronously, while `exited` says the
/// thread has exited.
fn a_thread_pidfd_is_never_a_process_exit() {
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        tid_tx
            .send(rustix::thread::gettid().as_raw_nonzero().get())
            .unwrap();
        stop_rx.recv().unwrap();
    });
    let tid = tid_rx.recv().unwrap();
    let Some(opened) = supported(PidFd::open_thread(tid)) else {
        stop_tx.send(()).unwrap();
        thread.join().unwrap();
        return;
    };
    assert!(opened.is_thread());
    let (here, there) = std::os::unix::net::UnixStream::pair().unwrap();
    iofd::pass::send(&here, b"t", &[opened.as_fd()]).unwrap();
    drop(opened);
    let mut buf = [0u8; 4];
    let mut received = iofd::pass::recv(&there, &mut buf).unwrap();
    let pidfd: PidFd = received.take().unwrap();
    assert!(pidfd.is_thread(), "adoption read PIDFD_THREAD");
    assert_eq!(pidfd.pid(), tid);
    let main = PidFd::open(std::process::id() as i32).unwrap();
    assert!(!main.is_thread());

    stop_tx.send(()).unwrap();
    thread.join().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !pidfd.has_exited().unwrap() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    // The thread has exited (and been released); the process lives on.
    let err = pidfd.try_wait().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
    if let Ok(info) = pidfd.info() {
        assert!(info.is_thread());
        assert_eq!(info.exit_status(), None, "a thread's exit is no process's");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let watch = AsyncPidFd::try_from(pidfd).unwrap();
        within(watch.exited()).await.unwrap();
        let err = within(watch.exit_status()).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECHILD), "{err}");
        let err = within(watch.wait()).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECHILD), "{err}");
        let err = watch.get_ref().try_wait().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECHILD), "{err}");
    });
}

/// Two reaping handles (`PidFd::open` twice) on one child: whichever
/// reaps, the other's waits get the same status (from PIDFD_INFO_EXIT),
/// never ECHILD, with several waiters on each.
#[expect(
    clippy::zombie_processes,
    reason = "the two PidFd::open handles reap the children: that is what this test checks"
)]
fn two_reapers_give_every_waiter_the_same_status() {
    if !kernel_at_least(6, 15) {
        eprintln!("skipped: PIDFD_INFO_EXIT needs Linux 6.15");
        return;
    }
    // Deterministic: `a` reaps first, then `b` asks.
    let child = Command::new("sh").args(["-c", "exit 5"]).spawn().unwrap();
    let a = PidFd::open(child.id() as i32).unwrap();
    let b = PidFd::open(child.id() as i32).unwrap();
    assert_eq!(a.wait().unwrap().code(), Some(5));
    assert_eq!(b.try_wait().unwrap().map(|s| s.code()), Some(Some(5)));
    assert_eq!(b.wait().unwrap().code(), Some(5));

    on_both_runtimes(|| async {
        let mut child = Command::new("sh")
            .args(["-c", "read x; exit 5"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                std::sync::Arc::new(
                    AsyncPidFd::try_from(PidFd::open(child.id() as i32).unwrap()).unwrap(),
                )
            })
            .collect();
        let mut waiters = Vec::new();
        for handle in &handles {
            for _ in 0..3 {
                let handle = std::sync::Arc::clone(handle);
                waiters.push(tokio::spawn(async move { handle.wait().await }));
            }
        }
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        for waiter in waiters {
            let status = within(waiter).await.unwrap().unwrap();
            assert_eq!(status.code(), Some(5));
        }
        for handle in &handles {
            assert_eq!(within(handle.wait()).await.unwrap().code(), Some(5));
        }
    });
}

/// Starts a child with exit signal 0 (a "clone" child, as `clone3` makes
/// by default) that exits with `code` at once. `waitid` sees such a child
/// only with `__WALL`.
fn clone_child_exiting(code: i32) -> i32 {
    // No CLONE_* flag and exit signal 0: a fork whose parent gets no
    // SIGCHLD. The child calls only `_exit`, which is async-signal-safe.
    // SAFETY: as fork(2); the child runs nothing but `_exit`.
    let pid = unsafe { libc::syscall(libc::SYS_clone, 0usize, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        // SAFETY: ends the child at once, running no Rust code of ours.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0, "clone: {}", std::io::Error::last_os_error());
    pid as i32
}

/// A clone child (exit signal 0) is waited for like any child: the sync
/// `try_wait`, `AsyncPidFd::wait`/`exit_status` and a `PidFdSet` all get
/// its status at once and reap it. (Before `__WALL`, `waitid` answered
/// `ECHILD` for it: `try_wait` spun, then said `ECHILD`, and the async
/// waits stayed pending for ever.)
fn a_clone_child_is_waited_for_like_any_child() {
    if !pidfds_or_skip() {
        return;
    }
    let all = rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::NOHANG
        | rustix::process::WaitIdOptions::NOWAIT
        | rustix::process::WaitIdOptions::from_bits_retain(libc::__WALL as u32);
    let reaped = |pid: i32| {
        let pid = rustix::process::Pid::from_raw(pid).unwrap();
        rustix::process::waitid(rustix::process::WaitId::Pid(pid), all).is_err()
    };
    let pid = clone_child_exiting(3);
    let pidfd = PidFd::open(pid).unwrap(); // a reaping handle
    while !pidfd.has_exited().unwrap() {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(pidfd.try_wait().unwrap().unwrap().code(), Some(3));
    assert!(reaped(pid));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pid = clone_child_exiting(5);
        let watch = AsyncPidFd::try_from(PidFd::open(pid).unwrap()).unwrap();
        assert_eq!(within(watch.wait()).await.unwrap().code(), Some(5));
        assert_eq!(within(watch.exit_status()).await.unwrap().code(), Some(5));
        assert!(reaped(pid));

        // The same through a PidFdSet.
        let pid = clone_child_exiting(4);
        let mut set = iofd::PidFdSet::new().unwrap();
        set.insert("clone", PidFd::open(pid).unwrap()).unwrap();
        let (key, status) = within(set.next_exit()).await.unwrap();
        assert_eq!((key, status.unwrap().code()), ("clone", Some(4)));
        assert!(reaped(pid));
    });
}

/// Whether `pid` is still a child of this process that could be waited for.
fn is_unreaped_child(pid: i32) -> bool {
    let options = rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::NOHANG
        | rustix::process::WaitIdOptions::NOWAIT;
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    rustix::process::waitid(rustix::process::WaitId::Pid(pid), options).is_ok()
}

/// Waits up to 10 s until `pid` is no longer an unreaped child.
fn reaped_within_10s(pid: i32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while is_unreaped_child(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A process `fork`ed while the parent's helper thread runs inherits the
/// record of that thread, but no thread: an owning handle it drops there
/// still has its child reaped (by a helper thread of its own), and the
/// parent's orphan is still reaped by the parent's.
fn a_forked_process_reaps_its_own_orphans() {
    if !pidfds_or_skip() {
        return;
    }
    let sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let parents = sleeper.id() as i32;
    drop(PidFd::from_owned_child(sleeper).unwrap()); // the helper thread runs
    let observer = PidFd::open(parents).unwrap().observe_only();
    // SAFETY: the child runs only the closure below and `_exit`s; it
    // spawns a process and a thread, which glibc allows after fork.
    let forked = unsafe { libc::fork() };
    assert!(forked >= 0, "fork: {}", std::io::Error::last_os_error());
    if forked == 0 {
        let reaped = std::panic::catch_unwind(|| {
            let child = Command::new("sleep").arg("0.1").spawn().unwrap();
            let pid = child.id() as i32;
            drop(PidFd::from_owned_child(child).unwrap());
            reaped_within_10s(pid)
        });
        // SAFETY: ends the forked process without running the parent's
        // atexit handlers or destructors.
        unsafe { libc::_exit(if matches!(reaped, Ok(true)) { 0 } else { 1 }) };
    }
    let forked = rustix::process::Pid::from_raw(forked).unwrap();
    let (_, status) = rustix::process::waitpid(Some(forked), rustix::process::WaitOptions::empty())
        .unwrap()
        .unwrap();
    assert_eq!(
        status.exit_status(),
        Some(0),
        "the forked process kept a zombie"
    );
    observer.send_signal(Signal::KILL).unwrap();
    assert!(
        reaped_within_10s(parents),
        "the parent's orphan was not reaped"
    );
}

/// `of_peer` on a peer that has exited and been reaped: ESRCH, as
/// documented (not a pidfd with pid -1).
fn the_peer_that_was_reaped_is_esrch() {
    let path = std::env::temp_dir().join(format!("iofd-reaped-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut peer = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "connect")
        .env("IOFD_SUPERVISE_PATH", &path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    std::fs::remove_file(&path).unwrap();
    drop(peer.stdin.take());
    assert!(peer.wait().unwrap().success());
    match PidFd::of_peer(&stream) {
        Err(e) if e.kind() == ErrorKind::Unsupported => eprintln!("skipped: {e}"),
        Err(e) => assert_eq!(iofd::errno(&e), Some(libc::ESRCH), "{e}"),
        Ok(pidfd) => panic!("a reaped peer: {pidfd:?}"),
    }
}

/// Without `/proc` (a private mount namespace with an empty tmpfs over
/// it), `of_peer` still returns the pidfd the kernel made, with its pid
/// (from PIDFD_GET_INFO).
fn the_peer_is_known_without_proc() {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "noproc")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    if let Some(why) = said.trim().strip_prefix("skipped: ") {
        eprintln!("skipped: {why}");
        return;
    }
    assert_eq!(said.trim(), "ok");
}

/// The helper process of `the_peer_is_known_without_proc`.
fn noproc() {
    // SAFETY: unshare and mount change only this (single-threaded)
    // process's mount namespace; the strings are NUL-terminated.
    let hidden = unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
            && libc::mount(
                c"none".as_ptr(),
                c"/proc".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            ) == 0
    };
    if !hidden {
        println!(
            "skipped: cannot hide /proc: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    assert!(!std::path::Path::new("/proc/self").exists());
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    match PidFd::of_peer(&a) {
        Ok(peer) => {
            if kernel_at_least(6, 13) {
                assert_eq!(peer.pid(), std::process::id() as i32);
            }
            peer.send_null_signal().unwrap();
            println!("ok");
        }
        Err(e) if e.kind() == ErrorKind::Unsupported => println!("skipped: {e}"),
        Err(e) => println!("of_peer without /proc: {e}"),
    }
}

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("receiver") => return receiver(),
        Ok("connect") => return connect(),
        Ok("noproc") => return noproc(),
        _ => {}
    }
    if !pidfds_or_skip() {
        return;
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    common::run(&[
        (
            "info_describes_a_running_process",
            info_describes_a_running_process,
        ),
        (
            "a_grandchilds_exit_code_through_its_pidfd",
            a_grandchilds_exit_code_through_its_pidfd,
        ),
        (
            "a_zombie_keeps_exit_status_pending_until_it_is_reaped",
            a_zombie_keeps_exit_status_pending_until_it_is_reaped,
        ),
        ("exit_status_agrees_with_wait", exit_status_agrees_with_wait),
        (
            "waiting_for_the_reap_does_not_hide_the_exit",
            waiting_for_the_reap_does_not_hide_the_exit,
        ),
        ("thread_pidfds_and_scopes", thread_pidfds_and_scopes),
        (
            "a_process_group_scope_reaches_the_whole_group",
            a_process_group_scope_reaches_the_whole_group,
        ),
        (
            "a_signal_with_a_value_reaches_another_process",
            a_signal_with_a_value_reaches_another_process,
        ),
        (
            "process_identity_survives_pid_reuse",
            process_identity_survives_pid_reuse,
        ),
        (
            "the_peer_of_a_socket_is_the_process_that_connected",
            the_peer_of_a_socket_is_the_process_that_connected,
        ),
        (
            "a_thread_pidfd_is_never_a_process_exit",
            a_thread_pidfd_is_never_a_process_exit,
        ),
        (
            "two_reapers_give_every_waiter_the_same_status",
            two_reapers_give_every_waiter_the_same_status,
        ),
        (
            "a_clone_child_is_waited_for_like_any_child",
            a_clone_child_is_waited_for_like_any_child,
        ),
        (
            "a_forked_process_reaps_its_own_orphans",
            a_forked_process_reaps_its_own_orphans,
        ),
        (
            "the_peer_that_was_reaped_is_esrch",
            the_peer_that_was_reaped_is_esrch,
        ),
        (
            "the_peer_is_known_without_proc",
            the_peer_is_known_without_proc,
        ),
    ]);
}
