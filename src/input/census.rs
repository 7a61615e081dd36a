//! Reads the slab sysfs census: one row per entry of `/sys/kernel/slab`, from a TSV file or a live tree.
//!
//! The bundled census (`data/slab-census-linux-6.18-x86_64.tsv`, described in
//! `data/README.md`) is a snapshot of a Linux 6.18 x86_64 kernel: 235 cache
//! directories (96 merged groups named by unique id such as `:A-0000064`, 139
//! self-named unmergeable caches) and 194 alias symlinks into the merged
//! groups, 333 names in all.
//!
//! The TSV format is tab separated with a header line; columns are found by
//! header name. Required columns: `name`, `kind`, `target`, `object_size`,
//! `slab_size`, `align`, `aliases`, `objs_per_slab`, `order`,
//! `hwcache_align`, `reclaim_account`, `destroy_by_rcu`; the others default to
//! 0 / false / none when absent. An alias row may stop after the last of its
//! `name`, `kind` and `target` fields (the bundled file writes alias rows that
//! way); its other values are then copied from its target directory.
//!
//! [`Census::from_sysfs_dir`] reads the same data from a directory laid out
//! like `/sys/kernel/slab`. Errors are [`ParseError`]s, shared with
//! [`crate::trace`].
//!
//! (Long for a reason: the code is about 530 lines; the rest is the unit
//! tests of each column, alias row and sysfs-tree case.)

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::input::snapshot::known::Known;
use crate::input::tsv::{Header, ParseError, Record, Table, parse_bool01, parse_first_u64};

/// What a sysfs entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CensusKind {
    /// A directory: one `kmem_cache` instance.
    Cache,
    /// A symlink: a name merged into the instance of its target directory.
    Alias,
}

impl CensusKind {
    /// The spelling of the `kind` column (`cache`, `alias`).
    pub fn name(self) -> &'static str {
        match self {
            CensusKind::Cache => "cache",
            CensusKind::Alias => "alias",
        }
    }
}

/// One sysfs entry. For an alias row, every value but `name`, `kind` and
/// `target` is that of its target directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CensusRow {
    /// The entry name: a cache's own name, a unique id (`:A-0000064`) or an alias name.
    pub name: String,
    /// Directory or symlink.
    pub kind: CensusKind,
    /// For an alias, the directory it points to; `None` for a cache.
    pub target: Option<String>,
    /// `object_size` (for a merged cache: the largest of its names).
    pub object_size: u32,
    /// `slab_size`: the per-object stride.
    pub slab_size: u32,
    /// `align`.
    pub align: u32,
    /// The sysfs `aliases` attribute: `refcount - 1`, so 0 for an
    /// unmergeable cache and one less than the number of names for a merged group.
    pub aliases: u32,
    /// `objs_per_slab`.
    pub objs_per_slab: u32,
    /// `order`: slab page order.
    pub order: u32,
    /// `hwcache_align`.
    pub hwcache_align: bool,
    /// `reclaim_account`.
    pub reclaim_account: bool,
    /// `cache_dma` (absent → false).
    pub cache_dma: bool,
    /// `destroy_by_rcu` (`SLAB_TYPESAFE_BY_RCU`).
    pub destroy_by_rcu: bool,
    /// `poison` (absent → false).
    pub poison: bool,
    /// `red_zone` (absent → false).
    pub red_zone: bool,
    /// `store_user` (absent → false).
    pub store_user: bool,
    /// `sanity_checks` (absent → false).
    pub sanity_checks: bool,
    /// `usersize`: the hardened-usercopy whitelist size (absent → 0).
    pub usersize: u32,
    /// `sheaf_capacity`, 0 = no sheaves (absent, as on kernels before 6.18 → 0).
    pub sheaf_capacity: u32,
    /// Constructor symbol, without the `+0x0/0x20` offset/size suffix the
    /// kernel prints; `None` if empty.
    pub ctor: Option<String>,
    /// `objects`: live objects (first number of the attribute; absent → 0).
    pub objects: u64,
    /// `slabs`: slabs in use (first number of the attribute; absent → 0).
    pub slabs: u64,
    /// Which of the values above the snapshot really gave. A field not in
    /// `known` holds 0 / false / `None` as a placeholder, not a reading. The
    /// census TSV and the directory/tar readers give [`Known::ALL`]; `ls -l`,
    /// `slabinfo` and `/proc/slabinfo` text give less (see [`crate::input::snapshot`]).
    pub known: Known,
}

