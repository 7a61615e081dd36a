//! The parsed events.

use std::sync::Arc;

use super::gfp::GfpFlags;

/// Where an allocation or free was called from, as `%pS` printed it.
///
/// tracefs prints `copy_fs_struct+0x1e/0xa0` (symbol, offset, function
/// size), trace-cmd and perf print `copy_fs_struct+0x1e` (no size). An address
/// the kernel could not symbolize is printed as hex (`0xffffffffc0a01234`),
/// and a module symbol has a ` [module]` suffix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallSite {
    /// The function name (`copy_fs_struct`, `getname_flags.part.0`), if symbolic.
    pub symbol: Option<Arc<str>>,
    /// Offset into the function.
    pub offset: Option<u64>,
    /// Size of the function (tracefs only).
    pub size: Option<u64>,
    /// The module, for `sym+off/size [module]`.
    pub module: Option<Arc<str>>,
    /// The address, when printed as a number instead of a symbol.
    pub address: Option<u64>,
    /// The text as printed, shared between events with the same text.
    pub raw: Arc<str>,
}

impl CallSite {
    /// Parses the text of a `call_site=` field.
    pub fn parse(text: &str) -> Result<CallSite, String> {
        let raw: Arc<str> = text.into();
        let (body, module) = match text.rsplit_once(' ') {
            Some((b, m)) if m.len() > 2 && m.starts_with('[') && m.ends_with(']') => {
                (b.trim_end(), Some(Arc::<str>::from(&m[1..m.len() - 1])))
            }
            _ => (text, None),
        };
        if body.is_empty() {
            return Err("empty call_site".into());
        }
        if body.contains(' ') {
            return Err(format!("call_site `{text}` has a space in it"));
        }
        let hex = body.strip_prefix("0x").unwrap_or(body);
        let looks_numeric = body.starts_with("0x") || (body.len() >= 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if looks_numeric {
            let address = u64::from_str_radix(hex, 16).map_err(|_| format!("bad call_site address `{text}`"))?;
            return Ok(CallSite { symbol: None, offset: None, size: None, module, address: Some(address), raw });
        }
        let (symbol, offset, size) = match body.rsplit_once('+') {
            Some((sym, rest)) => {
                let (off, size) = match rest.split_once('/') {
                    Some((o, s)) => (o, Some(s)),
                    None => (rest, None),
                };
                let off = parse_hex(off).ok_or_else(|| format!("bad offset in call_site `{text}`"))?;
                let size = match size {
                    Some(s) => Some(parse_hex(s).ok_or_else(|| format!("bad function size in call_site `{text}`"))?),
                    None => None,
                };
                (sym, Some(off), size)
            }
            None => (body, None, None),
        };
        if symbol.is_empty() {
            return Err(format!("call_site `{text}` has no symbol"));
        }
        Ok(CallSite { symbol: Some(symbol.into()), offset, size, module, address: None, raw })
    }

    /// The function name, or the printed text when there is none.
    pub fn function(&self) -> &str {
        self.symbol.as_deref().unwrap_or(&self.raw)
    }
}

fn parse_hex(s: &str) -> Option<u64> {
    let h = s.strip_prefix("0x")?;
    u64::from_str_radix(h, 16).ok()
}

/// One of the four slab events.
///
/// `ptr` is the object address (0 for `kfree(NULL)` and failed allocations).
/// With tracefs `options/hash-ptr` on, tracefs text holds hashed values
/// (consistent within a boot, so allocs and frees still pair up, but not real
/// addresses); trace-cmd and perf read the binary records and print real ones.
///
/// A free whose object was allocated before the capture started is an
/// ordinary event here: pairing is the caller's business.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the fields are the tracepoint's, documented on CacheAlloc
pub enum KmemEvent {
    /// `kmem:kmem_cache_alloc`: `kmem_cache_alloc*()` on a named cache.
    CacheAlloc {
        call_site: CallSite,
        ptr: u64,
        /// The `kmem_cache`'s name: for a merged cache, the name of the cache
        /// that owns the merged `kmem_cache`, not the name the caller created.
        name: Arc<str>,
        bytes_req: u64,
        bytes_alloc: u64,
        gfp: GfpFlags,
        /// `node=`: -1 is `NUMA_NO_NODE`; `None` when the field is absent (older kernels).
        node: Option<i32>,
        /// `accounted=`: charged to a memcg; `None` when absent (older kernels).
        accounted: Option<bool>,
    },
    /// `kmem:kmem_cache_free`.
    CacheFree { call_site: CallSite, ptr: u64, name: Arc<str> },
    /// `kmem:kmalloc`: `kmalloc()` and friends (the kmalloc-N caches, or pages
    /// for large sizes).
    Kmalloc {
        call_site: CallSite,
        ptr: u64,
        bytes_req: u64,
        bytes_alloc: u64,
        gfp: GfpFlags,
        node: Option<i32>,
        accounted: Option<bool>,
    },
    /// `kmem:kfree`.
    Kfree { call_site: CallSite, ptr: u64 },
}

impl KmemEvent {
    /// The tracepoint name: `kmem_cache_alloc`, `kmem_cache_free`, `kmalloc`, `kfree`.
    pub fn event_name(&self) -> &'static str {
        match self {
            KmemEvent::CacheAlloc { .. } => "kmem_cache_alloc",
            KmemEvent::CacheFree { .. } => "kmem_cache_free",
            KmemEvent::Kmalloc { .. } => "kmalloc",
            KmemEvent::Kfree { .. } => "kfree",
        }
    }

