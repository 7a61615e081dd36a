//! Cache creation under `slab_mutex`, for every scheme.
//!
//! Mirrors `mm/slab_common.c`: `__kmem_cache_create_args()`,
//! `__kmem_cache_alias()`, `create_cache()` and `sysfs_slab_add()`. The flow
//! is the kernel's; where the designs differ it asks the scheme's rules
//! ([`crate::schemes::SchemeRules`]), and the merge decision itself is
//! [`decide`], which `--explain` calls too.

use std::ptr::NonNull;

use crate::config::{KMALLOC_MAX_SIZE, PTR_SIZE};
use crate::error::SlabError;
use crate::flags::*;
use crate::schemes::MergeOutcome;
use crate::slab_common::cache::{InstanceKind, InstanceState, KmemCache};
use crate::slab_common::decide::{Decision, Prepared, Query, Verdict, decide, entry_flags, prepare};
use crate::slab_common::merge::{TargetView, slab_unmergeable};
use crate::slab_common::registry::{Registry, WorldCore};
use crate::slab_common::request::{CreateEntry, CreateRequest, KmemCacheArgs, Placement, PlacementKind};
use crate::slab_common::sysfs::SysfsName;
use crate::slub::layout::{LayoutRequest, UniqueId, calculate_alignment, calculate_sizes, create_unique_id};
use crate::slub::percpu::Mode;
use crate::slub::storage::CacheStorage;
use crate::sync::Arc;

impl WorldCore {
    /// Mirrors `__kmem_cache_create_args()` (and, for the boot entries,
    /// `create_kmalloc_cache()`/`create_boot_cache()`). Returns the instance
    /// the creator's handle names.
    pub(crate) fn create(self: &Arc<Self>, req: CreateRequest<'_>) -> Result<NonNull<KmemCache>, SlabError> {
        let mut reg = self.slab_mutex.lock();
        let result = self.create_locked(&mut reg, &req.name, req.size, &req);
        drop(reg);
        if let Err(err) = &result {
            let message = if req.flags.intersects(SLAB_PANIC) {
                format!(
                    "__kmem_cache_create_args: Failed to create slab '{}'. Error {} (SLAB_PANIC: returned, not panicked)",
                    req.name,
                    err.to_errno()
                )
            } else {
                format!("__kmem_cache_create_args({}) failed with error {}", req.name, err.to_errno())
            };
            self.report("__kmem_cache_create_args", Some(req.name.to_string()), None, message);
        }
        result
    }

    /// The creation decision for a request, against the registry as it is,
    /// creating nothing (`--explain`): [`decide`] on the request prepared as
    /// [`WorldCore::create`] prepares it.
    pub(crate) fn explain(
        &self,
        name: &str,
        size: u32,
        args: &KmemCacheArgs,
        flags: SlabFlags,
        entry: CreateEntry,
        placement: PlacementKind,
    ) -> Decision {
        let prepared = prepare(&self.config, size, flags, args, entry, placement);
        let reg = self.slab_mutex.lock();
        let query = Query { name, size, args: &prepared.args, flags: prepared.flags, entry, placement };
        decide(&self.config, &reg, &query, true).describe(&self.config, entry)
    }

