//! `struct kmem_cache` instances, cache handles and object tokens.
//!
//! An instance is what a creator's handle points at. Its first field is the
//! pointer to the storage it allocates from — its own in mainline, its
//! primary's when it is an alias in the primary-cache design — so every
//! instance's fast path is: load `storage`, index the CPU's sheaves, pop.
//! The kernel's is: load `s->cpu_sheaves`, index, pop. A static instance
//! (`static FOO: KmemCache = KmemCache::new();`) is reached by address, with
//! no load of a cache pointer first: that is the point of Al Viro's series.

use std::fmt;
use std::ptr::NonNull;

use crate::error::{AllocError, SlabError};
use crate::flags::{SLAB_CONSISTENCY_CHECKS, SlabFlags};
use crate::slab_common::ids::{CacheId, ModuleId};
use crate::slab_common::sysfs::{SysfsFlags, SysfsName};
use crate::slub::page::PageEntry;
use crate::slub::percpu::try_local;
use crate::slub::rseq::{self, Pop, Push};
use crate::slub::slab::{Slab, StorageRef};
use crate::slub::storage::SlabOwner;
use crate::slub::storage::{CacheStorage, Ctor, FreeCheck, PcsSlot};
use crate::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use crate::sync::{Arc, Mutex};

/// Where an instance's memory lives and who created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceKind {
    /// Allocated by `kmem_cache_create()`.
    Dynamic,
    /// A static instance of the kernel image, set up by `kmem_cache_setup()`.
    Static,
    /// A static instance inside a module's memory.
    ModuleStatic,
    /// Primary scheme: a dynamic primary created for a module static that
    /// found no compatible primary. It has no user name.
    HiddenPrimary,
}

/// Life cycle of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// A static instance not set up yet.
    Unused,
    /// Usable.
    Live,
    /// Primary scheme: the creator destroyed it while aliases remain; it
    /// keeps the shared storage for them.
    Headless,
    /// Destroyed. A destroyed instance with objects left is kept (and its
    /// storage), as the kernel leaks it, so those objects stay valid.
    Destroyed,
}

/// The bookkeeping of an instance, changed under `slab_mutex`.
pub(crate) struct CacheMeta {
    pub(crate) state: InstanceState,
    pub(crate) kind: InstanceKind,
    /// `s->name`: the creator's name (for a mainline alias, the first
    /// creator's), shared with its handle; `None` until set up.
    pub(crate) name: Option<SysfsName>,
    /// `s->flags` as used for merging and sysfs (after `slab_debug=`).
    pub(crate) flags: SlabFlags,
    /// `s->refcount`: -1 for boot caches.
    pub(crate) refcount: i32,
    /// `s->usersize` (after sanitising).
    pub(crate) usersize: u32,
    /// `s->useroffset`.
    pub(crate) useroffset: u32,
    /// The alignment after `calculate_alignment`.
    pub(crate) align: u32,
    /// 6.18: the cache got per-cpu sheaves from an explicit `sheaf_capacity`.
    pub(crate) explicit_sheaves: bool,
    /// The world that set the instance up: its report log and destroy path.
    pub(crate) world: Option<Arc<dyn InstanceWorld>>,
    pub(crate) id: Option<CacheId>,
    /// The module that created it (a module static, or a module's dynamic cache).
    pub(crate) module: Option<ModuleId>,
    /// The names of creators that share this instance (mainline-style
    /// aliasing), oldest first, the instance's own name first.
    pub(crate) names: Vec<SysfsName>,
    /// The sysfs directory of this instance's storage (for a primary or a
    /// mainline cache); `None` for an alias, or when `sysfs_slab_add()`
    /// failed. The name is the tree's own ([`SysfsName`]), not a copy.
    pub(crate) sysfs_dir: Option<SysfsName>,
}

impl CacheMeta {
    /// The sysfs directory's name, empty if none.
    pub(crate) fn sysfs_dir(&self) -> &str {
        self.sysfs_dir.as_deref().unwrap_or("")
    }

    /// `s->name`, empty if the instance was never set up.
    pub(crate) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    const fn unused() -> CacheMeta {
        CacheMeta {
            state: InstanceState::Unused,
            kind: InstanceKind::Static,
            name: None,
            flags: SlabFlags::EMPTY,
            refcount: 0,
            usersize: 0,
            useroffset: 0,
            align: 0,
            explicit_sheaves: false,
            world: None,
            id: None,
            module: None,
            names: Vec::new(),
            sysfs_dir: None,
        }
    }
}

