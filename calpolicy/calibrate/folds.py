"""Out-of-fold splits, assigned once per trade so every model is evaluated on the same folds.

A model that only uses some trades (see ``models.py``) inherits the trades' fold labels, so "model A
improved on fold 3" and "the ensemble improved on fold 3" talk about the same held-out trades.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

SplitKind = Literal["kfold", "walk_forward"]


@dataclass(frozen=True)
class Folds:
    """``label[i]`` is trade i's fold. K-fold: 0..K−1, each tested once with all others as training.

    Walk-forward: trades in time order are cut into K+1 consecutive blocks 0..K; block j (j ≥ 1) is
    tested with blocks 0..j−1 as training, so a map never sees the future; block 0 is training only.
    """

    kind: SplitKind
    k: int
    label: np.ndarray

    def splits(self, rows: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(train mask, test mask) over ``rows`` (indices into the log; all trades when None)."""
        label = self.label if rows is None else self.label[rows]
        tests = range(self.k) if self.kind == "kfold" else range(1, self.k + 1)
        for fold in tests:
            test = label == fold
            train = (label != fold) if self.kind == "kfold" else (label < fold)
            if test.any() and train.any():
                yield train, test


def kfold(n: int, k: int, seed: int) -> Folds:
    """Seeded random K-fold with sizes differing by at most one."""
    label = np.empty(n, dtype=np.int32)
    label[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return Folds("kfold", k, label)


def walk_forward(time_order: np.ndarray, k: int) -> Folds:
    """Blocks of consecutive trades in ``time_order`` (row indices sorted by time, ties by line)."""
    n = len(time_order)
    label = np.empty(n, dtype=np.int32)
    label[time_order] = (np.arange(n) * (k + 1)) // max(n, 1)
    return Folds("walk_forward", k, label)
