//! Spawn, signal and reap a child through a `PidFd` that owns it.
//!
//! ```sh
//! cargo run --example child_exit
//! ```
//!
//! `PidFd::from_owned_child` takes the `std::process::Child` by value: the
//! pidfd is then the only handle on the child, and its `wait` reaps it, so
//! no zombie is left and no pid can be signalled after it was reused.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use iofd::{PidFd, Signal};

fn main() -> io::Result<()> {
    // A child that would run for a minute.
    let child = Command::new("sleep").arg("60").spawn()?;
    // The pidfd takes the child over: it is the one that reaps it.
    let pidfd = PidFd::from_owned_child(child)?;
    println!("spawned `sleep 60` as pid {}", pidfd.pid());
    println!("running? {}", pidfd.try_wait()?.is_none());

    pidfd.send_signal(Signal::TERM)?;
    println!("sent {} through the pidfd", Signal::TERM);
    let status = pidfd.wait()?; // reaps
    match (status.code(), status.signal()) {
        (Some(code), _) => println!("exited with code {code}"),
        (None, Some(signo)) => println!("terminated by {}", Signal::new(signo)?),
        _ => println!("ended: {status}"),
    }

    // A second child that exits by itself with a code.
    let pidfd = PidFd::from_owned_child(Command::new("sh").args(["-c", "exit 3"]).spawn()?)?;
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
