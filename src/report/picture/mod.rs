//! A picture of the report that answers where the schemes differ.
//!
//! By default only the sets of names whose partition or slab pages differ
//! between the merging schemes are drawn (`rows`): one column per scheme,
//! one box per group of the set's names, each with the objects, pages and KiB
//! its directory holds at the workload's peak, the per-group table's figures.
//! Above them, a bar chart of each scheme's slab memory (`chart`: with
//! `--seeds`, the median and the min–max range), and a legend of the box
//! kinds that are drawn, no others. With [`PictureOptions::all_groups`]
//! (`--verbose`) every set that shares storage somewhere is drawn. The HTML
//! page adds the text report's preamble (trace, static set, workload and
//! seed) and the summary table.

mod chart;
mod rows;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::ComparativeReport;
use super::groups::pages_kib;
use super::render::{self, Format, TextOptions};
use rows::{Boxed, Kind, Row};

const COL_WIDTH: f64 = 300.0;
const COL_GAP: f64 = 12.0;
const MARGIN: f64 = 20.0;
const LINE: f64 = 13.0;
const HEADER: f64 = 15.0;
const PAD: f64 = 5.0;
const PART_GAP: f64 = 4.0;
const ROW_GAP: f64 = 10.0;
const CHAR_WIDTH: f64 = 6.6;
/// Lost names the page's table lists before "+N more" (as the text table's cell).
const LOST_IN_CELL: usize = 8;

/// What the picture draws.
#[derive(Clone, Copy, Debug, Default)]
pub struct PictureOptions {
    /// Every set of names that shares storage in some scheme, not only those
    /// that differ (`--verbose`).
    pub all_groups: bool,
}

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

/// Text wrapped on spaces at `width` characters.
fn wrap_text(text: &str, width: usize) -> Vec<String> {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let mut lines: Vec<String> = Vec::new();
    for w in words {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + w.chars().count() <= width => {
                l.push(' ');
                l.push_str(&w);
            }
            _ => lines.push(w),
        }
    }
    lines
}

struct Style {
    stroke: &'static str,
    fill: &'static str,
    dashed: bool,
    legend: &'static str,
}

fn style(kind: Kind) -> Style {
    let (stroke, fill, dashed, legend) = match kind {
        Kind::Same => ("#8a939c", "#f3f5f7", false, "shared as in mainline"),
        Kind::Lost => ("#c62828", "#fff5f5", false, "group that lost members"),
        Kind::Alone => ("#c62828", "#fde2e2", false, "name left alone"),
        Kind::StaticAlone => ("#e65100", "#ffe0b2", false, "static instance left alone"),
        Kind::NoneShared => ("#c62828", "#fdf0f0", true, "no name of the set shares storage"),
        Kind::Joined => ("#1565c0", "#eef4fc", false, "names of several mainline groups joined"),
    };
    Style { stroke, fill, dashed, legend }
}

fn dash(dashed: bool) -> &'static str {
    if dashed { r#" stroke-dasharray="5,3""# } else { "" }
}

/// The figures line of a box: objects, pages and KiB at the peak.
fn figures(objects: u64, pages: u64) -> String {
    format!("{objects} objects · {pages} pages · {} KiB", pages_kib(pages))
}

/// Characters of names that fit a line of a box.
fn box_chars() -> usize {
    ((COL_WIDTH - 2.0 * PAD) / CHAR_WIDTH) as usize
}

fn box_height(b: &Boxed, memory: bool) -> f64 {
    HEADER + if memory { LINE } else { 0.0 } + wrap(&b.names, box_chars()).len() as f64 * LINE + 2.0 * PAD
}

struct Drawing<'a> {
    report: &'a ComparativeReport,
    statics: BTreeSet<String>,
    memory: bool,
}

