//! The figures `design/report.md` quotes for the bundled trace, generated
//! from the code: the table is the report's own text, and each figure of the
//! prose is computed from the same run, so a change that moves a figure
//! fails here until the document says the new one.

use std::path::Path;

use slabmerge::census::Census;
use slabmerge::replay::StaticSet;
use slabmerge::report::render::{Format, render};
use slabmerge::report::workload::{instance_fixed_bytes, storage_fixed_bytes};
use slabmerge::report::{self, ReportOptions, ReportScheme};
use slabmerge::trace::Trace;

fn report_md() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("design/report.md")).unwrap()
}

/// The text block under `heading`.
fn text_block<'a>(doc: &'a str, heading: &str) -> &'a str {
    let body = &doc[doc.find(heading).unwrap_or_else(|| panic!("no {heading}"))..];
    let start = body.find("```text\n").expect("a text block") + "```text\n".len();
    &body[start..start + body[start..].find("```").expect("the block ends")]
}

fn kib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0
}

/// `cargo run --release` with no argument: the tables and the notes of its
/// text, and the figures the prose reads off them.
#[test]
fn report_md_quotes_the_bundled_trace_report() {
    if slabmerge::slub::stat::SLUB_STATS {
        // The counters make every storage larger, so the overhead figures
        // differ; the document quotes the default build.
        eprintln!("skipped: built with slub_stats");
        return;
    }
    let trace = Trace::bundled();
    let r = report::run(&trace, &StaticSet::v3(&trace), &Census::bundled(), &ReportOptions::default());
    let text = render(&r, Format::Table);
    let lines: Vec<&str> = text.lines().collect();
    // Everything from the first table's header on: the tables and the notes.
    let header = lines.iter().position(|l| l.starts_with("scheme ")).expect("the table header");
    let want: Vec<&str> = lines[header..].to_vec();
    for prefix in ["overhead = ", "struct kmem_cache instances:", "after freeing every object"] {
        assert!(want.iter().any(|l| l.starts_with(prefix)), "no {prefix} line");
    }
    let doc = report_md();
    let quoted = text_block(&doc, "### The tables for the bundled trace");
    assert_eq!(
        quoted.lines().collect::<Vec<_>>(),
        want,
        "design/report.md's table, as printed now:\n{}",
        want.join("\n")
    );

    let m = |s| &r.scheme(s).unwrap().memory;
    let (main, v3, v1, prim, nomerge) = (
        m(ReportScheme::Mainline),
        m(ReportScheme::ViroV3),
        m(ReportScheme::ViroV1),
        m(ReportScheme::Primary),
        m(ReportScheme::Nomerge),
    );
    let cost = |o: &slabmerge::report::Memory| {
        format!("{} pages and {:.0} KiB", o.slab_pages - main.slab_pages, kib(o.total_bytes - main.total_bytes))
    };
    let pct = |a: u64, b: u64| (a - b) as f64 * 100.0 / b as f64;
    let phrases = [
        format!("`size_of::<KmemCache>()` ({} B)", instance_fixed_bytes()),
        format!("({} B with 2 CPUs and 1 node)", storage_fixed_bytes(2, 1)),
        format!("The cost is {} in all.", cost(v3)),
        format!("The cost is {}.", cost(v1)),
        format!(
            "alias: {} more instances, {:.1} KiB.",
            prim.kmem_cache_instances - main.kmem_cache_instances,
            kib(prim.instance_bytes - main.instance_bytes)
        ),
        format!(
            "needs {} more pages (+{:.1} %, +{:.1} MiB in total)",
            nomerge.slab_pages - main.slab_pages,
            pct(nomerge.slab_pages, main.slab_pages),
            kib(nomerge.total_bytes - main.total_bytes) / 1024.0
        ),
        format!(
            "(partial free +{:.0} KiB, +{:.0} %)",
            kib(nomerge.partial_free_bytes - main.partial_free_bytes),
            pct(nomerge.partial_free_bytes, main.partial_free_bytes)
        ),
        format!("parked in sheaves (+{:.0} KiB)", kib(nomerge.sheaf_object_bytes - main.sheaf_object_bytes)),
    ];
    // The document wraps lines; compare with single spaces.
    let flat = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    let missing: Vec<&String> = phrases.iter().filter(|p| !flat.contains(p.as_str())).collect();
    assert!(missing.is_empty(), "design/report.md should say: {missing:#?}");
    assert_eq!(
        (prim.slab_pages, prim.partial_free_bytes, prim.sheaf_object_bytes),
        (main.slab_pages, main.partial_free_bytes, main.sheaf_object_bytes),
        "\"every slab figure is identical to mainline's\""
    );
}

