//! Per-CPU slots with a fast path that has no atomic read-modify-write and no
//! fence instruction: slots owned by one thread at a time, plain stores on the
//! owner's side, `membarrier(2)` on the remote side. `CacheStorage` keeps its
//! `PerCpuSheaves` in a [`PerCpu`] (`s->cpu_sheaves`); the protocol stands in
//! for `local_trylock_t`, and its proof, fallback and loom models are in
//! `design/allocator.md` ("Per-cpu in userspace").
//!
//! # Words
//! * `Slot::owner` — the owning thread's token (the address of its
//!   [`ThreadRec`], which the slot keeps alive with one strong reference), or
//!   one of the sentinels [`UNOWNED`], `REMOTE` (a remote operator is at work)
//!   and `FALLBACK` (membarrier is unavailable: nobody ever owns the slot).
//!   Written only by holders of `Slot::remote`, the per-slot mutex.
//! * `ThreadRec::seq` — the *owner's* busy word, odd while the thread is in a
//!   critical section. Written only by its thread, with plain stores. It lives
//!   in the thread's record, not in the slot: see "Why the busy word is per
//!   thread" in `design/allocator.md` (a per-slot busy flag lets a preempted former owner
//!   clear the new owner's flag; loom catches that as `Broken::SlotBusy`).
//!
//! # Fast path (owner)
//! ```text
//! s = me.seq; if s odd           -> None        (nested: like a failed local_trylock in IRQ)
//! me.seq = s + 1                                  (plain store)
//! compiler barrier                                (membarrier upgrades it to smp_mb)
//! if slot.owner != me { me.seq = s + 2; -> slow } (a remote arrived: back off)
//! ... plain accesses to the slot's data ...
//! me.seq = s + 2                                  (Release store, on guard drop)
//! ```
//! # Remote side (flush, steal)
//! ```text
//! lock slot.remote; old = slot.owner; slot.owner = REMOTE
//! membarrier()                                    (every running thread: smp_mb)
//! s = old.seq; if s odd: wait until old.seq != s  (that critical section ended)
//! ... exclusive ...
//! slot.owner = old (flush) or = new owner (steal);  unlock
//! ```

use std::marker::PhantomData;
use std::ptr::NonNull;

#[cfg(loom)]
use crate::config::Broken;
use crate::membarrier;
use crate::slub::thread::{self, ThreadRec};
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};
use crate::sync::{Mutex, MutexGuard, UnsafeCell, heavy_fence, light_fence, spin_wait};

/// `owner` of a slot nobody has claimed yet.
pub const UNOWNED: usize = 1;
/// `owner` while a remote operator holds the slot.
const REMOTE: usize = 2;
/// `owner` of every slot in fallback mode: never equals a token.
const FALLBACK: usize = 3;
/// `owner` of every real-CPU slot (`slub/rseq/`): never equals a token, so
/// the virtual CPUs' fast path misses on it too.
const RSEQ: usize = 4;

/// How a [`PerCpu`] / [`Slot`] protects its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Ownership + membarrier if the kernel offers it (detected once per
    /// process), else [`Mode::Fallback`].
    Auto,
    /// Never grant ownership: every entry takes a compare-and-swap trylock on
    /// the slot (today's scheme), correct without membarrier. The fast path's
    /// owner check fails (`FALLBACK` is no token) and the slow path sees the
    /// sentinel: the fast path has no branch on a mode flag.
    Fallback,
    /// Slots are the machine's CPUs, entered by restartable sequences
    /// (`slub/rseq/`) if [`crate::slub::rseq::available`], else
    /// [`Mode::Auto`].
    RealCpus,
}

/// The effective mode of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effective {
    /// Ownership with the membarrier-based remote protocol.
    Membarrier,
    /// CAS trylock on every entry.
    Fallback,
    /// Real CPUs: restartable sequences on the owner's side, a closed sheaf
    /// and `membarrier(PRIVATE_EXPEDITED_RSEQ)` on the remote side.
    Rseq,
}

/// The data of a real-CPU slot, as its critical sections see it.
///
/// The sections never read the data itself: they read the slot's `active`
/// word, which is the data's [`SectionData::open_word`] (for the sheaves,
/// the main sheaf) while nobody holds the slot, and a *closed sheaf*
/// (`rseq::LOCKED` or `rseq::STOPPED`, empty and full at once) while a slow
/// path of the CPU or a remote operator does. A closed sheaf makes every
/// pop and push miss by its own size test, so the hit paths test no lock
/// word at all (the trick of tcmalloc's per-CPU caches).
pub trait SectionData {
    /// What the sections work on while the slot is open.
    fn open_word(&self) -> usize;
}

