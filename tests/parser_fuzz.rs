//! Mutates real inputs (byte flips, truncation, duplicated lines, swapped
//! lines, inserted bytes) and checks that every parser never panics, stays
//! bounded in time and gives no more records than its input has lines: the
//! snapshot readers on the real fixtures, the trace and census TSVs on the
//! bundled 6.18 files, and the kmem tracepoint parser on lines of the
//! bundled capture.

#[path = "snapshot_common/mod.rs"]
mod common;
use common::*;
use std::io::{BufRead, Cursor, Read};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use slabmerge::input::kmem_trace::{KmemParser, maybe_gunzip};
use slabmerge::input::snapshot::read_snapshot_bytes;
use slabmerge::input::{census::Census, trace::Trace};

const TEXT: [&str; 7] = [
    "real/ls-l.txt",
    "real/ls-l-full-iso.txt",
    "real/proc-slabinfo.txt",
    "real/slabinfo-a1.txt",
    "real/slabinfo-S.txt",
    "real/slabinfo-X.txt",
    "edge/mail-quoted-ls-and-proc.txt",
];

#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    DupLine(usize),
    SwapLines(usize, usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::DupLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
    ]
}

fn apply(mut data: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if data.is_empty() {
            break;
        }
        let n = data.len();
        match m {
            Mutation::Flip(i, b) => data[i % n] ^= b | 1,
            Mutation::Truncate(i) => data.truncate(i % n),
            Mutation::Insert(i, v) => {
                let at = i % n;
                data.splice(at..at, v.iter().copied());
            }
            Mutation::DupLine(i) | Mutation::SwapLines(i, _) => {
                let mut lines: Vec<Vec<u8>> = data.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                let k = lines.len();
                match m {
                    Mutation::DupLine(_) => {
                        let l = lines[i % k].clone();
                        lines.insert(i % k, l);
                    }
                    Mutation::SwapLines(a, b) => lines.swap(a % k, b % k),
                    _ => unreachable!(),
                }
                data = lines.join(&b'\n');
            }
        }
    }
    data
}

fn check(label: &str, data: &[u8], limit: Duration) {
    let t = Instant::now();
    let r = read_snapshot_bytes(label, data);
    assert!(t.elapsed() < common::limit(limit), "{label}: took {:?}", t.elapsed());
    if let Ok(s) = r {
        // Output bounded by the input: never more rows than input lines (text) or entries (tar).
        assert!(s.census.rows.len() <= data.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(96), ..ProptestConfig::default() })]

    #[test]
    fn mutated_text_never_panics(which in 0..TEXT.len(), muts in proptest::collection::vec(mutation(), 1..6)) {
        let data = apply(read(TEXT[which]), &muts);
        check(TEXT[which], &data, Duration::from_secs(2));
    }

    #[test]
    fn mutated_pastes_never_panic(a in 0..TEXT.len(), b in 0..TEXT.len(), muts in proptest::collection::vec(mutation(), 1..4)) {
        let mut data = read(TEXT[a]);
        data.extend(read(TEXT[b]));
        let data = apply(data, &muts);
        check("paste", &data, Duration::from_secs(2));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(24), ..ProptestConfig::default() })]

    #[test]
    fn mutated_tars_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), cut in any::<usize>(), plain in any::<bool>()) {
        let data = if plain { read("edge/nul-padded-subset.tar") } else { read("real/cp-a-copy.tar.gz") };
        let muts: Vec<Mutation> = flips.into_iter().map(|(i, b)| Mutation::Flip(i, b))
            .chain((cut % 3 == 0).then_some(Mutation::Truncate(cut))).collect();
        let data = apply(data, &muts);
        check("tar", &data, Duration::from_secs(10));
    }
}

/// A bundled file of `data/`.
fn data(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(name)).unwrap()
}

/// The first `n` lines of the bundled kmem capture (its header included).
fn capture_lines(n: usize) -> Vec<u8> {
    static LINES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    LINES
        .get_or_init(|| {
            let gz = data("kmem-trace-linux-6.18-x86_64.txt.gz");
            let mut text = Vec::new();
            let reader = maybe_gunzip(std::io::BufReader::new(Cursor::new(gz))).unwrap();
            for line in reader.split(b'\n').take(n) {
                text.extend(line.unwrap());
                text.push(b'\n');
            }
            text
        })
        .clone()
}

/// Parses a mutated capture to the end: every record or error, bounded.
fn check_kmem(data: &[u8], limit: Duration) {
    let t = Instant::now();
    let lines = data.split(|&b| b == b'\n').count() as u64;
    let mut parser = KmemParser::new(Cursor::new(data.to_vec()), "fuzz.txt");
    let mut records = 0u64;
    for record in parser.by_ref() {
        let _ = record;
        records += 1;
    }
    assert!(t.elapsed() < common::limit(limit), "took {:?}", t.elapsed());
    assert!(records <= lines, "{records} records from {lines} lines");
    assert!(parser.stats().events() <= lines);
}

/// Reads a mutated TSV the way `--trace`/`--census` files are read.
fn check_tsv(data: &[u8], limit: Duration, parse: fn(&str) -> usize) {
    let t = Instant::now();
    let mut text = String::new();
    // Non-UTF-8 bytes are an error of the file reader; the parsers see text.
    if Cursor::new(data).read_to_string(&mut text).is_err() {
        text = String::from_utf8_lossy(data).into_owned();
    }
    let rows = parse(&text);
    assert!(t.elapsed() < common::limit(limit), "took {:?}", t.elapsed());
    assert!(rows <= data.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    #[test]
    fn mutated_kmem_captures_never_panic(muts in proptest::collection::vec(mutation(), 1..8)) {
        check_kmem(&apply(capture_lines(400), &muts), Duration::from_secs(2));
    }

    #[test]
    fn mutated_trace_tsv_never_panics(muts in proptest::collection::vec(mutation(), 1..6)) {
        let text = apply(data("slab-trace-linux-6.18-x86_64.tsv"), &muts);
        check_tsv(&text, Duration::from_secs(2), |t| Trace::parse(t).map(|t| t.rows.len()).unwrap_or(0));
    }

    #[test]
    fn mutated_census_tsv_never_panics(muts in proptest::collection::vec(mutation(), 1..6)) {
        let text = apply(data("slab-census-linux-6.18-x86_64.tsv"), &muts);
        check_tsv(&text, Duration::from_secs(2), |t| Census::parse(t).map(|c| c.caches().count()).unwrap_or(0));
    }
}
