//! Restartable sequences (`rseq(2)`): the real CPU and critical sections the
//! kernel restarts, for worlds whose per-cpu slots are the machine's CPUs
//! (`SlabConfig::real_cpus`).
//!
//! glibc (2.35 and later) registers an rseq area for every thread; the kernel
//! keeps its `cpu_id` current, and when a thread that has stored a critical
//! section's descriptor in the area's `rseq_cs` is preempted, migrated or
//! signalled with its instruction pointer inside that section, the kernel
//! moves it to the section's abort handler before it runs again. A section
//! whose last instruction is its one store to shared data (the *commit*)
//! therefore either runs alone on its CPU from its first load to the commit,
//! or never commits. That is `this_cpu_*()` and `local_lock()` of the kernel
//! at the price of two instructions (arming the descriptor), with no atomic
//! read-modify-write and no fence: `tcmalloc`'s per-CPU caches are built the
//! same way.
//!
//! The sections here work on a `PcsSlot`: a sheaf pop (`alloc_from_pcs()`'s
//! hit), a sheaf push (`free_to_pcs()`'s hit) and taking the slot's local lock
//! for a slow path (`local_trylock()`). Every section works on the sheaf
//! named by the slot's `active` word: the main sheaf while the slot is open,
//! a *closed sheaf* (empty and full at once: `locked`, `stopped`) while
//! a slow path or a remote holds it, so that pops and pushes miss by their
//! own size tests and test no lock word. The lock section closes the slot
//! with `locked` (its commit); the remote side (`flush_all()`, the barn,
//! statistics) swaps in `stopped` and then calls
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ)` on the slot's CPU,
//! which aborts any section in flight there, so that afterwards every
//! section sees the closed sheaf. `design/allocator.md` ("Real CPUs") has
//! the protocol, its proof and what it costs.
//!
//! The sections address the area as `%fs:__rseq_offset`, as glibc places it
//! at the same offset from every thread's pointer: one load of the offset,
//! no thread-local lookup. Without rseq (valgrind does not implement it and
//! glibc's area then reads `cpu_id == -2`; older glibc; other
//! architectures), [`available`] is false and worlds keep the virtual CPUs
//! and their ownership protocol; `OFFSET` then stays 0, and the sections'
//! first test (of that word, which they load anyway) sends every call to
//! the virtual CPUs' entry without arming anything. In a process with rseq,
//! a holder on the virtual CPUs (or not usable) names the *not-rseq slots*
//! (`not_rseq_slots`): one per possible CPU, whose `active` word is a
//! closed sheaf of its own, so that its sections miss on their size tests
//! and the miss stubs tell "not real CPUs" apart (it is `CLOSED[2]`). The hit path therefore
//! loads no mode word and no slot count. A thread whose own registration
//! failed reads `cpu_id == -2` (or `-1`): sign-extended, that lands on the
//! not-rseq guard slots before every slot array (`GUARD_SLOTS`), which
//! send it to the virtual CPUs' entry too.

use std::ptr::NonNull;
use std::sync::OnceLock;

mod abi;
#[cfg(loom)]
mod model;

#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
use abi::{CLOSED, NOT_RSEQ_AT};
pub(crate) use abi::{
    GUARD_SLOTS, MAX_RSEQ_CPUS, Pop, Push, RAW_NOT_RSEQ, SectionSlot, SlotWords, locked, not_rseq_slots, offsets,
    stopped, write_guards,
};
use std::sync::atomic::{AtomicIsize, AtomicU32, AtomicU64, Ordering::*};

/// `struct rseq` of `<linux/rseq.h>` (the 20-byte ABI glibc registers; the
/// kernel may use more, which these fields do not reach).
#[repr(C, align(32))]
pub(crate) struct RseqArea {
    cpu_id_start: AtomicU32,
    /// The CPU the thread runs on, kept current by the kernel; `-2` if
    /// registration failed, `-1` before it.
    cpu_id: AtomicU32,
    /// The armed critical section's descriptor (`struct rseq_cs *`). The
    /// sections store it with a plain `mov`, which the kernel reads; a
    /// relaxed atomic store is what that store is to the Rust model.
    rseq_cs: AtomicU64,
    flags: AtomicU32,
}

/// Offset of `cpu_id` in [`RseqArea`] (the sections' operand).
const CPU_ID: usize = 4;
/// Offset of `rseq_cs` in [`RseqArea`].
const RSEQ_CS: usize = 8;
const _: () = assert!(std::mem::offset_of!(RseqArea, cpu_id) == CPU_ID);
const _: () = assert!(std::mem::offset_of!(RseqArea, rseq_cs) == RSEQ_CS);

/// `__rseq_offset` of glibc: the area's offset from the thread pointer,
/// the same for every thread; set once [`available`] decided true, and 0
/// until then and for good otherwise (the sections' first test).
static OFFSET: AtomicIsize = AtomicIsize::new(0);
static AVAILABLE: OnceLock<bool> = OnceLock::new();

/// Whether restartable sequences back real-CPU worlds in this process:
/// x86-64 Linux, glibc registered an area for this thread whose `cpu_id`
/// is valid, and `membarrier(2)` offers and registers
/// `PRIVATE_EXPEDITED_RSEQ` (the remote side's abort). Detected once;
/// `PERCPU_FORCE_FALLBACK=1` answers false, as it does for membarrier.
pub fn available() -> bool {
    #[cfg(loom)]
    return model::available();
    #[cfg(not(loom))]
    *AVAILABLE.get_or_init(detect)
}

#[cfg_attr(loom, allow(dead_code))]
fn detect() -> bool {
    if std::env::var_os("PERCPU_FORCE_FALLBACK").is_some_and(|v| v != "0" && !v.is_empty()) {
        return false;
    }
    // Loom runs the model of the sections instead (`rseq/model.rs`, `available`).
    if cfg!(loom) || !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return false;
    }
    let Some((offset, size)) = glibc_rseq() else { return false };
    if size < 20 {
        return false; // glibc did not register (valgrind, rseq disabled by tunable)
    }
    // The sections index a holder's slots by the CPU with no bounds test,
    // and rely on every CPU id the kernel gives a registered thread being
    // below `nr_cpu_ids`, the number of a real-CPU world's slots (and at
    // most that of the not-rseq slots): the possible mask must be known,
    // not guessed, and within the table.
    if possible_cpu_ids().is_none_or(|n| n as usize > MAX_RSEQ_CPUS) {
        return false;
    }
    // SAFETY: glibc registered an area at this offset from every thread's pointer.
    let cpu = unsafe { (*area_at(offset)).cpu_id.load(Relaxed) };
    if cpu >= 1 << 31 {
        return false; // -1 or -2: not registered for this thread after all
    }
    #[cfg(not(loom))]
    if !crate::membarrier::register_rseq() {
        return false;
    }
    // Only now: a nonzero `OFFSET` is what lets a section arm itself.
    OFFSET.store(offset, Relaxed);
    true
}

/// Whether glibc registered an rseq area (`__rseq_size` of at least the
/// 20-byte ABI), without deciding [`available`].
pub fn glibc_registered() -> bool {
    glibc_rseq().is_some_and(|(_, size)| size >= 20)
}

/// `(__rseq_offset, __rseq_size)` from glibc, looked up at run time so that
/// an older glibc without them still links.
fn glibc_rseq() -> Option<(isize, u32)> {
    // SAFETY: dlsym with RTLD_DEFAULT and NUL-terminated names only reads the
    // loaded objects' symbol tables; a null answer means "not defined".
    let (off, size) = unsafe {
        (
            libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr()),
            libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr()),
        )
    };
    if off.is_null() || size.is_null() {
        return None;
    }
    // SAFETY: glibc defines them as `const ptrdiff_t` and `const unsigned
    // int`, written once before main.
    Some(unsafe { (*(off as *const isize), *(size as *const u32)) })
}

