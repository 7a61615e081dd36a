//! The scenarios of the design thread (§4), each under mainline, Al Viro's
//! v3 (and v1 where it differs) and the primary-cache design, side by side.
//!
//! Notation: D = dynamic cache, S = static instance of the kernel image,
//! M = static instance in a module, DM = dynamic cache created by a module.
//! All caches here are 64-byte objects without flags, so they are compatible
//! (`find_mergeable`) and the merged directory is `:0000064`.

use slabmerge::flags::*;
use slabmerge::sysfs::SysfsNode;
use slabmerge::{
    AllocError, InstanceKind, InstanceState, KmemCacheArgs, Scheme, SlabConfig, SlabError, World, kmem_cache_destroy,
};

mod common;
use common::world_of as world;

const SIZE: u32 = 64;

fn args() -> KmemCacheArgs {
    KmemCacheArgs::default()
}

/// The sysfs entry called `name`: `Some(None)` for a directory, `Some(Some(target))` for a link.
fn sysfs(w: &World, name: &str) -> Option<Option<String>> {
    w.sysfs().into_iter().find(|e| e.name == name).map(|e| match e.node {
        SysfsNode::Dir => None,
        SysfsNode::Link { target } => Some(target),
    })
}

fn link(target: &str) -> Option<Option<String>> {
    Some(Some(target.to_owned()))
}

fn dir() -> Option<Option<String>> {
    Some(None)
}

/// Scenario 1: D1 then compatible D2.
/// mm/slab_common.c: __kmem_cache_alias() (mainline, v3); primary: a separate alias instance.
#[test]
fn s01_dynamic_then_compatible_dynamic() {
    for scheme in [Scheme::Mainline, Scheme::ViroV3] {
        let w = world(scheme);
        let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
        let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
        assert!(std::ptr::eq(&*d1, &*d2), "{scheme:?}: the same instance");
        assert_eq!(d1.refcount(), 2);
        assert_eq!(sysfs(&w, "d2"), link(":0000064"));
        let o = d2.alloc().unwrap();
        assert_eq!(w.slab_cache_of(&o).unwrap().name, "d1");
        w.kfree(o).unwrap();
    }
    let w = world(Scheme::Primary);
    let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(!std::ptr::eq(&*d1, &*d2), "primary: a separate instance");
    assert!(d2.is_alias() && std::ptr::eq(d2.primary_cache().unwrap(), &*d1));
    assert_eq!((d1.refcount(), d2.refcount()), (2, 1));
    assert_eq!(d2.name(), "d2");
    assert_eq!(d1.storage_id(), d2.storage_id());
    let o = d2.alloc().unwrap();
    assert_eq!(w.slab_cache_of(&o).unwrap().name, "d1", "slabs point at the primary");
    w.kfree(o).unwrap();
    w.check_invariants().unwrap();
}

/// Scenario 2: S alone. v3 02/10: SLAB_PREALLOCATED, self-named sysfs directory;
/// primary: S is its own primary.
#[test]
fn s02_static_alone() {
    let w = world(Scheme::Mainline);
    assert!(matches!(
        w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY),
        Err(SlabError::NotPermitted(_))
    ));
    for scheme in [Scheme::ViroV3, Scheme::ViroV1] {
        let w = world(scheme);
        let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
        assert!(s.flags().contains(SLAB_PREALLOCATED));
        assert_eq!(s.kind(), InstanceKind::Static);
        assert_eq!(sysfs(&w, "s"), dir(), "{scheme:?}: self-named");
        assert!(std::ptr::eq(s, w.image_static(0)));
    }
    let w = world(Scheme::Primary);
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(!s.is_alias());
    assert_eq!(sysfs(&w, ":0000064"), dir());
    assert_eq!(sysfs(&w, "s"), link(":0000064"));
    let o = s.alloc().unwrap();
    assert_eq!(w.slab_cache_of(&o).unwrap().kind, InstanceKind::Static);
    s.free(o).unwrap();
}

