//! Alias teardown under real threads (primary scheme): aliases are created and
//! destroyed in a loop while other threads allocate, free and kfree through
//! the same primary. Bounded in time; the loom models in `src/tests/loom.rs`
//! check the same teardown exhaustively on small cases.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use slabmerge::cpu::set_current_cpu;
use slabmerge::flags::SlabFlags;
use slabmerge::{Cache, Object, Scheme, SlabConfig, World, kmem_cache_destroy};

mod common;

/// 4 CPUs, sheaves of 4 objects, 4 objects per slab: refills, flushes, barn
/// exchanges, new slabs and discards happen every few operations.
fn world() -> World {
    common::world_with(SlabConfig::tiny(Scheme::Primary, 4, SHEAF_CAPACITY as u32, 4))
}

fn create<'w>(world: &'w World, name: &str) -> Cache<'w> {
    common::create(world, name, 48, SlabFlags::EMPTY)
}

/// Objects per sheaf in [`world`].
const SHEAF_CAPACITY: usize = 4;

/// How long each test lets its threads run.
const RUN_FOR: Duration = Duration::from_millis(700);

/// Per-thread pseudo-random numbers (xorshift64*), reproducible per seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// Sets the workers' stop flag when dropped, so a failing assertion in the
/// thread that would set it ends the test with that failure instead of
/// leaving the workers to run for ever (a scope joins its threads before it
/// lets a panic go on).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Counts of objects, to show that none is lost.
#[derive(Default)]
struct Tally {
    allocated: AtomicUsize,
    freed: AtomicUsize,
}

impl Tally {
    fn alloc(&self, object: Result<Object, slabmerge::AllocError>) -> Object {
        self.allocated.fetch_add(1, Ordering::Relaxed);
        object.expect("alloc")
    }

