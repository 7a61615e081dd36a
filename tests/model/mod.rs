//! A reference model of what a kernel developer can observe of slab caches,
//! with each scheme's rules written out plainly.
//!
//! The model holds plain collections: cache instances (`struct kmem_cache`)
//! with their names, requested sizes, alignments, flags and refcounts; the
//! storages (slabs and sheaves) they allocate from, with the number of live
//! objects in each; `slab_caches` in creation order; the sysfs tree; the
//! creators' handles, the static instances of the image and of modules; the
//! live objects; orphaned caches and the kernel-style reports. It knows nothing
//! of sheaves, barns or slabs: those are the library's business, and the
//! property tests only check that they add up.
//!
//! The rules are those of `mm/slab_common.c` (`__kmem_cache_create_args()`,
//! `find_mergeable()`, `__kmem_cache_alias()`, `kmem_cache_destroy()`) and
//! `mm/slub.c` (`sysfs_slab_add()`, `sysfs_slab_alias()`, `create_unique_id()`)
//! as `kernel-slab.md` describes them, with Al Viro's v3/v1 and Vlastimil
//! Babka's primary-cache changes from `design-thread.md` §2 and §4. The merge
//! test is written here again on purpose (it does not call the library's);
//! only the alignment arithmetic of `calculate_alignment()` is shared.
//!
//! Inputs are kept to a small set (sizes, alignments and flags below), so
//! every stride is `ALIGN(ALIGN(size, 8) [+ 8 for RCU], align)` and nothing
//! here needs the debug layouts.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::Union;
use slabmerge::Scheme;
use slabmerge::flags::*;
use slabmerge::layout::calculate_alignment;

/// Object sizes the tests create caches with.
pub const SIZES: [u32; 7] = [24, 32, 60, 64, 96, 192, 200];
/// Requested alignments (`args->align`).
pub const ALIGNS: [u32; 3] = [0, 8, 64];
/// Creation flags: none, the two `SLAB_MERGE_SAME` flags that matter, the
/// alignment heuristic, and two flags of `SLAB_NEVER_MERGE`.
pub const FLAGS: [SlabFlags; 6] =
    [SlabFlags::EMPTY, SLAB_ACCOUNT, SLAB_RECLAIM_ACCOUNT, SLAB_HWCACHE_ALIGN, SLAB_NO_MERGE, SLAB_TYPESAFE_BY_RCU];
/// The normal kmalloc caches a booted world has (`create_kmalloc_caches()`).
pub const KMALLOC_SIZES: [u32; 13] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
/// `sizeof(void *)`.
const PTR: u32 = 8;
/// `cache_line_size()` of the configuration (x86_64).
const CACHE_LINE: u32 = 64;
/// CPUs of the tested world (`SlabConfig::tiny`).
pub const NR_CPUS: u32 = 2;
/// Objects per sheaf of the tested world.
pub const SHEAF_CAPACITY: u32 = 4;
/// Objects per slab of the tested world.
pub const OBJS_PER_SLAB: u32 = 8;
/// Static instance slots of the simulated kernel image.
pub const IMAGE_STATICS: usize = 8;
/// At most this many objects are live at once. A cache with
/// `SLAB_CONSISTENCY_CHECKS` has no sheaves, so it then holds at most four
/// slabs, fewer than `min_partial` (5): an empty slab is never discarded
/// (`__slab_free`), and a freed address stays inside a slab. That keeps the
/// double-free and bad-pointer outcomes free of slab-level detail.
pub const MAX_LIVE: usize = 4 * OBJS_PER_SLAB as usize;

/// `SLAB_NEVER_MERGE` (6.15-6.19), written out.
fn never_merge() -> SlabFlags {
    SLAB_RED_ZONE
        | SLAB_POISON
        | SLAB_STORE_USER
        | SLAB_TRACE
        | SLAB_TYPESAFE_BY_RCU
        | SLAB_NOLEAKTRACE
        | SLAB_FAILSLAB
        | SLAB_NO_MERGE
}

/// `SLAB_MERGE_SAME`, written out.
fn merge_same() -> SlabFlags {
    SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_ACCOUNT
}

/// `SLAB_FLAGS_PERMITTED` (`SLAB_CORE_FLAGS | SLAB_DEBUG_FLAGS`), written out.
fn permitted() -> SlabFlags {
    SLAB_HWCACHE_ALIGN
        | SLAB_CACHE_DMA
        | SLAB_CACHE_DMA32
        | SLAB_PANIC
        | SLAB_TYPESAFE_BY_RCU
        | SLAB_DEBUG_OBJECTS
        | SLAB_NOLEAKTRACE
        | SLAB_RECLAIM_ACCOUNT
        | SLAB_ACCOUNT
        | SLAB_NO_USER_FLAGS
        | SLAB_KMALLOC
        | SLAB_NO_MERGE
        | SLAB_RED_ZONE
        | SLAB_POISON
        | SLAB_STORE_USER
        | SLAB_TRACE
        | SLAB_CONSISTENCY_CHECKS
}

/// `ALIGN(x, a)` of `include/linux/align.h`.
pub fn align(x: u32, a: u32) -> u32 {
    (x + a - 1) & !(a - 1)
}

/// `calculate_alignment(flags, align, size)` with a 64-byte cache line.
pub fn alignment(flags: SlabFlags, align: u32, size: u32) -> u32 {
    calculate_alignment(flags, align, size, CACHE_LINE)
}

/// `s->size` for the generated inputs: the word-rounded object, the free
/// pointer outside the object for `SLAB_TYPESAFE_BY_RCU`, rounded to the alignment.
pub fn stride(size: u32, align_arg: u32, flags: SlabFlags) -> u32 {
    let rcu = if flags.intersects(SLAB_TYPESAFE_BY_RCU) { PTR } else { 0 };
    align(align(size, PTR) + rcu, alignment(flags, align_arg, size))
}

/// `create_unique_id()`: `:` + `dDaFA` letters + `-` + `%07u` of `s->size`.
pub fn unique_id(flags: SlabFlags, stride: u32) -> String {
    let mut id = String::from(":");
    for (letter, flag) in [
        ('d', SLAB_CACHE_DMA),
        ('D', SLAB_CACHE_DMA32),
        ('a', SLAB_RECLAIM_ACCOUNT),
        ('F', SLAB_CONSISTENCY_CHECKS),
        ('A', SLAB_ACCOUNT),
    ] {
        if flags.intersects(flag) {
            id.push(letter);
        }
    }
    if id.len() > 1 {
        id.push('-');
    }
    id + &format!("{stride:07}")
}

