//! Property tests against the reference model of `tests/model/`.
//!
//! 1. A state machine (`proptest-state-machine`): one definition, run for
//!    mainline, Al Viro's v3 and v1, the primary-cache design and mainline with
//!    `slab_nomerge`. After every transition the library must agree with the
//!    model: results and typed errors, which names share storage, refcounts,
//!    aliases and primaries, `slab_caches`, the sysfs tree, orphans, module
//!    states, the report log, live object counts, and `slab->slab_cache` of
//!    every live object; and the library's own invariants must hold.
//! 2. Every create/destroy order of six steps over compatible caches of
//!    every kind, primary scheme, each checked against the model
//!    (`primary_every_create_destroy_order`, deterministic: about 22 s of
//!    CPU alone; `SLABMERGE_ORDER_DEPTH` sets the number of steps).
//! 3. Cross-scheme properties on generated creation sequences.
//! 4. The trace and census parsers name the line of a corrupted input.
//!
//! CI runs these with `PROPTEST_CASES=64` (`.ci/run`), valgrind with 8.
//! Measured on the 2-core machine, debug profile, the whole file but the
//! exhaustive orders: 64 cases about 5 s, 256 (proptest's default) about
//! 18 s, 8 under valgrind about 24 s.
//! A deeper run, about 5 minutes (30 s with `--release`):
//! `PROPTEST_CASES=4096 cargo test --test properties`
//! (add `PROPTEST_VERBOSE=1` to print the transitions of a failing case).
//! Failing cases are kept in `proptest-regressions/properties.txt`.

mod model;

use std::collections::HashMap;
use std::marker::PhantomData;

use model::{Err, Inst, Kind, Life, Model, Node, Op, RefPos, Spec, Step, StorageState, Transition};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use slabmerge::census::Census;
use slabmerge::flags::*;
use slabmerge::sysfs::SysfsNode;
use slabmerge::trace::Trace;
use slabmerge::{
    Cache, InstanceKind, InstanceState, KmemCache, KmemCacheArgs, Module, Object, Scheme, SlabConfig, SlabError, World,
    kmem_cache_destroy,
};

// ---------------------------------------------------------------------------
// The state machine
// ---------------------------------------------------------------------------

/// A configuration the state machine runs under.
trait Run: 'static {
    const CONFIG: model::Config;
}

struct Mainline;
struct ViroV3;
struct ViroV1;
struct Primary;
struct Nomerge;

impl Run for Mainline {
    const CONFIG: model::Config = model::Config { scheme: Scheme::Mainline, nomerge: false };
}
impl Run for ViroV3 {
    const CONFIG: model::Config = model::Config { scheme: Scheme::ViroV3, nomerge: false };
}
impl Run for ViroV1 {
    const CONFIG: model::Config = model::Config { scheme: Scheme::ViroV1, nomerge: false };
}
impl Run for Primary {
    const CONFIG: model::Config = model::Config { scheme: Scheme::Primary, nomerge: false };
}
impl Run for Nomerge {
    const CONFIG: model::Config = model::Config { scheme: Scheme::Mainline, nomerge: true };
}

/// Every test of this file: `PROPTEST_*` variables apply (through
/// `Config::default()`), and failing cases are kept in
/// `proptest-regressions/properties.txt`, which is committed and replayed first.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/properties.txt"))),
        ..ProptestConfig::default()
    }
}

/// The reference side: the model and its transitions.
struct ModelMachine<R>(PhantomData<R>);

impl<R: Run> ReferenceStateMachine for ModelMachine<R> {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::new(R::CONFIG)).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        state.transitions()
    }

    /// Picks are resolved against the current lists; a transition whose
    /// pick has nothing to resolve to (after shrinking removed what it
    /// needed) is not applied.
    fn preconditions(state: &Model, transition: &Transition) -> bool {
        state.resolve(transition).is_some()
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        let op = state.resolve(transition).expect("preconditions hold");
        let expect = state.exec(&op);
        state.step = Some(Step { op, expect });
        state.self_check();
        state
    }
}

/// The system under test. The world is leaked for the length of a case so
/// that handles and modules (which borrow it) can live beside it; teardown
/// takes it back once every handle is gone.
struct Sut {
    world_ptr: *mut World,
    world: &'static World,
    /// Parallel to `Model::handles`.
    caches: Vec<Cache<'static>>,
    /// Parallel to `Model::modules`.
    modules: Vec<Module<'static>>,
    /// Parallel to `Model::objects`.
    objects: Vec<Object>,
}

/// The instance a reference names, on the library side.
fn cache_at<'a>(
    world: &'a World,
    caches: &'a [Cache<'static>],
    modules: &'a [Module<'static>],
    r: RefPos,
) -> &'a KmemCache {
    match r {
        RefPos::Handle(i) => &caches[i],
        RefPos::Image(slot) => world.image_static(slot),
        RefPos::ModuleStatic(m, slot) => modules[m].static_cache(slot),
    }
}

/// A library error as the model writes it, and the address it carries.
fn model_err(e: &SlabError) -> (Err, Option<usize>) {
    match e {
        SlabError::InvalidArgument(_) => (Err::InvalidArgument, None),
        SlabError::NotPermitted(_) => (Err::NotPermitted, None),
        SlabError::AlreadySetUp { cache } => (Err::AlreadySetUp(cache.clone()), None),
        SlabError::NotSetUp => (Err::NotSetUp, None),
        SlabError::CacheDestroyed { cache } => (Err::CacheDestroyed(cache.clone()), None),
        SlabError::CacheBusy { cache, objects } => (Err::CacheBusy(cache.clone(), *objects), None),
        SlabError::ModuleBusy { module, caches } => (Err::ModuleBusy(module.clone(), caches.clone()), None),
        SlabError::WrongCache { passed, actual, addr } => {
            (Err::WrongCache(passed.clone(), actual.clone()), Some(*addr))
        }
        SlabError::DoubleFree { cache, addr } => (Err::DoubleFree(cache.clone()), Some(*addr)),
        SlabError::NotObjectStart { cache, addr } => (Err::NotObjectStart(cache.clone()), Some(*addr)),
        SlabError::Unchecked { cache, addr } => (Err::Unchecked(cache.clone()), Some(*addr)),
        other => panic!("an error the model never expects: {other:?}"),
    }
}

