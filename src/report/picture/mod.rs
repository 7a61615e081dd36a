//! A picture of the report: one column per scheme, one row per merged group.
//!
//! Rows are mainline's merged groups (plus any group another scheme forms
//! that mainline splits), the groups that differ from mainline first. Each
//! cell shows how the scheme partitions the row's names: one grey box when
//! the scheme shares storage exactly as mainline does; a red box (with the
//! count of names lost) for a group that lost members, and a small box for
//! each name left alone, orange for a static instance; a dashed red box when
//! no name of the row shares storage at all (`slab_nomerge`); a blue box for a
//! group that also holds names from outside the row. Names of static
//! instances are bold orange in the schemes that make them static.
//! Singleton groups that no row shows are counted in each column's header.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{ComparativeReport, ReportScheme, SchemeReport};

const COL_WIDTH: f64 = 300.0;
const COL_GAP: f64 = 12.0;
const MARGIN: f64 = 20.0;
const LINE: f64 = 13.0;
const HEADER: f64 = 15.0;
const PAD: f64 = 5.0;
const PART_GAP: f64 = 4.0;
const ROW_GAP: f64 = 8.0;
const CHAR_WIDTH: f64 = 6.6;

/// Escapes text for XML and HTML.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The row's names that one group of a scheme holds.
struct Part {
    dir: String,
    names: Vec<String>,
    /// Names of that group outside the row.
    extra: usize,
}

/// One row: a set of names, and each scheme's partition of it.
struct Row {
    title: String,
    names: Vec<String>,
    cells: Vec<Vec<Part>>,
    differs: bool,
}

enum CellKind {
    Same,
    Joined,
    NoneShared,
    Split,
}

fn cell_kind(parts: &[Part]) -> CellKind {
    match parts {
        [one] if one.extra == 0 => CellKind::Same,
        [_] => CellKind::Joined,
        parts if parts.iter().all(|p| p.names.len() == 1) => CellKind::NoneShared,
        _ => CellKind::Split,
    }
}

fn group_index(s: &SchemeReport) -> BTreeMap<&str, usize> {
    let mut index = BTreeMap::new();
    for (i, g) in s.groups.iter().enumerate() {
        for n in &g.names {
            index.insert(n.as_str(), i);
        }
    }
    index
}

fn partition(s: &SchemeReport, index: &BTreeMap<&str, usize>, names: &[String]) -> Vec<Part> {
    let mut parts: Vec<(Option<usize>, Part)> = Vec::new();
    for n in names {
        let g = index.get(n.as_str()).copied();
        match parts.iter_mut().find(|(k, _)| g.is_some() && *k == g) {
            Some((_, part)) => part.names.push(n.clone()),
            None => {
                let dir = g.map_or_else(|| "(creation failed)".to_owned(), |g| s.groups[g].dir.clone());
                parts.push((g, Part { dir, names: vec![n.clone()], extra: 0 }));
            }
        }
    }
    for (g, part) in &mut parts {
        if let Some(g) = g {
            part.extra = s.groups[*g].names.len() - part.names.len();
        }
    }
    // The largest part first, so a split reads "group, then what left it".
    parts.sort_by_key(|(_, p)| std::cmp::Reverse(p.names.len()));
    parts.into_iter().map(|(_, p)| p).collect()
}

fn rows(report: &ComparativeReport) -> Vec<Row> {
    let mainline = report.scheme(ReportScheme::Mainline).unwrap_or(&report.schemes[0]);
    let indexes: Vec<BTreeMap<&str, usize>> = report.schemes.iter().map(group_index).collect();
    let main_index = group_index(mainline);
    let mut keys: Vec<(String, Vec<String>)> =
        mainline.groups.iter().filter(|g| g.names.len() > 1).map(|g| (g.dir.clone(), g.names.clone())).collect();
    let mut seen: BTreeSet<Vec<String>> = keys
        .iter()
        .map(|(_, n)| {
            let mut n = n.clone();
            n.sort();
            n
        })
        .collect();
    for s in &report.schemes {
        for g in s.groups.iter().filter(|g| g.names.len() > 1) {
            let homes: BTreeSet<Option<usize>> = g
                .names
                .iter()
                .map(|n| main_index.get(n.as_str()).copied().filter(|&i| mainline.groups[i].names.len() > 1))
                .collect();
            let within_one = homes.len() == 1 && homes.iter().all(Option::is_some);
            let mut sorted = g.names.clone();
            sorted.sort();
            if !within_one && seen.insert(sorted) {
                keys.push((format!("{} {}", s.scheme, g.dir), g.names.clone()));
            }
        }
    }
    let mut rows: Vec<Row> =
        keys.into_iter()
            .map(|(title, names)| {
                let cells: Vec<Vec<Part>> =
                    report.schemes.iter().zip(&indexes).map(|(s, index)| partition(s, index, &names)).collect();
                let differs =
                    report.schemes.iter().zip(&cells).any(|(s, parts)| {
                        s.scheme != ReportScheme::Nomerge && !matches!(cell_kind(parts), CellKind::Same)
                    });
                Row { title, names, cells, differs }
            })
            .collect();
    rows.sort_by_key(|r| !r.differs);
    rows
}

