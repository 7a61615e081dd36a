//! What one reader found, before inputs are combined into a [`Snapshot`]:
//! groups of names (with their directory when known) and partial values.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::known::Known;
use super::snapshot::{Coverage, ErrorKind, Format, Snapshot, SnapshotError, Source, Totals};
use super::unique_id::UniqueId;
use crate::input::census::{Census, CensusKind, CensusRow};

/// One instance as an input shows it.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    /// The sysfs directory name, when the input shows it.
    pub dir: Option<String>,
    /// Names living in the instance that the input shows (for a self-named
    /// directory: its own name; for a merged one: its links).
    pub names: Vec<String>,
    /// Values; `known` says which are real. `name`/`kind`/`target` unused.
    pub values: CensusRow,
    /// Where the input showed it (for messages), 0 if not a line.
    pub line: usize,
}

/// Everything one input (or one format within a pasted input) gave.
#[derive(Clone, Debug)]
pub(crate) struct Evidence {
    pub format: Format,
    pub groups: Vec<Group>,
    pub coverage: Coverage,
    pub totals: Option<Totals>,
    pub notes: Vec<String>,
}

impl Evidence {
    pub(crate) fn new(format: Format) -> Evidence {
        Evidence { format, groups: Vec::new(), coverage: Coverage::default(), totals: None, notes: Vec::new() }
    }

    /// The evidence of a full census (directory, tar, TSV): every group, every value.
    pub(crate) fn from_census(format: Format, census: &Census) -> Evidence {
        let groups = census.groups();
        let mut ev = Evidence::new(format);
        ev.coverage = Coverage::FULL;
        for dir in census.caches() {
            ev.groups.push(Group {
                dir: Some(dir.name.clone()),
                names: groups.get(&dir.name).cloned().unwrap_or_default(),
                values: dir.clone(),
                line: 0,
            });
        }
        ev
    }
}

/// An empty row carrying no values.
pub(crate) fn blank_row() -> CensusRow {
    CensusRow {
        name: String::new(),
        kind: CensusKind::Cache,
        target: None,
        object_size: 0,
        slab_size: 0,
        align: 0,
        aliases: 0,
        objs_per_slab: 0,
        order: 0,
        hwcache_align: false,
        reclaim_account: false,
        cache_dma: false,
        destroy_by_rcu: false,
        poison: false,
        red_zone: false,
        store_user: false,
        sanity_checks: false,
        usersize: 0,
        sheaf_capacity: 0,
        ctor: None,
        objects: 0,
        slabs: 0,
        known: Known::NONE,
    }
}

/// The values a unique-id directory name gives.
pub(crate) fn id_values(dir: &str) -> Option<CensusRow> {
    let id = UniqueId::parse(dir)?;
    let mut r = blank_row();
    r.slab_size = id.size;
    r.cache_dma = id.dma;
    r.reclaim_account = id.reclaim_account;
    r.sanity_checks = id.consistency_checks;
    r.known = Known::SLAB_SIZE | Known::CACHE_DMA | Known::RECLAIM_ACCOUNT | Known::SANITY_CHECKS;
    Some(r)
}

