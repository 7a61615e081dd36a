//! The memory a world's slabs live in: the page allocator and the address
//! map, shared by every cache storage of the world.

use std::ptr::NonNull;

use crate::config::SlabConfig;
use crate::slub::page::{PageAllocator, PageEntry, PageMap};
use crate::slub::slab::Slab;
use crate::sync::RwLock;

/// Pages, the address → slab map, and the lock that keeps address-based
/// lookups safe.
///
/// The map is process-wide (one descriptor array for every world), the
/// pages are this world's. `kfree(Object)` reads the map without any lock:
/// an [`crate::Object`] is proof that its slab is alive. An address-based
/// free (`kfree_addr`) has no such proof, so it holds `discard_lock` for
/// reading while it looks at the slab, and every slab discard of this world
/// takes it for writing; another world's discards do not, so it first checks
/// that the page is this world's ([`SlabMemory::lookup_owned`]). Discards
/// are slow-path events (pages go back to the page allocator); the fast
/// paths never touch the lock.
pub(crate) struct SlabMemory {
    pub(crate) pages: PageAllocator,
    pub(crate) map: PageMap,
    pub(crate) discard_lock: RwLock<()>,
    /// Loom builds only: discarded slab descriptors, freed with the memory.
    /// A seeded bug that discards a slab under a racing freer
    /// (`Broken::ShrinkDiscardsBeforeLastFree`) lets the freer read the
    /// descriptor word before its clear; with the `Slab` freed at once, that
    /// freer would read freed memory and abort the whole test binary, where
    /// the model must report the bug. A std mutex: loom sees no ordering.
    /// Addresses of `Box<Slab>`s, freed in `drop`.
    #[cfg(loom)]
    pub(crate) graveyard: std::sync::Mutex<Vec<usize>>,
}

#[cfg(loom)]
impl Drop for SlabMemory {
    fn drop(&mut self) {
        for addr in self.graveyard.get_mut().expect("not poisoned").drain(..) {
            // SAFETY: each address is a `Box<Slab>` that `discard_slab` gave
            // up (`Box::into_raw`) and nothing else frees.
            drop(unsafe { Box::from_raw(addr as *mut Slab) });
        }
    }
}

impl SlabMemory {
    pub(crate) fn new(config: &SlabConfig) -> SlabMemory {
        SlabMemory {
            pages: PageAllocator::new(),
            map: PageMap::new(config),
            discard_lock: RwLock::new(()),
            #[cfg(loom)]
            graveyard: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The page map's entry for `addr` if the page is this world's, else
    /// `None`. For tokenless lookups, under `discard_lock.read()`.
    pub(crate) fn lookup_owned(&self, addr: usize) -> PageEntry {
        if self.pages.owns(addr) { self.map.lookup(addr) } else { PageEntry::None }
    }

    /// Whether `slab` (found through an object token) is one of this world's.
    ///
    /// # Safety
    /// `slab` is live (an allocated object of it is held).
    pub(crate) unsafe fn holds(&self, slab: NonNull<Slab>) -> bool {
        // SAFETY: the slab is live, so is its storage (per the caller).
        std::ptr::eq(unsafe { &*slab.as_ref().storage.as_ref().memory }, self)
    }
}
