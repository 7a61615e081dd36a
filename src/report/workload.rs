//! The seeded memory workload of the report, measured with the real allocator.
//!
//! The workload is planned once, from the census's live object counts and the
//! mainline partition, and then driven identically through every scheme's
//! handles, so the figures of two schemes differ only by how the scheme
//! shares storage:
//!
//! 1. **Shares.** Each mainline group's census directory holds `objects` live
//!    objects (`CensusRow::objects`, divided by [`ReportOptions::workload_divisor`],
//!    rounded up). They are split equally among the group's names; the
//!    remainder goes to the group's owner (the name that created the instance).
//! 2. **Allocation.** One event per object, shuffled with the seeded PRNG;
//!    each event allocates through its name's own handle on a seeded CPU.
//! 3. **Churn.** A seeded [`ReportOptions::churn_percent`] of the events is
//!    freed (each on a seeded CPU), then allocated again in the same order.
//! 4. **Measure.** See [`Memory`].
//! 5. **Teardown.** Every object is freed, every storage shrunk
//!    (`kmem_cache_shrink`), and the world must hold no page ([`Memory::clean`]).
//!
//! [`ReportOptions::workload_divisor`]: super::ReportOptions::workload_divisor
//! [`ReportOptions::churn_percent`]: super::ReportOptions::churn_percent

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::config::PAGE_SIZE;
use crate::input::census::Census;
use crate::input::replay::Replay;
use crate::input::snapshot::Known;
use crate::slab_common::cache::{KmemCache, Object};
use crate::slub::cpu::with_cpu;
use crate::slub::storage::{CacheStorage, KmemCacheNode, PcsSlot};

/// The report's default seed.
pub const DEFAULT_SEED: u64 = 0x51ab_3e76_e5ee_d001;

/// The share of objects freed and allocated again by the churn phase.
pub const DEFAULT_CHURN_PERCENT: u32 = 20;

/// A small deterministic PRNG (SplitMix64): the same seed gives the same
/// sequence on every machine and build.
#[derive(Clone, Debug)]
pub struct Prng {
    state: u64,
}

impl Prng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Prng {
        Prng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Prng::below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// One mainline group as the planner needs it: its sysfs directory and its
/// names, the owner first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanGroup {
    /// The group's sysfs directory in the mainline replay.
    pub dir: String,
    /// Its names, the instance's own name first.
    pub names: Vec<String>,
}

/// One allocation of the workload: which name, on which CPU.
#[derive(Clone, Copy, Debug)]
struct Event {
    name: u32,
    cpu: u32,
}

/// Bookkeeping bytes per planned object (its event, churn entry and slot
/// while live), for [`Workload::footprint`].
pub const PER_OBJECT_BYTES: u32 = 48;

/// One churned event: freed on one CPU, allocated again on another.
#[derive(Clone, Copy, Debug)]
struct Churn {
    event: u32,
    free_cpu: u32,
    alloc_cpu: u32,
}

/// The planned workload: shares per name and the seeded event sequence.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Every name with its share of objects, in the order of the plan's groups.
    pub shares: Vec<(String, u64)>,
    /// Mainline groups with no census figure (their names get no object):
    /// the directory is not in the census and no name of the group is.
    pub unmatched: Vec<PlanGroup>,
    /// The seed.
    pub seed: u64,
    /// Percent of the events churned.
    pub churn_percent: u32,
    /// Objects planned in all.
    pub objects: u64,
    events: Vec<Event>,
    churn: Vec<Churn>,
}

