//! Object layout of a cache: alignment, free pointer placement, SLUB_DEBUG
//! metadata, slab order, `min_partial`, sheaf capacity and the sysfs unique id.
//!
//! Mirrors `mm/slab_common.c`: `calculate_alignment()` and `mm/slub.c`:
//! `calculate_sizes()`, `calculate_order()`, `calc_slab_order()`,
//! `calculate_sheaf_capacity()` and `create_unique_id()` of Linux 6.18 on
//! x86_64 (4 KiB pages, 8-byte pointers, `CONFIG_SLUB_DEBUG=y`,
//! `CONFIG_STACKDEPOT=y`, no KASAN, no `CONFIG_SLUB_TINY`).
//!
//! Where 7.0 differs, the difference is named next to the code. Two 7.0 layout
//! changes are deliberately *not* modelled, because neither changes any field
//! of [`CacheLayout`] for inputs that 6.18 accepts:
//! * 7.0 stores the kmalloc original request size as `unsigned long` (8 bytes)
//!   instead of `unsigned int` (4 bytes). Everything added after it is a
//!   multiple of 8 and the final alignment is a multiple of 8, so the stride
//!   `s->size` comes out the same either way.
//! * 7.0 lets a cache with a ctor (not only an RCU cache) place its free
//!   pointer at `freeptr_offset`; 6.18's `create_cache()` rejects
//!   `use_freeptr_offset` without `SLAB_TYPESAFE_BY_RCU`, and a 6.18 ctor
//!   always moves the free pointer after the object.
//!
//! (Long for a reason: the code is about 620 lines; the rest is the unit
//! tests that hold every formula against the kernel's, case by case.)

use crate::config::{
    ARCH_SLAB_MINALIGN, MAX_OBJS_PER_PAGE, MAX_PAGE_ORDER, PAGE_SHIFT, PAGE_SIZE, PTR_SIZE, SlabConfig,
};
use crate::error::SlabError;
use crate::flags::{
    __OBJECT_POISON, SLAB_ACCOUNT, SLAB_CACHE_DMA, SLAB_CACHE_DMA32, SLAB_CONSISTENCY_CHECKS, SLAB_DEBUG_FLAGS,
    SLAB_KASAN, SLAB_KMALLOC, SLAB_NO_OBJ_EXT, SLAB_NOLEAKTRACE, SLAB_POISON, SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE,
    SLAB_STORE_USER, SLAB_TYPESAFE_BY_RCU, SlabFlags,
};

/// `sizeof(struct track)` on x86_64 (the SLUB_DEBUG alloc/free owner record).
///
/// `struct track { unsigned long addr; depot_stack_handle_t handle; int cpu;
/// int pid; unsigned long when; }`: `handle` exists because `CONFIG_SLUB_DEBUG`
/// selects `CONFIG_STACKDEPOT` on every architecture with stack-trace support
/// (since 5.17, which replaced the old 16-entry `addrs[]` array). That is
/// 8 + 4 + 4 + 4 bytes, padded to 24 so that `when` is 8-byte aligned, + 8 =
/// **32 bytes**. Without STACKDEPOT it would be 24; the old `addrs[16]` layout
/// was 152.
pub const TRACK_SIZE: u32 = 32;

/// `sizeof(unsigned int)`: the kmalloc original request size stored after the
/// two tracks when a kmalloc cache has `SLAB_STORE_USER` (6.18; 7.0 uses
/// `unsigned long`, which gives the same stride, see the module docs).
pub const ORIG_SIZE_BYTES: u32 = 4;

/// `struct_size_t(struct slab_sheaf, objects, 0)` on 64-bit: the sheaf header
/// (a 16-byte union of `rcu_head`/`barn_list`/`{capacity, pfmemalloc}`, the
/// `cache` pointer, `size` and `node`) in front of the `objects[]` array.
pub const SHEAF_HEADER_SIZE: usize = 32;

/// `KMALLOC_MAX_CACHE_SIZE` for SLUB: `1 << KMALLOC_SHIFT_HIGH` with
/// `KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1`, the largest kmalloc slab cache (8 KiB).
pub const KMALLOC_MAX_CACHE_SIZE: usize = 1 << (PAGE_SHIFT + 1);

/// `MIN_PARTIAL`: the least number of partial slabs a node keeps.
pub const MIN_PARTIAL: u32 = 5;

/// `MAX_PARTIAL`: the most partial slabs `min_partial` may ask a node to keep.
pub const MAX_PARTIAL: u32 = 10;

/// Mirrors `include/linux/align.h`: `ALIGN(x, a)`.
///
/// The kernel macro is `((x) + (a - 1)) & ~(a - 1)`: it assumes `a` is a power
/// of two and gives a mask-based (not a true rounding) result otherwise; a
/// caller-supplied odd `align` reaches it unchanged, so the mask form is kept.
/// Arithmetic wraps like C `unsigned int`.
pub const fn align_up(x: u32, a: u32) -> u32 {
    let mask = a.wrapping_sub(1);
    x.wrapping_add(mask) & !mask
}

/// Mirrors `include/linux/align.h`: `ALIGN()`, in 64-bit arithmetic so that
/// [`calculate_sizes`] can detect the overflow the kernel would silently wrap.
const fn align_up_u64(x: u64, a: u64) -> u64 {
    let mask = a.wrapping_sub(1);
    x.wrapping_add(mask) & !mask
}

/// Mirrors `include/asm-generic/getorder.h`: `get_order()` with 4 KiB pages.
///
/// `size--; size >>= PAGE_SHIFT; return fls64(size);`. For `size == 0` the
/// decrement wraps and the result is `BITS_PER_LONG - PAGE_SHIFT` = 52, as in
/// the kernel (documented there as undefined; the constant-folded branch
/// returns the same value).
pub fn get_order(size: usize) -> u32 {
    let pages = (size.wrapping_sub(1) as u64) >> PAGE_SHIFT;
    fls64(pages)
}

