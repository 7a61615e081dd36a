//! Replaying kmem captures through every scheme: the bundled capture, the
//! pairing rules (pre-capture frees, lost frees), attribution, and a small
//! hand-computed trace whose figures are checked exactly.

use std::io::Write;
use std::path::{Path, PathBuf};

use slabmerge::input::kmem_replay::{MaxSeries, bundled_sites};
use slabmerge::replay::StaticSet;
use slabmerge::report::ReportScheme;
use slabmerge::report::kmem::{KmemReport, render_svg, run_capture};
use slabmerge::trace::Trace;

mod common;
use common::under_valgrind;

fn bundled_capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kmem-trace-linux-6.18-x86_64.txt.gz")
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("slabmerge-kmem-{}-{name}", std::process::id()));
    std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
    p
}

fn replay(path: &Path) -> KmemReport {
    let trace = Trace::bundled();
    let statics = StaticSet::v3(&trace);
    run_capture(path, &trace, &statics, &ReportScheme::ALL, bundled_sites(), |_| {}).unwrap()
}

/// The threaded replay of a file (`run_capture`: the parse on a thread of its
/// own, in batches) and the replay on one thread (`run_parser`) give the same
/// report, on a capture longer than a batch whose new cache names appear
/// after the first batches.
#[test]
fn threaded_and_single_thread_replays_agree() {
    let mut text = String::new();
    for i in 0..10_000u64 {
        let ts = format!("{}.{:06}", 1 + i / 1_000_000, i % 1_000_000);
        let cpu = i % 2;
        let ptr = 0xffff_8881_0000_0000u64 + (i % 700) * 0x40;
        let line = match i % 4 {
            0 | 1 => format!(
                "a-1 [{cpu:03}] ..... {ts}: kmalloc: call_site=f+0x1/0x10 ptr={ptr:x} bytes_req=60 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false"
            ),
            2 => format!(
                "a-1 [{cpu:03}] ..... {ts}: kmem_cache_alloc: call_site=g+0x1/0x10 ptr={:x} name=late_cache_{} bytes_req=40 bytes_alloc=40 gfp_flags=GFP_KERNEL node=-1 accounted=false",
                ptr + 0x10_0000,
                i / 4500
            ),
            _ => format!("a-1 [{cpu:03}] ..... {ts}: kfree: call_site=h+0x1/0x10 ptr={ptr:x}"),
        };
        text.push_str(&line);
        text.push('\n');
    }
    let p = write_temp("batches.txt", &text);
    let threaded = replay(&p);
    let trace = Trace::bundled();
    let statics = StaticSet::v3(&trace);
    let parser = slabmerge::input::kmem_trace::KmemParser::open(&p).unwrap();
    let single =
        slabmerge::report::kmem::run_parser(parser, &trace, &statics, &ReportScheme::ALL, bundled_sites(), |_| {})
            .unwrap();
    std::fs::remove_file(&p).ok();
    assert_eq!(threaded.replay.events, 10_000);
    let created: Vec<&str> = threaded.replay.schemes[0].1.created.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(created, ["late_cache_0", "late_cache_1", "late_cache_2"]);
    use slabmerge::report::kmem::{render_json, render_table};
    assert_eq!(render_json(&threaded), render_json(&single));
    assert_eq!(render_table(&threaded), render_table(&single));
}

