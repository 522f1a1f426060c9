"""Which trades are the baseline and which are post-apply, and what the map makes of a confidence.

Found by mutation testing (docs/mutation.md): the window edges, the widening of a thin baseline and the
engine's map order had no test of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from calpolicy.watch.verdict import predicted_probability, split_trades

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
HOURS = np.array([-3, -2, -1, 0, 1, 2, 3])  # a trade on every hour around approval; PnL 1..7


def split(min_trades: int) -> tuple[list[float], list[float], str]:
    times = np.array([np.datetime64((T0 + timedelta(hours=int(h))).replace(tzinfo=None), "us") for h in HOURS])
    base, post, how = split_trades(times, np.arange(1.0, 8.0), T0, T0 + timedelta(hours=2), 2.0, min_trades)
    return base.tolist(), post.tolist(), how


def test_the_baseline_is_the_window_before_approval_and_post_runs_from_approval_to_until() -> None:
    base, post, how = split(2)
    assert base == [2.0, 3.0]  # exactly 2 h before is in; approval itself is post-apply
    assert post == [4.0, 5.0, 6.0]  # exactly ``until`` is in, an hour later is not
    assert how == "the 2 h before approval"


@pytest.mark.parametrize(("min_trades", "expected"), [(3, [1.0, 2.0, 3.0]), (10, [1.0, 2.0, 3.0])])
def test_a_thin_baseline_widens_to_the_last_trades_before_approval_only(min_trades: int, expected: list) -> None:
    base, post, how = split(min_trades)
    assert base == expected
    assert post == [4.0, 5.0, 6.0]
    assert how == "the last 3 trades before approval (2 h held too few)"


def test_without_a_map_the_confidence_is_clamped_to_a_probability() -> None:
    np.testing.assert_array_equal(predicted_probability(None, np.array([-0.5, 0.5, 1.5])), [0.0, 0.5, 1.0])


def test_the_maps_keys_are_ordered_as_numbers_not_as_text() -> None:
    mapping = {"0": 0.0, "1e-1": 0.1, "0.9": 0.2, "1": 1.0}  # as text "1e-1" sorts last
    np.testing.assert_allclose(predicted_probability(mapping, np.array([0.5])), [0.15])
