//! Sheaves: per-cpu arrays of free objects, and the per-node barn of spares.
//!
//! Mirrors `mm/slub.c` (7.0): `struct slab_sheaf`, `struct slub_percpu_sheaves`
//! and `struct node_barn`. A sheaf is one allocation: a small header followed
//! by the object pointers (the kernel's flexible array), so popping an object
//! costs the same loads as in the kernel.
//!
//! "Per-cpu" in userspace: each CPU slot carries a trylock flag that stands in
//! for `local_trylock_t`. The kernel's version disables preemption and marks
//! the lock taken; ours is one uncontended compare-and-swap on a cache line
//! that only the CPU's threads touch. Two threads mapped to the same CPU slot
//! then exclude each other exactly like task and interrupt contexts do in the
//! kernel: the loser falls back to the slab slow path.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::slub::slab::StorageRef;
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{UnsafeCell, raw_alloc, raw_free};

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
    fn layout(capacity: u32) -> Layout {
        Layout::new::<SlabSheaf>()
            .extend(Layout::array::<*mut u8>(capacity as usize).expect("small array"))
            .expect("small layout")
            .0
            .pad_to_align()
    }

    /// Bytes a sheaf of `capacity` objects occupies (what `kzalloc` would charge).
    pub(crate) fn bytes(capacity: u32) -> usize {
        Self::layout(capacity).size()
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

/// `struct slub_percpu_sheaves`: one CPU's sheaves of one cache, on its own cache line.
#[repr(align(64))]
pub(crate) struct PerCpuSheaves {
    /// Stands in for `local_trylock_t`.
    lock: AtomicBool,
    /// `pcs->main`: never null while the cache lives.
    pub(crate) main: UnsafeCell<*mut SlabSheaf>,
    /// `pcs->spare`: empty, full or null.
    pub(crate) spare: UnsafeCell<*mut SlabSheaf>,
}

// SAFETY: the sheaf pointers are only used while `lock` is held.
unsafe impl Send for PerCpuSheaves {}
// SAFETY: as above.
unsafe impl Sync for PerCpuSheaves {}

impl PerCpuSheaves {
    pub(crate) fn new(main: NonNull<SlabSheaf>) -> PerCpuSheaves {
        PerCpuSheaves {
            lock: AtomicBool::new(false),
            main: UnsafeCell::new(main.as_ptr()),
            spare: UnsafeCell::new(std::ptr::null_mut()),
        }
    }

    /// `local_trylock(&s->cpu_sheaves->lock)`.
    #[inline(always)]
    pub(crate) fn try_lock(&self) -> bool {
        self.lock.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// `local_unlock`.
    #[inline(always)]
    pub(crate) fn unlock(&self) {
        self.lock.store(false, Ordering::Release);
    }

    /// Takes the lock from another CPU (the kernel runs `flush_all` work on
    /// each CPU instead); the holders never block on anything that waits for us.
    pub(crate) fn lock_remote(&self) {
        while !self.try_lock() {
            crate::sync::spin_loop();
        }
    }

    /// `pcs->main`; the caller holds the lock.
    #[inline(always)]
    pub(crate) fn main(&self) -> NonNull<SlabSheaf> {
        // SAFETY: `main` is never null after construction.
        self.main.with(|m| unsafe { NonNull::new_unchecked(*m) })
    }

    pub(crate) fn set_main(&self, sheaf: NonNull<SlabSheaf>) {
        // SAFETY: the caller holds the lock, so nobody else accesses the field.
        self.main.with_mut(|m| unsafe { *m = sheaf.as_ptr() });
    }

    pub(crate) fn spare(&self) -> Option<NonNull<SlabSheaf>> {
        // SAFETY: the caller holds the lock.
        self.spare.with(|s| NonNull::new(unsafe { *s }))
    }

    pub(crate) fn set_spare(&self, sheaf: Option<NonNull<SlabSheaf>>) {
        // SAFETY: the caller holds the lock.
        self.spare.with_mut(|s| unsafe { *s = sheaf.map_or(std::ptr::null_mut(), NonNull::as_ptr) });
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