/// Scenario 3: S created while a compatible D exists: v3 loses the merge; primary: S aliases D.
#[test]
fn s03_static_while_compatible_dynamic_exists() {
    let w = world(Scheme::ViroV3);
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert_ne!(d.storage_id(), s.storage_id(), "v3: two separate caches");
    assert_eq!(d.refcount(), 1);
    assert_eq!(sysfs(&w, "s"), dir());

    let w = world(Scheme::Primary);
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(s.is_alias() && std::ptr::eq(s.primary_cache().unwrap(), &*d));
    assert_eq!(d.refcount(), 2);
    assert_eq!(sysfs(&w, "s"), link(":0000064"));
    let o = s.alloc().unwrap();
    assert_eq!(w.slab_cache_of(&o).unwrap().name, "d");
    s.free(o).unwrap();
    w.check_invariants().unwrap();
}

/// Scenario 4: D created after a compatible S: v3 02/10 lets S be the target; v1 does not.
#[test]
fn s04_dynamic_after_static() {
    let w = world(Scheme::ViroV3);
    let s = w.kmem_cache_setup_image(0, "s", 60, args(), SlabFlags::EMPTY).unwrap();
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(std::ptr::eq(&*d, s), "v3: D's handle is &S");
    assert_eq!(s.refcount(), 2);
    assert_eq!(s.object_size(), 64, "object_size widened from 60 by the alias");
    assert_eq!(sysfs(&w, "d"), link("s"), "later aliases link to the static's own name");

    let w = world(Scheme::ViroV1);
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert_ne!(d.storage_id(), s.storage_id(), "v1: SLAB_NO_MERGE both ways");
    assert!(s.flags().contains(SLAB_NO_MERGE));

    let w = world(Scheme::Primary);
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(d.is_alias() && std::ptr::eq(d.primary_cache().unwrap(), s));
    assert_eq!(s.refcount(), 2);
    w.check_invariants().unwrap();
}

