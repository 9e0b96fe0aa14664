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
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, fcntl_get_seals, fstat, ftruncate};
use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{SANDBOX, invalid_input, invalid_input_owned, syscall_error};
use crate::handle::impl_owned_fd_conversions;

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
    /// shared mapping). Adding it fails with `EBUSY` while a writable shared
    /// mapping exists.
    pub const WRITE: Seals = Seals(SealFlags::WRITE.bits());
    /// `F_SEAL_FUTURE_WRITE`: no *new* write access; existing writable
    /// mappings keep writing (Linux 5.1).
    pub const FUTURE_WRITE: Seals = Seals(SealFlags::FUTURE_WRITE.bits());
    /// `F_SEAL_EXEC`: the execute bits cannot change (Linux 6.3).
    pub const EXEC: Seals = Seals(SealFlags::EXEC.bits());

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

    /// Creates the memfd, empty (size 0), named `name` (which shows in
    /// `/proc/self/fd` as `/memfd:NAME` and need not be unique).
    ///
    /// Where the kernel supports it (6.3+), the memfd is created with
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
        let fd = match rustix::fs::memfd_create(c_name.as_c_str(), flags | MemfdFlags::NOEXEC_SEAL)
        {
            Ok(fd) => {
                if !self.allow_sealing {
                    // MFD_NOEXEC_SEAL implies MFD_ALLOW_SEALING; seal the
                    // seals so the memfd is as unsealable as asked.
                    fcntl_add_seals(&fd, SealFlags::SEAL)?;
                }
                fd
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
    /// - `EBUSY` when adding [`Seals::WRITE`] while a writable shared mapping
    ///   exists.
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
    /// # Errors
    ///
    /// - `InvalidInput` if `len` is 0, `offset` is not a multiple of the
    ///   page size, or `offset + len` is past the memfd's current size
    ///   (touching such memory would raise `SIGBUS`).
    /// - `EPERM` for a writable mapping of a memfd sealed with
    ///   [`Seals::WRITE`] or [`Seals::FUTURE_WRITE`]; `ENOMEM` (for huge
    ///   pages: none free).
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
        let size = self.size()?;
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|end| end > size) {
            return Err(invalid_input_owned(format!(
                "mapping {len} bytes at {offset} goes past the end of the memfd ({size} bytes): \
                 set_len first"
            )));
        }
        // Read the seals *before* mapping: a seal present now is present
        // forever, so "immutable" can only be under-reported, never over.
        let seals = self.seals()?;
        let immutable = seals.contains(Seals::WRITE | Seals::SHRINK);
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
            prot,
            immutable,
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

impl From<MemFd> for File {
    fn from(memfd: MemFd) -> File {
        File::from(memfd.fd)
    }
}

impl TryFrom<OwnedFd> for MemFd {
    type Error = NotMemFd;

    /// Adopts `fd` if it is a memfd (its `/proc/self/fd` link reads
    /// `/memfd:NAME (deleted)`), taking the name from there; otherwise hands
    /// `fd` back inside the error.
    fn try_from(fd: OwnedFd) -> Result<MemFd, NotMemFd> {
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let Ok(target) = std::fs::read_link(link) else {
            return Err(NotMemFd { fd });
        };
        let bytes = target.into_os_string().into_vec();
        let Some(rest) = bytes.strip_prefix(b"/memfd:") else {
            return Err(NotMemFd { fd });
        };
        let name = rest.strip_suffix(b" (deleted)").unwrap_or(rest);
        Ok(MemFd {
            name: OsString::from_vec(name.to_vec()),
            fd,
        })
    }
}

/// The error of `MemFd::try_from(OwnedFd)`: the descriptor is not a memfd.
/// It is handed back, not closed.
#[derive(Debug)]
pub struct NotMemFd {
    fd: OwnedFd,
}

impl NotMemFd {
    /// The descriptor that was not a memfd.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl fmt::Display for NotMemFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "descriptor {} is not a memfd", self.fd.as_raw_fd())
    }
}

impl std::error::Error for NotMemFd {}

