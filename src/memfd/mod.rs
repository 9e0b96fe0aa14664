//! [`MemFd`], [`Seals`] and [`MappedRegion`]: anonymous shared memory with
//! seals.
//!
//! One concept per file: [`MemFd`] here, [`MemFdOptions`] in `options`,
//! [`Seals`] in `seals`, [`MappedRegion`] (and the rule for when it may
//! touch its mapping) in `region`, positional writes that ignore
//! `O_APPEND` in `positional`, and the adoption check in `adopt`.
//!
//! # References
//!  - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
//!  - [`fcntl(2)`, "File Sealing"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//!  - [`mmap(2)`](https://man7.org/linux/man-pages/man2/mmap.2.html)

mod adopt;
mod options;
mod positional;
mod region;
mod seals;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::fs::{SealFlags, fcntl_add_seals, fcntl_get_seals, fstat, ftruncate};

use crate::error::invalid_input_owned;
use crate::handle::{impl_close, impl_owned_fd_conversions};

pub use options::{MEMFD_NAME_MAX, MemFdOptions};
pub use region::{MappedRegion, Protection};
pub use seals::Seals;

/// An owned memfd: an anonymous file in memory, shareable with other
/// processes by descriptor, that can be sealed against change.
///
/// A memfd is a regular file, so epoll (and therefore mio and tokio) refuse
/// it: it has no readiness to wait for, and `MemFd` does not implement
/// `mio::event::Source`.
///
/// # Soundness
///
/// No safe method of `MemFd` can fault, whatever another holder of the
/// file does: its reads and writes are syscalls (`pread`/`pwrite`), which
/// report errors instead, and [`write_at`](MemFd::write_at) lands at its
/// offset even in append mode. Mappings are [`MappedRegion`]s, whose
/// "Soundness" section says when they touch their memory and which seals
/// that needs.
///
/// # Examples
///
/// ```
/// use iofd::{MemFd, Protection, Seals};
///
/// # fn main() -> std::io::Result<()> {
/// let memfd = MemFd::new_sealable("config")?;
/// memfd.write_all_at(b"frozen", 0)?;
/// memfd.seal(Seals::WRITE | Seals::SHRINK | Seals::GROW | Seals::SEAL)?;
/// let region = memfd.mmap(6, Protection::Read)?;
/// assert_eq!(region.as_slice(), Some(&b"frozen"[..])); // safe: sealed
/// # Ok(())
/// # }
/// ```
pub struct MemFd {
    fd: OwnedFd,
    name: OsString,
}

impl MemFd {
    /// Options for creating a memfd.
    pub fn options() -> MemFdOptions {
        MemFdOptions::default()
    }

    /// Creates an empty memfd that cannot be sealed.
    ///
    /// # Errors
    ///
    /// As [`MemFdOptions::create`].
    pub fn new(name: impl AsRef<OsStr>) -> io::Result<MemFd> {
        MemFd::options().create(name)
    }

    /// Creates an empty memfd that can be sealed.
    ///
    /// # Errors
    ///
    /// As [`MemFdOptions::create`].
    pub fn new_sealable(name: impl AsRef<OsStr>) -> io::Result<MemFd> {
        MemFd::options().allow_sealing(true).create(name)
    }

    /// Creates an empty memfd backed by huge pages. Its size and mapping
    /// offsets must be multiples of the huge page size, and mapping it fails
    /// with `ENOMEM` when the system has no free huge pages.
    ///
    /// hugetlbfs takes no `write(2)`: [`write_at`](MemFd::write_at), and a
    /// region's [`write_at`](MappedRegion::write_at) through the
    /// descriptor, fail with `EINVAL`. To write, map read-write, seal
    /// `SHRINK | FUTURE_WRITE` (nobody else can then shrink it or free its
    /// huge pages), and call [`MappedRegion::recheck_seals`]: the region
    /// then writes through its mapping.
    ///
    /// # Errors
    ///
    /// As [`MemFdOptions::create`].
    pub fn new_hugetlb(name: impl AsRef<OsStr>) -> io::Result<MemFd> {
        MemFd::options().hugetlb(true).create(name)
    }

    /// The name given at creation.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The size in bytes.
    ///
    /// # Errors
    ///
    /// The error of `fstat(2)`.
    pub fn size(&self) -> io::Result<u64> {
        Ok(fstat(&self.fd)?.st_size as u64)
    }