/// Compares one result with the model's; `addr` is the address an error must name.
fn expect(op: &Op, got: Result<(), SlabError>, want: &Result<(), Err>, addr: Option<usize>) {
    match (got, want) {
        (Ok(()), Ok(())) => {}
        (Err(e), Err(w)) => {
            let (err, at) = model_err(&e);
            assert_eq!(&err, w, "{op:?}: the library returned {e}");
            if let Some(at) = at {
                assert_eq!(Some(at), addr, "{op:?}: the error names the wrong address ({e})");
            }
        }
        (got, want) => panic!("{op:?}: the library returned {got:?}, the model expects {want:?}"),
    }
}

fn args(spec: &Spec) -> KmemCacheArgs {
    KmemCacheArgs::align(spec.align)
}

impl Sut {
    fn new(cfg: model::Config) -> Sut {
        let config = SlabConfig {
            image_statics: model::IMAGE_STATICS,
            slab_nomerge: cfg.nomerge,
            ..SlabConfig::tiny(cfg.scheme, model::NR_CPUS, model::SHEAF_CAPACITY, model::OBJS_PER_SLAB)
        };
        let world_ptr = Box::into_raw(Box::new(World::new(config)));
        // SAFETY: `world_ptr` stays valid until `teardown` (or forever, if a
        // case fails); nothing else frees it or takes it mutably.
        let world = unsafe { &*world_ptr };
        Sut { world_ptr, world, caches: Vec::new(), modules: Vec::new(), objects: Vec::new() }
    }

    fn cache(&self, r: RefPos) -> &KmemCache {
        cache_at(self.world, &self.caches, &self.modules, r)
    }

    /// Runs the model's resolved operation on the library and compares the result.
    fn run(&mut self, step: &Step) {
        let Step { op, expect: want } = step;
        let w = self.world;
        match op {
            Op::Create { name, spec, module } => {
                let result = match module {
                    Some(m) => self.modules[*m].kmem_cache_create(name, spec.size, args(spec), spec.flags),
                    None => w.kmem_cache_create(name, spec.size, args(spec), spec.flags),
                };
                let got = result.map(|c| self.caches.push(c));
                expect(op, got, want, None);
            }
            Op::SetupImage { slot, name, spec } => {
                let got = w.kmem_cache_setup_image(*slot, name, spec.size, args(spec), spec.flags).map(|s| {
                    assert!(std::ptr::eq(s, w.image_static(*slot)), "setup returns the static itself");
                });
                expect(op, got, want, None);
            }
            Op::SetupModuleStatic { module, slot, name, spec } => {
                let m = &self.modules[*module];
                let got = m.kmem_cache_setup(*slot, name, spec.size, args(spec), spec.flags).map(|s| {
                    assert!(std::ptr::eq(s, m.static_cache(*slot)), "setup returns the static itself");
                });
                expect(op, got, want, None);
            }
            Op::LoadModule { name, statics } => self.modules.push(w.module_load(name, *statics)),
            Op::Destroy { handle } => {
                let got = kmem_cache_destroy(self.caches.remove(*handle));
                expect(op, got, want, None);
                if let Err(Err::CacheBusy(name, objects)) = want {
                    self.check_busy_report(name, *objects);
                }
            }
            Op::DestroyModuleStatic { module, slot } => {
                let got = self.modules[*module].kmem_cache_destroy(*slot);
                expect(op, got, want, None);
                if let Err(Err::CacheBusy(name, objects)) = want {
                    self.check_busy_report(name, *objects);
                }
            }
            Op::Unload { module } => {
                let m = self.modules.remove(*module);
                let name = m.name().to_owned();
                let got = match w.module_unload(m) {
                    Ok(()) => Ok(()),
                    Err((e, m)) => {
                        assert_eq!(m.name(), name, "the module comes back intact");
                        self.modules.insert(*module, m);
                        Err(e)
                    }
                };
                expect(op, got, want, None);
            }
            Op::Alloc { via } => {
                let c = self.cache(*via);
                let got = c.alloc().map_err(|e| c.alloc_error(e));
                let got = got.map(|o| self.objects.push(o));
                expect(op, got, want, None);
            }
            Op::Free { obj, via } => {
                let o = self.objects.remove(*obj);
                let addr = o.addr();
                let got = match cache_at(w, &self.caches, &self.modules, *via).free(o) {
                    Ok(()) => Ok(()),
                    Err(refused) => {
                        let (error, object) = refused.into_parts();
                        assert_eq!(object.addr(), addr, "a refused free hands the object back");
                        self.objects.insert(*obj, object);
                        Err(error)
                    }
                };
                expect(op, got, want, Some(addr));
            }
            Op::Kfree { obj } => {
                let o = self.objects.remove(*obj);
                let got = w.kfree(o).map_err(|refused| {
                    let (error, object) = refused.into_parts();
                    self.objects.insert(*obj, object);
                    error
                });
                expect(op, got, want, None);
            }
            Op::Shrink { via } => expect(op, self.cache(*via).shrink(), want, None),
            Op::SetCpu { cpu } => slabmerge::cpu::set_current_cpu(*cpu),
            Op::DoubleFree { via } => {
                let c = self.cache(*via);
                let o = c.alloc().expect("a usable cache allocates");
                let addr = o.addr();
                c.free(o).expect("its own object");
                // SAFETY: the only token for `addr` was consumed by the free
                // above and nothing was allocated since, so no token names it.
                let got = unsafe { w.kfree_addr(addr) };
                expect(op, got, want, Some(addr));
            }
            Op::BadPointer { obj } => {
                let addr = self.objects[*obj].addr() + 8;
                // SAFETY: `addr` is inside a live object but not its start
                // (every stride is at least 24), so no token names it.
                let got = unsafe { w.kfree_addr(addr) };
                expect(op, got, want, Some(addr));
            }
        }
    }

