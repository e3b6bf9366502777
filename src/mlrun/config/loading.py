"""Reading configs: YAML with the safe loader, ``--set`` overrides, and errors that name file, line and key."""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from mlrun.config.schema import ExperimentConfig
from mlrun.errors import ConfigError

# --------------------------------------------------------------------------- loading


def load_config(
    path: Path | str, overrides: Sequence[str] = (), *, data: Mapping[str, Any] | None = None
) -> ExperimentConfig:
    """Read a YAML config, apply ``--set key.path=value`` overrides and validate it.

    Args:
        path: the YAML file (used in messages even when ``data`` is given).
        overrides: ``dotted.key=value`` strings; values are parsed as YAML.
        data: an already-parsed mapping to use instead of reading ``path``.

    Raises:
        ConfigError: the file cannot be read or parsed, an override is
            malformed, or the config does not validate. The message names the
            file, line, dotted key, value and what is allowed.
    """
    path = Path(path)
    raw, text = (dict(data), None) if data is not None else read_yaml(path)
    raw = apply_overrides(raw, overrides, source=path)
    if "sweep" in raw:
        raise ConfigError(
            f"error: {path} has a sweep: block, so it describes many runs: run it with `mlrun sweep {path}`, or remove the block to train one model"
        )
    return validate_config(raw, source=path, text=text, overridden=[o.split("=", 1)[0].strip() for o in overrides])


def read_yaml(path: Path) -> tuple[dict[str, Any], str]:
    """Read a YAML mapping with the safe loader; return it and the file text."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"error: config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"error: cannot read config file {path}: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        hint = _yaml_hint(problem)
        if "python/" in str(exc):
            problem, hint = (
                "Python object tags (!!python/...) are not allowed in a config",
                "remove the tag and write the plain value",
            )
        raise ConfigError(f"error: {path} is not valid YAML{where}: {problem}; {hint}") from None
    if raw is None:
        raise ConfigError(f"error: {path} is empty: an experiment config needs at least name, dataset, model and loss")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"error: {path} must be a mapping of keys (name:, dataset:, model:, ...), got a {type(raw).__name__}"
        )
    return raw, text


def _yaml_hint(problem: str) -> str:
    """What to do about a YAML syntax error, from the parser's description of it."""
    if "mapping values are not allowed" in problem:
        return "check the indentation there (keys of one block line up under each other) and quote a value that contains ': '"
    if "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        return "close the [list] or {mapping} opened before it, and separate items with ', '"
    if "'\\t'" in problem or "\t" in problem:  # PyYAML shows the tab as '\t'
        return "indent with spaces, not tabs"
    if "found duplicate anchor" in problem or "found undefined alias" in problem:
        return "define each &anchor once, before any *alias that uses it"
    return "fix the YAML syntax there (indentation, a missing ':' or an unclosed quote or bracket)"


def apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[str], *, source: Path | str = "--set"
) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``dotted.key=value`` override applied (values parsed as YAML)."""
    data = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, value_text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"error: --set {item!r}: expected KEY=VALUE, e.g. --set optimizer.learning_rate=0.01")
        try:
            value = yaml.safe_load(value_text) if value_text.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"error: --set {item!r}: the value is not valid YAML ({getattr(exc, 'problem', exc)})"
            ) from None
        set_path(data, key, value, what=f"--set {item!r}")
    return data


def parse_path(key: str, *, what: str = "key") -> list[str | int]:
    """Split a dotted key (``model.layers.0.filters``) into parts; list indices become ints."""
    parts = key.split(".")
    if any(not p or p != p.strip() for p in parts):
        raise ConfigError(
            f"error: {what}: {key!r} is not a dotted key path like model.hidden_units or model.layers.0.filters"
        )
    return [int(p) if p.isdigit() else p for p in parts]


def set_path(data: dict[str, Any], key: str, value: Any, *, what: str = "key") -> None:
    """Set ``data[key]`` for a dotted key, creating mappings on the way; list indices must exist."""
    parts = parse_path(key, what=what)
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(map(str, parts[: i + 1]))
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise ConfigError(
                    f"error: {what}: {here!r}: {parts[i - 1]!r} is a list of {len(node)} items; use an index 0..{len(node) - 1}"
                )
            if last:
                node[part] = value
            else:
                node = node[part]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = _default_block(part) if node is data else {}
                node = node[part]
        else:
            raise ConfigError(
                f"error: {what}: {here!r}: {'.'.join(map(str, parts[:i]))!r} is a {type(node).__name__}, not a mapping or list"
            )


def _default_block(field: str) -> dict[str, Any]:
    """A missing top-level block that a dotted key goes into: its default's tag (``optimizer`` -> ``{name: adam}``), else empty.

    So ``--set optimizer.learning_rate=0.01`` on a config without an optimizer block sets the default optimizer's rate.
    """
    info = ExperimentConfig.model_fields.get(field)
    default = info.get_default(call_default_factory=True) if info is not None else None
    if not isinstance(default, BaseModel):
        return {}
    return {k: v for k, v in default.model_dump(mode="json").items() if k in ("name", "type", "architecture")}


def get_path(data: Any, key: str) -> Any:
    """Return the value at a dotted key; raise KeyError if it does not exist."""
    node = data
    for part in parse_path(key):
        if (
            isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
            or isinstance(node, dict)
            and part in node
        ):
            node = node[part]
        else:
            raise KeyError(key)
    return node


def validate_config(
    raw: Mapping[str, Any], *, source: Path | str = "<config>", text: str | None = None, overridden: Sequence[str] = ()
) -> ExperimentConfig:
    """Validate a parsed config mapping; raise ConfigError listing every problem with its line."""
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(err, raw, text, overridden) for err in exc.errors(include_url=False)]
        raise ConfigError(
            f"error: {source} is not a valid experiment config\n" + "\n".join(dict.fromkeys(lines))
        ) from None


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The fully resolved config as plain YAML-able data (defaults filled in)."""
    return cfg.model_dump(mode="json")


