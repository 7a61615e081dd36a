#!/usr/bin/env bash
# Runs the library's unit tests and the integration tests under valgrind
# memcheck, failing on any memory error or definite leak. Proptest cases are
# cut down (valgrind is ~50x slower); the stress tests and the report's
# layout, document and picture tests are skipped for time.
#
# Valgrind 3.19 implements membarrier(2), so the pass over every binary runs
# the per-cpu protocol in membarrier mode; a second pass runs the library's
# unit tests with PERCPU_FORCE_FALLBACK=1 so memcheck also sees the fallback
# (older valgrinds answer ENOSYS, and then both passes run the fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-8}"
export SLABMERGE_TIME_SCALE="${SLABMERGE_TIME_SCALE:-50}"
# The exhaustive create/destroy orders (tests/properties.rs): 3 steps, not 6.
export SLABMERGE_ORDER_DEPTH="${SLABMERGE_ORDER_DEPTH:-3}"
json=$(cargo test --no-run --message-format=json 2>/dev/null)
bins=$(printf '%s\n' "$json" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] != ["bin"]:
        if m["profile"]["test"]:
            print(m["executable"])
')
lib=$(printf '%s\n' "$json" | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["lib"]:
        if m["profile"]["test"]:
            print(m["executable"])
')
status=0
for bin in $bins; do
  case "$bin" in
    *stress*) continue ;;
    # These render the whole comparative report again and again (every
    # layout, every quoted figure of design/report.md): minutes each under
    # memcheck, for code the library's report tests already run here.
    # The picture tests render that report too, once per layout they check.
    *report_layout*|*report_doc*|*picture*) continue ;;
  esac
  # The snapshot tests that decompress whole tar.gz copies of /sys/kernel/slab
  # (and one that pipes `yes` into a reader until its 16 MiB bound) take minutes
  # under memcheck; the same readers run here on the text formats, the plain
  # tar and the fuzz cases, and those tests (with the live /sys/kernel/slab one)
  # run natively in `cargo test`.
  skip=()
  cases=$PROPTEST_CASES
  case "$bin" in
    # Each fuzz case re-reads a whole bundled file: two cases per property
    # here keep every parser under memcheck; natively they run 24 to 96.
    *parser_fuzz*) cases=2 ;;
    *snapshot_edge_cases*) skip=(--skip dereferenced_copies --skip conflicting_inputs --skip dev_zero --skip truncated_inputs) ;;
    *snapshot_real_fixtures*) skip=(--skip tar_values --skip every_complete --skip combined_inputs --skip expected_partition --skip live_directory) ;;
  esac
  echo "--- $(basename "$bin")"
  SECONDS=0
  PROPTEST_CASES="$cases" valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --quiet "$bin" --test-threads=1 -q "${skip[@]}" 2>&1 | tail -n 4 || status=$?
  [ "$status" = 0 ] || { echo "valgrind failed on $bin"; exit "$status"; }
  echo "    ($SECONDS s)"
done
for bin in $lib; do
  echo "--- $(basename "$bin") (PERCPU_FORCE_FALLBACK=1)"
  PERCPU_FORCE_FALLBACK=1 valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --quiet "$bin" --test-threads=1 -q 2>&1 | tail -n 4 || status=$?
  [ "$status" = 0 ] || { echo "valgrind failed on $bin (fallback)"; exit "$status"; }
done
echo "valgrind memcheck: clean"
