//! Helpers shared by the integration tests: worlds and caches made the one
//! way every test makes them. (Each test crate uses a subset.)
#![allow(dead_code)]

use slabmerge::replay::StaticSet;
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
