//! Cache destruction under `slab_mutex`, for every scheme.
//!
//! Mirrors `mm/slab_common.c`: `kmem_cache_destroy()` and
//! `shutdown_cache()` (with `__kmem_cache_shutdown()` in the core), the
//! leftover-object report, and what the kernel does with a cache that still
//! has objects: it leaks it, so those objects stay valid. How a creator's
//! reference goes is the scheme's [`DestroyStyle`].

use std::ptr::NonNull;

use crate::error::SlabError;
use crate::flags::SLAB_TYPESAFE_BY_RCU;
use crate::schemes::DestroyStyle;
use crate::slab_common::cache::{InstanceKind, InstanceState, InstanceWorld, KmemCache};
use crate::slab_common::ids::ModuleId;
use crate::slab_common::registry::{InstPtr, Orphan, RcuDestroy, Registry, WorldCore};
use crate::slub::layout::create_unique_id;
use crate::slub::storage::CacheStorage;
use crate::sync::Arc;

impl WorldCore {
    /// Mirrors `kmem_cache_destroy()` for one creator's handle.
    pub(crate) fn destroy(&self, inst: InstPtr, name: &str, module: Option<ModuleId>) -> Result<(), SlabError> {
        let mut reg = self.slab_mutex.lock();
        let mut released = Vec::new();
        if let Some(m) = module.and_then(|m| reg.modules.get_mut(m))
            && let Some(i) = m.handles.iter().position(|h| h == name)
        {
            m.handles.remove(i);
        }
        let s = inst.get();
        let separate = self.config.scheme.rules().destroy_style() == DestroyStyle::SeparateInstances;
        let result = if separate && s.is_alias() {
            self.destroy_alias(&mut reg, inst, name, &mut released)
        } else {
            let mut meta = s.meta.lock();
            if matches!(meta.state, InstanceState::Destroyed | InstanceState::Unused) {
                return Err(SlabError::CacheDestroyed { cache: name.to_owned() });
            }
            meta.refcount -= 1;
            if let Some(i) = meta.names.iter().rposition(|n| **n == *name) {
                meta.names.remove(i);
            }
            let refcount = meta.refcount;
            let own_name = meta.name() == name;
            if separate && own_name {
                // Each instance owns its link: the creator's name goes now.
                if meta.sysfs_dir() != name {
                    reg.sysfs.remove_link(name, s as *const KmemCache as usize);
                }
            }
            // `if (--s->refcount) return;`: any non-zero count, including a
            // boot cache's -1 going to -2, stops here.
            if refcount != 0 {
                if separate && own_name {
                    // No creator is left: the primary is called as a hidden
                    // primary is, by its unique id (design/primary-cache.md).
                    meta.state = InstanceState::Headless;
                    meta.name = Some(create_unique_id(meta.flags, s.size()).into());
                }
                Ok(())
            } else {
                drop(meta);
                self.shutdown_cache(&mut reg, inst, name, &mut released, true)
            }
        };
        drop(reg);
        drop(released);
        result
    }

    /// [`DestroyStyle::SeparateInstances`]: an alias goes on its own; its
    /// primary loses one reference.
    fn destroy_alias(
        &self,
        reg: &mut Registry,
        inst: InstPtr,
        name: &str,
        released: &mut Vec<Arc<dyn InstanceWorld>>,
    ) -> Result<(), SlabError> {
        let a = inst.get();
        let primary = InstPtr(NonNull::from(a.primary_cache().expect("an alias has a primary")));
        let primary_dir = primary.get().meta.lock().sysfs_dir.clone();
        if primary_dir.as_deref() != Some(name) {
            reg.sysfs.remove_link(name, a as *const KmemCache as usize);
        }
        reg.unregister(a);
        a.set_storage(std::ptr::null_mut());
        a.set_primary(std::ptr::null());
        let world = {
            let mut meta = a.meta.lock();
            meta.state = InstanceState::Destroyed;
            meta.refcount = 0;
            meta.names.clear();
            meta.world.take()
        };
        released.extend(world);
        release_instance(inst);
        let last = {
            let mut meta = primary.get().meta.lock();
            meta.refcount -= 1;
            meta.refcount == 0
        };
        // BROKEN ON PURPOSE, loom only (`Broken::ReleaseOnAliasCount`): the
        // alias's own count, which just reached zero, decides instead of the
        // primary's, and the shared storage is shut down under its other users.
        #[cfg(loom)]
        let last = last || self.config.broken == Some(crate::config::Broken::ReleaseOnAliasCount);
        if last { self.shutdown_cache(reg, primary, name, released, true) } else { Ok(()) }
    }

