//! The primary-cache lifecycle: which sysfs entries each instance owns and
//! removes, what a headless primary is called, and what destroy reports
//! name (`design/primary-cache.md`).

use slabmerge::flags::*;
use slabmerge::slabinfo::{proc_slabinfo, slabinfo_aliases};
use slabmerge::{InstanceState, KmemCacheArgs, Scheme, SlabConfig, SlabError, kmem_cache_destroy};

mod common;
use common::{create, tree, world_of, world_with};

/// Two live primaries of the same name (mm/slab_common.c allows it; only
/// kmem_cache_sanity_check() under DEBUG_VM warns). The second one's
/// sysfs_slab_alias() took the name over, so the link is the second's: the
/// first one's destroy must leave it alone.
#[test]
fn destroying_a_primary_leaves_the_link_a_same_named_primary_owns() {
    let w = world_of(Scheme::Primary);
    let small = create(&w, "foo", 64, SlabFlags::EMPTY);
    let large = create(&w, "foo", 128, SlabFlags::EMPTY);
    assert_eq!(tree(&w), ["dir :0000064", "dir :0000128", "foo -> :0000128"]);
    kmem_cache_destroy(small).unwrap();
    assert_eq!(tree(&w), ["dir :0000128", "foo -> :0000128"], "the second foo keeps its link");
    kmem_cache_destroy(large).unwrap();
    assert!(tree(&w).is_empty(), "{:?}", tree(&w));
    w.check_invariants().unwrap();
}

/// The same for alias instances: an alias of another group named like a
/// live primary removes only its own link.
#[test]
fn destroying_an_alias_leaves_the_link_a_same_named_alias_owns() {
    let w = world_of(Scheme::Primary);
    let p64 = create(&w, "p64", 64, SlabFlags::EMPTY);
    let p128 = create(&w, "p128", 128, SlabFlags::EMPTY);
    let a = create(&w, "bar", 64, SlabFlags::EMPTY);
    let b = create(&w, "bar", 128, SlabFlags::EMPTY);
    assert!(a.is_alias() && b.is_alias());
    assert_eq!(tree(&w), ["dir :0000064", "dir :0000128", "bar -> :0000128", "p128 -> :0000128", "p64 -> :0000064"]);
    kmem_cache_destroy(a).unwrap();
    assert_eq!(tree(&w), ["dir :0000064", "dir :0000128", "bar -> :0000128", "p128 -> :0000128", "p64 -> :0000064"]);
    kmem_cache_destroy(b).unwrap();
    assert_eq!(tree(&w), ["dir :0000064", "dir :0000128", "p128 -> :0000128", "p64 -> :0000064"]);
    drop((p64, p128));
}

/// A headless primary (its creator destroyed while aliases live) has no
/// creator left, so it is named as a hidden primary is: by its unique id
/// (mm/slub.c: create_unique_id()), everywhere `s->name` is read — in
/// /proc/slabinfo (mm/slab_common.c: cache_show()) and in the DEBUG_VM
/// duplicate-name check (kmem_cache_sanity_check()), so re-creating the
/// creator's name does not warn.
#[test]
fn a_headless_primary_is_called_by_its_unique_id() {
    let w = world_with(SlabConfig { debug_vm: true, ..SlabConfig::with_scheme(Scheme::Primary) });
    let prim = create(&w, "prim", 64, SlabFlags::EMPTY);
    let alias = create(&w, "al", 64, SlabFlags::EMPTY);
    kmem_cache_destroy(prim).unwrap();
    let headless = alias.primary_cache().unwrap();
    assert_eq!(headless.state(), InstanceState::Headless);
    assert_eq!(headless.name(), ":0000064");
    let text = proc_slabinfo(&w);
    let names: Vec<&str> = text
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().next().unwrap())
        .filter(|n| !n.starts_with("kmalloc-"))
        .collect();
    assert_eq!(names, ["al", ":0000064"]);
    assert_eq!(slabinfo_aliases(&w), "\n:0000064     <- [headless] al\n");
    let again = create(&w, "prim", 64, SlabFlags::EMPTY);
    assert!(std::ptr::eq(again.primary_cache().unwrap(), headless), "still a merge target");
    assert!(
        !w.reports().iter().any(|r| r.function == "kmem_cache_sanity_check"),
        "no live cache is called prim: {:?}",
        w.reports()
    );
    assert_eq!(tree(&w), ["dir :0000064", "al -> :0000064", "prim -> :0000064"]);
    drop((again, alias));
    w.check_invariants().unwrap();
}

