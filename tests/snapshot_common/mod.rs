#![allow(dead_code)]
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use slabmerge::input::snapshot::{Census, CensusKind, Known, Snapshot, read_snapshot};

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot").join(rel)
}

pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap()
}

/// The partition stored at fixture time from the directory reader (one instance per line).
pub fn expected_partition() -> BTreeSet<Vec<String>> {
    String::from_utf8(read("real/expected-partition.txt"))
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// The census of the `cp -a` copy taken at fixture time (read through the tar reader).
pub fn reference() -> Snapshot {
    static REFERENCE: std::sync::OnceLock<Snapshot> = std::sync::OnceLock::new();
    REFERENCE.get_or_init(|| read_snapshot(fixture("real/cp-a-copy.tar.gz")).unwrap()).clone()
}

/// A time limit, scaled by `SLABMERGE_TIME_SCALE` (scripts/valgrind.sh sets
/// it: memcheck runs code about 50 times slower).
pub fn limit(d: std::time::Duration) -> std::time::Duration {
    d * std::env::var("SLABMERGE_TIME_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1u32)
}

/// Proptest cases: `PROPTEST_CASES` if set (scripts/valgrind.sh cuts them down), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// name → the reference directory it lives in.
pub fn dir_of(reference: &Census) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (dir, names) in reference.groups() {
        m.insert(dir.clone(), dir.clone());
        for n in names {
            m.insert(n, dir.clone());
        }
    }
    m
}

/// Every value a snapshot claims to know (but live counters) equals the
/// reference directory's.
pub fn assert_known_values_match(s: &Snapshot, what: &str) {
    let r = reference();
    let dirs = dir_of(&r.census);
    for row in s.census.rows.iter().filter(|r| r.kind == CensusKind::Cache) {
        let dir = dirs.get(&row.name).unwrap_or_else(|| panic!("{what}: `{}` not in the reference", row.name));
        let want = r.census.cache(dir).unwrap();
        let k = row.known.minus(Known::LIVE);
        macro_rules! cmp {
            ($($bit:ident => $f:ident),*) => {$(
                if k.contains(Known::$bit) {
                    assert_eq!(row.$f, want.$f, "{what}: `{}` ({dir}) field {}", row.name, stringify!($f));
                }
            )*};
        }
        cmp!(OBJECT_SIZE => object_size, SLAB_SIZE => slab_size, ALIGN => align, ALIASES => aliases,
             OBJS_PER_SLAB => objs_per_slab, ORDER => order, HWCACHE_ALIGN => hwcache_align,
             RECLAIM_ACCOUNT => reclaim_account, CACHE_DMA => cache_dma, DESTROY_BY_RCU => destroy_by_rcu,
             POISON => poison, RED_ZONE => red_zone, STORE_USER => store_user, SANITY_CHECKS => sanity_checks,
             USERSIZE => usersize, SHEAF_CAPACITY => sheaf_capacity, CTOR => ctor);
    }
}
