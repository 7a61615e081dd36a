//! Reads a directory laid out like `/sys/kernel/slab`: the live tree, or a
//! `cp -a` copy (also `DEST` when the copy is `DEST/slab`).

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use super::snapshot::{ErrorKind, ROOT_HINT, SnapshotError};
use super::sysfs_tree::{ATTRS, MAX_ATTR, MAX_ENTRIES, Tree, target_file_name};

fn io_err(source: &str, path: &Path, e: &io::Error) -> SnapshotError {
    if e.kind() == io::ErrorKind::PermissionDenied {
        SnapshotError::new(ErrorKind::PermissionDenied, source, 0, format!("{}: {e}: {ROOT_HINT}", path.display()))
    } else {
        SnapshotError::new(ErrorKind::Io, source, 0, format!("{}: {e}", path.display()))
    }
}

fn utf8_name(source: &str, parent: &Path, name: std::ffi::OsString) -> Result<String, SnapshotError> {
    name.into_string().map_err(|raw| {
        use std::os::unix::ffi::OsStrExt;
        let bytes = raw.as_bytes();
        let off = std::str::from_utf8(bytes).map_err(|e| e.valid_up_to()).err().unwrap_or(0);
        SnapshotError::new(
            ErrorKind::NotUtf8,
            source,
            0,
            format!(
                "{}: entry {:?} is not UTF-8 (byte offset {off} in the name, byte {:02x}); slab cache names are ASCII",
                parent.display(),
                raw.to_string_lossy(),
                bytes.get(off).copied().unwrap_or(0)
            ),
        )
    })
}

/// Reads at most [`MAX_ATTR`] bytes of an attribute; `Ok(None)` if absent.
fn read_attr(source: &str, file: &Path) -> Result<Option<String>, SnapshotError> {
    let f = match fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(source, file, &e)),
    };
    let mut buf = Vec::new();
    f.take(MAX_ATTR + 1).read_to_end(&mut buf).map_err(|e| io_err(source, file, &e))?;
    if buf.len() as u64 > MAX_ATTR {
        return Err(SnapshotError::new(
            ErrorKind::TooLarge,
            source,
            0,
            format!("{}: larger than {MAX_ATTR} bytes: not a sysfs attribute", file.display()),
        ));
    }
    while buf.last() == Some(&0) {
        buf.pop();
    }
    String::from_utf8(buf).map(Some).map_err(|e| {
        SnapshotError::new(
            ErrorKind::NotUtf8,
            source,
            0,
            format!("{}: not UTF-8 at byte offset {}", file.display(), e.utf8_error().valid_up_to()),
        )
    })
}

/// Reads the tree at `path` into memory.
pub(crate) fn read_tree(source: &str, path: &Path) -> Result<(Tree, Vec<String>), SnapshotError> {
    let mut notes = Vec::new();
    let mut tree = Tree::default();
    let mut subdirs = Vec::new();
    let mut count = 0usize;
    for entry in fs::read_dir(path).map_err(|e| io_err(source, path, &e))? {
        let entry = entry.map_err(|e| io_err(source, path, &e))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(SnapshotError::new(ErrorKind::TooLarge, source, 0, format!("more than {MAX_ENTRIES} entries")));
        }
        let entry_path = entry.path();
        let name = utf8_name(source, path, entry.file_name())?;
        let ft = entry.file_type().map_err(|e| io_err(source, &entry_path, &e))?;
        if ft.is_symlink() {
            let target = fs::read_link(&entry_path).map_err(|e| io_err(source, &entry_path, &e))?;
            let target = utf8_name(source, path, target.into_os_string())?;
            let t = target_file_name(&target).ok_or_else(|| {
                SnapshotError::new(
                    ErrorKind::Parse,
                    source,
                    0,
                    format!("{}: symlink target {target:?} has no file name", entry_path.display()),
                )
            })?;
            tree.links.insert(name, t.to_owned());
        } else if ft.is_dir() {
            subdirs.push(name);
        }
    }
    // `cp -a /sys/kernel/slab DEST` into an existing DEST makes DEST/slab.
    let looks_like_caches = subdirs.iter().any(|d| path.join(d).join("object_size").exists());
    if !looks_like_caches && tree.links.is_empty() && subdirs.iter().any(|d| d == "slab") {
        let (t, mut n) = read_tree(source, &path.join("slab"))?;
        n.insert(0, format!("read {}", path.join("slab").display()));
        return Ok((t, n));
    }
    for dir in subdirs {
        let dir_path = path.join(&dir);
        let mut attrs = std::collections::BTreeMap::new();
        for attr in ATTRS {
            if let Some(text) = read_attr(source, &dir_path.join(attr))? {
                attrs.insert(attr.to_owned(), text);
            }
        }
        if attrs.is_empty() {
            notes.push(format!("directory `{dir}` has no slab attribute: skipped"));
            continue;
        }
        tree.dirs.insert(dir, attrs);
    }
    Ok((tree, notes))
}
