//! `iofd::pass`: handles over Unix sockets, sync and async, and every error
//! path with exact descriptor accounting.
//!
//! `harness = false`: the tests run one after another on the main thread, so
//! the count of open descriptors (`/proc/self/fd`) is this test's alone.

mod common;

use std::io::{ErrorKind, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use iofd::pass::{self, MAX_FDS};
use iofd::{EventFd, MemFd, PidFd, Protection, Seals, TimerFd};
use tokio_test::{assert_pending, assert_ready, task};

fn open_fds() -> usize {
    // The read_dir itself holds one descriptor while it counts.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn is_cloexec(fd: impl AsFd) -> bool {
    rustix::io::fcntl_getfd(fd)
        .unwrap()
        .contains(rustix::io::FdFlags::CLOEXEC)
}

/// A sealed memfd, an eventfd doorbell and a pidfd, with a payload: each
/// comes out typed, close-on-exec, a new descriptor for the same object.
fn handles_round_trip_typed_and_close_on_exec() {
    let (here, there) = UnixStream::pair().unwrap();
    let memfd = MemFd::new_sealable("shared").unwrap();
    memfd.write_all_at(b"payload", 0).unwrap();
    memfd
        .seal(Seals::IMMUTABLE | Seals::GROW | Seals::SEAL)
        .unwrap();
    let doorbell = EventFd::new(0).unwrap();
    let me = PidFd::open(std::process::id() as i32).ok();
    let mut fds = vec![memfd.as_fd(), doorbell.as_fd()];
    if let Some(me) = &me {
        fds.push(me.as_fd());
    }

    assert_eq!(pass::send(&here, b"hello", &fds).unwrap(), 5);
    let mut buf = [0u8; 32];
    let mut received = pass::recv(&there, &mut buf).unwrap();
    assert_eq!(&buf[..received.len()], b"hello");
    assert_eq!(received.fd_count(), fds.len());

    let shared = received
        .take::<MemFd>()
        .unwrap()
        .require_seals(Seals::IMMUTABLE)
        .unwrap();
    assert_ne!(shared.as_raw_fd(), memfd.as_raw_fd());
    assert!(is_cloexec(&shared));
    assert_eq!(shared.name(), "shared");
    let region = shared.mmap(7, Protection::Read).unwrap();
    assert_eq!(region.as_slice(), Some(&b"payload"[..]));

    let bell: EventFd = received.take().unwrap();
    assert!(is_cloexec(&bell));
    bell.signal(5).unwrap();
    assert_eq!(doorbell.wait().unwrap(), 5, "the same counter");

    if me.is_some() {
        let pidfd: PidFd = received.take().unwrap();
        assert!(is_cloexec(&pidfd));
        assert_eq!(pidfd.pid(), std::process::id() as i32);
    }
    assert_eq!(received.fd_count(), 0);
    let err = received.take::<EventFd>().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
}

/// A pipe where a `MemFd` was expected: `InvalidInput`, and the pipe stays
/// in the `Received` (the same descriptor), so nothing is closed that the
/// caller did not get; dropping everything brings the count back exactly.
fn a_wrong_kind_is_refused_and_handed_back() {
    let before = open_fds();
    {
        let (here, there) = UnixStream::pair().unwrap();
        let (reader, writer) = std::io::pipe().unwrap();
        let timer = TimerFd::new().unwrap();
        pass::send(&here, b"x", &[reader.as_fd(), timer.as_fd()]).unwrap();
        drop(reader);
        let mut buf = [0u8; 4];
        let mut received = pass::recv(&there, &mut buf).unwrap();
        let err = received.take::<MemFd>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("pipe:["), "{err}");
        assert_eq!(received.fd_count(), 2, "the pipe is still there");
        let pipe = received.take_fd().unwrap();
        // It is the pipe: what is written comes out of it.
        (&writer).write_all(b"!").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(rustix::io::read(&pipe, &mut one).unwrap(), 1);
        let _timer: TimerFd = received.take().unwrap();
    }
    assert_eq!(open_fds(), before, "nothing leaked");
}

/// Descriptors never taken from a `Received` are closed with it.
fn untaken_descriptors_are_closed_with_the_received() {
    let (here, there) = UnixStream::pair().unwrap();
    let efd = EventFd::new(0).unwrap();
    let timer = TimerFd::new().unwrap();
    let before = open_fds();
    pass::send(&here, b"two", &[efd.as_fd(), timer.as_fd()]).unwrap();
    let mut buf = [0u8; 8];
    let received = pass::recv(&there, &mut buf).unwrap();
    assert_eq!(received.fd_count(), 2);
    assert_eq!(open_fds(), before + 2, "two new descriptors arrived");
    drop(received);
    assert_eq!(open_fds(), before, "both closed, none taken");
}