impl Drawing<'_> {
    /// Draws one box at (`x`, `y`) for column `c`; returns its height.
    fn draw_box(&self, out: &mut String, b: &Boxed, c: usize, x: f64, y: f64) -> f64 {
        let st = style(b.kind);
        let scheme = self.report.schemes[c].scheme;
        let h = box_height(b, self.memory);
        // The box's figures as attributes too, so that a reader (and the
        // tests) can hold the drawn text to them.
        let _ = writeln!(
            out,
            r#"<g class="box" data-scheme="{scheme}" data-kind="{:?}" data-dirs="{}" data-objects="{}" data-pages="{}" data-kib="{}">"#,
            b.kind,
            xml_escape(&b.dirs.join(" ")),
            b.objects,
            b.pages,
            pages_kib(b.pages)
        );
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{COL_WIDTH:.1}" height="{h:.1}" rx="3" fill="{}" stroke="{}" stroke-width="1.4"{}/>"#,
            st.fill,
            st.stroke,
            dash(st.dashed)
        );
        let mut ty = y + PAD + 10.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{ty:.1}" class="hdr" fill="{}">{}</text>"#,
            x + PAD,
            st.stroke,
            xml_escape(&b.header)
        );
        if self.memory {
            ty += LINE;
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{ty:.1}" class="fig">{}</text>"#,
                x + PAD,
                xml_escape(&figures(b.objects, b.pages))
            );
        }
        let marks_statics = scheme.has_statics();
        let grey = b.kind == Kind::NoneShared;
        for (i, line) in wrap(&b.names, box_chars()).iter().enumerate() {
            let ly = ty + HEADER - 1.0 + LINE * (i as f64);
            let _ =
                write!(out, r#"<text x="{:.1}" y="{ly:.1}" class="nm{}">"#, x + PAD, if grey { " grey" } else { "" });
            for (j, n) in line.iter().enumerate() {
                let sep = if j > 0 { ", " } else { "" };
                if marks_statics && self.statics.contains(n) {
                    let _ = write!(out, r#"{sep}<tspan class="st">{}</tspan>"#, xml_escape(n));
                } else {
                    let _ = write!(out, "{sep}{}", xml_escape(n));
                }
            }
            let _ = writeln!(out, "</text>");
        }
        out.push_str("</g>\n");
        h
    }

    /// Draws a row at `y`; returns its height.
    fn draw_row(&self, out: &mut String, row: &Row, y: f64) -> f64 {
        // A tooltip naming the row by the baseline's directories.
        let _ = writeln!(
            out,
            "<g class=\"row\" data-names=\"{}\"><title>{}</title>",
            xml_escape(&row.set.names.join(" ")),
            xml_escape(&row.set.dirs[0].join(" + "))
        );
        let mut row_h: f64 = 0.0;
        for (c, cell) in row.cells.iter().enumerate() {
            let x = MARGIN + c as f64 * (COL_WIDTH + COL_GAP);
            let mut cy = y;
            for b in cell {
                cy += self.draw_box(out, b, c, x, cy) + PART_GAP;
            }
            // A cell of several boxes, or one whose pages differ from the
            // baseline's, gets the set's total: the per-group table's cell.
            let d = row.set.difference(c);
            if self.memory && (cell.len() > 1 || d != 0) {
                let against = if c == 0 || d == 0 { String::new() } else { format!(" · {d:+}") };
                let _ = writeln!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" class="tot{}" data-scheme="{}" data-pages="{}">in all: {} pages · {} KiB{}</text>"#,
                    x + PAD,
                    cy + 9.0,
                    if d > 0 {
                        " more"
                    } else if d < 0 {
                        " fewer"
                    } else {
                        ""
                    },
                    self.report.schemes[c].scheme,
                    row.set.pages[c],
                    row.set.pages[c],
                    pages_kib(row.set.pages[c]),
                    xml_escape(&against)
                );
                cy += LINE + PART_GAP;
            }
            row_h = row_h.max(cy - y - PART_GAP);
        }
        out.push_str("</g>\n");
        row_h
    }
}

/// The report as an SVG picture, drawing the sets that differ.
pub fn svg(report: &ComparativeReport) -> String {
    svg_with(report, PictureOptions::default())
}

