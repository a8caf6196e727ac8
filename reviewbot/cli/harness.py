"""`reviewbot harness generate|check|dry-run|run`: generated harnesses, checked and sandboxed."""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import click

from reviewbot.cli.common import (
    config_option,
    emit_outcome,
    param_option,
    root_and_config,
)
from reviewbot.cli.harness_check import (  # verdict_line, warning_lines: for cli.plan too
    check,
    echo_warnings,
    file_argument,
    require_file,
    verdict_line,  # noqa: F401
    warning_lines,  # noqa: F401
)
from reviewbot.config import Config
from reviewbot.errors import ExitCode, UsageError
from reviewbot.git import shared_git_dir
from reviewbot.harness import parse_param_args, run_harness
from reviewbot.harness.checker import check_harness_file
from reviewbot.harness.dryrun import (
    DEFAULT_ITEMS_PER_LIST,
    DEFAULT_OUTPUT_TOKENS_HIGH,
    DryRunReport,
    dry_run,
    vary_strings,
    widen_schema,
)
from reviewbot.harness.generator import (
    MAX_ATTEMPTS,
    GeneratedHarness,
    default_output,
    generate_harness,
    write_generated,
)
from reviewbot.harness.loader import Harness
from reviewbot.harness.sandbox import describe_isolation, load_sandboxed
from reviewbot.models import ModelAccess, make_client, model_access
from reviewbot.report.cost import cost_line, dollars
from reviewbot.report.progress import make_progress
from reviewbot.runtime.errors import ModelsUnavailable
from reviewbot.runtime.run import NO_MODELS_MESSAGE, Run
from reviewbot.runtime.stats import RunStats
from reviewbot.testing import MessagesRequest, ModelServer, Reply, minimal_instance


@contextlib.contextmanager
def simulated_model(items_per_list: int = DEFAULT_ITEMS_PER_LIST) -> Iterator[ModelServer]:
    """The dry run's model: a loopback server answering every structured request with a
    schema-valid instance whose lists hold ``items_per_list`` items."""

    serial = itertools.count(1)
    lock = threading.Lock()

    def answer(request: MessagesRequest) -> Any:
        schema = request.output_schema
        if schema is None:
            return Reply.text("OK")
        with lock:
            number = next(serial)
        instance = minimal_instance(widen_schema(schema, items_per_list))
        return Reply.json(vary_strings(instance, str(number)))

    # A fresh key per server: the client must be ours, never one configured for real spend.
    with ModelServer(answer, api_key=secrets.token_hex(16), models=["*"]) as server:
        yield server


def estimate(
    harness: Harness, params: dict[str, Any], config: Config, *,
    items_per_list: int = DEFAULT_ITEMS_PER_LIST,
    output_tokens_high: int = DEFAULT_OUTPUT_TOKENS_HIGH, workspace: Path | None = None,
) -> DryRunReport:
    """A dry run of ``harness`` against :func:`simulated_model` (``run.repo`` reads
    ``workspace`` for real: it costs nothing)."""
    with simulated_model(items_per_list) as server:
        return dry_run(
            harness, params, config=config, model=server, api_key=server.api_key,
            items_per_list=items_per_list, output_tokens_high=output_tokens_high,
            workspace=workspace,
        )


_repo_option = click.option(
    "--repo", type=click.Path(path_type=Path, file_okay=False), default=Path("."),
    show_default=True, help="Repository the harness is for (its git dir keeps state).")
_items_option = click.option(
    "--items", "items_per_list", type=click.IntRange(0, 50), default=DEFAULT_ITEMS_PER_LIST,
    show_default=True, help="Items per list in the simulated answers of the dry run.")
_file_argument = file_argument
_require_file = require_file


@click.group()
def harness() -> None:
    """Generate, check, dry-run and run sandboxed harnesses; save, list and show them."""


@harness.command()
@click.argument("task")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write it (default: <git dir>/reviewbot/harnesses/<name>.py).")
@click.option("--budget", type=float, default=None, metavar="DOLLARS",
              help="Dollar budget for writing the harness (default: runtime.budget_usd).")
@_repo_option
@config_option
def generate(task: str, output: Path | None, budget: float | None, repo: Path,
             config_path: Path | None) -> int:
    """Have the orchestrator model write a harness for TASK; it must pass the checker."""
    root, config = root_and_config(repo, config_path)
    access = model_access(os.environ)
    if access is None:
        raise ModelsUnavailable(NO_MODELS_MESSAGE)
    if output is None and shared_git_dir(root) is None:
        # fail before spending anything when there is nowhere to write
        raise UsageError(f"{root} is not inside a git repository; pass -o FILE")

    generated, stats = write_harness(task, config=config, access=access, name="generate",
                                     budget_usd=budget)
    path = write_generated(generated, output or default_output(generated.name, root))
    click.echo(f"wrote {path}: {generated.meta.name} — {generated.description} "
               f"(max_agents {generated.meta.max_agents}, budget {dollars(generated.budget_usd)}, "
               f"{generated.attempts} attempt{'s' if generated.attempts != 1 else ''})")
    echo_warnings(generated.report, path)
    click.echo(f"next: reviewbot harness dry-run {path}", err=True)
    click.echo(cost_line(stats), err=True)
    return int(ExitCode.OK)