    /// Sets the size, zero-filling any growth.
    ///
    /// # Errors
    ///
    /// `EPERM` if sealed against [`Seals::GROW`] or [`Seals::SHRINK`] in
    /// the needed direction; `EINVAL` for sizes the kernel refuses (for
    /// huge pages, non-multiples of the page size).
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        ftruncate(&self.fd, len)?;
        Ok(())
    }

    /// Adds `seals` (`F_ADD_SEALS`). Seals are never removed.
    ///
    /// # Errors
    ///
    /// - `EPERM` if the memfd was created without sealing allowed, or
    ///   [`Seals::SEAL`] is already set.
    /// - `EBUSY` when adding [`Seals::WRITE`] while any shared mapping
    ///   exists, read-only ones included (see [`Seals::WRITE`]).
    pub fn seal(&self, seals: Seals) -> io::Result<()> {
        fcntl_add_seals(&self.fd, SealFlags::from_bits_retain(seals.bits()))?;
        Ok(())
    }

    /// The seals now set (`F_GET_SEALS`).
    ///
    /// # Errors
    ///
    /// The error of `fcntl(2)`.
    pub fn seals(&self) -> io::Result<Seals> {
        Ok(Seals::from_bits(fcntl_get_seals(&self.fd)?.bits()))
    }

    /// Gives the memfd back if every seal of `required` is set: the one-line
    /// guard of a process that receives shared memory from a peer it does
    /// not trust, before it maps it. Seals are never removed, so what is
    /// checked here holds for the memfd's whole life.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` naming the missing seals (the memfd is closed with
    ///   the error: it was not what the caller asked for).
    /// - The error of `fcntl(F_GET_SEALS)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// use iofd::{MemFd, Protection, Seals};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// # let sender = MemFd::new_sealable("frame")?;
    /// # sender.write_all_at(b"pixels", 0)?;
    /// # sender.seal(Seals::IMMUTABLE | Seals::GROW | Seals::SEAL)?;
    /// # let received: OwnedFd = sender.into();
    /// // A descriptor received from a peer (for example through iofd::pass):
    /// let memfd = MemFd::try_from(received)?.require_seals(Seals::IMMUTABLE)?;
    /// let region = memfd.mmap(6, Protection::Read)?;
    /// assert_eq!(region.as_slice(), Some(&b"pixels"[..])); // nobody can change it
    /// # Ok(())
    /// # }
    /// ```
    pub fn require_seals(self, required: Seals) -> io::Result<MemFd> {
        let seals = self.seals()?;
        if seals.contains(required) {
            return Ok(self);
        }
        let missing = Seals::from_bits(required.bits() & !seals.bits());
        Err(invalid_input_owned(format!(
            "memfd {:?} lacks the seals {missing:?} (it has {seals:?}): its sender can still \
             change it",
            self.name
        )))
    }

    /// Reads from `offset` without moving the file offset (`pread(2)`);
    /// returns the number of bytes read, 0 at the end.
    ///
    /// # Errors
    ///
    /// The kernel's error.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        Ok(rustix::io::pread(&self.fd, buf, offset)?)
    }

    /// Writes at `offset` without moving the file offset (`pwrite(2)`),
    /// growing the file if needed; returns the number of bytes written.
    ///
    /// The bytes land at `offset` and nowhere else, even when the memfd's
    /// open file description is in append mode (`O_APPEND`, which plain
    /// `pwrite` obeys by writing at the end): the flag is shared by every
    /// duplicate of the descriptor, so a peer can set it at any moment. On
    /// Linux 6.9 and later the write is one `pwritev2(RWF_NOAPPEND)`;
    /// before, it goes through a private open file description (a reopen
    /// of `/proc/thread-self/fd/N`, closed again), which nobody else can
    /// put in append mode. The [`Write`] impl, which writes at the file
    /// position, keeps append semantics.
    ///
    /// # Errors
    ///
    /// - `EPERM` if sealed against writing (or growing, when the write
    ///   would grow it); `EINVAL` on huge-page memfds, which take no
    ///   `write`.
    /// - Before Linux 6.9, an error naming `O_APPEND` if the private reopen
    ///   fails (no `/proc`, or the memfd's mode forbids opening it for
    ///   writing).
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        positional::write_at(self.fd.as_fd(), buf, offset)
    }

    /// Writes all of `buf` at `offset`, retrying short writes.
    ///
    /// # Errors
    ///
    /// As [`write_at`](MemFd::write_at).
    pub fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        positional::write_all_at(self.fd.as_fd(), buf, offset)
    }

    /// Maps `len` bytes from the start of the memfd, shared
    /// (`MAP_SHARED`): see [`mmap_at`](MemFd::mmap_at).
    ///
    /// # Errors
    ///
    /// As [`mmap_at`](MemFd::mmap_at).
    pub fn mmap(&self, len: usize, prot: Protection) -> io::Result<MappedRegion> {
        self.mmap_at(len, prot, 0)
    }

    /// Maps `len` bytes from `offset`, shared (`MAP_SHARED`): writes through
    /// a writable mapping are seen by `read_at` and by every other mapping
    /// and process.
    ///
    /// Whoever holds a descriptor for the memfd (this process or a peer) can
    /// shrink it or punch a hole in it, and touching a mapped page past the
    /// new end, or a hole that cannot get memory, raises `SIGBUS`, which
    /// kills the process. So the region's safe accessors only touch the
    /// mapping when the kernel guarantees every page of it stays (the
    /// [`MappedRegion`] "Soundness" section says exactly when):
    ///
    /// - **Sealed with [`Seals::SHRINK`] and with [`Seals::WRITE`] or
    ///   [`Seals::FUTURE_WRITE`]** when mapped (nobody can shrink the file
    ///   or punch a hole in it): the mapping is populated now
    ///   (`MADV_POPULATE_READ`/`WRITE`, so this `mmap_at` allocates every
    ///   page of the region that was never written), and
    ///   [`MappedRegion::read_at`]/[`write_at`](MappedRegion::write_at)
    ///   copy straight through it
    ///   ([`maps_directly`](MappedRegion::maps_directly) is `true`). A
    ///   writer maps read-write first, then seals `SHRINK | FUTURE_WRITE`
    ///   and calls [`MappedRegion::recheck_seals`].
    /// - **Otherwise** (`SHRINK` alone included, or if populating failed):
    ///   the region keeps its own duplicate of the descriptor and its copies
    ///   go through it (`pread(2)`/`pwrite(2)`), which cannot fault: a hole
    ///   reads as zeros, reading past a shrunk end returns fewer bytes. The
    ///   mapping itself is still there for [`as_ptr`](MappedRegion::as_ptr)
    ///   users who take on its safety.
    ///
    /// The mapping is made, and unmapped, in whole pages of the memfd's
    /// file system: on huge pages, `len` is rounded up to the huge page
    /// size (the region's [`len`](MappedRegion::len) stays `len`).
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `len` is 0, `offset` is not a multiple of the
    ///   page size (the huge page size for a huge-page memfd), or
    ///   `offset + len` is past the memfd's current size (touching such
    ///   memory would raise `SIGBUS`).
    /// - `EPERM` for a writable mapping of a memfd sealed with
    ///   [`Seals::WRITE`] or [`Seals::FUTURE_WRITE`]; `ENOMEM` (for huge
    ///   pages: none free); `EMFILE` when the region cannot duplicate the
    ///   descriptor.
    pub fn mmap_at(&self, len: usize, prot: Protection, offset: u64) -> io::Result<MappedRegion> {
        MappedRegion::map(&self.fd, len, prot, offset)
    }

    /// Makes an independent owner of the same memfd (`F_DUPFD_CLOEXEC`).
    ///
    /// # Errors
    ///
    /// `EMFILE`/`ENFILE`.
    pub fn try_clone(&self) -> io::Result<MemFd> {
        Ok(MemFd {
            fd: rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?,
            name: self.name.clone(),
        })
    }
}

impl_owned_fd_conversions!(MemFd);
impl_close!(MemFd);

impl From<MemFd> for File {
    fn from(memfd: MemFd) -> File {
        File::from(memfd.fd)
    }
}

impl fmt::Debug for MemFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemFd")
            .field("fd", &self.fd.as_raw_fd())
            .field("name", &self.name)
            .finish()
    }
}

impl Read for &MemFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(rustix::io::read(&self.fd, buf)?)
    }
}

impl Read for MemFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for &MemFd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::io::write(&self.fd, buf)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for MemFd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &MemFd {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let pos = match pos {
            SeekFrom::Start(n) => rustix::fs::SeekFrom::Start(n),
            SeekFrom::End(n) => rustix::fs::SeekFrom::End(n),
            SeekFrom::Current(n) => rustix::fs::SeekFrom::Current(n),
        };
        Ok(rustix::fs::seek(&self.fd, pos)?)
    }
}

impl Seek for MemFd {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&*self).seek(pos)
    }
}
