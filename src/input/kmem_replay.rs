//! Replaying a kmem tracepoint capture through the worlds of every scheme.
//!
//! Each scheme's world is first built from the boot trace ([`Replay::run`]),
//! so every cache exists as the kernel's rules create it. The capture's
//! events are then replayed in timestamp order, each on the CPU slot its line
//! names ([`set_current_cpu`](crate::cpu::set_current_cpu)):
//!
//! * `kmem_cache_alloc` allocates from the cache the event names, or, when
//!   the call-site table ([`SiteTable`]) says the call site allocates from
//!   another cache of the same merge group, from that cache: schemes that
//!   split a group (v3 and v1 separate the static caches, `slab_nomerge`
//!   separates everything) then allocate from the creator's own storage.
//!   A name the boot trace lacks is created from the event's sizes.
//! * `kmalloc` allocates from the `kmalloc_caches[type][index]` cache that
//!   `kmalloc_slab()` selects from `bytes_alloc` and the GFP flags (normal,
//!   `kmalloc-rcl-`, `dma-kmalloc-`, `kmalloc-cg-`), or above
//!   [`KMALLOC_MAX_CACHE_SIZE`] from the page allocator.
//! * `kmem_cache_free` and `kfree` find the object by `ptr` and free it
//!   through the instance it came from (`kfree` through [`World::kfree`](crate::World::kfree)).
//!
//! Frees of objects allocated before the capture began are counted and
//! skipped; an allocation of a `ptr` already live (its free was lost) frees
//! the old object first and is counted.
//!
//! Memory is sampled after every event: pages now, peak, and the
//! time-weighted mean over the capture's span. The series over time is a
//! [`MaxSeries`]: at most [`MaxSeries::MAX_POINTS`] time buckets, each
//! keeping the most pages held in it, so a long capture's series stays
//! bounded and its maximum is the peak.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::config::PAGE_SIZE;
use crate::input::kmem_sites::{Attribution, SiteTable};
use crate::input::kmem_trace::{EventKind, Interned, KmallocType, KmemEvent, KmemRecord, RawRecord};
use crate::input::replay::{Group, Replay};
use crate::input::trace::Trace;
use crate::slab_common::cache::{Cache, KmemCache, Object};
use crate::slab_common::kmalloc::{KMALLOC_MAX_CACHE_SIZE, KMALLOC_SIZES};
use crate::slab_common::world::KmemCacheArgs;
use crate::slub::stat::StatCounts;

/// The bundled call-site table (`data/kmem-call-sites.tsv`).
pub fn bundled_sites() -> SiteTable {
    SiteTable::parse(include_str!("../../data/kmem-call-sites.tsv"), "data/kmem-call-sites.tsv")
        .expect("the bundled call-site table parses")
}

pub use crate::input::hash::IntHasher;
use crate::input::hash::IntMap;

/// What an event does, in the compact form the replay consumes (names are
/// ids of a [`Names`] table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `kmem_cache_alloc`: `creator` is the attributed cache, `trace_name` what the line said.
    CacheAlloc {
        /// The cache allocated from (after attribution).
        creator: u32,
        /// `bytes_alloc` (for a cache the boot trace lacks).
        bytes: u32,
    },
    /// `kmalloc` of `bytes_alloc` bytes from the `kind` row.
    Kmalloc {
        /// `bytes_alloc` (at most `u32::MAX`: larger requests are not kmalloc's).
        bytes: u32,
        /// `kmalloc_type()` of the GFP flags.
        kind: KmallocType,
    },
    /// `kmem_cache_free` or `kfree`.
    Free {
        /// True for `kfree`.
        kfree: bool,
    },
}

/// One event, ready to replay: 32 bytes.
///
/// Events of one timestamp keep their order in the input (the reorder
/// window is stable), so no line number is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactEvent {
    /// Trace timestamp (ns).
    pub timestamp_ns: u64,
    /// Object address.
    pub ptr: u64,
    /// CPU.
    pub cpu: u32,
    /// What it does.
    pub op: Op,
}

/// Interned cache names.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Id → name.
    pub names: Vec<String>,
    ids: crate::input::hash::StrMap<String, u32>,
}

impl Names {
    /// The id of `name`, interning it.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// The name of `id`.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// How `kmem_cache_alloc` events were attributed to creators.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttributionCounts {
    /// The table named another cache than the line's `name=` (an alias's allocation).
    pub to_alias: u64,
    /// The table confirmed the line's own name.
    pub confirmed: u64,
    /// No usable row (unknown function, generic, ambiguous, other trace
    /// name) and the name's mainline group has other names: stays with the owner.
    pub unattributed_in_group: u64,
    /// No usable row, but the name is alone in its group (nothing to split).
    pub unattributed_alone: u64,
    /// The table named a cache the boot trace does not know: stays with the line's name.
    pub unknown_cache: u64,
    /// Allocations per (trace name, attributed creator) where they differ.
    pub moved: BTreeMap<(String, String), u64>,
    /// The capture was made with `slab_nomerge` (detected from the names or
    /// the header): no attribution was needed.
    pub nomerge_capture: bool,
}

