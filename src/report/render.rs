//! Printing the report: an aligned text table, Markdown, CSV or JSON.
//!
//! The JSON form is for scripts and its keys are stable: one object with
//! `trace`, `census`, `static_set`, `workload`, `snapshot` (null without a
//! sysfs snapshot) and `schemes`, an array with one object per scheme holding
//! `scheme`, `names`, `instances`, `shared_names`, `merges_lost`, `statics`,
//! `statics_merged`, `failures`, `groups` (arrays of names, the instance's own
//! name first) and `memory` (the figures of [`Memory`], in bytes and counts).
//! With `--seeds N` the top-level `seeds` array holds, per seed, `seed` and
//! `schemes` (each `scheme` with its `memory`), and each scheme's `memory` is
//! the per-figure median; with one seed `seeds` is empty.
//! The seed is written as a hexadecimal string, since JSON readers often keep
//! numbers as doubles.

use std::fmt::Write as _;

use super::{ComparativeReport, Memory, SchemeReport};

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

/// Renders the report in `format`.
pub fn render(report: &ComparativeReport, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Markdown => markdown(report),
        Format::Csv => csv(report),
        Format::Json => json(report),
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

/// The columns of the table and Markdown forms: header, right-aligned, cell per scheme.
fn columns(report: &ComparativeReport) -> Vec<(&'static str, bool, Vec<String>)> {
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
    cols.push(("merges lost", false, col(&|r| lost_cell(&r.merges_lost))));
    cols
}

/// How many lost names a table cell lists; longer lists go below the table.
const LOST_IN_CELL: usize = 8;

fn lost_cell(names: &[String]) -> String {
    match names.len() {
        0 => "-".to_owned(),
        n if n <= LOST_IN_CELL => names.join(", "),
        n => format!("{}, ... (+{} more, listed below)", names[..LOST_IN_CELL].join(", "), n - LOST_IN_CELL),
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
/// the clean check and the snapshot comparison.
fn notes(report: &ComparativeReport) -> Vec<String> {
    let mut notes = report.input_notes.clone();
    for s in report.schemes.iter().filter(|s| s.merges_lost.len() > LOST_IN_CELL) {
        notes.push(format!("merges lost under {} ({}): {}", s.scheme, s.merges_lost.len(), s.merges_lost.join(", ")));
    }
    for s in &report.schemes {
        for (name, err) in &s.failures {
            notes.push(format!("{}: creating {name} failed: {err}", s.scheme));
        }
        if !s.memory.skipped_names.is_empty() {
            notes.push(format!("{}: no handle, workload skipped for: {}", s.scheme, s.memory.skipped_names.join(", ")));
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
            notes.push(format!("no census count for (no objects allocated): {}", groups.join(", ")));
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
        for (dir, names, got) in &cmp.differing {
            let got: Vec<String> = got.iter().map(|g| format!("[{}]", g.join(", "))).collect();
            notes.push(format!("snapshot {dir} [{}] replayed as {}", names.join(", "), got.join(" ")));
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
            notes.push(format!(
                "attributes differing from the snapshot in {} directories: {}",
                list.len(),
                list.join("; ")
            ));
        } else {
            notes.push(
                "every reproduced directory has the snapshot's slab_size, objs_per_slab, order and object_size".into(),
            );
        }
    }
    notes
}

fn table(report: &ComparativeReport) -> String {
    let cols = columns(report);
    let widths: Vec<usize> = cols
        .iter()
        .map(|(h, _, cells)| cells.iter().map(|c| c.chars().count()).chain([h.len()]).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in preamble(report) {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    let last = cols.len() - 1;
    let row = |out: &mut String, cells: Vec<(&str, bool)>| {
        let mut line = String::new();
        for (i, ((text, right), w)) in cells.into_iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w.saturating_sub(text.chars().count());
            if right {
                line.push_str(&" ".repeat(pad));
                line.push_str(text);
            } else if i == last {
                line.push_str(text);
            } else {
                line.push_str(text);
                line.push_str(&" ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    };
    row(&mut out, cols.iter().map(|(h, right, _)| (*h, *right)).collect());
    for i in 0..report.schemes.len() {
        row(&mut out, cols.iter().map(|(_, right, cells)| (cells[i].as_str(), *right)).collect());
    }
    let notes = notes(report);
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "{n}");
        }
    }
    out
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

fn markdown(report: &ComparativeReport) -> String {
    let cols = columns(report);
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
    let notes = notes(report);
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            let _ = writeln!(out, "- {}", md_escape(&n));
        }
    }
    out
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
    let failures: Vec<String> = s
        .failures
        .iter()
        .map(|(n, e)| format!("{{\"name\":{},\"error\":{}}}", json_string(n), json_string(e)))
        .collect();
    format!(
        "{{\"scheme\":{},\"names\":{},\"instances\":{},\"shared_names\":{},\"merges_lost\":{},\"statics\":{},\
         \"statics_merged\":{},\"failures\":[{}],\"groups\":[{}],\"memory\":{}}}",
        json_string(s.scheme.name()),
        s.names,
        s.instances(),
        s.shared_names,
        json_strings(&s.merges_lost),
        json_strings(&s.statics),
        json_strings(&s.statics_merged),
        failures.join(","),
        groups.join(","),
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
    format!(
        "{{\"trace\":{},\"trace_names\":{},\"census\":{},\"static_set\":{{\"image\":{},\"module\":{}}},\
         \"workload\":{{\"measured\":{},\"seed\":{},\"churn_percent\":{},\"divisor\":{},\"objects\":{},\
         \"churned\":{},\"unmatched_groups\":[{}]}},\"snapshot\":{},\"input_notes\":{},\"seeds\":[{}],\"schemes\":[{}]}}\n",
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
        schemes.join(",")
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
