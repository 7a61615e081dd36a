//! `--explain NAME`: which rule decided, in each scheme, whether NAME merged.
//!
//! Faithful by construction: the rows before NAME are replayed into a fresh
//! world of the scheme, then NAME's request is evaluated against that world's
//! registry the way `__kmem_cache_create_args()` would evaluate it (the
//! gates of `__kmem_cache_create_args()`/`__kmem_cache_alias()`, then
//! `find_mergeable()` over `slab_caches` oldest first, with
//! `check_target()` deciding each candidate). Nothing is created by the
//! evaluation. A second, full replay tells where NAME ended up, which also
//! shows later names that merged into it.

use std::fmt;

use super::{ReportGroup, ReportScheme, replay_groups};
use crate::input::replay::{Replay, StaticSet, adapt_row, module_of};
use crate::input::trace::{Trace, TraceEntry, TraceRow};
use crate::slab_common::merge::NoMergeReason;
use crate::slab_common::world::World;
use crate::world::PlacementKind;

pub use crate::world::{Candidate, Decision};

/// One scheme's answer.
#[derive(Clone, Debug)]
pub struct SchemeExplanation {
    /// The column.
    pub scheme: ReportScheme,
    /// How the name is created in this scheme.
    pub placement: String,
    /// What creation decided.
    pub decision: Decision,
    /// Where the name ended up after the whole trace (its group), or the
    /// error its creation returned.
    pub outcome: Result<ReportGroup, String>,
}

/// The explanation of one name in every scheme.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The name.
    pub name: String,
    /// Its trace row.
    pub row: TraceRow,
    /// One entry per scheme.
    pub schemes: Vec<SchemeExplanation>,
}

/// Where a row's cache lives in a scheme.
enum Placement {
    Dynamic,
    Image,
    Module(String),
}

fn placement(scheme: ReportScheme, statics: &StaticSet, row: &TraceRow) -> Placement {
    if !scheme.has_statics() || row.entry != TraceEntry::KmemCacheCreate {
        return Placement::Dynamic;
    }
    if statics.image.contains(&row.name) {
        Placement::Image
    } else if statics.module.contains(&row.name) {
        Placement::Module(module_of(row))
    } else {
        Placement::Dynamic
    }
}

fn describe_placement(scheme: ReportScheme, statics: &StaticSet, row: &TraceRow) -> String {
    let listed = statics.image.contains(&row.name) || statics.module.contains(&row.name);
    match (placement(scheme, statics, row), row.entry) {
        (_, TraceEntry::CreateBootCache) => "boot cache (create_boot_cache, refcount -1)".into(),
        (_, TraceEntry::CreateKmallocCache) => "kmalloc cache (create_kmalloc_cache)".into(),
        (Placement::Image, _) if scheme == ReportScheme::ViroV1 => {
            "static instance of the kernel image (kmem_cache_setup; v1 01/15: SLAB_PREALLOCATED|SLAB_NO_MERGE)".into()
        }
        (Placement::Module(m), _) if scheme == ReportScheme::ViroV1 => {
            format!("static instance in module {m} (kmem_cache_setup; v1 01/15: SLAB_PREALLOCATED|SLAB_NO_MERGE)")
        }
        (Placement::Image, _) => "static instance of the kernel image (kmem_cache_setup, SLAB_PREALLOCATED)".into(),
        (Placement::Module(m), _) => format!("static instance in module {m} (kmem_cache_setup, SLAB_PREALLOCATED)"),
        (Placement::Dynamic, _) if listed => {
            "dynamic cache (kmem_cache_create; mainline has no static instances)".into()
        }
        (Placement::Dynamic, _) => "dynamic cache (kmem_cache_create)".into(),
    }
}

/// Evaluates `row`'s creation against `world`'s registry through the
/// lifecycle's own decision ([`World::explain_create`]), creating nothing.
fn evaluate(world: &World, scheme: ReportScheme, statics: &StaticSet, row: &TraceRow) -> Decision {
    let kind = match placement(scheme, statics, row) {
        Placement::Dynamic => PlacementKind::Dynamic,
        Placement::Image => PlacementKind::Static,
        Placement::Module(_) => PlacementKind::ModuleStatic,
    };
    // The request as a caller of the world's release could make it.
    let (flags, args, _) = adapt_row(world.config().merge_rules, row);
    world.explain_create(&row.name, row.size, &args, flags, row.entry.create_entry(), kind)
}