/// More descriptors than `MAX_FDS` (sent with a raw `sendmsg`, since
/// `pass::send` refuses them): `MSG_CTRUNC` is an error, and no descriptor
/// is left open.
fn a_truncated_control_message_is_an_error_and_leaks_nothing() {
    let (here, there) = UnixStream::pair().unwrap();
    let efd = EventFd::new(0).unwrap();
    let many: Vec<BorrowedFd<'_>> = (0..MAX_FDS + 4).map(|_| efd.as_fd()).collect();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS + 4))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(&many)));
    let sent = rustix::net::sendmsg(
        &here,
        &[std::io::IoSlice::new(b"z")],
        &mut control,
        rustix::net::SendFlags::empty(),
    )
    .unwrap();
    assert_eq!(sent, 1);

    let before = open_fds();
    let mut buf = [0u8; 4];
    let err = pass::recv(&there, &mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("MAX_FDS"), "{err}");
    let truncated = pass::Truncated::of(&err).unwrap();
    assert_eq!(truncated.reason(), pass::Truncation::TooManyFds);
    assert_eq!(truncated.len(), 1, "the payload length survives");
    assert_eq!(
        open_fds(),
        before,
        "the descriptors that arrived were closed"
    );
}

fn bad_input_is_refused_before_any_syscall() {
    let (here, there) = UnixStream::pair().unwrap();
    let efd = EventFd::new(0).unwrap();
    let before = open_fds();
    let too_many: Vec<BorrowedFd<'_>> = (0..=MAX_FDS).map(|_| efd.as_fd()).collect();
    let err = pass::send(&here, b"x", &too_many).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("MAX_FDS"), "{err}");
    let err = pass::send(&here, b"", &[efd.as_fd()]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = pass::recv(&there, &mut []).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // Nothing was sent: a nonblocking receive finds the socket empty.
    there.set_nonblocking(true).unwrap();
    let err = pass::recv(&there, &mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert_eq!(open_fds(), before);
}

/// A plain message carries no descriptor; a closed peer reads as 0 bytes;
/// sending to a closed peer is `BrokenPipe`, not a `SIGPIPE` that kills.
fn plain_bytes_end_of_stream_and_broken_pipe() {
    let (here, there) = UnixStream::pair().unwrap();
    assert_eq!(pass::send(&here, b"just bytes", &[]).unwrap(), 10);
    let mut buf = [0u8; 32];
    let mut received = pass::recv(&there, &mut buf).unwrap();
    assert_eq!(received.len(), 10);
    assert_eq!(received.fd_count(), 0);
    assert!(received.take_fd().is_none());
    drop(here);
    let received = pass::recv(&there, &mut buf).unwrap();
    assert!(received.is_empty());
    assert!(received.is_end_of_stream());

    let (here, there) = UnixStream::pair().unwrap();
    drop(there);
    let efd = EventFd::new(0).unwrap();
    let err = pass::send(&here, b"x", &[efd.as_fd()]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}

/// Descriptors go with their own message: a receive does not merge a
/// message that carries descriptors into the bytes of the one before.
fn each_message_keeps_its_own_descriptors() {
    let (here, there) = UnixStream::pair().unwrap();
    let first = EventFd::new(1).unwrap();
    let second = EventFd::new(2).unwrap();
    pass::send(&here, b"one", &[first.as_fd()]).unwrap();
    pass::send(&here, b"two", &[second.as_fd()]).unwrap();
    let mut buf = [0u8; 64];
    for (text, value) in [(&b"one"[..], 1), (&b"two"[..], 2)] {
        let mut received = pass::recv(&there, &mut buf).unwrap();
        assert_eq!(&buf[..received.len()], text);
        assert_eq!(received.fd_count(), 1);
        let efd: EventFd = received.take().unwrap();
        assert_eq!(efd.wait().unwrap(), value);
    }
}

/// The async forms: `recv_async` is pending until a message comes, then
/// ready with it; `send_async` sends; both runtime flavours.
fn async_send_and_recv() {
    common::on_both_runtimes(|| async {
        let (here, there) = tokio::net::UnixStream::pair().unwrap();
        let doorbell = EventFd::new(0).unwrap();
        let mut buf = [0u8; 16];
        {
            let mut recv = task::spawn(pass::recv_async(&there, &mut buf));
            assert_pending!(recv.poll());
            pass::send_async(&here, b"ring", &[doorbell.as_fd()])
                .await
                .unwrap();
            common::until(|| recv.is_woken()).await;
            let mut received = assert_ready!(recv.poll()).unwrap();
            assert_eq!(received.len(), 4);
            let bell: EventFd = received.take().unwrap();
            assert!(is_cloexec(&bell));
            bell.signal(1).unwrap();
        }
        assert_eq!(doorbell.wait().unwrap(), 1);
        assert_eq!(&buf[..4], b"ring");

        // A dropped receive takes nothing: the next one gets the message.
        drop(task::spawn(pass::recv_async(&there, &mut buf)));
        pass::send_async(&here, b"again", &[doorbell.as_fd()])
            .await
            .unwrap();
        let received = common::within(pass::recv_async(&there, &mut buf))
            .await
            .unwrap();
        assert_eq!(received.fd_count(), 1);

        // The poll twins.
        let sent = std::future::poll_fn(|cx| pass::poll_send(&here, cx, b"p", &[]))
            .await
            .unwrap();
        assert_eq!(sent, 1);
        let received = std::future::poll_fn(|cx| pass::poll_recv(&there, cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(received.len(), 1);
    });
}

/// `n` copies of `fd` in one message with a one-byte payload, sent with a
/// raw `sendmsg` (`pass::send` refuses more than `MAX_FDS`).
fn send_raw(here: &UnixStream, fd: BorrowedFd<'_>, n: usize) {
    let many: Vec<BorrowedFd<'_>> = (0..n).map(|_| fd).collect();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(n))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(&many)));
    let sent = rustix::net::sendmsg(
        here,
        &[std::io::IoSlice::new(b"z")],
        &mut control,
        rustix::net::SendFlags::empty(),
    )
    .unwrap();
    assert_eq!(sent, 1);
}

/// Turns on SO_PASSCRED and, where the kernel has it (6.5), SO_PASSPIDFD;
/// says whether SO_PASSPIDFD is on.
fn pass_identity(socket: &UnixStream) -> bool {
    pass::set_pass_credentials(socket, true).unwrap();
    match pass::set_pass_pidfd(socket, true) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            eprintln!("skipped SO_PASSPIDFD: {e}");
            false
        }
        Err(e) => panic!("{e}"),
    }
}

/// How many times to repeat a loop: fewer under valgrind.
fn scaled(n: usize) -> usize {
    if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
        n / 10
    } else {
        n
    }
}

/// With SO_PASSPIDFD and SO_PASSCRED on the receiving socket (any holder
/// of a socket can set them), every message brings a pidfd and
/// credentials: after many receives, with and without descriptors, taken
/// or not, no descriptor is left open.
fn every_installed_descriptor_is_handed_over_or_closed() {
    let (here, there) = UnixStream::pair().unwrap();
    let pidfds = pass_identity(&there);
    let efd = EventFd::new(0).unwrap();
    let before = open_fds();
    let mut buf = [0u8; 8];
    for round in 0..scaled(200) {
        match round % 3 {
            0 => {
                pass::send(&here, b"plain", &[]).unwrap();
            }
            1 => {
                pass::send(&here, b"two", &[efd.as_fd(), efd.as_fd()]).unwrap();
            }
            _ => send_raw(&here, efd.as_fd(), MAX_FDS + 1),
        }
        match pass::recv(&there, &mut buf) {
            Ok(mut received) => {
                assert!(received.credentials().is_some());
                assert_eq!(received.take_sender().is_some(), pidfds);
                if round % 2 == 0 {
                    drop(received.take_fd());
                }
            }
            Err(e) => {
                let truncated = pass::Truncated::of(&e).unwrap();
                assert_eq!(truncated.reason(), pass::Truncation::TooManyFds);
            }
        }
        assert_eq!(open_fds(), before, "round {round}");
    }
}

/// The helper process of `the_sender_is_known_from_another_process`: its
/// stdin is a Unix socket; it sends an eventfd, then waits for `bye`.
fn sender() {
    let socket = UnixStream::from(std::io::stdin().as_fd().try_clone_to_owned().unwrap());
    let efd = EventFd::new(0).unwrap();
    pass::send(&socket, b"from the child", &[efd.as_fd()]).unwrap();
    let mut buf = [0u8; 8];
    let received = pass::recv(&socket, &mut buf).unwrap();
    assert_eq!(&buf[..received.len()], b"bye");
    assert_eq!(efd.wait().unwrap(), 9, "the parent rang");
}

/// Another process sends a handle; the receiver knows who sent it: its
/// credentials, and a pidfd of that very process (not a pid).
fn the_sender_is_known_from_another_process() {
    let (here, there) = UnixStream::pair().unwrap();
    let pidfds = pass_identity(&here);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "sender")
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(there)))
        .spawn()
        .unwrap();
    let mut buf = [0u8; 32];
    let mut received = pass::recv(&here, &mut buf).unwrap();
    assert_eq!(&buf[..received.len()], b"from the child");
    let creds = received.credentials().unwrap();
    assert_eq!(creds.pid(), child.id() as i32);
    assert_eq!(creds.uid(), rustix::process::getuid().as_raw());
    assert_eq!(creds.gid(), rustix::process::getgid().as_raw());
    if pidfds {
        let sender = received.take_sender().unwrap().unwrap();
        assert_eq!(sender.pid(), child.id() as i32);
        assert!(!sender.reaps() && !sender.is_thread());
        // pidfd_open is ENOSYS under valgrind; process ids need Linux 6.9.
        if let Ok(mine) = PidFd::from_child(&child) {
            if let Ok(same) = sender.is_same_process(&mine) {
                assert!(same, "the very process");
            }
        }
        assert!(received.take_sender().is_none(), "taken once");
    }
    let bell: EventFd = received.take().unwrap();
    bell.signal(9).unwrap();
    pass::send(&here, b"bye", &[]).unwrap();
    assert!(child.wait().unwrap().success());
}

