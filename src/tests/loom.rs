//! Loom models of cache teardown, run on the real lifecycle and storage code.
//!
//! Run with `scripts/loom.sh`; `design/teardown.md` says which interleaving
//! each model covers. Every model is small: at most three threads, CPUs
//! pinned, `SlabConfig::tiny` with sheaves of two objects and two objects per
//! slab, so that refill, flush, barn exchange, new slab and discard happen
//! inside it. Each asserts after `join` the refcounts, the `slab_caches`
//! list, the object accounting and that the storage is released exactly once
//! (pages back to zero; loom fails the iteration on any leaked page, sheaf,
//! instance or world).
//!
//! The `loom_catches_*` tests prove that the models can fail: each runs one
//! model with a deliberately broken teardown step ([`Broken`]) in a child
//! process, and expects loom to report it there. A child process, because a
//! failing loom iteration that still holds `loom::alloc` memory aborts the
//! process (loom drops its allocation records outside the model), which
//! `#[should_panic]` cannot catch.

use std::sync::atomic::{AtomicUsize, Ordering};

use loom::thread;

use crate::config::Broken;
use crate::flags::SlabFlags;
use crate::slab_common::sysfs::SysfsNode;
use crate::slub::cpu::{set_current_cpu, with_cpu};
use crate::{
    Cache, InstanceKind, InstanceState, KmemCacheArgs, Module, Scheme, SlabConfig, SlabError, World, kmem_cache_destroy,
};

/// Runs `f` under loom: preemption bound 2 unless `LOOM_MAX_PREEMPTIONS` is
/// set (as sharded-slab's `run_model` does), and prints the number of
/// iterations and the time taken (`--nocapture`). The models fit loom's
/// default of 1,000 branch points per iteration, which is also what catches
/// a spin loop that never yields to loom.
pub(super) fn model(name: &'static str, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if std::env::var("LOOM_MAX_PREEMPTIONS").is_err() {
        builder.preemption_bound = Some(2);
    }
    let iterations = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = iterations.clone();
    let start = std::time::Instant::now();
    let run = move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f()
    };
    if std::env::var("LOOM_LOG").is_ok() {
        // Only `loom::model` installs the subscriber that prints loom's log;
        // it reads every bound from the environment.
        loom::model(run);
    } else {
        builder.check(run);
    }
    eprintln!("model {name}: {} iterations in {:.2?}", iterations.load(Ordering::Relaxed), start.elapsed());
}

/// A world that the threads of one model iteration borrow for `'static`.
///
/// Loom has no scoped threads, and handles and modules borrow their world, so
/// the world is leaked for the iteration and reclaimed by [`ModelWorld::power_off`]
/// once every thread is joined and every handle is gone.
struct ModelWorld {
    world: &'static World,
}

impl ModelWorld {
    fn new(cfg: SlabConfig) -> ModelWorld {
        ModelWorld { world: Box::leak(Box::new(World::bare(cfg))) }
    }

    /// Drops the world (its `Drop` reaps the orphans) and returns the pages
    /// still allocated afterwards.
    ///
    /// # Safety
    /// No thread, handle, module or instance reference that borrows the world is left.
    unsafe fn power_off(self) -> usize {
        let memory = self.world.core.memory.clone();
        // SAFETY: the world came from Box::leak in `new`; the caller guarantees
        // that nothing borrows it any more.
        drop(unsafe { Box::from_raw(self.world as *const World as *mut World) });
        memory.pages.pages()
    }
}

/// The tiny configuration of the models: `cpus` CPUs, sheaves of 2 objects,
/// 2 objects per slab, barns of 2 sheaves, no image statics.
fn tiny(scheme: Scheme, cpus: u32, broken: Option<Broken>) -> SlabConfig {
    SlabConfig { image_statics: 0, broken, ..SlabConfig::tiny(scheme, cpus, 2, 2) }
}

/// A mergeable 32-byte cache; all caches of a model are compatible.
fn create(world: &'static World, name: &str) -> Cache<'static> {
    world.kmem_cache_create(name, 32, KmemCacheArgs::default(), SlabFlags::EMPTY).expect("kmem_cache_create")
}

/// `slab_caches`, by name.
fn names(world: &World) -> Vec<String> {
    world.caches().into_iter().map(|c| c.name).collect()
}

/// The sysfs node called `name`, if any.
fn sysfs_node(world: &World, name: &str) -> Option<SysfsNode> {
    world.sysfs().into_iter().find(|e| e.name == name).map(|e| e.node)
}

/// Allocates two objects and frees them again through `cache`: a refill from
/// a slab (new or partial), two pops, two pushes onto the CPU's main sheaf.
fn churn(cache: &Cache<'static>) {
    let (x, y) = (cache.alloc().unwrap(), cache.alloc().unwrap());
    cache.free(x).unwrap();
    cache.free(y).unwrap();
}

// ---------------------------------------------------------------------------
// Model 1: destroy of an alias while the others allocate and free.

fn destroy_alias_under_traffic(broken: Option<Broken>) {
    model("destroy_alias_under_traffic", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Primary, 3, broken));
        let world = mw.world;
        let a = create(world, "prim_a");
        let b = create(world, "alias_b");
        let c = create(world, "alias_c");
        assert!(b.is_alias() && c.is_alias());
        assert_eq!(a.refcount(), 3);
        // A long-lived object of the primary: the storage is never idle.
        let resident = a.alloc().unwrap();
        let a = std::sync::Arc::new(a);
        let user_a = {
            let a = a.clone();
            thread::spawn(move || {
                set_current_cpu(1);
                churn(&a);
                // kmem_cache_shrink(): flush_all() takes the other CPUs'
                // sheaves from here while they use them; empty slabs go.
                a.shrink().unwrap();
            })
        };
        let user_c = thread::spawn(move || {
            set_current_cpu(2);
            let object = c.alloc().unwrap();
            world.kfree(object).unwrap();
            c
        });
        let destroyed_b = kmem_cache_destroy(b);
        user_a.join().unwrap();
        let c = user_c.join().unwrap();
        let a = std::sync::Arc::into_inner(a).expect("the user thread is joined");

        assert_eq!(destroyed_b, Ok(()), "the primary outlives a destroyed alias");
        assert_eq!(a.state(), InstanceState::Live, "the primary outlives a destroyed alias");
        assert_eq!(a.refcount(), 2, "the primary counts itself and alias_c");
        assert_eq!(names(world), ["prim_a", "alias_c"]);
        assert_eq!(sysfs_node(world, "alias_b"), None, "the alias's link goes with it");
        assert!(c.is_alias() && std::ptr::eq(c.primary_cache().unwrap(), &*a));
        let st = a.stats().unwrap();
        assert_eq!(st.live_objects(), 1, "only the resident object is in use: {st:?}");
        assert_eq!(world.storage_stats(), st, "one storage for the three names");

        a.free(resident).unwrap();
        kmem_cache_destroy(c).unwrap();
        kmem_cache_destroy(a).unwrap();
        assert!(world.caches().is_empty() && world.orphans().is_empty());
        assert_eq!(world.pages(), 0, "the storage is released with the primary");
        // SAFETY: the threads are joined and every handle was destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0);
    });
}

