//! Instruction-count harness for the allocation fast paths of each scheme.
//!
//! Every fast path is wrapped in an `#[inline(never)]` function with a stable
//! name (`fastpath::alloc_<variant>`, `fastpath::free_<variant>`,
//! `fastpath::kfree_<scheme>`), so callgrind can count exactly the
//! instructions of one call with `--toggle-collect`. `scripts/callgrind.sh`
//! runs this binary once per function and divides the total by the number of
//! calls.
//!
//! Usage: `fastpath <variant> [N]` runs N alloc/free pairs through that
//! variant; `fastpath kfree-<scheme> [N]` runs N allocations through the
//! scheme's cache, each freed with `kfree()`; `fastpath list` prints the names.
//!
//! Variants (the same as `benches/schemes.rs`):
//! - `mainline_dynamic`: a dynamic cache reached through `OnceLock<Cache>`,
//!   the Rust form of a kernel `struct kmem_cache *foo_cachep`;
//! - `mainline_dynamic_ptr`: the same cache through a plain pointer global
//!   (what `__ro_after_init foo_cachep` compiles to: one load);
//! - `mainline_alias`: a second creator's handle to that instance;
//! - `viro_v3_static`: a `static` instance set up with `kmem_cache_setup()`;
//! - `primary_static`, `primary_static_alias`: a static primary and a static
//!   alias of it in the primary-cache design;
//! - `primary_dynamic`, `primary_dynamic_alias`: the same pair as dynamic
//!   caches, each through its own `OnceLock<Cache>`.
//!
//! Before the counted calls, one uncounted pair fills the CPU's sheaf, so
//! every counted call is a sheaf hit and the count per call is exact.
//!
//! `FASTPATH_REAL_CPUS=1` counts the real-CPU worlds' fast paths (one
//! restartable sequence each, `slub/rseq/`). Valgrind runs no rseq, so the
//! harness then puts this thread on a stand-in rseq area that says CPU 0:
//! the same instructions, without the kernel's restarts, which one thread
//! that is never flushed does not need.
//!
//! Valgrind 3.19 implements `membarrier(2)`, so callgrind counts the owner's
//! fast path; `PERCPU_FORCE_FALLBACK=1` counts the fallback (a
//! compare-and-swap trylock per entry). A valgrind that answers `ENOSYS`
//! counts the fallback; there `FASTPATH_ASSUME_MEMBARRIER=1` makes the harness *assume*
//! membarrier is available, for counting only: this single thread then owns
//! its CPU's slots and every counted call is the owner's fast path. It is
//! sound only because nothing here ever needs the heavy fence (no flush, no
//! statistics, no second thread); if something did, the membarrier call
//! would fail and panic rather than go unordered.

use std::hint::black_box;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use slabmerge::flags::SlabFlags;
use slabmerge::{AllocError, Cache, FreeError, KmemCache, KmemCacheArgs, Object, Scheme, SlabConfig, World};

const OBJECT_SIZE: u32 = 64;

static MAINLINE: OnceLock<World> = OnceLock::new();
static FOO_CACHEP: OnceLock<Cache<'static>> = OnceLock::new();
static FOO_CACHEP_PTR: AtomicPtr<KmemCache> = AtomicPtr::new(std::ptr::null_mut());
static FOO_ALIAS_CACHEP: OnceLock<Cache<'static>> = OnceLock::new();

static VIRO_V3: OnceLock<World> = OnceLock::new();
static FOO_V3: KmemCache = KmemCache::new();

static PRIMARY: OnceLock<World> = OnceLock::new();
static FOO_PRIMARY: KmemCache = KmemCache::new();
static BAR_PRIMARY: KmemCache = KmemCache::new();
static PRIMARY_DYN: OnceLock<World> = OnceLock::new();
static FOO_PRIMARY_CACHEP: OnceLock<Cache<'static>> = OnceLock::new();
static BAR_PRIMARY_CACHEP: OnceLock<Cache<'static>> = OnceLock::new();

