//! `iofd::time` at scale, with exact descriptor accounting: one descriptor
//! for any number of timers, closed when the last user goes, and 100 000
//! concurrent sleeps with `RLIMIT_NOFILE` at 1024.
//!
//! `harness = false`: one test at a time on the main thread, so the count
//! of open descriptors is this test's alone.

mod common;
mod time_support;

use std::time::{Duration, Instant};

use iofd::time::Timers;
use tokio_test::{assert_pending, task};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// One timerfd however many timers; it is closed once the last handle and
/// the last timer are gone (the driver task ends).
fn one_descriptor_closed_with_the_last_user() {
    let rt = common::two_workers();
    rt.block_on(async {
        let before = open_fds();
        let timers = Timers::new().unwrap();
        assert_eq!(open_fds(), before + 1);
        // A minute away: none is due while they are polled, however slow
        // the machine (valgrind).
        let mut sleeps: Vec<_> = (0..10_000)
            .map(|i| timers.sleep(Duration::from_secs(60) + Duration::from_micros(i)))
            .collect();
        for sleep in &mut sleeps {
            let mut poll = task::spawn(sleep);
            assert_pending!(poll.poll());
        }
        assert_eq!(timers.armed(), 10_000);
        assert_eq!(open_fds(), before + 1, "one descriptor for 10 000 timers");
        drop(timers);
        let mut last = sleeps.pop().unwrap();
        drop(sleeps);
        assert_eq!(open_fds(), before + 1, "a sleep keeps the timerfd open");
        // It still works without any `Timers` handle.
        let deadline = Instant::now() + Duration::from_millis(1);
        last.reset(deadline);
        (&mut last).await;
        assert!(Instant::now() >= deadline);
        assert_eq!(open_fds(), before + 1);
        drop(last);
        let deadline = Instant::now() + Duration::from_secs(10);
        while open_fds() != before {
            assert!(
                Instant::now() < deadline,
                "the driver's timerfd was not closed"
            );
            tokio::task::yield_now().await;
        }
    });
}