/// mm/slab_common.c: kmem_cache_destroy() of an alias (primary scheme) while
/// other CPUs allocate and free through the primary and through another
/// alias: the alias goes alone, the primary keeps its storage and count.
#[test]
fn loom_destroy_alias_leaves_primary_and_other_aliases_usable() {
    destroy_alias_under_traffic(None);
}

// ---------------------------------------------------------------------------
// Model 2: destroy of the last alias racing kfree().

fn destroy_last_alias_races_kfree(broken: Option<Broken>) {
    model("destroy_last_alias_races_kfree", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Primary, 2, broken));
        let world = mw.world;
        let a = create(world, "prim_a");
        let c = create(world, "alias_c");
        assert!(c.is_alias());
        // The primary's creator goes first: the primary is headless and
        // alias_c holds the last reference.
        kmem_cache_destroy(a).unwrap();
        // CPU 1 refills its main sheaf from three new slabs, then frees
        // until its main and spare sheaves are both full: the kfree() below
        // puts a full sheaf into the barn (a new empty sheaf comes back), or
        // finds the sheaves flushed, or finds them locked by the flush and
        // frees to the slab. CPU 0 caches one object, so the shutdown flush
        // frees objects to slabs under list_lock on both CPUs.
        let (object, x5) = with_cpu(1, || {
            let mut x: Vec<_> = (0..5).map(|_| c.alloc().unwrap()).collect();
            let (x5, x1) = (x.pop().unwrap(), x.remove(0));
            c.free_bulk(x).unwrap();
            (x1, x5)
        });
        c.free(x5).unwrap();
        let st = c.stats().unwrap();
        assert_eq!((st.slabs, st.sheaves, st.sheaf_objects, st.live_objects()), (3, 3, 5, 1), "{st:?}");
        let freer = thread::spawn(move || {
            set_current_cpu(1);
            world.kfree(object).unwrap();
        });
        let destroyed = kmem_cache_destroy(c);
        freer.join().unwrap();

        assert!(world.caches().is_empty(), "{:?}", names(world));
        let orphans = world.orphans();
        match destroyed {
            Ok(()) => {
                assert!(orphans.is_empty());
                assert_eq!(world.pages(), 0, "released at destroy");
                assert_eq!(world.storage_stats(), Default::default());
            }
            Err(SlabError::CacheBusy { objects, .. }) => {
                assert_eq!(objects, 1, "only the racing object was left");
                assert_eq!(orphans.len(), 1);
                // The headless primary, called by its unique id (design/primary-cache.md).
                assert_eq!((orphans[0].name.as_str(), orphans[0].state), (":0000032", InstanceState::Destroyed));
                let st = world.storage_stats();
                assert_eq!(st.live_objects(), 0, "the late kfree() was not lost: {st:?}");
                assert_eq!((st.slabs, st.total_objects), (1, 2), "{st:?}");
                assert_eq!(world.pages(), 1, "the orphan keeps the slab of the late object");
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        // SAFETY: the thread is joined and both handles were destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0, "an orphan is released at power-off");
    });
}

/// mm/slab_common.c: kmem_cache_destroy() of the last alias (primary scheme)
/// racing kfree() of an object allocated through it on another CPU. The
/// storage is released exactly once: at the destroy if the object was back
/// on its slab, else at power-off after being kept as an orphan; never with
/// a slab left on its lists (mm/slub.c: __kmem_cache_shutdown(), free_partial()).
#[test]
fn loom_destroy_last_alias_racing_kfree_releases_storage_once() {
    destroy_last_alias_races_kfree(None);
}

// ---------------------------------------------------------------------------
// Model 3: destroy of an alias racing a create that merges into the same primary.

fn destroy_alias_races_merging_create(broken: Option<Broken>) {
    model("destroy_alias_races_merging_create", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Primary, 2, broken));
        let world = mw.world;
        let a = create(world, "prim_a");
        let b = create(world, "alias_b");
        let creator = thread::spawn(move || {
            set_current_cpu(1);
            let d = create(world, "alias_d");
            churn(&d);
            d
        });
        kmem_cache_destroy(b).unwrap();
        let d = creator.join().unwrap();

        assert!(d.is_alias() && std::ptr::eq(d.primary_cache().unwrap(), &*a), "alias_d merges into prim_a");
        assert_eq!(a.refcount(), 2);
        assert_eq!(names(world), ["prim_a", "alias_d"]);
        assert_eq!(sysfs_node(world, "alias_b"), None);
        assert!(matches!(sysfs_node(world, "alias_d"), Some(SysfsNode::Link { .. })));
        assert_eq!(a.stats().unwrap().live_objects(), 0);

        kmem_cache_destroy(a).unwrap();
        assert_eq!(d.primary_cache().unwrap().state(), InstanceState::Headless);
        kmem_cache_destroy(d).unwrap();
        assert!(world.caches().is_empty() && world.orphans().is_empty());
        assert_eq!(world.pages(), 0);
        // SAFETY: the thread is joined and every handle was destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0);
    });
}

