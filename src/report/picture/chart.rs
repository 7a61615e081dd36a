//! The memory chart: one bar per scheme of its slab memory at the workload's
//! peak (with `--seeds`, the median and a whisker over the min–max range),
//! and beside it a bar of the difference against the first column.
//!
//! Bars start at zero, so that their lengths compare honestly; the schemes
//! differ by a few percent, which the difference bars make visible.

use std::fmt::Write as _;

use super::super::ComparativeReport;
use super::super::groups::pages_kib;
use super::{MARGIN, xml_escape};

const BAR: f64 = 16.0;
const ROW: f64 = 24.0;
const NAME_WIDTH: f64 = 80.0;
const BARS_WIDTH: f64 = 520.0;
const VALUE_WIDTH: f64 = 400.0;
const DIFF_WIDTH: f64 = 360.0;

/// A scheme's slab pages as the text report prints them: the figure, and
/// with several seeds the median with its min–max range.
pub(super) fn pages_cell(report: &ComparativeReport, i: usize) -> String {
    let pages = report.schemes[i].memory.slab_pages;
    match report.seed_range(i, |m| m.slab_pages) {
        Some((lo, hi)) => format!("{pages} ({lo}–{hi})"),
        None => pages.to_string(),
    }
}

/// Draws the chart with its top at `y`; returns its height (0 without the workload).
pub(super) fn draw(out: &mut String, report: &ComparativeReport, y: f64) -> f64 {
    if !report.options.memory || report.schemes.is_empty() {
        return 0.0;
    }
    let seeds = report.seeds.len();
    let title = if seeds > 1 {
        format!(
            "Slab memory at the workload's peak: median over {seeds} seeds from {:#018x}, whisker min–max",
            report.options.seed
        )
    } else {
        format!("Slab memory at the workload's peak (seed {:#018x})", report.options.seed)
    };
    let _ = writeln!(out, r#"<text x="{MARGIN}" y="{:.1}" class="sec">{}</text>"#, y + 14.0, xml_escape(&title));
    let base = report.schemes[0].memory.slab_pages as i64;
    let ranges: Vec<(u64, u64)> = (0..report.schemes.len())
        .map(|i| {
            let p = report.schemes[i].memory.slab_pages;
            report.seed_range(i, |m| m.slab_pages).unwrap_or((p, p))
        })
        .collect();
    let most = ranges.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let diffs: Vec<i64> = report.schemes.iter().map(|s| s.memory.slab_pages as i64 - base).collect();
    // With seeds, each scheme's min–max less the baseline's median: whether a
    // difference stands out of the seeds' spread (the baseline's own whisker
    // is that spread around zero).
    let spreads: Vec<(i64, i64)> = ranges.iter().map(|&(lo, hi)| (lo as i64 - base, hi as i64 - base)).collect();
    let widest = diffs
        .iter()
        .map(|d| d.unsigned_abs())
        .chain(spreads.iter().filter(|_| seeds > 1).flat_map(|&(lo, hi)| [lo.unsigned_abs(), hi.unsigned_abs()]))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bars_x = MARGIN + NAME_WIDTH;
    let diff_x = bars_x + BARS_WIDTH + VALUE_WIDTH;
    // The difference bars grow from an axis at the left, or from the middle
    // when some scheme needs fewer pages than the baseline.
    let below = diffs.iter().any(|&d| d < 0) || (seeds > 1 && spreads.iter().any(|s| s.0 < 0));
    let (axis, half) = if below { (diff_x + DIFF_WIDTH / 2.0, DIFF_WIDTH / 2.0) } else { (diff_x, DIFF_WIDTH) };
    let top = y + 26.0;
    let base_name = xml_escape(report.schemes[0].scheme.name());
    let _ = writeln!(
        out,
        r#"<text x="{diff_x:.1}" y="{:.1}" class="sub">pages against {base_name}{}</text>"#,
        top - 4.0,
        if seeds > 1 { format!(" (whisker: min–max less {base_name}'s median)") } else { String::new() }
    );
    for (i, s) in report.schemes.iter().enumerate() {
        let ry = top + i as f64 * ROW;
        let m = &s.memory;
        let w = m.slab_pages as f64 / most * BARS_WIDTH;
        let _ = writeln!(
            out,
            r#"<g class="bar" data-scheme="{}" data-pages="{}" data-kib="{}"><text x="{MARGIN}" y="{:.1}" class="lg">{}</text>"#,
            s.scheme,
            m.slab_pages,
            pages_kib(m.slab_pages),
            ry + 12.0,
            s.scheme
        );
        let _ = writeln!(
            out,
            r##"<rect x="{bars_x:.1}" y="{ry:.1}" width="{w:.1}" height="{BAR}" fill="#7da7d9" stroke="#3b6ea8"/>"##
        );
        let (lo, hi) = ranges[i];
        if seeds > 1 {
            whisker(out, bars_x + lo as f64 / most * BARS_WIDTH, bars_x + hi as f64 / most * BARS_WIDTH, ry);
        }
        let value = if seeds > 1 {
            format!(
                "{} pages · {} KiB ({}–{})",
                pages_cell(report, i),
                pages_kib(m.slab_pages),
                pages_kib(lo),
                pages_kib(hi)
            )
        } else {
            format!("{} pages · {} KiB", m.slab_pages, pages_kib(m.slab_pages))
        };
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="val">{}</text>"#,
            bars_x + BARS_WIDTH + 8.0,
            ry + 12.0,
            xml_escape(&value)
        );
        let d = diffs[i];
        let dw = d.unsigned_abs() as f64 / widest * half;
        let (dx, colour) = if d < 0 { (axis - dw, "#2e7d32") } else { (axis, "#c62828") };
        if d != 0 {
            let _ = writeln!(
                out,
                r#"<rect x="{dx:.1}" y="{ry:.1}" width="{dw:.1}" height="{BAR}" fill="{colour}" fill-opacity="0.75"/>"#
            );
        }
        if seeds > 1 {
            let at = |v: i64| axis + v as f64 / widest * half;
            whisker(out, at(spreads[i].0), at(spreads[i].1), ry);
        }
        let label = if d == 0 { "0".to_owned() } else { format!("{d:+} pages, {:+} KiB", d * pages_kib(1) as i64) };
        let right = if seeds > 1 { (spreads[i].1 as f64 / widest * half).max(dw) } else { dw };
        let lx = if d < 0 { axis + 6.0 } else { axis + right + 6.0 };
        let _ = writeln!(out, r#"<text x="{lx:.1}" y="{:.1}" class="val">{label}</text></g>"#, ry + 12.0);
    }
    let bottom = top + report.schemes.len() as f64 * ROW;
    let _ = writeln!(
        out,
        r##"<line x1="{axis:.1}" y1="{:.1}" x2="{axis:.1}" y2="{bottom:.1}" stroke="#444" stroke-width="1"/>"##,
        top - 2.0
    );
    bottom - y + 6.0
}

/// The min–max whisker of a bar over seeds: a line from `x0` to `x1` across
/// the middle of the bar at `ry`, with end ticks.
fn whisker(out: &mut String, x0: f64, x1: f64, ry: f64) {
    let (mid, y0, y1) = (ry + BAR / 2.0, ry + 2.0, ry + BAR - 2.0);
    let _ = writeln!(
        out,
        r##"<path d="M{x0:.1},{mid:.1}H{x1:.1}M{x0:.1},{y0:.1}V{y1:.1}M{x1:.1},{y0:.1}V{y1:.1}" stroke="#1a1a1a" stroke-width="1.5" fill="none"/>"##
    );
}
