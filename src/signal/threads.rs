//! Which threads of this process do not block a set of signals, read from
//! `/proc/self/task/*/status`.

use std::io;

use super::SigSet;
use crate::error::invalid_input_owned;

/// A thread of this process that does not block some signals of a set, as
/// [`threads_not_blocking`] reports it.
///
/// Only this crate makes them (the struct is `#[non_exhaustive]`, so that
/// fields can be added):
///
/// ```compile_fail,E0639
/// let thread = iofd::UnblockedThread {
///     tid: 1,
///     name: String::from("main"),
///     unblocked: iofd::SigSet::empty(),
/// };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnblockedThread {
    /// The thread id (as `gettid(2)` gives it).
    pub tid: i32,
    /// The thread's name (`comm`), such as `"tokio-runtime-w"`. The kernel
    /// keeps names as bytes, cut to 15 (which can split a UTF-8
    /// character): bytes that are not UTF-8 show as U+FFFD.
    pub name: String,
    /// The signals of the set that this thread does not block.
    pub unblocked: SigSet,
}

/// The threads of this process that do **not** block every signal of
/// `set`, read from `/proc/self/task/*/status`.
///
/// An empty result means no thread can steal these signals from a
/// signalfd — now: a thread started later with another mask can. Threads
/// that exit while being read are left out.
///
/// # Errors
///
/// The error of reading `/proc` (for example `NotFound` where it is not
/// mounted).
pub fn threads_not_blocking(set: &SigSet) -> io::Result<Vec<UnblockedThread>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task")? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // Read as bytes: a thread name need not be UTF-8.
        let status = match std::fs::read(entry.path().join("status")) {
            Ok(status) => status,
            // The thread exited between listing and reading.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let (name, blocked) = parse_status(&status)?;
        let unblocked = *set - blocked;
        if !unblocked.is_empty() {
            found.push(UnblockedThread {
                tid,
                name,
                unblocked,
            });
        }
    }
    found.sort_by_key(|t| t.tid);
    Ok(found)
}

/// The `Name:` and `SigBlk:` lines of a `/proc/*/status` file.
fn parse_status(status: &[u8]) -> io::Result<(String, SigSet)> {
    let mut name = String::new();
    let mut blocked = None;
    for line in status.split(|&b| b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"Name:") {
            name = String::from_utf8_lossy(rest.trim_ascii()).into_owned();
        } else if let Some(rest) = line.strip_prefix(b"SigBlk:") {
            blocked = std::str::from_utf8(rest.trim_ascii())
                .ok()
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .map(SigSet::from_bits);
        }
    }
    let blocked = blocked.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "no SigBlk line in /proc/self/task/*/status",
        )
    })?;
    Ok((name, blocked))
}

/// Succeeds if every thread of this process blocks every signal of `set`,
/// so that a signalfd for `set` will see all of them.
///
/// # Errors
///
/// - `InvalidInput`, naming each thread (id and name) and the signals it
///   does not block, if any thread would take one of them.
/// - The error of reading `/proc`.
pub fn ensure_blocked_in_all_threads(set: &SigSet) -> io::Result<()> {
    ensure_blocked_with_advice(
        set,
        "block the set before starting threads (see iofd::SignalMaskGuard)",
    )
}

/// [`ensure_blocked_in_all_threads`], ending its error message with
/// `advice` on how to fix it.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn ensure_blocked_with_advice(set: &SigSet, advice: &str) -> io::Result<()> {
    let threads = threads_not_blocking(set)?;
    if threads.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = threads
        .iter()
        .map(|t| format!("{} ({:?}) does not block {:?}", t.tid, t.name, t.unblocked))
        .collect();
    Err(invalid_input_owned(format!(
        "signals would be stolen from the signalfd: thread {}; {advice}",
        list.join(", thread ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Signal;

    #[test]
    fn status_parsing() {
        let status = b"Name:\tworker\nState:\tS\nSigBlk:\t0000000000000202\nSigIgn:\t0\n";
        let (name, blocked) = parse_status(status).unwrap();
        assert_eq!(name, "worker");
        assert_eq!(
            blocked,
            SigSet::empty().with(Signal::INT).with(Signal::USR1)
        );
        // A name cut inside a UTF-8 character is not an error.
        let (name, blocked) = parse_status(b"Name:\tw\xc3\nSigBlk:\t1\n").unwrap();
        assert_eq!(name, "w\u{fffd}");
        assert_eq!(blocked, SigSet::from(Signal::HUP));
        assert_eq!(
            parse_status(b"Name:\tx\n").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
