//! What the restartable sequences and the types they run on agree upon,
//! below both: the layout the sections read by offset, the closed sheaves
//! and the not-rseq slots they recognise, their answers, and (under loom)
//! what the model of the sections needs of a slot. `rseq` (the sections
//! and their model) and `percpu`/`sheaf` (the slots and sheaves) both build
//! on it, and neither needs the other's insides.

use std::ptr::NonNull;

/// The layout the sections rely on: a slot's `active` word at its start, and
/// where the sheaves and their fields sit. The types they run on
/// (`percpu::Slot`, `sheaf::PerCpuSheaves` and `SlabSheaf`) check at
/// compile time that they are laid out so.
pub(crate) mod offsets {
    /// Size of one CPU's slot (the stride of `s->cpu_sheaves`).
    pub(crate) const SLOT: usize = 64;
    /// The slot's `active` word: the main sheaf, or a closed sheaf.
    pub(crate) const ACTIVE: usize = 0;
    /// `PerCpuSheaves::home` in the slot (the CPU's node of this storage).
    #[cfg_attr(loom, allow(dead_code))] // the model reads it through the data's loom cell
    pub(crate) const HOME: usize = 48;
    /// `sheaf->size`.
    pub(crate) const SIZE: usize = 8;
    /// `sheaf->capacity`.
    pub(crate) const CAPACITY: usize = 12;
    /// `sheaf->objects[0]`.
    pub(crate) const OBJECTS: usize = 16;
    /// `&sheaf->objects[size - 1]` is `OBJECTS - 8 + 8 * size`.
    pub(crate) const TOP: usize = OBJECTS - 8;
    // A closed sheaf's header is all zero: size and capacity must lie in it.
    const _: () = assert!(SIZE + 4 <= super::CLOSED_BYTES && CAPACITY + 4 <= super::CLOSED_BYTES);
}

/// Bytes of a closed sheaf's header.
const CLOSED_BYTES: usize = 32;

/// A closed sheaf: a sheaf header whose `size` and `capacity` are both 0,
/// so that every pop (nothing to take) and every push (no room) misses on
/// its own size test. A slot's `active` word names one while a slow path
/// of its CPU ([`locked`]) or a remote operator ([`stopped`]) holds the
/// slot; the sections only read it.
#[repr(C, align(64))]
pub(super) struct ClosedSheaf([u8; CLOSED_BYTES]);

pub(super) static CLOSED: [ClosedSheaf; 3] =
    [ClosedSheaf([0; CLOSED_BYTES]), ClosedSheaf([0; CLOSED_BYTES]), ClosedSheaf([0; CLOSED_BYTES])];

/// The most possible CPUs (`nr_cpu_ids`) real-CPU mode serves: the number
/// of [`not_rseq_slots`]. A machine with more keeps the virtual CPUs.
pub(crate) const MAX_RSEQ_CPUS: usize = 1024;

/// A not-rseq slot: laid out as a [`PcsSlot`] for what a section reads of
/// it, its `active` word the not-rseq closed sheaf and its `home` 0 (no
/// slab's), both never written.
#[repr(C, align(64))]
struct NotRseqSlot {
    active: *const ClosedSheaf,
    rest: [usize; offsets::SLOT / 8 - 1],
}

/// Not-rseq slots before the first slot of every slot array, and of the
/// not-rseq slots: a thread whose registration failed reads `cpu_id` -1
/// or -2, and the sections index by it sign-extended, with no test.
pub(crate) const GUARD_SLOTS: usize = 2;

/// One not-rseq slot per possible CPU after the guards (`NotRseqSlot`).
#[repr(C)]
struct NotRseqSlots([NotRseqSlot; GUARD_SLOTS + MAX_RSEQ_CPUS]);

// SAFETY: immutable plain data; the pointer names a static.
unsafe impl Sync for NotRseqSlots {}

/// Which of [`CLOSED`] the not-rseq slots name, and its offset there (the
/// miss stubs' operand).
const NOT_RSEQ_SHEAF: usize = 2;
#[cfg_attr(loom, allow(dead_code))] // the assembly's operand
pub(super) const NOT_RSEQ_AT: usize = NOT_RSEQ_SHEAF * std::mem::size_of::<ClosedSheaf>();

