"""`reviewbot diff`: the change a review would look at, as reviewbot sees it."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import BaseModel

from reviewbot.code import ChangedSymbol, changed_symbols
from reviewbot.config import load_config
from reviewbot.git import WORKTREE, ChangeSet, FileStatus, Hunk, Repo, RepoView, SkippedFile

_LETTER = {
    FileStatus.ADDED: "A",
    FileStatus.MODIFIED: "M",
    FileStatus.DELETED: "D",
    FileStatus.RENAMED: "R",
    FileStatus.COPIED: "C",
}


class FileSummary(BaseModel):
    path: str
    old_path: str | None
    status: FileStatus
    similarity: int | None
    additions: int
    deletions: int
    added_lines: list[int]
    hunks: list[Hunk]


class DiffReport(BaseModel):
    repository: str
    base: str
    head: str  # a sha, or ":worktree" for the working tree with uncommitted changes
    files: list[FileSummary]
    skipped: list[SkippedFile]
    changed_symbols: list[ChangedSymbol]


def build_report(repo: Repo, base: str | None, head: str, max_file_bytes: int) -> DiffReport:
    head_ref = "HEAD" if head == WORKTREE else head
    base_sha = repo.resolve(base) if base is not None else repo.default_base(head_ref)
    changeset = ChangeSet.between(repo, base_sha, head, max_file_bytes=max_file_bytes)
    files = [
        FileSummary(
            path=f.path,
            old_path=f.old_path,
            status=f.status,
            similarity=f.similarity,
            additions=f.additions,
            deletions=f.deletions,
            added_lines=sorted(f.added_lines),
            hunks=f.hunks,
        )
        for f in changeset.files
    ]
    return DiffReport(
        repository=str(repo.root),
        base=changeset.base,
        head=changeset.head,
        files=files,
        skipped=changeset.skipped,
        changed_symbols=changed_symbols(
            _head_view(repo, changeset), changeset, base_view=RepoView(repo, changeset.base)
        ),
    )


def _head_view(repo: Repo, changeset: ChangeSet) -> RepoView:
    if changeset.head == WORKTREE:
        return RepoView.working_tree(repo)
    return RepoView(repo, changeset.head)


def _short(sha: str) -> str:
    return "working tree" if sha == WORKTREE else sha[:12]


def render(report: DiffReport) -> str:
    lines = []
    adds = sum(f.additions for f in report.files)
    dels = sum(f.deletions for f in report.files)
    lines.append(
        f"{_short(report.base)}..{_short(report.head)}: "
        f"{len(report.files)} file(s) changed, +{adds} -{dels}"
    )
    width = max((len(_label(f)) for f in report.files), default=0)
    for f in report.files:
        lines.append(f"  {_LETTER[f.status]} {_label(f):<{width}}  +{f.additions} -{f.deletions}")
    if report.skipped:
        lines.append(f"skipped ({len(report.skipped)}):")
        lines += [f"  {s.path}: {s.reason}" for s in report.skipped]
    if report.changed_symbols:
        lines.append(f"changed symbols ({len(report.changed_symbols)}):")
        for symbol in report.changed_symbols:
            lines += _describe_symbol(symbol)
    return "\n".join(lines)


def _label(f: FileSummary) -> str:
    if f.old_path is not None:
        return f"{f.old_path} -> {f.path} ({f.similarity}%)"
    return f.path


def _describe_symbol(symbol: ChangedSymbol, shown: int = 5) -> list[str]:
    where = f"{symbol.path}:{symbol.start_line}"
    if symbol.deleted:
        what = f"deleted {symbol.kind} {symbol.qualified} (was at base {where})"
        count = f"{len(symbol.callers)} caller(s) left"
    else:
        what = f"{where} {symbol.kind} {symbol.qualified}"
        count = f"{len(symbol.callers)} caller(s)"
    head = f"  {what}  ({count})"
    out = [head]
    for site in symbol.callers[:shown]:
        where = f" in {site.enclosing}" if site.enclosing else ""
        flag = " (uncertain)" if site.uncertain else ""
        out.append(f"      {site.path}:{site.start_line}{where}{flag}")
    if len(symbol.callers) > shown:
        out.append(f"      ... and {len(symbol.callers) - shown} more")
    return out


@click.command()
@click.argument("path", default=".", type=click.Path(file_okay=True, path_type=Path))
@click.option("--base", help="Base revision (default: merge-base with the default branch).")
@click.option("--head", help="Head revision (default: HEAD plus uncommitted changes).")
@click.option("--no-uncommitted", is_flag=True, help="Diff HEAD only, ignoring uncommitted work.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def diff(
    path: Path, base: str | None, head: str | None, no_uncommitted: bool, as_json: bool
) -> int:
    """Show the change set a review of PATH would see: files, skipped files, changed symbols."""
    repo = Repo.open(path)
    config = load_config(repo.root)
    target = head if head is not None else ("HEAD" if no_uncommitted else WORKTREE)
    report = build_report(repo, base, target, config.review.max_file_bytes)
    click.echo(report.model_dump_json(indent=2) if as_json else render(report))
    return 0
