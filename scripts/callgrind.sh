#!/usr/bin/env bash
# Instructions (Ir), data reads (Dr) and data writes (Dw) per call of each
# allocation fast path, counted by callgrind on examples/fastpath.rs.
#
# Usage: scripts/callgrind.sh [N]   (N calls per fast path, default 100000)
#
# Valgrind 3.19 implements membarrier(2), so this counts the per-cpu
# protocol's owner fast path; PERCPU_FORCE_FALLBACK=1 counts the fallback (a
# CAS trylock per entry). Under a valgrind that answers ENOSYS the default is
# the fallback, and FASTPATH_ASSUME_MEMBARRIER=1 (a counting-only assumption,
# see examples/fastpath.rs) counts the owner's path.
#
# Each counted function runs in its own valgrind process with
# --collect-atstart=no --toggle-collect=<function>, so the total is exactly
# the inclusive cost of N calls of that function; the harness warms the
# sheaves up outside the counted functions, so every counted call is a sheaf
# hit. Counts are deterministic: two runs print the same table.
set -euo pipefail
cd "$(dirname "$0")/.."

n="${1:-100000}"
command -v valgrind >/dev/null || { echo "valgrind is missing" >&2; exit 1; }

# The bench profile is release with debug info (see Cargo.toml), so callgrind
# sees the functions' names.
cargo build --quiet --profile bench --example fastpath
bin="${CARGO_TARGET_DIR:-target}/release/examples/fastpath"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# count PATH FUNCTION: prints "Ir Dr Dw" per call of FUNCTION while running PATH.
count() {
    local file="$out/$2.out"
    valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no \
        --toggle-collect="fastpath::$2" --callgrind-out-file="$file" \
        "$bin" "$1" "$n" >/dev/null 2>"$out/$2.log" || { cat "$out/$2.log" >&2; exit 1; }
    # The events line names the columns of the totals line.
    awk -v n="$n" '
        /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
        /^totals:/ { printf "%s %s %s\n", $(col["Ir"]) / n, $(col["Dr"]) / n, $(col["Dw"]) / n }
    ' "$file"
}

printf '%-24s %-30s %8s %8s %8s\n' "fast path" "function" "Ir/call" "Dr/call" "Dw/call"
for path in $("$bin" list); do
    case "$path" in
        kfree-*) functions="kfree_${path#kfree-}" ;;
        kmalloc-*) functions="kmalloc_${path#kmalloc-}" ;;
        *) functions="alloc_$path free_$path" ;;
    esac
    for f in $functions; do
        read -r ir dr dw < <(count "$path" "$f")
        printf '%-24s %-30s %8s %8s %8s\n' "$path" "$f" "$ir" "$dr" "$dw"
    done
done
echo "($n calls per function)"
