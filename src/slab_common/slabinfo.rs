//! `/proc/slabinfo`, `ls -l /sys/kernel/slab` and `slabinfo -a` renderings.
//!
//! Mirrors `mm/slab_common.c`: `print_slabinfo_header()`, `slab_start()`,
//! `cache_show()`; `mm/slub.c`: `get_slabinfo()`; and `tools/mm/slabinfo.c`:
//! `read_slab_dir()`, `sort_aliases()`, `link_slabs()`, `alias()`. The texts
//! are what a kernel developer would compare with a running machine, so the
//! column widths are the kernel's.

use std::fmt::Write as _;

use crate::schemes::AliasListing;
use crate::slab_common::cache::{InstanceKind, InstanceState, KmemCache};
use crate::slab_common::sysfs::{SysfsEntry, SysfsNode};
use crate::slab_common::world::{CacheInfo, World};

/// Mirrors `mm/slab_common.c`: `print_slabinfo_header()` (without
/// `CONFIG_DEBUG_SLAB`, which went with SLAB).
const SLABINFO_HEADER: &str = "slabinfo - version: 2.1\n\
    # name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> \
    : tunables <limit> <batchcount> <sharedfactor> \
    : slabdata <active_slabs> <num_slabs> <sharedavail>\n";

/// Mirrors reading `/proc/slabinfo`: `slab_start()` walks `slab_caches` from
/// its head, so the newest cache comes first; `cache_show()` prints one line
/// per listed instance with the figures of `get_slabinfo()`.
///
/// `active_objs` is every object not free on a slab (objects cached in
/// per-cpu or barn sheaves count as active, as `count_partial_free_approx()`
/// only counts slab freelists); `num_objs` the slots of all slabs;
/// `objsize` is `s->size` (the stride, not `object_size`); SLUB has no
/// tunables and no shared array, hence the zeros.
///
/// In the primary-cache scheme an alias is an instance of its own on
/// `slab_caches`, so it gets a line; its figures are its primary's, as the
/// slabs are shared and nothing counts them per alias.
pub fn proc_slabinfo(world: &World) -> String {
    let mut out = String::from(SLABINFO_HEADER);
    let reg = world.core.slab_mutex.lock();
    for id in reg.slab_caches.iter().rev() {
        let cache = reg.caches[id].get();
        let info = CacheInfo::of(cache, &reg);
        let stats = cache.storage().map(|s| s.stats()).unwrap_or_default();
        // %-17s %6lu %6lu %6u %4u %4d, then the tunables and slabdata groups.
        let _ = writeln!(
            out,
            "{:<17} {:>6} {:>6} {:>6} {:>4} {:>4} : tunables {:>4} {:>4} {:>4} : slabdata {:>6} {:>6} {:>6}",
            info.name,
            stats.active_objects(),
            stats.total_objects,
            info.size,
            info.objs_per_slab,
            1u64 << info.order,
            0,
            0,
            0,
            stats.slabs,
            stats.slabs,
            0
        );
    }
    out
}

/// An `ls -l /sys/kernel/slab` listing: `total 0`, then one line per entry
/// in `ls`'s C-locale order, directories as `drwxr-xr-x 2` and symlinks as
/// `lrwxrwxrwx 1 ... name -> target`. sysfs files have size 0 and belong to
/// root. The model has no clock, so the date column is left out.
///
/// A link whose target directory is gone (an alias link left behind by the
/// final `kmem_cache_destroy()`, `kernel-slab.md` §13.4) is what `ls` colours
/// as an orphan; here it ends with ` (dangling)`.
pub fn ls_sys_kernel_slab(world: &World) -> String {
    render_ls(&world.sysfs())
}

fn render_ls(entries: &[SysfsEntry]) -> String {
    let mut out = String::from("total 0\n");
    for e in entries {
        match &e.node {
            SysfsNode::Dir => {
                let _ = writeln!(out, "drwxr-xr-x 2 root root 0 {}", e.name);
            }
            SysfsNode::Link { target } => {
                let dangling = if e.dangling { " (dangling)" } else { "" };
                let _ = writeln!(out, "lrwxrwxrwx 1 root root 0 {} -> {target}{dangling}", e.name);
            }
        }
    }
    out
}

