//! [`MemFd`], [`Seals`] and [`MappedRegion`]: anonymous shared memory with
//! seals.
//!
//! # References
//!  - [`memfd_create(2)`](https://man7.org/linux/man-pages/man2/memfd_create.2.html)
//!  - [`fcntl(2)`, "File Sealing"](https://man7.org/linux/man-pages/man2/fcntl.2.html)
//!  - [`mmap(2)`](https://man7.org/linux/man-pages/man2/mmap.2.html)

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, fcntl_get_seals, fstat, ftruncate};
use rustix::mm::{MapFlags, ProtFlags};

use crate::adopt::{AdoptError, read_link};
use crate::error::{SANDBOX, SyscallError, invalid_input, invalid_input_owned, syscall_error};
use crate::handle::{impl_close, impl_owned_fd_conversions};
use crate::volatile::{copy_from_shared, copy_to_shared};

/// The longest name `memfd_create(2)` accepts, in bytes (`NAME_MAX` less
/// the `"memfd:"` prefix).
pub const MEMFD_NAME_MAX: usize = 249;

/// Seals of a [`MemFd`]: restrictions that, once added, can never be
/// removed. A `Copy` bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seals(u32);

impl Seals {
    /// No seal.
    pub const EMPTY: Seals = Seals(0);
    /// `F_SEAL_SEAL`: no further seal can be added.
    pub const SEAL: Seals = Seals(SealFlags::SEAL.bits());
    /// `F_SEAL_SHRINK`: the size cannot decrease.
    pub const SHRINK: Seals = Seals(SealFlags::SHRINK.bits());
    /// `F_SEAL_GROW`: the size cannot increase.
    pub const GROW: Seals = Seals(SealFlags::GROW.bits());
    /// `F_SEAL_WRITE`: the contents cannot change (no `write`, no writable
    /// shared mapping). Adding it fails with `EBUSY` while **any** shared
    /// mapping of the memfd exists, even a read-only one
    /// ([`Protection::Read`]): the kernel counts every shared mapping that
    /// could be made writable with `mprotect`. Drop the regions, seal, then
    /// map again.
    pub const WRITE: Seals = Seals(SealFlags::WRITE.bits());
    /// `F_SEAL_FUTURE_WRITE`: no *new* write access; existing writable
    /// mappings keep writing (Linux 5.1).
    pub const FUTURE_WRITE: Seals = Seals(SealFlags::FUTURE_WRITE.bits());
    /// `F_SEAL_EXEC`: the execute bits cannot change (Linux 6.3).
    pub const EXEC: Seals = Seals(SealFlags::EXEC.bits());
    /// `WRITE | SHRINK`: no byte of the memfd can change, nor can it
    /// shrink. What a receiver requires before it trusts shared memory
    /// ([`MemFd::require_seals`]), and what makes
    /// [`MappedRegion::as_slice`] available.
    pub const IMMUTABLE: Seals = Seals(SealFlags::WRITE.bits() | SealFlags::SHRINK.bits());

    /// Whether every seal of `other` is in `self`.
    #[inline]
    pub const fn contains(self, other: Seals) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no seal is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The raw `F_SEAL_*` bits.
    #[inline]
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The seals of the raw `F_SEAL_*` `bits` (unknown bits are kept).
    #[inline]
    pub const fn from_bits(bits: u32) -> Seals {
        Seals(bits)
    }
}

impl BitOr for Seals {
    type Output = Seals;
    fn bitor(self, rhs: Seals) -> Seals {
        Seals(self.0 | rhs.0)
    }
}

impl BitOrAssign for Seals {
    fn bitor_assign(&mut self, rhs: Seals) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Seals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Seals::SEAL, "SEAL"),
            (Seals::SHRINK, "SHRINK"),
            (Seals::GROW, "GROW"),
            (Seals::WRITE, "WRITE"),
            (Seals::FUTURE_WRITE, "FUTURE_WRITE"),
            (Seals::EXEC, "EXEC"),
        ];
        let mut set = f.debug_set();
        let mut known = 0;
        for (seal, name) in names {
            if self.contains(seal) {
                set.entry(&format_args!("{name}"));
                known |= seal.0;
            }
        }
        if self.0 & !known != 0 {
            set.entry(&format_args!("{:#x}", self.0 & !known));
        }
        set.finish()
    }
}

