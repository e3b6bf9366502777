"""Where users already look: MLflow and TensorBoard, live (:mod:`.live`) and after the fact (:mod:`.sync`).

- :mod:`.live`: ``track_run`` (the runner's one hook) and ``track_sweep`` (the sweep's): a failing tracker
  is a warning, never a failed run;
- :mod:`.mlflow`: one MLflow run per mlrun run through ``MlflowClient``, found again by its ``mlrun.run_id`` tag;
- :mod:`.tensorboard`: event files (per-epoch scalars, the sweep's HParams table) without TensorFlow;
- :mod:`.sync`: ``mlrun sync``, recording runs and sweeps trained offline.

Nothing here imports MLflow or TensorBoard until a run or a command asks for them.
"""
