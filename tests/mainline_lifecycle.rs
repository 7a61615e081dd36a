//! The mainline cache lifecycle: destroy orders, the sysfs tree they leave
//! (`kernel-slab.md` §13.4), destroy with objects still allocated (§12.1,
//! §16) and module unload.
//!
//! After every step each test compares the whole `/sys/kernel/slab` tree
//! (kmalloc caches left out) and the list of caches with what the kernel
//! would show, and runs the library's invariant checker.

use slabmerge::flags::*;
use slabmerge::{InstanceState, KmemCache, KmemCacheArgs, SlabConfig, SlabError, World, kmem_cache_destroy};

mod common;
use common::{create, tree, world};

/// `slab_caches` without the kmalloc caches: (s->name, refcount, names sharing it).
fn listed(w: &World) -> Vec<(String, i32, Vec<String>)> {
    w.caches().into_iter().filter(|c| !c.flags.contains(SLAB_KMALLOC)).map(|c| (c.name, c.refcount, c.names)).collect()
}

fn entry(name: &str, refcount: i32, names: &[&str]) -> (String, i32, Vec<String>) {
    (name.to_owned(), refcount, names.iter().map(|n| n.to_string()).collect())
}

/// Checks the tree, the list and the library's invariants after a step.
fn check(w: &World, step: &str, want_tree: &[&str], want_listed: &[(String, i32, Vec<String>)]) {
    assert_eq!(tree(w), want_tree, "sysfs after {step}");
    assert_eq!(listed(w), want_listed, "slab_caches after {step}");
    w.check_invariants().unwrap_or_else(|e| panic!("after {step}: {e}"));
}

fn same(a: &KmemCache, b: &KmemCache) -> bool {
    std::ptr::eq(a, b)
}

/// mm/slab_common.c: kmem_cache_destroy(): the first creator's destroy only drops the refcount; the
/// cache lives on under its name for the aliases; the final destroy removes the directory and
/// leaves every name's link behind (mm/slub.c: sysfs_slab_unlink()).
#[test]
fn destroy_first_creator_before_aliases_keeps_the_cache_under_the_first_name() {
    let w = world();
    let a = create(&w, "a", 64, SlabFlags::EMPTY);
    let b = create(&w, "b", 64, SlabFlags::EMPTY);
    let c = create(&w, "c", 64, SlabFlags::EMPTY);
    assert!(same(&a, &b) && same(&b, &c));
    let all = ["dir :0000064", "a -> :0000064", "b -> :0000064", "c -> :0000064"];
    check(&w, "creating a, b, c", &all, &[entry("a", 3, &["a", "b", "c"])]);

    kmem_cache_destroy(a).unwrap();
    check(&w, "destroying a", &all, &[entry("a", 2, &["b", "c"])]);
    assert_eq!(b.name(), "a", "s->name stays the first creator's");
    // The survivors still allocate from the one cache, through either handle.
    let o = b.alloc().unwrap();
    c.free(o).unwrap();

    kmem_cache_destroy(b).unwrap();
    check(&w, "destroying b", &all, &[entry("a", 1, &["c"])]);

    kmem_cache_destroy(c).unwrap();
    check(
        &w,
        "destroying c",
        &["a -> :0000064 (dangling)", "b -> :0000064 (dangling)", "c -> :0000064 (dangling)"],
        &[],
    );
    assert!(w.orphans().is_empty());
}

/// mm/slab_common.c: kmem_cache_destroy(): aliases destroyed first, then the creator; links of
/// destroyed aliases stay and keep resolving while the directory exists.
#[test]
fn destroy_aliases_then_the_first_creator() {
    let w = world();
    let a = create(&w, "a", 64, SlabFlags::EMPTY);
    let b = create(&w, "b", 64, SlabFlags::EMPTY);
    let c = create(&w, "c", 64, SlabFlags::EMPTY);
    let all = ["dir :0000064", "a -> :0000064", "b -> :0000064", "c -> :0000064"];
    check(&w, "creating a, b, c", &all, &[entry("a", 3, &["a", "b", "c"])]);
    kmem_cache_destroy(c).unwrap();
    check(&w, "destroying c", &all, &[entry("a", 2, &["a", "b"])]);
    kmem_cache_destroy(b).unwrap();
    check(&w, "destroying b", &all, &[entry("a", 1, &["a"])]);
    assert_eq!(a.refcount(), 1);
    kmem_cache_destroy(a).unwrap();
    check(
        &w,
        "destroying a",
        &["a -> :0000064 (dangling)", "b -> :0000064 (dangling)", "c -> :0000064 (dangling)"],
        &[],
    );
}

