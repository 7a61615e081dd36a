//! Reads a tar (optionally gzip-compressed) of `/sys/kernel/slab` or of a
//! copy of it, streaming, without extracting to disk.
//!
//! Works for `tar cf - -C /sys/kernel slab` (GNU tar stores each sysfs file
//! with the 4096 bytes `stat` reports, the value then NUL padding: "File
//! shrank by N bytes; padding with zeros"), for a tar of a `cp -a` copy, and
//! for any leading path (`slab/`, `./slab/`, `sys/kernel/slab/`, none): the
//! root is the directory holding the first `*/object_size`.

use std::io::Read;

use super::snapshot::{DEREF_HINT, ErrorKind, SnapshotError};
use super::sysfs_tree::{ATTRS, MAX_ATTR, MAX_ENTRIES, Tree, target_file_name};

/// The most bytes of entry data an archive may declare in total.
pub(crate) const MAX_TOTAL: u64 = 8 << 30;

fn utf8(source: &str, index: usize, what: &str, bytes: &[u8]) -> Result<String, SnapshotError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        SnapshotError::new(
            ErrorKind::NotUtf8,
            source,
            0,
            format!(
                "tar entry {index} ({:?}): {what} not UTF-8 at byte offset {}; slab cache names are ASCII",
                String::from_utf8_lossy(bytes),
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Path components without empty and `.` parts.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

enum Entry {
    Link(Vec<String>, String),
    Attr(Vec<String>, String),
}

/// Reads the archive into a tree; `notes` says what was assumed.
pub(crate) fn read_tar<R: Read>(source: &str, reader: R) -> Result<(Tree, Vec<String>), SnapshotError> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| SnapshotError::new(ErrorKind::Parse, source, 0, format!("not a readable tar archive: {e}")))?;
    let mut found: Vec<Entry> = Vec::new();
    let mut total: u64 = 0;
    let mut last_path = String::from("(start)");
    let mut padded = 0usize;
    let mut hard_links = 0usize;
    for (index, entry) in entries.enumerate() {
        if index >= MAX_ENTRIES {
            return Err(SnapshotError::new(
                ErrorKind::TooLarge,
                source,
                0,
                format!("more than {MAX_ENTRIES} tar entries"),
            ));
        }
        let mut entry = entry.map_err(|e| {
            SnapshotError::new(
                ErrorKind::Parse,
                source,
                0,
                format!("tar entry {index} (after {last_path:?}): {e} (archive truncated or corrupt)"),
            )
        })?;
        let path = utf8(source, index, "path", &entry.path_bytes())?;
        last_path = path.clone();
        let size = entry.header().entry_size().unwrap_or(0);
        total = total.saturating_add(size);
        if total > MAX_TOTAL {
            return Err(SnapshotError::new(
                ErrorKind::TooLarge,
                source,
                0,
                format!("tar entries declare more than {MAX_TOTAL} bytes: not a slab snapshot"),
            ));
        }
        let comps: Vec<String> = components(&path).into_iter().map(str::to_owned).collect();
        let Some(base) = comps.last().cloned() else { continue };
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            let target = entry.link_name_bytes().map(|b| utf8(source, index, "symlink target", &b)).transpose()?;
            let target = target.unwrap_or_default();
            let t = target_file_name(&target).ok_or_else(|| {
                SnapshotError::new(
                    ErrorKind::Parse,
                    source,
                    0,
                    format!("tar entry {index} ({path:?}): symlink target {target:?} has no file name"),
                )
            })?;
            found.push(Entry::Link(comps, t.to_owned()));
        } else if kind.is_hard_link() {
            hard_links += 1;
        } else if (kind.is_file() || kind == tar::EntryType::Continuous)
            && ATTRS.contains(&base.as_str())
            && comps.len() >= 2
        {
            if size > MAX_ATTR {
                return Err(SnapshotError::new(
                    ErrorKind::TooLarge,
                    source,
                    0,
                    format!("tar entry {index} ({path:?}): {size} bytes, larger than a sysfs attribute can be"),
                ));
            }
            let mut buf = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut buf).map_err(|e| {
                SnapshotError::new(
                    ErrorKind::Parse,
                    source,
                    0,
                    format!("tar entry {index} ({path:?}): {e} (truncated?)"),
                )
            })?;
            let before = buf.len();
            while buf.last() == Some(&0) {
                buf.pop();
            }
            if buf.len() < before {
                padded += 1;
            }
            found.push(Entry::Attr(comps, utf8(source, index, "content", &buf)?));
        }
    }
    // The root: the parent of the first cache directory holding object_size.
    let root: Option<Vec<String>> = found.iter().find_map(|e| match e {
        Entry::Attr(c, _) if c.last().map(String::as_str) == Some("object_size") => Some(c[..c.len() - 2].to_vec()),
        _ => None,
    });
    let Some(root) = root else {
        let hint = if hard_links > 0 { " (its files are hard links)" } else { "" };
        return Err(SnapshotError::new(
            ErrorKind::UnknownFormat,
            source,
            0,
            format!("tar archive has no */object_size file{hint}: not a tar of /sys/kernel/slab"),
        ));
    };
    let under = |c: &[String], depth: usize| c.len() == root.len() + depth && c[..root.len()] == root[..];
    let mut tree = Tree::default();
    for e in found {
        match e {
            Entry::Link(c, t) if under(&c, 1) => {
                tree.links.insert(c[root.len()].clone(), t);
            }
            Entry::Attr(c, text) if under(&c, 2) => {
                tree.dirs.entry(c[root.len()].clone()).or_default().insert(c[root.len() + 1].clone(), text);
            }
            _ => {}
        }
    }
    // A directory whose name is also a link: a copy made with links followed and then relinked? Refuse.
    if let Some(both) = tree.links.keys().find(|l| tree.dirs.contains_key(*l)) {
        return Err(SnapshotError::new(
            ErrorKind::Dereferenced,
            source,
            0,
            format!("`{both}` is both a symlink and a directory in the archive: {DEREF_HINT}"),
        ));
    }
    let mut notes = Vec::new();
    if !root.is_empty() {
        notes.push(format!("tree read from `{}/` in the archive", root.join("/")));
    }
    if padded > 0 {
        notes.push(format!(
            "{padded} attribute files carried NUL padding (a tar of the live sysfs tree); the padding was dropped"
        ));
    }
    Ok((tree, notes))
}
