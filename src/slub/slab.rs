//! `struct slab`: one slab's metadata, its freelist, and the node lists it sits on.
//!
//! Mirrors `mm/slab.h` (`struct slab`) and the freelist helpers of `mm/slub.c`
//! (`get_freepointer`, `set_freepointer`). Free objects are chained through a
//! pointer stored *inside* the free object at `s->offset`, exactly as SLUB
//! does, so a slab costs no memory per object beyond the objects themselves.
//!
//! Deviation from SLUB: the freelist and counters are updated under the node's
//! `list_lock` instead of with a double-word cmpxchg. Only slow paths touch a
//! slab, and one lock keeps the slab state easy to check (loom sees it).

use std::ptr::NonNull;

use crate::sync::UnsafeCell;

/// `slab->slab_cache` and `sheaf->cache`: the storage that owns a slab or a
/// sheaf. The storage is built from slabs and sheaves, so this file cannot
/// name it without an import loop; the pointer is typed opaquely here and
/// `storage.rs` gives it its type back ([`StorageRef::as_ref`] is defined there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StorageRef(pub(crate) NonNull<StorageOpaque>);

/// The opaque pointee of [`StorageRef`] (a `CacheStorage`).
pub(crate) enum StorageOpaque {}

/// Which node list a slab is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnList {
    /// Taken off every list (being discarded).
    None,
    /// `n->partial`: at least one free object (`SL_partial`).
    Partial,
    /// `n->full`: no free object. SLUB keeps this list only for
    /// `SLAB_STORE_USER`; we keep it always, so teardown and reports can
    /// enumerate every slab.
    Full,
}

/// The mutable part of a slab, protected by its node's `list_lock`.
pub(crate) struct SlabState {
    /// First free object (`slab->freelist`), null when the slab is full.
    pub(crate) freelist: *mut u8,
    /// Objects handed out of this slab (`slab->inuse`); objects in sheaves count.
    pub(crate) inuse: u32,
    /// The list the slab is on.
    pub(crate) on_list: OnList,
    prev: *mut Slab,
    next: *mut Slab,
}

/// `struct slab`.
pub(crate) struct Slab {
    /// `slab->slab_cache`: the storage (and through it the primary instance)
    /// that owns this slab. Never an alias.
    pub(crate) storage: StorageRef,
    /// First byte of the slab's pages.
    pub(crate) base: NonNull<u8>,
    /// Page order of the slab.
    pub(crate) order: u32,
    /// Objects in the slab (`slab->objects`).
    pub(crate) objects: u32,
    /// Node the slab belongs to.
    pub(crate) node: u32,
    /// Freelist and counters; only touched under `list_lock`.
    pub(crate) state: UnsafeCell<SlabState>,
}

impl Slab {
    pub(crate) fn new(storage: StorageRef, base: NonNull<u8>, order: u32, objects: u32, node: u32) -> Slab {
        Slab {
            storage,
            base,
            order,
            objects,
            node,
            state: UnsafeCell::new(SlabState {
                freelist: std::ptr::null_mut(),
                inuse: 0,
                on_list: OnList::None,
                prev: std::ptr::null_mut(),
                next: std::ptr::null_mut(),
            }),
        }
    }

    /// Runs `f` on the slab state.
    ///
    /// # Safety
    /// The caller holds the `list_lock` of the slab's node (or owns the slab
    /// exclusively, before it is published or after it is unlinked).
    #[inline]
    pub(crate) unsafe fn with_state<R>(&self, f: impl FnOnce(&mut SlabState) -> R) -> R {
        // SAFETY: the caller's lock gives exclusive access to the state.
        self.state.with_mut(|st| f(unsafe { &mut *st }))
    }
}

