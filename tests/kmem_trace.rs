//! The parser on real lines of each format, and on broken input.

use std::io::{BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slabmerge::input::kmem_trace::{
    Format, KmallocType, KmemEvent, KmemParser, KmemRecord, Stats, TraceError, maybe_gunzip,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kmem").join(name)
}

fn parse_file(name: &str) -> (Vec<KmemRecord>, Stats) {
    let mut p = KmemParser::open(data(name)).unwrap();
    let recs: Vec<KmemRecord> = (&mut p).map(|r| r.unwrap()).collect();
    (recs, p.into_stats())
}

fn parse_bytes(bytes: &[u8]) -> (Vec<KmemRecord>, Stats, Option<TraceError>) {
    let mut p = KmemParser::new(Cursor::new(bytes.to_vec()), "mem.txt");
    let mut recs = Vec::new();
    let mut err = None;
    for r in &mut p {
        match r {
            Ok(r) => recs.push(r),
            Err(e) => err = Some(e),
        }
    }
    (recs, p.into_stats(), err)
}

fn lines_of(name: &str) -> Vec<String> {
    std::fs::read_to_string(data(name)).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn tracefs_trace_file_with_header() {
    let (recs, s) = parse_file("tracefs-trace.txt");
    assert_eq!(s.lines, 50);
    assert_eq!(s.header_lines, 12);
    assert_eq!(s.malformed, 0, "{:?}", s.diagnostics);
    assert_eq!(s.events(), 38);
    assert_eq!(recs.len(), 38);
    assert_eq!(s.format, Some(Format::Tracefs));
    assert_eq!(s.tracefs_entries, Some((251, 32341)));
    let r = &recs[0];
    assert_eq!((r.cpu, r.pid, &*r.comm), (1, 7965, "sleep"));
    assert_eq!(r.timestamp_ns, 525_292_126_000);
    match &r.event {
        KmemEvent::CacheFree { call_site, ptr, name } => {
            assert_eq!(call_site.symbol.as_deref(), Some("unlink_anon_vmas"));
            assert_eq!((call_site.offset, call_site.size), (Some(0x173), Some(0x1e0)));
            assert_eq!(*ptr, 0xffff888103bd1140);
            assert_eq!(&**name, "anon_vma_chain");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn trace_pipe_capture_header_and_fields() {
    let (recs, s) = parse_file("trace-pipe.txt");
    let h = s.header.as_ref().expect("capture header");
    assert_eq!(h.kernel.as_deref(), Some("6.18.44-fc-v1045"));
    assert_eq!(h.slab_nomerge, Some(false));
    assert_eq!(h.pointers_hashed(), Some(false));
    assert!(h.cmdline.as_deref().unwrap().starts_with("mitigations=auto"));
    assert_eq!(h.workload.as_deref(), Some("./scripts/workload.sh"));
    assert_eq!(s.header_lines, 2);
    assert_eq!(s.malformed, 0, "{:?}", s.diagnostics);
    assert_eq!((s.cache_alloc, s.cache_free, s.kmalloc, s.kfree), (19, 13, 4, 8));
    // A kmem_cache_alloc with every field.
    let alloc = recs.iter().find(|r| matches!(r.event, KmemEvent::CacheAlloc { .. })).unwrap();
    let KmemEvent::CacheAlloc { call_site, name, bytes_req, bytes_alloc, gfp, node, accounted, ptr } = &alloc.event
    else {
        unreachable!()
    };
    assert!(*ptr > 0xffff_0000_0000_0000);
    assert!(call_site.symbol.is_some() && call_site.size.is_some());
    assert!(bytes_alloc >= bytes_req && !name.is_empty());
    assert!(!gfp.raw.is_empty());
    assert_eq!(*node, Some(-1));
    assert!(accounted.is_some());
    // kmalloc with __GFP_ACCOUNT goes to kmalloc-cg-N.
    for r in &recs {
        if let KmemEvent::Kmalloc { gfp, accounted, .. } = &r.event {
            assert_eq!(gfp.account(), gfp.raw.contains("ACCOUNT"));
            assert_eq!(gfp.kmalloc_type() == KmallocType::Cgroup, gfp.account() && !gfp.reclaimable() && !gfp.dma());
            // accounted= is computed from __GFP_ACCOUNT by the tracepoint (for kmalloc).
            assert_eq!(*accounted, Some(gfp.account()));
        }
    }
}

#[test]
fn free_of_an_object_allocated_before_the_capture_is_reported() {
    // The capture starts mid-flight: its first event frees an object whose
    // allocation is not in the capture. The parser reports it like any event;
    // pairing allocs and frees is the caller's job.
    let (recs, _) = parse_file("trace-pipe.txt");
    let first = &recs[0];
    assert!(!first.event.is_alloc());
    assert!(!recs.iter().any(|r| r.event.is_alloc() && r.event.ptr() == first.event.ptr() && r.line < first.line));
}

#[test]
fn trace_cmd_report() {
    let (recs, s) = parse_file("trace-cmd-report.txt");
    assert_eq!(s.malformed, 0, "{:?}", s.diagnostics);
    assert_eq!(s.format, Some(Format::TraceCmd));
    assert_eq!(s.header_lines, 1); // cpus=2
    assert_eq!(s.other_events.get("mm_page_alloc"), Some(&2));
    assert_eq!(s.events(), recs.len() as u64);
    let r = &recs[0];
    assert_eq!((r.pid, r.cpu, &*r.comm, r.timestamp_ns), (8262, 1, "bash", 543_508_705_000));
    match &r.event {
        KmemEvent::CacheAlloc { call_site, name, bytes_req, bytes_alloc, .. } => {
            assert_eq!(call_site.symbol.as_deref(), Some("getname_flags.part.0"));
            assert_eq!((call_site.offset, call_site.size), (Some(0x24), None));
            assert_eq!((&**name, *bytes_req, *bytes_alloc), ("names_cache", 4096, 4096));
        }
        e => panic!("{e:?}"),
    }
    // `ptr=(nil)`: kfree(NULL).
    assert!(recs.iter().any(|r| matches!(r.event, KmemEvent::Kfree { ptr: 0, .. })));
    assert!(recs.iter().any(|r| matches!(r.event, KmemEvent::Kmalloc { .. })));
}

#[test]
fn perf_script() {
    let (recs, s) = parse_file("perf-script.txt");
    assert_eq!(s.malformed, 0, "{:?}", s.diagnostics);
    assert_eq!(s.format, Some(Format::PerfScript));
    assert_eq!(s.other_events.get("mm_page_alloc"), Some(&4));
    let r = &recs[0];
    assert_eq!((&*r.comm, r.pid, r.cpu), ("perf", 8384, 0));
    assert!(matches!(&r.event, KmemEvent::Kmalloc { bytes_req: 32, bytes_alloc: 32, .. }));
    assert!(recs.iter().any(|r| &*r.comm == "perf-exec" && r.pid == 8385));
    assert!(recs.iter().any(|r| matches!(r.event, KmemEvent::Kfree { ptr: 0, .. })));
    let kinds: std::collections::BTreeSet<_> = recs.iter().map(|r| r.event.event_name()).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

#[test]
fn lost_markers_are_counted_and_summed() {
    let (recs, s) = parse_file("trace-pipe-lost.txt");
    assert_eq!((s.lost_markers, s.lost_events), (1, 2587));
    assert_eq!(recs.len(), 6);
    let (_, s) = parse_file("trace-cmd-report-dropped.txt");
    assert_eq!((s.lost_markers, s.lost_events), (1, 340));
    let (_, s, _) = parse_bytes(b"CPU:3 [LOST EVENTS]\n[LOST 7 EVENTS]\nCPU:0 [LOST many EVENTS]\n");
    assert_eq!((s.lost_markers, s.lost_events, s.lost_markers_uncounted, s.malformed), (2, 7, 1, 1));
}

#[test]
fn other_events_are_skipped_and_counted() {
    let (recs, s) = parse_file("tracefs-trace-hashed-ptr.txt");
    assert_eq!(s.other_events.get("mm_page_alloc"), Some(&1));
    assert_eq!(s.events() as usize, recs.len());
    assert_eq!(s.malformed, 0, "{:?}", s.diagnostics);
    // With hash-ptr on, tracefs prints 32-bit hashes.
    assert!(s.small_ptrs > 0);
    let only_other =
        b"  sleep-1 [000] ..... 1.000001: mm_page_alloc: page=0 pfn=0x1 order=0 migratetype=0 gfp_flags=GFP_KERNEL\n";
    let (recs, s, err) = parse_bytes(only_other);
    assert!(recs.is_empty() && err.is_none());
    assert!(matches!(s.check_nonempty(), Err(TraceError::NoKmemEvents { other_events: 1, .. })));
}

#[test]
fn odd_comms() {
    let (recs, s) = parse_file("odd-comms.txt");
    assert_eq!(s.malformed, 0, "{:?}", s.diagnostics);
    assert_eq!((&*recs[0].comm, recs[0].pid), ("memfd:sealed-91", 7489));
    assert_eq!(&*recs[2].comm, "kworker/u8:1");
    let text = "  Web Content-1234 [000] ..... 1.5: kfree: call_site=f+0x1/0x2 ptr=0\n\
                bash-42   (     42) [001] ..... 2.25: kfree: call_site=f+0x1/0x2 ptr=0\n\
                  my prog  99 [001]  3.000000001: kmem:kfree: call_site=f+0x1 ptr=(nil)\n";
    let (recs, s, _) = parse_bytes(text.as_bytes());
    assert_eq!(s.malformed, 0, "{:?}", s.diagnostics);
    assert_eq!((&*recs[0].comm, recs[0].pid, recs[0].timestamp_ns), ("Web Content", 1234, 1_500_000_000));
    assert_eq!((&*recs[1].comm, recs[1].pid), ("bash", 42));
    assert_eq!((&*recs[2].comm, recs[2].pid, recs[2].timestamp_ns), ("my prog", 99, 3_000_000_001));
}

#[test]
fn truncated_lines_are_diagnosed_and_the_run_goes_on() {
    let lines = lines_of("trace-pipe.txt");
    let full = lines.iter().find(|l| l.contains(": kmem_cache_alloc: ")).unwrap();
    let mut text = String::new();
    let cuts = [
        20,
        40,
        60,
        full.find("ptr=").unwrap() + 4,
        full.find("bytes_req").unwrap(),
        full.find("gfp_flags=").unwrap() + 10,
    ];
    for &c in &cuts {
        text.push_str(&full[..c]);
        text.push('\n');
        text.push_str(full);
        text.push('\n');
    }
    text.push_str(&full[..full.len() - 30]); // last line, no newline
    let (recs, s, err) = parse_bytes(text.as_bytes());
    assert!(err.is_none());
    assert_eq!(recs.len(), cuts.len());
    assert_eq!(s.malformed as usize, cuts.len() + 1, "{:?}", s.diagnostics);
    assert!(s.diagnostics[0].to_string().starts_with("mem.txt: line 1: "), "{}", s.diagnostics[0]);
    assert!(s.diagnostics.iter().any(|d| d.message.contains("missing field `bytes_req=`")), "{:?}", s.diagnostics);
    assert!(s.diagnostics.iter().any(|d| d.message.contains("bad ptr ``")), "{:?}", s.diagnostics);
    assert_eq!(s.diagnostics.last().unwrap().line as usize, cuts.len() * 2 + 1);
}

#[test]
fn garbage_lines() {
    let text = "hello world\n\
                bash-1 [000] ..... notatime: kfree: call_site=f ptr=0\n\
                bash-1 [000] ..... 1.0: kfree call_site=f ptr=0\n\
                bash-1 [000] ..... 1.0: kfree: call_site=f ptr=zz\n\
                bash-1 [000] ..... 1.0: kmalloc: call_site=f ptr=0 bytes_req=x bytes_alloc=8 gfp_flags=GFP_KERNEL\n\
                bash-1 [000] ..... 1.0: kmalloc: call_site=f ptr=0 bytes_req=8 bytes_alloc=8 gfp_flags=GFP_NONSENSE\n\
                bash-1 [000] ..... 1.0: kmem_cache_free: call_site=f ptr=0 name=\n\
                bash-1 [000] ..... 1.0: kfree: junk call_site=f ptr=0\n\
                bash [000] ..... 1.0: kfree: call_site=f ptr=0\n\
                bash-1 [000] ..... 1.0: kfree: call_site=f ptr=0\n";
    let (recs, s, err) = parse_bytes(text.as_bytes());
    assert!(err.is_none());
    assert_eq!(recs.len(), 1);
    assert_eq!(s.malformed, 9, "{:#?}", s.diagnostics);
    let msgs: Vec<String> = s.diagnostics.iter().map(|d| d.to_string()).collect();
    let expect = [
        "mem.txt: line 1: not a trace line",
        "mem.txt: line 2: expected a `SECONDS.MICROS:` timestamp",
        "mem.txt: line 3: expected `EVENT:` after the timestamp",
        "mem.txt: line 4: bad ptr `zz`",
        "mem.txt: line 5: bad bytes_req `x`",
        "mem.txt: line 6: unknown gfp flag `GFP_NONSENSE`",
        "mem.txt: line 7: empty `name=`",
        "mem.txt: line 8: `junk` before the first key=value field",
        "mem.txt: line 9: task `bash` is not COMM-PID",
    ];
    for (m, e) in msgs.iter().zip(expect) {
        assert!(m.starts_with(e), "{m} / {e}");
    }
}

#[test]
fn diagnostics_are_capped_but_all_counted() {
    let text = "garbage\n".repeat(100);
    let (_, s, _) = parse_bytes(text.as_bytes());
    assert_eq!((s.malformed, s.diagnostics.len()), (100, 20));
}

#[test]
fn empty_and_header_only_inputs_are_refused() {
    let (recs, s, err) = parse_bytes(b"");
    assert!(recs.is_empty() && err.is_none());
    assert!(matches!(s.check_nonempty(), Err(TraceError::Empty { .. })));
    let header: String = lines_of("tracefs-trace.txt")[..12].join("\n");
    let (_, s, _) = parse_bytes(header.as_bytes());
    let e = s.check_nonempty().unwrap_err();
    assert!(matches!(e, TraceError::HeaderOnly { lines: 12, .. }), "{e}");
    assert!(e.to_string().starts_with("mem.txt: 12 lines of header"), "{e}");
    let dir = tempdir();
    let p = dir.join("empty.txt");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(slabmerge::input::kmem_trace::read_all(&p), Err(TraceError::Empty { .. })));
    assert!(matches!(
        slabmerge::input::kmem_trace::read_all(dir.join("missing.txt")),
        Err(TraceError::Io { line: 0, .. })
    ));
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "slabmerge-kmem-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_input_including_concatenated_members() {
    let plain = std::fs::read(data("trace-pipe.txt")).unwrap();
    let (_, want) = parse_file("trace-pipe.txt");
    // Two members, split mid-file, as capture-kmem.sh writes them.
    let cut = plain.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut two = gz(&plain[..cut]);
    two.extend(gz(&plain[cut..]));
    let dir = tempdir();
    let p = dir.join("t.txt.gz");
    std::fs::write(&p, &two).unwrap();
    let (recs, s) = slabmerge::input::kmem_trace::read_all(&p).unwrap();
    assert_eq!(recs.len() as u64, want.events());
    assert_eq!(s.lines, want.lines);
    assert!(s.header.is_some());
    // Through maybe_gunzip on any BufRead.
    let r = maybe_gunzip(BufReader::new(Cursor::new(two.clone()))).unwrap();
    assert_eq!(KmemParser::new(r, "x").count() as u64, want.events());
    // A truncated gzip stream is an I/O error, not silent success.
    let r = maybe_gunzip(BufReader::new(Cursor::new(two[..two.len() - 20].to_vec()))).unwrap();
    let last = KmemParser::new(r, "cut.gz").last().unwrap();
    assert!(matches!(last, Err(TraceError::Io { .. })), "{last:?}");
    // The same from a file, which is decompressed on a thread of its own:
    // the same records, then the same error where the stream ends.
    let cut_file = dir.join("cut.txt.gz");
    std::fs::write(&cut_file, &two[..two.len() - 20]).unwrap();
    let from_cursor: Vec<String> =
        KmemParser::new(maybe_gunzip(BufReader::new(Cursor::new(two[..two.len() - 20].to_vec()))).unwrap(), "c")
            .map(|r| format!("{:?}", r.map(|r| (r.line, r.timestamp_ns, r.event)).map_err(|e| e.to_string())))
            .collect();
    let from_file: Vec<String> = KmemParser::open(&cut_file)
        .unwrap()
        .map(|r| format!("{:?}", r.map(|r| (r.line, r.timestamp_ns, r.event)).map_err(|e| e.to_string())))
        .collect();
    assert_eq!(from_file.len(), from_cursor.len());
    assert_eq!(from_file[..from_file.len() - 1], from_cursor[..from_cursor.len() - 1]);
    assert!(from_file.last().unwrap().contains("Err"), "{:?}", from_file.last());
}

#[test]
fn dev_zero_fails_fast() {
    let t = Instant::now();
    let mut p = KmemParser::open("/dev/zero").unwrap();
    let r = p.next();
    assert!(matches!(r, Some(Err(TraceError::Binary { line: 1, .. }))), "{r:?}");
    assert!(p.next().is_none());
    assert!(t.elapsed() < Duration::from_secs(30), "fails fast, not after reading everything");
    assert!(p.stats().fatal.as_deref().unwrap().contains("NUL byte"));
}

/// An endless line of text without a newline.
struct Endless;
impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        buf.fill(b'a');
        Ok(buf.len())
    }
}

#[test]
fn endless_line_is_bounded() {
    let t = Instant::now();
    let mut p = KmemParser::new(BufReader::new(Endless), "endless");
    let r = p.next();
    assert!(matches!(r, Some(Err(TraceError::LineTooLong { line: 1, limit: 65536, .. }))), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(30), "fails fast, not after reading everything");
}

#[test]
fn binary_trace_files_get_a_hint() {
    let (_, _, err) = parse_bytes(b"\x17\x08\x44tracing6\0\0\0");
    assert!(err.unwrap().to_string().contains("trace-cmd report"));
    let (_, _, err) = parse_bytes(b"PERFILE2\x68\0\0\0");
    assert!(err.unwrap().to_string().contains("perf script"));
}

#[test]
fn non_utf8_bytes() {
    // In the comm: kept, lossily decoded.
    let mut line = b"  caf\xe9-77 [000] ..... 1.000000: kfree: call_site=f+0x1/0x2 ptr=ffff888100000000\n".to_vec();
    // In the fields: a malformed line.
    line.extend_from_slice(b"  bash-1 [000] ..... 1.000000: kmem_cache_free: call_site=f+0x1/0x2 ptr=0 name=fo\xffo\n");
    let (recs, s, err) = parse_bytes(&line);
    assert!(err.is_none());
    assert_eq!(recs.len(), 1);
    assert_eq!(&*recs[0].comm, "caf\u{FFFD}");
    assert_eq!(s.malformed, 1);
    assert!(s.diagnostics[0].message.contains("not UTF-8"), "{:?}", s.diagnostics);
}

#[test]
fn crlf_and_blank_lines() {
    let (recs, s, _) = parse_bytes(b"\r\n  bash-1 [000] ..... 1.000000: kfree: call_site=f+0x1/0x2 ptr=0\r\n\n");
    assert_eq!((recs.len(), s.blank_lines, s.malformed), (1, 2, 0));
}

#[test]
fn call_site_forms() {
    let text = "  a-1 [000] ..... 1.0: kfree: call_site=0xffffffffc0a01234 ptr=0\n\
                  a-1 [000] ..... 1.0: kfree: call_site=ext4_foo+0x10/0x80 [ext4] ptr=0\n";
    let (recs, s, _) = parse_bytes(text.as_bytes());
    assert_eq!(s.malformed, 0, "{:?}", s.diagnostics);
    let c0 = recs[0].event.call_site();
    assert_eq!((c0.symbol.as_deref(), c0.address), (None, Some(0xffffffffc0a01234)));
    let c1 = recs[1].event.call_site();
    assert_eq!((c1.function(), c1.module.as_deref(), c1.size), ("ext4_foo", Some("ext4"), Some(0x80)));
}

#[test]
fn control_characters_in_fields() {
    let (recs, s, _) = parse_bytes(b"  a-1 [000] ..... 1.0: kfree: call_site=f+0x1/0x2 ptr=0\x07\n");
    assert!(recs.is_empty());
    assert!(s.diagnostics[0].message.contains("control character U+0007"), "{:?}", s.diagnostics);
}
