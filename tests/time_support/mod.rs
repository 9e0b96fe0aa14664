//! What the `iofd::time` driver does, measured from outside: a waker that
//! records when it was called, to compare with the deadline the task was
//! waiting for. (A timer's own poll reads the clock before it returns
//! `Ready`, so "the future completed after its deadline" cannot fail; "the
//! driver woke the task after its deadline" can.)

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::future::Future;
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

/// One pending poll: the deadline it waited for, and when its waker was
/// first called (if it was).
#[derive(Debug)]
pub struct Woken {
    pub deadline: Instant,
    pub at: Option<Instant>,
}

struct Recorder {
    task: Waker,
    woken: Mutex<Option<Instant>>,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let now = Instant::now();
        self.woken.lock().unwrap().get_or_insert(now);
        self.task.wake_by_ref();
    }
}

/// Drives `poll` to completion, each time with a recording waker; `poll`
/// returns, with its poll, the deadline it waits for when pending.
pub async fn recorded<T>(
    mut poll: impl FnMut(&mut Context<'_>) -> (Poll<T>, Instant),
) -> (T, Vec<Woken>) {
    let mut polls: Vec<(Instant, Arc<Recorder>)> = Vec::new();
    let output = poll_fn(|cx| {
        let recorder = Arc::new(Recorder {
            task: cx.waker().clone(),
            woken: Mutex::new(None),
        });
        let waker = Waker::from(Arc::clone(&recorder));
        let (poll, deadline) = poll(&mut Context::from_waker(&waker));
        // Pending because the task's coop budget is spent: tokio wakes it
        // at once, which says nothing about the driver.
        if poll.is_pending() && tokio::task::coop::has_budget_remaining() {
            polls.push((deadline, recorder));
        }
        poll
    })
    .await;
    let woken = polls
        .into_iter()
        .map(|(deadline, recorder)| Woken {
            deadline,
            at: *recorder.woken.lock().unwrap(),
        })
        .collect();
    (output, woken)
}

/// Awaits `sleep`, and returns when the driver woke it.
pub async fn recorded_sleep(mut sleep: iofd::time::Sleep) -> Vec<Woken> {
    let deadline = sleep.deadline();
    let ((), woken) = recorded(|cx| {
        let poll = std::pin::Pin::new(&mut sleep);
        (std::future::Future::poll(poll, cx), deadline)
    })
    .await;
    woken
}

/// Asserts that no waker was called before the deadline its poll waited
/// for, and that the last pending poll was woken (the future completed
/// because the driver woke it).
pub fn assert_never_woken_early(woken: &[Woken], what: &str) {
    for (i, w) in woken.iter().enumerate() {
        if let Some(at) = w.at {
            assert!(
                at >= w.deadline,
                "{what}: poll {i} woken {:?} before its deadline",
                w.deadline - at
            );
        }
    }
    if let Some(last) = woken.last() {
        assert!(last.at.is_some(), "{what}: completed without a wake-up");
    }
}

/// A waker that records the reading of `clock` when first called.
struct ClockRecorder {
    task: Waker,
    clock: iofd::Clock,
    woken: Mutex<Option<std::time::Duration>>,
}

impl Wake for ClockRecorder {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let now = self.clock.now().unwrap();
        self.woken.lock().unwrap().get_or_insert(now);
        self.task.wake_by_ref();
    }
}

/// Drives a sleep of a `Timers` on any clock to completion with wakers
/// that read that clock when called; asserts that no waker was called
/// before the deadline by that clock, and that the driver woke the last
/// pending poll. Returns how late the last wake was, on that clock.
pub async fn assert_sleep_never_early_on_its_clock(
    mut sleep: iofd::time::Sleep,
    what: &str,
) -> std::time::Duration {
    let deadline = sleep.deadline_time();
    let clock = deadline.clock();
    let mut polls: Vec<Arc<ClockRecorder>> = Vec::new();
    poll_fn(|cx| {
        let recorder = Arc::new(ClockRecorder {
            task: cx.waker().clone(),
            clock,
            woken: Mutex::new(None),
        });
        let waker = Waker::from(Arc::clone(&recorder));
        let poll = std::pin::Pin::new(&mut sleep).poll(&mut Context::from_waker(&waker));
        if poll.is_pending() && tokio::task::coop::has_budget_remaining() {
            polls.push(recorder);
        }
        poll
    })
    .await;
    let mut late = std::time::Duration::ZERO;
    for (i, recorder) in polls.iter().enumerate() {
        if let Some(at) = *recorder.woken.lock().unwrap() {
            assert!(
                at >= deadline.since_zero(),
                "{what}: poll {i} woken {:?} before its deadline on {clock:?}",
                deadline.since_zero() - at
            );
            late = at - deadline.since_zero();
        }
    }
    if let Some(last) = polls.last() {
        assert!(
            last.woken.lock().unwrap().is_some(),
            "{what}: completed without a wake-up"
        );
    }
    late
}

/// utime + stime (clock ticks) of this process's `iofd-helper` thread:
/// how much CPU the helper thread spent, to catch it spinning.
pub fn helper_cpu_ticks() -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = e.unwrap().path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == "iofd-helper" {
            let stat = std::fs::read_to_string(path.join("stat")).unwrap();
            let f: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
            total += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        }
    }
    total
}

thread_local! {
    /// The timers a [`reentrant_waker`] uses when cloned or dropped.
    pub static REENTER: std::cell::RefCell<Option<iofd::time::Timers>> = const { std::cell::RefCell::new(None) };
}

/// A waker whose clone and drop use the timers of [`REENTER`] (they ask
/// how many are armed, which takes every lock of the `iofd::time::Timers`): run
/// while one of those locks is held, they would never return.
pub fn reentrant_waker() -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn touch() {
        REENTER.with(|timers| {
            if let Some(timers) = &*timers.borrow() {
                let _ = timers.armed();
            }
        });
    }
    fn clone(_: *const ()) -> RawWaker {
        touch();
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn wake(_: *const ()) {
        touch();
    }
    fn drop(_: *const ()) {
        touch();
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop);
    // SAFETY: the vtable's functions never read the data pointer, and are
    // safe to call from any thread, any number of times.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Runs `test` on a thread of its own; fails (rather than hangs) if it
/// does not finish within `limit`. A hung thread is left behind.
pub fn with_watchdog(limit: std::time::Duration, test: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => thread.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(thread.join().unwrap_err())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("hung: not done within {limit:?}")
        }
    }
}

/// A waker that counts its wakes.
pub struct CountingWaker(pub std::sync::atomic::AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A counting waker, and the count.
pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let count = Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
    (Arc::clone(&count), Waker::from(count))
}
