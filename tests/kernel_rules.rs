//! The rule sets of the kernels people run ([`MergeRules`]: 6.1, 6.6, 6.12,
//! 6.18, 7.0). Each test runs one request under a release and the one before
//! it and shows the different outcome; its doc comment names the commit that
//! made the difference. Every row of [`DIFFERENCES`] names its test here, and
//! `differences_name_tests_that_exist` holds the table to this file.

use slabmerge::config::{DIFFERENCES, MergeRules};
use slabmerge::error::SlabError;
use slabmerge::flags::*;
use slabmerge::merge::NoMergeReason;
use slabmerge::replay::{Replay, StaticSet, adaptation_notes};
use slabmerge::slabinfo::proc_slabinfo;
use slabmerge::sysfs::SysfsNode;
use slabmerge::trace::Trace;
use slabmerge::world::{CreateEntry, Decision, PlacementKind};
use slabmerge::{Cache, KmemCache, KmemCacheArgs, Scheme, SlabConfig, World, kmem_cache_destroy};

mod common;
use common::{create, under_valgrind, world_with};

fn rules(r: MergeRules) -> World {
    world_with(SlabConfig::with_rules(r))
}

fn same(a: &KmemCache, b: &KmemCache) -> bool {
    std::ptr::eq(a, b)
}

fn is_dir(w: &World, name: &str) -> bool {
    w.sysfs().iter().any(|e| e.name == name && e.node == SysfsNode::Dir)
}

fn listed(w: &World, name: &str) -> bool {
    w.caches().iter().any(|c| c.name == name)
}

/// `kmem_cache_create(name, 64, 0, flags, NULL)`: Ok(handle) or the error text.
fn try_create<'w>(w: &'w World, name: &str, flags: SlabFlags) -> Result<Cache<'w>, String> {
    w.kmem_cache_create(name, 64, KmemCacheArgs::default(), flags).map_err(|e| e.to_string())
}

/// Creates `target` and then `request` (both 64 bytes, `flags` on the
/// request); true if the request got the target's instance.
fn merges(r: MergeRules, target_flags: SlabFlags, flags: SlabFlags) -> bool {
    let w = rules(r);
    let target = create(&w, "target", 64, target_flags);
    let request = create(&w, "request", 64, flags);
    let merged = same(&target, &request);
    kmem_cache_destroy(request).unwrap();
    kmem_cache_destroy(target).unwrap();
    merged
}

/// 6cd6d33ca41f ("mm/slub, kunit: Add a test case for kmalloc redzone check",
/// 6.2) added `SLAB_KMALLOC` to SLUB's `SLAB_CACHE_FLAGS` and to
/// `SLAB_FLAGS_PERMITTED`: 6.1 refuses it from `kmem_cache_create()` with
/// `-EINVAL`, 6.6 creates the cache.
#[test]
fn slab_kmalloc_is_refused_from_callers_before_6_2() {
    let old = rules(MergeRules::V6_1);
    let err = try_create(&old, "kmalloc_like", SLAB_KMALLOC).map(|_| ()).unwrap_err();
    assert!(err.contains("SLAB_KMALLOC") && err.contains("not permitted in 6.1"), "{err}");
    assert!(!listed(&old, "kmalloc_like"));
    let new = rules(MergeRules::V6_6);
    let c = try_create(&new, "kmalloc_like", SLAB_KMALLOC).unwrap();
    assert!(c.flags().contains(SLAB_KMALLOC));
    kmem_cache_destroy(c).unwrap();
}

