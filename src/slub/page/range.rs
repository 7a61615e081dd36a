//! The real range: one process-wide reservation of slab memory with its
//! descriptor array beside it, at a fixed address when it can be had.
//!
//! ```text
//!   base >> 9                                                                base - OWNER_BYTES      base                  base + size
//!   | desc: usize per page | home: usize per page | slots: usize per page |   | owner: u32 per page   | data: slab + large  |
//!   |  128 MiB virtual     |  128 MiB virtual     |  128 MiB virtual      |   |  64 MiB virtual       |  kmalloc pages      |
//! ```
//!
//! The descriptor of the page at address `a` is the word at address
//! `(a >> PAGE_SHIFT) * 8`: the array sits where page numbers scaled by its
//! word size put it (at `base >> 9`, 160 GiB for the fixed base), as the
//! kernel's `vmemmap` is indexed by the page frame number, so that
//! `virt_to_slab()` of an object is a shift and a load whatever the base.
//! Right after the descriptors, at a constant distance, each page's *home*
//! word: the address of its slab's storage's `kmem_cache_node` of the
//! slab's node (`CacheStorage::home`), `storage::large_words` for a large
//! kmalloc allocation's, 0 for a page not in use. The kernel's `struct slab` overlays `struct page` in the memmap,
//! so its free path reads the slab's fields from the memmap itself; the
//! home word is that for the one field the free fast paths need, one load
//! after the shift with no load of the slab. After the home words, each
//! page's *slots* word: the first real-CPU slot of its storage (the
//! storage's `PerCpu::section_base`, the not-rseq slots for a storage without
//! real CPUs and for a large allocation). `kfree()`'s section reads it
//! beside the home word, with the same index and no load in between, where
//! the kernel's `kfree()` loads `slab->slab_cache` and then
//! `s->cpu_sheaves`: see design/allocator.md, "kfree's slots word".
//! The metadata arrays always cover `MAX_RANGE` (64 GiB) of data, whatever
//! data size was reserved, so the in-range compare is against a constant and
//! a descriptor read for an in-range address that was never handed out reads
//! zero (the shared zero page) instead of faulting.
//!
//! All of it is `MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE` (no commit
//! charge under overcommit modes 0 and 1; pages materialise on first touch;
//! `madvise(MADV_DONTNEED)` gives them back). Data is reserved `PROT_NONE`
//! and metadata `PROT_READ`; both become read-write as the buddy's high-water
//! mark moves up, 4 MiB at a time (`Range::open`). Protecting every block on
//! alloc/free instead would cost a syscall each and split the VMA per block
//! (the default map count limit is 65530).

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use super::PageWords;
use super::buddy::Buddy;
use super::entry::{PageEntry, word_to_slab};
use super::order::{LOOKUP, OWNER_READ, OWNER_WRITE, UNPUBLISH};
use crate::config::{MAX_PAGE_ORDER, PAGE_SHIFT, PAGE_SIZE};
use crate::slub::slab::Slab;

/// What a world's page allocator carries to be leak-tracked: nothing in
/// normal builds (loom's build tracks it).
pub(crate) type LeakTrack = ();

/// A new [`LeakTrack`].
pub(crate) fn leak_track() -> LeakTrack {}

/// `VMEMMAP_START`'s counterpart: the fixed base of slab memory. Below the
/// x86_64 mmap area (which starts near `0x7fxx_xxxx_xxxx` and grows down by
/// at most the randomisation span) and above PIE executables and the brk heap
/// (`0x55..`–`0x56..`), in a part of the 47-bit user space nothing uses.
#[cfg_attr(feature = "dynamic-base", allow(dead_code))]
pub(crate) const BASE: usize = 0x5000_0000_0000;
/// Data bytes the metadata covers, and the most that is reserved.
pub(crate) const MAX_RANGE: usize = 64 << 30;
/// Pages of `MAX_RANGE`.
pub(crate) const MAX_PAGES: usize = MAX_RANGE >> PAGE_SHIFT;
/// Bytes of the descriptor array (one word per page).
pub(crate) const DESC_BYTES: usize = MAX_PAGES * std::mem::size_of::<usize>();
/// Bytes of the home array (one word per page), right after the descriptors.
pub(crate) const HOME_BYTES: usize = DESC_BYTES;
/// Bytes of the slots array (one word per page), right after the home words.
pub(crate) const SLOTS_BYTES: usize = DESC_BYTES;
/// Bytes of the three word arrays, reserved in one mapping.
const WORDS_BYTES: usize = DESC_BYTES + HOME_BYTES + SLOTS_BYTES;
/// Bytes of the owner array (one `u32` per page).
pub(crate) const OWNER_BYTES: usize = MAX_PAGES * std::mem::size_of::<u32>();
/// Where the descriptor array of data at `base` starts: the word of the
/// page `base >> PAGE_SHIFT`.
const fn desc_base(base: usize) -> usize {
    (base >> PAGE_SHIFT) * std::mem::size_of::<usize>()
}
/// Data sizes tried, largest first (`VMEMMAP_GIB=n` caps them).
const SIZE_CHAIN_GIB: [usize; 5] = [64, 16, 4, 1, 0];
/// The largest block; the data base is aligned to it.
const MAX_BLOCK: usize = PAGE_SIZE << MAX_PAGE_ORDER;