/// `FASTPATH_REAL_CPUS=1`: every world's slots are the machine's CPUs,
/// entered by restartable sequences (`SlabConfig::real_cpus`).
fn real_cpus() -> bool {
    std::env::var_os("FASTPATH_REAL_CPUS").is_some_and(|v| v == "1")
}

fn boot(scheme: Scheme) -> World {
    World::new(SlabConfig { real_cpus: real_cpus(), ..SlabConfig::with_scheme(scheme) })
}

/// Creates every cache and checks each is the kind of instance it stands for.
fn setup() {
    let none = SlabFlags::EMPTY;
    let args = || KmemCacheArgs::align(8);

    let w = MAINLINE.get_or_init(|| boot(Scheme::Mainline));
    MAINLINE_PTR.store(std::ptr::from_ref(w).cast_mut(), Ordering::Relaxed);
    let cache = FOO_CACHEP.get_or_init(|| w.kmem_cache_create("foo", OBJECT_SIZE, args(), none).expect("foo"));
    FOO_CACHEP_PTR.store(std::ptr::from_ref::<KmemCache>(cache).cast_mut(), Ordering::Relaxed);
    let alias =
        FOO_ALIAS_CACHEP.get_or_init(|| w.kmem_cache_create("foo_alias", OBJECT_SIZE, args(), none).expect("alias"));
    assert!(std::ptr::eq::<KmemCache>(&**cache, &**alias), "mainline: the alias handle names foo's instance");

    let w = VIRO_V3.get_or_init(|| boot(Scheme::ViroV3));
    VIRO_V3_PTR.store(std::ptr::from_ref(w).cast_mut(), Ordering::Relaxed);
    w.kmem_cache_setup(&FOO_V3, "foo_v3", OBJECT_SIZE, args(), none).expect("foo_v3");

    let w = PRIMARY.get_or_init(|| boot(Scheme::Primary));
    PRIMARY_PTR.store(std::ptr::from_ref(w).cast_mut(), Ordering::Relaxed);
    w.kmem_cache_setup(&FOO_PRIMARY, "foo_primary", OBJECT_SIZE, args(), none).expect("foo_primary");
    w.kmem_cache_setup(&BAR_PRIMARY, "bar_primary", OBJECT_SIZE, args(), none).expect("bar_primary");
    assert!(!FOO_PRIMARY.is_alias() && BAR_PRIMARY.is_alias(), "primary: the second static is an alias");

    let w = PRIMARY_DYN.get_or_init(|| boot(Scheme::Primary));
    let primary = FOO_PRIMARY_CACHEP
        .get_or_init(|| w.kmem_cache_create("foo_primary_dyn", OBJECT_SIZE, args(), none).expect("p"));
    let alias = BAR_PRIMARY_CACHEP
        .get_or_init(|| w.kmem_cache_create("bar_primary_dyn", OBJECT_SIZE, args(), none).expect("a"));
    assert!(!primary.is_alias() && alias.is_alias(), "primary: the second dynamic cache is an alias");
}

/// Defines the counted `alloc_*`/`free_*` pair of one variant; `$get` is
/// evaluated inside each, so reaching the cache is counted.
macro_rules! fast_path {
    ($alloc:ident, $free:ident, $get:expr) => {
        #[inline(never)]
        fn $alloc() -> Result<Object, AllocError> {
            $get.alloc()
        }

        #[inline(never)]
        fn $free(object: Object) -> Result<(), FreeError> {
            $get.free(object)
        }
    };
}

