#!/usr/bin/env bash
# Peak resident memory of `slabmerge --kmem-trace` on the bundled capture and
# on a capture ten times its size (issue 14), as /usr/bin/time -v reports it.
#
# Usage: scripts/kmem-memory.sh [COPIES]   (default 10)
#
# The large capture is the bundled one COPIES times over, each copy's
# timestamps moved past the previous copy's end and its pointers moved by
# k << 40 (examples/kmem_bench.rs --emit), gzipped to a temporary file.
# Also prints the replay's peak heap (a counting allocator) on both, from
# the same example.
set -euo pipefail
cd "$(dirname "$0")/.."

copies="${1:-10}"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
cargo build --quiet --release --bin slabmerge --example kmem_bench
dir="${CARGO_TARGET_DIR:-target}/release"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

bundled=data/kmem-trace-linux-6.18-x86_64.txt.gz
"$dir/examples/kmem_bench" "$bundled" --emit "$copies" | gzip -1 > "$tmp/copies.txt.gz"

rss() { # rss FILE: "<peak RSS KiB> <user s> <wall>"
    /usr/bin/time -v "$dir/slabmerge" --kmem-trace "$1" 2>"$tmp/time.log" >/dev/null
    awk -F': ' '/Maximum resident set size/ { kib = $2 } /User time/ { u = $2 } /Elapsed/ { w = $2 }
        END { printf "%s KiB (%.1f MiB), user %s s, wall %s\n", kib, kib / 1024, u, w }' "$tmp/time.log"
}
printf 'capture x1 (%s): peak RSS ' "$(du -h "$bundled" | cut -f1)"; rss "$bundled"
printf 'capture x%s (%s): peak RSS ' "$copies" "$(du -h "$tmp/copies.txt.gz" | cut -f1)"; rss "$tmp/copies.txt.gz"
"$dir/examples/kmem_bench" "$bundled" --copies "$copies" | grep '^peak_heap'
