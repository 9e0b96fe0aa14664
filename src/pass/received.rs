//! [`Received`]: what one receive brought — the payload length, the
//! descriptors, and who sent them ([`Credentials`], the sender's pidfd).

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::MAX_FDS;
use super::control::{Message, SCM_PIDFD, UCRED_LEN, ints};
use crate::PidFd;
use crate::adopt::AdoptError;

/// A received payload's length, its descriptors in the order sent, and
/// the sender's identity where the socket asks for it
/// ([`set_pass_credentials`](super::set_pass_credentials),
/// [`set_pass_pidfd`](super::set_pass_pidfd)).
///
/// Take each descriptor as a typed handle with [`take`](Received::take),
/// or as it is with [`take_fd`](Received::take_fd). Descriptors not taken,
/// and a sender pidfd not taken, are closed when the `Received` is
/// dropped.
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use iofd::{EventFd, pass};
///
/// # fn main() -> std::io::Result<()> {
/// let (here, there) = UnixStream::pair()?;
/// pass::set_pass_credentials(&there, true)?;
/// let doorbell = EventFd::new(0)?;
/// pass::send(&here, b"ring", &[doorbell.as_fd()])?;
///
/// let mut buf = [0u8; 16];
/// let mut received = pass::recv(&there, &mut buf)?;
/// assert_eq!(&buf[..received.len()], b"ring");
/// assert_eq!(received.fd_count(), 1);
/// let sender = received.credentials().expect("SO_PASSCRED is set");
/// assert_eq!(sender.pid(), std::process::id() as i32);
/// let bell: EventFd = received.take()?;
/// bell.signal(1)?;
/// assert_eq!(doorbell.wait()?, 1);
/// # Ok(())
/// # }
/// ```
pub struct Received {
    len: usize,
    fds: [Option<OwnedFd>; MAX_FDS],
    /// `fds[next..count]` are not yet taken.
    next: usize,
    count: usize,
    /// Descriptors the kernel installed for the message, kept or closed.
    arrived: usize,
    credentials: Option<Credentials>,
    /// `SCM_PIDFD`: the sender's pidfd, or the errno the kernel sent in
    /// its place.
    sender: Option<Result<OwnedFd, i32>>,
    /// Whether any control message came with it (the end of a stream
    /// carries none).
    control: bool,
}

/// The sender's credentials as the kernel reports them with a message
/// (`SCM_CREDENTIALS`, on a socket with
/// [`set_pass_credentials`](super::set_pass_credentials)): ids as this
/// process's namespaces see them.
///
/// The pid names the sending process when it sent; it may have exited and
/// the pid been reused since. [`Received::take_sender`] gives a pidfd
/// instead, which cannot be confused that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    pid: i32,
    uid: u32,
    gid: u32,
}

impl Credentials {
    /// The sending process's id (0 if it is outside this pid namespace).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The sender's user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The sender's group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }
}

impl Received {
    /// An empty `Received` for `len` payload bytes.
    pub(super) fn new(len: usize) -> Received {
        Received {
            len,
            fds: [const { None }; MAX_FDS],
            next: 0,
            count: 0,
            arrived: 0,
            credentials: None,
            sender: None,
            control: false,
        }
    }

    /// Takes up one control message: every descriptor in it is kept or
    /// closed here, whatever its type.
    pub(super) fn collect(&mut self, message: Message<'_>) {
        self.control = true;
        if message.level != libc::SOL_SOCKET {
            return;
        }
        match message.kind {
            libc::SCM_RIGHTS => {
                for raw in ints(message.data) {
                    let Some(fd) = installed(raw) else { continue };
                    self.arrived += 1;
                    if let Some(slot) = self.fds.get_mut(self.count) {
                        *slot = Some(fd);
                        self.count += 1;
                    }
                    // Past MAX_FDS: `fd` drops (closes) here; the receive
                    // then fails with `TooManyFds`.
                }
            }
            SCM_PIDFD => {
                if let Some(raw) = ints(message.data).next() {
                    // The kernel sends a negative errno when it could not
                    // make the pidfd (out of descriptors, sender gone).
                    self.sender = Some(installed(raw).ok_or(-raw));
                }
            }
            libc::SCM_CREDENTIALS if message.data.len() >= UCRED_LEN => {
                let int = |at: usize| {
                    let bytes = [
                        message.data[at],
                        message.data[at + 1],
                        message.data[at + 2],
                        message.data[at + 3],
                    ];
                    i32::from_ne_bytes(bytes)
                };
                self.credentials = Some(Credentials {
                    pid: int(0),
                    uid: int(4) as u32,
                    gid: int(8) as u32,
                });
            }
            // No other message at SOL_SOCKET carries a descriptor
            // (SCM_SECURITY carries a label).
            _ => {}
        }
    }

    /// How many descriptors the kernel installed for this message.
    pub(super) fn arrived(&self) -> usize {
        self.arrived
    }