/// The arguments of one creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// `object_size`.
    pub size: u32,
    /// `args->align`.
    pub align: u32,
    /// Creation flags.
    pub flags: SlabFlags,
}

/// Which configuration a run models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The scheme.
    pub scheme: Scheme,
    /// `slab_nomerge`.
    pub nomerge: bool,
}

/// Where an instance lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A kmalloc cache of the booted world.
    Kmalloc,
    /// `kmem_cache_create()`.
    Dynamic,
    /// A static of the kernel image.
    Static,
    /// A static in a module.
    ModuleStatic,
    /// Primary scheme: the hidden dynamic primary of a module static.
    Hidden,
}

/// Life of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Life {
    /// In use.
    Live,
    /// Primary scheme: its creator destroyed it; aliases keep it.
    Headless,
    /// Destroyed.
    Destroyed,
}

/// A `struct kmem_cache`.
#[derive(Clone, Debug)]
pub struct Inst {
    /// `s->name`.
    pub name: String,
    /// The creators' names sharing this instance (mainline aliasing), oldest first.
    pub names: Vec<String>,
    /// Where it lives.
    pub kind: Kind,
    /// Life.
    pub life: Life,
    /// `s->refcount`.
    pub refcount: i32,
    /// `s->object_size` (widened by mainline aliases).
    pub object_size: u32,
    /// `s->align`.
    pub align: u32,
    /// `s->flags`.
    pub flags: SlabFlags,
    /// The storage it allocates from.
    pub storage: usize,
    /// Primary scheme: the primary of an alias.
    pub primary: Option<usize>,
}

/// What happened to a storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageState {
    /// Owned by a listed primary.
    Live,
    /// Its cache was destroyed with objects left: unlisted and leaked for them.
    Orphan,
    /// Freed.
    Released,
}

/// The slabs and sheaves of one primary (mainline: of one cache).
#[derive(Clone, Debug)]
pub struct Storage {
    /// `s->size`.
    pub stride: u32,
    /// The instance the slabs name (`slab->slab_cache`).
    pub owner: usize,
    /// Its sysfs directory.
    pub dir: String,
    /// Objects handed out and not freed.
    pub live: usize,
    /// State.
    pub state: StorageState,
}

/// A creator's handle to a dynamic cache (`Cache`).
#[derive(Clone, Debug)]
pub struct Handle {
    /// A stable identity (objects remember the handle they came from).
    pub key: u32,
    /// The name the creator passed.
    pub name: String,
    /// The instance it points to.
    pub inst: usize,
    /// The module that created it.
    pub module: Option<u32>,
}

/// A loaded module.
#[derive(Clone, Debug)]
pub struct Module {
    /// A stable identity.
    pub key: u32,
    /// Its name.
    pub name: String,
    /// Its static instances (`None`: not set up yet).
    pub statics: Vec<Option<usize>>,
    /// Names of its live dynamic caches, in creation order.
    pub handles: Vec<String>,
}

/// Something a cache operation is called on, by stable identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefKey {
    /// A dynamic cache handle.
    Handle(u32),
    /// Image static slot.
    Image(usize),
    /// Module static slot.
    ModuleStatic(u32, usize),
}

/// Something a cache operation is called on, by position in the current lists
/// (the library side keeps its handles and modules in the same order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefPos {
    /// `handles[i]`.
    Handle(usize),
    /// Image static slot.
    Image(usize),
    /// `modules[m]`, static slot.
    ModuleStatic(usize, usize),
}

/// A live object.
#[derive(Clone, Debug)]
pub struct Obj {
    /// The storage it was allocated from.
    pub storage: usize,
    /// What it was allocated through.
    pub via: RefKey,
}

/// A sysfs entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A cache directory.
    Dir,
    /// A symlink to a directory.
    Link(String),
}

/// A typed error, without addresses (the test compares those with the object's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Err {
    /// `-EINVAL`.
    InvalidArgument,
    /// `-EPERM`.
    NotPermitted,
    /// A static set up twice, or after its destroy.
    AlreadySetUp(String),
    /// A static used before setup.
    NotSetUp,
    /// A destroyed instance used.
    CacheDestroyed(String),
    /// Final destroy with objects left.
    CacheBusy(String, usize),
    /// Unload with caches left.
    ModuleBusy(String, Vec<String>),
    /// `kmem_cache_free()` to a cache of another storage: passed, actual.
    WrongCache(String, String),
    /// Checked free of a free object.
    DoubleFree(String),
    /// Checked free of an address inside an object.
    NotObjectStart(String),
    /// Address-based free without `SLAB_CONSISTENCY_CHECKS`.
    Unchecked(String),
}

/// One operation, resolved against the lists as they were before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `kmem_cache_create()`, from module `module` if any.
    Create { name: String, spec: Spec, module: Option<usize> },
    /// `kmem_cache_setup()` of an image static.
    SetupImage { slot: usize, name: String, spec: Spec },
    /// `kmem_cache_setup()` of a module static.
    SetupModuleStatic { module: usize, slot: usize, name: String, spec: Spec },
    /// Module load.
    LoadModule { name: String, statics: usize },
    /// `kmem_cache_destroy()` of `handles[handle]`.
    Destroy { handle: usize },
    /// `kmem_cache_destroy()` of a module static.
    DestroyModuleStatic { module: usize, slot: usize },
    /// Module unload.
    Unload { module: usize },
    /// `kmem_cache_alloc()`.
    Alloc { via: RefPos },
    /// `kmem_cache_free(via, objects[obj])`.
    Free { obj: usize, via: RefPos },
    /// `kfree(objects[obj])`.
    Kfree { obj: usize },
    /// `kmem_cache_shrink()`.
    Shrink { via: RefPos },
    /// Migrate to another CPU.
    SetCpu { cpu: u32 },
    /// Allocate through `via`, free it, then free its address again through
    /// the checked address path.
    DoubleFree { via: RefPos },
    /// Free `objects[obj]`'s address + 8 through the checked address path.
    BadPointer { obj: usize },
}

/// The operation the last transition resolved to and its expected result.
#[derive(Clone, Debug)]
pub struct Step {
    /// The operation.
    pub op: Op,
    /// What the library must return.
    pub expect: Result<(), Err>,
}

/// Which error a creation gets.
#[derive(Clone, Copy, Debug)]
pub enum Bad {
    /// Size 0.
    ZeroSize,
    /// `SLAB_FAILSLAB`, which callers may not pass.
    ForbiddenFlag,
}

