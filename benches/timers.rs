//! Many periodic timers on a 2-worker tokio runtime: `iofd::time` against
//! `tokio::time::interval`, one `AsyncTimerFd` per timer, and smol's
//! `async_io::Timer::interval` (its own reactor thread), all used from the
//! same tokio tasks.
//!
//! ```sh
//! cargo bench --bench timers            # 2 s windows (about a minute)
//! cargo bench --bench timers -- --quick # 0.5 s windows
//! cargo bench --bench timers -- --slack # only the slack section
//! cargo bench --bench timers -- --churn # only timeout arm+cancel
//! cargo bench --bench timers -- --per-timer # only memory per timer
//! cargo bench --bench timers -- --accuracy  # only the accuracy mix
//! ```
//!
//! Each run: N tasks created at once, each ticking every `period`; a 200 ms
//! warm-up, then a window in which every tick due is recorded with its
//! lateness (delivery minus due time; a tick reported late with a count of
//! missed periods counts each missed period, late since its own due time).
//! CPU is user + system time of the whole process over the window, in % of
//! one core (200 % = both). The contenders of a row run one after another,
//! in an order that rotates from row to row.
//!
//! Then: resident memory per timer (N = 10 000 sleeping tasks), and the time
//! to create (and first poll) 100 000 one-shot sleeps.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_core::Stream;
use iofd::AsyncTimerFd;
use iofd::time::Timers;

const WARM_UP: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Contender {
    Tokio,
    AsyncIo,
    PerFd,
    IofdTime,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Tokio => "tokio interval",
            Contender::AsyncIo => "async-io Timer",
            Contender::PerFd => "AsyncTimerFd per timer",
            Contender::IofdTime => "iofd::time",
        }
    }
}

/// What one run measured.
struct Run {
    lateness: Vec<Duration>,
    due: u64,
    cpu_percent: f64,
    descriptors: usize,
}

fn main() -> io::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    if let Some(what) = std::env::args().skip_while(|a| a != "--memory").nth(1) {
        return memory_child(&what);
    }
    // `--row K` runs only row K; `--only NAME` only contenders whose name
    // contains NAME (for investigating one case).
    let args: Vec<String> = std::env::args().collect();
    let arg = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let only_row: Option<usize> = arg("--row").and_then(|r| r.parse().ok());
    let only = arg("--only");
    let window = if quick {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(2)
    };
    raise_nofile();
    if args.iter().any(|a| a == "--slack") {
        return slack(window);
    }
    if args.iter().any(|a| a == "--accuracy") {
        return accuracy_mix(window);
    }
    if args.iter().any(|a| a == "--per-timer") {
        return memory_per_timer();
    }
    if args.iter().any(|a| a == "--churn") {
        return churn(quick);
    }
    let rows = [
        (100, Duration::from_millis(1)),
        (1_000, Duration::from_millis(10)),
        (1_000, Duration::from_millis(1)),
        (10_000, Duration::from_millis(10)),
    ];
    let contenders = [
        Contender::Tokio,
        Contender::AsyncIo,
        Contender::PerFd,
        Contender::IofdTime,
    ];
    println!("timers x period, 2 workers, {window:?} window after {WARM_UP:?} warm-up");
    println!(
        "{:<24} {:>11} {:>11} {:>11} {:>9} {:>8} {:>16}",
        "", "p50", "p99", "max", "CPU %", "fds", "ticks / due"
    );
    for (row, &(n, period)) in rows.iter().enumerate() {
        if only_row.is_some_and(|r| r != row) {
            continue;
        }
        println!("--- {n} x {period:?}");
        for k in 0..contenders.len() {
            let contender = contenders[(row + k) % contenders.len()];
            if only
                .as_ref()
                .is_some_and(|o| !contender.name().contains(o.as_str()))
            {
                continue;
            }
            let run = run(contender, n, period, window, TOGETHER)?;
            let mut lateness = run.lateness;
            lateness.sort();
            let at = |q: f64| {
                if lateness.is_empty() {
                    Duration::ZERO
                } else {
                    lateness[((lateness.len() - 1) as f64 * q).round() as usize]
                }
            };
            let expected = n as u64 * (window.as_nanos() / period.as_nanos()) as u64;
            println!(
                "{:<24} {:>11.3?} {:>11.3?} {:>11.3?} {:>9.1} {:>8} {:>7} / {:<7}",
                contender.name(),
                at(0.5),
                at(0.99),
                at(1.0),
                run.cpu_percent,
                run.descriptors,
                run.due,
                expected
            );
        }
    }
    if only_row.is_none() && only.is_none() {
        slack(window)?;
        memory_per_timer()?;
        creation_time()?;
    }
    Ok(())
}

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Records the lateness of every tick due inside the window.
#[derive(Clone)]
struct Recorder {
    window: (Instant, Instant),
    samples: Arc<Mutex<Vec<Duration>>>,
}

