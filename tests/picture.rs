//! The picture (`--svg`, `--html`): it draws the sets of names that differ
//! between the merging schemes, each box's figures are the report's, the
//! chart's bars are the memory table's, the legend names only what is drawn,
//! and the page carries the text report's workload and seed line. The SVG is
//! read back as text; `scripts/picture-check.sh` renders it in a browser.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use slabmerge::census::Census;
use slabmerge::replay::StaticSet;
use slabmerge::report::groups::{components, group_memory, pages_kib};
use slabmerge::report::picture::{PictureOptions, html, html_with, svg, svg_with};
use slabmerge::report::render::{Format, render};
use slabmerge::report::{self, ComparativeReport, ReportOptions, ReportScheme};
use slabmerge::trace::Trace;

/// A tenth of the census keeps the debug build quick; the picture is held
/// to the figures of the same report, whatever the divisor.
fn options() -> ReportOptions {
    ReportOptions { workload_divisor: 10, ..ReportOptions::default() }
}

fn bundled(options: &ReportOptions) -> ComparativeReport {
    let trace = Trace::bundled();
    report::run(&trace, &StaticSet::v3(&trace), &Census::bundled(), options)
}

/// One element's attributes, from the text after its name up to its `>`.
fn attrs(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].rsplit(' ').next().unwrap().to_owned();
        let value_end = rest[eq + 2..].find('"').unwrap();
        out.insert(name, rest[eq + 2..eq + 2 + value_end].to_owned());
        rest = &rest[eq + 3 + value_end..];
    }
    out
}

/// Every `<g class="CLASS" ...>` element: its attributes and its text up to
/// the next `</g>` (boxes and bars hold no nested group).
fn groups_of_class<'a>(svg: &'a str, class: &str) -> Vec<(BTreeMap<String, String>, &'a str)> {
    let open = format!("<g class=\"{class}\"");
    svg.match_indices(&open)
        .map(|(at, _)| {
            let tag_end = at + svg[at..].find('>').unwrap();
            let body_end = tag_end + svg[tag_end..].find("</g>").unwrap();
            (attrs(&svg[at + 2..tag_end]), &svg[tag_end + 1..body_end])
        })
        .collect()
}

/// The text of the `<text>` elements of `body` whose classes include every
/// word of `class`, tags removed.
fn texts(body: &str, class: &str) -> Vec<String> {
    body.split("<text ")
        .skip(1)
        .filter(|t| {
            let a = attrs(&t[..t.find('>').unwrap()]);
            let own: Vec<&str> = a.get("class").map_or(Vec::new(), |c| c.split_whitespace().collect());
            class.split_whitespace().all(|w| own.contains(&w))
        })
        .map(|t| {
            let inner = &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()];
            let mut plain = String::new();
            let mut in_tag = false;
            for c in inner.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => plain.push(c),
                    _ => {}
                }
            }
            plain.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
        })
        .collect()
}

fn number(attrs: &BTreeMap<String, String>, name: &str) -> u64 {
    attrs[name].parse().unwrap_or_else(|e| panic!("{name}={:?}: {e}", attrs[name]))
}

