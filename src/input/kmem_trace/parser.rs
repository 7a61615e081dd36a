//! The streaming parser.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use super::error::{Diagnostic, TraceError};
use super::event::{CallSite, Format, KmemEvent, KmemRecord};
use super::gfp::GfpFlags;
use super::header::{CAPTURE_PREFIX, CaptureHeader, WORKLOAD_PREFIX};
use super::reader::{LineError, LineReader, open_path};

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

/// Interning tables: names, comms, call sites and flag texts repeat a lot.
#[derive(Default)]
struct Tables {
    strs: HashSet<Arc<str>>,
    sites: HashMap<Arc<str>, CallSite>,
    gfps: HashMap<Arc<str>, GfpFlags>,
}

/// Past this many entries a table stops growing (adversarial inputs).
const TABLE_LIMIT: usize = 1 << 20;

impl Tables {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strs.get(s) {
            return a.clone();
        }
        let a: Arc<str> = s.into();
        if self.strs.len() < TABLE_LIMIT {
            self.strs.insert(a.clone());
        }
        a
    }

    fn site(&mut self, s: &str) -> Result<CallSite, String> {
        if let Some(c) = self.sites.get(s) {
            return Ok(c.clone());
        }
        let c = CallSite::parse(s)?;
        if self.sites.len() < TABLE_LIMIT {
            self.sites.insert(c.raw.clone(), c.clone());
        }
        Ok(c)
    }

    fn gfp(&mut self, s: &str) -> Result<GfpFlags, String> {
        if let Some(g) = self.gfps.get(s) {
            return Ok(g.clone());
        }
        let bits = GfpFlags::parse_bits(s)?;
        let g = GfpFlags { bits, raw: s.into() };
        if self.gfps.len() < TABLE_LIMIT {
            self.gfps.insert(g.raw.clone(), g.clone());
        }
        Ok(g)
    }
}

/// A streaming parser of kmem trace text: an iterator of [`KmemRecord`]s.
///
/// Items are `Err` only for errors that end the parse (I/O, binary data, an
/// over-long line); the iterator ends after one. Malformed lines, other
/// events, LOST markers and header lines are not items: they are counted in
/// [`KmemParser::stats`]. Read the stats after the iterator ends, and call
/// [`Stats::check_nonempty`] to refuse an input without events.
pub struct KmemParser<R> {
    reader: LineReader<R>,
    state: State,
    done: bool,
}

struct State {
    stats: Stats,
    tables: Tables,
    max_diagnostics: usize,
    line: u64,
    pending_workload: bool,
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
                tables: Tables::default(),
                max_diagnostics: options.max_diagnostics,
                line: 0,
                pending_workload: false,
            },
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

    /// The next kmem event, `None` at the end of the input or after a fatal error.
    pub fn next_record(&mut self) -> Option<Result<KmemRecord, TraceError>> {
        while !self.done {
            match self.reader.next_line() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    let file = self.state.stats.file.clone();
                    let line = self.state.line + 1;
                    let err = match e {
                        LineError::Io(source) => TraceError::Io { file, line, source },
                        LineError::Nul => TraceError::Binary {
                            file,
                            line,
                            what: "NUL byte: binary data, not a kmem trace text".into(),
                        },
                        LineError::BinaryMagic(what) => TraceError::Binary { file, line, what: what.into() },
                        LineError::TooLong => TraceError::LineTooLong { file, line, limit: self.reader.max },
                    };
                    self.state.stats.fatal = Some(err.to_string());
                    return Some(Err(err));
                }
            }
            let buf: &[u8] = &self.reader.buf;
            let buf = buf.strip_suffix(b"\r").unwrap_or(buf);
            let text = match std::str::from_utf8(buf) {
                Ok(t) => Cow::Borrowed(t),
                Err(_) => String::from_utf8_lossy(buf),
            };
            if let Some(rec) = self.state.handle(text) {
                return Some(Ok(rec));
            }
        }
        None
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

enum Parsed {
    Kmem(Box<KmemRecord>, Format),
    Other(String),
}

impl State {
    fn diag(&mut self, message: String) {
        self.stats.malformed += 1;
        if self.stats.diagnostics.len() < self.max_diagnostics {
            self.stats.diagnostics.push(Diagnostic { file: self.stats.file.clone(), line: self.line, message });
        }
    }

