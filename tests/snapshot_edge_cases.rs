//! Hand-made edge cases and the error messages.

#[path = "snapshot_common/mod.rs"]
mod common;
use common::*;
use std::time::{Duration, Instant};

use slabmerge::input::snapshot::{ErrorKind, read_snapshot, read_snapshot_bytes};

fn err(label: &str, bytes: &[u8]) -> slabmerge::input::snapshot::SnapshotError {
    read_snapshot_bytes(label, bytes).expect_err("must fail")
}

#[test]
fn dereferenced_copies_are_refused_with_advice() {
    for f in ["real/cp-rL-copy.tar.gz", "real/ls-l-cp-rL-copy.txt"] {
        let e = read_snapshot(fixture(f)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Dereferenced, "{f}: {e}");
        assert!(e.message.contains("cp -a") && e.message.contains("tar"), "{e}");
        assert!(e.message.contains("`:0000024` (and 95 more)"), "{e}");
    }
    // The copied directory itself: extract the dereferenced tar to a temp dir.
    let tmp = std::env::temp_dir().join(format!("slab-snapshot-deref-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let gz = read("real/cp-rL-copy.tar.gz");
    // Only the first dozen caches: thousands of small files are slow to write
    // (and far slower under valgrind), and a dozen show the dereferencing.
    let mut kept: Vec<String> = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let parts: Vec<String> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if let Some(cache) = parts.get(1)
            && !kept.contains(cache)
        {
            if kept.len() == 12 {
                // The archive is written a directory at a time: the rest is other caches.
                break;
            }
            kept.push(cache.clone());
        }
        entry.unpack_in(&tmp).unwrap();
    }
    assert_eq!(kept.len(), 12);
    let e = read_snapshot(tmp.join("slabcopyL")).unwrap_err();
    let _ = std::fs::remove_dir_all(&tmp);
    assert_eq!(e.kind, ErrorKind::Dereferenced, "{e}");
}

#[test]
fn mail_quotes_prompts_and_wrapping() {
    let s = read_snapshot(fixture("edge/mail-quoted-ls-and-proc.txt")).unwrap();
    assert!(s.notes.iter().any(|n| n.contains("mail quote markers")), "{:?}", s.notes);
    assert!(s.notes.iter().any(|n| n.contains("wrapped over two lines")), "{:?}", s.notes);
    assert!(s.notes.iter().any(|n| n.contains("shell prompt")), "{:?}", s.notes);
    assert_eq!(s.partition(), expected_partition());
}

#[test]
fn truncated_inputs() {
    // ls -l cut in the middle of its last line: that line is dropped, with a note.
    let s = read_snapshot(fixture("edge/truncated-ls-l.txt")).unwrap();
    assert!(s.notes.iter().any(|n| n.contains("cut short")), "{:?}", s.notes);
    assert!(!s.census.rows.iter().any(|r| r.name == "xt_hashlimit"));
    assert!(!s.coverage.complete());
    // A tar cut in the middle of an entry is an error naming where.
    let tar = read("edge/nul-padded-subset.tar");
    let e = err("cut.tar", &tar[..tar.len() / 2 + 100]);
    assert_eq!(e.kind, ErrorKind::Parse, "{e}");
    assert!(e.message.contains("truncated"), "{e}");
    // A gzip cut short.
    let gz = read("real/cp-a-copy.tar.gz");
    let e = err("cut.tar.gz", &gz[..gz.len() / 2]);
    assert!(matches!(e.kind, ErrorKind::Parse), "{e}");
    // /proc/slabinfo cut mid-line.
    let p = read("real/proc-slabinfo.txt");
    let s = read_snapshot_bytes("cut-proc", &p[..p.len() - 20]).unwrap();
    assert_eq!(s.census.caches().count(), 234);
}

#[test]
fn non_utf8_is_named_with_its_offset() {
    let e = read_snapshot(fixture("edge/non-utf8-ls-l.txt")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotUtf8);
    assert!(e.line > 0 && e.message.contains("byte offset") && e.message.contains("ff"), "{e}");
    // in a tar entry name
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o400);
    {
        let name = &mut h.as_old_mut().name;
        let p = b"slab/dent\xffry/object_size";
        name[..p.len()].copy_from_slice(p);
    }
    h.set_cksum();
    b.append(&h, &b"192\n"[..]).unwrap();
    let bytes = b.into_inner().unwrap();
    let e = err("bad.tar", &bytes);
    assert_eq!(e.kind, ErrorKind::NotUtf8, "{e}");
    assert!(e.message.contains("tar entry 0"), "{e}");
}

