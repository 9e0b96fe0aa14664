//! loom models of the lock-free parts of `iofd::time`: every interleaving,
//! on the C11 memory model (not only x86's), of
//!
//! - the [`Periodic`] state an interval shares with the driver: owner
//!   polls, driver checks (which park a timer not polled between two),
//!   and the owner's re-arming under the lock once it learns it was
//!   parked;
//! - the [`Rerun`] protocol of the timerfd's readiness waker: no run
//!   beside another, no wake without a run after it.
//!
//! Run with `RUSTFLAGS="--cfg iofd_loom" cargo test --release --lib
//! --target-dir target/loom time::loom` (`.ci/run` does).

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use super::deadlines::Periodic;
use super::rerun::Rerun;

/// The owner polls `polls` times (re-arming under the lock when it finds
/// the timer parked) while the driver checks `checks` times (parking
/// it, under the lock, when not polled since its previous check).
/// Whatever the interleaving: the heap holds the timer exactly when it is
/// not parked, and an owner whose timer was parked learns it at its next
/// poll.
fn periodic(polls: usize, checks: usize) {
    loom::model(move || {
        let periodic = std::sync::Arc::new(Periodic::new(1));
        // Whether the timer is in the heap (the driver's lock).
        let in_heap = Arc::new(Mutex::new(true));
        let owner = {
            let periodic = std::sync::Arc::clone(&periodic);
            let in_heap = Arc::clone(&in_heap);
            thread::spawn(move || {
                for _ in 0..polls {
                    if !periodic.polled() {
                        let mut in_heap = in_heap.lock().unwrap();
                        assert!(!*in_heap, "told parked while in the heap");
                        periodic.rearmed();
                        *in_heap = true;
                    }
                }
            })
        };
        for _ in 0..checks {
            let mut in_heap = in_heap.lock().unwrap();
            if *in_heap && !periodic.check() {
                *in_heap = false;
            }
        }
        owner.join().unwrap();
        let in_heap = *in_heap.lock().unwrap();
        assert_eq!(periodic.is_parked(), !in_heap);
        if !in_heap {
            assert!(!periodic.polled(), "a parked timer's owner learns it");
        }
    });
}

#[test]
fn periodic_one_poll_two_checks() {
    periodic(1, 2);
}

#[test]
fn periodic_two_polls_three_checks() {
    periodic(2, 3);
}

/// Two threads wake (each after posting an event), one of them again from
/// inside its own run: no two runs at once, and every event posted before
/// a wake is taken by some run.
#[test]
fn rerun_loses_no_wake_and_never_overlaps() {
    loom::model(|| {
        let rerun = Arc::new(Rerun::new());
        let events = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicBool::new(false));
        let waker = |rerun: Arc<Rerun>,
                     events: Arc<AtomicUsize>,
                     taken: Arc<AtomicUsize>,
                     running: Arc<AtomicBool>,
                     nested: bool| {
            move || {
                events.fetch_add(1, Ordering::Release);
                let mut again = nested;
                rerun.wake(|| {
                    assert!(!running.swap(true, Ordering::AcqRel), "two runs at once");
                    let new = events.swap(0, Ordering::AcqRel);
                    taken.fetch_add(new, Ordering::Relaxed);
                    if again {
                        // Woken from inside its own run: no recursion.
                        again = false;
                        events.fetch_add(1, Ordering::Release);
                        rerun.wake(|| panic!("recursed"));
                    }
                    running.store(false, Ordering::Release);
                });
            }
        };
        let other = thread::spawn(waker(
            Arc::clone(&rerun),
            Arc::clone(&events),
            Arc::clone(&taken),
            Arc::clone(&running),
            false,
        ));
        waker(
            Arc::clone(&rerun),
            Arc::clone(&events),
            Arc::clone(&taken),
            Arc::clone(&running),
            true,
        )();
        other.join().unwrap();
        // 2 or 3 events (the nested one only if that thread ran).
        assert_eq!(events.load(Ordering::Acquire), 0, "an event was left");
        assert!((2..=3).contains(&taken.load(Ordering::Relaxed)));
    });
}