/// The cutoff is exactly `MAX_FDS`, whatever else the buffer holds: 16
/// arrive; 17, 18 and 19 are `TooManyFds`, the payload length kept, and
/// nothing left open.
fn more_than_max_fds_is_refused_at_exactly_the_cutoff() {
    let efd = EventFd::new(0).unwrap();
    for identity in [false, true] {
        let (here, there) = UnixStream::pair().unwrap();
        if identity {
            pass_identity(&there);
        }
        let before = open_fds();
        let mut buf = [0u8; 4];
        for n in [MAX_FDS - 3, MAX_FDS, MAX_FDS + 1, MAX_FDS + 2, MAX_FDS + 3] {
            send_raw(&here, efd.as_fd(), n);
            match pass::recv(&there, &mut buf) {
                Ok(received) => {
                    assert!(n <= MAX_FDS, "{n} descriptors accepted");
                    assert_eq!(received.fd_count(), n);
                }
                Err(e) => {
                    assert!(n > MAX_FDS, "{n} descriptors refused: {e}");
                    assert_eq!(e.kind(), ErrorKind::InvalidData);
                    let truncated = pass::Truncated::of(&e).unwrap();
                    assert_eq!(truncated.reason(), pass::Truncation::TooManyFds);
                    assert_eq!(truncated.len(), 1);
                    assert_eq!(truncated.fds_arrived(), n);
                }
            }
            assert_eq!(open_fds(), before, "{n} descriptors, identity {identity}");
        }
    }
}

