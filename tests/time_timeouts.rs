//! Far timeouts: a `Timeout` made at least about 67 ms before its
//! deadline is armed, at its first poll, in the shard of the polling
//! thread rather than in the driver's deadlines, and the driver moves it
//! there before it is due. What a user sees must not change: it fires at
//! its deadline (never woken early), a dropped one leaves nothing armed
//! wherever it is dropped, the task that polled it last is the one woken,
//! and it keeps working after its runtime shuts down.

#![cfg(feature = "tokio")]

mod common;
mod time_support;

use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use common::{current_thread, on_both_runtimes, two_workers, until, within};
use iofd::time::Timers;
use time_support::{
    REENTER, assert_never_woken_early, counting_waker, recorded, reentrant_waker, with_watchdog,
};
use tokio_test::{assert_pending, task};

#[test]
fn a_far_timeout_that_fires_is_never_woken_early() {
    on_both_runtimes(|| async {
        let timers = Timers::new().unwrap();
        for length in [70, 100, 150] {
            let mut timeout = timers.timeout(Duration::from_millis(length), pending::<()>());
            let deadline = timeout.deadline();
            let (result, woken) =
                within(recorded(|cx| (Pin::new(&mut timeout).poll(cx), deadline))).await;
            assert!(result.is_err(), "{length} ms");
            assert!(Instant::now() >= deadline);
            assert_never_woken_early(&woken, &format!("a {length} ms timeout"));
        }
        assert_eq!(timers.armed(), 0);
    });
}

#[test]
fn a_far_timeout_counts_as_armed_until_dropped() {
    current_thread().block_on(async {
        let timers = Timers::new().unwrap();
        let mut timeouts: Vec<_> = (0..100)
            .map(|_| task::spawn(timers.timeout(Duration::from_secs(10), pending::<()>())))
            .collect();
        assert_eq!(timers.armed(), 0, "not before its first poll");
        for timeout in &mut timeouts {
            assert_pending!(timeout.poll());
        }
        assert_eq!(timers.armed(), 100);
        timeouts.truncate(40);
        assert_eq!(timers.armed(), 40);
        drop(timeouts);
        assert_eq!(timers.armed(), 0);
    });
}

#[test]
fn a_far_timeout_dropped_on_another_thread_leaves_nothing_armed() {
    current_thread().block_on(async {
        let timers = Timers::new().unwrap();
        let mut timeouts: Vec<_> = (0..50)
            .map(|_| task::spawn(timers.timeout(Duration::from_secs(10), pending::<()>())))
            .collect();
        for timeout in &mut timeouts {
            assert_pending!(timeout.poll());
        }
        assert_eq!(timers.armed(), 50);
        std::thread::spawn(move || drop(timeouts)).join().unwrap();
        assert_eq!(timers.armed(), 0);
    });
}

#[test]
fn the_task_that_polled_a_far_timeout_last_is_woken() {
    on_both_runtimes(|| async {
        let timers = Timers::new().unwrap();
        let mut timeout = timers.timeout(Duration::from_millis(80), pending::<()>());
        let mut first = task::spawn(());
        assert!(
            first
                .enter(|cx, _| Pin::new(&mut timeout).poll(cx))
                .is_pending()
        );
        let (count, waker) = counting_waker();
        let second = Pin::new(&mut timeout).poll(&mut Context::from_waker(&waker));
        assert!(second.is_pending());
        let deadline = timeout.deadline();
        within(until(|| count.0.load(Ordering::SeqCst) > 0)).await;
        assert!(Instant::now() >= deadline);
        assert!(!first.is_woken(), "the first task was woken");
        assert!(timeout.await.is_err());
    });
}