    fn create_locked(
        self: &Arc<Self>,
        reg: &mut Registry,
        name: &SysfsName,
        size: u32,
        req: &CreateRequest<'_>,
    ) -> Result<NonNull<KmemCache>, SlabError> {
        let cfg = &self.config;
        // kmem_cache_sanity_check(): the library always refuses what the
        // kernel would refuse or crash on, and reports like DEBUG_VM would.
        if name.is_empty() {
            return Err(SlabError::invalid("kmem_cache_create: the name is empty"));
        }
        if size == 0 || size as usize > KMALLOC_MAX_SIZE {
            return Err(SlabError::invalid(format!("kmem_cache_create({name}) integrity check failed: size {size}")));
        }
        if cfg.debug_vm {
            if reg.listed().any(|p| p.get().meta.lock().name() == &**name) {
                self.report(
                    "kmem_cache_sanity_check",
                    Some(name.to_string()),
                    None,
                    format!("kmem_cache of name '{name}' already exists"),
                );
            }
            if name.contains(' ') {
                self.report(
                    "kmem_cache_sanity_check",
                    Some(name.to_string()),
                    None,
                    format!("kmem_cache name '{name}' contains a space"),
                );
            }
        }
        if req.entry == CreateEntry::KmemCacheCreate {
            let rules = cfg.merge_rules;
            let flags = entry_flags(cfg, req.flags, &req.args);
            let permitted = rules.flags_permitted();
            if !flags.without(permitted).is_empty() {
                return Err(SlabError::invalid(format!(
                    "kmem_cache_create({name}): flags {} are not permitted in {rules}",
                    flags.without(permitted)
                )));
            }
            // A field the release's struct kmem_cache_args does not have: no
            // caller of that kernel can set it.
            if req.args.sheaf_capacity != 0 && !rules.has_sheaf_capacity() {
                return Err(SlabError::invalid(format!(
                    "kmem_cache_create({name}): kmem_cache_args has no sheaf_capacity in {rules} (6.18 added it)"
                )));
            }
        }
        let rules = cfg.scheme.rules();
        if let Placement::Static(inst) | Placement::ModuleStatic(inst) = req.placement {
            if !rules.has_static_instances() {
                return Err(SlabError::NotPermitted(format!(
                    "kmem_cache_setup: {} has no static instances; use a viro or primary scheme",
                    rules.name()
                )));
            }
            let meta = inst.meta.lock();
            if meta.state != InstanceState::Unused {
                return Err(SlabError::AlreadySetUp { cache: meta.name().to_owned() });
            }
        }
        let Prepared { flags, args, usercopy_dropped } =
            prepare(cfg, size, req.flags, &req.args, req.entry, req.placement.kind());
        if usercopy_dropped {
            self.report(
                "__kmem_cache_create_args",
                Some(name.to_string()),
                None,
                format!(
                    "WARN: {name}: usercopy region {}+{} outside the {size}-byte object; dropped",
                    req.args.useroffset, req.args.usersize
                ),
            );
        }
        let query = Query { name, size, args: &args, flags, entry: req.entry, placement: req.placement.kind() };
        match decide(cfg, reg, &query, false).verdict {
            Verdict::Merge(target) => Ok(match rules.merge_outcome() {
                MergeOutcome::SameInstance => {
                    // __kmem_cache_alias() hands back the target, so a
                    // static would stay unset up while its reference sits
                    // on the target; power-off destroys only the statics
                    // it finds set up and would never drop that reference
                    // (the target, and the world it holds, would leak).
                    // Every design with statics keeps them from aliasing.
                    debug_assert!(
                        matches!(req.placement, Placement::Dynamic),
                        "{}: static {name} merged into an existing cache",
                        rules.name()
                    );
                    self.__kmem_cache_alias(reg, target.0, name, size)
                }
                MergeOutcome::AliasInstance => self.alias_instance(reg, target.0, name, size, &args, flags, req),
            }),
            Verdict::HiddenPrimary => {
                // No compatible primary: a hidden dynamic primary owns the
                // slabs, so no slab or sheaf ever points into module memory.
                let hidden = self.create_cache(reg, name, size, &args, flags.without(SLAB_PREALLOCATED), req, true)?;
                Ok(self.alias_instance(reg, hidden, name, size, &args, flags, req))
            }
            Verdict::NewCache => self.create_cache(reg, name, size, &args, flags, req, false),
        }
    }

    /// Mirrors `__kmem_cache_alias()`: the same instance, `refcount++`,
    /// `object_size` and `inuse` widened so that zeroing allocations clear
    /// the largest name's object, a sysfs link for the new name.
    fn __kmem_cache_alias(
        &self,
        reg: &mut Registry,
        target: NonNull<KmemCache>,
        name: &SysfsName,
        size: u32,
    ) -> NonNull<KmemCache> {
        // SAFETY: registered instances are live under slab_mutex.
        let s = unsafe { target.as_ref() };
        let mut meta = s.meta.lock();
        // The link is the cache's; nothing removes it but a later entry of
        // the same name (kernel-slab.md §13.4).
        let cache = s as *const KmemCache as usize;
        if let Err(e) = reg.sysfs.alias(name, cache, cache) {
            self.report("sysfs_slab_alias", Some(name.to_string()), None, e);
        }
        meta.refcount += 1;
        meta.names.push(name.clone());
        drop(meta);
        // s->object_size = max(s->object_size, size);
        // s->inuse = max(s->inuse, ALIGN(size, sizeof(void *)));
        s.set_object_size(s.object_size().max(size));
        if let Some(storage) = s.storage() {
            storage.widen_inuse(size);
        }
        target
    }

