//! Errors: per-line diagnostics (the run goes on) and fatal errors (it stops).

use std::fmt;

/// A problem with one line: `FILE: line N: what is wrong`.
///
/// Malformed lines are counted and skipped; the parser keeps the first few of
/// these (see [`super::ParserOptions::max_diagnostics`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given (`-` for stdin).
    pub file: String,
    /// 1-based line number in the (decompressed) text.
    pub line: u64,
    /// What is wrong, naming the field or value concerned.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: line {}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// An error that ends the parse of an input, or refuses its result.
#[derive(Debug)]
#[allow(missing_docs)] // the fields are what their names say; each variant is documented
pub enum TraceError {
    /// Reading failed (also a corrupt or truncated gzip stream). `line` is the
    /// number of the line being read (0 before the first).
    Io { file: String, line: u64, source: std::io::Error },
    /// The input is not text: a NUL byte, or the magic of a binary trace
    /// format. `what` says which and, for known binary formats, what to run.
    Binary { file: String, line: u64, what: String },
    /// A line longer than the limit ([`super::ParserOptions::max_line_len`]).
    LineTooLong { file: String, line: u64, limit: usize },
    /// The input holds no line at all.
    Empty { file: String },
    /// The input holds only header/comment lines (`#`, `cpus=`, ...) and blank lines.
    HeaderOnly { file: String, lines: u64 },
    /// The input has trace lines, but none of the four kmem slab events.
    NoKmemEvents { file: String, lines: u64, other_events: u64, malformed: u64 },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::Io { file, line: 0, source } => write!(f, "{file}: {source}"),
            TraceError::Io { file, line, source } => write!(f, "{file}: line {line}: {source}"),
            TraceError::Binary { file, line, what } => write!(f, "{file}: line {line}: {what}"),
            TraceError::LineTooLong { file, line, limit } => {
                write!(f, "{file}: line {line}: line longer than {limit} bytes: not a kmem trace")
            }
            TraceError::Empty { file } => write!(f, "{file}: empty input: no trace lines"),
            TraceError::HeaderOnly { file, lines } => {
                write!(f, "{file}: {lines} lines of header or comments and no trace lines (was tracing on?)")
            }
            TraceError::NoKmemEvents { file, lines, other_events, malformed } => write!(
                f,
                "{file}: {lines} lines but no kmem_cache_alloc/kmem_cache_free/kmalloc/kfree event \
                 ({other_events} other events, {malformed} malformed lines)"
            ),
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TraceError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
