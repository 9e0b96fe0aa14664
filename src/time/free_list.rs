//! [`FreeList`]: the free indices of a slab (the driver's slots, a
//! shard's entries), handed out lowest first.
//!
//! Lowest first, so that after a peak the live indices move down as
//! timers come and go, and the slab's free tail can be dropped: a stack
//! (most recently freed first) hands the top indices out again and again,
//! and a burst of a million followed by a steady ten kept the million's
//! memory for good. A binary heap: O(log n) per index, where n is how many
//! are free (a steady state frees and takes the same one or two).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::deadlines::KEEP;

/// Free indices, lowest first. It may hold stale ones (the owner checks
/// what it pops).
pub(crate) struct FreeList {
    /// One free index kept out of the heap (`NONE`: none): a timer armed
    /// and dropped over and over frees and takes the same index, and then
    /// the heap is never touched.
    hot: u32,
    heap: BinaryHeap<Reverse<u32>>,
}

/// No [`FreeList::hot`] index.
const NONE: u32 = u32::MAX;

impl FreeList {
    pub(crate) const fn new() -> FreeList {
        FreeList {
            hot: NONE,
            heap: BinaryHeap::new(),
        }
    }

    /// The lowest free index.
    #[inline(always)]
    pub(crate) fn pop(&mut self) -> Option<u32> {
        if self.hot != NONE && self.heap.peek().is_none_or(|&Reverse(low)| self.hot < low) {
            return Some(std::mem::replace(&mut self.hot, NONE));
        }
        self.heap.pop().map(|Reverse(index)| index)
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, index: u32) {
        if self.hot == NONE {
            self.hot = index;
        } else if index < self.hot {
            self.heap
                .push(Reverse(std::mem::replace(&mut self.hot, index)));
        } else {
            self.heap.push(Reverse(index));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len() + usize::from(self.hot != NONE)
    }

    /// Room it has (for tests of shrinking).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.heap.capacity()
    }

    pub(crate) fn clear(&mut self) {
        self.hot = NONE;
        self.heap.clear();
    }

    /// Keeps the indices `keep` says to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        if self.hot != NONE && !keep(self.hot) {
            self.hot = NONE;
        }
        self.heap.retain(|&Reverse(index)| keep(index));
    }

    /// Every index, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let hot = (self.hot != NONE).then_some(self.hot);
        hot.into_iter()
            .chain(self.heap.iter().map(|&Reverse(index)| index))
    }

    /// Shrinks to twice its length (at least [`KEEP`]) once it uses less
    /// than a quarter of its capacity, as the slabs do.
    pub(crate) fn shrink_when_sparse(&mut self) {
        let capacity = self.heap.capacity();
        if capacity > KEEP && self.heap.len() < capacity / 4 {
            self.heap.shrink_to((2 * self.heap.len()).max(KEEP));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hot index and the heap together hand out the lowest first,
    /// against a sorted model, through pushes and pops in any order.
    #[test]
    fn lowest_first_against_a_model() {
        let mut free = FreeList::new();
        let mut model = std::collections::BTreeSet::new();
        let mut state = 12345u64;
        for _ in 0..10_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let index = (state >> 33) as u32 % 100;
            if state & 1 == 0 && !model.contains(&index) {
                free.push(index);
                model.insert(index);
            } else {
                assert_eq!(free.pop(), model.pop_first());
            }
            assert_eq!(free.len(), model.len());
        }
    }

    #[test]
    fn lowest_first() {
        let mut free = FreeList::new();
        for index in [5, 1, 9, 3] {
            free.push(index);
        }
        assert_eq!(free.pop(), Some(1));
        free.push(0);
        assert_eq!(free.pop(), Some(0));
        assert_eq!(free.pop(), Some(3));
        free.retain(|index| index != 5);
        assert_eq!(free.pop(), Some(9));
        assert_eq!(free.pop(), None);
    }
}