/// Reads the free pointer stored in a free object (`get_freepointer`).
///
/// # Safety
/// `object` is a free object of a slab whose layout puts the free pointer at
/// `offset`; the caller holds whatever protects that object (list_lock).
#[inline]
pub(crate) unsafe fn get_freepointer(object: *mut u8, offset: u32) -> *mut u8 {
    // SAFETY: free-pointer offsets are multiples of sizeof(void *) inside a
    // stride that is itself pointer aligned, so the read is aligned and in bounds.
    unsafe { (object.add(offset as usize) as *mut *mut u8).read() }
}

/// Writes the free pointer of a free object (`set_freepointer`).
///
/// # Safety
/// As [`get_freepointer`]; the object must not be in use by anyone.
#[inline]
pub(crate) unsafe fn set_freepointer(object: *mut u8, offset: u32, next: *mut u8) {
    // SAFETY: see `get_freepointer`; the object is free, so nobody else reads it.
    unsafe { (object.add(offset as usize) as *mut *mut u8).write(next) }
}

/// An intrusive doubly linked list of slabs (`n->partial`, `n->full`), used
/// under `list_lock` only.
pub(crate) struct SlabList {
    head: *mut Slab,
    tail: *mut Slab,
    len: usize,
}

// SAFETY: the list is only reached through its node's mutex.
unsafe impl Send for SlabList {}

impl SlabList {
    pub(crate) const fn new() -> SlabList {
        SlabList { head: std::ptr::null_mut(), tail: std::ptr::null_mut(), len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn head(&self) -> Option<NonNull<Slab>> {
        NonNull::new(self.head)
    }

    /// `list_add` (head) or `list_add_tail`.
    ///
    /// # Safety
    /// `slab` is live, on no list, and the caller holds the list's lock.
    pub(crate) unsafe fn insert(&mut self, slab: NonNull<Slab>, kind: OnList, at_tail: bool) {
        let s = slab.as_ptr();
        // SAFETY: caller holds the lock; neighbours are live members of this list.
        unsafe {
            (*s).with_state(|st| {
                debug_assert_eq!(st.on_list, OnList::None);
                st.on_list = kind;
                if at_tail {
                    st.prev = self.tail;
                    st.next = std::ptr::null_mut();
                } else {
                    st.prev = std::ptr::null_mut();
                    st.next = self.head;
                }
            });
            if at_tail {
                if self.tail.is_null() {
                    self.head = s;
                } else {
                    (*self.tail).with_state(|t| t.next = s);
                }
                self.tail = s;
            } else {
                if self.head.is_null() {
                    self.tail = s;
                } else {
                    (*self.head).with_state(|h| h.prev = s);
                }
                self.head = s;
            }
        }
        self.len += 1;
    }

    /// `list_del`.
    ///
    /// # Safety
    /// `slab` is on this list and the caller holds the list's lock.
    pub(crate) unsafe fn remove(&mut self, slab: NonNull<Slab>) {
        let s = slab.as_ptr();
        // SAFETY: caller holds the lock; `slab` and its neighbours are members.
        unsafe {
            let (prev, next) = (*s).with_state(|st| {
                let links = (st.prev, st.next);
                st.prev = std::ptr::null_mut();
                st.next = std::ptr::null_mut();
                st.on_list = OnList::None;
                links
            });
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).with_state(|p| p.next = next);
            }
            if next.is_null() {
                self.tail = prev;
            } else {
                (*next).with_state(|n| n.prev = prev);
            }
        }
        self.len -= 1;
    }

    /// The slabs from head to tail.
    ///
    /// # Safety
    /// The caller holds the list's lock for as long as it uses the result.
    pub(crate) unsafe fn to_vec(&self) -> Vec<NonNull<Slab>> {
        let mut out = Vec::with_capacity(self.len);
        let mut cur = self.head;
        while let Some(slab) = NonNull::new(cur) {
            out.push(slab);
            // SAFETY: members are live while the lock is held.
            cur = unsafe { slab.as_ref().with_state(|st| st.next) };
        }
        out
    }
}