/// One CPU's slot: the protocol words and the data they protect, on its own
/// cache line(s).
#[repr(C, align(64))]
pub struct Slot<T> {
    /// Real-CPU mode: the sheaf the CPU's sections work on, or a closed
    /// sheaf while the slot is held ([`SectionData`]). Unused otherwise.
    active: AtomicUsize,
    /// A [`ThreadRec`] token or a sentinel; written only under `remote`.
    owner: AtomicUsize,
    /// Fallback mode's trylock (0 free, 1 held).
    lock: AtomicU32,
    /// This slot's index among `nr` (to tell whether an owner migrated away).
    index: u32,
    nr: u32,
    /// Serialises remote operators and claimers of this slot.
    remote: Mutex<()>,
    #[cfg(loom)]
    broken: Option<Broken>,
    /// `Broken::SlotBusy`'s per-slot busy word.
    #[cfg(loom)]
    slot_busy: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: the slot hands out its data only to one context at a time (the
// protocol's mutual exclusion), so it is shareable whenever the data may move
// between threads. The owner token's Arc reference is only manipulated under
// `remote`.
unsafe impl<T: Send> Sync for Slot<T> {}
// SAFETY: as above; the data moves with the slot.
unsafe impl<T: Send> Send for Slot<T> {}

/// Exclusive access to a slot's data from its owner (or, in fallback mode,
/// the trylock holder). Ends the critical section on drop. Not `Send`: the
/// busy word it clears belongs to the thread that entered.
#[must_use]
pub struct LocalGuard<'a, T> {
    data: &'a UnsafeCell<T>,
    release: Release<'a, T>,
    _not_send: PhantomData<*const ()>,
}

/// How a [`LocalGuard`] ends its critical section.
enum Release<'a, T> {
    /// Store `value` into `word`: the owner's `seq`, or the slot's `lock` in
    /// fallback mode.
    Word { word: &'a AtomicU32, value: u32 },
    /// Real CPUs: open the slot again, `active = open(data)`, and count
    /// the slot as no longer held by the thread of record `held`.
    Open { active: &'a AtomicUsize, open: fn(&T) -> usize, held: *const ThreadRec },
}

impl<T> LocalGuard<'_, T> {
    /// Calls `f` with exclusive access to the slot's data.
    #[inline(always)]
    pub fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the guard is the slot's only accessor until it drops (the
        // protocol's invariant; `&mut self` rules out overlapping calls).
        self.data.with_mut(|p| f(unsafe { &mut *p }))
    }
}

impl<T> Drop for LocalGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        // Release: a remote that reads this value (Acquire), and the CPU's
        // next section, see every access of the critical section.
        match self.release {
            Release::Word { word, value } => word.store(value, Release),
            Release::Open { active, open, held } => {
                // SAFETY: still ours until the store below opens the slot.
                let word = self.data.with_mut(|p| open(unsafe { &*p }));
                active.store(word, Release);
                if !thread::is_dummy(held) {
                    // SAFETY: this thread's live record (a guard is not `Send`).
                    let n = unsafe { &(*held).rseq_held };
                    n.store(n.load(Relaxed) - 1, Relaxed);
                }
            }
        }
    }
}

/// Exclusive access to a slot's data from any thread ([`Slot::lock_remote`]).
#[must_use]
pub struct RemoteGuard<'a, T> {
    slot: &'a Slot<T>,
    /// The owner to restore (a token, `UNOWNED` or `FALLBACK`), or `RSEQ`.
    old: usize,
    /// Real CPUs: what opens the slot again on drop.
    open: fn(&T) -> usize,
    _m: MutexGuard<'a, ()>,
}

impl<T: SectionData> RemoteGuard<'_, T> {
    /// Calls `f` with exclusive access to the slot's data.
    pub fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the remote protocol completed: the owner is out and cannot
        // re-enter until `owner` is restored on drop.
        self.slot.data.with_mut(|p| f(unsafe { &mut *p }))
    }

    fn needs_fence(&self) -> bool {
        self.old != UNOWNED && self.old != FALLBACK && self.old != RSEQ
    }

    /// Waits until the displaced owner is out of its critical section (a
    /// real-CPU slot is closed before, by `close_sections`).
    fn wait_owner(&self) {
        if self.needs_fence() {
            // SAFETY: `old` is a token read under the mutex we hold.
            unsafe { self.slot.wait_token(self.old) };
        }
    }
}

impl<T> Drop for RemoteGuard<'_, T> {
    fn drop(&mut self) {
        if self.old == RSEQ {
            // Release: the CPU's next section reads `active` first and then
            // sees everything we did to the data.
            let word = self.slot.data.with_mut(|p| {
                (self.open)(
                    // SAFETY: the slot is closed to everyone but us until this store.
                    unsafe { &*p },
                )
            });
            self.slot.active.store(word, Release);
        } else if self.old == FALLBACK {
            #[cfg(loom)]
            if self.slot.broken == Some(Broken::FallbackNoLock) {
                return;
            }
            self.slot.lock.store(0, Release);
        } else if self.old != UNOWNED {
            // Release: the owner's Acquire re-check that reads its token back
            // sees everything we did to the data.
            self.slot.owner.store(self.old, Release);
        }
    }
}

/// One real-CPU slot's step of closing it to its CPU's sections: waits
/// until no slow path of the CPU holds it (`active` is not `LOCKED`), then
/// swaps its open sheaf for `STOPPED`. The caller aborts the CPU's sections
/// next and then checks with [`stayed_closed`].
fn close_slot(active: &AtomicUsize) {
    let stopped = crate::slub::rseq::stopped();
    let mut round = 0u32;
    loop {
        let open = active.load(Acquire);
        debug_assert_ne!(open, stopped, "remote operators are serialised by `remote`");
        // A compare-and-swap, not a store: a lock section that read the open
        // sheaf may commit LOCKED at any moment before the abort, and must
        // not be overwritten (it would then hold the slot with us).
        if open != crate::slub::rseq::locked() && active.compare_exchange(open, stopped, Acquire, Relaxed).is_ok() {
            return;
        }
        spin_wait(round);
        round = round.saturating_add(1);
    }
}

