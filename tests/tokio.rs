//! The tokio wrappers (except signal delivery, which has its own binary,
//! tests/tokio_signal.rs): poll semantics, cancel safety, both runtime
//! flavours, conversions, and errors without a runtime.

#![cfg(feature = "tokio")]
use std::io::ErrorKind;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use iofd::{
    AsyncEventFd, AsyncPidFd, AsyncSignalFd, AsyncTimerFd, Clock, EventFd, PidFd, SigSet, Signal,
    SignalFd, TimerFd,
};
use tokio_stream::StreamExt;
use tokio_test::task;
use tokio_test::{assert_pending, assert_ready};

mod common;

use common::{on_both_runtimes, until, within};

#[test]
fn wrappers_are_send_sync_unpin() {
    fn assert_traits<T: Send + Sync + Unpin + 'static>() {}
    assert_traits::<AsyncEventFd>();
    assert_traits::<AsyncTimerFd>();
    assert_traits::<AsyncSignalFd>();
    assert_traits::<AsyncPidFd>();
}

#[test]
fn no_runtime_is_an_error_not_a_panic_and_the_handle_comes_back() {
    let err = AsyncEventFd::new(0).unwrap_err();
    assert!(err.to_string().contains("no tokio runtime"), "{err}");
    assert!(AsyncTimerFd::interval(Duration::from_millis(1)).is_err());
    let efd = EventFd::new(5).unwrap();
    let err = AsyncEventFd::try_from(efd).unwrap_err();
    assert!(err.error().to_string().contains("no tokio runtime"));
    let efd = err.into_inner();
    assert_eq!(efd.wait().unwrap(), 5, "handed back, still working");
    let timer = TimerFd::new().unwrap();
    let (timer, _) = AsyncTimerFd::try_from(timer).unwrap_err().into_parts();
    timer.disarm().unwrap();
    let sfd = SignalFd::new(&SigSet::from(Signal::USR2)).unwrap();
    assert!(AsyncSignalFd::try_from(sfd).is_err());
    let me = require!(PidFd::open(std::process::id() as i32));
    let err = AsyncPidFd::try_from(me).unwrap_err();
    let _: std::io::Error = err.into();
}

#[test]
fn eventfd_pending_until_signalled_then_ready() {
    on_both_runtimes(|| async {
        let efd = AsyncEventFd::new(0).unwrap();
        let mut wait = task::spawn(efd.wait());
        assert_pending!(wait.poll());
        assert_pending!(wait.poll(), "still nothing");
        efd.get_ref().signal(2).unwrap();
        until(|| wait.is_woken()).await;
        assert_eq!(assert_ready!(wait.poll()).unwrap(), 2);
        drop(wait);
        // Readiness was cleared by the WouldBlock of the drained counter.
        let mut again = task::spawn(efd.wait());
        assert_pending!(again.poll());
    });
}

#[test]
fn eventfd_wait_is_cancel_safe() {
    on_both_runtimes(|| async {
        let efd = AsyncEventFd::new(0).unwrap();
        let mut pending = task::spawn(efd.wait());
        assert_pending!(pending.poll());
        drop(pending);
        efd.signal(7).await.unwrap();
        assert_eq!(within(efd.wait()).await.unwrap(), 7, "nothing lost");
    });
}

