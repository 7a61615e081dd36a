//! Merge rules: may a cache be a merge target, and which cache does a new
//! request merge into.
//!
//! Mirrors `mm/slab_common.c`: `slab_unmergeable()` and `find_mergeable()`
//! (6.18 signature, with each release's `SLAB_NEVER_MERGE` and gates
//! selected by [`crate::config::MergeRules`]), plus each scheme's own refusals
//! ([`crate::schemes::SchemeRules::unmergeable`]). Every refusal carries the
//! rule that decided it, for `--explain`.

use crate::config::{PTR_SIZE, SlabConfig};
use crate::flags::*;
use crate::schemes::{SchemeGate, SchemeRefusal, TargetFacts};
use crate::slab_common::cache::{InstanceKind, KmemCache};
use crate::slub::layout::{align_up, calculate_alignment};

/// Why a cache cannot be a merge target (`slab_unmergeable()` returned 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unmergeable {
    /// `slab_nomerge` is set.
    SlabNomerge,
    /// A flag of `SLAB_NEVER_MERGE` is set (named).
    NeverMergeFlag(SlabFlags),
    /// The cache has a constructor.
    Ctor,
    /// `CONFIG_HARDENED_USERCOPY` and a usercopy region.
    Usercopy,
    /// 6.18: the cache has per-cpu sheaves from an explicit `sheaf_capacity`.
    Sheaves,
    /// `refcount < 0`: a boot cache.
    BootCache,
    /// Primary scheme: an alias is never a target; its primary is.
    Alias,
    /// Al Viro v3: a static instance in a module is unmergeable both ways.
    ModuleStatic,
}

impl std::fmt::Display for Unmergeable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unmergeable::SlabNomerge => write!(f, "slab_nomerge is set (slab_unmergeable)"),
            Unmergeable::NeverMergeFlag(flags) => write!(f, "{flags} is in SLAB_NEVER_MERGE (slab_unmergeable)"),
            Unmergeable::Ctor => write!(f, "it has a constructor (slab_unmergeable: s->ctor)"),
            Unmergeable::Usercopy => {
                write!(f, "it has a usercopy region with CONFIG_HARDENED_USERCOPY (slab_unmergeable: s->usersize)")
            }
            Unmergeable::Sheaves => write!(f, "it has per-cpu sheaves (6.18 slab_unmergeable: s->cpu_sheaves)"),
            Unmergeable::BootCache => write!(f, "it is a boot cache (slab_unmergeable: refcount < 0)"),
            Unmergeable::Alias => write!(f, "it is an alias; its primary is the target (primary scheme)"),
            Unmergeable::ModuleStatic => write!(f, "it is a static instance in a module (v3 03/10)"),
        }
    }
}

/// What merging needs to know about an existing cache.
pub(crate) struct TargetView {
    pub(crate) flags: SlabFlags,
    pub(crate) size: u32,
    pub(crate) has_ctor: bool,
    pub(crate) usersize: u32,
    pub(crate) explicit_sheaves: bool,
    pub(crate) refcount: i32,
    pub(crate) is_alias: bool,
    pub(crate) module_static: bool,
}

impl TargetView {
    pub(crate) fn of(cache: &KmemCache) -> TargetView {
        let meta = cache.meta.lock();
        let storage = cache.storage();
        TargetView {
            flags: meta.flags,
            size: storage.map_or(0, |s| s.layout.size),
            has_ctor: storage.is_some_and(|s| s.ctor.is_some()),
            usersize: meta.usersize,
            explicit_sheaves: meta.explicit_sheaves,
            refcount: meta.refcount,
            is_alias: cache.is_alias(),
            module_static: meta.kind == InstanceKind::ModuleStatic,
        }
    }
}

/// Mirrors `mm/slab_common.c`: `slab_unmergeable()`, plus the schemes' own rules.
pub(crate) fn slab_unmergeable(cfg: &SlabConfig, s: &TargetView) -> Option<Unmergeable> {
    if cfg.slab_nomerge {
        return Some(Unmergeable::SlabNomerge);
    }
    if s.flags.intersects(cfg.never_merge()) {
        return Some(Unmergeable::NeverMergeFlag(s.flags.mask(cfg.never_merge())));
    }
    if s.has_ctor {
        return Some(Unmergeable::Ctor);
    }
    if cfg.hardened_usercopy && s.usersize != 0 {
        return Some(Unmergeable::Usercopy);
    }
    if cfg.merge_rules.sheaves_block_merging() && s.explicit_sheaves {
        return Some(Unmergeable::Sheaves);
    }
    if s.refcount < 0 {
        return Some(Unmergeable::BootCache);
    }
    cfg.scheme
        .rules()
        .unmergeable(TargetFacts { is_alias: s.is_alias, module_static: s.module_static })
        .map(Unmergeable::from)
}

