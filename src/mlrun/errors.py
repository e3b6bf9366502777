"""The exceptions mlrun raises for problems a user can fix.

The CLI catches :class:`MlrunError` in one place, prints the message to stderr
and exits with ``exit_code``. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MlrunError(Exception):
    """A problem the user can fix; the message says what and how. Exit 1 unless a subclass says otherwise."""

    exit_code = 1


class ConfigError(MlrunError):
    """The config, a ``--set`` override or a command-line argument is invalid."""

    exit_code = 2


class DataError(MlrunError):
    """The dataset is missing, unreadable, or does not fit the config."""


class RunError(MlrunError):
    """A run could not be found, read or completed."""


class RunNotFound(RunError):
    """A run reference resolves to no run, to several, or outside the runs directory."""

    exit_code = 2


class DiskFullError(RunError):
    """A file could not be written because the disk (or the user's quota) is full."""
