//! Passing handles to another process over a Unix socket (`SCM_RIGHTS`),
//! synchronously and with tokio.
//!
//! A sealed [`MemFd`](crate::MemFd) (shared memory nobody can change), an
//! [`EventFd`](crate::EventFd) (a cross-process doorbell) and a
//! [`PidFd`](crate::PidFd) (a process reference that pid reuse cannot
//! break) are most useful in another process. [`send`] sends up to
//! [`MAX_FDS`] descriptors with a byte payload; [`recv`] receives them into
//! a [`Received`], from which [`Received::take`] adopts each as a typed
//! handle, checked as `TryFrom<OwnedFd>` checks it.
//!
//! What the receiving side can count on:
//!
//! - **Close-on-exec.** Received descriptors are close-on-exec
//!   (`MSG_CMSG_CLOEXEC`), set by the kernel as they arrive: no window in
//!   which a concurrent `exec` could leak them.
//! - **No leak.** Every descriptor the kernel installs for a message is
//!   handed to the caller or closed, whatever control messages arrive:
//!   descriptors (`SCM_RIGHTS`), the sender's pidfd (`SCM_PIDFD`, which a
//!   socket with `SO_PASSPIDFD` attaches to *every* message), credentials.
//!   The receive walks the control buffer itself rather than skip message
//!   types it does not know. Descriptors and a sender pidfd left in a
//!   dropped [`Received`] are closed.
//! - **An exact limit.** A message with more than [`MAX_FDS`] descriptors
//!   is an error ([`Truncation::TooManyFds`]), at exactly that count
//!   whatever else the control buffer holds, and its descriptors are
//!   closed. The buffer has room for [`MAX_FDS`] descriptors *and* every
//!   other control message a Unix socket attaches (receive timestamps
//!   `SO_TIMESTAMP`/`SO_TIMESTAMPNS` and `SO_TIMESTAMPING` on message
//!   sockets, the credentials, the sender's pidfd, a security label of up
//!   to 255 bytes from `SO_PASSSEC`), so turning those on never lowers the
//!   limit.
//! - **Truncation told apart, the payload kept.** A receive that lost part
//!   of its message fails with a [`Truncated`] error that says why (too
//!   many descriptors; this process at its `RLIMIT_NOFILE`, where the
//!   kernel drops descriptors without failing the receive; other control
//!   data; a payload longer than the buffer on a message socket) and how
//!   many payload bytes it consumed, so a length-prefixed stream stays in
//!   step.
//! - **Checked kinds.** [`Received::take`] of a descriptor of the wrong
//!   kind (a pipe where a `MemFd` was expected) is an `InvalidInput` error
//!   and leaves the descriptor in the `Received`, for
//!   [`take_fd`](Received::take_fd) or for the drop to close: nothing the
//!   caller did not get is closed.
//! - **No allocation** on the send or receive path (errors aside): the
//!   control message buffer is on the stack (under 600 bytes), sized as
//!   above. (Adopting a
//!   descriptor as a typed handle reads `/proc` and allocates.)
//!
//! # Who sent it
//!
//! A socket with [`set_pass_pidfd`] (Linux 6.5) receives the sending
//! process's pidfd with every message ([`Received::take_sender`]): a
//! supervisor can check who sent each handle, with none of the pid reuse
//! race of the credentials' pid. A socket with [`set_pass_credentials`]
//! receives the sender's pid, uid and gid ([`Received::credentials`]).
//! These options belong to the socket, shared by every holder: the
//! receive is ready for them whether or not this process set them.
//!
//! What this identity proves: the kernel checked what the *sender* could
//! claim, not who it is. By default both name the process that called
//! `sendmsg` (with its real uid and gid). But a sender may attach
//! `SCM_CREDENTIALS` itself, and the kernel accepts:
//!
//! - any pid, if the sender has `CAP_SYS_ADMIN` (in the user namespace
//!   that owns its pid namespace); the `SCM_PIDFD` then names *that*
//!   process too, so a privileged sender can make a message look sent by
//!   another process;
//! - any uid with `CAP_SETUID`, any gid with `CAP_SETGID` (in its user
//!   namespace); without them, its own real, effective or saved id, so an
//!   unprivileged sender can still report an id it holds in any of those
//!   roles (a set-uid program's caller as well as its owner).
//!
//! So a check of the sender proves "sent by this process, or by a process
//! privileged enough to speak for it", and a pid or uid is only as good as
//! the capabilities the peers may hold. And the sender is whoever held the
//! socket at that moment: a socket is a descriptor that can itself be
//! passed on, so check each message (not the connection, as
//! `SO_PEERCRED` does) when that matters.
//!
//! # Caveats
//!
//! - Over a stream socket, descriptors travel with the first byte of the
//!   payload, so a message needs at least one byte. A receive returns at
//!   most the bytes up to the next message that carries descriptors: give
//!   each message with descriptors its own [`recv`], and frame the bytes
//!   (a length prefix) if they can exceed one read.
//! - The functions take a `UnixStream`, but safe code can wrap any Unix
//!   socket in one. On `SOCK_SEQPACKET` and `SOCK_DGRAM` sockets a
//!   message longer than the buffer is a [`Truncated`] error
//!   ([`Truncation::Payload`]), and a message of 0 bytes may carry
//!   descriptors: tell the end of a stream with
//!   [`Received::is_end_of_stream`], not [`Received::is_empty`]. On
//!   `SOCK_SEQPACKET`, the kernel gives the end as 0 bytes with no control
//!   data and no flag, the same as an empty message without descriptors;
//!   turn on [`set_pass_credentials`] on the receiving socket to tell them
//!   apart (every message then carries credentials, the end none).
//! - `O_NONBLOCK` and the file offset belong to the open file description,
//!   which the sender and the receiver share after the transfer: adopting
//!   a pollable handle sets `O_NONBLOCK` for both.
//!
//! # Examples
//!
//! ```
//! use std::os::fd::AsFd;
//! use std::os::unix::net::UnixStream;
//! use iofd::{EventFd, MemFd, Seals, pass};
//!
//! # fn main() -> std::io::Result<()> {
//! let (here, there) = UnixStream::pair()?;
//!
//! let memfd = MemFd::new_sealable("frame")?;
//! memfd.write_all_at(b"hello", 0)?;
//! memfd.seal(Seals::IMMUTABLE | Seals::GROW | Seals::SEAL)?;
//! let doorbell = EventFd::new(0)?;
//! pass::send(&here, b"frame", &[memfd.as_fd(), doorbell.as_fd()])?;
//!
//! // In the other process:
//! let mut buf = [0u8; 64];
//! let mut received = pass::recv(&there, &mut buf)?;
//! assert_eq!(&buf[..received.len()], b"frame");
//! let memfd = received.take::<MemFd>()?.require_seals(Seals::IMMUTABLE)?;
//! let doorbell: EventFd = received.take()?;
//! doorbell.signal(1)?;
//! # assert_eq!(memfd.size()?, 5);
//! # Ok(())
//! # }
//! ```
//!
//! # References
//!  - [`unix(7)`](https://man7.org/linux/man-pages/man7/unix.7.html)
//!    (`SCM_RIGHTS`)
//!  - [`sendmsg(2)`](https://man7.org/linux/man-pages/man2/sendmsg.2.html),
//!    [`recvmsg(2)`](https://man7.org/linux/man-pages/man2/recvmsg.2.html)

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};

