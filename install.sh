#!/usr/bin/env bash
# One command that installs everything calpolicy, its demo and its tests need on a fresh Debian host:
# redis-server (the demo's and the tests' real Redis) and chromium (the HTML report test), then a virtual
# environment .venv with calpolicy, its loader distribution, its dependencies and dev tools at the versions
# of requirements.lock, and .venv-loader-np126 (the loader alone on numpy 1.26). Re-running it is harmless.
set -euo pipefail
cd "$(dirname "$0")"

# chromium renders policy_report.html in the tests exactly as the on-call person's browser does.
APT_PACKAGES=()
command -v redis-server >/dev/null 2>&1 || APT_PACKAGES+=(redis-server)
command -v chromium >/dev/null 2>&1 || APT_PACKAGES+=(chromium)
# bubblewrap locks the calibration child down (docs/lockdown.md); tzdata is the zone database a recorder
# log's +00:00 stamps make the calibration read, as on every real Debian host.
command -v bwrap >/dev/null 2>&1 || APT_PACKAGES+=(bubblewrap)
[ -e /usr/share/zoneinfo/UTC ] || APT_PACKAGES+=(tzdata)
# the kernel's system call tables: unit_tests/test_seccomp_filter.py checks the seccomp filter against them
[ -e /usr/include/asm-generic/unistd.h ] || APT_PACKAGES+=(linux-libc-dev)
if [ "${#APT_PACKAGES[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
  else
    echo "install.sh: ${APT_PACKAGES[*]} missing and I am not root; install those Debian packages" >&2
    exit 1
  fi
fi
# A package install starts the distribution's own Redis on 6379; calpolicy never uses that one.

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# The exact versions the suite passed with, each file checked against its sha256 (requirements.lock, made
# by tools/lock.sh), then calpolicy and calpolicy-loader (the distribution in ./loader, what the AI engine
# imports) from this checkout, without letting pip pick any other dependency version or look for
# calpolicy-loader on an index.
.venv/bin/python -m pip install -q --require-hashes -r requirements.lock
.venv/bin/python -m pip install -q --no-deps -e ./loader -e .

# The loader's own test venv on numpy 1.26 (the engine's venv pins numpy < 2): Python 3.11, exact pins
# with hashes (loader/requirements-np126.txt, made by pip-compile --generate-hashes), then the loader
# itself without dependencies. ./calpolicy.sh test runs loader/tests here and in .venv (newest numpy).
LOADER_PYTHON="${LOADER_PYTHON:-python3.11}"
if ! command -v "$LOADER_PYTHON" >/dev/null 2>&1; then
  echo "install.sh: $LOADER_PYTHON not found; the loader's numpy 1.26 venv needs Python 3.11 (set LOADER_PYTHON)" >&2
  exit 1
fi
if [ ! -x .venv-loader-np126/bin/python ]; then
  "$LOADER_PYTHON" -m venv .venv-loader-np126
fi
.venv-loader-np126/bin/python -m pip install -q --require-hashes -r loader/requirements-np126.txt
.venv-loader-np126/bin/python -m pip install -q --no-deps --no-build-isolation -e ./loader
echo "installed: $(.venv/bin/calpolicy --help | head -n 1)"
echo "next: ./calpolicy.sh demo    and    ./calpolicy.sh test   (or .venv/bin/calpolicy, .venv/bin/python -m pytest)"
