//! Opening inputs (files, stdin, gzip) and reading bounded lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

/// The gzip magic.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The start of a `trace-cmd record` file (`\x17\x08\x44tracing`).
const TRACE_DAT_MAGIC: &[u8] = b"\x17\x08\x44tracing";
/// The start of a `perf record` file.
const PERF_DATA_MAGIC: &[u8] = b"PERFILE2";

/// True if `reader`'s first bytes are the gzip magic (peeked: nothing is
/// consumed). Both openers sniff the same way, so one helper.
fn starts_with_gzip_magic<R: BufRead>(reader: &mut R) -> io::Result<bool> {
    loop {
        match reader.fill_buf() {
            Ok(head) => return Ok(head.starts_with(&GZIP_MAGIC)),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Wraps `reader` in a gzip decoder when its first bytes are the gzip magic
/// (concatenated gzip members are read as one stream, as `zcat` does).
pub fn maybe_gunzip<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn BufRead + 'a>> {
    if starts_with_gzip_magic(&mut reader)? {
        Ok(Box::new(BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(reader))))
    } else {
        Ok(Box::new(reader))
    }
}

/// Opens `path` (`-` is stdin), gunzipping transparently. A gzip file is
/// decompressed on a thread of its own (`ThreadedGunzip`), so the parse
/// overlaps the decompression; the bytes read are the same.
pub fn open_path(path: &Path) -> io::Result<Box<dyn BufRead + 'static>> {
    if path.as_os_str() == "-" {
        maybe_gunzip(io::stdin().lock())
    } else {
        let f = File::open(path)?;
        let mut reader = BufReader::with_capacity(64 * 1024, f);
        if starts_with_gzip_magic(&mut reader)? {
            Ok(Box::new(ThreadedGunzip::new(reader)))
        } else {
            Ok(Box::new(reader))
        }
    }
}

/// Chunks of decompressed text in flight between the threads (64 KiB each).
const GUNZIP_CHUNKS: usize = 4;
const GUNZIP_CHUNK: usize = 64 * 1024;

/// A gzip stream (concatenated members read as one, as [`maybe_gunzip`]
/// does) decompressed on a thread of its own: the thread reads the decoder
/// into 64 KiB chunks and sends them, in order, through a bounded channel;
/// an error ends the stream where the decoder gave it. Dropping the reader
/// hangs up, and the thread stops at its next chunk.
pub(crate) struct ThreadedGunzip {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    /// Read chunks go back to the thread to be filled again (no new
    /// allocation, and no zeroing, per chunk).
    spent: std::sync::mpsc::SyncSender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ThreadedGunzip {
    /// Starts decompressing `reader` on a new thread.
    pub(crate) fn new<R: BufRead + Send + 'static>(reader: R) -> ThreadedGunzip {
        let (tx, rx) = std::sync::mpsc::sync_channel(GUNZIP_CHUNKS);
        let (spent, recycled) = std::sync::mpsc::sync_channel::<Vec<u8>>(GUNZIP_CHUNKS + 2);
        std::thread::spawn(move || {
            let mut d = MultiGzDecoder::new(reader);
            loop {
                let mut chunk = recycled.try_recv().unwrap_or_default();
                chunk.resize(GUNZIP_CHUNK, 0);
                let n = match d.read(&mut chunk) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                if n == 0 {
                    return;
                }
                chunk.truncate(n);
                if tx.send(Ok(chunk)).is_err() {
                    return;
                }
            }
        });
        ThreadedGunzip { rx, spent, chunk: Vec::new(), pos: 0, done: false }
    }
}

impl Read for ThreadedGunzip {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ThreadedGunzip {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.chunk.len() && !self.done {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    let spent = std::mem::replace(&mut self.chunk, chunk);
                    if spent.capacity() > 0 {
                        // A full return channel (or a finished thread) drops it.
                        let _ = self.spent.try_send(spent);
                    }
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                // The thread finished: the end of the stream.
                Err(_) => self.done = true,
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.chunk.len());
    }
}

/// Why a line could not be read.
#[derive(Debug)]
pub(crate) enum LineError {
    Io(io::Error),
    Nul,
    TooLong,
    BinaryMagic(&'static str),
}

/// Reads lines of at most `max` bytes, refusing NUL bytes as soon as it sees
/// them, so an endless binary input fails fast with bounded memory.
///
/// A line that lies whole in the reader's buffer is returned in place (no
/// copy); only a line that spans two fills is copied into `buf`.
pub(crate) struct LineReader<R> {
    inner: R,
    pub(crate) buf: Vec<u8>,
    pub(crate) max: usize,
    first: bool,
    /// Bytes of the last line returned in place, consumed at the next call.
    pending: usize,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader { inner, buf: Vec::with_capacity(512), max, first: true, pending: 0 }
    }

