//! Review: records kept in iofd's process-wide leftover queue survive
//! `fork` into the child, whose kernel pending set is empty: the child then
//! reads a signal that was sent to (and is also read by) the parent.

use std::io::ErrorKind;

use iofd::{SigSet, Signal, SignalFd, SignalMaskGuard};

/// The tests of this file run one at a time: they count threads and
/// descriptors, or lower `RLIMIT_NOFILE`, all process-wide.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn a_requeued_record_is_not_inherited_by_a_forked_child() {
    let _serial = serial();
    let set = SigSet::from(Signal::USR1);
    let _blocked = SignalMaskGuard::block(&set).unwrap();
    let signals = SignalFd::new(&set).unwrap();
    iofd::raise(Signal::USR1).unwrap(); // thread-directed: this thread only
    let info = signals.read_info().unwrap();
    info.requeue().unwrap(); // "give it back", as AsyncSignalFd's drop does
    // SAFETY: test-only; the child only calls iofd and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // The child: the kernel never carries pending signals across fork.
        let child = SignalFd::new(&set).unwrap();
        let code = match child.read_info() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
            Ok(r) => {
                eprintln!(
                    "child {} read the parent's record: signo {:?} sender pid {} (parent {})",
                    std::process::id(),
                    r.signal(),
                    r.pid(),
                    std::os::unix::process::parent_id()
                );
                1
            }
            Err(_) => 2,
        };
        // SAFETY: leave without running the harness's atexit state.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    // The parent still has its record too.
    assert_eq!(signals.read_info().unwrap(), info);
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the forked child received the parent's signal"
    );
}

/// Two `SignalFd` handles on one signalfd (the second adopted from a
/// duplicate, as `pass` or `try_from` gives): the second changes the
/// kernel's mask, the first keeps its own cached copy. A record given back
/// for the old mask is then handed to a reader whose real mask no longer
/// covers it, and `mask()` reports a mask the kernel does not use.
#[test]
fn a_mask_changed_through_another_handle_is_not_seen() {
    let _serial = serial();
    use std::os::fd::OwnedFd;
    let usr2 = SigSet::from(Signal::USR2);
    let both: SigSet = [Signal::USR2, Signal::WINCH].into_iter().collect();
    let _blocked = SignalMaskGuard::block(&both).unwrap();
    let a = SignalFd::new(&usr2).unwrap();
    let dup: OwnedFd = a.try_clone().unwrap().into();
    let b = SignalFd::try_from(dup).unwrap();
    b.set_mask(&SigSet::from(Signal::WINCH)).unwrap();
    let fdinfo = std::fs::read_to_string(format!(
        "/proc/self/fdinfo/{}",
        std::os::fd::AsRawFd::as_raw_fd(&a)
    ))
    .unwrap();
    let kernel = fdinfo
        .lines()
        .find(|l| l.starts_with("sigmask"))
        .unwrap()
        .to_string();
    println!("a.mask() = {:?}; kernel {kernel}", a.mask());
    // A USR2 record given back (as a dropped AsyncSignalFd does).
    iofd::raise(Signal::USR2).unwrap();
    // Only b's view is right now; read USR2 straight from the kernel
    // through a third signalfd to make the record.
    let reader = SignalFd::new(&usr2).unwrap();
    let info = reader.read_info().unwrap();
    info.requeue().unwrap();
    let got = a.read_info();
    println!(
        "a (kernel mask WINCH only) read: {:?}",
        got.as_ref().map(|i| i.signal())
    );
    assert_eq!(
        got.map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "a record given back went to a reader whose kernel mask excludes it"
    );
    assert_eq!(
        a.mask(),
        SigSet::from(Signal::WINCH),
        "a.mask() still reports USR2 after the kernel mask became WINCH"
    );
    // The record waits for a reader of USR2, exactly as it was.
    assert_eq!(reader.read_info().unwrap(), info);
    assert_eq!(
        reader.read_info().map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock)
    );
}
