"""Per-file and per-test time of a test run, from pytest's JUnit XML (``--junitxml=FILE``).

``--durations`` lists single tests; what makes a suite long is as often a file of many medium tests, and
on two workers a long file near the end keeps one worker busy alone. Usage:

    .venv/bin/python -m pytest -n 2 -q --junitxml=/tmp/run.xml
    .venv/bin/python benchmarks/suite_file_totals.py /tmp/run.xml [--top 30]

Times are wall seconds per test as pytest measured them (setup + call + teardown); on a shared machine
compare rankings, not absolute figures.
"""

from __future__ import annotations

import argparse
import collections
import sys
import xml.etree.ElementTree as ElementTree


def totals(path: str) -> tuple[dict[str, float], dict[str, float], collections.Counter[str]]:
    per_file: dict[str, float] = collections.defaultdict(float)
    per_test: dict[str, float] = {}
    count: collections.Counter[str] = collections.Counter()
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        classname = case.get("classname", "")
        seconds = float(case.get("time", "0") or 0)
        module = classname.replace(".", "/") + ".py"  # unit_tests.deploy.test_x -> unit_tests/deploy/test_x.py
        per_file[module] += seconds
        per_test[f"{module}::{case.get('name', '')}"] = seconds
        count[module] += 1
    return per_file, per_test, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit_xml")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    per_file, per_test, count = totals(args.junit_xml)
    print(f"{len(per_test)} tests, {sum(per_test.values()):.0f} s of test time in all")
    print("\nseconds  tests  file")
    for module, seconds in sorted(per_file.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{seconds:7.1f}  {count[module]:5d}  {module}")
    print("\nseconds  test")
    for name, seconds in sorted(per_test.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{seconds:7.1f}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
