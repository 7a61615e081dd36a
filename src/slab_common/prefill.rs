//! Prefilled sheaves: a caller reserves objects in advance, to allocate them
//! later where it cannot fail or sleep (the maple tree's use).
//!
//! Mirrors `mm/slub.c` (6.18+): `kmem_cache_prefill_sheaf()`,
//! `kmem_cache_alloc_from_sheaf()`, `kmem_cache_refill_sheaf()`,
//! `kmem_cache_return_sheaf()` and `kmem_cache_sheaf_size()`.

use std::ptr::NonNull;

use crate::error::SlabError;
use crate::slab_common::cache::{KmemCache, Object};
use crate::slub::cpu::cpu_slot;
use crate::slub::sheaf::SlabSheaf;
use crate::slub::stat::Via;
use crate::slub::storage::CacheStorage;

/// A sheaf handed out by [`KmemCache::prefill_sheaf`]. It borrows its cache,
/// so the cache cannot be destroyed while the sheaf is out; dropping it
/// returns it (`kmem_cache_return_sheaf`).
pub struct PrefilledSheaf<'c> {
    sheaf: NonNull<SlabSheaf>,
    storage: &'c CacheStorage,
}

// SAFETY: the sheaf is owned by this value alone; objects in it are free objects of `storage`.
unsafe impl Send for PrefilledSheaf<'_> {}

impl PrefilledSheaf<'_> {
    /// Mirrors `kmem_cache_sheaf_size()`: objects left in the sheaf.
    pub fn size(&self) -> u32 {
        // SAFETY: we own the sheaf.
        unsafe { self.sheaf.as_ref().size }
    }

    /// The sheaf's capacity (the cache's `sheaf_capacity`, or more for an oversize sheaf).
    pub fn capacity(&self) -> u32 {
        // SAFETY: we own the sheaf.
        unsafe { self.sheaf.as_ref().capacity }
    }

    fn oversize(&self) -> bool {
        self.capacity() != self.storage.layout.sheaf_capacity
    }
}

impl KmemCache {
    /// Mirrors `kmem_cache_prefill_sheaf()`: a sheaf holding at least `size`
    /// objects. Within the cache's capacity it is the CPU's spare, a barn
    /// sheaf or a new one, refilled to full capacity; beyond it, an oversize
    /// sheaf of exactly `size` objects.
    pub fn prefill_sheaf(&self, size: u32) -> Result<PrefilledSheaf<'_>, SlabError> {
        let storage = self.storage().ok_or(SlabError::NotSetUp)?;
        if size == 0 {
            return Err(SlabError::invalid("kmem_cache_prefill_sheaf: size 0"));
        }
        let capacity = storage.layout.sheaf_capacity;
        let slot = cpu_slot(storage.nr_cpus());
        let node = storage.node_of_slot(slot);
        let sheaf = if size > capacity {
            SlabSheaf::alloc(storage.self_ptr(), size).ok_or(SlabError::NoMemory)?
        } else {
            let spare = storage.with_local_pcs(|_, pcs| pcs.spare.take());
            let from_barn = || {
                let (barn, _) = storage.barn(node);
                let mut b = barn.lock();
                b.full.pop().or_else(|| b.empty.pop())
            };
            spare
                .or_else(from_barn)
                .or_else(|| SlabSheaf::alloc(storage.self_ptr(), capacity))
                .ok_or(SlabError::NoMemory)?
        };
        let prefilled = PrefilledSheaf { sheaf, storage };
        if prefilled.size() < size {
            storage.refill_sheaf(sheaf, node, self.via());
            if prefilled.size() < size {
                // Not enough memory: flush what we got and give up.
                storage.sheaf_flush(sheaf, self.via());
                std::mem::forget(prefilled);
                // SAFETY: the sheaf is ours alone and now empty.
                unsafe { SlabSheaf::free(sheaf) };
                return Err(SlabError::NoMemory);
            }
        }
        Ok(prefilled)
    }

    /// Mirrors `kmem_cache_alloc_from_sheaf()`: an object from the sheaf, or
    /// `None` when it is empty (there is no fallback, by design).
    pub fn alloc_from_sheaf(&self, sheaf: &mut PrefilledSheaf<'_>) -> Option<Object> {
        // A sheaf of another storage would hand out objects this cache does not own.
        if sheaf.size() == 0 || !std::ptr::eq(self.storage_ptr(), sheaf.storage) {
            return None;
        }
        // SAFETY: we own the sheaf and it is not empty; it only holds object addresses.
        Some(Object::from_raw(unsafe { NonNull::new_unchecked(SlabSheaf::pop(sheaf.sheaf)) }))
    }

    /// Mirrors `kmem_cache_refill_sheaf()`: make the sheaf hold at least `size` objects.
    pub fn refill_sheaf<'c>(&'c self, sheaf: &mut PrefilledSheaf<'c>, size: u32) -> Result<(), SlabError> {
        if sheaf.size() >= size {
            return Ok(());
        }
        if size > sheaf.capacity() {
            let bigger = self.prefill_sheaf(size)?;
            let old = std::mem::replace(sheaf, bigger);
            self.return_sheaf(old);
            return Ok(());
        }
        let storage = sheaf.storage;
        storage.refill_sheaf(sheaf.sheaf, storage.node_of_slot(cpu_slot(storage.nr_cpus())), self.via());
        if sheaf.size() >= size { Ok(()) } else { Err(SlabError::NoMemory) }
    }

    /// Mirrors `kmem_cache_return_sheaf()`: an oversize sheaf is flushed and
    /// freed; otherwise it becomes the CPU's spare, or goes to the barn's full
    /// list, or — with the barn at `MAX_FULL_SHEAVES` — is flushed and freed.
    pub fn return_sheaf(&self, sheaf: PrefilledSheaf<'_>) {
        drop(sheaf);
    }
}

impl Drop for PrefilledSheaf<'_> {
    fn drop(&mut self) {
        let storage = self.storage;
        let sheaf = self.sheaf;
        if !self.oversize() {
            let slot = cpu_slot(storage.nr_cpus());
            let parked = storage.with_local_pcs(|_, pcs| {
                let empty = pcs.spare.is_none();
                if empty {
                    pcs.spare = Some(sheaf);
                }
                empty
            });
            if parked {
                return;
            }
            // Dropped, not called through an instance: the storage's count only.
            storage.refill_sheaf(sheaf, storage.node_of_slot(slot), Via::NONE);
            let (barn, max) = storage.barn(storage.node_of_slot(slot));
            let mut b = barn.lock();
            // SAFETY: we own the sheaf.
            if b.full.len() < max && unsafe { sheaf.as_ref().size == sheaf.as_ref().capacity } {
                b.full.push(sheaf);
                return;
            }
        }
        storage.sheaf_flush(sheaf, Via::NONE);
        // SAFETY: the sheaf is ours alone and now empty.
        unsafe { SlabSheaf::free(sheaf) };
    }
}