impl Recorder {
    /// A tick due at `due`, delivered at `now`.
    fn record(&self, local: &mut Vec<Duration>, due: Instant, now: Instant) {
        if due >= self.window.0 && due < self.window.1 {
            local.push(now.saturating_duration_since(due));
        }
    }

    fn done(&self, now: Instant) -> bool {
        now >= self.window.1
    }

    fn flush(&self, local: Vec<Duration>) {
        if let Ok(mut samples) = self.samples.lock() {
            samples.extend(local);
        }
    }
}

/// How the timers of a run are set up.
#[derive(Clone, Copy)]
struct Setup {
    /// The slack of the `iofd::time` driver.
    slack: Duration,
    /// Spread the tasks' phases evenly over one period (deadlines all
    /// different) instead of starting them together (one shared deadline).
    spread: bool,
}

const TOGETHER: Setup = Setup {
    slack: iofd::time::DEFAULT_SLACK,
    spread: false,
};

fn run(
    contender: Contender,
    n: usize,
    period: Duration,
    window: Duration,
    setup: Setup,
) -> io::Result<Run> {
    let rt = runtime()?;
    let fds_before = open_fds();
    let start = Instant::now() + Duration::from_millis(50);
    let recorder = Recorder {
        window: (start + WARM_UP, start + WARM_UP + window),
        samples: Arc::new(Mutex::new(Vec::new())),
    };
    let (cpu, descriptors) = rt.block_on(async {
        // Only the contender that uses it has a driver (and its descriptor).
        let timers = if contender == Contender::IofdTime {
            Some(Timers::with_slack(setup.slack)?)
        } else {
            None
        };
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let start = if setup.spread {
                start + period.mul_f64(i as f64 / n as f64)
            } else {
                start
            };
            let recorder = recorder.clone();
            let timers = timers.clone();
            tasks.push(tokio::spawn(async move {
                let mut local = Vec::with_capacity(4096);
                match contender {
                    Contender::Tokio => {
                        let mut interval = tokio::time::interval_at(start.into(), period);
                        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                        loop {
                            let due = interval.tick().await.into_std();
                            let now = Instant::now();
                            recorder.record(&mut local, due, now);
                            if recorder.done(now) {
                                break;
                            }
                        }
                    }
                    Contender::AsyncIo => {
                        let mut timer = async_io::Timer::interval_at(start, period);
                        let mut due = start;
                        loop {
                            // async-io yields when it fired; it fires each
                            // deadline (back to back when late).
                            std::future::poll_fn(|cx| std::pin::Pin::new(&mut timer).poll_next(cx))
                                .await;
                            let now = Instant::now();
                            recorder.record(&mut local, due, now);
                            due += period;
                            if recorder.done(now) {
                                break;
                            }
                        }
                    }
                    Contender::PerFd => {
                        let timer = AsyncTimerFd::interval_at(start, period).expect("timerfd");
                        let mut due = start;
                        loop {
                            let count = timer.expirations().await.expect("expirations");
                            let now = Instant::now();
                            for _ in 0..count {
                                recorder.record(&mut local, due, now);
                                due += period;
                            }
                            if recorder.done(now) {
                                break;
                            }
                        }
                    }
                    Contender::IofdTime => {
                        let Some(timers) = timers else { return };
                        let mut interval = timers
                            .interval_at(start, period)
                            .expect("a non-zero period");
                        // As measured before `Burst` became the default:
                        // one wake-up for every period a late task missed.
                        interval.set_missed_tick_behavior(iofd::time::MissedTickBehavior::Skip);
                        loop {
                            let (due, missed) = interval.tick_with_missed().await;
                            let now = Instant::now();
                            for k in 0..=missed {
                                recorder.record(&mut local, due + period * k as u32, now);
                            }
                            if recorder.done(now) {
                                break;
                            }
                        }
                    }
                }
                recorder.flush(local);
            }));
        }
        drop(timers);
        tokio::time::sleep_until((start + WARM_UP).into()).await;
        let descriptors = open_fds().saturating_sub(fds_before);
        let cpu_start = process_cpu();
        tokio::time::sleep_until((start + WARM_UP + window).into()).await;
        let cpu = process_cpu() - cpu_start;
        for task in tasks {
            task.await.map_err(io::Error::other)?;
        }
        Ok::<_, io::Error>((cpu, descriptors))
    })?;
    let lateness = std::mem::take(
        &mut *recorder
            .samples
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?,
    );
    Ok(Run {
        due: lateness.len() as u64,
        lateness,
        cpu_percent: cpu.as_secs_f64() / window.as_secs_f64() * 100.0,
        descriptors,
    })
}

