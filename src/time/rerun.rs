//! [`Rerun`]: the protocol that keeps the timerfd's readiness waker from
//! recursing or running beside itself, without losing a wake.
//!
//! The waker may be called from tokio's I/O driver on any thread, and
//! from inside its own run (tokio wakes a waker at once when it cannot
//! defer it). Only the call that finds no run under way runs; any call
//! during a run adds a wake, and the run goes round once more before it
//! ends. One atomic counter, modelled with loom (`src/time/loom.rs`).

#[cfg(all(test, iofd_loom))]
use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(all(test, iofd_loom)))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// Wakes asked for and not yet served: 0 while no run is under way.
#[derive(Debug)]
pub(crate) struct Rerun {
    wakes: AtomicUsize,
}

impl Rerun {
    pub(crate) fn new() -> Rerun {
        Rerun {
            wakes: AtomicUsize::new(0),
        }
    }

    /// Runs `run` for this wake: now, unless a run is under way (on this
    /// thread or another), which then runs once more instead. `run` is
    /// never entered twice at once, and every wake is followed by a run
    /// that starts after it.
    pub(crate) fn wake(&self, mut run: impl FnMut()) {
        if self.wakes.fetch_add(1, Ordering::AcqRel) != 0 {
            return;
        }
        loop {
            let seen = self.wakes.load(Ordering::Acquire);
            run();
            // Done unless woken since `seen` was read.
            if self
                .wakes
                .compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }
}
