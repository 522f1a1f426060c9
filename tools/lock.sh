#!/usr/bin/env bash
# Make or refresh requirements.lock: the exact version of every package calpolicy, its tests and its dev
# tools need, each with the sha256 of every file PyPI has for that version. install.sh and CI install from
# it with `pip install --require-hashes`, so a new release of any dependency reaches nobody until this
# script moved the lock and the suite passed with it.
#
#   tools/lock.sh                        keep each pinned version that still fits pyproject.toml; add what is new
#   tools/lock.sh --upgrade              every package to the newest release pyproject.toml's ranges allow
#   tools/lock.sh --upgrade-package P    only package P (repeatable)
#
# Then: ./calpolicy.sh test (it re-installs from the new lock) and commit requirements.lock only when green.
# Made with uv (a dev dependency: .venv/bin/uv); the lock is universal (markers, not this machine's
# platform) for CPython >= 3.11, and reads PyPI itself so the hashes are PyPI's.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=.venv/bin/uv
[ -x "$UV" ] || UV="$(command -v uv || true)"
if [ -z "$UV" ]; then
  echo "tools/lock.sh: uv not found: run ./install.sh first (it installs uv into .venv as a dev tool)" >&2
  exit 2
fi
# tools/lock.in names calpolicy[dev] and ./loader from this checkout; neither is emitted, so the lock holds only
# what PyPI serves and calpolicy-loader is never looked up on an index.
exec "$UV" pip compile tools/lock.in --no-emit-package calpolicy --no-emit-package calpolicy-loader --generate-hashes --universal --python-version 3.11 \
  --index-url https://pypi.org/simple --custom-compile-command "tools/lock.sh" \
  --output-file requirements.lock --quiet "$@"
