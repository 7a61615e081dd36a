//! The input layer's error: which file, which line, what is wrong.
//!
//! Each reader keeps the error that fits its format, for code that matches
//! on it: a trace or census table gives a [`ParseError`] (its line; the
//! reader of a string knows no file), a snapshot a [`SnapshotError`] (with
//! its [`ErrorKind`](super::snapshot::ErrorKind)), a capture of the kmem
//! tracepoints a [`TraceError`], the call-site table a [`Diagnostic`].
//! [`InputError`] is the one a caller of several readers returns: each of
//! them converts into it with `?`, and it says every one of them the same
//! way, `FILE: line N: what is wrong`.

use std::fmt;
use std::path::Path;

use super::kmem_trace::{Diagnostic, TraceError};
use super::snapshot::SnapshotError;
use super::tsv::ParseError;

/// An input that could not be read or is refused.
///
/// ```
/// use slabmerge::input::InputError;
/// use slabmerge::trace::Trace;
///
/// fn load(path: &std::path::Path) -> Result<Trace, InputError> {
///     Trace::load(path).map_err(|e| e.in_file(path))
/// }
/// let e = load("tests/fixtures/no-such-trace.tsv".as_ref()).unwrap_err();
/// assert!(e.to_string().starts_with("tests/fixtures/no-such-trace.tsv: "), "{e}");
/// assert_eq!(e.line(), 0);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum InputError {
    /// A trace or census table (TSV).
    Table {
        /// The file, as given; empty for a table parsed from a string.
        file: String,
        /// The line and what is wrong.
        error: ParseError,
    },
    /// A slab snapshot, in any of its forms.
    Snapshot(SnapshotError),
    /// A capture of the kmem tracepoints.
    KmemTrace(TraceError),
    /// A line refused whole (the call-site table of a kmem capture).
    Line(Diagnostic),
}

impl InputError {
    /// The file (path or label) the error is in; empty when the input was
    /// text given in memory.
    pub fn file(&self) -> &str {
        match self {
            InputError::Table { file, .. } => file,
            InputError::Snapshot(e) => &e.source,
            InputError::KmemTrace(e) => trace_file(e),
            InputError::Line(d) => &d.file,
        }
    }

    /// The 1-based line the error is on; 0 when it is not tied to a line
    /// (an I/O error, a file of a sysfs tree, an input refused whole).
    pub fn line(&self) -> u64 {
        match self {
            InputError::Table { error, .. } => error.line as u64,
            InputError::Snapshot(e) => e.line as u64,
            InputError::KmemTrace(e) => trace_line(e),
            InputError::Line(d) => d.line,
        }
    }
}

/// The file of a [`TraceError`] (the kmem reader's own type says it only in words).
fn trace_file(e: &TraceError) -> &str {
    match e {
        TraceError::Io { file, .. }
        | TraceError::Binary { file, .. }
        | TraceError::LineTooLong { file, .. }
        | TraceError::Empty { file }
        | TraceError::HeaderOnly { file, .. }
        | TraceError::NoKmemEvents { file, .. } => file,
    }
}

/// The line of a [`TraceError`]; 0 for a verdict on the whole input.
fn trace_line(e: &TraceError) -> u64 {
    match e {
        TraceError::Io { line, .. } | TraceError::Binary { line, .. } | TraceError::LineTooLong { line, .. } => *line,
        TraceError::Empty { .. } | TraceError::HeaderOnly { .. } | TraceError::NoKmemEvents { .. } => 0,
    }
}

impl ParseError {
    /// This error as the input layer's, naming `path`, the file it was read from.
    pub fn in_file(self, path: &Path) -> InputError {
        InputError::Table { file: path.display().to_string(), error: self }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // An error on line 0 (I/O, a file that is not text) names its
            // file already; one of a table parsed from a string has none.
            InputError::Table { file, error } if error.line == 0 || file.is_empty() => {
                if error.line == 0 {
                    f.write_str(&error.message)
                } else {
                    error.fmt(f)
                }
            }
            InputError::Table { file, error } => write!(f, "{file}: {error}"),
            InputError::Snapshot(e) => e.fmt(f),
            InputError::KmemTrace(e) => e.fmt(f),
            InputError::Line(d) => d.fmt(f),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Each variant's own error is what its Display says, so the source
        // is one level further down (an I/O error), not that error again.
        match self {
            InputError::KmemTrace(e) => e.source(),
            _ => None,
        }
    }
}

/// A table parsed from a string: no file to name.
impl From<ParseError> for InputError {
    fn from(error: ParseError) -> InputError {
        InputError::Table { file: String::new(), error }
    }
}

impl From<SnapshotError> for InputError {
    fn from(error: SnapshotError) -> InputError {
        InputError::Snapshot(error)
    }
}

impl From<TraceError> for InputError {
    fn from(error: TraceError) -> InputError {
        InputError::KmemTrace(error)
    }
}

impl From<Diagnostic> for InputError {
    fn from(error: Diagnostic) -> InputError {
        InputError::Line(error)
    }
}
