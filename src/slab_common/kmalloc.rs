//! `kmalloc()` and `kfree()`: the size classes, large allocations from the
//! page allocator, and frees by token or by address.
//!
//! Mirrors `mm/slab_common.c` (`kmalloc_caches`, `__kmalloc_large_node`,
//! `kfree`) and the `free_consistency_checks()` side of `slub_debug=F`.

use std::ptr::NonNull;

use crate::config::{KMALLOC_MAX_SIZE, PAGE_SIZE};
use crate::error::{AllocError, SlabError};
use crate::flags::SLAB_CONSISTENCY_CHECKS;
use crate::slab_common::cache::{FreeError, KmemCache, Object};
use crate::slab_common::registry::InstPtr;
use crate::slab_common::world::World;
use crate::slub::layout::get_order;
use crate::slub::page::{PageEntry, SLOTS_HOLDER_BASE};
use crate::slub::percpu::try_local;
use crate::slub::rseq::{self, Push};
use crate::slub::storage::{FreeCheck, NodeHome, PcsSlot};

/// The kmalloc size classes of `kmalloc_caches[KMALLOC_NORMAL]` (x86_64, 4 KiB pages).
pub const KMALLOC_SIZES: [u32; 13] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

/// `KMALLOC_MAX_CACHE_SIZE`: larger requests go to the page allocator.
pub const KMALLOC_MAX_CACHE_SIZE: usize = 2 * PAGE_SIZE;

/// Mirrors `kmalloc_size_index[]` (mm/slab_common.c; `size_index[]` before
/// 6.10): the size class of a request of up to 192 bytes, by `(size - 1) / 8`.
/// The kernel stores `kmalloc_caches[]` indices (3 = 8 bytes, 1 = 96, 2 =
/// 192, `k` = `2^k` otherwise); this table stores the position of the same
/// class in [`KMALLOC_SIZES`].
const KMALLOC_SIZE_INDEX: [u8; 24] = [
    0, // 8
    1, // 16
    2, 2, // 24, 32
    3, 3, 3, 3, // 40 .. 64
    4, 4, 4, 4, // 72 .. 96
    5, 5, 5, 5, // 104 .. 128
    6, 6, 6, 6, 6, 6, 6, 6, // 136 .. 192
];

/// Mirrors `kmalloc_slab()`'s index: `kmalloc_size_index[size_index_elem(size)]`
/// up to 192 bytes, `fls(size - 1)` above (as a position in [`KMALLOC_SIZES`],
/// whose 256-byte class is the kernel's index 8). `size` is in
/// `1..=KMALLOC_MAX_CACHE_SIZE`.
#[inline(always)]
pub(crate) fn kmalloc_index(size: usize) -> usize {
    debug_assert!((1..=KMALLOC_MAX_CACHE_SIZE).contains(&size));
    if size <= 192 {
        KMALLOC_SIZE_INDEX[(size - 1) / 8] as usize
    } else {
        // fls(size - 1) - 1: 193..=256 -> 7 (256), ..., 4097..=8192 -> 12.
        (usize::BITS - (size - 1).leading_zeros()) as usize - 1
    }
}

impl World {
    /// Mirrors `kmalloc(size, GFP_KERNEL)`: the size class by
    /// `kmalloc_slab()`, or whole pages above `KMALLOC_MAX_CACHE_SIZE`.
    /// `kmalloc(0)` is refused ([`AllocError::ZeroSize`]): the kernel's
    /// `ZERO_SIZE_PTR` is not an object.
    #[inline]
    pub fn kmalloc(&self, size: usize) -> Result<Object, AllocError> {
        if size.wrapping_sub(1) >= KMALLOC_MAX_CACHE_SIZE {
            return self.kmalloc_other(size);
        }
        match self.kmalloc.get(kmalloc_index(size)) {
            Some(cache) => cache.get().alloc(),
            None => Err(AllocError::NotSetUp),
        }
    }

    /// `kmalloc(0)` and `__kmalloc_large_node()`: whole pages, marked in the page map.
    #[cold]
    fn kmalloc_other(&self, size: usize) -> Result<Object, AllocError> {
        if size == 0 {
            return Err(AllocError::ZeroSize);
        }
        if size > KMALLOC_MAX_SIZE {
            return Err(AllocError::NoMemory);
        }
        let order = get_order(size);
        let pages = self.core.memory.pages.alloc(order).ok_or(AllocError::NoMemory)?;
        let words = crate::slub::storage::large_words();
        self.core.memory.map.set(pages.as_ptr() as usize, 1 << order, PageEntry::Large { head: true, order }, words);
        Ok(Object::from_raw(pages))
    }