    fn fill(inner: &mut R) -> Result<&[u8], LineError> {
        loop {
            match inner.fill_buf() {
                // Re-borrow: the loop needs the borrow to end on `Interrupted`.
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(LineError::Io(e)),
            }
        }
        inner.fill_buf().map_err(LineError::Io)
    }

    /// The line the last [`LineReader::next_line`] returned.
    pub(crate) fn current(&mut self) -> io::Result<&[u8]> {
        if self.pending > 0 {
            let n = self.pending - 1;
            Ok(&self.inner.fill_buf()?[..n])
        } else {
            Ok(&self.buf)
        }
    }

    /// The next line (without the `\n`), `Ok(None)` at end of input.
    pub(crate) fn next_line(&mut self) -> Result<Option<&[u8]>, LineError> {
        if self.pending > 0 {
            self.inner.consume(std::mem::take(&mut self.pending));
        }
        self.buf.clear();
        let mut spanning = false;
        loop {
            let first = std::mem::take(&mut self.first);
            let max = self.max;
            let have = self.buf.len();
            let avail = Self::fill(&mut self.inner)?;
            if first {
                if avail.starts_with(TRACE_DAT_MAGIC) {
                    return Err(LineError::BinaryMagic("a trace-cmd trace.dat file: run `trace-cmd report -i FILE`"));
                }
                if avail.starts_with(PERF_DATA_MAGIC) {
                    return Err(LineError::BinaryMagic("a perf.data file: run `perf script -i FILE`"));
                }
                if avail.starts_with(&GZIP_MAGIC) {
                    return Err(LineError::BinaryMagic(
                        "gzip data where text was expected (compressed twice, or a reader not passed through maybe_gunzip)",
                    ));
                }
            }
            if avail.is_empty() {
                return Ok(if spanning { Some(&self.buf) } else { None });
            }
            // One pass for the end of the line and a NUL before it.
            let (take, done) = match newline_or_nul(avail) {
                Some(i) if avail[i] == 0 => return Err(LineError::Nul),
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            let chunk = &avail[..take];
            if have + take > max {
                return Err(LineError::TooLong);
            }
            if done && !spanning {
                self.pending = take + 1;
                return Ok(Some(&self.inner.fill_buf().map_err(LineError::Io)?[..take]));
            }
            self.buf.extend_from_slice(chunk);
            spanning = true;
            self.inner.consume(if done { take + 1 } else { take });
            if done {
                return Ok(Some(&self.buf));
            }
        }
    }
}

/// The first `\n` or NUL byte in `hay`: sixteen bytes at a time with SSE2
/// (part of the x86_64 baseline), then a word at a time.
#[inline]
pub(crate) fn newline_or_nul(hay: &[u8]) -> Option<usize> {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_setzero_si128,
        };
        // SAFETY: SSE2 is in every x86_64 CPU (the target's baseline), and
        // each load reads the 16 bytes at `i..i + 16`, inside `hay`.
        unsafe {
            let nl = _mm_set1_epi8(b'\n' as i8);
            let zero = _mm_setzero_si128();
            while i + 16 <= hay.len() {
                let v = _mm_loadu_si128(hay.as_ptr().add(i).cast::<__m128i>());
                let m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, zero))) as u32;
                if m != 0 {
                    return Some(i + m.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
    }
    newline_or_nul_words(&hay[i..]).map(|p| i + p)
}

