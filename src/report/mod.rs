//! The comparative report: every scheme on one trace, side by side.
//!
//! Each scheme replays the same creation trace into its own bare world
//! (`World::bare` with the scheme's [`SlabConfig`] and enough image static
//! slots, then [`Replay::run`]), so the partitions of names into shared
//! storage can be compared name by name. The schemes are mainline, Al Viro's
//! v3 and v1 static instances, Vlastimil Babka's primary caches, and mainline
//! booted with `slab_nomerge` (see [`ReportScheme`]).
//!
//! Per scheme the report gives the instances (groups of names sharing one
//! storage), the names that share storage with another name, the merges lost
//! against mainline, the static instances that kept merging, and the memory
//! a seeded workload needs under that partition, measured with the real
//! allocator ([`workload`]). [`render`] prints it as a table, Markdown, CSV
//! or JSON; [`picture`] draws it; [`explain()`] tells, for one name, which rule
//! decided its fate in each scheme; [`sysfs_trace`] derives a trace from a
//! `/sys/kernel/slab` snapshot and compares the replay with the snapshot.

mod error;
pub mod explain;
pub mod groups;
pub mod kmem;
pub mod picture;
pub mod render;
pub mod snapshot_diff;
pub mod sysfs_trace;
pub mod views;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{MergeRules, Scheme, SlabConfig};
use crate::input::census::Census;
use crate::input::replay::{Replay, StaticSet};
use crate::input::trace::Trace;
use crate::slab_common::world::World;

pub use error::ReportError;
pub use explain::{Candidate, Decision, Explanation, SchemeExplanation, explain, explain_under};
pub use render::Format;
pub use sysfs_trace::{SnapshotComparison, compare_with_census, trace_from_census, trace_from_census_noted};
pub use workload::{DEFAULT_CHURN_PERCENT, DEFAULT_SEED, Memory, PlanGroup, Prng, Workload};

/// A column of the report: a scheme, or mainline with `slab_nomerge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportScheme {
    /// Mainline merging.
    Mainline,
    /// Al Viro's v3 static instances.
    ViroV3,
    /// Al Viro's v1 static instances (`SLAB_NO_MERGE`).
    ViroV1,
    /// Vlastimil Babka's primary caches.
    Primary,
    /// Mainline booted with `slab_nomerge`.
    Nomerge,
}

impl ReportScheme {
    /// Every column, in report order.
    pub const ALL: [ReportScheme; 5] = [
        ReportScheme::Mainline,
        ReportScheme::ViroV3,
        ReportScheme::ViroV1,
        ReportScheme::Primary,
        ReportScheme::Nomerge,
    ];

    /// The stable name (`mainline`, `viro-v3`, `viro-v1`, `primary`, `nomerge`).
    pub fn name(self) -> &'static str {
        match self {
            ReportScheme::Nomerge => "nomerge",
            other => other.scheme().name(),
        }
    }

    /// Parses [`ReportScheme::name`].
    pub fn parse(text: &str) -> Option<ReportScheme> {
        ReportScheme::ALL.into_iter().find(|s| s.name() == text)
    }

    /// The world's scheme.
    pub fn scheme(self) -> Scheme {
        match self {
            ReportScheme::Mainline | ReportScheme::Nomerge => Scheme::Mainline,
            ReportScheme::ViroV3 => Scheme::ViroV3,
            ReportScheme::ViroV1 => Scheme::ViroV1,
            ReportScheme::Primary => Scheme::Primary,
        }
    }

    /// True if the scheme sets up the static set as static instances
    /// (mainline, with or without merging, creates them as dynamic caches).
    pub fn has_statics(self) -> bool {
        self.scheme().rules().has_static_instances()
    }

    /// The configuration of the column's world: the default 6.18 one, with
    /// `slab_nomerge` for [`ReportScheme::Nomerge`] and enough image static slots.
    pub fn config(self, statics: &StaticSet) -> SlabConfig {
        self.config_under(statics, MergeRules::default())
    }

    /// [`ReportScheme::config`] under another kernel release's rules.
    pub fn config_under(self, statics: &StaticSet, rules: MergeRules) -> SlabConfig {
        SlabConfig {
            image_statics: statics.image_slots(),
            slab_nomerge: self == ReportScheme::Nomerge,
            merge_rules: rules,
            ..SlabConfig::with_scheme(self.scheme())
        }
    }

    /// A bare world for this column.
    pub fn world(self, statics: &StaticSet) -> World {
        World::bare(self.config(statics))
    }

    /// A bare world for this column under `rules`.
    pub fn world_under(self, statics: &StaticSet, rules: MergeRules) -> World {
        World::bare(self.config_under(statics, rules))
    }
}

