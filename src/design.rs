//! The design documents of `design/`, included here so that `cargo test`
//! compiles and runs every example in them.

#[doc = include_str!("../design/README.md")]
pub mod overview {}

#[doc = include_str!("../design/allocator.md")]
pub mod allocator {}

#[doc = include_str!("../design/mainline.md")]
pub mod mainline {}

#[doc = include_str!("../design/kernels.md")]
pub mod kernels {}

#[doc = include_str!("../design/static-instances.md")]
pub mod static_instances {}

#[doc = include_str!("../design/primary-cache.md")]
pub mod primary_cache {}

#[doc = include_str!("../design/scenarios.md")]
pub mod scenarios {}

#[doc = include_str!("../design/teardown.md")]
pub mod teardown {}

#[doc = include_str!("../design/misuse.md")]
pub mod misuse {}

#[doc = include_str!("../design/benchmarks.md")]
pub mod benchmarks {}

#[doc = include_str!("../design/report.md")]
pub mod report {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The names of the tests a Rust file marks `#[ignore]`, and of all its tests.
    fn tests_in(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
        let (mut ignored, mut all) = (BTreeSet::new(), BTreeSet::new());
        let mut pending_ignore = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[ignore") {
                pending_ignore = true;
            } else if let Some(rest) = line.strip_prefix("fn ") {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if pending_ignore {
                    ignored.insert(name.clone());
                }
                all.insert(name);
                pending_ignore = false;
            }
        }
        (ignored, all)
    }

    /// The test names a section of a design document lists as "* `name`:".
    fn listed(doc: &str, heading: &str) -> BTreeSet<String> {
        let start = doc.find(heading).unwrap_or_else(|| panic!("no section {heading}"));
        let body = &doc[start + heading.len()..];
        let body = &body[..body.find("\n## ").unwrap_or(body.len())];
        body.lines().filter_map(|l| l.strip_prefix("* `")?.split_once("`:").map(|(name, _)| name.to_owned())).collect()
    }

    /// design/mainline.md lists every `#[ignore]`d test of `tests/mainline_*.rs`
    /// as a difference not yet fixed, and nothing else; the fixed ones it
    /// names exist and run.
    #[test]
    fn mainline_md_lists_exactly_the_ignored_mainline_tests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let doc = std::fs::read_to_string(root.join("design/mainline.md")).unwrap();
        let (mut ignored, mut all) = (BTreeSet::new(), BTreeSet::new());
        for entry in std::fs::read_dir(root.join("tests")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("mainline_") && name.ends_with(".rs") {
                let (i, a) = tests_in(&std::fs::read_to_string(&path).unwrap());
                ignored.extend(i);
                all.extend(a);
            }
        }
        assert_eq!(listed(&doc, "## Differences found and not yet fixed"), ignored);
        let fixed = listed(&doc, "## Differences found and fixed");
        assert!(!fixed.is_empty());
        for name in &fixed {
            assert!(all.contains(name) && !ignored.contains(name), "{name}: listed as fixed");
        }
    }

    #[test]
    fn tests_in_finds_ignored_tests() {
        let text = "#[test]\n#[ignore = \"why\"]\nfn a_b() {}\n#[test]\nfn c() {}\n";
        let (ignored, all) = tests_in(text);
        assert_eq!(ignored.into_iter().collect::<Vec<_>>(), ["a_b"]);
        assert_eq!(all.len(), 2);
    }
}
