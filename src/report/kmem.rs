//! The kmem capture report: a real allocation stream replayed through every
//! scheme ([`crate::input::kmem_replay`]), rendered as a table or JSON.

use crate::input::kmem_replay::{
    AttributionCounts, CompactEvent, Compactor, KmemSchemeResult, Names, Reorder, SchemeSet, SchemeState,
};
use crate::input::kmem_trace::TraceError;
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
    progress: impl FnMut(u64),
) -> KmemReplayResult {
    let drive = |c: &mut Compactor, sink: &mut dyn FnMut(CompactEvent, &Names)| {
        while let Some(ev) = next(c) {
            sink(ev, &c.names);
        }
    };
    replay_inner(trace, statics, schemes, CompactorFrom::Given(compactor), drive, progress).0
}

/// The compactor of a replay: given, or made from the mainline groups and a site table.
enum CompactorFrom<'c> {
    Given(&'c mut Compactor),
    Sites(crate::input::kmem_sites::SiteTable),
}

/// The replay around a feed of events: `drive` gets the compactor (its
/// names already hold every instance's) and a sink that replays each
/// event it is given, with the names its ids refer to, in order.
fn replay_inner<T>(
    trace: &Trace,
    statics: &StaticSet,
    schemes: &[ReportScheme],
    compactor: CompactorFrom<'_>,
    drive: impl FnOnce(&mut Compactor, &mut dyn FnMut(CompactEvent, &Names)) -> T,
    mut progress: impl FnMut(u64),
) -> (KmemReplayResult, T) {
    let worlds: Vec<World> = schemes.iter().map(|s| s.world(statics)).collect();
    let replays: Vec<Replay<'_>> = worlds.iter().map(|w| Replay::run(w, trace, statics)).collect();
    // The mainline groups: from the mainline column's boot replay when there
    // is one (no event has run yet), else from a world of its own.
    let groups = match schemes.iter().position(|s| *s == ReportScheme::Mainline) {
        Some(i) => replays[i].groups(),
        None => {
            let mainline_world = ReportScheme::Mainline.world(statics);
            Replay::run(&mainline_world, trace, statics).groups()
        }
    };
    let mut made;
    let compactor: &mut Compactor = match compactor {
        CompactorFrom::Given(c) => c,
        CompactorFrom::Sites(sites) => {
            made = Compactor::new(trace, &groups, sites);
            &mut made
        }
    };
    let states: Vec<SchemeState<'_, '_>> = replays.iter().map(|r| SchemeState::new(r, &mut compactor.names)).collect();
    let kmalloc_rows = states.first().map_or(0, SchemeState::kmalloc_rows);
    let mut set = SchemeSet::new(states);
    let mut reorder = Reorder::new(4096);
    let mut events = 0u64;
    let mut cpu = u32::MAX;
    let mut first = None;
    let mut last = 0;
    let mut run = |ev: CompactEvent, set: &mut SchemeSet<'_, '_>, names: &Names| {
        if ev.cpu != cpu {
            cpu = ev.cpu;
            set_current_cpu(cpu);
        }
        first.get_or_insert(ev.timestamp_ns);
        last = ev.timestamp_ns;
        set.apply(&ev, names);
        events += 1;
        if events.is_multiple_of(65_536) {
            progress(events);
        }
    };
    let fed = drive(compactor, &mut |ev, names| {
        if let Some(ev) = reorder.push(ev) {
            run(ev, &mut set, names);
        }
    });
    while let Some(ev) = reorder.pop() {
        run(ev, &mut set, &compactor.names);
    }
    let results: Vec<KmemSchemeResult> = set.finish(&compactor.names, &groups);
    drop(replays);
    let result = KmemReplayResult {
        schemes: schemes.iter().copied().zip(results).collect(),
        attribution: compactor.attribution(),
        events,
        out_of_order: reorder.out_of_order,
        span_ns: (first.unwrap_or(0), last),
        kmalloc_rows,
        groups,
    };
    (result, fed)
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
///
/// The parse (decompression, parsing, attribution) runs on a thread of its
/// own, feeding the replay batches of events through a bounded channel: the
/// replay sees the very events, in the very order, that [`run_parser`]'s
/// single thread gives it, so the figures are the same.
pub fn run_capture(
    path: &std::path::Path,
    trace: &Trace,
    statics: &StaticSet,
    schemes: &[ReportScheme],
    sites: crate::input::kmem_sites::SiteTable,
    progress: impl FnMut(u64),
) -> Result<KmemReport, super::ReportError> {
    let drive = |c: &mut Compactor, sink: &mut dyn FnMut(CompactEvent, &Names)| {
        // The names the events' ids refer to: those interned so far, then
        // each batch's new ones (the parse thread holds the compactor).
        let mut names = c.names.clone();
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
            let parse = scope.spawn(move || -> Result<crate::input::kmem_trace::Stats, TraceError> {
                let parser = crate::input::kmem_trace::KmemParser::open(path)?;
                let mut header_seen = false;
                let mut batch = Batch { names_sent: c.names.names.len(), ..Batch::default() };
                let (stats, fatal) = feed(parser, c, &mut header_seen, |ev, c| {
                    batch.events.push(ev);
                    if batch.events.len() == BATCH {
                        batch.new_names.extend(c.names.names[batch.names_sent..].iter().cloned());
                        let sent = c.names.names.len();
                        let full = std::mem::replace(&mut batch, Batch { names_sent: sent, ..Batch::default() });
                        // The replay hung up: it panicked, and the scope says so.
                        let _ = tx.send(full);
                    }
                });
                batch.new_names.extend(c.names.names[batch.names_sent..].iter().cloned());
                let _ = tx.send(batch);
                match fatal {
                    Some(e) => Err(e),
                    None => Ok(stats),
                }
            });
            for batch in rx {
                names.names.extend(batch.new_names);
                for ev in batch.events {
                    sink(ev, &names);
                }
            }
            parse.join().expect("the parse thread does not panic")
        })
    };
    let (replay, stats) = replay_inner(trace, statics, schemes, CompactorFrom::Sites(sites), drive, progress);
    let stats = stats?;
    stats.check_nonempty()?;
    Ok(KmemReport { replay, stats })
}