/// Memory figures of one scheme after the workload's churn phase.
///
/// Everything is read from the allocator (`StorageStats` of each storage,
/// `World::pages`) or, for fixed overhead, is the `size_of` of the structures
/// the model really allocates per instance and per storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// Objects the workload planned.
    pub objects_planned: u64,
    /// Objects live when measured (planned minus those of skipped names).
    pub objects_live: u64,
    /// Bytes the live objects asked for (each name's trace `size`).
    pub payload_bytes: u64,
    /// Slabs allocated.
    pub slabs: u64,
    /// Pages held by the world (`World::pages`: every slab page).
    pub slab_pages: u64,
    /// `slab_pages * PAGE_SIZE`.
    pub slab_bytes: u64,
    /// Slabs on node partial lists.
    pub partial_slabs: u64,
    /// Free object slots on slabs (only partial slabs have any).
    pub partial_free_objects: u64,
    /// Free slots × the storage's stride (`s->size`), summed over storages.
    pub partial_free_bytes: u64,
    /// Free objects cached in sheaves (per-cpu main/spare and barn).
    pub sheaf_objects: u64,
    /// Those objects × their stride.
    pub sheaf_object_bytes: u64,
    /// Sheaves allocated.
    pub sheaves: u64,
    /// `struct kmem_cache` instances: every distinct instance a handle names,
    /// plus primaries no handle names (the primary scheme's hidden primaries).
    pub kmem_cache_instances: u64,
    /// Storages (shared slab sets): one per group.
    pub storages: u64,
    /// `kmem_cache_instances * size_of::<KmemCache>()`.
    pub instance_bytes: u64,
    /// Per storage: `size_of::<CacheStorage>()` + `nr_cpus * size_of::<PcsSlot>()`
    /// + `nr_nodes * size_of::<KmemCacheNode>()`.
    pub storage_bytes: u64,
    /// Bytes of every allocated sheaf (header and object-pointer array).
    pub sheaf_bytes: u64,
    /// `instance_bytes + storage_bytes + sheaf_bytes`.
    pub overhead_bytes: u64,
    /// `slab_bytes + overhead_bytes`.
    pub total_bytes: u64,
    /// Names with a share whose creation failed in this scheme (no handle): skipped.
    pub skipped_names: Vec<String>,
    /// Allocations that failed (`-ENOMEM`).
    pub alloc_failures: u64,
    /// Frees the allocator refused.
    pub free_failures: u64,
    /// After freeing everything and shrinking every storage, no page was left.
    pub clean: bool,
}

impl Memory {
    /// The per-figure median of `runs` (the lower middle value for an even
    /// count); `clean` only if every run was clean, skipped names of the first.
    pub fn median(runs: &[&Memory]) -> Memory {
        let mut out = runs.first().map(|m| (*m).clone()).unwrap_or_default();
        macro_rules! median {
            ($($f:ident),*) => {$(
                let mut v: Vec<u64> = runs.iter().map(|m| m.$f).collect();
                v.sort_unstable();
                if let Some(&m) = v.get(v.len().saturating_sub(1) / 2) {
                    out.$f = m;
                }
            )*};
        }
        median!(
            objects_planned,
            objects_live,
            payload_bytes,
            slabs,
            slab_pages,
            slab_bytes,
            partial_slabs,
            partial_free_objects,
            partial_free_bytes,
            sheaf_objects,
            sheaf_object_bytes,
            sheaves,
            kmem_cache_instances,
            storages,
            instance_bytes,
            storage_bytes,
            sheaf_bytes,
            overhead_bytes,
            total_bytes,
            alloc_failures,
            free_failures
        );
        out.clean = runs.iter().all(|m| m.clean);
        out
    }
}

