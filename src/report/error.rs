//! The report layer's error, into which the layers below convert.

use std::fmt;

use crate::error::SlabError;
use crate::input::InputError;

/// Why a report, a view or a diff could not be made: an input that could
/// not be read, an allocator or lifecycle error, or a request that cannot
/// be carried out as asked.
///
/// ```
/// use slabmerge::replay::StaticSet;
/// use slabmerge::report::{self, ReportError};
/// use slabmerge::trace::Trace;
///
/// fn statics(trace_path: &std::path::Path) -> Result<StaticSet, ReportError> {
///     let trace = Trace::load(trace_path).map_err(|e| e.in_file(trace_path))?; // an InputError
///     Ok(report::static_set(&trace, Some(&["no_such_cache".to_owned()]), None)?)
/// }
/// let e = statics("data/slab-trace-linux-6.18-x86_64.tsv".as_ref()).unwrap_err();
/// assert!(matches!(e, ReportError::Refused(_)));
/// assert_eq!(e.to_string(), "static `no_such_cache` is not a name of the trace");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ReportError {
    /// An input (trace, census, snapshot, kmem capture) could not be read.
    Input(InputError),
    /// The allocator or the cache lifecycle refused an operation.
    Slab(SlabError),
    /// The request contradicts its inputs or itself (a static that is not a
    /// name of the trace, a name to explain that is not in it); the text
    /// says what and, where it can, what to give instead.
    Refused(String),
    /// An output file could not be written.
    Write {
        /// The path, as given.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
}

impl ReportError {
    /// A refused request, in words.
    pub fn refused(text: impl Into<String>) -> ReportError {
        ReportError::Refused(text.into())
    }

    /// A failure to write `path`.
    pub fn write(path: &std::path::Path, source: std::io::Error) -> ReportError {
        ReportError::Write { path: path.display().to_string(), source }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Input(e) => e.fmt(f),
            ReportError::Slab(e) => e.fmt(f),
            ReportError::Refused(why) => f.write_str(why),
            ReportError::Write { path, source } => write!(f, "{path}: {source}"),
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The wrapped errors are what Display prints, so the chain goes on
        // from their own sources, not from them again.
        match self {
            ReportError::Input(e) => e.source(),
            ReportError::Slab(_) | ReportError::Refused(_) => None,
            ReportError::Write { source, .. } => Some(source),
        }
    }
}

impl From<InputError> for ReportError {
    fn from(error: InputError) -> ReportError {
        ReportError::Input(error)
    }
}

impl From<SlabError> for ReportError {
    fn from(error: SlabError) -> ReportError {
        ReportError::Slab(error)
    }
}

/// Each input reader's own error, straight to the report's with one `?`.
macro_rules! from_input {
    ($($t:ty),*) => {$(
        impl From<$t> for ReportError {
            fn from(error: $t) -> ReportError {
                ReportError::Input(error.into())
            }
        }
    )*};
}
from_input!(
    crate::input::snapshot::SnapshotError,
    crate::input::kmem_trace::TraceError,
    crate::input::kmem_trace::Diagnostic,
    crate::input::tsv::ParseError
);