impl std::fmt::Display for ReportScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How to run the report.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// The columns, in order. Mainline is always replayed (it is the baseline).
    pub schemes: Vec<ReportScheme>,
    /// Run the memory workload (otherwise every [`Memory`] is default).
    pub memory: bool,
    /// The workload's seed.
    pub seed: u64,
    /// Percent of objects freed and allocated again.
    pub churn_percent: u32,
    /// Divide every census object count by this (rounded up), for quick runs.
    pub workload_divisor: u64,
    /// Bytes the workload may take ([`workload::Workload::footprint`]): the
    /// divisor is raised as far as needed to fit. `None`: no bound.
    pub memory_budget: Option<u64>,
    /// The kernel release whose slab rules every column's world follows
    /// (`--rules`; default 6.18, the bundled trace's kernel).
    pub rules: MergeRules,
}

/// The default [`ReportOptions::memory_budget`]: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            schemes: ReportScheme::ALL.to_vec(),
            memory: true,
            seed: DEFAULT_SEED,
            churn_percent: DEFAULT_CHURN_PERCENT,
            workload_divisor: 1,
            memory_budget: Some(DEFAULT_MEMORY_BUDGET),
            rules: MergeRules::default(),
        }
    }
}

/// One group of names sharing a storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportGroup {
    /// The storage's sysfs directory.
    pub dir: String,
    /// The names, the instance's own name first, then the others in creation
    /// order. (A primary-scheme hidden primary has no name of its own; its
    /// group starts with its oldest alias.)
    pub names: Vec<String>,
}

/// One column of the report.
#[derive(Clone, Debug)]
pub struct SchemeReport {
    /// The column.
    pub scheme: ReportScheme,
    /// Names created.
    pub names: usize,
    /// The partition of the created names into shared storage, in creation order.
    pub groups: Vec<ReportGroup>,
    /// Names that share their storage with at least one other name.
    pub shared_names: usize,
    /// Names that share storage with another name in mainline but with no
    /// other name here (a name whose creation failed counts: it shares nothing).
    pub merges_lost: Vec<String>,
    /// Names of the static set present in the trace (created as dynamic
    /// caches in mainline and nomerge).
    pub statics: Vec<String>,
    /// Those of them that share storage with another name.
    pub statics_merged: Vec<String>,
    /// Names whose creation failed, with the error.
    pub failures: Vec<(String, String)>,
    /// The measured memory figures.
    pub memory: Memory,
    /// Slab pages per sysfs directory at the workload's peak, read with
    /// `slabinfo::pages_by_dir` at the moment [`Memory`] is measured (empty
    /// without the workload). Each group's pages are those of its `dir`.
    pub dir_pages: BTreeMap<String, u64>,
    /// Objects handed out per sysfs directory, read with `dir_pages`
    /// (`slabinfo::live_objects_by_dir`; empty without the workload).
    pub dir_objects: BTreeMap<String, u64>,
}

impl SchemeReport {
    /// Instances: the number of groups (storages).
    pub fn instances(&self) -> usize {
        self.groups.len()
    }

    /// The slab pages of `group` at the workload's peak (0 without the workload).
    pub fn group_pages(&self, group: &ReportGroup) -> u64 {
        self.dir_pages.get(&group.dir).copied().unwrap_or(0)
    }

    /// The objects `group` holds at the workload's peak (0 without the workload).
    pub fn group_objects(&self, group: &ReportGroup) -> u64 {
        self.dir_objects.get(&group.dir).copied().unwrap_or(0)
    }
}