impl Workload {
    /// Plans the workload from the mainline groups and the census counts.
    ///
    /// A group's count is its directory's `objects` in the census; if the
    /// directory is not there, the count of the census directory of any of
    /// its names (each census directory counted once); otherwise nothing.
    pub fn plan(
        groups: &[PlanGroup],
        census: &Census,
        divisor: u64,
        seed: u64,
        churn_percent: u32,
        nr_cpus: u32,
    ) -> Workload {
        let (shares, unmatched) = Workload::shares(groups, census, divisor);
        let objects: u64 = shares.iter().map(|(_, s)| s).sum();
        let mut rng = Prng::new(seed);
        let nr_cpus = u64::from(nr_cpus.max(1));
        let mut names: Vec<u32> = Vec::with_capacity(objects as usize);
        for (i, (_, share)) in shares.iter().enumerate() {
            names.extend(std::iter::repeat_n(i as u32, *share as usize));
        }
        rng.shuffle(&mut names);
        let events: Vec<Event> = names.into_iter().map(|name| Event { name, cpu: rng.below(nr_cpus) as u32 }).collect();
        let mut order: Vec<u32> = (0..events.len() as u32).collect();
        rng.shuffle(&mut order);
        let churned = events.len() * churn_percent.min(100) as usize / 100;
        let churn = order[..churned]
            .iter()
            .map(|&event| Churn { event, free_cpu: rng.below(nr_cpus) as u32, alloc_cpu: rng.below(nr_cpus) as u32 })
            .collect();
        Workload { shares, unmatched, seed, churn_percent, objects, events, churn }
    }

    /// Each name's share of objects (see [`Workload::plan`]), and the groups
    /// with no census figure. Live counts a snapshot did not give
    /// ([`CensusRow::known`](crate::input::census::CensusRow::known)) count as none.
    pub fn shares(groups: &[PlanGroup], census: &Census, divisor: u64) -> (Vec<(String, u64)>, Vec<PlanGroup>) {
        let divisor = divisor.max(1);
        let mut dir_of_name: BTreeMap<&str, &str> = BTreeMap::new();
        for row in &census.rows {
            dir_of_name.insert(&row.name, row.target.as_deref().unwrap_or(&row.name));
        }
        let mut used_dirs: HashSet<String> = HashSet::new();
        let mut shares = Vec::new();
        let mut unmatched = Vec::new();
        for group in groups {
            let dir = census
                .cache(&group.dir)
                .map(|c| c.name.clone())
                .or_else(|| group.names.iter().find_map(|n| dir_of_name.get(n.as_str()).map(|d| (*d).to_owned())));
            let objects = match dir {
                Some(d) if used_dirs.insert(d.clone()) => census
                    .cache(&d)
                    .filter(|c| c.known.contains(Known::OBJECTS))
                    .map_or(0, |c| c.objects.div_ceil(divisor)),
                Some(_) => 0,
                None => {
                    unmatched.push(group.clone());
                    0
                }
            };
            let n = group.names.len() as u64;
            for (i, name) in group.names.iter().enumerate() {
                let share = objects / n + if i == 0 { objects % n } else { 0 };
                shares.push((name.clone(), share));
            }
        }
        (shares, unmatched)
    }

    /// About how many bytes planning and running `shares` take: each object's
    /// size (at least 8, rounded up to 8) plus [`PER_OBJECT_BYTES`] of bookkeeping.
    pub fn footprint(shares: &[(String, u64)], sizes: &BTreeMap<String, u32>) -> u128 {
        shares
            .iter()
            .map(|(name, n)| {
                let size = u128::from(sizes.get(name).copied().unwrap_or(0).max(8).next_multiple_of(8));
                u128::from(*n) * (size + u128::from(PER_OBJECT_BYTES))
            })
            .sum()
    }

    /// The smallest divisor whose workload fits `budget` bytes ([`Workload::footprint`]).
    pub fn divisor_for_budget(
        groups: &[PlanGroup],
        census: &Census,
        sizes: &BTreeMap<String, u32>,
        budget: u64,
    ) -> u64 {
        let budget = budget.max(1);
        let full = Workload::footprint(&Workload::shares(groups, census, 1).0, sizes);
        let mut divisor = u64::try_from(full.div_ceil(u128::from(budget))).unwrap_or(u64::MAX).max(1);
        // Shares are rounded up per directory: step up until it really fits.
        while divisor < u64::MAX
            && Workload::footprint(&Workload::shares(groups, census, divisor).0, sizes) > u128::from(budget)
        {
            divisor = divisor.saturating_add(divisor.div_ceil(8));
        }
        divisor
    }

    /// Events churned.
    pub fn churned(&self) -> usize {
        self.churn.len()
    }

