//! Printing the report: an aligned text table, Markdown, CSV or JSON.
//!
//! The JSON form is for scripts and its keys are stable: one object with
//! `trace`, `census`, `static_set`, `workload`, `snapshot` (null without a
//! sysfs snapshot) and `schemes`, an array with one object per scheme holding
//! `scheme`, `names`, `instances`, `shared_names`, `merges_lost`, `statics`,
//! `statics_merged`, `failures`, `groups` (arrays of names, the instance's own
//! name first), `directories` (per group, in the same order: its sysfs `dir`,
//! its `names`, and its `slab_pages` and `slab_kib` at the workload's peak,
//! null without the workload) and `memory` (the figures of [`Memory`], in
//! bytes and counts). `group_memory` is the per-group memory table: its
//! `baseline` (the first scheme) and `groups`, every set of names whose pages
//! differ between schemes, largest difference first, each with `names` and
//! per scheme `scheme`, `dirs`, `slab_pages`, `slab_kib` and
//! `pages_against_baseline` (empty without the workload).
//! With `--seeds N` the top-level `seeds` array holds, per seed, `seed` and
//! `schemes` (each `scheme` with its `memory`), and each scheme's `memory` is
//! the per-figure median; with one seed `seeds` is empty.
//! The seed is written as a hexadecimal string, since JSON readers often keep
//! numbers as doubles.

use std::fmt::Write as _;

use super::{ComparativeReport, Memory, ReportScheme, SchemeReport};

/// Output format of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned text for a terminal.
    Table,
    /// A Markdown table with notes.
    Markdown,
    /// Comma-separated values, one row per scheme, raw numbers.
    Csv,
    /// One JSON object.
    Json,
}

impl Format {
    /// Parses `table`, `markdown`, `csv` or `json`.
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "table" => Some(Format::Table),
            "markdown" | "md" => Some(Format::Markdown),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// How the text forms (table, Markdown) are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// Every list of names in full, and every group of the per-group memory
    /// table; otherwise long lists are cut with a count ("... and 37 more")
    /// and the table shows the [`TOP_GROUPS`] largest differences.
    pub verbose: bool,
}

/// The width every line of the default text table fits.
pub const WIDTH: usize = 100;

/// The lines of `text` wider than [`WIDTH`] columns, each with its width:
/// the one check of the text forms (the report, `diff`) that tests hold
/// them to, so that the rule and the constant cannot drift apart.
pub fn lines_over_width(text: &str) -> Vec<(usize, &str)> {
    text.lines().map(|l| (l.chars().count(), l)).filter(|&(n, _)| n > WIDTH).collect()
}

/// Rows of the per-group memory table without `verbose`.
pub const TOP_GROUPS: usize = 10;

/// Names a list at the end of the report shows without `verbose`.
const NAMES_SHOWN: usize = 10;

/// Renders the report in `format`, long lists cut (see [`TextOptions`]).
pub fn render(report: &ComparativeReport, format: Format) -> String {
    render_with(report, format, TextOptions::default())
}

/// Renders the report in `format`; `text` lays out the table and Markdown
/// forms (CSV and JSON always carry every name).
pub fn render_with(report: &ComparativeReport, format: Format, text: TextOptions) -> String {
    match format {
        Format::Table => table(report, text),
        Format::Markdown => markdown(report, text),
        Format::Csv => csv(report),
        Format::Json => json(report),
    }
}

/// `text` wrapped at [`WIDTH`] on spaces, continuation lines indented by
/// `indent` spaces. A word longer than the width stays whole on its line.
pub fn wrap(text: &str, indent: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let (mut width, mut words) = (0, 0);
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if words > 0 && width + 1 + w > WIDTH {
            lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
            (width, words) = (indent, 0);
        }
        if words > 0 {
            line.push(' ');
            width += 1;
        }
        line.push_str(word);
        width += w;
        words += 1;
    }
    if words > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A list of names for the end of the report: in full with `verbose`, else
/// the first [`NAMES_SHOWN`] and a count of the others.
fn name_list(names: &[String], verbose: bool) -> String {
    if verbose || names.len() <= NAMES_SHOWN + 1 {
        names.join(", ")
    } else {
        format!("{}, ... and {} more", names[..NAMES_SHOWN].join(", "), names.len() - NAMES_SHOWN)
    }
}