    /// Mirrors the final part of `kmem_cache_destroy()`: `__kmem_cache_shutdown`,
    /// `list_del` regardless of the result, `sysfs_slab_unlink`, and either the
    /// release or — with objects left — the WARN and a deliberate leak.
    ///
    /// Before 6.12 ([`crate::config::MergeRules::keeps_busy_cache_listed`])
    /// a busy cache instead stays listed, linked and mergeable with refcount
    /// 0 (for the instances of [`WorldCore::busy_stays_listed`]), unless
    /// `may_stay` is false: the world's power-off unlists it whatever the
    /// result.
    ///
    /// Before 6.12 ([`crate::config::MergeRules::defers_rcu_destroy`]) a clean
    /// `SLAB_TYPESAFE_BY_RCU` cache is instead put on
    /// `slab_caches_to_rcu_destroy` by `shutdown_cache()`: unlisted now, its
    /// directory unlinked and its memory freed by
    /// [`WorldCore::slab_caches_to_rcu_destroy_workfn`] after the grace period.
    ///
    /// `creator` is the name whose destroy dropped the last reference. The
    /// WARN names it, and the group (`s->name`, whose slabs hold the objects)
    /// when that differs: a mainline alias destroyed after the first creator,
    /// an alias destroyed after its primary went headless, a module static
    /// whose hidden primary goes with it. The kernel prints `s->name` alone,
    /// which names neither the caller nor, in the primary scheme, a creator.
    fn shutdown_cache(
        &self,
        reg: &mut Registry,
        inst: InstPtr,
        creator: &str,
        released: &mut Vec<Arc<dyn InstanceWorld>>,
        may_stay: bool,
    ) -> Result<(), SlabError> {
        let s = inst.get();
        let storage = s.storage_ptr();
        // SAFETY: a registered, undestroyed instance has a live storage.
        let live = unsafe { &*storage }.shutdown();
        if !live.is_empty() && may_stay && self.busy_stays_listed(s) {
            // Before 6.12: `if (__kmem_cache_shutdown(s) != 0) return -EBUSY;`
            // comes before `list_del(&s->list)`. The cache stays listed with
            // refcount 0, its directory, links and storage kept, and can
            // still allocate through a later merge.
            self.report_busy(s, creator, &live);
            return Err(SlabError::CacheBusy { cache: creator.to_owned(), objects: live.len() });
        }
        reg.unregister(s);
        let (dir, rcu) = {
            let meta = s.meta.lock();
            (meta.sysfs_dir.clone(), meta.flags.intersects(SLAB_TYPESAFE_BY_RCU))
        };
        let deferred = rcu && live.is_empty() && self.config.merge_rules.defers_rcu_destroy();
        if !deferred {
            reg.sysfs.unlink_dir(dir.as_deref(), s as *const KmemCache as usize);
        }
        let mut meta = s.meta.lock();
        meta.state = InstanceState::Destroyed;
        released.extend(meta.world.take());
        drop(meta);
        if !live.is_empty() {
            self.report_busy(s, creator, &live);
            // The instance can no longer allocate; the orphan keeps the
            // storage (and the slabs' objects valid) until they are freed.
            s.set_storage(std::ptr::null_mut());
            // SAFETY: `storage` was the non-null storage of a live instance.
            reg.orphans.push(Orphan { inst, storage: unsafe { NonNull::new_unchecked(storage) } });
            return Err(SlabError::CacheBusy { cache: creator.to_owned(), objects: live.len() });
        }
        s.set_storage(std::ptr::null_mut());
        if deferred {
            // SAFETY: `storage` was the non-null storage of a live instance.
            let storage = unsafe { NonNull::new_unchecked(storage) };
            reg.rcu_destroy.push(RcuDestroy { cache: Orphan { inst, storage }, dir });
            return Ok(());
        }
        // SAFETY: shutdown found no object; the instance no longer names the
        // storage, no alias does (refcount 0), and no slab or sheaf is left.
        unsafe { CacheStorage::release(NonNull::new_unchecked(storage)) };
        release_instance(inst);
        Ok(())
    }

