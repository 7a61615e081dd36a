//! Loom models of the real code (`RUSTFLAGS="--cfg loom" cargo test --lib`,
//! or `scripts/loom.sh`).

mod loom;
mod loom_percpu;
