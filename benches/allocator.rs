//! slabmerge's object allocator against general-purpose allocators.
//!
//! Two operations, each at 64 and 256 bytes, with every allocator measured in
//! the same run so that the ratios compare like with like:
//! - `alloc_free_pair`: one allocation freed at once. For slabmerge that is a
//!   sheaf hit (`alloc_from_pcs` then `free_to_pcs` on one cache).
//! - `batch_1000`: 1000 allocations, then the 1000 frees, so sheaves run
//!   empty and full and the barn and slab lists take part. No allocation
//!   waits for a free: where the pair measures a free's latency, this
//!   measures its throughput (`slabmerge-kfree` frees by `kfree()`).
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
//! Contenders: slabmerge (one dynamic cache of a booted mainline world whose
//! per-cpu slots are the machine's CPUs, entered by restartable sequences:
//! `SlabConfig::real_cpus`; where rseq is missing it runs the virtual CPUs),
//! slabmerge-virtual (the same on the model's virtual CPUs and their
//! ownership protocol, what traces and tests run), a floor (a bare pop and
//! push of a preallocated pointer stack: what any per-CPU free list costs
//! at least), the kernel's sheaf-hit pair and `kfree()` on bare copies of
//! its structures (`floor-sheaf`, `floor-sheaf-kfree`: what the kernel's
//! load chains cost on the host, with nothing else; `floor-sheaf-kfree-slots`
//! slabmerge's kfree chain, one load shorter), the
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
use slabmerge::{Cache, KmemCacheArgs, Object, Scheme, SlabConfig, World};

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

/// The floor: a pop and a push of a preallocated stack of pointers, as a
/// sheaf hit pair is at its barest (no CPU, no protection, no lookup).
fn bench_floor(g: &mut BenchmarkGroup<'_, WallTime>, size: usize) {
    let mut backing = vec![0u8; size * 64];
    let mut stack: Vec<*mut u8> = (0..64).map(|i| backing[i * size..].as_mut_ptr()).collect();
    g.bench_function(BenchmarkId::new("floor", size), |b| {
        b.iter(|| {
            let p = stack.pop().expect("never empty");
            stack.push(black_box(p));
        })
    });
    drop(stack);
    backing.clear();
}

/// What a bare sheaf hit touches, laid out as the kernel's: a sheaf
/// (`struct slab_sheaf`: size, then the objects), a CPU's `struct
/// slub_percpu_sheaves` (its `main` sheaf), a `struct kmem_cache` (its
/// `cpu_sheaves`), and the page descriptors (`struct slab`, one per page,
/// found by arithmetic as `virt_to_slab()` finds them, naming
/// `slab_cache`). No CPU id, no protection, no test but the size.
mod bare {
    /// Objects a bare sheaf holds.
    pub const CAPACITY: usize = 64;

    #[repr(C)]
    pub struct Sheaf {
        pub size: usize,
        pub objects: [*mut u8; CAPACITY],
    }

    #[repr(C, align(64))]
    pub struct PerCpuSheaves {
        pub main: *mut Sheaf,
    }

    #[repr(C)]
    pub struct Cache {
        pub cpu_sheaves: *const PerCpuSheaves,
    }

    #[repr(C, align(64))]
    pub struct Slab {
        pub slab_cache: *const Cache,
        /// What slabmerge's page slots word is (`PageWords::slots`): the
        /// cache's per-CPU sheaves, one load from the page.
        pub cpu_sheaves: *const PerCpuSheaves,
    }

    /// `alloc_from_pcs()`'s hit: `s->cpu_sheaves->main`, its top object.
    ///
    /// # Safety
    /// `s` is a live cache whose main sheaf is not empty. Volatile, so
    /// that every access is made as the real paths make it.
    #[inline(always)]
    pub unsafe fn alloc(s: *const Cache) -> *mut u8 {
        // SAFETY: the caller's live structures.
        unsafe {
            let sheaf = std::ptr::read_volatile(&(*std::ptr::read_volatile(&(*s).cpu_sheaves)).main);
            let size = std::ptr::read_volatile(&(*sheaf).size) - 1;
            std::ptr::write_volatile(&mut (*sheaf).size, size);
            std::ptr::read_volatile(&(*sheaf).objects[size])
        }
    }

    /// `free_to_pcs()`'s hit onto `s`'s main sheaf.
    ///
    /// # Safety
    /// `s` is a live cache whose main sheaf has room.
    #[inline(always)]
    pub unsafe fn free(s: *const Cache, object: *mut u8) {
        // SAFETY: the caller's live structures.
        unsafe { push(std::ptr::read_volatile(&(*s).cpu_sheaves), object) }
    }