/// A sysfs census: cache directories and alias symlinks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// The entries, in file order (from sysfs: directories, then symlinks,
    /// each sorted by name, as in the bundled file).
    pub rows: Vec<CensusRow>,
}

/// The per-cache sysfs attributes that must be present (a kernel always has them).
pub(crate) const REQUIRED: [&str; 9] = [
    "object_size",
    "slab_size",
    "align",
    "aliases",
    "objs_per_slab",
    "order",
    "hwcache_align",
    "reclaim_account",
    "destroy_by_rcu",
];

/// `init_once+0x0/0x20 [xfs]` → `init_once`; empty or `-` → `None`.
fn ctor_symbol(text: &str) -> Option<String> {
    let sym = text.trim().split('+').next().unwrap_or("").trim();
    match sym {
        "" | "-" => None,
        s => Some(s.to_owned()),
    }
}

/// The value columns of a census row (everything but name, kind and target).
pub(crate) struct Values {
    object_size: u32,
    slab_size: u32,
    align: u32,
    aliases: u32,
    objs_per_slab: u32,
    order: u32,
    hwcache_align: bool,
    reclaim_account: bool,
    cache_dma: bool,
    destroy_by_rcu: bool,
    poison: bool,
    red_zone: bool,
    store_user: bool,
    sanity_checks: bool,
    usersize: u32,
    sheaf_capacity: u32,
    ctor: Option<String>,
    objects: u64,
    slabs: u64,
}

impl Values {
    /// Reads every value through `get`, which returns `Ok(None)` for an absent
    /// optional attribute.
    pub(crate) fn read<G>(mut get: G) -> Result<Values, ParseError>
    where
        G: FnMut(&str, Kind) -> Result<Option<Value>, ParseError>,
    {
        let mut num = |name: &str| -> Result<u32, ParseError> {
            Ok(match get(name, Kind::U32)? {
                Some(Value::U32(v)) => v,
                _ => 0,
            })
        };
        let object_size = num("object_size")?;
        let slab_size = num("slab_size")?;
        let align = num("align")?;
        let aliases = num("aliases")?;
        let objs_per_slab = num("objs_per_slab")?;
        let order = num("order")?;
        let usersize = num("usersize")?;
        let sheaf_capacity = num("sheaf_capacity")?;
        let mut flag =
            |name: &str| -> Result<bool, ParseError> { Ok(matches!(get(name, Kind::Bool)?, Some(Value::Bool(true)))) };
        let hwcache_align = flag("hwcache_align")?;
        let reclaim_account = flag("reclaim_account")?;
        let cache_dma = flag("cache_dma")?;
        let destroy_by_rcu = flag("destroy_by_rcu")?;
        let poison = flag("poison")?;
        let red_zone = flag("red_zone")?;
        let store_user = flag("store_user")?;
        let sanity_checks = flag("sanity_checks")?;
        let mut big = |name: &str| -> Result<u64, ParseError> {
            Ok(match get(name, Kind::U64)? {
                Some(Value::U64(v)) => v,
                _ => 0,
            })
        };
        let objects = big("objects")?;
        let slabs = big("slabs")?;
        let ctor = match get("ctor", Kind::Ctor)? {
            Some(Value::Ctor(c)) => c,
            _ => None,
        };
        Ok(Values {
            object_size,
            slab_size,
            align,
            aliases,
            objs_per_slab,
            order,
            hwcache_align,
            reclaim_account,
            cache_dma,
            destroy_by_rcu,
            poison,
            red_zone,
            store_user,
            sanity_checks,
            usersize,
            sheaf_capacity,
            ctor,
            objects,
            slabs,
        })
    }