#[test]
fn a_far_timeout_fires_after_its_runtime_shut_down() {
    let rt = current_thread();
    let (timers, mut timeout) = rt.block_on(async {
        let timers = Timers::new().unwrap();
        let mut timeout = timers.timeout(Duration::from_millis(150), pending::<()>());
        assert!(
            Pin::new(&mut timeout)
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        (timers, timeout)
    });
    drop(rt);
    let deadline = timeout.deadline();
    current_thread().block_on(async {
        let (result, woken) =
            within(recorded(|cx| (Pin::new(&mut timeout).poll(cx), deadline))).await;
        assert!(result.is_err());
        assert_never_woken_early(&woken, "after the shutdown");
    });
    assert!(Instant::now() >= deadline);
    drop(timeout);
    assert_eq!(timers.armed(), 0);
}

/// Many tasks on two workers, and more threads than shards arming and
/// cancelling at once: every timeout that should fire fires after its
/// deadline, every one that completes first is `Ok`, and nothing stays
/// armed.
#[test]
fn far_timeouts_from_many_tasks_and_threads() {
    let rt = two_workers();
    rt.block_on(async {
        let timers = Timers::new().unwrap();
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                let timers = timers.clone();
                tokio::spawn(async move {
                    let length = Duration::from_millis(70 + i % 60);
                    let start = Instant::now();
                    if i % 2 == 0 {
                        let result = timers.timeout(length, pending::<()>()).await;
                        assert!(result.is_err());
                        assert!(start.elapsed() >= length, "{i}: early");
                    } else {
                        let result = timers.timeout(length, tokio::task::yield_now()).await;
                        assert_eq!(result, Ok(()));
                    }
                })
            })
            .collect();
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let timers = timers.clone();
                std::thread::spawn(move || {
                    let mut cx = Context::from_waker(Waker::noop());
                    for _ in 0..5_000 {
                        let mut timeout = timers.timeout(Duration::from_secs(10), pending::<()>());
                        assert!(Pin::new(&mut timeout).poll(&mut cx).is_pending());
                    }
                })
            })
            .collect();
        for task in tasks {
            within(task).await.unwrap();
        }
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(timers.armed(), 0);
    });
}

/// No waker code runs while a shard is locked: a waker that uses the same
/// timers when cloned or dropped is staged, replaced and dropped without
/// deadlocking (a hang fails the test after 10 s).
#[test]
fn a_waker_that_uses_the_timers_never_deadlocks_a_far_timeout() {
    with_watchdog(Duration::from_secs(10), || {
        current_thread().block_on(async {
            let timers = Timers::new().unwrap();
            REENTER.with(|slot| *slot.borrow_mut() = Some(timers.clone()));
            let waker = reentrant_waker();
            let mut cx = Context::from_waker(&waker);
            let mut timeout = timers.timeout(Duration::from_secs(10), pending::<()>());
            assert!(Pin::new(&mut timeout).poll(&mut cx).is_pending());
            assert_eq!(timers.armed(), 1);
            // Another task's waker, then this one again: each replaces the
            // staged one.
            let other = Waker::noop();
            assert!(
                Pin::new(&mut timeout)
                    .poll(&mut Context::from_waker(other))
                    .is_pending()
            );
            assert!(Pin::new(&mut timeout).poll(&mut cx).is_pending());
            drop(timeout);
            assert_eq!(timers.armed(), 0);
            REENTER.with(|slot| slot.borrow_mut().take());
        });
    });
}

/// A lone far timeout that fires costs the driver two wake-ups, as a
/// sleep does: the visit that moves it out of its shard (straight into
/// the precise heap, as it is near by then), and its firing. (On a loaded
/// machine the visit may come late, with the firing: one.)
#[test]
fn a_lone_far_timeout_costs_two_wake_ups() {
    current_thread().block_on(async {
        let timers = Timers::new().unwrap();
        let start = Instant::now();
        let result = within(timers.timeout(Duration::from_millis(100), pending::<()>())).await;
        assert!(result.is_err());
        assert!(start.elapsed() >= Duration::from_millis(100));
        let wake_ups = timers.wake_ups();
        assert!((1..=2).contains(&wake_ups), "{wake_ups} wake-ups");
    });
}
