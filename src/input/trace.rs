//! Reads the slab creation trace: one `kmem_cache_create()`-style call per row of a TSV file.
//!
//! The bundled trace (`data/slab-trace-linux-6.18-x86_64.tsv`, described in
//! `data/README.md`) lists the 333 cache names of a Linux 6.18 x86_64 boot,
//! oldest first, with their creation arguments resolved to integers and
//! canonical flag names, plus where each name ended up on the real kernel.
//!
//! The format is tab separated, with a header line and no quoting. Columns are
//! found by header name, so extra or reordered columns are fine. The required
//! columns are `seq`, `name`, `size`, `align`, `flags`, `ctor`, `useroffset`
//! and `usersize`; every other column is optional and defaults as documented
//! on [`TraceRow`]. Blank lines are skipped; line numbers in errors are those of
//! the file (the header is line 1).
//!
//! [`ParseError`] is shared with [`crate::census`] (it lives in [`crate::input::tsv`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use crate::flags::SlabFlags;
use crate::slab_common::request::CreateEntry;

pub use crate::input::tsv::ParseError;
use crate::input::tsv::{Header, Record, Table, parse_bool01};

/// How a cache is created (the trace's `entry` column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TraceEntry {
    /// `kmem_cache_create()`: the `__kmem_cache_create_args()` path, which tries to alias.
    #[default]
    KmemCacheCreate,
    /// `create_kmalloc_cache()`: no alias attempt, usercopy `0/size`, refcount 1.
    CreateKmallocCache,
    /// `create_boot_cache()` (`kmem_cache`, `kmem_cache_node`): refcount -1,
    /// never a merge target.
    CreateBootCache,
}

impl TraceEntry {
    /// The name as the trace writes it (`kmem_cache_create`, `create_kmalloc_cache`,
    /// `create_boot_cache`).
    pub fn name(self) -> &'static str {
        match self {
            TraceEntry::KmemCacheCreate => "kmem_cache_create",
            TraceEntry::CreateKmallocCache => "create_kmalloc_cache",
            TraceEntry::CreateBootCache => "create_boot_cache",
        }
    }

    /// Parses the trace's spelling (see [`TraceEntry::name`]).
    pub fn parse(text: &str) -> Option<TraceEntry> {
        [TraceEntry::KmemCacheCreate, TraceEntry::CreateKmallocCache, TraceEntry::CreateBootCache]
            .into_iter()
            .find(|e| e.name() == text)
    }
}

impl TraceEntry {
    /// The lifecycle's entry point for this row.
    pub fn create_entry(self) -> CreateEntry {
        match self {
            TraceEntry::KmemCacheCreate => CreateEntry::KmemCacheCreate,
            TraceEntry::CreateKmallocCache => CreateEntry::CreateKmallocCache,
            TraceEntry::CreateBootCache => CreateEntry::CreateBootCache,
        }
    }
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One cache creation: the arguments of the call and where the name ended up
/// on the real kernel. Optional columns that are absent take the defaults
/// given per field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// Creation order, 1-based (required).
    pub seq: u32,
    /// The name passed at creation (required, unique in the trace).
    pub name: String,
    /// `size` argument in bytes (required).
    pub size: u32,
    /// `align` argument, 0 = none (required).
    pub align: u32,
    /// `SLAB_*` flags passed (required; `0` or names joined by `|`).
    pub flags: SlabFlags,
    /// Constructor symbol; `-` in the file means none (required column).
    pub ctor: Option<String>,
    /// Hardened-usercopy whitelist offset (required).
    pub useroffset: u32,
    /// Hardened-usercopy whitelist size, 0 = none (required).
    pub usersize: u32,
    /// `size` is the exact value passed rather than a bound (absent → true).
    pub size_exact: bool,
    /// The sysfs directory of this name on the real kernel (absent → empty).
    pub kernel_dir: String,
    /// The name that created the instance this name shares on the real kernel
    /// (absent → empty).
    pub kernel_owner: String,
    /// Kernel source file of the creating subsystem (absent → empty).
    pub source: String,
    /// How values were resolved, as written (`-` for nothing; absent → empty).
    pub note: String,
    /// One of the 13 caches Al Viro's v3 series makes static (absent → false).
    pub static_v3: bool,
    /// Built as a module in Debian's amd64 config; `-` = cannot be told
    /// (absent → `None`).
    pub modular_debian: Option<bool>,
    /// `args->sheaf_capacity`, 0 = no sheaves (absent → 0).
    pub sheaf_capacity: u32,
    /// `args->freeptr_offset` when `use_freeptr_offset` is set; `-` = unset
    /// (absent → `None`).
    pub freeptr_offset: Option<u32>,
    /// How the cache is created (absent → [`TraceEntry::KmemCacheCreate`]).
    pub entry: TraceEntry,
}