/// After the abort that followed [`close_slot`]: whether the slot is still
/// `STOPPED`, that is, no lock section of the CPU committed between the swap
/// and the abort (one that did holds the slot now, and the close must be
/// repeated once it lets go). No section that started after the abort can
/// commit: it reads a closed sheaf.
fn stayed_closed(active: &AtomicUsize) -> bool {
    active.load(Acquire) == crate::slub::rseq::stopped()
}

/// Waits until a busy word that is odd now changes (the section ended).
fn wait_quiescent(word: &AtomicU32) {
    let s = word.load(Acquire);
    if s & 1 == 0 {
        return;
    }
    let mut round = 0u32;
    while word.load(Acquire) == s {
        spin_wait(round);
        round = round.saturating_add(1);
    }
}

impl<T: SectionData> Slot<T> {
    /// A standalone slot (index 0 of 1).
    pub fn new(data: T, mode: Mode) -> Slot<T> {
        Slot::with_index(data, mode, 0, 1)
    }

    fn with_index(data: T, mode: Mode, index: usize, nr: usize) -> Slot<T> {
        assert!(index < nr && nr <= u32::MAX as usize);
        let owner = match mode {
            Mode::RealCpus if crate::slub::rseq::available() => RSEQ,
            Mode::Auto | Mode::RealCpus if membarrier::available() => UNOWNED,
            _ => FALLBACK,
        };
        Slot {
            active: AtomicUsize::new(0),
            owner: AtomicUsize::new(owner),
            lock: AtomicU32::new(0),
            index: index as u32,
            nr: nr as u32,
            remote: Mutex::new(()),
            #[cfg(loom)]
            broken: None,
            #[cfg(loom)]
            slot_busy: AtomicU32::new(0),
            data: UnsafeCell::new(data),
        }
    }

