//! The page allocator under the slabs, and the address → slab map.
//!
//! Mirrors the parts of `mm/page_alloc.c` and `include/linux/mm.h` that SLUB
//! relies on: slabs are `PAGE_SIZE << order` bytes of real memory, counted
//! page by page so that memory per cache and in total is exact, and every page
//! of a slab maps back to its `struct slab`, which is what `virt_to_slab()`
//! does through `struct page`.
//!
//! The kernel's shape, `vmemmap`: all slab memory of the process lives in one
//! range at a fixed address (`range::BASE`), with one descriptor word per page
//! right below it, so `virt_to_slab(addr)` is a compare against a constant, a
//! shift and one load (`range::lookup_word`). A buddy allocator hands out
//! naturally aligned blocks of the range to every world's [`PageAllocator`],
//! which keeps its own counts and limit and records itself as the owner of its
//! pages. See `design/allocator.md`.

use std::ptr::NonNull;

use crate::config::SlabConfig;
use crate::sync::atomic::{AtomicUsize, Ordering};

mod buddy;
mod entry;
// The range has two implementations, chosen here once: the process-wide
// reservation, and under loom a small simulated one with the same orderings.
#[cfg_attr(loom, path = "loom_range.rs")]
mod range;

pub(crate) use entry::PageEntry;
pub(crate) use range::SLOTS_HOLDER_BASE;
use range::range;

/// The orderings of the descriptor and owner words, shared by the real range
/// and the loom one so that the models check exactly what runs.
mod order {
    use std::sync::atomic::Ordering;

    /// The descriptor load: Acquire, so that a lookup *without* an object
    /// token (`kfree_addr`, under the world's discard lock) that reads a slab
    /// pointer also sees the slab's initialisation. With a token the token's
    /// hand-off already orders `set` before the lookup. On x86_64 a plain `mov`.
    pub(super) const LOOKUP: Ordering = Ordering::Acquire;
    /// `set`: Release, pairing with `LOOKUP`.
    pub(super) const PUBLISH: Ordering = Ordering::Release;
    /// `clear`: Relaxed. Token holders never see a clear (the slab lives
    /// while they hold an object); tokenless readers hold the discard lock
    /// every clear of their world happens under; a later `set` of the same
    /// word (any world) comes after the clear through the range mutex (free,
    /// then alloc), so coherence orders them.
    pub(super) const UNPUBLISH: Ordering = Ordering::Relaxed;
    /// Owner stores (at alloc and free, under the range mutex): Release, so
    /// that a world's tokenless reader that sees its own id also sees what
    /// the range mutex ordered before the allocation: the previous owner's
    /// clear of the descriptors. Without it, the reader could see our id and
    /// still the old owner's slab pointer.
    pub(super) const OWNER_WRITE: Ordering = Ordering::Release;
    /// Owner loads: Acquire, pairing with `OWNER_WRITE`.
    pub(super) const OWNER_READ: Ordering = Ordering::Acquire;
}

/// What the free fast paths read of a page besides its descriptor, written
/// with it: the fields of the kernel's `struct slab` they need, kept in
/// the memmap so that they cost one load each after the page number.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageWords {
    /// `CacheStorage::home` of the slab's node, or the large allocations'
    /// `storage::large_words`.
    pub(crate) home: usize,
    /// The slab's storage's first real-CPU slot as its sections find it
    /// (`PerCpu::section_base`), or the not-rseq slots: what `kfree()`'s
    /// section indexes by the CPU.
    pub(crate) slots: *const u8,
}

/// The address → slab map. Process-wide: this handle holds only the
/// publication ordering (which a loom-only seeded bug weakens), so that call
/// sites keep their shape (`memory.map.set(..)`).
pub(crate) struct PageMap {
    publish: Ordering,
}

impl PageMap {
    pub(crate) fn new(config: &SlabConfig) -> PageMap {
        range::init();
        // BROKEN ON PURPOSE, loom only (`Broken::RelaxedSlabPublication`):
        // a tokenless lookup that finds the slab need not see its fields.
        #[cfg(loom)]
        let relaxed = config.broken == Some(crate::config::Broken::RelaxedSlabPublication);
        #[cfg(not(loom))]
        let relaxed = {
            let _ = config;
            false
        };
        PageMap { publish: if relaxed { Ordering::Relaxed } else { order::PUBLISH } }
    }

