"""Only ``calpolicy/files/strict_json.py`` calls ``json.loads``: every other reader goes through it.

``json.loads`` raises ``RecursionError`` on a body nested 100,000 deep and returns a body nested 990 deep
that the next ``json.dumps`` cannot follow; ~50 readers each caught that on their own, and some forgot.
``parse_json`` (standard JSON) and ``loads_strict`` (no duplicate key, no NaN) raise only ``ValueError``,
so a reader catches ``ValueError`` and is done. This check walks the syntax tree of every module of
calpolicy and of the policy suite it installs (as ``test_layers.py`` checks the imports), so a new plain
``json.loads`` fails here, whatever name ``json`` or ``loads`` was imported under.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = (ROOT / "calpolicy", ROOT / "policy_tests")

# The JSON readers of the standard library that parse text (dumps/dump write it and stay free).
READERS = {"loads", "load", "JSONDecoder"}

# The modules that parse JSON themselves, and why they may not use the helper.
ALLOWED = {
    "calpolicy/files/strict_json.py": "the helper itself",
    "calpolicy/vocabulary/config/load.py": "the vocabulary imports nothing of ours (import contract "
    "'vocabulary'); its one call catches ValueError and RecursionError itself",
    "calpolicy/localenv/ai_engine.py": "the stand-in engine must not import calpolicy: it reads its file "
    "as the real engine does",
    "calpolicy/lockdown/engine_weights.py": "models what the real engine's loader (plain json.loads) makes "
    "of a file, not what calpolicy accepts; it catches every Exception, as that loader does",
}


def _json_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The names the module binds to the json module, and to one of its readers."""
    modules, readers = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.asname or alias.name for alias in node.names if alias.name == "json"}
        elif isinstance(node, ast.ImportFrom) and node.module == "json":
            readers |= {alias.asname or alias.name for alias in node.names if alias.name in READERS}
    return modules, readers


def json_reader_uses(source: str) -> list[int]:
    """Line numbers where the source uses a reader of the json module (a call, or the name passed on)."""
    tree = ast.parse(source)
    modules, readers = _json_names(tree)

    def reads(node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):  # json.loads, j.loads
            return node.attr in READERS and isinstance(node.value, ast.Name) and node.value.id in modules
        return isinstance(node, ast.Name) and node.id in readers  # loads, after from json import loads

    return sorted(node.lineno for node in ast.walk(tree) if reads(node))  # type: ignore[attr-defined]


def _uses() -> dict[str, list[int]]:
    found = {}
    for path in sorted(p for folder in CHECKED for p in folder.rglob("*.py")):
        lines = json_reader_uses(path.read_text(encoding="utf-8"))
        if lines:
            found[path.relative_to(ROOT).as_posix()] = lines
    return found


def test_no_module_parses_json_on_its_own() -> None:
    stray = {path: lines for path, lines in _uses().items() if path not in ALLOWED}
    assert stray == {}, (
        f"call calpolicy.files.strict_json.parse_json (or loads_strict) and catch ValueError, not json.loads: {stray}"
    )


def test_every_exception_is_still_needed() -> None:
    """An entry whose module no longer parses JSON itself goes, so the list cannot excuse a later one."""
    assert set(ALLOWED) - set(_uses()) == set()


@pytest.mark.parametrize(
    "source",
    [
        "import json\njson.loads(x)\n",
        "import json as j\nj.loads(x)\n",
        "from json import loads\nloads(x)\n",
        "from json import loads as parse\nparse(x)\n",
        "import json\nwith open(p) as f:\n    json.load(f)\n",
        "import json\njson.JSONDecoder().raw_decode(x)\n",
        "import json\nrows = map(json.loads, lines)\n",
    ],
    ids=["call", "module-alias", "from-import", "from-import-alias", "load", "decoder", "passed-on"],
)
def test_the_check_sees_every_spelling(source: str) -> None:
    assert json_reader_uses(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import json\njson.dumps(x)\n",
        "from calpolicy.files.strict_json import parse_json\nparse_json(x)\n",
        "import orjson\norjson.dumps(x)\n",
        "loads = 1\nloads\n",
    ],
    ids=["dumps", "helper", "other-module", "own-name"],
)
def test_the_check_passes_what_is_not_a_json_reader(source: str) -> None:
    assert json_reader_uses(source) == []
