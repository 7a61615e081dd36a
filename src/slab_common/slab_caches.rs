//! `slab_caches` and an index of it by merge compatibility.
//!
//! The kernel keeps `slab_caches` as a `list_head`: `list_add()` at creation,
//! `list_del()` at destroy, both O(1), and `find_mergeable()` walks it from
//! the oldest cache, testing each. [`SlabCaches`] is that list (linked
//! through a secondary map, so removal is O(1) too), and [`MergeIndex`]
//! answers `find_mergeable()` without the walk: a cache that can be a target
//! at all is filed under its `(s->size, s->flags & SLAB_MERGE_SAME)`, the two
//! values a request must match (`size <= s->size < size + sizeof(void *)`,
//! equal `SLAB_MERGE_SAME` bits, `s->size` a multiple of the alignment).
//! Whether a cache can be a target (`slab_unmergeable()`) never changes
//! while it is listed: its flags, constructor, usercopy region and sheaves
//! are fixed at creation, a boot cache's refcount stays negative, and an
//! alias stays an alias. So a request has at most `sizeof(void *)` classes
//! to look in (one, when its alignment is at least `sizeof(void *)`), and
//! the oldest target of each: the oldest of those is the walk's answer.
//! Filing, finding and taking out are O(1). `decide()`'s property test holds
//! the index against the walk.

use slotmap::SecondaryMap;

use crate::config::PTR_SIZE;
use crate::flags::{SLAB_MERGE_SAME, SlabFlags};
use crate::slab_common::hash::FoldHashMap;
use crate::slab_common::ids::CacheId;

#[derive(Clone, Copy)]
struct Link {
    prev: Option<CacheId>,
    next: Option<CacheId>,
}

/// `slab_caches`, oldest first (the kernel adds at the head and walks in
/// reverse, so `find_mergeable()` sees the oldest cache first either way).
#[derive(Default)]
pub(crate) struct SlabCaches {
    links: SecondaryMap<CacheId, Link>,
    oldest: Option<CacheId>,
    newest: Option<CacheId>,
    next_seq: u64,
}

impl SlabCaches {
    /// `list_add()`; returns the cache's creation sequence number.
    pub(crate) fn push(&mut self, id: CacheId) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.links.insert(id, Link { prev: self.newest, next: None });
        match self.newest {
            Some(n) => self.links[n].next = Some(id),
            None => self.oldest = Some(id),
        }
        self.newest = Some(id);
        seq
    }

    /// `list_del()`.
    pub(crate) fn remove(&mut self, id: CacheId) {
        let Some(link) = self.links.remove(id) else { return };
        match link.prev {
            Some(p) => self.links[p].next = link.next,
            None => self.oldest = link.next,
        }
        match link.next {
            Some(n) => self.links[n].prev = link.prev,
            None => self.newest = link.prev,
        }
    }

    /// The caches, oldest first (reversible).
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter { list: self, front: self.oldest, back: self.newest, left: self.links.len() }
    }
}

/// Iterator over [`SlabCaches`].
pub(crate) struct Iter<'a> {
    list: &'a SlabCaches,
    front: Option<CacheId>,
    back: Option<CacheId>,
    left: usize,
}

impl Iterator for Iter<'_> {
    type Item = CacheId;

    fn next(&mut self) -> Option<CacheId> {
        if self.left == 0 {
            return None;
        }
        let id = self.front?;
        self.left -= 1;
        self.front = self.list.links[id].next;
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<CacheId> {
        if self.left == 0 {
            return None;
        }
        let id = self.back?;
        self.left -= 1;
        self.back = self.list.links[id].prev;
        Some(id)
    }
}

/// The key of a merge-compatibility class: `(s->size, s->flags & SLAB_MERGE_SAME)`.
type ClassKey = (u32, SlabFlags);

/// A class's list of targets: its oldest, the head of a ring linked
/// through [`Filed`] (the head's `older` is the newest). One word a class
/// keeps the table small: a create of a new class writes one bucket of it
/// at random.
#[derive(Clone, Copy)]
struct Class {
    oldest: CacheId,
}

