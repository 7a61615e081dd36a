//! A creation trace derived from a `/sys/kernel/slab` snapshot, and how the
//! mainline replay of a trace compares with a snapshot.
//!
//! A snapshot has no creation order and no creation arguments, only each
//! directory's final attributes. [`trace_from_census`] makes one creation per
//! name:
//!
//! * **Arguments** come from the name's directory: `size` = `object_size`,
//!   `align` = `align` (the final alignment; `calculate_alignment()` returns
//!   it unchanged when asked for it again), `ctor`, `usersize` (offset 0),
//!   and flags from the boolean attributes (`hwcache_align`,
//!   `reclaim_account`, `cache_dma`, `destroy_by_rcu`, `poison`, `red_zone`,
//!   `store_user`, `sanity_checks`) plus, for a merged directory, the letters
//!   of its unique id (`:dDaFA-`: `SLAB_ACCOUNT` is visible only there).
//!   `sheaf_capacity` is passed for self-named directories only (a merged
//!   directory cannot have had an explicit capacity). A self-named directory
//!   that nothing links to and that shows no reason to be unmergeable (no
//!   ctor, usercopy region, RCU, debug flag or sheaf capacity) was unmergeable
//!   for a reason sysfs does not show (`SLAB_NO_MERGE`, a boot cache), so it
//!   gets `SLAB_NO_MERGE`. The free-pointer offset is not visible and is not
//!   passed.
//! * **Order**: names the reference trace knows come first, in its order (a
//!   kernel creates its caches in the same order at every boot); the others
//!   follow directory by directory (directories sorted by name), each
//!   directory's own name first for a self-named one, then its links sorted
//!   by name. A directory's owner therefore always comes before its aliases.
//! * **Identity**: the creation entry (`create_boot_cache`,
//!   `create_kmalloc_cache`), `source`, `static_v3` and `modular_debian` are
//!   taken from the reference trace for names it knows.

use std::collections::{BTreeMap, BTreeSet};

use super::{ReportGroup, ReportScheme, replay_groups};
use crate::flags::*;
use crate::input::census::{Census, CensusKind, CensusRow};
use crate::input::replay::{Replay, StaticSet};
use crate::input::snapshot::Known;
use crate::input::trace::{Trace, TraceEntry, TraceRow};
use crate::world::World;

/// The flags a directory's attributes and unique id show.
fn visible_flags(dir: &CensusRow) -> SlabFlags {
    let mut flags = SlabFlags::EMPTY;
    for (set, flag) in [
        (dir.hwcache_align, SLAB_HWCACHE_ALIGN),
        (dir.reclaim_account, SLAB_RECLAIM_ACCOUNT),
        (dir.cache_dma, SLAB_CACHE_DMA),
        (dir.destroy_by_rcu, SLAB_TYPESAFE_BY_RCU),
        (dir.poison, SLAB_POISON),
        (dir.red_zone, SLAB_RED_ZONE),
        (dir.store_user, SLAB_STORE_USER),
        (dir.sanity_checks, SLAB_CONSISTENCY_CHECKS),
    ] {
        if set {
            flags |= flag;
        }
    }
    // mm/slub.c: create_unique_id(): ':' then d, D, a, F, A, '-' and the size.
    if let Some(id) = dir.name.strip_prefix(':')
        && let Some((letters, _)) = id.split_once('-')
    {
        for c in letters.chars() {
            flags |= match c {
                'd' => SLAB_CACHE_DMA,
                'D' => SLAB_CACHE_DMA32,
                'a' => SLAB_RECLAIM_ACCOUNT,
                'F' => SLAB_CONSISTENCY_CHECKS,
                'A' => SLAB_ACCOUNT,
                _ => SlabFlags::EMPTY,
            };
        }
    }
    flags
}

/// Derives a creation trace from a snapshot (see the module docs for the rule).
pub fn trace_from_census(census: &Census, reference: &Trace) -> Trace {
    trace_from_census_noted(census, reference).0
}

