//! The mainline merge rules (`kernel-slab.md` §6) and the argument checks of
//! cache creation (§5.2), one test per rule.
//!
//! A merge is observed as the kernel's caller observes it: the second
//! `kmem_cache_create()` returns the very same `struct kmem_cache` (here the
//! same [`KmemCache`] behind both handles). To show that a rule alone decides
//! a refusal, the request always has the target's stride, so that every other
//! rule of `find_mergeable()` would pass, and a later control request of the
//! same shape merges into the refused one.

use slabmerge::config::{KMALLOC_MAX_SIZE, MergeRules};
use slabmerge::flags::*;
use slabmerge::storage::Ctor;
use slabmerge::sysfs::SysfsNode;
use slabmerge::world::CreateEntry;
use slabmerge::{Cache, KmemCache, KmemCacheArgs, SlabConfig, SlabError, World, kmem_cache_destroy};

mod common;
use common::{create, world, world_with};

fn same(a: &KmemCache, b: &KmemCache) -> bool {
    std::ptr::eq(a, b)
}

/// The sysfs entry called `name`: `Some(None)` for a directory, `Some(Some(target))` for a link.
fn sysfs_entry(w: &World, name: &str) -> Option<Option<String>> {
    w.sysfs().into_iter().find(|e| e.name == name).map(|e| match e.node {
        SysfsNode::Dir => None,
        SysfsNode::Link { target } => Some(target),
    })
}

fn noop_ctor(_: &mut [u8]) {}

fn ctor() -> Option<Ctor> {
    Some(Ctor { name: "test_ctor".into(), func: noop_ctor })
}

/// Shows that `target` cannot be a merge target although a request of its
/// stride would pass every other test: the request gets its own cache, and a
/// control request of the same shape merges into that one.
fn assert_not_a_target(w: &World, target: &KmemCache, why: &str) {
    let size = target.size();
    let request = create(w, "request", size, SlabFlags::EMPTY);
    assert!(!same(target, &request), "{why}: a {size}-byte request merged into {}", target.name());
    let control = create(w, "control", size, SlabFlags::EMPTY);
    assert!(same(&request, &control), "{why}: the control request did not merge into the request's cache");
    assert!(!same(target, &control));
    assert_eq!(target.refcount().max(1), 1, "{why}: nothing aliased the target");
    kmem_cache_destroy(control).unwrap();
    kmem_cache_destroy(request).unwrap();
}

// ---------------------------------------------------------------------------
// §6.1 slab_unmergeable(): what may not be a merge target.

/// mm/slab_common.c: slab_unmergeable(): `s->flags & SLAB_NEVER_MERGE`, for each flag of the 6.18 set a caller may pass.
#[test]
fn slab_unmergeable_rejects_each_never_merge_flag() {
    for flag in
        [SLAB_RED_ZONE, SLAB_POISON, SLAB_STORE_USER, SLAB_TRACE, SLAB_TYPESAFE_BY_RCU, SLAB_NOLEAKTRACE, SLAB_NO_MERGE]
    {
        let w = world();
        let target = create(&w, "target", 64, flag);
        assert!(target.flags().contains(flag));
        // sysfs_slab_add(): an unmergeable cache's directory is its own name.
        assert_eq!(sysfs_entry(&w, "target"), Some(None), "{flag}");
        assert_not_a_target(&w, &target, &flag.to_string());
        kmem_cache_destroy(target).unwrap();
    }
}

/// mm/slab_common.c: slab_unmergeable(): SLAB_FAILSLAB, which only `slab_debug=a` can set (callers get -EINVAL).
#[test]
fn slab_unmergeable_rejects_failslab_from_slab_debug() {
    let cfg = SlabConfig { slab_debug: SlabConfig::parse_slab_debug("a,target").unwrap(), ..Default::default() };
    let w = world_with(cfg);
    let target = create(&w, "target", 64, SlabFlags::EMPTY);
    assert!(target.flags().contains(SLAB_FAILSLAB));
    assert_not_a_target(&w, &target, "SLAB_FAILSLAB");
    kmem_cache_destroy(target).unwrap();
}

/// mm/slab_common.c: slab_unmergeable(): `s->ctor`.
#[test]
fn slab_unmergeable_rejects_a_cache_with_a_ctor() {
    let w = world();
    let args = KmemCacheArgs { ctor: ctor(), ..Default::default() };
    let target = w.kmem_cache_create("target", 64, args, SlabFlags::EMPTY).unwrap();
    // calculate_sizes(): a ctor moves the free pointer after the object.
    assert_eq!(target.size(), 72);
    assert_not_a_target(&w, &target, "ctor");
    kmem_cache_destroy(target).unwrap();
}

/// mm/slab_common.c: slab_unmergeable(): `IS_ENABLED(CONFIG_HARDENED_USERCOPY) && s->usersize`.
#[test]
fn slab_unmergeable_rejects_a_usercopy_region_only_with_hardened_usercopy() {
    let region = || KmemCacheArgs { useroffset: 8, usersize: 16, ..Default::default() };
    let w = world();
    let target = w.kmem_cache_create("target", 64, region(), SlabFlags::EMPTY).unwrap();
    assert_eq!(sysfs_entry(&w, "target"), Some(None));
    assert_not_a_target(&w, &target, "usersize");
    kmem_cache_destroy(target).unwrap();

    // Without CONFIG_HARDENED_USERCOPY the region is dropped and the cache is an ordinary target.
    let w = world_with(SlabConfig { hardened_usercopy: false, ..Default::default() });
    let target = w.kmem_cache_create("target", 64, region(), SlabFlags::EMPTY).unwrap();
    let request = create(&w, "request", 64, SlabFlags::EMPTY);
    assert!(same(&target, &request));
    assert_eq!(target.refcount(), 2);
    kmem_cache_destroy(request).unwrap();
    kmem_cache_destroy(target).unwrap();
}

