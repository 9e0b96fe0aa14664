//! `Fd`: I/O on `&self`, flags, duplication, conversions and close.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};

use iofd::Fd;

fn pipe() -> (Fd, Fd) {
    let (r, w) = std::io::pipe().expect("pipe");
    (Fd::from(OwnedFd::from(r)), Fd::from(OwnedFd::from(w)))
}

#[test]
fn read_and_write_on_shared_reference() {
    let (r, w) = pipe();
    assert_eq!(w.write(b"hello").unwrap(), 5);
    let mut buf = [0u8; 16];
    assert_eq!(r.read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn std_io_traits_for_owned_and_borrowed() {
    let (mut r, mut w) = pipe();
    w.write_all(b"ab").unwrap();
    (&w).write_all(b"cd").unwrap();
    w.flush().unwrap();
    let mut buf = [0u8; 2];
    r.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ab");
    (&r).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"cd");
}

#[test]
fn nonblocking_flag_round_trip_and_would_block() {
    let (r, _w) = pipe();
    assert!(!r.is_nonblocking().unwrap());
    r.set_nonblocking(true).unwrap();
    assert!(r.is_nonblocking().unwrap());
    let flags = rustix::fs::fcntl_getfl(&r).unwrap();
    assert!(flags.contains(rustix::fs::OFlags::NONBLOCK));
    let mut buf = [0u8; 1];
    assert_eq!(r.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    r.set_nonblocking(false).unwrap();
    assert!(!r.is_nonblocking().unwrap());
}

#[test]
fn cloexec_flag_round_trip() {
    let (r, _w) = pipe();
    // std creates pipes close-on-exec.
    assert!(r.is_cloexec().unwrap());
    r.set_cloexec(false).unwrap();
    assert!(!r.is_cloexec().unwrap());
    let flags = rustix::io::fcntl_getfd(&r).unwrap();
    assert!(!flags.contains(rustix::io::FdFlags::CLOEXEC));
    r.set_cloexec(true).unwrap();
    assert!(r.is_cloexec().unwrap());
}

#[test]
fn try_clone_is_an_independent_cloexec_owner() {
    let (r, w) = pipe();
    w.set_cloexec(false).unwrap();
    let w2 = w.try_clone().unwrap();
    assert_ne!(w.as_raw_fd(), w2.as_raw_fd());
    assert!(
        w2.is_cloexec().unwrap(),
        "F_DUPFD_CLOEXEC sets close-on-exec"
    );
    assert!(!w.is_cloexec().unwrap(), "the original's flag is its own");
    drop(w);
    w2.write(b"x").unwrap();
    let mut buf = [0u8; 1];
    r.read(&mut buf).unwrap();
    assert_eq!(&buf, b"x");
}

#[test]
fn close_reports_success_and_releases_the_descriptor() {
    // Proved through the pipe, not the descriptor number (another test
    // thread may be handed that number the moment it is free): the reader
    // sees end of file only once the only writer is closed.
    let (r, w) = pipe();
    w.close().unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(r.read(&mut buf).unwrap(), 0);
}

#[test]
fn close_reports_the_kernel_error() {
    // No process can hold descriptor i32::MAX - 1 (the kernel caps fs.nr_open
    // far below it), so closing it must report EBADF rather than pretend it
    // worked — and it cannot hit a descriptor another test thread owns.
    // SAFETY: nothing owns this number (nothing can), and the only thing done
    // with it is the close under test.
    let bogus = unsafe { Fd::from_raw_fd(i32::MAX - 1) };
    let err = bogus.close().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
}

#[test]
fn drop_closes() {
    let (r, w) = pipe();
    drop(w);
    let mut buf = [0u8; 1];
    assert_eq!(
        r.read(&mut buf).unwrap(),
        0,
        "the dropped writer was closed"
    );
}

#[test]
fn conversions_keep_the_same_descriptor() {
    let (r, _w) = pipe();
    let raw = r.as_raw_fd();
    assert_eq!(r.as_fd().as_raw_fd(), raw);
    let owned: OwnedFd = r.into();
    assert_eq!(owned.as_raw_fd(), raw);
    let fd = Fd::from(owned);
    assert_eq!(fd.as_raw_fd(), raw);
    let raw2 = fd.into_raw_fd();
    assert_eq!(raw2, raw);
    // SAFETY: `raw2` came from `into_raw_fd`, so this is its only owner.
    let fd = unsafe { Fd::from_raw_fd(raw2) };
    assert!(format!("{fd:?}").contains(&raw.to_string()));
}

#[test]
fn is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Fd>();
}

/// An empty buffer is `Ok(0)` without a syscall, as `io::Read` says: an
/// eventfd (which the kernel would answer with `EINVAL` for any buffer
/// shorter than 8 bytes) proves that the kernel was not asked.
#[test]
fn empty_buffers_give_zero_without_a_syscall() {
    let efd = iofd::EventFd::new(3).unwrap();
    let fd = Fd::from(OwnedFd::from(efd));
    assert_eq!(fd.read(&mut []).unwrap(), 0);
    assert_eq!(fd.write(&[]).unwrap(), 0);
    assert_eq!(Read::read(&mut &fd, &mut []).unwrap(), 0);
    assert_eq!(Write::write(&mut &fd, &[]).unwrap(), 0);
    // The kernel itself refuses a short read of an eventfd.
    assert_eq!(
        fd.read(&mut [0u8; 1]).unwrap_err().raw_os_error(),
        Some(libc::EINVAL)
    );
    // Nothing was taken: the counter still holds 3.
    let mut raw = [0u8; 8];
    assert_eq!(fd.read(&mut raw).unwrap(), 8);
    assert_eq!(u64::from_ne_bytes(raw), 3);
}