/// Pages of dirty free blocks tolerated before they are given back to the OS
/// in one batch (see design/allocator.md for the measurements behind the default).
pub(crate) const DEFAULT_PURGE_PAGES: usize = 256;

/// The base the out-of-line path compares against: `BASE` while the data is
/// at the fixed address (then that path just repeats the failed compare), the
/// dynamic base otherwise. Written once, in `reserve`, before any block is
/// handed out; every lookup that can find a block comes after that block's
/// allocation, which came after `range()` returned, so `Relaxed` suffices.
#[cfg(not(feature = "dynamic-base"))]
static DYN_BASE: AtomicUsize = AtomicUsize::new(BASE);
/// Under `dynamic-base`, a non-canonical base until `init`: no user address
/// is in range of it. (`PageAllocator::new` calls `init`.)
#[cfg(feature = "dynamic-base")]
static DYN_BASE: AtomicUsize = AtomicUsize::new(0x4000_0000_0000_0000);

/// The buddy and the blocks handed out, under one lock.
struct State {
    buddy: Buddy,
    /// Blocks handed out: offset → (order, owner). Lets a world that is
    /// dropped while it still holds pages give them back
    /// (`Range::release_owner`).
    live: BTreeMap<usize, (u32, u32)>,
}

/// The process-wide range.
pub(crate) struct Range {
    base: usize,
    size: usize,
    fixed: bool,
    state: Mutex<State>,
    purge_pages: AtomicUsize,
    madvise_calls: AtomicUsize,
    purged_pages: AtomicUsize,
}

/// A snapshot of the range for tests and reports.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code)] // read by tests and debuggers
pub(crate) struct RangeStats {
    /// Data base address.
    pub base: usize,
    /// Data bytes reserved.
    pub size: usize,
    /// Whether the data is at [`BASE`] (lookups need no load).
    pub fixed: bool,
    /// Pages carved from the range so far (high-water mark of the range).
    pub bumped_pages: usize,
    /// Pages in free blocks below the high-water mark.
    pub free_pages: usize,
    /// Pages of free blocks that may still be resident.
    pub dirty_pages: usize,
    /// `madvise` calls made.
    pub madvise_calls: usize,
    /// Pages given back through them.
    pub purged_pages: usize,
}

static RANGE: OnceLock<Range> = OnceLock::new();

/// Reserves the range at load time (before `main`, before anything else in
/// the process could take the fixed address). `init` repeats it if this
/// failed; a failure here is silent.
#[used]
#[unsafe(link_section = ".init_array")]
static RESERVE_AT_LOAD: extern "C" fn() = {
    extern "C" fn reserve_at_load() {
        let _ = std::panic::catch_unwind(|| {
            let _ = range();
        });
    }
    reserve_at_load
};

fn mmap(hint: usize, len: usize, fixed: bool, prot: libc::c_int) -> Option<usize> {
    let flags = libc::MAP_PRIVATE
        | libc::MAP_ANONYMOUS
        | libc::MAP_NORESERVE
        | if fixed { libc::MAP_FIXED_NOREPLACE } else { 0 };
    // SAFETY: an anonymous mapping; with MAP_FIXED_NOREPLACE the kernel never
    // replaces an existing mapping, and without it `hint` is only a hint.
    let p = unsafe { libc::mmap(hint as *mut libc::c_void, len, prot, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return None;
    }
    if fixed && p as usize != hint {
        // Kernels before 4.17, and valgrind 3.19, treat the flag as a hint.
        // SAFETY: the mapping was just made by us and nothing refers to it.
        unsafe { libc::munmap(p, len) };
        return None;
    }
    Some(p as usize)
}

fn protect(addr: usize, len: usize, prot: libc::c_int) -> bool {
    // SAFETY: callers pass page-aligned parts of our reservation; widening
    // access never invalidates anything.
    unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) == 0 }
}

