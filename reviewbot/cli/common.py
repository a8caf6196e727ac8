"""What the harness-running commands (`run`, `resume`, `harness`) share: the repository a
command is for, its configuration, and how a run's result and cost reach the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import click

from reviewbot.errors import ExitCode
from reviewbot.git import working_tree_root

# Imported where used: a command that only lists (`resume --list`, `runs`) must not pay for
# the configuration models, the progress renderer or rich.
if TYPE_CHECKING:  # the runner pulls in the model SDK: not for `runs`, `show` and `--help`
    from rich.console import Console

    from reviewbot.config import Config
    from reviewbot.harness import HarnessOutcome
    from reviewbot.report.progress import Progress
    from reviewbot.runtime.events import RunFinished

# The same option on every command that takes it.
param_option = click.option(
    "--param", "-p", "param_pairs", multiple=True, metavar="KEY=VALUE",
    help="A harness parameter (repeatable), coerced by the harness's META types.")
config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help="Configuration file (default: .reviewbot.toml or pyproject.toml).")


def repo_root(path: Path) -> Path:
    """The working tree root of the repository containing ``path`` (else ``path``)."""
    return working_tree_root(path) or path


def root_and_config(repo: Path, config_path: Path | None) -> tuple[Path, Config]:
    """The root of ``--repo`` and the configuration found there (or in ``--config``)."""
    from reviewbot.config import load_config

    root = repo_root(repo.resolve())
    return root, load_config(root, config_path)


def emit_outcome(outcome: HarnessOutcome, fmt: str) -> int:
    """The harness result on stdout (exactly its JSON with ``--format json``), the cost line
    on stderr; returns 3 when a phase had no answer (else 0)."""
    from reviewbot.report.cost import cost_line, failed_message

    if fmt == "json":
        click.echo(json.dumps(outcome.result))
    elif isinstance(outcome.result, str):
        click.echo(outcome.result)
    elif outcome.result is not None:
        click.echo(json.dumps(outcome.result, indent=2))
    click.echo(cost_line(outcome.stats), err=True)
    failed = failed_message(outcome.stats)
    if failed is not None:
        click.echo(f"reviewbot: error: {failed}", err=True)
        return int(ExitCode.ENVIRONMENT)
    return int(ExitCode.OK)


def silence_stdout() -> None:
    """The reader of stdout went away (``reviewbot review | head -1``): send the rest of
    the output, and the interpreter's final flush, to /dev/null instead of failing."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (tests): nothing to redirect
        pass


def stdout_console(**options: Any) -> Console:
    """A rich console on stdout that raises ``BrokenPipeError`` when the reader goes away
    (rich's own handling exits 1, which is the findings exit status)."""
    from rich.console import Console

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _PipeConsole(**options)


class KeepFinish:
    """Forwards events to the progress renderer and keeps the run's final event."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.finished: RunFinished | None = None

    def __call__(self, event: Any) -> None:
        from reviewbot.runtime.events import RunFinished

        if isinstance(event, RunFinished):
            self.finished = event
        self.inner(event)

    def __enter__(self) -> KeepFinish:
        self.inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.inner.__exit__(exc_type, exc, tb)

    def cost_line(self) -> str | None:
        """The cost line of the run that finished (also failed or interrupted), if it did."""
        from reviewbot.report.cost import cost_line
        from reviewbot.runtime.stats import RunStats

        if self.finished is None:
            return None
        return cost_line(RunStats.model_validate(self.finished.stats))
