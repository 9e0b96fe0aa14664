//! [`reset_signal_mask_on_exec`]: children start with an empty mask.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::set::empty_libc_sigset;

/// Makes children started by `command` begin with an empty signal mask.
///
/// A blocked mask is inherited across `fork` and kept across `exec`, and
/// `std::process::Command` does not reset it: without this, a child of a
/// program that blocked `SIGTERM` for its signalfd would ignore `SIGTERM`.
/// Use it for every child of a program that blocks signals (for
/// `tokio::process::Command`, call it on `as_std_mut()`).
///
/// It installs a `pre_exec` hook that calls only `sigprocmask(2)`, which is
/// async-signal-safe, on a set prepared before the fork. A `pre_exec` hook
/// makes `std` use `fork` + `exec` instead of `posix_spawn`.
///
/// # Examples
///
/// ```
/// use std::process::Command;
///
/// let mut command = Command::new("true");
/// iofd::reset_signal_mask_on_exec(&mut command);
/// assert!(command.status()?.success());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn reset_signal_mask_on_exec(command: &mut Command) -> &mut Command {
    let empty = empty_libc_sigset();
    let hook = move || {
        // sigprocmask is async-signal-safe; the child has one thread here.
        // SAFETY: `empty` is an initialised sigset_t copied into the closure.
        let rc = unsafe { libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    // `pre_exec` code runs between fork and exec and must be
    // async-signal-safe: the hook only calls sigprocmask and, on failure,
    // builds an io::Error from errno (no allocation for an OS error).
    // SAFETY: the hook does only async-signal-safe work, as required.
    unsafe { command.pre_exec(hook) }
}
