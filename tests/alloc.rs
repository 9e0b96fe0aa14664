//! Zero heap allocations on the hot paths, in steady state.
//!
//! A counting global allocator counts the calling thread's allocations
//! (`harness = false`: everything runs on the main thread, which also blocks
//! the signals these checks send). Each check warms up first, then asserts
//! that many more operations allocate nothing.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::Command;
use std::time::Duration;

#[cfg(feature = "tokio")]
use common::kill_self;
use common::raise;
use iofd::{EventFd, PidFd, SigSet, Signal, SignalFd, SignalInfo, SignalMaskGuard, TimerFd};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the thread-local may be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to the system allocator unchanged; counting
// touches only a const-initialised thread-local `Cell`, which never
// allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Runs `op` `warm` times, then `n` times, and returns how many allocations
/// the `n` made.
fn steady_state_allocations(warm: usize, n: usize, mut op: impl FnMut()) -> u64 {
    for _ in 0..warm {
        op();
    }
    let before = allocations();
    for _ in 0..n {
        op();
    }
    allocations() - before
}

const N: usize = 1000;

/// Async warm-up length. It must pass tokio's cooperative budget (128
/// resource operations per task poll): the first time the budget runs out,
/// tokio defers the task's waker into a `Vec` that grows once (one
/// allocation, seen with a backtrace in `tokio::runtime::scheduler::defer`)
/// and is reused from then on. That is warm-up, not steady state.
#[cfg(feature = "tokio")]
const ASYNC_WARM_UP: usize = 300;

fn the_counter_counts() {
    // A check that cannot pass vacuously: a Vec allocates once.
    let n = steady_state_allocations(0, 1, || drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(n, 1);
}

fn eventfd_signal_and_wait() {
    let efd = EventFd::new(0).unwrap();
    let n = steady_state_allocations(10, N, || {
        efd.signal(3).unwrap();
        assert_eq!(efd.wait().unwrap(), 3);
    });
    assert_eq!(n, 0);
}

fn timerfd_arm_and_expirations() {
    let timer = TimerFd::new().unwrap();
    let n = steady_state_allocations(10, N, || {
        timer.arm(Duration::from_secs(60), Duration::ZERO).unwrap();
        timer
            .arm_at(Duration::from_nanos(1), Duration::ZERO)
            .unwrap();
        assert_eq!(timer.expirations().unwrap(), 1);
        timer.disarm().unwrap();
    });
    assert_eq!(n, 0);
    // The WouldBlock path does not allocate either.
    let n = steady_state_allocations(10, N, || assert!(timer.expirations().is_err()));
    assert_eq!(n, 0);
}

fn signalfd_read_info_and_read_batch() {
    let sfd = SignalFd::new(&SigSet::from(Signal::USR1)).unwrap();
    let n = steady_state_allocations(10, N, || {
        raise(Signal::USR1);
        assert_eq!(sfd.read_info().unwrap().signal(), Some(Signal::USR1));
    });
    assert_eq!(n, 0);
    let mut batch = [SignalInfo::default(); 4];
    let n = steady_state_allocations(10, N, || {
        raise(Signal::USR1);
        assert_eq!(sfd.read_batch(&mut batch).unwrap(), 1);
        assert!(sfd.read_batch(&mut batch).is_err());
    });
    assert_eq!(n, 0);
}

fn pidfd_send_signal_and_try_wait() {
    let child = Command::new("sleep").arg("60").spawn().unwrap();
    let pidfd = require!(PidFd::from_owned_child(child));
    let n = steady_state_allocations(10, N, || {
        pidfd.send_signal(Signal::CONT).unwrap();
        assert!(pidfd.try_wait().unwrap().is_none());
    });
    assert_eq!(n, 0);
    pidfd.send_signal(Signal::KILL).unwrap();
    pidfd.wait().unwrap();
}

#[cfg(feature = "tokio")]
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[cfg(feature = "tokio")]
fn async_eventfd_wait_and_signal() {
    let rt = current_thread();
    rt.block_on(async {
        let efd = iofd::AsyncEventFd::new(0).unwrap();
        let sem = iofd::AsyncEventFd::new_semaphore(0).unwrap();
        for _ in 0..ASYNC_WARM_UP {
            efd.signal(1).await.unwrap();
            efd.wait().await.unwrap();
        }
        let before = allocations();
        for _ in 0..N {
            efd.signal(2).await.unwrap();
            assert_eq!(efd.wait().await.unwrap(), 2);
            sem.signal(1).await.unwrap();
            assert_eq!(sem.wait().await.unwrap(), 1);
        }
        assert_eq!(allocations() - before, 0);
    });
}

#[cfg(feature = "tokio")]
fn async_eventfd_wait_that_really_waits() {
    // The pending path: the task parks, the reactor wakes it.
    let rt = current_thread();
    rt.block_on(async {
        let efd = std::rc::Rc::new(iofd::AsyncEventFd::new(0).unwrap());
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let ringer = tokio::task::spawn_local({
                    let efd = efd.clone();
                    async move {
                        for _ in 0..(N + ASYNC_WARM_UP) {
                            tokio::task::yield_now().await;
                            efd.get_ref().signal(1).unwrap();
                        }
                    }
                });
                let mut warm = 0;
                while warm < ASYNC_WARM_UP as u64 {
                    warm += efd.wait().await.unwrap();
                }
                let before = allocations();
                let mut got = 0;
                while got < N as u64 {
                    got += efd.wait().await.unwrap();
                }
                assert_eq!(allocations() - before, 0);
                ringer.await.unwrap();
            })
            .await;
    });
}

