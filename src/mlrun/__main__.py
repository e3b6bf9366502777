"""``python -m mlrun``: the same as the ``mlrun`` command."""

from mlrun.cli import app

app(prog_name="mlrun")
