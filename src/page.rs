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

use crate::config::{PAGE_SHIFT, PAGE_SIZE};
use crate::slab::Slab;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::{raw_alloc, raw_free};

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
    fn encode(self) -> usize {
        match self {
            PageEntry::None => 0,
            PageEntry::Slab(slab) => slab.as_ptr() as usize,
            PageEntry::Large { head, order } => ((order as usize) << 2) | TAG_LARGE | if head { TAG_HEAD } else { 0 },
        }
    }

    fn decode(word: usize) -> PageEntry {
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

/// Page frame numbers of userspace addresses on x86_64 have 47 - 12 = 35 bits.
#[cfg(not(loom))]
const PFN_BITS: u32 = 35;
#[cfg(not(loom))]
const LEAF_BITS: u32 = 17;
#[cfg(not(loom))]
const TOP_ENTRIES: usize = 1 << (PFN_BITS - LEAF_BITS);
#[cfg(not(loom))]
const LEAF_ENTRIES: usize = 1 << LEAF_BITS;

/// Address → slab map: a two-level radix table of atomics, lock-free to read.
#[cfg(not(loom))]
pub(crate) struct PageMap {
    top: NonNull<[std::sync::atomic::AtomicPtr<AtomicUsize>]>,
}

// SAFETY: the table is only accessed through atomics; the boxed arrays it
// points to are owned by the map and freed in `drop`.
#[cfg(not(loom))]
unsafe impl Send for PageMap {}
// SAFETY: as above, every access is atomic.
#[cfg(not(loom))]
unsafe impl Sync for PageMap {}

#[cfg(not(loom))]
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

#[cfg(not(loom))]
fn free_atomic_array<T>(array: NonNull<[T]>) {
    let layout = Layout::array::<T>(array.len()).expect("small array");
    // SAFETY: `array` came from `zeroed_atomic_array::<T>(array.len())`, which
    // used this same layout; atomics have no drop glue.
    unsafe { std::alloc::dealloc(array.as_ptr() as *mut u8, layout) }
}

#[cfg(not(loom))]
impl PageMap {
    pub(crate) fn new() -> PageMap {
        PageMap { top: zeroed_atomic_array(TOP_ENTRIES) }
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
                Ok(_) => leaf = fresh_ptr,
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
#[cfg(not(loom))]
#[derive(Clone, Copy)]
pub(crate) struct PageMapReader {
    top: *const std::sync::atomic::AtomicPtr<AtomicUsize>,
}

// SAFETY: the reader only performs atomic loads on a table that outlives it.
#[cfg(not(loom))]
unsafe impl Send for PageMapReader {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl Sync for PageMapReader {}

#[cfg(not(loom))]
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

#[cfg(not(loom))]
impl PageMap {
    /// A reader for the fast paths.
    pub(crate) fn reader(&self) -> PageMapReader {
        PageMapReader { top: self.top.as_ptr() as *const std::sync::atomic::AtomicPtr<AtomicUsize> }
    }
}

#[cfg(not(loom))]
impl Drop for PageMap {
    fn drop(&mut self) {
        for slot in self.top() {
            let leaf = slot.load(Ordering::Relaxed);
            if !leaf.is_null() {
                free_atomic_array(NonNull::slice_from_raw_parts(NonNull::new(leaf).expect("non-null"), LEAF_ENTRIES));
            }
        }
        free_atomic_array(self.top);
    }
}

/// Under loom the page map is a map behind a loom mutex: 2^18 loom atomics
/// would make every model start slow, and the ordering that matters
/// (an entry is published before the slab's objects are handed out) is the
/// same.
///
/// `_leak` makes the map a tracked allocation. The map lives in the world's
/// `SlabMemory`, which the world core and every cache storage hold through
/// an `Arc`; a world or a storage that is never released keeps it alive, and
/// loom fails the iteration that leaked it.
#[cfg(loom)]
pub(crate) struct PageMap {
    map: crate::sync::Mutex<std::collections::BTreeMap<usize, usize>>,
    _leak: loom::alloc::Track<()>,
}

#[cfg(loom)]
// SAFETY: the map holds plain words; slab pointers in it are only dereferenced
// by code that upholds the slab lifetime rules.
unsafe impl Send for PageMap {}
#[cfg(loom)]
// SAFETY: as above; all access goes through the mutex.
unsafe impl Sync for PageMap {}

/// Under loom the reader goes through the map itself.
#[cfg(loom)]
#[derive(Clone, Copy)]
pub(crate) struct PageMapReader {
    map: *const PageMap,
}

#[cfg(loom)]
// SAFETY: the map outlives every reader (holders keep the world's memory alive).
unsafe impl Send for PageMapReader {}
#[cfg(loom)]
// SAFETY: as above.
unsafe impl Sync for PageMapReader {}

#[cfg(loom)]
impl PageMapReader {
    pub(crate) fn lookup(&self, addr: usize) -> PageEntry {
        // SAFETY: the map outlives the reader.
        unsafe { &*self.map }.lookup(addr)
    }
}

#[cfg(loom)]
impl PageMap {
    pub(crate) fn reader(&self) -> PageMapReader {
        PageMapReader { map: self }
    }

    pub(crate) fn new() -> PageMap {
        PageMap { map: crate::sync::Mutex::new(std::collections::BTreeMap::new()), _leak: loom::alloc::Track::new(()) }
    }

    pub(crate) fn lookup(&self, addr: usize) -> PageEntry {
        let map = self.map.lock();
        PageEntry::decode(map.get(&(addr >> PAGE_SHIFT)).copied().unwrap_or(0))
    }

    pub(crate) fn set(&self, base: usize, pages: usize, entry: PageEntry) {
        let mut map = self.map.lock();
        for i in 0..pages {
            let entry = match entry {
                PageEntry::Large { order, .. } => PageEntry::Large { head: i == 0, order },
                other => other,
            };
            map.insert((base >> PAGE_SHIFT) + i, entry.encode());
        }
    }

    pub(crate) fn clear(&self, base: usize, pages: usize) {
        let mut map = self.map.lock();
        for i in 0..pages {
            map.remove(&((base >> PAGE_SHIFT) + i));
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
}

impl PageAllocator {
    pub(crate) fn new() -> PageAllocator {
        PageAllocator { pages: AtomicUsize::new(0), peak: AtomicUsize::new(0), limit: AtomicUsize::new(usize::MAX) }
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
        // SAFETY: the layout has a non-zero size (at least one page).
        let ptr = unsafe { raw_alloc(Self::layout(order)) };
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
        // SAFETY: forwarded: `ptr` was allocated with this layout and is live.
        unsafe { raw_free(ptr.as_ptr(), Self::layout(order)) };
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
