//! Reads the output of the kernel's `slabinfo` tool (`tools/mm/slabinfo.c`,
//! `tools/vm/slabinfo.c` before 6.3, `Documentation/vm/slabinfo.c` before 3.x).
//!
//! * `-a`: `alias()` prints, per merged directory, `\n%-12s <- %s` then ` %s`
//!   per further name (the 2007 original used `%-20s`; the parse is the
//!   same). Directories with a single name are skipped unless `-1` is given
//!   (`!show_single_ref && a->slab->refs == 1`), and self-named caches never appear.
//! * `-a -i`: `%-20s -> %s\n` per name (same skipping).
//! * listing (default, `-l`, `-S`, `-L`, `-z`, `-X` sections): header
//!   `Name Objects Objsize Space Slabs/Part/Cpu O/S O %Fr %Ef Flg`, then
//!   `%-21s %8ld %7d %15s %14s %4d %1d %3ld %3ld %s`. `rename_slabs()`
//!   shows a merged directory with one name by that name, one with several
//!   by its `:…` id. Caches with no slab are left out unless `-z`.
//!   `Flg`: `*` aliases, `d` cache_dma, `A` hwcache_align, `P` poison,
//!   `a` reclaim_account, `Z` red_zone, `F` sanity_checks, `U` store_user, `T` trace.
//! * `-D` activity listing: `Name Objects Alloc Free %Fast Fallb O CmpX UL`.
//! * `-T`: `Slabcache Totals` then `Slabcaches : %d Aliases : %d->%-3d Active: %d`.

use std::collections::BTreeMap;

use super::evidence::{Evidence, Group, blank_row};
use super::known::Known;
use super::snapshot::{Coverage, ErrorKind, Format, SnapshotError, Totals};
use super::text::Line;

/// `dir <- a b c` → `(dir, [a, b, c])`.
pub(crate) fn parse_alias_group(text: &str) -> Option<(String, Vec<String>)> {
    let (dir, names) = text.split_once(" <- ")?;
    let dir = dir.trim();
    if dir.is_empty() || dir.contains(char::is_whitespace) {
        return None;
    }
    let names: Vec<String> = names.split_whitespace().map(str::to_owned).collect();
    (!names.is_empty()).then(|| (dir.to_owned(), names))
}

/// `name -> dir` (three tokens) → `(name, dir)`.
pub(crate) fn parse_inverted(text: &str) -> Option<(String, String)> {
    let t: Vec<&str> = text.split_whitespace().collect();
    (t.len() == 3 && t[1] == "->").then(|| (t[0].to_owned(), t[2].to_owned()))
}

/// Which listing a header line starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listing {
    Sizes,
    Activity,
}

pub(crate) fn listing_header(text: &str) -> Option<Listing> {
    let t: Vec<&str> = text.split_whitespace().collect();
    match t.as_slice() {
        ["Name", "Objects", "Objsize", _, "Slabs/Part/Cpu", "O/S", "O", "%Fr", "%Ef", "Flg"] => Some(Listing::Sizes),
        ["Name", "Objects", "Alloc", "Free", "%Fast", "Fallb", "O", "CmpX", "UL"] => Some(Listing::Activity),
        _ => None,
    }
}

/// `Slabcaches : 235   Aliases  : 194->96   Active: 121`.
pub(crate) fn parse_totals(text: &str) -> Option<Result<Totals, String>> {
    if !text.starts_with("Slabcaches") {
        return None;
    }
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let grab = |key: &str| -> Option<&str> {
        let rest = &t[t.find(key)? + key.len()..];
        rest.trim_start().trim_start_matches(':').split_whitespace().next()
    };
    let parsed = (|| {
        let caches = grab("Slabcaches")?.parse().ok()?;
        let (a, b) = grab("Aliases")?.split_once("->")?;
        let active = grab("Active")?.parse().ok()?;
        Some(Totals { caches, aliases: a.parse().ok()?, alias_targets: b.parse().ok()?, active })
    })();
    Some(parsed.ok_or_else(|| format!("slabinfo -T totals line not understood: {text:?}")))
}

fn num<T: std::str::FromStr>(tok: &str, what: &str) -> Result<T, String> {
    tok.parse().map_err(|_| format!("`{what}`: expected a number, found {tok:?}"))
}

