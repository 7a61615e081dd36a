#!/usr/bin/env bash
# Model-checks alias teardown with loom (src/tests/loom.rs).
#
# A separate target directory keeps the loom build from invalidating the
# normal one when RUSTFLAGS change; --lib keeps doctests and benches out
# (rustdoc ignores RUSTFLAGS); the `loom` profile (Cargo.toml) optimises only
# the library and loom. LOOM_MAX_PREEMPTIONS=3 is the deeper run
# described in design/teardown.md; extra arguments go to the test binary
# (for example a test name, or --nocapture to see iteration counts).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom -C debug-assertions=on"
export CARGO_TARGET_DIR=target/loom
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
exec cargo test --profile loom --lib loom -- "$@"
