//! The workload of `create_scale` and `create_scale_mimalloc`: the two
//! differ only in the host allocator the model's own structures come from.

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use slabmerge::flags::SlabFlags;
use slabmerge::{Cache, KmemCacheArgs, SlabConfig, World, kmem_cache_destroy};

/// The host allocator `A`, counting while [`COUNTING`] is set: the number
/// of allocations and their bytes, for `create_scale N 1 --allocs`.
pub struct Counting<A>(pub A);

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static FREES: AtomicUsize = AtomicUsize::new(0);
/// `CREATE_SCALE_SIZES` set: print each counted allocation's layout.
static SIZES: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards to `A`; only counts.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(l.size(), Ordering::Relaxed);
            if SIZES.load(Ordering::Relaxed) {
                COUNTING.store(false, Ordering::Relaxed);
                eprintln!("alloc {} align {}", l.size(), l.align());
                COUNTING.store(true, Ordering::Relaxed);
            }
        }
        // SAFETY: forwarded.
        unsafe { self.0.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            FREES.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { self.0.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            FREES.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new.saturating_sub(l.size()), Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { self.0.realloc(p, l, new) }
    }
}

#[inline(never)]
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

#[inline(never)]
fn destroy_all(caches: Vec<Cache<'_>>) {
    for c in caches {
        kmem_cache_destroy(black_box(c)).expect("destroyed");
    }
}

fn thread_time() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Minor page faults of the process so far.
fn minflt() -> i64 {
    // SAFETY: `usage` is a valid rusage to write.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_minflt
}

pub fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    slabmerge::cpu::set_current_cpu(0);
    let names: Vec<String> = (0..n).map(|i| format!("scale-{i}")).collect();
    let mode = args.next();
    if mode.as_deref() == Some("--allocs") {
        // The heap traffic of one create and one destroy, on a world that
        // already holds `n` caches (the maps' growth amortised away).
        SIZES.store(std::env::var_os("CREATE_SCALE_SIZES").is_some(), Ordering::Relaxed);
        let world = World::new(SlabConfig::default());
        let caches = create_all(&world, &names, 0);
        let one = [format!("scale-{n}")];
        COUNTING.store(true, Ordering::Relaxed);
        let extra = create_all(&world, &one, n);
        let (a, b) = (ALLOCS.swap(0, Ordering::Relaxed), BYTES.swap(0, Ordering::Relaxed));
        let f = FREES.swap(0, Ordering::Relaxed);
        println!("create: {a} allocations, {b} bytes, {f} frees");
        destroy_all(extra);
        let (a, b) = (ALLOCS.swap(0, Ordering::Relaxed), BYTES.swap(0, Ordering::Relaxed));
        let f = FREES.swap(0, Ordering::Relaxed);
        println!("destroy: {a} allocations, {b} bytes, {f} frees");
        COUNTING.store(false, Ordering::Relaxed);
        destroy_all(caches);
        return;
    }
    if mode.as_deref() == Some("--depth") {
        let depth: usize = args.next().and_then(|a| a.parse().ok()).expect("--depth D");
        let world = World::new(SlabConfig::default());
        let held_names: Vec<String> = (0..depth).map(|i| format!("depth-{i}")).collect();
        let held = create_all(&world, &held_names, 0);
        for round in 0..rounds {
            let (f0, t0) = (minflt(), thread_time());
            let caches = black_box(create_all(&world, &names, depth));
            let (f1, t1) = (minflt(), thread_time());
            destroy_all(caches);
            let (f2, t2) = (minflt(), thread_time());
            report(round, n, (f0, f1, f2), (t0, t1, t2));
        }
        destroy_all(held);
        return;
    }
    for round in 0..rounds {
        let world = World::new(SlabConfig::default());
        let (f0, t0) = (minflt(), thread_time());
        let caches = black_box(create_all(&world, &names, 0));
        let (f1, t1) = (minflt(), thread_time());
        destroy_all(caches);
        let (f2, t2) = (minflt(), thread_time());
        report(round, n, (f0, f1, f2), (t0, t1, t2));
    }
}

/// One round's line: CPU time and minor faults per create and per destroy.
fn report(round: usize, n: usize, (f0, f1, f2): (i64, i64, i64), (t0, t1, t2): Times) {
    println!(
        "round {round} n {n} create_ns {:.0} destroy_ns {:.0} faults_per_create {:.3} faults_per_destroy {:.3}",
        (t1 - t0).as_nanos() as f64 / n as f64,
        (t2 - t1).as_nanos() as f64 / n as f64,
        (f1 - f0) as f64 / n as f64,
        (f2 - f1) as f64 / n as f64
    );
}

type Times = (std::time::Duration, std::time::Duration, std::time::Duration);
