//! The address → slab map of normal builds: a two-level radix table over page
//! frame numbers, read without any lock.

use std::alloc::Layout;
use std::ptr::NonNull;

use super::PageEntry;
use crate::config::PAGE_SHIFT;
use crate::sync::atomic::{AtomicUsize, Ordering};

/// Page frame numbers of userspace addresses on x86_64 have 47 - 12 = 35 bits.
const PFN_BITS: u32 = 35;
const LEAF_BITS: u32 = 17;
const TOP_ENTRIES: usize = 1 << (PFN_BITS - LEAF_BITS);
const LEAF_ENTRIES: usize = 1 << LEAF_BITS;

/// Address → slab map: a two-level radix table of atomics, lock-free to read.
pub(crate) struct PageMap {
    top: NonNull<[std::sync::atomic::AtomicPtr<AtomicUsize>]>,
    /// Every leaf installed in `top`, so that `drop` frees them without a
    /// walk of all `TOP_ENTRIES` slots (2 MiB, read in full only to find the
    /// few leaves a world ever has). A leaf is installed once per 512 MiB of
    /// address space the pages come from, so this lock is off every fast path.
    leaves: parking_lot::Mutex<Vec<NonNull<[AtomicUsize]>>>,
}

// SAFETY: the table is only accessed through atomics; the boxed arrays it
// points to are owned by the map and freed in `drop`.
unsafe impl Send for PageMap {}
// SAFETY: as above, every access is atomic.
unsafe impl Sync for PageMap {}

fn zeroed_atomic_array<T>(len: usize) -> NonNull<[T]> {
    let layout = Layout::array::<T>(len).expect("small array");
    // SAFETY: `layout` has a non-zero size. The element types used here are
    // `AtomicUsize` and `AtomicPtr`, for which all-zero bytes are a valid value
    // (0 and null), so the zeroed memory is an initialised `[T; len]`.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut T;
        let ptr = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        NonNull::slice_from_raw_parts(ptr, len)
    }
}

fn free_atomic_array<T>(array: NonNull<[T]>) {
    let layout = Layout::array::<T>(array.len()).expect("small array");
    // SAFETY: `array` came from `zeroed_atomic_array::<T>(array.len())`, which
    // used this same layout; atomics have no drop glue.
    unsafe { std::alloc::dealloc(array.as_ptr() as *mut u8, layout) }
}

impl PageMap {
    pub(crate) fn new() -> PageMap {
        PageMap { top: zeroed_atomic_array(TOP_ENTRIES), leaves: parking_lot::Mutex::new(Vec::new()) }
    }

    fn top(&self) -> &[std::sync::atomic::AtomicPtr<AtomicUsize>] {
        // SAFETY: `top` is a live allocation owned by `self` (freed in drop).
        unsafe { self.top.as_ref() }
    }

    fn leaf(&self, pfn: usize, create: bool) -> Option<&AtomicUsize> {
        use std::sync::atomic::Ordering::{AcqRel, Acquire};
        if pfn >> PFN_BITS != 0 {
            return None;
        }
        let slot = &self.top()[pfn >> LEAF_BITS];
        let mut leaf = slot.load(Acquire);
        if leaf.is_null() {
            if !create {
                return None;
            }
            let fresh = zeroed_atomic_array::<AtomicUsize>(LEAF_ENTRIES);
            let fresh_ptr = fresh.as_ptr() as *mut AtomicUsize;
            match slot.compare_exchange(std::ptr::null_mut(), fresh_ptr, AcqRel, Acquire) {
                Ok(_) => {
                    self.leaves.lock().push(fresh);
                    leaf = fresh_ptr;
                }
                Err(winner) => {
                    free_atomic_array(fresh);
                    leaf = winner;
                }
            }
        }
        // SAFETY: a non-null leaf was installed from `zeroed_atomic_array` of
        // LEAF_ENTRIES elements and lives until the map is dropped.
        Some(unsafe { &*leaf.add(pfn & (LEAF_ENTRIES - 1)) })
    }

    /// Mirrors `virt_to_slab()`/`page_slab()`: what the page holding `addr` is.
    #[inline]
    pub(crate) fn lookup(&self, addr: usize) -> PageEntry {
        match self.leaf(addr >> PAGE_SHIFT, false) {
            Some(word) => PageEntry::decode(word.load(Ordering::Acquire)),
            None => PageEntry::None,
        }
    }

    /// Marks `pages` pages from `base` as `entry` (`__folio_set_slab`).
    pub(crate) fn set(&self, base: usize, pages: usize, entry: PageEntry) {
        for i in 0..pages {
            let pfn = (base >> PAGE_SHIFT) + i;
            let word = self.leaf(pfn, true).expect("userspace addresses fit the map");
            let entry = match entry {
                PageEntry::Large { order, .. } => PageEntry::Large { head: i == 0, order },
                other => other,
            };
            word.store(entry.encode(), Ordering::Release);
        }
    }

    /// Clears the entries of `pages` pages from `base`.
    pub(crate) fn clear(&self, base: usize, pages: usize) {
        for i in 0..pages {
            if let Some(word) = self.leaf((base >> PAGE_SHIFT) + i, false) {
                word.store(0, Ordering::Release);
            }
        }
    }
}

/// A copy of the map's top-level table pointer, kept next to the data a
/// fast path already holds (a cache's storage, the world), so that
/// `virt_to_slab()` costs two dependent loads from there and no more.
/// Valid while the `PageMap` lives: holders keep the world's memory alive.
#[derive(Clone, Copy)]
pub(crate) struct PageMapReader {
    top: *const std::sync::atomic::AtomicPtr<AtomicUsize>,
}

// SAFETY: the reader only performs atomic loads on a table that outlives it.
unsafe impl Send for PageMapReader {}
// SAFETY: as above.
unsafe impl Sync for PageMapReader {}

impl PageMapReader {
    /// Mirrors `virt_to_slab()`: what the page holding `addr` is.
    #[inline(always)]
    pub(crate) fn lookup(&self, addr: usize) -> PageEntry {
        let pfn = addr >> PAGE_SHIFT;
        if pfn >> PFN_BITS != 0 {
            return PageEntry::None;
        }
        // SAFETY: `top` points at TOP_ENTRIES atomics owned by a live PageMap
        // (see the type's doc), and `pfn >> LEAF_BITS < TOP_ENTRIES`.
        let leaf = unsafe { &*self.top.add(pfn >> LEAF_BITS) }.load(Ordering::Acquire);
        if leaf.is_null() {
            return PageEntry::None;
        }
        // SAFETY: a non-null leaf holds LEAF_ENTRIES atomics and lives as long as the map.
        PageEntry::decode(unsafe { &*leaf.add(pfn & (LEAF_ENTRIES - 1)) }.load(Ordering::Acquire))
    }
}

impl PageMap {
    /// A reader for the fast paths.
    pub(crate) fn reader(&self) -> PageMapReader {
        PageMapReader { top: self.top.as_ptr() as *const std::sync::atomic::AtomicPtr<AtomicUsize> }
    }
}

impl Drop for PageMap {
    fn drop(&mut self) {
        for leaf in self.leaves.get_mut().drain(..) {
            free_atomic_array(leaf);
        }
        free_atomic_array(self.top);
    }
}