#[test]
fn eventfd_signal_waits_for_room_when_full() {
    on_both_runtimes(|| async {
        let efd = Arc::new(AsyncEventFd::new(0).unwrap());
        efd.signal(iofd::EVENTFD_MAX).await.unwrap();
        let mut blocked = task::spawn(efd.signal(1));
        assert_pending!(blocked.poll(), "would overflow: waits");
        assert_eq!(efd.get_ref().wait().unwrap(), iofd::EVENTFD_MAX);
        until(|| blocked.is_woken()).await;
        assert_ready!(blocked.poll()).unwrap();
        assert_eq!(efd.wait().await.unwrap(), 1);
        let err = efd.signal(u64::MAX).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn eventfd_signal_is_cancel_safe() {
    on_both_runtimes(|| async {
        let efd = AsyncEventFd::new(0).unwrap();
        efd.signal(iofd::EVENTFD_MAX).await.unwrap();
        let mut pending = task::spawn(efd.signal(5));
        assert_pending!(pending.poll(), "full: waits");
        drop(pending);
        // The dropped signal added nothing.
        assert_eq!(efd.get_ref().wait().unwrap(), iofd::EVENTFD_MAX);
        assert_eq!(
            efd.get_ref().wait().unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    });
}

#[test]
fn semaphore_mode_hands_one_permit_to_each_waiter() {
    on_both_runtimes(|| async {
        let sem = Arc::new(AsyncEventFd::new_semaphore(0).unwrap());
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let sem = sem.clone();
                tokio::spawn(async move { sem.wait().await })
            })
            .collect();
        tokio::task::yield_now().await;
        sem.signal(5).await.unwrap();
        for waiter in waiters {
            assert_eq!(within(waiter).await.unwrap().unwrap(), 1);
        }
        let mut more = task::spawn(sem.wait());
        assert_pending!(more.poll(), "all five permits taken");
    });
}

#[test]
fn eventfd_ping_pong_between_tasks() {
    on_both_runtimes(|| async {
        let ping = Arc::new(AsyncEventFd::new(0).unwrap());
        let pong = Arc::new(AsyncEventFd::new(0).unwrap());
        let responder = tokio::spawn({
            let (ping, pong) = (ping.clone(), pong.clone());
            async move {
                for _ in 0..100 {
                    let n = ping.wait().await.unwrap();
                    pong.signal(n).await.unwrap();
                }
            }
        });
        for round in 1..=100 {
            ping.signal(round).await.unwrap();
            assert_eq!(within(pong.wait()).await.unwrap(), round);
        }
        within(responder).await.unwrap();
    });
}

#[test]
fn eventfd_into_inner_and_conversions() {
    on_both_runtimes(|| async {
        let efd = EventFd::new(3).unwrap();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&efd);
        let async_efd = AsyncEventFd::try_from(efd).unwrap();
        assert_eq!(std::os::fd::AsRawFd::as_raw_fd(&async_efd), raw);
        assert!(format!("{async_efd:?}").contains("AsyncEventFd"));
        let efd = async_efd.into_inner();
        assert_eq!(efd.wait().unwrap(), 3);
    });
}

#[test]
fn timer_pending_until_it_fires_and_counts_expirations() {
    on_both_runtimes(|| async {
        let timer = AsyncTimerFd::try_from(TimerFd::new().unwrap()).unwrap();
        let mut first = task::spawn(timer.expirations());
        assert_pending!(first.poll(), "disarmed: pending");
        timer.arm(Duration::from_millis(1), Duration::ZERO).unwrap();
        until(|| first.is_woken()).await;
        assert_eq!(assert_ready!(first.poll()).unwrap(), 1);
    });
}

#[test]
fn interval_counts_every_expiration() {
    on_both_runtimes(|| async {
        let start = std::time::Instant::now();
        let timer = AsyncTimerFd::interval(Duration::from_millis(1)).unwrap();
        let mut total = 0;
        while total < 20 {
            total += within(timer.expirations()).await.unwrap();
        }
        let elapsed = start.elapsed();
        let most = elapsed.as_millis() as u64 + 1;
        assert!(total <= most, "{total} expirations in {elapsed:?}");
        // A late reader gets the overrun count.
        std::thread::sleep(Duration::from_millis(20));
        let late = within(timer.expirations()).await.unwrap();
        assert!(late >= 10, "{late}");
    });
}

#[test]
fn timer_stream_yields_counts() {
    on_both_runtimes(|| async {
        let mut timer = AsyncTimerFd::interval(Duration::from_micros(500)).unwrap();
        let mut total = 0;
        for _ in 0..5 {
            let n = within(timer.next()).await.expect("never ends").unwrap();
            assert!(n >= 1);
            total += n;
        }
        assert!(total >= 5);
    });
}

#[test]
fn timer_can_be_armed_while_another_task_awaits_it() {
    on_both_runtimes(|| async {
        let timer = Arc::new(AsyncTimerFd::try_from(TimerFd::new().unwrap()).unwrap());
        let waiter = tokio::spawn({
            let timer = timer.clone();
            async move { timer.expirations().await }
        });
        tokio::task::yield_now().await;
        assert_eq!(timer.get_time().unwrap(), (Duration::ZERO, Duration::ZERO));
        timer.arm(Duration::from_millis(2), Duration::ZERO).unwrap();
        assert_eq!(within(waiter).await.unwrap().unwrap(), 1);
        timer
            .arm(Duration::from_secs(60), Duration::from_secs(1))
            .unwrap();
        assert_eq!(timer.get_time().unwrap().1, Duration::from_secs(1));
        timer.disarm().unwrap();
        let now = timer.get_ref().now().unwrap();
        timer.arm_at(now, Duration::ZERO).unwrap();
        assert_eq!(within(timer.expirations()).await.unwrap(), 1);
    });
}

#[test]
fn timer_expirations_are_cancel_safe() {
    on_both_runtimes(|| async {
        let timer = AsyncTimerFd::try_from(TimerFd::new().unwrap()).unwrap();
        let mut pending = task::spawn(timer.expirations());
        assert_pending!(pending.poll());
        drop(pending);
        timer.arm(Duration::from_millis(1), Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(within(timer.expirations()).await.unwrap(), 1, "kept");
    });
}

#[test]
fn timer_bad_input_and_clock_and_into_inner() {
    on_both_runtimes(|| async {
        let err = AsyncTimerFd::interval(Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let timer =
            AsyncTimerFd::interval_with_clock(Duration::from_secs(5), Clock::Boottime).unwrap();
        assert_eq!(timer.get_ref().clock(), Clock::Boottime);
        let sync = timer.into_inner();
        assert_eq!(
            sync.get_time().unwrap().1,
            Duration::from_secs(5),
            "still armed"
        );
    });
}

/// `interval_at` as tokio's: a `start` of now fires at once, a future
/// `start` waits, a past `start` counts every period since, and a zero
/// period is refused.
#[test]
fn interval_at_starts_when_told() {
    on_both_runtimes(|| async {
        let now = std::time::Instant::now();
        let err = AsyncTimerFd::interval_at(now, Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        let at_once = AsyncTimerFd::interval_at(now, Duration::from_secs(3600)).unwrap();
        assert_eq!(within(at_once.expirations()).await.unwrap(), 1);
        let mut next = task::spawn(at_once.expirations());
        assert_pending!(next.poll(), "the next tick is an hour away");
        drop(next);
        at_once.close().unwrap();

        let later =
            AsyncTimerFd::interval_at(now + Duration::from_secs(3600), Duration::from_secs(1))
                .unwrap();
        let mut first = task::spawn(later.expirations());
        assert_pending!(first.poll());
        let (remaining, period) = later.get_time().unwrap();
        assert!(remaining > Duration::from_secs(3500), "{remaining:?}");
        assert_eq!(period, Duration::from_secs(1));
        drop(first);

        // 10.5 periods ago: ticks at -10.5 s, -9.5 s, ..., -0.5 s = 11.
        if let Some(past) = now.checked_sub(Duration::from_millis(10_500)) {
            let caught_up = AsyncTimerFd::interval_at(past, Duration::from_secs(1)).unwrap();
            assert_eq!(within(caught_up.expirations()).await.unwrap(), 11);
        }
    });
}

#[test]
fn async_handles_close_and_report() {
    on_both_runtimes(|| async {
        AsyncEventFd::new(0).unwrap().close().unwrap();
        AsyncTimerFd::interval(Duration::from_secs(1))
            .unwrap()
            .close()
            .unwrap();
        let mask = SigSet::from(Signal::USR1);
        AsyncSignalFd::try_from(SignalFd::new(&mask).unwrap())
            .unwrap()
            .close()
            .unwrap();
        let pidfd = require!(PidFd::open(std::process::id() as i32));
        AsyncPidFd::try_from(pidfd).unwrap().close().unwrap();
    });
}

#[test]
fn pidfd_wait_reports_the_exit_code() {
    on_both_runtimes(|| async {
        let child = Command::new("sh")
            .args(["-c", "sleep 0.05; exit 9"])
            .spawn()
            .unwrap();
        let pidfd = require!(AsyncPidFd::from_owned_child(child));
        let mut wait = task::spawn(pidfd.wait());
        assert_pending!(wait.poll(), "still running");
        until(|| wait.is_woken()).await;
        let status = assert_ready!(wait.poll()).unwrap();
        assert_eq!(status.code(), Some(9));
    });
}

#[test]
fn pidfd_wait_is_cancel_safe() {
    on_both_runtimes(|| async {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let pidfd = require!(AsyncPidFd::from_owned_child(child));
        let mut pending = task::spawn(pidfd.wait());
        assert_pending!(pending.poll());
        drop(pending);
        pidfd.get_ref().send_signal(Signal::KILL).unwrap();
        let status = within(pidfd.wait()).await.unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    });
}

#[test]
fn pidfd_exited_observes_without_reaping() {
    on_both_runtimes(|| async {
        let mut child = Command::new("sh").args(["-c", "exit 2"]).spawn().unwrap();
        let pidfd = require!(AsyncPidFd::from_child(&child), reap child);
        within(pidfd.exited()).await.unwrap();
        // Not reaped by exited(): wait still gets the status, and so does
        // the owner, which reaps.
        assert_eq!(within(pidfd.wait()).await.unwrap().code(), Some(2));
        assert_eq!(child.wait().unwrap().code(), Some(2));
        // A non-child (ourselves) can be watched: it has not exited.
        let me = AsyncPidFd::try_from(require!(PidFd::open(std::process::id() as i32))).unwrap();
        let mut watch = task::spawn(me.exited());
        assert_pending!(watch.poll());
        drop(watch); // cancel safe: it only observed
        let mut watch = task::spawn(me.exited());
        assert_pending!(watch.poll());
        drop(watch);
        let err = within(me.wait()).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECHILD));
        let sync = me.into_inner();
        assert_eq!(sync.pid(), std::process::id() as i32);
    });
}

#[test]
fn many_children_awaited_concurrently() {
    on_both_runtimes(|| async {
        let mut tasks = Vec::new();
        for code in 0..8 {
            let child = Command::new("sh")
                .args(["-c", &format!("exit {code}")])
                .spawn()
                .unwrap();
            let pidfd = require!(AsyncPidFd::from_owned_child(child));
            tasks.push(tokio::spawn(async move { pidfd.wait().await }));
        }
        for (code, task) in tasks.into_iter().enumerate() {
            let status = within(task).await.unwrap().unwrap();
            assert_eq!(status.code(), Some(code as i32));
        }
    });
}

#[test]
fn a_runtime_without_io_is_an_error_naming_enable_io_not_a_panic() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let check = |err: std::io::Error| {
            assert!(err.to_string().contains("enable_io"), "{err}");
        };
        check(AsyncEventFd::new(0).unwrap_err());
        check(AsyncTimerFd::interval(Duration::from_millis(1)).unwrap_err());
        let mut child = Command::new("true").spawn().unwrap();
        if common::pidfds_or_skip() {
            check(AsyncPidFd::from_child(&child).unwrap_err());
        }
        child.wait().unwrap();
        // The handle comes back unharmed.
        let err = AsyncEventFd::try_from(EventFd::new(7).unwrap()).unwrap_err();
        assert_eq!(err.into_inner().wait().unwrap(), 7);
    });
}

