//! The page allocator under the slabs, and the address → slab map.
//!
//! Mirrors the parts of `mm/page_alloc.c` and `include/linux/mm.h` that SLUB
//! relies on: slabs are `PAGE_SIZE << order` bytes of real memory, counted
//! page by page so that memory per cache and in total is exact, and every page
//! of a slab maps back to its `struct slab`, which is what `virt_to_slab()`
//! does through `struct page`. The map is a two-level radix table over page
//! frame numbers, read without any lock: `kfree()` of any address costs two
//! dependent loads to reach the slab, where the kernel's `vmemmap` arithmetic
//! costs none; both then load `slab->slab_cache`.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::config::PAGE_SIZE;
use crate::slub::slab::Slab;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{raw_alloc, raw_free};

// The map has two implementations, chosen here once: the lock-free radix
// table, and under loom a small model of it.
#[cfg(not(loom))]
#[path = "map_radix.rs"]
mod map;
#[cfg(loom)]
#[path = "map_loom.rs"]
mod map;
pub(crate) use map::{PageMap, PageMapReader};

/// What the page map knows about one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageEntry {
    /// Not a page of this world.
    None,
    /// A page of this slab (`PageSlab`).
    Slab(NonNull<Slab>),
    /// A page of a large kmalloc allocation (`__kmalloc_large_node`); `head`
    /// for its first page.
    Large { head: bool, order: u32 },
}

const TAG_LARGE: usize = 1;
const TAG_HEAD: usize = 2;

impl PageEntry {
    pub(super) fn encode(self) -> usize {
        match self {
            PageEntry::None => 0,
            PageEntry::Slab(slab) => slab.as_ptr() as usize,
            PageEntry::Large { head, order } => ((order as usize) << 2) | TAG_LARGE | if head { TAG_HEAD } else { 0 },
        }
    }

    /// Inline on every path: `virt_to_slab()` on the free fast path is this
    /// and the loads before it.
    #[inline(always)]
    pub(super) fn decode(word: usize) -> PageEntry {
        if word == 0 {
            PageEntry::None
        } else if word & TAG_LARGE != 0 {
            PageEntry::Large { head: word & TAG_HEAD != 0, order: (word >> 2) as u32 }
        } else {
            // Slab pointers are at least 8-byte aligned, so the tag bits are clear.
            PageEntry::Slab(NonNull::new(word as *mut Slab).expect("non-zero word"))
        }
    }
}

/// Counts and hands out page blocks (`alloc_pages`/`__free_pages`).
pub(crate) struct PageAllocator {
    /// Pages currently allocated.
    pages: AtomicUsize,
    /// Highest value `pages` reached.
    peak: AtomicUsize,
    /// Allocation limit in pages (`usize::MAX` = none), to exercise `-ENOMEM` paths.
    limit: AtomicUsize,
    /// Loom builds only: the system allocator's own synchronisation, which
    /// loom cannot see. A block freed on one thread and handed out again on
    /// another was freed before it was allocated (malloc's lock or atomics
    /// order the two), so whatever the first thread did before the free
    /// (clearing the block's page-map words) happens before what the second
    /// does with it. Without this the model lets a late clear of a freed
    /// slab's pages overwrite the entries of the new slab at the same address.
    #[cfg(loom)]
    handoff: crate::sync::Mutex<()>,
}

impl PageAllocator {
    pub(crate) fn new() -> PageAllocator {
        PageAllocator {
            pages: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            limit: AtomicUsize::new(usize::MAX),
            #[cfg(loom)]
            handoff: crate::sync::Mutex::new(()),
        }
    }

    fn layout(order: u32) -> Layout {
        Layout::from_size_align(PAGE_SIZE << order, PAGE_SIZE).expect("page blocks are valid layouts")
    }

    /// Mirrors `alloc_pages(gfp, order)`: `PAGE_SIZE << order` bytes, page aligned.
    pub(crate) fn alloc(&self, order: u32) -> Option<NonNull<u8>> {
        let count = 1usize << order;
        let before = self.pages.fetch_add(count, Ordering::Relaxed);
        if before + count > self.limit.load(Ordering::Relaxed) {
            self.pages.fetch_sub(count, Ordering::Relaxed);
            return None;
        }
        self.peak.fetch_max(before + count, Ordering::Relaxed);
        #[cfg(loom)]
        let handoff = self.handoff.lock();
        // SAFETY: the layout has a non-zero size (at least one page).
        let ptr = unsafe { raw_alloc(Self::layout(order)) };
        #[cfg(loom)]
        drop(handoff);
        match NonNull::new(ptr) {
            Some(p) => Some(p),
            None => {
                self.pages.fetch_sub(count, Ordering::Relaxed);
                None
            }
        }
    }

    /// Mirrors `__free_pages(page, order)`.
    ///
    /// # Safety
    /// `ptr` must come from `self.alloc(order)` and not have been freed.
    pub(crate) unsafe fn free(&self, ptr: NonNull<u8>, order: u32) {
        #[cfg(loom)]
        let handoff = self.handoff.lock();
        // SAFETY: forwarded: `ptr` was allocated with this layout and is live.
        unsafe { raw_free(ptr.as_ptr(), Self::layout(order)) };
        #[cfg(loom)]
        drop(handoff);
        self.pages.fetch_sub(1 << order, Ordering::Relaxed);
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