/// The calling thread's area: thread pointer + `__rseq_offset`.
fn thread_area() -> *const RseqArea {
    area_at(OFFSET.load(Relaxed))
}

/// The calling thread's pointer plus `offset`.
fn area_at(offset: isize) -> *const RseqArea {
    let tp: usize;
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    // SAFETY: on x86-64 Linux `%fs:0` holds the thread pointer itself (the
    // TCB's self pointer); reading it has no side effect.
    unsafe {
        std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(nostack, readonly, preserves_flags));
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        tp = 0;
    }
    tp.wrapping_add_signed(offset) as *const RseqArea
}

/// The CPU the calling thread runs on, if rseq tells it (a hint: the thread
/// may move right after).
pub fn current_cpu() -> Option<u32> {
    #[cfg(loom)]
    return model::current_cpu();
    #[cfg(not(loom))]
    {
        if !available() {
            return None;
        }
        // SAFETY: glibc's area of this thread is valid while the thread runs.
        let cpu = unsafe { (*thread_area()).cpu_id.load(Relaxed) };
        (cpu < 1 << 31).then_some(cpu)
    }
}

/// `nr_cpu_ids`: one more than the highest possible CPU
/// (`/sys/devices/system/cpu/possible`, else the configured count).
pub fn nr_cpu_ids() -> u32 {
    #[cfg(loom)]
    return model::nr_cpu_ids();
    #[cfg(not(loom))]
    match possible_cpu_ids() {
        Some(n) => n,
        // SAFETY: sysconf takes an integer name and touches no memory.
        None => (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) }).max(1) as u32,
    }
}

