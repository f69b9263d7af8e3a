"""What a client raised during a probe, as the caller saw it, and where in the client's code.

An API failure (the ``anthropic.AnthropicError`` family: ``APIStatusError``,
``APIConnectionError``, and the refusals of wrappers that subclass them; or an error of the SDK's
HTTP stack, which the SDK lets through while a stream is read, e.g. ``httpx.RemoteProtocolError``
on a cut stream) is what a caller expects when the mock injects a fault; the journal says how the
client got there. Anything else
(``ValueError``, ``TypeError``, ``KeyError``…) is a bug in the client or in its factory, and a
probe in which it happened judged nothing about resilience. :func:`client_error` keeps the
exception's type, message and the innermost frame of the client's own code.
"""

from __future__ import annotations

import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

# Top-level packages whose frames are never "the client's code": the SDK, its HTTP stack.
_LIBRARY_PACKAGES: frozenset[str] = frozenset({"anthropic", "httpx", "httpx2", "httpcore", "anyio", "h11"})
# busysignal's own adapter between the kit and the client.
_ADAPTER_MODULES: tuple[str, ...] = ("mockserver.clients.base", "mockserver.conformance.")
_STDLIB = tuple(
    str(Path(p).resolve()) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
)


@dataclass(frozen=True, slots=True)
class ClientError:
    """One exception a call raised: its class, its message and ``file:line in function``."""

    type_name: str
    message: str
    where: str | None  # None when no frame of the traceback is the client's own code

    def __str__(self) -> str:
        text = f"{self.type_name}: {self.message}" if self.message else self.type_name
        return text if self.where is None else f"{text} (at {self.where})"


def is_api_error(exc: BaseException) -> bool:
    """An exception a caller expects from an API failure."""
    import anthropic

    if isinstance(exc, anthropic.AnthropicError):
        return True
    return any(k.__module__.split(".")[0] in _LIBRARY_PACKAGES - {"anthropic"} for k in type(exc).__mro__)


def _is_clients_code(module: str, filename: str) -> bool:
    if module.split(".")[0] in _LIBRARY_PACKAGES or module.startswith(_ADAPTER_MODULES):
        return False
    if filename.startswith("<"):  # frozen and generated modules
        return False
    path = str(Path(filename).resolve())
    in_stdlib = path.startswith(_STDLIB) and "-packages" not in path
    return not in_stdlib


def clients_frame(tb: TracebackType | None) -> traceback.FrameSummary | None:
    """The innermost frame of ``tb`` that is neither the SDK, its HTTP stack, the standard
    library nor busysignal's adapter."""
    found: traceback.FrameSummary | None = None
    while tb is not None:
        frame = tb.tb_frame
        module = str(frame.f_globals.get("__name__", ""))
        if _is_clients_code(module, frame.f_code.co_filename):
            found = traceback.FrameSummary(
                frame.f_code.co_filename, tb.tb_lineno, frame.f_code.co_name, lookup_line=True
            )
        tb = tb.tb_next
    return found


def client_error(exc: BaseException) -> ClientError:
    frame = clients_frame(exc.__traceback__)
    where = None
    if frame is not None:
        where = f"{frame.filename}:{frame.lineno} in {frame.name}"
        if frame.line:
            where += f": {frame.line.strip()}"
    message = str(exc).splitlines()[0] if str(exc) else ""
    return ClientError(type(exc).__name__, message[:200], where)
