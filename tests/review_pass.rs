//! Review: `iofd::pass` under socket options a peer (or a previous holder of
//! the socket) can set. `harness = false` would be nicer; these tests count
//! nothing process-wide, so the default harness is fine.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use iofd::EventFd;
use iofd::pass::{self, MAX_FDS, Truncated};

/// The tests of this file run one at a time: one of them lowers
/// `RLIMIT_NOFILE`, which is process-wide.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn setsockopt_int(fd: BorrowedFd<'_>, opt: i32, value: i32) {
    // SAFETY: test-only: an int option on an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&value as *const i32).cast(),
            4,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt {opt}: {}",
        std::io::Error::last_os_error()
    );
}

fn pair(kind: i32) -> (UnixStream, UnixStream) {
    let mut fds = [0; 2];
    assert_eq!(
        // SAFETY: test-only: `fds` has room for the two descriptors.
        unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                kind | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        },
        0
    );
    // SAFETY: fresh descriptors.
    unsafe {
        (
            UnixStream::from(OwnedFd::from_raw_fd(fds[0])),
            UnixStream::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

/// SO_TIMESTAMPING (48-byte cmsg) on the receiving socket: a message with
/// exactly MAX_FDS descriptors (within the documented limit) must arrive.
fn run(kind: i32, opt: i32, value: i32, name: &str) {
    let _serial = serial();
    let (here, there) = pair(kind);
    setsockopt_int(there.as_fd(), opt, value);
    let efd = EventFd::new(0).unwrap();
    let fds: Vec<BorrowedFd<'_>> = (0..MAX_FDS).map(|_| efd.as_fd()).collect();
    pass::send(&here, b"x", &fds).unwrap();
    let mut buf = [0u8; 8];
    match pass::recv(&there, &mut buf) {
        Ok(r) => println!("{name}: Ok, {} fds", r.fd_count()),
        Err(e) => {
            let t = Truncated::of(&e).map(|t| (t.fds_arrived(), t.reason()));
            panic!("{name}: {MAX_FDS} fds refused: {e} ({t:?})");
        }
    }
}

const SO_TIMESTAMPING_OLD: i32 = 37;
const SOF_RX_SOFTWARE_AND_SOFTWARE: i32 = (1 << 3) | (1 << 4);

#[test]
fn seqpacket_with_so_timestamping_takes_max_fds() {
    run(
        libc::SOCK_SEQPACKET,
        SO_TIMESTAMPING_OLD,
        SOF_RX_SOFTWARE_AND_SOFTWARE,
        "seqpacket+SO_TIMESTAMPING",
    );
}

#[test]
fn seqpacket_with_so_timestampns_takes_max_fds() {
    run(
        libc::SOCK_SEQPACKET,
        libc::SO_TIMESTAMPNS,
        1,
        "seqpacket+SO_TIMESTAMPNS",
    );
}

#[test]
fn stream_with_so_timestamping_takes_max_fds() {
    run(
        libc::SOCK_STREAM,
        SO_TIMESTAMPING_OLD,
        SOF_RX_SOFTWARE_AND_SOFTWARE,
        "stream+SO_TIMESTAMPING",
    );
}

#[test]
fn seqpacket_with_timestampns_passcred_passpidfd_takes_max_fds() {
    let _serial = serial();
    let (here, there) = pair(libc::SOCK_SEQPACKET);
    setsockopt_int(there.as_fd(), libc::SO_TIMESTAMPNS, 1);
    pass::set_pass_credentials(&there, true).unwrap();
    pass::set_pass_pidfd(&there, true).unwrap();
    let efd = EventFd::new(0).unwrap();
    let fds: Vec<BorrowedFd<'_>> = (0..MAX_FDS).map(|_| efd.as_fd()).collect();
    pass::send(&here, b"x", &fds).unwrap();
    let mut buf = [0u8; 8];
    match pass::recv(&there, &mut buf) {
        Ok(r) => println!("Ok, {} fds", r.fd_count()),
        Err(e) => panic!(
            "MAX_FDS refused: {e} ({:?})",
            Truncated::of(&e).map(|t| (t.fds_arrived(), t.reason()))
        ),
    }
}

/// Every control message a Unix message socket attaches at once (both
/// timestamp families, the credentials, the pidfd, `SO_PASSSEC`): a message
/// with exactly `MAX_FDS` descriptors arrives whole, on seqpacket and
/// datagram sockets, and one more is `TooManyFds` with nothing leaked.
#[test]
fn every_unix_control_message_at_once_still_takes_max_fds() {
    let _serial = serial();
    for (kind, name) in [
        (libc::SOCK_SEQPACKET, "seqpacket"),
        (libc::SOCK_DGRAM, "dgram"),
        (libc::SOCK_STREAM, "stream"),
    ] {
        let (here, there) = pair(kind);
        setsockopt_int(there.as_fd(), libc::SO_TIMESTAMPNS, 1);
        setsockopt_int(
            there.as_fd(),
            SO_TIMESTAMPING_OLD,
            SOF_RX_SOFTWARE_AND_SOFTWARE,
        );
        setsockopt_int(there.as_fd(), libc::SO_PASSSEC, 1);
        pass::set_pass_credentials(&there, true).unwrap();
        // SO_PASSPIDFD is Linux 6.5; without it, one message fewer.
        let _ = pass::set_pass_pidfd(&there, true);
        let efd = EventFd::new(0).unwrap();
        let before = open_fds();
        for count in [MAX_FDS, MAX_FDS + 1] {
            let fds: Vec<BorrowedFd<'_>> = (0..count).map(|_| efd.as_fd()).collect();
            raw_send(&here, &fds);
            let mut buf = [0u8; 8];
            match pass::recv(&there, &mut buf) {
                Ok(r) => {
                    assert_eq!(count, MAX_FDS, "{name}: {count} fds accepted");
                    assert_eq!(r.fd_count(), MAX_FDS, "{name}");
                    assert!(r.credentials().is_some(), "{name}: credentials");
                }
                Err(e) => {
                    let t = Truncated::of(&e).map(|t| t.reason());
                    assert_eq!(count, MAX_FDS + 1, "{name}: {count} fds refused: {e}");
                    assert_eq!(t, Some(pass::Truncation::TooManyFds), "{name}: {e}");
                }
            }
        }
        assert_eq!(open_fds(), before, "{name}: descriptors leaked");
    }
}

/// A peer's send, without `pass::send`'s own limit.
fn raw_send(socket: &UnixStream, fds: &[BorrowedFd<'_>]) {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
    let mut space = vec![std::mem::MaybeUninit::uninit(); 24 + 4 * fds.len()];
    let mut control = SendAncillaryBuffer::new(&mut space);
    assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
    let sent = sendmsg(
        socket,
        &[std::io::IoSlice::new(b"x")],
        &mut control,
        SendFlags::empty(),
    )
    .unwrap();
    assert_eq!(sent, 1);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Out of descriptors with SO_PASSCRED + SO_PASSPIDFD, for every room left
/// from 0 to 6: nothing leaks, and the error (or the Ok) is consistent.
#[test]
fn out_of_descriptors_with_pidfd_and_creds_leaks_nothing() {
    let _serial = serial();
    if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
        // valgrind emulates RLIMIT_NOFILE for the client: the kernel's
        // limit, which decides here, does not change.
        eprintln!("skipped: RLIMIT_NOFILE is emulated under valgrind");
        return;
    }
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let (here, there) = pair(libc::SOCK_STREAM);
    pass::set_pass_credentials(&there, true).unwrap();
    pass::set_pass_pidfd(&there, true).unwrap();
    let efd = EventFd::new(0).unwrap();
    let old = getrlimit(Resource::Nofile);
    for room in 0..7u64 {
        let fds: Vec<BorrowedFd<'_>> = (0..4).map(|_| efd.as_fd()).collect();
        pass::send(&here, b"abc", &fds).unwrap();
        let before = open_fds() - 1;
        let max = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .max()
            .unwrap();
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(max + 8),
                maximum: old.maximum,
            },
        )
        .unwrap();
        let mut fillers = Vec::new();
        while let Ok(fd) = rustix::io::fcntl_dupfd_cloexec(&efd, 0) {
            fillers.push(fd);
        }
        for _ in 0..room {
            fillers.pop();
        }
        let mut buf = [0u8; 8];
        let r = pass::recv(&there, &mut buf);
        drop(fillers);
        setrlimit(Resource::Nofile, old).unwrap();
        let summary = match &r {
            Ok(r) => format!(
                "Ok len {} fds {} creds {:?}",
                r.len(),
                r.fd_count(),
                r.credentials().map(|c| c.pid())
            ),
            Err(e) => format!(
                "Err {e} {:?}",
                Truncated::of(e).map(|t| (t.len(), t.fds_arrived(), t.reason()))
            ),
        };
        drop(r);
        let after = open_fds() - 1;
        println!("room {room}: {summary}; fds before {before} after {after}");
        assert_eq!(before, after, "room {room}: descriptors leaked");
    }
}