/// A creation trace: rows in creation order, `seq` running 1..n.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The rows, oldest first.
    pub rows: Vec<TraceRow>,
}

/// Column indices of a trace header.
struct TraceColumns {
    seq: usize,
    name: usize,
    size: usize,
    align: usize,
    flags: usize,
    ctor: usize,
    useroffset: usize,
    usersize: usize,
    size_exact: Option<usize>,
    kernel_dir: Option<usize>,
    kernel_owner: Option<usize>,
    source: Option<usize>,
    note: Option<usize>,
    static_v3: Option<usize>,
    modular_debian: Option<usize>,
    sheaf_capacity: Option<usize>,
    freeptr_offset: Option<usize>,
    entry: Option<usize>,
}

impl TraceColumns {
    fn find(h: &Header<'_>) -> Result<TraceColumns, ParseError> {
        Ok(TraceColumns {
            seq: h.require("seq")?,
            name: h.require("name")?,
            size: h.require("size")?,
            align: h.require("align")?,
            flags: h.require("flags")?,
            ctor: h.require("ctor")?,
            useroffset: h.require("useroffset")?,
            usersize: h.require("usersize")?,
            size_exact: h.optional("size_exact"),
            kernel_dir: h.optional("kernel_dir"),
            kernel_owner: h.optional("kernel_owner"),
            source: h.optional("source"),
            note: h.optional("note"),
            static_v3: h.optional("static_v3"),
            modular_debian: h.optional("modular_debian"),
            sheaf_capacity: h.optional("sheaf_capacity"),
            freeptr_offset: h.optional("freeptr_offset"),
            entry: h.optional("entry"),
        })
    }
}

/// `-` (or nothing) → `None`.
fn dash_none(text: &str) -> Option<&str> {
    match text.trim() {
        "" | "-" => None,
        t => Some(t),
    }
}

