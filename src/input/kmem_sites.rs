//! The call-site attribution table (`data/kmem-call-sites.tsv`).
//!
//! Tab separated, `#` comment lines and blank lines skipped, one header line
//! naming the columns (found by name, so extra or reordered columns are fine).
//! Required: `function`, `cache`, `source`, `trace_name`; optional:
//! `observed` (a count), `note`. `cache` `-` marks a generic function whose
//! cache the call site cannot tell; `trace_name` `*` matches any name. Errors
//! are [`Diagnostic`]s: `FILE: line N: what`.

use std::collections::HashMap;
use std::path::Path;

use crate::input::kmem_trace::Diagnostic;

/// One row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteEntry {
    /// 1-based line in the file.
    pub line: usize,
    /// The function (no offset, no `.part.N`-style suffix).
    pub function: String,
    /// The cache it allocates from; `None` for `-`.
    pub cache: Option<String>,
    /// Kernel source file.
    pub source: String,
    /// The `name=` a trace shows for it; `None` for `*` (any).
    pub trace_name: Option<String>,
    /// The count the file records (the `observed` column), if any.
    pub observed: Option<u64>,
    /// Free text.
    pub note: String,
}

/// What the table says about one allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attribution<'a> {
    /// The function and trace name match one row with a cache.
    Known(&'a SiteEntry),
    /// The row says the function is generic (`cache` is `-`).
    Unattributable(&'a SiteEntry),
    /// Several rows match (the table should tell them apart by trace_name).
    Ambiguous(Vec<&'a SiteEntry>),
    /// The function is in the table but not with this trace name (another
    /// kernel, another merge layout, or a missing row).
    NameMismatch(Vec<&'a SiteEntry>),
    /// The function is not in the table.
    Unknown,
}

/// The parsed table.
#[derive(Clone, Debug, Default)]
pub struct SiteTable {
    /// The rows in file order.
    pub entries: Vec<SiteEntry>,
    by_function: HashMap<String, Vec<usize>>,
}

/// A trace symbol without the compiler's clone suffixes:
/// `getname_flags.part.0` → `getname_flags`, `foo.cold` → `foo`.
pub fn base_function(symbol: &str) -> &str {
    match symbol.find('.') {
        Some(i) if i > 0 => &symbol[..i],
        _ => symbol,
    }
}

impl SiteTable {
    /// Reads the table from a file.
    pub fn load(path: impl AsRef<Path>) -> Result<SiteTable, Diagnostic> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Diagnostic {
            file: file.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        SiteTable::parse(&text, &file)
    }

    /// Parses the table's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<SiteTable, Diagnostic> {
        let err = |line: usize, message: String| Diagnostic { file: file.to_string(), line: line as u64, message };
        #[allow(clippy::type_complexity)] // (line, required columns, observed, note, width)
        let mut header: Option<(usize, [usize; 4], Option<usize>, Option<usize>, usize)> = None;
        let mut table = SiteTable::default();
        let mut seen: HashMap<(String, Option<String>), usize> = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.strip_suffix('\r').unwrap_or(raw);
            if l.trim().is_empty() || l.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = l.split('\t').collect();
            let Some((hline, [f, c, s, t], obs, note, ncols)) = header else {
                let find = |name: &str| fields.iter().position(|x| x.trim() == name);
                let mut req = [0usize; 4];
                for (k, name) in ["function", "cache", "source", "trace_name"].iter().enumerate() {
                    req[k] = find(name)
                        .ok_or_else(|| err(line, format!("missing required column `{name}` in the header")))?;
                }
                header = Some((line, req, find("observed"), find("note"), fields.len()));
                continue;
            };
            let _ = hline;
            let need = [f, c, s, t].into_iter().chain(obs).max().unwrap_or(0) + 1;
            if fields.len() < need {
                return Err(err(line, format!("{} fields, the header has {ncols}", fields.len())));
            }
            let get = |k: usize| fields[k].trim();
            let function = get(f);
            if function.is_empty() || function.contains(|ch: char| ch.is_whitespace() || ch == '+') {
                return Err(err(line, format!("bad function `{function}` (a bare function name, no offset)")));
            }
            if base_function(function) != function {
                return Err(err(line, format!("function `{function}`: write it without the `.suffix`")));
            }
            let cache = match get(c) {
                "" => {
                    return Err(err(line, "empty cache (use - for a generic function)".into()));
                }
                "-" => None,
                v => Some(v.to_string()),
            };
            let source = get(s);
            if source.is_empty() {
                return Err(err(line, "empty source".into()));
            }
            let trace_name = match get(t) {
                "" => return Err(err(line, "empty trace_name (use * for any)".into())),
                "*" => None,
                v => Some(v.to_string()),
            };
            let observed = match obs.map(get) {
                None | Some("") | Some("-") => None,
                Some(v) => Some(v.parse::<u64>().map_err(|_| err(line, format!("bad observed count `{v}`")))?),
            };
            let note = note.and_then(|k| fields.get(k)).map(|v| v.trim().to_string()).unwrap_or_default();
            let key = (function.to_string(), trace_name.clone());
            if let Some(prev) = seen.insert(key, line) {
                return Err(err(
                    line,
                    format!(
                        "function `{function}` with trace_name `{}` is already on line {prev}",
                        trace_name.as_deref().unwrap_or("*")
                    ),
                ));
            }
            table.by_function.entry(function.to_string()).or_default().push(table.entries.len());
            table.entries.push(SiteEntry {
                line,
                function: function.to_string(),
                cache,
                source: source.to_string(),
                trace_name,
                observed,
                note,
            });
        }
        if header.is_none() {
            return Err(err(0, "no header line (function, cache, source, trace_name)".into()));
        }
        Ok(table)
    }

    /// The rows of a function (given as a trace symbol or a bare name).
    pub fn rows(&self, symbol: &str) -> Vec<&SiteEntry> {
        self.by_function
            .get(base_function(symbol))
            .map(|v| v.iter().map(|&i| &self.entries[i]).collect())
            .unwrap_or_default()
    }

    /// Attributes an allocation from call-site `symbol` that the trace shows as
    /// `trace_name`: rows whose trace_name equals it win over `*` rows.
    pub fn lookup(&self, symbol: &str, trace_name: &str) -> Attribution<'_> {
        let rows = self.rows(symbol);
        if rows.is_empty() {
            return Attribution::Unknown;
        }
        let exact: Vec<&SiteEntry> =
            rows.iter().copied().filter(|e| e.trace_name.as_deref() == Some(trace_name)).collect();
        let pick =
            if exact.is_empty() { rows.iter().copied().filter(|e| e.trace_name.is_none()).collect() } else { exact };
        match pick.len() {
            0 => Attribution::NameMismatch(rows),
            1 if pick[0].cache.is_none() => Attribution::Unattributable(pick[0]),
            1 => Attribution::Known(pick[0]),
            _ => Attribution::Ambiguous(pick),
        }
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "# comment\nfunction\tcache\tsource\ttrace_name\tobserved\tnote\n\
        copy_fs_struct\tfs_cache\tfs/fs_struct.c\tanon_vma_chain\t25\tmerged\n\
        copy_process\ttask_struct\tkernel/fork.c\ttask_struct\t0\t\n\
        copy_process\tmm_struct\tkernel/fork.c\tmm_struct\t0\t\n\
        mempool_alloc_noprof\t-\tmm/mempool.c\t*\t0\tgeneric\n";

    #[test]
    fn lookup_by_function_and_trace_name() {
        let t = SiteTable::parse(T, "t.tsv").unwrap();
        assert_eq!(t.len(), 4);
        match t.lookup("copy_fs_struct", "anon_vma_chain") {
            Attribution::Known(e) => assert_eq!(e.cache.as_deref(), Some("fs_cache")),
            a => panic!("{a:?}"),
        }
        match t.lookup("copy_process", "mm_struct") {
            Attribution::Known(e) => assert_eq!(e.cache.as_deref(), Some("mm_struct")),
            a => panic!("{a:?}"),
        }
        assert!(matches!(t.lookup("copy_process", "pid"), Attribution::NameMismatch(v) if v.len() == 2));
        assert!(matches!(t.lookup("mempool_alloc_noprof", "key_jar"), Attribution::Unattributable(_)));
        assert_eq!(t.lookup("nothing_here", "x"), Attribution::Unknown);
        assert!(matches!(t.lookup("copy_fs_struct.part.0", "anon_vma_chain"), Attribution::Known(_)));
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = SiteTable::parse("function\tcache\tsource\n", "x.tsv").unwrap_err();
        assert_eq!(e.to_string(), "x.tsv: line 1: missing required column `trace_name` in the header");
        let e = SiteTable::parse("function\tcache\tsource\ttrace_name\nf+0x1\tc\ts\tt\n", "x.tsv").unwrap_err();
        assert!(e.to_string().starts_with("x.tsv: line 2: bad function `f+0x1`"), "{e}");
        let e = SiteTable::parse("function\tcache\tsource\ttrace_name\nf\tc\n", "x.tsv").unwrap_err();
        assert!(e.to_string().starts_with("x.tsv: line 2: 2 fields"), "{e}");
        let dup = "function\tcache\tsource\ttrace_name\nf\tc\ts\tt\nf\td\ts\tt\n";
        let e = SiteTable::parse(dup, "x.tsv").unwrap_err();
        assert!(e.to_string().contains("already on line 2"), "{e}");
        let e =
            SiteTable::parse("function\tcache\tsource\ttrace_name\tobserved\nf\tc\ts\tt\tmany\n", "x.tsv").unwrap_err();
        assert!(e.to_string().contains("bad observed count `many`"), "{e}");
        let e = SiteTable::parse("# only a comment\n", "x.tsv").unwrap_err();
        assert!(e.to_string().contains("no header line"), "{e}");
    }
}
