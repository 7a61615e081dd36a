//! The current CPU.
//!
//! The kernel's fast paths index per-cpu data with the CPU they run on. Here
//! each thread has a CPU id: assigned round-robin on first use, or set with
//! [`set_current_cpu`] / [`with_cpu`] (tests, loom models and benchmarks pin
//! them). A world with `nr_cpus` slots uses `id % nr_cpus`, so any number of
//! threads can share a world; threads on the same slot exclude each other
//! through the slot's trylock (see `sheaf.rs`).

use std::cell::Cell;

#[cfg(not(loom))]
std::thread_local! {
    static CURRENT_CPU: Cell<u32> = const { Cell::new(u32::MAX) };
}

#[cfg(loom)]
loom::thread_local! {
    static CURRENT_CPU: Cell<u32> = Cell::new(u32::MAX);
}

#[cfg(not(loom))]
static NEXT_CPU: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The CPU of a thread that never chose one: the next id, round-robin.
#[cfg(not(loom))]
fn next_cpu() -> u32 {
    NEXT_CPU.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff
}

/// A process-wide counter would outlive a loom iteration and hand out other
/// ids when loom replays the run, so models must say where each thread runs.
#[cfg(loom)]
fn next_cpu() -> u32 {
    panic!("loom models pin every thread with cpu::set_current_cpu before touching a cache")
}

/// `raw_smp_processor_id()`: this thread's CPU id.
#[inline(always)]
pub fn current_cpu() -> u32 {
    CURRENT_CPU.with(|c| {
        let cpu = c.get();
        if cpu != u32::MAX {
            cpu
        } else {
            let cpu = next_cpu();
            c.set(cpu);
            cpu
        }
    })
}

/// Moves this thread to `cpu` (as if the scheduler migrated it).
pub fn set_current_cpu(cpu: u32) {
    assert!(cpu != u32::MAX, "CPU id out of range");
    CURRENT_CPU.with(|c| c.set(cpu));
}

/// Runs `f` on `cpu`, then moves the thread back.
pub fn with_cpu<R>(cpu: u32, f: impl FnOnce() -> R) -> R {
    let old = CURRENT_CPU.with(|c| c.replace(cpu));
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT_CPU.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(old);
    f()
}

/// This thread's slot among `nr_cpus` per-cpu slots.
#[inline(always)]
pub(crate) fn cpu_slot(nr_cpus: usize) -> usize {
    let cpu = current_cpu() as usize;
    if cpu < nr_cpus { cpu } else { cpu % nr_cpus }
}