/// `slabinfo -a`: every directory that more than one name links to, as
/// `"\n%-12s <- %s"` followed by `" %s"` for each further name, and a final
/// newline (`tools/mm/slabinfo.c: alias()`). Groups are ordered by directory
/// name ignoring case (`sort_aliases()`); within a group the tool follows
/// `readdir()` order, which kernfs does not define, so names are sorted the
/// same way to make the output reproducible. A directory with a single link
/// is skipped, as the tool does without `-1`.
///
/// Links whose directory is gone make the real tool stop with
/// "Unresolved alias" (`link_slabs()`); here their group is printed anyway,
/// whatever its size, and marked ` (dangling)`, because lingering alias
/// links are exactly what a reader of this listing looks for.
///
/// Under the primary-cache scheme the groups come from the instances rather
/// than from sysfs: each primary that has alias instances is printed with its
/// sysfs directory, the primary first in brackets (`[name]`, `[headless]`
/// once its creator destroyed it, `[hidden]` for a hidden primary created
/// for a module static), then its aliases in creation order.
/// Dangling links follow, as above.
pub fn slabinfo_aliases(world: &World) -> String {
    let entries = world.sysfs();
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    if world.config().scheme.rules().alias_listing() == AliasListing::Instances {
        groups.extend(primary_groups(world));
        groups.extend(
            link_groups(&entries).into_iter().filter(|(_, _, dangling)| *dangling).map(|(dir, names, _)| {
                (format!("{dir:<12} <- {}", names.join(" ")), vec![String::from(" (dangling)")])
            }),
        );
    } else {
        for (dir, names, dangling) in link_groups(&entries) {
            if names.len() < 2 && !dangling {
                continue;
            }
            let tail = if dangling { vec![String::from(" (dangling)")] } else { Vec::new() };
            groups.push((format!("{dir:<12} <- {}", names.join(" ")), tail));
        }
    }
    let mut out = String::new();
    for (line, tail) in &groups {
        out.push('\n');
        out.push_str(line);
        for t in tail {
            out.push_str(t);
        }
    }
    if !groups.is_empty() {
        out.push('\n');
    }
    out
}

/// `read_slab_dir()` + `sort_aliases()` + `link_slabs()`: the links grouped
/// by target, ordered by target ignoring case, each with its names (sorted
/// the same way) and whether the target directory is missing.
fn link_groups(entries: &[SysfsEntry]) -> Vec<(String, Vec<String>, bool)> {
    let mut groups: Vec<(String, Vec<String>, bool)> = Vec::new();
    for e in entries {
        if let SysfsNode::Link { target } = &e.node {
            match groups.iter_mut().find(|g| g.0 == *target) {
                Some(g) => g.1.push(e.name.clone()),
                None => groups.push((target.clone(), vec![e.name.clone()], e.dangling)),
            }
        }
    }
    groups.sort_by(|a, b| strcasecmp(&a.0, &b.0));
    for g in &mut groups {
        g.1.sort_by(|a, b| strcasecmp(a, b));
    }
    groups
}

/// The primary scheme's groups: (line, empty tail) for each primary with aliases.
fn primary_groups(world: &World) -> Vec<(String, Vec<String>)> {
    let reg = world.core.slab_mutex.lock();
    let instances: Vec<&KmemCache> = reg.slab_caches.iter().map(|id| reg.caches[id].get()).collect();
    let mut groups: Vec<(String, String)> = Vec::new();
    for p in instances.iter().filter(|c| !c.is_alias()) {
        let aliases: Vec<String> = instances
            .iter()
            .filter(|a| a.is_alias() && a.primary_cache().is_some_and(|q| std::ptr::eq(q, *p)))
            .map(|a| a.name())
            .collect();
        if aliases.is_empty() {
            continue;
        }
        let info = CacheInfo::of(p, &reg);
        let label = match (info.kind, info.state) {
            (InstanceKind::HiddenPrimary, _) => String::from("[hidden]"),
            (_, InstanceState::Headless) => String::from("[headless]"),
            _ => format!("[{}]", info.name),
        };
        groups.push((info.sysfs_dir.clone(), format!("{:<12} <- {label} {}", info.sysfs_dir, aliases.join(" "))));
    }
    groups.sort_by(|a, b| strcasecmp(&a.0, &b.0));
    groups.into_iter().map(|(_, line)| (line, Vec::new())).collect()
}