/// As many of `names` as fit `room` characters, then "+N more".
fn fit_names(names: &[String], room: usize) -> String {
    if names.is_empty() {
        return "-".to_owned();
    }
    let all = names.join(", ");
    if all.chars().count() <= room {
        return all;
    }
    let mut shown = names.len();
    loop {
        shown -= 1;
        let rest = format!("+{} more", names.len() - shown);
        let text = if shown == 0 { rest } else { format!("{}, {rest}", names[..shown].join(", ")) };
        if shown == 0 || text.chars().count() <= room {
            return text;
        }
    }
}

fn kib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

/// A memory cell: the figure, and with several seeds the median with its range.
fn ranged(report: &ComparativeReport, figure: &dyn Fn(&Memory) -> u64, show: &dyn Fn(u64) -> String) -> Vec<String> {
    report
        .schemes
        .iter()
        .enumerate()
        .map(|(i, s)| match report.seed_range(i, figure) {
            Some((lo, hi)) => format!("{} ({}–{})", show(figure(&s.memory)), show(lo), show(hi)),
            None => show(figure(&s.memory)),
        })
        .collect()
}

/// The columns of the Markdown form: header, right-aligned, cell per scheme.
fn columns(report: &ComparativeReport, verbose: bool) -> Vec<(&'static str, bool, Vec<String>)> {
    let s = &report.schemes;
    let col = |f: &dyn Fn(&SchemeReport) -> String| s.iter().map(f).collect::<Vec<_>>();
    let mut cols = vec![
        ("scheme", false, col(&|r| r.scheme.name().to_owned())),
        ("names", true, col(&|r| r.names.to_string())),
        ("instances", true, col(&|r| r.instances().to_string())),
        ("shared", true, col(&|r| r.shared_names.to_string())),
        ("lost", true, col(&|r| r.merges_lost.len().to_string())),
        ("statics merged", true, col(&|r| format!("{}/{}", r.statics_merged.len(), r.statics.len()))),
    ];
    if report.options.memory {
        cols.extend([
            ("slab pages", true, ranged(report, &|m| m.slab_pages, &|v| v.to_string())),
            ("slab KiB", true, col(&|r| kib(r.memory.slab_bytes))),
            ("partial free KiB", true, col(&|r| kib(r.memory.partial_free_bytes))),
            ("sheaf objs", true, col(&|r| r.memory.sheaf_objects.to_string())),
            ("sheaf obj KiB", true, col(&|r| kib(r.memory.sheaf_object_bytes))),
            ("overhead KiB", true, col(&|r| kib(r.memory.overhead_bytes))),
            ("total KiB", true, ranged(report, &|m| m.total_bytes, &kib)),
        ]);
    }
    cols.push(("merges lost", false, col(&|r| lost_cell(&r.merges_lost, verbose))));
    cols
}

/// How many lost names a table cell lists; longer lists go below the table.
const LOST_IN_CELL: usize = 8;

fn lost_cell(names: &[String], verbose: bool) -> String {
    match names.len() {
        0 => "-".to_owned(),
        n if n <= LOST_IN_CELL => names.join(", "),
        n => format!(
            "{}, ... (+{} more, {})",
            names[..LOST_IN_CELL].join(", "),
            n - LOST_IN_CELL,
            if verbose { "listed below" } else { "--verbose lists them" }
        ),
    }
}

fn describe_statics(report: &ComparativeReport) -> String {
    let list = |set: &std::collections::BTreeSet<String>| {
        if set.is_empty() { "none".to_owned() } else { set.iter().cloned().collect::<Vec<_>>().join(", ") }
    };
    format!(
        "{} image statics ({}); {} module statics ({})",
        report.statics.image.len(),
        list(&report.statics.image),
        report.statics.module.len(),
        list(&report.statics.module)
    )
}

/// The lines above the table.
fn preamble(report: &ComparativeReport) -> Vec<String> {
    let o = &report.options;
    let mut lines = vec![
        format!("trace: {} ({} names)", report.trace_label, report.trace_names),
        format!("static set: {}", describe_statics(report)),
    ];
    if o.memory {
        lines.push(format!(
            "workload: {} objects from the live counts of {}{}, split equally among each mainline group's names \
             (remainder to the owner), {}, {} objects ({}%) freed and allocated again",
            report.workload_objects,
            report.census_label,
            if o.workload_divisor > 1 { format!(" divided by {}", o.workload_divisor) } else { String::new() },
            if report.seeds.len() > 1 {
                format!(
                    "{} seeds from {:#018x} (memory figures are medians, slab pages and total KiB with their \
                     min–max range)",
                    report.seeds.len(),
                    o.seed
                )
            } else {
                format!("seed {:#018x}", o.seed)
            },
            report.workload_churned,
            o.churn_percent
        ));
    }
    lines
}

