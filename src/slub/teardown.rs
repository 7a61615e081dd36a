//! Flushing, shrinking and shutting down a storage, and its checks and figures.
//!
//! Mirrors `mm/slub.c` (7.0): `flush_all()`/`pcs_flush_all()`,
//! `barn_shrink()`, `__kmem_cache_shrink()`, `__kmem_cache_shutdown()`,
//! `free_consistency_checks()`, and the counters slabinfo reads.

use std::ptr::NonNull;

use super::sheaf::SlabSheaf;
use super::slab::{OnList, Slab, get_freepointer};
use super::stat::Via;
use super::storage::{CacheStorage, FreeCheck, StorageStats};

impl CacheStorage {
    /// Mirrors `pcs_flush_all()` run on every CPU (`flush_all`): main and
    /// spare back to slabs; the spare sheaf is freed.
    ///
    /// The kernel queues the flush on each CPU; here one remote protocol run
    /// takes every CPU's slot with one heavy fence for all of them
    /// (`lock_remote_all`), empties the main sheaves and takes the spares,
    /// and lets the CPUs go again before any object reaches a slab, so no
    /// `list_lock` is taken inside a per-cpu critical section of another CPU.
    pub(crate) fn flush_all(&self) {
        let mut objects = Vec::new();
        let mut spares = Vec::new();
        let mut take = |pcs: &mut super::sheaf::PerCpuSheaves| {
            // SAFETY: we hold the CPU's sheaves (remote protocol), so its
            // main sheaf is ours until the guard drops.
            unsafe {
                objects.extend_from_slice(SlabSheaf::objects(pcs.main));
                (*pcs.main.as_ptr()).size = 0;
            }
            spares.extend(pcs.spare.take());
        };
        // BROKEN ON PURPOSE, loom only (`Broken::FlushWithoutCpuLock`):
        // flushes the CPUs' sheaves while those CPUs may be using them.
        #[cfg(loom)]
        if self.broken == Some(crate::config::Broken::FlushWithoutCpuLock) {
            for slot in self.cpu_sheaves.iter() {
                // SAFETY: none; this is the seeded bug loom must report.
                unsafe { slot.with_unprotected(&mut take) };
            }
        } else {
            for mut g in self.cpu_sheaves.lock_remote_all() {
                g.with_mut(&mut take);
            }
        }
        #[cfg(not(loom))]
        for mut g in self.cpu_sheaves.lock_remote_all() {
            g.with_mut(&mut take);
        }
        // SAFETY: the objects were cached in this storage's sheaves, which no
        // longer list them.
        unsafe { self.free_objects_to_slabs(&objects, Via::NONE) };
        for spare in spares {
            self.sheaf_flush(spare, Via::NONE);
            // SAFETY: taken off the CPU inside the remote protocol; ours alone.
            unsafe { SlabSheaf::free(spare) };
        }
    }

    /// Mirrors `barn_shrink()`: flush every full sheaf and free all sheaves.
    pub(super) fn barn_shrink(&self, node: usize) {
        let (full, empty) = {
            let mut barn = self.nodes[node].barn.lock();
            (std::mem::take(&mut barn.full), std::mem::take(&mut barn.empty))
        };
        for sheaf in full.into_iter().chain(empty) {
            self.sheaf_flush(sheaf, Via::NONE);
            // SAFETY: taken out of the barn; ours alone.
            unsafe { SlabSheaf::free(sheaf) };
        }
    }

    /// Mirrors `__kmem_cache_shrink()`: flush sheaves, free empty slabs, and
    /// sort partial slabs so the fullest come first (`SHRINK_PROMOTE_MAX`).
    /// Returns true if any slab remains.
    pub(crate) fn shrink(&self) -> bool {
        const SHRINK_PROMOTE_MAX: u32 = 32;
        self.flush_all();
        let mut any_left = false;
        for node in 0..self.nodes.len() {
            self.barn_shrink(node);
            let mut discard = Vec::new();
            {
                let mut n = self.nodes[node].list_lock.lock();
                // SAFETY: list_lock held for every list operation below.
                unsafe {
                    let slabs = n.partial.to_vec();
                    let mut keep = Vec::new();
                    for slab in slabs {
                        n.partial.remove(slab);
                        let (inuse, objects) = (slab.as_ref().with_state(|st| st.inuse), slab.as_ref().objects);
                        // BROKEN ON PURPOSE, loom only (`Broken::ShrinkDiscardsBeforeLastFree`).
                        #[cfg(loom)]
                        let early = self.broken == Some(crate::config::Broken::ShrinkDiscardsBeforeLastFree);
                        #[cfg(not(loom))]
                        let early = false;
                        if inuse == 0 || (early && inuse == 1) {
                            n.nr_slabs -= 1;
                            n.total_objects -= objects as usize;
                            discard.push(slab);
                        } else {
                            keep.push((objects - inuse, slab));
                        }
                    }
                    keep.sort_by_key(|(free, _)| (*free).min(SHRINK_PROMOTE_MAX + 1));
                    for (_, slab) in keep {
                        n.partial.insert(slab, OnList::Partial, true);
                    }
                }
                any_left |= n.nr_slabs > 0;
            }
            for slab in discard {
                // SAFETY: unlinked and empty.
                unsafe { self.discard_slab(slab) };
            }
        }
        any_left
    }

