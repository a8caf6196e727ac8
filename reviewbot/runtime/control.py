"""Steering a live run from outside its process: stop, pause and continue.

Another process (the dashboard, ``reviewbot control``) writes the run's wish to
``<state>/runs/<id>/control.json``; the running process polls that file before
each agent starts (a ``stat`` per agent, a read only when it changed).

- ``stop``: no new agent starts, running ones finish, the result is partial with
  reason ``stopped by user`` (the same path as a budget stop).
- ``pause``: agents about to start wait (polling every ``POLL_SECONDS``) until the
  file says ``continue`` (or ``stop``); running ones finish.
- ``continue``: releases a pause. A stop is final.

A distributed migration journaled by the client that follows its workflow
(:mod:`reviewbot.temporal.journaled`) takes the same three, which that client passes on to
the workflow as its signals: a stop (no new batch starts; what finished is assembled), a
pause (no new batch starts; the batches in flight finish first) and a continue.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import anyio

CONTROL_FILE = "control.json"
STOP_REASON = "stopped by user"
POLL_SECONDS = 0.2
ACTIONS = ("stop", "pause", "continue")

Action = Literal["stop", "pause", "continue"]


def meaning(action: str, workflow: str | None = None) -> str:
    """What asking ``action`` of a run does; ``workflow``: of a distributed run, whose client
    passes the action on to its workflow on Temporal as a signal."""
    if workflow is not None:
        return f"the client following workflow {workflow} signals it: " + {
            "stop": "no new batch starts, the batches running finish, and what finished is "
                    "assembled into a partial result",
            "pause": "no new batch starts until it is continued; the batches in flight "
                     "finish first",
            "continue": "new batches start again"}[action]
    return {"stop": "no new agent starts, running ones finish, the result is partial",
            "pause": "no new agent starts until it is continued",
            "continue": "agents waiting to start go on"}[action]


def control_path(run_dir: Path) -> Path:
    return run_dir / CONTROL_FILE


def write_control(run_dir: Path, action: str, *, by: str = "cli") -> dict[str, Any]:
    """Ask the run in ``run_dir`` to stop, pause or continue (atomically replaces the file)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown control action {action!r}; use one of {', '.join(ACTIONS)}")
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {"action": action, "ts": time.time(), "by": by}
    target = control_path(run_dir)
    tmp = target.with_name(f".{CONTROL_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, target)
    return data


def read_control(run_dir: Path) -> str | None:
    """The action last asked of the run in ``run_dir`` (None: nothing asked)."""
    return _read(control_path(run_dir))


def _read(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    action = data.get("action") if isinstance(data, dict) else None
    return action if action in ACTIONS else None


class RunControl:
    """The running side: polled before an agent starts (see the module docstring).

    ``stop(reason)`` is the scheduler's stop; ``stopped()`` whether the run is stopped
    already; ``note(message)`` reports pause and resume (an event, not a result line).
    """

    def __init__(
        self,
        path: Path | None,
        *,
        stop: Callable[[str], None],
        stopped: Callable[[], bool],
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self._stop = stop
        self._stopped = stopped
        self._note = note
        self._seen: tuple[int, int] | None = None
        self._paused = False
        self.action: str | None = None

    @classmethod
    def beside(
        cls,
        events_path: Path | None,
        *,
        stop: Callable[[str], None],
        stopped: Callable[[], bool],
        note: Callable[[str], None] | None = None,
    ) -> RunControl:
        """The control of the run whose event log is ``events_path`` (None: never steered)."""
        path = control_path(events_path.parent) if events_path is not None else None
        return cls(path, stop=stop, stopped=stopped, note=note)

    def poll(self) -> str | None:
        """Read the file if it changed; act on a stop. Returns the current action."""
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return self.action
        seen = (st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            self._seen = seen
            self.action = _read(self.path)
            if self.action == "stop":
                self._stop(STOP_REASON)
        return self.action

    async def gate(self) -> None:
        """Before an agent starts: stop the run if asked, wait while it is paused."""
        if self.poll() != "pause" or self._stopped():
            return
        if not self._paused:  # said once however many agents wait
            self._paused = True
            self._say("paused by user")
        while self.poll() == "pause" and not self._stopped():
            await anyio.sleep(POLL_SECONDS)
        if self._paused:
            self._paused = False
            if not self._stopped():
                self._say("resumed by user")

    def _say(self, message: str) -> None:
        if self._note is not None:
            self._note(message)