/// Checks that `text` is well-formed XML as far as an SVG writer can get it
/// wrong: every tag closed in order, quoted attributes, one root element.
/// Returns the element names in document order.
fn xml_elements(text: &str) -> Result<Vec<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = text;
    let mut roots = 0;
    while let Some(at) = rest.find('<') {
        let before = &rest[..at];
        if before.contains('>') {
            return Err(format!("stray '>' in text: {before:?}"));
        }
        if before.contains('&') && !before.split('&').skip(1).all(|e| e.contains(';')) {
            return Err(format!("unescaped '&' in text: {before:?}"));
        }
        rest = &rest[at + 1..];
        // A tag ends at the first '>' outside quotes.
        let mut quote = None;
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '<') => return Err(format!("'<' inside a tag: {:?}", &rest[..i])),
                (None, '>') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("unterminated tag")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':') {
            return Err(format!("bad element name in <{tag}>"));
        }
        // Attributes: name="value" pairs.
        let mut attrs = body[name.len()..].trim();
        while !attrs.is_empty() {
            let eq = attrs.find('=').ok_or_else(|| format!("attribute without value in <{tag}>"))?;
            let q = attrs[eq + 1..].chars().next().filter(|c| *c == '"' || *c == '\'');
            let q = q.ok_or_else(|| format!("unquoted attribute in <{tag}>"))?;
            let close = attrs[eq + 2..].find(q).ok_or_else(|| format!("unclosed attribute in <{tag}>"))?;
            attrs = attrs[eq + 2 + close + 1..].trim_start();
        }
        if stack.is_empty() {
            roots += 1;
        }
        names.push(name.clone());
        if !self_closing {
            stack.push(name);
        }
    }
    if !rest.trim().is_empty() {
        return Err(format!("text after the root: {rest:?}"));
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(names)
}

/// The polylines of an SVG chart: (scheme, points as (x, y)).
fn polylines(svg: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    let attr = |tag: &str, name: &str| -> String {
        let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        tag[start..start + tag[start..].find('"').unwrap()].to_owned()
    };
    svg.split("<polyline ")
        .skip(1)
        .map(|t| {
            let tag = &t[..t.find("/>").unwrap()];
            let tag = format!(" {tag}");
            let points = attr(&tag, "points")
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            (attr(&tag, "data-scheme"), points)
        })
        .collect()
}

/// The memory chart is well-formed, has one line per scheme in order, and
/// each line's highest point is the scheme's reported peak (in KiB).
fn check_svg(r: &KmemReport) {
    let svg = render_svg(r);
    let names = xml_elements(&svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
    assert_eq!(names[0], "svg");
    let lines = polylines(&svg);
    let want: Vec<&str> = r.replay.schemes.iter().map(|(s, _)| s.name()).collect();
    assert_eq!(lines.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), want);
    assert_eq!(names.iter().filter(|n| *n == "polyline").count(), want.len());
    for ((scheme, points), (_, x)) in lines.iter().zip(&r.replay.schemes) {
        assert!(!points.is_empty() && points.len() <= MaxSeries::MAX_POINTS, "{scheme}: {}", points.len());
        let top = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        assert_eq!(top, x.peak_kib() as f64, "{scheme}: plotted maximum against the reported peak");
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0), "{scheme}: time goes forward");
        assert!(svg.contains(&format!("{scheme} peak: {} KiB", x.peak_kib())), "{scheme}: the peak is marked");
    }
    for label in ["(s)</text>", "(KiB)</text>"] {
        assert!(svg.contains(label), "axis label with its unit {label}");
    }
}

fn scheme(r: &KmemReport, s: ReportScheme) -> &slabmerge::input::kmem_replay::KmemSchemeResult {
    &r.replay.schemes.iter().find(|(x, _)| *x == s).unwrap().1
}

