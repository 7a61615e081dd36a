//! The creation decision: given the registry and a request, what
//! `__kmem_cache_create_args()` does with it — merge into which cache and
//! why, or why not and what is created instead.
//!
//! One function with two callers: cache creation acts on its answer, and
//! `--explain` prints it. The explanation is the decision by construction:
//! both walk the same gates in the kernel's order (the kernel generation's
//! gates, then the scheme's), the same preconditions of `find_mergeable()`,
//! and the same `slab_caches` walk with `check_target()` deciding each
//! candidate. Explaining only adds what the decision does not need: what
//! `find_mergeable()` would have returned behind a gate, and the rejected
//! candidates of the request's stride.

use std::fmt;

use crate::config::{PTR_SIZE, SlabConfig};
use crate::flags::{SLAB_DEBUG_FLAGS, SLAB_KMALLOC, SLAB_MERGE_SAME, SLAB_NO_MERGE, SlabFlags};
use crate::schemes::ModuleStaticFallback;
use crate::slab_common::merge::{Mismatch, NoMergeReason, TargetView, check_target, merge_request};
use crate::slab_common::registry::{InstPtr, Registry};
use crate::slab_common::request::{CreateEntry, KmemCacheArgs, PlacementKind};

/// A request as the decision sees it: the flags and arguments after the
/// entry's preparation ([`entry_flags`], [`sanitise_usercopy`], and the
/// scheme's static flags for a static instance).
pub(crate) struct Query<'a> {
    pub(crate) name: &'a str,
    pub(crate) size: u32,
    pub(crate) args: &'a KmemCacheArgs,
    pub(crate) flags: SlabFlags,
    pub(crate) entry: CreateEntry,
    pub(crate) placement: PlacementKind,
}

/// What creation does.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Verdict {
    /// Merge into this target (how: the scheme's [`crate::schemes::MergeOutcome`]).
    Merge(InstPtr),
    /// A hidden dynamic primary, and the module static as its alias.
    HiddenPrimary,
    /// A new cache of its own.
    NewCache,
}

/// The decision, with the reason when it is no merge.
pub(crate) struct Decided {
    pub(crate) verdict: Verdict,
    /// Why no merge (`None` when merged, or for the boot entries).
    pub(crate) reason: Option<NoMergeReason>,
    /// Explaining only: what `find_mergeable()` would have returned behind a gate.
    pub(crate) would_merge_into: Option<InstPtr>,
    /// The normalised stride, if the request is mergeable at all.
    pub(crate) stride: Option<u32>,
    /// Explaining only: caches of the same stride, and why each was rejected.
    pub(crate) candidates: Vec<Candidate>,
}