/// What an instance needs of the world that set it up: the report log and
/// the destroy path of its creators' handles. The world core implements it;
/// an instance never names the world's type (the world is built of instances).
pub(crate) trait InstanceWorld: Send + Sync {
    /// Appends a kernel-style report to the world's log.
    fn report(&self, function: &'static str, cache: Option<String>, addr: Option<usize>, message: String);

    /// `kmem_cache_destroy()` of one creator's reference to `inst`.
    fn destroy_reference(
        &self,
        inst: NonNull<KmemCache>,
        name: &str,
        module: Option<ModuleId>,
    ) -> Result<(), SlabError>;
}

/// `struct kmem_cache`: one cache instance.
///
/// Create static instances with [`KmemCache::new`] in a `static` item and set
/// them up with [`crate::World::kmem_cache_setup`]; dynamic ones come from
/// [`crate::World::kmem_cache_create`] as a [`Cache`] handle.
#[repr(C)]
pub struct KmemCache {
    /// `s->cpu_sheaves`: the first of the storage's per-CPU slots when they
    /// are the machine's CPUs (real-CPU mode, `slub/rseq/`), copied here
    /// when the storage is installed, so that the fast paths read the
    /// instance and then the slot, as the kernel's read `s->cpu_sheaves`
    /// and then the CPU's sheaves. An alias copies its primary's (it
    /// installs the same storage). Otherwise (virtual CPUs, unusable) the
    /// not-rseq slots (`rseq::not_rseq_slots`), on which every section
    /// misses and answers "not real CPUs".
    cpu_sheaves: AtomicPtr<u8>,
    /// The storage's slots when they are virtual CPUs, and their number;
    /// dangling and 0 otherwise, so that the virtual CPUs' entry misses.
    virtual_sheaves: AtomicPtr<PcsSlot>,
    nr_virtual_sheaves: AtomicUsize,
    /// The storage this instance allocates from; null before setup and after destroy.
    storage: AtomicPtr<CacheStorage>,
    /// `s->object_size` (what zeroing allocations clear).
    object_size: AtomicU32,
    /// `s->primary_cache`: itself for a primary, its primary for an alias.
    primary_cache: AtomicPtr<KmemCache>,
    pub(crate) meta: Mutex<CacheMeta>,
    /// `CONFIG_SLUB_STATS` counters of the calls made through this instance
    /// (`slub/stat.rs`), made when its first storage is installed.
    #[cfg(feature = "slub_stats")]
    stat: std::sync::OnceLock<crate::slub::stat::SlubStat>,
    /// Under loom every instance is a tracked allocation, so a dynamic
    /// instance that destroy forgets to free (or a static one whose memory
    /// is never given back) fails the model run as a leak.
    #[cfg(loom)]
    _leak: loom::alloc::Track<()>,
}

/// Where a real-CPU section finds an instance's slots (`rseq::pop`).
const INST_SLOTS: usize = std::mem::offset_of!(KmemCache, cpu_sheaves);

// SAFETY: the storage pointer is only dereferenced under the lifetime rules
// documented on `storage()`; everything else is atomics or behind the mutex.
unsafe impl Send for KmemCache {}
// SAFETY: as above.
unsafe impl Sync for KmemCache {}

impl Default for KmemCache {
    fn default() -> Self {
        Self::new()
    }
}

impl KmemCache {
    /// An unused instance, for a `static` item (`struct kmem_cache_opaque`).
    #[cfg(not(loom))]
    pub const fn new() -> KmemCache {
        KmemCache {
            cpu_sheaves: AtomicPtr::new(rseq::not_rseq_slots()),
            virtual_sheaves: AtomicPtr::new(NonNull::dangling().as_ptr()),
            nr_virtual_sheaves: AtomicUsize::new(0),
            storage: AtomicPtr::new(std::ptr::null_mut()),
            object_size: AtomicU32::new(0),
            primary_cache: AtomicPtr::new(std::ptr::null_mut()),
            meta: Mutex::new(CacheMeta::unused()),
            #[cfg(feature = "slub_stats")]
            stat: std::sync::OnceLock::new(),
        }
    }

    /// An unused instance (loom types cannot be `const`).
    #[cfg(loom)]
    pub fn new() -> KmemCache {
        KmemCache {
            cpu_sheaves: AtomicPtr::new(rseq::not_rseq_slots()),
            virtual_sheaves: AtomicPtr::new(NonNull::dangling().as_ptr()),
            nr_virtual_sheaves: AtomicUsize::new(0),
            storage: AtomicPtr::new(std::ptr::null_mut()),
            object_size: AtomicU32::new(0),
            primary_cache: AtomicPtr::new(std::ptr::null_mut()),
            meta: Mutex::new(CacheMeta::unused()),
            #[cfg(feature = "slub_stats")]
            stat: std::sync::OnceLock::new(),
            _leak: loom::alloc::Track::new(()),
        }
    }

    /// The storage, if the instance is usable.
    ///
    /// Lifetime rule: an instance's storage stays allocated while the instance
    /// can be reached through a handle ([`Cache`], a `&'static` static, a
    /// borrowed module static) — destroy consumes the handle, kernel-image
    /// statics are never destroyed, and module statics are destroyed only
    /// through `&mut Module` — and while any object of it is allocated.
    #[inline(always)]
    pub(crate) fn storage(&self) -> Option<&CacheStorage> {
        let ptr = self.storage.load(Ordering::Acquire);
        // SAFETY: see the lifetime rule above.
        unsafe { ptr.as_ref() }
    }

    #[inline(always)]
    pub(crate) fn storage_ptr(&self) -> *mut CacheStorage {
        self.storage.load(Ordering::Acquire)
    }