/// The whole bundled capture (160,755 events through five worlds). Skipped
/// under valgrind (scripts/valgrind.sh), where it would take minutes; the
/// hand-computed traces below cover the same paths there.
#[test]
fn bundled_capture_replays_under_every_scheme() {
    if under_valgrind() {
        eprintln!("skipped under valgrind: the full capture is too slow there");
        return;
    }
    let r = replay(&bundled_capture());
    assert_eq!(r.stats.events(), 160_755);
    assert_eq!(r.replay.events, 160_755);
    assert_eq!(r.replay.schemes.len(), 5);
    for (s, x) in &r.replay.schemes {
        assert!(x.events_replayed > 100_000, "{s}: {}", x.events_replayed);
        assert!(x.skipped.free_before_capture > 0, "{s}: the capture starts mid-flight");
        assert!(x.peak_pages >= x.final_pages && x.final_pages > 0, "{s}");
        assert!(x.created.is_empty(), "{s}: every name of the capture is in the boot trace: {:?}", x.created);
    }
    let m = scheme(&r, ReportScheme::Mainline);
    let p = scheme(&r, ReportScheme::Primary);
    let n = scheme(&r, ReportScheme::Nomerge);
    // Same partition, same pages.
    assert_eq!(
        (m.peak_pages, m.final_pages, m.group_pages.clone()),
        (p.peak_pages, p.final_pages, p.group_pages.clone())
    );
    assert!(n.final_pages >= m.final_pages, "slab_nomerge keeps every partial slab apart");
    // Attribution: copy_fs_struct's fs_cache objects show as anon_vma_chain.
    let a = &r.replay.attribution;
    assert!(!a.nomerge_capture);
    assert!(a.moved.get(&("anon_vma_chain".into(), "fs_cache".into())).copied().unwrap_or(0) > 0, "{:?}", a.moved);
    assert_eq!(r.replay.kmalloc_rows, 4);
    check_svg(&r);
    // The table fits 100 columns, as the main report does.
    let table = slabmerge::report::kmem::render_table(&r);
    let wide = slabmerge::report::render::lines_over_width(&table);
    assert!(wide.is_empty(), "lines over {} columns: {wide:#?}", slabmerge::report::render::WIDTH);
    #[cfg(feature = "slub_stats")]
    {
        use slabmerge::slub::stat::StatItem;
        // Only the primary scheme has alias instances; each alias's calls are
        // part of its primary's storage totals, and every call is one path.
        for (s, x) in &r.replay.schemes {
            assert_eq!(x.alias_stats.is_empty(), *s != ReportScheme::Primary, "{s}");
            let calls: u64 = x.per_instance.values().map(|&(a, f)| a + f).sum();
            let paths: u64 =
                [StatItem::ALLOC_PCS, StatItem::ALLOC_SLOWPATH, StatItem::FREE_PCS, StatItem::FREE_SLOWPATH]
                    .iter()
                    .map(|&i| x.stat_total(i))
                    .sum();
            assert!(paths >= calls, "{s}: {paths} counted paths for {calls} calls");
        }
        assert!(p.alias_stats.contains_key("fs_cache"), "{:?}", p.alias_stats.keys());
        let mut per_dir: std::collections::BTreeMap<&str, [u64; slabmerge::slub::stat::NR_SLUB_STAT_ITEMS]> =
            Default::default();
        for (alias, (dir, c)) in &p.alias_stats {
            let (allocs, frees) = p.per_instance[alias];
            assert_eq!(c.total(StatItem::ALLOC_PCS) + c.total(StatItem::ALLOC_SLOWPATH), allocs, "{alias}");
            assert!(
                c.total(StatItem::FREE_PCS) + c.total(StatItem::FREE_SLOWPATH) <= frees,
                "{alias}: kfree is not the alias's"
            );
            let d = per_dir.entry(dir).or_default();
            for (k, item) in StatItem::PER_INSTANCE.iter().enumerate() {
                d[k] += c.total(*item);
            }
        }
        for (dir, sums) in per_dir {
            for (k, item) in StatItem::PER_INSTANCE.iter().enumerate() {
                assert!(p.stats[dir].total(*item) >= sums[k], "{dir} {item:?}: the storage counts every alias");
            }
        }
    }
}

