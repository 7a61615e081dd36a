//! The report a person reads at 100 columns: the width of every line, the
//! figures of the tables against the report's values, the per-group memory
//! table, and the JSON's directories and pages against the text.

mod common;

use std::sync::OnceLock;

use serde_json::Value;
use slabmerge::census::Census;
use slabmerge::replay::StaticSet;
use slabmerge::report::groups::{self, GroupMemory};
use slabmerge::report::render::{self, TOP_GROUPS, TextOptions};
use slabmerge::report::{self, ComparativeReport, Format, ReportOptions};
use slabmerge::trace::Trace;

/// The default report on the bundled trace and census, through the library's
/// entry point, as the binary runs it (computed once: the workload is the
/// slow part).
fn bundled() -> &'static ComparativeReport {
    static REPORT: OnceLock<ComparativeReport> = OnceLock::new();
    REPORT.get_or_init(|| common::with_bundled_input(|input| report::run_with(input, &ReportOptions::default())))
}

fn report_text(verbose: bool) -> String {
    render::render_with(bundled(), Format::Table, TextOptions { verbose })
}

/// Every line of the default report is at most 100 columns, and so is every
/// line with `--verbose`, which only adds lines.
#[test]
fn every_line_of_the_report_fits_100_columns() {
    let default = report_text(false);
    assert!(default.lines().count() > 20, "{default}");
    assert!(render::lines_over_width(&default).is_empty(), "{:?}", render::lines_over_width(&default));
    let verbose = report_text(true);
    assert!(render::lines_over_width(&verbose).is_empty(), "{:?}", render::lines_over_width(&verbose));
    assert!(verbose.lines().count() > default.lines().count());
}

/// The rows of the table whose header starts with `first` (until the blank
/// line or the legend), split on runs of two or more spaces.
fn table_rows<'a>(text: &'a str, first: &str) -> Vec<Vec<&'a str>> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.starts_with(first)).unwrap_or_else(|| panic!("no {first}: {text}"));
    lines[start..]
        .iter()
        .take_while(|l| !l.is_empty() && !l.contains(": "))
        .map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect())
        .collect()
}

fn kib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1024.0)
}

/// The two tables print the report's own figures, one row per scheme.
#[test]
fn the_tables_print_the_reports_figures() {
    let r = bundled();
    let text = report_text(false);
    let partitions = table_rows(&text, "scheme    names");
    assert_eq!(partitions[0], ["scheme", "names", "instances", "shared", "lost", "statics merged", "merges lost"]);
    let memory = table_rows(&text, "scheme    slab pages");
    assert_eq!(memory.len(), r.schemes.len() + 1);
    for (i, s) in r.schemes.iter().enumerate() {
        let p = &partitions[i + 1];
        assert_eq!(
            p[..6].to_vec(),
            [
                s.scheme.name().to_owned(),
                s.names.to_string(),
                s.instances().to_string(),
                s.shared_names.to_string(),
                s.merges_lost.len().to_string(),
                format!("{}/{}", s.statics_merged.len(), s.statics.len()),
            ]
        );
        // The lost names shown are the first of the list, then a count of the rest.
        let cell = p.get(6).copied().unwrap_or("-");
        if s.merges_lost.is_empty() {
            assert_eq!(cell, "-");
        } else {
            let shown: Vec<&str> = cell.split(", ").filter(|n| !n.ends_with(" more")).collect();
            assert_eq!(shown, s.merges_lost[..shown.len()].iter().map(String::as_str).collect::<Vec<_>>());
            if shown.len() < s.merges_lost.len() {
                assert!(cell.ends_with(&format!("+{} more", s.merges_lost.len() - shown.len())), "{cell}");
            }
        }
        let m = &s.memory;
        let want = [
            s.scheme.name().to_owned(),
            m.slab_pages.to_string(),
            kib(m.slab_bytes),
            kib(m.partial_free_bytes),
            m.sheaf_objects.to_string(),
            kib(m.sheaf_object_bytes),
            kib(m.overhead_bytes),
            kib(m.total_bytes),
        ];
        assert_eq!(memory[i + 1].to_vec(), want);
    }
    // The lists the table cuts are given in full with --verbose.
    let nomerge = r.scheme(report::ReportScheme::Nomerge).unwrap();
    assert!(nomerge.merges_lost.len() > 100);
    let verbose = text_verbose_joined();
    let prefix = format!("merges lost under nomerge ({}): ", nomerge.merges_lost.len());
    let at = verbose.find(&prefix).unwrap_or_else(|| panic!("{verbose}"));
    let mut listed: Vec<&str> = verbose[at + prefix.len()..].split(", ").take(nomerge.merges_lost.len()).collect();
    let last = listed.pop().and_then(|l| l.split_whitespace().next()).unwrap();
    listed.push(last);
    assert_eq!(listed, nomerge.merges_lost);
    assert!(!text.contains(&prefix), "the default report cuts the list in the table only");
    assert!(text.contains("--verbose gives them in full"), "{text}");
}