/// Every box is one scheme's group (or, for `no sharing`, several alone) and
/// prints the objects, pages and KiB of its directories at the peak, as the
/// report has them; the boxes of a row's cell add up to the per-group
/// table's pages for that set, and its `in all` line says so.
#[test]
fn every_box_prints_the_reports_figures_for_its_directories() {
    let r = bundled(&options());
    let picture = svg(&r);
    let boxes = groups_of_class(&picture, "box");
    assert!(!boxes.is_empty());
    for (a, body) in &boxes {
        let s = r.scheme(ReportScheme::parse(&a["data-scheme"]).unwrap()).unwrap();
        let dirs: Vec<&str> = a["data-dirs"].split(' ').collect();
        let pages: u64 = dirs.iter().map(|d| s.dir_pages[*d]).sum();
        let objects: u64 = dirs.iter().map(|d| s.dir_objects[*d]).sum();
        assert_eq!((number(a, "data-pages"), number(a, "data-objects")), (pages, objects), "{a:?}");
        assert_eq!(number(a, "data-kib"), pages_kib(pages));
        assert_eq!(texts(body, "fig"), [format!("{objects} objects · {pages} pages · {} KiB", pages_kib(pages))]);
    }
    // Per row, per scheme: the boxes sum to the set's pages, the table's figure.
    let sets: BTreeMap<String, _> = components(&r).into_iter().map(|c| (c.names.join(" "), c)).collect();
    let rows: Vec<&str> = picture.split("<g class=\"row\"").skip(1).collect();
    assert_eq!(rows.len(), 4, "{picture}");
    for row in rows {
        let set = &sets[&attrs(&row[..row.find('>').unwrap()])["data-names"]];
        for (c, s) in r.schemes.iter().enumerate() {
            let mine: Vec<_> =
                groups_of_class(row, "box").into_iter().filter(|(a, _)| a["data-scheme"] == s.scheme.name()).collect();
            assert_eq!(mine.iter().map(|(a, _)| number(a, "data-pages")).sum::<u64>(), set.pages[c], "{}", s.scheme);
            assert_eq!(mine.iter().map(|(a, _)| number(a, "data-objects")).sum::<u64>(), set.objects[c]);
            let total = format!("in all: {} pages · {} KiB", set.pages[c], pages_kib(set.pages[c]));
            let d = set.difference(c);
            if mine.len() > 1 || d != 0 {
                let line = if d == 0 { total } else { format!("{total} · {d:+}") };
                assert!(texts(row, "tot").contains(&line), "{}: {line}", s.scheme);
            }
        }
    }
    // The workload puts the same objects in every scheme: each column's boxes
    // and hidden sets together hold the objects live.
    for (c, s) in r.schemes.iter().enumerate() {
        assert_eq!(sets.values().map(|set| set.objects[c]).sum::<u64>(), s.memory.objects_live, "{}", s.scheme);
    }
}

