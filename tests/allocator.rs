//! The allocator core: objects, kfree by address, sheaves, accounting, checked frees.

use std::collections::HashSet;

use slabmerge::flags::*;
use slabmerge::{KmemCacheArgs, Scheme, SlabConfig, SlabError, World, kmem_cache_destroy};

mod common;
use common::world;

/// mm/slub.c: new_slab(), alloc_from_pcs(): objects are distinct, aligned and writable.
#[test]
fn objects_are_distinct_aligned_and_writable() {
    let w = world();
    let c = w.kmem_cache_create("test_obj", 100, KmemCacheArgs::align(32), SlabFlags::EMPTY).unwrap();
    let mut objs = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..1000u32 {
        let mut o = c.alloc().unwrap();
        assert_eq!(o.addr() % 32, 0);
        assert!(seen.insert(o.addr()));
        c.object_bytes(&mut o).unwrap().fill(i as u8);
        objs.push((i as u8, o));
    }
    for (v, o) in objs.iter_mut() {
        assert!(c.object_bytes(o).unwrap().iter().all(|b| b == v));
    }
    for (_, o) in objs {
        c.free(o).unwrap();
    }
    let st = w.storage_stats();
    assert_eq!(st.live_objects(), 0);
    kmem_cache_destroy(c).unwrap();
}

/// mm/slub.c: kfree() -> virt_to_slab()->slab_cache, for many caches and kmalloc sizes.
#[test]
fn kfree_finds_the_cache_of_any_object() {
    let w = world();
    let caches: Vec<_> = (0..8)
        .map(|i| w.kmem_cache_create(&format!("kf{i}"), 24 + 40 * i, KmemCacheArgs::default(), SLAB_NO_MERGE).unwrap())
        .collect();
    let mut objs = Vec::new();
    for round in 0..50 {
        for c in &caches {
            objs.push(c.alloc().unwrap());
        }
        objs.push(w.kmalloc(1 + round * 37).unwrap());
    }
    objs.push(w.kmalloc(100_000).unwrap());
    let before = w.storage_stats();
    assert_eq!(before.live_objects(), objs.len() - 1);
    for o in objs {
        w.kfree(o).unwrap();
    }
    assert_eq!(w.storage_stats().live_objects(), 0);
    for c in caches {
        kmem_cache_destroy(c).unwrap();
    }
}

/// mm/slub.c: free_to_pcs(), __pcs_replace_full_main(), barn: every object is accounted for
/// (objects in sheaves + in use + free on slabs = total).
#[test]
fn accounting_holds_through_sheaf_and_barn_traffic() {
    let w = World::new(SlabConfig::tiny(Scheme::Mainline, 2, 4, 8));
    let c = w.kmem_cache_create("acct", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let mut live = Vec::new();
    for i in 0..500 {
        if i % 3 == 2 {
            c.free(live.swap_remove(i % live.len())).unwrap();
        } else {
            live.push(c.alloc().unwrap());
        }
        let st = c.stats().unwrap();
        assert_eq!(st.live_objects(), live.len(), "step {i}: {st:?}");
    }
    for o in live {
        c.free(o).unwrap();
    }
    c.shrink().unwrap();
    let st = c.stats().unwrap();
    assert_eq!((st.live_objects(), st.sheaf_objects, st.slabs), (0, 0, 0));
    kmem_cache_destroy(c).unwrap();
    assert_eq!(w.pages(), 0, "only the kmalloc caches' empty storages remain");
}

/// Objects allocated on one CPU and freed on another, from real threads.
#[test]
fn alloc_and_free_across_threads_accounts_for_every_object() {
    let w = World::new(SlabConfig::default());
    let c = w.kmem_cache_create("xthread", 256, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for t in 0..3u32 {
            let tx = tx.clone();
            let c = &c;
            s.spawn(move || {
                slabmerge::cpu::set_current_cpu(t);
                for _ in 0..2000 {
                    tx.send(c.alloc().unwrap()).unwrap();
                }
            });
        }
        drop(tx);
        let c = &c;
        s.spawn(move || {
            slabmerge::cpu::set_current_cpu(1);
            for o in rx {
                c.free(o).unwrap();
            }
        });
    });
    let st = c.stats().unwrap();
    assert_eq!(st.live_objects(), 0);
    assert_eq!(st.total_objects, st.free_objects + st.sheaf_objects);
    kmem_cache_destroy(c).unwrap();
}