/// Decides `q` against `reg`. `explain` walks on behind a gate and collects
/// the rejected candidates; the verdict is the same either way.
pub(crate) fn decide(cfg: &SlabConfig, reg: &Registry, q: &Query<'_>, explain: bool) -> Decided {
    let rules = cfg.scheme.rules();
    let no_merge = |reason: Option<NoMergeReason>, stride, would_merge_into, candidates| {
        let verdict = if q.placement == PlacementKind::ModuleStatic
            && rules.module_static_fallback() == ModuleStaticFallback::HiddenPrimary
        {
            Verdict::HiddenPrimary
        } else {
            Verdict::NewCache
        };
        Decided { verdict, reason, would_merge_into, stride, candidates }
    };
    // create_boot_cache() and create_kmalloc_cache() never call __kmem_cache_alias().
    if q.entry != CreateEntry::KmemCacheCreate {
        return Decided {
            verdict: Verdict::NewCache,
            reason: None,
            would_merge_into: None,
            stride: None,
            candidates: Vec::new(),
        };
    }
    let gate = alias_gate(cfg, q.args, q.flags);
    let req = match merge_request(cfg, q.size, q.args.align, q.flags, q.name, q.args.ctor.is_some(), q.args.usersize) {
        Ok(req) => req,
        Err(why) => return no_merge(Some(gate.unwrap_or(NoMergeReason::Request(why))), None, None, Vec::new()),
    };
    if gate.is_some() && !explain {
        return no_merge(gate, Some(req.size), None, Vec::new());
    }
    // find_mergeable(): the oldest compatible cache of slab_caches. Creation
    // asks the index; an explanation walks the list, testing every cache, to
    // name the rejected ones (the property test holds the two equal).
    let mut target = None;
    let mut candidates = Vec::new();
    if !explain {
        target = reg.find_mergeable(&req);
        debug_assert!(target.is_none_or(|p| check_target(cfg, &req, &TargetView::of(p.get())).is_ok()));
    } else {
        for p in reg.listed() {
            let inst = p.get();
            let view = TargetView::of(inst);
            match check_target(cfg, &req, &view) {
                Ok(()) => {
                    target = Some(p);
                    break;
                }
                Err(mismatch) if view.size == req.size => {
                    let why = mismatch_text(&mismatch, req.flags, &view);
                    candidates.push(Candidate { name: inst.name(), dir: inst.sysfs_dir(), mismatch, why });
                }
                Err(_) => {}
            }
        }
    }
    match (gate, target) {
        (Some(reason), target) => no_merge(Some(reason), Some(req.size), target, candidates),
        (None, Some(target)) => Decided {
            verdict: Verdict::Merge(target),
            reason: None,
            would_merge_into: None,
            stride: Some(req.size),
            candidates,
        },
        (None, None) => no_merge(Some(NoMergeReason::NoCompatibleCache), Some(req.size), None, candidates),
    }
}

/// A cache of the registry that `find_mergeable()` rejected, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// `s->name`.
    pub name: String,
    /// Its sysfs directory.
    pub dir: String,
    /// The test that failed.
    pub mismatch: Mismatch,
    /// The failed test in words, naming the kernel rule.
    pub why: String,
}

/// What creation decided, in names (for `--explain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Created by `create_boot_cache()` or `create_kmalloc_cache()`, which
    /// never call `__kmem_cache_alias()`.
    NoAliasAttempt(CreateEntry),
    /// `find_mergeable()` returned `target`: mainline and Viro's schemes hand
    /// back that instance (`__kmem_cache_alias()`); the primary scheme makes a
    /// new alias instance of it.
    Merged {
        /// The target's name.
        target: String,
        /// The target's sysfs directory.
        dir: String,
        /// The scheme made a separate alias instance.
        alias_instance: bool,
    },
    /// Primary scheme: a module static with no compatible primary gets a
    /// hidden dynamic primary and becomes its alias.
    HiddenPrimary {
        /// Why it merged into no existing primary.
        reason: NoMergeReason,
    },
    /// No merge.
    NotMerged {
        /// The rule that decided.
        reason: NoMergeReason,
        /// What `find_mergeable()` would have returned had a gate not stopped the attempt.
        would_merge_into: Option<(String, String)>,
        /// The normalised stride of the request, if the request is mergeable at all.
        stride: Option<u32>,
        /// Caches of the same stride, and why each was rejected.
        candidates: Vec<Candidate>,
    },
}

impl Decided {
    /// The decision in names.
    pub(crate) fn describe(self, cfg: &SlabConfig, entry: CreateEntry) -> Decision {
        let named = |p: InstPtr| (p.get().name(), p.get().sysfs_dir());
        match (self.verdict, self.reason) {
            (Verdict::Merge(target), _) => {
                let (target, dir) = named(target);
                let alias_instance = cfg.scheme.rules().merge_outcome() == crate::schemes::MergeOutcome::AliasInstance;
                Decision::Merged { target, dir, alias_instance }
            }
            (Verdict::HiddenPrimary, reason) => {
                Decision::HiddenPrimary { reason: reason.unwrap_or(NoMergeReason::NoCompatibleCache) }
            }
            (Verdict::NewCache, None) => Decision::NoAliasAttempt(entry),
            (Verdict::NewCache, Some(reason)) => Decision::NotMerged {
                reason,
                would_merge_into: self.would_merge_into.map(named),
                stride: self.stride,
                candidates: self.candidates,
            },
        }
    }
}