/// The lines below the table: failures, skipped names, the overhead rule,
/// the clean check and the snapshot comparison; first, the merges lost of
/// the schemes of `lost_lists` (those a table cell cut). Long lists are cut
/// unless `verbose`; the flag returned says whether any was.
fn notes(report: &ComparativeReport, verbose: bool, lost_lists: &[ReportScheme]) -> (Vec<String>, bool) {
    let mut notes = report.input_notes.clone();
    let cut = std::cell::Cell::new(false);
    let list = |names: &[String]| {
        cut.set(cut.get() || (!verbose && names.len() > NAMES_SHOWN + 1));
        name_list(names, verbose)
    };
    for s in report.schemes.iter().filter(|s| lost_lists.contains(&s.scheme)) {
        notes.push(format!("merges lost under {} ({}): {}", s.scheme, s.merges_lost.len(), list(&s.merges_lost)));
    }
    for s in &report.schemes {
        for (name, err) in &s.failures {
            notes.push(format!("{}: creating {name} failed: {err}", s.scheme));
        }
        if !s.memory.skipped_names.is_empty() {
            notes.push(format!("{}: no handle, workload skipped for: {}", s.scheme, list(&s.memory.skipped_names)));
        }
        if report.options.memory && (s.memory.alloc_failures > 0 || s.memory.free_failures > 0) {
            notes.push(format!(
                "{}: {} allocations failed, {} frees refused",
                s.scheme, s.memory.alloc_failures, s.memory.free_failures
            ));
        }
    }
    if report.options.memory {
        let default = crate::config::SlabConfig::default();
        notes.push(format!(
            "overhead = struct kmem_cache instances × {} B + storages × {} B (storage, per-cpu sheaf slots, nodes) \
             + bytes of every allocated sheaf; total = slab pages × 4096 + overhead; partial free and sheaf objects \
             are inside the slab pages",
            super::workload::instance_fixed_bytes(),
            super::workload::storage_fixed_bytes(default.nr_cpus, default.nr_nodes)
        ));
        let instances: Vec<String> =
            report.schemes.iter().map(|s| format!("{} {}", s.scheme, s.memory.kmem_cache_instances)).collect();
        notes.push(format!("struct kmem_cache instances: {}", instances.join(", ")));
        if let (Some((lo, hi)), Some(base)) = (report.seed_range(0, |m| m.total_bytes), report.schemes.first()) {
            let against: Vec<String> = report.schemes[1..]
                .iter()
                .map(|s| {
                    format!(
                        "{} {:+.1}",
                        s.scheme,
                        (s.memory.total_bytes as f64 - base.memory.total_bytes as f64) / 1024.0
                    )
                })
                .collect();
            notes.push(format!(
                "over {} seeds {}'s total moves {} KiB ({}–{}); median total against {}'s, in KiB: {}",
                report.seeds.len(),
                base.scheme,
                kib(hi - lo),
                kib(lo),
                kib(hi),
                base.scheme,
                against.join(", ")
            ));
        }
        let unclean: Vec<&str> = report.schemes.iter().filter(|s| !s.memory.clean).map(|s| s.scheme.name()).collect();
        notes.push(if unclean.is_empty() {
            "after freeing every object and shrinking every cache, no scheme holds a page".to_owned()
        } else {
            format!("NOT CLEAN after freeing and shrinking: {}", unclean.join(", "))
        });
        if !report.workload_unmatched.is_empty() {
            let groups: Vec<String> = report.workload_unmatched.iter().map(|g| g.names.join("+")).collect();
            notes.push(format!("no census count for (no objects allocated): {}", list(&groups)));
        }
    }
    if let Some(cmp) = &report.snapshot {
        notes.push(format!(
            "snapshot: {} directories, {} names; mainline replay: {} groups, {} directories reproduced \
             ({} under the same directory name), {} differ, {} names missing",
            cmp.snapshot_dirs,
            cmp.snapshot_names,
            cmp.replay_groups,
            cmp.same_groups,
            cmp.same_dirs,
            cmp.differing.len(),
            cmp.missing.len()
        ));
        let shown = if verbose { cmp.differing.len() } else { cmp.differing.len().min(NAMES_SHOWN) };
        for (dir, names, got) in &cmp.differing[..shown] {
            let got: Vec<String> = got.iter().map(|g| format!("[{}]", g.join(", "))).collect();
            notes.push(format!("snapshot {dir} [{}] replayed as {}", names.join(", "), got.join(" ")));
        }
        if shown < cmp.differing.len() {
            cut.set(true);
            notes.push(format!("... and {} more directories replayed differently", cmp.differing.len() - shown));
        }
        if !cmp.attributes.is_empty() {
            let list: Vec<String> = cmp
                .attributes
                .iter()
                .map(|a| {
                    let d: Vec<String> =
                        a.differences.iter().map(|(k, real, got)| format!("{k} {real}→{got}")).collect();
                    format!("{} ({})", a.dir, d.join(", "))
                })
                .collect();
            let shown = if verbose { list.len() } else { list.len().min(NAMES_SHOWN) };
            if shown < list.len() {
                cut.set(true);
            }
            notes.push(format!(
                "attributes differing from the snapshot in {} directories: {}{}",
                list.len(),
                list[..shown].join("; "),
                if shown < list.len() { format!("; ... and {} more", list.len() - shown) } else { String::new() }
            ));
        } else {
            notes.push(
                "every reproduced directory has the snapshot's slab_size, objs_per_slab, order and object_size".into(),
            );
        }
    }
    (notes, cut.get())
}

