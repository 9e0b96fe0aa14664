//! Spawn, signal and reap a child through a `PidFd`.
//!
//! ```sh
//! cargo run --example child_exit
//! ```

#![allow(
    clippy::zombie_processes,
    reason = "children are reaped through their PidFd, which clippy cannot see"
)]

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use iofd::{PidFd, Signal};

fn main() -> io::Result<()> {
    // A child that would run for a minute.
    let child = Command::new("sleep").arg("60").spawn()?;
    // Open the pidfd before anything reaps the child: race-free.
    let pidfd = PidFd::from_child(&child)?;
    println!("spawned `sleep 60` as pid {}", pidfd.pid());
    println!("running? {}", pidfd.try_wait()?.is_none());

    pidfd.send_signal(Signal::TERM)?;
    println!("sent {} through the pidfd", Signal::TERM);
    let status = pidfd.wait()?;
    match (status.code(), status.signal()) {
        (Some(code), _) => println!("exited with code {code}"),
        (None, Some(signo)) => println!("terminated by {}", Signal::new(signo)?),
        _ => println!("ended: {status}"),
    }

    // A second child that exits by itself with a code.
    let child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
    let pidfd = PidFd::from_child(&child)?;
    println!(
        "`sh -c 'exit 3'` (pid {}) -> {:?}",
        pidfd.pid(),
        pidfd.wait()?.code()
    );

    // Signalling it now reaches no other process, even if the pid were
    // reused: the pidfd still names the dead child.
    match pidfd.send_signal(Signal::TERM) {
        Err(e) if iofd::errno(&e) == Some(libc::ESRCH) => {
            println!("signal after reaping: ESRCH, as expected")
        }
        other => println!("signal after reaping: {other:?}"),
    }
    Ok(())
}
