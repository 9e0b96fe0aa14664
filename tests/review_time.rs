//! Review: iofd::time edge cases (budget, far-future deadlines, runtime
//! switch). Each test has a watchdog: a hang prints and exits 3.

#![cfg(feature = "tokio")]

mod time_support;

use time_support::helper_cpu_ticks;

use std::future::Future;
use std::time::{Duration, Instant};

/// The tests of this file run one at a time: they count threads and
/// descriptors, or lower `RLIMIT_NOFILE`, all process-wide.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn watchdog(name: &'static str, secs: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        eprintln!("HANG: {name} still running after {secs}s");
        std::process::exit(3);
    });
}

/// valgrind emulates `RLIMIT_NOFILE` for the client: the kernel's limit,
/// which decides here, does not change.
fn rlimit_emulated() -> bool {
    let emulated = std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind"));
    if emulated {
        eprintln!("skipped: RLIMIT_NOFILE is emulated under valgrind");
    }
    emulated
}

async fn spend_budget() {
    for _ in 0..128 {
        tokio::task::consume_budget().await;
    }
}

#[test]
fn far_future_deadlines_do_not_panic() {
    let _serial = serial();
    watchdog("far_future", 30);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let far = Instant::now() + Duration::from_secs(1_000_000_000);
        let mut s = std::pin::pin!(iofd::time::sleep_until(far));
        assert!(futures_poll(s.as_mut()).is_pending());
        let mut s2 = std::pin::pin!(iofd::time::sleep(Duration::MAX));
        assert!(futures_poll(s2.as_mut()).is_pending());
        let r = iofd::time::timeout(Duration::MAX, async { 7 }).await;
        assert_eq!(r.unwrap(), 7);
        let mut i = iofd::time::interval(Duration::MAX);
        i.tick().await;
        i.reset();
        i.reset_after(Duration::MAX);
        let mut i2 = iofd::time::interval_at(far, Duration::MAX);
        i2.reset();
        let mut i3 = iofd::time::interval(Duration::from_nanos(1));
        i3.set_missed_tick_behavior(iofd::time::MissedTickBehavior::Skip);
        for _ in 0..3 {
            i3.tick().await;
        }
        let t = tokio::time::Instant::now() + Duration::from_secs(1 << 40);
        let mut s3 = std::pin::pin!(iofd::time::sleep_until(t));
        assert!(futures_poll(s3.as_mut()).is_pending());
    });
}

fn futures_poll<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    f.poll(&mut cx)
}

#[test]
fn spent_budget_on_multi_thread_block_on() {
    let _serial = serial();
    watchdog("multi block_on", 30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        spend_budget().await;
        let t0 = Instant::now();
        iofd::time::sleep(Duration::from_millis(10)).await;
        spend_budget().await;
        let mut i = iofd::time::interval(Duration::from_millis(5));
        i.tick().await;
        i.tick().await;
        spend_budget().await;
        let r = iofd::time::timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert!(t0.elapsed() >= Duration::from_millis(15));
    });
}

#[test]
fn spent_budget_in_spawn_blocking_handle_block_on_and_block_in_place() {
    let _serial = serial();
    watchdog("spawn_blocking", 30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = rt.handle().clone();
    rt.block_on(async move {
        let h2 = h.clone();
        tokio::task::spawn_blocking(move || {
            h2.block_on(async {
                spend_budget().await;
                let t = iofd::time::Timers::new().unwrap();
                t.sleep(Duration::from_millis(5)).await;
                iofd::time::sleep(Duration::from_millis(5)).await;
            })
        })
        .await
        .unwrap();
        tokio::spawn(async move {
            tokio::task::block_in_place(|| {
                h.block_on(async {
                    spend_budget().await;
                    iofd::time::sleep(Duration::from_millis(5)).await;
                    let t = iofd::time::Timers::new().unwrap();
                    t.sleep(Duration::from_millis(5)).await;
                })
            })
        })
        .await
        .unwrap();
    });
}

#[test]
fn pending_sleep_survives_runtime_shutdown_and_completes_on_another() {
    let _serial = serial();
    watchdog("runtime switch", 30);
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sleep, interval) = rt1.block_on(async {
        spend_budget().await;
        let mut s = Box::pin(iofd::time::sleep(Duration::from_millis(50)));
        assert!(futures_poll(s.as_mut()).is_pending());
        let mut i = iofd::time::interval(Duration::from_millis(20));
        i.tick().await;
        (s, i)
    });
    drop(rt1);
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut interval = interval;
    rt2.block_on(async move {
        let t0 = Instant::now();
        sleep.await;
        interval.tick().await;
        interval.tick().await;
        // the default on the new runtime is a new one and works
        iofd::time::sleep(Duration::from_millis(5)).await;
        assert!(t0.elapsed() < Duration::from_secs(5));
    });
}

