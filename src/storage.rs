//! The storage of a primary cache: per-cpu sheaves, per-node slab lists and
//! barns, and the object layout. This is what the kernel's `struct kmem_cache`
//! holds for allocating; a cache instance points at it.
//!
//! Mirrors `mm/slub.c` (7.0): `alloc_from_pcs`, `__pcs_replace_empty_main`,
//! `free_to_pcs`, `__pcs_replace_full_main`, `refill_sheaf`, `sheaf_flush_*`,
//! `barn_*`, `___slab_alloc`, `__slab_free`, `new_slab`, `discard_slab`,
//! `__kmem_cache_shrink`, `__kmem_cache_shutdown`.
//!
//! In mainline one instance owns one storage. In the primary-cache design the
//! primary owns it and every alias instance points at the same storage, so
//! an alias's fast path is the primary's fast path.

use std::ptr::NonNull;

use crate::cpu::cpu_slot;
use crate::layout::CacheLayout;
use crate::memory::SlabMemory;
use crate::page::PageEntry;
use crate::sheaf::{NodeBarn, PerCpuSheaves, SlabSheaf};
use crate::slab::{OnList, Slab, SlabList, get_freepointer, set_freepointer};
use crate::sync::atomic::AtomicPtr;
use crate::sync::{Arc, Mutex};

/// A constructor, run on every object when its slab is created (`s->ctor`).
#[derive(Clone)]
pub struct Ctor {
    /// The symbol name, as sysfs `ctor` shows it.
    pub name: std::sync::Arc<str>,
    /// The function; it receives the object's `object_size` bytes.
    pub func: fn(&mut [u8]),
}

impl std::fmt::Debug for Ctor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ctor({})", self.name)
    }
}

/// Node lists of one cache (`struct kmem_cache_node` minus the barn).
pub(crate) struct NodeLists {
    pub(crate) partial: SlabList,
    pub(crate) full: SlabList,
    /// `nr_slabs` (SLUB_DEBUG counters).
    pub(crate) nr_slabs: usize,
    /// `total_objects`.
    pub(crate) total_objects: usize,
}

/// `struct kmem_cache_node`: `list_lock` with its lists, and the barn.
pub(crate) struct KmemCacheNode {
    pub(crate) list_lock: Mutex<NodeLists>,
    pub(crate) barn: Mutex<NodeBarn>,
}

/// Figures of one storage, as slabinfo and the memory report need them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Slabs allocated.
    pub slabs: usize,
    /// Pages in those slabs.
    pub pages: usize,
    /// Object slots in those slabs.
    pub total_objects: usize,
    /// Free slots on slabs (on slab freelists).
    pub free_objects: usize,
    /// Free objects cached in per-cpu sheaves and barn sheaves.
    pub sheaf_objects: usize,
    /// Sheaves allocated (per-cpu and barn).
    pub sheaves: usize,
    /// Bytes of those sheaves.
    pub sheaf_bytes: usize,
    /// Slabs on partial lists.
    pub partial_slabs: usize,
}

impl StorageStats {
    /// Objects handed out to users: total − free on slabs − cached in sheaves.
    pub fn live_objects(&self) -> usize {
        self.total_objects - self.free_objects - self.sheaf_objects
    }

    /// slabinfo's `active_objs`: everything not free on a slab (sheaf objects count, as in the kernel).
    pub fn active_objects(&self) -> usize {
        self.total_objects - self.free_objects
    }
}

/// What a consistency check found wrong with a free (`free_consistency_checks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FreeCheck {
    /// Not the start of an object (`check_valid_pointer`).
    NotObjectStart,
    /// Already free (`on_freelist`).
    AlreadyFree,
}

/// The allocation side of a (primary) cache.
pub(crate) struct CacheStorage {
    /// Per-cpu sheaves (`s->cpu_sheaves`); first, as the fast path reads it first.
    cpu_sheaves: Box<[PerCpuSheaves]>,
    /// `virt_to_slab()` for the free path, one load from here.
    pub(crate) page_map: crate::page::PageMapReader,
    /// Object layout (`size`, `offset`, `oo`, ...).
    pub(crate) layout: CacheLayout,
    /// `s->ctor`.
    pub(crate) ctor: Option<Ctor>,
    /// `s->node[]`.
    nodes: Box<[KmemCacheNode]>,
    /// Pages and the address map.
    pub(crate) memory: Arc<SlabMemory>,
    /// The primary instance: the cache every slab and sheaf of this storage
    /// names (`slab->slab_cache`). Set when the instance is registered.
    pub(crate) primary: AtomicPtr<crate::cache::KmemCache>,
    /// `MAX_FULL_SHEAVES`.
    barn_max: usize,
    /// Loom builds only: the deliberately broken teardown step to run
    /// (`SlabConfig::broken`), set by `create_cache`.
    #[cfg(loom)]
    pub(crate) broken: Option<crate::config::Broken>,
}

