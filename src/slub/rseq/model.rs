//! Loom builds only: a model of the restartable sequences of `rseq/mod.rs`, so
//! that loom checks the real-CPU protocol (`percpu.rs`, `Effective::Rseq`) on
//! the real allocator paths. `rseq::pop`, `push`, `lock`, `abort_sections`,
//! `current_cpu`, `nr_cpu_ids` and `available` call these functions under
//! `cfg(loom)`; they have the same signatures and take the same steps in the
//! same order as the assembly: read the CPU, find the slot at `base + cpu *
//! SLOT` (none for a holder that names the not-rseq slots), read its
//! `active` word (the main sheaf, or a closed sheaf while a
//! slow path or a remote holds the slot), then pop, push or close the slot
//! with one last store (the commit).
//!
//! # The CPUs
//!
//! A loom thread runs on the CPU of its thread record
//! (`cpu::set_current_cpu`); a migration is the model changing it between
//! two operations. There are [`MODEL_CPUS`] CPUs, which is what
//! `nr_cpu_ids` says, so a real-CPU world of a model has that many slots.
//!
//! # The kernel's guarantee
//!
//! A section either runs with no other section *of its CPU* interleaved from
//! its first load to its commit, or it is restarted from the start. The model
//! holds one loom [`Mutex`] per CPU across every section body; a section
//! that would be restarted is, in the model, one that runs entirely before
//! or entirely after the other. Threads of other CPUs (remotes, and holders
//! of a slot that migrated away) do not take the mutex, so their
//! accesses race with the sections exactly as on the hardware. Nor does
//! code outside a section on the same CPU (a slow path holding the slot, a
//! remote running there): on the hardware it could only run by
//! preempting the section, which then restarts, so the model allows more
//! interleavings than the kernel, never fewer. The CPU is read before the
//! mutex is taken: only the thread itself changes it, so it cannot change
//! inside the section.
//!
//! # The abort
//!
//! `abort_sections(Some(cpu))` locks and unlocks the mutex of `cpu`
//! (`None`: of every CPU, one after the other). That is sound: a section of
//! that CPU that was in flight has then either completed before the lock
//! was taken (its effects visible to the remote through the mutex), or
//! starts after it was released, and then sees everything the remote stored
//! before the abort (the closed sheaf). In the kernel an in-flight section is
//! aborted and restarts after the membarrier: the second case; and one that
//! committed just before the interrupt is the first. A section that makes a
//! store before its commit and is aborted (a push writing `objects[size]`)
//! wrote a slot above `size`, which no reader looks at: the model lets such
//! a section complete instead, which only adds executions.
//!
//! # Orderings the model adds, and those it does not
//!
//! The mutex gives happens-before between consecutive sections of one CPU;
//! in reality one CPU's program order and the barriers of a context switch
//! give it. It adds no ordering between a remote and a section except
//! through `abort_sections`, and none between a section and a holder of the
//! slot: those go through the `active` word alone, with the orderings of
//! the real code (the holder's and the remote's `Release` stores that open
//! the slot; the section's load is `Acquire`, as every x86-64 load is; the
//! lock section's commit is `Relaxed`). The remote's swap to `STOPPED` is
//! published to later sections only by the abort. The mutexes are made when a real-CPU world is made
//! (`available`, `nr_cpu_ids`), before a model spawns a thread, so the
//! synchronisation loom's lazy statics add (every access acquires the
//! initialisation) orders nothing that `spawn` does not.
//!
//! # Where the model differs from the assembly
//!
//! * A pop or push tests the slot's `active` word first and misses if it
//!   is a closed sheaf; the assembly reaches the same miss through the
//!   closed sheaf's size and capacity (both 0), and a push compares the
//!   homes before it reads `active`. The answer is the same miss either
//!   way; the model's order keeps it from touching the slot's data while
//!   the slot is closed, which the assembly does only to read `home`, a
//!   word written once when the storage is made.
//! * The slot's `PerCpuSheaves` is read through its loom `UnsafeCell` (the
//!   cell's layout under loom is loom's, and the tracking is the point): a
//!   section that touches it while a remote or a slow path holding the slot
//!   does, with no happens-before edge between them, is reported by loom as
//!   a causality violation. The open sheaf's `size` and objects are read
//!   and written by raw pointer at the assembly's offsets, inside that
//!   access, and the model checks that the open sheaf is the data's main.
//! * The lock section's commit is a `Relaxed` swap, not a store (see
//!   `lock`): it fixes the word's modification order as coherence does,
//!   and synchronises nothing.
//! * The word a section reads from its holder (`BASE`) is a loom atomic
//!   (an instance's `cpu_sheaves`, and a slab's copy of its storage's
//!   `PerCpu` field, which is an atomic under loom for this reason),
//!   loaded `Relaxed`, as the assembly's plain load is.
//!
//! Seeded bugs ([`Broken`], the slot's): `RseqIgnoreClosed` makes pops and
//! pushes work on the main sheaf whatever `active` says,
//! `RseqLockOutsideSection` tests `active` and commits `LOCKED` in two
//! sections; the remote side's `RseqNoAbort`, `RseqCloseAfterAbort`,
//! `RseqCloseOverLocked` and `RseqNoRecheck` are in `percpu.rs`.