/// d0bf7d5759c1 ("mm/slab: introduce kmem_cache flag SLAB_NO_MERGE", 6.5):
/// the flag joins `SLAB_FLAGS_PERMITTED` and `SLAB_NEVER_MERGE`, and
/// `new_kmalloc_cache()` gives it to the normal kmalloc caches with
/// `CONFIG_MEMCG`. 6.1 refuses it from callers and its kmalloc caches lack it;
/// in 6.6 a `SLAB_NO_MERGE` request gets a cache of its own.
#[test]
fn slab_no_merge_exists_from_6_5() {
    let old = rules(MergeRules::V6_1);
    let err = try_create(&old, "skbuff_head_cache", SLAB_NO_MERGE).map(|_| ()).unwrap_err();
    assert!(err.contains("SLAB_NO_MERGE"), "{err}");
    assert!(!old.kmalloc_cache(64).unwrap().flags().intersects(SLAB_NO_MERGE));
    assert!(!MergeRules::V6_1.never_merge().intersects(SLAB_NO_MERGE));
    let new = rules(MergeRules::V6_6);
    assert!(new.kmalloc_cache(64).unwrap().flags().contains(SLAB_NO_MERGE));
    assert!(merges(MergeRules::V6_6, SlabFlags::EMPTY, SlabFlags::EMPTY), "the control request merges");
    assert!(!merges(MergeRules::V6_6, SlabFlags::EMPTY, SLAB_NO_MERGE));
}

/// cdeeaaba1748 ("mm, slab: deprecate SLAB_MEM_SPREAD flag") made the flag 0
/// and f88c3fb81c4b ("mm, slab: remove last vestiges of SLAB_MEM_SPREAD"),
/// both in the 6.9 merge window, removed it. Before, `SLAB_FLAGS_PERMITTED`
/// has it and SLUB's `CACHE_CREATE_MASK` drops it: 6.6 creates the cache
/// without the flag (and it merges as if never asked); 6.12 refuses it.
#[test]
fn slab_mem_spread_is_accepted_until_6_9() {
    for old_rules in [MergeRules::V6_1, MergeRules::V6_6] {
        let old = rules(old_rules);
        // An RCU cache never merges, so these are its own flags.
        let own = try_create(&old, "spread_rcu", SLAB_MEM_SPREAD | SLAB_TYPESAFE_BY_RCU).unwrap();
        assert_eq!(own.flags(), SLAB_TYPESAFE_BY_RCU, "CACHE_CREATE_MASK drops it in {old_rules}");
        kmem_cache_destroy(own).unwrap();
        let target = create(&old, "target", 64, SlabFlags::EMPTY);
        let c = try_create(&old, "spread", SLAB_MEM_SPREAD).unwrap();
        assert!(same(&target, &c), "{old_rules}: a dropped flag changes no merge");
        kmem_cache_destroy(c).unwrap();
        kmem_cache_destroy(target).unwrap();
    }
    let new = rules(MergeRules::V6_12);
    let err = try_create(&new, "spread", SLAB_MEM_SPREAD).map(|_| ()).unwrap_err();
    assert!(err.contains("SLAB_MEM_SPREAD") && err.contains("not permitted in 6.12"), "{err}");
}

/// 4ec10268ed98 ("mm, slab: unlink slabinfo, sysfs and debugfs immediately",
/// 6.12). Before it, `shutdown_cache()` takes a `SLAB_TYPESAFE_BY_RCU` cache
/// off `slab_caches` at once (its `/proc/slabinfo` line goes) but queues it on
/// `slab_caches_to_rcu_destroy`; `kmem_cache_release()` with its
/// `sysfs_slab_unlink()` runs in the work after `rcu_barrier()`. So in 6.6
/// the directory outlives `kmem_cache_destroy()` until the grace period
/// (`World::rcu_barrier`); in 6.12 it is gone when destroy returns.
#[test]
fn rcu_cache_sysfs_dir_lingers_until_the_grace_period_before_6_12() {
    for (r, lingers) in [(MergeRules::V6_6, true), (MergeRules::V6_12, false)] {
        let w = rules(r);
        let c = create(&w, "rcu_cache", 64, SLAB_TYPESAFE_BY_RCU);
        assert!(is_dir(&w, "rcu_cache") && listed(&w, "rcu_cache"));
        kmem_cache_destroy(c).unwrap();
        assert!(!listed(&w, "rcu_cache"), "{r}: list_del() happens in kmem_cache_destroy()");
        assert!(!proc_slabinfo(&w).lines().any(|l| l.starts_with("rcu_cache ")), "{r}: no slabinfo line");
        assert_eq!(is_dir(&w, "rcu_cache"), lingers, "{r}: the directory right after kmem_cache_destroy()");
        assert_eq!(w.rcu_barrier(), usize::from(lingers), "{r}: caches the deferred work released");
        assert!(!is_dir(&w, "rcu_cache"), "{r}: after the grace period");
        w.check_invariants().unwrap();
    }
    // A cache without SLAB_TYPESAFE_BY_RCU is unlinked at once in 6.6 too.
    let w = rules(MergeRules::V6_6);
    let c = create(&w, "plain", 64, SLAB_NO_MERGE);
    kmem_cache_destroy(c).unwrap();
    assert!(!is_dir(&w, "plain"));
    assert_eq!(w.rcu_barrier(), 0);
}

