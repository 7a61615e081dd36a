//! slabmerge: a SLUB-like slab allocator in userspace and the cache-merging schemes.
#![warn(missing_docs)]

pub mod cache;
pub mod census;
pub mod config;
pub mod cpu;
pub mod error;
pub mod flags;
pub mod layout;
mod lifecycle;
mod memory;
pub mod merge;
pub mod module;
mod page;
pub mod replay;
pub mod report;
mod sheaf;
mod slab;
pub mod slabinfo;
pub mod storage;
pub mod sync;
pub mod sysfs;
pub mod trace;
pub mod world;

#[cfg(all(test, loom))]
mod loom_tests;

pub use cache::{Cache, FreeError, InstanceKind, InstanceState, KmemCache, Object};
pub use config::{Scheme, SlabConfig};
pub use error::{Report, SlabError};
pub use module::Module;
pub use world::{CacheInfo, CreateEntry, KmemCacheArgs, World, kmem_cache_destroy};
