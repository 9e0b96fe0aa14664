//! A small process supervisor on pidfds: no pid is ever used after its
//! process could have been reaped.
//!
//! ```sh
//! cargo run --example supervisor
//! ```
//!
//! It spawns three workers with `tokio::process`, asks each to stop with
//! SIGTERM carrying a value (`send_signal_value`), awaits whichever stops
//! next through one `PidFdSet`, escalates to SIGKILL when one ignores
//! SIGTERM past a deadline, and prints every exit status. It also watches a process that is not its child — an orphaned
//! grandchild — through `AsyncPidFd::exit_status`.
//!
//! `AsyncPidFd::from_tokio_child(&child)` opens an observing pidfd for a
//! `tokio::process::Child`, race-free while tokio owns the reaping; from
//! then on, signal and watch through the pidfd, and let tokio reap.
//!
//! As a child subreaper, it also adopts the orphans of its descendants,
//! and reaps them at the end: no process is left behind.

use std::io::{self, BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use iofd::{AsyncPidFd, AsyncSignalFd, PidFd, PidFdSet, SigSet, Signal, SignalMaskGuard};

/// How long a worker may take to stop before it is killed.
const GRACE: Duration = Duration::from_millis(500);

fn main() -> io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("worker") {
        return worker();
    }
    // Orphaned descendants come to this process, as to systemd or a job
    // runner, instead of to a PID 1 that may never reap them.
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(supervise())?;
    // What a subreaper adopts is its to reap: here the `sleep` the stubborn
    // shell was running when SIGKILL took it. Every child started above
    // is reaped by now, so nothing else can be waited for.
    let adopted = reap_adopted()?;
    println!("supervisor: reaped {adopted} adopted orphan(s); no process left behind");
    Ok(())
}

/// Waits for every remaining child (orphans adopted as the subreaper) and
/// reaps it; returns how many there were.
fn reap_adopted() -> io::Result<usize> {
    use rustix::process::{WaitId, WaitIdOptions, waitid};
    let mut reaped = 0;
    loop {
        match waitid(WaitId::All, WaitIdOptions::EXITED) {
            Ok(_) => reaped += 1,
            Err(rustix::io::Errno::CHILD) => return Ok(reaped),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// One supervised child: its tokio handle (which reaps) and its pidfd
/// (which signals and observes).
struct Worker {
    name: &'static str,
    child: tokio::process::Child,
    pidfd: AsyncPidFd,
}

/// Spawns `command` and waits for the `ready` line it prints once it can
/// take signals.
async fn spawn(name: &'static str, command: &mut tokio::process::Command) -> io::Result<Worker> {
    use tokio::io::AsyncBufReadExt;
    let mut child = command.stdout(Stdio::piped()).spawn()?;
    // Observes only: tokio stays the one that reaps.
    let pidfd = AsyncPidFd::from_tokio_child(&child)?;
    let pid = pidfd.get_ref().pid();
    let mut ready = String::new();
    if let Some(out) = child.stdout.take() {
        tokio::io::BufReader::new(out).read_line(&mut ready).await?;
    }
    if ready.trim() != "ready" {
        return Err(io::Error::other(format!("{name} did not start")));
    }
    println!("supervisor: started {name} as pid {pid}");
    Ok(Worker { name, child, pidfd })
}

async fn supervise() -> io::Result<()> {
    let me = std::env::current_exe()?;
    let mut workers = vec![
        spawn("worker-a", tokio::process::Command::new(&me).arg("worker")).await?,
        spawn("worker-b", tokio::process::Command::new(&me).arg("worker")).await?,
        spawn(
            "stubborn",
            tokio::process::Command::new("sh").args([
                "-c",
                "trap '' TERM; echo ready; while :; do sleep 0.05; done",
            ]),
        )
        .await?,
    ];

    let orphan = watch_an_orphan()?;

    for (value, worker) in (10..).zip(workers.iter_mut()) {
        worker.pidfd.send_signal_value(Signal::TERM, value)?;
        println!("supervisor: SIGTERM with value {value} to {}", worker.name);
    }
    // Whichever stops next, with no task per worker: one PidFdSet.
    let mut exits = PidFdSet::new()?;
    for (index, worker) in workers.iter().enumerate() {
        exits.insert(index, worker.pidfd.get_ref().try_clone()?)?;
    }
    let deadline = tokio::time::Instant::now() + GRACE;
    let mut escalated = false;
    loop {
        let next = if escalated {
            exits.next_exit().await
        } else {
            match tokio::time::timeout_at(deadline, exits.next_exit()).await {
                Ok(next) => next,
                Err(_deadline) => {
                    // Still in the set: those that ignored SIGTERM.
                    for worker in &workers {
                        if worker.pidfd.get_ref().try_wait()?.is_none() {
                            println!(
                                "supervisor: {} ignored SIGTERM for {GRACE:?}: SIGKILL",
                                worker.name
                            );
                            worker.pidfd.send_signal(Signal::KILL)?;
                        }
                    }
                    escalated = true;
                    continue;
                }
            }
        };
        let Some((index, observed)) = next else {
            break; // every worker has ended
        };
        let worker = &mut workers[index];
        let status = worker.child.wait().await?; // tokio reaps
        if observed? != status {
            return Err(io::Error::other("the pidfd saw another status than tokio"));
        }
        println!("supervisor: {} ended: {status}", worker.name);
    }

    let status = orphan.exit_status().await?;
    println!(
        "supervisor: orphan {} (not started by us) ended: {status}",
        orphan.get_ref().pid()
    );
    Ok(())
}

/// Starts a shell that starts a grandchild and exits at once; returns a
/// pidfd for the grandchild, which was never this process's child when
/// the pidfd was opened.
fn watch_an_orphan() -> io::Result<AsyncPidFd> {
    let mut shell = std::process::Command::new("sh")
        .args(["-c", "(sleep 0.3; exit 4) & echo $!"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    if let Some(out) = shell.stdout.take() {
        BufReader::new(out).read_line(&mut line)?;
    }
    let pid: i32 = line
        .trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    // The grandchild cannot be reaped before this: its parent does not
    // reap it, and once orphaned it comes to us (the subreaper), and only
    // we reap it. So the pid still names it.
    let pidfd = AsyncPidFd::try_from(PidFd::open(pid)?)?;
    shell.wait()?;
    println!("supervisor: watching orphan {pid}");
    Ok(pidfd)
}

/// A worker: waits for SIGTERM and exits with the value that came with it.
fn worker() -> io::Result<()> {
    let set = SigSet::from(Signal::TERM);
    SignalMaskGuard::block(&set)?.keep();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let mut signals = AsyncSignalFd::new(&set)?;
            println!("ready");
            let info = signals.recv().await?;
            let pid = std::process::id();
            eprintln!(
                "  worker {pid}: SIGTERM from pid {} (uid {}) with value {}: stopping",
                info.pid(),
                info.uid(),
                info.value_int()
            );
            std::process::exit(info.value_int());
        })
}
