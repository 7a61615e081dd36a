//! Everything `slab_mutex` protects, and the world core that holds it.
//!
//! What the kernel keeps in globals of `mm/slab_common.c` (`slab_caches`,
//! `slab_mutex`) and `mm/slub.c` (the sysfs kset), in one value per world.

use std::ptr::NonNull;

use slotmap::SlotMap;

use crate::config::SlabConfig;
use crate::error::{Report, SlabError};
use crate::slab_common::cache::{InstanceWorld, KmemCache};
use crate::slab_common::ids::{CacheId, ModuleId};
use crate::slab_common::merge::{MergeRequest, TargetView, slab_unmergeable};
use crate::slab_common::slab_caches::{MergeIndex, SlabCaches};
use crate::slab_common::sysfs::{Sysfs, SysfsName};
use crate::slub::memory::SlabMemory;
use crate::slub::storage::CacheStorage;
use crate::sync::{Arc, Mutex};

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
    /// `slab_caches`, oldest first.
    pub(crate) slab_caches: SlabCaches,
    /// Its merge targets, for `find_mergeable()`.
    pub(crate) merge_index: MergeIndex,
    pub(crate) sysfs: Sysfs,
    pub(crate) modules: SlotMap<ModuleId, ModuleRec>,
    /// Destroyed instances whose storage still holds objects (the kernel leaks
    /// them); released when the world goes away, or a module unloads, once
    /// their objects are gone.
    pub(crate) orphans: Vec<Orphan>,
    /// Before 6.12: `slab_caches_to_rcu_destroy`, the `SLAB_TYPESAFE_BY_RCU`
    /// caches a final destroy took off `slab_caches` whose sysfs directory
    /// and memory go in the deferred destroy work, after the grace period
    /// ([`crate::World::rcu_barrier`]).
    pub(crate) rcu_destroy: Vec<RcuDestroy>,
}

/// A cache on `slab_caches_to_rcu_destroy`: unlisted, shut down (no slab
/// left), its directory still in sysfs.
pub(crate) struct RcuDestroy {
    /// The instance and its (empty) storage.
    pub(crate) cache: Orphan,
    /// Its sysfs directory, removed by the work's `sysfs_slab_unlink()`.
    pub(crate) dir: Option<SysfsName>,
}

/// The shared core of a world; instances hold a reference to it.
pub(crate) struct WorldCore {
    pub(crate) config: SlabConfig,
    pub(crate) memory: Arc<SlabMemory>,
    pub(crate) slab_mutex: Mutex<Registry>,
    pub(crate) reports: Mutex<Vec<Report>>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            caches: SlotMap::with_key(),
            slab_caches: SlabCaches::default(),
            merge_index: MergeIndex::default(),
            sysfs: Sysfs::default(),
            modules: SlotMap::with_key(),
            orphans: Vec::new(),
            rcu_destroy: Vec::new(),
        }
    }

    /// The listed instances, oldest first.
    pub(crate) fn listed(&self) -> impl Iterator<Item = InstPtr> + '_ {
        self.slab_caches.iter().map(|id| self.caches[id])
    }

    /// `list_add(&s->list, &slab_caches)`, and into the merge index if the
    /// cache can be a target (which it then stays while listed).
    pub(crate) fn register(&mut self, cfg: &SlabConfig, inst: NonNull<KmemCache>) -> CacheId {
        let id = self.caches.insert(InstPtr(inst));
        let seq = self.slab_caches.push(id);
        // SAFETY: just registered; live.
        let s = unsafe { inst.as_ref() };
        let view = TargetView::of(s);
        if slab_unmergeable(cfg, &view).is_none() {
            self.merge_index.insert(id, seq, view.size, view.flags);
        }
        s.meta.lock().id = Some(id);
        id
    }

    /// `list_del(&s->list)`.
    pub(crate) fn unregister(&mut self, s: &KmemCache) {
        if let Some(id) = s.meta.lock().id.take() {
            self.caches.remove(id);
            self.slab_caches.remove(id);
            self.merge_index.remove(id);
        }
    }

    /// `find_mergeable()` through the index: the oldest listed target of the
    /// normalised request.
    pub(crate) fn find_mergeable(&self, req: &MergeRequest) -> Option<InstPtr> {
        self.merge_index.find(req.size, req.align, req.flags).map(|id| self.caches[id])
    }
}

impl WorldCore {
    pub(crate) fn new(config: SlabConfig) -> WorldCore {
        WorldCore {
            memory: Arc::new(SlabMemory::new(&config)),
            config,
            slab_mutex: Mutex::new(Registry::new()),
            reports: Mutex::new(Vec::new()),
        }
    }

    /// Appends a kernel-style report to the log.
    pub(crate) fn report(&self, function: &'static str, cache: Option<String>, addr: Option<usize>, message: String) {
        self.reports.lock().push(Report { function, cache, addr, message });
    }

    /// The reports logged so far.
    pub(crate) fn reports(&self) -> Vec<Report> {
        self.reports.lock().clone()
    }
}

impl InstanceWorld for WorldCore {
    fn report(&self, function: &'static str, cache: Option<String>, addr: Option<usize>, message: String) {
        WorldCore::report(self, function, cache, addr, message);
    }

    fn destroy_reference(
        &self,
        inst: NonNull<KmemCache>,
        name: &str,
        module: Option<ModuleId>,
    ) -> Result<(), SlabError> {
        self.destroy(InstPtr(inst), name, module)
    }
}
