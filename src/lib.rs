//! Typed, owned handles for Linux's special file descriptors — eventfd,
//! timerfd, signalfd, pidfd, memfd — and a portable owned [`Fd`].
//!
//! Each handle owns exactly one descriptor, created close-on-exec (and
//! nonblocking where it can be polled), closes it on `Drop`, and converts to
//! and from the standard descriptor types. Every operation returns
//! [`std::io::Result`]: kernel errors come through with their errno, and
//! input the crate refuses is [`std::io::ErrorKind::InvalidInput`] with a
//! message — nothing panics. Where the kernel lacks a syscall (`ENOSYS`) or a
//! sandbox forbids it (`EPERM`), the error carries a [`SyscallError`] naming
//! the kernel version, capability or sandbox rule needed; [`errno`] reads
//! the errno of either kind of error (`raw_os_error()` does not see the one
//! inside a `SyscallError`).
//!
//! Each handle can be used three ways:
//!
//! 1. **synchronously**: nonblocking calls that return
//!    [`WouldBlock`](std::io::ErrorKind::WouldBlock) when there is nothing to
//!    read;
//! 2. **with mio**: the pollable handles implement `mio::event::Source`
//!    (feature `mio`);
//! 3. **with tokio**: async wrappers turn the `WouldBlock` paths into
//!    `async fn`s and `Stream`s (feature `tokio`).
//!
//! # Handles
//!
//! | type | what it is |
//! |---|---|
//! | [`Fd`] | any descriptor, on every Unix: `read`/`write` on `&self`, `try_clone`, flags, a `close` that reports errors |
//! | [`EventFd`] | a kernel counter: wake-ups and semaphores |
//! | [`TimerFd`] | a timer on a chosen [`Clock`] that counts its expirations |
//! | [`PidFd`] | a process or thread handle immune to pid reuse: signal it (with a scope or a value), read its [`PidInfo`], await its exit (any process's exit status), take its descriptors |
//! | [`MemFd`] | sealable anonymous shared memory, mapped as a [`MappedRegion`] |
//! | [`SignalFd`] | signals read as [`SignalInfo`] records (sender pid/uid, `sigqueue` value), with [`Signal`], [`SigSet`] and the mask helpers ([`SignalMaskGuard`], [`ensure_blocked_in_all_threads`], [`reset_signal_mask_on_exec`]); [`raise`], [`send_to_process`] and [`queue_to_process`] send one to yourself |
//!
//! # Across processes
//!
//! Every handle is adopted from a descriptor you were handed with
//! `TryFrom<OwnedFd>`, which checks its kind, recovers its state from
//! fdinfo, and hands back a descriptor of the wrong kind in an
//! [`AdoptError`]. The [`pass`] module sends handles over a Unix socket
//! (`SCM_RIGHTS`) and receives them typed and close-on-exec, with the
//! sender's pidfd and credentials where the socket asks for them;
//! [`MemFd::require_seals`] accepts shared memory only once its sender can
//! no longer change it.
//!
//! # With mio
//!
//! With the `mio` feature, [`Fd`], [`EventFd`], [`TimerFd`], [`SignalFd`] and
//! [`PidFd`] implement `mio::event::Source` and register with
//! a `mio::Poll` like a socket does. mio registers edge-triggered: after an
//! event, drain the handle (until `WouldBlock`) before waiting again, or no
//! new event comes.
//!
//! | handle | readable when | writable when |
//! |---|---|---|
//! | `EventFd` | the counter is non-zero | one more can be added |
//! | `TimerFd` | it expired since the last read (a periodic timer re-arms in the kernel only when read, so each new edge follows a read) | — |
//! | `SignalFd` | a signal of its mask is pending for the *polling* thread or the process | — |
//! | `PidFd` | the process has exited (and once more when it is reaped) | — |
//! | `Fd` | as its kind says | as its kind says |
//!
//! [`MemFd`] is a regular file: epoll refuses regular files
//! (`EPERM`), since they are always ready, so it does not implement
//! `Source`.
//!
//! ## Example with mio
//!
//! ```
//! use std::time::Duration;
//! use iofd::EventFd;
//! use mio::{Events, Interest, Poll, Token};
//!
//! # #[cfg(not(feature = "mio"))] fn main() {}
//! # #[cfg(feature = "mio")]
//! # fn main() -> std::io::Result<()> {
//! let mut poll = Poll::new()?;
//! let mut wake = EventFd::new(0)?;
//! poll.registry().register(&mut wake, Token(7), Interest::READABLE)?;
//!
//! wake.signal(1)?;
//! let mut events = Events::with_capacity(8);
//! poll.poll(&mut events, Some(Duration::from_secs(5)))?;
//! let event = events.iter().next().expect("the eventfd is readable");
//! assert_eq!(event.token(), Token(7));
//! assert_eq!(wake.wait()?, 1); // drain: edge-triggered
//! # Ok(())
//! # }
//! ```
//!
//! # With tokio
//!
//! With the `tokio` feature, each pollable handle has an async wrapper on
//! `tokio::io::unix::AsyncFd`:
//!
//! | wrapper | `async fn`s (each with a `poll_*` twin) | `Stream` of |
//! |---|---|---|
//! | [`AsyncEventFd`] | `wait`, `signal` | — |
//! | [`AsyncTimerFd`] | `expirations` (the overrun count) | `io::Result<u64>` |
//! | [`AsyncSignalFd`] | `recv` | `io::Result<SignalInfo>` |
//! | [`AsyncPidFd`] | `wait` (children), `exited` (any process), `exit_status` (any process, once reaped) | — |
//! | [`PidFdSet`] | `next_exit`: whichever of many processes exits next, with your key | `(K, io::Result<ExitStatus>)` |
//!
//! and [`time::Timers`] drives any number of sleeps, intervals and timeouts
//! from one timerfd.
//!
//! Every `async fn` is cancel safe and says so; readiness is cleared only
//! when the handle answers `WouldBlock` or a read is known to have drained
//! it; constructors return an error instead of panicking when no runtime
//! is current; `get_ref` and `into_inner` lead back to the synchronous
//! handle. The `Stream`s are `futures_core::Stream`s: take items with the
//! `next` of `tokio_stream::StreamExt` or `futures::StreamExt`.
//!
//! ## Runtimes without an I/O driver
//!
//! On a runtime built without `enable_io`, the async constructors return an
//! error naming `enable_io`. tokio (1.54) has no public way to ask whether
//! a runtime has its I/O driver, and its registration panics without one,
//! so iofd catches that panic (`catch_unwind`). It never reads or replaces
//! the process panic hook: the hook your program has installed sees
//! tokio's panic first (the default hook prints "A Tokio 1.x context was
//! found, but IO is disabled" once), then the constructor returns the
//! error. This also holds in a destructor while the thread unwinds. Built
//! with `panic = "abort"`, nothing can be caught: such a construction
//! aborts the process inside tokio, as tokio's own I/O types do.
//!
//! # Which handle do I need?
//!
//! tokio already has timers, signals and child processes. Where it does
//! the job, use it; iofd is for what it cannot do.
//!
//! | to… | tokio's own | iofd | when iofd wins |
//! |---|---|---|---|
//! | sleep or tick | `tokio::time` (millisecond wheel) | [`time::Timers`] (many timers, one timerfd, any clock, per-timer accuracy) or [`AsyncTimerFd`] (one timer, any clock) | sub-millisecond deadlines (tens to hundreds of µs p99 lateness against tokio's 1–2 ms), the count of missed ticks, boot-time and wall-clock alarms. tokio wins on CPU for timers of millisecond precision and up |
//! | wake a task | `tokio::sync::Notify` | [`AsyncEventFd`] | waking from another process, a non-tokio thread or a mio loop. `Notify` wins inside one process: no syscall, about 4× faster |
//! | receive signals | `tokio::signal::unix` | [`AsyncSignalFd`] | the sender's pid and uid, the `sigqueue` value, every real-time signal in order. tokio wins when you cannot block the signals in every thread, or other code installs handlers |
//! | await a process | `tokio::process::Child::wait` | [`AsyncPidFd`] | any process, not only your children, with no pid-reuse race; observing a child that tokio reaps ([`AsyncPidFd::from_tokio_child`]); whichever of many exits next ([`PidFdSet`]). tokio wins for plain children: it owns stdio and reaping |
//! | share memory | — | [`MemFd`] | sealed memory that a peer cannot change under you |
//!
//! # Features
//!
//! - `mio` (default): `mio::event::Source` for the pollable handles.
//! - `tokio` (default): async wrappers on `tokio::io::unix::AsyncFd`.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use iofd::{EventFd, TimerFd};
//!
//! # fn main() -> std::io::Result<()> {
//! let efd = EventFd::new(0)?;
//! efd.signal(2)?;
//! assert_eq!(efd.wait()?, 2);
//!
//! let timer = TimerFd::new()?;
//! timer.arm(Duration::ZERO, Duration::ZERO)?; // zero fires at once
//! # std::thread::sleep(Duration::from_millis(5));
//! assert_eq!(timer.expirations()?, 1);
//! # Ok(())
//! # }
//! ```