/// A small trace computed by hand: kmalloc-64 (64 objects per 4 KiB slab in
/// the 6.18 layout), one pre-capture free, one kfree(NULL), one lost free.
#[test]
fn hand_computed_trace() {
    let text = "\
# comment
bash-1 [000] ..... 1.000000: kmalloc: call_site=f+0x1/0x10 ptr=ffff888100000040 bytes_req=60 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false
bash-1 [000] ..... 1.000001: kfree: call_site=g+0x1/0x10 ptr=ffff888100999000
bash-1 [001] ..... 1.000002: kmalloc: call_site=f+0x1/0x10 ptr=ffff888100000080 bytes_req=60 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false
bash-1 [001] ..... 1.000003: kmalloc: call_site=f+0x1/0x10 ptr=ffff888100000040 bytes_req=60 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false
bash-1 [000] ..... 1.000004: kfree: call_site=g+0x1/0x10 ptr=0
bash-1 [000] ..... 1.000005: kmalloc: call_site=h+0x1/0x10 ptr=ffff888102000000 bytes_req=10000 bytes_alloc=16384 gfp_flags=GFP_KERNEL node=-1 accounted=false
bash-1 [000] ..... 1.000006: kfree: call_site=g+0x1/0x10 ptr=ffff888102000000
bash-1 [001] ..... 1.000007: kfree: call_site=g+0x1/0x10 ptr=ffff888100000080
CPU:1 [LOST 3 EVENTS]
this line is garbage
bash-1 [001] ..... 1.00000
";
    let p = write_temp("hand.txt", text);
    let r = replay(&p);
    std::fs::remove_file(&p).ok();
    assert_eq!(r.stats.events(), 8);
    assert_eq!(r.stats.lost_markers, 1);
    assert_eq!(r.stats.lost_events, 3);
    assert_eq!(r.stats.malformed, 2, "garbage and the truncated last line: {:?}", r.stats.diagnostics);
    assert!(r.stats.diagnostics.iter().all(|d| d.to_string().contains(": line ")));
    for (s, x) in &r.replay.schemes {
        // 4 allocations (one replacing a lost free), 3 frees of which 1 before the capture, 1 NULL.
        assert_eq!(x.skipped.free_before_capture, 1, "{s}");
        assert_eq!(x.skipped.free_null, 1, "{s}");
        assert_eq!(x.lost_frees, 1, "{s}");
        // Replayed: 3 kmalloc-64 allocations, 1 large, 2 frees (large, 0x80).
        assert_eq!(x.events_replayed, 6, "{s}");
        assert_eq!(x.objects_live, 1, "{s}: 0x40 is live");
        // kmalloc-64: 64 objects per order-0 slab, sheaf capacity 60. CPU 0's
        // refill takes 60 of a new slab; CPU 1's takes the 4 left and 56 of a
        // second slab. Peak: 2 slab pages + the 16 KiB large kmalloc (4 pages).
        assert_eq!(x.peak_pages, 6, "{s}");
        assert_eq!(x.final_pages, 2, "{s}");
        assert_eq!(x.final_large_pages, 0, "{s}");
        // 128 slots: 1 live, 8 free on slab 2, 119 in the two CPUs' sheaves.
        assert_eq!(x.partial_free_objects, 8, "{s}");
        assert_eq!(x.sheaf_objects, 119, "{s}");
        // Pages after each event (µs 0..7): 1 1 2 2 2 6 2 2; time-weighted over 7 µs: 16/7.
        assert!((x.mean_pages - 16.0 / 7.0).abs() < 1e-9, "{s}: {}", x.mean_pages);
        assert_eq!(x.per_instance.get("kmalloc-64"), Some(&(3, 2)), "{s}: lost free counted as a free");
        // The series: 1 µs buckets, the most pages in each (the 16 KiB kmalloc's 6 pages at µs 5).
        assert_eq!(x.series_bucket_ns, 1_000, "{s}");
        assert_eq!(
            x.series,
            [(0, 1), (1_000, 1), (2_000, 2), (3_000, 2), (4_000, 2), (5_000, 6), (6_000, 2), (7_000, 2)],
            "{s}"
        );
        #[cfg(feature = "slub_stats")]
        {
            use slabmerge::slub::stat::StatItem::*;
            // First alloc on CPU 0: empty main sheaf, no spare, empty barn:
            // BARN_GET_FAIL, SHEAF_REFILL (one new slab), then ALLOC_PCS.
            assert_eq!(x.stat_total(ALLOC_SLAB), 2, "{s}");
            assert_eq!(x.stat_total(SHEAF_REFILL), 2, "{s}: CPU 0 and CPU 1 each refill once");
            assert_eq!(x.stat_total(BARN_GET_FAIL), 2, "{s}");
            assert_eq!(x.stat_total(ALLOC_PCS), 3, "{s}");
            assert_eq!(x.stat_total(FREE_PCS), 2, "{s}");
            assert_eq!(x.stat_total(ALLOC_SLOWPATH), 0, "{s}");
            assert_eq!(x.stat_total(FREE_SLAB), 0, "{s}");
        }
    }
}