/// Lines of an aligned table: `header` (title, right-aligned) and `rows`,
/// two spaces between columns; the last column is left unpadded. A cell
/// holding a newline continues on the next line under its column.
fn aligned(header: &[(&str, bool)], rows: &[Vec<String>]) -> Vec<String> {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .flat_map(|r| r[i].lines().map(|l| l.chars().count()))
                .chain([header[i].0.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let last = header.len() - 1;
    let line = |cells: Vec<&str>| {
        let mut line = String::new();
        for (i, text) in cells.into_iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i].saturating_sub(text.chars().count());
            if header[i].1 {
                line.push_str(&" ".repeat(pad));
                line.push_str(text);
            } else {
                line.push_str(text);
                if i < last {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        line.trim_end().to_owned()
    };
    let mut out = vec![line(header.iter().map(|(h, _)| *h).collect())];
    for r in rows {
        let parts: Vec<Vec<&str>> = r.iter().map(|c| c.lines().collect()).collect();
        let height = parts.iter().map(Vec::len).max().unwrap_or(1).max(1);
        for k in 0..height {
            out.push(line(parts.iter().map(|p| p.get(k).copied().unwrap_or("")).collect()));
        }
    }
    out
}

/// Where the column of the last cell of a table row starts.
fn last_column_start(header: &[(&str, bool)], rows: &[Vec<String>]) -> usize {
    (0..header.len() - 1)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].0.len()]).max().unwrap_or(0) + 2)
        .sum()
}

/// The partition table: one row per scheme, the merges lost cut to fit
/// (the schemes whose list was cut are returned).
fn partition_table(report: &ComparativeReport) -> (Vec<String>, Vec<ReportScheme>) {
    let header = [
        ("scheme", false),
        ("names", true),
        ("instances", true),
        ("shared", true),
        ("lost", true),
        ("statics merged", true),
        ("merges lost", false),
    ];
    let mut rows: Vec<Vec<String>> = report
        .schemes
        .iter()
        .map(|r| {
            vec![
                r.scheme.name().to_owned(),
                r.names.to_string(),
                r.instances().to_string(),
                r.shared_names.to_string(),
                r.merges_lost.len().to_string(),
                format!("{}/{}", r.statics_merged.len(), r.statics.len()),
                String::new(),
            ]
        })
        .collect();
    let start = last_column_start(&header, &rows);
    let room = WIDTH.saturating_sub(start).max(16);
    let mut cut = Vec::new();
    for (row, s) in rows.iter_mut().zip(&report.schemes) {
        let cell = fit_names(&s.merges_lost, room);
        if cell.ends_with(" more") {
            cut.push(s.scheme);
        }
        *row.last_mut().expect("a row has cells") = cell;
    }
    (aligned(&header, &rows), cut)
}

