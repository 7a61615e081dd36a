//! Cache creation and destruction under `slab_mutex`, for every scheme.
//!
//! Mirrors `mm/slab_common.c`: `__kmem_cache_create_args()`,
//! `__kmem_cache_alias()`, `create_cache()`, `kmem_cache_destroy()` and
//! `shutdown_cache()`, with Al Viro's v1/v3 rules for preallocated instances
//! and Vlastimil Babka's primary-cache rules beside the mainline ones. Each
//! scheme differs only in the functions named after its rule; the flow is the
//! kernel's.

use std::ptr::NonNull;

use crate::cache::{InstanceKind, InstanceState, KmemCache};
use crate::config::SlabConfig;
use crate::config::{KMALLOC_MAX_SIZE, MergeRules, PTR_SIZE, Scheme};
use crate::error::SlabError;
use crate::flags::*;
use crate::layout::{LayoutRequest, calculate_alignment, calculate_sizes, create_unique_id};
use crate::merge::{NoMergeReason, TargetView, check_target, merge_request, slab_unmergeable};
use crate::storage::CacheStorage;
use crate::sync::Arc;
use crate::world::KmemCacheArgs;
use crate::world::{CacheId, CreateEntry, CreateRequest, InstPtr, Orphan, Placement, Registry, WorldCore};

impl WorldCore {
    /// Mirrors `__kmem_cache_create_args()` (and, for the boot entries,
    /// `create_kmalloc_cache()`/`create_boot_cache()`). Returns the instance
    /// the creator's handle names.
    pub(crate) fn create(self: &Arc<Self>, req: CreateRequest<'_>) -> Result<NonNull<KmemCache>, SlabError> {
        let flags = if req.entry == CreateEntry::KmemCacheCreate {
            entry_flags(&self.config, req.flags, &req.args)
        } else {
            req.flags
        };
        let mut reg = self.slab_mutex.lock();
        let result = self.create_locked(&mut reg, req.name, req.size, &req, flags);
        drop(reg);
        if let Err(err) = &result {
            let message = if flags.intersects(SLAB_PANIC) {
                format!(
                    "__kmem_cache_create_args: Failed to create slab '{}'. Error {} (SLAB_PANIC: returned, not panicked)",
                    req.name,
                    err.to_errno()
                )
            } else {
                format!("__kmem_cache_create_args({}) failed with error {}", req.name, err.to_errno())
            };
            self.report("__kmem_cache_create_args", Some(req.name.to_owned()), None, message);
        }
        result
    }

