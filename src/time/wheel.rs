//! The far part of [`Deadlines`](super::deadlines::Deadlines): a
//! hierarchical timing wheel of coarse buckets for one-shot deadlines that
//! are not near yet.
//!
//! Most timeouts never fire: they are armed, then cancelled when the
//! request they guard completes. In a heap, each of them pays a sift up
//! and a sift down (up to 10 levels with a million timers armed). Here a
//! far deadline is linked into the bucket that covers it, and unlinked when
//! cancelled: O(1) both ways, whatever else is armed, and it never touches
//! the heap.
//!
//! The buckets are coarse (a tick is 2²⁰ ns, about 1.05 ms, on level 0;
//! each of the 6 levels has 64 buckets, each 64 times wider than the level
//! below, so the wheel reaches about 2.2 years ahead; a deadline further
//! away stays in the heap). Precision comes from the heap, not from the
//! wheel: the driver processes a bucket one tick **before** the bucket
//! starts, moving the deadlines it holds one level down, or into the
//! precise heap once they are within two ticks. So a timer that does fire,
//! fires from the heap at its exact deadline, as before; the wheel only
//! decides when it enters the heap.
//!
//! Lists are intrusive and doubly linked through the slots: each slot has
//! a `next` link, and its position word (which, for a heap entry, is its
//! heap index) holds either the previous slot or, for the first of its
//! bucket, the bucket's number ([`Position`]).

/// No next slot.
pub(super) const NIL: u32 = u32::MAX;

/// log₂ of a level-0 tick in nanoseconds.
const TICK_SHIFT: u32 = 20;

/// Bits of a deadline's tick per level.
const BITS: u32 = 6;

/// Buckets per level.
const SLOTS: u64 = 1 << BITS;

/// Levels.
const LEVELS: usize = 6;

/// Every bucket of every level.
pub(super) const BUCKETS: usize = LEVELS * SLOTS as usize;

/// Ticks the wheel reaches: deadlines further ahead stay in the heap.
const REACH: u64 = 1 << (BITS * LEVELS as u32);

/// A slot's position word, in the wheel: its predecessor in its bucket's
/// list, or (for the first of the list) its bucket.
pub(super) const PREV: u32 = 0x8000_0000;
/// See [`PREV`]: the first of bucket `b` has `HEAD | b`.
pub(super) const HEAD: u32 = 0xC000_0000;
/// The largest slot index plus one (slot indices fit below [`PREV`]'s
/// bits).
pub(super) const MAX_SLOTS: u32 = 1 << 30;

/// Whether a position word says "in the wheel".
pub(super) fn in_wheel(pos: u32) -> bool {
    (PREV..HEAD + BUCKETS as u32).contains(&pos)
}

/// What the wheel needs of a slot: its deadline and its links.
pub(super) trait Linked {
    fn set_at(&mut self, at: u64);
    fn next(&self) -> u32;
    fn set_next(&mut self, next: u32);
    fn pos(&self) -> u32;
    fn set_pos(&mut self, pos: u32);
}

/// The buckets: list heads, one bitmap of occupied buckets per level, and
/// the tick up to which it has been processed.
pub(super) struct Wheel {
    heads: [u32; BUCKETS],
    occupied: [u64; LEVELS],
    /// Every occupied bucket starts after this tick.
    elapsed: u64,
    len: usize,
}

impl Wheel {
    pub(super) const fn new() -> Wheel {
        Wheel {
            heads: [NIL; BUCKETS],
            occupied: [0; LEVELS],
            elapsed: 0,
            len: 0,
        }
    }

    /// How many deadlines it holds.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The bucket for a deadline at `at` (nanoseconds), or `None` if it
    /// belongs in the heap: within two ticks of what has been processed,
    /// or beyond the wheel's reach.
    pub(super) fn bucket_for(&self, at: u64) -> Option<u32> {
        let tick = at >> TICK_SHIFT;
        if tick < self.elapsed.saturating_add(2) {
            return None;
        }
        let masked = (self.elapsed ^ tick) | (SLOTS - 1);
        if masked >= REACH {
            return None;
        }
        let level = masked.ilog2() / BITS;
        let slot = (tick >> (BITS * level)) & (SLOTS - 1);
        Some(level * SLOTS as u32 + slot as u32)
    }

