"""dataset: {name: nuclear_masses}: the AME2012 - FRDM95 residuals, built from the masstable package at run time."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mlrun.data import nuclear
from mlrun.errors import DataError


def test_features_are_the_nucleon_numbers_parities_and_shell_distances() -> None:
    x = nuclear.features(np.array([8, 9, 50]), np.array([8, 12, 82]))
    assert x.tolist() == [[8, 8, 16, 0, 0, 0, 0], [9, 12, 21, 1, 0, 1, 4], [50, 82, 132, 0, 0, 0, 0]]
    assert len(nuclear.FEATURES) == x.shape[1]


def test_without_masstable_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataError, match=r"pip install 'mlrun\[nuclear\]'"):
        nuclear.load_masses()


def test_residuals_join_both_tables() -> None:
    pytest.importorskip("masstable", reason="the nuclear extra: pip install -e '.[nuclear]' (CI installs it)")
    x, y = nuclear.load_masses()
    assert x.shape == (len(y), len(nuclear.FEATURES))
    assert len(y) > 2000 and np.isfinite(y).all()
    # FRDM95 is good to well under 1 MeV rms on measured masses.
    assert 0.4 < float(np.sqrt(np.mean(y**2))) < 0.9