/// What the slack costs and saves: 1 000 intervals of 1 ms whose phases are
/// spread evenly over the period (so no two deadlines are equal), with
/// slack from none to a whole period.
fn slack(window: Duration) -> io::Result<()> {
    println!("--- iofd::time slack: 1000 x 1ms, phases spread over the period");
    for slack in [0, 10, 50, 200, 1000].map(Duration::from_micros) {
        let setup = Setup {
            slack,
            spread: true,
        };
        let run = run(
            Contender::IofdTime,
            1_000,
            Duration::from_millis(1),
            window,
            setup,
        )?;
        let mut lateness = run.lateness;
        lateness.sort();
        let at = |q: f64| lateness[((lateness.len() - 1) as f64 * q).round() as usize];
        println!(
            "slack {:<9} p50 {:>11.3?}  p99 {:>11.3?}  CPU {:>6.1} %  ticks {}",
            format!("{slack:?}"),
            at(0.5),
            at(0.99),
            run.cpu_percent,
            run.due
        );
    }
    Ok(())
}

/// Resident memory per timer: in a fresh child process per contender,
/// 100 000 tasks each awaiting an hour-long sleep, against 100 000 tasks
/// awaiting nothing (`pending()`), so that only the timer is counted.
fn memory_per_timer() -> io::Result<()> {
    println!(
        "--- resident memory per timer ({MEMORY_TASKS} tasks each awaiting an hour-long sleep)"
    );
    let measure = |what: &str| -> io::Result<f64> {
        let out = std::process::Command::new(std::env::current_exe()?)
            .args(["--memory", what])
            .output()?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| io::Error::other(format!("child for {what}: {e}")))
    };
    let base = measure("none")?;
    let mut rows = Vec::new();
    for contender in ["tokio", "iofd", "async-io"] {
        rows.push((contender, measure(contender)? - base));
    }
    let tokio = rows[0].1;
    for (contender, bytes) in rows {
        println!(
            "{contender:<24} {bytes:>8.0} bytes per timer ({:+.0} against tokio)",
            bytes - tokio
        );
    }
    let kib = measure("peak")?;
    println!(
        "iofd after a peak: 1 000 000 hour-long sleeps armed and dropped, {kib:.0} KiB resident above the start (Timers alive)"
    );
    Ok(())
}

const MEMORY_TASKS: usize = 100_000;

/// The child side of `memory_per_timer`: prints the resident bytes per
/// task that `what` adds, over the runtime alone.
fn memory_child(what: &str) -> io::Result<()> {
    let rt = runtime()?;
    if what == "peak" {
        let kib = rt.block_on(async {
            let timers = Timers::new()?;
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let before = rss();
            let mut sleeps: Vec<_> = (0..1_000_000)
                .map(|_| timers.sleep(Duration::from_secs(3600)))
                .collect();
            for sleep in &mut sleeps {
                let _ = std::pin::Pin::new(sleep).poll(&mut cx);
            }
            drop(sleeps);
            Ok::<_, io::Error>((rss() as f64 - before as f64) / 1024.0)
        })?;
        println!("{kib}");
        return Ok(());
    }
    let per = rt.block_on(async {
        let timers = Timers::new()?;
        let hour = Duration::from_secs(3600);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = rss();
        // One spawn site per contender, so that each task holds only its
        // own timer future.
        fn spawn_all<F>(make: impl Fn() -> F) -> Vec<tokio::task::JoinHandle<()>>
        where
            F: Future<Output = ()> + Send + 'static,
        {
            (0..MEMORY_TASKS).map(|_| tokio::spawn(make())).collect()
        }
        let tasks = match what {
            "tokio" => spawn_all(|| tokio::time::sleep(hour)),
            "iofd" => spawn_all(|| timers.sleep(hour)),
            "async-io" => spawn_all(|| async move {
                async_io::Timer::after(hour).await;
            }),
            _ => spawn_all(std::future::pending::<()>),
        };
        // Every task polled once (registered) before measuring.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let per = (rss() - before) as f64 / MEMORY_TASKS as f64;
        for task in &tasks {
            task.abort();
        }
        Ok::<_, io::Error>(per)
    })?;
    println!("{per}");
    Ok(())
}

/// The time to create 100 000 one-shot sleeps and poll each once (which
/// registers it), on one thread.
fn creation_time() -> io::Result<()> {
    const N: usize = 100_000;
    println!("--- {N} one-shot sleeps: create and first poll");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let timers = Timers::new()?;
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        for round in 0..3 {
            let t = Instant::now();
            let mut sleeps: Vec<_> = (0..N)
                .map(|i| {
                    Box::pin(tokio::time::sleep(
                        Duration::from_secs(10) + Duration::from_nanos(i as u64),
                    ))
                })
                .collect();
            for sleep in &mut sleeps {
                let _ = sleep.as_mut().poll(&mut cx);
            }
            let tokio_time = t.elapsed();
            drop(sleeps);

            let t = Instant::now();
            let mut sleeps: Vec<_> = (0..N)
                .map(|i| timers.sleep(Duration::from_secs(10) + Duration::from_nanos(i as u64)))
                .collect();
            for sleep in &mut sleeps {
                let _ = std::pin::Pin::new(sleep).poll(&mut cx);
            }
            let ours = t.elapsed();
            drop(sleeps);
            println!(
                "round {round}: tokio {tokio_time:>9.2?}   iofd::time {ours:>9.2?}   ratio {:.2}",
                ours.as_secs_f64() / tokio_time.as_secs_f64()
            );
        }
        Ok::<_, io::Error>(())
    })
}

