//! Adopting a descriptor as a typed handle (`TryFrom<OwnedFd>`): checking
//! its kind, recovering the handle's state, and [`AdoptError`], which hands
//! the descriptor back when it is not what was expected.
//!
//! The kernel names what a descriptor is in its `/proc/thread-self/fd`
//! link (`anon_inode:[eventfd]`, `pipe:[…]`, a path) and the handle's state
//! in `/proc/thread-self/fdinfo` (`eventfd-semaphore`, `clockid`,
//! `sigmask`, `Pid`, and the open `flags`). The calling thread's table is
//! the one read (`thread-self`, not `self`, which is the main thread's): a
//! thread that has its own table (`unshare(CLONE_FILES)`) adopts its own
//! descriptor, not the main thread's descriptor of the same number.
//!
//! # References
//!  - [`proc_pid_fdinfo(5)`](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::fs::OFlags;
use rustix::fs::{fcntl_getfl, fcntl_setfl};

/// The error of adopting a descriptor as a typed handle
/// (`TryFrom<OwnedFd>` on [`EventFd`](crate::EventFd),
/// [`TimerFd`](crate::TimerFd), [`SignalFd`](crate::SignalFd),
/// [`PidFd`](crate::PidFd) and [`MemFd`](crate::MemFd)): the descriptor is
/// of another kind, or its kind could not be read. The descriptor is handed
/// back, not closed: take it with [`into_fd`](AdoptError::into_fd).
///
/// Converted into an [`io::Error`] (which closes the descriptor), a wrong
/// kind is [`InvalidInput`](io::ErrorKind::InvalidInput); a kind that could
/// not be read keeps the kind of the error that prevented it (for example
/// `NotFound` without `/proc`, where the kind is read).
///
/// # Examples
///
/// ```
/// use std::os::fd::OwnedFd;
/// use iofd::EventFd;
///
/// let (reader, _writer) = std::io::pipe()?;
/// let err = EventFd::try_from(OwnedFd::from(reader)).unwrap_err();
/// assert_eq!(err.expected(), "eventfd");
/// assert!(err.found().unwrap().starts_with("pipe:["));
/// let reader = err.into_fd(); // handed back, still open
/// # drop(reader);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AdoptError {
    fd: OwnedFd,
    expected: &'static str,
    found: Found,
}

/// What the descriptor turned out to be.
enum Found {
    /// Another kind: its `/proc/thread-self/fd` link, or a description.
    Kind(String),
    /// Its kind or state could not be read, or a flag not set.
    Failed(io::Error),
}

impl AdoptError {
    /// A descriptor of another kind than `expected`; `found` describes it.
    pub(crate) fn wrong_kind(fd: OwnedFd, expected: &'static str, found: String) -> AdoptError {
        AdoptError {
            fd,
            expected,
            found: Found::Kind(found),
        }
    }

    /// A descriptor whose kind or state could not be read (`error` says
    /// what failed), or that could not be given a flag it needs.
    pub(crate) fn failed(fd: OwnedFd, expected: &'static str, error: io::Error) -> AdoptError {
        AdoptError {
            fd,
            expected,
            found: Found::Failed(error),
        }
    }

    /// The descriptor, still open.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// The kind that was expected, such as `"eventfd"` or `"memfd"`.
    pub fn expected(&self) -> &'static str {
        self.expected
    }

    /// What the descriptor is instead: its `/proc/thread-self/fd` link (such as
    /// `pipe:[4321]`, `socket:[4321]`, `anon_inode:[timerfd]` or a path),
    /// or `None` if that could not be read.
    pub fn found(&self) -> Option<&str> {
        match &self.found {
            Found::Kind(found) => Some(found),
            Found::Failed(_) => None,
        }
    }
}

impl fmt::Display for AdoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fd = self.fd.as_raw_fd();
        match &self.found {
            Found::Kind(found) => {
                write!(
                    f,
                    "descriptor {fd} is not a {}: it is {found}",
                    self.expected
                )
            }
            Found::Failed(error) => {
                write!(
                    f,
                    "cannot adopt descriptor {fd} as a {}: {error}",
                    self.expected
                )
            }
        }
    }
}

impl fmt::Debug for AdoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("AdoptError");
        debug
            .field("fd", &self.fd.as_raw_fd())
            .field("expected", &self.expected);
        match &self.found {
            Found::Kind(found) => debug.field("found", found),
            Found::Failed(error) => debug.field("failed", error),
        };
        debug.finish()
    }
}

impl std::error::Error for AdoptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.found {
            Found::Kind(_) => None,
            Found::Failed(error) => Some(error),
        }
    }
}

impl From<AdoptError> for io::Error {
    /// Keeps the message (and closes the descriptor).
    fn from(err: AdoptError) -> io::Error {
        let kind = match &err.found {
            Found::Kind(_) => io::ErrorKind::InvalidInput,
            Found::Failed(error) => error.kind(),
        };
        io::Error::new(kind, err.to_string())
    }
}

