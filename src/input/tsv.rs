//! The tab-separated tables the inputs are written in: a header line naming
//! the columns, one record per line, no quoting. Columns are found by header
//! name, so extra or reordered columns are fine; blank lines are skipped; line
//! numbers in errors are those of the file (the header is line 1).

use std::fmt;
use std::path::Path;

/// An error reading a trace or census: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (the header is line 1); 0 when the error is not
    /// tied to a line (an I/O error, or a file of a sysfs tree).
    pub line: usize,
    /// What is wrong, naming the column, value or file concerned.
    pub message: String,
}

impl ParseError {
    /// A new error at `line`.
    pub fn new(line: usize, message: impl Into<String>) -> ParseError {
        ParseError { line, message: message.into() }
    }

    /// An I/O error on `path`: line 0, the path in the message.
    pub(crate) fn io(path: &Path, err: &std::io::Error) -> ParseError {
        ParseError::new(0, format!("{}: {err}", path.display()))
    }
}

/// The largest table file read (the bundled trace is tens of KiB).
pub const MAX_TABLE_BYTES: u64 = 16 << 20;

/// Reads a table file as text, bounded: at most [`MAX_TABLE_BYTES`], and
/// refused at its first NUL byte (a binary file, `/dev/zero`) or if it is
/// not UTF-8, so that no input is read whole before it is known to be text.
/// Errors are on line 0 and name the file.
pub fn read_table_file(path: &Path) -> Result<String, ParseError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| ParseError::io(path, &e))?;
    let mut reader = file.take(MAX_TABLE_BYTES + 1);
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ParseError::io(path, &e)),
        };
        if let Some(at) = chunk[..n].iter().position(|&b| b == 0) {
            return Err(ParseError::new(
                0,
                format!("{}: not a text file (NUL byte at offset {})", path.display(), bytes.len() + at),
            ));
        }
        bytes.extend_from_slice(&chunk[..n]);
        if bytes.len() as u64 > MAX_TABLE_BYTES {
            return Err(ParseError::new(
                0,
                format!("{}: larger than {} MiB, not a table this tool writes", path.display(), MAX_TABLE_BYTES >> 20),
            ));
        }
    }
    String::from_utf8(bytes).map_err(|e| {
        ParseError::new(
            0,
            format!("{}: not UTF-8 text (invalid byte at offset {})", path.display(), e.utf8_error().valid_up_to()),
        )
    })
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The header of a tab-separated table: column name → index.
pub(crate) struct Header<'a> {
    names: Vec<&'a str>,
}

impl<'a> Header<'a> {
    /// Number of columns.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// The index of a column that must be present (an error on line 1 otherwise).
    pub(crate) fn require(&self, name: &str) -> Result<usize, ParseError> {
        self.optional(name).ok_or_else(|| ParseError::new(1, format!("missing required column `{name}` in the header")))
    }

    /// The index of a column that may be absent.
    pub(crate) fn optional(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }
}

/// One data line of a table, split on tabs.
pub(crate) struct Record<'a> {
    /// 1-based line number in the file.
    pub(crate) line: usize,
    /// The fields, as written.
    pub(crate) fields: Vec<&'a str>,
}

impl<'a> Record<'a> {
    /// An error on this record's line.
    pub(crate) fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.line, message)
    }

    /// The raw text of column `idx` (which must exist).
    pub(crate) fn text(&self, idx: usize) -> &'a str {
        self.fields[idx]
    }

    /// A non-negative decimal integer.
    pub(crate) fn u32(&self, idx: usize, column: &str) -> Result<u32, ParseError> {
        let text = self.text(idx);
        text.trim()
            .parse()
            .map_err(|_| self.error(format!("column `{column}`: expected a non-negative integer, found {text:?}")))
    }

    /// `0` or `1`.
    pub(crate) fn bool01(&self, idx: usize, column: &str) -> Result<bool, ParseError> {
        let text = self.text(idx);
        parse_bool01(text).ok_or_else(|| self.error(format!("column `{column}`: expected 0 or 1, found {text:?}")))
    }
}

/// `0` → false, `1` → true.
pub(crate) fn parse_bool01(text: &str) -> Option<bool> {
    match text.trim() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// The first whitespace-separated token as a `u64`.
pub(crate) fn parse_first_u64(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// A tab-separated table: the header and the non-blank data lines.
pub(crate) struct Table<'a> {
    /// The header (line 1).
    pub(crate) header: Header<'a>,
    /// The data lines, in file order.
    pub(crate) records: Vec<Record<'a>>,
}

impl<'a> Table<'a> {
    /// Splits `text` into lines and fields. Checks the header (not empty, no
    /// empty or duplicate column names); field counts are left to the caller.
    pub(crate) fn split(text: &'a str) -> Result<Table<'a>, ParseError> {
        let mut lines = text.lines().enumerate();
        let header_line = match lines.next() {
            Some((_, l)) if !l.trim().is_empty() => l,
            _ => return Err(ParseError::new(1, "empty input: no header line")),
        };
        let names: Vec<&str> = header_line.split('\t').map(str::trim).collect();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(ParseError::new(1, format!("empty column name in the header (column {})", i + 1)));
            }
            if names[..i].contains(name) {
                return Err(ParseError::new(1, format!("duplicate column `{name}` in the header")));
            }
        }
        let records = lines
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| Record { line: i + 1, fields: l.split('\t').collect() })
            .collect();
        Ok(Table { header: Header { names }, records })
    }
}
