"""The CLM record fields, under both of the names the real system uses.

The checklist says ``actual_pnl_pct``; production writes ``pnl_percent``. The recorder writes ``side``;
the model-prediction generator writes ``action``. A field spec lists the names in preference order so a
log in either shape normalises to the same columns without anyone renaming data by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["number", "string"]


@dataclass(frozen=True)
class FieldSpec:
    """A normalised column and the raw JSON keys it may be read from, first name preferred."""

    column: str
    aliases: tuple[str, ...]
    kind: Kind
    required: bool
    scale: tuple[float, ...] = ()  # per alias multiplier (minutes → seconds); empty = all 1.0


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("trade_id", ("trade_id",), "string", False),
    FieldSpec("timestamp_raw", ("timestamp",), "string", True),
    FieldSpec("symbol", ("symbol",), "string", True),
    FieldSpec("side", ("side", "action"), "string", True),
    FieldSpec("entry_price", ("entry_price",), "number", True),
    FieldSpec("exit_price", ("exit_price",), "number", True),
    FieldSpec("pnl_pct", ("actual_pnl_pct", "pnl_percent"), "number", True),
    FieldSpec("confidence", ("confidence",), "number", True),
    FieldSpec("model_id", ("model_id",), "string", False),
    FieldSpec("outcome_label", ("outcome_label",), "string", False),
    FieldSpec("duration_s", ("duration_seconds", "duration_minutes"), "number", False, (1.0, 60.0)),
    FieldSpec("position_size", ("position_size",), "number", False),
    FieldSpec("exit_reason", ("exit_reason",), "string", False),
    FieldSpec("strategy_id", ("strategy_id",), "string", False),
)

FIELD_BY_COLUMN = {spec.column: spec for spec in FIELDS}
RAW_KEYS = tuple(alias for spec in FIELDS for alias in spec.aliases)
MODEL_PREDICTIONS_KEY = "model_predictions"
PRICE_AND_PNL = ("entry_price", "exit_price", "pnl_pct")
SIDES_LONG = ("BUY", "LONG")
SIDES_SHORT = ("SELL", "SHORT")
SIDES = SIDES_LONG + SIDES_SHORT
MODEL_ACTIONS = ("BUY", "SELL", "HOLD", "LONG", "SHORT")


def conf_column(model: str) -> str:
    """Column holding one model's confidence; the ensemble's is plain ``confidence``."""
    return f"conf__{model}"


def action_column(model: str) -> str:
    return f"action__{model}"


def field_path(column: str, aliases_used: dict[str, list[str]] | None = None) -> str:
    """The record's own name for a normalised column, as the operator sees it in the log.

    ``conf__xgb`` is ``model_predictions.xgb.confidence``; ``timestamp_raw`` is ``timestamp``; a column read
    under several names shows the names the log used (``pnl_percent``), or all of them.
    """
    if column.startswith("conf__"):
        return f"{MODEL_PREDICTIONS_KEY}.{column.removeprefix('conf__')}.confidence"
    if column.startswith("action__"):
        return f"{MODEL_PREDICTIONS_KEY}.{column.removeprefix('action__')}.action"
    spec = FIELD_BY_COLUMN.get(column)
    if spec is None:
        return column
    used = (aliases_used or {}).get(column) or list(spec.aliases)
    return "/".join(used)