/// Wake-ups saved by per-timer accuracy: on one `Timers` (default
/// slack), 1 000 precise intervals of 1 ms (started together) and 10 000
/// tasks each looping a 100 ms timeout that fires (phases spread over the
/// 100 ms), the timeouts with an accuracy of 10 ms, against the same mix
/// with every timer on the one slack. Interleaved, 3 rounds each.
fn accuracy_mix(window: Duration) -> io::Result<()> {
    println!(
        "--- accuracy mix: 1000 x 1 ms intervals + 10000 x 100 ms timeouts, 2 workers, {window:?}"
    );
    for round in 0..3 {
        for sloppy in [false, true] {
            let rt = runtime()?;
            let (wake_ups, lateness, cpu, fired) = rt.block_on(async {
                let timers = Timers::new()?;
                let start = Instant::now() + Duration::from_millis(50);
                let end = start + WARM_UP + window;
                let fired = Arc::new(std::sync::atomic::AtomicU64::new(0));
                let mut tasks = Vec::new();
                for _ in 0..1_000 {
                    let timers = timers.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut interval = timers
                            .interval_at(start, Duration::from_millis(1))
                            .expect("a period");
                        interval.set_missed_tick_behavior(iofd::time::MissedTickBehavior::Skip);
                        let mut local = Vec::with_capacity(4096);
                        loop {
                            let (due, _) = interval.tick_with_missed().await;
                            let now = Instant::now();
                            if due >= start + WARM_UP && due < end {
                                local.push(now.saturating_duration_since(due));
                            }
                            if now >= end {
                                return local;
                            }
                        }
                    }));
                }
                for i in 0..10_000u32 {
                    let timers = timers.clone();
                    let fired = Arc::clone(&fired);
                    tokio::spawn(async move {
                        timers
                            .sleep_until(start + Duration::from_micros(u64::from(i) * 10))
                            .await;
                        while Instant::now() < end {
                            let limit = timers
                                .timeout(Duration::from_millis(100), std::future::pending::<()>());
                            let limit = if sloppy {
                                limit.accuracy(Duration::from_millis(10))
                            } else {
                                limit
                            };
                            let _ = limit.await;
                            fired.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    });
                }
                tokio::time::sleep_until((start + WARM_UP).into()).await;
                let (wake_ups, cpu, fired_before) = (
                    timers.wake_ups(),
                    process_cpu(),
                    fired.load(std::sync::atomic::Ordering::Relaxed),
                );
                tokio::time::sleep_until(end.into()).await;
                let wake_ups = timers.wake_ups() - wake_ups;
                let cpu = process_cpu() - cpu;
                let fired = fired.load(std::sync::atomic::Ordering::Relaxed) - fired_before;
                let mut lateness = Vec::new();
                for task in tasks {
                    lateness.extend(task.await.map_err(io::Error::other)?);
                }
                Ok::<_, io::Error>((wake_ups, lateness, cpu, fired))
            })?;
            drop(rt);
            let mut lateness = lateness;
            lateness.sort();
            let p99 = lateness
                .get((lateness.len().saturating_sub(1) as f64 * 0.99) as usize)
                .copied()
                .unwrap_or_default();
            println!(
                "round {round} {:<28} wake-ups/s {:>7.0}  interval p99 {:>9.3?}  CPU {:>6.1} %  timeouts fired/s {:>7.0}",
                if sloppy {
                    "timeouts accuracy 10 ms"
                } else {
                    "one slack (50 µs)"
                },
                wake_ups as f64 / window.as_secs_f64(),
                p99,
                cpu.as_secs_f64() / window.as_secs_f64() * 100.0,
                fired as f64 / window.as_secs_f64(),
            );
        }
    }
    Ok(())
}

