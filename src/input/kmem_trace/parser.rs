//! The streaming parser.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use super::error::{Diagnostic, TraceError};
use super::event::{CallSite, Format, KmemEvent, KmemRecord};
use super::gfp::{GfpFlags, KmallocType};
use super::header::{CAPTURE_PREFIX, CaptureHeader, WORKLOAD_PREFIX};
use super::reader::{LineError, LineReader, is_ascii, memchr, open_path, scan_line};
use crate::input::hash::StrMap;

/// Limits of a parse.
#[derive(Clone, Debug)]
pub struct ParserOptions {
    /// The longest line accepted, in bytes; a longer one ends the parse with
    /// [`TraceError::LineTooLong`]. Real kmem lines are under 400 bytes.
    pub max_line_len: usize,
    /// How many [`Diagnostic`]s to keep (all malformed lines are counted).
    pub max_diagnostics: usize,
}

impl Default for ParserOptions {
    fn default() -> Self {
        ParserOptions { max_line_len: 64 * 1024, max_diagnostics: 20 }
    }
}

/// What a parse saw, besides the events it returned.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// The input's name, as given.
    pub file: String,
    /// Lines read.
    pub lines: u64,
    /// Empty or all-blank lines.
    pub blank_lines: u64,
    /// `#` lines (tracefs header, capture header, comments) and trace-cmd's
    /// `cpus=N` / `version = N` / `CPU N is empty` lines.
    pub header_lines: u64,
    /// `kmem_cache_alloc` events returned.
    pub cache_alloc: u64,
    /// `kmem_cache_free` events returned.
    pub cache_free: u64,
    /// `kmalloc` events returned.
    pub kmalloc: u64,
    /// `kfree` events returned.
    pub kfree: u64,
    /// Well-formed lines of other events, skipped, by event name (without the
    /// `system:` prefix perf prints).
    pub other_events: BTreeMap<String, u64>,
    /// `[LOST N EVENTS]` / `[N EVENTS DROPPED]` marker lines.
    pub lost_markers: u64,
    /// The sum of their N.
    pub lost_events: u64,
    /// Markers without a count (`[LOST EVENTS]`): an unknown number was lost.
    pub lost_markers_uncounted: u64,
    /// Malformed lines (skipped).
    pub malformed: u64,
    /// The first [`ParserOptions::max_diagnostics`] malformed lines.
    pub diagnostics: Vec<Diagnostic>,
    /// The `# slabmerge-capture:` header, if the input has one.
    pub header: Option<CaptureHeader>,
    /// The tracefs `trace` file's `# entries-in-buffer/entries-written: A/B`:
    /// B - A events were overwritten before the read (no LOST marker says so).
    pub tracefs_entries: Option<(u64, u64)>,
    /// The format of the first kmem event line.
    pub format: Option<Format>,
    /// Kmem event lines by format (a mix means concatenated inputs).
    pub formats: BTreeMap<Format, u64>,
    /// Non-null pointers below 2^32: tracefs text with `hash-ptr` on prints
    /// 32-bit hashes, never kernel addresses.
    pub small_ptrs: u64,
    /// Timestamp of the first and last kmem event.
    pub first_timestamp_ns: Option<u64>,
    /// See `first_timestamp_ns`.
    pub last_timestamp_ns: Option<u64>,
    /// The error that ended the parse early, if one did.
    pub fatal: Option<String>,
}

impl Stats {
    /// The number of kmem events returned.
    pub fn events(&self) -> u64 {
        self.cache_alloc + self.cache_free + self.kmalloc + self.kfree
    }

    /// The number of other events skipped.
    pub fn other_event_total(&self) -> u64 {
        self.other_events.values().sum()
    }

    /// Refuses an input without kmem events: [`TraceError::Empty`],
    /// [`TraceError::HeaderOnly`] or [`TraceError::NoKmemEvents`].
    pub fn check_nonempty(&self) -> Result<(), TraceError> {
        if self.events() > 0 {
            return Ok(());
        }
        let file = self.file.clone();
        if self.lines == 0 {
            return Err(TraceError::Empty { file });
        }
        let other = self.other_event_total();
        if other == 0 && self.malformed == 0 && self.lost_markers == 0 {
            return Err(TraceError::HeaderOnly { file, lines: self.lines });
        }
        Err(TraceError::NoKmemEvents { file, lines: self.lines, other_events: other, malformed: self.malformed })
    }
}

/// Past this many entries a table stops growing (adversarial inputs): new
/// texts then share one scratch id, [`Interned::is_scratch`].
const TABLE_LIMIT: usize = 1 << 20;

/// One interning table: text → small id, id → value.
struct Table<V> {
    ids: StrMap<Box<str>, u32>,
    values: Vec<V>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table { ids: StrMap::default(), values: Vec::new() }
    }
}

impl<V> Table<V> {
    /// The id of `text`, making its value with `make` the first time.
    #[inline]
    fn id(&mut self, text: &str, make: impl FnOnce(&str) -> Result<V, String>) -> Result<u32, String> {
        if let Some(&id) = self.ids.get(text) {
            return Ok(id);
        }
        let v = make(text)?;
        if self.ids.len() < TABLE_LIMIT {
            let id = self.values.len() as u32;
            self.values.push(v);
            self.ids.insert(text.into(), id);
            Ok(id)
        } else {
            // The table is full: the scratch slot, overwritten each time.
            if self.values.len() == TABLE_LIMIT {
                self.values.push(v);
            } else {
                self.values[TABLE_LIMIT] = v;
            }
            Ok(TABLE_LIMIT as u32)
        }
    }
}

/// The parse's interning tables: cache names, call sites and GFP flag texts
/// repeat a lot, so each distinct text is parsed once and an event carries
/// small integer ids ([`RawRecord`]).
#[derive(Default)]
pub struct Interned {
    names: Table<Arc<str>>,
    sites: Table<CallSite>,
    gfps: Table<(GfpFlags, KmallocType)>,
}

impl Interned {
    /// The cache name of id `id` (a [`RawRecord::name`]).
    pub fn name(&self, id: u32) -> &Arc<str> {
        &self.names.values[id as usize]
    }
    /// The call site of id `id` (a [`RawRecord::site`]).
    pub fn site(&self, id: u32) -> &CallSite {
        &self.sites.values[id as usize]
    }
    /// The GFP flags of id `id` (a [`RawRecord::gfp`]).
    pub fn gfp(&self, id: u32) -> &GfpFlags {
        &self.gfps.values[id as usize].0
    }
    /// `kmalloc_type()` of the GFP flags of id `id`.
    pub fn kmalloc_type(&self, id: u32) -> KmallocType {
        self.gfps.values[id as usize].1
    }
    /// True for the shared id of texts seen after a table filled up: its
    /// value changes from event to event, so it must not be memoized.
    pub fn is_scratch(id: u32) -> bool {
        id as usize == TABLE_LIMIT
    }
}

/// Which of the four events a [`RawRecord`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `kmem:kmem_cache_alloc`.
    CacheAlloc,
    /// `kmem:kmem_cache_free`.
    CacheFree,
    /// `kmem:kmalloc`.
    Kmalloc,
    /// `kmem:kfree`.
    Kfree,
}

