#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan, UBSan) in their own build
# directory and runs each for SECONDS (default 60), one after the other:
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Targets: peer_decode_fuzz dispatcher_fuzz list_header_fuzz journal_records_fuzz
# (default: all). Seeds come from tests/vectors/ (fuzz/make_corpus.py); the corpora
# grow in $FUZZ_OUT/corpus/<target> and are kept between runs. A crash leaves its input
# in $FUZZ_OUT/crashes/<target>/ and makes the exit status non-zero. docs/FUZZING.md.
# Environment: FUZZ_BUILD_DIR (default ./build-fuzz), FUZZ_OUT (default
# $FUZZ_BUILD_DIR/fuzz-out), FUZZ_FORKS (libFuzzer -fork=N: N processes per target;
# default 0, one process), JOBS (build parallelism, default 2), FUZZ_LONG=1 (long
# runs: ASan keeps no allocation stacks, malloc_context_size=0, about 20% more
# executions a second; a report then names the faulting access but not where the
# memory came from: rerun the crash file without it for that).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(peer_decode_fuzz dispatcher_fuzz list_header_fuzz journal_records_fuzz)
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
out="${FUZZ_OUT:-$build/fuzz-out}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (scripts/setup.sh installs clang and libFuzzer)" >&2
  exit 2
fi

echo "== fuzz: building ${targets[*]} in $build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROLETARIAT_FUZZ=ON \
  -DPROLETARIAT_SANITIZE=address,undefined -DPROLETARIAT_BUILD_TESTS=OFF -DPROLETARIAT_BUILD_EXAMPLES=OFF \
  -DPROLETARIAT_BUILD_BINDINGS=OFF -DPROLETARIAT_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target "${targets[@]}"

python3 "$root/fuzz/make_corpus.py" "$out/seeds"
failed=()
summary=()
for target in "${targets[@]}"; do
  corpus="$out/corpus/$target"
  crashes="$out/crashes/$target"
  log="$out/logs/$target.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1
        -dict="$out/seeds/protocol.dict" -artifact_prefix="$crashes/")
  [ "${FUZZ_FORKS:-0}" -gt 0 ] && args+=(-fork="$FUZZ_FORKS" -ignore_crashes=0)
  echo "== fuzz: $target for ${seconds}s"
  start=$(date +%s)
  set +e
  asan="detect_leaks=1:abort_on_error=1"
  [ "${FUZZ_LONG:-0}" = 1 ] && asan="$asan:malloc_context_size=0"
  ASAN_OPTIONS="$asan" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$build/fuzz/$target" "${args[@]}" "$corpus" "$out/seeds/$target" >"$log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$( (grep -E '^#[0-9]+' "$log" || true) | tail -1)
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  found=$(find "$crashes" -type f | wc -l)
  summary+=("$(printf '%-22s %12s execs %6ss  cov %-6s ft %-7s crash files %s  exit %s' \
    "$target" "${execs:-?}" "$elapsed" "${cov:-?}" "${ft:-?}" "$found" "$rc")")
  if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
    failed+=("$target")
    echo "fuzz: $target FAILED (exit $rc); its log: $log; inputs in $crashes:" >&2
    grep -E 'ERROR|SUMMARY|_fuzz:|runtime error' "$log" | head -20 >&2 || true
    find "$crashes" -type f >&2
  fi
done

echo "== fuzz: summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash"