/// mm/slub.c: free_consistency_checks(): double free, bad pointer, wrong cache, no slab.
#[test]
fn checked_frees_return_typed_errors_and_change_nothing() {
    let w = world();
    let c = w.kmem_cache_create("checked", 64, KmemCacheArgs::default(), SLAB_CONSISTENCY_CHECKS).unwrap();
    let other = w.kmem_cache_create("other", 64, KmemCacheArgs::default(), SLAB_NO_MERGE).unwrap();
    let a = c.alloc().unwrap();
    let b = c.alloc().unwrap();
    let addr = a.addr();
    c.free(a).unwrap();
    // SAFETY (all kfree_addr calls): no token names these addresses any more,
    // or the call is refused before anything is freed.
    assert!(matches!(unsafe { w.kfree_addr(addr) }, Err(SlabError::DoubleFree { .. })));
    assert!(matches!(unsafe { w.kfree_addr(b.addr() + 8) }, Err(SlabError::NotObjectStart { .. })));
    assert!(matches!(unsafe { w.kfree_addr(0x1000) }, Err(SlabError::NotSlabObject { .. })));
    let refused = other.free(b).unwrap_err();
    assert!(matches!(refused.error(), SlabError::WrongCache { .. }));
    let before = c.stats().unwrap();
    assert_eq!(before.live_objects(), 1);
    let stale = refused.addr();
    drop(refused.into_object()); // the token is given up before its address is freed
    unsafe { w.kfree_addr(stale) }.unwrap();
    assert_eq!(c.stats().unwrap().live_objects(), 0);
    let o = other.alloc().unwrap();
    assert!(matches!(unsafe { w.kfree_addr(o.addr()) }, Err(SlabError::Unchecked { .. })));
    other.free(o).unwrap();
    assert!(!w.reports().is_empty());
    kmem_cache_destroy(c).unwrap();
    kmem_cache_destroy(other).unwrap();
}

/// mm/slub.c: kmem_cache_prefill_sheaf(), kmem_cache_alloc_from_sheaf(),
/// kmem_cache_refill_sheaf(), kmem_cache_return_sheaf().
#[test]
fn prefilled_sheaves_reserve_objects() {
    let w = World::new(SlabConfig::tiny(Scheme::Mainline, 2, 4, 8));
    let c = w.kmem_cache_create("maple_node", 256, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let mut sheaf = c.prefill_sheaf(3).unwrap();
    assert_eq!((sheaf.size(), sheaf.capacity()), (4, 4), "refilled to full capacity");
    let a = c.alloc_from_sheaf(&mut sheaf).unwrap();
    c.refill_sheaf(&mut sheaf, 10).unwrap();
    assert_eq!((sheaf.size(), sheaf.capacity()), (10, 10), "an oversize sheaf replaces it");
    let mut got = vec![a];
    while let Some(o) = c.alloc_from_sheaf(&mut sheaf) {
        got.push(o);
    }
    assert_eq!(got.len(), 11);
    assert!(c.alloc_from_sheaf(&mut sheaf).is_none(), "no fallback when empty");
    c.return_sheaf(sheaf);
    for o in got {
        c.free(o).unwrap();
    }
    assert_eq!(c.stats().unwrap().live_objects(), 0);
    assert!(c.prefill_sheaf(0).is_err());
    kmem_cache_destroy(c).unwrap();
}

/// mm/slab_common.c: kmem_cache_destroy(). A dropped handle is destroyed,
/// so a cache dropped with an object outstanding is reported as the kernel
/// reports the leak (the WARN "Slab cache still has objects" naming the
/// cache, and the BUG of list_slab_objects() naming the object), under
/// every scheme, and the object stays valid.
#[test]
fn a_dropped_cache_with_an_object_left_is_reported_as_a_leak() {
    for scheme in [Scheme::Mainline, Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary] {
        let w = World::new(SlabConfig::with_scheme(scheme));
        let c = w.kmem_cache_create("leaky", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let o = c.alloc().unwrap();
        drop(c);
        let reports = w.reports();
        let leak = reports
            .iter()
            .find(|r| r.function == "kmem_cache_destroy" && r.message.contains("Slab cache still has objects"));
        let leak = leak.unwrap_or_else(|| panic!("{scheme:?}: no leak report in {reports:?}"));
        assert!(leak.message.contains("leaky"), "{scheme:?}: {leak}");
        // list_slab_objects(): the BUG report names the object left.
        let object = format!("Object {:#x} @offset=", o.addr());
        assert!(
            reports.iter().any(|r| r.function == "__kmem_cache_shutdown" && r.message.contains(&object)),
            "{scheme:?}: {reports:?}"
        );
        w.kfree(o).expect("the leaked object stays valid");
    }
}
