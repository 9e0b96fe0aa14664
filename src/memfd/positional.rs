//! Reads and writes at an offset through a memfd's descriptor, whatever
//! flags its open file description carries.
//!
//! `pwrite(2)` ignores its offset when the open file description is in
//! append mode (`O_APPEND`) and writes at the end of the file instead. That
//! flag belongs to the description, which every duplicate shares, in any
//! process: the sender of a received memfd, or any safe code holding a
//! duplicate (`fcntl_setfl`), can set it at any moment. So a check of the
//! flag before `pwrite` is a race. Linux 6.9 has `pwritev2(RWF_NOAPPEND)`,
//! which writes at the offset whatever the flag; before it, the write goes
//! through a private open file description of the same file (a reopen of
//! `/proc/thread-self/fd/N`), on which nobody else can set the flag.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

/// `RWF_NOAPPEND` (Linux 6.9): ignore `O_APPEND` for this write.
#[cfg(not(target_os = "android"))]
const RWF_NOAPPEND: u32 = 0x20;

/// Writes `buf` at `offset` of `fd`'s file and nowhere else; returns how
/// many bytes were written.
pub(super) fn write_at(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> io::Result<usize> {
    #[cfg(not(target_os = "android"))]
    {
        let flags = rustix::io::ReadWriteFlags::from_bits_retain(RWF_NOAPPEND);
        match rustix::io::pwritev2(fd, &[io::IoSlice::new(buf)], offset, flags) {
            // Unknown flag (before 6.9) or no pwritev2 (before 4.6).
            Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {}
            result => return Ok(result?),
        }
    }
    let private = reopen(fd)?;
    Ok(rustix::io::pwrite(&private, buf, offset)?)
}

/// Writes all of `buf` at `offset` of `fd`'s file, retrying short writes.
pub(super) fn write_all_at(fd: BorrowedFd<'_>, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = write_at(fd, buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
        offset += n as u64;
    }
    Ok(())
}

/// Reads into all of `buf` from `offset` through `fd`, stopping early only
/// at the end of the file; returns how many bytes were read.
pub(super) fn read_full_at(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::pread(fd, &mut buf[done..], offset + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

/// A new open file description of `fd`'s file, read-write, without
/// `O_APPEND`, that nobody else holds.
#[cold]
fn reopen(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let path = format!("/proc/thread-self/fd/{}", fd.as_fd().as_raw_fd());
    rustix::fs::open(path.as_str(), OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).map_err(
        |errno| {
            io::Error::new(
                io::Error::from(errno).kind(),
                format!(
                    "the memfd may be in append mode (O_APPEND), and this kernel (before 6.9) has \
                 no RWF_NOAPPEND: writing at an offset needs a private reopen of {path}, \
                 which failed: {errno}"
                ),
            )
        },
    )
}
