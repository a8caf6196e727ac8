"""What the dashboard shows: the run history (:mod:`reviewbot.runtime.history`), and the
one thing it writes, :func:`steer` (the run's control file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reviewbot.runtime.control import meaning, write_control
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
    temporal_of,
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
    "temporal_of",
]


class ControlRefused(Exception):
    pass


def steer(state: Path, run_id: str, action: str, *, by: str = "dashboard") -> dict[str, Any]:
    """Write the run's control file; only a running run can be steered."""
    record = get_record(state, run_id)
    if record is None:
        raise ControlRefused(f"no run {run_id!r}")
    temporal = temporal_of(record)
    if record.status != "running":
        if temporal is not None:
            raise ControlRefused(
                f"run {run_id} is {record.status}: no client follows its workflow now (follow "
                f"it with `reviewbot migrate --attach {run_id}`, or cancel it on Temporal at "
                f"{temporal.get('address')})")
        raise ControlRefused(f"run {run_id} is {record.status}, not running")
    written = write_control(run_dir(state, run_id), action, by=by)
    return {**written, "means": meaning(action, run_id if temporal is not None else None)}

