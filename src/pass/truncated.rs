//! [`Truncated`]: a receive that lost part of its message, with the payload
//! length that did arrive and why the rest did not.

use std::fmt;
use std::io;

use super::MAX_FDS;

/// The error of a receive that could not take its whole message: what
/// was lost, why, and how many payload bytes were consumed.
///
/// It travels inside an [`io::Error`] of kind
/// [`InvalidData`](io::ErrorKind::InvalidData); find it with
/// [`Truncated::of`]. The descriptors that did arrive have been closed
/// (none is leaked, none handed over), but the payload bytes counted by
/// [`len`](Truncated::len) are in the buffer and gone from the socket: a
/// length-prefixed stream stays in step by counting them.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use iofd::pass::{self, Truncated, Truncation};
///
/// # fn main() -> std::io::Result<()> {
/// // A datagram socket, wrapped as a stream: its messages have bounds.
/// let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
/// let (a, b) = (UnixStream::from(std::os::fd::OwnedFd::from(a)),
///               UnixStream::from(std::os::fd::OwnedFd::from(b)));
/// pass::send(&a, b"a long message", &[])?;
/// let mut small = [0u8; 4];
/// let err = pass::recv(&b, &mut small).unwrap_err();
/// let truncated = Truncated::of(&err).expect("a truncation");
/// assert_eq!(truncated.reason(), Truncation::Payload);
/// assert_eq!(truncated.len(), 4);
/// assert_eq!(&small, b"a lo");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    len: usize,
    arrived: usize,
    reason: Truncation,
}

/// Why a message was [`Truncated`], as far as the receiving process can
/// tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Truncation {
    /// The message carried more than [`MAX_FDS`] descriptors: the peer
    /// sent too many.
    TooManyFds,
    /// This process is at its descriptor limit (`RLIMIT_NOFILE`): the
    /// kernel installed only some of the descriptors and dropped the
    /// others (`recvmsg` itself does not fail).
    OutOfDescriptors,
    /// The control messages did not fit the buffer, which holds, besides
    /// [`MAX_FDS`] descriptors, every other message a Unix socket attaches:
    /// the receive timestamps (`SO_TIMESTAMP` or `SO_TIMESTAMPNS`, and
    /// `SO_TIMESTAMPING`), a security label (`SO_PASSSEC`) of up to 255
    /// bytes, the credentials (`SO_PASSCRED`) and the sender's pidfd
    /// (`SO_PASSPIDFD`). So the space was taken by a longer security
    /// label (or a message type a newer kernel added). Also what is reported
    /// when the kernel declined to install descriptors for another reason
    /// than the descriptor limit (a security module refusing them).
    ControlFull,
    /// The payload did not fit the buffer, on a socket with message
    /// bounds (`SOCK_SEQPACKET`, `SOCK_DGRAM`): the rest of the message
    /// is discarded by the kernel.
    Payload,
}

impl Truncated {
    pub(super) fn new(len: usize, arrived: usize, reason: Truncation) -> Truncated {
        Truncated {
            len,
            arrived,
            reason,
        }
    }

    /// The `Truncated` inside `err`, if it is the error of a truncated
    /// receive.
    pub fn of(err: &io::Error) -> Option<&Truncated> {
        err.get_ref()?.downcast_ref::<Truncated>()
    }

    /// The payload bytes received into the buffer (and consumed from the
    /// socket).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no payload byte was received.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many descriptors the kernel installed before they were closed
    /// (at most the control buffer's room, whatever the peer sent).
    pub fn fds_arrived(&self) -> usize {
        self.arrived
    }

    /// Why the message was truncated.
    pub fn reason(&self) -> Truncation {
        self.reason
    }
}

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Truncated {
            len,
            arrived,
            reason,
        } = self;
        match reason {
            Truncation::TooManyFds => write!(
                f,
                "the message carried more than {MAX_FDS} descriptors (iofd::pass::MAX_FDS): \
                 {arrived} arrived and were closed"
            )?,
            Truncation::OutOfDescriptors => write!(
                f,
                "this process is at its descriptor limit (RLIMIT_NOFILE): the kernel dropped \
                 descriptors of the message (MSG_CTRUNC); {arrived} arrived and were closed"
            )?,
            Truncation::ControlFull => write!(
                f,
                "the message's control data did not fit the buffer (MSG_CTRUNC), which has \
                 room for {MAX_FDS} descriptors, timestamps (SO_TIMESTAMP/SO_TIMESTAMPNS, \
                 SO_TIMESTAMPING), credentials (SO_PASSCRED), the sender's pidfd \
                 (SO_PASSPIDFD) and a security label (SO_PASSSEC) of up to 255 bytes: a \
                 longer label?; {arrived} descriptors arrived and were closed"
            )?,
            Truncation::Payload => write!(
                f,
                "the message was longer than the buffer (MSG_TRUNC): the rest is discarded; \
                 {arrived} descriptors arrived and were closed"
            )?,
        }
        write!(f, "; {len} payload bytes were received")
    }
}

impl std::error::Error for Truncated {}

impl From<Truncated> for io::Error {
    fn from(truncated: Truncated) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, truncated)
    }
}