/// One more than the highest CPU of `/sys/devices/system/cpu/possible`
/// (the kernel's `nr_cpu_ids`), read once.
fn possible_cpu_ids() -> Option<u32> {
    static POSSIBLE: OnceLock<Option<u32>> = OnceLock::new();
    *POSSIBLE.get_or_init(|| {
        let possible = std::fs::read_to_string("/sys/devices/system/cpu/possible").ok()?;
        let highest =
            possible.trim().split(',').filter_map(|r| r.rsplit('-').next()?.trim().parse::<u32>().ok()).max()?;
        highest.checked_add(1)
    })
}

/// Arms the section whose descriptor is the local label `9:`
/// (`rseq->rseq_cs = &desc`, through the `{t}` and `{off}` operands). `6:`
/// is where the abort handler starts the section again, `2:` the section's
/// first instruction: reading `cpu_id` there is inside the section.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
macro_rules! rseq_arm {
    () => {
        concat!("6:\n", "lea 9f(%rip), {t}\n", "mov {t}, %fs:{rseq_cs}({off})\n", "2:\n")
    };
}

/// The sections' common entry: no section without glibc's area (`OFFSET`
/// 0 jumps to `$not_rseq`), then [`rseq_arm`], then the CPU's slot of the
/// holder in `{cpu}`: `base + cpu * SLOT`, the CPU read once inside the
/// section and sign-extended (a failed registration's -1 or -2 is a guard).
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
macro_rules! rseq_enter_slot {
    ($not_rseq:literal) => {
        concat!(
            "mov {offset}(%rip), {off}\n",
            "test {off}, {off}\n",
            "jz ",
            $not_rseq,
            "\n",
            rseq_arm!(),
            "movslq %fs:{cpu_id}({off}), {cpu}\n",
            "imul ${slot}, {cpu}, {cpu}\n",
            "add {base}({holder}), {cpu}\n",
        )
    };
}

/// The miss stubs' test, past the section: jumps to `$not_rseq` if the
/// sheaf in `{t}` is the not-rseq one (a holder without real-CPU slots, or
/// a guard), using `$scratch`. It never changes, and no real slot names it.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
macro_rules! rseq_jump_if_not_rseq {
    ($scratch:literal, $not_rseq:literal) => {
        concat!(
            "lea {closed}+{not_rseq_at}(%rip), ",
            $scratch,
            "\n",
            "cmp ",
            $scratch,
            ", {t}\n",
            "je ",
            $not_rseq,
            "\n",
        )
    };
}

/// The section's descriptor, `struct rseq_cs` (version 0, flags 0, start
/// `2:`, length up to `3:` right after the commit, abort handler `4:`), in
/// `__rseq_cs`; and the abort handler in `__rseq_failure`, after glibc's
/// `RSEQ_SIG` (the kernel checks the four bytes before the handler), which
/// starts the section again at `6:`.
#[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
macro_rules! rseq_descriptor_and_abort {
    () => {
        concat!(
            ".pushsection __rseq_cs, \"aw\"\n",
            ".balign 32\n",
            "9:\n",
            ".long 0, 0\n",
            ".quad 2b, 3b - 2b, 4f\n",
            ".popsection\n",
            ".pushsection __rseq_failure, \"ax\"\n",
            ".byte 0x0f, 0xb9, 0x3d\n",
            ".long 0x53053053\n",
            "4:\n",
            "jmp 6b\n",
            ".popsection\n",
        )
    };
}

