//! [`AsyncSignalFd`].

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::tokio::io::Interest;
use ::tokio::io::unix::AsyncFd;
use futures_core::Stream;

use super::{RegisterError, register};
use crate::{SigSet, SignalFd, SignalInfo, ensure_blocked_in_all_threads};

/// How many records one read may take: a burst of up to this many signals
/// costs one wake-up and one syscall.
const BATCH: usize = 16;

/// A [`SignalFd`] for tokio: `recv().await` gives each signal with its
/// sender's pid and uid and its `sigqueue` value; also a `Stream` of them.
///
/// Unlike `tokio::signal`, nothing is coalesced beyond what the kernel does:
/// every queued real-time signal arrives, in order, with its value.
///
/// Internally one `read` drains up to 16 pending records into a buffer
/// inside the handle (no heap), which later `recv`s hand out in order.
///
/// # Caveats
///
/// - The signals must be blocked in **every** thread, including the
///   runtime's workers, or a thread may take one before the signalfd sees
///   it: block them in `main` before building the runtime (see
///   [`SignalFd`]'s caveats for the pattern). [`new`](AsyncSignalFd::new)
///   checks and refuses otherwise.
/// - The reactor watches for process-directed signals (`kill`, `sigqueue`,
///   `pidfd_send_signal`); a signal sent with `tgkill` to one particular
///   thread stays pending on that thread.
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
///     // SAFETY: kill(2) to our own pid with a signal every thread blocks.
///     unsafe { libc::kill(std::process::id() as i32, libc::SIGUSR1) };
///     let info = signals.recv().await?;
///     assert_eq!(info.signal(), Some(Signal::USR1));
///     assert_eq!(info.pid(), std::process::id() as i32);
///     Ok(())
/// })
/// # }
/// ```
pub struct AsyncSignalFd {
    inner: AsyncFd<SignalFd>,
    buffer: [SignalInfo; BATCH],
    /// `buffer[next..filled]` are read but not yet handed out.
    next: usize,
    filled: usize,
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
    /// - As [`SignalFd::new`]; an error when no tokio runtime is current.
    pub fn new(mask: &SigSet) -> io::Result<AsyncSignalFd> {
        ensure_blocked_in_all_threads(mask)?;
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
    /// syscall per call (none while buffered records remain); no allocation.
    ///
    /// # Errors
    ///
    /// As [`recv`](AsyncSignalFd::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<SignalInfo>> {
        if self.next < self.filled {
            let info = self.buffer[self.next];
            self.next += 1;
            return Poll::Ready(Ok(info));
        }
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            let buffer = &mut self.buffer;
            match guard.try_io(|fd| fd.get_ref().read_batch(buffer)) {
                Ok(Ok(n)) => {
                    // `n >= 1`: read_batch reports WouldBlock rather than 0.
                    self.next = 1;
                    self.filled = n;
                    return Poll::Ready(Ok(self.buffer[0]));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
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

    /// Deregisters from the reactor and gives back the synchronous handle,
    /// with the records already read from the kernel but not yet handed out
    /// by [`recv`](AsyncSignalFd::recv) (in order; empty, and not allocated,
    /// when there are none), so that nothing is lost.
    pub fn into_inner(self) -> (SignalFd, Vec<SignalInfo>) {
        let pending = self.buffer[self.next..self.filled].to_vec();
        (self.inner.into_inner(), pending)
    }

    /// How many records are buffered, read but not yet handed out.
    pub fn buffered(&self) -> usize {
        self.filled - self.next
    }
}

impl Stream for AsyncSignalFd {
    type Item = io::Result<SignalInfo>;

    /// The signals, as [`recv`](AsyncSignalFd::recv) gives them. Never ends.
    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<SignalInfo>>> {
        self.get_mut().poll_recv(cx).map(Some)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.buffered(), None)
    }
}

impl TryFrom<SignalFd> for AsyncSignalFd {
    type Error = RegisterError<SignalFd>;

    /// Registers `signals` with the current runtime, **without** checking
    /// that every thread blocks its mask (for programs that arrange
    /// delivery themselves); on failure hands it back.
    fn try_from(signals: SignalFd) -> Result<AsyncSignalFd, RegisterError<SignalFd>> {
        let inner = register(signals, Interest::READABLE)?;
        Ok(AsyncSignalFd {
            inner,
            buffer: [SignalInfo::default(); BATCH],
            next: 0,
            filled: 0,
        })
    }
}
