//! Format detection from the content, and the entry points.
//!
//! A path that is a directory is a sysfs tree. A file (or `-`, standard
//! input) is sniffed from its first 64 KiB: gzip magic `1f 8b` is
//! decompressed and sniffed again; `ustar` at byte 257 is a tar; xz, zstd
//! and bzip2 magics are refused with advice; a NUL byte is binary (so
//! `/dev/zero` fails after one 64 KiB read); anything else is text, read up
//! to [`MAX_TEXT`] and classified line by line, so that a paste holding
//! several listings (`ls -l` then `/proc/slabinfo`), mail quoting, shell
//! prompts and prose around them all work.

use std::fs;
use std::io::{self, Cursor, Read};
use std::path::Path;

use super::evidence::{Evidence, Part, combine};
use super::ls::{self, LsEntry};
use super::proc_slabinfo as procfs;
use super::slabinfo_tool::{self as tool, Listing};
use super::snapshot::{ErrorKind, Format, ROOT_HINT, Snapshot, SnapshotError, Totals};
use super::text::{self, Line};
use super::{dir, tar};
use crate::input::census::Census;

/// Bytes sniffed before deciding.
pub const SNIFF: usize = 64 * 1024;
/// The largest text input read (a kernel's listings are tens of KiB).
pub const MAX_TEXT: u64 = 16 << 20;

/// Reads one snapshot from `path` (a directory, a tar/tar.gz, or a text
/// file; `-` is standard input). The format is detected from the content.
pub fn read_snapshot(path: impl AsRef<Path>) -> Result<Snapshot, SnapshotError> {
    read_snapshots(&[path])
}

/// Reads several inputs of one kernel (e.g. `ls -l` output and
/// `/proc/slabinfo`) into one snapshot: groups from whichever gives them,
/// values from whichever has them.
pub fn read_snapshots<P: AsRef<Path>>(paths: &[P]) -> Result<Snapshot, SnapshotError> {
    let parts = paths.iter().map(|p| read_part(p.as_ref())).collect::<Result<Vec<_>, _>>()?;
    if parts.is_empty() {
        return Err(SnapshotError::new(ErrorKind::Empty, "(no input)", 0, "no input given"));
    }
    combine(parts)
}

/// Reads a snapshot from bytes already in memory (`label` names it in messages).
pub fn read_snapshot_bytes(label: &str, bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    combine(vec![bytes_part(label, bytes)?])
}

fn io_error(label: &str, e: &io::Error) -> SnapshotError {
    if e.kind() == io::ErrorKind::PermissionDenied {
        SnapshotError::new(ErrorKind::PermissionDenied, label, 0, format!("{e}: {ROOT_HINT}"))
    } else {
        SnapshotError::new(ErrorKind::Io, label, 0, e.to_string())
    }
}

/// Reads up to `n` bytes.
fn read_up_to(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n.min(SNIFF));
    r.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn read_part(path: &Path) -> Result<Part, SnapshotError> {
    let label = path.display().to_string();
    if label == "-" {
        let stdin = io::stdin();
        let mut lock = stdin.lock();
        return stream_part(&label, &mut lock);
    }
    let meta = fs::metadata(path).map_err(|e| io_error(&label, &e))?;
    if meta.is_dir() {
        let (tree, notes) = dir::read_tree(&label, path)?;
        let census = tree.census(&label, &label)?;
        let mut ev = Evidence::from_census(Format::SysfsDir, &census);
        ev.notes = notes;
        return Ok(Part { label, evidence: vec![ev] });
    }
    let mut f = fs::File::open(path).map_err(|e| io_error(&label, &e))?;
    stream_part(&label, &mut f)
}

fn magic_error(label: &str, what: &str, tool: &str) -> SnapshotError {
    SnapshotError::new(
        ErrorKind::Compressed,
        label,
        0,
        format!("{what}-compressed: decompress it first (`{tool}`); only gzip is read directly"),
    )
}

fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

/// Decides from the first bytes, reading the rest of `r` only as the format needs.
fn stream_part(label: &str, r: &mut dyn Read) -> Result<Part, SnapshotError> {
    let head = read_up_to(r, SNIFF).map_err(|e| io_error(label, &e))?;
    if head.is_empty() {
        return Err(SnapshotError::new(ErrorKind::Empty, label, 0, "empty input (0 bytes)"));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut gz = flate2::read::MultiGzDecoder::new(Cursor::new(head).chain(r));
        let inner = read_up_to(&mut gz, SNIFF).map_err(|e| {
            SnapshotError::new(ErrorKind::Parse, label, 0, format!("gzip data corrupt or truncated: {e}"))
        })?;
        if inner.is_empty() {
            return Err(SnapshotError::new(ErrorKind::Empty, label, 0, "empty input (gzip of 0 bytes)"));
        }
        if is_tar(&inner) {
            return tar_part(label, Cursor::new(inner).chain(gz));
        }
        return text_stream(label, inner, &mut gz);
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(magic_error(label, "xz", "xz -d"));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(magic_error(label, "zstd", "zstd -d"));
    }
    if head.starts_with(b"BZh") && head.get(3).is_some_and(u8::is_ascii_digit) {
        return Err(magic_error(label, "bzip2", "bzip2 -d"));
    }
    if is_tar(&head) {
        return tar_part(label, Cursor::new(head).chain(r));
    }
    text_stream(label, head, r)
}

fn tar_part<R: Read>(label: &str, r: R) -> Result<Part, SnapshotError> {
    let (tree, mut notes) = tar::read_tar(label, r)?;
    let census = tree.census(label, "archive")?;
    let mut ev = Evidence::from_census(Format::Tar, &census);
    ev.notes.append(&mut notes);
    Ok(Part { label: label.to_owned(), evidence: vec![ev] })
}

fn text_stream(label: &str, mut head: Vec<u8>, rest: &mut dyn Read) -> Result<Part, SnapshotError> {
    if let Some(off) = head.iter().position(|&b| b == 0) {
        return Err(SnapshotError::new(
            ErrorKind::NotText,
            label,
            0,
            format!(
                "binary data (NUL byte at byte offset {off}) that is not a tar or gzip archive: \
                 not a slab snapshot"
            ),
        ));
    }
    if head.len() == SNIFF {
        let more = read_up_to(rest, (MAX_TEXT as usize + 1) - SNIFF)
            .map_err(|e| SnapshotError::new(ErrorKind::Io, label, 0, e.to_string()))?;
        head.extend(more);
        if head.len() as u64 > MAX_TEXT {
            return Err(SnapshotError::new(
                ErrorKind::TooLarge,
                label,
                0,
                format!("text larger than {MAX_TEXT} bytes: not a slab listing"),
            ));
        }
    }
    bytes_text_part(label, &head)
}

fn bytes_part(label: &str, bytes: &[u8]) -> Result<Part, SnapshotError> {
    let mut r = Cursor::new(bytes);
    stream_part(label, &mut r)
}

