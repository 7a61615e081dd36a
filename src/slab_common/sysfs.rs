//! `/sys/kernel/slab`: cache directories and alias symlinks.
//!
//! Mirrors `mm/slub.c`: `sysfs_slab_add()`, `sysfs_slab_alias()`,
//! `sysfs_slab_unlink()` and `create_unique_id()`. Mainline never removes an
//! alias link: after a destroy the links of the cache's names stay, dangling,
//! until a later cache of the same name replaces them. `sysfs_slab_alias()`
//! links to the target's kobject even when its name was just taken out of
//! the listing (an alias named like the target's unique id), so a link can
//! dangle from the moment it is made. The primary-cache
//! scheme removes an instance's link when the instance is destroyed — only
//! if that instance still owns it: a later cache of the same name (the
//! kernel allows two) may have taken the name over.

use std::collections::BTreeMap;

/// One entry of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SysfsNode {
    /// A cache directory.
    Dir,
    /// A symlink to a directory (which may be gone: a lingering link).
    Link {
        /// The directory it points at.
        target: String,
    },
}

/// One line of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysfsEntry {
    /// Entry name.
    pub name: String,
    /// Directory or link.
    pub node: SysfsNode,
    /// For a link: its target directory no longer exists.
    pub dangling: bool,
}

/// The slab kset. Each entry records the instance that owns it: a
/// directory's cache, or the cache whose `sysfs_slab_alias()` made a link.
/// A cache's final destroy removes its own directory, and a primary-scheme
/// instance its own link, never an entry another cache took over under the
/// same name.
///
/// Beside the listing it keeps each cache's `kobj->sd`: the directory node
/// its kobject was added as, which stays set when another entry's
/// `kernfs_remove_by_name()` takes the node out of the listing, and is
/// cleared only by the cache's own `kobject_del()`.
#[derive(Default, Debug)]
pub(crate) struct Sysfs {
    entries: BTreeMap<String, (SysfsNode, usize)>,
    /// Cache → the name of its directory node, while `kobj->sd` is set.
    kobjects: BTreeMap<usize, String>,
}

impl Sysfs {
    /// `kobject_init_and_add` of a cache directory owned by `owner`; an
    /// existing entry of the same name makes it fail (the kernel logs and
    /// carries on without a directory).
    pub(crate) fn add_dir(&mut self, name: &str, owner: usize) -> Result<(), String> {
        if self.entries.contains_key(name) {
            return Err(format!("SLUB: Unable to add cache {name} to sysfs"));
        }
        self.entries.insert(name.to_owned(), (SysfsNode::Dir, owner));
        self.kobjects.insert(owner, name.to_owned());
        Ok(())
    }

    /// `sysfs_remove_link()`: `kernfs_remove_by_name()` removes whatever
    /// entry has that name — a link, or another cache's directory.
    pub(crate) fn remove_by_name(&mut self, name: &str) {
        self.entries.remove(name);
    }

    /// Primary scheme: removes `name` only if it is a link `owner` made (an
    /// instance drops its own link, never a directory, and never the link a
    /// later same-named cache put in its place).
    pub(crate) fn remove_link(&mut self, name: &str, owner: usize) {
        if matches!(self.entries.get(name), Some((SysfsNode::Link { .. }, o)) if *o == owner) {
            self.entries.remove(name);
        }
    }

    /// `sysfs_slab_alias()` by cache `owner`: `sysfs_remove_link()` of any
    /// entry called `name` (even `target`'s own directory), then
    /// `sysfs_create_link()` to `target`'s kobject regardless of what the
    /// listing holds. It fails (`-ENOENT`) only if the kobject has no node —
    /// its directory was never added, or it was `kobject_del()`eted; a node
    /// removed by name still takes the link, which then dangles from birth.
    pub(crate) fn alias(&mut self, name: &str, target: usize, owner: usize) -> Result<(), String> {
        self.remove_by_name(name);
        let Some(dir) = self.kobjects.get(&target) else {
            return Err(format!("SLUB: Unable to add cache alias {name} to sysfs"));
        };
        self.entries.insert(name.to_owned(), (SysfsNode::Link { target: dir.clone() }, owner));
        Ok(())
    }

    /// `sysfs_slab_unlink()`: `kobject_del` of `owner`'s directory only.
    pub(crate) fn unlink_dir(&mut self, name: &str, owner: usize) {
        self.kobjects.remove(&owner);
        if matches!(self.entries.get(name), Some((SysfsNode::Dir, o)) if *o == owner) {
            self.entries.remove(name);
        }
    }

    /// True if `name` is a directory.
    pub(crate) fn is_dir(&self, name: &str) -> bool {
        matches!(self.entries.get(name), Some((SysfsNode::Dir, _)))
    }

    /// Every entry, sorted by name as `ls` sorts them.
    pub(crate) fn entries(&self) -> Vec<SysfsEntry> {
        self.entries
            .iter()
            .map(|(name, (node, _))| SysfsEntry {
                name: name.clone(),
                node: node.clone(),
                dangling: matches!(node, SysfsNode::Link { target } if !self.is_dir(target)),
            })
            .collect()
    }
}