fn unmap(addr: usize, len: usize) {
    if len != 0 {
        // SAFETY: callers pass parts of a fresh reservation no one refers to.
        unsafe { libc::munmap(addr as *mut libc::c_void, len) };
    }
}

fn size_chain() -> impl Iterator<Item = usize> {
    let cap = std::env::var("VMEMMAP_GIB").ok().and_then(|s| s.parse::<usize>().ok()).unwrap_or(usize::MAX);
    SIZE_CHAIN_GIB.into_iter().filter(move |&g| g != 0 && g <= cap).map(|g| g << 30)
}

fn reserve() -> Range {
    let purge_pages =
        std::env::var("VMEMMAP_PURGE_PAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_PURGE_PAGES);
    let make = |base: usize, size: usize, fixed: bool| Range {
        base,
        size,
        fixed,
        state: Mutex::new(State { buddy: Buddy::new(size, MAX_PAGE_ORDER), live: BTreeMap::new() }),
        purge_pages: AtomicUsize::new(purge_pages),
        madvise_calls: AtomicUsize::new(0),
        purged_pages: AtomicUsize::new(0),
    };
    #[cfg(not(feature = "dynamic-base"))]
    {
        // The range lookup reads the owner and descriptor words of any
        // address within MAX_RANGE of BASE: that metadata must be ours, or
        // nothing works.
        if mmap(BASE - OWNER_BYTES, OWNER_BYTES, true, libc::PROT_READ).is_none()
            || mmap(desc_base(BASE), WORDS_BYTES, true, libc::PROT_READ).is_none()
        {
            panic!(
                "vmemmap: cannot reserve the metadata at {:#x} and {:#x}: {}; build with feature `dynamic-base`",
                BASE - OWNER_BYTES,
                desc_base(BASE),
                std::io::Error::last_os_error()
            );
        }
        for size in size_chain() {
            if mmap(BASE, size, true, libc::PROT_NONE).is_some() {
                return make(BASE, size, true);
            }
        }
        // Data elsewhere: the fixed metadata stays reserved and all zero, so
        // the fast path answers None there and defers to the dynamic range.
    }
    for size in size_chain() {
        let len = OWNER_BYTES + size + MAX_BLOCK;
        let Some(p) = mmap(0, len, false, libc::PROT_NONE) else { continue };
        let base = (p + OWNER_BYTES + MAX_BLOCK - 1) & !(MAX_BLOCK - 1);
        unmap(p, base - OWNER_BYTES - p);
        unmap(base + size, p + len - (base + size));
        // The descriptors of this base sit where its page numbers put them.
        if !protect(base - OWNER_BYTES, OWNER_BYTES, libc::PROT_READ)
            || mmap(desc_base(base), WORDS_BYTES, true, libc::PROT_READ).is_none()
        {
            unmap(base - OWNER_BYTES, OWNER_BYTES + size);
            continue;
        }
        DYN_BASE.store(base, Ordering::Relaxed);
        return make(base, size, false);
    }
    panic!("vmemmap: cannot reserve even 1 GiB of address space: {}", std::io::Error::last_os_error());
}

/// The range, reserved on first use.
#[inline]
pub(crate) fn range() -> &'static Range {
    RANGE.get_or_init(reserve)
}

/// Reserves the range if it is not yet (idempotent).
pub(crate) fn init() {
    let _ = range();
}

#[inline(always)]
fn desc_at(base: usize, offset: usize) -> &'static std::sync::atomic::AtomicUsize {
    // SAFETY: callers checked `offset < MAX_RANGE`; the descriptor array of
    // the range at `base` covers MAX_PAGES words from `desc_base(base)`, is
    // mapped for the life of the process and only accessed atomically.
    unsafe { &*desc_of(base + offset) }
}

/// The descriptor word of the page holding `addr`, by arithmetic alone.
#[inline(always)]
fn desc_of(addr: usize) -> *const std::sync::atomic::AtomicUsize {
    ((addr >> PAGE_SHIFT) * std::mem::size_of::<usize>()) as *const _
}

/// The home word of the page holding `addr`: [`HOME_BYTES`] past its
/// descriptor.
#[inline(always)]
fn home_of(addr: usize) -> *const std::sync::atomic::AtomicUsize {
    (desc_of(addr) as usize + DESC_BYTES) as *const _
}

