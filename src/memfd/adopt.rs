//! Adopting a descriptor as a [`MemFd`] (`TryFrom<OwnedFd>`): the check
//! that it is a memfd.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use rustix::fs::{fcntl_get_seals, fstat};

use super::MemFd;
use crate::adopt::{AdoptError, read_link};

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