/// The sets drawn are those whose grouping or pages differ between mainline,
/// viro-v3, viro-v1 and primary: on the bundled trace the four groups of the
/// statics that own or join a group. `--verbose` draws every set that shares
/// storage somewhere, and the note under the default picture counts the rest
/// with nomerge's pages over them, which with the drawn rows make the
/// table's total.
#[test]
fn only_the_sets_that_differ_are_drawn_unless_verbose() {
    let r = bundled(&options());
    let picture = svg(&r);
    let drawn: BTreeSet<String> = picture
        .split("<g class=\"row\"")
        .skip(1)
        .map(|row| attrs(&row[..row.find('>').unwrap()])["data-names"].clone())
        .collect();
    let expected: BTreeSet<String> = [
        "anon_vma_chain eventpoll_pwq fs_cache",
        "signal_cache UNIX UNIX-STREAM",
        "mnt_cache posix_timers_cache",
        "buffer_head ext4_fc_dentry_update",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(drawn, expected);
    assert!(picture.contains("Where the schemes differ: 4 of 42 groups of names sharing slab storage"));
    // Every row of the per-group table whose pages differ between merging schemes is drawn.
    let nomerge = r.schemes.iter().position(|s| s.scheme == ReportScheme::Nomerge).unwrap();
    for g in group_memory(&r) {
        let merging_differ = (0..r.schemes.len()).filter(|&c| c != nomerge).any(|c| g.pages[c] != g.pages[0]);
        assert_eq!(drawn.contains(&g.names.join(" ")), merging_differ, "{:?}", g.names);
    }
    // The note: 38 sets alike, and nomerge's pages over them.
    let hidden: i64 = components(&r)
        .iter()
        .filter(|c| c.names.len() > 1 && !drawn.contains(&c.names.join(" ")))
        .map(|c| c.difference(nomerge))
        .sum();
    let note = texts(&picture, "lg hidden").join(" ");
    assert!(
        note.starts_with(
            "Not drawn: 38 groups of names that share storage alike in mainline, viro-v3, viro-v1, primary"
        )
    );
    assert!(note.contains(&format!("{hidden:+} pages against mainline")), "{note}");
    let drawn_nomerge: i64 =
        components(&r).iter().filter(|c| drawn.contains(&c.names.join(" "))).map(|c| c.difference(nomerge)).sum();
    let all = r.schemes[nomerge].memory.slab_pages as i64 - r.schemes[0].memory.slab_pages as i64;
    assert_eq!(hidden + drawn_nomerge, all, "drawn and hidden make the memory table's difference");

    let verbose = svg_with(&r, PictureOptions { all_groups: true });
    assert_eq!(verbose.matches("<g class=\"row\"").count(), 42);
    assert!(!verbose.contains("Not drawn"));
}

/// One bar per scheme, its label the memory table's slab pages and KiB; the
/// difference against mainline beside it.
#[test]
fn the_chart_has_a_bar_per_scheme_with_the_memory_figures() {
    let r = bundled(&options());
    let picture = svg(&r);
    let bars = groups_of_class(&picture, "bar");
    assert_eq!(bars.len(), r.schemes.len());
    let base = r.schemes[0].memory.slab_pages as i64;
    for ((a, body), s) in bars.iter().zip(&r.schemes) {
        let pages = s.memory.slab_pages;
        assert_eq!(a["data-scheme"], s.scheme.name());
        assert_eq!(number(a, "data-pages"), pages);
        let values = texts(body, "val");
        assert_eq!(values[0], format!("{pages} pages · {} KiB", pages_kib(pages)));
        let d = pages as i64 - base;
        let diff = if d == 0 { "0".to_owned() } else { format!("{d:+} pages, {:+} KiB", d * 4) };
        assert_eq!(values[1], diff);
    }
}

/// With several seeds the bars are the medians and each label carries the
/// min–max range, as the text report's seeds table prints it.
#[test]
fn with_seeds_the_chart_gives_the_median_and_range() {
    let o = ReportOptions { workload_divisor: 20, ..ReportOptions::default() };
    let r = common::with_bundled_input(|input| report::run_seeds(input, &o, &[o.seed, o.seed + 1, o.seed + 2]));
    let picture = svg(&r);
    let text = render(&r, Format::Table);
    assert!(picture.contains("median over 3 seeds from 0x51ab3e76e5eed001, whisker min–max"));
    for ((_, body), (i, s)) in groups_of_class(&picture, "bar").iter().zip(r.schemes.iter().enumerate()) {
        let (lo, hi) = r.seed_range(i, |m| m.slab_pages).unwrap();
        let cell = format!("{} ({lo}–{hi})", s.memory.slab_pages);
        assert!(text.contains(&cell), "the seeds table prints {cell}:\n{text}");
        let expected =
            format!("{cell} pages · {} KiB ({}–{})", pages_kib(s.memory.slab_pages), pages_kib(lo), pages_kib(hi));
        assert_eq!(texts(body, "val")[0], expected);
        assert!(body.contains("<path "), "{}: a whisker", s.scheme);
    }
}

/// The legend names the kinds of box drawn and no other; the static mark
/// and the static set only where a static name is drawn.
#[test]
fn the_legend_shows_only_what_appears() {
    let r = bundled(&options());
    let picture = svg(&r);
    let drawn: BTreeSet<String> =
        groups_of_class(&picture, "box").iter().map(|(a, _)| a["data-kind"].clone()).collect();
    let legend: BTreeSet<String> =
        groups_of_class(&picture, "legend").iter().map(|(a, _)| a["data-kind"].clone()).collect();
    assert_eq!(legend, drawn);
    assert!(!legend.contains("Joined") && !legend.contains("Alone"), "{legend:?}");
    assert!(picture.contains("Bold orange names are static instances"));

    // No statics: the static schemes are mainline, nothing differs, nothing is in the legend.
    let trace = Trace::bundled();
    let none = report::run(&trace, &StaticSet::default(), &Census::bundled(), &options());
    let picture = svg(&none);
    assert!(groups_of_class(&picture, "legend").is_empty());
    assert!(!picture.contains("Bold orange"));
    assert!(picture.contains("No group differs between mainline, viro-v3, viro-v1, primary"));
    assert!(texts(&picture, "lg hidden").join(" ").starts_with("Not drawn: 42 groups"));
}

/// The page carries the text report's preamble: trace, static set, and the
/// workload line with its seed, word for word.
#[test]
fn the_page_carries_the_workload_and_seed_lines() {
    let r = bundled(&options());
    let page = html(&r);
    let text = render(&r, Format::Table);
    let preamble: Vec<String> = text.split("\n\n").next().unwrap().split("\n").fold(Vec::new(), |mut lines, l| {
        match l.strip_prefix("  ") {
            Some(rest) => {
                let last: &mut String = lines.last_mut().unwrap();
                last.push(' ');
                last.push_str(rest);
            }
            None => lines.push(l.to_owned()),
        }
        lines
    });
    assert_eq!(preamble.len(), 3, "{preamble:?}");
    assert!(preamble[2].starts_with("workload: ") && preamble[2].contains("seed 0x51ab3e76e5eed001"));
    let escaped = |l: &str| l.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&#39;");
    for line in &preamble {
        assert!(page.contains(&format!("<p class=\"pre\">{}</p>", escaped(line))), "{line}");
    }
    assert!(page.contains("<svg ") && page.trim_end().ends_with("</body></html>"));
    assert_eq!(page.matches("<tr>").count(), 1 + r.schemes.len());
    // nomerge's 140 lost names are cut as the text table cuts them.
    assert!(page.contains("pool_workqueue, +132 more (--verbose lists them)"), "{page}");
    assert!(html_with(&r, PictureOptions { all_groups: true }).contains("btrfs_extent_map</td>"));
}

/// Without the workload the boxes carry no figures and there is no chart.
#[test]
fn without_the_workload_there_are_no_figures_and_no_chart() {
    let r = bundled(&ReportOptions { memory: false, ..ReportOptions::default() });
    let picture = svg(&r);
    assert!(groups_of_class(&picture, "bar").is_empty());
    assert!(texts(&picture, "fig").is_empty());
    assert_eq!(picture.matches("<g class=\"row\"").count(), 4);
    // Tags balance: the picture is well-formed enough for a browser to draw.
    for tag in ["g", "text", "svg"] {
        assert_eq!(
            picture.matches(&format!("<{tag} ")).count() + picture.matches(&format!("<{tag}>")).count(),
            picture.matches(&format!("</{tag}>")).count(),
            "<{tag}>"
        );
    }
}

/// `design/report.md`'s picture section quotes the bundled run's picture:
/// its title and last line word for word, and the figures of its prose;
/// the README's paragraph its row counts.
#[test]
fn report_md_quotes_the_bundled_picture() {
    let doc =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("design/report.md")).unwrap();
    let section = &doc[doc.find("## The picture (`--svg`, `--html`)").expect("the picture section")..];
    let start = section.find("```text\n").unwrap() + "```text\n".len();
    let quoted: Vec<&str> = section[start..start + section[start..].find("```").unwrap()].lines().collect();

    let r = bundled(&ReportOptions::default());
    let picture = svg(&r);
    let want = [texts(&picture, "ttl").join(" "), texts(&picture, "lg hidden").join(" ")];
    assert_eq!(quoted, want, "design/report.md's quote, as drawn now:\n{}", want.join("\n"));

    let boxes = groups_of_class(&picture, "box");
    let rows = picture.matches("<g class=\"row\"").count();
    let v1 = r.schemes.iter().position(|s| s.scheme == ReportScheme::ViroV1).unwrap();
    let unix = components(&r).into_iter().find(|c| c.names.contains(&"UNIX".to_owned())).unwrap();
    let dir = |c: usize, d: &str| r.schemes[c].dir_pages[d];
    for phrase in [
        format!("the picture has {rows} rows of {} boxes", boxes.len()),
        format!("`UNIX`/`UNIX-STREAM` ({} pages)", dir(v1, ":A-0001152")),
        format!("`signal_cache` alone ({} pages)", dir(v1, "signal_cache")),
        format!("{} pages more than mainline's {}", unix.difference(v1), unix.pages[0]),
    ] {
        let flat = section.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&phrase), "design/report.md should say: {phrase}");
    }
    // The README's paragraph on the picture counts the same rows.
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let all = svg_with(&r, PictureOptions { all_groups: true }).matches("<g class=\"row\"").count();
    let phrase = format!("({rows} on the bundled trace; `--verbose`: all {all})");
    assert!(
        readme.split_whitespace().collect::<Vec<_>>().join(" ").contains(&phrase),
        "README.md should say: {phrase}"
    );
}
