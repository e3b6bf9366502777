"""TensorBoard event files for a run: per-epoch scalars, and the HParams table of a sweep.

Written with TensorBoard's own event writer and protos (``tensorboard.plugins.hparams.summary_v2``,
which ``tensorboard.plugins.hparams.api`` re-exports without importing TensorFlow), without TensorFlow, so it works on
both Keras backends and for runs synced after the fact (from history.csv). The layout is
Keras' ``TensorBoard`` callback's: ``<run>/tensorboard/train`` and ``.../validation``, each
with ``epoch_<metric>`` scalars (the learning rate under ``train``), so TensorBoard draws the
training and validation curves of a metric in one chart.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import summary_v2
from tensorboard.summary.writer.record_writer import RecordWriter

TENSORBOARD_DIR = "tensorboard"


class EventFile:
    """One ``events.out.tfevents.*`` file, appended to event by event in TensorBoard's record format.

    TensorBoard's ``EventFileWriter`` opens files through ``tf.io.gfile``, which imports TensorFlow
    when it is installed; plain files and TensorBoard's ``RecordWriter`` do not. Each event is
    appended and closed at once, so a killed run keeps the epochs it finished (as history.csv does).
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.mlrun"
        self.path = directory / name
        self.add_events([event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")])

    def add_events(self, events: list[Any]) -> None:
        with open(self.path, "ab") as f:
            records = RecordWriter(f)
            for event in events:
                records.write(event.SerializeToString())


def _hparam_value(value: Any) -> bool | int | float | str:
    """A value the HParams plugin can show: scalars as they are, anything else as JSON."""
    return value if isinstance(value, (bool, int, float, str)) else json.dumps(value)


def _domain(values: list[Any]) -> Any:
    """The values a key took, as the plugin's ``Discrete`` domain; None (inferred) when they mix types."""
    shown = {_hparam_value(v) for v in values}
    if not shown or len({type(v) for v in shown}) > 1:
        return None
    return summary_v2.Discrete(sorted(shown))


class EpochBoard:
    """Event files for one run's epochs: ``train/`` and ``validation/`` under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._writers: dict[str, EventFile] = {}

    def _writer(self, group: str) -> EventFile:
        if group not in self._writers:
            self._writers[group] = EventFile(self.directory / group if group else self.directory)
        return self._writers[group]

    def add_epoch(self, epoch: int, row: Mapping[str, float], *, wall_time: float | None = None) -> None:
        """One value per scalar for the 1-based ``epoch``: ``val_x`` goes to validation's ``epoch_x``."""
        when = time.time() if wall_time is None else wall_time
        for group in ("train", "validation"):
            values = [
                summary_pb2.Summary.Value(tag=f"epoch_{key.removeprefix('val_')}", simple_value=float(value))
                for key, value in row.items()
                if key.startswith("val_") == (group == "validation")
            ]
            if values:
                event = event_pb2.Event(wall_time=when, step=epoch, summary=summary_pb2.Summary(value=values))
                self._writer(group).add_events([event])

    def add_summary(self, summary: Any, *, group: str = "") -> None:
        """Write one summary proto (the HParams plugin's) into ``directory/group``."""
        self._writer(group).add_events([event_pb2.Event(wall_time=time.time(), step=0, summary=summary)])

    def close(self) -> None:
        """Forget the files: the next event starts new ones."""
        self._writers.clear()


def write_trial_hparams(board: EpochBoard, params: Mapping[str, Any], trial_id: str) -> None:
    """Mark ``board``'s run as one session of the sweep's HParams table, with its grid (or sampled) values."""
    values = {key: _hparam_value(value) for key, value in params.items()}
    board.add_summary(summary_v2.hparams_pb(values, trial_id=trial_id))


def write_sweep_hparams(directory: Path, space: Mapping[str, list[Any]], metrics: list[str]) -> None:
    """The HParams table's columns for a sweep: its keys (with the values tried) and validation metrics."""
    hparams = [
        summary_v2.HParam(
            key, summary_v2.Discrete(sorted({_hparam_value(v) for v in values}, key=str)) if values else None
        )
        for key, values in sorted(space.items())
    ]
    columns = [summary_v2.Metric(f"epoch_{m}", group="validation", display_name=f"val_{m}") for m in metrics]
    columns += [summary_v2.Metric(f"epoch_{m}", group="train", display_name=m) for m in metrics]
    board = EpochBoard(directory)
    try:
        board.add_summary(summary_v2.hparams_config_pb(hparams=hparams, metrics=columns))
    finally:
        board.close()


def rewrite_from_history(run_dir: Path, rows: list[tuple[int, dict[str, float]]]) -> EpochBoard:
    """Replace ``<run>/tensorboard/`` with the epochs of ``rows`` (history.csv); return the open board."""
    directory = run_dir / TENSORBOARD_DIR
    if directory.exists():
        shutil.rmtree(directory)
    board = EpochBoard(directory)
    for epoch, row in rows:
        board.add_epoch(epoch, row)
    return board