    /// The push onto `pcs->main`.
    ///
    /// # Safety
    /// `pcs` is live and its main sheaf has room.
    #[inline(always)]
    unsafe fn push(pcs: *const PerCpuSheaves, object: *mut u8) {
        // SAFETY: the caller's live structures.
        unsafe {
            let sheaf = std::ptr::read_volatile(&(*pcs).main);
            let size = std::ptr::read_volatile(&(*sheaf).size);
            std::ptr::write_volatile(&mut (*sheaf).objects[size], object);
            std::ptr::write_volatile(&mut (*sheaf).size, size + 1);
        }
    }

    /// One cache with a half-full main sheaf of objects in pages that
    /// descriptors describe. Its operations never miss as long as at most
    /// `CAPACITY / 2` objects are out at a time.
    pub struct World {
        sheaf: *mut Sheaf,
        _pcs: Box<PerCpuSheaves>,
        cache: Box<Cache>,
        slabs: Vec<Slab>,
        base: usize,
        _backing: Vec<u8>,
    }

    impl World {
        pub fn new(size: usize) -> World {
            const PAGE: usize = 4096;
            let pages = (size * CAPACITY).div_ceil(PAGE);
            let backing = vec![0u8; (pages + 1) * PAGE];
            let base = (backing.as_ptr() as usize).next_multiple_of(PAGE);
            let mut sheaf = Box::new(Sheaf { size: CAPACITY / 2, objects: [std::ptr::null_mut(); CAPACITY] });
            for (i, object) in sheaf.objects[..CAPACITY / 2].iter_mut().enumerate() {
                *object = std::ptr::without_provenance_mut(base + i * size);
            }
            let sheaf = Box::into_raw(sheaf);
            let pcs = Box::new(PerCpuSheaves { main: sheaf });
            let cache = Box::new(Cache { cpu_sheaves: &*pcs });
            let slabs = (0..pages).map(|_| Slab { slab_cache: &*cache, cpu_sheaves: &*pcs }).collect();
            World { sheaf, _pcs: pcs, cache, slabs, base, _backing: backing }
        }

        #[inline(always)]
        pub fn alloc(&self) -> *mut u8 {
            // SAFETY: the world's live cache; its users keep the sheaf from
            // running empty (see the type).
            unsafe { alloc(&*self.cache) }
        }

        #[inline(always)]
        pub fn free(&self, object: *mut u8) {
            // SAFETY: as `alloc`; an object it handed out.
            unsafe { free(&*self.cache, object) }
        }

        #[inline(always)]
        pub fn kfree(&self, object: *mut u8) {
            // SAFETY: as `free`; the object lies in the described pages.
            unsafe { kfree(self.slabs.as_ptr(), self.base, object) }
        }

        #[inline(always)]
        pub fn kfree_slots(&self, object: *mut u8) {
            // SAFETY: as `kfree`.
            unsafe { kfree_slots(self.slabs.as_ptr(), self.base, object) }
        }
    }

    impl Drop for World {
        fn drop(&mut self) {
            // SAFETY: from `Box::into_raw` in `new`, used by nobody else now.
            drop(unsafe { Box::from_raw(self.sheaf) });
        }
    }

    /// `kfree()`'s hit: `virt_to_slab(x)->slab_cache`, then [`free`].
    ///
    /// # Safety
    /// `object` lies in the pages of `base` that `slabs` describe, one
    /// descriptor per page, each naming a live cache with room.
    #[inline(always)]
    pub unsafe fn kfree(slabs: *const Slab, base: usize, object: *mut u8) {
        // SAFETY: the page's descriptor, by arithmetic; the caller's live cache.
        unsafe {
            let slab = slabs.add((object as usize - base) >> 12);
            free(std::ptr::read_volatile(&(*slab).slab_cache), object)
        }
    }

    /// slabmerge's `kfree()` hit on the same structures: the page's slots
    /// word names the per-CPU sheaves, so `slab_cache` is not on the way
    /// (descriptor, `cpu_sheaves`, `main`, `size`: three loads in a row).
    ///
    /// # Safety
    /// As [`kfree`].
    #[inline(always)]
    pub unsafe fn kfree_slots(slabs: *const Slab, base: usize, object: *mut u8) {
        // SAFETY: as in `kfree`.
        unsafe {
            let slab = slabs.add((object as usize - base) >> 12);
            push(std::ptr::read_volatile(&(*slab).cpu_sheaves), object)
        }
    }
}

