//! The cache-sharing schemes measured side by side, one group per operation
//! and one entry per scheme, so that each ratio against mainline comes from
//! one run on one machine state.
//!
//! Groups (ids are `scheme/variant` or `scheme`):
//! - `kmem_cache_alloc_free`: `kmem_cache_alloc()` then `kmem_cache_free()` on
//!   one cache, a sheaf hit both ways, through each way a caller can hold a cache:
//!   - `mainline/dynamic`: a dynamic cache reached through an assign-once
//!     global (`OnceLock<Cache>`), the Rust form of `struct kmem_cache *foo_cachep`;
//!   - `mainline/dynamic-ptr`: the same cache through a plain global pointer
//!     (`AtomicPtr`, relaxed), exactly what `__ro_after_init foo_cachep` compiles to;
//!   - `mainline/alias`: a second creator's handle to the same instance;
//!   - `viro-v3/static`: a `static FOO: KmemCache` set up with `kmem_cache_setup()`;
//!   - `primary/static`: the same in the primary-cache design, where it is a primary;
//!   - `primary/static-alias`: a static instance that became an alias of `primary/static`;
//!   - `primary/dynamic`, `primary/dynamic-alias`: a dynamic primary and a
//!     dynamic alias of it, each through its own `OnceLock<Cache>`.
//! - `kmem_cache_alloc_free_cold`: the same pair after flushing, from every
//!   cache level, the line that holds the caller's cache pointer and the
//!   instance's first line. This is the case Al Viro's series is about: the
//!   global pointer load misses, and the instance load depends on it. Static
//!   entries flush a dummy pointer-sized global instead, so every entry pays
//!   the same two flushes and one fence.
//! - `kfree`: allocate through the scheme's cache, free with `kfree()`.
//! - `kmem_cache_bulk`: `kmem_cache_alloc_bulk()` of 128 objects, then `kmem_cache_free_bulk()`.
//! - `alias_create_destroy`: `kmem_cache_create()` of a cache that aliases an
//!   existing one, then `kmem_cache_destroy()` of it.
//! - `trace_replay`: a bare world, the bundled 6.18 boot trace replayed into it,
//!   then the replay and the world dropped (every cache destroyed).
//!
//! Creation at scale has a bench of its own (`benches/creation.rs`), on
//! another host allocator.
//!
//! In the per-scheme groups the scheme's cache is: mainline, the dynamic cache
//! behind `FOO_CACHEP`; viro-v3 and viro-v1, a static instance; primary, the
//! static alias (the instance kind only the primary-cache design has).
//!
//! Worlds and statics live for the process (`OnceLock`), as the kernel's do.
//! Every world runs on real CPUs (restartable sequences) where the machine
//! offers them, with the benchmark thread pinned to CPU 0.

use std::hint::black_box;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use slabmerge::flags::SlabFlags;
use slabmerge::replay::{Replay, StaticSet};
use slabmerge::trace::Trace;
use slabmerge::{Cache, KmemCache, KmemCacheArgs, Scheme, SlabConfig, World, kmem_cache_destroy};

/// Every cache here holds 64-byte objects: compatible, so the aliases form.
const OBJECT_SIZE: u32 = 64;
/// Objects per bulk call.
const BULK: usize = 128;

fn args() -> KmemCacheArgs {
    KmemCacheArgs::align(8)
}

/// A world on real CPUs (restartable sequences, `SlabConfig::real_cpus`):
/// the fast path a port would run, and the one whose cost is the kernel's.
/// Where rseq is missing the world keeps the virtual CPUs by itself.
fn boot(scheme: Scheme) -> World {
    World::new(SlabConfig { real_cpus: true, ..SlabConfig::with_scheme(scheme) })
}

/// Pins the benchmark thread to CPU 0, so that every pair runs on one
/// CPU's sheaves (this bench runs no other thread).
fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside
    // it; sched_setaffinity reads it and touches nothing else.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

// Mainline: a dynamic cache and a second creator's handle to it.
static MAINLINE: OnceLock<World> = OnceLock::new();
static FOO_CACHEP: OnceLock<Cache<'static>> = OnceLock::new();
static FOO_CACHEP_PTR: AtomicPtr<KmemCache> = AtomicPtr::new(std::ptr::null_mut());
static FOO_ALIAS_CACHEP: OnceLock<Cache<'static>> = OnceLock::new();

