//! The memory a world's slabs live in: the page allocator and the address
//! map, shared by every cache storage of the world.

use crate::slub::page::{PageAllocator, PageMap};
use crate::sync::RwLock;

/// Pages, the address → slab map, and the lock that keeps address-based
/// lookups safe.
///
/// `kfree(Object)` reads the map without any lock: an [`crate::Object`] is
/// proof that its slab is alive. An address-based free (`kfree_addr`) has no
/// such proof, so it holds `discard_lock` for reading while it looks at the
/// slab, and every slab discard takes it for writing. Discards are slow-path
/// events (pages go back to the page allocator); the fast paths never touch it.
pub(crate) struct SlabMemory {
    pub(crate) pages: PageAllocator,
    pub(crate) map: PageMap,
    pub(crate) discard_lock: RwLock<()>,
}

impl SlabMemory {
    pub(crate) fn new() -> SlabMemory {
        SlabMemory { pages: PageAllocator::new(), map: PageMap::new(), discard_lock: RwLock::new(()) }
    }
}
