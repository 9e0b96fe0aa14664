//! `TimerFd`: arming, counting, disarming, clocks and bad durations.
//!
//! No assertion here depends on sub-millisecond timing: counts are bounded by
//! what the measured elapsed time allows, and waits use `poll` with generous
//! timeouts that only matter when something is broken.

use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iofd::{Clock, TimerFd};
use rustix::event::{PollFd, PollFlags, poll};

/// Blocks until `fd` is readable or `limit` passes; returns whether it is.
fn readable_within(fd: impl AsFd, limit: Duration) -> bool {
    let ts = rustix::time::Timespec {
        tv_sec: limit.as_secs() as i64,
        tv_nsec: limit.subsec_nanos().into(),
    };
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    poll(&mut fds, Some(&ts)).unwrap() == 1
}

fn assert_would_block<T: std::fmt::Debug>(r: std::io::Result<T>) {
    assert_eq!(r.unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn unarmed_timer_would_block() {
    let t = TimerFd::new().unwrap();
    assert_would_block(t.expirations());
    assert_eq!(t.get_time().unwrap(), (Duration::ZERO, Duration::ZERO));
}

#[test]
fn periodic_timer_counts_every_expiration() {
    let t = TimerFd::new().unwrap();
    let period = Duration::from_millis(1);
    let start = Instant::now();
    t.arm(period, period).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let n = t.expirations().unwrap();
    let elapsed = start.elapsed();
    let most = (elapsed.as_micros() / period.as_micros()) as u64 + 1;
    assert!(n >= 10, "only {n} expirations in {elapsed:?}");
    assert!(n <= most, "{n} expirations cannot happen in {elapsed:?}");
}

#[test]
fn one_shot_fires_exactly_once() {
    let t = TimerFd::new().unwrap();
    t.arm(Duration::from_millis(2), Duration::ZERO).unwrap();
    assert!(readable_within(&t, Duration::from_secs(5)));
    assert_eq!(t.expirations().unwrap(), 1);
    std::thread::sleep(Duration::from_millis(10));
    assert_would_block(t.expirations());
    assert_eq!(t.get_time().unwrap(), (Duration::ZERO, Duration::ZERO));
}

#[test]
fn zero_initial_fires_at_once_instead_of_disarming() {
    let t = TimerFd::new().unwrap();
    t.arm(Duration::ZERO, Duration::ZERO).unwrap();
    assert!(readable_within(&t, Duration::from_secs(5)));
    assert_eq!(t.expirations().unwrap(), 1);
}

#[test]
fn zero_initial_with_interval_keeps_ticking() {
    let t = TimerFd::new().unwrap();
    t.arm(Duration::ZERO, Duration::from_secs(3600)).unwrap();
    assert!(readable_within(&t, Duration::from_secs(5)));
    assert_eq!(t.expirations().unwrap(), 1);
    let (remaining, interval) = t.get_time().unwrap();
    assert_eq!(interval, Duration::from_secs(3600));
    assert!(remaining > Duration::from_secs(3500), "{remaining:?}");
}

#[test]
fn disarm_stops_the_timer() {
    let t = TimerFd::new().unwrap();
    t.arm(Duration::from_millis(1), Duration::from_millis(1))
        .unwrap();
    t.disarm().unwrap();
    assert_eq!(t.get_time().unwrap(), (Duration::ZERO, Duration::ZERO));
    std::thread::sleep(Duration::from_millis(20));
    assert_would_block(t.expirations());
}

#[test]
fn disarm_discards_unread_expirations() {
    let t = TimerFd::new().unwrap();
    t.arm(Duration::ZERO, Duration::ZERO).unwrap();
    assert!(readable_within(&t, Duration::from_secs(5)));
    t.disarm().unwrap();
    assert_would_block(t.expirations());
}

#[test]
fn get_time_reports_remaining_and_interval() {
    let t = TimerFd::new().unwrap();
    t.arm(Duration::from_secs(10), Duration::from_secs(2))
        .unwrap();
    let (remaining, interval) = t.get_time().unwrap();
    assert_eq!(interval, Duration::from_secs(2));
    assert!(remaining <= Duration::from_secs(10), "{remaining:?}");
    assert!(remaining > Duration::from_secs(9), "{remaining:?}");
}

#[test]
fn re_arming_replaces_the_old_setting() {
    let t = TimerFd::new().unwrap();
    t.arm(Duration::from_millis(1), Duration::from_millis(1))
        .unwrap();
    t.arm(Duration::from_secs(20), Duration::from_secs(3))
        .unwrap();
    let (remaining, interval) = t.get_time().unwrap();
    assert_eq!(interval, Duration::from_secs(3));
    assert!(remaining > Duration::from_secs(19), "{remaining:?}");
    std::thread::sleep(Duration::from_millis(10));
    assert_would_block(t.expirations());
}

#[test]
fn arm_at_in_the_past_fires_at_once() {
    let t = TimerFd::new().unwrap();
    let now = t.now().unwrap();
    t.arm_at(now - Duration::from_millis(500).min(now), Duration::ZERO)
        .unwrap();
    assert!(readable_within(&t, Duration::from_secs(5)));
    assert_eq!(t.expirations().unwrap(), 1);
}

#[test]
fn arm_at_zero_fires_at_once() {
    let t = TimerFd::new().unwrap();
    t.arm_at(Duration::ZERO, Duration::ZERO).unwrap();
    assert!(readable_within(&t, Duration::from_secs(5)));
    assert_eq!(t.expirations().unwrap(), 1);
}

#[test]
fn arm_at_in_the_future_waits_for_the_deadline() {
    let t = TimerFd::new().unwrap();
    let deadline = t.now().unwrap() + Duration::from_secs(60);
    t.arm_at(deadline, Duration::ZERO).unwrap();
    let (remaining, _) = t.get_time().unwrap();
    assert!(remaining > Duration::from_secs(59) && remaining <= Duration::from_secs(60));
    assert_would_block(t.expirations());
}

#[test]
fn realtime_arm_at_uses_the_wall_clock() {
    let t = TimerFd::with_clock(Clock::Realtime).unwrap();
    let now = t.now().unwrap();
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert!(
        now.abs_diff(wall) < Duration::from_secs(5),
        "{now:?} vs {wall:?}"
    );
    t.arm_at(now + Duration::from_secs(30), Duration::ZERO)
        .unwrap();
    let (remaining, _) = t.get_time().unwrap();
    assert!(remaining > Duration::from_secs(29) && remaining <= Duration::from_secs(30));
}

#[test]
fn durations_past_time_t_are_invalid_input() {
    let t = TimerFd::new().unwrap();
    for (initial, interval) in [
        (Duration::MAX, Duration::ZERO),
        (Duration::from_secs(1), Duration::MAX),
        (Duration::from_secs(i64::MAX as u64 + 1), Duration::ZERO),
    ] {
        let err = t.arm(initial, interval).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidInput,
            "{initial:?} {interval:?}"
        );
        assert!(err.to_string().contains("too large"), "{err}");
    }
    let err = t.arm_at(Duration::MAX, Duration::ZERO).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // A refused arm leaves the timer as it was: disarmed.
    assert_eq!(t.get_time().unwrap(), (Duration::ZERO, Duration::ZERO));
    // The largest representable value is accepted.
    t.arm(Duration::from_secs(i64::MAX as u64), Duration::ZERO)
        .unwrap();
    assert!(t.get_time().unwrap().0 > Duration::from_secs(100 * 365 * 86_400));
}

#[test]
fn cancel_on_set_needs_a_realtime_clock() {
    for clock in [Clock::Monotonic, Clock::Boottime] {
        let t = TimerFd::with_clock(clock).unwrap();
        let err = t
            .arm_at_cancel_on_set(Duration::from_secs(1), Duration::ZERO)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("Realtime"), "{err}");
    }
}

