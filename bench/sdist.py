"""Real code for the benchmarks: a project's source distribution from the package registry,
committed into a fresh git repository under bench/.cache/ (git-ignored), built once and reused.

    from sdist import committed_repo
    repo = committed_repo("django", "5.1.4", "discovery-django-5.1.4")
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
# A fixed identity: the benchmarks commit on machines where git has no user configured.
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with the bench identity; its output, stripped."""
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return proc.stdout.strip()


def _stem(name: str) -> str:
    # Registries spell one sdist several ways: Django-5.1.4.tar.gz, django-5.1.4.tar.gz.
    return re.sub(r"[-_.]+", "_", name).lower()


def fetch_sdist(project: str, version: str) -> Path:
    """The ``.tar.gz`` sdist of ``project`` ``version``, downloaded with pip on first use."""

    def cached() -> Path | None:
        wanted = _stem(f"{project}-{version}")
        for path in CACHE.glob("*.tar.gz"):
            if _stem(path.name.removesuffix(".tar.gz")) == wanted:
                return path
        return None

    found = cached()
    if found is None:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-binary",
                ":all:",
                "--no-deps",
                f"{project}=={version}",
                "-d",
                str(CACHE),
            ],
            check=True,
        )
        found = cached()
        if found is None:
            raise SystemExit(f"pip left no {project}-{version}.tar.gz in {CACHE}")
    return found


@contextlib.contextmanager
def unpacked_sdist(project: str, version: str) -> Iterator[Path]:
    """The sdist unpacked into a temporary directory under the cache: its top directory."""
    archive = fetch_sdist(project, version)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()
        yield top


def place_sdist(
    tree: Path, project: str, version: str, *, keep: Collection[str] | None = None
) -> None:
    """Make the working tree ``tree`` hold the sdist's files and nothing else (``.git`` stays).

    ``keep`` names the top-level entries of the sdist to take (all when None).
    """
    for child in tree.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    with unpacked_sdist(project, version) as top:
        for entry in top.iterdir():
            if keep is None or entry.name in keep:
                entry.rename(tree / entry.name)


def committed_repo(
    project: str,
    version: str,
    name: str,
    *,
    keep: Collection[str] | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> Path:
    """``bench/.cache/<name>``: the sdist committed on ``main`` of a fresh repository.

    ``prepare(path)`` runs after that commit, to add history (more commits, branches).
    The repository is built aside and moved into place when complete, so an interrupted
    build is redone rather than reused.
    """
    repo = CACHE / name
    if (repo / ".git").is_dir():
        return repo
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        staging = Path(tmp) / name
        staging.mkdir()
        git(staging, "init", "-q", "-b", "main")
        place_sdist(staging, project, version, keep=keep)
        git(staging, "add", "-A")
        git(staging, "commit", "-q", "-m", f"{project} {version}")
        if prepare is not None:
            prepare(staging)
        staging.rename(repo)
    return repo
