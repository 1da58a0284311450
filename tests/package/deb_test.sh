#!/usr/bin/env bash
# The Debian packages (issue 13, item 5): builds them with cpack -G DEB from a Release
# tree configured for /usr, checks each one's contents and Depends (dpkg-deb -c/-f/-I),
# unpacks them with dpkg-deb -x into an empty directory (nothing is installed), and
# runs what they hold from there: the daemon with the packaged config, proletariat-ctl,
# and a worker + client built against the unpacked dev package (find_package, and
# pkg-config). No LD_LIBRARY_PATH: the programs find libproletariat by their RUNPATH.
#
# usage: deb_test.sh SOURCE_DIR [PACKAGE_BUILD_DIR]
# PACKAGE_BUILD_DIR (CTest passes one inside its build tree) is kept, so a rerun
# rebuilds only what changed; the first run takes about 4.5 minutes on 2 cores.
# Without it the tree is built in a temporary directory and removed.
# Exit 0 ok, 1 failed, 77 skipped (dpkg-dev or file missing: run scripts/setup.sh).
set -euo pipefail
source_dir="$(cd "$1" && pwd)"
work="$(mktemp -d)"
build="${2:-$work/build}"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
unset LD_LIBRARY_PATH
export LC_ALL=C

fail() {  # the logs so far, then the reason
  for log in "$work"/*.log; do
    [ -s "$log" ] && { echo "--- $(basename "$log")" >&2; tail -n 20 "$log" >&2; }
  done
  echo "deb_test: FAIL: $*" >&2
  exit 1
}
step() { echo "deb_test: [${SECONDS}s] $*"; }

for tool in dpkg-deb dpkg-shlibdeps dpkg-architecture file readelf python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "deb_test: SKIP: $tool is missing (scripts/setup.sh installs dpkg-dev and file)"
    exit 77
  fi
done
multiarch="$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
arch="$(dpkg --print-architecture)"

# --- Build the packages ----------------------------------------------------------
step "configure and build $build (Release, prefix /usr)"
cmake -S "$source_dir" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DPROLETARIAT_BUILD_TESTS=OFF -DPROLETARIAT_BUILD_EXAMPLES=OFF -DPROLETARIAT_BUILD_BENCH=OFF \
  -DPROLETARIAT_BUILD_BINDINGS=ON -DPROLETARIAT_FUZZ=OFF -DPROLETARIAT_SANITIZE= >"$work/configure.log" 2>&1 ||
  fail "configure"
cmake --build "$build" -j 2 >"$work/build.log" 2>&1 || fail "build"
step "cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$work/packages") >"$work/cpack.log" 2>&1 || fail "cpack"

package() {
  local found=("$work/packages/$1"_*_"$arch".deb)
  [ "${#found[@]}" -eq 1 ] && [ -f "${found[0]}" ] || fail "expected one $1_*_$arch.deb, found: ${found[*]}"
  echo "${found[0]}"
}
daemon_deb="$(package proletariatd)"
runtime_deb="$(package libproletariat0)"
dev_deb="$(package libproletariat-dev)"
version="$(dpkg-deb -f "$runtime_deb" Version)"
upstream="${version%-*}"
step "packages $version: $(cd "$work/packages" && echo *.deb)"

# --- Control fields ----------------------------------------------------------------
depends_has() {  # PACKAGE.deb "dependency"
  local depends
  depends="$(dpkg-deb -f "$1" Depends)"
  [[ ", $depends," == *", $2,"* ]] || fail "$(basename "$1"): Depends lacks '$2': $depends"
}
for deb in "$daemon_deb" "$runtime_deb" "$dev_deb"; do
  [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "$(basename "$deb"): another version"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$(basename "$deb"): architecture"
done
depends_has "$daemon_deb" "libproletariat0 (= $version)"
depends_has "$dev_deb" "libproletariat0 (= $version)"
depends_has "$dev_deb" "nlohmann-json3-dev"
# dpkg-shlibdeps ran: the system libraries the library links are dependencies.
dpkg-deb -f "$runtime_deb" Depends | grep -q 'libzmq5' || fail "libproletariat0 does not depend on libzmq5"
dpkg-deb -f "$daemon_deb" Depends | grep -q 'libc6' || fail "proletariatd has no shlibs dependencies"
[ "$(dpkg-deb -I "$daemon_deb" conffiles)" = "/etc/proletariat/proletariatd.conf" ] ||
  fail "proletariatd: conffiles is not /etc/proletariat/proletariatd.conf"
dpkg-deb -I "$runtime_deb" shlibs | grep -q "^libproletariat 0 libproletariat0" || fail "libproletariat0: no shlibs"

# --- Contents: each file in the package it belongs to, none in two ---------------
lib="usr/lib/$multiarch"
contents() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's|^\./||' | grep -v '/$' | sort; }
contents "$daemon_deb" >"$work/daemon.files"
contents "$runtime_deb" >"$work/runtime.files"
contents "$dev_deb" >"$work/dev.files"
expect() {  # LIST path...
  local list="$1"
  shift
  for path in "$@"; do grep -qx "$path" "$work/$list.files" || fail "$list package lacks $path"; done
}
expect daemon usr/bin/proletariatd usr/bin/proletariat-ctl usr/lib/systemd/system/proletariatd.service \
  etc/proletariat/proletariatd.conf
expect runtime "$lib/libproletariat.so.0" "$lib/libproletariat_c.so.0"
expect dev usr/include/proletariat/proletariat.hpp usr/include/proletariat/version.hpp usr/include/proletariat.h \
  "$lib/libproletariat.so" "$lib/cmake/proletariat/proletariatConfig.cmake" \
  "$lib/cmake/proletariat/proletariatConfigVersion.cmake" "$lib/pkgconfig/proletariat.pc"
! grep -q '\.so' "$work/daemon.files" || fail "proletariatd holds a library: $(grep '\.so' "$work/daemon.files")"
! grep -qv "^$lib/libproletariat" "$work/runtime.files" || fail "libproletariat0 holds more than the libraries"
! grep -q '\.so\.' "$work/dev.files" || fail "libproletariat-dev holds a runtime library"
shared="$(sort "$work"/{daemon,runtime,dev}.files | uniq -d)"
[ -z "$shared" ] || fail "files in two packages: $shared"

# --- Unpack into an empty directory ----------------------------------------------
root="$work/root"
mkdir "$root"
for deb in "$daemon_deb" "$runtime_deb" "$dev_deb"; do dpkg-deb -x "$deb" "$root"; done
step "unpacked into $root"
for program in proletariatd proletariat-ctl; do
  runpath="$(readelf -d "$root/usr/bin/$program" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')"
  [ "$runpath" = "\$ORIGIN/../lib/$multiarch" ] || fail "$program: RUNPATH '$runpath', not \$ORIGIN/../lib/$multiarch"
done
[ -e "$root/usr/bin/../lib/$multiarch/libproletariat.so.0" ] || fail "the RUNPATH does not lead to libproletariat.so.0"
daemon="$root/usr/bin/proletariatd"
ctl="$root/usr/bin/proletariat-ctl"
"$daemon" --version | grep -q "proletariatd $upstream" || fail "proletariatd --version: $("$daemon" --version 2>&1)"

# --- The packaged config ---------------------------------------------------------
conf="$root/etc/proletariat/proletariatd.conf"
config_flags=()
if "$daemon" --help | grep -q -- '--check-config'; then
  "$daemon" --check-config "$conf" >"$work/check-config.log" 2>&1 || fail "--check-config rejects the packaged config"
  # Every option of --help that a service would set is in the file, set or commented
  # out (not: the ones for harnesses and supervisors, the deprecated alias) ...
  help="$("$daemon" --help)"
  for key in $(sed -n 's/^  --\([a-z][a-z-]*\).*/\1/p' <<<"$help"); do
    case "$key" in help | version | config | check-config | port | events | announce | parent-watch | max-attempts | debug) continue ;; esac
    grep -Eq "^(# )?$key = " "$conf" || fail "the packaged config does not document --$key"
  done
  # ... every commented line, uncommented, is valid (those naming files under /etc,
  # which do not exist here, aside) ...
  sed -n 's/^# \([a-z][a-z-]* = .*\)$/\1/p' "$conf" | grep -v ' = /etc/' >"$work/all-options.conf"
  "$daemon" --check-config "$work/all-options.conf" >"$work/check-config.log" 2>&1 ||
    fail "--check-config rejects the packaged config's commented options"
  # ... and shows the default that --help states (examples for options without one).
  while IFS=' =' read -r key value; do
    [ "$value" = true ] || [ "$value" = false ] && continue
    line="$(grep -F -- "--$key " <<<"$help")"
    [[ "$line" == *"[none"* || "$line" == *"[$value]"* ]] || fail "config says $key = $value, --help says: $line"
  done <"$work/all-options.conf"
  echo "no-such-option = 1" >"$work/bad.conf"
  set +e
  "$daemon" --check-config "$work/bad.conf" >/dev/null 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "--check-config on a bad file exited $rc, not 2"
  config_flags=(--config "$conf")
  step "--check-config: the packaged config is valid"
