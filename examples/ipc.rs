//! Handles across processes: a parent hands a sealed memfd and an eventfd
//! doorbell to a child over a Unix socket, and watches the child through
//! its pidfd.
//!
//! ```sh
//! cargo run --example ipc
//! ```
//!
//! The child is this same program run again with the argument `child`; its
//! end of the socket pair is its standard input.
//!
//! 1. The parent writes a payload into a memfd, seals it against every
//!    change, and sends it with an eventfd over the socket (`iofd::pass`).
//! 2. The child adopts both as typed handles, refuses the memory unless it
//!    is sealed (`require_seals`), maps it and reads it as a plain slice,
//!    then awaits the doorbell with `AsyncEventFd`.
//! 3. The parent rings the doorbell; the child answers through the socket
//!    with a checksum of what it read, and exits.
//! 4. The parent checks the answer and awaits the child's exit through its
//!    pidfd.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};

use iofd::{AsyncEventFd, AsyncPidFd, EventFd, MemFd, Protection, Seals, pass};

/// What the parent shares: 64 KiB of a known pattern.
fn payload() -> Vec<u8> {
    (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect()
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |sum, &b| {
        sum.wrapping_mul(31).wrapping_add(u64::from(b))
    })
}

fn main() -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if std::env::args().nth(1).as_deref() == Some("child") {
        rt.block_on(child())
    } else {
        rt.block_on(parent())
    }
}

async fn parent() -> io::Result<()> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let child = Command::new(std::env::current_exe()?)
        .arg("child")
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .spawn()?;
    // The pidfd takes the child over: its `wait` at the end reaps it.
    let watch = AsyncPidFd::from_owned_child(child)?;

    let shared = MemFd::new_sealable("ipc-frame")?;
    let data = payload();
    shared.write_all_at(&data, 0)?;
    shared.seal(Seals::IMMUTABLE | Seals::GROW | Seals::SEAL)?;
    let doorbell = EventFd::new(0)?;

    ours.set_nonblocking(true)?;
    let socket = tokio::net::UnixStream::from_std(ours)?;
    pass::send_async(&socket, b"frame", &[shared.as_fd(), doorbell.as_fd()]).await?;
    println!(
        "parent: sent a sealed {} KiB memfd and a doorbell",
        data.len() / 1024
    );

    doorbell.signal(1)?;
    let mut answer = [0u8; 64];
    let received = pass::recv_async(&socket, &mut answer).await?;
    let answer = std::str::from_utf8(&answer[..received.len()])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let expected = format!("checksum {:016x}", checksum(&data));
    println!("parent: child answered \"{answer}\"");
    if answer != expected {
        return Err(io::Error::other(format!(
            "the child read something else: expected \"{expected}\""
        )));
    }

    let status = watch.wait().await?; // reaps
    println!("parent: child {} exited: {status}", watch.get_ref().pid());
    if !status.success() {
        return Err(io::Error::other("the child failed"));
    }
    Ok(())
}

async fn child() -> io::Result<()> {
    let socket = std::os::unix::net::UnixStream::from(io::stdin().as_fd().try_clone_to_owned()?);
    socket.set_nonblocking(true)?;
    let socket = tokio::net::UnixStream::from_std(socket)?;

    let mut buf = [0u8; 16];
    let mut received = pass::recv_async(&socket, &mut buf).await?;
    // Refused unless the parent can no longer change it: only then is a
    // plain `&[u8]` view of shared memory sound.
    let shared = received.take::<MemFd>()?.require_seals(Seals::IMMUTABLE)?;
    let doorbell = AsyncEventFd::try_from(received.take::<EventFd>()?)?;
    let len = usize::try_from(shared.size()?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "memfd too large"))?;
    let region = shared.mmap(len, Protection::Read)?;
    let Some(bytes) = region.as_slice() else {
        return Err(io::Error::other("sealed memory should map as a slice"));
    };
    println!(
        "child: got \"{}\", mapped {len} bytes from memfd {:?}",
        String::from_utf8_lossy(&buf[..received.len()]),
        shared.name()
    );

    let rings = doorbell.wait().await?;
    println!("child: doorbell rang ({rings})");
    let answer = format!("checksum {:016x}", checksum(bytes));
    pass::send_async(&socket, answer.as_bytes(), &[]).await?;
    Ok(())
}