/// One event as the parser read it, borrowing the line and the parser's
/// [`Interned`] tables: no allocation per line. [`KmemParser::next_raw`]
/// gives these; [`KmemParser::next_record`] turns them into owned
/// [`KmemRecord`]s.
#[derive(Clone, Copy)]
pub struct RawRecord<'a> {
    /// 1-based line number.
    pub line: u64,
    /// The CPU column.
    pub cpu: u32,
    /// Timestamp (ns), as [`KmemRecord::timestamp_ns`].
    pub timestamp_ns: u64,
    /// The task's PID.
    pub pid: u32,
    /// The task's comm as printed.
    pub comm: &'a str,
    /// The event.
    pub kind: EventKind,
    /// The object pointer.
    pub ptr: u64,
    /// Id of the call site in [`RawRecord::tables`].
    pub site: u32,
    /// Id of the `name=` (the two cache events).
    pub name: Option<u32>,
    /// `bytes_req=` (allocations; 0 for frees).
    pub bytes_req: u64,
    /// `bytes_alloc=` (allocations; 0 for frees).
    pub bytes_alloc: u64,
    /// Id of the `gfp_flags=` (allocations).
    pub gfp: Option<u32>,
    /// `node=`.
    pub node: Option<i32>,
    /// `accounted=`.
    pub accounted: Option<bool>,
    /// The tables the ids refer to.
    pub tables: &'a Interned,
    /// What the parse has seen so far (the capture header, before the first event).
    pub stats: &'a Stats,
}

impl RawRecord<'_> {
    /// The owned event.
    pub fn event(&self) -> KmemEvent {
        let t = self.tables;
        let call_site = t.site(self.site).clone();
        let ptr = self.ptr;
        let name = || t.name(self.name.expect("cache events have a name")).clone();
        let gfp = || t.gfp(self.gfp.expect("allocations have GFP flags")).clone();
        match self.kind {
            EventKind::CacheFree => KmemEvent::CacheFree { call_site, ptr, name: name() },
            EventKind::Kfree => KmemEvent::Kfree { call_site, ptr },
            EventKind::CacheAlloc => KmemEvent::CacheAlloc {
                call_site,
                ptr,
                name: name(),
                bytes_req: self.bytes_req,
                bytes_alloc: self.bytes_alloc,
                gfp: gfp(),
                node: self.node,
                accounted: self.accounted,
            },
            EventKind::Kmalloc => KmemEvent::Kmalloc {
                call_site,
                ptr,
                bytes_req: self.bytes_req,
                bytes_alloc: self.bytes_alloc,
                gfp: gfp(),
                node: self.node,
                accounted: self.accounted,
            },
        }
    }
}

/// A streaming parser of kmem trace text: an iterator of [`KmemRecord`]s.
///
/// Items are `Err` only for errors that end the parse (I/O, binary data, an
/// over-long line); the iterator ends after one. Malformed lines, other
/// events, LOST markers and header lines are not items: they are counted in
/// [`KmemParser::stats`]. Read the stats after the iterator ends, and call
/// [`Stats::check_nonempty`] to refuse an input without events.
///
/// [`KmemParser::next_raw`] is the allocation-free form the replay uses.
pub struct KmemParser<R> {
    reader: LineReader<R>,
    state: State,
    comms: Table<Arc<str>>,
    done: bool,
}

struct State {
    stats: Stats,
    tables: Interned,
    max_diagnostics: usize,
    line: u64,
    pending_workload: bool,
    /// The last line that was not UTF-8, decoded lossily.
    lossy_line: String,
}

impl KmemParser<Box<dyn BufRead>> {
    /// Opens `path` (`-` for stdin), gunzipping it when it starts with the gzip magic.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        Self::open_with(path, ParserOptions::default())
    }

    /// [`KmemParser::open`] with options.
    pub fn open_with(path: impl AsRef<Path>, options: ParserOptions) -> Result<Self, TraceError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let reader = open_path(path).map_err(|source| TraceError::Io { file: name.clone(), line: 0, source })?;
        Ok(KmemParser::with_options(reader, name, options))
    }
}

/// A borrowed parse step: the next event, or the end (`None`), or a fatal error.
type Step<'a> = Option<Result<RawRecord<'a>, TraceError>>;

fn step<'a, R: BufRead>(reader: &'a mut LineReader<R>, state: &'a mut State, done: &mut bool) -> Step<'a> {
    // Each line is handled without keeping a borrow of it past its
    // iteration; the record found is then given its comm from the line again.
    let (ev, lossy) = loop {
        if *done {
            return None;
        }
        let line = match reader.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => {
                *done = true;
                return None;
            }
            Err(e) => {
                *done = true;
                let file = state.stats.file.clone();
                let line = state.line + 1;
                let err = match e {
                    LineError::Io(source) => TraceError::Io { file, line, source },
                    LineError::Nul => {
                        TraceError::Binary { file, line, what: "NUL byte: binary data, not a kmem trace text".into() }
                    }
                    LineError::BinaryMagic(what) => TraceError::Binary { file, line, what: what.into() },
                    LineError::TooLong => TraceError::LineTooLong { file, line, limit: reader.max },
                };
                state.stats.fatal = Some(err.to_string());
                return Some(Err(err));
            }
        };
        let buf = line.strip_suffix(b"\r").unwrap_or(line);
        match line_text(buf) {
            Ok((text, no_controls)) => {
                if let Some(ev) = state.handle(text, false, no_controls) {
                    break (ev, false);
                }
            }
            Err(_) => {
                // Rare: decode lossily (the record's comm then comes from the copy).
                let owned = String::from_utf8_lossy(buf).into_owned();
                let found = state.handle(&owned, true, false);
                state.lossy_line = owned;
                if let Some(ev) = found {
                    break (ev, true);
                }
            }
        }
    };
    let (start, end) = ev.comm;
    let comm = if lossy {
        &state.lossy_line[start..end]
    } else {
        match reader.current() {
            Ok(line) => utf8(&line[start..end]).expect("validated with its line"),
            Err(source) => {
                *done = true;
                let err = TraceError::Io { file: state.stats.file.clone(), line: ev.line, source };
                state.stats.fatal = Some(err.to_string());
                return Some(Err(err));
            }
        }
    };
    Some(Ok(RawRecord {
        line: ev.line,
        cpu: ev.cpu,
        timestamp_ns: ev.ts,
        pid: ev.pid,
        comm,
        kind: ev.kind,
        ptr: ev.ptr,
        site: ev.site,
        name: ev.name,
        bytes_req: ev.bytes_req,
        bytes_alloc: ev.bytes_alloc,
        gfp: ev.gfp,
        node: ev.node,
        accounted: ev.accounted,
        tables: &state.tables,
        stats: &state.stats,
    }))
}

/// `b` as text: an all-ASCII line (the usual case, checked sixteen bytes at
/// a time) without `from_utf8`'s full validation.
#[inline]
fn utf8(b: &[u8]) -> Result<&str, std::str::Utf8Error> {
    if is_ascii(b) {
        // SAFETY: ASCII bytes are valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        std::str::from_utf8(b)
    }
}

/// A line as text, as [`utf8`], and whether it is known to hold no control
/// character (one pass tells both; `false` leaves the question to the
/// field split).
#[inline]
fn line_text(b: &[u8]) -> Result<(&str, bool), std::str::Utf8Error> {
    let scan = scan_line(b);
    if scan.ascii {
        // SAFETY: ASCII bytes are valid UTF-8.
        Ok((unsafe { std::str::from_utf8_unchecked(b) }, scan.no_controls))
    } else {
        std::str::from_utf8(b).map(|t| (t, scan.no_controls))
    }
}