/// Options for creating a [`MemFd`], in the manner of
/// [`std::fs::OpenOptions`]. Close-on-exec is on by default.
///
/// # Examples
///
/// ```
/// use iofd::MemFd;
///
/// let memfd = MemFd::options().allow_sealing(true).create("frame")?;
/// assert_eq!(memfd.name(), "frame");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemFdOptions {
    allow_sealing: bool,
    hugetlb: bool,
    close_on_exec: bool,
    executable: bool,
}

impl MemFdOptions {
    /// Whether seals can be added later (`MFD_ALLOW_SEALING`). Off by
    /// default, and then no seal can ever be added.
    pub fn allow_sealing(&mut self, allow: bool) -> &mut MemFdOptions {
        self.allow_sealing = allow;
        self
    }

    /// Whether the memory comes from huge pages (`MFD_HUGETLB`), in the
    /// system's default huge page size. Off by default.
    pub fn hugetlb(&mut self, hugetlb: bool) -> &mut MemFdOptions {
        self.hugetlb = hugetlb;
        self
    }

    /// Whether the descriptor is closed on `exec` (`MFD_CLOEXEC`). On by
    /// default; to hand a memfd to a child, prefer a deliberate
    /// [`Fd::set_cloexec`](crate::Fd::set_cloexec) on a
    /// [`try_clone`](MemFd::try_clone).
    pub fn close_on_exec(&mut self, cloexec: bool) -> &mut MemFdOptions {
        self.close_on_exec = cloexec;
        self
    }

    /// Whether the memfd may be executed (`MFD_EXEC`, Linux 6.3), for
    /// `fexecve(3)` of code built in memory. Off by default: the memfd is
    /// then created with `MFD_NOEXEC_SEAL` and can never be made
    /// executable.
    ///
    /// With `executable(true)`, [`create`](MemFdOptions::create) asks for
    /// `MFD_EXEC`; before Linux 6.3 every memfd is executable and the flag
    /// is left out. The system setting `vm.memfd_noexec = 2` forbids
    /// executable memfds: `create` then fails with `PermissionDenied`.
    pub fn executable(&mut self, executable: bool) -> &mut MemFdOptions {
        self.executable = executable;
        self
    }