    fn create_locked(
        self: &Arc<Self>,
        reg: &mut Registry,
        name: &str,
        size: u32,
        req: &CreateRequest<'_>,
        mut flags: SlabFlags,
    ) -> Result<NonNull<KmemCache>, SlabError> {
        let cfg = &self.config;
        let validated = req.entry == CreateEntry::KmemCacheCreate;
        // kmem_cache_sanity_check(): the library always refuses what the
        // kernel would refuse or crash on, and reports like DEBUG_VM would.
        if name.is_empty() {
            return Err(SlabError::invalid("kmem_cache_create: the name is empty"));
        }
        if size == 0 || size as usize > KMALLOC_MAX_SIZE {
            return Err(SlabError::invalid(format!("kmem_cache_create({name}) integrity check failed: size {size}")));
        }
        if cfg.debug_vm {
            if reg.slab_caches.iter().any(|id| reg.caches[*id].get().meta.lock().name == name) {
                self.report(
                    "kmem_cache_sanity_check",
                    Some(name.into()),
                    None,
                    format!("kmem_cache of name '{name}' already exists"),
                );
            }
            if name.contains(' ') {
                self.report(
                    "kmem_cache_sanity_check",
                    Some(name.into()),
                    None,
                    format!("kmem_cache name '{name}' contains a space"),
                );
            }
        }
        if validated && !flags.without(SLAB_FLAGS_PERMITTED).is_empty() {
            return Err(SlabError::invalid(format!(
                "kmem_cache_create({name}): flags {} are not permitted",
                flags.without(SLAB_FLAGS_PERMITTED)
            )));
        }
        let mut args = req.args.clone();
        match req.entry {
            CreateEntry::KmemCacheCreate => {
                if sanitise_usercopy(cfg, size, &mut args) && cfg.hardened_usercopy {
                    self.report(
                        "__kmem_cache_create_args",
                        Some(name.into()),
                        None,
                        format!(
                            "WARN: {name}: usercopy region {}+{} outside the {size}-byte object; dropped",
                            req.args.useroffset, req.args.usersize
                        ),
                    );
                }
            }
            CreateEntry::CreateKmallocCache => {
                // create_kmalloc_cache(): create_boot_cache(..., flags | SLAB_KMALLOC, 0, size).
                flags |= SLAB_KMALLOC;
                args.useroffset = 0;
                args.usersize = if cfg.hardened_usercopy { size } else { 0 };
            }
            CreateEntry::CreateBootCache => {
                args.useroffset = 0;
                args.usersize = 0;
            }
        }
        match req.placement {
            Placement::Dynamic => {}
            Placement::Static(inst) | Placement::ModuleStatic(inst) => {
                if cfg.scheme == Scheme::Mainline {
                    return Err(SlabError::NotPermitted(
                        "kmem_cache_setup: mainline has no static instances; use a viro or primary scheme".into(),
                    ));
                }
                let meta = inst.meta.lock();
                if meta.state != InstanceState::Unused {
                    return Err(SlabError::AlreadySetUp { cache: meta.name.clone() });
                }
                drop(meta);
                flags = static_flags(cfg, flags);
            }
        }

        if validated
            && alias_gate(cfg, &args, flags).is_none()
            && let Some(target) = self.find_mergeable(reg, size, &args, flags, name)
        {
            return Ok(match cfg.scheme {
                Scheme::Primary => self.primary_alias(reg, target, name, size, &args, flags, req),
                _ => self.__kmem_cache_alias(reg, target, name, size),
            });
        }
        if let (Scheme::Primary, Placement::ModuleStatic(inst)) = (cfg.scheme, &req.placement) {
            // No compatible primary: a hidden dynamic primary owns the slabs,
            // so no slab or sheaf ever points into module memory.
            let hidden = self.create_cache(reg, name, size, &args, flags.without(SLAB_PREALLOCATED), req, true)?;
            let _ = inst;
            return Ok(self.primary_alias(reg, hidden, name, size, &args, flags, req));
        }
        self.create_cache(reg, name, size, &args, flags, req, false)
    }

    /// Mirrors `find_mergeable()`: the oldest compatible target.
    pub(crate) fn find_mergeable(
        &self,
        reg: &Registry,
        size: u32,
        args: &crate::world::KmemCacheArgs,
        flags: SlabFlags,
        name: &str,
    ) -> Option<NonNull<KmemCache>> {
        let req =
            merge_request(&self.config, size, args.align, flags, name, args.ctor.is_some(), args.usersize).ok()?;
        reg.slab_caches
            .iter()
            .map(|id| reg.caches[*id])
            // An alias is never a target (slab_unmergeable would say so too);
            // one atomic load rules it out before its fields are gathered.
            .filter(|p| !p.get().is_alias())
            .find_map(|p| check_target(&self.config, &req, &TargetView::of(p.get())).ok().map(|()| p.0))
    }

    /// Mirrors `__kmem_cache_alias()`: the same instance, `refcount++`,
    /// `object_size` widened, a sysfs link for the new name.
    fn __kmem_cache_alias(
        &self,
        reg: &mut Registry,
        target: NonNull<KmemCache>,
        name: &str,
        size: u32,
    ) -> NonNull<KmemCache> {
        // SAFETY: registered instances are live under slab_mutex.
        let s = unsafe { target.as_ref() };
        let mut meta = s.meta.lock();
        if let Err(e) = reg.sysfs.alias(name, &meta.sysfs_dir) {
            self.report("sysfs_slab_alias", Some(name.into()), None, e);
        }
        meta.refcount += 1;
        meta.names.push(name.to_owned());
        drop(meta);
        s.set_object_size(s.object_size().max(size));
        target
    }

