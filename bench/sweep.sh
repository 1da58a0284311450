#!/usr/bin/env bash
# Runs the measurements behind docs/BENCHMARKS.md and draws its plots.
#
# usage: bench/sweep.sh [BUILD_DIR] [OUT_DIR]
#   BUILD_DIR  a Release build holding bench/proletariat-bench [build-bench]
#   OUT_DIR    where the JSON lines, data files and PNGs go [docs/bench]
# Needs gnuplot (Debian: gnuplot-nox) and python3. Takes about 6 minutes on a
# 2-core machine. Every run is bounded (--timeout); nothing is asserted.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-bench}"
out="${2:-$root/docs/bench}"
bench="$build/bench/proletariat-bench"
mkdir -p "$out"
run() { echo "+ proletariat-bench $*" >&2; "$bench" --timeout 600 "$@"; }

# 1. The default shape against the raw forwarder, three times: 1,000,000 jobs at
#    window 128, then 50,000 jobs at window 1 (latency); the first latency run's CDF.
run --baseline --repeat 3 --cdf "$out/latency_cdf.dat" > "$out/headline.jsonl"

# 2. Throughput against workers (window 128) and against the window (4 workers).
: > "$out/workers.jsonl"
for w in 1 2 4 8 16; do
  run --baseline --workers "$w" --jobs 200000 --latency-jobs 0 >> "$out/workers.jsonl"
done
: > "$out/window.jsonl"
for p in 1 4 16 64 128 256 512; do
  jobs=200000
  [ "$p" -le 4 ] && jobs=50000
  run --baseline --window "$p" --jobs "$jobs" --latency-jobs 0 >> "$out/window.jsonl"
done

# 3. The manager alone: fake workers, so the peer libraries do not share the CPU.
run --baseline --fake-workers --repeat 3 --jobs 500000 --latency-jobs 50000 > "$out/fake_workers.jsonl"

# 4. Scale, memory, status, features.
run --scale --repeat 3 > "$out/scale.jsonl"
run --queued 1000000 --baseline > "$out/queued.jsonl"
run --status-latency --workers 10000 --status-repeats 50 > "$out/status.jsonl"
run --features --repeat 3 > "$out/features.jsonl"

python3 "$root/bench/tabulate.py" "$out"
gnuplot -e "dir='$out'" "$root/bench/plots.gp"
echo "wrote $out" >&2
