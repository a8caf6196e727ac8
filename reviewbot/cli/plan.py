"""`reviewbot plan "TASK"`: have a harness written for a task, checked and estimated; then run it.

The orchestrator reads the task and a summary of the repository and writes the
harness (``harness.generator``; one repair round with the checker's problems). The
user sees the source, the checker's verdict with its lint warnings and the dry-run
estimate before anything else spends; ``--run`` continues into the sandboxed run
after a confirmation. Without a model service the closest built-in harness is
picked and parameterised instead (``harness.closest``), and nothing is spent.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.syntax import Syntax

from reviewbot.cli.common import (
    config_option,
    emit_outcome,
    param_option,
    root_and_config,
    stdout_console,
)
from reviewbot.cli.harness import confirmed, estimate, run_within_estimate, write_harness
from reviewbot.cli.harness_check import verdict_line, warning_lines
from reviewbot.config import Config
from reviewbot.errors import ExitCode, UsageError
from reviewbot.git import shared_git_dir
from reviewbot.harness import builtin_harness, parse_param_args, run_harness
from reviewbot.harness.closest import closest_builtin
from reviewbot.harness.generator import KINDS, GeneratedHarness, default_output, write_generated
from reviewbot.harness.repo_summary import RepoSummary, summarize_repo
from reviewbot.harness.sandbox import describe_isolation, load_sandboxed
from reviewbot.models import model_access
from reviewbot.report.cost import cost_line, dollars
from reviewbot.report.progress import make_progress
from reviewbot.runtime.stats import RunStats

# The first draft and one repair round with the checker's problems.
ATTEMPTS = 2


@click.command()
@click.argument("task")
@click.option("--kind", type=click.Choice(sorted(KINDS)), default=None,
              help="What the harness delivers (default: the orchestrator decides).")
@click.option("--run", "run_it", is_flag=True, help="Run the harness after the estimate.")
@click.option("--yes", is_flag=True, help="With --run: run without asking.")
@param_option
@click.option("--budget", type=float, default=None, metavar="DOLLARS",
              help="Dollar budget of the run (default: the harness's META budget_usd).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help="With --run: json prints exactly the result on stdout (the plan on stderr).")
@click.option("--quiet", is_flag=True, help="No progress output (the cost line remains).")
@click.option("--repo", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
              show_default=True, help="Repository the task is about.")
@config_option
def plan(task: str, kind: str | None, run_it: bool, yes: bool, param_pairs: tuple[str, ...],
         budget: float | None, fmt: str, quiet: bool, repo: Path,
         config_path: Path | None) -> int:
    """Have a harness written for TASK: its source, the checker's verdict and the estimate."""
    if not task.strip():
        raise UsageError('describe the task: reviewbot plan "TASK"')
    if budget is not None and budget <= 0:
        raise UsageError("--budget must be a dollar amount > 0")
    root, config = root_and_config(repo, config_path)
    if shared_git_dir(root) is None:
        # before anything is spent: the summary and the saved harness need a repository
        raise UsageError(f"{root} is not inside a git repository; pass --repo PATH")
    params = dict(parse_param_args(param_pairs))
    # With --format json stdout carries only the run's result; the plan goes to stderr.
    out = _Out(err=fmt == "json")
    access = model_access(os.environ)
    if access is None:
        return _builtin_plan(task, kind, config, root, params, out, run_it=run_it, yes=yes,
                             fmt=fmt, quiet=quiet)

    summary = summarize_repo(root, config)
    generated, writing = write_harness(task, config=config, access=access, name="plan",
                                       max_attempts=ATTEMPTS, repository=summary.describe(),
                                       kind=kind)
    path = write_generated(generated, default_output(generated.name, root))
    _show_generated(out, generated, writing, summary, path)
    try:
        loaded = load_sandboxed(path)
        est = estimate(loaded, params, config, workspace=root)
    except BaseException:
        click.echo(cost_line(writing), err=True)  # the harness is written and paid for
        raise
    out.echo("\nestimate:")
    out.echo(est.describe())
    limit = budget if budget is not None else generated.budget_usd
    if not run_it:
        args = "".join(f" -p {shlex.quote(f'{k}={v}')}" for k, v in params.items())
        if est.est_cost_high > limit:
            click.echo(f"\nthe high estimate {dollars(est.est_cost_high)} exceeds the budget "
                       f"{dollars(limit)}: a run would be refused; raise --budget", err=True)
        click.echo(f"\nnext: reviewbot harness run {path} --budget {limit:g}{args}", err=True)
        click.echo(cost_line(writing), err=True)
        return int(ExitCode.OK)
    click.echo(describe_isolation(), err=True)
    # What writing the harness cost; the run ends with its own cost line.
    click.echo(f"plan {cost_line(writing)}", err=True)
    return run_within_estimate(loaded, params, est=est, limit=limit, config=config, root=root,
                               yes=yes, quiet=quiet, fmt=fmt)