/// `text` wrapped at `width` columns on spaces.
fn wrap_at(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The memory table: one row per scheme (medians with several seeds).
fn memory_table(report: &ComparativeReport) -> Vec<String> {
    let header = [
        ("scheme", false),
        ("slab pages", true),
        ("slab KiB", true),
        ("partial KiB", true),
        ("sheaf objs", true),
        ("sheaf KiB", true),
        ("overhead KiB", true),
        ("total KiB", true),
    ];
    let rows: Vec<Vec<String>> = report
        .schemes
        .iter()
        .map(|r| {
            let m = &r.memory;
            vec![
                r.scheme.name().to_owned(),
                m.slab_pages.to_string(),
                kib(m.slab_bytes),
                kib(m.partial_free_bytes),
                m.sheaf_objects.to_string(),
                kib(m.sheaf_object_bytes),
                kib(m.overhead_bytes),
                kib(m.total_bytes),
            ]
        })
        .collect();
    aligned(&header, &rows)
}

/// With several seeds: each scheme's slab pages and total, median (min–max).
fn seeds_table(report: &ComparativeReport) -> Vec<String> {
    let pages = ranged(report, &|m| m.slab_pages, &|v| v.to_string());
    let total = ranged(report, &|m| m.total_bytes, &kib);
    let rows: Vec<Vec<String>> = report
        .schemes
        .iter()
        .enumerate()
        .map(|(i, s)| vec![s.scheme.name().to_owned(), pages[i].clone(), total[i].clone()])
        .collect();
    aligned(&[("scheme", false), ("slab pages", true), ("total KiB", true)], &rows)
}

/// The per-group memory table: the sets of names whose slab pages differ
/// between schemes, the largest difference first; without `verbose` the
/// first [`TOP_GROUPS`]. Returns the lines and whether rows were left out.
fn group_table(report: &ComparativeReport, verbose: bool) -> (Vec<String>, bool) {
    let parts = super::groups::group_memory(report);
    let Some(base) = report.schemes.first() else { return (Vec::new(), false) };
    let mut lines = Vec::new();
    if parts.is_empty() {
        lines.push(format!("no group gains or loses a slab page against {}", base.scheme));
        return (lines, false);
    }
    let shown = if verbose { parts.len() } else { parts.len().min(TOP_GROUPS) };
    lines.extend(wrap(
        &format!(
            "slab pages per group at the workload's peak: {} groups differ between schemes{}",
            parts.len(),
            if shown < parts.len() { format!(", the {shown} largest differences") } else { String::new() }
        ),
        2,
    ));
    let mut header: Vec<(&str, bool)> = vec![("group", false)];
    header.extend(report.schemes.iter().map(|s| (s.scheme.name(), true)));
    header.push(("names", false));
    let cell = |p: &super::groups::GroupMemory, i: usize| {
        if i == 0 { p.pages[0].to_string() } else { signed(p.difference(i)) }
    };
    let mut rows: Vec<Vec<String>> = parts[..shown]
        .iter()
        .map(|p| {
            let mut row = vec![p.dirs[0].join("+")];
            row.extend((0..report.schemes.len()).map(|i| cell(p, i)));
            row.push(String::new());
            row
        })
        .collect();
    // The total over every set that differs, and in KiB.
    let totals: Vec<u64> = (0..report.schemes.len()).map(|i| parts.iter().map(|p| p.pages[i]).sum()).collect();
    let total_row =
        |label: &str, unit: &dyn Fn(u64) -> u64| {
            let mut row = vec![label.to_owned()];
            row.extend(totals.iter().enumerate().map(|(i, &t)| {
                if i == 0 { unit(t).to_string() } else { signed(unit(t) as i64 - unit(totals[0]) as i64) }
            }));
            row.push(format!("{} groups", parts.len()));
            row
        };
    rows.push(total_row("all of them, pages", &|p| p));
    rows.push(total_row("all of them, KiB", &super::groups::pages_kib));
    let start = last_column_start(&header, &rows);
    let room = WIDTH.saturating_sub(start).max(16);
    for (row, p) in rows[..shown].iter_mut().zip(&parts) {
        let names = if verbose { wrap_at(&p.names.join(", "), room).join("\n") } else { fit_names(&p.names, room) };
        *row.last_mut().expect("a row has cells") = names;
    }
    lines.extend(aligned(&header, &rows));
    lines.extend(wrap(
        &format!(
            "group: the {} directories of a set of names that every scheme's groups cover; {}: its slab pages; \
             the other schemes: pages gained (+) or lost (-) against {} (1 page = {} KiB)",
            base.scheme,
            base.scheme,
            base.scheme,
            crate::config::PAGE_SIZE / 1024
        ),
        2,
    ));
    (lines, shown < parts.len())
}

fn signed(v: i64) -> String {
    if v == 0 { "0".to_owned() } else { format!("{v:+}") }
}

fn table(report: &ComparativeReport, text: TextOptions) -> String {
    let verbose = text.verbose;
    let mut out = String::new();
    let push = |out: &mut String, lines: Vec<String>| {
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
    };
    for line in preamble(report) {
        push(&mut out, wrap(&line, 2));
    }
    out.push('\n');
    let (partitions, lost_cut) = partition_table(report);
    push(&mut out, partitions);
    push(
        &mut out,
        wrap(
            "instances: groups of names sharing one storage; shared: names sharing storage with another name; \
             lost: names sharing storage in mainline but with no name here; statics merged: static-set names \
             sharing storage, of those in the trace",
            2,
        ),
    );
    let mut groups_cut = false;
    if report.options.memory {
        out.push('\n');
        push(&mut out, memory_table(report));
        push(
            &mut out,
            wrap(
                "partial: free slots on partial slabs; sheaf objs, sheaf: free objects cached in sheaves; \
                 overhead and total: defined in the notes",
                2,
            ),
        );
        if report.seeds.len() > 1 {
            out.push('\n');
            let _ = writeln!(out, "over {} seeds, median (min–max):", report.seeds.len());
            push(&mut out, seeds_table(report));
        }
        out.push('\n');
        let (lines, cut) = group_table(report, verbose);
        groups_cut = cut;
        push(&mut out, lines);
    }
    // The lists the table cut follow it: in full with --verbose.
    let lost_lists = if verbose { lost_cut.clone() } else { Vec::new() };
    let (mut notes, notes_cut) = notes(report, verbose, &lost_lists);
    if !verbose && (!lost_cut.is_empty() || groups_cut || notes_cut) {
        notes.push("lists cut with \"+N more\" or \"... and N more\": --verbose gives them in full".to_owned());
    }
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            push(&mut out, wrap(&n, 2));
        }
    }
    out
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

