//! `CONFIG_SLUB_STATS`: per-cpu event counters of a storage and of an instance.
//!
//! Mirrors `enum stat_item` and `stat()` of `mm/slub.c` for the events this
//! model has (sheaves, barn, slabs; the model has no cpu slab, so there is no
//! `ALLOC_FASTPATH`/`FREE_FASTPATH`: every allocation is `ALLOC_PCS` or
//! `ALLOC_SLOWPATH`, every free `FREE_PCS` or `FREE_SLOWPATH`). Like the
//! kernel option it is compile-time: without the `slub_stats` feature
//! [`SlubStat`] is an empty type and `CacheStorage::stat` compiles to
//! nothing, so the fast path's instructions are unchanged. With it,
//! [`SlubStat::read`] gives what `/sys/kernel/slab/<cache>/<item>` prints
//! (the total, then `C<cpu>=<n>` per CPU).
//!
//! # Plain increments inside the CPU's critical section
//! The kernel's `stat()` is `raw_cpu_inc()`: a plain per-cpu increment, not
//! a locked read-modify-write, because only the CPU itself writes its
//! counter. Here several threads may map to one CPU slot, so a counter is
//! only "the CPU's own" while the slot's critical section (the per-cpu
//! protocol of `percpu.rs`, this model's `local_trylock`) excludes every
//! other context of that slot. The items counted only inside it
//! ([`StatItem::counted_in_cpu_section`]: the sheaf hits and the barn
//! exchanges of `__pcs_replace_empty_main()`/`__pcs_replace_full_main()`)
//! are a relaxed load and store on the slot the section holds
//! (`SlubStat::inc_local`): no other writer of that counter can run
//! between the two, so no count is lost, and there is no `lock` prefix. The
//! items counted outside any section — the slow paths (`ALLOC_SLOWPATH`,
//! `FREE_SLOWPATH`), slab allocation and freeing (under `list_lock` but from
//! any CPU slot), sheaf refills and flushes (also reached by prefill,
//! shrink and remote flushes) — can race with another thread of the same
//! slot and stay a relaxed `fetch_add` (`SlubStat::inc`). A debug
//! assertion keeps each item on its side; every counter is an atomic either
//! way, so a mistake could lose a count but never be undefined behaviour.
//!
//! # Per instance
//! An instance ([`crate::KmemCache`]) has counters of its own, and counts
//! every event a call through it causes, as the kernel's `stat(s, item)`
//! counts on the `s` its caller passed: the sheaf hits and slow paths, the
//! barn exchanges and their failures, the sheaf refills and flushes, the
//! slabs allocated, freed and made partial. A `Via` carries the instance
//! down the storage's paths, and each event is counted in the storage and in
//! the instance, so in the primary scheme each alias has its own figures
//! while the storage keeps the totals. What no instance's call causes is
//! counted in the storage only: `kfree()` (it names no instance), and the
//! remote flushes of `kmem_cache_shrink()` and `kmem_cache_destroy()` (they
//! work on every CPU's sheaves, not on a call's). So for every item the
//! storage's count is its instances' counts plus those.

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

    /// The sysfs file name, as `mm/slub.c`'s `STAT_ATTR()` lines of the
    /// sheaves era (6.18) give it: `STAT_ATTR(ALLOC_PCS, alloc_cpu_sheaf)`,
    /// `STAT_ATTR(FREE_PCS, free_cpu_sheaf)`, the others the item's name in
    /// lower case (`alloc_slowpath`, `barn_get_fail`, ...).
    pub fn sysfs_name(self) -> String {
        match self {
            StatItem::ALLOC_PCS => "alloc_cpu_sheaf".to_owned(),
            StatItem::FREE_PCS => "free_cpu_sheaf".to_owned(),
            _ => format!("{self:?}").to_ascii_lowercase(),
        }
    }

    /// True for the items counted only inside the CPU slot's critical
    /// section, with a plain increment (`SlubStat::inc_local`); the others
    /// are counted with an atomic add (`SlubStat::inc`). See the module
    /// documentation.
    pub const fn counted_in_cpu_section(self) -> bool {
        matches!(
            self,
            StatItem::ALLOC_PCS
                | StatItem::FREE_PCS
                | StatItem::BARN_GET
                | StatItem::BARN_GET_FAIL
                | StatItem::BARN_PUT
                | StatItem::BARN_PUT_FAIL
        )
    }

    /// The items an instance counts for the calls made through it: every
    /// item (see "Per instance" in the module documentation).
    pub const PER_INSTANCE: [StatItem; NR_SLUB_STAT_ITEMS] = StatItem::ALL;
}

