//! [`AsyncPidFd`].

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, ExitStatus};
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;

use super::{RegisterError, register, would_block};
use crate::error::invalid_input;
use crate::{OwnedChildError, PidFd, PidInfo, Signal, SignalScope};

/// A [`PidFd`] for tokio: `wait().await` gives a child's [`ExitStatus`];
/// `exited().await` waits for any process to end.
///
/// Any number of tasks may await one handle (in an `Arc`), and every one of
/// them, and every later `wait`, gets the same status, as with
/// `tokio::process::Child`. Whether the child is reaped follows the
/// [`PidFd`]: one made [`from_owned_child`](AsyncPidFd::from_owned_child)
/// owns the child and reaps it (the usual choice for a child you spawn);
/// one made [`from_child`](AsyncPidFd::from_child) only observes and leaves
/// reaping to the `std::process::Child`
/// ([`PidFd::observe_only`] shows the recipe for a
/// `tokio::process::Child`); one from [`PidFd::open`] reaps.
///
/// Readiness that turns out to be spurious (the reactor says readable but
/// `waitid` finds nothing) goes back to waiting; it is never reported as an
/// exit.
///
/// # Caveats
///
/// After `fork`, the child shares tokio's epoll instance with the parent:
/// dropping this handle in the child removes the parent's registration
/// too, and the parent's waits never wake. `std::mem::forget` it in a
/// forked child (or `exec` at once).
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use iofd::AsyncPidFd;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let child = Command::new("sh").args(["-c", "exit 4"]).spawn()?;
/// let pidfd = AsyncPidFd::from_owned_child(child)?; // owns and reaps it
/// assert_eq!(pidfd.wait().await?.code(), Some(4));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct AsyncPidFd {
    inner: AsyncFd<PidFd>,
    /// A second registration, of a duplicate of the pidfd, made by the
    /// first [`exit_status`](AsyncPidFd::exit_status): its waiters wait
    /// past the exit for the reap. On one registration, an `exit_status`
    /// that clears the readiness at the exit (not reaped yet) could hide
    /// the exit from an `exited` or `wait` about to register.
    reap_watch: OnceLock<AsyncFd<OwnedFd>>,
}

impl AsyncPidFd {
    /// Opens a pidfd for `child` ([`PidFd::from_child`]: it observes the
    /// exit and leaves reaping to `child`) and registers it.
    ///
    /// # Errors
    ///
    /// As [`PidFd::from_child`]; an error when no tokio runtime is current or
    /// it has no I/O driver (`enable_io`), but under `panic = "abort"` the
    /// latter aborts inside tokio
    /// ([details](crate#runtimes-without-an-io-driver)).
    pub fn from_child(child: &Child) -> io::Result<AsyncPidFd> {
        Ok(AsyncPidFd::try_from(PidFd::from_child(child)?)?)
    }

