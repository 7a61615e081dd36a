//! Per-thread records: the owner token and the owner's busy word.
//!
//! Every thread that touches a slot gets one [`ThreadRec`] on the heap, in an
//! `Arc`. Its address is the thread's *token*: a slot owned by the thread holds
//! that address in `owner` **and one strong reference**, so a record outlives
//! every slot that names it. A token therefore can never be reused (ABA) while
//! a slot still names it: a new thread's record cannot be allocated at an
//! address some slot still holds. (Plain TLS addresses would not have this
//! property: glibc reuses the stacks and TLS blocks of exited threads.)
//!
//! The record also carries the thread's virtual CPU id (`cpu.rs` forwards
//! `current_cpu`/`set_current_cpu`/`with_cpu` here), so one TLS load yields both the
//! token and the slot index, and remotes can tell whether a slot's owner has
//! migrated away; and `alive`, cleared by the thread's TLS destructor, so
//! remotes can tell that it exited.

use crate::sync::atomic::{AtomicBool, AtomicU32, Ordering};
#[cfg(not(loom))]
use std::cell::{Cell, OnceCell};
use std::sync::Arc;

/// One thread's record (see the module docs). Own cache line: the owner
/// writes `seq` on every fast-path entry and exit; remotes only read it.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct ThreadRec {
    /// Odd while the thread is inside a [`LocalGuard`](crate::slub::percpu::LocalGuard) of a
    /// membarrier-mode slot; `+1` on entry and `+1` on exit, both plain
    /// (`Release`) stores by this thread only, never a read-modify-write.
    /// A remote that reads an odd value waits until it changes: any change
    /// means that critical section ended.
    pub(crate) seq: AtomicU32,
    /// The virtual CPU this thread runs on (`raw_smp_processor_id()`).
    pub(crate) cpu: AtomicU32,
    /// Real-CPU slots this thread holds for a slow path (closed with
    /// `LOCKED`): a remote operation on any slot then could wait for the
    /// thread itself, which [`crate::slub::percpu`] refuses. Written by
    /// this thread only.
    pub(crate) rseq_held: AtomicU32,
    /// Cleared when the thread exits.
    pub(crate) alive: AtomicBool,
}

impl ThreadRec {
    #[cfg(not(loom))]
    const fn dummy() -> ThreadRec {
        ThreadRec {
            seq: AtomicU32::new(0),
            cpu: AtomicU32::new(0),
            rseq_held: AtomicU32::new(0),
            alive: AtomicBool::new(false),
        }
    }

    fn new(cpu: u32) -> ThreadRec {
        ThreadRec {
            seq: AtomicU32::new(0),
            cpu: AtomicU32::new(cpu),
            rseq_held: AtomicU32::new(0),
            alive: AtomicBool::new(true),
        }
    }

    /// The token of this record.
    #[inline(always)]
    pub(crate) fn token(this: *const ThreadRec) -> usize {
        this as usize
    }
}

/// Drops the thread's reference and marks the record dead at thread exit.
struct Handle(Arc<ThreadRec>);

impl Drop for Handle {
    fn drop(&mut self) {
        // Release: whoever reads `alive == false` also sees everything this
        // thread did before exiting (not needed for safety — stealing goes
        // through the remote protocol anyway — but keeps reasoning simple).
        self.0.alive.store(false, Ordering::Release);
        #[cfg(not(loom))]
        {
            // Later TLS destructors that allocate must not use the record
            // through a dangling cache (the Arc may die with this drop).
            let _ = REC.try_with(|r| r.set(&DUMMY));
        }
    }
}

/// A never-owning stand-in every thread's cache starts with, so the fast path
/// needs no null check: no slot's owner is ever `&DUMMY` (claims only install
/// records made by [`init`]), so the owner comparison fails and routes to the
/// slow path, which initialises the real record.
#[cfg(not(loom))]
static DUMMY: ThreadRec = ThreadRec::dummy();

#[cfg(not(loom))]
std::thread_local! {
    /// The fast path's view: a raw pointer to this thread's record (or DUMMY).
    /// `const` init and no destructor, so an access is one `%fs`-relative load.
    static REC: Cell<*const ThreadRec> = const { Cell::new(&DUMMY) };
    /// Owns the thread's reference; its destructor marks the record dead.
    static HANDLE: OnceCell<Handle> = const { OnceCell::new() };
}