fn mismatch_text(m: &Mismatch, req_flags: SlabFlags, view: &TargetView) -> String {
    match m {
        Mismatch::Unmergeable(why) => why.to_string(),
        Mismatch::Size { want, have } => format!(
            "find_mergeable(): size {want} does not fit s->size {have} (needs s->size - {PTR_SIZE} < size <= s->size)"
        ),
        Mismatch::MergeSame => format!(
            "find_mergeable(): SLAB_MERGE_SAME flags differ (request {}, cache {})",
            req_flags.mask(SLAB_MERGE_SAME),
            view.flags.mask(SLAB_MERGE_SAME)
        ),
        Mismatch::Alignment { align } => {
            format!("find_mergeable(): s->size {} is not a multiple of the requested align {align}", view.size)
        }
    }
}

/// A request after `__kmem_cache_create_args()`'s preparation.
pub(crate) struct Prepared {
    /// The flags merging and the new cache see.
    pub(crate) flags: SlabFlags,
    /// The arguments, with the usercopy region sanitised or set by the entry.
    pub(crate) args: KmemCacheArgs,
    /// An inconsistent usercopy region was dropped (the kernel WARNs).
    pub(crate) usercopy_dropped: bool,
}

/// What `__kmem_cache_create_args()` (or a boot entry) does to a request
/// before it looks for a merge: [`entry_flags`] and [`sanitise_usercopy`];
/// `create_kmalloc_cache()`'s `SLAB_KMALLOC` and `0/size` usercopy region;
/// `create_boot_cache()`'s empty region; and a static instance's flags from
/// the scheme.
pub(crate) fn prepare(
    cfg: &SlabConfig,
    size: u32,
    flags: SlabFlags,
    args: &KmemCacheArgs,
    entry: CreateEntry,
    placement: PlacementKind,
) -> Prepared {
    let mut args = args.clone();
    let mut usercopy_dropped = false;
    let mut flags = match entry {
        CreateEntry::KmemCacheCreate => {
            let flags = entry_flags(cfg, flags, &args);
            usercopy_dropped = sanitise_usercopy(cfg, size, &mut args) && cfg.hardened_usercopy;
            flags
        }
        CreateEntry::CreateKmallocCache => {
            // create_kmalloc_cache(): create_boot_cache(..., flags | SLAB_KMALLOC, 0, size).
            args.useroffset = 0;
            args.usersize = if cfg.hardened_usercopy { size } else { 0 };
            flags | SLAB_KMALLOC
        }
        CreateEntry::CreateBootCache => {
            args.useroffset = 0;
            args.usersize = 0;
            flags
        }
    };
    let rules = cfg.scheme.rules();
    if placement != PlacementKind::Dynamic && rules.has_static_instances() {
        flags = rules.static_flags(flags);
    }
    Prepared { flags, args, usercopy_dropped }
}

/// The flag preparation of `__kmem_cache_create_args()` before the lock:
/// debug flags go without `CONFIG_SLUB_DEBUG`; 7.0 turns an explicit
/// `sheaf_capacity` into `SLAB_NO_MERGE`; before 6.9 `flags &=
/// CACHE_CREATE_MASK` drops `SLAB_MEM_SPREAD` (permitted there, so taking
/// it before the `SLAB_FLAGS_PERMITTED` test changes no verdict).
pub(crate) fn entry_flags(cfg: &SlabConfig, mut flags: SlabFlags, args: &KmemCacheArgs) -> SlabFlags {
    if !cfg.slub_debug_config {
        flags = flags.without(SLAB_DEBUG_FLAGS);
    }
    if cfg.merge_rules.sheaf_capacity_is_no_merge() && args.sheaf_capacity != 0 {
        flags |= SLAB_NO_MERGE;
    }
    flags.without(cfg.merge_rules.cache_create_mask_drops())
}

