//! The kernel's own views of one scheme's world, and the difference of two schemes.
//!
//! [`view`] replays the trace into a world of the scheme, runs the memory
//! workload (when asked) and renders, at the workload's peak (every object
//! allocated, the churn done), what a kernel developer would read on that
//! machine: `/proc/slabinfo`, `ls -l /sys/kernel/slab`, or `tools/mm/slabinfo`'s
//! `-a`, `-T` and listing forms. [`diff`] holds two schemes' partitions and
//! per-directory pages side by side.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{ReportGroup, ReportInput, ReportOptions, ReportScheme, plan_workload, replay_groups};
use crate::input::replay::Replay;
use crate::slab_common::slabinfo::{self, ListingSort};
use crate::slab_common::world::World;

/// A kernel view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// `/proc/slabinfo`.
    ProcSlabinfo,
    /// `ls -l /sys/kernel/slab`.
    Ls,
    /// `slabinfo -a`.
    Aliases,
    /// `slabinfo -T`.
    Totals,
    /// `slabinfo`, `-S`, `-L`.
    Listing(ListingSort),
}

impl View {
    fn render(self, world: &World) -> String {
        match self {
            View::ProcSlabinfo => slabinfo::proc_slabinfo(world),
            View::Ls => slabinfo::ls_sys_kernel_slab(world),
            View::Aliases => slabinfo::slabinfo_aliases(world),
            View::Totals => slabinfo::slabinfo_totals(world),
            View::Listing(sort) => slabinfo::slabinfo_listing(world, sort),
        }
    }
}

/// One scheme's world after the trace (and, with `options.memory`, at the
/// workload's peak), handed to `at_peak`; also returns the notes on the
/// inputs and the workload (a scaled-down divisor) and the scheme's groups.
fn with_world<R>(
    input: &ReportInput<'_>,
    options: &ReportOptions,
    scheme: ReportScheme,
    at_peak: impl FnOnce(&World) -> R,
) -> (R, Vec<String>, Vec<ReportGroup>) {
    let (trace, statics) = (input.trace, input.statics);
    let mainline_world = ReportScheme::Mainline.world_under(statics, options.rules);
    let baseline = replay_groups(&Replay::run(&mainline_world, trace, statics));
    let (workload, options, notes, sizes) = plan_workload(input, options, &baseline);
    let world = scheme.world_under(statics, options.rules);
    let replay = Replay::run(&world, trace, statics);
    let groups = replay_groups(&replay);
    let result = if options.memory {
        let mut out = None;
        workload.run_with_peak(&replay, &sizes, |w| out = Some(at_peak(w)));
        out.expect("run_with_peak calls its hook")
    } else {
        at_peak(&world)
    };
    (result, notes, groups)
}

/// `view` of `scheme`'s world; the notes say what the figures are.
pub fn view(input: &ReportInput<'_>, options: &ReportOptions, scheme: ReportScheme, v: View) -> (String, Vec<String>) {
    let (text, mut notes, _) = with_world(input, options, scheme, |w| v.render(w));
    notes.push(if options.memory {
        format!("{scheme}: the world after the trace, at the peak of the memory workload (seed {:#018x})", options.seed)
    } else {
        format!("{scheme}: the world right after the trace, no object allocated (no memory workload)")
    });
    (text, notes)
}

/// One scheme's side of a [`diff`].
#[derive(Clone, Debug)]
pub struct DiffSide {
    /// The scheme.
    pub scheme: ReportScheme,
    /// Its groups.
    pub groups: Vec<ReportGroup>,
    /// Slab pages per sysfs directory at the workload's peak.
    pub pages: BTreeMap<String, u64>,
}

/// Names whose storage differs between two schemes, with the pages of that storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffPart {
    /// The names (trace order is not known here: sorted).
    pub names: Vec<String>,
    /// The directories holding them in A, and in B.
    pub dirs: [Vec<String>; 2],
    /// The groups (names per directory) in A, and in B.
    pub groups: [Vec<Vec<String>>; 2],
    /// Pages of those directories at the peak, in A and in B.
    pub pages: [u64; 2],
}

/// Two schemes compared.
#[derive(Clone, Debug)]
pub struct Diff {
    /// A and B.
    pub sides: [DiffSide; 2],
    /// The smallest sets of names that A's and B's groups both cover
    /// (connected components of "shares a group in A or in B"), where the
    /// groups or the pages differ.
    pub parts: Vec<DiffPart>,
    /// Notes on the inputs and the workload.
    pub notes: Vec<String>,
}

/// Compares schemes `a` and `b`: which groups split or join, which
/// directories gain or lose pages at the workload's peak.
pub fn diff(input: &ReportInput<'_>, options: &ReportOptions, a: ReportScheme, b: ReportScheme) -> Diff {
    let side = |scheme| {
        let (pages, notes, groups) = with_world(input, options, scheme, slabinfo::pages_by_dir);
        (DiffSide { scheme, groups, pages }, notes)
    };
    let (sa, notes) = side(a);
    let (sb, _) = side(b);
    let sides = [sa, sb];
    let parts = name_components(sides.iter().flat_map(|s| s.groups.iter().map(|g| g.names.as_slice())));
    let mut out = Vec::new();
    for members in &parts {
        let mut part = DiffPart {
            names: members.iter().map(|n| (*n).to_owned()).collect(),
            dirs: [Vec::new(), Vec::new()],
            groups: [Vec::new(), Vec::new()],
            pages: [0, 0],
        };
        for (i, s) in sides.iter().enumerate() {
            for g in s.groups.iter().filter(|g| members.contains(g.names[0].as_str())) {
                part.dirs[i].push(g.dir.clone());
                part.groups[i].push(g.names.clone());
                part.pages[i] += s.pages.get(&g.dir).copied().unwrap_or(0);
            }
        }
        let regrouped = part.groups[0].len() != part.groups[1].len();
        if regrouped || part.pages[0] != part.pages[1] {
            out.push(part);
        }
    }
    // Largest change in pages first, then by name.
    out.sort_by(|x, y| {
        let d = |p: &DiffPart| p.pages[0].abs_diff(p.pages[1]);
        d(y).cmp(&d(x)).then_with(|| x.names.cmp(&y.names))
    });
    Diff { sides, parts: out, notes }
}