    /// Exclusive access through `&mut self` (teardown: nobody else can reach the slot).
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every other accessor.
        self.data.with_mut(|p| unsafe { &mut *p })
    }

    /// Loom builds only: the data *without* the protocol, for seeded bugs
    /// (`Broken::FlushWithoutCpuLock`) that must be caught as data races.
    ///
    /// # Safety
    /// None: this is the bug. Only the seeded broken variants call it.
    #[cfg(loom)]
    pub(crate) unsafe fn with_unprotected<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: deliberately none (see above); loom reports the race.
        self.data.with_mut(|p| f(unsafe { &mut *p }))
    }

    /// The slot's effective mode.
    pub fn mode(&self) -> Effective {
        match self.owner.load(Relaxed) {
            FALLBACK => Effective::Fallback,
            RSEQ => Effective::Rseq,
            _ => Effective::Membarrier,
        }
    }

    /// Whether the calling thread currently owns the slot (diagnostics).
    pub fn owned_by_current(&self) -> bool {
        self.owner.load(Relaxed) == ThreadRec::token(thread::current_ptr())
    }

    /// `local_trylock()` + access: the fast path. `None` means "take the slow
    /// path without the sheaves" (another live thread owns this CPU's slot, a
    /// remote operator holds it, or the caller is already inside a guard).
    #[inline(always)]
    pub fn enter(&self) -> Option<LocalGuard<'_, T>> {
        let rec = thread::current_ptr();
        match self.try_fast(rec) {
            Some(g) => Some(g),
            None => self.enter_slow(),
        }
    }

    /// [`Slot::enter`] in closure form: `f` runs in the critical section.
    /// The preferred form on hot paths: the compiler keeps the hit path free
    /// of the stack traffic that merging with the slow path's guard costs
    /// (`f` is instantiated twice: inline on the hit path, and in the cold
    /// slow path).
    #[inline(always)]
    pub fn with_local<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        self.with_local_or(|d| Some(f(d)), || None)
    }

    /// [`Slot::with_local`] with the miss handled by `miss` instead of an
    /// `Option`: the leanest hit path (no `Option` to merge and test).
    #[inline(always)]
    pub fn with_local_or<R>(&self, f: impl FnOnce(&mut T) -> R, miss: impl FnOnce() -> R) -> R {
        let rec = thread::current_ptr();
        if let Some(mut g) = self.try_fast(rec) {
            return g.with_mut(f);
        }
        self.with_local_or_slow(f, miss)
    }

    #[cold]
    #[inline(never)]
    fn with_local_or_slow<R>(&self, f: impl FnOnce(&mut T) -> R, miss: impl FnOnce() -> R) -> R {
        match self.enter_slow() {
            Some(mut g) => g.with_mut(f),
            None => miss(),
        }
    }

    /// The owner's fast path proper. No pre-check of `owner` before the busy
    /// store: the busy word is this thread's own, so publishing it on a slot
    /// we do not own disturbs nobody (a remote only waits on the busy word of
    /// the owner it displaced), and the one check after the fence decides.
    #[inline(always)]
    fn try_fast(&self, rec: *const ThreadRec) -> Option<LocalGuard<'_, T>> {
        let tok = ThreadRec::token(rec);
        // SAFETY: `rec` is this thread's own record, alive as long as the
        // thread and past it while a slot names it (and this slot names it for
        // as long as the guard lives, because a steal cannot finish while our
        // busy word is odd), or the static dummy.
        let word: &AtomicU32 = unsafe { &(*rec).seq };
        #[cfg(loom)]
        let word: &AtomicU32 = if self.broken == Some(Broken::SlotBusy) {
            // The first design: per-slot busy word, so it needs the pre-check.
            if self.owner.load(Relaxed) != tok {
                return None;
            }
            &self.slot_busy
        } else {
            word
        };
        #[cfg(loom)]
        if self.broken == Some(Broken::SkipRecheck) && self.owner.load(Relaxed) != tok {
            return None; // checked before publishing busy only
        }
        let s = word.load(Relaxed);
        if s & 1 != 0 {
            return None; // nested inside another guard of this thread
        }
        word.store(s.wrapping_add(1), Release);
        #[cfg(loom)]
        let light = self.broken != Some(Broken::SkipLightFence);
        #[cfg(not(loom))]
        let light = true;
        if light {
            light_fence();
        }
        #[cfg(loom)]
        let recheck = self.broken != Some(Broken::SkipRecheck);
        #[cfg(not(loom))]
        let recheck = true;
        // Acquire: if a remote restored our token, we see its data writes.
        if recheck && self.owner.load(Acquire) != tok {
            word.store(s.wrapping_add(2), Release);
            return None;
        }
        #[cfg(loom)]
        if self.broken == Some(Broken::EarlyClear) {
            word.store(s.wrapping_add(2), Release);
        }
        Some(LocalGuard {
            data: &self.data,
            release: Release::Word { word, value: s.wrapping_add(2) },
            _not_send: PhantomData,
        })
    }

    /// Fallback mode's entry: today's compare-and-swap trylock.
    #[inline]
    fn enter_locked(&self) -> Option<LocalGuard<'_, T>> {
        self.lock.compare_exchange(0, 1, Acquire, Relaxed).ok()?;
        Some(LocalGuard {
            data: &self.data,
            release: Release::Word { word: &self.lock, value: 0 },
            _not_send: PhantomData,
        })
    }

    fn on_this_slot(&self, cpu: u32) -> bool {
        (if cpu < self.nr { cpu } else { cpu % self.nr }) == self.index
    }

    /// Everything that is not an owner's hit: fallback mode, first use
    /// (claim), stealing from an exited or migrated owner, losing.
    #[cold]
    #[inline(never)]
    fn enter_slow(&self) -> Option<LocalGuard<'_, T>> {
        let owner = self.owner.load(Relaxed);
        if owner == FALLBACK {
            return self.enter_locked();
        }
        if owner == REMOTE || owner == RSEQ {
            // A real-CPU slot is entered through its `PerCpu`, which knows
            // the CPU it runs on (`PerCpu::enter_rseq`).
            return None;
        }
        let rec = thread::init();
        if thread::is_dummy(rec) {
            return None; // thread teardown: no sheaves
        }
        let tok = ThreadRec::token(rec);
        // SAFETY: `rec` is this thread's live record.
        if unsafe { (*rec).seq.load(Relaxed) } & 1 != 0 {
            return None; // nested inside another guard
        }
        if owner == tok {
            return self.try_fast(rec); // a remote restored us meanwhile
        }
        // Claimers and remotes exclude each other; a busy mutex means someone
        // is at work on this slot right now: lose, like a failed trylock.
        let m = self.remote.try_lock()?;
        let owner = self.owner.load(Relaxed); // stable while we hold the mutex
        if owner == tok {
            drop(m);
            return self.try_fast(rec);
        }
        if owner != UNOWNED {
            // SAFETY: under the mutex `owner` is a token (REMOTE is only set
            // and cleared by mutex holders; FALLBACK never changes and was
            // excluded above); the slot's strong reference keeps it alive.
            let old = unsafe { &*(owner as *const ThreadRec) };
            if old.alive.load(Acquire) && self.on_this_slot(old.cpu.load(Relaxed)) {
                return None; // a live thread on this CPU owns it: one context at a time
            }
            // Steal (exited or migrated owner) through the remote protocol.
            self.owner.store(REMOTE, Relaxed);
            self.heavy();
            // SAFETY: `owner` is a token read under the mutex we hold.
            unsafe { self.wait_token(owner) };
            // SAFETY: `rec` is this thread's live record.
            self.owner.store(unsafe { thread::clone_ref(rec) }, Release);
            // SAFETY: the slot held one reference through `owner`; `old` is not used after this.
            unsafe { thread::release_ref(owner) };
            drop(m);
        } else {
            // Nobody can be inside: a slot never returns to UNOWNED once owned.
            // SAFETY: `rec` is this thread's live record.
            self.owner.store(unsafe { thread::clone_ref(rec) }, Release);
            drop(m);
        }
        self.try_fast(rec)
    }

    /// Waits until the thread behind `token` is out of its critical section.
    ///
    /// # Safety
    /// `token` is a record token read from `owner` while holding `remote`
    /// (so the slot's strong reference keeps the record alive).
    unsafe fn wait_token(&self, token: usize) {
        #[cfg(loom)]
        if self.broken == Some(Broken::NoWait) {
            return;
        }
        #[cfg(loom)]
        if self.broken == Some(Broken::SlotBusy) {
            return wait_quiescent(&self.slot_busy);
        }
        // SAFETY: forwarded from the caller: the record is alive.
        wait_quiescent(unsafe { &(*(token as *const ThreadRec)).seq });
    }

    fn heavy(&self) {
        #[cfg(loom)]
        if self.broken == Some(Broken::SkipHeavyFence) {
            return;
        }
        heavy_fence();
    }

    /// Phase 1 of the remote protocol: take the mutex and shut the owner out.
    fn begin_remote(&self) -> RemoteGuard<'_, T> {
        let me = thread::current_ptr();
        if !thread::is_dummy(me) {
            // SAFETY: this thread's live record.
            let (s, held) = unsafe { ((*me).seq.load(Relaxed), (*me).rseq_held.load(Relaxed)) };
            assert!(s & 1 == 0 && held == 0, "lock_remote inside a LocalGuard would deadlock");
        }
        let m = self.remote.lock();
        let old = self.owner.load(Relaxed);
        if old == RSEQ {
            // Closed by the caller (`close_slot`, the abort, `stayed_closed`),
            // which may do many slots with one abort.
        } else if old == FALLBACK {
            #[cfg(loom)]
            let take = self.broken != Some(Broken::FallbackNoLock);
            #[cfg(not(loom))]
            let take = true;
            let mut round = 0u32;
            while take && self.lock.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
                spin_wait(round);
                round = round.saturating_add(1);
            }
        } else if old != UNOWNED {
            self.owner.store(REMOTE, Relaxed);
        }
        RemoteGuard { slot: self, old, open: T::open_word, _m: m }
    }

    /// Takes the slot from any thread (flush, statistics): returns once the
    /// owner is out of its critical section and cannot re-enter before the
    /// guard drops; the owner keeps its ownership.
    pub fn lock_remote(&self) -> RemoteGuard<'_, T> {
        let g = self.begin_remote();
        if g.old == RSEQ {
            self.close_rseq();
        } else if g.needs_fence() {
            self.heavy();
        }
        g.wait_owner();
        g
    }

    /// Closes a real-CPU slot to its CPU's sections, for a remote operator
    /// holding `remote`: swap in `STOPPED`, abort the CPU's sections, and
    /// again if a lock section slipped in before the abort.
    fn close_rseq(&self) {
        loop {
            // BROKEN ON PURPOSE, loom only (`Broken::RseqCloseAfterAbort`).
            #[cfg(loom)]
            if self.broken == Some(Broken::RseqCloseAfterAbort) {
                self.abort_rseq(Some(self.index as usize));
                self.close_for_remote();
                if self.stays_closed() {
                    return;
                }
                continue;
            }
            self.close_for_remote();
            self.abort_rseq(Some(self.index as usize));
            if self.stays_closed() {
                return;
            }
        }
    }

    /// [`close_slot`] on this slot.
    fn close_for_remote(&self) {
        // BROKEN ON PURPOSE, loom only (`Broken::RseqCloseOverLocked`): a
        // plain store, which may replace a slow path's LOCKED.
        #[cfg(loom)]
        if self.broken == Some(Broken::RseqCloseOverLocked) {
            self.active.store(crate::slub::rseq::stopped(), Relaxed);
            return;
        }
        close_slot(&self.active);
    }

    /// [`stayed_closed`] on this slot.
    fn stays_closed(&self) -> bool {
        // BROKEN ON PURPOSE, loom only (`Broken::RseqNoRecheck`).
        #[cfg(loom)]
        if self.broken == Some(Broken::RseqNoRecheck) {
            return true;
        }
        stayed_closed(&self.active)
    }

    /// The remote side's abort of real-CPU sections
    /// (`rseq::abort_sections`), on `cpu` or on every CPU.
    fn abort_rseq(&self, cpu: Option<usize>) {
        // BROKEN ON PURPOSE, loom only (`Broken::RseqNoAbort`).
        #[cfg(loom)]
        if self.broken == Some(Broken::RseqNoAbort) {
            return;
        }
        crate::slub::rseq::abort_sections(cpu);
    }

    /// Loom builds only: the data's loom cell of a real-CPU slot, for the
    /// model of the sections (`rseq/model.rs`), which stands in for the
    /// assembly that reaches the data by offset.
    #[cfg(loom)]
    pub(super) fn rseq_data(&self) -> &UnsafeCell<T> {
        &self.data
    }
}