/// mm/slab_common.c (6.18): slab_unmergeable(): `s->cpu_sheaves` (an explicit sheaf_capacity).
#[test]
fn slab_unmergeable_rejects_6_18_caches_with_sheaves() {
    let w = world();
    let args = KmemCacheArgs { sheaf_capacity: 4, ..Default::default() };
    let target = w.kmem_cache_create("target", 64, args, SlabFlags::EMPTY).unwrap();
    assert_eq!(sysfs_entry(&w, "target"), Some(None));
    assert_not_a_target(&w, &target, "cpu_sheaves");
    kmem_cache_destroy(target).unwrap();
}

/// mm/slab_common.c: slab_unmergeable(): `s->refcount < 0`, set by create_boot_cache().
#[test]
fn slab_unmergeable_rejects_boot_caches() {
    let w = World::bare(SlabConfig::default());
    let boot = w
        .create_entry("boot_cache", 64, KmemCacheArgs::align(8), SLAB_HWCACHE_ALIGN, CreateEntry::CreateBootCache)
        .unwrap();
    assert_eq!(boot.refcount(), -1);
    assert_eq!(sysfs_entry(&w, "boot_cache"), Some(None));
    assert_not_a_target(&w, &boot, "refcount < 0");
}

/// mm/slab_common.c: slab_unmergeable() and find_mergeable(): `slab_nomerge` refuses every merge.
#[test]
fn slab_unmergeable_under_slab_nomerge() {
    let w = world_with(SlabConfig { slab_nomerge: true, ..Default::default() });
    let a = create(&w, "first", 64, SlabFlags::EMPTY);
    let b = create(&w, "second", 64, SlabFlags::EMPTY);
    assert!(!same(&a, &b));
    // sysfs_slab_add(): with slab_nomerge every cache is unmergeable, so self-named, and no link exists.
    assert_eq!(sysfs_entry(&w, "first"), Some(None));
    assert_eq!(sysfs_entry(&w, "second"), Some(None));
    assert!(w.sysfs().iter().all(|e| e.node == SysfsNode::Dir));
    kmem_cache_destroy(b).unwrap();
    kmem_cache_destroy(a).unwrap();
}

/// mm/slab_common.c: SLAB_NEVER_MERGE: 6.18 lets SLAB_CONSISTENCY_CHECKS merge; 7.0 (via SLAB_DEBUG_FLAGS) does not.
#[test]
fn slab_unmergeable_consistency_checks_6_18_versus_7_0() {
    let w = world();
    let target = create(&w, "target", 64, SLAB_CONSISTENCY_CHECKS);
    // create_unique_id(): 'F' for SLAB_CONSISTENCY_CHECKS.
    assert_eq!(sysfs_entry(&w, "target"), Some(Some(String::from(":F-0000064"))));
    let request = create(&w, "request", 64, SlabFlags::EMPTY);
    assert!(same(&target, &request), "6.18: a consistency-checked cache is a target");
    kmem_cache_destroy(request).unwrap();
    kmem_cache_destroy(target).unwrap();

    let w = world_with(SlabConfig { merge_rules: MergeRules::V7_0, ..Default::default() });
    let target = create(&w, "target", 64, SLAB_CONSISTENCY_CHECKS);
    assert_eq!(sysfs_entry(&w, "target"), Some(None));
    assert_not_a_target(&w, &target, "7.0 SLAB_CONSISTENCY_CHECKS");
    let checked = create(&w, "checked", 64, SLAB_CONSISTENCY_CHECKS);
    assert!(!same(&target, &checked), "7.0: the flag also refuses the request");
    kmem_cache_destroy(checked).unwrap();
    kmem_cache_destroy(target).unwrap();
}

// ---------------------------------------------------------------------------
// §6.3 find_mergeable(): preconditions and rules 1-5.

/// mm/slab_common.c: find_mergeable(): a request with a ctor, a usercopy region or a SLAB_NEVER_MERGE flag never merges.
#[test]
fn find_mergeable_preconditions_refuse_the_request() {
    let w = world();
    let target = create(&w, "target", 72, SlabFlags::EMPTY);
    let with_ctor =
        w.kmem_cache_create("with_ctor", 64, KmemCacheArgs { ctor: ctor(), ..Default::default() }, SlabFlags::EMPTY);
    let with_ctor = with_ctor.unwrap();
    assert!(!same(&target, &with_ctor), "ctor");
    let usercopy = KmemCacheArgs { useroffset: 0, usersize: 72, ..Default::default() };
    let usercopy = w.kmem_cache_create("usercopy", 72, usercopy, SlabFlags::EMPTY).unwrap();
    assert!(!same(&target, &usercopy), "usersize");
    let mut others = Vec::new();
    for (i, flag) in
        [SLAB_NO_MERGE, SLAB_TYPESAFE_BY_RCU, SLAB_NOLEAKTRACE, SLAB_RED_ZONE, SLAB_POISON].into_iter().enumerate()
    {
        let c = create(&w, &format!("never_merge_{i}"), 72, flag);
        assert!(!same(&target, &c), "{flag}");
        others.push(c);
    }
    assert_eq!(target.refcount(), 1);
    for c in others {
        kmem_cache_destroy(c).unwrap();
    }
    kmem_cache_destroy(usercopy).unwrap();
    kmem_cache_destroy(with_ctor).unwrap();
    kmem_cache_destroy(target).unwrap();
}

