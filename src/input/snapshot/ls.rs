//! Reads the text of `ls -l /sys/kernel/slab`.
//!
//! Accepts any `--time-style` (the name is found from the right, not by
//! counting date fields), `-a` (`.`/`..` skipped), `-n`, `-i`/`-s` (leading
//! numbers), `-F` (trailing `/` and `@` removed), `--color=always` (escapes
//! removed before this reader sees a line) and `total N` lines.
//! Assumes names without spaces (true of every slab cache name).

use std::collections::{BTreeMap, BTreeSet};

use super::evidence::{Evidence, Group, blank_row, id_values};
use super::known::Known;
use super::snapshot::{Coverage, ErrorKind, Format, SnapshotError};
use super::sysfs_tree::{check_not_dereferenced, target_file_name};
use super::text::Line;

/// One `ls -l` entry line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LsEntry {
    /// The type letter of the mode string (`d`, `l`, `-`, …).
    pub kind: char,
    pub name: String,
    /// For a link, the target as printed.
    pub target: Option<String>,
}

fn is_mode(tok: &str) -> bool {
    let b = tok.as_bytes();
    let core = match b.len() {
        10 => b,
        11 if matches!(b[10], b'.' | b'+' | b'@') => &b[..10],
        _ => return false,
    };
    b"-dlbcpsD?".contains(&core[0]) && core[1..].iter().all(|c| b"-rwxsStTlL".contains(c))
}

fn is_count(tok: &str) -> bool {
    tok.chars().next().is_some_and(|c| c.is_ascii_digit())
        && tok.chars().all(|c| c.is_ascii_digit() || ".,KMGTPkB".contains(c))
}

/// Whether `text` is an `ls -l` `total N` line.
pub(crate) fn is_total(text: &str) -> bool {
    let mut t = text.split_whitespace();
    t.next() == Some("total") && t.next().is_some_and(is_count) && t.next().is_none()
}

fn unquote_name(s: &str) -> &str {
    if s.len() >= 2 && s.starts_with('\'') && s.ends_with('\'') { &s[1..s.len() - 1] } else { s }
}

/// `Some` if the line is an `ls -l` entry (it starts, after at most two
/// numbers, with a mode string); `Err` if it is one but malformed.
pub(crate) fn parse_line(text: &str) -> Option<Result<LsEntry, String>> {
    let toks: Vec<&str> = text.split_whitespace().collect();
    let lead = toks.iter().take(2).take_while(|t| is_count(t)).count();
    let mode = *toks.get(lead)?;
    if !is_mode(mode) {
        return None;
    }
    let kind = mode.chars().next().unwrap_or('-');
    // Skip mode, then find the name from the right.
    let after_mode = text.find(mode).map(|p| &text[p + mode.len()..]).unwrap_or("");
    let (left, target) = match (kind, after_mode.split_once(" -> ")) {
        ('l', Some((l, t))) => (l, Some(t.trim())),
        ('l', None) => return Some(Err("symlink without ` -> target`".to_owned())),
        (_, _) => (after_mode, None),
    };
    let left_toks: Vec<&str> = left.split_whitespace().collect();
    if left_toks.len() < 4 {
        return Some(Err(format!(
            "expected link count, owner, group, size and date before the name, found {:?}",
            left.trim()
        )));
    }
    let mut name = unquote_name(left_toks[left_toks.len() - 1]).to_owned();
    if kind == 'd' && name.len() > 1 {
        name = name.trim_end_matches('/').to_owned();
    }
    if kind == 'l' && name.ends_with('@') && name.len() > 1 {
        name.pop();
    }
    let target = match target {
        Some(t) => {
            let t = unquote_name(t);
            if t.is_empty() {
                return Some(Err("empty symlink target".to_owned()));
            }
            Some(t.to_owned())
        }
        None => None,
    };
    Some(Ok(LsEntry { kind, name, target }))
}

