//! Every format of this machine's snapshot (taken from the real Linux 6.18
//! kernel at fixture time) gives the partition the directory reader gave.

#[path = "snapshot_common/mod.rs"]
mod common;
use common::*;
use std::collections::BTreeSet;

use slabmerge::input::snapshot::{Format, Known, read_snapshot, read_snapshot_bytes, read_snapshots};

fn full(s: &slabmerge::input::snapshot::Snapshot, what: &str) {
    assert!(s.coverage.complete(), "{what}: {:?}", s.coverage);
    assert_eq!(s.partition(), expected_partition(), "{what}");
    assert_eq!(s.census.caches().count(), 235, "{what}");
    assert_known_values_match(s, what);
}

#[test]
fn expected_partition_is_the_directory_readers() {
    let p = expected_partition();
    assert_eq!(p.len(), 235);
    assert_eq!(p.iter().map(Vec::len).sum::<usize>(), 194 + 139);
    let r = reference();
    assert_eq!(r.partition(), p);
    assert_eq!(r.census.rows.iter().filter(|r| r.known == Known::ALL).count(), 429);
}

#[test]
fn every_complete_format_gives_the_partition() {
    for f in [
        "real/cp-a-copy.tar.gz",
        "real/sys-direct.tar.gz",
        "real/ls-l.txt",
        "real/ls-la.txt",
        "real/ls-l-full-iso.txt",
        "real/ls-l-long-iso.txt",
        "real/ls-l-epoch.txt",
        "real/ls-lF.txt",
        "real/ls-ln-color.txt",
        "edge/mail-quoted-ls-and-proc.txt",
    ] {
        let s = read_snapshot(fixture(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        full(&s, f);
    }
}

#[test]
fn tar_values_equal_between_live_tar_and_copy_tar() {
    // The tar of the live tree (NUL padded) and of the cp -a copy: same static values.
    let direct = read_snapshot(fixture("real/sys-direct.tar.gz")).unwrap();
    assert!(direct.notes.iter().any(|n| n.contains("NUL padding")), "{:?}", direct.notes);
    assert_eq!(direct.census.rows.iter().filter(|r| r.known == Known::ALL).count(), 429);
}

#[test]
fn plain_tar_with_nul_padding() {
    // The whole live-tree tar, decompressed in memory: a plain tar with sysfs NUL padding.
    let gz = read("real/sys-direct.tar.gz");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    assert_eq!(&plain[257..262], b"ustar");
    let s = read_snapshot_bytes("sys-direct.tar", &plain).unwrap();
    full(&s, "sys-direct.tar");
    assert_eq!(s.formats(), vec![Format::Tar]);
    // A small real subset, as a file.
    let s = read_snapshot(fixture("edge/nul-padded-subset.tar")).unwrap();
    let p: BTreeSet<Vec<String>> = s.partition();
    assert_eq!(
        p,
        [vec!["dentry".to_owned()], vec!["fsnotify_mark_connector".to_owned(), "lsm_file_cache".to_owned()]]
            .into_iter()
            .collect()
    );
    assert_eq!(s.census.cache("dentry").unwrap().object_size, 192);
    assert_known_values_match(&s, "subset tar");
}

#[test]
fn combined_inputs_give_the_partition() {
    for files in [
        &["real/ls-l.txt", "real/proc-slabinfo.txt"][..],
        &["real/proc-slabinfo.txt", "real/ls-l.txt"][..],
        &["real/slabinfo-a.txt", "real/proc-slabinfo.txt"][..],
        &["real/slabinfo-a1.txt", "real/slabinfo-lz.txt"][..],
        &["real/slabinfo-ai.txt", "real/proc-slabinfo.txt"][..],
        &["edge/mail-quoted-slabinfo-a1.txt", "real/proc-slabinfo.txt", "real/slabinfo-T.txt"][..],
    ] {
        let paths: Vec<_> = files.iter().map(|f| fixture(f)).collect();
        let s = read_snapshots(&paths).unwrap_or_else(|e| panic!("{files:?}: {e}"));
        full(&s, &format!("{files:?}"));
    }
    // One paste holding ls -l then /proc/slabinfo.
    let mut paste = read("real/ls-l.txt");
    paste.extend(read("real/proc-slabinfo.txt"));
    let s = read_snapshot_bytes("paste", &paste).unwrap();
    full(&s, "paste");
    assert_eq!(s.formats(), vec![Format::LsLong, Format::ProcSlabinfo]);
    // ls + proc: proc fills objs_per_slab and order of every cache.
    let dentry = s.census.cache("dentry").unwrap();
    assert!(dentry.known.contains(Known::OBJS_PER_SLAB | Known::ORDER | Known::SLAB_SIZE | Known::OBJECTS));
    assert_eq!((dentry.slab_size, dentry.objs_per_slab, dentry.order), (192, 21, 0));
}

#[test]
fn proc_slabinfo_alone_gives_every_instance_once() {
    let s = read_snapshot(fixture("real/proc-slabinfo.txt")).unwrap();
    assert_eq!(s.formats(), vec![Format::ProcSlabinfo]);
    assert!(s.coverage.instances && !s.coverage.complete());
    let want = expected_partition();
    let dirs = dir_of(&reference().census);
    let mut hit = BTreeSet::new();
    for row in s.census.caches() {
        assert!(hit.insert(dirs[&row.name].clone()), "two /proc lines in one instance: {}", row.name);
    }
    assert_eq!(hit.len(), want.len());
    assert!(s.notes.iter().any(|n| n.contains("names merged into an instance are invisible")));
    assert_known_values_match(&s, "proc");
}

#[test]
fn slabinfo_aliases_give_the_merged_groups() {
    let r = reference();
    let groups = r.census.groups();
    let merged = |min: usize| -> BTreeSet<Vec<String>> {
        groups
            .iter()
            .filter(|(d, n)| d.starts_with(':') && n.len() >= min)
            .map(|(_, n)| {
                let mut n = n.clone();
                n.sort();
                n
            })
            .collect()
    };
    for (f, min, fmt) in [
        ("real/slabinfo-a.txt", 2, Format::SlabinfoAliases),
        ("real/slabinfo-ai.txt", 2, Format::SlabinfoAliasesInverted),
        ("real/slabinfo-a1.txt", 1, Format::SlabinfoAliases),
    ] {
        let s = read_snapshot(fixture(f)).unwrap();
        assert_eq!(s.formats(), vec![fmt], "{f}");
        assert_eq!(s.partition(), merged(min), "{f}");
        assert!(!s.coverage.instances && s.coverage.multi_name_groups, "{f}");
        assert_eq!(s.coverage.single_name_groups, min == 1, "{f}");
        assert_known_values_match(&s, f);
        // the directory names are the kernel's
        for d in s.census.caches() {
            assert!(r.census.cache(&d.name).is_some(), "{f}: {}", d.name);
        }
    }
}

#[test]
fn slabinfo_listings_give_instances_and_values() {
    let dirs = dir_of(&reference().census);
    for f in [
        "real/slabinfo.txt",
        "real/slabinfo-S.txt",
        "real/slabinfo-L.txt",
        "real/slabinfo-lz.txt",
        "real/slabinfo-X.txt",
    ] {
        let s = read_snapshot(fixture(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(s.formats().contains(&Format::SlabinfoListing), "{f}");
        let mut hit = BTreeSet::new();
        for row in s.census.caches() {
            assert!(hit.insert(dirs[&row.name].clone()), "{f}: {}", row.name);
        }
        assert_eq!(s.coverage.instances, f.ends_with("-lz.txt"), "{f}");
        if f.ends_with("-lz.txt") {
            assert_eq!(hit.len(), 235);
        }
        assert_known_values_match(&s, f);
    }
    let x = read_snapshot(fixture("real/slabinfo-X.txt")).unwrap();
    let t = x.totals.unwrap();
    assert_eq!((t.caches, t.aliases, t.alias_targets), (235, 194, 96));
}

#[test]
fn ls_l_values_from_unique_ids() {
    let s = read_snapshot(fixture("real/ls-l.txt")).unwrap();
    let c = s.census.cache(":A-0001280").unwrap();
    assert_eq!(c.slab_size, 1280);
    assert!(c.known.contains(Known::SLAB_SIZE | Known::ALIASES) && !c.known.contains(Known::OBJECT_SIZE));
    assert!(!s.census.cache("dentry").unwrap().known.contains(Known::OBJECT_SIZE));
    assert!(s.notes.iter().any(|n| n.contains("flags beyond those in the unique id are unknown")));
    assert!(s.notes.iter().any(|n| n.contains("live counts absent")));
}

/// On a machine with a readable /sys/kernel/slab: the live directory and a
/// live `ls -l` (both taken now) give the same partition.
#[test]
fn live_directory_and_live_ls_agree() {
    let live = std::path::Path::new("/sys/kernel/slab");
    let Ok(dir) = read_snapshot(live) else {
        eprintln!("skipped: /sys/kernel/slab not readable here");
        return;
    };
    let out = std::process::Command::new("ls").arg("-l").arg(live).env("LC_ALL", "C").output().unwrap();
    let ls = read_snapshot_bytes("ls -l", &out.stdout).unwrap();
    assert_eq!(ls.partition(), dir.partition());
    let proc = std::fs::read("/proc/slabinfo").unwrap();
    let mut paste = out.stdout.clone();
    paste.extend(proc);
    assert_eq!(read_snapshot_bytes("ls+proc", &paste).unwrap().partition(), dir.partition());
}