#![cfg(unix)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// The whole crate is Unix-only: a "Unix" badge on every item, auto-trait
// and blanket impl would tell the reader nothing. Badges then name only
// what narrows an item further: Linux or Android, a feature, an arch.
#![cfg_attr(docsrs, doc(auto_cfg(hide(unix))))]

#[cfg(any(target_os = "linux", target_os = "android"))]
mod adopt;
mod error;
mod fd;
mod handle;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod helper_thread;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod eventfd;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod memfd;
#[cfg(all(feature = "mio", any(target_os = "linux", target_os = "android")))]
mod mio;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod pass;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod pidfd;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod signal;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod signalfd;
#[cfg(all(feature = "tokio", any(target_os = "linux", target_os = "android")))]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod time;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod timerfd;
#[cfg(all(feature = "tokio", any(target_os = "linux", target_os = "android")))]
mod tokio;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod volatile;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use adopt::AdoptError;
pub use error::{SyscallError, errno};
pub use fd::Fd;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use eventfd::{EVENTFD_MAX, EventFd};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use memfd::{MEMFD_NAME_MAX, MappedRegion, MemFd, MemFdOptions, Protection, Seals};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use pidfd::{OwnedChildError, PidFd, PidInfo, SignalScope};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use signal::{
    SigSet, SigSetIter, Signal, SignalCode, SignalInfo, SignalMaskGuard, UnblockedThread,
    ensure_blocked_in_all_threads, queue_to_process, raise, reset_signal_mask_on_exec,
    send_to_process, threads_not_blocking,
};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use signalfd::SignalFd;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use timerfd::{Clock, TimerFd};
#[cfg(all(feature = "tokio", any(target_os = "linux", target_os = "android")))]
pub use tokio::{AsyncEventFd, AsyncPidFd, AsyncSignalFd, AsyncTimerFd, PidFdSet, RegisterError};

/// The README's Rust snippets, run as doctests so that they cannot rot.
#[cfg(all(doctest, feature = "mio", feature = "tokio"))]
#[doc = include_str!("../README.md")]
struct ReadmeSnippets;