    pub(crate) fn of(row: &CensusRow) -> Values {
        Values {
            object_size: row.object_size,
            slab_size: row.slab_size,
            align: row.align,
            aliases: row.aliases,
            objs_per_slab: row.objs_per_slab,
            order: row.order,
            hwcache_align: row.hwcache_align,
            reclaim_account: row.reclaim_account,
            cache_dma: row.cache_dma,
            destroy_by_rcu: row.destroy_by_rcu,
            poison: row.poison,
            red_zone: row.red_zone,
            store_user: row.store_user,
            sanity_checks: row.sanity_checks,
            usersize: row.usersize,
            sheaf_capacity: row.sheaf_capacity,
            ctor: row.ctor.clone(),
            objects: row.objects,
            slabs: row.slabs,
        }
    }

    pub(crate) fn into_row(self, name: String, kind: CensusKind, target: Option<String>) -> CensusRow {
        CensusRow {
            name,
            kind,
            target,
            object_size: self.object_size,
            slab_size: self.slab_size,
            align: self.align,
            aliases: self.aliases,
            objs_per_slab: self.objs_per_slab,
            order: self.order,
            hwcache_align: self.hwcache_align,
            reclaim_account: self.reclaim_account,
            cache_dma: self.cache_dma,
            destroy_by_rcu: self.destroy_by_rcu,
            poison: self.poison,
            red_zone: self.red_zone,
            store_user: self.store_user,
            sanity_checks: self.sanity_checks,
            usersize: self.usersize,
            sheaf_capacity: self.sheaf_capacity,
            ctor: self.ctor,
            objects: self.objects,
            slabs: self.slabs,
            known: Known::ALL,
        }
    }
}

/// How an attribute is parsed.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    U32,
    U64,
    Bool,
    Ctor,
}

/// A parsed attribute.
pub(crate) enum Value {
    U32(u32),
    U64(u64),
    Bool(bool),
    Ctor(Option<String>),
}

/// Parses one attribute value; on failure, what was expected.
pub(crate) fn parse_value(text: &str, kind: Kind) -> Result<Value, &'static str> {
    match kind {
        Kind::U32 => text.trim().parse().map(Value::U32).map_err(|_| "expected a non-negative integer"),
        Kind::U64 => parse_first_u64(text).map(Value::U64).ok_or("expected a non-negative integer"),
        Kind::Bool => parse_bool01(text).map(Value::Bool).ok_or("expected 0 or 1"),
        Kind::Ctor => Ok(Value::Ctor(ctor_symbol(text))),
    }
}

/// A TSV row before its alias values are resolved.
struct Pending {
    line: usize,
    name: String,
    kind: CensusKind,
    target: Option<String>,
    values: Option<Values>,
}

fn parse_record(
    rec: &Record<'_>,
    header: &Header<'_>,
    name_col: usize,
    kind_col: usize,
    target_col: usize,
) -> Result<Pending, ParseError> {
    let fields = rec.fields.len();
    let short_len = name_col.max(kind_col).max(target_col) + 1;
    let kind_text = rec.fields.get(kind_col).map(|k| k.trim());
    let short_alias = fields == short_len && kind_text == Some("alias");
    if fields != header.len() && !short_alias {
        return Err(rec.error(format!(
            "expected {} tab-separated fields as in the header (or {short_len} for an alias row), found {fields}",
            header.len()
        )));
    }
    let name = rec.text(name_col).trim();
    if name.is_empty() {
        return Err(rec.error("column `name`: empty entry name"));
    }
    let kind = match rec.text(kind_col).trim() {
        "cache" => CensusKind::Cache,
        "alias" => CensusKind::Alias,
        other => {
            return Err(rec.error(format!("column `kind`: expected cache or alias, found {other:?}")));
        }
    };
    let target = match (kind, rec.text(target_col).trim()) {
        (CensusKind::Cache, "-" | "") => None,
        (CensusKind::Cache, t) => {
            return Err(rec.error(format!("column `target`: cache `{name}` has target {t:?} (expected -)")));
        }
        (CensusKind::Alias, "-" | "") => {
            return Err(rec.error(format!("column `target`: alias `{name}` has no target")));
        }
        (CensusKind::Alias, t) => Some(t.to_owned()),
    };
    let values = if short_alias {
        None
    } else {
        Some(Values::read(|column, kind| {
            let Some(idx) = header.optional(column) else {
                return if REQUIRED.contains(&column) { Err(header.require(column).unwrap_err()) } else { Ok(None) };
            };
            let text = rec.text(idx);
            parse_value(text, kind)
                .map(Some)
                .map_err(|why| rec.error(format!("column `{column}`: {why}, found {text:?}")))
        })?)
    };
    Ok(Pending { line: rec.line, name: name.to_owned(), kind, target, values })
}