/// The slots word of the page holding `addr`: [`SLOTS_HOLDER_BASE`] past
/// its descriptor, right after the home words.
#[inline(always)]
fn slots_of(addr: usize) -> *const std::sync::atomic::AtomicUsize {
    (desc_of(addr) as usize + SLOTS_HOLDER_BASE) as *const _
}

#[inline(always)]
fn slots_at(base: usize, offset: usize) -> &'static std::sync::atomic::AtomicUsize {
    // SAFETY: as `desc_at`: the slots array is mapped with the descriptors.
    unsafe { &*slots_of(base + offset) }
}

#[inline(always)]
fn home_at(base: usize, offset: usize) -> &'static std::sync::atomic::AtomicUsize {
    // SAFETY: as `desc_at`: the home array is mapped with the descriptors.
    unsafe { &*home_of(base + offset) }
}

#[inline(always)]
fn owner_at(base: usize, offset: usize) -> &'static AtomicU32 {
    // SAFETY: as `desc_at`, for the owner array right below the data.
    unsafe { &*((base - OWNER_BYTES + (offset >> PAGE_SHIFT) * std::mem::size_of::<u32>()) as *const _) }
}

/// The descriptor word of the page holding `addr` (0 for any address that is
/// not slab memory). Fixed base: subtract a constant, compare, shift, load.
///
/// Requires the range to be reserved (the load-time constructor, `init` or
/// `PageAllocator::new` does it); every address a world can
/// hold comes after that.
#[inline(always)]
pub(crate) fn lookup_word(addr: usize) -> usize {
    #[cfg(not(feature = "dynamic-base"))]
    {
        let offset = addr.wrapping_sub(BASE);
        if offset < MAX_RANGE {
            return desc_at(BASE, offset).load(LOOKUP);
        }
        lookup_word_cold(addr)
    }
    #[cfg(feature = "dynamic-base")]
    lookup_word_dynamic(addr)
}

#[cfg(not(feature = "dynamic-base"))]
#[cold]
#[inline(never)]
fn lookup_word_cold(addr: usize) -> usize {
    lookup_word_dynamic(addr)
}

/// The lookup against the base in memory: one more load than `lookup_word`.
/// The out-of-range path of the fixed build, and the only path of
/// `dynamic-base`.
#[inline(always)]
pub(crate) fn lookup_word_dynamic(addr: usize) -> usize {
    let base = DYN_BASE.load(Ordering::Relaxed);
    let offset = addr.wrapping_sub(base);
    if offset < MAX_RANGE { desc_at(base, offset).load(LOOKUP) } else { 0 }
}

/// Mirrors `virt_to_slab()`/`page_slab()`: what the page holding `addr` is.
#[inline(always)]
pub(crate) fn lookup(addr: usize) -> PageEntry {
    PageEntry::decode(lookup_word(addr))
}

/// Mirrors `virt_to_slab()`: the slab holding `addr`, or none.
#[inline(always)]
pub(crate) fn virt_to_slab(addr: usize) -> Option<NonNull<Slab>> {
    word_to_slab(lookup_word(addr))
}

/// [`virt_to_slab`] for the free fast paths, on the address of an
/// allocated object: a shift and one load of the descriptor word (the
/// kernel's `vmemmap + pfn`), with no call in it (a call would make the
/// fast path save registers) and no range test, whatever the base.
///
/// # Safety
/// `addr` is the address of an allocated object of some world of this
/// process (an [`crate::Object`] token's), so it lies in the range, whose
/// descriptors are mapped: for any other address the load may fault.
#[inline(always)]
pub(crate) unsafe fn virt_to_slab_fast(addr: usize) -> Option<NonNull<Slab>> {
    // SAFETY: an object's page is in the range, whose descriptor array is
    // mapped for the life of the process and only accessed atomically.
    word_to_slab(unsafe { &*desc_of(addr) }.load(LOOKUP))
}

/// The home word of an allocated object's page, for the free fast paths:
/// `CacheStorage::home` of its slab's node, `storage::large_words` for a
/// large kmalloc allocation's. A shift and one load, like [`virt_to_slab_fast`],
/// and no load of the slab.
///
/// # Safety
/// As [`virt_to_slab_fast`].
#[inline(always)]
pub(crate) unsafe fn virt_to_home_fast(addr: usize) -> usize {
    // SAFETY: an object's page is in the range, whose home array is mapped
    // for the life of the process and only accessed atomically.
    unsafe { &*home_of(addr) }.load(LOOKUP)
}