impl AsFd for AdoptError {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for AdoptError {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What the kernel says of one descriptor of a known kind: its fdinfo.
pub(crate) struct Inspected {
    fdinfo: String,
}

impl Inspected {
    /// The value of fdinfo line `key:` (trimmed), if there is one.
    pub(crate) fn field(&self, key: &str) -> Option<&str> {
        self.fdinfo.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == key).then(|| value.trim())
        })
    }

    /// The open flags (fdinfo `flags:`, octal), if readable.
    pub(crate) fn flags(&self) -> Option<u32> {
        u32::from_str_radix(self.field("flags")?, 8).ok()
    }
}

/// The fdinfo of `fd` (`/proc/thread-self/fdinfo/N`).
pub(crate) fn fdinfo(fd: &OwnedFd) -> io::Result<Inspected> {
    let path = format!("/proc/thread-self/fdinfo/{}", fd.as_raw_fd());
    match std::fs::read_to_string(&path) {
        Ok(fdinfo) => Ok(Inspected { fdinfo }),
        Err(error) => Err(in_proc(&path, error)),
    }
}

/// Adopts a pollable handle: checks that `fd` is the anonymous-inode kind
/// `kind` (its link reads `anon_inode:[kind]`), reads the handle's state
/// from its fdinfo line `field` with `parse`, and sets `O_NONBLOCK`. Any
/// failure hands `fd` back in the error.
pub(crate) fn adopt_pollable<T>(
    fd: OwnedFd,
    kind: &'static str,
    field: &str,
    parse: impl FnOnce(Option<&str>) -> Option<T>,
) -> Result<(OwnedFd, T), AdoptError> {
    adopt_pollable_by(fd, kind, field, |inspected| parse(inspected.field(field)))
}

/// As [`adopt_pollable`], with `parse` reading the whole fdinfo; `field`
/// names what it needs, for the error when it answers `None`.
pub(crate) fn adopt_pollable_by<T>(
    fd: OwnedFd,
    kind: &'static str,
    field: &str,
    parse: impl FnOnce(&Inspected) -> Option<T>,
) -> Result<(OwnedFd, T), AdoptError> {
    let (fd, inspected) = inspect_anon(fd, kind)?;
    let Some(state) = parse(&inspected) else {
        return Err(missing_field(fd, kind, field));
    };
    let fd = set_nonblocking(fd, kind)?;
    Ok((fd, state))
}

/// Reads `fd`'s link and fdinfo, and checks that it is the anonymous-inode
/// kind `kind` (as in `anon_inode:[eventfd]`); the error hands `fd` back.
fn inspect_anon(fd: OwnedFd, kind: &'static str) -> Result<(OwnedFd, Inspected), AdoptError> {
    let link = match read_link(&fd) {
        Ok(link) => link,
        Err(error) => return Err(AdoptError::failed(fd, kind, error)),
    };
    let is_kind = link
        .strip_prefix("anon_inode:")
        .is_some_and(|name| name == format!("[{kind}]") || name == kind);
    if !is_kind {
        return Err(AdoptError::wrong_kind(fd, kind, link));
    }
    let inspected = match fdinfo(&fd) {
        Ok(inspected) => inspected,
        Err(error) => return Err(AdoptError::failed(fd, kind, error)),
    };
    // An O_PATH descriptor names the object but cannot read, write or
    // poll it: no handle can use it.
    if inspected.flags().is_some_and(|flags| flags & O_PATH != 0) {
        let found = format!(
            "an O_PATH descriptor of {link} (it only names the object: \
             it cannot be read, written or polled)"
        );
        return Err(AdoptError::wrong_kind(fd, kind, found));
    }
    Ok((fd, inspected))
}

/// `O_PATH`, as fdinfo's `flags` show it.
const O_PATH: u32 = libc::O_PATH as u32;

/// The `/proc/thread-self/fd` link of `fd` (the calling thread's
/// descriptor table), lossily as UTF-8 (paths may not be).
pub(crate) fn read_link(fd: &OwnedFd) -> io::Result<String> {
    let path = format!("/proc/thread-self/fd/{}", fd.as_raw_fd());
    let target = std::fs::read_link(&path).map_err(|error| in_proc(&path, error))?;
    Ok(target.to_string_lossy().into_owned())
}

/// `error` from reading `path`, saying which file and that it needs /proc.
#[cold]
fn in_proc(path: &str, error: io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("reading {path} (needs /proc mounted): {error}"),
    )
}

/// A fdinfo field that is missing or malformed: the descriptor is of the
/// right kind, but the kernel did not say what the handle needs.
fn missing_field(fd: OwnedFd, expected: &'static str, field: &str) -> AdoptError {
    let error = io::Error::new(
        io::ErrorKind::InvalidData,
        format!("its fdinfo has no readable `{field}` line"),
    );
    AdoptError::failed(fd, expected, error)
}

/// Sets `O_NONBLOCK` on `fd`'s open file description (shared with every
/// duplicate, in any process), as the pollable handles need.
fn set_nonblocking(fd: OwnedFd, expected: &'static str) -> Result<OwnedFd, AdoptError> {
    let result = fcntl_getfl(&fd).and_then(|flags| {
        if flags.contains(OFlags::NONBLOCK) {
            Ok(())
        } else {
            fcntl_setfl(&fd, flags | OFlags::NONBLOCK)
        }
    });
    match result {
        Ok(()) => Ok(fd),
        Err(errno) => Err(AdoptError::failed(fd, expected, errno.into())),
    }
}
