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

/// The merge rules of a kernel generation (see `kernel-slab.md` §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeRules {
    /// 6.15-6.19: `SLAB_CONSISTENCY_CHECKS` does not block merging; an explicit
    /// `sheaf_capacity` skips the alias attempt and a cache with sheaves is no target.
    V6_18,
    /// 7.0: `SLAB_NEVER_MERGE` includes every debug flag; an explicit
    /// `sheaf_capacity` adds `SLAB_NO_MERGE`.
    V7_0,
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
    /// Merge rules of 6.18 (default) or 7.0.
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

    /// `SLAB_NEVER_MERGE` for these merge rules.
    pub fn never_merge(&self) -> SlabFlags {
        match self.merge_rules {
            MergeRules::V6_18 => SLAB_NEVER_MERGE_6_18,
            MergeRules::V7_0 => SLAB_NEVER_MERGE_7_0,
        }
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