/// After a runtime shut down with nothing armed, and with the descriptor
/// table full (the fallback thread cannot start), a pending `Sleep` woke
/// its own task on every poll: the executor thread spun at 100 % CPU until
/// the deadline (78 012 polls of one 300 ms sleep). Now tokio's blocking
/// pool wakes it in steps (a few polls), and it completes, not early.
#[test]
fn sleep_after_shutdown_with_emfile_busy_polls() {
    let _serial = serial();
    if rlimit_emulated() {
        return;
    }
    watchdog("busy poll", 30);
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let timers = rt1.block_on(async { iofd::time::Timers::new().unwrap() });
    drop(rt1);
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(3),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let (polls, waited) = rt2.block_on(async {
        let start = Instant::now();
        let mut sleep = std::pin::pin!(timers.sleep(Duration::from_millis(300)));
        let mut polls = 0u64;
        std::future::poll_fn(|cx| {
            polls += 1;
            sleep.as_mut().poll(cx)
        })
        .await;
        (polls, start.elapsed())
    });
    setrlimit(Resource::Nofile, old).unwrap();
    println!("polls of one 300 ms sleep: {polls}, completed after {waited:?}");
    assert!(waited >= Duration::from_millis(300), "early: {waited:?}");
    assert!(
        polls < 100,
        "a 300 ms sleep was polled {polls} times (busy wake-up loop)"
    );
}

/// The drop-in `sleep` panicked when the default `Timers` could not be
/// made (descriptor table full), where `tokio::time::sleep` works. Now
/// `sleep`, `interval` and `timeout` complete, not early.
#[test]
fn drop_in_sleep_panics_on_emfile() {
    let _serial = serial();
    if rlimit_emulated() {
        return;
    }
    watchdog("emfile panic", 30);
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(3),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let result = rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(1)).await; // tokio's: fine
        tokio::spawn(async {
            let start = Instant::now();
            iofd::time::sleep(Duration::from_millis(20)).await;
            let slept = start.elapsed();
            assert!(slept >= Duration::from_millis(20), "early: {slept:?}");
            let mut ticks = iofd::time::interval(Duration::from_millis(5));
            let first = ticks.tick().await;
            let second = ticks.tick().await;
            assert!(second - first >= Duration::from_millis(5));
            let never = std::future::pending::<()>();
            let start = Instant::now();
            assert!(
                iofd::time::timeout(Duration::from_millis(10), never)
                    .await
                    .is_err()
            );
            assert!(start.elapsed() >= Duration::from_millis(10));
        })
        .await
    });
    setrlimit(Resource::Nofile, old).unwrap();
    if let Err(e) = &result {
        let p = e.is_panic();
        println!("iofd::time::sleep under EMFILE: panicked = {p}");
    }
    assert!(
        result.is_ok(),
        "iofd::time::sleep panicked where tokio::time::sleep did not"
    );
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runtimes made and dropped, each with its default `Timers` taken in a
/// different way: nothing (descriptors, defaults) may stay behind.
#[test]
fn defaults_of_dropped_runtimes_are_released() {
    let _serial = serial();
    watchdog("defaults", 60);
    // Warm up whatever is process-wide.
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { iofd::time::sleep(Duration::from_millis(1)).await });
    }
    let before = fd_count();
    for i in 0..20 {
        let rt = if i % 2 == 0 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap()
        };
        match i % 4 {
            0 | 1 => {
                let _g = rt.enter();
                let _t = iofd::time::Timers::current().unwrap();
            }
            _ => {
                let h = rt.handle().clone();
                std::thread::spawn(move || {
                    let _g = h.enter();
                    let mut s = Box::pin(iofd::time::sleep(Duration::from_secs(100)));
                    let _ = futures_poll(s.as_mut());
                })
                .join()
                .unwrap();
            }
        }
        drop(rt);
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = fd_count();
    println!("fds before {before} after 20 runtimes {after}");
    assert_eq!(before, after, "descriptors kept for dropped runtimes");
}

struct Recorder(std::sync::Mutex<Option<Instant>>);
impl std::task::Wake for Recorder {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        let mut g = self.0.lock().unwrap();
        if g.is_none() {
            *g = Some(Instant::now());
        }
    }
}

