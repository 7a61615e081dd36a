//! The per-cpu protocol seen through a cache: the fallback knob, and a live
//! owner keeping its CPU's slot (`slub/percpu.rs`).

use crate::flags::SlabFlags;
use crate::membarrier;
use crate::slub::cpu::set_current_cpu;
use crate::slub::percpu::Effective;
use crate::{KmemCacheArgs, Scheme, SlabConfig, World, kmem_cache_destroy};

/// Sets up a cache on CPU 0 whose main sheaf this thread has filled, then
/// lets a second live thread on CPU 0 allocate: returns the slots' mode
/// and how many objects that allocation took from the per-cpu sheaves.
fn second_thread_on_cpu0(fallback: bool) -> (Effective, usize) {
    set_current_cpu(0);
    let world = World::bare(SlabConfig { percpu_fallback: fallback, ..SlabConfig::tiny(Scheme::Mainline, 1, 4, 8) });
    let cache = world.kmem_cache_create("pcs_knob", 32, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    let x = cache.alloc().unwrap();
    cache.free(x).unwrap();
    let taken = std::thread::scope(|s| {
        s.spawn(|| {
            set_current_cpu(0);
            let before = cache.stats().unwrap().sheaf_objects;
            let y = cache.alloc().unwrap();
            let after = cache.stats().unwrap().sheaf_objects;
            cache.free(y).unwrap();
            before - after
        })
        .join()
        .unwrap()
    });
    let mode = cache.storage().unwrap().cpu_sheaves.mode();
    kmem_cache_destroy(cache).unwrap();
    (mode, taken)
}

/// `SlabConfig::percpu_fallback` keeps the fallback tested wherever
/// membarrier works: every entry takes the slot's trylock, so a second thread on
/// an idle CPU slot gets the sheaves (the scheme before membarrier).
#[test]
fn forced_fallback_shares_a_cpu_slot_by_trylock() {
    assert_eq!(second_thread_on_cpu0(true), (Effective::Fallback, 1));
}

/// With membarrier, a live owner keeps its CPU's slot: a second thread on
/// that CPU takes the slab slow path, as a second context on a kernel CPU
/// would find the per-cpu lock taken. Without membarrier (some valgrinds, old
/// kernels, `PERCPU_FORCE_FALLBACK=1`) the default is the fallback.
#[test]
fn owner_keeps_its_cpu_slot_unless_membarrier_is_missing() {
    let expected = if membarrier::available() { (Effective::Membarrier, 0) } else { (Effective::Fallback, 1) };
    assert_eq!(second_thread_on_cpu0(false), expected);
}
