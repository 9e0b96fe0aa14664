//! Review 2: the helper thread and the fallback after review 1's fixes.
//! Each finding is `#[ignore]`d; run with
//! `cargo test --test review2_time -- --ignored --nocapture --test-threads=1`
//! (Linux 6.18, 2 cores, tokio default features).

#![cfg(feature = "tokio")]

mod time_support;

use time_support::helper_cpu_ticks;

use std::future::Future;
use std::time::{Duration, Instant};

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

fn valgrind() -> bool {
    let v = std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind"));
    if v {
        eprintln!("skipped: fork/RLIMIT_NOFILE under valgrind");
    }
    v
}

fn futures_poll<F: Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx)
}

/// The helper thread registers a `Timers`' own timerfd, level-triggered,
/// and on `forget` only removes the key from its map, counting on the
/// close to take the descriptor out of the epoll instance. A forked
/// child (no exec) holds a copy of the timerfd, so the close does not
/// remove the registration: once the dropped `Timers`' timerfd expires
/// (it stays armed), epoll reports it forever, the key is unknown
/// (`None => {}`), and the helper thread spins at 100 % CPU for as long
/// as the child lives and the thread serves anything else.
/// Observed before the fix: `... 82 ticks (of 100/s)`; after: 0 ticks.
#[test]
fn forgotten_timerfd_kept_by_forked_child_spins_helper() {
    let _serial = serial();
    if valgrind() {
        return;
    }
    watchdog("helper spin", 30);
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (a, b) = rt1.block_on(async {
        (
            iofd::time::Timers::new().unwrap(),
            iofd::time::Timers::new().unwrap(),
        )
    });
    drop(rt1);
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _g = rt2.enter();
    // B keeps the helper thread serving something.
    let mut long = Box::pin(b.sleep(Duration::from_secs(60)));
    assert!(futures_poll(long.as_mut()).is_pending());
    // A's timerfd is armed ~50 ms ahead and served by the helper thread.
    let mut short = Box::pin(a.sleep(Duration::from_millis(50)));
    assert!(futures_poll(short.as_mut()).is_pending());
    // SAFETY: test-only; the child only sleeps and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: async-signal-safe calls only.
        unsafe {
            libc::sleep(3);
            libc::_exit(0);
        }
    }
    // Drop A (its sleep first): the helper forgets its key.
    drop(short);
    drop(a);
    std::thread::sleep(Duration::from_millis(200));
    let cpu0 = helper_cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let cpu1 = helper_cpu_ticks();
    let mut status = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let ticks = sysconf_ticks();
    println!(
        "iofd-helper CPU during 1 s while the forked child lives: {} ticks (of {ticks}/s)",
        cpu1 - cpu0
    );
    drop(long);
    assert!(
        cpu1 - cpu0 < ticks / 10,
        "helper thread used {} of {ticks} ticks in 1 s: spinning",
        cpu1 - cpu0
    );
}

fn sysconf_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap()
}

