//! `iofd::time` under tokio's own machinery. On every kind of thread a
//! `Timers` can be made on, it registers whatever the coop budget (no
//! stack overflow on a `block_on` thread, no registration lost with a
//! `block_on` call). Its timers, and every async wrapper of the crate,
//! take part in the budget as tokio's own do (an always-ready future lets
//! other tasks run). A poll never blocks, even when nothing can fire the
//! timer (no descriptor left for the timing thread).
//!
//! `harness = false`: each case runs in a child process of this binary, so
//! that a stack overflow (an abort) or a hang fails that case instead of
//! killing or stalling the whole run.

mod common;

use std::future::Future;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use iofd::time::{MissedTickBehavior, Timers};
use tokio::runtime::Runtime;

/// How long a child may take: a hang fails, it does not stall the run.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// The sleep every case awaits after making its `Timers`.
const NAP: Duration = Duration::from_millis(10);

/// The steps an always-ready future may take before the other task runs:
/// tokio's budget is 128 units; 0 is fine too.
const MOST_STEPS: u32 = 130;

/// Generous: only a lost registration takes this long.
const LIMIT: Duration = Duration::from_secs(10);

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Spends the whole coop budget of the current task (128 units), as
/// `#[tokio::main]` code that has just received many channel messages has.
async fn spend_the_budget() {
    // Never pending while some budget is left.
    while tokio::task::coop::has_budget_remaining() {
        tokio::task::coop::consume_budget().await;
    }
}

/// Awaits a `NAP` sleep of `timers`, failing after `LIMIT`. (Not with
/// `tokio::time::timeout`, which polls the sleep first when its own time
/// is up, and would find it complete by then.)
async fn nap(timers: &Timers) {
    let start = Instant::now();
    tokio::select! {
        biased;
        () = tokio::time::sleep(LIMIT) => panic!("the sleep was never woken: the timerfd is not watched"),
        () = timers.sleep(NAP) => {}
    }
    assert!(start.elapsed() >= NAP);
}

/// The `#[tokio::main]` of issue 20: the budget spent by a channel, then
/// `Timers::new()` on the `block_on` thread of a multi-thread runtime.
fn multi_thread_block_on_with_a_spent_budget() {
    let rt = common::two_workers();
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..1000u64 {
            tx.send(i).unwrap();
        }
        for _ in 0..256 {
            rx.recv().await;
        }
        let timers = Timers::new().unwrap();
        nap(&timers).await;
        spend_the_budget().await;
        let timers = Timers::new().unwrap();
        nap(&timers).await;
    });
}

/// A current-thread `block_on` with the budget spent makes the `Timers`;
/// a later `block_on` uses it.
fn current_thread_block_on_then_a_later_block_on() {
    let rt = current_thread();
    let timers = rt.block_on(async {
        spend_the_budget().await;
        Timers::new().unwrap()
    });
    rt.block_on(async {
        let timers = timers.clone();
        tokio::spawn(async move { nap(&timers).await })
            .await
            .unwrap();
    });
}

/// As above, then the runtime is dropped and the sleep is awaited on
/// another one.
fn current_thread_block_on_then_after_the_runtime_is_dropped() {
    let rt = current_thread();
    let timers = rt.block_on(async {
        spend_the_budget().await;
        Timers::new().unwrap()
    });
    drop(rt);
    current_thread().block_on(nap(&timers));
}

/// On a worker, with the task's budget spent.
fn a_worker_with_a_spent_budget() {
    let rt = common::two_workers();
    rt.block_on(async {
        tokio::spawn(async {
            spend_the_budget().await;
            let timers = Timers::new().unwrap();
            nap(&timers).await;
        })
        .await
        .unwrap();
    });
}

/// `Handle::block_on` inside `block_in_place`, with its budget spent.
fn block_in_place_and_handle_block_on() {
    let rt = common::two_workers();
    rt.block_on(async {
        tokio::spawn(async {
            let handle = tokio::runtime::Handle::current();
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    spend_the_budget().await;
                    let timers = Timers::new().unwrap();
                    nap(&timers).await;
                });
            });
        })
        .await
        .unwrap();
    });
}

/// `Handle::block_on` inside `spawn_blocking`, with its budget spent.
fn spawn_blocking_and_handle_block_on() {
    let rt = common::two_workers();
    rt.block_on(async {
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            handle.block_on(async {
                spend_the_budget().await;
                let timers = Timers::new().unwrap();
                nap(&timers).await;
            });
        })
        .await
        .unwrap();
    });
}

/// A task that sets `ran` when it gets to run, spawned on the current
/// (current-thread) runtime.
fn spawn_flag() -> Arc<AtomicBool> {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
    ran
}

/// Awaits `$step` until a task spawned first has run, and evaluates to
/// how many steps that took; fails after `$most`.
macro_rules! steps_until_the_other_task_runs {
    ($most:expr, $step:expr) => {{
        let ran = spawn_flag();
        let mut steps = 0u32;
        while !ran.load(Ordering::SeqCst) {
            let _ = $step.await;
            steps += 1;
            assert!(steps < $most, "{steps} steps and the other task never ran");
        }
        steps
    }};
}

