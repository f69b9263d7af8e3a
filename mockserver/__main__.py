"""`python -m mockserver` is `busysignal serve`."""

from __future__ import annotations

import sys

from mockserver.cli.serve import main

if __name__ == "__main__":
    sys.exit(main())