    /// Installs (or, with null, removes) the storage and its hot copies.
    /// Only while no fast path can run on this instance (before it is
    /// published, or once its last handle is gone: the lifetime rule of
    /// [`KmemCache::storage`]).
    pub(crate) fn set_storage(&self, storage: *mut CacheStorage) {
        // SAFETY: a non-null storage is live: it was just created or is the
        // primary's, which outlives this instance's use of it.
        let storage_ref = unsafe { storage.as_ref() };
        let slots = storage_ref.map_or(&[][..], |s| s.cpu_sheaves.as_slice());
        let rseq = storage_ref.is_some_and(|s| s.cpu_sheaves.is_rseq());
        let first = if slots.is_empty() { NonNull::dangling().as_ptr() } else { slots.as_ptr().cast_mut() };
        #[cfg(feature = "slub_stats")]
        if !slots.is_empty() {
            self.stat.get_or_init(|| crate::slub::stat::SlubStat::new(slots.len() as u32));
        }
        self.nr_virtual_sheaves.store(if rseq { 0 } else { slots.len() }, Ordering::Relaxed);
        self.virtual_sheaves.store(if rseq { NonNull::dangling().as_ptr() } else { first }, Ordering::Relaxed);
        let section_slots = storage_ref.map_or(rseq::not_rseq_slots(), |s| s.cpu_sheaves.section_base());
        self.cpu_sheaves.store(section_slots, Ordering::Relaxed);
        self.storage.store(storage, Ordering::Release);
    }

    /// How the per-cpu slots this instance allocates from are entered
    /// (`None` while it is not usable).
    pub fn per_cpu_mode(&self) -> Option<crate::slub::percpu::Effective> {
        Some(self.storage()?.cpu_sheaves.mode())
    }

    /// This instance as the holder of its slots, for the real-CPU sections
    /// (`INST_SLOTS`).
    #[inline(always)]
    fn as_holder(&self) -> *const u8 {
        std::ptr::from_ref(self).cast()
    }

    /// The instance's copy of the storage's virtual-CPU slots (none in
    /// real-CPU mode).
    #[inline(always)]
    fn virtual_sheaves(&self) -> &[PcsSlot] {
        let first = self.virtual_sheaves.load(Ordering::Relaxed);
        let nr = self.nr_virtual_sheaves.load(Ordering::Relaxed);
        // SAFETY: `first` and `nr` are the storage's slots as `set_storage`
        // copied them (or dangling and 0), and the slots live as long as the
        // storage, which outlives every use of the instance (the lifetime
        // rule above). No fast path runs while `set_storage` changes them.
        unsafe { std::slice::from_raw_parts(first, nr) }
    }

    pub(crate) fn set_object_size(&self, size: u32) {
        self.object_size.store(size, Ordering::Relaxed);
    }

    pub(crate) fn set_primary(&self, primary: *const KmemCache) {
        self.primary_cache.store(primary as *mut KmemCache, Ordering::Release);
    }

    /// `s->primary_cache`: the instance itself for a primary (and in every
    /// scheme but the primary-cache one), its primary for an alias.
    pub fn primary_cache(&self) -> Option<&KmemCache> {
        // SAFETY: a primary outlives its aliases (its refcount counts them).
        unsafe { self.primary_cache.load(Ordering::Acquire).as_ref() }
    }

    /// True if this instance is an alias of another instance (primary scheme).
    pub fn is_alias(&self) -> bool {
        let p = self.primary_cache.load(Ordering::Acquire);
        !p.is_null() && !std::ptr::eq(p, self)
    }

    /// `kmem_cache_alloc(s, GFP_KERNEL)`: a pop from this CPU's main sheaf,
    /// reached through the instance's `s->cpu_sheaves`; everything else
    /// (first use, an empty sheaf, another context on the CPU, fallback
    /// mode, an unusable instance) is one cold call.
    #[inline(always)]
    pub fn alloc(&self) -> Result<Object, AllocError> {
        // SAFETY: `cpu_sheaves` names the storage's live real-CPU slots, or
        // the not-rseq slots (`set_storage`).
        match unsafe { rseq::pop::<PcsSlot, INST_SLOTS>(self.as_holder()) } {
            Pop::Hit(ptr) => Ok(Object { ptr }),
            Pop::Miss => self.alloc_slow(),
            Pop::NotRseq => self.alloc_virtual(),
        }
    }

    /// [`KmemCache::alloc`] on the virtual CPUs (and for an unusable
    /// instance, whose slots are none): the owner's entry, inline.
    #[inline(always)]
    fn alloc_virtual(&self) -> Result<Object, AllocError> {
        let hit = try_local(self.virtual_sheaves(), |_slot, pcs| {
            let ptr = pcs.alloc_hit()?;
            #[cfg(feature = "slub_stats")]
            self.count_hit(_slot, crate::slub::stat::StatItem::ALLOC_PCS);
            Some(ptr)
        });
        // One call site for the miss, so that it stays a tail call.
        match hit {
            Some(ptr) => Ok(Object { ptr }),
            None => self.alloc_slow(),
        }
    }

    /// Counts a sheaf hit of the fast path, inside CPU slot `slot`'s
    /// critical section: in the storage and in this instance (plain
    /// increments, `slub/stat.rs`).
    #[cfg(feature = "slub_stats")]
    #[inline(always)]
    fn count_hit(&self, slot: usize, item: crate::slub::stat::StatItem) {
        if let Some(storage) = self.storage() {
            storage.stat_local(slot, item);
        }
        self.via().inc_local(slot, item);
    }

