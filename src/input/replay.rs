//! Replaying a creation trace into a world, under any scheme.
//!
//! Each trace row is one creation call, oldest first. A row goes through the
//! entry point the kernel used (`kmem_cache_create`, `create_kmalloc_cache`,
//! `create_boot_cache`); rows named in the static set are set up as static
//! instances of the kernel image, rows in the module-static set as statics of
//! their subsystem's module (in mainline, which has no static instances, both
//! are created as ordinary dynamic caches, as today's kernel does).
//!
//! A trace records what the callers of one kernel passed. Replayed under an
//! older release's rules ([`crate::config::MergeRules`]), a row is first
//! made what a caller of that release could pass ([`adapt_row`]): a flag or
//! an argument the release does not have is left out, and the report says so.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::MergeRules;
use crate::error::SlabError;
use crate::flags::{SLAB_NO_MERGE, SlabFlags};
use crate::input::trace::{Trace, TraceEntry, TraceRow};
use crate::slab_common::cache::{Cache, KmemCache};
use crate::slab_common::module::Module;
use crate::slab_common::world::{CreateEntry, KmemCacheArgs, World};
use crate::slub::storage::Ctor;

/// Which trace names become static instances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticSet {
    /// Static instances of the kernel image.
    pub image: BTreeSet<String>,
    /// Static instances inside modules.
    pub module: BTreeSet<String>,
}

impl StaticSet {
    /// The caches Al Viro's v3 series converts (the trace's `static_v3` column).
    pub fn v3(trace: &Trace) -> StaticSet {
        StaticSet {
            image: trace.rows.iter().filter(|r| r.static_v3).map(|r| r.name.clone()).collect(),
            module: BTreeSet::new(),
        }
    }

    /// No static instance at all.
    pub fn none() -> StaticSet {
        StaticSet::default()
    }

    /// How many image static slots a world needs for this set.
    pub fn image_slots(&self) -> usize {
        self.image.len()
    }
}

/// What one name's creation returned: a dynamic cache's handle or a static
/// instance (of the image or of a module owned by the replay). Opaque, so a
/// module static cannot escape the replay that owns its module.
pub struct Handle<'w>(HandleKind<'w>);

enum HandleKind<'w> {
    Dynamic(Cache<'w>),
    Static(&'w KmemCache),
}

impl Handle<'_> {
    /// The instance this name allocates through.
    pub fn cache(&self) -> &KmemCache {
        match &self.0 {
            HandleKind::Dynamic(c) => c,
            HandleKind::Static(s) => s,
        }
    }

    /// True for a static instance.
    pub fn is_static(&self) -> bool {
        matches!(self.0, HandleKind::Static(_))
    }
}

/// One group of names that share storage (one slab cache in memory).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    /// The sysfs directory of the shared storage.
    pub dir: String,
    /// The instance that owns the storage (primary or mainline cache).
    pub owner: String,
    /// Every name sharing it, in creation order.
    pub names: Vec<String>,
}

/// A replayed trace: the handles of every name, and the modules that own module statics.
///
/// Dropping it destroys every cache it created (each handle's drop) and
/// unloads its modules, and the `failures` go with it.
#[must_use = "dropping a replay destroys every cache it created and discards its failures"]
pub struct Replay<'w> {
    /// The world replayed into.
    pub world: &'w World,
    handles: Vec<(String, Handle<'w>)>,
    modules: BTreeMap<String, Module<'w>>,
    /// Rows whose creation failed, with the error.
    pub failures: Vec<(String, SlabError)>,
}

/// The module a trace row's subsystem is built into (`fs/xfs/...` → `fs/xfs`).
pub fn module_of(row: &TraceRow) -> String {
    let mut parts = row.source.split('/');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) if !b.contains('.') => format!("{a}/{b}"),
        (Some(a), _) => a.to_owned(),
        _ => String::from("module"),
    }
}

fn noop_ctor(_: &mut [u8]) {}

/// A row made what a caller of `rules`' release could pass: the flags and
/// arguments it keeps, and what was left out.
pub fn adapt_row(rules: MergeRules, row: &TraceRow) -> (SlabFlags, KmemCacheArgs, Vec<&'static str>) {
    let mut args = row_args(row);
    let mut flags = row.flags;
    let mut dropped = Vec::new();
    // d0bf7d5759c1 (6.5): SLAB_NO_MERGE does not exist before.
    if rules < MergeRules::V6_6 && flags.intersects(SLAB_NO_MERGE) {
        flags = flags.without(SLAB_NO_MERGE);
        dropped.push("SLAB_NO_MERGE");
    }
    // Opt-in sheaves (6.18): kmem_cache_args has no sheaf_capacity before.
    if !rules.has_sheaf_capacity() && args.sheaf_capacity != 0 {
        args.sheaf_capacity = 0;
        dropped.push("sheaf_capacity");
    }
    (flags, args, dropped)
}

/// What [`adapt_row`] leaves out of `trace` under `rules`, for the notes:
/// one line per thing left out, with the names it was left out of.
pub fn adaptation_notes(rules: MergeRules, trace: &Trace) -> Vec<String> {
    let mut by_what: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
    for row in &trace.rows {
        for what in adapt_row(rules, row).2 {
            by_what.entry(what).or_default().push(&row.name);
        }
    }
    by_what
        .into_iter()
        .map(|(what, names)| {
            let shown: Vec<&str> = names.iter().take(4).copied().collect();
            let more = if names.len() > shown.len() {
                format!(" and {} more", names.len() - shown.len())
            } else {
                String::new()
            };
            format!(
                "{rules} rules: {what} does not exist in {rules}, left out of {} request{} ({}{more})",
                names.len(),
                if names.len() == 1 { "" } else { "s" },
                shown.join(", ")
            )
        })
        .collect()
}