/// mm/slab_common.c: find_mergeable(): `list_for_each_entry_reverse(s, &slab_caches, list)` finds the oldest target.
///
/// Two compatible targets can only coexist when the younger one skipped the
/// alias attempt yet became a target: 6.18's sheaf_capacity gate with a
/// debug flag outside SLAB_NEVER_MERGE, which leaves the cache without
/// sheaves (`kernel-slab.md` §6.6).
#[test]
fn find_mergeable_picks_the_oldest_compatible_cache() {
    let w = world();
    let gated = || KmemCacheArgs { sheaf_capacity: 4, ..Default::default() };
    let first = w.kmem_cache_create("first", 64, gated(), SLAB_CONSISTENCY_CHECKS).unwrap();
    let second = w.kmem_cache_create("second", 64, gated(), SLAB_CONSISTENCY_CHECKS).unwrap();
    assert!(!same(&first, &second), "the sheaf_capacity gate skipped the alias attempt");
    let third = create(&w, "third", 64, SlabFlags::EMPTY);
    assert!(same(&first, &third), "the oldest compatible cache wins");
    // The first creator's destroy keeps the cache (refcount 1), so it is still the oldest.
    kmem_cache_destroy(first).unwrap();
    let fourth = create(&w, "fourth", 64, SlabFlags::EMPTY);
    assert!(same(&third, &fourth));
    assert_eq!(fourth.name(), "first");
    kmem_cache_destroy(third).unwrap();
    kmem_cache_destroy(fourth).unwrap();
    // Once it is gone, the next oldest is chosen.
    let fifth = create(&w, "fifth", 64, SlabFlags::EMPTY);
    assert!(same(&second, &fifth));
    assert_eq!(second.refcount(), 2);
    kmem_cache_destroy(fifth).unwrap();
    kmem_cache_destroy(second).unwrap();
}

/// mm/slab_common.c: find_mergeable(): rules 2 and 5 (`size <= s->size`, `s->size - size < sizeof(void *)`) mean equal rounded sizes.
#[test]
fn find_mergeable_requires_equal_rounded_sizes() {
    for (size, merges) in [(64, true), (57, true), (60, true), (56, false), (65, false), (48, false)] {
        let w = world();
        let target = create(&w, "target", 64, SlabFlags::EMPTY);
        let request = create(&w, "request", size, SlabFlags::EMPTY);
        assert_eq!(same(&target, &request), merges, "object size {size} against a 64-byte stride");
        if !merges {
            assert_eq!(request.size(), size.next_multiple_of(8));
        }
        kmem_cache_destroy(request).unwrap();
        kmem_cache_destroy(target).unwrap();
    }
}

/// mm/slab_common.c: find_mergeable(): rule 3, `(flags & SLAB_MERGE_SAME) == (s->flags & SLAB_MERGE_SAME)`.
#[test]
fn find_mergeable_requires_equal_merge_same_flags() {
    for (flag, id) in [
        (SLAB_CACHE_DMA, ":d-0000064"),
        (SLAB_CACHE_DMA32, ":D-0000064"),
        (SLAB_RECLAIM_ACCOUNT, ":a-0000064"),
        (SLAB_ACCOUNT, ":A-0000064"),
    ] {
        let w = world();
        let target = create(&w, "target", 64, flag);
        assert_eq!(sysfs_entry(&w, "target"), Some(Some(id.to_owned())), "{flag}");
        let plain = create(&w, "plain", 64, SlabFlags::EMPTY);
        assert!(!same(&target, &plain), "{flag} on the target only");
        let other = [SLAB_CACHE_DMA, SLAB_ACCOUNT].into_iter().find(|f| *f != flag).unwrap();
        let mixed = create(&w, "mixed", 64, flag | other);
        assert!(!same(&target, &mixed), "{flag} against {flag}|{other}");
        let matching = create(&w, "matching", 64, flag);
        assert!(same(&target, &matching), "{flag} on both");
        for c in [matching, mixed, plain, target] {
            kmem_cache_destroy(c).unwrap();
        }
    }
}

/// mm/slab_common.c: find_mergeable(): rule 4, `(s->size & ~(align - 1)) == s->size`: a larger
/// alignment merges when the stride is a multiple of it (object 192 with align 64 into a 192-byte cache).
#[test]
fn find_mergeable_accepts_a_larger_alignment_that_divides_the_stride() {
    let w = world();
    let target = create(&w, "target", 192, SlabFlags::EMPTY);
    let aligned = w.kmem_cache_create("aligned64", 192, KmemCacheArgs::align(64), SlabFlags::EMPTY).unwrap();
    assert!(same(&target, &aligned), "192 with align 64 merges into a 192-byte cache");
    // size = ALIGN(192, 128) = 256: the stride no longer matches.
    let too_aligned = w.kmem_cache_create("aligned128", 192, KmemCacheArgs::align(128), SlabFlags::EMPTY).unwrap();
    assert!(!same(&target, &too_aligned));
    assert_eq!(too_aligned.size(), 256);
    // SLAB_HWCACHE_ALIGN only acts through calculate_alignment(): 100 bytes -> align 64 -> 128.
    let t128 = create(&w, "t128", 128, SlabFlags::EMPTY);
    let hw = create(&w, "hwcache", 100, SLAB_HWCACHE_ALIGN);
    assert!(same(&t128, &hw));
    // The target keeps its own alignment and flags (__kmem_cache_alias() records neither).
    let info = w.caches().into_iter().find(|c| c.name == "target").unwrap();
    assert_eq!((info.align, info.size, info.flags), (8, 192, SlabFlags::EMPTY));
    assert_eq!(t128.flags(), SlabFlags::EMPTY);
    for c in [hw, t128, too_aligned, aligned, target] {
        kmem_cache_destroy(c).unwrap();
    }
}

