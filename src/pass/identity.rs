//! Asking the kernel to attach the sender's identity to every message a
//! socket receives: its credentials (`SO_PASSCRED`) and its pidfd
//! (`SO_PASSPIDFD`).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use crate::error::{last_errno, unsupported};

/// `SO_PASSPIDFD` (Linux 6.5).
const SO_PASSPIDFD: libc::c_int = 76;

/// Makes `socket` receive the sender's credentials (pid, uid, gid:
/// `SO_PASSCRED`) with every message, as [`Received::credentials`]; `false`
/// turns it off.
///
/// Socket options belong to the socket, not to this descriptor: every
/// holder of the socket (a peer that handed it over, a previous owner)
/// sees and can change them. [`recv`](super::recv) has room for the
/// credentials whether or not you set this.
///
/// [`Received::credentials`]: super::Received::credentials
///
/// # Errors
///
/// The error of `setsockopt(2)` (`ENOTSOCK`, `EOPNOTSUPP`).
pub fn set_pass_credentials(socket: &impl AsFd, on: bool) -> io::Result<()> {
    Ok(rustix::net::sockopt::set_socket_passcred(socket, on)?)
}

/// Makes `socket` receive the sending process's pidfd (`SCM_PIDFD`,
/// `SO_PASSPIDFD`, Linux 6.5) with every message, as
/// [`Received::take_sender`]: the race-free form of the credentials' pid.
/// `false` turns it off.
///
/// As with [`set_pass_credentials`], any holder of the socket can set
/// this; [`recv`](super::recv) closes a sender pidfd you do not take, so
/// setting it costs a descriptor per message only while it is held.
///
/// [`Received::take_sender`]: super::Received::take_sender
///
/// # Errors
///
/// `Unsupported` with a [`SyscallError`](crate::SyscallError) before Linux
/// 6.5 (`ENOPROTOOPT`); otherwise the error of `setsockopt(2)`.
///
/// # Examples
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use iofd::pass;
///
/// # fn main() -> std::io::Result<()> {
/// let (here, there) = UnixStream::pair()?;
/// match pass::set_pass_pidfd(&there, true) {
///     Ok(()) => {}
///     Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(()), // before 6.5
///     Err(e) => return Err(e),
/// }
/// pass::send(&here, b"hi", &[])?;
/// let mut received = pass::recv(&there, &mut [0u8; 8])?;
/// let sender = received.take_sender().expect("SO_PASSPIDFD is set")?;
/// assert_eq!(sender.pid(), std::process::id() as i32);
/// # Ok(())
/// # }
/// ```
pub fn set_pass_pidfd(socket: &impl AsFd, on: bool) -> io::Result<()> {
    let value = libc::c_int::from(on);
    // `value` is an int, readable for the call, and the length says so;
    // the socket is borrowed, so open.
    // SAFETY: so setsockopt reads only `value`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PASSPIDFD,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let errno = last_errno();
    Err(match errno {
        libc::ENOPROTOOPT => unsupported("setsockopt(SO_PASSPIDFD)", errno, "Linux 6.5 or later"),
        _ => io::Error::from_raw_os_error(errno),
    })
}
