//! The kernel configuration and boot knobs that change slab behaviour.
//!
//! Defaults are those of a 6.18 x86_64 distribution kernel (the machine the
//! bundled trace and census come from): merging on, `CONFIG_HARDENED_USERCOPY=y`,
//! `CONFIG_MEMCG=y`, `CONFIG_SLUB_DEBUG=y` without `slab_debug=`, 64-byte cache
//! lines, 4 KiB pages.

use crate::flags::*;

/// `PAGE_SIZE` on x86_64.
pub const PAGE_SIZE: usize = 4096;
/// `PAGE_SHIFT` on x86_64.
pub const PAGE_SHIFT: u32 = 12;
/// `MAX_PAGE_ORDER` on x86_64.
pub const MAX_PAGE_ORDER: u32 = 10;
/// `KMALLOC_MAX_SIZE`: `1 << (MAX_PAGE_ORDER + PAGE_SHIFT)`.
pub const KMALLOC_MAX_SIZE: usize = 1 << (MAX_PAGE_ORDER + PAGE_SHIFT);
/// `sizeof(void *)`.
pub const PTR_SIZE: u32 = 8;
/// `ARCH_SLAB_MINALIGN`: `__alignof__(unsigned long long)`.
pub const ARCH_SLAB_MINALIGN: u32 = 8;
/// `ARCH_KMALLOC_MINALIGN` on x86_64.
pub const ARCH_KMALLOC_MINALIGN: u32 = 8;
/// `PAGE_ALLOC_COSTLY_ORDER`, the default `slub_max_order`.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// `MAX_OBJS_PER_PAGE`: `slab->objects` is 15 bits.
pub const MAX_OBJS_PER_PAGE: u32 = 32767;

pub use crate::schemes::Scheme;

/// The slab rules of one kernel release: 6.1, 6.6 and 6.12 (LTS), 6.18 (the
/// default, the bundled trace's kernel) and 7.0 (`--rules` on the command line).
///
/// Every point where these kernels differ in what this crate models is a
/// method here, and each difference is a row of [`DIFFERENCES`] naming the
/// kernel commit that made it; `design/kernels.md` holds that table and a
/// test keeps the two equal. The variants are ordered by release, so
/// `rules >= MergeRules::V6_12` reads as "6.12 or later".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MergeRules {
    /// 6.1 (LTS): no `SLAB_NO_MERGE`; `SLAB_KMALLOC` refused from callers;
    /// `SLAB_MEM_SPREAD` accepted (and dropped by SLUB's `CACHE_CREATE_MASK`);
    /// a `SLAB_TYPESAFE_BY_RCU` cache's sysfs directory goes in the deferred
    /// destroy work, after the grace period.
    V6_1,
    /// 6.6 (LTS): as 6.1, plus `SLAB_KMALLOC` and `SLAB_NO_MERGE` from callers.
    V6_6,
    /// 6.12 (LTS): `SLAB_MEM_SPREAD` is gone; `kmem_cache_destroy()` unlinks
    /// sysfs at once, `SLAB_TYPESAFE_BY_RCU` or not.
    V6_12,
    /// 6.18: `kmem_cache_args.sheaf_capacity` (opt-in sheaves); an explicit
    /// capacity skips the alias attempt and a cache with sheaves is no target.
    V6_18,
    /// 7.0: `SLAB_NEVER_MERGE` includes every debug flag; an explicit
    /// `sheaf_capacity` adds `SLAB_NO_MERGE`.
    V7_0,
}

/// One difference between a kernel release and the one before it in
/// [`MergeRules::ALL`], with the commit that made it and the test that shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The first release of [`MergeRules::ALL`] that behaves the new way.
    pub since: MergeRules,
    /// What changed, as this crate models it.
    pub what: &'static str,
    /// The commit: abbreviated hash and subject, or the patch's subject and
    /// posting where the mainline hash was not seen.
    pub commit: &'static str,
    /// The test that runs the same request under both releases.
    pub test: &'static str,
}