/// `alloc_from_pcs()`'s hit as one critical section on the calling thread's
/// CPU slot: pops the main sheaf's top object. The slots are named by the
/// structure that holds them, as `s->cpu_sheaves` is read from `s`: the
/// first slot's address at offset `BASE` of `holder`, read by the section
/// itself (no register spent on it before).
///
/// The hit path tests no mode word, no slot count and no CPU bound. A
/// nonzero `OFFSET` (rseq in use in this process) lets the section arm
/// itself; inside, the CPU is read once, sign-extended, and indexes the
/// holder's slots: the kernel gives a registered thread only CPU ids below
/// `nr_cpu_ids`, the number of a real-CPU holder's slots (`available`
/// insists on knowing it, and on its being at most [`MAX_RSEQ_CPUS`]); a
/// thread whose registration failed reads -1 or -2, the [`GUARD_SLOTS`]
/// before every slot array; and a holder without real-CPU slots names the
/// not-rseq slots. What the section reads of the slot is its `active`
/// word: the main sheaf, a closed one (`percpu::SectionData`), or the
/// not-rseq one (guards included), which the miss stub tells apart.
///
/// # Safety
/// At `holder + BASE` is a pointer to live real-CPU slots of
/// `s->cpu_sheaves` (`nr_cpu_ids` of them, of type `S`, which is what the
/// loom model reads them as), or [`not_rseq_slots`].
#[inline(always)]
pub(crate) unsafe fn pop<S: SectionSlot, const BASE: usize>(holder: *const u8) -> Pop {
    let object: *mut u8;
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
    // SAFETY: the section is armed only with glibc's area (`OFFSET` is
    // nonzero only then), and reads the slot at `base + cpu * SLOT`, one of
    // the holder's slots or guards for every id the area holds (see above), and
    // the active sheaf's object below `size`; its one store (the commit,
    // `size - 1`) is the last instruction, so it happens only if nothing
    // else ran on this CPU since the first load (the kernel restarts the
    // section otherwise). The descriptor and abort handler are static; the
    // abort handler sits right after glibc's RSEQ_SIG, as the kernel
    // requires. The not-rseq slots' sheaf is empty, so nothing is written
    // for a holder without real-CPU slots.
    unsafe {
        std::arch::asm!(
            rseq_enter_slot!("8f"),
            "mov {active}({cpu}), {t}",
            "mov {size}({t}), {cpu:e}",
            "test {cpu:e}, {cpu:e}",
            "jz 7f",
            "mov {top}({t},{cpu},8), {obj}",
            "dec {cpu:e}",
            "mov {cpu:e}, {size}({t})",
            "3:",
            rseq_descriptor_and_abort!(),
            // The miss stubs after the function's own code (its section's
            // subsection 1): out of the hit path, and inside the function
            // for tools that attribute code by symbol.
            ".subsection 1",
            "7:",
            rseq_jump_if_not_rseq!("{obj}", "8f"),
            "xor {obj:e}, {obj:e}",
            "jmp 3b",
            "8:",
            "mov ${not_rseq}, {obj:e}",
            "jmp 3b",
            ".subsection 0",
            off = out(reg) _,
            offset = sym OFFSET,
            closed = sym CLOSED,
            not_rseq_at = const NOT_RSEQ_AT,
            holder = in(reg) holder,
            base = const BASE,
            t = out(reg) _,
            cpu = out(reg) _,
            obj = out(reg) object,
            rseq_cs = const RSEQ_CS,
            cpu_id = const CPU_ID,
            slot = const offsets::SLOT,
            active = const offsets::ACTIVE,
            size = const offsets::SIZE,
            top = const offsets::TOP,
            not_rseq = const RAW_NOT_RSEQ,
            options(att_syntax, nostack),
        );
    }
    #[cfg(not(any(all(target_arch = "x86_64", target_os = "linux"), loom)))]
    {
        let _ = holder;
        object = std::ptr::without_provenance_mut(RAW_NOT_RSEQ); // never real-CPU mode: `available()` is false
    }
    #[cfg(loom)]
    {
        // SAFETY: forwarded from the caller.
        object = unsafe { model::pop::<S, BASE>(holder) };
    }
    // One compare on the hit path: a miss and "not real CPUs" are both at
    // most RAW_NOT_RSEQ.
    let raw = object as usize;
    if raw > RAW_NOT_RSEQ {
        // SAFETY: an object address, not null.
        return Pop::Hit(unsafe { NonNull::new_unchecked(object) });
    }
    if raw == 0 { Pop::Miss } else { Pop::NotRseq }
}

