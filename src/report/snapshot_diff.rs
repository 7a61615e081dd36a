//! Two snapshots compared: the names that share a storage in one and not in
//! the other, the caches that appear or disappear, and the caches whose live
//! pages or objects change.
//!
//! Each side is a [`Snapshot`] in any form [`crate::input::snapshot`] reads
//! (two boots, two kernels, a copy before and after a change). Nothing is
//! replayed: every figure is the snapshots' own. A comparison that one
//! side's input cannot support is left out and said so ([`SnapshotDiff::partial`]):
//! groups need both inputs to show which names share a cache (`ls -l`,
//! `slabinfo -a`, a sysfs copy), counts need both to carry live objects and
//! slabs (`/proc/slabinfo`, a sysfs copy, a `slabinfo` listing), and a name
//! missing from an input that does not list every name is "not listed", not gone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::render::{WIDTH, json_string};
use super::views::{group_list, name_components};
use crate::input::snapshot::{Coverage, Format, Known, Snapshot};

/// Live counts of one cache, or of a set of caches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Live objects (`objects`, `<active_objs>`).
    pub objects: u64,
    /// Slabs in use (`slabs`, `<num_slabs>`).
    pub slabs: u64,
    /// Pages of those slabs (`slabs << order`).
    pub pages: u64,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        // Saturating: the counts are the input's, and an input may say anything.
        Counts {
            objects: self.objects.saturating_add(o.objects),
            slabs: self.slabs.saturating_add(o.slabs),
            pages: self.pages.saturating_add(o.pages),
        }
    }
}

/// One instance (one sysfs directory, one `/proc/slabinfo` line) of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Its directory (`:A-0000064`), or its name where the directory is unknown.
    pub dir: String,
    /// The names living there, sorted (the directory name when it shows none).
    pub names: Vec<String>,
    /// Its live counts, if the snapshot gave them.
    pub counts: Option<Counts>,
}

/// One side of a [`SnapshotDiff`].
#[derive(Clone, Debug)]
pub struct SnapshotSide {
    /// The paths read, joined with ` + `.
    pub label: String,
    /// The formats found in them.
    pub formats: Vec<Format>,
    /// What part of the partition they cover.
    pub coverage: Coverage,
    /// Every instance, by directory.
    pub instances: Vec<Instance>,
}

impl SnapshotSide {
    /// The side of `snapshot`, read from `label`.
    pub fn of(label: &str, snapshot: &Snapshot) -> SnapshotSide {
        let rows: BTreeMap<&str, &crate::input::census::CensusRow> =
            snapshot.census.caches().map(|r| (r.name.as_str(), r)).collect();
        let instances = snapshot
            .census
            .groups()
            .into_iter()
            .map(|(dir, mut names)| {
                if names.is_empty() {
                    names.push(dir.clone());
                }
                names.sort();
                names.dedup();
                let counts = rows.get(dir.as_str()).filter(|r| r.known.contains(Known::LIVE | Known::ORDER)).map(|r| {
                    Counts { objects: r.objects, slabs: r.slabs, pages: r.slabs.saturating_mul(1 << r.order.min(20)) }
                });
                Instance { dir, names, counts }
            })
            .collect();
        SnapshotSide { label: label.to_owned(), formats: snapshot.formats(), coverage: snapshot.coverage, instances }
    }

    /// Whether the inputs list every name of the kernel (so a name absent is gone).
    pub fn lists_every_name(&self) -> bool {
        self.coverage.complete()
    }

    /// Whether the inputs show which names share a cache.
    pub fn shows_groups(&self) -> bool {
        self.coverage.multi_name_groups
    }

    /// Whether any instance has live counts.
    pub fn has_counts(&self) -> bool {
        self.instances.iter().any(|i| i.counts.is_some())
    }

    /// Every name, sorted.
    pub fn names(&self) -> BTreeSet<&str> {
        self.instances.iter().flat_map(|i| i.names.iter().map(String::as_str)).collect()
    }

    /// The sum of every instance's counts (those that have them).
    pub fn total(&self) -> Counts {
        self.instances.iter().filter_map(|i| i.counts).fold(Counts::default(), |a, b| a + b)
    }

    fn formats_text(&self) -> String {
        self.formats.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
    }
}

