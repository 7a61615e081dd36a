//! The primary-cache lifecycle: which sysfs entries each instance owns and
//! removes, what a headless primary is called, and what destroy reports
//! name (`design/primary-cache.md`).

use slabmerge::flags::*;
use slabmerge::sysfs::SysfsNode;
use slabmerge::{Scheme, World, kmem_cache_destroy};

mod common;
use common::{create, world_of};

/// The sysfs tree without the kmalloc caches, one string per entry.
fn tree(w: &World) -> Vec<String> {
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

/// Two live primaries of the same name (mm/slab_common.c allows it; only
/// kmem_cache_sanity_check() under DEBUG_VM warns). The second one's
/// sysfs_slab_alias() took the name over, so the link is the second's: the
/// first one's destroy must leave it alone.
#[test]
fn destroying_a_primary_leaves_the_link_a_same_named_primary_owns() {
    let w = world_of(Scheme::Primary);
    let small = create(&w, "foo", 64, SlabFlags::EMPTY);
    let large = create(&w, "foo", 128, SlabFlags::EMPTY);
    assert_eq!(tree(&w), ["dir :0000064", "dir :0000128", "foo -> :0000128"]);
    kmem_cache_destroy(small).unwrap();
    assert_eq!(tree(&w), ["dir :0000128", "foo -> :0000128"], "the second foo keeps its link");
    kmem_cache_destroy(large).unwrap();
    assert!(tree(&w).is_empty(), "{:?}", tree(&w));
    w.check_invariants().unwrap();
}

/// The same for alias instances: an alias of another group named like a
/// live primary removes only its own link.
#[test]
fn destroying_an_alias_leaves_the_link_a_same_named_alias_owns() {
    let w = world_of(Scheme::Primary);
    let p64 = create(&w, "p64", 64, SlabFlags::EMPTY);
    let p128 = create(&w, "p128", 128, SlabFlags::EMPTY);
    let a = create(&w, "bar", 64, SlabFlags::EMPTY);
    let b = create(&w, "bar", 128, SlabFlags::EMPTY);
    assert!(a.is_alias() && b.is_alias());
    assert_eq!(tree(&w), ["dir :0000064", "dir :0000128", "bar -> :0000128", "p128 -> :0000128", "p64 -> :0000064"]);
    kmem_cache_destroy(a).unwrap();
    assert_eq!(tree(&w), ["dir :0000064", "dir :0000128", "bar -> :0000128", "p128 -> :0000128", "p64 -> :0000064"]);
    kmem_cache_destroy(b).unwrap();
    assert_eq!(tree(&w), ["dir :0000064", "dir :0000128", "p128 -> :0000128", "p64 -> :0000064"]);
    drop((p64, p128));
}