    /// Links `slot` (deadline `at`) first into `bucket`; returns when
    /// (nanoseconds) the driver must process that bucket, as
    /// [`due`](Wheel::due) would for it.
    pub(super) fn push<S: Linked>(
        &mut self,
        slots: &mut [S],
        slot: u32,
        at: u64,
        bucket: u32,
    ) -> u64 {
        let old = self.heads[bucket as usize];
        let entry = &mut slots[slot as usize];
        entry.set_at(at);
        entry.set_next(old);
        entry.set_pos(HEAD | bucket);
        if old != NIL {
            slots[old as usize].set_pos(PREV | slot);
        }
        self.heads[bucket as usize] = slot;
        self.occupied[bucket as usize / SLOTS as usize] |= 1 << (bucket as u64 % SLOTS);
        self.len += 1;
        let shift = BITS * (bucket / SLOTS as u32);
        let turn = self.elapsed >> (shift + BITS) << (shift + BITS);
        let start = turn + ((u64::from(bucket) % SLOTS) << shift);
        (start - 1).saturating_mul(1 << TICK_SHIFT)
    }

    /// Unlinks `slot`, whose position word says it is in the wheel; leaves
    /// its position to the caller.
    pub(super) fn unlink<S: Linked>(&mut self, slots: &mut [S], slot: u32) {
        let entry = &slots[slot as usize];
        let (next, pos) = (entry.next(), entry.pos());
        if pos >= HEAD {
            let bucket = pos - HEAD;
            self.heads[bucket as usize] = next;
            if next == NIL {
                self.occupied[bucket as usize / SLOTS as usize] &= !(1 << (bucket as u64 % SLOTS));
            } else {
                slots[next as usize].set_pos(pos);
            }
        } else {
            let prev = pos - PREV;
            slots[prev as usize].set_next(next);
            if next != NIL {
                slots[next as usize].set_pos(pos);
            }
        }
        self.len -= 1;
    }

    /// The earliest occupied bucket and the tick it starts at.
    fn next_bucket(&self) -> Option<(u32, u64)> {
        let mut best: Option<(u32, u64)> = None;
        for (level, &bits) in self.occupied.iter().enumerate() {
            if bits == 0 {
                continue;
            }
            // Every occupied bucket of a level lies after the processed
            // tick's bucket, in the same turn of the level above.
            let slot = u64::from(bits.trailing_zeros());
            let shift = BITS * level as u32;
            let turn = self.elapsed >> (shift + BITS) << (shift + BITS);
            let start = turn + (slot << shift);
            if best.is_none_or(|(_, s)| start < s) {
                best = Some((level as u32 * SLOTS as u32 + slot as u32, start));
            }
        }
        best
    }

    /// When (nanoseconds) the driver must next [`take_due`] buckets: one
    /// tick before the earliest occupied bucket starts, so that every
    /// deadline is in the heap at least a tick before it is due.
    ///
    /// [`take_due`]: Wheel::take_due
    pub(super) fn due(&self) -> Option<u64> {
        self.next_bucket()
            .map(|(_, start)| (start - 1).saturating_mul(1 << TICK_SHIFT))
    }

    /// Takes the earliest bucket if it starts at most a tick after `now`
    /// (nanoseconds): marks it processed and returns its list (linked by
    /// `next`; their positions are stale), to be placed again with
    /// [`bucket_for`](Wheel::bucket_for), which now puts each one level
    /// lower or into the heap. `None` when no bucket is due; then the
    /// wheel counts `now` as processed.
    pub(super) fn take_due(&mut self, now: u64) -> Option<u32> {
        let now_tick = now >> TICK_SHIFT;
        match self.next_bucket() {
            Some((bucket, start)) if start <= now_tick + 1 => {
                self.elapsed = self.elapsed.max(start);
                let head = std::mem::replace(&mut self.heads[bucket as usize], NIL);
                self.occupied[bucket as usize / SLOTS as usize] &= !(1 << (bucket as u64 % SLOTS));
                Some(head)
            }
            _ => {
                self.elapsed = self.elapsed.max(now_tick);
                None
            }
        }
    }

    /// One deadline of a taken list left the wheel.
    pub(super) fn taken_one(&mut self) {
        self.len -= 1;
    }

    /// A tick in nanoseconds (tests).
    #[cfg(test)]
    pub(super) const TICK: u64 = 1 << TICK_SHIFT;
}