fn markdown(report: &ComparativeReport, text: TextOptions) -> String {
    let cols = columns(report, text.verbose);
    let mut out = String::new();
    for line in preamble(report) {
        let _ = writeln!(out, "{}  ", md_escape(&line));
    }
    out.push('\n');
    let header: Vec<String> = cols.iter().map(|(h, _, _)| md_escape(h)).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = cols.iter().map(|(_, right, _)| if *right { "---:" } else { "---" }).collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for i in 0..report.schemes.len() {
        let cells: Vec<String> = cols.iter().map(|(_, _, c)| md_escape(&c[i])).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if report.options.memory {
        out.push('\n');
        let _ = writeln!(out, "{}", markdown_groups(report, text.verbose));
    }
    let lost_lists: Vec<ReportScheme> = report
        .schemes
        .iter()
        .filter(|s| text.verbose && s.merges_lost.len() > LOST_IN_CELL)
        .map(|s| s.scheme)
        .collect();
    let (notes, _) = notes(report, text.verbose, &lost_lists);
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "- {}", md_escape(&n));
        }
    }
    out
}

/// The per-group memory table as Markdown (the text form's [`group_table`]).
fn markdown_groups(report: &ComparativeReport, verbose: bool) -> String {
    let parts = super::groups::group_memory(report);
    let Some(base) = report.schemes.first() else { return String::new() };
    if parts.is_empty() {
        return format!("No group gains or loses a slab page against {}.", base.scheme);
    }
    let shown = if verbose { parts.len() } else { parts.len().min(TOP_GROUPS) };
    let mut out = format!(
        "Slab pages per group at the workload's peak: {}'s pages, and the pages each other scheme gains (+) \
         or loses (-) against it; {} groups differ{}.\n\n",
        base.scheme,
        parts.len(),
        if shown < parts.len() { format!(", the {shown} largest differences shown") } else { String::new() }
    );
    let names: Vec<&str> = report.schemes.iter().map(|s| s.scheme.name()).collect();
    let _ = writeln!(out, "| group | {} | names |", names.join(" | "));
    let _ = writeln!(out, "| --- |{} --- |", " ---: |".repeat(names.len()));
    for p in &parts[..shown] {
        let cells: Vec<String> =
            (0..names.len()).map(|i| if i == 0 { p.pages[0].to_string() } else { signed(p.difference(i)) }).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            md_escape(&p.dirs[0].join("+")),
            cells.join(" | "),
            md_escape(&name_list(&p.names, verbose))
        );
    }
    out.trim_end().to_owned()
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// The CSV columns: one row per scheme, raw counts and bytes.
pub const CSV_HEADER: [&str; 22] = [
    "scheme",
    "names",
    "instances",
    "shared_names",
    "merges_lost_count",
    "merges_lost",
    "statics",
    "statics_merged",
    "objects_live",
    "payload_bytes",
    "slabs",
    "slab_pages",
    "slab_bytes",
    "partial_slabs",
    "partial_free_bytes",
    "sheaf_objects",
    "sheaf_object_bytes",
    "kmem_cache_instances",
    "storages",
    "overhead_bytes",
    "total_bytes",
    "clean",
];

