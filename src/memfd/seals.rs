//! [`Seals`]: the `F_SEAL_*` bit set of a memfd.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use rustix::fs::SealFlags;

/// Seals of a [`MemFd`](crate::MemFd): restrictions that, once added, can
/// never be removed. A `Copy` bit set.
///
/// What each combination gives a [`MappedRegion`](crate::MappedRegion)
/// mapped after it was set (its "Soundness" section has the details):
///
/// | seals | region copies | `as_slice` |
/// |---|---|---|
/// | `SHRINK` + `WRITE` ([`IMMUTABLE`](Seals::IMMUTABLE)) | through the mapping | yes |
/// | `SHRINK` + `FUTURE_WRITE` | through the mapping | no |
/// | anything else (`SHRINK` alone too: a peer may punch holes) | through the descriptor | no |
///
/// # Examples
///
/// ```
/// use iofd::{MemFd, Seals};
///
/// # fn main() -> std::io::Result<()> {
/// let memfd = MemFd::new_sealable("sealed")?;
/// memfd.write_all_at(b"fixed", 0)?;
/// let seals = Seals::IMMUTABLE | Seals::GROW;
/// assert!(seals.contains(Seals::WRITE) && seals.contains(Seals::SHRINK));
/// memfd.seal(seals)?;
/// assert!(memfd.seals()?.contains(seals));
/// assert_eq!(format!("{:?}", Seals::SHRINK | Seals::GROW), "{SHRINK, GROW}");
/// // Seals are enforced by the kernel, for every holder of the memfd:
/// assert_eq!(memfd.write_at(b"x", 0).unwrap_err().raw_os_error(), Some(libc::EPERM));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Seals(u32);

impl Seals {
    /// No seal.
    pub const EMPTY: Seals = Seals(0);
    /// `F_SEAL_SEAL`: no further seal can be added.
    pub const SEAL: Seals = Seals(SealFlags::SEAL.bits());
    /// `F_SEAL_SHRINK`: the size cannot decrease.
    pub const SHRINK: Seals = Seals(SealFlags::SHRINK.bits());
    /// `F_SEAL_GROW`: the size cannot increase.
    pub const GROW: Seals = Seals(SealFlags::GROW.bits());
    /// `F_SEAL_WRITE`: the contents cannot change (no `write`, no writable
    /// shared mapping). Adding it fails with `EBUSY` while **any** shared
    /// mapping of the memfd exists, even a read-only one
    /// ([`Protection::Read`](crate::Protection::Read)): the kernel counts
    /// every shared mapping that could be made writable with `mprotect`.
    /// Drop the regions, seal, then map again. Also forbids punching holes
    /// (`fallocate`).
    pub const WRITE: Seals = Seals(SealFlags::WRITE.bits());
    /// `F_SEAL_FUTURE_WRITE`: no *new* write access (no `write`, no new
    /// writable mapping, no hole punched); existing writable mappings keep
    /// writing (Linux 5.1). With [`SHRINK`](Seals::SHRINK), what a writer
    /// seals after mapping read-write, to keep its region's pages from
    /// every peer (see [`MappedRegion::recheck_seals`](crate::MappedRegion::recheck_seals)).
    pub const FUTURE_WRITE: Seals = Seals(SealFlags::FUTURE_WRITE.bits());
    /// `F_SEAL_EXEC`: the execute bits cannot change (Linux 6.3).
    pub const EXEC: Seals = Seals(SealFlags::EXEC.bits());
    /// `WRITE | SHRINK`: no byte of the memfd can change, nor can it
    /// shrink. What a receiver requires before it trusts shared memory
    /// ([`MemFd::require_seals`](crate::MemFd::require_seals)), and what
    /// makes [`MappedRegion::as_slice`](crate::MappedRegion::as_slice)
    /// available.
    pub const IMMUTABLE: Seals = Seals(SealFlags::WRITE.bits() | SealFlags::SHRINK.bits());

    /// Whether every seal of `other` is in `self`.
    #[inline]
    pub const fn contains(self, other: Seals) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no seal is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The raw `F_SEAL_*` bits.
    #[inline]
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The seals of the raw `F_SEAL_*` `bits` (unknown bits are kept).
    #[inline]
    pub const fn from_bits(bits: u32) -> Seals {
        Seals(bits)
    }
}

impl BitOr for Seals {
    type Output = Seals;
    fn bitor(self, rhs: Seals) -> Seals {
        Seals(self.0 | rhs.0)
    }
}

impl BitOrAssign for Seals {
    fn bitor_assign(&mut self, rhs: Seals) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Seals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Seals::SEAL, "SEAL"),
            (Seals::SHRINK, "SHRINK"),
            (Seals::GROW, "GROW"),
            (Seals::WRITE, "WRITE"),
            (Seals::FUTURE_WRITE, "FUTURE_WRITE"),
            (Seals::EXEC, "EXEC"),
        ];
        let mut set = f.debug_set();
        let mut known = 0;
        for (seal, name) in names {
            if self.contains(seal) {
                set.entry(&format_args!("{name}"));
                known |= seal.0;
            }
        }
        if self.0 & !known != 0 {
            set.entry(&format_args!("{:#x}", self.0 & !known));
        }
        set.finish()
    }
}