/// The chart of the hand-computed trace (its peak, 24 KiB, is the large
/// kmalloc's 4 pages over 2 slab pages for one microsecond).
#[test]
fn memory_chart_is_well_formed_with_one_line_per_scheme_peaking_at_the_peak() {
    let text = "\
bash-1 [000] ..... 1.000000: kmalloc: call_site=f+0x1/0x10 ptr=ffff888100000040 bytes_req=60 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false
bash-1 [000] ..... 1.000005: kmalloc: call_site=h+0x1/0x10 ptr=ffff888102000000 bytes_req=10000 bytes_alloc=16384 gfp_flags=GFP_KERNEL node=-1 accounted=false
bash-1 [000] ..... 1.000006: kfree: call_site=g+0x1/0x10 ptr=ffff888102000000
bash-1 [000] ..... 1.002000: kfree: call_site=g+0x1/0x10 ptr=ffff888100000040
";
    let p = write_temp("chart.txt", text);
    let r = replay(&p);
    std::fs::remove_file(&p).ok();
    for (s, x) in &r.replay.schemes {
        assert_eq!(x.peak_kib(), 20, "{s}: 1 slab page + 4 large pages");
    }
    check_svg(&r);
    // A checker that passes everything would prove nothing.
    for bad in ["<svg><g></svg>", "<svg x=1/>", "<svg/><svg/>", "<svg><a></b></svg>", "<svg a=\"x/>"] {
        assert!(xml_elements(bad).is_err(), "{bad}");
    }
}

/// A long series stays within its bucket bound and keeps every spike's
/// maximum, however short the spike.
#[test]
fn memory_series_is_bounded_and_keeps_the_peak() {
    let mut s = MaxSeries::new();
    let mut peak = 0;
    // An hour of samples every 50 µs, a slow ramp with one 1 ns spike.
    let mut t = 0u64;
    while t < 3_600_000_000_000 {
        let pages = 100 + (t / 1_000_000_000) % 50;
        s.push(t, pages);
        peak = peak.max(pages);
        if t == 1_234_550_000 {
            s.push(t + 1, 10_000);
            s.push(t + 2, pages);
            peak = 10_000;
        }
        t += 50_000;
    }
    let points = s.points();
    assert!(points.len() <= MaxSeries::MAX_POINTS && points.len() > MaxSeries::MAX_POINTS / 2, "{}", points.len());
    assert_eq!(points.iter().map(|p| p.1).max(), Some(peak));
    assert!(s.bucket_ns() >= 3_600_000_000_000 / MaxSeries::MAX_POINTS as u64, "{}", s.bucket_ns());
    // A gap with no sample holds the level before it.
    let mut g = MaxSeries::new();
    g.push(0, 7);
    g.push(10_000, 3);
    g.push(10_500, 4);
    // µs 0..9 held 7; µs 10 starts at 3 (the 7 ended where it begins), then 4.
    assert_eq!(g.points().iter().map(|p| p.1).collect::<Vec<_>>(), [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 4]);
    g.push(11_200, 1);
    assert_eq!(g.points().last(), Some(&(11_000, 4)), "held 4 from µs 10.5 into µs 11");
}