/// Turns parsed records into [`CompactEvent`]s: interns names and attributes
/// cache allocations through the call-site table.
pub struct Compactor {
    /// The interned names (boot-trace names first, in trace order).
    pub names: Names,
    /// Attribution figures.
    pub attribution: AttributionCounts,
    sites: SiteTable,
    /// Per trace-name id: the mainline group size of that name (0: unknown).
    group_size: Vec<u32>,
    /// (trace name id, call-site id) → creator id and how.
    memo: IntMap<u64, (u32, u8)>,
    /// (trace name id, call-site text pointer) → creator id, for [`Compactor::compact`].
    memo_owned: HashMap<(u32, usize), (u32, u8)>,
    /// Parser name id → name id here (`u32::MAX`: not seen yet).
    from_parser: Vec<u32>,
    /// Names the boot trace knows.
    known: usize,
    /// Allocations moved to another creator, by (trace name id, creator id).
    moved_ids: BTreeMap<(u32, u32), u64>,
    /// Names in mainline groups as non-owners (seeing one in a trace means the kernel did not merge).
    mainline_aliases: std::collections::HashSet<String>,
}

const ATTR_ALIAS: u8 = 0;
const ATTR_CONFIRMED: u8 = 1;
const ATTR_IN_GROUP: u8 = 2;
const ATTR_ALONE: u8 = 3;
const ATTR_UNKNOWN_CACHE: u8 = 4;

fn clamp32(n: u64) -> u32 {
    n.min(u64::from(u32::MAX)) as u32
}

impl Compactor {
    /// A compactor for captures of a kernel whose caches `trace` creates,
    /// with mainline's grouping (from a mainline replay) and the site table.
    pub fn new(trace: &Trace, mainline_groups: &[Group], sites: SiteTable) -> Compactor {
        let mut names = Names::default();
        for row in &trace.rows {
            names.id(&row.name);
        }
        let known = names.names.len();
        let mut group_size = vec![0; known];
        let mut mainline_aliases = std::collections::HashSet::new();
        for g in mainline_groups {
            for n in &g.names {
                let id = names.id(n) as usize;
                group_size[id] = g.names.len() as u32;
                if *n != g.owner {
                    mainline_aliases.insert(n.clone());
                }
            }
        }
        Compactor {
            names,
            attribution: AttributionCounts::default(),
            sites,
            group_size,
            memo: IntMap::default(),
            memo_owned: HashMap::new(),
            from_parser: Vec::new(),
            moved_ids: BTreeMap::new(),
            known,
            mainline_aliases,
        }
    }

    /// Marks the capture as made with `slab_nomerge`: no attribution.
    pub fn set_nomerge_capture(&mut self) {
        self.attribution.nomerge_capture = true;
    }

    /// True if `id` names a cache of the boot trace.
    pub fn is_known(&self, id: u32) -> bool {
        (id as usize) < self.known
    }

    /// The compact form of `rec`.
    pub fn compact(&mut self, rec: &KmemRecord) -> CompactEvent {
        let op = match &rec.event {
            KmemEvent::CacheAlloc { call_site, name, bytes_alloc, .. } => {
                self.check_nomerge(name);
                let trace_id = self.names.id(name);
                let key = (trace_id, std::sync::Arc::as_ptr(&call_site.raw) as *const u8 as usize);
                let v = match self.memo_owned.get(&key) {
                    Some(&v) => v,
                    None => {
                        let v = self.attribute(trace_id, call_site.function());
                        self.memo_owned.insert(key, v);
                        v
                    }
                };
                self.cache_alloc(trace_id, v, *bytes_alloc)
            }
            KmemEvent::Kmalloc { bytes_alloc, gfp, .. } => {
                Op::Kmalloc { bytes: clamp32(*bytes_alloc), kind: gfp.kmalloc_type() }
            }
            KmemEvent::CacheFree { .. } => Op::Free { kfree: false },
            KmemEvent::Kfree { .. } => Op::Free { kfree: true },
        };
        CompactEvent { timestamp_ns: rec.timestamp_ns, ptr: rec.event.ptr(), cpu: rec.cpu, op }
    }

    /// The compact form of a borrowed record ([`crate::input::kmem_trace::KmemParser::next_raw`]):
    /// names and call sites arrive as the parser's ids, so an event costs
    /// two array or integer-map lookups.
    #[inline]
    pub fn compact_raw(&mut self, rec: &RawRecord<'_>) -> CompactEvent {
        let op = match rec.kind {
            EventKind::CacheAlloc => {
                let pid = rec.name.expect("cache events have a name");
                let trace_id = self.map_name(pid, rec.tables);
                let site = rec.site;
                let key = (u64::from(trace_id) << 32) | u64::from(site);
                let v = match self.memo.get(&key) {
                    Some(&v) => v,
                    None => {
                        let v = self.attribute(trace_id, rec.tables.site(site).function());
                        if !Interned::is_scratch(site) {
                            self.memo.insert(key, v);
                        }
                        v
                    }
                };
                self.cache_alloc(trace_id, v, rec.bytes_alloc)
            }
            EventKind::Kmalloc => Op::Kmalloc {
                bytes: clamp32(rec.bytes_alloc),
                kind: rec.tables.kmalloc_type(rec.gfp.expect("allocations have GFP flags")),
            },
            EventKind::CacheFree => Op::Free { kfree: false },
            EventKind::Kfree => Op::Free { kfree: true },
        };
        CompactEvent { timestamp_ns: rec.timestamp_ns, ptr: rec.ptr, cpu: rec.cpu, op }
    }