/// `loop { sleep(ZERO).await }` lets a spawned task run (tokio's own
/// timers yield after 128 ready polls).
fn an_always_ready_sleep_yields() {
    current_thread().block_on(async {
        let timers = Timers::new().unwrap();
        let steps = steps_until_the_other_task_runs!(100_000, timers.sleep(Duration::ZERO));
        assert!(steps <= MOST_STEPS, "{steps}");
        let steps = steps_until_the_other_task_runs!(
            100_000,
            timers.sleep_until(Instant::now() - Duration::from_millis(1))
        );
        assert!(steps <= MOST_STEPS, "{steps}");
    });
}

/// An interval with `Burst` catching up after a stall lets other tasks
/// run, through `tick` and through its `Stream`.
fn a_catching_up_interval_yields() {
    current_thread().block_on(async {
        let timers = Timers::new().unwrap();
        let period = Duration::from_micros(100);
        let mut interval = timers
            .interval_at(Instant::now() - period * 1000, period)
            .unwrap();
        interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let steps = steps_until_the_other_task_runs!(900, interval.tick());
        assert!(steps <= MOST_STEPS, "{steps}");
        use tokio_stream::StreamExt;
        let steps = steps_until_the_other_task_runs!(700, interval.next());
        assert!(steps <= MOST_STEPS, "{steps}");
    });
}

/// A future ready at every poll that does not touch the budget.
struct AlwaysReady;

impl Future for AlwaysReady {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Ready(())
    }
}

/// A timeout whose time has run out yields like a sleep; one whose future
/// is ready first yields as that future does (not at all here, as with
/// tokio's `timeout`), and a budget spent by its future never starves it.
fn timeouts_take_part_in_the_budget() {
    current_thread().block_on(async {
        let timers = Timers::new().unwrap();
        let past = Instant::now() - Duration::from_millis(1);
        let steps = steps_until_the_other_task_runs!(
            100_000,
            timers.timeout_at(past, std::future::pending::<()>())
        );
        assert!(steps <= MOST_STEPS, "{steps}");
        // The inner future is polled first: ready, even with no budget.
        spend_the_budget().await;
        let output = timers.timeout_at(past, AlwaysReady);
        let mut output = std::pin::pin!(output);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(output.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
    });
}

/// `AsyncEventFd::signal(1).await` in a loop lets a spawned task run.
fn an_eventfd_signal_loop_yields() {
    current_thread().block_on(async {
        let eventfd = iofd::AsyncEventFd::new(0).unwrap();
        let steps =
            steps_until_the_other_task_runs!(100_000, async { eventfd.signal(1).await.unwrap() });
        assert!(steps <= MOST_STEPS, "{steps}");
        // And a wait that always finds a count.
        let steps = steps_until_the_other_task_runs!(100_000, async {
            eventfd.signal(1).await.unwrap();
            eventfd.wait().await.unwrap();
        });
        assert!(steps <= MOST_STEPS, "{steps}");
    });
}

/// `AsyncTimerFd::expirations` on a timer that expires every nanosecond
/// (always ready) lets a spawned task run.
fn an_always_ready_timerfd_yields() {
    current_thread().block_on(async {
        let timer = iofd::AsyncTimerFd::interval(Duration::from_nanos(1)).unwrap();
        let steps = steps_until_the_other_task_runs!(100_000, async {
            timer.expirations().await.unwrap();
        });
        assert!(steps <= MOST_STEPS, "{steps}");
    });
}

/// `AsyncSignalFd::recv` on a signal always pending lets a spawned task
/// run (the signal is blocked on this thread, the runtime's only one).
fn an_always_ready_signalfd_yields() {
    let set: iofd::SigSet = [iofd::Signal::USR1].into_iter().collect();
    iofd::SignalMaskGuard::block(&set).unwrap().keep();
    current_thread().block_on(async {
        let mut signals = iofd::AsyncSignalFd::new(&set).unwrap();
        let steps = steps_until_the_other_task_runs!(100_000, async {
            common::raise(iofd::Signal::USR1);
            signals.recv().await.unwrap();
        });
        assert!(steps <= MOST_STEPS, "{steps}");
    });
}

/// `AsyncPidFd::exited` and `wait` on a child that has exited (each
/// answers at once, without waiting for readiness) let a spawned task
/// run. (`exit_status` takes the same budget unit.)
fn an_always_ready_pidfd_yields() {
    if !common::pidfds_or_skip() {
        return;
    }
    let child = Command::new("true").spawn().unwrap();
    current_thread().block_on(async {
        let pidfd = iofd::AsyncPidFd::from_child(&child).unwrap();
        while !pidfd.get_ref().has_exited().unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let steps = steps_until_the_other_task_runs!(100_000, async {
            pidfd.exited().await.unwrap();
        });
        assert!(steps <= MOST_STEPS, "exited: {steps}");
        let steps = steps_until_the_other_task_runs!(100_000, async {
            assert!(pidfd.wait().await.unwrap().success());
        });
        assert!(steps <= MOST_STEPS, "wait: {steps}");
    });
    drop(child);
}

/// `pass::send_async` and `recv_async` on a socket that always has room
/// and a message let a spawned task run.
fn pass_async_functions_yield() {
    current_thread().block_on(async {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let mut buf = [0u8; 8];
        let steps = steps_until_the_other_task_runs!(100_000, async {
            iofd::pass::send_async(&a, b"x", &[]).await.unwrap();
            iofd::pass::recv_async(&b, &mut buf).await.unwrap();
        });
        assert!(steps <= MOST_STEPS, "{steps}");
    });
}

/// Lowers `RLIMIT_NOFILE` so that no descriptor can be made (filling the
/// gaps below it), and returns the old limit and the fillers.
fn exhaust_descriptors() -> (rustix::process::Rlimit, Vec<std::fs::File>) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let saved = getrlimit(Resource::Nofile);
    let highest = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| fd.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let limit = rustix::process::Rlimit {
        current: Some(highest + 1),
        maximum: saved.maximum,
    };
    setrlimit(Resource::Nofile, limit).unwrap();
    let mut fillers = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        fillers.push(file);
    }
    (saved, fillers)
}

