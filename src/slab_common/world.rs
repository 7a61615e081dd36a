//! The slab world: what the kernel keeps in globals (`slab_caches`,
//! `slab_mutex`, the sysfs kset, the kmalloc caches, loaded modules) plus the
//! configuration, in one value so that several worlds live in one process.
//!
//! This file is the world's creation API and its read-only views; kmalloc and
//! kfree are in `kmalloc.rs`, the invariants in `invariants.rs`, the
//! creation and destroy flows in `create.rs` and `destroy.rs`.

use std::ptr::NonNull;

use crate::config::SlabConfig;
use crate::error::{Report, SlabError};
use crate::flags::*;
pub use crate::slab_common::cache::kmem_cache_destroy;
use crate::slab_common::cache::{Cache, InstanceState, KmemCache, Object};
pub use crate::slab_common::decide::{Candidate, Decision};
pub use crate::slab_common::info::CacheInfo;
pub use crate::slab_common::kmalloc::{KMALLOC_MAX_CACHE_SIZE, KMALLOC_SIZES};
use crate::slab_common::registry::{InstPtr, WorldCore};
pub use crate::slab_common::request::{CreateEntry, KmemCacheArgs, PlacementKind};
use crate::slab_common::request::{CreateRequest, Placement};
use crate::slub::page::PageEntry;
use crate::slub::storage::{CacheStorage, StorageStats};
use crate::sync::Arc;

/// A slab world.
pub struct World {
    pub(crate) core: Arc<WorldCore>,
    /// `virt_to_slab()` for `kfree` (zero-sized: the descriptors are at a
    /// constant address).
    pub(crate) page_map: crate::slub::page::PageMapReader,
    /// The address of `core.memory`, for `kfree`'s one compare that a slab
    /// is this world's (the descriptor array is shared by every world): one
    /// load from the world instead of two.
    pub(crate) memory_addr: usize,
    /// `kmalloc_caches[KMALLOC_NORMAL][]`, owned by the world.
    pub(crate) kmalloc: Vec<InstPtr>,
    /// Static instances of the simulated kernel image (see [`World::image_static`]).
    image: Option<Box<[KmemCache]>>,
}

