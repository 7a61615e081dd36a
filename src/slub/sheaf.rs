//! Sheaves: per-cpu arrays of free objects, and the per-node barn of spares.
//!
//! Mirrors `mm/slub.c` (7.0): `struct slab_sheaf`, `struct slub_percpu_sheaves`
//! and `struct node_barn`. A sheaf is one allocation: a small header followed
//! by the object pointers (the kernel's flexible array), so popping an object
//! costs the same loads as in the kernel.
//!
//! "Per-cpu" in userspace: each CPU's `PerCpuSheaves` sits in a slot of the
//! per-cpu protocol (`percpu.rs`), which stands in for `local_trylock_t`: the
//! slot's owner thread enters with plain stores, remote flushes shut it out
//! with `membarrier(2)`, and without membarrier every entry takes a
//! compare-and-swap trylock. A second thread mapped to an owned CPU slot
//! falls back to the slab slow path, as a second context on a kernel CPU
//! finds the trylock taken.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::slub::slab::StorageRef;
use crate::sync::{raw_alloc, raw_free};

/// The line size two CPUs must not share (x86-64, arm64).
const CACHE_LINE: usize = 64;

/// `struct slab_sheaf`: header of a sheaf; `capacity` object pointers follow it.
#[repr(C)]
pub(crate) struct SlabSheaf {
    /// `sheaf->cache`: the storage the sheaf belongs to (never an alias).
    pub(crate) storage: StorageRef,
    /// Objects in the sheaf (`sheaf->size`).
    pub(crate) size: u32,
    /// Room for this many objects (`sheaf->capacity`).
    pub(crate) capacity: u32,
    objects: [*mut u8; 0],
}

impl SlabSheaf {
    /// Offset of `objects[0]` (the real-CPU sections' `offsets::OBJECTS`).
    #[cfg_attr(loom, allow(dead_code))] // the layout checks are of the real build
    pub(crate) const OBJECTS: usize = std::mem::offset_of!(SlabSheaf, objects);

    /// The header and `capacity` pointers, packed.
    fn packed(capacity: u32) -> Layout {
        Layout::new::<SlabSheaf>()
            .extend(Layout::array::<*mut u8>(capacity as usize).expect("small array"))
            .expect("small layout")
            .0
            .pad_to_align()
    }

    /// What a sheaf is allocated with: whole cache lines. The kernel's
    /// `kzalloc()` of a sheaf comes from a kmalloc cache whose objects are
    /// aligned to their power-of-two size, so two CPUs' sheaves never share a
    /// line; malloc packs its chunks, and the top of a full sheaf's stack (the
    /// pointer a sheaf-hit pair writes) would sit in the line of the next
    /// sheaf's header, which another CPU's pair writes.
    fn layout(capacity: u32) -> Layout {
        Self::packed(capacity).align_to(CACHE_LINE).expect("cache-line alignment").pad_to_align()
    }

    /// Bytes a sheaf of `capacity` objects occupies (what `kzalloc` is asked
    /// for: the header and the pointers, without the allocator's padding).
    pub(crate) fn bytes(capacity: u32) -> usize {
        Self::packed(capacity).size()
    }

    /// Mirrors `alloc_empty_sheaf()`.
    pub(crate) fn alloc(storage: StorageRef, capacity: u32) -> Option<NonNull<SlabSheaf>> {
        let layout = Self::layout(capacity);
        // SAFETY: the header alone makes the layout non-zero-sized.
        let ptr = unsafe { raw_alloc(layout) } as *mut SlabSheaf;
        let ptr = NonNull::new(ptr)?;
        // SAFETY: `ptr` is a fresh allocation of the sheaf's layout; the header
        // is written before anyone reads it. Object slots are written before
        // being read (only indices below `size` are ever read).
        unsafe { ptr.as_ptr().write(SlabSheaf { storage, size: 0, capacity, objects: [] }) };
        Some(ptr)
    }

