//! The descriptor of a [`PidFd`](super::PidFd), and, for one that owns its
//! child ([`from_owned_child`](super::PidFd::from_owned_child)), the duty to
//! reap the child when the last owning handle goes.
//!
//! On that drop the child is reaped at once if it has exited
//! (`waitid(P_PIDFD, WEXITED | WNOHANG)`, one syscall); if it still runs,
//! its pidfd goes to the process's one helper thread
//! ([`crate::helper_thread`]), which reaps it once it exits. Nothing
//! blocks. A handle dropped in a process `fork`ed from the owner (not the
//! child's parent) only closes its descriptor.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::{Arc, OnceLock};

use crate::helper_thread;

/// The pidfd, and who must reap its child on drop.
pub(super) struct Descriptor {
    /// Taken exactly once: in `drop`, or in `into_owned` (which never
    /// drops `self`).
    fd: ManuallyDrop<OwnedFd>,
    /// For a handle that owns its child: shared by its clones, so that the
    /// last of them to go reaps.
    owner: Option<Arc<Owner>>,
}

/// The duty to reap a child, shared by the clones of an owning handle.
pub(super) struct Owner {
    /// This process's id when the handle was made: only that process (the
    /// child's parent) reaps, never a `fork`ed copy of it.
    parent: i32,
    /// The handle's kept exit status: once known, the child has been
    /// reaped (an owning handle reaps as soon as it sees the exit), and a
    /// drop has nothing to do but close.
    status: Arc<OnceLock<ExitStatus>>,
}

impl Descriptor {
    /// A descriptor that reaps nothing on drop.
    pub(super) fn new(fd: OwnedFd) -> Descriptor {
        Descriptor {
            fd: ManuallyDrop::new(fd),
            owner: None,
        }
    }

    /// A descriptor of a child this process owns, whose handle keeps its
    /// exit status in `status`: reaped when the last descriptor sharing
    /// the new owner goes.
    pub(super) fn owning(fd: OwnedFd, status: &Arc<OnceLock<ExitStatus>>) -> Descriptor {
        let owner = Arc::new(Owner {
            parent: rustix::process::getpid().as_raw_nonzero().get(),
            status: Arc::clone(status),
        });
        Descriptor::shared(fd, Some(&owner))
    }

    /// A descriptor that shares `owner`'s duty (a clone's), or has none.
    pub(super) fn shared(fd: OwnedFd, owner: Option<&Arc<Owner>>) -> Descriptor {
        let owner = owner.map(Arc::clone);
        Descriptor {
            fd: ManuallyDrop::new(fd),
            owner,
        }
    }

    /// The shared duty, if this descriptor owns its child.
    pub(super) fn owner(&self) -> Option<&Arc<Owner>> {
        self.owner.as_ref()
    }

    /// Gives up this descriptor's share of the duty: its drop reaps
    /// nothing.
    pub(super) fn disown(&mut self) {
        self.owner = None;
    }

    /// The descriptor itself; the duty ends with it (the caller now owns
    /// the child).
    pub(super) fn into_owned(self) -> OwnedFd {
        let mut this = ManuallyDrop::new(self);
        this.disown();
        // `this` is never dropped, so its `fd` is taken only here.
        // SAFETY: no other take of `this.fd` happens, nor any later use.
        unsafe { ManuallyDrop::take(&mut this.fd) }
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // `drop` runs once, and `into_owned` never lets it run.
        // SAFETY: so `fd` is taken exactly once, and not used after.
        let fd = unsafe { ManuallyDrop::take(&mut self.fd) };
        // Only the last owning descriptor reaps (`into_inner` answers
        // `Some` to exactly one of several concurrent drops).
        if let Some(owner) = self.owner.take().and_then(Arc::into_inner) {
            orphan(fd, &owner);
        }
    }
}

/// The last owning handle of a child is gone: reap the child now if it has
/// exited, else hand its pidfd to the helper thread. In a forked copy of
/// the owner, only close.
fn orphan(fd: OwnedFd, owner: &Owner) {
    if owner.status.get().is_some() {
        // Reaped by a wait of the handle or a clone: only close.
        return;
    }
    if rustix::process::getpid().as_raw_nonzero().get() != owner.parent {
        return;
    }
    if helper_thread::reap_now(fd.as_fd()) {
        return;
    }
    // If the thread cannot take it (no descriptor or thread left), the
    // child stays a zombie once it exits: documented.
    let _ = helper_thread::adopt_orphan(fd);
}

impl Deref for Descriptor {
    type Target = OwnedFd;

    #[inline]
    fn deref(&self) -> &OwnedFd {
        &self.fd
    }
}

impl AsFd for Descriptor {
    #[inline]
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
