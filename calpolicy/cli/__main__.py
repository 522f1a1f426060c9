"""``python -m calpolicy.cli``: the ``calpolicy`` command, as when the CLI was one module."""

from calpolicy.cli.parser import script

script()
