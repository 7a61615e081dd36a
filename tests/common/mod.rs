//! Helpers shared by the integration tests: worlds and caches made the one
//! way every test makes them. (Each test crate uses a subset.)
#![allow(dead_code)]

use slabmerge::replay::StaticSet;
use slabmerge::sysfs::SysfsNode;
use slabmerge::{Cache, KmemCacheArgs, Scheme, SlabConfig, World, flags::SlabFlags};

/// A booted world of the default (mainline, 6.18) configuration.
pub fn world() -> World {
    World::new(SlabConfig::default())
}

/// A booted world of `scheme`.
pub fn world_of(scheme: Scheme) -> World {
    World::new(SlabConfig::with_scheme(scheme))
}

/// A booted world of `cfg`.
pub fn world_with(cfg: SlabConfig) -> World {
    World::new(cfg)
}

/// A bare world of `scheme` with room for the static set's image statics,
/// as a trace replay needs it.
pub fn replay_world(scheme: Scheme, statics: &StaticSet) -> World {
    World::bare(SlabConfig { image_statics: statics.image_slots(), ..SlabConfig::with_scheme(scheme) })
}

/// `kmem_cache_create(name, size, 0, flags, NULL)`, which must succeed.
pub fn create<'w>(w: &'w World, name: &str, size: u32, flags: SlabFlags) -> Cache<'w> {
    w.kmem_cache_create(name, size, KmemCacheArgs::default(), flags)
        .unwrap_or_else(|e| panic!("kmem_cache_create({name}, {size}, {flags}): {e}"))
}

/// The sysfs tree without the kmalloc caches, one string per entry:
/// `"dir NAME"`, `"NAME -> TARGET"`, or `"NAME -> TARGET (dangling)"` for a
/// link whose directory is gone.
pub fn tree(w: &World) -> Vec<String> {
    w.sysfs()
        .into_iter()
        .filter(|e| !e.name.starts_with("kmalloc-"))
        .map(|e| match e.node {
            SysfsNode::Dir => format!("dir {}", e.name),
            SysfsNode::Link { target } if e.dangling => format!("{} -> {target} (dangling)", e.name),
            SysfsNode::Link { target } => format!("{} -> {target}", e.name),
        })
        .collect()
}

/// Whether the test runs under valgrind (`scripts/valgrind.sh` sets
/// `SLABMERGE_VALGRIND`; a bare `valgrind` run shows in the preload or the
/// maps). Tests that leave memory for ever on purpose, as the kernel leaks
/// it, skip that part there: memcheck would report it lost.
pub fn under_valgrind() -> bool {
    std::env::var_os("SLABMERGE_VALGRIND").is_some()
        || std::env::var("LD_PRELOAD").is_ok_and(|v| v.contains("valgrind"))
        || std::fs::read_to_string("/proc/self/maps").is_ok_and(|m| m.contains("vgpreload"))
}

/// Runs `f` on the report input of the bundled trace, its v3 static set and
/// the bundled census, labelled as the binary labels them.
pub fn with_bundled_input<R>(f: impl FnOnce(&slabmerge::report::ReportInput<'_>) -> R) -> R {
    let trace = slabmerge::trace::Trace::bundled();
    let statics = StaticSet::v3(&trace);
    let census = slabmerge::census::Census::bundled();
    let input = slabmerge::report::ReportInput {
        trace: &trace,
        trace_label: "the bundled Linux 6.18 x86_64 boot trace".to_owned(),
        statics: &statics,
        census: &census,
        census_label: "the bundled 6.18 census".to_owned(),
        snapshot: None,
        notes: Vec::new(),
    };
    f(&input)
}
