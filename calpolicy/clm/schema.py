"""The declarative half of the data gate: a pandera schema over the normalised CLM columns.

Validated lazily, so one pass collects every violation of every column rather than stopping at the
first; the operator then sees all the lines to look at in one report. What a schema cannot say
(duplicates across rows, order in time, counts) lives in ``checks.py``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from calpolicy.clm.fields import MODEL_ACTIONS, SIDES, action_column, conf_column

_FINITE = pa.Check(np.isfinite, name="finite", error="is infinite")


def clm_schema(models: tuple[str, ...]) -> pa.DataFrameSchema:
    """Per-column rules; nullable=False is what turns a missing price into a finding."""
    price_checks = [_FINITE, pa.Check.gt(0, error="is 0 or negative")]
    columns: dict[str, pa.Column] = {
        "timestamp": pa.Column(None, nullable=False),
        "symbol": pa.Column(None, nullable=False, checks=pa.Check.str_length(min_value=1)),
        "side": pa.Column(None, nullable=False, checks=pa.Check.isin(SIDES)),
        "entry_price": pa.Column(None, nullable=False, checks=price_checks),
        "exit_price": pa.Column(None, nullable=False, checks=price_checks),
        "pnl_pct": pa.Column(None, nullable=False, checks=[_FINITE, pa.Check.ne(0, error="is 0.0")]),
        "confidence": pa.Column(None, nullable=False, checks=pa.Check.in_range(0.0, 1.0)),
    }
    for model in models:
        columns[conf_column(model)] = pa.Column(None, nullable=True, checks=pa.Check.in_range(0.0, 1.0))
        columns[action_column(model)] = pa.Column(None, nullable=True, checks=pa.Check.isin(MODEL_ACTIONS))
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _readable(check: str) -> str:
    if check == "not_nullable":
        return "missing"
    if check.startswith("in_range"):
        return "is outside [0, 1]"
    if check.startswith("isin"):
        return "is not a known value"
    if check.startswith("str_length"):
        return "is empty"
    return check  # the checks' own error texts: "is infinite", "is 0 or negative", "is 0.0"


def schema_violations(frame: pd.DataFrame, models: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
    """``{(column, problem): source line numbers}`` for every schema violation in the frame."""
    try:
        clm_schema(models).validate(frame, lazy=True, inplace=True)  # inplace: no copy; nothing is coerced
    except SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return {}
    lines = frame["line"].to_numpy()
    found: dict[tuple[str, str], list[int]] = defaultdict(list)
    for column, check, index in zip(cases["column"], cases["check"], cases["index"], strict=True):
        rows = found[(str(column), _readable(str(check)))]
        if index is not None and not pd.isna(index):
            rows.append(int(lines[int(index)]))
    return {key: np.unique(np.asarray(value, dtype=np.int64)) for key, value in found.items()}


def _warm_up() -> None:
    """Pandera registers its pandas backends (importing hypothesis) on the first validation: about 0.15 s.
    Pay it when the module is imported rather than inside the first gate the operator waits for."""
    strings = ("symbol", "side")
    empty = pd.DataFrame(
        {name: pd.Series([], dtype="str" if name in strings else "float64") for name in clm_schema(()).columns}
    )
    clm_schema(()).validate(empty, lazy=True)


_warm_up()
