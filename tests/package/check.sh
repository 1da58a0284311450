#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, then builds and runs a consumer
# project against it with find_package(proletariat).
# usage: check.sh BUILD_DIR [SANITIZERS]; a sanitized library needs a consumer built
# with the same -fsanitize, so that the sanitizer's runtime is loaded first.
set -euo pipefail
build="$1"
sanitize="${2:-}"
flags=()
if [ -n "$sanitize" ]; then
  flags=(-DCMAKE_CXX_FLAGS="-fsanitize=$sanitize" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=$sanitize")
fi
source_dir="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [[ "$sanitize" == *thread* ]]; then
  # The consumer is not one of our targets, so it lacks cmake/tsan_suppressions.c.
  printf 'called_from_lib:libzmq.so\nrace:libzmq.so\nrace:std::__exception_ptr::exception_ptr::_M_release\n' > "$work/tsan.supp"
  export TSAN_OPTIONS="suppressions=$work/tsan.supp${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
fi
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release "${flags[@]}" >/dev/null
cmake --build "$work/build" -j 2 >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:$work/prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$work/build/consumer"
# The installed programs run from the prefix as they are: no LD_LIBRARY_PATH, no
# ldconfig (their RUNPATH is $ORIGIN/../lib).
for program in proletariatd proletariat-ctl; do
  if ! env -u LD_LIBRARY_PATH "$work/prefix/bin/$program" --help >/dev/null 2>"$work/$program.err"; then
    echo "installed $program does not run from its prefix:" >&2
    cat "$work/$program.err" >&2
    exit 1
  fi
done
