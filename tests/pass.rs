//! `iofd::pass`: handles over Unix sockets, sync and async, and every error
//! path with exact descriptor accounting.
//!
//! `harness = false`: the tests run one after another on the main thread, so
//! the count of open descriptors (`/proc/self/fd`) is this test's alone.

#![allow(
    clippy::zombie_processes,
    reason = "children are reaped through their PidFd"
)]

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
    assert!(err.to_string().contains("MSG_CTRUNC"), "{err}");
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

fn main() {
    common::run(&[
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
    ]);
}
