//! The slab world: what the kernel keeps in globals (`slab_caches`,
//! `slab_mutex`, the sysfs kset, the kmalloc caches, loaded modules) plus the
//! configuration, in one value so that several worlds live in one process.

use std::ptr::NonNull;

use slotmap::SlotMap;

use crate::cache::{Cache, InstanceKind, InstanceState, KmemCache, Object};
use crate::config::{KMALLOC_MAX_SIZE, PAGE_SIZE, SlabConfig};
use crate::error::{Report, SlabError};
use crate::flags::*;
use crate::layout::get_order;
use crate::memory::SlabMemory;
use crate::page::PageEntry;
use crate::storage::{CacheStorage, FreeCheck, StorageStats};
use crate::sync::{Arc, Mutex};
use crate::sysfs::Sysfs;

slotmap::new_key_type! {
    /// A registered cache instance (generational: a stale id finds nothing).
    pub struct CacheId;
    /// A loaded module.
    pub struct ModuleId;
}

/// A pointer to a registered instance; the registry is the only owner of
/// dynamic instances, and frees them in `release_instance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InstPtr(pub(crate) NonNull<KmemCache>);

// SAFETY: instances are Sync; the pointer is only dereferenced under the
// registry's lifetime rules.
unsafe impl Send for InstPtr {}
// SAFETY: as above.
unsafe impl Sync for InstPtr {}

impl InstPtr {
    pub(crate) fn get(&self) -> &KmemCache {
        // SAFETY: registered (or orphaned) instances stay allocated until
        // `release_instance`, which first removes them from every list.
        unsafe { self.0.as_ref() }
    }
}

/// A destroyed instance kept for the objects left in its storage. The
/// instance no longer names the storage (so it cannot allocate); the orphan
/// record does, until the storage is released.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Orphan {
    pub(crate) inst: InstPtr,
    pub(crate) storage: NonNull<CacheStorage>,
}

// SAFETY: the storage is Sync and only reached under slab_mutex here.
unsafe impl Send for Orphan {}
// SAFETY: as above.
unsafe impl Sync for Orphan {}

/// A loaded module's bookkeeping.
pub(crate) struct ModuleRec {
    pub(crate) name: String,
    /// Names of dynamic caches the module created and has not destroyed.
    pub(crate) handles: Vec<String>,
}

/// Everything `slab_mutex` protects.
pub(crate) struct Registry {
    pub(crate) caches: SlotMap<CacheId, InstPtr>,
    /// `slab_caches`, oldest first (the kernel adds at the head and walks in
    /// reverse, so `find_mergeable` sees the oldest cache first either way).
    pub(crate) slab_caches: Vec<CacheId>,
    pub(crate) sysfs: Sysfs,
    pub(crate) modules: SlotMap<ModuleId, ModuleRec>,
    /// Destroyed instances whose storage still holds objects (the kernel leaks
    /// them); released when the world goes away, or a module unloads, once
    /// their objects are gone.
    pub(crate) orphans: Vec<Orphan>,
}

/// The shared core of a world; instances hold a reference to it.
pub struct WorldCore {
    pub(crate) config: SlabConfig,
    pub(crate) memory: Arc<SlabMemory>,
    pub(crate) slab_mutex: Mutex<Registry>,
    reports: Mutex<Vec<Report>>,
}

impl WorldCore {
    /// Appends a kernel-style report to the log.
    pub(crate) fn report(&self, function: &'static str, cache: Option<String>, addr: Option<usize>, message: String) {
        self.reports.lock().push(Report { function, cache, addr, message });
    }
}

/// The arguments of `kmem_cache_create()` (`struct kmem_cache_args`).
#[derive(Clone, Debug, Default)]
pub struct KmemCacheArgs {
    /// Requested alignment, 0 = none.
    pub align: u32,
    /// Start of the usercopy region.
    pub useroffset: u32,
    /// Size of the usercopy region, 0 = none.
    pub usersize: u32,
    /// Custom free-pointer offset (with `use_freeptr_offset`).
    pub freeptr_offset: u32,
    /// Use `freeptr_offset`.
    pub use_freeptr_offset: bool,
    /// Constructor.
    pub ctor: Option<crate::storage::Ctor>,
    /// Explicit per-cpu sheaf capacity, 0 = automatic (7.0) or none (6.18).
    pub sheaf_capacity: u32,
}

