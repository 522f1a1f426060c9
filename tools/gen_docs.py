#!/usr/bin/env python3
"""Regenerate the README's traceability table and docs/configuration-reference.md (``--check``: only compare).

Run from anywhere: ``.venv/bin/python tools/gen_docs.py``. Exit 0 when written (or up to date with
``--check``), 1 when ``--check`` finds a stale file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calpolicy.cli.docs_gen import generated
from calpolicy.files.atomic_io import write_atomic

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated doc is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, content in generated(ROOT, ROOT / "policy_tests").items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path)
        if not args.check:
            write_atomic(path, content.encode("utf-8"))
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        print("stale: " + ", ".join(str(p.relative_to(ROOT)) for p in stale) + " (run tools/gen_docs.py)")
        return 1
    if not stale:
        print("generated docs are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