/// The floor of the kernel's sheaf-hit pair and of `kfree()` on its data
/// structures (`bare`): `floor-sheaf` frees to the cache it is handed, as
/// `kmem_cache_free()` does; `floor-sheaf-kfree` finds it from the object,
/// as `kfree()` does (page descriptor, `slab_cache`, `cpu_sheaves`, `main`,
/// `size`: four loads in a row, the last one the address the next
/// allocation reads). Their ratio is what that chain costs on the host,
/// whatever the allocator. `floor-sheaf-kfree-slots` is slabmerge's chain
/// (the page's slots word: one load less).
fn bench_floor_sheaf(g: &mut BenchmarkGroup<'_, WallTime>, size: usize) {
    let world = bare::World::new(size);
    g.bench_function(BenchmarkId::new("floor-sheaf", size), |b| {
        b.iter(|| {
            let object = world.alloc();
            world.free(black_box(object));
        })
    });
    g.bench_function(BenchmarkId::new("floor-sheaf-kfree", size), |b| {
        b.iter(|| {
            let object = world.alloc();
            world.kfree(black_box(object));
        })
    });
    g.bench_function(BenchmarkId::new("floor-sheaf-kfree-slots", size), |b| {
        b.iter(|| {
            let object = world.alloc();
            world.kfree_slots(black_box(object));
        })
    });
}

/// Pins the calling thread to real CPU `cpu` (modulo the CPUs it may use),
/// so that every contender's threads run where the slots say.
fn pin_real_cpu(cpu: usize) {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it;
    // sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % n, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The world of the `slabmerge` contender (real CPUs) or of
/// `slabmerge-virtual` (the model's CPUs, `nr_cpus` of them).
fn bench_world(real: bool, nr_cpus: u32) -> World {
    World::new(SlabConfig { real_cpus: real, nr_cpus, ..SlabConfig::with_scheme(Scheme::Mainline) })
}

/// The two slabmerge contenders: real CPUs, then virtual ones.
const SLABMERGES: [(&str, bool); 2] = [("slabmerge", true), ("slabmerge-virtual", false)];

/// slabmerge: a dynamic `size`-byte cache of a booted mainline world.
fn bench_slabmerge(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, world: &World, size: usize, batch: bool) {
    let cache = world
        .kmem_cache_create(&format!("bench_{size}"), size as u32, KmemCacheArgs::align(8), SlabFlags::EMPTY)
        .expect("cache created");
    if !batch {
        g.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter(|| {
                let object = cache.alloc().expect("object");
                cache.free(black_box(object)).expect("freed");
            })
        });
        if name == "slabmerge" {
            // The same pair freed by kfree() (the slab names the cache), and
            // kmalloc()'s pair through the size class of the same size.
            g.bench_function(BenchmarkId::new("slabmerge-kfree", size), |b| {
                b.iter(|| {
                    let object = cache.alloc().expect("object");
                    world.kfree(black_box(object)).expect("freed");
                })
            });
            g.bench_function(BenchmarkId::new("slabmerge-kmalloc", size), |b| {
                b.iter(|| {
                    let object = world.kmalloc(black_box(size)).expect("object");
                    world.kfree(black_box(object)).expect("freed");
                })
            });
        }
    } else {
        let mut held = Vec::with_capacity(BATCH);
        g.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter(|| {
                for _ in 0..BATCH {
                    held.push(black_box(cache.alloc().expect("object")));
                }
                for object in held.drain(..) {
                    cache.free(object).expect("freed");
                }
            })
        });
        if name == "slabmerge" {
            // The same batch freed by kfree(): no allocation waits for a
            // free here, so this is kfree()'s throughput, where the pair
            // is its latency.
            g.bench_function(BenchmarkId::new("slabmerge-kfree", size), |b| {
                b.iter(|| {
                    for _ in 0..BATCH {
                        held.push(black_box(cache.alloc().expect("object")));
                    }
                    for object in held.drain(..) {
                        world.kfree(object).expect("freed");
                    }
                })
            });
        }
    }
    // Everything was freed, so destroying the cache succeeds.
    slabmerge::kmem_cache_destroy(cache).expect("no object left");
}

