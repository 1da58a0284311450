#!/usr/bin/env bash
# Quick start 2: install, build, and run every test: the C++ unit and integration
# tests and the C API tests (ctest), then the Python and Node.js binding tests and
# the cross-language interop tests, all against the freshly built manager.
# Exit status non-zero if anything fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"

export PROLETARIAT_DAEMON="$build/broker/proletariatd"
export PROLETARIAT_BUILD_DIR="$build"

echo "== C++ and C tests (ctest)"
(cd "$build" && ctest --output-on-failure -j 2 --timeout 300)

if [ -d "$root/bindings/python/tests" ]; then
  echo "== Python binding tests (pytest)"
  (cd "$root/bindings/python" && /usr/bin/python3 -m pytest -q -p no:cacheprovider tests)
fi

if [ -f "$root/bindings/node/package.json" ]; then
  echo "== Node.js binding tests (node --test)"
  (cd "$root/bindings/node" && npm ci --no-audit --no-fund --loglevel=error && npm test)
fi

if [ -d "$root/tests/interop" ]; then
  echo "== Interop tests (pytest)"
  (cd "$root/tests/interop" && /usr/bin/python3 -m pytest -q -p no:cacheprovider .)
fi

# A short fuzzing run, when asked (CI: PROLETARIAT_FUZZ_SECONDS=20): needs clang.
if [ -n "${PROLETARIAT_FUZZ_SECONDS:-}" ]; then
  echo "== Fuzz targets, ${PROLETARIAT_FUZZ_SECONDS} s each (scripts/fuzz.sh)"
  "$root/scripts/fuzz.sh" "$PROLETARIAT_FUZZ_SECONDS"
fi