/// The `kmem_cache_args` a trace row passes.
pub fn row_args(row: &TraceRow) -> KmemCacheArgs {
    KmemCacheArgs {
        align: row.align,
        useroffset: row.useroffset,
        usersize: row.usersize,
        freeptr_offset: row.freeptr_offset.unwrap_or(0),
        use_freeptr_offset: row.freeptr_offset.is_some(),
        ctor: row.ctor.as_ref().map(|name| Ctor { name: name.as_str().into(), func: noop_ctor }),
        sheaf_capacity: row.sheaf_capacity,
    }
}

impl<'w> Replay<'w> {
    /// Replays `trace` into `world` (which should be [`World::bare`] with at
    /// least `statics.image_slots()` image statics).
    pub fn run(world: &'w World, trace: &Trace, statics: &StaticSet) -> Replay<'w> {
        let scheme = world.config().scheme;
        let mut replay = Replay { world, handles: Vec::new(), modules: BTreeMap::new(), failures: Vec::new() };
        let mut next_image = 0;
        let mut module_slots: BTreeMap<String, usize> = BTreeMap::new();
        for row in trace.rows.iter().filter(|r| statics.module.contains(&r.name)) {
            *module_slots.entry(module_of(row)).or_default() += 1;
        }
        let mut next_module_slot: BTreeMap<String, usize> = BTreeMap::new();
        let rules = world.config().merge_rules;
        for row in &trace.rows {
            let (flags, args, _) = adapt_row(rules, row);
            let statics_apply = scheme.rules().has_static_instances();
            let result = match row.entry {
                TraceEntry::CreateBootCache | TraceEntry::CreateKmallocCache => {
                    let entry = if row.entry == TraceEntry::CreateBootCache {
                        CreateEntry::CreateBootCache
                    } else {
                        CreateEntry::CreateKmallocCache
                    };
                    world.create_entry(&row.name, row.size, args, flags, entry).map(|c| Handle(HandleKind::Dynamic(c)))
                }
                TraceEntry::KmemCacheCreate if statics_apply && statics.image.contains(&row.name) => {
                    let slot = next_image;
                    next_image += 1;
                    world
                        .kmem_cache_setup_image(slot, &row.name, row.size, args, flags)
                        .map(|c| Handle(HandleKind::Static(c)))
                }
                TraceEntry::KmemCacheCreate if statics_apply && statics.module.contains(&row.name) => {
                    let module_name = module_of(row);
                    if !replay.modules.contains_key(&module_name) {
                        let slots = module_slots[&module_name];
                        replay.modules.insert(module_name.clone(), world.module_load(&module_name, slots));
                    }
                    let slot = next_module_slot.entry(module_name.clone()).or_default();
                    let i = *slot;
                    *slot += 1;
                    let module = &replay.modules[&module_name];
                    // SAFETY-free lifetime juggling: the module lives in
                    // `replay.modules` for as long as the handle.
                    module.kmem_cache_setup(i, &row.name, row.size, args, flags).map(|c| {
                        let c: *const KmemCache = c;
                        // SAFETY: module memory is a boxed slice owned by the
                        // Module in `replay.modules`; it is neither moved nor
                        // freed while the replay exists (Replay's Drop drops
                        // handles before modules).
                        Handle(HandleKind::Static(unsafe { &*c }))
                    })
                }
                TraceEntry::KmemCacheCreate => {
                    world.kmem_cache_create(&row.name, row.size, args, flags).map(|c| Handle(HandleKind::Dynamic(c)))
                }
            };
            match result {
                Ok(handle) => replay.handles.push((row.name.clone(), handle)),
                Err(e) => replay.failures.push((row.name.clone(), e)),
            }
        }
        replay
    }

    /// The partition of names into shared storage, groups in creation order of their owner.
    pub fn groups(&self) -> Vec<Group> {
        let mut by_storage: BTreeMap<usize, usize> = BTreeMap::new();
        let mut groups: Vec<Group> = Vec::new();
        for (name, handle) in &self.handles {
            let cache = handle.cache();
            let Some(id) = cache.storage_id() else { continue };
            let index = *by_storage.entry(id).or_insert_with(|| {
                let owner = cache.primary_cache().map_or_else(|| cache.name(), |p| p.name());
                groups.push(Group { dir: cache.sysfs_dir(), owner, names: Vec::new() });
                groups.len() - 1
            });
            groups[index].names.push(name.clone());
        }
        groups
    }

    /// Every created name and its handle, in trace order.
    pub fn handles(&self) -> impl Iterator<Item = (&str, &Handle<'w>)> {
        self.handles.iter().map(|(n, h)| (n.as_str(), h))
    }

    /// Names of the modules the replay loaded for module statics.
    pub fn module_names(&self) -> Vec<String> {
        self.modules.keys().cloned().collect()
    }

    /// The handle of `name`.
    pub fn handle(&self, name: &str) -> Option<&Handle<'w>> {
        self.handles.iter().find(|(n, _)| n == name).map(|(_, h)| h)
    }
}

impl Drop for Replay<'_> {
    fn drop(&mut self) {
        // Handles first (newest first, as module exit and shutdown would),
        // then module statics, then the modules themselves.
        while let Some((_, handle)) = self.handles.pop() {
            drop(handle);
        }
        for module in std::mem::take(&mut self.modules).into_values() {
            let mut module = module;
            let n = module_static_count(&module);
            for i in (0..n).rev() {
                let _ = module.kmem_cache_destroy(i);
            }
            let _ = self.world.module_unload(module);
        }
    }
}

fn module_static_count(module: &Module<'_>) -> usize {
    module.static_count()
}