    fn freed(&self) {
        self.freed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Frees `object` one of three ways: through `cache`, through another
/// instance of the same primary, or with `kfree()`.
fn free_somehow(world: &World, tally: &Tally, rng: &mut Rng, cache: &Cache<'_>, other: &Cache<'_>, object: Object) {
    match rng.below(3) {
        0 => cache.free(object).expect("kmem_cache_free"),
        1 => other.free(object).expect("kmem_cache_free through another alias of the primary"),
        _ => world.kfree(object).expect("kfree"),
    }
    tally.freed();
}

/// mm/slab_common.c: kmem_cache_destroy() of aliases (primary scheme) in a
/// loop while other CPUs allocate and free through the primary: every
/// object is accounted for, objects that outlive their alias stay valid, and
/// destroying the primary gives every page back.
#[test]
fn alias_churn_under_traffic_accounts_for_every_object() {
    let world = world();
    let pages_at_boot = world.pages();
    let primary = create(&world, "stress_primary");
    let storage = primary.storage_id();
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let aliases_destroyed = AtomicUsize::new(0);
    // Objects allocated through an alias that are freed only after the
    // alias is gone, by another thread.
    let survivors = std::sync::Mutex::new(Vec::new());

    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        for t in 0..2u32 {
            let (world, primary, tally, stop, destroyed, survivors) =
                (&world, &primary, &tally, &stop, &aliases_destroyed, &survivors);
            scope.spawn(move || {
                set_current_cpu(t);
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(t + 1));
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    let alias = create(world, &format!("stress_alias_{t}_{round}"));
                    assert!(alias.is_alias() && std::ptr::eq(alias.primary_cache().unwrap(), &**primary));
                    assert_eq!(alias.storage_id(), storage, "an alias allocates from its primary's storage");
                    let mut held: Vec<Object> = (0..1 + rng.below(9)).map(|_| tally.alloc(alias.alloc())).collect();
                    while held.len() > 1 {
                        let object = held.swap_remove(rng.below(held.len()));
                        free_somehow(world, tally, &mut rng, &alias, primary, object);
                    }
                    survivors.lock().unwrap().extend(held);
                    kmem_cache_destroy(alias).expect("an alias's destroy never finds the primary busy");
                    destroyed.fetch_add(1, Ordering::Relaxed);
                    round += 1;
                }
            });
        }
        for t in 2..4u32 {
            let (world, primary, tally, stop, survivors) = (&world, &primary, &tally, &stop, &survivors);
            scope.spawn(move || {
                set_current_cpu(t);
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ u64::from(t + 1));
                let mut held: Vec<Object> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if held.len() < 16 && rng.below(3) != 0 {
                        held.push(tally.alloc(primary.alloc()));
                    } else if let Some(object) = held.pop() {
                        if rng.below(2) == 0 {
                            primary.free(object).expect("kmem_cache_free");
                        } else {
                            world.kfree(object).expect("kfree");
                        }
                        tally.freed();
                    }
                    if rng.below(8) == 0
                        && let Some(object) = survivors.lock().unwrap().pop()
                    {
                        world.kfree(object).expect("kfree of an object whose alias is gone");
                        tally.freed();
                    }
                }
                for object in held {
                    world.kfree(object).unwrap();
                    tally.freed();
                }
            });
        }
        let start = Instant::now();
        while start.elapsed() < RUN_FOR {
            // stats() reads each node under its list_lock and then each
            // CPU's sheaves under the remote protocol, one after the other,
            // as /proc/slabinfo's figures are read: objects move between
            // slabs and sheaves in between (a refill can take a new slab's
            // objects after its node was counted), so only figures read
            // under one lock are held against each other.
            let st = primary.stats().unwrap();
            assert!(st.total_objects >= st.free_objects, "{st:?}");
            assert!(st.sheaf_objects <= st.sheaves * SHEAF_CAPACITY, "{st:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
    });

    for object in survivors.into_inner().unwrap() {
        world.kfree(object).unwrap();
        tally.freed();
    }
    let (allocated, freed) = (tally.allocated.into_inner(), tally.freed.into_inner());
    assert!(aliases_destroyed.load(Ordering::Relaxed) >= 10, "the churn ran");
    assert_eq!(allocated, freed, "every object was freed once");
    let st = primary.stats().unwrap();
    assert_eq!(st.live_objects(), 0, "{st:?}");
    assert_eq!(primary.refcount(), 1, "every alias gave its reference back");
    let names: Vec<String> = world.caches().into_iter().map(|c| c.name).collect();
    assert!(!names.iter().any(|n| n.starts_with("stress_alias")), "{names:?}");
    assert!(world.orphans().is_empty());
    kmem_cache_destroy(primary).unwrap();
    assert_eq!(world.pages(), pages_at_boot, "all of the primary's storage is released");
    assert!(world.reports().is_empty(), "{:?}", world.reports());
}

/// mm/slab_common.c: kmem_cache_destroy() of a primary while its aliases
/// come and go on other CPUs (primary scheme): the primary stays headless
/// while any alias names it; when the last one goes the storage is released,
/// and the next compatible create starts a new primary. Afterwards every
/// page is back.
#[test]
fn aliases_outliving_their_primary_release_the_storage() {
    let world = world();
    let pages_at_boot = world.pages();
    let caches_at_boot = world.caches().len();
    let tally = Tally::default();
    let stop = AtomicBool::new(false);
    let rounds = AtomicUsize::new(0);

    std::thread::scope(|scope| {
        let _stop = StopOnDrop(&stop);
        let primary = create(&world, "stress_primary");
        for t in 0..3u32 {
            let (world, tally, stop, rounds) = (&world, &tally, &stop, &rounds);
            scope.spawn(move || {
                set_current_cpu(t);
                let mut rng = Rng(0x6a09_e667_f3bc_c908 ^ u64::from(t + 1));
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    let a = create(world, &format!("stress_a_{t}_{round}"));
                    let b = create(world, &format!("stress_b_{t}_{round}"));
                    let mut held: Vec<Object> = (0..1 + rng.below(8)).map(|_| tally.alloc(a.alloc())).collect();
                    while let Some(object) = held.pop() {
                        free_somehow(world, tally, &mut rng, &a, &b, object);
                    }
                    kmem_cache_destroy(a).unwrap();
                    let object = tally.alloc(b.alloc());
                    world.kfree(object).unwrap();
                    tally.freed();
                    kmem_cache_destroy(b).unwrap();
                    rounds.fetch_add(1, Ordering::Relaxed);
                    round += 1;
                }
            });
        }
        std::thread::sleep(RUN_FOR / 4);
        kmem_cache_destroy(primary).unwrap();
        std::thread::sleep(RUN_FOR * 3 / 4);
        stop.store(true, Ordering::Relaxed);
    });

    assert!(rounds.load(Ordering::Relaxed) >= 10, "the churn ran");
    assert_eq!(tally.allocated.into_inner(), tally.freed.into_inner());
    assert_eq!(world.caches().len(), caches_at_boot, "{:?}", world.caches());
    assert!(world.orphans().is_empty());
    assert_eq!(world.storage_stats().live_objects(), 0);
    assert_eq!(world.pages(), pages_at_boot, "every storage was released");
    assert!(world.reports().is_empty(), "{:?}", world.reports());
}

