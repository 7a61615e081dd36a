#!/usr/bin/env bash
# capture-kmem.sh: record the kernel's kmem slab tracepoints (kmem_cache_alloc,
# kmem_cache_free, kmalloc, kfree) from tracefs into a gzip'ed text file.
#
# usage: capture-kmem.sh [-o OUT.gz] [-b BUFFER_KB] (-t SECONDS | -- COMMAND...)
#
#   -o OUT.gz     output file (default: kmem-trace-$(uname -r).txt.gz)
#   -b BUFFER_KB  per-CPU ring buffer size in KiB while capturing (default 8192)
#   -t SECONDS    capture for SECONDS seconds of whatever the system does
#   -- COMMAND    run COMMAND (through no shell: pass `bash -c '...'` for a pipeline)
#                 and capture while it runs
#
# Must run as root. Mounts tracefs on /sys/kernel/tracing if it is not mounted.
# Every tracefs setting it changes (buffer_size_kb, set_event and the four
# events' enable, options/hash-ptr, tracing_on) is recorded first and restored on exit, also on
# error or Ctrl-C. It streams trace_pipe (a consuming read) into gzip while the
# workload runs, so the ring buffer only overflows if the reader falls behind;
# an overflow shows in the output as `CPU:N [LOST M EVENTS]` lines, which are
# counted at the end.
#
# The first line of the output is a header comment the parser exposes:
#   # slabmerge-capture: kernel=RELEASE arch=ARCH slab_nomerge=0|1 hash-ptr=0|1|absent buffer_kb=N cpus=N start=ISO8601 cmdline=...
# The second line says what was captured (`# workload: ...`).
set -euo pipefail