/// Builds the evidence from the `ls -l` lines of an input (already
/// classified as such). `lines` holds `(line, entry)`.
pub(crate) fn evidence(source: &str, lines: &[(&Line, LsEntry)]) -> Result<Evidence, SnapshotError> {
    let mut ev = Evidence::new(Format::LsLong);
    let mut dirs: BTreeMap<String, usize> = BTreeMap::new();
    let mut links: BTreeMap<String, (String, &Line)> = BTreeMap::new();
    let mut files = 0usize;
    for (line, e) in lines {
        if e.name == "." || e.name == ".." {
            continue;
        }
        if dirs.contains_key(&e.name) || links.contains_key(&e.name) {
            return Err(SnapshotError::new(
                ErrorKind::Parse,
                source,
                line.no,
                format!("`{}` listed twice (two ls -l listings pasted together?)", e.name),
            ));
        }
        match e.kind {
            'd' => {
                dirs.insert(e.name.clone(), line.no);
            }
            'l' => {
                let raw = e.target.as_deref().unwrap_or_default();
                let Some(t) = target_file_name(raw) else {
                    return Err(SnapshotError::new(
                        ErrorKind::Parse,
                        source,
                        line.no,
                        format!("symlink `{}`: target {raw:?} has no file name", e.name),
                    ));
                };
                links.insert(e.name.clone(), (t.to_owned(), line));
            }
            _ => files += 1,
        }
    }
    // A link to a directory the listing does not show.
    let mut dropped = Vec::new();
    for (name, (target, line)) in &links {
        if !dirs.contains_key(target) {
            if !line.terminated {
                dropped.push(name.clone());
                continue;
            }
            return Err(SnapshotError::new(
                ErrorKind::Parse,
                source,
                line.no,
                format!(
                    "symlink `{name}` points to `{target}`, which is not a directory of the listing \
                     (listing truncated, or of another directory than /sys/kernel/slab?)"
                ),
            ));
        }
    }
    for d in &dropped {
        links.remove(d);
        ev.notes.push(format!("the last line (`{d}`) is cut short (input truncated) and was ignored"));
    }
    if dirs.is_empty() {
        return Err(SnapshotError::new(
            ErrorKind::UnknownFormat,
            source,
            lines.first().map_or(0, |(l, _)| l.no),
            "ls -l listing shows no directory: list /sys/kernel/slab itself (`ls -l /sys/kernel/slab`)",
        ));
    }
    let link_map: BTreeMap<String, String> = links.iter().map(|(n, (t, _))| (n.clone(), t.clone())).collect();
    if dropped.is_empty() {
        check_not_dereferenced(source, &mut dirs.keys().map(String::as_str), &link_map)?;
    }
    let mut members: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, (target, _)) in &links {
        members.entry(target.as_str()).or_default().push(name.clone());
    }
    let mut merged_with_counts = BTreeSet::new();
    for (dir, line) in &dirs {
        let (names, values) = if dir.starts_with(':') {
            let names = members.get(dir.as_str()).cloned().unwrap_or_default();
            let mut v = id_values(dir).unwrap_or_else(blank_row);
            v.aliases = names.len().saturating_sub(1) as u32;
            v.known = v.known | Known::ALIASES;
            merged_with_counts.insert(dir.clone());
            (names, v)
        } else {
            let mut v = blank_row();
            v.aliases = 0;
            v.known = Known::ALIASES;
            if members.contains_key(dir.as_str()) {
                // A link into a self-named directory: kernels do not make these, but keep what is there.
                let mut n = vec![dir.clone()];
                n.extend(members[dir.as_str()].iter().cloned());
                v.known = Known::NONE;
                (n, v)
            } else {
                (vec![dir.clone()], v)
            }
        };
        ev.groups.push(Group { dir: Some(dir.clone()), names, values, line: *line });
    }
    // A listing cut short lost the names after the cut (and maybe a directory's only link).
    ev.coverage = if dropped.is_empty() {
        Coverage::FULL
    } else {
        Coverage { instances: false, multi_name_groups: false, single_name_groups: false }
    };
    ev.notes.push(
        "ls -l gives names, directories and links only: no attribute values, no live counts; \
         for merged directories slab_size, cache_dma, reclaim_account and sanity_checks come from the unique id, \
         SLAB_ACCOUNT/SLAB_CACHE_DMA32 from its letters (UniqueId::parse), aliases = links - 1 (assumes no name was \
         created twice); flags beyond those in the unique id are unknown"
            .to_owned(),
    );
    if files > 0 {
        ev.notes.push(format!("{files} regular files in the listing ignored"));
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_time_styles() {
        for l in [
            "lrwxrwxrwx 1 root root 0 Dec  1 21:06 AF_VSOCK -> :A-0001280",
            "lrwxrwxrwx 1 root root 0 2026-12-01 21:06:12.123456789 +0000 AF_VSOCK -> :A-0001280",
            "lrwxrwxrwx 1 0 0 0 1764622000 AF_VSOCK -> ../slab/:A-0001280/",
            "  1234 0 lrwxrwxrwx 1 root root 0 2026-12-01 21:06 AF_VSOCK@ -> :A-0001280/",
        ] {
            let e = parse_line(l).unwrap().unwrap();
            assert_eq!((e.kind, e.name.as_str()), ('l', "AF_VSOCK"), "{l}");
            assert_eq!(target_file_name(e.target.as_deref().unwrap()), Some(":A-0001280"), "{l}");
        }
        let d = parse_line("drwxr-xr-x 2 root root 0 Dec  1 21:06 :0000024/").unwrap().unwrap();
        assert_eq!((d.kind, d.name.as_str()), ('d', ":0000024"));
        assert!(parse_line("lrwxrwxrwx 1 root root 0 Dec  1 21:06 AF_VSOCK").unwrap().is_err());
        assert!(parse_line("hello world").is_none());
        assert!(is_total("total 0") && !is_total("total"));
    }
}