    fn handle(&mut self, text: Cow<'_, str>) -> Option<KmemRecord> {
        self.line += 1;
        self.stats.lines += 1;
        let lossy = matches!(text, Cow::Owned(_));
        let t = text.trim_ascii();
        if t.is_empty() {
            self.stats.blank_lines += 1;
            return None;
        }
        let workload_expected = std::mem::take(&mut self.pending_workload);
        if t.starts_with('#') {
            self.stats.header_lines += 1;
            self.header_line(t, workload_expected);
            return None;
        }
        if is_tracecmd_header(t) {
            self.stats.header_lines += 1;
            return None;
        }
        if let Some(m) = lost_marker(t) {
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
        match parse_event_line(t, lossy, self.line, &mut self.tables) {
            Ok(Parsed::Kmem(rec, format)) => {
                let rec = *rec;
                let s = &mut self.stats;
                s.format.get_or_insert(format);
                *s.formats.entry(format).or_insert(0) += 1;
                match rec.event {
                    KmemEvent::CacheAlloc { .. } => s.cache_alloc += 1,
                    KmemEvent::CacheFree { .. } => s.cache_free += 1,
                    KmemEvent::Kmalloc { .. } => s.kmalloc += 1,
                    KmemEvent::Kfree { .. } => s.kfree += 1,
                }
                let p = rec.event.ptr();
                if p != 0 && p < (1 << 32) {
                    s.small_ptrs += 1;
                }
                s.first_timestamp_ns.get_or_insert(rec.timestamp_ns);
                s.last_timestamp_ns = Some(rec.timestamp_ns);
                Some(rec)
            }
            Ok(Parsed::Other(name)) => {
                *self.stats.other_events.entry(name).or_insert(0) += 1;
                None
            }
            Err(e) => {
                self.diag(e);
                None
            }
        }
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
    while let Some(off) = b[i..].iter().position(|&c| c == b'[') {
        let s = i + off;
        let mut j = s + 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > s + 1
            && j < b.len()
            && b[j] == b']'
            && (s == 0 || b[s - 1] == b' ')
            && (j + 1 == b.len() || b[j + 1] == b' ')
            && let Ok(cpu) = t[s + 1..j].parse()
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
    let mut task = task.trim();
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
    if let Some((comm, pid)) = task.rsplit_once(' ')
        && all_digits(pid)
    {
        let pid = pid.parse().map_err(|_| format!("bad pid in task `{task}`"))?;
        return Ok((comm.trim_end(), pid));
    }
    match task.rsplit_once('-') {
        Some((comm, pid)) if all_digits(pid) => {
            Ok((comm, pid.parse().map_err(|_| format!("bad pid in task `{task}`"))?))
        }
        _ => Err(format!("task `{task}` is not COMM-PID")),
    }
}

/// `SECONDS.FRACTION:` to nanoseconds (a timestamp without a dot is taken as is).
fn parse_timestamp(tok: &str) -> Option<u64> {
    let t = tok.strip_suffix(':')?;
    match t.split_once('.') {
        Some((s, f)) => {
            if !all_digits(s) || !all_digits(f) || f.len() > 9 {
                return None;
            }
            let secs: u64 = s.parse().ok()?;
            let frac: u64 = f.parse().ok()?;
            let scale = 10u64.pow(9 - f.len() as u32);
            secs.checked_mul(1_000_000_000)?.checked_add(frac * scale)
        }
        None => {
            if all_digits(t) {
                t.parse().ok()
            } else {
                None
            }
        }
    }
}

fn next_token<'a>(s: &mut &'a str) -> Option<&'a str> {
    let t = s.trim_start_matches(' ');
    if t.is_empty() {
        *s = t;
        return None;
    }
    let end = t.find(' ').unwrap_or(t.len());
    let (tok, rest) = t.split_at(end);
    *s = rest;
    Some(tok)
}

/// `key=value` fields; a value runs to the next ` key=` (so it may hold spaces).
struct Fields<'a> {
    kv: [(&'a str, &'a str); 16],
    n: usize,
}

impl<'a> Fields<'a> {
    fn split(s: &'a str) -> Result<Fields<'a>, String> {
        let mut f = Fields { kv: [("", ""); 16], n: 0 };
        let mut starts: [usize; 16] = [0; 16];
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            let start = i;
            while i < b.len() && b[i] != b' ' {
                let c = b[i];
                if (c < 0x20 && c != b'\t') || c == 0x7f {
                    return Err(format!("control character U+{c:04X} in the line"));
                }
                i += 1;
            }
            let tok = &s[start..i];
            let key_len = tok.find('=').filter(|&k| {
                k > 0 && tok[..k].bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
            });
            match key_len {
                Some(k) => {
                    if f.n == f.kv.len() {
                        return Err("more than 16 fields".into());
                    }
                    f.kv[f.n] = (&tok[..k], &tok[k + 1..]);
                    starts[f.n] = start + k + 1;
                    f.n += 1;
                }
                None if f.n > 0 => {
                    let v = starts[f.n - 1];
                    f.kv[f.n - 1].1 = &s[v..i];
                }
                None => return Err(format!("`{tok}` before the first key=value field")),
            }
        }
        Ok(f)
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.kv[..self.n].iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn req(&self, key: &str) -> Result<&'a str, String> {
        match self.get(key) {
            Some(v) => Ok(v),
            None => Err(format!("missing field `{key}=`")),
        }
    }
}

