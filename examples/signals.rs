//! Read SIGUSR1, SIGTERM and SIGINT through a `SignalFd` in a plain loop,
//! printing who sent each signal and the `sigqueue` value.
//!
//! ```sh
//! cargo run --example signals            # then: kill -USR1 <pid>, Ctrl-C to stop
//! cargo run --example signals -- --demo  # sends itself a few signals and stops
//! ```

use std::io;
use std::process::Command;

use iofd::{SigSet, Signal, SignalCode, SignalFd, SignalMaskGuard, reset_signal_mask_on_exec};
use rustix::event::{PollFd, PollFlags, poll};

fn main() -> io::Result<()> {
    let set: SigSet = [Signal::USR1, Signal::TERM, Signal::INT]
        .into_iter()
        .collect();
    // Block first, while this is the only thread; keep it blocked for good.
    SignalMaskGuard::block(&set)?.keep();
    iofd::ensure_blocked_in_all_threads(&set)?;
    let signals = SignalFd::new(&set)?;

    let pid = std::process::id();
    println!("pid {pid}: waiting for SIGUSR1, SIGTERM or SIGINT");
    let sender = if std::env::args().any(|a| a == "--demo") {
        // The sender thread inherits the blocked mask from this one.
        Some(std::thread::spawn(move || {
            if let Err(e) = demo(pid) {
                eprintln!("demo sender failed: {e}");
            }
        }))
    } else {
        println!("try: kill -USR1 {pid}; kill -TERM {pid} (or Ctrl-C) stops");
        None
    };
    receive(&signals)?;
    // The sender reaps the `kill` it started: let it finish before exiting.
    if let Some(sender) = sender {
        sender
            .join()
            .map_err(|_| io::Error::other("the demo sender panicked"))?;
    }
    Ok(())
}

/// Prints each signal until one other than SIGUSR1 arrives.
fn receive(signals: &SignalFd) -> io::Result<()> {
    loop {
        // Sleep until the signalfd is readable, then drain it.
        let mut fds = [PollFd::new(signals, PollFlags::IN)];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        loop {
            let info = match signals.read_info() {
                Ok(info) => info,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            };
            let Some(signal) = info.signal() else {
                continue;
            };
            match info.code() {
                SignalCode::Queue => println!(
                    "{signal} from pid {} (uid {}) with value {}",
                    info.pid(),
                    info.uid(),
                    info.value_int()
                ),
                code => println!(
                    "{signal} from pid {} (uid {}), {code:?}",
                    info.pid(),
                    info.uid()
                ),
            }
            if signal != Signal::USR1 {
                println!("stopping on {signal}");
                return Ok(());
            }
        }
    }
}

/// Sends ourselves signals from other processes and with a value, pausing
/// between them: a standard signal sent while the same one is still pending
/// would coalesce with it.
fn demo(pid: u32) -> io::Result<()> {
    let pause = || std::thread::sleep(std::time::Duration::from_millis(200));
    for args in [["-USR1", &pid.to_string()], ["-TERM", &pid.to_string()]] {
        let mut kill = Command::new("kill");
        kill.args(args);
        // The child would inherit our blocked mask without this.
        reset_signal_mask_on_exec(&mut kill);
        let mut child = kill.spawn()?;
        println!("spawned `kill {}` as pid {}", args.join(" "), child.id());
        child.wait()?;
        pause();
        if args[0] == "-USR1" {
            // As sigqueue(3), to this process: every thread blocks SIGUSR1,
            // so it is queued for the signalfd.
            iofd::queue_to_process(Signal::USR1, 42)?;
            println!("queued SIGUSR1 with value 42 from this process");
            pause();
        }
    }
    Ok(())
}