/// A filed target: its class, its place in `slab_caches` and its neighbours
/// in the class's ring (itself both ways when it is alone).
#[derive(Clone, Copy)]
struct Filed {
    key: ClassKey,
    seq: u64,
    older: CacheId,
    newer: CacheId,
}

/// The merge targets of `slab_caches`, by `(s->size, s->flags & SLAB_MERGE_SAME)`.
///
/// Each class is a list in `slab_caches` order, threaded through the
/// targets as `slab_caches` itself is (a ring: the oldest's `older` is the
/// newest): a cache is filed when it is listed, which makes it the newest
/// cache of all and so the newest of its class (put before the head), and
/// taken out in O(1) by its own links when it is unlisted. The head of a
/// class is its oldest target, which is all `find_mergeable()` needs of
/// it. No step allocates but the class table's own growth.
#[derive(Default)]
pub(crate) struct MergeIndex {
    classes: FoldHashMap<ClassKey, Class>,
    filed: SecondaryMap<CacheId, Filed>,
}

impl MergeIndex {
    /// Files a cache that can be a merge target; `seq` is its place in
    /// `slab_caches`, newer than every cache filed so far.
    pub(crate) fn insert(&mut self, id: CacheId, seq: u64, size: u32, flags: SlabFlags) {
        let key = (size, flags.mask(SLAB_MERGE_SAME));
        let (older, newer) = match self.classes.get(&key) {
            Some(class) => {
                let oldest = class.oldest;
                let newest = self.filed[oldest].older;
                debug_assert!(self.filed[newest].seq < seq, "filed out of slab_caches order");
                self.filed[newest].newer = id;
                self.filed[oldest].older = id;
                (newest, oldest)
            }
            None => {
                self.classes.insert(key, Class { oldest: id });
                (id, id)
            }
        };
        self.filed.insert(id, Filed { key, seq, older, newer });
    }

    /// Takes a cache out (at `list_del()`); nothing if it was never filed.
    pub(crate) fn remove(&mut self, id: CacheId) {
        let Some(f) = self.filed.remove(id) else { return };
        if f.newer == id {
            self.classes.remove(&f.key);
            return;
        }
        self.filed[f.older].newer = f.newer;
        self.filed[f.newer].older = f.older;
        let class = self.classes.get_mut(&f.key).expect("a filed cache's class exists");
        if class.oldest == id {
            class.oldest = f.newer;
        }
    }

    /// `find_mergeable()` for a normalised request: the oldest filed cache
    /// with `size <= s->size < size + sizeof(void *)`, `s->size` a multiple of
    /// `align`, and the same `SLAB_MERGE_SAME` bits.
    pub(crate) fn find(&self, size: u32, align: u32, flags: SlabFlags) -> Option<CacheId> {
        let same = flags.mask(SLAB_MERGE_SAME);
        (size..size.saturating_add(PTR_SIZE))
            .filter(|s| s & !(align - 1) == *s)
            .filter_map(|s| self.classes.get(&(s, same)))
            .map(|class| (self.filed[class.oldest].seq, class.oldest))
            .min_by_key(|(seq, _)| *seq)
            .map(|(_, id)| id)
    }

    /// The filed caches of every class, each class oldest first (for the
    /// consistency test).
    #[cfg(test)]
    pub(crate) fn classes(&self) -> Vec<(ClassKey, Vec<CacheId>)> {
        let mut out = Vec::new();
        for (&key, class) in &self.classes {
            let mut ids = vec![class.oldest];
            let mut at = self.filed[class.oldest].newer;
            while at != class.oldest {
                assert_eq!(
                    self.filed[at].older,
                    *ids.last().expect("not empty"),
                    "class {key:?}'s ring is linked both ways"
                );
                ids.push(at);
                at = self.filed[at].newer;
            }
            assert_eq!(
                self.filed[class.oldest].older,
                *ids.last().expect("not empty"),
                "class {key:?} closes at its newest"
            );
            out.push((key, ids));
        }
        out
    }
}