/// Every modelled difference between neighbouring releases of [`MergeRules::ALL`].
pub const DIFFERENCES: &[Difference] = &[
    Difference {
        since: MergeRules::V6_6,
        what: "`SLAB_KMALLOC` is accepted from callers (`SLAB_FLAGS_PERMITTED`, SLUB's `SLAB_CACHE_FLAGS`)",
        commit: "6cd6d33ca41f (\"mm/slub, kunit: Add a test case for kmalloc redzone check\", 6.2)",
        test: "tests/kernel_rules.rs: slab_kmalloc_is_refused_from_callers_before_6_2",
    },
    Difference {
        since: MergeRules::V6_6,
        what: "`SLAB_NO_MERGE` exists: accepted from callers and in `SLAB_NEVER_MERGE` (and, with `CONFIG_MEMCG`, on the normal kmalloc caches: seen in a 6.6-era `new_kmalloc_cache()`, its commit not identified)",
        commit: "d0bf7d5759c1 (\"mm/slab: introduce kmem_cache flag SLAB_NO_MERGE\", 6.5)",
        test: "tests/kernel_rules.rs: slab_no_merge_exists_from_6_5",
    },
    Difference {
        since: MergeRules::V6_12,
        what: "`SLAB_MEM_SPREAD` is gone: refused (before, accepted and dropped by SLUB's `CACHE_CREATE_MASK`)",
        commit: "f88c3fb81c4b (\"mm, slab: remove last vestiges of SLAB_MEM_SPREAD\", 6.9), after cdeeaaba1748 (\"mm, slab: deprecate SLAB_MEM_SPREAD flag\")",
        test: "tests/kernel_rules.rs: slab_mem_spread_is_accepted_until_6_9",
    },
    Difference {
        since: MergeRules::V6_12,
        what: "a `SLAB_TYPESAFE_BY_RCU` cache's sysfs directory goes inside `kmem_cache_destroy()`, not in the deferred destroy work after `rcu_barrier()`",
        commit: "4ec10268ed98 (\"mm, slab: unlink slabinfo, sysfs and debugfs immediately\", 6.12)",
        test: "tests/kernel_rules.rs: rcu_cache_sysfs_dir_lingers_until_the_grace_period_before_6_12",
    },
    Difference {
        since: MergeRules::V6_12,
        what: "a cache destroyed with objects left is unlisted and its sysfs directory unlinked at once; before, `shutdown_cache()` failed before `list_del()` and the cache stayed listed with refcount 0 (directory and slabinfo line kept), a merge target a later create revives",
        commit: "4ec10268ed98 (\"mm, slab: unlink slabinfo, sysfs and debugfs immediately\", 6.12)",
        test: "tests/kernel_rules.rs: busy_cache_stays_listed_and_mergeable_before_6_12",
    },
    Difference {
        since: MergeRules::V6_18,
        what: "`kmem_cache_args.sheaf_capacity` exists; an explicit capacity skips the alias attempt and a cache that got sheaves is no merge target",
        commit: "\"slab: add opt-in caching layer of percpu sheaves\" (6.18; mainline hash not seen)",
        test: "tests/kernel_rules.rs: sheaf_capacity_exists_from_6_18_and_blocks_aliasing",
    },
    Difference {
        since: MergeRules::V7_0,
        what: "`SLAB_CONSISTENCY_CHECKS` is in `SLAB_NEVER_MERGE` (the whole `SLAB_DEBUG_FLAGS`)",
        commit: "\"slab: add SLAB_CONSISTENCY_CHECKS to SLAB_NEVER_MERGE\" (sheaves-for-all v4 03/22, 7.0; mainline hash not seen)",
        test: "tests/kernel_rules.rs: consistency_checks_block_merging_from_7_0",
    },
    Difference {
        since: MergeRules::V7_0,
        what: "an explicit `sheaf_capacity` adds `SLAB_NO_MERGE`; `slab_unmergeable()` no longer looks at `s->cpu_sheaves`",
        commit: "\"mm/slab: make caches with sheaves mergeable\" (sheaves-for-all v4 05/22, 7.0; mainline hash not seen)",
        test: "tests/kernel_rules.rs: sheaf_capacity_means_slab_no_merge_from_7_0",
    },
    Difference {
        since: MergeRules::V7_0,
        what: "a usercopy region no longer skips `__kmem_cache_alias()`; `find_mergeable()` refuses it instead (same outcome, another rule)",
        commit: "not identified: the base of sheaves-for-all v4 (Jan 2026) already refuses `args->usersize` in `find_mergeable()`",
        test: "tests/kernel_rules.rs: usercopy_region_is_refused_by_another_rule_from_7_0",
    },
];