    /// Primary scheme: a new instance with its own name, size and flags that
    /// shares `primary`'s storage and points at it through `primary_cache`.
    #[allow(clippy::too_many_arguments)]
    fn primary_alias(
        self: &Arc<Self>,
        reg: &mut Registry,
        primary: NonNull<KmemCache>,
        name: &str,
        size: u32,
        args: &crate::world::KmemCacheArgs,
        flags: SlabFlags,
        req: &CreateRequest<'_>,
    ) -> NonNull<KmemCache> {
        // SAFETY: registered instances are live under slab_mutex.
        let p = unsafe { primary.as_ref() };
        let inst = instance_for(&req.placement);
        // SAFETY: a fresh or unused instance; nobody else uses it yet.
        let a = unsafe { inst.as_ref() };
        let primary_dir = p.meta.lock().sysfs_dir.clone();
        {
            let mut meta = a.meta.lock();
            meta.state = InstanceState::Live;
            meta.kind = kind_for(&req.placement);
            meta.name = name.to_owned();
            meta.flags = self.config.kmem_cache_flags(flags, name);
            meta.refcount = 1;
            meta.usersize = args.usersize;
            meta.useroffset = args.useroffset;
            meta.align = calculate_alignment(flags, args.align, size, self.config.cache_line_size);
            meta.explicit_sheaves = false;
            meta.world = Some(self.clone());
            meta.module = req.module;
            meta.names = vec![name.to_owned()];
            meta.sysfs_dir = String::new();
        }
        a.set_object_size(size);
        a.set_primary(p);
        a.set_storage(p.storage_ptr());
        p.meta.lock().refcount += 1;
        // Each alias owns its link; an unmergeable hidden primary already
        // carries the module cache's name as its directory.
        if primary_dir != name
            && let Err(e) = reg.sysfs.alias(name, &primary_dir)
        {
            self.report("sysfs_slab_alias", Some(name.into()), None, e);
        }
        self.register(reg, inst);
        inst
    }

    /// Mirrors `create_cache()` + `do_kmem_cache_create()`: validate the free
    /// pointer, compute the layout, allocate the storage, name it in sysfs,
    /// `refcount = 1` (-1 for boot caches), add it to `slab_caches`.
    #[allow(clippy::too_many_arguments)]
    fn create_cache(
        self: &Arc<Self>,
        reg: &mut Registry,
        name: &str,
        size: u32,
        args: &crate::world::KmemCacheArgs,
        flags: SlabFlags,
        req: &CreateRequest<'_>,
        hidden: bool,
    ) -> Result<NonNull<KmemCache>, SlabError> {
        let cfg = &self.config;
        if args.use_freeptr_offset
            && (args.freeptr_offset >= size
                || !flags.intersects(SLAB_TYPESAFE_BY_RCU)
                || !args.freeptr_offset.is_multiple_of(PTR_SIZE))
        {
            return Err(SlabError::invalid(format!(
                "kmem_cache_create({name}): invalid freeptr_offset {}",
                args.freeptr_offset
            )));
        }
        let align = calculate_alignment(flags, args.align, size, cfg.cache_line_size);
        let final_flags = cfg.kmem_cache_flags(flags, name);
        let layout = calculate_sizes(
            &LayoutRequest {
                object_size: size,
                align,
                flags: final_flags,
                has_ctor: args.ctor.is_some(),
                use_freeptr_offset: args.use_freeptr_offset,
                freeptr_offset: args.freeptr_offset,
                is_kmalloc: final_flags.intersects(SLAB_KMALLOC),
                sheaf_capacity: args.sheaf_capacity,
            },
            cfg,
        )?;
        let storage = CacheStorage::new(
            layout,
            args.ctor.clone(),
            self.memory.clone(),
            cfg.nr_cpus,
            cfg.nr_nodes,
            cfg.barn_max_sheaves,
        )
        .ok_or(SlabError::NoMemory)?;
        // Loom builds only: hand the storage the teardown step to break, if any.
        #[cfg(loom)]
        // SAFETY: the storage is ours until published through `set_storage`.
        unsafe {
            (*storage.as_ptr()).broken = cfg.broken;
        }
        let inst = if hidden { Box::leak(Box::new(KmemCache::new())).into() } else { instance_for(&req.placement) };
        // SAFETY: a fresh or unused instance; nobody else uses it yet.
        let s = unsafe { inst.as_ref() };
        let kind = if hidden { InstanceKind::HiddenPrimary } else { kind_for(&req.placement) };
        {
            let mut meta = s.meta.lock();
            meta.state = InstanceState::Live;
            meta.kind = kind;
            meta.name = if hidden { create_unique_id(final_flags, layout.size) } else { name.to_owned() };
            meta.flags = final_flags;
            meta.refcount = if req.entry == CreateEntry::CreateBootCache {
                -1
            } else if hidden {
                0
            } else {
                1
            };
            meta.usersize = args.usersize;
            meta.useroffset = args.useroffset;
            meta.align = layout.align;
            meta.explicit_sheaves = args.sheaf_capacity != 0 && !final_flags.intersects(SLAB_DEBUG_FLAGS);
            meta.world = Some(self.clone());
            meta.module = if hidden { None } else { req.module };
            meta.names = if hidden { Vec::new() } else { vec![name.to_owned()] };
        }
        s.set_object_size(size);
        s.set_primary(s);
        // SAFETY: the storage is ours until published through `set_storage`.
        unsafe { storage.as_ref() }.primary.store(inst.as_ptr(), std::sync::atomic::Ordering::Release);
        s.set_storage(storage.as_ptr());
        self.sysfs_slab_add(reg, s, name, hidden);
        self.register(reg, inst);
        Ok(inst)
    }

