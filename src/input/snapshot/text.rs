//! Text inputs: the UTF-8 check, bounded lines, mail quoting and terminal
//! colour removed, before any text reader sees a line.

use super::snapshot::{ErrorKind, SnapshotError};

/// The longest line accepted (an `ls -l` line of a 255-byte name with a
/// 255-byte target is under 700 bytes; a `/proc/slabinfo` line under 200).
pub const MAX_LINE: usize = 16 * 1024;
/// The most lines accepted (a kernel has a few hundred to a few thousand caches).
pub const MAX_LINES: usize = 1_000_000;

/// One line, cleaned.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    /// 1-based line number in the input.
    pub no: usize,
    /// The text without quote markers, colour escapes and trailing whitespace.
    pub text: String,
    /// Whether the input had a newline after this line (false for a last
    /// line cut short).
    pub terminated: bool,
}

/// Removes leading mail-quote markers: `> `, `>> `, `> > `, `>`.
pub(crate) fn unquote(line: &str) -> &str {
    let mut s = line;
    loop {
        let t = s.trim_start_matches([' ', '\t']);
        match t.strip_prefix('>') {
            Some(rest) => s = rest,
            None => return if s.len() == line.len() { line } else { t },
        }
    }
}

/// Removes ANSI escape sequences (`ls --color=always`): `ESC [ … letter`.
pub(crate) fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Checks `bytes` is text (UTF-8, no NUL) and splits it into cleaned lines.
pub(crate) fn lines(source: &str, bytes: &[u8]) -> Result<Vec<Line>, SnapshotError> {
    if let Some(off) = bytes.iter().position(|&b| b == 0) {
        let line = bytes[..off].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(SnapshotError::new(
            ErrorKind::NotText,
            source,
            line,
            format!("not text: NUL byte at byte offset {off} (and not a tar or gzip archive)"),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let off = e.valid_up_to();
            let line = bytes[..off].iter().filter(|&&b| b == b'\n').count() + 1;
            let start = bytes[..off].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let end = bytes[off..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| off + p);
            let shown = String::from_utf8_lossy(&bytes[start..end.min(start + 200)]);
            let bad: Vec<String> = bytes[off..(off + 4).min(bytes.len())].iter().map(|b| format!("{b:02x}")).collect();
            return Err(SnapshotError::new(
                ErrorKind::NotUtf8,
                source,
                line,
                format!(
                    "not UTF-8 at byte offset {off} (bytes {}): {shown:?}; slab cache names are ASCII, so this \
                     line was mangled in transit or the input is not a slab listing",
                    bad.join(" ")
                ),
            ));
        }
    };
    let mut out = Vec::new();
    let mut rest = text;
    let mut no = 0;
    while !rest.is_empty() {
        no += 1;
        if no > MAX_LINES {
            return Err(SnapshotError::new(
                ErrorKind::TooLarge,
                source,
                no,
                format!("more than {MAX_LINES} lines: not a slab listing"),
            ));
        }
        let (raw, terminated, next) = match rest.find('\n') {
            Some(p) => (&rest[..p], true, &rest[p + 1..]),
            None => (rest, false, ""),
        };
        if raw.len() > MAX_LINE {
            return Err(SnapshotError::new(
                ErrorKind::TooLarge,
                source,
                no,
                format!("line longer than {MAX_LINE} bytes: not a slab listing"),
            ));
        }
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let cleaned = if raw.contains('\u{1b}') { strip_ansi(raw) } else { raw.to_owned() };
        let text = unquote(&cleaned).trim_end().to_owned();
        out.push(Line { no, text, terminated });
        rest = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_mail() {
        assert_eq!(unquote("> :0000024 <- a b"), ":0000024 <- a b");
        assert_eq!(unquote(">> > drwx"), "drwx");
        assert_eq!(unquote(">drwx"), "drwx");
        assert_eq!(unquote("  plain"), "  plain");
    }

    #[test]
    fn strips_colour() {
        assert_eq!(strip_ansi("\u{1b}[0m\u{1b}[01;34m:0000024\u{1b}[0m"), ":0000024");
    }

    #[test]
    fn reports_offsets() {
        let e = lines("x", b"ab\ncd\xffef\n").unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::NotUtf8, 2));
        assert!(e.message.contains("byte offset 5"), "{e}");
        let e = lines("x", b"ab\n\0").unwrap_err();
        assert_eq!((e.kind, e.line), (ErrorKind::NotText, 2));
    }
}