    /// mm/slab_common.c: kmem_cache_destroy(): the WARN, then the BUG report
    /// of __kmem_cache_shutdown() with one line per object left.
    fn check_busy_report(&self, name: &str, objects: usize) {
        let reports = self.world.reports();
        let [.., warn, bug] = &reports[..] else { panic!("a busy destroy reports twice") };
        // The WARN names the destroying creator, and its group (s->name,
        // which the BUG names and the report log checks against the model)
        // when that differs.
        let group = bug.cache.clone().expect("the BUG names the group");
        let who = if group == name { group.clone() } else { format!("{name} (group {group})") };
        assert_eq!(
            warn.message,
            format!("kmem_cache_destroy {who}: Slab cache still has objects when called from kmem_cache_destroy")
        );
        assert!(
            bug.message
                .starts_with(&format!("BUG {group} (Not tainted): Objects remaining on __kmem_cache_shutdown()"))
        );
        assert_eq!(bug.message.lines().filter(|l| l.starts_with("Object 0x")).count(), objects);
    }

    /// Everything the model says is observable, compared.
    fn check(&self, m: &Model) {
        let w = self.world;
        w.check_invariants().unwrap_or_else(|e| panic!("World::check_invariants: {e}"));

        // slab_caches, oldest first (the kmalloc caches stay in front).
        let listed = w.caches();
        let kmalloc: Vec<&str> =
            listed.iter().take_while(|c| c.flags.contains(SLAB_KMALLOC)).map(|c| c.name.as_str()).collect();
        assert_eq!(kmalloc.len(), model::KMALLOC_SIZES.len(), "the kmalloc caches are listed first");
        let got: Vec<CacheView> = listed.iter().skip(kmalloc.len()).map(CacheView::of_library).collect();
        let want: Vec<CacheView> = m
            .slab_caches
            .iter()
            .map(|&id| &m.insts[id])
            .filter(|s| s.kind != Kind::Kmalloc)
            .map(|s| CacheView::of_model(m, s))
            .collect();
        assert_eq!(got, want, "slab_caches");

        // sysfs.
        let got: Vec<(String, Node, bool)> = w
            .sysfs()
            .into_iter()
            .map(|e| {
                let node = match e.node {
                    SysfsNode::Dir => Node::Dir,
                    SysfsNode::Link { target } => Node::Link(target),
                };
                (e.name, node, e.dangling)
            })
            .collect();
        let want: Vec<(String, Node, bool)> = m
            .sysfs
            .iter()
            .map(|(name, (node, _))| {
                let dangling = matches!(node, Node::Link(t) if !matches!(m.sysfs.get(t), Some((Node::Dir, _))));
                (name.clone(), node.clone(), dangling)
            })
            .collect();
        assert_eq!(got, want, "/sys/kernel/slab");

        // Orphans, modules, reports.
        let orphans: Vec<String> = w.orphans().into_iter().map(|c| c.name).collect();
        let want: Vec<String> = m.orphans.iter().map(|&id| m.insts[id].name.clone()).collect();
        assert_eq!(orphans, want, "orphans");
        let mut modules = w.modules();
        modules.sort();
        let mut want: Vec<String> = m.modules.iter().map(|x| x.name.clone()).collect();
        want.sort();
        assert_eq!(modules, want, "loaded modules");
        let reports: Vec<(String, Option<String>)> =
            w.reports().into_iter().map(|r| (r.function.to_owned(), r.cache)).collect();
        assert_eq!(reports, m.reports, "the report log");

        // Handles, statics and what each usable name shares.
        assert_eq!(self.caches.len(), m.handles.len());
        for (c, h) in self.caches.iter().zip(&m.handles) {
            assert_eq!(c.creator_name(), h.name);
        }
        for (slot, s) in m.image.iter().enumerate() {
            let want = if s.is_some() { InstanceState::Live } else { InstanceState::Unused };
            assert_eq!(w.image_static(slot).state(), want, "image static {slot}");
        }
        assert_eq!(self.modules.len(), m.modules.len());
        for (lib, mm) in self.modules.iter().zip(&m.modules) {
            assert_eq!(lib.name(), mm.name);
            for (slot, s) in mm.statics.iter().enumerate() {
                let want = match s {
                    None => InstanceState::Unused,
                    Some(id) => state_of(m.insts[*id].life),
                };
                assert_eq!(lib.static_cache(slot).state(), want, "module {} static {slot}", mm.name);
            }
        }
        let mut storage_of: HashMap<usize, usize> = HashMap::new();
        let mut model_of: HashMap<usize, usize> = HashMap::new();
        for (r, id) in m.usable() {
            let c = self.cache(r);
            let s = &m.insts[id];
            assert_eq!(c.name(), s.name, "{r:?}");
            assert_eq!(c.refcount(), s.refcount, "{r:?} refcount");
            assert_eq!(c.is_alias(), s.primary.is_some(), "{r:?} is_alias");
            let primary = s.primary.map_or(&s.name, |p| &m.insts[p].name);
            assert_eq!(c.primary_cache().map(KmemCache::name).as_ref(), Some(primary), "{r:?} primary");
            let id = c.storage_id().unwrap_or_else(|| panic!("{r:?} is usable"));
            // Names share storage exactly when the model says they do.
            assert_eq!(
                *storage_of.entry(s.storage).or_insert(id),
                id,
                "{r:?}: one model storage, two library storages"
            );
            assert_eq!(*model_of.entry(id).or_insert(s.storage), s.storage, "{r:?}: two model storages share one");
            let live = c.stats().expect("usable").live_objects();
            assert_eq!(live, m.storages[s.storage].live, "{r:?}: live objects of {}", s.name);
        }
        for r in m.unusable() {
            assert_eq!(self.cache(r).storage_id(), None, "{r:?} is not usable");
        }

        // Objects: in use + in sheaves + free on slabs = total, and every
        // object's slab names a listed primary, or an orphan.
        assert_eq!(w.storage_stats().live_objects(), m.live(), "live objects");
        assert_eq!(self.objects.len(), m.objects.len());
        for (o, mo) in self.objects.iter().zip(&m.objects) {
            let owner = w.slab_cache_of(o).unwrap_or_else(|| panic!("{o:?} is in a slab"));
            let want = m.owner(mo.storage);
            assert_eq!(owner.name, want.name, "{o:?}: slab->slab_cache");
            assert!(!owner.is_alias, "{o:?}: a slab names an alias");
            match m.storages[mo.storage].state {
                StorageState::Live => assert!(matches!(owner.state, InstanceState::Live | InstanceState::Headless)),
                StorageState::Orphan => assert_eq!(owner.state, InstanceState::Destroyed),
                StorageState::Released => unreachable!("the model keeps no object in a released storage"),
            }
            if m.cfg.scheme == Scheme::Primary {
                assert_ne!(owner.kind, InstanceKind::ModuleStatic, "{o:?}: a slab points into module memory");
            }
        }
    }

    /// Frees everything, destroys every cache, unloads every module and
    /// powers the world off; nothing may be left.
    fn teardown(mut self, m: &Model) {
        self.release(m);
        self.drop_world();
    }

    /// Frees everything, destroys every cache and unloads every module;
    /// nothing may be left but the image statics' primaries.
    fn release(&mut self, m: &Model) {
        let w = self.world;
        for o in self.objects.drain(..) {
            w.kfree(o).expect("kfree of a live object");
        }
        for (lib, mm) in self.modules.iter_mut().zip(&m.modules) {
            for (slot, s) in mm.statics.iter().enumerate() {
                if s.is_some_and(|id| m.insts[id].life != Life::Destroyed) {
                    lib.kmem_cache_destroy(slot).expect("destroy of an empty module static");
                }
            }
        }
        while let Some(c) = self.caches.pop() {
            kmem_cache_destroy(c).expect("destroy of an empty cache");
        }
        for module in self.modules.drain(..) {
            w.module_unload(module).map_err(|e| e.0).expect("unload of an idle module");
        }
        assert_eq!(w.storage_stats().live_objects(), 0);
        w.check_invariants().expect("invariants after teardown");
        // An image static's primary stays (statics are never destroyed),
        // headless and called by its unique id once its creator went.
        let image_primaries: Vec<String> = (0..m.image.len())
            .filter(|&i| m.image[i].is_some_and(|id| m.insts[id].primary.is_some()))
            .filter_map(|i| w.image_static(i).primary_cache().map(|p| p.name()))
            .collect();
        let left: Vec<String> = w
            .caches()
            .into_iter()
            .filter(|c| !c.flags.contains(SLAB_KMALLOC) && c.kind != InstanceKind::Static && c.refcount > 0)
            .filter(|c| !image_primaries.contains(&c.name))
            .map(|c| c.name)
            .collect();
        assert!(left.is_empty(), "caches left after every creator went: {left:?}");
    }

    /// Powers the world off.
    fn drop_world(self) {
        assert!(self.caches.is_empty() && self.modules.is_empty() && self.objects.is_empty());
        // SAFETY: every handle, module and object borrowing the world is gone.
        drop(unsafe { Box::from_raw(self.world_ptr) });
    }
}

fn state_of(life: Life) -> InstanceState {
    match life {
        Life::Live => InstanceState::Live,
        Life::Headless => InstanceState::Headless,
        Life::Destroyed => InstanceState::Destroyed,
    }
}

/// The part of `CacheInfo` the model predicts.
#[derive(Debug, PartialEq, Eq)]
struct CacheView {
    name: String,
    names: Vec<String>,
    primary: String,
    state: InstanceState,
    kind: InstanceKind,
    refcount: i32,
    object_size: u32,
    size: u32,
    align: u32,
    flags: SlabFlags,
    sysfs_dir: String,
    is_alias: bool,
}

impl CacheView {
    fn of_library(c: &slabmerge::CacheInfo) -> CacheView {
        CacheView {
            name: c.name.clone(),
            names: c.names.clone(),
            primary: c.primary.clone(),
            state: c.state,
            kind: c.kind,
            refcount: c.refcount,
            object_size: c.object_size,
            size: c.size,
            align: c.align,
            flags: c.flags,
            sysfs_dir: c.sysfs_dir.clone(),
            is_alias: c.is_alias,
        }
    }

    fn of_model(m: &Model, s: &Inst) -> CacheView {
        let storage = &m.storages[s.storage];
        CacheView {
            name: s.name.clone(),
            names: s.names.clone(),
            primary: s.primary.map_or_else(|| s.name.clone(), |p| m.insts[p].name.clone()),
            state: state_of(s.life),
            kind: match s.kind {
                Kind::Kmalloc | Kind::Dynamic => InstanceKind::Dynamic,
                Kind::Static => InstanceKind::Static,
                Kind::ModuleStatic => InstanceKind::ModuleStatic,
                Kind::Hidden => InstanceKind::HiddenPrimary,
            },
            refcount: s.refcount,
            object_size: s.object_size,
            size: storage.stride,
            align: s.align,
            flags: s.flags,
            sysfs_dir: storage.dir.clone(),
            is_alias: s.primary.is_some(),
        }
    }
}

/// The library side of the state machine, for configuration `R`.
struct SlabMachine<R>(PhantomData<R>);

impl<R: Run> StateMachineTest for SlabMachine<R> {
    type SystemUnderTest = Sut;
    type Reference = ModelMachine<R>;

    fn init_test(_: &Model) -> Sut {
        Sut::new(R::CONFIG)
    }

    fn apply(mut sut: Sut, model: &Model, _: Transition) -> Sut {
        sut.run(model.step.as_ref().expect("the model resolved the transition"));
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        sut.check(model);
    }

    fn teardown(sut: Sut, model: Model) {
        sut.teardown(&model);
    }
}

