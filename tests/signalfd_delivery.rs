//! Signal delivery through a `SignalFd`.
//!
//! `harness = false`: `main` blocks every signal these tests send before any
//! other thread exists, so no thread can take one and die of its default
//! action. The tests then run one after another on the main thread.

mod common;

use common::{UnblockingThread, kill_self, pid, raise, sigqueue_self, uid};

use std::io::ErrorKind;
use std::process::Command;

use iofd::{
    SigSet, Signal, SignalCode, SignalFd, SignalInfo, SignalMaskGuard,
    ensure_blocked_in_all_threads, reset_signal_mask_on_exec, threads_not_blocking,
};

fn sent() -> SigSet {
    let mut set: SigSet = [Signal::USR1, Signal::USR2, Signal::TERM]
        .into_iter()
        .collect();
    set.add(Signal::rt(0).unwrap());
    set.add(Signal::rt(1).unwrap());
    set
}

fn assert_nothing_pending(sfd: &SignalFd) {
    assert_eq!(sfd.read_info().unwrap_err().kind(), ErrorKind::WouldBlock);
}

fn thread_directed_delivery_has_sender_details() {
    let sfd = SignalFd::new(&sent()).unwrap();
    raise(Signal::USR1);
    let info = sfd.read_info().unwrap();
    assert_eq!(info.signal(), Some(Signal::USR1));
    assert_eq!(info.pid(), pid());
    assert_eq!(info.uid(), uid());
    assert_eq!(info.code(), SignalCode::Tkill);
    assert_nothing_pending(&sfd);
}

fn process_directed_delivery_has_sender_details() {
    let sfd = SignalFd::new(&sent()).unwrap();
    kill_self(Signal::USR2);
    let info = sfd.read_info().unwrap();
    assert_eq!(info.signal(), Some(Signal::USR2));
    assert_eq!(info.pid(), pid());
    assert_eq!(info.uid(), uid());
    assert_eq!(info.code(), SignalCode::User);
    assert_nothing_pending(&sfd);
}

fn hundred_realtime_signals_arrive_in_order_with_values() {
    let rt = Signal::rt(1).unwrap();
    let sfd = SignalFd::new(&SigSet::from(rt)).unwrap();
    for value in 0..100 {
        sigqueue_self(rt, value);
    }
    let mut got = Vec::new();
    let mut buf = [SignalInfo::default(); 16];
    loop {
        match sfd.read_batch(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("read_batch: {e}"),
        }
    }
    assert_eq!(got.len(), 100, "none lost");
    for (i, info) in got.iter().enumerate() {
        assert_eq!(info.signal(), Some(rt));
        assert_eq!(info.code(), SignalCode::Queue);
        assert_eq!(info.value_int(), i as i32, "in order");
        assert_eq!(info.value_ptr(), i as u64);
        assert_eq!(info.pid(), pid());
        assert_eq!(info.uid(), uid());
    }
}

fn standard_signals_coalesce() {
    let sfd = SignalFd::new(&sent()).unwrap();
    kill_self(Signal::USR1);
    kill_self(Signal::USR1);
    let info = sfd.read_info().unwrap();
    assert_eq!(info.signal(), Some(Signal::USR1));
    assert_nothing_pending(&sfd);
}

fn read_batch_drains_several_records_in_one_call() {
    let sfd = SignalFd::new(&sent()).unwrap();
    raise(Signal::TERM);
    raise(Signal::USR2);
    raise(Signal::USR1);
    let rt = Signal::rt(0).unwrap();
    sigqueue_self(rt, 7);
    sigqueue_self(rt, 8);
    let mut buf = [SignalInfo::default(); 8];
    let n = sfd.read_batch(&mut buf).unwrap();
    assert_eq!(n, 5, "one read returned every pending record");
    let signals: Vec<_> = buf[..n].iter().map(|i| i.signal().unwrap()).collect();
    // Standard signals by number first, then real-time ones in send order.
    assert_eq!(signals, [Signal::USR1, Signal::USR2, Signal::TERM, rt, rt]);
    assert_eq!((buf[3].value_int(), buf[4].value_int()), (7, 8));
    assert_eq!(buf[5], SignalInfo::default(), "records past n untouched");
    assert_nothing_pending(&sfd);

    // A short buffer takes only what fits; the rest stays pending.
    raise(Signal::USR1);
    raise(Signal::USR2);
    let mut one = [SignalInfo::default(); 1];
    assert_eq!(sfd.read_batch(&mut one).unwrap(), 1);
    assert_eq!(one[0].signal(), Some(Signal::USR1));
    assert_eq!(sfd.read_info().unwrap().signal(), Some(Signal::USR2));
}

fn set_mask_changes_what_is_read() {
    let sfd = SignalFd::new(&SigSet::from(Signal::USR1)).unwrap();
    raise(Signal::USR2);
    assert_nothing_pending(&sfd);
    sfd.set_mask(&SigSet::from(Signal::USR2)).unwrap();
    assert_eq!(sfd.mask(), SigSet::from(Signal::USR2));
    assert_eq!(sfd.read_info().unwrap().signal(), Some(Signal::USR2));
    raise(Signal::USR1);
    assert_nothing_pending(&sfd);
    sfd.set_mask(&sent()).unwrap();
    assert_eq!(sfd.mask(), sent());
    assert_eq!(sfd.read_info().unwrap().signal(), Some(Signal::USR1));
}