/// What one arm+cancel of a timeout costs, net of the wrapped future's
/// own cost: on one thread, `N` times: make a timeout of 10 s around a
/// future that is pending, poll it once (which arms it), drop it (which
/// cancels it). The bare future, polled once and dropped, is the baseline
/// subtracted. With 0 and with 1 000 000 hour-long timers of the same kind
/// armed besides. Each round measures the bare future, tokio and iofd
/// back to back (interleaved, 15 rounds): the median of the figures and
/// of the per-round ratios, and the ratio of the best rounds.
///
/// async-io is measured after them, in rounds of its own (bare, tokio,
/// async-io): its timers are kept by a thread of its own, which takes
/// each insertion and removal from a queue, so its work for a round (and
/// for its million-timer load) runs on while the next contender is timed.
/// async-io has no timeout: its `Timer::after`, polled once next to the
/// future and dropped, is the same work. Then a churn mix on a 2-worker
/// runtime: tasks looping `timeout(10 s, yield_now())`.
fn churn(quick: bool) -> io::Result<()> {
    let n: usize = if quick { 50_000 } else { 200_000 };
    let rounds = 15;
    let ten = Duration::from_secs(10);
    let hour = Duration::from_secs(3600);
    let later = |i: usize| hour + Duration::from_nanos(i as u64 * 3_601);
    for armed in [0usize, 1_000_000] {
        println!(
            "--- timeout arm+cancel, {armed} other timers armed, ns per op (median of {rounds} rounds of {n})"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (results, async_io_results) = rt.block_on(async {
            // The runtime's default: the one the drop-in functions use.
            let timers = Timers::current()?;
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            // The armed load: of each kind, so that each contender meets
            // its own.
            let mut load_tokio: Vec<_> = (0..armed)
                .map(|i| Box::pin(tokio::time::sleep(later(i))))
                .collect();
            for sleep in &mut load_tokio {
                let _ = sleep.as_mut().poll(&mut cx);
            }
            let mut load_iofd: Vec<_> = (0..armed).map(|i| timers.sleep(later(i))).collect();
            for sleep in &mut load_iofd {
                let _ = std::pin::Pin::new(sleep).poll(&mut cx);
            }
            // One timer of each kind due in 5 s, before every timeout of
            // the loop: no insertion makes a driver wake earlier (tokio
            // would otherwise unpark its driver, a syscall, on every one),
            // as in a program that has nearer timers than its timeouts.
            let mut pacers = (
                Box::pin(tokio::time::sleep(Duration::from_secs(5))),
                timers.sleep(Duration::from_secs(5)),
            );
            let _ = pacers.0.as_mut().poll(&mut cx);
            let _ = std::pin::Pin::new(&mut pacers.1).poll(&mut cx);
            // Let tokio's driver park once, so that it knows its next wake.
            tokio::time::sleep(Duration::from_millis(2)).await;
            let per_op = |t: Instant| t.elapsed().as_nanos() as f64 / n as f64;
            let bare = |cx: &mut std::task::Context<'_>| {
                let t = Instant::now();
                for _ in 0..n {
                    let mut f = std::pin::pin!(std::hint::black_box(std::future::pending::<()>()));
                    let _ = f.as_mut().poll(cx);
                }
                per_op(t)
            };
            let tokio_round = |cx: &mut std::task::Context<'_>| {
                let t = Instant::now();
                for _ in 0..n {
                    let mut f =
                        std::pin::pin!(tokio::time::timeout(ten, std::future::pending::<()>()));
                    let _ = f.as_mut().poll(cx);
                }
                per_op(t)
            };
            let mut samples: [Vec<f64>; 4] = Default::default();
            for _ in 0..rounds {
                samples[0].push(bare(&mut cx));
                samples[1].push(tokio_round(&mut cx));
                let t = Instant::now();
                for _ in 0..n {
                    let mut f = std::pin::pin!(timers.timeout(ten, std::future::pending::<()>()));
                    let _ = f.as_mut().poll(&mut cx);
                }
                samples[2].push(per_op(t));
                // The drop-in function, as a tokio user would switch to it
                // (it finds the runtime's default first).
                let t = Instant::now();
                for _ in 0..n {
                    let mut f =
                        std::pin::pin!(iofd::time::timeout(ten, std::future::pending::<()>()));
                    let _ = f.as_mut().poll(&mut cx);
                }
                samples[3].push(per_op(t));
            }
            drop((load_iofd, pacers.1));
            // async-io, with tokio again as the reference.
            let mut load_async_io: Vec<_> = (0..armed)
                .map(|i| async_io::Timer::after(later(i)))
                .collect();
            for timer in &mut load_async_io {
                let _ = std::pin::Pin::new(timer).poll(&mut cx);
            }
            let mut pacer = async_io::Timer::after(Duration::from_secs(5));
            let _ = std::pin::Pin::new(&mut pacer).poll(&mut cx);
            let mut async_io_samples: [Vec<f64>; 3] = Default::default();
            for _ in 0..rounds {
                async_io_samples[0].push(bare(&mut cx));
                async_io_samples[1].push(tokio_round(&mut cx));
                let t = Instant::now();
                for _ in 0..n {
                    let mut timer = async_io::Timer::after(ten);
                    let mut f = std::pin::pin!(std::future::pending::<()>());
                    let _ = f.as_mut().poll(&mut cx);
                    let _ = std::pin::Pin::new(&mut timer).poll(&mut cx);
                }
                async_io_samples[2].push(per_op(t));
            }
            drop((load_tokio, load_async_io, pacers.0, pacer));
            Ok::<_, io::Error>((samples, async_io_samples))
        })?;
        // Medians of the per-round figures, and of the per-round ratios
        // (each round measures the contenders back to back).
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let ratio_of = |results: &[Vec<f64>], k: usize| {
            median(
                (0..rounds)
                    .map(|r| (results[k][r] - results[0][r]) / (results[1][r] - results[0][r]))
                    .collect(),
            )
        };
        // The best round of each: on a machine shared with other work,
        // what a preemption adds to a round is never subtracted, so the
        // fastest round is the cost with the least noise in it.
        let best = |v: &Vec<f64>| v.iter().copied().fold(f64::INFINITY, f64::min);
        let best_ratio_of = |results: &[Vec<f64>], k: usize| {
            (best(&results[k]) - best(&results[0])) / (best(&results[1]) - best(&results[0]))
        };
        let [bare, tokio, iofd, dropin] = results.clone().map(median);
        println!("bare future {bare:>8.1}");
        println!("tokio       {tokio:>8.1}   net {:>8.1}", tokio - bare);
        println!(
            "iofd::time  {iofd:>8.1}   net {:>8.1}   ratio to tokio (net, median of rounds) {:.2}, (best round of each) {:.2}",
            iofd - bare,
            ratio_of(&results, 2),
            best_ratio_of(&results, 2)
        );
        println!(
            "  drop-in    {dropin:>8.1}   net {:>8.1}   ratio to tokio (net, median of rounds) {:.2}, (best round of each) {:.2}   (iofd::time::timeout)",
            dropin - bare,
            ratio_of(&results, 3),
            best_ratio_of(&results, 3)
        );
        let [bare, tokio, async_io] = async_io_results.clone().map(median);
        println!(
            "async-io    {async_io:>8.1}   net {:>8.1}   ratio to tokio (net, median of its rounds, tokio {:.1} net there) {:.2}, (best round of each) {:.2}",
            async_io - bare,
            tokio - bare,
            ratio_of(&async_io_results, 2),
            best_ratio_of(&async_io_results, 2)
        );
    }
    churn_mix(quick)
}

