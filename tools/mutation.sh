#!/usr/bin/env bash
# Mutation testing of the gate modules with mutmut 3. Not part of CI: it takes minutes per module.
#
#   tools/mutation.sh                          every gate module
#   tools/mutation.sh calpolicy/verdict.py     one module (several may be given)
#   MUTATION_ONLY='calpolicy.clm.checks.x__duplicates*' tools/mutation.sh calpolicy/clm/checks.py
#                                              only the mutants whose names match (fnmatch patterns)
#
# Each module is mutated in a throw-away copy of this worktree (mutmut writes a mutants/ folder next to
# pyproject.toml) and only its fast tests run against each mutant: no systemd, no child pytest whose
# imports mutmut cannot follow. Prints killed/survived per module and in all, and the survivors' names;
# `MUTATION_KEEP=1` keeps the copies so a survivor can be shown with `mutmut show NAME` inside them.
# Surviving mutants are either killed by a new test or listed in docs/mutation.md as equivalent.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
mutmut="$repo/.venv/bin/mutmut"
[ -x "$mutmut" ] || { echo "mutation: $mutmut missing; run: .venv/bin/pip install -e '.[dev]'" >&2; exit 2; }

# module -> the fast tests that guard it (paths relative to the repository)
declare -A TESTS=(
  [calpolicy/plugin.py]="unit_tests/test_gate_wiring.py unit_tests/test_plugin_inprocess.py"
  [calpolicy/preflight.py]="unit_tests/test_gate_wiring.py unit_tests/test_preflight_fast.py"
  [calpolicy/verdict.py]="unit_tests/test_verdict.py unit_tests/test_gate_wiring.py unit_tests/test_decisions.py"
  [calpolicy/bounds.py]="unit_tests/calibrate/test_calib_bounds.py unit_tests/test_decisions.py"
  [calpolicy/decisions.py]="unit_tests/test_decisions.py"
  [calpolicy/clm/checks.py]="unit_tests/test_data_gate.py unit_tests/test_properties.py unit_tests/test_registry.py"
  [calpolicy/probes/readiness.py]="unit_tests/probes/test_readiness_probe.py"
  [calpolicy/probes/redis_probe.py]="unit_tests/probes/test_redis_probe.py unit_tests/test_decisions.py"
)
# optional pytest -k expression per module, to leave out slow statistical sweeps
declare -A SELECT=(
  [calpolicy/bounds.py]="not honesty and not strongly_overconfident"
)
ORDER=(calpolicy/verdict.py calpolicy/decisions.py calpolicy/plugin.py calpolicy/preflight.py calpolicy/bounds.py
       calpolicy/clm/checks.py calpolicy/probes/readiness.py calpolicy/probes/redis_probe.py)
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${ORDER[@]}")

total_killed=0; total_survived=0; total_other=0
for module in "${modules[@]}"; do
  tests="${TESTS[$module]:-}"
  [ -n "$tests" ] || { echo "mutation: no tests listed for $module (known: ${ORDER[*]})" >&2; exit 2; }
  stage="$(mktemp -d /tmp/calpolicy-mutation.XXXXXX)"
  (cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$stage")
  {
    echo; echo "[tool.mutmut]"
    echo 'source_paths = ["calpolicy"]'
    echo "only_mutate = [\"$module\"]"
    echo 'also_copy = ["policy_tests", "unit_tests", "conftest.py"]'
    printf 'pytest_add_cli_args_test_selection = ['; printf '"%s", ' $tests; echo ']'
    if [ -n "${SELECT[$module]:-}" ]; then
      echo "pytest_add_cli_args = [\"-x\", \"-k\", \"${SELECT[$module]}\"]"
    else
      echo 'pytest_add_cli_args = ["-x"]'
    fi
  } >> "$stage/pyproject.toml"
  echo "== $module  (tests: $tests)"
  # shellcheck disable=SC2086  # MUTATION_ONLY holds zero or more patterns
  (cd "$stage" && "$mutmut" run --max-children "${MUTATION_JOBS:-2}" ${MUTATION_ONLY:-} > mutmut.log 2>&1) || {
    echo "mutation: mutmut failed on $module; see $stage/mutmut.log" >&2; tail -20 "$stage/mutmut.log" >&2; exit 1; }
  (cd "$stage" && "$mutmut" export-cicd-stats > /dev/null)
  read -r killed survived other < <(python3 - "$stage/mutants/mutmut-cicd-stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(s["killed"] + s.get("timeout", 0), s["survived"], s["total"] - s["killed"] - s.get("timeout", 0) - s["survived"])
PY
)
  echo "   killed $killed, survived $survived, other (no tests / suspicious / skipped) $other"
  (cd "$stage" && "$mutmut" results 2>/dev/null | grep -v ': killed' | sed 's/^/   /') || true
  total_killed=$((total_killed + killed)); total_survived=$((total_survived + survived)); total_other=$((total_other + other))
  if [ "${MUTATION_KEEP:-0}" = 1 ]; then echo "   kept: $stage"; else rm -rf "$stage"; fi
done
all=$((total_killed + total_survived + total_other))
echo "== in all: killed $total_killed of $all ($(( all ? 100 * total_killed / all : 0 ))%), survived $total_survived, other $total_other"
