"""Benchmark: could a faster JSON-lines parser than Arrow's carry ``check-data``'s fast path?

Issue 8 asks for <= 2.0 s on a million recorder lines; Arrow's parse alone costs ~1.4 CPU-s of the
~2.9 CPU-s the whole process spends. This measures the candidates on the same log, and then feeds each the
inputs the gate must refuse (issue 9): a parser that *accepts* one of them silently cannot be the fast
path, since the fast path's result is trusted as is. Arrow refuses all of them, and the file then goes to
the line-by-line path that reports each defect against its line. (A ``NaN`` literal is left out: both
parsers keep it as NaN, and P0.2.e / CLM.confidence stop on it.)

Measured 2026-11-28 on 2 cores, polars 2.1.0, pyarrow as pinned: Arrow 0.73 s wall / 1.26 CPU-s, refuses
all; polars 1.84 s / 2.27 CPU-s with the full-file type inference its strictness needs (0.6 s / 0.95 CPU-s
with its default 100-row inference), and it silently accepts a duplicate key (first value wins), a number
where a string belongs (turned into text) and a lone surrogate (turned into NUL).

Measured 2026-12-02 (a slower machine state: Arrow 1.17 s wall / 2.30 CPU-s, refuses all 9), duckdb 2.0.1
with the four columns typed: 0.40 s / 0.68 CPU-s, a third of Arrow's CPU, but it silently accepts 6 of the
9: it casts a number to text, text and booleans to numbers, 1e309 to infinity, and takes a trailing comma
and a duplicated key it was not asked for. Guarding each of those on the raw bytes (quote parity, key
counts per line) would cost back much of the gain and make the gate's strictness depend on heuristics;
Arrow stays the fast path.

Usage: ``python benchmarks/bench_json_parsers.py [--lines N]``. Neither polars nor duckdb is a calpolicy
dependency; install them into the venv to compare (``pip install polars duckdb``); without them only Arrow
is measured.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json

sys.path.insert(0, str(Path(__file__).parent))
from recorder_log import write_log

GOOD = '{"timestamp": "2026-11-01T00:00:00Z", "symbol": "BTCUSDT", "entry_price": 1.5, "confidence": 0.5}'
MUST_REFUSE = {
    "duplicate key": '{"timestamp": "t", "symbol": "A", "entry_price": 1.5, "entry_price": 2.5, "confidence": 0.5}',
    "number where a string belongs": '{"timestamp": "t", "symbol": 5, "entry_price": 1.5, "confidence": 0.5}',
    "string where a number belongs": '{"timestamp": "t", "symbol": "A", "entry_price": "1.5", "confidence": 0.5}',
    "boolean where a number belongs": '{"timestamp": "t", "symbol": "A", "entry_price": true, "confidence": 0.5}',
    "lone surrogate": '{"timestamp": "t", "symbol": "\\ud800", "entry_price": 1.5, "confidence": 0.5}',
    "number beyond float range": '{"timestamp": "t", "symbol": "A", "entry_price": 1e309, "confidence": 0.5}',
    "text after the object": '{"timestamp": "t", "symbol": "A", "entry_price": 1.5, "confidence": 0.5} x',
    "trailing comma": '{"timestamp": "t", "symbol": "A", "entry_price": 1.5, "confidence": 0.5,}',
    "duplicate unknown key": '{"timestamp": "t", "x": 1, "x": 2, "symbol": "A", "entry_price": 1.5, "confidence": 0.5}',
}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def arrow_parse(data: bytes) -> object:
    schema = pa.schema(
        [("timestamp", pa.large_string()), ("symbol", pa.large_string()),
         ("entry_price", pa.float64()), ("confidence", pa.float64())]
    )  # fmt: skip
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    return pa_json.read_json(pa.py_buffer(data), parse_options=options)


def polars_parse(data: bytes) -> object:
    import polars as pl

    schema = {"timestamp": pl.String, "symbol": pl.String, "entry_price": pl.Float64, "confidence": pl.Float64}
    return pl.read_ndjson(io.BytesIO(data), schema_overrides=schema, infer_schema_length=None)


def duckdb_parse(data: bytes) -> object:
    import duckdb

    with tempfile.NamedTemporaryFile(suffix=".jsonl", dir=Path.home()) as handle:  # it reads files, not bytes
        handle.write(data)
        handle.flush()
        columns = {"timestamp": "VARCHAR", "symbol": "VARCHAR", "entry_price": "DOUBLE", "confidence": "DOUBLE"}
        relation = duckdb.read_json(handle.name, format="newline_delimited", columns=columns)
        return relation.to_arrow_table()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    candidates = {"arrow": arrow_parse}
    try:
        import polars  # noqa: F401

        candidates["polars"] = polars_parse
    except ImportError:
        print("polars is not installed (pip install polars to compare)")
    try:
        import duckdb  # noqa: F401

        candidates["duckdb"] = duckdb_parse
    except ImportError:
        print("duckdb is not installed (pip install duckdb to compare)")
    with tempfile.TemporaryDirectory(dir=Path.home()) as raw:
        log = Path(raw) / "clean.jsonl"
        write_log(log, args.lines)
        data = log.read_bytes()
    print(f"log: {args.lines:,} lines, {len(data) / 2**20:.0f} MiB")
    for name, parse in candidates.items():
        walls, cpus = [], []
        for _ in range(3):
            started, spent = time.perf_counter(), cpu()
            parse(data)
            walls.append(time.perf_counter() - started)
            cpus.append(cpu() - spent)
        accepted = []
        for case, line in MUST_REFUSE.items():
            try:
                parse(f"{GOOD}\n{line}\n".encode())
            except Exception:
                continue
            accepted.append(case)
        print(
            f"{name:7s} parse: best {min(walls):.2f} s wall, {min(cpus):.2f} CPU-s; "
            f"silently accepts {len(accepted)} of {len(MUST_REFUSE)} bad inputs: {', '.join(accepted) or 'none'}"
        )
    print(json.dumps({"note": "a candidate that accepts any bad input cannot be the trusted fast path"}))


if __name__ == "__main__":
    main()
