//! `EventFd`: counting and semaphore modes, limits, raw I/O, flags.

use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};

use iofd::{EVENTFD_MAX, EventFd};

fn assert_would_block<T: std::fmt::Debug>(r: std::io::Result<T>) {
    assert_eq!(r.unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn signals_accumulate_then_would_block() {
    let efd = EventFd::new(0).unwrap();
    efd.signal(5).unwrap();
    efd.signal(3).unwrap();
    assert_eq!(efd.wait().unwrap(), 8);
    assert_would_block(efd.wait());
}

#[test]
fn empty_counter_would_block() {
    let efd = EventFd::new(0).unwrap();
    assert_would_block(efd.wait());
}

#[test]
fn initial_value_is_read_back() {
    let efd = EventFd::new(42).unwrap();
    assert_eq!(efd.wait().unwrap(), 42);
    assert_would_block(efd.wait());
}

#[test]
fn semaphore_mode_hands_out_ones() {
    let efd = EventFd::new_semaphore(3).unwrap();
    assert!(efd.is_semaphore());
    assert_eq!(efd.wait().unwrap(), 1);
    assert_eq!(efd.wait().unwrap(), 1);
    assert_eq!(efd.wait().unwrap(), 1);
    assert_would_block(efd.wait());
    efd.signal(2).unwrap();
    assert_eq!(efd.wait().unwrap(), 1);
    assert_eq!(efd.wait().unwrap(), 1);
    assert_would_block(efd.wait());
}

#[test]
fn signal_zero_leaves_counter_at_zero() {
    let efd = EventFd::new(0).unwrap();
    efd.signal(0).unwrap();
    assert_would_block(efd.wait());
}

#[test]
fn u64_max_is_invalid_input_with_a_message() {
    let efd = EventFd::new(0).unwrap();
    let err = efd.signal(u64::MAX).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("u64::MAX"), "{err}");
    // Nothing was added.
    assert_would_block(efd.wait());
}

#[test]
fn overflow_would_block_and_keeps_the_count() {
    let efd = EventFd::new(0).unwrap();
    efd.signal(EVENTFD_MAX).unwrap();
    assert_would_block(efd.signal(1));
    assert_eq!(efd.wait().unwrap(), EVENTFD_MAX);
    efd.signal(1).unwrap();
    assert_eq!(efd.wait().unwrap(), 1);
}

#[test]
fn raw_read_write_round_trip() {
    let efd = EventFd::new(0).unwrap();
    let mut buf = [0u8; 12];
    buf[..8].copy_from_slice(&7u64.to_ne_bytes());
    assert_eq!(efd.write(&buf).unwrap(), 8);
    let mut out = [0xffu8; 12];
    assert_eq!(efd.read(&mut out).unwrap(), 8);
    assert_eq!(u64::from_ne_bytes(out[..8].try_into().unwrap()), 7);
    assert_eq!(
        &out[8..],
        &[0xff; 4],
        "bytes past the first 8 are untouched"
    );
}

#[test]
fn short_buffers_are_invalid_input() {
    let efd = EventFd::new(1).unwrap();
    let mut small = [0u8; 7];
    let err = efd.read(&mut small).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("8 bytes"), "{err}");
    let err = efd.write(&small).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // The failed read took nothing.
    assert_eq!(efd.wait().unwrap(), 1);
}

#[test]
fn raw_write_of_u64_max_is_invalid_input() {
    let efd = EventFd::new(0).unwrap();
    let err = efd.write(&u64::MAX.to_ne_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn try_clone_shares_the_counter() {
    let a = EventFd::new(0).unwrap();
    let b = a.try_clone().unwrap();
    assert_ne!(a.as_raw_fd(), b.as_raw_fd());
    a.signal(4).unwrap();
    assert_eq!(b.wait().unwrap(), 4);
    assert_would_block(a.wait());
    let s = EventFd::new_semaphore(1).unwrap();
    assert!(s.try_clone().unwrap().is_semaphore());
}

#[test]
fn created_nonblocking_and_cloexec() {
    let efd = EventFd::new(0).unwrap();
    let fl = rustix::fs::fcntl_getfl(&efd).unwrap();
    assert!(fl.contains(rustix::fs::OFlags::NONBLOCK));
    let fdfl = rustix::io::fcntl_getfd(&efd).unwrap();
    assert!(fdfl.contains(rustix::io::FdFlags::CLOEXEC));
    let clone = efd.try_clone().unwrap();
    assert!(
        rustix::io::fcntl_getfd(&clone)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
}

#[test]
fn conversions_and_debug() {
    let efd = EventFd::new_semaphore(0).unwrap();
    let raw = efd.as_raw_fd();
    assert_eq!(efd.as_fd().as_raw_fd(), raw);
    let dbg = format!("{efd:?}");
    assert!(
        dbg.contains("EventFd") && dbg.contains("semaphore: true"),
        "{dbg}"
    );
    let owned: OwnedFd = efd.into();
    assert_eq!(owned.as_raw_fd(), raw);
    let efd = EventFd::new(0).unwrap();
    let raw = efd.as_raw_fd();
    let taken = efd.into_raw_fd();
    assert_eq!(taken, raw);
    // SAFETY: `taken` came from `into_raw_fd`, so we own it and close it once.
    unsafe { libc::close(taken) };
}

#[test]
fn is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EventFd>();
}

#[test]
fn empty_raw_buffers_give_zero_and_change_nothing() {
    let efd = EventFd::new(4).unwrap();
    assert_eq!(efd.read(&mut []).unwrap(), 0);
    assert_eq!(efd.write(&[]).unwrap(), 0);
    for short in 1..8 {
        let err = efd.read(&mut vec![0u8; short]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err = efd.write(&vec![0u8; short]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
    assert_eq!(efd.wait().unwrap(), 4, "nothing taken or added");
}

#[test]
fn close_reports_success_and_consumes_the_handle() {
    let efd = EventFd::new(0).unwrap();
    let clone = efd.try_clone().unwrap();
    efd.close().unwrap();
    // The clone is another descriptor for the same counter: still usable.
    clone.signal(1).unwrap();
    assert_eq!(clone.wait().unwrap(), 1);
    clone.close().unwrap();
}