/// 4ec10268ed98, the module reload the commit message describes: in 6.6 a
/// new cache of the destroyed RCU cache's name, created before the grace
/// period, takes the name over — `sysfs_slab_add()` of an unmergeable cache
/// first removes any entry of its name — and the deferred work then removes
/// only the old cache's own kobject.
#[test]
fn rcu_cache_recreated_before_the_grace_period_keeps_its_directory() {
    let w = rules(MergeRules::V6_6);
    let old = create(&w, "reloaded", 64, SLAB_TYPESAFE_BY_RCU);
    kmem_cache_destroy(old).unwrap();
    let new = create(&w, "reloaded", 64, SLAB_TYPESAFE_BY_RCU);
    assert!(is_dir(&w, "reloaded"));
    assert_eq!(w.rcu_barrier(), 1);
    assert!(is_dir(&w, "reloaded"), "the work's kobject_del() is the old cache's");
    kmem_cache_destroy(new).unwrap();
    assert!(is_dir(&w, "reloaded"));
    assert_eq!(w.rcu_barrier(), 1);
    assert!(!is_dir(&w, "reloaded"));
}

/// "slab: add opt-in caching layer of percpu sheaves" (6.18) added
/// `kmem_cache_args.sheaf_capacity`; `__kmem_cache_create_args()` skips the
/// alias attempt for a request that sets it. No caller of 6.12 can set it
/// (refused here); the 6.18 request gets a cache of its own although a
/// compatible target exists.
#[test]
fn sheaf_capacity_exists_from_6_18_and_blocks_aliasing() {
    let args = || KmemCacheArgs { sheaf_capacity: 32, ..Default::default() };
    let old = rules(MergeRules::V6_12);
    let err = old.kmem_cache_create("maple_node", 64, args(), SlabFlags::EMPTY).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("no sheaf_capacity in 6.12"), "{err}");
    let new = rules(MergeRules::V6_18);
    let target = create(&new, "target", 64, SlabFlags::EMPTY);
    let sheaves = new.kmem_cache_create("maple_node", 64, args(), SlabFlags::EMPTY).unwrap();
    assert!(!same(&target, &sheaves));
    assert!(!sheaves.flags().intersects(SLAB_NO_MERGE), "6.18 adds no flag");
    kmem_cache_destroy(sheaves).unwrap();
    kmem_cache_destroy(target).unwrap();
}

/// "slab: add SLAB_CONSISTENCY_CHECKS to SLAB_NEVER_MERGE" (sheaves-for-all
/// v4 03/22, 7.0): `SLAB_NEVER_MERGE` takes the whole `SLAB_DEBUG_FLAGS`. A
/// `SLAB_CONSISTENCY_CHECKS` request merges in 6.18 and not in 7.0.
#[test]
fn consistency_checks_block_merging_from_7_0() {
    assert!(merges(MergeRules::V6_18, SLAB_CONSISTENCY_CHECKS, SLAB_CONSISTENCY_CHECKS));
    assert!(!merges(MergeRules::V7_0, SLAB_CONSISTENCY_CHECKS, SLAB_CONSISTENCY_CHECKS));
    assert!(merges(MergeRules::V7_0, SlabFlags::EMPTY, SlabFlags::EMPTY), "the control request merges");
}