/// Mirrors `include/asm-generic/bitops/fls64.h`: `fls64()`: 1-based index of
/// the most significant set bit, 0 for 0.
fn fls64(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// Mirrors `include/asm-generic/bitops/fls.h`: `fls()`: 1-based index of the
/// most significant set bit of a 32-bit value, 0 for 0.
fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

/// Mirrors `include/linux/log2.h`: `ilog2()` of a non-zero value.
fn ilog2(x: u32) -> u32 {
    31 - x.leading_zeros()
}

/// Mirrors `mm/slab_common.c`: `calculate_alignment()`.
///
/// `SLAB_HWCACHE_ALIGN` asks for a cache line, but small objects would waste
/// most of it, so the line is halved while the object still fits in half of
/// it; an explicit `align` larger than that wins. The result is never below
/// `arch_slab_minalign()` (`ARCH_SLAB_MINALIGN`, 8 on x86_64) and is rounded
/// to a multiple of `sizeof(void *)`, because the free pointer must be
/// word-aligned in every object.
///
/// The kernel loop `while (size <= ralign / 2)` never ends for `size == 0`
/// (`ralign` reaches 0 and stays there); the loop here stops at `ralign == 1`,
/// which changes nothing for `size >= 1` and keeps size 0 from hanging.
/// [`calculate_sizes`] rejects size 0 anyway.
pub fn calculate_alignment(flags: SlabFlags, align: u32, size: u32, cache_line_size: u32) -> u32 {
    let mut align = align;
    if flags.intersects(crate::flags::SLAB_HWCACHE_ALIGN) {
        let mut ralign = cache_line_size;
        while ralign > 1 && size <= ralign / 2 {
            ralign /= 2;
        }
        align = align.max(ralign);
    }
    align = align.max(ARCH_SLAB_MINALIGN);
    align_up(align, PTR_SIZE)
}

/// What [`calculate_sizes`] needs from `do_kmem_cache_create()` and
/// `struct kmem_cache_args`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutRequest {
    /// `s->object_size`: the size the creator asked for.
    pub object_size: u32,
    /// `s->align`: the final alignment, already from [`calculate_alignment`].
    pub align: u32,
    /// `s->flags` after `kmem_cache_flags()` (`slab_debug=`) was applied.
    pub flags: SlabFlags,
    /// The cache has a constructor (`s->ctor != NULL`).
    pub has_ctor: bool,
    /// `args->use_freeptr_offset`.
    pub use_freeptr_offset: bool,
    /// `args->freeptr_offset` (only read when `use_freeptr_offset`).
    pub freeptr_offset: u32,
    /// A kmalloc cache (`create_kmalloc_cache()`); the kernel tests this as
    /// `s->flags & SLAB_KMALLOC`, so either that flag or this field counts.
    pub is_kmalloc: bool,
    /// The explicit `args->sheaf_capacity`, 0 for none.
    pub sheaf_capacity: u32,
}

/// The layout fields of a `struct kmem_cache` that `calculate_sizes()` and
/// `do_kmem_cache_create()` fill in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLayout {
    /// `s->object_size`.
    pub object_size: u32,
    /// `s->size`: the stride between objects, metadata and padding included.
    pub size: u32,
    /// `s->align`.
    pub align: u32,
    /// `s->inuse`: bytes of the object and its right red zone, before the
    /// out-of-object free pointer and the debug metadata.
    pub inuse: u32,
    /// `s->offset`: where the free pointer lives inside the stride.
    pub offset: u32,
    /// `s->red_left_pad`: bytes of left red zone in front of every object.
    pub red_left_pad: u32,
    /// `oo_order(s->oo)`: the slab page order.
    pub order: u32,
    /// `oo_objects(s->oo)`: objects per slab.
    pub objects: u32,
    /// `oo_order(s->min)`: the fallback order when a high-order page is unavailable.
    pub min_order: u32,
    /// `oo_objects(s->min)`: objects per slab at `min_order`.
    pub min_objects: u32,
    /// `s->flags`, including the internal `__OBJECT_POISON`.
    pub flags: SlabFlags,
    /// `s->min_partial`.
    pub min_partial: u32,
    /// `s->sheaf_capacity`: per-cpu sheaf capacity, 0 when the cache has no sheaves.
    pub sheaf_capacity: u32,
}

impl CacheLayout {
    /// Mirrors `mm/slab.h`: `slab_size()`: bytes of one slab, `PAGE_SIZE << order`.
    pub fn slab_bytes(&self) -> usize {
        PAGE_SIZE << self.order
    }

    /// Mirrors `mm/slub.c`: `freeptr_outside_object()`.
    ///
    /// `calculate_sizes()` places an out-of-object free pointer at
    /// `offset = inuse`, and an in-object one strictly below `inuse`, so this
    /// single comparison tells them apart.
    pub fn freeptr_outside_object(&self) -> bool {
        self.offset >= self.inuse
    }

    /// Mirrors `mm/slub.c`: `slab_ksize()`: the usable bytes `ksize()` reports.
    ///
    /// Debug red zones and poison check the padding, so only `object_size` is
    /// usable; KASAN likewise. RCU caches and `STORE_USER` keep the free pointer
    /// or the tracks right after `inuse`, so the usable area stops there.
    /// Otherwise the whole stride, padding included, belongs to the object.
    pub fn ksize(&self) -> u32 {
        if self.flags.intersects(SLAB_RED_ZONE | SLAB_POISON) {
            return self.object_size;
        }
        if self.flags.intersects(SLAB_KASAN) {
            return self.object_size;
        }
        if self.flags.intersects(SLAB_TYPESAFE_BY_RCU | SLAB_STORE_USER) {
            return self.inuse;
        }
        self.size
    }
}

/// Mirrors `mm/slub.c`: `order_objects()`: objects of `size` bytes in a slab of
/// `order` (SLUB reserves no bytes in the slab, so it is a plain division).
pub fn order_objects(order: u32, size: u32) -> u32 {
    ((PAGE_SIZE as u64) << order).checked_div(size as u64).unwrap_or(0).min(u32::MAX as u64) as u32
}

/// Mirrors `mm/slub.c`: `calc_slab_order()`.
///
/// Walks the orders from `min_order` to `max_order` and stops at the first whose
/// leftover (`slab_size % size`) is at most `1/fract_leftover` of the slab:
/// a larger order only lowers the fractional waste. Returns `max_order + 1`
/// when none qualifies, and `min_order` itself when it is already above
/// `max_order` (the caller then treats it as a failure).
pub fn calc_slab_order(size: u32, min_order: u32, max_order: u32, fract_leftover: u32) -> u32 {
    let mut order = min_order;
    while order <= max_order {
        let slab_size = (PAGE_SIZE as u64) << order;
        let rem = slab_size % size as u64;
        if rem <= slab_size / fract_leftover as u64 {
            break;
        }
        order += 1;
    }
    order
}

/// Mirrors `mm/slub.c`: `calculate_order()` (its `min_objects` step):
/// `slab_min_objects=` or, if unset, `4 * (fls(nr_cpus) + 1)`.
///
/// The kernel uses `num_present_cpus()` and falls back to `nr_cpu_ids` when
/// that is `<= 1`, because some architectures mark CPUs present only as they
/// come online. The model has one CPU count, so the fallback `nr_cpu_ids` is
/// `nr_cpus` itself, at least 1: one CPU gives `4 * (1 + 1)` = 8.
fn min_objects_for(cfg: &SlabConfig) -> u32 {
    if cfg.slub_min_objects != 0 {
        return cfg.slub_min_objects;
    }
    let nr_cpus = cfg.nr_cpus.max(1);
    4 * (fls(nr_cpus) + 1)
}