/// Wake instants recorded by the waker, compared with each deadline.
#[test]
fn no_wake_before_the_deadline() {
    let _serial = serial();
    watchdog("early", 60);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _g = rt.enter();
    let timers = iofd::time::Timers::with_slack(Duration::from_micros(200)).unwrap();
    let n = 300;
    let start = Instant::now();
    let mut items = Vec::new();
    for i in 0..n {
        let deadline = start + Duration::from_micros(2_000 + (i * 7919) % 50_000);
        let rec = std::sync::Arc::new(Recorder(std::sync::Mutex::new(None)));
        let waker = std::task::Waker::from(rec.clone());
        let mut s = Box::pin(timers.sleep_until(deadline));
        let mut cx = std::task::Context::from_waker(&waker);
        if s.as_mut().poll(&mut cx).is_ready() {
            // A slow machine (valgrind) reached the deadline before the
            // first poll: nothing to wait for, and not early.
            assert!(Instant::now() >= deadline, "ready before its deadline");
            continue;
        }
        items.push((deadline, rec, s));
    }
    // Every wake-up, however slow the machine (bounded).
    let all_by = Instant::now() + Duration::from_secs(20);
    while Instant::now() < all_by
        && items
            .iter()
            .any(|(_, rec, _)| rec.0.lock().unwrap().is_none())
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut early = 0;
    let mut unwoken = 0;
    for (deadline, rec, _s) in &items {
        match *rec.0.lock().unwrap() {
            Some(at) if at < *deadline => {
                early += 1;
                println!("woken {:?} early", *deadline - at);
            }
            Some(_) => {}
            None => unwoken += 1,
        }
    }
    println!("{n} sleeps: {early} woken early, {unwoken} never woken");
    assert_eq!((early, unwoken), (0, 0));
}

/// The threads the library or tokio could have started: the test
/// harness's own threads (one per test, named after it, started and ended
/// as tests queue on `SERIAL`) are not counted, so that the count does not
/// move with the other tests.
fn library_threads() -> usize {
    thread_names()
        .iter()
        .filter(|name| name.starts_with("iofd") || name.starts_with("tokio"))
        .count()
}

/// The names of this process's threads (for a failure message).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path().join("comm"))
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect()
}

/// 50 `Timers` with sleeps pending at a shutdown: one helper thread at
/// most, gone once the timers are dropped.
#[test]
fn one_fallback_thread_and_it_goes_away() {
    let _serial = serial();
    watchdog("fallback", 60);
    // tokio's own process-wide signal pipe, made by the first runtime.
    drop(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    let base_threads = library_threads();
    let base_names = thread_names();
    let base_fds = fd_count();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sleeps: Vec<_> = rt.block_on(async {
        (0..50)
            .map(|_| {
                let t = iofd::time::Timers::new().unwrap();
                let mut s = Box::pin(t.sleep(Duration::from_millis(100)));
                assert!(futures_poll(s.as_mut()).is_pending());
                s
            })
            .collect()
    });
    drop(rt);
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Counted while half the timers are still served by the helper.
    let (during, during_names) = rt2.block_on(async {
        let mut during = (0, Vec::new());
        for (i, s) in sleeps.into_iter().enumerate() {
            s.await;
            if i == 25 {
                during = (library_threads(), thread_names());
            }
        }
        during
    });
    drop(rt2);
    std::thread::sleep(Duration::from_millis(200));
    let after = library_threads();
    println!(
        "library threads: base {base_threads}, after sleeps {during}, after drop {after}; fds base {base_fds} now {}",
        fd_count()
    );
    for e in std::fs::read_dir("/proc/self/fd").unwrap() {
        let e = e.unwrap();
        println!(
            "  fd {:?} -> {:?}",
            e.file_name(),
            std::fs::read_link(e.path()).ok()
        );
    }
    assert!(
        during <= base_threads + 1,
        "threads before {base_names:?}, during {during_names:?}"
    );
    // A tokio blocking thread of an earlier test may end meanwhile.
    assert!(
        after <= base_threads,
        "threads before {base_names:?}, after {:?}",
        thread_names()
    );
    // Fewer is fine: the helper thread of an earlier test (its epoll
    // instance and eventfd) may end meanwhile, as its thread may.
    assert!(fd_count() <= base_fds, "descriptors: {base_fds} before");
}

/// A forked child that builds its own runtimes (the prefork pattern) and
/// needs the fallback thread while the parent has one: the child inherited
/// iofd's "thread running" state but not the thread, and its timer hung.
/// (Fixed: the helper thread's state records the process it runs in.)
#[test]
fn fallback_after_fork_in_the_child() {
    let _serial = serial();
    watchdog("fork fallback", 60);
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let timers = rt1.block_on(async { iofd::time::Timers::new().unwrap() });
    drop(rt1);
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt2.enter();
    let mut long = Box::pin(timers.sleep(Duration::from_secs(30)));
    assert!(futures_poll(long.as_mut()).is_pending()); // the fallback thread now serves it
    // SAFETY: test-only; the child builds fresh runtimes and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let rt_b = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let t = rt_b.block_on(async { iofd::time::Timers::new().unwrap() });
        drop(rt_b);
        let rt_c = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let t0 = Instant::now();
        let r = rt_c.block_on(async {
            tokio::time::timeout(Duration::from_secs(3), t.sleep(Duration::from_millis(50))).await
        });
        let took = t0.elapsed();
        eprintln!("child: 50 ms sleep -> {r:?} after {took:?}");
        let code = if r.is_ok() && took < Duration::from_secs(1) {
            0
        } else {
            1
        };
        // SAFETY: leave.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    let cpu0 = helper_cpu_ticks();
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let cpu1 = helper_cpu_ticks();
    println!(
        "child exit {}; parent's iofd-helper thread CPU ticks during the child's life: {cpu0} -> {cpu1}",
        libc::WEXITSTATUS(status)
    );
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the child's 50 ms sleep was never woken (done only when tokio's 3 s timeout re-polled it)"
    );
}