/// Whether this build counts (the `slub_stats` feature).
pub const SLUB_STATS: bool = cfg!(feature = "slub_stats");

/// The counters of one storage or instance: per CPU slot, per item.
#[derive(Debug)]
pub struct SlubStat {
    #[cfg(feature = "slub_stats")]
    pub(super) per_cpu: Box<[CpuCounters]>,
}

/// One CPU slot's counters, on cache lines of their own: the kernel's
/// `s->cpu_slab->stat[]` is per-cpu memory, and two CPUs' counters sharing
/// a line would cost every counted fast path a line transfer.
#[cfg(feature = "slub_stats")]
#[derive(Debug, Default)]
#[repr(align(64))]
pub(super) struct CpuCounters([std::sync::atomic::AtomicU64; NR_SLUB_STAT_ITEMS]);

#[cfg(feature = "slub_stats")]
impl std::ops::Deref for CpuCounters {
    type Target = [std::sync::atomic::AtomicU64; NR_SLUB_STAT_ITEMS];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
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

    /// `stat()` outside the CPU's critical section: one relaxed atomic add
    /// on the calling thread's CPU slot (another thread of the same slot
    /// may be counting too).
    #[inline(always)]
    pub(crate) fn inc(&self, item: StatItem) {
        #[cfg(feature = "slub_stats")]
        {
            debug_assert!(!item.counted_in_cpu_section(), "{item:?} is counted inside the CPU's section");
            let slot = crate::slub::cpu::cpu_slot(self.per_cpu.len());
            self.per_cpu[slot][item as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        #[cfg(not(feature = "slub_stats"))]
        let _ = item;
    }

    /// `stat()` inside the critical section of CPU slot `slot`: a relaxed
    /// load and store, like the kernel's `raw_cpu_inc()`. Only for the items
    /// of [`StatItem::counted_in_cpu_section`], whose every increment holds
    /// the slot's section, so no other writer can come between the two.
    #[inline(always)]
    pub(crate) fn inc_local(&self, slot: usize, item: StatItem) {
        #[cfg(feature = "slub_stats")]
        {
            use std::sync::atomic::Ordering::Relaxed;
            debug_assert!(item.counted_in_cpu_section(), "{item:?} is counted outside the CPU's section");
            if let Some(c) = self.per_cpu.get(slot) {
                let c = &c[item as usize];
                c.store(c.load(Relaxed) + 1, Relaxed);
            }
        }
        #[cfg(not(feature = "slub_stats"))]
        let _ = (slot, item);
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

/// The instance a call goes through, for its own counters: passed down the
/// storage's paths so each event is counted for the instance too. Without
/// the `slub_stats` feature it is an empty type and costs nothing.
#[derive(Clone, Copy, Default)]
pub(crate) struct Via<'a> {
    #[cfg(feature = "slub_stats")]
    inst: Option<&'a SlubStat>,
    _counters: std::marker::PhantomData<&'a SlubStat>,
}

impl<'a> Via<'a> {
    /// No instance (`kfree()`, internal calls).
    pub(crate) const NONE: Via<'static> = Via {
        #[cfg(feature = "slub_stats")]
        inst: None,
        _counters: std::marker::PhantomData,
    };

    /// Counting for the instance whose counters are `inst` (None: not set up).
    #[cfg(feature = "slub_stats")]
    pub(crate) fn instance(inst: Option<&'a SlubStat>) -> Via<'a> {
        Via { inst, _counters: std::marker::PhantomData }
    }

    /// [`SlubStat::inc`] on the instance's counters.
    #[inline(always)]
    pub(crate) fn inc(self, item: StatItem) {
        #[cfg(feature = "slub_stats")]
        if let Some(s) = self.inst {
            s.inc(item);
        }
        #[cfg(not(feature = "slub_stats"))]
        let _ = item;
    }

    /// [`SlubStat::inc_local`] on the instance's counters.
    #[inline(always)]
    pub(crate) fn inc_local(self, slot: usize, item: StatItem) {
        #[cfg(feature = "slub_stats")]
        if let Some(s) = self.inst {
            s.inc_local(slot, item);
        }
        #[cfg(not(feature = "slub_stats"))]
        let _ = (slot, item);
    }
}