    /// This instance, for the storage's paths to count in its counters too.
    #[inline(always)]
    pub(crate) fn via(&self) -> crate::slub::stat::Via<'_> {
        #[cfg(feature = "slub_stats")]
        return crate::slub::stat::Via::instance(self.stat.get());
        #[cfg(not(feature = "slub_stats"))]
        crate::slub::stat::Via::NONE
    }

    /// The `CONFIG_SLUB_STATS` counters of the calls made through this
    /// instance: every event they caused, the sheaf hits and slow paths,
    /// barn exchanges, sheaf refills and flushes, slabs allocated and freed
    /// ([`crate::slub::stat::StatItem::PER_INSTANCE`]); `kfree()` names no
    /// instance, and the remote flushes of shrink and destroy serve none, so
    /// they are counted in the storage only. Empty without the
    /// `slub_stats` feature or before the instance is set up.
    pub fn slub_stat_instance(&self) -> crate::slub::stat::StatCounts {
        #[cfg(feature = "slub_stats")]
        if let Some(s) = self.stat.get() {
            return s.read();
        }
        crate::slub::stat::StatCounts::default()
    }

    /// `slab_alloc_node()` after a miss of [`KmemCache::alloc`]'s hit path.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self) -> Result<Object, AllocError> {
        let Some(storage) = self.storage() else { return Err(self.unusable_alloc()) };
        match storage.slab_alloc(self.via()) {
            Some(ptr) => Ok(Object { ptr }),
            None => Err(AllocError::NoMemory),
        }
    }

    /// The named [`SlabError`] of an allocation failure of this instance.
    #[cold]
    pub fn alloc_error(&self, error: AllocError) -> SlabError {
        match error {
            AllocError::NoMemory => SlabError::NoMemory,
            AllocError::NotSetUp | AllocError::Destroyed => self.unusable(),
            AllocError::ZeroSize => SlabError::invalid(error.to_string()),
        }
    }

    /// `kmem_cache_zalloc()`: an object with its first `object_size` bytes zeroed.
    pub fn zalloc(&self) -> Result<Object, AllocError> {
        let object = self.alloc()?;
        let len = self.object_size.load(Ordering::Relaxed) as usize;
        // SAFETY: the object is ours and at least `object_size` bytes long
        // (an instance's object_size never exceeds its storage's stride).
        unsafe { std::ptr::write_bytes(object.ptr.as_ptr(), 0, len) };
        Ok(object)
    }

    /// `kmem_cache_free(s, x)`. The object must belong to this instance's
    /// storage — in the primary scheme, any alias of the same primary. An
    /// object of another cache is refused and handed back, the way
    /// `CONFIG_SLAB_FREELIST_HARDENED` refuses it (the kernel then leaks it).
    #[inline]
    pub fn free(&self, object: Object) -> Result<(), FreeError> {
        // `cache_from_obj()` and `slab_nid(slab) == numa_mem_id()` are one
        // compare inside the section: the page's home word (its slab's
        // storage's node, read from the memmap with no load of the slab)
        // against the CPU's home of this instance's storage. Any object of
        // another cache, of a large allocation (`large_words`), of an
        // unusable instance (no slots) or of another node misses, and
        // `free_miss` tells which. No debug-flag test either: a cache with
        // `SLAB_CONSISTENCY_CHECKS` has no sheaves
        // (`calculate_sheaf_capacity()`), so its main sheaf has capacity 0.
        // SAFETY: the token names an allocated object.
        let home = unsafe { crate::slub::page::virt_to_home_fast(object.addr()) };
        let ptr = object.into_raw();
        // SAFETY: `cpu_sheaves` names the storage's live real-CPU slots, or
        // the not-rseq slots (`set_storage`); `ptr` is an
        // allocated object, which we give up on `Done` (only when its home
        // is the CPU's, so it is of this storage).
        let pushed = match unsafe { rseq::push::<PcsSlot, INST_SLOTS>(self.as_holder(), home, ptr.as_ptr()) } {
            Push::Done => true,
            Push::Miss => false,
            Push::NotRseq => try_local(self.virtual_sheaves(), |_slot, pcs| {
                if !pcs.free_hit(home, ptr) {
                    return None;
                }
                #[cfg(feature = "slub_stats")]
                self.count_hit(_slot, crate::slub::stat::StatItem::FREE_PCS);
                Some(())
            })
            .is_some(),
        };
        if pushed {
            return Ok(());
        }
        // One call site for the miss, so that it stays a tail call; it
        // finds the slab again, so that nothing is kept live across the hit.
        // SAFETY: `ptr` is an allocated object (the token's).
        unsafe { free_miss(ptr, self) }
    }

    /// The sheaf miss of [`KmemCache::free`]: a tail call, so the hit path
    /// saves no register. Here the owner check of `cache_from_obj()` is
    /// made apart from the node test, and the debug-flag test.
    ///
    /// # Safety
    /// `ptr` is an allocated object in a slab of the fixed range.
    #[inline(always)]
    unsafe fn free_miss(&self, ptr: NonNull<u8>) -> Result<(), FreeError> {
        // SAFETY: the caller's object is allocated, so its page is in the range.
        let slab = unsafe { crate::slub::page::virt_to_slab_fast(ptr.as_ptr() as usize) };
        // A page that is no slab's (a large kmalloc allocation, or a
        // teardown bug that unmapped a slab under its objects) is reported
        // by the checked path.
        let Some(slab) = slab else { return self.free_cold(Object::from_raw(ptr)) };
        // SAFETY: the slab is live while its object is allocated.
        let owner = unsafe { slab.as_ref().storage };
        if !std::ptr::eq(owner.as_ptr(), self.storage_ptr()) {
            // Another cache's object, or this instance is not usable.
            return self.free_cold(Object::from_raw(ptr));
        }
        // SAFETY: the slab's storage, live while the slab is.
        let storage = unsafe { owner.as_ref() };
        if storage.layout.flags.intersects(SLAB_CONSISTENCY_CHECKS) {
            return self.free_checked(storage, slab, Object::from_raw(ptr));
        }
        // SAFETY: forwarded.
        unsafe { storage.slab_free_slow(slab, ptr, self.via()) };
        Ok(())
    }

    /// [`KmemCache::free`] off its fast path: the cache is not usable, the
    /// address is outside the fixed range (or in no slab), the object is
    /// another cache's, or the cache has consistency checks.
    #[cold]
    #[inline(never)]
    fn free_cold(&self, object: Object) -> Result<(), FreeError> {
        let Some(storage) = self.storage() else { return Err(self.free_unusable(object)) };
        let Some(slab) = storage.page_map.virt_to_slab(object.addr()) else {
            return Err(not_slab_object(object));
        };
        // SAFETY: the token proves the object is allocated, so its slab is live.
        let owner = unsafe { slab.as_ref().storage };
        if !std::ptr::eq(owner.as_ptr(), storage) || storage.layout.flags.intersects(SLAB_CONSISTENCY_CHECKS) {
            return self.free_checked(storage, slab, object);
        }
        // SAFETY: allocated object of `slab`, which belongs to `storage`.
        unsafe { storage.slab_free_via(slab, object.into_raw(), self.via()) };
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn free_unusable(&self, object: Object) -> FreeError {
        FreeError::new(self.unusable(), object)
    }

    /// [`KmemCache::free`] of an object of another cache, or with
    /// `SLAB_CONSISTENCY_CHECKS` (`free_debug_processing()` first).
    #[cold]
    #[inline(never)]
    fn free_checked(&self, storage: &CacheStorage, slab: NonNull<Slab>, object: Object) -> Result<(), FreeError> {
        // SAFETY: the token proves the object is allocated, so its slab is live.
        let owner = unsafe { slab.as_ref().storage };
        if !std::ptr::eq(owner.as_ptr(), storage) {
            return Err(self.wrong_cache(object, owner));
        }
        // SAFETY: slab is live and ours.
        if let Err(check) = unsafe { storage.free_consistency_checks(slab, object.addr()) } {
            // A token always names an allocated object start; keep it anyway.
            let name = self.name();
            let error = match check {
                FreeCheck::NotObjectStart => SlabError::NotObjectStart { cache: name, addr: object.addr() },
                FreeCheck::AlreadyFree => SlabError::DoubleFree { cache: name, addr: object.addr() },
            };
            return Err(FreeError::new(error, object));
        }
        let ptr = object.into_raw();
        // SAFETY: allocated object of `slab`, which belongs to `storage`.
        unsafe { storage.slab_free_via(slab, ptr, self.via()) };
        Ok(())
    }

    /// `kmem_cache_alloc_bulk()`: all `n` objects or none.
    pub fn alloc_bulk(&self, n: usize) -> Result<Vec<Object>, AllocError> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            match self.alloc() {
                Ok(o) => out.push(o),
                Err(e) => {
                    for o in out {
                        let _ = self.free(o);
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// `kmem_cache_free_bulk()`: frees every object; the ones refused come back.
    pub fn free_bulk(&self, objects: Vec<Object>) -> Result<(), Vec<FreeError>> {
        let refused: Vec<FreeError> = objects.into_iter().filter_map(|o| self.free(o).err()).collect();
        if refused.is_empty() { Ok(()) } else { Err(refused) }
    }

    /// `kmem_cache_shrink()`: flush sheaves and free empty slabs.
    pub fn shrink(&self) -> Result<(), SlabError> {
        let storage = self.storage().ok_or_else(|| self.unusable())?;
        storage.shrink();
        Ok(())
    }

    /// `s->name`.
    pub fn name(&self) -> String {
        self.meta.lock().name().to_owned()
    }

    /// `kmem_cache_size()`: `s->object_size`.
    pub fn object_size(&self) -> u32 {
        self.object_size.load(Ordering::Relaxed)
    }

    /// The per-object stride of the storage (`s->size`), 0 if unusable.
    pub fn size(&self) -> u32 {
        self.storage().map_or(0, |s| s.layout.size)
    }

    /// The storage's figures (shared with every alias of the same primary).
    pub fn stats(&self) -> Result<crate::slub::storage::StorageStats, SlabError> {
        Ok(self.storage().ok_or_else(|| self.unusable())?.stats())
    }

    /// The `CONFIG_SLUB_STATS` counters of this instance's storage (shared
    /// by every name of the group; empty without the `slub_stats` feature).
    pub fn slub_stat(&self) -> Result<crate::slub::stat::StatCounts, SlabError> {
        Ok(self.storage().ok_or_else(|| self.unusable())?.stat.read())
    }

    /// An identity of the storage this instance allocates from: equal for
    /// the names that share slabs (a mainline alias, or any alias of the same
    /// primary). `None` if the instance is not usable.
    pub fn storage_id(&self) -> Option<usize> {
        self.storage().map(|s| s as *const CacheStorage as usize)
    }

    /// The sysfs directory this instance's name lives in (its primary's for an alias).
    pub fn sysfs_dir(&self) -> String {
        self.sysfs_owner().meta.lock().sysfs_dir().to_owned()
    }

    /// The instance's state.
    pub fn state(&self) -> InstanceState {
        self.meta.lock().state
    }

    /// Where the instance lives.
    pub fn kind(&self) -> InstanceKind {
        self.meta.lock().kind
    }

    /// `s->refcount`.
    pub fn refcount(&self) -> i32 {
        self.meta.lock().refcount
    }

    /// `s->flags` (as requested, after `slab_debug=`).
    pub fn flags(&self) -> SlabFlags {
        self.meta.lock().flags
    }

    /// `s->usersize`: the size of the hardened-usercopy whitelist, 0 for
    /// none (sysfs `usersize`). Without `CONFIG_HARDENED_USERCOPY` it is
    /// always 0; a kmalloc cache's is its size (`create_kmalloc_cache()`).
    pub fn usersize(&self) -> u32 {
        self.meta.lock().usersize
    }

    /// `s->useroffset`: where the usercopy whitelist starts (no sysfs file).
    pub fn useroffset(&self) -> u32 {
        self.meta.lock().useroffset
    }

    /// `s->inuse`: where the metadata after the object starts, as merging
    /// has widened it (`__kmem_cache_alias()`). It describes the slabs, so an
    /// alias of the primary scheme reports its storage's, the primary's.
    /// 0 if the instance is not usable.
    pub fn inuse(&self) -> u32 {
        self.storage().map_or(0, |s| s.inuse())
    }

    /// `s->offset`: where the free pointer lives inside the stride (at or
    /// past `inuse` when it is outside the object). 0 if not usable.
    pub fn offset(&self) -> u32 {
        self.storage().map_or(0, |s| s.layout.offset)
    }

    /// `s->ctor`: the constructor, which sysfs `ctor` names by its symbol.
    /// An alias has none of its own (a cache with one never merges), so it
    /// reports its storage's.
    pub fn ctor(&self) -> Option<&Ctor> {
        self.storage().and_then(|s| s.ctor.as_ref())
    }

    /// `s->align` after `calculate_alignment()` (sysfs `align`).
    pub fn align(&self) -> u32 {
        self.meta.lock().align
    }

    /// `s->red_left_pad`: the left red zone in front of each object. 0 if not usable.
    pub fn red_left_pad(&self) -> u32 {
        self.storage().map_or(0, |s| s.layout.red_left_pad)
    }

    /// `oo_order(s->oo)`: the slab page order (sysfs `order`). 0 if not usable.
    pub fn order(&self) -> u32 {
        self.storage().map_or(0, |s| s.layout.order)
    }

    /// `oo_objects(s->oo)`: objects per slab (sysfs `objs_per_slab`). 0 if not usable.
    pub fn objs_per_slab(&self) -> u32 {
        self.storage().map_or(0, |s| s.layout.objects)
    }

    /// `s->min_partial` (sysfs `min_partial`). 0 if not usable.
    pub fn min_partial(&self) -> u32 {
        self.storage().map_or(0, |s| s.layout.min_partial)
    }

    /// `s->sheaf_capacity`, 0 without sheaves (sysfs `sheaf_capacity`). 0 if not usable.
    pub fn sheaf_capacity(&self) -> u32 {
        self.storage().map_or(0, |s| s.layout.sheaf_capacity)
    }

    /// The instance whose sysfs directory this name resolves to: itself,
    /// or its primary for an alias of the primary scheme (whose link points
    /// into the primary's directory).
    fn sysfs_owner(&self) -> &KmemCache {
        match self.primary_cache() {
            Some(p) if !std::ptr::eq(p, self) => p,
            _ => self,
        }
    }

    /// sysfs `aliases` of this name's directory: `s->refcount - 1`, 0 for a
    /// boot cache (`aliases_show()`: `s->refcount < 0 ? 0 : s->refcount - 1`).
    pub fn aliases(&self) -> u32 {
        u32::try_from(self.sysfs_owner().refcount() - 1).unwrap_or(0)
    }

    /// The flag attributes of this name's sysfs directory (`hwcache_align`,
    /// `reclaim_account`, `destroy_by_rcu`, the debug ones, ...): its own
    /// `s->flags`, or its primary's for an alias of the primary scheme,
    /// since its link resolves to the primary's directory.
    pub fn sysfs_flags(&self) -> SysfsFlags {
        SysfsFlags::of(self.sysfs_owner().flags())
    }

    /// True if `object` is allocated from the same storage as this instance
    /// (same cache in mainline, same primary in the primary scheme).
    pub fn owns(&self, object: &Object) -> bool {
        match (self.storage(), self.storage().map(|s| s.page_map.lookup(object.addr()))) {
            // SAFETY: the token proves the slab is live.
            (Some(storage), Some(PageEntry::Slab(slab))) => unsafe {
                std::ptr::eq(slab.as_ref().storage.as_ptr(), storage)
            },
            _ => false,
        }
    }

    /// The object's bytes (`object_size` of this instance), for reading and writing.
    pub fn object_bytes<'a>(&self, object: &'a mut Object) -> Result<&'a mut [u8], SlabError> {
        if !self.owns(object) {
            return Err(SlabError::WrongCache { passed: self.name(), actual: String::from("?"), addr: object.addr() });
        }
        let len = self.object_size() as usize;
        // SAFETY: the object is allocated from this storage, is at least
        // object_size bytes, and the `&mut Object` borrow makes the slice unique.
        Ok(unsafe { std::slice::from_raw_parts_mut(object.ptr.as_ptr(), len) })
    }

    #[cold]
    fn unusable_alloc(&self) -> AllocError {
        match self.meta.lock().state {
            InstanceState::Unused => AllocError::NotSetUp,
            _ => AllocError::Destroyed,
        }
    }

    #[cold]
    fn unusable(&self) -> SlabError {
        let meta = self.meta.lock();
        match meta.state {
            InstanceState::Unused => SlabError::NotSetUp,
            _ => SlabError::CacheDestroyed { cache: meta.name().to_owned() },
        }
    }

    #[cold]
    fn wrong_cache(&self, object: Object, owner: StorageRef) -> FreeError {
        // SAFETY: the owner storage is live while it has this allocated object.
        let actual = unsafe { owner.as_ref() }.primary_name();
        let error = SlabError::WrongCache { passed: self.name(), actual, addr: object.addr() };
        let world = self.meta.lock().world.clone();
        if let Some(world) = world {
            world.report("kmem_cache_free", Some(self.name()), Some(object.addr()), error.to_string());
        }
        FreeError::new(error, object)
    }
}

impl fmt::Debug for KmemCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meta = self.meta.lock();
        f.debug_struct("KmemCache")
            .field("name", &meta.name())
            .field("state", &meta.state)
            .field("kind", &meta.kind)
            .field("refcount", &meta.refcount)
            .finish()
    }
}