/// The churn mix on 2 workers: 64 tasks each looping
/// `timeout(10 s, yield_now())` (armed, then cancelled when the yield
/// completes), against the bare `yield_now()` loop; ns per op of the whole
/// runtime, per contender, interleaved over 3 rounds (median).
fn churn_mix(quick: bool) -> io::Result<()> {
    const TASKS: usize = 64;
    let per_task: usize = if quick { 5_000 } else { 20_000 };
    let ten = Duration::from_secs(10);
    println!(
        "--- churn mix: 2 workers, {TASKS} tasks x {per_task} timeout(10 s, yield_now()), ns per op"
    );
    let rt = runtime()?;
    let timers = rt.block_on(async { Timers::new() })?;
    let mut samples: [Vec<f64>; 3] = Default::default();
    for _ in 0..3 {
        for (k, sample) in samples.iter_mut().enumerate() {
            let timers = timers.clone();
            let t = Instant::now();
            rt.block_on(async move {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let timers = timers.clone();
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                match k {
                                    0 => tokio::task::yield_now().await,
                                    1 => tokio::time::timeout(ten, tokio::task::yield_now())
                                        .await
                                        .unwrap_or(()),
                                    _ => timers
                                        .timeout(ten, tokio::task::yield_now())
                                        .await
                                        .unwrap_or(()),
                                }
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    let _ = task.await;
                }
            });
            sample.push(t.elapsed().as_nanos() as f64 / (TASKS * per_task) as f64);
        }
    }
    let [bare, tokio, iofd] = samples.map(|mut s| {
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    });
    println!("bare yield  {bare:>8.1}");
    println!("tokio       {tokio:>8.1}   net {:>8.1}", tokio - bare);
    println!(
        "iofd::time  {iofd:>8.1}   net {:>8.1}   ratio to tokio (net) {:.2}",
        iofd - bare,
        (iofd - bare) / (tokio - bare)
    );
    Ok(())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// Resident set size in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * rustix::param::page_size()
}

/// CPU time (user + system) of the whole process.
fn process_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the rusage it is given; RUSAGE_SELF is valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage succeeded, so it filled `usage`.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn raise_nofile() {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}