    /// Mirrors `sysfs_slab_add()`: unmergeable caches (and, in Al Viro's
    /// schemes, preallocated ones) are self-named; mergeable ones live under
    /// their unique id with a link per name.
    fn sysfs_slab_add(&self, reg: &mut Registry, s: &KmemCache, name: &str, hidden: bool) {
        let view = TargetView::of(s);
        let preallocated_self_named =
            view.flags.intersects(SLAB_PREALLOCATED) && matches!(self.config.scheme, Scheme::ViroV3 | Scheme::ViroV1);
        let unmergeable = slab_unmergeable(&self.config, &view).is_some() || preallocated_self_named;
        let dir = if unmergeable { name.to_owned() } else { create_unique_id(view.flags, view.size) };
        if unmergeable {
            reg.sysfs.remove_by_name(&dir);
        }
        if let Err(e) = reg.sysfs.add_dir(&dir, s as *const KmemCache as usize) {
            // sysfs_slab_add() returns before linking the name; the cache
            // lives on with no sysfs entry (its destroy removes nothing).
            self.report("sysfs_slab_add", Some(name.into()), None, e);
            return;
        }
        if !unmergeable
            && !hidden
            && let Err(e) = reg.sysfs.alias(name, &dir)
        {
            self.report("sysfs_slab_alias", Some(name.into()), None, e);
        }
        s.meta.lock().sysfs_dir = dir;
    }

    fn register(&self, reg: &mut Registry, inst: NonNull<KmemCache>) -> CacheId {
        let id = reg.caches.insert(InstPtr(inst));
        reg.slab_caches.push(id);
        // SAFETY: just registered; live.
        unsafe { inst.as_ref() }.meta.lock().id = Some(id);
        id
    }

    fn unregister(&self, reg: &mut Registry, s: &KmemCache) {
        if let Some(id) = s.meta.lock().id.take() {
            reg.caches.remove(id);
            reg.slab_caches.retain(|x| *x != id);
        }
    }

    /// Mirrors `kmem_cache_destroy()` for one creator's handle.
    pub(crate) fn destroy(
        self: &Arc<Self>,
        inst: InstPtr,
        name: &str,
        module: Option<crate::world::ModuleId>,
    ) -> Result<(), SlabError> {
        let mut reg = self.slab_mutex.lock();
        let mut released = Vec::new();
        if let Some(m) = module.and_then(|m| reg.modules.get_mut(m))
            && let Some(i) = m.handles.iter().position(|h| h == name)
        {
            m.handles.remove(i);
        }
        let s = inst.get();
        let result = if self.config.scheme == Scheme::Primary && s.is_alias() {
            self.destroy_alias(&mut reg, inst, name, &mut released)
        } else {
            let mut meta = s.meta.lock();
            if matches!(meta.state, InstanceState::Destroyed | InstanceState::Unused) {
                return Err(SlabError::CacheDestroyed { cache: name.to_owned() });
            }
            meta.refcount -= 1;
            if let Some(i) = meta.names.iter().rposition(|n| n == name) {
                meta.names.remove(i);
            }
            let refcount = meta.refcount;
            let own_name = meta.name == name;
            if self.config.scheme == Scheme::Primary && own_name {
                // Each instance owns its link: the creator's name goes now.
                if meta.sysfs_dir != name {
                    reg.sysfs.remove_link(name);
                }
            }
            // `if (--s->refcount) return;`: any non-zero count, including a
            // boot cache's -1 going to -2, stops here.
            if refcount != 0 {
                if self.config.scheme == Scheme::Primary && own_name {
                    meta.state = InstanceState::Headless;
                }
                Ok(())
            } else {
                drop(meta);
                self.shutdown_cache(&mut reg, inst, &mut released)
            }
        };
        drop(reg);
        drop(released);
        result
    }