// Al Viro's schemes: a static instance each.
static VIRO_V3: OnceLock<World> = OnceLock::new();
static FOO_V3: KmemCache = KmemCache::new();
static VIRO_V1: OnceLock<World> = OnceLock::new();
static FOO_V1: KmemCache = KmemCache::new();

// Primary-cache design: a static primary with a static alias, and (in a
// world of its own, so nothing merges across the pairs) a dynamic primary
// with a dynamic alias.
static PRIMARY: OnceLock<World> = OnceLock::new();
static FOO_PRIMARY: KmemCache = KmemCache::new();
static BAR_PRIMARY: KmemCache = KmemCache::new();
static PRIMARY_DYN: OnceLock<World> = OnceLock::new();
static FOO_PRIMARY_CACHEP: OnceLock<Cache<'static>> = OnceLock::new();
static BAR_PRIMARY_CACHEP: OnceLock<Cache<'static>> = OnceLock::new();

/// Boots every world and creates every cache once, checking that each one is
/// the kind of instance its benchmark claims to measure.
fn setup() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let none = SlabFlags::EMPTY;

        let w = MAINLINE.get_or_init(|| boot(Scheme::Mainline));
        let cache = FOO_CACHEP.get_or_init(|| w.kmem_cache_create("foo", OBJECT_SIZE, args(), none).expect("foo"));
        FOO_CACHEP_PTR.store(std::ptr::from_ref::<KmemCache>(cache).cast_mut(), Ordering::Relaxed);
        let alias = FOO_ALIAS_CACHEP
            .get_or_init(|| w.kmem_cache_create("foo_alias", OBJECT_SIZE, args(), none).expect("alias"));
        assert!(std::ptr::eq::<KmemCache>(&**cache, &**alias), "mainline: the alias handle names foo's instance");

        let w = VIRO_V3.get_or_init(|| boot(Scheme::ViroV3));
        w.kmem_cache_setup(&FOO_V3, "foo_v3", OBJECT_SIZE, args(), none).expect("foo_v3");
        let w = VIRO_V1.get_or_init(|| boot(Scheme::ViroV1));
        w.kmem_cache_setup(&FOO_V1, "foo_v1", OBJECT_SIZE, args(), none).expect("foo_v1");

        let w = PRIMARY.get_or_init(|| boot(Scheme::Primary));
        w.kmem_cache_setup(&FOO_PRIMARY, "foo_primary", OBJECT_SIZE, args(), none).expect("foo_primary");
        w.kmem_cache_setup(&BAR_PRIMARY, "bar_primary", OBJECT_SIZE, args(), none).expect("bar_primary");
        assert!(!FOO_PRIMARY.is_alias(), "primary: the first static is a primary");
        assert!(BAR_PRIMARY.is_alias(), "primary: the second static is an alias");
        assert!(std::ptr::eq(BAR_PRIMARY.primary_cache().expect("alias"), &FOO_PRIMARY));

        let w = PRIMARY_DYN.get_or_init(|| boot(Scheme::Primary));
        let primary = FOO_PRIMARY_CACHEP
            .get_or_init(|| w.kmem_cache_create("foo_primary_dyn", OBJECT_SIZE, args(), none).expect("foo"));
        let alias = BAR_PRIMARY_CACHEP
            .get_or_init(|| w.kmem_cache_create("bar_primary_dyn", OBJECT_SIZE, args(), none).expect("bar"));
        assert!(!primary.is_alias() && alias.is_alias(), "primary: the second dynamic cache is an alias");
        assert_eq!(primary.storage_id(), alias.storage_id());
    });
    // The fast paths index per-cpu sheaves by the current CPU: pin it (the
    // real one, and the virtual one where rseq is missing).
    pin_to_cpu0();
    slabmerge::cpu::set_current_cpu(0);
}

/// The dynamic mainline cache, loaded from its global pointer on each use as
/// `foo_cachep` is.
#[inline(always)]
fn foo_cachep() -> &'static KmemCache {
    FOO_CACHEP.get().expect("set up")
}

/// The same cache through a plain pointer global.
#[inline(always)]
fn foo_cachep_ptr() -> &'static KmemCache {
    // SAFETY: set once in `setup()` to the instance of `FOO_CACHEP`, a handle
    // that is never destroyed.
    unsafe { &*FOO_CACHEP_PTR.load(Ordering::Relaxed) }
}

