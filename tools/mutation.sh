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

# module -> the fast tests that guard it (paths or node IDs relative to the repository). The adversarial
# probe tests that run in-process are listed one by one: the gzip-bomb case runs the probe in a child.
ADV=unit_tests/test_adversarial_probes.py
declare -A TESTS=(
  [calpolicy/plugin.py]="unit_tests/test_gate_wiring.py unit_tests/test_plugin_inprocess.py unit_tests/test_plugin_suite_and_job.py"
  [calpolicy/preflight.py]="unit_tests/test_gate_wiring.py unit_tests/test_preflight_fast.py"
  [calpolicy/verdict.py]="unit_tests/test_verdict.py unit_tests/test_gate_wiring.py unit_tests/test_decisions.py"
  [calpolicy/bounds.py]="unit_tests/calibrate/test_calib_bounds.py unit_tests/test_decisions.py"
  [calpolicy/decisions.py]="unit_tests/test_decisions.py"
  [calpolicy/clm/checks.py]="unit_tests/test_data_gate.py unit_tests/test_data_gate_exact.py unit_tests/test_data_gate_golden.py unit_tests/test_properties.py unit_tests/test_registry.py"
  [calpolicy/probes/readiness.py]="unit_tests/probes/test_readiness_probe.py $ADV::test_a_readiness_body_that_says_two_things_is_not_judged $ADV::test_a_clean_body_still_passes_through_the_same_path $ADV::test_a_redirect_off_the_configured_host_is_not_followed_and_userinfo_is_masked $ADV::test_a_redirect_to_another_port_is_off_host_too $ADV::test_a_redirect_on_the_same_host_is_followed $ADV::test_a_body_announced_over_the_cap_is_not_read $ADV::test_an_endless_body_without_length_is_cut_at_the_raw_cap $ADV::test_a_server_trickling_one_byte_a_second_is_stopped_at_the_deadline"
  [calpolicy/jobs.py]="unit_tests/test_jobs.py"
  [calpolicy/signing.py]="unit_tests/report/test_signing.py"
  [calpolicy/probes/redis_probe.py]="unit_tests/probes/test_redis_probe.py unit_tests/test_decisions.py $ADV::test_a_server_answering_pong_to_everything_is_not_redis $ADV::test_a_type_answer_outside_redis_vocabulary_is_an_error_not_a_tripped_key $ADV::test_redis_replying_one_byte_per_1_5_s_is_stopped_at_the_probe_deadline $ADV::test_no_backlog_stream_configured_cannot_be_checked $ADV::test_a_stream_without_a_consumer_group_cannot_be_checked $ADV::test_no_halt_keys_cannot_be_checked"
)
# the after-decision modules (issue 21 §5). The loader is its own distribution with a src/ layout: its
# modules are named by their path under loader/, mutated with loader/ as the project and its tests there.
LOADER_FAST="not test_any_edit_of_a_good_file and not test_any_bytes_never_raise and not test_thousand_reloads"
for m in parse loader files __init__; do TESTS[loader/src/calpolicy_loader/$m.py]="tests"; done
TESTS[calpolicy/watch/sequential.py]="unit_tests/watch/test_sequential.py unit_tests/watch/test_watch_holdout.py"
TESTS[calpolicy/watch/signals.py]="unit_tests/watch/test_watch_signals.py"
TESTS[calpolicy/watch/verdict.py]="unit_tests/watch/test_watch_split.py unit_tests/watch/test_watch_signals.py unit_tests/watch/test_sequential.py"
TESTS[calpolicy/watch/trades.py]="unit_tests/watch/test_watch_trades.py"
TESTS[calpolicy/sandbox.py]="unit_tests/test_sandbox.py unit_tests/test_sandbox_bypasses.py"
TESTS[calpolicy/seccomp.py]="unit_tests/test_sandbox_bypasses.py unit_tests/test_sandbox.py"

