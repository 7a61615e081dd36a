//! Vlastimil Babka's `primary_cache` design.
//!
//! Every creator gets an instance of its own; an alias names its primary in
//! `primary_cache` and shares the primary's storage (per-cpu sheaves,
//! per-node slabs), so new slabs and sheaves name the primary. Static
//! instances stay mergeable (they become aliases and keep their address), an
//! alias is destroyed on its own, and a static in a module that finds no
//! compatible primary gets a hidden dynamic one. Choices the thread left
//! open are in `design/primary-cache.md`.

use super::{
    AliasListing, DestroyStyle, InstanceFacts, MergeOutcome, ModuleStaticFallback, SchemeGate, SchemeRefusal,
    SchemeRules, TargetFacts,
};
use crate::flags::{SLAB_PREALLOCATED, SlabFlags};

/// The primary-cache rules.
pub struct Primary;

impl SchemeRules for Primary {
    fn name(&self) -> &'static str {
        "primary"
    }

    fn has_static_instances(&self) -> bool {
        true
    }

    /// The static keeps `SLAB_PREALLOCATED` (its memory is not the allocator's)
    /// but stays mergeable.
    fn static_flags(&self, flags: SlabFlags) -> SlabFlags {
        flags | SLAB_PREALLOCATED
    }

    /// The primary scheme keeps its rules out of the flags.
    fn never_merge(&self) -> SlabFlags {
        SlabFlags::EMPTY
    }

    fn alias_gate(&self, _flags: SlabFlags) -> Option<SchemeGate> {
        None
    }

    /// Only a primary is a target; an alias redirects to its primary, which
    /// is older than it, so the walk's answer is unchanged.
    fn unmergeable(&self, target: TargetFacts) -> Option<SchemeRefusal> {
        target.is_alias.then_some(SchemeRefusal::Alias)
    }

    fn merge_outcome(&self) -> MergeOutcome {
        MergeOutcome::AliasInstance
    }

    fn module_static_fallback(&self) -> ModuleStaticFallback {
        ModuleStaticFallback::HiddenPrimary
    }

    /// Names follow mainline: a mergeable primary lives under its unique id.
    fn sysfs_self_named(&self, _flags: SlabFlags) -> bool {
        false
    }

    fn destroy_style(&self) -> DestroyStyle {
        DestroyStyle::SeparateInstances
    }

    /// No storage is owned by a module static (no slab or sheaf points into
    /// module memory), and a primary's refcount is its own creator (while
    /// live, and unless hidden) plus its listed aliases.
    fn check_invariants(&self, caches: &[InstanceFacts]) -> Result<(), String> {
        for c in caches {
            if c.owns_storage && c.module_static {
                return Err(format!("module static {} owns slabs (a primary in module memory)", c.name));
            }
            if c.is_alias || c.refcount < 0 {
                continue;
            }
            let own = i32::from(c.live && !c.hidden_primary);
            if c.refcount != own + c.aliases {
                return Err(format!(
                    "primary {} has refcount {} but {own} + {} references",
                    c.name, c.refcount, c.aliases
                ));
            }
        }
        Ok(())
    }

    fn alias_listing(&self) -> AliasListing {
        AliasListing::Instances
    }
}
