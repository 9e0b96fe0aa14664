//! [`MappedRegion`] and [`Protection`]: a shared mapping of a memfd whose
//! safe methods cannot fault.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::fs::{fcntl_get_seals, fstat};
use rustix::mm::{MapFlags, ProtFlags};

use super::Seals;
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
        let seals = Seals::from_bits(fcntl_get_seals(fd)?.bits());
        let size = fstat(fd)?.st_size as u64;
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
            Access::Descriptor(rustix::io::fcntl_dupfd_cloexec(fd, 0)?)
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
                fd,
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
