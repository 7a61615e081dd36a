//! What a creator asks for: `struct kmem_cache_args`, the entry point, and
//! where the instance lives.

use std::fmt;

use crate::flags::SlabFlags;
use crate::slab_common::cache::KmemCache;
use crate::slab_common::ids::ModuleId;
use crate::slab_common::sysfs::SysfsName;
use crate::slub::storage::Ctor;

/// The arguments of `kmem_cache_create()` (`struct kmem_cache_args`).
#[derive(Clone, Debug, Default)]
pub struct KmemCacheArgs {
    /// Requested alignment, 0 = none.
    pub align: u32,
    /// Start of the usercopy region.
    pub useroffset: u32,
    /// Size of the usercopy region, 0 = none.
    pub usersize: u32,
    /// Custom free-pointer offset (with `use_freeptr_offset`).
    pub freeptr_offset: u32,
    /// Use `freeptr_offset`.
    pub use_freeptr_offset: bool,
    /// Constructor.
    pub ctor: Option<Ctor>,
    /// Explicit per-cpu sheaf capacity, 0 = automatic (7.0) or none (6.18).
    pub sheaf_capacity: u32,
}

impl KmemCacheArgs {
    /// Arguments with only an alignment (the legacy 5-argument form).
    pub fn align(align: u32) -> KmemCacheArgs {
        KmemCacheArgs { align, ..Default::default() }
    }
}

/// How a cache is created: the three entry points of a booting kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateEntry {
    /// `__kmem_cache_create_args()`: validated, tries to alias.
    KmemCacheCreate,
    /// `create_kmalloc_cache()`: usercopy 0/size, refcount 1, no alias attempt.
    CreateKmallocCache,
    /// `create_boot_cache()`: refcount -1, never a merge target.
    CreateBootCache,
}

impl CreateEntry {
    /// The kernel function.
    pub fn name(self) -> &'static str {
        match self {
            CreateEntry::KmemCacheCreate => "kmem_cache_create",
            CreateEntry::CreateKmallocCache => "create_kmalloc_cache",
            CreateEntry::CreateBootCache => "create_boot_cache",
        }
    }
}

impl fmt::Display for CreateEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the new cache's instance lives.
pub(crate) enum Placement<'a> {
    Dynamic,
    Static(&'a KmemCache),
    ModuleStatic(&'a KmemCache),
}

/// Where an instance lives, for a creation decision that creates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlacementKind {
    /// `kmem_cache_create()`: a dynamic instance.
    Dynamic,
    /// `kmem_cache_setup()` of a static instance of the kernel image.
    Static,
    /// `kmem_cache_setup()` of a static instance in a module's memory.
    ModuleStatic,
}

impl Placement<'_> {
    pub(crate) fn kind(&self) -> PlacementKind {
        match self {
            Placement::Dynamic => PlacementKind::Dynamic,
            Placement::Static(_) => PlacementKind::Static,
            Placement::ModuleStatic(_) => PlacementKind::ModuleStatic,
        }
    }
}

pub(crate) struct CreateRequest<'a> {
    /// The creator's name, allocated once: the handle, the instance and its
    /// sysfs entry share it.
    pub(crate) name: SysfsName,
    pub(crate) size: u32,
    pub(crate) args: KmemCacheArgs,
    pub(crate) flags: SlabFlags,
    pub(crate) entry: CreateEntry,
    pub(crate) placement: Placement<'a>,
    pub(crate) module: Option<ModuleId>,
}

impl<'a> CreateRequest<'a> {
    /// A `kmem_cache_create()`/`kmem_cache_setup()` call placed as given.
    pub(crate) fn create(
        name: &'a str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
        placement: Placement<'a>,
        module: Option<ModuleId>,
    ) -> CreateRequest<'a> {
        let name = SysfsName::from(name);
        CreateRequest { name, size, args, flags, entry: CreateEntry::KmemCacheCreate, placement, module }
    }
}
