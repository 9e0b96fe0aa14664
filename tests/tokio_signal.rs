//! `AsyncSignalFd` delivery, on both runtime flavours.
//!
//! `harness = false`: `main` blocks the signals before any thread (and any
//! runtime worker) exists; every runtime built afterwards inherits the mask.

mod common;

use common::{UnblockingThread, kill_self, on_both_runtimes, pid, sigqueue_self, until, within};

use std::io::ErrorKind;

use iofd::{AsyncSignalFd, SigSet, Signal, SignalCode, SignalFd, SignalMaskGuard};
use tokio_stream::StreamExt;
use tokio_test::{assert_pending, assert_ready, task};

fn rt1() -> Signal {
    Signal::rt(1).unwrap()
}

fn set() -> SigSet {
    SigSet::from(Signal::USR1).with(Signal::USR2).with(rt1())
}

fn recv_delivers_sender_details() {
    on_both_runtimes(|| async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        kill_self(Signal::USR1);
        let info = within(signals.recv()).await.unwrap();
        assert_eq!(info.signal(), Some(Signal::USR1));
        assert_eq!(info.pid(), pid());
        assert_eq!(info.uid(), rustix::process::getuid().as_raw());
        assert_eq!(info.code(), SignalCode::User);
        assert_eq!(signals.mask(), set());
    });
}

fn pending_until_a_signal_arrives() {
    on_both_runtimes(|| async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        let mut recv = task::spawn(signals.recv());
        assert_pending!(recv.poll());
        assert_pending!(recv.poll());
        kill_self(Signal::USR2);
        until(|| recv.is_woken()).await;
        let info = assert_ready!(recv.poll()).unwrap();
        assert_eq!(info.signal(), Some(Signal::USR2));
    });
}

fn hundred_realtime_signals_stream_in_order() {
    on_both_runtimes(|| async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        for value in 0..100 {
            sigqueue_self(rt1(), value);
        }
        for expected in 0..100 {
            let info = within(signals.next()).await.expect("never ends").unwrap();
            assert_eq!(info.signal(), Some(rt1()));
            assert_eq!(info.code(), SignalCode::Queue);
            assert_eq!(info.value_int(), expected, "in order, none lost");
        }
        assert_eq!(signals.buffered(), 0);
        let (sync, pending) = signals.into_parts();
        assert!(pending.is_empty());
        assert_eq!(sync.read_info().unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

fn a_burst_is_read_in_one_syscall_and_nothing_is_lost() {
    on_both_runtimes(|| async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        for value in 0..10 {
            sigqueue_self(rt1(), value);
        }
        let first = within(signals.recv()).await.unwrap();
        assert_eq!(first.value_int(), 0);
        assert_eq!(signals.buffered(), 9, "one read took the whole burst");
        // A recv future dropped before it is polled takes nothing.
        drop(signals.recv());
        assert_eq!(within(signals.recv()).await.unwrap().value_int(), 1);
        // into_parts hands back what was buffered, in order.
        let (_sync, pending) = signals.into_parts();
        let values: Vec<i32> = pending.iter().map(|i| i.value_int()).collect();
        assert_eq!(values, (2..10).collect::<Vec<_>>());
    });
}

fn recv_is_cancel_safe() {
    on_both_runtimes(|| async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        {
            let mut pending = task::spawn(signals.recv());
            assert_pending!(pending.poll());
        }
        sigqueue_self(rt1(), 77);
        let info = within(signals.recv()).await.unwrap();
        assert_eq!(info.value_int(), 77, "nothing lost to the dropped recv");
    });
}

/// Five queued real-time signals, one `recv` (which reads all five into
/// the handle's buffer), then drop: the next handle gets the other four,
/// in order, with their siginfo.
fn dropping_a_handle_loses_no_buffered_signal() {
    on_both_runtimes(|| async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        for value in 1..=5 {
            sigqueue_self(rt1(), value);
        }
        assert_eq!(within(signals.recv()).await.unwrap().value_int(), 1);
        assert_eq!(signals.buffered(), 4, "one read took the burst");
        // Dropped on whichever thread runs this task (a worker on the
        // multi-thread runtime).
        drop(signals);
        let mut next = AsyncSignalFd::new(&set()).unwrap();
        for value in 2..=5 {
            let info = within(next.recv()).await.unwrap();
            assert_eq!(info.signal(), Some(rt1()));
            assert_eq!(info.value_int(), value);
            assert_eq!(info.code(), SignalCode::Queue);
            assert_eq!(info.pid(), pid());
            assert_eq!(info.uid(), common::uid());
        }
        let mut none = task::spawn(next.recv());
        assert_pending!(none.poll());
    });
}