/// Copies every value `from` knows into `into`. A value both know and that
/// differs is a conflict (its description) unless it is a live counter, which
/// keeps `into`'s value.
fn merge_values(into: &mut CensusRow, from: &CensusRow) -> Result<(), String> {
    macro_rules! field {
        ($($bit:ident => $f:ident),* $(,)?) => {$(
            if from.known.contains(Known::$bit) {
                if !into.known.contains(Known::$bit) {
                    into.$f = from.$f.clone();
                } else if into.$f != from.$f && !Known::LIVE.contains(Known::$bit) {
                    return Err(format!("`{}`: {:?} and {:?}", stringify!($f), into.$f, from.$f));
                }
            }
        )*};
    }
    field!(
        OBJECT_SIZE => object_size, SLAB_SIZE => slab_size, ALIGN => align, ALIASES => aliases,
        OBJS_PER_SLAB => objs_per_slab, ORDER => order, HWCACHE_ALIGN => hwcache_align,
        RECLAIM_ACCOUNT => reclaim_account, CACHE_DMA => cache_dma, DESTROY_BY_RCU => destroy_by_rcu,
        POISON => poison, RED_ZONE => red_zone, STORE_USER => store_user, SANITY_CHECKS => sanity_checks,
        USERSIZE => usersize, SHEAF_CAPACITY => sheaf_capacity, CTOR => ctor, OBJECTS => objects, SLABS => slabs,
    );
    into.known = into.known | from.known;
    Ok(())
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// One input's evidence list, with its label.
pub(crate) struct Part {
    pub label: String,
    pub evidence: Vec<Evidence>,
}

/// Combines every input into one snapshot: groups sharing a directory or a
/// name are one instance; values are merged field by field.
pub(crate) fn combine(parts: Vec<Part>) -> Result<Snapshot, SnapshotError> {
    let label_all = parts.iter().map(|p| p.label.as_str()).collect::<Vec<_>>().join(" + ");
    let mut sources = Vec::new();
    let mut coverage = Coverage::default();
    let mut totals: Option<Totals> = None;
    let mut notes: Vec<String> = Vec::new();
    // (label, format, group)
    let mut all: Vec<(String, Format, Group)> = Vec::new();
    for part in parts {
        let mut formats = Vec::new();
        for ev in part.evidence {
            if !formats.contains(&ev.format) {
                formats.push(ev.format);
            }
            coverage = coverage.union(ev.coverage);
            if let Some(t) = ev.totals {
                if let Some(old) = totals
                    && old != t
                {
                    notes.push(format!("two slabinfo -T totals differ ({old:?} and {t:?}); the first is kept"));
                } else {
                    totals = Some(t);
                }
            }
            for n in ev.notes {
                let n = format!("{} ({}): {n}", part.label, ev.format);
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
            for g in ev.groups {
                all.push((part.label.clone(), ev.format, g));
            }
        }
        sources.push(Source { label: part.label, formats });
    }
    if all.is_empty() {
        return Err(SnapshotError::new(
            ErrorKind::Empty,
            label_all,
            0,
            "no cache name in the input (slabinfo -T totals alone name no cache: add `ls -l /sys/kernel/slab` or `slabinfo -a -1`)",
        ));
    }

    // Union-find over groups: same directory or a shared name.
    let mut parent: Vec<usize> = (0..all.len()).collect();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for (i, (_, _, g)) in all.iter().enumerate() {
        let keys = g.dir.iter().map(|d| format!("d:{d}")).chain(g.names.iter().map(|n| format!("n:{n}")));
        for k in keys {
            match by_key.get(&k) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    parent[a] = b;
                }
                None => {
                    by_key.insert(k, i);
                }
            }
        }
    }
    let mut sets: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..all.len() {
        let r = find(&mut parent, i);
        sets.entry(r).or_default().push(i);
    }

    let mut dir_rows: Vec<CensusRow> = Vec::new();
    let mut alias_rows: Vec<CensusRow> = Vec::new();
    let mut seen_dirs: BTreeSet<String> = BTreeSet::new();
    let mut undetermined = 0usize;
    for members in sets.values() {
        let mut dirs: BTreeSet<&str> = BTreeSet::new();
        let mut names: BTreeSet<&str> = BTreeSet::new();
        let mut values = blank_row();
        for &i in members {
            let (label, format, g) = &all[i];
            if let Some(d) = &g.dir {
                dirs.insert(d);
            }
            names.extend(g.names.iter().map(String::as_str));
            merge_values(&mut values, &g.values).map_err(|why| {
                let what = g.dir.clone().or_else(|| g.names.first().cloned()).unwrap_or_default();
                SnapshotError::new(
                    ErrorKind::Conflict,
                    label.clone(),
                    g.line,
                    format!(
                        "{format}: cache `{what}` disagrees with an earlier input on {why}; \
                         the inputs are not of one kernel"
                    ),
                )
            })?;
        }
        if dirs.len() > 1 {
            let (label, _, g) = &all[members[0]];
            return Err(SnapshotError::new(
                ErrorKind::Conflict,
                label.clone(),
                g.line,
                format!(
                    "the names {:?} are in directories {:?} by different inputs; the inputs are not of one kernel",
                    names.iter().take(8).collect::<Vec<_>>(),
                    dirs
                ),
            ));
        }
        let dir = dirs.into_iter().next().map(str::to_owned);
        if let Some(d) = &dir
            && let Some(idv) = id_values(d)
        {
            merge_values(&mut values, &idv).map_err(|why| {
                SnapshotError::new(
                    ErrorKind::Conflict,
                    label_all.clone(),
                    0,
                    format!("directory `{d}`: its unique id and the values read disagree on {why}"),
                )
            })?;
        }
        let dir = match dir {
            Some(d) => d,
            None if names.len() == 1 => {
                undetermined += 1;
                names.iter().next().map(|s| s.to_string()).unwrap_or_default()
            }
            None => {
                // Not produced by any reader (a group of several names always comes with its directory).
                let first = names.iter().next().map(|s| s.to_string()).unwrap_or_default();
                notes.push(format!("names {names:?} grouped without a directory; the group is named `{first}`"));
                first
            }
        };
        if !seen_dirs.insert(dir.clone()) {
            return Err(SnapshotError::new(
                ErrorKind::Conflict,
                label_all.clone(),
                0,
                format!("`{dir}` is both a directory and a name of another directory"),
            ));
        }
        let mut row = values.clone();
        row.name = dir.clone();
        row.kind = CensusKind::Cache;
        row.target = None;
        dir_rows.push(row);
        if dir.starts_with(':') || names.len() > 1 || !names.contains(dir.as_str()) {
            for n in names.iter().filter(|n| **n != dir) {
                let mut a = values.clone();
                a.name = n.to_string();
                a.kind = CensusKind::Alias;
                a.target = Some(dir.clone());
                alias_rows.push(a);
            }
        }
    }
    // A row's final values also go to its aliases (done above from the same `values`).
    dir_rows.sort_by(|a, b| a.name.cmp(&b.name));
    alias_rows.sort_by(|a, b| a.name.cmp(&b.name));
    let mut dup = BTreeSet::new();
    for a in &alias_rows {
        if seen_dirs.contains(&a.name) || !dup.insert(a.name.clone()) {
            return Err(SnapshotError::new(
                ErrorKind::Conflict,
                label_all,
                0,
                format!("name `{}` is in two instances; the inputs are not of one kernel", a.name),
            ));
        }
    }
    if undetermined > 0 && !(coverage.multi_name_groups && coverage.single_name_groups) {
        notes.push(format!(
            "{undetermined} instances are known only by the name they were created with: each is a self-named \
             cache or a merged directory `:…` with that one name (which, unknown); they are Cache rows of that name"
        ));
    }
    let mut rows = dir_rows;
    rows.extend(alias_rows);
    let census = Census { rows };
    summarise(&census, &coverage, totals, &mut notes);
    Ok(Snapshot { census, sources, coverage, totals, notes })
}

