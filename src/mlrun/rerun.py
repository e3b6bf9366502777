"""Train a run again from its record, and check that the results are the same (``mlrun rerun RUN [--check]``).

The new run uses the original's resolved ``config.yaml``, its seed and the
backend it ran on (run.json ``runtime.backend``). :func:`check_rerun` compares
``history.csv`` and ``metrics.json`` value by value and says ``identical``,
``equal within tolerance`` (the largest difference and where), or
``different`` (which files, by how much, and the likely reasons it can see:
other package versions, another backend or device, no determinism).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from mlrun import store
from mlrun.errors import RunError

if TYPE_CHECKING:
    from mlrun.runner import RunResult
    from mlrun.training import EpochCallback

#: Two numbers are equal within tolerance when ``|a - b| <= ATOL + RTOL * |b|`` (numpy.isclose's defaults).
RTOL, ATOL = 1e-5, 1e-8

Verdict = Literal["identical", "equal within tolerance", "different"]

#: The files a check compares.
CHECKED = (store.HISTORY_FILE, store.METRICS_FILE)


@dataclass(frozen=True)
class FileCheck:
    """How one file of the rerun compares with the original's."""

    file: str
    verdict: Verdict
    largest: float = 0.0
    """The largest absolute difference between two numbers of the file."""
    where: str | None = None
    """Where that difference is, e.g. ``val_loss at epoch 2`` or ``per_class.3.f1``."""
    detail: str | None = None
    """A difference that is not a number: a missing file, other columns, another number of rows."""


@dataclass
class RerunCheck:
    """The rerun's comparison with the original: a verdict, per-file findings, and likely reasons."""

    original: Path
    rerun: Path
    files: list[FileCheck]
    reasons: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of the files."""
        return max((f.verdict for f in self.files), key=_RANK.__getitem__, default="identical")

    def lines(self) -> list[str]:
        """The check as a person reads it: the verdict, then each file, then the likely reasons."""
        head = f"check against {self.original.name}: {self.verdict}"
        if self.verdict == "identical":
            return [f"{head} ({', '.join(f.file for f in self.files)} equal, value for value)"]
        out = [head]
        for f in self.files:
            if f.detail is not None:
                out.append(f"  {f.file}: {f.verdict}: {f.detail}")
            elif f.verdict == "identical":
                out.append(f"  {f.file}: identical")
            else:
                out.append(f"  {f.file}: {f.verdict}: largest difference {f.largest:.3g} ({f.where})")
        if self.verdict == "equal within tolerance":
            out.append(f"  tolerance: |a - b| <= {ATOL:g} + {RTOL:g} * |b|")
        out += [f"  likely why: {reason}" for reason in self.reasons]
        return out


def rerun(run_dir: Path, runs_dir: Path, *, on_epoch: EpochCallback | None = None) -> RunResult:
    """Train ``run_dir``'s config again, with its seed and backend, into a new run directory under ``runs_dir``.

    Returns:
        The new run's :class:`mlrun.runner.RunResult`.

    Raises:
        RunError: the run's run.json or config.yaml is missing or damaged, or it is a cross-validation trial.
        ConfigError, DataError: as for ``mlrun train``.
    """
    from mlrun.config import evolve, load_config
    from mlrun.runner import run_experiment

    run_dir = Path(run_dir)
    info = store.read_whole_run_info(
        run_dir,
        instead="run the sweep again instead "
        "(`mlrun sweep CONFIG` skips finished trials; delete the trial's directory to train it again)",
    )
    cfg = load_config(run_dir / store.CONFIG_FILE)
    backend = _block(info, "runtime").get("backend") or cfg.runtime.backend
    seed = info.get("seed") if isinstance(info.get("seed"), int) else cfg.seed
    cfg = evolve(cfg, seed=seed, runtime=evolve(cfg.runtime, backend=backend))
    base_dir = info.get("base_dir")
    return run_experiment(
        cfg,
        runs_dir,
        smoke=bool(info.get("smoke")),
        on_epoch=on_epoch,
        base_dir=Path(base_dir) if isinstance(base_dir, str) else None,
        evaluate_on="validation" if info.get("evaluated_on") == "validation" else "test",
        rerun_of=run_dir.name,
    )


def check_rerun(original: Path, rerun_dir: Path) -> RerunCheck:
    """Compare a rerun's history.csv and metrics.json with the original's, and look for reasons they differ."""
    original, rerun_dir = Path(original), Path(rerun_dir)
    files = [
        _check_file(original, rerun_dir, store.HISTORY_FILE, _history_values),
        _check_file(original, rerun_dir, store.METRICS_FILE, _metrics_values),
    ]
    check = RerunCheck(original, rerun_dir, files)
    if check.verdict != "identical":
        check.reasons = likely_reasons(original, rerun_dir)
    return check


# --------------------------------------------------------------------------- comparing files

Values = dict[str, Any]
"""A file as flat named values: ``"val_loss at epoch 2" -> 0.53``, ``"per_class.3.f1" -> 0.9``."""


_RANK = {"identical": 0, "equal within tolerance": 1, "different": 2}


def _check_file(original: Path, rerun_dir: Path, name: str, read: Callable[[Path], Values]) -> FileCheck:
    """Compare one file of both runs value by value; the worst outcome, its largest difference and where."""
    try:
        before, after = read(original / name), read(rerun_dir / name)
    except FileNotFoundError as exc:
        return FileCheck(name, "different", detail=f"{Path(str(exc.filename)).parent.name} has no {name}")
    except (OSError, ValueError, csv.Error) as exc:
        return FileCheck(name, "different", detail=f"could not be read ({exc})")
    only = sorted(set(before) ^ set(after))
    if only:
        return FileCheck(name, "different", detail=f"only in one of the two: {', '.join(only[:5])}")
    worst: Verdict = "identical"
    largest, where = 0.0, None
    for key, a in before.items():
        outcome, gap = compare_values(a, after[key])
        if gap is None and outcome == "different":
            return FileCheck(name, "different", detail=f"{key}: {a!r} vs {after[key]!r}")
        if (_RANK[outcome], gap or 0.0) > (_RANK[worst], largest):
            worst, largest, where = outcome, gap or 0.0, key
    return FileCheck(name, worst, largest, where)


def compare_values(a: Any, b: Any) -> tuple[Verdict, float | None]:
    """Compare two values of a file: numbers by :data:`RTOL`/:data:`ATOL`, anything else exactly.

    Returns:
        The verdict, and the absolute difference of two numbers (None for other values).

    >>> compare_values(0.5, 0.5)
    ('identical', 0.0)
    >>> compare_values(1.0, 1.0 + 1e-9)[0]
    'equal within tolerance'
    >>> compare_values(1.0, 1.1)[0]
    'different'
    >>> compare_values("a", "b")
    ('different', None)
    """
    if _is_number(a) and _is_number(b):
        fa, fb = float(a), float(b)
        if fa == fb or (math.isnan(fa) and math.isnan(fb)):
            return "identical", 0.0
        gap = abs(fa - fb)
        if math.isfinite(gap) and gap <= ATOL + RTOL * abs(fb):
            return "equal within tolerance", gap
        return "different", gap if math.isfinite(gap) else math.inf
    return ("identical", None) if a == b else ("different", None)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _history_values(path: Path) -> Values:
    """history.csv as ``"<column> at epoch <n>" -> number`` (text where a cell is not a number)."""
    out: Values = {}
    for i, row in enumerate(store.read_csv(path), 1):
        epoch = row.get("epoch") or str(i)
        for column, cell in row.items():
            if column and column != "epoch":
                out[f"{column} at epoch {epoch}"] = _number(cell)
    return out


def _number(cell: str | None) -> Any:
    try:
        return float(cell) if cell not in (None, "") else None
    except ValueError:
        return cell


def _metrics_values(path: Path) -> Values:
    """metrics.json flattened to dotted keys: ``per_class.3.f1 -> 0.9``."""
    return dict(_flatten(store.read_json(path), ""))


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}.{i}")
    else:
        yield prefix, value


# --------------------------------------------------------------------------- why they may differ


def likely_reasons(original: Path, rerun_dir: Path) -> list[str]:
    """What differs between the two runs' setups that can change results, from run.json, config.yaml, packages.txt."""
    a, b = _record(original), _record(rerun_dir)
    reasons = []
    packages = _package_changes(original, rerun_dir)
    if packages:
        reasons.append(f"other package versions: {packages}")
    for label, key in (("backend", "backend"), ("devices", "devices"), ("dtype policy", "dtype_policy")):
        if a["runtime"].get(key) != b["runtime"].get(key):
            reasons.append(f"other {label}: {a['runtime'].get(key)} vs {b['runtime'].get(key)}")
    if a["platform"].get("system") != b["platform"].get("system"):
        reasons.append(f"another platform: {a['platform'].get('system')} vs {b['platform'].get('system')}")
    if not (a["deterministic"] and b["deterministic"]):
        reasons.append(
            "no determinism: runtime.deterministic is false, so TensorFlow may pick nondeterministic kernels and "
            "thread orders; set runtime.deterministic: true for the same results from the same seed"
        )
    if not reasons:
        reasons.append(
            "same versions, backend, devices and runtime.deterministic: true; "
            "the original's files may have been changed after it ran"
        )
    return reasons