/// `into_inner` gives the buffered records back before it returns the
/// synchronous handle, which then reads them, in order.
fn into_inner_requeues_the_buffered_records() {
    on_both_runtimes(|| async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        for value in 1..=5 {
            sigqueue_self(rt1(), value);
        }
        assert_eq!(within(signals.recv()).await.unwrap().value_int(), 1);
        assert_eq!(signals.buffered(), 4);
        let sync = signals.into_inner();
        let mut batch = [iofd::SignalInfo::default(); 8];
        assert_eq!(sync.read_batch(&mut batch).unwrap(), 4);
        let values: Vec<i32> = batch[..4].iter().map(|i| i.value_int()).collect();
        assert_eq!(values, [2, 3, 4, 5]);
        assert!(batch[..4].iter().all(|i| i.pid() == pid()));
        assert_eq!(sync.read_info().unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

/// A `kill` record (code `SI_USER`, which only the kernel or the sender's
/// own thread could forge) given back from a runtime worker comes back
/// with its code, pid and uid, ahead of the other record given back.
fn a_requeued_kill_keeps_its_code_from_any_thread() {
    on_both_runtimes(|| async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        kill_self(Signal::USR1);
        sigqueue_self(rt1(), 42);
        // USR1 (standard) is dequeued before the real-time one.
        let first = within(signals.recv()).await.unwrap();
        assert_eq!(first.signal(), Some(Signal::USR1));
        let handle = tokio::spawn(async move {
            // Hand back the record not yet taken, then requeue USR1 too.
            let (sync, rest) = signals.into_parts();
            assert_eq!(rest.len(), 1);
            first.requeue().unwrap();
            for info in &rest {
                info.requeue().unwrap();
            }
            sync
        });
        let sync = within(handle).await.unwrap();
        let mut batch = [iofd::SignalInfo::default(); 4];
        let n = sync.read_batch(&mut batch).unwrap();
        assert_eq!(n, 2);
        assert_eq!(batch[0].signal(), Some(Signal::USR1));
        assert_eq!(batch[0].code(), SignalCode::User);
        assert_eq!(batch[0].pid(), pid());
        assert_eq!(batch[0].uid(), common::uid());
        assert_eq!(batch[1].value_int(), 42);
        assert_eq!(batch[1].code(), SignalCode::Queue);
        assert_eq!(sync.read_info().unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

/// Records handed from handle to handle stay in order: 20 queued, a first
/// handle takes 16 (the kernel keeps 4) and hands out one, a second takes
/// the 15 it gave back and hands out one, a third gets the other 18 in
/// order: the 14 given back, then the kernel's 4.
fn records_given_back_twice_stay_in_order() {
    on_both_runtimes(|| async {
        for value in 0..20 {
            sigqueue_self(rt1(), value);
        }
        for expected in 0..2 {
            let mut signals = AsyncSignalFd::new(&set()).unwrap();
            assert_eq!(within(signals.recv()).await.unwrap().value_int(), expected);
        }
        let mut last = AsyncSignalFd::new(&set()).unwrap();
        for expected in 2..20 {
            let info = within(last.recv()).await.unwrap();
            assert_eq!(info.value_int(), expected);
            assert_eq!(info.code(), SignalCode::Queue);
            assert_eq!(info.pid(), pid());
        }
        let mut none = task::spawn(last.recv());
        assert_pending!(none.poll());
    });
}

/// A reader already waiting is woken by records another handle gives
/// back: B polls `recv` (pending, nothing in the kernel), A is dropped with
/// two records buffered, and B's task is woken at once and gets them with
/// their siginfo. A reader whose mask does not cover them is not woken.
fn a_waiting_reader_is_woken_by_records_given_back() {
    on_both_runtimes(|| async {
        let mut a = AsyncSignalFd::new(&set()).unwrap();
        let mut b = AsyncSignalFd::new(&set()).unwrap();
        let mut other = AsyncSignalFd::new(&SigSet::from(Signal::USR2)).unwrap();
        for value in 1..=3 {
            sigqueue_self(rt1(), value);
        }
        assert_eq!(within(a.recv()).await.unwrap().value_int(), 1);
        assert_eq!(a.buffered(), 2, "one read took the burst");
        let mut waiting = task::spawn(b.recv());
        assert_pending!(waiting.poll());
        let mut unrelated = task::spawn(other.recv());
        assert_pending!(unrelated.poll());
        drop(a);
        assert!(waiting.is_woken(), "woken by the records given back");
        assert!(
            !unrelated.is_woken(),
            "not woken for signals it does not read"
        );
        let info = assert_ready!(waiting.poll()).unwrap();
        assert_sigqueued_by_me(&info, rt1(), 2);
        drop(waiting);
        let last = within(b.recv()).await.unwrap();
        assert_sigqueued_by_me(&last, rt1(), 3);
        let mut waiting = task::spawn(b.recv());
        assert_pending!(waiting.poll());
        assert_pending!(unrelated.poll());
        // `requeue` wakes too.
        last.requeue().unwrap();
        assert!(waiting.is_woken(), "woken by a requeued record");
        assert!(!unrelated.is_woken());
        assert_sigqueued_by_me(&assert_ready!(waiting.poll()).unwrap(), rt1(), 3);
        drop(waiting);
        // A reader's mask is read when records are given back: after
        // `set_mask`, the other reader is woken for the real-time signal.
        drop(unrelated);
        other.get_ref().set_mask(&set()).unwrap();
        let mut widened = task::spawn(other.recv());
        assert_pending!(widened.poll());
        last.requeue().unwrap();
        assert!(widened.is_woken(), "woken after set_mask widened the mask");
        assert_sigqueued_by_me(&assert_ready!(widened.poll()).unwrap(), rt1(), 3);
    });
}

/// The same with B awaited in a spawned task (on a worker of the
/// multi-thread runtime): A is dropped while B's task sleeps in `recv`,
/// and the task gets both records within 5 s, though no new signal comes.
fn a_task_awaiting_recv_gets_records_given_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    on_both_runtimes(|| async {
        let mut a = AsyncSignalFd::new(&set()).unwrap();
        let mut b = AsyncSignalFd::new(&set()).unwrap();
        for value in 1..=3 {
            sigqueue_self(rt1(), value);
        }
        assert_eq!(within(a.recv()).await.unwrap().value_int(), 1);
        assert_eq!(a.buffered(), 2, "one read took the burst");
        let asleep = Arc::new(AtomicBool::new(false));
        let task_asleep = Arc::clone(&asleep);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < 2 {
                let info = std::future::poll_fn(|cx| {
                    let poll = b.poll_recv(cx);
                    if poll.is_pending() {
                        task_asleep.store(true, Ordering::SeqCst);
                    }
                    poll
                })
                .await
                .unwrap();
                got.push(info);
            }
            got
        });
        until(|| asleep.load(Ordering::SeqCst)).await;
        drop(a);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), reader)
            .await
            .expect("the waiting task gets the records given back within 5 s")
            .unwrap();
        assert_sigqueued_by_me(&got[0], rt1(), 2);
        assert_sigqueued_by_me(&got[1], rt1(), 3);
    });
}

/// A loop draining many buffered records takes a unit of tokio's coop
/// budget per record: a task spawned on the same current-thread runtime
/// runs within tokio's budget (128) of records, not once per batch.
fn draining_buffered_records_lets_another_task_run() {
    const RECORDS: i32 = 600;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        for value in 0..RECORDS {
            sigqueue_self(rt1(), value);
        }
        // The first read may wait for the reactor; from here on every
        // record is at hand.
        assert_eq!(within(signals.recv()).await.unwrap().value_int(), 0);
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn({
            let ran = std::sync::Arc::clone(&ran);
            async move { ran.store(true, std::sync::atomic::Ordering::SeqCst) }
        });
        let mut received = 1;
        while !ran.load(std::sync::atomic::Ordering::SeqCst) && received < RECORDS {
            let info = signals.recv().await.unwrap();
            assert_eq!(info.value_int(), received, "in order, none lost");
            received += 1;
        }
        assert!(
            received <= 1 + 130,
            "{} records before the other task ran",
            received - 1
        );
        // The rest are still there, in order.
        while received < RECORDS {
            assert_eq!(within(signals.recv()).await.unwrap().value_int(), received);
            received += 1;
        }
    });
}

