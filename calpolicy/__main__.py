"""``python -m calpolicy``: the same command as the ``calpolicy`` script, for hosts without it on PATH."""

import sys

from calpolicy.cli import main

sys.exit(main())