/// How `slabinfo`'s listing is sorted (`tools/mm/slabinfo.c: sort_slabs()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListingSort {
    /// By name ignoring case (the default).
    Name,
    /// `-S`: largest `slab_size()` first.
    Size,
    /// `-L`: largest `slab_waste()` first; the Space column shows the loss.
    Loss,
}

/// One `/sys/kernel/slab` directory as `read_slab_dir()` reads it.
#[derive(Clone, Debug)]
struct SlabDir {
    name: String,
    refs: usize,
    aliases: u64,
    objects: u64,
    /// Objects handed out to users (`objects` less those cached in sheaves).
    live_objects: u64,
    objects_partial: u64,
    object_size: u64,
    slab_size: u64,
    objs_per_slab: u64,
    order: u32,
    slabs: u64,
    partial: u64,
    flags: crate::flags::SlabFlags,
}

const PAGE_SIZE: u64 = 4096;

impl SlabDir {
    /// `slab_size()`: bytes of every slab.
    fn size(&self) -> u64 {
        self.slabs * (PAGE_SIZE << self.order)
    }

    /// `slab_waste()`: slab bytes not holding an object's payload.
    fn waste(&self) -> u64 {
        self.size().saturating_sub(self.objects * self.object_size)
    }
}

/// The directories of the world's sysfs, with the figures `slabinfo` reads
/// from their attributes, and the number of alias links. Directories are
/// read from the instances on `slab_caches` that own a storage; `refs` counts
/// the links to each (`link_slabs()`). The model has no cpu slabs (sheaves
/// stand in for them), so `cpu_slabs` is 0; `objects_partial` is the objects
/// in use on partial slabs (every free slot is on a partial slab).
fn slab_dirs(world: &World) -> (Vec<SlabDir>, usize) {
    let entries = world.sysfs();
    let reg = world.core.slab_mutex.lock();
    let mut dirs: Vec<SlabDir> = Vec::new();
    for id in reg.slab_caches.iter() {
        let cache = reg.caches[id].get();
        if cache.is_alias() {
            continue;
        }
        let info = CacheInfo::of(cache, &reg);
        if dirs.iter().any(|d| d.name == info.sysfs_dir) {
            continue;
        }
        let stats = cache.storage().map(|s| s.stats()).unwrap_or_default();
        let objects = stats.active_objects() as u64;
        let partial_slots = stats.partial_slabs as u64 * u64::from(info.objs_per_slab);
        let free = stats.free_objects as u64;
        let refs = entries
            .iter()
            .filter(|e| matches!(&e.node, SysfsNode::Link { target } if *target == info.sysfs_dir))
            .count();
        dirs.push(SlabDir {
            name: info.sysfs_dir.clone(),
            refs,
            aliases: u64::try_from(info.refcount.max(1) - 1).unwrap_or(0),
            objects,
            live_objects: stats.live_objects() as u64,
            objects_partial: partial_slots.saturating_sub(free),
            object_size: u64::from(info.object_size),
            slab_size: u64::from(info.size),
            objs_per_slab: u64::from(info.objs_per_slab),
            order: info.order,
            slabs: stats.slabs as u64,
            partial: stats.partial_slabs as u64,
            flags: info.flags,
        });
    }
    let links = entries.iter().filter(|e| matches!(e.node, SysfsNode::Link { .. })).count();
    (dirs, links)
}

/// Slab pages per sysfs directory (every slab's `1 << order` pages).
pub fn pages_by_dir(world: &World) -> std::collections::BTreeMap<String, u64> {
    slab_dirs(world).0.into_iter().map(|d| (d.name, d.slabs << d.order)).collect()
}

/// Objects handed out to users per sysfs directory (sheaf-cached objects,
/// which sysfs `objects` counts, left out): what a workload holds there.
pub fn live_objects_by_dir(world: &World) -> std::collections::BTreeMap<String, u64> {
    slab_dirs(world).0.into_iter().map(|d| (d.name, d.live_objects)).collect()
}