/// "mm/slab: make caches with sheaves mergeable" (sheaves-for-all v4 05/22,
/// 7.0): `__kmem_cache_create_args()` turns an explicit `sheaf_capacity` into
/// `SLAB_NO_MERGE`, and `slab_unmergeable()` stops looking at
/// `s->cpu_sheaves`. The same request is skipped by a gate and carries no
/// flag in 6.18; in 7.0 it carries `SLAB_NO_MERGE`.
#[test]
fn sheaf_capacity_means_slab_no_merge_from_7_0() {
    let args = KmemCacheArgs { sheaf_capacity: 32, ..Default::default() };
    let decision = |r: MergeRules| {
        let w = rules(r);
        let _target = create(&w, "target", 64, SlabFlags::EMPTY);
        let d = w.explain_create(
            "maple_node",
            64,
            &args,
            SlabFlags::EMPTY,
            CreateEntry::KmemCacheCreate,
            PlacementKind::Dynamic,
        );
        let c = w.kmem_cache_create("maple_node", 64, args.clone(), SlabFlags::EMPTY).unwrap();
        (d, c.flags().intersects(SLAB_NO_MERGE))
    };
    let (d618, no_merge_618) = decision(MergeRules::V6_18);
    assert!(matches!(d618, Decision::NotMerged { reason: NoMergeReason::SheafCapacityGate, .. }), "{d618:?}");
    assert!(!no_merge_618);
    let (d70, no_merge_70) = decision(MergeRules::V7_0);
    assert!(matches!(d70, Decision::NotMerged { reason: NoMergeReason::Request(_), .. }), "{d70:?}");
    assert!(no_merge_70);
}

/// Not tied to an identified commit (see the table): before 7.0 a usercopy
/// region makes `__kmem_cache_create_args()` (6.1/6.6:
/// `kmem_cache_create_usercopy()`) skip `__kmem_cache_alias()`; in 7.0
/// `find_mergeable()` refuses the region. Neither merges; the rule differs.
#[test]
fn usercopy_region_is_refused_by_another_rule_from_7_0() {
    let args = KmemCacheArgs { useroffset: 0, usersize: 16, ..Default::default() };
    let decision = |r: MergeRules| {
        let w = rules(r);
        let _target = create(&w, "target", 64, SlabFlags::EMPTY);
        w.explain_create("usercopy", 64, &args, SlabFlags::EMPTY, CreateEntry::KmemCacheCreate, PlacementKind::Dynamic)
    };
    let d = decision(MergeRules::V6_18);
    assert!(matches!(d, Decision::NotMerged { reason: NoMergeReason::UsercopyGate, .. }), "{d:?}");
    let d = decision(MergeRules::V7_0);
    assert!(matches!(d, Decision::NotMerged { reason: NoMergeReason::Request(_), .. }), "{d:?}");
}

/// Every release parses from its name, and nothing else does.
#[test]
fn release_names_round_trip() {
    for r in MergeRules::ALL {
        assert_eq!(MergeRules::parse(r.name()), Some(r));
        assert_eq!(MergeRules::parse(&format!("v{}", r.name())), Some(r));
    }
    assert_eq!(MergeRules::default(), MergeRules::V6_18);
    assert_eq!(SlabConfig::default().merge_rules, MergeRules::V6_18);
    for bad in ["6.2", "6", "7", "", "6.18.1", "latest"] {
        assert_eq!(MergeRules::parse(bad), None, "{bad}");
    }
}

/// Each difference names a release that has a predecessor, and a test of
/// this file that exists.
#[test]
fn differences_name_tests_that_exist() {
    let source = include_str!("kernel_rules.rs");
    for d in DIFFERENCES {
        assert!(d.since.previous().is_some(), "{d:?}");
        let test = d.test.strip_prefix("tests/kernel_rules.rs: ").unwrap_or_else(|| panic!("{d:?}"));
        assert!(source.contains(&format!("fn {test}()")), "no test {test}");
    }
}