impl MergeRules {
    /// Every release, oldest first.
    pub const ALL: [MergeRules; 5] =
        [MergeRules::V6_1, MergeRules::V6_6, MergeRules::V6_12, MergeRules::V6_18, MergeRules::V7_0];

    /// The release as `--rules` names it: `6.1`, `6.6`, `6.12`, `6.18`, `7.0`.
    pub fn name(self) -> &'static str {
        match self {
            MergeRules::V6_1 => "6.1",
            MergeRules::V6_6 => "6.6",
            MergeRules::V6_12 => "6.12",
            MergeRules::V6_18 => "6.18",
            MergeRules::V7_0 => "7.0",
        }
    }

    /// Parses [`MergeRules::name`], with or without a leading `v`.
    pub fn parse(text: &str) -> Option<MergeRules> {
        let t = text.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        MergeRules::ALL.into_iter().find(|r| r.name() == t)
    }

    /// The release before this one in [`MergeRules::ALL`].
    pub fn previous(self) -> Option<MergeRules> {
        let i = MergeRules::ALL.iter().position(|r| *r == self)?;
        i.checked_sub(1).map(|i| MergeRules::ALL[i])
    }

    /// `mm/slab_common.c`: `SLAB_NEVER_MERGE`. 6.1: the debug flags but
    /// `SLAB_CONSISTENCY_CHECKS`, RCU, `SLAB_NOLEAKTRACE`, `SLAB_FAILSLAB` and
    /// `kasan_never_merge()` (`SLAB_KASAN`); 6.6 adds `SLAB_NO_MERGE`; from
    /// 6.9 KASAN sets `SLAB_NO_MERGE` instead ("mm, slab, kasan: replace
    /// kasan_never_merge() with SLAB_NO_MERGE"); 7.0 takes every debug flag.
    pub fn never_merge(self) -> SlabFlags {
        match self {
            MergeRules::V6_1 => SlabFlags(SLAB_NEVER_MERGE_6_18.without(SLAB_NO_MERGE).0 | SLAB_KASAN.0),
            MergeRules::V6_6 => SlabFlags(SLAB_NEVER_MERGE_6_18.0 | SLAB_KASAN.0),
            MergeRules::V6_12 | MergeRules::V6_18 => SLAB_NEVER_MERGE_6_18,
            MergeRules::V7_0 => SLAB_NEVER_MERGE_7_0,
        }
    }

    /// `mm/slab.h`: `SLAB_FLAGS_PERMITTED` with SLUB: any other bit from a
    /// caller is `-EINVAL`. 6.1 lacks `SLAB_KMALLOC` and `SLAB_NO_MERGE` and
    /// has `SLAB_MEM_SPREAD`; 6.6 has all three; from 6.9 `SLAB_MEM_SPREAD`
    /// is gone (a caller naming it no longer builds; this crate refuses it).
    pub fn flags_permitted(self) -> SlabFlags {
        match self {
            MergeRules::V6_1 => {
                SlabFlags(SLAB_FLAGS_PERMITTED.without(SLAB_KMALLOC | SLAB_NO_MERGE).0 | SLAB_MEM_SPREAD.0)
            }
            MergeRules::V6_6 => SlabFlags(SLAB_FLAGS_PERMITTED.0 | SLAB_MEM_SPREAD.0),
            MergeRules::V6_12 | MergeRules::V6_18 | MergeRules::V7_0 => SLAB_FLAGS_PERMITTED,
        }
    }

    /// What `flags &= CACHE_CREATE_MASK` takes from a permitted request
    /// before 6.9: SLUB's mask lacks `SLAB_MEM_SPREAD` (only SLAB used it).
    pub fn cache_create_mask_drops(self) -> SlabFlags {
        if self < MergeRules::V6_12 { SLAB_MEM_SPREAD } else { SlabFlags::EMPTY }
    }

    /// `kmem_cache_args.sheaf_capacity` exists (6.18, opt-in sheaves).
    pub fn has_sheaf_capacity(self) -> bool {
        self >= MergeRules::V6_18
    }

    /// `__kmem_cache_create_args()` (and `kmem_cache_create_usercopy()`
    /// before it) calls `__kmem_cache_alias()` only without a usercopy
    /// region; 7.0 calls it always and `find_mergeable()` refuses the region.
    pub fn usercopy_skips_alias(self) -> bool {
        self < MergeRules::V7_0
    }

    /// 6.18: an explicit `sheaf_capacity` skips the alias attempt, and
    /// `slab_unmergeable()` refuses a cache with `s->cpu_sheaves`.
    pub fn sheaves_block_merging(self) -> bool {
        self == MergeRules::V6_18
    }

    /// 7.0: `__kmem_cache_create_args()` turns an explicit `sheaf_capacity`
    /// into `SLAB_NO_MERGE`.
    pub fn sheaf_capacity_is_no_merge(self) -> bool {
        self >= MergeRules::V7_0
    }

    /// Before 6.12, `shutdown_cache()` puts a `SLAB_TYPESAFE_BY_RCU` cache on
    /// `slab_caches_to_rcu_destroy` and `kmem_cache_release()` — with its
    /// `sysfs_slab_unlink()` — runs in `slab_caches_to_rcu_destroy_workfn()`
    /// after `rcu_barrier()`. The cache leaves `slab_caches` (and
    /// `/proc/slabinfo`) at once.
    pub fn defers_rcu_destroy(self) -> bool {
        self < MergeRules::V6_12
    }

    /// Before 6.12, `shutdown_cache()` returns `-EBUSY` before
    /// `list_del(&s->list)` when objects are left: the busy cache stays on
    /// `slab_caches` with refcount 0, keeps its sysfs directory and its
    /// `/proc/slabinfo` line, and — `slab_unmergeable()` refusing only
    /// `refcount < 0` — stays a merge target that a later create revives.
    /// From 6.12 (4ec10268ed98) it is unlisted and unlinked at once.
    pub fn keeps_busy_cache_listed(self) -> bool {
        self < MergeRules::V6_12
    }

    /// The differences of this release from the one before it.
    pub fn differences(self) -> impl Iterator<Item = &'static Difference> {
        DIFFERENCES.iter().filter(move |d| d.since == self)
    }

    /// The flag groups of `design/kernels.md`: per release, `SLAB_NEVER_MERGE`
    /// and how `SLAB_FLAGS_PERMITTED` differs from 6.18's.
    pub fn flag_groups_table() -> String {
        let names = |f: SlabFlags| {
            let mut v: Vec<String> =
                ALL_NAMED.iter().filter(|(_, b)| f.intersects(*b)).map(|(n, _)| format!("`{n}`")).collect();
            if v.is_empty() {
                v.push("—".to_owned());
            }
            v.join(" ")
        };
        let mut out = String::from(
            "| release | `SLAB_NEVER_MERGE` | `SLAB_FLAGS_PERMITTED` beyond 6.18's | missing from it |\n|---|---|---|---|\n",
        );
        for r in MergeRules::ALL {
            let p = r.flags_permitted();
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.name(),
                names(r.never_merge()),
                names(p.without(SLAB_FLAGS_PERMITTED)),
                names(SLAB_FLAGS_PERMITTED.without(p))
            ));
        }
        out
    }

    /// The table of `design/kernels.md`: one row per [`DIFFERENCES`] entry.
    pub fn differences_table() -> String {
        let mut out = String::from("| since | from | what | commit | test |\n|---|---|---|---|---|\n");
        for d in DIFFERENCES {
            let from = d.since.previous().map_or("—", MergeRules::name);
            out.push_str(&format!("| {} | {from} | {} | {} | `{}` |\n", d.since.name(), d.what, d.commit, d.test));
        }
        out
    }
}

