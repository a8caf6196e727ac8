"""`reviewbot run HARNESS` and `reviewbot resume RUN_ID`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reviewbot.cli.common import (
    KeepFinish,
    config_option,
    emit_outcome,
    param_option,
    repo_root,
    root_and_config,
)
from reviewbot.errors import ExitCode, ReviewbotError, UsageError
from reviewbot.harness import Harness, builtin_harness, load_harness, parse_param_args
from reviewbot.runtime.control import read_control
from reviewbot.runtime.journal import Journal, state_dir

if TYPE_CHECKING:
    from reviewbot.config import Config


def _pick_harness(spec: str, root: Path | None) -> Harness:
    """A harness file, else a built-in or saved (``.reviewbot/harnesses/``) one by name."""
    if spec.endswith(".py") or Path(spec).exists():
        return load_harness(Path(spec))
    from reviewbot.harness.saved import find_harness

    found = find_harness(root, spec)
    return load_harness(found) if found is not None else builtin_harness(spec)


def _execute(
    harness: Harness,
    params: dict[str, Any],
    *,
    config: Config,
    repo: Path,
    budget: float | None,
    max_agents: int | None,
    run_id: str | None,
    fmt: str,
    quiet: bool,
    strict: bool,
) -> int:
    # the runner brings the model client: only a command that runs a harness imports it
    from reviewbot.harness.runner import run_harness
    from reviewbot.report.cost import cost_line
    from reviewbot.report.progress import make_progress
    from reviewbot.runtime.stats import RunStats

    progress = KeepFinish(make_progress("quiet" if quiet else "auto", sys.stderr))
    try:
        outcome = run_harness(
            harness, params, config=config, repo_path=repo, budget_usd=budget,
            run_id=run_id, max_agents=max_agents, progress=progress,
        )
    except ReviewbotError:
        # Interrupted or failed after it started: the run still ends with its cost line.
        if progress.finished is not None:
            click.echo(cost_line(RunStats.model_validate(progress.finished.stats)), err=True)
        raise
    if harness.name == "review" and _is_review_result(outcome.result):
        # A review run reports as `reviewbot review` does (also when resumed).
        from reviewbot.cli.review import finish_review

        code = finish_review(outcome, config, fmt=fmt)
        if strict and outcome.status == "partial" and code == ExitCode.OK:
            return int(ExitCode.PARTIAL)
        return code
    code = emit_outcome(outcome, fmt)
    if code != ExitCode.OK:
        return code
    if outcome.status == "partial":
        click.echo(
            f"run {outcome.run_id} stopped early ({outcome.stats.stop_reason}); the result is "
            f"partial. Raise --budget or --max-agents and run `reviewbot resume {outcome.run_id}`"
            " to finish it without repeating finished calls",
            err=True,
        )
        if strict:
            return int(ExitCode.PARTIAL)
    return int(ExitCode.OK)


def _is_review_result(result: Any) -> bool:
    from pydantic import ValidationError

    from reviewbot.review import ReviewResult

    try:
        ReviewResult.model_validate(result)
    except ValidationError:
        return False
    return True


_common = [
    click.option("--budget", type=float, default=None, metavar="DOLLARS",
                 help="Dollar budget for this run (default: runtime.budget_usd)."),
    click.option("--max-agents", type=click.IntRange(min=1), default=None, metavar="N",
                 help="Total-agent backstop (default: the harness's, else runtime.max_agents)."),
    click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                 show_default=True, help="json prints exactly the harness result on stdout."),
    click.option("--quiet", is_flag=True, help="No progress output (the cost line remains)."),
    click.option("--strict", is_flag=True, help="Exit 4 when the run stopped early."),
    config_option,
    click.option("--repo", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
                 show_default=True, help="Repository the run is for (its git dir keeps state)."),
]


def _with_common(fn: Any) -> Any:
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.command()
@click.argument("harness_spec", metavar="HARNESS")
@param_option
@click.option("--run-id", default=None, help="Run id; an id already journaled resumes that run.")
@_with_common
def run(
    harness_spec: str,
    param_pairs: tuple[str, ...],
    run_id: str | None,
    budget: float | None,
    max_agents: int | None,
    fmt: str,
    quiet: bool,
    strict: bool,
    config_path: Path | None,
    repo: Path,
) -> int:
    """Run a harness file (or a built-in harness by name)."""
    if budget is not None and budget < 0:
        raise UsageError("--budget must be a dollar amount >= 0")
    root, config = root_and_config(repo, config_path)
    harness = _pick_harness(harness_spec, root)
    return _execute(
        harness, dict(parse_param_args(param_pairs)), config=config, repo=root, budget=budget,
        max_agents=max_agents, run_id=run_id, fmt=fmt, quiet=quiet, strict=strict,
    )


@click.command()
@click.argument("run_id", required=False)
@click.option("--list", "list_runs", is_flag=True, help="List recent runs and their status.")
@_with_common
def resume(
    run_id: str | None,
    list_runs: bool,
    budget: float | None,
    max_agents: int | None,
    fmt: str,
    quiet: bool,
    strict: bool,
    config_path: Path | None,
    repo: Path,
) -> int:
    """Resume a run: finished agent calls are replayed from the journal, the rest run.

    A live run that is paused (`reviewbot pause`) continues instead."""
    from reviewbot.cli.runs import print_runs, steer_run

    root = repo_root(repo.resolve())
    state = state_dir(root)
    if list_runs or run_id is None:
        print_runs(state)
        if run_id is None and not list_runs:
            raise UsageError("pass the RUN_ID to resume (listed above)")
        return int(ExitCode.OK)
    journal = Journal(state / "journal.sqlite")
    try:
        record = journal.require_run(run_id)
    finally:
        journal.close()
    from reviewbot.config import load_config
    from reviewbot.harness.runner import resume_harness, run_dir
    from reviewbot.runtime.history import temporal_of

    paused = read_control(run_dir(state, record.id)) == "pause"
    if temporal_of(record) is not None and not (record.status == "running" and paused):
        # a paused workflow its client follows continues, as a paused local run does
        raise UsageError(f"run {run_id} is a migration workflow on Temporal, which resumes by "
                         f"itself: follow it with `reviewbot migrate --attach {run_id}`")
    if record.status == "running":
        # Its process is alive: never a second process on the same run.
        if not paused:
            raise UsageError(f"run {run_id} is running and not paused; nothing to resume "
                             f"(`reviewbot stop {run_id}` ends it)")
        steer_run(root, record.id, "continue")
        return int(ExitCode.OK)
    harness = resume_harness(record, state)
    config = load_config(root, config_path)
    return _execute(
        harness, dict(record.params), config=config, repo=root, budget=budget,
        max_agents=max_agents, run_id=record.id, fmt=fmt, quiet=quiet, strict=strict,
    )
