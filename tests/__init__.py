"""The test suites, one package per product package (the shared helpers are in support.py)."""