/// mm/slab_common.c: kmem_cache_destroy() of an alias racing
/// __kmem_cache_create_args() of a compatible cache: find_mergeable() finds
/// the primary, never the dying alias, and the counts add up either way.
#[test]
fn loom_destroy_alias_racing_merging_create_keeps_primary() {
    destroy_alias_races_merging_create(None);
}

// ---------------------------------------------------------------------------
// Model 4: the primary's creator goes while aliases remain; then the last alias.

fn primary_destroyed_before_its_aliases(broken: Option<Broken>) {
    model("primary_destroyed_before_its_aliases", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Primary, 3, broken));
        let world = mw.world;
        let a = create(world, "prim_a");
        let b = create(world, "alias_b");
        let c = create(world, "alias_c");
        let user = |cpu: u32, cache: Cache<'static>| {
            thread::spawn(move || {
                set_current_cpu(cpu);
                let object = cache.alloc().unwrap();
                world.kfree(object).unwrap();
                kmem_cache_destroy(cache)
            })
        };
        let (user_b, user_c) = (user(1, b), user(2, c));
        let destroyed_a = kmem_cache_destroy(a);
        // While an alias remains the primary stays listed, headless (and
        // called by its unique id), for it.
        assert!(!names(world).iter().any(|n| n == "prim_a"), "{:?}", names(world));
        for info in world.caches().into_iter().filter(|c| !c.is_alias) {
            assert_eq!(info.state, InstanceState::Headless, "{info:?}");
            assert_eq!(info.name, ":0000032", "{info:?}");
            assert!(info.refcount >= 1, "{info:?}");
        }
        let (destroyed_b, destroyed_c) = (user_b.join().unwrap(), user_c.join().unwrap());

        assert_eq!((destroyed_a, destroyed_b, destroyed_c), (Ok(()), Ok(()), Ok(())));
        assert!(world.caches().is_empty(), "{:?}", names(world));
        assert!(world.orphans().is_empty(), "no object was left");
        assert_eq!(world.storage_stats(), Default::default());
        assert_eq!(world.pages(), 0, "the last of the three released the storage");
        assert!(world.sysfs().is_empty(), "{:?}", world.sysfs());
        // SAFETY: the threads are joined and every handle was destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0);
    });
}

/// mm/slab_common.c: kmem_cache_destroy() of a primary whose aliases are
/// still in use (primary scheme): it stays headless for them, and the last
/// of the three destroys, whichever it is, releases the storage, after every
/// user is done with it.
#[test]
fn loom_primary_destroyed_before_aliases_is_released_by_the_last() {
    primary_destroyed_before_its_aliases(None);
}

// ---------------------------------------------------------------------------
// Model 5: module unload racing a create that may merge into the hidden primary.

fn module_unload_races_merging_create(broken: Option<Broken>) {
    model("module_unload_races_merging_create", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Primary, 2, broken));
        let world = mw.world;
        let mut module: Module<'static> = world.module_load("mod_m", 1);
        let s = module.kmem_cache_setup(0, "mod_cache", 32, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        assert!(s.is_alias());
        assert_eq!(s.primary_cache().unwrap().kind(), InstanceKind::HiddenPrimary);
        let object = s.alloc().unwrap();
        s.free(object).unwrap();
        let creator = thread::spawn(move || {
            set_current_cpu(1);
            let d = create(world, "dyn_d");
            churn(&d);
            d
        });
        module.kmem_cache_destroy(0).unwrap();
        if world.module_unload(module).is_err() {
            panic!("the module has no cache left");
        }
        let d = creator.join().unwrap();

        let caches = world.caches();
        if d.is_alias() {
            // Created first: it merged into the hidden primary, which outlives the module.
            let hidden = d.primary_cache().unwrap();
            assert_eq!((hidden.kind(), hidden.refcount()), (InstanceKind::HiddenPrimary, 1));
            assert_eq!(caches.len(), 2);
            assert_eq!((caches[0].kind, caches[1].name.as_str()), (InstanceKind::HiddenPrimary, "dyn_d"));
        } else {
            // Created after the unload: the hidden primary was gone with it.
            assert_eq!(names(world), ["dyn_d"]);
            assert_eq!(d.refcount(), 1);
        }
        assert!(world.modules().is_empty());
        assert_eq!(d.stats().unwrap().live_objects(), 0);
        kmem_cache_destroy(d).unwrap();
        assert!(world.caches().is_empty() && world.orphans().is_empty());
        assert_eq!(world.pages(), 0);
        // SAFETY: the thread is joined, the module is unloaded and every handle was destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0);
    });
}

/// kernel/module/main.c: delete_module() of a module whose static instance is
/// an alias of a hidden primary (primary scheme), racing
/// __kmem_cache_create_args() of a compatible dynamic cache: the hidden
/// primary lives exactly as long as an alias names it, and module memory is
/// freed with nothing pointing into it.
#[test]
fn loom_module_unload_racing_merging_create_frees_hidden_primary_once() {
    module_unload_races_merging_create(None);
}

// ---------------------------------------------------------------------------
// Model 6: mainline, for comparison.

fn mainline_destroy_races_merging_create(broken: Option<Broken>) {
    model("mainline_destroy_races_merging_create", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Mainline, 2, broken));
        let world = mw.world;
        let a = create(world, "cache_a");
        let b = create(world, "cache_b");
        assert_eq!((b.refcount(), b.name()), (2, "cache_a".to_owned()), "mainline: the same instance");
        let creator = thread::spawn(move || {
            set_current_cpu(1);
            let c = create(world, "cache_c");
            churn(&c);
            c
        });
        kmem_cache_destroy(b).unwrap();
        kmem_cache_destroy(a).unwrap();
        let c = creator.join().unwrap();

        let caches = world.caches();
        assert_eq!(caches.len(), 1);
        // Merged while cache_a was listed: the instance keeps its first name.
        // Created after its shutdown: a new cache of its own name.
        assert!(["cache_a", "cache_c"].contains(&caches[0].name.as_str()), "{caches:?}");
        assert_eq!((caches[0].refcount, caches[0].names.clone()), (1, vec!["cache_c".to_owned()]));
        assert_eq!(c.stats().unwrap().live_objects(), 0);
        kmem_cache_destroy(c).unwrap();
        assert!(world.caches().is_empty() && world.orphans().is_empty());
        assert_eq!(world.pages(), 0);
        // SAFETY: the thread is joined and every handle was destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0);
    });
}

