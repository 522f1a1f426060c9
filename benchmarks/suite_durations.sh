#!/usr/bin/env bash
# Where the test suite's time goes (issue 22): the whole suite with pytest's slowest-40 list and the wall
# time, with the machine's load average beside it (figures from a shared machine are not comparable).
#   benchmarks/suite_durations.sh            serial, as the figures "serial" in README were taken
#   benchmarks/suite_durations.sh -n 2       on two workers, as ./calpolicy.sh test runs it
# It takes minutes: the whole suite runs.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- -n 0
start=$(date +%s)
.venv/bin/python -m pytest -p no:cacheprovider -q --durations=40 "$@"
status=$?
echo "wall: $(( $(date +%s) - start )) s; load average (1, 5, 15 min) at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