/// Adds the notes that depend on the whole result: unknown fields, missing
/// coverage, totals that disagree.
fn summarise(census: &Census, coverage: &Coverage, totals: Option<Totals>, notes: &mut Vec<String>) {
    let dirs: Vec<&CensusRow> = census.caches().collect();
    let mut none_know = Vec::new();
    let mut some_know = Vec::new();
    for (bit, name) in Known::FIELDS {
        let n = dirs.iter().filter(|r| r.known.contains(*bit)).count();
        if n == 0 {
            none_know.push(*name);
        } else if n < dirs.len() {
            some_know.push(format!("{name} ({} of {})", dirs.len() - n, dirs.len()));
        }
    }
    if !none_know.is_empty() {
        let live = none_know.contains(&"objects") || none_know.contains(&"slabs");
        notes.push(format!(
            "unknown for every cache (placeholders 0/false/none; see CensusRow::known): {}",
            none_know.join(", ")
        ));
        if live {
            notes.push("live counts absent: no objects/slabs, so no memory workload can be derived".to_owned());
        }
    }
    if !some_know.is_empty() {
        notes.push(format!("unknown for some caches: {}", some_know.join(", ")));
    }
    if !coverage.complete() {
        let mut missing = Vec::new();
        if !coverage.multi_name_groups {
            missing.push("merged directories with two or more names");
        }
        if !coverage.single_name_groups && !coverage.instances {
            missing.push("merged directories with one name");
        }
        if !coverage.instances {
            missing.push("instances not listed (self-named caches; with a listing, caches with no slab)");
        }
        notes
            .push(format!("partition incomplete: not every name is present; possibly missing: {}", missing.join("; ")));
    }
    if let Some(t) = totals
        && coverage.complete()
    {
        let caches = dirs.len() as u32;
        let aliases = census.rows.iter().filter(|r| r.kind == CensusKind::Alias).count() as u32;
        let targets = dirs.iter().filter(|r| r.name.starts_with(':')).count() as u32;
        if (t.caches, t.aliases, t.alias_targets) != (caches, aliases, targets) {
            notes.push(format!(
                "slabinfo -T says {} caches, {} aliases into {} directories; the census has {caches}, {aliases}, {targets} \
                 (taken at another time, or a pattern was given to slabinfo)",
                t.caches, t.aliases, t.alias_targets
            ));
        }
    }
}