fn csv(report: &ComparativeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", CSV_HEADER.join(","));
    for s in &report.schemes {
        let m = &s.memory;
        let fields = [
            s.scheme.name().to_owned(),
            s.names.to_string(),
            s.instances().to_string(),
            s.shared_names.to_string(),
            s.merges_lost.len().to_string(),
            s.merges_lost.join(";"),
            s.statics.len().to_string(),
            s.statics_merged.join(";"),
            m.objects_live.to_string(),
            m.payload_bytes.to_string(),
            m.slabs.to_string(),
            m.slab_pages.to_string(),
            m.slab_bytes.to_string(),
            m.partial_slabs.to_string(),
            m.partial_free_bytes.to_string(),
            m.sheaf_objects.to_string(),
            m.sheaf_object_bytes.to_string(),
            m.kmem_cache_instances.to_string(),
            m.storages.to_string(),
            m.overhead_bytes.to_string(),
            m.total_bytes.to_string(),
            m.clean.to_string(),
        ];
        // Memory columns stay empty when the workload did not run.
        let measured = if report.options.memory { fields.len() } else { 8 };
        let fields: Vec<String> =
            fields.iter().enumerate().map(|(i, f)| if i < measured { csv_field(f) } else { String::new() }).collect();
        let _ = writeln!(out, "{}", fields.join(","));
    }
    out
}

/// A JSON string literal, escaped per RFC 8259.
pub fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_strings<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| json_string(s)).collect();
    format!("[{}]", items.join(","))
}

fn json_memory(m: &Memory) -> String {
    let numbers = [
        ("objects_planned", m.objects_planned),
        ("objects_live", m.objects_live),
        ("payload_bytes", m.payload_bytes),
        ("slabs", m.slabs),
        ("slab_pages", m.slab_pages),
        ("slab_bytes", m.slab_bytes),
        ("partial_slabs", m.partial_slabs),
        ("partial_free_objects", m.partial_free_objects),
        ("partial_free_bytes", m.partial_free_bytes),
        ("sheaves", m.sheaves),
        ("sheaf_objects", m.sheaf_objects),
        ("sheaf_object_bytes", m.sheaf_object_bytes),
        ("kmem_cache_instances", m.kmem_cache_instances),
        ("storages", m.storages),
        ("instance_bytes", m.instance_bytes),
        ("storage_bytes", m.storage_bytes),
        ("sheaf_bytes", m.sheaf_bytes),
        ("overhead_bytes", m.overhead_bytes),
        ("total_bytes", m.total_bytes),
        ("alloc_failures", m.alloc_failures),
        ("free_failures", m.free_failures),
    ];
    let mut fields: Vec<String> = numbers.iter().map(|(k, v)| format!("{}:{v}", json_string(k))).collect();
    fields.push(format!("\"skipped_names\":{}", json_strings(&m.skipped_names)));
    fields.push(format!("\"clean\":{}", m.clean));
    format!("{{{}}}", fields.join(","))
}

fn json_scheme(s: &SchemeReport, measured: bool) -> String {
    let groups: Vec<String> = s.groups.iter().map(|g| json_strings(&g.names)).collect();
    // Each group's sysfs directory, with its slab pages at the peak when measured.
    let directories: Vec<String> = s
        .groups
        .iter()
        .map(|g| {
            let (pages, kib) = if measured {
                let pages = s.group_pages(g);
                (pages.to_string(), super::groups::pages_kib(pages).to_string())
            } else {
                ("null".to_owned(), "null".to_owned())
            };
            format!(
                "{{\"dir\":{},\"names\":{},\"slab_pages\":{pages},\"slab_kib\":{kib}}}",
                json_string(&g.dir),
                json_strings(&g.names)
            )
        })
        .collect();
    let failures: Vec<String> = s
        .failures
        .iter()
        .map(|(n, e)| format!("{{\"name\":{},\"error\":{}}}", json_string(n), json_string(e)))
        .collect();
    format!(
        "{{\"scheme\":{},\"names\":{},\"instances\":{},\"shared_names\":{},\"merges_lost\":{},\"statics\":{},\
         \"statics_merged\":{},\"failures\":[{}],\"groups\":[{}],\"directories\":[{}],\"memory\":{}}}",
        json_string(s.scheme.name()),
        s.names,
        s.instances(),
        s.shared_names,
        json_strings(&s.merges_lost),
        json_strings(&s.statics),
        json_strings(&s.statics_merged),
        failures.join(","),
        groups.join(","),
        directories.join(","),
        if measured { json_memory(&s.memory) } else { "null".to_owned() }
    )
}