    /// Mirrors `__kmem_cache_shutdown()`: flush everything, free empty slabs,
    /// and return the objects still in use as (address, offset in its slab)
    /// (empty = clean: no slab is left either).
    pub(crate) fn shutdown(&self) -> Vec<(usize, usize)> {
        self.shrink();
        let mut live = Vec::new();
        for node in self.nodes.iter() {
            let mut discard = Vec::new();
            let mut n = node.list_lock.lock();
            // SAFETY: list_lock held for every list operation below.
            unsafe {
                // free_partial(): a free that raced the shrink above (a
                // kfree() on another CPU that found its per-cpu sheaves
                // locked by the flush) may have emptied a slab since. It goes
                // now, under the lock of the check, so that "no object left"
                // also means "no slab left" (the kernel checks node_nr_slabs()).
                // BROKEN ON PURPOSE, loom only (`Broken::ShutdownCountsObjectsOnly`):
                // skips this, and the released storage leaks that slab.
                #[cfg(loom)]
                let free_partial = self.broken != Some(crate::config::Broken::ShutdownCountsObjectsOnly);
                #[cfg(not(loom))]
                let free_partial = true;
                for slab in n.partial.to_vec() {
                    if free_partial && slab.as_ref().with_state(|st| st.inuse) == 0 {
                        n.partial.remove(slab);
                        n.nr_slabs -= 1;
                        n.total_objects -= slab.as_ref().objects as usize;
                        discard.push(slab);
                    }
                }
                for slab in n.partial.to_vec().into_iter().chain(n.full.to_vec()) {
                    live.extend(self.live_objects_of(slab));
                }
            }
            drop(n);
            for slab in discard {
                // SAFETY: unlinked and empty.
                unsafe { self.discard_slab(slab) };
            }
        }
        live
    }

    /// The slab's objects that are not on its freelist: (address, offset).
    ///
    /// # Safety
    /// list_lock of the slab's node held.
    pub(super) unsafe fn live_objects_of(&self, slab: NonNull<Slab>) -> Vec<(usize, usize)> {
        // SAFETY: forwarded lock.
        unsafe {
            let s = slab.as_ref();
            let first = s.base.as_ptr() as usize + self.layout.red_left_pad as usize;
            let mut free = vec![false; s.objects as usize];
            let mut cur = s.with_state(|st| st.freelist);
            while !cur.is_null() {
                free[(cur as usize - first) / self.layout.size as usize] = true;
                cur = get_freepointer(cur, self.layout.offset);
            }
            (0..s.objects as usize)
                .filter(|i| !free[*i])
                .map(|i| {
                    let offset = self.layout.red_left_pad as usize + i * self.layout.size as usize;
                    (s.base.as_ptr() as usize + offset, offset)
                })
                .collect()
        }
    }

    /// Mirrors `check_valid_pointer()` and `on_freelist()`: is `addr` the
    /// start of an allocated object of `slab`? Only meaningful for caches
    /// without sheaves (debug caches), where "not on the freelist" is "allocated".
    ///
    /// # Safety
    /// `slab` is live and belongs to this storage.
    pub(crate) unsafe fn free_consistency_checks(&self, slab: NonNull<Slab>, addr: usize) -> Result<(), FreeCheck> {
        // SAFETY: live slab.
        let s = unsafe { slab.as_ref() };
        let first = s.base.as_ptr() as usize + self.layout.red_left_pad as usize;
        let stride = self.layout.size as usize;
        if addr < first || !(addr - first).is_multiple_of(stride) || (addr - first) / stride >= s.objects as usize {
            return Err(FreeCheck::NotObjectStart);
        }
        let n = self.nodes[s.node as usize].list_lock.lock();
        // SAFETY: list_lock held; the freelist only links free objects.
        let on_freelist = unsafe {
            let mut cur = s.with_state(|st| st.freelist);
            let mut found = false;
            while !cur.is_null() {
                if cur as usize == addr {
                    found = true;
                    break;
                }
                cur = get_freepointer(cur, self.layout.offset);
            }
            found
        };
        drop(n);
        if on_freelist { Err(FreeCheck::AlreadyFree) } else { Ok(()) }
    }

