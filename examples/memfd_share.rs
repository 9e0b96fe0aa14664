//! Seal a buffer in a memfd and hand it to a child process, which maps it
//! and reads it as a plain `&[u8]` — safe because the seals guarantee that
//! nobody can change or shrink it.
//!
//! ```sh
//! cargo run --example memfd_share
//! ```

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};

use iofd::{MemFd, Protection, Seals};

fn main() -> io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--child") {
        return child();
    }

    let message = b"configuration v42: sealed, so nobody can change it under you";
    let memfd = MemFd::new_sealable("shared-config")?;
    memfd.write_all_at(message, 0)?;
    memfd.seal(Seals::WRITE | Seals::SHRINK | Seals::GROW | Seals::SEAL)?;
    println!(
        "parent: wrote {} bytes, seals {:?}",
        message.len(),
        memfd.seals()?
    );

    // Pass exactly one descriptor, as the child's stdin: `Command` installs
    // it there for the child only (every other one of ours is
    // close-on-exec).
    let status = Command::new(std::env::current_exe()?)
        .arg("--child")
        .stdin(Stdio::from(OwnedFd::from(memfd.try_clone()?)))
        .status()?;
    println!("parent: child finished: {status}");
    Ok(())
}

fn child() -> io::Result<()> {
    // Our stdin is the memfd: take an owned copy of it, then check that it
    // is one (`TryFrom<OwnedFd>` refuses anything else).
    let owned = io::stdin().as_fd().try_clone_to_owned()?;
    let memfd = MemFd::try_from(owned)?;
    let seals = memfd.seals()?;
    let len = usize::try_from(memfd.size()?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "too large"))?;
    let region = memfd.mmap(len, Protection::Read)?;
    let bytes = region.as_slice().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the parent did not seal the memfd",
        )
    })?;
    println!(
        "child:  got memfd {:?} ({len} bytes, seals {seals:?}): {:?}",
        memfd.name(),
        String::from_utf8_lossy(bytes)
    );
    // Trying to change it fails: the seal is enforced by the kernel.
    let err = memfd.write_at(b"tamper", 0).unwrap_err();
    println!("child:  write attempt -> {err}");
    Ok(())
}