def write_harness(
    task: str, *, config: Config, access: ModelAccess, name: str,
    budget_usd: float | None = None, max_attempts: int = MAX_ATTEMPTS,
    repository: str | None = None, kind: str | None = None,
) -> tuple[GeneratedHarness, RunStats]:
    """The orchestrator's harness for ``task`` (see ``generate_harness``) and what writing
    it cost. A failed or interrupted generation still prints its cost line."""
    runs: list[Run] = []
    started = time.monotonic()

    async def write() -> GeneratedHarness:
        client = make_client(access, config.models)
        run = Run(run_id=name, config=config, client=client, harness=name,
                  budget_usd=budget_usd)
        runs.append(run)
        try:
            return await generate_harness(task, run=run, max_attempts=max_attempts,
                                          repository=repository, kind=kind)
        finally:
            await client.close()

    try:
        generated = anyio.run(write)
    except BaseException:
        if runs:
            runs[0].stats.wall_seconds = time.monotonic() - started
            click.echo(cost_line(runs[0].stats), err=True)
        raise
    runs[0].stats.wall_seconds = time.monotonic() - started
    return generated, runs[0].stats


harness.add_command(check)


@harness.command(name="dry-run")
@_file_argument
@param_option
@_items_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@_repo_option
@config_option
def dry_run_command(file: Path, param_pairs: tuple[str, ...], items_per_list: int, fmt: str,
                    repo: Path, config_path: Path | None) -> int:
    """Run a harness against a simulated model: agents per phase/role/tier and a cost range."""
    _require_file(file)
    root, config = root_and_config(repo, config_path)
    loaded = load_sandboxed(file)
    report = estimate(loaded, dict(parse_param_args(param_pairs)), config,
                      items_per_list=items_per_list, workspace=root)
    click.echo(report.model_dump_json(indent=2) if fmt == "json" else report.describe())
    if fmt != "json":
        click.echo(describe_isolation(), err=True)
    return int(ExitCode.OK)


@harness.command(name="run")
@_file_argument
@param_option
@click.option("--budget", type=float, default=None, metavar="DOLLARS",
              help="Dollar budget (default: the harness's META budget_usd).")
@click.option("--yes", is_flag=True, help="Run without asking after the estimate.")
@_items_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json prints exactly the harness result on stdout.")
@click.option("--quiet", is_flag=True, help="No progress output (the cost line remains).")
@_repo_option
@config_option
def run_command(file: Path, param_pairs: tuple[str, ...], budget: float | None, yes: bool,
                items_per_list: int, fmt: str, quiet: bool, repo: Path,
                config_path: Path | None) -> int:
    """Check, dry-run, then run a generated harness in the sandbox within its budget."""
    _require_file(file)
    if budget is not None and budget <= 0:
        raise UsageError("--budget must be a dollar amount > 0")
    root, config = root_and_config(repo, config_path)
    report = check_harness_file(file)
    if not report.ok:
        first = report.problems[0]
        raise UsageError(f"{file}:{first.line}: {first.message} (see `reviewbot harness check "
                         f"{file}`)")
    assert report.budget_usd is not None
    limit = budget if budget is not None else report.budget_usd
    loaded = load_sandboxed(file)
    params = dict(parse_param_args(param_pairs))
    est = estimate(loaded, params, config, items_per_list=items_per_list, workspace=root)
    click.echo(est.describe(), err=True)
    click.echo(describe_isolation(), err=True)
    return run_within_estimate(loaded, params, est=est, limit=limit, config=config, root=root,
                               yes=yes, quiet=quiet, fmt=fmt)


def confirmed(question: str, *, yes: bool) -> bool:
    """``yes``, else the user's answer on a terminal (without one, ``--yes`` is required)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("pass --yes to run without confirmation")
    return click.confirm(question, err=True)


def run_within_estimate(
    loaded: Harness, params: dict[str, Any], *, est: DryRunReport, limit: float, config: Config,
    root: Path, yes: bool, quiet: bool, fmt: str,
) -> int:
    """Refuse a run whose high estimate exceeds ``limit``, ask (unless ``yes``), then run it
    with ``limit`` as its budget: the result on stdout, the cost line on stderr."""
    if est.est_cost_high > limit:
        raise UsageError(
            f"the estimate (up to {dollars(est.est_cost_high)}) exceeds the budget "
            f"{dollars(limit)}; raise --budget to at least {dollars(est.est_cost_high)} to run it"
        )
    if not confirmed(f"run {loaded.name} with budget {dollars(limit)}?", yes=yes):
        return int(ExitCode.OK)
    outcome = run_harness(loaded, params, config=config, repo_path=root, budget_usd=limit,
                          progress=make_progress("quiet" if quiet else "auto", sys.stderr))
    click.echo(f"keep it as a command: reviewbot harness save {outcome.run_id} NAME, then "
               "reviewbot run NAME", err=True)
    code = emit_outcome(outcome, fmt)
    if outcome.status == "partial":
        click.echo(f"run {outcome.run_id} stopped early ({outcome.stats.stop_reason}); the "
                   "result is partial", err=True)
    return code


# Saved harnesses: `harness save RUN NAME`, `harness list`, `harness show NAME`.
from reviewbot.cli.harness_saved import list_command, save, show  # noqa: E402

for _command in (save, list_command, show):
    harness.add_command(_command)
