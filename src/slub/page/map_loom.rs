//! The address → slab map under loom.

use super::PageEntry;
use crate::config::PAGE_SHIFT;

/// Under loom the page map is a map behind a loom mutex: 2^18 loom atomics
/// would make every model start slow, and the ordering that matters
/// (an entry is published before the slab's objects are handed out) is the
/// same.
///
/// `_leak` makes the map a tracked allocation. The map lives in the world's
/// `SlabMemory`, which the world core and every cache storage hold through
/// an `Arc`; a world or a storage that is never released keeps it alive, and
/// loom fails the iteration that leaked it.
pub(crate) struct PageMap {
    map: crate::sync::Mutex<std::collections::BTreeMap<usize, usize>>,
    _leak: loom::alloc::Track<()>,
}

// SAFETY: the map holds plain words; slab pointers in it are only dereferenced
// by code that upholds the slab lifetime rules.
unsafe impl Send for PageMap {}
// SAFETY: as above; all access goes through the mutex.
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