#[cfg(feature = "tokio")]
fn async_timerfd_expirations() {
    let rt = current_thread();
    rt.block_on(async {
        let timer = iofd::AsyncTimerFd::interval(Duration::from_micros(200)).unwrap();
        for _ in 0..ASYNC_WARM_UP {
            timer.expirations().await.unwrap();
        }
        let before = allocations();
        for _ in 0..200 {
            assert!(timer.expirations().await.unwrap() >= 1);
        }
        assert_eq!(allocations() - before, 0);
    });
}

/// `iofd::time`: a new `Sleep` each round (created, registered in a reused
/// slot, fired by the driver, dropped), an `Interval` tick and a far
/// timeout armed and cancelled, with the driver on the same thread:
/// nothing allocates in steady state.
#[cfg(feature = "tokio")]
fn time_sleeps_and_ticks() {
    let rt = current_thread();
    rt.block_on(async {
        let timers = iofd::time::Timers::new().unwrap();
        let mut interval = timers.interval(Duration::from_micros(30)).unwrap();
        let round = |timers: &iofd::time::Timers| timers.sleep(Duration::from_micros(20));
        for _ in 0..ASYNC_WARM_UP {
            round(&timers).await;
            interval.tick().await;
        }
        let before = allocations();
        for _ in 0..N {
            round(&timers).await;
            interval.tick().await;
        }
        assert_eq!(allocations() - before, 0);
        // A timeout too.
        let before = allocations();
        for _ in 0..100 {
            let out = timers.timeout(Duration::from_secs(1), async { 1 }).await;
            assert_eq!(out, Ok(1));
        }
        assert_eq!(allocations() - before, 0);
        // A far timeout, armed (in the thread's shard) and cancelled.
        let far = || timers.timeout(Duration::from_secs(10), tokio::task::yield_now());
        for _ in 0..ASYNC_WARM_UP {
            assert_eq!(far().await, Ok(()));
        }
        let before = allocations();
        for _ in 0..N {
            assert_eq!(far().await, Ok(()));
        }
        assert_eq!(allocations() - before, 0);
    });
}

/// `PidFdSet::next_exit`: handing back exits (one `epoll_wait`, one
/// `waitid` and the reap each) allocates nothing once the set has grown.
#[cfg(feature = "tokio")]
fn pidfd_set_next_exit() {
    let rt = current_thread();
    rt.block_on(async {
        let mut set = iofd::PidFdSet::new().unwrap();
        for round in 0..4 {
            for i in 0..8 {
                let child = Command::new("true").spawn().unwrap();
                set.insert(i, require!(PidFd::from_owned_child(child)))
                    .unwrap();
            }
            let before = allocations();
            let mut seen = 0;
            while let Some((_, status)) = set.next_exit().await {
                assert!(status.unwrap().success());
                seen += 1;
            }
            assert_eq!(seen, 8);
            if round > 0 {
                assert_eq!(allocations() - before, 0);
            }
        }
    });
}

#[cfg(feature = "tokio")]
fn async_signalfd_recv() {
    let rt = current_thread();
    rt.block_on(async {
        let mut signals = iofd::AsyncSignalFd::new(&SigSet::from(Signal::USR2)).unwrap();
        for _ in 0..ASYNC_WARM_UP {
            kill_self(Signal::USR2);
            signals.recv().await.unwrap();
        }
        let before = allocations();
        for _ in 0..N {
            kill_self(Signal::USR2);
            assert_eq!(signals.recv().await.unwrap().signal(), Some(Signal::USR2));
        }
        assert_eq!(allocations() - before, 0);
    });
}