/// mm/slab_common.c: kmem_cache_destroy() of an unmergeable cache: its directory is its own
/// name, and it goes with the final destroy, leaving nothing behind.
#[test]
fn destroy_an_unmergeable_cache_removes_its_directory() {
    let w = world();
    let own = create(&w, "own", 64, SLAB_NO_MERGE);
    let shared = create(&w, "shared", 64, SlabFlags::EMPTY);
    assert!(!same(&own, &shared));
    check(
        &w,
        "creating own, shared",
        &["dir :0000064", "dir own", "shared -> :0000064"],
        &[entry("own", 1, &["own"]), entry("shared", 1, &["shared"])],
    );
    kmem_cache_destroy(own).unwrap();
    check(&w, "destroying own", &["dir :0000064", "shared -> :0000064"], &[entry("shared", 1, &["shared"])]);
    kmem_cache_destroy(shared).unwrap();
    check(&w, "destroying shared", &["shared -> :0000064 (dangling)"], &[]);
}

/// mm/slub.c: sysfs_slab_alias() and sysfs_slab_add(): a later cache of the same name replaces the
/// lingering link (by a new link, or by a self-named directory); other names' links stay.
#[test]
fn recreation_after_destroy_replaces_the_lingering_link() {
    let w = world();
    let a = create(&w, "a", 64, SlabFlags::EMPTY);
    let b = create(&w, "b", 64, SlabFlags::EMPTY);
    kmem_cache_destroy(a).unwrap();
    kmem_cache_destroy(b).unwrap();
    check(&w, "destroying a and b", &["a -> :0000064 (dangling)", "b -> :0000064 (dangling)"], &[]);

    // A mergeable "a" of another size: sysfs_slab_alias() removes the old link first.
    let a = create(&w, "a", 128, SlabFlags::EMPTY);
    check(
        &w,
        "re-creating a (128 bytes)",
        &["dir :0000128", "a -> :0000128", "b -> :0000064 (dangling)"],
        &[entry("a", 1, &["a"])],
    );
    assert_eq!(a.size(), 128);

    // An unmergeable "b": sysfs_slab_add() removes the link called "b" and makes a directory of that name.
    let b = create(&w, "b", 64, SLAB_NO_MERGE);
    check(
        &w,
        "re-creating b (unmergeable)",
        &["dir :0000128", "a -> :0000128", "dir b"],
        &[entry("a", 1, &["a"]), entry("b", 1, &["b"])],
    );

    // A third name recreates the 64-byte directory.
    let c = create(&w, "c", 64, SlabFlags::EMPTY);
    assert!(!same(&b, &c));
    check(
        &w,
        "creating c",
        &["dir :0000064", "dir :0000128", "a -> :0000128", "dir b", "c -> :0000064"],
        &[entry("a", 1, &["a"]), entry("b", 1, &["b"]), entry("c", 1, &["c"])],
    );
    for h in [c, b, a] {
        kmem_cache_destroy(h).unwrap();
    }
    check(&w, "destroying everything", &["a -> :0000128 (dangling)", "c -> :0000064 (dangling)"], &[]);
}

/// mm/slub.c: sysfs_slab_unlink() only deletes the directory; the symlink's text names it, so a later
/// directory of the same name (another cache of that stride) makes old links resolve again.
#[test]
fn lingering_links_resolve_again_when_a_same_named_directory_returns() {
    let w = world();
    let x = create(&w, "x", 64, SlabFlags::EMPTY);
    kmem_cache_destroy(x).unwrap();
    check(&w, "destroying x", &["x -> :0000064 (dangling)"], &[]);
    let y = create(&w, "y", 64, SlabFlags::EMPTY);
    check(&w, "creating y", &["dir :0000064", "x -> :0000064", "y -> :0000064"], &[entry("y", 1, &["y"])]);
    // x's name is not a creator of y's cache: the tree and the cache list now disagree, as in the kernel.
    assert_eq!(y.refcount(), 1);
    kmem_cache_destroy(y).unwrap();
    check(&w, "destroying y", &["x -> :0000064 (dangling)", "y -> :0000064 (dangling)"], &[]);
}