impl KmemCacheArgs {
    /// Arguments with only an alignment (the legacy 5-argument form).
    pub fn align(align: u32) -> KmemCacheArgs {
        KmemCacheArgs { align, ..Default::default() }
    }
}

/// How a cache is created: the three entry points of a booting kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateEntry {
    /// `__kmem_cache_create_args()`: validated, tries to alias.
    KmemCacheCreate,
    /// `create_kmalloc_cache()`: usercopy 0/size, refcount 1, no alias attempt.
    CreateKmallocCache,
    /// `create_boot_cache()`: refcount -1, never a merge target.
    CreateBootCache,
}

/// Where the new cache's instance lives.
pub(crate) enum Placement<'a> {
    Dynamic,
    Static(&'a KmemCache),
    ModuleStatic(&'a KmemCache),
}

pub(crate) struct CreateRequest<'a> {
    pub(crate) name: &'a str,
    pub(crate) size: u32,
    pub(crate) args: KmemCacheArgs,
    pub(crate) flags: SlabFlags,
    pub(crate) entry: CreateEntry,
    pub(crate) placement: Placement<'a>,
    pub(crate) module: Option<ModuleId>,
}

impl<'a> CreateRequest<'a> {
    /// A `kmem_cache_create()`/`kmem_cache_setup()` call placed as given.
    pub(crate) fn create(
        name: &'a str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
        placement: Placement<'a>,
        module: Option<ModuleId>,
    ) -> CreateRequest<'a> {
        CreateRequest { name, size, args, flags, entry: CreateEntry::KmemCacheCreate, placement, module }
    }
}

/// A slab world.
pub struct World {
    pub(crate) core: Arc<WorldCore>,
    /// `virt_to_slab()` for `kfree`, one load from the world.
    page_map: crate::page::PageMapReader,
    /// `kmalloc_caches[KMALLOC_NORMAL][]`, owned by the world.
    kmalloc: Vec<InstPtr>,
    /// Static instances of the simulated kernel image (see [`World::image_static`]).
    image: Option<Box<[KmemCache]>>,
}

/// The kmalloc size classes of `kmalloc_caches[KMALLOC_NORMAL]` (x86_64, 4 KiB pages).
pub const KMALLOC_SIZES: [u32; 13] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

/// `KMALLOC_MAX_CACHE_SIZE`: larger requests go to the page allocator.
pub const KMALLOC_MAX_CACHE_SIZE: usize = 2 * PAGE_SIZE;

impl World {
    /// A booted world: the normal kmalloc caches exist, as after `create_kmalloc_caches()`.
    pub fn new(config: SlabConfig) -> World {
        let mut world = World::bare(config);
        for size in KMALLOC_SIZES {
            let name = format!("kmalloc-{}", if size >= 1024 { format!("{}k", size / 1024) } else { size.to_string() });
            let align = crate::config::ARCH_KMALLOC_MINALIGN.max(1 << size.trailing_zeros().min(12));
            let flags = if world.core.config.memcg { SLAB_NO_MERGE } else { SlabFlags::EMPTY };
            // The world owns its kmalloc caches: no creator handle, just the instance.
            let req = CreateRequest {
                name: &name,
                size,
                args: KmemCacheArgs::align(align),
                flags,
                entry: CreateEntry::CreateKmallocCache,
                placement: Placement::Dynamic,
                module: None,
            };
            let inst = world.core.create(req).expect("kmalloc caches fit the default configuration");
            world.kmalloc.push(InstPtr(inst));
        }
        world
    }