# optional pytest -k expression per module, to leave out slow statistical sweeps
declare -A SELECT=(
  [calpolicy/bounds.py]="not honesty and not strongly_overconfident"
  # the SIGKILL trials and the private-mount cases take seconds each and guard creation, not state
  [calpolicy/jobs.py]="not sigkill_at_random and not concurrent and not full_disk and not read_only"
  # the CLI cases run calpolicy in a child process, which cannot see a mutant
  [calpolicy/signing.py]="not cli"
  # the whole policy suite through pytester: 6 s per mutant, and every data item is also asserted directly
  [calpolicy/clm/checks.py]="not test_every_registered_id_reaches_a_policy_test"
)
# the loader's hypothesis sweeps (300 examples each) and its 1,000-reload race: 30 s per mutant together;
# every refusal they look for is also asserted on a fixed file in test_hostile_files.py / test_apply.py
for m in parse loader files __init__; do SELECT[loader/src/calpolicy_loader/$m.py]="$LOADER_FAST"; done
# the watch's 18 s hold-out sweep over a day of looks (its boundary maths is also pinned in test_sequential.py)
SELECT[calpolicy/watch/sequential.py]="not test_judging_at_the_last_look_says_rollback_exactly_when_some_look_of_the_day_did"
# optional environment per module: the data gate's property tests run 8 fixed examples each, not 40 random
declare -A ENVIRONMENT=(
  [calpolicy/clm/checks.py]="CALPOLICY_PROPERTY_EXAMPLES=8"
)
ORDER=(calpolicy/verdict.py calpolicy/decisions.py calpolicy/plugin.py calpolicy/preflight.py calpolicy/bounds.py
       calpolicy/clm/checks.py calpolicy/probes/readiness.py calpolicy/probes/redis_probe.py calpolicy/jobs.py
       calpolicy/signing.py
       loader/src/calpolicy_loader/parse.py loader/src/calpolicy_loader/loader.py loader/src/calpolicy_loader/files.py
       loader/src/calpolicy_loader/__init__.py
       calpolicy/watch/sequential.py calpolicy/watch/signals.py calpolicy/watch/verdict.py calpolicy/watch/trades.py
       calpolicy/seccomp.py calpolicy/sandbox.py)
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=("${ORDER[@]}")

total_killed=0; total_survived=0; total_other=0
for module in "${modules[@]}"; do
  tests="${TESTS[$module]:-}"
  [ -n "$tests" ] || { echo "mutation: no tests listed for $module (known: ${ORDER[*]})" >&2; exit 2; }
  stage="$(mktemp -d /tmp/calpolicy-mutation.XXXXXX)"
  (cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$stage")
  project="$stage"; target="$module"; sources='"calpolicy"'; copy='"policy_tests", "unit_tests", "conftest.py"'
  if [[ "$module" == loader/* ]]; then
    project="$stage/loader"; target="${module#loader/}"; sources='"src"'; copy='"tests"'
  fi
  {
    echo; echo "[tool.mutmut]"
    echo "source_paths = [$sources]"
    echo "only_mutate = [\"$target\"]"
    echo "also_copy = [$copy]"
    printf 'pytest_add_cli_args_test_selection = ['; printf '"%s", ' $tests; echo ']'
    if [ -n "${SELECT[$module]:-}" ]; then
      echo "pytest_add_cli_args = [\"-x\", \"-k\", \"${SELECT[$module]}\"]"
    else
      echo 'pytest_add_cli_args = ["-x"]'
    fi
  } >> "$project/pyproject.toml"
  echo "== $module  (tests: $tests)"
  # shellcheck disable=SC2086  # MUTATION_ONLY and ENVIRONMENT hold zero or more words
  (cd "$project" && env ${ENVIRONMENT[$module]:-} "$mutmut" run --max-children "${MUTATION_JOBS:-2}" ${MUTATION_ONLY:-} \
     > mutmut.log 2>&1) || {
    # mutmut 3 mutates function bodies only: a module of imports and constants (the loader's __init__.py)
    # has no mutant at all, and mutmut then stops with "could not find any test case for any mutant"
    if [ -z "$(cd "$project" && "$mutmut" results --all true 2>/dev/null)" ]; then
      echo "   no mutants: mutmut 3 mutates function bodies, and $module has none"
      if [ "${MUTATION_KEEP:-0}" = 1 ]; then echo "   kept: $stage"; else rm -rf "$stage"; fi
      continue
    fi
    echo "mutation: mutmut failed on $module; see $project/mutmut.log" >&2; tail -20 "$project/mutmut.log" >&2; exit 1; }
  (cd "$project" && "$mutmut" export-cicd-stats > /dev/null)
  read -r killed survived other < <(python3 - "$project/mutants/mutmut-cicd-stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(s["killed"] + s.get("timeout", 0), s["survived"], s["total"] - s["killed"] - s.get("timeout", 0) - s["survived"])
PY
)
  echo "   killed $killed, survived $survived, other (no tests / suspicious / skipped) $other"
  (cd "$project" && "$mutmut" results 2>/dev/null | grep -v ': killed' | sed 's/^/   /') || true
  total_killed=$((total_killed + killed)); total_survived=$((total_survived + survived)); total_other=$((total_other + other))
  if [ "${MUTATION_KEEP:-0}" = 1 ]; then echo "   kept: $stage"; else rm -rf "$stage"; fi
done
all=$((total_killed + total_survived + total_other))
echo "== in all: killed $total_killed of $all ($(( all ? 100 * total_killed / all : 0 ))%), survived $total_survived, other $total_other"
