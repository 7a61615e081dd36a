//! The comparative report: the library functions and the `slabmerge` binary.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use slabmerge::census::{Census, CensusKind};
use slabmerge::flags::SLAB_NO_MERGE;
use slabmerge::merge::{Mismatch, NoMergeReason, Unmergeable};
use slabmerge::replay::StaticSet;
use slabmerge::report::{
    self, ComparativeReport, Decision, Format, ReportOptions, ReportScheme, compare_with_census, trace_from_census,
};
use slabmerge::trace::Trace;

// ---------------------------------------------------------------------------
// A tiny JSON reader, enough to check the report's structure.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Obj(fields) => {
                &fields.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("missing key `{key}`")).1
            }
            other => panic!("`{key}` looked up in a non-object {other:?}"),
        }
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn num(&self) -> f64 {
        match self {
            Json::Num(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }
    fn strings(&self) -> Vec<String> {
        self.arr().iter().map(|j| j.str().to_owned()).collect()
    }
}

struct JsonParser<'a> {
    text: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser { text: text.as_bytes(), at: 0 };
        let value = p.value()?;
        p.ws();
        if p.at != p.text.len() {
            return Err(format!("trailing text at byte {}", p.at));
        }
        Ok(value)
    }
    fn ws(&mut self) {
        while self.at < self.text.len() && matches!(self.text[self.at], b' ' | b'\n' | b'\r' | b'\t') {
            self.at += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.text.get(self.at) == Some(&c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.at))
        }
    }
    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(format!("bad literal at byte {}", self.at))
        }
    }
    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.text.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.text.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    if fields.iter().any(|(k, _)| *k == key) {
                        return Err(format!("duplicate key `{key}`"));
                    }
                    self.eat(b':')?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.text.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("expected `,` or `}}` at byte {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.text.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.text.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected `,` or `]` at byte {}", self.at)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.at;
                while self.at < self.text.len()
                    && matches!(self.text[self.at], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.at += 1;
                }
                let s = std::str::from_utf8(&self.text[start..self.at]).unwrap();
                s.parse().map(Json::Num).map_err(|_| format!("bad number {s:?}"))
            }
            _ => Err(format!("unexpected byte at {}", self.at)),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        if self.text.get(self.at) != Some(&b'"') {
            return Err(format!("expected a string at byte {}", self.at));
        }
        self.at += 1;
        let mut out = String::new();
        loop {
            let c = *self.text.get(self.at).ok_or("unterminated string")?;
            self.at += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.text.get(self.at).ok_or("unterminated escape")?;
                    self.at += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex =
                                std::str::from_utf8(&self.text[self.at..self.at + 4]).map_err(|e| e.to_string())?;
                            let code = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            out.push(char::from_u32(code).ok_or("bad \\u escape")?);
                            self.at += 4;
                        }
                        _ => return Err(format!("bad escape at byte {}", self.at)),
                    }
                }
                c if c < 0x20 => return Err(format!("raw control character in a string at byte {}", self.at)),
                _ => {
                    // Copy one UTF-8 sequence.
                    let start = self.at - 1;
                    let len = match c {
                        0x00..=0x7f => 1,
                        0xc0..=0xdf => 2,
                        0xe0..=0xef => 3,
                        _ => 4,
                    };
                    out.push_str(std::str::from_utf8(&self.text[start..start + len]).map_err(|e| e.to_string())?);
                    self.at = start + len;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers.

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slabmerge"))
}