/// An event found on a line, before its comm is borrowed again.
struct Found {
    line: u64,
    cpu: u32,
    ts: u64,
    pid: u32,
    /// Byte range of the comm in the line.
    comm: (usize, usize),
    kind: EventKind,
    ptr: u64,
    site: u32,
    name: Option<u32>,
    bytes_req: u64,
    bytes_alloc: u64,
    gfp: Option<u32>,
    node: Option<i32>,
    accounted: Option<bool>,
}

impl<R: BufRead> KmemParser<R> {
    /// Parses text from `reader`; `file` names it in diagnostics. The reader
    /// is read as is: pass it through [`super::maybe_gunzip`] for gzip.
    pub fn new(reader: R, file: impl Into<String>) -> Self {
        Self::with_options(reader, file, ParserOptions::default())
    }

    /// [`KmemParser::new`] with options.
    pub fn with_options(reader: R, file: impl Into<String>, options: ParserOptions) -> Self {
        let stats = Stats { file: file.into(), ..Stats::default() };
        KmemParser {
            reader: LineReader::new(reader, options.max_line_len),
            state: State {
                stats,
                tables: Interned::default(),
                max_diagnostics: options.max_diagnostics,
                line: 0,
                pending_workload: false,
                lossy_line: String::new(),
            },
            comms: Table::default(),
            done: false,
        }
    }

    /// What the parse has seen so far.
    pub fn stats(&self) -> &Stats {
        &self.state.stats
    }

    /// The stats, consuming the parser.
    pub fn into_stats(self) -> Stats {
        self.state.stats
    }

    /// The interning tables (the ids of [`RawRecord`]s).
    pub fn tables(&self) -> &Interned {
        &self.state.tables
    }

    /// The next kmem event, borrowing the line: `None` at the end of the
    /// input or after a fatal error.
    pub fn next_raw(&mut self) -> Option<Result<RawRecord<'_>, TraceError>> {
        step(&mut self.reader, &mut self.state, &mut self.done)
    }

    /// The next kmem event, owned: `None` at the end of the input or after a fatal error.
    pub fn next_record(&mut self) -> Option<Result<KmemRecord, TraceError>> {
        let raw = match step(&mut self.reader, &mut self.state, &mut self.done)? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let comm = match self.comms.id(raw.comm, |c| Ok(c.into())) {
            Ok(id) => self.comms.values[id as usize].clone(),
            Err(_) => unreachable!("interning a comm cannot fail"),
        };
        Some(Ok(KmemRecord {
            line: raw.line,
            cpu: raw.cpu,
            timestamp_ns: raw.timestamp_ns,
            pid: raw.pid,
            comm,
            event: raw.event(),
        }))
    }
}

impl<R: BufRead> Iterator for KmemParser<R> {
    type Item = Result<KmemRecord, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}

/// Reads a whole file (`-` for stdin, gzip transparently), refusing one
/// without kmem events.
pub fn read_all(path: impl AsRef<Path>) -> Result<(Vec<KmemRecord>, Stats), TraceError> {
    let mut p = KmemParser::open(path)?;
    let mut out = Vec::new();
    for r in &mut p {
        out.push(r?);
    }
    let stats = p.into_stats();
    stats.check_nonempty()?;
    Ok((out, stats))
}

