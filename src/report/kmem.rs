//! The kmem capture report: a real allocation stream replayed through every
//! scheme ([`crate::input::kmem_replay`]), rendered as a table or JSON.

use crate::input::kmem_replay::{
    AttributionCounts, CompactEvent, Compactor, KmemSchemeResult, Names, Reorder, SchemeState,
};
use crate::input::replay::{Group, Replay, StaticSet};
use crate::input::trace::Trace;
use crate::report::ReportScheme;
use crate::slab_common::world::World;
use crate::slub::cpu::set_current_cpu;

/// Everything a capture replay gives.
#[derive(Clone, Debug, Default)]
pub struct KmemReplayResult {
    /// Per scheme, in the order asked.
    pub schemes: Vec<(ReportScheme, KmemSchemeResult)>,
    /// Attribution of `kmem_cache_alloc` events.
    pub attribution: AttributionCounts,
    /// Events fed to the replay.
    pub events: u64,
    /// Events that came out of the reorder window after a later one.
    pub out_of_order: u64,
    /// The first and last timestamp (ns).
    pub span_ns: (u64, u64),
    /// kmalloc rows the worlds have (4: normal, rcl, dma, cg).
    pub kmalloc_rows: usize,
    /// Mainline groups (owner → names), for the per-group table.
    pub groups: Vec<Group>,
}

/// Replays `events` (already compacted, in any order within the reorder
/// window) through every scheme of `schemes`; `progress` is called every
/// 65,536 events with the count so far.
pub fn replay_events(
    trace: &Trace,
    statics: &StaticSet,
    schemes: &[ReportScheme],
    compactor: &mut Compactor,
    mut next: impl FnMut(&mut Compactor) -> Option<CompactEvent>,
    mut progress: impl FnMut(u64),
) -> KmemReplayResult {
    let worlds: Vec<World> = schemes.iter().map(|s| s.world(statics)).collect();
    let replays: Vec<Replay<'_>> = worlds.iter().map(|w| Replay::run(w, trace, statics)).collect();
    let mainline_world = ReportScheme::Mainline.world(statics);
    let groups = Replay::run(&mainline_world, trace, statics).groups();
    let mut states: Vec<SchemeState<'_, '_>> =
        replays.iter().map(|r| SchemeState::new(r, &mut compactor.names)).collect();
    let kmalloc_rows = states.first().map_or(0, SchemeState::kmalloc_rows);
    let mut reorder = Reorder::new(4096);
    let mut events = 0u64;
    let mut cpu = u32::MAX;
    let mut first = None;
    let mut last = 0;
    let mut run = |ev: CompactEvent, states: &mut Vec<SchemeState<'_, '_>>, names: &Names| {
        if ev.cpu != cpu {
            cpu = ev.cpu;
            set_current_cpu(cpu);
        }
        first.get_or_insert(ev.timestamp_ns);
        last = ev.timestamp_ns;
        for st in states.iter_mut() {
            st.apply(&ev, names);
        }
        events += 1;
        if events.is_multiple_of(65_536) {
            progress(events);
        }
    };
    while let Some(ev) = next(compactor) {
        if let Some(ev) = reorder.push(ev) {
            run(ev, &mut states, &compactor.names);
        }
    }
    while let Some(ev) = reorder.pop() {
        run(ev, &mut states, &compactor.names);
    }
    let results: Vec<KmemSchemeResult> = states.into_iter().map(|s| s.finish(&compactor.names, &groups)).collect();
    drop(replays);
    KmemReplayResult {
        schemes: schemes.iter().copied().zip(results).collect(),
        attribution: compactor.attribution(),
        events,
        out_of_order: reorder.out_of_order,
        span_ns: (first.unwrap_or(0), last),
        kmalloc_rows,
        groups,
    }
}

/// A capture's replay with what its parse saw.
pub struct KmemReport {
    /// The replay's figures.
    pub replay: KmemReplayResult,
    /// The parse's figures (lines, other events, LOST markers, diagnostics).
    pub stats: crate::input::kmem_trace::Stats,
}

