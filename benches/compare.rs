//! Each async wrapper beside what a user would reach for instead, measured
//! interleaved in one process, printing distributions and ratios.
//!
//! ```sh
//! cargo bench --bench compare             # full run, under a minute
//! cargo bench --bench compare -- --quick  # a few seconds
//! ```
//!
//! Signals: the ones read through signalfds (SIGUSR1, SIGRTMIN+1) are
//! blocked in `main` before any thread starts; the ones tokio::signal
//! handles (SIGUSR2, SIGRTMIN+2) are left unblocked, as tokio needs.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use iofd::{
    AsyncEventFd, AsyncPidFd, AsyncSignalFd, AsyncTimerFd, SigSet, Signal, SignalMaskGuard,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

/// Run lengths: full or `--quick`.
struct Plan {
    timer_run: Duration,
    rounds: usize,
    signals: usize,
    burst: usize,
    pingpongs: usize,
    children: usize,
}

fn main() -> io::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = if quick {
        Plan {
            timer_run: Duration::from_millis(200),
            rounds: 1,
            signals: 300,
            burst: 2_000,
            pingpongs: 3_000,
            children: 30,
        }
    } else {
        Plan {
            timer_run: Duration::from_millis(1000),
            rounds: 2,
            signals: 2_000,
            burst: 50_000,
            pingpongs: 20_000,
            children: 150,
        }
    };
    let ours = SigSet::from(Signal::USR1).with(rt_signal(1));
    SignalMaskGuard::block(&ours)?.keep();
    let rt = current_thread()?;

    println!(
        "iofd compare ({} mode; {} CPUs; times are wall clock)\n",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    timers(&rt, &plan)?;
    many_timers_vs_expert(&plan)?;
    signals(&rt, &plan)?;
    eventfds(&rt, &plan)?;
    children(&rt, &plan)?;
    Ok(())
}

fn rt_signal(offset: u32) -> Signal {
    Signal::rt(offset).expect("real-time signals exist")
}

fn current_thread() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Sorted samples with percentiles.
struct Dist(Vec<Duration>);

impl Dist {
    fn new(mut samples: Vec<Duration>) -> Dist {
        samples.sort();
        Dist(samples)
    }
    fn at(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0[((self.0.len() - 1) as f64 * q).round() as usize]
    }
    fn mean(&self) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.iter().sum::<Duration>() / self.0.len() as u32
    }
    fn line(&self) -> String {
        format!(
            "p50 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}  mean {:>9.1?}",
            self.at(0.5),
            self.at(0.99),
            self.at(1.0),
            self.mean()
        )
    }
}

fn ratio(ours: Duration, theirs: Duration) -> String {
    if theirs.is_zero() {
        return "n/a".into();
    }
    format!("{:.3}x", ours.as_secs_f64() / theirs.as_secs_f64())
}

/// CPU time (user + system) this thread has used.
fn thread_cpu() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the rusage it is given; RUSAGE_THREAD is valid
    // on Linux.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if rc != 0 {
        return Duration::ZERO;
    }
    // SAFETY: getrusage returned 0, so it initialised `usage`.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

// ---------------------------------------------------------------- timers

struct TimerRun {
    late: Dist,
    counted: u64,
    expected: u64,
    cpu_per_s: f64,
}

async fn run_timerfd(period: Duration, run: Duration) -> io::Result<TimerRun> {
    // Register a disarmed timer first, so `start` is taken right before the
    // arm: the first tick is due at `start + period` on the same clock
    // (CLOCK_MONOTONIC, as `Instant`).
    let timer = AsyncTimerFd::try_from(iofd::TimerFd::new()?)?;
    let (cpu0, start) = (thread_cpu(), Instant::now());
    timer.arm(period, period)?;
    let (mut late, mut counted) = (Vec::new(), 0u64);
    while start.elapsed() < run {
        counted += timer.expirations().await?;
        let due = start + period * counted as u32;
        late.push(Instant::now().saturating_duration_since(due));
    }
    let wall = start.elapsed();
    Ok(TimerRun {
        late: Dist::new(late),
        counted,
        expected: (wall.as_nanos() / period.as_nanos()) as u64,
        cpu_per_s: (thread_cpu() - cpu0).as_secs_f64() / wall.as_secs_f64(),
    })
}

