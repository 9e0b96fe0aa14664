//! [`AsyncSignalFd`].

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;
use futures_core::{FusedStream, Stream};

use super::{RegisterError, poll_read_when_ready, register};
use crate::signal::{
    Waiter, ensure_blocked_with_advice, give_back, leftovers_held, take_leftovers,
};
use crate::{SigSet, SignalFd, SignalInfo};

/// How many records one read may take: a burst of up to this many signals
/// costs one wake-up and one syscall.
const BATCH: usize = 16;

/// How to fix a runtime whose threads do not block the set.
const RUNTIME_ADVICE: &str = "a runtime's worker threads take the mask of the thread that built \
     the runtime, and #[tokio::main] builds it before the body of main runs, so blocking inside \
     it comes too late. Either block the set in a plain `fn main` before building the runtime \
     (`SignalMaskGuard::block(&set)?.keep()`, then `tokio::runtime::Builder::new_multi_thread()`), \
     or use `#[tokio::main(flavor = \"current_thread\")]`, which runs everything on the thread \
     that blocks the set";

/// A [`SignalFd`] for tokio: `recv().await` gives each signal with its
/// sender's pid and uid and its `sigqueue` value; also a `Stream` of them.
///
/// Unlike `tokio::signal`, nothing is coalesced beyond what the kernel does:
/// every queued real-time signal arrives, in order, with its value.
///
/// Internally one `read` drains up to 16 pending records into a buffer
/// inside the handle (no heap), which later `recv`s hand out in order.
/// Dropping the handle loses none of them: records still buffered are
/// given back to the process exactly as they were read, in order
/// ([`SignalInfo::requeue`]), and the next `SignalFd` or `AsyncSignalFd`
/// read whose mask covers them returns them before the kernel's (whatever
/// `RLIMIT_SIGPENDING` says); [`into_parts`] hands them to the caller
/// instead. Another `AsyncSignalFd` of those signals already waiting in
/// `recv` is woken for them at once; a synchronous [`SignalFd`] waiting in
/// a `mio::Poll` is not (see its caveats).
///
/// [`into_parts`]: AsyncSignalFd::into_parts
///
/// [`into_inner`]: AsyncSignalFd::into_inner
///
/// # Caveats
///
/// - The signals must be blocked in **every** thread, including the
///   runtime's workers, or a thread may take one before the signalfd sees
///   it: block them in `main` before building the runtime (see
///   [`SignalFd`]'s caveats for the pattern). [`new`](AsyncSignalFd::new)
///   checks and refuses otherwise.
/// - The reactor watches for process-directed signals (`kill`, `sigqueue`,
///   `pidfd_send_signal`). On a multi-thread runtime, a **thread-directed**
///   signal (`raise` or `pthread_kill` in a worker, `tgkill`, a `SIGPIPE`
///   from a write on a worker) stays pending on the thread it targets and
///   is only seen by a read that happens to run on that thread: send
///   signals to the process.
/// - **Dropped with records buffered, it hands them to iofd, not back to
///   the signal's disposition.** Records given back on drop (or by
///   [`into_inner`]) are held in this process for the next iofd reader of
///   their signals ([`SignalInfo::requeue`]); they are not pending in the
///   kernel. So a `SIGTERM` (or `SIGINT`, ...) this handle took from the
///   kernel and did not hand out never reaches a handler installed later,
///   nor the default action once the signal is unblocked: if no
///   `SignalFd`/`AsyncSignalFd` of that signal reads again, it is never
///   acted on. A program that stops reading signals and wants their
///   default action back must take the records with [`into_parts`] and act
///   on them itself (for example `raise` them after unblocking). The
///   records are not inherited by a `fork`ed child.
/// - After `fork`, the child shares tokio's epoll instance with the parent:
///   dropping this handle in the child removes the parent's registration
///   too. `std::mem::forget` it in a forked child (or `exec` at once).
///
/// # Examples
///
/// ```standalone_crate
/// use iofd::{AsyncSignalFd, SigSet, Signal, SignalMaskGuard};
///
/// # fn main() -> std::io::Result<()> {
/// let set = SigSet::from(Signal::USR1);
/// // Block first, then build the runtime: its threads inherit the mask.
/// SignalMaskGuard::block(&set)?.keep();
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// rt.block_on(async {
///     let mut signals = AsyncSignalFd::new(&set)?;
///     // To this process, whose every thread blocks SIGUSR1.
///     iofd::send_to_process(Signal::USR1)?;
///     let info = signals.recv().await?;
///     assert_eq!(info.signal(), Some(Signal::USR1));
///     assert_eq!(info.pid(), std::process::id() as i32);
///     Ok(())
/// })
/// # }
/// ```
///
/// As a `Stream` of records, with the `next` of
/// [`tokio_stream::StreamExt`](https://docs.rs/tokio-stream/latest/tokio_stream/trait.StreamExt.html)
/// (or `futures::StreamExt`):
///
/// ```standalone_crate
/// use iofd::{AsyncSignalFd, SigSet, Signal, SignalMaskGuard};
/// use tokio_stream::StreamExt;
///
/// # fn main() -> std::io::Result<()> {
/// let set = SigSet::from(Signal::USR2);
/// SignalMaskGuard::block(&set)?.keep();
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// rt.block_on(async {
///     let mut signals = AsyncSignalFd::new(&set)?;
///     for value in 1..=3 {
///         iofd::queue_to_process(Signal::USR2, value)?;
///     }
///     // A standard signal is pending at most once: the three merge into one.
///     let info = signals.next().await.expect("a stream of signals")?;
///     assert_eq!(info.signal(), Some(Signal::USR2));
///     assert_eq!(info.value_int(), 1);
///     Ok(())
/// })
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub struct AsyncSignalFd {
    inner: AsyncFd<SignalFd>,
    pending: Pending,
    /// The reactor is gone (the runtime shut down): the stream has ended.
    terminated: bool,
}

