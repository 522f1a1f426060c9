"""The declarative half of the data gate: a pandera schema over the normalised CLM columns.

Validated lazily, so one pass collects every violation of every column rather than stopping at the
first; the operator then sees all the lines to look at in one report. What a schema cannot say
(duplicates across rows, order in time, counts) lives in ``checks.py``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from calpolicy.clm.fields import MODEL_ACTIONS, SIDES, action_column, conf_column

if TYPE_CHECKING:
    import pandera.pandas as pa


def clm_schema(models: tuple[str, ...]) -> pa.DataFrameSchema:
    """Per-column rules; nullable=False is what turns a missing price into a finding."""
    import pandera.pandas as pa  # about 0.4 s with the hypothesis it pulls in: only when needed

    finite = pa.Check(np.isfinite, name="finite", error="is infinite")
    price_checks = [finite, pa.Check.gt(0, error="is 0 or negative")]
    columns: dict[str, pa.Column] = {
        "timestamp": pa.Column(None, nullable=False),
        "symbol": pa.Column(None, nullable=False, checks=pa.Check.str_length(min_value=1)),
        "side": pa.Column(None, nullable=False, checks=pa.Check.isin(SIDES)),
        "entry_price": pa.Column(None, nullable=False, checks=price_checks),
        "exit_price": pa.Column(None, nullable=False, checks=price_checks),
        "pnl_pct": pa.Column(None, nullable=False, checks=[finite, pa.Check.ne(0, error="is 0.0")]),
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


def _obviously_valid(frame: pd.DataFrame, models: tuple[str, ...]) -> bool:
    """The schema's rules, vectorised with NumPy: True only when no row can violate any of them.

    A clean million-row log then skips pandera's import and validation (about 0.5 s of a 2 s budget);
    any doubt sends the frame to pandera, which alone says what is wrong and where.
    """
    with np.errstate(invalid="ignore"):
        for column in ("entry_price", "exit_price"):
            values = frame[column].to_numpy(dtype=np.float64)
            if not (np.isfinite(values) & (values > 0)).all():
                return False
        pnl = frame["pnl_pct"].to_numpy(dtype=np.float64)
        if not (np.isfinite(pnl) & (pnl != 0)).all():
            return False
        confidence = frame["confidence"].to_numpy(dtype=np.float64)
        if not ((confidence >= 0) & (confidence <= 1)).all():
            return False
        for model in models:
            values = frame[conf_column(model)].to_numpy(dtype=np.float64)
            if ((values < 0) | (values > 1)).any():
                return False
    if frame["timestamp"].isna().any():
        return False
    for column, allowed, nullable in (
        ("side", SIDES, False),
        ("symbol", None, False),
        *((action_column(model), MODEL_ACTIONS, True) for model in models),
    ):
        series = frame[column]
        if not nullable and series.isna().any():
            return False
        values = series.dropna().unique()
        if any(not isinstance(value, str) for value in values):
            return False
        if allowed is not None and not set(values) <= set(allowed):
            return False
        if allowed is None and any(len(value) < 1 for value in values):
            return False
    return True


def schema_violations(frame: pd.DataFrame, models: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
    """``{(column, problem): source line numbers}`` for every schema violation in the frame."""
    if _obviously_valid(frame, models):
        return {}
    from pandera.errors import SchemaErrors

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