/// The usercopy sanitising of `__kmem_cache_create_args()`: without
/// `CONFIG_HARDENED_USERCOPY`, or with a region outside the object, there is
/// no region. Returns true if the region was inconsistent (the kernel WARNs).
pub(crate) fn sanitise_usercopy(cfg: &SlabConfig, size: u32, args: &mut KmemCacheArgs) -> bool {
    let inconsistent =
        (args.usersize == 0 && args.useroffset != 0) || size < args.usersize || size - args.usersize < args.useroffset;
    if !cfg.hardened_usercopy || inconsistent {
        args.useroffset = 0;
        args.usersize = 0;
    }
    inconsistent
}

/// The gates in front of `find_mergeable()`, in the kernel's order: the
/// kernel generation's, then the scheme's. Why no alias is attempted at all,
/// if that is so.
pub(crate) fn alias_gate(cfg: &SlabConfig, args: &KmemCacheArgs, flags: SlabFlags) -> Option<NoMergeReason> {
    // Before 7.0 only caches without a usercopy region try to alias; 6.18
    // also skips those with an explicit sheaf capacity.
    if cfg.merge_rules.usercopy_skips_alias() && args.usersize != 0 {
        return Some(NoMergeReason::UsercopyGate);
    }
    if cfg.merge_rules.sheaves_block_merging() && args.sheaf_capacity != 0 {
        return Some(NoMergeReason::SheafCapacityGate);
    }
    cfg.scheme.rules().alias_gate(flags).map(NoMergeReason::from)
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::NoAliasAttempt(entry) => {
                write!(f, "not merged: {entry}() creates the cache directly and never calls __kmem_cache_alias()")
            }
            Decision::Merged { target, dir, alias_instance: false } => write!(
                f,
                "merged: find_mergeable() returned {target} ({dir}), the oldest compatible cache; \
                 __kmem_cache_alias() hands back that instance with refcount+1"
            ),
            Decision::Merged { target, dir, alias_instance: true } => write!(
                f,
                "merged: find_mergeable() returned primary {target} ({dir}); the name gets its own \
                 alias instance whose primary_cache is {target}, sharing its slabs and sheaves"
            ),
            Decision::HiddenPrimary { reason } => write!(
                f,
                "no compatible primary ({reason}): a hidden dynamic primary owns the slabs and the module \
                 static becomes its alias (primary scheme rule for module statics)"
            ),
            Decision::NotMerged { reason, .. } => write!(f, "not merged: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::{MergeRules, SlabConfig};
    use crate::flags::{SLAB_ACCOUNT, SLAB_HWCACHE_ALIGN, SLAB_NO_MERGE, SLAB_RECLAIM_ACCOUNT};
    use crate::schemes::Scheme;
    use crate::slab_common::cache::{Cache, kmem_cache_destroy};
    use crate::slab_common::world::World;

    #[derive(Clone, Debug)]
    enum Op {
        Create { size: u32, align: u32, flags: u32, image_static: bool, args: ArgsKind },
        Destroy(usize),
    }

    /// The arguments that make a cache or a request unmergeable, or gate
    /// the alias attempt, depending on the release.
    #[derive(Clone, Copy, Debug)]
    enum ArgsKind {
        Plain,
        SheafCapacity,
        Usercopy,
    }

    fn op() -> impl Strategy<Value = Op> {
        let args =
            prop_oneof![8 => Just(ArgsKind::Plain), 1 => Just(ArgsKind::SheafCapacity), 1 => Just(ArgsKind::Usercopy)];
        prop_oneof![
            3 => (1u32..200, prop::sample::select(vec![0u32, 8, 16, 32, 64]), 0u32..16, prop::bool::weighted(0.3), args)
                .prop_map(|(size, align, flags, image_static, args)| Op::Create { size, align, flags, image_static, args }),
            1 => (0usize..64).prop_map(Op::Destroy),
        ]
    }

    fn flags_of(bits: u32) -> SlabFlags {
        let all = [SLAB_ACCOUNT, SLAB_HWCACHE_ALIGN, SLAB_RECLAIM_ACCOUNT, SLAB_NO_MERGE];
        all.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).fold(SlabFlags::EMPTY, |a, (_, f)| a | *f)
    }

    fn args_of(kind: ArgsKind, align: u32, size: u32, cfg: &SlabConfig) -> KmemCacheArgs {
        let mut args = KmemCacheArgs::align(align);
        match kind {
            ArgsKind::Plain => {}
            ArgsKind::SheafCapacity if cfg.merge_rules.has_sheaf_capacity() => args.sheaf_capacity = 8,
            ArgsKind::SheafCapacity => {}
            ArgsKind::Usercopy => args.usersize = size.min(8),
        }
        args
    }

    /// The merge index holds exactly the listed caches `slab_unmergeable()`
    /// accepts, each under its `(s->size, s->flags & SLAB_MERGE_SAME)`, each
    /// class in `slab_caches` order.
    fn index_is_the_list(cfg: &SlabConfig, reg: &Registry) -> Result<(), TestCaseError> {
        let mut want: Vec<((u32, SlabFlags), Vec<crate::slab_common::ids::CacheId>)> = Vec::new();
        for id in reg.slab_caches.iter() {
            let view = TargetView::of(reg.caches[id].get());
            if crate::slab_common::merge::slab_unmergeable(cfg, &view).is_some() {
                continue;
            }
            let key = (view.size, view.flags.mask(SLAB_MERGE_SAME));
            match want.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ids)) => ids.push(id),
                None => want.push((key, vec![id])),
            }
        }
        let mut have = reg.merge_index.classes();
        want.sort_by_key(|(k, _)| *k);
        have.sort_by_key(|(k, _)| *k);
        prop_assert_eq!(have, want);
        Ok(())
    }

    proptest! {
        /// mm/slab_common.c: find_mergeable(): the index answers what the walk
        /// over slab_caches answers (the oldest compatible cache), whatever
        /// was created and destroyed before, in every scheme and release;
        /// and after every step the index files exactly the listed targets.
        #[test]
        fn indexed_find_mergeable_is_the_walk(
            scheme in prop::sample::select(Scheme::ALL.to_vec()),
            rules in prop::sample::select(MergeRules::ALL.to_vec()),
            ops in prop::collection::vec(op(), 1..60),
        ) {
            let world = World::new(SlabConfig { image_statics: 64, merge_rules: rules, ..SlabConfig::tiny(scheme, 1, 2, 4) });
            let mut handles: Vec<Cache<'_>> = Vec::new();
            let mut next_static = 0;
            for (i, op) in ops.into_iter().enumerate() {
                let cfg = world.config();
                match op {
                    Op::Create { size, align, flags, image_static, args } => {
                        let image_static = image_static && scheme.rules().has_static_instances();
                        let placement = if image_static { PlacementKind::Static } else { PlacementKind::Dynamic };
                        let name = format!("c{i}");
                        let args = args_of(args, align, size, cfg);
                        // SLAB_NO_MERGE is 6.5's: an older release refuses it.
                        let flags = flags_of(flags).mask(cfg.merge_rules.flags_permitted());
                        let prepared = prepare(cfg, size, flags, &args, CreateEntry::KmemCacheCreate, placement);
                        let query = Query { name: &name, size, args: &prepared.args, flags: prepared.flags, entry: CreateEntry::KmemCacheCreate, placement };
                        let reg = world.core.slab_mutex.lock();
                        let indexed = decide(cfg, &reg, &query, false).verdict;
                        let walked = decide(cfg, &reg, &query, true).verdict;
                        drop(reg);
                        let target = |v: Verdict| match v { Verdict::Merge(p) => Some(p.0), _ => None };
                        prop_assert_eq!(target(indexed), target(walked), "request {} size {} align {} flags {}", name, size, align, flags);
                        if image_static {
                            world.kmem_cache_setup_image(next_static, &name, size, args, flags).unwrap();
                            next_static += 1;
                        } else {
                            handles.push(world.kmem_cache_create(&name, size, args, flags).unwrap());
                        }
                    }
                    Op::Destroy(i) if !handles.is_empty() => {
                        let h = handles.remove(i % handles.len());
                        kmem_cache_destroy(h).unwrap();
                    }
                    Op::Destroy(_) => {}
                }
                index_is_the_list(cfg, &world.core.slab_mutex.lock())?;
            }
        }
    }
}
