"""Live progress of a run on stderr, built only from runtime events.

On a terminal: a rich live view, a tree of phases with running/done/failed
counts, tokens and dollars so far. Elsewhere (CI logs, pipes): plain lines for
phases, failures, escalations, stops and notes plus a status line at most every
few seconds. ``quiet``: nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TextIO

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from reviewbot.report.cost import dollars, human_count
from reviewbot.runtime.events import (
    AgentFailure,
    AgentFinished,
    AgentStarted,
    BranchFailed,
    Escalation,
    Note,
    PhaseStarted,
    RunStarted,
    Stopped,
)

ProgressMode = Literal["auto", "live", "plain", "quiet"]

NO_PHASE = "main"


@dataclass
class PhaseCounts:
    running: int = 0
    done: int = 0
    failed: int = 0
    replayed: int = 0
    tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class ProgressState:
    """Running totals folded from events (cheap: called for every event)."""

    harness: str = ""
    run_id: str = ""
    phases: dict[str, PhaseCounts] = field(default_factory=dict)
    escalations: int = 0
    stop_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def _phase(self, name: str | None) -> PhaseCounts:
        key = name or NO_PHASE
        counts = self.phases.get(key)
        if counts is None:
            counts = self.phases[key] = PhaseCounts()
        return counts

    def apply(self, event: Any) -> None:
        if isinstance(event, AgentStarted):
            self._phase(event.phase).running += 1
        elif isinstance(event, AgentFinished):
            counts = self._phase(event.phase)
            if event.replayed:
                counts.replayed += 1
            else:
                counts.running -= 1
            counts.done += 1
            counts.tokens += event.usage.total_tokens
            counts.cost_usd += event.cost_usd
        elif isinstance(event, AgentFailure):
            counts = self._phase(event.phase)
            counts.running -= 1
            counts.failed += 1
            counts.tokens += event.usage.total_tokens
            counts.cost_usd += event.cost_usd
        elif isinstance(event, PhaseStarted):
            self._phase(event.phase)
        elif isinstance(event, RunStarted):
            self.harness, self.run_id = event.harness, event.run_id
        elif isinstance(event, Escalation):
            self.escalations += 1
        elif isinstance(event, Stopped):
            self.stop_reason = event.reason
        elif isinstance(event, Note):
            self.notes.append(event.message)

    def totals(self) -> PhaseCounts:
        out = PhaseCounts()
        for c in self.phases.values():
            out.running += c.running
            out.done += c.done
            out.failed += c.failed
            out.replayed += c.replayed
            out.tokens += c.tokens
            out.cost_usd += c.cost_usd
        return out


def _counts_text(c: PhaseCounts) -> str:
    text = f"{c.running} running · {c.done} done · {c.failed} failed"
    if c.replayed:
        text += f" · {c.replayed} replayed"
    return text + f" · {human_count(c.tokens)} tok · {dollars(c.cost_usd)}"


class Progress:
    """Base: subscribe with ``bus.subscribe(progress)``; use as a context manager."""

    def __init__(self) -> None:
        self.state = ProgressState()

    def __call__(self, event: Any) -> None:
        self.state.apply(event)

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class QuietProgress(Progress):
    pass


class PlainProgress(Progress):
    """Plain lines: for logs, pipes and CI."""

    def __init__(self, stream: TextIO, every: float = 5.0) -> None:
        super().__init__()
        self.stream = stream
        self.every = every
        self._last = time.monotonic()
        self._seen_phases: set[str] = set()

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event: Any) -> None:
        self.state.apply(event)
        if isinstance(event, RunStarted):
            resumed = " (resumed)" if event.resumed else ""
            self._line(f"run {event.run_id}: {event.harness}{resumed}")
            if not event.models_available:
                self._line("no model service configured: model phases will be skipped")
        elif isinstance(event, PhaseStarted) and event.phase not in self._seen_phases:
            self._seen_phases.add(event.phase)
            self._line(f"phase {event.phase}")
        elif isinstance(event, AgentFailure):
            where = f" [{event.phase}]" if event.phase else ""
            self._line(f"agent failed{where}: {event.role}: {event.error}")
        elif isinstance(event, BranchFailed):
            self._line(f"branch failed: {event.where}: {event.error}")
        elif isinstance(event, Escalation):
            self._line(
                f"escalated to judge: {event.confirmed} confirmed / {event.refuted} refuted"
            )
        elif isinstance(event, Stopped):
            self._line(f"stopping: {event.reason} reached; running agents finish")
        elif isinstance(event, Note):
            self._line(f"note: {event.message}")
        elif isinstance(event, AgentFinished):
            now = time.monotonic()
            if now - self._last >= self.every:
                self._last = now
                self._line(f"progress: {_counts_text(self.state.totals())}")


class LiveProgress(Progress):
    """A rich live phase tree, refreshed a few times a second from another thread."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._console = Console(file=stream)
        self._live = Live(
            get_renderable=self._render, console=self._console, refresh_per_second=4,
            transient=False,
        )

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.state.apply(event)
        if isinstance(event, AgentFailure):
            self._console.print(
                Text(f"agent failed [{event.phase or NO_PHASE}] {event.role}: {event.error}",
                     style="red")
            )
        elif isinstance(event, Note):
            self._console.print(Text(f"note: {event.message}", style="dim"))

    def _render(self) -> RenderableType:
        with self._lock:
            s = self.state
            elapsed = time.monotonic() - s.started
            head = f"{s.harness or 'run'} {s.run_id} · {elapsed:.0f}s · {_counts_text(s.totals())}"
            if s.escalations:
                head += f" · {s.escalations} escalated"
            if s.stop_reason:
                head += f" · STOPPING ({s.stop_reason})"
            tree = Tree(Text(head, style="bold"))
            for name, counts in s.phases.items():
                tree.add(f"{name}: {_counts_text(counts)}")
        return tree

    def __enter__(self) -> LiveProgress:
        self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()


def make_progress(mode: ProgressMode = "auto", stream: TextIO | None = None) -> Progress:
    """``auto``: live on a terminal, plain lines otherwise."""
    stream = stream if stream is not None else sys.stderr
    if mode == "quiet":
        return QuietProgress()
    if mode == "live" or (mode == "auto" and stream.isatty()):
        return LiveProgress(stream)
    return PlainProgress(stream)