#[cfg_attr(loom, allow(dead_code))] // the layout checks are of the real build
impl<T> Slot<T> {
    /// Offset of `active` in a slot (the sections' `offsets::ACTIVE`).
    pub(crate) const ACTIVE_OFFSET: usize = std::mem::offset_of!(Slot<T>, active);
    /// Offset of the data (`struct slub_percpu_sheaves` in a slot of
    /// `s->cpu_sheaves`).
    pub(crate) const DATA_OFFSET: usize = std::mem::offset_of!(Slot<T>, data);
}

impl<T> crate::slub::rseq::SlotWords for Slot<T> {
    #[cfg(loom)]
    fn active(&self) -> &AtomicUsize {
        &self.active
    }
    #[cfg(loom)]
    fn broken(&self) -> Option<Broken> {
        self.broken
    }
}

/// The owner's fast path on the calling thread's CPU slot of `slots`, and
/// nothing else: `f(slot index, data)` runs in the critical section on a
/// hit; any miss (another owner, a remote at work, a nested entry, fallback
/// mode, first use, or no slots at all) returns `None` without entering a
/// slow path, so that the caller's one cold call takes it with nothing live.
/// The instance-level fast paths use it on their copy of `s->cpu_sheaves`.
#[inline(always)]
pub fn try_local<T: SectionData, R>(slots: &[Slot<T>], f: impl FnOnce(usize, &mut T) -> Option<R>) -> Option<R> {
    let rec = thread::current_ptr();
    // SAFETY: `rec` is this thread's live record or the static dummy.
    let cpu = unsafe { (*rec).cpu.load(Relaxed) } as usize;
    // No modulo here: a CPU id beyond the slots is a miss, and the slow
    // path maps it (`index_of`).
    let slot = slots.get(cpu)?;
    let mut g = slot.try_fast(rec)?;
    g.with_mut(|d| f(cpu, d))
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        let owner = self.owner.load(Relaxed);
        if owner > RSEQ {
            // SAFETY: the slot held one strong reference through its token.
            unsafe { thread::release_ref(owner) };
        }
    }
}