fn assert_sigqueued_by_me(info: &iofd::SignalInfo, signal: Signal, value: i32) {
    assert_eq!(info.signal(), Some(signal), "{info:?}");
    assert_eq!(info.code(), SignalCode::Queue, "{info:?}");
    assert_eq!(info.pid(), pid(), "{info:?}");
    assert_eq!(info.uid(), common::uid(), "{info:?}");
    assert_eq!(info.value_int(), value, "{info:?}");
}

fn streams_end_after_the_runtime_shuts_down() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut signals = rt.block_on(async { AsyncSignalFd::new(&set()) }).unwrap();
    drop(rt);
    common::assert_ends_after_shutdown(&mut signals);
}

fn new_refuses_when_a_thread_would_steal_the_signals() {
    let stealer = UnblockingThread::spawn("unblocked", Signal::USR2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let err = AsyncSignalFd::new(&set()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("unblocked"), "{err}");
        // TryFrom skips the check, for programs that arrange delivery.
        let sfd = SignalFd::new(&SigSet::from(rt1())).unwrap();
        let mut signals = AsyncSignalFd::try_from(sfd).unwrap();
        sigqueue_self(rt1(), 5); // the stealer blocks this one
        assert_eq!(within(signals.recv()).await.unwrap().value_int(), 5);
    });
    stealer.stop();
}