#[cfg(feature = "tokio")]
fn async_pidfd_wait() {
    let rt = current_thread();
    rt.block_on(async {
        let mut total = 0;
        for round in 0..25 {
            // Spawning and registering allocate; the wait must not.
            let child = Command::new("sleep").arg("0.01").spawn().unwrap();
            let pidfd = require!(iofd::AsyncPidFd::from_owned_child(child));
            let before = allocations();
            assert!(pidfd.wait().await.unwrap().success());
            if round >= 5 {
                total += allocations() - before;
            }
        }
        assert_eq!(total, 0);
    });
}

/// `pass::send` with two descriptors and `pass::recv` of them: the control
/// buffer is on the stack, and so is the `Received`.
fn pass_send_and_recv() {
    use std::os::fd::AsFd;
    let (here, there) = std::os::unix::net::UnixStream::pair().unwrap();
    let efd = EventFd::new(0).unwrap();
    let timer = TimerFd::new().unwrap();
    let mut buf = [0u8; 16];
    let n = steady_state_allocations(10, N, || {
        let sent = iofd::pass::send(&here, b"two", &[efd.as_fd(), timer.as_fd()]).unwrap();
        assert_eq!(sent, 3);
        let mut received = iofd::pass::recv(&there, &mut buf).unwrap();
        assert_eq!(received.len(), 3);
        assert_eq!(received.fd_count(), 2);
        drop(received.take_fd().unwrap());
        // The second is closed with the `Received`.
    });
    assert_eq!(n, 0);
}

/// The pidfd sends (with a scope, with a value, the null signal) and
/// `info` allocate nothing.
fn pidfd_sends_and_info() {
    let me = match PidFd::open(std::process::id() as i32) {
        Ok(me) => me,
        Err(e) => return eprintln!("skipped: {e}"),
    };
    let rt1 = Signal::rt(1).unwrap();
    let _blocked = SignalMaskGuard::block(&SigSet::from(rt1)).unwrap();
    let signals = SignalFd::new(&SigSet::from(rt1)).unwrap();
    let scoped = me
        .send_signal_to(Signal::USR1, iofd::SignalScope::Process)
        .is_ok();
    let has_info = me.info().is_ok();
    let n = steady_state_allocations(10, N, || {
        me.send_signal_value(rt1, 9).unwrap();
        let info = signals.read_info().unwrap();
        assert_eq!(info.value_int(), 9);
        me.send_null_signal().unwrap();
        if scoped {
            me.send_signal_to(Signal::USR1, iofd::SignalScope::Process)
                .unwrap();
        }
        if has_info {
            assert_eq!(me.info().unwrap().pid(), Some(std::process::id() as i32));
        }
    });
    assert_eq!(n, 0);
}

fn main() {
    SignalMaskGuard::block(&SigSet::from(Signal::USR1).with(Signal::USR2))
        .expect("block")
        .keep();
    #[cfg_attr(not(feature = "tokio"), allow(unused_mut))]
    let mut tests: Vec<(&str, fn())> = vec![
        ("the_counter_counts", the_counter_counts),
        ("eventfd_signal_and_wait", eventfd_signal_and_wait),
        ("timerfd_arm_and_expirations", timerfd_arm_and_expirations),
        (
            "signalfd_read_info_and_read_batch",
            signalfd_read_info_and_read_batch,
        ),
        (
            "pidfd_send_signal_and_try_wait",
            pidfd_send_signal_and_try_wait,
        ),
        ("pass_send_and_recv", pass_send_and_recv),
        ("pidfd_sends_and_info", pidfd_sends_and_info),
    ];
    #[cfg(feature = "tokio")]
    tests.extend([
        (
            "async_eventfd_wait_and_signal",
            async_eventfd_wait_and_signal as fn(),
        ),
        (
            "async_eventfd_wait_that_really_waits",
            async_eventfd_wait_that_really_waits,
        ),
        ("async_timerfd_expirations", async_timerfd_expirations),
        ("async_signalfd_recv", async_signalfd_recv),
        ("async_pidfd_wait", async_pidfd_wait),
        ("pidfd_set_next_exit", pidfd_set_next_exit),
        ("time_sleeps_and_ticks", time_sleeps_and_ticks),
    ]);
    common::run(&tests);
}