    /// Mirrors `free_empty_sheaf()`.
    ///
    /// # Safety
    /// `sheaf` came from [`SlabSheaf::alloc`], is not referenced anywhere else
    /// and holds no objects the caller still needs.
    pub(crate) unsafe fn free(sheaf: NonNull<SlabSheaf>) {
        // SAFETY: the caller owns the sheaf; its capacity gives the layout it was allocated with.
        unsafe {
            let layout = Self::layout(sheaf.as_ref().capacity);
            raw_free(sheaf.as_ptr() as *mut u8, layout);
        }
    }

    #[inline(always)]
    fn slots(this: NonNull<SlabSheaf>) -> *mut *mut u8 {
        // SAFETY: `objects` is the trailing array; taking its address does not read.
        unsafe { std::ptr::addr_of_mut!((*this.as_ptr()).objects) as *mut *mut u8 }
    }

    /// Pops the newest object (`objects[--size]`).
    ///
    /// # Safety
    /// The caller has exclusive access to the sheaf and `size > 0`.
    #[inline(always)]
    pub(crate) unsafe fn pop(this: NonNull<SlabSheaf>) -> *mut u8 {
        // SAFETY: exclusive access; `size - 1 < capacity` and that slot was written by a push.
        unsafe {
            let sheaf = &mut *this.as_ptr();
            sheaf.size -= 1;
            *Self::slots(this).add(sheaf.size as usize)
        }
    }

    /// Pushes an object (`objects[size++] = object`).
    ///
    /// # Safety
    /// The caller has exclusive access to the sheaf and `size < capacity`.
    #[inline(always)]
    pub(crate) unsafe fn push(this: NonNull<SlabSheaf>, object: *mut u8) {
        // SAFETY: exclusive access; `size < capacity` keeps the write inside the allocation.
        unsafe {
            let sheaf = &mut *this.as_ptr();
            *Self::slots(this).add(sheaf.size as usize) = object;
            sheaf.size += 1;
        }
    }

    /// The objects currently in the sheaf.
    ///
    /// # Safety
    /// The caller has exclusive access to the sheaf.
    pub(crate) unsafe fn objects<'a>(this: NonNull<SlabSheaf>) -> &'a [*mut u8] {
        // SAFETY: slots below `size` are initialised; the caller's access is exclusive.
        unsafe { std::slice::from_raw_parts(Self::slots(this), this.as_ref().size as usize) }
    }
}

/// `struct slub_percpu_sheaves`: one CPU's sheaves of one cache. Plain data:
/// the slot of the per-cpu protocol that holds it (`percpu::Slot`, one cache
/// line per CPU) stands in for `local_trylock_t` and hands it out to one
/// context at a time.
pub(crate) struct PerCpuSheaves {
    /// `pcs->main`: never null while the cache lives.
    pub(crate) main: NonNull<SlabSheaf>,
    /// `pcs->spare`: empty, full or none.
    pub(crate) spare: Option<NonNull<SlabSheaf>>,
    /// `numa_mem_id()` of this CPU: the node whose objects the free fast
    /// path may keep in these sheaves (`slab_nid(slab) == numa_mem_id()`).
    pub(crate) node: u32,
    /// The free fast path's test of `slab_nid(slab) == numa_mem_id()` and of
    /// `cache_from_obj()` in one compare: the address of this storage's
    /// `kmem_cache_node` of `node`, which every page of a slab of that
    /// storage and node carries as its home word in the memmap.
    pub(crate) home: usize,
}

// SAFETY: the sheaves belong to the storage; the per-cpu slot hands the
// pointers to one context at a time.
unsafe impl Send for PerCpuSheaves {}

impl crate::slub::percpu::SectionData for PerCpuSheaves {
    /// The real CPUs' sections pop from and push to the main sheaf.
    #[inline(always)]
    fn open_word(&self) -> usize {
        self.main.as_ptr() as usize
    }
}

