//! Reads `/proc/slabinfo` (version 2.x, as `slabinfo_show()`/`cache_show()`
//! in `mm/slab_common.c` print it).
//!
//! The kernel prints one line per entry of `slab_caches`, that is one per
//! instance, by the instance's `s->name`: for a merged cache, the name it was
//! created with, never the `:…` directory, and never the names merged into
//! it. So alone it gives every instance but no alias. Per line it gives
//! `<objsize>` = `s->size` (the stride: sysfs `slab_size`, not
//! `object_size`), `<objperslab>`, `<pagesperslab>` = `1 << order`,
//! `<active_objs>` and `<num_slabs>` (live).

use super::evidence::{Evidence, Group, blank_row};
use super::known::Known;
use super::snapshot::{Coverage, ErrorKind, Format, SnapshotError};
use super::text::Line;

/// Whether the line is a data line (`… : tunables … : slabdata …`).
pub(crate) fn is_row(text: &str) -> bool {
    let t: Vec<&str> = text.split_whitespace().collect();
    let tun = t.iter().position(|x| *x == "tunables");
    let sd = t.iter().position(|x| *x == "slabdata");
    matches!((tun, sd), (Some(a), Some(b)) if a >= 1 && b > a && t[a - 1] == ":" && t[b - 1] == ":")
}

/// Whether the line has `: tunables` but lost its `: slabdata` part to a
/// mail client's line wrapping.
pub(crate) fn is_wrapped_head(text: &str) -> bool {
    text.contains(" : tunables ") && !text.contains("slabdata")
}

/// `slabinfo - version: X` → `X`.
pub(crate) fn version(text: &str) -> Option<&str> {
    text.strip_prefix("slabinfo - version:").map(str::trim)
}

/// The column header line.
pub(crate) fn is_header(text: &str) -> bool {
    text.starts_with("# name") && text.contains("<active_objs>")
}

fn num(tok: &str, what: &str) -> Result<u64, String> {
    tok.parse().map_err(|_| format!("`{what}`: expected a non-negative integer, found {tok:?}"))
}

/// One data line: (name, row values).
pub(crate) fn parse_row(text: &str) -> Result<(String, crate::input::census::CensusRow), String> {
    let t: Vec<&str> = text.split_whitespace().collect();
    let tun = t.iter().position(|x| *x == "tunables").unwrap_or(0);
    let sd = t.iter().position(|x| *x == "slabdata").unwrap_or(0);
    // name may hold spaces: everything before the last five numbers.
    if tun < 7 {
        return Err("expected `name <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables`".into());
    }
    let head = &t[..tun - 1];
    let nums = &head[head.len() - 5..];
    let name = head[..head.len() - 5].join(" ");
    if sd - tun != 5 || t.len() != sd + 4 {
        return Err("expected `: tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>`".into());
    }
    let active = num(nums[0], "active_objs")?;
    let _num_objs = num(nums[1], "num_objs")?;
    let objsize = num(nums[2], "objsize")?;
    let per_slab = num(nums[3], "objperslab")?;
    let pages = num(nums[4], "pagesperslab")?;
    for (i, w) in ["limit", "batchcount", "sharedfactor"].iter().enumerate() {
        num(t[tun + 1 + i], w)?;
    }
    let _active_slabs = num(t[sd + 1], "active_slabs")?;
    let num_slabs = num(t[sd + 2], "num_slabs")?;
    num(t[sd + 3], "sharedavail")?;
    if !pages.is_power_of_two() {
        return Err(format!("`pagesperslab` {pages} is not a power of two"));
    }
    let fit = |v: u64, w: &str| u32::try_from(v).map_err(|_| format!("`{w}` {v} too large"));
    let mut r = blank_row();
    r.slab_size = fit(objsize, "objsize")?;
    r.objs_per_slab = fit(per_slab, "objperslab")?;
    r.order = pages.trailing_zeros();
    r.objects = active;
    r.slabs = num_slabs;
    r.known = Known::SLAB_SIZE | Known::OBJS_PER_SLAB | Known::ORDER | Known::OBJECTS | Known::SLABS;
    Ok((name, r))
}

/// Evidence from the data lines of an input.
pub(crate) fn evidence(source: &str, rows: &[(&Line, String)], versioned: bool) -> Result<Evidence, SnapshotError> {
    let mut ev = Evidence::new(Format::ProcSlabinfo);
    let mut seen = std::collections::HashMap::new();
    for (line, text) in rows {
        let (name, values) = parse_row(text)
            .map_err(|m| SnapshotError::new(ErrorKind::Parse, source, line.no, format!("/proc/slabinfo line: {m}")))?;
        if let Some(first) = seen.insert(name.clone(), line.no) {
            return Err(SnapshotError::new(
                ErrorKind::Parse,
                source,
                line.no,
                format!("/proc/slabinfo lists `{name}` twice (first on line {first}): two copies pasted together?"),
            ));
        }
        ev.groups.push(Group { dir: None, names: vec![name], values, line: line.no });
    }
    ev.coverage = Coverage { instances: true, ..Coverage::default() };
    if !versioned {
        ev.notes.push("no `slabinfo - version:` header: assumed version 2.1 columns".to_owned());
    }
    ev.notes.push(
        "/proc/slabinfo lists one line per instance by the name it was created with: names merged into an \
         instance are invisible (groups unknown without an ls -l or slabinfo -a listing); it gives slab_size \
         (its <objsize> is s->size), objs_per_slab, order, objects (<active_objs>) and slabs (<num_slabs>); \
         object_size, align and every flag are unknown"
            .to_owned(),
    );
    Ok(ev)
}
