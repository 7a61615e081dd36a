//! Readers for every form of slab sysfs snapshot a kernel developer holds,
//! all giving the same [`Census`]-shaped result ([`Snapshot`]):
//!
//! | input | module |
//! | --- | --- |
//! | `/sys/kernel/slab` or a `cp -a` copy | [`dir`] |
//! | a tar / tar.gz of either | [`tar`] |
//! | `ls -l /sys/kernel/slab` | [`ls`] |
//! | `slabinfo -a`, `-a -i`, listings, `-T` | [`slabinfo_tool`] |
//! | `/proc/slabinfo` | [`proc_slabinfo`] |
//! | slabmerge's census TSV | [`crate::input::census`] (`Census::parse`) |
//!
//! [`read_snapshot`] detects the format from the content ([`detect`]).
//! Several inputs of one kernel combine with [`read_snapshots`]. Each row's
//! [`CensusRow::known`] says which values the input really gave.

pub mod detect;
pub mod dir;
pub(crate) mod evidence;
pub mod known;
pub mod ls;
pub mod proc_slabinfo;
pub mod slabinfo_tool;
#[allow(clippy::module_inception)]
pub mod snapshot;
pub(crate) mod sysfs_tree;
pub mod tar;
pub mod text;
pub mod unique_id;

pub use crate::input::census::{Census, CensusKind, CensusRow};
pub use crate::input::tsv::ParseError;
pub use detect::{read_snapshot, read_snapshot_bytes, read_snapshots};
pub use known::Known;
pub use snapshot::{Coverage, ErrorKind, Format, Snapshot, SnapshotError, Source, Totals, partition_of};
pub use unique_id::UniqueId;