/// A module static's hidden primary has no creator of its own: the leak
/// found when the module's cache is destroyed names that cache, and the
/// hidden primary as its group (mm/slab_common.c: kmem_cache_destroy()).
#[test]
fn a_leak_in_a_hidden_primary_names_the_module_cache() {
    let w = world_of(Scheme::Primary);
    let mut module = w.module_load("ext4", 1);
    let m = module.kmem_cache_setup(0, "ext4_groupinfo", 64, KmemCacheArgs::default(), SLAB_ACCOUNT).unwrap();
    let o = m.alloc().unwrap();
    let err = module.kmem_cache_destroy(0).unwrap_err();
    assert_eq!(err, SlabError::CacheBusy { cache: "ext4_groupinfo".into(), objects: 1 });
    let reports = w.reports();
    let warn = reports.iter().find(|r| r.function == "kmem_cache_destroy").expect("the WARN");
    assert_eq!(warn.cache.as_deref(), Some("ext4_groupinfo"));
    assert!(
        warn.message.starts_with("kmem_cache_destroy ext4_groupinfo (group :A-0000064): Slab cache still has objects"),
        "{}",
        warn.message
    );
    w.kfree(o).unwrap();
    w.module_unload(module).map_err(|e| e.0).unwrap();
}

/// An alias destroyed last, after its primary's creator: the report names
/// the alias, with the headless primary as its group.
#[test]
fn a_leak_found_by_the_last_alias_names_it() {
    let w = world_of(Scheme::Primary);
    let first = create(&w, "my_cache", 64, SlabFlags::EMPTY);
    let other = create(&w, "my_other", 64, SlabFlags::EMPTY);
    kmem_cache_destroy(first).unwrap();
    let o = other.alloc().unwrap();
    let err = kmem_cache_destroy(other).unwrap_err();
    assert_eq!(err, SlabError::CacheBusy { cache: "my_other".into(), objects: 1 });
    let warn = w.reports().into_iter().find(|r| r.function == "kmem_cache_destroy").expect("the WARN");
    assert_eq!(warn.cache.as_deref(), Some("my_other"));
    assert!(warn.message.starts_with("kmem_cache_destroy my_other (group :0000064): Slab"), "{}", warn.message);
    w.kfree(o).unwrap();
}

/// mm/slub.c (6.18): __kmem_cache_alias() widens the target's `object_size`
/// and `inuse`. Under the primary scheme the target is the primary, whose
/// storage the alias shares: the primary is widened (its sysfs directory
/// shows the largest name's object_size, and the shared slabs' inuse covers
/// every alias's object), while the alias reports, and zeroes, the size its
/// creator asked for (design/primary-cache.md, choice 4).
#[test]
fn an_alias_widens_its_primary_not_itself() {
    let w = world_of(Scheme::Primary);
    let primary = create(&w, "first", 50, SLAB_HWCACHE_ALIGN);
    assert_eq!((primary.object_size(), primary.inuse(), primary.size()), (50, 56, 64));
    let alias = create(&w, "wider", 57, SlabFlags::EMPTY);
    assert!(alias.is_alias());
    assert_eq!((primary.object_size(), primary.inuse()), (57, 64), "the primary is widened");
    assert_eq!((alias.object_size(), alias.inuse()), (57, 64), "the alias: its own size, the shared inuse");
    let small = create(&w, "small", 60, SlabFlags::EMPTY);
    assert_eq!((primary.object_size(), small.object_size(), alias.object_size()), (60, 60, 57));
    // Zeroing through the alias clears its own 57 bytes, not the primary's 60.
    let mut o = primary.alloc().unwrap();
    primary.object_bytes(&mut o).unwrap().fill(0xa5);
    let addr = o.addr();
    primary.free(o).unwrap();
    let z = alias.zalloc().unwrap();
    assert_eq!(z.addr(), addr, "the shared sheaf hands the same object back (LIFO)");
    // SAFETY: the object is allocated and 64 bytes long (the stride).
    let bytes = unsafe { std::slice::from_raw_parts(z.as_ptr(), 64) };
    assert!(bytes[..57].iter().all(|b| *b == 0) && bytes[57..60].iter().all(|b| *b == 0xa5));
    alias.free(z).unwrap();
    // The directory the names resolve to is the primary's, with its flags and aliases.
    assert_eq!((alias.sysfs_dir(), alias.aliases(), primary.aliases()), (primary.sysfs_dir(), 2, 2));
    assert!(alias.sysfs_flags().hwcache_align(), "the primary's directory shows SLAB_HWCACHE_ALIGN");
    assert!(!alias.flags().contains(SLAB_HWCACHE_ALIGN), "the alias's own flags do not have it");
    for c in [small, alias, primary] {
        kmem_cache_destroy(c).unwrap();
    }
    w.check_invariants().unwrap();
}