/// Where an invalid creation goes.
#[derive(Clone, Debug)]
pub enum BadTarget {
    /// A dynamic cache.
    Dynamic,
    /// An image static.
    Image(Index),
    /// A module static.
    Module(Index, Index),
}

/// What is done with an unusable instance.
#[derive(Clone, Debug)]
pub enum UseOp {
    /// Allocate.
    Alloc,
    /// Shrink.
    Shrink,
    /// Free an object through it.
    Free(Index),
}

/// A transition as generated; picks are resolved when applied.
#[derive(Clone, Debug)]
pub enum Transition {
    /// A dynamic cache (from a module if `module`), under a reused name if `reuse`.
    Create { spec: Spec, module: Option<Index>, reuse: Option<Index> },
    /// A dynamic cache with `SLAB_CONSISTENCY_CHECKS`.
    CreateChecked { size: u32, module: Option<Index> },
    /// A creation with an invalid argument.
    CreateInvalid { bad: Bad, target: BadTarget },
    /// Setup of an image static (an unused one if `fresh` and there is one).
    SetupImage { slot: Index, fresh: bool, spec: Spec, reuse: Option<Index> },
    /// Module load.
    LoadModule { statics: usize },
    /// Setup of a module static (a second setup if it is set up already).
    SetupModuleStatic { module: Index, slot: Index, spec: Spec, reuse: Option<Index> },
    /// Destroy of a dynamic cache handle.
    Destroy { handle: Index },
    /// Destroy of a module static.
    DestroyModuleStatic { module: Index, slot: Index },
    /// Module unload.
    Unload { module: Index },
    /// Allocation through a usable cache.
    Alloc { via: Index },
    /// Free through the cache the object was allocated from.
    Free { obj: Index },
    /// Free through another cache that shares the object's storage.
    FreeShared { obj: Index, via: Index },
    /// Free through a cache of another storage.
    FreeWrong { obj: Index, via: Index },
    /// `kfree()`.
    Kfree { obj: Index },
    /// Shrink.
    Shrink { via: Index },
    /// CPU switch.
    SetCpu { cpu: u32 },
    /// Double free through the checked path (a checked cache if `prefer_checked`).
    DoubleFree { via: Index, prefer_checked: bool },
    /// Bad pointer through the checked path.
    BadPointer { obj: Index, prefer_checked: bool },
    /// Use of an instance not set up, or destroyed (a destroyed one if
    /// `destroyed_first` and there is one).
    UseUnusable { via: Index, destroyed_first: bool, op: UseOp },
}

/// What a reference currently is.
enum Status {
    Usable(usize),
    NotSetUp,
    Destroyed(usize),
}

/// The whole observable state.
#[derive(Clone)]
pub struct Model {
    /// Configuration.
    pub cfg: Config,
    /// Every instance ever created (never removed; indices are identities).
    pub insts: Vec<Inst>,
    /// Every storage ever created.
    pub storages: Vec<Storage>,
    /// `slab_caches`, oldest first.
    pub slab_caches: Vec<usize>,
    /// `/sys/kernel/slab`: each entry and the instance owning it.
    pub sysfs: BTreeMap<String, (Node, Option<usize>)>,
    /// `kobj->sd` of each cache whose directory was added and not yet
    /// `kobject_del()`eted: the name of its directory node.
    kobjs: BTreeMap<usize, String>,
    /// Live dynamic cache handles, in creation order.
    pub handles: Vec<Handle>,
    /// Image static slots.
    pub image: Vec<Option<usize>>,
    /// Loaded modules, in load order.
    pub modules: Vec<Module>,
    /// Live objects, in allocation order.
    pub objects: Vec<Obj>,
    /// Instances destroyed with objects left, not yet released.
    pub orphans: Vec<usize>,
    /// Reports so far: function and cache.
    pub reports: Vec<(String, Option<String>)>,
    /// Every name given so far, available for reuse (the kernel allows
    /// duplicate names; only `CONFIG_DEBUG_VM` warns).
    pub used: Vec<String>,
    /// The last transition's operation and expected result.
    pub step: Option<Step>,
    next_name: u32,
    next_key: u32,
}

/// Short: failing cases print the initial state, which is always a booted
/// world, and the transitions, which are what matters.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let listed: Vec<&str> = self
            .slab_caches
            .iter()
            .filter(|&&id| self.insts[id].kind != Kind::Kmalloc)
            .map(|&id| self.insts[id].name.as_str())
            .collect();
        f.debug_struct("Model")
            .field("cfg", &self.cfg)
            .field("slab_caches", &listed)
            .field("handles", &self.handles.len())
            .field("modules", &self.modules.len())
            .field("objects", &self.objects.len())
            .field("step", &self.step)
            .finish()
    }
}

impl Model {
    /// A booted world: the kmalloc caches exist.
    pub fn new(cfg: Config) -> Model {
        let mut m = Model {
            cfg,
            insts: Vec::new(),
            storages: Vec::new(),
            slab_caches: Vec::new(),
            sysfs: BTreeMap::new(),
            kobjs: BTreeMap::new(),
            handles: Vec::new(),
            image: vec![None; IMAGE_STATICS],
            modules: Vec::new(),
            objects: Vec::new(),
            orphans: Vec::new(),
            reports: Vec::new(),
            used: Vec::new(),
            step: None,
            next_name: 0,
            next_key: 0,
        };
        for size in KMALLOC_SIZES {
            // create_kmalloc_cache(): usersize = size under
            // CONFIG_HARDENED_USERCOPY, and SLAB_NO_MERGE with CONFIG_MEMCG:
            // never a merge target, so a self-named directory.
            let name = if size >= 1024 { format!("kmalloc-{}k", size / 1024) } else { format!("kmalloc-{size}") };
            let id = m.insts.len();
            m.insts.push(Inst {
                name: name.clone(),
                names: vec![name.clone()],
                kind: Kind::Kmalloc,
                life: Life::Live,
                refcount: 1,
                object_size: size,
                align: 0,
                flags: SLAB_KMALLOC | SLAB_NO_MERGE,
                storage: m.storages.len(),
                primary: None,
            });
            m.storages.push(Storage { stride: size, owner: id, dir: name.clone(), live: 0, state: StorageState::Live });
            m.kobjs.insert(id, name.clone());
            m.sysfs.insert(name, (Node::Dir, Some(id)));
            m.slab_caches.push(id);
        }
        m
    }

    fn viro(&self) -> bool {
        matches!(self.cfg.scheme, Scheme::ViroV3 | Scheme::ViroV1)
    }

    fn report(&mut self, function: &str, cache: Option<&str>) {
        self.reports.push((function.to_owned(), cache.map(str::to_owned)));
    }

