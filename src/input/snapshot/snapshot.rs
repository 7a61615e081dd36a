//! The shared result of every reader: [`Snapshot`], and [`SnapshotError`].

use std::fmt;

use crate::input::census::Census;

/// The kinds of input this crate reads (detected from the content, never from the file name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// A directory laid out like `/sys/kernel/slab`: the live tree or a `cp -a` copy.
    SysfsDir,
    /// A tar archive (optionally gzip-compressed) of such a directory, or of
    /// the live tree itself (whose attribute files GNU tar pads with NULs to 4096 bytes).
    Tar,
    /// The text of `ls -l /sys/kernel/slab` (any `--time-style`, `-a`, `-n`, `-F`, `-i`, `-s`, colour).
    LsLong,
    /// `slabinfo -a` (`:dir <- name name …`), with or without `-1`.
    SlabinfoAliases,
    /// `slabinfo -a -i` (`name -> :dir`).
    SlabinfoAliasesInverted,
    /// The cache listing of `slabinfo` (no option, `-l`, `-S`, `-L`, `-z`, and the
    /// sorted sections of `-X`).
    SlabinfoListing,
    /// The `Slabcache Totals` block of `slabinfo -T` / `-X`.
    SlabinfoTotals,
    /// `/proc/slabinfo` (version 2.x).
    ProcSlabinfo,
    /// The slabmerge census TSV (`Census::parse`).
    CensusTsv,
}

impl Format {
    /// A short human name.
    pub fn name(self) -> &'static str {
        match self {
            Format::SysfsDir => "sysfs directory",
            Format::Tar => "tar of a sysfs directory",
            Format::LsLong => "ls -l listing",
            Format::SlabinfoAliases => "slabinfo -a",
            Format::SlabinfoAliasesInverted => "slabinfo -a -i",
            Format::SlabinfoListing => "slabinfo cache listing (-l/-S/-L)",
            Format::SlabinfoTotals => "slabinfo -T totals",
            Format::ProcSlabinfo => "/proc/slabinfo",
            Format::CensusTsv => "census TSV",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What part of the kernel's name → instance partition the inputs cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Every merged directory with two or more names is present with all its names.
    pub multi_name_groups: bool,
    /// Every merged directory with exactly one name is present with that name.
    pub single_name_groups: bool,
    /// Every instance (`kmem_cache`, one per sysfs directory) is present,
    /// by its directory name or by the name it was created with.
    pub instances: bool,
}

impl Coverage {
    /// Everything: a full tree, a census TSV or an `ls -l`.
    pub const FULL: Coverage = Coverage { multi_name_groups: true, single_name_groups: true, instances: true };

    /// Whether the census holds every name of the kernel, grouped exactly as
    /// the kernel groups them. `single_name_groups` is not needed: the one
    /// name of such a directory is the name it was created with, which every
    /// instance list (`/proc/slabinfo`, `slabinfo -l -z`) shows; without it
    /// only that directory's `:…` name is unknown (the row is named by the name).
    pub fn complete(&self) -> bool {
        self.multi_name_groups && self.instances
    }

    /// The union of what two inputs cover.
    pub fn union(self, o: Coverage) -> Coverage {
        Coverage {
            multi_name_groups: self.multi_name_groups || o.multi_name_groups,
            single_name_groups: self.single_name_groups || o.single_name_groups,
            instances: self.instances || o.instances,
        }
    }
}

/// The numbers of `slabinfo -T`'s first line
/// (`Slabcaches : 235   Aliases  : 194->96   Active: 121`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals {
    /// Cache directories.
    pub caches: u32,
    /// Alias symlinks.
    pub aliases: u32,
    /// Directories named by unique id (`:…`).
    pub alias_targets: u32,
    /// Caches with at least one slab.
    pub active: u32,
}

/// One input that went into a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The path (or label) read.
    pub label: String,
    /// The formats found in it (a paste may hold several, e.g. `ls -l` then `/proc/slabinfo`).
    pub formats: Vec<Format>,
}