    /// Drives the workload through `replay`'s handles, measures, then frees
    /// everything. `sizes` gives each name's requested object size (payload).
    pub fn run(&self, replay: &Replay<'_>, sizes: &BTreeMap<String, u32>) -> Memory {
        self.run_with_peak(replay, sizes, |_| {})
    }

    /// [`Workload::run`], calling `peak` on the world once every object is
    /// allocated and the churn is done (what a snapshot of the machine would
    /// see), before everything is freed.
    pub fn run_with_peak(
        &self,
        replay: &Replay<'_>,
        sizes: &BTreeMap<String, u32>,
        peak: impl FnOnce(&crate::slab_common::world::World),
    ) -> Memory {
        let world = replay.world;
        let handles: Vec<Option<&KmemCache>> =
            self.shares.iter().map(|(name, _)| replay.handle(name).map(|h| h.cache())).collect();
        let mut memory = Memory { objects_planned: self.objects, ..Memory::default() };
        for ((name, share), handle) in self.shares.iter().zip(&handles) {
            if *share > 0 && handle.is_none() {
                memory.skipped_names.push(name.clone());
            }
        }
        let mut objects: Vec<Option<Object>> = Vec::with_capacity(self.events.len());
        for ev in &self.events {
            objects.push(handles[ev.name as usize].and_then(|cache| {
                let obj = with_cpu(ev.cpu, || cache.alloc()).ok();
                memory.alloc_failures += u64::from(obj.is_none());
                obj
            }));
        }
        for ch in &self.churn {
            let ev = self.events[ch.event as usize];
            let Some(cache) = handles[ev.name as usize] else { continue };
            if let Some(obj) = objects[ch.event as usize].take() {
                match with_cpu(ch.free_cpu, || cache.free(obj)) {
                    Ok(()) => {}
                    Err(refused) => {
                        memory.free_failures += 1;
                        objects[ch.event as usize] = Some(refused.into_object());
                        continue;
                    }
                }
            }
            let obj = with_cpu(ch.alloc_cpu, || cache.alloc()).ok();
            memory.alloc_failures += u64::from(obj.is_none());
            objects[ch.event as usize] = obj;
        }

        self.measure(&mut memory, &handles, &objects, sizes, world);
        peak(world);

        for (ev, obj) in self.events.iter().zip(objects.iter_mut()) {
            if let (Some(obj), Some(cache)) = (obj.take(), handles[ev.name as usize])
                && with_cpu(ev.cpu, || cache.free(obj)).is_err()
            {
                memory.free_failures += 1;
            }
        }
        let mut shrunk = HashSet::new();
        for cache in handles.iter().flatten() {
            if let Some(id) = cache.storage_id()
                && shrunk.insert(id)
            {
                let _ = cache.shrink();
            }
        }
        memory.clean = world.pages() == 0 && memory.free_failures == 0;
        memory
    }

