"""A real headless Chromium, driven over the DevTools protocol on a pipe.

No extra package: Chromium's ``--remote-debugging-pipe`` reads commands on fd 3 and
writes answers on fd 4, NUL-separated JSON. :func:`open_page` loads one URL and returns
what a test asserts on: a PNG screenshot, every request the page made, every console
error and uncaught exception, and the values of a few JavaScript expressions evaluated
against the rendered DOM (the report itself has no script; DevTools evaluates them).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Set to a browser binary to use that one.
BROWSER_VARIABLE = "STACKFLOW_CHROMIUM"
TIMEOUT_SECONDS = 60.0
# The child puts the pipe ends where Chromium looks for them, then becomes Chromium.
_ON_FDS_3_AND_4 = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4);"
                   " os.execvp(sys.argv[3], sys.argv[3:])")
HEADLESS_FLAGS = ("--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                  "--no-default-browser-check", "--disable-extensions",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--mute-audio", "--remote-debugging-pipe")


def find_browser() -> str | None:
    """The Chromium (or Chrome) binary to drive, or None when none is installed."""
    named = os.environ.get(BROWSER_VARIABLE)
    if named:
        return named
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


@dataclass
class PageLoad:
    """What loading one page showed."""

    screenshot: bytes
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class DevTools:
    """One Chromium process and its protocol pipe."""

    def __init__(self, binary: str, *, width: int = 1200, height: int = 1600) -> None:
        # Chromium's helper processes may still be writing the profile as the browser
        # exits: what is left in the temporary folder must not fail the test.
        self._profile = tempfile.TemporaryDirectory(prefix="stackflow-chromium-",
                                                    ignore_cleanup_errors=True)
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Above 9, so neither lands on 3 or 4 before the child moves them there.
        keep = (_high(to_browser_r), _high(from_browser_w))
        flags = [*HEADLESS_FLAGS, f"--user-data-dir={self._profile.name}",
                 f"--window-size={width},{height}"]
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to sandbox as root
        self._process = subprocess.Popen(
            [sys.executable, "-c", _ON_FDS_3_AND_4, str(keep[0]), str(keep[1]), binary,
             *flags, "about:blank"],
            pass_fds=keep, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in keep:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> DevTools:
        return self

    def __exit__(self, *exc: object) -> None:
        # Browser.close lets Chromium flush and close its profile; SIGTERM if it cannot.
        with contextlib.suppress(Exception):
            self.call("Browser.close")
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self._profile.cleanup()

    def call(self, method: str, params: Mapping[str, Any] | None = None, *,
             session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result (events meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": dict(params or {})}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
            self.events.append(answer)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The first event ``method`` (already received, or the next to come)."""
        while True:
            found = next((e for e in self.events if e.get("method") == method), None)
            if found is not None:
                return found
            self.events.append(self._read())

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [],
                                        max(0.0, deadline - time.monotonic()))
            chunk = os.read(self._from_browser, 1 << 20) if ready else b""
            if not chunk:
                raise TimeoutError("Chromium stopped answering on its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(raw)
        return parsed


def open_page(binary: str, url: str, *, expressions: Mapping[str, str],
              dark: bool = False, media: str | None = None) -> PageLoad:
    """Load ``url`` in a fresh browser and report what happened (see the module doc)."""
    with DevTools(binary) as browser:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Emulation.setEmulatedMedia", {
            "media": media or "",
            "features": [{"name": "prefers-color-scheme", "value": "dark" if dark
                          else "light"}]}, session=session)
        browser.call("Page.navigate", {"url": url}, session=session)
        browser.wait_for("Page.loadEventFired")
        values = {name: _evaluate(browser, session, expression)
                  for name, expression in expressions.items()}
        shot = browser.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True}, session=session)
        return PageLoad(screenshot=base64.b64decode(shot["data"]),
                        requests=_requests(browser.events),
                        console_errors=_console_errors(browser.events), values=values)


def _evaluate(browser: DevTools, session: str, expression: str) -> Any:
    result = browser.call("Runtime.evaluate", {"expression": expression,
                                               "returnByValue": True}, session=session)
    if "exceptionDetails" in result:
        raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
    return result["result"].get("value")


def _requests(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["params"]["request"]["url"]) for e in events
            if e.get("method") == "Network.requestWillBeSent"]


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors: list[str] = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error",
                                                                              "assert"):
            errors.append(json.dumps(params.get("args", []))[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(str(params["entry"].get("text", ""))[:500])
    return errors


def _high(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved
