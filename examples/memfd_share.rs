//! Seal a buffer in a memfd and hand it to a child process, which maps it
//! and reads it as a plain `&[u8]` — safe because the seals guarantee that
//! nobody can change or shrink it.
//!
//! ```sh
//! cargo run --example memfd_share
//! ```

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Command;

use iofd::{Fd, MemFd, Protection, Seals};

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--child") {
        let fd: i32 = args
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "--child needs an fd"))?;
        return child(fd);
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

    // Pass exactly one descriptor: a clone with close-on-exec cleared.
    let passed = Fd::from(OwnedFd::from(memfd.try_clone()?));
    passed.set_cloexec(false)?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&passed);
    let status = Command::new(std::env::current_exe()?)
        .args(["--child", &fd.to_string()])
        .status()?;
    println!("parent: child finished: {status}");
    Ok(())
}

fn child(fd: i32) -> io::Result<()> {
    // SAFETY: the parent passed this descriptor to us on purpose; nothing
    // else in this process owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
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