    fn measure(
        &self,
        memory: &mut Memory,
        handles: &[Option<&KmemCache>],
        objects: &[Option<Object>],
        sizes: &BTreeMap<String, u32>,
        world: &crate::World,
    ) {
        for (ev, obj) in self.events.iter().zip(objects) {
            if obj.is_some() {
                memory.objects_live += 1;
                let name = &self.shares[ev.name as usize].0;
                memory.payload_bytes += u64::from(sizes.get(name).copied().unwrap_or(0));
            }
        }
        let mut storages = HashSet::new();
        let mut instances: BTreeSet<usize> = BTreeSet::new();
        for cache in handles.iter().flatten() {
            instances.insert(std::ptr::from_ref::<KmemCache>(cache) as usize);
            if let Some(primary) = cache.primary_cache() {
                instances.insert(std::ptr::from_ref::<KmemCache>(primary) as usize);
            }
            let Some(id) = cache.storage_id() else { continue };
            if !storages.insert(id) {
                continue;
            }
            let Ok(stats) = cache.stats() else { continue };
            let stride = u64::from(cache.size());
            memory.slabs += stats.slabs as u64;
            memory.partial_slabs += stats.partial_slabs as u64;
            memory.partial_free_objects += stats.free_objects as u64;
            memory.partial_free_bytes += stats.free_objects as u64 * stride;
            memory.sheaf_objects += stats.sheaf_objects as u64;
            memory.sheaf_object_bytes += stats.sheaf_objects as u64 * stride;
            memory.sheaves += stats.sheaves as u64;
            memory.sheaf_bytes += stats.sheaf_bytes as u64;
        }
        let cfg = world.config();
        memory.slab_pages = world.pages() as u64;
        memory.slab_bytes = memory.slab_pages * PAGE_SIZE as u64;
        memory.kmem_cache_instances = instances.len() as u64;
        memory.storages = storages.len() as u64;
        memory.instance_bytes = memory.kmem_cache_instances * size_of::<KmemCache>() as u64;
        memory.storage_bytes = memory.storages * storage_fixed_bytes(cfg.nr_cpus, cfg.nr_nodes);
        memory.overhead_bytes = memory.instance_bytes + memory.storage_bytes + memory.sheaf_bytes;
        memory.total_bytes = memory.slab_bytes + memory.overhead_bytes;
    }
}

/// The fixed bytes of one storage: `CacheStorage` itself, one
/// `PcsSlot` (the protocol's words and `PerCpuSheaves`) per CPU and one `KmemCacheNode` per node (sheaves
/// are counted separately, as they come and go).
pub fn storage_fixed_bytes(nr_cpus: u32, nr_nodes: u32) -> u64 {
    (size_of::<CacheStorage>()
        + nr_cpus.max(1) as usize * size_of::<PcsSlot>()
        + nr_nodes.max(1) as usize * size_of::<KmemCacheNode>()) as u64
}

/// `size_of::<KmemCache>()`, the fixed bytes of one instance.
pub fn instance_fixed_bytes() -> u64 {
    size_of::<KmemCache>() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SplitMix64 reference values for seed 0 (Vigna's splitmix64.c).
    #[test]
    fn prng_matches_splitmix64_reference() {
        let mut rng = Prng::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        let mut a = Prng::new(7);
        let mut b = Prng::new(7);
        let mut v: Vec<u32> = (0..100).collect();
        let mut w = v.clone();
        a.shuffle(&mut v);
        b.shuffle(&mut w);
        assert_eq!(v, w);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        for _ in 0..1000 {
            assert!(a.below(3) < 3);
        }
    }

    /// The split rule: equal shares, the remainder to the owner.
    #[test]
    fn plan_splits_equally_with_remainder_to_owner() {
        let census = Census::parse(
            "name\tkind\ttarget\tobject_size\tslab_size\talign\taliases\tobjs_per_slab\torder\thwcache_align\t\
             reclaim_account\tdestroy_by_rcu\tobjects\n\
             :0000064\tcache\t-\t64\t64\t8\t2\t64\t0\t0\t0\t0\t10\n\
             a\talias\t:0000064\n\
             b\talias\t:0000064\n\
             c\talias\t:0000064\n",
        )
        .unwrap();
        let groups = [
            PlanGroup { dir: ":0000064".into(), names: vec!["b".into(), "a".into(), "c".into()] },
            PlanGroup { dir: "nowhere".into(), names: vec!["z".into()] },
        ];
        let w = Workload::plan(&groups, &census, 1, 1, 20, 2);
        assert_eq!(w.shares, vec![("b".into(), 4), ("a".into(), 3), ("c".into(), 3), ("z".into(), 0)]);
        assert_eq!(w.objects, 10);
        assert_eq!(w.churned(), 2);
        assert_eq!(w.unmatched, vec![groups[1].clone()]);
        let halved = Workload::plan(&groups, &census, 4, 1, 20, 2);
        assert_eq!(halved.objects, 3, "10 / 4 rounded up");
    }
}