    /// The instance whose slabs hold the objects of storage `sid`.
    pub fn owner(&self, sid: usize) -> &Inst {
        &self.insts[self.storages[sid].owner]
    }

    /// Whether objects of storage `sid` are checked (`SLAB_CONSISTENCY_CHECKS` on the owner).
    pub fn checked(&self, sid: usize) -> bool {
        self.owner(sid).flags.intersects(SLAB_CONSISTENCY_CHECKS)
    }

    /// Live objects in all storages.
    pub fn live(&self) -> usize {
        self.objects.len()
    }

    // ---- sysfs (mm/slub.c) ----

    /// `sysfs_remove_link()` = `kernfs_remove_by_name()`: whatever entry has the name.
    fn remove_by_name(&mut self, name: &str) {
        self.sysfs.remove(name);
    }

    /// Primary scheme: an instance drops its own link (never a directory,
    /// nor a link a later same-named cache made).
    fn remove_link(&mut self, name: &str, owner: usize) {
        if matches!(self.sysfs.get(name), Some((Node::Link(_), Some(o))) if *o == owner) {
            self.sysfs.remove(name);
        }
    }

    /// `kobject_init_and_add()` of `owner`'s directory: fails if the name is taken.
    fn add_dir(&mut self, name: &str, owner: usize) -> bool {
        if self.sysfs.contains_key(name) {
            return false;
        }
        self.sysfs.insert(name.to_owned(), (Node::Dir, Some(owner)));
        self.kobjs.insert(owner, name.to_owned());
        true
    }

    /// `sysfs_slab_alias()` by `owner`: remove any entry of that name (even
    /// `target`'s directory), then link it to `target`'s kobject; fails only
    /// if that kobject has no node (never added, or deleted).
    fn link(&mut self, name: &str, target: usize, owner: usize) -> bool {
        self.remove_by_name(name);
        let Some(dir) = self.kobjs.get(&target).cloned() else { return false };
        self.sysfs.insert(name.to_owned(), (Node::Link(dir), Some(owner)));
        true
    }

    /// `sysfs_slab_unlink()`: `kobject_del()` of the cache's own directory;
    /// links stay, and a directory another cache took over stays too.
    fn unlink_dir(&mut self, name: &str, owner: usize) {
        self.kobjs.remove(&owner);
        if self.sysfs.get(name) == Some(&(Node::Dir, Some(owner))) {
            self.sysfs.remove(name);
        }
    }

    // ---- merging (mm/slab_common.c) ----

    /// `slab_unmergeable(s)`, with the schemes' own rules.
    fn unmergeable(&self, id: usize) -> bool {
        let s = &self.insts[id];
        self.cfg.nomerge
            || s.flags.intersects(never_merge())
            || s.kind == Kind::Kmalloc
            || s.refcount < 0
            // Primary scheme: an alias is never a target; its primary is.
            || (self.cfg.scheme == Scheme::Primary && s.primary.is_some())
            // v3 03/10: a module static is unmergeable both ways.
            || (self.cfg.scheme == Scheme::ViroV3 && s.kind == Kind::ModuleStatic)
    }

    /// `find_mergeable(size, align, flags)`: the oldest compatible cache.
    fn find_mergeable(&self, spec: Spec, flags: SlabFlags) -> Option<usize> {
        if self.cfg.nomerge || flags.intersects(never_merge()) {
            return None;
        }
        let size = align(spec.size, PTR);
        let a = alignment(flags, spec.align, size);
        let size = align(size, a);
        self.slab_caches.iter().copied().find(|&id| {
            let s = &self.insts[id];
            let stride = self.storages[s.storage].stride;
            !self.unmergeable(id)
                && stride == size
                && flags.mask(merge_same()) == s.flags.mask(merge_same())
                && stride.is_multiple_of(a)
        })
    }

    /// `__kmem_cache_create_args()` for every scheme.
    fn create(&mut self, name: &str, spec: Spec, kind: Kind, static_slot: Option<Option<usize>>) -> Result<usize, Err> {
        let result = self.create_inner(name, spec, kind, static_slot);
        if result.is_err() {
            self.report("__kmem_cache_create_args", Some(name));
        }
        result
    }

    fn create_inner(
        &mut self,
        name: &str,
        spec: Spec,
        kind: Kind,
        static_slot: Option<Option<usize>>,
    ) -> Result<usize, Err> {
        // kmem_cache_sanity_check() and the SLAB_FLAGS_PERMITTED test.
        if spec.size == 0 || !spec.flags.without(permitted()).is_empty() {
            return Err(Err::InvalidArgument);
        }
        let mut flags = spec.flags;
        if let Some(slot) = static_slot {
            if self.cfg.scheme == Scheme::Mainline {
                return Err(Err::NotPermitted);
            }
            if let Some(id) = slot {
                return Err(Err::AlreadySetUp(self.insts[id].name.clone()));
            }
            flags |= SLAB_PREALLOCATED;
            if self.cfg.scheme == Scheme::ViroV1 {
                // v1 01/15: static instances are SLAB_NO_MERGE.
                flags |= SLAB_NO_MERGE;
            }
        }
        // v3 02/10 __kmem_cache_alias(): a static never becomes an alias.
        let may_alias = !(flags.intersects(SLAB_PREALLOCATED) && self.viro());
        if may_alias && let Some(target) = self.find_mergeable(spec, flags) {
            return Ok(if self.cfg.scheme == Scheme::Primary {
                self.primary_alias(target, name, spec, flags, kind)
            } else {
                self.alias(target, name, spec.size)
            });
        }
        if self.cfg.scheme == Scheme::Primary && kind == Kind::ModuleStatic {
            // Babka: no compatible primary; a hidden dynamic primary owns the
            // slabs, so none points into module memory.
            let hidden = self.create_cache(name, spec, flags.without(SLAB_PREALLOCATED), Kind::Hidden);
            return Ok(self.primary_alias(hidden, name, spec, flags, kind));
        }
        Ok(self.create_cache(name, spec, flags, kind))
    }

    /// `__kmem_cache_alias()`: the same instance, one more reference.
    fn alias(&mut self, target: usize, name: &str, size: u32) -> usize {
        if !self.link(name, target, target) {
            self.report("sysfs_slab_alias", Some(name));
        }
        let s = &mut self.insts[target];
        s.refcount += 1;
        s.names.push(name.to_owned());
        s.object_size = s.object_size.max(size);
        target
    }