fast_path!(alloc_mainline_dynamic, free_mainline_dynamic, FOO_CACHEP.get().expect("set up"));
// SAFETY: the pointer is set in `setup()` to the instance of a handle that is never destroyed.
fast_path!(alloc_mainline_dynamic_ptr, free_mainline_dynamic_ptr, unsafe { &*FOO_CACHEP_PTR.load(Ordering::Relaxed) });
fast_path!(alloc_mainline_alias, free_mainline_alias, FOO_ALIAS_CACHEP.get().expect("set up"));
fast_path!(alloc_viro_v3_static, free_viro_v3_static, FOO_V3);
fast_path!(alloc_primary_static, free_primary_static, FOO_PRIMARY);
fast_path!(alloc_primary_static_alias, free_primary_static_alias, BAR_PRIMARY);
fast_path!(alloc_primary_dynamic, free_primary_dynamic, FOO_PRIMARY_CACHEP.get().expect("set up"));
fast_path!(alloc_primary_dynamic_alias, free_primary_dynamic_alias, BAR_PRIMARY_CACHEP.get().expect("set up"));

/// The worlds as plain pointers, set in `setup()`: `kmalloc()` and
/// `kfree()` name no cache, and the kernel reaches its one world through
/// no pointer at all; a load is the least a process with several worlds
/// pays (`OnceLock::get` would add its state test and a panic path).
static MAINLINE_PTR: AtomicPtr<World> = AtomicPtr::new(std::ptr::null_mut());
static VIRO_V3_PTR: AtomicPtr<World> = AtomicPtr::new(std::ptr::null_mut());
static PRIMARY_PTR: AtomicPtr<World> = AtomicPtr::new(std::ptr::null_mut());

/// `kmalloc(64)` and `kfree()` of an object, in the world of one scheme.
macro_rules! kmalloc_path {
    ($kmalloc:ident, $kfree:ident, $world:ident) => {
        #[inline(never)]
        fn $kmalloc() -> Result<Object, AllocError> {
            // SAFETY: set in `setup()` to a world that lives in a static.
            unsafe { &*$world.load(Ordering::Relaxed) }.kmalloc(OBJECT_SIZE as usize)
        }

        #[inline(never)]
        fn $kfree(object: Object) -> Result<(), FreeError> {
            // SAFETY: as above.
            unsafe { &*$world.load(Ordering::Relaxed) }.kfree(object)
        }
    };
}

kmalloc_path!(kmalloc_mainline, kfree_mainline, MAINLINE_PTR);
kmalloc_path!(kmalloc_viro_v3, kfree_viro_v3, VIRO_V3_PTR);
kmalloc_path!(kmalloc_primary, kfree_primary, PRIMARY_PTR);

type CacheFn = fn() -> &'static KmemCache;
type AllocFn = fn() -> Result<Object, AllocError>;
type FreeFn = fn(Object) -> Result<(), FreeError>;

/// One fast path: its name, the cache it goes through (for the uncounted
/// warm-up), and the counted allocation and free.
struct FastPath {
    name: &'static str,
    cache: CacheFn,
    alloc: AllocFn,
    free: FreeFn,
}

/// Every alloc/free variant.
const VARIANTS: [FastPath; 8] = [
    FastPath {
        name: "mainline_dynamic",
        cache: || FOO_CACHEP.get().expect("set up"),
        alloc: alloc_mainline_dynamic,
        free: free_mainline_dynamic,
    },
    FastPath {
        name: "mainline_dynamic_ptr",
        cache: || FOO_CACHEP.get().expect("set up"),
        alloc: alloc_mainline_dynamic_ptr,
        free: free_mainline_dynamic_ptr,
    },
    FastPath {
        name: "mainline_alias",
        cache: || FOO_ALIAS_CACHEP.get().expect("set up"),
        alloc: alloc_mainline_alias,
        free: free_mainline_alias,
    },
    FastPath { name: "viro_v3_static", cache: || &FOO_V3, alloc: alloc_viro_v3_static, free: free_viro_v3_static },
    FastPath { name: "primary_static", cache: || &FOO_PRIMARY, alloc: alloc_primary_static, free: free_primary_static },
    FastPath {
        name: "primary_static_alias",
        cache: || &BAR_PRIMARY,
        alloc: alloc_primary_static_alias,
        free: free_primary_static_alias,
    },
    FastPath {
        name: "primary_dynamic",
        cache: || FOO_PRIMARY_CACHEP.get().expect("set up"),
        alloc: alloc_primary_dynamic,
        free: free_primary_dynamic,
    },
    FastPath {
        name: "primary_dynamic_alias",
        cache: || BAR_PRIMARY_CACHEP.get().expect("set up"),
        alloc: alloc_primary_dynamic_alias,
        free: free_primary_dynamic_alias,
    },
];

