//! A tour of every handle in `iofd`, finishing in well under a second.
//!
//! Run it with `cargo run --example tour`.

use std::io;
use std::time::{Duration, Instant};

use iofd::{EventFd, Fd, TimerFd};

fn main() -> io::Result<()> {
    println!("iofd tour");
    fd_section()?;
    eventfd_section()?;
    timerfd_section()?;
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