    /// Mirrors `kfree()`: the object's slab names its cache; no cache argument.
    #[inline]
    pub fn kfree(&self, object: Object) -> Result<(), FreeError> {
        // The page's home word: its slab's storage's `kmem_cache_node`, or
        // `large_words`' for a large allocation, whose world is none.
        // SAFETY: the token names an allocated object.
        let home = unsafe { crate::slub::page::virt_to_home_fast(object.addr()) };
        // SAFETY: an allocated object's page names a live node of its slab's
        // storage, or `large_words`' static: both begin with a `NodeHome`.
        let node = unsafe { &*(home as *const NodeHome) };
        // The memmap is shared by every world of the process, so a slab of
        // another world is found too: one compare refuses it (the kernel
        // has one world, and no such check). No debug-flag test: a cache
        // with `SLAB_CONSISTENCY_CHECKS` has no sheaves, so the push misses
        // and `kfree_miss` checks.
        if node.world != self.memory_addr {
            return kfree_cold(object, self);
        }
        // The section's slots come from the page's slots word, loaded beside
        // the home word: no load waits for another before the slot's
        // (`slab->slab_cache->cpu_sheaves` is two dependent loads).
        // SAFETY: the token names an allocated object.
        let slots = unsafe { crate::slub::page::virt_to_slots_holder(object.addr()) };
        let ptr = object.into_raw();
        // SAFETY: an allocated object's page holds its storage's live
        // real-CPU slots (or the not-rseq slots) at this offset of `slots`;
        // `ptr` is an allocated object of that storage, given up on `Done`.
        let pushed = match unsafe { rseq::push::<PcsSlot, SLOTS_HOLDER_BASE>(slots, home, ptr.as_ptr()) } {
            Push::Done => true,
            Push::Miss => false,
            Push::NotRseq => {
                // SAFETY: the node's storage, live while its slab is.
                let storage = unsafe { &*node.storage };
                try_local(storage.cpu_sheaves.as_slice(), |_slot, pcs| {
                    if !pcs.free_hit(home, ptr) {
                        return None;
                    }
                    // Inside the slot's critical section: a plain increment.
                    #[cfg(feature = "slub_stats")]
                    storage.stat_local(_slot, crate::slub::stat::StatItem::FREE_PCS);
                    Some(())
                })
                .is_some()
            }
        };
        if pushed {
            return Ok(());
        }
        // One call site for the miss, so that it stays a tail call.
        // SAFETY: `ptr` is an allocated object of a live slab.
        unsafe { kfree_miss(ptr) }
    }

    /// [`World::kfree`] of a checked cache's object, another world's, a
    /// large allocation, an address outside the fixed range, or in no slab.
    #[cold]
    #[inline(never)]
    fn kfree_other(&self, object: Object) -> Result<(), FreeError> {
        match self.page_map.lookup(object.addr()) {
            // SAFETY (guard): the token proves the object's slab is live.
            PageEntry::Slab(slab) if unsafe { self.core.memory.holds(slab) } => {
                // SAFETY: the token proves the object is allocated, so its
                // slab and the slab's storage are live.
                let storage = unsafe { slab.as_ref().storage.as_ref() };
                if storage.layout.flags.intersects(SLAB_CONSISTENCY_CHECKS) {
                    // SAFETY: live slab of this storage.
                    if let Err(check) = unsafe { storage.free_consistency_checks(slab, object.addr()) } {
                        let error = check_error(check, storage.primary_name(), object.addr());
                        return Err(FreeError::new(error, object));
                    }
                }
                let ptr = object.into_raw();
                // SAFETY: allocated object of `slab`.
                unsafe { storage.slab_free(slab, ptr) };
                Ok(())
            }
            PageEntry::Large { head: true, order } if self.core.memory.pages.owns(object.addr()) => {
                let ptr = object.into_raw();
                let _guard = self.core.memory.discard_lock.write();
                self.core.memory.map.clear(ptr.as_ptr() as usize, 1 << order);
                // SAFETY: a large kmalloc head page of this order, allocated by kmalloc_large.
                unsafe { self.core.memory.pages.free(ptr, order) };
                Ok(())
            }
            _ => {
                let error = SlabError::NotSlabObject { addr: object.addr() };
                self.core.report("kfree", None, Some(object.addr()), error.to_string());
                Err(FreeError::new(error, object))
            }
        }
    }