/// An alias's allocation through the call-site table: copy_fs_struct objects
/// named anon_vma_chain go to fs_cache, and a free follows its object.
#[test]
fn attribution_splits_groups_in_splitting_schemes() {
    let text = "\
bash-1 [000] ..... 1.000000: kmem_cache_alloc: call_site=copy_fs_struct+0x1e/0xa0 ptr=ffff888100000040 bytes_req=56 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false
bash-1 [000] ..... 1.000001: kmem_cache_alloc: call_site=anon_vma_clone+0x5c/0x1f0 ptr=ffff888100000080 bytes_req=64 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false
bash-1 [000] ..... 1.000002: kmem_cache_free: call_site=free_fs_struct+0x1/0x10 ptr=ffff888100000040 name=anon_vma_chain
";
    let text = text.replace(" ptr=ffff888100000080 bytes_req=64 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false", " ptr=ffff888100000080 name=anon_vma_chain bytes_req=64 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false");
    let text =
        text.replace(" ptr=ffff888100000040 bytes_req=56", " ptr=ffff888100000040 name=anon_vma_chain bytes_req=56");
    let p = write_temp("attr.txt", &text);
    let r = replay(&p);
    std::fs::remove_file(&p).ok();
    assert_eq!(r.stats.malformed, 0, "{:?}", r.stats.diagnostics);
    assert_eq!(r.replay.attribution.moved.get(&("anon_vma_chain".into(), "fs_cache".into())), Some(&1));
    for (s, x) in &r.replay.schemes {
        assert_eq!(x.per_instance.get("fs_cache"), Some(&(1, 1)), "{s}");
        assert_eq!(x.events_replayed, 3, "{s}");
        assert_eq!(x.objects_live, 1, "{s}");
    }
    // Mainline and primary keep one storage; nomerge has two.
    let pages = |s| scheme(&r, s).peak_pages;
    assert_eq!(pages(ReportScheme::Mainline), pages(ReportScheme::Primary));
    assert_eq!(pages(ReportScheme::Nomerge), pages(ReportScheme::Mainline) + 1);
}

