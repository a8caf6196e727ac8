"""`reviewbot action`: the entry of the GitHub Action (see action.yml)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from reviewbot.config import Severity

# action.yml input -> the environment variable its step sets for `reviewbot action`.
# The model layer reads ANTHROPIC_*, the GitHub layer the standard GITHUB_* variables; the
# rest are options of this command. A test checks action.yml against this table.
ACTION_INPUTS: dict[str, str] = {
    "anthropic-api-key": "ANTHROPIC_API_KEY",
    "base-url": "ANTHROPIC_BASE_URL",
    "github-token": "GITHUB_TOKEN",
    # GITHUB_* defaults cannot be overridden in a workflow: the input needs its own name.
    "github-api-url": "REVIEWBOT_GITHUB_API_URL",
    "mode": "REVIEWBOT_MODE",
    "config": "REVIEWBOT_CONFIG",
    "fail-on": "REVIEWBOT_FAIL_ON",
    "max-cost": "REVIEWBOT_MAX_COST",
}
ACTION_OUTPUTS = ("findings", "sarif", "cost")


@click.command("action")
@click.option(
    "--mode",
    type=click.Choice(["review", "migrate"]),
    default="review",
    envvar="REVIEWBOT_MODE",
    show_default=True,
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="REVIEWBOT_CONFIG",
    default=None,
    help="Configuration file (default: .reviewbot.toml or pyproject.toml of the checkout).",
)
@click.option(
    "--fail-on",
    type=click.Choice([s.value for s in Severity]),
    envvar="REVIEWBOT_FAIL_ON",
    default=None,
    help="Exit 1 when a finding at or above this severity is open.",
)
@click.option(
    "--max-cost",
    type=float,
    envvar="REVIEWBOT_MAX_COST",
    default=None,
    help="Budget in US dollars.",
)
@click.option(
    "--post-only",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Post a result JSON made by an unprivileged job (the fork-safe pattern); no model runs.",
)
@click.option(
    "--result-out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the review result as JSON (to upload as an artifact).",
)
@click.option(
    "--no-post", is_flag=True, help="Run the job but post nothing (for the unprivileged job)."
)
@click.option(
    "--sarif",
    "sarif_out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Where to write the SARIF file (default: $RUNNER_TEMP/reviewbot.sarif).",
)
def action(
    mode: str,
    config_path: Path | None,
    fail_on: str | None,
    max_cost: float | None,
    post_only: Path | None,
    result_out: Path | None,
    no_post: bool,
    sarif_out: Path | None,
) -> int:
    """Run inside GitHub Actions: review a pull request or run a migration, and post the result."""
    from reviewbot.github import ActionOptions, run_action

    # Empty strings are what Actions passes for inputs left unset.
    options = ActionOptions(
        mode=mode or "review",  # type: ignore[arg-type]
        config=config_path if config_path and str(config_path) else None,
        fail_on=Severity(fail_on) if fail_on else None,
        max_cost=max_cost,
        post_only=post_only,
        result_out=result_out,
        no_post=no_post,
        sarif_out=sarif_out,
    )
    outcome = run_action(os.environ, options)
    line = f"reviewbot action: {outcome.task.value}"
    if outcome.reason:
        line += f" ({outcome.reason})"
    if outcome.published is not None:
        p = outcome.published
        line += (
            f": {len(p.inline)} new inline, "
            f"{len(p.outside_diff) + len(p.over_limit)} in the summary, "
            f"{len(p.fixed)} fixed, {p.open_count} open"
        )
    if outcome.pull_number is not None:
        verb = "opened" if outcome.pull_created else "updated"
        line += f": pull request #{outcome.pull_number} {verb}"
    click.echo(line, err=True)
    return outcome.exit_code