/// The whole report.
#[derive(Clone, Debug)]
pub struct ComparativeReport {
    /// Where the trace came from.
    pub trace_label: String,
    /// Rows of the trace.
    pub trace_names: usize,
    /// Where the census came from.
    pub census_label: String,
    /// The static set.
    pub statics: StaticSet,
    /// The options it ran with.
    pub options: ReportOptions,
    /// Objects the workload planned, and events churned.
    pub workload_objects: u64,
    /// Events churned.
    pub workload_churned: u64,
    /// Mainline groups with no census figure.
    pub workload_unmatched: Vec<PlanGroup>,
    /// The columns.
    pub schemes: Vec<SchemeReport>,
    /// With a sysfs snapshot: how the mainline replay compares with it.
    pub snapshot: Option<SnapshotComparison>,
    /// What the inputs could not give and had to be assumed (a snapshot's
    /// coverage and notes, a workload scaled down); printed first among the notes.
    pub input_notes: Vec<String>,
    /// With `--seeds`: each seed and its figures per scheme (in column
    /// order); the columns then hold the medians. Empty for one seed.
    pub seeds: Vec<(u64, Vec<Memory>)>,
}

impl ComparativeReport {
    /// With several seeds: the lowest and highest value of `figure` for the
    /// column `index` over the seeds.
    pub fn seed_range(&self, index: usize, figure: impl Fn(&Memory) -> u64) -> Option<(u64, u64)> {
        let values = self.seeds.iter().map(|(_, m)| figure(&m[index]));
        Some((values.clone().min()?, values.max()?))
    }

    /// The column of `scheme`, if it was run.
    pub fn scheme(&self, scheme: ReportScheme) -> Option<&SchemeReport> {
        self.schemes.iter().find(|s| s.scheme == scheme)
    }
}

/// The partition a replay produced, owner first in each group.
pub fn replay_groups(replay: &Replay<'_>) -> Vec<ReportGroup> {
    replay
        .groups()
        .into_iter()
        .map(|g| {
            let mut names = g.names;
            if let Some(i) = names.iter().position(|n| *n == g.owner) {
                let owner = names.remove(i);
                names.insert(0, owner);
            }
            ReportGroup { dir: g.dir, names }
        })
        .collect()
}

/// Names sharing storage with another name.
fn shared(groups: &[ReportGroup]) -> BTreeSet<&str> {
    groups.iter().filter(|g| g.names.len() > 1).flat_map(|g| g.names.iter().map(String::as_str)).collect()
}

/// The names that share storage with another name in `baseline` but not in
/// `groups`, in trace order.
pub fn merges_lost(trace: &Trace, baseline: &[ReportGroup], groups: &[ReportGroup]) -> Vec<String> {
    let before = shared(baseline);
    let after = shared(groups);
    trace
        .rows
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| before.contains(n) && !after.contains(n))
        .map(str::to_owned)
        .collect()
}

/// The static set's names in trace order.
fn static_names(trace: &Trace, statics: &StaticSet) -> Vec<String> {
    trace
        .rows
        .iter()
        .filter(|r| statics.image.contains(&r.name) || statics.module.contains(&r.name))
        .map(|r| r.name.clone())
        .collect()
}

/// Replays `trace` under mainline and returns its partition (the baseline).
pub fn mainline_groups(trace: &Trace, statics: &StaticSet) -> Vec<ReportGroup> {
    let world = ReportScheme::Mainline.world(statics);
    let replay = Replay::run(&world, trace, statics);
    replay_groups(&replay)
}

/// What the report runs on: the trace, the census its workload is planned
/// from, where each came from, and a snapshot to hold the mainline replay
/// against.
pub struct ReportInput<'a> {
    /// The trace replayed in every column.
    pub trace: &'a Trace,
    /// Where the trace came from.
    pub trace_label: String,
    /// The static set.
    pub statics: &'a StaticSet,
    /// The census the memory workload is planned from.
    pub census: &'a Census,
    /// Where the census came from.
    pub census_label: String,
    /// A sysfs snapshot of the machine the trace is of, if any.
    pub snapshot: Option<&'a Census>,
    /// What the inputs could not give and had to be assumed (see
    /// [`ComparativeReport::input_notes`]).
    pub notes: Vec<String>,
}

/// Runs the report: every requested column on `trace`, with the workload
/// planned from `census`.
pub fn run(trace: &Trace, statics: &StaticSet, census: &Census, options: &ReportOptions) -> ComparativeReport {
    let input = ReportInput {
        trace,
        trace_label: String::new(),
        statics,
        census,
        census_label: String::new(),
        snapshot: None,
        notes: Vec::new(),
    };
    run_with(&input, options)
}

