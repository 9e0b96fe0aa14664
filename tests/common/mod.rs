//! Helpers shared by the integration tests: a sequential runner for the
//! `harness = false` binaries, signal senders, a thread that does not block
//! a signal, and (with tokio) runtime helpers.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::sync::mpsc;

use iofd::Signal;

/// Runs each `(name, test)` in order on the calling (main) thread — those
/// matching the command-line filters, if any — prints libtest-like lines and
/// the closing `N passed, N failed`, and exits non-zero if any failed.
pub fn run(tests: &[(&str, fn())]) {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(test) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}

pub fn pid() -> i32 {
    std::process::id() as i32
}

pub fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Sends `signal` to the calling thread (`raise`, a tgkill). The caller
/// must block it.
pub fn raise(signal: Signal) {
    // SAFETY: raise(3) targets only the calling thread, which blocks it.
    assert_eq!(unsafe { libc::raise(signal.as_raw()) }, 0);
}

/// Sends `signal` to the process (`kill`). Every thread must block it.
pub fn kill_self(signal: Signal) {
    // SAFETY: kill(2) to our own pid with a signal every thread blocks.
    assert_eq!(unsafe { libc::kill(pid(), signal.as_raw()) }, 0);
}

/// Sends `signal` to the process with `value` (`sigqueue`). Every thread
/// must block it.
pub fn sigqueue_self(signal: Signal, value: i32) {
    // sival_int shares its storage with the low bits of sival_ptr.
    let sigval = libc::sigval {
        sival_ptr: value as usize as *mut libc::c_void,
    };
    // SAFETY: sigqueue(3) to our own pid with a signal every thread blocks.
    assert_eq!(unsafe { libc::sigqueue(pid(), signal.as_raw(), sigval) }, 0);
}

/// A named thread that unblocks one signal and waits; no test may send it
/// that signal while the thread lives.
pub struct UnblockingThread {
    pub tid: i32,
    done: mpsc::Sender<()>,
    handle: std::thread::JoinHandle<()>,
}

impl UnblockingThread {
    pub fn spawn(name: &str, signal: Signal) -> UnblockingThread {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done, done_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut raw = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
                // SAFETY: sigemptyset/sigaddset initialise and fill `raw`;
                // pthread_sigmask unblocks it on this thread only.
                unsafe {
                    libc::sigemptyset(raw.as_mut_ptr());
                    libc::sigaddset(raw.as_mut_ptr(), signal.as_raw());
                    libc::pthread_sigmask(libc::SIG_UNBLOCK, raw.as_ptr(), std::ptr::null_mut());
                }
                ready_tx
                    .send(rustix::thread::gettid().as_raw_nonzero().get())
                    .unwrap();
                done_rx.recv().unwrap();
            })
            .unwrap();
        let tid = ready_rx.recv().unwrap();
        UnblockingThread { tid, done, handle }
    }

    pub fn stop(self) {
        self.done.send(()).unwrap();
        self.handle.join().unwrap();
    }
}

#[cfg(feature = "tokio")]
#[allow(unused_imports, reason = "not every test binary awaits")]
pub use self::runtime::*;

#[cfg(feature = "tokio")]
mod runtime {
    use std::future::Future;
    use std::time::{Duration, Instant};

    /// The limit for anything awaited: generous, it only matters when
    /// something is broken.
    pub const LIMIT: Duration = Duration::from_secs(10);

    /// Runs `test` to completion on a current_thread and on a two-worker
    /// multi_thread runtime.
    pub fn on_both_runtimes<F, Fut>(test: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        current.block_on(test());
        two_workers().block_on(test());
    }

    /// A current_thread runtime with every driver.
    pub fn current_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A multi_thread runtime with two workers, as CI machines have two
    /// cores.
    pub fn two_workers() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Lets the runtime poll its I/O driver until `woken()` (`yield_now`
    /// defers the task until after the driver has run).
    pub async fn until(mut woken: impl FnMut() -> bool) {
        let start = Instant::now();
        while !woken() {
            assert!(start.elapsed() < LIMIT, "never woken");
            tokio::task::yield_now().await;
            if start.elapsed() > Duration::from_millis(50) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    /// Polls `stream`, whose runtime has shut down: one error, then `None`
    /// for good, and `is_terminated` from then on.
    pub fn assert_ends_after_shutdown<S, T: std::fmt::Debug>(stream: &mut S)
    where
        S: futures_core::FusedStream<Item = std::io::Result<T>> + Unpin,
    {
        use std::pin::Pin;
        use std::task::Poll;
        let mut poll = tokio_test::task::spawn(());
        let first = poll.enter(|cx, _| Pin::new(&mut *stream).poll_next(cx));
        assert!(matches!(first, Poll::Ready(Some(Err(_)))), "{first:?}");
        assert!(stream.is_terminated());
        let second = poll.enter(|cx, _| Pin::new(&mut *stream).poll_next(cx));
        assert!(matches!(second, Poll::Ready(None)), "{second:?}");
    }

    pub async fn within<T>(fut: impl Future<Output = T>) -> T {
        tokio::time::timeout(LIMIT, fut).await.expect("timed out")
    }
}

/// Whether this kernel (or sandbox, or valgrind) has pidfds; prints why a
/// test is skipped when not.
pub fn pidfds_or_skip() -> bool {
    match iofd::PidFd::open(pid()) {
        Ok(_) => true,
        Err(err) if err.get_ref().is_some_and(|e| e.is::<iofd::SyscallError>()) => {
            eprintln!("skipped: {err}");
            false
        }
        Err(err) => panic!("PidFd::open(self): {err}"),
    }
}

/// Unwraps `$result`, or — when it failed because the kernel or a sandbox
/// lacks the syscall (an `iofd::SyscallError`) — prints why the test is
/// skipped and returns from the test. With `reap child`, a skip first kills
/// and reaps that `std::process::Child`, so no path leaves a zombie.
#[macro_export]
macro_rules! require {
    ($result:expr, reap $child:ident) => {
        match $result {
            Ok(value) => value,
            Err(err) if err.get_ref().is_some_and(|e| e.is::<iofd::SyscallError>()) => {
                eprintln!("skipped: {err}");
                let _ = $child.kill();
                let _ = $child.wait();
                return;
            }
            Err(err) => panic!("{}: {err}", stringify!($result)),
        }
    };
    ($result:expr) => {
        // Any error that converts into an `io::Error` (`OwnedChildError`).
        match $result.map_err(::std::io::Error::from) {
            Ok(value) => value,
            Err(err) if err.get_ref().is_some_and(|e| e.is::<iofd::SyscallError>()) => {
                eprintln!("skipped: {err}");
                return;
            }
            Err(err) => panic!("{}: {err}", stringify!($result)),
        }
    };
}
