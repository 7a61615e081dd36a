//! The allocation paths of a storage.
//!
//! Mirrors `mm/slub.c` (7.0): `slab_alloc_node()`, `alloc_from_pcs()`,
//! `__pcs_replace_empty_main()`, `refill_sheaf()`, `___slab_alloc()`,
//! `new_slab()`.

use std::ptr::NonNull;

use super::sheaf::{PerCpuSheaves, SlabSheaf};
use super::slab::{OnList, Slab, get_freepointer, set_freepointer};
use super::stat::StatItem::*;
use super::stat::Via;
use super::storage::{CacheStorage, NodeLists, discard_slab};
use crate::slub::page::PageEntry;

impl CacheStorage {
    /// Mirrors `slab_alloc_node()` after an instance's hit path
    /// (`KmemCache::alloc`) missed: the per-cpu sheaves without a second
    /// owner's attempt (the fallback's trylock, a claim or steal, or the
    /// owner's entry again to swap or refill an empty main sheaf), then the
    /// slab lists of the CPU's node. Out of line: the hit path's one call.
    #[cold]
    #[inline(never)]
    pub(crate) fn slab_alloc(&self, via: Via<'_>) -> Option<NonNull<u8>> {
        match self.cpu_sheaves.with_local_after_miss(|slot, pcs| self.alloc_from_pcs(slot, pcs, via), || None) {
            Some(object) => Some(object),
            None => self.slab_alloc_slow(self.node_of_slot(self.cpu_sheaves.current_index()), via),
        }
    }

    /// Mirrors `alloc_from_pcs()`: pop from the CPU's main sheaf. Runs inside
    /// the CPU slot's critical section (`local_trylock` held).
    #[inline(always)]
    pub(super) fn alloc_from_pcs(&self, slot: usize, pcs: &mut PerCpuSheaves, via: Via<'_>) -> Option<NonNull<u8>> {
        let mut main = pcs.main;
        // SAFETY: we are inside the CPU's critical section, so the main sheaf is ours.
        if unsafe { main.as_ref().size } == 0 {
            main = self.pcs_replace_empty_main(pcs, slot, via)?;
        }
        // SAFETY: inside the critical section and the sheaf is non-empty.
        let object = unsafe { SlabSheaf::pop(main) };
        // Inside slot's critical section: plain increments.
        self.count_local(slot, via, ALLOC_PCS);
        // SAFETY: sheaves only hold object addresses, never null.
        Some(unsafe { NonNull::new_unchecked(object) })
    }

    /// Mirrors `__pcs_replace_empty_main()`: swap in the spare, exchange with
    /// the barn, or refill from slabs. Called inside the CPU's critical section.
    #[cold]
    pub(super) fn pcs_replace_empty_main(
        &self,
        pcs: &mut PerCpuSheaves,
        slot: usize,
        via: Via<'_>,
    ) -> Option<NonNull<SlabSheaf>> {
        if self.layout.sheaf_capacity == 0 {
            return None;
        }
        let main = pcs.main;
        if let Some(spare) = pcs.spare {
            // SAFETY: inside the critical section; the spare belongs to this CPU.
            if unsafe { spare.as_ref().size } > 0 {
                pcs.main = spare;
                pcs.spare = Some(main);
                return Some(spare);
            }
        }
        let node = &self.nodes[self.node_of_slot(slot)];
        {
            // barn_replace_empty_sheaf(): a full sheaf out, our empty one in.
            let mut barn = node.barn.lock();
            if let Some(full) = barn.full.pop() {
                self.count_local(slot, via, BARN_GET);
                barn.empty.push(main);
                pcs.main = full;
                return Some(full);
            }
        }
        self.count_local(slot, via, BARN_GET_FAIL);
        // refill_sheaf(): from partial slabs, then new slabs. The kernel
        // unlocks the CPU around the refill because it may sleep; we stay in
        // the critical section, which only sends same-slot threads to the
        // slow path and makes a remote flush wait for the refill.
        self.refill_sheaf(main, self.node_of_slot(slot), via);
        // SAFETY: inside the critical section.
        if unsafe { main.as_ref().size } > 0 { Some(main) } else { None }
    }

    /// Mirrors `refill_sheaf()`: fills `sheaf` up to its capacity. A partial
    /// fill is kept (the kernel counts it as a failure and returns the objects).
    pub(crate) fn refill_sheaf(&self, sheaf: NonNull<SlabSheaf>, node: usize, via: Via<'_>) {
        // SAFETY (for every access to `sheaf` below): the caller owns the sheaf exclusively.
        let missing = |s: NonNull<SlabSheaf>| unsafe { s.as_ref().capacity - s.as_ref().size };
        self.count(via, SHEAF_REFILL);
        let lists = &self.nodes[node].list_lock;
        loop {
            {
                let mut n = lists.lock();
                while missing(sheaf) > 0 {
                    let Some(slab) = n.partial.head() else { break };
                    // SAFETY: list_lock held; `slab` is on our partial list.
                    unsafe {
                        while missing(sheaf) > 0 {
                            match self.take_object(slab) {
                                Some(object) => SlabSheaf::push(sheaf, object.as_ptr()),
                                None => break,
                            }
                        }
                        self.update_list_after_take(&mut n, slab);
                    }
                }
                if missing(sheaf) == 0 {
                    return;
                }
            }
            let Some(slab) = self.new_slab(node, via) else { return };
            let mut n = lists.lock();
            // SAFETY: the new slab is ours alone until linked; list_lock held from here.
            unsafe {
                self.account_new_slab(&mut n, slab);
                while missing(sheaf) > 0 {
                    match self.take_object(slab) {
                        Some(object) => SlabSheaf::push(sheaf, object.as_ptr()),
                        None => break,
                    }
                }
                let full = slab.as_ref().with_state(|st| st.freelist.is_null());
                n.partial_or_full(slab, full, false);
            }
            if missing(sheaf) == 0 {
                return;
            }
        }
    }