/// The bundled 6.18 boot trace replays under every release's rules: what a
/// release lacks is left out of the requests (`slabmerge::replay::adapt_row`), so nothing
/// fails; 6.18 itself leaves nothing out and keeps the real kernel's 235
/// instances of 333 names. Under 6.1 the `SLAB_NO_MERGE` requests of 6.18
/// (the `memdup_user-*` and `msg_msg-*` buckets, `skbuff_head_cache`, ...)
/// may merge, so there are fewer instances.
#[test]
fn bundled_trace_replays_under_every_release() {
    let trace = Trace::bundled();
    let statics = StaticSet::none();
    let mut instances = Vec::new();
    for r in MergeRules::ALL {
        let w = World::bare(SlabConfig::with_rules(r));
        let replay = Replay::run(&w, &trace, &statics);
        assert!(replay.failures.is_empty(), "{r}: {:?}", replay.failures);
        assert_eq!(replay.handles().count(), 333, "{r}");
        instances.push((r, replay.groups().len()));
        assert_eq!(adaptation_notes(r, &trace).is_empty(), r >= MergeRules::V6_18, "{r}");
    }
    let of = |r| instances.iter().find(|(x, _)| *x == r).unwrap().1;
    assert_eq!(of(MergeRules::V6_18), 235);
    assert!(of(MergeRules::V6_1) < of(MergeRules::V6_6), "{instances:?}");
    let notes = adaptation_notes(MergeRules::V6_1, &trace);
    assert!(notes.iter().any(|n| n.contains("SLAB_NO_MERGE")) && notes.iter().any(|n| n.contains("sheaf_capacity")));
}

/// The deferred destroy under the schemes with static instances: a
/// module's RCU static waits for the grace period like a dynamic cache, and
/// unloading the module runs the deferred work before the module's memory
/// goes; a world that goes with RCU image statics (destroyed at power-off)
/// runs it before the image goes.
#[test]
fn rcu_statics_wait_for_the_grace_period_before_6_12() {
    for scheme in [slabmerge::Scheme::ViroV3, slabmerge::Scheme::Primary] {
        let w = World::new(SlabConfig { merge_rules: MergeRules::V6_6, ..SlabConfig::with_scheme(scheme) });
        let mut m = w.module_load("rcu_mod", 1);
        m.kmem_cache_setup(0, "rcu_mod_cache", 256, KmemCacheArgs::default(), SLAB_TYPESAFE_BY_RCU).unwrap();
        m.kmem_cache_destroy(0).unwrap();
        assert!(is_dir(&w, "rcu_mod_cache") && !listed(&w, "rcu_mod_cache"), "{scheme:?}");
        w.module_unload(m).map_err(|(e, _)| e).unwrap();
        assert!(!is_dir(&w, "rcu_mod_cache"), "{scheme:?}");
        assert_eq!(w.rcu_barrier(), 0);
        w.kmem_cache_setup_image(0, "filp", 256, KmemCacheArgs::default(), SLAB_TYPESAFE_BY_RCU).unwrap();
        w.check_invariants().unwrap();
        drop(w);
    }
}

/// The `/proc/slabinfo` line of `name`, if any.
fn slabinfo_line(w: &World, name: &str) -> bool {
    proc_slabinfo(w).lines().any(|l| l.starts_with(&format!("{name} ")))
}

/// `s->refcount` of the listed cache `name`.
fn refcount(w: &World, name: &str) -> Option<i32> {
    w.caches().iter().find(|c| c.name == name).map(|c| c.refcount)
}

