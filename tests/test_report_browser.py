"""The HTML report in a real browser: headless Chromium loads it, every image renders, nothing errs.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``):
no WebDriver and no Python dependency. The browser logs every failed load, script
error and console error; any of them, or any request that leaves the file itself
and its data URIs, fails the test.

Without Chromium the test skips on a developer machine and fails in CI (``CI``
set), where ``.ci/run`` installs it (``apt-get install -y chromium``).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mlrun.report import compare_runs, load_run
from mlrun.report.markup import write_page
from mlrun.report.page import comparison_page, run_page
from mlrun.report.rundata import REPORT_FILE
from tests.runfactory import make_run

#: Each test starts headless Chromium: the full suite runs them, the fast tier does not.
pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOAD_TIMEOUT_S = 60.0


def find_browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required in CI but not installed: apt-get install -y chromium")
    pytest.skip("headless Chromium is not installed (apt-get install -y chromium); CI runs this test")


class Browser:
    """A headless Chromium driven over the DevTools protocol on file descriptors 3 and 4."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def give_pipes() -> None:  # in the child: the protocol expects its pipes on fds 3 and 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=give_pipes,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send a command and return its result; events that arrive meanwhile are kept in ``events``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply["error"]
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = LOAD_TIMEOUT_S) -> dict[str, Any]:
        """Return the first event named ``method`` (received before or after this call)."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive(deadline - time.monotonic()))

    def _receive(self, timeout: float = LOAD_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError, AssertionError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    instance = Browser(find_browser(), tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield instance
    finally:
        instance.close()


def open_page(browser: Browser, page: Path) -> dict[str, Any]:
    """Load ``page`` in a fresh tab; return what the page shows and what went wrong while loading it."""
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.events.clear()
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.call(f"{domain}.enable", session=session)
    browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session)
    browser.wait_for("Page.loadEventFired")
    shown = browser.call(
        "Runtime.evaluate",
        {
            "returnByValue": True,
            "expression": """JSON.stringify({
        title: document.title,
        sections: document.querySelectorAll("section").length,
        images: [...document.images].map(i => ({
            alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
            shown: i.getBoundingClientRect().width})),
        scripts: document.scripts.length,
    })""",
        },
        session,
    )
    result = json.loads(shown["result"]["value"])
    own = {page.resolve().as_uri()}
    result["errors"] = [
        event
        for event in browser.events
        if event.get("sessionId") == session
        and (
            event["method"] in ("Runtime.exceptionThrown", "Network.loadingFailed")
            or (event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error")
            or (event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] in ("error", "assert"))
        )
    ]
    result["requests"] = [
        event["params"]["request"]["url"]
        for event in browser.events
        if event.get("sessionId") == session
        and event["method"] == "Network.requestWillBeSent"
        and not event["params"]["request"]["url"].startswith("data:")
        and event["params"]["request"]["url"] not in own
    ]
    browser.call("Target.closeTarget", {"targetId": target})
    return result


def assert_renders(shown: dict[str, Any], *, images: int, sections: int) -> None:
    assert shown["errors"] == [], shown["errors"]
    assert shown["requests"] == [], "the page fetched something besides itself"
    assert shown["scripts"] == 0
    assert shown["sections"] >= sections
    assert len(shown["images"]) == images
    for image in shown["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
        assert image["shown"] > 0, image


@pytest.mark.parametrize("kind, images", [("multiclass", 6), ("regression", 5), ("multilabel", 5), ("failed", 3)])
def test_report_renders_in_chromium(browser: Browser, runs_dir: Path, kind: str, images: int) -> None:
    run = load_run(make_run(runs_dir, kind, name=f"<script>alert('{kind}')</script>"))
    page = write_page(run.path / REPORT_FILE, run_page(run))
    shown = open_page(browser, page)
    assert_renders(shown, images=images, sections=6)
    assert shown["title"].startswith(f"<script>alert('{kind}')</script>")  # shown as text, never run


def test_comparison_renders_in_chromium(browser: Browser, runs_dir: Path, tmp_path: Path) -> None:
    runs = [load_run(make_run(runs_dir, "multiclass", name=f"r{i}", seed=i)) for i in range(3)]
    page = write_page(tmp_path / "compare.html", comparison_page(compare_runs(runs)))
    assert_renders(open_page(browser, page), images=2, sections=4)


def test_a_broken_image_would_be_caught(browser: Browser, tmp_path: Path) -> None:
    """The check itself can fail: a page with an undecodable image and a missing one is reported."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><title>x</title><img src="data:image/png;base64,AAAA"><img src="nope.png">', encoding="utf-8"
    )
    shown = open_page(browser, page)
    assert [image["width"] for image in shown["images"]] == [0, 0]
    assert shown["errors"] and shown["requests"]