/// Parses `path` (`-` for stdin, gzip transparently) and replays it through
/// `schemes`. Progress goes to `progress` (every 65,536 events).
pub fn run_capture(
    path: &std::path::Path,
    trace: &Trace,
    statics: &StaticSet,
    schemes: &[ReportScheme],
    sites: crate::input::kmem_sites::SiteTable,
    progress: impl FnMut(u64),
) -> Result<KmemReport, String> {
    let parser = crate::input::kmem_trace::KmemParser::open(path).map_err(|e| e.to_string())?;
    run_parser(parser, trace, statics, schemes, sites, progress)
}

/// [`run_capture`] on a parser of any reader (a capture made in memory, a pipe).
pub fn run_parser<R: std::io::BufRead>(
    mut parser: crate::input::kmem_trace::KmemParser<R>,
    trace: &Trace,
    statics: &StaticSet,
    schemes: &[ReportScheme],
    sites: crate::input::kmem_sites::SiteTable,
    progress: impl FnMut(u64),
) -> Result<KmemReport, String> {
    let mainline_world = ReportScheme::Mainline.world(statics);
    let groups = Replay::run(&mainline_world, trace, statics).groups();
    let mut compactor = Compactor::new(trace, &groups, sites);
    let mut fatal = None;
    let mut header_seen = false;
    let replay = replay_events(
        trace,
        statics,
        schemes,
        &mut compactor,
        |c| match parser.next_raw()? {
            Ok(rec) => {
                if !header_seen {
                    header_seen = true;
                    if rec.stats.header.as_ref().and_then(|h| h.slab_nomerge) == Some(true) {
                        c.set_nomerge_capture();
                    }
                }
                Some(c.compact_raw(&rec))
            }
            Err(e) => {
                fatal = Some(e.to_string());
                None
            }
        },
        progress,
    );
    if let Some(e) = fatal {
        return Err(e);
    }
    let stats = parser.into_stats();
    stats.check_nonempty().map_err(|e| e.to_string())?;
    Ok(KmemReport { replay, stats })
}

fn kib(pages: u64) -> u64 {
    pages * crate::config::PAGE_SIZE as u64 / 1024
}