    /// `kfree()` of a plain address with the checks of `slub_debug=F`
    /// (`free_consistency_checks`): an address in no slab, not at an object
    /// start, or already free is refused with a typed error and a report, and
    /// nothing changes. Without `SLAB_CONSISTENCY_CHECKS` on the owning cache
    /// a double free cannot be told apart, so the free is refused
    /// ([`SlabError::Unchecked`]).
    ///
    /// # Safety
    /// No live [`Object`] token may name `addr`: freeing an object behind its
    /// token's back would let the token reach memory that has been handed out
    /// again. (The allocator's own state stays consistent either way: in a
    /// checked cache every free, by token or by address, is validated under
    /// the node lock.) Two calls racing on one address free it once: as
    /// `free_to_partial_list()` does, the check and the free share one
    /// `list_lock` section, and the loser gets [`SlabError::DoubleFree`] (or
    /// [`SlabError::NotSlabObject`] if the winner's free emptied the slab
    /// and it was discarded).
    pub unsafe fn kfree_addr(&self, addr: usize) -> Result<(), SlabError> {
        let guard = self.core.memory.discard_lock.read();
        let PageEntry::Slab(slab) = self.core.memory.lookup_owned(addr) else {
            let error = SlabError::NotSlabObject { addr };
            self.core.report("kfree", None, Some(addr), error.to_string());
            return Err(error);
        };
        // SAFETY: the read lock keeps every mapped slab of this world (and so its storage) alive.
        let storage = unsafe { slab.as_ref().storage.as_ref() };
        let name = storage.primary_name();
        let result = if !storage.layout.flags.intersects(SLAB_CONSISTENCY_CHECKS) {
            Err(SlabError::Unchecked { cache: name.clone(), addr })
        } else {
            // BROKEN ON PURPOSE, loom only (`Broken::KfreeAddrCheckThenFree`):
            // the check and the free in two list_lock sections, so two frees
            // of one address can both pass the check.
            #[cfg(loom)]
            if self.core.config.broken == Some(crate::config::Broken::KfreeAddrCheckThenFree) {
                // SAFETY: live slab of this storage.
                return match unsafe { storage.free_consistency_checks(slab, addr) } {
                    Ok(()) => {
                        drop(guard);
                        // SAFETY: none; this is the race being modelled.
                        unsafe {
                            storage.__slab_free(
                                slab,
                                std::ptr::NonNull::new_unchecked(addr as *mut u8),
                                crate::slub::stat::Via::NONE,
                            )
                        };
                        Ok(())
                    }
                    Err(check) => Err(check_error(check, name, addr)),
                };
            }
            // The guard goes with the call: `storage` is not used after it.
            // SAFETY: the read lock keeps `slab` alive until the function
            // drops it; a debug cache has no sheaves; by this function's
            // contract no token names `addr`. Check and free share one
            // list_lock section, so of two racing frees only one passes.
            match unsafe { storage.free_debug_checked(slab, addr, guard) } {
                Ok(()) => return Ok(()),
                Err(check) => Err(check_error(check, name.clone(), addr)),
            }
        };
        if let Err(e) = &result {
            self.core.report("kfree", Some(name), Some(addr), e.to_string());
        }
        result
    }

    /// The normal kmalloc cache for `size` bytes, if this world has them.
    pub fn kmalloc_cache(&self, size: usize) -> Option<&KmemCache> {
        if !(1..=KMALLOC_MAX_CACHE_SIZE).contains(&size) {
            return None;
        }
        self.kmalloc.get(kmalloc_index(size)).map(InstPtr::get)
    }
}

fn check_error(check: FreeCheck, cache: String, addr: usize) -> SlabError {
    match check {
        FreeCheck::NotObjectStart => SlabError::NotObjectStart { cache, addr },
        FreeCheck::AlreadyFree => SlabError::DoubleFree { cache, addr },
    }
}