    /// Primary scheme: an alias goes on its own; its primary loses one reference.
    fn destroy_alias(
        self: &Arc<Self>,
        reg: &mut Registry,
        inst: InstPtr,
        name: &str,
        released: &mut Vec<Arc<WorldCore>>,
    ) -> Result<(), SlabError> {
        let a = inst.get();
        let primary = InstPtr(NonNull::from(a.primary_cache().expect("an alias has a primary")));
        let primary_dir = primary.get().meta.lock().sysfs_dir.clone();
        if primary_dir != name {
            reg.sysfs.remove_link(name);
        }
        self.unregister(reg, a);
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
        if last { self.shutdown_cache(reg, primary, released) } else { Ok(()) }
    }

    /// Mirrors the final part of `kmem_cache_destroy()`: `__kmem_cache_shutdown`,
    /// `list_del` regardless of the result, `sysfs_slab_unlink`, and either the
    /// release or — with objects left — the WARN and a deliberate leak.
    fn shutdown_cache(
        &self,
        reg: &mut Registry,
        inst: InstPtr,
        released: &mut Vec<Arc<WorldCore>>,
    ) -> Result<(), SlabError> {
        let s = inst.get();
        let storage = s.storage_ptr();
        // SAFETY: a registered, undestroyed instance has a live storage.
        let live = unsafe { &*storage }.shutdown();
        self.unregister(reg, s);
        let (name, dir) = {
            let meta = s.meta.lock();
            (meta.name.clone(), meta.sysfs_dir.clone())
        };
        reg.sysfs.unlink_dir(&dir, s as *const KmemCache as usize);
        let mut meta = s.meta.lock();
        meta.state = InstanceState::Destroyed;
        released.extend(meta.world.take());
        drop(meta);
        if !live.is_empty() {
            self.report(
                "kmem_cache_destroy",
                Some(name.clone()),
                None,
                format!("kmem_cache_destroy {name}: Slab cache still has objects when called from kmem_cache_destroy"),
            );
            let mut text = format!("BUG {name} (Not tainted): Objects remaining on __kmem_cache_shutdown()");
            for (addr, offset) in &live {
                text.push_str(&format!("\nObject {addr:#x} @offset={offset}"));
            }
            self.report("__kmem_cache_shutdown", Some(name.clone()), live.first().map(|l| l.0), text);
            // The instance can no longer allocate; the orphan keeps the
            // storage (and the slabs' objects valid) until they are freed.
            s.set_storage(std::ptr::null_mut());
            // SAFETY: `storage` was the non-null storage of a live instance.
            reg.orphans.push(Orphan { inst, storage: unsafe { NonNull::new_unchecked(storage) } });
            return Err(SlabError::CacheBusy { cache: name, objects: live.len() });
        }
        s.set_storage(std::ptr::null_mut());
        // SAFETY: shutdown found no object; the instance no longer names the
        // storage, no alias does (refcount 0), and no slab or sheaf is left.
        unsafe { CacheStorage::release(NonNull::new_unchecked(storage)) };
        release_instance(inst);
        Ok(())
    }