/// The holder `kfree()`'s section reads an allocated object's page's slots
/// word from, at [`SLOTS_HOLDER_BASE`] (`rseq::push`): the page's
/// descriptor address, which the home word's load computes too, so that
/// both loads are one displacement from one register. Arithmetic only, no
/// load: the section loads the word itself, beside the home word and
/// independently of it.
///
/// # Safety
/// As [`virt_to_slab_fast`]; the word may only be read, as an atomic or by
/// a section.
#[inline(always)]
pub(crate) unsafe fn virt_to_slots_holder(addr: usize) -> *const u8 {
    desc_of(addr).cast()
}

/// Where the slots word is from [`virt_to_slots_holder`]'s holder.
pub(crate) const SLOTS_HOLDER_BASE: usize = DESC_BYTES + HOME_BYTES;
const _: () = assert!(SLOTS_HOLDER_BASE <= i32::MAX as usize, "a displacement of the section's load");

impl Range {
    fn offset_of(&self, addr: usize, pages: usize) -> usize {
        let offset = addr.wrapping_sub(self.base);
        assert!(
            offset < self.size && pages <= (self.size - offset) >> PAGE_SHIFT && offset.is_multiple_of(PAGE_SIZE),
            "{addr:#x} + {pages} pages is not slab memory"
        );
        offset
    }

    /// Marks `pages` pages from `base` as `entry` (`__folio_set_slab`),
    /// with their home and slots words, with `ordering` (`PUBLISH` but for
    /// a seeded bug).
    pub(crate) fn set(&self, base: usize, pages: usize, entry: PageEntry, words: PageWords, ordering: Ordering) {
        let offset = self.offset_of(base, pages);
        for i in 0..pages {
            let at = offset + (i << PAGE_SHIFT);
            slots_at(self.base, at).store(words.slots as usize, ordering);
            home_at(self.base, at).store(words.home, ordering);
            desc_at(self.base, at).store(entry.for_page(i).encode(), ordering);
        }
    }

    /// Clears the descriptors of `pages` pages from `base`.
    pub(crate) fn clear(&self, base: usize, pages: usize) {
        let offset = self.offset_of(base, pages);
        for i in 0..pages {
            let at = offset + (i << PAGE_SHIFT);
            desc_at(self.base, at).store(0, UNPUBLISH);
            home_at(self.base, at).store(0, UNPUBLISH);
            slots_at(self.base, at).store(0, UNPUBLISH);
        }
    }