    /// Primary scheme: a separate instance sharing the primary's storage.
    fn primary_alias(&mut self, primary: usize, name: &str, spec: Spec, flags: SlabFlags, kind: Kind) -> usize {
        let storage = self.insts[primary].storage;
        let dir = self.storages[storage].dir.clone();
        let id = self.insts.len();
        self.insts.push(Inst {
            name: name.to_owned(),
            names: vec![name.to_owned()],
            kind,
            life: Life::Live,
            refcount: 1,
            object_size: spec.size,
            align: alignment(flags, spec.align, spec.size),
            flags,
            storage,
            primary: Some(primary),
        });
        self.insts[primary].refcount += 1;
        // __kmem_cache_alias() widens its target; here the primary (primary-cache.md, choice 4).
        self.insts[primary].object_size = self.insts[primary].object_size.max(spec.size);
        // Each alias owns its link (none when the directory has its name).
        if dir != name && !self.link(name, self.storages[storage].owner, id) {
            self.report("sysfs_slab_alias", Some(name));
        }
        self.slab_caches.push(id);
        id
    }

    /// `create_cache()` and `sysfs_slab_add()`.
    fn create_cache(&mut self, name: &str, spec: Spec, flags: SlabFlags, kind: Kind) -> usize {
        let hidden = kind == Kind::Hidden;
        let stride = stride(spec.size, spec.align, flags);
        let id = self.insts.len();
        let sid = self.storages.len();
        self.insts.push(Inst {
            name: if hidden { unique_id(flags, stride) } else { name.to_owned() },
            names: if hidden { Vec::new() } else { vec![name.to_owned()] },
            kind,
            life: Life::Live,
            refcount: if hidden { 0 } else { 1 },
            object_size: spec.size,
            align: alignment(flags, spec.align, spec.size),
            flags,
            storage: sid,
            primary: None,
        });
        self.storages.push(Storage { stride, owner: id, dir: String::new(), live: 0, state: StorageState::Live });
        // Unmergeable caches, and Al Viro's statics (v3 02/10), are self-named.
        let self_named = self.unmergeable(id) || (flags.intersects(SLAB_PREALLOCATED) && self.viro());
        let dir = if self_named { name.to_owned() } else { unique_id(flags, stride) };
        if self_named {
            self.remove_by_name(&dir);
        }
        if self.add_dir(&dir, id) {
            if !self_named && !hidden && !self.link(name, id, id) {
                self.report("sysfs_slab_alias", Some(name));
            }
            self.storages[sid].dir = dir;
        } else {
            // sysfs_slab_add() gives up: no directory, no link; the cache lives on.
            self.report("sysfs_slab_add", Some(name));
        }
        self.slab_caches.push(id);
        id
    }

    fn unlist(&mut self, id: usize) {
        self.slab_caches.retain(|&x| x != id);
    }

    /// `kmem_cache_destroy()` of one creator's reference named `name`.
    fn destroy(&mut self, id: usize, name: &str) -> Result<(), Err> {
        let primary = self.cfg.scheme == Scheme::Primary;
        if primary && let Some(p) = self.insts[id].primary {
            return self.destroy_alias(id, p, name);
        }
        if self.insts[id].life == Life::Destroyed {
            return Err(Err::CacheDestroyed(name.to_owned()));
        }
        let s = &mut self.insts[id];
        s.refcount -= 1;
        if let Some(i) = s.names.iter().rposition(|n| n == name) {
            s.names.remove(i);
        }
        let (refcount, own) = (s.refcount, s.name == name);
        if primary && own {
            // Each instance owns its link: the creator's name goes now.
            let dir = self.storages[self.insts[id].storage].dir.clone();
            if dir != name {
                self.remove_link(name, id);
            }
        }
        if refcount > 0 {
            if primary && own {
                // Named by its unique id, as a hidden primary is.
                let stride = self.storages[self.insts[id].storage].stride;
                let s = &mut self.insts[id];
                s.life = Life::Headless;
                s.name = unique_id(s.flags, stride);
            }
            // Mainline: an alias destroy only drops the reference; its link stays.
            return Ok(());
        }
        self.shutdown(id, name)
    }

    /// Primary scheme: the alias goes alone; its primary loses a reference.
    fn destroy_alias(&mut self, id: usize, primary: usize, name: &str) -> Result<(), Err> {
        let dir = self.storages[self.insts[primary].storage].dir.clone();
        if dir != name {
            self.remove_link(name, id);
        }
        self.unlist(id);
        let a = &mut self.insts[id];
        a.life = Life::Destroyed;
        a.refcount = 0;
        a.names.clear();
        self.insts[primary].refcount -= 1;
        if self.insts[primary].refcount == 0 { self.shutdown(primary, name) } else { Ok(()) }
    }

    /// The final part of `kmem_cache_destroy()`: unlisted and unlinked either
    /// way; with objects left, WARN + BUG report and a deliberate leak.
    /// `creator` dropped the last reference: the WARN names it, the BUG the group.
    fn shutdown(&mut self, id: usize, creator: &str) -> Result<(), Err> {
        let sid = self.insts[id].storage;
        self.unlist(id);
        let dir = self.storages[sid].dir.clone();
        self.unlink_dir(&dir, id);
        self.insts[id].life = Life::Destroyed;
        let live = self.storages[sid].live;
        let name = self.insts[id].name.clone();
        if live > 0 {
            self.report("kmem_cache_destroy", Some(creator));
            self.report("__kmem_cache_shutdown", Some(&name));
            self.storages[sid].state = StorageState::Orphan;
            self.orphans.push(id);
            return Err(Err::CacheBusy(creator.to_owned(), live));
        }
        self.storages[sid].state = StorageState::Released;
        Ok(())
    }

    /// Releases orphans whose objects are all gone (done at each unload attempt).
    fn reap_orphans(&mut self) {
        let orphans = std::mem::take(&mut self.orphans);
        for id in orphans {
            let sid = self.insts[id].storage;
            if self.storages[sid].live == 0 {
                self.storages[sid].state = StorageState::Released;
            } else {
                self.orphans.push(id);
            }
        }
    }

    // ---- references ----

    fn status(&self, r: RefPos) -> Status {
        let slot = match r {
            RefPos::Handle(i) => return Status::Usable(self.handles[i].inst),
            RefPos::Image(slot) => self.image[slot],
            RefPos::ModuleStatic(m, slot) => self.modules[m].statics[slot],
        };
        match slot {
            None => Status::NotSetUp,
            Some(id) if self.insts[id].life == Life::Destroyed => Status::Destroyed(id),
            Some(id) => Status::Usable(id),
        }
    }

