#!/usr/bin/env bash
# Quick start 1: install, build, and run the demo end to end (a manager, 4 workers and
# a client pushing 10,000 jobs); prints a summary with jobs per second.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh"
exec "${BUILD_DIR:-$root/build}/examples/proletariat-demo" "$@"
