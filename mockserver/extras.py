"""The optional extras of the distribution: which one brings a missing import, and saying so.

The runtime dependencies (aiohttp, pydantic, PyYAML, anthropic) are enough for ``serve``,
``scenarios`` and every ``--help``; the rest comes with an extra (``pip install
'busysignal[load]'``). The extras' contents are read from the installed metadata, so that
``pyproject.toml`` stays the one place that says what each extra holds.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable, Mapping
from importlib import metadata

DISTRIBUTION = "busysignal"

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


class MissingModules(ModuleNotFoundError):
    """Modules a command needs that are not installed (``name`` is the first of ``names``)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)
        super().__init__(f"No module named {', '.join(repr(n) for n in self.names)}", name=self.names[0])


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_extras(requirements: Iterable[str]) -> dict[str, frozenset[str]]:
    """``Requires-Dist`` lines -> {extra: normalized distribution names}; runtime lines are left out."""
    extras: dict[str, set[str]] = {}
    for line in requirements:
        name, extra = _NAME.match(line), _EXTRA.search(line)
        if name and extra:
            extras.setdefault(extra.group(1), set()).add(_normalize(name.group(1)))
    return {extra: frozenset(names) for extra, names in extras.items()}


def installed_extras() -> dict[str, frozenset[str]]:
    """The extras of the installed distribution ({} when it is not installed, as in a bare checkout)."""
    try:
        return parse_extras(metadata.requires(DISTRIBUTION) or ())
    except metadata.PackageNotFoundError:
        return {}


def extra_providing(modules: Iterable[str], extras: Mapping[str, frozenset[str]]) -> str | None:
    """The smallest extra that brings every one of ``modules`` (top-level package names)."""
    wanted = {_normalize(m.split(".")[0]) for m in modules}
    fitting = [(len(names), extra) for extra, names in extras.items() if wanted <= names]
    return min(fitting)[1] if fitting else None


def missing_message(exc: ModuleNotFoundError, extras: Mapping[str, frozenset[str]]) -> str | None:
    """What to tell the user about ``exc``; None when no extra brings the missing module(s)."""
    names = getattr(exc, "names", None) or ((exc.name,) if exc.name else ())
    extra = extra_providing(names, extras) if names else None
    if extra is None:
        return None
    tops = sorted({n.split(".")[0] for n in names})
    verb = "is" if len(tops) == 1 else "are"
    return (
        f"this needs {' and '.join(tops)}, which {verb} not installed; "
        f"it comes with the '{extra}' extra: pip install '{DISTRIBUTION}[{extra}]'"
    )


def require(*modules: str) -> None:
    """Raise :class:`MissingModules` naming every one of ``modules`` that is not installed.

    Only looks the modules up (``importlib.util.find_spec``): nothing is imported, which matters
    for Locust (it patches the interpreter with gevent when imported)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingModules(missing)
