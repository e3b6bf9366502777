"""Dotted key paths (``model.layers.0.filters``): in parsed config data, and to their line in the YAML text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel

from mlrun.config.experiment import ExperimentConfig
from mlrun.errors import ConfigError


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
            if isinstance(part, int) and part not in node:
                part = str(part)  # a mapping's key, not a list index: `--set training.class_weight.1=2.0`
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = _default_block(str(part)) if node is data else {}
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
        if not has_child(node, part):
            raise KeyError(key)
        node = child(node, part)
    return node


def has_child(node: Any, part: str | int) -> bool:
    """True when ``part`` is a key of the mapping ``node`` or an index of the list ``node``."""
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def child(node: Any, part: str | int) -> Any:
    """``node[part]`` for a key of a mapping or an index of a list, else None."""
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _same_key(node: yaml.Node, part: Any) -> bool:
    """True when the YAML key ``node`` is ``part``: the same text, or the same value (null, true, 3) of the same type."""
    if node.value == str(part):
        return True
    if not isinstance(node, yaml.ScalarNode):
        return False
    try:
        value = yaml.constructor.SafeConstructor().construct_object(node)
    except yaml.YAMLError:
        return False
    return type(value) is type(part) and value == part


def yaml_line(text: str | None, path: Sequence[Any]) -> int | None:
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
                if _same_key(k, part):
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
