//! [`MappedRegion`] and [`Protection`]: a shared mapping of a memfd whose
//! safe methods cannot fault.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{fcntl_get_seals, fstat};
use rustix::mm::{Advice, MapFlags, ProtFlags};

use super::Seals;
use super::positional::{read_full_at, write_all_at};
use crate::error::{invalid_input, invalid_input_owned};
use crate::volatile::{copy_from_shared, copy_to_shared};

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

/// A shared mapping of a [`MemFd`](crate::MemFd), unmapped on `Drop`.
///
/// The mapping holds its own reference to the memory in the kernel, so it
/// stays valid after the `MemFd` (and every descriptor for it) is closed.
///
/// # Soundness
///
/// The pages are shared with every holder of a descriptor for the memfd,
/// in this process or another, and such a holder can make a touch of the
/// mapping fault (`SIGBUS`, which kills the process):
///
/// - by **shrinking** the file below the region (`ftruncate`);
/// - by **punching a hole** in it (`fallocate(FALLOC_FL_PUNCH_HOLE)`, or
///   `madvise(MADV_REMOVE)` through its own writable mapping): the next
///   touch needs a new page. On hugetlbfs that page comes from the free
///   huge pages, and the touch faults when there is none; on tmpfs a
///   memfd's pages are charged when they are first touched
///   (`VM_NORESERVE`), and under `vm.overcommit_memory=2` a charge that
///   fails faults too. A page never written since the file grew is such a
///   hole as well.
///
/// No safe method of a region can fault, whatever a peer does, because a
/// region touches its mapping only when the kernel guarantees that neither
/// can happen to it:
///
/// - **Direct** ([`maps_directly`](MappedRegion::maps_directly) is
///   `true`): when the region was mapped (or at a successful
///   [`recheck_seals`](MappedRegion::recheck_seals)), the memfd was sealed
///   with [`Seals::SHRINK`] (nobody can shrink it) **and** with
///   [`Seals::WRITE`] or [`Seals::FUTURE_WRITE`] (nobody can punch a
///   hole: the kernel refuses `fallocate` on a file sealed with either);
///   the seals were read before the size, and the region lay inside the
///   file; and then every page of the mapping was faulted in with
///   `madvise(MADV_POPULATE_READ)` (`MADV_POPULATE_WRITE` for a writable
///   region), which reports a failure instead of raising `SIGBUS`. So each
///   page is in the file and charged, and nobody can take it away: seals
///   are never removed. [`read_at`](MappedRegion::read_at) and
///   [`write_at`](MappedRegion::write_at) copy through the mapping with
///   volatile accesses (as `vm-memory` does), so the compiler never
///   assumes the bytes hold still.
/// - **Through the descriptor** (every other case, including a memfd
///   sealed `SHRINK` alone, or when populating failed: no memory, no huge
///   page, a kernel before 5.14): `read_at` and `write_at` go through the
///   region's duplicate of the descriptor (`pread`/`pwrite`), which cannot
///   fault: a hole reads as zeros without allocating, a shrunk end reads
///   short, a write that cannot get memory is an error.
/// - [`as_slice`](MappedRegion::as_slice) gives `&[u8]` only for a direct
///   region of a memfd sealed with [`Seals::WRITE`] (immutable: no
///   `write`, no writable shared mapping can exist, so the bytes never
///   change). `FUTURE_WRITE` is not enough for it: mappings made writable
///   before that seal can still write.
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
///
/// What no seal can rule out is the hardware: a page that the kernel finds
/// corrupt (memory failure), or that a failing swap device cannot read
/// back, faults whoever touches it, as with any memory. A populated page
/// that was swapped out comes back without a new charge; if the system has
/// no memory for it, the kernel's out-of-memory handling runs, which is not
/// a fault of the mapping.
///
/// # Examples
///
/// A writer maps read-write, then seals the memfd against shrinking and
/// against every new writer; its region then maps directly:
///
/// ```
/// use iofd::{MemFd, Protection, Seals};
///
/// # fn main() -> std::io::Result<()> {
/// let memfd = MemFd::new_sealable("frame")?;
/// memfd.set_len(4096)?;
/// let mut region = memfd.mmap(4096, Protection::ReadWrite)?;
/// assert!(!region.maps_directly()); // anyone may still shrink or punch it
/// memfd.seal(Seals::SHRINK | Seals::FUTURE_WRITE)?;
/// assert!(region.recheck_seals()?); // now nobody else can
/// region.write_at(b"pixels", 0)?; // a copy into the mapping
///
/// let mut buf = [0u8; 6];
/// memfd.read_at(&mut buf, 0)?;
/// assert_eq!(&buf, b"pixels");
/// assert_eq!(region.as_slice(), None); // not immutable: we still write
/// # Ok(())
/// # }
/// ```
pub struct MappedRegion {
    ptr: NonNull<u8>,
    /// The length asked for: what the copies and slices reach.
    len: usize,
    /// The length mapped: `len` rounded up to the file system's page size
    /// (the huge page size on hugetlbfs, whose `munmap` refuses anything
    /// else).
    map_len: usize,
    /// Where the region starts in the file.
    offset: u64,
    prot: Protection,
    access: Access,
}

