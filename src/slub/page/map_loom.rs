//! The address → slab map under loom.

use super::PageEntry;
use crate::config::PAGE_SHIFT;
use crate::sync::atomic::{AtomicUsize, Ordering};

/// Under loom the page map keeps one loom atomic word per mapped page,
/// made by `set` (2^18 of them up front would make every model start slow).
/// The words carry the real map's orderings and no stronger: `set` and
/// `clear` store with `Release`, `lookup` loads with `Acquire`, as
/// `map_radix.rs` does.
///
/// Loom replays a model many times and needs the same sequence of loom
/// operations each time, but page addresses differ between runs (they come
/// from the system allocator), and so does which pages are reused. So the
/// operations do not depend on the addresses: `set` makes a new word for each
/// page (replacing the word of a page mapped before), and a `lookup` or
/// `clear` of a page that has no word uses `unmapped`, a word that is always
/// 0. Exactly one loom operation per page and call, whatever the addresses.
///
/// The index from page frame number to word stands for the radix table's
/// structure, and it is invisible to loom on purpose: a `std` mutex, which
/// loom does not see, so it adds no happens-before edge between the threads
/// of a model (loom runs them all on one OS thread, so it never blocks
/// either). A page whose word does not exist yet reads as unmapped, as a
/// page of a leaf not yet installed does in the real table. (An earlier
/// version kept the whole map behind a loom mutex; every lookup then
/// synchronised with every `set`, an ordering the real map does not have.)
///
/// `_leak` makes the map a tracked allocation. The map lives in the world's
/// `SlabMemory`, which the world core and every cache storage hold through
/// an `Arc`; a world or a storage that is never released keeps it alive, and
/// loom fails the iteration that leaked it.
pub(crate) struct PageMap {
    words: std::sync::Mutex<std::collections::BTreeMap<usize, std::sync::Arc<AtomicUsize>>>,
    unmapped: AtomicUsize,
    _leak: loom::alloc::Track<()>,
}

// SAFETY: the map holds plain words; slab pointers in it are only dereferenced
// by code that upholds the slab lifetime rules.
unsafe impl Send for PageMap {}
// SAFETY: as above; the index is behind its mutex, the words are atomics.
unsafe impl Sync for PageMap {}

/// Under loom the reader goes through the map itself.
#[derive(Clone, Copy)]
pub(crate) struct PageMapReader {
    map: *const PageMap,
}

// SAFETY: the map outlives every reader (holders keep the world's memory alive).
unsafe impl Send for PageMapReader {}
// SAFETY: as above.
unsafe impl Sync for PageMapReader {}

impl PageMapReader {
    pub(crate) fn lookup(&self, addr: usize) -> PageEntry {
        // SAFETY: the map outlives the reader.
        unsafe { &*self.map }.lookup(addr)
    }
}

impl PageMap {
    pub(crate) fn reader(&self) -> PageMapReader {
        PageMapReader { map: self }
    }

    pub(crate) fn new() -> PageMap {
        PageMap {
            words: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            unmapped: AtomicUsize::new(0),
            _leak: loom::alloc::Track::new(()),
        }
    }

    /// The index, invisible to loom (see the type's doc).
    fn words(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<usize, std::sync::Arc<AtomicUsize>>> {
        self.words.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn lookup(&self, addr: usize) -> PageEntry {
        let word = self.words().get(&(addr >> PAGE_SHIFT)).cloned();
        PageEntry::decode(word.as_deref().unwrap_or(&self.unmapped).load(Ordering::Acquire))
    }

    pub(crate) fn set(&self, base: usize, pages: usize, entry: PageEntry) {
        for i in 0..pages {
            let entry = match entry {
                PageEntry::Large { order, .. } => PageEntry::Large { head: i == 0, order },
                other => other,
            };
            let word = std::sync::Arc::new(AtomicUsize::new(0));
            self.words().insert((base >> PAGE_SHIFT) + i, word.clone());
            word.store(entry.encode(), Ordering::Release);
        }
    }

    pub(crate) fn clear(&self, base: usize, pages: usize) {
        for i in 0..pages {
            let word = self.words().get(&((base >> PAGE_SHIFT) + i)).cloned();
            word.as_deref().unwrap_or(&self.unmapped).store(0, Ordering::Release);
        }
    }
}