/// mm/slab_common.c: kmem_cache_destroy() (mainline refcounting) racing
/// __kmem_cache_create_args() that merges into the same cache: the create
/// either takes a reference before the last destroy or finds nothing and
/// creates anew; never a reference to a cache being shut down.
#[test]
fn loom_mainline_destroy_racing_merging_create_is_refcounted() {
    mainline_destroy_races_merging_create(None);
}

// ---------------------------------------------------------------------------
// Model 7: two kfree_addr() of one address.

fn racing_kfree_addr_of_one_address(broken: Option<Broken>) {
    model("racing_kfree_addr_of_one_address", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Mainline, 2, broken));
        let world = mw.world;
        let c = world
            .kmem_cache_create("checked", 32, KmemCacheArgs::default(), crate::flags::SLAB_CONSISTENCY_CHECKS)
            .expect("kmem_cache_create");
        // Two objects: the slab stays (one object in use) whoever wins.
        let (keep, object) = (c.alloc().unwrap(), c.alloc().unwrap());
        let addr = object.addr();
        drop(object); // the token is given up before its address is freed
        let other = thread::spawn(move || {
            set_current_cpu(1);
            // SAFETY: no token names `addr`.
            unsafe { world.kfree_addr(addr) }
        });
        // SAFETY: no token names `addr`.
        let mine = unsafe { world.kfree_addr(addr) };
        let theirs = other.join().unwrap();
        let oks = usize::from(mine.is_ok()) + usize::from(theirs.is_ok());
        assert_eq!(oks, 1, "exactly one free of the address succeeds: {mine:?}, {theirs:?}");
        assert!(matches!(mine.and(theirs), Err(SlabError::DoubleFree { .. })));
        assert_eq!(c.stats().unwrap().live_objects(), 1);
        c.free(keep).unwrap();
        kmem_cache_destroy(c).unwrap();
        // SAFETY: the thread is joined and the handle was destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0);
    });
}

// Model 8: publication of a new slab to a tokenless lookup (the page map).

/// A debug cache: no sheaves, every free goes to its slab, and `kfree_addr`
/// checks the address.
fn create_checked(world: &'static World, name: &str) -> Cache<'static> {
    world
        .kmem_cache_create(name, 32, KmemCacheArgs::default(), crate::flags::SLAB_CONSISTENCY_CHECKS)
        .expect("kmem_cache_create")
}

fn new_slab_races_tokenless_lookup(broken: Option<Broken>) {
    model("new_slab_races_tokenless_lookup", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Mainline, 2, broken));
        let world = mw.world;
        let cache = create_checked(world, "checked");
        // Learn where the slab's second object lies, then give the slab back:
        // the range hands the same block out again (lowest address first).
        let (x, y) = (cache.alloc().unwrap(), cache.alloc().unwrap());
        let second = y.addr();
        cache.free(y).unwrap();
        cache.free(x).unwrap();
        cache.shrink().unwrap();
        assert_eq!(world.pages(), 0);
        let cache = std::sync::Arc::new(cache);
        let allocator = {
            let cache = cache.clone();
            thread::spawn(move || {
                set_current_cpu(1);
                let x = cache.alloc().unwrap();
                assert_ne!(x.addr(), second, "objects come in address order");
                x
            })
        };
        // kfree_addr() of the free second object, while the slab is being
        // created: not this world's slab yet, or found and already free.
        // Finding the slab must mean seeing its freelist.
        // SAFETY: no token names `second` (it is free throughout).
        let freed = unsafe { world.kfree_addr(second) };
        assert!(matches!(freed, Err(SlabError::NotSlabObject { .. }) | Err(SlabError::DoubleFree { .. })), "{freed:?}");
        let x = allocator.join().unwrap();
        let cache = std::sync::Arc::into_inner(cache).expect("the thread is joined");
        cache.free(x).unwrap();
        kmem_cache_destroy(cache).unwrap();
        // SAFETY: the thread is joined and the handle destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0);
    });
}

/// mm/slub.c: free_to_partial_list(): the checks of free_debug_processing()
/// and the free run under one list_lock, so of two racing frees of one
/// address exactly one succeeds and the other is a double free.
#[test]
fn loom_racing_kfree_addr_frees_once() {
    racing_kfree_addr_of_one_address(None);
}

/// mm/slub.c: allocate_slab() publishes the slab (`__folio_set_slab()`,
/// `slab->slab_cache`) before anyone can find it by address; a tokenless
/// lookup (kfree_addr, under the world's discard lock) that finds it sees
/// its initialised freelist.
#[test]
fn loom_new_slab_is_published_to_tokenless_lookups() {
    new_slab_races_tokenless_lookup(None);
}

// ---------------------------------------------------------------------------
// Model 9: retirement of a slab against the free of its last object.

fn shrink_races_last_free(broken: Option<Broken>) {
    model("shrink_races_last_free", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(tiny(Scheme::Mainline, 2, broken));
        let world = mw.world;
        let cache = create_checked(world, "checked");
        let (x, y) = (cache.alloc().unwrap(), cache.alloc().unwrap());
        cache.free(y).unwrap();
        // One object in use: the slab is partial.
        let freer = thread::spawn(move || {
            set_current_cpu(1);
            world.kfree(x).map_err(|e| e.error().clone()).expect("the object keeps its slab mapped");
        });
        cache.shrink().unwrap();
        freer.join().unwrap();
        assert_eq!(cache.stats().unwrap().live_objects(), 0);
        kmem_cache_destroy(cache).unwrap();
        assert_eq!(world.pages(), 0);
        // SAFETY: the thread is joined and the handle destroyed.
        assert_eq!(unsafe { mw.power_off() }, 0);
    });
}