    /// Creates the memfd, empty (size 0), named `name` (which shows in
    /// `/proc/self/fd` as `/memfd:NAME` and need not be unique).
    ///
    /// Unless [`executable`](MemFdOptions::executable) is set, and where
    /// the kernel supports it (6.3+), the memfd is created with
    /// `MFD_NOEXEC_SEAL`: it can never be made executable, and
    /// [`seals`](MemFd::seals) then already holds [`Seals::EXEC`]. Older
    /// kernels refuse the flag with `EINVAL`, and the memfd is created
    /// without it. A memfd created without [`allow_sealing`] has
    /// [`Seals::SEAL`] set, so [`seal`](MemFd::seal) always fails with
    /// `EPERM`.
    ///
    /// [`allow_sealing`]: MemFdOptions::allow_sealing
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `name` holds a NUL byte or is longer than
    ///   [`MEMFD_NAME_MAX`] bytes.
    /// - `EMFILE`/`ENFILE`; for huge pages, `EINVAL`/`ENOENT` where the
    ///   kernel has no hugetlbfs.
    /// - `PermissionDenied` (`EACCES`) for an executable memfd where
    ///   `vm.memfd_noexec` is 2.
    pub fn create(&self, name: impl AsRef<OsStr>) -> io::Result<MemFd> {
        let name = name.as_ref();
        if name.len() > MEMFD_NAME_MAX {
            return Err(invalid_input_owned(format!(
                "memfd name is {} bytes long; the kernel takes at most {MEMFD_NAME_MAX}",
                name.len()
            )));
        }
        let c_name = CString::new(name.as_bytes())
            .map_err(|_| invalid_input("memfd name must not contain a NUL byte"))?;

        let mut flags = MemfdFlags::empty();
        if self.close_on_exec {
            flags |= MemfdFlags::CLOEXEC;
        }
        if self.allow_sealing {
            flags |= MemfdFlags::ALLOW_SEALING;
        }
        if self.hugetlb {
            flags |= MemfdFlags::HUGETLB;
        }
        let exec_flag = if self.executable {
            MemfdFlags::EXEC
        } else {
            MemfdFlags::NOEXEC_SEAL
        };
        let fd = match rustix::fs::memfd_create(c_name.as_c_str(), flags | exec_flag) {
            Ok(fd) => {
                if !self.allow_sealing && !self.executable {
                    // MFD_NOEXEC_SEAL implies MFD_ALLOW_SEALING; seal the
                    // seals so the memfd is as unsealable as asked.
                    fcntl_add_seals(&fd, SealFlags::SEAL)?;
                }
                fd
            }
            Err(rustix::io::Errno::ACCESS) if self.executable => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    SyscallError::new(
                        "memfd_create",
                        libc::EACCES,
                        "the sysctl vm.memfd_noexec below 2 (2 forbids MFD_EXEC)",
                    ),
                ));
            }
            // Before Linux 6.3 the flag is unknown: create without it.
            Err(rustix::io::Errno::INVAL) => rustix::fs::memfd_create(c_name.as_c_str(), flags)
                .map_err(|e| memfd_create_error(e.raw_os_error()))?,
            Err(e) => return Err(memfd_create_error(e.raw_os_error())),
        };
        Ok(MemFd {
            fd,
            name: OsString::from_vec(c_name.into_bytes()),
        })
    }
}

/// The error of `memfd_create`, naming what is missing for ENOSYS/EPERM.
#[cold]
fn memfd_create_error(errno: i32) -> io::Error {
    syscall_error("memfd_create", errno, "Linux 3.17 or later", Some(SANDBOX))
}

impl Default for MemFdOptions {
    fn default() -> MemFdOptions {
        MemFdOptions {
            allow_sealing: false,
            hugetlb: false,
            close_on_exec: true,
            executable: false,
        }
    }
}

