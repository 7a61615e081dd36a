//! Typed errors with kernel errnos, and the kernel-style report log.
//!
//! Every misuse the kernel answers with a WARN, a BUG report or an error code
//! is a [`SlabError`] here, and the matching message is appended to the
//! world's [`Report`] log (the counterpart of `slab_err()`, `object_err()` and
//! the WARN in `kmem_cache_destroy()`). Nothing panics on bad input.
//!
//! This is the allocator and lifecycle layer's error. Its fast paths return
//! two narrower forms for speed, [`AllocError`] (a word-sized code) and
//! [`crate::FreeError`] (one boxed word, the refused object inside); both
//! convert into [`SlabError`] with `?`. The layers above have their own:
//! [`crate::input::InputError`] for the inputs and
//! [`crate::report::ReportError`] for the report, each converting from the
//! ones below (`design/README.md`, "Errors, one per layer").

use std::fmt;

/// `ENOMEM`.
pub const ENOMEM: i32 = 12;
/// `EINVAL`.
pub const EINVAL: i32 = 22;
/// `EBUSY`.
pub const EBUSY: i32 = 16;
/// `EFAULT`.
pub const EFAULT: i32 = 14;
/// `ENOENT`.
pub const ENOENT: i32 = 2;
/// `EEXIST`.
pub const EEXIST: i32 = 17;
/// `EPERM`.
pub const EPERM: i32 = 1;

/// What went wrong, in kernel terms.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlabError {
    /// `-ENOMEM`: no memory for a slab, a sheaf or a cache.
    NoMemory,
    /// `-EINVAL`: an invalid argument to cache creation; the text says which.
    InvalidArgument(String),
    /// `-EBUSY`: `kmem_cache_destroy()` found objects still allocated
    /// ("Slab cache still has objects"). The cache is gone from the lists; its
    /// memory stays valid for the remaining objects.
    CacheBusy {
        /// The cache's name.
        cache: String,
        /// Objects still allocated.
        objects: usize,
    },
    /// `-EBUSY`: a module cannot unload while it still has caches or pinned instances.
    ModuleBusy {
        /// The module's name.
        module: String,
        /// The caches that keep it loaded.
        caches: Vec<String>,
    },
    /// Checked free: the object is already free ("Object already free").
    DoubleFree {
        /// The cache the object belongs to.
        cache: String,
        /// The object's address.
        addr: usize,
    },
    /// The object belongs to another cache ("object belongs to different cache").
    WrongCache {
        /// The cache the caller named.
        passed: String,
        /// The cache that owns the object's slab.
        actual: String,
        /// The object's address.
        addr: usize,
    },
    /// The address is in no slab of this world ("object is not in a slab page").
    NotSlabObject {
        /// The address.
        addr: usize,
    },
    /// The address is inside a slab but not at the start of an object
    /// ("Invalid object pointer").
    NotObjectStart {
        /// The cache that owns the slab.
        cache: String,
        /// The address.
        addr: usize,
    },
    /// The cache instance has been destroyed.
    CacheDestroyed {
        /// The cache's name.
        cache: String,
    },
    /// A static instance was used before `kmem_cache_setup()`.
    NotSetUp,
    /// A static instance was set up twice (or after its destroy).
    AlreadySetUp {
        /// The instance's name.
        cache: String,
    },
    /// `-EPERM`: the operation is not allowed on this instance (for example,
    /// destroying a static instance of the kernel image).
    NotPermitted(String),
    /// The instance belongs to another world.
    WrongWorld,
    /// An address-based free of an object in a cache without
    /// `SLAB_CONSISTENCY_CHECKS`: without the checks the allocator cannot tell
    /// a double free, so it refuses instead of risking corruption.
    Unchecked {
        /// The cache that owns the object.
        cache: String,
        /// The address.
        addr: usize,
    },
}

impl SlabError {
    /// The negative errno the kernel would return.
    pub fn to_errno(&self) -> i32 {
        -match self {
            SlabError::NoMemory => ENOMEM,
            SlabError::InvalidArgument(_) => EINVAL,
            SlabError::CacheBusy { .. } | SlabError::ModuleBusy { .. } => EBUSY,
            SlabError::DoubleFree { .. }
            | SlabError::WrongCache { .. }
            | SlabError::NotSlabObject { .. }
            | SlabError::NotObjectStart { .. }
            | SlabError::Unchecked { .. } => EFAULT,
            SlabError::CacheDestroyed { .. } | SlabError::NotSetUp => ENOENT,
            SlabError::AlreadySetUp { .. } => EEXIST,
            SlabError::NotPermitted(_) | SlabError::WrongWorld => EPERM,
        }
    }