    /// The id here of the parser's name `pid`.
    #[inline]
    fn map_name(&mut self, pid: u32, tables: &Interned) -> u32 {
        if let Some(&id) = self.from_parser.get(pid as usize)
            && id != u32::MAX
        {
            return id;
        }
        let name = tables.name(pid);
        self.check_nomerge(name);
        let id = self.names.id(name);
        if !Interned::is_scratch(pid) {
            let i = pid as usize;
            if self.from_parser.len() <= i {
                self.from_parser.resize(i + 1, u32::MAX);
            }
            self.from_parser[i] = id;
        }
        id
    }

    /// A mainline alias's own name in a capture means the kernel did not merge.
    fn check_nomerge(&mut self, name: &str) {
        if !self.attribution.nomerge_capture && self.mainline_aliases.contains(name) {
            self.attribution.nomerge_capture = true;
        }
    }

    fn cache_alloc(&mut self, trace_id: u32, (creator, how): (u32, u8), bytes_alloc: u64) -> Op {
        match how {
            ATTR_ALIAS => {
                self.attribution.to_alias += 1;
                let key = (trace_id, creator);
                match self.moved_ids.get_mut(&key) {
                    Some(n) => *n += 1,
                    None => {
                        self.moved_ids.insert(key, 1);
                    }
                }
            }
            ATTR_CONFIRMED => self.attribution.confirmed += 1,
            ATTR_IN_GROUP => self.attribution.unattributed_in_group += 1,
            ATTR_ALONE => self.attribution.unattributed_alone += 1,
            _ => self.attribution.unknown_cache += 1,
        }
        Op::CacheAlloc { creator, bytes: clamp32(bytes_alloc) }
    }

    /// The attribution figures, with the moved allocations by name.
    pub fn attribution(&self) -> AttributionCounts {
        let mut a = self.attribution.clone();
        for (&(from, to), &n) in &self.moved_ids {
            *a.moved.entry((self.names.name(from).to_owned(), self.names.name(to).to_owned())).or_default() += n;
        }
        a
    }

    fn attribute(&mut self, trace_id: u32, function: &str) -> (u32, u8) {
        let alone = self.group_size.get(trace_id as usize).copied().unwrap_or(0) <= 1;
        let unattributed = if alone { ATTR_ALONE } else { ATTR_IN_GROUP };
        if self.attribution.nomerge_capture {
            return (trace_id, unattributed);
        }
        let trace_name = self.names.name(trace_id).to_owned();
        match self.sites.lookup(function, &trace_name) {
            Attribution::Known(entry) => {
                let cache = entry.cache.clone().expect("Known rows name a cache");
                if cache == trace_name {
                    return (trace_id, ATTR_CONFIRMED);
                }
                let id = self.names.id(&cache);
                if self.is_known(id) { (id, ATTR_ALIAS) } else { (trace_id, ATTR_UNKNOWN_CACHE) }
            }
            _ => (trace_id, unattributed),
        }
    }
}

/// A reorder window: events come out in timestamp order as long as no event
/// is more than `window` events late (trace_pipe already merges the per-CPU
/// buffers in order; trace-cmd and perf do too). Events of one timestamp
/// keep their input order. The window is a sorted ring: an event in order
/// is appended, a late one inserted by binary search.
pub struct Reorder {
    ring: VecDeque<CompactEvent>,
    window: usize,
    last: Option<u64>,
    /// Events that came out after a later one (beyond the window).
    pub out_of_order: u64,
}

impl Reorder {
    /// A window of `window` events.
    pub fn new(window: usize) -> Reorder {
        let window = window.max(1);
        Reorder { ring: VecDeque::with_capacity(window + 1), window, last: None, out_of_order: 0 }
    }

    /// Adds an event; returns the earliest one once the window is full.
    #[inline]
    pub fn push(&mut self, ev: CompactEvent) -> Option<CompactEvent> {
        match self.ring.back() {
            Some(b) if b.timestamp_ns > ev.timestamp_ns => {
                let at = self.ring.partition_point(|e| e.timestamp_ns <= ev.timestamp_ns);
                self.ring.insert(at, ev);
            }
            _ => self.ring.push_back(ev),
        }
        if self.ring.len() > self.window { self.pop() } else { None }
    }

    /// The earliest event left.
    #[inline]
    pub fn pop(&mut self) -> Option<CompactEvent> {
        let ev = self.ring.pop_front()?;
        if self.last.is_some_and(|l| l > ev.timestamp_ns) {
            self.out_of_order += 1;
        }
        self.last = Some(ev.timestamp_ns);
        Some(ev)
    }
}

/// Why an event was not replayed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Frees of objects allocated before the capture started (no allocation seen).
    pub free_before_capture: u64,
    /// `kfree(NULL)` and frees of `ptr=0`.
    pub free_null: u64,
    /// Allocations with `ptr=0` (failed in the kernel).
    pub alloc_failed_in_trace: u64,
    /// `kmalloc` with `bytes_alloc=0` (`ZERO_SIZE_PTR`).
    pub kmalloc_zero: u64,
    /// Allocations the model refused (no cache, `-ENOMEM`).
    pub alloc_failed: u64,
    /// Frees the model refused.
    pub free_failed: u64,
}

