#!/usr/bin/env python3
"""Turns the JSON lines of bench/sweep.sh into gnuplot data files and a summary.

usage: bench/tabulate.py OUT_DIR
Reads OUT_DIR/{workers,window,headline,...}.jsonl; writes OUT_DIR/{workers,window}.dat
and prints the median of each figure over repetitions (the numbers quoted in
docs/BENCHMARKS.md).
"""
import json
import statistics
import sys
from pathlib import Path


def lines(path):
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def sweep(out, name, key):
    rows = lines(out / f"{name}.jsonl")
    with open(out / f"{name}.dat", "w") as f:
        f.write(f"# {key} proletariat_jobs_per_s baseline_jobs_per_s ratio\n")
        for r in rows:
            f.write(f"{r[key]} {r['jobs_per_s']} {r['baseline']['jobs_per_s']} {r['ratio']['jobs_per_s']}\n")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(out, name):
    rows = lines(out / f"{name}.jsonl")
    if not rows:
        return
    print(f"== {name} ({len(rows)} lines)")
    groups = {}
    for r in rows:
        groups.setdefault((r.get("phase"), r.get("workers"), r.get("window")), []).append(r)
    for (phase, workers, window), rs in groups.items():
        keys = [k for k, v in rs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        summary = {k: median([r.get(k) for r in rs]) for k in keys}
        for nested in ("baseline", "ratio", "features_on", "features_off"):
            if nested in rs[0] and isinstance(rs[0][nested], dict):
                summary[nested] = {
                    k: median([r[nested].get(k) for r in rs])
                    for k, v in rs[0][nested].items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                }
        print(json.dumps({"phase": phase, "workers": workers, "window": window, "median": summary}))


def main():
    out = Path(sys.argv[1])
    sweep(out, "workers", "workers")
    sweep(out, "window", "window")
    for name in ("headline", "fake_workers", "workers", "window", "scale", "queued", "status", "features"):
        summarize(out, name)


if __name__ == "__main__":
    main()