prop_state_machine! {
    #![proptest_config(config())]

    /// mm/slab_common.c: __kmem_cache_create_args(), find_mergeable(), kmem_cache_destroy() (mainline).
    #[test]
    fn mainline_agrees_with_the_model(sequential 1..40 => SlabMachine<Mainline>);

    /// Al Viro v3 02/10, 03/10: statics never alias; module statics are unmergeable both ways.
    #[test]
    fn viro_v3_agrees_with_the_model(sequential 1..40 => SlabMachine<ViroV3>);

    /// Al Viro v1 01/15: every static instance is SLAB_NO_MERGE.
    #[test]
    fn viro_v1_agrees_with_the_model(sequential 1..40 => SlabMachine<ViroV1>);

    /// Babka's primary_cache: aliases are separate instances sharing the primary's storage.
    #[test]
    fn primary_agrees_with_the_model(sequential 1..40 => SlabMachine<Primary>);

    /// mm/slab_common.c: slab_unmergeable(): slab_nomerge.
    #[test]
    fn slab_nomerge_agrees_with_the_model(sequential 1..40 => SlabMachine<Nomerge>);
}

/// A module static destroyed with objects left (v3, v1: `CacheBusy`; the
/// instance is kept, unlisted, for those objects) is destroyed all the same:
/// using it again is refused with `CacheDestroyed`, as it is for a module
/// static destroyed clean, and it names no storage; its objects stay valid
/// for `kfree()`. The model expects this; the state machines do not
/// generate such uses until the library agrees.
/// mm/slab_common.c: kmem_cache_destroy() (the cache is leaked for its objects, not reusable).
#[test]
fn destroyed_module_static_with_objects_left_is_unusable() {
    for scheme in [Scheme::ViroV3, Scheme::ViroV1] {
        let w = World::new(SlabConfig::tiny(scheme, 2, 4, 8));
        let mut m = w.module_load("ext4", 1);
        let o = m.kmem_cache_setup(0, "m", 64, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap().alloc().unwrap();
        assert!(matches!(m.kmem_cache_destroy(0), Err(SlabError::CacheBusy { objects: 1, .. })));
        let s = m.static_cache(0);
        assert_eq!(s.state(), InstanceState::Destroyed);
        let alloc = s.alloc().map(|extra| w.kfree(extra).map_err(|e| e.into_parts().0)).map_err(|e| s.alloc_error(e));
        let shrink = s.shrink();
        let storage = s.storage_id();
        let free = s.free(o);
        let o = match free {
            Ok(()) => None,
            Err(e) if matches!(e.error(), SlabError::CacheDestroyed { .. }) => Some(e.into_object()),
            Err(e) => panic!("{scheme:?}: {e}"),
        };
        let refused = o.is_some();
        if let Some(o) = o {
            w.kfree(o).unwrap();
        }
        assert!(matches!(alloc, Err(SlabError::CacheDestroyed { .. })), "{scheme:?}: alloc {alloc:?}");
        assert!(matches!(shrink, Err(SlabError::CacheDestroyed { .. })), "{scheme:?}: shrink {shrink:?}");
        assert_eq!(storage, None, "{scheme:?}: storage_id");
        assert!(refused, "{scheme:?}: kmem_cache_free through the destroyed static was accepted");
        w.module_unload(m).map_err(|e| e.0).unwrap();
    }
}

/// A module may name a static and a dynamic cache alike (the kernel allows
/// duplicate names). Destroying the static leaves the dynamic cache a cache
/// of the module, so the module still cannot unload.
/// kernel/module/main.c: delete_module(), refused here while a cache of the module lives.
#[test]
fn module_static_destroy_keeps_a_same_named_dynamic_cache_of_the_module() {
    for scheme in [Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary] {
        let w = World::new(SlabConfig::tiny(scheme, 2, 4, 8));
        let mut m = w.module_load("mod0", 1);
        m.kmem_cache_setup(0, "m1", 24, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        let dm = m.kmem_cache_create("m1", 24, KmemCacheArgs::default(), SlabFlags::EMPTY).unwrap();
        m.kmem_cache_destroy(0).unwrap();
        let refused = w.module_unload(m);
        let busy = refused.as_ref().err().map(|(e, _)| e.clone());
        kmem_cache_destroy(dm).unwrap();
        if let Err((_, m)) = refused {
            w.module_unload(m).map_err(|e| e.0).unwrap();
        }
        assert_eq!(
            busy,
            Some(SlabError::ModuleBusy { module: "mod0".into(), caches: vec!["m1".into()] }),
            "{scheme:?}: the module unloaded under its live dynamic cache"
        );
    }
}

// ---------------------------------------------------------------------------
// Every create/destroy order, primary scheme
// ---------------------------------------------------------------------------

/// One step of the exhaustive orders: the creation or destruction of one of a
/// fixed set of compatible caches (64 bytes, no flags) of every kind, or the
/// module's unload. Each creation also allocates an object through the new
/// instance. D's and DM's object is freed (`kfree()`) just before its
/// destroy; M's outlives M and the unload (no slab may point into module
/// memory); S's lives to the end (an image static is never destroyed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// `kmem_cache_create("d1")` / `"d2"`.
    CreateD(usize),
    /// `kmem_cache_destroy()` of `d1` / `d2`.
    DestroyD(usize),
    /// `kmem_cache_setup()` of image static slot `i` (`"s1"` for 0).
    SetupS(usize),
    /// `kmem_cache_setup()` of the module's static.
    SetupM,
    /// `Module::kmem_cache_destroy()` of the module's static.
    DestroyM,
    /// `kmem_cache_create("dm")` from the module.
    CreateDM,
    /// `kmem_cache_destroy()` of `dm`.
    DestroyDM,
    /// `delete_module`.
    Unload,
}

/// The alphabet, in the order the enumeration tries it.
const ORDERS: [Order; 10] = [
    Order::CreateD(0),
    Order::CreateD(1),
    Order::DestroyD(0),
    Order::DestroyD(1),
    Order::SetupS(0),
    Order::SetupM,
    Order::DestroyM,
    Order::CreateDM,
    Order::DestroyDM,
    Order::Unload,
];

/// Steps per order (not counting the module load every order starts with):
/// 6, or `SLABMERGE_ORDER_DEPTH` (`scripts/valgrind.sh` runs fewer).
fn order_depth() -> usize {
    std::env::var("SLABMERGE_ORDER_DEPTH").ok().and_then(|v| v.parse().ok()).unwrap_or(6)
}

const COMPATIBLE: Spec = Spec { size: 64, align: 0, flags: SlabFlags::EMPTY };

/// The model's operations for `order` in state `m`, or `None` where the order
/// has no meaning: each cache is created at most once and destroyed only
/// after its creation; the module's caches exist only while it is loaded;
/// an unload is not retried before something else happened.
fn order_ops(m: &Model, done: &[Order], order: Order) -> Option<Vec<Op>> {
    let handle = |name: &str| m.handles.iter().position(|h| h.name == name);
    let object_of = |key: model::RefKey| m.objects.iter().position(|o| o.via == key);
    let loaded = !m.modules.is_empty();
    if done.contains(&order) && order != Order::Unload {
        return None;
    }
    let created = |o: Order| done.contains(&o);
    Some(match order {
        Order::CreateD(i) => {
            let name = format!("d{}", i + 1);
            vec![
                Op::Create { name, spec: COMPATIBLE, module: None },
                Op::Alloc { via: RefPos::Handle(m.handles.len()) },
            ]
        }
        Order::DestroyD(i) => {
            let pos = handle(&format!("d{}", i + 1)).filter(|_| created(Order::CreateD(i)))?;
            let mut ops = Vec::new();
            if let Some(obj) = object_of(model::RefKey::Handle(m.handles[pos].key)) {
                ops.push(Op::Kfree { obj });
            }
            ops.push(Op::Destroy { handle: pos });
            ops
        }
        Order::SetupS(slot) => vec![
            Op::SetupImage { slot, name: format!("s{}", slot + 1), spec: COMPATIBLE },
            Op::Alloc { via: RefPos::Image(slot) },
        ],
        Order::SetupM if loaded => vec![
            Op::SetupModuleStatic { module: 0, slot: 0, name: "m".into(), spec: COMPATIBLE },
            Op::Alloc { via: RefPos::ModuleStatic(0, 0) },
        ],
        Order::DestroyM if loaded && created(Order::SetupM) => vec![Op::DestroyModuleStatic { module: 0, slot: 0 }],
        Order::CreateDM if loaded => vec![
            Op::Create { name: "dm".into(), spec: COMPATIBLE, module: Some(0) },
            Op::Alloc { via: RefPos::Handle(m.handles.len()) },
        ],
        Order::DestroyDM if loaded && created(Order::CreateDM) => {
            let pos = handle("dm")?;
            let mut ops = Vec::new();
            if let Some(obj) = object_of(model::RefKey::Handle(m.handles[pos].key)) {
                ops.push(Op::Kfree { obj });
            }
            ops.push(Op::Destroy { handle: pos });
            ops
        }
        Order::Unload if loaded && done.last() != Some(&Order::Unload) => vec![Op::Unload { module: 0 }],
        _ => return None,
    })
}

/// The model at the start of every order: a booted world and the module loaded.
fn order_start() -> (Model, Vec<Op>) {
    let mut m = Model::new(model::Config { scheme: Scheme::Primary, nomerge: false });
    let load = Op::LoadModule { name: "mod".into(), statics: 1 };
    m.exec(&load).expect("load");
    (m, vec![load])
}

/// Every order of `depth` steps (or fewer, where nothing more can be done),
/// depth first in `ORDERS`' order, by the model's reckoning alone.
fn every_order(m: &Model, depth: usize, done: &mut Vec<Order>, out: &mut Vec<Vec<Order>>) {
    let next: Vec<(Order, Vec<Op>)> = if done.len() == depth {
        Vec::new()
    } else {
        ORDERS.iter().filter_map(|&o| order_ops(m, done, o).map(|ops| (o, ops))).collect()
    };
    if next.is_empty() {
        out.push(done.clone());
        return;
    }
    for (order, ops) in next {
        let mut m = m.clone();
        for op in &ops {
            let _ = m.exec(op);
        }
        done.push(order);
        every_order(&m, depth, done, out);
        done.pop();
    }
}

/// Every interleaving of creating and destroying two dynamic caches, an
/// image static, a module static and a module's dynamic cache, all
/// compatible, with the module's unload, up to `order_depth()` steps, under
/// the primary scheme (`design/primary-cache.md` gives the count).
///
/// Each order runs in a fresh world. Every operation's result must be the
/// model's, and after every step of every order `World::check_invariants`
/// must hold. The whole comparison with the model (`slab_caches`,
/// refcounts, primaries, sysfs, orphans, the report log, `slab->slab_cache`
/// of every object) runs on every state once: orders come depth first, so
/// an order's states up to where it leaves the previous order are the
/// states the previous order reached by the same operations, compared then. At the end of every order every object is
/// freed, every cache destroyed and the module unloaded: nothing may be
/// left but the image static's primary; once that is shrunk and the orphans
/// reaped, every slab page is back, and the world's reports are exactly the
/// model's. mm/slab_common.c: __kmem_cache_create_args(),
/// __kmem_cache_alias(), kmem_cache_destroy(); design-thread.md §4 items 1–16.
#[test]
fn primary_every_create_destroy_order() {
    let started = std::time::Instant::now();
    let (start, load) = order_start();
    let mut orders = Vec::new();
    let depth = order_depth();
    every_order(&start, depth, &mut Vec::new(), &mut orders);
    let (mut operations, mut steps, mut compared) = (0, 0, 0);
    let mut previous: &[Order] = &[];
    for order in &orders {
        let shared = order.iter().zip(previous).take_while(|(a, b)| a == b).count();
        previous = order;
        let (mut m, _) = order_start();
        let mut sut = Sut::new(m.cfg);
        let base = sut.world.pages();
        for op in &load {
            sut.run(&Step { op: op.clone(), expect: Ok(()) });
        }
        let mut done = Vec::new();
        for (k, &o) in order.iter().enumerate() {
            let ops = order_ops(&m, &done, o).unwrap_or_else(|| panic!("{order:?}: {o:?} has no meaning at {done:?}"));
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for op in &ops {
                    let expect = m.exec(op);
                    m.self_check();
                    sut.run(&Step { op: op.clone(), expect });
                }
                sut.world.check_invariants().unwrap_or_else(|e| panic!("World::check_invariants: {e}"));
                if k >= shared {
                    sut.check(&m);
                }
            }));
            if run.is_err() {
                panic!("order {order:?}: step {o:?} ({ops:?}) after {done:?}");
            }
            operations += ops.len();
            steps += 1;
            compared += usize::from(k >= shared);
            done.push(o);
        }
        let world = sut.world;
        let statics: Vec<usize> = (0..m.image.len()).filter(|&i| m.image[i].is_some()).collect();
        sut.release(&m);
        for slot in statics {
            world.image_static(slot).shrink().unwrap_or_else(|e| panic!("{order:?}: shrink of s{}: {e}", slot + 1));
        }
        // Orphans whose objects are gone are released at the next unload
        // attempt (or with the world): a module loaded and unloaded for that.
        world.module_unload(world.module_load("reap", 0)).map_err(|e| e.0).expect("an empty module unloads");
        assert!(world.orphans().is_empty(), "{order:?}: orphans left: {:?}", world.orphans());
        assert_eq!(world.pages(), base, "{order:?}: slab pages left after every cache went");
        let reports: Vec<(String, Option<String>)> =
            world.reports().into_iter().map(|r| (r.function.to_owned(), r.cache)).collect();
        assert_eq!(reports, m.reports, "{order:?}: the reports are the model's, and teardown adds none");
        sut.drop_world();
    }
    let mut seen: Vec<Order> = orders.iter().flatten().copied().collect();
    seen.sort_by_key(|o| ORDERS.iter().position(|x| x == o));
    seen.dedup();
    if depth >= 2 {
        assert_eq!(seen, ORDERS, "every kind of step occurs");
    }
    eprintln!(
        "primary_every_create_destroy_order: {} orders of up to {depth} steps: {steps} steps \
         ({operations} operations), {compared} states compared with the model, {:.1} s",
        orders.len(),
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// Cross-scheme properties on creation sequences
// ---------------------------------------------------------------------------

/// Who creates a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Creator {
    Dynamic,
    ImageStatic,
    ModuleStatic,
    ModuleDynamic,
}