/// [`World::kfree_other`] with the object first, where `kfree()` has it:
/// the hit path then keeps the object in its argument register.
#[cold]
#[inline(never)]
fn kfree_cold(object: Object, world: &World) -> Result<(), FreeError> {
    world.kfree_other(object)
}

/// The sheaf miss of [`World::kfree`]: a tail call, so the hit path saves no
/// register. kfree() names no instance: counted in the storage only.
///
/// # Safety
/// `ptr` is an allocated object of `slab`, a slab of `storage`.
#[cold]
#[inline(never)]
unsafe fn kfree_miss(ptr: NonNull<u8>) -> Result<(), FreeError> {
    // SAFETY: the caller's object is allocated, so its page is in the range.
    let slab = unsafe { crate::slub::page::virt_to_slab_fast(ptr.as_ptr() as usize) };
    // Checked, not assumed: a miss is the cold path, and a teardown bug that
    // unmapped a slab under its objects is reported here by name.
    let slab = slab.expect("kfree: the object keeps its slab mapped");
    // SAFETY: the slab is live while its object is allocated.
    let storage = unsafe { slab.as_ref().storage.as_ref() };
    if storage.layout.flags.intersects(SLAB_CONSISTENCY_CHECKS) {
        let addr = ptr.as_ptr() as usize;
        // SAFETY: live slab of this storage.
        if let Err(check) = unsafe { storage.free_consistency_checks(slab, addr) } {
            let error = check_error(check, storage.primary_name(), addr);
            return Err(FreeError::new(error, Object::from_raw(ptr)));
        }
    }
    // SAFETY: forwarded.
    unsafe { storage.slab_free_slow(slab, ptr, crate::slub::stat::Via::NONE) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mm/slab_common.c: `kmalloc_slab()` through `kmalloc_size_index[]` and
    /// `fls()` picks the smallest class that holds the request, for every
    /// size a kmalloc cache serves (96 and 192 included).
    #[test]
    fn kmalloc_index_is_the_smallest_class_that_holds_the_size() {
        for size in 1..=KMALLOC_MAX_CACHE_SIZE {
            let want = KMALLOC_SIZES.iter().position(|&s| s as usize >= size).unwrap();
            assert_eq!(kmalloc_index(size), want, "kmalloc({size})");
        }
    }
}

/// The shared range seen from worlds (the range itself is `slub/page/`'s).
#[cfg(all(test, not(loom)))]
mod range_tests {
    use crate::config::SlabConfig;
    use crate::error::SlabError;
    use crate::slab_common::world::World;
    use crate::slub::page::test_support::{lookup_word, owner};

    /// The fixed base is the default build's; `dynamic-base` puts the data
    /// wherever mmap does.
    #[test]
    #[cfg(not(feature = "dynamic-base"))]
    fn slab_memory_is_at_the_fixed_base_and_found_by_arithmetic() {
        let world = World::new(SlabConfig::default());
        let object = world.kmalloc(64).unwrap();
        assert_eq!(object.addr() >> 36, crate::slub::page::test_support::BASE >> 36, "{:#x}", object.addr());
        assert!(world.kfree(object).is_ok());
    }

    #[test]
    fn another_worlds_objects_are_refused() {
        let (a, b) = (World::new(SlabConfig::default()), World::new(SlabConfig::default()));
        let small = a.kmalloc(64).unwrap();
        let large = a.kmalloc(5 * 4096).unwrap();
        let (small_addr, pages) = (small.addr(), a.pages());
        // SAFETY: no token of `b` names the address.
        assert!(matches!(unsafe { b.kfree_addr(small_addr) }, Err(SlabError::NotSlabObject { .. })));
        let small = b.kfree(small).expect_err("a slab of another world").into_object();
        let large = b.kfree(large).expect_err("a large kmalloc of another world").into_object();
        assert_eq!(a.pages(), pages, "nothing was freed");
        a.kfree(small).unwrap();
        a.kfree(large).unwrap();
    }

    #[test]
    fn a_dropped_world_gives_its_pages_back() {
        let world = World::new(SlabConfig::default());
        // Never freed: the token is dropped.
        let addr = world.kmalloc(3 * 4096).unwrap().addr();
        drop(world);
        assert_eq!(lookup_word(addr), 0, "descriptors cleared");
        assert_eq!(owner(addr), 0, "block back in the shared range");
    }
}
