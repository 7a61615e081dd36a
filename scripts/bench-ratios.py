#!/usr/bin/env python3
"""Median times and ratios of the criterion benchmarks, over repeated runs.

criterion reports each benchmark on its own; the comparisons we need (each
scheme against mainline, each allocator against slabmerge) are ratios of two
entries of one group measured in the same run. This script:

  run [--repeats N] [--out DIR] [-- criterion args]
      runs `cargo bench --bench allocator` and `--bench schemes` N times
      (default 3) and copies target/criterion after each run to DIR/run-<i>
      (default <target dir>/bench-runs), then prints the report of those runs;
  report DIR...
      reads every <group>/<id>/new/estimates.json (the median's point
      estimate) under each DIR (one criterion directory per run), divides it
      by its group's baseline entry of the same run, and prints per entry the
      median time over the runs and the median ratio over the runs.

Baselines: alloc_free_pair, batch_1000 and hit_batch compare with slabmerge
at the same object size; kmem_cache_alloc_free with mainline/dynamic; every
other group with mainline; threads with the same allocator on one thread, remote_free
with mimalloc. `--baseline GROUP=ID` overrides one ({function} in ID stands
for the entry's function name, {value} for the entry's parameter).

criterion documents its JSON files as private; this reads the layout of
criterion 0.8 (pinned by Cargo.lock) and stops with a message if it changes.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

DEFAULT_BASELINES = {
    "alloc_free_pair": "slabmerge/{value}",
    "batch_1000": "slabmerge/{value}",
    "hit_batch": "slabmerge/{value}",
    "kmem_cache_alloc_free": "mainline/dynamic",
    # Each allocator against itself on one thread: 2 threads scale perfectly
    # at ratio 1.0 (throughput 2 / ratio).
    "threads": "{function}/1",
    "remote_free": "mimalloc",
}
FALLBACK_BASELINE = "mainline"
BENCHES = ["allocator", "schemes"]


def load_run(directory):
    """{(group, id): (median ns, value, throughput elements)} of one criterion directory."""
    entries = {}
    for bench_file in sorted(Path(directory).glob("**/new/benchmark.json")):
        estimates_file = bench_file.with_name("estimates.json")
        try:
            bench = json.loads(bench_file.read_text())
            estimates = json.loads(estimates_file.read_text())
            group, full_id = bench["group_id"], bench["full_id"]
            median = float(estimates["median"]["point_estimate"])
        except (OSError, KeyError, ValueError) as err:
            sys.exit(f"{bench_file}: unexpected criterion layout ({err!r})")
        entry_id = full_id[len(group) + 1 :] if full_id.startswith(group + "/") else full_id
        elements = (bench.get("throughput") or {}).get("Elements")
        entries[(group, entry_id)] = (median, bench.get("value_str"), elements)
    if not entries:
        sys.exit(f"{directory}: no criterion results (run the benches first)")
    return entries


def baseline_id(group, value, baselines, entry_id=""):
    spec = baselines.get(group, FALLBACK_BASELINE)
    return spec.replace("{value}", value or "").replace("{function}", entry_id.split("/")[0])


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def report(directories, baselines):
    runs = [load_run(d) for d in directories]
    keys = sorted(set().union(*runs))
    rows = []
    for group, entry_id in keys:
        times, ratios, elements = [], [], None
        for run in runs:
            if (group, entry_id) not in run:
                continue
            median, value, elements = run[(group, entry_id)]
            times.append(median)
            base = run.get((group, baseline_id(group, value, baselines, entry_id)))
            if base is not None:
                ratios.append(median / base[0])
        rows.append((group, entry_id, times, ratios, elements))

    print(f"runs: {len(runs)} ({', '.join(str(d) for d in directories)})")
    print("time: median over runs of criterion's median; ratio: median over runs of (entry / baseline, same run)")
    print()
    print("| group | entry | baseline | median time | per element | ratio | ratio per run |")
    print("|---|---|---|---:|---:|---:|---|")
    for group, entry_id, times, ratios, elements in rows:
        value = next((run[(group, entry_id)][1] for run in runs if (group, entry_id) in run), None)
        base = baseline_id(group, value, baselines, entry_id)
        time = statistics.median(times)
        per_element = fmt_time(time / elements) if elements else ""
        ratio = f"{statistics.median(ratios):.3f}" if ratios else "n/a"
        per_run = " ".join(f"{r:.3f}" for r in ratios)
        print(f"| {group} | {entry_id} | {base} | {fmt_time(time)} | {per_element} | {ratio} | {per_run} |")


def run(repeats, out, criterion_args, baselines):
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], check=True, capture_output=True, text=True
    )
    target = Path(json.loads(metadata.stdout)["target_directory"])
    out = out or target / "bench-runs"
    directories = []
    for i in range(1, repeats + 1):
        criterion_dir = target / "criterion"
        # Each run starts clean, so its directory holds only this run's entries.
        shutil.rmtree(criterion_dir, ignore_errors=True)
        for bench in BENCHES:
            subprocess.run(["cargo", "bench", "--bench", bench, "--", *criterion_args], check=True)
        dest = out / f"run-{i}"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(criterion_dir, dest)
        directories.append(dest)
    report(directories, baselines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--baseline", action="append", default=[], metavar="GROUP=ID")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", parents=[common], help="run the benches N times, then report")
    run_p.add_argument("--repeats", type=int, default=3)
    run_p.add_argument("--out", help="default: <target dir>/bench-runs")
    run_p.add_argument("criterion_args", nargs="*", help="after --, e.g. --measurement-time 2 --warm-up-time 1")
    report_p = sub.add_parser("report", parents=[common], help="report runs already made")
    report_p.add_argument("directories", nargs="+")
    args = parser.parse_args()
    # cargo and the default output directory are relative to the crate root.
    repo = Path(__file__).resolve().parent.parent

    baselines = dict(DEFAULT_BASELINES)
    for spec in args.baseline:
        group, sep, entry = spec.partition("=")
        if not sep:
            parser.error(f"--baseline {spec!r}: expected GROUP=ID")
        baselines[group] = entry
    if args.command == "run":
        out = Path(args.out).resolve() if args.out else None
        os.chdir(repo)
        run(args.repeats, out, args.criterion_args, baselines)
    else:
        report(args.directories, baselines)


if __name__ == "__main__":
    main()