/// Records read from the kernel but not yet handed out. Dropping it gives
/// them back to the process ([`SignalInfo::requeue`]), so none is lost.
struct Pending {
    buffer: [SignalInfo; BATCH],
    /// `buffer[next..filled]` are read but not yet handed out.
    next: usize,
    filled: usize,
    /// This reader's place among those woken by records given back.
    waiter: Waiter,
}

impl Pending {
    /// The records not yet handed out, in order.
    fn records(&self) -> &[SignalInfo] {
        &self.buffer[self.next..self.filled]
    }

    /// Fills the (empty) buffer with records given back for `fd`'s mask
    /// and hands out the first, if any: one atomic load while none is held.
    #[inline]
    fn take_given_back(&mut self, fd: &SignalFd) -> Option<SignalInfo> {
        if !leftovers_held() {
            return None;
        }
        let n = take_leftovers(|| fd.mask(), &mut self.buffer);
        if n == 0 {
            return None;
        }
        self.next = 1;
        self.filled = n;
        Some(self.buffer[0])
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // This reader is going away: the records must wake the others.
        self.waiter.clear();
        // Kept in this process, exactly, for the next reader of their
        // signals (see `SignalInfo::requeue` for why not the kernel).
        give_back(self.records());
    }
}

impl AsyncSignalFd {
    /// A signalfd for `mask`, registered with the current runtime, after
    /// checking that every thread of the process blocks `mask`.
    ///
    /// # Errors
    ///
    /// - `InvalidInput`, naming the threads, if some thread does not block
    ///   every signal of `mask` (it would steal them); use
    ///   [`TryFrom<SignalFd>`](#impl-TryFrom<SignalFd>-for-AsyncSignalFd) to
    ///   skip the check.
    /// - As [`SignalFd::new`]; an error when no tokio runtime is current or
    ///   it has no I/O driver (`enable_io`).
    ///
    /// # Panics
    ///
    /// Only built with `panic = "abort"`, on a runtime without an I/O
    /// driver: tokio's own panic then aborts the process (see
    /// [Runtimes without an I/O driver](crate#runtimes-without-an-io-driver)). Otherwise
    /// that panic is caught and returned as the error above; the
    /// application's panic hook (never replaced) sees it first.
    pub fn new(mask: &SigSet) -> io::Result<AsyncSignalFd> {
        ensure_blocked_with_advice(mask, RUNTIME_ADVICE)?;
        Ok(AsyncSignalFd::try_from(SignalFd::new(mask)?)?)
    }

