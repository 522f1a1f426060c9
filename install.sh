#!/usr/bin/env bash
# One command that installs everything calpolicy, its demo and its tests need on a fresh Debian host:
# redis-server (the demo's and the tests' real Redis) and chromium (the HTML report test), then a virtual
# environment .venv with calpolicy, its dependencies and dev tools at the versions of requirements.lock.
# Re-running it is harmless.
set -euo pipefail
cd "$(dirname "$0")"

# chromium renders policy_report.html in the tests exactly as the on-call person's browser does.
APT_PACKAGES=()
command -v redis-server >/dev/null 2>&1 || APT_PACKAGES+=(redis-server)
command -v chromium >/dev/null 2>&1 || APT_PACKAGES+=(chromium)
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
# by tools/lock.sh), then calpolicy itself without letting pip pick any other dependency version.
.venv/bin/python -m pip install -q --require-hashes -r requirements.lock
.venv/bin/python -m pip install -q --no-deps -e .
echo "installed: $(.venv/bin/calpolicy --help | head -n 1)"
echo "next: ./calpolicy.sh demo    and    ./calpolicy.sh test   (or .venv/bin/calpolicy, .venv/bin/python -m pytest)"