enum Parsed<'a> {
    Kmem(Fields<'a>, Format),
    Other(&'a str),
}

impl State {
    fn diag(&mut self, message: String) {
        self.stats.malformed += 1;
        if self.stats.diagnostics.len() < self.max_diagnostics {
            self.stats.diagnostics.push(Diagnostic { file: self.stats.file.clone(), line: self.line, message });
        }
    }

    /// `no_controls`: `text` is known to hold no control character.
    fn handle(&mut self, text: &str, lossy: bool, no_controls: bool) -> Option<Found> {
        self.line += 1;
        self.stats.lines += 1;
        let t = trim_line(text);
        if t.is_empty() {
            self.stats.blank_lines += 1;
            return None;
        }
        let workload_expected = std::mem::take(&mut self.pending_workload);
        let first = t.as_bytes()[0];
        if first == b'#' {
            self.stats.header_lines += 1;
            self.header_line(t, workload_expected);
            return None;
        }
        if matches!(first, b'c' | b'v' | b'C') && is_tracecmd_header(t) {
            self.stats.header_lines += 1;
            return None;
        }
        if matches!(first, b'C' | b'[')
            && let Some(m) = lost_marker(t)
        {
            match m {
                Ok(Some(n)) => {
                    self.stats.lost_markers += 1;
                    self.stats.lost_events += n;
                }
                Ok(None) => {
                    self.stats.lost_markers += 1;
                    self.stats.lost_markers_uncounted += 1;
                }
                Err(e) => self.diag(e),
            }
            return None;
        }
        let fields = match parse_event_line(t, lossy, no_controls) {
            Ok(Parsed::Kmem(f, format)) => match self.intern(&f) {
                Ok(ids) => (f, format, ids),
                Err(e) => {
                    self.diag(e);
                    return None;
                }
            },
            Ok(Parsed::Other(name)) => {
                match self.stats.other_events.get_mut(name) {
                    Some(n) => *n += 1,
                    None => {
                        self.stats.other_events.insert(name.to_owned(), 1);
                    }
                }
                return None;
            }
            Err(e) => {
                self.diag(e);
                return None;
            }
        };
        let (f, format, (site, name, gfp)) = fields;
        let s = &mut self.stats;
        if s.format != Some(format) {
            s.format.get_or_insert(format);
        }
        // `get_mut` first: `entry` is a call per line, and the key is nearly always there.
        match s.formats.get_mut(&format) {
            Some(n) => *n += 1,
            None => {
                s.formats.insert(format, 1);
            }
        }
        match f.kind {
            EventKind::CacheAlloc => s.cache_alloc += 1,
            EventKind::CacheFree => s.cache_free += 1,
            EventKind::Kmalloc => s.kmalloc += 1,
            EventKind::Kfree => s.kfree += 1,
        }
        if f.ptr != 0 && f.ptr < (1 << 32) {
            s.small_ptrs += 1;
        }
        s.first_timestamp_ns.get_or_insert(f.ts);
        s.last_timestamp_ns = Some(f.ts);
        let comm_start = f.comm.as_ptr() as usize - text.as_ptr() as usize;
        Some(Found {
            line: self.line,
            cpu: f.cpu,
            ts: f.ts,
            pid: f.pid,
            comm: (comm_start, comm_start + f.comm.len()),
            kind: f.kind,
            ptr: f.ptr,
            site,
            name,
            bytes_req: f.bytes_req,
            bytes_alloc: f.bytes_alloc,
            gfp,
            node: f.node,
            accounted: f.accounted,
        })
    }

    /// Interns the texts of an event's fields: (site, name, gfp) ids.
    #[inline]
    fn intern(&mut self, f: &Fields<'_>) -> Result<(u32, Option<u32>, Option<u32>), String> {
        let t = &mut self.tables;
        let site = t.sites.id(f.call_site, CallSite::parse)?;
        let name = match f.name {
            Some(n) => Some(t.names.id(n, |n| Ok(n.into()))?),
            None => None,
        };
        let gfp = match f.gfp {
            Some(g) => Some(t.gfps.id(g, |g| {
                let bits = GfpFlags::parse_bits(g)?;
                let flags = GfpFlags { bits, raw: g.into() };
                let kind = flags.kmalloc_type();
                Ok((flags, kind))
            })?),
            None => None,
        };
        Ok((site, name, gfp))
    }

    fn header_line(&mut self, t: &str, workload_expected: bool) {
        if let Some(rest) = t.strip_prefix(CAPTURE_PREFIX) {
            match CaptureHeader::parse(rest) {
                Ok(h) => {
                    if self.stats.header.is_some() {
                        self.diag("a second `# slabmerge-capture:` header (concatenated captures?)".into());
                    } else {
                        self.stats.header = Some(h);
                        self.pending_workload = true;
                    }
                }
                Err(e) => self.diag(e),
            }
        } else if let Some(rest) = t.strip_prefix(WORKLOAD_PREFIX) {
            if workload_expected && let Some(h) = self.stats.header.as_mut() {
                h.workload = Some(rest.trim().to_string());
            }
        } else if let Some(rest) = t.strip_prefix("# entries-in-buffer/entries-written:") {
            let nums = rest.split_whitespace().next().and_then(|s| s.split_once('/'));
            if let Some((a, b)) = nums
                && let (Ok(a), Ok(b)) = (a.parse(), b.parse())
            {
                self.stats.tracefs_entries = Some((a, b));
            }
        }
    }
}

/// `text.trim_ascii()`, the leading spaces tracefs pads the task column
/// with (a dozen on most lines) skipped eight at a time first.
#[inline]
fn trim_line(text: &str) -> &str {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(w) = b.get(i..i + 8)
        && w == b"        "
    {
        i += 8;
    }
    text[i..].trim_ascii()
}

/// trace-cmd report's lines before the events.
fn is_tracecmd_header(t: &str) -> bool {
    if let Some(n) = t.strip_prefix("cpus=") {
        return all_digits(n);
    }
    if let Some(n) = t.strip_prefix("version = ") {
        return !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    }
    if let Some(r) = t.strip_prefix("CPU ")
        && let Some(n) = r.strip_suffix(" is empty")
    {
        return all_digits(n);
    }
    false
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `CPU:N [LOST M EVENTS]`, `[LOST M EVENTS]`, `CPU:N [LOST EVENTS]`
/// (tracefs), `CPU:N [M EVENTS DROPPED]` (trace-cmd). `None`: not a marker.
fn lost_marker(t: &str) -> Option<Result<Option<u64>, String>> {
    let rest = match t.strip_prefix("CPU:") {
        Some(r) => {
            let d = r.bytes().take_while(|b| b.is_ascii_digit()).count();
            if d == 0 {
                return None;
            }
            r[d..].trim_start()
        }
        None => t,
    };
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    let bad = || Some(Err(format!("malformed lost-events marker `{t}`")));
    if let Some(n) = inner.strip_prefix("LOST ") {
        if n == "EVENTS" {
            return Some(Ok(None));
        }
        return match n.strip_suffix(" EVENTS").map(str::parse::<u64>) {
            Some(Ok(n)) => Some(Ok(Some(n))),
            _ => bad(),
        };
    }
    if let Some(n) = inner.strip_suffix(" EVENTS DROPPED") {
        return match n.parse::<u64>() {
            Ok(n) => Some(Ok(Some(n))),
            Err(_) => bad(),
        };
    }
    if t.starts_with("CPU:") { bad() } else { None }
}

/// Finds ` [NNN] ` (the CPU column): the byte range of `[NNN]`.
fn find_cpu(t: &str) -> Option<(usize, usize, u32)> {
    let b = t.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr(b'[', &b[i..]) {
        let s = i + off;
        let mut j = s + 1;
        let mut cpu: u64 = 0;
        while j < b.len() && b[j].is_ascii_digit() && j - s <= 10 {
            cpu = cpu * 10 + u64::from(b[j] - b'0');
            j += 1;
        }
        if j > s + 1
            && j < b.len()
            && b[j] == b']'
            && (s == 0 || b[s - 1] == b' ')
            && (j + 1 == b.len() || b[j + 1] == b' ')
            && let Ok(cpu) = u32::try_from(cpu)
        {
            return Some((s, j + 1, cpu));
        }
        i = s + 1;
    }
    None
}

/// Splits the task column: `comm-pid` (tracefs, trace-cmd) or `comm pid` (perf),
/// with an optional `(tgid)` after it (tracefs `record-tgid`).
fn parse_task(task: &str) -> Result<(&str, u32), String> {
    // The usual column (`comm-pid`, padded with spaces) read backwards in one
    // pass; anything else (a tgid, a long or missing pid) the general rule reads.
    let b = task.as_bytes();
    let mut e = b.len();
    while e > 0 && b[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    let mut sep = e;
    let mut pid: u64 = 0;
    let mut scale: u64 = 1;
    while sep > 0 && e - sep < 10 && b[sep - 1].is_ascii_digit() {
        pid += u64::from(b[sep - 1] - b'0') * scale;
        scale *= 10;
        sep -= 1;
    }
    if sep < e
        && sep > 1
        && (b[sep - 1] == b'-' || b[sep - 1] == b' ')
        && !b[0].is_ascii_whitespace()
        && let Ok(pid) = u32::try_from(pid)
    {
        let comm = &task[..sep - 1];
        return Ok((if b[sep - 1] == b' ' { comm.trim_end() } else { comm }, pid));
    }
    parse_task_general(task)
}

/// [`parse_task`] of any column.
fn parse_task_general(task: &str) -> Result<(&str, u32), String> {
    let mut task = task.trim_ascii();
    if task.ends_with(')')
        && let Some(open) = task.rfind('(')
    {
        let inner = task[open + 1..task.len() - 1].trim();
        if all_digits(inner) || (!inner.is_empty() && inner.bytes().all(|b| b == b'-')) {
            task = task[..open].trim_end();
        }
    }
    if task.is_empty() {
        return Err("no task (comm-pid) before the CPU column".into());
    }
    // The pid: the digits at the end, after `-` or ` `.
    let b = task.as_bytes();
    let digits = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    let sep = b.len() - digits;
    if digits > 0 && sep > 0 && (b[sep - 1] == b' ' || b[sep - 1] == b'-') {
        let pid = parse_digits(&b[sep..]).and_then(|p| u32::try_from(p).ok());
        let pid = pid.ok_or_else(|| format!("bad pid in task `{task}`"))?;
        let comm = &task[..sep - 1];
        return Ok((if b[sep - 1] == b' ' { comm.trim_end() } else { comm }, pid));
    }
    Err(format!("task `{task}` is not COMM-PID"))
}

/// Decimal digits (at most 19) to a number.
#[inline]
fn parse_digits(d: &[u8]) -> Option<u64> {
    if d.is_empty() || d.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    Some(n)
}

/// Decimal digits to a number, checked (for fields that may be up to `u64::MAX`).
#[inline]
fn parse_dec(d: &[u8]) -> Option<u64> {
    if d.len() <= 19 {
        return parse_digits(d);
    }
    let s = std::str::from_utf8(d).ok()?;
    if !all_digits(s) {
        return None;
    }
    s.parse().ok()
}

/// `10^(9 - k)`: the scale of a fraction of `k` digits, by `k`.
const FRACTION_SCALE: [u64; 10] =
    [1_000_000_000, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

/// `SECONDS.FRACTION:` to nanoseconds (a timestamp without a dot is taken as is).
#[inline]
fn parse_timestamp(tok: &str) -> Option<u64> {
    // The usual form (1-19 digits, a dot, 1-9 digits, the colon) in one
    // pass; any other is left to the general reading, which gives the same
    // value for this form.
    let b = tok.as_bytes();
    if let Some(ts) = parse_timestamp_micros(b) {
        return Some(ts);
    }
    let mut i = 0;
    let mut secs: u64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        secs = secs.wrapping_mul(10).wrapping_add(u64::from(b[i] - b'0'));
        i += 1;
    }
    if (1..=19).contains(&i) && i < b.len() && b[i] == b'.' {
        let start = i + 1;
        let mut j = start;
        let mut frac: u64 = 0;
        while j < b.len() && j - start < 10 && b[j].is_ascii_digit() {
            frac = frac * 10 + u64::from(b[j] - b'0');
            j += 1;
        }
        let k = j - start;
        if (1..=9).contains(&k) && j + 1 == b.len() && b[j] == b':' {
            return secs.checked_mul(1_000_000_000)?.checked_add(frac * FRACTION_SCALE[k]);
        }
    }
    parse_timestamp_general(tok)
}

/// `SECONDS.FFFFFF:`, the microseconds tracefs and trace-cmd print, with
/// the last eight bytes (`.FFFFFF:`) checked and converted as one word;
/// `None` for any other form (which [`parse_timestamp`] reads on).
#[inline]
fn parse_timestamp_micros(b: &[u8]) -> Option<u64> {
    const LO6: u64 = 0x0101_0101_0101;
    let (secs, tail) = b.split_at_checked(b.len().checked_sub(8)?)?;
    let w = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
    let digits = (w >> 8) & 0xffff_ffff_ffff;
    // Each of the six bytes is 0x30..=0x39: high nibble 3, and still 3 with 6 added.
    let all_digits = digits & (LO6 * 0xf0) == LO6 * 0x30 && (digits + LO6 * 6) & (LO6 * 0xf0) == LO6 * 0x30;
    if w as u8 != b'.' || (w >> 56) as u8 != b':' || !all_digits || secs.is_empty() || secs.len() > 19 {
        return None;
    }
    let secs = parse_digits(secs)?;
    // The six digits after two zero ones (the first digit in the lowest
    // byte), combined pairwise: 2 digits a byte, 4 a half-word, 8 a word.
    let d = (digits - LO6 * 0x30) << 16;
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_ffff_0000_ffff;
    let micros = (d.wrapping_mul(10_000) + (d >> 32)) & 0xffff_ffff;
    secs.checked_mul(1_000_000_000)?.checked_add(micros * 1_000)
}

/// [`parse_timestamp`] of any form.
fn parse_timestamp_general(tok: &str) -> Option<u64> {
    let t = tok.strip_suffix(':')?.as_bytes();
    match memchr(b'.', t) {
        Some(dot) => {
            let (s, f) = (&t[..dot], &t[dot + 1..]);
            if f.len() > 9 {
                return None;
            }
            let secs = parse_dec(s)?;
            let frac = parse_digits(f)?;
            let scale = 10u64.pow(9 - f.len() as u32);
            secs.checked_mul(1_000_000_000)?.checked_add(frac * scale)
        }
        None => parse_dec(t),
    }
}

/// `s` without its leading spaces (`trim_start_matches(' ')`, a byte loop).
#[inline]
fn skip_spaces(s: &str) -> &str {
    let n = s.bytes().take_while(|&b| b == b' ').count();
    &s[n..]
}

#[inline]
fn next_token<'a>(s: &mut &'a str) -> Option<&'a str> {
    let t = skip_spaces(s);
    if t.is_empty() {
        *s = t;
        return None;
    }
    let end = memchr(b' ', t.as_bytes()).unwrap_or(t.len());
    let (tok, rest) = t.split_at(end);
    *s = rest;
    Some(tok)
}

/// The fields the parser reads, by slot.
const F_CALL_SITE: usize = 0;
const F_PTR: usize = 1;
const F_NAME: usize = 2;
const F_BYTES_REQ: usize = 3;
const F_BYTES_ALLOC: usize = 4;
const F_GFP: usize = 5;
const F_NODE: usize = 6;
const F_ACCOUNTED: usize = 7;
const SLOTS: usize = 8;
/// Keys of other fields (counted against the 16-field limit, then ignored).
const F_OTHER: usize = SLOTS;

#[inline]
fn slot(key: &[u8]) -> usize {
    match key {
        b"call_site" => F_CALL_SITE,
        b"ptr" => F_PTR,
        b"name" => F_NAME,
        b"bytes_req" => F_BYTES_REQ,
        b"bytes_alloc" => F_BYTES_ALLOC,
        b"gfp_flags" => F_GFP,
        b"node" => F_NODE,
        b"accounted" => F_ACCOUNTED,
        _ => F_OTHER,
    }
}

const KEY_NAMES: [&str; SLOTS] =
    ["call_site", "ptr", "name", "bytes_req", "bytes_alloc", "gfp_flags", "node", "accounted"];

const KEY_OTHER: u8 = 0;
const KEY_CHAR: u8 = 1;
const KEY_EQ: u8 = 2;

/// Per byte: [`KEY_CHAR`] for the bytes of a key (lowercase, digits, `_`),
/// [`KEY_EQ`] for `=`, [`KEY_OTHER`] otherwise: one load instead of three
/// range tests per byte of a key.
const KEY_BYTE: [u8; 256] = {
    let mut t = [KEY_OTHER; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' {
            t[c] = KEY_CHAR;
        }
        c += 1;
    }
    t[b'=' as usize] = KEY_EQ;
    t
};