/// `--snapshot` of the bundled census: the comparison lines the document
/// quotes under "On this project's machine".
#[test]
fn report_md_quotes_the_census_snapshot_comparison() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slabmerge"))
        .args(["--no-memory", "--snapshot"])
        .arg(root.join("data/slab-census-linux-6.18-x86_64.tsv"))
        .output()
        .expect("slabmerge runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    // The two notes, each with the lines it wraps onto (indented).
    let mut want: Vec<&str> = Vec::new();
    let mut within = false;
    for l in text.lines() {
        within =
            l.starts_with("snapshot: ") || l.starts_with("attributes differing") || (within && l.starts_with("  "));
        if within {
            want.push(l);
        }
    }
    assert_eq!(want.iter().filter(|l| !l.starts_with(' ')).count(), 2, "{text}");
    let doc = report_md();
    let quoted = text_block(&doc, "On this project's machine");
    assert_eq!(quoted.lines().collect::<Vec<_>>(), want, "design/report.md's comparison, as printed now");
}

/// `1289` as the document writes it, `1,289`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The bundled kmem capture: the figures the document gives for the frees
/// its four tracepoints cannot show (`maple_node`'s kfree_rcu() and bulk
/// frees), in every scheme alike.
#[test]
fn report_md_quotes_the_bundled_capture_lost_frees() {
    use slabmerge::input::kmem_replay::bundled_sites;
    use slabmerge::report::kmem::run_capture;
    if std::env::var_os("SLABMERGE_VALGRIND").is_some() {
        eprintln!("skipped under valgrind: the full capture is too slow there");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let trace = Trace::bundled();
    let statics = StaticSet::v3(&trace);
    let path = root.join("data/kmem-trace-linux-6.18-x86_64.txt.gz");
    let r = run_capture(&path, &trace, &statics, &ReportScheme::ALL, bundled_sites(), |_| {}).unwrap();
    let stride = u64::from(Census::bundled().cache("maple_node").expect("maple_node in the census").slab_size);
    let mut figures = Vec::new();
    for (scheme, x) in &r.replay.schemes {
        let lost = x.lost_frees_by_cache.get("maple_node").copied().unwrap_or(0);
        assert_eq!(lost, x.lost_frees, "{scheme}: every lost free is a maple_node");
        let (allocs, frees) = x.per_instance.get("maple_node").copied().unwrap_or_default();
        // A lost free counts as a free: the old object goes when its address comes back.
        figures.push((lost, allocs, frees, allocs - frees));
    }
    assert!(figures.windows(2).all(|w| w[0] == w[1]), "every scheme alike: {figures:?}");
    let (lost, allocs, frees, held) = figures[0];
    let held_kib = held * stride / 1024;
    let phrases = [
        format!("all {} of its lost frees are `maple_node` objects", thousands(lost)),
        format!("the cache has {} allocations", thousands(allocs)),
        format!("only {} of its objects come back, by `kfree()`", frees - lost),
        // "about" and "some": rounded to tens.
        format!("(about {} nodes of {stride} bytes", thousands((held + 5) / 10 * 10)),
        format!("some {} KiB in every scheme", (held_kib + 5) / 10 * 10),
    ];
    let flat = report_md().split_whitespace().collect::<Vec<_>>().join(" ");
    let missing: Vec<&String> = phrases.iter().filter(|p| !flat.contains(p.as_str())).collect();
    assert!(missing.is_empty(), "design/report.md should say: {missing:#?}");
}

/// `diff` of the two boots of `tests/fixtures/snapshot/diff/`: the output
/// the document quotes under "Two boots of a small machine".
#[test]
fn report_md_quotes_the_diff_of_two_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot/diff");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slabmerge"))
        .current_dir(&dir)
        .args(["diff", "--before", "boot1-ls-l.txt", "boot1-proc-slabinfo.txt"])
        .args(["--after", "boot2-ls-l.txt", "boot2-proc-slabinfo.txt"])
        .output()
        .expect("slabmerge runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let doc = report_md();
    let quoted = text_block(&doc, "Two boots of a small machine");
    assert_eq!(quoted, text, "design/report.md's diff, as printed now:\n{text}");
}