else
  echo "deb_test: SKIP (one step): proletariatd has no --check-config yet; the packaged config is not checked"
fi

# --- A worker and a client built against the unpacked dev package ----------------
step "build tests/package/deb against $root/usr"
cmake -S "$source_dir/tests/package/deb" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$root/usr" \
  -DCMAKE_BUILD_TYPE=Release >"$work/consumer.log" 2>&1 || fail "configure the consumer"
found_dir="$(sed -n 's/^proletariat_DIR:PATH=//p' "$work/consumer/CMakeCache.txt")"
[ "$found_dir" = "$root/$lib/cmake/proletariat" ] || fail "find_package found $found_dir, not the unpacked package"
cmake --build "$work/consumer" -j 2 >>"$work/consumer.log" 2>&1 || fail "build the consumer"
[ "$("$work/consumer/deb_c_version")" = "$upstream" ] || fail "the C API says version $("$work/consumer/deb_c_version")"
# pkg-config, with the unpacked tree as the sysroot.
if command -v pkg-config >/dev/null; then
  pc_flags="$(PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH="$root/$lib/pkgconfig" pkg-config --cflags --libs proletariat)" ||
    fail "pkg-config proletariat"
  [[ "$pc_flags" == *"-I$root/usr/include"* && "$pc_flags" == *"-L$root/$lib"* && "$pc_flags" == *-lproletariat* ]] ||
    fail "pkg-config proletariat: $pc_flags"
  printf '#include <proletariat/proletariat.hpp>\nint main() { return proletariat::Payload::json(nlohmann::json(1)).str() == "1" ? 0 : 1; }\n' \
    >"$work/pc.cpp"
  # shellcheck disable=SC2086  # pc_flags is a list of flags
  c++ -std=c++20 "$work/pc.cpp" -o "$work/pc" $pc_flags -Wl,-rpath,"$root/$lib" >"$work/pkg-config.log" 2>&1 ||
    fail "a program built with pkg-config's flags"
  "$work/pc" || fail "the program built with pkg-config's flags"