/// The table.
pub fn render_table(r: &KmemReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let s = &r.stats;
    let rp = &r.replay;
    let _ = writeln!(
        o,
        "kmem capture {}: {} lines, {} events ({} kmem_cache_alloc, {} kmem_cache_free, {} kmalloc, {} kfree) over {:.3} s",
        s.file,
        s.lines,
        s.events(),
        s.cache_alloc,
        s.cache_free,
        s.kmalloc,
        s.kfree,
        (rp.span_ns.1.saturating_sub(rp.span_ns.0)) as f64 / 1e9
    );
    let _ = writeln!(
        o,
        "skipped lines: {} other events, {} malformed, {} LOST markers ({} events lost{}), {} out of order beyond the window",
        s.other_event_total(),
        s.malformed,
        s.lost_markers,
        s.lost_events,
        if s.lost_markers_uncounted > 0 { ", some uncounted" } else { "" },
        rp.out_of_order
    );
    for d in &s.diagnostics {
        let _ = writeln!(o, "  {d}");
    }
    let a = &rp.attribution;
    if a.nomerge_capture {
        let _ =
            writeln!(o, "attribution: the capture was made with slab_nomerge (names are the creators'): none needed");
    }
    let _ = writeln!(
        o,
        "attribution of kmem_cache_alloc by call site: {} to an alias, {} confirmed, {} unattributed in a merge group (stay with the owner), {} alone in their group, {} naming a cache the boot trace lacks",
        a.to_alias, a.confirmed, a.unattributed_in_group, a.unattributed_alone, a.unknown_cache
    );
    for ((from, to), n) in &a.moved {
        let _ = writeln!(o, "  name={from} -> {to}: {n}");
    }
    if rp.kmalloc_rows < 4 {
        let _ = writeln!(
            o,
            "kmalloc: only {} of the 4 kmalloc_caches[] rows exist; the rest use KMALLOC_NORMAL",
            rp.kmalloc_rows
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>9}",
        "scheme",
        "replayed",
        "skipped",
        "peak KiB",
        "final KiB",
        "mean KiB",
        "live objs",
        "lost fr",
        "pre-cap",
        "partial B",
        "created"
    );
    for (scheme, x) in &rp.schemes {
        let _ = writeln!(
            o,
            "{:<9} {:>9} {:>9} {:>9} {:>9} {:>8.0} {:>9} {:>8} {:>8} {:>9} {:>9}",
            scheme.name(),
            x.events_replayed,
            x.skipped.total(),
            x.peak_kib(),
            x.final_kib(),
            x.mean_kib(),
            x.objects_live,
            x.lost_frees,
            x.skipped.free_before_capture,
            x.partial_free_bytes,
            x.created.len()
        );
    }
    if let Some((_, x)) = rp.schemes.iter().find(|(_, x)| !x.created.is_empty()) {
        let names: Vec<&str> = x.created.iter().map(|(n, _)| n.as_str()).collect();
        let _ = writeln!(o, "created from the events' sizes (not in the boot trace): {}", names.join(", "));
    }
    if let Some((_, x)) = rp.schemes.first()
        && !x.lost_frees_by_cache.is_empty()
    {
        let mut by: Vec<(&String, &u64)> = x.lost_frees_by_cache.iter().collect();
        by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let parts: Vec<String> = by
            .iter()
            .take(8)
            .map(|(n, c)| {
                let traced = x.per_instance.get(*n).map_or(0, |&(_, f)| f.saturating_sub(**c));
                let note = if traced == 0 { ", no free of it traced" } else { "" };
                format!("{n} {c}{note}")
            })
            .collect();
        let _ = writeln!(
            o,
            "lost frees by cache (freed by a path without a tracepoint: kfree_rcu batches, bulk frees): {}",
            parts.join("; ")
        );
    }
    if crate::slub::stat::SLUB_STATS {
        let _ = writeln!(o, "\nCONFIG_SLUB_STATS (all storages):");
        let _ = write!(o, "{:<16}", "item");
        for (scheme, _) in &rp.schemes {
            let _ = write!(o, " {:>10}", scheme.name());
        }
        let _ = writeln!(o);
        for item in crate::slub::stat::StatItem::ALL {
            let _ = write!(o, "{:<16}", format!("{item:?}"));
            for (_, x) in &rp.schemes {
                let _ = write!(o, " {:>10}", x.stat_total(item));
            }
            let _ = writeln!(o);
        }
    } else {
        let _ = writeln!(o, "\n(per-CPU counters: build with --features slub_stats, as CONFIG_SLUB_STATS)");
    }
    // Per group: which way each scheme moves the final pages against mainline.
    let mainline = rp.schemes.iter().find(|(s, _)| *s == ReportScheme::Mainline).map(|(_, x)| x);
    if let Some(m) = mainline {
        let mut rows: Vec<(&String, i64, Vec<i64>)> = m
            .group_pages
            .iter()
            .map(|(g, &p)| {
                let d: Vec<i64> = rp
                    .schemes
                    .iter()
                    .map(|(_, x)| x.group_pages.get(g).copied().unwrap_or(0) as i64 - p as i64)
                    .collect();
                let spread = d.iter().map(|v| v.abs()).max().unwrap_or(0);
                (g, spread, d)
            })
            .filter(|r| r.1 > 0)
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let _ =
            writeln!(o, "\ngroups whose final pages differ from mainline (pages, + costs, - saves), largest first:");
        let _ = write!(o, "{:<28} {:>8}", "mainline group", "mainline");
        for (scheme, _) in &rp.schemes {
            let _ = write!(o, " {:>9}", scheme.name());
        }
        let _ = writeln!(o);
        for (g, _, d) in rows.iter().take(25) {
            let _ = write!(o, "{:<28} {:>8}", g, m.group_pages[*g]);
            for v in d {
                let _ = write!(o, " {:>+9}", v);
            }
            let _ = writeln!(o);
        }
        if rows.len() > 25 {
            let _ = writeln!(o, "({} more groups differ; see --format json)", rows.len() - 25);
        }
    }
    o
}

