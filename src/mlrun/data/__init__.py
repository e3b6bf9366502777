"""Load a dataset from a config: built-in (keras, sklearn), synthetic, or a CSV/NPZ file.

- :mod:`.sources`: where raw arrays come from (keras, sklearn, synthetic, files); feature names.
- :mod:`.files`: NPZ and CSV readers (CSV optionally cleaned by :mod:`mlrun.data.cleaning`).
- :mod:`.cleaning`, :mod:`.cleaner`, :mod:`.cells`: CSV cleaning; the steps that learn (fill values,
  one-hot categories) are fitted on the training rows once the splits are known.
- :mod:`.preprocessing`: task inference, label encoding, input checks, scaling.
- :mod:`.splits`: test and validation splits, subsampling, cross-validation folds.
- :mod:`.dataset`: :class:`Dataset` and :func:`load_dataset`, which ties them together.

No Keras here, except to download a keras dataset that is not on this machine.
"""

from mlrun.data.dataset import Dataset, load_dataset
from mlrun.data.files import load_npz, numeric_column, read_csv_table
from mlrun.data.preprocessing import MAX_CLASSES, Preprocessing, fit_preprocessing, infer_task
from mlrun.data.sources import CIFAR10_CLASSES, FASHION_CLASSES, KERAS_FILES, data_dirs, feature_names
from mlrun.data.splits import Fold, fold_indices

__all__ = [
    "CIFAR10_CLASSES",
    "FASHION_CLASSES",
    "KERAS_FILES",
    "MAX_CLASSES",
    "Dataset",
    "Fold",
    "Preprocessing",
    "data_dirs",
    "feature_names",
    "fit_preprocessing",
    "fold_indices",
    "infer_task",
    "load_dataset",
    "load_npz",
    "numeric_column",
    "read_csv_table",
]
