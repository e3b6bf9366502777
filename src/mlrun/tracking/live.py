"""Record a run (or a sweep) in MLflow and TensorBoard while it trains.

Tracking never loses or fails a run: a tracking server that cannot be reached when the run
starts, or that goes away while it trains, is a :class:`TrackingWarning`; the run goes on,
run.json's ``tracking`` says ``failed (<reason>)``, and ``mlrun sync`` records it later.
MLflow is imported only when a run asks for it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun import store
from mlrun.config import ExperimentConfig, config_to_dict

if TYPE_CHECKING:
    from mlrun.tracking.mlflow import Recorder
    from mlrun.tracking.tensorboard import EpochBoard

EpochCallback = Callable[[int, int, Mapping[str, float]], None]


class TrackingWarning(UserWarning):
    """MLflow or TensorBoard could not record (part of) a run; the run itself goes on."""


def tracking_params(cfg: ExperimentConfig) -> dict[str, str]:
    """The config as MLflow params: dotted keys (the ``tracking`` block left out)."""
    from mlrun.tracking.mlflow import flatten_params

    data = config_to_dict(cfg)
    data.pop("tracking", None)
    params = flatten_params(data)
    if cfg.tracking.sweep is not None:
        params.update(flatten_params(cfg.tracking.sweep.params))
    return params


def reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, ImportError):
        return "MLflow is not installed: pip install 'mlrun[mlflow]'"
    return f"{type(exc).__name__}: {text}"[:300]


class LiveRun:
    """One run's live tracking: an MLflow run (with its epochs) and TensorBoard event files.

    ``info`` is the runner's run.json dict: ``tracking`` is recorded in it, and its ``status``
    is read when the run ends.
    """

    def __init__(self, cfg: ExperimentConfig, run_dir: Path, info: dict[str, Any]) -> None:
        self.cfg, self.run_dir, self.info = cfg, run_dir, info
        self.link = cfg.tracking.sweep
        self.mlrun_id = f"{self.link.sweep_id}/{run_dir.name}" if self.link is not None else run_dir.name
        self.recorder: Recorder | None = None
        self.board: EpochBoard | None = None
        self.uri: str | None = None

    def start(self) -> None:
        """Open the MLflow run and log the params; open the TensorBoard files. Failures are warnings."""
        t = self.cfg.tracking
        if t.tensorboard:
            self._guard("TensorBoard", self._open_board)
        if t.mlflow is None:
            return
        if self.link is not None and self.link.parent_run_id is None:
            self.info["tracking"] = "failed (the sweep's MLflow run could not be created)"
            return
        self._guard("MLflow", self._open_mlflow)

    def _open_board(self) -> None:
        from mlrun.tracking.tensorboard import TENSORBOARD_DIR, EpochBoard, write_trial_hparams

        self.board = EpochBoard(self.run_dir / TENSORBOARD_DIR)
        if self.link is not None:
            write_trial_hparams(self.board, self.link.params, self.mlrun_id)

    def _open_mlflow(self) -> None:
        from mlrun.tracking.mlflow import Recorder, fail_fast_http, resolve_uri, run_tags

        t = self.cfg.tracking
        fail_fast_http()
        self.uri = self.link.uri if self.link is not None and self.link.uri else resolve_uri(str(t.mlflow))
        tags = run_tags(self.info, **_sweep_kind(self.link))
        parent = self.link.parent_run_id if self.link is not None else None
        experiment = t.experiment or self.cfg.name
        self.recorder = Recorder.open(
            self.uri, experiment, self.mlrun_id, tags=tags, parent=parent, started_at=self.info.get("started_at")
        )
        self.recorder.log_params(tracking_params(self.cfg))
        self.info["tracking"] = f"mlflow run {self.recorder.run_id} in experiment {experiment!r} at {self.uri}"

    def _guard(self, what: str, action: Callable[[], None]) -> bool:
        """Run ``action``; a failure stops that tracker, is a warning and is recorded in run.json."""
        try:
            action()
            return True
        except Exception as exc:
            why = reason(exc)
            if what == "MLflow":
                self.recorder = None
                self.info["tracking"] = f"failed ({why})"
            else:
                self.board = None
                self.info["tensorboard"] = f"failed ({why})"
            later = f"; record it later: mlrun sync {self.run_dir}" + (" --tensorboard" if what != "MLflow" else "")
            warnings.warn(f"tracking: {what}: {why}; the run goes on without it{later}", TrackingWarning, 2)
            return False

    def on_epoch(self, epoch: int, row: Mapping[str, float]) -> None:
        """Log one finished epoch (history.csv's row) to both trackers."""
        if self.board is not None:
            board = self.board
            self._guard("TensorBoard", lambda: board.add_epoch(epoch, row))
        if self.recorder is not None:
            recorder = self.recorder
            self._guard("MLflow", lambda: recorder.log_epoch(epoch, row))

    def end(self) -> None:
        """Log the run's results and files, end the MLflow run, and keep run.json's ``tracking`` up to date."""
        if self.board is not None:
            self.board.close()
        if self.recorder is not None:
            from mlrun.tracking.mlflow import record_end, run_tags

            recorder, tags = self.recorder, run_tags(self.info, **_sweep_kind(self.link))
            self._guard("MLflow", lambda: record_end(recorder, self.run_dir, self.info, tags))
        update_record(self.run_dir / store.RUN_FILE, self.info)


def _sweep_kind(link: Any) -> dict[str, Any]:
    return {"kind": link.kind, "sweep_id": link.sweep_id} if link is not None else {}


def update_record(path: Path, info: Mapping[str, Any]) -> None:
    """Write ``tracking`` (and ``tensorboard``) into run.json (sweep.json) when they changed after it was written."""
    with contextlib.suppress(OSError, ValueError):
        recorded = store.read_json(path)
        fields = {k: info[k] for k in ("tracking", "tensorboard") if k in info and recorded.get(k) != info[k]}
        if fields:
            store.write_json(path, {**recorded, **fields})


@contextlib.contextmanager
def track_run(
    cfg: ExperimentConfig, run_dir: Path, info: dict[str, Any], on_epoch: EpochCallback | None
) -> Iterator[EpochCallback | None]:
    """Track the run in ``run_dir`` while the block runs; yield the progress callback to train with.

    Without a ``tracking`` block asking for anything, yield ``on_epoch`` unchanged and import nothing.
    """
    t = cfg.tracking
    if t.mlflow is None and not t.tensorboard:
        yield on_epoch
        return
    live = LiveRun(cfg, run_dir, info)
    live.start()

    def tracked(epoch: int, total: int, row: Mapping[str, float]) -> None:
        live.on_epoch(epoch, row)
        if on_epoch is not None:
            on_epoch(epoch, total, row)

    try:
        yield tracked
    finally:
        live.end()