/// The numbers of the open descriptors (after the listing's own closed).
fn open_numbers() -> Vec<i32> {
    let listed: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    listed
        .into_iter()
        // SAFETY: F_GETFD only asks whether the number is open.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1)
        .collect()
}

/// This process at its descriptor limit: the kernel installs 3 of 4 and
/// sets MSG_CTRUNC without failing; the error says so and keeps the
/// payload length; the 3 are closed.
fn out_of_descriptors_is_told_apart_and_keeps_the_length() {
    if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
        // valgrind emulates RLIMIT_NOFILE for the client: the kernel's
        // limit, which decides here, does not change.
        eprintln!("skipped: RLIMIT_NOFILE is emulated under valgrind");
        return;
    }
    let (here, there) = UnixStream::pair().unwrap();
    pass_identity(&there);
    let efd = EventFd::new(0).unwrap();
    pass::send(&here, b"four!", &[efd.as_fd(); 4]).unwrap();
    let before = open_fds();
    let open = open_numbers();
    // The limit under which exactly 3 numbers are free.
    let mut limit = 0;
    let mut free = 0;
    while free < 3 {
        if !open.contains(&limit) {
            free += 1;
        }
        limit += 1;
    }
    let old = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let lowered = rustix::process::Rlimit {
        current: Some(limit as u64),
        maximum: old.maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, lowered).unwrap();
    let mut buf = [0u8; 8];
    let result = pass::recv(&there, &mut buf);
    rustix::process::setrlimit(rustix::process::Resource::Nofile, old).unwrap();
    let e = result.unwrap_err();
    let truncated = pass::Truncated::of(&e).unwrap();
    assert_eq!(
        truncated.reason(),
        pass::Truncation::OutOfDescriptors,
        "{e}"
    );
    assert_eq!(truncated.fds_arrived(), 3);
    assert_eq!(truncated.len(), 5);
    assert_eq!(&buf[..5], b"four!");
    assert!(e.to_string().contains("RLIMIT_NOFILE"), "{e}");
    assert_eq!(open_fds(), before, "the 3 were closed");
}

