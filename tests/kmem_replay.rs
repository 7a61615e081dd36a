//! Replaying kmem captures through every scheme: the bundled capture, the
//! pairing rules (pre-capture frees, lost frees), attribution, and a small
//! hand-computed trace whose figures are checked exactly.

use std::io::Write;
use std::path::{Path, PathBuf};

use slabmerge::input::kmem_replay::bundled_sites;
use slabmerge::replay::StaticSet;
use slabmerge::report::ReportScheme;
use slabmerge::report::kmem::{KmemReport, run_capture};
use slabmerge::trace::Trace;

fn bundled_capture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kmem-trace-linux-6.18-x86_64.txt.gz")
}

fn under_valgrind() -> bool {
    std::env::var_os("SLABMERGE_VALGRIND").is_some()
        || std::env::var("LD_PRELOAD").is_ok_and(|v| v.contains("valgrind"))
        || std::fs::read_to_string("/proc/self/maps").is_ok_and(|m| m.contains("vgpreload"))
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
    assert!(err.contains("empty"), "{err}");
}