/// How the names both snapshots list are grouped differently in B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupChange {
    /// B has more groups for them: a shared cache split.
    Split,
    /// B has fewer: caches joined.
    Joined,
    /// As many groups, other members.
    Regrouped,
}

/// The smallest set of names that both sides' instances cover (a connected
/// component of "share an instance in A or in B").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotDiffPart {
    /// The names, sorted.
    pub names: Vec<String>,
    /// The directories holding them in A, and in B.
    pub dirs: [Vec<String>; 2],
    /// The names per directory in A, and in B.
    pub groups: [Vec<Vec<String>>; 2],
    /// How the names that both list are regrouped, if they are (`None` when
    /// the groups are the same or not compared).
    pub change: Option<GroupChange>,
    /// The counts of those directories in A, and in B (`None` where a side
    /// has no counts for one of them).
    pub counts: [Option<Counts>; 2],
}

/// Two snapshots compared.
#[derive(Clone, Debug)]
pub struct SnapshotDiff {
    /// A and B.
    pub sides: [SnapshotSide; 2],
    /// Every part whose groups, names or counts differ, the largest change in pages first.
    pub parts: Vec<SnapshotDiffPart>,
    /// Names in A that B does not have although B lists every name: gone.
    pub disappeared: Vec<String>,
    /// Names in B that A does not have although A lists every name: new.
    pub appeared: Vec<String>,
    /// Names of A that B does not list, B not listing every name (A's names
    /// not listed by B, then B's not listed by A): they may be there, merged or unshown.
    pub not_listed: [Vec<String>; 2],
    /// Whether the groups were compared (both inputs show them).
    pub groups_compared: bool,
    /// Whether the counts were compared (both inputs carry them).
    pub counts_compared: bool,
    /// What could not be compared and why, in plain words; empty for a full comparison.
    pub partial: Vec<String>,
}

impl SnapshotDiff {
    /// Whether the two inputs give different things, so that part of the
    /// comparison one of them could have had is missing (one has counts and
    /// the other none, one shows the groups and the other not).
    pub fn lopsided(&self) -> bool {
        let [a, b] = &self.sides;
        a.has_counts() != b.has_counts() || a.shows_groups() != b.shows_groups()
    }
}

