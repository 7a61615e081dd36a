//! slabmerge's object allocator against general-purpose allocators.
//!
//! Two operations, each at 64 and 256 bytes, with every allocator measured in
//! the same run so that the ratios compare like with like:
//! - `alloc_free_pair`: one allocation freed at once. For slabmerge that is a
//!   sheaf hit (`alloc_from_pcs` then `free_to_pcs` on one cache).
//! - `batch_1000`: 1000 allocations, then the 1000 frees, so sheaves run
//!   empty and full and the barn and slab lists take part.
//! - `threads`: `PAIRS` alloc/free pairs of 64 bytes per thread, on 1 and on
//!   2 threads at once (each on its own CPU, one shared cache for
//!   slabmerge). With perfect scaling both entries take the same time: the
//!   throughput of 2 threads over 1 is `2 / ratio`.
//! - `remote_free`: one thread allocates 64-byte objects and hands them in
//!   batches through a bounded channel to a second thread on another CPU,
//!   which frees them (slabmerge: the objects land in the second CPU's
//!   sheaves, go back through the barn, and refill the first's). The ratio
//!   against mimalloc is the time for the same number of objects.
//!
//! Contenders: slabmerge (one dynamic cache of a booted mainline world), the
//! system allocator (`std::alloc::System` through `GlobalAlloc`), mimalloc
//! (through `GlobalAlloc`, without installing it as the global allocator) and
//! the `slab` crate's typed pool (`Slab<[u8; N]>`, insert and remove by key).
//!
//! Ratios against slabmerge: `scripts/bench-ratios.py` (see `design/benchmarks.md`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mimalloc::MiMalloc;
use slabmerge::flags::SlabFlags;
use slabmerge::{KmemCacheArgs, Scheme, SlabConfig, World};

/// Object sizes measured.
const SIZES: [usize; 2] = [64, 256];
/// Objects per batch.
const BATCH: usize = 1000;

/// A general-purpose allocator measured beside slabmerge.
fn bench_global<A: GlobalAlloc>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, alloc: &A, size: usize, batch: bool) {
    let layout = Layout::from_size_align(size, 8).expect("valid layout");
    if !batch {
        g.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter(|| {
                // SAFETY: a non-zero-sized layout; the pointer is freed with the same layout.
                unsafe {
                    let p = alloc.alloc(black_box(layout));
                    assert!(!p.is_null());
                    alloc.dealloc(black_box(p), layout);
                }
            })
        });
    } else {
        let mut held: Vec<*mut u8> = Vec::with_capacity(BATCH);
        g.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    // SAFETY: a non-zero-sized layout.
                    let p = unsafe { alloc.alloc(black_box(layout)) };
                    assert!(!p.is_null());
                    held.push(p);
                }
                for p in held.drain(..) {
                    // SAFETY: allocated above with the same layout and freed once.
                    unsafe { alloc.dealloc(black_box(p), layout) };
                }
            })
        });
    }
}

/// The `slab` crate's pool of `N`-byte entries.
fn bench_pool<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, batch: bool) {
    // Preallocated like a slab cache's first slabs, so the pool measures its
    // free-list work, not its backing vector growing.
    let mut pool: slab::Slab<[u8; N]> = slab::Slab::with_capacity(BATCH);
    if !batch {
        g.bench_function(BenchmarkId::new("slab-pool", N), |b| {
            b.iter(|| {
                let key = pool.insert(black_box([0u8; N]));
                black_box(pool.remove(black_box(key)));
            })
        });
    } else {
        let mut held: Vec<usize> = Vec::with_capacity(BATCH);
        g.bench_function(BenchmarkId::new("slab-pool", N), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    held.push(pool.insert(black_box([0u8; N])));
                }
                for key in held.drain(..) {
                    black_box(pool.remove(black_box(key)));
                }
            })
        });
    }
}

/// slabmerge: a dynamic `size`-byte cache of a booted mainline world.
fn bench_slabmerge(g: &mut BenchmarkGroup<'_, WallTime>, world: &World, size: usize, batch: bool) {
    let cache = world
        .kmem_cache_create(&format!("bench_{size}"), size as u32, KmemCacheArgs::align(8), SlabFlags::EMPTY)
        .expect("cache created");
    if !batch {
        g.bench_function(BenchmarkId::new("slabmerge", size), |b| {
            b.iter(|| {
                let object = cache.alloc().expect("object");
                cache.free(black_box(object)).expect("freed");
            })
        });
    } else {
        let mut held = Vec::with_capacity(BATCH);
        g.bench_function(BenchmarkId::new("slabmerge", size), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    held.push(black_box(cache.alloc().expect("object")));
                }
                for object in held.drain(..) {
                    cache.free(object).expect("freed");
                }
            })
        });
    }
    // Everything was freed, so destroying the cache succeeds.
    slabmerge::kmem_cache_destroy(cache).expect("no object left");
}