/// The slots of a [`PerCpu`], in one allocation after
/// [`rseq::GUARD_SLOTS`](crate::slub::rseq::GUARD_SLOTS) not-rseq slots: a
/// real-CPU section indexes the slots by the CPU id with no bounds test,
/// and a thread whose rseq registration failed reads -1 or -2 there, which
/// lands on a guard and misses as "not real CPUs".
struct SlotArray<T> {
    first: NonNull<Slot<T>>,
    len: usize,
}

impl<T> SlotArray<T> {
    /// No slots and no block: a placeholder's (`PerCpu::empty`), which no
    /// section indexes (its holders name the not-rseq slots).
    fn none() -> SlotArray<T> {
        SlotArray { first: NonNull::dangling(), len: 0 }
    }

    /// Bytes of guards before the first slot.
    const GUARD_BYTES: usize = crate::slub::rseq::GUARD_SLOTS * crate::slub::rseq::offsets::SLOT;

    fn layout(len: usize) -> std::alloc::Layout {
        let align = std::mem::align_of::<Slot<T>>().max(64);
        assert!(Self::GUARD_BYTES.is_multiple_of(align), "the slots follow the guards aligned");
        let bytes = std::mem::size_of::<Slot<T>>().checked_mul(len).and_then(|b| b.checked_add(Self::GUARD_BYTES));
        std::alloc::Layout::from_size_align(bytes.expect("slot array size"), align).expect("slot array layout")
    }

    /// `len` slots from `make(index)`, written straight into the array; if
    /// `make` fails, the slots made so far come back, in index order.
    fn try_new(len: usize, mut make: impl FnMut(usize) -> Option<Slot<T>>) -> Result<SlotArray<T>, Vec<Slot<T>>> {
        if len == 0 {
            return Ok(Self::none());
        }
        let layout = Self::layout(len);
        // SAFETY: the layout is not zero-sized (it has the guards).
        let block = unsafe { std::alloc::alloc(layout) };
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: the guards fill the block's first `GUARD_BYTES` bytes.
        unsafe { crate::slub::rseq::write_guards(block) };
        // SAFETY: in bounds of the block, aligned for `Slot<T>` (`layout`).
        let first = unsafe { block.add(Self::GUARD_BYTES) }.cast::<Slot<T>>();
        for i in 0..len {
            match make(i) {
                // SAFETY: slot `i` of the `len` the block has room for.
                Some(slot) => unsafe { first.add(i).write(slot) },
                None => {
                    // SAFETY: slots `0..i` were written and are moved out
                    // once; then the block is freed with its layout.
                    let made = (0..i).map(|k| unsafe { first.add(k).read() }).collect();
                    unsafe { std::alloc::dealloc(block, layout) };
                    return Err(made);
                }
            }
        }
        // SAFETY: `block` is not null, so neither is `first`.
        Ok(SlotArray { first: unsafe { NonNull::new_unchecked(first) }, len })
    }
}

impl<T> std::ops::Deref for SlotArray<T> {
    type Target = [Slot<T>];
    fn deref(&self) -> &[Slot<T>] {
        // SAFETY: `len` initialised slots from `first`, owned by the array.
        unsafe { std::slice::from_raw_parts(self.first.as_ptr(), self.len) }
    }
}

impl<T> std::ops::DerefMut for SlotArray<T> {
    fn deref_mut(&mut self) -> &mut [Slot<T>] {
        // SAFETY: as for `deref`, exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.first.as_ptr(), self.len) }
    }
}

impl<T> Drop for SlotArray<T> {
    fn drop(&mut self) {
        if self.len == 0 {
            return; // `none()`: no block
        }
        // SAFETY: the slots are initialised and dropped once, here; then the
        // block is freed with the layout it was allocated with.
        unsafe {
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.first.as_ptr(), self.len));
            let block = self.first.as_ptr().cast::<u8>().sub(Self::GUARD_BYTES);
            std::alloc::dealloc(block, Self::layout(self.len));
        }
    }
}

/// `nr` slots indexed by virtual CPU id modulo `nr`, or by the real CPU
/// (real-CPU mode: [`Effective::Rseq`]).
pub struct PerCpu<T> {
    slots: SlotArray<T>,
    /// Real-CPU mode: every local entry is a restartable sequence.
    rseq: bool,
}

