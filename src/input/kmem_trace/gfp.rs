//! GFP flags as the kmem tracepoints print them (`show_gfp_flags()`).
//!
//! The text is `none`, or names joined by `|`, possibly ending in a hex
//! remainder for bits without a name (`__GFP_ZERO|0x1000000`). Composite names
//! (`GFP_KERNEL_ACCOUNT`) are expanded to their bits with the Linux 6.18
//! values (`include/linux/gfp_types.h`; the table is the kernel's
//! `__def_gfpflag_names` as printed in the events' `format` files). A line
//! whose flags are a bare hex number (perf or trace-cmd without the kmem
//! plugin can print that) is accepted too.

use std::sync::Arc;

/// Bit values of Linux 6.18 `___GFP_*` (without `CONFIG_LOCKDEP`/`CONFIG_SLAB_OBJ_EXT` extras).
#[allow(missing_docs)] // `___GFP_<NAME>`, one per bit
pub mod bits {
    pub const DMA: u64 = 1 << 0;
    pub const HIGHMEM: u64 = 1 << 1;
    pub const DMA32: u64 = 1 << 2;
    pub const MOVABLE: u64 = 1 << 3;
    pub const RECLAIMABLE: u64 = 1 << 4;
    pub const HIGH: u64 = 1 << 5;
    pub const IO: u64 = 1 << 6;
    pub const FS: u64 = 1 << 7;
    pub const ZERO: u64 = 1 << 8;
    pub const DIRECT_RECLAIM: u64 = 1 << 10;
    pub const KSWAPD_RECLAIM: u64 = 1 << 11;
    pub const WRITE: u64 = 1 << 12;
    pub const NOWARN: u64 = 1 << 13;
    pub const RETRY_MAYFAIL: u64 = 1 << 14;
    pub const NOFAIL: u64 = 1 << 15;
    pub const NORETRY: u64 = 1 << 16;
    pub const MEMALLOC: u64 = 1 << 17;
    pub const COMP: u64 = 1 << 18;
    pub const NOMEMALLOC: u64 = 1 << 19;
    pub const HARDWALL: u64 = 1 << 20;
    pub const THISNODE: u64 = 1 << 21;
    pub const ACCOUNT: u64 = 1 << 22;
    pub const ZEROTAGS: u64 = 1 << 23;
    pub const NO_OBJ_EXT: u64 = 1 << 24;
    pub const RECLAIM: u64 = DIRECT_RECLAIM | KSWAPD_RECLAIM;
}

use bits::*;

/// Name → bits, as `show_gfp_flags()` knows them in 6.18 (plus a few older
/// names so that captures of older kernels still parse).
const NAMES: &[(&str, u64)] = &[
    (
        "GFP_TRANSHUGE",
        ((RECLAIM | IO | FS | HARDWALL | HIGHMEM | MOVABLE | COMP | NOMEMALLOC | NOWARN) & !RECLAIM) | DIRECT_RECLAIM,
    ),
    ("GFP_TRANSHUGE_LIGHT", (RECLAIM | IO | FS | HARDWALL | HIGHMEM | MOVABLE | COMP | NOMEMALLOC | NOWARN) & !RECLAIM),
    ("GFP_HIGHUSER_MOVABLE", RECLAIM | IO | FS | HARDWALL | HIGHMEM | MOVABLE),
    ("GFP_HIGHUSER", RECLAIM | IO | FS | HARDWALL | HIGHMEM),
    ("GFP_USER", RECLAIM | IO | FS | HARDWALL),
    ("GFP_KERNEL_ACCOUNT", RECLAIM | IO | FS | ACCOUNT),
    ("GFP_KERNEL", RECLAIM | IO | FS),
    ("GFP_NOFS", RECLAIM | IO),
    ("GFP_ATOMIC", HIGH | KSWAPD_RECLAIM),
    ("GFP_NOIO", RECLAIM),
    ("GFP_NOWAIT", KSWAPD_RECLAIM | NOWARN),
    ("GFP_DMA", DMA),
    ("GFP_DMA32", DMA32),
    ("__GFP_RECLAIM", RECLAIM),
    ("__GFP_DMA", DMA),
    ("__GFP_HIGHMEM", HIGHMEM),
    ("__GFP_DMA32", DMA32),
    ("__GFP_MOVABLE", MOVABLE),
    ("__GFP_RECLAIMABLE", RECLAIMABLE),
    ("__GFP_HIGH", HIGH),
    ("__GFP_IO", IO),
    ("__GFP_FS", FS),
    ("__GFP_ZERO", ZERO),
    ("__GFP_DIRECT_RECLAIM", DIRECT_RECLAIM),
    ("__GFP_KSWAPD_RECLAIM", KSWAPD_RECLAIM),
    ("__GFP_WRITE", WRITE),
    ("__GFP_NOWARN", NOWARN),
    ("__GFP_RETRY_MAYFAIL", RETRY_MAYFAIL),
    ("__GFP_NOFAIL", NOFAIL),
    ("__GFP_NORETRY", NORETRY),
    ("__GFP_MEMALLOC", MEMALLOC),
    ("__GFP_COMP", COMP),
    ("__GFP_NOMEMALLOC", NOMEMALLOC),
    ("__GFP_HARDWALL", HARDWALL),
    ("__GFP_THISNODE", THISNODE),
    ("__GFP_ACCOUNT", ACCOUNT),
    ("__GFP_ZEROTAGS", ZEROTAGS),
    ("__GFP_NO_OBJ_EXT", NO_OBJ_EXT),
    // Names of older kernels (5.x/early 6.x), read as no bits: none of them
    // changes what kmalloc_type() picks.
    ("__GFP_ATOMIC", 0),
    ("__GFP_SKIP_KASAN", 0),
    ("__GFP_SKIP_KASAN_POISON", 0),
    ("__GFP_SKIP_KASAN_UNPOISON", 0),
    ("__GFP_SKIP_ZERO", 0),
    ("__GFP_NOLOCKDEP", 0),
    ("__GFP_UNMAPPED", 0),
];