/// Scenario 5: Two compatible statics S1 then S2, then a D: v3 keeps two self-named caches
/// (no v2 unique-id collision) and D aliases the older; primary: S2 and D alias S1.
#[test]
fn s05_two_compatible_statics() {
    let w = world(Scheme::ViroV3);
    let s1 = w.kmem_cache_setup_image(0, "s1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let s2 = w.kmem_cache_setup_image(1, "s2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert_ne!(s1.storage_id(), s2.storage_id());
    assert_eq!((sysfs(&w, "s1"), sysfs(&w, "s2")), (dir(), dir()));
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(std::ptr::eq(&*d, s1), "find_mergeable: the oldest compatible cache");

    let w = world(Scheme::Primary);
    let s1 = w.kmem_cache_setup_image(0, "s1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let s2 = w.kmem_cache_setup_image(1, "s2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(std::ptr::eq(s2.primary_cache().unwrap(), s1));
    assert!(std::ptr::eq(d.primary_cache().unwrap(), s1));
    assert_eq!(s1.refcount(), 3);
    w.check_invariants().unwrap();
}

/// Scenario 6: M alone. v3 03/10: standalone and unmergeable; primary: a hidden dynamic
/// primary owns the slabs, M is its alias.
#[test]
fn s06_module_static_alone() {
    let w = world(Scheme::ViroV3);
    let m = w.module_load("ext4", 1);
    let ms = m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert_eq!(ms.kind(), InstanceKind::ModuleStatic);
    assert_eq!(sysfs(&w, "m"), dir());
    let o = ms.alloc().unwrap();
    assert_eq!(w.slab_cache_of(&o).unwrap().kind, InstanceKind::ModuleStatic, "v3: slabs point into module memory");
    ms.free(o).unwrap();

    let w = world(Scheme::Primary);
    let m = w.module_load("ext4", 1);
    let ms = m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(ms.is_alias());
    let hidden = ms.primary_cache().unwrap();
    assert_eq!(hidden.kind(), InstanceKind::HiddenPrimary);
    assert_eq!(hidden.name(), ":0000064", "no user name");
    assert_eq!(hidden.refcount(), 1, "only its alias holds it");
    assert_eq!(sysfs(&w, "m"), link(":0000064"));
    let o = ms.alloc().unwrap();
    assert_eq!(w.slab_cache_of(&o).unwrap().kind, InstanceKind::HiddenPrimary, "no slab points into the module");
    ms.free(o).unwrap();
    w.check_invariants().unwrap();
}

/// Scenarios 7 and 8: M created while a compatible D or S exists: v3 separate; primary: M aliases it.
#[test]
fn s07_s08_module_static_while_dynamic_or_static_exists() {
    for static_target in [false, true] {
        let w = world(Scheme::ViroV3);
        let dynamic = (!static_target).then(|| w.kmem_cache_create("t", SIZE, args(), SlabFlags::EMPTY).unwrap());
        let target = match &dynamic {
            Some(d) => d.storage_id(),
            None => w.kmem_cache_setup_image(0, "t", SIZE, args(), SlabFlags::EMPTY).unwrap().storage_id(),
        };
        let m = w.module_load("xfs", 1);
        let ms = m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap();
        assert_ne!(ms.storage_id(), target, "v3: separate");
    }
    let w = world(Scheme::Primary);
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let s = w.kmem_cache_setup_image(0, "s", 60, args(), SlabFlags::EMPTY).unwrap();
    let m = w.module_load("xfs", 2);
    let m1 = m.kmem_cache_setup(0, "m1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(std::ptr::eq(m1.primary_cache().unwrap(), &*d));
    assert!(std::ptr::eq(s.primary_cache().unwrap(), &*d), "S aliases D too");
    let w2 = world(Scheme::Primary);
    let s2 = w2.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let m2 = w2.module_load("xfs", 1);
    let ms2 = m2.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(std::ptr::eq(ms2.primary_cache().unwrap(), s2), "M aliases S");
}

/// Scenario 9: D created after a compatible M: v3 D cannot alias M; primary: D aliases the hidden primary.
#[test]
fn s09_dynamic_after_module_static() {
    let w = world(Scheme::ViroV3);
    let m = w.module_load("ext4", 1);
    let ms = m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert_ne!(d.storage_id(), ms.storage_id());
    assert_eq!(ms.refcount(), 1);

    let w = world(Scheme::Primary);
    let m = w.module_load("ext4", 1);
    let ms = m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let hidden = ms.primary_cache().unwrap();
    assert!(std::ptr::eq(d.primary_cache().unwrap(), hidden), "D joins the hidden primary, never M");
    assert_eq!(hidden.refcount(), 2);
    w.check_invariants().unwrap();
}

/// Scenario 10: DM created after a compatible S; the module unloads.
#[test]
fn s10_module_dynamic_after_static_then_unload() {
    let w = world(Scheme::ViroV3);
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let m = w.module_load("kvm", 0);
    let dm = m.kmem_cache_create("dm", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(std::ptr::eq(&*dm, s), "v3: DM's handle is &S");
    assert_eq!(s.refcount(), 2);
    let (err, m) = w.module_unload(m).unwrap_err();
    assert!(matches!(err, SlabError::ModuleBusy { .. }), "dm is still live");
    kmem_cache_destroy(dm).unwrap();
    assert_eq!(s.refcount(), 1);
    w.module_unload(m).map_err(|e| e.0).unwrap();

    let w = world(Scheme::Primary);
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let m = w.module_load("kvm", 0);
    let dm = m.kmem_cache_create("dm", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(std::ptr::eq(dm.primary_cache().unwrap(), s));
    let o = dm.alloc().unwrap();
    kmem_cache_destroy(dm).unwrap();
    assert_eq!(s.refcount(), 1);
    assert_eq!(sysfs(&w, "dm"), None, "the alias's link went with it");
    w.module_unload(m).map_err(|e| e.0).unwrap();
    assert_eq!(w.slab_cache_of(&o).unwrap().name, "s", "the object lives on in S's slabs");
    w.kfree(o).unwrap();
}

/// Scenario 12: Destroy D where D is an alias. mm/slab_common.c: kmem_cache_destroy() only
/// decrements the refcount and leaves the link; primary: the alias goes on its own.
#[test]
fn s12_destroy_an_alias() {
    let w = world(Scheme::Mainline);
    let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let o = d2.alloc().unwrap();
    kmem_cache_destroy(d2).unwrap();
    assert_eq!(d1.refcount(), 1);
    assert_eq!(sysfs(&w, "d2"), link(":0000064"), "mainline: the link lingers");
    d1.free(o).unwrap();

    let w = world(Scheme::Primary);
    let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let o = d2.alloc().unwrap();
    let before = d1.stats().unwrap();
    kmem_cache_destroy(d2).unwrap();
    assert_eq!(d1.refcount(), 1);
    assert_eq!(sysfs(&w, "d2"), None, "primary: the alias removed its own link");
    assert_eq!(d1.stats().unwrap(), before, "shared storage untouched");
    assert!(w.caches().iter().all(|c| c.name != "d2"));
    d1.free(o).unwrap();
    w.check_invariants().unwrap();
}

/// Scenario 13: The first creator is destroyed while aliases exist.
#[test]
fn s13_destroy_the_first_creator_while_aliases_exist() {
    let w = world(Scheme::Mainline);
    let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    kmem_cache_destroy(d1).unwrap();
    assert_eq!(d2.name(), "d1", "mainline: the cache lives on under the first name");
    assert_eq!(d2.refcount(), 1);

    // Primary: the primary turns headless — its name and link go, the storage
    // stays for the aliases, and it stays a merge target.
    let w = world(Scheme::Primary);
    let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let o = d2.alloc().unwrap();
    let pages = w.pages();
    kmem_cache_destroy(d1).unwrap();
    let primary = d2.primary_cache().unwrap();
    assert_eq!(primary.state(), InstanceState::Headless);
    assert_eq!(primary.refcount(), 1);
    assert_eq!(sysfs(&w, "d1"), None);
    assert_eq!(sysfs(&w, ":0000064"), dir());
    assert_eq!(w.pages(), pages);
    let d3 = w.kmem_cache_create("d3", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert!(std::ptr::eq(d3.primary_cache().unwrap(), primary), "new merges still join it");
    w.check_invariants().unwrap();
    d2.free(o).unwrap();
    kmem_cache_destroy(d2).unwrap();
    kmem_cache_destroy(d3).unwrap();
    assert_eq!(sysfs(&w, ":0000064"), None, "the last alias took the storage with it");
    let left: Vec<_> = w.caches().into_iter().filter(|c| c.size == SIZE && !c.flags.contains(SLAB_KMALLOC)).collect();
    assert!(left.is_empty(), "{left:?}");
    w.check_invariants().unwrap();
}

/// Scenarios 14 and 16: Module unload: refused while M lives (or is pinned by objects
/// in v3); after destroying M it succeeds and the compatible D is unaffected.
#[test]
fn s14_s16_module_unload() {
    for scheme in [Scheme::ViroV3, Scheme::Primary] {
        let w = world(scheme);
        let m = w.module_load("ext4", 1);
        let ms = m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap();
        let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
        let obj = ms.alloc().unwrap();
        let (err, mut m) = w.module_unload(m).unwrap_err();
        assert!(matches!(&err, SlabError::ModuleBusy { caches, .. } if caches == &["m"]), "{scheme:?}: {err}");
        // The module is intact: its cache still works.
        let ms = m.static_cache(0);
        let o2 = ms.alloc().unwrap();
        ms.free(o2).unwrap();
        let destroyed = m.kmem_cache_destroy(0);
        match scheme {
            Scheme::ViroV3 => {
                // M is a cache of its own: destroy finds the object and keeps
                // M (in module memory) pinned; unload must wait.
                assert!(matches!(destroyed, Err(SlabError::CacheBusy { .. })));
                let (err, m) = w.module_unload(m).unwrap_err();
                assert!(matches!(err, SlabError::ModuleBusy { .. }));
                w.kfree(obj).unwrap();
                w.module_unload(m).map_err(|e| e.0).unwrap(); // the last reference went
            }
            _ => {
                // M is an alias: it goes, the object stays in the hidden
                // primary's slabs, which D still shares.
                destroyed.unwrap();
                w.module_unload(m).map_err(|e| e.0).unwrap();
                let owner = w.slab_cache_of(&obj).unwrap();
                assert_eq!(owner.kind, InstanceKind::HiddenPrimary);
                assert_eq!(owner.refcount, 1, "D holds it");
                d.free(obj).unwrap();
                w.check_invariants().unwrap();
            }
        }
        drop(d);
    }
}

/// Scenario 15: D, then M aliasing it; D's owner destroys D; later M goes: the storage
/// lives until M is destroyed (primary).
#[test]
fn s15_primary_outlives_its_creator_until_the_module_alias_goes() {
    let w = world(Scheme::Primary);
    let base = w.pages();
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let mut m = w.module_load("ext4", 1);
    let o = m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap().alloc().unwrap();
    kmem_cache_destroy(d).unwrap();
    assert!(w.pages() > base);
    m.static_cache(0).free(o).unwrap();
    m.kmem_cache_destroy(0).unwrap();
    assert_eq!(w.pages(), base, "storage released when the last alias went");
    w.module_unload(m).map_err(|e| e.0).unwrap();
}

/// Scenarios 17 and 18: Misuse the thread left open: a second setup, setup after destroy,
/// and a failed setup (the v3 wrappers would report success for it).
#[test]
fn s17_s18_setup_misuse() {
    for scheme in [Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary] {
        let w = world(scheme);
        w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
        assert!(matches!(
            w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY),
            Err(SlabError::AlreadySetUp { .. })
        ));
        let err = w.kmem_cache_setup_image(1, "bad", 0, args(), SlabFlags::EMPTY).unwrap_err();
        assert_eq!(err.to_errno(), -22, "size 0: -EINVAL, reported, not success");
        assert_eq!(w.image_static(1).state(), InstanceState::Unused, "a failed setup leaves it unused");
        assert_eq!(w.image_static(1).alloc().err(), Some(AllocError::NotSetUp));
        assert_eq!(w.image_static(1).alloc_error(AllocError::NotSetUp), SlabError::NotSetUp);
        let mut m = w.module_load("ufs", 1);
        m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY).unwrap();
        m.kmem_cache_destroy(0).unwrap();
        assert!(matches!(
            m.kmem_cache_setup(0, "m", SIZE, args(), SlabFlags::EMPTY),
            Err(SlabError::AlreadySetUp { .. })
        ));
        let s = m.static_cache(0);
        assert_eq!(s.alloc().err(), Some(AllocError::Destroyed));
        assert!(
            matches!(s.alloc_error(AllocError::Destroyed), SlabError::CacheDestroyed { cache } if cache == s.name())
        );
        w.module_unload(m).map_err(|e| e.0).unwrap();
    }
}

/// Scenarios 19 and 20: kfree() goes slab → primary; kmem_cache_free() through any alias
/// of the same primary is accepted; an object of another primary is refused
/// (the hardened wrong-cache check mapped alias → primary).
#[test]
fn s19_s20_frees_through_aliases() {
    let w = world(Scheme::Primary);
    let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let other = w.kmem_cache_create("other", 128, args(), SLAB_ACCOUNT).unwrap();
    let a = s.alloc().unwrap();
    let b = d2.alloc().unwrap();
    let c = d1.alloc().unwrap();
    d2.free(a).unwrap();
    s.free(b).unwrap();
    w.kfree(c).unwrap();
    let x = other.alloc().unwrap();
    let refused = d2.free(x).unwrap_err();
    assert!(matches!(refused.error(), SlabError::WrongCache { actual, .. } if actual == "other"));
    other.free(refused.into_object()).unwrap();
    assert_eq!(d1.stats().unwrap().live_objects(), 0);
}

/// Scenario 21: Objects still allocated when a cache is destroyed.
/// mm/slab_common.c: kmem_cache_destroy() — only the final destroy checks.
#[test]
fn s21_destroy_with_live_objects() {
    let w = world(Scheme::Mainline);
    let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let o = d2.alloc().unwrap();
    kmem_cache_destroy(d2).unwrap(); // an alias destroy does not look
    assert!(matches!(kmem_cache_destroy(d1), Err(SlabError::CacheBusy { objects: 1, .. })));
    assert!(w.reports().iter().any(|r| r.message.contains("Slab cache still has objects")));
    assert_eq!(w.orphans().len(), 1);
    w.kfree(o).unwrap(); // still valid

    let w = world(Scheme::Primary);
    let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let o = d2.alloc().unwrap();
    kmem_cache_destroy(d2).unwrap(); // an alias cannot tell which objects are its own
    assert!(matches!(kmem_cache_destroy(d1), Err(SlabError::CacheBusy { objects: 1, .. })));
    w.kfree(o).unwrap();
}

/// Scenario 22: The fast path through an alias uses the primary's storage directly.
#[test]
fn s22_alias_fast_path_shares_the_primary_storage() {
    let w = world(Scheme::Primary);
    let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
    let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
    assert_eq!(s.storage_id(), d.storage_id());
    // An object freed through one handle is the next one allocated through the other:
    // both hit the same per-cpu sheaf.
    let o = s.alloc().unwrap();
    let addr = o.addr();
    s.free(o).unwrap();
    let again = d.alloc().unwrap();
    assert_eq!(again.addr(), addr);
    d.free(again).unwrap();
}

/// Scenario 26: slab_nomerge: no merging anywhere.
#[test]
fn s26_slab_nomerge_merges_nothing() {
    for scheme in [Scheme::Mainline, Scheme::ViroV3, Scheme::Primary] {
        let w = World::new(SlabConfig { slab_nomerge: true, ..SlabConfig::with_scheme(scheme) });
        let d1 = w.kmem_cache_create("d1", SIZE, args(), SlabFlags::EMPTY).unwrap();
        let d2 = w.kmem_cache_create("d2", SIZE, args(), SlabFlags::EMPTY).unwrap();
        assert_ne!(d1.storage_id(), d2.storage_id(), "{scheme:?}");
        assert_eq!(sysfs(&w, "d1"), dir());
        if scheme != Scheme::Mainline {
            let s = w.kmem_cache_setup_image(0, "s", SIZE, args(), SlabFlags::EMPTY).unwrap();
            assert_ne!(s.storage_id(), d1.storage_id());
        }
    }
}

/// Scenario 27: Caches unmergeable for other reasons (ctor, usercopy, RCU) lose nothing by
/// becoming static: they stay alone in every scheme.
#[test]
fn s27_unmergeable_statics_lose_nothing() {
    fn ctor(_: &mut [u8]) {}
    for scheme in [Scheme::Mainline, Scheme::ViroV3, Scheme::Primary] {
        let w = world(scheme);
        let d = w.kmem_cache_create("d", SIZE, args(), SlabFlags::EMPTY).unwrap();
        for (i, (flags, a)) in [
            (SLAB_TYPESAFE_BY_RCU, args()),
            (SlabFlags::EMPTY, KmemCacheArgs { usersize: 16, ..args() }),
            (
                SlabFlags::EMPTY,
                KmemCacheArgs { ctor: Some(slabmerge::storage::Ctor { name: "c".into(), func: ctor }), ..args() },
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let name = format!("u{i}");
            if scheme == Scheme::Mainline {
                let u = w.kmem_cache_create(&name, SIZE, a, flags).unwrap();
                assert_ne!(u.storage_id(), d.storage_id(), "{scheme:?} {name}");
            } else {
                let u = w.kmem_cache_setup_image(i, &name, SIZE, a, flags).unwrap();
                assert_ne!(u.storage_id(), d.storage_id(), "{scheme:?} {name}");
            }
        }
    }
}