    /// Mirrors `virt_to_slab()`/`page_slab()`: what the page holding `addr` is.
    #[inline(always)]
    pub(crate) fn lookup(&self, addr: usize) -> PageEntry {
        range::lookup(addr)
    }

    /// Marks `pages` pages from `base` as `entry` (`__folio_set_slab`),
    /// each with `words`; a large entry's tail pages get `head: false`.
    /// Release stores: the entry is published before the slab's objects
    /// are handed out.
    pub(crate) fn set(&self, base: usize, pages: usize, entry: PageEntry, words: PageWords) {
        range().set(base, pages, entry, words, self.publish)
    }

    /// Clears the entries of `pages` pages from `base`: after the last object
    /// of the slab is free and before the pages go back to the allocator.
    pub(crate) fn clear(&self, base: usize, pages: usize) {
        range().clear(base, pages)
    }

    /// A reader for the fast paths.
    pub(crate) fn reader(&self) -> PageMapReader {
        PageMapReader {}
    }
}

/// What a fast path keeps to call `virt_to_slab()`: nothing (zero-sized);
/// the descriptor array is at a constant address.
#[derive(Clone, Copy)]
pub(crate) struct PageMapReader {}

impl PageMapReader {
    /// Mirrors `virt_to_slab()`/`page_slab()`: what the page holding `addr` is.
    #[inline(always)]
    pub(crate) fn lookup(&self, addr: usize) -> PageEntry {
        range::lookup(addr)
    }

    /// Mirrors `virt_to_slab()`: the slab holding `addr`, or none (large
    /// kmalloc, free, not slab memory). A subtract, a compare, a shift, a
    /// load, a test.
    #[inline(always)]
    pub(crate) fn virt_to_slab(&self, addr: usize) -> Option<NonNull<crate::slub::slab::Slab>> {
        range::virt_to_slab(addr)
    }
}

/// `virt_to_slab()` of the free fast paths, for an allocated object's
/// address: a shift, a mask, a load and a compare, no call (a call would
/// make the caller save registers); `None` sends the caller to its cold
/// path, which looks again with [`PageMapReader::virt_to_slab`].
///
/// # Safety
/// `addr` is an allocated object's address (see `range::virt_to_slab_fast`).
#[inline(always)]
pub(crate) unsafe fn virt_to_slab_fast(addr: usize) -> Option<NonNull<crate::slub::slab::Slab>> {
    // SAFETY: forwarded.
    unsafe { range::virt_to_slab_fast(addr) }
}

/// The home word of an allocated object's page (`CacheStorage::home` of
/// its slab's node, `storage::large_words` for a large allocation's), for
/// the free fast paths: a shift and one load.
///
/// # Safety
/// `addr` is an allocated object's address (see `range::virt_to_home_fast`).
#[inline(always)]
pub(crate) unsafe fn virt_to_home_fast(addr: usize) -> usize {
    // SAFETY: forwarded.
    unsafe { range::virt_to_home_fast(addr) }
}

/// Where `kfree()`'s section finds the slots word of an allocated object's
/// page ([`PageWords::slots`]): the holder it passes to `rseq::push`, with
/// the word at [`SLOTS_HOLDER_BASE`]. No load.
///
/// # Safety
/// `addr` is an allocated object's address (see `range::virt_to_slots_holder`).
#[inline(always)]
pub(crate) unsafe fn virt_to_slots_holder(addr: usize) -> *const u8 {
    // SAFETY: forwarded.
    unsafe { range::virt_to_slots_holder(addr) }
}