impl Skipped {
    /// Every skipped event.
    pub fn total(&self) -> u64 {
        self.free_before_capture
            + self.free_null
            + self.alloc_failed_in_trace
            + self.kmalloc_zero
            + self.alloc_failed
            + self.free_failed
    }
}

/// The figures of one scheme.
#[derive(Clone, Debug, Default)]
pub struct KmemSchemeResult {
    /// Events replayed (allocated or freed in the model).
    pub events_replayed: u64,
    /// Events not replayed, by reason.
    pub skipped: Skipped,
    /// Allocations of a `ptr` still live: the free was lost; the old object was freed first.
    pub lost_frees: u64,
    /// `lost_frees` by the cache the old object came from.
    pub lost_frees_by_cache: BTreeMap<String, u64>,
    /// Pages held (slabs and large kmalloc) at the peak.
    pub peak_pages: u64,
    /// Pages held after the last event.
    pub final_pages: u64,
    /// Time-weighted mean of pages over the capture's span.
    pub mean_pages: f64,
    /// Pages of large kmalloc allocations (page allocator) after the last event.
    pub final_large_pages: u64,
    /// Objects live (allocated in the capture, not freed) after the last event.
    pub objects_live: u64,
    /// The most objects live at once.
    pub peak_objects_live: u64,
    /// Free slots on partial slabs after the last event, and their bytes (× stride).
    pub partial_free_objects: u64,
    /// See `partial_free_objects`.
    pub partial_free_bytes: u64,
    /// Objects cached in sheaves after the last event.
    pub sheaf_objects: u64,
    /// Caches the events named that the boot trace lacks, created from the event's size.
    pub created: Vec<(String, u32)>,
    /// `CONFIG_SLUB_STATS` counters per storage, keyed by the storage's sysfs directory.
    pub stats: BTreeMap<String, StatCounts>,
    /// Allocations and frees per instance name (the primary scheme's aliases apart).
    pub per_instance: BTreeMap<String, (u64, u64)>,
    /// The primary scheme's aliases: per alias name, the sysfs directory of
    /// its primary (whose storage `stats` holds the totals) and the
    /// `CONFIG_SLUB_STATS` counters of the calls made through the alias
    /// ([`crate::KmemCache::slub_stat_instance`]). Aliases with no count are
    /// left out; empty in the other schemes and without `slub_stats`.
    pub alias_stats: BTreeMap<String, (String, StatCounts)>,
    /// Pages per mainline group (by owner) after the last event: the pages of
    /// the storages the group's names use in this scheme.
    pub group_pages: BTreeMap<String, u64>,
    /// Memory over time: (start of the bucket in ns since the first event,
    /// the most pages held in the bucket), at most [`MaxSeries::MAX_POINTS`]
    /// buckets of `series_bucket_ns` each.
    pub series: Vec<(u64, u64)>,
    /// The width of a `series` bucket (ns).
    pub series_bucket_ns: u64,
}

/// Pages held over time in bounded memory: equal time buckets, each keeping
/// the most pages held at any instant in it. When a sample falls beyond the
/// last bucket, adjacent buckets are merged pairwise (their maximum) and the
/// width doubles, until it fits: at most [`MaxSeries::MAX_POINTS`] buckets
/// whatever the capture's length. A bucket no event falls in keeps the level
/// held across it, and a bucket whose first event comes after its start
/// counts the level held until then, so each bucket is the most held at any
/// instant in it and the buckets' maximum is exactly the peak of the samples.
#[derive(Clone, Debug)]
pub struct MaxSeries {
    width_ns: u64,
    buckets: Vec<u64>,
    /// The level held since the last sample.
    level: Option<u64>,
    /// The span of the last bucket, `[start, end)` (empty while there is
    /// none): a sample in it only raises that bucket, the common case.
    last_span: (u64, u64),
}

impl Default for MaxSeries {
    fn default() -> Self {
        MaxSeries::new()
    }
}

impl MaxSeries {
    /// The most buckets a series holds.
    pub const MAX_POINTS: usize = 2000;

    /// An empty series with 1 µs buckets (widened as the samples need).
    pub fn new() -> MaxSeries {
        MaxSeries { width_ns: 1_000, buckets: Vec::new(), level: None, last_span: (0, 0) }
    }

    /// Records `pages` held from `t` (ns since the start; non-decreasing) on.
    #[inline]
    pub fn push(&mut self, t: u64, pages: u64) {
        let (start, end) = self.last_span;
        if t >= start
            && t < end
            && let Some(last) = self.buckets.last_mut()
        {
            *last = (*last).max(pages);
            self.level = Some(pages);
            return;
        }
        self.push_slow(t, pages);
    }

    fn push_slow(&mut self, t: u64, pages: u64) {
        let mut i = t / self.width_ns;
        while i >= Self::MAX_POINTS as u64 {
            self.halve();
            i = t / self.width_ns;
        }
        let i = i as usize;
        if self.buckets.len() <= i {
            // Buckets passed with no sample held the level throughout; this
            // one held it until `t`, unless `t` is where it starts.
            let level = self.level.unwrap_or(pages);
            self.buckets.resize(i, level);
            let held = if t > i as u64 * self.width_ns { level } else { pages };
            self.buckets.push(held);
        }
        self.buckets[i] = self.buckets[i].max(pages);
        self.level = Some(pages);
        let n = self.buckets.len() as u64;
        self.last_span = ((n - 1) * self.width_ns, n * self.width_ns);
    }