fn json(report: &ComparativeReport) -> String {
    let o = &report.options;
    let unmatched: Vec<String> = report.workload_unmatched.iter().map(|g| json_strings(&g.names)).collect();
    let snapshot = match &report.snapshot {
        None => "null".to_owned(),
        Some(c) => {
            let differing: Vec<String> = c
                .differing
                .iter()
                .map(|(dir, names, got)| {
                    let got: Vec<String> = got.iter().map(json_strings).collect();
                    format!(
                        "{{\"dir\":{},\"names\":{},\"replayed\":[{}]}}",
                        json_string(dir),
                        json_strings(names),
                        got.join(",")
                    )
                })
                .collect();
            let attributes: Vec<String> = c
                .attributes
                .iter()
                .map(|a| {
                    let d: Vec<String> = a
                        .differences
                        .iter()
                        .map(|(k, real, got)| format!("{{\"attribute\":\"{k}\",\"snapshot\":{real},\"replay\":{got}}}"))
                        .collect();
                    format!("{{\"dir\":{},\"differences\":[{}]}}", json_string(&a.dir), d.join(","))
                })
                .collect();
            format!(
                "{{\"directories\":{},\"names\":{},\"replay_groups\":{},\"same_groups\":{},\"same_dirs\":{},\
                 \"partition_identical\":{},\"differing\":[{}],\"missing\":{},\"attributes\":[{}]}}",
                c.snapshot_dirs,
                c.snapshot_names,
                c.replay_groups,
                c.same_groups,
                c.same_dirs,
                c.partition_identical(),
                differing.join(","),
                json_strings(&c.missing),
                attributes.join(",")
            )
        }
    };
    let schemes: Vec<String> = report.schemes.iter().map(|s| json_scheme(s, o.memory)).collect();
    // Every seed's figures per scheme, when --seeds gave more than one.
    let seeds: Vec<String> = report
        .seeds
        .iter()
        .map(|(seed, memory)| {
            let per: Vec<String> = report
                .schemes
                .iter()
                .zip(memory)
                .map(|(s, m)| format!("{{\"scheme\":{},\"memory\":{}}}", json_string(s.scheme.name()), json_memory(m)))
                .collect();
            format!("{{\"seed\":{},\"schemes\":[{}]}}", json_string(&format!("{seed:#018x}")), per.join(","))
        })
        .collect();
    // The per-group memory table: every set of names whose pages differ.
    let group_memory: Vec<String> = super::groups::group_memory(report)
        .iter()
        .map(|p| {
            let per: Vec<String> = report
                .schemes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    format!(
                        "{{\"scheme\":{},\"dirs\":{},\"slab_pages\":{},\"slab_kib\":{},\"pages_against_baseline\":{}}}",
                        json_string(s.scheme.name()),
                        json_strings(&p.dirs[i]),
                        p.pages[i],
                        super::groups::pages_kib(p.pages[i]),
                        p.difference(i)
                    )
                })
                .collect();
            format!("{{\"names\":{},\"schemes\":[{}]}}", json_strings(&p.names), per.join(","))
        })
        .collect();
    let baseline = report.schemes.first().map_or("null".to_owned(), |s| json_string(s.scheme.name()));
    format!(
        "{{\"trace\":{},\"trace_names\":{},\"census\":{},\"static_set\":{{\"image\":{},\"module\":{}}},\
         \"workload\":{{\"measured\":{},\"seed\":{},\"churn_percent\":{},\"divisor\":{},\"objects\":{},\
         \"churned\":{},\"unmatched_groups\":[{}]}},\"snapshot\":{},\"input_notes\":{},\"seeds\":[{}],\"schemes\":[{}],\
         \"group_memory\":{{\"baseline\":{},\"groups\":[{}]}}}}\n",
        json_string(&report.trace_label),
        report.trace_names,
        json_string(&report.census_label),
        json_strings(&report.statics.image),
        json_strings(&report.statics.module),
        o.memory,
        json_string(&format!("{:#018x}", o.seed)),
        o.churn_percent,
        o.workload_divisor,
        report.workload_objects,
        report.workload_churned,
        unmatched.join(","),
        snapshot,
        json_strings(&report.input_notes),
        seeds.join(","),
        schemes.join(","),
        baseline,
        group_memory.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8259 §7: quotation mark, reverse solidus and control characters are escaped.
    #[test]
    fn json_string_escapes_quotes_backslashes_and_controls() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    /// RFC 4180: a field with a comma or a quote is quoted, quotes doubled.
    #[test]
    fn csv_field_quotes_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