/// Mirrors `mm/slub.c`: `calculate_order()`.
///
/// Aims for at least `min_objects` objects per slab (more CPUs, more objects,
/// fewer trips to the node lists), then takes the smallest order from there up
/// to `slab_max_order` whose waste is at most 1/16, 1/8, 1/4 and finally 1/2 of
/// the slab. If even that fails the object simply gets `get_order(size)`,
/// and an object above `MAX_PAGE_ORDER` is `-ENOSYS`, returned here as
/// [`SlabError::InvalidArgument`] (the kernel turns it into `-EINVAL` too).
///
/// `slab_min_order=`/`slab_max_order=` are validated as the boot parsers would
/// leave them: `min <= max <= MAX_PAGE_ORDER`, otherwise `InvalidArgument`.
pub fn calculate_order(size: u32, cfg: &SlabConfig) -> Result<u32, SlabError> {
    if size == 0 {
        // order_objects() would divide by zero.
        return Err(SlabError::invalid("calculate_order: object size 0"));
    }
    let (slub_min_order, slub_max_order) = (cfg.slub_min_order, cfg.slub_max_order);
    if slub_max_order > MAX_PAGE_ORDER || slub_min_order > slub_max_order {
        return Err(SlabError::invalid(format!(
            "slab orders must satisfy slab_min_order ({slub_min_order}) <= slab_max_order \
             ({slub_max_order}) <= MAX_PAGE_ORDER ({MAX_PAGE_ORDER})"
        )));
    }

    let mut min_objects = min_objects_for(cfg);
    // "min_objects can't be 0 because get_order(0) is undefined"
    let max_objects = order_objects(slub_max_order, size).max(1);
    min_objects = min_objects.min(max_objects);

    // min_objects * size <= PAGE_SIZE << slub_max_order (or == size), no overflow.
    let min_order = slub_min_order.max(get_order(min_objects as usize * size as usize));
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE {
        // slab->objects is 15 bits: take the order just below the one that
        // would hold MAX_OBJS_PER_PAGE objects.
        return Ok(get_order(size as usize * MAX_OBJS_PER_PAGE as usize) - 1);
    }

    // Start with at most 1/16 waste and back off; the last round (1/2) accepts
    // any waste as long as one object fits within slab_max_order.
    let mut fraction = 16;
    while fraction > 1 {
        let order = calc_slab_order(size, min_order, slub_max_order, fraction);
        if order <= slub_max_order {
            return Ok(order);
        }
        fraction /= 2;
    }

    // "Doh this slab cannot be placed using slab_max_order."
    let order = get_order(size as usize);
    if order <= MAX_PAGE_ORDER {
        return Ok(order);
    }
    Err(SlabError::invalid(format!(
        "calculate_order: object size {size} needs order {order} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER}) (-ENOSYS)"
    )))
}

/// Mirrors `mm/slab_common.c`: `kmalloc_size_roundup()` on x86_64 SLUB.
///
/// The size kmalloc would really hand out for a request of `size`: the
/// object size of the kmalloc cache serving it (8, 16, 32, 64, 96, 128, 192,
/// 256, 512, 1024, 2048, 4096, 8192; `KMALLOC_MIN_SIZE` is 8), above
/// `KMALLOC_MAX_CACHE_SIZE` whole pages (`PAGE_SIZE << get_order(size)`), and
/// 0 for 0 (kmalloc returns `ZERO_SIZE_PTR`). Like the C shift, a page-order
/// size beyond the address space wraps to 0.
pub fn kmalloc_size_roundup(size: usize) -> usize {
    match size {
        0 => 0,
        // kmalloc_size_index[]: the 96 and 192 caches sit between the powers of two.
        1..=8 => 8,
        9..=16 => 16,
        17..=32 => 32,
        33..=64 => 64,
        65..=96 => 96,
        97..=128 => 128,
        129..=192 => 192,
        // kmalloc_index() = fls(size - 1) for the larger caches.
        193..=KMALLOC_MAX_CACHE_SIZE => size.next_power_of_two(),
        _ => PAGE_SIZE.checked_shl(get_order(size)).unwrap_or(0),
    }
}

/// Mirrors `mm/slub.c`: `calculate_sheaf_capacity()` (7.0, "sheaves for all").
///
/// No sheaves for debug caches (every object must go through the checked slow
/// path), for the bootstrap caches (`SLAB_NO_OBJ_EXT`: sheaves are kmalloc'ed,
/// which they would recurse into) and for `SLAB_NOLEAKTRACE` (kmemleak would
/// track the sheaf allocation and recurse). Otherwise roughly half of the old
/// per-cpu partial sizing (two sheaves per CPU): 4, 12, 26 or 60 by stride,
/// then grown to fill the kmalloc bucket the sheaf allocation lands in
/// (giving 4, 12, 28, 60), and never below an explicit request.
pub fn calculate_sheaf_capacity(size: u32, flags: SlabFlags, explicit: u32) -> u32 {
    if flags.intersects(SLAB_DEBUG_FLAGS) {
        return 0;
    }
    if flags.intersects(SLAB_NO_OBJ_EXT | SLAB_NOLEAKTRACE) {
        return 0;
    }
    let base: usize = if size as usize >= PAGE_SIZE {
        4
    } else if size >= 1024 {
        12
    } else if size >= 256 {
        26
    } else {
        60
    };
    let ptr = PTR_SIZE as usize;
    let bytes = kmalloc_size_roundup(SHEAF_HEADER_SIZE + base * ptr);
    let capacity = (bytes - SHEAF_HEADER_SIZE) / ptr;
    (capacity as u32).max(explicit)
}

/// Mirrors `mm/slub.c`: `do_kmem_cache_create()` (6.18) and `calculate_sizes()`
/// (7.0): the sheaf capacity a cache gets under `cfg`.
///
/// * `sheaves_for_all` (7.0): [`calculate_sheaf_capacity`]. 7.0 skips it for
///   normal kmalloc caches inside `calculate_sizes()` only to avoid recursion
///   at boot; `bootstrap_kmalloc_sheaves()` later sets the same
///   `calculate_sheaf_capacity(s, &empty_args)`, which is what a kmalloc cache
///   ends up with and what is returned here.
/// * otherwise (6.18): only an explicit `args->sheaf_capacity`, taken
///   verbatim, and none for a cache with `SLAB_DEBUG_FLAGS`
///   (`do_kmem_cache_create()`).
///
/// `sheaf_capacity_override` then replaces every non-zero capacity.
fn sheaf_capacity_for(size: u32, flags: SlabFlags, explicit: u32, cfg: &SlabConfig) -> u32 {
    let natural = if cfg.sheaves_for_all {
        calculate_sheaf_capacity(size, flags, explicit)
    } else if flags.intersects(SLAB_DEBUG_FLAGS) {
        0
    } else {
        explicit
    };
    match cfg.sheaf_capacity_override {
        Some(capacity) if natural != 0 => capacity,
        _ => natural,
    }
}

