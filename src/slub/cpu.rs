//! The current CPU.
//!
//! The kernel's fast paths index per-cpu data with the CPU they run on. Here
//! each thread has a CPU id: assigned round-robin on first use, or set with
//! [`set_current_cpu`] / [`with_cpu`] (tests, loom models and benchmarks pin
//! them). A world with `nr_cpus` slots uses `id % nr_cpus`, so any number of
//! threads can share a world. The id lives in the thread's record
//! (`thread.rs`), next to the owner token and busy word of the per-cpu
//! protocol (`percpu.rs`), so the fast path gets both from one thread-local
//! load. One context at a time per slot: while a live thread on its CPU owns
//! a slot, another thread mapped to that slot takes the slab slow path, as a
//! second context on a kernel CPU would find `local_trylock` taken.
//!
//! Loom models must pin every thread before it touches a cache (a
//! process-wide round-robin counter would hand out other ids when loom
//! replays a run).

pub use crate::slub::thread::{current_cpu, set_current_cpu, with_cpu};

/// This thread's slot among `nr_cpus` per-cpu slots.
#[inline(always)]
pub(crate) fn cpu_slot(nr_cpus: usize) -> usize {
    let cpu = current_cpu() as usize;
    if cpu < nr_cpus { cpu } else { cpu % nr_cpus }
}