impl TraceRow {
    fn parse(r: &Record<'_>, c: &TraceColumns) -> Result<TraceRow, ParseError> {
        let name = r.text(c.name).trim();
        if name.is_empty() {
            return Err(r.error("column `name`: empty cache name"));
        }
        let flags_text = r.text(c.flags);
        let flags =
            SlabFlags::parse(flags_text).map_err(|e| r.error(format!("column `flags`: {e} in {flags_text:?}")))?;
        let opt_text = |idx: Option<usize>| idx.map(|i| r.text(i).to_owned()).unwrap_or_default();
        let modular_debian = match c.modular_debian {
            None => None,
            Some(i) => match r.text(i).trim() {
                "-" => None,
                t => Some(
                    parse_bool01(t)
                        .ok_or_else(|| r.error(format!("column `modular_debian`: expected 0, 1 or -, found {t:?}")))?,
                ),
            },
        };
        let freeptr_offset = match c.freeptr_offset {
            Some(i) if dash_none(r.text(i)).is_some() => Some(r.u32(i, "freeptr_offset")?),
            _ => None,
        };
        let entry = match c.entry {
            None => TraceEntry::default(),
            Some(i) => {
                let t = r.text(i).trim();
                TraceEntry::parse(t).ok_or_else(|| {
                    r.error(format!(
                        "column `entry`: expected kmem_cache_create, create_kmalloc_cache \
                         or create_boot_cache, found {t:?}"
                    ))
                })?
            }
        };
        Ok(TraceRow {
            seq: r.u32(c.seq, "seq")?,
            name: name.to_owned(),
            size: r.u32(c.size, "size")?,
            align: r.u32(c.align, "align")?,
            flags,
            ctor: dash_none(r.text(c.ctor)).map(str::to_owned),
            useroffset: r.u32(c.useroffset, "useroffset")?,
            usersize: r.u32(c.usersize, "usersize")?,
            size_exact: match c.size_exact {
                Some(i) => r.bool01(i, "size_exact")?,
                None => true,
            },
            kernel_dir: opt_text(c.kernel_dir),
            kernel_owner: opt_text(c.kernel_owner),
            source: opt_text(c.source),
            note: opt_text(c.note),
            static_v3: match c.static_v3 {
                Some(i) => r.bool01(i, "static_v3")?,
                None => false,
            },
            modular_debian,
            sheaf_capacity: match c.sheaf_capacity {
                Some(i) => r.u32(i, "sheaf_capacity")?,
                None => 0,
            },
            freeptr_offset,
            entry,
        })
    }
}

