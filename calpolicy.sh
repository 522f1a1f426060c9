#!/usr/bin/env bash
# The two commands of a fresh machine. Each installs what it needs on first use (install.sh: redis-server,
# chromium and a .venv with calpolicy), then runs:
#   ./calpolicy.sh demo [demo options]   the whole checklist end to end on an embedded local environment
#   ./calpolicy.sh test [pytest options] ruff (lint and format), the loader's tests on numpy 1.26 and the newest numpy, then
#                                        the whole test suite on two workers (what CI runs)
# It works from any directory: it finds the checkout beside itself.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

ensure_installed() {
  # Re-install when the project's requirements or the lock changed since the last install.
  local marker=.venv/.calpolicy-installed
  if [ ! -x .venv/bin/calpolicy ] || [ ! -x .venv-loader-np126/bin/python ] || [ ! -f "$marker" ] \
    || [ pyproject.toml -nt "$marker" ] || [ requirements.lock -nt "$marker" ] \
    || [ loader/pyproject.toml -nt "$marker" ] || [ loader/requirements-np126.txt -nt "$marker" ]; then
    bash install.sh >&2
    touch .venv/.calpolicy-installed
  fi
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  demo)
    ensure_installed
    exec .venv/bin/calpolicy demo "$@"
    ;;
  test)
    ensure_installed
    .venv/bin/ruff check calpolicy policy_tests unit_tests benchmarks tools conftest.py loader
    .venv/bin/ruff format --check calpolicy policy_tests unit_tests benchmarks tools conftest.py loader
    # The loader distribution's own tests, on the newest numpy (.venv, without calpolicy's pytest plugin)
    # and on numpy 1.26 (.venv-loader-np126, where calpolicy is not installed at all).
    (cd loader && ../.venv/bin/python -m pytest -q -p no:calpolicy.plugin -p no:xdist tests)
    (cd loader && ../.venv-loader-np126/bin/python -m pytest -q tests)
    # two workers (pytest-xdist): the suite is mostly child processes waiting on each other; tests use
    # random loopback ports, their own tmp folders and systemd namespaces. CALPOLICY_TEST_WORKERS=0: serial.
    exec .venv/bin/python -m pytest -n "${CALPOLICY_TEST_WORKERS:-2}" "$@"
    ;;
  *)
    echo "usage: $0 demo [options] | test [pytest options]" >&2
    exit 2
    ;;
esac