/// `store_size()`: `-` for 0, else the value with K, M or G and one decimal
/// (powers of 1000, digits truncated).
pub fn store_size(value: u64) -> String {
    if value == 0 {
        return "-".to_owned();
    }
    let (divisor, trailer) = if value > 1_000_000_000 {
        (100_000_000, Some('G'))
    } else if value > 1_000_000 {
        (100_000, Some('M'))
    } else if value > 1000 {
        (100, Some('K'))
    } else {
        (1, None)
    };
    let digits = (value / divisor).to_string();
    match trailer {
        None => digits,
        Some(t) => {
            let (int, dec) = digits.split_at(digits.len() - 1);
            format!("{}.{dec}{t}", if int.is_empty() { "0" } else { int })
        }
    }
}

/// `slabinfo` (`-l`, the default), `slabinfo -S` and `slabinfo -L`: the
/// listing of `slabcache()` after `link_slabs()`, `rename_slabs()` (a `:…`
/// directory with one alias shows under that alias's name, one with none is
/// left out) and `sort_slabs()`. Directories with no slab are skipped, as
/// the tool does without `-z`.
pub fn slabinfo_listing(world: &World, sort: ListingSort) -> String {
    let (mut dirs, _) = slab_dirs(world);
    let entries = world.sysfs();
    dirs.retain_mut(|d| {
        if !d.name.starts_with(':') || d.refs > 1 {
            return true;
        }
        let alias = entries.iter().find_map(|e| match &e.node {
            SysfsNode::Link { target } if *target == d.name => Some(e.name.clone()),
            _ => None,
        });
        match alias {
            Some(a) => {
                d.name = a;
                true
            }
            None => false,
        }
    });
    dirs.sort_by(|a, b| {
        let key = match sort {
            ListingSort::Name => std::cmp::Ordering::Equal,
            ListingSort::Size => b.size().cmp(&a.size()),
            ListingSort::Loss => b.waste().cmp(&a.waste()),
        };
        key.then_with(|| strcasecmp(&a.name, &b.name))
    });
    let mut out = String::new();
    for d in dirs.iter().filter(|d| d.slabs > 0) {
        if out.is_empty() {
            let _ = writeln!(
                out,
                "Name                   Objects Objsize           {} Slabs/Part/Cpu  O/S O %Fr %Ef Flg",
                if sort == ListingSort::Loss { " Loss" } else { "Space" }
            );
        }
        use crate::flags::*;
        let mut flags = String::new();
        for (on, c) in [
            (d.aliases > 0, '*'),
            (d.flags.contains(SLAB_CACHE_DMA), 'd'),
            (d.flags.contains(SLAB_HWCACHE_ALIGN), 'A'),
            (d.flags.contains(SLAB_POISON), 'P'),
            (d.flags.contains(SLAB_RECLAIM_ACCOUNT), 'a'),
            (d.flags.contains(SLAB_RED_ZONE), 'Z'),
            (d.flags.contains(SLAB_CONSISTENCY_CHECKS), 'F'),
            (d.flags.contains(SLAB_STORE_USER), 'U'),
            (d.flags.contains(SLAB_TRACE), 'T'),
        ] {
            if on {
                flags.push(c);
            }
        }
        let space = store_size(if sort == ListingSort::Loss { d.waste() } else { d.size() });
        let _ = writeln!(
            out,
            "{:<21} {:>8} {:>7} {:>15} {:>14} {:>4} {:>1} {:>3} {:>3} {flags}",
            d.name,
            d.objects,
            d.object_size,
            space,
            format!("{}/{}/0", d.slabs, d.partial),
            d.objs_per_slab,
            d.order,
            d.partial * 100 / d.slabs,
            d.objects * d.object_size * 100 / d.size(),
        );
    }
    out
}

