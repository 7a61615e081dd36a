//! `CONFIG_SLUB_STATS`: per-cpu event counters of a storage.
//!
//! Mirrors `enum stat_item` and `stat()` of `mm/slub.c` for the events this
//! model has (sheaves, barn, slabs; the model has no cpu slab, so there is no
//! `ALLOC_FASTPATH`/`FREE_FASTPATH`: every allocation is `ALLOC_PCS` or
//! `ALLOC_SLOWPATH`, every free `FREE_PCS` or `FREE_SLOWPATH`). Like the
//! kernel option it is compile-time: without the `slub_stats` feature
//! [`SlubStat`] is an empty type and `CacheStorage::stat` compiles to
//! nothing, so the fast path's instructions are unchanged. With it, each
//! event is one relaxed add on the current CPU slot's counter, and
//! [`SlubStat::read`] gives what `/sys/kernel/slab/<cache>/<item>` prints
//! (the total, then `C<cpu>=<n>` per CPU).

/// The counted events, with the kernel's `enum stat_item` names.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(usize)]
pub enum StatItem {
    /// Allocation from the per-cpu sheaf.
    ALLOC_PCS,
    /// Allocation that missed the sheaves and took an object from a slab.
    ALLOC_SLOWPATH,
    /// Free to the per-cpu sheaf.
    FREE_PCS,
    /// Free that went to the slab (`__slab_free`).
    FREE_SLOWPATH,
    /// A slab that became partial because of a free (it was full).
    FREE_ADD_PARTIAL,
    /// A slab freed back to the page allocator (empty beyond `min_partial`).
    FREE_SLAB,
    /// A slab allocated from the page allocator.
    ALLOC_SLAB,
    /// A sheaf's objects returned to their slabs (`sheaf_flush_unused`).
    SHEAF_FLUSH,
    /// A sheaf refilled from slabs (`refill_sheaf`).
    SHEAF_REFILL,
    /// A full sheaf taken from the barn for an empty main.
    BARN_GET,
    /// The barn had no full sheaf.
    BARN_GET_FAIL,
    /// A full sheaf put into the barn.
    BARN_PUT,
    /// The barn was at `MAX_FULL_SHEAVES`.
    BARN_PUT_FAIL,
}

/// `NR_SLUB_STAT_ITEMS`.
pub const NR_SLUB_STAT_ITEMS: usize = StatItem::BARN_PUT_FAIL as usize + 1;

impl StatItem {
    /// Every item, in `enum` order.
    pub const ALL: [StatItem; NR_SLUB_STAT_ITEMS] = [
        StatItem::ALLOC_PCS,
        StatItem::ALLOC_SLOWPATH,
        StatItem::FREE_PCS,
        StatItem::FREE_SLOWPATH,
        StatItem::FREE_ADD_PARTIAL,
        StatItem::FREE_SLAB,
        StatItem::ALLOC_SLAB,
        StatItem::SHEAF_FLUSH,
        StatItem::SHEAF_REFILL,
        StatItem::BARN_GET,
        StatItem::BARN_GET_FAIL,
        StatItem::BARN_PUT,
        StatItem::BARN_PUT_FAIL,
    ];

    /// The sysfs file name (`alloc_pcs`, `barn_get_fail`, ...).
    pub fn sysfs_name(self) -> String {
        format!("{self:?}").to_ascii_lowercase()
    }
}

/// Whether this build counts (the `slub_stats` feature).
pub const SLUB_STATS: bool = cfg!(feature = "slub_stats");

/// The counters of one storage: per CPU slot, per item.
#[derive(Debug)]
pub struct SlubStat {
    #[cfg(feature = "slub_stats")]
    pub(super) per_cpu: Box<[[std::sync::atomic::AtomicU64; NR_SLUB_STAT_ITEMS]]>,
}

/// A snapshot: per CPU slot, per item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatCounts {
    /// `per_cpu[cpu][item as usize]`.
    pub per_cpu: Vec<[u64; NR_SLUB_STAT_ITEMS]>,
}

impl StatCounts {
    /// The total of `item` over every CPU (the first number of the sysfs file).
    pub fn total(&self, item: StatItem) -> u64 {
        self.per_cpu.iter().map(|c| c[item as usize]).sum()
    }

    /// Adds `other` CPU by CPU.
    pub fn add(&mut self, other: &StatCounts) {
        if self.per_cpu.len() < other.per_cpu.len() {
            self.per_cpu.resize(other.per_cpu.len(), [0; NR_SLUB_STAT_ITEMS]);
        }
        for (a, b) in self.per_cpu.iter_mut().zip(&other.per_cpu) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }

    /// What `/sys/kernel/slab/<cache>/<item>` shows: `total C0=n C1=n`
    /// (CPUs with a zero count are left out, as `show_stat()` does).
    pub fn sysfs_line(&self, item: StatItem) -> String {
        let mut s = self.total(item).to_string();
        for (cpu, c) in self.per_cpu.iter().enumerate() {
            if c[item as usize] != 0 {
                s.push_str(&format!(" C{cpu}={}", c[item as usize]));
            }
        }
        s
    }
}

impl SlubStat {
    /// Counters for `nr_cpus` slots (nothing without the feature).
    pub(crate) fn new(nr_cpus: u32) -> SlubStat {
        #[cfg(feature = "slub_stats")]
        {
            SlubStat { per_cpu: (0..nr_cpus.max(1)).map(|_| Default::default()).collect() }
        }
        #[cfg(not(feature = "slub_stats"))]
        {
            let _ = nr_cpus;
            SlubStat {}
        }
    }

    /// The counts so far (empty without the feature).
    pub fn read(&self) -> StatCounts {
        #[cfg(feature = "slub_stats")]
        {
            use std::sync::atomic::Ordering::Relaxed;
            StatCounts { per_cpu: self.per_cpu.iter().map(|c| std::array::from_fn(|i| c[i].load(Relaxed))).collect() }
        }
        #[cfg(not(feature = "slub_stats"))]
        StatCounts::default()
    }
}