impl CacheStorage {
    /// Names `primary` as the owner of this storage (`slab->slab_cache` of
    /// every slab and sheaf it will have).
    pub(crate) fn set_primary(&self, primary: &KmemCache) {
        self.owner.store(primary as *const KmemCache as *mut SlabOwner, Ordering::Release);
    }

    /// The primary instance that owns this storage.
    pub(crate) fn primary(&self) -> Option<&KmemCache> {
        let p = self.owner.load(Ordering::Acquire) as *const KmemCache;
        // SAFETY: the owner is always a `KmemCache` (set by `set_primary`),
        // and the primary lives as long as its storage.
        unsafe { p.as_ref() }
    }

    /// The name of the primary instance that owns this storage.
    pub(crate) fn primary_name(&self) -> String {
        self.primary().map_or_else(|| String::from("?"), |p| p.name())
    }
}

/// An allocated object: the only way to free it, so a double free cannot be
/// written. Dropping it without freeing leaks the object (as forgetting
/// `kfree()` does), which is safe.
#[must_use = "an object that is never freed is leaked"]
#[derive(PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Object {
    ptr: NonNull<u8>,
}

// SAFETY: an object is plain memory owned by whoever holds the token.
unsafe impl Send for Object {}
// SAFETY: `&Object` only exposes the address.
unsafe impl Sync for Object {}

