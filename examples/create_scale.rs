//! Creating and destroying many distinct caches (issue 13), as the
//! `create_at_scale` bench does: sizes 8, 16, ..., names `scale-{i}`. The
//! model's own structures (instances, storages, nodes, names, the maps) come
//! from the system allocator here, glibc's malloc; `create_scale_mimalloc`
//! runs the same workload on mimalloc, as `benches/creation.rs` does.
//!
//! Usage:
//! - `create_scale N [ROUNDS]` creates N caches in a fresh world and
//!   destroys them, ROUNDS times (default 3), printing per round the
//!   thread CPU time per create and per destroy in nanoseconds and the
//!   minor page faults per create and per destroy.
//! - `create_scale N 1` is the shape to run under callgrind: the two phases
//!   are the inclusive costs of `create_all` and `destroy_all`, which are
//!   `#[inline(never)]` so `callgrind_annotate` names them.
//! - `create_scale N 1 --allocs` counts the heap allocations of one more
//!   create and its destroy on a world holding N caches
//!   (`CREATE_SCALE_SIZES=1` prints each allocation's layout).
//! - `create_scale N ROUNDS --depth D` is `create_at_depth`'s workload: one
//!   world already holds D distinct caches (`depth-{i}`), and each round
//!   creates N more into it and destroys them again, so the rounds differ
//!   from a run at another depth only in the length of the list.

#[path = "create_scale/workload.rs"]
mod workload;

#[global_allocator]
static GLOBAL: workload::Counting<std::alloc::System> = workload::Counting(std::alloc::System);

fn main() {
    workload::main();
}