/// 4ec10268ed98 ("mm, slab: unlink slabinfo, sysfs and debugfs immediately",
/// 6.12). In 6.6 `kmem_cache_destroy()` does `s->refcount--` and then
/// `shutdown_cache()`, whose `if (__kmem_cache_shutdown(s) != 0) return
/// -EBUSY;` comes before `list_del(&s->list)`: the busy cache stays on
/// `slab_caches` with refcount 0, keeps its sysfs directory and slabinfo
/// line, and — `slab_unmergeable()` refusing only `refcount < 0` — is what
/// `find_mergeable()` returns to a later compatible `kmem_cache_create()`,
/// whose `__kmem_cache_alias()` makes it 1 again. From 6.12 the busy cache
/// is unlisted and unlinked at once, and the later create gets a new cache.
/// The WARN is the same in both.
#[test]
fn busy_cache_stays_listed_and_mergeable_before_6_12() {
    for (r, kept) in [(MergeRules::V6_6, true), (MergeRules::V6_12, false)] {
        let w = rules(r);
        let busy = create(&w, "busy", 64, SlabFlags::EMPTY);
        let storage = busy.storage_id().unwrap();
        let object = busy.alloc().unwrap();
        let order_before: Vec<String> = w.caches().iter().map(|c| c.name.clone()).collect();
        let err = kmem_cache_destroy(busy).unwrap_err();
        assert_eq!(err, SlabError::CacheBusy { cache: "busy".into(), objects: 1 }, "{r}");
        let warn = w.reports().into_iter().find(|r| r.function == "kmem_cache_destroy").expect("the WARN");
        assert!(warn.message.starts_with("kmem_cache_destroy busy: Slab cache still has objects when called from"));
        assert_eq!(listed(&w, "busy"), kept, "{r}: still on slab_caches");
        if kept {
            let order: Vec<String> = w.caches().iter().map(|c| c.name.clone()).collect();
            assert_eq!(order, order_before, "{r}: slab_caches unchanged");
        }
        assert_eq!(refcount(&w, "busy"), kept.then_some(0), "{r}: s->refcount");
        assert_eq!(is_dir(&w, ":0000064"), kept, "{r}: the sysfs directory");
        assert_eq!(slabinfo_line(&w, "busy"), kept, "{r}: the slabinfo line");
        w.check_invariants().unwrap();

        // What find_mergeable() returns (the explanation walks slab_caches)
        // is what creation merges into (through the index).
        let d = w.explain_create(
            "later",
            64,
            &KmemCacheArgs::default(),
            SlabFlags::EMPTY,
            CreateEntry::KmemCacheCreate,
            PlacementKind::Dynamic,
        );
        assert_eq!(matches!(&d, Decision::Merged { target, .. } if target == "busy"), kept, "{r}: {d:?}");
        let later = create(&w, "later", 64, SlabFlags::EMPTY);
        assert_eq!(later.storage_id() == Some(storage), kept, "{r}: the later create merged into the busy cache");
        if kept {
            assert_eq!(refcount(&w, "busy"), Some(1), "{r}: __kmem_cache_alias() revived it");
            assert!(slabinfo_line(&w, "busy") && !slabinfo_line(&w, "later"), "{r}: s->name stays the first creator's");
            let o = later.alloc().expect("the revived cache allocates");
            w.kfree(o).unwrap();
        }
        w.check_invariants().unwrap();

        // The object is freed meanwhile: the reviving creator's destroy
        // releases the cache through the normal path.
        w.kfree(object).unwrap();
        kmem_cache_destroy(later).unwrap();
        assert!(!listed(&w, "busy") && !listed(&w, "later"), "{r}");
        assert!(!is_dir(&w, ":0000064"), "{r}");
        w.check_invariants().unwrap();
    }
}

/// 4ec10268ed98 (6.12), the revived cache of 6.6 again: `kmem_cache_destroy()`
/// of the reviving creator counts down to 0 and calls `shutdown_cache()`
/// again; with the first creator's object still allocated it is busy again
/// and stays listed (6.6), and with `CONFIG_DEBUG_VM` the duplicate-name
/// check of `kmem_cache_sanity_check()` still finds it. The world's teardown
/// then unlists it whatever the result.
#[test]
fn busy_cache_revived_and_destroyed_busy_again_before_6_12() {
    for (r, kept) in [(MergeRules::V6_6, true), (MergeRules::V6_12, false)] {
        let w = world_with(SlabConfig { debug_vm: true, ..SlabConfig::with_rules(r) });
        let busy = create(&w, "busy", 64, SlabFlags::EMPTY);
        let object = busy.alloc().unwrap();
        assert!(kmem_cache_destroy(busy).is_err());
        let later = create(&w, "later", 64, SlabFlags::EMPTY);
        let result = kmem_cache_destroy(later);
        if kept {
            assert_eq!(result, Err(SlabError::CacheBusy { cache: "later".into(), objects: 1 }), "{r}");
        } else {
            assert_eq!(result, Ok(()), "{r}: a new cache of its own, empty");
        }
        assert_eq!(listed(&w, "busy"), kept, "{r}");
        assert_eq!(refcount(&w, "busy"), kept.then_some(0), "{r}");
        w.check_invariants().unwrap();
        let again = create(&w, "busy", 64, SlabFlags::EMPTY);
        let dup = w.reports().iter().any(|r| r.message == "kmem_cache of name 'busy' already exists");
        assert_eq!(dup, kept, "{r}: the duplicate-name check");
        assert_eq!(kmem_cache_destroy(again).is_err(), kept, "{r}: merged into the busy cache again");
        w.kfree(object).unwrap();
    }
}

