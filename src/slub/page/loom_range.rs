//! The range under `--cfg loom`: a small simulated range with the real one's
//! API, whose descriptor and owner words are loom atomics accessed with
//! *exactly* the real orderings (`super::order`), and no lock on the lookup
//! path. Its only synchronisation is the real one's: the buddy mutex on block
//! alloc/free (a loom mutex here, a std mutex there).
//!
//! The arena is real memory (objects are written in it), allocated once per
//! OS thread (one per model running at a time) as the real reservation is
//! once per process; its base is read through a std thread-local, which loom
//! does not see, so it adds no modelled happens-before edge, as the real
//! constant `BASE` adds none. Descriptors,
//! owners and the buddy live in a `loom::lazy_static`, fresh for every
//! execution; a model touches it (`init`) before it spawns threads, because
//! every later access acquires the first one's release.

use std::collections::BTreeMap;
use std::ptr::NonNull;

use loom::sync::Mutex;
use loom::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};

use super::PageWords;
use super::buddy::Buddy;
use super::entry::{PageEntry, word_to_slab};
use super::order::{LOOKUP, OWNER_READ, OWNER_WRITE, UNPUBLISH};
use crate::config::{PAGE_SHIFT, PAGE_SIZE};
use crate::slub::slab::Slab;

/// Pages of the simulated range.
const SIM_PAGES: usize = 32;
/// The largest order the simulated range serves (16 pages).
const LOOM_MAX_ORDER: u32 = 4;
/// Bytes the lookups treat as in range (the simulated data size).
const MAX_RANGE: usize = SIM_PAGES * PAGE_SIZE;

/// Under loom a world's page allocator is a tracked allocation: the range is
/// no longer per world, so this is what fails an iteration that leaks a world
/// (or a storage, which keeps the world's memory alive).
pub(crate) type LeakTrack = loom::alloc::Track<()>;

/// A new [`LeakTrack`].
pub(crate) fn leak_track() -> LeakTrack {
    loom::alloc::Track::new(())
}

struct State {
    buddy: Buddy,
    live: BTreeMap<usize, (u32, u32)>,
}

/// The simulated range of one execution.
pub(crate) struct Range {
    base: usize,
    desc: Vec<AtomicUsize>,
    home: Vec<AtomicUsize>,
    /// A loom atomic pointer, as the section model reads its holder's
    /// slots word (`rseq/model.rs`).
    slots: Vec<AtomicPtr<u8>>,
    owner: Vec<AtomicU32>,
    state: Mutex<State>,
}

fn arena_base() -> usize {
    // One arena per OS thread: the test harness runs models on several
    // threads at once, and a process-wide arena would let two models write
    // objects into the same pages (each model's loom threads are coroutines
    // on its one OS thread, so they all see this thread's arena).
    thread_local! {
        static ARENA: usize = {
            let layout = std::alloc::Layout::from_size_align(MAX_RANGE, PAGE_SIZE << LOOM_MAX_ORDER).expect("valid layout");
            // SAFETY: non-zero size; never freed (the thread's range, as the
            // real reservation is the process's).
            let p = unsafe { std::alloc::alloc(layout) };
            assert!(!p.is_null());
            p as usize
        };
    }
    ARENA.with(|a| *a)
}

loom::lazy_static! {
    static ref RANGE: Range = Range {
        base: arena_base(),
        desc: (0..SIM_PAGES).map(|_| AtomicUsize::new(0)).collect(),
        home: (0..SIM_PAGES).map(|_| AtomicUsize::new(0)).collect(),
        slots: (0..SIM_PAGES).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect(),
        owner: (0..SIM_PAGES).map(|_| AtomicU32::new(0)).collect(),
        state: Mutex::new(State { buddy: Buddy::new(MAX_RANGE, LOOM_MAX_ORDER), live: BTreeMap::new() }),
    };
}

/// This execution's range.
pub(crate) fn range() -> &'static Range {
    &RANGE
}

/// Creates this execution's range.
pub(crate) fn init() {
    let _ = range();
}

/// The descriptor word of the page holding `addr`.
#[inline]
pub(crate) fn lookup_word(addr: usize) -> usize {
    let offset = addr.wrapping_sub(arena_base());
    if offset < MAX_RANGE { RANGE.desc[offset >> PAGE_SHIFT].load(LOOKUP) } else { 0 }
}

/// As the real `lookup`.
#[inline]
pub(crate) fn lookup(addr: usize) -> PageEntry {
    PageEntry::decode(lookup_word(addr))
}

/// As the real `virt_to_slab`.
#[inline]
pub(crate) fn virt_to_slab(addr: usize) -> Option<NonNull<Slab>> {
    word_to_slab(lookup_word(addr))
}

