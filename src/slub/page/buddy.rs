//! A binary buddy allocator over offsets `0..limit` of one range, with a bump
//! pointer for memory never handed out yet and a dirty/clean mark on every
//! free block (the decision of when to give memory back to the OS is the
//! caller's: see `Buddy::take_dirty`). Mirrors `mm/page_alloc.c`'s
//! `__rmqueue_smallest()`, `expand()` and `__free_one_page()`.
//!
//! The free lists are ordered sets kept *outside* the blocks (`BTreeMap` per
//! order): an intrusive list would write into a freed block and so fault back
//! in a page that `madvise` just returned. `pop_first` makes every allocation
//! take the lowest free address of its order, which keeps live memory packed
//! towards the start of the range.
//!
//! All offsets are in bytes, relative to a base that is aligned to the largest
//! block (`PAGE_SIZE << MAX_PAGE_ORDER`), so natural alignment of offsets is
//! natural alignment of addresses.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{MAX_PAGE_ORDER, PAGE_SHIFT};

const ORDERS: usize = MAX_PAGE_ORDER as usize + 1;
#[cfg(all(test, not(loom)))]
const MAX_BLOCK: usize = 1 << (PAGE_SHIFT + MAX_PAGE_ORDER);

/// Buddy state. Not thread-safe by itself: the range keeps it behind a mutex.
pub(crate) struct Buddy {
    /// Free blocks per order: offset → dirty (was handed out since it was last
    /// given back to the OS, so it may hold resident pages).
    free: [BTreeMap<usize, bool>; ORDERS],
    /// The dirty subset of `free`, per order, so a purge visits only those.
    dirty: [BTreeSet<usize>; ORDERS],
    /// Offset of the first never-used byte; a multiple of `MAX_BLOCK`.
    bump: usize,
    /// Bytes the range has (a multiple of `MAX_BLOCK`).
    limit: usize,
    /// Pages in dirty free blocks.
    dirty_pages: usize,
    /// Pages in free blocks (dirty or clean), not counting the bump space.
    free_pages: usize,
    /// Orders this instance serves: `0..orders` (`MAX_PAGE_ORDER + 1` for the
    /// real range, fewer for loom's small one).
    orders: usize,
    /// Bytes of a top-order block.
    max_block: usize,
}

impl Buddy {
    pub(crate) fn new(limit: usize, max_order: u32) -> Buddy {
        assert!(max_order <= MAX_PAGE_ORDER);
        let max_block = 1usize << (PAGE_SHIFT + max_order);
        Buddy {
            orders: max_order as usize + 1,
            max_block,
            free: std::array::from_fn(|_| BTreeMap::new()),
            dirty: std::array::from_fn(|_| BTreeSet::new()),
            bump: 0,
            limit: limit & !(max_block - 1),
            dirty_pages: 0,
            free_pages: 0,
        }
    }

    fn insert(&mut self, offset: usize, order: usize, dirty: bool) {
        debug_assert_eq!(offset & ((1 << (PAGE_SHIFT as usize + order)) - 1), 0, "misaligned block");
        let old = self.free[order].insert(offset, dirty);
        debug_assert!(old.is_none(), "block {offset:#x} order {order} freed twice");
        self.free_pages += 1 << order;
        if dirty {
            self.dirty[order].insert(offset);
            self.dirty_pages += 1 << order;
        }
    }

    fn remove(&mut self, offset: usize, order: usize) -> Option<bool> {
        let dirty = self.free[order].remove(&offset)?;
        self.free_pages -= 1 << order;
        if dirty {
            self.dirty[order].remove(&offset);
            self.dirty_pages -= 1 << order;
        }
        Some(dirty)
    }

    /// `__rmqueue_smallest()` + `expand()`: the lowest free block of the
    /// smallest order that fits, split down to `order`; a fresh top-order block
    /// from the bump pointer when no order has one. Returns the offset and
    /// whether the block may hold stale data (it is never zeroed either way).
    pub(crate) fn alloc(&mut self, order: u32) -> Option<(usize, bool)> {
        let order = order as usize;
        if order >= self.orders {
            return None;
        }
        let found = (order..self.orders).find(|&o| !self.free[o].is_empty());
        let (mut current, offset, dirty) = match found {
            Some(o) => {
                let (&offset, _) = self.free[o].first_key_value().expect("non-empty");
                let dirty = self.remove(offset, o).expect("present");
                (o, offset, dirty)
            }
            None => {
                if self.bump + self.max_block > self.limit {
                    return None;
                }
                let offset = self.bump;
                self.bump += self.max_block;
                (self.orders - 1, offset, false)
            }
        };
        while current > order {
            current -= 1;
            self.insert(offset + (1 << (PAGE_SHIFT as usize + current)), current, dirty);
        }
        Some((offset, dirty))
    }

    /// `__free_one_page()`: merges with free buddies as far as they go. The
    /// block is dirty (it was handed out, so it may have resident pages); a
    /// merged block is dirty if either half is.
    pub(crate) fn free(&mut self, offset: usize, order: u32) {
        self.free_marked(offset, order, true)
    }

