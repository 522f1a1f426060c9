#!/usr/bin/env bash
# Mutation testing of the gate modules with mutmut 3. Not part of CI: it takes minutes per module.
#
#   tools/mutation.sh                          every gate module
#   tools/mutation.sh calpolicy/vocabulary/verdict.py     one module (several may be given)
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
  [calpolicy/plugin/__init__.py]="unit_tests/test_gate_wiring.py unit_tests/test_plugin_inprocess.py unit_tests/test_plugin_suite_and_job.py"
  [calpolicy/preflight/__init__.py]="unit_tests/test_gate_wiring.py unit_tests/test_preflight_fast.py"
  [calpolicy/vocabulary/verdict.py]="unit_tests/test_verdict.py unit_tests/test_gate_wiring.py unit_tests/test_decisions.py"
  [calpolicy/calibrate/bounds.py]="unit_tests/calibrate/test_calib_bounds.py unit_tests/test_decisions.py"
  [calpolicy/vocabulary/decisions.py]="unit_tests/test_decisions.py unit_tests/probes/test_probe_properties.py unit_tests/probes/test_redis_probe.py"
  [calpolicy/clm/checks.py]="unit_tests/test_data_gate.py unit_tests/test_data_gate_exact.py unit_tests/test_data_gate_golden.py unit_tests/test_properties.py unit_tests/test_registry.py"
  [calpolicy/preflight/probes/readiness.py]="unit_tests/probes/test_readiness_probe.py $ADV::test_a_readiness_body_that_says_two_things_is_not_judged $ADV::test_a_clean_body_still_passes_through_the_same_path $ADV::test_a_redirect_off_the_configured_host_is_not_followed_and_userinfo_is_masked $ADV::test_a_redirect_to_another_port_is_off_host_too $ADV::test_a_redirect_on_the_same_host_is_followed $ADV::test_a_body_announced_over_the_cap_is_not_read $ADV::test_an_endless_body_without_length_is_cut_at_the_raw_cap $ADV::test_a_server_trickling_one_byte_a_second_is_stopped_at_the_deadline"
  [calpolicy/jobs/__init__.py]="unit_tests/test_jobs_mutants.py unit_tests/test_jobs.py unit_tests/test_abort_state_mutants.py"
  # the fast in-process signed job (unit_tests/report/signedjob.py); test_signing.py's job is a child pytest run
  [calpolicy/review/signing.py]="unit_tests/report/test_signing_mutants.py unit_tests/report/test_signing_key_caps.py"
  [calpolicy/preflight/probes/redis/*]="unit_tests/probes/test_redis_probe.py unit_tests/test_decisions.py $ADV::test_a_server_answering_pong_to_everything_is_not_redis $ADV::test_a_type_answer_outside_redis_vocabulary_is_an_error_not_a_tripped_key $ADV::test_redis_replying_one_byte_per_1_5_s_is_stopped_at_the_probe_deadline $ADV::test_no_backlog_stream_configured_cannot_be_checked $ADV::test_a_stream_without_a_consumer_group_cannot_be_checked $ADV::test_no_halt_keys_cannot_be_checked"
)
# the after-decision modules (issue 21 §5). The loader is its own distribution with a src/ layout: its
# modules are named by their path under loader/, mutated with loader/ as the project and its tests there.
LOADER_FAST="not test_any_edit_of_a_good_file and not test_any_bytes_never_raise and not test_thousand_reloads"
for m in parse loader files __init__; do TESTS[loader/src/calpolicy_loader/$m.py]="tests"; done
TESTS[calpolicy/watch/sequential.py]="unit_tests/watch/test_sequential.py unit_tests/watch/test_watch_holdout.py"
TESTS[calpolicy/watch/signals.py]="unit_tests/watch/test_watch_signals_exact.py unit_tests/watch/test_watch_report.py unit_tests/watch/test_watch_signals.py"
TESTS[calpolicy/watch/verdict.py]="unit_tests/watch/test_watch_report.py unit_tests/watch/test_watch_judge_edges.py unit_tests/watch/test_watch_split.py unit_tests/watch/test_watch_signals.py unit_tests/watch/test_sequential.py"
# the journal's decision lines and what the watch reads of calibration.json; watch() is gather() (the live
# inputs) then report_from() (pure: real files, fast); gather's reads of systemctl/journalctl run in-process
# against a private systemd booted once for test_watch_gather.py (~9 s; test_watch_live.py runs the CLI in a child)
TESTS[calpolicy/watch/journal.py]="unit_tests/watch/test_watch_journal.py unit_tests/watch/test_watch_signals.py"
TESTS[calpolicy/watch/__init__.py]="unit_tests/watch/test_watch_applied.py unit_tests/watch/test_watch_signals.py unit_tests/watch/test_watch_report_from.py unit_tests/watch/test_watch_gather.py"
TESTS[calpolicy/watch/trades.py]="unit_tests/watch/test_watch_trades.py"
# the sandbox: its parts in-process (the child's main function in a fork), then the real bubblewrap runs
TESTS[calpolicy/lockdown/sandbox.py]="unit_tests/test_sandbox_mutants.py unit_tests/test_sandbox_inprocess.py unit_tests/test_sandbox.py unit_tests/test_sandbox_bypasses.py unit_tests/test_sandbox_result_pipe.py"
TESTS[calpolicy/lockdown/seccomp.py]="unit_tests/test_seccomp_filter.py unit_tests/test_sandbox_bypasses.py unit_tests/test_sandbox_nofork.py"
# confirmation.py: its words, its evidence rules on gathered facts (real files, real host processes), and its
# systemctl/journalctl shell in-process against one private systemd booted for the module (~4 s a mutant that
# reaches it); test_confirmation.py's end-to-end cases (a fresh systemd each, 9 s) stay out
TESTS[calpolicy/apply/confirmation.py]="unit_tests/deploy/test_confirmation_words.py unit_tests/deploy/test_confirmation_rules.py unit_tests/deploy/test_confirmation_shell.py"
# apply and rollback (issue 21 §5): every in-process test of unit_tests/deploy. Left out by DEPLOY_FAST: the
# cases that run calpolicy in a child (a mutant is invisible there), the SIGKILL/mount trials (test_crash_safety,
# test_faults) and the systemd ones (test_apply_policy, test_confirmation)
DEPLOY_TESTS="unit_tests/deploy/test_deploy.py unit_tests/deploy/test_trust.py unit_tests/deploy/test_approve_cli.py unit_tests/deploy/test_engine_weights.py unit_tests/deploy/test_compatibility.py unit_tests/deploy/test_loader.py unit_tests/deploy/test_deploy_mutants.py unit_tests/deploy/test_approval_mutants.py unit_tests/deploy/test_rolled_back_mutants.py"
DEPLOY_FAST="not emergency_exit and not stale_holder and not archive_path_that_is_a_file and not odd_fields and not edited_decisions_log and not every_view and not refuses_without_signature_and_touches_nothing and not cli_rollback_and_history and not first_line_of_stdout and not load_once_engine"
TESTS[calpolicy/apply/deploy/*]="$DEPLOY_TESTS"
# approval also against what approve's refusal of an aborted job says (the history's abort line as evidence)
TESTS[calpolicy/review/approval.py]="$DEPLOY_TESTS unit_tests/deploy/test_abort_evidence_mutants.py"
# abort (3.2, issue 21 §2): its in-process record tests on real files and a real full tmpfs. Left out by
# ABORT_FAST: the cases that run calpolicy abort/approve in a child (a mutant is invisible there) and the
# SIGKILL trials; what they check of abort_job is asserted in-process in test_abort_mutants.py
ABORT_FAST="not every_view and not is_aborted_and_finished_by_a_rerun and not abort_then_cut and not sigkill_at_any_moment and not old_abort and not lines_added and not history_cannot_take_is_not_done and not waits_for_no_one"
TESTS[calpolicy/apply/deploy/abort.py]="unit_tests/deploy/test_abort_mutants.py unit_tests/deploy/test_abort_record.py"
# the rest of the apply path (issue 21 §5): the lock, the apply history, the archive and the engine's
# weights, each against its own in-process tests on real files, real flocks and a SIGKILLed lock holder
TESTS[calpolicy/apply/lock.py]="unit_tests/deploy/test_lock_mutants.py"
TESTS[calpolicy/jobs/history.py]="unit_tests/test_history_mutants.py unit_tests/test_abort_state_mutants.py"
TESTS[calpolicy/apply/archive.py]="unit_tests/deploy/test_archive_mutants.py"
TESTS[calpolicy/lockdown/engine_weights.py]="unit_tests/deploy/test_engine_weights_mutants.py unit_tests/deploy/test_engine_weights.py"

# optional pytest -k expression per module, to leave out slow statistical sweeps
declare -A SELECT=(
  [calpolicy/calibrate/bounds.py]="not honesty and not strongly_overconfident"
  # the SIGKILL trials, the private-mount cases and the new-process read take seconds each; what they guard
  # is also asserted in-process in test_jobs_mutants.py (a torn tail, a full disk, a restart's view)
  [calpolicy/jobs/__init__.py]="not sigkill_at_random and not concurrent and not full_disk and not read_only and not sigkill_while_recording and not survive_a_new_process"
  # the whole policy suite through pytester: 6 s per mutant, and every data item is also asserted directly
  [calpolicy/clm/checks.py]="not test_every_registered_id_reaches_a_policy_test"
)
# the loader's hypothesis sweeps (300 examples each) and its 1,000-reload race: 30 s per mutant together;
# every refusal they look for is also asserted on a fixed file in test_hostile_files.py / test_apply.py
for m in parse loader files __init__; do SELECT[loader/src/calpolicy_loader/$m.py]="$LOADER_FAST"; done
# the watch's 18 s hold-out sweep over a day of looks (its boundary maths is also pinned in test_sequential.py)
SELECT[calpolicy/watch/sequential.py]="not test_judging_at_the_last_look_says_rollback_exactly_when_some_look_of_the_day_did"
SELECT[calpolicy/apply/deploy/*]="$DEPLOY_FAST"; SELECT[calpolicy/review/approval.py]="$DEPLOY_FAST"
SELECT[calpolicy/apply/deploy/abort.py]="$ABORT_FAST"
# optional environment per module: the data gate's property tests run 8 fixed examples each, not 40 random
declare -A ENVIRONMENT=(
  [calpolicy/clm/checks.py]="CALPOLICY_PROPERTY_EXAMPLES=8"
)
ORDER=(calpolicy/vocabulary/verdict.py calpolicy/vocabulary/decisions.py calpolicy/plugin/__init__.py calpolicy/preflight/__init__.py calpolicy/calibrate/bounds.py
       calpolicy/clm/checks.py calpolicy/preflight/probes/readiness.py "calpolicy/preflight/probes/redis/*" calpolicy/jobs/__init__.py
       calpolicy/review/signing.py
       loader/src/calpolicy_loader/parse.py loader/src/calpolicy_loader/loader.py loader/src/calpolicy_loader/files.py
       loader/src/calpolicy_loader/__init__.py
       calpolicy/watch/sequential.py calpolicy/watch/signals.py calpolicy/watch/verdict.py calpolicy/watch/trades.py
       calpolicy/watch/journal.py calpolicy/watch/__init__.py
       calpolicy/lockdown/seccomp.py calpolicy/lockdown/sandbox.py "calpolicy/apply/deploy/*" calpolicy/review/approval.py
       calpolicy/apply/lock.py calpolicy/jobs/history.py calpolicy/apply/archive.py calpolicy/lockdown/engine_weights.py
       calpolicy/apply/confirmation.py calpolicy/apply/deploy/abort.py)
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