    fn halve(&mut self) {
        let merged = self.buckets.chunks(2).map(|c| c.iter().copied().max().unwrap_or(0)).collect();
        self.buckets = merged;
        self.width_ns *= 2;
        self.last_span = (0, 0);
    }

    /// The bucket width (ns).
    pub fn bucket_ns(&self) -> u64 {
        self.width_ns
    }

    /// (bucket start in ns, most pages in the bucket), in time order.
    pub fn points(&self) -> Vec<(u64, u64)> {
        self.buckets.iter().enumerate().map(|(i, &p)| (i as u64 * self.width_ns, p)).collect()
    }
}

impl KmemSchemeResult {
    /// `peak_pages` in KiB.
    pub fn peak_kib(&self) -> u64 {
        self.peak_pages * PAGE_SIZE as u64 / 1024
    }
    /// `final_pages` in KiB.
    pub fn final_kib(&self) -> u64 {
        self.final_pages * PAGE_SIZE as u64 / 1024
    }
    /// `mean_pages` in KiB.
    pub fn mean_kib(&self) -> f64 {
        self.mean_pages * PAGE_SIZE as f64 / 1024.0
    }
    /// A counter summed over every storage.
    pub fn stat_total(&self, item: crate::slub::stat::StatItem) -> u64 {
        self.stats.values().map(|c| c.total(item)).sum()
    }
}

/// Where an allocation went.
#[derive(Clone, Copy)]
enum From {
    Cache(u32),
    Large,
}

/// A live object of one scheme's world: the model's object and where it came from.
pub struct Live {
    obj: Object,
    from: From,
}

/// The live objects of every scheme, by `ptr`: one open-addressing table
/// (linear probing, backward-shift deletion, Fibonacci hashing of the
/// address) maps a pointer to a slot, and the slot holds one entry per
/// scheme. Every scheme replays the same events, so an event costs one
/// lookup for all of them; a scheme whose allocation failed (or whose object
/// was never allocated) has `None` in its entry, and a slot whose entries are
/// all `None` is given back.
pub struct LiveTable {
    /// Open-addressing keys (`0`: empty; a `ptr` of 0 is never stored).
    keys: Vec<u64>,
    /// The slot of each key, beside it.
    slot_of: Vec<u32>,
    /// `64 - log2(keys.len())`: the hash's top bits index the table.
    shift: u32,
    len: usize,
    /// Per scheme, one entry per slot: `lives[slot * schemes + scheme]`.
    lives: Vec<Option<Live>>,
    schemes: usize,
    free_slots: Vec<u32>,
}

impl LiveTable {
    const MIN_CAPACITY: usize = 1 << 12;

    /// An empty table for `schemes` schemes.
    pub fn new(schemes: usize) -> LiveTable {
        let cap = Self::MIN_CAPACITY;
        LiveTable {
            keys: vec![0; cap],
            slot_of: vec![0; cap],
            shift: 64 - cap.trailing_zeros(),
            len: 0,
            lives: Vec::new(),
            schemes,
            free_slots: Vec::new(),
        }
    }

