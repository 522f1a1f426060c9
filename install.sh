#!/usr/bin/env bash
# One command that installs everything calpolicy, its demo and its tests need on a fresh Debian host:
# redis-server (the demo's and the tests' real Redis) and chromium (the HTML report test), then a virtual
# environment .venv with calpolicy and its dev extras. Re-running it is harmless.
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
.venv/bin/python -m pip install -q -e '.[dev]'
echo "installed: $(.venv/bin/calpolicy --help | head -n 1)"
echo "next: ./calpolicy.sh demo    and    ./calpolicy.sh test   (or .venv/bin/calpolicy, .venv/bin/python -m pytest)"
