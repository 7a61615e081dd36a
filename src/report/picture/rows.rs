//! Which sets of names the picture draws, and the boxes of each cell.
//!
//! A row is one of [`groups::components`]: the smallest sets of names that
//! every scheme's groups cover, the sets the per-group memory table compares.
//! Every group of every scheme lies inside one row, so a box (one group, one
//! sysfs directory) has pages and objects of its own, and a cell's boxes add
//! up to the row's figure in the table.

use std::collections::BTreeSet;

use super::super::groups::{self, GroupMemory};
use super::super::{ComparativeReport, ReportScheme};

/// How a box's group stands against the baseline's (the first column's)
/// groups of the same names; the legend names each kind that is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    /// The same names share storage as in the baseline.
    Same,
    /// Part of a baseline group: some of its names left.
    Lost,
    /// A name that shared storage in the baseline and is alone here.
    Alone,
    /// The same, and the name is a static instance of this scheme.
    StaticAlone,
    /// Every name of the row alone, where the baseline shares (`slab_nomerge`):
    /// one box for them all.
    NoneShared,
    /// Names of several baseline groups sharing one storage.
    Joined,
}

/// One box: a group of the row's names in one scheme (or, for
/// [`Kind::NoneShared`], all of them), with its figures at the peak.
pub(super) struct Boxed {
    pub kind: Kind,
    pub header: String,
    pub dirs: Vec<String>,
    pub names: Vec<String>,
    pub objects: u64,
    pub pages: u64,
}

/// A drawn row: the set, as the per-group table has it, and its cells.
pub(super) struct Row {
    pub set: GroupMemory,
    /// Per column, its boxes.
    pub cells: Vec<Vec<Boxed>>,
    /// The row differs between the compared columns (see [`compared`]).
    pub differs: bool,
}

/// The columns whose differences select the rows: every scheme but
/// `nomerge`, which splits every merged group by definition (counting it
/// would draw every group, the listing the picture replaces). With fewer than
/// two such columns, every column.
pub(super) fn compared(report: &ComparativeReport) -> Vec<usize> {
    let merging: Vec<usize> =
        (0..report.schemes.len()).filter(|&i| report.schemes[i].scheme != ReportScheme::Nomerge).collect();
    if merging.len() >= 2 { merging } else { (0..report.schemes.len()).collect() }
}

/// Column `c`'s groups of the set's names, each as its sorted names, its
/// directory, and its figures.
fn groups_of(report: &ComparativeReport, c: usize, set: &GroupMemory) -> Vec<(Vec<String>, String, u64, u64)> {
    let s = &report.schemes[c];
    let names: BTreeSet<&str> = set.names.iter().map(String::as_str).collect();
    s.groups
        .iter()
        .filter(|g| names.contains(g.names[0].as_str()))
        .map(|g| (g.names.clone(), g.dir.clone(), s.group_objects(g), s.group_pages(g)))
        .collect()
}

/// The partition of the set in column `c`, comparable between columns.
fn partition(report: &ComparativeReport, c: usize, set: &GroupMemory) -> BTreeSet<Vec<String>> {
    groups_of(report, c, set)
        .into_iter()
        .map(|(mut names, ..)| {
            names.sort();
            names
        })
        .collect()
}

/// The rows to draw: with `all`, every set that shares storage in some
/// column; otherwise the sets whose partition or slab pages differ between
/// the [`compared`] columns. The sets whose pages differ come first, largest
/// difference first (the per-group table's order), then those whose
/// partition alone differs, then (with `all`) the others in creation order.
/// Also returns the sets that share storage somewhere and are not drawn.
pub(super) fn rows(report: &ComparativeReport, all: bool) -> (Vec<Row>, Vec<GroupMemory>) {
    let compared = compared(report);
    let statics: BTreeSet<&str> =
        report.statics.image.iter().chain(&report.statics.module).map(String::as_str).collect();
    let mut drawn = Vec::new();
    let mut hidden = Vec::new();
    for set in groups::components(report) {
        let shares = (0..report.schemes.len()).any(|c| groups_of(report, c, &set).iter().any(|g| g.0.len() > 1));
        if !shares {
            continue;
        }
        let first = compared[0];
        let differs = compared.iter().any(|&c| set.pages[c] != set.pages[first])
            || compared.iter().any(|&c| partition(report, c, &set) != partition(report, first, &set));
        if differs || all {
            let cells = (0..report.schemes.len()).map(|c| boxes(report, c, &set, &statics)).collect();
            drawn.push(Row { set, cells, differs });
        } else {
            hidden.push(set);
        }
    }
    // Stable: sets of equal rank keep their creation order.
    drawn.sort_by_key(|r| (!r.differs, std::cmp::Reverse(r.set.largest_difference())));
    (drawn, hidden)
}

/// The boxes of column `c` for `set`, largest group first, named against the
/// first column's groups.
fn boxes(report: &ComparativeReport, c: usize, set: &GroupMemory, statics: &BTreeSet<&str>) -> Vec<Boxed> {
    let baseline = partition(report, 0, set);
    let shared_in_baseline: BTreeSet<&str> =
        baseline.iter().filter(|g| g.len() > 1).flat_map(|g| g.iter().map(String::as_str)).collect();
    let mut own = groups_of(report, c, set);
    own.sort_by_key(|g| std::cmp::Reverse(g.0.len()));
    // Every name alone where the baseline shares: one box, as `slab_nomerge` reads.
    if own.len() > 1 && own.iter().all(|g| g.0.len() == 1) && !shared_in_baseline.is_empty() && c != 0 {
        return vec![Boxed {
            kind: Kind::NoneShared,
            header: format!("no sharing: {} names alone", own.len()),
            dirs: own.iter().map(|g| g.1.clone()).collect(),
            names: own.iter().map(|g| g.0[0].clone()).collect(),
            objects: own.iter().map(|g| g.2).sum(),
            pages: own.iter().map(|g| g.3).sum(),
        }];
    }
    let marks_statics = report.schemes[c].scheme.has_statics();
    own.into_iter()
        .map(|(names, dir, objects, pages)| {
            let mut sorted = names.clone();
            sorted.sort();
            let home: BTreeSet<&Vec<String>> =
                baseline.iter().filter(|g| g.iter().any(|n| sorted.binary_search(n).is_ok())).collect();
            let (kind, header) = if baseline.contains(&sorted) {
                (Kind::Same, dir.clone())
            } else if home.len() > 1 {
                (Kind::Joined, format!("{dir}: joins {} {} groups", home.len(), report.schemes[0].scheme))
            } else if names.len() == 1 && shared_in_baseline.contains(names[0].as_str()) {
                if marks_statics && statics.contains(names[0].as_str()) {
                    (Kind::StaticAlone, format!("{dir}: static alone"))
                } else {
                    (Kind::Alone, format!("{dir}: alone"))
                }
            } else {
                let was = home.iter().next().map_or(names.len(), |g| g.len());
                (Kind::Lost, format!("{dir}: lost {}", was - names.len()))
            };
            Boxed { kind, header, dirs: vec![dir], names, objects, pages }
        })
        .collect()
}