/// The JSON document: per scheme a `kmem_trace` object.
pub fn render_json(r: &KmemReport) -> String {
    use crate::report::render::json_string as js;
    let s = &r.stats;
    let rp = &r.replay;
    let a = &rp.attribution;
    let mut o = String::from("{\n");
    o.push_str(&format!(
        "  \"capture\": {{\"file\": {}, \"lines\": {}, \"events\": {}, \"kmem_cache_alloc\": {}, \"kmem_cache_free\": {}, \"kmalloc\": {}, \"kfree\": {}, \"other_events\": {}, \"malformed\": {}, \"lost_markers\": {}, \"lost_events\": {}, \"out_of_order\": {}, \"span_ns\": {}}},\n",
        js(&s.file), s.lines, s.events(), s.cache_alloc, s.cache_free, s.kmalloc, s.kfree, s.other_event_total(), s.malformed, s.lost_markers, s.lost_events, rp.out_of_order, rp.span_ns.1.saturating_sub(rp.span_ns.0)
    ));
    let moved: Vec<String> = a
        .moved
        .iter()
        .map(|((f, t), n)| format!("{{\"trace_name\": {}, \"cache\": {}, \"allocs\": {n}}}", js(f), js(t)))
        .collect();
    o.push_str(&format!(
        "  \"attribution\": {{\"nomerge_capture\": {}, \"to_alias\": {}, \"confirmed\": {}, \"unattributed_in_group\": {}, \"unattributed_alone\": {}, \"unknown_cache\": {}, \"moved\": [{}]}},\n",
        a.nomerge_capture, a.to_alias, a.confirmed, a.unattributed_in_group, a.unattributed_alone, a.unknown_cache, moved.join(", ")
    ));
    o.push_str(&format!("  \"slub_stats\": {},\n  \"schemes\": [\n", crate::slub::stat::SLUB_STATS));
    let n = rp.schemes.len();
    for (i, (scheme, x)) in rp.schemes.iter().enumerate() {
        let k = &x.skipped;
        let mut counters = Vec::new();
        for item in crate::slub::stat::StatItem::ALL {
            counters.push(format!("\"{item:?}\": {}", x.stat_total(item)));
        }
        let per_storage: Vec<String> = x
            .stats
            .iter()
            .map(|(dir, c)| {
                let items: Vec<String> = crate::slub::stat::StatItem::ALL
                    .iter()
                    .filter(|&&it| c.total(it) > 0)
                    .map(|&it| format!("\"{}\": {}", it.sysfs_name(), js(&c.sysfs_line(it))))
                    .collect();
                format!("{}: {{{}}}", js(dir), items.join(", "))
            })
            .collect();
        let per_instance: Vec<String> =
            x.per_instance.iter().map(|(name, (al, fr))| format!("{}: [{al}, {fr}]", js(name))).collect();
        let groups: Vec<String> = x.group_pages.iter().map(|(g, p)| format!("{}: {p}", js(g))).collect();
        let created: Vec<String> = x.created.iter().map(|(c, sz)| format!("[{}, {sz}]", js(c))).collect();
        o.push_str(&format!(
            "    {{\"scheme\": {}, \"kmem_trace\": {{\"events_replayed\": {}, \"events_skipped\": {{\"free_before_capture\": {}, \"free_null\": {}, \"alloc_failed_in_trace\": {}, \"kmalloc_zero\": {}, \"alloc_failed\": {}, \"free_failed\": {}}}, \"lost_frees\": {}, \"peak_slab_kib\": {}, \"final_slab_kib\": {}, \"mean_slab_kib\": {:.1}, \"final_large_kmalloc_kib\": {}, \"objects_live\": {}, \"peak_objects_live\": {}, \"partial_free_objects\": {}, \"partial_free_bytes\": {}, \"sheaf_objects\": {}, \"created\": [{}], \"counters\": {{{}}}, \"counters_per_storage\": {{{}}}, \"per_instance_alloc_free\": {{{}}}, \"group_pages\": {{{}}}}}}}{}\n",
            js(scheme.name()), x.events_replayed, k.free_before_capture, k.free_null, k.alloc_failed_in_trace, k.kmalloc_zero, k.alloc_failed, k.free_failed, x.lost_frees, x.peak_kib(), x.final_kib(), x.mean_kib(), kib(x.final_large_pages), x.objects_live, x.peak_objects_live, x.partial_free_objects, x.partial_free_bytes, x.sheaf_objects, created.join(", "), counters.join(", "), per_storage.join(", "), per_instance.join(", "), groups.join(", "),
            if i + 1 < n { "," } else { "" }
        ));
    }
    o.push_str("  ]\n}\n");
    o
}