/// The report as an SVG picture.
pub fn svg_with(report: &ComparativeReport, options: PictureOptions) -> String {
    let (rows, hidden) = rows::rows(report, options.all_groups);
    let drawing = Drawing {
        report,
        statics: report.statics.image.iter().chain(&report.statics.module).cloned().collect(),
        memory: report.options.memory,
    };
    let ncols = report.schemes.len().max(1);
    let width = 2.0 * MARGIN + ncols as f64 * COL_WIDTH + (ncols - 1) as f64 * COL_GAP;
    let chars = ((width - 2.0 * MARGIN) / CHAR_WIDTH) as usize;
    let mut body = String::new();
    let differing = rows.iter().filter(|r| r.differs).count();
    let compared: Vec<&str> = rows::compared(report).iter().map(|&i| report.schemes[i].scheme.name()).collect();
    let mut y = 30.0;
    let title = format!(
        "Where the schemes differ: {differing} of {} groups of names sharing slab storage",
        differing + hidden.len() + rows.iter().filter(|r| !r.differs).count()
    );
    let _ = writeln!(body, r#"<text x="{MARGIN}" y="{y}" class="ttl">{}</text>"#, xml_escape(&title));
    y += 18.0;
    let intro = format!(
        "{} names of {}. A row is a set of names that every scheme's groups cover (the report's per-group \
         table); it is drawn when its grouping or its slab pages differ between {}. A box is one group and its \
         sysfs directory{}.",
        report.trace_names,
        report.trace_label,
        compared.join(", "),
        if drawing.memory {
            ", with the objects, pages and KiB it holds at the workload's peak; under a cell of several boxes, or \
             whose pages differ from the first column's, the set's total and the difference in pages"
        } else {
            ""
        }
    );
    for line in wrap_text(&intro, chars) {
        let _ = writeln!(body, r#"<text x="{MARGIN}" y="{y:.1}" class="sub">{}</text>"#, xml_escape(&line));
        y += 14.0;
    }
    y += 6.0;
    y += chart::draw(&mut body, report, y);
    y += 8.0;
    // The legend: the kinds of box drawn, in a fixed order, and the static
    // mark only where a static name is drawn bold.
    let kinds: BTreeSet<Kind> = rows.iter().flat_map(|r| r.cells.iter().flatten().map(|b| b.kind)).collect();
    for (i, kind) in kinds.iter().enumerate() {
        let st = style(*kind);
        let x = MARGIN + (i % 3) as f64 * 420.0;
        let ly = y + (i / 3) as f64 * 22.0;
        let _ = writeln!(
            body,
            r#"<g class="legend" data-kind="{kind:?}"><rect x="{x:.1}" y="{ly:.1}" width="26" height="14" rx="2" fill="{}" stroke="{}" stroke-width="1.4"{}/><text x="{:.1}" y="{:.1}" class="lg">{}</text></g>"#,
            st.fill,
            st.stroke,
            dash(st.dashed),
            x + 34.0,
            ly + 11.0,
            st.legend
        );
    }
    y += kinds.len().div_ceil(3) as f64 * 22.0;
    let statics_drawn = rows.iter().any(|r| {
        r.cells.iter().enumerate().any(|(c, cell)| {
            report.schemes[c].scheme.has_statics()
                && cell.iter().flat_map(|b| &b.names).any(|n| drawing.statics.contains(n))
        })
    });
    if statics_drawn {
        let set: Vec<String> = drawing.statics.iter().cloned().collect();
        let text = format!(
            "Bold orange names are static instances, in the schemes that make them static. Static set: {}",
            set.join(", ")
        );
        for line in wrap_text(&text, chars) {
            let _ = writeln!(
                body,
                r#"<text x="{MARGIN}" y="{:.1}" class="lg st-note">{}</text>"#,
                y + 10.0,
                xml_escape(&line)
            );
            y += 14.0;
        }
    }
    y += 14.0;
    // Column headers.
    let shown: BTreeSet<&str> = rows.iter().flat_map(|r| r.set.names.iter().map(String::as_str)).collect();
    for (c, s) in report.schemes.iter().enumerate() {
        let x = MARGIN + c as f64 * (COL_WIDTH + COL_GAP);
        let _ = writeln!(body, r#"<text x="{x:.1}" y="{:.1}" class="col">{}</text>"#, y + 12.0, s.scheme);
        let _ = writeln!(
            body,
            r#"<text x="{x:.1}" y="{:.1}" class="sub">{} instances · {} shared · {} merges lost</text>"#,
            y + 27.0,
            s.instances(),
            s.shared_names,
            s.merges_lost.len()
        );
        let not_drawn = s.groups.iter().filter(|g| !shown.contains(g.names[0].as_str())).count();
        let _ =
            writeln!(body, r#"<text x="{x:.1}" y="{:.1}" class="sub">{not_drawn} groups not shown</text>"#, y + 41.0);
    }
    y += 50.0;
    let mut section = None;
    for row in &rows {
        if section != Some(row.differs) {
            section = Some(row.differs);
            let title = if row.differs {
                format!("Groups that differ between {} ({differing})", compared.join(", "))
            } else {
                format!("Groups alike in {} ({})", compared.join(", "), rows.len() - differing)
            };
            let _ = writeln!(
                body,
                r##"<line x1="{MARGIN}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#444" stroke-width="1"/>"##,
                width - MARGIN
            );
            let _ =
                writeln!(body, r#"<text x="{MARGIN}" y="{:.1}" class="sec">{}</text>"#, y + 16.0, xml_escape(&title));
            y += 26.0;
        }
        y += drawing.draw_row(&mut body, row, y) + ROW_GAP;
    }
    if rows.is_empty() {
        let _ = writeln!(
            body,
            r#"<text x="{MARGIN}" y="{:.1}" class="sec">No group differs between {}</text>"#,
            y + 16.0,
            xml_escape(&compared.join(", "))
        );
        y += 26.0;
    }
    if !hidden.is_empty() {
        let note = hidden_note(report, &hidden, &compared);
        for line in wrap_text(&note, chars) {
            let _ = writeln!(
                body,
                r#"<text x="{MARGIN}" y="{:.1}" class="lg hidden">{}</text>"#,
                y + 10.0,
                xml_escape(&line)
            );
            y += 14.0;
        }
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
         .hdr{{font-size:10.5px;font-weight:bold}} .fig{{font-size:10.5px;fill:#0d3c73}} \
         .nm{{font-size:11px;fill:#111}} .grey{{fill:#777}} .st{{font-weight:bold;fill:#b34700}} \
         .lg{{font-size:11px}} .val{{font-size:11px;fill:#111}} .tot{{font-size:10.5px;font-weight:bold;fill:#444}} \
         .more{{fill:#c62828}} .fewer{{fill:#2e7d32}}</style>"
    );
    let _ = writeln!(out, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// What the picture leaves out: how many sets share storage alike in the
/// compared schemes, and what the other columns (`nomerge`) do with them,
/// in the per-group table's pages.
fn hidden_note(report: &ComparativeReport, hidden: &[super::groups::GroupMemory], compared: &[&str]) -> String {
    let mut note = format!(
        "Not drawn: {} groups of names that share storage alike in {} (--verbose draws them)",
        hidden.len(),
        compared.join(", ")
    );
    for (c, s) in report.schemes.iter().enumerate().filter(|(_, s)| !compared.contains(&s.scheme.name())) {
        let split: usize = hidden.iter().map(|h| h.dirs[c].len()).sum();
        let _ = write!(note, "; {} splits them into {split} caches", s.scheme);
        if report.options.memory {
            let d: i64 = hidden.iter().map(|h| h.difference(c)).sum();
            let _ = write!(note, ", {d:+} pages against {}", report.schemes[0].scheme);
        }
    }
    note.push('.');
    note
}

/// The text report's preamble (trace, static set, workload and seed), as
/// printed: its lines before the first blank one, each wrapped line joined
/// back, so that the page says exactly what the table says.
fn preamble(report: &ComparativeReport) -> Vec<String> {
    let text = render::render_with(report, Format::Table, TextOptions::default());
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines().take_while(|l| !l.is_empty()) {
        match (line.strip_prefix("  "), lines.last_mut()) {
            (Some(rest), Some(last)) => {
                last.push(' ');
                last.push_str(rest);
            }
            _ => lines.push(line.to_owned()),
        }
    }
    lines
}

/// The report as an HTML page, with the rows that differ.
pub fn html(report: &ComparativeReport) -> String {
    html_with(report, PictureOptions::default())
}

/// The report as an HTML page: the text report's preamble, the summary
/// table and the picture.
pub fn html_with(report: &ComparativeReport, options: PictureOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>slabmerge: {}</title>\n\
         <style>body{{font-family:sans-serif;margin:20px}} table{{border-collapse:collapse}} \
         td,th{{border:1px solid #bbb;padding:3px 8px}} td.n{{text-align:right}} p.pre{{margin:2px 0}}</style></head><body>",
        xml_escape(&report.trace_label)
    );
    let _ = writeln!(out, "<h1>Slab cache merging by scheme</h1>");
    for line in preamble(report) {
        let _ = writeln!(out, "<p class=\"pre\">{}</p>", xml_escape(&line));
    }
    let memory = report.options.memory;
    let _ = write!(
        out,
        "<table><tr><th>scheme</th><th>names</th><th>instances</th><th>shared names</th><th>merges lost</th>\
         <th>statics merged</th>"
    );
    if memory {
        let _ = write!(out, "<th>slab pages</th><th>slab KiB</th><th>total KiB</th>");
    }
    let _ = writeln!(out, "<th>lost names</th></tr>");
    for (i, s) in report.schemes.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}/{}</td>",
            s.scheme,
            s.names,
            s.instances(),
            s.shared_names,
            s.merges_lost.len(),
            s.statics_merged.len(),
            s.statics.len(),
        );
        if memory {
            let total = |b: u64| format!("{:.1}", b as f64 / 1024.0);
            let total_cell = match report.seed_range(i, |m| m.total_bytes) {
                Some((lo, hi)) => format!("{} ({}–{})", total(s.memory.total_bytes), total(lo), total(hi)),
                None => total(s.memory.total_bytes),
            };
            let _ = write!(
                out,
                "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                chart::pages_cell(report, i),
                pages_kib(s.memory.slab_pages),
                total_cell
            );
        }
        // As the text table's cell: a long list (nomerge's 140) would push
        // the picture below the fold.
        let lost = match s.merges_lost.len() {
            n if n > LOST_IN_CELL && !options.all_groups => format!(
                "{}, +{} more (--verbose lists them)",
                s.merges_lost[..LOST_IN_CELL].join(", "),
                n - LOST_IN_CELL
            ),
            _ => s.merges_lost.join(", "),
        };
        let _ = writeln!(out, "<td>{}</td></tr>", xml_escape(&lost));
    }
    let _ = writeln!(out, "</table>");
    out.push_str(&svg_with(report, options));
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
