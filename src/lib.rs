//! slabmerge: a SLUB-like slab allocator in userspace, and the slab cache
//! merging schemes over it — mainline, Al Viro's static `kmem_cache`
//! instances (v3 and v1), and Vlastimil Babka's `primary_cache` design — so
//! that they can be compared on a real kernel's caches.
//!
//! Start with the design documents in `design/` (also in [`design`]); each
//! kernel function's counterpart is listed in [`design::overview`].
//!
//! The primary-cache scheme in ten lines: a static instance joins an existing
//! compatible cache as an alias, keeps its static address, and its objects'
//! slabs name the primary.
//!
//! ```
//! use slabmerge::{KmemCacheArgs, Scheme, SlabConfig, World, flags::SLAB_ACCOUNT};
//!
//! let world = World::new(SlabConfig::with_scheme(Scheme::Primary));
//! let d = world.kmem_cache_create("anon_vma_chain", 64, KmemCacheArgs::default(), SLAB_ACCOUNT).unwrap();
//! let s = world.kmem_cache_setup_image(0, "fs_cache", 64, KmemCacheArgs::default(), SLAB_ACCOUNT).unwrap();
//! assert!(s.is_alias() && std::ptr::eq(s.primary_cache().unwrap(), &*d));
//! let object = s.alloc().unwrap();
//! assert_eq!(world.slab_cache_of(&object).unwrap().name, "anon_vma_chain");
//! world.kfree(object).unwrap();
//! ```
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

// The house, bottom up: the allocator core (`mm/slub.c`), the schemes' rules,
// the cache lifecycle (`mm/slab_common.c`) that follows them, the real-kernel
// inputs, and the report on top. `design/README.md` has the map.
pub mod config;
pub mod design;
pub mod error;
pub mod flags;
pub mod input;
pub mod membarrier;
pub mod report;
pub mod schemes;
pub mod slab_common;
pub mod slub;
pub(crate) mod sync;

#[cfg(test)]
mod tests;

// The public paths users write, wherever the items live.
pub use input::{census, replay, snapshot, trace};
pub use slab_common::{cache, merge, module, prefill, slabinfo, sysfs, world};
pub use slub::{cpu, layout, storage};

pub use cache::{Cache, FreeError, InstanceKind, InstanceState, KmemCache, Object};
pub use config::{Scheme, SlabConfig};
pub use error::{AllocError, Report, SlabError};
pub use module::Module;
pub use world::{CacheInfo, CreateEntry, KmemCacheArgs, World, kmem_cache_destroy};
