//! The one helper thread of the process (`iofd-helper`), for the documented
//! fallbacks that need one:
//!
//! - it fires the timers of every [`Timers`](crate::time::Timers) whose
//!   runtime has shut down, in place of that runtime's reactor (feature
//!   `tokio`);
//! - it wakes, at their deadlines, the tasks of timers nothing else can
//!   fire ("timed wake-ups": a `Timers` whose runtime shut down while no
//!   descriptor was left to serve it, or the drop-in functions' stand-in
//!   without a descriptor); each task then looks at its clock again;
//! - it reaps the children of owning [`PidFd`](crate::PidFd)s dropped while
//!   their child still ran ("orphans"), once they exit, so that no zombie
//!   is left.
//!
//! It is started lazily, the first time something needs it, and ends once
//! it serves nothing. It waits on one epoll instance, to which each served
//! descriptor is added — a `Timers`' own timerfd (not a duplicate), or the
//! orphan's pidfd, which the thread then owns and closes after the reap —
//! plus an eventfd that wakes the thread when what it serves changes; its
//! timeout is the earliest timed wake-up, and with none it blocks with no
//! timeout: it never wakes for nothing.
//!
//! It needs no descriptor to start: when its epoll instance or eventfd
//! cannot be made (`EMFILE`), it runs descriptor-free, serving only timed
//! wake-ups (a condition variable with a timeout), and switches to epoll
//! once a later request that needs a descriptor manages to make them (they
//! are handed over under the lock). Only when the thread itself cannot be
//! spawned (the process is at its thread limit) is a timed wake-up
//! refused; the caller then wakes its task at once.
//!
//! A descriptor leaves the epoll instance explicitly (`EPOLL_CTL_DEL`)
//! before it is closed: closing it is not enough while a copy of it lives
//! on (a `fork`ed child that has not exec'd yet). And a key the thread no
//! longer knows is harmless: a timerfd is added one-shot
//! (`EPOLLONESHOT`) and re-enabled only after its key was found and
//! fired, and an orphan's pidfd is edge-triggered, so an event for a
//! forgotten key is reported at most once.
//!
//! Lock order: a `Timers`' state lock, then this module's lock (never the
//! other way round); the thread looks a `Timers` up under this lock and
//! fires it, or wakes a task, after releasing it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::process::{WaitId, WaitIdOptions};

use crate::EventFd;

/// The thread's name, as `/proc/<pid>/task/<tid>/comm` shows it.
pub(crate) const NAME: &str = "iofd-helper";

/// The epoll key of the control eventfd.
const CONTROL: u64 = u64::MAX;

/// Something the thread fires whenever its descriptor is readable: the
/// timers of a `Timers` whose runtime has shut down.
pub(crate) trait Fire: Send + Sync {
    /// Fires what is due, waking the wakers through `scratch` (a list the
    /// thread keeps from one call to the next, returned empty).
    fn fire(&self, scratch: &mut Vec<Waker>);

    /// The descriptor it was served by (open while it lives).
    fn fd(&self) -> Option<BorrowedFd<'_>>;
}

/// What one epoll key stands for.
enum Served {
    /// Fired while it lives (the thread holds no strong reference).
    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "made only by `serve` (feature tokio)")
    )]
    Fire(Weak<dyn Fire>),
    /// The pidfd of a child whose owning handle was dropped before the
    /// child was reaped: reaped, then closed, once readable.
    Orphan(OwnedFd),
}

/// The running thread: what it waits on, and what it serves.
struct Thread {
    /// The process it runs in. A `fork`ed copy of the process inherits
    /// this record but not the thread (nor may it share the epoll
    /// instance and eventfd with the parent's thread): it starts its own.
    pid: i32,
    /// Its epoll instance and eventfd; `None` while it runs
    /// descriptor-free (timed wake-ups only, waiting on [`WAKE`]).
    fds: Option<Fds>,
    served: HashMap<u64, Served>,
    next_key: u64,
    /// The timed wake-ups, earliest first.
    timed: BinaryHeap<Reverse<Timed>>,
    /// The earliest timed wake-up of each waker (by its data and vtable
    /// pointers, what `Waker::will_wake` compares): a task polled again
    /// before its wake-up asks for no other (no scan of the heap).
    earliest: HashMap<(usize, usize), Instant>,
}

/// What tells wakers apart, as `Waker::will_wake` does.
fn waker_key(waker: &Waker) -> (usize, usize) {
    (
        waker.data() as usize,
        std::ptr::from_ref(waker.vtable()) as usize,
    )
}