fn run_ok(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("slabmerge runs");
    assert!(out.status.success(), "slabmerge {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("slabmerge-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn partitions_only() -> ReportOptions {
    ReportOptions { memory: false, ..ReportOptions::default() }
}

fn bundled_report(options: &ReportOptions) -> ComparativeReport {
    let trace = Trace::bundled();
    report::run(&trace, &StaticSet::v3(&trace), &Census::bundled(), options)
}

/// Writes `census` as a directory laid out like /sys/kernel/slab.
fn write_sysfs_tree(census: &Census, root: &Path) {
    for row in census.caches() {
        let dir = root.join(&row.name);
        std::fs::create_dir_all(&dir).unwrap();
        let b = |v: bool| if v { "1" } else { "0" }.to_owned();
        let files = [
            ("object_size", row.object_size.to_string()),
            ("slab_size", row.slab_size.to_string()),
            ("align", row.align.to_string()),
            ("aliases", row.aliases.to_string()),
            ("objs_per_slab", row.objs_per_slab.to_string()),
            ("order", row.order.to_string()),
            ("hwcache_align", b(row.hwcache_align)),
            ("reclaim_account", b(row.reclaim_account)),
            ("cache_dma", b(row.cache_dma)),
            ("destroy_by_rcu", b(row.destroy_by_rcu)),
            ("poison", b(row.poison)),
            ("red_zone", b(row.red_zone)),
            ("store_user", b(row.store_user)),
            ("sanity_checks", b(row.sanity_checks)),
            ("usersize", row.usersize.to_string()),
            ("sheaf_capacity", row.sheaf_capacity.to_string()),
            ("ctor", row.ctor.as_ref().map(|c| format!("{c}+0x0/0x20")).unwrap_or_default()),
            ("objects", format!("{} N0={}", row.objects, row.objects)),
            ("slabs", format!("{} N0={}", row.slabs, row.slabs)),
        ];
        for (file, text) in files {
            std::fs::write(dir.join(file), format!("{text}\n")).unwrap();
        }
    }
    for row in census.rows.iter().filter(|r| r.kind == CensusKind::Alias) {
        let target = Path::new("../../../kernel/slab").join(row.target.as_ref().unwrap());
        std::os::unix::fs::symlink(target, root.join(&row.name)).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Library side.

/// mm/slab_common.c: __kmem_cache_alias() with Al Viro's v3 02/10 rule, and the
/// primary-cache design: on the bundled trace v3 loses exactly fs_cache's merge,
/// the primary scheme loses none, and slab_nomerge gives every name its own instance.
#[test]
fn report_columns_on_the_bundled_trace() {
    let trace = Trace::bundled();
    let r = bundled_report(&partitions_only());
    let names: Vec<&str> = r.schemes.iter().map(|s| s.scheme.name()).collect();
    assert_eq!(names, ["mainline", "viro-v3", "viro-v1", "primary", "nomerge"]);
    let col = |s| r.scheme(s).unwrap();
    assert_eq!(col(ReportScheme::Mainline).instances(), trace.kernel_groups().len(), "mainline = the real kernel");
    assert!(col(ReportScheme::Mainline).merges_lost.is_empty());
    assert_eq!(col(ReportScheme::ViroV3).merges_lost, ["fs_cache"]);
    assert!(col(ReportScheme::Primary).merges_lost.is_empty());
    assert_eq!(col(ReportScheme::Nomerge).instances(), 333);
    assert_eq!(col(ReportScheme::Nomerge).shared_names, 0);
    // Every name that shared in mainline is lost under slab_nomerge.
    assert_eq!(col(ReportScheme::Nomerge).merges_lost.len(), col(ReportScheme::Mainline).shared_names);
    for s in &r.schemes {
        assert_eq!(s.names, trace.rows.len(), "{} creates every name", s.scheme);
        assert!(s.failures.is_empty(), "{}: {:?}", s.scheme, s.failures);
        let in_groups: usize = s.groups.iter().map(|g| g.names.len()).sum();
        assert_eq!(in_groups, s.names, "{}: the groups partition the names", s.scheme);
        assert_eq!(s.shared_names, s.groups.iter().filter(|g| g.names.len() > 1).map(|g| g.names.len()).sum::<usize>());
    }
}

/// Al Viro v1 01/15: every static instance is SLAB_NO_MERGE, so no static shares
/// storage, and the names that merged into a static in mainline lose their merge too.
#[test]
fn viro_v1_statics_never_share() {
    let r = bundled_report(&partitions_only());
    let v1 = r.scheme(ReportScheme::ViroV1).unwrap();
    let mainline = r.scheme(ReportScheme::Mainline).unwrap();
    assert_eq!(v1.statics.len(), 13);
    assert!(v1.statics_merged.is_empty(), "{:?}", v1.statics_merged);
    for name in &mainline.statics_merged {
        assert!(v1.merges_lost.contains(name), "{name}");
        let group = mainline.groups.iter().find(|g| g.names.contains(name)).unwrap();
        if group.names.len() == 2 {
            let partner = group.names.iter().find(|n| *n != name).unwrap();
            assert!(v1.merges_lost.contains(partner), "{partner} shared only with the static {name}");
        }
    }
}

/// The primary-cache design shares storage exactly as mainline does, so every slab
/// figure of the seeded workload is identical; only the instance overhead differs,
/// by one struct kmem_cache per alias. Every scheme ends with no page held.
#[test]
fn memory_workload_measures_the_allocator_and_ends_clean() {
    let options = ReportOptions { workload_divisor: 100, ..ReportOptions::default() };
    let r = bundled_report(&options);
    let again = bundled_report(&options);
    let col = |s| r.scheme(s).unwrap();
    for (a, b) in r.schemes.iter().zip(&again.schemes) {
        assert_eq!(a.memory, b.memory, "{}: same seed, same figures", a.scheme);
        let m = &a.memory;
        assert!(m.clean, "{}: pages left after freeing and shrinking", a.scheme);
        assert_eq!(m.objects_live, m.objects_planned, "{}", a.scheme);
        assert!(m.skipped_names.is_empty() && m.alloc_failures == 0 && m.free_failures == 0);
        assert_eq!(m.storages as usize, a.instances(), "{}: one storage per group", a.scheme);
        assert!(m.slab_bytes >= m.payload_bytes + m.partial_free_bytes + m.sheaf_object_bytes, "{}", a.scheme);
        assert_eq!(m.total_bytes, m.slab_bytes + m.instance_bytes + m.storage_bytes + m.sheaf_bytes);
    }
    let (main, prim) = (&col(ReportScheme::Mainline).memory, &col(ReportScheme::Primary).memory);
    assert_eq!(
        (main.slab_pages, main.partial_free_bytes, main.sheaf_objects, main.sheaf_bytes, main.storage_bytes),
        (prim.slab_pages, prim.partial_free_bytes, prim.sheaf_objects, prim.sheaf_bytes, prim.storage_bytes)
    );
    assert_eq!(main.kmem_cache_instances as usize, col(ReportScheme::Mainline).instances());
    assert_eq!(prim.kmem_cache_instances, 333, "one instance per name");
    assert_eq!(
        prim.instance_bytes - main.instance_bytes,
        (prim.kmem_cache_instances - main.kmem_cache_instances) * size_of::<slabmerge::KmemCache>() as u64
    );
    // A different seed drives a different sequence through the same allocator.
    let other = bundled_report(&ReportOptions { seed: 1, ..options });
    assert_eq!(other.workload_objects, r.workload_objects);
    assert_eq!(other.scheme(ReportScheme::Mainline).unwrap().memory.objects_live, main.objects_live);
}

/// mm/slab_common.c: find_mergeable(); Al Viro v3 02/10 __kmem_cache_alias(); v1 01/15.
#[test]
fn explain_fs_cache_names_the_deciding_rule_per_scheme() {
    let trace = Trace::bundled();
    let statics = StaticSet::v3(&trace);
    let e = report::explain(&trace, &statics, "fs_cache", &ReportScheme::ALL).unwrap();
    let owner = trace.row("fs_cache").unwrap().kernel_owner.clone();
    let decision = |s: ReportScheme| &e.schemes.iter().find(|x| x.scheme == s).unwrap().decision;
    match decision(ReportScheme::Mainline) {
        Decision::Merged { target, alias_instance: false, .. } => assert_eq!(*target, owner),
        other => panic!("mainline: {other:?}"),
    }
    match decision(ReportScheme::ViroV3) {
        Decision::NotMerged { reason: NoMergeReason::Preallocated, would_merge_into: Some((target, _)), .. } => {
            assert_eq!(*target, owner)
        }
        other => panic!("viro-v3: {other:?}"),
    }
    assert!(matches!(
        decision(ReportScheme::ViroV1),
        Decision::NotMerged { reason: NoMergeReason::Request(Unmergeable::NeverMergeFlag(f)), .. } if *f == SLAB_NO_MERGE
    ));
    assert!(matches!(decision(ReportScheme::Primary), Decision::Merged { alias_instance: true, .. }));
    assert!(matches!(
        decision(ReportScheme::Nomerge),
        Decision::NotMerged { reason: NoMergeReason::Request(Unmergeable::SlabNomerge), .. }
    ));
    let text = e.to_string();
    assert!(text.contains("SLAB_PREALLOCATED"), "{text}");
}

/// mm/slab_common.c: find_mergeable(): with no target, the caches of the same stride are
/// listed with the test each failed (here v1's SLAB_NO_MERGE on the static mnt_cache).
#[test]
fn explain_lists_rejected_candidates_of_the_same_stride() {
    let trace = Trace::bundled();
    let statics = StaticSet::v3(&trace);
    let e = report::explain(&trace, &statics, "posix_timers_cache", &[ReportScheme::ViroV1]).unwrap();
    let Decision::NotMerged { reason, candidates, stride, .. } = &e.schemes[0].decision else {
        panic!("{:?}", e.schemes[0].decision)
    };
    assert_eq!(*reason, NoMergeReason::NoCompatibleCache);
    let mnt = candidates.iter().find(|c| c.name == "mnt_cache").expect("mnt_cache is a candidate");
    assert_eq!(mnt.mismatch, Mismatch::Unmergeable(Unmergeable::NeverMergeFlag(SLAB_NO_MERGE)));
    let census = Census::bundled();
    let real = census.cache(&trace.row("mnt_cache").unwrap().kernel_dir).unwrap();
    assert_eq!(*stride, Some(real.slab_size), "the request's stride is mnt_cache's on the real kernel");
    assert!(report::explain(&trace, &statics, "no-such-cache", &ReportScheme::ALL).is_err());
}

/// mm/slub.c: sysfs_slab_add(), sysfs_slab_alias(): a trace derived from a snapshot
/// directory (with no reference trace at all) replays into the snapshot's partition.
#[test]
fn trace_derived_from_a_sysfs_tree_replays_its_partition() {
    let census = Census::bundled();
    let root = scratch("sysfs-lib");
    write_sysfs_tree(&census, &root);
    let read = Census::from_sysfs_dir(&root).unwrap();
    assert_eq!(read.groups(), census.groups());
    let trace = trace_from_census(&read, &Trace::default());
    let cmp = compare_with_census(&trace, &StaticSet::none(), &read);
    assert!(cmp.partition_identical(), "{:?}", cmp.differing);
    // Each directory's owner is created before its aliases.
    let mut seen = BTreeSet::new();
    for row in &trace.rows {
        assert!(row.kernel_owner == row.name || seen.contains(&row.kernel_owner), "{}", row.name);
        seen.insert(row.name.clone());
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// The static set from the command line: overrides, and refusals.
#[test]
fn static_set_overrides_and_refusals() {
    let trace = Trace::bundled();
    let set = report::static_set(&trace, None, Some(&["fs_cache".to_owned()])).unwrap();
    assert!(!set.image.contains("fs_cache") && set.module.contains("fs_cache"));
    assert_eq!(set.image.len(), 12);
    let set = report::static_set(&trace, Some(&["pid".to_owned(), String::new()]), None).unwrap();
    assert_eq!(set.image.iter().collect::<Vec<_>>(), ["pid"]);
    assert!(report::static_set(&trace, Some(&["nope".to_owned()]), None).is_err());
    assert!(report::static_set(&trace, Some(&["kmalloc-64".to_owned()]), None).is_err());
    assert!(report::static_set(&trace, Some(&["pid".to_owned()]), Some(&["pid".to_owned()])).is_err());
}

/// The JSON rendering parses and keeps its documented keys (library side).
#[test]
fn json_rendering_is_well_formed() {
    let r = bundled_report(&partitions_only());
    let j = JsonParser::parse(&report::render::render(&r, Format::Json)).unwrap();
    let schemes = j.get("schemes").arr();
    assert_eq!(schemes.len(), 5);
    for s in schemes {
        for key in ["scheme", "names", "instances", "merges_lost", "groups", "memory"] {
            let _ = s.get(key);
        }
        assert_eq!(*s.get("memory"), Json::Null, "memory not measured");
    }
}

// ---------------------------------------------------------------------------
// The binary.

/// The default run: the bundled trace, every scheme, one row each, the memory notes.
#[test]
fn default_run_prints_one_row_per_scheme() {
    let out = run_ok(&[]);
    for scheme in ["mainline", "viro-v3", "viro-v1", "primary", "nomerge"] {
        let rows = out.lines().filter(|l| l.starts_with(&format!("{scheme} "))).count();
        assert_eq!(rows, 2, "one row for {scheme} in the partition table, one in the memory table:\n{out}");
    }
    let headers: Vec<&str> = out.lines().filter(|l| l.starts_with("scheme")).collect();
    assert_eq!(headers.len(), 2, "{out}");
    for column in ["instances", "lost", "statics merged", "slab pages", "partial KiB", "sheaf objs", "total KiB"] {
        assert!(headers.iter().any(|h| h.contains(column)), "{column} in {headers:?}");
    }
    let v3 = out.lines().find(|l| l.starts_with("viro-v3")).unwrap();
    assert!(v3.trim_end().ends_with("fs_cache"), "{v3}");
    assert!(out.contains("no scheme holds a page"), "{out}");
}

/// `--format json`: well formed, with the documented keys and values.
#[test]
fn json_output_is_well_formed_with_documented_keys() {
    let text = run_ok(&["--format", "json", "--workload-divisor", "20"]);
    let j = JsonParser::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let schemes = j.get("schemes").arr();
    let names: Vec<&str> = schemes.iter().map(|s| s.get("scheme").str()).collect();
    assert_eq!(names, ["mainline", "viro-v3", "viro-v1", "primary", "nomerge"]);
    for s in schemes {
        let groups = s.get("groups").arr();
        assert_eq!(s.get("instances").num() as usize, groups.len());
        let total: usize = groups.iter().map(|g| g.arr().len()).sum();
        assert_eq!(s.get("names").num() as usize, total);
        let memory = s.get("memory");
        for key in ["slab_pages", "partial_free_bytes", "sheaf_objects", "overhead_bytes", "total_bytes"] {
            assert!(memory.get(key).num() >= 0.0);
        }
        assert_eq!(*memory.get("clean"), Json::Bool(true));
    }
    let by = |n: &str| schemes.iter().find(|s| s.get("scheme").str() == n).unwrap();
    assert_eq!(by("viro-v3").get("merges_lost").strings(), ["fs_cache"]);
    assert!(by("primary").get("merges_lost").arr().is_empty());
    assert_eq!(by("nomerge").get("instances").num(), 333.0);
    // The first name of a group is the instance's own name: mainline's fs_cache
    // group is owned by the name that created it on the real kernel.
    let owner = Trace::bundled().row("fs_cache").unwrap().kernel_owner.clone();
    let group =
        by("mainline").get("groups").arr().iter().find(|g| g.strings().contains(&"fs_cache".to_owned())).unwrap();
    assert_eq!(group.strings()[0], owner);
}

/// `--explain fs_cache` names the v3 preallocated rule.
#[test]
fn explain_fs_cache_names_the_v3_preallocated_rule() {
    let out = run_ok(&["--explain", "fs_cache"]);
    let v3 = out.split("\n\n").find(|s| s.starts_with("viro-v3")).unwrap_or_else(|| panic!("{out}"));
    assert!(v3.contains("SLAB_PREALLOCATED"), "{v3}");
    assert!(v3.contains("__kmem_cache_alias"), "{v3}");
}

/// A malformed --trace gives the line-numbered parse error and a non-zero exit.
#[test]
fn malformed_trace_is_a_line_numbered_error() {
    let dir = scratch("bad-trace");
    let bundled = include_str!("../data/slab-trace-linux-6.18-x86_64.tsv");
    let mut lines: Vec<String> = bundled.lines().take(6).map(str::to_owned).collect();
    let size = lines[0].split('\t').position(|c| c == "size").unwrap();
    let mut fields: Vec<&str> = lines[4].split('\t').collect();
    fields[size] = "12x";
    lines[4] = fields.join("\t");
    let path = dir.join("bad.tsv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let out: Output = bin().arg("--trace").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("`size`"), "{err}");
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--format csv` and `--format markdown`.
#[test]
fn csv_and_markdown_formats() {
    let csv = run_ok(&["--format", "csv", "--workload-divisor", "20"]);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 6, "{csv}");
    let width = rows[0].split(',').count();
    assert_eq!(rows[0].split(',').next(), Some("scheme"));
    for row in &rows[1..] {
        // no field of these rows needs quoting (the lost lists are ;-joined)
        assert_eq!(row.split(',').count(), width, "{row}");
    }
    let v3: Vec<&str> = rows.iter().find(|r| r.starts_with("viro-v3,")).unwrap().split(',').collect();
    let header: Vec<&str> = rows[0].split(',').collect();
    let at = |k: &str| header.iter().position(|h| *h == k).unwrap();
    assert_eq!(v3[at("merges_lost")], "fs_cache");
    assert_eq!(v3[at("merges_lost_count")], "1");

    let md = run_ok(&["--format", "markdown", "--workload-divisor", "20"]);
    // The first table: the schemes (the per-group memory table follows it).
    let table: Vec<&str> = md.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 7, "header, rule and five rows:\n{md}");
    assert!(table[1].contains("---:"));
    let cells = table[0].matches('|').count();
    assert!(table.iter().all(|l| l.matches('|').count() - l.matches("\\|").count() == cells));
}

/// `--svg` and `--html` write a picture naming the groups and the differences.
#[test]
fn svg_and_html_are_written() {
    let dir = scratch("picture");
    let (svg, html) = (dir.join("report.svg"), dir.join("report.html"));
    let out = bin().args(["--no-memory", "--svg"]).arg(&svg).arg("--html").arg(&html).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..80.min(text.len())]);
    assert!(text.trim_end().ends_with("</svg>"));
    assert!(text.contains("fs_cache: static alone"));
    assert!(text.contains("groups not shown"));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--sysfs DIR`: a trace derived from a snapshot, and the comparison with it.
#[test]
fn sysfs_snapshot_run_compares_with_the_snapshot() {
    let root = scratch("sysfs-cli");
    write_sysfs_tree(&Census::bundled(), &root);
    let text = run_ok(&["--sysfs", root.to_str().unwrap(), "--format", "json", "--workload-divisor", "20"]);
    let j = JsonParser::parse(&text).unwrap();
    let snap = j.get("snapshot");
    assert_eq!(*snap.get("partition_identical"), Json::Bool(true), "{text}");
    assert_eq!(snap.get("directories").num(), Census::bundled().caches().count() as f64);
    let schemes = j.get("schemes").arr();
    let v3 = schemes.iter().find(|s| s.get("scheme").str() == "viro-v3").unwrap();
    assert_eq!(v3.get("merges_lost").strings(), ["fs_cache"], "same static set, same loss");
    let _ = std::fs::remove_dir_all(&root);
}

// ---------------------------------------------------------------------------
// Snapshots in every format, and the inputs that must not give a normal-looking report.

fn snapshot_fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot").join(rel).display().to_string()
}

fn run_err(args: &[&str]) -> String {
    let out = bin().args(args).output().expect("slabmerge runs");
    assert!(!out.status.success(), "slabmerge {args:?} succeeded");
    assert!(out.stdout.is_empty(), "slabmerge {args:?} printed a report");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Each form a kernel developer holds replays into the snapshot's own
/// partition, and says what it could not give.
#[test]
fn snapshot_in_every_format_replays_its_partition() {
    let ls = snapshot_fixture("real/ls-l.txt");
    let proc = snapshot_fixture("real/proc-slabinfo.txt");
    let cases: [(&[String], &str); 5] = [
        (&[snapshot_fixture("real/cp-a-copy.tar.gz")], "tar of a sysfs directory"),
        (std::slice::from_ref(&ls), "flags beyond"),
        (&[snapshot_fixture("real/slabinfo-a.txt")], "slabinfo -a"),
        (&[ls.clone(), proc], "/proc/slabinfo"),
        (&[snapshot_fixture("edge/mail-quoted-ls-and-proc.txt")], "coverage"),
    ];
    for (paths, note) in cases {
        let mut args: Vec<&str> = vec!["--no-memory", "--format", "json", "--snapshot"];
        args.extend(paths.iter().map(String::as_str));
        let text = run_ok(&args);
        let j = JsonParser::parse(&text).unwrap();
        assert_eq!(*j.get("snapshot").get("partition_identical"), Json::Bool(true), "{paths:?}: {text}");
        let notes = j.get("input_notes").strings();
        assert!(notes.iter().any(|n| n.contains(note)), "{paths:?}: no note with {note:?}: {notes:?}");
    }
    // --sysfs stays an alias.
    let text = run_ok(&["--no-memory", "--sysfs", &snapshot_fixture("real/ls-l.txt")]);
    assert!(text.contains("trace derived from the snapshot"), "{text}");
}

/// Without live counts there is no workload, and the report says so.
#[test]
fn snapshot_without_counts_runs_no_workload_and_says_why() {
    let text = run_ok(&["--format", "json", "--snapshot", &snapshot_fixture("real/ls-l.txt")]);
    let j = JsonParser::parse(&text).unwrap();
    assert_eq!(*j.get("workload").get("measured"), Json::Bool(false), "{text}");
    assert!(j.get("input_notes").strings().iter().any(|n| n.contains("live object counts absent")), "{text}");
}

#[test]
fn bad_snapshots_are_errors_naming_the_file() {
    let deref = snapshot_fixture("real/cp-rL-copy.tar.gz");
    let err = run_err(&["--snapshot", &deref]);
    assert!(err.contains(&deref) && err.contains("cp -a") && err.contains("dereferenced"), "{err}");
    assert!(run_err(&["--snapshot", "/dev/null"]).contains("empty"));
    let t = std::time::Instant::now();
    assert!(run_err(&["--snapshot", "/dev/zero"]).contains("/dev/zero"));
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
    let header_only = scratch("header-only-census").join("census.tsv");
    let bundled = include_str!("../data/slab-census-linux-6.18-x86_64.tsv");
    std::fs::write(&header_only, format!("{}\n", bundled.lines().next().unwrap())).unwrap();
    let err = run_err(&["--snapshot", header_only.to_str().unwrap()]);
    assert!(err.contains("census.tsv"), "{err}");
    let _ = std::fs::remove_dir_all(header_only.parent().unwrap());
}

/// A header-only trace, a binary trace: errors, fast. A custom trace with no
/// snapshot borrows no counts from the bundled census.
#[test]
fn trace_inputs_are_refused_or_labelled() {
    let dir = scratch("trace-inputs");
    let bundled = include_str!("../data/slab-trace-linux-6.18-x86_64.tsv");
    let header = dir.join("header.tsv");
    std::fs::write(&header, format!("{}\n", bundled.lines().next().unwrap())).unwrap();
    let err = run_err(&["--trace", header.to_str().unwrap()]);
    assert!(err.contains("header.tsv") && err.contains("no cache creation"), "{err}");
    let t = std::time::Instant::now();
    let err = run_err(&["--trace", "/dev/zero"]);
    assert!(err.contains("/dev/zero") && err.contains("not a text file"), "{err}");
    assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
    let custom = dir.join("custom.tsv");
    std::fs::write(&custom, bundled).unwrap();
    let text = run_ok(&["--format", "json", "--trace", custom.to_str().unwrap()]);
    let j = JsonParser::parse(&text).unwrap();
    assert_eq!(*j.get("workload").get("measured"), Json::Bool(false), "{text}");
    assert_eq!(j.get("workload").get("objects").num(), 0.0, "{text}");
    assert!(j.get("input_notes").strings().iter().any(|n| n.contains("not borrowed")), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `slabmerge | head -1` and `slabmerge > /dev/full` end without a panic.
#[test]
fn closed_or_full_stdout_ends_cleanly() {
    let mut child = bin()
        .args(["--no-memory"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.is_empty(), "{:?}: {err}", out.status);
    if Path::new("/dev/full").exists() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let out = bin().args(["--no-memory"]).stdout(full).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains("standard output") && !err.contains("panicked"), "{err}");
    }
}

/// A big server's counts (10^12 objects in one cache) are divided down to
/// the budget, and the divisor is printed.
#[test]
fn huge_counts_are_scaled_to_the_memory_budget() {
    let dir = scratch("huge-census");
    let bundled = include_str!("../data/slab-census-linux-6.18-x86_64.tsv");
    let header: Vec<&str> = bundled.lines().next().unwrap().split('\t').collect();
    let objects = header.iter().position(|c| *c == "objects").unwrap();
    let mut lines: Vec<String> = bundled.lines().map(str::to_owned).collect();
    let mut fields: Vec<String> = lines[1].split('\t').map(str::to_owned).collect();
    fields[objects] = "1000000000000".to_owned();
    lines[1] = fields.join("\t");
    let path = dir.join("huge.tsv");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let text = run_ok(&["--format", "json", "--memory-budget", "2M", "--snapshot", path.to_str().unwrap()]);
    let j = JsonParser::parse(&text).unwrap();
    let divisor = j.get("workload").get("divisor").num();
    assert!(divisor > 1e6, "{text}");
    let planned = j.get("workload").get("objects").num();
    assert!(planned > 0.0 && planned < 2.0 * 1024.0 * 1024.0 / 8.0, "{text}");
    assert!(
        j.get("input_notes")
            .strings()
            .iter()
            .any(|n| n.contains("memory budget of 2 MiB") && n.contains(&format!("{divisor}"))),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explain_suggests_near_names() {
    let err = run_err(&["--explain", "fs_cach"]);
    assert!(err.contains("did you mean `fs_cache`"), "{err}");
    let err = run_err(&["--explain", "zzzzqqq"]);
    assert!(err.contains("no cache named `zzzzqqq`") && !err.contains("did you mean"), "{err}");
}

// ---------------------------------------------------------------------------
// The kernel's views per scheme, and diff.

fn run_ok_quiet(args: &[&str]) -> (String, String) {
    let out = bin().args(args).output().expect("slabmerge runs");
    assert!(out.status.success(), "slabmerge {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// `ls`, `slabinfo -a` and `proc-slabinfo` print the kernel's formats: read
/// back as a snapshot, each gives mainline's own partition.
#[test]
fn views_read_back_as_snapshots_give_the_same_partition() {
    let dir = scratch("views");
    let ls = dir.join("ls.txt");
    std::fs::write(&ls, run_ok(&["--no-memory", "ls"])).unwrap();
    let aliases = dir.join("slabinfo-a.txt");
    std::fs::write(&aliases, run_ok(&["--no-memory", "slabinfo", "-a"])).unwrap();
    let proc = dir.join("proc.txt");
    let (text, notes) = run_ok_quiet(&["proc-slabinfo", "--workload-divisor", "4"]);
    assert!(text.starts_with("slabinfo - version: 2.1\n# name "), "{text}");
    assert!(notes.contains("at the peak of the memory workload"), "{notes}");
    std::fs::write(&proc, text).unwrap();
    let cases: [&[&Path]; 3] = [&[&ls], &[&aliases], &[&ls, &proc]];
    for paths in cases {
        let mut args: Vec<&str> = vec!["--no-memory", "--format", "json", "--snapshot"];
        args.extend(paths.iter().map(|p| p.to_str().unwrap()));
        let text = run_ok(&args);
        let j = JsonParser::parse(&text).unwrap();
        assert_eq!(*j.get("snapshot").get("partition_identical"), Json::Bool(true), "{paths:?}: {text}");
    }
    let ls_text = std::fs::read_to_string(&ls).unwrap();
    assert!(ls_text.starts_with("total 0\n") && ls_text.contains("lrwxrwxrwx 1 root root 0 fs_cache -> :A-0000064"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The listing (`-S`, `-L`, by name) and `-T` follow tools/mm/slabinfo.c, and
/// the listing's counts drive a workload when read back.
#[test]
fn slabinfo_listing_and_totals_in_the_tool_formats() {
    let size = run_ok(&["--workload-divisor", "4", "slabinfo", "-S"]);
    let mut lines = size.lines();
    assert_eq!(
        lines.next(),
        Some("Name                   Objects Objsize           Space Slabs/Part/Cpu  O/S O %Fr %Ef Flg")
    );
    // Sorted by Space, largest first: compare the slabs × pages per slab.
    let bytes: Vec<u64> = lines
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let slabs: u64 = t[4].split('/').next().unwrap().parse().unwrap();
            slabs << t[6].parse::<u32>().unwrap()
        })
        .collect();
    assert!(bytes.len() > 50 && bytes.windows(2).all(|w| w[0] >= w[1]), "{size}");
    let loss = run_ok(&["--workload-divisor", "4", "slabinfo", "-L"]);
    assert!(loss.starts_with("Name                   Objects Objsize            Loss Slabs/Part/Cpu"), "{loss}");
    let by_name = run_ok(&["--workload-divisor", "4", "slabinfo"]);
    let names: Vec<String> = by_name.lines().skip(1).map(|l| l.split(' ').next().unwrap().to_lowercase()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{by_name}");
    // A merged directory keeps its :id and the * flag; a single-name one shows its name.
    assert!(by_name.lines().any(|l| l.starts_with(":a-0000104 ") && l.ends_with(" *a")), "{by_name}");
    let totals = run_ok(&["--workload-divisor", "4", "slabinfo", "-T"]);
    assert!(
        totals.starts_with("Slabcache Totals\n----------------\nSlabcaches :             235   Aliases  :"),
        "{totals}"
    );
    assert!(totals.contains("\nPer Object        Average              Min              Max\n"), "{totals}");
    // With counts (the listing) beside the links (ls), a workload runs on the read-back snapshot.
    let dir = scratch("listing");
    let (ls, listing) = (dir.join("ls.txt"), dir.join("listing.txt"));
    std::fs::write(&ls, run_ok(&["--no-memory", "ls"])).unwrap();
    std::fs::write(&listing, &by_name).unwrap();
    let text = run_ok(&["--format", "json", "--snapshot", ls.to_str().unwrap(), listing.to_str().unwrap()]);
    let j = JsonParser::parse(&text).unwrap();
    assert_eq!(*j.get("workload").get("measured"), Json::Bool(true), "{text}");
    assert_eq!(*j.get("snapshot").get("partition_identical"), Json::Bool(true), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Each scheme's world has its own views: nomerge merges nothing, primary marks its primaries.
#[test]
fn views_differ_per_scheme() {
    assert_eq!(run_ok(&["--no-memory", "slabinfo", "-a", "--scheme", "nomerge"]), "");
    let primary = run_ok(&["--no-memory", "slabinfo", "-a", "--scheme", "primary"]);
    assert!(primary.lines().any(|l| l.contains(" <- [")), "{primary}");
    let v3 = run_ok(&["--no-memory", "ls", "--scheme", "viro-v3"]);
    assert!(!v3.contains(" fs_cache -> "), "fs_cache is its own directory under v3: {v3}");
    let err = run_err(&["ls", "--scheme", "nosuch"]);
    assert!(err.contains("unknown scheme") && err.contains("viro-v3"), "{err}");
}

/// diff names the groups that split and the directories whose pages change.
#[test]
fn diff_names_split_groups_and_page_changes() {
    let text = run_ok(&["--workload-divisor", "4", "diff", "mainline", "viro-v3"]);
    assert!(text.starts_with("diff mainline viro-v3\ngroups: mainline 235, viro-v3 236\n"), "{text}");
    assert!(text.contains("split under viro-v3 (1):"), "{text}");
    assert!(text.contains("-> [anon_vma_chain eventpoll_pwq] [fs_cache]"), "{text}");
    assert!(text.contains("pages per directory"), "{text}");
    let text = run_ok(&["--no-memory", "diff", "nomerge", "mainline"]);
    assert!(text.contains("joined under mainline"), "{text}");
    assert!(!text.contains("pages"), "no workload, no pages: {text}");
    let err = run_err(&["diff", "primary", "primary"]);
    assert!(err.contains("itself"), "{err}");
}

/// Options of the comparative report are refused with a view, not ignored.
#[test]
fn report_options_are_refused_with_a_view() {
    for args in [
        &["--svg", "x.svg", "ls"][..],
        &["--format", "json", "slabinfo"],
        &["--explain", "dentry", "diff", "mainline", "primary"],
    ] {
        let err = run_err(args);
        assert!(err.contains("belongs to the comparative report"), "{args:?}: {err}");
    }
    let ls = snapshot_fixture("real/ls-l.txt");
    let err = run_err(&["--snapshot", &ls, "ls"]);
    assert!(err.contains("put the subcommand first"), "{err}");
    let text = run_ok(&["ls", "--snapshot", &ls]);
    assert!(text.starts_with("total 0\n"), "{text}");
    let err = run_err(&["slabinfo", "-a", "-T"]);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// `--explain NAME --format json`: each scheme's decision, target and group as data.
#[test]
fn explain_honours_format_json() {
    let text = run_ok(&["--explain", "fs_cache", "--format", "json"]);
    let j = JsonParser::parse(&text).unwrap();
    assert_eq!(j.get("name").str(), "fs_cache");
    assert_eq!(j.get("row").get("size").num(), 56.0);
    let schemes = j.get("schemes").arr();
    let names: Vec<&str> = schemes.iter().map(|s| s.get("scheme").str()).collect();
    assert_eq!(names, ["mainline", "viro-v3", "viro-v1", "primary", "nomerge"]);
    assert_eq!(schemes[0].get("decision").str(), "merged");
    assert_eq!(schemes[0].get("target").str(), "anon_vma_chain");
    assert!(schemes[0].get("group").get("names").strings().contains(&"eventpoll_pwq".to_owned()));
    assert_eq!(schemes[1].get("decision").str(), "not_merged");
    assert!(schemes[1].get("reason").str().contains("SLAB_PREALLOCATED"), "{text}");
    assert_eq!(schemes[1].get("group").get("names").strings(), ["fs_cache"]);
    assert!(!schemes[1].get("text").strings().is_empty());
    let err = run_err(&["--explain", "fs_cache", "--format", "csv"]);
    assert!(err.contains("text or JSON"), "{err}");
}

/// `--seeds N`: medians with their range in the table, every seed's figures in the JSON.
#[test]
fn seeds_show_medians_with_ranges() {
    let text = run_ok(&["--seeds", "3", "--workload-divisor", "16"]);
    assert!(text.contains("3 seeds from 0x51ab3e76e5eed001"), "{text}");
    let mainline =
        text.lines().find(|l| l.starts_with("mainline ") && l.contains('–')).unwrap_or_else(|| panic!("{text}"));
    assert!(mainline.contains('('), "{mainline}");
    assert!(text.contains("over 3 seeds mainline's total moves"), "{text}");
    let json = run_ok(&["--seeds", "3", "--workload-divisor", "16", "--format", "json"]);
    let j = JsonParser::parse(&json).unwrap();
    let seeds = j.get("seeds").arr();
    assert_eq!(seeds.len(), 3);
    assert_eq!(seeds[1].get("seed").str(), "0x51ab3e76e5eed002");
    let totals: Vec<f64> =
        seeds.iter().map(|s| s.get("schemes").arr()[0].get("memory").get("total_bytes").num()).collect();
    let mut sorted = totals.clone();
    sorted.sort_by(f64::total_cmp);
    let median = j.get("schemes").arr()[0].get("memory").get("total_bytes").num();
    assert_eq!(median, sorted[1], "the column holds the median of {totals:?}");
    let err = run_err(&["--seeds", "2", "--no-memory"]);
    assert!(err.contains("--seeds"), "{err}");
    // One seed: the JSON's seeds array is empty, the table unchanged.
    let one = JsonParser::parse(&run_ok(&["--no-memory", "--format", "json"])).unwrap();
    assert!(one.get("seeds").arr().is_empty());
}

/// --rules VERSION: every world follows that release's rules (design/kernels.md),
/// in the report and in the views; an unknown release is an error naming the known ones.
#[test]
fn rules_select_the_kernel_release() {
    let default = run_ok(&["--no-memory"]);
    assert!(default.contains("\nmainline    333        235 "), "{default}");
    assert!(!default.contains("kernel rules"), "{default}");
    let old = run_ok(&["--no-memory", "--rules", "6.1"]);
    assert!(old.contains("\nmainline    333        231 "), "{old}");
    assert!(old.contains("kernel rules 6.1: every world follows Linux 6.1's slab rules"), "{old}");
    assert!(old.contains("6.1 rules: sheaf_capacity does not exist in 6.1, left out of 2 requests"), "{old}");
    // The views: 6.18's sheaf_capacity gate keeps maple_node alone; 6.1 has no sheaves to ask for.
    let ls = run_ok(&["ls", "--no-memory"]);
    assert!(ls.contains(" 0 maple_node\n"), "{ls}");
    let ls = run_ok(&["ls", "--rules", "6.1", "--no-memory"]);
    assert!(ls.contains(" 0 maple_node -> :0000256\n"), "{ls}");
    assert_eq!(run_ok(&["ls", "--rules", "v6.18", "--no-memory"]), run_ok(&["ls", "--no-memory"]));
    let err = run_err(&["--no-memory", "--rules", "6.2"]);
    assert!(err.contains("unknown kernel release \"6.2\" (one of 6.1, 6.6, 6.12, 6.18, 7.0)"), "{err}");
    let err = run_err(&["--kmem-trace", "-", "--rules", "6.6"]);
    assert!(err.contains("6.18 rules only"), "{err}");
}

/// `--svg` with `--kmem-trace` writes the memory-over-time chart (one line
/// per scheme) next to the table on standard output.
#[test]
fn kmem_trace_svg_writes_the_memory_chart() {
    let kmem = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kmem/trace-pipe.txt");
    let dir = scratch("kmem-svg");
    let svg = dir.join("memory.svg");
    let out = run_ok(&["--kmem-trace", kmem.to_str().unwrap(), "--svg", svg.to_str().unwrap()]);
    assert!(out.contains("peak KiB"), "{out}");
    let text = std::fs::read_to_string(&svg).expect("the chart was written");
    assert!(text.starts_with("<svg ") && text.ends_with("</svg>\n"), "{text}");
    assert_eq!(text.matches("<polyline ").count(), ReportScheme::ALL.len(), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every combination in which an option would have no effect is refused,
/// the error naming the option and what makes it void, with a non-zero exit
/// and nothing on standard output.
#[test]
fn options_without_effect_are_refused_naming_both() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/slab-trace-linux-6.18-x86_64.tsv");
    let trace = bundled.to_str().unwrap();
    let ls = snapshot_fixture("real/ls-l.txt");
    let kmem = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kmem/trace-pipe.txt");
    let kmem = kmem.to_str().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--no-memory", "--seed", "3"], &["--seed", "--no-memory"]),
        (&["--no-memory", "--churn", "5"], &["--churn", "--no-memory"]),
        (&["--no-memory", "--workload-divisor", "4"], &["--workload-divisor", "--no-memory"]),
        (&["--no-memory", "--memory-budget", "8M"], &["--memory-budget", "--no-memory"]),
        (&["--no-memory", "--seeds", "2"], &["--seeds", "--no-memory"]),
        (&["ls", "--no-memory", "--seed", "1"], &["--seed", "--no-memory"]),
        (&["diff", "mainline", "nomerge", "--no-memory", "--churn", "1"], &["--churn", "--no-memory"]),
        (&["--trace", trace, "--seed", "1"], &["--seed", "--trace"]),
        (&["--snapshot", &ls, "--churn", "5"], &["--churn", "--snapshot", "no live object counts"]),
        (&["ls", "--verbose"], &["--verbose", "slabmerge ls"]),
        (&["slabinfo", "-a", "-v"], &["--verbose", "slabmerge slabinfo"]),
        (&["proc-slabinfo", "--verbose"], &["--verbose", "slabmerge proc-slabinfo"]),
        (&["--format", "table", "ls"], &["--format", "slabmerge ls"]),
        (&["--seeds", "1", "diff", "mainline", "primary"], &["--seeds", "slabmerge diff"]),
        (&["--kmem-sites", "sites.tsv"], &["--kmem-sites", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--seeds", "2"], &["--seeds", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--seed", "2"], &["--seed", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--no-memory"], &["--no-memory", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--memory-budget", "8M"], &["--memory-budget", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--html", "x.html"], &["--html", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--explain", "dentry"], &["--explain", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--verbose"], &["--verbose", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--format", "csv"], &["--format csv", "--kmem-trace"]),
        (&["--kmem-trace", kmem, "--format", "markdown"], &["--format markdown", "--kmem-trace"]),
        (&["--explain", "fs_cache", "--seed", "1"], &["--seed", "--explain"]),
        (&["--explain", "fs_cache", "--workload-divisor", "2"], &["--workload-divisor", "--explain"]),
        (&["--explain", "fs_cache", "--no-memory"], &["--no-memory", "--explain"]),
        (&["--explain", "fs_cache", "--verbose"], &["--verbose", "--explain"]),
        (&["--verbose", "--format", "json"], &["--verbose", "--format json"]),
        (&["--verbose", "--format", "csv"], &["--verbose", "--format csv"]),
    ];
    for (args, names) in cases {
        let err = run_err(args);
        for name in *names {
            assert!(err.contains(name), "slabmerge {args:?}: {name} not named in {err}");
        }
    }
}

/// The combinations that look void but are honoured: --verbose with diff and
/// with Markdown, the workload's options with --explain and a picture, a
/// divisor below what the memory budget needs.
#[test]
fn verbose_and_workload_options_are_honoured_where_they_apply() {
    let short = run_ok(&["--no-memory", "diff", "nomerge", "mainline"]);
    let long = run_ok(&["--no-memory", "diff", "nomerge", "mainline", "--verbose"]);
    assert!(short.contains(" more]"), "{short}");
    assert!(!long.contains(" more]") && long.len() > short.len(), "{long}");

    let md = run_ok(&["--no-memory", "--format", "markdown"]);
    let md_verbose = run_ok(&["--no-memory", "--format", "markdown", "--verbose"]);
    assert!(!md.contains("merges lost under nomerge"), "{md}");
    let line =
        md_verbose.lines().find(|l| l.starts_with("- merges lost under nomerge (140): ")).expect("the full list");
    assert_eq!(line.split(", ").count(), 140, "{line}");

    let dir = scratch("explain-picture");
    let svg = dir.join("g.svg");
    let out = run_ok(&["--explain", "fs_cache", "--svg", svg.to_str().unwrap(), "--workload-divisor", "16"]);
    assert!(out.contains("SLAB_PREALLOCATED") && svg.exists(), "{out}");
    let _ = std::fs::remove_dir_all(&dir);

    let text = run_ok(&["--format", "json", "--workload-divisor", "2", "--memory-budget", "2M"]);
    let j = JsonParser::parse(&text).unwrap();
    let divisor = j.get("workload").get("divisor").num();
    assert!(divisor > 2.0, "{text}");
    let notes = j.get("input_notes").strings();
    assert!(
        notes.iter().any(|n| n.contains("memory budget of 2 MiB") && n.contains("instead of the 2 asked for")),
        "{notes:?}"
    );
}

// ---------------------------------------------------------------------------
// diff of two snapshots.

fn diff_fixture(name: &str) -> String {
    snapshot_fixture(&format!("diff/{name}"))
}

/// The fixture's own /proc/slabinfo figures, read independently of the
/// snapshot readers: name → (active_objs, num_slabs × pagesperslab).
fn proc_counts(path: &str) -> std::collections::BTreeMap<String, (u64, u64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(": slabdata"))
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| t[i].parse::<u64>().unwrap();
            (t[0].to_owned(), (n(1), n(14) * n(5)))
        })
        .collect()
}

fn run_status(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().args(args).output().expect("slabmerge runs");
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap());
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code(), stdout, stderr)
}

/// Two boots, each `ls -l` + /proc/slabinfo: the group that split, the
/// caches gone and new, and every count change, all from the files.
#[test]
fn diff_of_two_snapshots_names_splits_appearances_and_counts() {
    let (ls1, proc1) = (diff_fixture("boot1-ls-l.txt"), diff_fixture("boot1-proc-slabinfo.txt"));
    let (ls2, proc2) = (diff_fixture("boot2-ls-l.txt"), diff_fixture("boot2-proc-slabinfo.txt"));
    let text = run_ok(&["diff", "--before", &ls1, &proc1, "--after", &ls2, &proc2]);
    assert!(text.starts_with("diff of two snapshots\n"), "{text}");
    assert!(!text.contains("partial"), "both sides give groups and counts: {text}");
    assert!(text.contains("\ngone in B (1): ext4_inode_cache\n"), "{text}");
    assert!(text.contains("\nnew in B (1): xfs_inode\n"), "{text}");
    assert!(text.contains("\nsplit in B (1):\n  :A-0000064 [anon_vma_chain eventpoll_pwq fs_cache]\n"), "{text}");
    assert!(text.contains("-> :A-0000064,fs_cache [anon_vma_chain eventpoll_pwq] [fs_cache]"), "{text}");
    let (c1, c2) = (proc_counts(&proc1), proc_counts(&proc2));
    let pages = |c: &std::collections::BTreeMap<String, (u64, u64)>| c.values().map(|v| v.1).sum::<u64>();
    let (p1, p2) = (pages(&c1), pages(&c2));
    assert!(text.contains(&format!("slab pages: A {p1}, B {p2} (-{})", p1 - p2)), "{text}");
    let row = |name: &str| {
        text.lines().find(|l| l.ends_with(&format!("  {name}"))).unwrap_or_else(|| panic!("no row {name}: {text}"))
    };
    let (d1, d2) = (c1["dentry"], c2["dentry"]);
    let dentry: Vec<String> = row("dentry").split_whitespace().map(str::to_owned).collect();
    assert_eq!(
        dentry[..6],
        [
            d1.1.to_string(),
            d2.1.to_string(),
            format!("+{}", d2.1 - d1.1),
            d1.0.to_string(),
            d2.0.to_string(),
            format!("+{}", d2.0 - d1.0)
        ]
    );
    assert!(row("ext4_inode_cache").starts_with(&format!(
        "  {:>7}       0 {:>7}",
        c1["ext4_inode_cache"].1,
        format!("-{}", c1["ext4_inode_cache"].1)
    )));
    // filp is the same in both: no row.
    assert!(!text.lines().any(|l| l.ends_with("  filp")), "{text}");
    // Swapped, the same changes the other way.
    let back = run_ok(&["diff", "--before", &ls2, &proc2, "--after", &ls1, &proc1]);
    assert!(back.contains("\njoined in B (1):\n") && back.contains("\ngone in B (1): xfs_inode\n"), "{back}");
}

/// Two /proc/slabinfo texts: counts compared per cache, but no alias is
/// listed, so a missing name is "not listed" rather than gone, and the
/// groups are not compared; --verbose lists every changed cache.
#[test]
fn diff_of_two_proc_slabinfo_texts_is_labelled_partial_for_groups() {
    let (a, b) = (diff_fixture("boot1-proc-slabinfo.txt"), diff_fixture("boot2-proc-slabinfo.txt"));
    let (code, text, _) = run_status(&["diff", &a, &b]);
    assert_eq!(code, Some(0), "both sides lack the same thing: {text}");
    assert!(text.contains("\npartial comparison:\n"), "{text}");
    assert!(text.contains("groups not compared: A (/proc/slabinfo)"), "{text}");
    assert!(text.contains("\nin A, not listed by B (1): ext4_inode_cache\n"), "{text}");
    assert!(text.contains("\nin B, not listed by A (2): fs_cache, xfs_inode\n"), "{text}");
    assert!(!text.contains("gone in B") && !text.contains("split in B"), "{text}");
    assert!(text.contains("pages and objects per cache, A -> B (6 changed):"), "{text}");
    let kmalloc = text.lines().find(|l| l.ends_with("  kmalloc-64")).unwrap();
    assert_eq!(kmalloc.split_whitespace().collect::<Vec<_>>()[..6], ["42", "42", "+0", "1911", "1800", "-111"]);
}

/// Real captures of one kernel in two forms list the same names grouped
/// alike; their counts (taken at different times) differ, cut to 20 rows
/// unless --verbose.
#[test]
fn diff_of_real_snapshots_of_one_kernel_keeps_the_partition() {
    let (ls, proc) = (snapshot_fixture("real/ls-l.txt"), snapshot_fixture("real/proc-slabinfo.txt"));
    let tar = snapshot_fixture("real/cp-a-copy.tar.gz");
    let text = run_ok(&["diff", "--before", &ls, &proc, "--after", &tar]);
    assert!(text.contains("names: A 333, B 333; instances: A 235, B 235"), "{text}");
    assert!(text.contains("\nthe same names on both sides\n\nthe names both list share caches alike\n"), "{text}");
    assert!(text.contains(", the 20 largest; --verbose for all):"), "{text}");
    let verbose = run_ok(&["diff", "--before", &ls, &proc, "--after", &tar, "--verbose"]);
    assert!(!verbose.contains("--verbose for all") && verbose.lines().count() > text.lines().count(), "{verbose}");
    for text in [&text, &verbose, &run_ok(&["diff", "--verbose", &ls, &snapshot_fixture("real/slabinfo-a.txt")])] {
        let wide = report::render::lines_over_width(text);
        assert!(wide.is_empty(), "over 100 columns: {wide:?}");
    }
    // A snapshot against itself: nothing differs.
    let same = run_ok(&["diff", &tar, &tar]);
    assert!(same.contains("no cache gains or loses a page or an object"), "{same}");
}

/// One side with counts and the other without (or groups on one side only):
/// the partial result is printed and labelled, exit status 2. Bad inputs are
/// errors naming the side and the file, exit 1, nothing printed.
#[test]
fn diff_of_snapshots_refuses_bad_input_and_flags_lopsided_ones() {
    let (ls, proc) = (diff_fixture("boot1-ls-l.txt"), diff_fixture("boot2-proc-slabinfo.txt"));
    let (code, text, err) = run_status(&["diff", &ls, &proc]);
    assert_eq!(code, Some(2), "{text}{err}");
    assert!(text.contains("pages and objects not compared: A (ls -l listing) has no live counts"), "{text}");
    assert!(text.contains("groups not compared: B (/proc/slabinfo)"), "{text}");
    assert!(!text.contains("pages and objects per cache"), "{text}");
    assert!(err.contains("partial comparison") && err.contains("exit status 2"), "{err}");

    let err = run_err(&["diff", &ls, "/nonexistent/boot2.txt"]);
    assert!(err.contains("diff B: /nonexistent/boot2.txt"), "{err}");
    let err = run_err(&["diff", "nosuch", &ls]);
    assert!(err.contains("diff A: nosuch") && err.contains("neither a file nor a scheme"), "{err}");
    assert!(run_err(&["diff", "/dev/null", &ls]).contains("empty"));
    let err = run_err(&["diff", "--before", &ls, "--after", &snapshot_fixture("real/cp-rL-copy.tar.gz")]);
    assert!(err.contains("diff B:") && err.contains("dereferenced"), "{err}");
    let err = run_err(&["diff", "mainline", &ls]);
    assert!(err.contains("`mainline` is a scheme") && err.contains("./mainline"), "{err}");
    for (option, args) in [
        ("--seed", &["--seed", "3"][..]),
        ("--no-memory", &["--no-memory"]),
        ("--trace", &["--trace", "t.tsv"]),
        ("--rules", &["--rules", "6.1"]),
    ] {
        let mut all = vec!["diff", &ls, &proc];
        all.extend_from_slice(args);
        let err = run_err(&all);
        assert!(err.contains(option) && err.contains("diff of two snapshots"), "{all:?}: {err}");
    }
    let err = run_err(&["diff", "--before", &ls]);
    assert!(err.contains("--after"), "{err}");
}

/// `--format json` (before or after `diff`): the same comparison as data,
/// every key there, every list whole; a lopsided pair is still exit status
/// 2, the formats without a JSON or table form are refused.
#[test]
fn diff_of_two_snapshots_as_json() {
    use serde_json::Value;
    let (ls1, proc1) = (diff_fixture("boot1-ls-l.txt"), diff_fixture("boot1-proc-slabinfo.txt"));
    let (ls2, proc2) = (diff_fixture("boot2-ls-l.txt"), diff_fixture("boot2-proc-slabinfo.txt"));
    let (code, text, err) =
        run_status(&["diff", "--before", &ls1, &proc1, "--after", &ls2, &proc2, "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let j: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    for key in
        ["sides", "groups_compared", "counts_compared", "partial", "lopsided", "gone", "new", "not_listed", "parts"]
    {
        assert!(keys.contains(&key), "no {key}: {keys:?}");
    }
    assert_eq!(
        (&j["groups_compared"], &j["counts_compared"], &j["lopsided"]),
        (&true.into(), &true.into(), &false.into())
    );
    assert_eq!(j["gone"], serde_json::json!(["ext4_inode_cache"]));
    assert_eq!(j["new"], serde_json::json!(["xfs_inode"]));
    let a = &j["sides"][0];
    assert_eq!(a["label"], format!("{ls1} + {proc1}").as_str());
    assert_eq!(a["formats"], serde_json::json!(["ls -l listing", "/proc/slabinfo"]));
    assert_eq!((a["names"].as_u64(), a["instances"].as_u64()), (Some(10), Some(6)));
    let pages1: u64 = proc_counts(&proc1).values().map(|v| v.1).sum();
    assert_eq!(a["total"]["pages"].as_u64(), Some(pages1));
    assert_eq!(a["coverage"]["multi_name_groups"], true);
    let parts = j["parts"].as_array().unwrap();
    let split: Vec<&Value> = parts.iter().filter(|p| p["change"] == "split").collect();
    assert_eq!(split.len(), 1, "{parts:?}");
    assert_eq!(split[0]["groups"][1], serde_json::json!([["anon_vma_chain", "eventpoll_pwq"], ["fs_cache"]]));
    assert_eq!(split[0]["dirs"][1], serde_json::json!([":A-0000064", "fs_cache"]));
    assert_eq!(split[0]["counts"][1]["objects"].as_u64(), Some(599 + 30));
    // Global: before the subcommand too.
    let before = run_ok(&["--format", "json", "diff", "--before", &ls1, &proc1, "--after", &ls2, &proc2]);
    assert_eq!(before, text);

    // Lopsided: the JSON says what is missing, and the status is still 2.
    let (code, text, err) = run_status(&["diff", &ls1, &proc2, "--format", "json"]);
    assert_eq!(code, Some(2), "{text}{err}");
    let j: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((&j["lopsided"], &j["counts_compared"]), (&true.into(), &false.into()));
    assert_eq!(j["sides"][0]["total"], Value::Null);
    assert!(j["partial"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().contains("has no live counts")));
    assert!(err.contains("partial comparison") && err.contains("exit status 2"), "{err}");

    for (args, refused) in [
        (&["diff", &ls1, &ls2, "--format", "csv"][..], "--format csv has no effect on a diff of two snapshots"),
        (&["diff", &ls1, &ls2, "--format", "json", "--verbose"], "--verbose has no effect with --format json"),
        (&["diff", "mainline", "primary", "--format", "json"], "not to a diff of two schemes"),
    ] {
        let (code, _, err) = run_status(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains(refused), "{args:?}: {err}");
    }
}

/// A word that is a scheme's name is the scheme, even beside a file of that
/// name; `./NAME` is the file.
#[test]
fn diff_reads_scheme_names_as_schemes_and_dot_slash_as_paths() {
    let dir = scratch("diff-names");
    std::fs::copy(diff_fixture("boot1-proc-slabinfo.txt"), dir.join("mainline")).unwrap();
    std::fs::copy(diff_fixture("boot2-proc-slabinfo.txt"), dir.join("nomerge")).unwrap();
    let out = bin().current_dir(&dir).args(["--no-memory", "diff", "mainline", "nomerge"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success() && text.starts_with("diff mainline nomerge\n"), "{text}");
    let out = bin().current_dir(&dir).args(["diff", "./mainline", "./nomerge"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success() && text.starts_with("diff of two snapshots\nA: ./mainline "), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The library form: the same figures as values.
#[test]
fn snapshot_diff_library_gives_the_counts_of_each_side() {
    use slabmerge::report::snapshot_diff::{GroupChange, snapshot_diff};
    use slabmerge::snapshot::read_snapshots;
    let a = read_snapshots(&[diff_fixture("boot1-ls-l.txt"), diff_fixture("boot1-proc-slabinfo.txt")]).unwrap();
    let b = read_snapshots(&[diff_fixture("boot2-ls-l.txt"), diff_fixture("boot2-proc-slabinfo.txt")]).unwrap();
    let d = snapshot_diff("boot1", &a, "boot2", &b);
    assert!(d.groups_compared && d.counts_compared && d.partial.is_empty() && !d.lopsided());
    assert_eq!(
        (d.disappeared.as_slice(), d.appeared.as_slice()),
        (&["ext4_inode_cache".to_owned()][..], &["xfs_inode".to_owned()][..])
    );
    let split: Vec<_> = d.parts.iter().filter(|p| p.change == Some(GroupChange::Split)).collect();
    assert_eq!(split.len(), 1);
    assert_eq!(
        split[0].groups[1],
        [vec!["anon_vma_chain".to_owned(), "eventpoll_pwq".to_owned()], vec!["fs_cache".to_owned()]]
    );
    let [ca, cb] = split[0].counts;
    assert_eq!((ca.unwrap().objects, cb.unwrap().objects), (599, 599 + 30));
    assert_eq!(
        d.sides[0].total().pages,
        proc_counts(&diff_fixture("boot1-proc-slabinfo.txt")).values().map(|v| v.1).sum::<u64>()
    );
}