async fn run_interval(period: Duration, run: Duration) -> TimerRun {
    let (cpu0, start) = (thread_cpu(), Instant::now());
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let (mut late, mut counted) = (Vec::new(), 0u64);
    while start.elapsed() < run {
        let due = interval.tick().await;
        counted += 1;
        late.push(tokio::time::Instant::now().saturating_duration_since(due));
    }
    let wall = start.elapsed();
    TimerRun {
        late: Dist::new(late),
        counted,
        expected: (wall.as_nanos() / period.as_nanos()) as u64,
        cpu_per_s: (thread_cpu() - cpu0).as_secs_f64() / wall.as_secs_f64(),
    }
}

fn timers(rt: &Runtime, plan: &Plan) -> io::Result<()> {
    println!(
        "== AsyncTimerFd vs tokio::time::interval: lateness of each wake-up after its due time"
    );
    for period in [100, 250, 1_000, 10_000].map(Duration::from_micros) {
        for round in 0..plan.rounds {
            let ours = rt.block_on(run_timerfd(period, plan.timer_run))?;
            let theirs = rt.block_on(run_interval(period, plan.timer_run));
            for (name, r) in [("AsyncTimerFd", &ours), ("tokio interval", &theirs)] {
                println!(
                    "{period:>7.0?} r{round} {name:>14}: {}  ticks {}/{} due  cpu {:.1}%",
                    r.late.line(),
                    r.counted,
                    r.expected,
                    r.cpu_per_s * 100.0
                );
            }
            let goal = if period <= Duration::from_millis(1) {
                "goal <= 0.100x"
            } else {
                "no goal at this period"
            };
            println!(
                "{period:>7.0?} r{round} ratio p99 lateness ours/tokio: {} ({goal}); lost by ours: {}",
                ratio(ours.late.at(0.99), theirs.late.at(0.99)),
                ours.expected.saturating_sub(ours.counted)
            );
        }
    }
    println!();
    Ok(())
}

/// The hand-written timer baseline: a timerfd in a bare AsyncFd (read
/// interest), readiness cleared right after the read, which always drains.
struct RawTimer(AsyncFd<OwnedFd>);

