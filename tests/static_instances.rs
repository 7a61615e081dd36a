//! Static instances in real Rust `static` items (Al Viro's series): a
//! `const fn` constructor, no heap allocation for the instance, set up later.

use slabmerge::flags::*;
use slabmerge::{InstanceKind, KmemCache, KmemCacheArgs, Scheme, SlabConfig, SlabError, World};

#[allow(dead_code)]
#[repr(C)]
struct FsStruct {
    users: u32,
    lock: u32,
    umask: u32,
    in_exec: u32,
    root: [u64; 2],
    pwd: [u64; 2],
}

#[allow(dead_code)]
#[repr(C)]
struct Dentry {
    d_flags: u32,
    d_seq: u32,
    d_hash: [u64; 2],
    d_parent: u64,
    d_iname: [u8; 40],
    rest: [u64; 16],
}

static FS_CACHEP: KmemCache = KmemCache::new();
static DENTRY_CACHE: KmemCache = KmemCache::new();
static NAMES_CACHE: KmemCache = KmemCache::new();
static PRIMARY_STATIC: KmemCache = KmemCache::new();

/// v3 02/10 KMEM_CACHE_SETUP(): name, size and alignment from the struct; the
/// instance lives at the static's address and allocation goes through it.
#[test]
fn kmem_cache_setup_type_uses_the_static_itself() {
    let w = World::new(SlabConfig::with_scheme(Scheme::ViroV3));
    w.kmem_cache_setup_type::<FsStruct>(&FS_CACHEP, SLAB_PANIC | SLAB_ACCOUNT).unwrap();
    assert_eq!(FS_CACHEP.name(), "FsStruct");
    assert_eq!(FS_CACHEP.object_size(), size_of::<FsStruct>() as u32);
    assert_eq!(FS_CACHEP.kind(), InstanceKind::Static);
    assert!(FS_CACHEP.flags().contains(SLAB_PREALLOCATED));
    let o = FS_CACHEP.alloc().unwrap();
    assert_eq!(o.addr() % align_of::<FsStruct>(), 0);
    let owner = w.slab_cache_of(&o).unwrap();
    assert_eq!(owner.name, "FsStruct");
    FS_CACHEP.free(o).unwrap();
    // A later compatible dynamic cache merges into the static (v3 keeps it a target).
    let d =
        w.kmem_cache_create("fs_like", size_of::<FsStruct>() as u32, KmemCacheArgs::default(), SLAB_ACCOUNT).unwrap();
    assert!(std::ptr::eq(&*d, &FS_CACHEP));
    assert_eq!(FS_CACHEP.refcount(), 2);
    drop(d);
    assert_eq!(FS_CACHEP.refcount(), 1);
    // A second setup is refused (the thread left this unchecked).
    assert!(matches!(
        w.kmem_cache_setup_type::<FsStruct>(&FS_CACHEP, SLAB_PANIC | SLAB_ACCOUNT),
        Err(SlabError::AlreadySetUp { .. })
    ));
}

/// v3 02/10 kmem_cache_setup_usercopy() / KMEM_CACHE_SETUP_USERCOPY(): a whitelist
/// makes the instance unmergeable under CONFIG_HARDENED_USERCOPY.
#[test]
fn kmem_cache_setup_usercopy_whitelists_a_field() {
    let w = World::new(SlabConfig::with_scheme(Scheme::ViroV3));
    let offset = std::mem::offset_of!(Dentry, d_iname);
    w.kmem_cache_setup_type_usercopy::<Dentry>(&DENTRY_CACHE, SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT, offset, 40).unwrap();
    assert_eq!(DENTRY_CACHE.name(), "Dentry");
    let d = w
        .kmem_cache_create(
            "dentry_like",
            size_of::<Dentry>() as u32,
            KmemCacheArgs::default(),
            SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
        )
        .unwrap();
    assert_ne!(d.storage_id(), DENTRY_CACHE.storage_id(), "usercopy: never a target");

    w.kmem_cache_setup_usercopy(&NAMES_CACHE, "names_cache", 4096, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC, 0, 4096, None)
        .unwrap();
    let mut o = NAMES_CACHE.alloc().unwrap();
    NAMES_CACHE.object_bytes(&mut o).unwrap()[4095] = 7;
    NAMES_CACHE.free(o).unwrap();
}

/// The primary scheme: a static in the kernel image joins an existing primary as
/// an alias and keeps its static address; its objects' slabs name the primary.
#[test]
fn primary_scheme_static_joins_an_existing_primary() {
    let w = World::new(SlabConfig::with_scheme(Scheme::Primary));
    let d = w.kmem_cache_create("anon_vma_chain", 64, KmemCacheArgs::default(), SLAB_PANIC | SLAB_ACCOUNT).unwrap();
    w.kmem_cache_setup(&PRIMARY_STATIC, "fs_cache", 56, KmemCacheArgs::default(), SLAB_PANIC | SLAB_ACCOUNT).unwrap();
    // 56 rounds to 56, not 64: no merge; the static becomes a primary itself.
    assert!(!PRIMARY_STATIC.is_alias());
    let again = w.kmem_cache_create("fs_like", 56, KmemCacheArgs::default(), SLAB_ACCOUNT).unwrap();
    assert!(std::ptr::eq(again.primary_cache().unwrap(), &PRIMARY_STATIC), "the static is a primary for later caches");
    let o = again.alloc().unwrap();
    assert_eq!(w.slab_cache_of(&o).unwrap().name, "fs_cache");
    PRIMARY_STATIC.free(o).unwrap();
    drop(again);
    drop(d);
    w.check_invariants().unwrap();
}

/// Image statics by name, as kernel code names its static instances by
/// symbol (`&dentry_cache`), not by a slot: set up without choosing a slot,
/// found again by the name; refused with `-ENOMEM`, changing nothing, when
/// the image has no unused static left.
#[test]
fn image_statics_are_addressed_by_name() {
    for scheme in [Scheme::ViroV3, Scheme::ViroV1, Scheme::Primary] {
        let w = World::new(SlabConfig { image_statics: 2, ..SlabConfig::with_scheme(scheme) });
        let args = KmemCacheArgs::default;
        let dentry = w.kmem_cache_setup_image_named("dentry", 192, args(), SlabFlags::EMPTY).unwrap();
        let filp = w.kmem_cache_setup_image_named("filp", 256, args(), SlabFlags::EMPTY).unwrap();
        assert!(std::ptr::eq(w.image_static_named("dentry").unwrap(), dentry), "{scheme:?}");
        assert!(std::ptr::eq(w.image_static_named("filp").unwrap(), filp), "{scheme:?}");
        assert!(std::ptr::eq(dentry, w.image_static(0)) && std::ptr::eq(filp, w.image_static(1)), "{scheme:?}");
        assert!(w.image_static_named("inode_cache").is_none(), "{scheme:?}");
        let caches = w.caches().len();
        let full = w.kmem_cache_setup_image_named("inode_cache", 64, args(), SlabFlags::EMPTY).unwrap_err();
        assert_eq!(full, SlabError::NoMemory, "{scheme:?}");
        assert_eq!(w.caches().len(), caches, "{scheme:?}: a refused setup changes nothing");
        let o = w.image_static_named("filp").unwrap().alloc().unwrap();
        w.kfree(o).unwrap();
    }
}