impl Object {
    pub(crate) fn from_raw(ptr: NonNull<u8>) -> Object {
        Object { ptr }
    }

    pub(crate) fn into_raw(self) -> NonNull<u8> {
        self.ptr
    }

    /// The object's address.
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The object's address as a pointer, for the caller's own (unsafe) use.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Object({:#x})", self.addr())
    }
}

/// [`KmemCache::free`]'s miss, with the object first, where the free has
/// it: the hit path then never moves it to another register for it.
///
/// # Safety
/// As [`KmemCache::free_miss`].
#[cold]
#[inline(never)]
unsafe fn free_miss(ptr: NonNull<u8>, cache: &KmemCache) -> Result<(), FreeError> {
    // SAFETY: forwarded.
    unsafe { cache.free_miss(ptr) }
}

/// The refusal of a free whose address is in no slab of the world.
#[cold]
#[inline(never)]
pub(crate) fn not_slab_object(object: Object) -> FreeError {
    FreeError::new(SlabError::NotSlabObject { addr: object.addr() }, object)
}

/// A refused free: the error, and the object, still allocated and still yours.
///
/// Boxed, and built only on refusal: `Result<(), FreeError>` is one word
/// (null is `Ok`), so a free fast path returns it in a register.
#[derive(Debug)]
pub struct FreeError(Box<(SlabError, Object)>);

impl FreeError {
    #[cold]
    pub(crate) fn new(error: SlabError, object: Object) -> FreeError {
        FreeError(Box::new((error, object)))
    }

