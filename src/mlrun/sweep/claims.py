"""Two ``mlrun sweep`` processes on the same sweep: each claims a trial before training it.

A claim is ``<sweep>/claims/<trial>.json``, created with ``O_CREAT | O_EXCL``
under a short ``flock`` on ``<sweep>/claims.lock``, and says who trains the
trial: host, pid and the pid's start time (so a recycled pid is not taken for
its owner). When the trial ends its owner adds ``ended`` (the status) to it.

A trial is **free** for an invocation when it has no claim, or when its
claim's process is gone and the claim either never ended (the process was
killed mid-trial) or was made before this invocation started (an earlier run
of the sweep: a failed trial is trained again on resume, as before claims).
A claim of another host counts as live: its pid cannot be checked from here.

Every invocation trains the free trials, then waits for the trials others
are training, and takes over those whose process dies. So no trial is
trained twice, and each invocation ends with every trial settled. The results
are then written under ``<sweep>/results.lock`` from the trial directories,
so whichever invocation finishes last writes them complete.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from mlrun import store

CLAIMS_DIR = "claims"
CLAIMS_LOCK = "claims.lock"
#: Held while an invocation aggregates and writes results.csv, results.json, sweep.json and the refit.
RESULTS_LOCK = "results.lock"
#: Held for the whole of a random or TPE search: a second invocation waits for the first (one study, one asker).
SEARCH_LOCK = "search.lock"
#: Seconds between looks at the trials other invocations are training.
POLL_S = 1.0

ClaimState = Literal["free", "running", "ended"]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed), waiting for it; released on exit."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class Claims:
    """The claims of one invocation of a sweep (see the module docstring)."""

    def __init__(self, sweep_dir: Path, *, started: float | None = None) -> None:
        self.sweep_dir = Path(sweep_dir)
        self.dir = self.sweep_dir / CLAIMS_DIR
        self.started = time.time() if started is None else started
        self.host = socket.gethostname()

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def read(self, name: str) -> dict[str, Any] | None:
        """The claim on trial ``name``, or None (none, or unreadable: a claim is written whole, so only a crash
        between create and write leaves an empty one, and its owner is gone)."""
        try:
            data = json.loads(self.path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def state(self, name: str) -> ClaimState:
        """``free`` (this invocation may train it), ``running`` elsewhere (or here), or ``ended`` (settled)."""
        claim = self.read(name)
        if claim is None:
            return "free"
        if self._owner_alive(claim):
            return "ended" if claim.get("ended") else "running"
        if claim.get("ended") and float(claim.get("claimed_at") or 0) >= self.started:
            return "ended"  # tried while this invocation ran: not trained twice
        return "free"

    def claim(self, name: str, *, done: Callable[[], bool]) -> bool:
        """Take trial ``name`` for this process if it is free and not ``done()``; True when taken."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.sweep_dir / CLAIMS_LOCK):
            if self.state(name) != "free" or done():
                return False
            path = self.path(name)
            path.unlink(missing_ok=True)  # a stale claim: its process is gone
            record = {**store.host_info(), "claimed_at": time.time(), "started_at": store.now_iso()}
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(record))
                f.flush()
                os.fsync(f.fileno())
            return True

    def release(self, name: str, status: str) -> None:
        """Mark this process's claim on ``name`` ended with ``status`` (the claim stays: see :meth:`state`)."""
        claim = self.read(name)
        if claim is not None and claim.get("pid") == os.getpid() and claim.get("host") == self.host:
            store.write_json(self.path(name), {**claim, "ended": status, "ended_at": store.now_iso()})

    def _owner_alive(self, claim: dict[str, Any]) -> bool:
        if claim.get("host") != self.host:
            return True
        pid = claim.get("pid")
        return isinstance(pid, int) and store.pid_alive(pid, claim.get("pid_start"))