    /// Waits for the next signal.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: records are read into the handle's own buffer, and each
    /// is removed only by the poll that returns it, so a dropped `recv`
    /// loses nothing.
    ///
    /// # Errors
    ///
    /// The kernel's read error (none is expected).
    pub async fn recv(&mut self) -> io::Result<SignalInfo> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The poll form of [`recv`](AsyncSignalFd::recv). At most one `read`
    /// syscall per call (none while buffered or given-back records remain);
    /// no allocation. Each record handed out takes a unit of tokio's coop
    /// budget: with the task's budget spent, the call is pending and the
    /// task is woken at once (it yields to the others). A call that returns `Pending` keeps `cx`'s waker
    /// (cloned only when it would wake another task than the one kept)
    /// where records given back by another handle wake it.
    ///
    /// # Errors
    ///
    /// As [`recv`](AsyncSignalFd::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<SignalInfo>> {
        let pending = &mut self.pending;
        // A record at hand takes a unit of tokio's coop budget, as the
        // readiness path does (once per batch): with the task's budget
        // spent this is pending (the task yields and is polled again at
        // once), so a loop draining a burst lets other tasks run.
        if pending.next < pending.filled || leftovers_held() {
            let coop = ready!(::tokio::task::coop::poll_proceed(cx));
            if pending.next < pending.filled {
                let info = pending.buffer[pending.next];
                pending.next += 1;
                coop.made_progress();
                return Poll::Ready(Ok(info));
            }
            // Records a dropped handle gave back come before the kernel's
            // (one atomic load while there are none).
            if let Some(info) = pending.take_given_back(self.inner.get_ref()) {
                coop.made_progress();
                return Poll::Ready(Ok(info));
            }
            // None after all: the unit goes back (`coop` is dropped
            // without progress).
        }
        // A batch shorter than the buffer took every pending record: the
        // readiness is cleared right after it. A full batch may have left
        // more, so the next call reads again.
        let buffer = &mut pending.buffer;
        let read = poll_read_when_ready(
            &self.inner,
            cx,
            |fd| fd.read_pending(&mut *buffer),
            |&n| n < BATCH,
        );
        let read = match read {
            Poll::Ready(read) => read,
            Poll::Pending => {
                // Asleep until the reactor or records given back wake this
                // task: keep the waker where a giver finds it, *then* look
                // at the records held again, so one given back in between
                // is not missed.
                pending.waiter.register(cx.waker());
                return match pending.take_given_back(self.inner.get_ref()) {
                    Some(info) => Poll::Ready(Ok(info)),
                    None => Poll::Pending,
                };
            }
        };
        match read {
            Ok(Ok(n)) => {
                // `n >= 1`: read_batch reports WouldBlock rather than 0.
                pending.next = 1;
                pending.filled = n;
                Poll::Ready(Ok(pending.buffer[0]))
            }
            Ok(Err(e)) => Poll::Ready(Err(e)),
            Err(shutdown) => {
                self.terminated = true;
                Poll::Ready(Err(shutdown))
            }
        }
    }

    /// The set of signals this signalfd reads.
    pub fn mask(&self) -> SigSet {
        self.get_ref().mask()
    }

    /// The synchronous handle.
    pub fn get_ref(&self) -> &SignalFd {
        self.inner.get_ref()
    }

    /// Deregisters from the reactor and gives back the synchronous handle;
    /// the records already read from the kernel but not yet handed out by
    /// [`recv`](AsyncSignalFd::recv) are given back to the process first
    /// ([`SignalInfo::requeue`], as a drop does), so the handle's first
    /// reads return them, exactly and in order; use
    /// [`into_parts`](AsyncSignalFd::into_parts) to take the records
    /// instead.
    pub fn into_inner(self) -> SignalFd {
        let AsyncSignalFd { inner, pending, .. } = self;
        // Given back before the handle is returned, so its first read
        // finds them.
        drop(pending);
        inner.into_inner()
    }

    /// Deregisters from the reactor and gives back the synchronous handle
    /// and the records already read from the kernel but not yet handed out
    /// by [`recv`](AsyncSignalFd::recv), in order (empty, and not
    /// allocated, when there are none). Nothing is requeued.
    pub fn into_parts(self) -> (SignalFd, Vec<SignalInfo>) {
        let AsyncSignalFd {
            inner, mut pending, ..
        } = self;
        let records = pending.records().to_vec();
        // Handed out here: the drop of `pending` must not requeue them.
        pending.next = pending.filled;
        (inner.into_inner(), records)
    }

    /// How many records are buffered, read but not yet handed out.
    pub fn buffered(&self) -> usize {
        self.pending.records().len()
    }
}

impl Stream for AsyncSignalFd {
    type Item = io::Result<SignalInfo>;

    /// The signals, as [`recv`](AsyncSignalFd::recv) gives them. The
    /// stream ends (`None`) only after it has yielded the error of a runtime
    /// that shut down, as `tokio::signal::unix::Signal::recv` does, so a
    /// loop that logs errors and goes on does not spin.
    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<SignalInfo>>> {
        let this = self.get_mut();
        if this.terminated {
            return Poll::Ready(None);
        }
        this.poll_recv(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.terminated {
            (0, Some(0))
        } else {
            (self.buffered(), None)
        }
    }
}

impl FusedStream for AsyncSignalFd {
    /// `true` once the stream has ended after a runtime shutdown.
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl TryFrom<SignalFd> for AsyncSignalFd {
    type Error = RegisterError<SignalFd>;

    /// Registers `signals` with the current runtime, **without** checking
    /// that every thread blocks its mask (for programs that arrange
    /// delivery themselves); on failure hands it back.
    fn try_from(signals: SignalFd) -> Result<AsyncSignalFd, RegisterError<SignalFd>> {
        let mask = signals.shared_mask();
        let inner = register(signals, Interest::READABLE)?;
        let waiter = Waiter::new(mask);
        Ok(AsyncSignalFd {
            inner,
            pending: Pending {
                buffer: [SignalInfo::default(); BATCH],
                next: 0,
                filled: 0,
                waiter,
            },
            terminated: false,
        })
    }
}
