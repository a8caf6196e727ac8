"""`reviewbot find`: call sites of a name (import-aware), or matches of a raw tree-sitter query."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reviewbot.code import CallSearch, DirectoryView, QueryMatch, SourceView, find_calls, run_query
from reviewbot.errors import ExitCode, GitError, UsageError


def _open_view(rev: str | None) -> tuple[SourceView, Path]:
    """The view to search (the working tree unless --rev) and the root paths are relative to."""
    from reviewbot.git import Repo, RepoView

    try:
        repo = Repo.open(Path.cwd())
    except GitError as exc:
        if exc.exit_code != ExitCode.USAGE:
            raise  # a repository we may not open (dubious ownership): not a plain directory
        if rev is not None:
            raise UsageError("--rev needs a git repository; run inside one or drop --rev") from None
        return DirectoryView(Path.cwd()), Path.cwd().resolve()
    view = RepoView.at(repo, rev) if rev is not None else RepoView.working_tree(repo)
    return view, repo.root


def _relative(paths: tuple[str, ...], root: Path) -> list[str] | None:
    if not paths:
        return None
    out: list[str] = []
    for raw in paths:
        absolute = (Path.cwd() / raw).resolve()
        try:
            out.append(absolute.relative_to(root).as_posix())
        except ValueError:
            raise UsageError(
                f"{raw} is outside {root}; pass a path inside the repository"
            ) from None
    return out


@click.command()
@click.argument("symbol", required=False)
@click.argument("paths", nargs=-1)
@click.option(
    "--query",
    "query_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run this tree-sitter query file instead of a name search (needs --lang).",
)
@click.option(
    "--lang", "lang", help="Only this language (python, javascript, typescript, go, ...)."
)
@click.option("--rev", help="Search this commit (a sha, branch, tag) instead of the working tree.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for machines.")
@click.option(
    "--jobs", type=click.IntRange(min=1), help="Parallel parser processes (default: CPUs)."
)
@click.option("--no-cache", is_flag=True, help="Ignore and do not fill the results cache.")
def find(
    symbol: str | None,
    paths: tuple[str, ...],
    query_file: Path | None,
    lang: str | None,
    rev: str | None,
    as_json: bool,
    jobs: int | None,
    no_cache: bool,
) -> int | None:
    """Find call sites of SYMBOL (e.g. requests.get) in PATHS (default: the whole repository).

    Python and JS/TS calls are resolved through imports and aliases
    (`import requests as r; r.get()`); other languages match the qualified text.
    Sites marked `?` are uncertain (e.g. via `from m import *`), `!` come from a
    file with syntax errors.
    """
    view, root = _open_view(rev)
    if query_file is not None:
        if lang is None:
            raise UsageError("--query needs --lang to know which grammar the query is written for")
        all_paths = ((symbol,) if symbol else ()) + paths
        source = query_file.read_text(encoding="utf-8")
        matches = run_query(view, source, lang, paths=_relative(all_paths, root))
        _print_matches(matches, as_json)
        return None
    if not symbol:
        raise UsageError("give a name to find (e.g. `reviewbot find requests.get`) or --query FILE")
    result = find_calls(
        view, symbol, paths=_relative(paths, root), lang=lang, jobs=jobs, use_cache=not no_cache
    )
    if as_json:
        data = result.model_dump(mode="json")
        data["counts"] = result.counts()
        data["total"] = len(result.sites)
        click.echo(json.dumps(data, indent=2))
    else:
        _print_search(result)
    return None


def _print_search(result: CallSearch) -> None:
    for site in result.sites:
        flags = ("?" if site.uncertain else "") + ("!" if site.in_error_tree else "")
        where = f"{site.path}:{site.start_line}:{site.start_col}{flags}"
        enclosing = f"  [{site.enclosing}]" if site.enclosing else ""
        click.echo(f"{where}{enclosing}  {site.snippet}")
    counts = result.counts()
    if counts:
        click.echo("")
        click.echo("Per file:")
        for path, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {count:5d}  {path}")
    uncertain = sum(1 for s in result.sites if s.uncertain)
    extra = f", {uncertain} uncertain" if uncertain else ""
    click.echo("")
    click.echo(
        f"Total: {len(result.sites)} call sites of {result.target} in {len(counts)} files{extra} "
        f"({result.files_scanned} files scanned, {result.files_parsed} parsed, "
        f"{result.files_cached} from cache)"
    )
    if result.error_files:
        click.echo(f"Files with syntax errors (partial parse): {', '.join(result.error_files)}")
    if result.skipped:
        click.echo("Skipped:")
        for path, reason in result.skipped:
            click.echo(f"  {path}: {reason}")


def _print_matches(matches: list[QueryMatch], as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {"matches": [m.model_dump(mode="json") for m in matches], "total": len(matches)},
                indent=2,
            )
        )
        return
    counts: dict[str, int] = {}
    for m in matches:
        counts[m.path] = counts.get(m.path, 0) + 1
        parts = [
            f"@{name}={caps[0].text.splitlines()[0][:80] if caps[0].text else ''}"
            for name, caps in sorted(m.captures.items())
        ]
        click.echo(f"{m.path}:{m.start_line}{'!' if m.in_error_tree else ''}  {'  '.join(parts)}")
    if counts:
        click.echo("")
        click.echo("Per file:")
        for path, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  {count:5d}  {path}")
    click.echo("")
    click.echo(f"Total: {len(matches)} matches in {len(counts)} files")
