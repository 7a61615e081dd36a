//! `create_scale` on mimalloc: the same workload and arguments (see
//! `create_scale.rs`), with the model's own structures allocated by mimalloc
//! instead of glibc's malloc, as in `benches/creation.rs`.

#[path = "create_scale/workload.rs"]
mod workload;

#[global_allocator]
static GLOBAL: workload::Counting<mimalloc::MiMalloc> = workload::Counting(mimalloc::MiMalloc);

fn main() {
    workload::main();
}
