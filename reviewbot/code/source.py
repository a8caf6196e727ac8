"""What the code layer reads files through: any object with the shape of ``RepoView``.

The git layer's ``RepoView`` (a commit or the working tree, straight from the
object store) is the usual implementation. :class:`DirectoryView` reads a plain
directory, for code that is not in a repository.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class SourceView(Protocol):
    """Read-only access to a snapshot of files, addressed by POSIX paths relative to its root."""

    def files(self, prefix: str = "") -> list[str]: ...

    def read_bytes(self, path: str) -> bytes: ...

    def blob_id(self, path: str) -> str: ...

    def blob_ids(self, paths: Iterable[str] | None = None) -> dict[str, str]:
        """Ids of ``paths`` (default: all files) that exist, in one pass where the view can."""
        ...


def git_blob_id(data: bytes) -> str:
    """The id git gives a blob with these bytes, so a directory and a commit share cache keys."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class DirectoryView:
    """A :class:`SourceView` over a directory on disk (``.git`` and hidden directories excluded)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def files(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in sorted(filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                if rel.startswith(prefix) and os.path.isfile(os.path.join(dirpath, name)):
                    out.append(rel)
        return out

    def read_bytes(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def blob_id(self, path: str) -> str:
        return git_blob_id(self.read_bytes(path))

    def blob_ids(self, paths: Iterable[str] | None = None) -> dict[str, str]:
        out: dict[str, str] = {}
        for path in self.files() if paths is None else paths:
            try:
                out[path] = self.blob_id(path)
            except (FileNotFoundError, IsADirectoryError):
                continue
        return out