/// What the thread waits on in epoll mode.
#[derive(Clone)]
struct Fds {
    epoll: Arc<OwnedFd>,
    control: Arc<EventFd>,
}

impl Fds {
    fn new() -> io::Result<Fds> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let control = EventFd::new(0)?;
        epoll::add(
            &epoll,
            control.as_fd(),
            epoll::EventData::new_u64(CONTROL),
            epoll::EventFlags::IN,
        )?;
        Ok(Fds {
            epoll: Arc::new(epoll),
            control: Arc::new(control),
        })
    }
}

/// A task to wake at `at`.
struct Timed {
    at: Instant,
    waker: Waker,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Timed) -> bool {
        self.at == other.at
    }
}

impl Eq for Timed {}

impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Timed) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timed {
    fn cmp(&self, other: &Timed) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

impl Thread {
    /// Its epoll instance and eventfd, made now if it runs
    /// descriptor-free (the thread, woken, switches to epoll).
    fn fds(&mut self) -> io::Result<&Fds> {
        Ok(match &mut self.fds {
            Some(fds) => fds,
            none => {
                let fds = none.insert(Fds::new()?);
                WAKE.notify_all();
                fds
            }
        })
    }

    /// Has the thread look at its state again: a timed wake-up earlier
    /// than it waits for, or nothing left to serve.
    #[cfg(feature = "tokio")]
    fn nudge(&self) {
        match &self.fds {
            Some(fds) => drop(fds.control.signal(1)),
            None => WAKE.notify_all(),
        }
    }
}

/// The thread, while it runs.
static THREAD: Mutex<Option<Thread>> = Mutex::new(None);

/// Wakes the thread while it runs descriptor-free.
static WAKE: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, Option<Thread>> {
    // Nothing panics while it is held; a poisoned lock is used as is.
    THREAD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Adds `fd` to the thread's epoll instance (starting the thread if it
/// does not run) as a new key standing for `served`.
#[cfg(feature = "tokio")]
fn add(fd: BorrowedFd<'_>, flags: epoll::EventFlags, served: Served) -> io::Result<u64> {
    let mut guard = lock();
    let thread = running(&mut guard)?;
    let key = thread.next_key;
    epoll::add(
        &*thread.fds()?.epoll,
        fd,
        epoll::EventData::new_u64(key),
        flags,
    )?;
    thread.next_key += 1;
    thread.served.insert(key, served);
    Ok(key)
}

/// Makes the thread call `fire` whenever `fd` is readable, from now on
/// (one-shot, re-enabled after each call under this module's lock, so
/// level-triggered in effect: `fire` must consume the readiness). Returns
/// the key to [`forget`] it by.
///
/// # Errors
///
/// When the thread cannot be started (no descriptor for its epoll
/// instance or eventfd, or the process is at its thread limit) or `fd`
/// cannot be added to it; the caller then finds another way.
#[cfg(feature = "tokio")]
pub(crate) fn serve(fire: Weak<dyn Fire>, fd: BorrowedFd<'_>) -> io::Result<u64> {
    add(fd, FIRE_FLAGS, Served::Fire(fire))
}

/// How a served timerfd is watched: one-shot, re-enabled by the thread
/// after each firing, while its key is still served.
const FIRE_FLAGS: epoll::EventFlags = epoll::EventFlags::IN.union(epoll::EventFlags::ONESHOT);

/// What was served as `key`, by `fd`, is going: `fd` leaves the epoll
/// instance (before the caller closes it: a copy of it inherited by a
/// `fork`ed child would otherwise keep it there), and the thread stops
/// serving it, and ends if it served nothing else.
#[cfg(feature = "tokio")]
pub(crate) fn forget(key: u64, fd: BorrowedFd<'_>) {
    let mut guard = lock();
    // A record inherited through `fork` serves nothing here, and its
    // eventfd would wake the parent's thread.
    let me = this_process();
    if let Some(thread) = guard.as_mut().filter(|thread| thread.pid == me) {
        if let (Some(_), Some(fds)) = (thread.served.remove(&key), &thread.fds) {
            // ENOENT (never added, or already out): nothing to undo.
            let _ = epoll::delete(&*fds.epoll, fd);
        }
        if thread.served.is_empty() {
            thread.nudge();
        }
    }
}

/// Hands the pidfd of a running child of this process over to the thread,
/// which reaps the child once it exits and then closes `pidfd`. Never
/// blocks beyond a short lock.
///
/// # Errors
///
/// When the thread cannot be started or the pidfd cannot be added to it;
/// `pidfd` is then closed, and the child stays a zombie once it exits.
pub(crate) fn adopt_orphan(pidfd: OwnedFd) -> io::Result<()> {
    // Edge-triggered: readiness that has nothing to reap (not expected)
    // never makes the thread spin. An exit before the add is reported
    // once, at the add.
    let flags = epoll::EventFlags::IN | epoll::EventFlags::ET;
    // The descriptor moves into the map only once added; a failed add
    // drops (closes) it here.
    let mut guard = lock();
    let thread = running(&mut guard)?;
    let key = thread.next_key;
    epoll::add(
        &*thread.fds()?.epoll,
        pidfd.as_fd(),
        epoll::EventData::new_u64(key),
        flags,
    )?;
    thread.next_key += 1;
    thread.served.insert(key, Served::Orphan(pidfd));
    Ok(())
}

/// Has the thread wake `waker` at `at` (or soon after; never before),
/// starting it if it does not run; needs no descriptor. A task that asks
/// again for the same instant or a later one, before it was woken, is
/// woken once.
///
/// # Errors
///
/// When the thread cannot be spawned (the process is at its thread
/// limit): the caller then wakes its task at once.
#[cfg(feature = "tokio")]
pub(crate) fn wake_at(at: Instant, waker: &Waker) -> io::Result<()> {
    let mut guard = lock();
    let thread = running(&mut guard)?;
    match thread.earliest.entry(waker_key(waker)) {
        std::collections::hash_map::Entry::Occupied(asked) if *asked.get() <= at => {
            return Ok(());
        }
        std::collections::hash_map::Entry::Occupied(mut asked) => {
            asked.insert(at);
        }
        std::collections::hash_map::Entry::Vacant(vacant) => {
            vacant.insert(at);
        }
    }
    let earliest = thread
        .timed
        .peek()
        .is_none_or(|Reverse(timed)| at < timed.at);
    thread.timed.push(Reverse(Timed {
        at,
        waker: waker.clone(),
    }));
    if earliest {
        thread.nudge();
    }
    Ok(())
}

/// Reaps the exited child of `pidfd` (`waitid(P_PIDFD, WEXITED | WNOHANG)`):
/// `true` once there is nothing left to wait for (reaped now, or by someone
/// else: `ECHILD`), `false` while it runs.
pub(crate) fn reap_now(pidfd: BorrowedFd<'_>) -> bool {
    // `__WALL`: a child whose exit signal is not SIGCHLD (clone3) too.
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | crate::pidfd::WALL;
    loop {
        match rustix::process::waitid(WaitId::PidFd(pidfd), options) {
            Ok(Some(_)) => return true,
            // A nonblocking pidfd answers EAGAIN instead of sleeping.
            Ok(None) | Err(rustix::io::Errno::AGAIN) => return false,
            Err(rustix::io::Errno::INTR) => {}
            // ECHILD: reaped elsewhere; EINVAL: no P_PIDFD (Linux 5.3),
            // nothing this thread can do.
            Err(_) => return true,
        }
    }
}

/// The thread of this process, started if it does not run (or runs only
/// in the process this one was forked from).
fn running<'a>(guard: &'a mut MutexGuard<'static, Option<Thread>>) -> io::Result<&'a mut Thread> {
    let me = this_process();
    // Inherited through `fork`: its orphans' pidfds (copies) are closed
    // here; its epoll instance and eventfd stay open in this process
    // (close-on-exec), as the parent's thread held the other references.
    // Its wakers belong to the parent's tasks: left alone (leaked), as
    // their drop could run anything.
    if let Some(mut inherited) = guard.take_if(|thread| thread.pid != me) {
        std::mem::forget(std::mem::take(&mut inherited.timed));
        inherited.earliest.clear();
    }
    Ok(match &mut **guard {
        Some(thread) => thread,
        none => none.insert(start(me)?),
    })
}

fn this_process() -> i32 {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// Spawns the thread, descriptor-free: it finds its record (inserted by
/// the caller, under the lock it waits for) once it runs.
fn start(pid: i32) -> io::Result<Thread> {
    std::thread::Builder::new().name(NAME.into()).spawn(run)?;
    Ok(Thread {
        pid,
        fds: None,
        served: HashMap::new(),
        next_key: 0,
        timed: BinaryHeap::new(),
        earliest: HashMap::new(),
    })
}

/// The thread: wakes the timed wake-ups due; waits (until the next one,
/// or with no timeout) for a served descriptor to become readable, fires
/// its timers or reaps its orphan; and ends once it serves nothing.
fn run() {
    let mut events = Vec::with_capacity(32);
    let mut firing = Vec::new();
    let mut due = Vec::new();
    loop {
        let mut guard = lock();
        let Some(thread) = guard.as_mut() else {
            return;
        };
        let now = Instant::now();
        while let Some(Reverse(timed)) = thread.timed.peek()
            && timed.at <= now
        {
            if let Some(Reverse(timed)) = thread.timed.pop() {
                let key = waker_key(&timed.waker);
                if thread.earliest.get(&key) == Some(&timed.at) {
                    thread.earliest.remove(&key);
                }
                due.push(timed.waker);
            }
        }
        if due.is_empty() && thread.served.is_empty() && thread.timed.is_empty() {
            *guard = None;
            return;
        }
        let timeout = thread
            .timed
            .peek()
            .map(|Reverse(timed)| timed.at.saturating_duration_since(now));
        let Some(fds) = thread.fds.clone() else {
            if due.is_empty() {
                // Descriptor-free: timed wake-ups only.
                drop(match timeout {
                    Some(timeout) => WAKE
                        .wait_timeout(guard, timeout)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0),
                    None => WAKE
                        .wait(guard)
                        .unwrap_or_else(|poisoned| poisoned.into_inner()),
                });
            } else {
                drop(guard);
                due.drain(..).for_each(Waker::wake);
            }
            continue;
        };
        drop(guard);
        // Woken outside the lock (a wake may run anything).
        due.drain(..).for_each(Waker::wake);
        wait(&fds, timeout, &mut events);
        for event in &events {
            let key = { event.data }.u64();
            if key == CONTROL {
                let _ = fds.control.wait();
                continue;
            }
            let mut guard = lock();
            let Some(thread) = guard.as_mut() else {
                continue;
            };
            match thread.served.get(&key) {
                Some(Served::Fire(fire)) => {
                    // Upgraded under the lock, fired (and dropped) after it.
                    let fire = fire.upgrade();
                    drop(guard);
                    if let Some(fire) = fire {
                        fire.fire(&mut firing);
                        rearm(&fire, key);
                    }
                }
                // WNOHANG: never blocks under the lock.
                Some(Served::Orphan(pidfd)) if reap_now(pidfd.as_fd()) => {
                    // Out of the epoll instance before it is closed (a
                    // `fork`ed child may hold a copy).
                    let _ = epoll::delete(&*fds.epoll, pidfd.as_fd());
                    let orphan = thread.served.remove(&key);
                    drop(guard);
                    drop(orphan);
                }
                // Still running (readiness with nothing to reap), or a key
                // forgotten meanwhile: its one-shot (timerfd) or
                // edge-triggered (pidfd) registration reports no more.
                Some(Served::Orphan(_)) | None => {}
            }
        }
    }
}

/// `epoll_wait` on `fds` for at most `timeout` (`None`: no limit), into
/// `events`.
fn wait(fds: &Fds, timeout: Option<Duration>, events: &mut Vec<epoll::Event>) {
    events.clear();
    let timeout = timeout.map(|timeout| rustix::time::Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: timeout.subsec_nanos().into(),
    });
    match epoll::wait(
        &*fds.epoll,
        rustix::buffer::spare_capacity(events),
        timeout.as_ref(),
    ) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        // Not expected of epoll_wait on our own instance: try again a
        // little later rather than spin (this is the helper thread, no
        // task waits on it).
        Err(_) => std::thread::sleep(Duration::from_millis(1)),
    }
}

/// Re-enables the one-shot registration of `fire`'s descriptor, if `key`
/// is still served (checked under the lock; `fire` is alive, so its
/// descriptor is open and is the one added as `key`).
fn rearm(fire: &Arc<dyn Fire>, key: u64) {
    let guard = lock();
    let Some(thread) = guard.as_ref() else {
        return;
    };
    if let (Some(Served::Fire(_)), Some(fds), Some(fd)) =
        (thread.served.get(&key), &thread.fds, fire.fd())
    {
        let _ = epoll::modify(&*fds.epoll, fd, epoll::EventData::new_u64(key), FIRE_FLAGS);
    }
}
