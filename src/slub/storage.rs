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

use crate::slub::layout::CacheLayout;
use crate::slub::memory::SlabMemory;
use crate::slub::page::PageWords;
use crate::slub::percpu::{Mode, PerCpu, Slot};
use crate::slub::rseq;
use crate::slub::sheaf::{NodeBarn, PerCpuSheaves, SlabSheaf};
use crate::slub::slab::{OnList, Slab, SlabList, StorageRef};
use crate::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
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

/// `struct kmem_cache_node`: what `kfree()`'s fast path needs of the
/// storage first ([`NodeHome`]), then `list_lock` with its lists, and the
/// barn.
#[repr(C)]
pub(crate) struct KmemCacheNode {
    pub(crate) home: NodeHome,
    pub(crate) list_lock: Mutex<NodeLists>,
    pub(crate) barn: Mutex<NodeBarn>,
}

/// What a page's home word names (the address of a node,
/// whose first field this is): `kfree()` reaches its world and its storage
/// from it, with no load of the slab (its slots come from the page's own
/// slots word, `PageWords::slots`). A large kmalloc allocation's pages
/// name the static home of [`large_words`], whose world is none.
#[repr(C)]
pub(crate) struct NodeHome {
    /// The world's key (`Arc::as_ptr` of the world's memory, as
    /// `World::memory_addr`), for `kfree()`'s compare with its own world:
    /// the range is shared by every world. 0 for [`large_words`].
    pub(crate) world: usize,
    /// The storage this node is of (`slab->slab_cache` for `kfree()` on the
    /// virtual CPUs); null for [`large_words`].
    pub(crate) storage: *const CacheStorage,
}

// SAFETY: written only while its storage is not shared yet (or never, for
// `large_words`); the storage pointer is only dereferenced under the
// storage's lifetime rules.
unsafe impl Sync for NodeHome {}

const _: () = assert!(std::mem::offset_of!(KmemCacheNode, home) == 0);

