"""Debian's headless Chromium, driven over the DevTools protocol on a pipe (no npm, no port).

`--remote-debugging-pipe` makes Chromium read protocol messages from fd 3 and
write its answers and events to fd 4, each a JSON object ended by a NUL byte.
`Browser` sends commands and keeps every event, so a test can ask afterwards
what the page logged and which requests it made. Every wait has a deadline;
nothing sleeps a fixed time.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# As this machine's notes advise: without the background-networking flags
# Chromium reaches for Google's hosts at every start (and would count as a
# request of the page's here).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-pipe")


class BrowserError(Exception):
    pass


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise BrowserError("Debian's chromium is not installed: scripts/test installs it "
                           "(apt-get install chromium)")
    return found


class Browser:
    """One Chromium process and one page target attached to it (a flat session)."""

    def __init__(self, process: subprocess.Popen[bytes], to_browser: int, from_browser: int,
                 timeout: float) -> None:
        self.process = process
        self._out, self._in = to_browser, from_browser
        self.timeout = timeout
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session: str = self.call("Target.attachToTarget",
                                      {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=self.session)

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             session: str | None = None) -> dict[str, Any]:
        """Send one command and return its result; events met meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result

    def page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(method, params, session=self.session)

    def wait_for(self, method: str, since: int = 0) -> dict[str, Any]:
        """The first event `method` of the page from the `since`-th kept event on."""
        seen = since
        while True:
            for event in self.events[seen:]:
                if event["method"] == method and event.get("sessionId") == self.session:
                    return event
            seen = len(self.events)
            self._read()

    def open(self, url: str) -> None:
        """Navigate and wait for the load event (every inline SVG and style is in by then)."""
        before = len(self.events)  # a load event of about:blank must not count
        self.page("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired", since=before)

    def evaluate(self, expression: str) -> Any:
        answer = self.page("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True})
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression[:60]}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def screenshot(self, path: Path, width: int) -> None:
        """The whole page, `width` CSS pixels wide, as PNG."""
        self.page("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        height = self.evaluate("document.documentElement.scrollHeight")
        shot = self.page("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))

    def _read(self) -> dict[str, Any]:
        """The next message; an event is also kept in `events`."""
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._in], [], [], max(left, 0))
            if not ready:
                raise BrowserError(f"no answer from Chromium within {self.timeout} s")
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium closed its pipe (exit {self.process.poll()})")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        if "method" in message:
            self.events.append(message)
        return message

    def of(self, method: str) -> list[dict[str, Any]]:
        """The page's events of one kind, in order."""
        return [e["params"] for e in self.events
                if e["method"] == method and e.get("sessionId") == self.session]


@contextmanager
def running_chromium(profile: Path, timeout: float = 60) -> Iterator[Browser]:
    """A headless Chromium with an empty profile in `profile`, stopped afterwards."""
    profile.mkdir(parents=True, exist_ok=True)
    to_read, to_browser = map(_above_4, os.pipe())  # the browser reads fd 3
    from_browser, to_write = map(_above_4, os.pipe())  # the browser writes fd 4
    # A file, not a pipe nobody reads: a chatty Chromium must never block on it.
    log = (profile / "chromium.log").open("wb")
    # bash puts our two pipe ends at fds 3 and 4 (subprocess cannot renumber fds; dash
    # takes no fd above 9).
    process = subprocess.Popen(
        ["bash", "-c", f'exec "$@" 3<&{to_read} 4>&{to_write} {to_read}<&- {to_write}>&-',
         "bash", chromium_binary(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        pass_fds=(to_read, to_write), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    os.close(to_read)
    os.close(to_write)
    try:
        yield Browser(process, to_browser, from_browser, timeout)
    except BrowserError as exc:
        raise BrowserError(f"{exc}; Chromium's log ends: {_tail(profile / 'chromium.log')}"
                           ) from exc
    finally:
        _stop(process, to_browser)
        os.close(from_browser)
        log.close()


def _above_4(fd: int) -> int:
    """The same pipe end at a number above 4, so that `3<&N 4>&M` never clobbers it."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(none)"


def _stop(process: subprocess.Popen[bytes], to_browser: int) -> None:
    # Closing its command pipe makes Chromium quit; it is killed if it does not.
    os.close(to_browser)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