    /// Mirrors `___slab_alloc()`: one object from a partial slab or a new slab.
    #[cold]
    pub(crate) fn slab_alloc_slow(&self, node: usize, via: Via<'_>) -> Option<NonNull<u8>> {
        // Outside any critical section: another thread of this CPU slot may count too.
        self.count(via, ALLOC_SLOWPATH);
        let lists = &self.nodes[node].list_lock;
        {
            let mut n = lists.lock();
            if let Some(slab) = n.partial.head() {
                // SAFETY: list_lock held; partial slabs have a free object.
                unsafe {
                    let object = self.take_object(slab);
                    self.update_list_after_take(&mut n, slab);
                    return object;
                }
            }
        }
        let slab = self.new_slab(node, via)?;
        let mut n = lists.lock();
        // SAFETY: the new slab is ours until linked; list_lock held.
        unsafe {
            self.account_new_slab(&mut n, slab);
            let object = self.take_object(slab);
            let full = slab.as_ref().with_state(|st| st.freelist.is_null());
            // A slab with objects left goes to the partial head, as in the kernel.
            n.partial_or_full(slab, full, false);
            object
        }
    }

    /// Pops the slab's first free object.
    ///
    /// # Safety
    /// list_lock of the slab's node held (or the slab is not yet published).
    pub(super) unsafe fn take_object(&self, slab: NonNull<Slab>) -> Option<NonNull<u8>> {
        let offset = self.layout.offset;
        // SAFETY: forwarded lock; the freelist links free objects of this slab.
        unsafe {
            slab.as_ref().with_state(|st| {
                let object = NonNull::new(st.freelist)?;
                st.freelist = get_freepointer(object.as_ptr(), offset);
                st.inuse += 1;
                Some(object)
            })
        }
    }

    /// Moves a partial slab that just became full to the full list.
    ///
    /// # Safety
    /// list_lock held; `slab` is on the partial list.
    pub(super) unsafe fn update_list_after_take(&self, n: &mut NodeLists, slab: NonNull<Slab>) {
        // SAFETY: forwarded.
        unsafe {
            if slab.as_ref().with_state(|st| st.freelist.is_null()) {
                n.partial.remove(slab);
                n.full.insert(slab, OnList::Full, false);
            }
        }
    }

    /// # Safety
    /// list_lock held.
    pub(super) unsafe fn account_new_slab(&self, n: &mut NodeLists, slab: NonNull<Slab>) {
        n.nr_slabs += 1;
        // SAFETY: the slab is live.
        n.total_objects += unsafe { slab.as_ref().objects } as usize;
    }

    /// Mirrors `new_slab()`/`allocate_slab()`: pages, freelist in address
    /// order, the constructor on every object, and the page map entries that
    /// make `virt_to_slab()` work. `slab->slab_cache` is this storage.
    pub(super) fn new_slab(&self, node: usize, via: Via<'_>) -> Option<NonNull<Slab>> {
        let layout = &self.layout;
        let (base, order, objects) = match self.memory.pages.alloc(layout.order) {
            Some(base) => (base, layout.order, layout.objects),
            None if layout.min_order < layout.order => {
                (self.memory.pages.alloc(layout.min_order)?, layout.min_order, layout.min_objects)
            }
            None => return None,
        };
        let slab = Box::new(Slab::new(self.self_ptr(), base, order, objects, node as u32));
        let first = base.as_ptr().wrapping_add(layout.red_left_pad as usize);
        // SAFETY: the slab is not published; objects lie inside its pages
        // (objects * size + red_left_pad <= PAGE_SIZE << order by calculate_sizes).
        unsafe {
            let mut next: *mut u8 = std::ptr::null_mut();
            for i in (0..objects as usize).rev() {
                let object = first.add(i * layout.size as usize);
                if let Some(ctor) = &self.ctor {
                    (ctor.func)(std::slice::from_raw_parts_mut(object, layout.object_size as usize));
                }
                set_freepointer(object, layout.offset, next);
                next = object;
            }
            slab.with_state(|st| st.freelist = next);
        }
        let slab = NonNull::from(Box::leak(slab));
        self.memory.map.set(base.as_ptr() as usize, 1 << order, PageEntry::Slab(slab), self.page_words(node));
        self.count(via, ALLOC_SLAB);
        Some(slab)
    }

    /// Mirrors `discard_slab()`/`free_slab()`: unmaps and frees the pages.
    ///
    /// # Safety
    /// The slab is on no list, has no object in use, and nobody else holds it.
    pub(super) unsafe fn discard_slab(&self, slab: NonNull<Slab>) {
        // SAFETY: forwarded.
        unsafe { discard_slab(&self.memory, slab) }
    }
}