/// Credentials and the pidfd take room in the control buffer: with both
/// on, every count up to MAX_FDS still arrives whole.
fn credentials_and_pidfd_leave_room_for_max_fds() {
    let (here, there) = UnixStream::pair().unwrap();
    let pidfds = pass_identity(&there);
    let efd = EventFd::new(0).unwrap();
    let mut buf = [0u8; 4];
    for n in 1..=MAX_FDS {
        send_raw(&here, efd.as_fd(), n);
        let mut received = pass::recv(&there, &mut buf).unwrap();
        assert_eq!(received.fd_count(), n);
        assert!(received.credentials().is_some());
        assert_eq!(received.take_sender().is_some(), pidfds, "{n}");
    }
}

/// A security label (`SO_PASSSEC`, where a security module gives one)
/// takes room the buffer does not budget: with `MAX_FDS` descriptors, the
/// credentials and the pidfd, the message no longer fits, and the error
/// says the control data did not fit, with the payload length.
fn a_security_label_that_does_not_fit_is_control_full() {
    let (here, there) = UnixStream::pair().unwrap();
    pass_identity(&there);
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads the int `one`, whose size is given.
    let rc = unsafe {
        libc::setsockopt(
            there.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSSEC,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    let efd = EventFd::new(0).unwrap();
    let before = open_fds();
    send_raw(&here, efd.as_fd(), MAX_FDS);
    let mut buf = [0u8; 4];
    match pass::recv(&there, &mut buf) {
        Ok(received) => {
            assert_eq!(received.fd_count(), MAX_FDS);
            eprintln!("skipped: no security label here (no security module gives one)");
        }
        Err(e) => {
            let truncated = pass::Truncated::of(&e).unwrap();
            assert_eq!(truncated.reason(), pass::Truncation::ControlFull, "{e}");
            assert_eq!(truncated.len(), 1);
        }
    }
    assert_eq!(open_fds(), before);
}

/// A seqpacket or datagram socket wrapped as a `UnixStream`: a message
/// longer than the buffer is `Truncated` (`Payload`), not a short `Ok`;
/// an empty message with a descriptor is not the end of the stream.
fn message_sockets_report_truncation() {
    let (a, b) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let (a, b) = (UnixStream::from(a), UnixStream::from(b));
    let efd = EventFd::new(0).unwrap();
    let before = open_fds();
    pass::send(&a, &[7u8; 100], &[efd.as_fd()]).unwrap();
    let mut small = [0u8; 10];
    let e = pass::recv(&b, &mut small).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    let truncated = pass::Truncated::of(&e).unwrap();
    assert_eq!(truncated.reason(), pass::Truncation::Payload);
    assert_eq!(truncated.len(), 10);
    assert_eq!(truncated.fds_arrived(), 1);
    assert_eq!(open_fds(), before, "the descriptor was closed");

    // A 0-byte message with a descriptor (a raw sendmsg: `pass::send`
    // wants a byte, which a stream socket needs).
    let fds = [efd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    assert!(control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds)));
    rustix::net::sendmsg(&a, &[], &mut control, rustix::net::SendFlags::empty()).unwrap();
    let mut received = pass::recv(&b, &mut small).unwrap();
    assert!(received.is_empty());
    assert!(!received.is_end_of_stream(), "a descriptor came");
    let _: EventFd = received.take().unwrap();
    drop(a);
    let received = pass::recv(&b, &mut small).unwrap();
    assert!(received.is_end_of_stream());
}

/// On `SOCK_SEQPACKET` the kernel reports the end as 0 bytes with no
/// control data and no flag, like an empty message without descriptors.
/// With `SO_PASSCRED` on the receiving socket every message carries
/// credentials, so the two are told apart.
fn seqpacket_empty_message_and_end_of_stream_told_apart_with_credentials() {
    let (a, b) = rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let (a, b) = (UnixStream::from(a), UnixStream::from(b));
    pass::set_pass_credentials(&b, true).unwrap();
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut []);
    rustix::net::sendmsg(&a, &[], &mut control, rustix::net::SendFlags::empty()).unwrap();
    let mut buf = [0u8; 4];
    let empty = pass::recv(&b, &mut buf).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.fd_count(), 0);
    assert!(empty.credentials().is_some(), "credentials come with it");
    assert!(!empty.is_end_of_stream(), "an empty message, not the end");
    drop(a);
    let end = pass::recv(&b, &mut buf).unwrap();
    assert!(end.credentials().is_none());
    assert!(end.is_end_of_stream());
}