    #[inline]
    fn home(&self, ptr: u64) -> usize {
        (ptr.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The position of `ptr` in `keys`, or of the empty key where it would go.
    #[inline]
    fn find(&self, ptr: u64) -> (usize, bool) {
        let mask = self.keys.len() - 1;
        let mut i = self.home(ptr);
        loop {
            let k = self.keys[i];
            if k == ptr {
                return (i, true);
            }
            if k == 0 {
                return (i, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot of `ptr`, if any scheme holds it.
    #[inline]
    pub fn get(&self, ptr: u64) -> Option<u32> {
        match self.find(ptr) {
            (i, true) => Some(self.slot_of[i]),
            _ => None,
        }
    }

    /// The slot of `ptr`, made (every entry `None`) if no scheme holds it.
    #[inline]
    pub fn get_or_insert(&mut self, ptr: u64) -> u32 {
        debug_assert_ne!(ptr, 0);
        let (i, found) = self.find(ptr);
        if found {
            return self.slot_of[i];
        }
        if (self.len + 1) * 2 > self.keys.len() {
            self.grow();
            return self.get_or_insert(ptr);
        }
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                let s = (self.lives.len() / self.schemes.max(1)) as u32;
                self.lives.resize_with(self.lives.len() + self.schemes, || None);
                s
            }
        };
        self.keys[i] = ptr;
        self.slot_of[i] = slot;
        self.len += 1;
        slot
    }

    fn grow(&mut self) {
        let old_keys = std::mem::take(&mut self.keys);
        let old_slots = std::mem::take(&mut self.slot_of);
        let cap = old_keys.len() * 2;
        self.keys = vec![0; cap];
        self.slot_of = vec![0; cap];
        self.shift = 64 - cap.trailing_zeros();
        for (k, s) in old_keys.into_iter().zip(old_slots) {
            if k != 0 {
                let (i, _) = self.find(k);
                self.keys[i] = k;
                self.slot_of[i] = s;
            }
        }
    }

    /// Removes `ptr` (its entries must all be `None`) and gives its slot back.
    fn remove(&mut self, ptr: u64) {
        let (mut i, found) = self.find(ptr);
        if !found {
            return;
        }
        self.free_slots.push(self.slot_of[i]);
        self.len -= 1;
        // Backward shift: pull later keys of the run into the hole when
        // their home is at or before it (cyclically).
        let mask = self.keys.len() - 1;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let k = self.keys[j];
            if k == 0 {
                break;
            }
            let h = self.home(k);
            if (j.wrapping_sub(h) & mask) >= (j.wrapping_sub(i) & mask) {
                self.keys[i] = k;
                self.slot_of[i] = self.slot_of[j];
                i = j;
            }
        }
        self.keys[i] = 0;
    }

    /// The entries of `slot`, one per scheme.
    #[inline]
    fn entries(&mut self, slot: u32) -> &mut [Option<Live>] {
        let n = self.schemes;
        let at = slot as usize * n;
        &mut self.lives[at..at + n]
    }

    /// Takes every live object of scheme `scheme` out of the table.
    fn drain_scheme(&mut self, scheme: usize) -> impl Iterator<Item = Live> + '_ {
        let n = self.schemes;
        self.lives.iter_mut().skip(scheme).step_by(n.max(1)).filter_map(Option::take)
    }
}

/// The states of every scheme and their live objects: [`SchemeSet::apply`]
/// replays one event through all of them.
pub struct SchemeSet<'r, 'w> {
    /// One state per scheme, in the order given.
    pub states: Vec<SchemeState<'r, 'w>>,
    live: LiveTable,
}

impl<'r, 'w> SchemeSet<'r, 'w> {
    /// The set of `states`.
    pub fn new(states: Vec<SchemeState<'r, 'w>>) -> SchemeSet<'r, 'w> {
        let live = LiveTable::new(states.len());
        SchemeSet { states, live }
    }

    /// Replays one event through every scheme (the current CPU must already
    /// be the event's): one lookup of `ptr` for all of them.
    pub fn apply(&mut self, ev: &CompactEvent, names: &Names) {
        let mut none = None;
        if ev.ptr == 0 {
            for st in &mut self.states {
                st.apply(ev, &mut none, names);
            }
            return;
        }
        let slot = match ev.op {
            Op::Free { .. } => self.live.get(ev.ptr),
            _ => Some(self.live.get_or_insert(ev.ptr)),
        };
        let Some(slot) = slot else {
            for st in &mut self.states {
                st.apply(ev, &mut none, names);
            }
            return;
        };
        let entries = self.live.entries(slot);
        for (st, entry) in self.states.iter_mut().zip(entries.iter_mut()) {
            st.apply(ev, entry, names);
        }
        if entries.iter().all(Option::is_none) {
            self.live.remove(ev.ptr);
        }
    }

    /// Finishes every scheme ([`SchemeState::finish`]), in order.
    pub fn finish(mut self, names: &Names, mainline_groups: &[Group]) -> Vec<KmemSchemeResult> {
        let mut out = Vec::with_capacity(self.states.len());
        for (i, st) in std::mem::take(&mut self.states).into_iter().enumerate() {
            let live: Vec<Live> = self.live.drain_scheme(i).collect();
            out.push(st.finish(names, mainline_groups, live));
        }
        out
    }
}

/// One scheme's replay state: its boot replay's caches and its figures (its
/// live objects are in the [`SchemeSet`]'s table).
pub struct SchemeState<'r, 'w> {
    replay: &'r Replay<'w>,
    /// Per name id: the instance (`None`: not created yet or failed).
    by_name: Vec<Option<&'r KmemCache>>,
    created: Vec<Cache<'w>>,
    /// Names of instances in `created`, by name id.
    created_ids: Vec<u32>,
    /// `kmalloc_caches[type][index]` as name ids.
    kmalloc: [[Option<u32>; KMALLOC_SIZES.len()]; 4],
    /// Objects live now.
    live: u64,
    /// Allocations and frees per name id.
    per_name: Vec<(u64, u64)>,
    /// Lost frees per name id of the old object's cache (large kmalloc: `u32::MAX`).
    lost_by_name: IntMap<u32, u64>,
    result: KmemSchemeResult,
    first_ts: Option<u64>,
    last_ts: u64,
    area: f64,
    pages_now: u64,
    series: MaxSeries,
}

const KMALLOC_PREFIXES: [&str; 4] = ["kmalloc-", "kmalloc-rcl-", "dma-kmalloc-", "kmalloc-cg-"];

fn kmalloc_name(kind: usize, size: u32) -> String {
    let s = if size >= 1024 { format!("{}k", size / 1024) } else { size.to_string() };
    format!("{}{s}", KMALLOC_PREFIXES[kind])
}

fn kind_index(kind: KmallocType) -> usize {
    match kind {
        KmallocType::Normal => 0,
        KmallocType::Reclaim => 1,
        KmallocType::Dma => 2,
        KmallocType::Cgroup => 3,
    }
}

impl<'r, 'w> SchemeState<'r, 'w> {
    /// The state of a scheme whose boot replay is `replay`; `names` must hold
    /// the boot trace's names (a [`Compactor`]'s).
    pub fn new(replay: &'r Replay<'w>, names: &mut Names) -> SchemeState<'r, 'w> {
        let mut by_name = Vec::new();
        for (name, handle) in replay.handles() {
            let id = names.id(name) as usize;
            if by_name.len() <= id {
                by_name.resize(id + 1, None);
            }
            by_name[id] = Some(handle.cache());
        }
        let mut kmalloc = [[None; KMALLOC_SIZES.len()]; 4];
        for (kind, row) in kmalloc.iter_mut().enumerate() {
            for (i, size) in KMALLOC_SIZES.iter().enumerate() {
                let id = names.id(&kmalloc_name(kind, *size));
                if by_name.get(id as usize).copied().flatten().is_some() {
                    row[i] = Some(id);
                }
            }
        }
        SchemeState {
            replay,
            by_name,
            created: Vec::new(),
            created_ids: Vec::new(),
            kmalloc,
            live: 0,
            per_name: vec![(0, 0); names.names.len()],
            lost_by_name: IntMap::default(),
            result: KmemSchemeResult::default(),
            first_ts: None,
            last_ts: 0,
            area: 0.0,
            pages_now: 0,
            series: MaxSeries::new(),
        }
    }

    /// The kmalloc rows this world has (`KMALLOC_NORMAL` only, or all four).
    pub fn kmalloc_rows(&self) -> usize {
        self.kmalloc.iter().filter(|r| r.iter().any(Option::is_some)).count()
    }

    #[inline]
    fn cache(&self, id: u32) -> Option<&KmemCache> {
        if let Some(Some(c)) = self.by_name.get(id as usize) {
            return Some(c);
        }
        self.created_cache(id)
    }

    #[cold]
    fn created_cache(&self, id: u32) -> Option<&KmemCache> {
        self.created_ids.iter().position(|&c| c == id).map(|i| &*self.created[i])
    }

    #[cold]
    fn create(&mut self, id: u32, bytes: u32, names: &Names) -> bool {
        let name = names.name(id);
        let size = bytes.max(8);
        match self.replay.world.kmem_cache_create(name, size, KmemCacheArgs::default(), crate::flags::SlabFlags::EMPTY)
        {
            Ok(c) => {
                self.result.created.push((name.to_owned(), size));
                self.created.push(c);
                self.created_ids.push(id);
                true
            }
            Err(_) => false,
        }
    }

    #[inline]
    fn count(&mut self, id: u32, alloc: bool) {
        let i = id as usize;
        if self.per_name.len() <= i {
            self.per_name.resize(i + 1, (0, 0));
        }
        if alloc {
            self.per_name[i].0 += 1;
        } else {
            self.per_name[i].1 += 1;
        }
    }

    /// Replays one event (the current CPU must already be the event's);
    /// `entry` is this scheme's live object at the event's `ptr` (`None`:
    /// none), updated in place.
    #[inline]
    pub fn apply(&mut self, ev: &CompactEvent, entry: &mut Option<Live>, names: &Names) {
        match ev.op {
            Op::Free { kfree } => self.free(ev.ptr, entry.take(), kfree),
            Op::CacheAlloc { creator, bytes } => {
                if ev.ptr == 0 {
                    self.result.skipped.alloc_failed_in_trace += 1;
                } else {
                    if self.cache(creator).is_none() && !self.create(creator, bytes, names) {
                        self.result.skipped.alloc_failed += 1;
                        return self.sample(ev.timestamp_ns);
                    }
                    let cache = self.cache(creator).expect("created above");
                    match cache.alloc() {
                        Ok(obj) => {
                            self.count(creator, true);
                            self.insert(entry, Live { obj, from: From::Cache(creator) });
                        }
                        Err(_) => self.result.skipped.alloc_failed += 1,
                    }
                }
            }
            Op::Kmalloc { bytes, kind } => {
                if ev.ptr == 0 {
                    self.result.skipped.alloc_failed_in_trace += 1;
                } else if bytes == 0 {
                    self.result.skipped.kmalloc_zero += 1;
                } else if bytes as usize > KMALLOC_MAX_CACHE_SIZE {
                    let bytes = u64::from(bytes);
                    match self.replay.world.kmalloc(bytes as usize) {
                        Ok(obj) => {
                            self.insert(entry, Live { obj, from: From::Large });
                        }
                        Err(_) => self.result.skipped.alloc_failed += 1,
                    }
                } else {
                    let index = crate::slab_common::kmalloc::kmalloc_index(bytes as usize);
                    // Without the typed rows (a world with KMALLOC_NORMAL only), the normal row.
                    let id = self.kmalloc[kind_index(kind)][index].or(self.kmalloc[0][index]);
                    match id.and_then(|id| self.cache(id).map(|c| (id, c.alloc()))) {
                        Some((id, Ok(obj))) => {
                            self.count(id, true);
                            self.insert(entry, Live { obj, from: From::Cache(id) });
                        }
                        _ => self.result.skipped.alloc_failed += 1,
                    }
                }
            }
        }
        self.sample(ev.timestamp_ns);
    }

    #[inline]
    fn insert(&mut self, entry: &mut Option<Live>, live: Live) {
        self.result.events_replayed += 1;
        match entry.replace(live) {
            Some(old) => self.lost_free(old),
            None => {
                self.live += 1;
                self.result.peak_objects_live = self.result.peak_objects_live.max(self.live);
            }
        }
    }

    #[cold]
    fn lost_free(&mut self, old: Live) {
        self.result.lost_frees += 1;
        let id = match old.from {
            From::Cache(id) => id,
            From::Large => u32::MAX,
        };
        *self.lost_by_name.entry(id).or_default() += 1;
        self.release(old, true);
    }

    #[inline]
    fn free(&mut self, ptr: u64, live: Option<Live>, kfree: bool) {
        if ptr == 0 {
            self.result.skipped.free_null += 1;
            return;
        }
        match live {
            None => self.result.skipped.free_before_capture += 1,
            Some(live) => {
                self.live -= 1;
                if self.release(live, kfree) {
                    self.result.events_replayed += 1;
                } else {
                    self.result.skipped.free_failed += 1;
                }
            }
        }
    }

    #[inline]
    fn release(&mut self, live: Live, kfree: bool) -> bool {
        match live.from {
            From::Large => self.replay.world.kfree(live.obj).is_ok(),
            From::Cache(id) => {
                self.count(id, false);
                if kfree {
                    self.replay.world.kfree(live.obj).is_ok()
                } else {
                    let cache = self.cache(id).expect("allocated from it");
                    cache.free(live.obj).is_ok()
                }
            }
        }
    }

    #[inline]
    fn sample(&mut self, ts: u64) {
        let pages = self.replay.world.pages() as u64;
        let first = *self.first_ts.get_or_insert(ts);
        if ts > self.last_ts && self.last_ts >= first {
            self.area += self.pages_now as f64 * (ts - self.last_ts) as f64;
        }
        self.last_ts = self.last_ts.max(ts);
        self.pages_now = pages;
        self.result.peak_pages = self.result.peak_pages.max(pages);
        self.series.push(self.last_ts.saturating_sub(first), pages);
    }

    /// Finishes: reads the figures, then frees every live object and destroys
    /// the caches it created, so the world can power off clean.
    pub fn finish(mut self, names: &Names, mainline_groups: &[Group], live: Vec<Live>) -> KmemSchemeResult {
        let world = self.replay.world;
        let first = self.first_ts.unwrap_or(0);
        let span = self.last_ts.saturating_sub(first);
        self.result.mean_pages = if span > 0 { self.area / span as f64 } else { self.pages_now as f64 };
        self.result.final_pages = world.pages() as u64;
        self.result.series = self.series.points();
        self.result.series_bucket_ns = self.series.bucket_ns();
        self.result.objects_live = self.live;
        // Storages: every instance by name, once per storage.
        let mut seen = std::collections::HashSet::new();
        let mut instances: Vec<(String, &KmemCache)> =
            self.replay.handles().map(|(n, h)| (n.to_owned(), h.cache())).collect();
        for (i, c) in self.created.iter().enumerate() {
            instances.push((names.name(self.created_ids[i]).to_owned(), &**c));
        }
        let mut storage_pages: HashMap<usize, u64> = HashMap::new();
        let mut slab_pages_total = 0;
        for (_, cache) in &instances {
            let Some(id) = cache.storage_id() else { continue };
            if !seen.insert(id) {
                continue;
            }
            let Ok(st) = cache.stats() else { continue };
            slab_pages_total += st.pages as u64;
            storage_pages.insert(id, st.pages as u64);
            self.result.partial_free_objects += st.free_objects as u64;
            self.result.partial_free_bytes += st.free_objects as u64 * u64::from(cache.size());
            self.result.sheaf_objects += st.sheaf_objects as u64;
            if let Ok(counts) = cache.slub_stat()
                && !counts.per_cpu.is_empty()
                && counts.per_cpu.iter().any(|c| c.iter().any(|&x| x != 0))
            {
                self.result.stats.insert(cache.sysfs_dir(), counts);
            }
        }
        self.result.final_large_pages = self.result.final_pages.saturating_sub(slab_pages_total);
        for (name, cache) in &instances {
            if !cache.is_alias() {
                continue;
            }
            let counts = cache.slub_stat_instance();
            if counts.per_cpu.iter().any(|c| c.iter().any(|&x| x != 0)) {
                self.result.alias_stats.insert(name.clone(), (cache.sysfs_dir(), counts));
            }
        }
        let storage_of: HashMap<&str, usize> =
            instances.iter().filter_map(|(n, c)| c.storage_id().map(|s| (n.as_str(), s))).collect();
        for g in mainline_groups {
            let mut used = std::collections::BTreeSet::new();
            for n in &g.names {
                if let Some(&s) = storage_of.get(n.as_str()) {
                    used.insert(s);
                }
            }
            let pages = used.iter().map(|s| storage_pages.get(s).copied().unwrap_or(0)).sum();
            self.result.group_pages.insert(g.owner.clone(), pages);
        }
        for (&id, &n) in &self.lost_by_name {
            let name = if id == u32::MAX { "(large kmalloc)" } else { names.name(id) };
            self.result.lost_frees_by_cache.insert(name.to_owned(), n);
        }
        for (id, &(a, f)) in self.per_name.iter().enumerate() {
            if a + f > 0 {
                self.result.per_instance.insert(names.name(id as u32).to_owned(), (a, f));
            }
        }
        // Teardown.
        for l in live {
            let _ = world.kfree(l.obj);
        }
        for c in self.created.drain(..).rev() {
            let _ = crate::slab_common::world::kmem_cache_destroy(c);
        }
        self.result
    }
}