    /// A world with no cache at all (for replaying a boot trace, which creates
    /// the boot and kmalloc caches itself).
    pub fn bare(config: SlabConfig) -> World {
        let image = (0..config.image_statics).map(|_| KmemCache::new()).collect();
        let memory = Arc::new(SlabMemory::new());
        World {
            page_map: memory.map.reader(),
            core: Arc::new(WorldCore {
                config,
                memory,
                slab_mutex: Mutex::new(Registry {
                    caches: SlotMap::with_key(),
                    slab_caches: Vec::new(),
                    sysfs: Sysfs::default(),
                    modules: SlotMap::with_key(),
                    orphans: Vec::new(),
                }),
                reports: Mutex::new(Vec::new()),
            }),
            kmalloc: Vec::new(),
            image: Some(image),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SlabConfig {
        &self.core.config
    }

    /// Mirrors `kmem_cache_create()` / `__kmem_cache_create_args()`.
    pub fn kmem_cache_create(
        &self,
        name: &str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
    ) -> Result<Cache<'_>, SlabError> {
        self.create_entry(name, size, args, flags, CreateEntry::KmemCacheCreate)
    }

    /// Creates a cache through one of the boot-time entry points (trace replay).
    pub fn create_entry(
        &self,
        name: &str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
        entry: CreateEntry,
    ) -> Result<Cache<'_>, SlabError> {
        let req = CreateRequest { name, size, args, flags, entry, placement: Placement::Dynamic, module: None };
        let inst = self.core.create(req)?;
        Ok(Cache { inst, name: name.to_owned(), module: None, _world: std::marker::PhantomData })
    }

    /// Al Viro's `kmem_cache_setup()`: sets up a static instance of the kernel image.
    pub fn kmem_cache_setup(
        &self,
        cache: &'static KmemCache,
        name: &str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
    ) -> Result<(), SlabError> {
        let req = CreateRequest::create(name, size, args, flags, Placement::Static(cache), None);
        self.core.create(req).map(|_| ())
    }

    /// Static instance `i` of the simulated kernel image: a `struct kmem_cache`
    /// with static storage duration that lives as long as the world (the
    /// machine), for replays and tests that need many of them. There are
    /// [`SlabConfig::image_statics`] of them.
    pub fn image_static(&self, i: usize) -> &KmemCache {
        &self.image.as_ref().expect("the image lives as long as the world")[i]
    }

    /// `kmem_cache_setup()` of image static `i`.
    pub fn kmem_cache_setup_image(
        &self,
        i: usize,
        name: &str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
    ) -> Result<&KmemCache, SlabError> {
        let inst = self.image_static(i);
        let req = CreateRequest::create(name, size, args, flags, Placement::Static(inst), None);
        self.core.create(req)?;
        Ok(inst)
    }

    /// Al Viro's `kmem_cache_setup_usercopy()`: with a usercopy whitelist.
    #[allow(clippy::too_many_arguments)]
    pub fn kmem_cache_setup_usercopy(
        &self,
        cache: &'static KmemCache,
        name: &str,
        size: u32,
        align: u32,
        flags: SlabFlags,
        useroffset: u32,
        usersize: u32,
        ctor: Option<crate::storage::Ctor>,
    ) -> Result<(), SlabError> {
        let args = KmemCacheArgs { align, useroffset, usersize, ctor, ..Default::default() };
        self.kmem_cache_setup(cache, name, size, args, flags)
    }

    /// `KMEM_CACHE_SETUP_USERCOPY(s, T, flags, field)`: the whitelist is the
    /// field at `field_offset` of `field_size` bytes (`offsetof`/`sizeof_field`).
    pub fn kmem_cache_setup_type_usercopy<T>(
        &self,
        cache: &'static KmemCache,
        flags: SlabFlags,
        field_offset: usize,
        field_size: usize,
    ) -> Result<(), SlabError> {
        let args = KmemCacheArgs {
            align: align_of::<T>() as u32,
            useroffset: field_offset as u32,
            usersize: field_size as u32,
            ..Default::default()
        };
        self.kmem_cache_setup(cache, &type_name_of::<T>(), size_of::<T>() as u32, args, flags)
    }

