"""Read scenario YAML keeping where every value came from, so errors can name the line.

``parse_yaml`` returns the data and a :class:`SourceMap`; ``format_validation_error`` turns a
pydantic ``ValidationError`` into ``FILE:LINE:COL: field.path: what is wrong`` lines by walking
the error location through the YAML node tree (unknown location elements, such as pydantic's
union tags, are skipped).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mockserver.faults.decision import ScenarioError


@dataclass(frozen=True, slots=True)
class SourceMap:
    source: str  # file name, or "<text>"
    root: yaml.Node | None

    def locate(self, loc: Sequence[int | str], *, missing: bool) -> tuple[int | None, int | None, str]:
        """(line, column, dotted field path) for a pydantic error location (1-based line/column)."""
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


def parse_yaml(text: str, source: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document; a syntax error or a duplicate key raises ScenarioError."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError(f"{source}: the scenario is empty")
        _reject_duplicate_keys(node, source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        raise ScenarioError(f"{where}: YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: YAML error: {exc}") from None
    finally:
        loader.dispose()
    return data, SourceMap(source, node)


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
            line, col, path = None, None, ".".join(str(p) for p in loc if not str(p).startswith("function-"))
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
