//! The design documents of `design/`, included here so that `cargo test`
//! compiles and runs every example in them.

#[doc = include_str!("../design/README.md")]
pub mod overview {}

#[doc = include_str!("../design/allocator.md")]
pub mod allocator {}

#[doc = include_str!("../design/mainline.md")]
pub mod mainline {}

#[doc = include_str!("../design/kernels.md")]
pub mod kernels {}

#[doc = include_str!("../design/static-instances.md")]
pub mod static_instances {}

#[doc = include_str!("../design/primary-cache.md")]
pub mod primary_cache {}

#[doc = include_str!("../design/scenarios.md")]
pub mod scenarios {}

#[doc = include_str!("../design/teardown.md")]
pub mod teardown {}

#[doc = include_str!("../design/misuse.md")]
pub mod misuse {}

#[doc = include_str!("../design/benchmarks.md")]
pub mod benchmarks {}

#[doc = include_str!("../design/report.md")]
pub mod report {}
