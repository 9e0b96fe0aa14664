//! Bad input, swept: every generated input is either accepted and behaves
//! as specified, or refused with `InvalidInput` and a message — nothing
//! panics, and nothing leaks a descriptor.
//!
//! One test function runs every property, so no other test of this binary
//! opens descriptors meanwhile and the count around them is exact.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use iofd::{EventFd, MEMFD_NAME_MAX, MemFd, Protection, SigSet, Signal, TimerFd};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    })
}

fn refused(err: &std::io::Error) -> Result<(), TestCaseError> {
    prop_assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", err);
    prop_assert!(!err.to_string().is_empty());
    Ok(())
}

fn signal_new_matches_its_range() {
    let numbers = prop_oneof![any::<i32>(), -2..70i32];
    runner()
        .run(&numbers, |n| {
            match Signal::new(n) {
                Ok(signal) => {
                    prop_assert!((1..=64).contains(&n));
                    prop_assert_eq!(signal.as_raw(), n);
                    prop_assert!(!signal.to_string().is_empty());
                }
                Err(e) => {
                    prop_assert!(!(1..=64).contains(&n));
                    refused(&e)?;
                }
            }
            Ok(())
        })
        .unwrap();
    runner()
        .run(&prop_oneof![any::<u32>(), 0..40u32], |offset| {
            let fits =
                i64::from(libc::SIGRTMIN()) + i64::from(offset) <= i64::from(libc::SIGRTMAX());
            match Signal::rt(offset) {
                Ok(signal) => {
                    prop_assert!(fits);
                    prop_assert_eq!(signal.as_raw(), libc::SIGRTMIN() + offset as i32);
                }
                Err(e) => {
                    prop_assert!(!fits);
                    refused(&e)?;
                }
            }
            Ok(())
        })
        .unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    Add(i32),
    Remove(i32),
}