/// An owned memfd: an anonymous file in memory, shareable with other
/// processes by descriptor, that can be sealed against change.
///
/// A memfd is a regular file, so epoll (and therefore mio and tokio) refuse
/// it: it has no readiness to wait for, and `MemFd` does not implement
/// `mio::event::Source`.
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
        fcntl_add_seals(&self.fd, SealFlags::from_bits_retain(seals.0))?;
        Ok(())
    }

    /// The seals now set (`F_GET_SEALS`).
    ///
    /// # Errors
    ///
    /// The error of `fcntl(2)`.
    pub fn seals(&self) -> io::Result<Seals> {
        Ok(Seals(fcntl_get_seals(&self.fd)?.bits()))
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
        let missing = Seals(required.0 & !seals.0);
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
    /// # Errors
    ///
    /// `EPERM` if sealed against writing (or growing, when the write would
    /// grow it).
    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        Ok(rustix::io::pwrite(&self.fd, buf, offset)?)
    }

    /// Writes all of `buf` at `offset`, retrying short writes.
    ///
    /// # Errors
    ///
    /// As [`write_at`](MemFd::write_at).
    pub fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write_at(buf, offset)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
            offset += n as u64;
        }
        Ok(())
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
    /// shrink it, and touching a mapped page past the new end raises
    /// `SIGBUS`, which kills the process. So the region's safe accessors
    /// only touch the mapping when the kernel guarantees the pages stay:
    ///
    /// - **Sealed with [`Seals::SHRINK`]** when mapped: the size can never
    ///   drop below the region again, and
    ///   [`MappedRegion::read_at`]/[`write_at`](MappedRegion::write_at)
    ///   copy straight through the mapping
    ///   ([`maps_directly`](MappedRegion::maps_directly) is `true`). This is
    ///   how a writer maps a memfd read-write safely: seal `SHRINK` first.
    /// - **Not sealed against shrinking:** the region keeps its own
    ///   duplicate of the descriptor and its copies go through it
    ///   (`pread(2)`/`pwrite(2)`), which cannot fault: reading past a shrunk
    ///   end returns fewer bytes. The mapping itself is still there for
    ///   [`as_ptr`](MappedRegion::as_ptr) users who take on its safety.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `len` is 0, `offset` is not a multiple of the
    ///   page size, or `offset + len` is past the memfd's current size
    ///   (touching such memory would raise `SIGBUS`).
    /// - `EPERM` for a writable mapping of a memfd sealed with
    ///   [`Seals::WRITE`] or [`Seals::FUTURE_WRITE`]; `ENOMEM` (for huge
    ///   pages: none free); `EMFILE` when an unsealed region cannot
    ///   duplicate the descriptor.
    pub fn mmap_at(&self, len: usize, prot: Protection, offset: u64) -> io::Result<MappedRegion> {
        if len == 0 {
            return Err(invalid_input("cannot map 0 bytes"));
        }
        let page = rustix::param::page_size() as u64;
        if !offset.is_multiple_of(page) {
            return Err(invalid_input_owned(format!(
                "mapping offset {offset} is not a multiple of the page size ({page})"
            )));
        }
        // The seals are read *before* the size, and the order is what makes
        // the checks below sound. Seals are never removed: a SHRINK seal
        // seen here is in force when the size is read afterwards, so that
        // size can only grow from then on. Read the other way round, a peer
        // could truncate and seal between the two reads, and a stale large
        // size would pass for the region of a file that is now empty.
        let seals = self.seals()?;
        let size = self.size()?;
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|end| end > size) {
            return Err(invalid_input_owned(format!(
                "mapping {len} bytes at {offset} goes past the end of the memfd ({size} bytes): \
                 set_len first"
            )));
        }
        let access = if seals.contains(Seals::SHRINK) {
            Access::Mapping {
                immutable: seals.contains(Seals::WRITE),
            }
        } else {
            Access::Descriptor(rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?)
        };
        let prot_flags = match prot {
            Protection::Read => ProtFlags::READ,
            Protection::ReadWrite => ProtFlags::READ | ProtFlags::WRITE,
        };
        // A null hint lets the kernel choose an address that overlaps no
        // existing mapping; `len` is non-zero and the descriptor is open.
        // SAFETY: so the new mapping affects no Rust object.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                prot_flags,
                MapFlags::SHARED,
                &self.fd,
                offset,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(MappedRegion {
            ptr,
            len,
            offset,
            prot,
            access,
        })
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

impl TryFrom<OwnedFd> for MemFd {
    type Error = AdoptError;

    /// Adopts `fd` if it is a memfd, taking the name from its
    /// `/proc/self/fd` link; otherwise hands `fd` back inside the error.
    ///
    /// A memfd is recognised by everything the kernel says of it, not by
    /// its name alone (anyone can create a file called `/memfd:x`): the
    /// file lives on the kernel's internal tmpfs or hugetlbfs mount, it is
    /// a regular file with no link in any directory, it answers
    /// `F_GET_SEALS`, and its link reads `/memfd:NAME (deleted)`.
    ///
    /// To accept only memory that the sender can no longer change, follow
    /// with [`require_seals`](MemFd::require_seals).
    ///
    /// # Errors
    ///
    /// [`AdoptError`] (holding `fd`) if `fd` is not a memfd, or `/proc`
    /// cannot be read.
    fn try_from(fd: OwnedFd) -> Result<MemFd, AdoptError> {
        if is_memfd_inode(&fd) {
            if let Some(name) = memfd_name(&fd) {
                return Ok(MemFd { name, fd });
            }
        }
        match read_link(&fd) {
            Ok(found) => Err(AdoptError::wrong_kind(fd, "memfd", found)),
            Err(error) => Err(AdoptError::failed(fd, "memfd", error)),
        }
    }
}

