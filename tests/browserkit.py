"""Headless Chromium driven over the DevTools protocol on a pipe (standard library only).

Chromium started with ``--remote-debugging-pipe`` reads commands on its fd 3 and writes
replies and events on its fd 4, each a JSON object ending in a NUL byte. The network is
off three ways: every host resolves to nothing, every proxy is a closed port, and the
page's network is emulated offline; every request the page makes is still recorded.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from systools import require

Message = dict[str, Any]


class Browser:
    """One headless Chromium with one page, its requests recorded in :attr:`requests`."""

    def __init__(self, profile: Path, timeout: float = 20.0) -> None:
        self.deadline = time.monotonic() + timeout
        self.requests: list[str] = []
        self._ids = 0
        self._buffer = b""
        commands, self._to_browser = os.pipe()
        self._from_browser, replies = os.pipe()
        # the pipe ends are put on fd 3 and 4 before exec; pass_fds keeps those numbers open
        self.proc = subprocess.Popen(
            [require("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--no-first-run", "--proxy-server=127.0.0.1:9",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1200,900", "about:blank"],
            pass_fds=(3, 4), preexec_fn=lambda: _dup_into(commands, replies),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands)
        os.close(replies)
        target = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]
        for method in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.call(method, session=True)
        self.call("Network.emulateNetworkConditions", session=True, offline=True, latency=0,
                  downloadThroughput=-1, uploadThroughput=-1)

    def call(self, method: str, session: bool = False, **params: Any) -> Message:
        """Send one command and return its result (events meanwhile are noted)."""
        self._ids += 1
        message: Message = {"id": self._ids, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._ids:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply["result"])

    def wait_for(self, event: str) -> Message:
        """The next event named ``event``."""
        while True:
            message = self._next()
            if message.get("method") == event:
                return message

    def load(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)["result"]
        return result.get("value")  # none for undefined

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", session=True, format="png")["data"]))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)

    def _next(self) -> Message:
        while b"\0" not in self._buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited ({self.proc.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: Message = json.loads(raw)
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        return message


def _dup_into(commands: int, replies: int) -> None:
    """In the child: the command pipe's read end as fd 3, the reply pipe's write end as fd 4."""
    low = os.dup(commands), os.dup(replies)  # both may sit on 3 or 4 already
    os.dup2(low[0], 3)
    os.dup2(low[1], 4)