/// Which `kmalloc_caches[type]` row `kmalloc_slab()` would use for these
/// flags (6.18 `kmalloc_type()`, with `CONFIG_ZONE_DMA=y` and
/// `CONFIG_MEMCG=y` as on x86_64 distribution kernels; `KMALLOC_RANDOM_*`
/// rows count as `Normal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KmallocType {
    /// `kmalloc-N` (or one of the `kmalloc-rnd-*` copies).
    Normal,
    /// `kmalloc-rcl-N`: `__GFP_RECLAIMABLE`.
    Reclaim,
    /// `dma-kmalloc-N`: `__GFP_DMA`.
    Dma,
    /// `kmalloc-cg-N`: `__GFP_ACCOUNT`.
    Cgroup,
}

/// Parsed GFP flags plus the text they were parsed from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GfpFlags {
    /// The `___GFP_*` bits.
    pub bits: u64,
    /// The flags as printed (`GFP_KERNEL|__GFP_ZERO`, `none`), shared between
    /// events with the same text.
    pub raw: Arc<str>,
}

impl GfpFlags {
    /// Parses the printed flags. An unknown name is an error naming it.
    pub fn parse_bits(text: &str) -> Result<u64, String> {
        if text.is_empty() {
            return Err("empty gfp_flags".into());
        }
        if text == "none" || text == "0" {
            return Ok(0);
        }
        let mut acc = 0u64;
        for part in text.split('|') {
            if let Some(hex) = part.strip_prefix("0x") {
                acc |= u64::from_str_radix(hex, 16).map_err(|_| format!("bad hex in gfp_flags `{text}`: `{part}`"))?;
                continue;
            }
            match NAMES.iter().find(|(n, _)| *n == part) {
                Some((_, b)) => acc |= b,
                None => return Err(format!("unknown gfp flag `{part}` in `{text}`")),
            }
        }
        Ok(acc)
    }

    /// `__GFP_ACCOUNT`: charged to the memory cgroup (kmalloc-cg-N).
    pub fn account(&self) -> bool {
        self.bits & ACCOUNT != 0
    }

    /// `__GFP_RECLAIMABLE`: kmalloc-rcl-N.
    pub fn reclaimable(&self) -> bool {
        self.bits & RECLAIMABLE != 0
    }

    /// `__GFP_DMA` (`GFP_DMA`): dma-kmalloc-N.
    pub fn dma(&self) -> bool {
        self.bits & DMA != 0
    }

    /// The kmalloc cache row these flags select (`kmalloc_type()`): DMA
    /// first, then RECLAIMABLE, then ACCOUNT.
    pub fn kmalloc_type(&self) -> KmallocType {
        if self.bits & (DMA | RECLAIMABLE | ACCOUNT) == 0 {
            KmallocType::Normal
        } else if self.dma() {
            KmallocType::Dma
        } else if self.reclaimable() {
            KmallocType::Reclaim
        } else {
            KmallocType::Cgroup
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_names_expand() {
        let b = GfpFlags::parse_bits("GFP_KERNEL_ACCOUNT|__GFP_ZERO").unwrap();
        assert_eq!(b, RECLAIM | IO | FS | ACCOUNT | ZERO);
        assert_eq!(GfpFlags::parse_bits("none").unwrap(), 0);
        assert_eq!(GfpFlags::parse_bits("GFP_NOFS|__GFP_RECLAIMABLE").unwrap(), RECLAIM | IO | RECLAIMABLE);
        assert_eq!(GfpFlags::parse_bits("__GFP_ZERO|0x1000000").unwrap(), ZERO | NO_OBJ_EXT);
        assert!(GfpFlags::parse_bits("GFP_BOGUS").unwrap_err().contains("GFP_BOGUS"));
    }

    #[test]
    fn kmalloc_type_priority() {
        let f = |t: &str| GfpFlags { bits: GfpFlags::parse_bits(t).unwrap(), raw: t.into() }.kmalloc_type();
        assert_eq!(f("GFP_KERNEL"), KmallocType::Normal);
        assert_eq!(f("GFP_KERNEL_ACCOUNT"), KmallocType::Cgroup);
        assert_eq!(f("GFP_KERNEL_ACCOUNT|__GFP_RECLAIMABLE"), KmallocType::Reclaim);
        assert_eq!(f("GFP_KERNEL|__GFP_RECLAIMABLE|GFP_DMA"), KmallocType::Dma);
    }
}
