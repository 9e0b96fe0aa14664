//! A tour of every handle in `iofd`, synchronous, with mio and with tokio,
//! finishing in about a second.
//!
//! Run it with `cargo run --example tour`.

use std::io;
use std::time::{Duration, Instant};

use iofd::{
    EventFd, Fd, MemFd, PidFd, Protection, Seals, SigSet, Signal, SignalFd, SignalInfo,
    SignalMaskGuard, TimerFd,
};

fn main() -> io::Result<()> {
    println!("iofd tour");
    fd_section()?;
    eventfd_section()?;
    timerfd_section()?;
    signalfd_section()?;
    pidfd_section()?;
    memfd_section()?;
    #[cfg(feature = "mio")]
    mio_section()?;
    #[cfg(feature = "tokio")]
    tokio_section()?;
    println!("tour finished");
    Ok(())
}

fn fd_section() -> io::Result<()> {
    let (reader, writer) = io::pipe()?;
    let reader = Fd::from(std::os::fd::OwnedFd::from(reader));
    let writer = Fd::from(std::os::fd::OwnedFd::from(writer));
    reader.set_nonblocking(true)?;
    writer.write(b"hello through a pipe")?;
    let mut buf = [0u8; 64];
    let n = reader.read(&mut buf)?;
    let copy = writer.try_clone()?;
    println!(
        "Fd:      read {:?}; nonblocking={}, close-on-exec={}; a clone is close-on-exec: {}",
        String::from_utf8_lossy(&buf[..n]),
        reader.is_nonblocking()?,
        reader.is_cloexec()?,
        copy.is_cloexec()?,
    );
    copy.close()?;
    writer.close()?;
    Ok(())
}

fn eventfd_section() -> io::Result<()> {
    let counter = EventFd::new(0)?;
    counter.signal(5)?;
    counter.signal(3)?;
    let total = counter.wait()?;
    let empty = counter.wait().unwrap_err().kind();
    let semaphore = EventFd::new_semaphore(3)?;
    let permits: Vec<u64> = (0..3)
        .map(|_| semaphore.wait())
        .collect::<io::Result<_>>()?;
    println!(
        "EventFd: 5 + 3 read back as {total}, then {empty:?}; semaphore of 3 gave {permits:?}"
    );
    Ok(())
}

fn timerfd_section() -> io::Result<()> {
    let timer = TimerFd::new()?;
    let period = Duration::from_millis(1);
    let start = Instant::now();
    timer.arm(period, period)?;
    std::thread::sleep(Duration::from_millis(25));
    let ticks = timer.expirations()?;
    let elapsed = start.elapsed();
    let (remaining, interval) = timer.get_time()?;
    timer.disarm()?;
    println!(
        "TimerFd: {ticks} ticks of {period:?} counted in {elapsed:.1?} (none lost while we slept); \
         next in {remaining:?}, every {interval:?}; disarmed"
    );
    Ok(())
}

fn signalfd_section() -> io::Result<()> {
    // Only the main thread exists here, so blocking on it is enough; the
    // guard restores the mask when the section ends.
    let rt = Signal::rt(0)?;
    let set = SigSet::from(Signal::USR1).with(rt);
    let _blocked = SignalMaskGuard::block(&set)?;
    iofd::ensure_blocked_in_all_threads(&set)?;
    let signals = SignalFd::new(&set)?;
    // Signal this process: a value with each real-time signal (as sigqueue
    // does), then SIGUSR1 twice (as kill). This (only) thread blocks both,
    // so they queue for the signalfd.
    for value in [10, 20, 30] {
        iofd::queue_to_process(rt, value)?;
    }
    for _ in 0..2 {
        iofd::send_to_process(Signal::USR1)?;
    }
    let mut batch = [SignalInfo::default(); 8];
    let n = signals.read_batch(&mut batch)?;
    let read: Vec<String> = batch[..n]
        .iter()
        .map(|info| match info.signal() {
            Some(s) if s == rt => format!("{s}={}", info.value_int()),
            Some(s) => s.to_string(),
            None => "?".into(),
        })
        .collect();
    println!(
        "SignalFd: one read gave {n} records [{}] from pid {}: \
         SIGUSR1 sent twice coalesced, real-time signals queued with values",
        read.join(", "),
        batch[0].pid()
    );
    Ok(())
}

fn pidfd_section() -> io::Result<()> {
    // The pidfd owns each child (taken by value) and reaps it in `wait`.
    let child = std::process::Command::new("sleep").arg("30").spawn()?;
    let pidfd = PidFd::from_owned_child(child)?;
    let running = pidfd.try_wait()?.is_none();
    pidfd.send_signal(Signal::TERM)?;
    let status = pidfd.wait()?;
    let exit = std::process::Command::new("sh")
        .args(["-c", "exit 3"])
        .spawn()?;
    let code = PidFd::from_owned_child(exit)?.wait()?.code();
    println!(
        "PidFd:   `sleep 30` (pid {}) running={running}, sent SIGTERM -> {status}; `exit 3` -> code {code:?}",
        pidfd.pid()
    );
    Ok(())
}