/// The primary scheme counts each alias's calls in the alias and in the
/// storage, and renders them as the stat files would read: the alias's own
/// under its name, the storage's totals under the primary's directory.
#[cfg(feature = "slub_stats")]
#[test]
fn alias_counters_read_as_the_sysfs_stat_files() {
    use slabmerge::report::kmem::stat_files;
    use slabmerge::slub::stat::StatItem::*;
    // Two fs_cache objects (attributed by call site), one anon_vma_chain;
    // one fs_cache object freed by kmem_cache_free, one anon_vma_chain by kfree.
    let line = |ts: &str, cpu: &str, site: &str, ptr: &str| {
        format!(
            "bash-1 [{cpu}] ..... {ts}: kmem_cache_alloc: call_site={site} ptr={ptr} name=anon_vma_chain bytes_req=56 bytes_alloc=64 gfp_flags=GFP_KERNEL node=-1 accounted=false\n"
        )
    };
    let mut text = String::new();
    text += &line("1.000000", "000", "copy_fs_struct+0x1e/0xa0", "ffff888100000040");
    text += &line("1.000001", "001", "copy_fs_struct+0x1e/0xa0", "ffff888100000080");
    text += &line("1.000002", "000", "anon_vma_clone+0x5c/0x1f0", "ffff8881000000c0");
    text += "bash-1 [001] ..... 1.000003: kmem_cache_free: call_site=free_fs_struct+0x1/0x10 ptr=ffff888100000040 name=anon_vma_chain\n";
    text += "bash-1 [000] ..... 1.000004: kfree: call_site=g+0x1/0x10 ptr=ffff8881000000c0\n";
    let p = write_temp("alias-stats.txt", &text);
    let r = replay(&p);
    std::fs::remove_file(&p).ok();
    assert_eq!(r.stats.malformed, 0, "{:?}", r.stats.diagnostics);
    let x = scheme(&r, ReportScheme::Primary);
    let (dir, c) = &x.alias_stats["fs_cache"];
    assert_eq!(x.alias_stats.len(), 1, "{:?}", x.alias_stats.keys());
    assert_eq!((c.total(ALLOC_PCS), c.total(ALLOC_SLOWPATH), c.total(FREE_PCS), c.total(FREE_SLOWPATH)), (2, 0, 1, 0));
    // The storage: 3 allocations, the alias's free and the kfree.
    let st = &x.stats[dir];
    assert_eq!((st.total(ALLOC_PCS), st.total(FREE_PCS)), (3, 2));
    // The alias's calls caused every slow event of this trace. Its first
    // allocation on each CPU found the main sheaf empty and the barn empty
    // (BARN_GET_FAIL) and refilled (SHEAF_REFILL): a sheaf holds 60 objects
    // of 64 bytes (calculate_sheaf_capacity()) and a slab 64, so CPU 0's
    // refill takes 60 of a new slab's objects and CPU 1's takes the 4 left
    // and 56 of a second new slab (ALLOC_SLAB on each CPU). anon_vma_chain's
    // own allocation then hits CPU 0's sheaf, and nothing is flushed,
    // exchanged in the barn or freed to a slab.
    for item in [BARN_GET_FAIL, SHEAF_REFILL, ALLOC_SLAB] {
        assert_eq!(c.sysfs_line(item), "2 C0=1 C1=1", "{item:?}: the alias's");
        assert_eq!(st.sysfs_line(item), "2 C0=1 C1=1", "{item:?}: the storage's, all of them the alias's");
    }
    for item in [BARN_GET, BARN_PUT, BARN_PUT_FAIL, SHEAF_FLUSH, FREE_SLAB, FREE_ADD_PARTIAL] {
        assert_eq!((c.total(item), st.total(item)), (0, 0), "{item:?}");
    }
    let files = stat_files(x);
    let want = |path: String, text: &str| {
        assert!(files.iter().any(|(p, t)| *p == path && t == text), "{path}: {text} in {files:?}");
    };
    want(format!("/sys/kernel/slab/{dir}/alloc_cpu_sheaf"), "3 C0=2 C1=1");
    want(format!("/sys/kernel/slab/{dir}/free_cpu_sheaf"), "2 C0=1 C1=1");
    want(format!("/sys/kernel/slab/{dir}/alloc_slowpath"), "0");
    want("/sys/kernel/slab/fs_cache/alloc_cpu_sheaf".into(), "2 C0=1 C1=1");
    want("/sys/kernel/slab/fs_cache/free_cpu_sheaf".into(), "1 C1=1");
    want("/sys/kernel/slab/fs_cache/free_slowpath".into(), "0");
    let n = slabmerge::slub::stat::NR_SLUB_STAT_ITEMS;
    assert_eq!(files.len(), 2 * n, "the primary's files and the alias's, one per item: {files:?}");
    assert!(files[0].0.starts_with(&format!("/sys/kernel/slab/{dir}/")), "the primary first: {files:?}");
    // The other schemes have no alias instances.
    for (s, y) in &r.replay.schemes {
        if *s != ReportScheme::Primary {
            assert!(y.alias_stats.is_empty() && stat_files(y).is_empty(), "{s}");
        }
    }
    let table = slabmerge::report::kmem::render_table(&r);
    assert!(table.contains("  /sys/kernel/slab/fs_cache/alloc_cpu_sheaf: 2 C0=1 C1=1\n"), "{table}");
    let json = slabmerge::report::kmem::render_json(&r);
    assert!(json.contains("\"counters_per_alias\": {\"fs_cache\": {\"primary\": "), "{json}");
}