/// Compares snapshot `a` (read from `label_a`) with `b`.
pub fn snapshot_diff(label_a: &str, a: &Snapshot, label_b: &str, b: &Snapshot) -> SnapshotDiff {
    let sides = [SnapshotSide::of(label_a, a), SnapshotSide::of(label_b, b)];
    let names = [sides[0].names(), sides[1].names()];
    let groups_compared = sides.iter().all(SnapshotSide::shows_groups);
    let counts_compared = sides.iter().all(SnapshotSide::has_counts);
    let mut partial = Vec::new();
    for (i, s) in sides.iter().enumerate() {
        let which = ["A", "B"][i];
        let formats = s.formats_text();
        if !s.shows_groups() {
            partial.push(format!(
                "groups not compared: {which} ({formats}) does not show which names share a cache \
                 (add ls -l /sys/kernel/slab or slabinfo -a of that kernel)"
            ));
        }
        if !s.has_counts() {
            partial.push(format!(
                "pages and objects not compared: {which} ({formats}) has no live counts \
                 (add /proc/slabinfo of that kernel)"
            ));
        }
        if !s.lists_every_name() {
            let missing = if s.coverage.multi_name_groups { "caches of one name" } else { "aliases" };
            partial.push(format!(
                "{which} ({formats}) does not list {missing}: a name it lacks is \"not listed\", not gone"
            ));
        }
    }

    let components = name_components(sides.iter().flat_map(|s| s.instances.iter().map(|inst| inst.names.as_slice())));
    let mut parts = Vec::new();
    for members in &components {
        let mut part = SnapshotDiffPart {
            names: members.iter().map(|n| (*n).to_owned()).collect(),
            dirs: [Vec::new(), Vec::new()],
            groups: [Vec::new(), Vec::new()],
            change: None,
            counts: [None, None],
        };
        for (i, s) in sides.iter().enumerate() {
            let mut sum = s.has_counts().then(Counts::default);
            for inst in s.instances.iter().filter(|inst| members.contains(inst.names[0].as_str())) {
                part.dirs[i].push(inst.dir.clone());
                part.groups[i].push(inst.names.clone());
                sum = match (sum, inst.counts) {
                    (Some(t), Some(c)) => Some(t + c),
                    _ => None,
                };
            }
            part.counts[i] = sum;
        }
        if groups_compared {
            // The names both list, grouped as each side groups them.
            let common = |g: &Vec<String>| -> Vec<String> {
                g.iter().filter(|n| names[0].contains(n.as_str()) && names[1].contains(n.as_str())).cloned().collect()
            };
            let on = |i: usize| -> BTreeSet<Vec<String>> {
                part.groups[i].iter().map(common).filter(|g| !g.is_empty()).collect()
            };
            let (ga, gb) = (on(0), on(1));
            if ga != gb {
                part.change = Some(match ga.len().cmp(&gb.len()) {
                    std::cmp::Ordering::Less => GroupChange::Split,
                    std::cmp::Ordering::Greater => GroupChange::Joined,
                    std::cmp::Ordering::Equal => GroupChange::Regrouped,
                });
            }
        }
        let one_sided = part.names.iter().any(|n| names[0].contains(n.as_str()) != names[1].contains(n.as_str()));
        let counts_differ = matches!(part.counts, [Some(x), Some(y)] if x != y);
        if part.change.is_some() || counts_differ || one_sided {
            parts.push(part);
        }
    }
    let pages_change = |p: &SnapshotDiffPart| match p.counts {
        [Some(x), Some(y)] => (x.pages.abs_diff(y.pages), x.objects.abs_diff(y.objects)),
        _ => (0, 0),
    };
    parts.sort_by(|x, y| pages_change(y).cmp(&pages_change(x)).then_with(|| x.names.cmp(&y.names)));

    let only = |i: usize| -> Vec<String> {
        names[i].iter().filter(|n| !names[1 - i].contains(*n)).map(|n| (*n).to_owned()).collect()
    };
    let (only_a, only_b) = (only(0), only(1));
    let (disappeared, not_listed_a) =
        if sides[1].lists_every_name() { (only_a, Vec::new()) } else { (Vec::new(), only_a) };
    let (appeared, not_listed_b) =
        if sides[0].lists_every_name() { (only_b, Vec::new()) } else { (Vec::new(), only_b) };
    SnapshotDiff {
        sides,
        parts,
        disappeared,
        appeared,
        not_listed: [not_listed_a, not_listed_b],
        groups_compared,
        counts_compared,
        partial,
    }
}

fn cut(names: &[String], limit: usize) -> String {
    if names.len() <= limit {
        names.join(", ")
    } else {
        format!("{}, ... and {} more", names[..limit].join(", "), names.len() - limit)
    }
}

/// [`group_list`], or `(none)` for a side without the names.
fn groups_or_none(groups: &[Vec<String>], limit: usize) -> String {
    if groups.is_empty() { "(none)".to_owned() } else { group_list(groups, limit) }
}

/// Writes `lead` then the words of `text`, wrapped at [`WIDTH`] columns,
/// continuation lines indented by `indent` spaces (`lead` is kept as it is,
/// so table columns stay aligned).
fn push_wrapped(out: &mut String, lead: &str, text: &str, indent: usize) {
    let mut line = lead.to_owned();
    let mut width = lead.chars().count();
    let mut words = 0;
    // One column less than the indent leaves: the space after a lead.
    let room = WIDTH.saturating_sub(indent + 1).max(16);
    for word in text.split_whitespace().flat_map(|w| pieces(w, room)) {
        let w = word.chars().count();
        // A lead wider than the indent may stand alone on its line when the
        // first word does not fit after it.
        if (words > 0 || width > indent) && width + 1 + w > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(indent);
            (width, words) = (indent, 0);
        }
        if words > 0 || !line.is_empty() && !line.ends_with(' ') {
            line.push(' ');
            width += 1;
        }
        line.push_str(word);
        width += w;
        words += 1;
    }
    out.push_str(&line);
    out.push('\n');
}

/// `word` cut to fit `room` columns: after a comma where there is one
/// (a list of directories), else anywhere. A path or a list of directories
/// can be longer than a line; no kernel name is.
fn pieces(word: &str, room: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = word;
    while rest.chars().count() > room {
        let cut = rest.char_indices().nth(room).map_or(rest.len(), |(i, _)| i);
        let at = rest[..cut].rfind(',').map_or(cut, |i| i + 1);
        out.push(&rest[..at]);
        rest = &rest[at..];
    }
    out.push(rest);
    out
}

