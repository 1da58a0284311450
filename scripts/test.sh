#!/usr/bin/env bash
# Quick start 2: install, build, and run every test (C++ unit and integration tests
# through ctest). Exit status non-zero if anything fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure -j 2 --timeout 300