impl Default for MergeRules {
    /// 6.18, the kernel of the bundled trace and census.
    fn default() -> MergeRules {
        MergeRules::V6_18
    }
}

impl std::fmt::Display for MergeRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One block of the `slab_debug=` boot option: flags for caches whose names match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlabDebugBlock {
    /// Flags the block turns on.
    pub flags: SlabFlags,
    /// Name patterns; a trailing `*` is a prefix glob. Empty means every cache.
    pub names: Vec<String>,
    /// `o`: drop debug metadata that would raise the slab order.
    pub disable_higher_order_debug: bool,
}

/// The kernel knobs that change merging, layout and the per-cpu layer.
#[derive(Clone, Debug)]
pub struct SlabConfig {
    /// The cache-sharing design.
    pub scheme: Scheme,
    /// The kernel release whose slab rules apply (default 6.18; [`MergeRules`]).
    pub merge_rules: MergeRules,
    /// `slab_nomerge` (or `CONFIG_SLAB_MERGE_DEFAULT=n`).
    pub slab_nomerge: bool,
    /// `CONFIG_HARDENED_USERCOPY`: a usercopy region makes a cache unmergeable.
    pub hardened_usercopy: bool,
    /// `CONFIG_MEMCG`: normal kmalloc caches get `SLAB_NO_MERGE`.
    pub memcg: bool,
    /// `CONFIG_SLUB_DEBUG`: without it, debug flags are stripped at creation.
    pub slub_debug_config: bool,
    /// `CONFIG_DEBUG_VM`: enables `kmem_cache_sanity_check`.
    pub debug_vm: bool,
    /// `slab_debug=` blocks, in command-line order.
    pub slab_debug: Vec<SlabDebugBlock>,
    /// `cache_line_size()`.
    pub cache_line_size: u32,
    /// `num_present_cpus()`; also the number of per-cpu sheaf slots.
    pub nr_cpus: u32,
    /// Memory nodes; CPU `c` belongs to node `c % nr_nodes`.
    pub nr_nodes: u32,
    /// `slab_min_order=`.
    pub slub_min_order: u32,
    /// `slab_max_order=`.
    pub slub_max_order: u32,
    /// `slab_min_objects=` (0 = derived from the CPU count).
    pub slub_min_objects: u32,
    /// Give every cache per-cpu sheaves with the automatic capacity, as 7.0 does
    /// (`calculate_sheaf_capacity`). When false only caches with an explicit
    /// `sheaf_capacity` get sheaves (6.18) and the others use the slab lists directly.
    pub sheaves_for_all: bool,
    /// Overrides every automatic and explicit sheaf capacity (tiny model configurations).
    pub sheaf_capacity_override: Option<u32>,
    /// Caps objects per slab by shrinking the slab order (tiny model configurations).
    /// `None` keeps the kernel's `calculate_order`.
    pub max_objects_per_slab: Option<u32>,
    /// `MAX_FULL_SHEAVES` / `MAX_EMPTY_SHEAVES` of the barn.
    pub barn_max_sheaves: u32,
    /// Static instance slots of the simulated kernel image (`World::image_static`).
    pub image_statics: usize,
    /// Forces the per-cpu protocol's fallback (a compare-and-swap trylock on
    /// every sheaf access, as when `membarrier(2)` is unavailable) for the
    /// caches of this world. `PERCPU_FORCE_FALLBACK=1` does it process-wide.
    pub percpu_fallback: bool,
    /// Per-cpu slots are the machine's CPUs (`nr_cpu_ids` of them), entered
    /// by restartable sequences on the CPU a thread really runs on
    /// (`slub/rseq/`): what a production port would run, and what the
    /// benchmarks measure. Needs `rseq(2)` as glibc registers it and
    /// `membarrier(PRIVATE_EXPEDITED_RSEQ)`; where either is missing
    /// (valgrind among others) the world keeps the virtual CPUs. `nr_cpus`
    /// is replaced by `nr_cpu_ids` when the world is made, and
    /// `set_current_cpu` no longer moves a thread's sheaves. Off by
    /// default: the virtual CPUs make traces and counters reproducible.
    pub real_cpus: bool,
    /// Loom builds only: run one deliberately broken teardown step, to show
    /// that the loom models catch it (`src/tests/loom.rs`).
    #[cfg(loom)]
    pub broken: Option<Broken>,
}