/// One alloc/free pair per iteration through the cache `get` returns. `get`
/// runs on every iteration, so reaching the cache is part of what is
/// measured; each call site passes its own closure, so it is inlined.
fn bench_pair(g: &mut BenchmarkGroup<'_, WallTime>, scheme: &str, variant: &str, get: impl Fn() -> &'static KmemCache) {
    g.bench_function(BenchmarkId::new(scheme, variant), |b| {
        b.iter(|| {
            let object = get().alloc().expect("object");
            get().free(black_box(object)).expect("freed");
        })
    });
}

/// The world and cache each scheme's per-scheme entries use.
fn scheme_entries() -> [(Scheme, &'static World, &'static KmemCache); 4] {
    [
        (Scheme::Mainline, MAINLINE.get().expect("set up"), foo_cachep()),
        (Scheme::ViroV3, VIRO_V3.get().expect("set up"), &FOO_V3),
        (Scheme::ViroV1, VIRO_V1.get().expect("set up"), &FOO_V1),
        (Scheme::Primary, PRIMARY.get().expect("set up"), &BAR_PRIMARY),
    ]
}

fn kmem_cache_alloc_free(c: &mut Criterion) {
    setup();
    let mut g = c.benchmark_group("kmem_cache_alloc_free");
    bench_pair(&mut g, "mainline", "dynamic", foo_cachep);
    bench_pair(&mut g, "mainline", "dynamic-ptr", foo_cachep_ptr);
    bench_pair(&mut g, "mainline", "alias", || FOO_ALIAS_CACHEP.get().expect("set up"));
    bench_pair(&mut g, "viro-v3", "static", || &FOO_V3);
    bench_pair(&mut g, "primary", "static", || &FOO_PRIMARY);
    bench_pair(&mut g, "primary", "static-alias", || &BAR_PRIMARY);
    bench_pair(&mut g, "primary", "dynamic", || FOO_PRIMARY_CACHEP.get().expect("set up"));
    bench_pair(&mut g, "primary", "dynamic-alias", || BAR_PRIMARY_CACHEP.get().expect("set up"));
    g.finish();
}

/// A value alone on its cache line, so that flushing it evicts nothing else
/// the measured path uses.
#[repr(align(64))]
struct Line<T>(T);

/// The cold group's `foo_cachep`: the mainline cache's pointer, on its own line.
static COLD_CACHEP: Line<AtomicPtr<KmemCache>> = Line(AtomicPtr::new(std::ptr::null_mut()));
/// A pointer-sized global, alone on its line, that the static entries flush
/// in place of a cache pointer they do not have.
static COLD_DUMMY: Line<AtomicPtr<KmemCache>> = Line(AtomicPtr::new(std::ptr::null_mut()));

/// The mainline cache through `COLD_CACHEP`.
#[inline(always)]
fn cold_cachep() -> &'static KmemCache {
    // SAFETY: set in `kmem_cache_alloc_free_cold` to the instance of
    // `FOO_CACHEP`, a handle that is never destroyed.
    unsafe { &*COLD_CACHEP.0.load(Ordering::Relaxed) }
}

