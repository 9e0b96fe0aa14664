//! [`PidFdSet`]: the exits of many processes, awaited one at a time in
//! the order they come, with no task per process.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::ExitStatus;
use std::task::{Context, Poll, ready};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;
use futures_core::Stream;
use rustix::event::epoll;

use super::register;
use crate::PidFd;

/// A set of processes whose exits a supervisor awaits: "whichever exits
/// next", as `tokio::task::JoinSet::join_next` is for tasks, without a task
/// per process. Each process comes with a key of yours (a name, an index,
/// a restart policy) that is handed back with its exit status.
///
/// [`insert`](PidFdSet::insert) takes a [`PidFd`] or an
/// [`AsyncPidFd`](crate::AsyncPidFd) (which is deregistered: the set
/// watches it), for a child or any other process.
/// [`next_exit`](PidFdSet::next_exit) returns
/// `Some((key, status))` for each process once, removing it from the set,
/// and `None` when the set is empty; the set is also a `Stream` of the same
/// items (which ends whenever the set is empty, and goes on if more are
/// inserted).
///
/// The status is what [`PidFd::try_wait`] gives: a pidfd that
/// [reaps](PidFd::reaps) (from
/// [`AsyncPidFd::from_owned_child`](crate::AsyncPidFd::from_owned_child)
/// or [`PidFd::open`] of a child) is reaped by the set, leaving no zombie;
/// one that observes only (from
/// [`AsyncPidFd::from_tokio_child`](crate::AsyncPidFd::from_tokio_child)
/// or `from_child`) leaves reaping to the process's owner. A process that
/// is not a child of this one is reported once its parent has reaped it,
/// with the status the kernel keeps (Linux 6.15; an `Unsupported` error
/// before). A [thread](PidFd::is_thread) pidfd is reported when its thread
/// exits, with an `ECHILD` error: a thread's exit is never a process's
/// exit status. The same process may be in the set more than once (a
/// pidfd and its [`try_clone`](PidFd::try_clone)): each entry is reported,
/// with the same status.
///
/// # How it works
///
/// The set keeps one epoll instance holding every pidfd, registered once
/// with tokio's reactor. Handing back an exit costs one `epoll_wait` that
/// names one ready process, whatever the size of the set, the `waitid` of
/// [`PidFd::try_wait`] (two for a pidfd that reaps: observe, then reap),
/// and one `epoll_ctl` to take it out; before the task sleeps, one more
/// `epoll_wait` finds nothing ready. Inserting costs one `epoll_ctl`, and
/// growing the set's table (amortised); waiting allocates nothing.
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use iofd::{AsyncPidFd, PidFdSet};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mut children = PidFdSet::new()?;
/// for (name, script) in [("fast", "exit 0"), ("slow", "sleep 0.05; exit 3")] {
///     let child = Command::new("sh").args(["-c", script]).spawn()?;
///     children.insert(name, AsyncPidFd::from_owned_child(child)?)?;
/// }
/// while let Some((name, status)) = children.next_exit().await {
///     println!("{name} ended: {}", status?); // each reaped: no zombie left
/// }
/// assert!(children.is_empty());
/// # Ok(())
/// # }
/// ```
///
/// As a `Stream`, for example in a `select!` loop beside other events
/// (with the `next` of `tokio_stream::StreamExt` or `futures::StreamExt`):
///
/// ```
/// use iofd::{AsyncPidFd, PidFdSet};
/// use tokio_stream::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mut workers = PidFdSet::new()?;
/// let mut child = tokio::process::Command::new("sh").args(["-c", "exit 2"]).spawn()?;
/// workers.insert(1, AsyncPidFd::from_tokio_child(&child)?)?; // observes; tokio reaps
/// while let Some((id, status)) = workers.next().await {
///     assert_eq!((id, status?.code()), (1, Some(2)));
/// }
/// assert_eq!(child.wait().await?.code(), Some(2));
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct PidFdSet<K> {
    /// The epoll instance holding every pidfd of the set, registered with
    /// the reactor.
    epoll: AsyncFd<OwnedFd>,
    /// The processes, by slot; a pidfd's epoll data is its slot number.
    slots: Vec<Option<(K, PidFd)>>,
    /// Free slots, reused before the table grows.
    free: Vec<usize>,
    /// How many slots are taken.
    len: usize,
}