impl RawTimer {
    fn new(period: Duration) -> io::Result<RawTimer> {
        use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?;
        let ts = Timespec {
            tv_sec: period.as_secs() as _,
            tv_nsec: period.subsec_nanos() as _,
        };
        let spec = Itimerspec {
            it_interval: ts,
            it_value: ts,
        };
        rustix::time::timerfd_settime(&fd, TimerfdTimerFlags::empty(), &spec)?;
        // SAFETY: the AsyncFd owns `fd`, open and unchanged for its life.
        let async_fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(RawTimer(async_fd))
    }
    async fn expirations(&self) -> io::Result<u64> {
        loop {
            let mut guard = self.0.readable().await?;
            let mut buf = [0u8; 8];
            match rustix::io::read(guard.get_inner(), &mut buf) {
                Ok(_) => {
                    guard.clear_ready();
                    return Ok(u64::from_ne_bytes(buf));
                }
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// One timer, ours or hand-written.
trait Tick: Send + Sync + 'static {
    fn tick(&self) -> impl Future<Output = io::Result<u64>> + Send;
}

impl Tick for AsyncTimerFd {
    fn tick(&self) -> impl Future<Output = io::Result<u64>> + Send {
        self.expirations()
    }
}

impl Tick for RawTimer {
    fn tick(&self) -> impl Future<Output = io::Result<u64>> + Send {
        self.expirations()
    }
}

/// Ticks `timer` (armed at `start` with `period`) for `run`: the lateness
/// of each wake-up and the number of wake-ups.
async fn timer_task<T: Tick>(
    timer: T,
    start: Instant,
    period: Duration,
    run: Duration,
) -> io::Result<(Vec<Duration>, u64)> {
    let (mut late, mut counted, mut wakeups) = (Vec::new(), 0u64, 0u64);
    while start.elapsed() < run {
        counted += timer.tick().await?;
        wakeups += 1;
        let due = start + period * counted as u32;
        late.push(Instant::now().saturating_duration_since(due));
    }
    Ok((late, wakeups))
}

/// `count` timers of `period` each in its own task on a two-worker
/// runtime, for `run`: every wake-up's lateness, and the wake-ups.
fn many_timers(
    ours: bool,
    count: usize,
    period: Duration,
    run: Duration,
) -> io::Result<(Dist, u64)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results = rt.block_on(async {
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            tasks.push(if ours {
                let timer = AsyncTimerFd::interval(period)?;
                tokio::spawn(timer_task(timer, start, period, run))
            } else {
                let timer = RawTimer::new(period)?;
                tokio::spawn(timer_task(timer, start, period, run))
            });
        }
        let mut all = Vec::new();
        let mut wakeups = 0;
        for task in tasks {
            let (late, w) = task.await.map_err(io::Error::other)??;
            all.extend(late);
            wakeups += w;
        }
        io::Result::Ok((Dist::new(all), wakeups))
    });
    drop(rt);
    results
}

fn many_timers_vs_expert(plan: &Plan) -> io::Result<()> {
    let (count, period) = (1_000, Duration::from_millis(1));
    println!(
        "== {count} AsyncTimerFd x {period:?} vs {count} hand-written AsyncFd timerfds \
         (eager clear_ready), 2-worker runtime, {:?} each, interleaved",
        plan.timer_run
    );
    // 1 000 timers need more than the default 1 024 descriptors.
    raise_nofile();
    for round in 0..plan.rounds.max(2) {
        let (ours, our_reads) = counting_reads(|| many_timers(true, count, period, plan.timer_run));
        let (theirs, their_reads) =
            counting_reads(|| many_timers(false, count, period, plan.timer_run));
        let ((ours, our_wakes), (theirs, their_wakes)) = (ours?, theirs?);
        println!(
            "r{round} AsyncTimerFd: {}  reads/wake-up {:.3}",
            ours.line(),
            our_reads as f64 / our_wakes as f64
        );
        println!(
            "r{round} hand-written: {}  reads/wake-up {:.3}",
            theirs.line(),
            their_reads as f64 / their_wakes as f64
        );
        println!(
            "r{round} ratio ours/hand-written: p50 {}  p99 {} (goal <= 1.050x)",
            ratio(ours.at(0.5), theirs.at(0.5)),
            ratio(ours.at(0.99), theirs.at(0.99))
        );
    }
    println!();
    Ok(())
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit.
fn raise_nofile() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the rlimit they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

// --------------------------------------------------------------- signals

fn kill_self(signal: Signal) {
    // SAFETY: kill(2) to our own pid; the signal is blocked in every thread
    // (ours) or handled by tokio (theirs), so it cannot kill the process.
    unsafe { libc::kill(std::process::id() as i32, signal.as_raw()) };
}

fn sigqueue_self(signal: Signal, value: i32) -> bool {
    let sigval = libc::sigval {
        sival_ptr: value as usize as *mut libc::c_void,
    };
    // SAFETY: as `kill_self`.
    unsafe { libc::sigqueue(std::process::id() as i32, signal.as_raw(), sigval) == 0 }
}

fn signals(rt: &Runtime, plan: &Plan) -> io::Result<()> {
    println!("== AsyncSignalFd vs tokio::signal");
    rt.block_on(async {
        let mut ours = AsyncSignalFd::new(&SigSet::from(Signal::USR1).with(rt_signal(1)))?;
        let mut theirs = signal(SignalKind::user_defined2())?;
        let mut theirs_rt = signal(SignalKind::from_raw(rt_signal(2).as_raw()))?;

        // Latency: send to ourselves, await it; interleaved batches.
        let (mut ours_lat, mut theirs_lat) = (Vec::new(), Vec::new());
        for _ in 0..(plan.signals / 100).max(1) {
            for _ in 0..100 {
                let t = Instant::now();
                kill_self(Signal::USR1);
                ours.recv().await?;
                ours_lat.push(t.elapsed());
            }
            for _ in 0..100 {
                let t = Instant::now();
                kill_self(Signal::USR2);
                theirs.recv().await;
                theirs_lat.push(t.elapsed());
            }
        }
        let (ours_lat, theirs_lat) = (Dist::new(ours_lat), Dist::new(theirs_lat));
        println!("latency   AsyncSignalFd: {}", ours_lat.line());
        println!("latency   tokio::signal: {}", theirs_lat.line());
        println!(
            "latency   ratio mean ours/tokio: {}  (goal <= 0.750x)",
            ratio(ours_lat.mean(), theirs_lat.mean())
        );

        // Real-time burst: queue them all, then receive.
        let limit = sigpending_limit();
        let burst = plan.burst.min(limit.saturating_sub(64));
        let mut sent = 0;
        for value in 0..burst {
            sent += usize::from(sigqueue_self(rt_signal(1), value as i32));
        }
        let mut in_order = true;
        let mut expect = 0;
        let mut received = 0;
        while let Ok(info) = tokio::time::timeout(Duration::from_millis(200), ours.recv()).await {
            let info = info?;
            in_order &= info.value_int() == expect;
            expect += 1;
            received += 1;
        }
        println!(
            "rt burst  AsyncSignalFd: {received}/{sent} delivered with siginfo, in order: {in_order} \
             (RLIMIT_SIGPENDING {limit})"
        );
        let mut sent = 0;
        for value in 0..burst {
            sent += usize::from(sigqueue_self(rt_signal(2), value as i32));
        }
        let mut received = 0;
        while let Ok(Some(())) = tokio::time::timeout(Duration::from_millis(200), theirs_rt.recv()).await {
            received += 1;
        }
        println!("rt burst  tokio::signal: {received}/{sent} observed (no siginfo)");

        // SIGUSR1/SIGUSR2 flood from another thread while we receive.
        for (name, signal_to_send) in [("AsyncSignalFd", Signal::USR1), ("tokio::signal", Signal::USR2)] {
            let stop = Arc::new(AtomicBool::new(false));
            let flood = plan.burst;
            let sender = std::thread::spawn({
                let stop = stop.clone();
                move || {
                    for _ in 0..flood {
                        kill_self(signal_to_send);
                    }
                    stop.store(true, Ordering::Release);
                }
            });
            let mut received = 0;
            loop {
                let got = if signal_to_send == Signal::USR1 {
                    tokio::time::timeout(Duration::from_millis(100), async { ours.recv().await.is_ok() }).await
                } else {
                    tokio::time::timeout(Duration::from_millis(100), async { theirs.recv().await.is_some() })
                        .await
                };
                match got {
                    Ok(true) => received += 1,
                    _ if stop.load(Ordering::Acquire) => break,
                    _ => {}
                }
            }
            sender.join().map_err(|_| io::Error::other("sender panicked"))?;
            println!(
                "flood     {name}: {received}/{flood} SIGUSR observed ({:.1}%; standard signals coalesce)",
                received as f64 * 100.0 / flood as f64
            );
        }
        io::Result::Ok(())
    })?;
    println!();
    Ok(())
}

fn sigpending_limit() -> usize {
    let mut limit = std::mem::MaybeUninit::<libc::rlimit>::uninit();
    // SAFETY: getrlimit fills the rlimit it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_SIGPENDING, limit.as_mut_ptr()) } != 0 {
        return 1024;
    }
    // SAFETY: getrlimit returned 0, so `limit` is initialised.
    let cur = unsafe { limit.assume_init() }.rlim_cur;
    usize::try_from(cur).unwrap_or(usize::MAX)
}

// -------------------------------------------------------------- eventfds

/// The hand-written baseline, as an expert writes it: an eventfd in a bare
/// AsyncFd registered for read interest only, readiness cleared right after
/// the read that empties the counter, and rings written straight away.
struct RawAsyncEventFd(AsyncFd<OwnedFd>);

impl RawAsyncEventFd {
    fn new() -> io::Result<RawAsyncEventFd> {
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?;
        // SAFETY: the AsyncFd owns `fd`, which stays open and unchanged for
        // its whole life.
        let async_fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(RawAsyncEventFd(async_fd))
    }
    async fn wait(&self) -> io::Result<u64> {
        loop {
            let mut guard = self.0.readable().await?;
            let mut buf = [0u8; 8];
            match rustix::io::read(guard.get_inner(), &mut buf) {
                Ok(_) => {
                    guard.clear_ready(); // a counting read empties it
                    return Ok(u64::from_ne_bytes(buf));
                }
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
    async fn signal(&self, v: u64) -> io::Result<()> {
        // The counter never fills in this benchmark.
        rustix::io::write(self.0.get_ref(), &v.to_ne_bytes())?;
        Ok(())
    }
}

/// Read syscalls made by this process so far (`syscr` in `/proc/self/io`),
/// less the reads that reading the file itself costs.
fn read_syscalls() -> u64 {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("syscr:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `read_syscalls` around `f`, less the cost of one measurement.
fn counting_reads<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let overhead = {
        let a = read_syscalls();
        read_syscalls() - a
    };
    let before = read_syscalls();
    let out = f();
    let reads = read_syscalls().saturating_sub(before + overhead);
    (out, reads)
}

/// One ping-pong implementation: a pair of one-way channels.
trait Bell: Send + Sync + 'static {
    fn ring(&self) -> impl Future<Output = io::Result<()>> + Send;
    /// Rings from a thread that is not this handle's runtime.
    fn ring_sync(&self) -> io::Result<()>;
    fn wait(&self) -> impl Future<Output = io::Result<()>> + Send;
}

impl Bell for AsyncEventFd {
    async fn ring(&self) -> io::Result<()> {
        self.signal(1).await
    }
    fn ring_sync(&self) -> io::Result<()> {
        self.get_ref().signal(1)
    }
    async fn wait(&self) -> io::Result<()> {
        AsyncEventFd::wait(self).await.map(drop)
    }
}

impl Bell for RawAsyncEventFd {
    async fn ring(&self) -> io::Result<()> {
        self.signal(1).await
    }
    fn ring_sync(&self) -> io::Result<()> {
        rustix::io::write(self.0.get_ref(), &1u64.to_ne_bytes())?;
        Ok(())
    }
    async fn wait(&self) -> io::Result<()> {
        RawAsyncEventFd::wait(self).await.map(drop)
    }
}

impl Bell for Notify {
    async fn ring(&self) -> io::Result<()> {
        self.notify_one();
        Ok(())
    }
    fn ring_sync(&self) -> io::Result<()> {
        self.notify_one();
        Ok(())
    }
    async fn wait(&self) -> io::Result<()> {
        self.notified().await;
        Ok(())
    }
}

/// Round trips per second between two tasks on one current_thread runtime.
fn pingpong_same_runtime<B: Bell>(
    rt: &Runtime,
    ping: Arc<B>,
    pong: Arc<B>,
    n: usize,
) -> io::Result<Duration> {
    rt.block_on(async {
        let responder = tokio::spawn({
            let (ping, pong) = (ping.clone(), pong.clone());
            async move {
                for _ in 0..n {
                    ping.wait().await?;
                    pong.ring().await?;
                }
                io::Result::Ok(())
            }
        });
        let start = Instant::now();
        for _ in 0..n {
            ping.ring().await?;
            pong.wait().await?;
        }
        let elapsed = start.elapsed();
        responder.await.map_err(io::Error::other)??;
        Ok(elapsed / n as u32)
    })
}

/// The same across two current_thread runtimes on two threads: each side
/// awaits a handle registered with its own runtime and rings the other
/// side's synchronously.
fn pingpong_two_runtimes<B: Bell>(
    make: impl Fn() -> io::Result<B> + Clone + Send + 'static,
    n: usize,
) -> io::Result<Duration> {
    let main_rt = current_thread()?;
    let pong = {
        let _enter = main_rt.enter();
        Arc::new(make()?)
    };
    let (ping_tx, ping_rx) = std::sync::mpsc::channel();
    let responder = std::thread::spawn({
        let pong = pong.clone();
        move || {
            let rt = current_thread()?;
            let ping = {
                let _enter = rt.enter();
                Arc::new(make()?)
            };
            ping_tx.send(ping.clone()).map_err(io::Error::other)?;
            rt.block_on(async {
                for _ in 0..n {
                    ping.wait().await?;
                    pong.ring_sync()?;
                }
                io::Result::Ok(())
            })
        }
    });
    let ping = ping_rx.recv().map_err(io::Error::other)?;
    let elapsed = main_rt.block_on(async {
        let start = Instant::now();
        for _ in 0..n {
            ping.ring_sync()?;
            pong.wait().await?;
        }
        io::Result::Ok(start.elapsed())
    })?;
    responder
        .join()
        .map_err(|_| io::Error::other("responder panicked"))??;
    Ok(elapsed / n as u32)
}

fn eventfds(rt: &Runtime, plan: &Plan) -> io::Result<()> {
    println!(
        "== AsyncEventFd vs a hand-written AsyncFd eventfd vs tokio::sync::Notify: ping-pong round trip"
    );
    println!(
        "   (mean of {} batches per kind, interleaved ours / hand-written / Notify, after one warm-up batch)",
        BATCHES
    );
    let n = plan.pingpongs / BATCHES;
    let _enter = rt.enter();
    let ours = (
        Arc::new(AsyncEventFd::new(0)?),
        Arc::new(AsyncEventFd::new(0)?),
    );
    let raw = (
        Arc::new(RawAsyncEventFd::new()?),
        Arc::new(RawAsyncEventFd::new()?),
    );
    let notify = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let mut same = [Duration::ZERO; 3];
    let mut two = [Duration::ZERO; 3];
    let mut reads = [0u64; 2];
    for batch in 0..=BATCHES {
        let (t0, r0) =
            counting_reads(|| pingpong_same_runtime(rt, ours.0.clone(), ours.1.clone(), n));
        let (t1, r1) =
            counting_reads(|| pingpong_same_runtime(rt, raw.0.clone(), raw.1.clone(), n));
        let t = [
            t0?,
            t1?,
            pingpong_same_runtime(rt, notify.0.clone(), notify.1.clone(), n)?,
        ];
        if batch > 0 {
            reads[0] += r0;
            reads[1] += r1;
        }
        // Alternate which of ours and hand-written goes first.
        let (ours_two, raw_two) = if batch % 2 == 0 {
            let a = pingpong_two_runtimes(|| AsyncEventFd::new(0), n)?;
            (a, pingpong_two_runtimes(RawAsyncEventFd::new, n)?)
        } else {
            let b = pingpong_two_runtimes(RawAsyncEventFd::new, n)?;
            (pingpong_two_runtimes(|| AsyncEventFd::new(0), n)?, b)
        };
        let u = [
            ours_two,
            raw_two,
            pingpong_two_runtimes(|| Ok(Notify::new()), n)?,
        ];
        if batch > 0 {
            for i in 0..3 {
                same[i] += t[i] / BATCHES as u32;
                two[i] += u[i] / BATCHES as u32;
            }
        }
    }
    for (name, [ours, raw, notify], goal) in [
        ("same runtime", same, " (goal <= 1.050x)"),
        ("two runtimes", two, ""),
    ] {
        println!(
            "{name}: AsyncEventFd {ours:>8.2?}  hand-written {raw:>8.2?}  Notify {notify:>8.2?}  \
             ratio ours/hand-written {}{goal}",
            ratio(ours, raw)
        );
    }
    // Each round trip has two wake-ups (ping and pong).
    let wakeups = (2 * n * BATCHES) as f64;
    println!(
        "read syscalls per wake-up (same runtime, /proc/self/io syscr): AsyncEventFd {:.3}  \
         hand-written {:.3} (goal: exactly 1)",
        reads[0] as f64 / wakeups,
        reads[1] as f64 / wakeups
    );
    println!();
    Ok(())
}

/// Ping-pong batches per kind.
const BATCHES: usize = 10;

// -------------------------------------------------------------- children

fn children(rt: &Runtime, plan: &Plan) -> io::Result<()> {
    println!(
        "== AsyncPidFd vs tokio::process::Child::wait: spawn `true` until its exit is observed"
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    rt.block_on(async {
        for _ in 0..plan.children {
            let t = Instant::now();
            let child = std::process::Command::new("true").spawn()?;
            // Owned, so `wait` reaps, as tokio's does.
            AsyncPidFd::from_owned_child(child)?.wait().await?;
            ours.push(t.elapsed());

            let t = Instant::now();
            tokio::process::Command::new("true").spawn()?.wait().await?;
            theirs.push(t.elapsed());
        }
        io::Result::Ok(())
    })?;
    let (ours, theirs) = (Dist::new(ours), Dist::new(theirs));
    println!("AsyncPidFd            : {}", ours.line());
    println!("tokio::process wait   : {}", theirs.line());
    println!(
        "ratio p50 ours/tokio: {}  (goal <= 1.050x)",
        ratio(ours.at(0.5), theirs.at(0.5))
    );
    Ok(())
}