out=""
buffer_kb=8192
seconds=""
cmd=()

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        -o) [[ $# -ge 2 ]] || usage; out="$2"; shift 2 ;;
        -b) [[ $# -ge 2 ]] || usage; buffer_kb="$2"; shift 2 ;;
        -t) [[ $# -ge 2 ]] || usage; seconds="$2"; shift 2 ;;
        -h|--help) usage ;;
        --) shift; cmd=("$@"); break ;;
        *) echo "capture-kmem.sh: unknown argument '$1'" >&2; usage ;;
    esac
done

if [[ -n "$seconds" && ${#cmd[@]} -gt 0 ]] || [[ -z "$seconds" && ${#cmd[@]} -eq 0 ]]; then
    echo "capture-kmem.sh: give exactly one of -t SECONDS or -- COMMAND..." >&2
    usage
fi
[[ "$buffer_kb" =~ ^[0-9]+$ && "$buffer_kb" -gt 0 ]] || { echo "capture-kmem.sh: -b wants a positive number of KiB" >&2; exit 2; }
[[ -z "$seconds" || "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "capture-kmem.sh: -t wants a number of seconds" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "capture-kmem.sh: must run as root" >&2; exit 1; }
[[ -n "$out" ]] || out="kmem-trace-$(uname -r).txt.gz"

T=/sys/kernel/tracing
if [[ ! -e $T/trace_pipe ]]; then
    if [[ -e /sys/kernel/debug/tracing/trace_pipe ]]; then
        T=/sys/kernel/debug/tracing
    else
        mount -t tracefs nodev /sys/kernel/tracing
    fi
fi
[[ -e $T/trace_pipe ]] || { echo "capture-kmem.sh: no tracefs at $T" >&2; exit 1; }

events=(kmem_cache_alloc kmem_cache_free kmalloc kfree)
for e in "${events[@]}"; do
    [[ -e $T/events/kmem/$e/enable ]] || { echo "capture-kmem.sh: kernel has no kmem:$e tracepoint" >&2; exit 1; }
done

# ---- record what we change ----
saved_buffer_kb=$(cat $T/buffer_size_kb)
saved_buffer_kb=${saved_buffer_kb%% *}          # "7 (expanded: 1408)" -> 7
saved_tracing_on=$(cat $T/tracing_on)
declare -A saved_enable
for e in "${events[@]}"; do saved_enable[$e]=$(cat $T/events/kmem/$e/enable); done
if [[ -e $T/options/hash-ptr ]]; then saved_hash_ptr=$(cat $T/options/hash-ptr); else saved_hash_ptr=""; fi

saved_set_event=$(cat $T/set_event)
reader_pid=""
cat_pid=""
work_pid=""
tmp_count=$(mktemp)
restore() {
    local rc=$?
    trap - EXIT INT TERM HUP
    echo 0 > $T/tracing_on 2>/dev/null || true
    for e in "${events[@]}"; do echo "${saved_enable[$e]}" > $T/events/kmem/$e/enable 2>/dev/null || true; done
    if [[ -n "$cat_pid" ]] && kill -0 "$cat_pid" 2>/dev/null; then kill "$cat_pid" 2>/dev/null || true; fi
    exec 3>&- 2>/dev/null || true
    : > $T/set_event 2>/dev/null || true
    while IFS= read -r ev; do [[ -n "$ev" ]] && echo "$ev" >> $T/set_event 2>/dev/null || true; done <<< "$saved_set_event"
    if [[ -n "$work_pid" ]] && kill -0 "$work_pid" 2>/dev/null; then kill "$work_pid" 2>/dev/null || true; fi
    [[ -n "$saved_hash_ptr" ]] && echo "$saved_hash_ptr" > $T/options/hash-ptr 2>/dev/null || true
    echo "$saved_buffer_kb" > $T/buffer_size_kb 2>/dev/null || true
    echo "$saved_tracing_on" > $T/tracing_on 2>/dev/null || true
    rm -f "$tmp_count"
    exit $rc
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# ---- set up ----
echo 0 > $T/tracing_on
echo "$buffer_kb" > $T/buffer_size_kb
if [[ -n "$saved_hash_ptr" ]]; then echo 0 > $T/options/hash-ptr; hash_state=$(cat $T/options/hash-ptr); else hash_state=absent; fi
# Disable every event first so that only the four kmem events are recorded
# (the set of enabled events is restored on exit).
: > $T/set_event
: > $T/trace                                   # clears the ring buffer
for e in "${events[@]}"; do echo 1 > $T/events/kmem/$e/enable; done

cmdline=$(tr -d '\n' < /proc/cmdline)
if grep -qw slab_nomerge /proc/cmdline; then nomerge=1; else nomerge=0; fi
if [[ -n "$seconds" ]]; then workload="sleep ${seconds}s (system-wide)"; else workload="${cmd[*]}"; fi

{
    printf '# slabmerge-capture: kernel=%s arch=%s slab_nomerge=%s hash-ptr=%s buffer_kb=%s cpus=%s start=%s cmdline=%s\n' \
        "$(uname -r)" "$(uname -m)" "$nomerge" "$hash_state" "$buffer_kb" "$(nproc)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$cmdline"
    printf '# workload: %s\n' "$(printf '%s' "$workload" | tr '\n\t' '  ')"
} | gzip -c > "$out"

# Reader: a consuming read of trace_pipe, appended as a second gzip member
# (gzip -d and flate2's MultiGzDecoder read concatenated members as one stream).
# The line count comes from a tee into wc so the file is not read twice.
exec 3> >(tee >(wc -l > "$tmp_count") | gzip -c >> "$out")
reader_pid=$!
cat $T/trace_pipe >&3 &
cat_pid=$!

start_ns=$(date +%s%N)
echo 1 > $T/tracing_on
if [[ -n "$seconds" ]]; then
    sleep "$seconds"
    work_rc=0
else
    set +e
    "${cmd[@]}" &
    work_pid=$!
    wait "$work_pid"
    work_rc=$?
    work_pid=""
    set -e
fi
echo 0 > $T/tracing_on
end_ns=$(date +%s%N)

# Drain: trace_pipe blocks when empty, so wait until the buffer has been read
# (its `entries` counters read 0), then stop the reader.
for _ in $(seq 1 100); do
    left=$(awk '/^entries:/ {s += $2} END {print s+0}' $T/per_cpu/cpu*/stats 2>/dev/null || echo 0)
    [[ "$left" -eq 0 ]] && break
    sleep 0.1
done
sleep 0.3
overrun=$(awk '/^overrun:/ {s += $2} END {print s+0}' $T/per_cpu/cpu*/stats 2>/dev/null || echo "?")
kill "$cat_pid" 2>/dev/null || true
wait "$cat_pid" 2>/dev/null || true
cat_pid=""
exec 3>&-
wait "$reader_pid" 2>/dev/null || true
reader_pid=""
for _ in $(seq 1 50); do [[ -s "$tmp_count" ]] && break; sleep 0.1; done

lines=$(cat "$tmp_count" 2>/dev/null || echo "?")
lost_lines=$(zcat "$out" | grep -c 'LOST [0-9]* EVENTS' || true)
lost_events=$( { zcat "$out" | grep -o 'LOST [0-9]* EVENTS' || true; } | awk '{s += $2} END {print s+0}')
secs=$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
size=$(stat -c %s "$out")
echo "capture-kmem.sh: $out: $lines trace lines in ${secs}s, $lost_lines LOST markers ($lost_events events lost), ring-buffer overrun counter $overrun, $size bytes compressed; workload exit status $work_rc" >&2
exit "$work_rc"
