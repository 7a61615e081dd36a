//! Benchmark of the kmem capture replay (issue 14): what the whole run from a
//! gzip capture costs against decompression alone, how many events per
//! second the replay takes with parsing excluded, and the replay's peak heap
//! on a capture ten times the bundled one.
//!
//! Usage: `cargo run --release --example kmem_bench [FILE] [--copies N]`
//! (default: the bundled capture, 10 copies for the memory figure);
//! `kmem_bench [FILE] --emit N` writes the capture N times over (as the
//! memory figure streams it) to standard output and exits, for measuring the
//! binary's peak RSS on it (`scripts/kmem-memory.sh`).
//!
//! Figures are printed one per line, medians of `REPEATS` runs of this
//! thread's CPU time where times are concerned. Heap is counted by a global
//! allocator wrapper that tracks live and peak bytes (the model's pages are
//! ordinary heap allocations, so they are included).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::bufread::MultiGzDecoder;
use slabmerge::input::kmem_replay::{Compactor, bundled_sites};
use slabmerge::input::kmem_trace::KmemParser;
use slabmerge::replay::{Replay, StaticSet};
use slabmerge::report::ReportScheme;
use slabmerge::report::kmem::{replay_events, run_capture, run_parser};
use slabmerge::trace::Trace;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to System; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REPEATS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// This thread's CPU time in seconds (`CLOCK_THREAD_CPUTIME_ID`): on a
/// shared machine wall time measures the neighbours too, and `zcat FILE >
/// /dev/null` is compared by its user time.
fn cpu_seconds() -> f64 {
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: a valid out-pointer; the clock id is Linux's.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

fn time<T>(f: impl FnMut() -> T) -> (f64, T) {
    let mut f = f;
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..REPEATS {
        let t = cpu_seconds();
        out = Some(std::hint::black_box(f()));
        times.push(cpu_seconds() - t);
    }
    (median(times), out.expect("REPEATS > 0"))
}

/// The capture `copies` times over: copy k has its timestamps moved past the
/// end of copy k-1 and its pointers moved by k << 40, so objects of
/// different copies never pair up. Produced line by line (the text is never
/// held whole): a `Read` over the decompressed original, restarted per copy.
struct Repeated {
    gz: Vec<u8>,
    copies: u64,
    copy: u64,
    span_ns: u64,
    reader: Option<Box<dyn BufRead>>,
    line: String,
    out: Vec<u8>,
    pos: usize,
}

impl Repeated {
    fn new(gz: Vec<u8>, copies: u64, span_ns: u64) -> Repeated {
        Repeated { gz, copies, copy: 0, span_ns, reader: None, line: String::new(), out: Vec::new(), pos: 0 }
    }

    fn rewrite(&mut self) {
        self.out.clear();
        self.pos = 0;
        let l = self.line.as_str();
        if self.copy > 0 && l.starts_with('#') {
            return; // one header
        }
        let Some(colon) = l.find(": ") else {
            self.out.extend_from_slice(l.as_bytes());
            return;
        };
        // The timestamp is the token before the first ": ".
        let ts_start = l[..colon].rfind(' ').map_or(0, |i| i + 1);
        let ts = &l[ts_start..colon];
        let shifted = match ts.split_once('.') {
            Some((s, f)) if f.len() == 6 => {
                let us = s.parse::<u64>().unwrap_or(0) * 1_000_000 + f.parse::<u64>().unwrap_or(0);
                let us = us + self.copy * (self.span_ns / 1000 + 1000);
                format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
            }
            _ => ts.to_owned(),
        };
        self.out.extend_from_slice(&l.as_bytes()[..ts_start]);
        self.out.extend_from_slice(shifted.as_bytes());
        let rest = &l[colon..];
        match rest.find(" ptr=") {
            Some(p) => {
                let v = p + 5;
                let end = rest[v..].find(' ').map_or(rest.len(), |e| v + e);
                self.out.extend_from_slice(&rest.as_bytes()[..v]);
                match u64::from_str_radix(&rest[v..end], 16) {
                    Ok(0) | Err(_) => self.out.extend_from_slice(&rest.as_bytes()[v..end]),
                    Ok(n) => self.out.extend_from_slice(format!("{:016x}", n + (self.copy << 40)).as_bytes()),
                }
                self.out.extend_from_slice(&rest.as_bytes()[end..]);
            }
            None => self.out.extend_from_slice(rest.as_bytes()),
        }
    }
}

impl Read for Repeated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.reader.is_none() {
                if self.copy == self.copies {
                    return Ok(0);
                }
                let cursor = io::Cursor::new(self.gz.clone());
                self.reader = Some(Box::new(BufReader::new(MultiGzDecoder::new(cursor))));
            }
            self.line.clear();
            let n = self.reader.as_mut().expect("set above").read_line(&mut self.line)?;
            if n == 0 {
                self.reader = None;
                self.copy += 1;
                continue;
            }
            self.rewrite();
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path = String::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/kmem-trace-linux-6.18-x86_64.txt.gz"));
    let mut copies = 10u64;
    let mut emit = None;
    while let Some(a) = args.next() {
        if a == "--copies" {
            copies = args.next().and_then(|n| n.parse().ok()).expect("--copies N");
        } else if a == "--emit" {
            emit = Some(args.next().and_then(|n| n.parse::<u64>().ok()).expect("--emit N"));
        } else {
            path = a;
        }
    }
    let gz = std::fs::read(&path).expect("read the capture");
    if let Some(k) = emit {
        // The span of one copy, from its first and last timestamps.
        let r = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(&gz[..]));
        let mut p = KmemParser::new(r, "capture");
        while let Some(r) = p.next_raw() {
            r.expect("parse");
        }
        let s = p.stats();
        let span = s.last_timestamp_ns.unwrap_or(0) - s.first_timestamp_ns.unwrap_or(0);
        let mut out = io::BufWriter::new(io::stdout().lock());
        io::copy(&mut Repeated::new(gz, k, span), &mut out).expect("write the copies");
        return;
    }
    let trace = Trace::bundled();
    let statics = StaticSet::v3(&trace);
    let schemes = ReportScheme::ALL;

    // (b) decompression alone, to a sink.
    let (t_zcat, bytes) = time(|| {
        let mut d = MultiGzDecoder::new(&gz[..]);
        io::copy(&mut d, &mut io::sink()).expect("gunzip")
    });
    println!("gunzip_to_sink {:.1} ms ({} MB text)", t_zcat * 1e3, bytes / 1_000_000);

    // Parsing alone (borrowed records, no replay).
    let (t_parse, (lines, events)) = time(|| {
        let r = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(&gz[..]));
        let mut p = KmemParser::new(r, "capture");
        let mut n = 0u64;
        while let Some(r) = p.next_raw() {
            r.expect("parse");
            n += 1;
        }
        (p.stats().lines, n)
    });
    println!(
        "parse {:.1} ms ({:.2} M lines/s, {lines} lines, {events} events)",
        t_parse * 1e3,
        lines as f64 / t_parse / 1e6
    );

    // The whole run: parse + attribution + replay through every scheme.
    let (t_full, report) = time(|| {
        let r = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(&gz[..]));
        run_parser(KmemParser::new(r, "capture"), &trace, &statics, &schemes, bundled_sites(), |_| {}).expect("replay")
    });
    println!("whole_run {:.1} ms ({:.2}x gunzip_to_sink)", t_full * 1e3, t_full / t_zcat);

    // The binary's form: `run_capture`, the parse on a thread of its own.
    // Wall time (two threads' CPU time would not show the overlap).
    let mut walls = Vec::new();
    for _ in 0..REPEATS {
        let t = std::time::Instant::now();
        let r = run_capture(std::path::Path::new(&path), &trace, &statics, &schemes, bundled_sites(), |_| {});
        std::hint::black_box(r.expect("replay"));
        walls.push(t.elapsed().as_secs_f64());
    }
    let t_threaded = median(walls);
    println!("whole_run_threaded {:.1} ms wall ({:.2}x gunzip_to_sink)", t_threaded * 1e3, t_threaded / t_zcat);

    // (a) replay alone: pre-parse into compact events, then replay.
    let mainline_world = ReportScheme::Mainline.world(&statics);
    let groups = Replay::run(&mainline_world, &trace, &statics).groups();
    let mut compactor = Compactor::new(&trace, &groups, bundled_sites());
    let mut compact = Vec::with_capacity(events as usize);
    {
        let r = BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(&gz[..]));
        let mut p = KmemParser::new(r, "capture");
        while let Some(r) = p.next_raw() {
            compact.push(compactor.compact_raw(&r.expect("parse")));
        }
    }
    let setup = time(|| {
        let mut c = Compactor::new(&trace, &groups, bundled_sites());
        replay_events(&trace, &statics, &schemes, &mut c, |_| None, |_| {}).events
    })
    .0;
    let (t_replay, n) = time(|| {
        let mut c = Compactor::new(&trace, &groups, bundled_sites());
        let mut it = compact.iter().copied();
        replay_events(&trace, &statics, &schemes, &mut c, |_| it.next(), |_| {}).events
    });
    let t = (t_replay - setup).max(1e-9);
    println!(
        "replay {:.1} ms for {n} events x {} schemes, setup {:.1} ms excluded: {:.2} M events/s per scheme ({:.2} M events/s through all)",
        t * 1e3,
        schemes.len(),
        setup * 1e3,
        n as f64 * schemes.len() as f64 / t / 1e6,
        n as f64 / t / 1e6
    );
    println!("compact_event_bytes {}", std::mem::size_of::<slabmerge::input::kmem_replay::CompactEvent>());
    drop(compact);

    // (c) peak heap: the capture once, then `copies` times, streamed.
    let span = report.replay.span_ns.1 - report.replay.span_ns.0;
    drop(report);
    for k in [1, copies] {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let r = BufReader::with_capacity(64 * 1024, Repeated::new(gz.clone(), k, span));
        let rep = run_parser(KmemParser::new(r, "capture"), &trace, &statics, &schemes, bundled_sites(), |_| {})
            .expect("replay");
        let peak = PEAK.load(Ordering::Relaxed) - base;
        let live: u64 = rep.replay.schemes.iter().map(|(_, s)| s.peak_objects_live).max().unwrap_or(0);
        println!(
            "peak_heap copies={k} {:.1} MiB ({} lines, {} events, peak live objects per scheme {live})",
            peak as f64 / (1 << 20) as f64,
            rep.stats.lines,
            rep.replay.events
        );
    }
}