/// World ids recorded in the owner array; 0 is "no world".
static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// One world's page allocator (`alloc_pages`/`__free_pages`): its own counts
/// and limit, blocks from the shared range.
pub(crate) struct PageAllocator {
    /// This world's id in the owner array.
    id: u32,
    /// Pages currently allocated.
    pages: AtomicUsize,
    /// Highest value `pages` reached.
    peak: AtomicUsize,
    /// Allocation limit in pages (`usize::MAX` = none), to exercise `-ENOMEM` paths.
    limit: AtomicUsize,
    /// Under loom, a tracked allocation: a leaked world fails the model.
    _leak: range::LeakTrack,
}

impl PageAllocator {
    pub(crate) fn new() -> PageAllocator {
        range::init();
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        assert_ne!(id, 0, "world ids wrapped");
        PageAllocator {
            id,
            pages: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            limit: AtomicUsize::new(usize::MAX),
            _leak: range::leak_track(),
        }
    }

    /// Mirrors `alloc_pages(gfp, order)`: `PAGE_SIZE << order` bytes,
    /// naturally aligned, from the shared range; `None` past the limit, past
    /// `MAX_PAGE_ORDER`, or when the range is exhausted.
    pub(crate) fn alloc(&self, order: u32) -> Option<NonNull<u8>> {
        let count = 1usize << order;
        let before = self.pages.fetch_add(count, Ordering::Relaxed);
        if before + count > self.limit.load(Ordering::Relaxed) {
            self.pages.fetch_sub(count, Ordering::Relaxed);
            return None;
        }
        self.peak.fetch_max(before + count, Ordering::Relaxed);
        let block = range().alloc_block(order, self.id);
        if block.is_none() {
            self.pages.fetch_sub(count, Ordering::Relaxed);
        }
        block
    }

    /// Mirrors `__free_pages(page, order)`.
    ///
    /// # Safety
    /// `ptr` must come from `self.alloc(order)` and not have been freed; its
    /// descriptors must have been cleared.
    pub(crate) unsafe fn free(&self, ptr: NonNull<u8>, order: u32) {
        debug_assert!(self.owns(ptr.as_ptr() as usize), "freeing a block of another world");
        // SAFETY: forwarded from the caller.
        unsafe { range().free_block(ptr, order) };
        self.pages.fetch_sub(1 << order, Ordering::Relaxed);
    }

    /// Whether the page holding `addr` is one of this world's. For a lookup
    /// without an object token (`kfree_addr`): the descriptor array is shared
    /// by every world, so another world's slab must be refused before it is
    /// dereferenced (its discards do not take our lock). Exact while the
    /// caller excludes this world's frees (its discard lock): every owner
    /// store of ours then happened before the check or starts after it; and
    /// seeing our id (Acquire) orders the previous owner's clear of the
    /// descriptors before the caller's lookup.
    pub(crate) fn owns(&self, addr: usize) -> bool {
        range().owner(addr) == self.id
    }

    /// Pages currently allocated.
    pub(crate) fn pages(&self) -> usize {
        self.pages.load(Ordering::Relaxed)
    }

    /// The most pages allocated at once.
    pub(crate) fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Sets the allocation limit in pages.
    pub(crate) fn set_limit(&self, pages: usize) {
        self.limit.store(pages, Ordering::Relaxed);
    }
}

impl Drop for PageAllocator {
    /// The last owner of the world's memory is gone (the world and every
    /// storage, orphans included, hold it): no slab of this world can be
    /// reached any more, so blocks it still holds (objects leaked by the
    /// user, slabs of leaked storages) go back to the shared range instead
    /// of staying allocated for the rest of the process.
    fn drop(&mut self) {
        if self.pages() != 0 {
            let released = range().release_owner(self.id);
            self.pages.fetch_sub(released, Ordering::Relaxed);
        }
    }
}

/// What the world-level tests of the range (`slab_common/kmalloc.rs`) look
/// at: the base and the descriptor and owner words of an address.
#[cfg(all(test, not(loom)))]
pub(crate) mod test_support {
    #[cfg(not(feature = "dynamic-base"))]
    pub(crate) use super::range::BASE;
    pub(crate) use super::range::lookup_word;

    /// The world id recorded for the page holding `addr` (0: none).
    pub(crate) fn owner(addr: usize) -> u32 {
        super::range().owner(addr)
    }
}
