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

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "review": "reviewbot.cli.review:review",
    "migrate": "reviewbot.cli.migrate:migrate",
    "run": "reviewbot.cli.run:run",
    "resume": "reviewbot.cli.run:resume",
    "find": "reviewbot.cli.find:find",
    "diff": "reviewbot.cli.diff:diff",
    "action": "reviewbot.cli.action:action",
    "serve-model": "reviewbot.cli.serve:serve_model",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


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
        exc.show()
        sys.exit(int(ExitCode.USAGE) if exc.exit_code == 2 else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(int(result) if isinstance(result, int) else 0)