/// Setting the system clock (even to its own value) needs CAP_SYS_TIME and
/// touches the whole machine, so this runs only when asked for with
/// `IOFD_TEST_SET_CLOCK=1` (CI does, on its own VM).
#[test]
fn clock_change_reports_ecanceled() {
    if std::env::var_os("IOFD_TEST_SET_CLOCK").is_none() {
        eprintln!("skipped: set IOFD_TEST_SET_CLOCK=1 to let this test set CLOCK_REALTIME");
        return;
    }
    let t = TimerFd::with_clock(Clock::Realtime).unwrap();
    let now = t.now().unwrap();
    t.arm_at_cancel_on_set(now + Duration::from_secs(3600), Duration::ZERO)
        .unwrap();
    assert_would_block(t.expirations());
    // Set the clock to its own current value: no real jump, but the kernel
    // treats every set as a discontinuity.
    let current = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    match rustix::time::clock_settime(rustix::time::ClockId::Realtime, current) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::PERM => {
            eprintln!("skipped: clock_settime needs CAP_SYS_TIME ({e})");
            return;
        }
        Err(e) => panic!("clock_settime: {e}"),
    }
    let err = t.expirations().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECANCELED));
    assert!(TimerFd::is_clock_changed(&err));
    assert!(!TimerFd::is_clock_changed(&std::io::Error::from(
        ErrorKind::WouldBlock
    )));
}