    /// The WARN of a busy final destroy and `__kmem_cache_shutdown()`'s
    /// list of the objects left.
    fn report_busy(&self, s: &KmemCache, creator: &str, live: &[(usize, usize)]) {
        let name = s.meta.lock().name().to_owned();
        let who = if creator == name { name.clone() } else { format!("{creator} (group {name})") };
        self.report(
            "kmem_cache_destroy",
            Some(creator.to_owned()),
            None,
            format!("kmem_cache_destroy {who}: Slab cache still has objects when called from kmem_cache_destroy"),
        );
        let mut text = format!("BUG {name} (Not tainted): Objects remaining on __kmem_cache_shutdown()");
        for (addr, offset) in live {
            text.push_str(&format!("\nObject {addr:#x} @offset={offset}"));
        }
        self.report("__kmem_cache_shutdown", Some(name), live.first().map(|l| l.0), text);
    }

    /// Mirrors `slab_caches_to_rcu_destroy_workfn()` (before 6.12), run once
    /// the grace period is over: for every cache on
    /// `slab_caches_to_rcu_destroy`, `kmem_cache_release()` —
    /// `sysfs_slab_unlink()` of its directory, then the release of the cache.
    /// Returns how many caches it released.
    pub(crate) fn slab_caches_to_rcu_destroy_workfn(reg: &mut Registry) -> usize {
        let pending = std::mem::take(&mut reg.rcu_destroy);
        let n = pending.len();
        for RcuDestroy { cache: Orphan { inst, storage }, dir } in pending {
            reg.sysfs.unlink_dir(dir.as_deref(), inst.0.as_ptr() as usize);
            // SAFETY: shut down clean before it was queued: no object, slab or
            // sheaf is left, and no instance names the storage any more.
            unsafe { CacheStorage::release(storage) };
            release_instance(inst);
        }
        n
    }

    /// Power-off for boot caches: `create_boot_cache()` gives them refcount
    /// -1, so no `kmem_cache_destroy()` ever shuts them down (it only counts
    /// down). When the world goes, they are shut down like any final destroy.
    pub(crate) fn release_boot_caches(&self) {
        let mut reg = self.slab_mutex.lock();
        let mut released = Vec::new();
        let boot: Vec<InstPtr> =
            reg.slab_caches.iter().map(|id| reg.caches[id]).filter(|p| p.get().meta.lock().refcount < 0).collect();
        for inst in boot {
            let name = {
                let mut meta = inst.get().meta.lock();
                meta.refcount = 0;
                meta.name().to_owned()
            };
            let _ = self.shutdown_cache(&mut reg, inst, &name, &mut released, false);
        }
        drop(reg);
        drop(released);
    }

    /// Power-off for the caches a busy final destroy left listed before 6.12
    /// ([`crate::config::MergeRules::keeps_busy_cache_listed`]): listed with
    /// refcount 0. They are shut down again, now unlisted whatever the
    /// result: released if their objects were freed meanwhile, else orphaned.
    pub(crate) fn release_busy_listed(&self) {
        let mut reg = self.slab_mutex.lock();
        let mut released = Vec::new();
        let busy: Vec<InstPtr> = reg
            .listed()
            .filter(|p| {
                let meta = p.get().meta.lock();
                meta.refcount == 0 && meta.state == InstanceState::Live
            })
            .collect();
        for inst in busy {
            let name = inst.get().meta.lock().name().to_owned();
            let _ = self.shutdown_cache(&mut reg, inst, &name, &mut released, false);
        }
        drop(reg);
        drop(released);
    }