    /// The call site.
    pub fn call_site(&self) -> &CallSite {
        match self {
            KmemEvent::CacheAlloc { call_site, .. }
            | KmemEvent::CacheFree { call_site, .. }
            | KmemEvent::Kmalloc { call_site, .. }
            | KmemEvent::Kfree { call_site, .. } => call_site,
        }
    }

    /// The object pointer.
    pub fn ptr(&self) -> u64 {
        match self {
            KmemEvent::CacheAlloc { ptr, .. }
            | KmemEvent::CacheFree { ptr, .. }
            | KmemEvent::Kmalloc { ptr, .. }
            | KmemEvent::Kfree { ptr, .. } => *ptr,
        }
    }

    /// The cache name, for the two cache events.
    pub fn cache_name(&self) -> Option<&str> {
        match self {
            KmemEvent::CacheAlloc { name, .. } | KmemEvent::CacheFree { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether this is an allocation.
    pub fn is_alloc(&self) -> bool {
        matches!(self, KmemEvent::CacheAlloc { .. } | KmemEvent::Kmalloc { .. })
    }
}

/// An event with the common fields of its trace line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmemRecord {
    /// 1-based line number in the (decompressed) input.
    pub line: u64,
    /// The CPU that recorded it.
    pub cpu: u32,
    /// Timestamp in nanoseconds of the trace clock (`sec.usec` is scaled; a
    /// timestamp printed without a dot, as the `counter`/`x86-tsc` clocks
    /// print it, is taken as is).
    pub timestamp_ns: u64,
    /// The task's PID (TID).
    pub pid: u32,
    /// The task's comm as printed (`<idle>`, `<...>` when unknown), lossily
    /// decoded if not UTF-8.
    pub comm: Arc<str>,
    /// The event.
    pub event: KmemEvent,
}

/// Which tool printed a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `/sys/kernel/tracing/trace` or `trace_pipe`: `comm-pid [cpu] flags ts: event: fields`.
    Tracefs,
    /// `trace-cmd report`: `comm-pid [cpu] ts: event: (func+off) fields`.
    TraceCmd,
    /// `perf script`: `comm pid [cpu] ts: kmem:event: fields`.
    PerfScript,
}
