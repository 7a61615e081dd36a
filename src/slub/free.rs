//! The free paths of a storage.
//!
//! Mirrors `mm/slub.c` (7.0): `slab_free()`, `free_to_pcs()`,
//! `__pcs_replace_full_main()`, `__slab_free()`, `sheaf_flush_unused()`,
//! `discard_slab()`.

use std::ptr::NonNull;

use super::sheaf::{PerCpuSheaves, SlabSheaf};
use super::slab::{OnList, Slab, set_freepointer};
use super::stat::StatItem::*;
use super::stat::Via;
use super::storage::{CacheStorage, NodeLists, discard_slab};
use crate::slub::page::PageEntry;

impl CacheStorage {
    /// Mirrors `slab_free()`: into the CPU's main sheaf, else to the slab.
    ///
    /// # Safety
    /// `object` is an allocated object of `slab`, which belongs to this storage.
    #[inline]
    pub(crate) unsafe fn slab_free(&self, slab: NonNull<Slab>, object: NonNull<u8>) {
        // SAFETY: forwarded.
        unsafe { self.slab_free_via(slab, object, Via::NONE) }
    }

    /// [`CacheStorage::slab_free`] for a call through an instance, which
    /// counts the path taken in its own counters too.
    ///
    /// # Safety
    /// As for [`CacheStorage::slab_free`].
    #[inline]
    pub(crate) unsafe fn slab_free_via(&self, slab: NonNull<Slab>, object: NonNull<u8>, via: Via<'_>) {
        let pushed =
            self.cpu_sheaves.with_local_or(|slot, pcs| self.free_to_local_pcs(slot, pcs, slab, object, via), || false);
        if !pushed {
            // Outside any critical section: another thread of this CPU slot may count too.
            self.count(via, FREE_SLOWPATH);
            // SAFETY: forwarded.
            unsafe { self.__slab_free(slab, object, via) };
        }
    }

    /// [`CacheStorage::slab_free`] after an instance's hit path missed: out
    /// of line, and without a second owner's attempt.
    ///
    /// # Safety
    /// As for [`CacheStorage::slab_free`].
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn slab_free_slow(&self, slab: NonNull<Slab>, object: NonNull<u8>, via: Via<'_>) {
        let pushed = self
            .cpu_sheaves
            .with_local_after_miss(|slot, pcs| self.free_to_local_pcs(slot, pcs, slab, object, via), || false);
        if !pushed {
            // Outside any critical section: another thread of this CPU slot may count too.
            self.count(via, FREE_SLOWPATH);
            // SAFETY: forwarded.
            unsafe { self.__slab_free(slab, object, via) };
        }
    }

    /// `slab_free()`'s test and `free_to_pcs()`: only objects of this CPU's
    /// node (`slab_nid(slab) == numa_mem_id()`) go into its sheaves.
    #[inline(always)]
    fn free_to_local_pcs(
        &self,
        slot: usize,
        pcs: &mut PerCpuSheaves,
        slab: NonNull<Slab>,
        object: NonNull<u8>,
        via: Via<'_>,
    ) -> bool {
        // SAFETY: slab is live while it has an allocated object.
        let local = unsafe { slab.as_ref().node } == pcs.node;
        local && self.free_to_pcs(slot, pcs, object, via)
    }

    /// Mirrors `free_to_pcs()`: push into the CPU's main sheaf. Runs inside
    /// the CPU slot's critical section (`local_trylock` held).
    #[inline(always)]
    pub(super) fn free_to_pcs(&self, slot: usize, pcs: &mut PerCpuSheaves, object: NonNull<u8>, via: Via<'_>) -> bool {
        let mut main = pcs.main;
        // SAFETY: inside the critical section, so the main sheaf is ours.
        if unsafe { main.as_ref().size == main.as_ref().capacity } {
            match self.pcs_replace_full_main(pcs, slot, via) {
                Some(empty) => main = empty,
                None => return false,
            }
        }
        // SAFETY: inside the critical section and the sheaf has room.
        unsafe { SlabSheaf::push(main, object.as_ptr()) };
        // Inside slot's critical section: plain increments.
        self.count_local(slot, via, FREE_PCS);
        true
    }

    /// Mirrors `__pcs_replace_full_main()`. Called inside the CPU's critical
    /// section; returns the main sheaf, now with room, or `None` to free to the slab.
    #[cold]
    pub(super) fn pcs_replace_full_main(
        &self,
        pcs: &mut PerCpuSheaves,
        slot: usize,
        via: Via<'_>,
    ) -> Option<NonNull<SlabSheaf>> {
        let capacity = self.layout.sheaf_capacity;
        if capacity == 0 {
            return None;
        }
        let main = pcs.main;
        let barn = &self.nodes[self.node_of_slot(slot)].barn;
        match pcs.spare {
            None => {
                // An empty sheaf from the barn or a new one; the full main becomes the spare.
                let empty = barn.lock().empty.pop().or_else(|| SlabSheaf::alloc(self.self_ptr(), capacity));
                match empty {
                    Some(empty) => {
                        pcs.spare = Some(main);
                        pcs.main = empty;
                        Some(empty)
                    }
                    None => {
                        self.sheaf_flush(main, via);
                        Some(main)
                    }
                }
            }
            // SAFETY: inside the critical section; the spare is this CPU's.
            Some(spare) if unsafe { spare.as_ref().size < spare.as_ref().capacity } => {
                pcs.main = spare;
                pcs.spare = Some(main);
                Some(spare)
            }
            Some(spare) => {
                // Both full: barn_replace_full_sheaf().
                let mut b = barn.lock();
                if b.full.len() >= self.barn_max {
                    // -E2BIG (BARN_PUT_FAIL): flush the spare and use it as the empty main.
                    drop(b);
                    self.count_local(slot, via, BARN_PUT_FAIL);
                    self.sheaf_flush(spare, via);
                    pcs.main = spare;
                    pcs.spare = Some(main);
                    return Some(spare);
                }
                let empty = match b.empty.pop() {
                    Some(empty) => empty,
                    None => {
                        drop(b);
                        match SlabSheaf::alloc(self.self_ptr(), capacity) {
                            Some(e) => {
                                b = barn.lock();
                                e
                            }
                            None => {
                                self.sheaf_flush(main, via);
                                return Some(main);
                            }
                        }
                    }
                };
                b.full.push(main);
                self.count_local(slot, via, BARN_PUT);
                pcs.main = empty;
                Some(empty)
            }
        }
    }