    /// Slabs, objects and sheaf contents, counted under the locks.
    pub(crate) fn stats(&self) -> StorageStats {
        let mut st = StorageStats::default();
        for node in self.nodes.iter() {
            let n = node.list_lock.lock();
            st.slabs += n.nr_slabs;
            st.total_objects += n.total_objects;
            st.partial_slabs += n.partial.len();
            // SAFETY: list_lock held.
            unsafe {
                for slab in n.partial.to_vec().into_iter().chain(n.full.to_vec()) {
                    let s = slab.as_ref();
                    st.pages += 1 << s.order;
                    st.free_objects += (s.objects - s.with_state(|x| x.inuse)) as usize;
                }
            }
            drop(n);
            let barn = node.barn.lock();
            for sheaf in barn.full.iter().chain(barn.empty.iter()) {
                // SAFETY: barn lock held; barn sheaves are owned by the barn.
                let sheaf = unsafe { sheaf.as_ref() };
                st.sheaf_objects += sheaf.size as usize;
                st.sheaves += 1;
                st.sheaf_bytes += SlabSheaf::bytes(sheaf.capacity);
            }
        }
        // One remote protocol run for every CPU (one heavy fence).
        for mut g in self.cpu_sheaves.lock_remote_all() {
            g.with_mut(|pcs| {
                for sheaf in std::iter::once(pcs.main).chain(pcs.spare) {
                    // SAFETY: we hold the CPU's sheaves (remote protocol).
                    let sheaf = unsafe { sheaf.as_ref() };
                    st.sheaf_objects += sheaf.size as usize;
                    st.sheaves += 1;
                    st.sheaf_bytes += SlabSheaf::bytes(sheaf.capacity);
                }
            });
        }
        st
    }
}

impl CacheStorage {
    /// Mirrors `free_to_partial_list()` with `free_debug_processing()`: the
    /// free of a `SLAB_CONSISTENCY_CHECKS` cache validates the address
    /// (`check_valid_pointer()`, `on_freelist()`) and puts the object back on
    /// its slab in one `list_lock` section, so two frees of the same address
    /// cannot both pass the check. `pin` (what keeps `slab` alive without an
    /// object token: the page-map read lock) is dropped after the lock, before
    /// a discard, which takes the page map's write side.
    ///
    /// # Safety
    /// `slab` is live and belongs to this storage while `pin` is held; the
    /// storage has no sheaves (debug caches), so "not on the freelist" is
    /// "allocated"; no object token names `addr`.
    pub(crate) unsafe fn free_debug_checked<P>(
        &self,
        slab: NonNull<Slab>,
        addr: usize,
        pin: P,
    ) -> Result<(), FreeCheck> {
        // SAFETY: live slab while `pin` is held.
        let s = unsafe { slab.as_ref() };
        let first = s.base.as_ptr() as usize + self.layout.red_left_pad as usize;
        let stride = self.layout.size as usize;
        if addr < first || !(addr - first).is_multiple_of(stride) || (addr - first) / stride >= s.objects as usize {
            return Err(FreeCheck::NotObjectStart);
        }
        let discard = {
            let mut n = self.nodes[s.node as usize].list_lock.lock();
            // SAFETY: list_lock held; the freelist only links free objects.
            let on_freelist = unsafe {
                let mut cur = s.with_state(|st| st.freelist);
                while !cur.is_null() && cur as usize != addr {
                    cur = get_freepointer(cur, self.layout.offset);
                }
                !cur.is_null()
            };
            if on_freelist {
                return Err(FreeCheck::AlreadyFree);
            }
            // SAFETY: list_lock held; an allocated object start of `slab`
            // that no token names: this free is its only owner. Once the lock
            // drops a racing final destroy may release the storage, so the
            // memory is taken while the lock still pins `self`.
            unsafe { self.free_locked(&mut n, slab, NonNull::new_unchecked(addr as *mut u8), Via::NONE) }
                .map(|slab| (slab, self.memory.clone()))
        };
        drop(pin);
        if let Some((slab, memory)) = discard {
            // SAFETY: unlinked, empty, ours alone; `memory` outlives any storage.
            unsafe { super::storage::discard_slab(&memory, slab) };
        }
        Ok(())
    }
}
