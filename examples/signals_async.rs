//! Graceful shutdown on SIGTERM or SIGINT with an `AsyncSignalFd` on a
//! multi-threaded tokio runtime, printing who sent the signal.
//!
//! ```sh
//! cargo run --example signals_async            # then: kill -TERM <pid>, or Ctrl-C
//! cargo run --example signals_async -- --demo  # a child process sends SIGTERM
//! ```
//!
//! The signals are blocked in `main` *before* the runtime is built, so every
//! worker thread inherits the block and none can steal a signal from the
//! signalfd. (`#[tokio::main]` would start the workers first.)

use std::io;
use std::process::Command;
use std::time::Duration;

use iofd::{AsyncSignalFd, SigSet, Signal, SignalMaskGuard, reset_signal_mask_on_exec};

fn main() -> io::Result<()> {
    let shutdown: SigSet = [Signal::TERM, Signal::INT].into_iter().collect();
    SignalMaskGuard::block(&shutdown)?.keep();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        // Refuses with a clear error if some thread does not block the set.
        let mut signals = AsyncSignalFd::new(&shutdown)?;
        let pid = std::process::id();
        println!("pid {pid}: working; SIGTERM or SIGINT stops gracefully");

        if std::env::args().any(|a| a == "--demo") {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let mut kill = Command::new("kill");
                kill.args(["-TERM", &pid.to_string()]);
                // Children would inherit the blocked mask without this.
                reset_signal_mask_on_exec(&mut kill);
                match kill.spawn().and_then(|mut c| c.wait()) {
                    Ok(status) => println!("demo: `kill -TERM {pid}` ran ({status})"),
                    Err(e) => eprintln!("demo: could not run kill: {e}"),
                }
            });
        }

        let mut work = tokio::time::interval(Duration::from_millis(100));
        let mut done = 0u32;
        loop {
            tokio::select! {
                _ = work.tick() => {
                    done += 1;
                    println!("working... ({done} units done)");
                }
                info = signals.recv() => {
                    let info = info?;
                    let name = info.signal().map(|s| s.to_string()).unwrap_or_default();
                    println!("{name} from pid {} (uid {}): shutting down", info.pid(), info.uid());
                    break;
                }
            }
        }
        println!("finished cleanly after {done} units");
        Ok(())
    })
}
