"""Read scenario YAML keeping where every value came from, so errors can name the line.

``parse_yaml`` returns the data and a :class:`SourceMap`; ``format_validation_error`` turns a
pydantic ``ValidationError`` into ``FILE:LINE:COL: field.path: what is wrong`` lines by walking
the error location through the YAML node tree (unknown location elements, such as pydantic's
union tags, are skipped).

Hostile text is refused before it can cost anything: a scenario is at most ``MAX_SCENARIO_BYTES``,
nests at most ``MAX_DEPTH`` levels, and may not use YAML anchors or aliases (``&a`` / ``*a``: the
"billion laughs" expand a few lines into billions of values). No built-in scenario uses them.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

MAX_SCENARIO_BYTES = 1024 * 1024  # a scenario file or PUT body (the largest built-in is a few KiB)
MAX_DEPTH = 32  # nesting levels of mappings and lists (a scenario needs fewer than 10)
LIMITS_DOC = "see 'Limits' in scenarios/README.md"


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class SourceMap:
    source: str  # file name, or "<text>"
    root: yaml.Node | None

    def locate(self, loc: Sequence[int | str], *, missing: bool) -> tuple[int | None, int | None, str]:
        """(line, column, dotted field path) for a pydantic error location (1-based line/column)."""
        if self.root is None:  # parsed without a node tree (JSON that YAML refuses): no lines
            return None, None, dotted(loc)
        node = self.root
        mark = node.start_mark if node is not None else None
        path = ""
        for elem in loc:
            if isinstance(node, yaml.MappingNode) and isinstance(elem, str):
                hit = next(((k, v) for k, v in node.value if getattr(k, "value", None) == elem), None)
                if hit is not None:
                    key, node = hit
                    mark = key.start_mark
                    path = f"{path}.{elem}" if path else elem
                    continue
                if missing and elem == loc[-1]:
                    path = f"{path}.{elem}" if path else elem
                continue
            if isinstance(node, yaml.SequenceNode) and isinstance(elem, int) and 0 <= elem < len(node.value):
                node = node.value[elem]
                mark = node.start_mark
                path = f"{path}[{elem}]"
                continue
            # pydantic's own location parts (union member tags, function names) are not in the file
        if mark is None:
            return None, None, path
        return mark.line + 1, mark.column + 1, path


def _where(source: str, mark: Any) -> str:
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source


# libyaml's loader when PyYAML was built with it (about 20 times faster than the pure one)
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _path(frames: list[list[Any]]) -> str:
    parts = [f"[{key}]" if not is_map else f".{key}" for is_map, key, _ in frames if key not in (None, -1)]
    return "".join(parts).lstrip(".")


def _step(frames: list[list[Any]], event: yaml.Event) -> None:
    """Keep ``frames`` ([is mapping, current key or index, expecting a key]) at ``event``."""
    if isinstance(event, _CLOSE):
        frames.pop()
        return
    if frames:
        top = frames[-1]
        if not top[0]:
            top[1] += 1
        elif top[2]:
            top[1] = getattr(event, "value", "?")
        top[2] = top[0] and not top[2]
    if isinstance(event, _OPEN):
        frames.append(
            [
                isinstance(event, yaml.MappingStartEvent),
                None if isinstance(event, yaml.MappingStartEvent) else -1,
                True,
            ]
        )


def _screen(text: str, source: str) -> None:
    """Refuse anchors, aliases and nesting deeper than MAX_DEPTH, from the event stream alone
    (before any tree is built: the tree of a "billion laughs" is what costs)."""
    loader = _Loader(text)
    frames: list[list[Any]] = []
    try:
        while not loader.check_event(yaml.StreamEndEvent):
            event = loader.get_event()
            if not isinstance(event, (*_OPEN, *_CLOSE, yaml.ScalarEvent, yaml.AliasEvent)):
                continue  # stream and document boundaries
            _step(frames, event)
            field = _path(frames)
            where = f"{_where(source, event.start_mark)}: {field + ': ' if field else ''}"
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise ScenarioError(
                    f"{where}YAML anchors and aliases (&name, *name) are not allowed in a scenario; "
                    "write the value out"
                )
            if len(frames) > MAX_DEPTH:
                raise ScenarioError(
                    f"{where}the scenario nests deeper than {MAX_DEPTH} levels ({LIMITS_DOC})"
                )
    finally:
        loader.dispose()


def too_large(source: str) -> ScenarioError:
    return ScenarioError(
        f"{source}: the scenario is larger than {MAX_SCENARIO_BYTES // 1024} KiB ({LIMITS_DOC})"
    )


def check_size(text: str, source: str) -> None:
    """ScenarioError when ``text`` is over :data:`MAX_SCENARIO_BYTES` (UTF-8) or is not valid
    Unicode (a lone surrogate, which only a Python caller can pass)."""
    if len(text) > MAX_SCENARIO_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_SCENARIO_BYTES:
        raise too_large(source)
    surrogate = _SURROGATE.search(text)
    if surrogate is not None:
        raise _char_error(text, surrogate.start(), source, "lone surrogate")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _char_error(text: str, pos: int, source: str, what: str) -> ScenarioError:
    """``what`` at character ``pos`` of ``text``, by line, column and field."""
    pos = max(0, min(pos, len(text) - 1))
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    field = field_at(text[:pos] + " " + text[pos + 1 :], line, col)
    hint = " (write it as an escape in a double-quoted string)" if what == "control character" else ""
    return ScenarioError(
        f"{source}:{line}:{col}: {field + ': ' if field else ''}{what} U+{ord(text[pos]):04X} "
        f"is not allowed in a scenario{hint}"
    )


def _reader_error(exc: yaml.reader.ReaderError, text: str, source: str) -> ScenarioError:
    """A character YAML refuses (NUL, other control characters)."""
    pos = exc.position
    if _Loader is not yaml.SafeLoader:  # libyaml counts bytes of the UTF-8 text
        pos = len(text.encode("utf-8")[:pos].decode("utf-8", "ignore"))
    return _char_error(text, pos, source, "control character")


def parse_yaml(text: str, source: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document; a syntax error, a duplicate key, a control character, an anchor
    or alias, nesting deeper than MAX_DEPTH or text over MAX_SCENARIO_BYTES raises ScenarioError."""
    check_size(text, source)
    try:
        _screen(text, source)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                raise ScenarioError(f"{source}: the scenario is empty")
            _reject_duplicate_keys(node, source)
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, source) from None
    except yaml.MarkedYAMLError as exc:
        where = _where(source, exc.problem_mark or exc.context_mark)
        raise ScenarioError(f"{where}: YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: YAML error: {exc}") from None
    return data, SourceMap(source, node)


