"""What the dashboard shows: the run history (:mod:`reviewbot.runtime.history`), and the
one thing it writes, :func:`steer` (the run's control file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reviewbot.runtime.control import write_control
from reviewbot.runtime.history import (
    STATUSES,
    agent_detail,
    events_path,
    get_record,
    journal_path,
    list_runs,
    outcome_summary,
    read_events,
    run_dir,
    run_summary,
    run_view,
)

__all__ = [
    "STATUSES",
    "ControlRefused",
    "agent_detail",
    "events_path",
    "journal_path",
    "list_runs",
    "outcome_summary",
    "read_events",
    "run_dir",
    "run_summary",
    "run_view",
    "steer",
]


class ControlRefused(Exception):
    pass


def steer(state: Path, run_id: str, action: str, *, by: str = "dashboard") -> dict[str, Any]:
    """Write the run's control file; only a running run can be steered."""
    record = get_record(state, run_id)
    if record is None:
        raise ControlRefused(f"no run {run_id!r}")
    if record.status != "running":
        raise ControlRefused(f"run {run_id} is {record.status}, not running")
    return write_control(run_dir(state, run_id), action, by=by)