// The layout the restartable sequences read by offset (`rseq::offsets`),
// checked against these types (under loom the slot holds loom atomics and
// the model reads it as the type it is).
#[cfg(not(loom))]
const _: () = {
    use crate::slub::percpu::Slot;
    use crate::slub::rseq::offsets;
    assert!(std::mem::size_of::<Slot<PerCpuSheaves>>() == offsets::SLOT);
    assert!(Slot::<PerCpuSheaves>::ACTIVE_OFFSET == offsets::ACTIVE);
    assert!(Slot::<PerCpuSheaves>::DATA_OFFSET + std::mem::offset_of!(PerCpuSheaves, home) == offsets::HOME);
    assert!(std::mem::offset_of!(SlabSheaf, size) == offsets::SIZE);
    assert!(std::mem::offset_of!(SlabSheaf, capacity) == offsets::CAPACITY);
    assert!(SlabSheaf::OBJECTS == offsets::OBJECTS);
};

impl crate::slub::rseq::SectionSlot for crate::slub::percpu::Slot<PerCpuSheaves> {
    #[cfg(loom)]
    fn with_main<R>(&self, f: impl FnOnce(*mut u8, usize) -> R) -> R {
        // SAFETY: the model calls this inside the CPU's section, where the
        // slot's data is the section's (what loom checks through the cell).
        self.rseq_data().with_mut(|pcs| unsafe { f((*pcs).main.as_ptr().cast(), (*pcs).home) })
    }
}

impl PerCpuSheaves {
    pub(crate) fn new(main: NonNull<SlabSheaf>, node: u32, home: usize) -> PerCpuSheaves {
        PerCpuSheaves { main, spare: None, node, home }
    }

    /// The hit of `alloc_from_pcs()`: pop from the main sheaf, `None` if it
    /// is empty (the slow path swaps or refills it). Only inside the CPU's
    /// critical section, which the `&mut` stands for.
    #[inline(always)]
    pub(crate) fn alloc_hit(&mut self) -> Option<NonNull<u8>> {
        // SAFETY: inside the critical section the main sheaf is ours; it is
        // never null while the cache lives.
        if unsafe { self.main.as_ref().size } == 0 {
            return None;
        }
        // SAFETY: as above, and the sheaf is not empty.
        let object = unsafe { SlabSheaf::pop(self.main) };
        // SAFETY: sheaves only hold object addresses, never null.
        Some(unsafe { NonNull::new_unchecked(object) })
    }

    /// The hit of `free_to_pcs()`: push an object of this storage and of
    /// the CPU's node (`home` being its page's home word: the owner check
    /// and `slab_nid(slab) == numa_mem_id()` in one compare) into a main
    /// sheaf with room; false otherwise (the slow path checks the owner,
    /// replaces a full main or frees to the slab).
    #[inline(always)]
    pub(crate) fn free_hit(&mut self, home: usize, object: NonNull<u8>) -> bool {
        let main = self.main;
        // SAFETY: inside the critical section the main sheaf is ours.
        if home != self.home || unsafe { main.as_ref().size == main.as_ref().capacity } {
            return false;
        }
        // SAFETY: as above, and the sheaf has room.
        unsafe { SlabSheaf::push(main, object.as_ptr()) };
        true
    }
}

/// `struct node_barn`: full and empty sheaves parked per node, used LIFO.
pub(crate) struct NodeBarn {
    pub(crate) full: Vec<NonNull<SlabSheaf>>,
    pub(crate) empty: Vec<NonNull<SlabSheaf>>,
}

// SAFETY: the barn owns the sheaves it lists; it is only reached through its mutex.
unsafe impl Send for NodeBarn {}

impl NodeBarn {
    pub(crate) const fn new() -> NodeBarn {
        NodeBarn { full: Vec::new(), empty: Vec::new() }
    }
}