/// mm/slab_common.c: kmem_cache_destroy() of a cache's last reference racing
/// kfree() of its objects on another CPU, many times over: each destroy
/// either releases the storage or keeps it as an orphan for the objects it
/// found, and no slab is ever left behind (mm/slub.c: __kmem_cache_shutdown()
/// is clean only when no slab is left). Afterwards the pages still allocated
/// are exactly those of the orphans' storage.
#[test]
fn destroy_racing_kfree_never_leaks_a_slab() {
    let world = world();
    let pages_at_boot = world.pages();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Object>>();
    let freed = AtomicUsize::new(0);
    let (mut released, mut kept) = (0, 0);
    std::thread::scope(|scope| {
        let (world, freed) = (&world, &freed);
        scope.spawn(move || {
            set_current_cpu(1);
            for batch in rx {
                for object in batch {
                    world.kfree(object).expect("kfree");
                    freed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        set_current_cpu(0);
        let start = Instant::now();
        let mut round = 0;
        // Bounded in rounds too: each orphan keeps its slabs until the world goes.
        while start.elapsed() < RUN_FOR && round < 4000 {
            let cache = create(world, &format!("stress_race_{round}"));
            // Objects from CPU 1's sheaves, freed by CPU 1 while CPU 0
            // destroys the cache and flushes CPU 1's sheaves.
            let batch: Vec<Object> =
                slabmerge::cpu::with_cpu(1, || (0..1 + round % 7).map(|_| cache.alloc().unwrap()).collect());
            tx.send(batch).unwrap();
            match kmem_cache_destroy(cache) {
                Ok(()) => released += 1,
                Err(slabmerge::SlabError::CacheBusy { .. }) => kept += 1,
                Err(e) => panic!("{e:?}"),
            }
            round += 1;
        }
        drop(tx);
    });
    eprintln!("destroy racing kfree: {released} released at destroy, {kept} kept as orphans");
    assert!(released + kept >= 100, "the race ran {} times", released + kept);
    assert_eq!(world.orphans().len(), kept);
    let st = world.storage_stats();
    assert_eq!(st.live_objects(), 0, "every late kfree() landed: {st:?}");
    assert_eq!(world.pages(), pages_at_boot + st.pages, "no slab outside a listed or orphaned storage");
}

/// mm/slub.c: free_to_partial_list(): under `slub_debug=F` the checks of
/// free_debug_processing() and the free itself run in one list_lock section.
/// Two CPUs free the same addresses, one after the other in step, batch
/// after batch: each address is freed exactly once and the other free is
/// refused; never both.
#[test]
fn racing_kfree_addr_of_one_address_frees_it_once() {
    use slabmerge::SlabError;
    use slabmerge::flags::SLAB_CONSISTENCY_CHECKS;
    const BATCH: usize = 256;
    // Slabs of the kernel's size: long freelists keep each check's list_lock
    // section long, so the other CPU is waiting for the lock when it ends.
    let world = common::world_with(SlabConfig { nr_cpus: 2, ..SlabConfig::default() });
    let cache = common::create(&world, "stress_checked", 48, SLAB_CONSISTENCY_CHECKS);
    let batch: std::sync::Mutex<Vec<usize>> = std::sync::Mutex::new(Vec::new());
    let ok: Vec<AtomicUsize> = (0..BATCH).map(|_| AtomicUsize::new(0)).collect();
    // `cursor = n` lets the helper free the n-th address (counted over all
    // batches) together with the main thread, which frees it right after
    // moving the cursor; `finished` is the helper's last address. Nothing in
    // the scope panics or blocks, so a broken free fails instead of hanging.
    let (cursor, finished) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let stop = AtomicBool::new(false);
    let unexpected = std::sync::Mutex::new(Vec::<String>::new());
    let free = |world: &World, addr: usize, ok: &AtomicUsize| {
        // SAFETY: the objects' tokens were dropped before the batch was published.
        match unsafe { world.kfree_addr(addr) } {
            Ok(()) => _ = ok.fetch_add(1, Ordering::Relaxed),
            // The loser is refused: the object is already free, or the
            // winner's free emptied the slab and it was discarded.
            Err(SlabError::DoubleFree { .. } | SlabError::NotSlabObject { .. }) => {}
            Err(e) => unexpected.lock().unwrap().push(format!("{addr:#x}: {e:?}")),
        }
    };
    let wait_for = |counter: &AtomicUsize, n: usize| {
        let mut spins = 0u32;
        while counter.load(Ordering::Acquire) < n && !stop.load(Ordering::Acquire) {
            spins += 1;
            if spins.is_multiple_of(64) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    };
    let (mut frees, mut twice) = (0usize, Vec::new());
    std::thread::scope(|scope| {
        let (world, batch, ok, cursor, finished, stop) = (&world, &batch, &ok, &cursor, &finished, &stop);
        let (free, wait_for) = (&free, &wait_for);
        let _stop = StopOnDrop(stop);
        scope.spawn(move || {
            set_current_cpu(1);
            let mut n = 0;
            while !stop.load(Ordering::Acquire) {
                wait_for(cursor, n + 1);
                let addrs = batch.lock().unwrap().clone();
                for (i, addr) in addrs.iter().enumerate() {
                    wait_for(cursor, n + i + 1);
                    free(world, *addr, &ok[i]);
                }
                n += BATCH;
                finished.store(n, Ordering::Release);
            }
        });
        set_current_cpu(0);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(1) && twice.is_empty() && unexpected.lock().unwrap().is_empty() {
            let Ok(addrs) = (0..BATCH).map(|_| cache.alloc().map(|o| o.addr())).collect::<Result<Vec<_>, _>>() else {
                unexpected.lock().unwrap().push("alloc failed".into());
                break;
            };
            ok.iter().for_each(|o| o.store(0, Ordering::Relaxed));
            *batch.lock().unwrap() = addrs.clone();
            for (i, addr) in addrs.iter().enumerate() {
                cursor.store(frees + i + 1, Ordering::Release);
                free(world, *addr, &ok[i]);
            }
            frees += BATCH;
            wait_for(finished, frees);
            for (addr, ok) in addrs.iter().zip(ok) {
                match ok.load(Ordering::Relaxed) {
                    1 => {}
                    times => twice.push((*addr, times)),
                }
            }
        }
        stop.store(true, Ordering::Release);
    });
    eprintln!("racing kfree_addr: {frees} addresses freed by two CPUs");
    let unexpected = unexpected.into_inner().unwrap();
    assert!(unexpected.is_empty(), "{} unexpected results, first {:?}", unexpected.len(), unexpected.first());
    assert!(
        twice.is_empty(),
        "{} addresses freed other than once, first (address, frees) {:x?}",
        twice.len(),
        twice[0]
    );
    assert!(frees >= 10 * BATCH, "the race ran {frees} times");
    assert_eq!(cache.stats().unwrap().live_objects(), 0);
    kmem_cache_destroy(cache).unwrap();
}
