//! The designs compared, as peers: at each point where they differ, what
//! each one does.
//!
//! The cache lifecycle ([`crate::slab_common`]) follows the kernel's flow —
//! `__kmem_cache_create_args()`, `find_mergeable()`, `__kmem_cache_alias()`,
//! `sysfs_slab_add()`, `kmem_cache_destroy()` — and asks [`Scheme::rules`]
//! at the points listed on [`SchemeRules`]. Each design's answers live in its
//! own file: [`mainline`], [`viro`] (Al Viro's v3, and v1 as a variant) and
//! [`primary`] (Vlastimil Babka's `primary_cache`). `slab_nomerge` is a boot
//! knob of every scheme ([`crate::SlabConfig::slab_nomerge`]), not a scheme.
//!
//! This folder imports only the flags below it: the answers are in a small
//! vocabulary of its own, which the lifecycle turns into its actions.

pub mod mainline;
pub mod primary;
pub mod viro;

use crate::flags::SlabFlags;

/// Which cache-sharing design a world runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Mainline: an alias is the very same `kmem_cache` with `refcount++`.
    Mainline,
    /// Al Viro's v3 series: static instances never become aliases; kernel-image
    /// statics may be merge targets; module statics are unmergeable both ways.
    ViroV3,
    /// Al Viro's v1 series: every static instance is `SLAB_NO_MERGE`.
    ViroV1,
    /// Vlastimil Babka's `primary_cache` design: aliases are separate instances
    /// that share their primary's storage.
    Primary,
}

impl Scheme {
    /// Every scheme, in report order.
    pub const ALL: [Scheme; 4] = [Scheme::Mainline, Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary];

    /// The design's rules.
    pub fn rules(self) -> &'static dyn SchemeRules {
        match self {
            Scheme::Mainline => &mainline::Mainline,
            Scheme::ViroV3 => &viro::ViroV3,
            Scheme::ViroV1 => &viro::ViroV1,
            Scheme::Primary => &primary::Primary,
        }
    }

    /// The stable name used by the report (`mainline`, `viro-v3`, `viro-v1`, `primary`).
    pub fn name(self) -> &'static str {
        self.rules().name()
    }

    /// Parses [`Scheme::name`].
    pub fn parse(text: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == text)
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a design rules a cache out as a merge target, beyond `slab_unmergeable()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemeRefusal {
    /// Primary scheme: an alias is never a target; its primary is.
    Alias,
    /// Al Viro v3: a static instance in a module is unmergeable both ways.
    ModuleStatic,
}

/// A gate of a design in front of `find_mergeable()`: no alias is attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemeGate {
    /// v3 02/10 `__kmem_cache_alias()`: a preallocated instance never becomes an alias.
    Preallocated,
}

/// What a merge produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// `__kmem_cache_alias()`: the creator gets the target instance itself,
    /// `refcount++`, `object_size` and `inuse` widened, a sysfs link for the new name.
    SameInstance,
    /// The creator gets an instance of its own (its name, size, flags; a
    /// static keeps its address) that shares the target's storage and names
    /// it in `primary_cache`.
    AliasInstance,
}

/// What a static instance in a module gets when no compatible cache exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleStaticFallback {
    /// A cache of its own, in module memory.
    OwnCache,
    /// A hidden dynamic primary owns the slabs and the static is its alias,
    /// so no slab or sheaf ever points into module memory.
    HiddenPrimary,
}

/// How a creator's `kmem_cache_destroy()` proceeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestroyStyle {
    /// `if (--s->refcount) return;` then shut the cache down: every creator of
    /// a merged cache holds the same instance, and the first creator's name
    /// and sysfs link stay until the last one goes.
    SharedRefcount,
    /// Every creator holds its own instance: an alias goes on its own with its
    /// link; a primary whose creator goes while aliases remain turns headless
    /// (its name and link go, its storage and directory stay); the storage is
    /// shut down when the last instance of it goes.
    SeparateInstances,
}

/// Where `slabinfo -a` finds the groups of names that share slabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AliasListing {
    /// The sysfs links, as `tools/mm/slabinfo` reads them.
    SysfsLinks,
    /// The instances: each primary with its alias instances.
    Instances,
}

/// What a design needs to know of a candidate merge target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetFacts {
    /// The candidate is an alias instance of another one.
    pub is_alias: bool,
    /// The candidate is a static instance in a module's memory.
    pub module_static: bool,
}

/// What a design's invariants need to know of one listed instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceFacts {
    /// `s->name`.
    pub name: String,
    /// A static instance in a module's memory.
    pub module_static: bool,
    /// A hidden primary (created for a module static; no creator of its own).
    pub hidden_primary: bool,
    /// Live (not headless).
    pub live: bool,
    /// An alias instance of another instance.
    pub is_alias: bool,
    /// The instance owns a storage (it is what its slabs name).
    pub owns_storage: bool,
    /// `s->refcount`.
    pub refcount: i32,
    /// Listed alias instances that name this one as their primary.
    pub aliases: i32,
}

/// The points where the designs differ, in the order creation and
/// destruction meet them. Every method has the design's own answer; none
/// has a default, so a new design must state each one.
pub trait SchemeRules: Sync {
    /// The stable name (`mainline`, `viro-v3`, `viro-v1`, `primary`).
    fn name(&self) -> &'static str;

    /// Whether the design has `kmem_cache_setup()`: static instances can be
    /// set up, and a replay sets up its static set as such.
    fn has_static_instances(&self) -> bool;

    /// The flags a static instance gets at setup.
    fn static_flags(&self, flags: SlabFlags) -> SlabFlags;

    /// The flags the design relies on being in `SLAB_NEVER_MERGE` to keep
    /// its caches out of merging, whatever the release: added to the
    /// release's own set where it lacks them (the design carries the
    /// prerequisite it was written against).
    fn never_merge(&self) -> SlabFlags;

    /// The design's own gate in front of `find_mergeable()`, after the
    /// kernel generation's gates.
    fn alias_gate(&self, flags: SlabFlags) -> Option<SchemeGate>;

    /// The design's own reason a cache is no merge target, checked after
    /// every rule of `slab_unmergeable()`.
    fn unmergeable(&self, target: TargetFacts) -> Option<SchemeRefusal>;

    /// What merging into a target produces.
    fn merge_outcome(&self) -> MergeOutcome;

    /// What a module static gets when it finds no compatible cache.
    fn module_static_fallback(&self) -> ModuleStaticFallback;

    /// `sysfs_slab_add()`: whether a cache with these (final) flags gets a
    /// directory of its own name although it is mergeable.
    fn sysfs_self_named(&self, flags: SlabFlags) -> bool;

    /// How a creator's destroy proceeds.
    fn destroy_style(&self) -> DestroyStyle;

    /// The design's invariants over the listed instances (oldest first),
    /// beyond those every design keeps; the first violation.
    fn check_invariants(&self, caches: &[InstanceFacts]) -> Result<(), String>;

    /// Where `slabinfo -a` finds its groups.
    fn alias_listing(&self) -> AliasListing;
}
