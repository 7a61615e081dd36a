//! The kmem capture's parse thread alone, for counting its instructions
//! (issue 14): the capture is gunzipped into memory first, then
//! [`parse_thread`] does what `run_capture`'s parse thread does per line
//! (`KmemParser::next_raw`, then `Compactor::compact_raw`) over it, on this
//! thread.
//!
//! Usage: `cargo build --profile bench --example kmem_parse`, then
//!
//! ```text
//! valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='kmem_parse::parse_thread' \
//!     target/release/examples/kmem_parse [FILE]
//! ```
//!
//! The gunzip and the compactor's setup are outside the counted function,
//! so the total is the parse thread's own work, which callgrind counts
//! exactly (the same on every run). It prints the lines and events read;
//! Ir divided by the lines is the cost per line.

use std::io::{BufRead, Read};

use flate2::bufread::MultiGzDecoder;
use slabmerge::input::kmem_replay::{Compactor, bundled_sites};
use slabmerge::input::kmem_trace::KmemParser;
use slabmerge::replay::{Replay, StaticSet};
use slabmerge::report::ReportScheme;
use slabmerge::trace::Trace;

/// Parses and compacts every event of `text`: (lines, events, a checksum of
/// the compact events, so that none of the work is optimised away).
#[inline(never)]
fn parse_thread(text: &[u8], c: &mut Compactor) -> (u64, u64, u64) {
    // Behind `dyn BufRead`, as `KmemParser::open` gives it to the thread
    // (there a `ThreadedGunzip`): the reader's calls are not inlined.
    let reader: Box<dyn BufRead + '_> = Box::new(text);
    let mut p = KmemParser::new(reader, "capture");
    let (mut events, mut sum) = (0u64, 0u64);
    while let Some(r) = p.next_raw() {
        let ev = c.compact_raw(&r.expect("the capture parses"));
        events += 1;
        sum = sum.rotate_left(7) ^ ev.timestamp_ns ^ ev.ptr ^ u64::from(ev.cpu);
    }
    (p.stats().lines, events, sum)
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/kmem-trace-linux-6.18-x86_64.txt.gz").into());
    let gz = std::fs::read(&path).expect("read the capture");
    let mut text = Vec::new();
    MultiGzDecoder::new(&gz[..]).read_to_end(&mut text).expect("gunzip the capture");
    let trace = Trace::bundled();
    let statics = StaticSet::v3(&trace);
    let groups = Replay::run(&ReportScheme::Mainline.world(&statics), &trace, &statics).groups();
    let mut c = Compactor::new(&trace, &groups, bundled_sites());
    let (lines, events, sum) = parse_thread(&text, &mut c);
    println!("{lines} lines, {events} events, checksum {sum:016x}");
}