/// `free_to_pcs()`'s hit as one critical section: pushes `object` onto the
/// calling CPU's main sheaf if `home` (its page's home word) is the
/// CPU's (`PerCpuSheaves::home`: the object is of this storage and of the
/// CPU's node) and the sheaf has room. Slots and tests as in [`pop`] (the
/// not-rseq slots' home is 0, no slab's); every miss jumps straight to the
/// caller's miss code.
///
/// # Safety
/// As [`pop`]; `object` is an allocated object of the slots' storage that
/// the caller gives up if the answer is [`Push::Done`].
#[inline(always)]
pub(crate) unsafe fn push<S: SectionSlot, const BASE: usize>(holder: *const u8, home: usize, object: *mut u8) -> Push {
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
    // SAFETY: as in `pop`: armed only with glibc's area, the slot one of
    // the holder's or a guard, a closed sheaf has no room; the object is written
    // above `size` (a slot no reader looks at), and the commit, `size + 1`,
    // is the last instruction. An aborted section's write lands in that
    // unused slot and is written again by whoever pushes next. A not-rseq
    // slot misses on its home, so nothing is written to it.
    unsafe {
        std::arch::asm!(
            rseq_enter_slot!("{not_rseq}"),
            "cmp {home}, {phome}({cpu})",
            "jne 7f",
            "mov {active}({cpu}), {t}",
            "mov {size}({t}), {cpu:e}",
            "cmp {cap}({t}), {cpu:e}",
            "jae 8f",
            "mov {obj}, {objects}({t},{cpu},8)",
            "inc {cpu:e}",
            "mov {cpu:e}, {size}({t})",
            "3:",
            rseq_descriptor_and_abort!(),
            // The miss stubs, as in `pop`: the not-rseq sheaf is "not real
            // CPUs", any other a miss.
            ".subsection 1",
            "7:",
            "mov {active}({cpu}), {t}",
            "8:",
            rseq_jump_if_not_rseq!("{off}", "{not_rseq}"),
            "jmp {miss}",
            ".subsection 0",
            off = out(reg) _,
            offset = sym OFFSET,
            closed = sym CLOSED,
            not_rseq_at = const NOT_RSEQ_AT,
            holder = in(reg) holder,
            base = const BASE,
            home = in(reg) home,
            obj = in(reg) object,
            t = out(reg) _,
            cpu = out(reg) _,
            rseq_cs = const RSEQ_CS,
            cpu_id = const CPU_ID,
            slot = const offsets::SLOT,
            phome = const offsets::HOME,
            active = const offsets::ACTIVE,
            size = const offsets::SIZE,
            cap = const offsets::CAPACITY,
            objects = const offsets::OBJECTS,
            not_rseq = label { return Push::NotRseq },
            miss = label { return Push::Miss },
            options(att_syntax, nostack),
        );
    }
    #[cfg(not(any(all(target_arch = "x86_64", target_os = "linux"), loom)))]
    {
        let _ = (holder, home, object);
        return Push::NotRseq; // never real-CPU mode: `available()` is false
    }
    #[cfg(loom)]
    // SAFETY: forwarded from the caller.
    return unsafe { model::push::<S, BASE>(holder, home, object) };
    #[allow(unreachable_code)]
    Push::Done
}