/// mm/slab_common.c: find_mergeable(): flags outside SLAB_MERGE_SAME (and outside SLAB_NEVER_MERGE) are not compared.
#[test]
fn find_mergeable_ignores_flags_outside_merge_same() {
    let w = world();
    let target = create(&w, "target", 64, SlabFlags::EMPTY);
    let mut aliases = Vec::new();
    for (i, flag) in
        [SLAB_PANIC, SLAB_HWCACHE_ALIGN, SLAB_NO_USER_FLAGS, SLAB_DEBUG_OBJECTS, SLAB_KMALLOC, SLAB_CONSISTENCY_CHECKS]
            .into_iter()
            .enumerate()
    {
        let c = create(&w, &format!("alias_{i}"), 64, flag);
        assert!(same(&target, &c), "{flag} must not keep a request from merging");
        aliases.push(c);
    }
    assert_eq!(target.refcount(), 7);
    assert_eq!(target.flags(), SlabFlags::EMPTY, "the aliases' flags are not recorded");
    for c in aliases {
        kmem_cache_destroy(c).unwrap();
    }
    // And the other way round: the target's own flags outside MERGE_SAME do not matter.
    let flagged = create(&w, "flagged", 128, SLAB_PANIC | SLAB_HWCACHE_ALIGN | SLAB_NO_USER_FLAGS);
    let plain = create(&w, "plain", 128, SlabFlags::EMPTY);
    assert!(same(&flagged, &plain));
    for c in [plain, flagged, target] {
        kmem_cache_destroy(c).unwrap();
    }
}

// ---------------------------------------------------------------------------
// §6.4 __kmem_cache_alias().

/// mm/slab_common.c: __kmem_cache_alias(): the same cache, `refcount++`, `object_size` widened
/// (`kmem_cache_size()`), the stride and name unchanged, a sysfs link for the new name.
#[test]
fn kmem_cache_alias_increments_refcount_and_widens_object_size() {
    let w = world();
    let first = create(&w, "first", 60, SlabFlags::EMPTY);
    assert_eq!((first.object_size(), first.size(), first.refcount()), (60, 64, 1));
    let wider = create(&w, "wider", 64, SlabFlags::EMPTY);
    assert!(same(&first, &wider));
    assert_eq!((first.object_size(), first.size(), first.refcount()), (64, 64, 2));
    let narrower = create(&w, "narrower", 57, SlabFlags::EMPTY);
    assert!(same(&first, &narrower));
    assert_eq!((first.object_size(), first.refcount()), (64, 3), "object_size only grows");
    assert_eq!(narrower.name(), "first", "s->name stays the first creator's");
    assert_eq!(narrower.creator_name(), "narrower");
    let info = w.caches().into_iter().find(|c| c.name == "first").unwrap();
    assert_eq!(info.names, ["first", "wider", "narrower"]);
    assert_eq!(w.caches().iter().filter(|c| c.sysfs_dir == ":0000064").count(), 1, "one listed cache");
    for name in ["first", "wider", "narrower"] {
        assert_eq!(sysfs_entry(&w, name), Some(Some(String::from(":0000064"))), "{name}");
    }
    // The widened object_size is what zeroing allocations clear, through any handle.
    let mut o = first.alloc().unwrap();
    first.object_bytes(&mut o).unwrap().fill(0xa5);
    let addr = o.addr();
    first.free(o).unwrap();
    let mut z = narrower.zalloc().unwrap();
    assert_eq!(z.addr(), addr, "the sheaf hands the same object back (LIFO)");
    let bytes = narrower.object_bytes(&mut z).unwrap();
    assert_eq!(bytes.len(), 64);
    assert!(bytes.iter().all(|b| *b == 0));
    narrower.free(z).unwrap();
    for c in [narrower, wider, first] {
        kmem_cache_destroy(c).unwrap();
    }
}

/// mm/slub.c (6.18; mm/slab_common.c in 7.0): __kmem_cache_alias():
/// `s->inuse = max(s->inuse, ALIGN(size, sizeof(void *)))`. A 50-byte cache
/// with SLAB_HWCACHE_ALIGN has inuse 56 in a 64-byte stride; a 57-byte alias
/// (ALIGN 64) widens it to 64. (A 51-byte request, ALIGN 56, would not merge:
/// find_mergeable() wants `s->size - size < sizeof(void *)`, so after one
/// merge inuse is the stride.) The free pointer stays where the first
/// creator's layout put it.
#[test]
fn kmem_cache_alias_widens_inuse_to_the_aligned_size() {
    let w = world();
    let first = create(&w, "first", 50, SLAB_HWCACHE_ALIGN);
    assert_eq!((first.object_size(), first.inuse(), first.size(), first.offset()), (50, 56, 64, 24));
    let wider = create(&w, "wider", 57, SlabFlags::EMPTY);
    assert!(same(&first, &wider));
    assert_eq!((first.object_size(), first.inuse()), (57, 64), "ALIGN(57, 8) = 64");
    let refused = create(&w, "refused", 51, SlabFlags::EMPTY);
    assert!(!same(&first, &refused), "56 is not within a word of the 64-byte stride");
    let again = create(&w, "again", 60, SlabFlags::EMPTY);
    assert!(same(&first, &again));
    assert_eq!((first.object_size(), first.inuse()), (60, 64), "object_size and inuse only grow");
    assert_eq!((first.size(), first.offset()), (64, 24), "the stride and the free pointer do not move");
    for c in [refused, again, wider, first] {
        kmem_cache_destroy(c).unwrap();
    }
}

// ---------------------------------------------------------------------------
// The fields of struct kmem_cache and its sysfs directory.

