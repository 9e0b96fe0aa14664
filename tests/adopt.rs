//! `TryFrom<OwnedFd>` for every handle: each against every wrong kind (a
//! pipe, a regular file, a socket, each other handle), the state recovered
//! from fdinfo, the flag set, and the descriptor handed back.

mod common;

use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use iofd::{AdoptError, Clock, EventFd, MemFd, PidFd, SigSet, Signal, SignalFd, TimerFd};

/// One descriptor of each kind, named.
fn every_kind() -> Vec<(&'static str, OwnedFd)> {
    let (pipe, _) = std::io::pipe().unwrap();
    let file = tempfile();
    let (socket, _) = UnixStream::pair().unwrap();
    let mut kinds = vec![
        ("pipe", OwnedFd::from(pipe)),
        ("file", OwnedFd::from(file)),
        ("socket", OwnedFd::from(socket)),
        ("eventfd", OwnedFd::from(EventFd::new(0).unwrap())),
        ("timerfd", OwnedFd::from(TimerFd::new().unwrap())),
        (
            "signalfd",
            OwnedFd::from(SignalFd::new(&SigSet::from(Signal::USR1)).unwrap()),
        ),
        ("memfd", OwnedFd::from(MemFd::new("kind").unwrap())),
    ];
    if let Ok(pidfd) = PidFd::open(std::process::id() as i32) {
        kinds.push(("pidfd", OwnedFd::from(pidfd)));
    }
    kinds
}

/// An open regular file, deleted.
fn tempfile() -> std::fs::File {
    let path = std::env::temp_dir().join(format!(
        "iofd-adopt-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let file = std::fs::File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

/// Checks that `adopt` accepts exactly the descriptor of kind `kind` and
/// refuses every other, handing it back open with `InvalidInput`.
fn accepts_only<H: std::fmt::Debug>(kind: &str, adopt: fn(OwnedFd) -> Result<H, AdoptError>) {
    for (name, fd) in every_kind() {
        let raw = fd.as_raw_fd();
        match adopt(fd) {
            Ok(handle) => {
                assert_eq!(name, kind, "{kind} adopted a {name}");
                drop(handle);
            }
            Err(err) => {
                assert_ne!(name, kind, "{kind} refused a {kind}: {err}");
                assert_eq!(err.expected(), kind);
                assert!(err.found().is_some(), "{err}");
                let message = err.to_string();
                assert!(message.contains(&format!("not a {kind}")), "{message}");
                let back = err.into_fd();
                assert_eq!(back.as_raw_fd(), raw, "the same descriptor, not a copy");
                // Still open: F_GETFD answers.
                rustix::io::fcntl_getfd(&back).unwrap();
                let io_err = std::io::Error::from(adopt(back).unwrap_err());
                assert_eq!(io_err.kind(), ErrorKind::InvalidInput, "{name}");
            }
        }
    }
}

#[test]
fn each_handle_accepts_only_its_own_kind() {
    accepts_only("eventfd", EventFd::try_from);
    accepts_only("timerfd", TimerFd::try_from);
    accepts_only("signalfd", SignalFd::try_from);
    accepts_only("memfd", MemFd::try_from);
    if common::pidfds_or_skip() {
        accepts_only("pidfd", PidFd::try_from);
    }
}

#[test]
fn what_the_error_says_it_found() {
    let (pipe, _) = std::io::pipe().unwrap();
    let err = EventFd::try_from(OwnedFd::from(pipe)).unwrap_err();
    assert!(err.found().unwrap().starts_with("pipe:["), "{err:?}");
    let err = MemFd::try_from(OwnedFd::from(TimerFd::new().unwrap())).unwrap_err();
    assert_eq!(err.found(), Some("anon_inode:[timerfd]"));
    assert_eq!(err.expected(), "memfd");
}

#[test]
fn eventfd_mode_and_counter_survive_adoption() {
    for semaphore in [false, true] {
        let efd = if semaphore {
            EventFd::new_semaphore(3).unwrap()
        } else {
            EventFd::new(3).unwrap()
        };
        let adopted = EventFd::try_from(OwnedFd::from(efd)).unwrap();
        assert_eq!(adopted.is_semaphore(), semaphore);
        assert_eq!(adopted.wait().unwrap(), if semaphore { 1 } else { 3 });
    }
}

#[test]
fn timerfd_clock_and_setting_survive_adoption() {
    for clock in [Clock::Monotonic, Clock::Realtime, Clock::Boottime] {
        let timer = TimerFd::with_clock(clock).unwrap();
        timer
            .arm(
                std::time::Duration::from_secs(100),
                std::time::Duration::from_secs(7),
            )
            .unwrap();
        let adopted = TimerFd::try_from(OwnedFd::from(timer)).unwrap();
        assert_eq!(adopted.clock(), clock);
        let (remaining, interval) = adopted.get_time().unwrap();
        assert!(remaining > std::time::Duration::from_secs(90));
        assert_eq!(interval, std::time::Duration::from_secs(7));
    }
}

#[test]
fn signalfd_mask_survives_adoption() {
    let mask = SigSet::from(Signal::USR2)
        .with(Signal::HUP)
        .with(Signal::rt(3).unwrap());
    let adopted = SignalFd::try_from(OwnedFd::from(SignalFd::new(&mask).unwrap())).unwrap();
    assert_eq!(adopted.mask(), mask);
}

#[test]
fn pidfd_pid_survives_adoption_and_it_observes_only() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "exit 4"])
        .spawn()
        .unwrap();
    let pidfd = require!(PidFd::open(child.id() as i32), reap child);
    let adopted = PidFd::try_from(OwnedFd::from(pidfd)).unwrap();
    assert_eq!(adopted.pid(), child.id() as i32);
    assert!(!adopted.reaps());
    assert_eq!(adopted.wait().unwrap().code(), Some(4));
    // Observed, not reaped: the child is still there for its owner.
    assert_eq!(child.wait().unwrap().code(), Some(4));
    // Reaped since: fdinfo says -1.
    let reaped = PidFd::try_from(OwnedFd::from(adopted)).unwrap();
    assert_eq!(reaped.pid(), -1);
}

