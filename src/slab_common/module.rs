//! Loadable modules: their static cache instances live in module memory,
//! which is freed at unload.
//!
//! A [`Module`] owns its memory. Module statics are borrowed from it, and
//! both destroying a static and unloading take the module by `&mut` or by
//! value, so no reference into module memory can outlive it: the borrow
//! checker refuses such code. Unload itself refuses (and hands the module
//! back) while the module still has caches, or while a destroyed static is
//! pinned by objects left in it (Al Viro's v3: the owner stays until the
//! last reference goes).

use crate::error::SlabError;
use crate::flags::SlabFlags;
use crate::slab_common::cache::{Cache, InstanceState, KmemCache};
use crate::slab_common::ids::ModuleId;
use crate::slab_common::registry::{InstPtr, ModuleRec, WorldCore};
use crate::slab_common::request::{CreateRequest, KmemCacheArgs, Placement};
use crate::slab_common::world::World;
use crate::sync::Arc;

/// A loaded module.
///
/// Dropping it runs the module's exit path (see its `Drop`): every live
/// static is destroyed; [`World::module_unload`] is the call that can refuse.
#[must_use = "dropping a module runs its exit path, destroying its static caches"]
pub struct Module<'w> {
    id: ModuleId,
    name: String,
    core: Arc<WorldCore>,
    /// The module's static `struct kmem_cache` objects: its data section.
    statics: Option<Box<[KmemCache]>>,
    _world: std::marker::PhantomData<&'w World>,
}

impl World {
    /// Loads a module named `name` with `nr_statics` static cache instances.
    pub fn module_load(&self, name: &str, nr_statics: usize) -> Module<'_> {
        let id = self.core.slab_mutex.lock().modules.insert(ModuleRec { name: name.to_owned(), handles: Vec::new() });
        Module {
            id,
            name: name.to_owned(),
            core: self.core.clone(),
            statics: Some((0..nr_statics).map(|_| KmemCache::new()).collect()),
            _world: std::marker::PhantomData,
        }
    }

    /// Unloads a module (`delete_module`). Refuses with
    /// [`SlabError::ModuleBusy`], handing the module back intact, while it
    /// has caches or pinned statics.
    pub fn module_unload<'w>(&'w self, module: Module<'w>) -> Result<(), (SlabError, Module<'w>)> {
        module.unload()
    }
}

impl<'w> Module<'w> {
    /// The module's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many static instances the module has.
    pub fn static_count(&self) -> usize {
        self.statics.as_ref().map_or(0, |s| s.len())
    }

    /// Static instance `i` of the module.
    pub fn static_cache(&self, i: usize) -> &KmemCache {
        &self.statics.as_ref().expect("statics live until unload")[i]
    }

    /// `kmem_cache_setup()` of static instance `i`, from module code.
    pub fn kmem_cache_setup(
        &self,
        i: usize,
        name: &str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
    ) -> Result<&KmemCache, SlabError> {
        let inst = self.static_cache(i);
        let req = CreateRequest::create(name, size, args, flags, Placement::ModuleStatic(inst), Some(self.id));
        self.core.create(req)?;
        Ok(inst)
    }

    /// `kmem_cache_create()` from module code (a module's dynamic cache).
    pub fn kmem_cache_create(
        &self,
        name: &str,
        size: u32,
        args: KmemCacheArgs,
        flags: SlabFlags,
    ) -> Result<Cache<'w>, SlabError> {
        let req = CreateRequest::create(name, size, args, flags, Placement::Dynamic, Some(self.id));
        let shared = req.name.clone();
        let inst = self.core.create(req)?;
        if let Some(m) = self.core.slab_mutex.lock().modules.get_mut(self.id) {
            m.handles.push(name.to_owned());
        }
        Ok(Cache { inst, name: shared, module: Some(self.id), _world: std::marker::PhantomData })
    }

    /// `kmem_cache_destroy()` of static instance `i` (module exit code).
    pub fn kmem_cache_destroy(&mut self, i: usize) -> Result<(), SlabError> {
        let inst = self.static_cache(i);
        let name = inst.name();
        match inst.state() {
            InstanceState::Unused => return Err(SlabError::NotSetUp),
            InstanceState::Destroyed => return Err(SlabError::CacheDestroyed { cache: name }),
            _ => {}
        }
        let ptr = InstPtr(std::ptr::NonNull::from(inst));
        // `None`: the module's record of its dynamic caches is not involved
        // (a dynamic cache of the same name must stay recorded).
        self.core.destroy(ptr, &name, None)
    }

    /// Why the module cannot unload now, if it cannot.
    fn busy(&self) -> Option<SlabError> {
        let mut reg = self.core.slab_mutex.lock();
        // A destroyed static pinned by objects is released once they are gone:
        // the owner reference drops with the last object (v3 03/10).
        self.core.reap_orphans(&mut reg);
        // Before 6.12 a destroyed SLAB_TYPESAFE_BY_RCU cache waits for the
        // deferred destroy work; the module's memory cannot go while one of
        // its statics is queued there, so unloading waits for it too.
        WorldCore::slab_caches_to_rcu_destroy_workfn(&mut reg);
        let mut caches: Vec<String> = reg.modules.get(self.id).map(|m| m.handles.clone()).unwrap_or_default();
        for inst in self.statics.as_deref().unwrap_or(&[]) {
            let meta = inst.meta.lock();
            let pinned = reg.orphans.iter().any(|o| std::ptr::eq(o.inst.get(), inst));
            if matches!(meta.state, InstanceState::Live | InstanceState::Headless) || pinned {
                caches.push(meta.name().to_owned());
            }
        }
        if caches.is_empty() { None } else { Some(SlabError::ModuleBusy { module: self.name.clone(), caches }) }
    }

    fn unload(mut self) -> Result<(), (SlabError, Module<'w>)> {
        if let Some(err) = self.busy() {
            self.core.report("delete_module", None, None, format!("{err}"));
            return Err((err, self));
        }
        self.core.slab_mutex.lock().modules.remove(self.id);
        // The module's memory goes now; nothing points into it any more.
        self.statics = None;
        Ok(())
    }
}

impl Drop for Module<'_> {
    /// A module dropped without `module_unload` runs its exit path: every
    /// live static is destroyed, then the memory is freed — unless a static
    /// is still pinned by objects, in which case the memory is kept forever
    /// rather than freed under them.
    fn drop(&mut self) {
        let live: Vec<usize> = (0..self.static_count())
            .filter(|&i| matches!(self.static_cache(i).state(), InstanceState::Live | InstanceState::Headless))
            .collect();
        for i in live {
            let _ = self.kmem_cache_destroy(i);
        }
        if self.statics.is_some() && self.busy().is_some() {
            // Dropped while busy: keep its memory forever rather than free
            // memory that caches or slabs still name.
            std::mem::forget(self.statics.take());
        }
        self.core.slab_mutex.lock().modules.remove(self.id);
    }
}