/// mm/slab_common.c: kmem_cache_destroy() with objects left: "Slab cache still has objects", and
/// mm/slub.c: __kmem_cache_shutdown() lists each object ("Objects remaining"); the cache is unlisted
/// and unlinked anyway (6.15+), its memory kept so the objects stay valid.
#[test]
fn destroy_with_live_objects_reports_busy_and_orphans_the_cache() {
    let w = world();
    let busy = create(&w, "busy", 64, SlabFlags::EMPTY);
    let mut objects = Vec::new();
    for i in 0..3u8 {
        let mut o = busy.alloc().unwrap();
        busy.object_bytes(&mut o).unwrap().fill(0x10 + i);
        objects.push(o);
    }
    let storage = busy.storage_id().unwrap();
    check(&w, "creating busy", &["dir :0000064", "busy -> :0000064"], &[entry("busy", 1, &["busy"])]);

    let err = kmem_cache_destroy(busy).unwrap_err();
    assert_eq!(err, SlabError::CacheBusy { cache: "busy".into(), objects: 3 });
    assert_eq!(err.to_errno(), -16);
    assert!(err.to_string().contains("Slab cache still has objects"), "{err}");
    let reports = w.reports();
    let warn = reports.iter().find(|r| r.function == "kmem_cache_destroy").expect("the WARN");
    assert!(
        warn.message.starts_with("kmem_cache_destroy busy: Slab cache still has objects when called from"),
        "{}",
        warn.message
    );
    let bug = reports.iter().find(|r| r.function == "__kmem_cache_shutdown").expect("the BUG report");
    let mut lines = bug.message.lines();
    assert_eq!(lines.next(), Some("BUG busy (Not tainted): Objects remaining on __kmem_cache_shutdown()"));
    let mut listed_addrs: Vec<usize> = lines
        .map(|l| {
            let rest = l.strip_prefix("Object 0x").unwrap_or_else(|| panic!("{l}"));
            usize::from_str_radix(rest.split_whitespace().next().unwrap(), 16).unwrap()
        })
        .collect();
    listed_addrs.sort_unstable();
    let mut addrs: Vec<usize> = objects.iter().map(|o| o.addr()).collect();
    addrs.sort_unstable();
    assert_eq!(listed_addrs, addrs, "one line per object still allocated");

    // Unlisted and unlinked, but kept: the orphan list holds it.
    check(&w, "destroying busy", &["busy -> :0000064 (dangling)"], &[]);
    let orphans = w.orphans();
    assert_eq!(orphans.len(), 1);
    assert_eq!((orphans[0].name.as_str(), orphans[0].state), ("busy", InstanceState::Destroyed));

    // A new cache of the same name and stride is a new cache: the orphan is no merge target.
    let again = create(&w, "busy", 64, SlabFlags::EMPTY);
    assert_ne!(again.storage_id(), Some(storage));
    check(&w, "re-creating busy", &["dir :0000064", "busy -> :0000064"], &[entry("busy", 1, &["busy"])]);

    // The objects are still valid: contents intact, writable, and freeable with kfree().
    for (i, o) in objects.iter().enumerate() {
        let p = o.as_ptr();
        // SAFETY: the object is still allocated (its token is live) and is 64 bytes long;
        // nothing else reaches it.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p, 64) };
        assert!(bytes.iter().all(|b| *b == 0x10 + i as u8), "object {i} kept its contents");
        bytes.fill(0xee);
    }
    assert_eq!(w.storage_stats().live_objects(), 3);
    for o in objects {
        w.kfree(o).unwrap();
    }
    assert_eq!(w.storage_stats().live_objects(), 0);
    assert_eq!(w.orphans().len(), 1, "the kernel never frees a cache destroyed with objects");
    kmem_cache_destroy(again).unwrap();
    check(&w, "destroying the new busy", &["busy -> :0000064 (dangling)"], &[]);
}

