"""Export a run's model for serving (``mlrun export``): ONNX, SavedModel or LiteRT, taking raw inputs.

- :mod:`.formats`: the formats, the packages each needs, and each format's own runtime.
- :mod:`.reference`: the raw inputs behind a run's predictions.csv, rebuilt exactly (no Keras).
- :mod:`.graph`: the exported graph, scaling inside; written by Keras' ``model.export`` (imports Keras).
- :mod:`.run`: :func:`export_run`, which ties them together and verifies what it wrote.

Importing this package loads no Keras and no TensorFlow.
"""

from mlrun.export.formats import EXTRA, FORMATS, Format
from mlrun.export.run import TOLERANCE, ExportResult, export_run

__all__ = ["EXTRA", "FORMATS", "TOLERANCE", "ExportResult", "Format", "export_run"]
