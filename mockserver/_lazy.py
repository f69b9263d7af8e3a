"""The lazy faces of the mock's packages: a public name is imported from its home module the
first time it is asked for (PEP 562), so that importing a package stays cheap.

``mockserver``, ``mockserver.faults`` and ``mockserver.clients`` each give :func:`lazy_face` a
table of their public names; it returns the package's ``__getattr__`` and ``__dir__``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_face(
    package: str, namespace: dict[str, Any], homes: Mapping[str, tuple[str, str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose globals are ``namespace``:
    ``homes`` maps each public name to (module, name there); a name once imported is kept."""

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home[0]), home[1])
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *namespace["__all__"]])

    return getattr_, dir_