/// `key=value` fields; a value runs to the next ` key=` (so it may hold
/// spaces). The first of a repeated key counts.
struct KeyVals<'a> {
    /// Byte ranges of the values, by slot (`end == usize::MAX`: absent).
    range: [(usize, usize); SLOTS],
    s: &'a str,
}

impl<'a> KeyVals<'a> {
    /// `no_controls`: `s` is known to hold no control character (its line
    /// was scanned for them), so it is not looked at again.
    fn split(s: &'a str, no_controls: bool) -> Result<KeyVals<'a>, String> {
        let mut f = KeyVals { range: [(0, usize::MAX); SLOTS], s };
        let b = s.as_bytes();
        if !no_controls && let Some(c) = control_char(b) {
            return Err(format!("control character U+{c:04X} in the line"));
        }
        let mut n = 0;
        // The slot whose value a token without `=` extends (None: no field yet).
        let mut last: Option<usize> = None;
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            let start = i;
            let end = start + memchr(b' ', &b[start..]).unwrap_or(b.len() - start);
            // `key=` starts the token: lowercase, digits and `_` up to a `=`.
            let mut key_len = None;
            for (k, &c) in b[start..end].iter().enumerate() {
                match KEY_BYTE[usize::from(c)] {
                    KEY_CHAR => {}
                    KEY_EQ => {
                        key_len = Some(k).filter(|&k| k > 0);
                        break;
                    }
                    _ => break,
                }
            }
            i = end;
            match key_len {
                Some(k) => {
                    if n == 16 {
                        return Err("more than 16 fields".into());
                    }
                    n += 1;
                    let sl = slot(&b[start..start + k]);
                    if sl < SLOTS && f.range[sl].1 == usize::MAX {
                        f.range[sl] = (start + k + 1, end);
                        last = Some(sl);
                    } else {
                        last = Some(F_OTHER);
                    }
                }
                None => match last {
                    Some(sl) if sl < SLOTS => f.range[sl].1 = end,
                    Some(_) => {}
                    None => return Err(format!("`{}` before the first key=value field", &s[start..end])),
                },
            }
        }
        Ok(f)
    }