/// One listing row → (name, values).
pub(crate) fn parse_listing_row(
    kind: Listing,
    text: &str,
) -> Result<(String, crate::input::census::CensusRow), String> {
    let t: Vec<&str> = text.split_whitespace().collect();
    let mut r = blank_row();
    match kind {
        Listing::Sizes => {
            if !(t.len() == 9 || t.len() == 10) {
                return Err(format!(
                    "expected `Name Objects Objsize Space Slabs/Part/Cpu O/S O %Fr %Ef [Flg]`, found {} fields",
                    t.len()
                ));
            }
            r.objects = num(t[1], "Objects")?;
            r.object_size = num(t[2], "Objsize")?;
            let dist: Vec<&str> = t[4].split('/').collect();
            if dist.len() != 3 {
                return Err(format!("`Slabs/Part/Cpu`: expected a/b/c, found {:?}", t[4]));
            }
            let full: u64 = num(dist[0], "Slabs")?;
            let _partial: u64 = num(dist[1], "Part")?;
            let cpu: u64 = num(dist[2], "Cpu")?;
            r.slabs = full + cpu;
            r.objs_per_slab = num(t[5], "O/S")?;
            r.order = num(t[6], "O")?;
            num::<u64>(t[7], "%Fr")?;
            num::<u64>(t[8], "%Ef")?;
            let flags = t.get(9).copied().unwrap_or("");
            if let Some(bad) = flags.chars().find(|c| !"*dAPaZFUT".contains(*c)) {
                return Err(format!("`Flg`: unknown flag letter {bad:?} in {flags:?}"));
            }
            r.cache_dma = flags.contains('d');
            r.hwcache_align = flags.contains('A');
            r.poison = flags.contains('P');
            r.reclaim_account = flags.contains('a');
            r.red_zone = flags.contains('Z');
            r.sanity_checks = flags.contains('F');
            r.store_user = flags.contains('U');
            r.known = Known::OBJECTS
                | Known::OBJECT_SIZE
                | Known::SLABS
                | Known::OBJS_PER_SLAB
                | Known::ORDER
                | Known::CACHE_DMA
                | Known::HWCACHE_ALIGN
                | Known::POISON
                | Known::RECLAIM_ACCOUNT
                | Known::RED_ZONE
                | Known::SANITY_CHECKS
                | Known::STORE_USER;
            if !flags.contains('*') && t[0].starts_with(':') {
                // a `:…` row without `*` has aliases == 0
                r.aliases = 0;
                r.known = r.known | Known::ALIASES;
            }
        }
        Listing::Activity => {
            if t.len() != 10 {
                return Err(format!(
                    "expected `Name Objects Alloc Free %Fast %Fast Fallb O CmpX UL` (10 fields), found {}",
                    t.len()
                ));
            }
            r.objects = num(t[1], "Objects")?;
            for (i, w) in [(2, "Alloc"), (3, "Free"), (4, "%Fast"), (5, "%Fast"), (6, "Fallb")] {
                num::<u64>(t[i], w)?;
            }
            r.order = num(t[7], "O")?;
            num::<u64>(t[8], "CmpX")?;
            num::<u64>(t[9], "UL")?;
            r.known = Known::OBJECTS | Known::ORDER;
        }
    }
    Ok((t[0].to_owned(), r))
}

/// Evidence from `-a` lines (`(line, dir, names)`), or `-a -i` lines turned into the same shape.
pub(crate) fn alias_evidence(format: Format, groups: Vec<(&Line, String, Vec<String>)>) -> Evidence {
    let mut ev = Evidence::new(format);
    let mut single = false;
    let mut merged: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    for (line, dir, names) in groups {
        let e = merged.entry(dir).or_insert((line.no, Vec::new()));
        for n in names {
            if !e.1.contains(&n) {
                e.1.push(n);
            }
        }
    }
    for (dir, (line, names)) in merged {
        single |= names.len() == 1;
        let mut values = super::evidence::id_values(&dir).unwrap_or_else(blank_row);
        if dir.starts_with(':') {
            values.aliases = names.len().saturating_sub(1) as u32;
            values.known = values.known | Known::ALIASES;
        }
        ev.groups.push(Group { dir: Some(dir), names, values, line });
    }
    ev.coverage = Coverage { multi_name_groups: true, single_name_groups: single, instances: false };
    ev.notes.push(
        "slabinfo -a lists merged directories and their names only: self-named caches are absent, and so are \
         merged directories with a single name unless -1 was given; values come from the unique id alone \
         (aliases = names - 1, assumes no name was created twice)"
            .to_owned(),
    );
    if single {
        ev.notes.push("a directory with one name is listed: -1 was given, so every merged directory is present".into());
    }
    ev
}

/// Evidence from listing rows.
pub(crate) fn listing_evidence(source: &str, rows: &[(&Line, Listing, String)]) -> Result<Evidence, SnapshotError> {
    let mut ev = Evidence::new(Format::SlabinfoListing);
    let mut zero = false;
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for (line, kind, text) in rows {
        let (name, values) = parse_listing_row(*kind, text).map_err(|m| {
            SnapshotError::new(ErrorKind::Parse, source, line.no, format!("slabinfo listing line: {m}"))
        })?;
        zero |= values.slabs == 0;
        // -X prints the same cache in several sorted sections: merge repeats.
        if let Some(&i) = by_name.get(&name) {
            let g: &mut Group = &mut ev.groups[i];
            g.values.known = g.values.known | values.known;
            continue;
        }
        by_name.insert(name.clone(), ev.groups.len());
        let (dir, names) = if name.starts_with(':') { (Some(name), Vec::new()) } else { (None, vec![name]) };
        ev.groups.push(Group { dir, names, values, line: line.no });
    }
    ev.coverage = Coverage { instances: zero, ..Coverage::default() };
    ev.notes.push(
        "slabinfo listing: a merged directory with one name is shown by that name, one with several by its :id \
         (its names unknown without -a); Objsize is object_size; slab_size, align, destroy_by_rcu, usersize, \
         ctor unknown"
            .to_owned(),
    );
    if !zero {
        ev.notes.push("no cache with 0 slabs listed: assumed run without -z, so empty caches are absent".into());
    }
    Ok(ev)
}