fn memfd_section() -> io::Result<()> {
    let memfd = MemFd::new_sealable("tour")?;
    memfd.write_all_at(b"sealed bytes", 0)?;
    memfd.seal(Seals::WRITE | Seals::SHRINK | Seals::GROW | Seals::SEAL)?;
    let region = memfd.mmap(12, Protection::Read)?;
    let text = region
        .as_slice()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let refused = memfd.write_at(b"x", 0).unwrap_err();
    println!(
        "MemFd:   mapped {:?} as a safe slice (seals {:?}); a write is refused: {refused}",
        text,
        memfd.seals()?
    );
    Ok(())
}

#[cfg(feature = "mio")]
fn mio_section() -> io::Result<()> {
    use mio::{Events, Interest, Poll, Token};

    let mut poll = Poll::new()?;
    let mut wake = EventFd::new(0)?;
    let mut timer = TimerFd::new()?;
    poll.registry()
        .register(&mut wake, Token(0), Interest::READABLE)?;
    poll.registry()
        .register(&mut timer, Token(1), Interest::READABLE)?;
    timer.arm(Duration::from_millis(2), Duration::ZERO)?;
    wake.signal(1)?;
    let mut seen = Vec::new();
    let mut events = Events::with_capacity(4);
    while seen.len() < 2 {
        poll.poll(&mut events, Some(Duration::from_secs(5)))?;
        if events.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "mio saw nothing in 5 s",
            ));
        }
        for event in events.iter() {
            match event.token() {
                Token(0) => seen.push(format!("eventfd={}", wake.wait()?)),
                _ => seen.push(format!("timerfd={}", timer.expirations()?)),
            }
        }
    }
    println!("mio:     one Poll reported [{}]", seen.join(", "));
    Ok(())
}

#[cfg(feature = "tokio")]
fn tokio_section() -> io::Result<()> {
    use std::sync::Arc;

    use iofd::{AsyncEventFd, AsyncPidFd, AsyncSignalFd, AsyncTimerFd};

    // Block before the runtime exists (a current_thread runtime here: this
    // thread is its only one).
    let rt_signal = Signal::rt(2)?;
    let set = SigSet::from(rt_signal);
    let _blocked = SignalMaskGuard::block(&set)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // AsyncTimerFd: sub-millisecond ticks, every one counted.
        let period = Duration::from_micros(250);
        let start = Instant::now();
        let timer = AsyncTimerFd::interval(period)?;
        let (mut ticks, mut wakeups) = (0, 0);
        while ticks < 400 {
            ticks += timer.expirations().await?;
            wakeups += 1;
        }
        println!(
            "tokio:   AsyncTimerFd counted {ticks} ticks of {period:?} in {:.1?} ({wakeups} wake-ups)",
            start.elapsed()
        );

        // AsyncEventFd: ping-pong between two tasks.
        let (ping, pong) = (Arc::new(AsyncEventFd::new(0)?), Arc::new(AsyncEventFd::new(0)?));
        let rounds = 1000;
        let responder = tokio::spawn({
            let (ping, pong) = (ping.clone(), pong.clone());
            async move {
                for _ in 0..rounds {
                    let n = ping.wait().await?;
                    pong.signal(n).await?;
                }
                io::Result::Ok(())
            }
        });
        let start = Instant::now();
        for round in 1..=rounds {
            ping.signal(round).await?;
            pong.wait().await?;
        }
        responder.await.map_err(io::Error::other)??;
        println!(
            "tokio:   AsyncEventFd ping-pong: {rounds} round trips, {:.1?} each",
            start.elapsed() / rounds as u32
        );

        // AsyncSignalFd: queued real-time signals with values, in order.
        let mut signals = AsyncSignalFd::new(&set)?;
        for value in 1..=5 {
            iofd::queue_to_process(rt_signal, value)?;
        }
        let mut values = Vec::new();
        for _ in 0..5 {
            values.push(signals.recv().await?.value_int());
        }
        println!("tokio:   AsyncSignalFd received {rt_signal} with values {values:?}");

        // AsyncPidFd: await a child's exit; owning it, it reaps it.
        let child = std::process::Command::new("sh").args(["-c", "exit 7"]).spawn()?;
        let status = AsyncPidFd::from_owned_child(child)?.wait().await?;
        println!("tokio:   AsyncPidFd awaited `exit 7` -> {status}");
        Ok(())
    })
}
