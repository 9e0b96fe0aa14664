//! [`PidFd::from_owned_child`]: a child handed over to its pidfd, which
//! then reaps it.

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
    /// **Wait before dropping.** A pidfd never reaps on `Drop`: a drop
    /// cannot wait, and reaping only a child that happens to have exited
    /// already would make the outcome depend on timing. A pidfd dropped
    /// before the child was reaped leaves it running; once it exits it is a
    /// zombie until this process exits — as with a `std::process::Child`
    /// dropped without `wait`. To stop a child for good, send it
    /// [`Signal::KILL`](crate::Signal::KILL), then `wait`: the reap then
    /// takes no longer than the kernel needs to end the process.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if the child has already been reaped
    ///   (`Child::wait` or `try_wait` returned its status: its pid may
    ///   already name another process), or its id does not fit a pid.
    /// - As [`PidFd::open`] otherwise (`EMFILE`, `Unsupported` before Linux
    ///   5.3). The `Child` is dropped on error (the process is not killed).
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
    pub fn from_owned_child(child: Child) -> io::Result<PidFd> {
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
            | rustix::process::WaitIdOptions::NOWAIT;
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
            fd: Descriptor::owning(self.fd.into_owned(), None),
            ..self
        }
    }
}

#[cold]
fn already_reaped(pid: i32) -> io::Error {
    invalid_input_owned(format!(
        "child {pid} has already been reaped (by Child::wait or try_wait): \
         its pid may name another process; pass a child that was never waited for"
    ))
}
