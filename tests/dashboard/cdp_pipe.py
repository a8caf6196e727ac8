"""A headless Chromium driven over the DevTools protocol on a pipe (no extra packages):
``--remote-debugging-pipe`` reads NUL-terminated JSON commands on fd 3, answers on fd 4."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any


class Browser:
    def __init__(self, executable: str, profile: Path) -> None:
        to_child, ours_w = os.pipe()
        ours_r, from_child = os.pipe()

        def setup() -> None:  # in the child: the pipe ends become fds 3 and 4
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--hide-scrollbars", "--remote-debugging-pipe", "--window-size=1280,1000",
             f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=setup, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._w = os.fdopen(ours_w, "wb", buffering=0)
        self._r = os.fdopen(ours_r, "rb", buffering=0)
        self._ids = itertools.count(1)
        self._buf = b""
        page = next(t for t in self.send("Target.getTargets")["targetInfos"]
                    if t["type"] == "page")
        self.session = self.send(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
        )["sessionId"]

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> Any:
        call = next(self._ids)
        message: dict[str, Any] = {"id": call, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._w.write(json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buf:
                chunk = self._r.read(1 << 16)
                if not chunk:
                    raise RuntimeError("the browser went away")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == call:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url}, self.session)

    def js(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting in the browser for: {expression}")

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.send("Page.captureScreenshot", {"format": "png"}, self.session)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._w.close()
        self._r.close()