/// Checks name uniqueness and alias targets, then copies each short alias
/// row's values from its target.
fn resolve(pending: Vec<Pending>) -> Result<Census, ParseError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for p in &pending {
        if let Some(first) = seen.insert(&p.name, p.line) {
            return Err(ParseError::new(p.line, format!("duplicate name `{}` (first on line {first})", p.name)));
        }
    }
    let dirs: HashMap<&str, &Pending> =
        pending.iter().filter(|p| p.kind == CensusKind::Cache).map(|p| (p.name.as_str(), p)).collect();
    for p in pending.iter().filter(|p| p.kind == CensusKind::Alias) {
        let target = p.target.as_deref().unwrap_or_default();
        if !dirs.contains_key(target) {
            return Err(ParseError::new(
                p.line,
                format!("alias `{}` points to `{target}`, which is not a cache directory of the census", p.name),
            ));
        }
    }
    // Directories first, so that short alias rows can copy their target's values.
    let mut rows: Vec<Option<CensusRow>> = vec![None; pending.len()];
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut later = Vec::new();
    for (i, p) in pending.into_iter().enumerate() {
        match p.values {
            Some(v) => {
                if p.kind == CensusKind::Cache {
                    by_name.insert(p.name.clone(), i);
                }
                rows[i] = Some(v.into_row(p.name, p.kind, p.target));
            }
            None => later.push((i, p)),
        }
    }
    for (i, p) in later {
        let t = by_name[p.target.as_deref().unwrap_or_default()];
        let v = Values::of(rows[t].as_ref().expect("directories are resolved first"));
        rows[i] = Some(v.into_row(p.name, p.kind, p.target));
    }
    Ok(Census { rows: rows.into_iter().map(|r| r.expect("every row resolved")).collect() })
}

impl Census {
    /// Parses a census TSV. Checks the header (required columns, no duplicates),
    /// field counts, numbers and 0/1 flags, `kind`/`target` consistency, unique
    /// names and that every alias points to a cache directory of the file.
    pub fn parse(text: &str) -> Result<Census, ParseError> {
        let table = Table::split(text)?;
        let h = &table.header;
        let (name_col, kind_col, target_col) = (h.require("name")?, h.require("kind")?, h.require("target")?);
        for column in REQUIRED {
            h.require(column)?;
        }
        let pending = table
            .records
            .iter()
            .map(|rec| parse_record(rec, h, name_col, kind_col, target_col))
            .collect::<Result<Vec<_>, _>>()?;
        resolve(pending)
    }

    /// Reads and parses a census file. An I/O error is a [`ParseError`] on
    /// line 0 naming the path. The file is read bounded
    /// ([`crate::input::tsv::read_table_file`]), and a census with no row is
    /// an error (it would give a workload of nothing).
    pub fn load(path: &Path) -> Result<Census, ParseError> {
        let text = crate::input::tsv::read_table_file(path)?;
        let census = Census::parse(&text)?;
        if census.rows.is_empty() {
            return Err(ParseError::new(
                0,
                format!("{}: no cache in the census (empty, or a header alone)", path.display()),
            ));
        }
        Ok(census)
    }

    /// The bundled Linux 6.18 x86_64 census (235 caches, 194 aliases).
    pub fn bundled() -> Census {
        Census::parse(include_str!("../../data/slab-census-linux-6.18-x86_64.tsv")).expect("the bundled census parses")
    }

    /// The cache directory called `dir` (alias rows are not matched).
    pub fn cache(&self, dir: &str) -> Option<&CensusRow> {
        self.caches().find(|r| r.name == dir)
    }

    /// The cache directories, in file order.
    pub fn caches(&self) -> impl Iterator<Item = &CensusRow> {
        self.rows.iter().filter(|r| r.kind == CensusKind::Cache)
    }

