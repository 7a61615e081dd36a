//! Mainline: `mm/slab_common.c` as it is.
//!
//! No static instances; a merge hands the creator the target instance itself
//! (`__kmem_cache_alias()`: `refcount++`, `object_size` and `inuse` widened, a sysfs link);
//! destroy counts the shared refcount down.

use super::{
    AliasListing, DestroyStyle, InstanceFacts, MergeOutcome, ModuleStaticFallback, SchemeGate, SchemeRefusal,
    SchemeRules, TargetFacts,
};
use crate::flags::SlabFlags;

/// The mainline rules.
pub struct Mainline;

impl SchemeRules for Mainline {
    fn name(&self) -> &'static str {
        "mainline"
    }

    /// Mainline has no `kmem_cache_setup()`: every cache is created dynamically.
    fn has_static_instances(&self) -> bool {
        false
    }

    fn static_flags(&self, flags: SlabFlags) -> SlabFlags {
        flags
    }

    /// Mainline marks nothing beyond what each release has.
    fn never_merge(&self) -> SlabFlags {
        SlabFlags::EMPTY
    }

    fn alias_gate(&self, _flags: SlabFlags) -> Option<SchemeGate> {
        None
    }

    fn unmergeable(&self, _target: TargetFacts) -> Option<SchemeRefusal> {
        None
    }

    fn merge_outcome(&self) -> MergeOutcome {
        MergeOutcome::SameInstance
    }

    fn module_static_fallback(&self) -> ModuleStaticFallback {
        ModuleStaticFallback::OwnCache
    }

    fn sysfs_self_named(&self, _flags: SlabFlags) -> bool {
        false
    }

    fn destroy_style(&self) -> DestroyStyle {
        DestroyStyle::SharedRefcount
    }

    fn check_invariants(&self, _caches: &[InstanceFacts]) -> Result<(), String> {
        Ok(())
    }

    fn alias_listing(&self) -> AliasListing {
        AliasListing::SysfsLinks
    }
}