/// [`trace_from_census`], with what had to be assumed: a directory whose
/// `object_size` the snapshot does not give (`ls -l`, `slabinfo` listings,
/// `/proc/slabinfo` give less than a sysfs tree, see [`CensusRow::known`])
/// takes its slab size (`s->size`, from the unique id or `/proc/slabinfo`:
/// an upper bound that merges as the directory did), else the reference
/// trace's size for the same name, else its name is left out.
pub fn trace_from_census_noted(census: &Census, reference: &Trace) -> (Trace, Vec<String>) {
    let mut from_reference: Vec<&str> = Vec::new();
    let mut from_slab_size: Vec<&str> = Vec::new();
    let mut left_out: Vec<&str> = Vec::new();
    let groups = census.groups();
    let dirs: BTreeMap<&str, &CensusRow> = census.caches().map(|r| (r.name.as_str(), r)).collect();
    let linked: BTreeSet<&str> =
        census.rows.iter().filter(|r| r.kind == CensusKind::Alias).filter_map(|r| r.target.as_deref()).collect();
    // (known?, reference seq or directory rank, position in the directory)
    let mut ordered: Vec<((u8, usize, usize), &str, &str)> = Vec::new();
    for (rank, (dir, names)) in groups.iter().enumerate() {
        let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
        if dir.starts_with(':') {
            names.sort_unstable();
        } else {
            names[1..].sort_unstable();
        }
        for (pos, name) in names.iter().enumerate() {
            let key = match reference.row(name) {
                Some(r) => (0, r.seq as usize, 0),
                None => (1, rank, pos),
            };
            ordered.push((key, name, dir));
        }
    }
    ordered.sort();
    let mut rows: Vec<TraceRow> = Vec::with_capacity(ordered.len());
    let mut owner_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (_, name, dir_name) in ordered {
        let dir = dirs[dir_name];
        let reference_row = reference.row(name);
        let self_named = !dir_name.starts_with(':');
        let mut flags = visible_flags(dir);
        let visible_reason = dir.ctor.is_some()
            || dir.usersize != 0
            || dir.sheaf_capacity != 0
            || flags.intersects(SLAB_NEVER_MERGE_6_18 | SLAB_DEBUG_FLAGS);
        if self_named && !linked.contains(dir_name) && !visible_reason {
            flags |= SLAB_NO_MERGE;
        }
        let size = if dir.known.contains(Known::OBJECT_SIZE) {
            dir.object_size
        } else if dir.known.contains(Known::SLAB_SIZE) {
            from_slab_size.push(name);
            dir.slab_size
        } else if let Some(r) = reference_row {
            from_reference.push(name);
            r.size
        } else {
            left_out.push(name);
            continue;
        };
        let owner = *owner_of.entry(dir_name).or_insert(name);
        rows.push(TraceRow {
            seq: rows.len() as u32 + 1,
            name: name.to_owned(),
            size,
            align: dir.align,
            flags,
            ctor: dir.ctor.clone(),
            useroffset: 0,
            usersize: dir.usersize,
            size_exact: false,
            kernel_dir: dir_name.to_owned(),
            kernel_owner: owner.to_owned(),
            source: reference_row.map(|r| r.source.clone()).unwrap_or_default(),
            note: String::from("derived from a sysfs snapshot"),
            static_v3: reference_row.is_some_and(|r| r.static_v3),
            modular_debian: reference_row.and_then(|r| r.modular_debian),
            sheaf_capacity: if self_named { dir.sheaf_capacity } else { 0 },
            freeptr_offset: None,
            entry: reference_row.map_or(TraceEntry::KmemCacheCreate, |r| r.entry),
        });
    }
    let mut notes = Vec::new();
    for (names, what) in [
        (
            &from_slab_size,
            "object size not in the snapshot, taken as its slab size (from the unique id or /proc/slabinfo)",
        ),
        (&from_reference, "object size not in the snapshot, taken from the reference trace's row of the same name"),
        (&left_out, "no object size in the snapshot nor the reference trace: left out of the derived trace"),
    ] {
        if !names.is_empty() {
            notes.push(format!("{what}: {} name(s) ({})", names.len(), abbreviated(names)));
        }
    }
    (Trace { rows }, notes)
}

/// The first few names, then a count.
fn abbreviated(names: &[&str]) -> String {
    const SHOWN: usize = 6;
    let mut s = names.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(", and {} more", names.len() - SHOWN));
    }
    s
}

/// A directory whose attributes the replay did not reproduce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeMismatch {
    /// The snapshot's directory.
    pub dir: String,
    /// `(attribute, snapshot value, replayed value)` for each difference.
    pub differences: Vec<(&'static str, u32, u32)>,
}