/// Deliberately broken teardown steps, compiled only for loom. Each names the
/// rule it breaks; the model that must catch it is in `src/tests/loom.rs`.
#[cfg(loom)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// `destroy_alias()` shuts the shared storage down when the alias's own
    /// count drops, instead of when the primary's count reaches zero.
    ReleaseOnAliasCount,
    /// `flush_all()` flushes other CPUs' sheaves without taking their
    /// per-cpu lock.
    FlushWithoutCpuLock,
    /// `shutdown()` decides "clean" from the objects still in use alone and
    /// forgets slabs that a racing free emptied after the shrink pass (the
    /// check `__kmem_cache_shutdown()` makes with `node_nr_slabs()`).
    ShutdownCountsObjectsOnly,
    /// `kfree_addr()` checks the address under one `list_lock` section and
    /// frees it under another, so two frees of one address both pass.
    KfreeAddrCheckThenFree,
    /// Per-cpu protocol (`slub/percpu.rs`): the owner does not re-check
    /// `owner` after publishing its busy word (it checks before only).
    SkipRecheck,
    /// The owner omits the light fence (a real bug on any CPU with store buffers).
    SkipLightFence,
    /// The remote side does not issue the heavy fence (membarrier).
    SkipHeavyFence,
    /// The owner ends its busy period before it is done with the sheaves.
    EarlyClear,
    /// The remote side does not wait for the displaced owner's busy word.
    NoWait,
    /// The busy word lives in the slot (the protocol's first design): a
    /// preempted former owner's clearing store cancels the new owner's busy.
    SlotBusy,
    /// In fallback mode the remote side does not take the slot's trylock.
    FallbackNoLock,
    /// The page map publishes a slab with a Relaxed store: a tokenless
    /// lookup (`kfree_addr`) that finds the slab need not see its fields.
    RelaxedSlabPublication,
    /// `kmem_cache_shrink()` takes a partial slab with one object in use for
    /// empty and discards it (clears its page map entries) before the last
    /// free: the freer's lookup finds no slab.
    ShrinkDiscardsBeforeLastFree,
    /// Real CPUs (`slub/rseq/`, modelled by `slub/rseq/model.rs`): the
    /// pop and push sections ignore the slot's `active` word and work on
    /// the main sheaf even while the slot is closed.
    RseqIgnoreClosed,
    /// Real CPUs: the remote side closes the slot but does not abort the
    /// CPU's sections (no `membarrier(PRIVATE_EXPEDITED_RSEQ)`).
    RseqNoAbort,
    /// Real CPUs: the remote side aborts the CPU's sections first and
    /// closes the slot only afterwards.
    RseqCloseAfterAbort,
    /// Real CPUs: `lock`'s test of `active` and its commit are two
    /// sections, so another section of the CPU may run between them.
    RseqLockOutsideSection,
    /// Real CPUs: the remote side closes the slot with a plain store, over
    /// a slow path's `LOCKED`, instead of waiting for it to let go.
    RseqCloseOverLocked,
    /// Real CPUs: the remote side does not check after the abort that the
    /// slot stayed closed (a lock section may have committed in between).
    RseqNoRecheck,
}