/// What the text classifier found in one input.
#[derive(Default)]
struct Found<'a> {
    ls: Vec<(&'a Line, LsEntry)>,
    ls_total: bool,
    proc_rows: Vec<(&'a Line, String)>,
    proc_version: bool,
    alias_groups: Vec<(&'a Line, String, Vec<String>)>,
    inverted: Vec<(&'a Line, String, Vec<String>)>,
    listing: Vec<(&'a Line, Listing, String)>,
    totals: Option<Totals>,
    unrecognised: Vec<&'a Line>,
    prompts: usize,
    notes: Vec<String>,
}

fn is_prompt(t: &str) -> bool {
    if t.starts_with("$ ") || t.starts_with("# ") || t.starts_with("% ") {
        return true;
    }
    // user@host:~# cmd   or   host$ cmd
    match t.split_once(' ') {
        Some((p, _)) => {
            (p.ends_with('#') || p.ends_with('$'))
                && p.len() > 1
                && p[..p.len() - 1].chars().all(|c| c.is_alphanumeric() || "@:~/._-[]".contains(c))
        }
        None => false,
    }
}

fn parse_err(label: &str, line: &Line, what: &str, m: String) -> SnapshotError {
    SnapshotError::new(ErrorKind::Parse, label, line.no, format!("{what}: {m}"))
}

fn classify<'a>(label: &str, lines: &'a [Line]) -> Result<Found<'a>, SnapshotError> {
    let mut f = Found::default();
    let mut listing: Option<Listing> = None;
    let mut in_totals = false;
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        i += 1;
        let t = l.text.trim_start();
        let cut = !l.terminated;
        if t.is_empty() {
            listing = None;
            continue;
        }
        if let Some(v) = procfs::version(t) {
            if !v.starts_with("2.") {
                return Err(parse_err(label, l, "/proc/slabinfo", format!("version {v:?} not supported (only 2.x)")));
            }
            f.proc_version = true;
            in_totals = false;
            continue;
        }
        if procfs::is_header(t) {
            continue;
        }
        if procfs::is_wrapped_head(t)
            && let Some(next) = lines.get(i)
        {
            let joined = format!("{t} {}", next.text.trim());
            if procfs::is_row(&joined) {
                f.proc_rows.push((next, joined));
                f.notes.push("a /proc/slabinfo line wrapped over two lines was joined".to_owned());
                i += 1;
                continue;
            }
        }
        if procfs::is_row(t) {
            if cut && procfs::parse_row(t).is_err() {
                f.notes.push(format!("the last line (line {}) is cut short (input truncated) and was ignored", l.no));
                continue;
            }
            f.proc_rows.push((l, t.to_owned()));
            continue;
        }
        if ls::is_total(t) {
            f.ls_total = true;
            continue;
        }
        if let Some(r) = ls::parse_line(t) {
            match r {
                Ok(e) => f.ls.push((l, e)),
                Err(_) if cut => f
                    .notes
                    .push(format!("the last line (line {}) is cut short (input truncated) and was ignored", l.no)),
                Err(m) => return Err(parse_err(label, l, "ls -l line", m)),
            }
            continue;
        }
        if let Some(k) = tool::listing_header(t) {
            listing = Some(k);
            in_totals = false;
            continue;
        }
        if t == "Slabcache Totals" {
            in_totals = true;
            continue;
        }
        if let Some(r) = tool::parse_totals(t) {
            match r {
                Ok(tot) => f.totals = Some(tot),
                Err(_) if cut => {}
                Err(m) => return Err(parse_err(label, l, "slabinfo -T", m)),
            }
            continue;
        }
        if let Some((dir, names)) = tool::parse_alias_group(t) {
            f.alias_groups.push((l, dir, names));
            continue;
        }
        if let Some(k) = listing {
            if cut && tool::parse_listing_row(k, t).is_err() {
                f.notes.push(format!("the last line (line {}) is cut short (input truncated) and was ignored", l.no));
                continue;
            }
            f.listing.push((l, k, t.to_owned()));
            continue;
        }
        if let Some((name, dir)) = tool::parse_inverted(t) {
            f.inverted.push((l, dir, vec![name]));
            continue;
        }
        if in_totals || t.starts_with("Slabs sorted by") || t.chars().all(|c| c == '-') {
            continue;
        }
        if is_prompt(t) {
            f.prompts += 1;
            continue;
        }
        f.unrecognised.push(l);
    }
    Ok(f)
}

/// The formats tried, for an unknown-format error.
const TRIED: &str = "tried: sysfs directory (the path is not a directory); tar (no `ustar` at byte 257); \
     gzip (no 1f 8b magic); /proc/slabinfo (no `name … : tunables … : slabdata …` line); \
     ls -l (no line starting with a mode string such as drwxr-xr-x or lrwxrwxrwx); \
     slabinfo -a (no `:dir <- name …` line); slabinfo -a -i (no `name -> :dir` line); \
     slabinfo listing (no `Name Objects Objsize Space Slabs/Part/Cpu O/S O %Fr %Ef Flg` header); \
     slabinfo -T (no `Slabcaches :` line); census TSV (first line is not a tab-separated header with \
     name, kind and target)";

fn is_census_tsv(first: &str) -> bool {
    let cols: Vec<&str> = first.split('\t').map(str::trim).collect();
    cols.len() > 3 && ["name", "kind", "target"].iter().all(|c| cols.contains(c))
}

fn bytes_text_part(label: &str, bytes: &[u8]) -> Result<Part, SnapshotError> {
    let lines = text::lines(label, bytes)?;
    let Some(first) = lines.iter().find(|l| !l.text.trim().is_empty()) else {
        return Err(SnapshotError::new(ErrorKind::Empty, label, 0, "empty input (only blank lines)"));
    };
    let quoted =
        std::str::from_utf8(bytes).map(|t| t.lines().any(|l| text::unquote(l).len() != l.len())).unwrap_or(false);
    if is_census_tsv(&first.text) {
        // The census TSV keeps its tabs (trailing empty fields): rebuild from the unquoted lines.
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        let plain: String = text.lines().map(|l| format!("{}\n", text::unquote(l).trim_end_matches('\r'))).collect();
        let census = Census::parse(&plain)
            .map_err(|e| SnapshotError::new(ErrorKind::Parse, label, e.line, format!("census TSV: {}", e.message)))?;
        return Ok(Part { label: label.to_owned(), evidence: vec![Evidence::from_census(Format::CensusTsv, &census)] });
    }
    let f = classify(label, &lines)?;
    let mut evidence = Vec::new();
    if !f.ls.is_empty() {
        evidence.push(ls::evidence(label, &f.ls)?);
    }
    if !f.proc_rows.is_empty() {
        evidence.push(procfs::evidence(label, &f.proc_rows, f.proc_version)?);
    }
    if !f.alias_groups.is_empty() {
        evidence.push(tool::alias_evidence(Format::SlabinfoAliases, f.alias_groups));
    }
    if !f.inverted.is_empty() {
        evidence.push(tool::alias_evidence(Format::SlabinfoAliasesInverted, f.inverted));
    }
    if !f.listing.is_empty() {
        evidence.push(tool::listing_evidence(label, &f.listing)?);
    }
    if let Some(t) = f.totals {
        let mut ev = Evidence::new(Format::SlabinfoTotals);
        ev.totals = Some(t);
        evidence.push(ev);
    }
    if evidence.is_empty() {
        let hint = if f.ls_total || f.proc_version {
            " (a header was found, but no entry line: the listing is empty or cut short)"
        } else {
            ""
        };
        return Err(SnapshotError::new(
            ErrorKind::UnknownFormat,
            label,
            0,
            format!(
                "not recognised as a slab snapshot{hint}; {TRIED}; first line: {:?}",
                first.text.chars().take(100).collect::<String>()
            ),
        ));
    }
    let first_ev = &mut evidence[0];
    first_ev.notes.extend(f.notes);
    if quoted {
        first_ev.notes.push("mail quote markers (`>`) were removed".to_owned());
    }
    if f.prompts > 0 {
        first_ev.notes.push(format!("{} shell prompt lines ignored", f.prompts));
    }
    if let Some(u) = f.unrecognised.first() {
        first_ev.notes.push(format!(
            "{} lines not recognised and ignored (first: line {}: {:?})",
            f.unrecognised.len(),
            u.no,
            u.text.chars().take(80).collect::<String>()
        ));
    }
    Ok(Part { label: label.to_owned(), evidence })
}