    /// Opens a pidfd for a child of `tokio::process`, which stays its owner
    /// and reaps it: the pidfd only observes ([`PidFd::observe_only`]).
    ///
    /// Race-free: while you hold `&child`, tokio cannot reap it (it reaps
    /// only in `Child::wait`, `try_wait` and `kill`, which take
    /// `&mut Child`, or after the `Child` is dropped), and `child.id()` is
    /// `Some` exactly until tokio has reaped it. So when `id()` is `Some`,
    /// the child is running or a zombie, its pid cannot have been reused,
    /// and the pidfd opened here names it. This holds as long as nothing
    /// else in the process reaps children behind tokio's back
    /// (`waitpid(-1)`, `SIGCHLD` set to `SIG_IGN`), which tokio itself
    /// requires.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if tokio has already reaped the child (`id()` is
    ///   `None`).
    /// - As [`PidFd::open`]; an error when no tokio runtime is current or it
    ///   has no I/O driver (`enable_io`), but under `panic = "abort"` the
    ///   latter aborts inside tokio
    ///   ([details](crate#runtimes-without-an-io-driver)).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{AsyncPidFd, Signal};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut child = tokio::process::Command::new("sleep").arg("30").spawn()?;
    /// let pidfd = AsyncPidFd::from_tokio_child(&child)?;
    /// pidfd.send_signal(Signal::TERM)?; // by pidfd: never a reused pid
    /// pidfd.exited().await?; // observed, not reaped
    /// let status = child.wait().await?; // tokio reaps
    /// # use std::os::unix::process::ExitStatusExt;
    /// assert_eq!(status.signal(), Some(libc::SIGTERM));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_tokio_child(child: &::tokio::process::Child) -> io::Result<AsyncPidFd> {
        let Some(id) = child.id() else {
            return Err(invalid_input(
                "the tokio child has already been reaped (Child::wait or try_wait returned \
                 its status): its pid may name another process",
            ));
        };
        let pid =
            i32::try_from(id).map_err(|_| invalid_input("child pid does not fit in pid_t"))?;
        Ok(AsyncPidFd::try_from(PidFd::open(pid)?.observe_only())?)
    }

    /// Takes a child started with [`std::process::Command`] by value and
    /// registers a pidfd that owns it and **reaps** it
    /// ([`PidFd::from_owned_child`]): [`wait`](AsyncPidFd::wait) returns
    /// its status and leaves no zombie, and no pid is left behind that
    /// could be signalled after the reap. Take the pipes you need out of
    /// the `Child` first.
    ///
    /// Dropping the handle before the child was reaped reaps it anyway,
    /// without blocking: at once if it has exited, else from the process's
    /// one helper thread when it exits, so no zombie is left (the caveats
    /// of [`PidFd::from_owned_child`] tell the details). A drop does not
    /// kill the child: send [`Signal::KILL`] first to stop it.
    ///
    /// # Errors
    ///
    /// As [`PidFd::from_owned_child`]; an error when no tokio runtime is
    /// current or it has no I/O driver (`enable_io`), but under
    /// `panic = "abort"` the latter aborts inside tokio
    /// ([details](crate#runtimes-without-an-io-driver)). Every error hands
    /// the `Child` back untouched ([`OwnedChildError::into_child`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use iofd::AsyncPidFd;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let child = AsyncPidFd::from_owned_child(Command::new("sh").args(["-c", "exit 5"]).spawn()?)?;
    /// assert_eq!(child.wait().await?.code(), Some(5)); // reaped
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_owned_child(child: Child) -> Result<AsyncPidFd, OwnedChildError> {
        let pidfd = match PidFd::owning(&child) {
            Ok(pidfd) => pidfd,
            Err(error) => return Err(OwnedChildError { child, error }),
        };
        match AsyncPidFd::try_from(pidfd) {
            // The pidfd owns the child now; the `Child` only closes its
            // pipes.
            Ok(pidfd) => Ok(pidfd),
            Err(e) => {
                let (pidfd, error) = e.into_parts();
                // Disowned: closing it neither reaps nor hands the child
                // to the helper thread; the `Child` stays its owner.
                drop(pidfd.observe_only());
                Err(OwnedChildError { child, error })
            }
        }
    }

    /// Waits for the child to exit and returns its status (reaping it if
    /// the pidfd [`reaps`](PidFd::reaps)). Every waiter, and every later
    /// call, gets the same status.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the status is kept in the handle as soon as it is seen,
    /// so a dropped `wait` loses nothing.
    ///
    /// # Errors
    ///
    /// As [`PidFd::try_wait`]: `ECHILD` for a process that is not a child
    /// (and not yet reaped), or a thread pidfd.
    pub async fn wait(&self) -> io::Result<ExitStatus> {
        // A unit of tokio's coop budget, as the readiness path takes: a
        // loop over a process that has already exited yields now and then.
        std::future::poll_fn(::tokio::task::coop::poll_proceed)
            .await
            .made_progress();
        // Ask once before waiting: an exited child needs no reactor round
        // trip, and a non-child fails at once with ECHILD instead of after
        // it exits.
        if let Some(status) = self.get_ref().try_wait_in_poll()? {
            return Ok(status);
        }
        self.inner
            .async_io(Interest::READABLE, reap_if_exited)
            .await
    }

    /// The poll form of [`wait`](AsyncPidFd::wait). One `waitid` syscall
    /// when the reactor says readable; no allocation. Unlike `wait`, a
    /// non-child is reported (`ECHILD`) only once it has exited.
    ///
    /// Like `AsyncFd::poll_read_ready`, this keeps one waker: only the task
    /// that polled last is woken. Several tasks sharing the handle should
    /// use the `async fn`, which wakes them all.
    ///
    /// # Errors
    ///
    /// As [`wait`](AsyncPidFd::wait).
    pub fn poll_wait(&self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        poll_with(&self.inner, self.get_ref(), cx, reap_if_exited)
    }

    /// Waits until the process — child or not — has exited **and been
    /// reaped**, and returns how it ended: the supervisor's view of any
    /// process, with no pid race.
    ///
    /// - A child that this handle [`reaps`](PidFd::reaps) is reaped here,
    ///   and the status is the one [`wait`](AsyncPidFd::wait) returns.
    /// - Any other process (not a child, or a child observed through
    ///   [`from_child`](AsyncPidFd::from_child)) is left to its parent;
    ///   the status comes from the kernel (`PIDFD_INFO_EXIT`, Linux 6.15)
    ///   once the parent has reaped it. **A zombie whose parent never
    ///   reaps it keeps this future pending**, though
    ///   [`exited`](AsyncPidFd::exited) is ready: the process has ended,
    ///   but the kernel publishes its status only at the reap. This holds
    ///   after this handle's own [`wait`](AsyncPidFd::wait) has returned
    ///   the status too (an observing `wait` does not reap): for a child
    ///   of a `std::process::Child` that is dropped without `wait`, nothing
    ///   ever reaps, so take the status from `wait`, or make the handle
    ///   [`from_owned_child`](AsyncPidFd::from_owned_child).
    ///
    /// Every call, and every later [`wait`](AsyncPidFd::wait), returns the
    /// same status. The first call that has to wait registers a duplicate
    /// of the pidfd (one more descriptor, for the handle's life), so that
    /// waiting past the exit never hides the exit from
    /// [`exited`](AsyncPidFd::exited) and [`wait`](AsyncPidFd::wait)
    /// waiters on the same handle.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the status is kept in the handle as soon as it is seen.
    ///
    /// # Errors
    ///
    /// `Unsupported` with a [`SyscallError`](crate::SyscallError) on
    /// kernels before 6.15, for a process this handle does not reap.
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{AsyncPidFd, PidFd};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut child = std::process::Command::new("sh").args(["-c", "exit 6"]).spawn()?;
    /// let watch = AsyncPidFd::from_child(&child)?; // observes only
    /// child.wait()?; // its owner reaps it (here at once)
    /// match watch.exit_status().await {
    ///     Ok(status) => assert_eq!(status.code(), Some(6)),
    ///     Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported), // before 6.15
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn exit_status(&self) -> io::Result<ExitStatus> {
        // A unit of tokio's coop budget, as the readiness path takes: a
        // loop over a process that has already exited yields now and then.
        std::future::poll_fn(::tokio::task::coop::poll_proceed)
            .await
            .made_progress();
        if let Some(status) = self.get_ref().reaped_status()? {
            return Ok(status);
        }
        self.reap_watch()?
            .async_io(Interest::READABLE, |_| {
                reaped_or_would_block(self.get_ref())
            })
            .await
    }

    /// The poll form of [`exit_status`](AsyncPidFd::exit_status).
    ///
    /// Like `AsyncFd::poll_read_ready`, this keeps one waker: only the task
    /// that polled last is woken. Several tasks sharing the handle should
    /// use the `async fn`, which wakes them all.
    ///
    /// # Errors
    ///
    /// As [`exit_status`](AsyncPidFd::exit_status).
    pub fn poll_exit_status(&self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let watch = match self.reap_watch() {
            Ok(watch) => watch,
            Err(e) => return Poll::Ready(Err(e)),
        };
        poll_with(watch, self.get_ref(), cx, reaped_or_would_block)
    }

    /// The registration that [`exit_status`](AsyncPidFd::exit_status)
    /// waits on, made on first use (one more descriptor).
    fn reap_watch(&self) -> io::Result<&AsyncFd<OwnedFd>> {
        if let Some(watch) = self.reap_watch.get() {
            return Ok(watch);
        }
        let dup = rustix::io::fcntl_dupfd_cloexec(self.get_ref(), 0)?;
        let watch = register(dup, Interest::READABLE)?;
        // A concurrent first call may have won: its registration is kept,
        // this one dropped.
        Ok(self.reap_watch.get_or_init(|| watch))
    }

    /// Waits for the process to exit, child or not, without reaping it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only observes.
    ///
    /// # Errors
    ///
    /// The error of `poll(2)` (none is expected).
    pub async fn exited(&self) -> io::Result<()> {
        // A unit of tokio's coop budget, as the readiness path takes: a
        // loop over a process that has already exited yields now and then.
        std::future::poll_fn(::tokio::task::coop::poll_proceed)
            .await
            .made_progress();
        // Ask before waiting: an exit whose readiness another waiter has
        // already used is seen here.
        if self.get_ref().has_exited()? {
            return Ok(());
        }
        self.inner
            .async_io(Interest::READABLE, exited_or_would_block)
            .await
    }

    /// The poll form of [`exited`](AsyncPidFd::exited).
    ///
    /// Like `AsyncFd::poll_read_ready`, this keeps one waker: only the task
    /// that polled last is woken. Several tasks sharing the handle should
    /// use the `async fn`, which wakes them all.
    ///
    /// # Errors
    ///
    /// As [`exited`](AsyncPidFd::exited).
    pub fn poll_exited(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_with(&self.inner, self.get_ref(), cx, exited_or_would_block)
    }

    /// Sends `signal` to the process: [`PidFd::send_signal`]. It never
    /// reaches a process that reused the pid.
    ///
    /// # Errors
    ///
    /// As [`PidFd::send_signal`] (`ESRCH` once the process is reaped).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use iofd::{AsyncPidFd, Signal};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let child = AsyncPidFd::from_owned_child(std::process::Command::new("sleep").arg("30").spawn()?)?;
    /// child.send_signal(Signal::KILL)?;
    /// assert_eq!(child.wait().await?.signal(), Some(libc::SIGKILL));
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn send_signal(&self, signal: Signal) -> io::Result<()> {
        self.get_ref().send_signal(signal)
    }

    /// Sends `signal` to the thread, process or process group of the
    /// pidfd: [`PidFd::send_signal_to`] (Linux 6.9).
    ///
    /// # Errors
    ///
    /// As [`PidFd::send_signal_to`].
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{AsyncPidFd, Signal, SignalScope};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let child = AsyncPidFd::from_owned_child(std::process::Command::new("sleep").arg("30").spawn()?)?;
    /// if let Err(e) = child.send_signal_to(Signal::KILL, SignalScope::Process) {
    ///     assert_eq!(e.kind(), std::io::ErrorKind::Unsupported); // before 6.9
    ///     child.send_signal(Signal::KILL)?;
    /// }
    /// child.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn send_signal_to(&self, signal: Signal, scope: SignalScope) -> io::Result<()> {
        self.get_ref().send_signal_to(signal, scope)
    }

    /// Sends `signal` carrying `value` (a race-free `sigqueue`):
    /// [`PidFd::send_signal_value`].
    ///
    /// # Errors
    ///
    /// As [`PidFd::send_signal_value`].
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{AsyncPidFd, Signal};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let child = AsyncPidFd::from_owned_child(std::process::Command::new("sleep").arg("30").spawn()?)?;
    /// child.send_signal_value(Signal::TERM, 42)?; // the receiver reads 42 from its siginfo
    /// child.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn send_signal_value(&self, signal: Signal, value: i32) -> io::Result<()> {
        self.get_ref().send_signal_value(signal, value)
    }

    /// Checks that the process still exists (a zombie counts) without
    /// signalling it: [`PidFd::send_null_signal`].
    ///
    /// # Errors
    ///
    /// As [`PidFd::send_null_signal`] (`ESRCH` once it is reaped).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::AsyncPidFd;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let child = AsyncPidFd::from_owned_child(std::process::Command::new("true").spawn()?)?;
    /// child.wait().await?; // reaped
    /// assert_eq!(iofd::errno(&child.send_null_signal().unwrap_err()), Some(libc::ESRCH));
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn send_null_signal(&self) -> io::Result<()> {
        self.get_ref().send_null_signal()
    }

    /// What the kernel reports of the process (ids, credentials, cgroup,
    /// and its exit status once reaped): [`PidFd::info`] (Linux 6.13).
    ///
    /// # Errors
    ///
    /// As [`PidFd::info`].
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::AsyncPidFd;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let child = AsyncPidFd::from_owned_child(std::process::Command::new("sleep").arg("30").spawn()?)?;
    /// match child.info() {
    ///     Ok(info) => assert_eq!(info.ppid(), Some(std::process::id() as i32)),
    ///     Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported), // before 6.13
    /// }
    /// child.send_signal(iofd::Signal::KILL)?;
    /// child.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn info(&self) -> io::Result<PidInfo> {
        self.get_ref().info()
    }

    /// The synchronous handle (for `pid`, `send_signal`, `get_fd`, …).
    pub fn get_ref(&self) -> &PidFd {
        self.inner.get_ref()
    }

    /// Deregisters from the reactor and gives back the synchronous handle.
    pub fn into_inner(self) -> PidFd {
        self.inner.into_inner()
    }
}