    /// Why the free was refused.
    pub fn error(&self) -> &SlabError {
        &self.0.0
    }

    /// The refused object's address.
    pub fn addr(&self) -> usize {
        self.0.1.addr()
    }

    /// The object, unchanged.
    pub fn into_object(self) -> Object {
        self.0.1
    }

    /// The error and the object.
    pub fn into_parts(self) -> (SlabError, Object) {
        *self.0
    }
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error().fmt(f)
    }
}

impl std::error::Error for FreeError {}

/// `?` on a free in a function returning [`SlabError`]: the error is kept
/// and the refused object dropped, which leaves it allocated (an `Object`
/// frees nothing when dropped), as the kernel leaves an object it refused.
impl From<FreeError> for SlabError {
    #[cold]
    fn from(error: FreeError) -> SlabError {
        error.into_parts().0
    }
}

/// A handle to a dynamic cache, as `kmem_cache_create()` returns it.
///
/// Each creator gets its own handle, even when two handles name the same
/// instance (mainline aliasing). [`Cache::destroy`] (or
/// [`crate::kmem_cache_destroy`]) consumes it, so a destroyed handle cannot
/// be used.
///
/// **Dropping a handle destroys it**, as `kmem_cache_destroy()` would, and
/// throws away the outcome: a cache with objects left is reported only in
/// [`crate::World::reports`]. Call [`Cache::destroy`] to see the error.
#[must_use = "dropping a cache handle destroys the cache (kmem_cache_destroy) and discards its outcome"]
pub struct Cache<'w> {
    pub(crate) inst: NonNull<KmemCache>,
    /// The name this creator asked for (a mainline alias's name is not
    /// `s->name`, but the same allocation as its entry in the instance's names).
    pub(crate) name: SysfsName,
    /// The module that created it, if any.
    pub(crate) module: Option<ModuleId>,
    /// A handle cannot outlive its world: the world's image statics and its
    /// teardown depend on it.
    pub(crate) _world: std::marker::PhantomData<&'w ()>,
}

