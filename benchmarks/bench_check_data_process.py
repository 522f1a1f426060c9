"""Benchmark: ``calpolicy check-data`` as a whole process, the way an operator runs it (imports count).

Issue 8's bar: on a 1,000,000-line recorder log written with ``json.dumps`` default spacing (~330 B/line),
the median wall time of the whole process is <= 2.0 s, >= 4x the naive ``pandas.read_json`` + pandera check
run the same way, with peak RSS <= 1 GiB; CRLF line endings and 10 % garbage lines each cost <= 2x the
clean file. Every run is a fresh child process; wall time is measured around it, peak RSS is the child's
``ru_maxrss`` (read from ``RUSAGE_CHILDREN`` after each child, which is a running maximum, so each
contender runs in its own measuring wrapper).

Usage: ``python benchmarks/bench_check_data_process.py [--lines N] [--repeat K]``. The contenders run in
rounds (each once per round), so a drift in the machine's speed hits all of them alike; the speed-up is
also given round by round. The load average is printed with the figures, since a shared machine skews
wall times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from recorder_log import NAIVE_SCHEMA, write_log

NOW = "2026-11-21T00:01:00+00:00"
NAIVE = (
    NAIVE_SCHEMA
    + """
import sys
frame = pd.read_json(sys.argv[1], lines=True)
schema.validate(frame, lazy=True)
"""
)

# Runs one command and prints its wall time and peak RSS: RUSAGE_CHILDREN's ru_maxrss is the largest
# child so far, so a fresh wrapper per run gives exactly that run's peak.
MEASURE = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, usage.ru_maxrss, code, usage.ru_utime + usage.ru_stime)
"""


def generate(folder: Path, lines: int, seed: int = 1) -> dict[str, Path]:
    """The clean log (json.dumps default spacing), the same with CRLF, and with 10 % garbage lines."""
    clean, crlf, junk = folder / "clean.jsonl", folder / "crlf.jsonl", folder / "garbage10.jsonl"
    write_log(clean, lines, seed)
    with clean.open("rb") as source, crlf.open("wb") as b, junk.open("wb") as c:
        for i, text in enumerate(source):
            b.write(text[:-1] + b"\r\n")
            c.write(b"this is not json\n" if i % 10 == 5 else text)
    return {"clean": clean, "crlf": crlf, "garbage10": junk}


def measure(command: list[str]) -> tuple[float, float, int, float]:
    """(wall s, peak RSS MiB, exit code, CPU s): CPU time is what a shared, loaded machine distorts least."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True)
    wall, rss_kib, code, cpu = out.stdout.split()
    return float(wall), int(rss_kib) / 1024, int(code), float(cpu)


def compile_package() -> None:
    """Byte-compile the calpolicy that ``calpolicy`` will import, as ``pip install .`` does: an editable
    install under ``PYTHONDONTWRITEBYTECODE`` (set on these machines) would otherwise compile every module
    on every run, about 0.07 s that no installed copy pays."""
    where = subprocess.run(
        [sys.executable, "-c", "import calpolicy, os; print(os.path.dirname(calpolicy.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", where], check=True)
    print(f"byte-compiled {where}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    calpolicy = shutil.which("calpolicy", path=str(Path(sys.executable).parent)) or "calpolicy"
    compile_package()
    with tempfile.TemporaryDirectory(dir=Path.home()) as raw:
        folder = Path(raw)
        files = generate(folder, args.lines)
        os.sync()  # the writeback of a freshly written GiB would otherwise run during the first timings
        size = files["clean"].stat().st_size
        print(f"log: {args.lines:,} lines, {size / 2**20:.0f} MiB ({size / args.lines:.0f} B/line)")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
        env_cmd = ["env", f"CALPOLICY_CONFIG={folder / 'none.toml'}"]
        (folder / "none.toml").write_text("")
        medians: dict[str, float] = {}
        contenders = [
            (name, [*env_cmd, calpolicy, "check-data", str(path), "--now", NOW]) for name, path in files.items()
        ]
        if not args.skip_naive:
            contenders.append(("naive pandas+pandera", [sys.executable, "-c", NAIVE, str(files["clean"])]))
        for _, command in contenders:
            measure(command)  # warm-up, not counted: the log in the page cache, as a live recorder's is
        # Rounds, each running every contender once: this machine's speed drifts by a third over minutes,
        # and contenders measured one after another would compare different machine states.
        runs: dict[str, list[tuple[float, float, int, float]]] = {name: [] for name, _ in contenders}
        for _ in range(args.repeat):
            for name, command in contenders:
                runs[name].append(measure(command))
        for name, _ in contenders:
            walls = [run[0] for run in runs[name]]
            medians[name] = statistics.median(walls)
            cpu = statistics.median(run[3] for run in runs[name])
            print(
                f"{name:22s} median {medians[name]:.2f} s (min {min(walls):.2f}, max {max(walls):.2f}, "
                f"n={args.repeat}); CPU {cpu:.2f} s; peak RSS {max(run[1] for run in runs[name]):.0f} MiB; "
                f"exit {runs[name][0][2]}"
            )
        if "naive pandas+pandera" in runs:
            pairs = zip(runs["naive pandas+pandera"], runs["clean"], strict=True)
            ratios = [naive[0] / ours[0] for naive, ours in pairs]
            print(
                f"speed-up within each round: median {statistics.median(ratios):.1f}x "
                f"(min {min(ratios):.1f}, max {max(ratios):.1f})"
            )
        clean = medians["clean"]
        for name in ("crlf", "garbage10"):
            print(f"{name} / clean: {medians[name] / clean:.2f}x (target <= 2x)")
        if "naive pandas+pandera" in medians:
            print(f"speed-up over naive: {medians['naive pandas+pandera'] / clean:.1f}x (target >= 4x; <= 2.0 s)")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
