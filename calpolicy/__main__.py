"""``python -m calpolicy``: the same command as the ``calpolicy`` script, for hosts without it on PATH."""

from calpolicy.cli import script

script()