fi

# --- Run the unpacked daemon -----------------------------------------------------
step "start $daemon ${config_flags[*]} --port 0"
"$daemon" "${config_flags[@]}" --port 0 --journal "$work/journal" --announce >"$work/daemon.out" 2>"$work/daemon.log" &
daemon_pid=$!
pids+=("$daemon_pid")
for _ in $(seq 100); do
  [ -s "$work/daemon.out" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon exited at start"
  sleep 0.1
done
endpoint="$(python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["endpoint"])' <"$work/daemon.out")" ||
  fail "no ready line from --announce: $(cat "$work/daemon.out")"
[[ "$endpoint" == tcp://127.0.0.1:* ]] || fail "the daemon bound $endpoint, not loopback"
"$ctl" --endpoint "$endpoint" status >"$work/status.log" 2>&1 || fail "proletariat-ctl status"

"$work/consumer/deb_consumer" "$endpoint" 3 >"$work/deb_consumer.out" 2>"$work/deb_consumer.log" &
consumer_pid=$!
pids+=("$consumer_pid")
for _ in $(seq 200); do
  grep -q ready "$work/deb_consumer.out" && break
  kill -0 "$consumer_pid" 2>/dev/null || fail "deb_consumer exited before its first job came back"
  sleep 0.1
done
grep -q ready "$work/deb_consumer.out" || fail "deb_consumer: no round trip within 20 s"
step "worker + client round trip through the daemon"
"$ctl" --endpoint "$endpoint" workers --json >"$work/workers.json" 2>"$work/ctl.log" || fail "proletariat-ctl workers"
grep -q deb-test-worker "$work/workers.json" || fail "proletariat-ctl workers does not show the worker: $(cat "$work/workers.json")"
printf '1\n2\n3\n' | "$ctl" --endpoint "$endpoint" submit >"$work/submit.json" 2>"$work/ctl.log" ||
  fail "proletariat-ctl submit"
python3 - "$work/submit.json" <<'EOF' || fail "proletariat-ctl submit: wrong results: $(cat "$work/submit.json")"
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
assert [(r["index"], r["err"], r["data"]) for r in lines] == [(0, None, 2), (1, None, 4), (2, None, 6)], lines
EOF
wait "$consumer_pid" || fail "deb_consumer"
step "proletariat-ctl submit: 3 jobs, right answers"

# systemctl reload sends SIGHUP: the daemon reads the allow-lists again and carries on.
kill -HUP "$daemon_pid"
sleep 0.2
"$ctl" --endpoint "$endpoint" status --json >"$work/status.json" 2>"$work/ctl.log" || fail "status after SIGHUP"
# systemctl stop sends SIGTERM: a drain, then exit 0.
kill -TERM "$daemon_pid"
for _ in $(seq 100); do
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
set +e
wait "$daemon_pid"
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "the daemon exited $rc after SIGTERM"
[ -n "$(ls -A "$work/journal")" ] || fail "the daemon kept no journal in $work/journal"
step "SIGHUP, SIGTERM: drained, exit 0"

# --- The systemd unit ------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  # Verified with ExecStart pointing into the unpacked tree (verify wants it to exist).
  sed "s|/usr/bin/proletariatd|$daemon|" "$root/usr/lib/systemd/system/proletariatd.service" >"$work/proletariatd.service"
  (cd "$work" && systemd-analyze verify "$work/proletariatd.service") >"$work/systemd.log" 2>&1 ||
    fail "systemd-analyze verify proletariatd.service"
  step "systemd-analyze verify: the unit is valid"
fi
step "ok"