class _Out:
    """Where the plan is shown: stdout, or stderr when stdout is kept for a JSON result."""

    def __init__(self, *, err: bool) -> None:
        self.err = err

    def echo(self, text: str = "") -> None:
        click.echo(text, err=self.err)

    def source(self, source: str) -> None:
        """Highlighted with line numbers on a terminal; as it is (to pipe or save) otherwise."""
        stream = sys.stderr if self.err else sys.stdout
        if stream.isatty():
            console = Console(stderr=True) if self.err else stdout_console()
            console.print(Syntax(source, "python", line_numbers=True, word_wrap=True))
        else:
            self.echo(source.rstrip("\n"))


def _show_generated(out: _Out, generated: GeneratedHarness, stats: RunStats,
                    summary: RepoSummary, path: Path) -> None:
    tries = "1 attempt" if generated.attempts == 1 else f"{generated.attempts} attempts"
    out.echo(f"the orchestrator wrote {generated.meta.name}: {generated.description} ({tries})")
    for note in stats.notes:  # the drafts the checker refused, and why
        out.echo(f"  {note}")
    out.echo("  from the task and this summary of the repository:")
    for line in summary.describe().splitlines():
        out.echo(f"    {line}")
    out.echo(f"saved: {path}\n")
    out.source(generated.source)
    out.echo("\nverdict:")
    out.echo(verdict_line(generated.report))
    for line in warning_lines(generated.report, path):
        out.echo(line)


def _builtin_plan(task: str, kind: str | None, config: Config, root: Path,
                  given: dict[str, str], out: _Out, *, run_it: bool, yes: bool, fmt: str,
                  quiet: bool) -> int:
    """No model service: the closest built-in harness, parameterised from the task's words."""
    choice = closest_builtin(task, kind, config)
    harness = builtin_harness(choice.name)
    params: dict[str, Any] = {**choice.params, **given}
    if "repo" in harness.meta.parameters:
        params.setdefault("repo", str(root))  # the built-ins default to the current directory
    out.echo(f"no model service configured, so no harness was written for this task: the "
             f"closest built-in harness is {choice.name} ({choice.reason})")
    for note in choice.notes:
        out.echo(f"  note: {note}")
    shown = "".join(f" --param {shlex.quote(f'{k}={v}')}" for k, v in params.items())
    out.echo(f"  reviewbot run {choice.name}{shown}")
    out.echo("  without a model it runs only its deterministic tiers and spends nothing; set "
             "ANTHROPIC_API_KEY (or ANTHROPIC_BASE_URL for a compatible server) to have a "
             "harness written for the task")
    if not run_it or not confirmed(f"run {choice.name}?", yes=yes):
        click.echo(cost_line(RunStats(run_id="plan", harness="plan")), err=True)
        return int(ExitCode.OK)
    outcome = run_harness(harness, params, config=config, repo_path=root,
                          progress=make_progress("quiet" if quiet else "auto", sys.stderr))
    code = emit_outcome(outcome, fmt)
    return code
