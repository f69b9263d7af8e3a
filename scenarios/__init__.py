"""The built-in scenarios (YAML files shipped as package data) and helpers to list and load them.

>>> from scenarios import names, load
>>> "major-outage" in names()
True

The scenario language lives here too: the pydantic models in ``scenarios.schema`` (the published
``scenario.schema.json`` is generated from them, ``busysignal scenarios schema``), the YAML reader
whose errors name the file, line and field in ``scenarios.yamlsource``, and ``scenarios.loader``,
which turns a name, a path or YAML text into a validated scenario. This package imports nothing
of the rest of the project; the mock's fault engine compiles what it loads.
"""

from scenarios.library import HERE, SCHEMA_PATH, load, names, path, schema_text, text

__all__ = ["HERE", "SCHEMA_PATH", "load", "names", "path", "schema_text", "text"]