/// 4ec10268ed98 (6.12) under the other schemes. Al Viro's v3 and v1 leave
/// dynamic caches to mainline's `kmem_cache_destroy()`, so a busy one stays
/// listed and mergeable in 6.6 as there; the primary scheme unlists a busy
/// cache in every release (design/primary-cache.md).
#[test]
fn busy_cache_before_6_12_under_each_scheme() {
    for scheme in [Scheme::Mainline, Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary] {
        for r in [MergeRules::V6_6, MergeRules::V6_12] {
            let kept = r == MergeRules::V6_6 && scheme != Scheme::Primary;
            let w = world_with(SlabConfig { scheme, ..SlabConfig::with_rules(r) });
            let busy = create(&w, "busy", 64, SlabFlags::EMPTY);
            let storage = busy.storage_id();
            let object = busy.alloc().unwrap();
            assert!(matches!(kmem_cache_destroy(busy), Err(SlabError::CacheBusy { objects: 1, .. })));
            assert_eq!(listed(&w, "busy"), kept, "{scheme:?} {r}");
            assert_eq!(slabinfo_line(&w, "busy"), kept, "{scheme:?} {r}");
            w.check_invariants().unwrap();
            let later = create(&w, "later", 64, SlabFlags::EMPTY);
            assert_eq!(later.storage_id() == storage, kept, "{scheme:?} {r}: merged into the busy cache");
            w.check_invariants().unwrap();
            w.kfree(object).unwrap();
            kmem_cache_destroy(later).unwrap();
            assert!(!listed(&w, "busy"), "{scheme:?} {r}");
            w.check_invariants().unwrap();
        }
    }
}

/// 4ec10268ed98 (6.12): the world's end (and a module's unload) with a busy
/// cache still listed in 6.6. Its teardown shuts it down unlisted: released
/// once its objects are gone, else kept as an orphan for them.
#[test]
fn busy_cache_listed_before_6_12_is_released_at_teardown() {
    let w = rules(MergeRules::V6_6);
    let busy = create(&w, "freed", 64, SlabFlags::EMPTY);
    let object = busy.alloc().unwrap();
    assert!(kmem_cache_destroy(busy).is_err());
    w.kfree(object).unwrap();
    let kept = create(&w, "kept", 64, SLAB_ACCOUNT);
    let leaked = kept.alloc().unwrap();
    assert!(kmem_cache_destroy(kept).is_err());
    assert!(listed(&w, "freed") && listed(&w, "kept"));
    assert!(w.orphans().is_empty(), "listed, not orphaned");
    w.check_invariants().unwrap();
    // The kept orphan's storage outlives the world for its object, as the
    // kernel leaks a busy cache; memcheck would report that block lost, so
    // under valgrind the object is freed first and the orphan released.
    if under_valgrind() {
        w.kfree(leaked).unwrap();
    }
    drop(w);

    // A module's dynamic cache stays listed after its module goes; a
    // module's static cannot (its memory goes with the module), so it is
    // unlisted at once as from 6.12 (Al Viro's v3: mainline has no statics).
    let w = world_with(SlabConfig { scheme: Scheme::ViroV3, ..SlabConfig::with_rules(MergeRules::V6_6) });
    let mut m = w.module_load("busy_mod", 1);
    let c = m.kmem_cache_create("mod_cache", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let object = c.alloc().unwrap();
    assert!(kmem_cache_destroy(c).is_err());
    let s = m.kmem_cache_setup(0, "mod_static", 128, KmemCacheArgs::default(), SLAB_NO_MERGE).unwrap();
    let static_object = s.alloc().unwrap();
    assert!(m.kmem_cache_destroy(0).is_err());
    assert!(!listed(&w, "mod_static"), "a busy static is unlisted");
    w.kfree(static_object).unwrap();
    w.module_unload(m).map_err(|(e, _)| e).unwrap();
    assert!(listed(&w, "mod_cache"), "a dynamic cache outlives its module");
    w.check_invariants().unwrap();
    w.kfree(object).unwrap();
    w.check_invariants().unwrap();
}