// SAFETY: all shared mutable state is behind the per-cpu trylocks, the node
// mutexes or atomics; raw pointers inside are owned by this storage.
unsafe impl Send for CacheStorage {}
// SAFETY: as above.
unsafe impl Sync for CacheStorage {}

impl CacheStorage {
    /// Allocates the storage: per-cpu main sheaves and per-node lists
    /// (`init_kmem_cache_nodes`, `init_percpu_sheaves`).
    pub(crate) fn new(
        layout: CacheLayout,
        ctor: Option<Ctor>,
        memory: Arc<SlabMemory>,
        nr_cpus: u32,
        nr_nodes: u32,
        barn_max: u32,
    ) -> Option<NonNull<CacheStorage>> {
        let nodes = (0..nr_nodes.max(1))
            .map(|_| KmemCacheNode {
                list_lock: Mutex::new(NodeLists {
                    partial: SlabList::new(),
                    full: SlabList::new(),
                    nr_slabs: 0,
                    total_objects: 0,
                }),
                barn: Mutex::new(NodeBarn::new()),
            })
            .collect();
        // The storage must exist before its sheaves can name it: allocate it
        // with no per-cpu sheaves, then install one main sheaf per CPU.
        let storage = Box::new(CacheStorage {
            cpu_sheaves: Box::new([]),
            page_map: memory.map.reader(),
            layout,
            ctor,
            nodes,
            memory,
            primary: AtomicPtr::new(std::ptr::null_mut()),
            barn_max: barn_max as usize,
            #[cfg(loom)]
            broken: None,
        });
        let ptr = NonNull::from(Box::leak(storage));
        let capacity = layout.sheaf_capacity;
        let mut pcs = Vec::with_capacity(nr_cpus as usize);
        for _ in 0..nr_cpus.max(1) {
            match SlabSheaf::alloc(ptr, capacity) {
                Some(main) => pcs.push(PerCpuSheaves::new(main)),
                None => {
                    for p in pcs {
                        // SAFETY: these sheaves were just allocated and are referenced nowhere else.
                        unsafe { SlabSheaf::free(p.main()) };
                    }
                    // SAFETY: `ptr` came from Box::leak above and was never shared.
                    drop(unsafe { Box::from_raw(ptr.as_ptr()) });
                    return None;
                }
            }
        }
        // SAFETY: the storage is not shared yet; we are its only user.
        unsafe { (*ptr.as_ptr()).cpu_sheaves = pcs.into_boxed_slice() };
        Some(ptr)
    }

    /// Frees a storage whose slabs and sheaves are all gone
    /// (`__kmem_cache_release`: `pcs_destroy`, `free_kmem_cache_nodes`).
    ///
    /// # Safety
    /// `ptr` came from [`CacheStorage::new`], nobody can reach it any more, and
    /// [`CacheStorage::shutdown`] returned no remaining objects.
    pub(crate) unsafe fn release(ptr: NonNull<CacheStorage>) {
        // SAFETY: the caller guarantees exclusive ownership.
        let storage = unsafe { Box::from_raw(ptr.as_ptr()) };
        for pcs in storage.cpu_sheaves.iter() {
            debug_assert!(pcs.spare().is_none());
            // SAFETY: shutdown emptied every sheaf; the main sheaf is ours alone now.
            unsafe { SlabSheaf::free(pcs.main()) };
        }
    }

    #[inline(always)]
    pub(crate) fn pcs(&self, slot: usize) -> &PerCpuSheaves {
        // SAFETY: `cpu_slot` returns an index below `cpu_sheaves.len()`.
        unsafe { self.cpu_sheaves.get_unchecked(slot) }
    }

    /// Number of per-cpu slots.
    pub(crate) fn nr_cpus(&self) -> usize {
        self.cpu_sheaves.len()
    }

    pub(crate) fn node_of_slot(&self, slot: usize) -> usize {
        slot % self.nodes.len()
    }

    pub(crate) fn self_ptr(&self) -> NonNull<CacheStorage> {
        NonNull::from(self)
    }

    /// The barn of `node`, and `MAX_FULL_SHEAVES`.
    pub(crate) fn barn(&self, node: usize) -> (&Mutex<NodeBarn>, usize) {
        (&self.nodes[node].barn, self.barn_max)
    }

