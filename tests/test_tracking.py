"""Tracking: MLflow (a real tracking server, started here) and TensorBoard event files, live and with `mlrun sync`."""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlrun import store
from mlrun.cli import app
from tests.conftest import digits_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real `mlflow server` (sqlite backend, proxied artifacts) on a free port."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mlflow")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("the mlflow server is not installed: pip install -e '.[mlflow]'")
            pytest.skip("mlflow is not installed (pip install -e '.[mlflow]')")
        args = [binary, "server", "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}"]
        args += ["--artifacts-destination", str(self.root / "artifacts"), "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--uvicorn-opts", "--workers 1"]
        with open(self.root / "server.log", "wb") as log:  # the server keeps its own copy of the file
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
            if self.proc.poll() is not None:
                break
        self.stop()
        pytest.fail(f"mlflow server did not answer /health: {(self.root / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "mlflow"
    root.mkdir()
    server = Server(root)
    server.start()
    yield server
    server.stop()


def _client(server: Server):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=server.uri)


def _runs(server: Server, experiment: str) -> list:
    client = _client(server)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)


def _history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # a subprocess or a few training steps: the full suite runs it
def test_nothing_about_tracking_is_imported_for_help_runs_and_report() -> None:
    code = (
        "import sys; from typer.testing import CliRunner; from mlrun.cli import app; import mlrun.runner, mlrun.sweep.run\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "bad = [m for m in ('mlflow', 'tensorboard', 'tensorflow') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": "src"})


def test_params_are_dotted_and_cut_to_mlflows_limits() -> None:
    from mlrun.tracking.mlflow import PARAM_KEY_MAX, PARAM_VALUE_MAX, flatten_params

    long_key = {"a" * 300: 1, "a" * 299: 2}
    params = flatten_params({"model": {"layers": [{"units": 1}] * 2000}, "x": long_key})
    assert len(params["model.layers"]) == PARAM_VALUE_MAX
    x_keys = [k for k in params if k.startswith("x.")]
    assert len(x_keys) == 2 and all(len(k) <= PARAM_KEY_MAX for k in x_keys)


@pytest.mark.slow
def test_a_run_is_logged_live_and_sync_adds_nothing(cli, write_config, runs_dir, mlflow_server, tmp_path) -> None:
    cfg = digits_config(training={"epochs": 2, "batch_size": 64}, tracking={"tensorboard": True})
    result = cli.invoke(app, ["train", str(write_config(cfg)), "--mlflow", mlflow_server.uri, "-q"])
    assert result.exit_code == 0, result.output
    run_dir = next(p for p in runs_dir.iterdir())
    info = store.read_run_info(run_dir)
    assert info["tracking"].startswith("mlflow run ")
    [run] = _runs(mlflow_server, "digits_test")
    assert run.data.tags["mlrun.run_id"] == run_dir.name and run.data.tags["mlrun.status"] == "completed"
    assert run.data.tags["mlrun.task"] == "multiclass" and run.data.tags["mlrun.backend"] == "tensorflow"
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer.learning_rate"] == "0.01" and run.data.params["model.hidden_units"] == "[32]"
    history = _history(run_dir)
    client = _client(mlflow_server)
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"):
        values = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
        assert sorted(values) == [(int(h["epoch"]), pytest.approx(float(h[key]))) for h in history]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["accuracy"])
    assert run.data.metrics["test_loss"] == pytest.approx(metrics["loss"])
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "config.yaml", "run.json", "history.csv", "model"} <= names

    # TensorBoard: one value per epoch, equal to history.csv
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for group, prefix in (("train", ""), ("validation", "val_")):
        acc = EventAccumulator(str(run_dir / "tensorboard" / group))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            key = prefix + tag.removeprefix("epoch_")
            assert [(s.step, s.value) for s in acc.Scalars(tag)] == [
                (int(h["epoch"]), pytest.approx(float(h[key]))) for h in history
            ]
    assert "epoch_learning_rate" in EventAccumulator(str(run_dir / "tensorboard" / "train")).Reload().Tags()["scalars"]

    for _ in range(2):  # sync after a live run, twice: nothing new
        synced = cli.invoke(app, ["sync", run_dir.name, "--mlflow", mlflow_server.uri, "--tensorboard"])
        assert synced.exit_code == 0, synced.output
    [again] = _runs(mlflow_server, "digits_test")
    assert again.info.run_id == run.info.run_id
    assert len(client.get_metric_history(run.info.run_id, "loss")) == len(history)


