"""`reviewbot memory list|forget`: the dismissals a repository remembers.

The memory is ``.reviewbot/memory.json`` in the working tree; ``forget`` edits that file
and leaves committing it to you (reviews read the memory at their base commit).
"""

from __future__ import annotations

from pathlib import Path

import click

from reviewbot.errors import UsageError
from reviewbot.git import Repo
from reviewbot.review.memory import MEMORY_FILE, Memory, parse_memory


def _load(path: str) -> tuple[Path, Memory]:
    file = Repo.open(path).root / MEMORY_FILE
    if not file.is_file():
        return file, Memory()
    memory, notes = parse_memory(file.read_text(encoding="utf-8"), where=str(file))
    if notes:
        raise UsageError(f"{notes[0]}; fix or remove it")
    return file, memory


@click.group()
def memory() -> None:
    """Show or edit the dismissals the repository remembers (.reviewbot/memory.json)."""


@memory.command("list")
@click.argument("path", default=".", type=click.Path(file_okay=False))
def list_memory(path: str) -> None:
    """List the remembered dismissals: ID, file, category, title, who, where and why."""
    file, remembered = _load(path)
    if not remembered.dismissed:
        click.echo(f"nothing remembered ({MEMORY_FILE} has no entries)")
        return
    click.echo("ID          PATH  CATEGORY  TITLE  BY  PR  REASON")
    for r in remembered.dismissed:
        pull = f"#{r.pull}" if r.pull else "-"
        click.echo(f"{r.id:<11} {r.path}  {r.category}  {r.title}  {r.by or '-'}  {pull}  "
                   f"{r.reason or '-'}")


@memory.command("forget")
@click.argument("entry_id", metavar="ID")
@click.option("--repo", "path", default=".", type=click.Path(file_okay=False),
              help="the repository (default: the current directory)")
def forget_memory(entry_id: str, path: str) -> None:
    """Drop the entry whose ID starts with ID; commit the file to make it count."""
    file, remembered = _load(path)
    matches = [r for r in remembered.dismissed if r.fingerprint.startswith(entry_id)]
    if len(entry_id) < 4 or len(matches) != 1:
        found = "no entry" if not matches else f"{len(matches)} entries"
        raise UsageError(f"{found} with ID {entry_id!r} in {MEMORY_FILE}; "
                         "give an ID from `reviewbot memory list` (at least 4 characters)")
    remembered.forget(entry_id)
    file.write_text(remembered.dumps(), encoding="utf-8")
    r = matches[0]
    click.echo(f"forgot {r.id} ({r.path}: {r.title}); commit {MEMORY_FILE} to apply it")