/// Up to five names of `trace` near `name`: those that contain it or that
/// it contains (ignoring case, `-` and `_`), then those within an edit
/// distance of a third of its length, nearest first.
pub fn near_names(trace: &Trace, name: &str) -> Vec<String> {
    let fold = |s: &str| s.to_lowercase().replace(['-', '_'], "");
    let want = fold(name);
    if want.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(usize, &str)> = trace
        .rows
        .iter()
        .filter_map(|r| {
            let have = fold(&r.name);
            if have.contains(&want) || want.contains(&have) {
                return Some((have.len().abs_diff(want.len()), r.name.as_str()));
            }
            let d = edit_distance(&have, &want);
            (d <= (want.chars().count() / 3).max(1)).then_some((d, r.name.as_str()))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, n)| format!("`{n}`")).collect()
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Explains `name` under each of `schemes`.
pub fn explain(
    trace: &Trace,
    statics: &StaticSet,
    name: &str,
    schemes: &[ReportScheme],
) -> Result<Explanation, super::ReportError> {
    explain_under(trace, statics, name, schemes, crate::config::MergeRules::default())
}

/// [`explain`] under another kernel release's rules.
pub fn explain_under(
    trace: &Trace,
    statics: &StaticSet,
    name: &str,
    schemes: &[ReportScheme],
    rules: crate::config::MergeRules,
) -> Result<Explanation, super::ReportError> {
    let index = trace.rows.iter().position(|r| r.name == name).ok_or_else(|| {
        let near = near_names(trace, name);
        super::ReportError::Refused(if near.is_empty() {
            format!("no cache named `{name}` in the trace")
        } else {
            format!("no cache named `{name}` in the trace; did you mean {}?", near.join(", "))
        })
    })?;
    let row = trace.rows[index].clone();
    let prefix = Trace { rows: trace.rows[..index].to_vec() };
    let schemes = schemes
        .iter()
        .map(|&scheme| {
            let decision = {
                let world = scheme.world_under(statics, rules);
                let replay = Replay::run(&world, &prefix, statics);
                let decision = evaluate(&world, scheme, statics, &row);
                drop(replay);
                decision
            };
            let world = scheme.world_under(statics, rules);
            let replay = Replay::run(&world, trace, statics);
            let outcome = match replay.failures.iter().find(|(n, _)| n == name) {
                Some((_, e)) => Err(e.to_string()),
                None => replay_groups(&replay)
                    .into_iter()
                    .find(|g| g.names.iter().any(|n| n == name))
                    .ok_or_else(|| "no handle after the replay".to_owned()),
            };
            SchemeExplanation { scheme, placement: describe_placement(scheme, statics, &row), decision, outcome }
        })
        .collect();
    Ok(Explanation { name: name.to_owned(), row, schemes })
}

/// How many rejected candidates are listed before "and N more".
const CANDIDATES_SHOWN: usize = 12;

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.row;
        writeln!(
            f,
            "{}: {} size {} align {} flags {}{}{}{}",
            self.name,
            r.entry,
            r.size,
            r.align,
            r.flags,
            r.ctor.as_ref().map(|c| format!(" ctor {c}")).unwrap_or_default(),
            if r.usersize != 0 { format!(" usercopy {}+{}", r.useroffset, r.usersize) } else { String::new() },
            if r.sheaf_capacity != 0 { format!(" sheaf_capacity {}", r.sheaf_capacity) } else { String::new() },
        )?;
        for s in &self.schemes {
            writeln!(f)?;
            writeln!(f, "{}: {}", s.scheme, s.placement)?;
            match &s.decision {
                Decision::NoAliasAttempt(entry) => writeln!(
                    f,
                    "  not merged: {entry}() creates the cache directly and never calls __kmem_cache_alias()"
                )?,
                Decision::Merged { target, dir, alias_instance: false } => writeln!(
                    f,
                    "  merged: find_mergeable() returned {target} ({dir}), the oldest compatible cache; \
                     __kmem_cache_alias() hands back that instance with refcount+1"
                )?,
                Decision::Merged { target, dir, alias_instance: true } => writeln!(
                    f,
                    "  merged: find_mergeable() returned primary {target} ({dir}); the name gets its own \
                     alias instance whose primary_cache is {target}, sharing its slabs and sheaves"
                )?,
                Decision::HiddenPrimary { reason } => writeln!(
                    f,
                    "  no compatible primary ({reason}): a hidden dynamic primary owns the slabs and the module \
                     static becomes its alias (primary scheme rule for module statics)"
                )?,
                Decision::NotMerged { reason, would_merge_into, stride, candidates } => {
                    writeln!(f, "  not merged: {reason}")?;
                    if let Some((target, dir)) = would_merge_into {
                        writeln!(f, "  find_mergeable() would have returned {target} ({dir})")?;
                    }
                    if *reason == NoMergeReason::NoCompatibleCache {
                        match stride {
                            Some(stride) if candidates.is_empty() => {
                                writeln!(f, "  no existing cache has the stride {stride}")?
                            }
                            Some(stride) => {
                                writeln!(f, "  caches with the same stride ({stride}) and why each was rejected:")?;
                                for c in candidates.iter().take(CANDIDATES_SHOWN) {
                                    writeln!(f, "    - {} ({}): {}", c.name, c.dir, c.why)?;
                                }
                                if candidates.len() > CANDIDATES_SHOWN {
                                    writeln!(f, "    ... and {} more", candidates.len() - CANDIDATES_SHOWN)?;
                                }
                            }
                            None => {}
                        }
                    }
                }
            }
            let merged_at_creation = matches!(s.decision, Decision::Merged { .. } | Decision::HiddenPrimary { .. });
            match &s.outcome {
                Ok(g) if g.names.len() == 1 => writeln!(f, "  after the whole trace: alone in {}", g.dir)?,
                Ok(g) if !merged_at_creation && g.names.first() == Some(&self.name) => {
                    let later: Vec<&str> = g.names[1..].iter().map(String::as_str).collect();
                    writeln!(
                        f,
                        "  after the whole trace: later names merged into it ({}): {}",
                        g.dir,
                        later.join(", ")
                    )?
                }
                Ok(g) => {
                    writeln!(f, "  after the whole trace: {} shares {}: {}", self.name, g.dir, g.names.join(", "))?
                }
                Err(e) => writeln!(f, "  creation failed: {e}")?,
            }
        }
        Ok(())
    }
}