#[test]
fn streams_end_after_the_runtime_shuts_down() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut timer = rt
        .block_on(async { AsyncTimerFd::interval(Duration::from_secs(60)) })
        .unwrap();
    drop(rt);
    common::assert_ends_after_shutdown(&mut timer);
}

#[test]
fn every_waiter_and_every_later_wait_gets_the_exit_status() {
    on_both_runtimes(|| async {
        let mut child = Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
        let pidfd = Arc::new(require!(AsyncPidFd::from_child(&child), reap child));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let pidfd = pidfd.clone();
                tokio::spawn(async move { pidfd.wait().await })
            })
            .collect();
        for waiter in waiters {
            assert_eq!(within(waiter).await.unwrap().unwrap().code(), Some(9));
        }
        assert_eq!(pidfd.wait().await.unwrap().code(), Some(9));
        // The std Child was left its zombie: it reaps it and agrees.
        assert_eq!(child.wait().unwrap().code(), Some(9));
        assert_eq!(pidfd.wait().await.unwrap().code(), Some(9));
    });
}

#[test]
fn a_new_event_after_the_eager_clear_still_wakes_the_next_wait() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let efd = AsyncEventFd::new(0).unwrap();
        let timer = AsyncTimerFd::try_from(TimerFd::new().unwrap()).unwrap();
        for _ in 0..3 {
            efd.get_ref().signal(1).unwrap();
            assert_eq!(within(efd.wait()).await.unwrap(), 1);
            // The read drained the counter and cleared the readiness. A
            // write now (before the driver runs again) is a new event:
            let mut next = task::spawn(efd.wait());
            assert_pending!(next.poll()); // cleared: no stale readiness
            efd.get_ref().signal(2).unwrap();
            until(|| next.is_woken()).await;
            assert_eq!(assert_ready!(next.poll()).unwrap(), 2);

            timer.arm(Duration::from_micros(1), Duration::ZERO).unwrap();
            assert_eq!(within(timer.expirations()).await.unwrap(), 1);
            let mut tick = task::spawn(timer.expirations());
            assert_pending!(tick.poll());
            timer.arm(Duration::from_micros(1), Duration::ZERO).unwrap();
            until(|| tick.is_woken()).await;
            assert_eq!(assert_ready!(tick.poll()).unwrap(), 1);
        }
    });
}

#[test]
fn signal_on_a_full_counter_waits_for_a_reader() {
    on_both_runtimes(|| async {
        let efd = Arc::new(AsyncEventFd::new(0).unwrap());
        efd.get_ref().signal(iofd::EVENTFD_MAX).unwrap();
        let mut signal = task::spawn(efd.signal(5));
        assert_pending!(signal.poll());
        assert_eq!(efd.wait().await.unwrap(), iofd::EVENTFD_MAX);
        until(|| signal.is_woken()).await;
        assert_ready!(signal.poll()).unwrap();
        assert_eq!(efd.wait().await.unwrap(), 5);
    });
}

#[test]
fn async_signal_fd_error_on_a_multi_thread_runtime_names_both_remedies() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // SIGWINCH: nobody blocks it here (and its default action is to ignore).
    let err = rt
        .block_on(async { AsyncSignalFd::new(&SigSet::from(Signal::WINCH)) })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let message = err.to_string();
    for needle in ["before building the runtime", "current_thread", "fn main"] {
        assert!(message.contains(needle), "{needle:?} missing: {message}");
    }
}