/// mm/slab_common.c: kmem_cache_destroy(): an alias destroy returns before any check, so only the
/// final destroy notices objects allocated through any name, and reports them under s->name.
#[test]
fn destroy_with_live_objects_is_noticed_only_by_the_final_destroy() {
    let w = world();
    let a = create(&w, "a", 64, SlabFlags::EMPTY);
    let b = create(&w, "b", 64, SlabFlags::EMPTY);
    let o = b.alloc().unwrap();
    kmem_cache_destroy(b).unwrap();
    assert!(w.reports().is_empty(), "{:?}", w.reports());
    check(&w, "destroying b", &["dir :0000064", "a -> :0000064", "b -> :0000064"], &[entry("a", 1, &["a"])]);
    let err = kmem_cache_destroy(a).unwrap_err();
    assert_eq!(err, SlabError::CacheBusy { cache: "a".into(), objects: 1 });
    assert!(w.reports().iter().any(|r| r.message.starts_with("kmem_cache_destroy a: Slab cache still has objects")));
    check(&w, "destroying a", &["a -> :0000064 (dangling)", "b -> :0000064 (dangling)"], &[]);
    w.kfree(o).unwrap();
}

/// Module unload (`delete_module`) while the module's caches live is refused with -EBUSY and the
/// module handed back intact; once each of its creates is matched by a destroy it unloads.
/// An alias destroy leaves the module's name link behind (kernel-slab.md §16).
#[test]
fn module_unload_with_live_caches_is_refused_until_they_are_destroyed() {
    let w = world();
    let core = create(&w, "core64", 64, SlabFlags::EMPTY);
    let m = w.module_load("mod", 0);
    let own = m.kmem_cache_create("mod_own", 128, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let alias = m.kmem_cache_create("mod_alias", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    assert!(same(&core, &alias));
    let loaded_tree =
        ["dir :0000064", "dir :0000128", "core64 -> :0000064", "mod_alias -> :0000064", "mod_own -> :0000128"];
    check(
        &w,
        "loading mod",
        &loaded_tree,
        &[entry("core64", 2, &["core64", "mod_alias"]), entry("mod_own", 1, &["mod_own"])],
    );

    let (err, m) = w.module_unload(m).unwrap_err();
    assert_eq!(err, SlabError::ModuleBusy { module: "mod".into(), caches: vec!["mod_own".into(), "mod_alias".into()] });
    assert_eq!(err.to_errno(), -16);
    assert!(w.reports().iter().any(|r| r.function == "delete_module"));
    assert_eq!(w.modules(), ["mod"]);
    check(
        &w,
        "the refused unload",
        &loaded_tree,
        &[entry("core64", 2, &["core64", "mod_alias"]), entry("mod_own", 1, &["mod_own"])],
    );

    // Still usable: its caches allocate, and it can create more.
    let o = own.alloc().unwrap();
    own.free(o).unwrap();
    let late = m.kmem_cache_create("mod_late", 256, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    kmem_cache_destroy(own).unwrap();
    let (err, m) = w.module_unload(m).unwrap_err();
    assert_eq!(
        err,
        SlabError::ModuleBusy { module: "mod".into(), caches: vec!["mod_alias".into(), "mod_late".into()] }
    );
    check(
        &w,
        "destroying mod_own",
        &[
            "dir :0000064",
            "dir :0000256",
            "core64 -> :0000064",
            "mod_alias -> :0000064",
            "mod_late -> :0000256",
            "mod_own -> :0000128 (dangling)",
        ],
        &[entry("core64", 2, &["core64", "mod_alias"]), entry("mod_late", 1, &["mod_late"])],
    );

    kmem_cache_destroy(alias).unwrap();
    kmem_cache_destroy(late).unwrap();
    w.module_unload(m).map_err(|(e, _)| e).unwrap();
    assert!(w.modules().is_empty());
    check(
        &w,
        "unloading mod",
        &[
            "dir :0000064",
            "core64 -> :0000064",
            "mod_alias -> :0000064",
            "mod_late -> :0000256 (dangling)",
            "mod_own -> :0000128 (dangling)",
        ],
        &[entry("core64", 1, &["core64"])],
    );
    kmem_cache_destroy(core).unwrap();
}

/// mm/slab_common.c: kmem_cache_destroy() from module exit with objects left: the WARN, then the
/// module unloads (nothing ties a cache to its module) and the leaked cache keeps its objects.
#[test]
fn module_unload_after_a_busy_destroy_leaves_the_leaked_cache_behind() {
    let w = world();
    let m = w.module_load("leaky", 0);
    let c = m.kmem_cache_create("leaky_cache", 96, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let o = c.alloc().unwrap();
    check(
        &w,
        "loading leaky",
        &["dir :0000096", "leaky_cache -> :0000096"],
        &[entry("leaky_cache", 1, &["leaky_cache"])],
    );
    assert!(matches!(kmem_cache_destroy(c), Err(SlabError::CacheBusy { objects: 1, .. })));
    w.module_unload(m).map_err(|(e, _)| e).unwrap();
    check(&w, "unloading leaky", &["leaky_cache -> :0000096 (dangling)"], &[]);
    assert_eq!(w.orphans().len(), 1);
    w.kfree(o).unwrap();
    assert_eq!(w.storage_stats().live_objects(), 0);
}

/// mm/slab_common.c: kmem_cache_destroy(): `s->refcount--; if (s->refcount) return;` A boot cache
/// (refcount -1, create_boot_cache()) goes to -2 and is left alone: it is never shut down.
#[test]
fn kmem_cache_destroy_of_a_boot_cache_only_decrements_its_refcount() {
    let w = World::bare(SlabConfig::default());
    let boot = w
        .create_entry(
            "boot_cache",
            64,
            KmemCacheArgs::align(8),
            SLAB_HWCACHE_ALIGN,
            slabmerge::CreateEntry::CreateBootCache,
        )
        .unwrap();
    let o = boot.alloc().unwrap();
    check(&w, "creating boot_cache", &["dir boot_cache"], &[entry("boot_cache", -1, &["boot_cache"])]);
    let result = kmem_cache_destroy(boot);
    assert_eq!(result, Ok(()), "the early return reports nothing");
    assert!(w.reports().is_empty(), "{:?}", w.reports());
    let info = w.caches().into_iter().find(|c| c.name == "boot_cache").expect("still on slab_caches");
    assert_eq!(info.refcount, -2);
    assert_eq!(tree(&w), ["dir boot_cache"]);
    w.kfree(o).unwrap();
}

/// mm/slub.c: sysfs_slab_add() of an unmergeable cache calls `sysfs_remove_link(slab_kset, s->name)`,
/// which is kernfs_remove_by_name(): it removes whatever entry has that name, a directory included.
/// A second unmergeable cache of the same name therefore takes the directory over silently, and the
/// first one's later destroy (kobject_del() of a node already removed) leaves it in place.
#[test]
fn a_duplicate_unmergeable_name_takes_the_directory_over() {
    let w = world();
    let first = create(&w, "dup", 64, SLAB_NO_MERGE);
    let second = create(&w, "dup", 64, SLAB_NO_MERGE);
    assert!(!same(&first, &second));
    check(&w, "creating dup twice", &["dir dup"], &[entry("dup", 1, &["dup"]), entry("dup", 1, &["dup"])]);
    assert!(w.reports().is_empty(), "kobject_init_and_add() succeeded, nothing to log: {:?}", w.reports());
    kmem_cache_destroy(first).unwrap();
    check(&w, "destroying the first dup", &["dir dup"], &[entry("dup", 1, &["dup"])]);
    kmem_cache_destroy(second).unwrap();
    check(&w, "destroying the second dup", &[], &[]);
}

/// mm/slub.c: sysfs_slab_alias() removes any entry called `name` (kernfs_remove_by_name()) before
/// linking it: an alias whose name is an unmergeable cache's directory replaces that directory.
#[test]
fn an_alias_named_like_an_unmergeable_cache_replaces_its_directory() {
    let w = world();
    let own = create(&w, "foo", 64, SLAB_NO_MERGE);
    let x = create(&w, "x", 64, SlabFlags::EMPTY);
    let foo = create(&w, "foo", 64, SlabFlags::EMPTY);
    assert!(same(&x, &foo) && !same(&own, &foo));
    check(
        &w,
        "aliasing foo into x",
        &["dir :0000064", "foo -> :0000064", "x -> :0000064"],
        &[entry("foo", 1, &["foo"]), entry("x", 2, &["x", "foo"])],
    );
    kmem_cache_destroy(own).unwrap();
    check(
        &w,
        "destroying the unmergeable foo",
        &["dir :0000064", "foo -> :0000064", "x -> :0000064"],
        &[entry("x", 2, &["x", "foo"])],
    );
    kmem_cache_destroy(foo).unwrap();
    kmem_cache_destroy(x).unwrap();
}

/// mm/slub.c: sysfs_slab_add(): when kobject_init_and_add() fails (a second mergeable cache with the
/// same unique id, possible through 6.18's sheaf_capacity gate) the function returns before
/// sysfs_slab_alias(), so the cache gets no directory and no link; creation goes on (6.13+), and its
/// destroy (kobject_del() of a kobject never added) leaves the first cache's directory alone.
#[test]
fn a_unique_id_collision_leaves_the_second_cache_without_sysfs_entries() {
    let w = world();
    let gated = || KmemCacheArgs { sheaf_capacity: 4, ..Default::default() };
    let first = w.kmem_cache_create("first", 64, gated(), SLAB_CONSISTENCY_CHECKS).unwrap();
    let second = w.kmem_cache_create("second", 64, gated(), SLAB_CONSISTENCY_CHECKS).unwrap();
    assert!(!same(&first, &second));
    check(
        &w,
        "creating first and second",
        &["dir :F-0000064", "first -> :F-0000064"],
        &[entry("first", 1, &["first"]), entry("second", 1, &["second"])],
    );
    kmem_cache_destroy(second).unwrap();
    check(&w, "destroying second", &["dir :F-0000064", "first -> :F-0000064"], &[entry("first", 1, &["first"])]);
    kmem_cache_destroy(first).unwrap();
    check(&w, "destroying first", &["first -> :F-0000064 (dangling)"], &[]);
}

/// mm/slab_common.c: kmem_cache_destroy(): the final destroy may come from an alias's creator after
/// the first creator went; the leak report names that creator, and the group (s->name, the first
/// creator's name) whose slabs hold the objects.
#[test]
fn a_leak_found_by_an_alias_destroy_names_that_creator_and_its_group() {
    let w = world();
    let first = create(&w, "my_cache", 64, SlabFlags::EMPTY);
    let other = create(&w, "my_other", 64, SlabFlags::EMPTY);
    kmem_cache_destroy(first).unwrap();
    let o = other.alloc().unwrap();
    let err = kmem_cache_destroy(other).unwrap_err();
    assert_eq!(err, SlabError::CacheBusy { cache: "my_other".into(), objects: 1 });
    let reports = w.reports();
    let warn = reports.iter().find(|r| r.function == "kmem_cache_destroy").expect("the WARN");
    assert_eq!(warn.cache.as_deref(), Some("my_other"));
    assert!(
        warn.message.starts_with("kmem_cache_destroy my_other (group my_cache): Slab cache still has objects"),
        "{}",
        warn.message
    );
    let bug = reports.iter().find(|r| r.function == "__kmem_cache_shutdown").expect("the BUG report");
    assert_eq!(bug.cache.as_deref(), Some("my_cache"), "slab_err() names s->name");
    w.kfree(o).unwrap();
}

/// mm/slub.c: sysfs_slab_alias(): sysfs_remove_link() of the alias's name removes whatever entry has
/// it — here the target's own unique-id directory — and sysfs_create_link() then links the name to
/// the target's kobject regardless: kobj->sd still names the removed node, so the link dangles from
/// the moment it is made, and stays until a later entry of that name replaces it.
#[test]
fn an_alias_named_like_its_target_directory_replaces_it_with_a_dangling_link() {
    let w = world();
    let x = create(&w, "x", 64, SlabFlags::EMPTY);
    let id = create(&w, ":0000064", 64, SlabFlags::EMPTY);
    assert!(same(&x, &id));
    assert!(w.reports().is_empty(), "sysfs_create_link() succeeded: {:?}", w.reports());
    check(
        &w,
        "aliasing :0000064 into x",
        &[":0000064 -> :0000064 (dangling)", "x -> :0000064 (dangling)"],
        &[entry("x", 2, &["x", ":0000064"])],
    );
    kmem_cache_destroy(id).unwrap();
    kmem_cache_destroy(x).unwrap();
    check(&w, "destroying both", &[":0000064 -> :0000064 (dangling)", "x -> :0000064 (dangling)"], &[]);
    // The link holds the name: a new cache of that geometry cannot add its directory
    // (kobject_init_and_add(): -EEXIST), so it lives with no sysfs entry at all.
    let y = create(&w, "y", 64, SlabFlags::EMPTY);
    assert!(w.reports().iter().any(|r| r.function == "sysfs_slab_add"), "{:?}", w.reports());
    check(&w, "creating y", &[":0000064 -> :0000064 (dangling)", "x -> :0000064 (dangling)"], &[entry("y", 1, &["y"])]);
    drop(y);
}