/// Mirrors `mm/slub.c`: `calculate_sizes()`, plus the `min_partial` and
/// sheaf-capacity steps of `do_kmem_cache_create()`.
///
/// Layout of one stride, in order: the object rounded up to a word (a free
/// pointer can only sit on a word boundary); with `SLAB_RED_ZONE` one more word
/// if that left no right red zone; the free pointer when it may not overlay
/// the object; with `SLAB_STORE_USER` two `struct track` (alloc and free) and,
/// for kmalloc caches, the original request size; with `SLAB_RED_ZONE` a
/// padding word and the left red zone `red_left_pad`; all rounded up to `align`.
///
/// Errors ([`SlabError::InvalidArgument`]):
/// * `object_size == 0`: no kernel path rejects it, but the kernel's behaviour
///   there is undefined (`calculate_alignment()` spins forever with
///   `SLAB_HWCACHE_ALIGN`, the stride can be 0 and `order_objects()` then
///   divides by zero), so the model refuses it instead of inventing a layout;
/// * `align == 0` ([`calculate_alignment`] never yields it; `ALIGN(x, 0)` is 0);
/// * a `freeptr_offset` that `create_cache()` would reject (6.18: without
///   `SLAB_TYPESAFE_BY_RCU`, at or beyond `object_size`, or not word-aligned);
/// * a stride that does not fit `unsigned int`;
/// * a [`calculate_order`] failure (the kernel's `calculate_sizes()` returns 0
///   and `do_kmem_cache_create()` fails with `-EINVAL`);
/// * `max_objects_per_slab == Some(0)` (the kernel fails when
///   `oo_objects(s->oo) == 0`).
///
/// `cfg.max_objects_per_slab == Some(n)` (tiny model configurations only):
/// after the normal order calculation the slab is shrunk to the lowest order
/// that still holds `min(n, objects)` objects (order 0 for any object of at
/// most a page when `n` objects fit in a page), and `objects` (and the
/// `min` objects) are capped at `n`.
///
/// Not modelled: `slab_debug=O` (dropping debug metadata that raised the
/// order: `do_kmem_cache_create()` does it around this function), KASAN
/// metadata, `__CMPXCHG_DOUBLE` (set by `do_kmem_cache_create()` on x86_64 for
/// caches without `SLAB_NO_CMPXCHG`; the model has no double-word cmpxchg
/// fast path, so the bit would mean nothing), and 7.0's `SLAB_OBJ_EXT_IN_OBJ`
/// (a flag only, the stride is unchanged).
pub fn calculate_sizes(req: &LayoutRequest, cfg: &SlabConfig) -> Result<CacheLayout, SlabError> {
    let invalid = |why: String| Err(SlabError::invalid(why));
    if req.object_size == 0 {
        return invalid("calculate_sizes: object size 0 has no defined layout in the kernel".into());
    }
    if req.align == 0 {
        return invalid("calculate_sizes: alignment 0 (calculate_alignment() never returns 0)".into());
    }
    let flags = req.flags;
    let object_size = req.object_size as u64;
    let align = req.align as u64;
    let ptr = PTR_SIZE as u64;
    let rcu = flags.intersects(SLAB_TYPESAFE_BY_RCU);
    // is_kmalloc_cache(s) is s->flags & SLAB_KMALLOC; create_kmalloc_cache()
    // always passes that flag, so the request field and the flag are equivalent.
    let kmalloc = req.is_kmalloc || flags.intersects(SLAB_KMALLOC);
    let debug = cfg.slub_debug_config;

    if req.use_freeptr_offset {
        // mm/slab_common.c: create_cache(): the offset must lie inside the
        // object, be aligned for freeptr_t, and (6.18) belong to an RCU cache,
        // the only kind that may keep the free pointer inside a freed object.
        if req.freeptr_offset as u64 >= object_size || !rcu || !req.freeptr_offset.is_multiple_of(PTR_SIZE) {
            return invalid(format!(
                "freeptr_offset {} invalid for object size {} (needs SLAB_TYPESAFE_BY_RCU, \
                 < object size, multiple of {PTR_SIZE})",
                req.freeptr_offset, req.object_size
            ));
        }
    }

    // Round up to the next word: the free pointer can only live on a word
    // boundary, and this decides where it may be placed.
    let mut size = align_up_u64(object_size, ptr);

    let mut out_flags = flags;
    let red_zone = debug && flags.intersects(SLAB_RED_ZONE);
    let store_user = debug && flags.intersects(SLAB_STORE_USER);
    if debug {
        // Poison the object itself only if nobody may touch it while free:
        // not with RCU (readers may still look at it) nor with a ctor (the
        // constructed state must survive free).
        if flags.intersects(SLAB_POISON) && !rcu && !req.has_ctor {
            out_flags |= __OBJECT_POISON;
        } else {
            out_flags = out_flags.without(__OBJECT_POISON);
        }
        // A right red zone needs at least some bytes after the object; if the
        // word rounding left none, add a word.
        if red_zone && size == object_size {
            size += ptr;
        }
    }

    // Bytes in actual use by the object and its right red zone.
    let inuse = size;

    // slub_debug_orig_size(): STORE_USER on a kmalloc cache keeps the original
    // request size, and the red zone then extends to it, so the free pointer
    // may not sit in the object.
    let orig_size = store_user && kmalloc;
    let offset = if (rcu && !req.use_freeptr_offset)
        || flags.intersects(SLAB_POISON)
        || req.has_ctor
        || (red_zone && (object_size < ptr || orig_size))
    {
        // Outside: the first word (or any word) of a free object may not be
        // overwritten, because RCU readers, the ctor's state or the poison /
        // red zone checks still need it. offset >= inuse is what
        // freeptr_outside_object() relies on.
        let offset = size;
        size += ptr;
        offset
    } else if rcu && req.use_freeptr_offset {
        // The creator named a word that RCU readers never look at.
        req.freeptr_offset as u64
    } else {
        // Near the middle, away from the edges, so that small overflows from
        // the neighbouring objects do not hit it.
        (object_size / 2) & !(ptr - 1)
    };

    if store_user {
        // Alloc and free owner records after the object.
        size += 2 * TRACK_SIZE as u64;
        if kmalloc {
            size += ORIG_SIZE_BYTES as u64;
        }
    }

    let mut red_left_pad = 0;
    if red_zone {
        // Padding so that an overwrite from the previous object hits a red
        // zone rather than its tracks or free pointer, and a left red zone
        // that keeps the object itself aligned.
        size += ptr;
        red_left_pad = align_up_u64(ptr, align);
        size += red_left_pad;
    }

    // Objects follow each other from offset 0 (after red_left_pad), so the
    // stride itself carries the alignment.
    size = align_up_u64(size, align);
    if size > u32::MAX as u64 || red_left_pad > u32::MAX as u64 {
        return invalid(format!(
            "calculate_sizes: stride {size} for object size {} overflows unsigned int",
            req.object_size
        ));
    }
    let size = size as u32;

    let mut order = calculate_order(size, cfg)?;
    let mut objects = order_objects(order, size);
    let min_order = get_order(size as usize);
    let mut min_objects = order_objects(min_order, size);
    if let Some(cap) = cfg.max_objects_per_slab {
        if cap == 0 {
            return invalid("max_objects_per_slab is 0: a slab must hold an object".into());
        }
        let want = cap.min(objects);
        while order > min_order && order_objects(order - 1, size) >= want {
            order -= 1;
        }
        objects = want;
        min_objects = min_objects.min(cap);
    }
    if objects == 0 {
        // calculate_sizes() returns !!oo_objects(s->oo).
        return invalid(format!("calculate_sizes: no object of stride {size} fits a slab"));
    }

    // do_kmem_cache_create(): keep more empty partial slabs for larger objects,
    // whose slabs are costlier to reallocate.
    let min_partial = (ilog2(size) / 2).clamp(MIN_PARTIAL, MAX_PARTIAL);

    Ok(CacheLayout {
        object_size: req.object_size,
        size,
        align: req.align,
        inuse: inuse as u32,
        offset: offset as u32,
        red_left_pad: red_left_pad as u32,
        order,
        objects,
        min_order,
        min_objects,
        flags: out_flags,
        min_partial,
        sheaf_capacity: sheaf_capacity_for(size, out_flags, req.sheaf_capacity, cfg),
    })
}

