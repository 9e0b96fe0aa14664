//! A small mio event loop driving an eventfd, a timerfd, a signalfd and a
//! pidfd until the child exits.
//!
//! ```sh
//! cargo run --example mio_poll
//! ```

use std::io;
use std::process::Command;
use std::time::{Duration, Instant};

use iofd::{EventFd, PidFd, SigSet, Signal, SignalFd, SignalMaskGuard, TimerFd};
use mio::{Events, Interest, Poll, Token};

const WAKE: Token = Token(0);
const TICK: Token = Token(1);
const SIGNAL: Token = Token(2);
const CHILD: Token = Token(3);

fn main() -> io::Result<()> {
    // Block SIGUSR1 before any thread starts: the worker inherits it.
    let set = SigSet::from(Signal::USR1);
    SignalMaskGuard::block(&set)?.keep();

    let mut poll = Poll::new()?;
    let mut wake = EventFd::new(0)?;
    let mut tick = TimerFd::new()?;
    let mut signals = SignalFd::new(&set)?;
    // The pidfd owns the child: its `try_wait` reaps it at the exit.
    let mut pidfd = PidFd::from_owned_child(Command::new("sleep").arg("0.3").spawn()?)?;
    poll.registry()
        .register(&mut wake, WAKE, Interest::READABLE)?;
    poll.registry()
        .register(&mut tick, TICK, Interest::READABLE)?;
    poll.registry()
        .register(&mut signals, SIGNAL, Interest::READABLE)?;
    poll.registry()
        .register(&mut pidfd, CHILD, Interest::READABLE)?;
    tick.arm(Duration::from_millis(50), Duration::from_millis(50))?;

    // A worker wakes the loop through a clone of the eventfd and sends a
    // signal to the process.
    let worker_wake = wake.try_clone()?;
    let worker = std::thread::spawn(move || -> io::Result<()> {
        for n in 1..=3 {
            std::thread::sleep(Duration::from_millis(40));
            worker_wake.signal(n)?;
        }
        // Process-directed, like kill(2): every thread blocks SIGUSR1, so
        // it waits for the signalfd.
        iofd::send_to_process(Signal::USR1)
    });

    let start = Instant::now();
    let mut events = Events::with_capacity(8);
    let mut ticks = 0;
    'run: loop {
        match poll.poll(&mut events, Some(Duration::from_secs(10))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let at = start.elapsed();
        for event in events.iter() {
            // Edge-triggered: drain each handle until WouldBlock.
            match event.token() {
                WAKE => {
                    while let Some(n) = would_block_is_none(wake.wait())? {
                        println!("{at:>10.1?}  eventfd: woken with {n}");
                    }
                }
                TICK => {
                    while let Some(n) = would_block_is_none(tick.expirations())? {
                        ticks += n;
                        println!("{at:>10.1?}  timerfd: {n} tick(s), {ticks} in all");
                    }
                }
                SIGNAL => {
                    while let Some(info) = would_block_is_none(signals.read_info())? {
                        let name = info.signal().map(|s| s.to_string()).unwrap_or_default();
                        println!("{at:>10.1?}  signalfd: {name} from pid {}", info.pid());
                    }
                }
                CHILD => {
                    if let Some(status) = pidfd.try_wait()? {
                        println!("{at:>10.1?}  pidfd: child {} exited: {status}", pidfd.pid());
                        break 'run;
                    }
                }
                _ => {}
            }
        }
    }
    worker
        .join()
        .map_err(|_| io::Error::other("worker panicked"))??;
    println!("done after {:.1?} and {ticks} ticks", start.elapsed());
    Ok(())
}

/// `Ok(None)` for `WouldBlock`: the handle is drained.
fn would_block_is_none<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}