/// `slabinfo -T`: `totals()` over every directory with slabs and objects.
pub fn slabinfo_totals(world: &World) -> String {
    let (dirs, links) = slab_dirs(world);
    let used: Vec<&SlabDir> = dirs.iter().filter(|d| d.slabs > 0 && d.objects > 0).collect();
    let total_objects: u64 = used.iter().map(|d| d.objects).sum();
    if total_objects == 0 {
        return "No objects\n".to_owned();
    }
    let n = used.len() as u64;
    let stat = |f: &dyn Fn(&SlabDir) -> u64| {
        let values: Vec<u64> = used.iter().map(|d| f(d)).collect();
        let total: u64 = values.iter().sum();
        (total / n, values.iter().copied().min().unwrap_or(0), values.iter().copied().max().unwrap_or(0), total)
    };
    let objects = stat(&|d| d.objects);
    let slabs = stat(&|d| d.slabs);
    let partial = stat(&|d| d.partial);
    let ppart = stat(&|d| (d.partial * 100 / d.slabs).min(100));
    let partobj = stat(&|d| d.objects_partial);
    let ppartobj = stat(&|d| (d.objects_partial * 100 / d.objects).min(100));
    let size = stat(&|d| d.size());
    let used_b = stat(&|d| d.objects * d.object_size);
    let waste = stat(&|d| d.waste());
    let objwaste = stat(&|d| d.slab_size - d.object_size);
    let memobj = stat(&|d| d.slab_size);
    let objsize = stat(&|d| d.object_size);
    let total_objwaste: u64 = used.iter().map(|d| d.objects * (d.slab_size - d.object_size)).sum();
    let total_objsize: u64 = used.iter().map(|d| d.objects * d.slab_size).sum();
    let targets = dirs.iter().filter(|d| d.name.starts_with(':')).count();
    let s = store_size;
    let mut out = String::new();
    let _ = writeln!(out, "Slabcache Totals\n----------------");
    let _ = writeln!(
        out,
        "Slabcaches : {:>15}   Aliases  : {:>11}->{:<3}  Active:    {:>3}",
        dirs.len(),
        links,
        targets,
        used.len()
    );
    let _ = writeln!(
        out,
        "Memory used: {:>15}   # Loss   : {:>15}   MRatio:{:>6}%",
        s(size.3),
        s(waste.3),
        s(waste.3 * 100 / used_b.3.max(1))
    );
    let _ = writeln!(
        out,
        "# Objects  : {:>15}   # PartObj: {:>15}   ORatio:{:>6}%",
        s(objects.3),
        s(partobj.3),
        s(partobj.3 * 100 / total_objects)
    );
    let _ = writeln!(out, "\nPer Cache         Average              Min              Max            Total");
    let _ = writeln!(out, "{}", "-".repeat(76));
    let row4 = |out: &mut String, label: &str, v: (u64, u64, u64, u64)| {
        let _ = writeln!(out, "{label:<10}{:>15}  {:>15}  {:>15}  {:>15}", s(v.0), s(v.1), s(v.2), s(v.3));
    };
    let pct4 = |out: &mut String, label: &str, v: (u64, u64, u64, u64)| {
        let _ = writeln!(out, "{label:<9}{:>15}% {:>15}% {:>15}% {:>15}%", s(v.0), s(v.1), s(v.2), s(v.3));
    };
    row4(&mut out, "#Objects", objects);
    row4(&mut out, "#Slabs", slabs);
    row4(&mut out, "#PartSlab", partial);
    pct4(&mut out, "%PartSlab", (ppart.0, ppart.1, ppart.2, partial.3 * 100 / slabs.3));
    row4(&mut out, "PartObjs", partobj);
    pct4(&mut out, "% PartObj", (ppartobj.0, ppartobj.1, ppartobj.2, partobj.3 * 100 / total_objects));
    row4(&mut out, "Memory", size);
    row4(&mut out, "Used", used_b);
    row4(&mut out, "Loss", waste);
    let _ = writeln!(out, "\nPer Object        Average              Min              Max");
    let _ = writeln!(out, "{}", "-".repeat(59));
    let row3 = |out: &mut String, label: &str, avg: u64, v: (u64, u64, u64, u64)| {
        let _ = writeln!(out, "{label:<10}{:>15}  {:>15}  {:>15}", s(avg), s(v.1), s(v.2));
    };
    row3(&mut out, "Memory", total_objsize / total_objects, memobj);
    row3(&mut out, "User", used_b.3 / total_objects, objsize);
    row3(&mut out, "Loss", total_objwaste / total_objects, objwaste);
    out
}