/// 100 000 sleeps at once with `RLIMIT_NOFILE` at 1024: all pending, all
/// complete, none early.
fn a_hundred_thousand_sleeps_under_a_1024_descriptor_limit() {
    let limit = rustix::process::Rlimit {
        current: Some(1024),
        maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
    };
    let saved = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();
    let rt = common::two_workers();
    rt.block_on(async {
        let timers = Timers::new().unwrap();
        let tasks: Vec<_> = (0..100_000u64)
            .map(|i| {
                let sleep = timers.sleep(Duration::from_micros(1000 + (i % 997) * 20));
                tokio::spawn(time_support::recorded_sleep(sleep))
            })
            .collect();
        for task in tasks {
            let woken = tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("every sleep completes")
                .unwrap();
            time_support::assert_never_woken_early(&woken, "one of 100 000 sleeps");
        }
        assert_eq!(timers.armed(), 0);
    });
    drop(rt);
    rustix::process::setrlimit(rustix::process::Resource::Nofile, saved).unwrap();
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Once the runtime is gone, one thread of the `Timers` times every timer
/// still polled (from another runtime): 1 000 pending sleeps and an
/// interval ticking every 500 µs add one thread, not one per timer or per
/// tick; all complete, none early; the thread ends with the last timer.
fn after_shutdown_one_thread_times_every_timer() {
    // Counted before the first runtime exists: its workers are joined when
    // it is dropped, and the timing thread (started at its shutdown) is the
    // one thread allowed on top.
    let before = threads();
    let first = common::two_workers();
    let (timers, mut sleeps, mut interval) = first.block_on(async {
        let timers = Timers::new().unwrap();
        // Far enough that none is due before the runtime is gone.
        let mut sleeps: Vec<_> = (0..1_000)
            .map(|i| timers.sleep(Duration::from_millis(300) + Duration::from_micros(i)))
            .collect();
        for sleep in &mut sleeps {
            let mut poll = task::spawn(sleep);
            assert_pending!(poll.poll());
        }
        let interval = timers.interval(Duration::from_micros(500)).unwrap();
        (timers, sleeps, interval)
    });
    drop(first);
    // tokio has joined its workers, but a joined thread may still be
    // listed in /proc for a moment while the kernel finishes its exit.
    let joined_by = Instant::now() + Duration::from_secs(10);
    while threads() > before + 1 {
        assert!(
            Instant::now() < joined_by,
            "workers joined, one timing thread: {} threads, {before} before",
            threads()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let mut most = before;
        // Every sleep polled after the shutdown, each from its own task.
        let waits: Vec<_> = sleeps
            .drain(..)
            .map(|sleep| tokio::spawn(time_support::recorded_sleep(sleep)))
            .collect();
        let mut periods = 0;
        while periods < 200 {
            let (deadline, missed) =
                tokio::time::timeout(Duration::from_secs(10), interval.tick_with_missed())
                    .await
                    .expect("ticks after the shutdown");
            assert!(Instant::now() >= deadline, "never early");
            periods += 1 + missed;
            most = most.max(threads());
        }
        for wait in waits {
            let woken = tokio::time::timeout(Duration::from_secs(10), wait)
                .await
                .expect("every sleep completes after the shutdown")
                .unwrap();
            time_support::assert_never_woken_early(&woken, "a sleep after the shutdown");
            most = most.max(threads());
        }
        // A sleep made after the shutdown works too.
        let deadline = Instant::now() + Duration::from_millis(1);
        tokio::time::timeout(Duration::from_secs(10), timers.sleep_until(deadline))
            .await
            .expect("a new sleep completes");
        assert!(Instant::now() >= deadline);
        assert!(
            most <= before + 1,
            "{} threads timed the timers after the shutdown",
            most - before
        );
    });
    drop((timers, interval));
    let deadline = Instant::now() + Duration::from_secs(10);
    while threads() > before {
        assert!(Instant::now() < deadline, "the timing thread did not end");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `iofd-helper` threads of the process: their ids.
fn timing_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim() == "iofd-helper").then(|| task.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// How many times thread `tid` has slept and been woken.
fn wake_ups(tid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// 50 `Timers` with pending sleeps across a shutdown: one timing thread
/// serves them all, with two descriptors of its own (no duplicate per
/// `Timers`); once no timer is armed it is not woken at all; it ends, and
/// its descriptors are closed, with the last `Timers`.
fn fifty_timers_share_one_timing_thread() {
    assert!(timing_threads().is_empty(), "no timing thread yet");
    // What tokio keeps for the process once a runtime has run (its signal
    // driver's globals) is not counted.
    common::two_workers().block_on(async {});
    let before = open_fds();
    let first = common::two_workers();
    let (runtime, timers, mut sleeps) = first.block_on(async {
        // The runtime's own descriptors: its I/O driver stays open while
        // a registration (each timerfd's) holds its handle.
        let runtime = open_fds() - before;
        let timers: Vec<Timers> = (0..50).map(|_| Timers::new().unwrap()).collect();
        // Far enough that none is due before the runtime is gone.
        let mut sleeps: Vec<_> = timers
            .iter()
            .map(|timers| timers.sleep(Duration::from_millis(300)))
            .collect();
        for sleep in &mut sleeps {
            let mut poll = task::spawn(sleep);
            assert_pending!(poll.poll());
        }
        (runtime, timers, sleeps)
    });
    drop(first);
    // A new thread names itself once it runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    while timing_threads().is_empty() {
        assert!(Instant::now() < deadline, "no timing thread started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let threads = timing_threads();
    assert_eq!(threads.len(), 1, "one timing thread for 50 Timers");
    assert_eq!(
        open_fds(),
        before + runtime + 50 + 2,
        "the 50 timerfds, the thread's epoll instance and eventfd ({runtime} of the runtime)"
    );
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        for sleep in sleeps.drain(..) {
            tokio::time::timeout(Duration::from_secs(10), sleep)
                .await
                .expect("the thread fires every Timers");
        }
    });
    assert!(timers.iter().all(|timers| timers.armed() == 0));
    // Nothing armed: the thread blocks, and nothing wakes it. (Valgrind
    // wakes threads blocked in a syscall for its own reasons.)
    if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
        eprintln!("skipped: the idle timing thread's wake-ups (valgrind wakes it)");
    } else {
        // Let the thread finish the turn that fired the last timers (it
        // blocks again once more): wait until its count holds still for
        // 200 ms, then count over 1.5 s.
        let settle = Instant::now() + Duration::from_secs(5);
        let mut idle = wake_ups(&threads[0]);
        while Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(200));
            let now = wake_ups(&threads[0]);
            if now == idle {
                break;
            }
            idle = now;
        }
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(wake_ups(&threads[0]), idle, "woken while nothing is armed");
    }
    drop(timers);
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !timing_threads().is_empty() || open_fds() != before {
        assert!(
            Instant::now() < deadline,
            "the timing thread did not end with its last Timers"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    common::run(&[
        (
            "after_shutdown_one_thread_times_every_timer",
            after_shutdown_one_thread_times_every_timer,
        ),
        (
            "fifty_timers_share_one_timing_thread",
            fifty_timers_share_one_timing_thread,
        ),
        (
            "one_descriptor_closed_with_the_last_user",
            one_descriptor_closed_with_the_last_user,
        ),
        (
            "a_hundred_thousand_sleeps_under_a_1024_descriptor_limit",
            a_hundred_thousand_sleeps_under_a_1024_descriptor_limit,
        ),
    ]);
}