fn run_group(c: &mut Criterion, group: &str, batch: bool) {
    // The fast paths index per-cpu sheaves by the current CPU: pin it, so
    // every run uses the same slot.
    slabmerge::cpu::set_current_cpu(0);
    let world = World::new(SlabConfig::with_scheme(Scheme::Mainline));
    let mut g = c.benchmark_group(group);
    if batch {
        g.throughput(Throughput::Elements(BATCH as u64));
    }
    for size in SIZES {
        bench_slabmerge(&mut g, &world, size, batch);
        bench_global(&mut g, "system", &System, size, batch);
        bench_global(&mut g, "mimalloc", &MiMalloc, size, batch);
        match size {
            64 => bench_pool::<64>(&mut g, batch),
            256 => bench_pool::<256>(&mut g, batch),
            _ => unreachable!("SIZES lists 64 and 256"),
        }
    }
    g.finish();
}

fn alloc_free_pair(c: &mut Criterion) {
    run_group(c, "alloc_free_pair", false);
}

fn batch_1000(c: &mut Criterion) {
    run_group(c, "batch_1000", true);
}

/// Pairs per thread per iteration of the `threads` group.
const PAIRS: u64 = 10_000;
/// Objects moved per iteration of the `remote_free` group, and per handoff.
const MOVED: usize = 8192;
const HANDOFF: usize = 64;

/// Runs `work(thread index)` on `n` threads released together; returns the
/// wall time from the release until the last one finishes.
fn on_threads(n: usize, work: &(impl Fn(usize) + Sync)) -> std::time::Duration {
    let start = std::sync::Barrier::new(n + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|t| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    work(t);
                })
            })
            .collect();
        start.wait();
        let began = std::time::Instant::now();
        for h in handles {
            h.join().expect("bench thread");
        }
        began.elapsed()
    })
}

fn threads(c: &mut Criterion) {
    let world = World::new(SlabConfig { nr_cpus: 2, ..SlabConfig::with_scheme(Scheme::Mainline) });
    let cache =
        world.kmem_cache_create("bench_threads", 64, KmemCacheArgs::align(8), SlabFlags::EMPTY).expect("cache created");
    let layout = Layout::from_size_align(64, 8).expect("valid layout");
    let mut g = c.benchmark_group("threads");
    for n in [1usize, 2] {
        g.throughput(Throughput::Elements(PAIRS * n as u64));
        g.bench_function(BenchmarkId::new("slabmerge", n), |b| {
            b.iter_custom(|iters| {
                on_threads(n, &|t| {
                    slabmerge::cpu::set_current_cpu(t as u32);
                    for _ in 0..iters * PAIRS {
                        let object = cache.alloc().expect("object");
                        cache.free(black_box(object)).expect("freed");
                    }
                })
            })
        });
        g.bench_function(BenchmarkId::new("mimalloc", n), |b| {
            b.iter_custom(|iters| {
                on_threads(n, &|_| {
                    for _ in 0..iters * PAIRS {
                        // SAFETY: a non-zero-sized layout; freed with the same layout.
                        unsafe {
                            let p = MiMalloc.alloc(black_box(layout));
                            assert!(!p.is_null());
                            MiMalloc.dealloc(black_box(p), layout);
                        }
                    }
                })
            })
        });
    }
    g.finish();
    slabmerge::kmem_cache_destroy(cache).expect("no object left");
}

/// `MOVED` objects per iteration from thread 0 (CPU 0) to thread 1 (CPU 1),
/// which frees them; `alloc` and `free` are the allocator's.
fn remote_free_run<T: Send>(
    iters: u64,
    alloc: &(impl Fn() -> T + Sync),
    free: &(impl Fn(T) + Sync),
) -> std::time::Duration {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(4);
    let rx = std::sync::Mutex::new(rx);
    let tx = std::sync::Mutex::new(Some(tx));
    on_threads(2, &|t| {
        slabmerge::cpu::set_current_cpu(t as u32);
        if t == 0 {
            let tx = tx.lock().unwrap().take().expect("one producer");
            for _ in 0..iters as usize * MOVED / HANDOFF {
                tx.send((0..HANDOFF).map(|_| alloc()).collect()).expect("consumer alive");
            }
        } else {
            for batch in rx.lock().unwrap().iter() {
                batch.into_iter().for_each(free);
            }
        }
    })
}

fn remote_free(c: &mut Criterion) {
    let world = World::new(SlabConfig { nr_cpus: 2, ..SlabConfig::with_scheme(Scheme::Mainline) });
    let cache =
        world.kmem_cache_create("bench_remote", 64, KmemCacheArgs::align(8), SlabFlags::EMPTY).expect("cache created");
    let layout = Layout::from_size_align(64, 8).expect("valid layout");
    let mut g = c.benchmark_group("remote_free");
    g.throughput(Throughput::Elements(MOVED as u64));
    g.bench_function("slabmerge", |b| {
        b.iter_custom(|iters| {
            remote_free_run(iters, &|| cache.alloc().expect("object"), &|object| cache.free(object).expect("freed"))
        })
    });
    for (name, a) in [("mimalloc", &MiMalloc as &(dyn GlobalAlloc + Sync)), ("system", &System)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                remote_free_run(
                    iters,
                    // SAFETY: a non-zero-sized layout.
                    &|| unsafe { a.alloc(layout) } as usize,
                    // SAFETY: allocated above with the same layout and freed once.
                    &|addr| unsafe { a.dealloc(addr as *mut u8, layout) },
                )
            })
        });
    }
    g.finish();
    slabmerge::kmem_cache_destroy(cache).expect("no object left");
}

criterion_group!(benches, alloc_free_pair, batch_1000, threads, remote_free);
criterion_main!(benches);