    fn free_marked(&mut self, mut offset: usize, order: u32, mut dirty: bool) {
        let mut order = order as usize;
        assert!(order < self.orders && offset + (1 << (PAGE_SHIFT as usize + order)) <= self.bump, "bad free");
        while order < self.orders - 1 {
            let buddy = offset ^ (1 << (PAGE_SHIFT as usize + order));
            match self.remove(buddy, order) {
                Some(buddy_dirty) => {
                    dirty |= buddy_dirty;
                    offset = offset.min(buddy);
                    order += 1;
                }
                None => break,
            }
        }
        self.insert(offset, order, dirty);
    }

    /// Pages in dirty free blocks (an upper bound on free-but-resident pages).
    // The simulated range under loom keeps no statistics.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn dirty_pages(&self) -> usize {
        self.dirty_pages
    }

    /// Pages in free blocks below the bump pointer.
    // The simulated range under loom keeps no statistics.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn free_pages(&self) -> usize {
        self.free_pages
    }

    /// Pages ever carved from the range by the bump pointer.
    // The simulated range under loom keeps no statistics.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn bumped_pages(&self) -> usize {
        self.bump >> PAGE_SHIFT
    }

    /// Marks every dirty free block clean and returns them as
    /// `(offset, bytes)` runs, adjacent blocks coalesced, in address order:
    /// the caller must return exactly these to the OS *before* anyone can
    /// allocate them again (i.e. under the same lock), or it would discard
    /// data of a live block.
    pub(crate) fn take_dirty(&mut self) -> Vec<(usize, usize)> {
        let mut blocks = Vec::new();
        for order in 0..self.orders {
            for offset in std::mem::take(&mut self.dirty[order]) {
                *self.free[order].get_mut(&offset).expect("dirty blocks are free") = false;
                blocks.push((offset, 1usize << (PAGE_SHIFT as usize + order)));
            }
        }
        self.dirty_pages = 0;
        blocks.sort_unstable();
        let mut runs: Vec<(usize, usize)> = Vec::with_capacity(blocks.len());
        for (offset, len) in blocks {
            match runs.last_mut() {
                Some((start, run)) if *start + *run == offset => *run += len,
                _ => runs.push((offset, len)),
            }
        }
        runs
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    const PAGE: usize = 1 << PAGE_SHIFT;

    #[test]
    fn split_and_merge_back_to_one_top_block() {
        let mut b = Buddy::new(4 * MAX_BLOCK, MAX_PAGE_ORDER);
        let mut got = Vec::new();
        for order in 0..=MAX_PAGE_ORDER {
            let (off, dirty) = b.alloc(order).unwrap();
            assert!(!dirty);
            assert_eq!(off % (PAGE << order), 0);
            got.push((off, order));
        }
        // 1 + 2 + ... + 1024 pages = 2047: two top blocks.
        assert_eq!(b.bumped_pages(), 2048);
        for (off, order) in got {
            b.free(off, order);
        }
        assert_eq!(b.free_pages(), 2048);
        assert_eq!(b.free[MAX_PAGE_ORDER as usize].len(), 2, "everything merged");
        assert_eq!(b.dirty_pages(), 2048);
        let runs = b.take_dirty();
        assert_eq!(runs, vec![(0, 2 * MAX_BLOCK)], "coalesced into one madvise");
        assert_eq!(b.dirty_pages(), 0);
        // Reuse before the bump pointer moves on, lowest address first.
        assert_eq!(b.alloc(0), Some((0, false)));
        assert_eq!(b.bumped_pages(), 2048);
    }

    #[test]
    fn exhaustion_and_dirty_reuse() {
        let mut b = Buddy::new(MAX_BLOCK, MAX_PAGE_ORDER);
        let blocks: Vec<_> = (0..1024).map(|_| b.alloc(0).unwrap().0).collect();
        assert_eq!(b.alloc(0), None);
        b.free(blocks[7], 0);
        assert_eq!(b.alloc(1), None, "a single page does not make an order-1 block");
        assert_eq!(b.alloc(0), Some((blocks[7], true)), "stale, not zeroed");
        assert_eq!(b.dirty_pages(), 0);
    }

    #[test]
    fn randomized_against_a_model() {
        // xorshift; checks no overlap and that all memory comes back.
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut b = Buddy::new(8 * MAX_BLOCK, MAX_PAGE_ORDER);
        let mut live: BTreeMap<usize, usize> = BTreeMap::new(); // offset -> bytes
        for _ in 0..5_000 {
            if rnd() % 3 != 0 || live.is_empty() {
                let order = (rnd() % 11) as u32;
                if let Some((off, _)) = b.alloc(order) {
                    let len = PAGE << order;
                    assert_eq!(off % len, 0);
                    if let Some((&o, &l)) = live.range(..off + len).next_back() {
                        assert!(o + l <= off, "overlap");
                    }
                    live.insert(off, len);
                }
            } else {
                let k = *live.keys().nth((rnd() as usize) % live.len()).unwrap();
                let len = live.remove(&k).unwrap();
                b.free(k, (len >> PAGE_SHIFT).trailing_zeros());
            }
            if rnd() % 500 == 0 {
                b.take_dirty();
            }
        }
        for (off, len) in std::mem::take(&mut live) {
            b.free(off, (len >> PAGE_SHIFT).trailing_zeros());
        }
        assert_eq!(b.free_pages(), b.bumped_pages());
        assert_eq!(b.free[10].len() << 10, b.free_pages(), "fully merged");
    }
}
