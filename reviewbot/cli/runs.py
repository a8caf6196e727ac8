"""`reviewbot runs`, `reviewbot show RUN`, `reviewbot stop RUN`, `reviewbot pause RUN`:
the run history on the terminal (the dashboard's data) and steering a live run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reviewbot.cli.common import repo_root
from reviewbot.errors import ExitCode, UsageError
from reviewbot.runtime.history import RUNS_LIMIT, STATUSES, list_runs, run_view
from reviewbot.runtime.journal import state_dir

_repo_option = click.option(
    "--repo", type=click.Path(path_type=Path, exists=True), default=Path("."),
    show_default=True, help="The repository whose runs these are.")
_format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)


def _state(repo: Path) -> Path:
    return state_dir(repo_root(repo.resolve()))


def print_runs(state: Path, status: str | None = None, *, fmt: str = "text",
               limit: int = 50) -> None:
    """The runs list on stdout (also `reviewbot resume --list`)."""
    from reviewbot.report.runs import runs_table

    rows = list_runs(state, status, limit)
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        what = f"no {status} runs" if status else "no runs"
        click.echo(f"{what} journaled for this repository", err=True)
        return
    click.echo(runs_table(rows))


def _status_filter(_ctx: click.Context, _param: click.Parameter,
                   value: str | None) -> str | None:
    if not value:
        return None
    unknown = [s for s in value.split(",") if s not in STATUSES]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} is not a status; use one or more of "
                                 f"{', '.join(STATUSES)}, comma-separated")
    return value


@click.command()
@click.option("--status", default=None, metavar="STATUS[,STATUS]", callback=_status_filter,
              help=f"Only runs with these statuses ({', '.join(STATUSES)}).")
@click.option("--limit", type=click.IntRange(1, RUNS_LIMIT), default=50, show_default=True,
              help="At most this many runs, the newest.")
@_format_option
@_repo_option
def runs(status: str | None, limit: int, fmt: str, repo: Path) -> int:
    """List the repository's journaled runs, newest first: harness, status, start, duration,
    agents, cost, and the findings of a review or the files of a migration."""
    print_runs(_state(repo), status, fmt=fmt, limit=limit)
    return int(ExitCode.OK)


@click.command()
@click.argument("run_id", metavar="RUN")
@_format_option
@_repo_option
def show(run_id: str, fmt: str, repo: Path) -> int:
    """Print run RUN's phase tree (phases, then the roles in each) and its totals."""
    from reviewbot.report.runs import run_tree

    view = run_view(_state(repo), run_id)
    if view is None:
        raise UsageError(f"no run '{run_id}'; list runs with `reviewbot runs`")
    click.echo(json.dumps(view, indent=2) if fmt == "json" else run_tree(view))
    return int(ExitCode.OK)


def steer_run(repo: Path, run_id: str, action: str) -> None:
    """Ask the live run to stop, pause or continue (a usage error when it is not live)."""
    from reviewbot.dashboard.data import ControlRefused, steer

    try:
        written = steer(_state(repo), run_id, action, by="cli")
    except ControlRefused as exc:
        raise UsageError(f"{exc}; list runs with `reviewbot runs`") from None
    click.echo(f"run {run_id}: asked to {action} (picked up within a second): "
               f"{written['means']}", err=True)


def _steer_command(action: str, doc: str) -> click.Command:
    @click.command(name=action, help=doc)
    @click.argument("run_id", metavar="RUN")
    @_repo_option
    def command(run_id: str, repo: Path) -> int:
        steer_run(repo, run_id, action)
        return int(ExitCode.OK)

    return command


stop = _steer_command(
    "stop", "Stop the live run RUN: no new agent starts, running ones finish, and the result "
    "is kept as partial.")
pause = _steer_command(
    "pause", "Pause the live run RUN: no new agent (of a distributed migration: no new batch) "
    "starts until `reviewbot resume RUN`; running ones finish.")