    /// [`KeyVals::split`] of a line whose fields are exactly those tracefs
    /// prints for `kind` ([`ALLOC_KEYS`] and the like), in that order, one token each:
    /// each key is compared where it must start, and the value runs to the
    /// next space. `None` for any other line (another order, an extra or
    /// missing field, a value with spaces, a control character), which
    /// [`KeyVals::split`] then reads, or refuses, by the general rule; where
    /// this succeeds the general rule gives the same ranges.
    ///
    /// Always inlined: its one caller then fills the fields in place rather
    /// than copying them out of an `Option`.
    #[inline(always)]
    fn split_expected(s: &'a str, kind: EventKind, no_controls: bool) -> Option<KeyVals<'a>> {
        // One copy per event, each with its keys known when compiled: the
        // loop is unrolled, and each key's word, mask and slot are constants.
        match kind {
            EventKind::CacheFree => Self::split_keys(s, &FREE_KEYS, no_controls),
            EventKind::Kfree => Self::split_keys(s, &KFREE_KEYS, no_controls),
            EventKind::CacheAlloc => Self::split_keys(s, &ALLOC_KEYS, no_controls),
            EventKind::Kmalloc => Self::split_keys(s, &KMALLOC_KEYS, no_controls),
        }
    }

    /// [`KeyVals::split_expected`] with the keys `keys`.
    #[inline(always)]
    fn split_keys<const N: usize>(s: &'a str, keys: &[Key; N], no_controls: bool) -> Option<KeyVals<'a>> {
        let b = s.as_bytes();
        if !no_controls && control_char(b).is_some() {
            return None;
        }
        let mut f = KeyVals { range: [(0, usize::MAX); SLOTS], s };
        let mut i = 0;
        for (n, key) in keys.iter().enumerate() {
            if n > 0 {
                // `i` is at the space that ended the last value.
                while i < b.len() && b[i] == b' ' {
                    i += 1;
                }
            }
            if !key.is_at(b, i) {
                return None;
            }
            let v = i + key.text.len();
            let end = find_space(b, v);
            f.range[key.slot] = (v, end);
            i = end;
        }
        (i == b.len()).then_some(f)
    }

    #[inline]
    fn get(&self, slot: usize) -> Option<&'a str> {
        let (a, b) = self.range[slot];
        if b == usize::MAX {
            return None;
        }
        debug_assert!(self.s.is_char_boundary(a) && self.s.is_char_boundary(b) && a <= b);
        // SAFETY: both splits set a range only from just after an ASCII `=`
        // to an ASCII space or the end of `s`, inside `s`: char boundaries,
        // in order (the checked slice tested that on every field of every line).
        Some(unsafe { self.s.get_unchecked(a..b) })
    }

    #[inline]
    fn req(&self, slot: usize) -> Result<&'a str, String> {
        match self.get(slot) {
            Some(v) => Ok(v),
            None => Err(format!("missing field `{}=`", KEY_NAMES[slot])),
        }
    }
}

/// The first space in `b` from `from` on (`b.len()` if none): sixteen bytes
/// at a time with SSE2, the last block read where it ends `b` (overlapping
/// bytes before `from` are shifted out), so the short values of kmem fields
/// take one or two loads and no byte loop.
#[inline(always)]
fn find_space(b: &[u8], from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if b.len() >= 16 {
        use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
        // SAFETY: SSE2 is in every x86_64 CPU (the target's baseline); each
        // load reads 16 bytes at `i..i + 16` with `i + 16 <= b.len()`.
        unsafe {
            let space = _mm_set1_epi8(b' ' as i8);
            let mut i = from;
            while i + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let m = _mm_movemask_epi8(_mm_cmpeq_epi8(v, space)) as u32;
                if m != 0 {
                    return i + m.trailing_zeros() as usize;
                }
                i += 16;
            }
            if i < b.len() {
                let last = b.len() - 16;
                let v = _mm_loadu_si128(b.as_ptr().add(last).cast::<__m128i>());
                let m = (_mm_movemask_epi8(_mm_cmpeq_epi8(v, space)) as u32) >> (i - last);
                if m != 0 {
                    return i + m.trailing_zeros() as usize;
                }
            }
            return b.len();
        }
    }
    from + memchr(b' ', &b[from..]).unwrap_or(b.len() - from)
}

/// A field [`KeyVals::split_expected`] expects: its slot, its `key=` text,
/// and that text as a little-endian word with a mask of its bytes, so that
/// where 16 bytes are left one load and compare tests it (a slice compare
/// of a length known only at run time is a `memcmp` call per field).
struct Key {
    slot: usize,
    text: &'static [u8],
    word: u128,
    mask: u128,
}

impl Key {
    const fn new(slot: usize, text: &'static [u8]) -> Key {
        assert!(text.len() < 16, "a key fits a 16-byte word");
        let mut word = 0u128;
        let mut i = 0;
        while i < text.len() {
            word |= (text[i] as u128) << (8 * i);
            i += 1;
        }
        Key { slot, text, word, mask: (1u128 << (8 * text.len())) - 1 }
    }

    /// True if `b[i..]` starts with the key's text. Inlined where the key
    /// is a constant, its test is a load, an `and` and a compare.
    #[inline(always)]
    fn is_at(&self, b: &[u8], i: usize) -> bool {
        match b.get(i..i + 16) {
            Some(w) => u128::from_le_bytes(w.try_into().expect("16 bytes")) & self.mask == self.word,
            None => b[i..].starts_with(self.text),
        }
    }
}

// The fields tracefs prints for each event, in its order (Linux 6.18's
// `TP_printk`s): the order `KeyVals::split_expected` tries first.
const CALL_SITE: Key = Key::new(F_CALL_SITE, b"call_site=");
const PTR: Key = Key::new(F_PTR, b"ptr=");
const NAME: Key = Key::new(F_NAME, b"name=");
const BYTES_REQ: Key = Key::new(F_BYTES_REQ, b"bytes_req=");
const BYTES_ALLOC: Key = Key::new(F_BYTES_ALLOC, b"bytes_alloc=");
const GFP: Key = Key::new(F_GFP, b"gfp_flags=");
const NODE: Key = Key::new(F_NODE, b"node=");
const ACCOUNTED: Key = Key::new(F_ACCOUNTED, b"accounted=");
const FREE_KEYS: [Key; 3] = [CALL_SITE, PTR, NAME];
const KFREE_KEYS: [Key; 2] = [CALL_SITE, PTR];
const ALLOC_KEYS: [Key; 8] = [CALL_SITE, PTR, NAME, BYTES_REQ, BYTES_ALLOC, GFP, NODE, ACCOUNTED];
const KMALLOC_KEYS: [Key; 7] = [CALL_SITE, PTR, BYTES_REQ, BYTES_ALLOC, GFP, NODE, ACCOUNTED];

/// The first control character other than tab (and DEL) in `b`, eight bytes
/// at a time: a word passes when no byte is below 0x20 or equal to 0x7f.
fn control_char(b: &[u8]) -> Option<u8> {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is in every x86_64 CPU (the target's baseline), and
        // each load reads the 16 bytes at `i..i + 16`, inside `b`.
        unsafe {
            let low = _mm_set1_epi8(0x1f);
            let del = _mm_set1_epi8(0x7f);
            // Skip the blocks with no byte up to 0x1f (tab included) and no
            // 0x7f; the word loop below reads the rest from the first other.
            while i + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                let flagged = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, low), v), _mm_cmpeq_epi8(v, del));
                if _mm_movemask_epi8(flagged) != 0 {
                    break;
                }
                i += 16;
            }
        }
    }
    control_char_words(&b[i..])
}

