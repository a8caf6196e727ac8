"""`Repo`: one repository opened through pygit2, with the few questions the layers above ask."""

from __future__ import annotations

import threading
from pathlib import Path

import pygit2

from reviewbot.errors import ExitCode, GitError

# The fix a CI user needs when the base commit was never fetched (actions/checkout fetches one
# commit by default).
SHALLOW_FIX = (
    "run `git fetch origin <base>` for a missing commit, deepen the clone with "
    "`git fetch --deepen=100` (or `git fetch --unshallow`), or set `fetch-depth: 0` in "
    "actions/checkout"
)
# A shallow clone has the base but no history joining it to the head: fetching the base
# again does not help, deepening does.
MERGE_BASE_FIX = (
    "deepen the clone with `git fetch --deepen=100` (or `git fetch --unshallow`), or set "
    "`fetch-depth: 0` in actions/checkout"
)

_DEFAULT_BRANCH_CANDIDATES = ("main", "master")


def open_repository(git_dir: str) -> pygit2.Repository:
    """``pygit2.Repository(git_dir)``, with git's ownership rule and its one-line fix.

    A repository owned by another user (common in containerised CI) is refused as git
    refuses it ("dubious ownership"), unless git's ``safe.directory`` trusts it: the
    setting is read through `git config`, so it comes from the same files git reads.
    """
    try:
        return pygit2.Repository(git_dir)
    except pygit2.GitError as exc:
        if "not owned by current user" not in str(exc):
            raise GitError(f"cannot open the repository at {git_dir}: {exc}") from None
    workdir = _owned_path(git_dir)
    if _is_safe_directory(workdir):
        pygit2.option(pygit2.enums.Option.SET_OWNER_VALIDATION, 0)
        return pygit2.Repository(git_dir)
    raise GitError(
        f"{workdir} is owned by another user and git does not trust it (dubious ownership); "
        f"run `git config --global --add safe.directory {workdir}` if you trust it"
    )


def _owned_path(git_dir: str) -> str:
    """The directory git names in its ownership check: the working tree of a ``.git``."""
    path = Path(git_dir.rstrip("/"))
    return str(path.parent if path.name == ".git" else path)


