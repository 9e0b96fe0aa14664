//! [`SpinLock`]: the lock of an arming shard (see
//! [`shards`](super::shards)).
//!
//! A shard is locked for a few nanoseconds at a time, nearly always by
//! the one thread it belongs to: arming or cancelling a timeout, a
//! handful of loads and stores. `std::sync::Mutex` costs two atomic
//! read-modify-writes per round trip (the unlock swaps, to learn whether
//! a waiter must be woken); this lock costs one (the unlock is a plain
//! release store), which measured 2 ns of a 45 ns timeout. A thread that
//! finds it taken spins briefly, then yields its time slice a few times,
//! then naps 50 µs between attempts (a real-time thread's yield gives way
//! to none of lower priority): the holder never blocks while holding it,
//! and the driver's longest hold (moving a shard's timeouts into its
//! deadlines) is a pass over the shard.
//!
//! Unlike a `Mutex` it is not poisoned: nothing panics while it is held.

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// Spins before a waiting thread starts yielding its time slice.
const SPINS: u32 = 64;

/// Yields before a waiting thread starts sleeping between attempts: a
/// thread of a real-time policy (`SCHED_FIFO`) that yields gives way only
/// to threads of its own priority, so a holder of a lower one could not
/// run on its CPU; a short sleep lets it.
const YIELDS: u32 = 16;

/// The sleep between attempts after [`YIELDS`].
const NAP: std::time::Duration = std::time::Duration::from_micros(50);

/// A value behind a spin lock.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a `SpinGuard`, and at most one
// exists at a time (`lock` hands one out only after its swap found the
// lock free, and the guard's drop frees it), so sharing the lock between
// threads shares the value as a `Mutex` does: it needs `T: Send`, not
// `T: Sync`.
unsafe impl<T: Send> Sync for SpinLock<T> {}

/// The lock held: the value, until it is dropped. It is `Send` and
/// `Sync` as the `&mut T` it stands for.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
    _value: PhantomData<&'a mut T>,
}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> SpinLock<T> {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Takes the lock, waiting while another thread holds it.
    #[inline(always)]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        let mut spins: u32 = 0;
        // `Acquire`: what the previous holder wrote before its `Release`
        // store is seen.
        while self.locked.swap(true, Ordering::Acquire) {
            while self.locked.load(Ordering::Relaxed) {
                spins = spins.saturating_add(1);
                if spins <= SPINS {
                    std::hint::spin_loop();
                } else if spins <= SPINS + YIELDS {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(NAP);
                }
            }
        }
        SpinGuard {
            lock: self,
            _value: PhantomData,
        }
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock (see `lock`), so no other
        // reference to the value exists until it is dropped.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // `Release`: the next holder sees every write made under the lock.
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Four threads add under the lock: no increment is lost.
    #[test]
    fn the_lock_excludes() {
        let lock = Arc::new(SpinLock::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = Arc::clone(&lock);
                std::thread::spawn(move || {
                    for _ in 0..100_000 {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*lock.lock(), 400_000);
    }
}
