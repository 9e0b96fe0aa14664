//! Await several children at once through `AsyncPidFd`s that own them,
//! with a deadline that kills the slow one. Each is reaped by its pidfd:
//! when this returns, no zombie and no orphan is left.
//!
//! ```sh
//! cargo run --example child_exit_async
//! ```

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use iofd::{AsyncPidFd, Signal};

fn main() -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let start = Instant::now();
        let mut waits = Vec::new();
        for (script, name) in [
            ("exit 0", "quick success"),
            ("sleep 0.1; exit 3", "fails after 100 ms"),
            // `exec`: the shell becomes the sleep, so the kill reaches the
            // process that would hold our stdout, and no orphan is left.
            ("exec sleep 60", "too slow: killed at the deadline"),
        ] {
            let child = Command::new("sh").args(["-c", script]).spawn()?;
            // Owned: the pidfd's `wait` reaps the child.
            let pidfd = AsyncPidFd::from_owned_child(child)?;
            println!("spawned pid {} ({name})", pidfd.get_ref().pid());
            waits.push(tokio::spawn(async move {
                let status =
                    match tokio::time::timeout(Duration::from_millis(300), pidfd.wait()).await {
                        Ok(status) => status?,
                        Err(_deadline) => {
                            pidfd.get_ref().send_signal(Signal::KILL)?;
                            pidfd.wait().await?
                        }
                    };
                io::Result::Ok((name, pidfd.get_ref().pid(), status))
            }));
        }
        for wait in waits {
            let (name, pid, status) = wait.await.map_err(io::Error::other)??;
            let how = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(signo)) => format!("killed by {}", Signal::new(signo)?),
                _ => status.to_string(),
            };
            println!("{:>8.1?}  pid {pid} ({name}): {how}", start.elapsed());
        }
        Ok(())
    })
}