    fn key_of(&self, r: RefPos) -> RefKey {
        match r {
            RefPos::Handle(i) => RefKey::Handle(self.handles[i].key),
            RefPos::Image(slot) => RefKey::Image(slot),
            RefPos::ModuleStatic(m, slot) => RefKey::ModuleStatic(self.modules[m].key, slot),
        }
    }

    /// Where `key` is now, if it still exists.
    pub fn pos_of(&self, key: RefKey) -> Option<RefPos> {
        match key {
            RefKey::Handle(k) => self.handles.iter().position(|h| h.key == k).map(RefPos::Handle),
            RefKey::Image(slot) => Some(RefPos::Image(slot)),
            RefKey::ModuleStatic(k, slot) => {
                self.modules.iter().position(|m| m.key == k).map(|m| RefPos::ModuleStatic(m, slot))
            }
        }
    }

    /// Every reference that can be used, with its instance: handles, set-up
    /// image statics, live module statics.
    pub fn usable(&self) -> Vec<(RefPos, usize)> {
        self.all_refs()
            .into_iter()
            .filter_map(|r| match self.status(r) {
                Status::Usable(id) => Some((r, id)),
                _ => None,
            })
            .collect()
    }

    /// Every static slot not set up, or destroyed.
    pub fn unusable(&self) -> Vec<RefPos> {
        self.all_refs().into_iter().filter(|&r| !matches!(self.status(r), Status::Usable(_))).collect()
    }

    fn all_refs(&self) -> Vec<RefPos> {
        let mut refs: Vec<RefPos> = (0..self.handles.len()).map(RefPos::Handle).collect();
        refs.extend((0..self.image.len()).map(RefPos::Image));
        for (m, module) in self.modules.iter().enumerate() {
            refs.extend((0..module.statics.len()).map(|slot| RefPos::ModuleStatic(m, slot)));
        }
        refs
    }

    fn name_for(&self, prefix: &str, reuse: &Option<Index>) -> String {
        match reuse {
            Some(i) if !self.used.is_empty() => self.used[i.index(self.used.len())].clone(),
            _ => format!("{prefix}{}", self.next_name),
        }
    }

    // ---- transitions ----

    /// The operation `t` stands for in this state, or `None` if it has no
    /// meaning here (its precondition).
    pub fn resolve(&self, t: &Transition) -> Option<Op> {
        let module_pos =
            |m: &Option<Index>| m.as_ref().filter(|_| !self.modules.is_empty()).map(|i| i.index(self.modules.len()));
        Some(match t {
            Transition::Create { spec, module, reuse } => {
                let module = module_pos(module);
                let name = self.name_for(if module.is_some() { "dm" } else { "d" }, reuse);
                Op::Create { name, spec: *spec, module }
            }
            Transition::CreateChecked { size, module } => Op::Create {
                name: self.name_for("chk", &None),
                spec: Spec { size: *size, align: 0, flags: SLAB_CONSISTENCY_CHECKS },
                module: module_pos(module),
            },
            Transition::CreateInvalid { bad, target } => {
                let spec = match bad {
                    Bad::ZeroSize => Spec { size: 0, align: 0, flags: SlabFlags::EMPTY },
                    Bad::ForbiddenFlag => Spec { size: 64, align: 0, flags: SLAB_FAILSLAB },
                };
                let name = self.name_for("bad", &None);
                match target {
                    BadTarget::Image(slot) => Op::SetupImage { slot: slot.index(self.image.len()), name, spec },
                    BadTarget::Module(m, slot) if !self.modules.is_empty() => {
                        let module = m.index(self.modules.len());
                        let slot = slot.index(self.modules[module].statics.len());
                        Op::SetupModuleStatic { module, slot, name, spec }
                    }
                    _ => Op::Create { name, spec, module: None },
                }
            }
            Transition::SetupImage { slot, fresh, spec, reuse } => {
                let unused: Vec<usize> = (0..self.image.len()).filter(|&s| self.image[s].is_none()).collect();
                let slot = if *fresh && !unused.is_empty() {
                    unused[slot.index(unused.len())]
                } else {
                    slot.index(self.image.len())
                };
                Op::SetupImage { slot, name: self.name_for("s", reuse), spec: *spec }
            }
            Transition::LoadModule { statics } => {
                Op::LoadModule { name: format!("mod{}", self.next_name), statics: *statics }
            }
            Transition::SetupModuleStatic { module, slot, spec, reuse } => {
                let module = module_pos(&Some(*module))?;
                let slot = slot.index(self.modules[module].statics.len());
                let name = self.name_for("m", reuse);
                Op::SetupModuleStatic { module, slot, name, spec: *spec }
            }
            Transition::Destroy { handle } => {
                if self.handles.is_empty() {
                    return None;
                }
                Op::Destroy { handle: handle.index(self.handles.len()) }
            }
            Transition::DestroyModuleStatic { module, slot } => {
                let module = module_pos(&Some(*module))?;
                Op::DestroyModuleStatic { module, slot: slot.index(self.modules[module].statics.len()) }
            }
            Transition::Unload { module } => Op::Unload { module: module_pos(&Some(*module))? },
            Transition::Alloc { via } => {
                let usable = self.usable();
                if usable.is_empty() || self.live() >= MAX_LIVE {
                    return None;
                }
                Op::Alloc { via: usable[via.index(usable.len())].0 }
            }
            Transition::Free { obj } => {
                if self.objects.is_empty() {
                    return None;
                }
                let obj = obj.index(self.objects.len());
                let via = self.pos_of(self.objects[obj].via)?;
                Op::Free { obj, via }
            }
            Transition::FreeShared { obj, via } | Transition::FreeWrong { obj, via } => {
                if self.objects.is_empty() {
                    return None;
                }
                let obj = obj.index(self.objects.len());
                let o = &self.objects[obj];
                let shared = matches!(t, Transition::FreeShared { .. });
                let candidates: Vec<RefPos> = self
                    .usable()
                    .into_iter()
                    .filter(|&(r, id)| {
                        if shared {
                            self.insts[id].storage == o.storage && self.key_of(r) != o.via
                        } else {
                            self.insts[id].storage != o.storage
                        }
                    })
                    .map(|(r, _)| r)
                    .collect();
                if candidates.is_empty() {
                    return None;
                }
                Op::Free { obj, via: candidates[via.index(candidates.len())] }
            }
            Transition::Kfree { obj } => {
                if self.objects.is_empty() {
                    return None;
                }
                Op::Kfree { obj: obj.index(self.objects.len()) }
            }
            Transition::Shrink { via } => {
                let usable = self.usable();
                if usable.is_empty() {
                    return None;
                }
                Op::Shrink { via: usable[via.index(usable.len())].0 }
            }
            Transition::SetCpu { cpu } => Op::SetCpu { cpu: *cpu },
            Transition::DoubleFree { via, prefer_checked } => {
                let usable = self.usable();
                if usable.is_empty() || self.live() >= MAX_LIVE {
                    return None;
                }
                let checked: Vec<_> =
                    usable.iter().filter(|&&(_, id)| self.checked(self.insts[id].storage)).copied().collect();
                let pool = if *prefer_checked && !checked.is_empty() { checked } else { usable };
                Op::DoubleFree { via: pool[via.index(pool.len())].0 }
            }
            Transition::BadPointer { obj, prefer_checked } => {
                if self.objects.is_empty() {
                    return None;
                }
                let checked: Vec<usize> =
                    (0..self.objects.len()).filter(|&i| self.checked(self.objects[i].storage)).collect();
                let obj = if *prefer_checked && !checked.is_empty() {
                    checked[obj.index(checked.len())]
                } else {
                    obj.index(self.objects.len())
                };
                Op::BadPointer { obj }
            }
            Transition::UseUnusable { via, destroyed_first, op } => {
                let unusable = self.unusable();
                let destroyed: Vec<RefPos> =
                    unusable.iter().copied().filter(|&r| matches!(self.status(r), Status::Destroyed(_))).collect();
                let pool = if *destroyed_first && !destroyed.is_empty() { destroyed } else { unusable };
                if pool.is_empty() {
                    return None;
                }
                let via = pool[via.index(pool.len())];
                match op {
                    UseOp::Alloc => Op::Alloc { via },
                    UseOp::Shrink => Op::Shrink { via },
                    UseOp::Free(obj) => {
                        if self.objects.is_empty() {
                            return None;
                        }
                        Op::Free { obj: obj.index(self.objects.len()), via }
                    }
                }
            }
        })
    }