/// Every kfree entry: allocation through the scheme's cache, free by `kfree()`.
const KFREES: [FastPath; 3] = [
    FastPath {
        name: "kfree-mainline",
        cache: || FOO_CACHEP.get().expect("set up"),
        alloc: alloc_mainline_dynamic,
        free: kfree_mainline,
    },
    FastPath { name: "kfree-viro_v3", cache: || &FOO_V3, alloc: alloc_viro_v3_static, free: kfree_viro_v3 },
    FastPath { name: "kfree-primary", cache: || &BAR_PRIMARY, alloc: alloc_primary_static_alias, free: kfree_primary },
];

/// Every kmalloc entry: `kmalloc(64)`, freed by `kfree()` (the warm-up goes
/// through the kmalloc-64 cache, which `kmalloc(64)` serves).
const KMALLOCS: [FastPath; 3] = [
    FastPath {
        name: "kmalloc-mainline",
        cache: || kmalloc_64(&MAINLINE),
        alloc: kmalloc_mainline,
        free: kfree_mainline,
    },
    FastPath { name: "kmalloc-viro_v3", cache: || kmalloc_64(&VIRO_V3), alloc: kmalloc_viro_v3, free: kfree_viro_v3 },
    FastPath { name: "kmalloc-primary", cache: || kmalloc_64(&PRIMARY), alloc: kmalloc_primary, free: kfree_primary },
];

/// The instance behind `kmalloc(64)` in a world.
fn kmalloc_64(world: &'static OnceLock<World>) -> &'static KmemCache {
    world.get().expect("set up").kmalloc_cache(OBJECT_SIZE as usize).expect("kmalloc-64")
}

/// One pair outside the counted functions (its allocation refills the CPU's
/// sheaf, which would otherwise land in the first counted call), then `n`
/// counted pairs, every one a sheaf hit.
fn run(n: u64, path: &FastPath) {
    let cache = (path.cache)();
    cache.free(cache.alloc().expect("object")).expect("freed");
    for _ in 0..n {
        let object = (path.alloc)().expect("object");
        (path.free)(black_box(object)).expect("freed");
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| String::from("list"));
    let n: u64 = args.next().map_or(100_000, |s| s.parse().expect("N is a number"));
    if what == "list" {
        for path in VARIANTS.iter().chain(&KFREES).chain(&KMALLOCS) {
            println!("{}", path.name);
        }
        return;
    }
    if std::env::var_os("FASTPATH_ASSUME_MEMBARRIER").is_some_and(|v| v == "1") {
        assert!(
            slabmerge::membarrier::assume_available_for_single_threaded_bench(),
            "set before the first per-cpu slot is made"
        );
    }
    // Valgrind runs no rseq: count the real-CPU sections on a stand-in area
    // that says CPU 0 (sound here: one thread, no flush, nothing to restart).
    if real_cpus() && !slabmerge::slub::rseq::glibc_registered() {
        assert!(slabmerge::slub::rseq::assume_available_for_single_threaded_count(), "before the first world");
    }
    setup();
    if real_cpus() {
        let mode = FOO_CACHEP.get().expect("set up").per_cpu_mode();
        assert_eq!(mode, Some(slabmerge::slub::percpu::Effective::Rseq), "FASTPATH_REAL_CPUS=1 counts the rseq path");
    }
    // The fast paths index per-cpu sheaves by the current CPU: pin it.
    slabmerge::cpu::set_current_cpu(0);
    let Some(path) = VARIANTS.iter().chain(&KFREES).chain(&KMALLOCS).find(|p| p.name == what) else {
        eprintln!("unknown fast path {what:?}; `fastpath list` prints the names");
        std::process::exit(2);
    };
    run(n, path);
    println!("{what}: {n} calls");
}