/// Whether `fd` is what `memfd_create` makes: an unlinked regular file on
/// tmpfs or hugetlbfs that answers `F_GET_SEALS`.
fn is_memfd_inode(fd: &OwnedFd) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;
    let Ok(fs_type) = crate::fd::fs_magic(std::os::fd::AsFd::as_fd(fd)) else {
        return false;
    };
    if fs_type != TMPFS_MAGIC && fs_type != HUGETLBFS_MAGIC {
        return false;
    }
    let Ok(stat) = fstat(fd) else {
        return false;
    };
    let is_regular =
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile;
    // memfd_create makes an unlinked inode; a file opened from a tmpfs
    // directory has at least one link until it is deleted. Only shmem and
    // hugetlbfs files answer F_GET_SEALS.
    is_regular && stat.st_nlink == 0 && fcntl_get_seals(fd).is_ok()
}

/// The name in `fd`'s `/memfd:NAME (deleted)` link, as raw bytes; `None` if
/// the link has another form.
fn memfd_name(fd: &OwnedFd) -> Option<OsString> {
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let bytes = target.into_os_string().into_vec();
    let rest = bytes.strip_prefix(b"/memfd:")?;
    let name = rest.strip_suffix(b" (deleted)").unwrap_or(rest);
    Some(OsString::from_vec(name.to_vec()))
}

/// The error of `MemFd::try_from(OwnedFd)`: the [`AdoptError`] that every
/// handle's adoption returns (this name is kept for code written before
/// every handle had one).
pub type NotMemFd = AdoptError;

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

/// How a [`MappedRegion`] may be accessed.
///
/// More access modes may come (the enum is `#[non_exhaustive]`): a `match`
/// needs a wildcard arm.
///
/// ```compile_fail,E0004
/// fn prot_bits(p: iofd::Protection) -> i32 {
///     match p {
///         iofd::Protection::Read => 1,
///         iofd::Protection::ReadWrite => 3,
///     } // error: `_` not covered
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protection {
    /// `PROT_READ`.
    Read,
    /// `PROT_READ | PROT_WRITE`.
    ReadWrite,
}

/// A shared mapping of a [`MemFd`], unmapped on `Drop`.
///
/// The mapping holds its own reference to the memory in the kernel, so it
/// stays valid after the `MemFd` (and every descriptor for it) is closed.
///
/// # Soundness
///
/// The pages are shared: another mapping, another process, or `write(2)` on
/// any descriptor for the memfd can change them at any moment, and
/// shrinking the file makes touching them raise `SIGBUS`. No safe method
/// can fault or reach memory outside the file, whatever a peer does:
///
/// - [`as_slice`](MappedRegion::as_slice) gives `&[u8]` only if, when the
///   region was mapped, the memfd was sealed with both [`Seals::WRITE`]
///   (nobody can change the contents: no `write`, no writable shared
///   mapping can exist) and [`Seals::SHRINK`] (the pages cannot go away);
///   `mmap_at` read the seals first and then checked that the region lies
///   inside the file. Seals can never be removed, so the guarantee holds
///   for the region's whole life.
/// - [`read_at`](MappedRegion::read_at) and
///   [`write_at`](MappedRegion::write_at) copy. If the memfd was sealed
///   with [`Seals::SHRINK`] when mapped, they copy through the mapping
///   with volatile accesses (as `vm-memory` does), so the compiler never
///   assumes the bytes hold still; otherwise they go through a duplicate of
///   the descriptor (`pread`/`pwrite`), which cannot fault
///   ([`maps_directly`](MappedRegion::maps_directly) tells which).
/// - A copy racing another writer (another region, process or `write(2)`)
///   is not undefined behaviour, but it may see a mix of old and new data:
///   each naturally aligned 8-byte word of a mapping copy is read or
///   written in one access, nothing larger is atomic, and descriptor copies
///   promise nothing finer than the kernel's page cache does. A program
///   that needs a consistent snapshot must synchronise the writer and the
///   reader itself (for example with an [`EventFd`](crate::EventFd) as a
///   doorbell, or a sequence number it checks before and after the copy).
/// - [`as_ptr`](MappedRegion::as_ptr) and the `unsafe`
///   [`as_slice_unchecked`](MappedRegion::as_slice_unchecked) /
///   [`as_mut_slice_unchecked`](MappedRegion::as_mut_slice_unchecked) are
///   for callers who uphold those conditions themselves.
pub struct MappedRegion {
    ptr: NonNull<u8>,
    len: usize,
    /// Where the region starts in the file.
    offset: u64,
    prot: Protection,
    access: Access,
}