    /// `KMEM_CACHE_SETUP(s, T, flags)`: name, size and alignment from a type.
    pub fn kmem_cache_setup_type<T>(&self, cache: &'static KmemCache, flags: SlabFlags) -> Result<(), SlabError> {
        self.kmem_cache_setup(
            cache,
            &type_name_of::<T>(),
            size_of::<T>() as u32,
            KmemCacheArgs::align(align_of::<T>() as u32),
            flags,
        )
    }

    /// Mirrors `kmalloc(size, GFP_KERNEL)`.
    pub fn kmalloc(&self, size: usize) -> Result<Object, SlabError> {
        if size == 0 {
            return Err(SlabError::invalid("kmalloc(0) returns ZERO_SIZE_PTR, which is not an object"));
        }
        if size > KMALLOC_MAX_CACHE_SIZE {
            return self.kmalloc_large(size);
        }
        let index = KMALLOC_SIZES.iter().position(|&s| s as usize >= size).expect("size <= 8 KiB");
        let cache = self.kmalloc.get(index).ok_or(SlabError::NotSetUp)?;
        cache.get().alloc()
    }

    /// Mirrors `__kmalloc_large_node()`: whole pages, marked in the page map.
    fn kmalloc_large(&self, size: usize) -> Result<Object, SlabError> {
        if size > KMALLOC_MAX_SIZE {
            return Err(SlabError::NoMemory);
        }
        let order = get_order(size);
        let pages = self.core.memory.pages.alloc(order).ok_or(SlabError::NoMemory)?;
        self.core.memory.map.set(pages.as_ptr() as usize, 1 << order, PageEntry::Large { head: true, order });
        Ok(Object::from_raw(pages))
    }