    /// [`MergeOutcome::AliasInstance`]: a new instance with its own name, size
    /// and flags that shares `primary`'s storage and points at it through
    /// `primary_cache`.
    #[allow(clippy::too_many_arguments)]
    fn alias_instance(
        self: &Arc<Self>,
        reg: &mut Registry,
        primary: NonNull<KmemCache>,
        name: &SysfsName,
        size: u32,
        args: &KmemCacheArgs,
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
            meta.name = Some(name.clone());
            meta.flags = self.config.kmem_cache_flags(flags, name);
            meta.refcount = 1;
            meta.usersize = args.usersize;
            meta.useroffset = args.useroffset;
            meta.align = calculate_alignment(flags, args.align, size, self.config.cache_line_size);
            meta.explicit_sheaves = false;
            meta.world = Some(self.clone());
            meta.module = req.module;
            meta.names = vec![name.clone()];
            meta.sysfs_dir = None;
        }
        // The alias's own object_size is what zeroing through it clears. The
        // primary is widened as __kmem_cache_alias() widens its target: its
        // sysfs directory reads object_size from it, and the shared stride's
        // s->inuse must cover every alias's object (primary-cache.md, choice 4).
        a.set_object_size(size);
        p.set_object_size(p.object_size().max(size));
        if let Some(storage) = p.storage() {
            storage.widen_inuse(size);
        }
        a.set_primary(p);
        a.set_storage(p.storage_ptr());
        p.meta.lock().refcount += 1;
        // Each alias owns its link; an unmergeable hidden primary already
        // carries the module cache's name as its directory.
        if primary_dir.as_deref() != Some(name)
            && let Err(e) = reg.sysfs.alias(name, p as *const KmemCache as usize, inst.as_ptr() as usize)
        {
            self.report("sysfs_slab_alias", Some(name.to_string()), None, e);
        }
        reg.register(&self.config, inst);
        inst
    }

    /// Mirrors `create_cache()` + `do_kmem_cache_create()`: validate the free
    /// pointer, compute the layout, allocate the storage, name it in sysfs,
    /// `refcount = 1` (-1 for boot caches), add it to `slab_caches`.
    #[allow(clippy::too_many_arguments)]
    fn create_cache(
        self: &Arc<Self>,
        reg: &mut Registry,
        name: &SysfsName,
        size: u32,
        args: &KmemCacheArgs,
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
            match (cfg.percpu_fallback, cfg.real_cpus) {
                (true, _) => Mode::Fallback,
                (false, true) => Mode::RealCpus,
                (false, false) => Mode::Auto,
            },
        )
        .ok_or(SlabError::NoMemory)?;
        // Loom builds only: hand the storage the teardown step to break, if any.
        #[cfg(loom)]
        // SAFETY: the storage is ours until published through `set_storage`.
        unsafe {
            CacheStorage::set_broken(storage, cfg.broken);
        }
        let inst = if hidden { Box::leak(Box::new(KmemCache::new())).into() } else { instance_for(&req.placement) };
        // SAFETY: a fresh or unused instance; nobody else uses it yet.
        let s = unsafe { inst.as_ref() };
        let kind = if hidden { InstanceKind::HiddenPrimary } else { kind_for(&req.placement) };
        {
            let mut meta = s.meta.lock();
            meta.state = InstanceState::Live;
            meta.kind = kind;
            meta.name = Some(if hidden { create_unique_id(final_flags, layout.size).into() } else { name.clone() });
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
            meta.names = if hidden { Vec::new() } else { vec![name.clone()] };
        }
        s.set_object_size(size);
        s.set_primary(s);
        // SAFETY: the storage is ours until published through `set_storage`.
        unsafe { storage.as_ref() }.set_primary(s);
        s.set_storage(storage.as_ptr());
        self.sysfs_slab_add(reg, s, name, hidden);
        reg.register(&self.config, inst);
        Ok(inst)
    }

    /// Mirrors `sysfs_slab_add()`: unmergeable caches (and those the scheme
    /// names after themselves) are self-named; mergeable ones live under
    /// their unique id with a link per name.
    fn sysfs_slab_add(&self, reg: &mut Registry, s: &KmemCache, name: &SysfsName, hidden: bool) {
        let view = TargetView::of(s);
        let unmergeable =
            slab_unmergeable(&self.config, &view).is_some() || self.config.scheme.rules().sysfs_self_named(view.flags);
        let dir = if unmergeable {
            reg.sysfs.remove_by_name(name);
            name.clone()
        } else {
            SysfsName::from(UniqueId::new(view.flags, view.size).as_str())
        };
        let dir = match reg.sysfs.add_dir(dir, s as *const KmemCache as usize) {
            Ok(dir) => dir,
            Err(e) => {
                // sysfs_slab_add() returns before linking the name; the cache
                // lives on with no sysfs entry (its destroy removes nothing).
                self.report("sysfs_slab_add", Some(name.to_string()), None, e);
                return;
            }
        };
        if !unmergeable
            && !hidden
            && let Err(e) = reg.sysfs.alias(name, s as *const KmemCache as usize, s as *const KmemCache as usize)
        {
            self.report("sysfs_slab_alias", Some(name.to_string()), None, e);
        }
        s.meta.lock().sysfs_dir = Some(dir);
    }
}

pub(crate) fn instance_for(placement: &Placement<'_>) -> NonNull<KmemCache> {
    match placement {
        Placement::Dynamic => NonNull::from(Box::leak(Box::new(KmemCache::new()))),
        Placement::Static(inst) | Placement::ModuleStatic(inst) => NonNull::from(*inst),
    }
}

pub(crate) fn kind_for(placement: &Placement<'_>) -> InstanceKind {
    match placement {
        Placement::Dynamic => InstanceKind::Dynamic,
        Placement::Static(_) => InstanceKind::Static,
        Placement::ModuleStatic(_) => InstanceKind::ModuleStatic,
    }
}
