//! A `/sys/kernel/slab`-shaped tree held in memory (only the attributes the
//! census needs), read from a directory ([`super::dir`]) or a tar
//! ([`super::tar`]), and turned into a census as `Census::from_sysfs_dir` does.

use std::collections::BTreeMap;

use super::snapshot::{DEREF_HINT, ErrorKind, SnapshotError};
use crate::input::census::{Census, CensusKind, CensusRow, Kind, REQUIRED, Values, parse_value};

/// The attribute files the census reads (those `Values::read` asks for).
pub(crate) const ATTRS: [&str; 19] = [
    "object_size",
    "slab_size",
    "align",
    "aliases",
    "objs_per_slab",
    "order",
    "usersize",
    "sheaf_capacity",
    "hwcache_align",
    "reclaim_account",
    "cache_dma",
    "destroy_by_rcu",
    "poison",
    "red_zone",
    "store_user",
    "sanity_checks",
    "objects",
    "slabs",
    "ctor",
];

/// The most bytes read of one attribute file: a sysfs attribute is at most
/// one page; 64 KiB allows any page size.
pub(crate) const MAX_ATTR: u64 = 64 * 1024;
/// The most entries accepted in one directory or archive.
pub(crate) const MAX_ENTRIES: usize = 2_000_000;

/// Cache directories (attribute → text) and alias links (name → target's file name).
#[derive(Default, Debug)]
pub(crate) struct Tree {
    pub dirs: BTreeMap<String, BTreeMap<String, String>>,
    pub links: BTreeMap<String, String>,
}

/// The file name of a symlink target (`../slab/:A-0000064` → `:A-0000064`).
pub(crate) fn target_file_name(target: &str) -> Option<&str> {
    target.trim_end_matches('/').rsplit('/').next().filter(|t| !t.is_empty() && *t != "." && *t != "..")
}

/// Refuses a tree copied with links followed: every `:…` directory of a
/// real tree is the target of at least one link (the name it was created
/// with is always linked), so a `:…` directory no link points to means the
/// links became directories.
pub(crate) fn check_not_dereferenced(
    source: &str,
    dirs: &mut dyn Iterator<Item = &str>,
    links: &BTreeMap<String, String>,
) -> Result<(), SnapshotError> {
    let targets: std::collections::HashSet<&str> = links.values().map(String::as_str).collect();
    let mut orphans = dirs.filter(|d| d.starts_with(':') && !targets.contains(d));
    if let Some(first) = orphans.next() {
        let more = orphans.count();
        return Err(SnapshotError::new(
            ErrorKind::Dereferenced,
            source,
            0,
            format!(
                "merged directory `{first}`{} has no symlink pointing to it: {DEREF_HINT}",
                if more > 0 { format!(" (and {more} more)") } else { String::new() }
            ),
        ));
    }
    Ok(())
}

impl Tree {
    /// The census, rows as `Census::from_sysfs_dir` gives them (directories,
    /// then aliases, each sorted by name). `where_` names the tree in messages.
    pub(crate) fn census(&self, source: &str, where_: &str) -> Result<Census, SnapshotError> {
        if self.dirs.is_empty() {
            return Err(SnapshotError::new(
                ErrorKind::UnknownFormat,
                source,
                0,
                format!("{where_}: no cache directory (no */object_size file): not a copy of /sys/kernel/slab"),
            ));
        }
        check_not_dereferenced(source, &mut self.dirs.keys().map(String::as_str), &self.links)?;
        let mut rows: Vec<CensusRow> = Vec::with_capacity(self.dirs.len() + self.links.len());
        for (dir, attrs) in &self.dirs {
            let values = Values::read(|attr, kind: Kind| {
                let Some(text) = attrs.get(attr) else {
                    return if REQUIRED.contains(&attr) {
                        Err(crate::input::tsv::ParseError::new(
                            0,
                            format!("{where_}/{dir}/{attr}: missing (a kernel always has it)"),
                        ))
                    } else {
                        Ok(None)
                    };
                };
                parse_value(text, kind).map(Some).map_err(|why| {
                    crate::input::tsv::ParseError::new(
                        0,
                        format!("{where_}/{dir}/{attr}: {why}, found {:?}", text.trim_end()),
                    )
                })
            })
            .map_err(|e| SnapshotError::new(ErrorKind::Parse, source, 0, e.message))?;
            rows.push(values.into_row(dir.clone(), CensusKind::Cache, None));
        }
        let index: BTreeMap<&str, usize> = rows.iter().enumerate().map(|(i, r)| (r.name.as_str(), i)).collect();
        let mut aliases = Vec::with_capacity(self.links.len());
        for (name, target) in &self.links {
            let Some(&t) = index.get(target.as_str()) else {
                return Err(SnapshotError::new(
                    ErrorKind::Parse,
                    source,
                    0,
                    format!("{where_}/{name}: alias points to `{target}`, which is not a cache directory"),
                ));
            };
            aliases.push(Values::of(&rows[t]).into_row(name.clone(), CensusKind::Alias, Some(target.clone())));
        }
        rows.extend(aliases);
        Ok(Census { rows })
    }
}