    // ---------------------------------------------------------------------
    // Allocation.

    /// Mirrors `slab_alloc_node()`: the per-cpu sheaves, then the slab lists.
    #[inline]
    pub(crate) fn slab_alloc(&self) -> Option<NonNull<u8>> {
        let slot = cpu_slot(self.cpu_sheaves.len());
        match self.alloc_from_pcs(slot) {
            Some(object) => Some(object),
            None => self.slab_alloc_slow(self.node_of_slot(slot)),
        }
    }

    /// Mirrors `alloc_from_pcs()`: pop from the CPU's main sheaf.
    #[inline(always)]
    fn alloc_from_pcs(&self, slot: usize) -> Option<NonNull<u8>> {
        let pcs = self.pcs(slot);
        if !pcs.try_lock() {
            return None;
        }
        let mut main = pcs.main();
        // SAFETY: we hold the CPU's lock, so the main sheaf is ours.
        if unsafe { main.as_ref().size } == 0 {
            match self.pcs_replace_empty_main(pcs, slot) {
                Some(full) => main = full,
                None => {
                    pcs.unlock();
                    return None;
                }
            }
        }
        // SAFETY: lock held and the sheaf is non-empty.
        let object = unsafe { SlabSheaf::pop(main) };
        pcs.unlock();
        // SAFETY: sheaves only hold object addresses, never null.
        Some(unsafe { NonNull::new_unchecked(object) })
    }

    /// Mirrors `__pcs_replace_empty_main()`: swap in the spare, exchange with
    /// the barn, or refill from slabs. Called with the CPU's lock held.
    #[cold]
    fn pcs_replace_empty_main(&self, pcs: &PerCpuSheaves, slot: usize) -> Option<NonNull<SlabSheaf>> {
        if self.layout.sheaf_capacity == 0 {
            return None;
        }
        let main = pcs.main();
        if let Some(spare) = pcs.spare() {
            // SAFETY: lock held; the spare belongs to this CPU.
            if unsafe { spare.as_ref().size } > 0 {
                pcs.set_main(spare);
                pcs.set_spare(Some(main));
                return Some(spare);
            }
        }
        let node = &self.nodes[self.node_of_slot(slot)];
        {
            // barn_replace_empty_sheaf(): a full sheaf out, our empty one in.
            let mut barn = node.barn.lock();
            if let Some(full) = barn.full.pop() {
                barn.empty.push(main);
                pcs.set_main(full);
                return Some(full);
            }
        }
        // refill_sheaf(): from partial slabs, then new slabs. The kernel
        // unlocks the CPU around the refill because it may sleep; we keep the
        // CPU locked, which only sends same-slot threads to the slow path.
        self.refill_sheaf(main, self.node_of_slot(slot));
        // SAFETY: lock held.
        if unsafe { main.as_ref().size } > 0 { Some(main) } else { None }
    }