impl Cache<'_> {
    /// The name this handle's creator passed (for a mainline alias, not the instance's name).
    pub fn creator_name(&self) -> &str {
        &self.name
    }

    /// `kmem_cache_destroy(s)` as a method, so that a handle reads like the
    /// kernel's call chain: the same as [`kmem_cache_destroy`]`(self)`, with
    /// the same result. The kernel's returns `void` and reports a cache with
    /// objects left in the log (`kmem_cache_destroy … Slab cache still has
    /// objects`); here the report is logged as well and the outcome returned,
    /// [`SlabError::CacheBusy`] for objects left.
    ///
    /// ```
    /// use slabmerge::{KmemCacheArgs, SlabConfig, SlabError, World, flags::SlabFlags};
    ///
    /// let world = World::new(SlabConfig::default());
    /// let c = world.kmem_cache_create("demo", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    /// let object = c.alloc().unwrap();
    /// let busy = world.kmem_cache_create("busy", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
    /// let kept = busy.alloc().unwrap();
    /// c.free(object).unwrap();
    /// assert_eq!(c.destroy(), Ok(()));
    /// assert!(matches!(busy.destroy(), Err(SlabError::CacheBusy { .. })));
    /// # let _ = kept;
    /// ```
    pub fn destroy(self) -> Result<(), SlabError> {
        kmem_cache_destroy(self)
    }
}

// SAFETY: the instance is Sync and outlives the handle (see `storage()`).
unsafe impl Send for Cache<'_> {}
// SAFETY: as above.
unsafe impl Sync for Cache<'_> {}

impl std::ops::Deref for Cache<'_> {
    type Target = KmemCache;
    #[inline(always)]
    fn deref(&self) -> &KmemCache {
        // SAFETY: the instance lives at least until this handle is destroyed.
        unsafe { self.inst.as_ref() }
    }
}

impl fmt::Debug for Cache<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Drop for Cache<'_> {
    fn drop(&mut self) {
        // A dropped handle is destroyed; errors are in the world's report log.
        // SAFETY: we are the handle being destroyed; `destroy_instance` is the
        // one place that may free the instance, after this handle is gone.
        let _ = unsafe { destroy_instance(self.inst, &self.name, self.module) };
    }
}

/// Destroys one handle's reference (used by `Cache`'s destroy and drop).
///
/// # Safety
/// `inst` is the instance of a handle that is being consumed.
pub(crate) unsafe fn destroy_instance(
    inst: NonNull<KmemCache>,
    name: &str,
    module: Option<ModuleId>,
) -> Result<(), SlabError> {
    // SAFETY: the handle kept the instance alive until now.
    let cache = unsafe { inst.as_ref() };
    let Some(world) = cache.meta.lock().world.clone() else {
        return Err(SlabError::CacheDestroyed { cache: name.to_owned() });
    };
    world.destroy_reference(inst, name, module)
}

/// Mirrors `kmem_cache_destroy()`: drops this creator's reference; the last
/// one shuts the cache down. Objects left make it return
/// [`SlabError::CacheBusy`] after logging the kernel's report; their memory stays valid.
pub fn kmem_cache_destroy(cache: Cache) -> Result<(), SlabError> {
    let cache = std::mem::ManuallyDrop::new(cache);
    // SAFETY: `cache` is never dropped, so its name is moved out exactly once.
    let name = unsafe { std::ptr::read(&cache.name) };
    // SAFETY: `cache` is consumed here and its Drop will not run.
    unsafe { destroy_instance(cache.inst, &name, cache.module) }
}