impl Default for SlabConfig {
    fn default() -> Self {
        SlabConfig {
            scheme: Scheme::Mainline,
            merge_rules: MergeRules::V6_18,
            slab_nomerge: false,
            hardened_usercopy: true,
            memcg: true,
            slub_debug_config: true,
            debug_vm: false,
            slab_debug: Vec::new(),
            cache_line_size: 64,
            nr_cpus: CENSUS_NR_CPUS,
            nr_nodes: 1,
            slub_min_order: 0,
            slub_max_order: PAGE_ALLOC_COSTLY_ORDER,
            slub_min_objects: 0,
            sheaves_for_all: true,
            sheaf_capacity_override: None,
            max_objects_per_slab: None,
            barn_max_sheaves: 10,
            image_statics: 16,
            percpu_fallback: false,
            real_cpus: false,
            #[cfg(loom)]
            broken: None,
        }
    }
}

/// CPU count of the machine the bundled census was taken on, as its slab
/// orders show (`calculate_order` depends on it through `min_objects`).
pub const CENSUS_NR_CPUS: u32 = 2;

impl SlabConfig {
    /// The default configuration with another scheme.
    pub fn with_scheme(scheme: Scheme) -> Self {
        SlabConfig { scheme, ..Default::default() }
    }

    /// A tiny configuration for model checking: `nr_cpus` CPUs, one node,
    /// sheaves of `capacity` objects and at most `objects` objects per slab, so
    /// that refill, flush, barn exchange, new slab and discard happen in a few steps.
    pub fn tiny(scheme: Scheme, nr_cpus: u32, capacity: u32, objects: u32) -> Self {
        SlabConfig {
            scheme,
            nr_cpus,
            nr_nodes: 1,
            sheaf_capacity_override: Some(capacity),
            max_objects_per_slab: Some(objects),
            barn_max_sheaves: 2,
            ..Default::default()
        }
    }