def _record(run_dir: Path) -> dict[str, Any]:
    """The parts of a run's record that can change its numbers (empty where unreadable)."""
    try:
        info = store.read_run_info(run_dir)
    except RunError:
        info = {}
    try:
        cfg = yaml.safe_load((run_dir / store.CONFIG_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        cfg = {}
    return {
        "runtime": _block(info, "runtime"),
        "platform": _block(info, "platform"),
        "versions": _block(info, "versions"),
        "deterministic": _block(cfg if isinstance(cfg, dict) else {}, "runtime").get("deterministic") is True,
    }


def _block(record: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``record[key]`` when it is a mapping, else {} (a damaged or older record)."""
    found = record.get(key)
    return found if isinstance(found, dict) else {}


def _package_changes(original: Path, rerun_dir: Path) -> str:
    """The distributions whose versions differ, ``numpy 1.26.4 -> 2.0.0``; from packages.txt, else run.json."""
    before, after = _packages(original), _packages(rerun_dir)
    changed = [
        f"{name} {before.get(name, 'absent')} -> {after.get(name, 'absent')}"
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
    more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
    return ", ".join(changed[:8]) + more


def _packages(run_dir: Path) -> dict[str, str]:
    try:
        lines = (run_dir / store.PACKAGES_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        versions = _record(run_dir)["versions"]
        return {str(k): str(v) for k, v in versions.items()}
    pairs = (line.split("==", 1) for line in lines if "==" in line)
    return {name.strip().lower(): version.strip() for name, version in pairs}