    /// Mirrors `kfree()`: the object's slab names its cache; no cache argument.
    pub fn kfree(&self, object: Object) -> Result<(), crate::cache::FreeError> {
        match self.page_map.lookup(object.addr()) {
            PageEntry::Slab(slab) => {
                // SAFETY: the token proves the object is allocated, so its
                // slab and the slab's storage are live.
                let storage = unsafe { slab.as_ref().storage.as_ref() };
                if storage.layout.flags.intersects(SLAB_CONSISTENCY_CHECKS) {
                    // SAFETY: live slab of this storage.
                    if let Err(check) = unsafe { storage.free_consistency_checks(slab, object.addr()) } {
                        let error = check_error(check, storage.primary_name(), object.addr());
                        return Err(crate::cache::FreeError { error, object });
                    }
                }
                let ptr = object.into_raw();
                // SAFETY: allocated object of `slab`.
                unsafe { storage.slab_free(slab, ptr) };
                Ok(())
            }
            PageEntry::Large { head: true, order } => {
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
                Err(crate::cache::FreeError { error, object })
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
    /// the node lock.)
    pub unsafe fn kfree_addr(&self, addr: usize) -> Result<(), SlabError> {
        let _guard = self.core.memory.discard_lock.read();
        let PageEntry::Slab(slab) = self.core.memory.map.lookup(addr) else {
            let error = SlabError::NotSlabObject { addr };
            self.core.report("kfree", None, Some(addr), error.to_string());
            return Err(error);
        };
        // SAFETY: the read lock keeps every mapped slab (and so its storage) alive.
        let storage = unsafe { slab.as_ref().storage.as_ref() };
        let name = storage.primary_name();
        let result = if !storage.layout.flags.intersects(SLAB_CONSISTENCY_CHECKS) {
            Err(SlabError::Unchecked { cache: name, addr })
        } else {
            // SAFETY: live slab of this storage.
            match unsafe { storage.free_consistency_checks(slab, addr) } {
                Ok(()) => {
                    drop(_guard);
                    // SAFETY: the checks (under the node lock) found an
                    // allocated object start of this slab; debug caches have
                    // no sheaves, so "not on the freelist" is "allocated". By
                    // this function's contract no token names `addr`, so no one
                    // else frees it between the check and this free, and an
                    // allocated object keeps its slab (and storage) alive.
                    unsafe { storage.__slab_free(slab, NonNull::new_unchecked(addr as *mut u8)) };
                    return Ok(());
                }
                Err(check) => Err(check_error(check, name, addr)),
            }
        };
        if let Err(e) = &result {
            self.core.report("kfree", Some(storage.primary_name()), Some(addr), e.to_string());
        }
        result
    }

    /// The kernel-style reports logged so far.
    pub fn reports(&self) -> Vec<Report> {
        self.core.reports.lock().clone()
    }

    /// Pages currently held by slabs and large kmalloc allocations.
    pub fn pages(&self) -> usize {
        self.core.memory.pages.pages()
    }

    /// The most pages held at once.
    pub fn peak_pages(&self) -> usize {
        self.core.memory.pages.peak()
    }

    /// Limits the page allocator (to exercise `-ENOMEM` paths).
    pub fn set_page_limit(&self, pages: usize) {
        self.core.memory.pages.set_limit(pages);
    }

    /// The normal kmalloc cache for `size` bytes, if this world has them.
    pub fn kmalloc_cache(&self, size: usize) -> Option<&KmemCache> {
        KMALLOC_SIZES.iter().position(|&s| s as usize >= size).and_then(|i| self.kmalloc.get(i)).map(InstPtr::get)
    }

    /// Every listed instance, oldest first (`slab_caches`).
    pub fn caches(&self) -> Vec<CacheInfo> {
        let reg = self.core.slab_mutex.lock();
        reg.slab_caches.iter().map(|id| CacheInfo::of(reg.caches[*id].get(), &reg)).collect()
    }

    /// The instance `slab->slab_cache` names for the slab holding `object`
    /// (in the primary scheme always a primary, never an alias).
    pub fn slab_cache_of(&self, object: &Object) -> Option<CacheInfo> {
        let PageEntry::Slab(slab) = self.core.memory.map.lookup(object.addr()) else { return None };
        // SAFETY: the token proves the object is allocated, so its slab and storage are live.
        let storage = unsafe { slab.as_ref().storage.as_ref() };
        let primary = storage.primary.load(std::sync::atomic::Ordering::Acquire);
        // SAFETY: a storage's primary instance lives as long as the storage.
        let primary = unsafe { primary.as_ref() }?;
        let reg = self.core.slab_mutex.lock();
        Some(CacheInfo::of(primary, &reg))
    }

    /// Checks the invariants every scheme keeps, returning the first violation:
    /// every listed alias's primary is listed and live, and no primary is an
    /// alias; in the primary scheme no storage is owned by a module static
    /// (no slab or sheaf points into module memory); no listed instance has
    /// refcount 0 (boot caches count down from -1 and stay listed); primary
    /// refcounts count their aliases.
    pub fn check_invariants(&self) -> Result<(), String> {
        let reg = self.core.slab_mutex.lock();
        let mut aliases_of: std::collections::HashMap<*const KmemCache, i32> = Default::default();
        for id in &reg.slab_caches {
            let c = reg.caches[*id].get();
            let info = CacheInfo::of(c, &reg);
            if !matches!(info.state, InstanceState::Live | InstanceState::Headless) {
                return Err(format!("{} is listed but {:?}", info.name, info.state));
            }
            if info.refcount == 0 {
                return Err(format!("{} is listed with refcount {}", info.name, info.refcount));
            }
            if c.is_alias() {
                let p = c.primary_cache().ok_or_else(|| format!("alias {} has no primary", info.name))?;
                if p.is_alias() {
                    return Err(format!("alias {} names alias {} as its primary", info.name, p.name()));
                }
                if !reg.slab_caches.iter().any(|i| std::ptr::eq(reg.caches[*i].get(), p)) {
                    return Err(format!("alias {}'s primary {} is not listed", info.name, p.name()));
                }
                if c.storage_id() != p.storage_id() {
                    return Err(format!("alias {} does not share its primary's storage", info.name));
                }
                *aliases_of.entry(p as *const KmemCache).or_default() += 1;
            } else if let Some(storage) = c.storage() {
                let owner = storage.primary.load(std::sync::atomic::Ordering::Acquire);
                if !std::ptr::eq(owner, c) {
                    return Err(format!("{}'s storage names another primary", info.name));
                }
                if self.core.config.scheme == crate::Scheme::Primary && info.kind == InstanceKind::ModuleStatic {
                    return Err(format!("module static {} owns slabs (a primary in module memory)", info.name));
                }
            }
        }
        if self.core.config.scheme == crate::Scheme::Primary {
            for id in &reg.slab_caches {
                let c = reg.caches[*id].get();
                if c.is_alias() {
                    continue;
                }
                let meta = c.meta.lock();
                let own =
                    i32::from(matches!(meta.state, InstanceState::Live) && meta.kind != InstanceKind::HiddenPrimary);
                let aliases = aliases_of.get(&(c as *const KmemCache)).copied().unwrap_or(0);
                if meta.refcount >= 0 && meta.refcount != own + aliases {
                    return Err(format!(
                        "primary {} has refcount {} but {own} + {aliases} references",
                        meta.name, meta.refcount
                    ));
                }
            }
        }
        Ok(())
    }

    /// Names of the loaded modules.
    pub fn modules(&self) -> Vec<String> {
        self.core.slab_mutex.lock().modules.values().map(|m| m.name.clone()).collect()
    }

    /// The sysfs tree.
    pub fn sysfs(&self) -> Vec<crate::sysfs::SysfsEntry> {
        self.core.slab_mutex.lock().sysfs.entries()
    }

    /// Instances destroyed with objects left (kept for those objects).
    pub fn orphans(&self) -> Vec<CacheInfo> {
        let reg = self.core.slab_mutex.lock();
        reg.orphans.iter().map(|o| CacheInfo::of(o.inst.get(), &reg)).collect()
    }

    /// Total storage figures over every storage, orphans included.
    pub fn storage_stats(&self) -> StorageStats {
        let reg = self.core.slab_mutex.lock();
        let mut total = StorageStats::default();
        let mut seen = std::collections::HashSet::new();
        let live = reg.caches.values().filter_map(|p| p.get().storage());
        // SAFETY: orphans' storages stay allocated while they are listed.
        let orphaned = reg.orphans.iter().map(|o| unsafe { o.storage.as_ref() });
        for storage in live.chain(orphaned) {
            if seen.insert(storage as *const CacheStorage) {
                total = add_stats(total, storage.stats());
            }
        }
        total
    }
}

/// `#__struct` of the `KMEM_CACHE` macros: the type's own name, without its path.
fn type_name_of<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

pub(crate) fn add_stats(a: StorageStats, b: StorageStats) -> StorageStats {
    StorageStats {
        slabs: a.slabs + b.slabs,
        pages: a.pages + b.pages,
        total_objects: a.total_objects + b.total_objects,
        free_objects: a.free_objects + b.free_objects,
        sheaf_objects: a.sheaf_objects + b.sheaf_objects,
        sheaves: a.sheaves + b.sheaves,
        sheaf_bytes: a.sheaf_bytes + b.sheaf_bytes,
        partial_slabs: a.partial_slabs + b.partial_slabs,
    }
}

fn check_error(check: FreeCheck, cache: String, addr: usize) -> SlabError {
    match check {
        FreeCheck::NotObjectStart => SlabError::NotObjectStart { cache, addr },
        FreeCheck::AlreadyFree => SlabError::DoubleFree { cache, addr },
    }
}

impl Drop for World {
    /// Power-off: every handle and module borrowed the world, so they are
    /// gone; what is left are the kmalloc caches, boot caches (refcount < 0)
    /// and the image statics.
    /// Each is destroyed as its last creator would; instances that still
    /// hold objects are kept (with the image memory, if any is among them).
    fn drop(&mut self) {
        for inst in std::mem::take(&mut self.kmalloc).into_iter().rev() {
            let name = inst.get().name();
            let _ = self.core.destroy(inst, &name, None);
        }
        self.core.release_boot_caches();
        let image = self.image.take().unwrap_or_default();
        let order: Vec<InstPtr> = {
            let reg = self.core.slab_mutex.lock();
            reg.slab_caches
                .iter()
                .map(|id| reg.caches[*id])
                .filter(|p| image.iter().any(|s| std::ptr::eq(s, p.get())))
                .collect()
        };
        // Newest first, so aliases go before the primaries they name.
        for p in order.into_iter().rev() {
            let s = p.get();
            let name = s.name();
            loop {
                let state = s.state();
                if !matches!(state, InstanceState::Live | InstanceState::Headless) || s.refcount() <= 0 {
                    break;
                }
                if self.core.destroy(InstPtr(NonNull::from(s)), &name, None).is_err() {
                    break;
                }
            }
        }
        let pinned = {
            let reg = self.core.slab_mutex.lock();
            image.iter().any(|s| reg.orphans.iter().any(|o| std::ptr::eq(o.inst.get(), s)))
        };
        if pinned {
            std::mem::forget(image);
        }
    }
}

/// A read-only view of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    /// `s->name`.
    pub name: String,
    /// Names sharing the instance (mainline-style aliases), own name first.
    pub names: Vec<String>,
    /// The primary's name (its own name for a primary).
    pub primary: String,
    /// State.
    pub state: InstanceState,
    /// Kind.
    pub kind: InstanceKind,
    /// `s->refcount`.
    pub refcount: i32,
    /// `s->object_size`.
    pub object_size: u32,
    /// `s->size`.
    pub size: u32,
    /// `s->align`.
    pub align: u32,
    /// `s->flags`.
    pub flags: SlabFlags,
    /// Objects per slab.
    pub objs_per_slab: u32,
    /// Slab order.
    pub order: u32,
    /// The sysfs directory of its storage.
    pub sysfs_dir: String,
    /// True if this instance is an alias of another (primary scheme).
    pub is_alias: bool,
}

impl CacheInfo {
    /// The view of `cache`; `_reg` witnesses that `slab_mutex` is held, so
    /// the instance and its primary stay put while they are read.
    pub(crate) fn of(cache: &KmemCache, _reg: &Registry) -> CacheInfo {
        let is_alias = cache.is_alias();
        let primary = cache.primary_cache().map_or_else(|| cache.name(), |p| p.name());
        let layout = cache.storage().map(|s| s.layout);
        let sysfs_dir = cache.sysfs_dir();
        let meta = cache.meta.lock();
        CacheInfo {
            name: meta.name.clone(),
            names: meta.names.clone(),
            primary,
            state: meta.state,
            kind: meta.kind,
            refcount: meta.refcount,
            object_size: cache.object_size(),
            size: layout.map_or(0, |l| l.size),
            align: meta.align,
            flags: meta.flags,
            objs_per_slab: layout.map_or(0, |l| l.objects),
            order: layout.map_or(0, |l| l.order),
            sysfs_dir,
            is_alias,
        }
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
    world.destroy(InstPtr(inst), name, module)
}

/// Mirrors `kmem_cache_destroy()`: drops this creator's reference; the last
/// one shuts the cache down. Objects left make it return
/// [`SlabError::CacheBusy`] after logging the kernel's report; their memory stays valid.
pub fn kmem_cache_destroy(cache: Cache) -> Result<(), SlabError> {
    let mut cache = std::mem::ManuallyDrop::new(cache);
    let name = std::mem::take(&mut cache.name);
    // SAFETY: `cache` is consumed here and its Drop will not run.
    unsafe { destroy_instance(cache.inst, &name, cache.module) }
}