/// How a [`MappedRegion`]'s safe copies reach the bytes.
enum Access {
    /// Sealed SHRINK (seals read before the size) and inside the file when
    /// mapped: the pages can never go away, so copies touch the mapping.
    /// `immutable`: sealed WRITE as well, nobody can change the bytes.
    Mapping { immutable: bool },
    /// Not sealed against shrinking: copies go through this duplicate of
    /// the memfd's descriptor, which cannot fault.
    Descriptor(OwnedFd),
}

// SAFETY: the region is plain memory owned by this value plus, maybe, an
// owned descriptor (nothing in it is tied to a thread); every access through
// `&self` copies with volatile reads or a syscall, or hands out shared
// references only when the contents are immutable, so sending it across
// threads is sound.
unsafe impl Send for MappedRegion {}
// SAFETY: see the `Send` impl: `&self` methods never write the mapping.
unsafe impl Sync for MappedRegion {}

impl MappedRegion {
    /// The length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never: zero-length maps are refused).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The protection it was mapped with.
    #[inline]
    pub fn protection(&self) -> Protection {
        self.prot
    }

    /// Whether the contents can never change (see the type's "Soundness").
    #[inline]
    pub fn is_immutable(&self) -> bool {
        matches!(self.access, Access::Mapping { immutable: true })
    }

    /// Whether [`read_at`](MappedRegion::read_at) and
    /// [`write_at`](MappedRegion::write_at) copy through the mapping (the
    /// memfd was sealed with [`Seals::SHRINK`] when mapped) rather than
    /// through the descriptor.
    #[inline]
    pub fn maps_directly(&self) -> bool {
        matches!(self.access, Access::Mapping { .. })
    }

    /// The contents as a slice, if the memfd was sealed against writing and
    /// shrinking when mapped; `None` otherwise (see "Soundness").
    pub fn as_slice(&self) -> Option<&[u8]> {
        if !self.is_immutable() {
            return None;
        }
        // The mapping is `len` readable bytes living as long as `self`; it was
        // inside the file and sealed WRITE + SHRINK when mapped (seals read
        // before the size), and seals are permanent, so nothing can change
        // or remove the bytes.
        // SAFETY: hence a shared borrow of them for `self`'s life is sound.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) })
    }

    /// Copies bytes from `offset` into `buf`; returns how many were copied:
    /// fewer than `buf.len()` at the end of the region, or where a memfd
    /// that was not sealed against shrinking has shrunk below the region.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `offset` is past the end of the region.
    /// - For a region that copies through the descriptor, the error of
    ///   `pread(2)`.
    pub fn read_at(&self, buf: &mut [u8], offset: usize) -> io::Result<usize> {
        let available = self
            .len
            .checked_sub(offset)
            .ok_or_else(|| invalid_input("read offset is past the end of the mapped region"))?;
        let n = buf.len().min(available);
        match &self.access {
            Access::Mapping { .. } => {
                // `offset + n <= len`, and the pages stay (sealed SHRINK
                // before the size was checked), so the source is readable
                // mapped memory; `buf` is a distinct Rust buffer.
                // SAFETY: the contract of `copy_from_shared`.
                unsafe { copy_from_shared(self.ptr.as_ptr().add(offset), &mut buf[..n]) };
                Ok(n)
            }
            Access::Descriptor(fd) => {
                // `offset + n <= len` fits in u64, as does the region's start.
                read_full_at(fd, &mut buf[..n], self.offset + offset as u64)
            }
        }
    }