fn parse_ptr(v: &str) -> Result<u64, String> {
    if v == "(nil)" {
        return Ok(0);
    }
    let h = v.strip_prefix("0x").unwrap_or(v);
    if h.is_empty() || h.len() > 16 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("bad ptr `{v}`"));
    }
    u64::from_str_radix(h, 16).map_err(|_| format!("bad ptr `{v}`"))
}

fn parse_u64(key: &str, v: &str) -> Result<u64, String> {
    if !all_digits(v) {
        return Err(format!("bad {key} `{v}`"));
    }
    v.parse().map_err(|_| format!("{key} `{v}` out of range"))
}

fn parse_node(v: Option<&str>) -> Result<Option<i32>, String> {
    match v {
        None => Ok(None),
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

#[derive(Clone, Copy)]
enum Kind {
    CacheAlloc,
    CacheFree,
    Kmalloc,
    Kfree,
}

fn parse_event_line(t: &str, lossy: bool, line: u64, tables: &mut Tables) -> Result<Parsed, String> {
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
    let (system, name) = match ev.split_once(':') {
        Some((sys, n)) => (Some(sys), n),
        None => (None, ev),
    };
    if name.is_empty() {
        return Err("empty event name".into());
    }
    let kind = match (system, name) {
        (None | Some("kmem"), "kmem_cache_alloc") => Kind::CacheAlloc,
        (None | Some("kmem"), "kmem_cache_free") => Kind::CacheFree,
        (None | Some("kmem"), "kmalloc") => Kind::Kmalloc,
        (None | Some("kmem"), "kfree") => Kind::Kfree,
        _ => return Ok(Parsed::Other(name.to_string())),
    };
    let (comm, pid) = parse_task(&t[..cpu_start])?;
    let mut fields = rest.trim_start_matches(' ');
    let mut preamble = false;
    if fields.starts_with('(') {
        // trace-cmd's kmem plugin prints `(func+off)` before the fields.
        if let Some(close) = fields.find(") ").or_else(|| fields.strip_suffix(')').map(|f| f.len()))
            && !fields[..close].contains('=')
        {
            preamble = true;
            fields = fields[close + 1..].trim_start_matches(' ');
        }
    }
    let f = Fields::split(fields)?;
    let call_site = tables.site(f.req("call_site")?)?;
    let ptr_text = f.req("ptr")?;
    let ptr = parse_ptr(ptr_text)?;
    let event = match kind {
        Kind::CacheFree | Kind::Kfree => {
            if let Kind::CacheFree = kind {
                let name = f.req("name")?;
                if name.is_empty() {
                    return Err("empty `name=`".into());
                }
                KmemEvent::CacheFree { call_site, ptr, name: tables.intern(name) }
            } else {
                KmemEvent::Kfree { call_site, ptr }
            }
        }
        Kind::CacheAlloc | Kind::Kmalloc => {
            let bytes_req = parse_u64("bytes_req", f.req("bytes_req")?)?;
            let bytes_alloc = parse_u64("bytes_alloc", f.req("bytes_alloc")?)?;
            let gfp = tables.gfp(f.req("gfp_flags")?)?;
            let node = parse_node(f.get("node"))?;
            let accounted = parse_bool(f.get("accounted"))?;
            if let Kind::CacheAlloc = kind {
                let name = f.req("name")?;
                if name.is_empty() {
                    return Err("empty `name=`".into());
                }
                let name = tables.intern(name);
                KmemEvent::CacheAlloc { call_site, ptr, name, bytes_req, bytes_alloc, gfp, node, accounted }
            } else {
                KmemEvent::Kmalloc { call_site, ptr, bytes_req, bytes_alloc, gfp, node, accounted }
            }
        }
    };
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
    let comm = tables.intern(comm);
    Ok(Parsed::Kmem(Box::new(KmemRecord { line, cpu, timestamp_ns: ts, pid, comm, event }), format))
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