/// The fallback's step runs on `Handle::try_current()`'s blocking pool.
/// When that handle's runtime has shut down (here: `Handle::block_on` on
/// the handle of a dropped runtime, whose `Timers` is stranded because
/// the helper thread cannot start at `RLIMIT_NOFILE` 3), tokio drops the
/// `spawn_blocking` task unrun: `StepEnd` wakes the task at once, which
/// polls, spawns again, and so on: a busy loop until the deadline.
/// Observed before the fix: `polls of one 300 ms sleep on a shut-down handle: 41190, after 300.001672ms`;
/// after (timed wake-ups from the helper thread): 2 polls, after 300.4 ms.
#[test]
fn fallback_on_shut_down_handle_busy_polls() {
    let _serial = serial();
    if valgrind() {
        return;
    }
    watchdog("fallback shut-down handle", 30);
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = rt1.handle().clone();
    let timers = rt1.block_on(async { iofd::time::Timers::new().unwrap() });
    drop(rt1);
    let old = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(3),
            maximum: old.maximum,
        },
    )
    .unwrap();
    let (polls, waited) = handle.block_on(async {
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
    println!("polls of one 300 ms sleep on a shut-down handle: {polls}, after {waited:?}");
    assert!(waited >= Duration::from_millis(300), "early: {waited:?}");
    assert!(polls < 100, "polled {polls} times: busy loop");
}

/// The fallback's step is a `spawn_blocking` task: when the runtime's
/// blocking pool is busy (here `max_blocking_threads(1)`, its one thread
/// in a 3 s blocking job; in real programs a `tokio::io::stdin` read or
/// `tokio::fs` work at the pool's cap), the step waits in tokio's queue
/// and a stranded 100 ms sleep completes only when the pool frees up:
/// ~3 s late (forever, behind a blocking job that never ends).
/// Observed before the fix: `... completed after 2.973228783s`; after: 100.4 ms.
#[test]
fn fallback_step_queued_behind_busy_blocking_pool_is_late() {
    let _serial = serial();
    if valgrind() {
        return;
    }
    watchdog("fallback busy pool", 30);
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let timers = rt1.block_on(async { iofd::time::Timers::new().unwrap() });
    drop(rt1);
    let rt2 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    // The pool's one thread is busy for 3 s.
    let busy = rt2.spawn_blocking(|| std::thread::sleep(Duration::from_secs(3)));
    std::thread::sleep(Duration::from_millis(50));
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
        timers.sleep(Duration::from_millis(100)).await;
        start.elapsed()
    });
    setrlimit(Resource::Nofile, old).unwrap();
    rt2.block_on(busy).unwrap();
    println!("stranded 100 ms sleep with the blocking pool busy: completed after {waited:?}");
    assert!(waited >= Duration::from_millis(100), "early: {waited:?}");
    assert!(
        waited < Duration::from_secs(1),
        "a 100 ms sleep took {waited:?}: waited for the blocking pool"
    );
}

/// Polls of one `tick()` of `interval`, and how long it took.
async fn polls_per_tick(interval: &mut iofd::time::Interval) -> (u32, Duration) {
    let start = Instant::now();
    let mut polls = 0;
    let mut tick = std::pin::pin!(interval.tick());
    std::future::poll_fn(|cx| {
        polls += 1;
        tick.as_mut().poll(cx)
    })
    .await;
    (polls, start.elapsed())
}

/// An `iofd::time::interval` made during a short `EMFILE` spell lives on
/// the process-wide stand-in `Timers` for good: descriptors back, the
/// runtime's default `Timers` made, it is still woken in fallback steps
/// (a `spawn_blocking` hop each), about 20 polls per 500 ms tick where the
/// same interval made a moment later takes 1-2, for as long as it lives.
/// ("a few polls a second", says the fallback's doc.)
/// Observed before the fix: `3 ticks of 500 ms: interval made during EMFILE 59 polls; made after 3 polls`;
/// after: 6 polls (one timed wake-up per tick, each tick awaited before
/// it is due), and once descriptors are back it moves to the default.
#[test]
fn drop_in_interval_from_emfile_spell_never_recovers() {
    let _serial = serial();
    if valgrind() {
        return;
    }
    watchdog("stand-in interval", 30);
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let old = getrlimit(Resource::Nofile);
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(3),
                maximum: old.maximum,
            },
        )
        .unwrap();
        let mut stranded = iofd::time::interval(Duration::from_millis(500));
        setrlimit(Resource::Nofile, old).unwrap();
        // Descriptors are back: the default is made now.
        let mut fresh = iofd::time::interval(Duration::from_millis(500));
        stranded.tick().await;
        fresh.tick().await;
        let (mut s_polls, mut f_polls) = (0, 0);
        for _ in 0..3 {
            let (p, took) = polls_per_tick(&mut stranded).await;
            assert!(took >= Duration::from_millis(400), "early tick: {took:?}");
            s_polls += p;
            let (p, _) = polls_per_tick(&mut fresh).await;
            f_polls += p;
        }
        // Descriptors back, the stranded interval moved to the runtime's
        // default: its pending tick is armed there (the stand-in arms
        // nothing).
        drop(fresh);
        let mut tick = std::pin::pin!(stranded.tick());
        assert!(futures_poll(tick.as_mut()).is_pending());
        let armed = iofd::time::Timers::current().unwrap().armed();
        println!(
            "3 ticks of 500 ms: interval made during EMFILE {s_polls} polls; made after {f_polls} polls; \
             its next tick armed on the default: {armed}"
        );
        assert_eq!(armed, 1, "the interval stayed on the stand-in");
        assert!(
            s_polls <= 3 * 3,
            "interval made during an EMFILE spell: {s_polls} polls for 3 ticks (fresh: {f_polls})"
        );
    });
}