fn signed(a: u64, b: u64) -> String {
    if b >= a { format!("+{}", b - a) } else { format!("-{}", a - b) }
}

/// Pages in A, in B, B's change, then the same of objects: the totals line
/// and each row of the per-cache table print these six.
fn figures(x: Counts, y: Counts) -> [String; 6] {
    [
        x.pages.to_string(),
        y.pages.to_string(),
        signed(x.pages, y.pages),
        x.objects.to_string(),
        y.objects.to_string(),
        signed(x.objects, y.objects),
    ]
}

/// The diff as text for a terminal: the two inputs and their totals, the
/// names gone, new or not listed, the groups split, joined or regrouped, and
/// every part whose pages or objects changed (lists cut unless `verbose`).
pub fn render_snapshot_diff(d: &SnapshotDiff, verbose: bool) -> String {
    let (names_limit, group_limit, rows_limit) =
        if verbose { (usize::MAX, usize::MAX, usize::MAX) } else { (12, 6, 20) };
    let [a, b] = &d.sides;
    let mut out = String::new();
    let _ = writeln!(out, "diff of two snapshots");
    push_wrapped(&mut out, "A:", &format!("{} ({})", a.label, a.formats_text()), 3);
    push_wrapped(&mut out, "B:", &format!("{} ({})", b.label, b.formats_text()), 3);
    let _ = writeln!(
        out,
        "names: A {}, B {}; instances: A {}, B {}",
        a.names().len(),
        b.names().len(),
        a.instances.len(),
        b.instances.len()
    );
    if d.counts_compared {
        let [pa, pb, dp, oa, ob, dob] = figures(a.total(), b.total());
        let _ = writeln!(out, "slab pages: A {pa}, B {pb} ({dp}); objects: A {oa}, B {ob} ({dob})");
    }
    if !d.partial.is_empty() {
        let _ = writeln!(out, "\npartial comparison:");
        for p in &d.partial {
            push_wrapped(&mut out, "  ", p, 4);
        }
    }
    let lists: [(&str, &Vec<String>); 4] = [
        ("gone in B", &d.disappeared),
        ("new in B", &d.appeared),
        ("in A, not listed by B", &d.not_listed[0]),
        ("in B, not listed by A", &d.not_listed[1]),
    ];
    for (title, names) in lists {
        if !names.is_empty() {
            push_wrapped(&mut out, &format!("\n{title} ({}):", names.len()), &cut(names, names_limit), 2);
        }
    }
    if d.disappeared.is_empty() && d.appeared.is_empty() && d.not_listed.iter().all(Vec::is_empty) {
        let _ = writeln!(out, "\nthe same names on both sides");
    }
    if d.groups_compared {
        let mut any = false;
        for (change, title) in
            [(GroupChange::Split, "split"), (GroupChange::Joined, "joined"), (GroupChange::Regrouped, "regrouped")]
        {
            let list: Vec<&SnapshotDiffPart> = d.parts.iter().filter(|p| p.change == Some(change)).collect();
            if list.is_empty() {
                continue;
            }
            any = true;
            let _ = writeln!(out, "\n{title} in B ({}):", list.len());
            for p in list {
                let before = format!("{} {}", p.dirs[0].join(","), groups_or_none(&p.groups[0], group_limit));
                push_wrapped(&mut out, "  ", &before, 6);
                let after = format!("{} {}", p.dirs[1].join(","), groups_or_none(&p.groups[1], group_limit));
                push_wrapped(&mut out, "    ->", &after, 6);
            }
        }
        if !any {
            let _ = writeln!(out, "\nthe names both list share caches alike");
        }
    }
    if d.counts_compared {
        let changed: Vec<(&SnapshotDiffPart, Counts, Counts)> = d
            .parts
            .iter()
            .filter_map(|p| match p.counts {
                [Some(x), Some(y)] if x != y => Some((p, x, y)),
                _ => None,
            })
            .collect();
        if changed.is_empty() {
            let _ = writeln!(out, "\nno cache gains or loses a page or an object");
        } else {
            let shown = changed.len().min(rows_limit);
            let _ = writeln!(
                out,
                "\npages and objects per cache, A -> B ({} changed{}):",
                changed.len(),
                if shown < changed.len() { format!(", the {shown} largest; --verbose for all") } else { String::new() }
            );
            let _ = writeln!(
                out,
                "  {:>7} {:>7} {:>7}  {:>9} {:>9} {:>8}  cache",
                "pages A", "B", "+/-", "objects A", "B", "+/-"
            );
            for (p, x, y) in changed.iter().take(shown) {
                let dirs = if p.dirs[0] == p.dirs[1] || p.dirs[1].is_empty() {
                    p.dirs[0].join(",")
                } else if p.dirs[0].is_empty() {
                    p.dirs[1].join(",")
                } else {
                    format!("{} -> {}", p.dirs[0].join(","), p.dirs[1].join(","))
                };
                let names = if p.names.len() == 1 && p.names[0] == dirs {
                    String::new()
                } else {
                    format!(" ({})", cut(&p.names, if verbose { usize::MAX } else { 3 }))
                };
                let [pa, pb, dp, oa, ob, dob] = figures(*x, *y);
                let lead = format!("  {pa:>7} {pb:>7} {dp:>7}  {oa:>9} {ob:>9} {dob:>8}  ");
                let indent = lead.len();
                push_wrapped(&mut out, &lead, &format!("{dirs}{names}"), indent);
            }
        }
    }
    out
}