    pub(crate) fn invalid(text: impl Into<String>) -> SlabError {
        SlabError::InvalidArgument(text.into())
    }
}

impl fmt::Display for SlabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlabError::NoMemory => write!(f, "out of memory"),
            SlabError::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            SlabError::CacheBusy { cache, objects } => {
                write!(f, "kmem_cache_destroy {cache}: Slab cache still has objects ({objects})")
            }
            SlabError::ModuleBusy { module, caches } => {
                write!(f, "module {module} is in use by caches: {}", caches.join(", "))
            }
            SlabError::DoubleFree { cache, addr } => write!(f, "{cache}: Object {addr:#x} already free"),
            SlabError::WrongCache { passed, actual, addr } => {
                write!(f, "kmem_cache_free({passed}, {addr:#x}): object belongs to different cache {actual}")
            }
            SlabError::NotSlabObject { addr } => write!(f, "kfree({addr:#x}): object is not in a slab page"),
            SlabError::NotObjectStart { cache, addr } => write!(f, "{cache}: Invalid object pointer {addr:#x}"),
            // Unnamed when it came from an `AllocError` (`?` on an allocation):
            // the fast path's code carries no name.
            SlabError::CacheDestroyed { cache } if cache.is_empty() => write!(f, "the cache has been destroyed"),
            SlabError::CacheDestroyed { cache } => write!(f, "cache {cache} has been destroyed"),
            SlabError::NotSetUp => write!(f, "static kmem_cache instance used before kmem_cache_setup()"),
            SlabError::AlreadySetUp { cache } => write!(f, "kmem_cache_setup: instance {cache} is already set up"),
            SlabError::NotPermitted(why) => write!(f, "operation not permitted: {why}"),
            SlabError::WrongWorld => write!(f, "the cache belongs to another slab world"),
            SlabError::Unchecked { cache, addr } => {
                write!(f, "{cache}: address-based free of {addr:#x} needs SLAB_CONSISTENCY_CHECKS (slab_debug=F)")
            }
        }
    }
}

impl std::error::Error for SlabError {}

/// Why `kmem_cache_alloc()` returned NULL. A plain code, so the fast path
/// builds nothing for the error it does not have; word-sized
/// (`repr(usize)`), so that it sits where [`crate::Object`]'s pointer sits
/// and `Result<Object, AllocError>` is a pair of registers (a one-byte error
/// at another offset makes the result an aggregate returned through memory).
/// The caller knows which cache it asked; [`crate::KmemCache::alloc_error`]
/// gives the named [`SlabError`] when one is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum AllocError {
    /// `-ENOMEM`: no object, no slab.
    NoMemory,
    /// A static instance used before `kmem_cache_setup()`.
    NotSetUp,
    /// The instance has been destroyed.
    Destroyed,
    /// `kmalloc(0)`: the kernel returns `ZERO_SIZE_PTR`, which is not an object.
    ZeroSize,
}

impl AllocError {
    /// The negative errno the kernel would return.
    pub fn to_errno(self) -> i32 {
        -match self {
            AllocError::NoMemory => ENOMEM,
            AllocError::NotSetUp | AllocError::Destroyed => ENOENT,
            AllocError::ZeroSize => EINVAL,
        }
    }
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::NoMemory => write!(f, "out of memory"),
            AllocError::NotSetUp => write!(f, "static kmem_cache instance used before kmem_cache_setup()"),
            AllocError::Destroyed => write!(f, "the cache has been destroyed"),
            AllocError::ZeroSize => write!(f, "kmalloc(0) returns ZERO_SIZE_PTR, which is not an object"),
        }
    }
}

impl std::error::Error for AllocError {}

/// `?` on an allocation in a function returning [`SlabError`]. The code
/// names no cache, so a destroyed instance's error is unnamed here;
/// [`crate::KmemCache::alloc_error`] names it when the instance is at hand.
impl From<AllocError> for SlabError {
    #[cold]
    fn from(error: AllocError) -> SlabError {
        match error {
            AllocError::NoMemory => SlabError::NoMemory,
            AllocError::NotSetUp => SlabError::NotSetUp,
            AllocError::Destroyed => SlabError::CacheDestroyed { cache: String::new() },
            AllocError::ZeroSize => SlabError::invalid(error.to_string()),
        }
    }
}

/// One kernel-style report: what `pr_warn`, `WARN` or `slab_err` would print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The kernel function that would print it.
    pub function: &'static str,
    /// The cache concerned, if any.
    pub cache: Option<String>,
    /// The object address concerned, if any.
    pub addr: Option<usize>,
    /// The message text, as the kernel words it.
    pub message: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.function, self.message)
    }
}
