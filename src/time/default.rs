//! The default [`Timers`] of each runtime, behind [`Timers::current`] and
//! the free functions (`iofd::time::sleep`, …).
//!
//! Keyed by the runtime's [`Id`](tokio::runtime::Id) (`Handle::id`):
//! unique among the runtimes of the process for its whole life (tokio
//! draws it from a process-wide counter), so a default is never handed to
//! another runtime, not even one made after its own was dropped. The entry
//! goes when its runtime shuts down (the reactor tells the `Timers`), so
//! the map holds only live runtimes' defaults.
//!
//! Lock order: this lock is never held while a `Timers` is made or
//! dropped, nor while a `Timers`' state lock is taken.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ::tokio::runtime::{Handle, Id};

use super::Timers;
use super::driver::Shared;

static DEFAULTS: Mutex<Option<HashMap<Id, Timers>>> = Mutex::new(None);

thread_local! {
    /// The last default this thread looked up, and its runtime: a drop-in
    /// call on a worker asks for the same one every time, and the map's
    /// lock is shared by every thread of the process. Weak, so that a
    /// thread that outlives a runtime does not keep its timerfd open. A
    /// runtime's id is never reused, so an entry can only be stale by
    /// being dead.
    static LAST: RefCell<Option<(Id, Weak<Shared>)>> = const { RefCell::new(None) };
}

/// The default of runtime `id`, if this thread looked it up last.
fn last(id: Id) -> Option<Timers> {
    LAST.try_with(|last| {
        let last = last.try_borrow().ok()?;
        let (last_id, shared) = last.as_ref()?;
        (*last_id == id).then(|| shared.upgrade())?
    })
    .ok()
    .flatten()
    .map(Timers::from_shared)
}

/// Remembers `timers` as the default of runtime `id` on this thread.
fn remember(id: Id, timers: &Timers) {
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            // The one replaced is only a `Weak`: its drop frees at most
            // the allocation, and runs no other code.
            *last = Some((id, Arc::downgrade(timers.shared())));
        }
    });
}

fn lock() -> MutexGuard<'static, Option<HashMap<Id, Timers>>> {
    // Nothing panics while it is held; a poisoned lock is used as is.
    DEFAULTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Timers {
    /// The default `Timers` of the current runtime (made on first use,
    /// with [`DEFAULT_SLACK`](super::DEFAULT_SLACK)): the one behind
    /// [`sleep`](super::sleep), [`interval`](super::interval),
    /// [`timeout`](super::timeout) and the other free functions. Every
    /// call on the same runtime returns a handle on the same timers; each
    /// runtime has its own, dropped when it shuts down.
    ///
    /// # Errors
    ///
    /// As [`Timers::new`]: no current runtime, or one without an I/O
    /// driver.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use iofd::time::Timers;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let timers = Timers::current()?;
    /// timers.sleep(Duration::from_micros(100)).await;
    /// assert_eq!(Timers::current()?.slack(), timers.slack());
    /// # Ok(())
    /// # }
    /// ```
    pub fn current() -> io::Result<Timers> {
        let id = Handle::try_current()
            .map_err(|_| {
                io::Error::other(
                    "no tokio runtime is current: use iofd::time inside a runtime \
                     (within `Runtime::block_on`, a task, or after `Runtime::enter`)",
                )
            })?
            .id();
        if let Some(timers) = last(id) {
            return Ok(timers);
        }
        let known = lock().as_ref().and_then(|map| map.get(&id)).cloned();
        if let Some(timers) = known {
            remember(id, &timers);
            return Ok(timers);
        }
        // Made (and, if another thread won the race, dropped) outside the
        // lock.
        let made = Timers::new()?;
        made.shared().set_default_for(id);
        let mut guard = lock();
        let map = guard.get_or_insert_with(HashMap::new);
        let timers = map.entry(id).or_insert_with(|| made.clone()).clone();
        drop(guard);
        // A shutdown seen before the entry existed could not remove it.
        if made.shared().is_shut_down() {
            forget(id, made.shared());
        } else {
            remember(id, &timers);
        }
        drop(made);
        Ok(timers)
    }
}

/// `shared`, the default of runtime `id`, saw its runtime shut down: it
/// stops being the default (its handles go on working).
pub(crate) fn forget(id: Id, shared: &Arc<Shared>) {
    let removed = {
        let mut guard = lock();
        let map = guard.as_mut();
        match map {
            Some(map)
                if map
                    .get(&id)
                    .is_some_and(|t| Arc::ptr_eq(t.shared(), shared)) =>
            {
                map.remove(&id)
            }
            _ => None,
        }
    };
    drop(removed);
}

/// Whether runtime `id` has a default (for tests).
#[cfg(test)]
pub(crate) fn has_default(id: Id) -> bool {
    lock().as_ref().is_some_and(|map| map.contains_key(&id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-thread cache of the last default keeps it weakly: once its
    /// runtime is gone and no handle is left, the timers (and their
    /// timerfd) are gone too, though this thread lives on.
    #[test]
    fn the_thread_cache_keeps_no_default_alive() {
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let weak = rt.block_on(async {
            let timers = Timers::current().unwrap();
            let again = Timers::current().unwrap();
            assert!(Arc::ptr_eq(timers.shared(), again.shared()), "cached");
            Arc::downgrade(timers.shared())
        });
        drop(rt);
        assert!(weak.upgrade().is_none(), "kept alive by the cache");
        // The next runtime on this thread gets its own.
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let timers = Timers::current().unwrap();
            assert!(!timers.shared().is_shut_down());
        });
    }

    /// One default per runtime, the same on every call; forgotten when its
    /// runtime shuts down (a later runtime, with a new id, gets its own).
    #[test]
    fn one_default_per_runtime_forgotten_at_shutdown() {
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (id, timers) = rt.block_on(async {
            let a = Timers::current().unwrap();
            let b = Timers::current().unwrap();
            assert!(Arc::ptr_eq(a.shared(), b.shared()));
            (Handle::current().id(), a)
        });
        assert!(has_default(id));
        let other = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (other_id, theirs) =
            other.block_on(async { (Handle::current().id(), Timers::current().unwrap()) });
        assert_ne!(id, other_id);
        assert!(!Arc::ptr_eq(timers.shared(), theirs.shared()));
        drop(rt);
        assert!(!has_default(id), "forgotten with its runtime");
        assert!(has_default(other_id));
        drop(other);
        assert!(!has_default(other_id));
    }
}