/// The diff as JSON: `sides` (per side its `label`, `formats`,
/// `coverage`, `names` and `instances` counted, `total` counts or null),
/// `groups_compared`, `counts_compared`, `partial` (the lines of the text's
/// "partial comparison"), `lopsided` (the exit status 2 of the command
/// line), `gone`, `new`, `not_listed` (A's names B does not list, then B's),
/// and `parts`: per set of names whose groups, names or counts differ, its
/// `names`, `dirs` and `groups` per side, `change` (`split`, `joined`,
/// `regrouped` or null) and `counts` per side (`objects`, `slabs`, `pages`,
/// or null). Every list is whole.
pub fn render_snapshot_diff_json(d: &SnapshotDiff) -> String {
    fn strings<S: AsRef<str>>(items: &[S]) -> String {
        let items: Vec<String> = items.iter().map(|s| json_string(s.as_ref())).collect();
        format!("[{}]", items.join(","))
    }
    fn counts(c: Option<Counts>) -> String {
        c.map_or("null".to_owned(), |c| {
            format!("{{\"objects\":{},\"slabs\":{},\"pages\":{}}}", c.objects, c.slabs, c.pages)
        })
    }
    let side = |s: &SnapshotSide| {
        let formats: Vec<&str> = s.formats.iter().map(|f| f.name()).collect();
        let c = &s.coverage;
        format!(
            "{{\"label\":{},\"formats\":{},\"coverage\":{{\"multi_name_groups\":{},\"single_name_groups\":{},\
             \"instances\":{}}},\"names\":{},\"instances\":{},\"total\":{}}}",
            json_string(&s.label),
            strings(&formats),
            c.multi_name_groups,
            c.single_name_groups,
            c.instances,
            s.names().len(),
            s.instances.len(),
            counts(s.has_counts().then(|| s.total())),
        )
    };
    let part = |p: &SnapshotDiffPart| {
        let groups = |i: usize| format!("[{}]", p.groups[i].iter().map(|g| strings(g)).collect::<Vec<_>>().join(","));
        let change = match p.change {
            Some(GroupChange::Split) => "\"split\"",
            Some(GroupChange::Joined) => "\"joined\"",
            Some(GroupChange::Regrouped) => "\"regrouped\"",
            None => "null",
        };
        format!(
            "{{\"names\":{},\"dirs\":[{},{}],\"groups\":[{},{}],\"change\":{change},\"counts\":[{},{}]}}",
            strings(&p.names),
            strings(&p.dirs[0]),
            strings(&p.dirs[1]),
            groups(0),
            groups(1),
            counts(p.counts[0]),
            counts(p.counts[1]),
        )
    };
    let parts: Vec<String> = d.parts.iter().map(part).collect();
    format!(
        "{{\"sides\":[{},{}],\"groups_compared\":{},\"counts_compared\":{},\"partial\":{},\"lopsided\":{},\
         \"gone\":{},\"new\":{},\"not_listed\":[{},{}],\"parts\":[{}]}}\n",
        side(&d.sides[0]),
        side(&d.sides[1]),
        d.groups_compared,
        d.counts_compared,
        strings(&d.partial),
        d.lopsided(),
        strings(&d.disappeared),
        strings(&d.appeared),
        strings(&d.not_listed[0]),
        strings(&d.not_listed[1]),
        parts.join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::snapshot::read_snapshot_bytes;

    const HEAD: &str = "slabinfo - version: 2.1\n";

    fn line(name: &str, objects: u64, slabs: u64, pages: u64) -> String {
        format!("{name} {objects} {objects} 64 64 {pages} : tunables 0 0 0 : slabdata {slabs} {slabs} 0\n")
    }

    /// Counts at the top of u64 (a corrupt or hostile input) saturate
    /// instead of overflowing.
    #[test]
    fn huge_counts_saturate() {
        let big = u64::MAX - 1;
        let a =
            read_snapshot_bytes("a", format!("{HEAD}{}{}", line("x", big, big, 8), line("y", big, big, 1)).as_bytes())
                .unwrap();
        let b = read_snapshot_bytes("b", format!("{HEAD}{}", line("x", 1, 1, 1)).as_bytes()).unwrap();
        let d = snapshot_diff("a", &a, "b", &b);
        assert_eq!(d.sides[0].total().objects, u64::MAX);
        assert_eq!(d.sides[0].total().pages, u64::MAX);
        assert!(render_snapshot_diff(&d, true).contains("18446744073709551615"));
    }

    /// Every line of the text fits 100 columns, even where one word would
    /// not: a long path, a cache whose names sit in many directories.
    #[test]
    fn every_line_fits_100_columns() {
        let many: String = (0..40).map(|i| format!(":A-{i:07}")).collect::<Vec<_>>().join(",");
        let side = |label: String, dirs: Vec<String>| SnapshotSide {
            label,
            formats: Vec::new(),
            coverage: Coverage::FULL,
            instances: dirs
                .into_iter()
                .map(|dir| Instance { names: vec![dir.clone()], dir, counts: Some(Counts::default()) })
                .collect(),
        };
        let part = SnapshotDiffPart {
            names: many.split(',').map(str::to_owned).collect(),
            dirs: [many.split(',').map(str::to_owned).collect(), vec!["x".to_owned()]],
            groups: [vec![vec!["a".to_owned()]], vec![]],
            change: Some(GroupChange::Joined),
            counts: [Some(Counts { objects: 1, slabs: 1, pages: 1 }), Some(Counts::default())],
        };
        let d = SnapshotDiff {
            sides: [side(format!("/{}/a", "x".repeat(120)), vec!["a".to_owned()]), side("b".to_owned(), vec![])],
            parts: vec![part],
            disappeared: vec![many.clone()],
            appeared: Vec::new(),
            not_listed: [Vec::new(), Vec::new()],
            groups_compared: true,
            counts_compared: true,
            partial: vec![format!("{} {many}", "word ".repeat(30))],
        };
        for verbose in [false, true] {
            let text = render_snapshot_diff(&d, verbose);
            let wide = crate::report::render::lines_over_width(&text);
            assert!(wide.is_empty(), "{wide:?}\n{text}");
            // Cut, not lost: every directory is still there.
            assert!(text.contains(":A-0000039"), "{text}");
        }
    }

    /// A side with no counts at all: the counts are not compared, and the
    /// diff says which side lacks them.
    #[test]
    fn a_side_without_counts_is_named() {
        let ls = "total 0\ndrwxr-xr-x 2 root root 0 Dec  1 21:06 x\n";
        let a = read_snapshot_bytes("a", ls.as_bytes()).unwrap();
        let b = read_snapshot_bytes("b", format!("{HEAD}{}", line("x", 1, 1, 1)).as_bytes()).unwrap();
        let d = snapshot_diff("a", &a, "b", &b);
        assert!(!d.counts_compared && d.lopsided());
        assert!(
            d.partial.iter().any(|p| p.contains("not compared: A (ls -l listing) has no live counts")),
            "{:?}",
            d.partial
        );
        assert!(!render_snapshot_diff(&d, false).contains("pages and objects per cache"));
    }
}
