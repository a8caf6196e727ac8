"""`reviewbot review`: review a change locally and report only verified findings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from reviewbot.cli.common import KeepFinish, silence_stdout, stdout_console
from reviewbot.cli.params import harness_options, harness_values
from reviewbot.config import Config, Severity, load_config
from reviewbot.errors import ExitCode, ReviewbotError, UsageError
from reviewbot.git import Repo
from reviewbot.harness import HarnessOutcome, builtin_harness, run_harness
from reviewbot.report.cost import cost_line, dollars, failed_message
from reviewbot.report.json_report import render_json
from reviewbot.report.markdown import render_markdown
from reviewbot.report.progress import make_progress
from reviewbot.report.sarif import render_sarif
from reviewbot.report.terminal import render_terminal
from reviewbot.review import (
    ReviewPlan,
    ReviewResult,
    assign_symbols,
    at_or_above,
    changed_symbols_for,
    open_target,
    plan_review,
    rules_for,
    select_dimensions,
    without_ignored,
)

FORMATS = ("text", "markdown", "json", "sarif")


def _dimension_names(value: str | None) -> list[str]:
    return [d.strip() for d in (value or "").split(",") if d.strip()]


def render_plan(plan: ReviewPlan, files: int) -> str:
    est = plan.estimate
    lines = [
        f"plan: {files} changed files, {plan.changed_lines} changed lines"
        + (" (tiny change: one finder covers every dimension)" if plan.tiny else ""),
        f"dimensions: {', '.join(plan.dimensions)}",
        f"shards: {len(plan.shards)}",
    ]
    for shard in plan.shards:
        shown = ", ".join(shard.paths[:6]) + (f", +{len(shard.paths) - 6} more"
                                              if len(shard.paths) > 6 else "")
        lines.append(f"  #{shard.index}: ~{shard.tokens:,} tokens of context: {shown}")
    agents = " · ".join(
        f"{phase} {lo}" if lo == hi else f"{phase} {lo}-{hi}"
        for phase, (lo, hi) in plan.agents.items()
    )
    lines.append(f"agents: {agents} (verify: {plan.skeptics_per_finding} skeptics per "
                 "finding, a judge on splits)")
    if est is not None:
        lines.append(
            f"estimate: {est.tokens_low:,}-{est.tokens_high:,} tokens, "
            f"{dollars(est.usd_low)}-{dollars(est.usd_high)} (dry run: nothing was spent)"
        )
    return "\n".join(lines)


def exit_code(result: ReviewResult, fail_on: Severity | None) -> int:
    if fail_on is not None and at_or_above(list(result.findings), fail_on):
        return int(ExitCode.FINDINGS)
    return int(ExitCode.OK)


def _dry_run(path: Path, config: Config, base: str | None, head: str | None,
             uncommitted: bool, names: list[str], fmt: str) -> int:
    target = open_target(path, base=base, head=head, uncommitted=uncommitted,
                         max_file_bytes=config.review.max_file_bytes)
    # As the real run: the repository's rules, without the files they ignore.
    rules = rules_for(target, config.review)
    target = without_ignored(target, rules.ignored)
    dims = select_dimensions(config.review, names)
    # The plan sizes shards with the changed symbols' callers block, as the real run does.
    symbols = changed_symbols_for(target.head_view, target.changes, target.base_view)
    assigned = assign_symbols(symbols, [c.path for c in target.reviewable])
    plan = plan_review(target.reviewable, target.head_view, dims, config, assigned, rules)
    if fmt == "json":
        click.echo(plan.model_dump_json(indent=2))
    else:
        click.echo(render_plan(plan, len(target.reviewable)) + _deeper_lines(config))
    return int(ExitCode.OK)


def _deeper_lines(config: Config) -> str:
    """What thorough mode and reproduction may add to the plan's one-round estimate."""
    review, lines = config.review, []
    if review.mode == "thorough":
        lines.append(f"thorough: up to {review.max_rounds} finder rounds (the estimate is one; "
                     "each more costs about its finders again, plus votes on what is new)")
    if review.reproduce != "off":
        tier = config.models.tier_for("reproducer").value
        lines.append(f"reproduce ({review.reproduce}): up to {review.max_reproductions} "
                     f"correctness findings get a reproducer ({tier} tier first) and a test run "
                     f"of at most {review.reproduce_timeout:g}s; a decisive one replaces the vote")
    return "".join("\n" + line for line in lines)