/// A slab snapshot: a [`Census`] as `Census::parse`/`from_sysfs_dir` give,
/// plus what it does not know.
///
/// Rows come out as in `Census::from_sysfs_dir`: directories sorted by name,
/// then aliases sorted by name. A row whose directory name is unknown (an
/// instance known only by the name it was created with, from
/// `/proc/slabinfo` or a `slabinfo` listing) is a `Cache` row of that name.
/// [`crate::input::census::CensusRow::known`] says which values each row really has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The census.
    pub census: Census,
    /// The inputs read, in order.
    pub sources: Vec<Source>,
    /// What part of the partition the census covers.
    pub coverage: Coverage,
    /// `slabinfo -T` totals, if an input had them.
    pub totals: Option<Totals>,
    /// Every assumption made and every thing left unknown, in plain words.
    pub notes: Vec<String>,
}

impl Snapshot {
    /// The formats read, over all sources, without repeats.
    pub fn formats(&self) -> Vec<Format> {
        let mut f: Vec<Format> = self.sources.iter().flat_map(|s| s.formats.iter().copied()).collect();
        f.sort();
        f.dedup();
        f
    }

    /// The partition of names into instances: for each instance, its names
    /// sorted (a merged directory's `:…` name is not a name, as in
    /// `Census::groups`). Instances with no name listed are left out.
    pub fn partition(&self) -> std::collections::BTreeSet<Vec<String>> {
        partition_of(&self.census)
    }
}

/// [`Snapshot::partition`] of any census.
pub fn partition_of(census: &Census) -> std::collections::BTreeSet<Vec<String>> {
    census
        .groups()
        .into_values()
        .filter(|v| !v.is_empty())
        .map(|mut v| {
            v.sort();
            v
        })
        .collect()
}

/// What went wrong, for matching in code; [`SnapshotError`]'s message says it in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No input, or only blank lines.
    Empty,
    /// Reading failed.
    Io,
    /// `EACCES`: not root.
    PermissionDenied,
    /// A name or line is not UTF-8.
    NotUtf8,
    /// Binary data that is not a tar or gzip.
    NotText,
    /// Over a size, line-length or entry-count bound.
    TooLarge,
    /// A copy made with symlinks dereferenced (`cp -r`, `cp -rL`, `tar -h`, `rsync -L`).
    Dereferenced,
    /// Compressed with something other than gzip.
    Compressed,
    /// No reader recognised the content.
    UnknownFormat,
    /// A recognised format with a malformed line, file or entry.
    Parse,
    /// Two inputs disagree on a value that does not change while the kernel runs.
    Conflict,
}

/// An error reading a snapshot: which input, where in it (line 0 when not
/// tied to a line) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotError {
    /// The class of error.
    pub kind: ErrorKind,
    /// The path or label of the input.
    pub source: String,
    /// 1-based line in a text input; 0 otherwise.
    pub line: usize,
    /// What is wrong and, where there is one, what to do.
    pub message: String,
}

impl SnapshotError {
    /// A new error.
    pub fn new(kind: ErrorKind, source: impl Into<String>, line: usize, message: impl Into<String>) -> SnapshotError {
        SnapshotError { kind, source: source.into(), line, message: message.into() }
    }
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}: line {}: {}", self.source, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.source, self.message)
        }
    }
}

impl std::error::Error for SnapshotError {}

/// The advice for a copy whose links were followed.
pub(crate) const DEREF_HINT: &str = "the copy was made with symlinks dereferenced (cp -r, cp -rL, tar -h or rsync -L), so every alias became a \
     directory and the merge groups are lost; copy with `sudo cp -a /sys/kernel/slab DEST` or \
     `sudo tar czf slab.tar.gz -C /sys/kernel slab`, or send `ls -l /sys/kernel/slab`";

/// The advice for EACCES.
pub(crate) const ROOT_HINT: &str = "the slab attribute files are readable by root only: run as root (sudo), or copy the tree first with \
     `sudo cp -a /sys/kernel/slab DEST && sudo chown -R $USER DEST` and read DEST, or use \
     `ls -l /sys/kernel/slab` (which needs no root)";