/// Events a batch of the parse thread carries (128 KiB of [`CompactEvent`]s).
const BATCH: usize = 4096;
/// Batches the channel holds before the parse thread waits for the replay.
const BATCHES_IN_FLIGHT: usize = 8;

/// Events of the parse thread, with the names interned since the last batch.
#[derive(Default)]
struct Batch {
    events: Vec<CompactEvent>,
    new_names: Vec<String>,
    /// How many of the compactor's names earlier batches carried.
    names_sent: usize,
}

/// Parses and compacts every event of `parser`, giving each to `sink`: the
/// parse's stats and the error that ended it early, if one did.
fn feed<R: std::io::BufRead>(
    mut parser: crate::input::kmem_trace::KmemParser<R>,
    c: &mut Compactor,
    header_seen: &mut bool,
    mut sink: impl FnMut(CompactEvent, &Compactor),
) -> (crate::input::kmem_trace::Stats, Option<TraceError>) {
    let mut fatal = None;
    while let Some(r) = parser.next_raw() {
        match r {
            Ok(rec) => {
                if !*header_seen {
                    *header_seen = true;
                    if rec.stats.header.as_ref().and_then(|h| h.slab_nomerge) == Some(true) {
                        c.set_nomerge_capture();
                    }
                }
                let ev = c.compact_raw(&rec);
                sink(ev, c);
            }
            Err(e) => {
                fatal = Some(e);
                break;
            }
        }
    }
    (parser.into_stats(), fatal)
}

