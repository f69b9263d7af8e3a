"""`python -m mockserver.cli ARGS` is `busysignal ARGS` (every verb, as the console script runs it)."""

from __future__ import annotations

import sys

from mockserver.cli import main

if __name__ == "__main__":
    sys.exit(main())
