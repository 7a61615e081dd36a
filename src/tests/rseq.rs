//! Real-CPU slots (`SlabConfig::real_cpus`, `slub/rseq.rs`) under load: more
//! threads than CPUs, so that sections are preempted and restarted, threads
//! moved between CPUs, and remote flushes (`kmem_cache_shrink`) racing the
//! fast paths. Every object carries its holder's mark while held; a section
//! that committed twice, or a flush that raced a section, hands one object to
//! two holders, and the second mark is found. Where rseq is missing (valgrind)
//! the same worlds run on the virtual CPUs and the tests still check the
//! fallback's answers.

use crate::flags::SlabFlags;
use crate::slub::percpu::Effective;
use crate::slub::rseq;
use crate::{KmemCacheArgs, Scheme, SlabConfig, World, kmem_cache_destroy};

fn real_world() -> World {
    World::new(SlabConfig { real_cpus: true, ..SlabConfig::with_scheme(Scheme::Mainline) })
}

/// Pins the calling thread to `cpu` if the machine has it (migration on demand).
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it;
    // sched_setaffinity reads it and touches nothing else.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % libc::CPU_SETSIZE as usize, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[test]
fn a_real_cpu_world_takes_restartable_sequences_where_the_kernel_offers_them() {
    let world = real_world();
    let cache = world.kmem_cache_create("rseq_mode", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let storage = cache.storage().unwrap();
    // `slub_stats` builds keep the virtual CPUs (counting increments inside
    // the critical section), as does a machine without rseq.
    let real = rseq::available() && !crate::slub::stat::SLUB_STATS;
    assert_eq!(world.config().real_cpus, real);
    if real {
        assert_eq!(storage.cpu_sheaves.mode(), Effective::Rseq);
        assert_eq!(world.config().nr_cpus, rseq::nr_cpu_ids());
        assert_eq!(storage.nr_cpus(), rseq::nr_cpu_ids() as usize);
    } else {
        assert_ne!(storage.cpu_sheaves.mode(), Effective::Rseq);
        assert!(!world.config().real_cpus);
    }
    // The first allocation refills a sheaf; the next ones are sheaf hits:
    // what a free put back, the next allocation takes.
    let a = cache.alloc().unwrap();
    let addr = a.addr();
    let in_sheaves = cache.stats().unwrap().sheaf_objects;
    cache.free(a).unwrap();
    assert_eq!(cache.stats().unwrap().sheaf_objects, in_sheaves + 1, "the free went to a sheaf");
    let b = cache.alloc().unwrap();
    // Same CPU unless the scheduler moved us in between (then any object).
    if real && cache.stats().unwrap().sheaf_objects == in_sheaves {
        assert_eq!(b.addr(), addr, "a sheaf is a stack: the last object freed comes back first");
    }
    cache.free(b).unwrap();
    kmem_cache_destroy(cache).unwrap();
}

/// `threads` threads (more than CPUs) allocate and free through `cache`,
/// hopping CPUs every round, while a remote flushes all CPUs' sheaves.
fn hammer(world: &World, threads: usize, rounds: usize, kmalloc: bool) {
    // Without rseq (valgrind) the world runs the virtual CPUs, which their
    // own tests cover at length: a few rounds check the answers there.
    let rounds = if world.config().real_cpus { rounds } else { rounds / 50 };
    let cache = world.kmem_cache_create("rseq_hammer", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let ncpu = rseq::nr_cpu_ids() as usize;
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let flusher = s.spawn(|| {
            let mut flushes = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                cache.shrink().unwrap();
                flushes += 1;
                std::thread::yield_now();
            }
            flushes
        });
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let cache = &cache;
                s.spawn(move || {
                    let mut held = Vec::new();
                    for round in 0..rounds {
                        if round % 64 == 0 {
                            pin((t + round / 64) % ncpu);
                        }
                        let n = 1 + (t * 7 + round * 13) % 40;
                        for i in 0..n {
                            let o = if kmalloc { world.kmalloc(64).unwrap() } else { cache.alloc().unwrap() };
                            let mark = ((t as u64) << 32) | (round * 64 + i) as u64;
                            // SAFETY: our object, 64 bytes.
                            unsafe { std::ptr::write_volatile(o.as_ptr().cast::<u64>(), mark) };
                            held.push((o, mark));
                        }
                        for (o, mark) in held.drain(..) {
                            // SAFETY: our object, written above.
                            let seen = unsafe { std::ptr::read_volatile(o.as_ptr().cast::<u64>()) };
                            assert_eq!(seen, mark, "an object held by two threads at once");
                            if kmalloc { world.kfree(o).unwrap() } else { cache.free(o).unwrap() }
                        }
                    }
                })
            })
            .collect();
        // Stop the flusher whatever the workers did, then report them.
        let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(flusher.join().unwrap() > 0);
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
    });
    // Everything came back: destroy finds no object left.
    kmem_cache_destroy(cache).unwrap();
}

