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
//! through [`slab::StorageRef`] so that no file imports one above it.
//!
//! # Lock order
//!
//! As `mm/slub.c` documents its own at the top of the file:
//!
//! ```text
//!   1. slab_mutex                (slab_common: the registry, sysfs, modules)
//!   2.   instance meta           (slab_common: KmemCache::meta; one at a time,
//!                                 except an alias's and then its primary's)
//!   3.     per-cpu sheaves       (PerCpuSheaves: the CPU's own, or taken
//!                                 remotely by flush_all; never two at once)
//!   4.       list_lock           (KmemCacheNode::list_lock, one node at a time)
//!   5.       barn lock           (KmemCacheNode::barn; never with list_lock)
//!   6.         discard_lock      (SlabMemory: write side only in discard and
//!                                 large kfree; read side in kfree_addr)
//! ```
//!
//! The fast paths (a sheaf hit on alloc or free) take only step 3. A slow
//! path takes 3 and then 4 or 5, never 4 and 5 together. `kfree_addr` takes
//! 6 (read) and then 4: a discard holds 4, releases it, then takes 6 (write).

mod alloc;
pub mod cpu;
mod free;
pub mod layout;
pub(crate) mod memory;
pub(crate) mod page;
pub(crate) mod sheaf;
pub(crate) mod slab;
pub mod stat;
pub mod storage;
mod teardown;