    /// `alloc_pages()` from the shared range: `PAGE_SIZE << order` bytes,
    /// naturally aligned, contents unspecified (fresh zero pages or stale),
    /// its pages recorded as `owner`'s.
    pub(crate) fn alloc_block(&self, order: u32, owner: u32) -> Option<NonNull<u8>> {
        if order > MAX_PAGE_ORDER {
            return None;
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let buddy = &mut state.buddy;
        let high_water = buddy.bumped_pages() << PAGE_SHIFT;
        let (offset, _) = buddy.alloc(order)?;
        let grown = buddy.bumped_pages() << PAGE_SHIFT;
        if grown != high_water && !self.open(high_water, grown - high_water) {
            buddy.free(offset, order);
            buddy.take_dirty();
            return None;
        }
        state.live.insert(offset, (order, owner));
        self.set_owner(offset, 1 << order, owner);
        NonNull::new((self.base + offset) as *mut u8)
    }

    /// Makes data `offset..offset + len` and its metadata writable, as the
    /// high-water mark moves up (under the buddy lock, before any of it is
    /// handed out). Above the mark, data is `PROT_NONE` and metadata
    /// `PROT_READ` (it reads as zero): stray accesses fault, and valgrind's
    /// leak check, which scans only readable *and* writable client memory,
    /// skips the untouched 64 GiB. The new writable parts merge with the ones
    /// below, so the range stays a handful of VMAs.
    fn open(&self, offset: usize, len: usize) -> bool {
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let page_down = |a: usize| a & !(PAGE_SIZE - 1);
        let page_up = |a: usize| (a + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        // The metadata of data `offset..offset + len` in an array whose
        // entry for data offset `o` is at `at(o)`.
        let open_meta = |at: &dyn Fn(usize) -> usize| {
            protect(page_down(at(offset)), page_up(at(offset + len)) - page_down(at(offset)), rw)
        };
        protect(self.base + offset, len, rw)
            && open_meta(&|o| desc_of(self.base + o) as usize)
            && open_meta(&|o| home_of(self.base + o) as usize)
            && open_meta(&|o| slots_of(self.base + o) as usize)
            && open_meta(&|o| self.base - OWNER_BYTES + (o >> PAGE_SHIFT) * std::mem::size_of::<u32>())
    }

    /// `__free_pages()` to the shared range; gives dirty memory back to the
    /// OS once more than the purge threshold of it is free.
    ///
    /// # Safety
    /// `ptr` came from `alloc_block(order)` and is not used after this.
    pub(crate) unsafe fn free_block(&self, ptr: NonNull<u8>, order: u32) {
        let offset = self.offset_of(ptr.as_ptr() as usize, 1 << order);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let freed = state.live.remove(&offset);
        debug_assert_eq!(freed.map(|(o, _)| o), Some(order), "freeing a block that was not handed out");
        self.set_owner(offset, 1 << order, 0);
        state.buddy.free(offset, order);
        self.maybe_purge(&mut state.buddy);
    }

    /// Frees every block `owner` still holds, descriptors cleared first:
    /// for a world dropped while it holds pages (see `PageAllocator`'s drop).
    /// Returns the pages given back.
    pub(crate) fn release_owner(&self, owner: u32) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let blocks: Vec<(usize, u32)> =
            state.live.iter().filter(|(_, (_, o))| *o == owner).map(|(&off, &(order, _))| (off, order)).collect();
        let mut pages = 0;
        for (offset, order) in blocks {
            state.live.remove(&offset);
            self.clear(self.base + offset, 1 << order);
            self.set_owner(offset, 1 << order, 0);
            state.buddy.free(offset, order);
            pages += 1 << order;
        }
        self.maybe_purge(&mut state.buddy);
        pages
    }

    /// The madvise policy: once more than the purge threshold of free pages
    /// may be resident, gives all of them back. Under the lock: a block
    /// marked clean must not be handed out before its pages are gone, or the
    /// madvise would zap live data.
    fn maybe_purge(&self, buddy: &mut Buddy) {
        if buddy.dirty_pages() > self.purge_pages.load(Ordering::Relaxed) {
            self.give_back(buddy);
        }
    }

    fn give_back(&self, buddy: &mut Buddy) {
        for (off, len) in buddy.take_dirty() {
            // SAFETY: free blocks of our reservation; nobody may use them.
            let r = unsafe { libc::madvise((self.base + off) as *mut libc::c_void, len, libc::MADV_DONTNEED) };
            debug_assert_eq!(r, 0, "madvise: {}", std::io::Error::last_os_error());
            self.madvise_calls.fetch_add(1, Ordering::Relaxed);
            self.purged_pages.fetch_add(len >> PAGE_SHIFT, Ordering::Relaxed);
        }
    }

    /// Gives every dirty free block back to the OS now.
    #[allow(dead_code)] // for tests and experiments
    pub(crate) fn purge(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.give_back(&mut state.buddy);
    }

    /// Sets the purge threshold in pages (0: give back on every free).
    #[allow(dead_code)] // for tests and experiments
    pub(crate) fn set_purge_pages(&self, pages: usize) {
        self.purge_pages.store(pages, Ordering::Relaxed);
    }

    /// Records `owner` for `pages` pages from data offset `offset` (0 = none).
    fn set_owner(&self, offset: usize, pages: usize, owner: u32) {
        for i in 0..pages {
            owner_at(self.base, offset + (i << PAGE_SHIFT)).store(owner, OWNER_WRITE);
        }
    }

    /// The owner recorded for the page holding `addr` (0 = none or not slab
    /// memory). See `PageAllocator::owns` for the ordering.
    pub(crate) fn owner(&self, addr: usize) -> u32 {
        let offset = addr.wrapping_sub(self.base);
        if offset < self.size { owner_at(self.base, offset).load(OWNER_READ) } else { 0 }
    }

    /// A snapshot of the range's state.
    #[allow(dead_code)] // for tests and debuggers
    pub(crate) fn stats(&self) -> RangeStats {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let buddy = &state.buddy;
        RangeStats {
            base: self.base,
            size: self.size,
            fixed: self.fixed,
            bumped_pages: buddy.bumped_pages(),
            free_pages: buddy.free_pages(),
            dirty_pages: buddy.dirty_pages(),
            madvise_calls: self.madvise_calls.load(Ordering::Relaxed),
            purged_pages: self.purged_pages.load(Ordering::Relaxed),
        }
    }
}
