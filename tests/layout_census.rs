//! The layout of every cache instance of the bundled Linux 6.18 x86_64 boot,
//! recomputed from its creation arguments (the trace) and compared with what
//! sysfs showed (the census).
//!
//! Mirrors the layout half of `data/check_trace.py`: for each trace row that
//! owns its instance (`kernel_owner == name`) the alignment comes from
//! `calculate_alignment()` and the stride, order and objects from
//! `calculate_sizes()`; the census row of its `kernel_dir` must agree.

use std::collections::HashMap;
use std::fs;

use slabmerge::config::SlabConfig;
use slabmerge::flags::{SLAB_MERGE_SAME, SlabFlags};
use slabmerge::layout::{CacheLayout, LayoutRequest, calculate_alignment, calculate_sizes, create_unique_id};

const TRACE: &str = "data/slab-trace-linux-6.18-x86_64.tsv";
const CENSUS: &str = "data/slab-census-linux-6.18-x86_64.tsv";

/// Instances (owners in the trace, directories in the census) on the traced kernel.
const INSTANCES: usize = 235;

type Row = HashMap<String, String>;

/// A header-keyed tab-separated reader, just enough for these two files.
fn read_tsv(relative: &str) -> Vec<Row> {
    let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header line").split('\t').collect();
    lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            // Alias rows of the census stop after `target`; missing trailing
            // fields read as empty, like csv.DictReader's None.
            let fields: Vec<&str> = line.split('\t').collect();
            assert!(fields.len() <= header.len(), "{path}: too many fields: {line}");
            let field = |i: usize| fields.get(i).copied().unwrap_or("").to_string();
            header.iter().enumerate().map(|(i, k)| (k.to_string(), field(i))).collect()
        })
        .collect()
}

fn num(row: &Row, key: &str) -> u32 {
    let v = &row[key];
    v.parse().unwrap_or_else(|_| panic!("{key} = {v:?} in row {:?}", row.get("name")))
}

/// What check_trace.py's `create()` passes to `calculate_sizes()` for an owner row.
fn owner_layout(row: &Row, cfg: &SlabConfig) -> CacheLayout {
    let size = num(row, "size");
    let flags = SlabFlags::parse(&row["flags"]).unwrap();
    let align = calculate_alignment(flags, num(row, "align"), size, cfg.cache_line_size);
    let freeptr = &row["freeptr_offset"];
    let req = LayoutRequest {
        object_size: size,
        align,
        flags,
        has_ctor: row["ctor"] != "-",
        use_freeptr_offset: freeptr != "-",
        freeptr_offset: if freeptr == "-" { 0 } else { freeptr.parse().unwrap() },
        is_kmalloc: row["entry"] == "create_kmalloc_cache",
        sheaf_capacity: num(row, "sheaf_capacity"),
    };
    calculate_sizes(&req, cfg).unwrap_or_else(|e| panic!("{}: {e}", row["name"]))
}

fn census_dirs() -> HashMap<String, Row> {
    read_tsv(CENSUS).into_iter().filter(|c| c["kind"] == "cache").map(|c| (c["name"].clone(), c)).collect()
}

fn owners(trace: &[Row]) -> Vec<&Row> {
    trace.iter().filter(|r| r["kernel_owner"] == r["name"]).collect()
}

/// mm/slub.c: calculate_sizes(): slab_size, align, objs_per_slab and order of all 235 instances.
#[test]
fn census_layouts_match_every_instance() {
    let cfg = SlabConfig::default();
    let trace = read_tsv(TRACE);
    let dirs = census_dirs();
    assert_eq!(dirs.len(), INSTANCES);
    let owners = owners(&trace);
    assert_eq!(owners.len(), INSTANCES);

    // Names per directory, and the largest size asked for in each: on merge
    // __kmem_cache_alias() raises object_size to the maximum.
    let mut names: HashMap<&str, (u32, u32)> = HashMap::new();
    for r in &trace {
        let e = names.entry(r["kernel_dir"].as_str()).or_insert((0, 0));
        e.0 += 1;
        e.1 = e.1.max(num(r, "size"));
    }

    let mut bad = Vec::new();
    let mut matched = 0;
    for r in &owners {
        let dir = &r["kernel_dir"];
        let Some(c) = dirs.get(dir) else {
            bad.push(format!("{}: no census directory {dir}", r["name"]));
            continue;
        };
        let l = owner_layout(r, &cfg);
        let got = (l.size, l.align, l.objects, l.order);
        let want = (num(c, "slab_size"), num(c, "align"), num(c, "objs_per_slab"), num(c, "order"));
        let mut ok = got == want;
        if !ok {
            bad.push(format!("{dir} ({}): slab_size/align/objs_per_slab/order {got:?}, sysfs {want:?}", r["name"]));
        }

        // sysfs `aliases` is refcount - 1: 0 for a name alone in its instance.
        let (count, max_size) = names[dir.as_str()];
        if num(c, "aliases") != count - 1 {
            ok = false;
            bad.push(format!("{dir}: {count} names in the trace, sysfs aliases {}", num(c, "aliases")));
        }
        if count == 1 && l.object_size != num(c, "object_size") {
            ok = false;
            bad.push(format!("{dir}: object_size {}, sysfs {}", l.object_size, num(c, "object_size")));
        }
        if max_size != num(c, "object_size") {
            ok = false;
            bad.push(format!("{dir}: largest requested size {max_size}, sysfs object_size {}", c["object_size"]));
        }

        // A merged group's directory is the unique id of its owner's stride.
        if dir.starts_with(':') {
            let id = create_unique_id(l.flags.mask(SLAB_MERGE_SAME), l.size);
            if &id != dir {
                ok = false;
                bad.push(format!("{}: unique id {id}, sysfs {dir}", r["name"]));
            }
        }
        if ok {
            matched += 1;
        }
    }
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    assert_eq!(matched, INSTANCES);
}

/// mm/slub.c: do_kmem_cache_create() (6.18): sheaves only where args->sheaf_capacity asked for them.
#[test]
fn census_sheaf_capacity_6_18() {
    let cfg = SlabConfig { sheaves_for_all: false, ..Default::default() };
    let trace = read_tsv(TRACE);
    let dirs = census_dirs();
    let mut bad = Vec::new();
    for r in owners(&trace) {
        let c = &dirs[&r["kernel_dir"]];
        let got = owner_layout(r, &cfg).sheaf_capacity;
        if got != num(c, "sheaf_capacity") {
            bad.push(format!("{}: sheaf_capacity {got}, sysfs {}", r["name"], c["sheaf_capacity"]));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