/// Waits for `fd`'s readability and runs `check` on `pidfd` until it answers
/// something other than `WouldBlock` (which clears the readiness: it was
/// spurious, or the awaited state has not come yet).
fn poll_with<T: AsRawFd, R>(
    fd: &AsyncFd<T>,
    pidfd: &PidFd,
    cx: &mut Context<'_>,
    check: fn(&PidFd) -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        let mut guard = ready!(fd.poll_read_ready(cx))?;
        if let Ok(result) = guard.try_io(|_| check(pidfd)) {
            return Poll::Ready(result);
        }
    }
}

/// The status if the child has exited; `WouldBlock` (readiness was
/// spurious, wait again) if not.
fn reap_if_exited(pidfd: &PidFd) -> io::Result<ExitStatus> {
    pidfd.try_wait_in_poll()?.ok_or_else(would_block)
}

/// The status once the process has been reaped; `WouldBlock` while it
/// runs or is a zombie: the pidfd becomes readable at the exit and again at
/// the reap, so the wait goes on until that second edge.
fn reaped_or_would_block(pidfd: &PidFd) -> io::Result<ExitStatus> {
    pidfd.reaped_status()?.ok_or_else(would_block)
}

/// `Ok` if the process has exited; `WouldBlock` if the readiness was
/// spurious.
fn exited_or_would_block(pidfd: &PidFd) -> io::Result<()> {
    if pidfd.has_exited()? {
        Ok(())
    } else {
        Err(would_block())
    }
}

impl TryFrom<PidFd> for AsyncPidFd {
    type Error = RegisterError<PidFd>;

    /// Registers `pidfd` with the current runtime; on failure hands it
    /// back. A pidfd from [`PidFd::open_blocking`] works as well: the
    /// wrapper only ever calls `waitid` with `WNOHANG`.
    fn try_from(pidfd: PidFd) -> Result<AsyncPidFd, RegisterError<PidFd>> {
        let inner = register(pidfd, Interest::READABLE)?;
        Ok(AsyncPidFd {
            inner,
            reap_watch: OnceLock::new(),
        })
    }
}

impl From<AsyncPidFd> for PidFd {
    /// Deregisters from the reactor and gives back the synchronous handle:
    /// [`AsyncPidFd::into_inner`].
    fn from(pidfd: AsyncPidFd) -> PidFd {
        pidfd.into_inner()
    }
}