#[test]
fn empty_binary_unknown_compressed() {
    assert_eq!(err("e", b"").kind, ErrorKind::Empty);
    assert_eq!(err("e", b"\n\n  \n").kind, ErrorKind::Empty);
    let e = err("u", b"hello world\nthis is not slab data\n");
    assert_eq!(e.kind, ErrorKind::UnknownFormat);
    for tried in ["tar", "ls -l", "/proc/slabinfo", "slabinfo -a", "census TSV", "slabinfo -T"] {
        assert!(e.message.contains(tried), "{tried}: {e}");
    }
    assert_eq!(err("x", &[0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2]).kind, ErrorKind::Compressed);
    assert_eq!(err("b", &[1, 2, 0, 3]).kind, ErrorKind::NotText);
    assert_eq!(err("t", b"slabinfo - version: 1.1\n").kind, ErrorKind::Parse);
    // only totals: names nothing
    let e = read_snapshot(fixture("real/slabinfo-T.txt")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Empty, "{e}");
    let e = read_snapshot("/nonexistent/slab").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
}

#[test]
fn dev_zero_fails_fast() {
    if !std::path::Path::new("/dev/zero").exists() {
        return;
    }
    let t = Instant::now();
    let e = read_snapshot("/dev/zero").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotText, "{e}");
    assert!(t.elapsed() < limit(Duration::from_secs(1)));
    // Endless text (no NUL): bounded by MAX_TEXT, then refused.
    if std::path::Path::new("/usr/bin/yes").exists() {
        let mut child =
            std::process::Command::new("/usr/bin/yes").stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut buf = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut out, slabmerge::input::snapshot::detect::MAX_TEXT + 10),
            &mut buf,
        )
        .unwrap();
        child.kill().unwrap();
        let _ = child.wait();
        let t = Instant::now();
        let e = err("yes", &buf);
        assert_eq!(e.kind, ErrorKind::TooLarge, "{e}");
        assert!(t.elapsed() < limit(Duration::from_secs(5)));
    }
    let long = vec![b'a'; slabmerge::input::snapshot::text::MAX_LINE + 1];
    assert_eq!(err("long", &long).kind, ErrorKind::TooLarge);
}

#[test]
fn conflicting_inputs_are_refused() {
    // Same kernel names, a changed static value: not of one kernel.
    let p = String::from_utf8(read("real/proc-slabinfo.txt")).unwrap();
    let line = p.lines().find(|l| l.starts_with("dentry ")).unwrap().to_owned();
    let bad = p.replace(&line, &line.replacen("192", "200", 1));
    let mut paste = read("real/ls-l.txt");
    paste.extend(p.as_bytes());
    assert!(read_snapshot_bytes("ok", &paste).is_ok());
    let s = read_snapshot(fixture("real/slabinfo-lz.txt")).unwrap();
    assert!(s.census.cache("dentry").is_some());
    let mut paste = read("real/slabinfo-lz.txt");
    paste.extend(b"\n");
    paste.extend(bad.as_bytes());
    paste.extend(b"\n");
    paste.extend(read("real/ls-l.txt"));
    // dentry is self-named: no unique id gives its slab_size, so /proc's (changed) 200 is taken.
    let s = read_snapshot_bytes("mixed", &paste).unwrap();
    assert_eq!(s.census.cache("dentry").unwrap().slab_size, 200);
    // A merged cache whose /proc size disagrees with its unique id.
    let dirs = dir_of(&reference().census);
    let merged_line = p
        .lines()
        .find(|l| l.split_whitespace().next().is_some_and(|n| dirs.get(n).is_some_and(|d| d.starts_with(':'))))
        .unwrap()
        .to_owned();
    let mut f: Vec<String> = merged_line.split_whitespace().map(str::to_owned).collect();
    f[3] = (f[3].parse::<u32>().unwrap() + 8).to_string();
    let bad = p.replace(&merged_line, &f.join(" "));
    let mut paste = read("real/ls-l.txt");
    paste.extend(bad.as_bytes());
    let e = err("merged", &paste);
    assert_eq!(e.kind, ErrorKind::Conflict, "{e}");
    assert!(e.message.contains("slab_size"), "{e}");
}

#[test]
fn non_root_gets_the_root_advice() {
    let setpriv = std::path::Path::new("/usr/bin/setpriv");
    let is_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false);
    if !is_root || !setpriv.exists() || !std::path::Path::new("/sys/kernel/slab").exists() {
        eprintln!("skipped: needs root, setpriv and /sys/kernel/slab");
        return;
    }
    let out = std::process::Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_slabmerge"),
            "--snapshot",
            "/sys/kernel/slab",
            "--no-memory",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Permission denied") && stderr.contains("run as root") && stderr.contains("sudo cp -a"),
        "{stderr}"
    );
}
