//! Adopting a descriptor as a [`MemFd`] (`TryFrom<OwnedFd>`): the check
//! that it is a memfd, made by `memfd_create` on this kernel.
//!
//! The checks run in an order in which none can block on a hostile file
//! system (a FUSE or hard NFS mount whose server does not answer): the
//! `/proc/thread-self/fd` link first (the kernel builds it from its own
//! dentries, with no call into the file system), then `statx` with
//! `AT_STATX_DONT_SYNC` (cached attributes: FUSE and NFS do not ask their
//! server), then the device comparison. Only a file that passed them all,
//! and is therefore on the kernel's own memfd file system, is asked for its
//! seals. No `fstatfs`: FUSE forwards it to its server.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::OnceLock;

use rustix::fs::{AtFlags, FileType, MemfdFlags, StatxFlags, fcntl_get_seals};

use super::MemFd;
use crate::adopt::AdoptError;

impl TryFrom<OwnedFd> for MemFd {
    type Error = AdoptError;

    /// Adopts `fd` if it is a memfd, taking the name from its
    /// `/proc/thread-self/fd` link; otherwise hands `fd` back inside the
    /// error.
    ///
    /// # What the check proves
    ///
    /// That `fd`'s file was made by `memfd_create(2)` on this kernel, in
    /// this or any other process: not a file of any tmpfs, hugetlbfs,
    /// FUSE or other mount, attached or detached, whatever its name. The
    /// checks, in this order (none can block, see below):
    ///
    /// 1. its link in `/proc/thread-self/fd` (this thread's descriptor
    ///    table) reads `/memfd:NAME (deleted)`;
    /// 2. it is a regular file with no link in any directory (`nlink` 0);
    /// 3. it lives on the same file system instance (`st_dev`) as a memfd
    ///    that this process creates: the kernel's internal shmem mount,
    ///    made once per process and cached, or, for huge pages, the
    ///    kernel's internal hugetlbfs mount of one of the huge page sizes
    ///    (a probe memfd is made for each size until one matches, at each
    ///    adoption of a file not on the shmem mount).
    ///    Nothing can be mounted there or opened from there by path: only
    ///    the kernel makes files on them: `memfd_create`, and also System V
    ///    shared memory and shared anonymous mappings, whose links read
    ///    `/SYSV…` and `/dev/zero` (or `anon_hugepage`), never `/memfd:`, a
    ///    prefix the kernel writes itself and nobody can rename;
    /// 4. it answers `F_GET_SEALS`.
    ///
    /// What it does **not** prove: who made the memfd, what it holds, or
    /// that its sender cannot change it. To accept only memory that the
    /// sender can no longer change, follow with
    /// [`require_seals`](MemFd::require_seals).
    ///
    /// None of the checks can block on a file system whose server does not
    /// answer (FUSE, a hard NFS mount): the link is built by the kernel
    /// from its own records, the attributes are read with
    /// `AT_STATX_DONT_SYNC` (cached, no request to a server), and only a
    /// file on the kernel's memfd file system is asked for its seals.
    ///
    /// # Errors
    ///
    /// [`AdoptError`] (holding `fd`) if `fd` is not a memfd; or if `/proc`
    /// cannot be read, its attributes cannot be read, or this process
    /// cannot create the memfd it compares with (`memfd_create` forbidden
    /// by a sandbox, no descriptor free).
    fn try_from(fd: OwnedFd) -> Result<MemFd, AdoptError> {
        let link = match read_link(fd.as_fd()) {
            Ok(link) => link,
            Err(error) => return Err(AdoptError::failed(fd, "memfd", error)),
        };
        let Some(name) = name_in_link(&link) else {
            return Err(wrong_kind(fd, &link, ""));
        };
        let attributes = match cached_attributes(fd.as_fd()) {
            Ok(attributes) => attributes,
            Err(error) => return Err(AdoptError::failed(fd, "memfd", error)),
        };
        if !attributes.is_regular || attributes.nlink != 0 {
            let what = format!(", a file with {} links in directories", attributes.nlink);
            return Err(wrong_kind(fd, &link, &what));
        }
        match on_memfd_file_system(attributes.dev) {
            Ok(true) => {}
            Ok(false) => {
                let what = ", a file outside the kernel's memfd file systems";
                return Err(wrong_kind(fd, &link, what));
            }
            Err(error) => return Err(AdoptError::failed(fd, "memfd", error)),
        }
        if fcntl_get_seals(&fd).is_err() {
            return Err(wrong_kind(fd, &link, ", a file without seals"));
        }
        Ok(MemFd { fd, name })
    }
}

/// The wrong-kind error for `fd`, whose link is `link`, with `what` added.
#[cold]
fn wrong_kind(fd: OwnedFd, link: &OsStr, what: &str) -> AdoptError {
    let found = format!("{}{what}", link.to_string_lossy());
    AdoptError::wrong_kind(fd, "memfd", found)
}

