//! Creating and destroying caches at scale (issue 13): the kernel's answer
//! of `find_mergeable()` through the merge index, and `list_del()` on
//! destroy, each a constant cost however long `slab_caches` is.
//!
//! Groups (ids are `phase/n` or `phase/depth`, throughput per cache):
//! - `create_at_scale`: `n` distinct caches created into a fresh world, then
//!   destroyed; each phase timed, for 1,000, 10,000 and 100,000 caches.
//! - `create_at_depth`: one more batch of 1,000 created and destroyed on a
//!   world already holding `depth` caches (0, 10,000, 100,000).
//!
//! Under `cargo test --benches` (no `--bench` argument) only the smallest
//! size and depth run.
//!
//! The model's own structures (each instance, storage, node, per-cpu slot
//! array and name, and the maps' tables) come from the host allocator, where
//! the kernel takes them from slab caches of its own (`kmem_cache`,
//! `kmem_cache_node`) at a constant cost per object. glibc's malloc is not
//! constant: with a heap that has held many caches its bin searches grow
//! (design/benchmarks.md, "Creating and destroying at scale", measures both),
//! so this bench runs on mimalloc, a size-class allocator like the slab one.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use slabmerge::flags::SlabFlags;
use slabmerge::{Cache, KmemCacheArgs, SlabConfig, World, kmem_cache_destroy};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Creates one cache per name, of sizes 8 (first + 1), 8 (first + 2), ...:
/// no two compatible, so every create asks `find_mergeable()` and finds
/// nothing.
fn create_all<'w>(world: &'w World, names: &[String], first: usize) -> Vec<Cache<'w>> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let size = 8 * ((first + i) as u32 + 1);
            world.kmem_cache_create(name, size, KmemCacheArgs::align(8), SlabFlags::EMPTY).expect("distinct cache")
        })
        .collect()
}

/// Creation at scale: `n` distinct caches (mergeable, but no two compatible,
/// so every create asks `find_mergeable()` and finds nothing), then all of
/// them destroyed. Per element, so a flat line over `n` is a constant cost
/// per create (the merge index) and per destroy (`list_del`). Under
/// `cargo test --benches` (no `--bench` argument) only the smallest size runs.
fn create_at_scale(c: &mut Criterion) {
    slabmerge::cpu::set_current_cpu(0);
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[1_000, 10_000, 100_000] } else { &[1_000] };
    let mut g = c.benchmark_group("create_at_scale");
    g.sample_size(10);
    for &n in sizes {
        g.throughput(Throughput::Elements(n as u64));
        let names: Vec<String> = (0..n).map(|i| format!("scale-{i}")).collect();
        g.bench_function(BenchmarkId::new("create", n), |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let world = World::new(SlabConfig::default());
                    let start = std::time::Instant::now();
                    let caches = black_box(create_all(&world, &names, 0));
                    total += start.elapsed();
                    for c in caches {
                        kmem_cache_destroy(c).expect("destroyed");
                    }
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("destroy", n), |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let world = World::new(SlabConfig::default());
                    let caches = create_all(&world, &names, 0);
                    assert_eq!(world.caches().len(), n + slabmerge::world::KMALLOC_SIZES.len());
                    let start = std::time::Instant::now();
                    for c in caches {
                        kmem_cache_destroy(black_box(c)).expect("destroyed");
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

/// Creation at depth: the cost of one more create and destroy on a world
/// that already holds `depth` distinct caches, which is what "flat as the
/// list grows" asks of the merge index and `list_del`. Each sample creates
/// [`BATCH`] more caches (sizes continuing the depth's, so none is
/// compatible with any other and every create asks `find_mergeable()` and
/// finds nothing) and destroys them again; the batch's own footprint is the
/// same at every depth, so what changes with `depth` is only what the list
/// and its indexes cost. `create_at_scale` above measures the other thing:
/// the average over a world growing to `n`, which also pays for a working set
/// that outgrows the last-level cache. Under `cargo test --benches` only
/// depth 0 runs.
fn create_at_depth(c: &mut Criterion) {
    const BATCH: usize = 1_000;
    slabmerge::cpu::set_current_cpu(0);
    let full = std::env::args().any(|a| a == "--bench");
    let depths: &[usize] = if full { &[0, 10_000, 100_000] } else { &[0] };
    let mut g = c.benchmark_group("create_at_depth");
    g.sample_size(20);
    g.throughput(Throughput::Elements(BATCH as u64));
    for &depth in depths {
        let world = World::new(SlabConfig::default());
        let held_names: Vec<String> = (0..depth).map(|i| format!("depth-{i}")).collect();
        let held = create_all(&world, &held_names, 0);
        assert_eq!(world.caches().len(), depth + slabmerge::world::KMALLOC_SIZES.len());
        let names: Vec<String> = (0..BATCH).map(|i| format!("batch-{i}")).collect();
        let create_batch = || create_all(&world, &names, depth);
        g.bench_function(BenchmarkId::new("create", depth), |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let start = std::time::Instant::now();
                    let batch = black_box(create_batch());
                    total += start.elapsed();
                    for c in batch {
                        kmem_cache_destroy(c).expect("destroyed");
                    }
                }
                total
            })
        });
        g.bench_function(BenchmarkId::new("destroy", depth), |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let batch = create_batch();
                    let start = std::time::Instant::now();
                    for c in batch {
                        kmem_cache_destroy(black_box(c)).expect("destroyed");
                    }
                    total += start.elapsed();
                }
                total
            })
        });
        for c in held {
            kmem_cache_destroy(c).expect("destroyed");
        }
    }
    g.finish();
}

criterion_group!(benches, create_at_scale, create_at_depth);
criterion_main!(benches);