use super::abi::{Push, RAW_NOT_RSEQ, SectionSlot, SlotWords, locked, not_rseq_slots, offsets, stopped};
use crate::config::Broken;
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicPtr, Ordering::*};

/// The model's CPUs: `nr_cpu_ids` of a model.
pub(crate) const MODEL_CPUS: usize = 2;

loom::lazy_static! {
    /// One mutex per CPU, held across every section of that CPU.
    static ref CPUS: [Mutex<()>; MODEL_CPUS] = std::array::from_fn(|_| Mutex::new(()));
}

/// Makes the CPUs' mutexes of this model iteration (see the module docs).
fn cpus() -> &'static [Mutex<()>; MODEL_CPUS] {
    &CPUS
}

/// `rseq::available` under loom: always (models ask for real CPUs with
/// `SlabConfig::real_cpus`; the default remains the virtual CPUs).
pub(crate) fn available() -> bool {
    let _ = cpus();
    true
}

/// `rseq::nr_cpu_ids` under loom.
pub(crate) fn nr_cpu_ids() -> u32 {
    let _ = cpus();
    MODEL_CPUS as u32
}

/// `rseq::current_cpu` under loom: the thread's CPU, set by the model.
pub(crate) fn current_cpu() -> Option<u32> {
    Some(crate::slub::thread::current_cpu())
}

/// The calling thread's CPU and its slot among the holder's: none if the
/// holder names the not-rseq slots (where the assembly's section misses
/// and its stub answers "not real CPUs"), or if the CPU is none of the
/// model's (which the assembly's guard slots stand for).
///
/// # Safety
/// As `rseq::pop`: at `holder + BASE` is the loom atomic that holds a
/// pointer to live real-CPU slots, or the not-rseq slots.
unsafe fn slot<'a, S, const BASE: usize>(holder: *const u8) -> Option<(usize, &'a S)> {
    let cpu = crate::slub::thread::current_cpu() as usize;
    // SAFETY: the caller's holder has this word at this offset.
    let base = unsafe { &*(holder.add(BASE) as *const AtomicPtr<u8>) }.load(Relaxed);
    if std::ptr::eq(base, not_rseq_slots()) || cpu >= MODEL_CPUS {
        return None;
    }
    // SAFETY: real-CPU slots, one per model CPU, and `cpu` is one of them.
    Some((cpu, unsafe { &*(base.add(cpu * std::mem::size_of::<S>()) as *const S) }))
}

/// Whether `word` is a closed sheaf (the slot is held).
fn closed(word: usize) -> bool {
    word == locked() || word == stopped()
}

