"""`reviewbot harness check FILE`, and the `harness` group that loads its other commands
only when they are run.

Checking a file is a static analysis: it must start in a blink, so this module imports
neither the runner, the sandbox nor the model client that `generate`, `dry-run` and `run`
need (those live in :mod:`reviewbot.cli.harness`).
"""

from __future__ import annotations

from pathlib import Path

import click

from reviewbot.errors import ExitCode, UsageError
from reviewbot.harness.checker import CheckReport, check_harness_file
from reviewbot.report.cost import dollars

file_argument = click.argument("file", type=click.Path(path_type=Path, dir_okay=False))


def require_file(file: Path) -> None:
    if not file.is_file():
        raise UsageError(f"harness file {file} does not exist; pass the path of a .py file")


@click.command()
@file_argument
def check(file: Path) -> int:
    """Check a harness file against the rules for generated harnesses."""
    require_file(file)
    report = check_harness_file(file)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"{file}:{problem.line}: {problem.message}")
        echo_warnings(report, file)
        click.echo(f"{len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}",
                   err=True)
        return int(ExitCode.USAGE)
    click.echo(verdict_line(report))
    echo_warnings(report, file)
    return int(ExitCode.OK)


def verdict_line(report: CheckReport) -> str:
    """``ok: NAME (max_agents N, budget $X)`` and how many lint warnings it has."""
    assert report.meta is not None and report.budget_usd is not None
    count = len(report.warnings)
    warned = f"; {count} warning{'s' if count != 1 else ''}" if count else ""
    return (f"ok: {report.meta.name} (max_agents {report.meta.max_agents}, "
            f"budget {dollars(report.budget_usd)}){warned}")


def warning_lines(report: CheckReport, where: Path | str) -> list[str]:
    """The lint warnings, one line each, in the compiler style ``FILE:LINE: warning: ...``."""
    return [f"{where}:{w.line}: warning: {w.message} [{w.rule}]" for w in report.warnings]


def echo_warnings(report: CheckReport, where: Path | str) -> None:
    for line in warning_lines(report, where):
        click.echo(line)


class _HarnessGroup(click.Group):
    """`check` from here; every other command from :mod:`reviewbot.cli.harness`."""

    def _full(self) -> click.Group:
        from reviewbot.cli.harness import harness as full

        return full

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._full().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "check":
            return check
        return self._full().get_command(ctx, cmd_name)


@click.group(cls=_HarnessGroup)
def harness() -> None:
    """Generate, check, dry-run and run sandboxed harnesses; save, list and show them."""