/// Set in the environment of a child of this binary that runs one case of
/// the `RLIMIT_SIGPENDING` tests as uid 65534.
const SIGPENDING_CASE: &str = "IOFD_SIGPENDING_CASE";
/// The uid the `RLIMIT_SIGPENDING` cases run as (`nobody`).
const NOBODY: u32 = 65534;

/// Runs `case` in a child process of this binary, which becomes uid 65534
/// (its pending-signal count is its own) and lowers its
/// `RLIMIT_SIGPENDING` soft limit to 0 just before the requeue.
fn in_nobody_child(case: &str) {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: becoming uid {NOBODY} needs root");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(SIGPENDING_CASE, case)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{case}: {:?}\n{stderr}", out.status);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("case ok"),
        "{case}: {stderr}"
    );
}

/// In the child, before any thread exists: drop root for uid/gid 65534.
fn become_nobody() {
    // SAFETY: setgroups/setresgid/setresuid change this single-threaded
    // process's credentials and touch no memory of ours (a null list of
    // length 0).
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
        assert_eq!(libc::setresgid(NOBODY, NOBODY, NOBODY), 0);
        assert_eq!(libc::setresuid(NOBODY, NOBODY, NOBODY), 0);
    }
    assert_eq!(common::uid(), NOBODY);
}

/// No more signals may be queued with their siginfo.
fn sigpending_limit_zero() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Sigpending);
    setrlimit(
        Resource::Sigpending,
        Rlimit {
            current: Some(0),
            maximum: limit.maximum,
        },
    )
    .unwrap();
}

/// Sends `SIGUSR1` (handed out first) then `burst`, receives the first,
/// checks that `buffered` records wait in the handle, drops it at
/// `RLIMIT_SIGPENDING` 0, and returns what the next handle receives (until
/// nothing more is ready).
fn drop_at_sigpending_limit(burst: impl FnOnce(), buffered: usize) -> Vec<iofd::SignalInfo> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut signals = AsyncSignalFd::new(&set()).unwrap();
        kill_self(Signal::USR1);
        burst();
        let first = within(signals.recv()).await.unwrap();
        assert_eq!(first.signal(), Some(Signal::USR1));
        assert_eq!(signals.buffered(), buffered);
        sigpending_limit_zero();
        drop(signals);
        let mut next = AsyncSignalFd::new(&set()).unwrap();
        let mut got = Vec::new();
        for _ in 0..buffered {
            got.push(within(next.recv()).await.unwrap());
        }
        let mut none = task::spawn(next.recv());
        assert_pending!(none.poll());
        got
    })
}

fn assert_sigqueued_by_nobody(info: &iofd::SignalInfo, signal: Signal, value: i32) {
    assert_eq!(info.signal(), Some(signal), "{info:?}");
    assert_eq!(info.code(), SignalCode::Queue, "{info:?}");
    assert_eq!(info.pid(), pid(), "{info:?}");
    assert_eq!(info.uid(), NOBODY, "{info:?}");
    assert_eq!(info.value_int(), value, "{info:?}");
}

/// A standard signal sent with `sigqueue` and left in a dropped handle
/// comes back with its code, pid, uid and value (the kernel, at the limit,
/// would queue it again as a `kill` from pid 0, uid 0).
fn sigpending_case_standard_signal_keeps_its_siginfo() {
    let got = drop_at_sigpending_limit(|| sigqueue_self(Signal::USR2, 42), 1);
    assert_sigqueued_by_nobody(&got[0], Signal::USR2, 42);
}

