"""`reviewbot eval`: reviewbot's finding quality against golden comments of a public benchmark."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reviewbot.cli.common import KeepFinish
from reviewbot.config import load_config
from reviewbot.errors import ReviewbotError
from reviewbot.harness import builtin_harness, run_harness
from reviewbot.report.cost import dollars
from reviewbot.report.progress import make_progress
from reviewbot.review.eval import (
    EvalCase,
    PRRun,
    PRScore,
    benchmark_data,
    evaluations,
    f1_of,
    fetch_missing,
    load_cases,
    totals,
)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render_table(cases: list[EvalCase], runs: list[PRRun]) -> str:
    """Per pull request and in total: golden, found, matched, precision, recall, F1, cost."""
    rows = [("pull request", "golden", "found", "tp", "precision", "recall", "f1", "cost")]
    for case, pr_run in zip(cases, runs, strict=True):
        s = pr_run.score
        judged = s.judged and not s.skipped
        rows.append((case.pr.url, str(s.total_golden), str(s.total_candidates), str(s.tp),
                     _percent(s.precision if judged else None),
                     _percent(s.recall if judged else None),
                     _percent(f1_of(s) if judged else None), dollars(s.cost_usd)))
    t = totals(runs)
    rows.append((f"total ({t.prs} PRs)", str(t.golden), str(t.candidates), str(t.tp),
                 _percent(t.precision), _percent(t.recall), _percent(t.f1),
                 dollars(t.cost_usd)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    if t.prs:
        lines.append(f"cost per PR: {dollars(t.cost_usd / t.prs)}")
    return "\n".join(lines)


def _review_one(case: EvalCase, *, config_file: Path | None, budget: float | None,
                thorough: bool, quiet: bool) -> PRRun:
    fetched = fetch_missing(case)
    if fetched is not None:
        click.echo(fetched, err=True)
    config = load_config(case.repo, config_file)
    params = {"base": case.base, "head": case.head, "thorough": thorough,
              "golden": json.dumps([c.model_dump() for c in case.pr.comments])}
    progress = KeepFinish(make_progress("quiet" if quiet else "auto", sys.stderr))
    try:
        outcome = run_harness(builtin_harness("eval"), params, config=config,
                              repo_path=case.repo, budget_usd=budget, progress=progress)
    except ReviewbotError as exc:
        # One pull request that cannot be reviewed (a missing commit) does not end the eval.
        return PRRun(comments=[], score=PRScore(skipped=True, reason=exc.message),
                     notes=[fetched] if fetched is not None else [])
    total = outcome.stats.total
    if outcome.result is None:
        why = f"the run stopped ({outcome.stats.stop_reason}) before it had a result"
        pr_run = PRRun(comments=[], score=PRScore(skipped=True, reason=why))
    else:
        pr_run = PRRun.model_validate(outcome.result)
    pr_run.notes += [fetched] if fetched is not None else []
    pr_run.score.cost_usd = total.cost_usd
    pr_run.score.agents = total.agents
    return pr_run


@click.command("eval")
@click.argument("golden", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--repos", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory with a local checkout of each pull request's repository.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='JSON {"<golden url>": {"repo", "base", "head"}} (default: '
              "REPOS/manifest.json).")
@click.option("--tool", default="reviewbot", show_default=True,
              help="The tool name written into the benchmark-shaped output.")
@click.option("--output", type=click.Path(file_okay=False, path_type=Path),
              default=Path("eval-results"), show_default=True,
              help="Where benchmark_data.json, evaluations.json and summary.json go.")
@click.option("--thorough", is_flag=True, help="Review in thorough mode.")
@click.option("--budget", type=click.FloatRange(min=0), default=None, metavar="DOLLARS",
              help="Dollar budget per pull request (default: runtime.budget_usd).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
              metavar="FILE", help="Configuration file (default: each repository's own).")
@click.option("--quiet", is_flag=True, help="No progress output.")
def eval_command(golden: Path, repos: Path, manifest: Path | None, tool: str, output: Path,
                 thorough: bool, budget: float | None, config_file: Path | None,
                 quiet: bool) -> int:
    """Review golden pull requests; score the findings as the Martian benchmark does."""
    cases, notes = load_cases(golden, repos, manifest or repos / "manifest.json")
    runs = [_review_one(case, config_file=config_file, budget=budget, thorough=thorough,
                        quiet=quiet) for case in cases]
    output.mkdir(parents=True, exist_ok=True)
    files = {
        "benchmark_data.json": benchmark_data(cases, runs, tool, golden.name),
        "evaluations.json": evaluations(cases, runs, tool),
        "summary.json": {"tool": tool, "totals": totals(runs).model_dump(),
                         "notes": list(dict.fromkeys(notes + [n for r in runs for n in r.notes]))},
    }
    for name, data in files.items():
        (output / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    click.echo(render_table(cases, runs))
    for note in notes:
        click.echo(note, err=True)
    for case, pr_run in zip(cases, runs, strict=True):
        if pr_run.score.skipped or not pr_run.score.judged:
            click.echo(f"{case.pr.url}: {pr_run.score.reason}", err=True)
    click.echo(f"wrote {', '.join(str(output / n) for n in files)}", err=True)
    return 0
