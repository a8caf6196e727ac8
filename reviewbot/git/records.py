"""Small data records kept as commits, so they travel between machines with git.

Results that are too large for a message between machines (a batch's full per-file
results, a migration's report) are written as a parentless commit of a few files and
handed on by commit id; the receiver fetches the commit and reads the files back.
"""

from __future__ import annotations

from collections.abc import Mapping

import pygit2

from reviewbot.git.objects import signature, tree_with
from reviewbot.git.repo import Repo


def write_record(repo: Repo, files: Mapping[str, bytes], message: str, ref: str) -> str:
    """A parentless commit of ``files`` at ``ref`` (a full ref name); its id."""
    with repo.lock:
        repository = repo.main
        tree = tree_with(repository, None, dict(files))
        sig = signature(repository)
        oid = repository.create_commit(None, sig, sig, message, tree, [])
        repository.references.create(ref, oid, force=True)
        return str(oid)


def read_record(repo: Repo, commit: str, name: str) -> bytes:
    """The file ``name`` of the record commit ``commit``."""
    with repo.lock:
        tree = repo.main[commit].peel(pygit2.Commit).tree
        blob = tree[name]
        return bytes(repo.main[blob.id].peel(pygit2.Blob).data)