/// How a mainline replay compares with a snapshot's real partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotComparison {
    /// Directories in the snapshot.
    pub snapshot_dirs: usize,
    /// Names in the snapshot.
    pub snapshot_names: usize,
    /// Groups of the replay.
    pub replay_groups: usize,
    /// Snapshot directories whose names form exactly one replayed group.
    pub same_groups: usize,
    /// Of those, the ones the replay put under the same directory name.
    pub same_dirs: usize,
    /// Snapshot directories whose names the replay grouped differently:
    /// the directory, its names, and the replay's groups holding them.
    pub differing: Vec<(String, Vec<String>, Vec<Vec<String>>)>,
    /// Names of the snapshot the replay did not create.
    pub missing: Vec<String>,
    /// Matched directories whose `slab_size`, `objs_per_slab`, `order` or
    /// `object_size` differ.
    pub attributes: Vec<AttributeMismatch>,
}

impl SnapshotComparison {
    /// True if the replay reproduced the snapshot's partition exactly.
    pub fn partition_identical(&self) -> bool {
        self.differing.is_empty() && self.missing.is_empty() && self.same_groups == self.snapshot_dirs
    }
}

/// Replays `trace` under mainline and compares the result with `census`.
pub fn compare_with_census(trace: &Trace, statics: &StaticSet, census: &Census) -> SnapshotComparison {
    let world = ReportScheme::Mainline.world(statics);
    let replay = Replay::run(&world, trace, statics);
    compare_replay(&world, &replay_groups(&replay), census)
}

/// Compares a mainline replay (its world, and its partition) with `census`.
pub(crate) fn compare_replay(world: &World, groups: &[ReportGroup], census: &Census) -> SnapshotComparison {
    let infos = world.caches();
    let mut group_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        for n in &g.names {
            group_of.insert(n, i);
        }
    }
    let snapshot = census.groups();
    let mut cmp = SnapshotComparison {
        snapshot_dirs: snapshot.len(),
        snapshot_names: snapshot.values().map(Vec::len).sum(),
        replay_groups: groups.len(),
        ..Default::default()
    };
    for (dir, names) in &snapshot {
        let mut held: BTreeSet<usize> = BTreeSet::new();
        for n in names {
            match group_of.get(n.as_str()) {
                Some(&g) => {
                    held.insert(g);
                }
                None => cmp.missing.push(n.clone()),
            }
        }
        let want: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let same = held.len() == 1
            && held.iter().all(|&g| groups[g].names.iter().map(String::as_str).collect::<BTreeSet<_>>() == want);
        if !same {
            cmp.differing.push((dir.clone(), names.clone(), held.iter().map(|&g| groups[g].names.clone()).collect()));
            continue;
        }
        cmp.same_groups += 1;
        let g = &groups[*held.first().expect("one group")];
        if g.dir == *dir {
            cmp.same_dirs += 1;
        }
        let (Some(real), Some(info)) = (census.cache(dir), infos.iter().find(|i| i.sysfs_dir == g.dir)) else {
            continue;
        };
        let differences: Vec<(&'static str, u32, u32)> = [
            (Known::SLAB_SIZE, "slab_size", real.slab_size, info.size),
            (Known::OBJS_PER_SLAB, "objs_per_slab", real.objs_per_slab, info.objs_per_slab),
            (Known::ORDER, "order", real.order, info.order),
            (Known::OBJECT_SIZE, "object_size", real.object_size, info.object_size),
        ]
        .into_iter()
        .filter(|&(known, _, a, b)| real.known.contains(known) && a != b)
        .map(|(_, name, a, b)| (name, a, b))
        .collect();
        if !differences.is_empty() {
            cmp.attributes.push(AttributeMismatch { dir: dir.clone(), differences });
        }
    }
    cmp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mm/slub.c: create_unique_id(): the id's letters give back the MERGE_SAME flags.
    #[test]
    fn unique_id_letters_give_merge_same_flags() {
        let census = Census::bundled();
        let dir = census.cache(":A-0000064").expect("the bundled census has :A-0000064");
        assert!(visible_flags(dir).contains(SLAB_ACCOUNT));
        let plain = census.cache(":0000064").expect("the bundled census has :0000064");
        assert!(!visible_flags(plain).intersects(SLAB_MERGE_SAME));
    }

    /// mm/slab_common.c: find_mergeable(), __kmem_cache_alias(): a trace derived from the
    /// bundled census alone (no reference trace) replays into the census's partition.
    #[test]
    fn derived_trace_replays_into_the_snapshot_partition() {
        let census = Census::bundled();
        let trace = trace_from_census(&census, &Trace::default());
        assert_eq!(trace.rows.len(), 333);
        let cmp = compare_with_census(&trace, &StaticSet::none(), &census);
        assert!(cmp.partition_identical(), "{:?}", cmp.differing);
        assert_eq!(cmp.same_dirs, cmp.snapshot_dirs);
    }
}
