//! Volatile copies to and from memory that another party may change at any
//! moment (a shared mapping of a memfd), in the manner of `vm-memory`.
//!
//! Plain `copy_nonoverlapping` lets the compiler assume nobody else touches
//! the bytes during the copy (it may split, merge, repeat or elide the
//! accesses). Volatile accesses are performed exactly once each, in aligned
//! 8-byte words where the addresses allow it and single bytes at the
//! edges, so a copy racing a writer sees, per aligned word, either the old
//! or the new value, and never makes the compiler reason from bytes that
//! changed under it.

use std::ptr::{read_volatile, write_volatile};

/// The word size of the bulk of a copy.
const WORD: usize = std::mem::size_of::<u64>();

/// Bytes to go from `addr` to the next multiple of [`WORD`] (at most `len`).
#[inline]
fn head_len(addr: usize, len: usize) -> usize {
    (addr.wrapping_neg() % WORD).min(len)
}

/// Copies `dst.len()` bytes from `src` into `dst` with volatile reads.
///
/// # Safety
///
/// `src` must be valid for reads of `dst.len()` bytes for the whole call
/// (mapped and readable: a fault here is not a Rust error but a signal),
/// and must not overlap `dst`.
pub(crate) unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8]) {
    let len = dst.len();
    let head = head_len(src as usize, len);
    let mut i = 0;
    while i < head {
        // SAFETY: `i < len`, so `src + i` is inside the readable range the
        // caller guarantees.
        dst[i] = unsafe { read_volatile(src.add(i)) };
        i += 1;
    }
    while i + WORD <= len {
        // `src + i` is 8-byte aligned (past the head) and `i + 8 <= len`.
        // SAFETY: so the word is aligned and inside the readable range.
        let word = unsafe { read_volatile(src.add(i).cast::<u64>()) };
        dst[i..i + WORD].copy_from_slice(&word.to_ne_bytes());
        i += WORD;
    }
    while i < len {
        // SAFETY: `i < len`, inside the readable range.
        dst[i] = unsafe { read_volatile(src.add(i)) };
        i += 1;
    }
}

/// Copies `src` to `dst` with volatile writes.
///
/// # Safety
///
/// `dst` must be valid for writes of `src.len()` bytes for the whole call
/// (mapped and writable), must not overlap `src`, and no Rust reference to
/// those bytes may exist.
pub(crate) unsafe fn copy_to_shared(src: &[u8], dst: *mut u8) {
    let len = src.len();
    let head = head_len(dst as usize, len);
    let mut i = 0;
    while i < head {
        // SAFETY: `i < len`, inside the writable range the caller guarantees.
        unsafe { write_volatile(dst.add(i), src[i]) };
        i += 1;
    }
    while i + WORD <= len {
        let mut word = [0u8; WORD];
        word.copy_from_slice(&src[i..i + WORD]);
        // `dst + i` is 8-byte aligned (past the head) and `i + 8 <= len`.
        // SAFETY: so the word is aligned and inside the writable range.
        unsafe { write_volatile(dst.add(i).cast::<u64>(), u64::from_ne_bytes(word)) };
        i += WORD;
    }
    while i < len {
        // SAFETY: `i < len`, inside the writable range.
        unsafe { write_volatile(dst.add(i), src[i]) };
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_alignment_and_length_exactly() {
        let source: Vec<u8> = (0..=255u8).cycle().take(80).collect();
        for start in 0..9 {
            for len in 0..(80 - start) {
                let mut out = vec![0xAAu8; len];
                // SAFETY: `source[start..start + len]` is a readable range
                // distinct from `out`.
                unsafe { copy_from_shared(source.as_ptr().add(start), &mut out) };
                assert_eq!(out, &source[start..start + len]);

                let mut target = vec![0x55u8; 80];
                // SAFETY: `target[start..start + len]` is a writable range
                // with no live reference, distinct from `source`.
                unsafe { copy_to_shared(&source[..len], target.as_mut_ptr().add(start)) };
                assert_eq!(&target[start..start + len], &source[..len]);
                assert!(target[..start].iter().all(|&b| b == 0x55));
                assert!(target[start + len..].iter().all(|&b| b == 0x55));
            }
        }
    }
}