/// mm/slub.c: a slab's pages are unmapped (`__folio_clear_slab()`) only
/// after its last object is back: kmem_cache_shrink() racing kfree() of
/// that object never leaves the freer without a slab.
#[test]
fn loom_shrink_retires_a_slab_only_after_its_last_free() {
    shrink_races_last_free(None);
}

// ---------------------------------------------------------------------------
// Proof that the models fail: broken teardown steps, run in a child process.

/// Set in the child process that runs a model with a broken step.
const BROKEN_CHILD: &str = "SLABMERGE_LOOM_BROKEN_CHILD";

/// In the child: runs `run(Some(broken))`, which must fail. In the parent:
/// runs test `test` alone in a child process and asserts that it failed with
/// one of the `expected` messages on its stderr.
pub(super) fn expect_caught(test: &str, broken: Broken, run: fn(Option<Broken>), expected: &[&str]) {
    expect_caught_at(test, broken, run, expected, None);
}

/// [`expect_caught`] with the child's preemption bound set to `preemptions`
/// (`LOOM_MAX_PREEMPTIONS`), for a bug whose interleaving needs more
/// preemptions than the passing models are run with.
fn expect_caught_at(test: &str, broken: Broken, run: fn(Option<Broken>), expected: &[&str], preemptions: Option<&str>) {
    if std::env::var_os(BROKEN_CHILD).is_some() {
        run(Some(broken));
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    child.args([test, "--exact", "--nocapture", "--test-threads=1"]).env(BROKEN_CHILD, "1");
    if let Some(bound) = preemptions {
        child.env("LOOM_MAX_PREEMPTIONS", bound);
    }
    let out = child.output().expect("run the test binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "loom did not catch {broken:?}:\n{stderr}");
    assert!(
        expected.iter().any(|e| stderr.contains(e)),
        "{broken:?} failed, but not as expected {expected:?}:\n{stderr}"
    );
}

/// mm/slab_common.c: kmem_cache_destroy(): an alias's destroy drops one
/// reference of its primary; shutting the storage down when the alias's own
/// count drops is caught by model 1.
#[test]
fn loom_catches_release_on_alias_count() {
    expect_caught(
        "tests::loom::loom_catches_release_on_alias_count",
        Broken::ReleaseOnAliasCount,
        destroy_alias_under_traffic,
        &["the primary outlives a destroyed alias"],
    );
}

/// mm/slub.c: flush_all() runs on each CPU under its per-cpu lock; flushing
/// another CPU's sheaves without it is caught by model 2.
#[test]
fn loom_catches_flush_without_cpu_lock() {
    expect_caught(
        "tests::loom::loom_catches_flush_without_cpu_lock",
        Broken::FlushWithoutCpuLock,
        destroy_last_alias_races_kfree,
        &["Causality violation", "attempt to subtract with overflow"],
    );
}

/// mm/slub.c: __kmem_cache_shutdown() is clean only when no slab is left;
/// counting objects alone releases a slab that a racing kfree() emptied,
/// which model 2 catches. Three preemptions: flush_all() copies the CPUs'
/// objects out and frees them to slabs after letting the CPUs go (as the
/// kernel's sheaf_flush_main() does), so the kfree() that missed its sheaves
/// no longer blocks on a list_lock the flush holds; it must be preempted
/// between the miss and its __slab_free(), and the destroy once more before
/// its final check.
#[test]
fn loom_catches_shutdown_counting_objects_only() {
    expect_caught_at(
        "tests::loom::loom_catches_shutdown_counting_objects_only",
        Broken::ShutdownCountsObjectsOnly,
        destroy_last_alias_races_kfree,
        &["released at destroy", "Allocation leaked"],
        Some("3"),
    );
}

// ---------------------------------------------------------------------------
// The per-cpu protocol (`slub/percpu.rs`), through the allocator's own paths:
// `slab_alloc`/`slab_free` enter the CPU's slot (`with_local_or`), and
// `shrink` runs `flush_all` (`lock_remote_all`, one heavy fence). Loom's
// `UnsafeCell` tracking reports any execution in which an owner and a remote
// touch a CPU's `PerCpuSheaves` without a happens-before edge; the object
// accounting after `join` catches a lost or duplicated sheaf object.

/// What a protocol model reports when a seeded bug lets two contexts in.
const PCS_CAUGHT: &[&str] = &["Causality violation", "attempt to subtract with overflow", "live objects"];

/// Frees everything, checks the accounting, destroys the cache and powers
/// off; every thread that shared the cache has been joined.
fn pcs_finish(mw: ModelWorld, a: std::sync::Arc<Cache<'static>>) {
    let a = std::sync::Arc::into_inner(a).expect("every thread sharing the cache is joined");
    let st = a.stats().unwrap();
    assert_eq!(st.live_objects(), 0, "live objects after every free: {st:?}");
    kmem_cache_destroy(a).unwrap();
    assert_eq!(mw.world.pages(), 0);
    // SAFETY: the threads are joined and the handle was destroyed.
    assert_eq!(unsafe { mw.power_off() }, 0);
}

fn pcs_config(cpus: u32, broken: Option<Broken>, fallback: bool) -> SlabConfig {
    SlabConfig { percpu_fallback: fallback, ..tiny(Scheme::Mainline, cpus, broken) }
}

// Model P1: the owner's fast path against a remote flush_all().

fn pcs_owner_vs_flush(broken: Option<Broken>, fallback: bool) {
    model("pcs_owner_vs_flush", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(pcs_config(2, broken, fallback));
        let a = std::sync::Arc::new(create(mw.world, "pcs_a"));
        // Claim CPU 0's slot and fill its main sheaf before the remote
        // exists, so the race is the owner's fast path against the flush.
        let x = a.alloc().unwrap();
        let remote = flush_from_cpu1(&a);
        a.free(x).unwrap();
        let y = a.alloc().unwrap();
        remote.join().unwrap();
        a.free(y).unwrap();
        if !fallback {
            assert!(a.storage().unwrap().owns_local_pcs(), "a flush leaves the owner its slot");
        }
        pcs_finish(mw, a);
    });
}

/// mm/slub.c: flush_all() against the owner CPU's alloc_from_pcs() and
/// free_to_pcs(): the flush shuts the owner out (membarrier), waits for its
/// critical section, empties its sheaves and gives the slot back.
#[test]
fn loom_pcs_owner_fast_path_vs_remote_flush() {
    pcs_owner_vs_flush(None, false);
}

/// The same with `SlabConfig::percpu_fallback`: every entry takes the
/// slot's compare-and-swap trylock, and so does the flush.
#[test]
fn loom_pcs_fallback_owner_vs_remote_flush() {
    pcs_owner_vs_flush(None, true);
}

// Model P2: a thread on CPU 0 steals the slot of an owner that migrated.

fn pcs_steal_from_migrated(broken: Option<Broken>) {
    model("pcs_steal_from_migrated", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(pcs_config(2, broken, false));
        let a = std::sync::Arc::new(create(mw.world, "pcs_a"));
        let x = a.alloc().unwrap(); // claims CPU 0's slot
        let claimer = {
            let a = a.clone();
            thread::spawn(move || {
                set_current_cpu(0);
                let o = a.alloc().unwrap();
                a.free(o).unwrap();
                a.storage().unwrap().owns_local_pcs()
            })
        };
        a.free(x).unwrap(); // the owner's fast path on CPU 0's slot
        set_current_cpu(1); // migrates: the claimer may now steal slot 0
        let z = a.alloc().unwrap();
        a.free(z).unwrap();
        let stole = claimer.join().unwrap();
        with_cpu(0, || assert_eq!(a.storage().unwrap().owns_local_pcs(), !stole, "one owner per slot"));
        pcs_finish(mw, a);
    });
}

