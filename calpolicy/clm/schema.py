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


def _vectorised(frame: pd.DataFrame, models: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
    """The rules of ``clm_schema``, as NumPy masks: the same ``(column, problem)`` keys and line numbers.

    Pandera's lazy validation builds one Python row per failure case: a log where every line is bad
    (half a million records missing a field) cost 11 s and 800 MiB that way. The masks cost the same
    whatever fails. ``clm_schema`` stays the declaration, and the property tests hold the two equal.
    """
    lines = frame["line"].to_numpy()
    found: dict[tuple[str, str], np.ndarray] = {}

    def note(column: str, problem: str, mask: np.ndarray) -> None:
        if mask.any():
            found[(column, problem)] = lines[mask]

    with np.errstate(invalid="ignore"):
        note("timestamp", "missing", frame["timestamp"].isna().to_numpy())
        for column, positive in (("entry_price", True), ("exit_price", True), ("pnl_pct", False)):
            values = frame[column].to_numpy(dtype=np.float64)
            note(column, "missing", np.isnan(values))
            note(column, "is infinite", np.isinf(values))
            if positive:
                note(column, "is 0 or negative", values <= 0)
            else:
                note(column, "is 0.0", values == 0)
        confidence = frame["confidence"].to_numpy(dtype=np.float64)
        note("confidence", "missing", np.isnan(confidence))
        note("confidence", "is outside [0, 1]", (confidence < 0) | (confidence > 1))
        for model in models:
            values = frame[conf_column(model)].to_numpy(dtype=np.float64)
            note(conf_column(model), "is outside [0, 1]", (values < 0) | (values > 1))
    for column, allowed, nullable in (
        ("symbol", None, False),
        ("side", SIDES, False),
        *((action_column(model), MODEL_ACTIONS, True) for model in models),
    ):
        series = frame[column]
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        missing = codes < 0
        if not nullable:
            note(column, "missing", missing)
        if allowed is None:
            bad_value = np.asarray([not isinstance(v, str) or len(v) < 1 for v in uniques] + [False], dtype=bool)
            note(column, "is empty", bad_value[codes])
        else:
            bad_value = np.asarray([v not in allowed for v in uniques] + [False], dtype=bool)
            note(column, "is not a known value", bad_value[codes])
    return found


def _obviously_valid(frame: pd.DataFrame, models: tuple[str, ...]) -> bool:
    return not _vectorised(frame, models)


def schema_violations(frame: pd.DataFrame, models: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
    """``{(column, problem): source line numbers}`` for every schema violation in the frame."""
    return _vectorised(frame, models)


def pandera_violations(frame: pd.DataFrame, models: tuple[str, ...]) -> dict[tuple[str, str], np.ndarray]:
    """The same answer from pandera itself: the oracle the property tests compare ``_vectorised`` with."""
    from pandera.errors import SchemaErrors

    try:
        clm_schema(models).validate(frame, lazy=True)
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
