"""The built-in scenarios (YAML files shipped as package data) and helpers to list and load them.

>>> from scenarios import names, load
>>> "major-outage" in names()
True

The scenario language itself (the pydantic models) lives in ``mockserver.faults.schema``;
``scenario.schema.json`` in this folder is generated from it (``busysignal scenarios schema``).
"""

from scenarios.library import HERE, SCHEMA_PATH, load, names, path, schema_text, text

__all__ = ["HERE", "SCHEMA_PATH", "load", "names", "path", "schema_text", "text"]