/// mm/slab_common.c: __kmem_cache_create_args() keeps a consistent usercopy
/// region (`s->useroffset`, `s->usersize`); mm/slub.c: calculate_sizes() puts
/// the free pointer in the middle, `ALIGN_DOWN(object_size / 2, sizeof(void *))`,
/// unless a ctor or SLAB_TYPESAFE_BY_RCU move it out, to `offset = inuse`;
/// the `*_show()` of each flag attribute reads `!!(s->flags & FLAG)`.
#[test]
fn kmem_cache_getters_show_the_kernel_fields() {
    fn ctor(_: &mut [u8]) {}
    let w = world();
    let args = KmemCacheArgs { useroffset: 16, usersize: 32, ..Default::default() };
    let user = w.kmem_cache_create("user", 100, args, SLAB_HWCACHE_ALIGN | SLAB_RECLAIM_ACCOUNT).unwrap();
    assert_eq!((user.useroffset(), user.usersize()), (16, 32));
    assert_eq!((user.inuse(), user.offset(), user.align(), user.size()), (104, 48, 64, 128));
    assert!(user.ctor().is_none());
    assert_eq!((user.refcount(), user.aliases()), (1, 0));
    let f = user.sysfs_flags();
    assert!(f.hwcache_align() && f.reclaim_account());
    let set: Vec<&str> = f.attributes().filter(|(_, v)| *v).map(|(n, _)| n).collect();
    assert_eq!(set, ["hwcache_align", "reclaim_account"]);
    assert_eq!((f.get("cache_dma"), f.get("object_size")), (Some(false), None));

    let args = KmemCacheArgs { ctor: Some(Ctor { name: "init_once".into(), func: ctor }), ..Default::default() };
    let with_ctor = w.kmem_cache_create("with_ctor", 100, args, SlabFlags::EMPTY).unwrap();
    assert_eq!(with_ctor.ctor().map(|c| &*c.name), Some("init_once"));
    assert_eq!((with_ctor.inuse(), with_ctor.offset()), (104, 104), "a ctor keeps the free pointer outside");

    let rcu = create(&w, "rcu", 100, SLAB_TYPESAFE_BY_RCU);
    assert_eq!((rcu.inuse(), rcu.offset()), (104, 104), "RCU keeps the free pointer outside");
    assert!(rcu.sysfs_flags().destroy_by_rcu() && !rcu.sysfs_flags().hwcache_align());

    // Without CONFIG_HARDENED_USERCOPY the region is dropped: 0/0.
    let plain = world_with(SlabConfig { hardened_usercopy: false, ..SlabConfig::default() });
    let args = KmemCacheArgs { useroffset: 16, usersize: 32, ..Default::default() };
    let c = plain.kmem_cache_create("user", 100, args, SlabFlags::EMPTY).unwrap();
    assert_eq!((c.useroffset(), c.usersize()), (0, 0));
    for c in [user, with_ctor, rcu, c] {
        kmem_cache_destroy(c).unwrap();
    }
}

/// 6.18 mm/slab_common.c: create_boot_cache() ends with `s->refcount = -1`
/// ("Exempt from merging for now") and kmem_cache_init() passes it no
/// usercopy region; create_kmalloc_cache() calls it with `useroffset 0,
/// usersize size`, then sets `s->refcount = 1`. So no cache ends boot with
/// both a region and refcount -1 (6.1's create_kmalloc_cache() also resets
/// the refcount to 1). sysfs `aliases` reads 0 for both.
#[test]
fn boot_and_kmalloc_caches_hold_the_kernel_refcount_and_usercopy_region() {
    let w = world();
    let kmalloc = w.kmalloc_cache(64).expect("kmalloc-64");
    assert_eq!(kmalloc.name(), "kmalloc-64");
    assert_eq!((kmalloc.refcount(), kmalloc.useroffset(), kmalloc.usersize(), kmalloc.aliases()), (1, 0, 64, 0));
    assert!(kmalloc.flags().contains(SLAB_KMALLOC));
    let boot = w
        .create_entry("kmem_cache", 232, KmemCacheArgs::align(8), SLAB_HWCACHE_ALIGN, CreateEntry::CreateBootCache)
        .unwrap();
    assert_eq!((boot.refcount(), boot.useroffset(), boot.usersize(), boot.aliases()), (-1, 0, 0, 0));
    let plain = world_with(SlabConfig { hardened_usercopy: false, ..SlabConfig::default() });
    assert_eq!(plain.kmalloc_cache(64).unwrap().usersize(), 0, "no region without CONFIG_HARDENED_USERCOPY");
}

// ---------------------------------------------------------------------------
// §6.5 the freeptr_offset hazard.

/// mm/slab_common.c: __kmem_cache_create_args() tries __kmem_cache_alias() before create_cache()
/// checks freeptr_offset, so an invalid request merges silently when a target exists.
#[test]
fn freeptr_offset_without_rcu_merges_silently_into_an_existing_cache() {
    let w = world();
    let target = create(&w, "target", 64, SlabFlags::EMPTY);
    let args = KmemCacheArgs { freeptr_offset: 0, use_freeptr_offset: true, ..Default::default() };
    let request = w.kmem_cache_create("request", 64, args, SlabFlags::EMPTY).unwrap();
    assert!(same(&target, &request));
    assert_eq!(target.refcount(), 2);
    assert!(w.reports().is_empty(), "nothing is reported: {:?}", w.reports());
    kmem_cache_destroy(request).unwrap();
    kmem_cache_destroy(target).unwrap();
}

/// mm/slab_common.c: create_cache(): `use_freeptr_offset` without SLAB_TYPESAFE_BY_RCU is -EINVAL when nothing to merge with.
#[test]
fn freeptr_offset_without_rcu_fails_with_einval_when_no_target_exists() {
    let w = world();
    let args = KmemCacheArgs { freeptr_offset: 0, use_freeptr_offset: true, ..Default::default() };
    let err = w.kmem_cache_create("request", 64, args, SlabFlags::EMPTY).unwrap_err();
    assert!(matches!(err, SlabError::InvalidArgument(_)), "{err:?}");
    assert_eq!(err.to_errno(), -22);
    assert!(w.reports().iter().any(|r| r.message.contains("__kmem_cache_create_args(request) failed with error -22")));
    assert!(w.caches().iter().all(|c| c.name != "request"));
    assert_eq!(sysfs_entry(&w, "request"), None);
}