fn creations() -> impl Strategy<Value = Vec<(Creator, Spec)>> {
    let creator = prop_oneof![
        3 => Just(Creator::Dynamic),
        2 => Just(Creator::ImageStatic),
        1 => Just(Creator::ModuleStatic),
        1 => Just(Creator::ModuleDynamic),
    ];
    let spec = (
        proptest::sample::select(&model::SIZES[..]),
        proptest::sample::select(&model::ALIGNS[..]),
        proptest::sample::select(&model::FLAGS[..]),
    )
        .prop_map(|(size, align, flags)| Spec { size, align, flags });
    proptest::collection::vec((creator, spec), 1..24)
}

/// Creates the sequence under `scheme` and returns, for each name, the
/// first name that shares its storage. Mainline has no statics: they are
/// created as dynamic caches (module statics by the module), as the replay does.
fn partition(scheme: Scheme, nomerge: bool, seq: &[(Creator, Spec)]) -> Vec<usize> {
    let n = seq.len();
    let w = World::new(SlabConfig { image_statics: n, slab_nomerge: nomerge, ..SlabConfig::with_scheme(scheme) });
    let mut module = w.module_load("mod", n);
    let mut handles = Vec::new();
    let mut ids = Vec::new();
    let mut statics = Vec::new();
    for (i, (creator, spec)) in seq.iter().enumerate() {
        let name = format!("c{i}");
        let (size, a, flags) = (spec.size, args(spec), spec.flags);
        let as_dynamic = scheme == Scheme::Mainline;
        let id = match creator {
            Creator::ImageStatic if !as_dynamic => {
                w.kmem_cache_setup_image(i, &name, size, a, flags).unwrap().storage_id()
            }
            Creator::ModuleStatic if !as_dynamic => {
                statics.push(i);
                module.kmem_cache_setup(i, &name, size, a, flags).unwrap().storage_id()
            }
            Creator::ModuleStatic | Creator::ModuleDynamic => {
                let c = module.kmem_cache_create(&name, size, a, flags).unwrap();
                let id = c.storage_id();
                handles.push(c);
                id
            }
            Creator::Dynamic | Creator::ImageStatic => {
                let c = w.kmem_cache_create(&name, size, a, flags).unwrap();
                let id = c.storage_id();
                handles.push(c);
                id
            }
        };
        ids.push(id.expect("a new cache is usable"));
    }
    for i in statics {
        module.kmem_cache_destroy(i).unwrap();
    }
    while let Some(c) = handles.pop() {
        kmem_cache_destroy(c).unwrap();
    }
    w.module_unload(module).map_err(|e| e.0).unwrap();
    (0..n).map(|i| ids.iter().position(|&x| x == ids[i]).unwrap()).collect()
}