    /// The number of payload bytes received.
    ///
    /// On a stream socket, 0 with no descriptor is the end of the stream
    /// (see [`is_end_of_stream`](Received::is_end_of_stream)).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no payload byte arrived. This alone does not mean the peer
    /// closed its end: on a `SOCK_SEQPACKET` socket a message of 0 bytes
    /// may carry descriptors; see
    /// [`is_end_of_stream`](Received::is_end_of_stream).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the peer has closed its end: no payload byte and no
    /// control message at all (no descriptor, credentials, pidfd or
    /// timestamp) arrived.
    ///
    /// Exact on a stream socket, where a message always has a byte. On a
    /// `SOCK_SEQPACKET` socket the kernel reports the end as a receive of
    /// 0 bytes with no control data and no flag (not even `MSG_EOR`), and
    /// a message of 0 bytes without descriptors reads the same way unless
    /// the socket attaches something to every message: with
    /// [`set_pass_credentials`](super::set_pass_credentials) (or
    /// [`set_pass_pidfd`](super::set_pass_pidfd), or a timestamp option)
    /// on the receiving socket, every real message carries a control
    /// message, and this is exact there too. A `SOCK_DGRAM` socket has no
    /// end of stream: `true` there is an empty datagram without control
    /// data.
    pub fn is_end_of_stream(&self) -> bool {
        self.len == 0 && self.arrived == 0 && !self.control
    }

    /// The number of descriptors not yet taken.
    pub fn fd_count(&self) -> usize {
        self.count - self.next
    }

    /// The sender's credentials (`SCM_CREDENTIALS`), if the socket passes
    /// them ([`set_pass_credentials`](super::set_pass_credentials)).
    pub fn credentials(&self) -> Option<Credentials> {
        self.credentials
    }

    /// Takes the sending process's pidfd (`SCM_PIDFD`, Linux 6.5), if the
    /// socket passes it ([`set_pass_pidfd`](super::set_pass_pidfd)):
    /// `None` if none came with the message; the same pidfd is not given
    /// twice.
    ///
    /// It names the process that sent the message, with none of the pid's
    /// reuse race, and [observes only](PidFd::observe_only). Its
    /// [`pid`](PidFd::pid) is read with `PIDFD_GET_INFO` (Linux 6.13) or
    /// from `/proc`, and is 0 if neither can tell.
    ///
    /// # Errors
    ///
    /// `Some(Err)` with the errno the kernel sent instead of a pidfd
    /// (`EMFILE` when this process was out of descriptors, `ESRCH` when
    /// the sender was gone).
    pub fn take_sender(&mut self) -> Option<io::Result<PidFd>> {
        Some(match self.sender.take()? {
            Ok(fd) => PidFd::from_kernel(fd),
            Err(errno) => Err(io::Error::from_raw_os_error(errno)),
        })
    }

    /// Takes the next descriptor as it is.
    pub fn take_fd(&mut self) -> Option<OwnedFd> {
        let fd = self.fds.get_mut(self.next)?.take()?;
        self.next += 1;
        Some(fd)
    }

    /// Takes the next descriptor as the handle `H` (`EventFd`, `TimerFd`,
    /// `SignalFd`, `PidFd`, `MemFd`), checked as its `TryFrom<OwnedFd>`
    /// checks it.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if the descriptor is not an `H` (or `/proc` cannot
    ///   be read to tell): the descriptor stays here, next in line for
    ///   [`take_fd`](Received::take_fd) or another `take`.
    /// - `InvalidData` if no descriptor is left.
    pub fn take<H>(&mut self) -> io::Result<H>
    where
        H: TryFrom<OwnedFd, Error = AdoptError>,
    {
        let Some(fd) = self.take_fd() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the message carried {} descriptors, and all were taken",
                    self.count
                ),
            ));
        };
        H::try_from(fd).map_err(|err| {
            let error = io::Error::new(io::ErrorKind::InvalidInput, err.to_string());
            // Put it back, unharmed, where it was.
            self.next -= 1;
            self.fds[self.next] = Some(err.into_fd());
            error
        })
    }
}

/// Owns descriptor `raw` if it is one (not a negative errno).
fn installed(raw: i32) -> Option<OwnedFd> {
    if raw < 0 {
        return None;
    }
    // The kernel has just installed `raw` in this process for this
    // message (SCM_RIGHTS, SCM_PIDFD), and nothing else knows it.
    // SAFETY: so this `OwnedFd` is its only owner, and closes it.
    Some(unsafe { OwnedFd::from_raw_fd(raw) })
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fds = &self.fds[self.next..self.count];
        f.debug_struct("Received")
            .field("len", &self.len)
            .field(
                "fds",
                &fds.iter()
                    .map(|fd| fd.as_ref().map_or(-1, AsRawFd::as_raw_fd))
                    .collect::<Vec<_>>(),
            )
            .field("credentials", &self.credentials)
            .field(
                "sender",
                &self
                    .sender
                    .as_ref()
                    .map(|sender| sender.as_ref().map(AsRawFd::as_raw_fd)),
            )
            .finish()
    }
}