#[test]
fn more_threads_than_cpus_and_remote_flushes_never_share_an_object() {
    let world = real_world();
    hammer(&world, 4, 3000, false);
}

#[test]
fn kmalloc_and_kfree_on_real_cpus_never_share_an_object() {
    let world = real_world();
    hammer(&world, 3, 2000, true);
}

/// A slot's data for the protocol tests: opens the slot with a sheaf-like
/// word that is not a closed sheaf.
struct Opened;

impl crate::slub::percpu::SectionData for Opened {
    fn open_word(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }
}

/// A remote operation started while this thread holds a real-CPU slot for a
/// slow path would wait for the thread itself (the remote closes every slot
/// and waits for `LOCKED` to clear): `begin_remote` refuses it by name, as
/// it does inside a virtual CPU's critical section. After the guard drops,
/// the same call succeeds.
#[test]
fn lock_remote_while_holding_a_real_cpu_slot_panics_instead_of_waiting_for_itself() {
    use crate::slub::percpu::{Mode, PerCpu};
    if !rseq::available() {
        return; // valgrind: no real-CPU slots to hold
    }
    let pcs = PerCpu::new(rseq::nr_cpu_ids() as usize, Mode::RealCpus, |_| Opened);
    assert_eq!(pcs.mode(), Effective::Rseq);
    let (cpu, guard) = pcs.enter_local().expect("the slot of this CPU is open");
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(pcs.slot(cpu).lock_remote())));
    let message = refused.expect_err("refused").downcast::<&str>().map(|m| *m).unwrap_or_default();
    assert!(message.contains("would deadlock"), "{message}");
    drop(guard);
    drop(pcs.slot(cpu).lock_remote());
}

/// `kfree()`'s section indexes the slots the object's page names
/// (`PageWords::slots`, design/allocator.md, "kfree's slots word"): every
/// page of a slab carries its storage's slots, a large allocation's pages
/// the not-rseq ones, and a kfree is a sheaf hit on either kind of CPU.
#[test]
fn kfree_takes_its_slots_from_the_page() {
    let world = real_world();
    let cache = world.kmem_cache_create("kfree_slots", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let storage = cache.storage().unwrap();
    let slots_word = |addr: usize| {
        // SAFETY: `addr` is an allocated object's; its page's word is read
        // as the atomic it is written as.
        let holder = unsafe { crate::slub::page::virt_to_slots_holder(addr) };
        // SAFETY: as above, at the offset the section reads it from.
        unsafe { &*holder.add(crate::slub::page::SLOTS_HOLDER_BASE).cast::<std::sync::atomic::AtomicUsize>() }
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let objects: Vec<_> = (0..200).map(|_| cache.alloc().unwrap()).collect();
    for o in &objects {
        assert_eq!(slots_word(o.addr()), storage.cpu_sheaves.section_base() as usize);
    }
    assert_eq!(
        storage.cpu_sheaves.section_base() == rseq::not_rseq_slots(),
        storage.cpu_sheaves.mode() != Effective::Rseq,
        "the not-rseq slots exactly when the storage has no real-CPU slots"
    );
    let in_sheaves = cache.stats().unwrap().sheaf_objects;
    let mut objects = objects.into_iter();
    world.kfree(objects.next().unwrap()).unwrap();
    let after = cache.stats().unwrap().sheaf_objects;
    assert_eq!(after, in_sheaves + 1, "the kfree went to a sheaf");
    objects.for_each(|o| world.kfree(o).unwrap());
    let large = world.kmalloc(crate::slub::layout::KMALLOC_MAX_CACHE_SIZE + 1).unwrap();
    assert_eq!(slots_word(large.addr()), rseq::not_rseq_slots() as usize);
    world.kfree(large).unwrap();
    kmem_cache_destroy(cache).unwrap();
}
