//! Every pollable handle in one real `mio::Poll`.
//!
//! Signals here are thread-directed (`raise`) at the test's own thread,
//! which blocks them first and is the thread that polls: a signalfd is
//! readable for signals pending on the polling thread, and no other thread
//! can take them.

#![cfg(feature = "mio")]
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use iofd::{EventFd, Fd, PidFd, SigSet, Signal, SignalFd, SignalMaskGuard, TimerFd};
use mio::{Events, Interest, Poll, Token};

mod common;

use common::raise;

const EVENT: Token = Token(0);
const TIMER: Token = Token(1);
const SIGNAL: Token = Token(2);
const CHILD: Token = Token(3);

/// The readable tokens of one poll with `timeout`.
fn readable(poll: &mut Poll, timeout: Duration) -> BTreeSet<Token> {
    let mut events = Events::with_capacity(16);
    poll.poll(&mut events, Some(timeout)).unwrap();
    events
        .iter()
        .filter(|e| e.is_readable())
        .map(|e| e.token())
        .collect()
}

/// Polls until something is readable (generous limit), then returns it.
fn wait_readable(poll: &mut Poll) -> BTreeSet<Token> {
    readable(poll, Duration::from_secs(10))
}

fn nothing(poll: &mut Poll) -> BTreeSet<Token> {
    readable(poll, Duration::ZERO)
}

fn set(tokens: &[Token]) -> BTreeSet<Token> {
    tokens.iter().copied().collect()
}

#[test]
fn four_handles_each_readable_exactly_when_they_should_be() {
    let signals = SigSet::from(Signal::USR1);
    let _blocked = SignalMaskGuard::block(&signals).unwrap();

    let mut poll = Poll::new().unwrap();
    let registry = poll.registry();
    let mut event = EventFd::new(0).unwrap();
    let mut timer = TimerFd::new().unwrap();
    let mut signal = SignalFd::new(&signals).unwrap();
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let mut pidfd = require!(PidFd::from_owned_child(child));
    registry
        .register(&mut event, EVENT, Interest::READABLE)
        .unwrap();
    registry
        .register(&mut timer, TIMER, Interest::READABLE)
        .unwrap();
    registry
        .register(&mut signal, SIGNAL, Interest::READABLE)
        .unwrap();
    registry
        .register(&mut pidfd, CHILD, Interest::READABLE)
        .unwrap();

    assert_eq!(nothing(&mut poll), set(&[]), "nothing is ready yet");

    event.signal(1).unwrap();
    assert_eq!(wait_readable(&mut poll), set(&[EVENT]));
    assert_eq!(event.wait().unwrap(), 1);
    assert_eq!(nothing(&mut poll), set(&[]));

    timer.arm(Duration::from_millis(1), Duration::ZERO).unwrap();
    assert_eq!(wait_readable(&mut poll), set(&[TIMER]));
    assert_eq!(timer.expirations().unwrap(), 1);
    assert_eq!(nothing(&mut poll), set(&[]));

    raise(Signal::USR1);
    assert_eq!(wait_readable(&mut poll), set(&[SIGNAL]));
    assert_eq!(signal.read_info().unwrap().signal(), Some(Signal::USR1));
    assert_eq!(nothing(&mut poll), set(&[]));

    pidfd.send_signal(Signal::TERM).unwrap();
    assert_eq!(wait_readable(&mut poll), set(&[CHILD]));
    assert_eq!(pidfd.wait().unwrap().code(), None);
    // Reaping the child wakes pidfd pollers once more (the kernel reports
    // the process gone): that edge is the pidfd's, and nothing else stirs.
    let after_reap = nothing(&mut poll);
    assert!(after_reap.is_subset(&set(&[CHILD])), "{after_reap:?}");
    assert_eq!(nothing(&mut poll), set(&[]));
}

