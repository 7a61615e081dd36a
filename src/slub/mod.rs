//! The allocator core: what the kernel keeps in `mm/slub.c` and the parts of
//! `mm/page_alloc.c` and `mm/slab.h` it relies on.
//!
//! Pages and the address → slab map, slabs with in-object free pointers, the
//! per-cpu sheaves and the per-node barn, a cache's storage with its fast and
//! slow paths, the object layout, the current CPU. This folder imports
//! nothing of the cache lifecycle above it: a storage names the instance that
//! owns it only through an opaque [`storage::SlabOwner`] pointer, as
//! `slab->slab_cache` is a pointer the allocator never interprets. The one
//! pointer that runs up inside the core is the kernel's own: a slab and a
//! sheaf name their storage (`slab->slab_cache`, `sheaf->cache`), typed here
//! through `slab::StorageRef` so that no file imports one above it.
//!
//! # Lock order
//!
//! As `mm/slub.c` documents its own at the top of the file:
//!
//! ```text
//!   1. slab_mutex                (slab_common: the registry, sysfs, modules)
//!   2.   instance meta           (slab_common: KmemCache::meta; one at a time,
//!                                 except an alias's and then its primary's)
//!   3.     per-cpu sheaves       (a `percpu::Slot` of `cpu_sheaves`: the CPU's
//!                                 own by the owner's fast path or the fallback
//!                                 trylock, never two at once; or remotely by
//!                                 flush_all/stats, which hold every CPU's slot
//!                                 at once, taken in index order)
//!   4.       list_lock           (KmemCacheNode::list_lock, one node at a time)
//!   5.       barn lock           (KmemCacheNode::barn; never with list_lock)
//!   6.         discard_lock      (SlabMemory: write side only in discard and
//!                                 large kfree; read side in kfree_addr)
//! ```
//!
//! The fast paths (a sheaf hit on alloc or free) take only step 3, with plain
//! stores (the owner) or one compare-and-swap (the fallback). A slow path
//! takes 3 and then 4 or 5, never 4 and 5 together. A remote on step 3 holds
//! the slots' `remote` mutexes and waits for each displaced owner's critical
//! section to end, so nothing inside a critical section may wait for a
//! remote: no `flush_all`, `stats` or `with_local_pcs` from inside one
//! (asserted). `flush_all` lets the slots go before it takes step 4. `kfree_addr` takes
//! 6 (read) and then 4: a discard holds 4, releases it, then takes 6 (write).

mod alloc;
pub mod cpu;
mod free;
pub mod layout;
pub(crate) mod memory;
pub(crate) mod page;
pub mod percpu;
pub mod rseq;
pub(crate) mod sheaf;
pub(crate) mod slab;
pub mod stat;
pub mod storage;
mod teardown;
pub mod thread;
