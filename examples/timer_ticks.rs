//! A 100 µs `AsyncTimerFd` beside `tokio::time::interval`, printing how late
//! the ticks come for each and whether any were lost.
//!
//! ```sh
//! cargo run --release --example timer_ticks
//! ```
//!
//! One run on one machine, not a benchmark: lateness depends on the load.

use std::io;
use std::time::{Duration, Instant};

use iofd::AsyncTimerFd;
use tokio::time::MissedTickBehavior;
use tokio_stream::StreamExt;

const PERIOD: Duration = Duration::from_micros(100);
const RUN: Duration = Duration::from_millis(500);

fn main() -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let (late, counted, expected) = timerfd_run().await?;
        report("AsyncTimerFd", late, counted, expected);
        let (late, counted, expected) = tokio_interval_run().await;
        report("tokio::time::interval", late, counted, expected);
        Ok(())
    })
}

/// Lateness of each wake-up after its due time, ticks counted, ticks due.
async fn timerfd_run() -> io::Result<(Vec<Duration>, u64, u64)> {
    let start = Instant::now();
    // A `Stream` of expiration counts; `next` comes from
    // `tokio_stream::StreamExt` (or `futures::StreamExt`).
    let mut ticks = AsyncTimerFd::interval(PERIOD)?;
    let mut late = Vec::new();
    let mut counted = 0u64;
    while start.elapsed() < RUN {
        let Some(expired) = ticks.next().await else {
            break; // the runtime shut down
        };
        counted += expired?;
        // The latest tick was due at start + counted * PERIOD.
        let due = start + PERIOD * counted as u32;
        late.push(Instant::now().saturating_duration_since(due));
    }
    let expected = (start.elapsed().as_nanos() / PERIOD.as_nanos()) as u64;
    Ok((late, counted, expected))
}

async fn tokio_interval_run() -> (Vec<Duration>, u64, u64) {
    let start = Instant::now();
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + PERIOD, PERIOD);
    // Burst is tokio's default: missed ticks fire back to back, so every
    // tick is still observed (late).
    interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut late = Vec::new();
    let mut counted = 0u64;
    while start.elapsed() < RUN {
        let due = interval.tick().await;
        counted += 1;
        late.push(tokio::time::Instant::now().saturating_duration_since(due));
    }
    let expected = (start.elapsed().as_nanos() / PERIOD.as_nanos()) as u64;
    (late, counted, expected)
}

fn report(name: &str, mut late: Vec<Duration>, counted: u64, expected: u64) {
    late.sort();
    let at = |q: f64| late[((late.len() - 1) as f64 * q) as usize];
    println!(
        "{name:>22}: {PERIOD:?} period for {RUN:?}: late p50 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}; \
         ticks counted {counted} of {expected} due ({} wake-ups)",
        at(0.50),
        at(0.99),
        at(1.0),
        late.len(),
    );
}
