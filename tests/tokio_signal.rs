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

/// `into_inner` queues the buffered records back before it returns the
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
/// own thread may forge) comes back with its code, from the main thread and
/// from a runtime worker.
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
        // From a worker, keeping SI_USER needs a thread pidfd (Linux 6.9);
        // without pidfds (valgrind) the record comes back as SI_QUEUE.
        if common::pidfds_or_skip() {
            assert_eq!(batch[0].code(), SignalCode::User);
        } else {
            assert!(matches!(
                batch[0].code(),
                SignalCode::User | SignalCode::Queue
            ));
        }
        assert_eq!(batch[0].pid(), pid());
        assert_eq!(batch[0].uid(), common::uid());
        assert_eq!(batch[1].value_int(), 42);
        assert_eq!(batch[1].code(), SignalCode::Queue);
    });
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

fn main() {
    SignalMaskGuard::block(&set()).expect("block").keep();
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
            "streams_end_after_the_runtime_shuts_down",
            streams_end_after_the_runtime_shuts_down,
        ),
        (
            "new_refuses_when_a_thread_would_steal_the_signals",
            new_refuses_when_a_thread_would_steal_the_signals,
        ),
    ];
    common::run(tests);
}