// ---------------------------------------------------------------------------
// §6.6 merging and sheaves.

/// mm/slab_common.c (6.18): __kmem_cache_create_args() skips the alias attempt when `args->sheaf_capacity`,
/// and slab_unmergeable() rejects a cache that got sheaves; a debug cache gets none and stays a target.
#[test]
fn sheaf_capacity_gate_6_18() {
    let w = world();
    let target = create(&w, "target", 64, SlabFlags::EMPTY);
    let args = || KmemCacheArgs { sheaf_capacity: 4, ..Default::default() };
    let sheaves = w.kmem_cache_create("sheaves", 64, args(), SlabFlags::EMPTY).unwrap();
    assert!(!same(&target, &sheaves), "an explicit sheaf_capacity never aliases");
    assert!(!sheaves.flags().intersects(SLAB_NO_MERGE), "6.18 adds no flag");
    assert_eq!(sysfs_entry(&w, "sheaves"), Some(None));
    let debug = w.kmem_cache_create("debug_sheaves", 64, args(), SLAB_CONSISTENCY_CHECKS).unwrap();
    assert!(!same(&target, &debug) && !same(&sheaves, &debug));
    kmem_cache_destroy(target).unwrap();
    // Now the oldest candidates are `sheaves` (not a target: it has sheaves) and
    // `debug_sheaves` (a target: SLAB_CONSISTENCY_CHECKS left it without sheaves).
    let plain = create(&w, "plain", 64, SlabFlags::EMPTY);
    assert!(!same(&sheaves, &plain));
    assert!(same(&debug, &plain));
    for c in [plain, debug, sheaves] {
        kmem_cache_destroy(c).unwrap();
    }
}

/// mm/slab_common.c (7.0): __kmem_cache_create_args(): `if (args->sheaf_capacity) flags |= SLAB_NO_MERGE`,
/// so neither direction merges, debug or not; automatic sheaves do not stop merging.
#[test]
fn sheaf_capacity_7_0_adds_slab_no_merge() {
    let w = world_with(SlabConfig { merge_rules: MergeRules::V7_0, ..Default::default() });
    let target = create(&w, "target", 64, SlabFlags::EMPTY);
    let automatic = create(&w, "automatic", 64, SlabFlags::EMPTY);
    assert!(same(&target, &automatic), "automatic sheaves are never compared");
    let args = KmemCacheArgs { sheaf_capacity: 4, ..Default::default() };
    let sheaves = w.kmem_cache_create("sheaves", 64, args, SlabFlags::EMPTY).unwrap();
    assert!(!same(&target, &sheaves));
    assert!(sheaves.flags().contains(SLAB_NO_MERGE));
    assert_eq!(sysfs_entry(&w, "sheaves"), Some(None));
    kmem_cache_destroy(automatic).unwrap();
    kmem_cache_destroy(target).unwrap();
    assert_not_a_target(&w, &sheaves, "7.0 explicit sheaf_capacity");
    kmem_cache_destroy(sheaves).unwrap();
}

// ---------------------------------------------------------------------------
// §6.7 kmalloc caches.

/// mm/slab_common.c: new_kmalloc_cache() (SLAB_NO_MERGE with CONFIG_MEMCG) and create_kmalloc_cache()
/// (usersize = size): kmalloc caches are no targets unless both are off.
#[test]
fn kmalloc_caches_are_unmergeable_with_memcg_or_hardened_usercopy() {
    for (memcg, hardened, merges) in
        [(true, true, false), (true, false, false), (false, true, false), (false, false, true)]
    {
        let w = world_with(SlabConfig { memcg, hardened_usercopy: hardened, ..Default::default() });
        let kmalloc64 = w.kmalloc_cache(64).unwrap();
        assert_eq!(kmalloc64.name(), "kmalloc-64");
        assert_eq!(kmalloc64.flags().intersects(SLAB_NO_MERGE), memcg);
        let request = create(&w, "request", 64, SlabFlags::EMPTY);
        assert_eq!(same(kmalloc64, &request), merges, "memcg {memcg}, hardened usercopy {hardened}");
        let dir = if merges { Some(Some(String::from(":0000064"))) } else { Some(None) };
        assert_eq!(sysfs_entry(&w, "kmalloc-64"), dir, "memcg {memcg}, hardened usercopy {hardened}");
        kmem_cache_destroy(request).unwrap();
    }
}

/// mm/slab_common.c: create_kmalloc_cache() passes `flags | SLAB_KMALLOC` to create_boot_cache().
#[test]
fn create_kmalloc_cache_sets_slab_kmalloc() {
    let w = world();
    for size in [8, 64, 96, 192, 8192] {
        let c = w.kmalloc_cache(size).unwrap();
        assert!(c.flags().contains(SLAB_KMALLOC), "{} has flags {}", c.name(), c.flags());
    }
}

// ---------------------------------------------------------------------------
// §4.4 kmem_cache_flags(): slab_debug= by name.

/// mm/slub.c: kmem_cache_flags(), called by find_mergeable(): a name listed in `slab_debug=` gets the block's flags,
/// and a flag in SLAB_NEVER_MERGE keeps it from merging; SLAB_NO_USER_FLAGS ignores the option.
#[test]
fn slab_debug_by_name_prevents_merging() {
    let cfg =
        SlabConfig { slab_debug: SlabConfig::parse_slab_debug("Z,victim;U,glob*").unwrap(), ..Default::default() };
    let w = world_with(cfg);
    let target = create(&w, "target", 64, SlabFlags::EMPTY);
    let victim = create(&w, "victim", 64, SlabFlags::EMPTY);
    assert!(!same(&target, &victim));
    assert!(victim.flags().contains(SLAB_RED_ZONE));
    let globbed = create(&w, "glob_cache", 64, SlabFlags::EMPTY);
    assert!(!same(&target, &globbed));
    assert!(globbed.flags().contains(SLAB_STORE_USER));
    let bystander = create(&w, "bystander", 64, SlabFlags::EMPTY);
    assert!(same(&target, &bystander), "an unlisted name merges");
    let exempt = create(&w, "victim", 64, SLAB_NO_USER_FLAGS);
    assert!(same(&target, &exempt), "SLAB_NO_USER_FLAGS: kmem_cache_flags() returns the flags untouched");
    for c in [exempt, bystander, globbed, victim, target] {
        kmem_cache_destroy(c).unwrap();
    }
}