/// Wraps names (separated by ", ") into lines of at most `width` characters.
fn wrap(names: &[String], width: usize) -> Vec<Vec<String>> {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut used = 0;
    for (i, n) in names.iter().enumerate() {
        let token = n.chars().count() + if i + 1 < names.len() { 1 } else { 0 };
        match lines.last_mut() {
            Some(line) if used + 1 + token <= width => {
                line.push(n.clone());
                used += 1 + token;
            }
            _ => {
                lines.push(vec![n.clone()]);
                used = token;
            }
        }
    }
    lines
}

struct Style {
    stroke: &'static str,
    fill: &'static str,
    dashed: bool,
}

const SAME: Style = Style { stroke: "#8a939c", fill: "#f3f5f7", dashed: false };
const LOST: Style = Style { stroke: "#c62828", fill: "#fff5f5", dashed: false };
const ALONE: Style = Style { stroke: "#c62828", fill: "#fde2e2", dashed: false };
const STATIC_ALONE: Style = Style { stroke: "#e65100", fill: "#ffe0b2", dashed: false };
const NONE_SHARED: Style = Style { stroke: "#c62828", fill: "#fdf0f0", dashed: true };
const JOINED: Style = Style { stroke: "#1565c0", fill: "#eef4fc", dashed: false };

/// One box to draw in a cell: style, header, names.
struct Boxed {
    style: &'static Style,
    header: String,
    names: Vec<String>,
}

fn boxes(parts: &[Part], statics: &BTreeSet<String>, marks_statics: bool) -> Vec<Boxed> {
    match cell_kind(parts) {
        CellKind::Same => {
            vec![Boxed { style: &SAME, header: parts[0].dir.clone(), names: parts[0].names.clone() }]
        }
        CellKind::Joined => vec![Boxed {
            style: &JOINED,
            header: format!("{} (+{} other names)", parts[0].dir, parts[0].extra),
            names: parts[0].names.clone(),
        }],
        CellKind::NoneShared => vec![Boxed {
            style: &NONE_SHARED,
            header: format!("no sharing: {} names alone", parts.len()),
            names: parts.iter().flat_map(|p| p.names.clone()).collect(),
        }],
        CellKind::Split => {
            let total: usize = parts.iter().map(|p| p.names.len()).sum();
            parts
                .iter()
                .map(|p| {
                    let alone = p.names.len() == 1 && p.extra == 0;
                    let is_static = marks_statics && statics.contains(&p.names[0]);
                    let (style, header) = match (alone, is_static) {
                        (true, true) => (&STATIC_ALONE, format!("{}: static alone", p.dir)),
                        (true, false) => (&ALONE, format!("{}: alone", p.dir)),
                        (false, _) => (&LOST, format!("{}: lost {}", p.dir, total - p.names.len())),
                    };
                    Boxed { style, header, names: p.names.clone() }
                })
                .collect()
        }
    }
}

fn box_height(b: &Boxed, chars: usize) -> f64 {
    HEADER + wrap(&b.names, chars).len() as f64 * LINE + 2.0 * PAD
}

