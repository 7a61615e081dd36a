//! Memory per group: which groups gain or lose slab pages under which scheme.
//!
//! The schemes partition the names differently, so a group of one scheme is
//! not always a group of another. [`group_memory`] compares the smallest sets
//! of names that every column's groups cover (connected components of "shares
//! a group in some column"), as `diff` does for two schemes: per column, the
//! directories holding the set's names and their slab pages at the workload's
//! peak ([`SchemeReport::dir_pages`]). Only the sets whose pages differ
//! between columns are kept, the largest difference against the first column
//! (mainline by default) first.

use std::collections::BTreeMap;

use super::{ComparativeReport, SchemeReport};
use crate::config::PAGE_SIZE;

/// One set of names and its slab pages in every column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMemory {
    /// The names, in the first column's group order (each owner first), then
    /// any name only a later column has.
    pub names: Vec<String>,
    /// Per column (report order): the sysfs directories holding the names.
    pub dirs: Vec<Vec<String>>,
    /// Per column: the slab pages of those directories at the workload's peak.
    pub pages: Vec<u64>,
    /// Per column: the objects handed out from those directories then
    /// ([`SchemeReport::dir_objects`]).
    pub objects: Vec<u64>,
}

impl GroupMemory {
    /// Pages of column `i` minus the first column's.
    pub fn difference(&self, i: usize) -> i64 {
        self.pages[i] as i64 - self.pages[0] as i64
    }

    /// The largest difference against the first column, in pages, over the columns.
    pub fn largest_difference(&self) -> u64 {
        (0..self.pages.len()).map(|i| self.difference(i).unsigned_abs()).max().unwrap_or(0)
    }
}

/// KiB of `pages` slab pages.
pub fn pages_kib(pages: u64) -> u64 {
    pages * PAGE_SIZE as u64 / 1024
}

/// The sets of names whose slab pages differ between the columns of
/// `report`, largest difference against the first column first (then by the
/// first name). Empty without the workload.
pub fn group_memory(report: &ComparativeReport) -> Vec<GroupMemory> {
    if !report.options.memory {
        return Vec::new();
    }
    let mut out: Vec<GroupMemory> =
        components(report).into_iter().filter(|p| p.pages.iter().any(|&n| n != p.pages[0])).collect();
    out.sort_by(|a, b| b.largest_difference().cmp(&a.largest_difference()).then_with(|| a.names.cmp(&b.names)));
    out
}

/// Every smallest set of names that all columns' groups cover, in the order
/// its first name appears (the first column's group order), with its
/// directories and, with the workload, its pages and objects per column;
/// [`group_memory`] keeps those whose pages differ. The picture draws from
/// these so that its figures are the table's.
pub fn components(report: &ComparativeReport) -> Vec<GroupMemory> {
    if report.schemes.is_empty() {
        return Vec::new();
    }
    // Union-find over names, joined by every column's groups.
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for s in &report.schemes {
        for n in s.groups.iter().flat_map(|g| &g.names) {
            index.entry(n.as_str()).or_insert_with(|| {
                order.push(n.as_str());
                order.len() - 1
            });
        }
    }
    let mut parent: Vec<usize> = (0..order.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for s in &report.schemes {
        for g in &s.groups {
            let first = index[g.names[0].as_str()];
            for n in &g.names[1..] {
                let (a, b) = (root(&mut parent, first), root(&mut parent, index[n.as_str()]));
                if a != b {
                    parent[b] = a;
                }
            }
        }
    }
    // Each component, keyed by its root, in the order its first name appears.
    let mut parts: BTreeMap<usize, GroupMemory> = BTreeMap::new();
    let mut first_seen: Vec<usize> = Vec::new();
    for (i, name) in order.iter().enumerate() {
        let r = root(&mut parent, i);
        let part = parts.entry(r).or_insert_with(|| {
            first_seen.push(r);
            GroupMemory {
                names: Vec::new(),
                dirs: vec![Vec::new(); report.schemes.len()],
                pages: vec![0; report.schemes.len()],
                objects: vec![0; report.schemes.len()],
            }
        });
        part.names.push((*name).to_owned());
    }
    for (c, s) in report.schemes.iter().enumerate() {
        for g in &s.groups {
            let r = root(&mut parent, index[g.names[0].as_str()]);
            let part = parts.get_mut(&r).expect("every name has a component");
            part.dirs[c].push(g.dir.clone());
            part.pages[c] += SchemeReport::group_pages(s, g);
            part.objects[c] += SchemeReport::group_objects(s, g);
        }
    }
    first_seen.into_iter().filter_map(|r| parts.remove(&r)).collect()
}