/// Runs the report on `input`. Each column's world is replayed once; the
/// mainline column's replay is the baseline the others are held against,
/// plans the workload, and is compared with the snapshot.
pub fn run_with(input: &ReportInput<'_>, options: &ReportOptions) -> ComparativeReport {
    let (trace, statics) = (input.trace, input.statics);
    let mainline_world = ReportScheme::Mainline.world_under(statics, options.rules);
    let mainline_replay = Replay::run(&mainline_world, trace, statics);
    let baseline = replay_groups(&mainline_replay);
    let snapshot = input.snapshot.map(|census| sysfs_trace::compare_replay(&mainline_world, &baseline, census));
    let (workload, options, input_notes, sizes) = plan_workload(input, options, &baseline);
    let options = &options;
    let statics_in_trace = static_names(trace, statics);
    let column = |scheme: ReportScheme, replay: &Replay<'_>, groups: Vec<ReportGroup>| {
        let shared_set = shared(&groups);
        let statics_merged = statics_in_trace.iter().filter(|n| shared_set.contains(n.as_str())).cloned().collect();
        let (mut dir_pages, mut dir_objects) = (BTreeMap::new(), BTreeMap::new());
        let memory = if options.memory {
            workload.run_with_peak(replay, &sizes, |w| {
                dir_pages = crate::slab_common::slabinfo::pages_by_dir(w);
                dir_objects = crate::slab_common::slabinfo::live_objects_by_dir(w);
            })
        } else {
            Memory::default()
        };
        SchemeReport {
            scheme,
            names: replay.handles().count(),
            shared_names: shared_set.len(),
            merges_lost: merges_lost(trace, &baseline, &groups),
            statics: statics_in_trace.clone(),
            statics_merged,
            failures: replay.failures.iter().map(|(n, e)| (n.clone(), e.to_string())).collect(),
            groups,
            memory,
            dir_pages,
            dir_objects,
        }
    };
    let mut mainline_done = false;
    let mut schemes = Vec::with_capacity(options.schemes.len());
    for &scheme in &options.schemes {
        if scheme == ReportScheme::Mainline && !mainline_done {
            // The baseline's own replay is this column.
            mainline_done = true;
            schemes.push(column(scheme, &mainline_replay, baseline.clone()));
            continue;
        }
        let world = scheme.world_under(statics, options.rules);
        let replay = Replay::run(&world, trace, statics);
        let groups = replay_groups(&replay);
        schemes.push(column(scheme, &replay, groups));
    }
    drop(mainline_replay);
    ComparativeReport {
        trace_label: input.trace_label.clone(),
        trace_names: trace.rows.len(),
        census_label: input.census_label.clone(),
        statics: statics.clone(),
        options: options.clone(),
        workload_objects: workload.objects,
        workload_churned: workload.churned() as u64,
        workload_unmatched: workload.unmatched,
        schemes,
        snapshot,
        input_notes,
        seeds: Vec::new(),
    }
}

/// Runs the report once per seed of `seeds` (the partitions do not depend on
/// the seed): each scheme's [`Memory`] becomes the per-figure median over the
/// seeds (the lower of the two middle values for an even count), and
/// [`ComparativeReport::seeds`] keeps every seed's figures.
pub fn run_seeds(input: &ReportInput<'_>, options: &ReportOptions, seeds: &[u64]) -> ComparativeReport {
    let mut runs: Vec<ComparativeReport> =
        seeds.iter().map(|&seed| run_with(input, &ReportOptions { seed, ..options.clone() })).collect();
    let mut report = runs.remove(0);
    let mut per_seed: Vec<(u64, Vec<Memory>)> =
        vec![(report.options.seed, report.schemes.iter().map(|s| s.memory.clone()).collect())];
    per_seed.extend(runs.iter().map(|r| (r.options.seed, r.schemes.iter().map(|s| s.memory.clone()).collect())));
    for (i, s) in report.schemes.iter_mut().enumerate() {
        let all: Vec<&Memory> = per_seed.iter().map(|(_, m)| &m[i]).collect();
        s.memory = Memory::median(&all);
        // Each directory's pages and objects: the median over the seeds, as for the figures.
        for (dir, pages) in &mut s.dir_pages {
            let mut v: Vec<u64> = std::iter::once(*pages)
                .chain(runs.iter().map(|r| r.schemes[i].dir_pages.get(dir).copied().unwrap_or(0)))
                .collect();
            v.sort_unstable();
            *pages = v[(v.len() - 1) / 2];
        }
        for (dir, objects) in &mut s.dir_objects {
            let mut v: Vec<u64> = std::iter::once(*objects)
                .chain(runs.iter().map(|r| r.schemes[i].dir_objects.get(dir).copied().unwrap_or(0)))
                .collect();
            v.sort_unstable();
            *objects = v[(v.len() - 1) / 2];
        }
    }
    report.seeds = per_seed;
    report
}