/// [`control_char`] eight bytes at a time.
fn control_char_words(b: &[u8]) -> Option<u8> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let bad = |c: u8| (c < 0x20 && c != b'\t') || c == 0x7f;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        // A byte below 0x20 (ASCII bytes only: a byte >= 0x80 has its high bit set and
        // is not below 0x20), or a byte equal to 0x7f.
        let below = w.wrapping_sub(LO * 0x20) & !w & HI;
        let del = w ^ (LO * 0x7f);
        let is_del = del.wrapping_sub(LO) & !del & HI;
        if below | is_del != 0
            && let Some(&x) = c.iter().find(|&&x| bad(x))
        {
            return Some(x);
        }
    }
    chunks.remainder().iter().copied().find(|&x| bad(x))
}

/// Per byte: its value as a hex digit, or [`NOT_HEX`].
const HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => NOT_HEX,
        };
        c += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

#[inline]
fn parse_ptr(v: &str) -> Result<u64, String> {
    if v == "(nil)" {
        return Ok(0);
    }
    let h = v.strip_prefix("0x").unwrap_or(v).as_bytes();
    if let Ok(h16) = <&[u8; 16]>::try_from(h)
        && let Some(n) = hex16(h16)
    {
        return Ok(n);
    }
    if h.is_empty() || h.len() > 16 {
        return Err(format!("bad ptr `{v}`"));
    }
    let mut n: u64 = 0;
    let mut bad = 0;
    for &c in h {
        let d = HEX[usize::from(c)];
        bad |= d;
        n = (n << 4) | u64::from(d & 0xf);
    }
    if bad & 0xf0 != 0 {
        return Err(format!("bad ptr `{v}`"));
    }
    Ok(n)
}

/// Sixteen hex digits (what `%p` prints on 64 bits) to a number, `None` if
/// any is not one: checked sixteen at a time with SSE2, then turned into
/// nibbles and packed a word at a time, not a table lookup per digit.
#[inline]
fn hex16(h: &[u8; 16]) -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is in every x86_64 CPU (the target's baseline), and
        // the load reads the 16 bytes of `h`.
        let ok = unsafe {
            let v = _mm_loadu_si128(h.as_ptr().cast::<__m128i>());
            // Signed compares: a byte of 0x80 or more is negative, in neither range.
            let digit = _mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(b'0' as i8 - 1)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(b'9' as i8 + 1)),
            );
            let lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
            let letter = _mm_and_si128(
                _mm_cmpgt_epi8(lower, _mm_set1_epi8(b'a' as i8 - 1)),
                _mm_cmplt_epi8(lower, _mm_set1_epi8(b'f' as i8 + 1)),
            );
            _mm_movemask_epi8(_mm_or_si128(digit, letter)) == 0xffff
        };
        if !ok {
            return None;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    if !h.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    // Eight hex digits, the first the most significant, to 32 bits: a digit's
    // value is its low nibble, plus 9 for a letter (bit 6 set).
    let word = |w: &[u8]| -> u64 {
        const LO: u64 = 0x0101_0101_0101_0101;
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        let nib = (w & (LO * 0x0f)) + ((w >> 6) & LO) * 9;
        // Byte 2k: digit 2k in its high nibble, digit 2k+1 in its low one.
        let pairs = ((nib << 4) | (nib >> 8)) & 0x00ff_00ff_00ff_00ff;
        let quads = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
        u64::from(((quads | (quads >> 16)) as u32).swap_bytes())
    };
    Some((word(&h[..8]) << 32) | word(&h[8..]))
}

#[inline]
fn parse_u64(key: &str, v: &str) -> Result<u64, String> {
    if !all_digits(v) {
        return Err(format!("bad {key} `{v}`"));
    }
    parse_dec(v.as_bytes()).ok_or_else(|| format!("{key} `{v}` out of range"))
}

fn parse_node(v: Option<&str>) -> Result<Option<i32>, String> {
    match v {
        None => Ok(None),
        Some("-1") => Ok(Some(-1)),
        Some(v) => v.parse().map(Some).map_err(|_| format!("bad node `{v}`")),
    }
}

fn parse_bool(v: Option<&str>) -> Result<Option<bool>, String> {
    match v {
        None => Ok(None),
        Some("true") | Some("1") => Ok(Some(true)),
        Some("false") | Some("0") => Ok(Some(false)),
        Some(v) => Err(format!("bad accounted `{v}`")),
    }
}

/// An event line's fields, borrowed.
struct Fields<'a> {
    kind: EventKind,
    cpu: u32,
    ts: u64,
    pid: u32,
    comm: &'a str,
    ptr: u64,
    call_site: &'a str,
    name: Option<&'a str>,
    gfp: Option<&'a str>,
    bytes_req: u64,
    bytes_alloc: u64,
    node: Option<i32>,
    accounted: Option<bool>,
}

fn parse_event_line(t: &str, lossy: bool, no_controls: bool) -> Result<Parsed<'_>, String> {
    let Some((cpu_start, cpu_end, cpu)) = find_cpu(t) else {
        return Err(format!("not a trace line (no `[CPU]` column): `{}`", clip(t)));
    };
    let mut rest = &t[cpu_end..];
    if lossy && rest.contains('\u{FFFD}') {
        return Err("bytes that are not UTF-8 after the task column".into());
    }
    let tok1 = next_token(&mut rest).ok_or("line ends after the CPU column")?;
    let (flags_seen, ts) = match parse_timestamp(tok1) {
        Some(ts) => (false, ts),
        None => {
            let tok2 = next_token(&mut rest).ok_or("line ends before the timestamp")?;
            match parse_timestamp(tok2) {
                Some(ts) => (true, ts),
                None => {
                    return Err(format!("expected a `SECONDS.MICROS:` timestamp, found `{}`", clip(tok2)));
                }
            }
        }
    };
    let ev_tok = next_token(&mut rest).ok_or("line ends after the timestamp")?;
    let Some(ev) = ev_tok.strip_suffix(':') else {
        return Err(format!("expected `EVENT:` after the timestamp, found `{}`", clip(ev_tok)));
    };
    let (system, name) = match memchr(b':', ev.as_bytes()) {
        Some(i) => (Some(&ev[..i]), &ev[i + 1..]),
        None => (None, ev),
    };
    if name.is_empty() {
        return Err("empty event name".into());
    }
    let kind = match (system, name) {
        (None | Some("kmem"), "kmem_cache_alloc") => EventKind::CacheAlloc,
        (None | Some("kmem"), "kmem_cache_free") => EventKind::CacheFree,
        (None | Some("kmem"), "kmalloc") => EventKind::Kmalloc,
        (None | Some("kmem"), "kfree") => EventKind::Kfree,
        _ => return Ok(Parsed::Other(name)),
    };
    let (comm, pid) = parse_task(&t[..cpu_start])?;
    let mut fields = skip_spaces(rest);
    let mut preamble = false;
    if fields.starts_with('(') {
        // trace-cmd's kmem plugin prints `(func+off)` before the fields.
        if let Some(close) = fields.find(") ").or_else(|| fields.strip_suffix(')').map(|f| f.len()))
            && !fields[..close].contains('=')
        {
            preamble = true;
            fields = skip_spaces(&fields[close + 1..]);
        }
    }
    let f = match KeyVals::split_expected(fields, kind, no_controls) {
        Some(f) => f,
        None => KeyVals::split(fields, no_controls)?,
    };
    let call_site = f.req(F_CALL_SITE)?;
    let ptr_text = f.req(F_PTR)?;
    let ptr = parse_ptr(ptr_text)?;
    let name = match kind {
        EventKind::CacheAlloc | EventKind::CacheFree => {
            let name = f.req(F_NAME)?;
            if name.is_empty() {
                return Err("empty `name=`".into());
            }
            Some(name)
        }
        _ => None,
    };
    let mut out = Fields {
        kind,
        cpu,
        ts,
        pid,
        comm,
        ptr,
        call_site,
        name,
        gfp: None,
        bytes_req: 0,
        bytes_alloc: 0,
        node: None,
        accounted: None,
    };
    if let EventKind::CacheAlloc | EventKind::Kmalloc = kind {
        out.bytes_req = parse_u64("bytes_req", f.req(F_BYTES_REQ)?)?;
        out.bytes_alloc = parse_u64("bytes_alloc", f.req(F_BYTES_ALLOC)?)?;
        out.gfp = Some(f.req(F_GFP)?);
        out.node = parse_node(f.get(F_NODE))?;
        out.accounted = parse_bool(f.get(F_ACCOUNTED))?;
    }
    let format = if system.is_some() {
        Format::PerfScript
    } else if preamble {
        Format::TraceCmd
    } else if flags_seen {
        Format::Tracefs
    } else if ptr_text.starts_with("0x") || ptr_text == "(nil)" {
        Format::TraceCmd
    } else {
        Format::Tracefs
    };
    Ok(Parsed::Kmem(out, format))
}