/// How a [`MappedRegion`]'s safe copies reach the bytes.
enum Access {
    /// Sealed SHRINK and WRITE or FUTURE_WRITE (seals read before the size),
    /// inside the file, and populated: every page is present and can never
    /// go away, so copies touch the mapping. `immutable`: sealed WRITE,
    /// nobody can change the bytes.
    Mapping { immutable: bool },
    /// Otherwise: copies go through this duplicate of the memfd's
    /// descriptor, which cannot fault.
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

/// Whether `seals` keep every page of a region inside the file: no shrink,
/// and no hole punched (the kernel refuses `fallocate` and `MADV_REMOVE` on
/// a file sealed `WRITE` or `FUTURE_WRITE`).
fn seals_keep_the_pages(seals: Seals) -> bool {
    seals.contains(Seals::SHRINK)
        && (seals.contains(Seals::WRITE) || seals.contains(Seals::FUTURE_WRITE))
}

impl MappedRegion {
    /// Maps `len` bytes of the memfd `fd` from `offset`: the body of
    /// [`MemFd::mmap_at`](super::MemFd::mmap_at), which documents it.
    pub(super) fn map(
        fd: &OwnedFd,
        len: usize,
        prot: Protection,
        offset: u64,
    ) -> io::Result<MappedRegion> {
        if len == 0 {
            return Err(invalid_input("cannot map 0 bytes"));
        }
        let page = file_page_size(fd)?;
        if !offset.is_multiple_of(page as u64) {
            return Err(invalid_input_owned(format!(
                "mapping offset {offset} is not a multiple of the page size ({page})"
            )));
        }
        let map_len = len.checked_next_multiple_of(page).ok_or_else(|| {
            invalid_input_owned(format!("mapping {len} bytes overflows the address space"))
        })?;
        // The seals are read *before* the size, and the order is what makes
        // the checks below sound. Seals are never removed: a SHRINK seal
        // seen here is in force when the size is read afterwards, so that
        // size can only grow from then on. Read the other way round, a peer
        // could truncate and seal between the two reads, and a stale large
        // size would pass for the region of a file that is now empty.
        let seals = Seals::from_bits(fcntl_get_seals(fd)?.bits());
        let size = fstat(fd)?.st_size as u64;
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|end| end > size) {
            return Err(invalid_input_owned(format!(
                "mapping {len} bytes at {offset} goes past the end of the memfd ({size} bytes): \
                 set_len first"
            )));
        }
        // Taken before mapping, so that no error path needs an unmap; a
        // direct region closes it.
        let dup = rustix::io::fcntl_dupfd_cloexec(fd, 0)?;
        let prot_flags = match prot {
            Protection::Read => ProtFlags::READ,
            Protection::ReadWrite => ProtFlags::READ | ProtFlags::WRITE,
        };
        // A null hint lets the kernel choose an address that overlaps no
        // existing mapping; `map_len` is non-zero and the descriptor is open.
        // SAFETY: so the new mapping affects no Rust object.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                map_len,
                prot_flags,
                MapFlags::SHARED,
                fd,
                offset,
            )?
        };
        let Some(ptr) = NonNull::new(ptr.cast::<u8>()) else {
            return Err(io::Error::other("mmap returned a null mapping"));
        };
        let mut region = MappedRegion {
            ptr,
            len,
            map_len,
            offset,
            prot,
            access: Access::Descriptor(dup),
        };
        if seals_keep_the_pages(seals) && region.populate().is_ok() {
            region.access = Access::Mapping {
                immutable: seals.contains(Seals::WRITE),
            };
        }
        Ok(region)
    }

    /// Faults in every page of the mapping, reporting a failure (no memory,
    /// no free huge page, `EINVAL` before Linux 5.14) instead of raising
    /// `SIGBUS` as a touch would.
    fn populate(&self) -> io::Result<()> {
        let advice = match self.prot {
            Protection::Read => Advice::LinuxPopulateRead,
            Protection::ReadWrite => Advice::LinuxPopulateWrite,
        };
        // The range is exactly this region's own mapping, of its protection.
        // SAFETY: populating changes no byte and no mapping.
        unsafe { rustix::mm::madvise(self.ptr.as_ptr().cast(), self.map_len, advice)? };
        Ok(())
    }

    /// Reads the memfd's seals again, through the region's descriptor, and
    /// switches the region to direct copies if they now keep its pages:
    /// returns whether the region [`maps_directly`](MappedRegion::maps_directly)
    /// afterwards.
    ///
    /// This is how a writer gets the direct path: `FUTURE_WRITE` forbids new
    /// writable mappings, so the writer maps read-write first, seals
    /// `SHRINK | FUTURE_WRITE` (or `WRITE`, once no shared mapping is left),
    /// then calls this. It populates the mapping as
    /// [`mmap_at`](crate::MemFd::mmap_at) does.
    ///
    /// Returns `false` if the seals are still not enough, if the memfd
    /// shrank below the region before it was sealed, or if populating
    /// failed (no memory, no free huge page, a kernel before 5.14); the
    /// region then keeps copying through the descriptor.
    ///
    /// # Errors
    ///
    /// The error of `fcntl(F_GET_SEALS)` or `fstat(2)`.
    pub fn recheck_seals(&mut self) -> io::Result<bool> {
        let Access::Descriptor(fd) = &self.access else {
            return Ok(true);
        };
        let seals = Seals::from_bits(fcntl_get_seals(fd)?.bits());
        if !seals_keep_the_pages(seals) {
            return Ok(false);
        }
        // Seals first, then the size: see `map`.
        let size = fstat(fd)?.st_size as u64;
        if self.offset + self.len as u64 > size || self.populate().is_err() {
            return Ok(false);
        }
        self.access = Access::Mapping {
            immutable: seals.contains(Seals::WRITE),
        };
        Ok(true)
    }

    /// The length in bytes, as asked at [`mmap_at`](crate::MemFd::mmap_at)
    /// (the mapping itself covers whole pages of the memfd's file system:
    /// huge pages on hugetlbfs).
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

    /// Whether [`as_slice`](MappedRegion::as_slice) is available: the
    /// region [maps directly](MappedRegion::maps_directly) and the memfd
    /// was sealed with [`Seals::WRITE`], so its contents can never change
    /// (see the type's "Soundness").
    #[inline]
    pub fn is_immutable(&self) -> bool {
        matches!(self.access, Access::Mapping { immutable: true })
    }

    /// Whether [`read_at`](MappedRegion::read_at) and
    /// [`write_at`](MappedRegion::write_at) copy through the mapping
    /// rather than through the region's descriptor: `true` exactly when,
    /// at [`mmap_at`](crate::MemFd::mmap_at) or at a successful
    /// [`recheck_seals`](MappedRegion::recheck_seals), the memfd was sealed
    /// with [`Seals::SHRINK`] and with [`Seals::WRITE`] or
    /// [`Seals::FUTURE_WRITE`], the region lay inside the file, and every
    /// page of it was populated. See the type's "Soundness".
    #[inline]
    pub fn maps_directly(&self) -> bool {
        matches!(self.access, Access::Mapping { .. })
    }

    /// The contents as a slice, if the region maps directly and the memfd
    /// was sealed with [`Seals::WRITE`] (and [`Seals::SHRINK`]) when
    /// mapped; `None` otherwise (see "Soundness").
    pub fn as_slice(&self) -> Option<&[u8]> {
        if !self.is_immutable() {
            return None;
        }
        // The mapping is `len` readable bytes living as long as `self`; it was
        // inside the file and sealed WRITE + SHRINK when mapped (seals read
        // before the size), then populated, and seals are permanent, so
        // nothing can change or remove the bytes, and reading them cannot
        // fault.
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
                // `offset + n <= len`, and every page is present and stays
                // (sealed SHRINK and against hole punching before the size
                // was checked, then populated), so the source is readable
                // mapped memory that cannot fault; `buf` is a distinct Rust
                // buffer.
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
    /// A region that copies through the descriptor (see
    /// [`maps_directly`](MappedRegion::maps_directly)) writes with
    /// `pwrite(2)`, at the offset even when the memfd is in append mode
    /// (`O_APPEND`): if a peer has shrunk the memfd, the write grows it
    /// back instead of faulting.
    ///
    /// # Errors
    ///
    /// - `PermissionDenied` for a region mapped [`Protection::Read`].
    /// - `InvalidInput` if `offset` is past the end of the region.
    /// - For a region that copies through the descriptor, the error of
    ///   `pwrite(2)` (`EPERM` if sealed against writing, or against growing
    ///   and the memfd has shrunk; `ENOSPC` when no memory can be charged;
    ///   `EINVAL` on huge-page memfds, which take no `write`). Before Linux
    ///   6.9 the write goes through a private reopen of the memfd (see
    ///   [`MemFd::write_at`](crate::MemFd::write_at)), whose error names
    ///   `O_APPEND`.
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
                // are present and stay (sealed SHRINK and against hole
                // punching, then populated for writing); `&mut self`
                // excludes Rust references to them; peers are reached
                // without references.
                // SAFETY: the contract of `copy_to_shared`.
                unsafe { copy_to_shared(&buf[..n], self.ptr.as_ptr().add(offset)) };
                Ok(n)
            }
            Access::Descriptor(fd) => {
                // At the offset even if the file is in append mode.
                write_all_at(fd.as_fd(), &buf[..n], self.offset + offset as u64)?;
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
    /// any mapping, descriptor or process), the memfd must not shrink below
    /// the region nor have a hole punched in it, and each page must be
    /// present or get memory when touched (see the type's "Soundness").
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
    /// descriptor or process), the memfd must not shrink below the region
    /// nor have a hole punched in it, and each page must be present or get
    /// memory when touched.
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
        let (ptr, len) = (self.ptr, self.map_len);
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
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.map_len) };
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

/// The page size of the file system `fd`'s file lives on (`fstatfs`
/// `f_bsize`): the huge page size on hugetlbfs, the base page size on
/// tmpfs. Mappings of the file are made, and unmapped, in whole pages of it.
fn file_page_size(fd: &OwnedFd) -> io::Result<usize> {
    let base = rustix::param::page_size();
    let block = rustix::fs::fstatfs(fd)?.f_bsize;
    Ok(usize::try_from(block).map_or(base, |block| block.max(base)))
}
