//! Al Viro's static `kmem_cache` instances ("kmem_cache instances with static
//! storage duration"), v3 and v1.
//!
//! Both mark a static instance `SLAB_PREALLOCATED` at `kmem_cache_setup()`
//! (v3 02/10) and give it a sysfs directory of its own name, since it can
//! never be an alias. v3 lets a kernel-image static be a merge target, keeps
//! every static from becoming an alias (a gate in `__kmem_cache_alias()`),
//! and makes a static in a module unmergeable both ways (03/10). v1 simply
//! adds `SLAB_NO_MERGE` to every static (v1 01/15). Otherwise both are
//! mainline: a merge hands back the target instance, destroy counts down.

use super::{
    AliasListing, DestroyStyle, InstanceFacts, MergeOutcome, ModuleStaticFallback, SchemeGate, SchemeRefusal,
    SchemeRules, TargetFacts,
};
use crate::flags::{SLAB_NO_MERGE, SLAB_PREALLOCATED, SlabFlags};

/// Al Viro's v3 series.
pub struct ViroV3;

/// Al Viro's v1 series.
pub struct ViroV1;

impl SchemeRules for ViroV3 {
    fn name(&self) -> &'static str {
        "viro-v3"
    }

    fn has_static_instances(&self) -> bool {
        true
    }

    /// v3 02/10: `SLAB_PREALLOCATED`.
    fn static_flags(&self, flags: SlabFlags) -> SlabFlags {
        flags | SLAB_PREALLOCATED
    }

    /// v3 keeps statics out of merging by its own gate and rule, not a flag.
    fn never_merge(&self) -> SlabFlags {
        SlabFlags::EMPTY
    }

    /// v3 02/10 `__kmem_cache_alias()`: "no aliases - we are using this one".
    fn alias_gate(&self, flags: SlabFlags) -> Option<SchemeGate> {
        flags.intersects(SLAB_PREALLOCATED).then_some(SchemeGate::Preallocated)
    }

    /// v3 03/10: a static in a module is no target (its memory goes with the module).
    fn unmergeable(&self, target: TargetFacts) -> Option<SchemeRefusal> {
        target.module_static.then_some(SchemeRefusal::ModuleStatic)
    }

    fn merge_outcome(&self) -> MergeOutcome {
        MergeOutcome::SameInstance
    }

    fn module_static_fallback(&self) -> ModuleStaticFallback {
        ModuleStaticFallback::OwnCache
    }

    /// A preallocated instance is never an alias, so it is named after itself.
    fn sysfs_self_named(&self, flags: SlabFlags) -> bool {
        flags.intersects(SLAB_PREALLOCATED)
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

impl SchemeRules for ViroV1 {
    fn name(&self) -> &'static str {
        "viro-v1"
    }

    fn has_static_instances(&self) -> bool {
        true
    }

    /// v1 01/15: `SLAB_PREALLOCATED | SLAB_NO_MERGE`.
    fn static_flags(&self, flags: SlabFlags) -> SlabFlags {
        flags | SLAB_PREALLOCATED | SLAB_NO_MERGE
    }

    /// v1 01/15 was written against a tree with d0bf7d5759c1 (6.5), where
    /// `SLAB_NO_MERGE` is in `SLAB_NEVER_MERGE`. On an older release (6.1)
    /// the flag means nothing to `slab_unmergeable()`/`find_mergeable()`,
    /// so a static would be handed an existing cache by
    /// `__kmem_cache_alias()` and its own memory left unset: the series
    /// brings the flag's never-merge entry along.
    fn never_merge(&self) -> SlabFlags {
        SLAB_NO_MERGE
    }

    /// v1 needs no gate of its own: `SLAB_NO_MERGE` makes `find_mergeable()` refuse.
    fn alias_gate(&self, _flags: SlabFlags) -> Option<SchemeGate> {
        None
    }

    /// `SLAB_NO_MERGE` already makes every static unmergeable.
    fn unmergeable(&self, _target: TargetFacts) -> Option<SchemeRefusal> {
        None
    }

    fn merge_outcome(&self) -> MergeOutcome {
        MergeOutcome::SameInstance
    }

    fn module_static_fallback(&self) -> ModuleStaticFallback {
        ModuleStaticFallback::OwnCache
    }

    fn sysfs_self_named(&self, flags: SlabFlags) -> bool {
        flags.intersects(SLAB_PREALLOCATED)
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
