"""Saved harnesses: a run's harness kept in the repository as a named command.

``save_run_harness`` copies the harness a journaled run ran (the copy kept in
``<state>/runs/<id>/harness.py``) to ``.reviewbot/harnesses/<NAME>.py`` in the
working tree, where it is reviewed and committed like any code. The copy is byte
for byte: a generated harness keeps its first-line marker, so by name it still
runs checked and sandboxed.

``list_harnesses`` and ``find_harness`` know the built-in harnesses and the saved
ones. Built-in names win and cannot be saved over: ``review`` always means the
shipped review, whatever a branch adds under ``.reviewbot/``.

Nothing here imports a harness: descriptions come from a literal ``META`` read
with ``ast`` (a generated harness must never run outside its sandbox).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from reviewbot.errors import UsageError
from reviewbot.harness.loader import GENERATED_MARKER, builtin_dirs
from reviewbot.runtime.journal import Journal, file_hash

SAVED_DIR = Path(".reviewbot") / "harnesses"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,47}")


class HarnessEntry(BaseModel):
    """One harness ``reviewbot run NAME`` can run."""

    name: str
    kind: Literal["built-in", "saved"]
    path: Path
    description: str
    generated: bool


def saved_dir(repo_root: Path) -> Path:
    return repo_root / SAVED_DIR


def _builtin_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in builtin_dirs():
        if directory.is_dir():
            for path in sorted(directory.glob("*.py")):
                if path.stem != "__init__":
                    found.setdefault(path.stem, path)
    return found


def _saved_files(repo_root: Path | None) -> dict[str, Path]:
    if repo_root is None or not saved_dir(repo_root).is_dir():
        return {}
    return {p.stem: p for p in sorted(saved_dir(repo_root).glob("*.py"))
            if NAME_PATTERN.fullmatch(p.stem)}


def find_harness(repo_root: Path | None, name: str) -> Path | None:
    """The file of the built-in or saved harness called ``name`` (None: there is none)."""
    return _builtin_files().get(name) or _saved_files(repo_root).get(name)


def _is_generated(source: str) -> bool:
    return source.split("\n", 1)[0].rstrip("\r") == GENERATED_MARKER


def describe_source(source: str) -> str:
    """The one-line description of a harness: ``META["description"]``, else its docstring's
    first line, else ``""`` (read with ``ast``; nothing is executed)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "META" for t in node.targets
        ):
            try:
                meta = ast.literal_eval(node.value)
            except ValueError:
                break
            if isinstance(meta, dict) and isinstance(meta.get("description"), str):
                return " ".join(meta["description"].split())
    doc = ast.get_docstring(tree)
    return doc.strip().splitlines()[0] if doc else ""


def _entry(name: str, kind: Literal["built-in", "saved"], path: Path) -> HarnessEntry:
    source = path.read_text(encoding="utf-8", errors="replace")
    return HarnessEntry(name=name, kind=kind, path=path, description=describe_source(source),
                        generated=_is_generated(source))


def list_harnesses(repo_root: Path | None) -> list[HarnessEntry]:
    """Built-in harnesses, then the repository's saved ones (a saved file named like a
    built-in is shadowed and not listed)."""
    builtin = _builtin_files()
    entries = [_entry(n, "built-in", p) for n, p in builtin.items()]
    entries += [_entry(n, "saved", p) for n, p in _saved_files(repo_root).items()
                if n not in builtin]
    return entries


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"harness name {name!r} must be lower-case letters, digits, '-' or '_', starting "
            "with a letter (at most 48 characters)"
        )
    if name in _builtin_files():
        raise UsageError(f"'{name}' is a built-in harness; save under another name")


def run_harness_source(state: Path, run_id: str) -> bytes:
    """The exact bytes of the harness the journaled run ``run_id`` ran."""
    journal_file = state / "journal.sqlite"
    if not journal_file.is_file():
        raise UsageError(f"no run '{run_id}': nothing is journaled for this repository yet")
    journal = Journal(journal_file)
    try:
        record = journal.require_run(run_id)
    finally:
        journal.close()
    kept = state / "runs" / record.id / "harness.py"
    for candidate in (kept, Path(record.harness_path)):
        if candidate.is_file() and (candidate == kept or
                                    file_hash(candidate) == record.harness_hash):
            return candidate.read_bytes()
    raise UsageError(f"run {run_id}: the harness it ran was not kept and {record.harness_path} "
                     "changed or is gone; nothing to save")


def save_run_harness(state: Path, repo_root: Path, run_id: str, name: str, *,
                     force: bool = False) -> Path:
    """Copy the harness of run ``run_id`` to ``.reviewbot/harnesses/<name>.py`` of the
    working tree at ``repo_root``; returns the written path.

    Refuses (``UsageError``) a bad or built-in name, an unknown run, and an existing file
    with other content unless ``force``.
    """
    _check_name(name)
    source = run_harness_source(state, run_id)
    target = saved_dir(repo_root) / f"{name}.py"
    if target.is_file() and target.read_bytes() != source and not force:
        raise UsageError(f"{target} exists with other content; pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{name}.py.tmp")
    tmp.write_bytes(source)
    tmp.replace(target)
    return target