impl From<SchemeRefusal> for Unmergeable {
    fn from(why: SchemeRefusal) -> Unmergeable {
        match why {
            SchemeRefusal::Alias => Unmergeable::Alias,
            SchemeRefusal::ModuleStatic => Unmergeable::ModuleStatic,
        }
    }
}

impl From<SchemeGate> for NoMergeReason {
    fn from(gate: SchemeGate) -> NoMergeReason {
        match gate {
            SchemeGate::Preallocated => NoMergeReason::Preallocated,
        }
    }
}

/// Why a request does not merge at all (the preconditions of `find_mergeable()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoMergeReason {
    /// The request itself is unmergeable.
    Request(Unmergeable),
    /// Before 7.0, `__kmem_cache_create_args()` (`kmem_cache_create_usercopy()`
    /// before 6.12): a usercopy region skips the alias attempt.
    UsercopyGate,
    /// 6.18 `__kmem_cache_create_args()`: an explicit `sheaf_capacity` skips it.
    SheafCapacityGate,
    /// v3 02/10 `__kmem_cache_alias()`: a preallocated instance never becomes an alias.
    Preallocated,
    /// No existing cache passed every test; the closest candidates and why they failed.
    NoCompatibleCache,
}

impl std::fmt::Display for NoMergeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoMergeReason::Request(why) => write!(f, "the request is unmergeable: {why}"),
            NoMergeReason::UsercopyGate => {
                write!(f, "usercopy region: __kmem_cache_create_args() before 7.0 skips the alias attempt")
            }
            NoMergeReason::SheafCapacityGate => {
                write!(f, "explicit sheaf_capacity: 6.18 __kmem_cache_create_args() skips the alias attempt")
            }
            NoMergeReason::Preallocated => {
                write!(f, "SLAB_PREALLOCATED: v3 __kmem_cache_alias() never makes a static instance an alias")
            }
            NoMergeReason::NoCompatibleCache => write!(f, "no existing cache passed find_mergeable()"),
        }
    }
}

/// Why one candidate target was rejected by `find_mergeable()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// `slab_unmergeable(s)`.
    Unmergeable(Unmergeable),
    /// `size > s->size` or `s->size - size >= sizeof(void *)`.
    Size {
        /// The normalised requested size.
        want: u32,
        /// The candidate's stride.
        have: u32,
    },
    /// `(flags & SLAB_MERGE_SAME) != (s->flags & SLAB_MERGE_SAME)`.
    MergeSame,
    /// `s->size` is not a multiple of the requested alignment.
    Alignment {
        /// The requested alignment.
        align: u32,
    },
}

/// A merge request, normalised as `find_mergeable()` normalises it.
pub(crate) struct MergeRequest {
    pub(crate) size: u32,
    pub(crate) align: u32,
    pub(crate) flags: SlabFlags,
}

/// The preconditions of `find_mergeable()`; on success, the normalised request.
pub(crate) fn merge_request(
    cfg: &SlabConfig,
    size: u32,
    align: u32,
    flags: SlabFlags,
    name: &str,
    has_ctor: bool,
    usersize: u32,
) -> Result<MergeRequest, Unmergeable> {
    if cfg.slab_nomerge {
        return Err(Unmergeable::SlabNomerge);
    }
    if has_ctor {
        return Err(Unmergeable::Ctor);
    }
    if cfg.hardened_usercopy && usersize != 0 {
        return Err(Unmergeable::Usercopy);
    }
    let flags = cfg.kmem_cache_flags(flags, name);
    if flags.intersects(cfg.never_merge()) {
        return Err(Unmergeable::NeverMergeFlag(flags.mask(cfg.never_merge())));
    }
    let size = align_up(size, PTR_SIZE);
    let align = calculate_alignment(flags, align, size, cfg.cache_line_size);
    let size = align_up(size, align);
    Ok(MergeRequest { size, align, flags })
}

/// The tests of `find_mergeable()` against one candidate.
pub(crate) fn check_target(cfg: &SlabConfig, req: &MergeRequest, s: &TargetView) -> Result<(), Mismatch> {
    if let Some(why) = slab_unmergeable(cfg, s) {
        return Err(Mismatch::Unmergeable(why));
    }
    if req.size > s.size || s.size - req.size >= PTR_SIZE {
        return Err(Mismatch::Size { want: req.size, have: s.size });
    }
    if req.flags.mask(SLAB_MERGE_SAME) != s.flags.mask(SLAB_MERGE_SAME) {
        return Err(Mismatch::MergeSame);
    }
    if s.size & !(req.align - 1) != s.size {
        return Err(Mismatch::Alignment { align: req.align });
    }
    Ok(())
}