HARNESS = builtin_harness("review")
# The harness's parameters are the command's argument and options (stated once, in main).
PARAMS = HARNESS.meta.parameters


@click.command("review")
@harness_options(PARAMS)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help="Write the report to FILE instead of stdout.")
@click.option("--fail-on", type=click.Choice([s.value for s in Severity]), default=None,
              help="Exit 1 when a confirmed finding is at or above this severity.")
@click.option("--budget", type=click.FloatRange(min=0), default=None, metavar="DOLLARS",
              help="Dollar budget for this run (default: runtime.budget_usd).")
@click.option("--dry-run", is_flag=True,
              help="Print the plan and a cost estimate; spend nothing.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              metavar="FILE", help="Configuration file (default: .reviewbot.toml or pyproject).")
@click.option("--quiet", is_flag=True, help="No progress output (the cost line remains).")
def review(
    fmt: str, output: Path | None, fail_on: str | None, budget: float | None, dry_run: bool,
    config_file: Path | None, quiet: bool, **given: Any,
) -> int:
    """Review a change and report verified findings."""
    params = harness_values(PARAMS, given)
    path = Path(params.get("repo", "."))
    if not path.is_dir():
        raise UsageError(f"{path} is not a directory; pass a path inside a git repository")
    repo = Repo.open(path)
    config = load_config(repo.root, config_file)
    names = _dimension_names(params.get("dimensions"))
    select_dimensions(config.review, names)  # a bad name is a usage error before any work
    if dry_run:
        deeper: dict[str, Any] = {k: params[k] for k in ("mode", "reproduce") if k in params}
        config = config.model_copy(update={"review": config.review.model_copy(update=deeper)})
        return _dry_run(path, config, params.get("base"), params.get("head"),
                        params.get("uncommitted", True), names, fmt)

    params["repo"] = str(path.resolve())
    progress = KeepFinish(make_progress("quiet" if quiet else "auto", sys.stderr))
    try:
        outcome = run_harness(
            HARNESS, params, config=config, repo_path=repo.root, budget_usd=budget,
            progress=progress,
        )
    except ReviewbotError:
        # Interrupted or failed after it started: the run still ends with its cost line.
        line = progress.cost_line()
        if line is not None:
            click.echo(line, err=True)
        raise
    return finish_review(outcome, config, fmt=fmt, output=output, fail_on=fail_on)


def finish_review(
    outcome: HarnessOutcome, config: Config, *, fmt: str, output: Path | None = None,
    fail_on: str | None = None,
) -> int:
    """Report a review run (also a resumed one) and return the exit status."""
    if outcome.result is None:
        click.echo(cost_line(outcome.stats), err=True)
        raise ReviewbotError(
            f"run {outcome.run_id} stopped ({outcome.stats.stop_reason}) before it had a "
            f"report; raise --budget and run `reviewbot resume {outcome.run_id}`",
            exit_code=ExitCode.PARTIAL,
        )
    result = ReviewResult.model_validate(outcome.result)
    result.stats = outcome.stats
    result.partial = result.partial or outcome.stats.partial
    cost = cost_line(outcome.stats)

    try:
        _emit(result, fmt, output, cost)
    except BrokenPipeError:
        # The reader closed stdout (`| head -1`): quietly, with the exit status below.
        silence_stdout()
        click.echo(cost, err=True)
    severity = Severity(fail_on) if fail_on else config.review.fail_on
    code = exit_code(result, severity)
    failed = failed_message(outcome.stats)
    if failed is not None and code == ExitCode.OK:
        click.echo(f"reviewbot: error: {failed}", err=True)
        return int(ExitCode.ENVIRONMENT)
    return code


def _emit(result: ReviewResult, fmt: str, output: Path | None, cost: str) -> None:
    """The report (stdout or ``--output``), its notes and the cost line."""
    to_terminal = fmt == "text" and output is None
    if to_terminal:
        render_terminal(result, stdout_console(soft_wrap=False), cost=cost)
    else:
        if fmt == "text":
            assert output is not None
            with output.open("w", encoding="utf-8") as fh:
                render_terminal(result, Console(file=fh, width=100, no_color=True), cost=cost)
            text = None
        elif fmt == "markdown":
            text = render_markdown(result, cost=cost)
        elif fmt == "json":
            text = render_json(result)
        else:
            text = render_sarif(result)
        if text is not None:
            if output is not None:
                output.write_text(text, encoding="utf-8")
            else:
                click.echo(text, nl=False)
        for note in result.notes:
            click.echo(note, err=True)
        click.echo(cost, err=True)