#[test]
fn every_clock_is_constructible() {
    for clock in [Clock::Monotonic, Clock::Realtime, Clock::Boottime] {
        let t = TimerFd::with_clock(clock).unwrap();
        assert_eq!(t.clock(), clock);
        assert!(clock.now().unwrap() > Duration::ZERO);
    }
    for clock in [Clock::RealtimeAlarm, Clock::BoottimeAlarm] {
        match TimerFd::with_clock(clock) {
            Ok(t) => {
                assert_eq!(t.clock(), clock);
                t.arm(Duration::from_secs(60), Duration::ZERO).unwrap();
            }
            Err(e) => {
                // Without CAP_WAKE_ALARM the kernel says EPERM: it comes as
                // PermissionDenied, naming the capability.
                assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{clock:?}: {e}");
                let detail = e
                    .get_ref()
                    .and_then(|d| d.downcast_ref::<iofd::SyscallError>());
                assert_eq!(detail.map(|d| d.errno()), Some(libc::EPERM));
                assert!(e.to_string().contains("CAP_WAKE_ALARM"), "{e}");
                eprintln!("skipped {clock:?}: no CAP_WAKE_ALARM here ({e})");
            }
        }
    }
    assert_eq!(Clock::ALL.len(), 5);
}

#[test]
fn monotonic_now_does_not_go_back() {
    let a = Clock::Monotonic.now().unwrap();
    let b = Clock::Monotonic.now().unwrap();
    assert!(b >= a);
}

#[test]
fn created_nonblocking_and_cloexec_and_clones_share_the_timer() {
    let t = TimerFd::new().unwrap();
    assert!(
        rustix::fs::fcntl_getfl(&t)
            .unwrap()
            .contains(rustix::fs::OFlags::NONBLOCK)
    );
    assert!(
        rustix::io::fcntl_getfd(&t)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
    let c = t.try_clone().unwrap();
    assert_ne!(c.as_raw_fd(), t.as_raw_fd());
    assert_eq!(c.clock(), Clock::Monotonic);
    c.arm(Duration::from_secs(50), Duration::from_secs(5))
        .unwrap();
    assert_eq!(t.get_time().unwrap().1, Duration::from_secs(5));
    let dbg = format!("{t:?}");
    assert!(
        dbg.contains("TimerFd") && dbg.contains("Monotonic"),
        "{dbg}"
    );
}

#[test]
fn is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TimerFd>();
    assert_send_sync::<Clock>();
}

#[test]
fn raw_read_gives_the_eight_byte_count() {
    let timer = TimerFd::new().unwrap();
    // An empty buffer takes nothing, even from an expired timer.
    timer.arm(Duration::ZERO, Duration::ZERO).unwrap();
    assert!(readable_within(&timer, Duration::from_secs(5)));
    assert_eq!(timer.read(&mut []).unwrap(), 0);
    for short in 1..8 {
        let err = timer.read(&mut vec![0u8; short]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
    let mut buf = [0xaau8; 12];
    assert_eq!(timer.read(&mut buf).unwrap(), 8);
    assert_eq!(u64::from_ne_bytes(buf[..8].try_into().unwrap()), 1);
    assert_eq!(buf[8..], [0xaa; 4], "only 8 bytes written");
    // Read, so reset: nothing left.
    let err = timer.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    timer.close().unwrap();
}
