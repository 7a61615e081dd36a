//! Read-only views of instances, as the report and tests read them.

use crate::flags::SlabFlags;
use crate::slab_common::cache::{InstanceKind, InstanceState, KmemCache};
use crate::slab_common::registry::Registry;
use crate::slub::storage::StorageStats;

/// A read-only view of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    /// `s->name`.
    pub name: String,
    /// Names sharing the instance (mainline-style aliases), own name first.
    pub names: Vec<String>,
    /// The primary's name (its own name for a primary).
    pub primary: String,
    /// State.
    pub state: InstanceState,
    /// Kind.
    pub kind: InstanceKind,
    /// `s->refcount`.
    pub refcount: i32,
    /// `s->object_size`.
    pub object_size: u32,
    /// `s->size`.
    pub size: u32,
    /// `s->align`.
    pub align: u32,
    /// `s->flags`.
    pub flags: SlabFlags,
    /// Objects per slab.
    pub objs_per_slab: u32,
    /// Slab order.
    pub order: u32,
    /// The sysfs directory of its storage.
    pub sysfs_dir: String,
    /// True if this instance is an alias of another (primary scheme).
    pub is_alias: bool,
}

impl CacheInfo {
    /// The view of `cache`; `_reg` witnesses that `slab_mutex` is held, so
    /// the instance and its primary stay put while they are read.
    pub(crate) fn of(cache: &KmemCache, _reg: &Registry) -> CacheInfo {
        let is_alias = cache.is_alias();
        let primary = cache.primary_cache().map_or_else(|| cache.name(), |p| p.name());
        let layout = cache.storage().map(|s| s.layout);
        let sysfs_dir = cache.sysfs_dir();
        let meta = cache.meta.lock();
        CacheInfo {
            name: meta.name().to_owned(),
            names: meta.names.iter().map(|n| n.to_string()).collect(),
            primary,
            state: meta.state,
            kind: meta.kind,
            refcount: meta.refcount,
            object_size: cache.object_size(),
            size: layout.map_or(0, |l| l.size),
            align: meta.align,
            flags: meta.flags,
            objs_per_slab: layout.map_or(0, |l| l.objects),
            order: layout.map_or(0, |l| l.order),
            sysfs_dir,
            is_alias,
        }
    }
}

pub(crate) fn add_stats(a: StorageStats, b: StorageStats) -> StorageStats {
    StorageStats {
        slabs: a.slabs + b.slabs,
        pages: a.pages + b.pages,
        total_objects: a.total_objects + b.total_objects,
        free_objects: a.free_objects + b.free_objects,
        sheaf_objects: a.sheaf_objects + b.sheaf_objects,
        sheaves: a.sheaves + b.sheaves,
        sheaf_bytes: a.sheaf_bytes + b.sheaf_bytes,
        partial_slabs: a.partial_slabs + b.partial_slabs,
    }
}
