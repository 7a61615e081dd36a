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
pub(crate) struct LineReader<R> {
    inner: R,
    pub(crate) buf: Vec<u8>,
    pub(crate) max: usize,
    first: bool,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader { inner, buf: Vec::with_capacity(512), max, first: true }
    }

    /// Reads the next line into `self.buf` (without the `\n`). `Ok(false)` at end of input.
    pub(crate) fn next_line(&mut self) -> Result<bool, LineError> {
        self.buf.clear();
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(LineError::Io(e)),
            };
            if self.first {
                self.first = false;
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
                return Ok(!self.buf.is_empty());
            }
            let (take, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (avail.len(), false),
            };
            let chunk = &avail[..take];
            if chunk.contains(&0) {
                return Err(LineError::Nul);
            }
            if self.buf.len() + take > self.max {
                return Err(LineError::TooLong);
            }
            self.buf.extend_from_slice(chunk);
            self.inner.consume(if done { take + 1 } else { take });
            if done {
                return Ok(true);
            }
        }
    }
}