    /// Power-off for boot caches: `create_boot_cache()` gives them refcount
    /// -1, so no `kmem_cache_destroy()` ever shuts them down (it only counts
    /// down). When the world goes, they are shut down like any final destroy.
    pub(crate) fn release_boot_caches(&self) {
        let mut reg = self.slab_mutex.lock();
        let mut released = Vec::new();
        let boot: Vec<InstPtr> =
            reg.slab_caches.iter().map(|id| reg.caches[*id]).filter(|p| p.get().meta.lock().refcount < 0).collect();
        for inst in boot {
            inst.get().meta.lock().refcount = 0;
            let _ = self.shutdown_cache(&mut reg, inst, &mut released);
        }
        drop(reg);
        drop(released);
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

fn instance_for(placement: &Placement<'_>) -> NonNull<KmemCache> {
    match placement {
        Placement::Dynamic => NonNull::from(Box::leak(Box::new(KmemCache::new()))),
        Placement::Static(inst) | Placement::ModuleStatic(inst) => NonNull::from(*inst),
    }
}

fn kind_for(placement: &Placement<'_>) -> InstanceKind {
    match placement {
        Placement::Dynamic => InstanceKind::Dynamic,
        Placement::Static(_) => InstanceKind::Static,
        Placement::ModuleStatic(_) => InstanceKind::ModuleStatic,
    }
}

/// The flag preparation of `__kmem_cache_create_args()` before the lock:
/// debug flags go without `CONFIG_SLUB_DEBUG`; 7.0 turns an explicit
/// `sheaf_capacity` into `SLAB_NO_MERGE`.
pub(crate) fn entry_flags(cfg: &SlabConfig, mut flags: SlabFlags, args: &KmemCacheArgs) -> SlabFlags {
    if !cfg.slub_debug_config {
        flags = flags.without(SLAB_DEBUG_FLAGS);
    }
    if cfg.merge_rules == MergeRules::V7_0 && args.sheaf_capacity != 0 {
        flags |= SLAB_NO_MERGE;
    }
    flags
}

/// The flags a static instance gets at setup: `SLAB_PREALLOCATED` (v3 02/10),
/// and in v1 `SLAB_NO_MERGE` as well (v1 01/15).
pub(crate) fn static_flags(cfg: &SlabConfig, mut flags: SlabFlags) -> SlabFlags {
    flags |= SLAB_PREALLOCATED;
    if cfg.scheme == Scheme::ViroV1 {
        flags |= SLAB_NO_MERGE;
    }
    flags
}

/// The usercopy sanitising of `__kmem_cache_create_args()`: without
/// `CONFIG_HARDENED_USERCOPY`, or with a region outside the object, there is
/// no region. Returns true if the region was inconsistent (the kernel WARNs).
pub(crate) fn sanitise_usercopy(cfg: &SlabConfig, size: u32, args: &mut KmemCacheArgs) -> bool {
    let inconsistent =
        (args.usersize == 0 && args.useroffset != 0) || size < args.usersize || size - args.usersize < args.useroffset;
    if !cfg.hardened_usercopy || inconsistent {
        args.useroffset = 0;
        args.usersize = 0;
    }
    inconsistent
}

/// The gates in front of `find_mergeable()`, in the kernel's order: why no
/// alias is attempted at all, if that is so.
pub(crate) fn alias_gate(cfg: &SlabConfig, args: &KmemCacheArgs, flags: SlabFlags) -> Option<NoMergeReason> {
    // 6.18: only caches without a usercopy region or sheaves try to alias.
    if cfg.merge_rules == MergeRules::V6_18 && args.usersize != 0 {
        return Some(NoMergeReason::UsercopyGate);
    }
    if cfg.merge_rules == MergeRules::V6_18 && args.sheaf_capacity != 0 {
        return Some(NoMergeReason::SheafCapacityGate);
    }
    // v3 02/10 __kmem_cache_alias(): "no aliases - we are using this one".
    // (v1 needs no such check: its SLAB_NO_MERGE makes find_mergeable() refuse.)
    if flags.intersects(SLAB_PREALLOCATED) && cfg.scheme == Scheme::ViroV3 {
        return Some(NoMergeReason::Preallocated);
    }
    None
}

impl Drop for WorldCore {
    fn drop(&mut self) {
        let mut reg = std::mem::replace(
            self.slab_mutex.get_mut(),
            Registry {
                caches: slotmap::SlotMap::with_key(),
                slab_caches: Vec::new(),
                sysfs: Default::default(),
                modules: slotmap::SlotMap::with_key(),
                orphans: Vec::new(),
            },
        );
        // Orphans still holding objects stay allocated (those objects may be
        // used after the world is gone); the rest are released.
        self.reap_orphans(&mut reg);
    }
}