/// The verbose report with its wrapped lines joined again.
fn text_verbose_joined() -> String {
    report_text(true).lines().map(str::trim).collect::<Vec<_>>().join(" ") + " "
}

/// The rows of the per-group memory table: label, then one cell per scheme.
fn group_rows(text: &str, schemes: usize) -> Vec<(String, Vec<i64>)> {
    table_rows(text, "group ")
        .into_iter()
        .skip(1)
        .filter(|r| r.len() > schemes)
        .map(|r| {
            let cells =
                r[1..=schemes].iter().map(|c| c.parse::<i64>().unwrap_or_else(|e| panic!("{c}: {e}"))).collect();
            (r[0].to_owned(), cells)
        })
        .collect()
}

/// The per-group memory table shows the largest differences against
/// mainline first, the first [`TOP_GROUPS`] by default and all of them with
/// `--verbose`, and its totals are the main table's slab pages.
#[test]
fn per_group_memory_table_shows_the_largest_differences() {
    let r = bundled();
    let parts: Vec<GroupMemory> = groups::group_memory(r);
    assert!(parts.len() > TOP_GROUPS, "{} sets differ", parts.len());
    // Each scheme's directory pages add up to its slab pages.
    for s in &r.schemes {
        let sum: u64 = s.groups.iter().map(|g| s.group_pages(g)).sum();
        assert_eq!(sum, s.memory.slab_pages, "{}", s.scheme);
    }
    // Sorted by the largest difference, and every set kept differs somewhere.
    assert!(parts.windows(2).all(|w| w[0].largest_difference() >= w[1].largest_difference()));
    assert!(parts.iter().all(|p| p.largest_difference() > 0));
    // viro-v3 splits fs_cache out of anon_vma_chain's group: that set gains pages under v3.
    let fs = parts.iter().find(|p| p.names.contains(&"fs_cache".to_owned())).expect("fs_cache's set differs");
    assert!(fs.difference(1) > 0, "{fs:?}");
    assert!(fs.dirs[1].contains(&"fs_cache".to_owned()), "{fs:?}");

    let n = r.schemes.len();
    for (verbose, shown) in [(false, TOP_GROUPS), (true, parts.len())] {
        let text = report_text(verbose);
        let rows = group_rows(&text, n);
        assert_eq!(rows.len(), shown + 2, "{shown} sets and the two totals:\n{text}");
        for (row, p) in rows[..shown].iter().zip(&parts) {
            assert_eq!(row.0, p.dirs[0].join("+"));
            let want: Vec<i64> = (0..n).map(|i| if i == 0 { p.pages[0] as i64 } else { p.difference(i) }).collect();
            assert_eq!(row.1, want, "{}", row.0);
        }
        // The totals over every set that differs are the main table's differences.
        let (pages, kib) = (&rows[shown].1, &rows[shown + 1].1);
        let base = r.schemes[0].memory.slab_pages as i64;
        let untouched: u64 =
            r.schemes[0].groups.iter().map(|g| r.schemes[0].group_pages(g)).sum::<u64>() - pages[0] as u64;
        for (i, s) in r.schemes.iter().enumerate().skip(1) {
            assert_eq!(pages[i], s.memory.slab_pages as i64 - base, "{}", s.scheme);
            assert_eq!(kib[i], pages[i] * 4, "{}", s.scheme);
        }
        assert_eq!(pages[0] as u64 + untouched, r.schemes[0].memory.slab_pages);
    }
}