    /// Applies an operation; returns what the library must return.
    pub fn exec(&mut self, op: &Op) -> Result<(), Err> {
        match op {
            Op::Create { name, .. } | Op::SetupImage { name, .. } | Op::SetupModuleStatic { name, .. } => {
                self.next_name += 1;
                if !self.used.contains(name) {
                    self.used.push(name.clone());
                }
            }
            Op::LoadModule { .. } => self.next_name += 1,
            _ => {}
        }
        match op {
            Op::Create { name, spec, module } => {
                let id = self.create(name, *spec, Kind::Dynamic, None)?;
                let key = self.next_key;
                self.next_key += 1;
                let module_key = module.map(|m| self.modules[m].key);
                self.handles.push(Handle { key, name: name.clone(), inst: id, module: module_key });
                if let Some(m) = module {
                    self.modules[*m].handles.push(name.clone());
                }
                Ok(())
            }
            Op::SetupImage { slot, name, spec } => {
                let id = self.create(name, *spec, Kind::Static, Some(self.image[*slot]))?;
                self.image[*slot] = Some(id);
                Ok(())
            }
            Op::SetupModuleStatic { module, slot, name, spec } => {
                let current = self.modules[*module].statics[*slot];
                let id = self.create(name, *spec, Kind::ModuleStatic, Some(current))?;
                self.modules[*module].statics[*slot] = Some(id);
                Ok(())
            }
            Op::LoadModule { name, statics } => {
                let key = self.next_key;
                self.next_key += 1;
                self.modules.push(Module {
                    key,
                    name: name.clone(),
                    statics: vec![None; *statics],
                    handles: Vec::new(),
                });
                Ok(())
            }
            Op::Destroy { handle } => {
                let h = self.handles.remove(*handle);
                if let Some(m) = self.modules.iter_mut().find(|m| Some(m.key) == h.module)
                    && let Some(i) = m.handles.iter().position(|n| *n == h.name)
                {
                    m.handles.remove(i);
                }
                self.destroy(h.inst, &h.name)
            }
            Op::DestroyModuleStatic { module, slot } => match self.modules[*module].statics[*slot] {
                None => Err(Err::NotSetUp),
                Some(id) if self.insts[id].life == Life::Destroyed => {
                    Err(Err::CacheDestroyed(self.insts[id].name.clone()))
                }
                Some(id) => {
                    let name = self.insts[id].name.clone();
                    self.destroy(id, &name)
                }
            },
            Op::Unload { module } => {
                self.reap_orphans();
                let m = &self.modules[*module];
                let mut caches = m.handles.clone();
                for id in m.statics.iter().flatten() {
                    let s = &self.insts[*id];
                    let sid = s.storage;
                    // v3 03/10: a destroyed static still pinned by objects keeps the module.
                    let pinned = s.life == Life::Destroyed
                        && self.storages[sid].owner == *id
                        && self.storages[sid].state == StorageState::Orphan;
                    if s.life != Life::Destroyed || pinned {
                        caches.push(s.name.clone());
                    }
                }
                if caches.is_empty() {
                    self.modules.remove(*module);
                    Ok(())
                } else {
                    let name = m.name.clone();
                    self.report("delete_module", None);
                    Err(Err::ModuleBusy(name, caches))
                }
            }
            Op::Alloc { via } => match self.status(*via) {
                Status::Usable(id) => {
                    let sid = self.insts[id].storage;
                    self.storages[sid].live += 1;
                    let key = self.key_of(*via);
                    self.objects.push(Obj { storage: sid, via: key });
                    Ok(())
                }
                Status::NotSetUp => Err(Err::NotSetUp),
                Status::Destroyed(id) => Err(Err::CacheDestroyed(self.insts[id].name.clone())),
            },
            Op::Free { obj, via } => match self.status(*via) {
                Status::Usable(id) => {
                    let sid = self.objects[*obj].storage;
                    if self.insts[id].storage == sid {
                        self.objects.remove(*obj);
                        self.storages[sid].live -= 1;
                        Ok(())
                    } else {
                        // CONFIG_SLAB_FREELIST_HARDENED: refused, reported, handed back.
                        let passed = self.insts[id].name.clone();
                        self.report("kmem_cache_free", Some(&passed));
                        Err(Err::WrongCache(passed, self.owner(sid).name.clone()))
                    }
                }
                Status::NotSetUp => Err(Err::NotSetUp),
                Status::Destroyed(id) => Err(Err::CacheDestroyed(self.insts[id].name.clone())),
            },
            Op::Kfree { obj } => {
                let o = self.objects.remove(*obj);
                self.storages[o.storage].live -= 1;
                Ok(())
            }
            Op::Shrink { via } => match self.status(*via) {
                Status::Usable(_) => Ok(()),
                Status::NotSetUp => Err(Err::NotSetUp),
                Status::Destroyed(id) => Err(Err::CacheDestroyed(self.insts[id].name.clone())),
            },
            Op::SetCpu { .. } => Ok(()),
            Op::DoubleFree { via } => {
                let Status::Usable(id) = self.status(*via) else { unreachable!("resolved to a usable cache") };
                let sid = self.insts[id].storage;
                Err(self.checked_free_error(sid, true))
            }
            Op::BadPointer { obj } => {
                let sid = self.objects[*obj].storage;
                Err(self.checked_free_error(sid, false))
            }
        }
    }