/// A stranded `Sleep` (runtime gone, no descriptor for the timing thread)
/// in a task that is polled often for other reasons (here: it wakes
/// itself 20 000 times) takes none of tokio's blocking threads: the
/// helper thread wakes it at its deadline (one timed wake-up per waker,
/// however often it asks).
#[test]
fn stranded_sleep_polled_often_takes_one_blocking_thread() {
    let _serial = serial();
    if rlimit_emulated() {
        return;
    }
    watchdog("stranded polled often", 30);
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let timers = rt1.block_on(async { iofd::time::Timers::new().unwrap() });
    drop(rt1);
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_start(|| {
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .build()
        .unwrap();
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(3),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let waited = rt2.block_on(async {
        let start = Instant::now();
        let mut sleep = std::pin::pin!(timers.sleep(Duration::from_millis(200)));
        let mut busy = 20_000u32;
        std::future::poll_fn(|cx| {
            let poll = sleep.as_mut().poll(cx);
            if poll.is_pending() && busy > 0 {
                busy -= 1;
                cx.waker().wake_by_ref();
            }
            poll
        })
        .await;
        start.elapsed()
    });
    setrlimit(Resource::Nofile, old).unwrap();
    let started = STARTED.load(std::sync::atomic::Ordering::Relaxed);
    println!("blocking threads started while polled often: {started}; completed after {waited:?}");
    assert!(waited >= Duration::from_millis(200), "early: {waited:?}");
    assert_eq!(started, 0, "{started} blocking threads");
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A waiting `Sleep` reset between a far deadline (the wheel) and a near
/// one (the heap) 200 times, then to 3 ms ahead: the driver holds it once
/// (no stale copy in the wheel or the heap), wakes it at its last
/// deadline, never before, and nothing is left armed.
#[test]
fn reset_between_wheel_and_heap_many_times() {
    let _serial = serial();
    watchdog("reset far near", 30);
    current_thread().block_on(async {
        let timers = iofd::time::Timers::new().unwrap();
        let mut sleep = tokio_test::task::spawn(timers.sleep(Duration::from_secs(3600)));
        tokio_test::assert_pending!(sleep.poll());
        for i in 0..200u64 {
            let far = Instant::now() + Duration::from_secs(60 + i);
            sleep.enter(|_, mut s| s.as_mut().reset(far));
            tokio_test::assert_pending!(sleep.poll());
            assert_eq!(timers.armed(), 1, "far, round {i}");
            let near = Instant::now() + Duration::from_micros(1_500 + 700 * (i % 5));
            sleep.enter(|_, mut s| s.as_mut().reset(near));
            assert_eq!(timers.armed(), 1, "near, round {i}");
        }
        let mut sleep = sleep.into_inner();
        sleep.reset(Instant::now() + Duration::from_millis(3));
        let woken = time_support::recorded_sleep(sleep).await;
        time_support::assert_never_woken_early(&woken, "after 200 resets");
        assert_eq!(timers.armed(), 0);
    });
}

/// Accuracy at its extremes: `Duration::MAX` (saturates at about 73
/// minutes) and zero, and one larger than the distance to the deadline.
/// A sleep alone is woken at its deadline whatever its accuracy (the
/// driver wakes at the latest deadline inside the earliest window, which
/// is its own), never before; a sloppy one next to a precise one rides
/// along, never before its own deadline.
#[test]
fn accuracy_extremes_never_early_and_not_stranded() {
    let _serial = serial();
    watchdog("accuracy extremes", 30);
    current_thread().block_on(async {
        let timers = iofd::time::Timers::new().unwrap();
        for accuracy in [Duration::MAX, Duration::ZERO, Duration::from_secs(10)] {
            let start = Instant::now();
            let sleep = timers.sleep(Duration::from_millis(4)).accuracy(accuracy);
            let woken = time_support::recorded_sleep(sleep).await;
            time_support::assert_never_woken_early(&woken, &format!("{accuracy:?} alone"));
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "{accuracy:?} alone: woken after {:?}",
                start.elapsed()
            );
        }
        let sloppy = timers
            .sleep(Duration::from_millis(3))
            .accuracy(Duration::MAX);
        let precise = timers.sleep(Duration::from_millis(8));
        let sloppy = tokio::spawn(time_support::recorded_sleep(sloppy));
        let precise = tokio::spawn(time_support::recorded_sleep(precise));
        let (sloppy, precise) = (sloppy.await.unwrap(), precise.await.unwrap());
        time_support::assert_never_woken_early(&sloppy, "sloppy beside precise");
        time_support::assert_never_woken_early(&precise, "precise beside sloppy");
        assert_eq!(timers.armed(), 0);
    });
}

/// A sleep waiting in the wheel (50 ms ahead) is moved to another task:
/// the new task is woken at the deadline, never before, and the old one
/// is not woken at all.
#[test]
fn sleep_moved_between_tasks_while_in_the_wheel() {
    let _serial = serial();
    watchdog("moved in wheel", 30);
    current_thread().block_on(async {
        let timers = iofd::time::Timers::new().unwrap();
        let mut first = tokio_test::task::spawn(timers.sleep(Duration::from_millis(50)));
        tokio_test::assert_pending!(first.poll());
        let sleep = first.into_inner();
        // `first`'s waker is gone with its task; a second task's is
        // counted by the recorder.
        let woken = time_support::recorded_sleep(sleep).await;
        time_support::assert_never_woken_early(&woken, "moved");
        assert_eq!(timers.armed(), 0);
    });
}

/// The wheel's processed tick moved only when the driver ran: after an
/// idle spell (nothing armed, 100 ms), a far sleep was placed relative to
/// a stale tick, in a coarser bucket that started in the past, so the
/// driver was woken at once to cascade it: 3 wake-ups for a lone 10 ms
/// sleep where one placed fresh takes 2 (one to move it from the wheel to
/// the heap a tick before its bucket, one at its deadline). Measured: 2, 2
/// without idling; 3, 3, 3, 3 after 100 ms idle. Now a re-arming for the
/// wheel's processing that is already due processes it at once: 2, 2, 2, 2 (a
/// deadline whose bucket straddles a boundary of the wheel's coarser
/// level, or a loaded machine, adds a wake-up now and then, fresh or not,
/// so up to half the idle cases may; before, all eight did).
#[test]
fn far_sleep_after_idle_costs_no_extra_wake_up() {
    let _serial = serial();
    watchdog("wake-ups after idle", 30);
    current_thread().block_on(async {
        let timers = iofd::time::Timers::new().unwrap();
        let mut counts = Vec::new();
        if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
            // Wake-up counts of millisecond sleeps mean nothing there.
            return;
        }
        for idle in [0u64, 0, 100, 100, 100, 100, 100, 100, 100, 100] {
            timers.sleep(Duration::from_millis(1)).await;
            std::thread::sleep(Duration::from_millis(idle));
            let before = timers.wake_ups();
            timers.sleep(Duration::from_millis(10)).await;
            counts.push((idle, timers.wake_ups() - before));
        }
        println!("(idle ms, wake-ups of a lone 10 ms sleep): {counts:?}");
        let extra = counts[2..].iter().filter(|c| c.1 > 2).count();
        assert!(extra <= 4, "{counts:?}");
    });
}