fn run_group(c: &mut Criterion, group: &str, batch: bool) {
    // The virtual CPUs' fast paths index per-cpu sheaves by the thread's
    // CPU id: pin it, so every run uses the same slot. The thread itself is
    // not pinned to a real CPU: it is the one that waits for the threads
    // of the later groups, and pinned it competes with their thread 0 (the
    // 2-thread entries then took 1.6-1.8 times the 1-thread time, for
    // mimalloc as well).
    slabmerge::cpu::set_current_cpu(0);
    let default_cpus = SlabConfig::default().nr_cpus;
    let worlds = SLABMERGES.map(|(name, real)| (name, bench_world(real, default_cpus)));
    let mut g = c.benchmark_group(group);
    if batch {
        g.throughput(Throughput::Elements(BATCH as u64));
    }
    for size in SIZES {
        for (name, world) in &worlds {
            bench_slabmerge(&mut g, name, world, size, batch);
        }
        if !batch {
            bench_floor(&mut g, size);
            bench_floor_sheaf(&mut g, size);
        }
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

/// Objects per iteration of the `hit_batch` group: fewer than a 64-byte
/// cache's sheaf holds (60, `calculate_sheaf_capacity()`), so that in the
/// steady state every operation is a hit.
const HIT_BATCH: usize = 16;

/// `HIT_BATCH` allocations, then their frees, from one 64-byte cache of a
/// real-CPU world: sheaf hits whose frees no allocation waits for, so the
/// group measures `kfree()`'s throughput beside `kmem_cache_free()`'s
/// (the pair measures their latency). The bare floors do the same on
/// copies of the kernel's structures.
fn hit_batch(c: &mut Criterion) {
    slabmerge::cpu::set_current_cpu(0);
    let world = bench_world(true, SlabConfig::default().nr_cpus);
    let cache = world.kmem_cache_create("bench_hit_64", 64, KmemCacheArgs::align(8), SlabFlags::EMPTY).expect("cache");
    let mut g = c.benchmark_group("hit_batch");
    g.throughput(Throughput::Elements(HIT_BATCH as u64));
    let mut held: [Option<Object>; HIT_BATCH] = [const { None }; HIT_BATCH];
    g.bench_function(BenchmarkId::new("slabmerge", 64), |b| {
        b.iter(|| {
            for slot in held.iter_mut() {
                *slot = Some(black_box(cache.alloc().expect("object")));
            }
            for slot in held.iter_mut() {
                cache.free(slot.take().expect("held")).expect("freed");
            }
        })
    });
    g.bench_function(BenchmarkId::new("slabmerge-kfree", 64), |b| {
        b.iter(|| {
            for slot in held.iter_mut() {
                *slot = Some(black_box(cache.alloc().expect("object")));
            }
            for slot in held.iter_mut() {
                world.kfree(slot.take().expect("held")).expect("freed");
            }
        })
    });
    let bare = bare::World::new(64);
    let mut bare_held = [std::ptr::null_mut(); HIT_BATCH];
    g.bench_function(BenchmarkId::new("floor-sheaf", 64), |b| {
        b.iter(|| {
            bare_held.iter_mut().for_each(|slot| *slot = black_box(bare.alloc()));
            bare_held.iter().for_each(|&object| bare.free(object));
        })
    });
    g.bench_function(BenchmarkId::new("floor-sheaf-kfree", 64), |b| {
        b.iter(|| {
            bare_held.iter_mut().for_each(|slot| *slot = black_box(bare.alloc()));
            bare_held.iter().for_each(|&object| bare.kfree(object));
        })
    });
    g.finish();
    slabmerge::kmem_cache_destroy(cache).expect("no object left");
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
                    // Thread t on CPU t, real and virtual, for every contender.
                    pin_real_cpu(t);
                    slabmerge::cpu::set_current_cpu(t as u32);
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

/// One 64-byte cache called `name` in each slabmerge contender's world.
fn contender_caches<'w>(worlds: &'w [(&'static str, World); 2], name: &str) -> Vec<(&'static str, Cache<'w>)> {
    worlds
        .iter()
        .map(|(contender, world)| {
            let cache =
                world.kmem_cache_create(name, 64, KmemCacheArgs::align(8), SlabFlags::EMPTY).expect("cache created");
            (*contender, cache)
        })
        .collect()
}

fn threads(c: &mut Criterion) {
    let worlds = SLABMERGES.map(|(name, real)| (name, bench_world(real, 2)));
    let caches = contender_caches(&worlds, "bench_threads");
    let layout = Layout::from_size_align(64, 8).expect("valid layout");
    let mut g = c.benchmark_group("threads");
    for n in [1usize, 2] {
        g.throughput(Throughput::Elements(PAIRS * n as u64));
        for (name, cache) in &caches {
            g.bench_function(BenchmarkId::new(*name, n), |b| {
                b.iter_custom(|iters| {
                    on_threads(n, &|_| {
                        for _ in 0..iters * PAIRS {
                            let object = cache.alloc().expect("object");
                            cache.free(black_box(object)).expect("freed");
                        }
                    })
                })
            });
        }
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
    for (_, cache) in caches {
        slabmerge::kmem_cache_destroy(cache).expect("no object left");
    }
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
    let worlds = SLABMERGES.map(|(name, real)| (name, bench_world(real, 2)));
    let layout = Layout::from_size_align(64, 8).expect("valid layout");
    let mut g = c.benchmark_group("remote_free");
    g.throughput(Throughput::Elements(MOVED as u64));
    let caches = contender_caches(&worlds, "bench_remote");
    for (name, cache) in &caches {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                remote_free_run(iters, &|| cache.alloc().expect("object"), &|object| cache.free(object).expect("freed"))
            })
        });
    }
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
    for (_, cache) in caches {
        slabmerge::kmem_cache_destroy(cache).expect("no object left");
    }
}

criterion_group!(benches, alloc_free_pair, batch_1000, hit_batch, threads, remote_free);
criterion_main!(benches);
