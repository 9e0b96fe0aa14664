//! iofd never reads or replaces the process panic hook.
//!
//! `harness = false`: the panic hook is process-wide, so the cases run one
//! after another on the main thread, the first before any other use of
//! iofd; the case that constructs during unwinding runs in a child process
//! of this binary (a panic escaping a destructor during unwinding aborts).

mod common;

use std::panic::PanicHookInfo;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use iofd::{AsyncEventFd, AsyncTimerFd, TimerFd};

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Set in the environment of the child that runs the unwinding case.
const CHILD: &str = "IOFD_PANIC_HOOK_CHILD";

/// A hook that counts the panics of tokio's "IO is disabled" message and
/// prints every other one, with the address of its box (its identity).
fn counting_hook() -> (Hook, usize, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let hook: Hook = Box::new(move |info| {
        if info.to_string().contains("IO is disabled") {
            seen.fetch_add(1, Ordering::SeqCst);
        } else {
            eprintln!("{info}");
        }
    });
    let address = identity(&hook);
    (hook, address, count)
}

fn identity(hook: &Hook) -> usize {
    std::ptr::from_ref(&**hook).cast::<()>() as usize
}

/// The hook installed now is the box at `address`: taken and put back.
fn assert_hook_is(address: usize) {
    let current = std::panic::take_hook();
    let same = identity(&current) == address;
    std::panic::set_hook(current);
    assert!(same, "the panic hook was replaced");
}

fn runtime_without_io() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn runtime_with_io() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// An async construction on a runtime without an I/O driver: an error that
/// names `enable_io`.
fn construct_without_io() {
    let rt = runtime_without_io();
    let _entered = rt.enter();
    let err = AsyncEventFd::new(0).unwrap_err();
    assert!(err.to_string().contains("enable_io"), "{err}");
    let err = AsyncTimerFd::try_from(TimerFd::new().unwrap()).unwrap_err();
    assert!(err.error().to_string().contains("enable_io"), "{err}");
}

/// The application's hook, installed before the first async construction,
/// stays installed (the same box), and sees tokio's panic once per failed
/// construction: iofd swallows none. A construction on a runtime with a
/// driver panics nowhere.
fn hook_installed_before_first_use_is_untouched_and_sees_every_panic() {
    let (hook, address, count) = counting_hook();
    std::panic::set_hook(hook);
    construct_without_io();
    assert_hook_is(address);
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "one panic per construction"
    );
    let rt = runtime_with_io();
    rt.block_on(async { AsyncEventFd::new(0).unwrap() });
    assert_eq!(count.load(Ordering::SeqCst), 2, "no panic with a driver");
    assert_hook_is(address);
}

/// A hook installed after iofd was used is the one that stays and the one
/// that sees the panic.
fn hook_installed_after_first_use_is_untouched_and_sees_every_panic() {
    let (hook, address, count) = counting_hook();
    std::panic::set_hook(hook);
    construct_without_io();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_hook_is(address);
    // A panic of the application's own still reaches it, once.
    let caught = std::panic::catch_unwind(|| panic!("IO is disabled (the app's own)"));
    assert!(caught.is_err());
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_hook_is(address);
}

/// In a child process: the first async construction of the process happens
/// in a destructor while the thread unwinds. It returns an error (nothing
/// aborts), and later constructions still work.
fn a_construction_while_unwinding_poisons_nothing() {
    let child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(
        child.status.success(),
        "child: {:?}\n{stderr}",
        child.status
    );
    assert!(
        String::from_utf8_lossy(&child.stdout).contains("child ok"),
        "{stderr}"
    );
}

fn unwinding_child() {
    struct ConstructOnDrop(Arc<AtomicUsize>);
    impl Drop for ConstructOnDrop {
        fn drop(&mut self) {
            assert!(std::thread::panicking());
            let rt = runtime_without_io();
            let _entered = rt.enter();
            if AsyncEventFd::new(0).is_err() {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let (hook, address, _count) = counting_hook();
    std::panic::set_hook(hook);
    let errors = Arc::new(AtomicUsize::new(0));
    let guard = ConstructOnDrop(Arc::clone(&errors));
    let outer = std::panic::catch_unwind(move || {
        let _guard = guard;
        panic!("the application's panic");
    });
    assert!(outer.is_err());
    assert_eq!(
        errors.load(Ordering::SeqCst),
        1,
        "an error, during unwinding"
    );
    assert_hook_is(address);
    construct_without_io();
    runtime_with_io().block_on(async { AsyncEventFd::new(0).unwrap() });
    assert_hook_is(address);
    println!("child ok");
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        unwinding_child();
        return;
    }
    common::run(&[
        (
            "hook_installed_before_first_use_is_untouched_and_sees_every_panic",
            hook_installed_before_first_use_is_untouched_and_sees_every_panic,
        ),
        (
            "hook_installed_after_first_use_is_untouched_and_sees_every_panic",
            hook_installed_after_first_use_is_untouched_and_sees_every_panic,
        ),
        (
            "a_construction_while_unwinding_poisons_nothing",
            a_construction_while_unwinding_poisons_nothing,
        ),
    ]);
}