// SAFETY: as for the slots themselves, which the PerCpu owns.
unsafe impl<T: Send> Send for PerCpu<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for PerCpu<T> {}

impl<T: SectionData> PerCpu<T> {
    /// `nr` slots with data from `init(index)`.
    pub fn new(nr: usize, mode: Mode, mut init: impl FnMut(usize) -> T) -> PerCpu<T> {
        match Self::try_new(nr, mode, |i| Some(init(i))) {
            Ok(per_cpu) => per_cpu,
            Err(_) => unreachable!("every slot's data is made"),
        }
    }

    /// `nr` slots with data from `init(index)`, which may fail: then the
    /// slots made so far come back (in index order), for the caller to undo
    /// what their data holds. No allocation but the slots' own.
    pub fn try_new(nr: usize, mode: Mode, mut init: impl FnMut(usize) -> Option<T>) -> Result<PerCpu<T>, Vec<Slot<T>>> {
        assert!(nr > 0, "at least one slot");
        let mut slots = SlotArray::try_new(nr, |i| Some(Slot::with_index(init(i)?, mode, i, nr)))?;
        let rseq = slots[0].mode() == Effective::Rseq;
        if rseq {
            for slot in slots.iter_mut() {
                let open = slot.get_mut().open_word();
                slot.active = AtomicUsize::new(open);
            }
        }
        Ok(PerCpu { slots, rseq })
    }

    /// No slots: a placeholder until [`PerCpu::new`]'s slots are installed
    /// (no entry may be attempted on it).
    pub(crate) fn empty() -> PerCpu<T> {
        PerCpu { slots: SlotArray::none(), rseq: false }
    }