/// A real-time signal left in a dropped handle is not lost (the kernel, at
/// the limit, refuses to queue it again: `EAGAIN`).
fn sigpending_case_realtime_signal_is_not_lost() {
    let got = drop_at_sigpending_limit(|| sigqueue_self(rt1(), 42), 1);
    assert_sigqueued_by_nobody(&got[0], rt1(), 42);
}

/// Two records left in a dropped handle: both come back, in order.
fn sigpending_case_two_buffered_records_are_both_kept() {
    let got = drop_at_sigpending_limit(
        || {
            sigqueue_self(rt1(), 1);
            sigqueue_self(rt1(), 2);
        },
        2,
    );
    assert_sigqueued_by_nobody(&got[0], rt1(), 1);
    assert_sigqueued_by_nobody(&got[1], rt1(), 2);
}

const SIGPENDING_CASES: &[(&str, fn())] = &[
    (
        "standard_signal_keeps_its_siginfo",
        sigpending_case_standard_signal_keeps_its_siginfo,
    ),
    (
        "realtime_signal_is_not_lost",
        sigpending_case_realtime_signal_is_not_lost,
    ),
    (
        "two_buffered_records_are_both_kept",
        sigpending_case_two_buffered_records_are_both_kept,
    ),
];

fn at_sigpending_limit_a_standard_signal_keeps_its_siginfo() {
    in_nobody_child("standard_signal_keeps_its_siginfo");
}

fn at_sigpending_limit_a_realtime_signal_is_not_lost() {
    in_nobody_child("realtime_signal_is_not_lost");
}

fn at_sigpending_limit_two_buffered_records_are_both_kept() {
    in_nobody_child("two_buffered_records_are_both_kept");
}

fn main() {
    SignalMaskGuard::block(&set()).expect("block").keep();
    if let Some(case) = std::env::var_os(SIGPENDING_CASE) {
        let (_, run) = SIGPENDING_CASES
            .iter()
            .find(|(name, _)| case == *name)
            .expect("a known case");
        become_nobody();
        run();
        println!("case ok");
        return;
    }
    let tests: &[(&str, fn())] = &[
        ("recv_delivers_sender_details", recv_delivers_sender_details),
        (
            "pending_until_a_signal_arrives",
            pending_until_a_signal_arrives,
        ),
        (
            "hundred_realtime_signals_stream_in_order",
            hundred_realtime_signals_stream_in_order,
        ),
        (
            "a_burst_is_read_in_one_syscall_and_nothing_is_lost",
            a_burst_is_read_in_one_syscall_and_nothing_is_lost,
        ),
        ("recv_is_cancel_safe", recv_is_cancel_safe),
        (
            "draining_buffered_records_lets_another_task_run",
            draining_buffered_records_lets_another_task_run,
        ),
        (
            "dropping_a_handle_loses_no_buffered_signal",
            dropping_a_handle_loses_no_buffered_signal,
        ),
        (
            "into_inner_requeues_the_buffered_records",
            into_inner_requeues_the_buffered_records,
        ),
        (
            "a_requeued_kill_keeps_its_code_from_any_thread",
            a_requeued_kill_keeps_its_code_from_any_thread,
        ),
        (
            "records_given_back_twice_stay_in_order",
            records_given_back_twice_stay_in_order,
        ),
        (
            "a_waiting_reader_is_woken_by_records_given_back",
            a_waiting_reader_is_woken_by_records_given_back,
        ),
        (
            "a_task_awaiting_recv_gets_records_given_back",
            a_task_awaiting_recv_gets_records_given_back,
        ),
        (
            "streams_end_after_the_runtime_shuts_down",
            streams_end_after_the_runtime_shuts_down,
        ),
        (
            "new_refuses_when_a_thread_would_steal_the_signals",
            new_refuses_when_a_thread_would_steal_the_signals,
        ),
        (
            "at_sigpending_limit_a_standard_signal_keeps_its_siginfo",
            at_sigpending_limit_a_standard_signal_keeps_its_siginfo,
        ),
        (
            "at_sigpending_limit_a_realtime_signal_is_not_lost",
            at_sigpending_limit_a_realtime_signal_is_not_lost,
        ),
        (
            "at_sigpending_limit_two_buffered_records_are_both_kept",
            at_sigpending_limit_two_buffered_records_are_both_kept,
        ),
    ];
    common::run(tests);
}