/// A thread that finds its CPU's slot owned by a thread that migrated
/// away steals it through the remote protocol (heavy fence, wait for the
/// displaced owner's critical section) and then takes the fast path.
#[test]
fn loom_pcs_claimer_steals_from_migrated_owner() {
    pcs_steal_from_migrated(None);
}

// Model P3: the owner exits; a thread on its CPU takes the slot over.

#[test]
fn loom_pcs_claimer_steals_from_exited_owner() {
    model("pcs_steal_from_exited", || {
        set_current_cpu(0);
        let mw = ModelWorld::new(pcs_config(1, None, false));
        let a = std::sync::Arc::new(create(mw.world, "pcs_a"));
        let owner = {
            let a = a.clone();
            thread::spawn(move || {
                set_current_cpu(0);
                let o = a.alloc().unwrap();
                a.free(o).unwrap();
            })
        };
        let o = a.alloc().unwrap();
        a.free(o).unwrap();
        owner.join().unwrap();
        // The other thread has exited: this one must own CPU 0's slot once
        // that thread's TLS destructor has marked it dead. Loom's `join`
        // returns before a thread's TLS destructors run (std's waits for
        // them), so retry with a yield; a model that never gets the slot
        // runs into loom's branch limit and fails.
        while !a.storage().unwrap().owns_local_pcs() {
            let o = a.alloc().unwrap();
            a.free(o).unwrap();
            if !a.storage().unwrap().owns_local_pcs() {
                thread::yield_now();
            }
        }
        pcs_finish(mw, a);
    });
}

// Model P4: two threads on one CPU: one context at a time.

fn pcs_two_on_one_slot(fallback: bool) {
    model("pcs_two_on_one_slot", move || {
        set_current_cpu(0);
        let mw = ModelWorld::new(pcs_config(1, None, fallback));
        let a = std::sync::Arc::new(create(mw.world, "pcs_a"));
        let user = || {
            let a = a.clone();
            move || {
                set_current_cpu(0);
                let o = a.alloc().unwrap();
                a.free(o).unwrap();
                a.storage().unwrap().owns_local_pcs()
            }
        };
        let other = thread::spawn(user());
        let me = user()();
        let other = other.join().unwrap();
        if !fallback {
            // The first claimer owns the slot until it exits; the other may
            // then steal it, so each answer is "owned when I last looked".
            assert!(me || other, "neither thread got the slot");
        }
        pcs_finish(mw, a);
    });
}

/// Two live threads on one CPU: the first to claim owns the slot, the other
/// takes the slab slow path (never both inside, never neither owner).
#[test]
fn loom_pcs_two_threads_one_slot() {
    pcs_two_on_one_slot(false);
}

/// The same in fallback mode: the trylock excludes them.
#[test]
fn loom_pcs_two_threads_one_slot_fallback() {
    pcs_two_on_one_slot(true);
}

fn pcs_owner_vs_flush_membarrier(broken: Option<Broken>) {
    pcs_owner_vs_flush(broken, false);
}

fn pcs_owner_vs_flush_fallback(broken: Option<Broken>) {
    pcs_owner_vs_flush(broken, true);
}

/// The owner must re-check `owner` after publishing its busy word.
#[test]
fn loom_catches_pcs_skip_recheck() {
    expect_caught(
        "tests::loom::loom_catches_pcs_skip_recheck",
        Broken::SkipRecheck,
        pcs_owner_vs_flush_membarrier,
        PCS_CAUGHT,
    );
}

/// Without the owner's half of the fence its store and re-check reorder.
#[test]
fn loom_catches_pcs_skip_light_fence() {
    expect_caught(
        "tests::loom::loom_catches_pcs_skip_light_fence",
        Broken::SkipLightFence,
        pcs_owner_vs_flush_membarrier,
        PCS_CAUGHT,
    );
}

/// Without membarrier the flush may read a stale busy word.
#[test]
fn loom_catches_pcs_skip_heavy_fence() {
    expect_caught(
        "tests::loom::loom_catches_pcs_skip_heavy_fence",
        Broken::SkipHeavyFence,
        pcs_owner_vs_flush_membarrier,
        PCS_CAUGHT,
    );
}

/// The owner's busy period must cover its accesses to the sheaves.
#[test]
fn loom_catches_pcs_early_clear() {
    expect_caught(
        "tests::loom::loom_catches_pcs_early_clear",
        Broken::EarlyClear,
        pcs_owner_vs_flush_membarrier,
        PCS_CAUGHT,
    );
}

