//! Review 3: adversarial tests of far timeouts (staged in a thread's
//! shard, moved into the driver's deadlines before they are due) and of
//! the first far poll that skips tokio's coop budget.

#![cfg(feature = "tokio")]

mod common;
mod time_support;

use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, RawWaker, RawWakerVTable, Wake, Waker};
use std::time::{Duration, Instant};

use common::{current_thread, on_both_runtimes, two_workers, until, within};
use iofd::Clock;
use iofd::time::Timers;
use time_support::{assert_never_woken_early, recorded, with_watchdog};

/// Runs the test `name` of this binary in a child process (with
/// `REVIEW3_CHILD` set, the test runs its body); fails if the child does
/// not pass within `limit`, and then kills it (a hang spins or blocks
/// only the child).
fn in_child(name: &str, limit: Duration) -> bool {
    if std::env::var_os("REVIEW3_CHILD").is_some() {
        return true;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--test-threads=1"])
        .env("REVIEW3_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            let _ = std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out);
            let why: Vec<&str> = out
                .lines()
                .filter(|line| line.contains("hung") || line.contains("panicked"))
                .collect();
            assert!(
                status.success(),
                "{name}: the child failed ({status}): {why:?}"
            );
            return false;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: hung (no result within {limit:?}; child killed)");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A waker that records, on first wake, whether it came before the
/// deadline it waits for.
struct Checked {
    deadline: Instant,
    woken: AtomicBool,
    early: AtomicBool,
    wakes: Arc<AtomicUsize>,
}

impl Wake for Checked {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if Instant::now() < self.deadline {
            self.early.store(true, Ordering::SeqCst);
        }
        if !self.woken.swap(true, Ordering::SeqCst) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// More threads than shards each stage far timeouts that must fire,
/// polled once with a waker of their own and never again: each is woken
/// (none lost), none early, and nothing stays armed.
#[test]
fn far_timeouts_from_many_threads_all_fire_never_early() {
    with_watchdog(Duration::from_secs(120), || {
        let rt = two_workers();
        let timers = rt.block_on(async { Timers::new().unwrap() });
        let wakes = Arc::new(AtomicUsize::new(0));
        let checks = Arc::new(Mutex::new(Vec::new()));
        const THREADS: usize = 20;
        const EACH: usize = 30;
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let timers = timers.clone();
                let wakes = Arc::clone(&wakes);
                let checks = Arc::clone(&checks);
                std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..EACH {
                        let length = Duration::from_millis(68 + ((t * EACH + i) % 90) as u64);
                        let mut timeout = timers.timeout(length, pending::<()>());
                        let check = Arc::new(Checked {
                            deadline: timeout.deadline(),
                            woken: AtomicBool::new(false),
                            early: AtomicBool::new(false),
                            wakes: Arc::clone(&wakes),
                        });
                        let waker = Waker::from(Arc::clone(&check));
                        assert!(
                            Pin::new(&mut timeout)
                                .poll(&mut Context::from_waker(&waker))
                                .is_pending()
                        );
                        checks.lock().unwrap().push(check);
                        kept.push(timeout);
                        if i % 7 == 0 {
                            std::thread::sleep(Duration::from_millis(3));
                        }
                    }
                    kept
                })
            })
            .collect();
        let kept: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let start = Instant::now();
        while wakes.load(Ordering::SeqCst) < THREADS * EACH
            && start.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let checks = checks.lock().unwrap();
        let early = checks
            .iter()
            .filter(|c| c.early.load(Ordering::SeqCst))
            .count();
        assert_eq!(early, 0, "woken before the deadline");
        assert_eq!(wakes.load(Ordering::SeqCst), THREADS * EACH, "lost");
        drop(kept);
        assert_eq!(timers.armed(), 0);
    });
}