fn clip(s: &str) -> Cow<'_, str> {
    if s.len() <= 80 {
        Cow::Borrowed(s)
    } else {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Cow::Owned(format!("{}...", &s[..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast readings of a timestamp agree with the general one, and
    /// leave every other form to it.
    #[test]
    fn timestamp_fast_paths_agree_with_the_general_reading() {
        for tok in [
            "513.727861:",
            "0.000000:",
            "9.999999:",
            "18446744073.709551:",
            "18446744074.000000:",
            "1234567890123456789.000001:",
            "12345678901234567890.000001:",
            "513.72786:",
            "513.7278612:",
            "513.727861",
            ".727861:",
            "513.72x861:",
            "513.727861:x",
            "5.3.727861:",
            "513:",
            "513.:",
            "513.123456789:",
            "513.1234567890:",
            "+13.727861:",
            "51/.727861:",
            "513.72786\u{0}:",
        ] {
            let fast = parse_timestamp(tok);
            assert_eq!(fast, parse_timestamp_general(tok), "{tok}");
            if let Some(ts) = parse_timestamp_micros(tok.as_bytes()) {
                assert_eq!(Some(ts), fast, "{tok}");
            }
        }
        assert_eq!(parse_timestamp("513.727861:"), Some(513_727_861_000));
        assert_eq!(parse_timestamp_micros(b"513.727861:"), Some(513_727_861_000));
    }

    /// Sixteen hex digits read as the digit loop reads them.
    #[test]
    fn hex16_agrees_with_the_digit_loop() {
        let slow = |h: &[u8]| -> Option<u64> {
            h.iter().try_fold(0u64, |n, &c| Some((n << 4) | u64::from((c as char).to_digit(16)?)))
        };
        let mut h = *b"ffff8881092ecd08";
        assert_eq!(hex16(&h), Some(0xffff_8881_092e_cd08));
        for at in 0..16 {
            for c in
                [b'0', b'9', b'a', b'f', b'A', b'F', b'g', b'G', b'/', b':', b'@', b'`', 0x10, 0x19, 0xb0, 0xe6, b' ']
            {
                let old = std::mem::replace(&mut h[at], c);
                assert_eq!(hex16(&h), slow(&h), "{:?}", String::from_utf8_lossy(&h));
                h[at] = old;
            }
        }
    }

    /// The space search finds the first space from any start, at every
    /// length (the overlapping last block included).
    #[test]
    fn find_space_agrees_with_a_plain_search() {
        for len in 0..50 {
            for at in 0..=len {
                let mut b = vec![b'a'; len];
                if at < len {
                    b[at] = b' ';
                }
                for from in 0..=len {
                    let want = b[from..].iter().position(|&c| c == b' ').map_or(len, |p| from + p);
                    assert_eq!(find_space(&b, from), want, "{len} {at} {from}");
                }
            }
        }
    }

    /// The one-pass task column reading agrees with the general one.
    #[test]
    fn task_fast_path_agrees_with_the_general_reading() {
        for task in [
            "bash-7702    ",
            "bash-7702",
            "kworker/0:1-12 ",
            "a b-1 ",
            "a b 1 ",
            "-1 ",
            "x-4294967295 ",
            "x-4294967296 ",
            "x-12345678901 ",
            "x-1234567890 ",
            " bash-7702 ",
            "bash-7702(7702) ",
            "bash-7702\t",
            "bash7702 ",
            "bash- ",
            "",
            "   ",
            "7702 ",
            "b-0007702 ",
            "sh  1 ",
            "é-1 ",
        ] {
            assert_eq!(parse_task(task), parse_task_general(task), "{task:?}");
        }
    }

    /// Where the fast split takes a line, the general one gives the same
    /// ranges; the lines it declines (other orders, extra or missing fields,
    /// values with spaces, control characters) it leaves to the general one.
    #[test]
    fn split_expected_agrees_with_split() {
        let alloc = "call_site=f+0x1/0x10 ptr=ffff888100000040 name=dentry bytes_req=192 bytes_alloc=192 gfp_flags=GFP_KERNEL|__GFP_ZERO node=-1 accounted=true";
        let cases: [(EventKind, &str, bool); 10] = [
            (EventKind::CacheAlloc, alloc, true),
            (EventKind::CacheFree, "call_site=__fput+0x141/0x2a0 ptr=ffff8881092ecd08 name=lsm_file_cache", true),
            (EventKind::Kfree, "call_site=g+0x1/0x10 ptr=ffff888100999000", true),
            (EventKind::Kfree, "call_site=g+0x1/0x10  ptr=ffff888100999000", true),
            (EventKind::Kfree, "call_site=g+0x1/0x10 ptr=", true),
            (EventKind::Kfree, "ptr=ffff888100999000 call_site=g+0x1/0x10", false),
            (EventKind::Kfree, "call_site=g+0x1/0x10 ptr=ffff888100999000 extra=1", false),
            (EventKind::CacheFree, "call_site=g+0x1/0x10 ptr=ffff888100999000 name=a b", false),
            (EventKind::CacheFree, "call_site=g+0x1/0x10 ptr=ffff888100999000", false),
            (EventKind::Kfree, "call_site=g\u{7}+0x1/0x10 ptr=ffff888100999000", false),
        ];
        for (kind, line, fast) in cases {
            let got = KeyVals::split_expected(line, kind, false);
            assert_eq!(got.is_some(), fast, "{line}");
            if let Some(f) = got {
                let general = KeyVals::split(line, false).expect("the general split reads it");
                assert_eq!(f.range, general.range, "{line}");
            }
            // What the line scan says lets both skip their own control test.
            let no_controls = scan_line(line.as_bytes()).no_controls;
            if no_controls {
                let got = KeyVals::split_expected(line, kind, true);
                assert_eq!(got.is_some(), fast, "{line}");
                assert_eq!(got.map(|f| f.range), KeyVals::split(line, true).ok().filter(|_| fast).map(|f| f.range));
            }
        }
    }
}
