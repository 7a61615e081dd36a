//! Tests of the whole crate from inside it: the loom models of the real code
//! (`RUSTFLAGS="--cfg loom" cargo test --lib`, or `scripts/loom.sh`), and the
//! per-cpu protocol seen through a cache (a normal `cargo test`).

#[cfg(loom)]
mod loom;
#[cfg(loom)]
mod loom_percpu;
#[cfg(not(loom))]
mod percpu;
#[cfg(not(loom))]
mod rseq;