/// With the runtime gone, nothing armed at its shutdown, and no descriptor
/// left for the timing thread, polling a sleep does not block the thread
/// until its deadline: the other branch of a `select!` wins at its own
/// time. The sleep still completes, not early, and once descriptors are
/// free again the timing thread takes over.
fn a_poll_never_blocks_when_nothing_can_fire_the_timer() {
    let first = current_thread();
    let timers = first.block_on(async { Timers::new().unwrap() });
    drop(first);
    let second = current_thread();
    let (saved, fillers) = exhaust_descriptors();
    second.block_on(async {
        assert!(std::fs::File::open("/dev/null").is_err(), "EMFILE");
        let start = Instant::now();
        tokio::select! {
            biased;
            () = tokio::time::sleep(Duration::from_millis(10)) => {}
            () = timers.sleep(Duration::from_secs(2)) => {
                panic!("the 2 s sleep won after {:?}: its poll blocked", start.elapsed())
            }
        }
        let sleep = timers.sleep(Duration::from_millis(50));
        let deadline = sleep.deadline();
        tokio::select! {
            biased;
            () = tokio::time::sleep(LIMIT) => panic!("never completed"),
            () = sleep => assert!(Instant::now() >= deadline),
        }
    });
    rustix::process::setrlimit(rustix::process::Resource::Nofile, saved).unwrap();
    drop(fillers);
    second.block_on(nap(&timers));
}

const CASES: &[(&str, fn())] = &[
    (
        "multi_thread_block_on_with_a_spent_budget",
        multi_thread_block_on_with_a_spent_budget,
    ),
    (
        "current_thread_block_on_then_a_later_block_on",
        current_thread_block_on_then_a_later_block_on,
    ),
    (
        "current_thread_block_on_then_after_the_runtime_is_dropped",
        current_thread_block_on_then_after_the_runtime_is_dropped,
    ),
    ("a_worker_with_a_spent_budget", a_worker_with_a_spent_budget),
    (
        "block_in_place_and_handle_block_on",
        block_in_place_and_handle_block_on,
    ),
    (
        "spawn_blocking_and_handle_block_on",
        spawn_blocking_and_handle_block_on,
    ),
    ("an_always_ready_sleep_yields", an_always_ready_sleep_yields),
    (
        "a_catching_up_interval_yields",
        a_catching_up_interval_yields,
    ),
    (
        "timeouts_take_part_in_the_budget",
        timeouts_take_part_in_the_budget,
    ),
    (
        "an_eventfd_signal_loop_yields",
        an_eventfd_signal_loop_yields,
    ),
    (
        "an_always_ready_timerfd_yields",
        an_always_ready_timerfd_yields,
    ),
    (
        "an_always_ready_signalfd_yields",
        an_always_ready_signalfd_yields,
    ),
    ("an_always_ready_pidfd_yields", an_always_ready_pidfd_yields),
    ("pass_async_functions_yield", pass_async_functions_yield),
    (
        "a_poll_never_blocks_when_nothing_can_fire_the_timer",
        a_poll_never_blocks_when_nothing_can_fire_the_timer,
    ),
];

/// Runs case `name` in a child process; passes when it exits 0 in time.
fn in_child(name: &'static str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("IOFD_TIME_COOP_CASE", name)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CHILD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: hung for {CHILD_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.signal(),
        None,
        "{name}: killed by a signal ({status})"
    );
    assert!(status.success(), "{name}: {status}");
}

fn main() {
    if let Ok(case) = std::env::var("IOFD_TIME_COOP_CASE") {
        let (_, run) = CASES
            .iter()
            .find(|(name, _)| *name == case)
            .expect("a known case");
        run();
        return;
    }
    macro_rules! wrap {
        ($($i:literal),*) => {
            [$((CASES[$i].0, (|| in_child(CASES[$i].0)) as fn())),*]
        };
    }
    let tests = wrap!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    common::run(&tests);
}