/// `fd`'s link in this thread's descriptor table, as raw bytes.
fn read_link(fd: BorrowedFd<'_>) -> io::Result<OsString> {
    let path = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    match std::fs::read_link(&path) {
        Ok(target) => Ok(target.into_os_string()),
        Err(error) => Err(io::Error::new(
            error.kind(),
            format!("reading {path} (needs /proc mounted): {error}"),
        )),
    }
}

/// The name in a `/memfd:NAME (deleted)` link; `None` for another form.
fn name_in_link(link: &OsStr) -> Option<OsString> {
    let rest = link.as_bytes().strip_prefix(b"/memfd:")?;
    let name = rest.strip_suffix(b" (deleted)").unwrap_or(rest);
    Some(OsString::from_vec(name.to_vec()))
}

/// What adoption needs of a file's attributes.
struct Attributes {
    is_regular: bool,
    nlink: u64,
    dev: Dev,
}

/// A device number, as `(major, minor)`.
type Dev = (u32, u32);

/// `fd`'s attributes, from the kernel's cache: `statx` with
/// `AT_STATX_DONT_SYNC`, which FUSE and NFS answer without asking their
/// server. `fstat` only where `statx` is missing (before Linux 4.11).
fn cached_attributes(fd: BorrowedFd<'_>) -> io::Result<Attributes> {
    let flags = AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC;
    let mask = StatxFlags::TYPE | StatxFlags::NLINK;
    match rustix::fs::statx(fd, "", flags, mask) {
        Ok(stat) => Ok(Attributes {
            is_regular: FileType::from_raw_mode(u32::from(stat.stx_mode)) == FileType::RegularFile,
            nlink: u64::from(stat.stx_nlink),
            dev: (stat.stx_dev_major, stat.stx_dev_minor),
        }),
        Err(rustix::io::Errno::NOSYS) => {
            let stat = rustix::fs::fstat(fd)?;
            #[allow(
                clippy::unnecessary_cast,
                reason = "st_nlink's integer type differs between back ends and targets"
            )]
            Ok(Attributes {
                is_regular: FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile,
                nlink: stat.st_nlink as u64,
                dev: (
                    rustix::fs::major(stat.st_dev),
                    rustix::fs::minor(stat.st_dev),
                ),
            })
        }
        Err(errno) => Err(errno.into()),
    }
}

/// Whether `dev` is the kernel's internal shmem mount (where every plain
/// memfd lives) or one of its internal hugetlbfs mounts (one per huge page
/// size), found by creating a memfd of each kind and reading its device.
fn on_memfd_file_system(dev: Dev) -> io::Result<bool> {
    if dev == shmem_dev()? {
        return Ok(true);
    }
    for size in huge_page_flags() {
        // A size the kernel has no pool for is refused: not this one.
        if let Ok(probe) = probe_memfd(MemfdFlags::HUGETLB | size) {
            if cached_attributes(probe.as_fd())?.dev == dev {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The device of the kernel's internal shmem mount, read once per process
/// from a memfd made for the purpose (and closed).
fn shmem_dev() -> io::Result<Dev> {
    static SHMEM_DEV: OnceLock<Dev> = OnceLock::new();
    if let Some(dev) = SHMEM_DEV.get() {
        return Ok(*dev);
    }
    let probe = probe_memfd(MemfdFlags::empty())?;
    let dev = cached_attributes(probe.as_fd())?.dev;
    Ok(*SHMEM_DEV.get_or_init(|| dev))
}

/// A new, empty, close-on-exec memfd with `flags`, to compare devices with.
fn probe_memfd(flags: MemfdFlags) -> io::Result<OwnedFd> {
    let name = c"iofd-probe";
    let flags = flags | MemfdFlags::CLOEXEC;
    // MFD_NOEXEC_SEAL where known (6.3+), so that `vm.memfd_noexec = 2`
    // cannot refuse the probe; older kernels refuse the flag itself.
    match rustix::fs::memfd_create(name, flags | MemfdFlags::NOEXEC_SEAL) {
        Err(rustix::io::Errno::INVAL) => Ok(rustix::fs::memfd_create(name, flags)?),
        result => Ok(result?),
    }
}

/// The `MFD_HUGE_*` size flags to probe: the default huge page size (no
/// flag), then every power of two from 64 KiB to 16 GiB, the range of the
/// huge page sizes of Linux's architectures (the kernel refuses a size it
/// has no pool for with `EINVAL`, at once). Not read from
/// `/sys/kernel/mm/hugepages`: listing a directory may `fstat` it.
fn huge_page_flags() -> impl Iterator<Item = MemfdFlags> {
    /// `MFD_HUGE_SHIFT`: the size flag is log2(size) shifted by this.
    const MFD_HUGE_SHIFT: u32 = 26;
    std::iter::once(MemfdFlags::empty())
        .chain((16..=34).map(|log2: u32| MemfdFlags::from_bits_retain(log2 << MFD_HUGE_SHIFT)))
}