/// mm/slub.c: kmem_cache_flags(): a debug flag outside SLAB_NEVER_MERGE (6.18: F) does not stop the merge, and
/// the merged name then gets the target's flags, not its own.
#[test]
fn slab_debug_by_name_outside_never_merge_follows_the_target() {
    let cfg = SlabConfig { slab_debug: SlabConfig::parse_slab_debug("F,checked").unwrap(), ..Default::default() };
    let w = world_with(cfg);
    let target = create(&w, "target", 64, SlabFlags::EMPTY);
    let checked = create(&w, "checked", 64, SlabFlags::EMPTY);
    assert!(same(&target, &checked));
    assert!(!checked.flags().intersects(SLAB_CONSISTENCY_CHECKS), "the shared cache keeps the target's flags");
    kmem_cache_destroy(checked).unwrap();
    kmem_cache_destroy(target).unwrap();
    // Created first, the listed name owns the cache and its flags.
    let checked = create(&w, "checked", 64, SlabFlags::EMPTY);
    assert!(checked.flags().contains(SLAB_CONSISTENCY_CHECKS));
    assert_eq!(sysfs_entry(&w, "checked"), Some(Some(String::from(":F-0000064"))));
    kmem_cache_destroy(checked).unwrap();
}

// ---------------------------------------------------------------------------
// §5.2 __kmem_cache_create_args(): invalid arguments.

fn assert_einval(w: &World, result: Result<Cache<'_>, SlabError>, what: &str) {
    match result {
        Err(err) => {
            assert!(matches!(err, SlabError::InvalidArgument(_)), "{what}: {err:?}");
            assert_eq!(err.to_errno(), -22, "{what}");
        }
        Ok(c) => panic!("{what}: created {}", c.name()),
    }
    assert!(w.reports().iter().any(|r| r.function == "__kmem_cache_create_args"), "{what}: no report");
}

/// mm/slab_common.c: __kmem_cache_create_args(): size 0 is refused with -EINVAL (the kernel divides by the stride).
#[test]
fn kmem_cache_create_rejects_size_zero() {
    let w = world();
    assert_einval(&w, w.kmem_cache_create("zero", 0, KmemCacheArgs::default(), SlabFlags::EMPTY), "size 0");
    assert!(w.reports().iter().any(|r| r.message == "__kmem_cache_create_args(zero) failed with error -22"));
    assert_eq!(sysfs_entry(&w, "zero"), None);
}