    /// Whether a busy final destroy of `s` leaves it on `slab_caches`: before
    /// 6.12, for a dynamic cache of a scheme whose creators share one
    /// refcounted instance (mainline, v3, v1). A static's memory goes with
    /// its module or image, and the primary scheme's instances are each
    /// one creator's (design/primary-cache.md), so those are unlisted as
    /// from 6.12.
    pub(crate) fn busy_stays_listed(&self, s: &KmemCache) -> bool {
        self.config.merge_rules.keeps_busy_cache_listed()
            && self.config.scheme.rules().destroy_style() == DestroyStyle::SharedRefcount
            && !s.is_alias()
            && s.meta.lock().kind == InstanceKind::Dynamic
    }

    /// Releases orphans whose objects are all gone (called when the world goes).
    pub(crate) fn reap_orphans(&self, reg: &mut Registry) -> usize {
        let orphans = std::mem::take(&mut reg.orphans);
        let mut kept = 0;
        for orphan in orphans {
            // SAFETY: orphans keep their storage until released here.
            if unsafe { orphan.storage.as_ref() }.shutdown().is_empty() {
                // SAFETY: no object is left, and neither the unlisted instance
                // nor any alias names the storage any more.
                unsafe { CacheStorage::release(orphan.storage) };
                release_instance(orphan.inst);
            } else {
                reg.orphans.push(orphan);
                kept += 1;
            }
        }
        kept
    }
}

/// Frees a dynamic instance; statics stay where they are, destroyed.
fn release_instance(inst: InstPtr) {
    let kind = inst.get().meta.lock().kind;
    if matches!(kind, InstanceKind::Dynamic | InstanceKind::HiddenPrimary) {
        // SAFETY: dynamic instances come from Box::leak in `instance_for` or
        // `create_cache`; this instance is unlisted and no handle remains.
        drop(unsafe { Box::from_raw(inst.0.as_ptr()) });
    }
}

impl Drop for WorldCore {
    fn drop(&mut self) {
        let mut reg = std::mem::replace(self.slab_mutex.get_mut(), Registry::new());
        // The grace period of every pending RCU destroy ends with the world.
        WorldCore::slab_caches_to_rcu_destroy_workfn(&mut reg);
        // Orphans still holding objects stay allocated (those objects may be
        // used after the world is gone); the rest are released.
        self.reap_orphans(&mut reg);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::config::{MergeRules, SlabConfig};
    use crate::flags::SlabFlags;
    use crate::slab_common::cache::kmem_cache_destroy;
    use crate::slab_common::world::{KmemCacheArgs, World};
    use crate::sync::Arc;

    /// Before 6.12 a busy final destroy leaves the cache listed, still
    /// holding the world (4ec10268ed98): the world's power-off must unlist it
    /// so that the world core goes, whether its objects were freed meanwhile
    /// or are left (then the orphan keeps the storage, not the world).
    #[test]
    fn power_off_releases_the_world_held_by_a_listed_busy_cache() {
        // With an object left, the orphan's storage stays allocated for it
        // past the world, as the kernel leaks a busy cache: memcheck reports
        // that block as lost, so under valgrind only the clean case runs.
        let under_valgrind = std::fs::read_to_string("/proc/self/maps").is_ok_and(|m| m.contains("vgpreload"));
        let cases: &[bool] = if under_valgrind { &[true] } else { &[true, false] };
        for &free_first in cases {
            let w = World::new(SlabConfig::with_rules(MergeRules::V6_6));
            let c = w.kmem_cache_create("busy", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
            let object = c.alloc().unwrap();
            assert!(kmem_cache_destroy(c).is_err());
            assert!(w.caches().iter().any(|c| c.name == "busy" && c.refcount == 0));
            let _left = if free_first {
                w.kfree(object).unwrap();
                None
            } else {
                Some(object)
            };
            let core = Arc::downgrade(&w.core);
            drop(w);
            assert!(core.upgrade().is_none(), "free_first {free_first}: the world core outlived the world");
        }
    }
}