/// [`newline_or_nul`] a word at a time.
#[inline]
fn newline_or_nul_words(hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO.wrapping_mul(u64::from(b'\n'));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        let x = w ^ pat;
        // The lowest flagged byte of either test is a real match (a false
        // flag only ever sits above a real one).
        let z = (x.wrapping_sub(LO) & !x & HI) | (w.wrapping_sub(LO) & !w & HI);
        if z != 0 {
            return Some(base + (z.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'\n' || b == 0).map(|i| base + i)
}

/// The first `needle` in `hay` (the `memchr` idea without the crate):
/// sixteen bytes at a time with SSE2 on x86_64, then a word at a time.
#[inline]
pub(crate) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
        // SAFETY: SSE2 is in every x86_64 CPU (the target's baseline), and
        // each load reads the 16 bytes at `i..i + 16`, inside `hay`.
        unsafe {
            let pat = _mm_set1_epi8(needle as i8);
            while i + 16 <= hay.len() {
                let v = _mm_loadu_si128(hay.as_ptr().add(i).cast::<__m128i>());
                let m = _mm_movemask_epi8(_mm_cmpeq_epi8(v, pat)) as u32;
                if m != 0 {
                    return Some(i + m.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
    }
    memchr_words(needle, &hay[i..]).map(|p| i + p)
}

/// [`memchr`] a word at a time: test eight bytes at once for a zero byte of
/// `word ^ needle`.
#[inline]
fn memchr_words(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pat = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes")) ^ pat;
        let z = w.wrapping_sub(LO) & !w & HI;
        if z != 0 {
            return Some(base + (z.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&b| b == needle).map(|i| base + i)
}

/// True if every byte of `b` is ASCII: sixteen bytes at a time with SSE2.
#[inline]
pub(crate) fn is_ascii(b: &[u8]) -> bool {
    let mut i = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_movemask_epi8};
        // SAFETY: SSE2 is in every x86_64 CPU (the target's baseline), and
        // each load reads the 16 bytes at `i..i + 16`, inside `b`.
        unsafe {
            while i + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                if _mm_movemask_epi8(v) != 0 {
                    return false;
                }
                i += 16;
            }
        }
    }
    b[i..].is_ascii()
}

/// What one pass over a line tells: whether it is all ASCII, and whether it
/// has no control byte at all (below 0x20, tab included, or 0x7f).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineScan {
    pub(crate) ascii: bool,
    pub(crate) no_controls: bool,
}

/// [`is_ascii`] and a control-byte test in one pass, sixteen bytes at a time
/// with SSE2: the parser's field split must refuse control characters, and
/// the line was being read once more for them. A line of 16 bytes or more
/// ends with an overlapping block instead of a byte loop. `no_controls` is
/// conservative (a tab clears it): the caller then looks precisely.
#[inline]
pub(crate) fn scan_line(b: &[u8]) -> LineScan {
    #[cfg(target_arch = "x86_64")]
    if b.len() >= 16 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
            _mm_setzero_si128,
        };
        // SAFETY: SSE2 is in every x86_64 CPU (the target's baseline); each
        // load reads 16 bytes at `i..i + 16` with `i + 16 <= b.len()`.
        unsafe {
            let low = _mm_set1_epi8(0x1f);
            let del = _mm_set1_epi8(0x7f);
            let mut high = _mm_setzero_si128();
            let mut ctl = _mm_setzero_si128();
            let mut i = 0;
            loop {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>());
                high = _mm_or_si128(high, v);
                ctl = _mm_or_si128(ctl, _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, low), v), _mm_cmpeq_epi8(v, del)));
                if i + 16 == b.len() {
                    break;
                }
                // The last block overlaps the one before it: no byte loop.
                i = (i + 16).min(b.len() - 16);
            }
            return LineScan { ascii: _mm_movemask_epi8(high) == 0, no_controls: _mm_movemask_epi8(ctl) == 0 };
        }
    }
    LineScan { ascii: b.is_ascii(), no_controls: !b.iter().any(|&c| c < 0x20 || c == 0x7f) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector scans agree with a plain search at every length and position.
    #[test]
    fn scans_agree_with_a_plain_search() {
        for len in 0..80 {
            for at in 0..=len {
                let mut hay = vec![b'a'; len];
                if at < len {
                    hay[at] = b'\n';
                }
                let want = hay.iter().position(|&b| b == b'\n');
                assert_eq!(memchr(b'\n', &hay), want, "{len} {at}");
                assert_eq!(newline_or_nul(&hay), want, "{len} {at}");
                if at < len {
                    hay[at] = 0;
                    assert_eq!(newline_or_nul(&hay), want, "{len} {at} NUL");
                    hay[at] = 0xc3;
                }
                assert_eq!(is_ascii(&hay), hay.is_ascii(), "{len} {at}");
                let controls = |h: &[u8]| !h.iter().any(|&c| c < 0x20 || c == 0x7f);
                assert_eq!(scan_line(&hay), LineScan { ascii: hay.is_ascii(), no_controls: controls(&hay) });
                for c in [b'\t', 0x01, 0x1f, 0x7f, b' ', 0x80] {
                    if at < len {
                        let old = std::mem::replace(&mut hay[at], c);
                        let want = LineScan { ascii: hay.is_ascii(), no_controls: controls(&hay) };
                        assert_eq!(scan_line(&hay), want, "{len} {at} {c:#x}");
                        hay[at] = old;
                    }
                }
            }
        }
        // A NUL after the newline is not before it; one before it is found first.
        assert_eq!(newline_or_nul(b"abc\n\0"), Some(3));
        assert_eq!(newline_or_nul(b"ab\0c\n"), Some(2));
    }
}