def _is_safe_directory(workdir: str) -> bool:
    import subprocess

    from reviewbot import process

    try:
        proc = process.run(["git", "config", "--get-all", "safe.directory"], cwd="/",
                           timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    target = Path(workdir).resolve()
    trusted = False
    for entry in proc.stdout.splitlines():
        entry = entry.strip()
        if not entry:
            trusted = False  # an empty value resets the list, as in git
        elif entry == "*":
            trusted = True
        elif entry.endswith("/*"):
            trusted = trusted or str(target).startswith(entry[:-1])
        else:
            trusted = trusted or Path(entry).expanduser().resolve() == target
    return trusted


class Repo:
    """A git repository with a working tree (also a linked worktree of another repository)."""

    def __init__(self, repository: pygit2.Repository) -> None:
        if repository.is_bare or repository.workdir is None:
            raise GitError(
                f"{repository.path} is a bare repository; run reviewbot inside a checkout"
            )
        self.pygit2 = repository
        self.root = Path(repository.workdir).resolve()
        self.git_dir = _common_dir(Path(repository.path))
        # libgit2 misreports shallowness and cannot walk history from a linked worktree of a
        # shallow clone, so history questions go to the main repository.
        same = self.git_dir == Path(repository.path).resolve()
        self._main = repository if same else pygit2.Repository(str(self.git_dir))
        # libgit2 objects must be used from one thread at a time; every method here (and the
        # rest of the git layer) holds this lock while it touches the pygit2 objects.
        self.lock = threading.RLock()

    @classmethod
    def open(cls, path: str | Path) -> Repo:
        """Open the repository containing ``path`` (any directory or file inside it)."""
        start = Path(path).expanduser()
        if not start.exists():
            raise GitError(f"{start} does not exist; pass a path inside a git repository",
                           exit_code=ExitCode.USAGE)
        found = pygit2.discover_repository(str(start.resolve()))
        if found is None:
            raise GitError(f"{start} is not inside a git repository; pass a path inside one",
                           exit_code=ExitCode.USAGE)
        return cls(open_repository(found))

    @property
    def state_dir(self) -> Path:
        """``<git dir>/reviewbot``: where reviewbot keeps its state for this repository."""
        path = self.git_dir / "reviewbot"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def is_shallow(self) -> bool:
        return (self.git_dir / "shallow").is_file() or bool(self._main.is_shallow)

    def resolve(self, ref: str) -> str:
        """The full commit sha ``ref`` names (a sha, branch, tag, ``HEAD~2``, ...)."""
        with self.lock:
            if ref == "HEAD" and self.pygit2.head_is_unborn:
                raise GitError(f"{self.root} has no commits yet; commit something first")
            try:
                obj = self._main.revparse_single(ref)
                commit = obj.peel(pygit2.Commit)
            except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
                hint = f"; this is a shallow clone: {SHALLOW_FIX}" if self.is_shallow else ""
                raise GitError(
                    f"unknown revision '{ref}': pass a branch, tag or commit of this repository"
                    f"{hint or ' (see `git branch -a`)'}"
                ) from None
            return str(commit.id)

    def head_sha(self) -> str:
        with self.lock:
            if self.pygit2.head_is_unborn:
                raise GitError(f"{self.root} has no commits yet; commit something first")
            return str(self.pygit2.head.target)

    def has_commit(self, sha: str) -> bool:
        with self.lock:
            try:
                obj = self._main.get(sha)
            except (ValueError, pygit2.GitError):
                return False
            return isinstance(obj, pygit2.Commit)

    def checked_out_branch(self) -> str | None:
        """The branch checked out in this working tree; None when HEAD is detached or unborn."""
        with self.lock:
            head = self.pygit2
            if head.head_is_unborn or head.head_is_detached:
                return None
            name = str(head.head.name)
        prefix = "refs/heads/"
        return name[len(prefix):] if name.startswith(prefix) else None

    def default_branch(self) -> str | None:
        """The remote's default branch (``origin/HEAD``), else a local or remote main/master."""
        with self.lock:
            try:
                origin_head = self._main.references.get("refs/remotes/origin/HEAD")
            except pygit2.GitError:
                origin_head = None
            if origin_head is not None and origin_head.type == pygit2.enums.ReferenceType.SYMBOLIC:
                target = str(origin_head.target)
                prefix = "refs/remotes/origin/"
                if target.startswith(prefix):
                    return target[len(prefix) :]
            for name in _DEFAULT_BRANCH_CANDIDATES:
                for ref in (f"refs/heads/{name}", f"refs/remotes/origin/{name}"):
                    if ref in self._main.references:
                        return name
            return None

    def default_base(self, head: str = "HEAD") -> str:
        """Merge-base of ``head`` with the default branch: what a PR of ``head`` diffs against."""
        with self.lock:
            head_sha = self.resolve(head)
            candidates = ["refs/remotes/origin/HEAD"]
            for name in _DEFAULT_BRANCH_CANDIDATES:
                candidates += [f"refs/remotes/origin/{name}", f"refs/heads/{name}"]
            for refname in candidates:
                ref = self._main.references.get(refname)
                if ref is None:
                    continue
                try:
                    other = ref.resolve().target
                except (KeyError, pygit2.GitError):
                    continue
                try:
                    base = self._main.merge_base(head_sha, other)
                except (KeyError, pygit2.GitError):
                    base = None
                if base is not None:
                    return str(base)
                if self.is_shallow:
                    raise GitError(
                        f"no merge-base of {head} and {_short_ref(refname)} in this shallow clone; "
                        f"{MERGE_BASE_FIX}, or pass --base REF"
                    )
                raise GitError(
                    f"{head} and {_short_ref(refname)} share no history; pass --base REF"
                )
            raise GitError(
                "no default branch found (no origin/HEAD, main or master); pass --base REF"
            )

    def tracked_files(self, commit: str | None = None) -> list[str]:
        """Paths of tracked files: the index when ``commit`` is None, else the commit's tree.

        Ignored files are never tracked, so this honours .gitignore by construction.
        """
        with self.lock:
            if commit is None:
                index = self.pygit2.index
                index.read(False)
                return sorted(entry.path for entry in index)
            return tree_paths(self._main, self._main[self.resolve(commit)].peel(pygit2.Tree))

    def read_blob(self, commit: str, path: str) -> bytes:
        """The content of ``path`` at ``commit``; FileNotFoundError when it is not a file there."""
        with self.lock:
            tree = self._main[self.resolve(commit)].peel(pygit2.Tree)
            try:
                obj = tree[path]
            except KeyError:
                raise FileNotFoundError(f"{path} does not exist at {commit}") from None
            if not isinstance(obj, pygit2.Blob):
                raise FileNotFoundError(f"{path} is not a file at {commit}")
            return obj.data

    def commit_object(self, sha: str) -> pygit2.Commit:
        """The commit object for a full or abbreviated sha (looked up in the main repository)."""
        with self.lock:
            return self._main[self.resolve(sha)].peel(pygit2.Commit)

    @property
    def main(self) -> pygit2.Repository:
        """The main repository object (differs from ``pygit2`` inside a linked worktree)."""
        return self._main


def shared_git_dir(path: str | Path) -> Path | None:
    """The git directory of the repository containing ``path``, shared by all its worktrees
    (the main repository's for a linked worktree); None outside a repository."""
    found = pygit2.discover_repository(str(path))
    return _common_dir(Path(found)) if found is not None else None


def working_tree_root(path: str | Path) -> Path | None:
    """The root of the working tree containing ``path``; None outside one (or in a bare
    repository)."""
    found = pygit2.discover_repository(str(path))
    if found is None:
        return None
    workdir = open_repository(found).workdir
    return Path(workdir) if workdir else None


def tree_paths(repository: pygit2.Repository, tree: pygit2.Tree) -> list[str]:
    """All blob paths (files and symlinks, not submodules) of a tree, sorted."""
    index = pygit2.Index()
    index.read_tree(tree)
    return sorted(entry.path for entry in index if entry.mode != pygit2.enums.FileMode.COMMIT)


def _common_dir(git_dir: Path) -> Path:
    """The shared git directory: for a linked worktree, the main repository's ``.git``."""
    marker = git_dir / "commondir"
    if marker.is_file():
        common = Path(marker.read_text(encoding="utf-8").strip())
        if not common.is_absolute():
            common = git_dir / common
        return common.resolve()
    return git_dir.resolve()


def _short_ref(refname: str) -> str:
    for prefix in ("refs/remotes/", "refs/heads/"):
        if refname.startswith(prefix):
            return refname[len(prefix) :]
    return refname