impl Explanation {
    /// The explanation as one JSON object: `name`, `row` (the trace row's
    /// `entry`, `size`, `align`, `flags`, `ctor`) and `schemes`, one object per
    /// scheme with `scheme`, `placement`, `decision` (`merged`,
    /// `alias_instance`, `hidden_primary`, `not_merged` or `no_alias_attempt`),
    /// `reason`, `target` and `target_dir` (the cache it merged, or would have
    /// merged, into), `candidates` (same-stride caches rejected, with `why`),
    /// `group` (`dir` and `names` after the whole trace; null if creation
    /// failed), `error`, and `text` (the lines of the text form).
    pub fn to_json(&self) -> String {
        use super::render::json_string as js;
        let opt = |v: Option<String>| v.map_or_else(|| "null".to_owned(), |s| js(&s));
        let r = &self.row;
        let schemes: Vec<String> = self
            .schemes
            .iter()
            .map(|s| {
                let (kind, reason, target, candidates) = match &s.decision {
                    Decision::NoAliasAttempt(entry) => ("no_alias_attempt", Some(format!("{entry}")), None, &[][..]),
                    Decision::Merged { target, dir, alias_instance } => (
                        if *alias_instance { "alias_instance" } else { "merged" },
                        None,
                        Some((target.clone(), dir.clone())),
                        &[][..],
                    ),
                    Decision::HiddenPrimary { reason } => ("hidden_primary", Some(format!("{reason}")), None, &[][..]),
                    Decision::NotMerged { reason, would_merge_into, candidates, .. } => {
                        ("not_merged", Some(format!("{reason}")), would_merge_into.clone(), candidates.as_slice())
                    }
                };
                let candidates: Vec<String> = candidates
                    .iter()
                    .map(|c| {
                        format!(
                            "{{\"name\":{},\"dir\":{},\"why\":{}}}",
                            js(&c.name),
                            js(&c.dir),
                            js(&c.why.to_string())
                        )
                    })
                    .collect();
                let (group, error) = match &s.outcome {
                    Ok(g) => {
                        let names: Vec<String> = g.names.iter().map(|n| js(n)).collect();
                        (format!("{{\"dir\":{},\"names\":[{}]}}", js(&g.dir), names.join(",")), "null".to_owned())
                    }
                    Err(e) => ("null".to_owned(), js(e)),
                };
                let one = Explanation { name: self.name.clone(), row: self.row.clone(), schemes: vec![s.clone()] };
                let text: Vec<String> = one.to_string().lines().skip(3).map(|l| js(l.trim_start())).collect();
                format!(
                    "{{\"scheme\":{},\"placement\":{},\"decision\":{},\"reason\":{},\"target\":{},\"target_dir\":{},\
                     \"candidates\":[{}],\"group\":{group},\"error\":{error},\"text\":[{}]}}",
                    js(s.scheme.name()),
                    js(&s.placement),
                    js(kind),
                    opt(reason),
                    opt(target.as_ref().map(|t| t.0.clone())),
                    opt(target.map(|t| t.1)),
                    candidates.join(","),
                    text.join(",")
                )
            })
            .collect();
        format!(
            "{{\"name\":{},\"row\":{{\"entry\":{},\"size\":{},\"align\":{},\"flags\":{},\"ctor\":{}}},\"schemes\":[{}]}}\n",
            js(&self.name),
            js(&r.entry.to_string()),
            r.size,
            r.align,
            js(&r.flags.to_string()),
            opt(r.ctor.clone()),
            schemes.join(",")
        )
    }
}