#[test]
fn edge_triggered_no_new_event_without_new_activity() {
    let mut poll = Poll::new().unwrap();
    let mut event = EventFd::new(0).unwrap();
    poll.registry()
        .register(&mut event, EVENT, Interest::READABLE)
        .unwrap();

    event.signal(1).unwrap();
    assert_eq!(wait_readable(&mut poll), set(&[EVENT]));
    // Not drained, but no new activity: edge-triggered reports nothing.
    assert_eq!(nothing(&mut poll), set(&[]));
    // New activity: a new edge.
    event.signal(1).unwrap();
    assert_eq!(wait_readable(&mut poll), set(&[EVENT]));
    assert_eq!(event.wait().unwrap(), 2);
    assert_eq!(nothing(&mut poll), set(&[]));

    // A periodic timerfd re-arms its kernel timer only when read (or
    // queried), so an unread timer makes no new edge; each read lets the
    // next one come.
    let mut timer = TimerFd::new().unwrap();
    poll.registry()
        .register(&mut timer, TIMER, Interest::READABLE)
        .unwrap();
    timer
        .arm(Duration::from_millis(1), Duration::from_millis(1))
        .unwrap();
    assert_eq!(wait_readable(&mut poll), set(&[TIMER]));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(nothing(&mut poll), set(&[]), "no edge until read");
    assert!(timer.expirations().unwrap() >= 1);
    assert_eq!(wait_readable(&mut poll), set(&[TIMER]));
    assert!(timer.expirations().unwrap() >= 1);
    timer.disarm().unwrap();
}

#[test]
fn deregister_stops_events_and_reregister_moves_the_token() {
    let mut poll = Poll::new().unwrap();
    let mut event = EventFd::new(0).unwrap();
    poll.registry()
        .register(&mut event, EVENT, Interest::READABLE)
        .unwrap();

    poll.registry()
        .reregister(&mut event, Token(42), Interest::READABLE)
        .unwrap();
    event.signal(3).unwrap();
    assert_eq!(wait_readable(&mut poll), set(&[Token(42)]));
    assert_eq!(event.wait().unwrap(), 3);

    poll.registry().deregister(&mut event).unwrap();
    event.signal(5).unwrap();
    assert_eq!(readable(&mut poll, Duration::from_millis(50)), set(&[]));
    // Still a working handle after deregistering.
    assert_eq!(event.wait().unwrap(), 5);
    event.signal(1).unwrap();
    assert_eq!(event.wait().unwrap(), 1);
}

#[test]
fn timer_signal_pidfd_and_fd_deregister_too() {
    let signals = SigSet::from(Signal::USR2);
    let _blocked = SignalMaskGuard::block(&signals).unwrap();
    let mut poll = Poll::new().unwrap();
    let registry = poll.registry();
    let mut timer = TimerFd::new().unwrap();
    let mut signal = SignalFd::new(&signals).unwrap();
    let child = Command::new("true").spawn().unwrap();
    let mut pidfd = require!(PidFd::from_owned_child(child));
    let (reader, writer) = std::io::pipe().unwrap();
    let mut reader = Fd::from(std::os::fd::OwnedFd::from(reader));
    for (source, token) in [
        (&mut timer as &mut dyn mio::event::Source, TIMER),
        (&mut signal, SIGNAL),
        (&mut pidfd, CHILD),
        (&mut reader, Token(9)),
    ] {
        registry
            .register(source, token, Interest::READABLE)
            .unwrap();
        registry.deregister(source).unwrap();
    }
    timer.arm(Duration::ZERO, Duration::ZERO).unwrap();
    raise(Signal::USR2);
    std::io::Write::write_all(&mut &writer, b"x").unwrap();
    // The child exits by itself; nothing is registered any more.
    assert!(pidfd.wait().unwrap().success());
    assert_eq!(readable(&mut poll, Duration::from_millis(50)), set(&[]));
    // All still work synchronously.
    assert_eq!(signal.read_info().unwrap().signal(), Some(Signal::USR2));
    assert_eq!(timer.expirations().unwrap(), 1);
    let mut buf = [0u8; 1];
    assert_eq!(reader.read(&mut buf).unwrap(), 1);
}

#[test]
fn eventfd_writable_interest() {
    let mut poll = Poll::new().unwrap();
    let mut event = EventFd::new(0).unwrap();
    poll.registry()
        .register(&mut event, EVENT, Interest::WRITABLE)
        .unwrap();
    let mut events = Events::with_capacity(4);
    poll.poll(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    let e = events.iter().next().expect("a fresh eventfd is writable");
    assert!(e.is_writable() && e.token() == EVENT);
}
