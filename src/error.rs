//! Error construction shared by every handle.
//!
//! All fallible operations return [`std::io::Result`]. Kernel errors come
//! through unchanged (their `raw_os_error` is the errno); input that the crate
//! refuses before any syscall is [`io::ErrorKind::InvalidInput`] with a message
//! naming what was wrong.

use std::io;

/// An [`io::ErrorKind::InvalidInput`] error carrying `message`.
///
/// Allocates (the message is boxed inside the error), which is fine: it only
/// happens on an error path, never on a success path.
#[cold]
pub(crate) fn invalid_input(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// An [`io::ErrorKind::InvalidInput`] error with a message built at run time.
#[cold]
pub(crate) fn invalid_input_owned(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