/// The async forms go through tokio's readiness and so its cooperative
/// budget: a loop of them that never waits still lets a spawned task run
/// on a current-thread runtime.
fn async_loops_let_other_tasks_run() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (here, there) = tokio::net::UnixStream::pair().unwrap();
        let mut buf = [0u8; 4];
        // Readiness known on both ends, and one message always queued:
        // from here on no send or receive has to wait.
        pass::send_async(&here, b"x", &[]).await.unwrap();
        pass::send_async(&here, b"x", &[]).await.unwrap();
        pass::recv_async(&there, &mut buf[..1]).await.unwrap();
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn({
            let ran = std::sync::Arc::clone(&ran);
            async move { ran.store(true, std::sync::atomic::Ordering::SeqCst) }
        });
        let mut rounds = 0;
        while !ran.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(rounds < 10_000, "the spawned task never ran");
            pass::send_async(&here, b"x", &[]).await.unwrap();
            pass::recv_async(&there, &mut buf[..1]).await.unwrap();
            rounds += 1;
        }
        eprintln!("the spawned task ran after {rounds} rounds");
    });
}

const ROLE: &str = "IOFD_PASS_ROLE";

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("sender") {
        return sender();
    }
    common::run(&[
        (
            "seqpacket_empty_message_and_end_of_stream_told_apart_with_credentials",
            seqpacket_empty_message_and_end_of_stream_told_apart_with_credentials,
        ),
        (
            "handles_round_trip_typed_and_close_on_exec",
            handles_round_trip_typed_and_close_on_exec,
        ),
        (
            "a_wrong_kind_is_refused_and_handed_back",
            a_wrong_kind_is_refused_and_handed_back,
        ),
        (
            "untaken_descriptors_are_closed_with_the_received",
            untaken_descriptors_are_closed_with_the_received,
        ),
        (
            "a_truncated_control_message_is_an_error_and_leaks_nothing",
            a_truncated_control_message_is_an_error_and_leaks_nothing,
        ),
        (
            "bad_input_is_refused_before_any_syscall",
            bad_input_is_refused_before_any_syscall,
        ),
        (
            "plain_bytes_end_of_stream_and_broken_pipe",
            plain_bytes_end_of_stream_and_broken_pipe,
        ),
        (
            "each_message_keeps_its_own_descriptors",
            each_message_keeps_its_own_descriptors,
        ),
        ("async_send_and_recv", async_send_and_recv),
        (
            "every_installed_descriptor_is_handed_over_or_closed",
            every_installed_descriptor_is_handed_over_or_closed,
        ),
        (
            "the_sender_is_known_from_another_process",
            the_sender_is_known_from_another_process,
        ),
        (
            "more_than_max_fds_is_refused_at_exactly_the_cutoff",
            more_than_max_fds_is_refused_at_exactly_the_cutoff,
        ),
        (
            "out_of_descriptors_is_told_apart_and_keeps_the_length",
            out_of_descriptors_is_told_apart_and_keeps_the_length,
        ),
        (
            "credentials_and_pidfd_leave_room_for_max_fds",
            credentials_and_pidfd_leave_room_for_max_fds,
        ),
        (
            "a_security_label_that_does_not_fit_is_control_full",
            a_security_label_that_does_not_fit_is_control_full,
        ),
        (
            "message_sockets_report_truncation",
            message_sockets_report_truncation,
        ),
        (
            "async_loops_let_other_tasks_run",
            async_loops_let_other_tasks_run,
        ),
    ]);
}
