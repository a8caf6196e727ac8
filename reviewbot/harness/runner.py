"""Running a harness: the one entry point for `reviewbot run`, `review` and `migrate`.

``run_harness`` wires a loaded harness to a ``Run``: the model client (when a
service is configured), the journal and event log under the repository's state
directory, the scheduler limits and the budget. It returns the harness's result
even when the run stopped early (marked partial), and records a Ctrl-C as an
interrupted, resumable run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticSerializationError, to_jsonable_python

from reviewbot.config import Config
from reviewbot.errors import ReviewbotError, UsageError
from reviewbot.git import Identity
from reviewbot.harness.capabilities import RepoAccess
from reviewbot.harness.editing import Editing
from reviewbot.harness.loader import (
    GENERATED_MARKER,
    Harness,
    coerce_params,
    is_generated,
    load_harness,
)
from reviewbot.harness.workflows import run_workflow
from reviewbot.models import make_client, model_access
from reviewbot.runtime.errors import AgentError, RunInterrupted, RunStopped
from reviewbot.runtime.events import EventBus, RunFinished, RunStarted
from reviewbot.runtime.journal import Journal, RunRecord, file_hash, state_dir
from reviewbot.runtime.run import Run
from reviewbot.runtime.stats import RunStats

Subscriber = Callable[[Any], None]


class HarnessOutcome(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    result: Any  # JSON-able: a pydantic result is dumped in JSON mode
    stats: RunStats
    run_id: str
    status: str  # "finished", "partial" (stopped early) or "failed" (a phase had no answer)
    resumed: bool = False


class HarnessFailed(ReviewbotError):
    """The harness let an agent failure escape ``main``."""


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def run_dir(state: Path, run_id: str) -> Path:
    return state / "runs" / run_id


def to_jsonable(value: Any, *, harness: str) -> Any:
    """The harness result as JSON data (what `--format json` prints and the journal keeps).

    Pydantic models (also nested in lists and dicts) are dumped in JSON mode.
    """
    try:
        data = to_jsonable_python(value)
        json.dumps(data)
    except (TypeError, ValueError, PydanticSerializationError) as exc:
        raise UsageError(
            f"harness {harness} returned a value that is not JSON data ({exc}); return a "
            "pydantic model or dicts/lists/strings/numbers"
        ) from None
    return data


def keep_harness(harness: Harness, kept: Path) -> None:
    """Keep the run's harness beside its events (for resume and `harness save`).

    A harness that ran sandboxed is kept with the generated marker, so that resuming
    or saving it runs it sandboxed again even when its file had no marker."""
    source = harness.path.read_bytes()
    marker = GENERATED_MARKER.encode() + b"\n"
    if harness.sandboxed and not source.startswith(marker):
        source = marker + source
    if not kept.is_file() or kept.read_bytes() != source:
        kept.write_bytes(source)


def resume_harness(record: RunRecord, state: Path) -> Harness:
    """The harness a journaled run ran: its file if unchanged, else the copy kept with the run."""
    original = Path(record.harness_path)
    kept = run_dir(state, record.id) / "harness.py"
    # a run that was sandboxed resumes sandboxed (its kept copy carries the marker)
    sandboxed = kept.is_file() and is_generated(kept)
    if original.is_file() and file_hash(original) == record.harness_hash and not sandboxed:
        return load_harness(original)
    if kept.is_file():
        return load_harness(kept)
    raise UsageError(
        f"run {record.id}: harness {original} changed or is gone and no copy was kept; "
        "run it again with `reviewbot run`"
    )


def run_harness(
    harness: Harness,
    params: Mapping[str, Any],
    *,
    config: Config,
    repo_path: Path | None,
    budget_usd: float | None = None,
    run_id: str | None = None,
    max_agents: int | None = None,
    progress: Subscriber | None = None,
    env: Mapping[str, str] = os.environ,
) -> HarnessOutcome:
    """Run ``harness`` to its result (partial when the budget or backstop stopped it).

    ``progress`` is an event subscriber (e.g. ``reviewbot.report.progress.make_progress``);
    when it is also a context manager it is entered around the run. Re-using a
    ``run_id`` that is in the journal replays that run's finished agent calls.
    ``max_agents``: the explicit value, else the harness's ``META`` default, else
    configuration. Raises ``RunInterrupted`` on Ctrl-C after recording the run.
    """
    values = coerce_params(harness.meta, params)
    state = state_dir(repo_path, env)
    journal = Journal(state / "journal.sqlite")
    run_id = run_id or new_run_id()
    try:
        resumed = journal.start_run(
            run_id,
            harness_path=harness.path,
            harness_hash=harness.source_hash,
            harness_name=harness.name,
            params=values,
            repo_path=repo_path,
        )
        replay = journal.finished_calls(run_id) if resumed else {}
        where = run_dir(state, run_id)
        where.mkdir(parents=True, exist_ok=True)
        keep_harness(harness, where / "harness.py")
        events = EventBus(where / "events.jsonl")
        if progress is not None:
            events.subscribe(progress)
        access = model_access(env)
        if max_agents is None:
            max_agents = harness.meta.max_agents
        if budget_usd is None and harness.meta.budget_usd is not None:
            configured = config.runtime.budget_usd
            budget_usd = min(harness.meta.budget_usd, configured or harness.meta.budget_usd)
        enter = progress if isinstance(progress, contextlib.AbstractContextManager) else None
        with enter if enter is not None else contextlib.nullcontext():
            return _run(
                harness, values, config=config, journal=journal, events=events, run_id=run_id,
                replay=replay, resumed=resumed, access_present=access is not None,
                env=env, budget_usd=budget_usd, max_agents=max_agents, workspace=repo_path,
            )
    finally:
        journal.close()


def _run(
    harness: Harness,
    values: dict[str, Any],
    *,
    config: Config,
    journal: Journal,
    events: EventBus,
    run_id: str,
    replay: dict[tuple[str, int], str],
    resumed: bool,
    access_present: bool,
    env: Mapping[str, str],
    budget_usd: float | None,
    max_agents: int | None,
    workspace: Path | None,
) -> HarnessOutcome:
    started = time.monotonic()
    holder: dict[str, Run] = {}

    async def main() -> Any:
        access = model_access(env)
        client = make_client(access, config.models) if access is not None else None
        editor = Editing(
            workspace, jobs=config.runtime.concurrency, verify=config.migrate.verify,
            verify_timeout=config.runtime.agent_timeout,
            identity=Identity(config.migrate.commit_name, config.migrate.commit_email),
        ) if workspace else None
        run = Run(
            run_id=run_id, config=config, params=values, client=client, journal=journal,
            events=events, harness=harness.name, max_agents=max_agents, budget_usd=budget_usd,
            replay=replay, workspace=workspace,
            repo=RepoAccess(workspace) if workspace is not None else None,
            workflows=run_workflow, editor=editor,
        )
        holder["run"] = run
        events.emit(
            RunStarted(
                run_id=run_id, harness=harness.name, params=values, resumed=resumed,
                models_available=client is not None, budget_usd=run.budget_usd,
                max_agents=run.max_agents,
            )
        )
        try:
            return await harness.main(run, **values)
        finally:
            if editor is not None:
                await editor.close()
            if client is not None:
                await client.close()

    def finish(status: str, result: Any) -> RunStats:
        run = holder.get("run")
        stats = run.stats if run is not None else RunStats(run_id=run_id, harness=harness.name)
        stats.wall_seconds = time.monotonic() - started
        if status == "interrupted":
            stats.partial, stats.stop_reason = True, "interrupted"
        dumped = stats.model_dump(mode="json")
        journal.finish_run(run_id, status=status, result=result, stats=dumped)
        events.emit(RunFinished(run_id=run_id, status=status, stats=dumped))
        events.close()
        return stats

    try:
        raw = anyio.run(main)
    except KeyboardInterrupt:
        finish("interrupted", None)
        raise RunInterrupted(f"interrupted; resume with `reviewbot resume {run_id}`") from None
    except RunStopped as exc:
        # The harness did not catch the stop: no result, but the run is recorded as partial.
        run = holder["run"]
        run.stats.partial, run.stats.stop_reason = True, exc.reason
        stats = finish("partial", None)
        return HarnessOutcome(result=None, stats=stats, run_id=run_id, status="partial",
                              resumed=resumed)
    except AgentError as exc:
        finish("failed", None)
        raise HarnessFailed(f"harness {harness.name} failed: {exc.message}") from None
    except BaseException:
        finish("failed", None)
        raise
    try:
        result = to_jsonable(raw, harness=harness.name)
    except UsageError:
        finish("failed", None)
        raise
    run = holder["run"]
    # A phase none of whose agents answered did not run: its result is journaled, but the
    # run is not "finished" (the list, the dashboard and resume show it failed).
    status = "failed" if run.stats.failed_phases() else (
        "partial" if run.stats.partial else "finished")
    stats = finish(status, result)
    return HarnessOutcome(result=result, stats=stats, run_id=run_id, status=status,
                          resumed=resumed)
