"""The `reviewbot` command line.

Commands live in their own modules and are imported only when invoked, so that
`reviewbot --help` and small commands start fast and a broken optional module
cannot take the whole CLI down.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

import click

from reviewbot import __version__
from reviewbot.errors import ExitCode, ReviewbotError

# command name -> ("module:attribute" of a click.Command, short help for the listing)
COMMANDS: dict[str, tuple[str, str]] = {
    "review": ("reviewbot.cli.review:review", "Review a change and report verified findings."),
    "eval": (
        "reviewbot.cli.eval:eval_command",
        "Score reviews against golden comments (the Martian benchmark's format).",
    ),
    "migrate": (
        "reviewbot.cli.migrate:migrate",
        "Migrate call sites file by file onto one branch.",
    ),
    "run": ("reviewbot.cli.run:run", "Run a harness file."),
    "resume": (
        "reviewbot.cli.run:resume",
        "Resume an interrupted run, or continue a paused live one.",
    ),
    "runs": ("reviewbot.cli.runs:runs", "List the repository's runs."),
    "show": ("reviewbot.cli.runs:show", "Show a run's phase tree and totals."),
    "stop": ("reviewbot.cli.runs:stop", "Stop a live run (its finished results are kept)."),
    "pause": ("reviewbot.cli.runs:pause", "Pause a live run (resume continues it)."),
    "find": ("reviewbot.cli.find:find", "Find call sites of a symbol."),
    "memory": (
        "reviewbot.cli.memory:memory",
        "List or forget the dismissals the repository remembers.",
    ),
    "diff": ("reviewbot.cli.diff:diff", "Show a change set, skipped files and changed symbols."),
    "action": ("reviewbot.cli.action:action", "Run as a GitHub Action step."),
    "harness": (
        "reviewbot.cli.harness_check:harness",
        "Generate, check, dry-run, run, save, list and show harnesses.",
    ),
    "plan": (
        "reviewbot.cli.plan:plan",
        "Have a harness written for a task: source, verdict, estimate; --run runs it.",
    ),
    "dashboard": ("reviewbot.cli.dashboard:dashboard", "Serve a live web dashboard of runs."),
    "control": ("reviewbot.cli.dashboard:control", "Stop, pause or continue a live run."),
    "worker": (
        "reviewbot.cli.worker:worker",
        "Run distributed migrations' tasks for a Temporal service.",
    ),
    "serve-model": (
        "reviewbot.cli.serve:serve_model",
        "Serve the loopback Anthropic-compatible test server.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader of stdout went away (`| head`): not a failure (Click would exit 1,
            # the findings status). `review` keeps its findings status itself.
            from reviewbot.cli.common import silence_stdout

            silence_stdout()
            return int(ExitCode.OK)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing comes from the registry so that `--help` imports no command module.
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reviewbot")
def cli() -> None:
    """Review changes and migrate code with verified, cost-aware sub-agents."""


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: runs the CLI and turns user-facing errors into one line and an exit code.

    Commands return their exit code (an ``int``/``ExitCode``) or ``None`` for success.
    """
    try:
        result = cli.main(args=argv, prog_name="reviewbot", standalone_mode=False)
    except ReviewbotError as exc:
        click.echo(f"reviewbot: error: {exc.message}", err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo("reviewbot: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except KeyboardInterrupt:
        click.echo("reviewbot: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.ClickException as exc:
        # Click's own usage errors in the documented one-line form.
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = " ".join(exc.format_message().split())
        click.echo(f"reviewbot: error: {message}{hint}", err=True)
        sys.exit(int(ExitCode.USAGE) if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(int(result) if isinstance(result, int) else 0)
