//! [`MemFdOptions`]: the builder that creates a [`MemFd`].

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals};

use super::MemFd;
use crate::error::{SANDBOX, SyscallError, invalid_input, invalid_input_owned, syscall_error};

/// The longest name `memfd_create(2)` accepts, in bytes (`NAME_MAX` less
/// the `"memfd:"` prefix).
pub const MEMFD_NAME_MAX: usize = 249;

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
    /// [`seals`](MemFd::seals) then already holds [`Seals::EXEC`](crate::Seals::EXEC). Older
    /// kernels refuse the flag with `EINVAL`, and the memfd is created
    /// without it. A memfd created without [`allow_sealing`] has
    /// [`Seals::SEAL`](crate::Seals::SEAL) set, so [`seal`](MemFd::seal) always fails with
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
