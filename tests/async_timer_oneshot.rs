//! One-shot `AsyncTimerFd`s: `oneshot` (after a duration), `oneshot_at`
//! (at a deadline) and `oneshot_with_clock` (on a chosen clock). Each fires
//! exactly once, then stays pending; no test depends on fine timing.

#![cfg(feature = "tokio")]

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use iofd::{AsyncTimerFd, Clock};
use tokio_test::{assert_pending, task};

/// Generous: a loaded 2-core machine (or valgrind) may be slow.
const LIMIT: Duration = Duration::from_secs(30);

async fn first(timer: &AsyncTimerFd) -> u64 {
    tokio::time::timeout(LIMIT, timer.expirations())
        .await
        .expect("the one-shot timer never fired")
        .unwrap()
}

/// After firing, the timer is disarmed and a new wait stays pending.
fn assert_fired_once(timer: &AsyncTimerFd) {
    assert_eq!(timer.get_time().unwrap(), (Duration::ZERO, Duration::ZERO));
    let mut next = task::spawn(timer.expirations());
    assert_pending!(next.poll());
}

#[tokio::test]
async fn oneshot_fires_once_after_its_delay() {
    let start = Instant::now();
    let timer = AsyncTimerFd::oneshot(Duration::from_millis(20)).unwrap();
    let (remaining, interval) = timer.get_time().unwrap();
    assert_eq!(interval, Duration::ZERO, "a one-shot has no interval");
    assert!(remaining <= Duration::from_millis(20), "{remaining:?}");
    assert_eq!(first(&timer).await, 1);
    assert!(start.elapsed() >= Duration::from_millis(20), "never early");
    assert_fired_once(&timer);
}

#[tokio::test]
async fn oneshot_of_zero_fires_at_once() {
    let timer = AsyncTimerFd::oneshot(Duration::ZERO).unwrap();
    assert_eq!(first(&timer).await, 1);
    assert_fired_once(&timer);
}

#[tokio::test]
async fn oneshot_at_a_deadline_is_never_early() {
    let deadline = Instant::now() + Duration::from_millis(20);
    let timer = AsyncTimerFd::oneshot_at(deadline).unwrap();
    assert_eq!(timer.get_time().unwrap().1, Duration::ZERO);
    assert_eq!(first(&timer).await, 1);
    assert!(Instant::now() >= deadline, "fired before its deadline");
    assert_fired_once(&timer);
}

#[tokio::test]
async fn oneshot_at_a_past_deadline_fires_at_once() {
    let past = Instant::now()
        .checked_sub(Duration::from_secs(1))
        .unwrap_or_else(Instant::now);
    let timer = AsyncTimerFd::oneshot_at(past).unwrap();
    assert_eq!(first(&timer).await, 1);
    assert_fired_once(&timer);
}

#[tokio::test]
async fn oneshot_with_clock_fires_on_that_clock() {
    for clock in [Clock::Monotonic, Clock::Boottime, Clock::Realtime] {
        let timer = AsyncTimerFd::oneshot_with_clock(Duration::from_millis(5), clock).unwrap();
        assert_eq!(timer.get_ref().clock(), clock);
        assert_eq!(first(&timer).await, 1, "{clock:?}");
        assert_fired_once(&timer);
    }
}

#[tokio::test]
async fn a_duration_past_time_t_is_invalid_input() {
    let err = AsyncTimerFd::oneshot(Duration::MAX).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = AsyncTimerFd::oneshot_with_clock(Duration::MAX, Clock::Boottime).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn outside_a_runtime_is_an_error_not_a_panic() {
    let err = AsyncTimerFd::oneshot(Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("no tokio runtime"), "{err}");
}
