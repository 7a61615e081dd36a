//! The synchronisation facade: every piece of shared state in the library goes
//! through these names, so that `--cfg loom` swaps in loom's model-checked
//! equivalents and loom explores the real code, not a copy of it.
//!
//! | name | normal build | `cfg(loom)` |
//! |---|---|---|
//! | `atomic::*` | `std::sync::atomic` | `loom::sync::atomic` |
//! | [`Mutex`], [`RwLock`] | `parking_lot` | newtypes over `loom::sync` |
//! | [`UnsafeCell`] | newtype over `std::cell::UnsafeCell` with `with_mut` | `loom::cell::UnsafeCell` |
//! | [`Arc`] | `std::sync::Arc` | `std::sync::Arc` (see the loom module) |
//! | [`raw_alloc`] / [`raw_free`] | `std::alloc` | `loom::alloc` (loom fails a run that leaks) |
//! | [`light_fence`] | `compiler_fence(SeqCst)` | `fence(SeqCst)` |
//! | [`heavy_fence`] | `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` | `fence(SeqCst)` |
//! | [`spin_wait`] | spin, then `yield_now` | `loom::thread::yield_now` |
//!
//! The fence pair is the per-cpu protocol's asymmetric barrier
//! (`slub/percpu.rs`); why a pair of SeqCst fences models it under loom is in
//! `design/allocator.md` ("What loom models").
//!
//! parking_lot has no loom support: it blocks the one OS thread loom runs its
//! model on. The loom newtypes keep the same method names so call sites do not change.

#[cfg(not(loom))]
mod imp {
    pub use std::sync::Arc;
    pub use std::sync::atomic;

    /// `parking_lot::Mutex`: const-constructible, so a cache instance fits in a `static`.
    pub type Mutex<T> = parking_lot::Mutex<T>;
    /// The guard of [`Mutex`].
    pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
    /// `parking_lot::RwLock`.
    pub type RwLock<T> = parking_lot::RwLock<T>;

    /// `std::cell::UnsafeCell` with loom's closure-based accessors.
    #[derive(Debug)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        pub const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        /// Calls `f` with a unique raw pointer to the contents.
        #[inline(always)]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Allocates `layout` bytes (slab pages, sheaves, metadata).
    ///
    /// # Safety
    /// `layout` must have a non-zero size.
    #[inline]
    pub unsafe fn raw_alloc(layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller guarantees a non-zero size.
        unsafe { std::alloc::alloc(layout) }
    }

    /// Frees memory from [`raw_alloc`].
    ///
    /// # Safety
    /// `ptr` must come from `raw_alloc(layout)` and not have been freed.
    #[inline]
    pub unsafe fn raw_free(ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { std::alloc::dealloc(ptr, layout) }
    }

    /// The owner side's half of the asymmetric fence: a compiler barrier only.
    /// `membarrier()` on the remote side upgrades it to a full barrier for the
    /// Dekker pair of the per-cpu protocol (see `membarrier.rs`).
    #[inline(always)]
    pub fn light_fence() {
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// The remote side's half: `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`.
    #[inline]
    pub fn heavy_fence() {
        crate::membarrier::private_expedited();
    }

    /// One round of a remote side's wait for an owner: spin, then yield.
    #[inline]
    pub fn spin_wait(round: u32) {
        if round < 64 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(loom)]
mod imp {
    // std's `Arc`, not loom's: the lifecycle code takes `self: &Arc<Self>`
    // receivers, which stable Rust allows only for std's smart pointers
    // (custom receivers need the unstable `arbitrary_self_types`). Nothing
    // is lost for the models: every `Arc` in the library (`WorldCore`,
    // `SlabMemory`) ends up owning the world's page allocator, which carries
    // a `loom::alloc::Track`, so a leaked world or storage still fails the run.
    pub use loom::sync::atomic;
    pub use std::sync::Arc;

    /// A loom mutex with parking_lot's guard-returning `lock()`.
    #[derive(Debug)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);
    /// The guard of [`Mutex`].
    pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// Wraps `value` (not `const` under loom).
        pub fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        /// Locks; loom mutexes cannot be poisoned by our code, which never panics holding one.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
        /// Tries to lock.
        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
        /// Exclusive access through `&mut self`.
        pub fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap()
        }
    }

    /// A loom rwlock with parking_lot's guard-returning methods.
    #[derive(Debug)]
    pub struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        /// Wraps `value`.
        pub fn new(value: T) -> Self {
            RwLock(loom::sync::RwLock::new(value))
        }
        /// Shared lock.
        pub fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
            self.0.read().unwrap()
        }
        /// Exclusive lock.
        pub fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
            self.0.write().unwrap()
        }
    }

    pub use loom::cell::UnsafeCell;

    /// Allocates `layout` bytes (slab pages, sheaves, metadata) through loom, which checks for leaks.
    ///
    /// # Safety
    /// `layout` must have a non-zero size.
    pub unsafe fn raw_alloc(layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller guarantees a non-zero size.
        unsafe { loom::alloc::alloc(layout) }
    }

    /// Frees memory from [`raw_alloc`].
    ///
    /// # Safety
    /// `ptr` must come from `raw_alloc(layout)` and not have been freed.
    pub unsafe fn raw_free(ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { loom::alloc::dealloc(ptr, layout) }
    }

    /// Models the owner's compiler barrier *as upgraded by a concurrent
    /// membarrier*: a SeqCst fence (an over-approximation, see `design/allocator.md`).
    pub fn light_fence() {
        loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
    }

    /// Models `membarrier(PRIVATE_EXPEDITED)`: a SeqCst fence.
    pub fn heavy_fence() {
        loom::sync::atomic::fence(loom::sync::atomic::Ordering::SeqCst);
    }

    /// A yield point for loom (every spin loop needs one).
    pub fn spin_wait(_round: u32) {
        loom::thread::yield_now();
    }
}

pub use imp::*;
