//! [`PidFd::from_owned_child`]: a child handed over to its pidfd, which
//! then reaps it.

use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::process::Child;

use super::PidFd;
use super::descriptor::Descriptor;
use crate::error::{invalid_input, invalid_input_owned};

impl PidFd {
    /// Takes a child started with [`std::process::Command`] **by value**
    /// and returns a pidfd that owns it: [`wait`](PidFd::wait) and
    /// [`try_wait`](PidFd::try_wait) reap it (like std's unstable
    /// `ChildExt::into_pidfd` on Linux).
    ///
    /// Taking the `Child` is what makes this safe: nothing is left that
    /// could reap the child behind the pidfd's back, or signal its pid
    /// after it has been reaped and reused (`Child::kill` signals by pid).
    /// Until the pidfd reaps it, an exited child stays a zombie holding its
    /// pid, so the pidfd names it from the first instant to the reap; after
    /// the reap, `send_signal` fails with `ESRCH` instead of reaching
    /// another process.
    ///
    /// Take the pipes you need out of the `Child` first
    /// (`child.stdout.take()`): those still in it are closed here.
    ///
    /// # Caveats
    ///
    /// - **Dropping reaps.** When the last handle that owns the child
    ///   goes (this one, its [`try_clone`](PidFd::try_clone)s, an
    ///   `AsyncPidFd` holding it) before the child was reaped, the drop
    ///   reaps it if it has exited (one `waitid(P_PIDFD, WEXITED |
    ///   WNOHANG)`), and otherwise hands the pidfd to the process's one
    ///   helper thread (`iofd-helper`, started on first need, ended when
    ///   it serves nothing), which reaps the child when it exits and then
    ///   closes the pidfd. So no zombie remains, and no pid can be reused
    ///   behind a handle. A drop never blocks and never kills the child:
    ///   to stop it, send [`Signal::KILL`](crate::Signal::KILL) first. If
    ///   the thread cannot be started (no descriptor or thread left), the
    ///   child stays a zombie once it exits.
    /// - **`fork`.** Only the process that made the handle (the child's
    ///   parent) reaps: a handle dropped in a `fork`ed copy only closes
    ///   its descriptor. A forked process that drops owning handles of
    ///   its own children starts a helper thread of its own.
    /// - **Handing the child over.** [`observe_only`](PidFd::observe_only),
    ///   `IntoRawFd` and `From<PidFd> for OwnedFd` give the duty to reap to
    ///   the caller: nothing reaps the child behind the descriptor they
    ///   return. ([`close`](PidFd::close) does what a drop does.)
    /// - A handle registered with a `mio::Poll` must be deregistered before
    ///   it is dropped (as mio requires): the helper thread may keep the
    ///   descriptor open until the child exits.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if the child has already been reaped
    ///   (`Child::wait` or `try_wait` returned its status: its pid may
    ///   already name another process), or its id does not fit a pid.
    /// - As [`PidFd::open`] otherwise (`EMFILE`, `Unsupported` before Linux
    ///   5.3).
    ///
    /// The error hands the `Child` back, untouched
    /// ([`OwnedChildError::into_child`]), so it can still be waited for or
    /// killed; `?` in a function returning `io::Result` keeps the
    /// `io::Error` (and drops the `Child`, as std does: not killed, not
    /// reaped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use std::process::Command;
    /// use iofd::{PidFd, Signal};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let pidfd = PidFd::from_owned_child(Command::new("sleep").arg("30").spawn()?)?;
    /// assert!(pidfd.reaps());
    /// pidfd.send_signal(Signal::TERM)?;
    /// let status = pidfd.wait()?; // reaped: no zombie is left
    /// assert_eq!(status.signal(), Some(libc::SIGTERM));
    /// assert_eq!(pidfd.wait()?.signal(), Some(libc::SIGTERM)); // the status is kept
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_owned_child(child: Child) -> Result<PidFd, OwnedChildError> {
        match PidFd::owning(&child) {
            // The pidfd owns the child now; the `Child` only closes its
            // pipes.
            Ok(pidfd) => Ok(pidfd),
            Err(error) => Err(OwnedChildError { child, error }),
        }
    }