    /// Copies `buf` into the region at `offset`; returns how many bytes were
    /// copied (fewer than `buf.len()` at the end of the region).
    ///
    /// A region that copies through the descriptor (not sealed against
    /// shrinking) uses `pwrite(2)`: if a peer has shrunk the memfd, the
    /// write grows it back instead of faulting.
    ///
    /// # Errors
    ///
    /// - `PermissionDenied` for a region mapped [`Protection::Read`].
    /// - `InvalidInput` if `offset` is past the end of the region.
    /// - For a region that copies through the descriptor, the error of
    ///   `pwrite(2)` (`EPERM` if sealed against growing and the memfd has
    ///   shrunk; `EINVAL` on huge-page memfds, which take no `write`).
    pub fn write_at(&mut self, buf: &[u8], offset: usize) -> io::Result<usize> {
        if self.prot != Protection::ReadWrite {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the region is mapped read-only",
            ));
        }
        let available = self
            .len
            .checked_sub(offset)
            .ok_or_else(|| invalid_input("write offset is past the end of the mapped region"))?;
        let n = buf.len().min(available);
        match &self.access {
            Access::Mapping { .. } => {
                // `offset + n <= len`, the mapping is writable and its pages
                // stay (sealed SHRINK); `&mut self` excludes Rust references
                // to them; peers are reached without references.
                // SAFETY: the contract of `copy_to_shared`.
                unsafe { copy_to_shared(&buf[..n], self.ptr.as_ptr().add(offset)) };
                Ok(n)
            }
            Access::Descriptor(fd) => {
                let mut rest = &buf[..n];
                let mut at = self.offset + offset as u64;
                while !rest.is_empty() {
                    let written = rustix::io::pwrite(fd, rest, at)?;
                    if written == 0 {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    rest = &rest[written..];
                    at += written as u64;
                }
                Ok(n)
            }
        }
    }

    /// The start of the mapping.
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The start of the mapping, for writing (only valid for
    /// [`Protection::ReadWrite`] regions).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The contents as a slice, without the seal check.
    ///
    /// # Safety
    ///
    /// While the slice lives, nothing may change the bytes (no write through
    /// any mapping, descriptor or process) and the memfd must not shrink
    /// below the region.
    pub unsafe fn as_slice_unchecked(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes living as long as
        // `self`; the caller guarantees nobody changes or removes them.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The contents as a mutable slice.
    ///
    /// # Safety
    ///
    /// The region must be [`Protection::ReadWrite`], and while the slice
    /// lives nothing else may read or write the bytes (no other mapping,
    /// descriptor or process) and the memfd must not shrink below the
    /// region.
    pub unsafe fn as_mut_slice_unchecked(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes living as long as `self`; the
        // caller guarantees it is writable and exclusively ours meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Unmaps the region and reports the kernel's answer (`Drop` has to
    /// ignore it).
    ///
    /// # Errors
    ///
    /// The error of `munmap(2)`.
    pub fn unmap(mut self) -> io::Result<()> {
        let (ptr, len) = (self.ptr, self.len);
        // Keep the duplicate descriptor (if any) to close it: `forget` would
        // leak it.
        let _access = std::mem::replace(&mut self.access, Access::Mapping { immutable: false });
        std::mem::forget(self);
        // `self` is forgotten, so `Drop` will not unmap a second time.
        // SAFETY: `ptr`/`len` are a mapping this region owned; nothing else
        // refers to it.
        unsafe { rustix::mm::munmap(ptr.as_ptr().cast(), len)? };
        Ok(())
    }
}

impl Drop for MappedRegion {
    fn drop(&mut self) {
        // SAFETY: the region owns this mapping and is being dropped, so no
        // borrow of its bytes remains.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl fmt::Debug for MappedRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedRegion")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("prot", &self.prot)
            .field("offset", &self.offset)
            .field("immutable", &self.is_immutable())
            .field("maps_directly", &self.maps_directly())
            .finish()
    }
}

/// Reads into all of `buf` from `offset` through `fd`, stopping early only
/// at the end of the file; returns how many bytes were read.
fn read_full_at(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match rustix::io::pread(fd, &mut buf[done..], offset + done as u64)? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}