/// The workload of a run: planned from the mainline groups and the census,
/// the divisor raised to fit the memory budget (with a note saying so).
/// Returns the workload, the options with the divisor used, the input notes
/// with that note, and each trace name's size.
pub(crate) fn plan_workload(
    input: &ReportInput<'_>,
    options: &ReportOptions,
    baseline: &[ReportGroup],
) -> (Workload, ReportOptions, Vec<String>, BTreeMap<String, u32>) {
    let (trace, statics) = (input.trace, input.statics);
    let plan_groups: Vec<PlanGroup> =
        baseline.iter().map(|g| PlanGroup { dir: g.dir.clone(), names: g.names.clone() }).collect();
    let nr_cpus = ReportScheme::Mainline.config(statics).nr_cpus;
    let sizes: BTreeMap<String, u32> = trace.rows.iter().map(|r| (r.name.clone(), r.size)).collect();
    let mut options = options.clone();
    let mut input_notes = input.notes.clone();
    if options.rules != MergeRules::default() {
        input_notes.push(format!(
            "kernel rules {}: every world follows Linux {}'s slab rules (design/kernels.md), not those of 6.18",
            options.rules, options.rules
        ));
    }
    input_notes.extend(crate::replay::adaptation_notes(options.rules, trace));
    if let (true, Some(budget)) = (options.memory, options.memory_budget) {
        let needed = Workload::divisor_for_budget(&plan_groups, input.census, &sizes, budget);
        if needed > options.workload_divisor {
            input_notes.push(format!(
                "workload scaled down to fit the memory budget of {} MiB: live counts divided by {needed}{} \
                 (--memory-budget to change the budget, --workload-divisor to choose a larger divisor)",
                budget >> 20,
                if options.workload_divisor > 1 {
                    format!(" instead of the {} asked for", options.workload_divisor)
                } else {
                    String::new()
                }
            ));
            options.workload_divisor = needed;
        }
    }
    let options = &options;
    let workload = Workload::plan(
        &plan_groups,
        input.census,
        options.workload_divisor,
        options.seed,
        options.churn_percent,
        nr_cpus,
    );
    (workload, options.clone(), input_notes, sizes)
}

/// Builds the static set from the command line: `image` and `module`
/// override their half of the default (the trace's `static_v3` column for
/// image statics, none for module statics). Every name must be a
/// `kmem_cache_create` row of the trace, and no name may be in both halves.
pub fn static_set(
    trace: &Trace,
    image: Option<&[String]>,
    module: Option<&[String]>,
) -> Result<StaticSet, ReportError> {
    let clean = |names: &[String]| -> BTreeSet<String> {
        names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).map(str::to_owned).collect()
    };
    let module: BTreeSet<String> = module.map(clean).unwrap_or_default();
    let image: BTreeSet<String> = match image {
        Some(names) => clean(names),
        None => StaticSet::v3(trace).image.difference(&module).cloned().collect(),
    };
    for name in image.iter().chain(&module) {
        let Some(row) = trace.row(name) else {
            return Err(ReportError::refused(format!("static `{name}` is not a name of the trace")));
        };
        if row.entry != crate::input::trace::TraceEntry::KmemCacheCreate {
            return Err(ReportError::refused(format!(
                "static `{name}` is created by {}, not kmem_cache_create",
                row.entry
            )));
        }
    }
    if let Some(both) = image.intersection(&module).next() {
        return Err(ReportError::refused(format!("`{both}` cannot be both an image static and a module static")));
    }
    Ok(StaticSet { image, module })
}
