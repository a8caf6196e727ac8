"""`reviewbot harness save|list|show`: a run's harness kept in the repository as a command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reviewbot.cli.common import repo_root, stdout_console
from reviewbot.errors import ExitCode, UsageError
from reviewbot.harness.saved import find_harness, list_harnesses, save_run_harness
from reviewbot.runtime.journal import state_dir

_repo_option = click.option(
    "--repo", type=click.Path(path_type=Path, file_okay=False, exists=True), default=Path("."),
    show_default=True, help="The repository (saved harnesses live in its .reviewbot/).")


@click.command()
@click.argument("run_id", metavar="RUN")
@click.argument("name")
@click.option("--force", is_flag=True, help="Replace a saved harness of that name.")
@_repo_option
def save(run_id: str, name: str, force: bool, repo: Path) -> int:
    """Save the harness run RUN ran as .reviewbot/harnesses/NAME.py (commit it like code)."""
    root = repo_root(repo.resolve())
    path = save_run_harness(state_dir(root), root, run_id, name, force=force)
    click.echo(str(path))
    click.echo(f"saved run {run_id}'s harness as '{name}'; review and commit "
               f"{path.relative_to(root)}, run it with `reviewbot run {name}`", err=True)
    return int(ExitCode.OK)


@click.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@_repo_option
def list_command(fmt: str, repo: Path) -> int:
    """Built-in and saved harnesses, one line each."""
    entries = list_harnesses(repo_root(repo.resolve()))
    if fmt == "json":
        click.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return int(ExitCode.OK)
    width = max([len("NAME"), *(len(e.name) for e in entries)])
    click.echo(f"{'NAME':<{width}}  {'KIND':<9}  DESCRIPTION")
    for e in entries:
        kind = e.kind + ("*" if e.generated else "")
        click.echo(f"{e.name:<{width}}  {kind:<9}  {e.description}".rstrip())
    if any(e.generated for e in entries):
        click.echo("* generated: runs checked and sandboxed", err=True)
    return int(ExitCode.OK)


@click.command()
@click.argument("name")
@click.option("--params", "params_only", is_flag=True,
              help="Its parameters (type, default, how to pass each) instead of the source.")
@_repo_option
def show(name: str, params_only: bool, repo: Path) -> int:
    """Print the source of harness NAME (highlighted on a terminal)."""
    path = find_harness(repo_root(repo.resolve()), name)
    if path is None:
        raise UsageError(f"no harness '{name}'; list them with `reviewbot harness list`")
    if params_only:
        click.echo(parameter_table(name, path))
        return int(ExitCode.OK)
    source = path.read_text(encoding="utf-8", errors="replace")
    if sys.stdout.isatty():
        from rich.syntax import Syntax

        console = stdout_console()
        console.print(f"[dim]{path}[/dim]")
        console.print(Syntax(source, "python", line_numbers=True, word_wrap=False,
                             background_color="default"))
    else:
        click.echo(source, nl=False)
    return int(ExitCode.OK)


def parameter_table(name: str, path: Path) -> str:
    """One line per parameter: name, type, default, and how to pass it (``--param``, and the
    built-in command's own option where it has one)."""
    from reviewbot.harness import load_harness

    params = load_harness(path).meta.parameters
    if not params:
        return f"harness {name} takes no parameters"
    command = name if name in ("migrate", "review") else None
    rows = [("NAME", "TYPE", "DEFAULT", "PASS AS", "DESCRIPTION")]
    for key, spec in params.items():
        default = "(required)" if spec.required else repr(spec.default)
        how = f"--param {key}=..."
        if command is not None and spec.option.cli:
            how = (spec.option.metavar or key.upper() if spec.required or spec.option.argument
                   else spec.option.flag_for(key, negated=spec.type == "bool"
                                             and bool(spec.default)))
        rows.append((key, spec.type, default, how, spec.description))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True))
                     + "  " + r[4] for r in rows).rstrip()
