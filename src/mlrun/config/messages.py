"""Turning pydantic's validation errors into lines that name the YAML line, the dotted key, the value and the fix."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel

from mlrun.config.experiment import ExperimentConfig
from mlrun.config.paths import child, has_child, parse_path, yaml_line


def _data_path(loc: Sequence[str | int], raw: Any) -> list[str | int]:
    """Map a pydantic error location to the key path in the user's data.

    Discriminated unions insert their tag ('mlp', 'conv2d', ...) into ``loc``;
    those parts are dropped by walking the data alongside.
    """
    path: list[str | int] = []
    node = raw
    for part in loc:
        if has_child(node, part):
            path.append(part)
            node = child(node, part)
        elif isinstance(node, (dict, list)) and not _is_tag(part, node):
            path.append(part)  # a missing key: name it
            node = None
        elif node is None or not isinstance(node, (dict, list)):
            if isinstance(part, str) and not _looks_internal(part):
                path.append(part)
            node = None
    return path


def _is_tag(part: str | int, node: Any) -> bool:
    return isinstance(node, dict) and part in (node.get("type"), node.get("architecture"), node.get("name"))


def _looks_internal(part: str) -> bool:
    # pydantic's names for union members such as 'float', 'literal[...]', 'function-after[...]'
    return part in ("float", "int", "str", "bool", "list", "dict") or "[" in part


def describe(err: Mapping[str, Any], raw: Mapping[str, Any], text: str | None, overridden: Sequence[str]) -> str:
    kind = err["type"]
    path = _data_path(err["loc"], raw) if kind != "invalid_key" else _key_path(err, raw)
    key = ".".join(p if isinstance(p, str) else _yaml_scalar(p) for p in path) or "(top level)"
    if kind == "invalid_key":
        msg = "is not a name: keys are text (name:, dataset:, ...); check the indentation and the key before the ':'"
    elif kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1], raw)
        hint = difflib.get_close_matches(str(path[-1]), allowed, n=1) if allowed else []
        msg = (
            "unknown key"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + (f"; allowed: {', '.join(allowed)}" if allowed and not hint else "")
        )
    elif kind == "missing":
        msg = "required key is missing"
    elif kind in ("union_tag_invalid", "literal_error"):
        got = err.get("input")
        if kind == "union_tag_invalid":
            got = err.get("ctx", {}).get("tag")
            expected = err.get("ctx", {}).get("expected_tags", "")
            field = str(err.get("ctx", {}).get("discriminator", "type")).strip("'")
            key = f"{key}.{field}" if path else field
            path = [*path, field]
        else:
            expected = err.get("ctx", {}).get("expected", "")
        options = [o.strip().strip("'") for o in str(expected).replace(" or ", ", ").split(",") if o.strip()]
        hint = difflib.get_close_matches(got, options, n=1) if isinstance(got, str) else []
        msg = (
            f"unknown value {got!r}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f"; allowed: {', '.join(options)}"
        )
    elif kind == "union_tag_not_found":
        field = err.get("ctx", {}).get("discriminator", "type").strip("'")
        options = _tag_options(path, raw, field)
        msg = f"needs a `{field}:` key" + (f", one of: {', '.join(options)}" if options else "")
        if path and path[-1] != field:
            key = f"{key}.{field}" if key != "(top level)" else field
    else:
        msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        named = re.match(r"^([A-Za-z_][\w.]*): (.*)$", msg, re.S)
        if named and not path:
            # A whole-config check names the key it is about: point at that key's line.
            key, msg = named.group(1), named.group(2)
            path = parse_path(key)
        if (
            kind not in ("value_error", "assertion_error")
            and "input" in err
            and not isinstance(err["input"], (dict, list))
        ):
            msg += f" (got {err['input']!r})"
    origin = next(
        (f"--set {o}" for o in overridden if key == o or key.startswith(o + ".") or o.startswith(key + ".")), None
    )
    line = None if origin else yaml_line(text, path)
    where = origin or (f"line {line}" if line else "")
    return f"  {where + '  ' if where else ''}{key}: {msg}"


def _key_path(err: Mapping[str, Any], raw: Any) -> list[Any]:
    """The data path of a key that is not text: pydantic's ``loc`` holds it as text ('None') or as an
    equal key (True for 1), so the key itself comes from the error's input."""
    return [*_data_path(err["loc"][:-1], raw), err.get("input")]


def _yaml_scalar(value: Any) -> str:
    """A key as the YAML text that gave it: null, true, 3."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)


def _allowed_keys(parent: Sequence[str | int], raw: Mapping[str, Any]) -> list[str]:
    """The keys the schema allows at ``parent`` (a data path), for 'did you mean' hints."""
    tp: Any = ExperimentConfig
    node: Any = raw
    for part in parent:
        node = child(node, part)
        tp = _resolve_member(_field_type(tp, part), node)
        if tp is None:
            return []
    tp = _resolve_member(tp, node)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _tag_options(path: Sequence[str | int], raw: Mapping[str, Any], field: str) -> list[str]:
    """The values the tag ``field`` may take for the tagged union at data path ``path`` (layer types, architectures, ...)."""
    tp: Any = ExperimentConfig
    node: Any = raw
    for part in path:
        tp = _field_type(_resolve_member(tp, node), part)
        node = child(node, part)
        if tp is None:
            return []
    options: list[str] = []
    stack = [tp]
    while stack:
        member = _unwrap(stack.pop(0))
        if typing.get_origin(member) in (Union, types.UnionType):
            stack.extend(typing.get_args(member))
        elif isinstance(member, type) and issubclass(member, BaseModel) and field in member.model_fields:
            options.extend(str(v) for v in typing.get_args(member.model_fields[field].annotation))
    return options


def _field_type(tp: Any, part: str | int) -> Any:
    tp = _unwrap(tp)
    if isinstance(part, int):
        args = typing.get_args(tp)
        return args[0] if typing.get_origin(tp) is list and args else None
    if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
        return tp.model_fields[part].annotation
    return None


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _resolve_member(tp: Any, node: Any) -> Any:
    """Pick the union member (model or list) that matches the data at this point."""
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        members = [_unwrap(a) for a in typing.get_args(tp) if a is not type(None)]
        while any(typing.get_origin(m) in (Union, types.UnionType) for m in members):  # Optional[Annotated[Union[...]]]
            members = [
                _unwrap(a)
                for m in members
                for a in (typing.get_args(m) if typing.get_origin(m) in (Union, types.UnionType) else (m,))
                if a is not type(None)
            ]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if isinstance(node, dict):
            for m in models:
                tags = [f for f in ("type", "architecture", "name") if f in m.model_fields]
                if tags and node.get(tags[0]) in typing.get_args(m.model_fields[tags[0]].annotation):
                    return m
            if len(models) == 1:
                return models[0]
        lists = [m for m in members if typing.get_origin(m) is list]
        if isinstance(node, list) and lists:
            return lists[0]
        return models[0] if len(models) == 1 else None
    return tp