    /// Mirrors `refill_sheaf()`: fills `sheaf` up to its capacity. A partial
    /// fill is kept (the kernel counts it as a failure and returns the objects).
    pub(crate) fn refill_sheaf(&self, sheaf: NonNull<SlabSheaf>, node: usize) {
        // SAFETY (for every access to `sheaf` below): the caller owns the sheaf exclusively.
        let missing = |s: NonNull<SlabSheaf>| unsafe { s.as_ref().capacity - s.as_ref().size };
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
            let Some(slab) = self.new_slab(node) else { return };
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
    pub(crate) fn slab_alloc_slow(&self, node: usize) -> Option<NonNull<u8>> {
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
        let slab = self.new_slab(node)?;
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
    unsafe fn take_object(&self, slab: NonNull<Slab>) -> Option<NonNull<u8>> {
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
    unsafe fn update_list_after_take(&self, n: &mut NodeLists, slab: NonNull<Slab>) {
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
    unsafe fn account_new_slab(&self, n: &mut NodeLists, slab: NonNull<Slab>) {
        n.nr_slabs += 1;
        // SAFETY: the slab is live.
        n.total_objects += unsafe { slab.as_ref().objects } as usize;
    }

    /// Mirrors `new_slab()`/`allocate_slab()`: pages, freelist in address
    /// order, the constructor on every object, and the page map entries that
    /// make `virt_to_slab()` work. `slab->slab_cache` is this storage.
    fn new_slab(&self, node: usize) -> Option<NonNull<Slab>> {
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
        self.memory.map.set(base.as_ptr() as usize, 1 << order, PageEntry::Slab(slab));
        Some(slab)
    }

    /// Mirrors `discard_slab()`/`free_slab()`: unmaps and frees the pages.
    ///
    /// # Safety
    /// The slab is on no list, has no object in use, and nobody else holds it.
    unsafe fn discard_slab(&self, slab: NonNull<Slab>) {
        // SAFETY: forwarded.
        unsafe { discard_slab(&self.memory, slab) }
    }

    // ---------------------------------------------------------------------
    // Freeing.

    /// Mirrors `slab_free()`: into the CPU's main sheaf, else to the slab.
    ///
    /// # Safety
    /// `object` is an allocated object of `slab`, which belongs to this storage.
    #[inline]
    pub(crate) unsafe fn slab_free(&self, slab: NonNull<Slab>, object: NonNull<u8>) {
        let slot = cpu_slot(self.cpu_sheaves.len());
        // SAFETY: slab is live while it has an allocated object.
        let local = self.nodes.len() == 1 || unsafe { slab.as_ref().node } as usize == self.node_of_slot(slot);
        if !(local && self.free_to_pcs(slot, object)) {
            // SAFETY: forwarded.
            unsafe { self.__slab_free(slab, object) };
        }
    }

    /// Mirrors `free_to_pcs()`: push into the CPU's main sheaf.
    #[inline(always)]
    fn free_to_pcs(&self, slot: usize, object: NonNull<u8>) -> bool {
        let pcs = self.pcs(slot);
        if !pcs.try_lock() {
            return false;
        }
        let mut main = pcs.main();
        // SAFETY: lock held.
        if unsafe { main.as_ref().size == main.as_ref().capacity } {
            match self.pcs_replace_full_main(pcs, slot) {
                Some(empty) => main = empty,
                None => {
                    pcs.unlock();
                    return false;
                }
            }
        }
        // SAFETY: lock held and the sheaf has room.
        unsafe { SlabSheaf::push(main, object.as_ptr()) };
        pcs.unlock();
        true
    }

    /// Mirrors `__pcs_replace_full_main()`. Called with the CPU's lock held;
    /// returns the main sheaf, now with room, or `None` to free to the slab.
    #[cold]
    fn pcs_replace_full_main(&self, pcs: &PerCpuSheaves, slot: usize) -> Option<NonNull<SlabSheaf>> {
        let capacity = self.layout.sheaf_capacity;
        if capacity == 0 {
            return None;
        }
        let main = pcs.main();
        let barn = &self.nodes[self.node_of_slot(slot)].barn;
        match pcs.spare() {
            None => {
                // An empty sheaf from the barn or a new one; the full main becomes the spare.
                let empty = barn.lock().empty.pop().or_else(|| SlabSheaf::alloc(self.self_ptr(), capacity));
                match empty {
                    Some(empty) => {
                        pcs.set_spare(Some(main));
                        pcs.set_main(empty);
                        Some(empty)
                    }
                    None => {
                        self.sheaf_flush(main);
                        Some(main)
                    }
                }
            }
            // SAFETY: lock held; the spare is this CPU's.
            Some(spare) if unsafe { spare.as_ref().size < spare.as_ref().capacity } => {
                pcs.set_main(spare);
                pcs.set_spare(Some(main));
                Some(spare)
            }
            Some(spare) => {
                // Both full: barn_replace_full_sheaf().
                let mut b = barn.lock();
                if b.full.len() >= self.barn_max {
                    // -E2BIG (BARN_PUT_FAIL): flush the spare and use it as the empty main.
                    drop(b);
                    self.sheaf_flush(spare);
                    pcs.set_main(spare);
                    pcs.set_spare(Some(main));
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
                                self.sheaf_flush(main);
                                return Some(main);
                            }
                        }
                    }
                };
                b.full.push(main);
                pcs.set_main(empty);
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
    pub(crate) unsafe fn __slab_free(&self, slab: NonNull<Slab>, object: NonNull<u8>) {
        // SAFETY: slab is live (it has an object in use).
        let node = unsafe { slab.as_ref().node } as usize;
        let discard = {
            let mut n = self.nodes[node].list_lock.lock();
            // SAFETY: list_lock held; forwarded object ownership.
            unsafe { self.free_locked(&mut n, slab, object) }
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
    unsafe fn free_locked(&self, n: &mut NodeLists, slab: NonNull<Slab>, object: NonNull<u8>) -> Option<NonNull<Slab>> {
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
                return Some(slab);
            }
            if was_full {
                n.full.remove(slab);
                n.partial.insert(slab, OnList::Partial, true);
            }
        }
        None
    }

    /// Mirrors `sheaf_flush_unused()`/`__kmem_cache_free_bulk()`: every object
    /// of the sheaf back to its slab. The caller owns the sheaf.
    pub(crate) fn sheaf_flush(&self, sheaf: NonNull<SlabSheaf>) {
        // SAFETY: the caller owns the sheaf; its objects are free objects of
        // this storage's slabs, found through the page map.
        unsafe {
            let objects = SlabSheaf::objects(sheaf).to_vec();
            (*sheaf.as_ptr()).size = 0;
            self.free_objects_to_slabs(&objects);
        }
    }

    /// Frees cached objects back to their slabs, one node lock at a time.
    ///
    /// # Safety
    /// Every address is a sheaf-cached object of this storage.
    unsafe fn free_objects_to_slabs(&self, objects: &[*mut u8]) {
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
            if let Some(s) = unsafe { self.free_locked(n, slab, NonNull::new_unchecked(object)) } {
                discard.push(s);
            }
        }
        drop(current);
        for slab in discard {
            // SAFETY: unlinked and empty.
            unsafe { self.discard_slab(slab) };
        }
    }

    // ---------------------------------------------------------------------
    // Flushing, shrinking, shutdown.

    /// Mirrors `pcs_flush_all()` run on every CPU (`flush_all`): main and
    /// spare back to slabs; the spare sheaf is freed.
    pub(crate) fn flush_all(&self) {
        for pcs in self.cpu_sheaves.iter() {
            // BROKEN ON PURPOSE, loom only (`Broken::FlushWithoutCpuLock`):
            // flushes the CPU's sheaves while that CPU may be using them.
            #[cfg(loom)]
            let locked = self.broken != Some(crate::config::Broken::FlushWithoutCpuLock);
            #[cfg(not(loom))]
            let locked = true;
            if locked {
                pcs.lock_remote();
            }
            let spare = pcs.spare();
            pcs.set_spare(None);
            self.sheaf_flush(pcs.main());
            if locked {
                pcs.unlock();
            }
            if let Some(spare) = spare {
                self.sheaf_flush(spare);
                // SAFETY: taken off the CPU under its lock; ours alone.
                unsafe { SlabSheaf::free(spare) };
            }
        }
    }

    /// Mirrors `barn_shrink()`: flush every full sheaf and free all sheaves.
    fn barn_shrink(&self, node: usize) {
        let (full, empty) = {
            let mut barn = self.nodes[node].barn.lock();
            (std::mem::take(&mut barn.full), std::mem::take(&mut barn.empty))
        };
        for sheaf in full.into_iter().chain(empty) {
            self.sheaf_flush(sheaf);
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
                        if inuse == 0 {
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
    unsafe fn live_objects_of(&self, slab: NonNull<Slab>) -> Vec<(usize, usize)> {
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

    // ---------------------------------------------------------------------
    // Checks and figures.

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
        for pcs in self.cpu_sheaves.iter() {
            pcs.lock_remote();
            for sheaf in std::iter::once(pcs.main()).chain(pcs.spare()) {
                // SAFETY: the CPU's lock is held.
                let sheaf = unsafe { sheaf.as_ref() };
                st.sheaf_objects += sheaf.size as usize;
                st.sheaves += 1;
                st.sheaf_bytes += SlabSheaf::bytes(sheaf.capacity);
            }
            pcs.unlock();
        }
        st
    }
}

/// Mirrors `discard_slab()`/`free_slab()`, through the world's memory alone
/// (the slab's storage may already be gone when a racing free discards it).
///
/// # Safety
/// The slab is on no list, has no object in use, and nobody else holds it.
unsafe fn discard_slab(memory: &SlabMemory, slab: NonNull<Slab>) {
    // Writers of the page map exclude address-based lookups (see memory.rs).
    let _guard = memory.discard_lock.write();
    // SAFETY: exclusive per the caller; the slab box came from `new_slab`.
    unsafe {
        let s = Box::from_raw(slab.as_ptr());
        memory.map.clear(s.base.as_ptr() as usize, 1 << s.order);
        memory.pages.free(s.base, s.order);
    }
}

impl NodeLists {
    /// Links a slab that just had objects taken: full list, or partial
    /// head/tail.
    ///
    /// # Safety
    /// list_lock held; the slab is on no list.
    unsafe fn partial_or_full(&mut self, slab: NonNull<Slab>, full: bool, tail: bool) {
        // SAFETY: forwarded.
        unsafe {
            if full {
                self.full.insert(slab, OnList::Full, tail);
            } else {
                self.partial.insert(slab, OnList::Partial, tail);
            }
        }
    }
}