proptest! {
    #![proptest_config(config())]

    /// Babka's primary_cache design returns to mainline's merging in every
    /// creation order: the same names share storage.
    /// mm/slab_common.c: find_mergeable() (the primary scheme only redirects aliases).
    #[test]
    fn primary_shares_storage_exactly_as_mainline(seq in creations()) {
        prop_assert_eq!(partition(Scheme::Primary, false, &seq), partition(Scheme::Mainline, false, &seq));
    }

    /// Al Viro v3 loses exactly the merges in which a static instance would
    /// have joined an existing cache (v3 02/10 __kmem_cache_alias(): "no
    /// aliases") or a module static is involved (v3 03/10); every other pair
    /// of names shares storage as in mainline.
    #[test]
    fn viro_v3_loses_exactly_the_static_joins_and_module_static_merges(seq in creations()) {
        let mainline = partition(Scheme::Mainline, false, &seq);
        let v3 = partition(Scheme::ViroV3, false, &seq);
        // A name is displaced if it is a module static, or an image static
        // whose mainline group already had an older name it could have joined
        // (a module static is never such a target in v3).
        let displaced: Vec<bool> = (0..seq.len())
            .map(|i| match seq[i].0 {
                Creator::ModuleStatic => true,
                Creator::ImageStatic => (0..i).any(|j| mainline[j] == mainline[i] && seq[j].0 != Creator::ModuleStatic),
                _ => false,
            })
            .collect();
        for i in 0..seq.len() {
            for j in 0..i {
                let want = mainline[i] == mainline[j] && !displaced[i] && !displaced[j];
                prop_assert_eq!(v3[i] == v3[j], want, "c{} and c{}: mainline {:?}, v3 {:?}", j, i, mainline, v3);
            }
        }
    }

    /// Al Viro v1 01/15: SLAB_NO_MERGE on every static: a static shares
    /// with nobody; dynamic caches share as in mainline.
    #[test]
    fn viro_v1_loses_every_merge_of_a_static(seq in creations()) {
        let mainline = partition(Scheme::Mainline, false, &seq);
        let v1 = partition(Scheme::ViroV1, false, &seq);
        let is_static = |i: usize| matches!(seq[i].0, Creator::ImageStatic | Creator::ModuleStatic);
        for i in 0..seq.len() {
            for j in 0..i {
                let want = mainline[i] == mainline[j] && !is_static(i) && !is_static(j);
                prop_assert_eq!(v1[i] == v1[j], want, "c{} and c{}", j, i);
            }
        }
    }

    /// mm/slab_common.c: slab_unmergeable()/find_mergeable(): with
    /// slab_nomerge no two names share storage, in any scheme.
    #[test]
    fn slab_nomerge_merges_nothing_in_any_scheme(seq in creations()) {
        for scheme in [Scheme::Mainline, Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary] {
            let p = partition(scheme, true, &seq);
            prop_assert_eq!(p, (0..seq.len()).collect::<Vec<_>>(), "{:?}", scheme);
        }
    }
}

