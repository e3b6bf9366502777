"""Reading configs: YAML with the safe loader, ``--set`` overrides, and errors that name file, line and key."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlrun.config.experiment import ExperimentConfig
from mlrun.config.messages import describe
from mlrun.config.paths import parse_path, set_path, yaml_line
from mlrun.errors import ConfigError


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


def validate_config(
    raw: Mapping[str, Any], *, source: Path | str = "<config>", text: str | None = None, overridden: Sequence[str] = ()
) -> ExperimentConfig:
    """Validate a parsed config mapping; raise ConfigError listing every problem with its line."""
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [describe(err, raw, text, overridden) for err in exc.errors(include_url=False)]
        raise ConfigError(
            f"error: {source} is not a valid experiment config\n" + "\n".join(dict.fromkeys(lines))
        ) from None


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """The fully resolved config as plain YAML-able data (defaults filled in)."""
    return cfg.model_dump(mode="json")


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