/// `rseq::pop` under loom: null for a miss, `RAW_NOT_RSEQ` (1) when the
/// holder has no real-CPU slots, else the object.
///
/// # Safety
/// As `rseq::pop`.
pub(crate) unsafe fn pop<S: SectionSlot, const BASE: usize>(holder: *const u8) -> *mut u8 {
    // SAFETY: forwarded from the caller.
    let Some((cpu, slot)) = (unsafe { slot::<S, BASE>(holder) }) else {
        return std::ptr::without_provenance_mut(RAW_NOT_RSEQ);
    };
    let _section = cpus()[cpu].lock();
    let sheaf = slot.active().load(Acquire);
    if closed(sheaf) && slot.broken() != Some(Broken::RseqIgnoreClosed) {
        return std::ptr::null_mut();
    }
    slot.with_main(|main, _home| {
        // SAFETY: inside the CPU's section with the slot open: the slot's
        // data and its main sheaf are this section's (the protocol under
        // test; loom reports it if not). Offsets as in the assembly.
        unsafe {
            assert!(closed(sheaf) || sheaf == main as usize, "an open slot's active sheaf is its main");
            let size = main.add(offsets::SIZE) as *mut u32;
            let n = *size;
            if n == 0 {
                return std::ptr::null_mut();
            }
            let object = *(main.add(offsets::TOP + 8 * n as usize) as *const *mut u8);
            *size = n - 1; // the commit
            object
        }
    })
}

/// `rseq::push` under loom.
///
/// # Safety
/// As `rseq::push`.
pub(crate) unsafe fn push<S: SectionSlot, const BASE: usize>(holder: *const u8, home: usize, object: *mut u8) -> Push {
    // SAFETY: forwarded from the caller.
    let Some((cpu, slot)) = (unsafe { slot::<S, BASE>(holder) }) else { return Push::NotRseq };
    let _section = cpus()[cpu].lock();
    let sheaf = slot.active().load(Acquire);
    if closed(sheaf) && slot.broken() != Some(Broken::RseqIgnoreClosed) {
        return Push::Miss;
    }
    slot.with_main(|main, slot_home| {
        // SAFETY: as in `pop`.
        unsafe {
            if slot_home != home {
                return Push::Miss;
            }
            assert!(closed(sheaf) || sheaf == main as usize, "an open slot's active sheaf is its main");
            let size = main.add(offsets::SIZE) as *mut u32;
            let n = *size;
            if n >= *(main.add(offsets::CAPACITY) as *const u32) {
                return Push::Miss;
            }
            *(main.add(offsets::OBJECTS + 8 * n as usize) as *mut *mut u8) = object;
            *size = n + 1; // the commit
            Push::Done
        }
    })
}

/// `rseq::lock` under loom.
///
/// # Safety
/// As `rseq::lock`.
pub(crate) unsafe fn lock<S: SlotWords>(base: *const u8, nr: usize, stride: usize) -> Option<usize> {
    let cpu = crate::slub::thread::current_cpu() as usize;
    if cpu >= nr || cpu >= MODEL_CPUS {
        return None;
    }
    let section = cpus()[cpu].lock();
    // SAFETY: `cpu < nr`: a live slot of the caller's `PerCpu`.
    let slot = unsafe { &*(base.add(cpu * stride) as *const S) };
    let (active, broken) = (slot.active(), slot.broken());
    if closed(active.load(Acquire)) {
        return None;
    }
    // BROKEN ON PURPOSE (`Broken::RseqLockOutsideSection`): the test above
    // and the commit below in two sections.
    let _section = if broken == Some(Broken::RseqLockOutsideSection) {
        drop(section);
        cpus()[cpu].lock()
    } else {
        section
    };
    // The commit, a plain store in the assembly. Modelled as a `Relaxed`
    // swap, which adds no synchronisation, only a place in the word's
    // modification order after every store before it: what cache coherence
    // gives a store on x86-64, and what C11's RMW atomicity implies after a
    // remote's compare-and-swap that read the open sheaf. Loom's
    // modification order leaves a plain store and a concurrent RMW
    // unordered, and would let later loads read the RMW's value after ours
    // (a behaviour neither the hardware nor C11 allows).
    active.swap(locked(), Relaxed);
    Some(cpu)
}

/// `rseq::abort_sections` under loom: every section in flight on `cpu` (or
/// on every CPU) has completed, and every later one sees what the caller
/// stored before (see the module docs).
pub(crate) fn abort_sections(cpu: Option<usize>) {
    match cpu {
        Some(cpu) => drop(cpus()[cpu].lock()),
        None => cpus().iter().for_each(|m| drop(m.lock())),
    }
}