// ---------------------------------------------------------------------------
// Parsers: a corrupted line is named
// ---------------------------------------------------------------------------

const TRACE: &str = include_str!("../data/slab-trace-linux-6.18-x86_64.tsv");
const CENSUS: &str = include_str!("../data/slab-census-linux-6.18-x86_64.tsv");

/// One corruption of one line.
#[derive(Clone, Debug)]
enum Corruption {
    /// A numeric column gets this text.
    NotANumber(&'static str),
    /// One field is dropped.
    DropField(Index),
    /// The flags (trace) or kind (census) column gets an unknown word.
    UnknownWord(String, bool),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    let known: Vec<&str> = ALL_NAMED.iter().map(|(n, _)| *n).collect();
    prop_oneof![
        proptest::sample::select(vec!["", "abc", "-1", "4x", "0x40", "1e3", "99999999999", "6 4"])
            .prop_map(Corruption::NotANumber),
        any::<Index>().prop_map(Corruption::DropField),
        ("SLAB_[A-Z]{3,10}", any::<bool>())
            .prop_filter("not a real flag", move |(w, _)| !known.contains(&w.as_str()) && w != "SLAB_TEMPORARY")
            .prop_map(|(w, append)| Corruption::UnknownWord(w, append)),
    ]
}

/// Applies `c` to data line `line` (0-based in `lines`) at the given columns.
fn corrupt(lines: &mut [String], line: usize, c: &Corruption, number_col: usize, word_col: usize) {
    let mut fields: Vec<String> = lines[line].split('\t').map(str::to_owned).collect();
    match c {
        Corruption::NotANumber(text) => fields[number_col] = (*text).to_owned(),
        Corruption::DropField(i) => {
            fields.remove(i.index(fields.len()));
        }
        Corruption::UnknownWord(word, append) => {
            fields[word_col] = if *append { format!("{}|{word}", fields[word_col]) } else { word.clone() }
        }
    }
    lines[line] = fields.join("\t");
}

fn column(header: &str, name: &str) -> usize {
    header.split('\t').position(|c| c == name).unwrap()
}

/// The column an error about `c` must name.
fn names_the_column(message: &str, c: &Corruption, number: &str, word: &str) -> bool {
    match c {
        Corruption::NotANumber(_) => message.contains(&format!("`{number}`")),
        Corruption::DropField(_) => message.contains("tab-separated fields"),
        Corruption::UnknownWord(..) => message.contains(&format!("`{word}`")),
    }
}

proptest! {
    #![proptest_config(config())]

    /// The trace parser refuses one corrupted line (a non-numeric size, a
    /// dropped field, an unknown flag) with an error naming that line and column.
    #[test]
    fn trace_corruption_names_the_line(pick in any::<Index>(), c in corruption()) {
        let mut lines: Vec<String> = TRACE.lines().map(str::to_owned).collect();
        let line = 1 + pick.index(lines.len() - 1);
        let (size, flags) = (column(&lines[0], "size"), column(&lines[0], "flags"));
        corrupt(&mut lines, line, &c, size, flags);
        let e = Trace::parse(&lines.join("\n")).expect_err("a corrupted trace is refused");
        prop_assert_eq!(e.line, line + 1, "{}", e);
        let prefix = format!("line {}: ", line + 1);
        prop_assert!(e.to_string().starts_with(&prefix), "{}", e);
        prop_assert!(names_the_column(&e.message, &c, "size", "flags"), "{}", e);
    }

    /// The census parser refuses one corrupted line (a non-numeric
    /// object_size, a dropped field, an unknown kind) with an error naming that line.
    #[test]
    fn census_corruption_names_the_line(pick in any::<Index>(), c in corruption()) {
        let mut lines: Vec<String> = CENSUS.lines().map(str::to_owned).collect();
        let (object_size, kind) = (column(&lines[0], "object_size"), column(&lines[0], "kind"));
        // Numbers live on directory rows only, and a short alias row with a
        // wrong kind is refused for its length: corrupt columns of directory rows.
        let candidates: Vec<usize> = (1..lines.len())
            .filter(|&l| matches!(c, Corruption::DropField(_)) || lines[l].split('\t').nth(kind) == Some("cache"))
            .collect();
        let line = candidates[pick.index(candidates.len())];
        corrupt(&mut lines, line, &c, object_size, kind);
        let e = Census::parse(&lines.join("\n")).expect_err("a corrupted census is refused");
        prop_assert_eq!(e.line, line + 1, "{}", e);
        prop_assert!(names_the_column(&e.message, &c, "object_size", "kind"), "{}", e);
    }
}