/// The counters are exact with several threads on one CPU slot: the hit
/// paths count with plain increments inside the slot's critical section,
/// which excludes the other threads, and the slow paths (taken when another
/// thread holds the slot) with atomic adds; every call is counted once, in
/// the storage and in the instance it went through.
#[cfg(feature = "slub_stats")]
#[test]
fn counters_are_exact_with_threads_sharing_a_cpu_slot() {
    use slabmerge::slub::stat::{StatCounts, StatItem::*};
    use slabmerge::{KmemCacheArgs, Scheme, SlabConfig, World};
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 20_000;
    let w = World::new(SlabConfig::tiny(Scheme::Primary, 1, 8, 16));
    let primary =
        w.kmem_cache_create("prim", 64, KmemCacheArgs::default(), slabmerge::flags::SlabFlags::EMPTY).unwrap();
    let alias = w.kmem_cache_create("alias", 64, KmemCacheArgs::default(), slabmerge::flags::SlabFlags::EMPTY).unwrap();
    assert!(alias.is_alias());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let c = if t % 2 == 0 { &primary } else { &alias };
            s.spawn(move || {
                slabmerge::slub::cpu::set_current_cpu(0);
                let mut held = Vec::new();
                for i in 0..ROUNDS {
                    held.push(c.alloc().unwrap());
                    if i % 3 != 0 {
                        c.free(held.pop().unwrap()).unwrap();
                    }
                }
                for o in held {
                    c.free(o).unwrap();
                }
            });
        }
    });
    let sum =
        |c: &StatCounts| (c.total(ALLOC_PCS) + c.total(ALLOC_SLOWPATH), c.total(FREE_PCS) + c.total(FREE_SLOWPATH));
    let calls = THREADS * ROUNDS;
    assert_eq!(sum(&primary.slub_stat().unwrap()), (calls, calls), "the storage counts every call once");
    for c in [&primary, &alias] {
        assert_eq!(sum(&c.slub_stat_instance()), (calls / 2, calls / 2), "{}: its own calls", c.creator_name());
    }
    // Which thread owns the one slot is up to the scheduler (an alias's
    // threads may never own it), so the counts are checked as a partition,
    // and some hits ran.
    let storage = primary.slub_stat().unwrap();
    let (p, a) = (primary.slub_stat_instance(), alias.slub_stat_instance());
    // Every event here is caused by a call through one of the two instances
    // (no kfree, no shrink or destroy yet), so for every item, barn and slab
    // events included, the storage's count is exactly the two instances'.
    for item in slabmerge::slub::stat::StatItem::ALL {
        assert_eq!(p.total(item) + a.total(item), storage.total(item), "{item:?}: instances partition the storage");
    }
    assert!(storage.total(ALLOC_PCS) > 0, "the hit path ran: {storage:?}");
}

/// A name the boot trace lacks is created from the event's size; the empty
/// file is refused.
#[test]
fn unknown_caches_are_created_and_empty_input_refused() {
    let text = "bash-1 [000] ..... 1.000000: kmem_cache_alloc: call_site=f+0x1/0x10 ptr=ffff888100000040 name=my_new_cache bytes_req=100 bytes_alloc=104 gfp_flags=GFP_KERNEL node=-1 accounted=false\n";
    let p = write_temp("unknown.txt", text);
    let r = replay(&p);
    std::fs::remove_file(&p).ok();
    for (s, x) in &r.replay.schemes {
        assert_eq!(x.created, vec![("my_new_cache".to_owned(), 104)], "{s}");
        assert_eq!(x.events_replayed, 1, "{s}");
    }
    let empty = write_temp("empty.txt", "");
    let trace = Trace::bundled();
    let statics = StaticSet::v3(&trace);
    let err = run_capture(&empty, &trace, &statics, &ReportScheme::ALL, bundled_sites(), |_| {}).err().unwrap();
    std::fs::remove_file(&empty).ok();
    // The reader's own error, through the input layer's, in the report's.
    use slabmerge::input::{InputError, kmem_trace::TraceError};
    use slabmerge::report::ReportError;
    assert!(matches!(err, ReportError::Input(InputError::KmemTrace(TraceError::Empty { .. }))), "{err:?}");
    assert!(err.to_string().contains("empty"), "{err}");
}