fn thread_check_names_a_thread_that_does_not_block() {
    let set = sent();
    ensure_blocked_in_all_threads(&set).unwrap();
    assert_eq!(threads_not_blocking(&set).unwrap(), []);

    let stealer = UnblockingThread::spawn("stealer", Signal::USR1);
    let tid = stealer.tid;

    // The kernel's view of the stealer's mask, which /proc reports, is
    // its own at once; under valgrind it becomes so only once the thread
    // sits in its blocking `recv` (valgrind keeps every signal blocked in
    // the kernel while a thread runs guest code), so wait for that.
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let found = loop {
        let found = threads_not_blocking(&set).unwrap();
        if !found.is_empty() || std::time::Instant::now() > give_up {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].tid, tid);
    assert_eq!(found[0].name, "stealer");
    assert_eq!(found[0].unblocked, SigSet::from(Signal::USR1));
    let err = ensure_blocked_in_all_threads(&set).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let message = err.to_string();
    assert!(
        message.contains("stealer") && message.contains(&tid.to_string()),
        "{message}"
    );
    assert!(message.contains("SIGUSR1"), "{message}");
    // A set the stealer does block passes.
    ensure_blocked_in_all_threads(&SigSet::from(Signal::USR2)).unwrap();

    stealer.stop();
    ensure_blocked_in_all_threads(&set).unwrap();
}

fn guard_restores_the_mask_on_the_main_thread() {
    let before = SigSet::thread_blocked().unwrap();
    assert_eq!(before & sent(), sent());
    let extra = SigSet::from(Signal::HUP);
    {
        let _guard = SignalMaskGuard::block(&extra).unwrap();
        assert_eq!(SigSet::thread_blocked().unwrap(), before | extra);
    }
    assert_eq!(SigSet::thread_blocked().unwrap(), before);
}

fn child_does_not_inherit_the_block_with_the_helper() {
    let mut command = Command::new("grep");
    command.args(["SigBlk", "/proc/self/status"]);
    reset_signal_mask_on_exec(&mut command);
    let out = command.output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim(), "SigBlk:\t0000000000000000");
}

/// A record given back (`SignalInfo::requeue`) goes, once and exactly, to
/// the next read whose mask covers it, ahead of the kernel's records; a
/// signalfd whose mask does not cover it never sees it.
fn a_record_given_back_goes_once_to_a_reader_of_its_signal() {
    let usr1 = SignalFd::new(&SigSet::from(Signal::USR1)).unwrap();
    let usr2 = SignalFd::new(&SigSet::from(Signal::USR2)).unwrap();
    sigqueue_self(Signal::USR1, 7);
    let taken = usr1.read_info().unwrap();
    assert_eq!(taken.value_int(), 7);
    taken.requeue().unwrap();
    assert_nothing_pending(&usr2);
    kill_self(Signal::USR1); // pending in the kernel, behind the given-back one
    let mut batch = [SignalInfo::default(); 4];
    assert_eq!(
        usr1.read_batch(&mut batch).unwrap(),
        1,
        "the record given back"
    );
    assert_eq!(batch[0], taken);
    let from_kernel = usr1.read_info().unwrap();
    assert_eq!(from_kernel.code(), SignalCode::User);
    assert_nothing_pending(&usr1);
    assert_eq!(
        SignalInfo::default().requeue().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

fn main() {
    // Before anything else, and before any thread: block what we send.
    SignalMaskGuard::block(&(sent() | SigSet::from(Signal::HUP)))
        .expect("block the test signals")
        .keep();

    let tests: &[(&str, fn())] = &[
        (
            "thread_directed_delivery_has_sender_details",
            thread_directed_delivery_has_sender_details,
        ),
        (
            "process_directed_delivery_has_sender_details",
            process_directed_delivery_has_sender_details,
        ),
        (
            "hundred_realtime_signals_arrive_in_order_with_values",
            hundred_realtime_signals_arrive_in_order_with_values,
        ),
        ("standard_signals_coalesce", standard_signals_coalesce),
        (
            "a_record_given_back_goes_once_to_a_reader_of_its_signal",
            a_record_given_back_goes_once_to_a_reader_of_its_signal,
        ),
        (
            "read_batch_drains_several_records_in_one_call",
            read_batch_drains_several_records_in_one_call,
        ),
        (
            "set_mask_changes_what_is_read",
            set_mask_changes_what_is_read,
        ),
        (
            "thread_check_names_a_thread_that_does_not_block",
            thread_check_names_a_thread_that_does_not_block,
        ),
        (
            "guard_restores_the_mask_on_the_main_thread",
            guard_restores_the_mask_on_the_main_thread,
        ),
        (
            "child_does_not_inherit_the_block_with_the_helper",
            child_does_not_inherit_the_block_with_the_helper,
        ),
    ];
    common::run(tests);
}
