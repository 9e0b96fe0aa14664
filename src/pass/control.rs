//! The control buffer of a receive, sized for everything a Unix socket may
//! attach to one message, and walked here message by message, so that
//! every descriptor the kernel installed is accounted for, whatever the
//! message types (rustix's `AncillaryDrain` skips types it does not know,
//! such as `SCM_PIDFD`, and with them the descriptor inside).
//!
//! The walk reads the bytes the kernel wrote, in the kernel's layout of
//! `struct cmsghdr` (`include/linux/socket.h`): `cmsg_len` is a native
//! word (`size_t`), then `cmsg_level` and `cmsg_type` (`int`); each
//! header and each message's data is aligned to the native word
//! (`CMSG_ALIGN` rounds to `sizeof(long)`). No pointer is followed: the
//! walk is safe code over a byte slice.

use std::mem::size_of;

use super::MAX_FDS;

/// `SCM_PIDFD` (Linux 6.5): the sender's pidfd, one `int`.
pub(super) const SCM_PIDFD: i32 = 0x04;

/// The native word: the size of `cmsg_len` and the alignment unit.
const WORD: usize = size_of::<usize>();

/// `CMSG_ALIGN`.
const fn align(len: usize) -> usize {
    (len + WORD - 1) & !(WORD - 1)
}

/// `CMSG_LEN(0)`: the header, before the data.
const HEADER: usize = align(WORD + 2 * size_of::<i32>());

/// `CMSG_SPACE(data)`.
const fn space(data: usize) -> usize {
    HEADER + align(data)
}

/// `struct ucred`: pid, uid, gid.
pub(super) const UCRED_LEN: usize = 12;

/// A receive timestamp (`SO_TIMESTAMP` or `SO_TIMESTAMPNS`, old or new
/// layout): a `timeval` or `timespec`, at most two 64-bit words.
const TIMESTAMP_LEN: usize = 16;

/// `SO_TIMESTAMPING`'s `scm_timestamping` (old or new layout): three
/// `timespec`s, at most 16 bytes each.
const TIMESTAMPING_LEN: usize = 3 * 16;

/// Room for a security label (`SCM_SECURITY`, from `SO_PASSSEC` with a
/// security module that labels sockets, such as SELinux or AppArmor): a
/// NUL-terminated string whose length the module decides. Labels longer
/// than this take room from the descriptors ([`super::Truncation::ControlFull`]).
pub(super) const SECURITY_LEN: usize = 256;

/// Bytes of control buffer, for every control message the kernel attaches
/// to a message received on a Unix socket (`net/unix/af_unix.c` and
/// `__sock_recv_timestamp` in `net/socket.c`, checked on Linux 6.18): on
/// `SOCK_SEQPACKET` and `SOCK_DGRAM`, a receive timestamp (`SO_TIMESTAMP`
/// or `SO_TIMESTAMPNS`, one of them) and a `SO_TIMESTAMPING` record,
/// written first; on every type, a security label (`SO_PASSSEC`, up to
/// [`SECURITY_LEN`] bytes), the credentials (`SO_PASSCRED`), [`MAX_FDS`]
/// descriptors and the sender's pidfd (`SO_PASSPIDFD`). Unix sockets
/// attach nothing else: no `SO_RXQ_OVFL`, `SO_RCVMARK` or
/// `SO_RCVPRIORITY` record (`sock_recv_cmsgs` is not called for them).
/// With fewer messages enabled, more descriptors fit; the receive counts
/// them and refuses any message with more than [`MAX_FDS`], so the cutoff
/// does not depend on the buffer.
pub(super) const CONTROL_LEN: usize = space(TIMESTAMP_LEN)
    + space(TIMESTAMPING_LEN)
    + space(SECURITY_LEN)
    + space(UCRED_LEN)
    + space(4 * MAX_FDS)
    + space(4);

/// The control buffer, aligned as `struct cmsghdr` is.
#[repr(C, align(8))]
pub(super) struct ControlBuffer(pub(super) [u8; CONTROL_LEN]);

const _: () = assert!(std::mem::align_of::<ControlBuffer>() >= WORD);

/// One control message: its level, type and data (the data as far as the
/// kernel wrote it: a truncated message has less).
#[derive(Clone, Copy)]
pub(super) struct Message<'a> {
    pub(super) level: i32,
    pub(super) kind: i32,
    pub(super) data: &'a [u8],
}

/// The messages in the first `used` bytes of `control` (`msg_controllen`
/// after the receive), in order. A header that does not fit, or that
/// claims less than a header, ends the walk (the kernel writes neither).
pub(super) fn messages(control: &[u8]) -> impl Iterator<Item = Message<'_>> {
    let mut offset = 0usize;
    std::iter::from_fn(move || {
        let header = control.get(offset..offset.checked_add(HEADER)?)?;
        let len = usize::from_ne_bytes(header[..WORD].try_into().ok()?);
        let level = i32::from_ne_bytes(header[WORD..WORD + 4].try_into().ok()?);
        let kind = i32::from_ne_bytes(header[WORD + 4..WORD + 8].try_into().ok()?);
        if len < HEADER {
            return None;
        }
        // A truncated last message (MSG_CTRUNC) may claim more than the
        // buffer holds: only what is there is read.
        let end = offset.saturating_add(len).min(control.len());
        let data = control.get(offset + HEADER..end)?;
        offset = offset.saturating_add(align(len));
        Some(Message { level, kind, data })
    })
}

/// The `int`s of a message's data (descriptor numbers), whole ones only.
pub(super) fn ints(data: &[u8]) -> impl Iterator<Item = i32> + '_ {
    data.chunks_exact(4)
        .filter_map(|int| int.try_into().ok().map(i32::from_ne_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(buf: &mut Vec<u8>, level: i32, kind: i32, data: &[u8]) {
        let start = buf.len();
        buf.extend_from_slice(&(HEADER + data.len()).to_ne_bytes());
        buf.extend_from_slice(&level.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.resize(start + HEADER, 0);
        buf.extend_from_slice(data);
        buf.resize(start + space(data.len()), 0);
    }

    #[test]
    fn walks_every_message_in_order() {
        let mut buf = Vec::new();
        push(&mut buf, 1, 2, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        push(&mut buf, 1, 1, &[7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0]);
        push(&mut buf, 1, SCM_PIDFD, &[5, 0, 0, 0]);
        let found: Vec<_> = messages(&buf).map(|m| (m.kind, m.data.len())).collect();
        assert_eq!(found, [(2, 12), (1, 12), (SCM_PIDFD, 4)]);
        let fds: Vec<_> = messages(&buf)
            .filter(|m| m.kind == 1)
            .flat_map(|m| ints(m.data))
            .collect();
        assert_eq!(fds, [7, 8, 9]);
        assert_eq!(
            buf.len(),
            CONTROL_LEN - space(4 * MAX_FDS) + space(12)
                - space(TIMESTAMP_LEN)
                - space(TIMESTAMPING_LEN)
                - space(SECURITY_LEN)
        );
    }

    #[test]
    fn a_short_or_bad_header_ends_the_walk() {
        let mut buf = Vec::new();
        push(&mut buf, 1, 1, &[3, 0, 0, 0]);
        let whole = buf.clone();
        buf.truncate(HEADER + 3);
        // The data is cut: only the bytes that are there.
        assert_eq!(messages(&buf).next().map(|m| m.data.len()), Some(3));
        assert_eq!(messages(&whole[..HEADER - 1]).count(), 0);
        let mut zero = whole.clone();
        zero[..WORD].copy_from_slice(&0usize.to_ne_bytes());
        assert_eq!(messages(&zero).count(), 0);
    }
}
