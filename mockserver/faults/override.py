"""The per-request override header: ``x-busysignal-fault: 529`` forces one fault on one request.

Value grammar: ``FAULT[;param=value]...`` where FAULT is an HTTP status (400-599), ``ok`` or the
name of a fault kind (``reset``, ``stream_stall``, ``spend_limit`` ...: the rows of
:mod:`mockserver.faults.kinds`, the scenario language's short forms). Parameters: ``retry-after``
(s), ``retry-after-ms``, ``should-retry`` (true|false), ``type``, ``message`` (error type and
message, for statuses and stream_error_event), ``after`` (SSE events before a stream fault),
``stall`` (s), ``hang`` (s); for ``refusal``: ``category``, ``explanation``,
``recommended-model``.
Example: ``529;retry-after-ms=20``, ``stream_error_event;after=2;type=api_error``. A 429 carries
``retry-after: 1`` unless the header gives one, or ``retry-after=none`` for a 429 without it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from mockserver.faults.compiled import CompiledFault, compile_fault
from scenarios.schema import FaultSpec, expand_fault

_Params = dict[str, tuple[str, Any]]
_ERROR_PARAMS: _Params = {
    "retry-after": ("retry_after_s", float),
    "retry-after-ms": ("retry_after_ms", float),
    "should-retry": ("should_retry", None),
    "type": ("type", str),
    "message": ("message", str),
}
_STREAM_PARAMS: _Params = {
    "after": ("after_events", int),
    "stall": ("stall_s", float),
    "type": ("error_type", str),
    "message": ("message", str),
}
_CONNECTION_PARAMS: _Params = {"hang": ("hang_s", float)}
_REFUSAL_PARAMS: _Params = {
    "category": ("category", str),
    "explanation": ("explanation", str),
    "recommended-model": ("recommended_model", str),
}


class OverrideError(ValueError):
    pass


def parse_override(value: str) -> CompiledFault | None:
    """The fault the header asks for (None for ``ok``); OverrideError when it is not understood."""
    head, *params = [part.strip() for part in value.split(";")]
    if head.lower() in ("ok", "none", "pass"):
        if params:
            raise OverrideError("'ok' takes no parameters")
        return None
    try:
        spec: dict[str, Any] = expand_fault(head)
    except ValueError as exc:
        raise OverrideError(str(exc)) from None
    kind = next(iter(spec))
    body: dict[str, Any] = dict(spec[kind])
    table: _Params = {
        "error": _ERROR_PARAMS,
        "stream": _STREAM_PARAMS,
        "connection": _CONNECTION_PARAMS,
        "refusal": _REFUSAL_PARAMS,
    }[kind]
    for param in params:
        if not param:
            continue
        name, sep, raw = param.partition("=")
        name = name.strip().lower()
        if not sep or name not in table:
            raise OverrideError(
                f"unknown parameter {param!r} for {head!r}; "
                f"expected name=value with name in {', '.join(table)}"
            )
        field, conv = table[name]
        raw = raw.strip()
        if name == "retry-after" and raw.lower() == "none":
            body[field] = None  # a 429 without retry-after (by default a 429 sends one)
        elif conv is None:
            if raw.lower() not in ("true", "false"):
                raise OverrideError(f"{name} must be true or false, not {raw!r}")
            body[field] = raw.lower() == "true"
        else:
            try:
                body[field] = conv(raw)
            except ValueError:
                raise OverrideError(f"{name}={raw!r} is not a valid {conv.__name__}") from None
    try:
        fault = FaultSpec.model_validate({kind: body})
    except ValidationError as exc:
        first = exc.errors()[0]
        params_by_field = {field: name for name, (field, _) in table.items()}
        where = params_by_field.get(str(first["loc"][-1]), ".".join(str(p) for p in first["loc"]))
        raise OverrideError(f"{where}: {first['msg']}") from None
    return compile_fault(fault)