/// mm/slab_common.c: kmem_cache_sanity_check(): `size > KMALLOC_MAX_SIZE` is -EINVAL; KMALLOC_MAX_SIZE itself fits.
#[test]
fn kmem_cache_create_rejects_sizes_above_kmalloc_max_size() {
    let w = world();
    let too_big = (KMALLOC_MAX_SIZE + 1) as u32;
    assert_einval(&w, w.kmem_cache_create("huge", too_big, KmemCacheArgs::default(), SlabFlags::EMPTY), "size");
    let max = w.kmem_cache_create("max", KMALLOC_MAX_SIZE as u32, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let info = w.caches().into_iter().find(|c| c.name == "max").unwrap();
    assert_eq!((info.order, info.objs_per_slab), (10, 1), "get_order(4 MiB) = MAX_PAGE_ORDER");
    kmem_cache_destroy(max).unwrap();
}

/// mm/slab_common.c: __kmem_cache_create_args(): `flags & ~SLAB_FLAGS_PERMITTED` is -EINVAL;
/// SLAB_FLAGS_PERMITTED = SLAB_CORE_FLAGS | SLAB_DEBUG_FLAGS (mm/slab.h).
#[test]
fn kmem_cache_create_rejects_flags_outside_slab_flags_permitted() {
    for flag in [SLAB_FAILSLAB, SLAB_KASAN, SLAB_SKIP_KFENCE, __OBJECT_POISON, __CMPXCHG_DOUBLE, SLAB_NO_OBJ_EXT] {
        let w = world();
        assert_einval(&w, w.kmem_cache_create("bad", 64, KmemCacheArgs::default(), flag), &flag.to_string());
        // Even next to permitted flags.
        let w = world();
        let flags = flag | SLAB_HWCACHE_ALIGN;
        assert_einval(&w, w.kmem_cache_create("bad", 64, KmemCacheArgs::default(), flags), &flags.to_string());
    }
    for flag in [
        SLAB_HWCACHE_ALIGN,
        SLAB_CACHE_DMA,
        SLAB_CACHE_DMA32,
        SLAB_PANIC,
        SLAB_TYPESAFE_BY_RCU,
        SLAB_DEBUG_OBJECTS,
        SLAB_NOLEAKTRACE,
        SLAB_RECLAIM_ACCOUNT,
        SLAB_TEMPORARY,
        SLAB_ACCOUNT,
        SLAB_NO_USER_FLAGS,
        SLAB_KMALLOC,
        SLAB_NO_MERGE,
        SLAB_RED_ZONE,
        SLAB_POISON,
        SLAB_STORE_USER,
        SLAB_TRACE,
        SLAB_CONSISTENCY_CHECKS,
    ] {
        let w = world();
        let c = w.kmem_cache_create("good", 64, KmemCacheArgs::default(), flag);
        let c = c.unwrap_or_else(|e| panic!("{flag} is permitted: {e}"));
        kmem_cache_destroy(c).unwrap();
    }
}

/// mm/slab_common.c: __kmem_cache_create_args(): a usercopy region outside the object is a WARN, set to 0/0,
/// not an error; the request then tries to alias like any other.
#[test]
fn kmem_cache_create_sanitises_a_usercopy_region_outside_the_object() {
    for (useroffset, usersize) in [(4, 0), (0, 72), (60, 8), (64, 1)] {
        let w = world();
        let target = create(&w, "target", 64, SlabFlags::EMPTY);
        let args = KmemCacheArgs { useroffset, usersize, ..Default::default() };
        let request = w.kmem_cache_create("request", 64, args, SlabFlags::EMPTY).unwrap();
        assert!(same(&target, &request), "region {useroffset}+{usersize}: dropped, so the request merges");
        let warn = w.reports().into_iter().find(|r| r.function == "__kmem_cache_create_args");
        let warn = warn.unwrap_or_else(|| panic!("region {useroffset}+{usersize}: no WARN"));
        assert_eq!(warn.cache.as_deref(), Some("request"));
        assert!(warn.message.starts_with("WARN"), "{}", warn.message);
        kmem_cache_destroy(request).unwrap();
        kmem_cache_destroy(target).unwrap();
    }
    // A consistent region is kept (no WARN), so the cache stays apart.
    let w = world();
    let target = create(&w, "target", 64, SlabFlags::EMPTY);
    let args = KmemCacheArgs { useroffset: 48, usersize: 16, ..Default::default() };
    let request = w.kmem_cache_create("request", 64, args, SlabFlags::EMPTY).unwrap();
    assert!(!same(&target, &request));
    assert!(w.reports().is_empty(), "{:?}", w.reports());
    kmem_cache_destroy(request).unwrap();
    kmem_cache_destroy(target).unwrap();
}

/// mm/slab_common.c: create_cache(): freeptr_offset must be below the object size, aligned to
/// `__alignof__(freeptr_t)`, and (6.18) on a SLAB_TYPESAFE_BY_RCU cache; otherwise -EINVAL.
#[test]
fn kmem_cache_create_rejects_invalid_freeptr_offsets() {
    let at = |freeptr_offset| KmemCacheArgs { freeptr_offset, use_freeptr_offset: true, ..Default::default() };
    for (offset, flags, what) in [
        (64, SLAB_TYPESAFE_BY_RCU, "offset == object size"),
        (72, SLAB_TYPESAFE_BY_RCU, "offset beyond the object"),
        (4, SLAB_TYPESAFE_BY_RCU, "offset not aligned to freeptr_t"),
        (8, SlabFlags::EMPTY, "no SLAB_TYPESAFE_BY_RCU (and nothing to merge with)"),
        (8, SLAB_NO_MERGE, "no SLAB_TYPESAFE_BY_RCU"),
    ] {
        let w = world();
        assert_einval(&w, w.kmem_cache_create("fp", 64, at(offset), flags), what);
    }
    let w = world();
    let rcu = w.kmem_cache_create("rcu", 64, KmemCacheArgs::default(), SLAB_TYPESAFE_BY_RCU).unwrap();
    let inside = w.kmem_cache_create("rcu_fp", 64, at(56), SLAB_TYPESAFE_BY_RCU).unwrap();
    // calculate_sizes(): RCU puts the free pointer after the object, unless an offset inside it is given.
    assert_eq!((rcu.size(), inside.size()), (72, 64));
    kmem_cache_destroy(inside).unwrap();
    kmem_cache_destroy(rcu).unwrap();
}

/// mm/slab_common.c: __kmem_cache_create_args(): with SLAB_PANIC the kernel panics with
/// "%s: Failed to create slab '%s'. Error %d"; the library returns the error and logs that text.
#[test]
fn slab_panic_failure_returns_the_error_and_reports_it() {
    let w = world();
    let err = w.kmem_cache_create("panicky", 0, KmemCacheArgs::default(), SLAB_PANIC).unwrap_err();
    assert_eq!(err.to_errno(), -22);
    let reports = w.reports();
    let report = reports.iter().find(|r| r.cache.as_deref() == Some("panicky")).expect("a report");
    assert!(
        report.message.starts_with("__kmem_cache_create_args: Failed to create slab 'panicky'. Error -22"),
        "{}",
        report.message
    );
    // The world is still usable.
    let next = create(&w, "next", 64, SLAB_PANIC);
    assert!(next.alloc().map(|o| next.free(o).is_ok()).unwrap());
    kmem_cache_destroy(next).unwrap();
}

/// mm/slab_common.c: kmem_cache_sanity_check() (CONFIG_DEBUG_VM): a duplicate of a listed cache's name
/// is a WARN, not an error; aliases are not on slab_caches, so a duplicate of an alias name is silent.
#[test]
fn kmem_cache_sanity_check_warns_on_duplicate_names_of_listed_caches() {
    let w = world_with(SlabConfig { debug_vm: true, ..Default::default() });
    let first = create(&w, "dup", 64, SlabFlags::EMPTY);
    let alias = create(&w, "alias_name", 64, SlabFlags::EMPTY);
    assert!(w.reports().is_empty());
    let again = create(&w, "dup", 64, SlabFlags::EMPTY);
    assert!(same(&first, &again));
    assert!(w.reports().iter().any(|r| r.message == "kmem_cache of name 'dup' already exists"));
    let before = w.reports().len();
    let alias_again = create(&w, "alias_name", 64, SlabFlags::EMPTY);
    assert_eq!(w.reports().len(), before, "{:?}", w.reports());
    for c in [alias_again, again, alias, first] {
        kmem_cache_destroy(c).unwrap();
    }
}