    /// Mirrors `__slab_free()`: the object goes back on its slab's freelist;
    /// a slab that was full goes to the partial tail; an empty slab beyond
    /// `min_partial` is discarded.
    ///
    /// # Safety
    /// `object` is an allocated (or sheaf-cached) object of `slab`, which
    /// belongs to this storage, and is not referenced by anyone else.
    pub(crate) unsafe fn __slab_free(&self, slab: NonNull<Slab>, object: NonNull<u8>, via: Via<'_>) {
        // SAFETY: slab is live (it has an object in use).
        let node = unsafe { slab.as_ref().node } as usize;
        let discard = {
            let mut n = self.nodes[node].list_lock.lock();
            // SAFETY: list_lock held; forwarded object ownership.
            unsafe { self.free_locked(&mut n, slab, object, via) }
                // Once list_lock drops, our object is no longer in use, and a
                // racing final kmem_cache_destroy() may release this storage:
                // take the world's memory while the lock still pins `self`.
                .map(|slab| (slab, self.memory.clone()))
        };
        if let Some((slab, memory)) = discard {
            // SAFETY: unlinked, empty, ours alone; `memory` outlives any storage.
            unsafe { discard_slab(&memory, slab) };
        }
    }

    /// The locked part of `__slab_free`; returns a slab to discard after unlocking.
    ///
    /// # Safety
    /// list_lock of the slab's node held; `object` belongs to `slab` and is not in use.
    pub(super) unsafe fn free_locked(
        &self,
        n: &mut NodeLists,
        slab: NonNull<Slab>,
        object: NonNull<u8>,
        via: Via<'_>,
    ) -> Option<NonNull<Slab>> {
        let offset = self.layout.offset;
        // SAFETY: lock held; the object is free so its free pointer slot is ours.
        unsafe {
            let (was_full, empty) = slab.as_ref().with_state(|st| {
                set_freepointer(object.as_ptr(), offset, st.freelist);
                st.freelist = object.as_ptr();
                st.inuse -= 1;
                (st.on_list == OnList::Full, st.inuse == 0)
            });
            if empty && n.partial.len() >= self.layout.min_partial as usize {
                if was_full {
                    n.full.remove(slab);
                } else {
                    n.partial.remove(slab);
                }
                n.nr_slabs -= 1;
                n.total_objects -= slab.as_ref().objects as usize;
                self.count(via, FREE_SLAB);
                return Some(slab);
            }
            if was_full {
                self.count(via, FREE_ADD_PARTIAL);
                n.full.remove(slab);
                n.partial.insert(slab, OnList::Partial, true);
            }
        }
        None
    }

    /// Mirrors `sheaf_flush_unused()`/`__kmem_cache_free_bulk()`: every object
    /// of the sheaf back to its slab. The caller owns the sheaf.
    pub(crate) fn sheaf_flush(&self, sheaf: NonNull<SlabSheaf>, via: Via<'_>) {
        self.count(via, SHEAF_FLUSH);
        // SAFETY: the caller owns the sheaf; its objects are free objects of
        // this storage's slabs, found through the page map.
        unsafe {
            let objects = SlabSheaf::objects(sheaf).to_vec();
            (*sheaf.as_ptr()).size = 0;
            self.free_objects_to_slabs(&objects, via);
        }
    }

    /// Frees cached objects back to their slabs, one node lock at a time.
    ///
    /// # Safety
    /// Every address is a sheaf-cached object of this storage.
    pub(super) unsafe fn free_objects_to_slabs(&self, objects: &[*mut u8], via: Via<'_>) {
        let mut discard = Vec::new();
        let mut current: Option<(usize, crate::sync::MutexGuard<'_, NodeLists>)>;
        current = None;
        for &object in objects {
            let PageEntry::Slab(slab) = self.page_map.lookup(object as usize) else {
                unreachable!("sheaf objects live in slabs")
            };
            // SAFETY: the slab is live while it holds this object.
            let node = unsafe { slab.as_ref().node } as usize;
            if current.as_ref().is_none_or(|(held, _)| *held != node) {
                drop(current.take());
                current = Some((node, self.nodes[node].list_lock.lock()));
            }
            let n = &mut current.as_mut().expect("locked above").1;
            // SAFETY: list_lock held; the object is ours to free.
            if let Some(s) = unsafe { self.free_locked(n, slab, NonNull::new_unchecked(object), via) } {
                discard.push(s);
            }
        }
        drop(current);
        for slab in discard {
            // SAFETY: unlinked and empty.
            unsafe { self.discard_slab(slab) };
        }
    }
}