impl From<NotMemFd> for io::Error {
    fn from(err: NotMemFd) -> io::Error {
        invalid_input_owned(err.to_string())
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

/// How a [`MappedRegion`] may be accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
/// shrinking the file makes touching them raise `SIGBUS`. Rust references
/// (`&[u8]`, `&mut [u8]`) promise the opposite, so they are handed out only
/// where the kernel guarantees it:
///
/// - [`as_slice`](MappedRegion::as_slice) gives `&[u8]` only if, when the
///   region was mapped, the memfd was sealed with both [`Seals::WRITE`]
///   (nobody can change the contents: no `write`, no writable shared
///   mapping can exist) and [`Seals::SHRINK`] (the pages cannot go away);
///   `mmap_at` also checked that the region lies inside the file. Seals can
///   never be removed, so the guarantee holds for the region's whole life.
/// - Otherwise the contents are reached by copying
///   ([`read_at`](MappedRegion::read_at), [`write_at`](MappedRegion::write_at)),
///   which never creates a reference to the shared bytes; a copy racing
///   with another writer may see a mix of old and new bytes, as with any
///   shared memory, and must be synchronised by the program (for example
///   through an [`EventFd`](crate::EventFd)).
/// - [`as_ptr`](MappedRegion::as_ptr) and the `unsafe`
///   [`as_slice_unchecked`](MappedRegion::as_slice_unchecked) /
///   [`as_mut_slice_unchecked`](MappedRegion::as_mut_slice_unchecked) are
///   for callers who uphold those conditions themselves.
pub struct MappedRegion {
    ptr: NonNull<u8>,
    len: usize,
    prot: Protection,
    /// Sealed WRITE and SHRINK when mapped: nobody can change or remove
    /// the bytes.
    immutable: bool,
}

// SAFETY: the region is plain memory owned by this value (nothing in it is
// tied to a thread), and every access through `&self` copies or hands out
// shared references only when the contents are immutable, so sharing and
// sending it across threads is sound.
unsafe impl Send for MappedRegion {}
// SAFETY: see the `Send` impl: `&self` methods never write.
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
        self.immutable
    }

    /// The contents as a slice, if the memfd was sealed against writing and
    /// shrinking when mapped; `None` otherwise (see "Soundness").
    pub fn as_slice(&self) -> Option<&[u8]> {
        if !self.immutable {
            return None;
        }
        // The mapping is `len` readable bytes living as long as `self`; it was
        // inside the file and sealed WRITE + SHRINK when mapped, and seals are
        // permanent, so nothing can change or remove the bytes.
        // SAFETY: hence a shared borrow of them for `self`'s life is sound.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) })
    }

    /// Copies bytes from `offset` into `buf`; returns how many were copied
    /// (fewer than `buf.len()` at the end of the region).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `offset` is past the end of the region.
    pub fn read_at(&self, buf: &mut [u8], offset: usize) -> io::Result<usize> {
        let available = self
            .len
            .checked_sub(offset)
            .ok_or_else(|| invalid_input("read offset is past the end of the mapped region"))?;
        let n = buf.len().min(available);
        // `offset + n <= len`, so the source lies in the readable mapping;
        // `buf` is a distinct Rust buffer. No reference to the shared bytes
        // is created.
        // SAFETY: both ranges are valid for `n` bytes and do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(offset), buf.as_mut_ptr(), n);
        }
        Ok(n)
    }

    /// Copies `buf` into the region at `offset`; returns how many bytes were
    /// copied (fewer than `buf.len()` at the end of the region).
    ///
    /// # Errors
    ///
    /// - `PermissionDenied` for a region mapped [`Protection::Read`].
    /// - `InvalidInput` if `offset` is past the end of the region.
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
        // `offset + n <= len` and the mapping is writable; `&mut self`
        // excludes other writers through this region; other writers are
        // shared-memory peers, reached without references ("Soundness").
        // SAFETY: both ranges are valid for `n` bytes and do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(buf.as_ptr(), self.ptr.as_ptr().add(offset), n);
        }
        Ok(n)
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
    pub fn unmap(self) -> io::Result<()> {
        let (ptr, len) = (self.ptr, self.len);
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
            .field("immutable", &self.immutable)
            .finish()
    }
}

impl AsRawFd for NotMemFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for NotMemFd {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