/// `clflush` of the line holding `p`, from every level of the data cache.
#[inline(always)]
fn flush_line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `clflush` needs only a mapped address; every caller passes a
    // pointer into a live static or cache instance.
    unsafe {
        std::arch::x86_64::_mm_clflush(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Orders the flushes before the measured loads.
#[inline(always)]
fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `mfence` has no preconditions.
    unsafe {
        std::arch::x86_64::_mm_mfence()
    }
}

/// One cold alloc/free pair per iteration: flush the line of `pointer_cell`
/// (where the caller's cache pointer lives) and the instance's first line,
/// fence, then reach the cache through `get` and allocate and free.
fn bench_cold_pair(
    g: &mut BenchmarkGroup<'_, WallTime>,
    scheme: &str,
    variant: &str,
    pointer_cell: *const u8,
    get: impl Fn() -> &'static KmemCache,
) {
    // The instance's address, taken once here: taking it inside the loop
    // would load the pointer and warm the line being measured.
    let instance: *const KmemCache = get();
    g.bench_function(BenchmarkId::new(scheme, variant), |b| {
        b.iter(|| {
            flush_line(pointer_cell);
            flush_line(instance);
            fence();
            let object = get().alloc().expect("object");
            get().free(black_box(object)).expect("freed");
        })
    });
}

fn kmem_cache_alloc_free_cold(c: &mut Criterion) {
    setup();
    COLD_CACHEP.0.store(std::ptr::from_ref(foo_cachep()).cast_mut(), Ordering::Relaxed);
    let mut g = c.benchmark_group("kmem_cache_alloc_free_cold");
    let cachep = std::ptr::from_ref(&COLD_CACHEP).cast::<u8>();
    let dummy = std::ptr::from_ref(&COLD_DUMMY).cast::<u8>();
    bench_cold_pair(&mut g, "mainline", "dynamic-ptr", cachep, cold_cachep);
    bench_cold_pair(&mut g, "viro-v3", "static", dummy, || &FOO_V3);
    bench_cold_pair(&mut g, "primary", "static", dummy, || &FOO_PRIMARY);
    bench_cold_pair(&mut g, "primary", "static-alias", dummy, || &BAR_PRIMARY);
    g.finish();
}

fn kfree(c: &mut Criterion) {
    setup();
    let mut g = c.benchmark_group("kfree");
    for (scheme, world, cache) in scheme_entries() {
        g.bench_function(scheme.name(), |b| {
            b.iter(|| {
                let object = cache.alloc().expect("object");
                world.kfree(black_box(object)).expect("freed");
            })
        });
    }
    g.finish();
}

fn kmem_cache_bulk(c: &mut Criterion) {
    setup();
    let mut g = c.benchmark_group("kmem_cache_bulk");
    g.throughput(Throughput::Elements(BULK as u64));
    for (scheme, _, cache) in scheme_entries() {
        g.bench_function(scheme.name(), |b| {
            b.iter(|| {
                let objects = cache.alloc_bulk(black_box(BULK)).expect("objects");
                cache.free_bulk(black_box(objects)).expect("freed");
            })
        });
    }
    g.finish();
}

fn alias_create_destroy(c: &mut Criterion) {
    slabmerge::cpu::set_current_cpu(0);
    let mut g = c.benchmark_group("alias_create_destroy");
    for scheme in [Scheme::Mainline, Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary] {
        let world = boot(scheme);
        let target = world.kmem_cache_create("target", OBJECT_SIZE, args(), SlabFlags::EMPTY).expect("target");
        let create = || world.kmem_cache_create("churn", OBJECT_SIZE, args(), SlabFlags::EMPTY).expect("churn");
        let churn = create();
        assert_eq!(churn.storage_id(), target.storage_id(), "{}: the new cache aliases the target", scheme.name());
        assert_eq!(churn.is_alias(), scheme == Scheme::Primary, "{}: alias instance or same instance", scheme.name());
        kmem_cache_destroy(churn).expect("destroyed");
        g.bench_function(scheme.name(), |b| {
            b.iter(|| kmem_cache_destroy(black_box(create())).expect("destroyed"));
        });
        let refcount = target.refcount();
        assert_eq!(refcount, 1, "{}: every alias reference was dropped", scheme.name());
        kmem_cache_destroy(target).expect("target destroyed");
    }
    g.finish();
}

fn trace_replay(c: &mut Criterion) {
    slabmerge::cpu::set_current_cpu(0);
    let trace = Trace::bundled();
    let mut g = c.benchmark_group("trace_replay");
    // One replay creates hundreds of caches: few samples, each long enough to time.
    g.sample_size(10);
    for scheme in [Scheme::Mainline, Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary] {
        // Mainline has no static instances; the other schemes convert v3's set.
        let statics = if scheme == Scheme::Mainline { StaticSet::none() } else { StaticSet::v3(&trace) };
        let config = SlabConfig { image_statics: statics.image_slots(), ..SlabConfig::with_scheme(scheme) };
        g.bench_function(scheme.name(), |b| {
            b.iter(|| {
                let world = World::bare(config.clone());
                let replay = Replay::run(&world, &trace, &statics);
                assert!(replay.failures.is_empty(), "{:?}", replay.failures);
                drop(black_box(replay));
                drop(world);
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    kmem_cache_alloc_free,
    kmem_cache_alloc_free_cold,
    kfree,
    kmem_cache_bulk,
    alias_create_destroy,
    trace_replay
);
criterion_main!(benches);