    /// Directory → every name living there: the directory's own name for a
    /// self-named cache (one not starting with `:`), then the alias names
    /// pointing at it, in file order. Comparable with
    /// [`crate::input::trace::Trace::kernel_groups`] up to the order of the names.
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for dir in self.caches() {
            let names = groups.entry(dir.name.clone()).or_default();
            if !dir.name.starts_with(':') {
                names.push(dir.name.clone());
            }
        }
        for alias in self.rows.iter().filter(|r| r.kind == CensusKind::Alias) {
            if let Some(t) = &alias.target {
                groups.entry(t.clone()).or_default().push(alias.name.clone());
            }
        }
        groups
    }

    /// Reads a directory laid out like `/sys/kernel/slab`: each cache a
    /// subdirectory of one-value attribute files, each alias a symlink whose
    /// target's file name is the cache directory. Required attributes are
    /// those the kernel always has (`object_size`, `slab_size`, `align`,
    /// `aliases`, `objs_per_slab`, `order`, `hwcache_align`,
    /// `reclaim_account`, `destroy_by_rcu`); missing optional ones
    /// (configuration-dependent, or `sheaf_capacity` before 6.18) are 0/false/none.
    /// `ctor` keeps the symbol before `+`; `objects` and `slabs` their first number.
    /// Other top-level entries (regular files) are ignored. Errors are on
    /// line 0 and name the file. Rows come out as directories then aliases,
    /// each sorted by name.
    pub fn from_sysfs_dir(path: &Path) -> Result<Census, ParseError> {
        let io = |p: &Path, e: std::io::Error| ParseError::io(p, &e);
        let mut dirs: Vec<String> = Vec::new();
        let mut links: Vec<(String, String)> = Vec::new();
        for entry in fs::read_dir(path).map_err(|e| io(path, e))? {
            let entry = entry.map_err(|e| io(path, e))?;
            let entry_path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let ft = entry.file_type().map_err(|e| io(&entry_path, e))?;
            if ft.is_symlink() {
                let target = fs::read_link(&entry_path).map_err(|e| io(&entry_path, e))?;
                let target = target.file_name().map(|t| t.to_string_lossy().into_owned()).ok_or_else(|| {
                    ParseError::new(
                        0,
                        format!("{}: symlink target {} has no file name", entry_path.display(), target.display()),
                    )
                })?;
                links.push((name, target));
            } else if ft.is_dir() {
                dirs.push(name);
            }
        }
        dirs.sort();
        links.sort();
        let mut rows = Vec::with_capacity(dirs.len() + links.len());
        for dir in &dirs {
            let dir_path = path.join(dir);
            let values = Values::read(|attr, kind| {
                let file = dir_path.join(attr);
                let text = match fs::read_to_string(&file) {
                    Ok(t) => t,
                    Err(e) if e.kind() == ErrorKind::NotFound && !REQUIRED.contains(&attr) => {
                        return Ok(None);
                    }
                    Err(e) => return Err(io(&file, e)),
                };
                parse_value(&text, kind).map(Some).map_err(|why| {
                    ParseError::new(0, format!("{}: {why}, found {:?}", file.display(), text.trim_end()))
                })
            })?;
            rows.push(values.into_row(dir.clone(), CensusKind::Cache, None));
        }
        for (name, target) in links {
            let Some(t) = rows.iter().position(|r: &CensusRow| r.name == target) else {
                return Err(ParseError::new(
                    0,
                    format!(
                        "{}: alias points to `{target}`, which is not a cache directory",
                        path.join(&name).display()
                    ),
                ));
            };
            let values = Values::of(&rows[t]);
            rows.push(values.into_row(name, CensusKind::Alias, Some(target)));
        }
        Ok(Census { rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::trace::Trace;
    use std::path::PathBuf;

    const BUNDLED: &str = include_str!("../../data/slab-census-linux-6.18-x86_64.tsv");

    /// Header, the first four directory lines (lines 2-5) and the alias
    /// lines whose target is among them.
    fn sample() -> Vec<String> {
        let lines: Vec<&str> = BUNDLED.lines().collect();
        let mut out = vec![lines[0].to_owned()];
        out.extend(lines[1..5].iter().map(|l| l.to_string()));
        let dirs: Vec<&str> = lines[1..5].iter().map(|l| l.split('\t').next().unwrap()).collect();
        out.extend(
            lines
                .iter()
                .filter(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    f[1] == "alias" && dirs.contains(&f[2])
                })
                .map(|l| l.to_string()),
        );
        out
    }

    fn set_field(lines: &mut [String], line: usize, column: &str, value: &str) {
        let idx = lines[0].split('\t').position(|c| c == column).unwrap();
        let mut fields: Vec<&str> = lines[line - 1].split('\t').collect();
        fields[idx] = value;
        lines[line - 1] = fields.join("\t");
    }

    fn parse_err(lines: &[String]) -> ParseError {
        Census::parse(&lines.join("\n")).expect_err("malformed census must not parse")
    }

    #[test]
    fn bundled_census_counts() {
        let c = Census::bundled();
        assert_eq!(c.caches().count(), 235);
        assert_eq!(c.rows.iter().filter(|r| r.kind == CensusKind::Alias).count(), 194);
        let groups = c.groups();
        assert_eq!(groups.len(), 235);
        assert_eq!(groups.values().map(Vec::len).sum::<usize>(), 333);
        let merged = c.caches().filter(|r| r.name.starts_with(':')).count();
        assert_eq!(merged, 96);
        // the sysfs `aliases` attribute is refcount - 1
        for dir in c.caches() {
            assert_eq!(dir.aliases as usize + 1, groups[&dir.name].len(), "{}", dir.name);
        }
    }

    #[test]
    fn alias_rows_carry_their_targets_values() {
        let c = Census::bundled();
        let vsock = c.rows.iter().find(|r| r.name == "AF_VSOCK").unwrap();
        assert_eq!(vsock.kind, CensusKind::Alias);
        assert_eq!(vsock.target.as_deref(), Some(":A-0001280"));
        let dir = c.cache(":A-0001280").unwrap();
        assert_eq!(
            Values::of(vsock).into_row(String::new(), CensusKind::Cache, None),
            Values::of(dir).into_row(String::new(), CensusKind::Cache, None)
        );
        assert!(c.cache("AF_VSOCK").is_none());
        let anon = c.cache("anon_vma").unwrap();
        assert_eq!(anon.ctor.as_deref(), Some("anon_vma_ctor"));
        assert_eq!(anon.aliases, 0);
        assert_eq!(c.cache(":0000024").unwrap().ctor, None);
        assert_eq!(c.cache("maple_node").unwrap().sheaf_capacity, 32);
    }

    #[test]
    fn census_groups_match_trace_kernel_groups() {
        let trace = Trace::bundled().kernel_groups();
        let mut census = Census::bundled().groups();
        for names in census.values_mut() {
            names.sort();
        }
        let mut trace_sorted = trace.clone();
        for names in trace_sorted.values_mut() {
            names.sort();
        }
        assert_eq!(census, trace_sorted);
        // and every trace ctor is the census ctor symbol of its directory
        let c = Census::bundled();
        for row in Trace::bundled().rows {
            assert_eq!(row.ctor, c.cache(&row.kernel_dir).unwrap().ctor, "{}", row.name);
        }
    }

    #[test]
    fn sample_parses() {
        let c = Census::parse(&sample().join("\n")).unwrap();
        assert_eq!(c.caches().count(), 4);
        assert!(c.rows.len() > 4);
    }

    #[test]
    fn wrong_field_count() {
        let mut lines = sample();
        lines[2].push_str("\t7");
        let e = parse_err(&lines);
        assert_eq!(e.line, 3);
        assert!(e.message.contains("expected 22"), "{e}");
        assert!(e.message.contains("found 23"), "{e}");

        // a cache row may not be cut short like an alias row
        let mut lines = sample();
        lines[1] = lines[1].split('\t').take(3).collect::<Vec<_>>().join("\t");
        let e = parse_err(&lines);
        assert_eq!(e.line, 2);
        assert!(e.message.contains("found 3"), "{e}");

        let mut lines = sample();
        lines[6].push_str("\t1");
        assert_eq!(parse_err(&lines).line, 7);
    }

    #[test]
    fn non_numeric_size() {
        let mut lines = sample();
        set_field(&mut lines, 4, "object_size", "4O");
        let e = parse_err(&lines);
        assert_eq!(e.line, 4);
        assert!(e.message.contains("`object_size`"), "{e}");
        assert!(e.message.contains("\"4O\""), "{e}");
    }

    #[test]
    fn bad_bool() {
        let mut lines = sample();
        set_field(&mut lines, 5, "hwcache_align", "true");
        let e = parse_err(&lines);
        assert_eq!(e.line, 5);
        assert_eq!(e.message, "column `hwcache_align`: expected 0 or 1, found \"true\"");
    }

    #[test]
    fn duplicate_name() {
        let mut lines = sample();
        let n = lines.len();
        set_field(&mut lines, n, "name", ":0000032");
        let e = parse_err(&lines);
        assert_eq!(e.line, n);
        assert!(e.message.contains("duplicate name `:0000032` (first on line 3)"), "{e}");
    }

    #[test]
    fn missing_required_column() {
        let lines = sample();
        let header: Vec<&str> = lines[0].split('\t').collect();
        let drop = header.iter().position(|c| *c == "slab_size").unwrap();
        let text: String = lines
            .iter()
            .map(|l| {
                let mut f: Vec<&str> = l.split('\t').collect();
                if f.len() > drop {
                    f.remove(drop);
                }
                f.join("\t") + "\n"
            })
            .collect();
        let e = Census::parse(&text).unwrap_err();
        assert_eq!(e.line, 1);
        assert_eq!(e.message, "missing required column `slab_size` in the header");
    }

    #[test]
    fn bad_kind_and_dangling_alias() {
        let mut lines = sample();
        set_field(&mut lines, 3, "kind", "dir");
        let e = parse_err(&lines);
        assert_eq!(e.line, 3);
        assert!(e.message.contains("`kind`"), "{e}");

        let mut lines = sample();
        let n = lines.len();
        set_field(&mut lines, n, "target", ":nowhere");
        let e = parse_err(&lines);
        assert_eq!(e.line, n);
        assert!(e.message.contains("`:nowhere`"), "{e}");
    }

    #[test]
    fn optional_columns_default() {
        let text = "kind\tname\ttarget\tobject_size\tslab_size\talign\taliases\tobjs_per_slab\torder\thwcache_align\treclaim_account\tdestroy_by_rcu\n\
                    cache\t:0000064\t-\t64\t64\t8\t1\t64\t0\t0\t0\t0\n\
                    alias\tfoo\t:0000064\n\
                    alias\tbar\t:0000064\n\
                    cache\tdentry\t-\t192\t192\t8\t0\t21\t0\t0\t1\t0\n";
        let c = Census::parse(text).unwrap();
        assert_eq!(c.rows.len(), 4);
        let d = c.cache("dentry").unwrap();
        assert!(d.reclaim_account && !d.poison && d.ctor.is_none());
        assert_eq!((d.usersize, d.sheaf_capacity, d.objects, d.slabs), (0, 0, 0, 0));
        assert_eq!(c.rows[1].object_size, 64);
        assert_eq!(c.groups()[":0000064"], vec!["foo", "bar"]);
        assert_eq!(c.groups()["dentry"], vec!["dentry"]);
    }

    /// A temporary directory removed on drop (also when a test fails).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
            let dir = std::env::temp_dir().join(format!(
                "slabmerge-{tag}-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write_cache(root: &Path, name: &str, attrs: &[(&str, &str)]) {
        let dir = root.join(name);
        fs::create_dir(&dir).unwrap();
        for (attr, value) in attrs {
            fs::write(dir.join(attr), format!("{value}\n")).unwrap();
        }
    }

    /// A fake `/sys/kernel/slab` with one merged group (two symlinks) and one
    /// self-named cache lacking the optional attributes.
    fn fake_tree(tmp: &TempDir) {
        let root = &tmp.0;
        write_cache(
            root,
            ":A-0000064",
            &[
                ("object_size", "64"),
                ("slab_size", "64"),
                ("align", "8"),
                ("aliases", "1"),
                ("objs_per_slab", "64"),
                ("order", "0"),
                ("hwcache_align", "0"),
                ("reclaim_account", "0"),
                ("cache_dma", "0"),
                ("destroy_by_rcu", "0"),
                ("poison", "0"),
                ("red_zone", "0"),
                ("store_user", "0"),
                ("sanity_checks", "0"),
                ("usersize", "0"),
                ("sheaf_capacity", "0"),
                ("ctor", ""),
                ("objects", "123 N0=123"),
                ("slabs", "2 N0=2"),
            ],
        );
        write_cache(
            root,
            "xfs_inode",
            &[
                ("object_size", "1016"),
                ("slab_size", "1024"),
                ("align", "8"),
                ("aliases", "0"),
                ("objs_per_slab", "32"),
                ("order", "3"),
                ("hwcache_align", "0"),
                ("reclaim_account", "1"),
                ("destroy_by_rcu", "0"),
                ("usersize", "0"),
                ("ctor", "xfs_fs_inode_init_once+0x0/0x70 [xfs]"),
                ("objects", "7"),
            ],
        );
        std::os::unix::fs::symlink(":A-0000064", root.join("pid_namespace")).unwrap();
        std::os::unix::fs::symlink("../slab/:A-0000064", root.join("fs_cache")).unwrap();
        fs::write(root.join("README"), "not a cache\n").unwrap();
    }

    #[test]
    fn from_sysfs_dir_reads_a_fake_tree() {
        let tmp = TempDir::new("sysfs");
        fake_tree(&tmp);
        let c = Census::from_sysfs_dir(&tmp.0).unwrap();
        let names: Vec<&str> = c.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, [":A-0000064", "xfs_inode", "fs_cache", "pid_namespace"]);
        let merged = c.cache(":A-0000064").unwrap();
        assert_eq!((merged.objects, merged.slabs, merged.ctor.clone()), (123, 2, None));
        let xfs = c.cache("xfs_inode").unwrap();
        assert_eq!(xfs.ctor.as_deref(), Some("xfs_fs_inode_init_once"));
        assert!(xfs.reclaim_account && !xfs.cache_dma && !xfs.poison);
        assert_eq!((xfs.sheaf_capacity, xfs.objects, xfs.slabs), (0, 7, 0));
        assert_eq!((xfs.object_size, xfs.slab_size, xfs.order), (1016, 1024, 3));
        let alias = &c.rows[2];
        assert_eq!(alias.kind, CensusKind::Alias);
        assert_eq!(alias.target.as_deref(), Some(":A-0000064"));
        assert_eq!(alias.objects, 123);
        let groups = c.groups();
        assert_eq!(groups[":A-0000064"], vec!["fs_cache", "pid_namespace"]);
        assert_eq!(groups["xfs_inode"], vec!["xfs_inode"]);
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn from_sysfs_dir_errors_name_the_file() {
        let tmp = TempDir::new("sysfs-missing");
        fake_tree(&tmp);
        fs::remove_file(tmp.0.join("xfs_inode/slab_size")).unwrap();
        let e = Census::from_sysfs_dir(&tmp.0).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.contains("xfs_inode/slab_size"), "{e}");

        let tmp = TempDir::new("sysfs-bad");
        fake_tree(&tmp);
        fs::write(tmp.0.join(":A-0000064/poison"), "maybe\n").unwrap();
        let e = Census::from_sysfs_dir(&tmp.0).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.contains(":A-0000064/poison"), "{e}");
        assert!(e.message.contains("expected 0 or 1"), "{e}");

        let tmp = TempDir::new("sysfs-dangling");
        fake_tree(&tmp);
        std::os::unix::fs::symlink(":0000008", tmp.0.join("dangling")).unwrap();
        let e = Census::from_sysfs_dir(&tmp.0).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.contains("dangling"), "{e}");
        assert!(e.message.contains("`:0000008`"), "{e}");

        let gone = tmp.0.join("no-such-dir");
        let e = Census::from_sysfs_dir(&gone).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.contains("no-such-dir"), "{e}");
    }

    #[test]
    fn temp_dirs_are_removed() {
        let path = {
            let tmp = TempDir::new("cleanup");
            fake_tree(&tmp);
            tmp.0.clone()
        };
        assert!(!path.exists());
    }

    #[test]
    fn load_reports_io_errors_on_line_0() {
        let e = Census::load(Path::new("/nonexistent/census.tsv")).unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.message.contains("/nonexistent/census.tsv"), "{e}");
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/slab-census-linux-6.18-x86_64.tsv");
        assert_eq!(Census::load(&here).unwrap(), Census::bundled());
    }
}