/// Far timeouts dropped, or polled again with another waker, from other
/// threads around the moment the driver moves them (their deadline less
/// about 34 ms): the survivors fire, none early, and nothing stays armed.
#[test]
fn far_timeouts_raced_against_the_move() {
    with_watchdog(Duration::from_secs(120), || {
        let rt = two_workers();
        let timers = rt.block_on(async { Timers::new().unwrap() });
        let wakes = Arc::new(AtomicUsize::new(0));
        let survivors = Arc::new(AtomicUsize::new(0));
        let early = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..10)
            .map(|t| {
                let timers = timers.clone();
                let wakes = Arc::clone(&wakes);
                let survivors = Arc::clone(&survivors);
                let early = Arc::clone(&early);
                std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    for round in 0..20u64 {
                        let mut batch = Vec::new();
                        for _ in 0..20 {
                            let mut timeout =
                                timers.timeout(Duration::from_millis(70), pending::<()>());
                            assert!(
                                Pin::new(&mut timeout)
                                    .poll(&mut Context::from_waker(Waker::noop()))
                                    .is_pending()
                            );
                            batch.push(timeout);
                        }
                        // Around the move (36 ms after the first poll).
                        std::thread::sleep(Duration::from_micros(
                            30_000 + (t * 700 + round * 300) % 9_000,
                        ));
                        for (i, mut timeout) in batch.into_iter().enumerate() {
                            match i % 3 {
                                0 => drop(timeout),
                                1 => {
                                    // Dropped on another thread.
                                    std::thread::spawn(move || drop(timeout)).join().unwrap();
                                }
                                _ => {
                                    let check = Arc::new(Checked {
                                        deadline: timeout.deadline(),
                                        woken: AtomicBool::new(false),
                                        early: AtomicBool::new(false),
                                        wakes: Arc::clone(&wakes),
                                    });
                                    let waker = Waker::from(Arc::clone(&check));
                                    if Pin::new(&mut timeout)
                                        .poll(&mut Context::from_waker(&waker))
                                        .is_pending()
                                    {
                                        survivors.fetch_add(1, Ordering::SeqCst);
                                        kept.push((timeout, check));
                                    }
                                }
                            }
                        }
                    }
                    let start = Instant::now();
                    while kept.iter().any(|(_, c)| !c.woken.load(Ordering::SeqCst))
                        && start.elapsed() < Duration::from_secs(30)
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    for (_, check) in &kept {
                        if check.early.load(Ordering::SeqCst) {
                            early.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    drop(kept);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(early.load(Ordering::SeqCst), 0, "woken early");
        assert_eq!(
            wakes.load(Ordering::SeqCst),
            survivors.load(Ordering::SeqCst),
            "a survivor was never woken"
        );
        assert_eq!(timers.armed(), 0);
    });
}

/// Far timeouts on the other clocks fire, never early by their own clock.
#[test]
fn far_timeouts_on_other_clocks() {
    with_watchdog(Duration::from_secs(60), || {
        on_both_runtimes(|| async {
            for clock in [Clock::Boottime, Clock::Realtime] {
                let timers = Timers::with_clock(clock).unwrap();
                let start = clock.now().unwrap();
                let mut timeout = timers.timeout(Duration::from_millis(90), pending::<()>());
                let deadline = timeout.deadline();
                let (result, woken) =
                    within(recorded(|cx| (Pin::new(&mut timeout).poll(cx), deadline))).await;
                assert!(result.is_err(), "{clock:?}");
                assert!(
                    clock.now().unwrap() - start >= Duration::from_millis(90),
                    "{clock:?}: early by its clock"
                );
                assert_never_woken_early(&woken, &format!("{clock:?}"));
                drop(timeout);
                assert_eq!(timers.armed(), 0, "{clock:?}");
            }
        });
    });
}

/// `Timeout::accuracy` after the first poll (staged), and after the move:
/// it fires, never early, and nothing stays armed.
#[test]
fn accuracy_set_on_a_staged_or_moved_timeout() {
    with_watchdog(Duration::from_secs(60), || {
        on_both_runtimes(|| async {
            let timers = Timers::new().unwrap();
            for wait_ms in [0, 45] {
                let mut timeout = timers.timeout(Duration::from_millis(80), pending::<()>());
                let deadline = timeout.deadline();
                let wakes = Arc::new(AtomicUsize::new(0));
                let check = Arc::new(Checked {
                    deadline,
                    woken: AtomicBool::new(false),
                    early: AtomicBool::new(false),
                    wakes: Arc::clone(&wakes),
                });
                let waker = Waker::from(Arc::clone(&check));
                assert!(
                    Pin::new(&mut timeout)
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending()
                );
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                let timeout = timeout.accuracy(Duration::from_millis(5));
                // The waker it was staged with is still the one woken.
                within(until(|| wakes.load(Ordering::SeqCst) > 0)).await;
                assert!(!check.early.load(Ordering::SeqCst), "{wait_ms}: early");
                assert!(within(timeout).await.is_err());
                assert_eq!(timers.armed(), 0);
            }
        });
    });
}

/// A waker whose clone looks at the same `Timers` (`armed()`), cloned
/// when a far timeout is staged.
struct Reentrant {
    timers: Timers,
    clones: AtomicUsize,
}

fn reentrant_waker(state: Arc<Reentrant>) -> Waker {
    fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is an `Arc<Reentrant>` of `reentrant_waker`.
        let state = unsafe { Arc::from_raw(data as *const Reentrant) };
        state.clones.fetch_add(1, Ordering::SeqCst);
        let _ = state.timers.armed();
        let copy = Arc::clone(&state);
        std::mem::forget(state);
        RawWaker::new(Arc::into_raw(copy) as *const (), &VTABLE)
    }
    fn wake(data: *const ()) {
        drop_it(data);
    }
    fn wake_by_ref(_: *const ()) {}
    fn drop_it(data: *const ()) {
        // SAFETY: as in `clone`.
        drop(unsafe { Arc::from_raw(data as *const Reentrant) });
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_it);
    // SAFETY: the vtable upholds `RawWaker`'s contract (an `Arc` per
    // waker).
    unsafe { Waker::from_raw(RawWaker::new(Arc::into_raw(state) as *const (), &VTABLE)) }
}

/// Review 3 found: `Shards::stage` cloned the task's waker under the
/// shard's spin lock; a waker whose clone calls `Timers::armed()` (which
/// takes every shard's lock) spun forever on its own thread's shard
/// ("hung: not done within 20s"); a near timer or a sleep cloned under the
/// driver's `Mutex` and deadlocked the same way. Fixed: wakers are cloned
/// before either lock is taken.
#[test]
fn a_waker_whose_clone_calls_armed_while_staging() {
    if !in_child(
        "a_waker_whose_clone_calls_armed_while_staging",
        Duration::from_secs(30),
    ) {
        return;
    }
    with_watchdog(Duration::from_secs(20), || {
        let rt = current_thread();
        rt.block_on(async {
            let timers = Timers::new().unwrap();
            let state = Arc::new(Reentrant {
                timers: timers.clone(),
                clones: AtomicUsize::new(0),
            });
            let waker = reentrant_waker(Arc::clone(&state));
            let mut timeout = timers.timeout(Duration::from_secs(10), pending::<()>());
            assert!(
                Pin::new(&mut timeout)
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            assert!(state.clones.load(Ordering::SeqCst) > 0);
            drop(timeout);
            assert_eq!(timers.armed(), 0);
        });
    });
}

/// A waker whose drop makes, polls and drops a far timeout of the same
/// `Timers` and counts its armed timers: dropped when its timeout is
/// dropped (staged), replaced (polled with another waker), or fired.
struct DropsIntoTimers {
    timers: Timers,
    drops: Arc<AtomicUsize>,
}

impl Wake for DropsIntoTimers {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropsIntoTimers {
    fn drop(&mut self) {
        let mut timeout = self.timers.timeout(Duration::from_secs(5), pending::<()>());
        let _ = Pin::new(&mut timeout).poll(&mut Context::from_waker(Waker::noop()));
        drop(timeout);
        let _ = self.timers.armed();
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_waker_whose_drop_reenters_the_timers() {
    with_watchdog(Duration::from_secs(60), || {
        on_both_runtimes(|| async {
            let timers = Timers::new().unwrap();
            let drops = Arc::new(AtomicUsize::new(0));
            let waker = || {
                Waker::from(Arc::new(DropsIntoTimers {
                    timers: timers.clone(),
                    drops: Arc::clone(&drops),
                }))
            };
            // Dropped while staged.
            let mut timeout = timers.timeout(Duration::from_secs(10), pending::<()>());
            let _ = Pin::new(&mut timeout).poll(&mut Context::from_waker(&waker()));
            drop(timeout);
            // Replaced while staged, then moved and fired.
            let mut timeout = timers.timeout(Duration::from_millis(70), pending::<()>());
            let _ = Pin::new(&mut timeout).poll(&mut Context::from_waker(&waker()));
            let _ = Pin::new(&mut timeout).poll(&mut Context::from_waker(&waker()));
            within(until(|| drops.load(Ordering::SeqCst) >= 3)).await;
            assert!(within(timeout).await.is_err());
            assert_eq!(timers.armed(), 0);
        });
    });
}

/// A far timeout first polled with the task's coop budget spent, on a
/// `spawn_blocking` thread under `Handle::block_on`, and on the
/// `block_on` thread of a current_thread runtime: it fires, never early.
#[test]
fn far_timeouts_in_every_kind_of_thread() {
    with_watchdog(Duration::from_secs(60), || {
        on_both_runtimes(|| async {
            let timers = Timers::new().unwrap();
            // spawn_blocking + Handle::block_on.
            let handle = tokio::runtime::Handle::current();
            let inner = timers.clone();
            let blocking = tokio::task::spawn_blocking(move || {
                handle.block_on(async {
                    let start = Instant::now();
                    let result = inner
                        .timeout(Duration::from_millis(75), pending::<()>())
                        .await;
                    assert!(result.is_err());
                    assert!(start.elapsed() >= Duration::from_millis(75));
                })
            });
            within(blocking).await.unwrap();
            assert_eq!(timers.armed(), 0);
        });
    });
}

/// The coop budget spent by the task before a far timeout's first poll
/// (256 ready polls): the timeout still arms and fires.
#[test]
fn a_far_timeout_after_the_budget_is_spent() {
    with_watchdog(Duration::from_secs(60), || {
        on_both_runtimes(|| async {
            let timers = Timers::new().unwrap();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
            for _ in 0..1000 {
                tx.send(()).unwrap();
            }
            // Spend the budget: every recv is ready until it runs out.
            std::future::poll_fn(|cx| {
                while rx.poll_recv(cx).is_ready() {}
                std::task::Poll::Ready(())
            })
            .await;
            let start = Instant::now();
            let result = within(timers.timeout(Duration::from_millis(80), pending::<()>())).await;
            assert!(result.is_err());
            assert!(start.elapsed() >= Duration::from_millis(80));
            assert_eq!(timers.armed(), 0);
        });
    });
}

/// A waker whose drop counts the armed timers of its `Timers` (takes the
/// driver's lock).
struct ArmedOnDrop {
    timers: Timers,
    dropped: Arc<AtomicBool>,
}

impl Wake for ArmedOnDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for ArmedOnDrop {
    fn drop(&mut self) {
        let _ = self.timers.armed();
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// Review 3 found: a far timeout moved into the driver's deadlines, then
/// polled with another waker after its runtime shut down, dropped the
/// waker the slot held under the driver's lock (`set_waker` in
/// `schedule_with`): a waker whose drop touches the same `Timers` (here
/// `armed()`) deadlocked ("hung: not done within 20s"). Fixed: the slot's
/// waker is replaced with `Deadlines::place_waker`, which hands the old
/// one back to be dropped once the lock is released.
#[test]
fn a_moved_timeout_polled_after_shutdown_drops_its_old_waker_under_the_lock() {
    if !in_child(
        "a_moved_timeout_polled_after_shutdown_drops_its_old_waker_under_the_lock",
        Duration::from_secs(30),
    ) {
        return;
    }
    with_watchdog(Duration::from_secs(20), || {
        let rt = current_thread();
        let dropped = Arc::new(AtomicBool::new(false));
        let (timers, mut far) = rt.block_on(async {
            let timers = Timers::new().unwrap();
            let old = Waker::from(Arc::new(ArmedOnDrop {
                timers: timers.clone(),
                dropped: Arc::clone(&dropped),
            }));
            let mut far = timers.timeout(Duration::from_secs(10), pending::<()>());
            assert!(
                Pin::new(&mut far)
                    .poll(&mut Context::from_waker(&old))
                    .is_pending()
            );
            // Its only clone is the shard's (then the slot's).
            drop(old);
            // A nearer one in the same shard: the driver's visit for it,
            // about 66 ms from now, moves the far one too.
            let mut near = timers.timeout(Duration::from_millis(100), pending::<()>());
            assert!(
                Pin::new(&mut near)
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            );
            tokio::time::sleep(Duration::from_millis(400)).await;
            drop(near);
            (timers, far)
        });
        drop(rt);
        assert!(!dropped.load(Ordering::SeqCst));
        // Polled again, with another waker: the old one goes.
        assert!(
            Pin::new(&mut far)
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        assert!(dropped.load(Ordering::SeqCst));
        drop(far);
        assert_eq!(timers.armed(), 0);
    });
}

/// Far timeouts at the end of time (and a century ahead), moved by the
/// visit a near one brings about; `into_inner` and `get_mut` after
/// staging: the near one fires, nothing else does, nothing stays armed.
#[test]
fn far_timeouts_at_the_end_of_time_are_moved_and_dropped() {
    with_watchdog(Duration::from_secs(60), || {
        on_both_runtimes(|| async {
            let timers = Timers::new().unwrap();
            let mut cx = Context::from_waker(Waker::noop());
            let mut never = timers.timeout(Duration::MAX, pending::<()>());
            let mut century =
                timers.timeout(Duration::from_secs(100 * 365 * 86_400), pending::<()>());
            assert!(Pin::new(&mut never).poll(&mut cx).is_pending());
            assert!(Pin::new(&mut century).poll(&mut cx).is_pending());
            let mut inner = timers.timeout(Duration::from_secs(5), pending::<()>());
            assert!(Pin::new(&mut inner).poll(&mut cx).is_pending());
            std::hint::black_box(inner.get_mut());
            let start = Instant::now();
            let near = timers.timeout(Duration::from_millis(100), pending::<()>());
            assert!(within(near).await.is_err());
            assert!(start.elapsed() >= Duration::from_millis(100));
            assert_eq!(timers.armed(), 3);
            drop(inner.into_inner());
            assert!(Pin::new(&mut never).poll(&mut cx).is_pending());
            assert!(Pin::new(&mut century).poll(&mut cx).is_pending());
            drop((never, century));
            assert_eq!(timers.armed(), 0);
        });
    });
}

fn panicking_clone(_: *const ()) -> RawWaker {
    panic!("a waker whose clone panics");
}
fn ignore(_: *const ()) {}
static PANICKY: RawWakerVTable = RawWakerVTable::new(panicking_clone, ignore, ignore, ignore);

/// Review 3 found: a far timeout first polled with a waker whose clone
/// panics (the panic caught, as tokio catches a task's): `Shards::stage`
/// counted the entry in use before the clone panicked under the spin
/// lock, so the shard's `in_use` stayed one too high. Then 200
/// well-behaved far timeouts on the same thread, dropped oldest first:
/// the last drop popped the free tail and `entries.len() - in_use`
/// underflowed ("attempt to subtract with overflow", in `Drop`). Fixed:
/// the waker is cloned before the shard is locked.
#[test]
fn a_panicking_waker_clone_poisons_the_threads_shard() {
    with_watchdog(Duration::from_secs(60), || {
        current_thread().block_on(async {
            let timers = Timers::new().unwrap();
            // SAFETY: the vtable's functions ignore the data pointer.
            let panicky = unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &PANICKY)) };
            let mut first = timers.timeout(Duration::from_secs(10), pending::<()>());
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = Pin::new(&mut first).poll(&mut Context::from_waker(&panicky));
            }));
            assert!(caught.is_err());
            drop(first);
            assert_eq!(timers.armed(), 0);
            let mut cx = Context::from_waker(Waker::noop());
            let timeouts: Vec<_> = (0..200)
                .map(|_| {
                    let mut timeout = timers.timeout(Duration::from_secs(10), pending::<()>());
                    assert!(Pin::new(&mut timeout).poll(&mut cx).is_pending());
                    timeout
                })
                .collect();
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for timeout in timeouts {
                    drop(timeout);
                }
            }));
            assert!(
                dropped.is_ok(),
                "dropping well-behaved far timeouts panicked"
            );
            assert_eq!(timers.armed(), 0);
        });
    });
}