    /// `kfree()` of a bad address with `slab_debug=F` semantics: refused
    /// either way; without the checks on the owner it cannot tell, and says so.
    fn checked_free_error(&mut self, sid: usize, double: bool) -> Err {
        let owner = self.owner(sid).name.clone();
        self.report("kfree", Some(&owner));
        match (self.checked(sid), double) {
            (false, _) => Err::Unchecked(owner),
            (true, true) => Err::DoubleFree(owner),
            (true, false) => Err::NotObjectStart(owner),
        }
    }

    /// Checks the model's own bookkeeping (a failure here is a model bug).
    pub fn self_check(&self) {
        for (sid, st) in self.storages.iter().enumerate() {
            let count = self.objects.iter().filter(|o| o.storage == sid).count();
            assert_eq!(st.live, count, "model: live count of storage {sid}");
            if count > 0 {
                assert_ne!(st.state, StorageState::Released, "model: objects in a released storage");
            }
        }
        for o in &self.objects {
            let st = &self.storages[o.storage];
            let owner = st.owner;
            match st.state {
                StorageState::Live => assert!(
                    self.slab_caches.contains(&owner) && self.insts[owner].primary.is_none(),
                    "model: an object's slab names an unlisted cache or an alias"
                ),
                StorageState::Orphan => assert!(self.orphans.contains(&owner), "model: orphan not listed"),
                StorageState::Released => unreachable!(),
            }
        }
    }

    // ---- generation ----

    /// Transitions that make sense in this state, weighted.
    pub fn transitions(&self) -> BoxedStrategy<Transition> {
        let spec = || {
            (
                proptest::sample::select(&SIZES[..]),
                proptest::sample::select(&ALIGNS[..]),
                proptest::sample::select(&FLAGS[..]),
            )
                .prop_map(|(size, align, flags)| Spec { size, align, flags })
        };
        let reuse = || proptest::option::weighted(0.2, any::<Index>());
        let module = || proptest::option::weighted(0.25, any::<Index>());
        let mut choices: Vec<(u32, BoxedStrategy<Transition>)> = vec![
            (
                5,
                (spec(), module(), reuse())
                    .prop_map(|(spec, module, reuse)| Transition::Create { spec, module, reuse })
                    .boxed(),
            ),
            (
                2,
                (proptest::sample::select(&SIZES[..]), module())
                    .prop_map(|(size, module)| Transition::CreateChecked { size, module })
                    .boxed(),
            ),
            (
                1,
                (
                    prop_oneof![Just(Bad::ZeroSize), Just(Bad::ForbiddenFlag)],
                    prop_oneof![
                        Just(BadTarget::Dynamic),
                        any::<Index>().prop_map(BadTarget::Image),
                        (any::<Index>(), any::<Index>()).prop_map(|(m, s)| BadTarget::Module(m, s)),
                    ],
                )
                    .prop_map(|(bad, target)| Transition::CreateInvalid { bad, target })
                    .boxed(),
            ),
            (
                3,
                (any::<Index>(), proptest::bool::weighted(0.8), spec(), reuse())
                    .prop_map(|(slot, fresh, spec, reuse)| Transition::SetupImage { slot, fresh, spec, reuse })
                    .boxed(),
            ),
            (2, (1usize..=2).prop_map(|statics| Transition::LoadModule { statics }).boxed()),
            (1, (0..NR_CPUS * 2).prop_map(|cpu| Transition::SetCpu { cpu }).boxed()),
        ];
        if !self.modules.is_empty() {
            choices.push((
                3,
                (any::<Index>(), any::<Index>(), spec(), reuse())
                    .prop_map(|(module, slot, spec, reuse)| Transition::SetupModuleStatic { module, slot, spec, reuse })
                    .boxed(),
            ));
            choices.push((
                2,
                (any::<Index>(), any::<Index>())
                    .prop_map(|(module, slot)| Transition::DestroyModuleStatic { module, slot })
                    .boxed(),
            ));
            choices.push((1, any::<Index>().prop_map(|module| Transition::Unload { module }).boxed()));
        }
        if !self.handles.is_empty() {
            choices.push((2, any::<Index>().prop_map(|handle| Transition::Destroy { handle }).boxed()));
        }
        if !self.usable().is_empty() {
            choices.push((8, any::<Index>().prop_map(|via| Transition::Alloc { via }).boxed()));
            choices.push((1, any::<Index>().prop_map(|via| Transition::Shrink { via }).boxed()));
            choices.push((
                1,
                (any::<Index>(), proptest::bool::weighted(0.8))
                    .prop_map(|(via, prefer_checked)| Transition::DoubleFree { via, prefer_checked })
                    .boxed(),
            ));
        }
        if !self.objects.is_empty() {
            choices.push((4, any::<Index>().prop_map(|obj| Transition::Free { obj }).boxed()));
            choices.push((2, any::<Index>().prop_map(|obj| Transition::Kfree { obj }).boxed()));
            choices.push((
                1,
                (any::<Index>(), any::<Index>()).prop_map(|(obj, via)| Transition::FreeShared { obj, via }).boxed(),
            ));
            choices.push((
                1,
                (any::<Index>(), any::<Index>()).prop_map(|(obj, via)| Transition::FreeWrong { obj, via }).boxed(),
            ));
            choices.push((
                1,
                (any::<Index>(), proptest::bool::weighted(0.8))
                    .prop_map(|(obj, prefer_checked)| Transition::BadPointer { obj, prefer_checked })
                    .boxed(),
            ));
        }
        choices.push((
            1,
            (
                any::<Index>(),
                proptest::bool::weighted(0.7),
                prop_oneof![Just(UseOp::Alloc), Just(UseOp::Shrink), any::<Index>().prop_map(UseOp::Free)],
            )
                .prop_map(|(via, destroyed_first, op)| Transition::UseUnusable { via, destroyed_first, op })
                .boxed(),
        ));
        Union::new_weighted(choices).boxed()
    }
}