/// The flush must wait for the displaced owner's critical section.
#[test]
fn loom_catches_pcs_no_wait() {
    expect_caught("tests::loom::loom_catches_pcs_no_wait", Broken::NoWait, pcs_owner_vs_flush_membarrier, PCS_CAUGHT);
}

/// In fallback mode the flush must take the slot's trylock.
#[test]
fn loom_catches_pcs_fallback_no_lock() {
    expect_caught(
        "tests::loom::loom_catches_pcs_fallback_no_lock",
        Broken::FallbackNoLock,
        pcs_owner_vs_flush_fallback,
        PCS_CAUGHT,
    );
}

/// mm/slub.c: free_to_partial_list(): checking under one list_lock section
/// and freeing under another lets both of two racing frees pass, which
/// model 7 catches.
#[test]
fn loom_catches_kfree_addr_check_then_free() {
    expect_caught(
        "tests::loom::loom_catches_kfree_addr_check_then_free",
        Broken::KfreeAddrCheckThenFree,
        racing_kfree_addr_of_one_address,
        &["exactly one free of the address succeeds", "attempt to subtract with overflow"],
    );
}

/// The page map's Release publication is what a tokenless lookup relies
/// on; a Relaxed store is caught by model 8 (the freelist read races with
/// its initialisation).
#[test]
fn loom_catches_relaxed_slab_publication() {
    expect_caught(
        "tests::loom::loom_catches_relaxed_slab_publication",
        Broken::RelaxedSlabPublication,
        new_slab_races_tokenless_lookup,
        &["Causality violation"],
    );
}

/// Discarding a slab before its last free clears its page map entries under
/// the freer, which model 9 catches.
#[test]
fn loom_catches_shrink_discarding_before_the_last_free() {
    expect_caught(
        "tests::loom::loom_catches_shrink_discarding_before_the_last_free",
        Broken::ShrinkDiscardsBeforeLastFree,
        shrink_races_last_free,
        &["the object keeps its slab mapped", "Causality violation", "live_objects"],
    );
}

// ---------------------------------------------------------------------------
// Real CPUs (`slub/rseq/`): the restartable sequences as modelled by
// `slub/rseq/model.rs` (one loom mutex per CPU held across each section, the
// abort as locking and unlocking it), on the allocator's own paths: the
// instance's `rseq::pop`/`rseq::push`, `kfree`'s `rseq::push` on the
// storage, the slow paths' `rseq::lock`, and `flush_all`'s close, abort
// and wait. As for the virtual CPUs, loom's `UnsafeCell` tracking of a
// slot's `PerCpuSheaves` reports a section, a holder of the slot and a
// remote that touch it without a happens-before edge, and the accounting
// after `join` a lost or duplicated object.

/// The tiny configuration with real CPUs (`rseq::model::MODEL_CPUS` of them).
fn rseq_config(broken: Option<Broken>) -> SlabConfig {
    SlabConfig { real_cpus: true, ..tiny(Scheme::Mainline, 2, broken) }
}

/// A real-CPU world and its one cache.
fn rseq_world(broken: Option<Broken>) -> (ModelWorld, std::sync::Arc<Cache<'static>>) {
    let mw = ModelWorld::new(rseq_config(broken));
    assert!(mw.world.config().real_cpus, "loom's model of the sections is available");
    let a = create(mw.world, "rseq_a");
    assert_eq!(a.storage().unwrap().cpu_sheaves.mode(), crate::slub::percpu::Effective::Rseq);
    (mw, std::sync::Arc::new(a))
}

/// A remote flush: a thread on CPU 1 that shrinks the cache (`flush_all`).
fn flush_from_cpu1(a: &std::sync::Arc<Cache<'static>>) -> thread::JoinHandle<()> {
    let a = a.clone();
    thread::spawn(move || {
        set_current_cpu(1);
        a.shrink().unwrap();
    })
}

/// A second thread on CPU 0 that allocates one object and frees it.
fn alloc_free_on_cpu0(a: &std::sync::Arc<Cache<'static>>) -> thread::JoinHandle<()> {
    let a = a.clone();
    thread::spawn(move || {
        set_current_cpu(0);
        let o = a.alloc().unwrap();
        a.free(o).unwrap();
    })
}

// Model R1: the fast path on CPU 0 against a remote flush from CPU 1.

fn rseq_fast_path_vs_flush(broken: Option<Broken>, kfree: bool) {
    model(if kfree { "rseq_kfree_vs_flush" } else { "rseq_fast_path_vs_flush" }, move || {
        set_current_cpu(0);
        let (mw, a) = rseq_world(broken);
        let world = mw.world;
        // The first allocation takes CPU 0's lock and refills its main
        // sheaf; the race is then the sections against the flush.
        let x = a.alloc().unwrap();
        let remote = flush_from_cpu1(&a);
        if kfree {
            world.kfree(x).unwrap(); // a push section on the storage's slots
            let y = a.alloc().unwrap();
            world.kfree(y).unwrap();
        } else {
            a.free(x).unwrap(); // a push section on the instance's slots
            let y = a.alloc().unwrap(); // a pop section
            a.free(y).unwrap();
        }
        remote.join().unwrap();
        pcs_finish(mw, a);
    });
}

/// mm/slub.c: flush_all() against CPU 0's alloc_from_pcs() and
/// free_to_pcs() hits as restartable sequences: the flush closes CPU 0's
/// slot (`STOPPED`), aborts its sections and empties its sheaves; a
/// section either completed before or misses on the closed sheaf.
#[test]
fn loom_rseq_fast_path_vs_remote_flush() {
    rseq_fast_path_vs_flush(None, false);
}

/// The same for kfree(), whose push section reads the slots from the storage.
#[test]
fn loom_rseq_kfree_vs_remote_flush() {
    rseq_fast_path_vs_flush(None, true);
}

fn rseq_fast_path_vs_flush_free(broken: Option<Broken>) {
    rseq_fast_path_vs_flush(broken, false);
}

// Model R2: a slow path of CPU 0 holding its lock against a remote flush.