/// As the real `virt_to_slab_fast`: the simulated range is the fixed one.
///
/// # Safety
/// None needed here; the real one's contract is kept for the callers.
#[inline]
pub(crate) unsafe fn virt_to_slab_fast(addr: usize) -> Option<NonNull<Slab>> {
    virt_to_slab(addr)
}

/// As the real `virt_to_home_fast`.
///
/// # Safety
/// None needed here; the real one's contract is kept for the callers.
#[inline]
pub(crate) unsafe fn virt_to_home_fast(addr: usize) -> usize {
    let offset = addr.wrapping_sub(arena_base());
    if offset < MAX_RANGE { RANGE.home[offset >> PAGE_SHIFT].load(LOOKUP) } else { 0 }
}

/// As the real `virt_to_slots_holder`, with the word itself as the holder
/// ([`SLOTS_HOLDER_BASE`] 0): the section model loads it (an address
/// outside the simulated range is no object's: the callers' contract).
///
/// # Safety
/// None needed here; the real one's contract is kept for the callers.
#[inline]
pub(crate) unsafe fn virt_to_slots_holder(addr: usize) -> *const u8 {
    let offset = addr.wrapping_sub(arena_base());
    assert!(offset < MAX_RANGE, "{addr:#x} is no object's");
    std::ptr::from_ref(&RANGE.slots[offset >> PAGE_SHIFT]).cast()
}

/// As the real `SLOTS_HOLDER_BASE`.
pub(crate) const SLOTS_HOLDER_BASE: usize = 0;

impl Range {
    fn offset_of(&self, addr: usize, pages: usize) -> usize {
        let offset = addr.wrapping_sub(self.base);
        assert!(
            offset < MAX_RANGE && pages <= (MAX_RANGE - offset) >> PAGE_SHIFT && offset.is_multiple_of(PAGE_SIZE),
            "{addr:#x} + {pages} pages is not slab memory"
        );
        offset
    }

    /// As the real `set`.
    pub(crate) fn set(&self, base: usize, pages: usize, entry: PageEntry, words: PageWords, ordering: Ordering) {
        let first = self.offset_of(base, pages) >> PAGE_SHIFT;
        for i in 0..pages {
            self.slots[first + i].store(words.slots.cast_mut(), ordering);
            self.home[first + i].store(words.home, ordering);
            self.desc[first + i].store(entry.for_page(i).encode(), ordering);
        }
    }

    /// As the real `clear`.
    pub(crate) fn clear(&self, base: usize, pages: usize) {
        let first = self.offset_of(base, pages) >> PAGE_SHIFT;
        for i in 0..pages {
            self.desc[first + i].store(0, UNPUBLISH);
            self.home[first + i].store(0, UNPUBLISH);
            self.slots[first + i].store(std::ptr::null_mut(), UNPUBLISH);
        }
    }

    fn set_owner(&self, offset: usize, pages: usize, owner: u32) {
        for i in 0..pages {
            self.owner[(offset >> PAGE_SHIFT) + i].store(owner, OWNER_WRITE);
        }
    }

    /// As the real `alloc_block` (orders above `LOOM_MAX_ORDER` fail).
    pub(crate) fn alloc_block(&self, order: u32, owner: u32) -> Option<NonNull<u8>> {
        let mut state = self.state.lock().unwrap();
        let (offset, _) = state.buddy.alloc(order)?;
        state.live.insert(offset, (order, owner));
        self.set_owner(offset, 1 << order, owner);
        NonNull::new((self.base + offset) as *mut u8)
    }

    /// As the real `free_block`, without the madvise.
    ///
    /// # Safety
    /// `ptr` came from `alloc_block(order)` and is not used after this.
    pub(crate) unsafe fn free_block(&self, ptr: NonNull<u8>, order: u32) {
        let offset = self.offset_of(ptr.as_ptr() as usize, 1 << order);
        let mut state = self.state.lock().unwrap();
        state.live.remove(&offset);
        self.set_owner(offset, 1 << order, 0);
        state.buddy.free(offset, order);
        state.buddy.take_dirty();
    }

    /// As the real `release_owner`.
    pub(crate) fn release_owner(&self, owner: u32) -> usize {
        let mut state = self.state.lock().unwrap();
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
        state.buddy.take_dirty();
        pages
    }

    /// As the real `owner`.
    pub(crate) fn owner(&self, addr: usize) -> u32 {
        let offset = addr.wrapping_sub(self.base);
        if offset < MAX_RANGE { self.owner[offset >> PAGE_SHIFT].load(OWNER_READ) } else { 0 }
    }
}