/// The words of a large kmalloc allocation's pages: the home word no
/// world's, so `kfree()` sends such an object to its cold path after the
/// world compare it makes anyway (and every slot's home differs from it);
/// the slots the not-rseq ones, which no section enters.
pub(crate) fn large_words() -> PageWords {
    static LARGE: NodeHome = NodeHome { world: 0, storage: std::ptr::null() };
    PageWords { home: std::ptr::from_ref(&LARGE) as usize, slots: rseq::not_rseq_slots() }
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

/// The instance that owns a storage, as the core sees it: never dereferenced
/// here (`slab->slab_cache` is a `struct kmem_cache *` SLUB's fast paths only
/// compare and pass on). The lifecycle casts its `KmemCache` to and from it.
pub enum SlabOwner {}

impl StorageRef {
    /// The storage a slab or sheaf names.
    pub(crate) fn as_ptr(self) -> *mut CacheStorage {
        self.0.as_ptr().cast()
    }

    /// The storage a slab or sheaf names, as a reference.
    ///
    /// # Safety
    /// The storage is alive for `'a`: the caller holds a live slab or sheaf
    /// of it, or an allocated object from one (a storage outlives its slabs
    /// and sheaves).
    pub(crate) unsafe fn as_ref<'a>(self) -> &'a CacheStorage {
        // SAFETY: forwarded from the caller; the pointer came from `self_ptr`.
        unsafe { &*self.as_ptr() }
    }
}

/// One CPU's slot of `s->cpu_sheaves`: the per-cpu protocol's words and the
/// CPU's sheaves, on one cache line.
pub(crate) type PcsSlot = Slot<PerCpuSheaves>;

/// The allocation side of a (primary) cache.
pub(crate) struct CacheStorage {
    /// Per-cpu sheaves (`s->cpu_sheaves`), each in its slot of the per-cpu
    /// protocol; first, as the fast path reads it first.
    pub(crate) cpu_sheaves: PerCpu<PerCpuSheaves>,
    /// `virt_to_slab()` for the free path, one load from here.
    pub(crate) page_map: crate::slub::page::PageMapReader,
    /// Object layout (`size`, `offset`, `oo`, ...), as `calculate_sizes()`
    /// left it; `layout.inuse` is the creator's, the live `s->inuse` is `inuse`.
    pub(crate) layout: CacheLayout,
    /// `s->inuse`: where the metadata after the object starts. Merging widens
    /// it (`__kmem_cache_alias()`), so it cannot live in the `Copy` layout;
    /// it is the storage's because every name allocating from these slabs
    /// must fit below it.
    inuse: AtomicU32,
    /// `s->ctor`.
    pub(crate) ctor: Option<Ctor>,
    /// `s->node[]`.
    pub(super) nodes: Box<[KmemCacheNode]>,
    /// Pages and the address map.
    pub(crate) memory: Arc<SlabMemory>,
    /// The instance that owns this storage (the primary): the cache every
    /// slab and sheaf of it names (`slab->slab_cache`). Opaque to the core;
    /// the lifecycle sets it when the instance is registered and reads it back.
    pub(crate) owner: AtomicPtr<SlabOwner>,
    /// `MAX_FULL_SHEAVES`.
    pub(super) barn_max: usize,
    /// `CONFIG_SLUB_STATS` counters (empty without the `slub_stats` feature).
    pub(crate) stat: super::stat::SlubStat,
    /// Loom builds only: the deliberately broken teardown step to run
    /// (`SlabConfig::broken`), set by `create_cache`.
    #[cfg(loom)]
    pub(crate) broken: Option<crate::config::Broken>,
}

// SAFETY: all shared mutable state is behind the per-cpu slots, the node
// mutexes or atomics; raw pointers inside are owned by this storage.
unsafe impl Send for CacheStorage {}
// SAFETY: as above.
unsafe impl Sync for CacheStorage {}

impl CacheStorage {
    /// Allocates the storage: per-cpu main sheaves and per-node lists
    /// (`init_kmem_cache_nodes`, `init_percpu_sheaves`). `mode` is the
    /// per-cpu protocol (`SlabConfig::percpu_fallback`, `real_cpus`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        layout: CacheLayout,
        ctor: Option<Ctor>,
        memory: Arc<SlabMemory>,
        nr_cpus: u32,
        nr_nodes: u32,
        barn_max: u32,
        mode: Mode,
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
                home: NodeHome { world: Arc::as_ptr(&memory) as usize, storage: std::ptr::null() },
            })
            .collect();
        // The storage must exist before its sheaves can name it: allocate it
        // with no per-cpu sheaves, then install one main sheaf per CPU.
        let storage = Box::new(CacheStorage {
            cpu_sheaves: PerCpu::empty(),
            page_map: memory.map.reader(),
            layout,
            inuse: AtomicU32::new(layout.inuse),
            ctor,
            nodes,
            memory,
            owner: AtomicPtr::new(std::ptr::null_mut()),
            barn_max: barn_max as usize,
            stat: super::stat::SlubStat::new(nr_cpus),
            #[cfg(loom)]
            broken: None,
        });
        let ptr = NonNull::from(Box::leak(storage));
        let capacity = layout.sheaf_capacity;
        let made = PerCpu::try_new(nr_cpus.max(1) as usize, mode, |cpu| {
            let main = SlabSheaf::alloc(StorageRef(ptr.cast()), capacity)?;
            let node = cpu as u32 % nr_nodes.max(1);
            // SAFETY: the storage is live and not shared yet.
            let home = unsafe { ptr.as_ref() }.home(node as usize);
            Some(PerCpuSheaves::new(main, node, home))
        });
        match made {
            Ok(cpu_sheaves) => {
                // SAFETY: the storage is not shared yet; we are its only user.
                let storage = unsafe { &mut *ptr.as_ptr() };
                for node in storage.nodes.iter_mut() {
                    node.home.storage = ptr.as_ptr();
                }
                storage.cpu_sheaves = cpu_sheaves;
                Some(ptr)
            }
            Err(mut slots) => {
                for slot in &mut slots {
                    // SAFETY: these sheaves were just allocated and are referenced nowhere else.
                    unsafe { SlabSheaf::free(slot.get_mut().main) };
                }
                // SAFETY: `ptr` came from Box::leak above and was never shared.
                drop(unsafe { Box::from_raw(ptr.as_ptr()) });
                None
            }
        }
    }

    /// The address of node `node`'s `kmem_cache_node`: what the pages of
    /// the slabs of that node carry as their home word in the memmap, and
    /// the sheaves of its CPUs as [`PerCpuSheaves::home`], so that one
    /// compare tells the free fast path that an object is this storage's
    /// and of the CPU's node.
    #[inline]
    pub(crate) fn home(&self, node: usize) -> usize {
        std::ptr::from_ref(&self.nodes[node]) as usize
    }

    /// The memmap words of a slab of node `node`: its home, and the slots
    /// `kfree()`'s section indexes (installed before any slab exists, and
    /// fixed while the storage lives).
    pub(crate) fn page_words(&self, node: usize) -> PageWords {
        PageWords { home: self.home(node), slots: self.cpu_sheaves.section_base() }
    }

    /// `s->inuse`, widened by every merge so far.
    pub(crate) fn inuse(&self) -> u32 {
        self.inuse.load(Ordering::Relaxed)
    }

    /// Mirrors the second half of `__kmem_cache_alias()`:
    /// `s->inuse = max(s->inuse, ALIGN(size, sizeof(void *)))`. Called under
    /// `slab_mutex`, so a plain max is enough; readers only need some value
    /// that was current (the kernel reads the field without a lock too).
    pub(crate) fn widen_inuse(&self, size: u32) {
        let aligned = size.next_multiple_of(crate::config::PTR_SIZE);
        self.inuse.fetch_max(aligned, Ordering::Relaxed);
    }

    /// Frees a storage whose slabs and sheaves are all gone
    /// (`__kmem_cache_release`: `pcs_destroy`, `free_kmem_cache_nodes`).
    ///
    /// # Safety
    /// `ptr` came from [`CacheStorage::new`], nobody can reach it any more, and
    /// [`CacheStorage::shutdown`] returned no remaining objects.
    pub(crate) unsafe fn release(ptr: NonNull<CacheStorage>) {
        // SAFETY: the caller guarantees exclusive ownership.
        let mut storage = unsafe { Box::from_raw(ptr.as_ptr()) };
        for slot in storage.cpu_sheaves.iter_mut() {
            let pcs = slot.get_mut();
            debug_assert!(pcs.spare.is_none());
            // SAFETY: shutdown emptied every sheaf; the main sheaf is ours alone now.
            unsafe { SlabSheaf::free(pcs.main) };
        }
    }

    /// Runs `f` on the calling thread's CPU sheaves, like the kernel's
    /// blocking `local_lock()`: the owner's fast path, else the remote
    /// protocol on that CPU's slot (another thread owns it, or first use).
    /// Not for the allocation fast paths, which give up instead of waiting.
    pub(crate) fn with_local_pcs<R>(&self, f: impl FnOnce(usize, &mut PerCpuSheaves) -> R) -> R {
        let mut f = Some(f);
        if let Some(r) = self.cpu_sheaves.with_local(|slot, pcs| f.take().expect("called once")(slot, pcs)) {
            return r;
        }
        let slot = self.cpu_sheaves.current_index();
        self.cpu_sheaves.slot(slot).lock_remote().with_mut(|pcs| f.take().expect("called once")(slot, pcs))
    }

    /// Loom builds only: whether the calling thread owns its CPU's slot
    /// (membarrier mode; never in fallback mode).
    #[cfg(all(loom, test))]
    pub(crate) fn owns_local_pcs(&self) -> bool {
        self.cpu_sheaves.slot(self.cpu_sheaves.current_index()).owned_by_current()
    }

    /// Loom builds only: the seeded bug to run (`SlabConfig::broken`), for
    /// the teardown steps and for the per-cpu protocol.
    ///
    /// # Safety
    /// The storage is not shared yet.
    #[cfg(loom)]
    pub(crate) unsafe fn set_broken(ptr: NonNull<CacheStorage>, broken: Option<crate::config::Broken>) {
        // SAFETY: forwarded: we are the storage's only user.
        let storage = unsafe { &mut *ptr.as_ptr() };
        storage.broken = broken;
        storage.cpu_sheaves.set_broken(broken);
    }

    /// Number of per-cpu slots.
    pub(crate) fn nr_cpus(&self) -> usize {
        self.cpu_sheaves.len()
    }

    pub(crate) fn node_of_slot(&self, slot: usize) -> usize {
        slot % self.nodes.len()
    }

    /// What this storage's slabs and sheaves name (`slab->slab_cache`).
    pub(crate) fn self_ptr(&self) -> StorageRef {
        StorageRef(NonNull::from(self).cast())
    }

    /// The barn of `node`, and `MAX_FULL_SHEAVES`.
    pub(crate) fn barn(&self, node: usize) -> (&Mutex<NodeBarn>, usize) {
        (&self.nodes[node].barn, self.barn_max)
    }
}