fn rseq_refill_vs_flush(broken: Option<Broken>) {
    model("rseq_refill_vs_flush", move || {
        set_current_cpu(0);
        let (mw, a) = rseq_world(broken);
        let remote = flush_from_cpu1(&a);
        // CPU 0's main sheaf is empty: the allocation takes the lock and
        // refills it, which the flush waits for, or finds the slot closed and
        // allocates from a slab.
        let x = a.alloc().unwrap();
        a.free(x).unwrap();
        remote.join().unwrap();
        pcs_finish(mw, a);
    });
}

/// mm/slub.c: flush_all() against a refill of CPU 0's main sheaf under its
/// local lock: the flush waits for the holder to open the slot, and a lock
/// section after the close fails like a failed local_trylock().
#[test]
fn loom_rseq_refill_vs_remote_flush() {
    rseq_refill_vs_flush(None);
}

// Model R3: two threads on CPU 0, a slow path holding the lock and sections.

fn rseq_two_threads_one_cpu(broken: Option<Broken>) {
    model("rseq_two_threads_one_cpu", move || {
        set_current_cpu(0);
        let (mw, a) = rseq_world(broken);
        // CPU 0's main sheaf is empty: each thread's next allocation misses
        // and takes the lock to refill it, or finds it taken and goes to
        // the slab lists, or finds the other's refill and pops.
        let (x, y) = (a.alloc().unwrap(), a.alloc().unwrap());
        // Its free is a push section, maybe during the refill.
        let other = alloc_free_on_cpu0(&a);
        let z = a.alloc().unwrap();
        other.join().unwrap();
        for o in [x, y, z] {
            a.free(o).unwrap();
        }
        pcs_finish(mw, a);
    });
}

/// Two threads on one CPU: a slow path holds the slot closed (a
/// refill) while the other's sections miss, or they run one after the
/// other; never both inside.
#[test]
fn loom_rseq_two_threads_one_cpu() {
    rseq_two_threads_one_cpu(None);
}

// Model R4: the holder of CPU 0's lock migrates to CPU 1 and releases there.

fn rseq_lock_holder_migrates(broken: Option<Broken>) {
    model("rseq_lock_holder_migrates", move || {
        set_current_cpu(0);
        let (mw, a) = rseq_world(broken);
        let x = a.alloc().unwrap(); // CPU 0's main sheaf: one object left
        let other = alloc_free_on_cpu0(&a);
        // The blocking local_lock() of CPU 0 (a lock section, or the remote
        // protocol on the thread's own CPU if the other thread holds it);
        // inside, the thread moves to CPU 1 and works on CPU 0's sheaves
        // from there, then lets go from CPU 1.
        let remote = flush_from_cpu1(&a);
        let slot = a.storage().unwrap().with_local_pcs(|slot, pcs| {
            set_current_cpu(1);
            if let Some(o) = pcs.alloc_hit() {
                assert!(pcs.free_hit(pcs.home, o), "the sheaf has room for what it held");
            }
            slot
        });
        assert_eq!(slot, 0, "taken on CPU 0");
        a.free(x).unwrap(); // a push section on CPU 1
        other.join().unwrap();
        remote.join().unwrap();
        pcs_finish(mw, a);
    });
}

/// A slow path of CPU 0 that migrates to CPU 1 while it holds CPU 0's lock
/// word and lets go from there, while a thread on CPU 0 allocates and frees
/// and a flush from CPU 1 waits for it to open the slot: CPU 0's sections miss
/// until the release, and see the holder's work after it.
#[test]
fn loom_rseq_lock_holder_migrates() {
    rseq_lock_holder_migrates(None);
}

/// Every pop and push must work on the slot's active sheaf: a flush's
/// closed sheaf shuts them out.
#[test]
fn loom_catches_rseq_ignore_closed() {
    expect_caught(
        "tests::loom::loom_catches_rseq_ignore_closed",
        Broken::RseqIgnoreClosed,
        rseq_fast_path_vs_flush_free,
        PCS_CAUGHT,
    );
}

/// The remote must abort the CPU's sections after closing the slot.
#[test]
fn loom_catches_rseq_no_abort() {
    expect_caught(
        "tests::loom::loom_catches_rseq_no_abort",
        Broken::RseqNoAbort,
        rseq_fast_path_vs_flush_free,
        PCS_CAUGHT,
    );
}

/// The slot must be closed before the abort, not after.
#[test]
fn loom_catches_rseq_close_after_abort() {
    expect_caught(
        "tests::loom::loom_catches_rseq_close_after_abort",
        Broken::RseqCloseAfterAbort,
        rseq_fast_path_vs_flush_free,
        PCS_CAUGHT,
    );
}

/// `lock`'s test of the active sheaf and its commit must be one section.
#[test]
fn loom_catches_rseq_lock_outside_section() {
    expect_caught(
        "tests::loom::loom_catches_rseq_lock_outside_section",
        Broken::RseqLockOutsideSection,
        rseq_two_threads_one_cpu,
        PCS_CAUGHT,
    );
}

/// The remote must not close the slot over a slow path that holds it.
#[test]
fn loom_catches_rseq_close_over_locked() {
    expect_caught(
        "tests::loom::loom_catches_rseq_close_over_locked",
        Broken::RseqCloseOverLocked,
        rseq_refill_vs_flush,
        PCS_CAUGHT,
    );
}

/// The same, for a holder that migrated away and lets go from another CPU.
#[test]
fn loom_catches_rseq_close_over_locked_migrated_holder() {
    expect_caught(
        "tests::loom::loom_catches_rseq_close_over_locked_migrated_holder",
        Broken::RseqCloseOverLocked,
        rseq_lock_holder_migrates,
        PCS_CAUGHT,
    );
}

/// After the abort the remote must check that no lock section of the CPU
/// closed the slot for itself between the swap and the abort.
#[test]
fn loom_catches_rseq_no_recheck() {
    expect_caught("tests::loom::loom_catches_rseq_no_recheck", Broken::RseqNoRecheck, rseq_refill_vs_flush, PCS_CAUGHT);
}
