"""The user's repository journals the migration workflow its client follows, as a run.

While ``reviewbot migrate --engine temporal`` (or ``--attach ID``) follows a workflow, the
run is in the user's journal under the workflow id, harness ``migrate``, with the
workflow's parameters, and its event log beside it (``<state>/runs/<workflow id>/``): the
workflow's phases, each finished file, and what the workers spent against the budget, all
from the workflow's ``progress`` and ``files`` queries; at the end the report and stats from
its outcome. So ``reviewbot runs`` and ``reviewbot dashboard`` show it as they show a local
run. A stop asked through the run's control file (the dashboard, ``reviewbot control RUN
stop``) is sent to the workflow as its ``stop`` signal; a pause and a continue as its
``pause`` and ``resume`` signals (once each change), and the log's progress says whether the
workflow reports itself paused.

The record says what the client saw, never more: a client that is killed leaves it
``running`` with its dead process, which the journal reports as ``killed`` (the files and
spend stay those last seen, nothing is shown as finished); Ctrl-C records ``interrupted``.
Either way the workflow goes on, and an attach continues the same record (the same
workflow execution: its first run id is kept in the parameters) from the files it had
logged. A new execution under the same id (the same migration submitted again after the
first ended) starts the record afresh, keeping the earlier log beside it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from reviewbot.git import Repo
from reviewbot.migrate import MigrationResult
from reviewbot.runtime.control import STOP_REASON, RunControl, control_path, meaning
from reviewbot.runtime.events import (
    EventBus,
    FileDone,
    Note,
    PhaseFinished,
    PhaseStarted,
    Progressed,
    RunFinished,
    RunStarted,
    Stopped,
)
from reviewbot.runtime.history import events_path, read_events
from reviewbot.runtime.journal import Journal
from reviewbot.runtime.stats import RunStats
from reviewbot.temporal.activities import migrate_harness
from reviewbot.temporal.connection import Connection
from reviewbot.temporal.messages import Files, MigrationRequest, Outcome, Progress

ENGINE = "temporal"
QUERY_SECONDS = 5.0
# the workflow's phases as the run view shows them ("done" ends the last one)
PHASES = ("discover", "migrate", "assemble")
# the control file's actions the client passes on as the workflow's signals of these names
STEERING = {"pause": "pause", "continue": "resume"}


async def first_request(client: Client, workflow: str, first_run: str) -> MigrationRequest | None:
    """The request the workflow execution was started with (its first run's input)."""
    handle = client.get_workflow_handle(workflow, run_id=first_run)
    async for event in handle.fetch_history_events(page_size=1):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        if not payloads:
            return None
        decoded = await client.data_converter.decode([payloads[0]], [MigrationRequest])
        return decoded[0] if isinstance(decoded[0], MigrationRequest) else None
    return None


def params_of(request: MigrationRequest | None, temporal: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"engine": ENGINE, "temporal": temporal}
    if request is not None:
        params.update(request.spec.model_dump(mode="json", exclude_defaults=True))
        params.update(request.model_dump(mode="json", include={
            "instruction", "base", "branch", "verify", "limit", "budget_usd", "batch_size",
            "max_in_flight", "keep_task_branches"}))
    return params


class JournaledRun:
    """The journal record and event log of one followed workflow (see the module doc)."""

    def __init__(self, repo: Repo, workflow: str, conn: Connection) -> None:
        self.repo = repo
        self.workflow = workflow
        self.conn = conn
        self.state = repo.state_dir
        self.journal = Journal(self.state / "journal.sqlite")
        self.events: EventBus | None = None
        self.handle: WorkflowHandle[Any, Outcome] | None = None
        self.cursor = 0  # files of the workflow's list logged so far
        self.phase: str | None = None  # the phase entered and not left
        self.entered: list[str] = []
        self.lost: set[str] = set()
        self.logged: dict[str, str] = {}  # path -> the status last logged
        self.last: dict[str, Any] | None = None  # the last progress event written
        self.files = Files()
        self.progress = Progress()
        self.signalled = False
        self.steered: str | None = None  # the last pause or continue passed on
        self.control = RunControl(control_path(events_path(self.state, workflow).parent),
                                  stop=lambda _reason: None, stopped=lambda: self.signalled)

    async def begin(self, client: Client, handle: WorkflowHandle[Any, Outcome]) -> None:
        """Start (or continue) the record for the workflow execution behind ``handle``."""
        self.handle = handle
        desc = await handle.describe()
        first_run = desc.raw_description.workflow_execution_info.first_run_id or desc.run_id
        record = self.journal.get_run(self.workflow)
        known = (record.params.get("temporal") or {}) if record is not None else {}
        same = record is not None and known.get("first_run") == first_run
        log = events_path(self.state, self.workflow)
        if not same:
            self._set_aside(log, str(known.get("first_run") or "earlier"))
        else:
            self._catch_up(log)
        request = await first_request(client, self.workflow, first_run or "")
        params = params_of(request, {
            "workflow_id": self.workflow, "address": self.conn.address,
            "namespace": self.conn.namespace, "task_queue": desc.task_queue,
            "first_run": first_run,
        })
        harness = migrate_harness()
        self.journal.start_run(self.workflow, harness_path=harness.path,
                               harness_hash=harness.source_hash, harness_name=harness.name,
                               params=params, repo_path=self.repo.root,
                               restart=record is not None and not same)
        self.events = EventBus(log)
        self.events.emit(RunStarted(run_id=self.workflow, harness=harness.name, params=params,
                                    resumed=same, budget_usd=params.get("budget_usd")))
        self.events.emit(Note(message=(
            f"{'attached to' if same else 'following'} workflow {self.workflow} on Temporal at "
            f"{self.conn.address} ({self.conn.namespace}): its batches run on `reviewbot "
            "worker`s; this run shows what the workflow reports")))

    def _set_aside(self, log: Path, earlier: str) -> None:
        """A new execution: the earlier one's log and control file are not this run's."""
        if log.is_file():
            log.rename(log.with_name(f"events.{earlier}.jsonl"))
        control_path(log.parent).unlink(missing_ok=True)

    def _catch_up(self, log: Path) -> None:
        """Continue the log of the same execution from what it holds."""
        for e in read_events(self.state, self.workflow):
            kind = e.get("type")
            if kind == "file_done":
                self.logged[str(e.get("path"))] = str(e.get("status"))
                if e.get("index") is not None:
                    self.cursor = max(self.cursor, int(e["index"]) + 1)
            elif kind == "phase_started":
                self.phase = str(e.get("phase"))
                self.entered.append(self.phase)
            elif kind == "phase_finished" and e.get("phase") == self.phase:
                self.phase = None
            elif kind == "stopped":
                self.signalled = True
            elif kind == "note":
                self.steered = next((a for a in STEERING if str(e.get("message")).startswith(
                    f"{a} sent:")), self.steered)

    def emit(self, event: Any) -> None:
        if self.events is not None:
            self.events.emit(event)

    async def watch(self, progress: Progress | None) -> None:
        """One turn of the client's follow loop: log what changed; pass on a stop, a pause
        or a continue."""
        if progress is not None:
            self.progress = progress
            self._enter(progress.phase)
        await self._files()
        self._progressed()
        action = self.control.poll()
        if self.handle is None or self.signalled:
            return
        if action == "stop":
            await self.handle.signal("stop", STOP_REASON)
            self.signalled = True
            self.emit(Stopped(reason=STOP_REASON))
        elif action in STEERING and action != self.steered:
            await self.handle.signal(STEERING[action])
            self.steered = action
        else:
            return
        self.emit(Note(message=f"{action} sent: {meaning(action, self.workflow)}"))

    def _enter(self, phase: str) -> None:
        """The workflow is in ``phase`` ("done": past the last): the phases it passed between
        two polls are entered and left too."""
        upto = PHASES.index(phase) + 1 if phase in PHASES else len(PHASES)
        for name in PHASES[:upto]:
            if name in self.entered:
                continue
            if self.phase is not None:
                self.emit(PhaseFinished(phase=self.phase))
            self.entered.append(name)
            self.phase = name
            self.emit(PhaseStarted(phase=name))
        if phase not in PHASES and self.phase is not None:
            self.emit(PhaseFinished(phase=self.phase))
            self.phase = None

    async def _files(self) -> None:
        """Log the files finished since the cursor (page by page)."""
        if self.handle is None:
            return
        while True:
            try:
                files = await asyncio.wait_for(
                    self.handle.query("files", self.cursor, result_type=Files),
                    timeout=QUERY_SECONDS)
            except Exception:  # no worker to answer (or a workflow without the query)
                return
            self.files = files
            for i, done in enumerate(files.done, start=self.cursor):
                self._file(done.path, done.status, i)
            self.cursor += len(files.done)
            for path in sorted(set(files.lost) - self.lost):
                self._file(path, "failed")
                self.lost.add(path)
            if not files.done or self.cursor >= files.count:
                return

    def _file(self, path: str, status: str, index: int | None = None) -> None:
        self.logged[path] = status
        self.emit(FileDone(path=path, status=status, index=index))

    def _progressed(self, stats: RunStats | None = None) -> None:
        p, spent = self.progress, self.files.spent
        event = Progressed(
            phase=p.phase, files=p.files, done=p.done, failed=p.failed,
            in_flight=p.batches_in_flight, lost=len(self.lost),
            total=stats.total if stats is not None else spent.total,
            by_phase=dict(stats.by_phase if stats is not None else spent.by_phase),
            budget_usd=p.budget_usd, paused=p.paused,
        )
        shown = event.model_dump(mode="json", exclude={"ts"})
        if shown != self.last:
            self.last = shown
            self.emit(event)

    def finish(self, status: str, result: MigrationResult | None,
               stats: RunStats | None) -> None:
        """Record how following ended: the outcome's report and stats, or what was seen."""
        if stats is None:
            spent = self.files.spent
            stats = RunStats(run_id=self.workflow, harness="migrate", total=spent.total,
                             by_tier=dict(spent.by_tier), by_phase=dict(spent.by_phase),
                             budget_usd=self.progress.budget_usd, errors=list(spent.errors))
            if status == "interrupted":
                stats.partial, stats.stop_reason = True, "interrupted"
        else:
            self._progressed(stats)
            self._enter("done")
        for f in result.files if result is not None else []:
            if self.logged.get(f.path) != f.status:  # finished after the last poll
                self._file(f.path, f.status)
        dumped = stats.model_dump(mode="json")
        self.journal.finish_run(self.workflow, status=status, stats=dumped,
                                result=result.model_dump(mode="json") if result else None)
        self.emit(RunFinished(run_id=self.workflow, status=status, stats=dumped))
        self.close()

    def close(self) -> None:
        if self.events is not None:
            self.events.close()
            self.events = None
        self.journal.close()


def outcome_status(stats: RunStats) -> str:
    """The journal status of a workflow that completed (as a local run's)."""
    return "failed" if stats.failed_phases() else "partial" if stats.partial else "finished"