def field_at(text: str, line: int, col: int) -> str:
    """The dotted path of the innermost value that holds (line, col) (1-based), "" if none."""
    try:
        _screen(text, "")
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except (yaml.YAMLError, ScenarioError):
        return ""
    point = (line - 1, col - 1)
    path = ""
    while node is not None:
        inner: yaml.Node | None = None
        children: list[tuple[str, yaml.Node]] = []
        if isinstance(node, yaml.MappingNode):
            children = [(f"{path}.{k.value}" if path else str(k.value), v) for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(node.value)]
        for child_path, child in children:
            span = (
                (child.start_mark.line, child.start_mark.column),
                (child.end_mark.line, child.end_mark.column),
            )
            if span[0] <= point <= span[1]:
                inner, path = child, child_path
                break
        node = inner
    return path


def _reject_duplicate_keys(node: yaml.Node, source: str) -> None:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in current.value:
                name = getattr(key, "value", None)
                if isinstance(name, str):
                    if name in seen:
                        raise ScenarioError(
                            f"{source}:{key.start_mark.line + 1}:{key.start_mark.column + 1}: duplicate key "
                            f"{name!r} (first at line {seen[name]})"
                        )
                    seen[name] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def dotted(loc: Sequence[int | str]) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith("function-"))


def _model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class whose fields hold the last element of ``loc`` (for "did you mean")."""
    model: type[BaseModel] | None = root
    for elem in loc[:-1]:
        if model is None:
            return None
        if isinstance(elem, int):
            continue
        field = model.model_fields.get(elem)
        if field is None:
            continue  # a pydantic tag, or a dict key (e.g. a rate-limit class name)
        model = _find_model(field.annotation)
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _find_model(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        args = typing.get_args(annotation)
        if origin is dict:
            args = args[1:]
        for arg in args:
            found = _find_model(arg)
            if found is not None:
                return found
    return None


def format_validation_error(exc: ValidationError, smap: SourceMap | None, root: type[BaseModel]) -> str:
    merged: dict[str, list[str]] = {}
    source = smap.source if smap is not None else "<mapping>"
    for err in exc.errors():
        loc = err["loc"]
        missing = err["type"] == "missing"
        if smap is not None:
            line, col, path = smap.locate(loc, missing=missing)
        else:
            line, col, path = None, None, dotted(loc)
        where = f"{source}:{line}:{col}" if line is not None else source
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            name = str(loc[-1])
            msg = f"unknown field {name!r}"
            model = _model_at(root, loc)
            if model is not None:
                close = difflib.get_close_matches(name, list(model.model_fields), n=1)
                msg += (
                    f" (did you mean {close[0]!r}?)"
                    if close
                    else f" (allowed: {', '.join(model.model_fields)})"
                )
        elif missing:
            msg = "required field is missing"
        elif not isinstance(err.get("input"), dict | list) and repr(err.get("input")) not in msg:
            msg += f" (got {err.get('input')!r})"
        head = f"{where}: {path or '(top level)'}"
        if head in merged:  # one value that fits no member of a union: one line, every reason
            merged[head].append(msg)
        else:
            merged[head] = [msg]
    return "\n".join(f"{head}: {'; or '.join(msgs)}" for head, msgs in merged.items())