/// `strcasecmp()`: byte order after ASCII lower-casing.
fn strcasecmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SlabConfig;
    use crate::flags::*;
    use crate::schemes::Scheme;
    use crate::slab_common::cache::kmem_cache_destroy;
    use crate::slab_common::request::KmemCacheArgs;

    /// tools/mm/slabinfo.c: store_size(), checked against a real `slabinfo` listing.
    #[test]
    fn store_size_matches_the_tool() {
        assert_eq!(store_size(0), "-");
        assert_eq!(store_size(999), "999");
        assert_eq!(store_size(4096), "4.0K");
        assert_eq!(store_size(2647 * 16384), "43.3M");
        assert_eq!(store_size(1_500_000_000), "1.5G");
    }

    fn tiny_world() -> World {
        // One CPU, sheaves of 2 objects, slabs of 4 objects: every figure is small and known.
        World::bare(SlabConfig::tiny(Scheme::Mainline, 1, 2, 4))
    }

    fn body(text: &str) -> Vec<&str> {
        text.lines().skip(2).collect()
    }

    /// mm/slab_common.c: print_slabinfo_header(), cache_show(); mm/slub.c: get_slabinfo().
    #[test]
    fn proc_slabinfo_prints_the_kernel_columns_newest_first() {
        let w = tiny_world();
        let old = w.kmem_cache_create("old_cache", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let new = w.kmem_cache_create("new_cache", 100, KmemCacheArgs::default(), SLAB_NO_MERGE).unwrap();
        let text = proc_slabinfo(&w);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("slabinfo - version: 2.1"));
        assert_eq!(
            lines.next(),
            Some(
                "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> \
                 : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
            )
        );
        // Nothing allocated yet: no slab, and each line names its own stride.
        assert_eq!(
            body(&text),
            [
                format!(
                    "new_cache              0      0    {:>3}    4    1 : tunables    0    0    0 : slabdata      0      0      0",
                    new.size()
                ),
                format!(
                    "old_cache              0      0    {:>3}    4    1 : tunables    0    0    0 : slabdata      0      0      0",
                    old.size()
                ),
            ]
        );
        // One allocation refills the CPU's sheaf (2 objects) from a new slab
        // of 4: two objects are active (one handed out, one in the sheaf).
        let o = old.alloc().unwrap();
        let line = body(&proc_slabinfo(&w))[1].to_owned();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cols[..6], ["old_cache", "2", "4", "64", "4", "1"]);
        assert_eq!(&cols[cols.len() - 3..], ["1", "1", "0"]);
        // A name longer than 17 columns pushes the rest of the line, as %-17s does.
        let long = w.kmem_cache_create("a_name_longer_than_17", 32, KmemCacheArgs::default(), SLAB_NO_MERGE).unwrap();
        assert!(body(&proc_slabinfo(&w))[0].starts_with("a_name_longer_than_17      0      0     32"));
        old.free(o).unwrap();
        for c in [long, new, old] {
            kmem_cache_destroy(c).unwrap();
        }
        assert_eq!(body(&proc_slabinfo(&w)), Vec::<&str>::new());
    }

    /// mm/slab_common.c: __kmem_cache_alias(): an alias adds no line; the first name stays.
    #[test]
    fn proc_slabinfo_lists_a_merged_cache_once_under_its_first_name() {
        let w = tiny_world();
        let a = w.kmem_cache_create("first", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let b = w.kmem_cache_create("second", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let text = proc_slabinfo(&w);
        let names: Vec<&str> = body(&text).iter().map(|l| l.split_whitespace().next().unwrap()).collect();
        assert_eq!(names, ["first"]);
        kmem_cache_destroy(a).unwrap();
        let text = proc_slabinfo(&w);
        let names: Vec<&str> = body(&text).iter().map(|l| l.split_whitespace().next().unwrap()).collect();
        assert_eq!(names, ["first"], "the cache lives on under the first creator's name");
        kmem_cache_destroy(b).unwrap();
    }

    /// mm/slub.c: sysfs_slab_add(), sysfs_slab_alias(), sysfs_slab_unlink().
    #[test]
    fn ls_shows_directories_links_and_dangling_links() {
        let w = tiny_world();
        let a = w.kmem_cache_create("dentry_like", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let b = w.kmem_cache_create("Alias", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let c = w.kmem_cache_create("own_dir", 64, KmemCacheArgs::default(), SLAB_NO_MERGE).unwrap();
        assert_eq!(
            ls_sys_kernel_slab(&w),
            "total 0\n\
             drwxr-xr-x 2 root root 0 :0000064\n\
             lrwxrwxrwx 1 root root 0 Alias -> :0000064\n\
             lrwxrwxrwx 1 root root 0 dentry_like -> :0000064\n\
             drwxr-xr-x 2 root root 0 own_dir\n"
        );
        kmem_cache_destroy(a).unwrap();
        kmem_cache_destroy(b).unwrap();
        kmem_cache_destroy(c).unwrap();
        assert_eq!(
            ls_sys_kernel_slab(&w),
            "total 0\n\
             lrwxrwxrwx 1 root root 0 Alias -> :0000064 (dangling)\n\
             lrwxrwxrwx 1 root root 0 dentry_like -> :0000064 (dangling)\n"
        );
    }

    /// tools/mm/slabinfo.c: alias(): "\n%-12s <- %s" then " %s" per further name.
    #[test]
    fn slabinfo_aliases_groups_names_by_directory() {
        let w = tiny_world();
        let mut handles = Vec::new();
        for (name, size, flags) in [
            ("b64", 64, SlabFlags::EMPTY),
            ("a64", 64, SlabFlags::EMPTY),
            ("lonely", 128, SlabFlags::EMPTY),
            ("acct1", 192, SLAB_ACCOUNT),
            ("Acct2", 192, SLAB_ACCOUNT),
            ("c64", 64, SlabFlags::EMPTY),
        ] {
            handles.push(w.kmem_cache_create(name, size, KmemCacheArgs::default(), flags).unwrap());
        }
        // Directories sort ignoring case (":0000064" < ":A-0000192"); a single link is skipped.
        assert_eq!(slabinfo_aliases(&w), "\n:0000064     <- a64 b64 c64\n:A-0000192   <- acct1 Acct2\n");
        // Destroy the whole 64-byte group: its links linger and are marked.
        let c64 = handles.pop().unwrap();
        kmem_cache_destroy(c64).unwrap();
        let acct2 = handles.pop().unwrap();
        let acct1 = handles.pop().unwrap();
        let lonely = handles.pop().unwrap();
        for h in handles {
            kmem_cache_destroy(h).unwrap();
        }
        assert_eq!(slabinfo_aliases(&w), "\n:0000064     <- a64 b64 c64 (dangling)\n:A-0000192   <- acct1 Acct2\n");
        for h in [acct2, acct1, lonely] {
            kmem_cache_destroy(h).unwrap();
        }
        let w2 = tiny_world();
        assert_eq!(slabinfo_aliases(&w2), "", "nothing merged, nothing printed");
    }

    /// Primary scheme: each alias is its own instance; primaries are marked.
    #[test]
    fn slabinfo_aliases_marks_primaries_and_headless_primaries() {
        let w = World::bare(SlabConfig::tiny(Scheme::Primary, 1, 2, 4));
        let p = w.kmem_cache_create("prim", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let a = w.kmem_cache_create("al1", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let b = w.kmem_cache_create("al2", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        assert!(a.is_alias() && b.is_alias());
        assert_eq!(slabinfo_aliases(&w), "\n:0000064     <- [prim] al1 al2\n");
        // Every instance is listed in /proc/slabinfo, newest first.
        let text = proc_slabinfo(&w);
        let names: Vec<&str> = body(&text).iter().map(|l| l.split_whitespace().next().unwrap()).collect();
        assert_eq!(names, ["al2", "al1", "prim"]);
        kmem_cache_destroy(p).unwrap();
        assert_eq!(slabinfo_aliases(&w), "\n:0000064     <- [headless] al1 al2\n");
        kmem_cache_destroy(a).unwrap();
        kmem_cache_destroy(b).unwrap();
        assert_eq!(slabinfo_aliases(&w), "");
    }

    /// Primary scheme: a module static with no compatible primary gets a hidden one.
    #[test]
    fn slabinfo_aliases_marks_hidden_primaries() {
        let w = World::bare(SlabConfig::tiny(Scheme::Primary, 1, 2, 4));
        let mut m = w.module_load("m", 1);
        m.kmem_cache_setup(0, "mod_static", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let text = slabinfo_aliases(&w);
        assert_eq!(text, format!("\n{:<12} <- [hidden] mod_static\n", m.static_cache(0).sysfs_dir()));
        m.kmem_cache_destroy(0).unwrap();
        assert!(w.module_unload(m).is_ok());
        assert_eq!(slabinfo_aliases(&w), "");
    }
}