impl<K> PidFdSet<K> {
    /// An empty set, registered with the current runtime.
    ///
    /// # Errors
    ///
    /// The error of `epoll_create1` (`EMFILE`, `ENFILE`, `ENOMEM`); an
    /// error when no tokio runtime is current or it has no I/O driver
    /// (`enable_io`), but under `panic = "abort"` the latter aborts inside
    /// tokio ([details](crate#runtimes-without-an-io-driver)).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let set = iofd::PidFdSet::<u32>::new()?;
    /// assert!(set.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn new() -> io::Result<PidFdSet<K>> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        Ok(PidFdSet {
            epoll: register(epoll, Interest::READABLE)?,
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        })
    }

    /// Adds a process, with the `key` to hand back with its exit status.
    /// A process that has already exited is reported by the next
    /// [`next_exit`](PidFdSet::next_exit).
    ///
    /// # Errors
    ///
    /// The error of `epoll_ctl` (`ENOMEM`, `ENOSPC` past
    /// `/proc/sys/fs/epoll/max_user_watches`). On error the pidfd is
    /// dropped (a child it owns is not killed).
    ///
    /// # Examples
    ///
    /// ```
    /// use iofd::{PidFd, PidFdSet};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut set = PidFdSet::new()?;
    /// let child = std::process::Command::new("true").spawn()?;
    /// set.insert("true", PidFd::from_owned_child(child)?)?;
    /// assert_eq!(set.len(), 1);
    /// let (key, status) = set.next_exit().await.expect("one process");
    /// assert_eq!((key, status?.success()), ("true", true));
    /// # Ok(())
    /// # }
    /// ```
    pub fn insert(&mut self, key: K, pidfd: impl Into<PidFd>) -> io::Result<()> {
        let pidfd = pidfd.into();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                // Room for every slot in the free list, so that handing a
                // process back never allocates.
                self.free.reserve(self.slots.len() + 1 - self.free.len());
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        // Edge-triggered: a pidfd becomes readable at the exit and again
        // at the reap, and each edge is reported once (a process that has
        // already exited is reported at once). A readable pidfd whose
        // status is not known yet (a zombie that is not our child) is
        // then not reported again until its reap.
        let added = epoll::add(
            self.epoll.get_ref(),
            &pidfd,
            epoll::EventData::new_u64(slot as u64),
            epoll::EventFlags::IN | epoll::EventFlags::ET,
        );
        if let Err(e) = added {
            self.free.push(slot);
            return Err(e.into());
        }
        self.slots[slot] = Some((key, pidfd));
        self.len += 1;
        Ok(())
    }

    /// How many processes the set holds (not yet handed back).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut set = iofd::PidFdSet::new()?;
    /// let child = std::process::Command::new("true").spawn()?;
    /// set.insert((), iofd::PidFd::from_owned_child(child)?)?;
    /// assert_eq!(set.len(), 1);
    /// set.next_exit().await;
    /// assert_eq!(set.len(), 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no process: then
    /// [`next_exit`](PidFdSet::next_exit) returns `None` at once.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut set = iofd::PidFdSet::<&str>::new()?;
    /// assert!(set.is_empty());
    /// assert!(set.next_exit().await.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Waits for the next process of the set to exit, removes it, and
    /// returns its key and status; `None` at once when the set is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a process is removed only in the poll that returns it,
    /// so a dropped `next_exit` loses no exit.
    ///
    /// # Errors
    ///
    /// The status, for a child, is the one [`PidFd::try_wait`] sees at its
    /// exit. For a process that is not a child of this one (or a child its
    /// owner reaped before the set saw the exit), it is the status the
    /// kernel keeps once the process is reaped (`PIDFD_INFO_EXIT`, as
    /// [`AsyncPidFd::exit_status`](crate::AsyncPidFd::exit_status)): such a
    /// process is reported at its reap, and with an `Unsupported` error
    /// before Linux 6.15. See [`poll_next_exit`](PidFdSet::poll_next_exit)
    /// for errors that name no process.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::Command;
    /// use iofd::{AsyncPidFd, PidFdSet, Signal};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut set = PidFdSet::new()?;
    /// let child = AsyncPidFd::from_owned_child(Command::new("sleep").arg("30").spawn()?)?;
    /// child.send_signal(Signal::KILL)?;
    /// set.insert(7, child)?;
    /// let (key, status) = set.next_exit().await.expect("the set held one");
    /// # use std::os::unix::process::ExitStatusExt;
    /// assert_eq!((key, status?.signal()), (7, Some(libc::SIGKILL)));
    /// assert!(set.next_exit().await.is_none()); // empty
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_exit(&mut self) -> Option<(K, io::Result<ExitStatus>)> {
        std::future::poll_fn(|cx| self.poll_next_exit(cx)).await
    }

    /// The poll form of [`next_exit`](PidFdSet::next_exit): the syscalls
    /// listed under "How it works" on [`PidFdSet`]; no allocation.
    ///
    /// If `epoll_wait` itself fails (it is not expected to) or the runtime
    /// has shut down, no process can be named: the error is handed back
    /// with the key of a process still in the set, which is removed (so a
    /// loop ends rather than spins).
    ///
    /// Like `AsyncFd::poll_read_ready`, this keeps one waker: only the task
    /// that polled last is woken.
    ///
    /// # Errors
    ///
    /// As [`next_exit`](PidFdSet::next_exit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use iofd::{PidFd, PidFdSet};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mut set = PidFdSet::new()?;
    /// set.insert("true", PidFd::from_owned_child(std::process::Command::new("true").spawn()?)?)?;
    /// let (key, status) = poll_fn(|cx| set.poll_next_exit(cx)).await.expect("one");
    /// assert_eq!((key, status?.success()), ("true", true));
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_next_exit(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(K, io::Result<ExitStatus>)>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        loop {
            let mut guard = match ready!(self.epoll.poll_read_ready(cx)) {
                Ok(guard) => guard,
                Err(e) => return Poll::Ready(self.remove_any(e)),
            };
            let mut events = [epoll::Event {
                flags: epoll::EventFlags::empty(),
                data: epoll::EventData::new_u64(0),
            }];
            let zero = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let n = match epoll::wait(self.epoll.get_ref(), &mut events, Some(&zero)) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Poll::Ready(self.remove_any(e.into())),
            };
            if n == 0 {
                // Nothing ready (spurious, or taken by an earlier call):
                // wait for the reactor again.
                guard.clear_ready();
                continue;
            }
            let slot = events[0].data.u64() as usize;
            let Some(Some((_, pidfd))) = self.slots.get(slot) else {
                // Not one of ours (cannot happen: each pidfd is deleted
                // from the epoll before its slot is freed).
                continue;
            };
            let status = match pidfd.try_wait_in_set() {
                Ok(Some(status)) => status,
                // Still running (the readiness was spurious), or a zombie
                // its tracer holds: the next edge (its exit, or its
                // hand-over by the tracer) reports it.
                Ok(None) => continue,
                // A child of ours that another handle is reaping at this
                // instant: no later edge is certain (kernels before 6.15
                // do not wake a pidfd at the reap), so the edge just taken
                // is put back (`EPOLL_CTL_MOD` queues the pidfd again, as
                // it is readable), and the task yields so that the other
                // reaper can finish (a few microseconds).
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let rearmed = epoll::modify(
                        self.epoll.get_ref(),
                        pidfd,
                        epoll::EventData::new_u64(slot as u64),
                        epoll::EventFlags::IN | epoll::EventFlags::ET,
                    );
                    if let Err(e) = rearmed {
                        return Poll::Ready(self.remove(slot, Err(e.into())));
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                // Not our child, or reaped by its owner: the kernel's
                // record of the reaped process (Linux 6.15).
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => match pidfd.reaped_status() {
                    Ok(Some(status)) => status,
                    // A zombie that is not ours: the kernel wakes its
                    // pidfd again at the reap (Linux 6.15; before, the
                    // status cannot be had at all, see `next_exit`).
                    Ok(None) => continue,
                    Err(e) => return Poll::Ready(self.remove(slot, Err(e))),
                },
                Err(e) => return Poll::Ready(self.remove(slot, Err(e))),
            };
            return Poll::Ready(self.remove(slot, Ok(status)));
        }
    }

    /// Takes slot `slot` out of the set and the epoll.
    fn remove(
        &mut self,
        slot: usize,
        result: io::Result<ExitStatus>,
    ) -> Option<(K, io::Result<ExitStatus>)> {
        let (key, pidfd) = self.slots.get_mut(slot)?.take()?;
        // Explicitly: closing the pidfd would not remove it while a
        // duplicate of it (a `try_clone`) stays open elsewhere.
        let _ = epoll::delete(self.epoll.get_ref(), &pidfd);
        self.free.push(slot);
        self.len -= 1;
        Some((key, result))
    }

    /// Hands `error` back with some process's key, removing it.
    #[cold]
    fn remove_any(&mut self, error: io::Error) -> Option<(K, io::Result<ExitStatus>)> {
        let slot = self.slots.iter().position(Option::is_some)?;
        self.remove(slot, Err(error))
    }
}

// Nothing in the set is ever pinned (the keys live in a `Vec`, moved at
// will), so a pinned set may move: `Stream` works with any key.
impl<K> Unpin for PidFdSet<K> {}

impl<K> Stream for PidFdSet<K> {
    type Item = (K, io::Result<ExitStatus>);

    /// As [`PidFdSet::poll_next_exit`]: `None` while the set is empty.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // `PidFdSet` is `Unpin`: nothing in it is pinned.
        self.get_mut().poll_next_exit(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl<K: fmt::Debug> fmt::Debug for PidFdSet<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PidFdSet")
            .field("len", &self.len)
            .field(
                "processes",
                &self
                    .slots
                    .iter()
                    .flatten()
                    .map(|(key, pidfd)| (key, pidfd.pid()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