fn sigset_matches_a_plain_model() {
    let op = prop_oneof![
        (1..=64i32).prop_map(Op::Add),
        (1..=64i32).prop_map(Op::Remove)
    ];
    let case = (
        proptest::collection::vec(op, 0..40),
        proptest::collection::btree_set(1..=64i32, 0..20),
    );
    runner()
        .run(&case, |(ops, other)| {
            let mut set = SigSet::empty();
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Add(n) => {
                        prop_assert_eq!(set.add(Signal::new(n).unwrap()), model.insert(n))
                    }
                    Op::Remove(n) => {
                        prop_assert_eq!(set.remove(Signal::new(n).unwrap()), model.remove(&n))
                    }
                }
                prop_assert_eq!(set.len(), model.len());
            }
            let listed: Vec<i32> = set.iter().map(Signal::as_raw).collect();
            prop_assert_eq!(&listed, &model.iter().copied().collect::<Vec<_>>());
            for n in 1..=64 {
                prop_assert_eq!(set.contains(Signal::new(n).unwrap()), model.contains(&n));
            }
            let other_set: SigSet = other.iter().map(|&n| Signal::new(n).unwrap()).collect();
            let as_model = |s: SigSet| s.iter().map(Signal::as_raw).collect::<BTreeSet<_>>();
            prop_assert_eq!(
                as_model(set | other_set),
                model.union(&other).copied().collect()
            );
            prop_assert_eq!(
                as_model(set & other_set),
                model.intersection(&other).copied().collect()
            );
            prop_assert_eq!(
                as_model(set - other_set),
                model.difference(&other).copied().collect()
            );
            prop_assert_eq!((!set).len(), 64 - model.len());
            prop_assert_eq!(SigSet::from_bits(set.bits()), set);
            Ok(())
        })
        .unwrap();
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        Just(Duration::from_secs(i64::MAX as u64)),
        Just(Duration::new(i64::MAX as u64 + 1, 0)),
        (0..10_000u64, 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn timer_durations_from_zero_to_max() {
    let timer = TimerFd::new().unwrap();
    runner()
        .run(
            &(any_duration(), any_duration(), any::<bool>()),
            |(initial, interval, absolute)| {
                let fits = |d: Duration| d.as_secs() <= i64::MAX as u64;
                let result = if absolute {
                    timer.arm_at(initial, interval)
                } else {
                    timer.arm(initial, interval)
                };
                match result {
                    Ok(()) => {
                        prop_assert!(fits(initial) && fits(interval));
                        let (remaining, got_interval) = timer.get_time().unwrap();
                        // The kernel keeps nanoseconds exactly below its
                        // ~292-year ceiling.
                        if interval < Duration::from_secs(100 * 365 * 86_400) {
                            prop_assert_eq!(got_interval, interval);
                        }
                        // Armed, never disarmed by a zero initial value (a
                        // one-shot may already have fired).
                        prop_assert!(
                            !remaining.is_zero()
                                || interval.is_zero()
                                || timer.expirations().is_ok()
                        );
                    }
                    Err(e) => {
                        prop_assert!(!(fits(initial) && fits(interval)));
                        refused(&e)?;
                    }
                }
                timer.disarm().unwrap();
                let _ = timer.expirations();
                Ok(())
            },
        )
        .unwrap();
}

fn eventfd_values_around_u64_max() {
    let value = prop_oneof![(u64::MAX - 16)..=u64::MAX, any::<u64>(), 0..16u64,];
    runner()
        .run(&value, |v| {
            let efd = EventFd::new(0).unwrap();
            match efd.signal(v) {
                Ok(()) => {
                    prop_assert!(v < u64::MAX);
                    match efd.wait() {
                        Ok(n) => prop_assert_eq!(n, v),
                        Err(e) => {
                            prop_assert_eq!(v, 0);
                            prop_assert_eq!(e.kind(), ErrorKind::WouldBlock);
                        }
                    }
                }
                Err(e) => {
                    prop_assert_eq!(v, u64::MAX);
                    refused(&e)?;
                }
            }
            // Raw writes agree with signal().
            let raw = efd.write(&v.to_ne_bytes());
            prop_assert_eq!(raw.is_ok(), v < u64::MAX);
            Ok(())
        })
        .unwrap();
}

fn memfd_names() {
    let name = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(1..=255u8, 240..260),
        proptest::collection::vec(prop_oneof![Just(0u8), Just(0xffu8), 32..127u8], 0..20),
    ];
    runner()
        .run(&name, |bytes| {
            let name = OsStr::from_bytes(&bytes);
            match MemFd::new(name) {
                Ok(memfd) => {
                    prop_assert!(!bytes.contains(&0) && bytes.len() <= MEMFD_NAME_MAX);
                    prop_assert_eq!(memfd.name(), name);
                }
                Err(e) => {
                    prop_assert!(bytes.contains(&0) || bytes.len() > MEMFD_NAME_MAX);
                    refused(&e)?;
                }
            }
            Ok(())
        })
        .unwrap();
}

fn mmap_lengths_and_offsets() {
    let page = rustix::param::page_size();
    let case = (
        0..=4 * page as u64,
        prop_oneof![0..=5 * page, Just(usize::MAX), any::<usize>()],
        prop_oneof![
            (0..5u64).prop_map(move |p| p * page as u64),
            0..=5 * page as u64,
            any::<u64>()
        ],
    );
    runner()
        .run(&case, |(size, len, offset)| {
            let memfd = MemFd::new("map").unwrap();
            memfd.set_len(size).unwrap();
            let valid = len > 0
                && offset % page as u64 == 0
                && offset
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= size);
            match memfd.mmap_at(len, Protection::Read, offset) {
                Ok(region) => {
                    prop_assert!(valid);
                    prop_assert_eq!(region.len(), len);
                    let mut byte = [1u8];
                    prop_assert_eq!(region.read_at(&mut byte, len - 1).unwrap(), 1);
                    prop_assert_eq!(byte[0], 0, "zero-filled");
                }
                Err(e) => {
                    prop_assert!(
                        !valid,
                        "{} bytes at {} of {} refused: {}",
                        len,
                        offset,
                        size,
                        e
                    );
                    refused(&e)?;
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_input_is_accepted_as_specified_or_refused_and_nothing_leaks() {
    // A first, unmeasured pass lets lazily opened descriptors appear.
    signal_new_matches_its_range();
    let before = open_fds();
    signal_new_matches_its_range();
    sigset_matches_a_plain_model();
    timer_durations_from_zero_to_max();
    eventfd_values_around_u64_max();
    memfd_names();
    mmap_lengths_and_offsets();
    assert_eq!(open_fds(), before, "descriptors leaked");
}
