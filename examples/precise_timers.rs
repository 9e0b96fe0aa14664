//! Thousands of 250 µs intervals on one timerfd with `iofd::time`.
//!
//! ```sh
//! cargo run --release --example precise_timers
//! ```
//!
//! 2 000 tasks on a 2-worker tokio runtime each tick every 250 µs for one
//! second. It prints how many periods were counted against how many were
//! due (none may be lost), how late the ticks came, the CPU used and the
//! descriptors opened: one, however many timers. On a 2-core machine this
//! load (8 million periods a second) keeps both workers busy, so ticks come
//! late and carry missed counts; every period is still counted. One run on
//! one machine, not a benchmark (see `benches/timers.rs` for that).

use std::io;
use std::time::{Duration, Instant};

use iofd::time::{MissedTickBehavior, Timers};

const TASKS: usize = 2_000;
const PERIOD: Duration = Duration::from_micros(250);
const RUN: Duration = Duration::from_secs(1);

fn main() -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let fds_before = open_fds();
    let cpu_before = process_cpu();
    let (periods, mut lateness, descriptors) = rt.block_on(async {
        let timers = Timers::new()?;
        let start = Instant::now() + Duration::from_millis(20);
        let end = start + RUN;
        let mut tasks = Vec::with_capacity(TASKS);
        for _ in 0..TASKS {
            let mut interval = timers.interval_at(start, PERIOD)?;
            // One tick for all the periods a late task missed.
            interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
            tasks.push(tokio::spawn(async move {
                let mut periods = 0u64;
                let mut lateness = Vec::with_capacity(4_100);
                loop {
                    let (deadline, missed) = interval.tick_with_missed().await;
                    if deadline >= end {
                        break;
                    }
                    // This tick stands for 1 + missed periods; count
                    // those due before the end.
                    let before_end = (end - deadline).as_nanos().div_ceil(PERIOD.as_nanos());
                    periods += (1 + missed).min(before_end as u64);
                    lateness.push(Instant::now() - deadline);
                }
                (periods, lateness)
            }));
        }
        let descriptors = open_fds() - fds_before;
        let mut periods = 0;
        let mut lateness = Vec::new();
        for task in tasks {
            let (p, l) = task.await.map_err(io::Error::other)?;
            periods += p;
            lateness.extend(l);
        }
        Ok::<_, io::Error>((periods, lateness, descriptors))
    })?;
    let cpu = process_cpu() - cpu_before;
    let due = TASKS as u64 * (RUN.as_nanos() / PERIOD.as_nanos()) as u64;
    lateness.sort();
    let at = |q: f64| lateness[((lateness.len() - 1) as f64 * q) as usize];
    println!("{TASKS} intervals of {PERIOD:?} for {RUN:?}, on {descriptors} descriptor(s)");
    println!("periods counted {periods} of {due} due");
    println!(
        "tick lateness: p50 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    println!(
        "CPU {:.0} % of one core (2 workers: 200 % is both)",
        cpu.as_secs_f64() / RUN.as_secs_f64() * 100.0
    );
    if periods != due {
        return Err(io::Error::other("a period was lost"));
    }
    Ok(())
}

/// CPU time (user + system) of the whole process.
fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}