/// `local_trylock()` of the calling thread's CPU slot among `nr` slots of
/// `stride` bytes at `base`, as one critical section: if the slot is open
/// (its `active` word is not a closed sheaf), closes it with [`locked`]
/// (the commit). Returns the CPU's index, or `None` (CPU unknown or beyond
/// the slots, the slot held by a slow path of this CPU, or a remote at
/// work). The holder opens it again with a `Release` store of its main
/// sheaf, from whatever CPU it runs on by then.
///
/// # Safety
/// `base` points to `nr` live slots of type `S` and `stride` bytes, each
/// starting with its `active` word (`offsets::ACTIVE == 0`).
#[inline(never)]
pub(crate) unsafe fn lock<S: SlotWords>(base: *const u8, nr: usize, stride: usize) -> Option<usize> {
    let index: isize;
    #[cfg(all(target_arch = "x86_64", target_os = "linux", not(loom)))]
    // SAFETY: the CPU is tested against the slots before arming (-1 and -2
    // fail it), and the read inside needs no second test, as a registered
    // thread's CPU id stays below `nr_cpu_ids`, the slots' number (`pop`);
    // only real-CPU slots are locked, so `OFFSET` is glibc's; the commit (the `active`
    // store) is the last instruction, so two threads of one CPU cannot both
    // commit, and a remote's closed sheaf, once swapped in and followed by
    // the membarrier, is seen by every later section.
    unsafe {
        std::arch::asm!(
            "mov {offset}(%rip), {off}",
            "mov %fs:{cpu_id}({off}), {idx:e}",
            "cmp {nr}, {idx}",
            "jae 7f",
            rseq_arm!(),
            "mov %fs:{cpu_id}({off}), {idx:e}",
            "mov {idx}, {t}",
            "imul {stride}, {t}",
            "add {base}, {t}",
            "mov {active}({t}), {w}",
            "cmp {locked}, {w}",
            "je 7f",
            "cmp {stopped}, {w}",
            "je 7f",
            "mov {locked}, {active}({t})",
            "3:",
            rseq_descriptor_and_abort!(),
            ".subsection 1",
            "7:",
            "mov $-1, {idx}",
            "jmp 3b",
            ".subsection 0",
            off = out(reg) _,
            offset = sym OFFSET,
            base = in(reg) base,
            nr = in(reg) nr,
            stride = in(reg) stride,
            locked = in(reg) locked(),
            stopped = in(reg) stopped(),
            t = out(reg) _,
            w = out(reg) _,
            idx = out(reg) index,
            rseq_cs = const RSEQ_CS,
            cpu_id = const CPU_ID,
            active = const offsets::ACTIVE,
            options(att_syntax, nostack),
        );
    }
    #[cfg(not(any(all(target_arch = "x86_64", target_os = "linux"), loom)))]
    {
        let _ = (base, nr, stride);
        index = -1; // never real-CPU mode: `available()` is false
    }
    #[cfg(loom)]
    {
        // SAFETY: forwarded from the caller.
        index = unsafe { model::lock::<S>(base, nr, stride) }.map_or(-1, |i| i as isize);
    }
    usize::try_from(index).ok()
}

/// The remote side's abort: `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ)`
/// on `cpu` (or on every CPU running a thread of the process, with `None`).
/// On return, every critical section that was in flight there has been
/// aborted, and the CPU has executed a full barrier, so every later section
/// sees what the caller stored before.
pub(crate) fn abort_sections(cpu: Option<usize>) {
    #[cfg(not(loom))]
    crate::membarrier::private_expedited_rseq(cpu);
    // The model: every section of the CPU in flight completes first.
    #[cfg(loom)]
    model::abort_sections(cpu);
}

/// Benchmarks only: installs a process-wide stand-in area whose `cpu_id` is
/// 0 as this thread's, and makes [`available`] true without any
/// registration, so that callgrind (valgrind runs no rseq) counts the
/// real-CPU fast path. Sound only single-threaded and without remote
/// operations: nothing restarts a section there. Must precede the first
/// [`available`]; returns whether it took effect.
#[doc(hidden)]
pub fn assume_available_for_single_threaded_count() -> bool {
    static COUNT_AREA: RseqArea = RseqArea {
        cpu_id_start: AtomicU32::new(0),
        cpu_id: AtomicU32::new(0),
        rseq_cs: AtomicU64::new(0),
        flags: AtomicU32::new(0),
    };
    if AVAILABLE.set(true).is_err() {
        return false;
    }
    // The offset that makes `thread_area()` of this thread the stand-in.
    let here = thread_area() as isize - OFFSET.load(Relaxed);
    OFFSET.store(&COUNT_AREA as *const RseqArea as isize - here, Relaxed);
    let _ = (&COUNT_AREA.cpu_id_start, &COUNT_AREA.flags);
    true
}