/// [`run_capture`] on a parser of any reader (a capture made in memory, a
/// pipe), on this thread.
pub fn run_parser<R: std::io::BufRead>(
    parser: crate::input::kmem_trace::KmemParser<R>,
    trace: &Trace,
    statics: &StaticSet,
    schemes: &[ReportScheme],
    sites: crate::input::kmem_sites::SiteTable,
    progress: impl FnMut(u64),
) -> Result<KmemReport, super::ReportError> {
    let drive = |c: &mut Compactor, sink: &mut dyn FnMut(CompactEvent, &Names)| {
        let mut header_seen = false;
        feed(parser, c, &mut header_seen, |ev, c| sink(ev, &c.names))
    };
    let (replay, (stats, fatal)) = replay_inner(trace, statics, schemes, CompactorFrom::Sites(sites), drive, progress);
    if let Some(e) = fatal {
        return Err(e.into());
    }
    stats.check_nonempty()?;
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
        "{:<8} {:>8} {:>7} {:>8} {:>9} {:>8} {:>9} {:>7} {:>7} {:>9} {:>7}",
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
            "{:<8} {:>8} {:>7} {:>8} {:>9} {:>8.0} {:>9} {:>7} {:>7} {:>9} {:>7}",
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
        let files: Vec<(ReportScheme, Vec<(String, String)>)> =
            rp.schemes.iter().map(|(s, x)| (*s, stat_files(x))).filter(|(_, f)| !f.is_empty()).collect();
        for (scheme, files) in files {
            let _ = writeln!(
                o,
                "\n{scheme}: the stat files of each alias with calls (its own counters) and of its primary (the storage's totals):"
            );
            for (path, text) in files {
                let _ = writeln!(o, "  {path}: {text}");
            }
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
    fit_width(&o)
}

/// `text` with every line longer than [`crate::report::render::WIDTH`]
/// wrapped on spaces, the continuation lines indented two columns past the
/// line's own indent (the table rows fit already; the sentences wrap). A
/// word longer than the width (a long file name) stays whole on its line.
fn fit_width(text: &str) -> String {
    use crate::report::render::WIDTH;
    let mut o = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        if line.chars().count() <= WIDTH {
            o.push_str(line);
            o.push('\n');
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        o.push_str(&line[..indent]);
        let (mut width, mut words) = (indent, 0);
        for word in line.split_whitespace() {
            let w = word.chars().count();
            if words > 0 && width + 1 + w > WIDTH {
                o.push('\n');
                o.push_str(&" ".repeat(indent + 2));
                (width, words) = (indent + 2, 0);
            }
            if words > 0 {
                o.push(' ');
                width += 1;
            }
            o.push_str(word);
            width += w;
            words += 1;
        }
        o.push('\n');
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
        let per_alias: Vec<String> = x
            .alias_stats
            .iter()
            .map(|(alias, (dir, c))| {
                let items: Vec<String> = crate::slub::stat::StatItem::PER_INSTANCE
                    .iter()
                    .map(|&it| format!("\"{}\": {}", it.sysfs_name(), js(&c.sysfs_line(it))))
                    .collect();
                format!("{}: {{\"primary\": {}, {}}}", js(alias), js(dir), items.join(", "))
            })
            .collect();
        let per_instance: Vec<String> =
            x.per_instance.iter().map(|(name, (al, fr))| format!("{}: [{al}, {fr}]", js(name))).collect();
        let groups: Vec<String> = x.group_pages.iter().map(|(g, p)| format!("{}: {p}", js(g))).collect();
        let created: Vec<String> = x.created.iter().map(|(c, sz)| format!("[{}, {sz}]", js(c))).collect();
        o.push_str(&format!(
            "    {{\"scheme\": {}, \"kmem_trace\": {{\"events_replayed\": {}, \"events_skipped\": {{\"free_before_capture\": {}, \"free_null\": {}, \"alloc_failed_in_trace\": {}, \"kmalloc_zero\": {}, \"alloc_failed\": {}, \"free_failed\": {}}}, \"lost_frees\": {}, \"peak_slab_kib\": {}, \"final_slab_kib\": {}, \"mean_slab_kib\": {:.1}, \"final_large_kmalloc_kib\": {}, \"objects_live\": {}, \"peak_objects_live\": {}, \"partial_free_objects\": {}, \"partial_free_bytes\": {}, \"sheaf_objects\": {}, \"created\": [{}], \"counters\": {{{}}}, \"counters_per_storage\": {{{}}}, \"counters_per_alias\": {{{}}}, \"per_instance_alloc_free\": {{{}}}, \"group_pages\": {{{}}}}}}}{}\n",
            js(scheme.name()), x.events_replayed, k.free_before_capture, k.free_null, k.alloc_failed_in_trace, k.kmalloc_zero, k.alloc_failed, k.free_failed, x.lost_frees, x.peak_kib(), x.final_kib(), x.mean_kib(), kib(x.final_large_pages), x.objects_live, x.peak_objects_live, x.partial_free_objects, x.partial_free_bytes, x.sheaf_objects, created.join(", "), counters.join(", "), per_storage.join(", "), per_alias.join(", "), per_instance.join(", "), groups.join(", "),
            if i + 1 < n { "," } else { "" }
        ));
    }
    o.push_str("  ]\n}\n");
    o
}

/// The `CONFIG_SLUB_STATS` files of a scheme's aliases as sysfs would show
/// them, as (path, contents) pairs: for each primary with an alias that made
/// calls, `/sys/kernel/slab/<primary's directory>/<item>` with the storage's
/// totals, then `/sys/kernel/slab/<alias>/<item>` with the alias's own
/// counters, for every item (`alloc_cpu_sheaf`, `alloc_slowpath`, ...,
/// `barn_put_fail`). In the primary
/// design an alias is its own `struct kmem_cache`, so it can have a directory
/// of its own for them (today's aliases are links to the primary's). The
/// contents are `show_stat()`'s: the total, then `C<cpu>=<n>` for each CPU
/// with a count. Empty for schemes without aliases and without `slub_stats`.
pub fn stat_files(x: &KmemSchemeResult) -> Vec<(String, String)> {
    use crate::slub::stat::StatItem;
    let mut by_primary: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (alias, (dir, _)) in &x.alias_stats {
        by_primary.entry(dir.as_str()).or_default().push(alias.as_str());
    }
    let mut out = Vec::new();
    let empty = crate::slub::stat::StatCounts::default();
    for (dir, aliases) in by_primary {
        let totals = x.stats.get(dir).unwrap_or(&empty);
        for item in StatItem::PER_INSTANCE {
            out.push((format!("/sys/kernel/slab/{dir}/{}", item.sysfs_name()), totals.sysfs_line(item)));
        }
        for alias in aliases {
            let counts = &x.alias_stats[alias].1;
            for item in StatItem::PER_INSTANCE {
                out.push((format!("/sys/kernel/slab/{alias}/{}", item.sysfs_name()), counts.sysfs_line(item)));
            }
        }
    }
    out
}

/// Line colours of the memory chart, one per scheme in [`ReportScheme::ALL`] order.
const SERIES_COLOURS: [&str; 5] = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#7f7f7f"];

/// A round step for about `n` ticks over `0..=max`.
fn tick_step(max: f64, n: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn tick_label(v: f64, step: f64) -> String {
    if step >= 1.0 { format!("{v:.0}") } else { format!("{v:.*}", (-step.log10().floor()) as usize) }
}

/// Slab memory over the capture's time as an SVG chart: one line per scheme
/// (slab and large-kmalloc KiB against seconds since the first event), a
/// legend with each scheme's peak, and each peak marked.
///
/// The lines are drawn in data units inside a scaled group, so a polyline's
/// points are `(ms since the first event, KiB)` exactly: the highest point of
/// a scheme's line is its `peak_slab_kib`. Each point is a series bucket's
/// start and its maximum ([`crate::input::kmem_replay::MaxSeries`]).
pub fn render_svg(r: &KmemReport) -> String {
    use crate::report::picture::xml_escape;
    use std::fmt::Write;
    const W: f64 = 960.0;
    const H: f64 = 540.0;
    const LEFT: f64 = 90.0;
    const RIGHT: f64 = 200.0;
    const TOP: f64 = 70.0;
    const BOTTOM: f64 = 70.0;
    let rp = &r.replay;
    let span_ms = (rp.span_ns.1.saturating_sub(rp.span_ns.0)) as f64 / 1e6;
    let last_ms = rp
        .schemes
        .iter()
        .filter_map(|(_, x)| x.series.last().map(|&(t, _)| (t + x.series_bucket_ns) as f64 / 1e6))
        .fold(span_ms, f64::max)
        .max(1e-3);
    let max_kib = rp.schemes.iter().map(|(_, x)| x.peak_kib()).max().unwrap_or(0) as f64;
    let y_step = tick_step(max_kib.max(1.0), 6.0);
    let y_max = ((max_kib / y_step).floor() + 1.0) * y_step;
    let x_step = tick_step(last_ms / 1e3, 8.0);
    let x_max_s = last_ms / 1e3;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let px = |ms: f64| LEFT + ms / last_ms * pw;
    let py = |kib: f64| TOP + ph - kib / y_max * ph;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W:.0}" height="{H:.0}" viewBox="0 0 {W:.0} {H:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">"#
    );
    let _ = writeln!(
        o,
        "<style>.ttl{{font-size:18px;font-weight:bold}} .sub{{font-size:11px;fill:#444}} \
         .ax{{font-size:11px;fill:#222}} .lg{{font-size:11px}} .pk{{font-size:10px}}</style>"
    );
    let _ = writeln!(o, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="28" class="ttl">Slab memory over time: {}</text>"#,
        xml_escape(&r.stats.file)
    );
    let _ = writeln!(
        o,
        r#"<text x="{LEFT}" y="46" class="sub">{} events replayed through every scheme over {:.3} s; each point is the most KiB held in a {} µs bucket</text>"#,
        rp.events,
        span_ms / 1e3,
        rp.schemes.first().map_or(0, |(_, x)| x.series_bucket_ns / 1000)
    );
    // Grid and ticks.
    let mut v = 0.0;
    while v <= y_max + y_step / 2.0 {
        let y = py(v);
        let _ = writeln!(
            o,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e0e0e0" stroke-width="1"/><text x="{:.1}" y="{:.1}" class="ax" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            tick_label(v, y_step)
        );
        v += y_step;
    }
    let mut t = 0.0;
    while t <= x_max_s + x_step / 1e6 {
        let x = px(t * 1e3);
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#f0f0f0" stroke-width="1"/><text x="{x:.1}" y="{:.1}" class="ax" text-anchor="middle">{}</text>"##,
            TOP + ph,
            TOP + ph + 16.0,
            tick_label(t, x_step)
        );
        t += x_step;
    }
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="#444" stroke-width="1"/>"##
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" class="ax" text-anchor="middle">time since the first event (s)</text>"#,
        LEFT + pw / 2.0,
        H - 24.0
    );
    let _ = writeln!(
        o,
        r#"<text x="22" y="{:.1}" class="ax" text-anchor="middle" transform="rotate(-90 22 {:.1})">memory held: slabs and large kmalloc (KiB)</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    // The lines, in data units: x in ms, y in KiB.
    let _ = writeln!(
        o,
        r#"<g transform="translate({LEFT} {:.1}) scale({:.6} {:.6})" fill="none">"#,
        TOP + ph,
        pw / last_ms,
        -ph / y_max
    );
    for (i, (scheme, x)) in rp.schemes.iter().enumerate() {
        let colour = SERIES_COLOURS[i % SERIES_COLOURS.len()];
        let mut points = String::new();
        for &(t, pages) in &x.series {
            let _ = write!(points, "{:.3},{} ", t as f64 / 1e6, kib(pages));
        }
        let _ = writeln!(
            o,
            r#"<polyline data-scheme="{}" points="{}" stroke="{colour}" stroke-width="1.5" vector-effect="non-scaling-stroke"/>"#,
            xml_escape(scheme.name()),
            points.trim_end()
        );
    }
    o.push_str("</g>\n");
    // Peaks and the legend, in pixels.
    for (i, (scheme, x)) in rp.schemes.iter().enumerate() {
        let colour = SERIES_COLOURS[i % SERIES_COLOURS.len()];
        let peak = x.peak_kib();
        if let Some(&(t, _)) = x.series.iter().find(|&&(_, p)| kib(p) == peak) {
            let (cx, cy) = (px(t as f64 / 1e6), py(peak as f64));
            let _ = writeln!(
                o,
                r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="4" fill="{colour}" stroke="#000" stroke-width="0.8"><title>{} peak: {peak} KiB at {:.3} s</title></circle>"##,
                xml_escape(scheme.name()),
                t as f64 / 1e9
            );
        }
        let ly = TOP + 10.0 + i as f64 * 34.0;
        let lx = LEFT + pw + 16.0;
        let _ = writeln!(
            o,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}" class="lg">{}</text><text x="{:.1}" y="{:.1}" class="pk">peak {peak} KiB, mean {:.0}</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            xml_escape(scheme.name()),
            lx + 28.0,
            ly + 17.0,
            x.mean_kib()
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" class="pk">● marks each peak</text>"#,
        LEFT + pw + 16.0,
        TOP + 10.0 + rp.schemes.len() as f64 * 34.0
    );
    o.push_str("</svg>\n");
    o
}
