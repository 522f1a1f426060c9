"""Code written twice on purpose, each pair held together here so the copies cannot drift apart.

The crash-safe write:
``calpolicy.files.atomic_io`` and the loader distribution's ``calpolicy_loader.files`` both write with a temp file,
fsync, ``os.replace`` and a folder fsync. The loader may import nothing of calpolicy, and calpolicy keeps its
own copy because importing the loader's would import numpy into every light command (``atomic_io``'s
docstring). What keeps them from drifting apart is this test: the same code, docstrings aside, and the same
temp-file prefix, which ``clean_stale_temps`` needs to clear what a killed loader left in the live folder.

The engine's map rule: the watch's ``predicted_probability`` and the engine's ``apply_engine_mapping`` (the
watch does not import the calibration engine; ``predicted_probability``'s docstring): the same answers.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from calpolicy_loader import files as loader_files
from hypothesis import example, given
from hypothesis import strategies as st

from calpolicy.calibrate.proposal import apply_engine_mapping
from calpolicy.files import atomic_io
from calpolicy.watch.verdict import predicted_probability


def _code(function: Callable[..., Any]) -> str:
    """The function's code without its docstring, normalised by the AST (comments and layout do not count)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    node = tree.body[0]
    assert isinstance(node, ast.FunctionDef)
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        node.body = body[1:]
    return ast.dump(node)


@pytest.mark.parametrize("name", ["write_atomic", "fsync_dir"])
def test_the_two_copies_are_the_same_code(name: str) -> None:
    assert _code(getattr(atomic_io, name)) == _code(getattr(loader_files, name)), (
        f"calpolicy/files/atomic_io.py and loader/src/calpolicy_loader/files.py define {name} differently: "
        "change both the same way"
    )


def test_one_temp_prefix_so_the_clean_up_finds_the_loaders_leftovers(tmp_path: Path) -> None:
    assert atomic_io.TEMP_PREFIX == loader_files.TEMP_PREFIX
    left = tmp_path / f"{loader_files.TEMP_PREFIX}killed"  # what a loader killed between write and rename leaves
    left.write_bytes(b'{"version": "half')
    kept = tmp_path / ".calpolicy_loaded"
    loader_files.write_atomic(kept, b"{}\n")
    assert atomic_io.clean_stale_temps(tmp_path) == [left]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".calpolicy_loaded"]


_unit = st.floats(0.0, 1.0)
# keys as files write them: repr ("0.1", "1.0000000000000004"), fixed ("0.10") and short ("1e-05") forms
_key = st.tuples(_unit, st.sampled_from(["{!r}", "{:.2f}", "{:g}"])).map(lambda pair: pair[1].format(pair[0]))


@given(
    st.dictionaries(_key, _unit, min_size=1, max_size=8),
    st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=20),
)
@example({"0.5": 0.5, "1e-05": 0.2, "0.9": 0.8}, [0.0, 0.3, 0.7, 1.0])  # text order is not number order
def test_the_watch_and_the_engine_apply_a_map_alike(mapping: dict[str, float], confidences: list[float]) -> None:
    values = np.array(confidences)
    np.testing.assert_array_equal(predicted_probability(mapping, values), apply_engine_mapping(mapping, values))