impl Trace {
    /// Parses a trace. Checks the header (required columns present, no
    /// duplicate columns), that every line has as many fields as the header,
    /// that numbers, flags and 0/1 values parse, that `seq` runs 1..n in order
    /// and that names are unique. The first problem is returned, with its line.
    pub fn parse(text: &str) -> Result<Trace, ParseError> {
        let table = Table::split(text)?;
        let cols = TraceColumns::find(&table.header)?;
        let mut rows: Vec<TraceRow> = Vec::with_capacity(table.records.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for rec in &table.records {
            if rec.fields.len() != table.header.len() {
                return Err(rec.error(format!(
                    "expected {} tab-separated fields as in the header, found {}",
                    table.header.len(),
                    rec.fields.len()
                )));
            }
            let row = TraceRow::parse(rec, &cols)?;
            let expected = rows.len() + 1;
            if row.seq as usize != expected {
                return Err(rec.error(format!(
                    "seq {} out of order: expected {expected} (seq must run 1..n in file order)",
                    row.seq
                )));
            }
            if let Some(first) = seen.insert(row.name.clone(), rec.line) {
                return Err(rec.error(format!("duplicate name `{}` (first on line {first})", row.name)));
            }
            rows.push(row);
        }
        Ok(Trace { rows })
    }

    /// Reads and parses a trace file. An I/O error is a [`ParseError`] on
    /// line 0 naming the path.
    ///
    /// The file is read bounded ([`crate::input::tsv::read_table_file`]: no
    /// binary, nothing over 16 MiB), and a file with no creation row (empty,
    /// or a header alone) is an error: replaying nothing would print a
    /// report that looks normal.
    pub fn load(path: &Path) -> Result<Trace, ParseError> {
        let text = crate::input::tsv::read_table_file(path)?;
        let trace = Trace::parse(&text)?;
        if trace.rows.is_empty() {
            return Err(ParseError::new(
                0,
                format!("{}: no cache creation in the trace (empty, or a header alone)", path.display()),
            ));
        }
        Ok(trace)
    }

    /// The bundled Linux 6.18 x86_64 trace (333 names).
    pub fn bundled() -> Trace {
        Trace::parse(include_str!("../../data/slab-trace-linux-6.18-x86_64.tsv")).expect("the bundled trace parses")
    }

    /// The row of the cache called `name`.
    pub fn row(&self, name: &str) -> Option<&TraceRow> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// `kernel_dir` → the names living in that sysfs directory on the real
    /// kernel, in trace order. Rows with an empty `kernel_dir` (trace without
    /// that column) are left out.
    pub fn kernel_groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in self.rows.iter().filter(|r| !r.kernel_dir.is_empty()) {
            groups.entry(row.kernel_dir.clone()).or_default().push(row.name.clone());
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::*;

    const BUNDLED: &str = include_str!("../../data/slab-trace-linux-6.18-x86_64.tsv");

    /// The bundled header plus its first `n` data lines (lines 1..=n+1).
    fn head(n: usize) -> Vec<String> {
        BUNDLED.lines().take(n + 1).map(str::to_owned).collect()
    }

    /// Replaces field `column` of file line `line` (1-based) with `value`.
    fn set_field(lines: &mut [String], line: usize, column: &str, value: &str) {
        let idx = lines[0].split('\t').position(|c| c == column).unwrap();
        let mut fields: Vec<&str> = lines[line - 1].split('\t').collect();
        fields[idx] = value;
        lines[line - 1] = fields.join("\t");
    }

    fn parse_err(lines: &[String]) -> ParseError {
        Trace::parse(&lines.join("\n")).expect_err("malformed trace must not parse")
    }

    #[test]
    fn bundled_trace_has_333_rows_in_235_directories() {
        let t = Trace::bundled();
        assert_eq!(t.rows.len(), 333);
        assert_eq!(t.kernel_groups().len(), 235);
        assert_eq!(t.kernel_groups().values().map(Vec::len).sum::<usize>(), 333);
        for (i, r) in t.rows.iter().enumerate() {
            assert_eq!(r.seq as usize, i + 1);
        }
        let first = &t.rows[0];
        assert_eq!(first.name, "kmem_cache");
        assert_eq!(first.entry, TraceEntry::CreateBootCache);
        assert_eq!(first.flags, SLAB_HWCACHE_ALIGN | SLAB_NO_OBJ_EXT);
        let count = |e| t.rows.iter().filter(|r| r.entry == e).count();
        assert_eq!(count(TraceEntry::CreateBootCache), 2);
        assert_eq!(count(TraceEntry::CreateKmallocCache), 52);
        assert_eq!(count(TraceEntry::KmemCacheCreate), 279);
        assert_eq!(t.rows.iter().filter(|r| r.static_v3).count(), 13);
        assert_eq!(t.rows.iter().filter(|r| r.modular_debian == Some(true)).count(), 95);
        assert!(t.rows.iter().all(|r| r.size_exact));
    }

    #[test]
    fn bundled_special_rows() {
        let t = Trace::bundled();
        let vma = t.row("vm_area_struct").unwrap();
        assert_eq!(vma.sheaf_capacity, 32);
        assert_eq!(vma.freeptr_offset, Some(0));
        assert!(vma.flags.contains(SLAB_TYPESAFE_BY_RCU));
        assert_eq!(t.row("maple_node").unwrap().sheaf_capacity, 32);
        assert_eq!(t.row("filp").unwrap().freeptr_offset, Some(144));
        assert_eq!(t.row("bfilp").unwrap().freeptr_offset, Some(184));
        assert_eq!(t.row("maple_node").unwrap().freeptr_offset, None);
        assert_eq!(t.row("anon_vma").unwrap().ctor.as_deref(), Some("anon_vma_ctor"));
        assert_eq!(t.row("kmem_cache").unwrap().ctor, None);
        assert!(t.row("no-such-cache").is_none());
        let with_freeptr = t.rows.iter().filter(|r| r.freeptr_offset.is_some());
        assert_eq!(with_freeptr.count(), 3);
    }

    #[test]
    fn display_is_line_colon_message() {
        let e = ParseError::new(7, "bad");
        assert_eq!(e.to_string(), "line 7: bad");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert_eq!(boxed.to_string(), "line 7: bad");
    }

    #[test]
    fn wrong_field_count() {
        let mut lines = head(5);
        lines[3].push_str("\textra");
        let e = parse_err(&lines);
        assert_eq!(e.line, 4);
        assert!(e.message.contains("expected 18"), "{e}");
        assert!(e.message.contains("found 19"), "{e}");

        let mut lines = head(5);
        let cut = lines[4].rfind('\t').unwrap();
        lines[4].truncate(cut);
        let e = parse_err(&lines);
        assert_eq!(e.line, 5);
        assert!(e.message.contains("found 17"), "{e}");
    }

    #[test]
    fn non_numeric_size() {
        let mut lines = head(5);
        set_field(&mut lines, 3, "size", "12x");
        let e = parse_err(&lines);
        assert_eq!(e.line, 3);
        assert!(e.message.contains("`size`"), "{e}");
        assert!(e.message.contains("\"12x\""), "{e}");
        let mut lines = head(5);
        set_field(&mut lines, 6, "size", "-8");
        assert_eq!(parse_err(&lines).line, 6);
    }

    #[test]
    fn unknown_flag() {
        let mut lines = head(5);
        set_field(&mut lines, 4, "flags", "SLAB_KMALLOC|SLAB_BOGUS");
        let e = parse_err(&lines);
        assert_eq!(e.line, 4);
        assert!(e.message.contains("`flags`"), "{e}");
        assert!(e.message.contains("SLAB_BOGUS"), "{e}");
    }

    #[test]
    fn duplicate_name() {
        let mut lines = head(5);
        set_field(&mut lines, 5, "name", "kmalloc-96");
        let e = parse_err(&lines);
        assert_eq!(e.line, 5);
        assert!(e.message.contains("duplicate name `kmalloc-96`"), "{e}");
        assert!(e.message.contains("first on line 4"), "{e}");
    }

    #[test]
    fn seq_out_of_order() {
        let mut lines = head(5);
        lines.swap(3, 4);
        let e = parse_err(&lines);
        assert_eq!(e.line, 4);
        assert!(e.message.contains("seq 4 out of order: expected 3"), "{e}");

        let mut lines = head(5);
        set_field(&mut lines, 2, "seq", "0");
        let e = parse_err(&lines);
        assert_eq!(e.line, 2);
        assert!(e.message.contains("expected 1"), "{e}");
    }

    #[test]
    fn missing_required_column() {
        for column in ["seq", "name", "size", "align", "flags", "ctor", "useroffset", "usersize"] {
            let text = select_columns(
                &BUNDLED.lines().take(4).collect::<Vec<_>>(),
                &["seq", "name", "size", "align", "flags", "ctor", "useroffset", "usersize"]
                    .into_iter()
                    .filter(|c| *c != column)
                    .collect::<Vec<_>>(),
            );
            let e = Trace::parse(&text).unwrap_err();
            assert_eq!(e.line, 1, "{column}");
            assert_eq!(e.message, format!("missing required column `{column}` in the header"));
        }
        assert_eq!(Trace::parse("").unwrap_err().line, 1);
        let dup = "seq\tname\tname\n";
        let e = Trace::parse(dup).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("duplicate column `name`"), "{e}");
    }

    #[test]
    fn bad_bool() {
        let mut lines = head(5);
        set_field(&mut lines, 6, "static_v3", "yes");
        let e = parse_err(&lines);
        assert_eq!(e.line, 6);
        assert!(e.message.contains("`static_v3`: expected 0 or 1"), "{e}");

        let mut lines = head(5);
        set_field(&mut lines, 2, "modular_debian", "2");
        let e = parse_err(&lines);
        assert_eq!(e.line, 2);
        assert!(e.message.contains("`modular_debian`"), "{e}");

        let mut lines = head(5);
        set_field(&mut lines, 3, "size_exact", "");
        assert_eq!(parse_err(&lines).line, 3);
    }

    #[test]
    fn unknown_entry_and_bad_freeptr() {
        let mut lines = head(5);
        set_field(&mut lines, 3, "entry", "kmalloc");
        let e = parse_err(&lines);
        assert_eq!(e.line, 3);
        assert!(e.message.contains("`entry`"), "{e}");

        let mut lines = head(5);
        set_field(&mut lines, 5, "freeptr_offset", "none");
        let e = parse_err(&lines);
        assert_eq!(e.line, 5);
        assert!(e.message.contains("`freeptr_offset`"), "{e}");
    }

    #[test]
    fn blank_lines_keep_file_line_numbers() {
        let mut lines = head(4);
        lines.insert(2, String::new());
        set_field(&mut lines, 5, "align", "x");
        let e = parse_err(&lines);
        assert_eq!(e.line, 5);
        assert!(e.message.contains("`align`"), "{e}");
        let mut lines = head(4);
        lines.insert(2, String::new());
        assert_eq!(Trace::parse(&lines.join("\r\n")).unwrap().rows.len(), 4);
    }

    /// The named columns of `lines` (header first), in the given order, tab separated.
    fn select_columns(lines: &[&str], columns: &[&str]) -> String {
        let header: Vec<&str> = lines[0].split('\t').collect();
        let idx: Vec<usize> = columns.iter().map(|c| header.iter().position(|h| h == c).unwrap()).collect();
        lines
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                idx.iter().map(|&i| f[i]).collect::<Vec<_>>().join("\t")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn reordered_columns_and_dropped_optionals() {
        let all: Vec<&str> = BUNDLED.lines().collect();
        let text = select_columns(
            &all,
            &["flags", "name", "usersize", "useroffset", "ctor", "align", "size", "seq", "kernel_dir"],
        );
        // an extra column the parser does not know about
        let text: String = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let extra = if i == 0 { "comment" } else { "whatever" };
                format!("{l}\t{extra}\n")
            })
            .collect();
        let small = Trace::parse(&text).unwrap();
        let full = Trace::bundled();
        assert_eq!(small.rows.len(), 333);
        assert_eq!(small.kernel_groups(), full.kernel_groups());
        for (s, f) in small.rows.iter().zip(&full.rows) {
            assert_eq!((s.seq, &s.name, s.size, s.align, s.flags), (f.seq, &f.name, f.size, f.align, f.flags));
            assert_eq!((&s.ctor, s.useroffset, s.usersize), (&f.ctor, f.useroffset, f.usersize));
            assert_eq!(s.entry, TraceEntry::KmemCacheCreate);
            assert_eq!(s.sheaf_capacity, 0);
            assert_eq!(s.freeptr_offset, None);
            assert!(!s.static_v3);
            assert_eq!(s.modular_debian, None);
            assert!(s.size_exact);
            assert!(s.kernel_owner.is_empty() && s.source.is_empty() && s.note.is_empty());
        }

        let minimal = "name\tseq\tsize\talign\tflags\tctor\tuseroffset\tusersize\n\
                       foo\t1\t40\t0\tSLAB_HWCACHE_ALIGN|SLAB_ACCOUNT\t-\t0\t0\n\
                       bar\t2\t64\t8\t0\tbar_ctor\t8\t16\n";
        let t = Trace::parse(minimal).unwrap();
        assert_eq!(t.rows[1].ctor.as_deref(), Some("bar_ctor"));
        assert_eq!(t.rows[0].flags, SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT);
        assert!(t.kernel_groups().is_empty());
    }

    #[test]
    fn load_reports_io_errors_on_line_0() {
        let path = Path::new("/nonexistent/slabmerge/trace.tsv");
        let e = Trace::load(path).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.contains("/nonexistent/slabmerge/trace.tsv"), "{e}");
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/slab-trace-linux-6.18-x86_64.tsv");
        assert_eq!(Trace::load(&here).unwrap(), Trace::bundled());
    }

    #[test]
    fn entry_names_round_trip() {
        for e in [TraceEntry::KmemCacheCreate, TraceEntry::CreateKmallocCache, TraceEntry::CreateBootCache] {
            assert_eq!(TraceEntry::parse(&e.to_string()), Some(e));
        }
        assert_eq!(TraceEntry::parse("kmalloc"), None);
    }
}