use crate::error::{invalid_input, invalid_input_owned};

mod control;
mod identity;
mod received;
mod truncated;

use control::{CONTROL_LEN, ControlBuffer};
pub use identity::{set_pass_credentials, set_pass_pidfd};
pub use received::{Credentials, Received};
pub use truncated::{Truncated, Truncation};

/// The most descriptors one message carries, sent or received.
///
/// The kernel allows 253 (`SCM_MAX_FD`); this bound keeps the control
/// buffer on the stack. A peer that sends more — 17 or 253 — makes
/// [`recv`] fail with [`Truncation::TooManyFds`] without leaking any.
pub const MAX_FDS: usize = 16;

/// Bytes of control buffer for sending [`MAX_FDS`] descriptors.
const SEND_SPACE: usize = rustix::cmsg_space!(ScmRights(MAX_FDS));

/// Sends `payload` with the descriptors `fds` attached (`SCM_RIGHTS`), and
/// returns the number of payload bytes sent.
///
/// The descriptors travel with the first byte; the receiver gets its own
/// descriptors for the same open files (as `dup` would make). `send` uses
/// `MSG_NOSIGNAL`: a peer that has closed its end gives `BrokenPipe`, not
/// `SIGPIPE`. A short count (possible on a nearly full socket) has sent
/// the descriptors with the bytes it counts; send the rest with
/// `Write::write_all`.
///
/// One `sendmsg` syscall (retried on `EINTR`), no allocation.
///
/// # Errors
///
/// - `InvalidInput` for more than [`MAX_FDS`] descriptors, or for
///   descriptors with an empty payload (a stream socket cannot carry them
///   without a byte).
/// - The kernel's error: `WouldBlock` on a full nonblocking socket,
///   `BrokenPipe`, `ETOOMANYREFS` when descriptors in flight nest too
///   deep.
pub fn send(socket: &UnixStream, payload: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    loop {
        match send_once(socket.as_fd(), payload, fds) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// Receives a payload into `buf` with the descriptors attached to it.
///
/// [`Received::len`] says how many bytes arrived
/// ([`is_end_of_stream`](Received::is_end_of_stream): the peer closed its
/// end); the descriptors, in the order sent, are taken with
/// [`Received::take`] or [`Received::take_fd`], and the sender's identity,
/// where the socket passes it, with [`Received::credentials`] and
/// [`Received::take_sender`]. Received descriptors are close-on-exec.
///
/// One `recvmsg` syscall (retried on `EINTR`), no allocation on success.
///
/// # Errors
///
/// - `InvalidInput` if `buf` is empty (descriptors come only with bytes).
/// - `InvalidData` with a [`Truncated`] payload (find it with
///   [`Truncated::of`]) if part of the message was lost: more than
///   [`MAX_FDS`] descriptors, descriptors the kernel dropped because this
///   process is at its `RLIMIT_NOFILE`, control data that did not fit, or
///   (on a message socket) a payload longer than `buf`. The descriptors
///   that arrived are closed; [`Truncated::len`] counts the payload bytes
///   consumed.
/// - The kernel's error: `WouldBlock` on a nonblocking socket with nothing
///   to read.
pub fn recv(socket: &UnixStream, buf: &mut [u8]) -> io::Result<Received> {
    loop {
        match recv_once(socket.as_fd(), buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// One `sendmsg` with `fds` attached.
fn send_once(socket: BorrowedFd<'_>, payload: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    if fds.len() > MAX_FDS {
        return Err(invalid_input_owned(format!(
            "{} descriptors in one message; at most {MAX_FDS} (iofd::pass::MAX_FDS)",
            fds.len()
        )));
    }
    if payload.is_empty() && !fds.is_empty() {
        return Err(invalid_input(
            "descriptors need at least one payload byte to travel over a stream socket",
        ));
    }
    let mut space = [MaybeUninit::<u8>::uninit(); SEND_SPACE];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        // The buffer is sized for MAX_FDS, checked above.
        return Err(invalid_input(
            "the descriptors do not fit the control buffer",
        ));
    }
    let iov = [IoSlice::new(payload)];
    Ok(sendmsg(socket, &iov, &mut control, SendFlags::NOSIGNAL)?)
}

/// One `recvmsg` into `buf`, taking up every descriptor the kernel
/// installed (kept in the `Received` or closed), and checking for
/// truncation.
fn recv_once(socket: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    if buf.is_empty() {
        return Err(invalid_input(
            "a receive needs a buffer of at least one byte: descriptors come with bytes",
        ));
    }
    let mut control = ControlBuffer([0; CONTROL_LEN]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is plain data (pointers, lengths, flags), for which
    // all zeroes is valid: no name, no buffers.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.0.as_mut_ptr().cast();
    header.msg_controllen = CONTROL_LEN as _;
    // `header` points at `iov` (which points at `buf`) and at `control`,
    // each with its true length, all live and exclusively borrowed for
    // the call; the socket is borrowed, so open.
    // SAFETY: so the kernel writes only within `buf` and `control`.
    let rc = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut header, libc::MSG_CMSG_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut received = Received::new(rc as usize);
    let used = (header.msg_controllen as usize).min(CONTROL_LEN);
    for message in control::messages(&control.0[..used]) {
        received.collect(message);
    }
    let truncation = if received.arrived() > MAX_FDS {
        Some(Truncation::TooManyFds)
    } else if header.msg_flags & libc::MSG_CTRUNC != 0 {
        Some(diagnose_ctrunc(socket))
    } else if header.msg_flags & libc::MSG_TRUNC != 0 {
        Some(Truncation::Payload)
    } else {
        None
    };
    match truncation {
        // `received` drops here, closing what did arrive.
        Some(reason) => Err(Truncated::new(received.len(), received.arrived(), reason).into()),
        None => Ok(received),
    }
}

/// Why the kernel truncated the control data of a message that carried no
/// more than [`MAX_FDS`] descriptors (the buffer has room for those, the
/// credentials and the pidfd): this process at its descriptor limit (the
/// descriptors that arrived are still open, so a `dup` meets the limit
/// too), or else something else in the buffer.
#[cold]
fn diagnose_ctrunc(socket: BorrowedFd<'_>) -> Truncation {
    match rustix::io::fcntl_dupfd_cloexec(socket, 0) {
        Err(rustix::io::Errno::MFILE) => Truncation::OutOfDescriptors,
        // The probe descriptor closes here.
        _ => Truncation::ControlFull,
    }
}

/// The tokio forms of [`send`] and [`recv`].
#[cfg(feature = "tokio")]
mod with_tokio {
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd};
    use std::task::{Context, Poll, ready};

    use ::tokio::io::Interest;
    use ::tokio::net::UnixStream;

    use super::{Received, recv_once, send_once};

    /// [`send`](super::send) on a tokio socket (`socket` is a
    /// [`tokio::net::UnixStream`], not the `std` one): waits until the
    /// socket can take the message. It takes part in tokio's cooperative
    /// budget, as [`recv_async`] does.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the message is sent whole (one `sendmsg`) in the poll
    /// that returns, or not at all.
    ///
    /// # Errors
    ///
    /// As [`send`](super::send), without `WouldBlock`.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn send_async(
        socket: &UnixStream,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> io::Result<usize> {
        socket
            .async_io(Interest::WRITABLE, || {
                send_once(socket.as_fd(), payload, fds)
            })
            .await
    }

    /// [`recv`](super::recv) on a tokio socket (a
    /// [`tokio::net::UnixStream`]): waits for a message.
    ///
    /// Like every tokio I/O operation, it takes part in tokio's
    /// cooperative budget: a loop of receives that never has to wait still
    /// yields to the other tasks now and then.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: bytes and descriptors are taken from the socket only
    /// in the poll that returns them.
    ///
    /// # Errors
    ///
    /// As [`recv`](super::recv), without `WouldBlock`.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn recv_async(socket: &UnixStream, buf: &mut [u8]) -> io::Result<Received> {
        socket
            .async_io(Interest::READABLE, || recv_once(socket.as_fd(), buf))
            .await
    }

    /// The poll form of [`send_async`], for hand-written futures.
    ///
    /// # Errors
    ///
    /// As [`send`](super::send), without `WouldBlock`.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn poll_send(
        socket: &UnixStream,
        cx: &mut Context<'_>,
        payload: &[u8],
        fds: &[BorrowedFd<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(socket.poll_write_ready(cx))?;
            match socket.try_io(Interest::WRITABLE, || {
                send_once(socket.as_fd(), payload, fds)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    /// The poll form of [`recv_async`], for hand-written futures.
    ///
    /// # Errors
    ///
    /// As [`recv`](super::recv), without `WouldBlock`.
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn poll_recv(
        socket: &UnixStream,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<Received>> {
        loop {
            ready!(socket.poll_read_ready(cx))?;
            match socket.try_io(Interest::READABLE, || recv_once(socket.as_fd(), buf)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

#[cfg(feature = "tokio")]
pub use with_tokio::{poll_recv, poll_send, recv_async, send_async};