/// The pollable handles need `O_NONBLOCK`; adoption sets it (on the shared
/// open file description) and leaves close-on-exec alone.
#[test]
fn adoption_sets_nonblocking() {
    let blocking = |fd: &OwnedFd| {
        let flags = rustix::fs::fcntl_getfl(fd).unwrap();
        rustix::fs::fcntl_setfl(fd, flags - rustix::fs::OFlags::NONBLOCK).unwrap();
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty()).unwrap();
    };
    let check = |fd: &dyn AsFd| {
        let flags = rustix::fs::fcntl_getfl(fd.as_fd()).unwrap();
        assert!(flags.contains(rustix::fs::OFlags::NONBLOCK));
        let fd_flags = rustix::io::fcntl_getfd(fd.as_fd()).unwrap();
        assert!(
            !fd_flags.contains(rustix::io::FdFlags::CLOEXEC),
            "left as it was"
        );
    };

    let fd = OwnedFd::from(EventFd::new(0).unwrap());
    blocking(&fd);
    let efd = EventFd::try_from(fd).unwrap();
    check(&efd);
    assert_eq!(efd.wait().unwrap_err().kind(), ErrorKind::WouldBlock);

    let fd = OwnedFd::from(TimerFd::new().unwrap());
    blocking(&fd);
    let timer = TimerFd::try_from(fd).unwrap();
    check(&timer);
    assert_eq!(
        timer.expirations().unwrap_err().kind(),
        ErrorKind::WouldBlock
    );

    let fd = OwnedFd::from(SignalFd::new(&SigSet::from(Signal::USR1)).unwrap());
    blocking(&fd);
    let sfd = SignalFd::try_from(fd).unwrap();
    check(&sfd);
    assert_eq!(sfd.read_info().unwrap_err().kind(), ErrorKind::WouldBlock);

    if common::pidfds_or_skip() {
        let fd = OwnedFd::from(PidFd::open(std::process::id() as i32).unwrap());
        blocking(&fd);
        let pidfd = PidFd::try_from(fd).unwrap();
        check(&pidfd);
    }
}

#[test]
fn require_seals_accepts_only_sealed_memory() {
    let memfd = MemFd::new_sealable("sealed").unwrap();
    memfd.write_all_at(b"data", 0).unwrap();
    let fd = OwnedFd::from(memfd.try_clone().unwrap());
    let err = MemFd::try_from(fd)
        .unwrap()
        .require_seals(iofd::Seals::IMMUTABLE)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("WRITE"), "{err}");

    memfd.seal(iofd::Seals::IMMUTABLE).unwrap();
    let received = MemFd::try_from(OwnedFd::from(memfd))
        .unwrap()
        .require_seals(iofd::Seals::IMMUTABLE)
        .unwrap();
    assert_eq!(received.name(), "sealed");
    let region = received.mmap(4, iofd::Protection::Read).unwrap();
    assert_eq!(region.as_slice(), Some(&b"data"[..]));
}

/// A thread with its own descriptor table (`unshare(CLONE_FILES)`) adopts
/// its own descriptor: here a pipe, at a number where the main thread's
/// table holds an eventfd. The kind is read from that thread's table, so
/// the pipe is refused (it was adopted as an `EventFd` when the main
/// thread's table was read).
#[test]
fn a_thread_with_its_own_table_adopts_its_own_descriptor() {
    let efd = EventFd::new(0).unwrap();
    let number = efd.as_raw_fd();
    let outcome = std::thread::spawn(move || {
        // SAFETY: CLONE_FILES gives this thread a private copy of the
        // table; nothing else in this thread uses descriptors meanwhile.
        if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (reader, writer) = std::io::pipe().unwrap();
        // Put the pipe's read end at `number` in this thread's table
        // (closing this table's copy of the eventfd).
        // SAFETY: `number` is open in this table (the unshared copy of
        // the eventfd), owned by nothing in this thread: this `OwnedFd`
        // becomes its owner, and dup2 replaces it.
        let mut slot = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(number) };
        rustix::io::dup2(&reader, &mut slot).unwrap();
        drop((reader, writer));
        Ok(EventFd::try_from(slot).map(|_| ()).map_err(|err| {
            let found = err.found().map(str::to_owned);
            drop(err.into_fd());
            found
        }))
    })
    .join()
    .unwrap();
    match outcome {
        Err(e) => eprintln!("skipped: unshare(CLONE_FILES): {e}"),
        Ok(adopted) => {
            let found = adopted.expect_err("a pipe adopted as an eventfd").unwrap();
            assert!(found.starts_with("pipe:["), "{found}");
        }
    }
    // The main thread's eventfd is untouched.
    efd.signal(1).unwrap();
    assert_eq!(efd.wait().unwrap(), 1);
}

/// An `O_PATH` descriptor of an eventfd (reopened through `/proc`) names
/// it but cannot read or write it: refused, saying so.
#[test]
fn an_o_path_descriptor_is_refused_as_such() {
    let efd = EventFd::new(0).unwrap();
    let path = format!("/proc/self/fd/{}", efd.as_raw_fd());
    let fd = rustix::fs::open(
        &path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let err = EventFd::try_from(fd).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("O_PATH"), "{message}");
    assert_eq!(std::io::Error::from(err).kind(), ErrorKind::InvalidInput);
}
