//! The one timing thread of the process (`iofd-timers`): it fires the
//! timers of every [`Timers`](super::Timers) whose runtime has shut down,
//! in place of that runtime's reactor.
//!
//! It is started lazily, the first time a `Timers` needs it (its runtime
//! shut down with timers armed, or a timer was polled after the shutdown),
//! and ends once it serves no `Timers` any more. It waits on one epoll
//! instance to which each served timerfd is added — the `Timers`' own
//! descriptor, not a duplicate, so serving costs no descriptor per
//! `Timers` (two in all: the epoll instance and an eventfd that wakes the
//! thread when its last `Timers` goes). While no timer is armed it blocks
//! with no timeout: it never wakes for nothing.
//!
//! Lock order: a `Timers`' state lock, then this module's lock (never the
//! other way round); the thread looks a `Timers` up under this lock and
//! fires it after releasing it.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use rustix::event::epoll;

use super::driver::Shared;
use crate::EventFd;

/// The epoll key of the control eventfd.
const CONTROL: u64 = u64::MAX;

/// The running thread: what it waits on, and the `Timers` it serves.
struct Thread {
    epoll: Arc<OwnedFd>,
    control: Arc<EventFd>,
    served: HashMap<u64, Weak<Shared>>,
    next_key: u64,
}

/// The thread, while it runs.
static THREAD: Mutex<Option<Thread>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Thread>> {
    // Nothing panics while it is held; a poisoned lock is used as is.
    THREAD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Makes the thread fire `shared`'s timers from now on (starting the
/// thread if it does not run), whenever `timerfd` (its timerfd) is
/// readable. Returns the key to [`forget`] it by.
///
/// # Errors
///
/// When the thread cannot be started (no descriptor for its epoll
/// instance or eventfd, or the process is at its thread limit) or the
/// timerfd cannot be added to it; the caller then finds another way.
pub(crate) fn serve(shared: &Arc<Shared>, timerfd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut guard = lock();
    let thread = match &mut *guard {
        Some(thread) => thread,
        none => none.insert(start()?),
    };
    let key = thread.next_key;
    epoll::add(
        &*thread.epoll,
        timerfd,
        epoll::EventData::new_u64(key),
        epoll::EventFlags::IN,
    )?;
    thread.next_key += 1;
    thread.served.insert(key, Arc::downgrade(shared));
    Ok(key)
}

/// `shared` (served as `key`) is going: the thread stops serving it, and
/// ends if it was the last. (Its timerfd leaves the epoll instance by
/// itself when it is closed.)
pub(crate) fn forget(key: u64) {
    let mut guard = lock();
    if let Some(thread) = &mut *guard {
        thread.served.remove(&key);
        if thread.served.is_empty() {
            let _ = thread.control.signal(1);
        }
    }
}

fn start() -> io::Result<Thread> {
    let epoll = Arc::new(epoll::create(epoll::CreateFlags::CLOEXEC)?);
    let control = Arc::new(EventFd::new(0)?);
    epoll::add(
        &*epoll,
        control.as_fd(),
        epoll::EventData::new_u64(CONTROL),
        epoll::EventFlags::IN,
    )?;
    let (waits_on, woken_by) = (Arc::clone(&epoll), Arc::clone(&control));
    std::thread::Builder::new()
        .name("iofd-timers".into())
        .spawn(move || run(&waits_on, &woken_by))?;
    Ok(Thread {
        epoll,
        control,
        served: HashMap::new(),
        next_key: 0,
    })
}

/// The thread: waits (with no timeout) for a served timerfd to fire, fires
/// its timers, and ends once it serves nobody.
fn run(epoll: &OwnedFd, control: &EventFd) {
    let mut events = Vec::with_capacity(32);
    let mut firing = Vec::new();
    loop {
        events.clear();
        match epoll::wait(epoll, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            // Not expected of epoll_wait on our own instance: try again a
            // little later rather than spin (this is the helper thread,
            // no task waits on it).
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
        }
        for event in &events {
            let key = { event.data }.u64();
            if key == CONTROL {
                let _ = control.wait();
                continue;
            }
            // Upgraded under the lock, fired (and dropped) after it.
            let shared = lock()
                .as_ref()
                .and_then(|thread| thread.served.get(&key))
                .and_then(Weak::upgrade);
            if let Some(shared) = shared {
                shared.fire_from_thread(&mut firing);
            }
        }
        let mut guard = lock();
        if guard.as_ref().is_none_or(|thread| thread.served.is_empty()) {
            *guard = None;
            return;
        }
    }
}