# --------------------------------------------------------------------------- error messages


def _data_path(loc: Sequence[str | int], raw: Any) -> list[str | int]:
    """Map a pydantic error location to the key path in the user's data.

    Discriminated unions insert their tag ('mlp', 'conv2d', ...) into ``loc``;
    those parts are dropped by walking the data alongside.
    """
    path: list[str | int] = []
    node = raw
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            path.append(part)
            node = node[part]
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


def yaml_line(text: str | None, path: Sequence[str | int]) -> int | None:
    """Return the 1-based YAML line of the deepest existing node on ``path``."""
    if text is None:
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _describe(err: Mapping[str, Any], raw: Mapping[str, Any], text: str | None, overridden: Sequence[str]) -> str:
    path = _data_path(err["loc"], raw)
    key = ".".join(map(str, path)) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
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
        hint = difflib.get_close_matches(str(got), options, n=1)
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
    origin = next((f"--set {o}" for o in overridden if key == o or key.startswith(o + ".")), None)
    line = None if origin else yaml_line(text, path)
    where = origin or (f"line {line}" if line else "")
    return f"  {where + '  ' if where else ''}{key}: {msg}"


def _allowed_keys(parent: Sequence[str | int], raw: Mapping[str, Any]) -> list[str]:
    """The keys the schema allows at ``parent`` (a data path), for 'did you mean' hints."""
    tp: Any = ExperimentConfig
    node: Any = raw
    for part in parent:
        node = node[part] if isinstance(node, (dict, list)) else None
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
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
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


def locate_keys(message: str, path: Path | str, overrides: Sequence[str] = ()) -> str:
    """Point an error found after loading (against the data or the model) at the config file.

    A message that does not name ``path`` yet gets it: ``error: KEY ...`` becomes
    ``error: PATH line N: KEY ...`` and each ``  KEY: ...`` line gets its YAML
    line (or the ``--set`` it came from), as :func:`validate_config` writes them.
    """
    path = Path(path)
    if str(path) in message:
        return message
    try:
        text: str | None = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    set_keys = [o.split("=", 1)[0].strip() for o in overrides]
    top = set(ExperimentConfig.model_fields)

    def where(key: str) -> str | None:
        if key.split(".")[0] not in top:
            return None
        origin = next((f"--set {k}" for k in set_keys if key == k or key.startswith(k + ".")), None)
        if origin:
            return origin
        try:
            line = yaml_line(text, parse_path(key))
        except ConfigError:
            return None
        return f"line {line}" if line else None

    out = []
    for i, line in enumerate(message.splitlines()):
        head = re.match(r"^error: ([A-Za-z_][\w.]*)([ :].*)$", line) if i == 0 else None
        item = re.match(r"^  ([A-Za-z_][\w.]*)(: .*)$", line) if i > 0 else None
        if head and head.group(1).split(".")[0] in top:
            found = where(head.group(1))
            origin = "" if not found else f" ({found})" if found.startswith("--set") else f" {found}"
            line = f"error: {path}{origin}: {head.group(1)}{head.group(2)}"
        elif i == 0 and line.startswith("error: the config "):
            line = f"error: {path} " + line.removeprefix("error: the config ")
        elif item:
            found = where(item.group(1))
            if found:
                line = f"  {found}  {item.group(1)}{item.group(2)}"
        out.append(line)
    return "\n".join(out)


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