fn draw_box(out: &mut String, b: &Boxed, x: f64, y: f64, statics: &BTreeSet<String>, marks_statics: bool) -> f64 {
    let chars = ((COL_WIDTH - 2.0 * PAD) / CHAR_WIDTH) as usize;
    let h = box_height(b, chars);
    let _ = writeln!(
        out,
        r#"<rect x="{x:.1}" y="{y:.1}" width="{COL_WIDTH:.1}" height="{h:.1}" rx="3" fill="{}" stroke="{}" stroke-width="1.4"{}/>"#,
        b.style.fill,
        b.style.stroke,
        if b.style.dashed { r#" stroke-dasharray="5,3""# } else { "" }
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" class="hdr" fill="{}">{}</text>"#,
        x + PAD,
        y + PAD + 10.0,
        b.style.stroke,
        xml_escape(&b.header)
    );
    let grey = std::ptr::eq(b.style, &NONE_SHARED);
    for (i, line) in wrap(&b.names, chars).iter().enumerate() {
        let ly = y + PAD + HEADER + LINE * (i as f64) + 9.0;
        let _ = write!(out, r#"<text x="{:.1}" y="{ly:.1}" class="nm{}">"#, x + PAD, if grey { " grey" } else { "" });
        for (j, n) in line.iter().enumerate() {
            let sep = if j > 0 { ", " } else { "" };
            if marks_statics && statics.contains(n) {
                let _ = write!(out, r#"{sep}<tspan class="st">{}</tspan>"#, xml_escape(n));
            } else {
                let _ = write!(out, "{sep}{}", xml_escape(n));
            }
        }
        let _ = writeln!(out, "</text>");
    }
    h
}

/// The report as an SVG picture.
pub fn svg(report: &ComparativeReport) -> String {
    let rows = rows(report);
    let statics: BTreeSet<String> = report.statics.image.iter().chain(&report.statics.module).cloned().collect();
    let ncols = report.schemes.len();
    let width = 2.0 * MARGIN + ncols as f64 * COL_WIDTH + (ncols.saturating_sub(1)) as f64 * COL_GAP;
    let shown: BTreeSet<&str> = rows.iter().flat_map(|r| r.names.iter().map(String::as_str)).collect();
    let mut body = String::new();
    let statics_list: Vec<String> = statics.iter().cloned().collect();
    let static_lines = wrap(&statics_list, ((width - 2.0 * MARGIN) / CHAR_WIDTH) as usize - 14);
    let mut y = 160.0 + 13.0 * static_lines.len().saturating_sub(1) as f64;
    // Column headers.
    for (c, s) in report.schemes.iter().enumerate() {
        let x = MARGIN + c as f64 * (COL_WIDTH + COL_GAP);
        let omitted = s.groups.iter().filter(|g| g.names.len() == 1 && !shown.contains(g.names[0].as_str())).count();
        let _ = writeln!(body, r#"<text x="{x:.1}" y="{y:.1}" class="col">{}</text>"#, xml_escape(s.scheme.name()));
        let _ = writeln!(
            body,
            r#"<text x="{x:.1}" y="{:.1}" class="sub">{} instances · {} shared · {} merges lost</text>"#,
            y + 15.0,
            s.instances(),
            s.shared_names,
            s.merges_lost.len()
        );
        let _ = writeln!(
            body,
            r#"<text x="{x:.1}" y="{:.1}" class="sub">{omitted} unmerged singletons not shown</text>"#,
            y + 29.0
        );
    }
    y += 44.0;
    let differing = rows.iter().filter(|r| r.differs).count();
    let identical_in: Vec<&str> =
        report.schemes.iter().map(|s| s.scheme).filter(|&s| s != ReportScheme::Nomerge).map(|s| s.name()).collect();
    let mut section = None;
    for row in &rows {
        if section != Some(row.differs) {
            section = Some(row.differs);
            let title = if row.differs {
                format!("Groups that differ from mainline ({differing})")
            } else {
                format!("Groups identical in {} ({})", identical_in.join(", "), rows.len() - differing)
            };
            let _ = writeln!(
                body,
                r##"<line x1="{MARGIN}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#444" stroke-width="1"/>"##,
                y + 4.0,
                width - MARGIN,
                y + 4.0
            );
            let _ =
                writeln!(body, r#"<text x="{MARGIN}" y="{:.1}" class="sec">{}</text>"#, y + 20.0, xml_escape(&title));
            y += 30.0;
        }
        // A tooltip naming the row: mainline's directory, or the scheme group it comes from.
        let _ = writeln!(body, "<g><title>{}</title>", xml_escape(&row.title));
        let mut row_h: f64 = 0.0;
        for (c, (s, parts)) in report.schemes.iter().zip(&row.cells).enumerate() {
            let x = MARGIN + c as f64 * (COL_WIDTH + COL_GAP);
            let mut cy = y;
            for b in boxes(parts, &statics, s.scheme.has_statics()) {
                let h = draw_box(&mut body, &b, x, cy, &statics, s.scheme.has_statics());
                cy += h + PART_GAP;
            }
            row_h = row_h.max(cy - y - PART_GAP);
        }
        body.push_str("</g>\n");
        y += row_h + ROW_GAP;
    }
    let height = y + MARGIN;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace">"#
    );
    let _ = writeln!(
        out,
        "<style>.ttl{{font-size:18px;font-weight:bold}} .sub{{font-size:11px;fill:#444}} \
         .col{{font-size:15px;font-weight:bold}} .sec{{font-size:13px;font-weight:bold;fill:#222}} \
         .hdr{{font-size:10.5px;font-weight:bold}} .nm{{font-size:11px;fill:#111}} .grey{{fill:#777}} \
         .st{{font-weight:bold;fill:#b34700}} .lg{{font-size:11px}}</style>"
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="30" class="ttl">Which names share slab storage: {} names of {}</text>"#,
        report.trace_names,
        xml_escape(&report.trace_label)
    );
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="50" class="sub">One column per scheme, one row per group of names that shares storage in mainline (or in another scheme); boxes show each scheme's groups of the row's names. Header of a box: its sysfs directory.</text>"#
    );
    let legend: [(&Style, &str); 6] = [
        (&SAME, "shared as in mainline"),
        (&LOST, "group that lost members"),
        (&ALONE, "name left alone"),
        (&STATIC_ALONE, "static instance left alone"),
        (&NONE_SHARED, "no name shares (slab_nomerge)"),
        (&JOINED, "group with names from outside the row"),
    ];
    for (i, (style, label)) in legend.iter().enumerate() {
        let x = MARGIN + (i % 3) as f64 * 330.0;
        let ly = 68.0 + (i / 3) as f64 * 22.0;
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{ly:.1}" width="26" height="14" rx="2" fill="{}" stroke="{}" stroke-width="1.4"{}/><text x="{:.1}" y="{:.1}" class="lg">{label}</text>"#,
            style.fill,
            style.stroke,
            if style.dashed { r#" stroke-dasharray="5,3""# } else { "" },
            x + 34.0,
            ly + 11.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{MARGIN}" y="120" class="lg">Bold orange names are static instances (in the schemes that make them static).</text>"#
    );
    for (i, line) in static_lines.iter().enumerate() {
        let _ = writeln!(
            out,
            r#"<text x="{MARGIN}" y="{:.1}" class="lg">{}{}</text>"#,
            134.0 + 13.0 * i as f64,
            if i == 0 { "Static set: " } else { "            " },
            xml_escape(&line.join(", "))
        );
    }
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// The report as an HTML page: the summary table and the picture.
pub fn html(report: &ComparativeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>slabmerge: {}</title>\n\
         <style>body{{font-family:sans-serif;margin:20px}} table{{border-collapse:collapse}} \
         td,th{{border:1px solid #bbb;padding:3px 8px}} td.n{{text-align:right}}</style></head><body>",
        xml_escape(&report.trace_label)
    );
    let _ = writeln!(out, "<h1>Slab cache merging by scheme</h1>");
    let _ = writeln!(out, "<p>Trace: {} ({} names).</p>", xml_escape(&report.trace_label), report.trace_names);
    let _ = writeln!(
        out,
        "<table><tr><th>scheme</th><th>names</th><th>instances</th><th>shared names</th><th>merges lost</th>\
         <th>statics merged</th><th>slab pages</th><th>total KiB</th><th>lost names</th></tr>"
    );
    for s in &report.schemes {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}/{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td>{}</td></tr>",
            s.scheme,
            s.names,
            s.instances(),
            s.shared_names,
            s.merges_lost.len(),
            s.statics_merged.len(),
            s.statics.len(),
            s.memory.slab_pages,
            s.memory.total_bytes as f64 / 1024.0,
            xml_escape(&s.merges_lost.join(", "))
        );
    }
    let _ = writeln!(out, "</table>");
    out.push_str(&svg(report));
    let _ = writeln!(out, "</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wrapping keeps every name and respects the width when names fit.
    #[test]
    fn wrap_keeps_names_within_width() {
        let names: Vec<String> = ["alpha", "beta", "gamma", "delta"].iter().map(|s| s.to_string()).collect();
        let lines = wrap(&names, 12);
        assert_eq!(lines.concat(), names);
        for (i, line) in lines.iter().enumerate() {
            // Every line but the last ends with the comma before the next name.
            let trailing = usize::from(i + 1 < lines.len());
            assert!(line.join(", ").len() + trailing <= 12, "{line:?}");
        }
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(xml_escape("a<b&\"c\""), "a&lt;b&amp;&quot;c&quot;");
    }
}
