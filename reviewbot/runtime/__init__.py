"""The runtime: ``Run`` (what a harness programs against), scheduler, journal, events."""

from reviewbot.runtime.errors import AgentError, ModelsUnavailable, RunInterrupted, RunStopped
from reviewbot.runtime.events import Event, EventBus, parse_event, read_events
from reviewbot.runtime.journal import Journal, RunRecord, input_hash, state_dir
from reviewbot.runtime.run import Run
from reviewbot.runtime.scheduler import Scheduler
from reviewbot.runtime.stats import RunStats, Spend
from reviewbot.runtime.vote import Verdict, Vote, VoteResult

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
