//! Opening inputs (files, stdin, gzip) and reading bounded lines.

use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

/// The gzip magic.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The start of a `trace-cmd record` file (`\x17\x08\x44tracing`).
const TRACE_DAT_MAGIC: &[u8] = b"\x17\x08\x44tracing";
/// The start of a `perf record` file.
const PERF_DATA_MAGIC: &[u8] = b"PERFILE2";

/// Wraps `reader` in a gzip decoder when its first bytes are the gzip magic
/// (concatenated gzip members are read as one stream, as `zcat` does).
pub fn maybe_gunzip<'a, R: BufRead + 'a>(mut reader: R) -> io::Result<Box<dyn BufRead + 'a>> {
    let head = loop {
        match reader.fill_buf() {
            Ok(b) => break b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if head.len() >= 2 && head[..2] == GZIP_MAGIC {
        Ok(Box::new(BufReader::with_capacity(64 * 1024, MultiGzDecoder::new(reader))))
    } else {
        Ok(Box::new(reader))
    }
}

/// Opens `path` (`-` is stdin), gunzipping transparently.
pub fn open_path(path: &Path) -> io::Result<Box<dyn BufRead + 'static>> {
    if path.as_os_str() == "-" {
        maybe_gunzip(io::stdin().lock())
    } else {
        let f = File::open(path)?;
        maybe_gunzip(BufReader::with_capacity(64 * 1024, f))
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
            let (take, done) = match memchr(b'\n', avail) {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            let chunk = &avail[..take];
            if memchr(0, chunk).is_some() {
                return Err(LineError::Nul);
            }
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

/// The first `needle` in `hay`, a word at a time (the `memchr` idea without
/// the crate: test eight bytes at once for a zero byte of `word ^ needle`).
#[inline]
pub(crate) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
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