    /// `SLAB_NEVER_MERGE` of the configured release, with the flags the
    /// scheme relies on it to hold ([`crate::schemes::SchemeRules::never_merge`]:
    /// viro-v1's `SLAB_NO_MERGE` before 6.5). Only the scheme's own
    /// instances carry those there, since callers of such a release cannot
    /// pass them.
    pub fn never_merge(&self) -> SlabFlags {
        self.merge_rules.never_merge() | self.scheme.rules().never_merge()
    }

    /// The default configuration under another kernel release's rules.
    pub fn with_rules(merge_rules: MergeRules) -> Self {
        SlabConfig { merge_rules, ..Default::default() }
    }

    /// Parses a `slab_debug=` value (`slub_debug=` syntax): blocks separated by
    /// `;`, each `letters[,name,name...]`. Letters: `f` consistency checks,
    /// `z` red zone, `p` poison, `u` store user, `t` trace, `a` failslab,
    /// `o` no higher-order debug, `-` none; no letters means the default set.
    pub fn parse_slab_debug(text: &str) -> Result<Vec<SlabDebugBlock>, String> {
        let mut blocks = Vec::new();
        for block in text.split(';').filter(|b| !b.is_empty()) {
            let mut parts = block.split(',');
            let letters = parts.next().unwrap_or("");
            let names: Vec<String> = parts.filter(|n| !n.is_empty()).map(str::to_owned).collect();
            let mut flags = SlabFlags::EMPTY;
            let mut disable_higher_order_debug = false;
            let mut any = false;
            for c in letters.chars() {
                any = true;
                match c.to_ascii_lowercase() {
                    'f' => flags |= SLAB_CONSISTENCY_CHECKS,
                    'z' => flags |= SLAB_RED_ZONE,
                    'p' => flags |= SLAB_POISON,
                    'u' => flags |= SLAB_STORE_USER,
                    't' => flags |= SLAB_TRACE,
                    'a' => flags |= SLAB_FAILSLAB,
                    'o' => disable_higher_order_debug = true,
                    '-' => flags = SlabFlags::EMPTY,
                    other => return Err(format!("slab_debug: unknown option '{other}'")),
                }
            }
            if !any {
                flags = DEBUG_DEFAULT_FLAGS;
            }
            blocks.push(SlabDebugBlock { flags, names, disable_higher_order_debug });
        }
        Ok(blocks)
    }