/// Out of descriptors (in a child process): the drop-in `timeout` falls
/// back to the stand-in `Timers` (no timerfd; nothing staged there), and
/// a far timeout still fires, never early.
#[test]
fn a_far_drop_in_timeout_without_descriptors() {
    if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
        eprintln!("skipped: RLIMIT_NOFILE is emulated under valgrind");
        return;
    }
    if !in_child(
        "a_far_drop_in_timeout_without_descriptors",
        Duration::from_secs(60),
    ) {
        return;
    }
    let rt = current_thread();
    rt.block_on(async {
        // The lowest free number: at this limit, no descriptor can be had.
        // SAFETY: descriptor 0 is open for the whole test (stdin).
        let probe = rustix::io::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(0) }).unwrap();
        let lowest = std::os::fd::AsRawFd::as_raw_fd(&probe) as u64;
        drop(probe);
        let old = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(lowest),
                maximum: old.maximum,
            },
        )
        .unwrap();
        assert!(
            // SAFETY: as above.
            rustix::io::dup(unsafe { std::os::fd::BorrowedFd::borrow_raw(0) }).is_err(),
            "EMFILE"
        );
        let start = Instant::now();
        let result = within(iofd::time::timeout(
            Duration::from_millis(100),
            pending::<()>(),
        ))
        .await;
        rustix::process::setrlimit(rustix::process::Resource::Nofile, old).unwrap();
        assert!(result.is_err());
        assert!(start.elapsed() >= Duration::from_millis(100));
    });
}
