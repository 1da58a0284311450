#!/usr/bin/env bash
# Installs everything the build, the demo and the tests need, from Debian's packages.
# Safe to run again: it installs only what is missing. Run as root (or with sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libzmq3-dev cppzmq-dev nlohmann-json3-dev libspdlog-dev googletest libgtest-dev
  python3 python3-zmq python3-pytest
  clang libclang-rt-dev  # scripts/fuzz.sh: clang and its libFuzzer (Debian ships it apart)
  libsodium-dev  # HTTP tokens of admin keys (CURVE key agreement; libzmq uses it too)
  libcpp-httplib-dev  # the manager's HTTP endpoint (--http): /metrics, /status, the dashboard
  python3-prometheus-client  # tests parse /metrics with the Prometheus project's own parser
  chromium chromium-driver python3-selenium  # the dashboard's test in a real browser
  dpkg-dev file  # CPack's Debian packages (dpkg-shlibdeps) and their test
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Node.js and npm for the Node binding: the machines ship Node 20; a bare Debian 12
# gets Debian's own.
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing nodejs and npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
echo "setup: dependencies present"
