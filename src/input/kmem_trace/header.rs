//! The `# slabmerge-capture:` header line written by `scripts/capture-kmem.sh`.

/// What `capture-kmem.sh` recorded about the capture.
///
/// The line is `# slabmerge-capture: key=value key=value ... cmdline=REST`,
/// where `cmdline` (the kernel command line) is last and takes the rest of the
/// line. Unknown keys are kept in [`CaptureHeader::fields`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureHeader {
    /// `kernel=`: `uname -r`.
    pub kernel: Option<String>,
    /// `arch=`: `uname -m`.
    pub arch: Option<String>,
    /// `slab_nomerge=`: whether `slab_nomerge` was on the kernel command line.
    pub slab_nomerge: Option<bool>,
    /// `hash-ptr=`: `0`, `1`, or `absent` (no such tracefs option).
    pub hash_ptr: Option<String>,
    /// `cmdline=`: the kernel command line.
    pub cmdline: Option<String>,
    /// Every `key=value` in order, the above included.
    pub fields: Vec<(String, String)>,
    /// The `# workload:` line that follows, if any.
    pub workload: Option<String>,
}

/// The prefix of the header line.
pub const CAPTURE_PREFIX: &str = "# slabmerge-capture:";
/// The prefix of the workload line.
pub const WORKLOAD_PREFIX: &str = "# workload:";

impl CaptureHeader {
    /// Parses the part of the line after [`CAPTURE_PREFIX`].
    pub fn parse(rest: &str) -> Result<CaptureHeader, String> {
        let mut h = CaptureHeader::default();
        let mut s = rest.trim_start();
        while !s.is_empty() {
            let (tok, next) = match s.split_once(' ') {
                Some((t, n)) => (t, n.trim_start()),
                None => (s, ""),
            };
            let Some((k, v)) = tok.split_once('=') else {
                return Err(format!("capture header: `{tok}` is not key=value"));
            };
            if k == "cmdline" {
                let v = s["cmdline=".len()..].trim_end().to_string();
                h.fields.push((k.to_string(), v.clone()));
                h.cmdline = Some(v);
                break;
            }
            match k {
                "kernel" => h.kernel = Some(v.to_string()),
                "arch" => h.arch = Some(v.to_string()),
                "slab_nomerge" => {
                    h.slab_nomerge = Some(match v {
                        "0" => false,
                        "1" => true,
                        _ => {
                            return Err(format!("capture header: slab_nomerge=`{v}` is not 0 or 1"));
                        }
                    })
                }
                "hash-ptr" => h.hash_ptr = Some(v.to_string()),
                _ => {}
            }
            h.fields.push((k.to_string(), v.to_string()));
            s = next;
        }
        Ok(h)
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether pointers are known to be hashed (`hash-ptr=1`).
    pub fn pointers_hashed(&self) -> Option<bool> {
        match self.hash_ptr.as_deref() {
            Some("1") => Some(true),
            Some("0") | Some("absent") => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_header() {
        let h = CaptureHeader::parse(
            " kernel=6.18.44-fc arch=x86_64 slab_nomerge=0 hash-ptr=0 buffer_kb=8192 cpus=2 start=2026-01-01T00:00:00Z cmdline=quiet panic=1 -- --x y",
        )
        .unwrap();
        assert_eq!(h.kernel.as_deref(), Some("6.18.44-fc"));
        assert_eq!(h.slab_nomerge, Some(false));
        assert_eq!(h.pointers_hashed(), Some(false));
        assert_eq!(h.cmdline.as_deref(), Some("quiet panic=1 -- --x y"));
        assert_eq!(h.get("cpus"), Some("2"));
        assert!(CaptureHeader::parse(" kernel").is_err());
        assert!(CaptureHeader::parse(" slab_nomerge=yes").is_err());
    }
}