fn json() -> Value {
    serde_json::from_str(&render::render(bundled(), Format::Json)).expect("the JSON parses")
}

/// The JSON carries each group's sysfs directory and its pages and KiB per
/// scheme, and the per-group memory table: the same figures as the text.
#[test]
fn json_carries_directories_and_memory_per_scheme() {
    let r = bundled();
    let j = json();
    let schemes = j["schemes"].as_array().unwrap();
    assert_eq!(schemes.len(), r.schemes.len());
    let text = report_text(false);
    let memory = table_rows(&text, "scheme    slab pages");
    for (i, (s, js)) in r.schemes.iter().zip(schemes).enumerate() {
        assert_eq!(js["scheme"], s.scheme.name());
        let dirs = js["directories"].as_array().unwrap();
        let groups = js["groups"].as_array().unwrap();
        assert_eq!(dirs.len(), groups.len());
        let mut pages = 0;
        for ((d, g), rg) in dirs.iter().zip(groups).zip(&s.groups) {
            assert_eq!(d["dir"], rg.dir.as_str());
            assert_eq!(&d["names"], g, "the directory's names are the group's");
            let p = d["slab_pages"].as_u64().unwrap();
            assert_eq!(d["slab_kib"].as_u64().unwrap(), p * 4);
            pages += p;
        }
        // The directories' pages add up to the memory table's slab pages.
        assert_eq!(pages.to_string(), memory[i + 1][1], "{}", s.scheme);
        assert_eq!(js["memory"]["slab_pages"].as_u64().unwrap(), pages);
    }
    // v3's fs_cache directory is its own, with pages.
    let v3 = &schemes[1]["directories"];
    let fs = v3.as_array().unwrap().iter().find(|d| d["dir"] == "fs_cache").expect("fs_cache under v3");
    assert!(fs["slab_pages"].as_u64().unwrap() > 0);

    // The per-group memory table, in full, against the verbose text.
    let gm = &j["group_memory"];
    assert_eq!(gm["baseline"], "mainline");
    let jgroups = gm["groups"].as_array().unwrap();
    let rows = group_rows(&report_text(true), r.schemes.len());
    assert_eq!(jgroups.len() + 2, rows.len());
    for (g, row) in jgroups.iter().zip(&rows) {
        let per = g["schemes"].as_array().unwrap();
        let label: Vec<&str> = per[0]["dirs"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        assert_eq!(row.0, label.join("+"));
        assert_eq!(per[0]["slab_pages"].as_i64().unwrap(), row.1[0]);
        for (i, s) in per.iter().enumerate().skip(1) {
            assert_eq!(s["scheme"], r.schemes[i].scheme.name());
            assert_eq!(s["pages_against_baseline"].as_i64().unwrap(), row.1[i]);
            let pages = s["slab_pages"].as_i64().unwrap();
            assert_eq!(pages - per[0]["slab_pages"].as_i64().unwrap(), row.1[i]);
            assert_eq!(s["slab_kib"].as_i64().unwrap(), pages * 4);
        }
    }
}

/// Without the workload the directories are still there, their pages null,
/// and the per-group memory table is empty.
#[test]
fn json_without_the_workload_has_directories_without_pages() {
    let trace = Trace::bundled();
    let options = ReportOptions { memory: false, ..ReportOptions::default() };
    let r = report::run(&trace, &StaticSet::v3(&trace), &Census::bundled(), &options);
    let j: Value = serde_json::from_str(&render::render(&r, Format::Json)).unwrap();
    for s in j["schemes"].as_array().unwrap() {
        let dirs = s["directories"].as_array().unwrap();
        assert_eq!(dirs.len(), s["instances"].as_u64().unwrap() as usize);
        assert!(dirs.iter().all(|d| d["dir"].is_string() && d["slab_pages"].is_null() && d["slab_kib"].is_null()));
    }
    assert!(j["group_memory"]["groups"].as_array().unwrap().is_empty());
    let text = render::render(&r, Format::Table);
    assert!(render::lines_over_width(&text).is_empty(), "{:?}", render::lines_over_width(&text));
    assert!(!text.contains("slab pages"), "no memory table without the workload: {text}");
}
