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
# Memcheck runs a program's threads one at a time, so one run keeps one core
# busy: the runs go side by side, one per core (VALGRIND_JOBS), each into a
# log of its own, printed in order once all have ended.
jobs="${VALGRIND_JOBS:-$(nproc)}"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
runs=()
# run NAME [VAR=VALUE ...] BIN ARGS...: one memcheck run in the background.
run() {
  local name=$1 log="$logs/${#runs[@]}" vars=()
  shift
  while [[ $1 == *=* ]]; do vars+=("$1"); shift; done
  runs+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  (
    SECONDS=0
    rc=0
    env "${vars[@]}" valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
      --show-leak-kinds=definite --quiet "$@" >"$log.out" 2>&1 || rc=$?
    echo "$rc $SECONDS" >"$log.rc"
  ) &
}
# The longest runs first (kmem_replay and report_cli about 100 s each on the
# 2-core machine, properties and snapshot_real_fixtures about 50), so that
# the short ones fill in beside them.
heavy='kmem_replay|report_cli|properties|snapshot_real_fixtures'
ordered=$(printf '%s\n' $bins | grep -E "/($heavy)-" || true; printf '%s\n' $bins | grep -vE "/($heavy)-" || true)
for bin in $ordered; do
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
  run "$(basename "$bin")" PROPTEST_CASES="$cases" "$bin" --test-threads=1 -q "${skip[@]}"
done
for bin in $lib; do
  run "$(basename "$bin") (PERCPU_FORCE_FALLBACK=1)" PERCPU_FORCE_FALLBACK=1 "$bin" --test-threads=1 -q
done
wait
status=0
for i in "${!runs[@]}"; do
  read -r rc secs <"$logs/$i.rc"
  echo "--- ${runs[$i]} ($secs s)"
  if [ "$rc" = 0 ]; then
    tail -n 4 "$logs/$i.out"
  else
    tail -n 80 "$logs/$i.out"
    echo "valgrind failed on ${runs[$i]} (exit $rc)"
    status=$rc
  fi
done
[ "$status" = 0 ] || exit "$status"
echo "valgrind memcheck: clean"