/// The smallest sets of names that the groups cover: the connected
/// components of "shares a group with", over every group given (two
/// schemes' groups, two snapshots' instances), each set sorted, the sets in
/// the order of their first names. A name in no group of two is a set of its own.
pub(crate) fn name_components<'a>(groups: impl IntoIterator<Item = &'a [String]>) -> Vec<BTreeSet<&'a str>> {
    // Union-find over names, joined by each group.
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    fn root<'a>(parent: &mut BTreeMap<&'a str, &'a str>, n: &'a str) -> &'a str {
        let mut r = n;
        while let Some(&p) = parent.get(r) {
            if p == r {
                break;
            }
            r = p;
        }
        parent.insert(n, r);
        r
    }
    for g in groups {
        let Some((first, rest)) = g.split_first() else { continue };
        parent.entry(first.as_str()).or_insert(first.as_str());
        for n in rest {
            parent.entry(n.as_str()).or_insert(n.as_str());
            let (ra, rb) = (root(&mut parent, first), root(&mut parent, n));
            if ra != rb {
                parent.insert(rb, ra);
            }
        }
    }
    let names: Vec<&str> = parent.keys().copied().collect();
    let mut parts: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for n in names {
        let r = root(&mut parent, n);
        parts.entry(r).or_default().insert(n);
    }
    let mut parts: Vec<BTreeSet<&str>> = parts.into_values().collect();
    parts.sort();
    parts
}

/// Groups as `[a b c] [d]`, each cut after `limit` names (`[a b ... +3
/// more]`); empty for no group.
pub(crate) fn group_list(groups: &[Vec<String>], limit: usize) -> String {
    let shown: Vec<String> = groups
        .iter()
        .map(|g| {
            if g.len() <= limit {
                format!("[{}]", g.join(" "))
            } else {
                format!("[{} ... +{} more]", g[..limit].join(" "), g.len() - limit)
            }
        })
        .collect();
    shown.join(" ")
}

/// The diff as text for a terminal: group counts and pages, then the split
/// and joined groups (each cut after six names unless `verbose`), then every
/// part whose pages changed.
pub fn render_diff(d: &Diff, memory: bool, verbose: bool) -> String {
    let limit = if verbose { usize::MAX } else { 6 };
    let [a, b] = &d.sides;
    let total = |s: &DiffSide| s.pages.values().sum::<u64>();
    let mut out = String::new();
    let _ = writeln!(out, "diff {} {}", a.scheme, b.scheme);
    let _ = writeln!(out, "groups: {} {}, {} {}", a.scheme, a.groups.len(), b.scheme, b.groups.len());
    if memory {
        let (pa, pb) = (total(a), total(b));
        let _ = writeln!(
            out,
            "slab pages at the workload's peak: {} {pa}, {} {pb} ({:+})",
            a.scheme,
            b.scheme,
            pb as i64 - pa as i64
        );
    }
    let split: Vec<&DiffPart> = d.parts.iter().filter(|p| p.groups[0].len() < p.groups[1].len()).collect();
    let joined: Vec<&DiffPart> = d.parts.iter().filter(|p| p.groups[0].len() > p.groups[1].len()).collect();
    let mixed: Vec<&DiffPart> =
        d.parts.iter().filter(|p| p.groups[0].len() == p.groups[1].len() && p.groups[0] != p.groups[1]).collect();
    for (title, list) in [("split", &split), ("joined", &joined), ("regrouped", &mixed)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} under {} ({}):", b.scheme, list.len());
        for p in list.iter() {
            let _ = writeln!(out, "  {} {}", p.dirs[0].join(","), group_list(&p.groups[0], limit));
            let _ = writeln!(out, "    -> {}", group_list(&p.groups[1], limit));
        }
    }
    if split.is_empty() && joined.is_empty() && mixed.is_empty() {
        let _ = writeln!(out, "\nthe partitions are identical");
    }
    if memory {
        let changed: Vec<&DiffPart> = d.parts.iter().filter(|p| p.pages[0] != p.pages[1]).collect();
        if changed.is_empty() {
            let _ = writeln!(out, "\nno directory gains or loses a page");
        } else {
            let _ = writeln!(out, "\npages per directory ({} changed), {} -> {}:", changed.len(), a.scheme, b.scheme);
            for p in changed {
                let _ = writeln!(
                    out,
                    "  {:>6} -> {:<6} {:+6}  {} -> {}",
                    p.pages[0],
                    p.pages[1],
                    p.pages[1] as i64 - p.pages[0] as i64,
                    p.dirs[0].join(","),
                    p.dirs[1].join(",")
                );
            }
        }
    }
    if !d.notes.is_empty() {
        out.push('\n');
        for n in &d.notes {
            let _ = writeln!(out, "{n}");
        }
    }
    out
}
