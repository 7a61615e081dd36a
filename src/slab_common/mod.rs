//! The cache lifecycle: what the kernel keeps in `mm/slab_common.c` and the
//! sysfs half of `mm/slub.c`.
//!
//! Cache instances and the handles creators hold, the world (`slab_caches`,
//! `slab_mutex`, the kmalloc caches), creation and destruction in the
//! kernel's order, the merge rules, sysfs names and links, modules,
//! `/proc/slabinfo`. Where the designs differ, this code asks the world's
//! scheme ([`crate::schemes`]) and follows its answer; it matches on no
//! scheme itself. It imports the allocator core ([`crate::slub`]) below it
//! and the schemes beside it, never the inputs or the report above it.

pub mod cache;
pub(crate) mod create;
pub(crate) mod decide;
pub(crate) mod destroy;
pub(crate) mod hash;
pub(crate) mod ids;
pub mod info;
pub(crate) mod invariants;
pub mod kmalloc;
pub mod merge;
pub mod module;
pub mod prefill;
pub(crate) mod registry;
pub(crate) mod request;
pub(crate) mod slab_caches;
pub mod slabinfo;
pub mod sysfs;
pub mod world;
