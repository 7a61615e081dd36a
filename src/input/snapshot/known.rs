//! Which values of a [`crate::input::census::CensusRow`] a snapshot really gave.

use std::fmt;

/// A set of [`crate::input::census::CensusRow`] value fields (everything but
/// `name`, `kind` and `target`, which every reader gives).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Known(u32);

macro_rules! known_fields {
    ($($(#[$doc:meta])* $konst:ident = $bit:expr, $name:literal;)*) => {
        impl Known {
            $($(#[$doc])* pub const $konst: Known = Known(1 << $bit);)*
            /// Every field, one at a time, with its `CensusRow` field name.
            pub const FIELDS: &'static [(Known, &'static str)] = &[$((Known::$konst, $name)),*];
        }
    };
}

known_fields! {
    /// `object_size`
    OBJECT_SIZE = 0, "object_size";
    /// `slab_size`
    SLAB_SIZE = 1, "slab_size";
    /// `align`
    ALIGN = 2, "align";
    /// `aliases`
    ALIASES = 3, "aliases";
    /// `objs_per_slab`
    OBJS_PER_SLAB = 4, "objs_per_slab";
    /// `order`
    ORDER = 5, "order";
    /// `hwcache_align`
    HWCACHE_ALIGN = 6, "hwcache_align";
    /// `reclaim_account`
    RECLAIM_ACCOUNT = 7, "reclaim_account";
    /// `cache_dma`
    CACHE_DMA = 8, "cache_dma";
    /// `destroy_by_rcu`
    DESTROY_BY_RCU = 9, "destroy_by_rcu";
    /// `poison`
    POISON = 10, "poison";
    /// `red_zone`
    RED_ZONE = 11, "red_zone";
    /// `store_user`
    STORE_USER = 12, "store_user";
    /// `sanity_checks`
    SANITY_CHECKS = 13, "sanity_checks";
    /// `usersize`
    USERSIZE = 14, "usersize";
    /// `sheaf_capacity`
    SHEAF_CAPACITY = 15, "sheaf_capacity";
    /// `ctor`
    CTOR = 16, "ctor";
    /// `objects` (live)
    OBJECTS = 17, "objects";
    /// `slabs` (live)
    SLABS = 18, "slabs";
}

impl Known {
    /// No value known.
    pub const NONE: Known = Known(0);
    /// Every value known (census TSV, directory, tar).
    pub const ALL: Known = Known((1 << 19) - 1);
    /// The live counters, which differ between two captures of one kernel.
    pub const LIVE: Known = Known(Known::OBJECTS.0 | Known::SLABS.0);

    /// Whether every field of `other` is in `self`.
    pub fn contains(self, other: Known) -> bool {
        self.0 & other.0 == other.0
    }
    /// The union.
    pub fn union(self, other: Known) -> Known {
        Known(self.0 | other.0)
    }
    /// `self` without the fields of `other`.
    pub fn minus(self, other: Known) -> Known {
        Known(self.0 & !other.0)
    }
    /// Whether no field is known.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The `CensusRow` field names in the set.
    pub fn names(self) -> Vec<&'static str> {
        Known::FIELDS.iter().filter(|(k, _)| self.contains(*k)).map(|(_, n)| *n).collect()
    }
}

impl std::ops::BitOr for Known {
    type Output = Known;
    fn bitor(self, rhs: Known) -> Known {
        self.union(rhs)
    }
}

impl fmt::Debug for Known {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Known::ALL {
            return f.write_str("Known::ALL");
        }
        write!(f, "Known({})", self.names().join("|"))
    }
}