    /// Loom builds only: gives every slot a seeded bug (or none).
    #[cfg(loom)]
    pub(crate) fn set_broken(&mut self, broken: Option<Broken>) {
        for s in self.slots.iter_mut() {
            s.broken = broken;
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Never true (`new` asserts at least one slot).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slot `i`.
    pub fn slot(&self, i: usize) -> &Slot<T> {
        &self.slots[i]
    }

    /// All slots, as a slice (what an instance copies as its hot field).
    pub fn as_slice(&self) -> &[Slot<T>] {
        &self.slots
    }

    /// All slots.
    pub fn iter(&self) -> std::slice::Iter<'_, Slot<T>> {
        self.slots.iter()
    }

    /// All slots, exclusively (teardown).
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Slot<T>> {
        self.slots.iter_mut()
    }

    /// The effective mode (the same for all slots).
    pub fn mode(&self) -> Effective {
        self.slots[0].mode()
    }

    /// What a real-CPU section indexes by the CPU: the first slot in
    /// real-CPU mode, else the not-rseq slots (`rseq::not_rseq_slots`),
    /// on which every section misses as "not real CPUs". An instance's
    /// `cpu_sheaves` and a slab's pages (`PageWords::slots`) hold a copy;
    /// it never changes while the slots live.
    pub(crate) fn section_base(&self) -> *mut u8 {
        if self.rseq { self.slots.as_ptr().cast_mut().cast() } else { crate::slub::rseq::not_rseq_slots() }
    }

    /// Real-CPU mode: the slots are the machine's CPUs, entered by
    /// restartable sequences (the instance fast paths test this first).
    #[inline(always)]
    pub fn is_rseq(&self) -> bool {
        self.rseq
    }

    /// The calling thread's slot index (`cpu % nr`; in real-CPU mode the CPU
    /// it runs on now, a hint for choosing a node).
    pub fn current_index(&self) -> usize {
        if self.rseq {
            return self.index_of(crate::slub::rseq::current_cpu().unwrap_or(0));
        }
        self.index_of(thread::current_cpu())
    }

    /// Real-CPU mode's `local_trylock()`: the calling thread's CPU slot, if
    /// neither a slow path of that CPU nor a remote holds it.
    #[cold]
    #[inline(never)]
    fn enter_rseq(&self) -> Option<(usize, LocalGuard<'_, T>)> {
        let base = self.slots.as_ptr() as *const u8;
        let stride = std::mem::size_of::<Slot<T>>();
        // SAFETY: `slots` are this PerCpu's live slots of `stride` bytes,
        // each starting with its `active` word (`Slot::ACTIVE_OFFSET == 0`).
        let idx = unsafe { crate::slub::rseq::lock::<Slot<T>>(base, self.slots.len(), stride) }?;
        let slot = &self.slots[idx];
        // Counted in the thread's record, so that a remote operation this
        // thread starts while it holds the slot panics instead of waiting
        // for itself (`begin_remote`). The slow path only.
        let mut held = thread::current_ptr();
        if thread::is_dummy(held) {
            held = thread::init();
        }
        if !thread::is_dummy(held) {
            // SAFETY: this thread's live record.
            let n = unsafe { &(*held).rseq_held };
            n.store(n.load(Relaxed) + 1, Relaxed);
        }
        let release = Release::Open { active: &slot.active, open: T::open_word, held };
        Some((idx, LocalGuard { data: &slot.data, release, _not_send: PhantomData }))
    }

    /// `cpu % nr` without a division when `cpu < nr` (the common case).
    #[inline(always)]
    fn index_of(&self, cpu: u32) -> usize {
        let (cpu, nr) = (cpu as usize, self.slots.len());
        if cpu < nr { cpu } else { cpu % nr }
    }

    /// The fast path on the calling thread's CPU slot: one TLS load gives the
    /// token and the CPU. Returns the slot index with the guard.
    #[inline(always)]
    pub fn enter_local(&self) -> Option<(usize, LocalGuard<'_, T>)> {
        if self.rseq {
            return self.enter_rseq();
        }
        let rec = thread::current_ptr();
        // SAFETY: `rec` is this thread's live record or the static dummy.
        let idx = self.index_of(unsafe { (*rec).cpu.load(Relaxed) });
        // SAFETY: `idx < nr` by construction of `idx`.
        let slot = unsafe { self.slots.get_unchecked(idx) };
        match slot.try_fast(rec) {
            Some(g) => Some((idx, g)),
            None => self.enter_local_slow(),
        }
    }

    /// [`PerCpu::enter_local`] in closure form (see [`Slot::with_local`]):
    /// `f(slot index, data)` runs in the critical section of the calling
    /// thread's CPU slot.
    #[inline(always)]
    pub fn with_local<R>(&self, f: impl FnOnce(usize, &mut T) -> R) -> Option<R> {
        self.with_local_or(|i, d| Some(f(i, d)), || None)
    }

    /// [`PerCpu::with_local`] with the miss handled by `miss` (see [`Slot::with_local_or`]).
    #[inline(always)]
    pub fn with_local_or<R>(&self, f: impl FnOnce(usize, &mut T) -> R, miss: impl FnOnce() -> R) -> R {
        if self.rseq {
            return match self.enter_rseq() {
                Some((idx, mut g)) => g.with_mut(|d| f(idx, d)),
                None => miss(),
            };
        }
        let rec = thread::current_ptr();
        // SAFETY: `rec` is this thread's live record or the static dummy.
        let idx = self.index_of(unsafe { (*rec).cpu.load(Relaxed) });
        // SAFETY: `idx < nr` by construction of `idx`.
        let slot = unsafe { self.slots.get_unchecked(idx) };
        if let Some(mut g) = slot.try_fast(rec) {
            return g.with_mut(|d| f(idx, d));
        }
        self.with_local_or_slow(rec, idx, f, miss)
    }

    /// [`PerCpu::with_local_or`] after the caller's own [`try_local`]
    /// missed: the same entry without repeating the owner's attempt (the
    /// fallback's trylock, a claim, a steal, or the owner's entry again when
    /// the miss was the caller's, an empty or full sheaf).
    #[inline]
    pub fn with_local_after_miss<R>(&self, f: impl FnOnce(usize, &mut T) -> R, miss: impl FnOnce() -> R) -> R {
        if self.rseq {
            return self.with_local_or(f, miss);
        }
        let rec = thread::current_ptr();
        // SAFETY: `rec` is this thread's live record or the static dummy.
        let idx = self.index_of(unsafe { (*rec).cpu.load(Relaxed) });
        self.with_local_or_slow(rec, idx, f, miss)
    }

    #[cold]
    #[inline(never)]
    fn with_local_or_slow<R>(
        &self,
        rec: *const ThreadRec,
        idx: usize,
        f: impl FnOnce(usize, &mut T) -> R,
        miss: impl FnOnce() -> R,
    ) -> R {
        // Fallback mode's own hot path: `idx` is right unless `rec` is the dummy.
        if !thread::is_dummy(rec) {
            let slot = &self.slots[idx];
            if slot.owner.load(Relaxed) == FALLBACK {
                return match slot.enter_locked() {
                    Some(mut g) => g.with_mut(|d| f(idx, d)),
                    None => miss(),
                };
            }
        }
        match self.enter_local_slow() {
            Some((idx, mut g)) => g.with_mut(|d| f(idx, d)),
            None => miss(),
        }
    }

    #[cold]
    #[inline(never)]
    fn enter_local_slow(&self) -> Option<(usize, LocalGuard<'_, T>)> {
        let idx = self.current_index(); // initialises the record (real CPU id)
        self.slots[idx].enter_slow().map(|g| (idx, g))
    }

    /// Takes every slot remotely with one heavy fence for all of them
    /// (`flush_all`): mutexes in index order, every owner shut out, one
    /// membarrier, then each owner waited for.
    pub fn lock_remote_all(&self) -> Vec<RemoteGuard<'_, T>> {
        let guards: Vec<_> = self.slots.iter().map(Slot::begin_remote).collect();
        if self.rseq {
            // One abort for every CPU; a slot whose slow path slipped in
            // before it is closed again on its own.
            #[cfg(loom)]
            let close_first = self.slots[0].broken != Some(Broken::RseqCloseAfterAbort);
            #[cfg(not(loom))]
            let close_first = true;
            if close_first {
                self.slots.iter().for_each(Slot::close_for_remote);
            }
            self.slots[0].abort_rseq(None);
            if !close_first {
                self.slots.iter().for_each(Slot::close_for_remote);
            }
            for slot in self.slots.iter() {
                if !slot.stays_closed() {
                    slot.close_rseq();
                }
            }
        } else if guards.iter().any(RemoteGuard::needs_fence) {
            self.slots[0].heavy();
        }
        for g in &guards {
            g.wait_owner();
        }
        guards
    }
}
