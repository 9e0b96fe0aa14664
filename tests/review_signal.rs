//! Review: records kept in iofd's process-wide leftover queue survive
//! `fork` into the child, whose kernel pending set is empty: the child then
//! reads a signal that was sent to (and is also read by) the parent.

use std::io::ErrorKind;

use iofd::{SigSet, Signal, SignalFd, SignalMaskGuard};

#[test]
fn a_requeued_record_is_not_inherited_by_a_forked_child() {
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
    assert_eq!(libc::WEXITSTATUS(status), 0, "the forked child received the parent's signal");
}
