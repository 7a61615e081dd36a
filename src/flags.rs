//! `slab_flags_t` and the `SLAB_*` constants.
//!
//! Mirrors `include/linux/slab.h`: `enum _slab_flag_bits` (6.18 x86_64 with
//! every optional feature present, so no flag maps to `__SLAB_FLAG_UNUSED`),
//! plus `SLAB_PREALLOCATED` from Al Viro's v3 02/10, `SLAB_MEM_SPREAD` of the
//! kernels before 6.9, and the flag groups of `mm/slab.h` and
//! `mm/slab_common.c` as 6.18 has them (other releases:
//! [`crate::config::MergeRules`]).

use std::fmt;

/// A set of `SLAB_*` flags (`slab_flags_t`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct SlabFlags(pub u32);

macro_rules! slab_flags {
    ($($(#[$doc:meta])* $name:ident = $bit:expr;)*) => {
        $( $(#[$doc])* pub const $name: SlabFlags = SlabFlags(1 << $bit); )*
        /// Every named flag with its canonical kernel name, in bit order.
        pub const ALL_NAMED: &[(&str, SlabFlags)] = &[$((stringify!($name), $name)),*];
    };
}

slab_flags! {
    /// Debug: full checks on alloc and free (`slub_debug=F`).
    SLAB_CONSISTENCY_CHECKS = 0;
    /// Debug: red zones around objects (`slub_debug=Z`).
    SLAB_RED_ZONE = 1;
    /// Debug: poison free objects (`slub_debug=P`).
    SLAB_POISON = 2;
    /// A kmalloc cache.
    SLAB_KMALLOC = 3;
    /// Align objects on cache lines (the `calculate_alignment` heuristic).
    SLAB_HWCACHE_ALIGN = 4;
    /// Use `GFP_DMA` memory.
    SLAB_CACHE_DMA = 5;
    /// Use `GFP_DMA32` memory.
    SLAB_CACHE_DMA32 = 6;
    /// Debug: store the last owner (`slub_debug=U`).
    SLAB_STORE_USER = 7;
    /// Panic if creation fails; this library returns the error instead.
    SLAB_PANIC = 8;
    /// Defer freeing slab pages by RCU.
    SLAB_TYPESAFE_BY_RCU = 9;
    /// Debug: trace allocations and frees (`slub_debug=T`).
    SLAB_TRACE = 10;
    /// Skip `debug_check_no_obj_freed`.
    SLAB_DEBUG_OBJECTS = 11;
    /// Kmemleak ignores this cache.
    SLAB_NOLEAKTRACE = 12;
    /// Never merge this cache, in either direction.
    SLAB_NO_MERGE = 13;
    /// Fault injection (`slub_debug=a`); not accepted from callers.
    SLAB_FAILSLAB = 14;
    /// Account objects to memcg.
    SLAB_ACCOUNT = 15;
    /// Internal: KASAN generic.
    SLAB_KASAN = 16;
    /// Ignore `slab_debug=` for this cache.
    SLAB_NO_USER_FLAGS = 17;
    /// KFENCE skips this cache.
    SLAB_SKIP_KFENCE = 18;
    /// Pages are reclaimable (`SLAB_TEMPORARY`).
    SLAB_RECLAIM_ACCOUNT = 19;
    /// Internal SLUB: poison object contents (`__OBJECT_POISON`).
    __OBJECT_POISON = 20;
    /// Internal SLUB: double cmpxchg usable (`__CMPXCHG_DOUBLE`).
    __CMPXCHG_DOUBLE = 21;
    /// Boot caches only: no object extensions.
    SLAB_NO_OBJ_EXT = 22;
    /// Al Viro v3 02/10: the instance has static storage duration and is never freed.
    SLAB_PREALLOCATED = 23;
    /// Spread allocations over cpuset memory nodes: used by SLAB only, a no-op
    /// in SLUB, gone in 6.9 (see [`crate::config::MergeRules::flags_permitted`]).
    SLAB_MEM_SPREAD = 24;
}

/// `SLAB_TEMPORARY` is an alias of `SLAB_RECLAIM_ACCOUNT`.
pub const SLAB_TEMPORARY: SlabFlags = SLAB_RECLAIM_ACCOUNT;

/// `mm/slab.h`: `SLAB_DEBUG_FLAGS`.
pub const SLAB_DEBUG_FLAGS: SlabFlags =
    SlabFlags(SLAB_RED_ZONE.0 | SLAB_POISON.0 | SLAB_STORE_USER.0 | SLAB_TRACE.0 | SLAB_CONSISTENCY_CHECKS.0);

/// `mm/slab.h`: `SLAB_CORE_FLAGS`.
pub const SLAB_CORE_FLAGS: SlabFlags = SlabFlags(
    SLAB_HWCACHE_ALIGN.0
        | SLAB_CACHE_DMA.0
        | SLAB_CACHE_DMA32.0
        | SLAB_PANIC.0
        | SLAB_TYPESAFE_BY_RCU.0
        | SLAB_DEBUG_OBJECTS.0
        | SLAB_NOLEAKTRACE.0
        | SLAB_RECLAIM_ACCOUNT.0
        | SLAB_ACCOUNT.0
        | SLAB_NO_USER_FLAGS.0
        | SLAB_KMALLOC.0
        | SLAB_NO_MERGE.0,
);

/// `mm/slab.h`: `SLAB_FLAGS_PERMITTED`; any other bit from a caller is `-EINVAL`.
pub const SLAB_FLAGS_PERMITTED: SlabFlags = SlabFlags(SLAB_CORE_FLAGS.0 | SLAB_DEBUG_FLAGS.0);

/// `mm/slab_common.c`: `SLAB_NEVER_MERGE` as in 6.15-6.19.
pub const SLAB_NEVER_MERGE_6_18: SlabFlags = SlabFlags(
    SLAB_RED_ZONE.0
        | SLAB_POISON.0
        | SLAB_STORE_USER.0
        | SLAB_TRACE.0
        | SLAB_TYPESAFE_BY_RCU.0
        | SLAB_NOLEAKTRACE.0
        | SLAB_FAILSLAB.0
        | SLAB_NO_MERGE.0,
);

/// `mm/slab_common.c`: `SLAB_NEVER_MERGE` as in 7.0 (all debug flags block merging).
pub const SLAB_NEVER_MERGE_7_0: SlabFlags =
    SlabFlags(SLAB_DEBUG_FLAGS.0 | SLAB_TYPESAFE_BY_RCU.0 | SLAB_NOLEAKTRACE.0 | SLAB_FAILSLAB.0 | SLAB_NO_MERGE.0);

/// `mm/slab_common.c`: `SLAB_MERGE_SAME`: flags that must be equal for two caches to merge.
pub const SLAB_MERGE_SAME: SlabFlags =
    SlabFlags(SLAB_RECLAIM_ACCOUNT.0 | SLAB_CACHE_DMA.0 | SLAB_CACHE_DMA32.0 | SLAB_ACCOUNT.0);

/// `mm/slub.c`: `DEBUG_DEFAULT_FLAGS`, what `slab_debug` without letters enables.
pub const DEBUG_DEFAULT_FLAGS: SlabFlags =
    SlabFlags(SLAB_CONSISTENCY_CHECKS.0 | SLAB_RED_ZONE.0 | SLAB_POISON.0 | SLAB_STORE_USER.0);

impl SlabFlags {
    /// The empty set (`0`).
    pub const EMPTY: SlabFlags = SlabFlags(0);

    /// True if any bit of `other` is set in `self` (the kernel's `flags & X`).
    #[inline]
    pub const fn intersects(self, other: SlabFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// True if every bit of `other` is set in `self`.
    #[inline]
    pub const fn contains(self, other: SlabFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self & mask`.
    #[inline]
    pub const fn mask(self, mask: SlabFlags) -> SlabFlags {
        SlabFlags(self.0 & mask.0)
    }

    /// `self & ~other`.
    #[inline]
    pub const fn without(self, other: SlabFlags) -> SlabFlags {
        SlabFlags(self.0 & !other.0)
    }

    /// True if no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flag with this canonical kernel name (`SLAB_TEMPORARY` is accepted too).
    pub fn from_name(name: &str) -> Option<SlabFlags> {
        if name == "SLAB_TEMPORARY" {
            return Some(SLAB_TEMPORARY);
        }
        ALL_NAMED.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// Parses `0` or canonical names joined by `|`, as the trace file writes them.
    pub fn parse(text: &str) -> Result<SlabFlags, String> {
        let text = text.trim();
        if text == "0" || text.is_empty() {
            return Ok(SlabFlags::EMPTY);
        }
        let mut flags = SlabFlags::EMPTY;
        for part in text.split('|') {
            let part = part.trim();
            flags |= SlabFlags::from_name(part).ok_or_else(|| format!("unknown slab flag {part:?}"))?;
        }
        Ok(flags)
    }
}

impl std::ops::BitOr for SlabFlags {
    type Output = SlabFlags;
    fn bitor(self, rhs: SlabFlags) -> SlabFlags {
        SlabFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for SlabFlags {
    fn bitor_assign(&mut self, rhs: SlabFlags) {
        self.0 |= rhs.0;
    }
}

impl std::ops::BitAnd for SlabFlags {
    type Output = SlabFlags;
    fn bitand(self, rhs: SlabFlags) -> SlabFlags {
        SlabFlags(self.0 & rhs.0)
    }
}

impl fmt::Display for SlabFlags {
    /// Canonical names in bit order joined by `|`, or `0`; unnamed bits as hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0");
        }
        let mut rest = self.0;
        let mut first = true;
        for (name, flag) in ALL_NAMED {
            if self.0 & flag.0 != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
                rest &= !flag.0;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{rest:#x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SlabFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let f = SlabFlags::parse("SLAB_HWCACHE_ALIGN|SLAB_PANIC|SLAB_ACCOUNT").unwrap();
        assert_eq!(f, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT);
        assert_eq!(f.to_string(), "SLAB_HWCACHE_ALIGN|SLAB_PANIC|SLAB_ACCOUNT");
        assert_eq!(SlabFlags::parse("0").unwrap(), SlabFlags::EMPTY);
        assert!(SlabFlags::parse("SLAB_BOGUS").is_err());
        assert_eq!(SlabFlags::parse("SLAB_TEMPORARY").unwrap(), SLAB_RECLAIM_ACCOUNT);
    }

    /// mm/slab_common.c (7.0): CONSISTENCY_CHECKS joined SLAB_NEVER_MERGE via SLAB_DEBUG_FLAGS.
    #[test]
    fn never_merge_differs_only_in_consistency_checks() {
        assert_eq!(SLAB_NEVER_MERGE_7_0.without(SLAB_NEVER_MERGE_6_18), SLAB_CONSISTENCY_CHECKS);
        assert!(!SLAB_FLAGS_PERMITTED.intersects(SLAB_FAILSLAB | SLAB_PREALLOCATED));
    }
}
