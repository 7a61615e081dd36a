//! A streaming parser of Linux kmem slab tracepoint captures.
//!
//! Reads the text of the four slab events, `kmem:kmem_cache_alloc`,
//! `kmem:kmem_cache_free`, `kmem:kmalloc` and `kmem:kfree`, as three tools
//! print them (the layouts are in `tests/data/kmem/README.md`):
//!
//! * tracefs: `/sys/kernel/tracing/trace` (with its `#` header) or
//!   `trace_pipe` (without), as `scripts/capture-kmem.sh` records it;
//! * `trace-cmd report`;
//! * `perf script`.
//!
//! The format is recognised per line, so the parser needs no option for it.
//! Input is read line by line from any [`std::io::BufRead`] with bounded
//! memory: a line longer than [`ParserOptions::max_line_len`] or a NUL byte
//! ends the parse with an error (so `/dev/zero` fails at once). [`KmemParser::open`]
//! reads a path, `-` for stdin, and gunzips when the data starts with the gzip
//! magic.
//!
//! Lines of other events are skipped and counted by name; LOST markers are
//! counted and summed; malformed lines are counted and the first few kept as
//! [`Diagnostic`]s (`FILE: line N: what is wrong`), and the parse goes on. An
//! input without any kmem event is refused by [`Stats::check_nonempty`] with a
//! typed [`TraceError`].
//!
//! [`crate::input::kmem_sites`] reads the call-site attribution table
//! (`data/kmem-call-sites.tsv`): which cache a call site allocates from, when
//! merging hides it behind another cache's name.
//!
//! ```no_run
//! use slabmerge::input::kmem_trace::{KmemEvent, KmemParser};
//! let mut p = KmemParser::open("data/kmem-trace-linux-6.18-x86_64.txt.gz")?;
//! let mut allocs = 0;
//! for rec in &mut p {
//!     if let KmemEvent::CacheAlloc { .. } = rec?.event { allocs += 1; }
//! }
//! println!("{allocs} kmem_cache_alloc events");
//! let stats = p.into_stats();
//! stats.check_nonempty()?;
//! for d in &stats.diagnostics { eprintln!("{d}"); }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod event;
pub mod gfp;
mod header;
mod parser;
mod reader;

pub use error::{Diagnostic, TraceError};
pub use event::{CallSite, Format, KmemEvent, KmemRecord};
pub use gfp::{GfpFlags, KmallocType};
pub use header::{CAPTURE_PREFIX, CaptureHeader, WORKLOAD_PREFIX};
pub use parser::{EventKind, Interned, KmemParser, ParserOptions, RawRecord, Stats, read_all};
pub use reader::{maybe_gunzip, open_path};
