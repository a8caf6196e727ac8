"""`ChangeSet`: a diff as typed data, between two commits or a commit and the working tree."""

from __future__ import annotations

import posixpath
from enum import StrEnum
from typing import Final

import pygit2
from pydantic import BaseModel, ConfigDict, Field
from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from reviewbot.errors import GitError
from reviewbot.git.repo import SHALLOW_FIX, Repo

# Stands for "the working tree, with staged, unstaged and untracked (not ignored) changes".
# A colon can never appear in a ref name, so this cannot collide with a branch or tag.
WORKTREE: Final = ":worktree"

_MODE_LINK = int(pygit2.enums.FileMode.LINK)
_MODE_COMMIT = int(pygit2.enums.FileMode.COMMIT)


class FileStatus(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"
    COPIED = "copied"


class Hunk(BaseModel):
    model_config = ConfigDict(frozen=True)

    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    header: str = ""  # the text after the second @@ (often the enclosing function)


class SkippedFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    reason: str


class FileChange(BaseModel):
    path: str  # new path (the old path for a deletion)
    old_path: str | None = None  # set for renames and copies
    status: FileStatus
    similarity: int | None = None  # percent, for renames and copies
    hunks: list[Hunk] = Field(default_factory=list)
    added_lines: set[int] = Field(default_factory=set)  # new-side line numbers
    removed_lines: set[int] = Field(default_factory=set)  # old-side line numbers
    # new-side line number -> GitHub's old-style diff position, for every new-side line in a hunk
    positions: dict[int, int] = Field(default_factory=dict)
    patch: str = ""

    def in_diff(self, line: int) -> bool:
        """Whether new-side ``line`` shows in the diff (added or context)."""
        return line in self.positions

    def diff_position(self, line: int) -> int | None:
        """GitHub's ``position`` of new-side ``line``: lines below the first ``@@`` header."""
        return self.positions.get(line)

    def is_added_line(self, line: int) -> bool:
        return line in self.added_lines

    @property
    def additions(self) -> int:
        return len(self.added_lines)

    @property
    def deletions(self) -> int:
        return len(self.removed_lines)


class ChangeSet(BaseModel):
    base: str  # full sha
    head: str  # full sha, or WORKTREE
    files: list[FileChange] = Field(default_factory=list)
    skipped: list[SkippedFile] = Field(default_factory=list)

    def file(self, path: str) -> FileChange | None:
        for change in self.files:
            if change.path == path:
                return change
        return None

    @property
    def paths(self) -> list[str]:
        return [change.path for change in self.files]

    @classmethod
    def between(
        cls,
        repo: Repo,
        base: str,
        head: str = WORKTREE,
        *,
        max_file_bytes: int = 1_000_000,
        context_lines: int = 3,
    ) -> ChangeSet:
        """The change from ``base`` to ``head`` (a commit, or WORKTREE for the working tree)."""
        with repo.lock:
            base_sha = _require_commit(repo, base, "base")
            base_tree = repo.main[base_sha].peel(pygit2.Tree)
            if head == WORKTREE:
                # Compared against the working tree directly; the user's index is only read.
                flags = (
                    pygit2.enums.DiffOption.INCLUDE_UNTRACKED
                    | pygit2.enums.DiffOption.RECURSE_UNTRACKED_DIRS
                    | pygit2.enums.DiffOption.SHOW_UNTRACKED_CONTENT
                )
                worktree_tree = repo.pygit2[base_sha].peel(pygit2.Tree)
                diff = worktree_tree.diff_to_workdir(flags=flags, context_lines=context_lines)
                find = pygit2.enums.DiffFind.FIND_RENAMES | pygit2.enums.DiffFind.FIND_FOR_UNTRACKED
                head_sha = WORKTREE
            else:
                head_sha = _require_commit(repo, head, "head")
                head_tree = repo.main[head_sha].peel(pygit2.Tree)
                diff = base_tree.diff_to_tree(head_tree, context_lines=context_lines)
                find = pygit2.enums.DiffFind.FIND_RENAMES
            diff.find_similar(flags=find)
            files, skipped = _parse(repo.main, diff, max_file_bytes)
        return cls(base=base_sha, head=head_sha, files=files, skipped=skipped)


def _require_commit(repo: Repo, ref: str, role: str) -> str:
    try:
        return repo.resolve(ref)
    except GitError:
        if repo.is_shallow:
            raise GitError(
                f"{role} commit {ref} is not in this shallow clone; {SHALLOW_FIX}"
            ) from None
        raise


_STATUS = {
    pygit2.enums.DeltaStatus.ADDED: FileStatus.ADDED,
    pygit2.enums.DeltaStatus.UNTRACKED: FileStatus.ADDED,
    pygit2.enums.DeltaStatus.MODIFIED: FileStatus.MODIFIED,
    pygit2.enums.DeltaStatus.TYPECHANGE: FileStatus.MODIFIED,
    pygit2.enums.DeltaStatus.DELETED: FileStatus.DELETED,
    pygit2.enums.DeltaStatus.RENAMED: FileStatus.RENAMED,
    pygit2.enums.DeltaStatus.COPIED: FileStatus.COPIED,
}


def _size(repository: pygit2.Repository, file: pygit2.DiffFile) -> int:
    """A side's size without loading its content (the diff only fills it in for the work tree)."""
    if file.size or file.id.raw == bytes(20):
        return int(file.size)
    try:
        _type, size = repository.odb.read_header(file.id)
    except (KeyError, pygit2.GitError):
        return 0
    return int(size)


def _skip_reason(
    repository: pygit2.Repository, delta: pygit2.DiffDelta, max_file_bytes: int
) -> str | None:
    """Why a file is left out before its patch is even generated (None: keep it)."""
    modes = {delta.old_file.mode, delta.new_file.mode}
    if _MODE_COMMIT in modes:
        return "submodule"
    if _MODE_LINK in modes:
        return "symlink"
    size = max(_size(repository, delta.old_file), _size(repository, delta.new_file))
    if size > max_file_bytes:
        return f"larger than {max_file_bytes} bytes ({size} bytes)"
    return None


def _parse(
    repository: pygit2.Repository, diff: pygit2.Diff, max_file_bytes: int
) -> tuple[list[FileChange], list[SkippedFile]]:
    files: list[FileChange] = []
    skipped: list[SkippedFile] = []
    renamed_from, paired = _exact_renames(repository, diff)
    for index, delta in enumerate(diff.deltas):
        if index in paired:
            continue  # the source of an exact rename: reported with its target
        if index in renamed_from:
            old = renamed_from[index]
            new = delta.new_file.path
            files.append(
                FileChange(
                    path=new,
                    old_path=old,
                    status=FileStatus.RENAMED,
                    similarity=100,
                    patch=f"diff --git a/{old} b/{new}\nsimilarity index 100%\n"
                    f"rename from {old}\nrename to {new}\n",
                )
            )
            continue
        status = _STATUS.get(delta.status)
        if status is None:  # unmodified, ignored, unreadable, conflicted
            continue
        path = delta.old_file.path if status is FileStatus.DELETED else delta.new_file.path
        reason = _skip_reason(repository, delta, max_file_bytes)
        if reason is not None:
            skipped.append(SkippedFile(path=path, reason=reason))
            continue
        patch = diff[index]
        if patch is None or patch.delta.is_binary:
            skipped.append(SkippedFile(path=path, reason="binary"))
            continue
        try:
            text = patch.data.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append(SkippedFile(path=path, reason="not UTF-8 text"))
            continue
        change = FileChange(
            path=path,
            old_path=delta.old_file.path
            if status in (FileStatus.RENAMED, FileStatus.COPIED)
            else None,
            status=status,
            similarity=delta.similarity
            if status in (FileStatus.RENAMED, FileStatus.COPIED)
            else None,
            patch=text,
        )
        try:
            _fill_hunks(change, text)
        except UnidiffParseError as exc:
            skipped.append(SkippedFile(path=path, reason=f"unparsable diff ({exc})"))
            continue
        files.append(change)
    return files, skipped


_EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


def _exact_renames(
    repository: pygit2.Repository, diff: pygit2.Diff
) -> tuple[dict[int, str], set[int]]:
    """Deletions and additions of the same content left unpaired by libgit2 (it gives up on
    every rename past its rename limit; git always pairs exact renames): ({index of the added
    delta: old path}, indices of the deleted deltas they pair with).

    As git does: same blob and file type, not empty, a source with the same file name first.
    """
    deleted: dict[tuple[str, int], list[tuple[int, str]]] = {}
    added: list[tuple[int, str, tuple[str, int]]] = []
    workdir = repository.workdir
    for index, delta in enumerate(diff.deltas):
        if delta.status == pygit2.enums.DeltaStatus.DELETED:
            key = (str(delta.old_file.id), int(delta.old_file.mode) & 0o170000)
            deleted.setdefault(key, []).append((index, delta.old_file.path))
        elif delta.status in (pygit2.enums.DeltaStatus.ADDED, pygit2.enums.DeltaStatus.UNTRACKED):
            oid = str(delta.new_file.id)
            if delta.new_file.id.raw == bytes(20) and workdir:
                try:
                    oid = str(pygit2.hashfile(posixpath.join(workdir, delta.new_file.path)))
                except (OSError, pygit2.GitError):
                    continue
            added.append((index, delta.new_file.path, (oid, int(delta.new_file.mode) & 0o170000)))
    renamed_from: dict[int, str] = {}
    paired: set[int] = set()
    for index, path, wanted in added:
        if wanted[0] == _EMPTY_BLOB:
            continue
        sources = [s for s in deleted.get(wanted, []) if s[0] not in paired]
        if not sources:
            continue
        name = posixpath.basename(path)
        source = next((s for s in sources if posixpath.basename(s[1]) == name), sources[0])
        paired.add(source[0])
        renamed_from[index] = source[1]
    return renamed_from, paired


def _fill_hunks(change: FileChange, text: str) -> None:
    if "\n@@ " not in text and not text.startswith("@@ "):
        return  # a pure rename or mode change: no hunks
    patched = PatchSet(text)
    if len(patched) != 1:
        raise UnidiffParseError(f"expected one file in the patch, found {len(patched)}")
    pfile = patched[0]
    if len(pfile) == 0:
        return
    # GitHub's position: the line right below the first @@ header is 1; later headers count too.
    first = (pfile[0][0].diff_line_no or 0) - 1
    for hunk in pfile:
        change.hunks.append(
            Hunk(
                old_start=hunk.source_start,
                old_lines=hunk.source_length,
                new_start=hunk.target_start,
                new_lines=hunk.target_length,
                header=hunk.section_header,
            )
        )
        for line in hunk:
            if line.is_added and line.target_line_no is not None:
                change.added_lines.add(line.target_line_no)
            elif line.is_removed and line.source_line_no is not None:
                change.removed_lines.add(line.source_line_no)
            if line.target_line_no is not None and (line.is_added or line.is_context):
                change.positions[line.target_line_no] = (line.diff_line_no or 0) - first