#[cfg(not(loom))]
static NEXT_CPU: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The CPU of a thread that never chose one: the next id, round-robin.
#[cfg(not(loom))]
fn next_cpu() -> u32 {
    NEXT_CPU.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff
}

#[cfg(not(loom))]
pub(crate) fn is_dummy(rec: *const ThreadRec) -> bool {
    std::ptr::eq(rec, &DUMMY)
}

/// The fast path's record pointer: this thread's record, or `&DUMMY` before
/// the first slow path (or after the thread's TLS teardown began).
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn current_ptr() -> *const ThreadRec {
    REC.with(Cell::get)
}

/// Creates this thread's record if needed; returns it, or `&DUMMY` if the
/// thread is already tearing down its thread-locals.
#[cfg(not(loom))]
#[cold]
pub(crate) fn init() -> *const ThreadRec {
    let rec = current_ptr();
    if !is_dummy(rec) {
        return rec;
    }
    HANDLE
        .try_with(|h| {
            let h = h.get_or_init(|| Handle(Arc::new(ThreadRec::new(next_cpu()))));
            let p = Arc::as_ptr(&h.0);
            REC.with(|r| r.set(p));
            p
        })
        .unwrap_or(&DUMMY)
}

/// A strong reference for a slot that installs `rec` as its owner.
///
/// # Safety
/// `rec` is this thread's live record (from [`init`], not the dummy).
pub(crate) unsafe fn clone_ref(rec: *const ThreadRec) -> usize {
    // SAFETY: `rec` came from `Arc::as_ptr` of an Arc this thread's HANDLE
    // still holds, so bumping the count keeps a valid Arc.
    unsafe {
        Arc::increment_strong_count(rec);
    }
    ThreadRec::token(rec)
}

/// Releases the strong reference a slot held through `token`.
///
/// # Safety
/// `token` was produced by [`clone_ref`] and this reference is released once.
pub(crate) unsafe fn release_ref(token: usize) {
    // SAFETY: forwarded: the slot owned one count on this Arc.
    unsafe { Arc::decrement_strong_count(token as *const ThreadRec) }
}

#[cfg(loom)]
loom::thread_local! {
    static HANDLE: std::cell::RefCell<Option<Handle>> = std::cell::RefCell::new(None);
}

#[cfg(loom)]
pub(crate) fn is_dummy(_rec: *const ThreadRec) -> bool {
    false
}

/// Under loom every access initialises (a loom thread-local cannot be read
/// without a closure anyway); the CPU must have been pinned first.
#[cfg(loom)]
pub(crate) fn current_ptr() -> *const ThreadRec {
    HANDLE.with(|h| {
        let mut h = h.borrow_mut();
        let h = h.get_or_insert_with(|| Handle(Arc::new(ThreadRec::new(u32::MAX))));
        Arc::as_ptr(&h.0)
    })
}

#[cfg(loom)]
pub(crate) fn init() -> *const ThreadRec {
    current_ptr()
}

/// `raw_smp_processor_id()`: this thread's virtual CPU id.
#[inline(always)]
pub fn current_cpu() -> u32 {
    let rec = current_ptr();
    let rec = if is_dummy(rec) { init() } else { rec };
    // SAFETY: `rec` is this thread's record (kept alive by its HANDLE) or the static DUMMY.
    let cpu = unsafe { (*rec).cpu.load(Ordering::Relaxed) };
    #[cfg(loom)]
    assert!(cpu != u32::MAX, "loom models pin every thread with set_current_cpu before touching a slot");
    cpu
}

/// Moves this thread to `cpu` (as if the scheduler migrated it).
pub fn set_current_cpu(cpu: u32) {
    assert!(cpu != u32::MAX, "CPU id out of range");
    let rec = init();
    assert!(!is_dummy(rec), "set_current_cpu during thread teardown");
    // SAFETY: `rec` is this thread's live record.
    unsafe { (*rec).cpu.store(cpu, Ordering::Relaxed) };
}

/// Runs `f` on `cpu`, then moves the thread back.
pub fn with_cpu<R>(cpu: u32, f: impl FnOnce() -> R) -> R {
    let old = current_cpu();
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_current_cpu(self.0);
        }
    }
    set_current_cpu(cpu);
    let _restore = Restore(old);
    f()
}

/// This thread's record address (its token); diagnostics and benchmarks.
#[doc(hidden)]
pub fn current_record_addr() -> usize {
    init() as usize
}
