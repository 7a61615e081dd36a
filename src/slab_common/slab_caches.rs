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
//! alias stays an alias. So a request has at most `sizeof(void *)` buckets to
//! look in, and the oldest entry of each: the oldest of those is the walk's
//! answer. `decide()`'s property test holds the two against each other.

use std::collections::{BTreeMap, HashMap};

use slotmap::SecondaryMap;

use crate::config::PTR_SIZE;
use crate::flags::{SLAB_MERGE_SAME, SlabFlags};
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

/// The merge targets of `slab_caches`, by `(s->size, s->flags & SLAB_MERGE_SAME)`.
#[derive(Default)]
pub(crate) struct MergeIndex {
    buckets: HashMap<(u32, SlabFlags), BTreeMap<u64, CacheId>>,
    filed: SecondaryMap<CacheId, ((u32, SlabFlags), u64)>,
}

impl MergeIndex {
    /// Files a cache that can be a merge target.
    pub(crate) fn insert(&mut self, id: CacheId, seq: u64, size: u32, flags: SlabFlags) {
        let key = (size, flags.mask(SLAB_MERGE_SAME));
        self.buckets.entry(key).or_default().insert(seq, id);
        self.filed.insert(id, (key, seq));
    }

    /// Takes a cache out (at `list_del()`); nothing if it was never filed.
    pub(crate) fn remove(&mut self, id: CacheId) {
        let Some((key, seq)) = self.filed.remove(id) else { return };
        if let Some(bucket) = self.buckets.get_mut(&key) {
            bucket.remove(&seq);
            if bucket.is_empty() {
                self.buckets.remove(&key);
            }
        }
    }

    /// `find_mergeable()` for a normalised request: the oldest filed cache
    /// with `size <= s->size < size + sizeof(void *)`, `s->size` a multiple of
    /// `align`, and the same `SLAB_MERGE_SAME` bits.
    pub(crate) fn find(&self, size: u32, align: u32, flags: SlabFlags) -> Option<CacheId> {
        let same = flags.mask(SLAB_MERGE_SAME);
        (size..size.saturating_add(PTR_SIZE))
            .filter(|s| s & !(align - 1) == *s)
            .filter_map(|s| self.buckets.get(&(s, same))?.first_key_value())
            .min_by_key(|(seq, _)| **seq)
            .map(|(_, id)| *id)
    }
}