/// Mirrors `discard_slab()`/`free_slab()`, through the world's memory alone
/// (the slab's storage may already be gone when a racing free discards it).
///
/// # Safety
/// The slab is on no list, has no object in use, and nobody else holds it.
pub(super) unsafe fn discard_slab(memory: &SlabMemory, slab: NonNull<Slab>) {
    // Writers of the page map exclude address-based lookups (see memory.rs).
    let _guard = memory.discard_lock.write();
    // SAFETY: exclusive per the caller; the slab box came from `new_slab`.
    unsafe {
        let s = Box::from_raw(slab.as_ptr());
        memory.map.clear(s.base.as_ptr() as usize, 1 << s.order);
        memory.pages.free(s.base, s.order);
        #[cfg(loom)]
        memory.graveyard.lock().expect("not poisoned").push(Box::into_raw(s) as usize);
    }
}

impl NodeLists {
    /// Links a slab that just had objects taken: full list, or partial
    /// head/tail.
    ///
    /// # Safety
    /// list_lock held; the slab is on no list.
    pub(super) unsafe fn partial_or_full(&mut self, slab: NonNull<Slab>, full: bool, tail: bool) {
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

impl CacheStorage {
    /// `stat(s, item)` for an event a call through an instance caused: the
    /// storage's count and the instance's (none for `Via::NONE`).
    #[inline(always)]
    pub(crate) fn count(&self, via: crate::slub::stat::Via<'_>, item: crate::slub::stat::StatItem) {
        self.stat(item);
        via.inc(item);
    }

    /// [`CacheStorage::count`] inside the critical section of CPU slot `slot`.
    #[inline(always)]
    pub(crate) fn count_local(&self, slot: usize, via: crate::slub::stat::Via<'_>, item: crate::slub::stat::StatItem) {
        self.stat_local(slot, item);
        via.inc_local(slot, item);
    }

    /// `stat(s, item)` outside the CPU's critical section: one relaxed
    /// atomic add on the current CPU slot (see `stat.rs`).
    #[inline(always)]
    pub(crate) fn stat(&self, item: crate::slub::stat::StatItem) {
        self.stat.inc(item);
    }

    /// `stat(s, item)` inside the critical section of CPU slot `slot`: a
    /// plain increment (see `stat.rs`).
    #[inline(always)]
    pub(crate) fn stat_local(&self, slot: usize, item: crate::slub::stat::StatItem) {
        self.stat.inc_local(slot, item);
    }
}