/// A stranded sleep's fallback step is a sleeping `spawn_blocking` task,
/// and dropping a runtime waits for its blocking threads: dropping the
/// runtime that merely polled a stranded sleep once blocks the dropping
/// thread for the rest of the step (up to 100 ms), where with tokio's
/// own timers the drop is immediate.
/// Observed before the fix: `... took 104.414961ms`; after: ~30 µs.
#[test]
fn runtime_drop_waits_for_fallback_step() {
    let _serial = serial();
    if valgrind() {
        return;
    }
    watchdog("runtime drop", 30);
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
    let mut sleep = Box::pin(timers.sleep(Duration::from_secs(10)));
    {
        let _g = rt2.enter();
        assert!(futures_poll(sleep.as_mut()).is_pending());
    }
    setrlimit(Resource::Nofile, old).unwrap();
    let start = Instant::now();
    drop(rt2);
    let took = start.elapsed();
    println!("dropping a runtime that polled one stranded sleep took {took:?}");
    assert!(
        took < Duration::from_millis(20),
        "runtime drop took {took:?}"
    );
}

/// The helper thread started descriptor-free (no descriptor left) for a
/// stranded sleep switches to epoll when a later `Timers` needs its
/// timerfd served: both sleeps complete on time, never early, one poll
/// after the first each.
#[test]
fn helper_thread_switches_from_descriptor_free_to_epoll() {
    let _serial = serial();
    if valgrind() {
        return;
    }
    watchdog("descriptor-free switch", 30);
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let rt1 = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (a, b) = rt1.block_on(async {
        (
            iofd::time::Timers::new().unwrap(),
            iofd::time::Timers::new().unwrap(),
        )
    });
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
    let start = Instant::now();
    let mut stranded = Box::pin(a.sleep(Duration::from_millis(400)));
    {
        let _g = rt2.enter();
        assert!(futures_poll(stranded.as_mut()).is_pending());
    }
    setrlimit(Resource::Nofile, old).unwrap();
    let (polls, served_took, stranded_took) = rt2.block_on(async {
        // B's timerfd can be served now: the thread makes its descriptors.
        let mut polls = 0u32;
        let mut served = std::pin::pin!(b.sleep(Duration::from_millis(50)));
        std::future::poll_fn(|cx| {
            polls += 1;
            served.as_mut().poll(cx)
        })
        .await;
        let served_took = start.elapsed();
        std::future::poll_fn(|cx| {
            polls += 1;
            stranded.as_mut().poll(cx)
        })
        .await;
        (polls, served_took, start.elapsed())
    });
    println!(
        "served 50 ms sleep after {served_took:?}; stranded 400 ms after {stranded_took:?}; {polls} polls"
    );
    assert!(
        served_took >= Duration::from_millis(50),
        "early: {served_took:?}"
    );
    assert!(
        served_took < Duration::from_millis(350),
        "late: {served_took:?}"
    );
    assert!(
        stranded_took >= Duration::from_millis(400),
        "early: {stranded_took:?}"
    );
    assert!(
        stranded_took < Duration::from_secs(2),
        "late: {stranded_took:?}"
    );
    assert!(polls <= 6, "{polls} polls");
}