/// Mirrors `mm/slub.c`: `create_unique_id()`: the sysfs directory name of a
/// mergeable cache.
///
/// `:` then a letter per flag that must match for two caches to share a
/// directory (`d` DMA, `D` DMA32, `a` reclaimable, `F` consistency checks,
/// `A` accounted), `-` if any letter was written, then the stride as `%07u`.
/// At most 17 characters, so the kernel's 32-byte `ID_STR_LENGTH` check never fires.
pub fn create_unique_id(flags: SlabFlags, size: u32) -> String {
    UniqueId::new(flags, size).as_str().to_owned()
}

/// [`create_unique_id`]'s name in a buffer of its own: naming a directory
/// looks it up and copies it into the tree once, with no `String` (and no
/// formatter) in between.
#[derive(Clone, Copy)]
pub(crate) struct UniqueId {
    /// `:`, five letters, `-`, ten digits at most.
    buf: [u8; 17],
    len: usize,
}

impl UniqueId {
    /// The name `create_unique_id()` writes for `s->flags` and `s->size`.
    pub(crate) fn new(flags: SlabFlags, size: u32) -> UniqueId {
        let mut buf = [0u8; 17];
        buf[0] = b':';
        let mut len = 1;
        for (letter, flag) in [
            (b'd', SLAB_CACHE_DMA),
            (b'D', SLAB_CACHE_DMA32),
            (b'a', SLAB_RECLAIM_ACCOUNT),
            (b'F', SLAB_CONSISTENCY_CHECKS),
            (b'A', SLAB_ACCOUNT),
        ] {
            if flags.intersects(flag) {
                buf[len] = letter;
                len += 1;
            }
        }
        if len > 1 {
            buf[len] = b'-';
            len += 1;
        }
        // "%07u": the decimal digits, zero-padded to at least seven.
        let mut digits = [b'0'; 10];
        let mut first = digits.len();
        let mut n = size;
        loop {
            first -= 1;
            digits[first] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = &digits[first.min(digits.len() - 7)..];
        buf[len..len + digits.len()].copy_from_slice(digits);
        len += digits.len();
        UniqueId { buf, len }
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).expect("ASCII")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MergeRules;
    use crate::flags::*;

    /// mm/slub.c: create_unique_id(): ':', the letters of d, D, a, F, A that
    /// are set, '-' after any letter, then `snprintf("%07u", s->size)`, for
    /// every combination of the letters' flags and sizes of every width.
    #[test]
    fn unique_id_is_the_kernel_snprintf() {
        let letters = [
            ('d', SLAB_CACHE_DMA),
            ('D', SLAB_CACHE_DMA32),
            ('a', SLAB_RECLAIM_ACCOUNT),
            ('F', SLAB_CONSISTENCY_CHECKS),
            ('A', SLAB_ACCOUNT),
        ];
        let mut sizes = vec![0, 1, 8, 9, 10, 64, 999_999, 1_000_000, 9_999_999, 10_000_000, 123_456_789, u32::MAX];
        sizes.extend((0..10).map(|e| 10u32.pow(e) - 1));
        for bits in 0..32u32 {
            let flags = (0..5).filter(|i| bits & (1 << i) != 0).fold(SLAB_HWCACHE_ALIGN, |f, i| f | letters[i].1);
            let prefix: String = (0..5).filter(|i| bits & (1 << i) != 0).map(|i| letters[i].0).collect();
            for &size in &sizes {
                let dash = if prefix.is_empty() { "" } else { "-" };
                let want = format!(":{prefix}{dash}{size:07}");
                assert_eq!(create_unique_id(flags, size), want);
                assert!(want.len() <= 17);
            }
        }
        assert_eq!(create_unique_id(SLAB_ACCOUNT | SLAB_RECLAIM_ACCOUNT, 192), ":aA-0000192");
    }

    fn req(object_size: u32, align: u32, flags: SlabFlags) -> LayoutRequest {
        LayoutRequest {
            object_size,
            align,
            flags,
            has_ctor: false,
            use_freeptr_offset: false,
            freeptr_offset: 0,
            is_kmalloc: false,
            sheaf_capacity: 0,
        }
    }

    fn layout(r: &LayoutRequest) -> CacheLayout {
        calculate_sizes(r, &SlabConfig::default()).unwrap()
    }

    /// include/linux/align.h: ALIGN(): mask arithmetic, wrapping like unsigned int.
    #[test]
    fn align_up_is_the_kernel_mask_formula() {
        assert_eq!(align_up(0, 8), 0);
        assert_eq!(align_up(1, 8), 8);
        assert_eq!(align_up(8, 8), 8);
        assert_eq!(align_up(100, 64), 128);
        // Non-power-of-two: ((x + 23) & ~23), not a true multiple of 24.
        assert_eq!(align_up(30, 24), (30 + 23) & !23);
        assert_eq!(align_up(u32::MAX, 8), 0);
    }

    /// include/asm-generic/getorder.h: get_order(): pages rounded up to a power of two.
    #[test]
    fn get_order_rounds_up_to_power_of_two_pages() {
        assert_eq!(get_order(1), 0);
        assert_eq!(get_order(4096), 0);
        assert_eq!(get_order(4097), 1);
        assert_eq!(get_order(8192), 1);
        assert_eq!(get_order(8193), 2);
        assert_eq!(get_order(32768), 3);
        assert_eq!(get_order(4 << 20), 10);
        assert_eq!(get_order((4 << 20) + 1), 11);
        assert_eq!(get_order(0), 52);
    }

    /// mm/slab_common.c: calculate_alignment(): HWCACHE_ALIGN halves the line while the object fits twice.
    #[test]
    fn calculate_alignment_hwcache_halves_for_small_objects() {
        let hw = SLAB_HWCACHE_ALIGN;
        assert_eq!(calculate_alignment(hw, 0, 8, 64), 8);
        assert_eq!(calculate_alignment(hw, 0, 16, 64), 16);
        assert_eq!(calculate_alignment(hw, 0, 24, 64), 32);
        assert_eq!(calculate_alignment(hw, 0, 32, 64), 32);
        assert_eq!(calculate_alignment(hw, 0, 33, 64), 64);
        assert_eq!(calculate_alignment(hw, 0, 232, 64), 64);
        assert_eq!(calculate_alignment(hw, 0, 1, 64), 8);
        assert_eq!(calculate_alignment(hw, 0, 100, 128), 128);
    }

    /// mm/slab_common.c: calculate_alignment(): an explicit larger align wins over the cache line.
    #[test]
    fn calculate_alignment_explicit_align_wins() {
        assert_eq!(calculate_alignment(SLAB_HWCACHE_ALIGN, 256, 256, 64), 256);
        assert_eq!(calculate_alignment(SlabFlags::EMPTY, 4096, 4096, 64), 4096);
        assert_eq!(calculate_alignment(SLAB_HWCACHE_ALIGN, 16, 200, 64), 64);
    }

    /// mm/slab_common.c: calculate_alignment(): never below ARCH_SLAB_MINALIGN, a multiple of a pointer.
    #[test]
    fn calculate_alignment_minimum_and_pointer_multiple() {
        assert_eq!(calculate_alignment(SlabFlags::EMPTY, 0, 100, 64), 8);
        assert_eq!(calculate_alignment(SlabFlags::EMPTY, 4, 100, 64), 8);
        assert_eq!(calculate_alignment(SlabFlags::EMPTY, 12, 100, 64), 16);
        assert_eq!(calculate_alignment(SlabFlags::EMPTY, 24, 100, 64), 24);
        // Size 0 must not hang (the kernel loop would).
        assert_eq!(calculate_alignment(SLAB_HWCACHE_ALIGN, 0, 0, 64), 8);
    }

    /// mm/slub.c: calculate_sizes(): by default the free pointer sits mid-object, word aligned down.
    #[test]
    fn freeptr_in_the_middle_by_default() {
        let l = layout(&req(100, 8, SlabFlags::EMPTY));
        assert_eq!((l.size, l.inuse, l.offset), (104, 104, 48));
        assert!(!l.freeptr_outside_object());
        let l = layout(&req(8, 8, SlabFlags::EMPTY));
        assert_eq!((l.size, l.inuse, l.offset), (8, 8, 0));
        let l = layout(&req(24, 8, SlabFlags::EMPTY));
        assert_eq!(l.offset, 8);
    }

    /// mm/slub.c: calculate_sizes(): RCU without freeptr_offset puts the free pointer after the object.
    #[test]
    fn freeptr_outside_for_rcu_without_offset() {
        let l = layout(&req(96, 8, SLAB_TYPESAFE_BY_RCU));
        assert_eq!((l.size, l.inuse, l.offset), (104, 96, 96));
        assert!(l.freeptr_outside_object());
        // vm_area_struct: 192 bytes, HWCACHE 64; without its freeptr_offset the
        // extra word would make the stride 256 instead of 192.
        let l = layout(&req(192, 64, SLAB_TYPESAFE_BY_RCU | SLAB_HWCACHE_ALIGN));
        assert_eq!((l.inuse, l.offset, l.size), (192, 192, 256));
    }

    /// mm/slub.c: calculate_sizes(): RCU with freeptr_offset keeps the pointer inside the object.
    #[test]
    fn freeptr_at_declared_offset_for_rcu() {
        let mut r = req(184, 64, SLAB_TYPESAFE_BY_RCU | SLAB_HWCACHE_ALIGN);
        r.use_freeptr_offset = true;
        r.freeptr_offset = 144;
        let l = layout(&r);
        assert_eq!((l.size, l.inuse, l.offset), (192, 184, 144));
        assert!(!l.freeptr_outside_object());
        // vm_area_struct: 192 bytes, freeptr_offset 0, stride stays 192.
        let mut r = req(192, 64, SLAB_TYPESAFE_BY_RCU | SLAB_HWCACHE_ALIGN);
        r.use_freeptr_offset = true;
        assert_eq!(layout(&r).size, 192);
    }

    /// mm/slab_common.c: create_cache(): a freeptr_offset outside the object, unaligned or without RCU is -EINVAL.
    #[test]
    fn freeptr_offset_validation() {
        let mut r = req(64, 8, SLAB_TYPESAFE_BY_RCU);
        r.use_freeptr_offset = true;
        for bad in [64, 65, 12] {
            r.freeptr_offset = bad;
            assert!(calculate_sizes(&r, &SlabConfig::default()).is_err(), "{bad}");
        }
        let mut r = req(64, 8, SlabFlags::EMPTY);
        r.use_freeptr_offset = true;
        assert!(calculate_sizes(&r, &SlabConfig::default()).is_err());
    }

    /// mm/slub.c: calculate_sizes(): a ctor (6.18: even with freeptr_offset) moves the free pointer out.
    #[test]
    fn freeptr_outside_for_ctor() {
        let mut r = req(576, 8, SLAB_RECLAIM_ACCOUNT);
        r.has_ctor = true;
        let l = layout(&r);
        assert_eq!((l.size, l.inuse, l.offset), (584, 576, 576));
        let mut r = req(96, 8, SLAB_TYPESAFE_BY_RCU);
        r.has_ctor = true;
        r.use_freeptr_offset = true;
        r.freeptr_offset = 16;
        let l = layout(&r);
        assert_eq!((l.size, l.offset), (104, 96));
    }

    /// mm/slub.c: calculate_sizes(): POISON moves the free pointer out and sets __OBJECT_POISON unless RCU or ctor.
    #[test]
    fn poison_sets_object_poison_and_moves_freeptr() {
        let l = layout(&req(64, 8, SLAB_POISON));
        assert_eq!((l.size, l.inuse, l.offset), (72, 64, 64));
        assert!(l.flags.contains(__OBJECT_POISON));
        let l = layout(&req(64, 8, SLAB_POISON | SLAB_TYPESAFE_BY_RCU));
        assert!(!l.flags.intersects(__OBJECT_POISON));
        let mut r = req(64, 8, SLAB_POISON | __OBJECT_POISON);
        r.has_ctor = true;
        assert!(!layout(&r).flags.intersects(__OBJECT_POISON));
    }

    /// mm/slub.c: calculate_sizes(): RED_ZONE adds a right red-zone word, a padding word and red_left_pad.
    #[test]
    fn red_zone_sizes() {
        // 64 -> +8 right red zone (inuse 72), free pointer in the middle,
        // +8 padding, +8 red_left_pad = 88.
        let l = layout(&req(64, 8, SLAB_RED_ZONE));
        assert_eq!((l.inuse, l.offset, l.red_left_pad, l.size), (72, 32, 8, 88));
        // 60 rounds to 64: the 4 spare bytes are the right red zone already.
        let l = layout(&req(60, 8, SLAB_RED_ZONE));
        assert_eq!((l.inuse, l.size), (64, 80));
        // Objects smaller than a pointer get the free pointer outside.
        let l = layout(&req(4, 8, SLAB_RED_ZONE));
        assert_eq!((l.inuse, l.offset, l.size), (8, 8, 32));
        // red_left_pad keeps the object aligned: ALIGN(8, 64) = 64.
        let l = layout(&req(64, 64, SLAB_RED_ZONE));
        assert_eq!((l.red_left_pad, l.size), (64, 192));
    }

    /// mm/slub.c: calculate_sizes(): STORE_USER adds two struct track (32 bytes each with STACKDEPOT).
    #[test]
    fn store_user_adds_two_tracks() {
        let l = layout(&req(64, 8, SLAB_STORE_USER));
        assert_eq!((l.inuse, l.offset, l.size), (64, 32, 128));
        assert_eq!(l.ksize(), 64);
    }

    /// mm/slub.c: calculate_sizes(): a kmalloc cache with STORE_USER stores the orig size and red-zones up to it.
    #[test]
    fn kmalloc_store_user_orig_size() {
        let mut r = req(64, 64, SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE);
        r.is_kmalloc = true;
        // 64 +8 rz = 72 (inuse), fp outside (orig size) 80, tracks 144,
        // orig size 148, pad 156, red_left_pad 64 -> 220 -> ALIGN 64 = 256.
        let l = layout(&r);
        assert_eq!((l.inuse, l.offset, l.red_left_pad, l.size), (72, 72, 64, 256));
        // The same without the kmalloc flag: fp in the middle, no orig size:
        // 72 + 64 tracks + 8 pad + 64 left pad = 208 -> ALIGN 64 = 256.
        let l = layout(&req(64, 64, SLAB_STORE_USER | SLAB_RED_ZONE));
        assert_eq!((l.inuse, l.offset, l.size), (72, 32, 256));
        // With align 8 the orig-size word shows: 72 + 64 + 8 + 8 = 152 vs 160.
        let l = layout(&req(64, 8, SLAB_STORE_USER | SLAB_RED_ZONE));
        assert_eq!((l.offset, l.size), (32, 152));
        let mut r = req(64, 8, SLAB_KMALLOC | SLAB_STORE_USER | SLAB_RED_ZONE);
        r.is_kmalloc = true;
        assert_eq!(layout(&r).size, 168);
    }

    /// mm/slub.c: calculate_sizes(): the slab_debug default set FZPU on a 64-byte cache.
    #[test]
    fn full_debug_default_flags_sizes() {
        // 64 +8 rz = 72 (inuse), fp outside (poison) 80, tracks 144, pad 152, left pad 160.
        let l = layout(&req(64, 8, DEBUG_DEFAULT_FLAGS));
        assert_eq!((l.inuse, l.offset, l.red_left_pad, l.size), (72, 72, 8, 160));
        assert!(l.flags.contains(__OBJECT_POISON));
        assert_eq!(l.ksize(), 64);
        assert_eq!(l.sheaf_capacity, 0);
    }

    /// mm/slub.c: calculate_sizes(): without CONFIG_SLUB_DEBUG no debug metadata is added.
    #[test]
    fn no_debug_metadata_without_slub_debug_config() {
        let cfg = SlabConfig { slub_debug_config: false, ..Default::default() };
        let l = calculate_sizes(&req(64, 8, SLAB_RED_ZONE | SLAB_STORE_USER), &cfg).unwrap();
        assert_eq!((l.inuse, l.size, l.red_left_pad), (64, 64, 0));
    }

    /// mm/slub.c: slab_ksize(): object_size for debug, inuse for RCU/STORE_USER, else the stride.
    #[test]
    fn ksize_rules() {
        assert_eq!(layout(&req(100, 8, SlabFlags::EMPTY)).ksize(), 104);
        assert_eq!(layout(&req(100, 8, SLAB_TYPESAFE_BY_RCU)).ksize(), 104);
        assert_eq!(layout(&req(100, 8, SLAB_RED_ZONE)).ksize(), 100);
        assert_eq!(layout(&req(100, 64, SlabFlags::EMPTY)).ksize(), 128);
        assert_eq!(layout(&req(100, 64, SLAB_TYPESAFE_BY_RCU)).ksize(), 104);
    }

    /// mm/slub.c: do_kmem_cache_create(): min_partial = clamp(ilog2(size) / 2, 5, 10).
    #[test]
    fn min_partial_clamp() {
        assert_eq!(layout(&req(8, 8, SlabFlags::EMPTY)).min_partial, 5);
        assert_eq!(layout(&req(4096, 8, SlabFlags::EMPTY)).min_partial, 6);
        assert_eq!(layout(&req(65536, 8, SlabFlags::EMPTY)).min_partial, 8);
        assert_eq!(layout(&req(2 << 20, 8, SlabFlags::EMPTY)).min_partial, 10);
    }

    /// mm/slub.c: calculate_sizes(): object size 0 is refused (undefined in the kernel).
    #[test]
    fn zero_object_size_is_invalid() {
        let e = calculate_sizes(&req(0, 8, SlabFlags::EMPTY), &SlabConfig::default()).unwrap_err();
        assert!(matches!(e, SlabError::InvalidArgument(_)));
        assert!(calculate_sizes(&req(8, 0, SlabFlags::EMPTY), &SlabConfig::default()).is_err());
    }

    /// mm/slub.c: calculate_order(): 12 objects minimum with 2 CPUs, waste at most 1/16.
    #[test]
    fn calculate_order_census_cpus() {
        let cfg = SlabConfig::default();
        assert_eq!(calculate_order(8, &cfg).unwrap(), 0);
        assert_eq!(calculate_order(256, &cfg).unwrap(), 0);
        assert_eq!(calculate_order(192, &cfg).unwrap(), 0);
        // 4096: min_objects 12 capped to 8 (order 3 holds 8) -> order 3.
        assert_eq!(calculate_order(4096, &cfg).unwrap(), 3);
        assert_eq!(calculate_order(8192, &cfg).unwrap(), 3);
        // 432: 12 * 432 = 5184 -> order 1 (8192 % 432 = 416 <= 512).
        assert_eq!(calculate_order(432, &cfg).unwrap(), 1);
    }

    /// mm/slub.c: calculate_order(): min_objects = 4 * (fls(nr_cpus) + 1); one CPU falls back to nr_cpu_ids.
    #[test]
    fn calculate_order_min_objects_by_cpus() {
        let with = |nr_cpus| SlabConfig { nr_cpus, ..Default::default() };
        assert_eq!(min_objects_for(&with(1)), 8);
        assert_eq!(min_objects_for(&with(2)), 12);
        assert_eq!(min_objects_for(&with(8)), 20);
        assert_eq!(min_objects_for(&with(64)), 32);
        // 432 * 8 = 3456 fits one page, 4096 % 432 = 208 <= 256.
        assert_eq!(calculate_order(432, &with(1)).unwrap(), 0);
        // 208 * 20 = 4160 -> order 1 with 8 CPUs, order 0 with 2.
        assert_eq!(calculate_order(208, &with(8)).unwrap(), 1);
        assert_eq!(calculate_order(208, &with(2)).unwrap(), 0);
        let explicit = SlabConfig { slub_min_objects: 64, ..Default::default() };
        assert_eq!(calculate_order(256, &explicit).unwrap(), 2);
    }

    /// mm/slub.c: calculate_order(): big objects fall back to get_order(size); beyond MAX_PAGE_ORDER is an error.
    #[test]
    fn calculate_order_large_objects() {
        let cfg = SlabConfig::default();
        assert_eq!(calculate_order(4 << 20, &cfg).unwrap(), 10);
        assert_eq!(calculate_order(40000, &cfg).unwrap(), 4);
        assert!(matches!(calculate_order((4 << 20) + 8, &cfg), Err(SlabError::InvalidArgument(_))));
        assert!(calculate_order(0, &cfg).is_err());
        let l = calculate_sizes(&req((4 << 20) + 1, 8, SlabFlags::EMPTY), &cfg);
        assert!(matches!(l, Err(SlabError::InvalidArgument(_))));
    }

    /// mm/slub.c: calculate_order(): too many objects for the 15-bit counter lowers the order.
    #[test]
    fn calculate_order_max_objs_per_page() {
        let cfg = SlabConfig { slub_min_order: 10, slub_max_order: 10, ..Default::default() };
        // order_objects(10, 8) = 524288 > 32767 -> get_order(8 * 32767) - 1 = 5.
        assert_eq!(calculate_order(8, &cfg).unwrap(), 5);
        assert_eq!(order_objects(5, 8), 16384);
        let bad = SlabConfig { slub_min_order: 4, slub_max_order: 3, ..Default::default() };
        assert!(calculate_order(8, &bad).is_err());
        let bad = SlabConfig { slub_max_order: 11, ..Default::default() };
        assert!(calculate_order(8, &bad).is_err());
    }

    /// mm/slub.c: calc_slab_order(): the first order from min_order whose leftover is at most 1/fract.
    #[test]
    fn calc_slab_order_first_fitting_order() {
        // 4096 % 1000 = 96 <= 4096 / 16.
        assert_eq!(calc_slab_order(1000, 0, 3, 16), 0);
        // 3000: 4096 % 3000 = 1096 > 256; 8192 % 3000 = 2192 > 512;
        // 16384 % 3000 = 1384 > 1024; 32768 % 3000 = 2768 > 2048 -> none (4).
        assert_eq!(calc_slab_order(3000, 0, 3, 16), 4);
        assert_eq!(calc_slab_order(3000, 0, 3, 2), 0);
        assert_eq!(calc_slab_order(8, 5, 3, 16), 5);
    }

    /// mm/slub.c: calculate_sizes(): oo and min pack order and objects.
    #[test]
    fn objects_and_min_order() {
        let l = layout(&req(4096, 4096, SLAB_KMALLOC));
        assert_eq!((l.order, l.objects, l.min_order, l.min_objects), (3, 8, 0, 1));
        assert_eq!(l.slab_bytes(), 32768);
    }

    /// mm/slub.c: calculate_sizes(): max_objects_per_slab caps objects and shrinks the order (model only).
    #[test]
    fn max_objects_per_slab_caps_objects() {
        let cfg = SlabConfig { max_objects_per_slab: Some(4), ..Default::default() };
        let l = calculate_sizes(&req(64, 8, SlabFlags::EMPTY), &cfg).unwrap();
        assert_eq!((l.order, l.objects, l.min_objects), (0, 4, 4));
        let l = calculate_sizes(&req(4096, 4096, SlabFlags::EMPTY), &cfg).unwrap();
        assert_eq!((l.order, l.objects), (2, 4));
        let l = calculate_sizes(&req(8192, 8, SlabFlags::EMPTY), &cfg).unwrap();
        assert_eq!((l.order, l.objects), (3, 4));
        let cfg = SlabConfig { max_objects_per_slab: Some(1000), ..Default::default() };
        let l = calculate_sizes(&req(64, 8, SlabFlags::EMPTY), &cfg).unwrap();
        assert_eq!((l.order, l.objects), (0, 64));
        let cfg = SlabConfig { max_objects_per_slab: Some(0), ..Default::default() };
        assert!(calculate_sizes(&req(64, 8, SlabFlags::EMPTY), &cfg).is_err());
    }

    /// mm/slab_common.c: kmalloc_size_roundup(): the kmalloc bucket size, pages above 8 KiB.
    #[test]
    fn kmalloc_size_roundup_buckets() {
        let cases = [
            (0, 0),
            (1, 8),
            (8, 8),
            (9, 16),
            (24, 32),
            (33, 64),
            (65, 96),
            (96, 96),
            (97, 128),
            (129, 192),
            (193, 256),
            (240, 256),
            (257, 512),
            (512, 512),
            (1025, 2048),
            (4096, 4096),
            (8192, 8192),
            (8193, 16384),
            (20000, 32768),
        ];
        for (size, want) in cases {
            assert_eq!(kmalloc_size_roundup(size), want, "{size}");
        }
    }

    /// mm/slub.c: calculate_sheaf_capacity(): 60, 28, 12, 4 by stride, filling the kmalloc bucket.
    #[test]
    fn sheaf_capacity_by_stride() {
        let e = SlabFlags::EMPTY;
        assert_eq!(calculate_sheaf_capacity(64, e, 0), 60);
        assert_eq!(calculate_sheaf_capacity(255, e, 0), 60);
        assert_eq!(calculate_sheaf_capacity(256, e, 0), 28);
        assert_eq!(calculate_sheaf_capacity(1024, e, 0), 12);
        assert_eq!(calculate_sheaf_capacity(4096, e, 0), 4);
        assert_eq!(calculate_sheaf_capacity(4096, e, 32), 32);
        assert_eq!(calculate_sheaf_capacity(64, SLAB_RED_ZONE, 32), 0);
        assert_eq!(calculate_sheaf_capacity(64, SLAB_NO_OBJ_EXT, 0), 0);
        assert_eq!(calculate_sheaf_capacity(64, SLAB_NOLEAKTRACE, 0), 0);
    }

    /// mm/slub.c: do_kmem_cache_create(): 6.18 sheaves only with an explicit capacity; override replaces it.
    #[test]
    fn sheaf_capacity_by_config() {
        let v618 = SlabConfig { sheaves_for_all: false, merge_rules: MergeRules::V6_18, ..Default::default() };
        let mut r = req(256, 256, SlabFlags::EMPTY);
        assert_eq!(calculate_sizes(&r, &v618).unwrap().sheaf_capacity, 0);
        r.sheaf_capacity = 32;
        assert_eq!(calculate_sizes(&r, &v618).unwrap().sheaf_capacity, 32);
        assert_eq!(calculate_sizes(&r, &SlabConfig::default()).unwrap().sheaf_capacity, 32);
        r.flags = SLAB_POISON;
        assert_eq!(calculate_sizes(&r, &v618).unwrap().sheaf_capacity, 0);
        let tiny = SlabConfig { sheaf_capacity_override: Some(3), ..Default::default() };
        assert_eq!(calculate_sizes(&req(64, 8, SlabFlags::EMPTY), &tiny).unwrap().sheaf_capacity, 3);
        assert_eq!(calculate_sizes(&req(64, 8, SLAB_RED_ZONE), &tiny).unwrap().sheaf_capacity, 0);
        let tiny618 = SlabConfig { sheaves_for_all: false, ..tiny };
        assert_eq!(calculate_sizes(&req(64, 8, SlabFlags::EMPTY), &tiny618).unwrap().sheaf_capacity, 0);
    }

    /// mm/slub.c: create_unique_id(): ':' + dDaFA letters + '-' if any + %07u of the stride.
    #[test]
    fn unique_id_format() {
        assert_eq!(create_unique_id(SlabFlags::EMPTY, 64), ":0000064");
        assert_eq!(create_unique_id(SLAB_ACCOUNT, 192), ":A-0000192");
        assert_eq!(create_unique_id(SLAB_RECLAIM_ACCOUNT | SLAB_HWCACHE_ALIGN, 104), ":a-0000104");
        assert_eq!(create_unique_id(SLAB_CACHE_DMA | SLAB_ACCOUNT, 8192), ":dA-0008192");
        assert_eq!(
            create_unique_id(
                SLAB_CACHE_DMA | SLAB_CACHE_DMA32 | SLAB_RECLAIM_ACCOUNT | SLAB_CONSISTENCY_CHECKS | SLAB_ACCOUNT,
                12345678
            ),
            ":dDaFA-12345678"
        );
    }
}