impl World {
    /// A booted world: the normal kmalloc caches exist, as after `create_kmalloc_caches()`.
    pub fn new(config: SlabConfig) -> World {
        let mut world = World::bare(config);
        for size in KMALLOC_SIZES {
            let name = format!("kmalloc-{}", if size >= 1024 { format!("{}k", size / 1024) } else { size.to_string() });
            let align = crate::config::ARCH_KMALLOC_MINALIGN.max(1 << size.trailing_zeros().min(12));
            // new_kmalloc_cache(): SLAB_NO_MERGE for KMALLOC_NORMAL with
            // CONFIG_MEMCG, in the releases that have the flag (6.5 on).
            let cfg = &world.core.config;
            let flags = if cfg.memcg && cfg.merge_rules >= crate::config::MergeRules::V6_6 {
                SLAB_NO_MERGE
            } else {
                SlabFlags::EMPTY
            };
            // The world owns its kmalloc caches: no creator handle, just the instance.
            let req = CreateRequest {
                name: name.as_str().into(),
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
    pub fn bare(mut config: SlabConfig) -> World {
        if config.real_cpus {
            // Counting (`slub_stats`) increments inside the critical
            // section, which only the virtual CPUs' protocol has.
            if crate::slub::rseq::available() && !config.percpu_fallback && !cfg!(feature = "slub_stats") {
                config.nr_cpus = crate::slub::rseq::nr_cpu_ids();
            } else {
                config.real_cpus = false; // the virtual CPUs, as documented
            }
        }
        let image = (0..config.image_statics).map(|_| KmemCache::new()).collect();
        let core = Arc::new(WorldCore::new(config));
        let memory_addr = Arc::as_ptr(&core.memory) as usize;
        World { page_map: core.memory.map.reader(), memory_addr, core, kmalloc: Vec::new(), image: Some(image) }
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
        let req =
            CreateRequest { name: name.into(), size, args, flags, entry, placement: Placement::Dynamic, module: None };
        let name = req.name.clone();
        let inst = self.core.create(req)?;
        Ok(Cache { inst, name, module: None, _world: std::marker::PhantomData })
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

    /// The image static set up under `name` (the oldest, if several share
    /// it), as the kernel's code names a static instance by its symbol:
    /// `&dentry_cache`, not a slot. `None` if no image static carries the
    /// name (never set up, or its setup failed).
    pub fn image_static_named(&self, name: &str) -> Option<&KmemCache> {
        let image = self.image.as_ref().expect("the image lives as long as the world");
        image.iter().find(|s| s.state() != InstanceState::Unused && s.meta.lock().name() == name)
    }

    /// `kmem_cache_setup()` of the next unused image static, addressed
    /// afterwards by its name ([`World::image_static_named`]). The image has
    /// [`SlabConfig::image_statics`] of them; when all are used the setup is
    /// refused with `-ENOMEM` and nothing changes.
    pub fn kmem_cache_setup_image_named(
        &self,
        name: &str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
    ) -> Result<&KmemCache, SlabError> {
        let image = self.image.as_ref().expect("the image lives as long as the world");
        let Some(i) = image.iter().position(|s| s.state() == InstanceState::Unused) else {
            return Err(SlabError::NoMemory);
        };
        self.kmem_cache_setup_image(i, name, size, args, flags)
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
        ctor: Option<crate::slub::storage::Ctor>,
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

    /// The kernel-style reports logged so far (a copy: the log keeps them).
    #[must_use = "the reports are a copy of the log; reading nothing from them is a lost check"]
    pub fn reports(&self) -> Vec<Report> {
        self.core.reports()
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

    /// What `kmem_cache_create()` (or, for a static placement,
    /// `kmem_cache_setup()`; or a boot entry) would decide for this request
    /// against the caches as they are now, and why, creating nothing. It is
    /// the decision creation itself acts on, with the rejected candidates of
    /// the request's stride added.
    pub fn explain_create(
        &self,
        name: &str,
        size: u32,
        args: &KmemCacheArgs,
        flags: SlabFlags,
        entry: CreateEntry,
        placement: PlacementKind,
    ) -> Decision {
        self.core.explain(name, size, args, flags, entry, placement)
    }

    /// Every listed instance, oldest first (`slab_caches`).
    pub fn caches(&self) -> Vec<CacheInfo> {
        let reg = self.core.slab_mutex.lock();
        reg.slab_caches.iter().map(|id| CacheInfo::of(reg.caches[id].get(), &reg)).collect()
    }

    /// The instance `slab->slab_cache` names for the slab holding `object`
    /// (in the primary scheme always a primary, never an alias).
    pub fn slab_cache_of(&self, object: &Object) -> Option<CacheInfo> {
        let PageEntry::Slab(slab) = self.core.memory.map.lookup(object.addr()) else { return None };
        // SAFETY: the token proves the object is allocated, so its slab and storage are live.
        let storage = unsafe { slab.as_ref().storage.as_ref() };
        let primary = storage.primary()?;
        let reg = self.core.slab_mutex.lock();
        Some(CacheInfo::of(primary, &reg))
    }

    /// Names of the loaded modules.
    pub fn modules(&self) -> Vec<String> {
        self.core.slab_mutex.lock().modules.values().map(|m| m.name.clone()).collect()
    }

    /// The sysfs tree.
    pub fn sysfs(&self) -> Vec<crate::slab_common::sysfs::SysfsEntry> {
        self.core.slab_mutex.lock().sysfs.entries()
    }

    /// `rcu_barrier()`, as the slab code sees it: the grace period of every
    /// RCU callback queued so far ends, so the deferred destroy work runs.
    ///
    /// Before 6.12 ([`crate::config::MergeRules::defers_rcu_destroy`]),
    /// `kmem_cache_destroy()` of a `SLAB_TYPESAFE_BY_RCU` cache takes it off
    /// `slab_caches` (its `/proc/slabinfo` line goes) but leaves its
    /// `/sys/kernel/slab` directory and its `struct kmem_cache` to
    /// `slab_caches_to_rcu_destroy_workfn()`, which the kernel schedules at
    /// once and which waits for `rcu_barrier()` before unlinking them. This
    /// world has no RCU callbacks and no workqueue: the directory stays until
    /// this call (or until the world or the owning module goes), which is the
    /// latest the kernel would keep it. Returns the number of caches the work
    /// released; from 6.12 destroy unlinks at once and this returns 0.
    pub fn rcu_barrier(&self) -> usize {
        let mut reg = self.core.slab_mutex.lock();
        crate::slab_common::registry::WorldCore::slab_caches_to_rcu_destroy_workfn(&mut reg)
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
                total = crate::slab_common::info::add_stats(total, storage.stats());
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
        self.core.release_busy_listed();
        let image = self.image.take().unwrap_or_default();
        let order: Vec<InstPtr> = {
            let reg = self.core.slab_mutex.lock();
            reg.slab_caches
                .iter()
                .map(|id| reg.caches[id])
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
            let mut reg = self.core.slab_mutex.lock();
            // The image memory goes next: no queued RCU destroy may name it.
            crate::slab_common::registry::WorldCore::slab_caches_to_rcu_destroy_workfn(&mut reg);
            image.iter().any(|s| reg.orphans.iter().any(|o| std::ptr::eq(o.inst.get(), s)))
        };
        if pinned {
            std::mem::forget(image);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::config::{MergeRules, Scheme};

    /// Power-off releases the world's core whatever was merged: a dynamic
    /// cache, an image static of the same geometry, the dynamic cache
    /// destroyed, then the world dropped, in every scheme (and with
    /// `slab_nomerge`) under every release. Under viro-v1 with 6.1's rules
    /// the static once merged into the dynamic cache (`SLAB_NO_MERGE` is not
    /// in 6.1's `SLAB_NEVER_MERGE`), so its setup left the image static
    /// unused and the dynamic cache, alive for the static's reference alone,
    /// was never shut down: it kept the core, which holds it, alive.
    #[test]
    fn power_off_releases_the_core_after_a_static_meets_a_destroyed_dynamic_cache() {
        for scheme in Scheme::ALL {
            for rules in MergeRules::ALL {
                for slab_nomerge in [false, true] {
                    let what = format!("{scheme} {rules} slab_nomerge={slab_nomerge}");
                    let w = World::new(SlabConfig {
                        image_statics: 1,
                        merge_rules: rules,
                        slab_nomerge,
                        ..SlabConfig::with_scheme(scheme)
                    });
                    let d = w.kmem_cache_create("d", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
                    let s = w.kmem_cache_setup_image(0, "s", 64, KmemCacheArgs::default(), SlabFlags::EMPTY);
                    match s {
                        // The setup sets up the static itself: it is the creator's cache.
                        Ok(s) => assert_ne!(s.state(), InstanceState::Unused, "{what}: the static was not set up"),
                        Err(e) => assert!(!scheme.rules().has_static_instances(), "{what}: {e}"),
                    }
                    kmem_cache_destroy(d).unwrap();
                    let core = Arc::downgrade(&w.core);
                    drop(w);
                    assert!(core.upgrade().is_none(), "{what}: the world core outlived the world");
                }
            }
        }
    }
}
