"""Typed run events: appended as JSONL beside the run and fed to live subscribers.

Events are the only way progress leaves the runtime; renderers (terminal, a
future dashboard) subscribe and never reach into the scheduler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from reviewbot.models.usage import Usage
from reviewbot.runtime.stats import Spend


class _Event(BaseModel):
    ts: float = Field(default_factory=time.time)
    type: str  # each event narrows it to its own literal; declared here so it is written second


class RunStarted(_Event):
    type: Literal["run_started"] = "run_started"
    run_id: str
    harness: str
    params: dict[str, Any] = Field(default_factory=dict)
    resumed: bool = False
    models_available: bool = True
    budget_usd: float | None = None
    max_agents: int | None = None


class PhaseStarted(_Event):
    type: Literal["phase_started"] = "phase_started"
    phase: str


class PhaseFinished(_Event):
    type: Literal["phase_finished"] = "phase_finished"
    phase: str


class _AgentEvent(_Event):
    """Which agent call an event is about."""

    call: int
    role: str
    tier: str
    model: str
    phase: str | None = None
    # the journal's key of the call (input hash, ordinal): its row, exactly
    key: str | None = None
    ordinal: int | None = None


class _AgentEnded(_AgentEvent):
    """What an agent call cost, however it ended."""

    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    seconds: float = 0.0
    tools_called: list[str] = Field(default_factory=list)  # in the order the model asked
    prompt_chars: int = 0
    context_chars: int = 0  # the shared (cached) context blocks together


class AgentStarted(_AgentEvent):
    type: Literal["agent_started"] = "agent_started"


class AgentFinished(_AgentEnded):
    type: Literal["agent_finished"] = "agent_finished"
    replayed: bool = False


class AgentFailure(_AgentEnded):
    type: Literal["agent_failed"] = "agent_failed"
    error: str


class BranchFailed(_Event):
    """A parallel branch or pipeline item that ended in an error (not only agent failures)."""

    type: Literal["branch_failed"] = "branch_failed"
    where: str
    error: str


class Escalation(_Event):
    type: Literal["escalation"] = "escalation"
    claim: str
    confirmed: int
    refuted: int
    phase: str | None = None


class Stopped(_Event):
    type: Literal["stopped"] = "stopped"
    reason: str


class Note(_Event):
    type: Literal["note"] = "note"
    message: str


class FileDone(_Event):
    """A file of a run whose tasks run elsewhere (a migration workflow's workers) finished."""

    type: Literal["file_done"] = "file_done"
    path: str
    status: str
    index: int | None = None  # its place in the coordinator's list of finished files


class Progressed(_Event):
    """Where a run whose agents run elsewhere stands, as its coordinator reports it (a
    migration workflow on Temporal): the run view's phases, files and budget read it."""

    type: Literal["progress"] = "progress"
    phase: str
    files: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    lost: int = 0
    total: Spend = Field(default_factory=Spend)
    by_phase: dict[str, Spend] = Field(default_factory=dict)
    budget_usd: float | None = None
    paused: bool = False  # the coordinator starts no new work until continued


class RunFinished(_Event):
    type: Literal["run_finished"] = "run_finished"
    run_id: str
    status: str  # "finished", "partial", "failed", "interrupted"
    stats: dict[str, Any] = Field(default_factory=dict)


Event = Annotated[
    RunStarted
    | PhaseStarted
    | PhaseFinished
    | AgentStarted
    | AgentFinished
    | AgentFailure
    | BranchFailed
    | Escalation
    | Stopped
    | Note
    | FileDone
    | Progressed
    | RunFinished,
    Field(discriminator="type"),
]

_EVENT: TypeAdapter[Any] = TypeAdapter(Event)

Subscriber = Callable[[Any], None]


def parse_event(line: str) -> Any:
    """One JSONL line back into its typed event."""
    return _EVENT.validate_json(line)


def read_events(path: Path) -> list[Any]:
    return [parse_event(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


class EventBus:
    """Fans events out to subscribers and appends them to a JSONL file.

    Each event is one small line-buffered write: cheap enough to do inline on
    the event loop, and a crash loses at most the event being written.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._subscribers: list[Subscriber] = []
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", buffering=1)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def emit(self, event: _Event) -> None:
        if self._file is not None:
            self._file.write(event.model_dump_json() + "\n")
        for subscriber in self._subscribers:
            subscriber(event)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