const NOT_RSEQ_SLOT: NotRseqSlot = NotRseqSlot { active: &CLOSED[NOT_RSEQ_SHEAF], rest: [0; offsets::SLOT / 8 - 1] };
static NOT_RSEQ_SLOTS: NotRseqSlots = NotRseqSlots([NOT_RSEQ_SLOT; GUARD_SLOTS + MAX_RSEQ_CPUS]);
const _: () = assert!(std::mem::size_of::<NotRseqSlot>() == offsets::SLOT && offsets::ACTIVE == 0);
#[cfg(not(loom))]
const _: () = assert!(offsets::HOME >= 8 && offsets::HOME + 8 <= offsets::SLOT);

/// The slots a holder names while it has no real-CPU slots (virtual CPUs,
/// not usable, not yet set up): every section on them misses, and its miss
/// stub, finding their closed sheaf, answers "not real CPUs". Valid for
/// every CPU id from -2 to [`MAX_RSEQ_CPUS`] - 1.
pub(crate) const fn not_rseq_slots() -> *mut u8 {
    (&raw const NOT_RSEQ_SLOTS.0[GUARD_SLOTS]).cast_mut().cast()
}

/// Writes [`GUARD_SLOTS`] not-rseq slots at `at`.
///
/// # Safety
/// `at` is valid for writing `GUARD_SLOTS * offsets::SLOT` bytes, aligned
/// to 64.
pub(crate) unsafe fn write_guards(at: *mut u8) {
    for i in 0..GUARD_SLOTS {
        // SAFETY: within the caller's bytes, aligned (64-byte slots).
        unsafe { at.cast::<NotRseqSlot>().add(i).write(NOT_RSEQ_SLOT) };
    }
}

/// The closed sheaf of a slot held by a slow path of its CPU (`local_trylock()`).
pub(crate) fn locked() -> usize {
    std::ptr::from_ref(&CLOSED[0]) as usize
}

/// The closed sheaf of a slot held by a remote operator.
pub(crate) fn stopped() -> usize {
    std::ptr::from_ref(&CLOSED[1]) as usize
}

/// What [`pop`] found.
pub(crate) enum Pop {
    /// The main sheaf's top object, now the caller's.
    Hit(NonNull<u8>),
    /// A miss of the section: the slot is held (its sheaf closed), or the
    /// main sheaf is empty.
    Miss,
    /// The holder has no real-CPU slots (virtual CPUs, or not usable), or
    /// the thread has no rseq registration.
    NotRseq,
}

/// What [`push`] did.
pub(crate) enum Push {
    /// The object is on the CPU's main sheaf.
    Done,
    /// A miss of the section: another cache's or another node's object, the
    /// slot is held (its sheaf closed), or the main sheaf is full. The
    /// caller still owns the object.
    Miss,
    /// The holder has no real-CPU slots (virtual CPUs, or not usable).
    NotRseq,
}

/// [`pop`]'s raw answer for [`Pop::NotRseq`] (null is a miss; anything
/// above is an object, which is never in the first page).
pub(crate) const RAW_NOT_RSEQ: usize = 1;

/// What the model of the sections needs of a slot's protocol words (loom
/// builds only; empty otherwise): `percpu::Slot` implements it.
pub(crate) trait SlotWords {
    /// The slot's `active` word.
    #[cfg(loom)]
    fn active(&self) -> &crate::sync::atomic::AtomicUsize;
    /// The slot's seeded bug, if any.
    #[cfg(loom)]
    fn broken(&self) -> Option<crate::config::Broken>;
}

/// What the model of the pop and push sections needs of a slot's data
/// (loom builds only; empty otherwise): the slot of `s->cpu_sheaves`
/// implements it (`sheaf.rs`).
pub(crate) trait SectionSlot: SlotWords {
    /// Runs `f` with the slot's main sheaf and home inside one access of
    /// the data's loom cell, so that loom sees the section touch the data.
    #[cfg(loom)]
    fn with_main<R>(&self, f: impl FnOnce(*mut u8, usize) -> R) -> R;
}
