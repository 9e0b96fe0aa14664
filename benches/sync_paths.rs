//! Each synchronous hot path beside the raw rustix call it wraps, measured
//! back to back in one process: `cargo bench --bench sync_paths`.
//!
//! The goal (issue 7): each wrapper within 1.05x of its raw call.

use std::hint::black_box;
use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use iofd::{EventFd, PidFd, SigSet, Signal, SignalFd, SignalInfo, SignalMaskGuard, TimerFd};
use rustix::event::{EventfdFlags, eventfd};
use rustix::process::{WaitId, WaitIdOptions, waitid};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

fn eventfd_signal_wait(c: &mut Criterion) {
    let mut group = c.benchmark_group("eventfd signal+wait");
    let efd = EventFd::new(0).unwrap();
    group.bench_function("iofd", |b| {
        b.iter(|| {
            efd.signal(black_box(1)).unwrap();
            black_box(efd.wait().unwrap());
        })
    });
    let raw = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).unwrap();
    group.bench_function("raw rustix", |b| {
        b.iter(|| {
            rustix::io::write(&raw, &black_box(1u64).to_ne_bytes()).unwrap();
            let mut buf = [0u8; 8];
            rustix::io::read(&raw, &mut buf).unwrap();
            black_box(u64::from_ne_bytes(buf));
        })
    });
    group.finish();
}

fn spec(value: Duration) -> Itimerspec {
    Itimerspec {
        it_value: Timespec {
            tv_sec: value.as_secs() as i64,
            tv_nsec: value.subsec_nanos().into(),
        },
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
    }
}

/// A bare timerfd, as `TimerFd::new` makes it.
fn raw_timer() -> std::os::fd::OwnedFd {
    timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
    )
    .unwrap()
}

fn timerfd_arm(c: &mut Criterion) {
    let mut group = c.benchmark_group("timerfd arm");
    let timer = TimerFd::new().unwrap();
    group.bench_function("iofd", |b| {
        b.iter(|| {
            timer
                .arm(black_box(Duration::from_secs(60)), Duration::ZERO)
                .unwrap()
        })
    });
    let raw = raw_timer();
    group.bench_function("raw rustix", |b| {
        b.iter(|| {
            timerfd_settime(
                &raw,
                TimerfdTimerFlags::empty(),
                &spec(black_box(Duration::from_secs(60))),
            )
            .unwrap();
        })
    });
    group.finish();
}

fn timerfd_expirations(c: &mut Criterion) {
    // The read of an expired timer: arm in the past (absolute 1 ns), read.
    let mut group = c.benchmark_group("timerfd arm_at(past)+expirations");
    let timer = TimerFd::new().unwrap();
    group.bench_function("iofd", |b| {
        b.iter(|| {
            timer
                .arm_at(Duration::from_nanos(1), Duration::ZERO)
                .unwrap();
            black_box(timer.expirations().unwrap());
        })
    });
    let raw = raw_timer();
    group.bench_function("raw rustix", |b| {
        b.iter(|| {
            timerfd_settime(
                &raw,
                TimerfdTimerFlags::ABSTIME,
                &spec(Duration::from_nanos(1)),
            )
            .unwrap();
            let mut buf = [0u8; 8];
            rustix::io::read(&raw, &mut buf).unwrap();
            black_box(u64::from_ne_bytes(buf));
        })
    });
    group.finish();

    let mut group = c.benchmark_group("timerfd expirations (none: WouldBlock)");
    let idle = TimerFd::new().unwrap();
    group.bench_function("iofd", |b| {
        b.iter(|| black_box(idle.expirations().is_err()))
    });
    group.bench_function("raw rustix", |b| {
        b.iter(|| {
            let mut buf = [0u8; 8];
            black_box(rustix::io::read(&raw, &mut buf).is_err())
        })
    });
    group.finish();
}

fn signalfd_read_info(c: &mut Criterion) {
    // The bench runs on this thread only (criterion without rayon): block
    // here and raise thread-directed signals.
    let set = SigSet::from(Signal::USR1);
    SignalMaskGuard::block(&set).unwrap().keep();
    let raise = || {
        // SAFETY: raise(3) to this thread, which blocks SIGUSR1.
        unsafe { libc::raise(libc::SIGUSR1) };
    };
    let mut group = c.benchmark_group("signalfd raise+read_info");
    let sfd = SignalFd::new(&set).unwrap();
    group.bench_function("iofd", |b| {
        b.iter(|| {
            raise();
            black_box(sfd.read_info().unwrap());
        })
    });
    let raw = SignalFd::new(&set).unwrap();
    group.bench_function("raw read", |b| {
        b.iter(|| {
            raise();
            let mut buf = [0u8; 128];
            black_box(rustix::io::read(raw.as_fd(), &mut buf).unwrap());
        })
    });
    group.finish();

    let mut group = c.benchmark_group("signalfd read_batch (none: WouldBlock)");
    let mut batch = [SignalInfo::default(); 16];
    group.bench_function("iofd", |b| {
        b.iter(|| black_box(sfd.read_batch(&mut batch).is_err()))
    });
    group.bench_function("raw read", |b| {
        b.iter(|| {
            let mut buf = [0u8; 128 * 16];
            black_box(rustix::io::read(raw.as_fd(), &mut buf).is_err())
        })
    });
    group.finish();
}

fn pidfd_paths(c: &mut Criterion) {
    let child = Command::new("sleep").arg("600").spawn().unwrap();
    let pidfd = PidFd::from_owned_child(child).unwrap();
    let mut group = c.benchmark_group("pidfd try_wait (running child)");
    group.bench_function("iofd", |b| b.iter(|| black_box(pidfd.try_wait().unwrap())));
    group.bench_function("raw rustix", |b| {
        b.iter(|| {
            black_box(
                waitid(
                    WaitId::PidFd(pidfd.as_fd()),
                    WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
                )
                .unwrap(),
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("pidfd send_signal (SIGCONT)");
    group.bench_function("iofd", |b| {
        b.iter(|| pidfd.send_signal(black_box(Signal::CONT)).unwrap())
    });
    group.bench_function("raw rustix", |b| {
        b.iter(|| {
            rustix::process::pidfd_send_signal(
                pidfd.as_fd(),
                black_box(rustix::process::Signal::CONT),
            )
            .unwrap()
        })
    });
    group.finish();
    pidfd.send_signal(Signal::KILL).unwrap();
    pidfd.wait().unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = eventfd_signal_wait, timerfd_arm, timerfd_expirations, signalfd_read_info, pidfd_paths
}
criterion_main!(benches);
