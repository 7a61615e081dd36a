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

use crate::flags::*;
use std::hash::BuildHasher;

use crate::slab_common::hash::{FoldBuildHasher, FoldHashMap};

macro_rules! flag_attributes {
    ($($(#[$doc:meta])* $attr:ident => $flag:expr;)*) => {
        /// The boolean flag attributes of a cache's sysfs directory, in the
        /// order of `slab_attrs[]` (mm/slub.c), each with the flag its
        /// `_show()` tests: the file reads `1` when `s->flags & FLAG`.
        pub const FLAG_ATTRIBUTES: &[(&str, SlabFlags)] = &[$((stringify!($attr), $flag)),*];

        impl SysfsFlags {
            $(
                $(#[$doc])*
                pub fn $attr(&self) -> bool {
                    self.flags.intersects($flag)
                }
            )*
        }
    };
}

/// `s->flags` as the boolean attribute files of its sysfs directory show it
/// (`SLAB_ATTR_RO(hwcache_align)`, ...). A kernel builds some of them only
/// with an option (`CONFIG_SLUB_DEBUG`, `CONFIG_ZONE_DMA`, `CONFIG_FAILSLAB`,
/// `CONFIG_KFENCE`); the model has every option, so it has every file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysfsFlags {
    flags: SlabFlags,
}

flag_attributes! {
    /// `hwcache_align`: `SLAB_HWCACHE_ALIGN`.
    hwcache_align => SLAB_HWCACHE_ALIGN;
    /// `reclaim_account`: `SLAB_RECLAIM_ACCOUNT`.
    reclaim_account => SLAB_RECLAIM_ACCOUNT;
    /// `destroy_by_rcu`: `SLAB_TYPESAFE_BY_RCU`.
    destroy_by_rcu => SLAB_TYPESAFE_BY_RCU;
    /// `sanity_checks` (`CONFIG_SLUB_DEBUG`): `SLAB_CONSISTENCY_CHECKS`.
    sanity_checks => SLAB_CONSISTENCY_CHECKS;
    /// `trace` (`CONFIG_SLUB_DEBUG`): `SLAB_TRACE`.
    trace => SLAB_TRACE;
    /// `red_zone` (`CONFIG_SLUB_DEBUG`): `SLAB_RED_ZONE`.
    red_zone => SLAB_RED_ZONE;
    /// `poison` (`CONFIG_SLUB_DEBUG`): `SLAB_POISON`.
    poison => SLAB_POISON;
    /// `store_user` (`CONFIG_SLUB_DEBUG`): `SLAB_STORE_USER`.
    store_user => SLAB_STORE_USER;
    /// `cache_dma` (`CONFIG_ZONE_DMA`): `SLAB_CACHE_DMA`.
    cache_dma => SLAB_CACHE_DMA;
    /// `failslab` (`CONFIG_FAILSLAB`): `SLAB_FAILSLAB`.
    failslab => SLAB_FAILSLAB;
    /// `skip_kfence` (`CONFIG_KFENCE`): `SLAB_SKIP_KFENCE`.
    skip_kfence => SLAB_SKIP_KFENCE;
}

impl SysfsFlags {
    /// The attributes of a cache whose `s->flags` is `flags`.
    pub fn of(flags: SlabFlags) -> SysfsFlags {
        SysfsFlags { flags }
    }

    /// Every flag attribute with its value, in `slab_attrs[]` order.
    pub fn attributes(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        FLAG_ATTRIBUTES.iter().map(|&(name, flag)| (name, self.flags.intersects(flag)))
    }

    /// The value of the attribute file `name`, `None` if it is not a flag attribute.
    pub fn get(&self, name: &str) -> Option<bool> {
        FLAG_ATTRIBUTES.iter().find(|(n, _)| *n == name).map(|&(_, flag)| self.flags.intersects(flag))
    }
}

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

/// A name in the tree, and a cache's name. A directory's name is shared by
/// its entry, its kobject, the links that point at it and its cache's
/// `sysfs_dir`; a creator's name by its handle, the instance's `s->name`
/// and list of names, and the link (or self-named directory) made for it.
/// So naming a cache allocates each name once.
pub(crate) type SysfsName = std::sync::Arc<str>;

/// An entry of the tree, and the instance that made it.
#[derive(Debug)]
struct Entry {
    node: Node,
    owner: usize,
}

#[derive(Debug)]
enum Node {
    Dir,
    Link { target: SysfsName },
}

/// An entry under its name.
struct Named {
    name: SysfsName,
    entry: Entry,
}

/// A slot of the hash table: where the entry is in [`Entries::items`], and
/// its name's hash.
#[derive(Clone, Copy)]
struct Slot {
    hash: u32,
    index: u32,
}

/// The entries, hashed by name as kernfs hashes a directory's children.
///
/// The hash table holds 8-byte slots, each an entry's index and its name's
/// hash (folded to 32 bits); the entries themselves sit in a vector in the
/// order they were made, a removed one's place reused by the next. So the
/// table a create probes at random is a fifth of what a table of the
/// entries themselves would be (at 100,000 caches, 200,000 entries: 2 MiB
/// of slots against 12 MiB, within the last-level cache), a new entry is
/// written next to the previous one, growing the table reads no entry
/// (the slots keep the hashes), and an entry is read only when its whole
/// hash matches, to compare the name.
#[derive(Default)]
struct Entries {
    table: hashbrown::HashTable<Slot>,
    items: Vec<Option<Named>>,
    /// Places in `items` whose entry was removed, the latest last.
    free: Vec<u32>,
}

impl Entries {
    fn hash(name: &str) -> u32 {
        let h = FoldBuildHasher::default().hash_one(name);
        (h ^ (h >> 32)) as u32
    }

    /// The 64-bit hash the table works with: the table indexes with its low
    /// bits and tags with its top 7, here the two ends of the 32.
    fn spread(hash: u32) -> u64 {
        (u64::from(hash) << 32) | u64::from(hash)
    }

    fn is(items: &[Option<Named>], slot: &Slot, hash: u32, name: &str) -> bool {
        slot.hash == hash && items[slot.index as usize].as_ref().is_some_and(|n| *n.name == *name)
    }

    fn get(&self, name: &str) -> Option<&Entry> {
        let hash = Self::hash(name);
        let slot = self.table.find(Self::spread(hash), |s| Self::is(&self.items, s, hash, name))?;
        self.items[slot.index as usize].as_ref().map(|n| &n.entry)
    }

    fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn remove(&mut self, name: &str) -> Option<Entry> {
        let hash = Self::hash(name);
        let Entries { table, items, free } = self;
        let found = table.find_entry(Self::spread(hash), |s| Self::is(items, s, hash, name)).ok()?;
        let index = found.remove().0.index;
        free.push(index);
        items[index as usize].take().map(|n| n.entry)
    }

    /// Adds an entry under a name no entry has.
    fn insert_new(&mut self, name: SysfsName, entry: Entry) {
        let hash = Self::hash(&name);
        debug_assert!(!self.contains(&name), "{name} is taken");
        let named = Some(Named { name, entry });
        let index = match self.free.pop() {
            Some(index) => {
                self.items[index as usize] = named;
                index
            }
            None => {
                self.items.push(named);
                u32::try_from(self.items.len() - 1).expect("fewer than 2^32 sysfs entries")
            }
        };
        self.table.insert_unique(Self::spread(hash), Slot { hash, index }, |s| Self::spread(s.hash));
    }

    fn iter(&self) -> impl Iterator<Item = (&SysfsName, &Entry)> {
        self.items.iter().flatten().map(|n| (&n.name, &n.entry))
    }
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
///
/// Entries are hashed by name ([`Entries`]); nothing reads the tree in
/// order but [`Sysfs::entries`], which sorts as `ls` does.
#[derive(Default)]
pub(crate) struct Sysfs {
    entries: Entries,
    /// Cache → the name of its directory node, while `kobj->sd` is set.
    kobjects: FoldHashMap<usize, SysfsName>,
}

impl Sysfs {
    /// `kobject_init_and_add` of a cache directory owned by `owner`; an
    /// existing entry of the same name makes it fail (the kernel logs and
    /// carries on without a directory). Returns the directory's name.
    pub(crate) fn add_dir(&mut self, name: SysfsName, owner: usize) -> Result<SysfsName, String> {
        if self.entries.contains(&name) {
            return Err(format!("SLUB: Unable to add cache {name} to sysfs"));
        }
        self.entries.insert_new(name.clone(), Entry { node: Node::Dir, owner });
        self.kobjects.insert(owner, name.clone());
        Ok(name)
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
        if matches!(self.entries.get(name), Some(Entry { node: Node::Link { .. }, owner: o }) if *o == owner) {
            self.entries.remove(name);
        }
    }

    /// `sysfs_slab_alias()` by cache `owner`: `sysfs_remove_link()` of any
    /// entry called `name` (even `target`'s own directory), then
    /// `sysfs_create_link()` to `target`'s kobject regardless of what the
    /// listing holds. It fails (`-ENOENT`) only if the kobject has no node —
    /// its directory was never added, or it was `kobject_del()`eted; a node
    /// removed by name still takes the link, which then dangles from birth.
    /// The link is named by the creator's own name (shared, not copied).
    pub(crate) fn alias(&mut self, name: &SysfsName, target: usize, owner: usize) -> Result<(), String> {
        self.entries.remove(name);
        let Some(dir) = self.kobjects.get(&target) else {
            return Err(format!("SLUB: Unable to add cache alias {name} to sysfs"));
        };
        self.entries.insert_new(name.clone(), Entry { node: Node::Link { target: dir.clone() }, owner });
        Ok(())
    }

    /// `sysfs_slab_unlink()`: `kobject_del` of `owner`'s directory `name`
    /// only (`None`: its `sysfs_slab_add()` failed, no directory was added).
    pub(crate) fn unlink_dir(&mut self, name: Option<&str>, owner: usize) {
        self.kobjects.remove(&owner);
        if let Some(name) = name
            && matches!(self.entries.get(name), Some(Entry { node: Node::Dir, owner: o }) if *o == owner)
        {
            self.entries.remove(name);
        }
    }

    /// True if `name` is a directory.
    pub(crate) fn is_dir(&self, name: &str) -> bool {
        matches!(self.entries.get(name), Some(Entry { node: Node::Dir, .. }))
    }

    /// Every entry, sorted by name as `ls` sorts them (bytewise, `LC_ALL=C`).
    pub(crate) fn entries(&self) -> Vec<SysfsEntry> {
        let mut out: Vec<SysfsEntry> = self
            .entries
            .iter()
            .map(|(name, entry)| match &entry.node {
                Node::Dir => SysfsEntry { name: name.to_string(), node: SysfsNode::Dir, dangling: false },
                Node::Link { target } => SysfsEntry {
                    name: name.to_string(),
                    node: SysfsNode::Link { target: target.to_string() },
                    dangling: !self.is_dir(target),
                },
            })
            .collect();
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of names against a plain map: adds, removes (whose places
    /// the next adds reuse) and look-ups agree, and the listing holds
    /// exactly the names left.
    #[test]
    fn entries_agree_with_a_map() {
        let mut entries = Entries::default();
        let mut model = std::collections::BTreeMap::new();
        for round in 0..3usize {
            for i in 0..2_000usize {
                let name = format!("scale-{i}");
                if (i + round) % 3 == 0 {
                    assert_eq!(entries.remove(&name).map(|e| e.owner), model.remove(&name), "{name}");
                } else if let std::collections::btree_map::Entry::Vacant(slot) = model.entry(name) {
                    entries
                        .insert_new(SysfsName::from(slot.key().as_str()), Entry { node: Node::Dir, owner: i + round });
                    slot.insert(i + round);
                }
            }
            for i in 0..2_100usize {
                let name = format!("scale-{i}");
                assert_eq!(entries.get(&name).map(|e| e.owner), model.get(&name).copied(), "{name}");
            }
            let mut listed: Vec<(String, usize)> = entries.iter().map(|(n, e)| (n.to_string(), e.owner)).collect();
            listed.sort();
            assert_eq!(listed, model.iter().map(|(n, o)| (n.clone(), *o)).collect::<Vec<_>>());
        }
        assert!(entries.items.len() < 2_000, "removed places are reused");
    }

    /// mm/slub.c: each flag attribute's `_show()` tests one flag: the table
    /// names each file and each flag once, and the named getters agree with it.
    #[test]
    fn flag_attributes_name_each_file_and_flag_once() {
        let mut names: Vec<&str> = FLAG_ATTRIBUTES.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FLAG_ATTRIBUTES.len());
        let all = FLAG_ATTRIBUTES.iter().fold(SlabFlags::EMPTY, |a, (_, f)| a | *f);
        assert_eq!(all.0.count_ones() as usize, FLAG_ATTRIBUTES.len(), "one bit per file");
        for &(name, flag) in FLAG_ATTRIBUTES {
            let on = SysfsFlags::of(flag);
            assert_eq!(on.attributes().filter(|(_, v)| *v).map(|(n, _)| n).collect::<Vec<_>>(), [name]);
            assert_eq!((on.get(name), SysfsFlags::of(all.without(flag)).get(name)), (Some(true), Some(false)));
        }
        let f = SysfsFlags::of(SLAB_HWCACHE_ALIGN | SLAB_TYPESAFE_BY_RCU | SLAB_SKIP_KFENCE);
        assert!(f.hwcache_align() && f.destroy_by_rcu() && f.skip_kfence());
        assert!(!(f.reclaim_account() || f.poison() || f.failslab() || f.cache_dma()));
    }
}