    /// Mirrors `mm/slub.c`: `kmem_cache_flags()`: the flags a cache named `name`
    /// gets from `slab_debug=`.
    pub fn kmem_cache_flags(&self, flags: SlabFlags, name: &str) -> SlabFlags {
        if flags.intersects(SLAB_NO_USER_FLAGS) || !self.slub_debug_config {
            return flags;
        }
        let mut global = SlabFlags::EMPTY;
        for block in &self.slab_debug {
            if block.names.is_empty() {
                global |= block.flags;
            } else if block.names.iter().any(|p| name_matches(p, name)) {
                return flags | block.flags;
            }
        }
        if flags.intersects(SLAB_NOLEAKTRACE) {
            global = global.without(SLAB_STORE_USER);
        }
        flags | global
    }
}

/// `slab_debug` name matching: exact, or prefix with a trailing `*`.
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// design/kernels.md holds the tables the code generates, so neither can
    /// drift from the other (regenerate with `cargo test -q --lib
    /// kernels_md_tables -- --nocapture` and paste what it prints).
    #[test]
    fn kernels_md_tables_are_the_codes() {
        let doc = include_str!("../design/kernels.md");
        let differences = MergeRules::differences_table();
        let flags = MergeRules::flag_groups_table();
        println!("{flags}\n{differences}");
        assert!(doc.contains(&differences), "design/kernels.md: the differences table is stale");
        assert!(doc.contains(&flags), "design/kernels.md: the flag groups table is stale");
        let mainline = include_str!("../design/mainline.md");
        assert!(mainline.contains(&differences), "design/mainline.md: the differences table is stale");
    }

    /// mm/slub.c: kmem_cache_flags(): a named block wins over the global flags.
    #[test]
    fn kmem_cache_flags_by_name_and_glob() {
        let cfg = SlabConfig {
            slab_debug: SlabConfig::parse_slab_debug("P;FZ,dentry,kmalloc-*").unwrap(),
            ..Default::default()
        };
        assert_eq!(cfg.kmem_cache_flags(SlabFlags::EMPTY, "dentry"), SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE);
        assert_eq!(cfg.kmem_cache_flags(SlabFlags::EMPTY, "kmalloc-64"), SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE);
        assert_eq!(cfg.kmem_cache_flags(SlabFlags::EMPTY, "filp"), SLAB_POISON);
        assert_eq!(cfg.kmem_cache_flags(SLAB_NO_USER_FLAGS, "dentry"), SLAB_NO_USER_FLAGS);
        assert_eq!(SlabConfig::parse_slab_debug("").unwrap(), vec![]);
        assert_eq!(SlabConfig::parse_slab_debug(",foo").unwrap()[0].flags, DEBUG_DEFAULT_FLAGS);
        assert!(SlabConfig::parse_slab_debug("q").is_err());
    }
}