@pytest.mark.slow
def test_an_unreachable_server_is_a_warning_and_sync_records_the_run_later(
    cli, write_config, runs_dir, mlflow_server
) -> None:
    from mlrun.config import load_config
    from mlrun.runner import run_experiment
    from mlrun.tracking.live import TrackingWarning

    dead = f"http://127.0.0.1:{_free_port()}"
    cfg = load_config(write_config(digits_config(training={"epochs": 2, "batch_size": 64}, tracking={"mlflow": dead})))
    started = time.time()
    with pytest.warns(TrackingWarning, match=r"tracking: MLflow: .*the run goes on without it"):
        result = run_experiment(cfg, runs_dir)
    assert time.time() - started < 60
    assert result.status == "completed"
    assert store.read_run_info(result.run_dir)["tracking"].startswith("failed (")

    for _ in range(2):
        synced = cli.invoke(app, ["sync", "--all", "--mlflow", mlflow_server.uri])
        assert synced.exit_code == 0, synced.output
    [run] = _runs(mlflow_server, "digits_test")
    assert run.data.tags["mlrun.run_id"] == result.run_id and run.info.status == "FINISHED"
    assert len(_client(mlflow_server).get_metric_history(run.info.run_id, "val_loss")) == 2


@pytest.mark.slow
def test_a_server_killed_mid_run_leaves_a_completed_run(write_config, runs_dir, mlflow_server) -> None:
    from mlrun.config import load_config
    from mlrun.runner import run_experiment
    from mlrun.tracking.live import TrackingWarning

    path = write_config(digits_config(training={"epochs": 3, "batch_size": 64}, tracking={"mlflow": mlflow_server.uri}))

    def kill_after_first(epoch: int, total: int, logs) -> None:
        if epoch == 1:
            mlflow_server.stop()

    with pytest.warns(TrackingWarning, match="MLflow"):
        result = run_experiment(load_config(path), runs_dir, on_epoch=kill_after_first)
    assert result.status == "completed"
    info = store.read_run_info(result.run_dir)
    assert info["status"] == "completed" and info["tracking"].startswith("failed (")
    assert len(_history(result.run_dir)) == 3


@pytest.mark.slow
def test_a_sweep_is_a_parent_run_with_nested_trials_and_refit(cli, write_config, runs_dir, mlflow_server) -> None:
    cfg = digits_config(
        training={"epochs": 1, "batch_size": 64},
        tracking={"tensorboard": True},
        sweep={"grid": {"optimizer.learning_rate": [0.01, 0.05]}, "refit": True},
    )
    args = ["sweep", str(write_config(cfg)), "--mlflow", mlflow_server.uri, "--workers", "1", "-q"]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    sweep_dir = next(p for p in runs_dir.iterdir() if "sweep" in p.name)
    runs = _runs(mlflow_server, "digits_test")
    [parent] = [r for r in runs if r.data.tags.get("mlrun.kind") == "sweep"]
    assert parent.data.tags["mlrun.run_id"] == sweep_dir.name and parent.info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["mlrun.kind"] for r in children) == ["refit", "trial", "trial"]
    trials = [r for r in children if r.data.tags["mlrun.kind"] == "trial"]
    assert sorted(r.data.params["optimizer.learning_rate"] for r in trials) == ["0.01", "0.05"]
    assert all(r.data.tags["mlrun.sweep_id"] == sweep_dir.name for r in children)
    assert "results.csv" in {a.path for a in _client(mlflow_server).list_artifacts(parent.info.run_id)}
    assert list((sweep_dir / "tensorboard").glob("events.out.tfevents.*"))

    before = len(runs)
    for _ in range(2):
        synced = cli.invoke(app, ["sync", sweep_dir.name, "--mlflow", mlflow_server.uri])
        assert synced.exit_code == 0, synced.output
    assert len(_runs(mlflow_server, "digits_test")) == before == 4


def test_sync_needs_a_target_and_a_destination(cli) -> None:
    result = cli.invoke(app, ["sync", "--all"])
    assert result.exit_code == 2
    assert "--mlflow URI and/or --tensorboard" in result.output


def test_tracking_block_is_validated(write_config) -> None:
    from mlrun.config import load_config
    from mlrun.errors import ConfigError

    with pytest.raises(ConfigError, match="tracking.tensorbord"):
        load_config(write_config(digits_config(tracking={"tensorbord": True})))
    cfg = load_config(write_config(digits_config(tracking={"mlflow": "env"})))
    assert cfg.tracking.mlflow == "env" and yaml.safe_dump(cfg.tracking.model_dump())