    /// A pidfd that owns `child` (the caller drops the `Child` once it
    /// keeps the pidfd, or [disowns](PidFd::observe_only) it to give the
    /// `Child` back).
    pub(crate) fn owning(child: &Child) -> io::Result<PidFd> {
        let pid = i32::try_from(child.id())
            .map_err(|_| invalid_input("child pid does not fit in pid_t"))?;
        let pidfd = match PidFd::open(pid) {
            Ok(pidfd) => pidfd,
            // Only a reaped child's pid can be gone: ours are zombies until
            // reaped.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                return Err(already_reaped(pid));
            }
            Err(e) => return Err(e),
        };
        // A pid opened after `Child::wait` reaped it would name another
        // process, or none: a pidfd for a process that is not our child
        // says ECHILD here. (A reused pid that went to another child of
        // ours cannot be told apart; the documentation forbids passing a
        // reaped child.)
        let observe = rustix::process::WaitIdOptions::EXITED
            | rustix::process::WaitIdOptions::NOHANG
            | rustix::process::WaitIdOptions::NOWAIT
            | super::WALL;
        match rustix::process::waitid(rustix::process::WaitId::PidFd(pidfd.as_fd()), observe) {
            Err(rustix::io::Errno::CHILD) => Err(already_reaped(pid)),
            // Running, exited, or (Linux 5.3 without P_PIDFD) unknown: the
            // pidfd reports that at its first wait. From here on it owns
            // the child: the last owning handle to go reaps it.
            _ => Ok(pidfd.into_owning()),
        }
    }
}

impl PidFd {
    /// This handle, now owning its child: the last owning handle (it or a
    /// clone) to go reaps it.
    fn into_owning(self) -> PidFd {
        PidFd {
            fd: Descriptor::owning(self.fd.into_owned(), &self.status),
            ..self
        }
    }
}

/// The error of [`PidFd::from_owned_child`] and
/// [`AsyncPidFd::from_owned_child`](crate::AsyncPidFd::from_owned_child):
/// why it failed, and the `Child`, handed back untouched (not waited for,
/// not killed), so that it can still be reaped or stopped.
///
/// `From<OwnedChildError> for io::Error` keeps the error (and drops the
/// `Child`), so `?` works in a function that returns `io::Result`.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use iofd::PidFd;
///
/// # fn main() -> std::io::Result<()> {
/// let child = Command::new("true").spawn()?;
/// let pidfd = match PidFd::from_owned_child(child) {
///     Ok(pidfd) => pidfd,
///     Err(e) => {
///         let (mut child, error) = e.into_parts();
///         child.kill()?; // still ours: stop it and reap it
///         child.wait()?;
///         return Err(error);
///     }
/// };
/// assert!(pidfd.wait()?.success());
/// # Ok(())
/// # }
/// ```
pub struct OwnedChildError {
    pub(crate) child: Child,
    pub(crate) error: io::Error,
}

impl OwnedChildError {
    /// The `Child` and the error.
    pub fn into_parts(self) -> (Child, io::Error) {
        (self.child, self.error)
    }

    /// The `Child` that was not taken over.
    pub fn into_child(self) -> Child {
        self.child
    }

    /// Why the child was not taken over.
    pub fn error(&self) -> &io::Error {
        &self.error
    }

    /// The kind of [`error`](OwnedChildError::error).
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }
}

impl fmt::Debug for OwnedChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedChildError")
            .field("pid", &self.child.id())
            .field("error", &self.error)
            .finish()
    }
}

impl fmt::Display for OwnedChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot take over child {} (handed back in the error): {}",
            self.child.id(),
            self.error
        )
    }
}

impl std::error::Error for OwnedChildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<OwnedChildError> for io::Error {
    /// Keeps the error and drops the `Child` (as std drops one: the process
    /// is neither killed nor reaped).
    fn from(err: OwnedChildError) -> io::Error {
        err.error
    }
}

#[cold]
fn already_reaped(pid: i32) -> io::Error {
    invalid_input_owned(format!(
        "child {pid} has already been reaped (by Child::wait or try_wait): \
         its pid may name another process; pass a child that was never waited for"
    ))
}
