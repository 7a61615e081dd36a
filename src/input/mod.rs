//! Inputs: the real-kernel data the library replays.
//!
//! A shared reader of tab-separated tables ([`tsv`]), the boot trace of cache
//! creations ([`trace`]), the sysfs census ([`census`]), the readers of every snapshot format
//! a kernel developer holds ([`snapshot`]), and the replay of a
//! trace into a world of any scheme ([`replay`]). It imports the lifecycle's
//! public API and nothing of the report above it. Its error is
//! [`InputError`], into which each reader's own converts.

pub mod census;
mod error;
pub mod hash;
pub mod kmem_replay;
pub mod kmem_sites;
pub mod kmem_trace;
pub mod replay;
pub mod snapshot;
pub mod trace;
pub mod tsv;

pub use error::InputError;
