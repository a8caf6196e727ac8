"""The runtime: ``Run`` (what a harness programs against), scheduler, journal, events.

Names are imported on first use (PEP 562): a process that needs only the light
parts (the sandbox process of a generated harness, a command that lists runs)
does not pay for the model client that ``Run`` imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reviewbot.lazy import lazy_exports

_WHERE = {
    "AgentError": "errors",
    "ModelsUnavailable": "errors",
    "RunInterrupted": "errors",
    "RunStopped": "errors",
    "Event": "events",
    "EventBus": "events",
    "parse_event": "events",
    "read_events": "events",
    "Journal": "journal",
    "RunRecord": "journal",
    "input_hash": "journal",
    "state_dir": "journal",
    "Run": "run",
    "Scheduler": "scheduler",
    "RunStats": "stats",
    "Spend": "stats",
    "Verdict": "results",
    "Vote": "results",
    "VoteResult": "results",
}

__all__ = [
    "AgentError",
    "Event",
    "EventBus",
    "Journal",
    "ModelsUnavailable",
    "Run",
    "RunInterrupted",
    "RunRecord",
    "RunStats",
    "RunStopped",
    "Scheduler",
    "Spend",
    "Verdict",
    "Vote",
    "VoteResult",
    "input_hash",
    "parse_event",
    "read_events",
    "state_dir",
]

if TYPE_CHECKING:
    from reviewbot.runtime.errors import AgentError, ModelsUnavailable, RunInterrupted, RunStopped
    from reviewbot.runtime.events import Event, EventBus, parse_event, read_events
    from reviewbot.runtime.journal import Journal, RunRecord, input_hash, state_dir
    from reviewbot.runtime.results import Verdict, Vote, VoteResult
    from reviewbot.runtime.run import Run
    from reviewbot.runtime.scheduler import Scheduler
    from reviewbot.runtime.stats import RunStats, Spend


__getattr__ = lazy_exports(__name__, _WHERE)
