"""Which lines of a pull request GitHub accepts review comments on.

GitHub takes a comment on a line its pull-request diff shows (added or context lines on the
RIGHT side); a multi-line comment must stay inside one hunk. Anything else is answered with
422, so we decide from the pull request's own file patches (``GET /pulls/N/files``), not from
the range the review looked at: on a synchronize the review sees only the new commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError


class DiffMap:
    """Right-side lines per file, grouped by hunk."""

    def __init__(self, hunks_by_path: Mapping[str, list[frozenset[int]]]) -> None:
        self._hunks = dict(hunks_by_path)

    @classmethod
    def from_patches(cls, patches: Iterable[tuple[str, str | None]]) -> DiffMap:
        """From ``(filename, patch)`` pairs as the pull-request files API lists them."""
        out: dict[str, list[frozenset[int]]] = {}
        for path, patch in patches:
            out[path] = _right_lines(path, patch)
        return cls(out)

    @property
    def paths(self) -> set[str]:
        return set(self._hunks)

    def commentable(self, path: str, start_line: int, end_line: int) -> bool:
        """True when GitHub accepts a comment on ``start_line..end_line`` (RIGHT side)."""
        for lines in self._hunks.get(path, []):
            if start_line in lines and end_line in lines:
                return True
        return False

    def anchor(self, path: str, start_line: int, end_line: int) -> tuple[int, int] | None:
        """The widest part of ``start..end`` one hunk shows; None when no line of it is shown."""
        best: tuple[int, int] | None = None
        for lines in self._hunks.get(path, []):
            inside = [n for n in range(start_line, end_line + 1) if n in lines]
            if inside and (best is None or inside[-1] - inside[0] > best[1] - best[0]):
                best = (inside[0], inside[-1])
        return best


def _right_lines(path: str, patch: str | None) -> list[frozenset[int]]:
    if not patch:
        return []
    text = f"--- a/{path}\n+++ b/{path}\n{patch}"
    if not text.endswith("\n"):
        text += "\n"
    try:
        patch_set = PatchSet(text)
    except UnidiffParseError:
        return []
    hunks: list[frozenset[int]] = []
    for patched in patch_set:
        for hunk in patched:
            hunks.append(
                frozenset(line.target_line_no for line in hunk if line.target_line_no is not None)
            )
    return hunks
